//! A stand-in source chain for tests and the simulator: entries whose proofs are keyed hashes
//! that only the (simulated) chain can produce.
//!
//! Real deployments use the certificate verifiers of the `chains` crate; this one costs one
//! SHA-256 per entry, so simulations of millions of deliveries stay fast, yet a relay that
//! forges or alters an entry is still caught.

use crate::protocol::{
    Batch, Delivery, Entry, EntryVerifier, Event, PersistId, PersistOp, ProofError, Protocol,
    ProtocolKind, StreamStatus, Transmit,
};
use crate::types::{NodeId, Side, StreamIndex, Time};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;

/// Length of a test proof.
pub const PROOF_LEN: usize = 16;

/// A simulated source chain that certifies entries with a secret only it knows.
#[derive(Clone, Debug)]
pub struct TestChain {
    secret: [u8; 32],
}

impl TestChain {
    /// A chain whose certifying secret is derived from `seed`.
    pub fn new(seed: u64) -> Self {
        let secret: [u8; 32] = Sha256::new()
            .chain_update(b"PICSOU-TEST-CHAIN")
            .chain_update(seed.to_le_bytes())
            .finalize()
            .into();
        TestChain { secret }
    }

    fn tag(&self, side: Side, k: StreamIndex, payload: &[u8]) -> [u8; PROOF_LEN] {
        let digest = Sha256::new()
            .chain_update(self.secret)
            .chain_update([side as u8])
            .chain_update(k.0.to_le_bytes())
            .chain_update(payload)
            .finalize();
        let mut out = [0u8; PROOF_LEN];
        out.copy_from_slice(&digest[..PROOF_LEN]);
        out
    }

    /// The certified entry `k` of `side`'s stream with this payload.
    pub fn entry(&self, side: Side, k: StreamIndex, payload: Bytes) -> Entry {
        let proof = Bytes::copy_from_slice(&self.tag(side, k, &payload));
        Entry {
            k,
            payload: payload.into(),
            proof,
        }
    }

    /// A payload of `len` bytes that names `k` in its first bytes.
    pub fn payload(k: StreamIndex, len: usize) -> Bytes {
        let mut p = vec![0u8; len];
        let tag = k.0.to_le_bytes();
        let n = len.min(tag.len());
        p[..n].copy_from_slice(&tag[..n]);
        Bytes::from(p)
    }

    /// A verifier for entries this chain certified.
    pub fn verifier(&self) -> TestVerifier {
        TestVerifier {
            chain: self.clone(),
        }
    }
}

/// Accepts exactly the entries its [`TestChain`] certified.
#[derive(Clone, Debug)]
pub struct TestVerifier {
    chain: TestChain,
}

impl EntryVerifier for TestVerifier {
    fn verify(&self, source: Side, entry: &Entry) -> Result<(), ProofError> {
        let want = self.chain.tag(source, entry.k, &entry.payload);
        if entry.proof.as_ref() == want.as_slice() {
            Ok(())
        } else {
            Err(ProofError(format!(
                "test proof mismatch for {} of stream {source}",
                entry.k
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certified_entries_verify_and_altered_ones_do_not() {
        let chain = TestChain::new(7);
        let v = chain.verifier();
        let e = chain.entry(
            Side::A,
            StreamIndex(5),
            TestChain::payload(StreamIndex(5), 32),
        );
        assert!(v.verify(Side::A, &e).is_ok());
        assert!(v.verify(Side::B, &e).is_err(), "wrong stream");
        let mut moved = e.clone();
        moved.k = StreamIndex(6);
        assert!(v.verify(Side::A, &moved).is_err(), "wrong index");
        let mut altered = e.clone();
        altered.payload = b"other".into();
        assert!(v.verify(Side::A, &altered).is_err(), "wrong payload");
        let other_chain = TestChain::new(8).verifier();
        assert!(other_chain.verify(Side::A, &e).is_err(), "other chain");
    }
}

/// A protocol that emits the transmits it was given and does nothing else: what a test puts
/// under a wrapper of the core (the simulator's faulty nodes, the node's Byzantine relays).
#[derive(Debug, Default)]
pub struct Scripted {
    /// Emitted in order by `poll_transmit`.
    pub out: VecDeque<Transmit>,
}

impl Protocol for Scripted {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::Picsou
    }
    fn handle_committed(&mut self, _: Time, _: Entry) {}
    fn handle_batch(&mut self, _: Time, _: NodeId, _: Batch) {}
    fn handle_timeout(&mut self, _: Time) {}
    fn handle_persisted(&mut self, _: PersistId) {}
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }
    fn poll_persist(&mut self) -> Option<PersistOp> {
        None
    }
    fn poll_deliver(&mut self) -> Option<Delivery> {
        None
    }
    fn poll_event(&mut self) -> Option<Event> {
        None
    }
    fn poll_timeout(&self) -> Option<Time> {
        None
    }
    fn status(&self) -> StreamStatus {
        StreamStatus::default()
    }
}
