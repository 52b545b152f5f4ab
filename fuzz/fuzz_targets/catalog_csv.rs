//! Any text as an override CSV, a SkyPilot catalog file and an offerings table: located
//! errors or rows within their limits, never a panic; applying overrides is all or nothing.
#![no_main]

use chipmix_catalog::{limits, overrides, skypilot};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use common::catalog;


fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ovs) = overrides::parse("o.csv", text) {
        let mut c = catalog().clone();
        match c.apply_overrides(&ovs) {
            Ok(()) => {
                for o in c.offerings() {
                    if let Some(p) = o.usd_per_hour {
                        assert!(limits::USD_PER_HOUR.check(p).is_ok(), "{p}");
                    }
                }
            }
            Err(_) => assert_eq!(&c, catalog(), "a failed apply changes nothing"),
        }
    }
    if let Ok(imported) = skypilot::import(catalog(), "vms.csv", text, None) {
        for o in imported.offerings {
            if let Some(p) = o.usd_per_hour {
                assert!(p.is_finite() && p > 0.0, "{p}");
            }
        }
    }
    let _ = catalog().parse_offerings("offerings.csv", text);
});
