//! The JSON shapes of the devnet chain's RPC results, shared by the server and the client.
//!
//! A [`BlockView`] carries the block twice: decoded (for people and scripts) and as canonical
//! bytes in hex (for verifiers). The client rebuilds a typed [`Block`] from the bytes only, so
//! what it verifies is exactly what the validators signed. Byte layouts:
//!
//! - `encoded_header`: the model's canonical header encoding (its hash is `hash`);
//! - `encoded_certificate`: the model's canonical certificate encoding;
//! - `encoded_body`: `u32 count ‖ count × encode(TxRecord)`, the leaves the header's transaction
//!   root commits, in order;
//! - `encoded_next_validator_set`: the canonical set encoding (last block of an epoch only);
//! - `signatures[i].signed_bytes`: the exact message signature `i` covers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::algorand::Algorand;
use crate::codec::{DecodeError, Reader, Writer, decode_all};
use crate::model::{Block, Model};
use crate::resdb::{ReplicaKey, Resdb};
use crate::tx::TxRecord;
use crate::types::{ChainKind, Hash32, TxId, hex_vec};

/// Most transaction records one block body may hold.
pub const MAX_BODY_RECORDS: usize = 1 << 20;

/// `chain_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// The chain id.
    pub chain: String,
    /// The model.
    pub kind: ChainKind,
    /// The validator this endpoint belongs to.
    pub validator: usize,
    /// Whether that validator signs blocks.
    pub online: bool,
    /// Size of the validator set.
    pub validators: usize,
    /// Latest certified height (0 before the first block).
    pub height: u64,
    /// Time between blocks.
    pub block_interval_ms: u64,
    /// Transactions waiting for a block.
    pub pending_transactions: usize,
    /// Blocks per epoch.
    pub epoch_length: u64,
    /// Total escrowed by committed `BridgeOut`s towards the peer chain.
    #[serde(default)]
    pub escrowed: u64,
    /// Total minted by committed `BridgeIn`s from the peer chain.
    #[serde(default)]
    pub minted: u64,
    /// Bridge transfers from the peer chain applied so far.
    #[serde(default)]
    pub applied_transfers: u64,
}

/// One certificate signature, with everything needed to check it independently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureView {
    /// The signer as the model names it (hex vote key, or `replica-<id>`).
    pub signer: String,
    /// `ed25519` or `secp256k1` (ECDSA over SHA-256, low-S, `r ‖ s`).
    pub key_type: String,
    /// The signer's public key (ed25519: 32 bytes; secp256k1: SEC1 compressed, 33 bytes).
    #[serde(with = "hex_vec")]
    pub public_key: Vec<u8>,
    /// The exact bytes signed.
    #[serde(with = "hex_vec")]
    pub signed_bytes: Vec<u8>,
    /// The signature.
    #[serde(with = "hex_vec")]
    pub signature: Vec<u8>,
}

/// One transaction of a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockTxView {
    /// The transaction id.
    pub id: TxId,
    /// The committed record, decoded.
    pub record: TxRecord,
}

/// `chain_getBlock`, `chain_waitForBlock`, `chain_block` notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockView {
    /// The model.
    pub kind: ChainKind,
    /// The chain id.
    pub chain: String,
    /// Height (round or sequence number).
    pub height: u64,
    /// Epoch of the block.
    pub epoch: u64,
    /// The header's hash (the digest the certificate signs).
    pub hash: Hash32,
    /// The previous header's hash.
    pub prev_hash: Hash32,
    /// The header, decoded.
    pub header: Value,
    /// The certificate, decoded.
    pub certificate: Value,
    /// The transactions, decoded, in order.
    pub transactions: Vec<BlockTxView>,
    /// The next epoch's validator set, decoded (last block of an epoch only).
    pub next_validator_set: Option<Value>,
    /// Canonical header bytes.
    #[serde(with = "hex_vec")]
    pub encoded_header: Vec<u8>,
    /// Canonical certificate bytes.
    #[serde(with = "hex_vec")]
    pub encoded_certificate: Vec<u8>,
    /// Canonical body bytes: `u32 count ‖ count × encode(TxRecord)`.
    #[serde(with = "hex_vec")]
    pub encoded_body: Vec<u8>,
    /// Canonical bytes of the next validator set, if any.
    #[serde(default, with = "opt_hex")]
    pub encoded_next_validator_set: Option<Vec<u8>>,
    /// Every certificate signature.
    pub signatures: Vec<SignatureView>,
}

