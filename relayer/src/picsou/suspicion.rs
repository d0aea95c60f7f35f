//! Ack-lag suspicion: the sender's watch over the receivers whose acks stay behind the QUACK.
//!
//! No single batch proves that a receiver drops everything, acks zero forever or acks φ below
//! what it holds: an honest relay that is slow, restarting or cut off sends the same things. What
//! the sender can see is the outcome. Once the QUACK has passed `q`, `u_r + 1` stake of receivers
//! hold every index below `q`, at least one of them correct, and a correct holder broadcasts what
//! it receives to its whole cluster; so a correct receiver acks past `q` within a few message
//! delays. A receiver whose ack is still below a QUACK value `after` later (see
//! [`AckLagWatch::new`]) is *suspected*, once per QUACK value: while it stays behind, it is
//! suspected again only after the QUACK has moved and another `after` has passed, so a relay
//! that is down while the stream is idle is reported once, not over and over.
//!
//! A suspicion is not a proof (a crashed or partitioned honest relay is suspected too), which is
//! why [`crate::protocol::MisbehaviourKind::AckLag`] says so and keeps no evidence. Nothing is
//! watched until the QUACK has moved in this incarnation, so a relay that restarts while the
//! other cluster is unreachable suspects no one.

use crate::types::{NodeIdx, Time};
use std::time::Duration;

/// One receiver's watch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Watch {
    /// The QUACK it has to reach and since when, while it is behind.
    behind: Option<(u64, Time)>,
    /// The last QUACK it was suspected of not reaching (each is reported once).
    reported: Option<u64>,
}

impl Watch {
    fn already_reported(&self, target: u64) -> bool {
        self.reported.is_some_and(|r| target <= r)
    }
}

/// A receiver suspected of lagging: its index and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suspect {
    /// The remote receiver.
    pub receiver: NodeIdx,
    /// Its ack, the QUACK it failed to reach, and for how long.
    pub detail: String,
}

/// Watches every remote receiver's cumulative ack against the QUACK.
#[derive(Debug)]
pub struct AckLagWatch {
    watches: Vec<Watch>,
    after: Duration,
    /// The QUACK moved in this incarnation.
    armed: bool,
    /// Earliest time a watched receiver becomes suspect, if any is behind and not yet suspected.
    deadline: Option<Time>,
    /// Last full pass, to bound the work per ack.
    last_pass: Option<Time>,
    every: Duration,
}

impl AckLagWatch {
    /// Watches `n` receivers; one is suspected when its ack stays below a QUACK value for
    /// `after` (the caller picks a multiple of the longest message delay).
    pub fn new(n: usize, after: Duration) -> Self {
        AckLagWatch {
            watches: vec![Watch::default(); n],
            after,
            armed: false,
            deadline: None,
            last_pass: None,
            every: after / 16,
        }
    }

    /// Whether receiver `j` is suspected now: reported, and not caught up since.
    pub fn is_suspect(&self, j: usize) -> bool {
        self.watches
            .get(j)
            .is_some_and(|w| w.reported.is_some() && w.behind.is_some())
    }

    /// The QUACK advanced because of acks heard in this incarnation.
    pub fn arm(&mut self) {
        self.armed = true;
    }

    /// When [`AckLagWatch::pass`] must run next even if no ack arrives.
    pub fn deadline(&self) -> Option<Time> {
        self.deadline
    }

    /// Receiver `j` acked `next` while the QUACK is `quack`: if it caught up, its watch ends at
    /// once (so a quiet network keeps no timer for it).
    pub fn acked(&mut self, j: usize, next: u64, quack: u64) {
        let Some(w) = self.watches.get_mut(j) else {
            return;
        };
        if next < quack || w.behind.is_none() {
            return;
        }
        *w = Watch::default();
        self.deadline = self
            .watches
            .iter()
            .filter_map(|w| match w.behind {
                Some((target, since)) if !w.already_reported(target) => Some(since.add(self.after)),
                _ => None,
            })
            .min();
    }

