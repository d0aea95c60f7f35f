//! `picsou-relay devnet --chaos`: faults injected into the real devnet while load keeps running,
//! then every transfer checked against both chains (Jepsen's habit: check every operation's
//! outcome after the chaos).
//!
//! # What is injected
//!
//! A schedule drawn from `--chaos-seed` ([`plan`]; the same seed and sizes give the same
//! schedule) of three kinds of fault ([`FaultKind`]):
//! - **relay kill**: SIGKILL of one relay process, restarted after a random delay from the same
//!   data directory and configuration;
//! - **partition**: every link between the two clusters cut at once. Each relay's libp2p port is
//!   fronted by a cutting TCP proxy ([`super::proxy`]) that only the *other* cluster's relays are
//!   given; cutting closes every proxied connection and refuses new ones until healed.
//!   Intra-cluster links stay direct;
//! - **validator offline**: the relay's view of its validator disappears. Each relay reaches its
//!   validator's JSON-RPC endpoint through its own cutting proxy, which is cut (the chain itself
//!   keeps producing blocks; the relay's follower and submitter see errors and must recover).
//!
//! At most `u` relays per side (`u` of the cluster's BFT configuration, 1 for 4 relays) are
//! affected by kills and validator outages at any moment: a relay counts as affected from the
//! fault until it reports ready again after the heal. A fault that would exceed the bound
//! waits (and is recorded with its planned and actual start); a partition never overlaps
//! another one. Partitions may overlap relay faults.
//!
//! # What is checked
//!
//! After `--duration` seconds the load stops, every fault is healed (killed relays restarted),
//! and the devnet drains (up to `--drain-timeout`). Then both chains are read from height 1
//! ([`Scan`]) and, per direction: every submitted transfer was escrowed exactly once on the
//! source chain, every escrow was applied exactly once on the destination with the same
//! payload (none lost, none duplicated), and no `BridgeIn` was applied that matches no escrow
//! (forged applied). Balances are conserved: on each chain the funded accounts hold their
//! genesis total minus what was escrowed plus what was minted, each chain's escrow equals the
//! other's mint, and both equal the sums read from the blocks. The report adds the longest
//! stall (longest interval with no commit in a direction while load ran) and, per fault, the
//! recovery time (heal to the next commit in each direction, the larger of the two).

use super::layout::RelayFiles;
use super::procs::Proc;
use super::proxy::{Bound, Cut, Proxy, ProxyStats};
use super::traffic::{self, DirectionSummary};
use super::{DevnetArgs, Traffic};
use anyhow::Context as _;
use chains::adapter::ChainFollower as _;
use chains::devnet::client::DevnetClient;
use chains::engine::EngineConfig;
use chains::tx::{BridgeTransfer, TxBody};
use chains::types::{ChainId, ChainKind, Height, TransferId};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use relayer::protocol::ClusterConfig;
use relayer::types::Side;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the injector looks at its schedule and the relays.
const TICK: Duration = Duration::from_millis(100);
/// How often an affected relay's readiness is asked.
const READY_POLL: Duration = Duration::from_millis(500);
/// A relay that exits by itself more often than this ends the run.
const MAX_UNEXPECTED_EXITS: usize = 10;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// SIGKILL of one relay, restarted later from its data directory.
    RelayKill,
    /// Every link between the two clusters cut.
    Partition,
    /// One relay cut off from its validator's JSON-RPC endpoint.
    ValidatorOffline,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 3] = [
        FaultKind::RelayKill,
        FaultKind::Partition,
        FaultKind::ValidatorOffline,
    ];

    /// The kind named `name` (as in reports).
    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::RelayKill => "relay_kill",
            FaultKind::Partition => "partition",
            FaultKind::ValidatorOffline => "validator_offline",
        }
    }

    fn on_relay(self) -> bool {
        self != FaultKind::Partition
    }
}

/// One fault of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// When, counted from the start of the load.
    pub at: Duration,
    /// What.
    pub kind: FaultKind,
    /// The relay (its position: `a0…`, then `b0…`) for a relay fault.
    pub relay: Option<usize>,
    /// How long until it is healed (a killed relay restarted).
    pub hold: Duration,
}

/// A fault schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Its faults, by start time.
    pub faults: Vec<Planned>,
    /// No fault starts later than this (a delayed one is dropped).
    pub last_start: Duration,
}

fn secs(s: f64) -> Duration {
    Duration::from_millis((s * 1000.0).round().max(0.0) as u64)
}

/// The fault schedule of a run of `duration` with `sizes` relays per side and fault bounds `u`,
/// drawing from the kinds in `wanted`.
///
/// Load runs alone for a warm-up (a sixth of the run, at most 5 s); faults then start every 2–6 s
/// until a quiet tail (an eighth of the run, 3–10 s) before the end, and each is planned to heal
/// before the load stops. The first faults are one of each wanted kind (in a seeded order;
/// relay faults are only planned on a side with `u > 0`), so even a short run has all of them. Relay
/// kills last 1–6 s, partitions and validator outages 2–8 s; partitions are at least 2 s apart.
pub fn plan(
    seed: u64,
    duration: Duration,
    sizes: [usize; 2],
    u: [usize; 2],
    wanted: &[FaultKind],
) -> Plan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = duration.as_secs_f64();
    let warmup = (d / 6.0).min(5.0);
    let tail = (d / 8.0).clamp(3.0, 10.0);
    let last_start = (d - tail).max(warmup);
    let last_heal = d - tail / 2.0;
    let node_sides: Vec<usize> = (0..2).filter(|&s| u[s] > 0 && sizes[s] > 0).collect();
    let kinds: Vec<FaultKind> = FaultKind::ALL
        .into_iter()
        .filter(|k| wanted.contains(k) && (!k.on_relay() || !node_sides.is_empty()))
        .collect();
    let relay_kinds: Vec<FaultKind> = kinds.iter().copied().filter(|k| k.on_relay()).collect();
    if kinds.is_empty() {
        return Plan {
            faults: Vec::new(),
            last_start: secs(last_start),
        };
    }
    let mut first = kinds.clone();
    first.shuffle(&mut rng);
    let offset = [0, sizes[0]];
    let mut faults = Vec::new();
    let mut t = warmup;
    let mut partition_free = 0.0;
    let mut last_side: Option<usize> = None;
    while t <= last_start {
        let i = faults.len();
        let guaranteed = i < first.len();
        let mut kind = if guaranteed {
            first[i]
        } else {
            kinds[rng.random_range(0..kinds.len())]
        };
        if kind == FaultKind::Partition && t < partition_free {
            // Same draws as before `wanted` existed when both relay kinds are wanted, so a
            // seed's schedule does not change.
            kind = match relay_kinds.as_slice() {
                [] => {
                    t = partition_free;
                    continue;
                }
                [only] => *only,
                [one, other, ..] => {
                    if rng.random_bool(0.5) {
                        *one
                    } else {
                        *other
                    }
                }
            };
        }
        let hold = match kind {
            FaultKind::RelayKill => rng.random_range(1.0..6.0),
            FaultKind::Partition | FaultKind::ValidatorOffline => rng.random_range(2.0..8.0),
        };
        let hold: f64 = f64::min(hold, last_heal - t).max(0.5);
        let relay = if kind.on_relay() {
            // The guaranteed relay faults go to different sides when both can take one.
            let side = match last_side {
                Some(prev) if guaranteed && node_sides.len() == 2 => 1 - prev,
                _ => node_sides[rng.random_range(0..node_sides.len())],
            };
            last_side = Some(side);
            Some(offset[side] + rng.random_range(0..sizes[side]))
        } else {
            partition_free = t + hold + 2.0;
            None
        };
        faults.push(Planned {
            at: secs(t),
            kind,
            relay,
            hold: secs(hold),
        });
        t += rng.random_range(2.0..6.0);
    }
    Plan {
        faults,
        last_start: secs(last_start),
    }
}

