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
    /// Payload and proof bytes of every entry pushed up to and including this one.
    cum_bytes: u64,
    /// When the soft window let this entry go (the same moment, give or take acks in flight, at
    /// every relay of the cluster); `None` while held.
    released_at: Option<Time>,
}

/// Reports counted from one receiver about one index.
#[derive(Clone, Copy, Debug)]
struct Tally {
    count: u32,
    last: Time,
}

/// Loss reports about one index, from the receivers that reported it missing.
#[derive(Clone, Debug, Default)]
struct Reports {
    /// Per reporting receiver.
    by: BTreeMap<NodeIdx, Tally>,
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
    /// Every `k < released` is inside the soft window (cluster-wide: every relay computes it).
    released: u64,
    /// Bytes of all entries pushed, and of those dropped below `base`.
    pushed_bytes: u64,
    dropped_bytes: u64,
    /// Last time the soft window moved: the QUACK advanced or the window yielded.
    window_moved: Time,
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
            released: quack,
            pushed_bytes: 0,
            dropped_bytes: 0,
            window_moved: Time::ZERO,
            owe_claim: BTreeSet::new(),
            originals_sent: 0,
            resends: 0,
            actions: Vec::new(),
        }
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
            self.pushed_bytes += (entry.payload.len() + entry.proof.len()) as u64;
            self.entries.push_back(Stored {
                entry,
                cum_bytes: self.pushed_bytes,
                released_at: None,
            });
        }
        self.pump_originals(now);
    }

    /// Whether the soft window covers `k`: within `send_window` entries and `send_window_bytes`
    /// bytes of the QUACK. The first entry past the QUACK always fits.
    fn in_window(&self, k: u64) -> bool {
        let quack = self.quack();
        if k <= quack {
            return true;
        }
        if k >= quack.saturating_add(self.params.send_window) {
            return false;
        }
        self.stored(k).is_none_or(|s| {
            s.cum_bytes - self.dropped_bytes <= self.params.send_window_bytes as u64
        })
    }

    fn release(&mut self, now: Time) {
        let k = self.released;
        if let Some(i) = k.checked_sub(self.base)
            && let Some(s) = self.entries.get_mut(i as usize)
        {
            s.released_at.get_or_insert(now);
        }
        self.released += 1;
    }

    /// Moves the soft window and makes the original sends it and the schedule allow.
    pub fn pump_originals(&mut self, now: Time) {
        self.released = self.released.max(self.base);
        while self.released < self.exported && self.in_window(self.released) {
            self.window_moved = now;
            self.release(now);
        }
        // The window yields one entry whenever the QUACK has been stuck for max_message_delay:
        // enough to never deadlock, never a flood.
        if let Some(deadline) = self.window_deadline()
            && now >= deadline
        {
            self.window_moved = now;
            self.release(now);
        }
        while self.next_original < self.released {
            let k = self.next_original;
            self.next_original += 1;
            if self.schedule.sender(StreamIndex(k)) != self.me {
                continue;
            }
            let Some(stored) = self.stored(k) else {
                continue;
            };
            let entry = stored.entry.clone();
            let to = self.schedule.receiver(StreamIndex(k));
            self.originals_sent += 1;
            self.actions.push(OutAction::Send {
                entry,
                to,
                level: 0,
            });
        }
    }

    /// When the soft window next yields, if it is holding entries back.
    pub fn window_deadline(&self) -> Option<Time> {
        if self.released >= self.exported {
            return None;
        }
        Some(self.window_moved.add(self.params.max_message_delay))
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
        self.forget_filled(j, ack);
        for k in missing {
            self.report(now, j, k);
        }
        impossible
    }

    fn report(&mut self, now: Time, j: NodeIdx, k: u64) {
        if k >= self.exported {
            return;
        }
        if k < self.quack() {
            // We may have forgotten it; tell j how far the QUACK is so it can fetch (§4.3).
            self.owe_claim.insert(j);
            return;
        }
        let spacing = self.params.dup_ack_spacing;
        // Evidence only counts once the entry has had time to arrive since the window let it go.
        let Some(released_at) = self.stored(k).and_then(|s| s.released_at) else {
            return;
        };
        if now < released_at.add(spacing) {
            return;
        }
        let rep = self.reports.entry(k).or_default();
        let tally = rep.by.entry(j).or_insert(Tally {
            count: 0,
            last: now,
        });
        if tally.count > 0 && now < tally.last.add(spacing) {
            return;
        }
        tally.count += 1;
        tally.last = now;
        let stakes = &self.remote.stakes;
        let level = quorum_value(
            rep.by
                .iter()
                .map(|(r, t)| (u64::from(t.count), stakes[r.as_usize()])),
            Stake(self.remote.r.0 + 1),
        )
        .map_or(0, |c| c.saturating_sub(1) as u32);
        rep.level = rep.level.max(level);
        // Roles held back because u_r + 1 stake then held k are looked at again on every
        // counted report: the holders may not be the ones that stay correct.
        self.fire_roles(k);
    }

    /// Receiver `j` now holds what `ack` says: forget its reports about those indices.
    fn forget_filled(&mut self, j: NodeIdx, ack: &Ack) {
        let upto = ack.highest_held().map_or(0, |h| h.0 + 1);
        for (&k, rep) in self.reports.range_mut(..upto) {
            if ack.holds(StreamIndex(k)) {
                rep.by.remove(&j);
            }
        }
        self.reports
            .retain(|_, rep| !rep.by.is_empty() || rep.level > 0);
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
        self.window_moved = now;
        while self.base < q
            && let Some(s) = self.entries.pop_front()
        {
            self.dropped_bytes = s.cum_bytes;
            self.base += 1;
        }
        self.base = self.base.max(q.min(self.exported));
        self.reports = self.reports.split_off(&q);
        self.next_original = self.next_original.max(q);
        self.pump_originals(now);
    }
}
