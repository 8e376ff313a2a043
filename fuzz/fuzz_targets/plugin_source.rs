#![no_main]
//! Fuzz target `plugin_source`: the property is `checks::plugin_source` (shared with tests/fuzz_regressions.rs).

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::plugin_source(data));
