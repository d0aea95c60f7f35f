//! Loopback TCP ports for the processes of a devnet (and of tests that start relays).
//!
//! A port found by binding `127.0.0.1:0` comes from the OS's ephemeral range and must be released
//! before the process that will use it binds it. Meanwhile any outgoing connection on the machine
//! (whose source port comes from that same range) or a concurrent run can take it, and the relay
//! given that port fails to start ("cannot listen"): a clean-clone CI run lost a devnet test that
//! way, and two devnets started side by side reproduced it. So ports come from below the
//! ephemeral range, which outgoing connections never use. Each process starts probing at an
//! offset derived from its id, and successive calls in one process continue where the last one
//! stopped, so concurrent runs (and concurrent tests of one process) probe different ports.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

/// Lowest port handed out.
const LOWEST: u16 = 10_000;
/// Where ephemeral ports start when the OS does not say (Linux's default).
const EPHEMERAL_DEFAULT: u16 = 32_768;
/// Probes made by this process so far (the next probe's offset).
static PROBED: AtomicU32 = AtomicU32::new(0);

/// `n` distinct loopback ports that were free a moment ago, below the ephemeral range when it
/// leaves room (else from the OS, as `bind(0)` does). All are held bound until every one is
/// chosen.
pub fn free_loopback_ports(n: usize) -> io::Result<Vec<u16>> {
    let high = ephemeral_low();
    if high <= LOWEST {
        return held_ports((0..n).map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0))));
    }
    let span = u32::from(high - LOWEST);
    let base = std::process::id().wrapping_mul(7919);
    let mut held = Vec::with_capacity(n);
    for _ in 0..span {
        if held.len() == n {
            break;
        }
        let offset = base.wrapping_add(PROBED.fetch_add(1, Ordering::Relaxed)) % span;
        // `offset < span ≤ u16::MAX`, so the sum stays below `high`.
        let port = LOWEST + offset as u16;
        if let Ok(l) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            held.push(l);
        }
    }
    if held.len() < n {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!(
                "only {} of {n} loopback ports between {LOWEST} and {high} are free",
                held.len()
            ),
        ));
    }
    held_ports(held.into_iter().map(Ok))
}

fn held_ports(held: impl Iterator<Item = io::Result<TcpListener>>) -> io::Result<Vec<u16>> {
    let held = held.collect::<io::Result<Vec<_>>>()?;
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// First port of the ephemeral range (Linux: `ip_local_port_range`).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(EPHEMERAL_DEFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let high = ephemeral_low();
        let first = free_loopback_ports(40).unwrap();
        let second = free_loopback_ports(40).unwrap();
        let all: BTreeSet<u16> = first.iter().chain(&second).copied().collect();
        assert_eq!(
            all.len(),
            80,
            "two calls never share a port: {first:?} {second:?}"
        );
        for &p in &all {
            if high > LOWEST {
                assert!((LOWEST..high).contains(&p), "{p} outside {LOWEST}..{high}");
            }
            TcpListener::bind((Ipv4Addr::LOCALHOST, p)).unwrap();
        }
    }
}
