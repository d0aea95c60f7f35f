//! The claims of the Picsou paper ("Picsou: Enabling Efficient Cross-Consensus Communication",
//! OSDI 2025), one test each, checked against this crate's implementation. Each test's name states
//! one claim; its body runs the deterministic simulator ([`relayer::sim`]) at the scale the claim
//! needs (or, for the apportionment and QUACK quorum rules, the protocol's own functions) and
//! asserts what the claim promises, printing the measured numbers (`-- --nocapture` shows them).
//! The paper's figures quoted here (Picsou over all-to-all at n = 4 and n = 19, the throughput
//! kept with crashed relays) are the bar; the simulator models network bandwidth and latency but
//! no CPU, so its ratios come out above the paper's. See `docs/BENCHMARKS.md` for the same
//! measurements at larger message counts.

mod common;

use common::{picsou, run_clean};
use relayer::picsou::quack::QuackTracker;
use relayer::picsou::schedule::{Schedule, apportion};
use relayer::protocol::{
    Batch, ClusterConfig, Delivery, Entry, EntryVerifier, Event, Params, PersistId, PersistOp,
    Protocol, ProtocolKind, Recovered, Setup, StreamStatus, Transmit,
};
use relayer::sim::{Placement, SimConfig, SimResult, run, run_with};
use relayer::types::{NodeId, Side, Stake, StreamIndex, Time};
use std::collections::VecDeque;

/// `u_s + u_r + 1`: the most cross copies of one entry the resend roles allow.
fn resend_bound(c: &SimConfig) -> u32 {
    (c.cluster_a.u.0 + c.cluster_b.u.0 + 1) as u32
}

fn show(what: &str, r: &SimResult) {
    eprintln!(
        "{what}: {}+{} nodes, {} × {} B, faults {}: delivered_all {}, cross/msg {:.3}, \
         resends {}, max tx {}, metadata {:.2} B/msg, {:.0} msg/s ({:.1}% of limit {:.0}), \
         {:.2} s wall",
        r.nodes_a,
        r.nodes_b,
        r.messages,
        r.size,
        r.faults,
        r.delivered_all,
        r.cross_sends_per_msg,
        r.resends,
        r.max_transmissions_per_msg,
        r.metadata_bytes_per_msg,
        r.throughput_msgs_per_s,
        100.0 * r.throughput_msgs_per_s / r.limit_msgs_per_s,
        r.limit_msgs_per_s,
        r.wall_time_s,
    );
}

/// Every direction handed every one of its entries to its delivery target.
fn assert_every_entry_completed(r: &SimResult) {
    for d in &r.per_direction {
        assert_eq!(d.completed, d.messages, "stream of {}", d.source);
    }
}

#[test]
fn every_message_of_a_correct_cluster_is_delivered_exactly_once_to_every_correct_receiver() {
    // n = 7: u = r = 2 per side. The simulator's invariants cover the rest of C3B: a delivered
    // entry is the one the source committed (integrity), and no correct receiver delivers one
    // twice (duplicate delivery); `run_clean` fails on either.
    for faults in [
        "none",
        "crash:2",
        "byz-drop:2",
        "byz-forge:2",
        "crash:1,byz-ack-high:1",
        "byz-drop:1,byz-dupack:1",
    ] {
        let r = run_clean(&picsou(7, 2000, faults));
        show("C3B", &r);
        assert_every_entry_completed(&r);
        assert_eq!(r.per_direction.len(), 2, "both streams ran");
    }
}

#[test]
fn each_message_crosses_the_cluster_boundary_exactly_once_without_failures() {
    for n in [4, 7, 19] {
        let r = run_clean(&picsou(n, 3000, "none"));
        show("failure-free", &r);
        assert_eq!(r.cross_sends_per_msg, 1.0, "n = {n}");
        assert_eq!(r.resends, 0, "n = {n}");
        assert_eq!(r.max_transmissions_per_msg, 1, "n = {n}");
    }
}

#[test]
fn metadata_per_message_is_constant_and_small_without_failures() {
    let mut per_n = Vec::new();
    // 200 000 messages of 100 B, as in the sweep: long enough that the soft window's start
    // (see `picsou::pacing`) is a small part of the run. Measured: 2.17, 2.28 and 3.46 B at
    // n = 4, 7 and 19. Shorter runs measure the start: 50 000 spent 2.31, 2.55 and 6.16 B,
    // where the whole run lasts a few rounds.
    for n in [4, 7, 19] {
        let r = run_clean(&picsou(n, 200_000, "none"));
        show("metadata", &r);
        assert!(
            r.metadata_bytes_per_msg <= 16.0,
            "n = {n}: {} B",
            r.metadata_bytes_per_msg
        );
        per_n.push((n, r.metadata_bytes_per_msg));
    }
    // Not O(n): from 4 to 19 relays per side (4.75× the nodes, 22.6× the pairs) the metadata
    // per message grows by about one byte (larger clusters send more, smaller batches, each
    // paying its signature and header); at most 2 bytes is allowed.
    let (small, large) = (per_n[0].1, per_n[2].1);
    assert!(
        large - small <= 2.0,
        "metadata grows with n: {per_n:?} B per message"
    );
}

