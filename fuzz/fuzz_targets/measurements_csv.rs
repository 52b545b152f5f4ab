//! Any text as a measurements CSV: rows or located errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use common::catalog;


fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = chipmix_perf::fit::parse_measurements("m.csv", text, catalog());
});
