//! Baseline protocols (OST, ATA, LL, OTU) behind the same [`crate::protocol::Protocol`] trait,
//! for benchmarks against Picsou (the shared design folder, PROTOCOL §12).
//!
//! | protocol | rule | cross copies per entry | C3B |
//! |---|---|---|---|
//! | [`Ost`] | sender `k mod n_s` to receiver `k mod n_r`; no broadcast, no acks | 1 | no |
//! | [`Ata`] | every sender to every receiver | `n_s · n_r` | yes |
//! | [`Ll`] | leader to leader, which broadcasts | 1 | no (faulty leader) |
//! | [`Otu`] | leader to `u_r + 1` stake, each broadcasts; timeout takeovers | `u_r + 1` | yes |
//!
//! All four share one receive path (module `common`): a receiver checks the batch's kind and
//! direction (`Malformed` otherwise), refuses indices outside `[next, next + recv_window)`
//! (`OutOfWindow`), verifies each new entry's proof (`BadProof`), delivers each index at most
//! once, and reports delivered indices in the next [`crate::protocol::PersistOp`]. Entries are
//! batched per destination and flushed at `batch_bytes` or `batch_delay`. Only OTU sends acks,
//! and they advertise durably received indices only.
//!
//! Each is built with `new(setup, verifier, recovered)`.

pub mod ata;
mod common;
#[cfg(test)]
mod harness;
pub mod ll;
pub mod ost;
pub mod otu;
#[cfg(test)]
mod tests;

pub use ata::Ata;
pub use ll::Ll;
pub use ost::Ost;
pub use otu::Otu;
