//! What sealing and opening a batch costs ([`relayer::wire`]), for one 1 MB entry and for a
//! full batch of 100 B entries, next to signing and verifying the whole body with ed25519 (what
//! wire version 1 did). Sealing is timed twice: with the payloads' digests already known (a
//! relay passing on what it opened, or a source that hashed what it produced) and with them
//! computed by the seal.
//!
//! Run: `cargo bench -p relayer --bench wire` (a plain timing loop, no harness).

use bytes::Bytes;
use ed25519_dalek::{Signer, Verifier};
use relayer::protocol::{Ack, Batch, BatchKind, Entry, Payload};
use relayer::types::{NodeId, Side, StreamIndex};
use relayer::wire;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Mean time per call of `f`, over at least `min` wall time.
fn time<T>(mut f: impl FnMut() -> T, min: Duration) -> Duration {
    let _ = black_box(f());
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < min {
        black_box(f());
        n += 1;
    }
    start.elapsed() / n.max(1)
}

fn batch(entries: usize, size: usize) -> Batch {
    Batch {
        epoch: 0,
        kind: BatchKind::Cross {
            ack: Some(Ack {
                next: StreamIndex(0),
                phi: Bytes::from(vec![0u8; 32]),
            }),
            quack_claim: None,
            exported: StreamIndex(entries as u64),
        },
        entries: (0..entries as u64)
            .map(|k| Entry {
                k: StreamIndex(k),
                payload: vec![7u8; size].into(),
                proof: Bytes::from(vec![9u8; 64]),
            })
            .collect(),
    }
}

fn main() {
    let min = Duration::from_secs(1);
    let key = wire::key_from_seed(b"bench-a0");
    let vk = key.verifying_key();
    let (from, to) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 0));
    println!(
        "| batch | sealed bytes | seal µs, digests known | seal µs, digests computed | open µs | ed25519 over the body: sign µs | verify µs |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (label, entries, size) in [("1 × 1 MB", 1, 1_000_000), ("2000 × 100 B", 2000, 100)] {
        let b = batch(entries, size);
        let sealed = Bytes::from(wire::seal(from, to, &b, &key));
        assert_eq!(wire::open(&sealed, from, &vk, to).as_ref(), Ok(&b));
        let seal = time(|| wire::seal(from, to, &b, &key), min);
        let seal_hashing = time(
            || {
                let mut fresh = b.clone();
                for e in &mut fresh.entries {
                    e.payload = Payload::new(e.payload.bytes().clone());
                }
                wire::seal(from, to, &fresh, &key)
            },
            min,
        );
        let open = time(|| wire::open(&sealed, from, &vk, to), min);
        let body = &sealed[1..sealed.len() - wire::SIGNATURE_LEN];
        let sig = key.sign(body);
        let sign_body = time(|| key.sign(body), min);
        let verify_body = time(|| vk.verify(body, &sig), min);
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {label} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            sealed.len(),
            us(seal),
            us(seal_hashing),
            us(open),
            us(sign_body),
            us(verify_body)
        );
    }
}
