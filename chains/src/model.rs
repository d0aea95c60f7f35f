//! What both chain models have in common: certified blocks, epoch transitions, the light client
//! that follows a chain's validator sets adjacently, and the export proof that lets the other
//! chain verify one bridge transfer.
//!
//! A chain model implements [`Model`]: its header, certificate and validator-set types, their
//! canonical encodings, and its certificate check. Everything else here is written once.

use crate::codec::{DecodeError, Reader, Writer, decode_all};
use crate::error::VerifyError;
use crate::merkle::{MerkleHasher, MerkleProof, Tree};
use crate::tx::{BridgeTransfer, TxRecord};
use crate::types::{ChainId, ChainKind, Epoch, ExportIndex, Hash32, Height, TransferId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// Bound shared by the model's value types.
pub trait Value: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync {}
impl<T: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync> Value for T {}

/// One chain model: its types, encodings and certificate rule.
pub trait Model: 'static + Sized + Send + Sync + Debug + Clone + PartialEq {
    /// Which model.
    const KIND: ChainKind;
    /// First byte of this model's export proofs.
    const PROOF_TAG: u8;
    /// The chain's identity and fixed rules (what a light client is configured with).
    type Params: Value;
    /// A block header (the certified part of a block).
    type Header: Value;
    /// A certificate of finality.
    type Cert: Value;
    /// A validator set for one epoch.
    type Set: Value;
    /// The transaction tree's hash functions.
    type Hasher: MerkleHasher;

    /// The chain's id.
    fn chain_id(p: &Self::Params) -> &ChainId;
    /// Blocks per epoch.
    fn epoch_length(p: &Self::Params) -> u64;
    /// The header's height.
    fn height(h: &Self::Header) -> Height;
    /// The header's timestamp (milliseconds since the Unix epoch on the devnets).
    fn timestamp_ms(h: &Self::Header) -> u64;
    /// The header's commitment to the block's transaction records.
    fn tx_root(h: &Self::Header) -> Hash32;
    /// The hash of the next epoch's validator set, if the header commits one.
    fn next_set_hash(h: &Self::Header) -> Option<Hash32>;
    /// The header's identity (what the next header's `prev` names).
    fn header_hash(h: &Self::Header) -> Hash32;
    /// The previous header's identity.
    fn prev_hash(h: &Self::Header) -> Hash32;
    /// The epoch a set is for.
    fn set_epoch(s: &Self::Set) -> Epoch;
    /// The set's hash (what a header commits).
    fn set_hash(s: &Self::Set) -> Hash32;
    /// Check `cert` certifies `h` under `set` (the set of the header's epoch), including the
    /// chain identity and the header's own epoch fields.
    fn verify_cert(
        p: &Self::Params,
        set: &Self::Set,
        h: &Self::Header,
        cert: &Self::Cert,
    ) -> Result<(), VerifyError>;
    /// The exact bytes each certificate signature covers, with the signer's name.
    fn signed_messages(p: &Self::Params, h: &Self::Header, cert: &Self::Cert)
    -> Vec<SignedMessage>;

    /// Canonical header encoding.
    fn encode_header(h: &Self::Header, w: &mut Writer);
    /// Decode a header.
    fn decode_header(r: &mut Reader<'_>) -> Result<Self::Header, DecodeError>;
    /// Canonical certificate encoding.
    fn encode_cert(c: &Self::Cert, w: &mut Writer);
    /// Decode a certificate.
    fn decode_cert(r: &mut Reader<'_>) -> Result<Self::Cert, DecodeError>;
    /// Canonical set encoding.
    fn encode_set(s: &Self::Set, w: &mut Writer);
    /// Decode a set (validating its structure).
    fn decode_set(r: &mut Reader<'_>) -> Result<Self::Set, DecodeError>;
    /// Wrap newly learned sets in the model-independent enum.
    fn learned(sets: Vec<Self::Set>) -> LearnedSets;
    /// Unwrap sets of this model.
    fn unlearn(sets: &LearnedSets) -> Option<&[Self::Set]>;
}

/// One certificate signature's signer and the exact bytes it covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedMessage {
    /// The signer (hex public key, or `replica-<id>`).
    pub signer: String,
    /// The signed bytes.
    #[serde(with = "crate::types::hex_vec")]
    pub message: Vec<u8>,
    /// The signature.
    #[serde(with = "crate::types::hex_vec")]
    pub signature: Vec<u8>,
}

/// A finalized block: the header, its certificate, the transaction records the header commits,
/// and (on the last block of an epoch) the next epoch's validator set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Block<M: Model> {
    /// The certified header.
    pub header: M::Header,
    /// Its certificate.
    pub cert: M::Cert,
    /// The transaction records, in order (the leaves of the transaction tree).
    pub txns: Vec<TxRecord>,
    /// The next epoch's set, iff this is the last block of an epoch.
    pub next_set: Option<M::Set>,
}

impl<M: Model> Block<M> {
    /// The block's height.
    pub fn height(&self) -> Height {
        M::height(&self.header)
    }

    /// The header's hash.
    pub fn hash(&self) -> Hash32 {
        M::header_hash(&self.header)
    }

    /// The canonical header bytes.
    pub fn encoded_header(&self) -> Vec<u8> {
        let mut w = Writer::new();
        M::encode_header(&self.header, &mut w);
        w.finish()
    }

    /// The canonical certificate bytes.
    pub fn encoded_cert(&self) -> Vec<u8> {
        let mut w = Writer::new();
        M::encode_cert(&self.cert, &mut w);
        w.finish()
    }

    /// The exact bytes each certificate signature covers.
    pub fn signed_messages(&self, p: &M::Params) -> Vec<SignedMessage> {
        M::signed_messages(p, &self.header, &self.cert)
    }

    /// The transaction tree over this block's records.
    pub fn tree(&self) -> Tree<M::Hasher> {
        Tree::new(
            self.txns
                .iter()
                .map(|r| M::Hasher::leaf(&r.to_bytes()))
                .collect(),
        )
    }
}

/// The certified block that ends epoch `e`, with the set of epoch `e + 1` it commits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Transition<M: Model> {
    /// The last header of the epoch.
    pub header: M::Header,
    /// Its certificate (by epoch `e`'s set).
    pub cert: M::Cert,
    /// The set of epoch `e + 1`.
    pub next_set: M::Set,
}

