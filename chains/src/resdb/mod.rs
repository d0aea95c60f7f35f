//! The ResDB-style chain model: PBFT batches among `n = 3f + 1` equal-weight replicas, each
//! replica's key tagged secp256k1 ECDSA (the default; low-S only) or ed25519, and a SHA-256
//! Merkle tree over the batch's request records.
//!
//! Finality rule: a batch is committed iff a [`CommitCert`] carries signatures from at least
//! `2f + 1` distinct replicas of the batch's epoch over
//! `"RESDB-COMMIT" ‖ str(chain id) ‖ u64 view ‖ u64 seq ‖ digest`, where the verifier recomputes
//! `digest = SHA-256("RESDB-BATCH" ‖ encode(batch header))` itself. The batch header commits to
//! the requests through their Merkle root and count, so the certificate covers the requests, the
//! previous batch, the epoch and the next replica set alike.

use crate::codec::{DecodeError, Reader, Writer};
use crate::error::VerifyError;
use crate::keys::{
    SigFault, ecdsa_sign, ecdsa_verify_key, secp256k1_key, secp256k1_public, sha256,
};
use crate::merkle::MerkleHasher;
use crate::model::{LearnedSets, Model, SignedMessage};
use crate::types::{ChainId, ChainKind, Epoch, Hash32, Height, hex_array};
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// Most replicas a set may have.
pub const MAX_REPLICAS: usize = 1000;

/// The ResDB-style model (a marker type; see [`Model`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resdb;

/// A replica's public key, tagged with its scheme. Serialized (serde) as `secp256k1:<hex>` or
/// `ed25519:<hex>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaKey {
    /// secp256k1 ECDSA (SEC1 compressed).
    Secp256k1([u8; 33]),
    /// ed25519.
    Ed25519([u8; 32]),
}

impl Serialize for ReplicaKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = match self {
            ReplicaKey::Secp256k1(k) => crate::types::Address::Secp256k1(*k),
            ReplicaKey::Ed25519(k) => crate::types::Address::Ed25519(*k),
        };
        s.serialize_str(&a.to_text())
    }
}

impl<'de> Deserialize<'de> for ReplicaKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match crate::types::Address::from_text(&s).map_err(serde::de::Error::custom)? {
            crate::types::Address::Secp256k1(k) => Ok(ReplicaKey::Secp256k1(k)),
            crate::types::Address::Ed25519(k) => Ok(ReplicaKey::Ed25519(k)),
        }
    }
}

