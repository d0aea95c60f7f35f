//! Devnet traffic: submits `BridgeOut` transfers on both chains at a steady rate, follows both
//! chains' finalized blocks, and matches every transfer's source block (finality) with its
//! destination block (commit). Latency is measured between the two blocks' timestamps, both
//! taken from the same machine's clock.

use chains::adapter::ChainFollower as _;
use chains::devnet::client::DevnetClient;
use chains::engine::EngineConfig;
use chains::tx::{BridgeTransfer, TxBody};
use chains::types::{ChainId, ChainKind, Height, TransferId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One chain of the pair, as the traffic generator sees it.
#[derive(Debug, Clone)]
pub struct ChainSide {
    /// Its settings (keys of its funded accounts).
    pub engine: EngineConfig,
    /// Its endpoints.
    pub endpoints: Vec<String>,
}

/// What is known about one transfer.
#[derive(Debug, Clone, Default)]
struct Track {
    submitted_at: Option<Instant>,
    source_ts: Option<u64>,
    dest_ts: Option<u64>,
    commits: u32,
}

/// Counters of one direction.
#[derive(Debug, Default)]
struct Direction {
    submitted: u64,
    refused: u64,
    tracks: BTreeMap<TransferId, Track>,
    first_submit: Option<Instant>,
    last_commit: Option<Instant>,
    unexpected: u64,
}

/// Shared state of the traffic tasks.
#[derive(Debug, Default)]
pub struct Ledger {
    dirs: [Direction; 2],
}

/// Summary of one direction.
#[derive(Debug, Clone, Serialize, Default)]
pub struct DirectionSummary {
    /// `BridgeOut`s accepted by the source chain.
    pub submitted: u64,
    /// `BridgeOut`s the source chain refused.
    pub refused: u64,
    /// Seen in a finalized source block.
    pub finalized: u64,
    /// Applied on the destination chain.
    pub committed: u64,
    /// Finalized on the source but never applied on the destination.
    pub lost: u64,
    /// Applied more than once.
    pub duplicated: u64,
    /// Median source finality → destination commit, ms.
    pub latency_ms_p50: u64,
    /// 99th percentile, ms.
    pub latency_ms_p99: u64,
    /// Maximum, ms.
    pub latency_ms_max: u64,
    /// Committed transfers per second, first submission to last commit.
    pub transfers_per_s: f64,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl Ledger {
    fn dir(&mut self, d: usize) -> &mut Direction {
        &mut self.dirs[d]
    }

    /// Ids of the transfers direction `d` submitted: every one the source chain accepted, plus
    /// the one whose submission was in flight if the load was stopped mid-call (so at most
    /// `summary(d).submitted + 1` ids).
    pub fn submitted_ids(&self, d: usize) -> Vec<TransferId> {
        self.dirs[d].tracks.keys().copied().collect()
    }

    /// Summary of direction `d` (0: A→B, 1: B→A).
    pub fn summary(&self, d: usize) -> DirectionSummary {
        let dir = &self.dirs[d];
        let mut lat: Vec<u64> = dir
            .tracks
            .values()
            .filter_map(|t| Some(t.dest_ts?.saturating_sub(t.source_ts?)))
            .collect();
        lat.sort_unstable();
        let finalized = dir
            .tracks
            .values()
            .filter(|t| t.source_ts.is_some())
            .count() as u64;
        let committed = dir.tracks.values().filter(|t| t.commits > 0).count() as u64;
        let secs = match (dir.first_submit, dir.last_commit) {
            (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
            _ => 0.0,
        };
        DirectionSummary {
            submitted: dir.submitted,
            refused: dir.refused,
            finalized,
            committed,
            lost: dir
                .tracks
                .values()
                .filter(|t| t.source_ts.is_some() && t.commits == 0)
                .count() as u64,
            duplicated: dir.tracks.values().filter(|t| t.commits > 1).count() as u64
                + dir.unexpected,
            latency_ms_p50: percentile(&lat, 0.5),
            latency_ms_p99: percentile(&lat, 0.99),
            latency_ms_max: lat.last().copied().unwrap_or(0),
            transfers_per_s: if secs > 0.0 {
                committed as f64 / secs
            } else {
                0.0
            },
        }
    }
}

/// Shared handle to the ledger.
pub type Shared = Arc<Mutex<Ledger>>;

/// Locks the ledger (a poisoned lock still holds consistent counters).
pub fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Ledger> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Submits up to `limit` transfers from `src` to `dst` at `rate` per second (direction `d`).
pub async fn drive(
    d: usize,
    src: ChainSide,
    dst: ChainSide,
    rate: f64,
    limit: Option<u64>,
    ledger: Shared,
) {
    let clients: Vec<DevnetClient> = src
        .endpoints
        .iter()
        .filter_map(|e| DevnetClient::new(e).ok())
        .collect();
    if clients.is_empty() {
        return;
    }
    let accounts = src.engine.accounts.max(1);
    let mut nonces = vec![0u64; accounts as usize];
    for (i, n) in nonces.iter_mut().enumerate() {
        let addr = src.engine.account_key(i as u64).address();
        if let Ok(Some(a)) = clients[0].account(&addr).await {
            *n = a.nonce;
        }
    }
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut i: u64 = 0;
    loop {
        if limit.is_some_and(|l| lock(&ledger).dirs[d].submitted >= l) {
            return;
        }
        tick.tick().await;
        let acct = (i % accounts) as usize;
        nonces[acct] += 1;
        let (tx, id) = src
            .engine
            .bridge_out(&dst.engine, acct as u64, 1 + i % 100, nonces[acct]);
        {
            let mut l = lock(&ledger);
            let dir = l.dir(d);
            dir.first_submit.get_or_insert_with(Instant::now);
            dir.tracks.entry(id).or_default().submitted_at = Some(Instant::now());
        }
        let client = &clients[(i as usize) % clients.len()];
        let ok = client.submit(&tx).await.is_ok();
        {
            let mut l = lock(&ledger);
            let dir = l.dir(d);
            if ok {
                dir.submitted += 1;
            } else {
                dir.refused += 1;
                dir.tracks.remove(&id);
                nonces[acct] -= 1;
            }
        }
        i += 1;
    }
}

/// Follows `chain`'s finalized blocks, recording `BridgeOut`s of direction `out` (this chain
/// is their source) and `BridgeIn`s of direction `inn` (this chain is their destination).
pub async fn follow(
    endpoint: String,
    kind: ChainKind,
    chain: ChainId,
    out: usize,
    inn: usize,
    ledger: Shared,
) {
    let Ok(client) = DevnetClient::new(&endpoint) else {
        return;
    };
    let mut next = Height(1);
    loop {
        let blocks = match client.blocks_from(next, 64).await {
            Ok(b) => b,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for b in blocks {
            next = Height(b.height().0 + 1);
            let ts = b.timestamp_ms();
            let mut l = lock(&ledger);
            for rec in b.txns() {
                if let Some(t) = BridgeTransfer::from_record(kind, &chain, rec)
                    && let Some(track) = l.dir(out).tracks.get_mut(&t.id())
                {
                    track.source_ts = Some(ts);
                }
                if let TxBody::BridgeIn { payload, .. } = &rec.tx.body {
                    let Ok(t) = BridgeTransfer::from_bytes(payload) else {
                        continue;
                    };
                    let dir = l.dir(inn);
                    match dir.tracks.get_mut(&t.id()) {
                        Some(track) => {
                            track.commits += 1;
                            track.dest_ts = Some(ts);
                            dir.last_commit = Some(Instant::now());
                        }
                        // Applied without being submitted by us: a forged or replayed transfer.
                        None => dir.unexpected += 1,
                    }
                }
            }
        }
    }
}
