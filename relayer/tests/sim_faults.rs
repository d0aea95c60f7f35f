//! Simulator scenarios with faults: every adversary against Picsou (all invariants must hold and
//! every correct receiver must get everything), crash-restart through the store, a lossy and a
//! partitioned network, and the baselines under the faults they claim to survive.

mod common;

use common::{picsou, run_clean};
use relayer::protocol::{ClusterConfig, ProtocolKind};
use relayer::sim::{NetConfig, run};
use relayer::types::{Side, Stake};

#[test]
fn picsou_survives_crashes() {
    for spec in ["crash:1", "crash:1@3ms", "crash:1:a", "omit-broadcast:1"] {
        let r = run_clean(&picsou(4, 4000, spec));
        assert!(r.max_transmissions_per_msg <= 3, "{spec}");
    }
}

#[test]
fn picsou_survives_lying_acks() {
    for spec in [
        "byz-ack-high:1",
        "byz-ack-zero:1",
        "byz-ack-delay:1",
        "byz-dupack:1",
    ] {
        run_clean(&picsou(4, 4000, spec));
    }
}

#[test]
fn picsou_refuses_forged_and_far_entries() {
    let r = run_clean(&picsou(4, 4000, "byz-window:1"));
    assert!(r.misbehaviours_reported > 0);
}

#[test]
fn picsou_survives_selective_drops_and_forgeries() {
    for spec in ["byz-drop:1", "byz-forge:1"] {
        run_clean(&picsou(4, 4000, spec));
    }
}

#[test]
fn picsou_with_colluding_byzantine_nodes() {
    // n = 7: f = 2 byzantine nodes in consecutive slots on each side.
    run_clean(&picsou(7, 4000, "byz-ack-high:1,byz-dupack:1"));
    run_clean(&picsou(7, 4000, "crash:1,byz-ack-zero:1"));
}

#[test]
fn picsou_crash_restart_recovers_from_its_store() {
    // 10 kB entries: the stream lasts ~0.1 s, so the node misses a good part of it.
    let mut c = picsou(4, 20_000, "restart:1@20ms-40ms");
    c.size = 10_000;
    let r = run_clean(&c);
    assert_eq!(r.faults, "restart:1@20ms-40ms");
    // Also in CFT clusters, with a crashed node besides the restarted one.
    let mut c = picsou(5, 10_000, "restart:1@10ms-30ms,crash:1");
    c.size = 10_000;
    c.cluster_a = ClusterConfig::cft(Side::A, 5);
    c.cluster_b = ClusterConfig::cft(Side::B, 5);
    run_clean(&c);
}

