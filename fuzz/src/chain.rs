//! The `chain_codec` check: every decoder a relay or a chain applies to chain data it did not
//! produce — the canonical encodings of `chains` (transactions, records, bridge transfers, block
//! bodies, headers, certificates, validator sets, Merkle proofs, export proofs), an export entry
//! verified by a real light client, and a block as a validator's JSON-RPC serves it.
//!
//! Input: `selector ‖ bytes`; `selector % DECODERS.len()` picks the decoder (see [`DECODERS`]).
//!
//! Properties (any violation panics, which the fuzzer reports):
//! - nothing panics;
//! - the encodings are canonical: bytes that decode re-encode to exactly the same bytes, and
//!   decode again to the same value;
//! - an export entry that verifies proves exactly the payload and index it came with, and
//!   verifies again after its learned validator sets are adopted;
//! - a block rebuilt from a `BlockView` re-encodes to the view's canonical bytes.

use std::fmt::Debug;
use std::sync::OnceLock;

use chains::algorand::{self, Algorand};
use chains::codec::{DecodeError, Reader, Writer, decode_all};
use chains::devnet::api::{self as view, BlockView};
use chains::engine::{AnyBlock, AnyExporter, EngineConfig, PeerSpec};
use chains::ledger::PeerClient;
use chains::merkle::MerkleProof;
use chains::model::{Block, ExportProof, Model};
use chains::resdb::{self, KeyScheme, Resdb};
use chains::tx::{BridgeTransfer, Tx, TxRecord};
use chains::types::{ChainId, ChainKind, ExportIndex};

/// The decoders, by selector value.
pub const DECODERS: [&str; 15] = [
    "tx",
    "tx_record",
    "bridge_transfer",
    "block_body",
    "algorand_header",
    "algorand_certificate",
    "algorand_validator_set",
    "resdb_batch_header",
    "resdb_commit_certificate",
    "resdb_replica_set",
    "merkle_proof",
    "algorand_export_proof",
    "resdb_export_proof",
    "export_entry",
    "block_view_json",
];

/// The selector byte of decoder `name`.
pub fn selector(name: &str) -> u8 {
    let i = DECODERS
        .iter()
        .position(|d| *d == name)
        .unwrap_or_else(|| panic!("unknown decoder {name}"));
    u8::try_from(i).unwrap_or_else(|_| panic!("selector {i} does not fit in a byte"))
}

/// The Algorand-style chain's id.
pub fn algorand_id() -> ChainId {
    ChainId::new("fuzz-algorand").unwrap_or_else(|e| panic!("chain id: {e}"))
}

/// The ResDB-style chain's id.
pub fn resdb_id() -> ChainId {
    ChainId::new("fuzz-resdb").unwrap_or_else(|e| panic!("chain id: {e}"))
}

/// The two devnet chains the seeds come from and the light clients follow: four validators
/// each, epochs of two blocks (so proofs carry epoch transitions), ResDB replicas signing with
/// both key schemes.
pub fn configs() -> (EngineConfig, EngineConfig) {
    let mut a = EngineConfig::devnet(ChainKind::Algorand, algorand_id(), "fuzz-a", 4, 4);
    let mut b = EngineConfig::devnet(ChainKind::Resdb, resdb_id(), "fuzz-b", 4, 4);
    a.epoch_length = 2;
    b.epoch_length = 2;
    b.validators[3].scheme = KeyScheme::Ed25519;
    (a, b)
}

/// `(spec of A, spec of B)`.
fn specs() -> &'static (PeerSpec, PeerSpec) {
    static SPECS: OnceLock<(PeerSpec, PeerSpec)> = OnceLock::new();
    SPECS.get_or_init(|| {
        let (a, b) = configs();
        let spec = |c: &EngineConfig| {
            c.peer_spec()
                .unwrap_or_else(|e| panic!("peer spec of {}: {e}", c.chain_id))
        };
        (spec(&a), spec(&b))
    })
}

/// Runs the whole check on one input.
pub fn check(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    match DECODERS[usize::from(sel) % DECODERS.len()] {
        "tx" => canonical(bytes, Tx::from_bytes, Tx::to_bytes),
        "tx_record" => canonical(
            bytes,
            |b| decode_all(b, TxRecord::decode),
            TxRecord::to_bytes,
        ),
        "bridge_transfer" => canonical(bytes, BridgeTransfer::from_bytes, BridgeTransfer::to_bytes),
        "block_body" => canonical(bytes, view::decode_body, |r| view::encode_body(r)),
        "algorand_header" => canonical(
            bytes,
            |b| decode_all(b, algorand::Header::decode),
            algorand::Header::to_bytes,
        ),
        "algorand_certificate" => canonical(
            bytes,
            |b| decode_all(b, algorand::Certificate::decode),
            |c| written(|w| c.encode(w)),
        ),
        "algorand_validator_set" => canonical(
            bytes,
            |b| decode_all(b, algorand::ValidatorSet::decode),
            |s| written(|w| s.encode(w)),
        ),
        "resdb_batch_header" => canonical(
            bytes,
            |b| decode_all(b, resdb::BatchHeader::decode),
            resdb::BatchHeader::to_bytes,
        ),
        "resdb_commit_certificate" => canonical(
            bytes,
            |b| decode_all(b, resdb::CommitCert::decode),
            |c| written(|w| c.encode(w)),
        ),
        "resdb_replica_set" => canonical(
            bytes,
            |b| decode_all(b, resdb::ReplicaSet::decode),
            |s| written(|w| s.encode(w)),
        ),
        "merkle_proof" => canonical(
            bytes,
            |b| decode_all(b, MerkleProof::decode),
            |p| written(|w| p.encode(w)),
        ),
        "algorand_export_proof" => canonical(
            bytes,
            ExportProof::<Algorand>::from_bytes,
            ExportProof::to_bytes,
        ),
        "resdb_export_proof" => canonical(
            bytes,
            ExportProof::<Resdb>::from_bytes,
            ExportProof::to_bytes,
        ),
        "export_entry" => export_entry(bytes),
        "block_view_json" => block_view_json(bytes),
        other => unreachable!("decoder {other} has no check"),
    }
}

