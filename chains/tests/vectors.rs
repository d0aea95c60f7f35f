//! Test vectors: one certified block and one exported entry per chain, built deterministically.
//!
//! The vectors are written to `tests/vectors/chains.json` (regenerate with
//! `UPDATE_VECTORS=1 cargo test -p chains --test vectors`); this test fails if the code no longer
//! produces them, or if `docs/CHAINS.md` does not quote the values it shows. The independent
//! re-verification in `docs/verify_example.py` reads the same file.

use chains::algorand::Algorand;
use chains::engine::{Engine, EngineConfig};
use chains::ledger::verify_export;
use chains::model::{Block, Model};
use chains::resdb::{KeyScheme, Resdb};
use chains::tx::{Tx, TxBody};
use chains::types::{Amount, ChainId, ChainKind, Height};
use serde_json::{Value, json};

fn engines() -> (Engine, Engine) {
    let mut a = EngineConfig::devnet(
        ChainKind::Algorand,
        ChainId::new("algo-vectors").unwrap(),
        "vectors",
        4,
        2,
    );
    let mut b = EngineConfig::devnet(
        ChainKind::Resdb,
        ChainId::new("resdb-vectors").unwrap(),
        "vectors",
        4,
        2,
    );
    for (i, v) in a.validators.iter_mut().enumerate() {
        v.stake = 100 * (i as u64 + 1);
    }
    b.validators[3].scheme = KeyScheme::Ed25519;
    let (pa, pb) = (a.peer_spec().unwrap(), b.peer_spec().unwrap());
    (
        Engine::new(a, &[pb]).unwrap(),
        Engine::new(b, &[pa]).unwrap(),
    )
}

fn bridge(src: &mut Engine, dst: &Engine, amount: u64) {
    let cfg = src.config().clone();
    let key = cfg.account_key(0);
    // A plain transfer first, so the tree has two leaves.
    let t = Tx::sign(
        cfg.kind,
        &cfg.chain_id,
        TxBody::Transfer {
            from: key.address(),
            to: cfg.account_key(1).address(),
            amount: Amount(1),
            nonce: 1,
        },
        &key,
    );
    src.submit_tx(t).unwrap();
    let tx = Tx::sign(
        cfg.kind,
        &cfg.chain_id,
        TxBody::BridgeOut {
            from: key.address(),
            dest_chain: dst.config().chain_id.clone(),
            recipient: dst.config().account_key(1).address(),
            amount: Amount(amount),
            nonce: 2,
        },
        &key,
    );
    src.submit_tx(tx).unwrap();
    src.produce_block(1_700_000_000_000).unwrap();
}

fn block_vectors<M: Model>(params: &M::Params, genesis_set: &M::Set, b: &Block<M>) -> Value {
    let mut w = chains::codec::Writer::new();
    M::encode_set(genesis_set, &mut w);
    let signed = b.signed_messages(params);
    let rec = b.txns[1].to_bytes();
    json!({
        "height": b.height().0,
        "header": hex::encode(b.encoded_header()),
        "header_hash": b.hash().to_hex(),
        "certificate": hex::encode(b.encoded_cert()),
        "validator_set": hex::encode(w.finish()),
        "first_signed_bytes": hex::encode(&signed[0].message),
        "first_signature": hex::encode(&signed[0].signature),
        "record_1": hex::encode(&rec),
        "leaf_1": <M::Hasher as chains::merkle::MerkleHasher>::leaf(&rec).to_hex(),
        "tx_root": b.tree().root().to_hex(),
    })
}

fn vectors() -> Value {
    let (mut a, mut b) = engines();
    bridge(&mut a, &b, 250);
    bridge(&mut b, &a, 75);
    let ea = a.export_all().unwrap().remove(0);
    let eb = b.export_all().unwrap().remove(0);
    // Both entries verify under the other chain's light client.
    let ca = a
        .peer_spec()
        .unwrap()
        .light_client(b.config().chain_id.clone());
    let cb = b
        .peer_spec()
        .unwrap()
        .light_client(a.config().chain_id.clone());
    verify_export(&ca, ea.k, &ea.payload, &ea.proof).unwrap();
    verify_export(&cb, eb.k, &eb.payload, &eb.proof).unwrap();
    let (Engine::Algorand(xa), Engine::Resdb(xb)) = (&a, &b) else {
        panic!("kinds")
    };
    let ba = xa.block(Height(1)).unwrap();
    let bb = xb.block(Height(1)).unwrap();
    json!({
        "algorand": {
            "chain_id": a.config().chain_id.as_str(),
            "genesis_hash": xa.params().genesis_hash.to_hex(),
            "epoch_length": a.config().epoch_length,
            "block": block_vectors::<Algorand>(xa.params(), xa.validator_set(chains::types::Epoch(0)).unwrap(), ba),
            "entry": { "k": ea.k.0, "payload": hex::encode(&ea.payload), "proof": hex::encode(&ea.proof),
                       "dest_chain": b.config().chain_id.as_str() },
        },
        "resdb": {
            "chain_id": b.config().chain_id.as_str(),
            "epoch_length": b.config().epoch_length,
            "block": block_vectors::<Resdb>(xb.params(), xb.validator_set(chains::types::Epoch(0)).unwrap(), bb),
            "entry": { "k": eb.k.0, "payload": hex::encode(&eb.payload), "proof": hex::encode(&eb.proof),
                       "dest_chain": a.config().chain_id.as_str() },
        },
    })
}

#[test]
fn vectors_match_the_file_and_the_doc() {
    let v = vectors();
    let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/chains.json");
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(path, &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(
        on_disk, text,
        "vectors changed: rerun with UPDATE_VECTORS=1 and update docs/CHAINS.md"
    );
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/CHAINS.md"))
        .unwrap_or_default();
    let doc: String = doc.split_whitespace().collect();
    for chain in ["algorand", "resdb"] {
        for key in [
            "header",
            "header_hash",
            "first_signed_bytes",
            "first_signature",
            "tx_root",
        ] {
            let val = v[chain]["block"][key].as_str().unwrap();
            assert!(
                doc.contains(val),
                "docs/CHAINS.md lacks {chain}.block.{key} = {val}"
            );
        }
    }
}
