//! Any text as a Philly job trace and as an Azure LLM load trace: jobs and a load shape, or
//! located errors; never a panic, never a non-finite duration.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(jobs) = chipmix_sim::trace::parse_philly("philly.csv", text) {
        for j in jobs {
            assert!(j.duration_seconds.is_finite() && j.submit_seconds.is_finite());
        }
    }
    let _ = chipmix_sim::trace::parse_azure_shape("azure.csv", text);
});
