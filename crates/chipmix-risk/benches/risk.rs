//! Monte Carlo on `examples/frontier-lab.yaml`: 10,000 fixed-plan samples and 1,000
//! re-planned samples, timed end to end, and the same seed run twice to show the numbers
//! repeat. Targets (issue 5): under 5 s and under 60 s on 2 cores.
//!
//! `cargo bench -p chipmix-risk --bench risk`

use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::PlanOptions;
use chipmix_risk::montecarlo::{self, MonteCarloOptions, ShockModel};
use chipmix_risk::{Context, Watch};
use chipmix_workload::portfolio;
use std::path::Path;
use std::time::Instant;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let base = Catalog::builtin().unwrap();
    let p = portfolio::load(&root.join("examples/frontier-lab.yaml"), &base)
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
            relative_gap: 0.005,
            analysis: false,
            method: Default::default(),
        },
        watch: Watch::NONE,
    };
    let plan = ctx.plan().unwrap();
    println!(
        "threads: {} (rayon); base plan ${:.0}/month",
        rayon::current_num_threads(),
        plan.objective_usd_per_month
    );
    println!(
        "| run | samples | re-planned | distinct patterns | seconds | unserved p95 | cost p95 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (label, samples, replan) in [
        ("fixed plan", 10_000, 0),
        ("fixed plan (same seed again)", 10_000, 0),
        ("re-plan", 1_000, 1_000),
        ("re-plan (same seed again)", 1_000, 1_000),
    ] {
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
            "| {label} | {samples} | {replan} | {} | {s:.3} | {:.4} | {} |",
            r.replan.as_ref().map_or(0, |x| x.distinct_patterns),
            r.fixed_plan.unserved_fraction.p95,
            r.replan
                .as_ref()
                .and_then(|x| x.cost_usd_per_month.as_ref())
                .map_or("-".into(), |d| format!("${:.0}", d.p95)),
        );
    }
}
