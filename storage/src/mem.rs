//! `MemStore`: an in-memory [`Store`] with crash semantics, for the simulator and tests.
//!
//! It keeps two images: the *live* one that reads see, and the *disk* one that holds only what
//! was flushed. [`MemStore::crash`] throws the live image away and goes back to the disk image,
//! which is exactly what a process restart after `kill -9` would find. Everything is `BTreeMap`
//! based, so a run is deterministic.

use std::collections::BTreeMap;

use crate::{
    KeyValue, META_TREE, SCHEMA_VERSION, SCHEMA_VERSION_KEY, StorageError, Store, WriteBatch,
    WriteOp, encode_schema_version, validate_tree_name,
};

/// The trees of one image: tree name → key → value.
type Trees = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// An in-memory store with crash semantics. Cloning it clones both images (a snapshot of the
/// whole process and its disk); [`MemStore::disk_image`] clones only the disk.
#[derive(Debug, Clone)]
pub struct MemStore {
    /// What reads see: the disk image plus every batch applied since the last flush.
    live: Trees,
    /// What survives a crash.
    disk: Trees,
    /// Batches applied since the last flush, oldest first.
    unflushed: Vec<WriteBatch>,
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemStore {
    /// A fresh store holding only its (durable) schema version record.
    pub fn new() -> Self {
        let mut disk = Trees::new();
        disk.entry(META_TREE.to_owned()).or_default().insert(
            SCHEMA_VERSION_KEY.to_vec(),
            encode_schema_version(SCHEMA_VERSION).to_vec(),
        );
        Self {
            live: disk.clone(),
            disk,
            unflushed: Vec::new(),
        }
    }

    /// Simulates a crash and restart: discards everything applied since the last flush.
    pub fn crash(&mut self) {
        self.unflushed.clear();
        self.live = self.disk.clone();
    }

    /// What a restarted process would find on disk now: a store holding only the flushed state.
    pub fn disk_image(&self) -> MemStore {
        Self {
            live: self.disk.clone(),
            disk: self.disk.clone(),
            unflushed: Vec::new(),
        }
    }

    /// The number of batches applied since the last flush.
    pub fn unflushed_batches(&self) -> usize {
        self.unflushed.len()
    }
}

/// Applies `batch` to `trees`, in order.
fn apply_to(trees: &mut Trees, batch: &WriteBatch) {
    for op in batch.ops() {
        match op {
            WriteOp::Put { tree, key, value } => {
                trees
                    .entry(tree.clone())
                    .or_default()
                    .insert(key.clone(), value.clone());
            }
            WriteOp::Delete { tree, key } => {
                if let Some(t) = trees.get_mut(tree) {
                    t.remove(key);
                    if t.is_empty() {
                        trees.remove(tree);
                    }
                }
            }
        }
    }
}

impl Store for MemStore {
    fn apply(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        batch.validate()?;
        if batch.is_empty() {
            return Ok(());
        }
        apply_to(&mut self.live, &batch);
        self.unflushed.push(batch);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        for batch in self.unflushed.drain(..) {
            apply_to(&mut self.disk, &batch);
        }
        Ok(())
    }

    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        validate_tree_name(tree)?;
        Ok(self.live.get(tree).and_then(|t| t.get(key)).cloned())
    }

    fn scan(&self, tree: &str, from: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError> {
        validate_tree_name(tree)?;
        let Some(t) = self.live.get(tree) else {
            return Ok(Vec::new());
        };
        Ok(t.range(from.to_vec()..)
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