/// Reports a QUACK for each entry as soon as the source commits it, i.e. before anyone received
/// it: the bug the QUACK rule (wait for `u_r + 1` stake) exists to prevent.
struct QuackOnCommit {
    inner: Box<dyn Protocol>,
    early: VecDeque<Event>,
}

impl Protocol for QuackOnCommit {
    fn kind(&self) -> ProtocolKind {
        self.inner.kind()
    }
    fn handle_committed(&mut self, now: Time, entry: Entry) {
        self.early.push_back(Event::Quack {
            quack: entry.k.next(),
        });
        self.inner.handle_committed(now, entry);
    }
    fn handle_batch(&mut self, now: Time, from: NodeId, batch: Batch) {
        self.inner.handle_batch(now, from, batch);
    }
    fn handle_timeout(&mut self, now: Time) {
        self.inner.handle_timeout(now);
    }
    fn handle_persisted(&mut self, id: PersistId) {
        self.inner.handle_persisted(id);
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.inner.poll_transmit()
    }
    fn poll_persist(&mut self) -> Option<PersistOp> {
        self.inner.poll_persist()
    }
    fn poll_deliver(&mut self) -> Option<Delivery> {
        self.inner.poll_deliver()
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.early.pop_front().or_else(|| self.inner.poll_event())
    }
    fn poll_timeout(&self) -> Option<Time> {
        self.inner.poll_timeout()
    }
    fn status(&self) -> StreamStatus {
        self.inner.status()
    }
}

#[test]
fn a_message_is_quacked_only_once_more_than_u_stake_of_receivers_hold_it() {
    // The rule itself: 4 unit-stake receivers, u_r = 1. One receiver's ack is not enough (it
    // could be the Byzantine one); a second one makes the QUACK.
    let mut t = QuackTracker::new(vec![Stake(1); 4], Stake(1), 0);
    assert_eq!(t.observe(0, 100), None);
    assert_eq!(t.quack(), 0);
    assert_eq!(t.observe(1, 60), Some(60));
    // By stake, not by count: 97,1,1,1 has u_r = 33, so three small receivers are not enough
    // and the big one alone is.
    let weighted = ClusterConfig::with_stakes(Side::B, [97, 1, 1, 1].map(Stake).to_vec(), false);
    let mut t = QuackTracker::new(weighted.stakes.clone(), weighted.u, 0);
    for j in 1..4 {
        assert_eq!(t.observe(j, 50), None, "receiver {j}");
    }
    assert_eq!(t.observe(0, 40), Some(40));

    // Whole runs: liars at r relays of each side cannot make a correct sender's QUACK run ahead
    // of what correct receivers hold (the simulator checks this "quack soundness" invariant at
    // every QUACK), nor hold it back enough to cause a single resend.
    for faults in ["byz-ack-high:2", "byz-ack-zero:2", "byz-ack-delay:2"] {
        let r = run_clean(&picsou(7, 2000, faults));
        show("quack", &r);
        assert_eq!(r.resends, 0, "{faults}");
        assert!(
            r.per_direction.iter().all(|d| d.max_quack == d.messages),
            "{faults}: every entry is QUACKed in the end"
        );
    }

    // The check is live: a relay that QUACKs on commit is caught in the same kind of run.
    let early_at = NodeId::new(Side::A, 2);
    let factory = |kind: ProtocolKind,
                   setup: Setup,
                   verifier: Box<dyn EntryVerifier>,
                   recovered: Recovered|
     -> Box<dyn Protocol> {
        let me = setup.me;
        let inner = relayer::build(kind, setup, verifier, recovered);
        if me == early_at {
            Box::new(QuackOnCommit {
                inner,
                early: VecDeque::new(),
            })
        } else {
            inner
        }
    };
    let r = run_with(&picsou(7, 2000, "none"), &factory).expect("valid configuration");
    eprintln!("quack on commit: {} violations", r.violations.len());
    assert!(
        r.violations
            .iter()
            .any(|v| v.starts_with("quack soundness") && v.contains(&early_at.to_string())),
        "{:#?}",
        r.violations
    );
}

