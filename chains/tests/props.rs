//! Property tests: decoders never panic on arbitrary bytes; corrupted proofs never verify; the
//! bridge conserves value under random traffic and duplicate deliveries.

use chains::algorand::{self, Algorand};
use chains::codec::decode_all;
use chains::engine::{Engine, EngineConfig};
use chains::ledger::verify_export;
use chains::model::{ExportEntry, ExportProof};
use chains::resdb::{self, Resdb};
use chains::tx::{BridgeTransfer, Tx, TxBody};
use chains::types::{Amount, ChainId, ChainKind, ExportIndex};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn a_id() -> ChainId {
    ChainId::new("algo-p").unwrap()
}
fn b_id() -> ChainId {
    ChainId::new("resdb-p").unwrap()
}

fn engines() -> (Engine, Engine) {
    let mut a = EngineConfig::devnet(ChainKind::Algorand, a_id(), "pa", 4, 3);
    let mut b = EngineConfig::devnet(ChainKind::Resdb, b_id(), "pb", 4, 3);
    a.epoch_length = 3;
    b.epoch_length = 4;
    a.initial_balance = Amount(1_000);
    b.initial_balance = Amount(1_000);
    let (pa, pb) = (a.peer_spec().unwrap(), b.peer_spec().unwrap());
    (
        Engine::new(a, &[pb]).unwrap(),
        Engine::new(b, &[pa]).unwrap(),
    )
}

fn sample_entries() -> (Engine, Engine, ExportEntry, ExportEntry) {
    let (mut a, mut b) = engines();
    for (src, dst) in [(&mut a, b_id()), (&mut b, a_id())] {
        let cfg = src.config().clone();
        let other_kind = match cfg.kind {
            ChainKind::Algorand => ChainKind::Resdb,
            ChainKind::Resdb => ChainKind::Algorand,
        };
        let key = cfg.account_key(0);
        let tx = Tx::sign(
            cfg.kind,
            &cfg.chain_id,
            TxBody::BridgeOut {
                from: key.address(),
                dest_chain: dst,
                recipient: chains::keys::AccountKey::devnet(other_kind, "x", 0).address(),
                amount: Amount(5),
                nonce: 1,
            },
            &key,
        );
        src.submit_tx(tx).unwrap();
        for t in 0..4 {
            src.produce_block(t).unwrap();
        }
    }
    let ea = a.export_all().unwrap().remove(0);
    let eb = b.export_all().unwrap().remove(0);
    (a, b, ea, eb)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Tx::from_bytes(&bytes);
        let _ = BridgeTransfer::from_bytes(&bytes);
        let _ = ExportProof::<Algorand>::from_bytes(&bytes);
        let _ = ExportProof::<Resdb>::from_bytes(&bytes);
        let _ = decode_all(&bytes, algorand::Header::decode);
        let _ = decode_all(&bytes, algorand::Certificate::decode);
        let _ = decode_all(&bytes, algorand::ValidatorSet::decode);
        let _ = decode_all(&bytes, resdb::BatchHeader::decode);
        let _ = decode_all(&bytes, resdb::CommitCert::decode);
        let _ = decode_all(&bytes, resdb::ReplicaSet::decode);
        let _ = decode_all(&bytes, chains::merkle::MerkleProof::decode);
        let mut tagged = vec![0x01];
        tagged.extend_from_slice(&bytes);
        let _ = ExportProof::<Algorand>::from_bytes(&tagged);
        tagged[0] = 0x02;
        let _ = ExportProof::<Resdb>::from_bytes(&tagged);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn corrupted_proofs_never_verify(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncate in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let (a, b, ea, eb) = sample_entries();
        for (src, local, e) in [(&a, b_id(), &ea), (&b, a_id(), &eb)] {
            let client = src.peer_spec().unwrap().light_client(local);
            prop_assert!(verify_export(&client, e.k, &e.payload, &e.proof).is_ok());
            let mut bad = e.proof.clone();
            for (i, v) in &edits {
                let i = i.index(bad.len());
                bad[i] = *v;
            }
            if let Some(t) = truncate {
                bad.truncate(t.index(bad.len()));
            }
            let r = verify_export(&client, e.k, &e.payload, &bad);
            prop_assert!(r.is_err() || bad == e.proof);
            let mut badp = e.payload.clone();
            let (i, v) = edits[0];
            let i = i.index(badp.len());
            badp[i] = v;
            let r = verify_export(&client, e.k, &badp, &e.proof);
            prop_assert!(r.is_err() || badp == e.payload);
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Transfer {
        on_a: bool,
        from: u64,
        to: u64,
        amount: u64,
    },
    BridgeOut {
        on_a: bool,
        from: u64,
        to: u64,
        amount: u64,
    },
    Produce {
        on_a: bool,
    },
    Deliver {
        to_a: bool,
        pick: prop::sample::Index,
        copies: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), 0..3u64, 0..3u64, 1..400u64).prop_map(|(on_a, from, to, amount)| {
            Op::Transfer {
                on_a,
                from,
                to,
                amount,
            }
        }),
        (any::<bool>(), 0..3u64, 0..3u64, 1..400u64).prop_map(|(on_a, from, to, amount)| {
            Op::BridgeOut {
                on_a,
                from,
                to,
                amount,
            }
        }),
        any::<bool>().prop_map(|on_a| Op::Produce { on_a }),
        (any::<bool>(), any::<prop::sample::Index>(), 1..4u8)
            .prop_map(|(to_a, pick, copies)| Op::Deliver { to_a, pick, copies }),
    ]
}

