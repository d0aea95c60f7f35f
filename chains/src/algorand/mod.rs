//! The Algorand-style chain model: stake-weighted ed25519 cert-step votes over SHA-512/256 block
//! headers, and a SHA-512/256 transaction tree with `TL` leaves and `MA` nodes.
//!
//! Finality rule: a header is final iff a [`Certificate`] for it carries votes (round, period,
//! step 2, proposal = {block digest, proposer}) from distinct validators of the header's epoch,
//! every signature over `"VO" ‖ encode(vote)` verifies, and
//! `Σ stake(signers) · 1500 ≥ 1112 · total stake`.

use crate::codec::{DecodeError, Reader, Writer};
use crate::error::VerifyError;
use crate::keys::sha512_256;
use crate::merkle::MerkleHasher;
use crate::model::{LearnedSets, Model, SignedMessage};
use crate::types::{ChainId, ChainKind, Epoch, Hash32, Height, Stake, hex_array};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// The cert step of Algorand's agreement protocol.
pub const CERT_STEP: u64 = 2;
/// Numerator of the certificate threshold (out of [`THRESHOLD_DEN`]).
pub const THRESHOLD_NUM: u128 = 1112;
/// Denominator of the certificate threshold (the expected committee size).
pub const THRESHOLD_DEN: u128 = 1500;
/// Most validators a set may have.
pub const MAX_VALIDATORS: usize = 10_000;
/// Longest protocol-version string.
pub const MAX_PROTO_LEN: usize = 64;

/// The Algorand-style model (a marker type; see [`Model`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Algorand;

/// One validator: its ed25519 vote key and its stake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validator {
    /// ed25519 public key that signs votes.
    #[serde(with = "hex_array")]
    pub vote_key: [u8; 32],
    /// Vote weight.
    pub stake: Stake,
}

/// The validators of one epoch, sorted by key, distinct, each with positive stake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSet")]
pub struct ValidatorSet {
    epoch: Epoch,
    validators: Vec<Validator>,
    #[serde(skip)]
    total: u64,
    /// The vote keys, decompressed once (parallel to `validators`).
    #[serde(skip)]
    keys: Vec<VerifyingKey>,
}

#[derive(Deserialize)]
struct RawSet {
    epoch: Epoch,
    validators: Vec<Validator>,
}

impl TryFrom<RawSet> for ValidatorSet {
    type Error = DecodeError;
    fn try_from(r: RawSet) -> Result<Self, DecodeError> {
        ValidatorSet::new(r.epoch, r.validators)
    }
}

impl ValidatorSet {
    /// Build a set: sorts by key; refuses duplicates, zero stake, weak or invalid keys, an empty
    /// set, and a total stake above `u64::MAX`.
    pub fn new(epoch: Epoch, mut validators: Vec<Validator>) -> Result<Self, DecodeError> {
        if validators.is_empty() || validators.len() > MAX_VALIDATORS {
            return Err(DecodeError::Invalid("validator count"));
        }
        validators.sort_by_key(|a| a.vote_key);
        let mut total: u64 = 0;
        let mut keys = Vec::with_capacity(validators.len());
        for (i, v) in validators.iter().enumerate() {
            if i > 0 && validators[i - 1].vote_key == v.vote_key {
                return Err(DecodeError::Invalid("duplicate validator"));
            }
            if v.stake.0 == 0 {
                return Err(DecodeError::Invalid("zero stake"));
            }
            let vk = VerifyingKey::from_bytes(&v.vote_key).map_err(|_| DecodeError::BadKey)?;
            if vk.is_weak() {
                return Err(DecodeError::BadKey);
            }
            keys.push(vk);
            total = total
                .checked_add(v.stake.0)
                .ok_or(DecodeError::Invalid("total stake overflows"))?;
        }
        Ok(ValidatorSet {
            epoch,
            validators,
            total,
            keys,
        })
    }

    /// The epoch this set votes in.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The validators, sorted by key.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Sum of all stake.
    pub fn total_stake(&self) -> Stake {
        Stake(self.total)
    }

    /// Position of a vote key in the set.
    pub fn position(&self, key: &[u8; 32]) -> Option<usize> {
        self.validators
            .binary_search_by(|v| v.vote_key.cmp(key))
            .ok()
    }

    /// The least stake that certifies: `⌈1112 · total / 1500⌉`.
    pub fn threshold(&self) -> u64 {
        let need = (THRESHOLD_NUM * u128::from(self.total)).div_ceil(THRESHOLD_DEN);
        u64::try_from(need).unwrap_or(u64::MAX)
    }

