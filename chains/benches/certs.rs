//! Certificate verification versus the raw signature checks it consists of, for both chains,
//! plus the devnet engine's transaction intake and block production.
//!
//! Run: `cargo bench -p chains --bench certs` (a plain timing loop, no harness).

use chains::algorand::{self, Validator, ValidatorSet};
use chains::engine::{Engine, EngineConfig};
use chains::keys::{derive_secret, ecdsa_verify_key, ed25519_verify};
use chains::resdb::{self, KeyScheme, Replica, ReplicaSet, ReplicaSigner};
use chains::tx::{Tx, TxBody};
use chains::types::{Amount, ChainId, ChainKind, Epoch, Hash32, Height, Stake};
use ed25519_dalek::SigningKey;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Mean time per call of `f`, over at least `min` wall time.
fn time<T>(mut f: impl FnMut() -> T, min: Duration) -> Duration {
    let _ = black_box(f());
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < min {
        black_box(f());
        n += 1;
    }
    start.elapsed() / n.max(1)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn algorand_bench(n: usize, min: Duration) {
    let keys: Vec<SigningKey> = (0..n as u64)
        .map(|i| SigningKey::from_bytes(&derive_secret("bench", "algorand", i)))
        .collect();
    let set = ValidatorSet::new(
        Epoch(0),
        keys.iter()
            .map(|k| Validator {
                vote_key: k.verifying_key().to_bytes(),
                stake: Stake(100),
            })
            .collect(),
    )
    .expect("distinct keys");
    let params = algorand::Params {
        genesis_id: ChainId::new("bench").expect("valid id"),
        genesis_hash: Hash32([1; 32]),
        epoch_length: 1000,
    };
    let header = algorand::Header {
        round: Height(1),
        prev: Hash32::ZERO,
        seed: Hash32::ZERO,
        txn_root: Hash32::ZERO,
        timestamp: 0,
        genesis_id: params.genesis_id.clone(),
        genesis_hash: params.genesis_hash,
        proto: "bench".into(),
        txn_counter: 0,
        next_validators: None,
    };
    let cert = algorand::certify(&header, keys[0].verifying_key().to_bytes(), &keys);
    algorand::verify_certificate(&params, &set, &header, &cert).expect("valid certificate");
    let msgs: Vec<Vec<u8>> = cert
        .votes
        .iter()
        .map(|v| {
            algorand::vote_bytes(
                &v.sender,
                cert.round,
                cert.period,
                cert.step,
                &cert.proposal,
            )
        })
        .collect();
    let raw_single = time(
        || {
            cert.votes
                .iter()
                .zip(&msgs)
                .all(|(v, m)| ed25519_verify(&v.sender, m, &v.sig).is_ok())
        },
        min,
    );
    let vks: Vec<_> = keys.iter().map(SigningKey::verifying_key).collect();
    let sigs: Vec<_> = cert
        .votes
        .iter()
        .map(|v| ed25519_dalek::Signature::from_bytes(&v.sig))
        .collect();
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    let raw_batch = time(
        || ed25519_dalek::verify_batch(&refs, &sigs, &vks).is_ok(),
        min,
    );
    let full = time(
        || algorand::verify_certificate(&params, &set, &header, &cert).is_ok(),
        min,
    );
    println!(
        "algorand  n={n:3} votes={:3}  certificate {:8.1} µs | raw one-by-one {:8.1} µs | raw batch {:8.1} µs | cert/raw-batch {:.2}",
        cert.votes.len(),
        us(full),
        us(raw_single),
        us(raw_batch),
        us(full) / us(raw_batch)
    );
}

fn resdb_bench(n: usize, scheme: KeyScheme, min: Duration) {
    let signers: Vec<ReplicaSigner> = (0..n as u64)
        .map(|i| ReplicaSigner::from_secret(scheme, derive_secret("bench", "resdb", i)))
        .collect();
    let set = ReplicaSet::new(
        Epoch(0),
        signers
            .iter()
            .enumerate()
            .map(|(i, s)| Replica {
                id: i as u32,
                key: s.public(),
            })
            .collect(),
    )
    .expect("distinct replicas");
    let params = resdb::Params {
        chain_id: ChainId::new("bench").expect("valid id"),
        epoch_length: 1000,
    };
    let header = resdb::BatchHeader {
        seq: Height(1),
        view: 0,
        primary: 0,
        prev_hash: Hash32::ZERO,
        epoch: Epoch(0),
        timestamp: 0,
        request_count: 0,
        request_root: Hash32::ZERO,
        next_replicas: None,
    };
    let q = set.quorum();
    let refs: Vec<(u32, &ReplicaSigner)> = signers
        .iter()
        .take(q)
        .enumerate()
        .map(|(i, s)| (i as u32, s))
        .collect();
    let cert = resdb::certify(&params.chain_id, &header, &refs);
    resdb::verify_commit(&params, &set, &header, &cert).expect("valid certificate");
    let msg = resdb::commit_bytes(&params.chain_id, 0, Height(1), &cert.digest);
    // Raw: the same signatures with keys parsed beforehand (as the certificate check has them).
    enum Pk {
        Secp(k256::ecdsa::VerifyingKey),
        Ed(ed25519_dalek::VerifyingKey),
    }
    let pks: Vec<Pk> = set
        .replicas()
        .iter()
        .map(|r| match r.key {
            resdb::ReplicaKey::Secp256k1(k) => {
                Pk::Secp(k256::ecdsa::VerifyingKey::from_sec1_bytes(&k).expect("valid key"))
            }
            resdb::ReplicaKey::Ed25519(k) => {
                Pk::Ed(ed25519_dalek::VerifyingKey::from_bytes(&k).expect("valid key"))
            }
        })
        .collect();
    let raw = time(
        || {
            cert.sigs.iter().all(|s| match &pks[s.replica as usize] {
                Pk::Secp(k) => ecdsa_verify_key(k, &msg, &s.sig).is_ok(),
                Pk::Ed(k) => k
                    .verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&s.sig))
                    .is_ok(),
            })
        },
        min,
    );
    let full = time(
        || resdb::verify_commit(&params, &set, &header, &cert).is_ok(),
        min,
    );
    println!(
        "resdb     n={n:3} sigs={q:3} {:9}  certificate {:8.1} µs | raw one-by-one {:8.1} µs | cert/raw {:.2}",
        format!("{scheme:?}").to_lowercase(),
        us(full),
        us(raw),
        us(full) / us(raw)
    );
}

