//! The seeded discrete-event simulator: runs any [`Protocol`] between two clusters at paper scale
//! over a modelled network, plants faults, and checks the C3B invariants after every run.
//!
//! # Use
//!
//! ```no_run
//! use relayer::sim::{SimConfig, run};
//! use relayer::protocol::ProtocolKind;
//!
//! let mut cfg = SimConfig::new(ProtocolKind::Picsou, 4, 4);
//! cfg.messages = 10_000;
//! let result = run(&cfg).expect("valid configuration");
//! assert!(result.violations.is_empty(), "{:?}", result.violations);
//! ```
//!
//! A run is a pure function of its [`SimConfig`] (the seed included): one thread, an event queue
//! ordered by `(time, sequence number)`, one `ChaCha8Rng` seeded from [`SimConfig::seed`], no
//! `HashMap` iteration. Only [`SimResult::wall_time_s`] differs between two runs of one config.
//!
//! # Layout
//!
//! - [`net`]: the network model (NIC queues with a control-priority lane, latency, per-pair
//!   caps, loss, partitions) and its presets `lan` and `geo`.
//! - [`faults`]: the fault-spec grammar, placement, and the [`faults::Faulty`] wrapper that turns
//!   an honest node into an adversary.
//! - [`mix`]: random scenarios for seed sweeps (sizes, stakes, bounds, fault mixes, network),
//!   one per seed.
//! - `engine`: the event loop, the source, persistence with crash-restart, the invariant checks.
//!
//! # The source
//!
//! Each cluster's stream has [`SimConfig::messages`] entries made by
//! [`crate::testkit::TestChain`]; every live node of the source cluster is handed each entry with
//! `handle_committed` at the same instant (the paper's FILE source). Entries are released as fast
//! as the protocol takes them: entry `k` is released once `k < front + window`, where `front` is
//! the smallest index no correct receiver holds yet and `window` is [`SimConfig::window`]; with
//! [`SimConfig::rate`] set they are also held to that many per second. Small runs (`messages ≤
//! window`) release everything at time 0.
//!
//! Entries carry a real payload of [`SimConfig::payload_len`] bytes, but the links charge each
//! entry as if its payload were [`SimConfig::size`] bytes: a batch costs
//! `wire::sealed_len + Σ (size − payload_len)` bytes. So that batches hold as many entries as they
//! would with real payloads, the protocols' `batch_bytes` is scaled by the ratio of real to
//! charged entry bytes (see [`SimConfig::protocol_params`]).
//!
//! # Metrics
//!
//! - **Throughput** of a direction: entries delivered to *every* correct receiver (to at least one
//!   for OST, which promises no more) per simulated second, measured from the moment
//!   `max(10%, min(window, 50%))` of the entries reached that state to the moment 90% did
//!   (excluding warm-up — the source releases `window` entries at once at the start — and the
//!   tail). Entries complete in whole batches, so the count at each mark is taken at the end of
//!   its instant. The run's `throughput_msgs_per_s` is the sum over the directions that ran.
//!   A steady state needs `messages` well above the window (default 8192), e.g. `≥ 5 × window`;
//!   for shorter runs read `average_msgs_per_s` (completions divided by the time of the last
//!   one, warm-up included).
//! - **Limit** of a direction: `min(B, n_s · n_r · pair_cap) / size` messages per second, with `B`
//!   the NIC bandwidth in bytes per second: every receiver's NIC must take in every entry at least
//!   once, and every entry must cross at least one cross-cluster pair pipe. When both directions
//!   run, each NIC's ingress carries only the stream its cluster receives (the other stream enters
//!   the other cluster), so the directions do not compete for ingress and the run's
//!   `limit_msgs_per_s` is the sum of the two directions' limits (`2B/size` on `lan`). Egress is
//!   shared (a node sends its share of its own stream and re-broadcasts the other), which a
//!   protocol pays for if it copies more than once per node. OST promises delivery to one
//!   receiver only, so its limit is `min(n_r · B, n_s · n_r · pair_cap) / size`.
//! - **Metadata** per message: bytes of sealed cross-cluster batches (real wire size, ack-only
//!   batches included) minus the payload and proof bytes they carry, divided by the messages of
//!   all directions.

pub mod faults;
pub mod mix;
pub mod net;

mod engine;

use crate::protocol::{
    ClusterConfig, EntryVerifier, Params, Protocol, ProtocolKind, Recovered, Setup,
};
use crate::testkit::PROOF_LEN;
use crate::types::{Side, Stake};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use faults::{FaultKind, FaultSpec, Placement};
pub use net::{NetConfig, Partition};