impl<M: Model> Transition<M> {
    fn encode(&self, w: &mut Writer) {
        M::encode_header(&self.header, w);
        M::encode_cert(&self.cert, w);
        M::encode_set(&self.next_set, w);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Transition {
            header: M::decode_header(r)?,
            cert: M::decode_cert(r)?,
            next_set: M::decode_set(r)?,
        })
    }
}

/// Validator sets learned while verifying, in either model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LearnedSets {
    /// Algorand-style validator sets.
    Algorand(Vec<crate::algorand::ValidatorSet>),
    /// ResDB-style replica sets.
    Resdb(Vec<crate::resdb::ReplicaSet>),
}

impl LearnedSets {
    /// Whether nothing was learned.
    pub fn is_empty(&self) -> bool {
        match self {
            LearnedSets::Algorand(v) => v.is_empty(),
            LearnedSets::Resdb(v) => v.is_empty(),
        }
    }
}

/// A light client of one chain, hosted by another (`local_chain`): the source chain's identity
/// and every validator set it has verified, by epoch.
///
/// It starts from the genesis set (epoch 0, trusted) and learns set `e + 1` only from a
/// [`Transition`] certified by set `e` (adjacent verification). A block from an epoch it has no
/// set for is refused with [`VerifyError::UnreachableEpoch`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct LightClient<M: Model> {
    /// The followed chain's identity and rules.
    pub params: M::Params,
    /// The chain this client lives on (transfers must be addressed to it).
    pub local_chain: ChainId,
    sets: BTreeMap<Epoch, M::Set>,
}