impl ReplicaKey {
    fn encode(&self, w: &mut Writer) {
        match self {
            ReplicaKey::Ed25519(k) => {
                w.u8(0x01);
                w.raw(k);
            }
            ReplicaKey::Secp256k1(k) => {
                w.u8(0x02);
                w.raw(k);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let k = match r.u8()? {
            0x01 => ReplicaKey::Ed25519(r.array()?),
            0x02 => ReplicaKey::Secp256k1(r.array()?),
            t => return Err(DecodeError::BadTag(t)),
        };
        k.check()?;
        Ok(k)
    }

    fn check(&self) -> Result<(), DecodeError> {
        self.parse().map(|_| ())
    }

    fn parse(&self) -> Result<ParsedKey, DecodeError> {
        match self {
            ReplicaKey::Ed25519(k) => {
                let vk =
                    ed25519_dalek::VerifyingKey::from_bytes(k).map_err(|_| DecodeError::BadKey)?;
                if vk.is_weak() {
                    return Err(DecodeError::BadKey);
                }
                Ok(ParsedKey::Ed25519(vk))
            }
            ReplicaKey::Secp256k1(k) => k256::ecdsa::VerifyingKey::from_sec1_bytes(k)
                .map(ParsedKey::Secp256k1)
                .map_err(|_| DecodeError::BadKey),
        }
    }
}

/// One replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// Replica id (its position in PBFT).
    pub id: u32,
    /// Its signing key.
    pub key: ReplicaKey,
}

/// The replicas of one epoch, sorted by id, distinct.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSet")]
pub struct ReplicaSet {
    epoch: Epoch,
    replicas: Vec<Replica>,
    /// The keys, parsed once (parallel to `replicas`).
    #[serde(skip)]
    parsed: Vec<ParsedKey>,
}

/// A replica key parsed into curve form (so certificate checks skip point decompression).
#[derive(Clone, Debug, PartialEq, Eq)]
enum ParsedKey {
    Secp256k1(k256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

#[derive(Deserialize)]
struct RawSet {
    epoch: Epoch,
    replicas: Vec<Replica>,
}

impl TryFrom<RawSet> for ReplicaSet {
    type Error = DecodeError;
    fn try_from(r: RawSet) -> Result<Self, DecodeError> {
        ReplicaSet::new(r.epoch, r.replicas)
    }
}

impl ReplicaSet {
    /// Build a set: sorts by id; refuses duplicate ids or keys, invalid keys, and an empty set.
    pub fn new(epoch: Epoch, mut replicas: Vec<Replica>) -> Result<Self, DecodeError> {
        if replicas.is_empty() || replicas.len() > MAX_REPLICAS {
            return Err(DecodeError::Invalid("replica count"));
        }
        replicas.sort_by_key(|r| r.id);
        let mut parsed = Vec::with_capacity(replicas.len());
        for (i, r) in replicas.iter().enumerate() {
            if i > 0 && replicas[i - 1].id == r.id {
                return Err(DecodeError::Invalid("duplicate replica id"));
            }
            if replicas[..i].iter().any(|o| o.key == r.key) {
                return Err(DecodeError::Invalid("duplicate replica key"));
            }
            parsed.push(r.key.parse()?);
        }
        Ok(ReplicaSet {
            epoch,
            replicas,
            parsed,
        })
    }

    /// The epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The replicas, sorted by id.
    pub fn replicas(&self) -> &[Replica] {
        &self.replicas
    }

    /// `f = ⌊(n − 1) / 3⌋`.
    pub fn f(&self) -> usize {
        (self.replicas.len().saturating_sub(1)) / 3
    }

    /// `2f + 1`.
    pub fn quorum(&self) -> usize {
        2 * self.f() + 1
    }

    /// Position of a replica id.
    pub fn position(&self, id: u32) -> Option<usize> {
        self.replicas.binary_search_by_key(&id, |r| r.id).ok()
    }

    /// The primary of `view`: the replica at position `view mod n`.
    pub fn primary(&self, view: u64) -> u32 {
        let n = self.replicas.len().max(1) as u64;
        self.replicas.get((view % n) as usize).map_or(0, |r| r.id)
    }

    /// Canonical encoding: `u64 epoch ‖ count ‖ (u32 id ‖ key)*`, key = `0x02 ‖ 33 bytes`
    /// (secp256k1) or `0x01 ‖ 32 bytes` (ed25519).
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.epoch.0);
        w.count(self.replicas.len());
        for r in &self.replicas {
            w.u32(r.id);
            r.key.encode(w);
        }
    }

    /// Decode and validate (the encoding must already be sorted).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let epoch = Epoch(r.u64()?);
        let n = r.count(37, MAX_REPLICAS)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(Replica {
                id: r.u32()?,
                key: ReplicaKey::decode(r)?,
            });
        }
        if !v.windows(2).all(|w| w[0].id < w[1].id) {
            return Err(DecodeError::Invalid("replicas not sorted"));
        }
        ReplicaSet::new(epoch, v)
    }

    /// `SHA-256("RESDB-SET" ‖ encode(set))`.
    pub fn hash(&self) -> Hash32 {
        let mut w = Writer::with_prefix(b"RESDB-SET");
        self.encode(&mut w);
        sha256(&[w.as_slice()])
    }
}

/// A light client's fixed knowledge of a ResDB-style chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The chain id (signed in every commit message).
    pub chain_id: ChainId,
    /// Batches per epoch.
    pub epoch_length: u64,
}

/// A batch header: everything about a batch except the requests themselves, which it commits
/// through their Merkle root and count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchHeader {
    /// Sequence number (height), from 1.
    pub seq: Height,
    /// PBFT view that committed it.
    pub view: u64,
    /// The view's primary.
    pub primary: u32,
    /// Digest of the previous batch (zero for seq 1).
    pub prev_hash: Hash32,
    /// The epoch (`⌊(seq − 1) / epoch length⌋`).
    pub epoch: Epoch,
    /// Milliseconds since the Unix epoch, as proposed by the primary.
    pub timestamp: u64,
    /// Number of requests.
    pub request_count: u32,
    /// Merkle root over the request records.
    pub request_root: Hash32,
    /// Hash of the next epoch's replica set (last batch of an epoch only).
    pub next_replicas: Option<Hash32>,
}