/// Most entries per stream a run accepts (the simulator keeps every entry of both streams and a
/// bit per entry per node in memory).
pub const MAX_MESSAGES: u64 = 20_000_000;

/// Builds one relay's protocol instance: `(kind, setup, verifier, recovered) -> protocol`.
pub type Factory<'a> =
    dyn Fn(ProtocolKind, Setup, Box<dyn EntryVerifier>, Recovered) -> Box<dyn Protocol> + 'a;

/// Which streams run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Directions {
    /// Both streams at once (the paper's setup).
    #[default]
    Both,
    /// Only cluster A's stream, to B.
    AToB,
    /// Only cluster B's stream, to A.
    BToA,
}

impl Directions {
    /// Whether `side`'s stream runs.
    pub fn runs(self, side: Side) -> bool {
        matches!(
            (self, side),
            (Directions::Both, _) | (Directions::AToB, Side::A) | (Directions::BToA, Side::B)
        )
    }
}

/// Everything a run depends on.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The protocol every node runs.
    pub protocol: ProtocolKind,
    /// Cluster A (stakes and fault bounds).
    pub cluster_a: ClusterConfig,
    /// Cluster B.
    pub cluster_b: ClusterConfig,
    /// Entries in each stream (`K`).
    pub messages: u64,
    /// Payload size each entry is charged as on the links, in bytes.
    pub size: usize,
    /// Real payload bytes each entry carries in memory.
    pub payload_len: usize,
    /// Protocol knobs, before batch scaling (see [`SimConfig::protocol_params`]).
    pub params: Params,
    /// Scale `params.batch_bytes` by real/charged entry bytes.
    pub scale_batches: bool,
    /// The network.
    pub net: NetConfig,
    /// Planted faults.
    pub faults: FaultSpec,
    /// Where faulty nodes go.
    pub placement: Placement,
    /// Seed of the run's random generator and of the test chain.
    pub seed: u64,
    /// Which streams run.
    pub directions: Directions,
    /// Source back-pressure: release `k` once `k < front + window` (see the module docs).
    pub window: u64,
    /// Optional source rate, entries per second per stream.
    pub rate: Option<f64>,
    /// Time to make a persist op durable (a group commit covers every op queued meanwhile);
    /// zero confirms at once.
    pub flush_delay: Duration,
    /// Simulated time after which the run stops regardless.
    pub time_limit: Duration,
    /// Stop once nothing new was delivered for this long after the last scheduled fault.
    pub stall_limit: Duration,
    /// Keep running this long after everything was delivered (catches late resends); `None`
    /// picks `4 × cross latency + 50 ms`.
    pub settle: Option<Duration>,
}

impl SimConfig {
    /// Defaults: BFT clusters of `n_a` and `n_b` unit-stake nodes, 1000 messages of 100 bytes,
    /// `lan`, no faults, seed 1, both directions.
    pub fn new(protocol: ProtocolKind, n_a: usize, n_b: usize) -> Self {
        let params = Params::default();
        SimConfig {
            protocol,
            cluster_a: ClusterConfig::bft(Side::A, n_a),
            cluster_b: ClusterConfig::bft(Side::B, n_b),
            messages: 1000,
            size: 100,
            payload_len: 16,
            window: 2 * params.send_window,
            params,
            scale_batches: true,
            net: NetConfig::lan(),
            faults: FaultSpec::none(),
            placement: Placement::default(),
            seed: 1,
            directions: Directions::Both,
            rate: None,
            flush_delay: Duration::from_millis(1),
            time_limit: Duration::from_secs(600),
            stall_limit: Duration::from_secs(30),
            settle: None,
        }
    }

    /// The cluster on `side`.
    pub fn cluster(&self, side: Side) -> &ClusterConfig {
        match side {
            Side::A => &self.cluster_a,
            Side::B => &self.cluster_b,
        }
    }

    /// The params handed to every protocol instance: [`SimConfig::params`] with `batch_bytes`
    /// scaled by `(payload_len + proof) / (size + proof)` when [`SimConfig::scale_batches`] is
    /// set and `size > payload_len`, so that a batch flushes after the same number of entries as
    /// it would with real `size`-byte payloads.
    pub fn protocol_params(&self) -> Params {
        let mut p = self.params.clone();
        let real = (self.payload_len + PROOF_LEN) as u128;
        let charged = (self.size.max(self.payload_len) + PROOF_LEN) as u128;
        if self.scale_batches && charged > real {
            let scale = |bytes: usize| {
                usize::try_from((bytes as u128 * real / charged).max(1)).unwrap_or(usize::MAX)
            };
            p.batch_bytes = scale(p.batch_bytes);
            p.send_window_bytes = scale(p.send_window_bytes);
        }
        p
    }

