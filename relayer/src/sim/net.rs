//! The simulator's network model: full-duplex NICs, link latency, per-pair cross-cluster caps,
//! loss and partitions.
//!
//! # Model
//!
//! Every node has one NIC of `nic_bps` bits per second in each direction (full duplex). A batch
//! of `b` bytes from `s` to `d` passes through these stages, each a FIFO server:
//!
//! 1. `s`'s egress: occupied for `b / nic_bps`;
//! 2. for a cross-cluster link with a per-pair cap: the `(s, d)` pipe, occupied for
//!    `b / pair_bps` (store and forward after egress);
//! 3. propagation: the one-way latency of the link (intra or cross);
//! 4. `d`'s ingress: occupied for `b / nic_bps`, served in arrival order. A receiver that many
//!    senders target at once (all-to-all) is therefore the bottleneck, as on real hardware.
//!
//! Each server has two lanes: *control* (batches without entries: ack-only, fetch requests) and
//! *data*. Control is served first: it never waits behind queued data, and the data queued at that
//! moment is pushed back by the control batch's transmission time (strict priority, bandwidth is
//! still charged). This is the lesson of the shared design folder's BENCHMARKS.md §2: acks must
//! not wait behind megabytes of data.
//!
//! Loss drops a batch after it left the sender's egress (with probability `loss`, decided by the
//! simulator's seeded generator). A partition cuts links during `[from, until)`; a batch whose
//! send time falls inside is dropped.

use crate::types::{NodeId, Side, Time};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Transmission time of `bytes` at `bps` bits per second, in nanoseconds (rounded up).
pub fn serialisation_ns(bytes: u64, bps: u64) -> u64 {
    if bps == 0 {
        return 0;
    }
    let bits = u128::from(bytes) * 8 * 1_000_000_000;
    u64::try_from(bits.div_ceil(u128::from(bps))).unwrap_or(u64::MAX)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Which links a partition cuts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Every link between the two clusters.
    Cross,
    /// Every link of one node.
    Node(NodeId),
    /// The link between two nodes (both directions).
    Link(NodeId, NodeId),
}

/// Links cut during a time interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// What is cut.
    pub cut: Cut,
    /// From this time (inclusive).
    pub from: Time,
    /// Until this time (exclusive).
    pub until: Time,
}

impl Partition {
    /// Whether a batch sent from `a` to `b` at `t` is cut.
    pub fn cuts(&self, a: NodeId, b: NodeId, t: Time) -> bool {
        if t < self.from || t >= self.until {
            return false;
        }
        match &self.cut {
            Cut::Cross => a.side != b.side,
            Cut::Node(n) => *n == a || *n == b,
            Cut::Link(x, y) => (*x == a && *y == b) || (*x == b && *y == a),
        }
    }
}

/// Parses a node name such as `A0` or `b12`.
pub fn parse_node(s: &str) -> Result<NodeId, String> {
    let mut chars = s.chars();
    let side = match chars.next() {
        Some('A' | 'a') => Side::A,
        Some('B' | 'b') => Side::B,
        _ => {
            return Err(format!(
                "bad node name {s:?} (expected A<index> or B<index>)"
            ));
        }
    };
    let idx: u32 = chars
        .as_str()
        .parse()
        .map_err(|_| format!("bad node name {s:?} (expected A<index> or B<index>)"))?;
    Ok(NodeId::new(side, idx))
}

