//! The seed corpus: real encoded values, produced by the code under test, for every target.
//!
//! Two devnet chain engines ([`crate::chain::configs`]) run a few blocks of transfers, bridge
//! transfers both ways and a validator-set change; their blocks, certificates, sets, records,
//! export entries and rendered `BlockView`s become `chain_codec` seeds; batches carrying those
//! entries, sealed with [`relayer::wire::seal`] and framed with the frame encoder, become
//! `wire_open` seeds; the JSON parameters real clients send become `rpc_params` seeds.
//!
//! [`seeds`] is deterministic: the checked-in `corpus/` is exactly its output (a test checks it,
//! and `cargo test -- --ignored regenerate` rewrites it).

use bytes::Bytes;
use chains::algorand::Algorand;
use chains::codec::Writer;
use chains::devnet::api::{self as view, BlockView};
use chains::engine::{AnyBlock, AnySet, Engine, ValidatorSpec};
use chains::model::{ExportEntry, Model};
use chains::resdb::{KeyScheme, Resdb};
use chains::tx::{Tx, TxBody};
use chains::types::{Address, Amount, ChainKind, Epoch, Height};
use relayer::net::framing;
use relayer::protocol::{Ack, Batch, BatchKind, Entry};
use relayer::types::StreamIndex;
use relayer::wire;

use crate::chain::{self, algorand_id, resdb_id};
use crate::{params, wire as wire_check};

/// One seed input of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// The fuzz target (`wire_open`, `chain_codec`, `rpc_params`).
    pub target: &'static str,
    /// The file name under `corpus/<target>/`.
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

/// Every target's name.
pub const TARGETS: [&str; 3] = ["wire_open", "chain_codec", "rpc_params"];

/// Every seed of every target, in a fixed order.
pub fn seeds() -> Vec<Seed> {
    let run = Run::new();
    let mut out = Vec::new();
    chain_seeds(&run, &mut out);
    wire_seeds(&run, &mut out);
    params_seeds(&run, &mut out);
    out
}

/// What the two engines produced.
struct Run {
    a: Engine,
    b: Engine,
    a_entries: Vec<ExportEntry>,
    b_entries: Vec<ExportEntry>,
    /// A signed transfer of each kind, as submitted.
    txs: Vec<(&'static str, Tx)>,
}

fn fail<T, E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> T + '_ {
    move |e| panic!("{what}: {e}")
}

impl Run {
    fn new() -> Run {
        let (ca, cb) = chain::configs();
        let pa = ca.peer_spec().unwrap_or_else(fail("spec of A"));
        let pb = cb.peer_spec().unwrap_or_else(fail("spec of B"));
        let mut a = Engine::new(ca, &[pb]).unwrap_or_else(fail("engine A"));
        let mut b = Engine::new(cb, &[pa]).unwrap_or_else(fail("engine B"));
        // A new validator set from epoch 2 on, so later proofs carry a real set change.
        a.schedule_validators(
            (10..13)
                .map(|i| ValidatorSpec {
                    key_index: i,
                    stake: 40 + i,
                    scheme: KeyScheme::Secp256k1,
                })
                .collect(),
        )
        .unwrap_or_else(fail("schedule A"));
        b.schedule_validators(
            (20..24)
                .map(|i| ValidatorSpec {
                    key_index: i,
                    stake: 1,
                    scheme: if i % 2 == 0 {
                        KeyScheme::Ed25519
                    } else {
                        KeyScheme::Secp256k1
                    },
                })
                .collect(),
        )
        .unwrap_or_else(fail("schedule B"));
        let mut txs = Vec::new();
        let mut delivered = (0, 0);
        for round in 0..5u64 {
            let nonce = round + 1;
            let t = transfer(&a, 0, account(&a, 1), 3 + round, nonce);
            txs.push(("algorand_transfer", t.clone()));
            submit(&mut a, &t);
            let t = bridge_out(&a, 1, account(&b, 2), 10 + round, nonce);
            txs.push(("algorand_bridge_out", t.clone()));
            submit(&mut a, &t);
            let t = bridge_out(&b, 0, account(&a, 3), 20 + round, nonce);
            txs.push(("resdb_bridge_out", t.clone()));
            submit(&mut b, &t);
            let t = transfer(&b, 3, account(&b, 2), 1 + round, nonce);
            txs.push(("resdb_transfer", t.clone()));
            submit(&mut b, &t);
            a.produce_block(1_700_000_000_000 + round)
                .unwrap_or_else(fail("block of A"));
            b.produce_block(1_700_000_000_000 + round)
                .unwrap_or_else(fail("block of B"));
            // Deliver what the other chain exported so far: bridge-ins in the next blocks.
            let ea = a.export_all().unwrap_or_else(fail("export A"));
            let eb = b.export_all().unwrap_or_else(fail("export B"));
            for e in &ea[delivered.0..] {
                let t = Tx::bridge_in(e.k, e.payload.clone(), e.proof.clone());
                txs.push(("resdb_bridge_in", t.clone()));
                submit(&mut b, &t);
            }
            for e in &eb[delivered.1..] {
                let t = Tx::bridge_in(e.k, e.payload.clone(), e.proof.clone());
                txs.push(("algorand_bridge_in", t.clone()));
                submit(&mut a, &t);
            }
            delivered = (ea.len(), eb.len());
        }
        let a_entries = a.export_all().unwrap_or_else(fail("export A"));
        let b_entries = b.export_all().unwrap_or_else(fail("export B"));
        Run {
            a,
            b,
            a_entries,
            b_entries,
            txs,
        }
    }
}

