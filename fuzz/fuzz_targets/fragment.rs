//! Fuzz target: see `bundle_agent::fuzz_checks::fragment_round_trip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bundle_agent::fuzz_checks::fragment_round_trip(data));
