//! `SledStore`: the production [`Store`], one `sled::Db` per relay and one sled tree per name.
//!
//! A batch touching one tree is applied with `Tree::apply_batch`; a batch touching several trees
//! with one multi-tree sled transaction, so it is atomic across trees. `flush` is `Db::flush`.
//! Opening checks the schema version record and writes it into a fresh database.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use sled::Transactional;
use sled::transaction::TransactionError;

use crate::{
    KeyValue, META_TREE, SCHEMA_VERSION, SCHEMA_VERSION_KEY, StorageError, Store, WriteBatch,
    WriteOp, check_schema_version, encode_schema_version, validate_tree_name,
};

/// How long [`SledStore::open`] waits for a lingering lock on the database to be released.
pub const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Whether opening failed because the database's file lock is held. sled reports it as an error
/// of kind `Other` whose message names the lock (its `WouldBlock` cause is only in the text), so
/// matching the kind alone never retried, and a test reopening its database right after
/// dropping it failed now and then on a loaded machine.
fn lock_busy(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
        || e.to_string().starts_with("could not acquire lock")
}

/// A [`Store`] on a sled database.
#[derive(Debug)]
pub struct SledStore {
    db: sled::Db,
}

impl SledStore {
    /// Opens (or creates) the database in directory `path` and checks its schema version.
    ///
    /// Fails if another process holds the database, if the schema version differs from
    /// [`SCHEMA_VERSION`], or if the database holds data but no schema version record.
    ///
    /// sled's background flusher may hold the file lock for a moment after the previous handle
    /// was dropped (a relay restarting in-process, a test reopening its database), so a lock
    /// conflict is retried for up to [`LOCK_WAIT`] before it is reported.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let deadline = Instant::now() + LOCK_WAIT;
        let db = loop {
            match sled::Config::new().path(path).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e)) if lock_busy(&e) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let store = Self { db };
        store.check_or_init_schema()?;
        Ok(store)
    }

    /// Checks the schema version record, or writes it (durably) into an empty database.
    fn check_or_init_schema(&self) -> Result<(), StorageError> {
        let meta = self.db.open_tree(META_TREE)?;
        if let Some(found) = meta.get(SCHEMA_VERSION_KEY)? {
            return check_schema_version(&found);
        }
        if !self.is_empty()? {
            return Err(StorageError::MissingSchemaVersion);
        }
        meta.insert(SCHEMA_VERSION_KEY, &encode_schema_version(SCHEMA_VERSION))?;
        self.db.flush()?;
        Ok(())
    }

    /// Whether no tree (the default one included) holds any key.
    fn is_empty(&self) -> Result<bool, StorageError> {
        if !self.db.is_empty() {
            return Ok(false);
        }
        for name in self.db.tree_names() {
            if !self.db.open_tree(&name)?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The sled tree named `tree`, after checking the name.
    fn tree(&self, tree: &str) -> Result<sled::Tree, StorageError> {
        validate_tree_name(tree)?;
        Ok(self.db.open_tree(tree)?)
    }
}

impl Store for SledStore {
    fn apply(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        batch.validate()?;
        // Group per tree, keeping order within each tree (the only order that matters: ops on
        // different trees commute). A sled::Batch keeps the last write of each key.
        let mut per_tree: BTreeMap<&str, sled::Batch> = BTreeMap::new();
        for op in batch.ops() {
            match op {
                WriteOp::Put { tree, key, value } => per_tree
                    .entry(tree.as_str())
                    .or_default()
                    .insert(key.as_slice(), value.as_slice()),
                WriteOp::Delete { tree, key } => per_tree
                    .entry(tree.as_str())
                    .or_default()
                    .remove(key.as_slice()),
            }
        }
        let mut trees = Vec::with_capacity(per_tree.len());
        let mut batches = Vec::with_capacity(per_tree.len());
        for (name, b) in per_tree {
            trees.push(self.db.open_tree(name)?);
            batches.push(b);
        }
        if trees.len() <= 1 {
            if let (Some(t), Some(b)) = (trees.pop(), batches.pop()) {
                t.apply_batch(b)?;
            }
            return Ok(());
        }
        trees
            .as_slice()
            .transaction(|views| {
                for (view, b) in views.iter().zip(&batches) {
                    view.apply_batch(b)?;
                }
                Ok(())
            })
            .map_err(|e: TransactionError<()>| match e {
                TransactionError::Storage(e) => StorageError::Sled(e),
                // The closure never aborts; still, an error rather than a panic.
                TransactionError::Abort(()) => {
                    StorageError::Sled(sled::Error::Unsupported("transaction aborted".to_owned()))
                }
            })
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
    }

    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.tree(tree)?.get(key)?.map(|v| v.to_vec()))
    }

    fn scan(&self, tree: &str, from: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError> {
        let t = self.tree(tree)?;
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in t.range(from..).take(limit) {
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}
