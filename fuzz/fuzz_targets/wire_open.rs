//! Fuzz target `wire_open`: a frame stream from a peer relay (see `picsou_relay_fuzz::wire`).
//! Panics only when a property of the code under test breaks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| picsou_relay_fuzz::wire::check(data));
