//! ATA, all-to-all: every sender sends every entry to every receiver.
//!
//! `n_s · n_r` cross copies per entry and no internal broadcast: every correct receiver gets each
//! entry straight from every correct sender, so C3B holds without acks, timers or resends. A
//! receiver delivers the first valid copy and drops the others unverified (they change nothing).

use crate::baselines::common::{Core, Rules, forward_core_inputs, forward_outputs};
use crate::protocol::{Entry, EntryVerifier, Protocol, ProtocolKind, Recovered, Setup};
use crate::types::{NodeId, Time};

/// One relay running ATA.
#[derive(Debug)]
pub struct Ata {
    core: Core,
}

impl Ata {
    /// A relay running ATA, seeded from what it recovered after a restart.
    pub fn new(setup: Setup, verifier: Box<dyn EntryVerifier>, recovered: Recovered) -> Self {
        let rules = Rules {
            kind: ProtocolKind::Ata,
            broadcast: false,
            lanes: false,
            ack_to: 0,
        };
        Ata {
            core: Core::new(setup, verifier, &recovered, rules),
        }
    }
}

impl Protocol for Ata {
    forward_outputs!();
    forward_core_inputs!();

    fn handle_committed(&mut self, now: Time, entry: Entry) {
        if self.core.accept_committed(now, &entry) {
            let k = entry.k;
            let remote = self.core.remote().side;
            for i in 0..self.core.remote().n() as u32 {
                self.core.send(now, NodeId::new(remote, i), entry.clone());
            }
            self.core.note_sent(k);
        }
        self.core.end_input();
    }
}