fn account(e: &Engine, i: u64) -> Address {
    e.config().account_key(i).address()
}

fn submit(e: &mut Engine, tx: &Tx) {
    e.submit(&tx.to_bytes())
        .unwrap_or_else(fail("a seed transaction is refused"));
}

fn transfer(e: &Engine, from: u64, to: Address, amount: u64, nonce: u64) -> Tx {
    let cfg = e.config();
    let key = cfg.account_key(from);
    let body = TxBody::Transfer {
        from: key.address(),
        to,
        amount: Amount(amount),
        nonce,
    };
    Tx::sign(cfg.kind, &cfg.chain_id, body, &key)
}

fn bridge_out(e: &Engine, from: u64, to: Address, amount: u64, nonce: u64) -> Tx {
    let cfg = e.config();
    let key = cfg.account_key(from);
    let dest_chain = match cfg.kind {
        ChainKind::Algorand => resdb_id(),
        ChainKind::Resdb => algorand_id(),
    };
    let body = TxBody::BridgeOut {
        from: key.address(),
        dest_chain,
        recipient: to,
        amount: Amount(amount),
        nonce,
    };
    Tx::sign(cfg.kind, &cfg.chain_id, body, &key)
}

fn push(out: &mut Vec<Seed>, target: &'static str, name: String, bytes: Vec<u8>) {
    out.push(Seed {
        target,
        name,
        bytes,
    });
}

fn with_selector(sel: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + bytes.len());
    v.push(sel);
    v.extend_from_slice(bytes);
    v
}

fn chain_seed(out: &mut Vec<Seed>, decoder: &str, name: String, bytes: &[u8]) {
    push(
        out,
        "chain_codec",
        format!("{decoder}-{name}"),
        with_selector(chain::selector(decoder), bytes),
    );
}

fn written(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    f(&mut w);
    w.finish()
}