    /// Canonical encoding: `u64 epoch ‖ count ‖ (key[32] ‖ u64 stake)*`.
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.epoch.0);
        w.count(self.validators.len());
        for v in &self.validators {
            w.raw(&v.vote_key);
            w.u64(v.stake.0);
        }
    }

    /// Decode and validate (the encoding must already be sorted).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let epoch = Epoch(r.u64()?);
        let n = r.count(40, MAX_VALIDATORS)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(Validator {
                vote_key: r.array()?,
                stake: Stake(r.u64()?),
            });
        }
        if !v.windows(2).all(|w| w[0].vote_key < w[1].vote_key) {
            return Err(DecodeError::Invalid("validators not sorted"));
        }
        ValidatorSet::new(epoch, v)
    }

    /// `SHA-512/256("VS" ‖ encode(set))`.
    pub fn hash(&self) -> Hash32 {
        let mut w = Writer::with_prefix(b"VS");
        self.encode(&mut w);
        sha512_256(&[w.as_slice()])
    }
}

/// A light client's fixed knowledge of an Algorand-style chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The genesis id (the chain id).
    pub genesis_id: ChainId,
    /// The genesis hash.
    pub genesis_hash: Hash32,
    /// Rounds per epoch.
    pub epoch_length: u64,
}

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Round (height), from 1.
    pub round: Height,
    /// Hash of the previous header (zero for round 1).
    pub prev: Hash32,
    /// Seed: `SHA-512/256("SD" ‖ previous seed ‖ u64 round)`, the genesis hash seeding round 1.
    pub seed: Hash32,
    /// Root of the transaction tree.
    pub txn_root: Hash32,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The chain's genesis id.
    pub genesis_id: ChainId,
    /// The chain's genesis hash.
    pub genesis_hash: Hash32,
    /// Protocol version string.
    pub proto: String,
    /// Transactions committed up to and including this block.
    pub txn_counter: u64,
    /// Hash of the next epoch's validator set (last round of an epoch only).
    pub next_validators: Option<Hash32>,
}

impl Header {
    /// Canonical encoding (see `docs/CHAINS.md`).
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.round.0);
        w.raw(&self.prev.0);
        w.raw(&self.seed.0);
        w.raw(&self.txn_root.0);
        w.u64(self.timestamp);
        self.genesis_id.encode(w);
        w.raw(&self.genesis_hash.0);
        w.str(&self.proto);
        w.u64(self.txn_counter);
        w.option(self.next_validators.as_ref(), |w, h| w.raw(&h.0));
    }

    /// The canonical encoding as a vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.finish()
    }

    /// Decode.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Header {
            round: Height(r.u64()?),
            prev: Hash32(r.array()?),
            seed: Hash32(r.array()?),
            txn_root: Hash32(r.array()?),
            timestamp: r.u64()?,
            genesis_id: ChainId::decode(r)?,
            genesis_hash: Hash32(r.array()?),
            proto: r.string(MAX_PROTO_LEN)?,
            txn_counter: r.u64()?,
            next_validators: r.option(|r| r.array().map(Hash32))?,
        })
    }

    /// `SHA-512/256("BH" ‖ encode(header))`.
    pub fn hash(&self) -> Hash32 {
        let mut w = Writer::with_prefix(b"BH");
        self.encode(&mut w);
        sha512_256(&[w.as_slice()])
    }
}

/// The value a certificate's votes agree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Hash of the proposed header.
    pub block_digest: Hash32,
    /// Vote key of the original proposer.
    #[serde(with = "hex_array")]
    pub proposer: [u8; 32],
}

/// One vote in a certificate: the sender and its signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteSig {
    /// The sender's vote key.
    #[serde(with = "hex_array")]
    pub sender: [u8; 32],
    /// ed25519 signature over [`vote_bytes`].
    #[serde(with = "hex_array")]
    pub sig: [u8; 64],
}

/// A certificate: cert-step votes for one proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// Round voted on.
    pub round: Height,
    /// Agreement period.
    pub period: u64,
    /// Step (must be [`CERT_STEP`]).
    pub step: u64,
    /// The proposal.
    pub proposal: Proposal,
    /// The votes.
    pub votes: Vec<VoteSig>,
}

