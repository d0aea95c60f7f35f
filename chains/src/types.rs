//! Small value types shared by both chain models: hashes, heights, amounts, ids, addresses.

use crate::codec::{DecodeError, Reader, Writer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Serde helpers that write fixed-size byte arrays as lowercase hex strings (human-readable
/// formats) or as raw byte strings (binary formats).
pub mod hex_array {
    use serde::{Deserializer, Serializer, de::Error};

    /// Serialize `[u8; N]` as hex (human-readable) or bytes.
    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(v))
        } else {
            s.serialize_bytes(v)
        }
    }

    /// Deserialize `[u8; N]` from hex (human-readable) or bytes.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let bytes = super::hex_vec::deserialize(d)?;
        <[u8; N]>::try_from(bytes.as_slice())
            .map_err(|_| D::Error::custom(format!("expected {N} bytes, got {}", bytes.len())))
    }
}

/// Serde helpers that write a `Vec<u8>` as a hex string (human-readable) or raw bytes.
pub mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serialize bytes as hex (human-readable) or bytes.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(v))
        } else {
            s.serialize_bytes(v)
        }
    }

    /// Deserialize bytes from hex (human-readable) or bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            hex::decode(s).map_err(D::Error::custom)
        } else {
            Ok(serde_bytes::ByteBuf::deserialize(d)?.into_vec())
        }
    }
}

/// A 32-byte digest (SHA-512/256 on the Algorand-style chain, SHA-256 on the ResDB-style chain).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// The all-zero digest (used for "no previous block" and the empty Merkle tree).
    pub const ZERO: Hash32 = Hash32([0; 32]);

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse 64 hex characters.
    pub fn from_hex(s: &str) -> Result<Self, DecodeError> {
        let v = hex::decode(s).map_err(|_| DecodeError::BadHex)?;
        let a = <[u8; 32]>::try_from(v.as_slice()).map_err(|_| DecodeError::BadLength)?;
        Ok(Hash32(a))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        hex_array::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        hex_array::deserialize(d).map(Hash32)
    }
}

macro_rules! u64_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

u64_newtype!(
    /// Block height: the round on the Algorand-style chain, the sequence number on the ResDB-style
    /// chain. Produced blocks start at 1.
    Height
);
u64_newtype!(
    /// Validator-set epoch. Blocks `(e·L, (e+1)·L]` belong to epoch `e`, where `L` is the chain's
    /// epoch length.
    Epoch
);
u64_newtype!(
    /// A token amount.
    Amount
);
u64_newtype!(
    /// A validator's vote weight (Algorand-style stake).
    Stake
);
u64_newtype!(
    /// Position of a bridge transfer in a chain's export stream (dense from 0, BridgeOut
    /// transactions counted in block order).
    ExportIndex
);

impl Epoch {
    /// The epoch of `height` under epoch length `len` (`len ≥ 1`; `0` is treated as `1`).
    pub fn of(height: Height, len: u64) -> Epoch {
        Epoch(height.0.saturating_sub(1) / len.max(1))
    }

    /// The last height of this epoch under epoch length `len`.
    pub fn last_height(self, len: u64) -> Height {
        Height(self.0.saturating_add(1).saturating_mul(len.max(1)))
    }
}

impl Height {
    /// Whether this height is the last block of its epoch (and so must commit the next set).
    pub fn is_epoch_end(self, len: u64) -> bool {
        self.0 > 0 && self.0.is_multiple_of(len.max(1))
    }
}

/// A transaction id (hash of the transaction's signed bytes; see the encoding spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TxId(pub Hash32);

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A bridge transfer id: `SHA-256("BRIDGE-TRANSFER" ‖ str(source chain) ‖ tx id)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TransferId(pub Hash32);

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Maximum length of a chain id in bytes.
pub const MAX_CHAIN_ID_LEN: usize = 64;

/// A chain's identity (the Algorand-style genesis id; the ResDB-style chain id): 1 to 64 bytes of
/// printable ASCII.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChainId(String);

impl ChainId {
    /// Validate and wrap.
    pub fn new(s: impl Into<String>) -> Result<Self, DecodeError> {
        let s = s.into();
        if s.is_empty()
            || s.len() > MAX_CHAIN_ID_LEN
            || !s.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(DecodeError::BadChainId);
        }
        Ok(ChainId(s))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.str(&self.0);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let s = r.string(MAX_CHAIN_ID_LEN)?;
        ChainId::new(s)
    }
}

impl TryFrom<String> for ChainId {
    type Error = DecodeError;
    fn try_from(s: String) -> Result<Self, DecodeError> {
        ChainId::new(s)
    }
}

impl From<ChainId> for String {
    fn from(c: ChainId) -> String {
        c.0
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which chain model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainKind {
    /// The Algorand-style chain (stake-weighted ed25519 certificates).
    Algorand,
    /// The ResDB-style chain (PBFT commit certificates, 2f+1 of 3f+1).
    Resdb,
}

impl fmt::Display for ChainKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChainKind::Algorand => "algorand",
            ChainKind::Resdb => "resdb",
        })
    }
}

/// An account address: the account's public key.
///
/// Algorand-style accounts are ed25519 keys; ResDB-style client accounts are secp256k1 keys
/// (SEC1 compressed, 33 bytes). Encoded as a tag byte (`0x01` ed25519, `0x02` secp256k1) and the
/// key bytes.
///
/// Serialized (serde) as the text form `ed25519:<hex>` / `secp256k1:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    /// An ed25519 public key.
    Ed25519([u8; 32]),
    /// A SEC1-compressed secp256k1 public key.
    Secp256k1([u8; 33]),
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Address::from_text(&s).map_err(serde::de::Error::custom)
    }
}

impl Address {
    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            Address::Ed25519(k) => {
                w.u8(0x01);
                w.raw(k);
            }
            Address::Secp256k1(k) => {
                w.u8(0x02);
                w.raw(k);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0x01 => Ok(Address::Ed25519(r.array()?)),
            0x02 => Ok(Address::Secp256k1(r.array()?)),
            t => Err(DecodeError::BadTag(t)),
        }
    }

    /// `ed25519:<hex>` or `secp256k1:<hex>`.
    pub fn to_text(&self) -> String {
        match self {
            Address::Ed25519(k) => format!("ed25519:{}", hex::encode(k)),
            Address::Secp256k1(k) => format!("secp256k1:{}", hex::encode(k)),
        }
    }

    /// Parse the form written by [`Address::to_text`].
    pub fn from_text(s: &str) -> Result<Self, DecodeError> {
        let (kind, h) = s.split_once(':').ok_or(DecodeError::BadHex)?;
        let v = hex::decode(h).map_err(|_| DecodeError::BadHex)?;
        match kind {
            "ed25519" => Ok(Address::Ed25519(
                v.as_slice()
                    .try_into()
                    .map_err(|_| DecodeError::BadLength)?,
            )),
            "secp256k1" => Ok(Address::Secp256k1(
                v.as_slice()
                    .try_into()
                    .map_err(|_| DecodeError::BadLength)?,
            )),
            _ => Err(DecodeError::BadTag(0)),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}
