//! The signed wire form of a [`Batch`]: pure functions, no IO.
//!
//! Layout: `version (1 byte) ‖ head ‖ payloads ‖ signature (64 bytes)`. `head` is the postcard
//! encoding of the sender, the recipient, the epoch, the kind, the entries' indices as runs
//! `(start, step, count)` (`start, start + step, …`, `count` of them) and, per index, its
//! entry's payload length and proof (no count of their own: the runs give it); `payloads` are the entries' payloads one after the other, as
//! long as `head` says. The ed25519 signature, made with the sender relay's batch-signing key,
//! covers `"PICSOU-BATCH" ‖ version ‖ D` ([`signed_message`]), where
//! `D = SHA-256(head ‖ SHA-256(payload₀) ‖ … ‖ SHA-256(payloadₘ₋₁))` ([`body_digest`]).
//!
//! Version 1 signed the body itself; ed25519 hashes what it signs three times, so a 1 MB batch
//! cost 3.4 ms to seal and 1.7 ms to open. Version 2 signed one SHA-256 of the body (about
//! 0.6 ms per MB on each side). Version 3 signs through the payloads' own digests, which the
//! receiver computes while opening and keeps with each payload ([`Payload`]): checking an
//! entry's proof and sealing it again for the broadcast reuse them, where version 2 hashed the
//! payload once to open, once more to check the proof and again for every batch it was sealed
//! into (measured over libp2p on loopback, 1 MB entries: SHA-256 was a third of all CPU time).
//! Version 4 encodes the indices as runs instead of one varint per entry: a sender's originals
//! to one receiver are evenly spaced (`n_s·n_r` apart with unit stakes), so a batch of them is
//! one run, and an index of 3 or 4 bytes per entry becomes a few bytes per batch (3 of the 5
//! metadata bytes an entry cost in the simulator at 100 B).
//!
//! [`open`] is given the sender the transport authenticated and that sender's public key. It
//! reads the head to learn where the payloads are, hashes them, and checks the signature before
//! using a single field; then it checks that the envelope names that sender and this recipient.
//! A frame whose head does not decode cannot be checked at all, so it proves nothing about who
//! made it ([`WireError::Decode`]); neither can one whose runs give more indices than entry heads
//! follow, or an index past `u64::MAX`. Nothing in here panics on any input.

use crate::payload::Payload;
use crate::protocol::{Batch, BatchKind, Entry};
use crate::types::{NodeId, StreamIndex};
use bytes::Bytes;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Current wire version.
pub const VERSION: u8 = 4;
/// Domain separator for batch signatures.
pub const DOMAIN: &[u8] = b"PICSOU-BATCH";
/// Length of the signature trailer.
pub const SIGNATURE_LEN: usize = 64;
/// Largest sealed batch a relay accepts (a bound on allocation for peer input).
pub const MAX_BATCH_LEN: usize = 64 << 20;

/// Why a sealed batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than a version byte plus a signature.
    #[error("batch too short ({0} bytes)")]
    TooShort(usize),
    /// Larger than [`MAX_BATCH_LEN`].
    #[error("batch too long ({0} bytes)")]
    TooLong(usize),
    /// Unknown version byte.
    #[error("unsupported wire version {0}")]
    Version(u8),
    /// The head does not decode, or the payloads are not as long as it says (the signature
    /// cannot be checked).
    #[error("malformed batch: {0}")]
    Decode(String),
    /// The signature does not verify under the sender's key.
    #[error("bad batch signature")]
    Signature,
    /// The envelope names another sender than the authenticated one.
    #[error("batch claims sender {claimed} but came from {actual}")]
    WrongSender {
        /// Sender named in the envelope.
        claimed: NodeId,
        /// Sender the transport authenticated.
        actual: NodeId,
    },
    /// The envelope names another recipient.
    #[error("batch addressed to {0}, not to us")]
    WrongRecipient(NodeId),
}

/// Length of [`signed_message`].
pub const SIGNED_MESSAGE_LEN: usize = DOMAIN.len() + 1 + 32;

