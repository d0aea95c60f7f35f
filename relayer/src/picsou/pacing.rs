//! The delay-based limits of the soft window: how many bytes, and how many entries, of
//! released, unconfirmed entries a relay lets its cluster's stream have in flight.
//!
//! # The byte limit
//!
//! A fixed limit (`send_window_bytes`) is right only for one bandwidth. When the path is slower
//! than the limit allows (relays sharing cores, a slow link), everything past what the path
//! carries waits in queues: a 64 MB limit over a path that confirms 50 MB/s is 1.3 s of queue,
//! past `max_message_delay`. Receivers then report entries that are merely queued behind others
//! as missing, the resends add load to the path that is already full, and throughput collapses.
//!
//! So the limit follows what the path carries, as a delay-based congestion window does
//! (TCP Vegas, BBR): `rate · (min_rtt + target)`, where `rate` is the stream's confirmed bytes
//! per second (a decaying maximum of samples taken over intervals of about one round trip),
//! `min_rtt` the least confirmation time seen (the path without queues), and `target =
//! max_message_delay / 4` the queueing allowed on top. In-flight bytes divided by the rate is
//! the time an entry waits, so queues stay near `target`, well under `max_message_delay`, and
//! confirmation times (which space loss reports) stay honest. The limit never rises above
//! `send_window_bytes`, and never drops below ten batches per relay of the cluster (`10 ·
//! batch_bytes · n`): the window is the cluster's, each relay sends about `1/n` of it, so this
//! is TCP's initial window of ten segments (RFC 6928) per sender. Until the first rate sample
//! the limit is that floor, so the first round trip cannot flood the path before it is
//! measured. Measured choices:
//! - starting at `send_window_bytes` instead flooded the bench's first second (about 100
//!   resends per run at n = 4, 1 MB);
//! - a floor of ten batches for the whole cluster instead of per relay slowed the simulator's
//!   short bursts (n = 19, 50 000 × 100 B: 9% of the model limit instead of 91%);
//! - a floor of two batches starved streams whose first entries went to a relay that never
//!   passes them on: nothing was confirmed, so no rate was measured, and the window stayed too
//!   small to find out.
//!
//! # The entry-count limit
//!
//! Small entries cost per entry, not per byte: each receiver checks one certificate per entry
//! it accepts. The byte floor's ten batches per sender are 80 000 entries of 100 B at n = 4,
//! and where relays share cores (`picsou-relay bench`) the path confirms about 5 000 of them
//! per second: 16 s of queue. Receivers reported queued entries as missing, and runs resent
//! hundreds of thousands of entries. So the window also limits the number of entries,
//! steered by the confirmation time itself rather than by a rate: once per round (one smoothed
//! confirmation time, `srtt`), the limit is scaled by `delay_target / srtt`, at most halved and
//! at most multiplied by [`MAX_GROWTH`], where `delay_target = max(max_message_delay / 2,
//! min_rtt + max_message_delay / 4)` (the second term for paths whose round trip alone comes
//! near the bound). Where confirmation time grows with the queue (a busy CPU), this holds it
//! near the target, well inside the report spacing's `max_message_delay`; where the path is
//! idle, the limit grows fast. It grows only if the round used at least half of it (a stream
//! with little to send says nothing about the path), starts at [`INITIAL_ENTRIES`] per sender,
//! is first adjusted at the first confirmation, and stays between [`MIN_ENTRIES`] per sender
//! and `send_window`. Measured choices (bench at n = 4, 100 B, and the simulator's LAN):
//! - a rate-based count (`rate · (min_rtt + target)`, as for bytes) read its rate from
//!   bunched confirmations: a delivery-rate sample taken as a QUACK passed thousands of entries
//!   at once read 260 000 entries/s against about 5 000 delivered, the limit jumped to 149 443
//!   entries and confirmation times passed 5 s;
//! - a start of 160 entries per *link* (2 560 at n = 4) with `2 · min_rtt` as the second
//!   target term: the first window queued 0.53 s before its first confirmation, so `min_rtt`
//!   read 0.53 s for the rest of the run, confirmation times stayed at 1–2 s, relays were found
//!   silent, and seven runs resent 0 to 4 680 entries; as here (per sender, `min_rtt +
//!   max_message_delay / 4`), none in three;
//! - a start of 160 per sender slows the simulator's shortest bursts (50 000 × 100 B at
//!   n = 19, 1.3 ms at the model limit: 21% of the limit instead of 93%); at 200 000 entries,
//!   86% instead of 88%.
//!
//! Everything here is a function of the `now` values and confirmations handed in: no clock.