    /// The settle time after completion.
    pub fn settle_time(&self) -> Duration {
        self.settle
            .unwrap_or(self.net.cross_latency * 4 + Duration::from_millis(50))
    }

    /// Checks the configuration, the fault spec against `u` and `r`, and returns the fault of
    /// every node (A nodes, then B nodes).
    pub fn validate(&self) -> Result<Vec<Option<faults::NodeFault>>, SimError> {
        for c in [&self.cluster_a, &self.cluster_b] {
            c.validate().map_err(|e| SimError::Config(e.to_string()))?;
        }
        if self.cluster_a.side != Side::A || self.cluster_b.side != Side::B {
            return Err(SimError::Config("cluster sides must be A and B".into()));
        }
        if self.messages == 0 || self.messages > MAX_MESSAGES {
            return Err(SimError::Config(format!(
                "messages must be between 1 and {MAX_MESSAGES}"
            )));
        }
        if self.payload_len == 0 {
            return Err(SimError::Config("payload_len must be at least 1".into()));
        }
        if self.window == 0 {
            return Err(SimError::Config("window must be at least 1".into()));
        }
        if self.rate.is_some_and(|r| !r.is_finite() || r <= 0.0) {
            return Err(SimError::Config("rate must be positive".into()));
        }
        if !(0.0..1.0).contains(&self.net.loss) {
            return Err(SimError::Config("loss must be in [0, 1)".into()));
        }
        if self.net.nic_bps == 0 || self.net.cross_pair_bps == Some(0) {
            return Err(SimError::Config("bandwidths must be positive".into()));
        }
        if !self.params.phi.is_multiple_of(8) {
            return Err(SimError::Config("phi must be a multiple of 8".into()));
        }
        for p in &self.net.partitions {
            for n in match &p.cut {
                net::Cut::Cross => vec![],
                net::Cut::Node(n) => vec![*n],
                net::Cut::Link(a, b) => vec![*a, *b],
            } {
                if n.index.as_usize() >= self.cluster(n.side).n() {
                    return Err(SimError::Config(format!(
                        "partition names unknown node {n}"
                    )));
                }
            }
        }
        let mut out = Vec::new();
        for side in [Side::A, Side::B] {
            out.extend(self.assign_faults(side)?);
        }
        Ok(out)
    }

    fn assign_faults(&self, side: Side) -> Result<Vec<Option<faults::NodeFault>>, SimError> {
        let cluster = self.cluster(side);
        let n = cluster.n();
        let mut kinds = Vec::new();
        for item in self.faults.items.iter().filter(|i| i.applies_to(side)) {
            for _ in 0..item.count {
                kinds.push(faults::NodeFault {
                    kind: item.kind,
                    at: item.at.unwrap_or(Duration::ZERO),
                    until: item.until,
                });
            }
        }
        if kinds.len() > n {
            return Err(SimError::Faults(format!(
                "cluster {side} has {n} nodes but the spec names {} faulty ones",
                kinds.len()
            )));
        }
        let slots = self.placement.slots(kinds.len(), n);
        let mut assigned = vec![None; n];
        let (mut all, mut byz) = (0u64, 0u64);
        for (slot, fault) in slots.into_iter().zip(kinds) {
            let stake = cluster.stakes[slot].0;
            all += stake;
            if fault.kind.is_byzantine() {
                byz += stake;
            }
            assigned[slot] = Some(fault);
        }
        let Stake(u) = cluster.u;
        let Stake(r) = cluster.r;
        if all > u {
            return Err(SimError::Faults(format!(
                "cluster {side}: faulty stake {all} exceeds u = {u} (crash, restart, omission \
                 and byzantine nodes all count)"
            )));
        }
        if byz > r {
            return Err(SimError::Faults(format!(
                "cluster {side}: byzantine stake {byz} exceeds r = {r}"
            )));
        }
        Ok(assigned)
    }
}

/// A run that could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The configuration is inconsistent.
    #[error("invalid simulation config: {0}")]
    Config(String),
    /// The fault spec does not fit the clusters' bounds.
    #[error("invalid fault spec: {0}")]
    Faults(String),
}