/// The fault kinds `--chaos-faults` names (all of them when it names none).
pub fn wanted_kinds(names: &[String]) -> anyhow::Result<Vec<FaultKind>> {
    if names.is_empty() {
        return Ok(FaultKind::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            FaultKind::from_name(n.trim()).with_context(|| {
                format!(
                    "--chaos-faults: unknown fault {n:?}; expected some of {}",
                    FaultKind::ALL.map(FaultKind::name).join(", ")
                )
            })
        })
        .collect()
}

/// The fault bound `u` of a cluster of `n` unit-stake relays, as every devnet relay computes it
/// (its configuration leaves `[clusters]` at the BFT default).
pub fn fault_bound(side: Side, n: usize) -> usize {
    usize::try_from(ClusterConfig::bft(side, n).u.0).unwrap_or(0)
}

/// The cutting proxies of a chaos devnet: one in front of each relay's libp2p port (given to
/// the other cluster only) and one in front of each relay's validator endpoint.
#[derive(Debug)]
pub struct ChaosNet {
    p2p_bound: Vec<Bound>,
    p2p: Vec<Proxy>,
    partition: Cut,
    rpc: Vec<Proxy>,
    validators: Vec<Cut>,
    endpoints: [Vec<String>; 2],
}

fn socket_of(url: &str) -> anyhow::Result<SocketAddr> {
    url.strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("cannot proxy endpoint {url:?}: expected http://<ip>:<port>"))
}

impl ChaosNet {
    /// Binds a libp2p proxy port per relay, and starts a proxy in front of every validator
    /// endpoint (one per relay: relay `i` of a side uses endpoint `i`).
    pub async fn bind(endpoints_a: &[String], endpoints_b: &[String]) -> anyhow::Result<Self> {
        let mut p2p_bound = Vec::new();
        let mut rpc = Vec::new();
        let mut validators = Vec::new();
        let mut endpoints = [Vec::new(), Vec::new()];
        for (side, list) in [endpoints_a, endpoints_b].into_iter().enumerate() {
            for url in list {
                p2p_bound.push(Bound::loopback().await?);
                let cut = Cut::new();
                let proxy = Bound::loopback().await?.start(socket_of(url)?, cut.clone());
                endpoints[side].push(format!("http://{}", proxy.addr()));
                rpc.push(proxy);
                validators.push(cut);
            }
        }
        Ok(ChaosNet {
            p2p_bound,
            p2p: Vec::new(),
            partition: Cut::new(),
            rpc,
            validators,
            endpoints,
        })
    }

    /// The validator endpoints the relays are given (proxied), side A then side B.
    pub fn relay_endpoints(&self) -> (&[String], &[String]) {
        (&self.endpoints[0], &self.endpoints[1])
    }

    /// The libp2p proxy addresses, one per relay (`a0…`, then `b0…`).
    pub fn p2p_addrs(&self) -> Vec<SocketAddr> {
        self.p2p_bound.iter().map(Bound::addr).collect()
    }

    /// Starts the libp2p proxies now that every relay's own port is known.
    pub fn start_p2p(&mut self, relays: &[RelayFiles]) -> anyhow::Result<()> {
        if relays.len() != self.p2p_bound.len() {
            anyhow::bail!(
                "{} relays for {} proxies",
                relays.len(),
                self.p2p_bound.len()
            );
        }
        for (bound, r) in std::mem::take(&mut self.p2p_bound).into_iter().zip(relays) {
            self.p2p
                .push(bound.start(r.p2p_socket, self.partition.clone()));
        }
        Ok(())
    }

    fn stats(proxies: &[Proxy]) -> ProxyStats {
        proxies
            .iter()
            .map(Proxy::stats)
            .fold(ProxyStats::default(), |a, b| a + b)
    }
}

/// A fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// `relay_kill`, `partition` or `validator_offline`.
    pub kind: FaultKind,
    /// The relay (e.g. `a1`), for a relay fault.
    pub relay: Option<String>,
    /// When the schedule wanted it, seconds after the load started.
    pub planned_s: f64,
    /// When it was injected.
    pub start_s: f64,
    /// When it was healed (a killed relay restarted).
    pub heal_s: Option<f64>,
    /// Wall clock (ms since the Unix epoch) of the injection.
    pub start_unix_ms: u64,
    /// Wall clock of the heal.
    pub heal_unix_ms: Option<u64>,
    /// Healed when the load stopped rather than as planned.
    pub forced_heal: bool,
    /// For a relay fault: seconds from the heal until the relay reported ready again.
    pub ready_after_heal_s: Option<f64>,
    /// Milliseconds from the heal to the next commit, the larger over both directions (`null`
    /// if a direction never committed again).
    pub recovery_ms: Option<u64>,
}

/// Counts per fault kind.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ByKind {
    /// Relay kills.
    pub relay_kill: u64,
    /// Partitions.
    pub partition: u64,
    /// Validator outages.
    pub validator_offline: u64,
}

impl ByKind {
    fn count(records: &[FaultRecord]) -> Self {
        let mut b = ByKind::default();
        for r in records {
            match r.kind {
                FaultKind::RelayKill => b.relay_kill += 1,
                FaultKind::Partition => b.partition += 1,
                FaultKind::ValidatorOffline => b.validator_offline += 1,
            }
        }
        b
    }
}

