//! Evidence of peer misbehaviour: the signed frames that prove it, kept in the relay's database,
//! served over JSON-RPC (`relay_evidence`), and what a third party needs to check them.
//!
//! # What is kept
//!
//! A frame is kept only when it proves something by itself: it carries a valid signature of the
//! sender's batch key (so the sender cannot deny having sent it) and what it says is wrong — an
//! entry whose finality proof fails, an index far outside the receive window, an ack past the
//! stream, a batch that sender may not send, or a signed body that does not decode or names
//! another sender or recipient. A frame whose signature fails proves nothing about anyone and is
//! never kept (it still counts in metrics and logs). The frame is kept byte for byte as received.
//!
//! # Bounds
//!
//! The first [`PER_PEER_KIND`] frames per (peer, kind) are kept, and at most [`MAX_BYTES`] of
//! frames in total; later reports of the same thing still count in metrics and logs. The same
//! records live in memory (for `relay_evidence`, read without asking the driver) and in tree
//! `evidence` of the database (so they survive a restart):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `evidence` | `u64 seq` | postcard [`Record`] |
//!
//! # Checking evidence elsewhere
//!
//! [`EvidenceView::verify`] re-checks the signature with the sender's public batch key (which is
//! in every relay's configuration) and returns what the sender signed; [`bad_proofs`] re-runs an
//! [`EntryVerifier`] (a light client of the source chain) over the entries of a signed batch.

use crate::protocol::{Batch, BatchKind, EntryVerifier};
use crate::types::{NodeId, Side, StreamIndex};
use crate::wire::{self, WireError};
use bytes::Bytes;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use storage::{Store, WriteBatch, u64_from_key, u64_key};

use super::durable::DurableError;

const EVIDENCE_TREE: &str = "evidence";
const SCAN_CHUNK: usize = 256;

/// Frames kept per (peer, kind).
pub const PER_PEER_KIND: usize = 4;
/// Most bytes of frames kept in total.
pub const MAX_BYTES: usize = 16 << 20;
/// Most records one `relay_evidence` call returns.
pub const MAX_PAGE: usize = 64;

/// One piece of evidence as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Position in this relay's evidence log.
    pub seq: u64,
    /// The relay that signed the frame.
    pub peer: NodeId,
    /// Its libp2p peer id (as configured).
    pub peer_id: String,
    /// The relay that received it (this relay).
    pub recipient: NodeId,
    /// What it proves, e.g. `bad_proof` (the label of `picsou_misbehaviour_total`).
    pub kind: String,
    /// The receiver's explanation.
    pub detail: String,
    /// When it was received (Unix ms, the receiver's clock).
    pub at_ms: u64,
    /// The signed frame, exactly as received.
    #[serde(with = "serde_bytes")]
    pub frame: Vec<u8>,
}

/// One piece of evidence as `relay_evidence` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceView {
    /// Position in the relay's evidence log (pass `seq + 1` as `since` for the next page).
    pub seq: u64,
    /// The relay that signed the frame, e.g. `A1`.
    pub peer: String,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// The relay that received it, e.g. `B0`.
    pub recipient: String,
    /// What it proves, e.g. `bad_proof`.
    pub kind: String,
    /// The receiver's explanation.
    pub detail: String,
    /// When it was received (Unix ms).
    pub at_ms: u64,
    /// The signed frame, hex.
    pub signed_batch: String,
}

/// What a signed frame says, once its signature checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signed {
    /// A well-formed batch from the signer to the recipient.
    Batch(Batch),
    /// The signed envelope names another sender.
    WrongSender(NodeId),
    /// The signed envelope names another recipient.
    WrongRecipient(NodeId),
}

/// Why evidence could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// A field of the view is unusable.
    #[error("evidence field `{field}`: {why}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The frame is not signed by that key: it proves nothing.
    #[error("the frame does not carry the sender's signature: {0}")]
    NotSigned(WireError),
}