/// Parses a duration such as `500ms`, `1.5s`, `20us` or `2` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(v) = s.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix("us") {
        (v, 1e-6)
    } else if let Some(v) = s.strip_suffix("ns") {
        (v, 1e-9)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?} (expected e.g. 500ms, 1.5s)"))?;
    if !v.is_finite() || v < 0.0 || v * scale > 1e9 {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// Formats a duration the way [`parse_duration`] reads it back.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

impl FromStr for Partition {
    type Err = String;

    /// `cross@T1-T2`, `A0@T1-T2` (isolate a node) or `A0-B1@T1-T2` (cut one link).
    fn from_str(s: &str) -> Result<Self, String> {
        let (what, when) = s
            .split_once('@')
            .ok_or_else(|| format!("bad partition {s:?} (expected WHAT@T1-T2)"))?;
        let (t1, t2) = when
            .split_once('-')
            .ok_or_else(|| format!("bad partition {s:?}: interval must be T1-T2"))?;
        let from = Time::ZERO.add(parse_duration(t1)?);
        let until = Time::ZERO.add(parse_duration(t2)?);
        if until <= from {
            return Err(format!("bad partition {s:?}: empty interval"));
        }
        let cut = if what.eq_ignore_ascii_case("cross") {
            Cut::Cross
        } else if let Some((a, b)) = what.split_once('-') {
            Cut::Link(parse_node(a)?, parse_node(b)?)
        } else {
            Cut::Node(parse_node(what)?)
        };
        Ok(Partition { cut, from, until })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cut {
            Cut::Cross => f.write_str("cross")?,
            Cut::Node(n) => write!(f, "{n}")?,
            Cut::Link(a, b) => write!(f, "{a}-{b}")?,
        }
        write!(
            f,
            "@{}-{}",
            format_duration(self.from.since(Time::ZERO)),
            format_duration(self.until.since(Time::ZERO))
        )
    }
}

/// Parameters of the network model.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// Preset name this configuration started from (`lan`, `geo`), for reports.
    pub name: String,
    /// NIC bandwidth of every node, bits per second, each direction.
    pub nic_bps: u64,
    /// One-way latency between two nodes of the same cluster.
    pub intra_latency: Duration,
    /// One-way latency between nodes of different clusters.
    pub cross_latency: Duration,
    /// Bandwidth cap of each ordered cross-cluster node pair, bits per second (geo).
    pub cross_pair_bps: Option<u64>,
    /// Probability that a batch is lost in the network.
    pub loss: f64,
    /// Links cut during time intervals.
    pub partitions: Vec<Partition>,
}

impl NetConfig {
    /// The paper's local setup: 15 Gbit/s NICs, 0.1 ms intra, 0.5 ms cross (one-way).
    pub fn lan() -> Self {
        NetConfig {
            name: "lan".into(),
            nic_bps: 15_000_000_000,
            intra_latency: Duration::from_micros(100),
            cross_latency: Duration::from_micros(500),
            cross_pair_bps: None,
            loss: 0.0,
            partitions: Vec::new(),
        }
    }

    /// `lan` inside a cluster; across, 170 Mbit/s per node pair and 133 ms round trip (the
    /// paper's US West to Hong Kong runs).
    pub fn geo() -> Self {
        NetConfig {
            name: "geo".into(),
            cross_latency: Duration::from_micros(66_500),
            cross_pair_bps: Some(170_000_000),
            ..NetConfig::lan()
        }
    }

    /// A preset by name.
    pub fn preset(name: &str) -> Result<Self, String> {
        match name {
            "lan" => Ok(NetConfig::lan()),
            "geo" => Ok(NetConfig::geo()),
            other => Err(format!(
                "unknown network preset {other:?} (expected lan or geo)"
            )),
        }
    }

    /// Whether the network is synchronous and reliable: no loss and no partitions.
    pub fn reliable(&self) -> bool {
        self.loss == 0.0 && self.partitions.is_empty()
    }

    /// Whether the link `a → b` is cut at `t`.
    pub fn cut(&self, a: NodeId, b: NodeId, t: Time) -> bool {
        self.partitions.iter().any(|p| p.cuts(a, b, t))
    }

    /// The end of the last partition (the time after which the network is healed).
    pub fn healed_at(&self) -> Time {
        self.partitions
            .iter()
            .map(|p| p.until)
            .max()
            .unwrap_or(Time::ZERO)
    }
}

/// One FIFO server with a priority lane for control traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lane {
    data_free: u64,
    ctrl_free: u64,
}

impl Lane {
    /// Serves a batch that is ready at `ready` and takes `ser_ns` to transmit; returns when its
    /// last bit has left this server.
    pub fn serve(&mut self, ready: Time, ser_ns: u64, control: bool) -> Time {
        if control {
            let start = ready.0.max(self.ctrl_free);
            let end = start.saturating_add(ser_ns);
            self.ctrl_free = end;
            if self.data_free > start {
                // Data queued behind us waits for this control batch's bits.
                self.data_free = self.data_free.saturating_add(ser_ns);
            }
            Time(end)
        } else {
            let start = ready.0.max(self.data_free).max(self.ctrl_free);
            let end = start.saturating_add(ser_ns);
            self.data_free = end;
            Time(end)
        }
    }

