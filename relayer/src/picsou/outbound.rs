//! The sending half of a relay: its cluster's stream, the original sends it owes under the
//! schedule (paced by a soft window), the acks it heard, the QUACK, loss reports and resend roles.

use crate::picsou::quack::{QuackTracker, quorum_value};
use crate::picsou::resend::{RolePair, role_pairs};
use crate::picsou::schedule::Schedule;
use crate::protocol::{Ack, ClusterConfig, Entry, Params};
use crate::types::{NodeIdx, Stake, StreamIndex, Time};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Something the sending half wants done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutAction {
    /// Send `entry` to remote receiver `to`; `level` 0 is the original send.
    Send {
        /// Entry to send.
        entry: Entry,
        /// Remote receiver.
        to: NodeIdx,
        /// Resend role (0 = original).
        level: u32,
    },
    /// The QUACK advanced.
    Quack(u64),
}

#[derive(Clone, Debug)]
struct Stored {
    entry: Entry,
    committed_at: Time,
}

/// Loss reports about one index, from the receivers that reported it missing.
#[derive(Clone, Debug, Default)]
struct Reports {
    /// Per reporting receiver: reports counted and when the last one was counted.
    by: BTreeMap<NodeIdx, (u32, Time)>,
    level: u32,
    pairs: Vec<RolePair>,
    done: BTreeSet<u32>,
}

/// Sender state of this relay's cluster stream.
#[derive(Debug)]
pub struct Outbound {
    me: NodeIdx,
    local: ClusterConfig,
    remote: ClusterConfig,
    params: Params,
    schedule: Schedule,
    /// Entries `base..exported` not yet known delivered (`base` ≤ QUACK).
    entries: VecDeque<Stored>,
    base: u64,
    exported: u64,
    next_original: u64,
    quack: QuackTracker,
    acks: Vec<Option<Ack>>,
    reports: BTreeMap<u64, Reports>,
    /// This relay's original sends not yet QUACKed, with their sizes.
    outstanding: BTreeMap<u64, usize>,
    outstanding_bytes: usize,
    /// Receivers behind our QUACK that reported an index we already forgot.
    owe_claim: BTreeSet<NodeIdx>,
    originals_sent: u64,
    resends: u64,
    actions: Vec<OutAction>,
}

impl Outbound {
    /// Sender state for relay `me` of `local`, sending to `remote`, resuming above `quack`.
    pub fn new(
        me: NodeIdx,
        local: ClusterConfig,
        remote: ClusterConfig,
        params: Params,
        quack: u64,
    ) -> Self {
        let schedule = Schedule::new(&local, &remote, params.quantum_max, params.slot_seed);
        let n_r = remote.n();
        Outbound {
            me,
            quack: QuackTracker::new(remote.stakes.clone(), remote.u, quack),
            schedule,
            local,
            remote,
            params,
            entries: VecDeque::new(),
            base: quack,
            exported: 0,
            next_original: quack,
            acks: vec![None; n_r],
            reports: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            outstanding_bytes: 0,
            owe_claim: BTreeSet::new(),
            originals_sent: 0,
            resends: 0,
            actions: Vec::new(),
        }
    }

    /// The schedule of this stream.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Entries handed in so far.
    pub fn exported(&self) -> u64 {
        self.exported
    }

    /// Current QUACK.
    pub fn quack(&self) -> u64 {
        self.quack.quack()
    }

    /// Original sends made.
    pub fn originals_sent(&self) -> u64 {
        self.originals_sent
    }

    /// Resends made.
    pub fn resends(&self) -> u64 {
        self.resends
    }

    /// Drains the actions produced by the last calls.
    pub fn take_actions(&mut self) -> Vec<OutAction> {
        std::mem::take(&mut self.actions)
    }

    /// Whether receiver `j` is behind our QUACK (so claims should be sent to it).
    pub fn receiver_behind_quack(&self, j: NodeIdx) -> bool {
        let next = self.acks[j.as_usize()].as_ref().map_or(0, |a| a.next.0);
        next < self.quack()
    }

    /// Takes the set of receivers owed a §4.3 claim.
    pub fn take_owed_claims(&mut self) -> BTreeSet<NodeIdx> {
        std::mem::take(&mut self.owe_claim)
    }

    /// Whether any receiver is owed a claim.
    pub fn owes_claims(&self) -> bool {
        !self.owe_claim.is_empty()
    }

    fn stored(&self, k: u64) -> Option<&Stored> {
        k.checked_sub(self.base)
            .and_then(|i| self.entries.get(i as usize))
    }

    /// The local chain finalized the next entry of this stream.
    pub fn committed(&mut self, now: Time, entry: Entry) {
        if entry.k.0 != self.exported {
            return;
        }
        self.exported += 1;
        if entry.k.0 >= self.base {
            self.entries.push_back(Stored {
                entry,
                committed_at: now,
            });
        }
        self.pump_originals(now);
    }

    /// Makes the original sends the schedule and the soft window allow.
    pub fn pump_originals(&mut self, now: Time) {
        while self.next_original < self.exported {
            let k = self.next_original;
            if self.schedule.sender(StreamIndex(k)) != self.me {
                self.next_original += 1;
                continue;
            }
            let Some(stored) = self.stored(k) else {
                self.next_original += 1;
                continue;
            };
            let size = stored.entry.payload.len() + stored.entry.proof.len();
            let over_window = k >= self.quack().saturating_add(self.params.send_window)
                || (!self.outstanding.is_empty()
                    && self.outstanding_bytes + size > self.params.send_window_bytes);
            if over_window && now < stored.committed_at.add(self.params.max_message_delay) {
                break;
            }
            let entry = stored.entry.clone();
            let to = self.schedule.receiver(StreamIndex(k));
            self.outstanding.insert(k, size);
            self.outstanding_bytes += size;
            self.originals_sent += 1;
            self.next_original += 1;
            self.actions.push(OutAction::Send {
                entry,
                to,
                level: 0,
            });
        }
    }