fn engine_bench(kind: ChainKind, txs: u64) {
    let id = ChainId::new(format!("bench-{kind}")).expect("valid id");
    let cfg = EngineConfig::devnet(kind, id, "bench", 4, 64);
    let mut e = Engine::new(cfg.clone(), &[]).expect("engine");
    let keys: Vec<_> = (0..64).map(|i| cfg.account_key(i)).collect();
    let encoded: Vec<Vec<u8>> = (0..txs)
        .map(|i| {
            let k = &keys[(i % 64) as usize];
            Tx::sign(
                kind,
                &cfg.chain_id,
                TxBody::Transfer {
                    from: k.address(),
                    to: keys[((i + 1) % 64) as usize].address(),
                    amount: Amount(1),
                    nonce: i / 64 + 1,
                },
                k,
            )
            .to_bytes()
        })
        .collect();
    let start = Instant::now();
    for b in &encoded {
        e.submit(b).expect("valid tx");
    }
    let submit = start.elapsed();
    let start = Instant::now();
    let blk = e.produce_block(1).expect("quorum");
    let produce = start.elapsed();
    assert_eq!(blk.txns().len() as u64, txs);
    println!(
        "engine    {kind:9} {txs} txs: submit {:6.1} µs/tx ({:7.0} tx/s), produce_block {:7.1} ms ({:7.0} tx/s incl. submit)",
        us(submit) / txs as f64,
        txs as f64 / submit.as_secs_f64(),
        produce.as_secs_f64() * 1e3,
        txs as f64 / (submit + produce).as_secs_f64()
    );
}

fn main() {
    let min = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(400),
    );
    for n in [4, 16, 64] {
        algorand_bench(n, min);
    }
    for n in [4, 16, 64] {
        resdb_bench(n, KeyScheme::Secp256k1, min);
    }
    for n in [4, 16, 64] {
        resdb_bench(n, KeyScheme::Ed25519, min);
    }
    engine_bench(ChainKind::Algorand, 4000);
    engine_bench(ChainKind::Resdb, 4000);
}
