//! Any text as a portfolio: located diagnostics or a portfolio, never a panic; a portfolio
//! that decodes has every number within its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use common::catalog;
use std::path::Path;


fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Model files named by the input are looked up under a folder that does not exist.
    let base = Path::new("/nonexistent-chipmix-fuzz");
    if let Ok(loaded) = chipmix_workload::portfolio::parse("p.yaml", text, base, catalog()) {
        let p = loaded.portfolio;
        for w in &p.workloads {
            if let chipmix_workload::WorkloadKind::Inference(s) = &w.kind {
                assert!(s.peak_requests_per_s.is_finite() && s.peak_requests_per_s > 0.0);
            }
        }
        let _ = p.effective_catalog(catalog());
    }
});
