//! Scenario tests of the four baselines on the in-memory harness: failure-free delivery and exact
//! copy counts, OTU takeovers after crashed senders, refused forged, out-of-window and malformed
//! input, restarts that deliver nothing twice, and random batches that never panic.

use crate::baselines::harness::{Net, PAYLOAD};
use crate::baselines::otu::sender_roles;
use crate::protocol::{
    Ack, Batch, BatchKind, ClusterConfig, Entry, Event, MisbehaviourKind, Params, ProtocolKind,
};
use crate::types::{NodeId, Side, Stake, StreamIndex};
use bytes::Bytes;
use std::time::Duration;

const BASELINES: [ProtocolKind; 4] = [
    ProtocolKind::Ost,
    ProtocolKind::Ata,
    ProtocolKind::Ll,
    ProtocolKind::Otu,
];

/// Small batches (five test entries fill one), so both flush paths run.
fn params() -> Params {
    Params {
        batch_bytes: 5 * (PAYLOAD + crate::testkit::PROOF_LEN),
        ..Params::default()
    }
}

/// Commits `0..count` on both sides, 200 µs apart, then lets the network settle.
fn run_both_ways(net: &mut Net, from: u64, count: u64) {
    for k in from..from + count {
        net.commit(Side::A, k);
        net.commit(Side::B, k);
        net.run_for(Duration::from_micros(200));
    }
    net.run_for(Duration::from_secs(2));
}

/// Cross copies of one entry a failure-free run must show.
fn expected_copies(kind: ProtocolKind, local: &ClusterConfig, remote: &ClusterConfig) -> usize {
    match kind {
        ProtocolKind::Ost | ProtocolKind::Ll => 1,
        ProtocolKind::Ata => local.n() * remote.n(),
        ProtocolKind::Otu => remote.u.0 as usize + 1,
        ProtocolKind::Picsou => unreachable!("baselines only"),
    }
}

/// Whether `kind` promises that receiver `r` delivers entry `k`.
fn promised(kind: ProtocolKind, remote: &ClusterConfig, k: u64, r: NodeId) -> bool {
    match kind {
        ProtocolKind::Ost => u64::from(r.index.0) == k % remote.n() as u64,
        _ => true,
    }
}

fn check_failure_free(net: &Net, count: u64) {
    let kind = net.kind;
    for side in [Side::A, Side::B] {
        let (local, remote) = (net.cluster(side), net.cluster(side.other()));
        for k in 0..count {
            for r in remote.nodes() {
                let want = usize::from(promised(kind, remote, k, r));
                assert_eq!(
                    net.times_delivered(r, k),
                    want,
                    "{kind:?}: {r} delivered {side}{k}"
                );
            }
            assert_eq!(
                net.cross_copies.get(&(side, k)).copied().unwrap_or(0),
                expected_copies(kind, local, remote),
                "{kind:?}: cross copies of {side}{k}"
            );
            let sent = net
                .events
                .iter()
                .filter(|(id, e)| id.side == side && *e == Event::Sent { k: StreamIndex(k) })
                .count();
            let want_sent = if kind == ProtocolKind::Ata {
                local.n()
            } else {
                1
            };
            assert_eq!(sent, want_sent, "{kind:?}: Sent events for {side}{k}");
        }
    }
    assert!(
        net.resends().is_empty(),
        "{kind:?}: resends failure-free: {:?}",
        net.resends()
    );
    assert!(
        net.misbehaviour().is_empty(),
        "{kind:?}: {:?}",
        net.misbehaviour()
    );
    for (id, node) in &net.nodes {
        let st = node.status();
        assert_eq!(st.exported, count, "{kind:?} {id}");
        assert_eq!(st.resends, 0);
        let receiving = net.cluster(id.side);
        let want: u64 = (0..count)
            .filter(|&k| promised(kind, receiving, k, *id))
            .count() as u64;
        assert_eq!(st.delivered, want, "{kind:?} {id} delivered");
        if kind != ProtocolKind::Ost {
            assert_eq!(st.next_expected, count, "{kind:?} {id} next_expected");
        }
        if kind == ProtocolKind::Otu && id.index.0 < sender_roles(net.cluster(id.side)) {
            assert_eq!(
                st.quack, count,
                "{id}: OTU sender roles see every entry acknowledged"
            );
            assert_eq!(
                net.quacks.get(id),
                Some(&StreamIndex(count)),
                "{id}: QUACK persisted"
            );
        }
    }
}