/// Where a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxState {
    /// Accepted, waiting for a block.
    Pending,
    /// In a certified block.
    Committed,
    /// Dropped when its block was built (stale nonce, insufficient funds, ...): see `reason`.
    Rejected,
}

/// `chain_getTransaction` (`null` when the id is unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxStatusView {
    /// The id asked about.
    pub id: TxId,
    /// Pending or committed.
    pub status: TxState,
    /// The block holding it, once committed.
    pub height: Option<u64>,
    /// Its position in that block.
    pub index: Option<u32>,
    /// The committed record (with its export index, for a `BridgeOut`).
    pub record: Option<TxRecord>,
    /// Why it was rejected.
    pub reason: Option<String>,
}

/// `chain_getAccount` (`null` when the account does not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// The address, as text.
    pub address: String,
    /// Committed balance.
    pub balance: u64,
    /// Last committed nonce (the next transaction must use a larger one).
    pub nonce: u64,
}

/// `chain_getValidatorSet` (`null` for an epoch not yet committed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidatorSetView {
    /// The epoch.
    pub epoch: u64,
    /// The set's hash (what headers commit).
    pub hash: Hash32,
    /// The set, decoded.
    pub set: Value,
    /// Canonical set bytes.
    #[serde(with = "hex_vec")]
    pub encoded: Vec<u8>,
}

/// Serde for `Option<Vec<u8>>` as an optional hex string.
mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| hex::decode(s).map_err(D::Error::custom))
            .transpose()
    }
}

/// What a model adds to the generic rendering: how to find a certificate signer's key.
pub trait SignerKeys: Model {
    /// `(key type, public key)` of `signer` (as named by [`Model::signed_messages`]) in `set`.
    fn signer_key(set: &Self::Set, signer: &str) -> Option<(&'static str, Vec<u8>)>;
}

impl SignerKeys for Algorand {
    fn signer_key(set: &Self::Set, signer: &str) -> Option<(&'static str, Vec<u8>)> {
        let key: [u8; 32] = hex::decode(signer).ok()?.try_into().ok()?;
        set.position(&key)?;
        Some(("ed25519", key.to_vec()))
    }
}

impl SignerKeys for Resdb {
    fn signer_key(set: &Self::Set, signer: &str) -> Option<(&'static str, Vec<u8>)> {
        let id: u32 = signer.strip_prefix("replica-")?.parse().ok()?;
        let r = set.replicas().get(set.position(id)?)?;
        Some(match r.key {
            ReplicaKey::Ed25519(k) => ("ed25519", k.to_vec()),
            ReplicaKey::Secp256k1(k) => ("secp256k1", k.to_vec()),
        })
    }
}

/// `u32 count ‖ count × encode(TxRecord)`.
pub fn encode_body(records: &[TxRecord]) -> Vec<u8> {
    let mut w = Writer::new();
    w.count(records.len());
    for r in records {
        r.encode(&mut w);
    }
    w.finish()
}

/// Decodes [`encode_body`]'s bytes.
pub fn decode_body(bytes: &[u8]) -> Result<Vec<TxRecord>, DecodeError> {
    decode_all(bytes, |r: &mut Reader<'_>| {
        // A record takes at least 1 (tag) + 4 (sig length) + 1 (option) bytes.
        let n = r.count(6, MAX_BODY_RECORDS)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(TxRecord::decode(r)?);
        }
        Ok(out)
    })
}

