//! End-to-end bridge tests over the devnet engines: export on one chain, verify and mint on the
//! other; light-client epochs; refusal of every kind of forged entry.

use chains::algorand::{self, Algorand};
use chains::engine::{Engine, EngineConfig, EngineError, TxStatus, ValidatorSpec};
use chains::error::VerifyError;
use chains::ledger::{LedgerError, PeerClient, verify_export};
use chains::model::{ExportEntry, ExportProof, Transition};
use chains::resdb::{self, KeyScheme, Resdb};
use chains::tx::{Tx, TxBody};
use chains::types::{Address, Amount, ChainId, ChainKind, Epoch, ExportIndex, Height};
use std::collections::BTreeSet;

fn a_id() -> ChainId {
    ChainId::new("algo-devnet").unwrap()
}
fn b_id() -> ChainId {
    ChainId::new("resdb-devnet").unwrap()
}

fn configs(epoch_length: u64) -> (EngineConfig, EngineConfig) {
    let mut a = EngineConfig::devnet(ChainKind::Algorand, a_id(), "seed-a", 4, 4);
    let mut b = EngineConfig::devnet(ChainKind::Resdb, b_id(), "seed-b", 4, 4);
    a.epoch_length = epoch_length;
    b.epoch_length = epoch_length;
    b.validators[3].scheme = KeyScheme::Ed25519;
    (a, b)
}

fn engines(epoch_length: u64) -> (Engine, Engine) {
    let (a, b) = configs(epoch_length);
    let pa = a.peer_spec().unwrap();
    let pb = b.peer_spec().unwrap();
    (
        Engine::new(a, &[pb]).unwrap(),
        Engine::new(b, &[pa]).unwrap(),
    )
}

fn bridge_out(
    e: &mut Engine,
    from: u64,
    to: Address,
    amount: u64,
    nonce: u64,
) -> chains::types::TxId {
    let cfg = e.config().clone();
    let dest = match cfg.kind {
        ChainKind::Algorand => b_id(),
        ChainKind::Resdb => a_id(),
    };
    let key = cfg.account_key(from);
    let tx = Tx::sign(
        cfg.kind,
        &cfg.chain_id,
        TxBody::BridgeOut {
            from: key.address(),
            dest_chain: dest,
            recipient: to,
            amount: Amount(amount),
            nonce,
        },
        &key,
    );
    e.submit(&tx.to_bytes()).unwrap()
}

fn addr(e: &Engine, i: u64) -> Address {
    e.config().account_key(i).address()
}

fn deliver(dest: &mut Engine, entry: &ExportEntry) -> Result<chains::types::TxId, EngineError> {
    let tx = Tx::bridge_in(entry.k, entry.payload.clone(), entry.proof.clone());
    dest.submit(&tx.to_bytes())
}

fn client_of(src: &Engine, local: ChainId) -> PeerClient {
    src.peer_spec().unwrap().light_client(local)
}

