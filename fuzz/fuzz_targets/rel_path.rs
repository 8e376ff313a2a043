#![no_main]
//! Fuzz target `rel_path`: the property is `checks::rel_path` (shared with tests/fuzz_regressions.rs).

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::rel_path(data));