fn chain_seeds(run: &Run, out: &mut Vec<Seed>) {
    // One transaction of each kind on each chain (the first of each).
    let mut seen = Vec::new();
    for (kind, tx) in &run.txs {
        if !seen.contains(kind) {
            seen.push(*kind);
            chain_seed(out, "tx", (*kind).to_owned(), &tx.to_bytes());
        }
    }
    for (chain_name, e) in [("algorand", &run.a), ("resdb", &run.b)] {
        let spec = e.peer_spec().unwrap_or_else(fail("peer spec"));
        for h in 1..=e.height().0 {
            let block = e.block(Height(h)).unwrap_or_else(|| panic!("block {h}"));
            let tag = format!("{chain_name}-h{h}");
            chain_seed(
                out,
                "block_body",
                tag.clone(),
                &view::encode_body(block.txns()),
            );
            if let Some(r) = block.txns().first() {
                chain_seed(out, "tx_record", tag.clone(), &r.to_bytes());
            }
            if let Some(r) = block.txns().iter().find(|r| r.export.is_some()) {
                chain_seed(out, "tx_record", format!("{tag}-exported"), &r.to_bytes());
            }
            let epoch = Epoch::of(Height(h), e.config().epoch_length);
            let set = e
                .validator_set(epoch)
                .unwrap_or_else(|| panic!("set of epoch {}", epoch.0));
            let rendered = match (&block, &set, &spec) {
                (
                    AnyBlock::Algorand(b),
                    AnySet::Algorand(s),
                    chains::engine::PeerSpec::Algorand { params, .. },
                ) => {
                    chain_seed(out, "algorand_header", tag.clone(), &b.encoded_header());
                    chain_seed(out, "algorand_certificate", tag.clone(), &b.encoded_cert());
                    if let Some(next) = &b.next_set {
                        let bytes = written(|w| Algorand::encode_set(next, w));
                        chain_seed(out, "algorand_validator_set", tag.clone(), &bytes);
                    }
                    view::render_block::<Algorand>(params, s, b)
                }
                (
                    AnyBlock::Resdb(b),
                    AnySet::Resdb(s),
                    chains::engine::PeerSpec::Resdb { params, .. },
                ) => {
                    chain_seed(out, "resdb_batch_header", tag.clone(), &b.encoded_header());
                    chain_seed(
                        out,
                        "resdb_commit_certificate",
                        tag.clone(),
                        &b.encoded_cert(),
                    );
                    if let Some(next) = &b.next_set {
                        let bytes = written(|w| Resdb::encode_set(next, w));
                        chain_seed(out, "resdb_replica_set", tag.clone(), &bytes);
                    }
                    view::render_block::<Resdb>(params, s, b)
                }
                _ => panic!("engine {chain_name} mixes models"),
            };
            let rendered: BlockView = rendered.unwrap_or_else(fail("render block"));
            let json = serde_json::to_vec(&rendered).unwrap_or_else(fail("block JSON"));
            chain_seed(out, "block_view_json", tag, &json);
        }
        let genesis = match &spec {
            chains::engine::PeerSpec::Algorand { genesis, .. } => {
                ("algorand_validator_set", written(|w| genesis.encode(w)))
            }
            chains::engine::PeerSpec::Resdb { genesis, .. } => {
                ("resdb_replica_set", written(|w| genesis.encode(w)))
            }
        };
        chain_seed(out, genesis.0, format!("{chain_name}-genesis"), &genesis.1);
    }
    for (source, entries) in [
        (ChainKind::Algorand, &run.a_entries),
        (ChainKind::Resdb, &run.b_entries),
    ] {
        for e in entries {
            let tag = format!("{source}-k{}", e.k.0);
            chain_seed(out, "bridge_transfer", tag.clone(), &e.payload);
            let proof_decoder = match source {
                ChainKind::Algorand => "algorand_export_proof",
                ChainKind::Resdb => "resdb_export_proof",
            };
            chain_seed(out, proof_decoder, tag.clone(), &e.proof);
            let entry = chain::encode_export_entry(source, e.k.0, &e.payload, &e.proof);
            chain_seed(out, "export_entry", tag, &entry);
        }
    }
    // Inclusion proofs alone, from the first entry of each chain.
    for (source, entries) in [
        (ChainKind::Algorand, &run.a_entries),
        (ChainKind::Resdb, &run.b_entries),
    ] {
        let Some(e) = entries.first() else { continue };
        let path = match source {
            ChainKind::Algorand => chains::model::ExportProof::<Algorand>::from_bytes(&e.proof)
                .map(|p| written(|w| p.path.encode(w))),
            ChainKind::Resdb => chains::model::ExportProof::<Resdb>::from_bytes(&e.proof)
                .map(|p| written(|w| p.path.encode(w))),
        }
        .unwrap_or_else(fail("decode a fresh proof"));
        chain_seed(out, "merkle_proof", format!("{source}-k0"), &path);
    }
}

fn wire_seeds(run: &Run, out: &mut Vec<Seed>) {
    let entry = |e: &ExportEntry| Entry {
        k: StreamIndex(e.k.0),
        payload: e.payload.clone().into(),
        proof: Bytes::from(e.proof.clone()),
    };
    let cross = Batch {
        epoch: 0,
        kind: BatchKind::Cross {
            ack: Some(Ack {
                next: StreamIndex(3),
                phi: Bytes::from_static(&[0b0000_0101, 0x80]),
            }),
            quack_claim: Some(StreamIndex(2)),
            exported: StreamIndex(run.a_entries.len() as u64),
        },
        entries: run.a_entries.iter().take(2).map(entry).collect(),
    };
    let ack_only = Batch {
        epoch: 7,
        kind: BatchKind::Cross {
            ack: None,
            quack_claim: None,
            exported: StreamIndex(0),
        },
        entries: Vec::new(),
    };
    let internal = Batch {
        epoch: 0,
        kind: BatchKind::Internal,
        entries: run.b_entries.iter().take(1).map(entry).collect(),
    };
    let fetch = Batch {
        epoch: 0,
        kind: BatchKind::Fetch {
            want: vec![StreamIndex(0), StreamIndex(4), StreamIndex(u64::MAX)],
        },
        entries: Vec::new(),
    };
    let (from, to, key) = (
        wire_check::sender(),
        wire_check::me(),
        wire_check::sender_key(),
    );
    let sealed = |b: &Batch| wire::seal(from, to, b, key);
    let frames = |payloads: &[Vec<u8>]| {
        let mut stream = Vec::new();
        for p in payloads {
            assert!(framing::encode_into(&mut stream, p), "frame encodes");
        }
        stream
    };
    let mut seed = |name: &str, chunk: u8, stream: Vec<u8>| {
        push(
            out,
            "wire_open",
            name.to_owned(),
            with_selector(chunk, &stream),
        );
    };
    seed("cross", 255, frames(&[sealed(&cross)]));
    seed("ack_only", 255, frames(&[sealed(&ack_only)]));
    seed("internal", 255, frames(&[sealed(&internal)]));
    seed("fetch", 255, frames(&[sealed(&fetch)]));
    seed(
        "stream_of_four_small_reads",
        3,
        frames(&[
            sealed(&ack_only),
            sealed(&fetch),
            Vec::new(),
            sealed(&cross),
        ]),
    );
    // A sealed batch for another recipient, and one for us with another sender in it.
    seed(
        "wrong_recipient",
        255,
        frames(&[wire::seal(from, from, &ack_only, key)]),
    );
    seed(
        "wrong_sender",
        255,
        frames(&[wire::seal(to, to, &ack_only, key)]),
    );
    // A stream cut inside the second frame.
    let mut cut = frames(&[sealed(&ack_only), sealed(&fetch)]);
    cut.truncate(cut.len() - 10);
    seed("truncated", 64, cut);
}