#[test]
fn lost_messages_are_resent_by_at_most_u_s_plus_u_r_plus_one_relays() {
    // Crashed relays lose what they were to send or receive; duplicate QUACKs and φ-lists tell
    // the resend roles, and each entry crosses at most u_s + u_r + 1 times in all.
    // From the start, and mid-stream (10 kB entries keep the stream running past 20 ms).
    for (n, faults, size, k) in [
        (4, "crash:1", 100, 4000),
        (7, "crash:2", 100, 4000),
        (4, "crash:1@20ms", 10_000, 20_000),
        (7, "crash:2@20ms", 10_000, 20_000),
    ] {
        let mut c = picsou(n, k, faults);
        c.size = size;
        let r = run_clean(&c);
        show("resends", &r);
        assert!(
            r.resends > 0,
            "{faults}: crashed relays' entries need resends"
        );
        assert!(
            r.max_transmissions_per_msg <= resend_bound(&c),
            "n = {n}, {faults}: {} > {}",
            r.max_transmissions_per_msg,
            resend_bound(&c)
        );
        // Only what a crashed relay held is resent, not the stream.
        assert!(
            r.cross_sends_per_msg < 1.5,
            "{faults}: {}",
            r.cross_sends_per_msg
        );
    }
    // Network loss is detected the same way and repaired.
    let mut c = picsou(4, 4000, "none");
    c.size = 10_000;
    c.net.loss = 0.02;
    let r = run_clean(&c);
    show("loss 2%", &r);
    assert!(r.resends > 0);
    // About one resend per lost copy: at most twice the loss rate in extra copies.
    assert!(
        r.cross_sends_per_msg < 1.0 + 2.0 * c.net.loss,
        "{}",
        r.cross_sends_per_msg
    );
}

#[test]
fn lying_acks_from_r_byzantine_relays_cause_no_resends_and_no_loss() {
    // High (claims everything), zero (claims nothing) and delayed by φ, at n = 4 (r = 1) with
    // 100 B and 1 MB messages.
    for faults in ["byz-ack-high:1", "byz-ack-zero:1", "byz-ack-delay:1"] {
        for (size, k) in [(100, 4000), (1_000_000, 300)] {
            let mut c = picsou(4, k, faults);
            c.size = size;
            let r = run_clean(&c);
            show("lying acks", &r);
            assert_eq!(r.resends, 0, "{faults}, {size} B");
            assert_eq!(r.cross_sends_per_msg, 1.0, "{faults}, {size} B");
        }
    }
}

fn lan_1mb(p: ProtocolKind, n: usize, k: u64) -> SimResult {
    let mut c = SimConfig::new(p, n, n);
    c.messages = k;
    c.size = 1_000_000;
    run_clean(&c)
}

#[test]
fn picsou_outperforms_all_to_all_by_the_papers_factors_at_1_mb() {
    // The paper's LAN figures: 3.2× at n = 4, 12.1× at n = 19 (up to 24× elsewhere). The
    // simulator measures 3.97× and 18.65× (600 messages, as in `docs/BENCHMARKS.md`).
    for (n, paper, k) in [(4, 3.2, 600), (19, 12.1, 600)] {
        let picsou = lan_1mb(ProtocolKind::Picsou, n, k);
        let ata = lan_1mb(ProtocolKind::Ata, n, k);
        show("picsou", &picsou);
        show("ata", &ata);
        let ratio = picsou.throughput_msgs_per_s / ata.throughput_msgs_per_s;
        eprintln!("n = {n}: Picsou / ATA = {ratio:.2} (paper {paper})");
        assert!(ratio >= paper, "n = {n}: {ratio:.2} < {paper}");
        assert_eq!(
            ata.cross_sends_per_msg,
            (n * n) as f64,
            "ATA sends n² copies"
        );
        assert_eq!(picsou.cross_sends_per_msg, 1.0);
        assert!(
            picsou.throughput_msgs_per_s >= 0.9 * picsou.limit_msgs_per_s,
            "n = {n}: {:.0} of {:.0}",
            picsou.throughput_msgs_per_s,
            picsou.limit_msgs_per_s
        );
    }
}

#[test]
fn a_third_of_each_cluster_crashed_costs_little_throughput() {
    // The paper saw at most a 30.5% drop. f = u of 3f + 1 relays crashed on each side, 1 MB
    // messages as in the paper (silence is judged after 200 ms, so the stream must run well
    // past that); `sim_faults.rs` does the same at n = 19.
    for (n, f) in [(4, 1), (7, 2)] {
        let sized = |faults: &str| {
            let mut c = picsou(n, 3000, faults);
            c.size = 1_000_000;
            c
        };
        let free = run_clean(&sized("none"));
        let crashed = run_clean(&sized(&format!("crash:{f}")));
        show("failure-free", &free);
        show("crashed", &crashed);
        let kept = crashed.throughput_msgs_per_s / free.throughput_msgs_per_s;
        eprintln!(
            "n = {n}, {f} crashed per side: keeps {:.1}% of the throughput",
            100.0 * kept
        );
        assert!(kept >= 0.8, "n = {n}: {kept:.3}");
    }
}