/// One direction's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectionResult {
    /// The source cluster of the stream.
    pub source: Side,
    /// Entries in the stream.
    pub messages: u64,
    /// Whether every entry reached its delivery target (every correct receiver; one for OST).
    pub delivered_all: bool,
    /// Entries that reached their delivery target.
    pub completed: u64,
    /// Steady-state throughput (10%–90%), entries per simulated second.
    pub throughput_msgs_per_s: f64,
    /// Whole-run average: entries that reached their target divided by the time the last one
    /// did (includes warm-up; the better figure when the run is too short for a steady state).
    pub average_msgs_per_s: f64,
    /// `min(B, n_s·n_r·pair_cap) / size` (OST: `min(n_r·B, n_s·n_r·pair_cap) / size`).
    pub limit_msgs_per_s: f64,
    /// When the last entry reached its target, seconds.
    pub last_complete_s: f64,
    /// Cross-cluster entry copies (all senders) per entry.
    pub cross_sends_per_msg: f64,
    /// Intra-cluster entry copies in the receiving cluster per entry.
    pub intra_sends_per_msg: f64,
    /// `Event::Resent` count of correct senders.
    pub resends: u64,
    /// Most cross copies of one entry sent by correct senders.
    pub max_transmissions_per_msg: u32,
    /// Highest QUACK a correct sender reported.
    pub max_quack: u64,
}

/// The outcome of one run (one JSON object per run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimResult {
    /// Protocol name.
    pub protocol: String,
    /// Nodes in cluster A.
    pub nodes_a: usize,
    /// Nodes in cluster B.
    pub nodes_b: usize,
    /// Entries per stream.
    pub messages: u64,
    /// Charged payload bytes per entry.
    pub size: usize,
    /// φ.
    pub phi: u32,
    /// Seed.
    pub seed: u64,
    /// Network preset name.
    pub net: String,
    /// Loss probability.
    pub loss: f64,
    /// Partitions, as given.
    pub partitions: Vec<String>,
    /// Fault spec, canonical form.
    pub faults: String,
    /// Which streams ran.
    pub directions: Directions,
    /// Every running direction delivered everything to its target.
    pub delivered_all: bool,
    /// Cross-cluster entry copies per message (all directions).
    pub cross_sends_per_msg: f64,
    /// Intra-cluster entry copies per message.
    pub intra_sends_per_msg: f64,
    /// Cross-cluster bytes that are not payload or proof, per message.
    pub metadata_bytes_per_msg: f64,
    /// Resends by correct senders.
    pub resends: u64,
    /// Most cross copies of one entry by correct senders.
    pub max_transmissions_per_msg: u32,
    /// Sum of the directions' steady-state throughputs.
    pub throughput_msgs_per_s: f64,
    /// Sum of the directions' whole-run averages.
    pub average_msgs_per_s: f64,
    /// Sum of the directions' limits.
    pub limit_msgs_per_s: f64,
    /// Simulated time at the end of the run.
    pub sim_time_s: f64,
    /// Wall-clock time the run took (the only field that is not a function of the config).
    pub wall_time_s: f64,
    /// Events processed.
    pub events: u64,
    /// Misbehaviour events reported by correct nodes (provable kinds only).
    pub misbehaviours_reported: u64,
    /// Ack-lag suspicions raised by correct nodes (crashed relays are suspected too).
    pub suspicions_reported: u64,
    /// Why the run stopped: `complete`, `stalled`, `time-limit` or `quiescent`.
    pub stopped: String,
    /// Per direction.
    pub per_direction: Vec<DirectionResult>,
    /// Invariant violations; empty when the run is fine.
    pub violations: Vec<String>,
}

/// Builds any protocol of this crate by kind ([`crate::build`]).
pub fn default_factory(
    kind: ProtocolKind,
    setup: Setup,
    verifier: Box<dyn EntryVerifier>,
    recovered: Recovered,
) -> Box<dyn Protocol> {
    crate::build(kind, setup, verifier, recovered)
}

/// Runs one simulation with the protocols of this crate.
pub fn run(cfg: &SimConfig) -> Result<SimResult, SimError> {
    run_with(cfg, &default_factory)
}

/// Runs one simulation, building every node's protocol with `factory`.
pub fn run_with(cfg: &SimConfig, factory: &Factory<'_>) -> Result<SimResult, SimError> {
    let faults = cfg.validate()?;
    Ok(engine::Engine::new(cfg, factory, faults).run())
}