#[test]
fn transfer_both_ways_is_minted_once() {
    let (mut a, mut b) = engines(100);
    let rb = addr(&b, 0);
    let ra = addr(&a, 1);
    let t1 = bridge_out(&mut a, 0, rb, 500, 1);
    let t2 = bridge_out(&mut a, 1, rb, 7, 1);
    let t3 = bridge_out(&mut b, 2, ra, 40, 1);
    a.produce_block(1000).unwrap();
    b.produce_block(1000).unwrap();
    assert_eq!(
        a.tx_status(&t1),
        Some(TxStatus::Committed { height: Height(1) })
    );
    assert_eq!(
        a.tx_status(&t2),
        Some(TxStatus::Committed { height: Height(1) })
    );
    assert_eq!(
        b.tx_status(&t3),
        Some(TxStatus::Committed { height: Height(1) })
    );
    let ea = a.export_all().unwrap();
    let eb = b.export_all().unwrap();
    assert_eq!(
        ea.iter().map(|e| e.k).collect::<Vec<_>>(),
        vec![ExportIndex(0), ExportIndex(1)]
    );
    assert_eq!(eb.len(), 1);
    // Deliver A's entries to B, twice (many relays submit the same entry).
    for e in ea.iter().chain(ea.iter()) {
        let _ = deliver(&mut b, e);
    }
    b.produce_block(2000).unwrap();
    for e in ea.iter().rev() {
        // The identical transaction again: same id, already committed.
        let id = deliver(&mut b, e).unwrap();
        assert_eq!(
            b.tx_status(&id),
            Some(TxStatus::Committed { height: Height(2) })
        );
        // The same transfer with other (still valid) proof bytes: refused as applied.
        let mut p = ExportProof::<Algorand>::from_bytes(&e.proof).unwrap();
        p.cert.votes.reverse();
        let other = ExportEntry {
            proof: p.to_bytes(),
            ..e.clone()
        };
        assert!(matches!(
            deliver(&mut b, &other),
            Err(EngineError::Ledger(LedgerError::AlreadyApplied(_)))
        ));
    }
    for e in &eb {
        deliver(&mut a, e).unwrap();
    }
    a.produce_block(2000).unwrap();
    assert_eq!(b.ledger().minted(&a_id()), Amount(507));
    assert_eq!(a.ledger().escrowed(&b_id()), Amount(507));
    assert_eq!(a.ledger().minted(&b_id()), Amount(40));
    assert_eq!(b.ledger().escrowed(&a_id()), Amount(40));
    assert_eq!(b.account(&rb).unwrap().balance, Amount(1_000_000 + 507));
    assert_eq!(a.account(&ra).unwrap().balance, Amount(1_000_000 - 7 + 40));
    assert_eq!(b.ledger().applied_count(), 2);
}

#[test]
fn export_is_identical_and_deterministic() {
    let run = || {
        let (mut a, _) = engines(3);
        let rb = addr(&engines(3).1, 0);
        for round in 0..7u64 {
            bridge_out(&mut a, round % 4, rb, 10 + round, round + 1);
            a.produce_block(1000 * round).unwrap();
        }
        (a.export_all().unwrap(), a.to_state_bytes().unwrap())
    };
    let (e1, s1) = run();
    let (e2, s2) = run();
    assert_eq!(e1, e2);
    assert_eq!(s1, s2);
    assert_eq!(e1.len(), 7);
    for (i, e) in e1.iter().enumerate() {
        assert_eq!(e.k, ExportIndex(i as u64));
    }
}

#[test]
fn state_persists_and_resumes_identically() {
    let (mut a, _) = engines(2);
    let rb = addr(&engines(2).1, 0);
    bridge_out(&mut a, 0, rb, 10, 1);
    a.produce_block(1).unwrap();
    let bytes = a.to_state_bytes().unwrap();
    let mut restored = Engine::from_state_bytes(&bytes).unwrap();
    let x = a.produce_block(2).unwrap();
    let y = restored.produce_block(2).unwrap();
    assert_eq!(x, y);
    let json = serde_json::to_string(&a).unwrap();
    let back: Engine = serde_json::from_str(&json).unwrap();
    assert_eq!(back.to_state_bytes().unwrap(), a.to_state_bytes().unwrap());
}

#[test]
fn every_block_verifies_under_the_light_client() {
    let (mut a, mut b) = engines(2);
    a.schedule_validators(
        (10..15)
            .map(|i| ValidatorSpec {
                key_index: i,
                stake: 50 + i,
                scheme: KeyScheme::Secp256k1,
            })
            .collect(),
    )
    .unwrap();
    b.schedule_validators(
        (20..27)
            .map(|i| ValidatorSpec {
                key_index: i,
                stake: 1,
                scheme: if i % 2 == 0 {
                    KeyScheme::Ed25519
                } else {
                    KeyScheme::Secp256k1
                },
            })
            .collect(),
    )
    .unwrap();
    for t in 0..7 {
        a.produce_block(t).unwrap();
        b.produce_block(t).unwrap();
    }
    let (Engine::Algorand(ea), Engine::Resdb(eb)) = (&a, &b) else {
        panic!("kinds")
    };
    let PeerClient::Algorand(mut la) = client_of(&a, b_id()) else {
        panic!("kind")
    };
    let PeerClient::Resdb(mut lb) = client_of(&b, a_id()) else {
        panic!("kind")
    };
    for blk in ea.blocks() {
        la.follow_block(blk).unwrap();
    }
    for blk in eb.blocks() {
        lb.follow_block(blk).unwrap();
    }
    assert_eq!(la.latest_epoch(), Epoch(3));
    assert_eq!(lb.latest_epoch(), Epoch(3));
    assert_eq!(la.set(Epoch(1)).unwrap().validators().len(), 5);
    assert_eq!(lb.set(Epoch(2)).unwrap().replicas().len(), 7);
    // A tampered body is refused.
    let mut blk = ea.blocks()[0].clone();
    blk.txns.push(
        blk.txns
            .first()
            .cloned()
            .unwrap_or_else(|| chains::tx::TxRecord {
                tx: Tx::bridge_in(ExportIndex(0), vec![], vec![]),
                export: None,
            }),
    );
    assert!(matches!(
        la.verify_block(&blk),
        Err(VerifyError::TamperedBody(_))
    ));
    let mut blk = ea.blocks()[1].clone();
    if let Some(s) = &mut blk.next_set {
        *s = ea.blocks()[3].next_set.clone().unwrap();
    }
    assert!(matches!(
        la.verify_block(&blk),
        Err(VerifyError::TamperedBody(_))
    ));
}

