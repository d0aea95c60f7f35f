//! Fuzzing the relay's input boundaries: everything a peer relay, a chain validator or a
//! JSON-RPC client can hand it, decoded by the project's own decoders.
//!
//! Each target's whole check lives here as a plain function of the input bytes, so the same
//! code runs under libFuzzer (`fuzz_targets/`, `cargo fuzz run <target>`) and as an ordinary
//! test over the seed corpus (`cargo test` in this directory):
//!
//! | target | function | what |
//! |---|---|---|
//! | `wire_open` | [`wire::check`] | a frame stream as a peer sends it: frame decoder, signed batch decoder |
//! | `chain_codec` | [`chain::check`] | the chain encodings, export proofs and entries, block views |
//! | `rpc_params` | [`params::check`] | the JSON-RPC parameter parser of both servers |
//!
//! Contract: a check panics if and only if a property of the code under test is broken (a
//! panic inside the decoders, a non-canonical encoding, a round trip that changes a value, an
//! error of the wrong kind); any input that the code refuses correctly returns quietly.
//! [`seeds::seeds`] generates the seed corpus under `corpus/<target>/` from real encoded values.

pub mod chain;
pub mod params;
pub mod seeds;
pub mod wire;