/// The result of verifying one exported entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifiedTransfer {
    /// The proven transfer.
    pub transfer: BridgeTransfer,
    /// Its id.
    pub id: TransferId,
    /// The source block's height.
    pub height: Height,
    /// The source block's epoch.
    pub epoch: Epoch,
    /// The source block's timestamp (milliseconds since the Unix epoch on the devnets).
    pub timestamp_ms: u64,
    /// Validator sets the proof's transitions taught (adopt them with `adopt`).
    pub learned: LearnedSets,
}

impl<M: Model> LightClient<M> {
    /// A client trusting `genesis` as the set of epoch 0.
    pub fn new(params: M::Params, local_chain: ChainId, genesis: M::Set) -> Self {
        let mut sets = BTreeMap::new();
        sets.insert(Epoch(0), genesis);
        LightClient {
            params,
            local_chain,
            sets,
        }
    }

    /// The newest epoch with a verified set.
    pub fn latest_epoch(&self) -> Epoch {
        self.sets.keys().next_back().copied().unwrap_or(Epoch(0))
    }

    /// The verified set of `epoch`.
    pub fn set(&self, epoch: Epoch) -> Option<&M::Set> {
        self.sets.get(&epoch)
    }

    /// Verify that `cert` finalizes `header`, with the set of the header's epoch taken from
    /// this client or from `extra` (sets learned earlier in the same proof).
    fn verify_header(
        &self,
        extra: &[M::Set],
        header: &M::Header,
        cert: &M::Cert,
    ) -> Result<Epoch, VerifyError> {
        let len = M::epoch_length(&self.params);
        let height = M::height(header);
        if height.0 == 0 {
            return Err(VerifyError::TamperedHeader(
                "height 0 is the genesis, never certified",
            ));
        }
        let epoch = Epoch::of(height, len);
        let set = self
            .sets
            .get(&epoch)
            .or_else(|| extra.iter().find(|s| M::set_epoch(s) == epoch))
            .ok_or(VerifyError::UnreachableEpoch {
                block: epoch,
                known: extra.last().map_or(self.latest_epoch(), M::set_epoch),
            })?;
        M::verify_cert(&self.params, set, header, cert)?;
        if height.is_epoch_end(len) != M::next_set_hash(header).is_some() {
            return Err(VerifyError::TamperedHeader(
                "next validator set committed exactly on the last block of an epoch",
            ));
        }
        Ok(epoch)
    }

    /// Verify transitions in order, returning the sets learned (those past the client's latest).
    fn verify_transitions(&self, ts: &[Transition<M>]) -> Result<Vec<M::Set>, VerifyError> {
        let mut learned: Vec<M::Set> = Vec::new();
        for t in ts {
            let latest = learned
                .last()
                .map_or(self.latest_epoch(), |s| M::set_epoch(s));
            let len = M::epoch_length(&self.params);
            let e = Epoch::of(M::height(&t.header), len);
            if e < latest {
                // Already known: nothing to learn from it.
                continue;
            }
            if e > latest {
                return Err(VerifyError::WrongEpoch {
                    expected: latest,
                    got: e,
                });
            }
            self.verify_header(&learned, &t.header, &t.cert)?;
            if M::next_set_hash(&t.header) != Some(M::set_hash(&t.next_set)) {
                return Err(VerifyError::TamperedBody(
                    "next validator set does not match the certified header",
                ));
            }
            let next = Epoch(e.0.saturating_add(1));
            if M::set_epoch(&t.next_set) != next {
                return Err(VerifyError::WrongEpoch {
                    expected: next,
                    got: M::set_epoch(&t.next_set),
                });
            }
            learned.push(t.next_set.clone());
        }
        Ok(learned)
    }

    /// Verify a transition and adopt the set it commits.
    pub fn advance(&mut self, t: &Transition<M>) -> Result<(), VerifyError> {
        let learned = self.verify_transitions(std::slice::from_ref(t))?;
        self.adopt_sets(learned);
        Ok(())
    }