/// A chain whose validator set changes every epoch (epoch length 2) and a transfer in epoch 3.
fn epoch_fixture() -> (Engine, Engine, Vec<ExportEntry>) {
    let (mut a, b) = engines(2);
    let rb = addr(&b, 0);
    for epoch in 0..3u64 {
        a.schedule_validators(
            (0..4)
                .map(|i| ValidatorSpec {
                    key_index: 100 * (epoch + 1) + i,
                    stake: 10 + i,
                    scheme: KeyScheme::Secp256k1,
                })
                .collect(),
        )
        .unwrap();
        a.produce_block(epoch).unwrap();
        a.produce_block(epoch).unwrap();
    }
    bridge_out(&mut a, 0, rb, 99, 1);
    a.produce_block(10).unwrap();
    assert_eq!(a.height(), Height(7));
    let entries = a.export_all().unwrap();
    (a, b, entries)
}

#[test]
fn light_client_follows_epochs_adjacently() {
    let (a, mut b, entries) = epoch_fixture();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    let client = client_of(&a, b_id());
    let v = verify_export(&client, e.k, &e.payload, &e.proof).unwrap();
    assert_eq!(v.epoch, Epoch(3));
    assert_eq!(v.height, Height(7));
    assert_eq!(v.transfer.amount, Amount(99));
    let mut c2 = client.clone();
    c2.adopt(&v.learned);
    assert_eq!(c2.latest_epoch(), Epoch(3));
    // The destination chain verifies and mints, learning the epochs on chain.
    deliver(&mut b, e).unwrap();
    b.produce_block(1).unwrap();
    assert_eq!(b.ledger().minted(&a_id()), Amount(99));
    assert_eq!(b.ledger().peer(&a_id()).unwrap().latest_epoch(), Epoch(3));
}

#[test]
fn unreachable_epoch_is_refused() {
    let (a, _, entries) = epoch_fixture();
    let e = &entries[0];
    let client = client_of(&a, b_id());
    let mut p = ExportProof::<Algorand>::from_bytes(&e.proof).unwrap();
    p.transitions.truncate(2);
    assert_eq!(
        verify_export(&client, e.k, &e.payload, &p.to_bytes()),
        Err(VerifyError::UnreachableEpoch {
            block: Epoch(3),
            known: Epoch(2)
        })
    );
    p.transitions.clear();
    assert!(matches!(
        verify_export(&client, e.k, &e.payload, &p.to_bytes()),
        Err(VerifyError::UnreachableEpoch { .. })
    ));
}

#[test]
fn skipped_epoch_transition_is_refused() {
    let (a, _, entries) = epoch_fixture();
    let e = &entries[0];
    let client = client_of(&a, b_id());
    let mut p = ExportProof::<Algorand>::from_bytes(&e.proof).unwrap();
    assert_eq!(p.transitions.len(), 3);
    p.transitions.remove(0);
    assert_eq!(
        verify_export(&client, e.k, &e.payload, &p.to_bytes()),
        Err(VerifyError::WrongEpoch {
            expected: Epoch(0),
            got: Epoch(1)
        })
    );
}