    /// When the soft window next yields, if an original send is being held back.
    pub fn window_deadline(&self) -> Option<Time> {
        if self.next_original >= self.exported {
            return None;
        }
        let k = self.next_original;
        if self.schedule.sender(StreamIndex(k)) != self.me {
            return None;
        }
        self.stored(k)
            .map(|s| s.committed_at.add(self.params.max_message_delay))
    }

    /// An ack of this stream arrived from remote receiver `j`. Returns whether the ack was
    /// impossible (claims entries far past anything exported).
    pub fn on_ack(&mut self, now: Time, j: NodeIdx, ack: &Ack) -> bool {
        let ji = j.as_usize();
        if ji >= self.acks.len() {
            return false;
        }
        let impossible = ack.next.0 > self.exported.saturating_add(self.params.recv_window);
        let next = ack.next.0.min(self.exported);
        if self.acks[ji]
            .as_ref()
            .is_some_and(|prev| next < prev.next.0)
        {
            // Older than what we heard already: reordered or lying low; it says nothing new.
            return impossible;
        }
        let highest = ack.highest_held().map(|h| h.0.min(self.exported));
        let clamped = Ack {
            next: StreamIndex(next),
            phi: ack.phi.clone(),
        };
        self.acks[ji] = Some(clamped);
        if let Some(q) = self.quack.observe(ji, next) {
            self.on_quack(now, q);
        }

        // Loss reports: `next` itself, and holes in the φ-list below the highest index held.
        let phi_end = next.saturating_add(1 + 8 * ack.phi.len() as u64);
        let hole_end = highest.map_or(next + 1, |h| h.min(phi_end));
        let mut missing = vec![next];
        missing.extend((next + 1..hole_end).filter(|&k| !ack.phi_holds(StreamIndex(k))));
        for k in missing {
            self.report(now, j, k, highest.is_some_and(|h| h > k));
        }
        impossible
    }

    fn report(&mut self, now: Time, j: NodeIdx, k: u64, gap: bool) {
        if k >= self.exported {
            return;
        }
        if k < self.quack() {
            // We may have forgotten it; tell j how far the QUACK is so it can fetch (§4.3).
            self.owe_claim.insert(j);
            return;
        }
        let Some(stored) = self.stored(k) else {
            return;
        };
        // Evidence only counts once the entry has had time to arrive; one not preceded by any
        // later arrival must also have outlived the soft window.
        let settle = if gap {
            self.params.dup_ack_spacing
        } else {
            self.params.max_message_delay + self.params.dup_ack_spacing
        };
        if now < stored.committed_at.add(settle) {
            return;
        }
        let spacing = self.params.dup_ack_spacing;
        let rep = self.reports.entry(k).or_default();
        let slot = rep.by.entry(j).or_insert((0, Time::ZERO));
        if slot.0 > 0 && now < slot.1.add(spacing) {
            return;
        }
        slot.0 += 1;
        slot.1 = now;
        let stakes = &self.remote.stakes;
        let level = quorum_value(
            rep.by
                .iter()
                .map(|(r, (count, _))| (u64::from(*count), stakes[r.as_usize()])),
            Stake(self.remote.r.0 + 1),
        )
        .map_or(0, |c| c.saturating_sub(1) as u32);
        if level > rep.level {
            rep.level = level;
            self.fire_roles(k);
        }
    }

    /// Sends `k` under every resend role of ours up to its current level.
    fn fire_roles(&mut self, k: u64) {
        let Some(rep) = self.reports.get_mut(&k) else {
            return;
        };
        if rep.pairs.is_empty() {
            rep.pairs = role_pairs(&self.schedule, &self.local, &self.remote, StreamIndex(k));
        }
        let top = (rep.level as usize).min(rep.pairs.len().saturating_sub(1));
        let mine: Vec<(u32, NodeIdx)> = (1..=top)
            .filter(|&i| rep.pairs[i].sender == self.me && !rep.done.contains(&(i as u32)))
            .map(|i| (i as u32, rep.pairs[i].receiver))
            .collect();
        if mine.is_empty() {
            return;
        }
        // A resend is pointless once u_r + 1 stake of receivers individually hold k.
        let held: u64 = self
            .acks
            .iter()
            .zip(&self.remote.stakes)
            .filter(|(a, _)| a.as_ref().is_some_and(|a| a.holds(StreamIndex(k))))
            .map(|(_, s)| s.0)
            .sum();
        if held > self.remote.u.0 {
            return;
        }
        let Some(entry) = self.stored(k).map(|s| s.entry.clone()) else {
            return;
        };
        if let Some(rep) = self.reports.get_mut(&k) {
            for (level, to) in mine {
                rep.done.insert(level);
                self.resends += 1;
                self.actions.push(OutAction::Send {
                    entry: entry.clone(),
                    to,
                    level,
                });
            }
        }
    }

    fn on_quack(&mut self, now: Time, q: u64) {
        self.actions.push(OutAction::Quack(q));
        while self.base < q && !self.entries.is_empty() {
            self.entries.pop_front();
            self.base += 1;
        }
        self.base = self.base.max(q.min(self.exported));
        self.reports = self.reports.split_off(&q);
        let keep = self.outstanding.split_off(&q);
        let dropped: usize = self.outstanding.values().sum();
        self.outstanding = keep;
        self.outstanding_bytes -= dropped;
        self.next_original = self.next_original.max(q);
        self.pump_originals(now);
    }
}