/// What the signature of a batch whose [`body_digest`] is `digest` covers:
/// `"PICSOU-BATCH" ‖ version ‖ digest`.
pub fn signed_message(version: u8, digest: &[u8; 32]) -> [u8; SIGNED_MESSAGE_LEN] {
    let mut m = [0u8; SIGNED_MESSAGE_LEN];
    m[..DOMAIN.len()].copy_from_slice(DOMAIN);
    m[DOMAIN.len()] = version;
    m[DOMAIN.len() + 1..].copy_from_slice(digest);
    m
}

/// The head as sealed.
#[derive(Serialize)]
struct HeadRef<'a> {
    from: NodeId,
    to: NodeId,
    epoch: u64,
    kind: &'a BatchKind,
    runs: Vec<Run>,
    entries: EntryHeadsRef<'a>,
}

/// Consecutive entries whose indices are `start, start + step, …` (`count` of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Run {
    start: u64,
    step: u64,
    count: u64,
}

/// The indices of `entries` as runs: each run is extended while the next index continues it,
/// and its step is set by its second index (a run of one has step 0).
fn runs_of(entries: &[Entry]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for e in entries {
        let k = e.k.0;
        if let Some(run) = runs.last_mut() {
            if run.count == 1 && k > run.start {
                run.step = k - run.start;
                run.count = 2;
                continue;
            }
            let next = run
                .step
                .checked_mul(run.count)
                .and_then(|d| run.start.checked_add(d));
            if run.count > 1 && next == Some(k) {
                run.count += 1;
                continue;
            }
        }
        runs.push(Run {
            start: k,
            step: 0,
            count: 1,
        });
    }
    runs
}

/// The indices `runs` stand for, if they are at most `max` and none passes `u64::MAX`.
fn indices_of(runs: &[Run], max: usize) -> Result<Vec<StreamIndex>, WireError> {
    let mut out = Vec::new();
    for run in runs {
        if run.count == 0 {
            return Err(WireError::Decode("empty index run".into()));
        }
        if run.count > (max - out.len()) as u64 {
            return Err(WireError::Decode(
                "more indices than the body can hold".into(),
            ));
        }
        for i in 0..run.count {
            let k = run
                .step
                .checked_mul(i)
                .and_then(|d| run.start.checked_add(d))
                .ok_or_else(|| WireError::Decode("index run past u64::MAX".into()))?;
            out.push(StreamIndex(k));
        }
    }
    Ok(out)
}

/// The entries of a head as sealed, one after the other without a count (the runs give it).
struct EntryHeadsRef<'a>(&'a [Entry]);

#[derive(Serialize)]
struct EntryHeadRef<'a> {
    len: u64,
    proof: &'a Bytes,
}

impl Serialize for EntryHeadsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(self.0.len())?;
        for e in self.0 {
            t.serialize_element(&EntryHeadRef {
                len: e.payload.len() as u64,
                proof: &e.proof,
            })?;
        }
        t.end()
    }
}

/// The smallest encoding of an [`EntryHead`]: a one-byte length and an empty proof.
const MIN_ENTRY_HEAD_LEN: usize = 2;

/// The head as opened, up to its entries (one [`EntryHead`] per index of `runs` follows).
#[derive(Deserialize)]
struct Head {
    from: NodeId,
    to: NodeId,
    epoch: u64,
    kind: BatchKind,
    runs: Vec<Run>,
}

#[derive(Deserialize)]
struct EntryHead {
    len: u64,
    proof: Bytes,
}

fn head_ref<'a>(from: NodeId, to: NodeId, batch: &'a Batch) -> HeadRef<'a> {
    HeadRef {
        from,
        to,
        epoch: batch.epoch,
        kind: &batch.kind,
        runs: runs_of(&batch.entries),
        entries: EntryHeadsRef(&batch.entries),
    }
}

/// `SHA-256(head ‖ digest₀ ‖ … ‖ digestₘ₋₁)`.
fn digest_of<'a>(head: &[u8], digests: impl IntoIterator<Item = &'a [u8; 32]>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(head);
    for d in digests {
        h.update(d);
    }
    h.finalize().into()
}

