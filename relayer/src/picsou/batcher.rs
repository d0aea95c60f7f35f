//! Open batches per destination: entries accumulate until the batch reaches `batch_bytes` or has
//! been open for `batch_delay`.

use crate::protocol::Entry;
use crate::types::{NodeIdx, Time};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
struct Open {
    entries: Vec<Entry>,
    bytes: usize,
    opened_at: Time,
}

/// Per-destination accumulation of entries.
#[derive(Clone, Debug)]
pub struct Batcher {
    open: BTreeMap<NodeIdx, Open>,
    batch_bytes: usize,
    batch_delay: Duration,
}

impl Batcher {
    /// A batcher flushing at `batch_bytes` or after `batch_delay`.
    pub fn new(batch_bytes: usize, batch_delay: Duration) -> Self {
        Batcher {
            open: BTreeMap::new(),
            batch_bytes,
            batch_delay,
        }
    }

    /// Adds an entry for `to`. Returns the full batch if it reached `batch_bytes`.
    pub fn push(&mut self, now: Time, to: NodeIdx, entry: Entry) -> Option<Vec<Entry>> {
        let open = self.open.entry(to).or_insert_with(|| Open {
            opened_at: now,
            ..Open::default()
        });
        if open.entries.is_empty() {
            open.opened_at = now;
        }
        open.bytes += entry.payload.len() + entry.proof.len();
        open.entries.push(entry);
        if open.bytes >= self.batch_bytes {
            self.take(to)
        } else {
            None
        }
    }

    /// Removes and returns `to`'s open batch, if any.
    pub fn take(&mut self, to: NodeIdx) -> Option<Vec<Entry>> {
        self.open
            .remove(&to)
            .map(|o| o.entries)
            .filter(|e| !e.is_empty())
    }

    /// Removes and returns every batch whose delay expired by `now`.
    pub fn take_due(&mut self, now: Time) -> Vec<(NodeIdx, Vec<Entry>)> {
        let due: Vec<NodeIdx> = self
            .open
            .iter()
            .filter(|(_, o)| o.opened_at.add(self.batch_delay) <= now)
            .map(|(to, _)| *to)
            .collect();
        due.into_iter()
            .filter_map(|to| self.take(to).map(|e| (to, e)))
            .collect()
    }

    /// Earliest flush deadline.
    pub fn next_deadline(&self) -> Option<Time> {
        self.open
            .values()
            .map(|o| o.opened_at.add(self.batch_delay))
            .min()
    }
}