#[test]
fn transition_with_substituted_set_is_refused() {
    let (a, _, entries) = epoch_fixture();
    let e = &entries[0];
    let client = client_of(&a, b_id());
    let mut p = ExportProof::<Algorand>::from_bytes(&e.proof).unwrap();
    let other: Transition<Algorand> = p.transitions[1].clone();
    p.transitions[0].next_set = other.next_set;
    assert!(matches!(
        verify_export(&client, e.k, &e.payload, &p.to_bytes()),
        Err(VerifyError::TamperedBody(_))
    ));
}

#[test]
fn old_validators_cannot_certify_a_later_epoch() {
    // Sign epoch 3's block with epoch 0's keys: the light client uses epoch 3's set.
    let (a, _, entries) = epoch_fixture();
    let e = &entries[0];
    let client = client_of(&a, b_id());
    let mut p = ExportProof::<Algorand>::from_bytes(&e.proof).unwrap();
    let keys: Vec<ed25519_dalek::SigningKey> = (0..4)
        .map(|i| {
            ed25519_dalek::SigningKey::from_bytes(&chains::keys::derive_secret(
                "seed-a",
                "algorand/validator",
                i,
            ))
        })
        .collect();
    p.cert = algorand::certify(&p.header, keys[0].verifying_key().to_bytes(), &keys);
    assert!(matches!(
        verify_export(&client, e.k, &e.payload, &p.to_bytes()),
        Err(VerifyError::UnknownSigner(_))
    ));
}

fn simple_entry() -> (Engine, Engine, ExportEntry) {
    let (mut a, b) = engines(100);
    let rb = addr(&b, 0);
    let cfg = a.config().clone();
    let key = cfg.account_key(3);
    let plain = Tx::sign(
        cfg.kind,
        &cfg.chain_id,
        TxBody::Transfer {
            from: key.address(),
            to: addr(&a, 2),
            amount: Amount(5),
            nonce: 1,
        },
        &key,
    );
    a.submit_tx(plain).unwrap();
    bridge_out(&mut a, 0, rb, 500, 1);
    a.produce_block(1).unwrap();
    let e = a.export_all().unwrap().remove(0);
    (a, b, e)
}

#[test]
fn forged_entries_are_refused() {
    let (a, _, e) = simple_entry();
    let client = client_of(&a, b_id());
    assert!(verify_export(&client, e.k, &e.payload, &e.proof).is_ok());
    // Wrong stream index.
    assert_eq!(
        verify_export(&client, ExportIndex(1), &e.payload, &e.proof),
        Err(VerifyError::WrongIndex {
            claimed: 1,
            actual: 0
        })
    );
    // Payload that is not the proven transfer (amount inflated).
    let mut t = chains::tx::BridgeTransfer::from_bytes(&e.payload).unwrap();
    t.amount = Amount(5000);
    assert_eq!(
        verify_export(&client, e.k, &t.to_bytes(), &e.proof),
        Err(VerifyError::PayloadMismatch)
    );
    // Record altered inside the proof.
    let mut p = ExportProof::<Algorand>::from_bytes(&e.proof).unwrap();
    if let TxBody::BridgeOut { amount, .. } = &mut p.record.tx.body {
        *amount = Amount(5000);
    }
    assert!(matches!(
        verify_export(&client, e.k, &t.to_bytes(), &p.to_bytes()),
        Err(VerifyError::TamperedBody(_))
    ));
    // A genuine record of the block that is not a bridge transfer.
    let Engine::Algorand(ea) = &a else { panic!() };
    let blk = ea.block(Height(1)).unwrap();
    let mut p = ExportProof::<Algorand>::from_bytes(&e.proof).unwrap();
    p.record = blk.txns[0].clone();
    p.path = blk.tree().proof(0).unwrap();
    assert_eq!(
        verify_export(&client, e.k, &e.payload, &p.to_bytes()),
        Err(VerifyError::NotBridgeOut)
    );
    // Verified by a client living on a third chain.
    let third = client_of(&a, ChainId::new("third").unwrap());
    assert!(matches!(
        verify_export(&third, e.k, &e.payload, &e.proof),
        Err(VerifyError::WrongDestination { .. })
    ));
    // An Algorand proof given to a ResDB light client.
    let (_, b, _) = simple_entry();
    let rc = client_of(&b, a_id());
    assert_eq!(
        verify_export(&rc, e.k, &e.payload, &e.proof),
        Err(VerifyError::WrongKind)
    );
    // Certificate stripped below the threshold.
    let mut p = ExportProof::<Algorand>::from_bytes(&e.proof).unwrap();
    p.cert.votes.truncate(2);
    assert!(matches!(
        verify_export(&client, e.k, &e.payload, &p.to_bytes()),
        Err(VerifyError::InsufficientWeight { .. })
    ));
}

