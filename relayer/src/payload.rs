//! [`Payload`]: the bytes of an entry together with their SHA-256 digest, computed at most once.
//!
//! [`crate::wire::open`] hashes every payload of a batch it receives (the batch signature covers
//! payloads through their digests) and keeps the digest with the payload, so sealing the entry
//! again and checking a proof that signs the payload's digest hash nothing more (see
//! [`crate::wire`] for what that saved).
//!
//! A payload is immutable: replacing an entry's payload replaces its digest with it, so the two
//! can never disagree (except through [`Payload::with_digest`], whose caller vouches for it).

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

/// Entry payload bytes (opaque to the protocol) and their SHA-256 digest, computed on first use
/// (clones made after that carry it).
#[derive(Clone, Default)]
pub struct Payload {
    bytes: Bytes,
    digest: OnceLock<[u8; 32]>,
}

impl Payload {
    /// A payload whose digest is computed when first asked for.
    pub fn new(bytes: Bytes) -> Self {
        Payload {
            bytes,
            digest: OnceLock::new(),
        }
    }

    /// A payload whose digest is already known. The caller vouches that `digest` is the SHA-256
    /// of `bytes` (checked in debug builds): [`crate::wire::open`], which has just computed it,
    /// and sources that hash what they produce. A wrong digest makes every batch carrying the
    /// payload fail to open at its receivers.
    pub fn with_digest(bytes: Bytes, digest: [u8; 32]) -> Self {
        debug_assert_eq!(
            <[u8; 32]>::from(Sha256::digest(&bytes)),
            digest,
            "payload digest"
        );
        Payload::hashed(bytes, digest)
    }

    /// The bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// A payload whose digest [`crate::wire::open`] has just computed.
    pub(crate) fn hashed(bytes: Bytes, digest: [u8; 32]) -> Self {
        Payload {
            bytes,
            digest: OnceLock::from(digest),
        }
    }

    /// The digest if it is already known, without computing it.
    pub fn known_digest(&self) -> Option<&[u8; 32]> {
        self.digest.get()
    }

    /// SHA-256 of the bytes (computed on the first call, then kept).
    pub fn digest(&self) -> &[u8; 32] {
        self.digest
            .get_or_init(|| Sha256::digest(&self.bytes).into())
    }
}

impl Deref for Payload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Two payloads are equal when their bytes are, whether or not their digests were computed yet.
impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Payload {}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.bytes.fmt(f)
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Payload::new(bytes)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Payload::new(Bytes::from(bytes))
    }
}

impl From<&'static [u8]> for Payload {
    fn from(bytes: &'static [u8]) -> Self {
        Payload::new(Bytes::from_static(bytes))
    }
}

impl<const N: usize> From<&'static [u8; N]> for Payload {
    fn from(bytes: &'static [u8; N]) -> Self {
        Payload::new(Bytes::from_static(bytes))
    }
}

/// Encoded exactly as [`Bytes`] is, so stored and wire forms do not change.
impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.bytes.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Bytes::deserialize(d).map(Payload::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_the_sha256_of_the_bytes_and_clones_made_after_carry_it() {
        let p = Payload::from(b"transfer".to_vec());
        let before = p.clone();
        assert_eq!(p.known_digest(), None);
        assert_eq!(p.digest(), &<[u8; 32]>::from(Sha256::digest(b"transfer")));
        assert_eq!(p.clone().known_digest(), Some(p.digest()));
        assert_eq!(
            before.known_digest(),
            None,
            "a clone made before hashes on its own"
        );
        assert_eq!(&*p, b"transfer");
    }

    #[test]
    fn equality_ignores_whether_the_digest_was_computed() {
        let fresh = Payload::from(b"x");
        let hashed = Payload::from(b"x");
        hashed.digest();
        assert_eq!(fresh, hashed);
        assert_ne!(fresh, Payload::from(b"y"));
    }

    #[test]
    fn encodes_as_bytes_do() {
        let p = Payload::from(b"abc".to_vec());
        let as_bytes = postcard::to_allocvec(&Bytes::from_static(b"abc")).unwrap();
        assert_eq!(postcard::to_allocvec(&p).unwrap(), as_bytes);
        let back: Payload = postcard::from_bytes(&as_bytes).unwrap();
        assert_eq!(back, p);
    }
}