impl BatchHeader {
    /// Canonical encoding: `u64 seq ‖ u64 view ‖ u32 primary ‖ prev[32] ‖ u64 epoch ‖
    /// u64 timestamp ‖ u32 request_count ‖ root[32] ‖ option(next[32])`.
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.seq.0);
        w.u64(self.view);
        w.u32(self.primary);
        w.raw(&self.prev_hash.0);
        w.u64(self.epoch.0);
        w.u64(self.timestamp);
        w.u32(self.request_count);
        w.raw(&self.request_root.0);
        w.option(self.next_replicas.as_ref(), |w, h| w.raw(&h.0));
    }

    /// The canonical encoding as a vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.finish()
    }

    /// Decode.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BatchHeader {
            seq: Height(r.u64()?),
            view: r.u64()?,
            primary: r.u32()?,
            prev_hash: Hash32(r.array()?),
            epoch: Epoch(r.u64()?),
            timestamp: r.u64()?,
            request_count: r.u32()?,
            request_root: Hash32(r.array()?),
            next_replicas: r.option(|r| r.array().map(Hash32))?,
        })
    }

    /// `SHA-256("RESDB-BATCH" ‖ encode(header))`.
    pub fn digest(&self) -> Hash32 {
        let mut w = Writer::with_prefix(b"RESDB-BATCH");
        self.encode(&mut w);
        sha256(&[w.as_slice()])
    }
}

/// One replica's commit signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitSig {
    /// Replica id.
    pub replica: u32,
    /// 64 bytes: ECDSA `r ‖ s` (low S) or ed25519.
    #[serde(with = "hex_array")]
    pub sig: [u8; 64],
}

/// A commit certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCert {
    /// The chain id.
    pub chain_id: ChainId,
    /// View.
    pub view: u64,
    /// Sequence number.
    pub seq: Height,
    /// The batch digest signed.
    pub digest: Hash32,
    /// The signatures.
    pub sigs: Vec<CommitSig>,
}

impl CommitCert {
    /// Canonical encoding: `str(chain id) ‖ u64 view ‖ u64 seq ‖ digest[32] ‖ count ‖
    /// (u32 replica ‖ sig[64])*`.
    pub fn encode(&self, w: &mut Writer) {
        self.chain_id.encode(w);
        w.u64(self.view);
        w.u64(self.seq.0);
        w.raw(&self.digest.0);
        w.count(self.sigs.len());
        for s in &self.sigs {
            w.u32(s.replica);
            w.raw(&s.sig);
        }
    }

    /// Decode.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let chain_id = ChainId::decode(r)?;
        let view = r.u64()?;
        let seq = Height(r.u64()?);
        let digest = Hash32(r.array()?);
        let n = r.count(68, MAX_REPLICAS)?;
        let mut sigs = Vec::with_capacity(n);
        for _ in 0..n {
            sigs.push(CommitSig {
                replica: r.u32()?,
                sig: r.array()?,
            });
        }
        Ok(CommitCert {
            chain_id,
            view,
            seq,
            digest,
            sigs,
        })
    }
}

/// The bytes a commit signature covers: `"RESDB-COMMIT" ‖ str(chain id) ‖ u64 view ‖ u64 seq ‖
/// digest[32]`. ECDSA signs it with SHA-256; ed25519 signs it directly.
pub fn commit_bytes(chain_id: &ChainId, view: u64, seq: Height, digest: &Hash32) -> Vec<u8> {
    let mut w = Writer::with_prefix(b"RESDB-COMMIT");
    chain_id.encode(&mut w);
    w.u64(view);
    w.u64(seq.0);
    w.raw(&digest.0);
    w.finish()
}

/// A replica's signing key (devnets and tests).
#[derive(Clone, Debug)]
pub enum ReplicaSigner {
    /// secp256k1 ECDSA.
    Secp256k1(Box<k256::ecdsa::SigningKey>),
    /// ed25519.
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl ReplicaSigner {
    /// A signer of the given scheme from 32 secret bytes.
    pub fn from_secret(scheme: KeyScheme, secret: [u8; 32]) -> Self {
        match scheme {
            KeyScheme::Secp256k1 => ReplicaSigner::Secp256k1(Box::new(secp256k1_key(secret))),
            KeyScheme::Ed25519 => {
                ReplicaSigner::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&secret)))
            }
        }
    }

    /// Its public key.
    pub fn public(&self) -> ReplicaKey {
        match self {
            ReplicaSigner::Secp256k1(k) => ReplicaKey::Secp256k1(secp256k1_public(k)),
            ReplicaSigner::Ed25519(k) => ReplicaKey::Ed25519(k.verifying_key().to_bytes()),
        }
    }

    /// Sign `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        match self {
            ReplicaSigner::Secp256k1(k) => ecdsa_sign(k, msg),
            ReplicaSigner::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(msg).to_bytes()
            }
        }
    }
}