#[test]
fn resdb_entries_verify_and_forgeries_fail() {
    let (a, mut b) = engines(100);
    let ra = addr(&a, 0);
    bridge_out(&mut b, 0, ra, 12, 1);
    b.produce_block(5).unwrap();
    let e = b.export_all().unwrap().remove(0);
    let client = client_of(&b, a_id());
    let v = verify_export(&client, e.k, &e.payload, &e.proof).unwrap();
    assert_eq!(v.transfer.amount, Amount(12));
    let mut p = ExportProof::<Resdb>::from_bytes(&e.proof).unwrap();
    p.cert.sigs[0].sig = chains::keys::ecdsa_malleate(&p.cert.sigs[0].sig);
    assert!(matches!(
        verify_export(&client, e.k, &e.payload, &p.to_bytes()),
        Err(VerifyError::MalleableSignature(_))
    ));
    let mut p = ExportProof::<Resdb>::from_bytes(&e.proof).unwrap();
    p.header.timestamp += 1;
    assert!(matches!(
        verify_export(&client, e.k, &e.payload, &p.to_bytes()),
        Err(VerifyError::DigestMismatch { .. })
    ));
    let mut p = ExportProof::<Resdb>::from_bytes(&e.proof).unwrap();
    let s = p.cert.sigs[0];
    p.cert.sigs.push(s);
    assert!(matches!(
        verify_export(&client, e.k, &e.payload, &p.to_bytes()),
        Err(VerifyError::DuplicateSigner(_))
    ));
    // Every single-byte corruption of the proof is refused.
    for i in 0..e.proof.len() {
        let mut bad = e.proof.clone();
        bad[i] ^= 0x01;
        assert!(
            verify_export(&client, e.k, &e.payload, &bad).is_err(),
            "byte {i} flipped still verifies"
        );
    }
    let _: &resdb::Block = match &b {
        Engine::Resdb(eb) => eb.block(Height(1)).unwrap(),
        Engine::Algorand(_) => panic!(),
    };
}

#[test]
fn every_byte_of_an_algorand_proof_matters() {
    let (a, _, e) = simple_entry();
    let client = client_of(&a, b_id());
    for i in 0..e.proof.len() {
        let mut bad = e.proof.clone();
        bad[i] ^= 0x01;
        assert!(
            verify_export(&client, e.k, &e.payload, &bad).is_err(),
            "byte {i} flipped still verifies"
        );
    }
}

#[test]
fn offline_validators_do_not_sign() {
    let (mut a, mut b) = engines(100);
    a.set_offline(BTreeSet::from([1]));
    let blk = a.produce_block(1).unwrap();
    let chains::engine::AnyBlock::Algorand(blk) = blk else {
        panic!()
    };
    assert_eq!(blk.cert.votes.len(), 3);
    a.set_offline(BTreeSet::from([1, 2]));
    assert!(matches!(
        a.produce_block(2),
        Err(EngineError::NoQuorum { .. })
    ));
    assert_eq!(a.height(), Height(1));
    // ResDB: the primary of view 0 is offline, so the batch is committed in view 1.
    b.set_offline(BTreeSet::from([0]));
    let chains::engine::AnyBlock::Resdb(blk) = b.produce_block(1).unwrap() else {
        panic!()
    };
    assert_eq!(blk.header.view, 1);
    assert_eq!(blk.header.primary, 1);
    assert_eq!(blk.cert.sigs.len(), 3);
    let PeerClient::Resdb(lc) = client_of(&b, a_id()) else {
        panic!()
    };
    lc.verify_block(&blk).unwrap();
    b.set_offline(BTreeSet::from([0, 1]));
    assert!(matches!(
        b.produce_block(2),
        Err(EngineError::NoQuorum { .. })
    ));
}