    fn adopt_sets(&mut self, sets: Vec<M::Set>) {
        for s in sets {
            let e = M::set_epoch(&s);
            if e.0 == self.latest_epoch().0.saturating_add(1) {
                self.sets.insert(e, s);
            }
        }
    }

    /// Adopt sets learned by [`LightClient::verify_export`] (those not adjacent are ignored).
    pub fn adopt(&mut self, learned: &LearnedSets) {
        if let Some(s) = M::unlearn(learned) {
            self.adopt_sets(s.to_vec());
        }
    }

    /// Verify a whole block: its certificate, its transaction root, and its next set.
    pub fn verify_block(&self, block: &Block<M>) -> Result<(), VerifyError> {
        let epoch = self.verify_header(&[], &block.header, &block.cert)?;
        if block.tree().root() != M::tx_root(&block.header) {
            return Err(VerifyError::TamperedBody(
                "transactions do not match the certified root",
            ));
        }
        match (&block.next_set, M::next_set_hash(&block.header)) {
            (None, None) => Ok(()),
            (Some(s), Some(h)) if M::set_hash(s) == h => {
                let next = Epoch(epoch.0.saturating_add(1));
                if M::set_epoch(s) != next {
                    return Err(VerifyError::WrongEpoch {
                        expected: next,
                        got: M::set_epoch(s),
                    });
                }
                Ok(())
            }
            _ => Err(VerifyError::TamperedBody(
                "next validator set does not match the certified header",
            )),
        }
    }

    /// Verify that a block was finalized and, if it ends an epoch, adopt the next set.
    pub fn follow_block(&mut self, block: &Block<M>) -> Result<(), VerifyError> {
        self.verify_block(block)?;
        if let Some(s) = &block.next_set {
            self.adopt_sets(vec![s.clone()]);
        }
        Ok(())
    }

    /// Verify exported entry `k` (`payload`, `proof`) of the followed chain. Pure: sets the
    /// proof's transitions teach are returned in [`VerifiedTransfer::learned`], not adopted.
    pub fn verify_export(
        &self,
        k: ExportIndex,
        payload: &[u8],
        proof: &[u8],
    ) -> Result<VerifiedTransfer, VerifyError> {
        let p = ExportProof::<M>::from_bytes(proof)?;
        let learned = self.verify_transitions(&p.transitions)?;
        let epoch = self.verify_header(&learned, &p.header, &p.cert)?;
        let record_bytes = p.record.to_bytes();
        if !p
            .path
            .verify::<M::Hasher>(&record_bytes, &M::tx_root(&p.header))
        {
            return Err(VerifyError::TamperedBody(
                "inclusion proof does not reach the certified root",
            ));
        }
        let chain = M::chain_id(&self.params);
        let transfer = BridgeTransfer::from_record(M::KIND, chain, &p.record)
            .ok_or(VerifyError::NotBridgeOut)?;
        if transfer.k != k {
            return Err(VerifyError::WrongIndex {
                claimed: k.0,
                actual: transfer.k.0,
            });
        }
        if transfer.dest_chain != self.local_chain {
            return Err(VerifyError::WrongDestination {
                expected: self.local_chain.to_string(),
                got: transfer.dest_chain.to_string(),
            });
        }
        if payload != transfer.to_bytes().as_slice() {
            return Err(VerifyError::PayloadMismatch);
        }
        Ok(VerifiedTransfer {
            id: transfer.id(),
            transfer,
            height: M::height(&p.header),
            epoch,
            timestamp_ms: M::timestamp_ms(&p.header),
            learned: M::learned(learned),
        })
    }
}

/// The proof bytes of one exported entry: the epoch transitions the destination may need, the
/// certified header of the block holding the transfer, and the record's inclusion proof.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct ExportProof<M: Model> {
    /// Transitions committing the epochs after the previous entry's epoch up to this block's.
    pub transitions: Vec<Transition<M>>,
    /// The header of the block holding the transfer.
    pub header: M::Header,
    /// Its certificate.
    pub cert: M::Cert,
    /// The `BridgeOut` record (the leaf).
    pub record: TxRecord,
    /// The record's inclusion proof against the header's root.
    pub path: MerkleProof,
}

