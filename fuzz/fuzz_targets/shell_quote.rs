#![no_main]
//! Fuzz target `shell_quote`: the property is `checks::shell_quote` (shared with tests/fuzz_regressions.rs).

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::shell_quote(data));
