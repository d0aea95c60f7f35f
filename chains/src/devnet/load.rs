//! The load generator behind `--load TPS`: random valid transfers among the devnet accounts, one
//! in ten a `BridgeOut` to the peer chain, submitted straight to the engine at a steady rate.
//!
//! Transactions are signed outside the engine lock. Nonces are tracked locally: a nonce only has
//! to exceed the account's last used one, so a transaction the ledger drops leaves no gap to fill.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

use super::server::Shared;
use crate::keys::AccountKey;
use crate::tx::{Tx, TxBody};
use crate::types::{Address, Amount};

/// How often the generator wakes up.
const TICK: Duration = Duration::from_millis(10);
/// One transaction in this many is a `BridgeOut`.
const BRIDGE_EVERY: u64 = 10;

/// Runs until `shutdown` turns true.
pub(crate) async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let tps = f64::from(shared.config().load_tps);
    let Ok(setup) = shared.backend().map(|b| b.load_setup()) else {
        return;
    };
    let super::backend::LoadSetup {
        kind,
        chain,
        dest_chain,
        accounts,
        recipients,
    } = setup;
    if accounts.len() < 2 || recipients.is_empty() {
        tracing::warn!("--load needs at least two funded devnet accounts; load generator idle");
        return;
    }
    let addrs: Vec<Address> = accounts.iter().map(|(k, _)| k.address()).collect();
    let mut nonces: Vec<u64> = accounts.iter().map(|(_, n)| *n).collect();
    let keys: Vec<AccountKey> = accounts.into_iter().map(|(k, _)| k).collect();
    let mut rng = StdRng::seed_from_u64(0x10ad);
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = tokio::time::Instant::now();
    let mut sent: u64 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        // Transactions due by now, minus those sent: a steady rate with no drift.
        let due = (started.elapsed().as_secs_f64() * tps) as u64;
        let n = due.saturating_sub(sent).min(10_000);
        if n == 0 {
            continue;
        }
        let mut batch = Vec::with_capacity(n as usize);
        for i in 0..n {
            let from = rng.random_range(0..keys.len());
            let mut to = rng.random_range(0..keys.len() - 1);
            if to >= from {
                to += 1;
            }
            nonces[from] += 1;
            let body = if (sent + i) % BRIDGE_EVERY == BRIDGE_EVERY - 1 {
                TxBody::BridgeOut {
                    from: addrs[from],
                    dest_chain: dest_chain.clone(),
                    recipient: recipients[to % recipients.len()],
                    amount: Amount(1),
                    nonce: nonces[from],
                }
            } else {
                TxBody::Transfer {
                    from: addrs[from],
                    to: addrs[to],
                    amount: Amount(1),
                    nonce: nonces[from],
                }
            };
            batch.push(Tx::sign(kind, &chain, body, &keys[from]));
        }
        sent += n;
        let Ok(mut backend) = shared.backend() else {
            return;
        };
        for tx in batch {
            if let Err(why) = backend.submit(tx) {
                tracing::debug!(%why, "load transaction refused");
            }
        }
    }
}