    /// When the data lane is next idle.
    pub fn data_idle_at(&self) -> Time {
        Time(self.data_free)
    }
}

/// Both directions of one NIC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nic {
    /// Outbound.
    pub egress: Lane,
    /// Inbound.
    pub ingress: Lane,
}

/// The state of the network: every NIC and every capped pair pipe.
#[derive(Clone, Debug)]
pub struct Network {
    cfg: NetConfig,
    n_a: usize,
    n_b: usize,
    nics: Vec<Nic>,
    /// `A→B` pipes at `[a * n_b + b]`, then `B→A` pipes at `n_a * n_b + [b * n_a + a]`.
    pairs: Vec<Lane>,
}

impl Network {
    /// A network for clusters of `n_a` and `n_b` nodes.
    pub fn new(cfg: NetConfig, n_a: usize, n_b: usize) -> Self {
        let pairs = if cfg.cross_pair_bps.is_some() {
            vec![Lane::default(); 2 * n_a * n_b]
        } else {
            Vec::new()
        };
        Network {
            cfg,
            n_a,
            n_b,
            nics: vec![Nic::default(); n_a + n_b],
            pairs,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// Dense index of a node (A nodes first).
    pub fn index(&self, n: NodeId) -> usize {
        match n.side {
            Side::A => n.index.as_usize(),
            Side::B => self.n_a + n.index.as_usize(),
        }
    }

    fn pair_index(&self, from: NodeId, to: NodeId) -> usize {
        match from.side {
            Side::A => from.index.as_usize() * self.n_b + to.index.as_usize(),
            Side::B => self.n_a * self.n_b + from.index.as_usize() * self.n_a + to.index.as_usize(),
        }
    }

    /// Sends `bytes` from `from` to `to` at `now`: charges the sender's egress (and the pair pipe)
    /// and returns when the batch reaches the receiver's NIC, or `None` if a partition cuts the
    /// link. Loss is decided by the caller (it owns the random generator); a lost batch has still
    /// used the sender's egress.
    pub fn send(
        &mut self,
        now: Time,
        from: NodeId,
        to: NodeId,
        bytes: u64,
        control: bool,
    ) -> Option<Time> {
        let cross = from.side != to.side;
        let fi = self.index(from);
        let mut t =
            self.nics[fi]
                .egress
                .serve(now, serialisation_ns(bytes, self.cfg.nic_bps), control);
        if cross && let Some(pair_bps) = self.cfg.cross_pair_bps {
            let pi = self.pair_index(from, to);
            t = self.pairs[pi].serve(t, serialisation_ns(bytes, pair_bps), control);
        }
        if self.cfg.cut(from, to, now) {
            return None;
        }
        let latency = if cross {
            self.cfg.cross_latency
        } else {
            self.cfg.intra_latency
        };
        Some(Time(t.0.saturating_add(nanos(latency))))
    }

    /// A batch of `bytes` reached `to`'s NIC at `now`: returns when it has been read in full.
    pub fn receive(&mut self, now: Time, to: NodeId, bytes: u64, control: bool) -> Time {
        let ti = self.index(to);
        self.nics[ti]
            .ingress
            .serve(now, serialisation_ns(bytes, self.cfg.nic_bps), control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A0: NodeId = NodeId {
        side: Side::A,
        index: crate::types::NodeIdx(0),
    };
    const A1: NodeId = NodeId {
        side: Side::A,
        index: crate::types::NodeIdx(1),
    };
    const B0: NodeId = NodeId {
        side: Side::B,
        index: crate::types::NodeIdx(0),
    };
    const B1: NodeId = NodeId {
        side: Side::B,
        index: crate::types::NodeIdx(1),
    };

    #[test]
    fn serialisation_time_is_bytes_over_bandwidth() {
        // 1 MB at 15 Gbit/s: 8e6 / 15e9 s = 533_333.3 ns, rounded up.
        assert_eq!(serialisation_ns(1_000_000, 15_000_000_000), 533_334);
        // 100 B at 1 Gbit/s: 800 ns.
        assert_eq!(serialisation_ns(100, 1_000_000_000), 800);
        assert_eq!(serialisation_ns(0, 1_000_000_000), 0);
    }

    #[test]
    fn one_batch_costs_egress_latency_ingress() {
        let mut net = Network::new(NetConfig::lan(), 2, 2);
        // 1_875_000 bytes at 15 Gbit/s = 1 ms per NIC stage.
        let arrive = net.send(Time::ZERO, A0, B0, 1_875_000, false).unwrap();
        assert_eq!(arrive, Time(1_000_000 + 500_000));
        let done = net.receive(arrive, B0, 1_875_000, false);
        assert_eq!(done, Time(2_500_000));
        let intra = net.send(Time::ZERO, B1, B0, 0, false).unwrap();
        assert_eq!(intra, Time(100_000));
    }

    #[test]
    fn egress_serialises_back_to_back_batches() {
        let mut net = Network::new(NetConfig::lan(), 2, 2);
        let first = net.send(Time::ZERO, A0, B0, 1_875_000, false).unwrap();
        let second = net.send(Time::ZERO, A0, B1, 1_875_000, false).unwrap();
        assert_eq!(
            second.0 - first.0,
            1_000_000,
            "second waits for the first on egress"
        );
    }

    #[test]
    fn ingress_is_a_bottleneck_for_many_senders() {
        let mut net = Network::new(NetConfig::lan(), 2, 2);
        let a = net.send(Time::ZERO, A0, B0, 1_875_000, false).unwrap();
        let b = net.send(Time::ZERO, A1, B0, 1_875_000, false).unwrap();
        assert_eq!(a, b, "different senders transmit in parallel");
        let da = net.receive(a, B0, 1_875_000, false);
        let db = net.receive(b, B0, 1_875_000, false);
        assert_eq!(
            db.0 - da.0,
            1_000_000,
            "the receiver reads them one after the other"
        );
    }

    #[test]
    fn control_does_not_wait_behind_data_but_delays_it() {
        let mut lane = Lane::default();
        let data = lane.serve(Time::ZERO, 1_000_000, false);
        assert_eq!(data, Time(1_000_000));
        let ctrl = lane.serve(Time(10), 100, true);
        assert_eq!(ctrl, Time(110), "control jumps the queue");
        assert_eq!(
            lane.data_idle_at(),
            Time(1_000_100),
            "queued data pays for it"
        );
        let next = lane.serve(Time(20), 50, false);
        assert_eq!(next, Time(1_000_150));
    }

    #[test]
    fn geo_pair_cap_limits_each_pair_not_the_nic() {
        let mut net = Network::new(NetConfig::geo(), 1, 2);
        // 170 Mbit/s: 21_250 bytes take 1 ms on the pair pipe.
        let one = net.send(Time::ZERO, A0, B0, 21_250, false).unwrap();
        let egress = serialisation_ns(21_250, 15_000_000_000);
        assert_eq!(one, Time(egress + 1_000_000 + 66_500_000));
        let other = net.send(Time::ZERO, A0, B1, 21_250, false).unwrap();
        assert_eq!(other.0 - one.0, egress, "another pair runs in parallel");
        let again = net.send(Time::ZERO, A0, B0, 21_250, false).unwrap();
        assert_eq!(again.0 - one.0, 1_000_000, "the same pair is serialised");
    }

    #[test]
    fn partitions_cut_links_in_their_interval() {
        let p: Partition = "cross@1s-2s".parse().unwrap();
        assert!(p.cuts(A0, B0, Time(1_500_000_000)));
        assert!(!p.cuts(A0, A1, Time(1_500_000_000)));
        assert!(!p.cuts(A0, B0, Time(2_000_000_000)));
        let n: Partition = "A1@0-500ms".parse().unwrap();
        assert!(n.cuts(B0, A1, Time(1)) && !n.cuts(A0, B0, Time(1)));
        let l: Partition = "a0-b1@10ms-20ms".parse().unwrap();
        assert!(l.cuts(B1, A0, Time(15_000_000)) && !l.cuts(A0, B0, Time(15_000_000)));
        assert_eq!(l.to_string(), "A0-B1@10ms-20ms");
        assert!("cross@2s-1s".parse::<Partition>().is_err());
        assert!("C0@1s-2s".parse::<Partition>().is_err());
        let mut net = Network::new(NetConfig::lan(), 2, 2);
        net.cfg.partitions.push(p);
        assert!(net.send(Time(1_000_000_000), A0, B0, 10, false).is_none());
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("20us").unwrap(), Duration::from_micros(20));
        assert!(parse_duration("x").is_err() && parse_duration("-1s").is_err());
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