use crate::protocol::Params;
use crate::types::Time;
use std::time::Duration;

/// Batches each sender of the cluster may have in flight before the path is measured.
const INITIAL_BATCHES: u64 = 10;

/// Shortest interval a rate sample is taken over (it is normally one `min_rtt`).
const MIN_INTERVAL_NS: u64 = 100_000;

/// Entries each sender of the cluster may have in flight before the path is measured.
const INITIAL_ENTRIES: u64 = 160;
/// The least the entry-count limit falls to, per sender of the cluster.
const MIN_ENTRIES: u64 = 16;
/// Most the entry-count limit grows by in one round (with a start of 160 per link instead of per
/// sender, 32 gave the simulator's 50 000-entry bursts at n = 4 less throughput than 8: 64% of
/// the model limit against 81%).
const MAX_GROWTH: u64 = 8;

/// The limits' state.
#[derive(Clone, Debug)]
pub struct Pacing {
    floor: u64,
    cap: u64,
    target_ns: u64,
    /// Least confirmation time sampled, in nanoseconds.
    min_rtt_ns: Option<u64>,
    /// Decaying maximum of confirmed bytes per second.
    rate: Option<u64>,
    /// Bytes confirmed so far, and where the current rate interval started.
    confirmed: u64,
    mark: Option<(Time, u64)>,
    /// The entry-count limit, its least and greatest values, and the current round (when it
    /// started, and the most entries in flight seen during it; `None` before the first
    /// confirmation).
    entries: u64,
    entries_min: u64,
    entries_cap: u64,
    round: Option<(Time, u64)>,
}

impl Pacing {
    /// The limits for `params` in a cluster of `senders` relays.
    pub fn new(params: &Params, senders: usize) -> Self {
        let cap = params.send_window_bytes as u64;
        Pacing {
            floor: (INITIAL_BATCHES * params.batch_bytes as u64)
                .saturating_mul(senders.max(1) as u64)
                .min(cap),
            cap,
            target_ns: nanos(params.max_message_delay / 4),
            min_rtt_ns: None,
            rate: None,
            confirmed: 0,
            mark: None,
            entries: (INITIAL_ENTRIES * senders.max(1) as u64).min(params.send_window),
            entries_min: (MIN_ENTRIES * senders.max(1) as u64).min(params.send_window),
            entries_cap: params.send_window,
            round: None,
        }
    }

    /// Steers the entry-count limit after a sampled confirmation at `now` (see the module doc):
    /// `srtt` is the smoothed confirmation time, `open` the released, unconfirmed entries now.
    pub fn steer_entries(&mut self, now: Time, srtt: Duration, open: u64) {
        let srtt = nanos(srtt).max(1);
        // The first confirmation ends the first round: the limit was a guess until then.
        let (start, used) = self.round.unwrap_or((now, self.entries));
        let used = used.max(open);
        if self.round.is_some() && nanos(now.since(start)) < srtt {
            self.round = Some((start, used));
            return;
        }
        // `max(max_message_delay / 2, min_rtt + max_message_delay / 4)`.
        let target = self
            .target_ns
            .saturating_mul(2)
            .max(self.min_rtt_ns.unwrap_or(0).saturating_add(self.target_ns));
        // No overflow: `entries` ≤ `send_window` and `target` fit in 64 bits each.
        let scaled = u128::from(self.entries) * u128::from(target) / u128::from(srtt);
        let scaled = u64::try_from(scaled)
            .unwrap_or(u64::MAX)
            .clamp(self.entries / 2, self.entries.saturating_mul(MAX_GROWTH));
        if scaled < self.entries || used >= self.entries / 2 {
            self.entries = scaled.clamp(self.entries_min, self.entries_cap);
        }
        self.round = Some((now, open));
    }

    /// Most released, unconfirmed entries the window lets be in flight (by count).
    pub fn window_entries(&self) -> u64 {
        self.entries
    }

    /// One confirmation time of an entry (Karn's rule applies: the caller samples only entries
    /// nobody reported missing).
    pub fn rtt_sample(&mut self, r: Duration) {
        let r = nanos(r);
        self.min_rtt_ns = Some(self.min_rtt_ns.map_or(r, |m| m.min(r)));
    }

