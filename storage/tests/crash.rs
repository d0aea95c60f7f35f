//! `SledStore` under a real `kill -9`: a child process applies multi-tree batches and flushes
//! every tenth; the parent kills it mid-stream, reopens the directory, and checks that every
//! flushed batch survived, that no batch survived torn, and that what survived is a prefix.
//!
//! The child is this same test binary, re-run with `STORAGE_CRASH_CHILD_DIR` set.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use storage::{SledStore, Store, WriteBatch, u64_from_key, u64_key};

const CHILD_ENV: &str = "STORAGE_CRASH_CHILD_DIR";
const TEST_NAME: &str = "sled_survives_kill_9_with_whole_batches";

/// The child: applies batch `n` to trees `a` and `b` (and bumps a counter in `c`) for n = 1, 2,
/// …; flushes every tenth and reports it on stdout. Runs until killed.
fn child(dir: &Path) -> ! {
    let mut store = SledStore::open(dir).expect("child opens the store");
    let mut n: u64 = 0;
    loop {
        n += 1;
        let mut b = WriteBatch::new();
        b.put("a", &u64_key(n), &n.to_be_bytes());
        b.put("b", &u64_key(n), &[7u8; 300]);
        b.put("c", b"last", &u64_key(n));
        store.apply(b).expect("child applies");
        if n.is_multiple_of(10) {
            store.flush().expect("child flushes");
            println!("flushed {n}");
        }
    }
}

fn keys(store: &SledStore, tree: &str) -> Vec<u64> {
    store
        .scan(tree, b"", usize::MAX)
        .expect("scan")
        .iter()
        .map(|(k, _)| u64_from_key(k).expect("u64 key"))
        .collect()
}

#[test]
fn sled_survives_kill_9_with_whole_batches() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let exe = std::env::current_exe().expect("test binary path");
    for (round, kill_after) in [40u64, 200, 1_000].into_iter().enumerate() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut proc = Command::new(&exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("child starts");
        let out = BufReader::new(proc.stdout.take().expect("piped"));
        let mut flushed = 0;
        for line in out.lines() {
            let line = line.expect("child output");
            if let Some(n) = line.strip_prefix("flushed ") {
                flushed = n.parse::<u64>().expect("a number");
                if flushed >= kill_after {
                    break;
                }
            }
        }
        proc.kill().expect("kill -9");
        let _ = proc.wait();
        assert!(
            flushed >= kill_after,
            "round {round}: the child stopped early"
        );

        let store = SledStore::open(tmp.path()).expect("reopens after kill -9");
        let a = keys(&store, "a");
        let b = keys(&store, "b");
        assert_eq!(a, b, "round {round}: a batch survived torn");
        let survived = a.len() as u64;
        assert!(
            survived >= flushed,
            "round {round}: lost flushed batches ({survived} < {flushed})"
        );
        assert_eq!(
            a,
            (1..=survived).collect::<Vec<_>>(),
            "round {round}: not a prefix"
        );
        let last = store.get("c", b"last").expect("get").expect("counter");
        assert_eq!(u64_from_key(&last).expect("u64"), survived);
    }
}
