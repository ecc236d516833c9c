//! Fuzz target: see `bundle_agent::fuzz_checks::bundle_decoder`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bundle_agent::fuzz_checks::bundle_decoder(data));
