//! Transactions of the bridge ledger (the same on both chains) and the bridge transfer record
//! that crosses between them.

use crate::codec::{DecodeError, Reader, Writer, decode_all};
use crate::keys::{AccountKey, sha256, sha512_256};
use crate::types::{Address, Amount, ChainId, ChainKind, ExportIndex, Hash32, TransferId, TxId};
use serde::{Deserialize, Serialize};

/// Largest payload or proof carried by a `BridgeIn` (bytes).
pub const MAX_BRIDGE_BYTES: usize = 1 << 20;

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxBody {
    /// Move `amount` from `from` to `to` on this chain.
    Transfer {
        /// Payer (signs).
        from: Address,
        /// Payee (created if absent).
        to: Address,
        /// Amount.
        amount: Amount,
        /// Must exceed the payer's last used nonce.
        nonce: u64,
    },
    /// Debit `from`, credit this chain's escrow for `dest_chain`, and export the transfer.
    BridgeOut {
        /// Payer (signs).
        from: Address,
        /// Destination chain.
        dest_chain: ChainId,
        /// Recipient on the destination chain.
        recipient: Address,
        /// Amount.
        amount: Amount,
        /// Must exceed the payer's last used nonce.
        nonce: u64,
    },
    /// Mint a transfer exported by another chain; authorised by its proof, not by a signature.
    BridgeIn {
        /// The exported entry's stream index.
        k: ExportIndex,
        /// The entry payload: an encoded [`BridgeTransfer`].
        #[serde(with = "crate::types::hex_vec")]
        payload: Vec<u8>,
        /// The entry proof (an encoded [`crate::model::ExportProof`]).
        #[serde(with = "crate::types::hex_vec")]
        proof: Vec<u8>,
    },
}

impl TxBody {
    /// Canonical encoding (see `docs/CHAINS.md`).
    pub fn encode(&self, w: &mut Writer) {
        match self {
            TxBody::Transfer {
                from,
                to,
                amount,
                nonce,
            } => {
                w.u8(0x01);
                from.encode(w);
                to.encode(w);
                w.u64(amount.0);
                w.u64(*nonce);
            }
            TxBody::BridgeOut {
                from,
                dest_chain,
                recipient,
                amount,
                nonce,
            } => {
                w.u8(0x02);
                from.encode(w);
                dest_chain.encode(w);
                recipient.encode(w);
                w.u64(amount.0);
                w.u64(*nonce);
            }
            TxBody::BridgeIn { k, payload, proof } => {
                w.u8(0x03);
                w.u64(k.0);
                w.bytes(payload);
                w.bytes(proof);
            }
        }
    }

    /// Decode (see [`TxBody::encode`]).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0x01 => Ok(TxBody::Transfer {
                from: Address::decode(r)?,
                to: Address::decode(r)?,
                amount: Amount(r.u64()?),
                nonce: r.u64()?,
            }),
            0x02 => Ok(TxBody::BridgeOut {
                from: Address::decode(r)?,
                dest_chain: ChainId::decode(r)?,
                recipient: Address::decode(r)?,
                amount: Amount(r.u64()?),
                nonce: r.u64()?,
            }),
            0x03 => Ok(TxBody::BridgeIn {
                k: ExportIndex(r.u64()?),
                payload: r.bytes(MAX_BRIDGE_BYTES)?.to_vec(),
                proof: r.bytes(MAX_BRIDGE_BYTES)?.to_vec(),
            }),
            t => Err(DecodeError::BadTag(t)),
        }
    }

    /// The account that must sign, if any (`BridgeIn` needs no signature).
    pub fn signer(&self) -> Option<&Address> {
        match self {
            TxBody::Transfer { from, .. } | TxBody::BridgeOut { from, .. } => Some(from),
            TxBody::BridgeIn { .. } => None,
        }
    }
}

/// A transaction as submitted and as stored in blocks: the body and, for `Transfer` and
/// `BridgeOut`, the payer's signature over [`signed_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tx {
    /// What it does.
    pub body: TxBody,
    /// The signature (64 bytes: ed25519, or ECDSA `r ‖ s`).
    #[serde(with = "crate::types::hex_vec")]
    pub sig: Vec<u8>,
}

/// Domain prefix of a chain kind's transaction signatures and ids.
pub fn tx_prefix(kind: ChainKind) -> &'static [u8] {
    match kind {
        ChainKind::Algorand => b"TX",
        ChainKind::Resdb => b"RESDB-TX",
    }
}

/// The bytes an account signs, and that the transaction id hashes:
/// `prefix ‖ str(chain id) ‖ encode(body)`.
pub fn signed_bytes(kind: ChainKind, chain: &ChainId, body: &TxBody) -> Vec<u8> {
    let mut w = Writer::with_prefix(tx_prefix(kind));
    chain.encode(&mut w);
    body.encode(&mut w);
    w.finish()
}

/// The chain's hash function: SHA-512/256 (Algorand-style) or SHA-256 (ResDB-style).
pub fn chain_hash(kind: ChainKind, bytes: &[u8]) -> Hash32 {
    match kind {
        ChainKind::Algorand => sha512_256(&[bytes]),
        ChainKind::Resdb => sha256(&[bytes]),
    }
}

