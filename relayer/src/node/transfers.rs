//! The relay's index of the bridge transfers it has seen, in both directions, and the status
//! each one has from this relay's point of view.
//!
//! Nothing here is persisted on its own: on restart the node rebuilds the index by replaying its
//! own chain from genesis (outbound transfers and the commits of inbound ones) and by reloading
//! the inbound entries it had durably received. What a status means is documented on
//! [`TransferStatus`].

use super::view::{Direction, TransferFilter, TransferPage, TransferStatus, TransferView};
use std::collections::BTreeMap;

/// One transfer as this relay knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Transfer id.
    pub id: [u8; 32],
    /// Which way it goes.
    pub direction: Direction,
    /// Whether this relay's chain is the source (its own stream) or the destination.
    pub outbound: bool,
    /// Amount.
    pub amount: u64,
    /// Payer (address text).
    pub sender: String,
    /// Recipient (address text).
    pub recipient: String,
    /// Source `BridgeOut` transaction id.
    pub source_tx: [u8; 32],
    /// Source block height, when known (outbound only).
    pub source_height: Option<u64>,
    /// Stream index.
    pub k: u64,
    /// Outbound: some relay of this cluster reported sending it.
    pub sent: bool,
    /// Inbound: the `BridgeIn` transaction id this relay submitted or saw committed.
    pub dest_tx: Option<[u8; 32]>,
    /// Inbound: the destination height that applied it.
    pub dest_height: Option<u64>,
    /// Inbound: why the destination refused it.
    pub error: Option<String>,
    /// Last change (ms since the Unix epoch).
    pub updated_at: u64,
}

impl Record {
    /// The status given the current QUACK of this relay's own stream.
    pub fn status(&self, quack: u64) -> TransferStatus {
        if self.outbound {
            if self.k < quack {
                TransferStatus::Acknowledged
            } else if self.sent {
                TransferStatus::Sent
            } else {
                TransferStatus::Finalized
            }
        } else if self.dest_height.is_some() {
            TransferStatus::Committed
        } else if self.error.is_some() {
            TransferStatus::Rejected
        } else {
            TransferStatus::Acknowledged
        }
    }

    /// The public view.
    pub fn view(&self, quack: u64) -> TransferView {
        TransferView {
            id: hex::encode(self.id),
            direction: self.direction,
            amount: self.amount,
            sender: self.sender.clone(),
            recipient: self.recipient.clone(),
            status: self.status(quack),
            source_tx: hex::encode(self.source_tx),
            source_height: self.source_height,
            stream_index: self.k,
            quacked: self.outbound && self.k < quack,
            dest_tx: self.dest_tx.map(hex::encode),
            dest_height: self.dest_height,
            error: self.error.clone(),
            updated_at: self.updated_at,
        }
    }
}

/// Every transfer this relay has seen, with lookups by id, source transaction, stream index, and
/// arrival order (for paging).
#[derive(Debug, Default)]
pub struct Transfers {
    by_id: BTreeMap<[u8; 32], Record>,
    by_source_tx: BTreeMap<[u8; 32], [u8; 32]>,
    outbound_by_k: BTreeMap<u64, [u8; 32]>,
    inbound_by_k: BTreeMap<u64, [u8; 32]>,
    order: BTreeMap<u64, [u8; 32]>,
    next_seq: u64,
}

impl Transfers {
    /// Adds a record, or returns false if the id is already known (nothing changes).
    pub fn insert(&mut self, r: Record) -> bool {
        if self.by_id.contains_key(&r.id) {
            return false;
        }
        self.by_source_tx.insert(r.source_tx, r.id);
        if r.outbound {
            self.outbound_by_k.insert(r.k, r.id);
        } else {
            self.inbound_by_k.insert(r.k, r.id);
        }
        self.order.insert(self.next_seq, r.id);
        self.next_seq += 1;
        self.by_id.insert(r.id, r);
        true
    }

    /// A record by id.
    pub fn get(&self, id: &[u8; 32]) -> Option<&Record> {
        self.by_id.get(id)
    }

    /// A record by id, to change it.
    pub fn get_mut(&mut self, id: &[u8; 32]) -> Option<&mut Record> {
        self.by_id.get_mut(id)
    }

    /// A record by its source transaction.
    pub fn by_source_tx(&self, tx: &[u8; 32]) -> Option<&Record> {
        self.by_source_tx.get(tx).and_then(|id| self.by_id.get(id))
    }

    /// The outbound record at stream index `k`.
    pub fn outbound_mut(&mut self, k: u64) -> Option<&mut Record> {
        let id = self.outbound_by_k.get(&k)?;
        self.by_id.get_mut(id)
    }

