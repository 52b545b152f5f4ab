//! Monte Carlo on `examples/frontier-lab.yaml`: 10,000 fixed-plan samples and 1,000
//! re-planned samples, timed end to end, and the same seed run twice to show the numbers
//! repeat. Targets (issue 5): under 5 s and under 60 s on 2 cores. Then the same over time, on
//! `examples/growth.yaml` (12 months, each drawing its own shocks), the plan over time's own
//! solve not counted.
//!
//! `cargo bench -p chipmix-risk --bench risk`

use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::PlanOptions;
use chipmix_risk::montecarlo::{self, MonteCarloOptions, ShockModel};
use chipmix_risk::{Context, Planned, Watch};
use chipmix_workload::portfolio;
use std::path::Path;
use std::time::Instant;

fn main() {
    println!("threads: {} (rayon)", rayon::current_num_threads());
    println!(
        "| portfolio | run | samples | re-planned | distinct patterns | seconds | unserved p95 | cost p95 |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    bench(
        "frontier-lab.yaml",
        0.005,
        &[
            ("fixed plan", 10_000, 0),
            ("fixed plan (same seed again)", 10_000, 0),
            ("re-plan", 1_000, 1_000),
            ("re-plan (same seed again)", 1_000, 1_000),
        ],
    );
    bench(
        "growth.yaml",
        0.01,
        &[
            ("over time: fixed plan", 10_000, 0),
            ("over time: re-plan", 1_000, 1_000),
        ],
    );
}

fn bench(file: &str, gap: f64, runs: &[(&str, usize, usize)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let base = Catalog::builtin().unwrap();
    let p = portfolio::load(&root.join("examples").join(file), &base)
        .unwrap()
        .portfolio;
    let c = p.effective_catalog(&base).unwrap();
    let cal = Calibration::builtin();
    let ctx = Context {
        portfolio: &p,
        catalog: &c,
        calibration: &cal,
        options: PlanOptions {
            time_limit_s: 30.0,
            relative_gap: gap,
            analysis: false,
            method: Default::default(),
        },
        watch: Watch::NONE,
    };
    let plan: Planned = ctx.planned_on(&p, &c).unwrap();
    for &(label, samples, replan) in runs {
        let start = Instant::now();
        let r = montecarlo::run(
            &ctx,
            &plan,
            &MonteCarloOptions {
                samples,
                replan_samples: replan,
                seed: 42,
                model: ShockModel::default(),
            },
            &|_| {},
        );
        let s = start.elapsed().as_secs_f64();
        println!(
            "| {file} | {label} | {samples} | {replan} | {} | {s:.3} | {:.4} | {} |",
            r.replan.as_ref().map_or(0, |x| x.distinct_patterns),
            r.fixed_plan.unserved_fraction.p95,
            r.replan
                .as_ref()
                .and_then(|x| x.cost_usd_per_month.as_ref())
                .map_or("-".into(), |d| format!("${:.0}", d.p95)),
        );
    }
}
