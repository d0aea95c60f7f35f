//! The delay-based byte limit of the soft window: how many bytes of released, unconfirmed
//! entries a relay lets its cluster's stream have in flight.
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
//! Everything here is a function of the `now` values and confirmations handed in: no clock.

use crate::protocol::Params;
use crate::types::Time;
use std::time::Duration;

/// Batches each sender of the cluster may have in flight before the path is measured.
const INITIAL_BATCHES: u64 = 10;

/// Shortest interval a rate sample is taken over (it is normally one `min_rtt`).
const MIN_INTERVAL_NS: u64 = 100_000;

/// The byte limit's state.
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
}

impl Pacing {
    /// The limit for `params` in a cluster of `senders` relays.
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
        }
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
}