/// Renders a certified block; `set` is the validator set of the block's epoch.
pub fn render_block<M: SignerKeys>(
    params: &M::Params,
    set: &M::Set,
    block: &Block<M>,
) -> Result<BlockView, serde_json::Error> {
    let chain = M::chain_id(params);
    let height = block.height();
    let signatures = block
        .signed_messages(params)
        .into_iter()
        .map(|m| {
            let (key_type, public_key) =
                M::signer_key(set, &m.signer).unwrap_or(("unknown", Vec::new()));
            SignatureView {
                signer: m.signer,
                key_type: key_type.to_owned(),
                public_key,
                signed_bytes: m.message,
                signature: m.signature,
            }
        })
        .collect();
    let encoded_next_validator_set = block.next_set.as_ref().map(|s| {
        let mut w = Writer::new();
        M::encode_set(s, &mut w);
        w.finish()
    });
    Ok(BlockView {
        kind: M::KIND,
        chain: chain.to_string(),
        height: height.0,
        epoch: crate::types::Epoch::of(height, M::epoch_length(params)).0,
        hash: block.hash(),
        prev_hash: M::prev_hash(&block.header),
        header: serde_json::to_value(&block.header)?,
        certificate: serde_json::to_value(&block.cert)?,
        transactions: block
            .txns
            .iter()
            .map(|r| BlockTxView {
                id: r.tx.id(M::KIND, chain),
                record: r.clone(),
            })
            .collect(),
        next_validator_set: block
            .next_set
            .as_ref()
            .map(serde_json::to_value)
            .transpose()?,
        encoded_header: block.encoded_header(),
        encoded_certificate: block.encoded_cert(),
        encoded_body: encode_body(&block.txns),
        encoded_next_validator_set,
        signatures,
    })
}

impl BlockView {
    /// Rebuilds the typed block from the canonical bytes (never from the decoded JSON).
    pub fn to_block<M: Model>(&self) -> Result<Block<M>, DecodeError> {
        if self.kind != M::KIND {
            return Err(DecodeError::Invalid("block is of another chain kind"));
        }
        let header = decode_all(&self.encoded_header, M::decode_header)?;
        let cert = decode_all(&self.encoded_certificate, M::decode_cert)?;
        let txns = decode_body(&self.encoded_body)?;
        let next_set = self
            .encoded_next_validator_set
            .as_deref()
            .map(|b| decode_all(b, M::decode_set))
            .transpose()?;
        Ok(Block {
            header,
            cert,
            txns,
            next_set,
        })
    }
}

/// Renders a validator set.
pub fn render_set<M: Model>(set: &M::Set) -> Result<ValidatorSetView, serde_json::Error> {
    let mut w = Writer::new();
    M::encode_set(set, &mut w);
    Ok(ValidatorSetView {
        epoch: M::set_epoch(set).0,
        hash: M::set_hash(set),
        set: serde_json::to_value(set)?,
        encoded: w.finish(),
    })
}

impl ValidatorSetView {
    /// Rebuilds the typed set from its canonical bytes.
    pub fn to_set<M: Model>(&self) -> Result<M::Set, DecodeError> {
        decode_all(&self.encoded, M::decode_set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AccountKey;
    use crate::tx::{Tx, TxBody};
    use crate::types::{Amount, ChainId, ExportIndex};
    use proptest::prelude::*;

    fn record(i: u64) -> TxRecord {
        let key = AccountKey::devnet(ChainKind::Algorand, "t", i);
        let body = TxBody::Transfer {
            from: key.address(),
            to: key.address(),
            amount: Amount(i),
            nonce: i + 1,
        };
        let chain = ChainId::new("c").expect("valid id");
        TxRecord {
            tx: Tx::sign(ChainKind::Algorand, &chain, body, &key),
            export: i.is_multiple_of(2).then_some(ExportIndex(i)),
        }
    }

    #[test]
    fn body_round_trips() {
        for n in [0, 1, 5] {
            let records: Vec<TxRecord> = (0..n).map(record).collect();
            assert_eq!(decode_body(&encode_body(&records)), Ok(records));
        }
        let mut bytes = encode_body(&[record(1)]);
        bytes.push(0);
        assert!(decode_body(&bytes).is_err(), "trailing bytes are refused");
    }

    proptest! {
        #[test]
        fn body_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_body(&bytes);
        }

        #[test]
        fn truncated_bodies_are_refused(cut in 0usize..200) {
            let bytes = encode_body(&[record(1), record(2)]);
            let cut = cut.min(bytes.len() - 1);
            prop_assert!(decode_body(&bytes[..cut]).is_err());
        }
    }
}