/// Encodes and signs a batch from `from` to `to`. Payload digests already known (see
/// [`Payload`]) are not computed again.
pub fn seal(from: NodeId, to: NodeId, batch: &Batch, key: &SigningKey) -> Vec<u8> {
    let head = head_ref(from, to, batch);
    let head_len =
        postcard::experimental::serialized_size(&head).expect("postcard sizing cannot fail");
    let payload_len: usize = batch.entries.iter().map(|e| e.payload.len()).sum();
    let mut out = Vec::with_capacity(1 + head_len + payload_len + SIGNATURE_LEN);
    out.push(VERSION);
    let mut out =
        postcard::to_extend(&head, out).expect("postcard encoding into a Vec cannot fail");
    let digest = digest_of(&out[1..], batch.entries.iter().map(|e| e.payload.digest()));
    for e in &batch.entries {
        out.extend_from_slice(&e.payload);
    }
    let sig = key.sign(&signed_message(VERSION, &digest));
    out.extend_from_slice(&sig.to_bytes());
    out
}

/// A body (what lies between the version byte and the signature) split into its decoded head,
/// the head's length, and where each payload lies in the body.
struct Split {
    head: Head,
    head_len: usize,
    /// Each entry's index and head, in order.
    entries: Vec<(StreamIndex, EntryHead)>,
    payloads: Vec<std::ops::Range<usize>>,
}

fn split(body: &[u8]) -> Result<Split, WireError> {
    let decode = |e: postcard::Error| WireError::Decode(e.to_string());
    let (head, mut rest): (Head, &[u8]) = postcard::take_from_bytes(body).map_err(decode)?;
    let indices = indices_of(&head.runs, rest.len() / MIN_ENTRY_HEAD_LEN)?;
    let mut entries = Vec::with_capacity(indices.len());
    for k in indices {
        let (e, more): (EntryHead, &[u8]) = postcard::take_from_bytes(rest).map_err(decode)?;
        entries.push((k, e));
        rest = more;
    }
    let head_len = body.len() - rest.len();
    let mut payloads = Vec::with_capacity(entries.len());
    let mut at = head_len;
    for (_, e) in &entries {
        let end = usize::try_from(e.len)
            .ok()
            .and_then(|len| at.checked_add(len))
            .filter(|&end| end <= body.len())
            .ok_or_else(|| WireError::Decode("payloads shorter than the head says".into()))?;
        payloads.push(at..end);
        at = end;
    }
    if at != body.len() {
        return Err(WireError::Decode(format!(
            "{} bytes after the payloads",
            body.len() - at
        )));
    }
    Ok(Split {
        head,
        head_len,
        entries,
        payloads,
    })
}

/// A body split ([`split`]), with the SHA-256 of each payload and the digest the batch
/// signature covers.
struct Digested {
    split: Split,
    payload_digests: Vec<[u8; 32]>,
    digest: [u8; 32],
}

fn digested(body: &[u8]) -> Result<Digested, WireError> {
    let split = split(body)?;
    let payload_digests: Vec<[u8; 32]> = split
        .payloads
        .iter()
        .map(|r| Sha256::digest(&body[r.clone()]).into())
        .collect();
    let digest = digest_of(&body[..split.head_len], &payload_digests);
    Ok(Digested {
        split,
        payload_digests,
        digest,
    })
}

/// The digest a batch signature covers ([`signed_message`]) for a body (what lies between the
/// version byte and the signature), or why the body cannot have one.
pub fn body_digest(body: &[u8]) -> Result<[u8; 32], WireError> {
    digested(body).map(|d| d.digest)
}

