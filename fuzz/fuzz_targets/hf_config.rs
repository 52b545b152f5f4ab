//! Any text as a Hugging Face `config.json`: a model or a located error, never a panic; a
//! model that loads has parameter counts that do not overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = chipmix_workload::model::from_hf_config("config.json", "fuzz", text) {
        let counts = m.param_counts();
        assert!(counts.active <= counts.total);
        let _ = m.kv_cache_bytes_per_token(2.0);
    }
});