#[test]
fn ledger_refusals() {
    let (mut a, b) = engines(100);
    let cfg = a.config().clone();
    let key = cfg.account_key(0);
    let payee = addr(&a, 1);
    let body = |amount: u64, nonce: u64| TxBody::Transfer {
        from: key.address(),
        to: payee,
        amount: Amount(amount),
        nonce,
    };
    // Bad signature.
    let mut tx = Tx::sign(cfg.kind, &cfg.chain_id, body(1, 1), &key);
    tx.sig[0] ^= 1;
    assert_eq!(
        a.submit_tx(tx),
        Err(EngineError::Ledger(LedgerError::BadSignature))
    );
    // Signature for another chain.
    let tx = Tx::sign(cfg.kind, &b_id(), body(1, 1), &key);
    assert_eq!(
        a.submit_tx(tx),
        Err(EngineError::Ledger(LedgerError::BadSignature))
    );
    // Secp256k1 account on the Algorand-style chain.
    let bkey = b.config().account_key(0);
    let tx = Tx::sign(
        cfg.kind,
        &cfg.chain_id,
        TxBody::Transfer {
            from: bkey.address(),
            to: addr(&a, 1),
            amount: Amount(1),
            nonce: 1,
        },
        &bkey,
    );
    assert!(matches!(
        a.submit_tx(tx),
        Err(EngineError::Ledger(LedgerError::WrongScheme(..)))
    ));
    // Overdraft and replayed nonce are dropped at block time.
    let over = a
        .submit_tx(Tx::sign(cfg.kind, &cfg.chain_id, body(2_000_000, 1), &key))
        .unwrap();
    let ok = a
        .submit_tx(Tx::sign(cfg.kind, &cfg.chain_id, body(10, 1), &key))
        .unwrap();
    let replay = a
        .submit_tx(Tx::sign(cfg.kind, &cfg.chain_id, body(11, 1), &key))
        .unwrap();
    a.produce_block(1).unwrap();
    assert!(matches!(
        a.tx_status(&over),
        Some(TxStatus::Rejected { .. })
    ));
    assert_eq!(
        a.tx_status(&ok),
        Some(TxStatus::Committed { height: Height(1) })
    );
    assert!(matches!(
        a.tx_status(&replay),
        Some(TxStatus::Rejected { .. })
    ));
    // Bridge-out with a recipient of the wrong kind.
    let tx = Tx::sign(
        cfg.kind,
        &cfg.chain_id,
        TxBody::BridgeOut {
            from: key.address(),
            dest_chain: b_id(),
            recipient: addr(&a, 1),
            amount: Amount(1),
            nonce: 5,
        },
        &key,
    );
    let id = a.submit_tx(tx).unwrap();
    a.produce_block(2).unwrap();
    assert!(matches!(a.tx_status(&id), Some(TxStatus::Rejected { .. })));
    assert_eq!(a.ledger().escrowed(&b_id()), Amount(0));
}

#[test]
fn next_set_only_on_the_last_block_of_an_epoch() {
    let (mut a, _) = engines(2);
    a.produce_block(1).unwrap();
    a.produce_block(2).unwrap();
    let Engine::Algorand(ea) = &a else { panic!() };
    let PeerClient::Algorand(lc) = client_of(&a, b_id()) else {
        panic!()
    };
    let keys: Vec<ed25519_dalek::SigningKey> = (0..4)
        .map(|i| {
            ed25519_dalek::SigningKey::from_bytes(&chains::keys::derive_secret(
                "seed-a",
                "algorand/validator",
                i,
            ))
        })
        .collect();
    let proposer = keys[0].verifying_key().to_bytes();
    // Block 1 (mid-epoch) re-certified with a next-set hash: refused.
    let mut b1 = ea.block(Height(1)).unwrap().clone();
    b1.header.next_validators = Some(chains::types::Hash32([3; 32]));
    b1.cert = algorand::certify(&b1.header, proposer, &keys);
    assert!(matches!(
        lc.verify_block(&b1),
        Err(VerifyError::TamperedHeader(_))
    ));
    // Block 2 (epoch end) re-certified without one: refused.
    let mut b2 = ea.block(Height(2)).unwrap().clone();
    b2.header.next_validators = None;
    b2.next_set = None;
    b2.cert = algorand::certify(&b2.header, proposer, &keys);
    assert!(matches!(
        lc.verify_block(&b2),
        Err(VerifyError::TamperedHeader(_))
    ));
    // Malformed proof bytes are a decode error, not a panic.
    assert!(matches!(
        lc.verify_export(ExportIndex(0), &[], &[0x01, 0xff]),
        Err(VerifyError::Decode(_))
    ));
}