/// Prints a line of the run's log: above the progress bars, or on stderr when they are hidden
/// (`--json`, or stderr is not a terminal) so a log file still gets it.
fn say(multi: &MultiProgress, line: impl AsRef<str>) -> std::io::Result<()> {
    if multi.is_hidden() {
        eprintln!("{}", line.as_ref());
        Ok(())
    } else {
        multi.println(line)
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A fault in force.
#[derive(Debug)]
struct Active {
    record: usize,
    kind: FaultKind,
    relay: Option<usize>,
    heal_at: Instant,
}

/// Runs the schedule against the processes and proxies.
#[derive(Debug)]
struct Injector {
    plan: Plan,
    next: usize,
    skipped: u64,
    records: Vec<FaultRecord>,
    active: Vec<Active>,
    /// Healed relay faults whose relay is not ready yet: (relay, record).
    recovering: Vec<(usize, usize)>,
    /// Relays down because we killed them.
    killed: BTreeSet<usize>,
    side_of: Vec<usize>,
    u: [usize; 2],
    clients: Vec<rpc::client::RelayClient>,
    last_poll: Instant,
    unexpected_exits: Vec<String>,
    load_start: Instant,
}

impl Injector {
    fn affected(&self, side: usize) -> usize {
        let mut relays: BTreeSet<usize> = self.recovering.iter().map(|(r, _)| *r).collect();
        relays.extend(self.active.iter().filter_map(|a| a.relay));
        relays.iter().filter(|r| self.side_of[**r] == side).count()
    }

    fn at(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.load_start).as_secs_f64()
    }

    /// One turn: heal what is due, follow recovering relays, restart relays that died by
    /// themselves, and inject the next fault if it is due and allowed (`inject` false: only
    /// heal and follow).
    async fn step(
        &mut self,
        procs: &mut [Proc],
        relays: &[RelayFiles],
        net: &ChaosNet,
        inject: bool,
        log: &MultiProgress,
    ) -> anyhow::Result<()> {
        let now = Instant::now();
        let due: Vec<usize> = (0..self.active.len())
            .rev()
            .filter(|&i| self.active[i].heal_at <= now)
            .collect();
        for i in due {
            let a = self.active.remove(i);
            self.heal(a, procs, relays, net, false, log)?;
        }
        if self.last_poll.elapsed() >= READY_POLL && !self.recovering.is_empty() {
            self.last_poll = Instant::now();
            let mut still = Vec::new();
            for (relay, record) in std::mem::take(&mut self.recovering) {
                let ready = tokio::time::timeout(READY_POLL, self.clients[relay].ready())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .is_some_and(|r| r.ready);
                if ready {
                    let now_s = self.at(Instant::now());
                    let rec = &mut self.records[record];
                    if let Some(h) = rec.heal_s {
                        rec.ready_after_heal_s = Some(now_s - h);
                    }
                } else {
                    still.push((relay, record));
                }
            }
            self.recovering = still;
        }
        for (i, p) in procs.iter_mut().enumerate() {
            if self.killed.contains(&i) {
                continue;
            }
            if let Some(status) = p.exited() {
                let what = format!(
                    "relay {} exited by itself ({status}) {:.1} s into the load; see logs/{}.log",
                    relays[i].name,
                    self.at(Instant::now()),
                    relays[i].name
                );
                say(log, &what).ok();
                self.unexpected_exits.push(what);
                if self.unexpected_exits.len() > MAX_UNEXPECTED_EXITS {
                    anyhow::bail!(
                        "relays exited by themselves {} times; last: {}",
                        self.unexpected_exits.len(),
                        self.unexpected_exits.last().map_or("", String::as_str)
                    );
                }
                p.restart()?;
            }
        }
        if !inject {
            return Ok(());
        }
        let Some(next) = self.plan.faults.get(self.next).cloned() else {
            return Ok(());
        };
        let since = now.saturating_duration_since(self.load_start);
        if since < next.at {
            return Ok(());
        }
        if since > self.plan.last_start {
            // Held back past the last start: drop the rest of the schedule.
            self.skipped += (self.plan.faults.len() - self.next) as u64;
            self.next = self.plan.faults.len();
            return Ok(());
        }
        let allowed = match next.relay {
            None => !self.active.iter().any(|a| a.kind == FaultKind::Partition),
            Some(r) => self.affected(self.side_of[r]) < self.u[self.side_of[r]],
        };
        if !allowed {
            return Ok(());
        }
        self.next += 1;
        match (next.kind, next.relay) {
            (FaultKind::RelayKill, Some(r)) => {
                procs[r].kill().await;
                self.killed.insert(r);
            }
            (FaultKind::ValidatorOffline, Some(r)) => net.validators[r].cut(),
            (FaultKind::Partition, _) => net.partition.cut(),
            (kind, None) => anyhow::bail!("schedule has a {} without a relay", kind.name()),
        }
        let start = Instant::now();
        let relay = next.relay.map(|r| relays[r].name.clone());
        say(
            log,
            format!(
                "{:>6.1} s  inject {}{}  (for {:.1} s)",
                self.at(start),
                next.kind.name(),
                relay
                    .as_deref()
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default(),
                next.hold.as_secs_f64()
            ),
        )
        .ok();
        self.records.push(FaultRecord {
            kind: next.kind,
            relay,
            planned_s: next.at.as_secs_f64(),
            start_s: self.at(start),
            heal_s: None,
            start_unix_ms: unix_ms(),
            heal_unix_ms: None,
            forced_heal: false,
            ready_after_heal_s: None,
            recovery_ms: None,
        });
        self.active.push(Active {
            record: self.records.len() - 1,
            kind: next.kind,
            relay: next.relay,
            heal_at: start + next.hold,
        });
        Ok(())
    }

    fn heal(
        &mut self,
        a: Active,
        procs: &mut [Proc],
        relays: &[RelayFiles],
        net: &ChaosNet,
        forced: bool,
        log: &MultiProgress,
    ) -> anyhow::Result<()> {
        match (a.kind, a.relay) {
            (FaultKind::RelayKill, Some(r)) => {
                procs[r]
                    .restart()
                    .with_context(|| format!("cannot restart relay {}", relays[r].name))?;
                self.killed.remove(&r);
            }
            (FaultKind::ValidatorOffline, Some(r)) => net.validators[r].heal(),
            _ => net.partition.heal(),
        }
        let t = Instant::now();
        let t_s = self.at(t);
        let rec = &mut self.records[a.record];
        rec.heal_s = Some(t_s);
        rec.heal_unix_ms = Some(unix_ms());
        rec.forced_heal = forced;
        say(
            log,
            format!(
                "{:>6.1} s  heal   {}{}",
                t_s,
                a.kind.name(),
                rec.relay
                    .as_deref()
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default()
            ),
        )
        .ok();
        if let Some(r) = a.relay {
            self.recovering.push((r, a.record));
        }
        Ok(())
    }

    fn heal_all(
        &mut self,
        procs: &mut [Proc],
        relays: &[RelayFiles],
        net: &ChaosNet,
        log: &MultiProgress,
    ) -> anyhow::Result<()> {
        for a in std::mem::take(&mut self.active) {
            self.heal(a, procs, relays, net, true, log)?;
        }
        Ok(())
    }
}

/// One escrow (`BridgeOut`) read from a source chain.
#[derive(Debug)]
struct Escrow {
    transfer: BridgeTransfer,
    count: u32,
}

/// What one chain's blocks say about bridge transfers, read from height 1.
#[derive(Debug)]
struct Scan {
    client: DevnetClient,
    kind: ChainKind,
    chain: ChainId,
    next: Height,
    /// `BridgeOut`s (this chain is the source).
    escrows: BTreeMap<TransferId, Escrow>,
    /// `BridgeIn` payloads by transfer id (this chain is the destination).
    applied: BTreeMap<TransferId, Vec<Vec<u8>>>,
    /// `BridgeIn`s whose payload does not even decode.
    undecodable: u64,
    /// Timestamps of the blocks that applied at least one `BridgeIn`.
    commit_ts: Vec<u64>,
}

impl Scan {
    fn new(endpoint: &str, engine: &EngineConfig) -> anyhow::Result<Self> {
        Ok(Scan {
            client: DevnetClient::new(endpoint)?,
            kind: engine.kind,
            chain: engine.chain_id.clone(),
            next: Height(1),
            escrows: BTreeMap::new(),
            applied: BTreeMap::new(),
            undecodable: 0,
            commit_ts: Vec::new(),
        })
    }

    /// Reads every block up to the chain's current tip (the chain keeps producing blocks, so
    /// "until there are none" would never end).
    async fn advance(&mut self) -> anyhow::Result<()> {
        let tip = self
            .client
            .status()
            .await
            .with_context(|| format!("cannot read the status of {}", self.chain))?
            .height;
        while self.next.0 <= tip {
            let blocks = self
                .client
                .blocks_from(self.next, 64)
                .await
                .with_context(|| format!("cannot read blocks of {}", self.chain))?;
            if blocks.is_empty() {
                break;
            }
            for b in blocks {
                self.next = Height(b.height().0 + 1);
                let mut applied_here = false;
                for rec in b.txns() {
                    if let Some(t) = BridgeTransfer::from_record(self.kind, &self.chain, rec) {
                        self.escrows
                            .entry(t.id())
                            .and_modify(|e| e.count += 1)
                            .or_insert(Escrow {
                                transfer: t,
                                count: 1,
                            });
                    }
                    if let TxBody::BridgeIn { payload, .. } = &rec.tx.body {
                        applied_here = true;
                        match BridgeTransfer::from_bytes(payload) {
                            Ok(t) => self
                                .applied
                                .entry(t.id())
                                .or_default()
                                .push(payload.clone()),
                            Err(_) => self.undecodable += 1,
                        }
                    }
                }
                if applied_here {
                    self.commit_ts.push(b.timestamp_ms());
                }
            }
        }
        Ok(())
    }
}

/// The check of one direction against both chains.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DirectionCheck {
    /// Transfers the load generator submitted and the source chain accepted.
    pub submitted: u64,
    /// Escrows (`BridgeOut`s) found on the source chain.
    pub escrowed: u64,
    /// Escrows applied (at least once) on the destination chain.
    pub committed: u64,
    /// Accepted by the source chain but never escrowed (beyond the one submission whose
    /// outcome is unknown when the load stopped mid-call).
    pub not_escrowed: u64,
    /// Transfers escrowed more than once.
    pub escrowed_twice: u64,
    /// Escrowed on the source but never applied on the destination.
    pub lost: u64,
    /// Applied more than once.
    pub duplicated: u64,
    /// `BridgeIn`s applied that match no escrow (unknown id, different payload, or undecodable).
    pub forged_applied: u64,
    /// Escrows found on the source chain that the load generator did not submit.
    pub untracked_escrows: u64,
    /// Sum of the escrowed amounts.
    pub escrowed_amount: u64,
    /// Sum of the applied amounts (each applied transfer once).
    pub applied_amount: u64,
    /// Longest time with no commit in this direction while the load ran, ms.
    pub longest_stall_ms: u64,
    /// When that stall began, seconds after the load started.
    pub longest_stall_from_s: f64,
    /// Latency (source block → destination block) seen live, ms.
    pub latency_ms_p50: u64,
    /// 99th percentile.
    pub latency_ms_p99: u64,
    /// Maximum.
    pub latency_ms_max: u64,
    /// The lost transfers.
    #[serde(skip)]
    pub lost_ids: Vec<TransferId>,
}