#[test]
fn failure_free_every_baseline_and_size() {
    for kind in BASELINES {
        for (na, nb) in [(4, 4), (7, 7), (4, 7), (7, 4)] {
            let mut net = Net::new(kind, na, nb, params());
            run_both_ways(&mut net, 0, 40);
            check_failure_free(&net, 40);
        }
    }
}

#[test]
fn failure_free_with_single_entry_batches_and_zero_delay() {
    for kind in BASELINES {
        let p = Params {
            batch_bytes: 1,
            batch_delay: Duration::ZERO,
            ..Params::default()
        };
        let mut net = Net::new(kind, 4, 7, p);
        run_both_ways(&mut net, 0, 15);
        check_failure_free(&net, 15);
    }
}

#[test]
fn otu_with_stake_uses_u_plus_one_stake() {
    // Receivers B: stakes [3, 1, 1, 1, 1], u = 2: a set needs stake ≥ 3.
    let b = ClusterConfig {
        side: Side::B,
        stakes: vec![Stake(3), Stake(1), Stake(1), Stake(1), Stake(1)],
        u: Stake(2),
        r: Stake(2),
    };
    let a = ClusterConfig::bft(Side::A, 4);
    let mut net = Net::with(ProtocolKind::Otu, a, b, params());
    run_both_ways(&mut net, 0, 20);
    for k in 0..20u64 {
        for r in net.b.nodes() {
            assert_eq!(net.times_delivered(r, k), 1);
        }
        // Role 0 walks from `k mod 5` until stake ≥ 3: start 0 → {0}; 1 → {1,2,3};
        // 2 → {2,3,4}; 3 → {3,4,0}; 4 → {4,0}.
        let want = match k % 5 {
            0 => 1,
            4 => 2,
            _ => 3,
        };
        assert_eq!(net.cross_copies[&(Side::A, k)], want, "A{k}");
    }
    assert!(net.resends().is_empty());
}

fn otu_crash_run(na: usize, nb: usize, crashed: &[u32], count: u64) -> Net {
    let mut net = Net::new(ProtocolKind::Otu, na, nb, params());
    for &c in crashed {
        net.crashed.insert(NodeId::new(Side::A, c));
    }
    run_both_ways(&mut net, 0, count);
    // Well past every takeover deadline.
    net.run_for(Duration::from_secs(5));
    net
}

#[test]
fn otu_takes_over_from_a_crashed_leader() {
    for (na, nb) in [(4, 4), (7, 7), (4, 7), (7, 4)] {
        let n = format!("{na}/{nb}");
        let count = 30;
        let net = otu_crash_run(na, nb, &[0], count);
        let u_r = net.b.u.0 as usize;
        for k in 0..count {
            for r in net.b.nodes() {
                assert_eq!(net.times_delivered(r, k), 1, "n={n}: {r} A{k}");
            }
            let senders = &net.cross_senders[&(Side::A, k)];
            assert_eq!(
                senders.iter().map(|s| s.index.0).collect::<Vec<_>>(),
                vec![1],
                "A{k}"
            );
            assert_eq!(net.cross_copies[&(Side::A, k)], u_r + 1);
        }
        let resends = net.resends();
        assert_eq!(resends.len(), count as usize * (u_r + 1), "n={n}");
        assert!(
            resends
                .iter()
                .all(|&(id, _, level, to)| id.index.0 == 1 && level == 1 && to.side == Side::B)
        );
        // The other direction is untouched by the crash.
        for k in 0..count {
            assert_eq!(net.cross_copies[&(Side::B, k)], net.a.u.0 as usize + 1);
            for r in net.a.nodes().filter(|r| r.index.0 != 0) {
                assert_eq!(net.times_delivered(r, k), 1);
            }
        }
        assert!(net.misbehaviour().is_empty());
    }
}

