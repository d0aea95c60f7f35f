//! Fuzz target `chain_codec`: chain data from a validator or a peer (see `picsou_relay_fuzz::chain`).
//! Panics only when a property of the code under test breaks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| picsou_relay_fuzz::chain::check(data));