fn check_direction(
    tracked: &[TransferId],
    live: &DirectionSummary,
    src: &Scan,
    dst: &Scan,
    window: (u64, u64),
) -> DirectionCheck {
    let mut c = DirectionCheck {
        submitted: live.submitted,
        escrowed: src.escrows.len() as u64,
        latency_ms_p50: live.latency_ms_p50,
        latency_ms_p99: live.latency_ms_p99,
        latency_ms_max: live.latency_ms_max,
        ..DirectionCheck::default()
    };
    let tracked_set: BTreeSet<&TransferId> = tracked.iter().collect();
    let missing = tracked
        .iter()
        .filter(|id| !src.escrows.contains_key(id))
        .count() as u64;
    let in_flight = (tracked.len() as u64).saturating_sub(live.submitted);
    c.not_escrowed = missing.saturating_sub(in_flight);
    for (id, e) in &src.escrows {
        c.escrowed_amount += e.transfer.amount.0;
        if e.count > 1 {
            c.escrowed_twice += 1;
        }
        if !tracked_set.contains(id) {
            c.untracked_escrows += 1;
        }
        let expected = e.transfer.to_bytes();
        let applied = dst.applied.get(id).map_or(&[][..], Vec::as_slice);
        let genuine = applied.iter().filter(|p| **p == expected).count();
        match genuine {
            0 => {
                c.lost += 1;
                c.lost_ids.push(*id);
            }
            1 => {
                c.committed += 1;
                c.applied_amount += e.transfer.amount.0;
            }
            _ => {
                c.committed += 1;
                c.duplicated += 1;
                c.applied_amount += e.transfer.amount.0;
            }
        }
    }
    for (id, payloads) in &dst.applied {
        let expected = src.escrows.get(id).map(|e| e.transfer.to_bytes());
        c.forged_applied += payloads
            .iter()
            .filter(|p| expected.as_deref() != Some(p.as_slice()))
            .count() as u64;
    }
    c.forged_applied += dst.undecodable;
    let (from, to) = window;
    let mut last = from;
    let mut ts: Vec<u64> = dst
        .commit_ts
        .iter()
        .copied()
        .filter(|t| *t > from && *t <= to)
        .collect();
    ts.push(to);
    for t in ts {
        if t.saturating_sub(last) > c.longest_stall_ms {
            c.longest_stall_ms = t - last;
            c.longest_stall_from_s = last.saturating_sub(from) as f64 / 1000.0;
        }
        last = t;
    }
    c
}

/// What the destination cluster's relays say about a lost transfer.
#[derive(Debug, Clone, Serialize)]
pub struct LostTransfer {
    /// `a_to_b` or `b_to_a`.
    pub direction: &'static str,
    /// The transfer id (hex).
    pub id: String,
    /// Per relay of both clusters: `name: status[+quacked] (error)`, or why it could not be
    /// asked.
    pub views: Vec<String>,
}

/// Most lost transfers whose relays are asked why, per direction.
const LOST_ASKED: usize = 100;
/// Most lost transfers listed in the report, per direction.
const LOST_LISTED: usize = 5;

