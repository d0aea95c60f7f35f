//! Certificate checks of the Algorand-style model: each refusal has a test that fails if the
//! check is removed (the asserted variant would change or the certificate would pass).

use super::*;
use crate::keys::derive_secret;
use crate::types::Stake;

struct Fixture {
    params: Params,
    keys: Vec<SigningKey>,
    set: ValidatorSet,
    header: Header,
}

/// Stakes 1111, 1 and 388 (total 1500, threshold 1112): `{0}` is one unit short, `{0, 1}` is
/// exactly enough.
fn fixture() -> Fixture {
    let keys: Vec<SigningKey> = (0..3)
        .map(|i| SigningKey::from_bytes(&derive_secret("algo-test", "validator", i)))
        .collect();
    let stakes = [1111, 1, 388];
    let set = ValidatorSet::new(
        Epoch(0),
        keys.iter()
            .zip(stakes)
            .map(|(k, s)| Validator {
                vote_key: k.verifying_key().to_bytes(),
                stake: Stake(s),
            })
            .collect(),
    )
    .unwrap();
    let params = Params {
        genesis_id: ChainId::new("algo-test").unwrap(),
        genesis_hash: Hash32([7; 32]),
        epoch_length: 10,
    };
    let header = Header {
        round: Height(1),
        prev: Hash32::ZERO,
        seed: next_seed(&params.genesis_hash, Height(1)),
        txn_root: Hash32::ZERO,
        timestamp: 1_700_000_000_000,
        genesis_id: params.genesis_id.clone(),
        genesis_hash: params.genesis_hash,
        proto: "test".into(),
        txn_counter: 0,
        next_validators: None,
    };
    Fixture {
        params,
        keys,
        set,
        header,
    }
}

fn pk(k: &SigningKey) -> [u8; 32] {
    k.verifying_key().to_bytes()
}

fn cert_by(f: &Fixture, who: &[usize]) -> Certificate {
    let keys: Vec<SigningKey> = who.iter().map(|&i| f.keys[i].clone()).collect();
    certify(&f.header, pk(&f.keys[0]), &keys)
}

fn check(f: &Fixture, c: &Certificate) -> Result<(), VerifyError> {
    verify_certificate(&f.params, &f.set, &f.header, c)
}

#[test]
fn threshold_is_1112_of_1500() {
    let f = fixture();
    assert_eq!(f.set.threshold(), 1112);
    assert_eq!(check(&f, &cert_by(&f, &[0, 1])), Ok(()));
    assert_eq!(check(&f, &cert_by(&f, &[0, 1, 2])), Ok(()));
    assert_eq!(check(&f, &cert_by(&f, &[2, 1, 0])), Ok(()));
}

#[test]
fn weight_just_below_threshold_is_refused() {
    let f = fixture();
    assert_eq!(
        check(&f, &cert_by(&f, &[0])),
        Err(VerifyError::InsufficientWeight {
            got: 1111,
            need: 1112
        })
    );
    assert!(matches!(
        check(&f, &cert_by(&f, &[1, 2])),
        Err(VerifyError::InsufficientWeight { got: 389, .. })
    ));
}

#[test]
fn duplicate_signer_is_refused() {
    let f = fixture();
    // 1111 counted twice would pass the threshold.
    let c = cert_by(&f, &[0, 0]);
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::DuplicateSigner(hex::encode(pk(&f.keys[0]))))
    );
}

#[test]
fn unknown_signer_is_refused() {
    let f = fixture();
    let stranger = SigningKey::from_bytes(&derive_secret("algo-test", "stranger", 0));
    let mut c = cert_by(&f, &[0, 1, 2]);
    c.votes
        .extend(certify(&f.header, pk(&f.keys[0]), std::slice::from_ref(&stranger)).votes);
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::UnknownSigner(hex::encode(pk(&stranger))))
    );
}

#[test]
fn unknown_proposer_is_refused() {
    let f = fixture();
    let stranger = SigningKey::from_bytes(&derive_secret("algo-test", "stranger", 0));
    let c = certify(&f.header, pk(&stranger), &f.keys);
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::UnknownSigner(hex::encode(pk(&stranger))))
    );
}

