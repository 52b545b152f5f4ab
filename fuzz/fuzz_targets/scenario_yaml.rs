//! Any text as a stress scenario against the startup example: a scenario or located errors.
#![no_main]

use chipmix_catalog::Catalog;
use chipmix_workload::Portfolio;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

fn inputs() -> &'static (Catalog, Portfolio) {
    static C: OnceLock<(Catalog, Portfolio)> = OnceLock::new();
    C.get_or_init(|| {
        let c = Catalog::builtin().expect("the built-in catalog loads");
        let text = include_str!("../../examples/startup.yaml");
        let p = chipmix_workload::portfolio::parse("startup.yaml", text, Path::new("."), &c)
            .expect("the example loads")
            .portfolio;
        (c, p)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (c, p) = inputs();
    let _ = chipmix_risk::scenario::parse("s.yaml", text, c, p);
});
