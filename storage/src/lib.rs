//! `storage`: durable relay state behind a small trait.
//!
//! A relay keeps everything it must not forget (received set, delivered entries, QUACK and resend
//! state, transfer status, stream cursor) in named *trees* of byte keys and byte values. This crate
//! is that key-value layer and nothing more; it knows no protocol types.
//!
//! # Main types
//!
//! - [`Store`]: the trait the relay codes against (`apply`, `flush`, `get`, `scan`).
//! - [`WriteBatch`]: an ordered list of puts and deletes over any number of trees.
//! - [`SledStore`]: the production store, one `sled::Db` per relay, one sled tree per name.
//! - [`MemStore`]: an in-memory, deterministic store with crash semantics for the simulator.
//! - [`u64_key`] / [`u64_from_key`]: big-endian `u64` keys, so byte order is numeric order.
//!
//! # Contract
//!
//! - [`Store::apply`] makes a whole batch visible at once or not at all, across trees. Within a
//!   batch, operations apply in the order they were added (a later put of the same key wins).
//! - An applied batch is visible to [`Store::get`] and [`Store::scan`] immediately, but it is
//!   durable only after the next successful [`Store::flush`]. After a crash, a store holds every
//!   batch applied before the last flush, and of the batches applied after it a prefix (possibly
//!   empty: [`MemStore::crash`] always drops them all; sled may have written some in the
//!   background). A batch is never torn by a crash.
//! - [`Store::scan`] returns pairs with `key >= from` in ascending byte order, at most `limit`.
//! - Reading a tree that was never written returns nothing; it is not an error.
//! - Tree names must be non-empty and must not start with `__sled__` (sled reserves that prefix);
//!   a batch naming such a tree is rejected as a whole.
//! - The [`META_TREE`] tree holds [`SCHEMA_VERSION_KEY`] = [`SCHEMA_VERSION`] as 4 big-endian
//!   bytes. Opening a store written by another schema version fails with
//!   [`StorageError::SchemaMismatch`]; nothing is migrated silently.
//! - No method panics on what it reads from disk: damaged data comes back as an error.
//!
//! # Layout
//!
//! - `mem`: [`MemStore`].
//! - `sled_store`: [`SledStore`].

mod mem;
mod sled_store;

pub use mem::MemStore;
pub use sled_store::SledStore;

/// A `(key, value)` pair as returned by [`Store::scan`].
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// The tree holding store-level metadata.
pub const META_TREE: &str = "meta";
/// The key, in [`META_TREE`], of the schema version record.
pub const SCHEMA_VERSION_KEY: &[u8] = b"schema_version";
/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The prefix sled reserves for its own trees; tree names may not start with it.
const RESERVED_TREE_PREFIX: &str = "__sled__";

/// Everything that can go wrong in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The underlying sled database failed (IO error, corruption found by sled, ...). The
    /// message includes sled's, so it is not repeated as a source.
    #[error("sled: {0}")]
    Sled(sled::Error),
    /// The store was written by a different schema version.
    #[error(
        "schema version mismatch: the store holds version {found}, this build expects {expected}"
    )]
    SchemaMismatch {
        /// The version found in the store.
        found: u32,
        /// The version this build expects ([`SCHEMA_VERSION`]).
        expected: u32,
    },
    /// The store holds data but no schema version record.
    #[error("the store holds data but no schema version record (not a relay store?)")]
    MissingSchemaVersion,
    /// A record could not be decoded.
    #[error("corrupt record in tree {tree:?}: {reason}")]
    Corrupt {
        /// The tree the record was read from.
        tree: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A key expected to be a big-endian `u64` has the wrong length.
    #[error("bad u64 key: {len} bytes, expected 8")]
    BadU64Key {
        /// The length of the key found.
        len: usize,
    },
    /// A tree name is empty or reserved.
    #[error("invalid tree name {0:?}: must be non-empty and not start with \"__sled__\"")]
    InvalidTreeName(String),
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError::Sled(e)
    }
}

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Set `key` to `value` in `tree`.
    Put {
        /// The tree name.
        tree: String,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key` from `tree` (no effect if absent).
    Delete {
        /// The tree name.
        tree: String,
        /// The key.
        key: Vec<u8>,
    },
}

impl WriteOp {
    /// The tree this operation writes.
    pub fn tree(&self) -> &str {
        match self {
            WriteOp::Put { tree, .. } | WriteOp::Delete { tree, .. } => tree,
        }
    }
}

/// An ordered list of writes applied atomically by [`Store::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a put of `key` = `value` in `tree`.
    pub fn put(&mut self, tree: &str, key: &[u8], value: &[u8]) {
        self.ops.push(WriteOp::Put {
            tree: tree.to_owned(),
            key: key.to_vec(),
            value: value.to_vec(),
        });
    }

    /// Appends a delete of `key` in `tree`.
    pub fn delete(&mut self, tree: &str, key: &[u8]) {
        self.ops.push(WriteOp::Delete {
            tree: tree.to_owned(),
            key: key.to_vec(),
        });
    }

    /// Whether the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// The operations, in the order they were added.
    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    /// Checks every tree name, so that a bad batch is refused before anything is written.
    fn validate(&self) -> Result<(), StorageError> {
        self.ops
            .iter()
            .try_for_each(|op| validate_tree_name(op.tree()))
    }
}

