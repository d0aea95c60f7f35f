//! Keys and signatures: deterministic devnet key derivation, account keys, and the signature
//! checks both chain models share (ed25519, and secp256k1 ECDSA with the low-S rule).

use crate::types::{Address, Hash32};
use k256::ecdsa::signature::{Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Hash32 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash32(h.finalize().into())
}

/// SHA-512/256 of the concatenation of `parts`.
pub fn sha512_256(parts: &[&[u8]]) -> Hash32 {
    let mut h = sha2::Sha512_256::new();
    for p in parts {
        h.update(p);
    }
    Hash32(h.finalize().into())
}

/// A 32-byte secret derived from a seed: `SHA-256("picsou-devnet-key" ‖ 0x00 ‖ seed ‖ 0x00 ‖
/// label ‖ u64be(index))`. Devnet and test keys only.
pub fn derive_secret(seed: &str, label: &str, index: u64) -> [u8; 32] {
    sha256(&[
        b"picsou-devnet-key",
        &[0],
        seed.as_bytes(),
        &[0],
        label.as_bytes(),
        &index.to_be_bytes(),
    ])
    .0
}

/// A secp256k1 signing key from 32 secret bytes; bytes that are not a valid scalar (probability
/// about 2⁻¹²⁸) are rehashed until they are.
pub fn secp256k1_key(secret: [u8; 32]) -> k256::ecdsa::SigningKey {
    let mut s = secret;
    loop {
        if let Ok(k) = k256::ecdsa::SigningKey::from_slice(&s) {
            return k;
        }
        s = sha256(&[&s]).0;
    }
}

/// The SEC1-compressed public key of a secp256k1 signing key.
pub fn secp256k1_public(k: &k256::ecdsa::SigningKey) -> [u8; 33] {
    let p = k.verifying_key().to_sec1_point(true);
    let mut out = [0u8; 33];
    let b = p.as_bytes();
    if b.len() == 33 {
        out.copy_from_slice(b);
    }
    out
}

/// ECDSA over secp256k1 with SHA-256 (RFC 6979 nonces); returns `r ‖ s` (64 bytes) with `s`
/// normalised to the low half.
pub fn ecdsa_sign(k: &k256::ecdsa::SigningKey, msg: &[u8]) -> [u8; 64] {
    let sig: k256::ecdsa::Signature = k.sign(msg);
    let sig = sig.normalize_s();
    let mut out = [0u8; 64];
    out.copy_from_slice(&sig.to_bytes());
    out
}

/// `n/2` for the secp256k1 group order `n`, big-endian. A signature is low-S iff `s ≤ n/2`.
pub const SECP256K1_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// The secp256k1 group order `n`, big-endian.
pub const SECP256K1_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// Whether the `s` half of an `r ‖ s` signature is above `n/2` (the malleated form).
pub fn ecdsa_is_high_s(sig: &[u8; 64]) -> bool {
    sig[32..] > SECP256K1_HALF_ORDER[..]
}

/// The malleated twin `r ‖ (n − s)` of a signature (for tests: it verifies under plain ECDSA but
/// must be refused as malleable).
pub fn ecdsa_malleate(sig: &[u8; 64]) -> [u8; 64] {
    let mut out = *sig;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(SECP256K1_ORDER[i]) - i16::from(sig[32 + i]) - borrow;
        if d < 0 {
            out[32 + i] = (d + 256) as u8;
            borrow = 1;
        } else {
            out[32 + i] = d as u8;
            borrow = 0;
        }
    }
    out
}

/// Why a single signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigFault {
    /// It does not verify (or the key or signature bytes are malformed).
    Bad,
    /// ECDSA with high S.
    Malleable,
}

/// Verify a secp256k1 ECDSA (SHA-256) signature, refusing the high-S form first.
pub fn ecdsa_verify(public: &[u8; 33], msg: &[u8], sig: &[u8; 64]) -> Result<(), SigFault> {
    if ecdsa_is_high_s(sig) {
        return Err(SigFault::Malleable);
    }
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(public).map_err(|_| SigFault::Bad)?;
    let s = k256::ecdsa::Signature::from_slice(sig).map_err(|_| SigFault::Bad)?;
    vk.verify(msg, &s).map_err(|_| SigFault::Bad)
}

