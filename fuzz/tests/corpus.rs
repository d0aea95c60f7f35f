//! The seed corpus as ordinary tests (stable toolchain, no libFuzzer): the checked-in files are
//! exactly what the generator writes, every seed and every other file in `corpus/` (including
//! crash reproducers added there) passes its target's check, and the seeds really reach the
//! deep paths (batches open, proofs verify).
//!
//! `cargo test --release -- --ignored regenerate` rewrites `corpus/` from the generator.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use picsou_relay_fuzz::seeds::{self, Seed, TARGETS};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap_or_else(|e| panic!("{}: {e}", dir.display())))
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

#[test]
#[ignore = "rewrites corpus/; run when the encodings or the generator change"]
fn regenerate() {
    let all = seeds::seeds();
    for t in TARGETS {
        let dir = fuzz_dir().join("corpus").join(t);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    for s in &all {
        let path = fuzz_dir().join(seeds::corpus_path(s));
        std::fs::write(&path, &s.bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    println!("wrote {} seeds", all.len());
}

#[test]
fn checked_in_seeds_are_the_generator_output() {
    let all = seeds::seeds();
    let names: BTreeSet<String> = all.iter().map(seeds::corpus_path).collect();
    assert_eq!(names.len(), all.len(), "two seeds share a file name");
    for s in &all {
        let path = fuzz_dir().join(seeds::corpus_path(s));
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run `cargo test -- --ignored regenerate`)",
                path.display()
            )
        });
        assert!(
            on_disk == s.bytes,
            "{} differs from the generator (run `cargo test -- --ignored regenerate`)",
            path.display()
        );
    }
    for t in TARGETS {
        assert!(
            all.iter().filter(|s| s.target == t).count() >= 5,
            "{t} has too few seeds"
        );
    }
}

#[test]
fn every_corpus_file_passes_its_check() {
    let mut n = 0;
    for target in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        for name in files(&dir) {
            let bytes = std::fs::read(dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            seeds::check(&Seed {
                target,
                name,
                bytes,
            });
            n += 1;
        }
    }
    assert!(n > 0, "no corpus files found");
}

#[test]
fn every_decoder_and_method_has_a_seed() {
    let all = seeds::seeds();
    for d in picsou_relay_fuzz::chain::DECODERS {
        assert!(
            all.iter()
                .any(|s| s.target == "chain_codec" && s.name.starts_with(&format!("{d}-"))),
            "no chain_codec seed for {d}"
        );
    }
    for (m, _) in picsou_relay_fuzz::params::METHODS {
        assert!(
            all.iter()
                .any(|s| s.target == "rpc_params" && s.name.starts_with(&format!("{m}-"))),
            "no rpc_params seed for {m}"
        );
    }
}

#[test]
fn seeds_reach_the_deep_paths() {
    use chains::engine::PeerSpec;
    use chains::types::ExportIndex;
    use picsou_relay_fuzz::{chain, wire};
    let all = seeds::seeds();
    // Every seed batch that names us opens (so the fuzzer starts past the signature check).
    let key = wire::sender_key().verifying_key();
    let mut opened = 0;
    for s in all.iter().filter(|s| s.target == "wire_open") {
        let stream = &s.bytes[1..];
        let len = u32::from_be_bytes(stream[..4].try_into().expect("a header")) as usize;
        let frame = bytes::Bytes::copy_from_slice(&stream[4..4 + len]);
        if relayer::wire::open(&frame, wire::sender(), &key, wire::me()).is_ok() {
            opened += 1;
        }
    }
    assert!(opened >= 5, "only {opened} wire seeds open");
    // Every export entry seed verifies under the light client the check uses.
    let (a, b) = chain::configs();
    let (sa, sb): (PeerSpec, PeerSpec) = (
        a.peer_spec().expect("spec A"),
        b.peer_spec().expect("spec B"),
    );
    let mut verified = 0;
    for s in all.iter().filter(|s| s.name.starts_with("export_entry-")) {
        let mut r = chains::codec::Reader::new(&s.bytes[1..]);
        let source = r.u8().expect("source");
        let k = r.u64().expect("k");
        let payload = r.bytes(usize::MAX).expect("payload");
        let proof = r.take(r.remaining()).expect("proof");
        let client = if source == 0 {
            sa.light_client(chain::resdb_id())
        } else {
            sb.light_client(chain::algorand_id())
        };
        client
            .verify_export(ExportIndex(k), payload, proof)
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        verified += 1;
    }
    assert!(verified >= 8, "only {verified} entries");
}
