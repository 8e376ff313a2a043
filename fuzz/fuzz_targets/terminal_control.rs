#![no_main]
//! Fuzz target `terminal_control`: the property is `checks::terminal_control` (shared with tests/fuzz_regressions.rs).

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::terminal_control(data));