/// Verifies and decodes a sealed batch that the transport says came from `sender`, whose batch
/// key is `sender_key`, addressed to `me`. Payloads are slices of `frame` (not copied) and carry
/// the digests computed here.
pub fn open(
    frame: &Bytes,
    sender: NodeId,
    sender_key: &VerifyingKey,
    me: NodeId,
) -> Result<Batch, WireError> {
    if frame.len() < 1 + SIGNATURE_LEN {
        return Err(WireError::TooShort(frame.len()));
    }
    if frame.len() > MAX_BATCH_LEN {
        return Err(WireError::TooLong(frame.len()));
    }
    let version = frame[0];
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let body = frame.slice(1..frame.len() - SIGNATURE_LEN);
    let sig: [u8; SIGNATURE_LEN] = frame[frame.len() - SIGNATURE_LEN..]
        .try_into()
        .map_err(|_| WireError::Signature)?;
    let Digested {
        split:
            Split {
                head,
                entries,
                payloads,
                ..
            },
        payload_digests: digests,
        digest,
    } = digested(&body)?;
    sender_key
        .verify(
            &signed_message(version, &digest),
            &Signature::from_bytes(&sig),
        )
        .map_err(|_| WireError::Signature)?;
    if head.from != sender {
        return Err(WireError::WrongSender {
            claimed: head.from,
            actual: sender,
        });
    }
    if head.to != me {
        return Err(WireError::WrongRecipient(head.to));
    }
    let entries = entries
        .into_iter()
        .zip(payloads.into_iter().zip(digests))
        .map(|((k, e), (range, digest))| Entry {
            k,
            payload: Payload::hashed(body.slice(range), digest),
            proof: e.proof,
        })
        .collect();
    Ok(Batch {
        epoch: head.epoch,
        kind: head.kind,
        entries,
    })
}

/// Length of a batch once sealed, without signing it (the simulator charges links this many
/// bytes).
pub fn sealed_len(from: NodeId, to: NodeId, batch: &Batch) -> usize {
    let head = head_ref(from, to, batch);
    let payloads: usize = batch.entries.iter().map(|e| e.payload.len()).sum();
    1 + postcard::experimental::serialized_size(&head).unwrap_or(0) + payloads + SIGNATURE_LEN
}