#[test]
fn otu_reaches_the_last_sender_role() {
    // n = 7, u = 2: roles 0, 1, 2; with the first two crashed, role 2 sends everything.
    let count = 20;
    let net = otu_crash_run(7, 7, &[0, 1], count);
    for k in 0..count {
        for r in net.b.nodes() {
            assert_eq!(net.times_delivered(r, k), 1);
        }
        let senders = &net.cross_senders[&(Side::A, k)];
        assert_eq!(senders.len(), 1);
        assert!(senders.len() <= net.a.u.0 as usize + 1);
        assert_eq!(senders.first().map(|s| s.index.0), Some(2));
    }
    assert!(
        net.resends()
            .iter()
            .all(|&(id, _, level, _)| id.index.0 == 2 && level == 2)
    );
    // Nodes beyond the sender roles never send the A stream across.
    for k in 0..count {
        assert!(
            net.cross_senders[&(Side::A, k)]
                .iter()
                .all(|s| s.index.0 < 3)
        );
    }
}

#[test]
fn otu_leader_crashing_mid_stream_loses_nothing() {
    let a0 = NodeId::new(Side::A, 0);
    let mut net = Net::new(ProtocolKind::Otu, 4, 7, params());
    for k in 0..40 {
        if k == 17 {
            // Crashes with a partly filled batch in its outbox.
            net.crashed.insert(a0);
        }
        net.commit(Side::A, k);
        net.run_for(Duration::from_micros(300));
    }
    net.run_for(Duration::from_secs(5));
    for k in 0..40 {
        for r in net.b.nodes() {
            assert_eq!(net.times_delivered(r, k), 1, "{r} A{k}");
        }
    }
    let resent: std::collections::BTreeSet<u64> =
        net.resends().iter().map(|&(_, k, _, _)| k.0).collect();
    assert!(
        resent.contains(&16) || resent.contains(&15),
        "the unflushed tail is taken over"
    );
    assert!(
        resent.iter().all(|&k| k >= 10),
        "acknowledged entries are not resent: {resent:?}"
    );
    assert!(net.resends().iter().all(|&(id, ..)| id.index.0 == 1));
}

#[test]
fn otu_crashed_receivers_need_no_takeover() {
    for crashed in [0, 2] {
        let b_crashed = NodeId::new(Side::B, crashed);
        let mut net = Net::new(ProtocolKind::Otu, 4, 4, params());
        net.crashed.insert(b_crashed);
        run_both_ways(&mut net, 0, 30);
        net.run_for(Duration::from_secs(5));
        for k in 0..30 {
            for r in net.b.nodes().filter(|&r| r != b_crashed) {
                assert_eq!(net.times_delivered(r, k), 1, "{r} A{k}");
            }
        }
        // The A stream needs no takeover; B's own stream does when its leader is the one down.
        let resends = net.resends();
        assert!(
            resends.iter().all(|(id, ..)| id.side == Side::B),
            "{resends:?}"
        );
        assert_eq!(resends.is_empty(), crashed != 0);
    }
}