/// A relay's refusal reason with the numbers taken out, so equal causes group together.
fn reason_class(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut in_number = false;
    for ch in reason.chars() {
        if ch.is_ascii_hexdigit() && (ch.is_ascii_digit() || in_number) {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(ch);
        }
    }
    out
}

/// Every relay of both clusters, by name, with a client of its JSON-RPC.
type Asked<'a> = [(&'a str, &'static str, &'a rpc::client::RelayClient)];

/// Asks every relay (source and destination cluster) about up to [`LOST_ASKED`] lost transfers
/// of a direction whose destination cluster is `dest_side`: counts them per cause (the
/// destination relays' refusal reason, numbers replaced by `N`; or, when no destination relay
/// reports one, which relays know the transfer and in what state) and lists a few.
async fn explain_lost(
    direction: &'static str,
    dest_side: &str,
    lost: &[TransferId],
    relays: &Asked<'_>,
    reasons: &mut BTreeMap<String, u64>,
) -> Vec<LostTransfer> {
    let mut listed = Vec::new();
    for id in lost.iter().take(LOST_ASKED) {
        let hex = id.0.to_hex();
        let mut views = Vec::new();
        let mut reason = None;
        // Per cluster ("source"/"destination"): the states reported.
        let mut states: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (name, side, client) in relays {
            let role = if *side == dest_side {
                "destination"
            } else {
                "source"
            };
            let view = tokio::time::timeout(Duration::from_secs(5), client.transfer(&hex)).await;
            let state = match view {
                Ok(Ok(Some(v))) => {
                    if role == "destination" && reason.is_none() {
                        reason = v.error.clone();
                    }
                    let state =
                        format!("{:?}{}", v.status, if v.quacked { "+quacked" } else { "" });
                    views.push(format!(
                        "{name}: {state} ({})",
                        v.error.as_deref().unwrap_or("-")
                    ));
                    state
                }
                Ok(Ok(None)) => {
                    views.push(format!("{name}: unknown"));
                    "unknown".to_owned()
                }
                Ok(Err(e)) => {
                    views.push(format!("{name}: cannot ask ({e})"));
                    "unanswered".to_owned()
                }
                Err(_) => {
                    views.push(format!("{name}: no answer in 5 s"));
                    "unanswered".to_owned()
                }
            };
            states.entry(role).or_default().insert(state);
        }
        let class = match reason {
            Some(r) => format!("refused: {}", reason_class(&r)),
            None => {
                let join = |role: &str| {
                    states
                        .get(role)
                        .map(|s| s.iter().cloned().collect::<Vec<_>>().join("/"))
                        .unwrap_or_default()
                };
                format!(
                    "destination relays: {}; source relays: {}",
                    join("destination"),
                    join("source")
                )
            }
        };
        *reasons.entry(class).or_default() += 1;
        if listed.len() < LOST_LISTED {
            listed.push(LostTransfer {
                direction,
                id: hex,
                views,
            });
        }
    }
    if lost.len() > LOST_ASKED {
        *reasons.entry("not asked".to_owned()).or_default() += (lost.len() - LOST_ASKED) as u64;
    }
    listed
}

/// One chain's balance check.
#[derive(Debug, Clone, Serialize)]
pub struct ChainBalances {
    /// Escrowed towards the other chain (the chain's own counter).
    pub escrowed: u64,
    /// Minted from the other chain (the chain's own counter).
    pub minted: u64,
    /// Sum of the funded accounts' balances.
    pub accounts_total: u64,
    /// What they must hold: genesis total − escrowed + minted.
    pub expected_total: u64,
}

async fn chain_balances(endpoint: &str, engine: &EngineConfig) -> anyhow::Result<ChainBalances> {
    let client = DevnetClient::new(endpoint)?;
    let status = client.status().await?;
    let mut total: u64 = 0;
    for i in 0..engine.accounts {
        let addr = engine.account_key(i).address();
        let balance = client.account(&addr).await?.map_or(0, |a| a.balance);
        total = total.saturating_add(balance);
    }
    let genesis = engine.initial_balance.0.saturating_mul(engine.accounts);
    Ok(ChainBalances {
        escrowed: status.escrowed,
        minted: status.minted,
        accounts_total: total,
        expected_total: genesis
            .saturating_sub(status.escrowed)
            .saturating_add(status.minted),
    })
}

/// The result of a chaos run.
#[derive(Debug, Serialize)]
pub struct ChaosReport {
    /// `"chaos"`.
    pub mode: &'static str,
    /// The schedule's seed (`--chaos-seed` replays it).
    pub seed: u64,
    /// The devnet directory.
    pub dir: String,
    /// The cross-cluster protocol.
    pub protocol: String,
    /// Relays (and validators) of chain A.
    pub nodes_a: u16,
    /// Of chain B.
    pub nodes_b: u16,
    /// Fault bound of cluster A.
    pub u_a: usize,
    /// Of cluster B.
    pub u_b: usize,
    /// Seconds the load ran.
    pub load_s: f64,
    /// Seconds from the end of the load until everything was committed (or the deadline).
    pub drain_s: f64,
    /// Whether the drain finished before its deadline.
    pub drained: bool,
    /// Whether every relay reported ready at the end.
    pub relays_ready_at_end: bool,
    /// Faults injected, by kind.
    pub faults_by_kind: ByKind,
    /// Faults of the schedule dropped because the fault bound held them back too long.
    pub faults_skipped: u64,
    /// Every fault, in order.
    pub faults: Vec<FaultRecord>,
    /// Transfers submitted and accepted by their source chain (both directions).
    pub submitted: u64,
    /// Escrows found on the source chains: `submitted`, plus a submission per direction that was
    /// in flight when the load stopped and went through.
    pub escrowed: u64,
    /// Applied on their destination.
    pub committed: u64,
    /// Escrowed but never applied.
    pub lost: u64,
    /// Applied more than once.
    pub duplicated: u64,
    /// `BridgeIn`s applied that match no escrow.
    pub forged_applied: u64,
    /// Accepted but never escrowed.
    pub not_escrowed: u64,
    /// Lost transfers by the reason the destination relays give (numbers replaced by `N`).
    pub lost_reasons: BTreeMap<String, u64>,
    /// A few lost transfers with every destination relay's view of them.
    pub lost_examples: Vec<LostTransfer>,
    /// Both chains' balances add up (see the module docs).
    pub balances_conserved: bool,
    /// Longest interval with no commit in a direction while the load ran, seconds.
    pub longest_stall_s: f64,
    /// Largest per-fault recovery time, ms.
    pub max_recovery_ms: Option<u64>,
    /// Relay processes that exited without being killed.
    pub unexpected_exits: Vec<String>,
    /// What the cross-cluster (libp2p) proxies did.
    pub p2p_proxies: ProxyStats,
    /// What the validator-endpoint proxies did.
    pub validator_proxies: ProxyStats,
    /// A→B.
    pub a_to_b: DirectionCheck,
    /// B→A.
    pub b_to_a: DirectionCheck,
    /// Chain A's balances.
    pub balances_a: Option<ChainBalances>,
    /// Chain B's balances.
    pub balances_b: Option<ChainBalances>,
    /// Every check passed.
    pub ok: bool,
    /// Seconds from the start of the devnet's load to the end of the checks.
    pub elapsed_s: f64,
}