impl Tx {
    /// Build and sign a transaction.
    pub fn sign(kind: ChainKind, chain: &ChainId, body: TxBody, key: &AccountKey) -> Tx {
        let sig = key.sign(&signed_bytes(kind, chain, &body)).to_vec();
        Tx { body, sig }
    }

    /// An unsigned `BridgeIn`.
    pub fn bridge_in(k: ExportIndex, payload: Vec<u8>, proof: Vec<u8>) -> Tx {
        Tx {
            body: TxBody::BridgeIn { k, payload, proof },
            sig: Vec::new(),
        }
    }

    /// The transaction id: the chain hash of [`signed_bytes`].
    pub fn id(&self, kind: ChainKind, chain: &ChainId) -> TxId {
        TxId(chain_hash(kind, &signed_bytes(kind, chain, &self.body)))
    }

    /// Canonical encoding: `encode(body) ‖ bytes(sig)`.
    pub fn encode(&self, w: &mut Writer) {
        self.body.encode(w);
        w.bytes(&self.sig);
    }

    /// The canonical encoding as a vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.finish()
    }

    /// Decode (see [`Tx::encode`]).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let body = TxBody::decode(r)?;
        let sig = r.bytes(64)?.to_vec();
        Ok(Tx { body, sig })
    }

    /// Decode a whole byte string.
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        decode_all(b, Tx::decode)
    }
}

/// A transaction as committed in a block: the transaction and what applying it assigned. This is
/// the data of a transaction-tree leaf, so the certificate covers the assigned export index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// The transaction.
    pub tx: Tx,
    /// For a `BridgeOut`: its index in this chain's export stream.
    pub export: Option<ExportIndex>,
}

impl TxRecord {
    /// Canonical encoding: `encode(tx) ‖ option(u64 export index)`.
    pub fn encode(&self, w: &mut Writer) {
        self.tx.encode(w);
        w.option(self.export.as_ref(), |w, k| w.u64(k.0));
    }

    /// The canonical encoding as a vector (the Merkle leaf data).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.finish()
    }

    /// Decode (see [`TxRecord::encode`]).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tx = Tx::decode(r)?;
        let export = r.option(|r| r.u64().map(ExportIndex))?;
        Ok(TxRecord { tx, export })
    }
}

/// A bridge transfer as exported: the entry payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeTransfer {
    /// Chain that escrowed the funds.
    pub source_chain: ChainId,
    /// Chain that mints.
    pub dest_chain: ChainId,
    /// Index in the source's export stream.
    pub k: ExportIndex,
    /// The source `BridgeOut` transaction's id.
    pub tx_id: TxId,
    /// Payer on the source chain.
    pub from: Address,
    /// Recipient on the destination chain.
    pub recipient: Address,
    /// Amount.
    pub amount: Amount,
    /// The `BridgeOut`'s nonce.
    pub nonce: u64,
}

impl BridgeTransfer {
    /// The transfer id: `SHA-256("BRIDGE-TRANSFER" ‖ str(source chain) ‖ tx id)`.
    pub fn id(&self) -> TransferId {
        transfer_id(&self.source_chain, &self.tx_id)
    }

    /// Canonical encoding: `str(source) ‖ str(dest) ‖ u64 k ‖ tx id[32] ‖ addr(from) ‖
    /// addr(recipient) ‖ u64 amount ‖ u64 nonce`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.source_chain.encode(&mut w);
        self.dest_chain.encode(&mut w);
        w.u64(self.k.0);
        w.raw(&self.tx_id.0.0);
        self.from.encode(&mut w);
        self.recipient.encode(&mut w);
        w.u64(self.amount.0);
        w.u64(self.nonce);
        w.finish()
    }

    /// Decode a whole payload.
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        decode_all(b, |r| {
            Ok(BridgeTransfer {
                source_chain: ChainId::decode(r)?,
                dest_chain: ChainId::decode(r)?,
                k: ExportIndex(r.u64()?),
                tx_id: TxId(Hash32(r.array()?)),
                from: Address::decode(r)?,
                recipient: Address::decode(r)?,
                amount: Amount(r.u64()?),
                nonce: r.u64()?,
            })
        })
    }

    /// The transfer exported by a committed `BridgeOut` record, if it is one.
    pub fn from_record(
        kind: ChainKind,
        source_chain: &ChainId,
        rec: &TxRecord,
    ) -> Option<BridgeTransfer> {
        match (&rec.tx.body, rec.export) {
            (
                TxBody::BridgeOut {
                    from,
                    dest_chain,
                    recipient,
                    amount,
                    nonce,
                },
                Some(k),
            ) => Some(BridgeTransfer {
                source_chain: source_chain.clone(),
                dest_chain: dest_chain.clone(),
                k,
                tx_id: rec.tx.id(kind, source_chain),
                from: *from,
                recipient: *recipient,
                amount: *amount,
                nonce: *nonce,
            }),
            _ => None,
        }
    }
}

/// `SHA-256("BRIDGE-TRANSFER" ‖ str(source chain) ‖ tx id)`.
pub fn transfer_id(source_chain: &ChainId, tx_id: &TxId) -> TransferId {
    let mut w = Writer::with_prefix(b"BRIDGE-TRANSFER");
    source_chain.encode(&mut w);
    w.raw(&tx_id.0.0);
    TransferId(sha256(&[w.as_slice()]))
}
