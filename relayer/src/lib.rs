//! `relayer`: the Picsou protocol core, its baselines, and the drivers that run them.
//!
//! # Layout
//!
//! - [`types`]: newtypes shared everywhere (`StreamIndex`, `NodeId`, `Stake`, `Time`).
//! - [`protocol`]: the sans-IO [`protocol::Protocol`] trait every protocol implements, and the
//!   values that cross it (entries, batches, acks, deliveries, persist ops, events).
//! - [`payload`]: entry payload bytes with their SHA-256, computed at most once.
//! - [`wire`]: sealing and opening signed batches (ed25519), pure functions.
//! - [`picsou`]: Picsou itself — schedule, QUACKs, loss detection, resend roles, §4.3 recovery.
//! - [`baselines`]: OST, ATA, LL and OTU behind the same trait.
//! - [`sim`]: the seeded discrete-event simulator that drives any protocol at paper scale.
//! - [`net`]: the libp2p transport between relays: allowlisted peers, long-lived frame streams.
//! - [`node`]: the relay node driver and the handle the RPC layer uses.
//! - [`testkit`]: a stand-in source chain whose proofs only it can make.
//!
//! # Contract
//!
//! Everything under [`picsou`], [`baselines`] and [`protocol`] reads no clock, no randomness, no
//! sockets and no files, and iterates no `HashMap`: a run is a pure function of its inputs. Peer
//! input never panics; it is refused and reported as misbehaviour.

pub mod baselines;
#[cfg(feature = "node")]
pub mod net;
/// The frame format of the libp2p transport alone (without the `node` feature).
#[cfg(not(feature = "node"))]
pub mod net {
    pub mod framing;
}
#[cfg(feature = "node")]
pub mod node;
pub mod payload;
pub mod picsou;
pub mod protocol;
pub mod sim;
pub mod testkit;
pub mod types;
pub mod wire;

use protocol::{EntryVerifier, Protocol, ProtocolKind, Recovered, Setup};

/// Builds one relay's protocol instance of the given kind.
pub fn build(
    kind: ProtocolKind,
    setup: Setup,
    verifier: Box<dyn EntryVerifier>,
    recovered: Recovered,
) -> Box<dyn Protocol> {
    match kind {
        ProtocolKind::Picsou => Box::new(picsou::Picsou::new(setup, verifier, recovered)),
        ProtocolKind::Ost => Box::new(baselines::Ost::new(setup, verifier, recovered)),
        ProtocolKind::Ata => Box::new(baselines::Ata::new(setup, verifier, recovered)),
        ProtocolKind::Ll => Box::new(baselines::Ll::new(setup, verifier, recovered)),
        ProtocolKind::Otu => Box::new(baselines::Otu::new(setup, verifier, recovered)),
    }
}