fn params_seeds(run: &Run, out: &mut Vec<Seed>) {
    let tx = run
        .txs
        .iter()
        .find(|(k, _)| *k == "algorand_bridge_out")
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| panic!("a bridge-out"));
    let cfg = run.a.config();
    let tx_id = tx.id(cfg.kind, &cfg.chain_id).0.to_hex();
    let transfer = chains::tx::BridgeTransfer::from_bytes(
        &run.a_entries
            .first()
            .unwrap_or_else(|| panic!("an entry"))
            .payload,
    )
    .unwrap_or_else(fail("payload"));
    let transfer_id = transfer.id().0.to_hex();
    let address = account(&run.b, 1).to_text();
    let mut seed = |name: &str, method: &str, value: serde_json::Value| {
        let text = serde_json::to_vec(&value).unwrap_or_else(fail("params JSON"));
        push(
            out,
            "rpc_params",
            format!("{method}-{name}"),
            with_selector(params::selector(method), &text),
        );
    };
    use serde_json::json;
    seed("empty", "no_params", json!([]));
    seed("null", "no_params", json!(null));
    seed("position", "chain_getBlock", json!([3]));
    seed("name", "chain_getBlock", json!({"height": 3}));
    seed("both", "chain_waitForBlock", json!([2, 5000]));
    seed("name", "chain_waitForBlock", json!({"after_height": 2}));
    seed("none", "chain_subscribeBlocks", json!([null]));
    seed("position", "chain_subscribeBlocks", json!([4]));
    seed(
        "hex",
        "chain_submitTransaction",
        json!([hex::encode(tx.to_bytes())]),
    );
    seed(
        "0x",
        "chain_submitTransaction",
        json!({"tx": format!("0x{}", hex::encode(tx.to_bytes()))}),
    );
    seed("position", "chain_getTransaction", json!([tx_id]));
    seed(
        "0x",
        "chain_getTransaction",
        json!({"id": format!("0x{tx_id}")}),
    );
    seed("position", "chain_getAccount", json!([address]));
    seed("position", "chain_isTransferApplied", json!([transfer_id]));
    seed("name", "chain_getValidatorSet", json!({"epoch": 1}));
    seed(
        "all",
        "bridge_listTransfers",
        json!([{"status": "committed", "direction": "a_to_b"}, "2", 50]),
    );
    seed(
        "name",
        "bridge_listTransfers",
        json!({"limit": 10, "filter": {"direction": "b_to_a"}}),
    );
    seed("position", "bridge_getTransferBySourceTx", json!([tx_id]));
    seed(
        "position",
        "admin_setLogLevel",
        json!(["info,relayer=debug"]),
    );
}

/// The path of a seed under the fuzz directory.
pub fn corpus_path(seed: &Seed) -> String {
    format!("corpus/{}/{}", seed.target, seed.name)
}

/// Every seed passes its target's check (what the fuzzer starts from is valid input).
pub fn check(seed: &Seed) {
    match seed.target {
        "wire_open" => wire_check::check(&seed.bytes),
        "chain_codec" => chain::check(&seed.bytes),
        "rpc_params" => params::check(&seed.bytes),
        other => panic!("unknown target {other}"),
    }
}