impl Record {
    /// The JSON-RPC form.
    pub fn view(&self) -> EvidenceView {
        EvidenceView {
            seq: self.seq,
            peer: self.peer.to_string(),
            peer_id: self.peer_id.clone(),
            recipient: self.recipient.to_string(),
            kind: self.kind.clone(),
            detail: self.detail.clone(),
            at_ms: self.at_ms,
            signed_batch: hex::encode(&self.frame),
        }
    }
}

impl EvidenceView {
    /// Checks the frame's signature against `sender_key` (the public batch key of
    /// [`EvidenceView::peer`]) and returns what the sender signed.
    pub fn verify(&self, sender_key: &VerifyingKey) -> Result<Signed, EvidenceError> {
        let sender = parse_node(&self.peer).ok_or_else(|| EvidenceError::Field {
            field: "peer",
            why: format!("{:?} is not a relay name like A1", self.peer),
        })?;
        let recipient = parse_node(&self.recipient).ok_or_else(|| EvidenceError::Field {
            field: "recipient",
            why: format!("{:?} is not a relay name like B0", self.recipient),
        })?;
        let frame = hex::decode(&self.signed_batch).map_err(|e| EvidenceError::Field {
            field: "signed_batch",
            why: e.to_string(),
        })?;
        verify_frame(&Bytes::from(frame), sender, sender_key, recipient)
    }
}

/// Checks that `frame` was signed by `sender`'s key `sender_key`, and returns what it says
/// (which may itself be the misbehaviour: another sender or recipient than the envelope should
/// name). A frame whose head does not decode has no signature to check, so it is refused.
pub fn verify_frame(
    frame: &Bytes,
    sender: NodeId,
    sender_key: &VerifyingKey,
    recipient: NodeId,
) -> Result<Signed, EvidenceError> {
    // `wire::open` checks the signature before it uses any field, so the errors it finds after
    // that are about a validly signed frame.
    match wire::open(frame, sender, sender_key, recipient) {
        Ok(batch) => Ok(Signed::Batch(batch)),
        Err(WireError::WrongSender { claimed, .. }) => Ok(Signed::WrongSender(claimed)),
        Err(WireError::WrongRecipient(to)) => Ok(Signed::WrongRecipient(to)),
        Err(e) => Err(EvidenceError::NotSigned(e)),
    }
}

/// Whether a frame that `wire::open` refused with `e` still carries the sender's valid
/// signature (only the envelope's sender and recipient are checked after it), and so is
/// evidence against the sender. A frame whose head does not decode cannot have its signature
/// checked ([`WireError::Decode`]), so it proves nothing.
pub fn signed_by_sender(e: &WireError) -> bool {
    matches!(
        e,
        WireError::WrongSender { .. } | WireError::WrongRecipient(_)
    )
}

/// The indices of the entries of `batch`, signed by `sender`, whose proofs `verifier` refuses.
/// A cross batch carries the sender's cluster stream; an internal batch the other one.
pub fn bad_proofs(batch: &Batch, sender: NodeId, verifier: &dyn EntryVerifier) -> Vec<StreamIndex> {
    let source = match batch.kind {
        BatchKind::Cross { .. } => sender.side,
        BatchKind::Internal | BatchKind::Fetch { .. } => sender.side.other(),
    };
    batch
        .entries
        .iter()
        .filter(|e| verifier.verify(source, e).is_err())
        .map(|e| e.k)
        .collect()
}

/// `A1` → side A, index 1.
pub fn parse_node(s: &str) -> Option<NodeId> {
    let side = match s.get(..1)? {
        "A" | "a" => Side::A,
        "B" | "b" => Side::B,
        _ => return None,
    };
    let index: u32 = s.get(1..)?.parse().ok()?;
    Some(NodeId::new(side, index))
}

#[derive(Debug, Default)]
struct Inner {
    records: Vec<Record>,
    counts: BTreeMap<(NodeId, String), usize>,
    bytes: usize,
    next_seq: u64,
}

/// This relay's evidence, shared by the driver (which adds to it) and the node handle (which
/// reads it).
#[derive(Debug, Default)]
pub struct EvidenceLog {
    inner: Mutex<Inner>,
}

