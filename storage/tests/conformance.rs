//! The storage conformance suite: one set of checks run against every `Store` implementation.
//!
//! Each implementation provides a [`Harness`] (make a fresh store, restart it the way a process
//! restart would); `conformance_suite!` expands every check into a `#[test]` for it.

use storage::{
    META_TREE, MemStore, SCHEMA_VERSION, SCHEMA_VERSION_KEY, SledStore, StorageError, Store,
    WriteBatch, u64_from_key, u64_key,
};
use tempfile::TempDir;

/// How the suite drives one store implementation.
trait Harness {
    type S: Store;
    /// The store under test.
    fn store(&mut self) -> &mut Self::S;
    /// A process restart: whatever was flushed must survive.
    fn restart(&mut self);
    /// Whether a restart is guaranteed to lose everything applied since the last flush.
    const DROPS_UNFLUSHED: bool;
}

/// `MemStore`: a restart is `crash()`.
struct MemHarness(MemStore);

impl MemHarness {
    fn new() -> Self {
        Self(MemStore::new())
    }
}

impl Harness for MemHarness {
    type S = MemStore;
    fn store(&mut self) -> &mut MemStore {
        &mut self.0
    }
    fn restart(&mut self) {
        self.0.crash();
    }
    const DROPS_UNFLUSHED: bool = true;
}

/// `SledStore` in a temporary directory: a restart drops the database and reopens the path.
struct SledHarness {
    dir: TempDir,
    store: Option<SledStore>,
}

impl SledHarness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        let store = SledStore::open(dir.path()).expect("a fresh sled store opens");
        Self {
            dir,
            store: Some(store),
        }
    }
}

impl Harness for SledHarness {
    type S = SledStore;
    fn store(&mut self) -> &mut SledStore {
        self.store
            .as_mut()
            .expect("the store is open between restarts")
    }
    fn restart(&mut self) {
        // The old handle must be gone before the path is opened again (sled locks it).
        self.store = None;
        self.store = Some(SledStore::open(self.dir.path()).expect("the sled store reopens"));
    }
    // sled flushes in the background too, so unflushed data may or may not survive.
    const DROPS_UNFLUSHED: bool = false;
}

fn put1(s: &mut impl Store, tree: &str, k: &[u8], v: &[u8]) {
    let mut b = WriteBatch::new();
    b.put(tree, k, v);
    s.apply(b).expect("apply succeeds");
}

fn get(s: &impl Store, tree: &str, k: &[u8]) -> Option<Vec<u8>> {
    s.get(tree, k).expect("get succeeds")
}

fn keys(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    pairs.iter().map(|(k, _)| k.clone()).collect()
}

fn put_get_delete<H: Harness>(mut h: H) {
    let s = h.store();
    assert_eq!(get(s, "t", b"a"), None);
    put1(s, "t", b"a", b"1");
    assert_eq!(get(s, "t", b"a"), Some(b"1".to_vec()));
    put1(s, "t", b"a", b"2");
    assert_eq!(get(s, "t", b"a"), Some(b"2".to_vec()));
    let mut b = WriteBatch::new();
    b.delete("t", b"a");
    b.delete("t", b"never-written");
    s.apply(b).expect("deletes apply");
    assert_eq!(get(s, "t", b"a"), None);
    // Empty keys and values are ordinary.
    put1(s, "t", b"", b"");
    assert_eq!(get(s, "t", b""), Some(Vec::new()));
    // Large values round-trip.
    let big = vec![7u8; 1 << 20];
    put1(s, "t", b"big", &big);
    assert_eq!(get(s, "t", b"big"), Some(big));
}

fn unknown_tree_reads_empty<H: Harness>(mut h: H) {
    let s = h.store();
    assert_eq!(get(s, "nothing-here", b"k"), None);
    assert!(s.scan("nothing-here", b"", 10).expect("scan").is_empty());
}

fn trees_are_independent<H: Harness>(mut h: H) {
    let s = h.store();
    put1(s, "a", b"k", b"in-a");
    put1(s, "b", b"k", b"in-b");
    assert_eq!(get(s, "a", b"k"), Some(b"in-a".to_vec()));
    assert_eq!(get(s, "b", b"k"), Some(b"in-b".to_vec()));
    let mut b = WriteBatch::new();
    b.delete("a", b"k");
    s.apply(b).expect("delete applies");
    assert_eq!(get(s, "a", b"k"), None);
    assert_eq!(get(s, "b", b"k"), Some(b"in-b".to_vec()));
}