/// A replica key scheme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyScheme {
    /// secp256k1 ECDSA (the default).
    #[default]
    Secp256k1,
    /// ed25519.
    Ed25519,
}

/// Sign a commit for `header` with each `(replica id, signer)`.
pub fn certify(
    chain_id: &ChainId,
    header: &BatchHeader,
    signers: &[(u32, &ReplicaSigner)],
) -> CommitCert {
    let digest = header.digest();
    let msg = commit_bytes(chain_id, header.view, header.seq, &digest);
    CommitCert {
        chain_id: chain_id.clone(),
        view: header.view,
        seq: header.seq,
        digest,
        sigs: signers
            .iter()
            .map(|(id, s)| CommitSig {
                replica: *id,
                sig: s.sign(&msg),
            })
            .collect(),
    }
}

/// Check a commit certificate against a batch header and the epoch's replica set (see the
/// module doc). Cheap checks first; ed25519 signatures are batch-verified, ECDSA ones checked one
/// by one (high S refused before any curve arithmetic).
pub fn verify_commit(
    p: &Params,
    set: &ReplicaSet,
    header: &BatchHeader,
    cert: &CommitCert,
) -> Result<(), VerifyError> {
    if cert.chain_id != p.chain_id {
        return Err(VerifyError::WrongChain {
            expected: p.chain_id.to_string(),
            got: cert.chain_id.to_string(),
        });
    }
    let epoch = Epoch::of(header.seq, p.epoch_length);
    if header.epoch != epoch {
        return Err(VerifyError::WrongEpoch {
            expected: epoch,
            got: header.epoch,
        });
    }
    if cert.seq != header.seq || cert.view != header.view {
        return Err(VerifyError::TamperedHeader(
            "certificate view or sequence differs from the batch",
        ));
    }
    if header.primary != set.primary(header.view) {
        return Err(VerifyError::TamperedHeader(
            "primary is not the view's primary",
        ));
    }
    let computed = header.digest();
    if cert.digest != computed {
        return Err(VerifyError::DigestMismatch {
            certified: cert.digest,
            computed,
        });
    }
    let mut seen = vec![false; set.replicas.len()];
    let mut positions = Vec::with_capacity(cert.sigs.len());
    for s in &cert.sigs {
        let i = set
            .position(s.replica)
            .ok_or_else(|| VerifyError::UnknownSigner(format!("replica-{}", s.replica)))?;
        if std::mem::replace(&mut seen[i], true) {
            return Err(VerifyError::DuplicateSigner(format!(
                "replica-{}",
                s.replica
            )));
        }
        positions.push(i);
    }
    if cert.sigs.len() < set.quorum() {
        return Err(VerifyError::InsufficientWeight {
            got: cert.sigs.len() as u64,
            need: set.quorum() as u64,
        });
    }
    let msg = commit_bytes(&p.chain_id, cert.view, cert.seq, &cert.digest);
    let mut ed_keys = Vec::new();
    let mut ed_sigs = Vec::new();
    let mut ed_who = Vec::new();
    for (s, &i) in cert.sigs.iter().zip(&positions) {
        match &set.parsed[i] {
            ParsedKey::Secp256k1(k) => match ecdsa_verify_key(k, &msg, &s.sig) {
                Ok(()) => {}
                Err(SigFault::Malleable) => {
                    return Err(VerifyError::MalleableSignature(format!(
                        "replica-{}",
                        s.replica
                    )));
                }
                Err(SigFault::Bad) => {
                    return Err(VerifyError::BadSignature(format!("replica-{}", s.replica)));
                }
            },
            ParsedKey::Ed25519(vk) => {
                ed_keys.push(*vk);
                ed_sigs.push(ed25519_dalek::Signature::from_bytes(&s.sig));
                ed_who.push(s.replica);
            }
        }
    }
    if !ed_keys.is_empty() {
        let msgs: Vec<&[u8]> = vec![msg.as_slice(); ed_keys.len()];
        if ed25519_dalek::verify_batch(&msgs, &ed_sigs, &ed_keys).is_err() {
            for ((k, s), who) in ed_keys.iter().zip(&ed_sigs).zip(&ed_who) {
                if k.verify_strict(&msg, s).is_err() {
                    return Err(VerifyError::BadSignature(format!("replica-{who}")));
                }
            }
            return Err(VerifyError::BadSignature("batch".into()));
        }
    }
    Ok(())
}

