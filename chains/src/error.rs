//! Errors of verification (certificates, proofs, exports).

use crate::codec::DecodeError;
use crate::types::{Epoch, Hash32};
use thiserror::Error;

/// Why a block, certificate, inclusion proof or exported entry was refused.
///
/// Each variant names one check; the tests in this crate assert the exact variant, so a removed
/// check makes a test fail.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The bytes did not decode.
    #[error("malformed: {0}")]
    Decode(#[from] DecodeError),
    /// The proof is for a chain model other than the light client's.
    #[error("proof is for a different chain kind")]
    WrongKind,
    /// The block or certificate names another chain (genesis id/hash or chain id).
    #[error("wrong chain: expected {expected}, got {got}")]
    WrongChain {
        /// The chain the verifier follows.
        expected: String,
        /// The chain the data names.
        got: String,
    },
    /// The transfer is addressed to a chain other than the verifier's own.
    #[error("transfer is for chain {got}, this is {expected}")]
    WrongDestination {
        /// The chain hosting the verifier.
        expected: String,
        /// The transfer's destination.
        got: String,
    },
    /// A header field disagrees with the certificate (round, sequence, view, primary) or a
    /// structural header rule is broken.
    #[error("tampered header: {0}")]
    TamperedHeader(&'static str),
    /// The body (transactions, requests, validator set, inclusion proof) does not match the
    /// commitment in the certified header.
    #[error("tampered body: {0}")]
    TamperedBody(&'static str),
    /// The digest the certificate signs is not the digest recomputed from the header or batch.
    #[error("digest mismatch: certified {certified}, computed {computed}")]
    DigestMismatch {
        /// The digest in the certificate.
        certified: Hash32,
        /// The digest recomputed by the verifier.
        computed: Hash32,
    },
    /// An epoch rule was broken: a transition out of order, a next set where none belongs (or
    /// missing where one must be), or a batch declaring the wrong epoch.
    #[error("wrong epoch: expected {expected}, got {got}")]
    WrongEpoch {
        /// The epoch the rules require.
        expected: Epoch,
        /// The epoch found.
        got: Epoch,
    },
    /// The block is from an epoch the light client has no verified validator set for.
    #[error("epoch {block} unreachable: validator sets known up to epoch {known}")]
    UnreachableEpoch {
        /// The block's epoch.
        block: Epoch,
        /// The newest epoch the light client knows.
        known: Epoch,
    },
    /// An Algorand-style certificate whose step is not the cert step (2).
    #[error("wrong certificate step {0}")]
    WrongStep(u64),
    /// The same validator appears twice in one certificate.
    #[error("duplicate signer {0}")]
    DuplicateSigner(String),
    /// A signer (or proposer) is not in the epoch's validator set.
    #[error("unknown signer {0}")]
    UnknownSigner(String),
    /// A signature does not verify.
    #[error("bad signature from {0}")]
    BadSignature(String),
    /// An ECDSA signature with `s > n/2` (its malleated twin of a low-S signature).
    #[error("malleable high-s ecdsa signature from {0}")]
    MalleableSignature(String),
    /// The signers' weight is below the certificate threshold.
    #[error("insufficient weight: {got}, need {need}")]
    InsufficientWeight {
        /// Stake (Algorand-style) or replica count (ResDB-style) that signed.
        got: u64,
        /// The smallest sufficient value.
        need: u64,
    },
    /// The proven transaction is not a bridge transfer.
    #[error("proven transaction is not a bridge-out")]
    NotBridgeOut,
    /// The entry's stream index differs from the one the certified block assigned.
    #[error("wrong export index: entry says {claimed}, certified block says {actual}")]
    WrongIndex {
        /// The index the entry claims.
        claimed: u64,
        /// The index in the certified block.
        actual: u64,
    },
    /// The payload is not the canonical encoding of the proven transfer.
    #[error("payload does not match the proven transfer")]
    PayloadMismatch,
}

impl VerifyError {
    /// Whether the refusal may go away once the verifier has learned more validator sets (the
    /// entry is from an epoch it cannot reach yet, e.g. because it arrived far ahead of the
    /// entries carrying the needed transitions). Every other refusal is final for those bytes.
    pub fn is_transient(&self) -> bool {
        match self {
            VerifyError::UnreachableEpoch { .. } => true,
            VerifyError::WrongEpoch { expected, got } => got > expected,
            _ => false,
        }
    }
}
