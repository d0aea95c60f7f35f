//! Fuzz target `rpc_params`: JSON-RPC parameters (see `picsou_relay_fuzz::params`).
//! Panics only when a property of the code under test breaks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| picsou_relay_fuzz::params::check(data));
