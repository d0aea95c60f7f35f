//! Sustained certified throughput of a devnet chain: transactions per second that end up in
//! certified blocks, submitted over JSON-RPC (HTTP) as fast as the chain takes them.
//!
//! ```sh
//! cargo run --release -p chains --example devnet_throughput -- algorand 5
//! cargo run --release -p chains --example devnet_throughput -- resdb 5
//! ```
//!
//! Arguments: the chain kind (`algorand` or `resdb`, default `algorand`) and the measured
//! seconds (default 5). Transactions are signed before the clock starts (the client's signing
//! is not the chain's cost); 16 submitters each own 4 accounts, so nonces arrive in order. The
//! chain runs 4 validators and 200 ms blocks in this process; clients reach it over loopback.
//! Prints one JSON line.

use std::time::{Duration, Instant};

use chains::devnet::client::DevnetClient;
use chains::devnet::{DevnetConfig, start};
use chains::keys::AccountKey;
use chains::tx::{Tx, TxBody};
use chains::types::{Amount, ChainId, ChainKind, Height};

const SUBMITTERS: u64 = 16;
/// Transactions pre-signed per submitter (more than it can send in the window).
const PER_SUBMITTER: u64 = 4_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let kind = match args.next().as_deref() {
        None | Some("algorand") => ChainKind::Algorand,
        Some("resdb") => ChainKind::Resdb,
        Some(other) => return Err(format!("unknown kind {other:?}: algorand or resdb").into()),
    };
    let secs: u64 = match args.next() {
        None => 5,
        Some(s) => s.parse().map_err(|e| format!("seconds {s:?}: {e}"))?,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(kind, Duration::from_secs(secs.max(1))))
}

async fn run(kind: ChainKind, window: Duration) -> Result<(), Box<dyn std::error::Error>> {
    let config = DevnetConfig::new(kind, 4, "127.0.0.1:0".parse()?);
    let chain_id = ChainId::new(config.chain_id())?;
    let seed = config.seed.clone();
    let accounts = config.accounts;
    let chain = start(config).await?;
    let endpoints = chain.endpoints().to_vec();

    // Pre-sign: submitter s owns accounts s, s + 16, s + 32, s + 48, round robin.
    let signing = Instant::now();
    let mut work: Vec<Vec<Vec<u8>>> = Vec::new();
    for s in 0..SUBMITTERS {
        let owned: Vec<u64> = (s..accounts).step_by(SUBMITTERS as usize).collect();
        let keys: Vec<AccountKey> = owned
            .iter()
            .map(|i| AccountKey::devnet(kind, &seed, *i))
            .collect();
        let to = AccountKey::devnet(kind, &seed, (s + 1) % accounts).address();
        let txs = (0..PER_SUBMITTER)
            .map(|n| {
                let key = &keys[(n as usize) % keys.len()];
                let nonce = n / keys.len() as u64 + 1;
                let body = TxBody::Transfer {
                    from: key.address(),
                    to,
                    amount: Amount(1),
                    nonce,
                };
                Tx::sign(kind, &chain_id, body, key).to_bytes()
            })
            .collect();
        work.push(txs);
    }
    eprintln!(
        "signed {} transactions in {:.1?}",
        SUBMITTERS * PER_SUBMITTER,
        signing.elapsed()
    );

    let reader = DevnetClient::new(&endpoints[0])?;
    let start_height = reader.status().await?.height;
    let t0 = Instant::now();
    let deadline = t0 + window;
    let mut tasks = Vec::new();
    for (s, txs) in work.into_iter().enumerate() {
        let client = DevnetClient::new(&endpoints[s % endpoints.len()])?;
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            for tx in txs {
                if Instant::now() >= deadline {
                    break;
                }
                if client.submit_raw(&tx).await.is_ok() {
                    sent += 1;
                }
            }
            sent
        }));
    }
    let mut submitted = 0;
    for t in tasks {
        submitted += t.await?;
    }
    // Count what got certified: blocks produced after the start until every accepted
    // transaction is in (or 2 s after the window).
    let mut certified = 0u64;
    let mut h = start_height;
    let mut last_block_at = t0;
    let drain_until = Instant::now() + Duration::from_secs(2);
    while certified < submitted && Instant::now() < drain_until {
        if let Some(b) = reader
            .wait_for_block(Height(h), Duration::from_millis(500))
            .await?
        {
            h += 1;
            certified += b.transactions.len() as u64;
            last_block_at = Instant::now();
        }
    }
    let elapsed = last_block_at.duration_since(t0).max(window);
    let tps = certified as f64 / elapsed.as_secs_f64();
    println!(
        "{{\"kind\": \"{kind}\", \"validators\": 4, \"block_interval_ms\": 200, \"submitted\": {submitted}, \"certified\": {certified}, \"seconds\": {:.2}, \"certified_tps\": {tps:.0}}}",
        elapsed.as_secs_f64()
    );
    chain.stop().await;
    Ok(())
}
