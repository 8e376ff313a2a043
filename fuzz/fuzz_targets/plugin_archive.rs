#![no_main]
//! Fuzz target `plugin_archive`: the property is `checks::plugin_archive` (shared with tests/fuzz_regressions.rs).

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::plugin_archive(data));
