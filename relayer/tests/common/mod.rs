//! Simulator helpers shared by the scenario test files: a Picsou run config with a fault spec, and
//! a run that must keep every invariant and deliver everything to every correct receiver.

use relayer::protocol::ProtocolKind;
use relayer::sim::{SimConfig, SimResult, run};

/// Picsou between two BFT clusters of `n` unit-stake relays, `k` messages per stream, `faults`
/// in the simulator's fault grammar.
pub fn picsou(n: usize, k: u64, faults: &str) -> SimConfig {
    let mut c = SimConfig::new(ProtocolKind::Picsou, n, n);
    c.messages = k;
    c.faults = faults.parse().expect("valid fault spec");
    c
}

/// Runs `c`; fails the test on any invariant violation or on a message some correct receiver
/// did not get.
pub fn run_clean(c: &SimConfig) -> SimResult {
    let r = run(c).expect("valid configuration");
    assert!(
        r.violations.is_empty(),
        "{} with {}: {:#?}",
        r.protocol,
        r.faults,
        r.violations
    );
    assert!(r.delivered_all, "{} with {}", r.protocol, r.faults);
    r
}