/// A deterministic signing key for tests, simulations and devnets, derived from a label.
pub fn key_from_seed(label: &[u8]) -> SigningKey {
    let seed: [u8; 32] = Sha256::digest(label).into();
    SigningKey::from_bytes(&seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Ack, BatchKind, Entry};
    use crate::types::{Side, StreamIndex};
    use bytes::Bytes;

    fn sample() -> Batch {
        Batch {
            epoch: 3,
            kind: BatchKind::Cross {
                ack: Some(Ack {
                    next: StreamIndex(17),
                    phi: Bytes::from_static(&[0b1010_0001, 0, 0xff]),
                }),
                quack_claim: Some(StreamIndex(12)),
                exported: StreamIndex(120),
            },
            entries: vec![Entry {
                k: StreamIndex(99),
                payload: b"transfer".into(),
                proof: Bytes::from_static(b"proof"),
            }],
        }
    }

    /// `seal` as a `Bytes` frame, as the transport delivers it.
    fn sealed(from: NodeId, to: NodeId, batch: &Batch, key: &SigningKey) -> Bytes {
        Bytes::from(seal(from, to, batch, key))
    }

    #[test]
    fn seal_then_open_round_trips() {
        let key = key_from_seed(b"a0");
        let (a0, b1) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 1));
        let frame = sealed(a0, b1, &sample(), &key);
        assert_eq!(frame.len(), sealed_len(a0, b1, &sample()));
        let batch = open(&frame, a0, &key.verifying_key(), b1).unwrap();
        assert_eq!(batch, sample());
    }

    /// `sample()` with entries at `ks`, 100-byte payloads and 5-byte proofs.
    fn with_indices(ks: &[u64]) -> Batch {
        let mut batch = sample();
        batch.entries = ks
            .iter()
            .map(|&k| Entry {
                k: StreamIndex(k),
                payload: vec![7u8; 100].into(),
                proof: Bytes::from_static(b"proof"),
            })
            .collect();
        batch
    }

    #[test]
    fn evenly_spaced_indices_cost_one_run_whatever_their_number() {
        let (a0, b1) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 1));
        // n = 19 per side: one sender's originals to one receiver are 361 apart.
        let spaced = |count: u64| -> Vec<u64> { (0..count).map(|i| 3_000_000 + 361 * i).collect() };
        let len = |ks: &[u64]| sealed_len(a0, b1, &with_indices(ks));
        // Each further entry of the run costs its payload, its length (1 byte), its proof and
        // the proof's length (1 byte), and nothing for its index...
        assert_eq!(len(&spaced(200)) - len(&spaced(199)), 100 + 1 + 5 + 1);
        // ... except the second, which sets the step (0, one byte, becomes 361, two).
        assert_eq!(len(&spaced(2)) - len(&spaced(1)), 100 + 1 + 5 + 1 + 1);
        assert_eq!(
            runs_of(&with_indices(&spaced(200)).entries),
            vec![Run {
                start: 3_000_000,
                step: 361,
                count: 200
            }]
        );
        // A break in the spacing starts a new run.
        let mut ks = spaced(10);
        ks.push(5);
        ks.extend(spaced(3).iter().map(|k| k + 1));
        assert_eq!(runs_of(&with_indices(&ks).entries).len(), 3);
    }

    proptest::proptest! {
        #[test]
        fn any_indices_round_trip(ks in proptest::collection::vec(
            proptest::prop_oneof![0u64..50, proptest::num::u64::ANY], 0..40)) {
            let key = key_from_seed(b"a0");
            let (a0, b1) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 1));
            let batch = with_indices(&ks);
            let frame = sealed(a0, b1, &batch, &key);
            proptest::prop_assert_eq!(frame.len(), sealed_len(a0, b1, &batch));
            proptest::prop_assert_eq!(open(&frame, a0, &key.verifying_key(), b1), Ok(batch));
        }
    }

    /// A correctly signed frame whose head carries `runs` for `entries` entries of `sample()`'s
    /// kind, each with an empty payload and proof.
    fn frame_with_runs(runs: Vec<Run>, entries: usize, key: &SigningKey) -> Bytes {
        #[derive(Serialize)]
        struct RawHead {
            from: NodeId,
            to: NodeId,
            epoch: u64,
            kind: BatchKind,
            runs: Vec<Run>,
        }
        let head = RawHead {
            from: NodeId::new(Side::A, 0),
            to: NodeId::new(Side::B, 1),
            epoch: 3,
            kind: sample().kind,
            runs,
        };
        let mut body = postcard::to_allocvec(&head).unwrap();
        for _ in 0..entries {
            body = postcard::to_extend(&(0u64, Bytes::new()), body).unwrap();
        }
        let empty: [u8; 32] = Sha256::digest(b"").into();
        let digest = digest_of(&body, std::iter::repeat_n(&empty, entries));
        let mut frame = vec![VERSION];
        frame.extend_from_slice(&body);
        frame.extend_from_slice(&key.sign(&signed_message(VERSION, &digest)).to_bytes());
        Bytes::from(frame)
    }

    #[test]
    fn runs_that_do_not_match_the_entry_heads_are_refused() {
        let key = key_from_seed(b"a0");
        let (a0, b1) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 1));
        let run = |start, step, count| Run { start, step, count };
        let open_runs = |runs, entries| {
            open(
                &frame_with_runs(runs, entries, &key),
                a0,
                &key.verifying_key(),
                b1,
            )
        };
        // The frame builder is right: matching runs open.
        let ok = open_runs(vec![run(10, 3, 2), run(4, 0, 1)], 3).unwrap();
        let ks: Vec<u64> = ok.entries.iter().map(|e| e.k.0).collect();
        assert_eq!(ks, vec![10, 13, 4]);
        for (runs, entries, why) in [
            // More indices than entry heads could follow (2 bytes each at least).
            (
                vec![run(10, 3, 3)],
                2,
                "more indices than the body can hold",
            ),
            (
                vec![run(0, 1, u64::MAX)],
                1,
                "more indices than the body can hold",
            ),
            // Fewer: the heads left over are read as payload bytes the head does not account for.
            (vec![run(10, 3, 1)], 2, "2 bytes after the payloads"),
            (vec![], 1, "2 bytes after the payloads"),
            (vec![run(10, 3, 0), run(1, 0, 1)], 1, "empty index run"),
            (vec![run(u64::MAX - 1, 2, 2)], 2, "index run past u64::MAX"),
            (vec![run(0, u64::MAX, 3)], 3, "index run past u64::MAX"),
        ] {
            assert_eq!(
                open_runs(runs, entries),
                Err(WireError::Decode(why.into())),
                "{why}"
            );
        }
    }

    #[test]
    fn opened_payloads_carry_their_digest_and_the_signature_binds_it() {
        let key = key_from_seed(b"a0");
        let (a0, b1) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 1));
        let frame = sealed(a0, b1, &sample(), &key);
        let batch = open(&frame, a0, &key.verifying_key(), b1).unwrap();
        let payload = &batch.entries[0].payload;
        assert_eq!(
            payload.known_digest(),
            Some(&<[u8; 32]>::from(Sha256::digest(b"transfer"))),
            "open keeps the digest it computed"
        );
        // The signed digest is the one `body_digest` computes from the body alone.
        let body = &frame[1..frame.len() - SIGNATURE_LEN];
        let digest = body_digest(body).unwrap();
        let sig: [u8; SIGNATURE_LEN] = frame[frame.len() - SIGNATURE_LEN..].try_into().unwrap();
        assert!(
            key.verifying_key()
                .verify(
                    &signed_message(VERSION, &digest),
                    &Signature::from_bytes(&sig)
                )
                .is_ok()
        );
    }

    #[test]
    fn a_payload_sealed_with_a_wrong_digest_does_not_open() {
        let key = key_from_seed(b"a0");
        let (a0, b1) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 1));
        let mut batch = sample();
        // A sender whose cached digest disagrees with the bytes: receivers hash what arrives.
        batch.entries[0].payload = Payload::hashed(Bytes::from_static(b"transfer"), [0; 32]);
        let frame = sealed(a0, b1, &batch, &key);
        assert_eq!(
            open(&frame, a0, &key.verifying_key(), b1),
            Err(WireError::Signature)
        );
    }

    #[test]
    fn payloads_that_do_not_fill_the_body_exactly_are_refused() {
        let key = key_from_seed(b"a0");
        let (a0, b1) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 1));
        let frame = seal(a0, b1, &sample(), &key);
        let (head_and_payload, sig) = frame.split_at(frame.len() - SIGNATURE_LEN);
        let mut longer = head_and_payload.to_vec();
        longer.push(0);
        longer.extend_from_slice(sig);
        assert!(matches!(
            open(&Bytes::from(longer), a0, &key.verifying_key(), b1),
            Err(WireError::Decode(_))
        ));
        let mut shorter = head_and_payload[..head_and_payload.len() - 1].to_vec();
        shorter.extend_from_slice(sig);
        assert!(matches!(
            open(&Bytes::from(shorter), a0, &key.verifying_key(), b1),
            Err(WireError::Decode(_))
        ));
    }

    #[test]
    fn any_flipped_bit_is_refused() {
        let key = key_from_seed(b"a0");
        let (a0, b1) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 1));
        let frame = seal(a0, b1, &sample(), &key);
        for i in 0..frame.len() {
            let mut bad = frame.clone();
            bad[i] ^= 0x10;
            assert!(
                open(&Bytes::from(bad), a0, &key.verifying_key(), b1).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn wrong_key_sender_or_recipient_is_refused() {
        let key = key_from_seed(b"a0");
        let other = key_from_seed(b"a1");
        let (a0, a1, b1, b2) = (
            NodeId::new(Side::A, 0),
            NodeId::new(Side::A, 1),
            NodeId::new(Side::B, 1),
            NodeId::new(Side::B, 2),
        );
        let frame = sealed(a0, b1, &sample(), &key);
        assert_eq!(
            open(&frame, a0, &other.verifying_key(), b1),
            Err(WireError::Signature)
        );
        assert!(matches!(
            open(&frame, a1, &key.verifying_key(), b1),
            Err(WireError::WrongSender { .. })
        ));
        assert_eq!(
            open(&frame, a0, &key.verifying_key(), b2),
            Err(WireError::WrongRecipient(b1))
        );
    }

    #[test]
    fn short_and_unknown_version_are_refused() {
        let key = key_from_seed(b"a0").verifying_key();
        let me = NodeId::new(Side::B, 0);
        let from = NodeId::new(Side::A, 0);
        assert_eq!(
            open(&Bytes::new(), from, &key, me),
            Err(WireError::TooShort(0))
        );
        for version in [1u8, 2, VERSION + 1] {
            let mut other = vec![version];
            other.extend_from_slice(&[0; 80]);
            assert_eq!(
                open(&Bytes::from(other), from, &key, me),
                Err(WireError::Version(version))
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let key = key_from_seed(b"x").verifying_key();
            let _ = open(&Bytes::from(bytes), NodeId::new(Side::A, 0), &key, NodeId::new(Side::B, 0));
        }
    }
}
