//! What a relay keeps in its database, and how it reads it back after a restart.
//!
//! Trees (all keys big-endian, so byte order is numeric order):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `relay` | `owner` | `"<node>@<own chain>/<peer chain>"`: refuses a database of another relay |
//! | `relay` | `quack` | `u64`: the last QUACK of the own stream persisted (lazy) |
//! | `received` | `u64 k` | postcard [`StoredEntry`]: an entry of the other chain's stream, durably received |
//!
//! Everything else a relay knows (its own stream, outbound transfers, which inbound transfers
//! its chain already applied) is rebuilt by replaying its own chain, which is the source of
//! truth for it. Writes are grouped: the driver turns every protocol [`PersistOp`] of one turn of
//! its loop into a single [`WriteBatch`] and flushes once.
//!
//! [`PersistOp`]: crate::protocol::PersistOp

use crate::protocol::Entry;
use crate::types::StreamIndex;
use serde::{Deserialize, Serialize};
use storage::{StorageError, Store, WriteBatch, u64_from_key, u64_key};

const RELAY_TREE: &str = "relay";
const RECEIVED_TREE: &str = "received";
const OWNER_KEY: &[u8] = b"owner";
const QUACK_KEY: &[u8] = b"quack";
const SCAN_CHUNK: usize = 1024;

/// An inbound entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// Payload.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// Proof.
    #[serde(with = "serde_bytes")]
    pub proof: Vec<u8>,
}

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The database belongs to another relay or another pair of chains.
    #[error("this database belongs to {found:?}, not to {expected:?}; point data_dir elsewhere")]
    WrongOwner {
        /// Owner recorded in the database.
        found: String,
        /// This relay.
        expected: String,
    },
    /// A record does not decode.
    #[error("corrupt record in tree {tree}: {reason}")]
    Corrupt {
        /// Tree.
        tree: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// What a restarted relay finds in its database.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Inbound entries durably received, in index order.
    pub received: Vec<Entry>,
    /// The last persisted QUACK of the own stream.
    pub quack: Option<StreamIndex>,
}

/// Claims a fresh database for `owner`, or checks an existing one belongs to it; then loads it.
pub fn open(store: &mut dyn Store, owner: &str) -> Result<Loaded, DurableError> {
    match store.get(RELAY_TREE, OWNER_KEY)? {
        Some(found) if found != owner.as_bytes() => {
            return Err(DurableError::WrongOwner {
                found: String::from_utf8_lossy(&found).into_owned(),
                expected: owner.to_owned(),
            });
        }
        Some(_) => {}
        None => {
            let mut b = WriteBatch::new();
            b.put(RELAY_TREE, OWNER_KEY, owner.as_bytes());
            store.apply(b)?;
            store.flush()?;
        }
    }
    let quack = match store.get(RELAY_TREE, QUACK_KEY)? {
        None => None,
        Some(v) => Some(StreamIndex(u64_from_key(&v)?)),
    };
    let mut received = Vec::new();
    let mut from = u64_key(0).to_vec();
    loop {
        let chunk = store.scan(RECEIVED_TREE, &from, SCAN_CHUNK)?;
        let Some((last, _)) = chunk.last() else { break };
        let next = u64_from_key(last)?.checked_add(1);
        for (key, value) in &chunk {
            received.push(decode_entry(u64_from_key(key)?, value)?);
        }
        match next {
            Some(n) if chunk.len() == SCAN_CHUNK => from = u64_key(n).to_vec(),
            _ => break,
        }
    }
    Ok(Loaded { received, quack })
}

fn decode_entry(k: u64, value: &[u8]) -> Result<Entry, DurableError> {
    let e: StoredEntry = postcard::from_bytes(value).map_err(|e| DurableError::Corrupt {
        tree: RECEIVED_TREE,
        reason: format!("entry {k}: {e}"),
    })?;
    Ok(Entry {
        k: StreamIndex(k),
        payload: e.payload.into(),
        proof: e.proof.into(),
    })
}

/// The inbound entry `k`, if it was received.
pub fn get_received(store: &dyn Store, k: u64) -> Result<Option<Entry>, DurableError> {
    store
        .get(RECEIVED_TREE, &u64_key(k))?
        .map(|v| decode_entry(k, &v))
        .transpose()
}

/// Adds an inbound entry to a batch.
pub fn put_received(b: &mut WriteBatch, e: &Entry) {
    let value = postcard::to_stdvec(&StoredEntry {
        payload: e.payload.to_vec(),
        proof: e.proof.to_vec(),
    })
    .unwrap_or_default();
    b.put(RECEIVED_TREE, &u64_key(e.k.0), &value);
}

/// Adds the own stream's QUACK to a batch.
pub fn put_quack(b: &mut WriteBatch, q: StreamIndex) {
    b.put(RELAY_TREE, QUACK_KEY, &u64_key(q.0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::MemStore;

    fn entry(k: u64) -> Entry {
        Entry {
            k: StreamIndex(k),
            payload: vec![k as u8; 3].into(),
            proof: vec![1, 2].into(),
        }
    }

    #[test]
    fn survives_a_crash_after_flush_and_refuses_strangers() {
        let mut s = MemStore::new();
        assert!(open(&mut s, "A0@a/b").unwrap().received.is_empty());
        let mut b = WriteBatch::new();
        for k in [0, 1, 5, 2000] {
            put_received(&mut b, &entry(k));
        }
        put_quack(&mut b, StreamIndex(7));
        s.apply(b).unwrap();
        s.flush().unwrap();
        let mut lost = WriteBatch::new();
        put_received(&mut lost, &entry(9));
        s.apply(lost).unwrap();
        s.crash();
        let l = open(&mut s, "A0@a/b").unwrap();
        let ks: Vec<u64> = l.received.iter().map(|e| e.k.0).collect();
        assert_eq!(
            ks,
            vec![0, 1, 5, 2000],
            "unflushed entry 9 is gone, flushed ones stay"
        );
        assert_eq!(l.received[2], entry(5));
        assert_eq!(l.quack, Some(StreamIndex(7)));
        assert_eq!(get_received(&s, 2000).unwrap(), Some(entry(2000)));
        assert_eq!(get_received(&s, 9).unwrap(), None);
        assert!(matches!(
            open(&mut s, "A1@a/b"),
            Err(DurableError::WrongOwner { .. })
        ));
    }

    #[test]
    fn loads_more_than_one_scan_chunk() {
        let mut s = MemStore::new();
        open(&mut s, "B0@b/a").unwrap();
        let mut b = WriteBatch::new();
        for k in 0..(SCAN_CHUNK as u64 * 2 + 3) {
            put_received(&mut b, &entry(k));
        }
        s.apply(b).unwrap();
        s.flush().unwrap();
        assert_eq!(
            open(&mut s, "B0@b/a").unwrap().received.len(),
            SCAN_CHUNK * 2 + 3
        );
    }
}