    /// `bytes` of the stream were confirmed at `now`.
    pub fn confirmed(&mut self, now: Time, bytes: u64) {
        self.confirmed += bytes;
        let Some((start, at_start)) = self.mark else {
            self.mark = Some((now, self.confirmed));
            return;
        };
        let interval = self.min_rtt_ns.unwrap_or(0).max(MIN_INTERVAL_NS);
        let elapsed = nanos(now.since(start));
        if elapsed < interval {
            return;
        }
        let sample = u64::try_from(
            u128::from(self.confirmed - at_start) * 1_000_000_000 / u128::from(elapsed),
        )
        .unwrap_or(u64::MAX);
        // A sample below the current rate may only mean the stream had less to send: the rate
        // decays by an eighth per interval instead of following it down at once.
        self.rate = Some(self.rate.map_or(sample, |r| sample.max(r - r / 8)));
        self.mark = Some((now, self.confirmed));
    }

    /// The least confirmation time sampled (zero before the first).
    pub fn min_rtt(&self) -> Duration {
        Duration::from_nanos(self.min_rtt_ns.unwrap_or(0))
    }

    /// How long `bytes` in flight take to be confirmed at the measured rate, on top of the
    /// least confirmation time (0 before the first rate sample).
    pub fn drain_ns(&self, bytes: u64) -> u64 {
        let Some(rate) = self.rate.filter(|&r| r > 0) else {
            return 0;
        };
        let queue = u128::from(bytes) * 1_000_000_000 / u128::from(rate);
        u64::try_from(queue)
            .unwrap_or(u64::MAX)
            .saturating_add(self.min_rtt_ns.unwrap_or(0))
    }