/// The limit of OTU's rule (shared with GeoBFT's optimistic path): a sender stops caring about
/// `k` once receivers with `u_r + 1` stake hold it, and receivers that got `k` by internal
/// broadcast do not pass it on. If the original send reaches only a faulty target and that
/// target's broadcast reaches only some correct receivers, the faulty target's (truthful) ack and
/// a correct holder's ack suppress every takeover and the other correct receivers never get `k`.
/// It takes a fault in each cluster, one of them with a partial broadcast (Byzantine selective
/// drop, or a crash in the middle of a broadcast); crashes from the start never cause it.
#[test]
fn otu_partial_broadcast_by_a_faulty_target_can_strand_correct_receivers() {
    let mut net = Net::new(ProtocolKind::Otu, 4, 4, params());
    // A0 (faulty) sends entry 0 only to its target B0 (faulty), not to its other target B1;
    // B0 passes it on only to B2.
    net.lose = Some(|from, t| {
        (from == NodeId::new(Side::A, 0) && t.to == NodeId::new(Side::B, 1))
            || (from == NodeId::new(Side::B, 0) && t.to.side == Side::B && t.to.index.0 != 2)
    });
    net.commit(Side::A, 0);
    net.run_for(Duration::from_secs(5));
    let holders: Vec<u32> = net
        .b
        .nodes()
        .filter(|&r| net.times_delivered(r, 0) == 1)
        .map(|r| r.index.0)
        .collect();
    assert_eq!(holders, vec![0, 2]);
    assert!(
        net.resends().is_empty(),
        "the ack of B0 and B2 suppressed A1's takeover"
    );
}

fn forged(k: u64) -> Entry {
    let k = StreamIndex(k);
    Entry {
        k,
        payload: crate::testkit::TestChain::payload(k, PAYLOAD).into(),
        proof: Bytes::from_static(&[0u8; crate::testkit::PROOF_LEN]),
    }
}

fn cross(entries: Vec<Entry>) -> Batch {
    Batch {
        epoch: 1,
        kind: BatchKind::Cross {
            ack: None,
            quack_claim: None,
            exported: StreamIndex(0),
        },
        entries,
    }
}

fn internal(entries: Vec<Entry>) -> Batch {
    Batch {
        epoch: 1,
        kind: BatchKind::Internal,
        entries,
    }
}

#[test]
fn forged_entries_are_refused() {
    let (a0, b0, b1, b2) = (
        NodeId::new(Side::A, 0),
        NodeId::new(Side::B, 0),
        NodeId::new(Side::B, 1),
        NodeId::new(Side::B, 2),
    );
    for kind in BASELINES {
        let mut net = Net::new(kind, 4, 4, params());
        net.inject(a0, b0, cross(vec![forged(0)]));
        assert_eq!(
            net.misbehaviour(),
            vec![(b0, a0, MisbehaviourKind::BadProof)],
            "{kind:?}"
        );
        // An entry certified for the other stream is forged too.
        let wrong_stream = net.entry(Side::B, 1);
        net.inject(a0, b0, cross(vec![wrong_stream]));
        assert_eq!(net.misbehaviour().len(), 2);
        assert_eq!(net.times_delivered(b0, 0) + net.times_delivered(b0, 1), 0);
        assert!(
            net.batches == 0,
            "{kind:?}: a forged entry must not be passed on"
        );
        if matches!(kind, ProtocolKind::Ll | ProtocolKind::Otu) {
            net.inject(b1, b2, internal(vec![forged(0)]));
            assert_eq!(net.misbehaviour()[2], (b2, b1, MisbehaviourKind::BadProof));
        }
        // The genuine entries still get through afterwards.
        net.events.clear();
        run_both_ways(&mut net, 0, 8);
        check_failure_free(&net, 8);
    }
}

#[test]
fn out_of_window_indices_are_refused() {
    let (a0, b0) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 0));
    for kind in BASELINES {
        let p = Params {
            recv_window: 8,
            ..params()
        };
        let mut net = Net::new(kind, 4, 4, p);
        // OST receivers count the window in their own lane (every 4th index here).
        let stride = if kind == ProtocolKind::Ost { 4 } else { 1 };
        let far = net.entry(Side::A, 8 * stride);
        let near = net.entry(Side::A, 7 * stride);
        net.inject(a0, b0, cross(vec![far, near]));
        assert_eq!(
            net.misbehaviour(),
            vec![(b0, a0, MisbehaviourKind::OutOfWindow)],
            "{kind:?}"
        );
        assert_eq!(
            net.delivered[&b0],
            vec![StreamIndex(7 * stride)],
            "{kind:?}"
        );
        // The window moves with `next`.
        let first = net.entry(Side::A, 0);
        let later = net.entry(Side::A, 8 * stride);
        net.inject(a0, b0, cross(vec![first, later]));
        assert_eq!(
            net.delivered[&b0],
            [7, 0, 8].map(|p| StreamIndex(p * stride)).to_vec()
        );
        assert_eq!(net.misbehaviour().len(), 1);
    }
}