/// Checks that `tree` is a usable tree name.
fn validate_tree_name(tree: &str) -> Result<(), StorageError> {
    if tree.is_empty() || tree.starts_with(RESERVED_TREE_PREFIX) {
        Err(StorageError::InvalidTreeName(tree.to_owned()))
    } else {
        Ok(())
    }
}

/// Durable key-value state: named trees of byte keys and byte values. See the crate doc for the
/// contract every implementation keeps.
pub trait Store: Send {
    /// Applies all ops atomically (all or nothing visible), NOT yet durable.
    fn apply(&mut self, batch: WriteBatch) -> Result<(), StorageError>;
    /// Makes everything applied so far durable.
    fn flush(&mut self) -> Result<(), StorageError>;
    /// The value of `key` in `tree`, if any.
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// All (key, value) pairs of `tree` with key >= from, in key order, at most `limit`.
    fn scan(&self, tree: &str, from: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError>;
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn apply(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        (**self).apply(batch)
    }
    fn flush(&mut self) -> Result<(), StorageError> {
        (**self).flush()
    }
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).get(tree, key)
    }
    fn scan(&self, tree: &str, from: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError> {
        (**self).scan(tree, from, limit)
    }
}

/// A `u64` as an 8-byte big-endian key, so that byte order equals numeric order.
pub fn u64_key(k: u64) -> [u8; 8] {
    k.to_be_bytes()
}

/// The `u64` of a key made by [`u64_key`]; any length other than 8 is an error.
pub fn u64_from_key(key: &[u8]) -> Result<u64, StorageError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| StorageError::BadU64Key { len: key.len() })?;
    Ok(u64::from_be_bytes(bytes))
}

/// Encodes a schema version record.
fn encode_schema_version(version: u32) -> [u8; 4] {
    version.to_be_bytes()
}

/// Decodes a schema version record, refusing anything but 4 bytes.
fn decode_schema_version(bytes: &[u8]) -> Result<u32, StorageError> {
    let raw: [u8; 4] = bytes.try_into().map_err(|_| StorageError::Corrupt {
        tree: META_TREE.to_owned(),
        reason: format!("schema version record is {} bytes, expected 4", bytes.len()),
    })?;
    Ok(u32::from_be_bytes(raw))
}

/// Checks a schema version record read from a store.
fn check_schema_version(bytes: &[u8]) -> Result<(), StorageError> {
    let found = decode_schema_version(bytes)?;
    if found == SCHEMA_VERSION {
        Ok(())
    } else {
        Err(StorageError::SchemaMismatch {
            found,
            expected: SCHEMA_VERSION,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_keys_round_trip_and_sort_numerically() {
        for k in [0, 1, 255, 256, u64::MAX - 1, u64::MAX] {
            assert_eq!(u64_from_key(&u64_key(k)).ok(), Some(k));
        }
        assert!(u64_key(255) < u64_key(256));
        assert!(matches!(
            u64_from_key(&[1, 2, 3]),
            Err(StorageError::BadU64Key { len: 3 })
        ));
    }

    #[test]
    fn batch_keeps_order_and_counts() {
        let mut b = WriteBatch::new();
        assert!(b.is_empty());
        b.put("t", b"k", b"v");
        b.delete("t", b"k");
        assert_eq!(b.len(), 2);
        assert_eq!(b.ops()[1].tree(), "t");
        assert!(matches!(b.ops()[1], WriteOp::Delete { .. }));
    }

    #[test]
    fn tree_names_are_checked() {
        assert!(validate_tree_name("transfers").is_ok());
        assert!(validate_tree_name("").is_err());
        assert!(validate_tree_name("__sled__default").is_err());
    }

    #[test]
    fn schema_record_is_checked() {
        assert!(check_schema_version(&encode_schema_version(SCHEMA_VERSION)).is_ok());
        assert!(matches!(
            check_schema_version(&encode_schema_version(SCHEMA_VERSION + 1)),
            Err(StorageError::SchemaMismatch { .. })
        ));
        assert!(matches!(
            check_schema_version(b"xyz"),
            Err(StorageError::Corrupt { .. })
        ));
    }
}
