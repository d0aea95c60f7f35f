//! Property tests: `MemStore` (and, with fewer cases, `SledStore`) against a plain `BTreeMap`
//! model with explicit live and durable images.

use std::collections::BTreeMap;

use proptest::prelude::*;
use storage::{MemStore, SledStore, Store, WriteBatch, WriteOp};

type Trees = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// The reference: what reads see, and what a crash goes back to.
#[derive(Debug, Default, Clone)]
struct Model {
    live: Trees,
    durable: Trees,
}

impl Model {
    fn apply(&mut self, batch: &WriteBatch) {
        for op in batch.ops() {
            match op {
                WriteOp::Put { tree, key, value } => {
                    self.live
                        .entry(tree.clone())
                        .or_default()
                        .insert(key.clone(), value.clone());
                }
                WriteOp::Delete { tree, key } => {
                    if let Some(t) = self.live.get_mut(tree) {
                        t.remove(key);
                    }
                }
            }
        }
    }
    fn flush(&mut self) {
        self.durable = self.live.clone();
    }
    fn crash(&mut self) {
        self.live = self.durable.clone();
    }
    fn get(&self, tree: &str, key: &[u8]) -> Option<Vec<u8>> {
        self.live.get(tree).and_then(|t| t.get(key)).cloned()
    }
    fn scan(&self, tree: &str, from: &[u8], limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.live
            .get(tree)
            .map(|t| {
                t.range(from.to_vec()..)
                    .take(limit)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
enum Step {
    Apply(Vec<(bool, String, Vec<u8>, Vec<u8>)>),
    Flush,
    Crash,
    Get(String, Vec<u8>),
    Scan(String, Vec<u8>, usize),
}

fn tree() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "meta-like", "c"]).prop_map(str::to_owned)
}

/// Small keys over a small alphabet, so that keys collide and prefixes matter.
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 0xff]), 0..4)
}

fn step(with_crash: bool) -> impl Strategy<Value = Step> {
    let op = (
        any::<bool>(),
        tree(),
        key(),
        prop::collection::vec(any::<u8>(), 0..6),
    );
    let crash_weight = if with_crash { 1 } else { 0 };
    prop_oneof![
        4 => prop::collection::vec(op, 0..6).prop_map(Step::Apply),
        1 => Just(Step::Flush),
        crash_weight => Just(Step::Crash),
        2 => (tree(), key()).prop_map(|(t, k)| Step::Get(t, k)),
        2 => (tree(), key(), 0usize..6).prop_map(|(t, k, n)| Step::Scan(t, k, n)),
    ]
}

/// Runs `steps` against `store` and the model; `crash` restarts the store.
fn check<S: Store>(
    store: &mut S,
    steps: &[Step],
    mut crash: impl FnMut(&mut S),
) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    for s in steps {
        match s {
            Step::Apply(ops) => {
                let mut b = WriteBatch::new();
                for (is_put, t, k, v) in ops {
                    if *is_put {
                        b.put(t, k, v);
                    } else {
                        b.delete(t, k);
                    }
                }
                model.apply(&b);
                store
                    .apply(b)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            Step::Flush => {
                model.flush();
                store
                    .flush()
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            Step::Crash => {
                model.crash();
                crash(store);
            }
            Step::Get(t, k) => {
                let got = store
                    .get(t, k)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(got, model.get(t, k));
            }
            Step::Scan(t, k, n) => {
                let got = store
                    .scan(t, k, *n)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(got, model.scan(t, k, *n));
            }
        }
    }
    // Finally every tree must agree in full.
    for t in ["a", "b", "meta-like", "c"] {
        let got = store
            .scan(t, b"", usize::MAX)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got, model.scan(t, b"", usize::MAX));
    }
    Ok(())
}

proptest! {
    #[test]
    fn mem_store_matches_model(steps in prop::collection::vec(step(true), 0..60)) {
        let mut store = MemStore::new();
        check(&mut store, &steps, MemStore::crash)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn sled_store_matches_model(steps in prop::collection::vec(step(false), 0..40)) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut store =
            SledStore::open(dir.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check(&mut store, &steps, |_| {})?;
    }
}