#[test]
fn malformed_batches_are_ignored_and_reported() {
    let (a0, b0, b1) = (
        NodeId::new(Side::A, 0),
        NodeId::new(Side::B, 0),
        NodeId::new(Side::B, 1),
    );
    for kind in BASELINES {
        let mut net = Net::new(kind, 4, 4, params());
        let e = net.entry(Side::A, 0);
        let mut bad = vec![
            (b1, cross(vec![e.clone()])),    // cross from our own side
            (a0, internal(vec![e.clone()])), // internal from the other side
            (
                b1,
                Batch {
                    epoch: 1,
                    kind: BatchKind::Fetch {
                        want: vec![StreamIndex(0)],
                    },
                    entries: vec![],
                },
            ),
            (
                a0,
                Batch {
                    epoch: 9,
                    ..cross(vec![e.clone()])
                },
            ),
            (NodeId::new(Side::A, 4), cross(vec![e.clone()])), // no such node
            (b0, internal(vec![e.clone()])),                   // from ourselves
        ];
        let broadcasts = matches!(kind, ProtocolKind::Ll | ProtocolKind::Otu);
        if !broadcasts {
            bad.push((b1, internal(vec![e.clone()])));
        }
        let n = bad.len();
        for (from, batch) in bad {
            net.inject(from, b0, batch);
        }
        let mb = net.misbehaviour();
        assert_eq!(mb.len(), n, "{kind:?}: {mb:?}");
        assert!(mb.iter().all(|&(_, _, k)| k == MisbehaviourKind::Malformed));
        assert!(!net.delivered.contains_key(&b0), "{kind:?}");
        if broadcasts {
            net.inject(b1, b0, internal(vec![e]));
            assert_eq!(net.delivered[&b0], vec![StreamIndex(0)]);
            assert_eq!(net.misbehaviour().len(), n);
        }
    }
}

#[test]
fn acks_from_non_ack_protocols_are_ignored_and_impossible_acks_do_not_panic() {
    let (a0, b0) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 0));
    for kind in BASELINES {
        let mut net = Net::new(kind, 4, 4, params());
        let batch = Batch {
            epoch: 1,
            kind: BatchKind::Cross {
                ack: Some(Ack {
                    next: StreamIndex(u64::MAX),
                    phi: Bytes::from_static(&[0xff; 3]),
                }),
                quack_claim: Some(StreamIndex(u64::MAX)),
                exported: StreamIndex(0),
            },
            entries: vec![],
        };
        net.inject(b0, a0, batch);
        assert!(net.misbehaviour().is_empty());
        // One lying receiver (stake 1 ≤ u) cannot move an OTU QUACK.
        assert_eq!(net.nodes[&a0].status().quack, 0, "{kind:?}");
    }
}

#[test]
fn restart_delivers_nothing_twice() {
    for kind in BASELINES {
        for (na, nb) in [(4, 4), (4, 7)] {
            let mut net = Net::new(kind, na, nb, params());
            run_both_ways(&mut net, 0, 12);
            let before = net.events.len();
            for id in net.ids() {
                let rec = net.recovered(id);
                net.restart(id, rec);
            }
            // The chains replay what the relays had already seen, then go on.
            for k in 0..12 {
                net.commit(Side::A, k);
                net.commit(Side::B, k);
            }
            run_both_ways(&mut net, 12, 12);
            for side in [Side::A, Side::B] {
                let remote = net.cluster(side.other()).clone();
                for k in 0..24 {
                    for r in remote.nodes() {
                        let want = usize::from(promised(kind, &remote, k, r));
                        assert_eq!(
                            net.times_delivered(r, k),
                            want,
                            "{kind:?} {na}/{nb}: {r} {side}{k}"
                        );
                    }
                }
            }
            if kind == ProtocolKind::Otu {
                // Restarted receivers re-advertise what they hold.
                for id in net.ids() {
                    if id.index.0 < 2 {
                        assert_eq!(net.nodes[&id].status().quack, 24, "{id}");
                    }
                }
                // Recovered QUACKs: no entry below them is sent again.
                let resent_old = net.events[before..]
                    .iter()
                    .any(|(_, e)| matches!(e, Event::Sent { k } if k.0 < 12));
                assert!(
                    !resent_old,
                    "OTU re-sent acknowledged entries after a restart"
                );
            }
            assert!(net.resends().is_empty(), "{kind:?}");
            assert!(net.misbehaviour().is_empty(), "{kind:?}");
            // A restarted receiver still reports the recovered `next`.
            for id in net.b.nodes() {
                let st = net.nodes[&id].status();
                if kind != ProtocolKind::Ost {
                    assert_eq!(st.next_expected, 24, "{kind:?} {id}");
                }
            }
        }
    }
}