/// The request tree's hashes: `SHA-256(0x00 ‖ record)` and `SHA-256(0x01 ‖ l ‖ r)`.
#[derive(Clone, Copy, Debug)]
pub struct RequestTree;

impl MerkleHasher for RequestTree {
    fn leaf(data: &[u8]) -> Hash32 {
        sha256(&[&[0x00], data])
    }
    fn node(l: &Hash32, r: &Hash32) -> Hash32 {
        sha256(&[&[0x01], &l.0, &r.0])
    }
}

impl Model for Resdb {
    const KIND: ChainKind = ChainKind::Resdb;
    const PROOF_TAG: u8 = 0x02;
    type Params = Params;
    type Header = BatchHeader;
    type Cert = CommitCert;
    type Set = ReplicaSet;
    type Hasher = RequestTree;

    fn chain_id(p: &Params) -> &ChainId {
        &p.chain_id
    }
    fn epoch_length(p: &Params) -> u64 {
        p.epoch_length
    }
    fn height(h: &BatchHeader) -> Height {
        h.seq
    }
    fn timestamp_ms(h: &BatchHeader) -> u64 {
        h.timestamp
    }
    fn tx_root(h: &BatchHeader) -> Hash32 {
        h.request_root
    }
    fn next_set_hash(h: &BatchHeader) -> Option<Hash32> {
        h.next_replicas
    }
    fn header_hash(h: &BatchHeader) -> Hash32 {
        h.digest()
    }
    fn prev_hash(h: &BatchHeader) -> Hash32 {
        h.prev_hash
    }
    fn set_epoch(s: &ReplicaSet) -> Epoch {
        s.epoch
    }
    fn set_hash(s: &ReplicaSet) -> Hash32 {
        s.hash()
    }
    fn verify_cert(
        p: &Params,
        set: &ReplicaSet,
        h: &BatchHeader,
        cert: &CommitCert,
    ) -> Result<(), VerifyError> {
        verify_commit(p, set, h, cert)
    }
    fn signed_messages(p: &Params, _h: &BatchHeader, cert: &CommitCert) -> Vec<SignedMessage> {
        let msg = commit_bytes(&p.chain_id, cert.view, cert.seq, &cert.digest);
        cert.sigs
            .iter()
            .map(|s| SignedMessage {
                signer: format!("replica-{}", s.replica),
                message: msg.clone(),
                signature: s.sig.to_vec(),
            })
            .collect()
    }
    fn encode_header(h: &BatchHeader, w: &mut Writer) {
        h.encode(w);
    }
    fn decode_header(r: &mut Reader<'_>) -> Result<BatchHeader, DecodeError> {
        BatchHeader::decode(r)
    }
    fn encode_cert(c: &CommitCert, w: &mut Writer) {
        c.encode(w);
    }
    fn decode_cert(r: &mut Reader<'_>) -> Result<CommitCert, DecodeError> {
        CommitCert::decode(r)
    }
    fn encode_set(s: &ReplicaSet, w: &mut Writer) {
        s.encode(w);
    }
    fn decode_set(r: &mut Reader<'_>) -> Result<ReplicaSet, DecodeError> {
        ReplicaSet::decode(r)
    }
    fn learned(sets: Vec<ReplicaSet>) -> LearnedSets {
        LearnedSets::Resdb(sets)
    }
    fn unlearn(sets: &LearnedSets) -> Option<&[ReplicaSet]> {
        match sets {
            LearnedSets::Resdb(v) => Some(v),
            LearnedSets::Algorand(_) => None,
        }
    }
}

/// A ResDB-style block (batch header, commit certificate, request records).
pub type Block = crate::model::Block<Resdb>;
/// A ResDB-style light client.
pub type LightClient = crate::model::LightClient<Resdb>;
/// A ResDB-style epoch transition.
pub type Transition = crate::model::Transition<Resdb>;
