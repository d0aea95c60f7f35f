//! LL, leader to leader: the local leader (node 0) sends every entry to the remote leader
//! (node 0), which verifies it, delivers it and broadcasts it to the rest of its cluster.
//!
//! One cross copy per entry. No acks and no resends, so a faulty leader on either side stops the
//! stream: LL is not C3B. Nodes that got an entry by internal broadcast do not pass it on.

use crate::baselines::common::{Core, Rules, forward_core_inputs, forward_outputs};
use crate::protocol::{Entry, EntryVerifier, Protocol, ProtocolKind, Recovered, Setup};
use crate::types::{NodeId, Time};

/// The leader's index in either cluster.
pub const LEADER: u32 = 0;

/// One relay running LL.
#[derive(Debug)]
pub struct Ll {
    core: Core,
}

impl Ll {
    /// A relay running LL, seeded from what it recovered after a restart.
    pub fn new(setup: Setup, verifier: Box<dyn EntryVerifier>, recovered: Recovered) -> Self {
        let rules = Rules {
            kind: ProtocolKind::Ll,
            broadcast: true,
            lanes: false,
            ack_to: 0,
        };
        Ll {
            core: Core::new(setup, verifier, &recovered, rules),
        }
    }
}

impl Protocol for Ll {
    forward_outputs!();
    forward_core_inputs!();

    fn handle_committed(&mut self, now: Time, entry: Entry) {
        if self.core.accept_committed(now, &entry) && self.core.me().index.0 == LEADER {
            let k = entry.k;
            let to = NodeId::new(self.core.remote().side, LEADER);
            self.core.send(now, to, entry);
            self.core.note_sent(k);
        }
        self.core.end_input();
    }
}
