//! Random scenarios for seed sweeps: one seed picks a whole [`SimConfig`] — cluster sizes (4 to
//! 10 per side, usually unequal), stakes (unit, or 1 to 4 each), BFT or CFT bounds, a mix of
//! faults within those bounds (crashes from the start or mid-run, crash-restarts, omission of
//! internal broadcasts, every Byzantine kind), their placement, the message count and size, and
//! sometimes a lossy or partitioned network. The same seed always gives the same scenario, so
//! `picsou-relay sim --mix random --seed S` replays the one a sweep found broken.
//!
//! Only scenarios the protocol promises to survive are drawn: the faulty stake of a cluster is
//! at most its `u`, the Byzantine stake at most its `r` (the simulator's own check,
//! [`SimConfig::validate`], decides; a draw that fails it loses faults until it passes).

use super::faults::{FaultItem, FaultKind, FaultSpec, Placement};
use super::net::{NetConfig, Partition};
use super::{Directions, SimConfig};
use crate::protocol::{ClusterConfig, ProtocolKind};
use crate::types::{Side, Stake};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// The names `--mix` accepts.
pub const MIXES: [&str; 1] = ["random"];

/// The scenario of `seed` for `protocol` (the run's own seed is `seed` too).
pub fn random(protocol: ProtocolKind, seed: u64) -> SimConfig {
    // A stream of its own, so that the scenario and the run's randomness are unrelated.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d69_785f_7363_656e);
    let (n_a, n_b) = (rng.random_range(4..=10), rng.random_range(4..=10));
    let cft = rng.random_ratio(1, 5);
    let unit = rng.random_bool(0.5);
    let mut cfg = SimConfig::new(protocol, n_a, n_b);
    cfg.cluster_a = cluster(&mut rng, Side::A, n_a, cft, unit);
    cfg.cluster_b = cluster(&mut rng, Side::B, n_b, cft, unit);
    cfg.seed = seed;
    cfg.messages = rng.random_range(200..=800);
    cfg.size = if rng.random_ratio(1, 4) { 10_000 } else { 100 };
    cfg.placement =
        [Placement::Consecutive, Placement::Spread, Placement::Last][rng.random_range(0..3)];
    cfg.directions = if rng.random_ratio(1, 8) {
        [Directions::AToB, Directions::BToA][rng.random_range(0..2)]
    } else {
        Directions::Both
    };
    if rng.random_ratio(1, 6) {
        cfg.net = NetConfig::lan();
        cfg.net.loss = [0.001, 0.01, 0.05][rng.random_range(0..3)];
    }
    if rng.random_ratio(1, 6) {
        let from = rng.random_range(0..20u64);
        let len = rng.random_range(5..100u64);
        let cut = match rng.random_range(0..3) {
            0 => "cross".to_owned(),
            1 => format!("A{}", rng.random_range(0..n_a)),
            _ => format!(
                "A{}-B{}",
                rng.random_range(0..n_a),
                rng.random_range(0..n_b)
            ),
        };
        if let Ok(p) = format!("{cut}@{from}ms-{}ms", from + len).parse::<Partition>() {
            cfg.net.partitions.push(p);
        }
    }
    cfg.faults = faults(&mut rng, cft);
    // Drop faults (last drawn first) until the spec fits both clusters' bounds.
    while cfg.validate().is_err() && !cfg.faults.items.is_empty() {
        let last = cfg.faults.items.len() - 1;
        if cfg.faults.items[last].count > 1 {
            cfg.faults.items[last].count -= 1;
        } else {
            cfg.faults.items.pop();
        }
    }
    cfg
}

/// Scenario by mix name (see [`MIXES`]).
pub fn by_name(name: &str, protocol: ProtocolKind, seed: u64) -> Result<SimConfig, String> {
    match name {
        "random" => Ok(random(protocol, seed)),
        other => Err(format!(
            "unknown mix {other:?} (expected one of {})",
            MIXES.join(", ")
        )),
    }
}

fn cluster(rng: &mut ChaCha8Rng, side: Side, n: usize, cft: bool, unit: bool) -> ClusterConfig {
    let stakes: Vec<Stake> = (0..n)
        .map(|_| Stake(if unit { 1 } else { rng.random_range(1..=4) }))
        .collect();
    ClusterConfig::with_stakes(side, stakes, cft)
}

fn faults(rng: &mut ChaCha8Rng, cft: bool) -> FaultSpec {
    let kinds: Vec<FaultKind> = FaultKind::ALL
        .into_iter()
        .filter(|k| !(cft && k.is_byzantine()))
        .collect();
    let mut items = Vec::new();
    for _ in 0..rng.random_range(0..=3) {
        let kind = kinds[rng.random_range(0..kinds.len())];
        let ms = |rng: &mut ChaCha8Rng, lo: u64, hi: u64| {
            Duration::from_millis(rng.random_range(lo..hi))
        };
        let (at, until) = match kind {
            FaultKind::Restart => {
                let t1 = ms(rng, 1, 40);
                (Some(t1), Some(t1 + ms(rng, 5, 100)))
            }
            _ if rng.random_bool(0.3) => (Some(ms(rng, 1, 40)), None),
            _ => (None, None),
        };
        let side = match rng.random_range(0..4) {
            0 => Some(Side::A),
            1 => Some(Side::B),
            _ => None,
        };
        items.push(FaultItem {
            kind,
            count: rng.random_range(1..=2),
            at,
            until,
            side,
        });
    }
    FaultSpec { items }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_gives_the_same_scenario_and_every_scenario_is_valid() {
        for seed in 0..300 {
            let a = random(ProtocolKind::Picsou, seed);
            let b = random(ProtocolKind::Picsou, seed);
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "seed {seed}");
            assert!(a.validate().is_ok(), "seed {seed}: {:?}", a.validate());
        }
    }

    #[test]
    fn the_scenarios_cover_what_the_sweep_promises() {
        let all: Vec<SimConfig> = (0..300).map(|s| random(ProtocolKind::Picsou, s)).collect();
        let unequal = all.iter().filter(|c| c.cluster_a.n() != c.cluster_b.n());
        assert!(unequal.count() > 150, "mostly unequal cluster sizes");
        assert!(
            all.iter()
                .any(|c| c.cluster_a.stakes.iter().any(|s| s.0 > 1)),
            "weighted stakes"
        );
        assert!(all.iter().any(|c| c.cluster_a.r.0 == 0), "CFT clusters");
        for kind in FaultKind::ALL {
            assert!(
                all.iter()
                    .any(|c| c.faults.items.iter().any(|i| i.kind == kind && i.count > 0)),
                "{} is drawn",
                kind.name()
            );
        }
        assert!(all.iter().any(|c| c.net.loss > 0.0), "lossy networks");
        assert!(
            all.iter().any(|c| !c.net.partitions.is_empty()),
            "partitions"
        );
        assert!(all.iter().any(|c| c.faults.is_empty()), "failure-free runs");
    }
}