/// Runs the chaos load phase, heals, drains and checks; prints the report. Fails (after
/// printing it) if any check failed.
pub async fn drive(
    args: &DevnetArgs,
    dir: &std::path::Path,
    relays: &[RelayFiles],
    procs: &mut [Proc],
    endpoints: (&[String], &[String]),
    net: &ChaosNet,
    seed: u64,
) -> anyhow::Result<()> {
    super::wait_ready(relays, Duration::from_secs(60)).await?;
    let sizes = [usize::from(args.nodes_a), usize::from(args.nodes_b)];
    let u = [
        fault_bound(Side::A, sizes[0]),
        fault_bound(Side::B, sizes[1]),
    ];
    let duration = Duration::from_secs(args.duration);
    let wanted = wanted_kinds(&args.chaos_faults)?;
    let plan = plan(seed, duration, sizes, u, &wanted);

    let multi = MultiProgress::new();
    if args.json {
        multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    say(&multi, format!(
            "chaos: seed {seed} (replay with --chaos-seed {seed}), {} faults planned over {} s, u = {} / {}",
            plan.faults.len(),
            args.duration,
            u[0],
            u[1]
        ))
        .ok();
    let style =
        ProgressStyle::with_template("{prefix:>6} [{elapsed_precise}] {pos} committed {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bars: Vec<ProgressBar> = ["A→B", "B→A"]
        .iter()
        .map(|name| {
            let b = multi.add(ProgressBar::new(0));
            b.set_style(style.clone());
            b.set_prefix(*name);
            b
        })
        .collect();

    let mut traffic = Traffic::start(args, endpoints.0, endpoints.1, None)?;
    let load_start = Instant::now();
    let load_start_ms = unix_ms();
    let mut inj = Injector {
        plan,
        next: 0,
        skipped: 0,
        records: Vec::new(),
        active: Vec::new(),
        recovering: Vec::new(),
        killed: BTreeSet::new(),
        side_of: relays.iter().map(|r| usize::from(r.side != "a")).collect(),
        u,
        clients: relays
            .iter()
            .map(|r| rpc::client::RelayClient::new(&r.rpc_url()))
            .collect::<Result<_, _>>()?,
        last_poll: Instant::now(),
        unexpected_exits: Vec::new(),
        load_start,
    };
    let show = |bars: &[ProgressBar], traffic: &Traffic| {
        let l = traffic::lock(&traffic.ledger);
        for (d, b) in bars.iter().enumerate() {
            let s = l.summary(d);
            b.set_position(s.committed);
            b.set_message(format!(
                "of {} submitted · p99 {} ms",
                s.submitted, s.latency_ms_p99
            ));
        }
    };

    // Load with faults.
    let mut ctrl_c = std::pin::pin!(crate::cmd::start::shutdown_signal());
    // The signal future must not be polled again once it fired.
    let mut signalled = false;
    while load_start.elapsed() < duration {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = &mut ctrl_c => { signalled = true; break; }
        }
        inj.step(procs, relays, net, true, &multi).await?;
        show(&bars, &traffic);
    }
    traffic.stop_load();
    let load_end = Instant::now();
    let load_end_ms = unix_ms();
    inj.skipped += (inj.plan.faults.len() - inj.next) as u64;
    inj.next = inj.plan.faults.len();
    inj.heal_all(procs, relays, net, &multi)?;
    say(
        &multi,
        format!(
            "{:>6.1} s  load stopped; draining (up to {} s)",
            load_end.saturating_duration_since(load_start).as_secs_f64(),
            args.drain_timeout
        ),
    )
    .ok();

    // Drain: every submitted transfer committed (the scan is the judge) and every relay back.
    let side_a = traffic.side_a.clone();
    let side_b = traffic.side_b.clone();
    let mut scan_a = Scan::new(&endpoints.0[0], &side_a.engine)?;
    let mut scan_b = Scan::new(&endpoints.1[0], &side_b.engine)?;
    let deadline = load_end + Duration::from_secs(args.drain_timeout);
    let mut drained = false;
    let mut all_ready = false;
    // A Ctrl-C during the load ends it early; one during the drain ends the drain.
    let mut give_up = false;
    let check = |traffic: &Traffic, a: &Scan, b: &Scan| {
        let l = traffic::lock(&traffic.ledger);
        let window = (load_start_ms, load_end_ms);
        (
            check_direction(&l.submitted_ids(0), &l.summary(0), a, b, window),
            check_direction(&l.submitted_ids(1), &l.summary(1), b, a, window),
        )
    };
    let (mut ab, mut ba);
    loop {
        let live_done = {
            let l = traffic::lock(&traffic.ledger);
            (0..2).all(|d| {
                let s = l.summary(d);
                s.lost == 0 && s.finalized >= s.submitted && s.committed >= s.submitted
            })
        };
        let past_deadline = Instant::now() >= deadline;
        if live_done || past_deadline {
            scan_a.advance().await?;
            scan_b.advance().await?;
        }
        (ab, ba) = check(&traffic, &scan_a, &scan_b);
        let complete = live_done
            && [&ab, &ba]
                .iter()
                .all(|c| c.lost == 0 && c.not_escrowed == 0);
        if complete {
            all_ready = true;
            for c in &inj.clients {
                let ready = tokio::time::timeout(READY_POLL, c.ready())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .is_some_and(|r| r.ready);
                all_ready &= ready;
            }
            if all_ready {
                drained = true;
                break;
            }
        }
        if past_deadline || give_up {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = &mut ctrl_c, if !signalled => { signalled = true; give_up = true; }
        }
        inj.step(procs, relays, net, false, &multi).await?;
        show(&bars, &traffic);
    }
    let drain_s = load_end.elapsed().as_secs_f64();
    // Everything applied has been read; one last pass picks up anything that came late.
    scan_a.advance().await?;
    scan_b.advance().await?;
    (ab, ba) = check(&traffic, &scan_a, &scan_b);
    traffic.stop();
    for b in &bars {
        b.finish();
    }

    // Balances: per chain, and across the two.
    let balances_a = chain_balances(&endpoints.0[0], &side_a.engine).await.ok();
    let balances_b = chain_balances(&endpoints.1[0], &side_b.engine).await.ok();
    let balances_conserved = match (&balances_a, &balances_b) {
        (Some(a), Some(b)) => {
            a.accounts_total == a.expected_total
                && b.accounts_total == b.expected_total
                && a.escrowed == b.minted
                && b.escrowed == a.minted
                && a.escrowed == ab.escrowed_amount
                && b.minted == ab.applied_amount
                && b.escrowed == ba.escrowed_amount
                && a.minted == ba.applied_amount
        }
        _ => false,
    };

    // Recovery: heal → next commit in each direction.
    let mut records = std::mem::take(&mut inj.records);
    for r in &mut records {
        let Some(h) = r.heal_unix_ms else { continue };
        let next = |ts: &[u64]| ts.iter().find(|t| **t >= h).map(|t| t - h);
        r.recovery_ms = match (next(&scan_b.commit_ts), next(&scan_a.commit_ts)) {
            (Some(x), Some(y)) => Some(x.max(y)),
            _ => None,
        };
    }
    let max_recovery_ms = if records.iter().all(|r| r.recovery_ms.is_some()) {
        records.iter().filter_map(|r| r.recovery_ms).max()
    } else {
        None
    };
    let by_kind = ByKind::count(&records);
    let mut lost_reasons = BTreeMap::new();
    let mut lost_examples = Vec::new();
    let asked: Vec<(&str, &'static str, &rpc::client::RelayClient)> = relays
        .iter()
        .zip(&inj.clients)
        .map(|(r, c)| (r.name.as_str(), r.side, c))
        .collect();
    for (direction, check, dest_side) in [("a_to_b", &ab, "b"), ("b_to_a", &ba, "a")] {
        if !check.lost_ids.is_empty() {
            lost_examples.extend(
                explain_lost(
                    direction,
                    dest_side,
                    &check.lost_ids,
                    &asked,
                    &mut lost_reasons,
                )
                .await,
            );
        }
    }
    let lost = ab.lost + ba.lost;
    let duplicated = ab.duplicated + ba.duplicated + ab.escrowed_twice + ba.escrowed_twice;
    let forged_applied = ab.forged_applied + ba.forged_applied;
    let not_escrowed = ab.not_escrowed + ba.not_escrowed;
    let ok = lost == 0
        && duplicated == 0
        && forged_applied == 0
        && not_escrowed == 0
        && balances_conserved
        && inj.unexpected_exits.is_empty()
        && drained;
    let report = ChaosReport {
        mode: "chaos",
        seed,
        dir: dir.display().to_string(),
        protocol: args.protocol.clone(),
        nodes_a: args.nodes_a,
        nodes_b: args.nodes_b,
        u_a: u[0],
        u_b: u[1],
        load_s: load_end.saturating_duration_since(load_start).as_secs_f64(),
        drain_s,
        drained,
        relays_ready_at_end: all_ready,
        faults_by_kind: by_kind,
        faults_skipped: inj.skipped,
        faults: records,
        submitted: ab.submitted + ba.submitted,
        escrowed: ab.escrowed + ba.escrowed,
        committed: ab.committed + ba.committed,
        lost,
        duplicated,
        forged_applied,
        not_escrowed,
        lost_reasons,
        lost_examples,
        balances_conserved,
        longest_stall_s: ab.longest_stall_ms.max(ba.longest_stall_ms) as f64 / 1000.0,
        max_recovery_ms,
        unexpected_exits: std::mem::take(&mut inj.unexpected_exits),
        p2p_proxies: ChaosNet::stats(&net.p2p),
        validator_proxies: ChaosNet::stats(&net.rpc),
        a_to_b: ab,
        b_to_a: ba,
        balances_a,
        balances_b,
        ok,
        elapsed_s: load_start.elapsed().as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    if !report.ok {
        anyhow::bail!(
            "chaos check failed (seed {seed}; replay with --chaos --chaos-seed {seed} --duration {}); files in {}",
            args.duration,
            report.dir
        );
    }
    Ok(())
}

fn print_report(r: &ChaosReport) {
    let k = &r.faults_by_kind;
    println!(
        "chaos seed {} · {:.0} s of load · faults: {} relay kills, {} partitions, {} validator outages ({} skipped)",
        r.seed, r.load_s, k.relay_kill, k.partition, k.validator_offline, r.faults_skipped
    );
    for (name, c) in [("A→B", &r.a_to_b), ("B→A", &r.b_to_a)] {
        println!(
            "{name}: submitted {} escrowed {} committed {} lost {} duplicated {} forged applied {} · longest stall {:.1} s (from {:.1} s) · latency p50 {} ms p99 {} ms",
            c.submitted,
            c.escrowed,
            c.committed,
            c.lost,
            c.duplicated,
            c.forged_applied,
            c.longest_stall_ms as f64 / 1000.0,
            c.longest_stall_from_s,
            c.latency_ms_p50,
            c.latency_ms_p99
        );
    }
    for f in &r.faults {
        println!(
            "  {:>6.1} s  {:<17} {:<3} healed {:>6}  ready after {:>5}  recovery {}",
            f.start_s,
            f.kind.name(),
            f.relay.as_deref().unwrap_or("-"),
            f.heal_s.map_or("-".into(), |h| format!("{h:.1} s")),
            f.ready_after_heal_s
                .map_or("-".into(), |s| format!("{s:.1} s")),
            f.recovery_ms.map_or("none".into(), |m| format!("{m} ms")),
        );
    }
    for e in &r.unexpected_exits {
        println!("  {e}");
    }
    println!(
        "balances conserved: {} · longest stall {:.1} s · max recovery {} · drained in {:.1} s · {} · files in {}",
        r.balances_conserved,
        r.longest_stall_s,
        r.max_recovery_ms
            .map_or("none".into(), |m| format!("{m} ms")),
        r.drain_s,
        if r.ok { "OK" } else { "FAILED" },
        r.dir
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let d = Duration::from_secs(120);
        assert_eq!(
            plan(7, d, [4, 4], [1, 1], &FaultKind::ALL),
            plan(7, d, [4, 4], [1, 1], &FaultKind::ALL)
        );
        assert_ne!(
            plan(7, d, [4, 4], [1, 1], &FaultKind::ALL),
            plan(8, d, [4, 4], [1, 1], &FaultKind::ALL)
        );
    }

    #[test]
    fn every_schedule_starts_with_one_fault_of_each_kind_and_stays_in_bounds() {
        for seed in 0..200 {
            for secs_ in [30u64, 40, 120] {
                let d = Duration::from_secs(secs_);
                let p = plan(seed, d, [4, 4], [1, 1], &FaultKind::ALL);
                let first: BTreeSet<FaultKind> = p.faults.iter().take(3).map(|f| f.kind).collect();
                assert_eq!(first.len(), 3, "seed {seed}: {p:?}");
                let mut partition_end = Duration::ZERO;
                for f in &p.faults {
                    assert!(f.at <= p.last_start && f.at + f.hold < d, "{f:?}");
                    assert!(f.hold >= Duration::from_millis(500), "{f:?}");
                    assert_eq!(f.relay.is_some(), f.kind.on_relay(), "{f:?}");
                    assert!(f.relay.is_none_or(|r| r < 8), "{f:?}");
                    if f.kind == FaultKind::Partition {
                        assert!(f.at >= partition_end, "overlapping partitions: {p:?}");
                        partition_end = f.at + f.hold;
                    }
                }
                if secs_ == 120 {
                    assert!(p.faults.len() >= 15, "seed {seed}: only {}", p.faults.len());
                }
            }
        }
    }

    #[test]
    fn a_side_without_fault_tolerance_is_never_targeted() {
        // Two relays on side A: u = 0 there.
        let u = [fault_bound(Side::A, 2), fault_bound(Side::B, 4)];
        assert_eq!(u, [0, 1]);
        for seed in 0..50 {
            let p = plan(seed, Duration::from_secs(60), [2, 4], u, &FaultKind::ALL);
            assert!(
                p.faults.iter().filter_map(|f| f.relay).all(|r| r >= 2),
                "{p:?}"
            );
        }
        let p = plan(1, Duration::from_secs(60), [2, 2], [0, 0], &FaultKind::ALL);
        assert!(
            p.faults.iter().all(|f| f.kind == FaultKind::Partition),
            "{p:?}"
        );
    }

    #[test]
    fn only_the_wanted_kinds_are_planned() {
        let d = Duration::from_secs(120);
        for wanted in [
            vec![FaultKind::Partition],
            vec![FaultKind::RelayKill],
            vec![FaultKind::Partition, FaultKind::ValidatorOffline],
        ] {
            for seed in 0..50 {
                let p = plan(seed, d, [4, 4], [1, 1], &wanted);
                assert!(p.faults.len() >= 10, "{wanted:?} seed {seed}: {p:?}");
                assert!(p.faults.iter().all(|f| wanted.contains(&f.kind)), "{p:?}");
                let kinds: BTreeSet<FaultKind> = p.faults.iter().map(|f| f.kind).collect();
                assert_eq!(kinds.len(), wanted.len(), "{p:?}");
            }
        }
        // Relay faults on clusters that tolerate none: nothing to plan.
        assert!(
            plan(3, d, [2, 2], [0, 0], &[FaultKind::RelayKill])
                .faults
                .is_empty()
        );
        assert_eq!(
            wanted_kinds(&["partition".into(), " relay_kill".into()]).unwrap(),
            [FaultKind::Partition, FaultKind::RelayKill]
        );
        assert_eq!(wanted_kinds(&[]).unwrap(), FaultKind::ALL);
        let e = wanted_kinds(&["flood".into()]).unwrap_err().to_string();
        assert!(
            e.contains("unknown fault \"flood\"") && e.contains("validator_offline"),
            "{e}"
        );
    }

    /// A seed's schedule must not change between versions: published runs name their seeds.
    #[test]
    fn seed_one_keeps_its_published_schedule() {
        let p = plan(1, Duration::from_secs(40), [4, 4], [1, 1], &FaultKind::ALL);
        let got: Vec<(FaultKind, Option<usize>, u64)> = p
            .faults
            .iter()
            .map(|f| (f.kind, f.relay, f.at.as_millis() as u64))
            .collect();
        assert_eq!(got.len(), 8, "{got:?}");
        assert_eq!(
            got[0],
            (FaultKind::ValidatorOffline, Some(0), 5_000),
            "{got:?}"
        );
        assert_eq!(got[1].0, FaultKind::RelayKill, "{got:?}");
        assert_eq!(got[1].1, Some(5), "{got:?}");
        assert_eq!(got[2].0, FaultKind::Partition, "{got:?}");
    }

    fn transfer(k: u64, amount: u64) -> BridgeTransfer {
        BridgeTransfer {
            source_chain: ChainId::new("src").unwrap(),
            dest_chain: ChainId::new("dst").unwrap(),
            k: chains::types::ExportIndex(k),
            tx_id: chains::types::TxId(chains::types::Hash32([k as u8; 32])),
            from: chains::types::Address::Ed25519([1; 32]),
            recipient: chains::types::Address::Ed25519([2; 32]),
            amount: chains::types::Amount(amount),
            nonce: k,
        }
    }

    fn scan(engine_kind: ChainKind) -> Scan {
        Scan {
            client: DevnetClient::new("http://127.0.0.1:1").unwrap(),
            kind: engine_kind,
            chain: ChainId::new("x").unwrap(),
            next: Height(1),
            escrows: BTreeMap::new(),
            applied: BTreeMap::new(),
            undecodable: 0,
            commit_ts: Vec::new(),
        }
    }

    #[test]
    fn the_check_finds_lost_duplicated_forged_and_stalls() {
        let mut src = scan(ChainKind::Algorand);
        let mut dst = scan(ChainKind::Resdb);
        let ts: Vec<BridgeTransfer> = (0..5).map(|k| transfer(k, 10 + k)).collect();
        for t in &ts {
            src.escrows.insert(
                t.id(),
                Escrow {
                    transfer: t.clone(),
                    count: 1,
                },
            );
        }
        // 0 applied once, 1 twice, 2 never, 3 once plus a forged copy, 4 once.
        for (i, n) in [(0, 1), (1, 2), (3, 1), (4, 1)] {
            for _ in 0..n {
                dst.applied
                    .entry(ts[i].id())
                    .or_default()
                    .push(ts[i].to_bytes());
            }
        }
        let mut forged = ts[3].clone();
        forged.amount = chains::types::Amount(1_000_000);
        dst.applied
            .entry(forged.id())
            .or_default()
            .push(forged.to_bytes());
        let unknown = transfer(9, 5);
        dst.applied
            .entry(unknown.id())
            .or_default()
            .push(unknown.to_bytes());
        dst.undecodable = 1;
        dst.commit_ts = vec![1_100, 1_200, 4_200, 4_300];
        let tracked: Vec<TransferId> = ts.iter().map(BridgeTransfer::id).collect();
        let live = DirectionSummary {
            submitted: 5,
            ..DirectionSummary::default()
        };
        let c = check_direction(&tracked, &live, &src, &dst, (1_000, 5_000));
        assert_eq!(c.escrowed, 5);
        assert_eq!(c.committed, 4);
        assert_eq!(c.lost, 1);
        assert_eq!(c.duplicated, 1);
        assert_eq!(c.forged_applied, 3);
        assert_eq!(c.not_escrowed, 0);
        assert_eq!(c.untracked_escrows, 0);
        assert_eq!(c.escrowed_amount, 10 + 11 + 12 + 13 + 14);
        assert_eq!(c.applied_amount, 10 + 11 + 13 + 14);
        assert_eq!(c.longest_stall_ms, 3_000);
        assert!((c.longest_stall_from_s - 0.2).abs() < 1e-9);

        // An accepted transfer that never reached a block is caught; one unknown submission
        // (in flight when the load stopped) is tolerated.
        let mut more = tracked.clone();
        more.push(transfer(20, 1).id());
        let c = check_direction(&more, &live, &src, &dst, (1_000, 5_000));
        assert_eq!(c.not_escrowed, 0, "the in-flight allowance");
        more.push(transfer(21, 1).id());
        let live6 = DirectionSummary {
            submitted: 6,
            ..DirectionSummary::default()
        };
        let c = check_direction(&more, &live6, &src, &dst, (1_000, 5_000));
        assert_eq!(c.not_escrowed, 1);
    }
}
