//! Commit-certificate checks of the ResDB-style model: each refusal has a test that fails if the
//! check is removed.

use super::*;
use crate::keys::{derive_secret, ecdsa_malleate};

struct Fixture {
    params: Params,
    signers: Vec<ReplicaSigner>,
    set: ReplicaSet,
    header: BatchHeader,
}

/// Four replicas (f = 1, quorum 3): 0–2 secp256k1, 3 ed25519.
fn fixture() -> Fixture {
    let signers: Vec<ReplicaSigner> = (0..4u64)
        .map(|i| {
            let scheme = if i == 3 {
                KeyScheme::Ed25519
            } else {
                KeyScheme::Secp256k1
            };
            ReplicaSigner::from_secret(scheme, derive_secret("resdb-test", "replica", i))
        })
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
    .unwrap();
    let params = Params {
        chain_id: ChainId::new("resdb-test").unwrap(),
        epoch_length: 10,
    };
    let header = BatchHeader {
        seq: Height(1),
        view: 0,
        primary: 0,
        prev_hash: Hash32::ZERO,
        epoch: Epoch(0),
        timestamp: 1_700_000_000_000,
        request_count: 0,
        request_root: Hash32::ZERO,
        next_replicas: None,
    };
    Fixture {
        params,
        signers,
        set,
        header,
    }
}

fn cert_by(f: &Fixture, who: &[u32]) -> CommitCert {
    let s: Vec<(u32, &ReplicaSigner)> = who.iter().map(|&i| (i, &f.signers[i as usize])).collect();
    certify(&f.params.chain_id, &f.header, &s)
}

fn check(f: &Fixture, c: &CommitCert) -> Result<(), VerifyError> {
    verify_commit(&f.params, &f.set, &f.header, c)
}

#[test]
fn quorum_of_mixed_schemes_verifies() {
    let f = fixture();
    assert_eq!(f.set.quorum(), 3);
    assert_eq!(check(&f, &cert_by(&f, &[0, 1, 2])), Ok(()));
    assert_eq!(check(&f, &cert_by(&f, &[3, 1, 0])), Ok(()));
    assert_eq!(check(&f, &cert_by(&f, &[0, 1, 2, 3])), Ok(()));
}

#[test]
fn one_signature_short_is_refused() {
    let f = fixture();
    assert_eq!(
        check(&f, &cert_by(&f, &[0, 3])),
        Err(VerifyError::InsufficientWeight { got: 2, need: 3 })
    );
}

#[test]
fn duplicate_signer_is_refused() {
    let f = fixture();
    assert_eq!(
        check(&f, &cert_by(&f, &[0, 0, 1])),
        Err(VerifyError::DuplicateSigner("replica-0".into()))
    );
}

#[test]
fn unknown_signer_is_refused() {
    let f = fixture();
    let mut c = cert_by(&f, &[0, 1, 2]);
    c.sigs[2].replica = 9;
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::UnknownSigner("replica-9".into()))
    );
}

#[test]
fn bad_signature_is_refused() {
    let f = fixture();
    let mut c = cert_by(&f, &[0, 1, 2]);
    c.sigs[1].sig[7] ^= 1;
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::BadSignature("replica-1".into()))
    );
    let mut c = cert_by(&f, &[0, 1, 3]);
    c.sigs[2].sig[7] ^= 1;
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::BadSignature("replica-3".into()))
    );
    // Replica 1's genuine signature presented as replica 2's.
    let mut c = cert_by(&f, &[0, 1, 2]);
    c.sigs[2].sig = c.sigs[1].sig;
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::BadSignature("replica-2".into()))
    );
}

#[test]
fn high_s_ecdsa_is_refused_as_malleable() {
    let f = fixture();
    let mut c = cert_by(&f, &[0, 1, 2]);
    c.sigs[0].sig = ecdsa_malleate(&c.sigs[0].sig);
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::MalleableSignature("replica-0".into()))
    );
}

#[test]
fn digest_mismatch_is_refused() {
    let f = fixture();
    // Replicas really signed another digest for this (view, seq).
    let other = Hash32([9; 32]);
    let msg = commit_bytes(&f.params.chain_id, 0, Height(1), &other);
    let c = CommitCert {
        chain_id: f.params.chain_id.clone(),
        view: 0,
        seq: Height(1),
        digest: other,
        sigs: (0..3)
            .map(|i| CommitSig {
                replica: i,
                sig: f.signers[i as usize].sign(&msg),
            })
            .collect(),
    };
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::DigestMismatch {
            certified: other,
            computed: f.header.digest()
        })
    );
}

#[test]
fn tampered_header_is_refused() {
    let mut f = fixture();
    let c = cert_by(&f, &[0, 1, 2]);
    let good = f.header.clone();
    f.header.view = 1;
    f.header.primary = f.set.primary(1);
    assert!(matches!(check(&f, &c), Err(VerifyError::TamperedHeader(_))));
    f.header = good.clone();
    f.header.request_count = 5;
    assert!(matches!(
        check(&f, &c),
        Err(VerifyError::DigestMismatch { .. })
    ));
}

#[test]
fn wrong_primary_is_refused() {
    let mut f = fixture();
    f.header.primary = 2;
    let c = cert_by(&f, &[0, 1, 2]);
    assert!(matches!(check(&f, &c), Err(VerifyError::TamperedHeader(_))));
}

#[test]
fn wrong_chain_is_refused() {
    let f = fixture();
    let other = ChainId::new("resdb-other").unwrap();
    let s: Vec<(u32, &ReplicaSigner)> = (0..3).map(|i| (i, &f.signers[i as usize])).collect();
    let c = certify(&other, &f.header, &s);
    assert!(matches!(check(&f, &c), Err(VerifyError::WrongChain { .. })));
}

#[test]
fn wrong_epoch_field_is_refused() {
    let mut f = fixture();
    f.header.epoch = Epoch(1);
    let c = cert_by(&f, &[0, 1, 2]);
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::WrongEpoch {
            expected: Epoch(0),
            got: Epoch(1)
        })
    );
}

#[test]
fn round_trips() {
    let f = fixture();
    let c = cert_by(&f, &[0, 1, 3]);
    let hb = f.header.to_bytes();
    assert_eq!(
        crate::codec::decode_all(&hb, BatchHeader::decode).unwrap(),
        f.header
    );
    let mut w = Writer::new();
    c.encode(&mut w);
    let cb = w.finish();
    assert_eq!(
        crate::codec::decode_all(&cb, CommitCert::decode).unwrap(),
        c
    );
    let mut w = Writer::new();
    f.set.encode(&mut w);
    let sb = w.finish();
    assert_eq!(
        crate::codec::decode_all(&sb, ReplicaSet::decode).unwrap(),
        f.set
    );
}