fn sum_balances(e: &Engine) -> u64 {
    e.ledger().accounts().values().map(|a| a.balance.0).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bridge_conserves_value(ops in proptest::collection::vec(op(), 1..40)) {
        let (mut a, mut b) = engines();
        let mut nonces: BTreeMap<(bool, u64), u64> = BTreeMap::new();
        let mut t = 0u64;
        for op in ops {
            t += 1;
            match op {
                Op::Transfer { on_a, from, to, amount } | Op::BridgeOut { on_a, from, to, amount } => {
                    let is_bridge = matches!(op, Op::BridgeOut { .. });
                    let (src, dst) = if on_a { (&mut a, &b) } else { (&mut b, &a) };
                    let cfg = src.config().clone();
                    let key = cfg.account_key(from);
                    let n = nonces.entry((on_a, from)).or_insert(0);
                    *n += 1;
                    let body = if is_bridge {
                        TxBody::BridgeOut {
                            from: key.address(),
                            dest_chain: dst.config().chain_id.clone(),
                            recipient: dst.config().account_key(to).address(),
                            amount: Amount(amount),
                            nonce: *n,
                        }
                    } else {
                        TxBody::Transfer {
                            from: key.address(),
                            to: cfg.account_key(to).address(),
                            amount: Amount(amount),
                            nonce: *n,
                        }
                    };
                    src.submit_tx(Tx::sign(cfg.kind, &cfg.chain_id, body, &key)).unwrap();
                }
                Op::Produce { on_a } => {
                    let e = if on_a { &mut a } else { &mut b };
                    e.produce_block(t).unwrap();
                }
                Op::Deliver { to_a, pick, copies } => {
                    let (src, dst) = if to_a { (&b, &mut a) } else { (&a, &mut b) };
                    let entries = src.export_all().unwrap();
                    if !entries.is_empty() {
                        let e = &entries[pick.index(entries.len())];
                        for _ in 0..copies {
                            let _ = dst.submit_tx(Tx::bridge_in(e.k, e.payload.clone(), e.proof.clone()));
                        }
                    }
                }
            }
        }
        // Quiesce: finalize everything, deliver every entry (twice, reversed the second time),
        // finalize the deliveries.
        a.produce_block(t + 1).unwrap();
        b.produce_block(t + 1).unwrap();
        for _ in 0..10 {
            let before = (a.ledger().applied_count(), b.ledger().applied_count());
            let (mut from_a, mut from_b) = (a.export_all().unwrap(), b.export_all().unwrap());
            from_a.reverse();
            from_b.reverse();
            for (entries, dst) in [(from_a, &mut b), (from_b, &mut a)] {
                for e in entries {
                    let _ = dst.submit_tx(Tx::bridge_in(e.k, e.payload.clone(), e.proof.clone()));
                }
            }
            a.produce_block(t + 2).unwrap();
            b.produce_block(t + 2).unwrap();
            if before == (a.ledger().applied_count(), b.ledger().applied_count()) {
                break;
            }
        }
        for (src, dst) in [(&a, &b), (&b, &a)] {
            let entries = src.export_all().unwrap();
            let total: u64 = entries
                .iter()
                .map(|e| BridgeTransfer::from_bytes(&e.payload).unwrap().amount.0)
                .sum();
            let s = &src.config().chain_id;
            let d = &dst.config().chain_id;
            prop_assert_eq!(src.ledger().escrowed(d), Amount(total));
            prop_assert_eq!(dst.ledger().minted(s), Amount(total));
            for (i, e) in entries.iter().enumerate() {
                prop_assert_eq!(e.k, ExportIndex(i as u64));
                let id = BridgeTransfer::from_bytes(&e.payload).unwrap().id();
                prop_assert!(dst.ledger().is_applied(&id));
            }
        }
        prop_assert_eq!(a.ledger().applied_count() as u64 + b.ledger().applied_count() as u64,
            a.ledger().next_export().0 + b.ledger().next_export().0);
        // Supply: genesis + minted = balances + escrowed, on each chain.
        for (e, other) in [(&a, b_id()), (&b, a_id())] {
            prop_assert_eq!(
                3 * 1_000 + e.ledger().minted(&other).0,
                sum_balances(e) + e.ledger().escrowed(&other).0
            );
        }
    }
}