#[test]
fn duplicate_direct_copies_are_delivered_once() {
    let (a0, a1, b0) = (
        NodeId::new(Side::A, 0),
        NodeId::new(Side::A, 1),
        NodeId::new(Side::B, 0),
    );
    for kind in BASELINES {
        let mut net = Net::new(kind, 4, 4, params());
        let e = net.entry(Side::A, 0);
        net.inject(a0, b0, cross(vec![e.clone(), e.clone()]));
        net.inject(a1, b0, cross(vec![e]));
        assert_eq!(net.delivered[&b0], vec![StreamIndex(0)], "{kind:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn random_batches_never_panic(
        batches in proptest::collection::vec(
            (0u8..4, proptest::bool::ANY, 0u32..9, 0u64..3,
             proptest::collection::vec((0u64..40, proptest::bool::ANY), 0..6)),
            1..12),
        which in 0usize..4,
    ) {
        let kind = BASELINES[which];
        let p = Params { recv_window: 16, ..params() };
        let mut net = Net::new(kind, 4, 7, p);
        let me = NodeId::new(Side::B, 3);
        for (sel, remote, idx, epoch, ks) in batches {
            let from = NodeId::new(if remote { Side::A } else { Side::B }, idx);
            let entries = ks
                .into_iter()
                .map(|(k, good)| if good { net.entry(Side::A, k) } else { forged(k) })
                .collect();
            let kind = match sel {
                0 => BatchKind::Internal,
                1 => BatchKind::Fetch { want: vec![StreamIndex(idx.into())] },
                2 => BatchKind::Cross { ack: Some(Ack { next: StreamIndex(idx.into()), phi: Bytes::new() }), quack_claim: None, exported: StreamIndex(0) },
                _ => BatchKind::Cross { ack: None, quack_claim: None, exported: StreamIndex(0) },
            };
            net.inject(from, me, Batch { epoch, kind, entries });
            net.run_for(Duration::from_millis(1));
        }
        net.run_for(Duration::from_secs(1));
        for (id, ks) in &net.delivered {
            let mut sorted = ks.clone();
            sorted.sort();
            sorted.dedup();
            proptest::prop_assert_eq!(sorted.len(), ks.len(), "{} delivered an index twice", id);
        }
    }
}

#[test]
fn otu_restart_without_a_persisted_quack_needs_no_resends() {
    let mut net = Net::new(ProtocolKind::Otu, 4, 4, params());
    run_both_ways(&mut net, 0, 12);
    // Senders lose their QUACK (it is persisted lazily); receivers restart with what they hold.
    for id in net.ids() {
        let mut rec = net.recovered(id);
        rec.quack = None;
        net.restart(id, rec);
    }
    for k in 0..12 {
        net.commit(Side::A, k);
        net.commit(Side::B, k);
    }
    net.run_for(Duration::from_secs(2));
    assert!(net.resends().is_empty(), "{:?}", net.resends());
    for k in 0..12 {
        for r in net.b.nodes() {
            assert_eq!(net.times_delivered(r, k), 1);
        }
    }
}