#[test]
#[ignore = "picsou currently cannot catch up a relay that missed more than its peers retain for \
            fetches (the senders have forgotten the QUACKed entries and the peers' fetch \
            retention has moved on; nothing lets a relay re-learn them from its own chain)"]
fn picsou_restart_during_a_fast_stream() {
    run_clean(&picsou(4, 20_000, "restart:1@2ms-10ms"));
}

#[test]
fn picsou_over_a_lossy_network() {
    let mut c = picsou(4, 4000, "none");
    c.net.loss = 0.02;
    let r = run_clean(&c);
    assert!(r.resends > 0, "losses must be repaired by resends");
}

#[test]
fn picsou_across_a_partition() {
    let mut c = picsou(4, 20_000, "none");
    c.size = 10_000;
    c.net
        .partitions
        .push("cross@20ms-40ms".parse().expect("valid"));
    c.net
        .partitions
        .push("B1@10ms-30ms".parse().expect("valid"));
    run_clean(&c);
}

#[test]
fn a_window_lost_whole_to_a_cut_of_every_cross_link_comes_back_at_once() {
    // Every entry of both streams is sent while all cross links are down, so no receiver holds
    // anything past its `next`. Were only `next` reported, the rest would come back one entry
    // per report spacing (141 s of simulated time here, found by `sim --mix random --seed
    // 1335`); reports of everything released within φ bring it back in one round.
    let mut c = picsou(4, 679, "none");
    c.size = 100;
    c.net
        .partitions
        .push("cross@0s-31ms".parse().expect("valid"));
    let r = run_clean(&c);
    assert!(r.resends > 0, "what the cut swallowed must be resent");
    assert!(
        r.sim_time_s < 2.0,
        "recovered after {} s of simulated time",
        r.sim_time_s
    );
}

#[test]
fn a_relay_cut_off_while_its_peers_got_everything_fetches_past_the_quack() {
    // A4 is cut off for the first 97 ms, while everything is sent and its peers receive and
    // pass on their shares; then two of its peers crash. Each entry A4 missed is held by more
    // than u_A of A's stake, so it is never resent, but the QUACK (cumulative) stays at A4's
    // own `next`, so no QUACK claim reaches A4 above it: only claims of what φ-lists show held
    // let A4 fetch the rest (found by `sim --mix random --seed 5639`).
    let mut c = picsou(5, 218, "omit-broadcast:2:b,crash:2@20ms:a");
    c.cluster_a = ClusterConfig::cft(Side::A, 5);
    c.cluster_b = ClusterConfig::cft(Side::B, 6);
    c.placement = relayer::sim::Placement::Spread;
    c.net.partitions.push("A4@1ms-98ms".parse().expect("valid"));
    run_clean(&c);
}

#[test]
fn unequal_clusters_keep_the_transmission_bound() {
    // 4 + 6 relays, u = 1 a side: three role pairs with distinct ends exist; the stake walk
    // alone gave four, and an entry crossed four times (`sim --mix random --seed 1676`).
    let mut c = picsou(4, 291, "omit-broadcast:1");
    c.cluster_b = ClusterConfig::bft(Side::B, 6);
    c.placement = relayer::sim::Placement::Last;
    let r = run_clean(&c);
    assert!(r.resends > 0, "the omitting relays force resends");
    assert!(
        r.max_transmissions_per_msg <= 3,
        "{}",
        r.max_transmissions_per_msg
    );
}

#[test]
fn baselines_keep_their_promises() {
    // ATA and OTU are C3B under crashes; LL and OST are checked only for what they promise.
    for p in [ProtocolKind::Ata, ProtocolKind::Otu] {
        let mut c = picsou(4, 3000, "crash:1");
        c.protocol = p;
        run_clean(&c);
    }
    for p in [ProtocolKind::Ll, ProtocolKind::Ost] {
        let mut c = picsou(4, 3000, "crash:1");
        c.protocol = p;
        let r = run(&c).expect("valid configuration");
        assert!(r.violations.is_empty(), "{p:?}: {:#?}", r.violations);
    }
    // LL with its leaders spared delivers everything.
    let mut c = picsou(4, 3000, "crash:1");
    c.protocol = ProtocolKind::Ll;
    c.placement = relayer::sim::Placement::Last;
    run_clean(&c);
}

#[test]
fn geo_with_crashes_still_delivers() {
    let mut c = picsou(4, 2000, "crash:1");
    c.size = 10_000;
    c.net = NetConfig::geo();
    run_clean(&c);
}

#[test]
fn picsou_suspects_relays_whose_acks_stay_behind_and_no_one_else() {
    let sized = |faults: &str| {
        let mut c = picsou(4, 3000, faults);
        c.size = 1_000_000;
        c
    };
    // Each of the 3 honest senders of each side suspects the one relay acking zero, once.
    let r = run_clean(&sized("byz-ack-zero:1"));
    assert_eq!(r.suspicions_reported, 6);
    assert_eq!(r.misbehaviours_reported, 0, "a suspicion is not a proof");
    let r = run_clean(&sized("none"));
    assert_eq!(r.suspicions_reported, 0);
}

#[test]
fn picsou_keeps_its_throughput_with_a_third_of_each_cluster_crashed() {
    // n = 19, 1 MB: before keep-alives and level-raising on silence this kept 17% of its
    // failure-free throughput (live relays taken for silent had their originals sent twice).
    let sized = |faults: &str| {
        let mut c = picsou(19, 3000, faults);
        c.size = 1_000_000;
        c
    };
    let free = run_clean(&sized("none"));
    assert_eq!(free.resends, 0);
    assert_eq!(free.cross_sends_per_msg, 1.0);
    let crashed = run_clean(&sized("crash:6"));
    assert!(
        crashed.max_transmissions_per_msg <= 13,
        "{}",
        crashed.max_transmissions_per_msg
    );
    assert!(
        crashed.throughput_msgs_per_s >= 0.8 * free.throughput_msgs_per_s,
        "crashed {:.0} msg/s, failure-free {:.0} msg/s",
        crashed.throughput_msgs_per_s,
        free.throughput_msgs_per_s
    );
    assert!(
        crashed.cross_sends_per_msg < 1.1,
        "{} cross copies per message",
        crashed.cross_sends_per_msg
    );
}

#[test]
fn a_burst_of_small_entries_is_whole_soon_after_a_third_crashed_is_found_silent() {
    // n = 13, 100 B: the whole stream is released before the crashed relays are found silent
    // (after 200 ms). The raise then sent part of its resends to receivers that were down but
    // not yet found so, and each of those entries waited until r + 1 receivers had reported it
    // missing once per level from 0 up past the raised level, one report spacing each: the
    // last entries arrived at 1.16 s, and with 200 000 entries the stream stalled for seconds.
    let r = run_clean(&picsou(13, 20_000, "crash:4"));
    for d in &r.per_direction {
        assert!(
            d.last_complete_s < 0.4,
            "stream {:?} complete only at {:.3} s",
            d.source,
            d.last_complete_s
        );
    }
    assert!(r.max_transmissions_per_msg <= 9);
}

/// Stakes `s,1,1,1` on both sides, 1 MB entries, 3000 per stream, `faults` on the light relays.
fn skewed(s: u64, faults: &str) -> relayer::sim::SimResult {
    let stakes = |side| ClusterConfig::with_stakes(side, [s, 1, 1, 1].map(Stake).to_vec(), false);
    let mut c = picsou(4, 3000, faults);
    c.size = 1_000_000;
    c.cluster_a = stakes(Side::A);
    c.cluster_b = stakes(Side::B);
    c.placement = relayer::sim::Placement::Last;
    run_clean(&c)
}

#[test]
fn skewed_stake_resends_nothing_failure_free_and_runs_at_the_heavy_relays_nic() {
    // The heavy relay takes s/(s+3) of each stream: it sends that share of its own across and
    // broadcasts that share of the other to 3 peers, so its NIC allows (s+3)/(4s) of the
    // model limit. Confirmation by it alone let the window outrun its broadcasts: 5630 resends
    // at 16×, at 15% of the limit.
    for s in [2, 16] {
        let r = skewed(s, "none");
        let allowed = (s + 3) as f64 / (4 * s) as f64 * r.limit_msgs_per_s;
        eprintln!(
            "{s}×: {:.0} msg/s, {:.1}% of what the heavy relay's NIC allows, {} resends",
            r.throughput_msgs_per_s,
            100.0 * r.throughput_msgs_per_s / allowed,
            r.resends
        );
        assert_eq!(r.resends, 0, "{s}×");
        assert!(r.throughput_msgs_per_s >= 0.8 * allowed, "{s}×");
    }
}

#[test]
fn light_relays_that_crash_or_ack_nothing_do_not_hold_back_a_skewed_stream() {
    // With 16,1,1,1 all three light relays fit within u: the heavy one may be the only correct
    // receiver. Waiting for entries to be passed on to them stalled the window (0.8% of the
    // limit) until silent and lagging receivers were left out of the count.
    let free = skewed(16, "none");
    for faults in ["crash:3", "byz-ack-zero:3"] {
        let r = skewed(16, faults);
        assert!(
            r.throughput_msgs_per_s >= 0.6 * free.throughput_msgs_per_s,
            "{faults}: {:.0} msg/s, failure-free {:.0}",
            r.throughput_msgs_per_s,
            free.throughput_msgs_per_s
        );
    }
}