fn written(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    f(&mut w);
    w.finish()
}

/// Bytes that decode re-encode to themselves, and decode again to the same value.
fn canonical<T: PartialEq + Debug, E>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T) -> Vec<u8>,
) {
    let Ok(value) = decode(bytes) else {
        return;
    };
    let again = encode(&value);
    assert!(
        again == bytes,
        "not canonical: {} input bytes decode to {value:?}, which encodes to {} other bytes",
        bytes.len(),
        again.len()
    );
    match decode(&again) {
        Ok(v) => assert_eq!(v, value, "decode(encode(x)) != x"),
        Err(_) => panic!("the encoding of a decoded value does not decode: {value:?}"),
    }
}

/// An entry of one chain's export stream, as a relay receives it from a peer:
/// `source ‖ u64 k ‖ bytes(payload) ‖ proof`, `source` even for the Algorand-style chain (whose
/// light client lives on the ResDB-style chain), odd for the other.
pub fn encode_export_entry(source: ChainKind, k: u64, payload: &[u8], proof: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(match source {
        ChainKind::Algorand => 0,
        ChainKind::Resdb => 1,
    });
    w.u64(k);
    w.bytes(payload);
    w.raw(proof);
    w.finish()
}

fn export_entry(bytes: &[u8]) {
    let mut r = Reader::new(bytes);
    let parsed = (|| {
        let source = r.u8()?;
        let k = r.u64()?;
        let payload = r.bytes(usize::MAX)?;
        let proof = r.take(r.remaining())?;
        Ok::<_, DecodeError>((source, k, payload, proof))
    })();
    let Ok((source, k, payload, proof)) = parsed else {
        return;
    };
    let (spec_a, spec_b) = specs();
    let mut client = if source % 2 == 0 {
        spec_a.light_client(resdb_id())
    } else {
        spec_b.light_client(algorand_id())
    };
    let Ok(verified) = client.verify_export(ExportIndex(k), payload, proof) else {
        return;
    };
    assert_eq!(
        verified.transfer.k,
        ExportIndex(k),
        "verified another index"
    );
    assert_eq!(
        verified.transfer.to_bytes(),
        payload,
        "verified another payload"
    );
    assert_eq!(
        BridgeTransfer::from_bytes(payload).ok().as_ref(),
        Some(&verified.transfer),
        "the verified payload does not decode to the proven transfer"
    );
    client.adopt(&verified.learned);
    match client.verify_export(ExportIndex(k), payload, proof) {
        Ok(again) => assert_eq!(again.transfer, verified.transfer),
        Err(e) => panic!("an entry stopped verifying once its sets were adopted: {e}"),
    }
}

/// A block as `chain_getBlock` serves it, rebuilt the way the relay's chain follower does, then
/// checked by a light client of its chain and pushed into a fresh exporter.
fn block_view_json(bytes: &[u8]) {
    let Ok(view) = serde_json::from_slice::<BlockView>(bytes) else {
        return;
    };
    let (spec_a, spec_b) = specs();
    match view.kind {
        ChainKind::Algorand => rebuilt::<Algorand>(&view, spec_a, resdb_id(), AnyBlock::Algorand),
        ChainKind::Resdb => rebuilt::<Resdb>(&view, spec_b, algorand_id(), AnyBlock::Resdb),
    }
}

fn rebuilt<M: Model>(
    view: &BlockView,
    spec: &PeerSpec,
    local: ChainId,
    any: fn(Block<M>) -> AnyBlock,
) where
    PeerClient: LightClientOf<M>,
{
    let Ok(block) = view.to_block::<M>() else {
        return;
    };
    assert_eq!(block.encoded_header(), view.encoded_header, "header bytes");
    assert_eq!(block.encoded_cert(), view.encoded_certificate, "cert bytes");
    assert_eq!(
        view::encode_body(&block.txns),
        view.encoded_body,
        "body bytes"
    );
    let next_set = block.next_set.as_ref().map(|s| {
        let mut w = Writer::new();
        M::encode_set(s, &mut w);
        w.finish()
    });
    assert_eq!(next_set, view.encoded_next_validator_set, "next set bytes");
    let client = spec.light_client(local);
    let verified = client.verify_block_of(&block);
    let block = any(block);
    if verified && block.height().0 == 1 {
        let mut exporter = AnyExporter::new(spec);
        if let Ok(entries) = exporter.push_block(&block) {
            assert_eq!(exporter.next_height().0, 2, "exporter did not advance");
            assert_eq!(
                entries.len(),
                block.txns().iter().filter(|r| r.export.is_some()).count(),
                "one entry per exported record"
            );
        }
    }
}

/// [`PeerClient`]'s light client of model `M`, to verify a typed block.
trait LightClientOf<M: Model> {
    /// Whether `block` verifies (`false` also when the client follows the other model).
    fn verify_block_of(&self, block: &Block<M>) -> bool;
}

impl LightClientOf<Algorand> for PeerClient {
    fn verify_block_of(&self, block: &Block<Algorand>) -> bool {
        matches!(self, PeerClient::Algorand(c) if c.verify_block(block).is_ok())
    }
}

impl LightClientOf<Resdb> for PeerClient {
    fn verify_block_of(&self, block: &Block<Resdb>) -> bool {
        matches!(self, PeerClient::Resdb(c) if c.verify_block(block).is_ok())
    }
}
