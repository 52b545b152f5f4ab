//! Any text as a measurements CSV: rows or located errors, never a panic.
#![no_main]

use chipmix_catalog::Catalog;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::builtin().expect("the built-in catalog loads"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = chipmix_perf::fit::parse_measurements("m.csv", text, catalog());
});