fn scan_order_from_and_limit<H: Harness>(mut h: H) {
    let s = h.store();
    let mut b = WriteBatch::new();
    // Inserted out of order; u64 keys must come back in numeric order.
    for k in [300u64, 2, 256, 255, 1, 0, u64::MAX, 1000] {
        b.put("seq", &u64_key(k), &k.to_le_bytes());
    }
    s.apply(b).expect("apply");
    let all = s.scan("seq", b"", usize::MAX).expect("scan");
    let got: Vec<u64> = all
        .iter()
        .map(|(k, _)| u64_from_key(k).expect("8-byte key"))
        .collect();
    assert_eq!(got, vec![0, 1, 2, 255, 256, 300, 1000, u64::MAX]);
    for (k, v) in &all {
        assert_eq!(v.as_slice(), &u64_from_key(k).expect("key").to_le_bytes());
    }
    // `from` is inclusive; between keys starts at the next one.
    let from = s.scan("seq", &u64_key(255), 3).expect("scan");
    assert_eq!(
        keys(&from),
        vec![
            u64_key(255).to_vec(),
            u64_key(256).to_vec(),
            u64_key(300).to_vec()
        ]
    );
    let between = s.scan("seq", &u64_key(257), 1).expect("scan");
    assert_eq!(keys(&between), vec![u64_key(300).to_vec()]);
    assert!(s.scan("seq", &u64_key(5), 0).expect("scan").is_empty());
    let tail = s.scan("seq", &[0xff; 9], 10).expect("scan");
    assert!(tail.is_empty());
    // Byte order, not length order, for variable-length keys.
    let mut b = WriteBatch::new();
    for k in [&b"b"[..], b"a", b"ab", b"", b"\xff", b"aa"] {
        b.put("bytes", k, b"v");
    }
    s.apply(b).expect("apply");
    let got = keys(&s.scan("bytes", b"a", 100).expect("scan"));
    let want: Vec<Vec<u8>> = [&b"a"[..], b"aa", b"ab", b"b", b"\xff"]
        .iter()
        .map(|k| k.to_vec())
        .collect();
    assert_eq!(got, want);
}

fn batch_applies_in_order<H: Harness>(mut h: H) {
    let s = h.store();
    let mut b = WriteBatch::new();
    b.put("t", b"x", b"1");
    b.put("t", b"x", b"2");
    b.put("t", b"y", b"1");
    b.delete("t", b"y");
    b.delete("t", b"z");
    b.put("t", b"z", b"3");
    assert_eq!(b.len(), 6);
    s.apply(b).expect("apply");
    assert_eq!(get(s, "t", b"x"), Some(b"2".to_vec()));
    assert_eq!(get(s, "t", b"y"), None);
    assert_eq!(get(s, "t", b"z"), Some(b"3".to_vec()));
    s.apply(WriteBatch::new()).expect("an empty batch is fine");
}

fn multi_tree_batch_is_atomic<H: Harness>(mut h: H) {
    let s = h.store();
    let mut b = WriteBatch::new();
    b.put("received", &u64_key(1), b"entry");
    b.put("delivered", &u64_key(1), b"yes");
    b.put("cursor", b"k", &u64_key(1));
    s.apply(b).expect("apply");
    assert_eq!(get(s, "received", &u64_key(1)), Some(b"entry".to_vec()));
    assert_eq!(get(s, "delivered", &u64_key(1)), Some(b"yes".to_vec()));
    assert_eq!(get(s, "cursor", b"k"), Some(u64_key(1).to_vec()));

    // A batch with one bad op is refused whole: none of its good ops become visible.
    let mut bad = WriteBatch::new();
    bad.put("received", &u64_key(2), b"entry");
    bad.delete("delivered", &u64_key(1));
    bad.put("", b"k", b"v");
    assert!(matches!(
        s.apply(bad),
        Err(StorageError::InvalidTreeName(name)) if name.is_empty()
    ));
    let mut reserved = WriteBatch::new();
    reserved.put("received", &u64_key(3), b"entry");
    reserved.put("__sled__default", b"k", b"v");
    assert!(s.apply(reserved).is_err());
    assert_eq!(get(s, "received", &u64_key(2)), None);
    assert_eq!(get(s, "received", &u64_key(3)), None);
    assert_eq!(get(s, "delivered", &u64_key(1)), Some(b"yes".to_vec()));
    assert!(s.get("", b"k").is_err());
    assert!(s.scan("__sled__default", b"", 1).is_err());
}

fn flush_then_restart_is_durable<H: Harness>(mut h: H) {
    let mut b = WriteBatch::new();
    b.put("a", b"k1", b"v1");
    b.put("b", b"k1", b"v1");
    h.store().apply(b).expect("apply");
    let mut b = WriteBatch::new();
    b.delete("a", b"k1");
    b.put("a", b"k2", b"v2");
    h.store().apply(b).expect("apply");
    h.store().flush().expect("flush");

    // Applied after the flush: may be lost, but never torn.
    let mut b = WriteBatch::new();
    b.put("a", b"k3", b"v3");
    b.put("b", b"k3", b"v3");
    h.store().apply(b).expect("apply");

    h.restart();
    let s = h.store();
    assert_eq!(get(s, "a", b"k1"), None);
    assert_eq!(get(s, "a", b"k2"), Some(b"v2".to_vec()));
    assert_eq!(get(s, "b", b"k1"), Some(b"v1".to_vec()));
    let a3 = get(s, "a", b"k3");
    let b3 = get(s, "b", b"k3");
    assert_eq!(a3.is_some(), b3.is_some(), "a batch survived torn");
    if H::DROPS_UNFLUSHED {
        assert_eq!(a3, None);
    }

    // Still usable after a restart, and a second cycle keeps everything flushed.
    put1(s, "a", b"k4", b"v4");
    s.flush().expect("flush");
    h.restart();
    let s = h.store();
    assert_eq!(get(s, "a", b"k4"), Some(b"v4".to_vec()));
    assert_eq!(get(s, "a", b"k2"), Some(b"v2".to_vec()));
}