    /// Most bytes of released, unconfirmed entries the window lets be in flight.
    pub fn window_bytes(&self) -> u64 {
        let Some(rate) = self.rate else {
            return self.floor;
        };
        let delay = u128::from(self.min_rtt_ns.unwrap_or(0) + self.target_ns);
        let bytes = u128::from(rate) * delay / 1_000_000_000;
        u64::try_from(bytes)
            .unwrap_or(u64::MAX)
            .clamp(self.floor, self.cap)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            batch_bytes: 100_000,
            send_window_bytes: 64_000_000,
            max_message_delay: Duration::from_millis(200),
            ..Params::default()
        }
    }

    fn at(ms: u64) -> Time {
        Time::ZERO.add(Duration::from_millis(ms))
    }

    #[test]
    fn starts_at_ten_batches_per_sender_until_a_rate_is_measured() {
        let mut p = Pacing::new(&params(), 1);
        assert_eq!(p.window_bytes(), 1_000_000);
        p.rtt_sample(Duration::from_millis(10));
        p.confirmed(at(0), 1_000_000);
        assert_eq!(p.window_bytes(), 1_000_000, "one confirmation is no rate");
        assert_eq!(Pacing::new(&params(), 4).window_bytes(), 4_000_000);
        // Never above the cap, however large the cluster.
        assert_eq!(Pacing::new(&params(), 100).window_bytes(), 64_000_000);
    }

    #[test]
    fn window_is_rate_times_min_rtt_plus_a_quarter_of_the_delay_bound() {
        let mut p = Pacing::new(&params(), 1);
        p.rtt_sample(Duration::from_millis(30));
        p.rtt_sample(Duration::from_millis(10));
        p.confirmed(at(0), 0);
        // 5 MB over 100 ms = 50 MB/s; window = 50 MB/s · (10 + 50) ms = 3 MB.
        p.confirmed(at(100), 5_000_000);
        assert_eq!(p.window_bytes(), 3_000_000);
    }

    #[test]
    fn a_slower_interval_lowers_the_rate_by_an_eighth_only() {
        let mut p = Pacing::new(&params(), 1);
        p.rtt_sample(Duration::from_millis(10));
        p.confirmed(at(0), 0);
        p.confirmed(at(100), 8_000_000); // 80 MB/s
        p.confirmed(at(200), 0); // idle interval
        // 70 MB/s · 60 ms.
        assert_eq!(p.window_bytes(), 4_200_000);
        p.confirmed(at(300), 10_000_000); // 100 MB/s
        assert_eq!(p.window_bytes(), 6_000_000);
    }

    #[test]
    fn drain_time_is_the_bytes_in_flight_over_the_rate_plus_the_least_rtt() {
        let mut p = Pacing::new(&params(), 1);
        assert_eq!(
            p.drain_ns(5_000_000),
            0,
            "nothing is known before a rate sample"
        );
        p.rtt_sample(Duration::from_millis(10));
        p.confirmed(at(0), 0);
        p.confirmed(at(100), 5_000_000); // 50 MB/s
        // 5 MB at 50 MB/s is 100 ms, on top of the 10 ms path.
        assert_eq!(p.drain_ns(5_000_000), 110_000_000);
        assert_eq!(p.drain_ns(0), 10_000_000);
    }

    #[test]
    fn window_stays_between_floor_and_cap() {
        let mut p = Pacing::new(&params(), 1);
        p.rtt_sample(Duration::from_millis(1));
        p.confirmed(at(0), 0);
        p.confirmed(at(100), 1_000); // 10 kB/s
        assert_eq!(p.window_bytes(), 1_000_000);
        p.confirmed(at(200), 100_000_000_000); // 1 TB/s
        assert_eq!(p.window_bytes(), 64_000_000);
    }

    #[test]
    fn samples_shorter_than_an_interval_are_pooled() {
        let mut p = Pacing::new(&params(), 1);
        p.rtt_sample(Duration::from_millis(20));
        p.confirmed(at(0), 0);
        p.confirmed(at(5), 1_000_000);
        p.confirmed(at(10), 1_000_000);
        assert_eq!(p.window_bytes(), 1_000_000, "10 ms < the 20 ms interval");
        p.confirmed(at(20), 0);
        // 2 MB over 20 ms = 100 MB/s; window = 100 MB/s · 70 ms.
        assert_eq!(p.window_bytes(), 7_000_000);
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    // `params()`: max_message_delay 200 ms, so the delay target is 100 ms unless `min_rtt` +
    // 50 ms is more; send_window is the default 2^19.

    #[test]
    fn entry_limit_starts_per_sender_and_moves_at_the_first_confirmation() {
        let mut p = Pacing::new(&params(), 4);
        assert_eq!(p.window_entries(), 640);
        // An idle path: confirmed in 10 ms, a tenth of the target. Growth is capped at 8×.
        p.rtt_sample(ms(10));
        p.steer_entries(at(10), ms(10), 640);
        assert_eq!(p.window_entries(), 5_120);
    }

    #[test]
    fn entry_limit_is_scaled_once_per_round_toward_the_delay_target() {
        let mut p = Pacing::new(&params(), 1);
        p.rtt_sample(ms(40));
        p.steer_entries(at(0), ms(80), 160); // 160 · 100 / 80
        assert_eq!(p.window_entries(), 200);
        // A round lasts one srtt: 200 ms now, so nothing moves at 150 ms.
        p.steer_entries(at(150), ms(200), 200);
        assert_eq!(p.window_entries(), 200);
        // Next round: confirmation takes 200 ms, twice the target, so the limit halves.
        p.steer_entries(at(200), ms(200), 200);
        assert_eq!(p.window_entries(), 100);
        // 1 s is ten times the target, but one round at most halves it.
        p.steer_entries(at(1200), ms(1000), 100);
        assert_eq!(p.window_entries(), 50);
    }

    #[test]
    fn entry_limit_grows_only_when_the_round_used_half_of_it() {
        let mut p = Pacing::new(&params(), 1);
        p.rtt_sample(ms(10));
        // The first round counts as used: the starting limit is a guess.
        p.steer_entries(at(0), ms(50), 100);
        assert_eq!(p.window_entries(), 320);
        // A round in which at most 100 of 320 were in flight: the stream had little to send.
        p.steer_entries(at(20), ms(50), 90);
        p.steer_entries(at(60), ms(50), 90);
        assert_eq!(p.window_entries(), 320, "not grown by an idle round");
        // It still shrinks when confirmation is slow, used or not.
        p.steer_entries(at(200), ms(150), 10);
        p.steer_entries(at(400), ms(150), 10);
        assert_eq!(p.window_entries(), 213);
    }

    #[test]
    fn entry_limit_targets_min_rtt_plus_a_quarter_of_the_bound_on_long_paths() {
        let mut p = Pacing::new(&params(), 1);
        // A 150 ms path: the target is 150 + 50 = 200 ms, not 100.
        p.rtt_sample(ms(150));
        p.steer_entries(at(0), ms(200), 160);
        assert_eq!(p.window_entries(), 160);
        p.steer_entries(at(250), ms(100), 160);
        assert_eq!(p.window_entries(), 320);
    }

    #[test]
    fn entry_limit_stays_between_its_floor_and_send_window() {
        let mut p = Pacing::new(&params(), 2);
        p.rtt_sample(ms(1));
        for i in 0..10 {
            p.steer_entries(at(i * 1000), ms(1000), 1 << 20);
        }
        assert_eq!(p.window_entries(), 32, "16 per sender");
        for i in 0..10 {
            p.steer_entries(at(20_000 + i * 10), ms(1), 1 << 20);
        }
        assert_eq!(p.window_entries(), 1 << 19);
    }
}