impl EvidenceLog {
    /// The evidence kept in `store` by earlier runs.
    pub fn load(store: &dyn Store) -> Result<Self, DurableError> {
        let mut inner = Inner::default();
        let mut from = u64_key(0).to_vec();
        loop {
            let chunk = store.scan(EVIDENCE_TREE, &from, SCAN_CHUNK)?;
            let Some((last, _)) = chunk.last() else { break };
            let next = u64_from_key(last)?.checked_add(1);
            for (key, value) in &chunk {
                let seq = u64_from_key(key)?;
                let r: Record = postcard::from_bytes(value).map_err(|e| DurableError::Corrupt {
                    tree: EVIDENCE_TREE,
                    reason: format!("record {seq}: {e}"),
                })?;
                inner.add(r);
            }
            match next {
                Some(n) if chunk.len() == SCAN_CHUNK => from = u64_key(n).to_vec(),
                _ => break,
            }
        }
        Ok(EvidenceLog {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update below leaves the log consistent, so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps a signed frame as evidence of `kind` against `peer`, unless the bounds are reached;
    /// returns the record to write to the database.
    #[allow(clippy::too_many_arguments, reason = "one record's fields")]
    pub fn keep(
        &self,
        peer: NodeId,
        peer_id: &str,
        recipient: NodeId,
        kind: &str,
        detail: &str,
        at_ms: u64,
        frame: &[u8],
    ) -> Option<Record> {
        let mut inner = self.lock();
        let count = inner
            .counts
            .get(&(peer, kind.to_owned()))
            .copied()
            .unwrap_or(0);
        if count >= PER_PEER_KIND || inner.bytes.saturating_add(frame.len()) > MAX_BYTES {
            return None;
        }
        let r = Record {
            seq: inner.next_seq,
            peer,
            peer_id: peer_id.to_owned(),
            recipient,
            kind: kind.to_owned(),
            detail: detail.to_owned(),
            at_ms,
            frame: frame.to_vec(),
        };
        inner.add(r.clone());
        Some(r)
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) records with `seq >= since`, oldest first.
    pub fn list(&self, since: u64, limit: usize) -> Vec<EvidenceView> {
        let inner = self.lock();
        let start = inner.records.partition_point(|r| r.seq < since);
        inner.records[start..]
            .iter()
            .take(limit.min(MAX_PAGE))
            .map(Record::view)
            .collect()
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn add(&mut self, r: Record) {
        *self.counts.entry((r.peer, r.kind.clone())).or_default() += 1;
        self.bytes += r.frame.len();
        self.next_seq = self.next_seq.max(r.seq + 1);
        self.records.push(r);
    }
}

/// Adds a record to a batch.
pub fn put(b: &mut WriteBatch, r: &Record) {
    // Encoding plain owned fields into a Vec cannot fail.
    let value = postcard::to_stdvec(r).unwrap_or_default();
    b.put(EVIDENCE_TREE, &u64_key(r.seq), &value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Entry, ProofError};
    use crate::wire::key_from_seed;
    use bytes::Bytes;
    use storage::MemStore;

    fn a1() -> NodeId {
        NodeId::new(Side::A, 1)
    }

    fn b0() -> NodeId {
        NodeId::new(Side::B, 0)
    }

    fn cross(entries: Vec<Entry>) -> Batch {
        Batch {
            epoch: 0,
            kind: BatchKind::Cross {
                ack: None,
                quack_claim: None,
                exported: StreamIndex(9),
            },
            entries,
        }
    }

    fn entry(k: u64, payload: &'static [u8]) -> Entry {
        Entry {
            k: StreamIndex(k),
            payload: Bytes::from_static(payload).into(),
            proof: Bytes::from_static(b"proof"),
        }
    }

    /// Accepts entries of side A whose payload is `good`.
    struct OnlyGood;

    impl EntryVerifier for OnlyGood {
        fn verify(&self, source: Side, entry: &Entry) -> Result<(), ProofError> {
            if source == Side::A && entry.payload.as_ref() == b"good" {
                Ok(())
            } else {
                Err(ProofError("not finalized".into()))
            }
        }
    }

    #[test]
    fn a_kept_frame_reverifies_and_shows_the_bad_entry() {
        let key = key_from_seed(b"a1");
        let frame = wire::seal(
            a1(),
            b0(),
            &cross(vec![entry(3, b"good"), entry(4, b"forged")]),
            &key,
        );
        let log = EvidenceLog::default();
        let r = log
            .keep(
                a1(),
                "12D3Koo",
                b0(),
                "bad_proof",
                "invalid proof",
                7,
                &frame,
            )
            .expect("kept");
        let view = r.view();
        assert_eq!((view.peer.as_str(), view.recipient.as_str()), ("A1", "B0"));
        let Signed::Batch(batch) = view.verify(&key.verifying_key()).expect("signed") else {
            panic!("a well-formed batch")
        };
        assert_eq!(bad_proofs(&batch, a1(), &OnlyGood), vec![StreamIndex(4)]);

        // Another key, or one flipped byte: it proves nothing.
        let other = key_from_seed(b"a2").verifying_key();
        assert!(matches!(
            view.verify(&other),
            Err(EvidenceError::NotSigned(WireError::Signature))
        ));
        let mut flipped = view.clone();
        let mut bytes = frame.clone();
        bytes[10] ^= 1;
        flipped.signed_batch = hex::encode(bytes);
        assert!(flipped.verify(&key.verifying_key()).is_err());
        let mut garbage = view;
        garbage.signed_batch = "zz".into();
        assert!(matches!(
            garbage.verify(&key.verifying_key()),
            Err(EvidenceError::Field {
                field: "signed_batch",
                ..
            })
        ));
    }

    #[test]
    fn a_signed_frame_addressed_elsewhere_is_still_evidence() {
        let key = key_from_seed(b"a1");
        let frame = wire::seal(a1(), NodeId::new(Side::B, 2), &cross(vec![]), &key);
        assert_eq!(
            verify_frame(&Bytes::from(frame), a1(), &key.verifying_key(), b0()),
            Ok(Signed::WrongRecipient(NodeId::new(Side::B, 2)))
        );
    }

    #[test]
    fn bounded_per_peer_and_kind_and_survives_a_restart() {
        let mut store = MemStore::new();
        let log = EvidenceLog::default();
        let mut b = WriteBatch::new();
        for i in 0..PER_PEER_KIND + 3 {
            if let Some(r) = log.keep(a1(), "p", b0(), "out_of_window", "far", i as u64, b"x") {
                put(&mut b, &r);
            }
        }
        let other = log
            .keep(a1(), "p", b0(), "bad_proof", "d", 0, b"y")
            .expect("another kind has its own budget");
        put(&mut b, &other);
        assert_eq!(log.len(), PER_PEER_KIND + 1);
        store.apply(b).unwrap();
        store.flush().unwrap();

        let again = EvidenceLog::load(&store).unwrap();
        assert_eq!(again.list(0, 100), log.list(0, 100));
        assert!(
            again
                .keep(a1(), "p", b0(), "out_of_window", "far", 9, b"x")
                .is_none(),
            "the budget is remembered across a restart"
        );
        let next = again.keep(
            NodeId::new(Side::A, 3),
            "q",
            b0(),
            "bad_proof",
            "d",
            0,
            b"z",
        );
        assert_eq!(next.map(|r| r.seq), Some(PER_PEER_KIND as u64 + 1));
        assert_eq!(
            again.list(PER_PEER_KIND as u64, 100).len(),
            2,
            "paged by seq"
        );
        assert_eq!(again.list(0, 1).len(), 1);
    }

    #[test]
    fn relay_names_parse() {
        assert_eq!(parse_node("A1"), Some(a1()));
        assert_eq!(parse_node("b0"), Some(b0()));
        for bad in ["", "C1", "A", "A-1", "Ax", "é1"] {
            assert_eq!(parse_node(bad), None, "{bad}");
        }
    }
}