#[test]
fn slots_are_apportioned_by_stake_and_a_weighted_cluster_delivers_everything() {
    assert_eq!(apportion(&[97, 1, 1, 1].map(Stake), 10), vec![10, 0, 0, 0]);
    assert_eq!(
        apportion(&[214, 262, 262, 262].map(Stake), 100),
        vec![22, 26, 26, 26]
    );
    // Original sends follow stake: with 97,1,1,1 against 4 unit-stake receivers the quantum is
    // lcm(100, 4) = 100 slots, 97 of them node 0's.
    let heavy = ClusterConfig::with_stakes(Side::A, [97, 1, 1, 1].map(Stake).to_vec(), false);
    let units = ClusterConfig::bft(Side::B, 4);
    let schedule = Schedule::new(&heavy, &units, Params::default().quantum_max, 0);
    let mut sends = [0u64; 4];
    for k in 0..1000 {
        sends[schedule.sender(StreamIndex(k)).as_usize()] += 1;
    }
    eprintln!("original sends of 1000 entries by stake 97,1,1,1: {sends:?}");
    assert_eq!(sends, [970, 10, 10, 10]);

    // A weighted cluster tolerates failures by stake: three of its four relays (3 of 100
    // stake, u = 33) crash and the heavy one carries both streams alone.
    let mut c = picsou(4, 2000, "crash:3:a");
    c.cluster_a = heavy;
    c.placement = Placement::Last;
    let r = run_clean(&c);
    show("weighted, 3 of 4 crashed", &r);
    assert_every_entry_completed(&r);
    // Count-based bounds would refuse this: one unit-stake relay of four is the most a BFT
    // cluster of four may lose.
    c.cluster_a = ClusterConfig::bft(Side::A, 4);
    assert!(run(&c).is_err());
}

#[test]
fn crash_and_byzantine_clusters_of_unequal_sizes_interoperate() {
    // CFT (r = 0, u = ⌊(n−1)/2⌋) with its full u crashed, BFT with u crashed, and CFT to BFT.
    let mut cft = picsou(5, 2000, "crash:2");
    cft.cluster_a = ClusterConfig::cft(Side::A, 5);
    cft.cluster_b = ClusterConfig::cft(Side::B, 5);
    let r = run_clean(&cft);
    show("CFT", &r);
    assert!(r.max_transmissions_per_msg <= resend_bound(&cft));
    let mut mixed = picsou(5, 2000, "crash:2:a,byz-ack-zero:1:b");
    mixed.cluster_a = ClusterConfig::cft(Side::A, 5);
    mixed.cluster_b = ClusterConfig::bft(Side::B, 4);
    show("CFT to BFT", &run_clean(&mixed));
    // 4 relays against 19, failure-free and with u crashed on each side.
    for faults in ["none", "crash:1:a,crash:6:b"] {
        let mut c = picsou(4, 3000, faults);
        c.cluster_b = ClusterConfig::bft(Side::B, 19);
        let r = run_clean(&c);
        show("4 vs 19", &r);
        assert_eq!((r.nodes_a, r.nodes_b), (4, 19));
        if faults == "none" {
            assert_eq!(r.cross_sends_per_msg, 1.0);
            assert_eq!(r.resends, 0);
        }
    }
}

#[test]
fn one_shot_is_not_fault_tolerant_and_all_to_all_is() {
    // OST sends each message once, from one sender to one receiver: a crashed sender's share is
    // lost. ATA survives the same crash at n² the cost.
    let mut c = picsou(4, 2000, "crash:1");
    c.protocol = ProtocolKind::Ost;
    let ost = run(&c).expect("valid configuration");
    show("OST", &ost);
    assert!(ost.violations.is_empty(), "{:#?}", ost.violations);
    assert!(
        !ost.delivered_all,
        "a crashed OST sender loses its messages"
    );
    let lost: u64 = ost
        .per_direction
        .iter()
        .map(|d| d.messages - d.completed)
        .sum();
    eprintln!("OST lost {lost} of {} messages", 2 * ost.messages);
    assert!(lost > 0);
    c.protocol = ProtocolKind::Ata;
    let ata = run_clean(&c);
    show("ATA", &ata);
    assert_eq!(ata.resends, 0);
}
