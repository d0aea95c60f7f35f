//! Who dials whom, and when: a pure state machine driven by the swarm task.
//!
//! Only the relay with the smaller [`NodeId`] dials (so a pair never races two connections);
//! it retries a peer that is down with exponential backoff (100 ms doubling to 5 s), forever,
//! and resets the backoff once a connection is established.

use super::peers::Backoff;
use crate::types::NodeId;
use libp2p::swarm::ConnectionId;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DialState {
    /// Dial at this instant.
    Waiting(Instant),
    /// Our dial with this connection id is in flight.
    Dialing(ConnectionId),
    /// Connected (whoever dialed).
    Connected,
}

#[derive(Debug)]
struct Target {
    state: DialState,
    backoff: Backoff,
}

/// Dial schedule for the peers this relay is responsible for dialing.
#[derive(Debug)]
pub(crate) struct Dialer {
    targets: BTreeMap<NodeId, Target>,
}

impl Dialer {
    /// Schedules an immediate dial to every peer in `peers` above `me`.
    pub(crate) fn new(me: NodeId, peers: impl IntoIterator<Item = NodeId>, now: Instant) -> Self {
        let targets = peers
            .into_iter()
            .filter(|p| me < *p)
            .map(|p| {
                let target = Target {
                    state: DialState::Waiting(now),
                    backoff: Backoff::new(BACKOFF_MIN, BACKOFF_MAX),
                };
                (p, target)
            })
            .collect();
        Dialer { targets }
    }

    /// The earliest scheduled dial.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.targets
            .values()
            .filter_map(|t| match t.state {
                DialState::Waiting(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// Peers whose dial is due at `now`.
    pub(crate) fn due(&self, now: Instant) -> Vec<NodeId> {
        self.targets
            .iter()
            .filter(|(_, t)| matches!(t.state, DialState::Waiting(at) if at <= now))
            .map(|(n, _)| *n)
            .collect()
    }

    /// A dial to `node` was started.
    pub(crate) fn dialing(&mut self, node: NodeId, conn: ConnectionId) {
        if let Some(t) = self.targets.get_mut(&node) {
            t.state = DialState::Dialing(conn);
        }
    }

    /// A dial failed. `conn` is the failed connection, `None` when the dial could not even start.
    /// Ignored unless it is our in-flight dial (or a dial we just tried to start).
    pub(crate) fn failed(&mut self, node: NodeId, conn: Option<ConnectionId>, now: Instant) {
        if let Some(t) = self.targets.get_mut(&node) {
            let ours = match (t.state, conn) {
                (DialState::Dialing(c), Some(failed)) => c == failed,
                (DialState::Waiting(_), None) => true,
                _ => false,
            };
            if ours {
                t.state = DialState::Waiting(now + t.backoff.next_delay());
            }
        }
    }

    /// `node` has a connection: stop dialing it, reset its backoff.
    pub(crate) fn connected(&mut self, node: NodeId) {
        if let Some(t) = self.targets.get_mut(&node) {
            t.state = DialState::Connected;
            t.backoff.reset();
        }
    }

    /// `node` lost its last connection: dial again after the (reset or grown) backoff.
    pub(crate) fn disconnected(&mut self, node: NodeId, now: Instant) {
        if let Some(t) = self.targets.get_mut(&node)
            && t.state == DialState::Connected
        {
            t.state = DialState::Waiting(now + t.backoff.next_delay());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Side;

    #[test]
    fn only_smaller_node_dials_and_backoff_grows_then_resets() {
        let a0 = NodeId::new(Side::A, 0);
        let a1 = NodeId::new(Side::A, 1);
        let b0 = NodeId::new(Side::B, 0);
        let now = Instant::now();
        let mut d = Dialer::new(a1, [a0, b0], now);
        assert_eq!(d.due(now), vec![b0]);

        let mut delays = Vec::new();
        let mut t = now;
        for _ in 0..8 {
            let conn = ConnectionId::new_unchecked(delays.len());
            d.dialing(b0, conn);
            assert_eq!(d.next_deadline(), None);
            // A failure of some other connection (not ours) is ignored.
            d.failed(b0, Some(ConnectionId::new_unchecked(9999)), t);
            assert_eq!(d.next_deadline(), None);
            d.failed(b0, Some(conn), t);
            let next = d.next_deadline().unwrap();
            delays.push((next - t).as_millis());
            t = next;
        }
        assert_eq!(delays, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);

        d.connected(b0);
        assert_eq!(d.next_deadline(), None);
        d.disconnected(b0, t);
        assert_eq!((d.next_deadline().unwrap() - t).as_millis(), 100);
    }
}