/// Most transitions one proof may carry.
pub const MAX_TRANSITIONS: usize = 4096;

impl<M: Model> ExportProof<M> {
    /// Canonical encoding: `u8 tag ‖ count ‖ transitions ‖ header ‖ cert ‖ bytes(record) ‖
    /// merkle proof`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(M::PROOF_TAG);
        w.count(self.transitions.len());
        for t in &self.transitions {
            t.encode(&mut w);
        }
        M::encode_header(&self.header, &mut w);
        M::encode_cert(&self.cert, &mut w);
        w.bytes(&self.record.to_bytes());
        self.path.encode(&mut w);
        w.finish()
    }

    /// Decode (see [`ExportProof::to_bytes`]).
    pub fn from_bytes(b: &[u8]) -> Result<Self, VerifyError> {
        let mut r = Reader::new(b);
        let tag = r.u8()?;
        if tag != M::PROOF_TAG {
            return Err(VerifyError::WrongKind);
        }
        let proof = (|| {
            let n = r.count(1, MAX_TRANSITIONS)?;
            let mut transitions = Vec::with_capacity(n);
            for _ in 0..n {
                transitions.push(Transition::<M>::decode(&mut r)?);
            }
            let header = M::decode_header(&mut r)?;
            let cert = M::decode_cert(&mut r)?;
            let rec = r.bytes(crate::tx::MAX_BRIDGE_BYTES * 3)?;
            let record = decode_all(rec, TxRecord::decode)?;
            let path = MerkleProof::decode(&mut r)?;
            Ok::<_, DecodeError>(ExportProof {
                transitions,
                header,
                cert,
                record,
                path,
            })
        })()?;
        r.finish()?;
        Ok(proof)
    }
}

/// One exported entry: `(k, payload, proof)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportEntry {
    /// Stream index (dense from 0).
    pub k: ExportIndex,
    /// The encoded [`BridgeTransfer`].
    #[serde(with = "crate::types::hex_vec")]
    pub payload: Vec<u8>,
    /// The encoded [`ExportProof`].
    #[serde(with = "crate::types::hex_vec")]
    pub proof: Vec<u8>,
}

/// Why a chain could not be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// Blocks must be pushed in height order without gaps.
    #[error("expected block {expected}, got {got}")]
    OutOfOrder {
        /// The next height expected.
        expected: Height,
        /// The height pushed.
        got: Height,
    },
    /// The chain's export indices are not dense.
    #[error("export index gap: expected {expected}, block assigns {got}")]
    IndexGap {
        /// The next index expected.
        expected: ExportIndex,
        /// The index found.
        got: ExportIndex,
    },
    /// A block of the other chain model was pushed.
    #[error("block of the wrong chain kind")]
    WrongKind,
    /// A record carries an export index but is not a `BridgeOut`.
    #[error("export index on a transaction that is not a bridge-out")]
    NotBridgeOut,
    /// A record's inclusion proof could not be built.
    #[error("cannot build inclusion proof")]
    Tree,
}

/// How many entries back an export proof's epoch transitions reach (see [`Exporter`]).
pub const EXPORT_WINDOW: u64 = 16;

/// Turns a finalized chain into its export stream. A pure function of the blocks pushed: every
/// relay of the chain produces identical entries.
///
/// Entry `k`'s proof carries the transitions committing every epoch after the epoch of entry
/// `k − W`'s block (after epoch 0 for `k < W`, `W =` [`EXPORT_WINDOW`]) up to its own block's
/// epoch. So a destination that has verified any of the `W` entries before `k` (in whatever order
/// they arrived) can reach entry `k`'s epoch; entries more than `W` ahead of everything it has
/// verified may be refused as not yet reachable (see [`VerifyError::is_transient`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Exporter<M: Model> {
    chain: ChainId,
    epoch_length: u64,
    next_height: Height,
    next_k: ExportIndex,
    /// Epochs of the last [`EXPORT_WINDOW`] entries, oldest first.
    recent: std::collections::VecDeque<Epoch>,
    transitions: BTreeMap<Epoch, Transition<M>>,
}