/// Verify a secp256k1 ECDSA (SHA-256) signature under an already parsed key, refusing the
/// high-S form first.
pub fn ecdsa_verify_key(
    vk: &k256::ecdsa::VerifyingKey,
    msg: &[u8],
    sig: &[u8; 64],
) -> Result<(), SigFault> {
    if ecdsa_is_high_s(sig) {
        return Err(SigFault::Malleable);
    }
    let s = k256::ecdsa::Signature::from_slice(sig).map_err(|_| SigFault::Bad)?;
    vk.verify(msg, &s).map_err(|_| SigFault::Bad)
}

/// Verify an ed25519 signature.
pub fn ed25519_verify(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> Result<(), SigFault> {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(public).map_err(|_| SigFault::Bad)?;
    let s = ed25519_dalek::Signature::from_bytes(sig);
    vk.verify_strict(msg, &s).map_err(|_| SigFault::Bad)
}

/// Verify a signature by the account `addr` over `msg` (scheme chosen by the address type).
pub fn verify_account(addr: &Address, msg: &[u8], sig: &[u8; 64]) -> Result<(), SigFault> {
    match addr {
        Address::Ed25519(k) => ed25519_verify(k, msg, sig),
        Address::Secp256k1(k) => ecdsa_verify(k, msg, sig),
    }
}

/// An account's signing key (ed25519 on the Algorand-style chain, secp256k1 on the ResDB-style
/// chain). Serialized as its scheme and 32 secret bytes.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKey {
    /// ed25519 secret key bytes.
    Ed25519(#[serde(with = "crate::types::hex_array")] [u8; 32]),
    /// secp256k1 secret scalar bytes.
    Secp256k1(#[serde(with = "crate::types::hex_array")] [u8; 32]),
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountKey({})", self.address())
    }
}

impl AccountKey {
    /// The devnet account key number `index` of a chain kind, derived from `seed`.
    pub fn devnet(kind: crate::types::ChainKind, seed: &str, index: u64) -> AccountKey {
        match kind {
            crate::types::ChainKind::Algorand => {
                AccountKey::Ed25519(derive_secret(seed, "algorand/account", index))
            }
            crate::types::ChainKind::Resdb => {
                let k = secp256k1_key(derive_secret(seed, "resdb/account", index));
                AccountKey::Secp256k1(k.to_bytes().into())
            }
        }
    }

    /// The account's address (its public key).
    pub fn address(&self) -> Address {
        match self {
            AccountKey::Ed25519(s) => Address::Ed25519(
                ed25519_dalek::SigningKey::from_bytes(s)
                    .verifying_key()
                    .to_bytes(),
            ),
            AccountKey::Secp256k1(s) => Address::Secp256k1(secp256k1_public(&secp256k1_key(*s))),
        }
    }

    /// Sign `msg` (ed25519, or ECDSA-SHA-256 low-S).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        match self {
            AccountKey::Ed25519(s) => {
                use ed25519_dalek::Signer as _;
                ed25519_dalek::SigningKey::from_bytes(s)
                    .sign(msg)
                    .to_bytes()
            }
            AccountKey::Secp256k1(s) => ecdsa_sign(&secp256k1_key(*s), msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_low_s_verifies_and_its_twin_is_malleable() {
        let k = secp256k1_key(derive_secret("t", "x", 0));
        let pk = secp256k1_public(&k);
        for i in 0..20u8 {
            let msg = [i; 5];
            let sig = ecdsa_sign(&k, &msg);
            assert!(!ecdsa_is_high_s(&sig));
            assert_eq!(ecdsa_verify(&pk, &msg, &sig), Ok(()));
            let twin = ecdsa_malleate(&sig);
            assert!(ecdsa_is_high_s(&twin));
            assert_eq!(ecdsa_verify(&pk, &msg, &twin), Err(SigFault::Malleable));
            assert_eq!(ecdsa_malleate(&twin), sig);
            assert_eq!(ecdsa_verify(&pk, b"other", &sig), Err(SigFault::Bad));
        }
    }

    #[test]
    fn account_keys_sign_and_verify() {
        for kind in [
            crate::types::ChainKind::Algorand,
            crate::types::ChainKind::Resdb,
        ] {
            let k = AccountKey::devnet(kind, "seed", 3);
            let sig = k.sign(b"hello");
            assert_eq!(verify_account(&k.address(), b"hello", &sig), Ok(()));
            assert_eq!(
                verify_account(&k.address(), b"hellO", &sig),
                Err(SigFault::Bad)
            );
        }
    }
}
