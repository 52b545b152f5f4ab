//! Planner scaling: generated portfolios of 10, 100 and 1,000 workloads over the built-in
//! catalog and over a generated 300-offering catalog. Prints a table of candidate-generation
//! time, solve time (HiGHS, one thread), status and proven gap, median of a few runs.
//!
//! `cargo bench -p chipmix-plan --bench planner` (add `-- quick` to skip the 1,000-workload
//! cases).

use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::synthetic::{self, Shape};
use chipmix_plan::{PlanOptions, candidates, plan};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let base = Catalog::builtin().unwrap();
    let wide = synthetic::catalog(&base, 300, 7);
    let cal = Calibration::builtin();
    let options = PlanOptions {
        time_limit_s: 60.0,
        relative_gap: 0.005,
        analysis: false,
    };
    println!(
        "| workloads | catalog | offerings | candidates | generate s | solve s | status | gap |"
    );
    println!("|---:|---|---:|---:|---:|---:|---|---:|");
    for &n in &[10usize, 100, 1000] {
        if quick && n > 100 {
            continue;
        }
        for (name, catalog) in [("built-in", &base), ("generated 300", &wide)] {
            let runs = if n >= 1000 { 1 } else { 3 };
            let mut gen_s = Vec::new();
            let mut solve_s = Vec::new();
            let mut last = None;
            for r in 0..runs {
                let shape = Shape {
                    workloads: n,
                    training_fraction: 0.1,
                    vendor_cap: Some(0.6),
                    with_contracts: true,
                    resilience: None,
                };
                let p = synthetic::portfolio(42 + r as u64, &shape);
                let t = Instant::now();
                let g = candidates::generate(&p, catalog, &cal);
                gen_s.push(t.elapsed().as_secs_f64());
                let result = plan(&p, catalog, &cal, &options);
                match &result {
                    Ok(pl) => solve_s.push(pl.solve_seconds),
                    Err(_) => solve_s.push(f64::NAN),
                }
                last = Some((g.candidates.len(), result));
            }
            let (cands, result) = last.unwrap();
            let (status, gap) = match result {
                Ok(pl) => (
                    pl.status.as_str().to_string(),
                    format!("{:.3}%", pl.gap * 100.0),
                ),
                Err(e) => (format!("{e}").chars().take(40).collect(), "—".into()),
            };
            println!(
                "| {n} | {name} | {} | {cands} | {:.2} | {:.2} | {status} | {gap} |",
                catalog.offerings().len(),
                median(gen_s),
                median(solve_s)
            );
        }
    }
}