impl<M: Model> Exporter<M> {
    /// An exporter for a chain with the given params, starting at height 1.
    pub fn new(params: &M::Params) -> Self {
        Exporter {
            chain: M::chain_id(params).clone(),
            epoch_length: M::epoch_length(params),
            next_height: Height(1),
            next_k: ExportIndex(0),
            recent: std::collections::VecDeque::new(),
            transitions: BTreeMap::new(),
        }
    }

    /// The next block height expected.
    pub fn next_height(&self) -> Height {
        self.next_height
    }

    /// The next export index.
    pub fn next_index(&self) -> ExportIndex {
        self.next_k
    }

    /// The epoch from which the next entry's transitions start: that of entry
    /// `k − EXPORT_WINDOW` (epoch 0 while `k < EXPORT_WINDOW`).
    fn window_start(&self) -> Epoch {
        if (self.recent.len() as u64) < EXPORT_WINDOW {
            Epoch(0)
        } else {
            self.recent.front().copied().unwrap_or(Epoch(0))
        }
    }

    /// Push the next finalized block; returns its entries in order.
    pub fn push_block(&mut self, block: &Block<M>) -> Result<Vec<ExportEntry>, ExportError> {
        let h = block.height();
        if h != self.next_height {
            return Err(ExportError::OutOfOrder {
                expected: self.next_height,
                got: h,
            });
        }
        let epoch = Epoch::of(h, self.epoch_length);
        let chain_entries: Vec<(usize, &TxRecord)> = block
            .txns
            .iter()
            .enumerate()
            .filter(|(_, r)| r.export.is_some())
            .collect();
        let mut out = Vec::with_capacity(chain_entries.len());
        if !chain_entries.is_empty() {
            let tree = block.tree();
            for (i, rec) in chain_entries {
                let transfer = BridgeTransfer::from_record(M::KIND, &self.chain, rec)
                    .ok_or(ExportError::NotBridgeOut)?;
                if transfer.k != self.next_k {
                    return Err(ExportError::IndexGap {
                        expected: self.next_k,
                        got: transfer.k,
                    });
                }
                let path = tree.proof(i).ok_or(ExportError::Tree)?;
                let transitions: Vec<Transition<M>> = self
                    .transitions
                    .range(self.window_start()..epoch)
                    .map(|(_, t)| t.clone())
                    .collect();
                let proof = ExportProof::<M> {
                    transitions,
                    header: block.header.clone(),
                    cert: block.cert.clone(),
                    record: rec.clone(),
                    path,
                };
                out.push(ExportEntry {
                    k: transfer.k,
                    payload: transfer.to_bytes(),
                    proof: proof.to_bytes(),
                });
                self.next_k = ExportIndex(transfer.k.0.saturating_add(1));
                if self.recent.len() as u64 >= EXPORT_WINDOW {
                    self.recent.pop_front();
                }
                self.recent.push_back(epoch);
            }
        }
        if let Some(s) = &block.next_set {
            self.transitions.insert(
                epoch,
                Transition {
                    header: block.header.clone(),
                    cert: block.cert.clone(),
                    next_set: s.clone(),
                },
            );
        }
        self.next_height = Height(h.0.saturating_add(1));
        Ok(out)
    }

    /// The whole export stream of a finalized chain (blocks from height 1, in order).
    pub fn export_all<'a>(
        params: &M::Params,
        blocks: impl IntoIterator<Item = &'a Block<M>>,
    ) -> Result<Vec<ExportEntry>, ExportError> {
        let mut ex = Exporter::new(params);
        let mut out = Vec::new();
        for b in blocks {
            out.extend(ex.push_block(b)?);
        }
        Ok(out)
    }
}