impl Certificate {
    /// Canonical encoding: `u64 round ‖ u64 period ‖ u64 step ‖ digest[32] ‖ proposer[32] ‖
    /// count ‖ (sender[32] ‖ sig[64])*`.
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.round.0);
        w.u64(self.period);
        w.u64(self.step);
        w.raw(&self.proposal.block_digest.0);
        w.raw(&self.proposal.proposer);
        w.count(self.votes.len());
        for v in &self.votes {
            w.raw(&v.sender);
            w.raw(&v.sig);
        }
    }

    /// Decode.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let round = Height(r.u64()?);
        let period = r.u64()?;
        let step = r.u64()?;
        let proposal = Proposal {
            block_digest: Hash32(r.array()?),
            proposer: r.array()?,
        };
        let n = r.count(96, MAX_VALIDATORS)?;
        let mut votes = Vec::with_capacity(n);
        for _ in 0..n {
            votes.push(VoteSig {
                sender: r.array()?,
                sig: r.array()?,
            });
        }
        Ok(Certificate {
            round,
            period,
            step,
            proposal,
            votes,
        })
    }
}

/// The bytes a vote signature covers: `"VO" ‖ sender[32] ‖ u64 round ‖ u64 period ‖ u64 step ‖
/// block_digest[32] ‖ proposer[32]`.
pub fn vote_bytes(
    sender: &[u8; 32],
    round: Height,
    period: u64,
    step: u64,
    proposal: &Proposal,
) -> Vec<u8> {
    let mut w = Writer::with_prefix(b"VO");
    w.raw(sender);
    w.u64(round.0);
    w.u64(period);
    w.u64(step);
    w.raw(&proposal.block_digest.0);
    w.raw(&proposal.proposer);
    w.finish()
}

/// Sign a cert-step vote for `header` (period 0) with each key; the certificate.
pub fn certify(header: &Header, proposer: [u8; 32], keys: &[SigningKey]) -> Certificate {
    let proposal = Proposal {
        block_digest: header.hash(),
        proposer,
    };
    let votes = keys
        .iter()
        .map(|k| {
            let sender = k.verifying_key().to_bytes();
            let msg = vote_bytes(&sender, header.round, 0, CERT_STEP, &proposal);
            VoteSig {
                sender,
                sig: k.sign(&msg).to_bytes(),
            }
        })
        .collect();
    Certificate {
        round: header.round,
        period: 0,
        step: CERT_STEP,
        proposal,
        votes,
    }
}

/// Check a certificate against a header and the epoch's validator set (see the module doc).
///
/// Cheap checks come first; all signatures are then checked in one ed25519 batch verification,
/// falling back to one-by-one only to name the culprit when the batch fails.
pub fn verify_certificate(
    p: &Params,
    set: &ValidatorSet,
    header: &Header,
    cert: &Certificate,
) -> Result<(), VerifyError> {
    if header.genesis_id != p.genesis_id || header.genesis_hash != p.genesis_hash {
        return Err(VerifyError::WrongChain {
            expected: format!("{}/{}", p.genesis_id, p.genesis_hash),
            got: format!("{}/{}", header.genesis_id, header.genesis_hash),
        });
    }
    if cert.step != CERT_STEP {
        return Err(VerifyError::WrongStep(cert.step));
    }
    if cert.round != header.round {
        return Err(VerifyError::TamperedHeader(
            "certificate round differs from header round",
        ));
    }
    let computed = header.hash();
    if cert.proposal.block_digest != computed {
        return Err(VerifyError::DigestMismatch {
            certified: cert.proposal.block_digest,
            computed,
        });
    }
    if set.position(&cert.proposal.proposer).is_none() {
        return Err(VerifyError::UnknownSigner(hex::encode(
            cert.proposal.proposer,
        )));
    }
    let mut seen = vec![false; set.validators.len()];
    let mut weight: u64 = 0;
    let mut keys = Vec::with_capacity(cert.votes.len());
    for v in &cert.votes {
        let i = set
            .position(&v.sender)
            .ok_or_else(|| VerifyError::UnknownSigner(hex::encode(v.sender)))?;
        if std::mem::replace(&mut seen[i], true) {
            return Err(VerifyError::DuplicateSigner(hex::encode(v.sender)));
        }
        weight = weight.saturating_add(set.validators[i].stake.0);
        keys.push(set.keys[i]);
    }
    let need = set.threshold();
    if u128::from(weight) * THRESHOLD_DEN < THRESHOLD_NUM * u128::from(set.total) {
        return Err(VerifyError::InsufficientWeight { got: weight, need });
    }
    let msgs: Vec<Vec<u8>> = cert
        .votes
        .iter()
        .map(|v| {
            vote_bytes(
                &v.sender,
                cert.round,
                cert.period,
                cert.step,
                &cert.proposal,
            )
        })
        .collect();
    let sigs: Vec<Signature> = cert
        .votes
        .iter()
        .map(|v| Signature::from_bytes(&v.sig))
        .collect();
    let msg_refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    if ed25519_dalek::verify_batch(&msg_refs, &sigs, &keys).is_ok() {
        return Ok(());
    }
    for ((v, k), (m, s)) in cert.votes.iter().zip(&keys).zip(msgs.iter().zip(&sigs)) {
        if k.verify_strict(m, s).is_err() {
            return Err(VerifyError::BadSignature(hex::encode(v.sender)));
        }
    }
    Err(VerifyError::BadSignature("batch".into()))
}