fn schema_version_is_recorded<H: Harness>(mut h: H) {
    h.restart();
    let s = h.store();
    assert_eq!(
        get(s, META_TREE, SCHEMA_VERSION_KEY),
        Some(SCHEMA_VERSION.to_be_bytes().to_vec())
    );
}

macro_rules! conformance_suite {
    ($module:ident, $harness:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn put_get_delete() {
                super::put_get_delete($harness);
            }
            #[test]
            fn unknown_tree_reads_empty() {
                super::unknown_tree_reads_empty($harness);
            }
            #[test]
            fn trees_are_independent() {
                super::trees_are_independent($harness);
            }
            #[test]
            fn scan_order_from_and_limit() {
                super::scan_order_from_and_limit($harness);
            }
            #[test]
            fn batch_applies_in_order() {
                super::batch_applies_in_order($harness);
            }
            #[test]
            fn multi_tree_batch_is_atomic() {
                super::multi_tree_batch_is_atomic($harness);
            }
            #[test]
            fn flush_then_restart_is_durable() {
                super::flush_then_restart_is_durable($harness);
            }
            #[test]
            fn schema_version_is_recorded() {
                super::schema_version_is_recorded($harness);
            }
        }
    };
}

conformance_suite!(mem, MemHarness::new());
conformance_suite!(sled_store, SledHarness::new());

// ---- behaviour specific to one implementation ----

#[test]
fn mem_disk_image_holds_only_flushed_state() {
    let mut s = MemStore::new();
    put1(&mut s, "t", b"flushed", b"1");
    s.flush().expect("flush");
    put1(&mut s, "t", b"pending", b"2");
    assert_eq!(s.unflushed_batches(), 1);
    let image = s.disk_image();
    assert_eq!(get(&image, "t", b"flushed"), Some(b"1".to_vec()));
    assert_eq!(get(&image, "t", b"pending"), None);
    // The original is untouched, and a clone carries the unflushed state too.
    let copy = s.clone();
    assert_eq!(get(&copy, "t", b"pending"), Some(b"2".to_vec()));
    assert_eq!(get(&s, "t", b"pending"), Some(b"2".to_vec()));
}

#[test]
fn sled_refuses_another_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut s = SledStore::open(dir.path()).expect("open");
        put1(
            &mut s,
            META_TREE,
            SCHEMA_VERSION_KEY,
            &(SCHEMA_VERSION + 1).to_be_bytes(),
        );
        s.flush().expect("flush");
    }
    let err = SledStore::open(dir.path()).expect_err("a newer schema is refused");
    assert!(
        matches!(err, StorageError::SchemaMismatch { found, expected }
        if found == SCHEMA_VERSION + 1 && expected == SCHEMA_VERSION)
    );
    assert!(err.to_string().starts_with("schema version mismatch"));
}

#[test]
fn sled_refuses_a_corrupt_schema_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut s = SledStore::open(dir.path()).expect("open");
        put1(&mut s, META_TREE, SCHEMA_VERSION_KEY, b"bad");
        s.flush().expect("flush");
    }
    let err = SledStore::open(dir.path()).expect_err("a corrupt record is refused");
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
}

#[test]
fn sled_refuses_data_without_schema_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled::open(dir.path()).expect("raw sled opens");
        db.open_tree("other")
            .expect("tree")
            .insert(b"k", b"v")
            .expect("insert");
        db.flush().expect("flush");
    }
    let err = SledStore::open(dir.path()).expect_err("foreign data is refused");
    assert!(matches!(err, StorageError::MissingSchemaVersion), "{err}");
}

#[test]
fn sled_second_open_of_a_held_path_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _held = SledStore::open(dir.path()).expect("open");
    let err = SledStore::open(dir.path()).expect_err("the path is held");
    assert!(err.to_string().contains("lock"), "{err}");
}

#[test]
fn sled_open_waits_for_a_lock_released_soon_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let held = SledStore::open(dir.path()).expect("open");
    // The holder lets go about 300 ms after the second open starts (well within the 2 s lock
    // wait), as sled's background flusher does a moment after the last handle is dropped; the
    // second open waits for it instead of failing.
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(held);
    });
    let reopened = SledStore::open(dir.path());
    release.join().expect("the holder thread");
    assert!(reopened.is_ok(), "{:?}", reopened.err());
}