    /// Ids of outbound records with `from <= k < to`.
    pub fn outbound_range(&self, from: u64, to: u64) -> Vec<[u8; 32]> {
        self.outbound_by_k
            .range(from..to)
            .map(|(_, id)| *id)
            .collect()
    }

    /// Inbound records not yet committed or rejected, in stream order.
    pub fn inbound_open(&self) -> Vec<&Record> {
        self.inbound_by_k
            .values()
            .filter_map(|id| self.by_id.get(id))
            .filter(|r| r.dest_height.is_none() && r.error.is_none())
            .collect()
    }

    /// How many records have each status.
    pub fn counts(&self, quack: u64) -> BTreeMap<String, u64> {
        let mut out: BTreeMap<String, u64> = TransferStatus::ALL
            .iter()
            .map(|s| (s.name().to_owned(), 0))
            .collect();
        for r in self.by_id.values() {
            *out.entry(r.status(quack).name().to_owned()).or_default() += 1;
        }
        out
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// One page in arrival order. `cursor` is the opaque string a previous page returned.
    pub fn page(
        &self,
        filter: &TransferFilter,
        cursor: Option<&str>,
        limit: usize,
        quack: u64,
    ) -> Result<TransferPage, String> {
        let from = match cursor {
            None => 0,
            Some(c) => c.parse::<u64>().map_err(|_| {
                format!("invalid params: cursor {c:?} is not one this relay issued")
            })?,
        };
        let mut transfers = Vec::new();
        let mut next_cursor = None;
        for (seq, id) in self.order.range(from..) {
            let Some(r) = self.by_id.get(id) else {
                continue;
            };
            if filter.direction.is_some_and(|d| d != r.direction)
                || filter.status.is_some_and(|s| s != r.status(quack))
            {
                continue;
            }
            if transfers.len() == limit {
                next_cursor = Some(seq.to_string());
                break;
            }
            transfers.push(r.view(quack));
        }
        Ok(TransferPage {
            transfers,
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u8, outbound: bool, k: u64) -> Record {
        Record {
            id: [i; 32],
            direction: if outbound {
                Direction::AToB
            } else {
                Direction::BToA
            },
            outbound,
            amount: 10,
            sender: "s".into(),
            recipient: "r".into(),
            source_tx: [i + 100; 32],
            source_height: Some(1),
            k,
            sent: false,
            dest_tx: None,
            dest_height: None,
            error: None,
            updated_at: 0,
        }
    }

    #[test]
    fn statuses_follow_the_lifecycle() {
        let mut r = rec(1, true, 5);
        assert_eq!(r.status(0), TransferStatus::Finalized);
        r.sent = true;
        assert_eq!(r.status(5), TransferStatus::Sent);
        assert_eq!(r.status(6), TransferStatus::Acknowledged);
        assert!(r.view(6).quacked);
        let mut i = rec(2, false, 0);
        assert_eq!(i.status(100), TransferStatus::Acknowledged);
        assert!(!i.view(100).quacked);
        i.error = Some("no".into());
        assert_eq!(i.status(0), TransferStatus::Rejected);
        i.dest_height = Some(3);
        assert_eq!(i.status(0), TransferStatus::Committed);
    }

    #[test]
    fn pages_filter_and_resume() {
        let mut t = Transfers::default();
        for i in 0..10u8 {
            assert!(t.insert(rec(i, i % 2 == 0, u64::from(i))));
        }
        assert!(!t.insert(rec(3, false, 3)), "duplicate ids are refused");
        let f = TransferFilter {
            direction: Some(Direction::AToB),
            status: None,
        };
        let p1 = t.page(&f, None, 3, 0).unwrap();
        assert_eq!(p1.transfers.len(), 3);
        let p2 = t.page(&f, p1.next_cursor.as_deref(), 3, 0).unwrap();
        assert_eq!(p2.transfers.len(), 2);
        assert_eq!(p2.next_cursor, None);
        let ids: Vec<_> = p1
            .transfers
            .iter()
            .chain(&p2.transfers)
            .map(|v| v.id.clone())
            .collect();
        assert_eq!(ids.len(), 5);
        assert!(t.page(&f, Some("x"), 3, 0).is_err());
        let acked = TransferFilter {
            status: Some(TransferStatus::Acknowledged),
            direction: None,
        };
        // Outbound 0, 2 are below QUACK 3; inbound 1, 3, 5, 7, 9 are held.
        assert_eq!(t.page(&acked, None, 100, 3).unwrap().transfers.len(), 7);
        assert_eq!(t.by_source_tx(&[104; 32]).unwrap().k, 4);
        assert_eq!(t.outbound_range(0, 5).len(), 3);
        assert_eq!(t.inbound_open().len(), 5);
        assert_eq!(t.counts(3)["finalized"], 3);
    }
}