    /// Looks at every receiver's ack (`next_of(j)`, 0 if none heard) against `quack`, and returns
    /// the receivers that just became suspect. Cheap to call on every ack: unless a deadline is
    /// due, it does a full pass at most every `after / 16`.
    pub fn pass(&mut self, now: Time, quack: u64, next_of: impl Fn(usize) -> u64) -> Vec<Suspect> {
        if !self.armed {
            return Vec::new();
        }
        let due = self.deadline.is_some_and(|d| now >= d);
        if !due && self.last_pass.is_some_and(|t| now < t.add(self.every)) {
            return Vec::new();
        }
        self.last_pass = Some(now);
        self.deadline = None;
        let mut suspects = Vec::new();
        for (j, w) in self.watches.iter_mut().enumerate() {
            let next = next_of(j);
            if next >= quack {
                *w = Watch::default();
                continue;
            }
            // Reaching the old target but not the new QUACK starts a new wait, not a suspicion;
            // so does a QUACK past the target it was already reported for.
            let (target, since) = match w.behind {
                Some((target, since)) if next < target && !w.already_reported(target) => {
                    (target, since)
                }
                Some((target, since)) if next < target && quack == target => (target, since),
                _ => (quack, now),
            };
            w.behind = Some((target, since));
            if w.already_reported(target) {
                continue;
            }
            let at = since.add(self.after);
            if now >= at {
                w.reported = Some(target);
                if quack > target {
                    w.behind = Some((quack, now));
                    let at = now.add(self.after);
                    self.deadline = Some(self.deadline.map_or(at, |d| d.min(at)));
                }
                suspects.push(Suspect {
                    receiver: NodeIdx(j as u32),
                    detail: format!(
                        "acks stay at {next}, below the QUACK {target} that {} ms ago",
                        now.since(since).as_millis()
                    ),
                });
            } else {
                self.deadline = Some(self.deadline.map_or(at, |d| d.min(at)));
            }
        }
        suspects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(1);

    fn ms(t: u64) -> Time {
        Time(t * 1_000_000)
    }

    fn suspects(w: &mut AckLagWatch, t: u64, quack: u64, nexts: &[u64]) -> Vec<u32> {
        w.pass(ms(t), quack, |j| nexts[j])
            .into_iter()
            .map(|s| s.receiver.0)
            .collect()
    }

    #[test]
    fn nothing_is_watched_before_the_quack_moves() {
        let mut w = AckLagWatch::new(3, AFTER);
        assert!(suspects(&mut w, 0, 10, &[0, 0, 0]).is_empty());
        assert!(suspects(&mut w, 5_000, 10, &[0, 0, 0]).is_empty());
        assert_eq!(w.deadline(), None);
    }

    #[test]
    fn a_receiver_stuck_below_the_quack_is_suspected_once_per_quack_value() {
        let mut w = AckLagWatch::new(3, AFTER);
        w.arm();
        assert!(suspects(&mut w, 0, 10, &[10, 12, 0]).is_empty());
        assert_eq!(w.deadline(), Some(ms(1_000)));
        w.acked(1, 9, 10);
        assert_eq!(w.deadline(), Some(ms(1_000)), "still behind");
        assert!(suspects(&mut w, 999, 10, &[10, 10, 0]).is_empty());
        assert_eq!(suspects(&mut w, 1_000, 10, &[10, 10, 0]), vec![2]);
        assert_eq!(w.deadline(), None, "nothing left to wait for");
        assert!(
            suspects(&mut w, 5_000, 10, &[10, 10, 0]).is_empty(),
            "once per QUACK"
        );
        // The QUACK moves on and it is still behind: suspected again, `after` later.
        assert!(suspects(&mut w, 6_000, 20, &[20, 20, 0]).is_empty());
        assert!(suspects(&mut w, 6_999, 20, &[20, 20, 0]).is_empty());
        assert_eq!(suspects(&mut w, 7_000, 20, &[20, 20, 0]), vec![2]);
        // Reported while the QUACK had moved past the target: the next wait starts at once.
        assert!(suspects(&mut w, 7_500, 30, &[30, 30, 0]).is_empty());
        assert_eq!(w.deadline(), Some(ms(8_500)));
        // It catches up: the watch ends; falling behind again starts a new one.
        assert!(suspects(&mut w, 8_000, 30, &[30, 30, 30]).is_empty());
        assert_eq!(w.deadline(), None);
        assert!(suspects(&mut w, 9_000, 40, &[40, 40, 30]).is_empty());
        assert_eq!(suspects(&mut w, 10_000, 40, &[40, 40, 30]), vec![2]);
    }

    #[test]
    fn a_receiver_is_a_suspect_from_its_report_until_it_catches_up() {
        let mut w = AckLagWatch::new(2, AFTER);
        w.arm();
        assert!(suspects(&mut w, 0, 10, &[10, 0]).is_empty());
        assert!(!w.is_suspect(1), "behind, but not for long yet");
        assert_eq!(suspects(&mut w, 1_000, 10, &[10, 0]), vec![1]);
        assert!(w.is_suspect(1));
        assert!(!w.is_suspect(0));
        assert!(!w.is_suspect(7), "no such receiver");
        w.acked(1, 10, 10);
        assert!(!w.is_suspect(1));
    }

    #[test]
    fn a_receiver_that_catches_up_leaves_no_deadline() {
        let mut w = AckLagWatch::new(2, AFTER);
        w.arm();
        assert!(suspects(&mut w, 0, 10, &[10, 4]).is_empty());
        assert_eq!(w.deadline(), Some(ms(1_000)));
        w.acked(1, 10, 10);
        assert_eq!(w.deadline(), None);
        assert!(suspects(&mut w, 2_000, 10, &[10, 10]).is_empty());
    }

    #[test]
    fn a_slow_receiver_that_keeps_reaching_old_quacks_is_not_suspected() {
        let mut w = AckLagWatch::new(2, AFTER);
        w.arm();
        // Always 5 behind a QUACK that moves 10 every 600 ms: each target is met in time.
        for step in 0..20u64 {
            let q = 10 * (step + 1);
            assert!(
                suspects(&mut w, 600 * step, q, &[q, q - 5]).is_empty(),
                "step {step}"
            );
        }
    }
}