#[test]
fn bad_signature_is_refused() {
    let f = fixture();
    let mut c = cert_by(&f, &[0, 1, 2]);
    c.votes[1].sig[5] ^= 1;
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::BadSignature(hex::encode(pk(&f.keys[1]))))
    );
    // A valid signature by the right key over another round's vote.
    let mut other = f.header.clone();
    other.round = Height(2);
    let mut c = cert_by(&f, &[0, 1]);
    c.votes[0] = certify(&other, pk(&f.keys[0]), &[f.keys[0].clone()]).votes[0];
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::BadSignature(hex::encode(pk(&f.keys[0]))))
    );
}

#[test]
fn tampered_header_is_refused() {
    let mut f = fixture();
    let c = cert_by(&f, &[0, 1, 2]);
    let good = f.header.clone();
    f.header.round = Height(2);
    assert!(matches!(check(&f, &c), Err(VerifyError::TamperedHeader(_))));
    f.header = good.clone();
    f.header.timestamp += 1;
    assert_eq!(
        check(&f, &c),
        Err(VerifyError::DigestMismatch {
            certified: good.hash(),
            computed: f.header.hash()
        })
    );
}

#[test]
fn digest_mismatch_is_refused_even_when_votes_sign_it() {
    let f = fixture();
    let mut other = f.header.clone();
    other.txn_root = Hash32([1; 32]);
    // Validators really signed `other`; the verifier is shown `f.header`.
    let c = certify(&other, pk(&f.keys[0]), &f.keys);
    assert!(matches!(
        check(&f, &c),
        Err(VerifyError::DigestMismatch { .. })
    ));
}

#[test]
fn wrong_chain_is_refused() {
    let mut f = fixture();
    f.header.genesis_id = ChainId::new("another-chain").unwrap();
    let c = cert_by(&f, &[0, 1, 2]);
    assert!(matches!(check(&f, &c), Err(VerifyError::WrongChain { .. })));
    let mut f = fixture();
    f.header.genesis_hash = Hash32([8; 32]);
    let c = cert_by(&f, &[0, 1, 2]);
    assert!(matches!(check(&f, &c), Err(VerifyError::WrongChain { .. })));
}

#[test]
fn wrong_step_is_refused() {
    let f = fixture();
    let proposal = Proposal {
        block_digest: f.header.hash(),
        proposer: pk(&f.keys[0]),
    };
    let votes = f
        .keys
        .iter()
        .map(|k| VoteSig {
            sender: pk(k),
            sig: k
                .sign(&vote_bytes(&pk(k), f.header.round, 0, 1, &proposal))
                .to_bytes(),
        })
        .collect();
    let c = Certificate {
        round: f.header.round,
        period: 0,
        step: 1,
        proposal,
        votes,
    };
    assert_eq!(check(&f, &c), Err(VerifyError::WrongStep(1)));
}

#[test]
fn header_and_cert_round_trip() {
    let f = fixture();
    let c = cert_by(&f, &[0, 1, 2]);
    let hb = f.header.to_bytes();
    assert_eq!(
        crate::codec::decode_all(&hb, Header::decode).unwrap(),
        f.header
    );
    let mut w = Writer::new();
    c.encode(&mut w);
    let cb = w.finish();
    assert_eq!(
        crate::codec::decode_all(&cb, Certificate::decode).unwrap(),
        c
    );
    let mut w = Writer::new();
    f.set.encode(&mut w);
    let sb = w.finish();
    assert_eq!(
        crate::codec::decode_all(&sb, ValidatorSet::decode).unwrap(),
        f.set
    );
}

#[test]
fn invalid_sets_are_refused() {
    let f = fixture();
    let v = f.set.validators()[0];
    assert!(ValidatorSet::new(Epoch(0), vec![v, v]).is_err());
    assert!(ValidatorSet::new(Epoch(0), vec![]).is_err());
    let zero = Validator {
        stake: Stake(0),
        ..v
    };
    assert!(ValidatorSet::new(Epoch(0), vec![zero]).is_err());
    let big = Validator {
        stake: Stake(u64::MAX),
        ..v
    };
    assert!(ValidatorSet::new(Epoch(0), vec![big, f.set.validators()[1]]).is_err());
}