#[test]
fn incremental_export_equals_export_all() {
    let (_, b, entries) = epoch_fixture();
    let _ = b;
    let (a, _, _) = epoch_fixture();
    let mut ex = chains::engine::AnyExporter::new(&a.peer_spec().unwrap());
    let mut got = Vec::new();
    for h in 1..=a.height().0 {
        got.extend(ex.push_block(&a.block(Height(h)).unwrap()).unwrap());
    }
    assert_eq!(got, entries);
    assert_eq!(ex.next_height(), Height(a.height().0 + 1));
    assert!(ex.push_block(&a.block(Height(1)).unwrap()).is_err());
}

#[test]
fn entries_out_of_order_within_the_window_verify() {
    // Epoch length 2; one bridge-out every block for 40 blocks: entries span 20 epochs.
    let (mut a, _) = engines(2);
    let rb = addr(&engines(2).1, 0);
    for i in 0..40u64 {
        bridge_out(&mut a, i % 4, rb, 1 + i, i / 4 + 1);
        a.produce_block(i).unwrap();
    }
    let entries = a.export_all().unwrap();
    assert_eq!(entries.len(), 40);
    let mut client = client_of(&a, b_id());
    // Verify entries 0..20 in order, then 35 (within 16 of 20? no: 35 - 16 = 19 ≤ 20): fine.
    for e in &entries[..20] {
        let v = verify_export(&client, e.k, &e.payload, &e.proof).unwrap();
        client.adopt(&v.learned);
    }
    let e = &entries[35];
    let v = verify_export(&client, e.k, &e.payload, &e.proof).unwrap();
    client.adopt(&v.learned);
    // Entry 36 needs epochs from entry 20's on: reachable now since 35 taught up to its epoch.
    let e = &entries[36];
    assert!(verify_export(&client, e.k, &e.payload, &e.proof).is_ok());
    // A fresh client cannot reach entry 39 (its window starts at entry 23's epoch): transient.
    let fresh = client_of(&a, b_id());
    let e = &entries[39];
    let err = verify_export(&fresh, e.k, &e.payload, &e.proof).unwrap_err();
    assert!(err.is_transient(), "{err}");
    // Forgeries are never transient.
    assert!(!VerifyError::PayloadMismatch.is_transient());
}

#[test]
fn following_verifier_learns_epochs_from_entries() {
    let (a, _, entries) = epoch_fixture();
    let v = chains::FollowingVerifier::new(client_of(&a, b_id()));
    assert_eq!(v.latest_epoch(), Epoch(0));
    let e = &entries[0];
    v.verify(e.k, &e.payload, &e.proof).unwrap();
    assert_eq!(v.latest_epoch(), Epoch(3));
    // A proof without transitions now verifies: the sets are known.
    let mut p = ExportProof::<Algorand>::from_bytes(&e.proof).unwrap();
    p.transitions.clear();
    v.verify(e.k, &e.payload, &p.to_bytes()).unwrap();
    assert!(v.verify(ExportIndex(5), &e.payload, &e.proof).is_err());
}

#[test]
fn a_bridge_in_ahead_of_the_learned_epochs_is_refused_for_now_not_for_good() {
    // Epoch length 2, one bridge-out per block: entry 39's proof starts at entry 23's epoch.
    let (mut a, mut b) = engines(2);
    let rb = addr(&b, 0);
    for i in 0..40u64 {
        bridge_out(&mut a, i % 4, rb, 1 + i, i / 4 + 1);
        a.produce_block(i).unwrap();
    }
    let entries = a.export_all().unwrap();
    let early = deliver(&mut b, &entries[39]).unwrap_err();
    assert!(early.is_transient(), "{early}");
    // Once the entries before it are applied, the same bytes pass.
    for (t, e) in entries[..39].iter().enumerate() {
        deliver(&mut b, e).unwrap();
        b.produce_block(100 + t as u64).unwrap();
    }
    deliver(&mut b, &entries[39]).unwrap();
}