/// The transaction tree's hashes: `SHA-512/256("TL" ‖ record)` and `SHA-512/256("MA" ‖ l ‖ r)`.
#[derive(Clone, Copy, Debug)]
pub struct TxTree;

impl MerkleHasher for TxTree {
    fn leaf(data: &[u8]) -> Hash32 {
        sha512_256(&[b"TL", data])
    }
    fn node(l: &Hash32, r: &Hash32) -> Hash32 {
        sha512_256(&[b"MA", &l.0, &r.0])
    }
}

impl Model for Algorand {
    const KIND: ChainKind = ChainKind::Algorand;
    const PROOF_TAG: u8 = 0x01;
    type Params = Params;
    type Header = Header;
    type Cert = Certificate;
    type Set = ValidatorSet;
    type Hasher = TxTree;

    fn chain_id(p: &Params) -> &ChainId {
        &p.genesis_id
    }
    fn epoch_length(p: &Params) -> u64 {
        p.epoch_length
    }
    fn height(h: &Header) -> Height {
        h.round
    }
    fn timestamp_ms(h: &Header) -> u64 {
        h.timestamp
    }
    fn tx_root(h: &Header) -> Hash32 {
        h.txn_root
    }
    fn next_set_hash(h: &Header) -> Option<Hash32> {
        h.next_validators
    }
    fn header_hash(h: &Header) -> Hash32 {
        h.hash()
    }
    fn prev_hash(h: &Header) -> Hash32 {
        h.prev
    }
    fn set_epoch(s: &ValidatorSet) -> Epoch {
        s.epoch
    }
    fn set_hash(s: &ValidatorSet) -> Hash32 {
        s.hash()
    }
    fn verify_cert(
        p: &Params,
        set: &ValidatorSet,
        h: &Header,
        cert: &Certificate,
    ) -> Result<(), VerifyError> {
        verify_certificate(p, set, h, cert)
    }
    fn signed_messages(_p: &Params, _h: &Header, cert: &Certificate) -> Vec<SignedMessage> {
        cert.votes
            .iter()
            .map(|v| SignedMessage {
                signer: hex::encode(v.sender),
                message: vote_bytes(
                    &v.sender,
                    cert.round,
                    cert.period,
                    cert.step,
                    &cert.proposal,
                ),
                signature: v.sig.to_vec(),
            })
            .collect()
    }
    fn encode_header(h: &Header, w: &mut Writer) {
        h.encode(w);
    }
    fn decode_header(r: &mut Reader<'_>) -> Result<Header, DecodeError> {
        Header::decode(r)
    }
    fn encode_cert(c: &Certificate, w: &mut Writer) {
        c.encode(w);
    }
    fn decode_cert(r: &mut Reader<'_>) -> Result<Certificate, DecodeError> {
        Certificate::decode(r)
    }
    fn encode_set(s: &ValidatorSet, w: &mut Writer) {
        s.encode(w);
    }
    fn decode_set(r: &mut Reader<'_>) -> Result<ValidatorSet, DecodeError> {
        ValidatorSet::decode(r)
    }
    fn learned(sets: Vec<ValidatorSet>) -> LearnedSets {
        LearnedSets::Algorand(sets)
    }
    fn unlearn(sets: &LearnedSets) -> Option<&[ValidatorSet]> {
        match sets {
            LearnedSets::Algorand(v) => Some(v),
            LearnedSets::Resdb(_) => None,
        }
    }
}

/// The next seed: `SHA-512/256("SD" ‖ previous seed ‖ u64 round)`.
pub fn next_seed(prev_seed: &Hash32, round: Height) -> Hash32 {
    sha512_256(&[b"SD", &prev_seed.0, &round.0.to_be_bytes()])
}

/// An Algorand-style block.
pub type Block = crate::model::Block<Algorand>;
/// An Algorand-style light client.
pub type LightClient = crate::model::LightClient<Algorand>;
/// An Algorand-style epoch transition.
pub type Transition = crate::model::Transition<Algorand>;
