//! Planner scaling: generated portfolios of 10, 100 and 1,000 workloads over the built-in
//! catalog and over a generated 300-offering catalog, solved decomposed (the default from 50
//! workloads) and direct (one branch-and-bound), in the same run. Prints a table of
//! candidate-generation time, solve time (median and slowest), end-to-end plan time, status
//! and the worst proven gap of a few runs (seeds 42, 43, 44; candidates: the last run's).
//!
//! A second table solves portfolios under `policy.resilience` over the 300-offering catalog; a
//! third plans the shipped portfolios over time (`examples/growth.yaml`, 12 months;
//! `examples/roadmap-36m.yaml`, 36 months in quarters) to a 0.1% and a 1% gap.
//!
//! A fourth table plans generated portfolios over time (`synthetic::over_time`), decomposed and
//! direct; a fifth solves the rule-heavy case (every inference service with `min_vendors: 2`
//! and `max_vendor_fraction: 0.7`) to a 0.5% and the default 0.01% gap.
//!
//! `cargo bench -p chipmix-plan --bench planner` (add `-- quick` to skip the 1,000-workload
//! cases, `-- over-time` for the third and fourth tables alone, `-- generated-over-time` for
//! the fourth, `-- shipped-over-time` for the third, `-- rule-heavy` for the fifth; with the
//! fourth, `100x36` runs that case alone, `auto`, `direct` or `decomposed` that method, and
//! `limit=S` gives each MILP S seconds instead of 60; with the fifth, `decomposed` or `direct`
//! runs that method alone).

use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::synthetic::{self, Shape};
use chipmix_plan::{PlanOptions, SolveMethod, candidates, plan};
use chipmix_workload::{FailureScope, Resilience};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    if std::env::args().any(|a| a == "generated-over-time") {
        generated_over_time(quick);
        return;
    }
    if std::env::args().any(|a| a == "shipped-over-time") {
        over_time();
        return;
    }
    if std::env::args().any(|a| a == "rule-heavy") {
        rule_heavy(quick);
        return;
    }
    if std::env::args().any(|a| a == "over-time") {
        over_time();
        generated_over_time(quick);
        return;
    }
    scaling(quick);
    resilient(quick);
    rule_heavy(quick);
    over_time();
    generated_over_time(quick);
}

/// Generated portfolios over time (`synthetic::over_time`: growth, reservations, a ramped
/// commitment with an exit term, credits, the vendor cap, per-service vendor rules, migration
/// cost and a churn cap) over the generated 300-offering catalog, both methods.
fn generated_over_time(quick: bool) {
    let base = Catalog::builtin().unwrap();
    let wide = synthetic::catalog(&base, 300, 7);
    let cal = Calibration::builtin();
    println!();
    println!(
        "| workloads | offerings | months | periods | method | plan s | status | proven gap |"
    );
    println!("|---:|---:|---:|---:|---|---:|---|---:|");
    let mut cases = vec![(20, 12, 1), (100, 36, 1)];
    if !quick {
        cases.push((1000, 36, 3));
    }
    // `100x36` (workloads x months) runs that case alone; `auto`, `direct`, `decomposed` that
    // method alone.
    let args: Vec<String> = std::env::args().collect();
    let named = |n: usize, months: u32| args.iter().any(|a| *a == format!("{n}x{months}"));
    if cases.iter().any(|&(n, months, _)| named(n, months)) {
        cases.retain(|&(n, months, _)| named(n, months));
    }
    let method_named = |m: SolveMethod| {
        args.iter()
            .any(|a| a.eq_ignore_ascii_case(&format!("{m:?}")))
    };
    let any_method_named = [
        SolveMethod::Auto,
        SolveMethod::Decomposed,
        SolveMethod::Direct,
    ]
    .into_iter()
    .any(method_named);
    // `limit=S`: S seconds per MILP instead of 60.
    let limit = args
        .iter()
        .find_map(|a| a.strip_prefix("limit=")?.parse::<f64>().ok())
        .unwrap_or(60.0);
    for (n, months, period) in cases {
        let shape = Shape {
            workloads: n,
            training_fraction: 0.1,
            vendor_cap: Some(0.6),
            with_contracts: true,
            resilience: None,
        };
        let p = synthetic::over_time(synthetic::portfolio(42, &shape), months, period, 42);
        for method in [
            SolveMethod::Auto,
            SolveMethod::Decomposed,
            SolveMethod::Direct,
        ] {
            if n >= 1000 && !matches!(method, SolveMethod::Decomposed) {
                continue;
            }
            if any_method_named && !method_named(method) {
                continue;
            }
            let options = PlanOptions {
                time_limit_s: limit,
                relative_gap: 0.01,
                analysis: true,
                method,
            };
            let started = Instant::now();
            let result = chipmix_plan::multiperiod::plan_months(&p, &wide, &cal, &options);
            let secs = started.elapsed().as_secs_f64();
            match result {
                Ok(plan) => println!(
                    "| {n} | {} | {months} | {} | {method:?} | {secs:.2} | {} | {:.3}% |",
                    wide.offerings().len(),
                    plan.by_month.len(),
                    plan.status.as_str(),
                    plan.gap * 100.0
                ),
                Err(e) => println!(
                    "| {n} | {} | {months} | {} | {method:?} | {secs:.2} | {e} | – |",
                    wide.offerings().len(),
                    months / period,
                ),
            }
        }
    }
}

/// The shipped portfolios with a `horizon:`, planned over time to two gaps (60 s limit).
fn over_time() {
    let base = Catalog::builtin().unwrap();
    let cal = Calibration::builtin();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    println!();
    println!(
        "| portfolio | periods | asked gap | method | plan s | status | objective | proven gap |"
    );
    println!("|---|---:|---:|---|---:|---|---:|---:|");
    for file in ["examples/growth.yaml", "examples/roadmap-36m.yaml"] {
        let p = chipmix_workload::portfolio::load(&root.join(file), &base)
            .unwrap()
            .portfolio;
        let c = p.effective_catalog(&base).unwrap();
        for gap in [0.001, 0.01] {
            // `auto` plans period by period first; `direct` is branch-and-bound alone.
            for method in [SolveMethod::Auto, SolveMethod::Direct] {
                let options = PlanOptions {
                    time_limit_s: 60.0,
                    relative_gap: gap,
                    analysis: true,
                    method,
                };
                let started = Instant::now();
                let plan = chipmix_plan::multiperiod::plan_months(&p, &c, &cal, &options).unwrap();
                println!(
                    "| {file} | {} | {:.1}% | {method:?} | {:.2} | {} | ${:.0} | {:.3}% |",
                    plan.by_month.len(),
                    gap * 100.0,
                    started.elapsed().as_secs_f64(),
                    plan.status.as_str(),
                    plan.objective_usd,
                    plan.gap * 100.0
                );
            }
        }
    }
}

/// Portfolios under `policy.resilience` (keep 50% of each service's peak after losing any one
/// region, or any one provider): blocks with one row per failure domain.
/// Every inference service with its own vendor rules (`min_vendors: 2`,
/// `max_vendor_fraction: 0.7`) on top of the portfolio's 60% cap, over the 300-offering
/// catalog, to a 0.5% gap and to the default 0.01%.
fn rule_heavy(quick: bool) {
    let base = Catalog::builtin().unwrap();
    let wide = synthetic::catalog(&base, 300, 7);
    let cal = Calibration::builtin();
    println!();
    println!("| services with rules | gap asked | method | solve s | plan s | status | gap |");
    println!("|---:|---:|---|---:|---:|---|---:|");
    for n in [100usize, 1000] {
        if quick && n > 100 {
            continue;
        }
        let shape = Shape {
            workloads: n,
            training_fraction: 0.1,
            vendor_cap: Some(0.6),
            with_contracts: true,
            resilience: None,
        };
        let mut p = synthetic::portfolio(42, &shape);
        // The rules go on every service that can run on two vendors at all (a team would not
        // ask two vendors of a service whose software runs on one).
        let generated = candidates::generate(&p, &wide, &cal);
        let mut vendors = vec![std::collections::BTreeSet::new(); p.workloads.len()];
        for c in &generated.candidates {
            vendors[c.workload].insert(c.vendor);
        }
        let mut services = 0;
        for (w, vendors) in p.workloads.iter_mut().zip(&vendors) {
            if let chipmix_workload::WorkloadKind::Inference(svc) = &mut w.kind
                && vendors.len() >= 2
            {
                svc.min_vendors = 2;
                svc.max_vendor_fraction = 0.7;
                services += 1;
            }
        }
        // `decomposed` or `direct` runs that method alone.
        let args: Vec<String> = std::env::args().collect();
        let only = [SolveMethod::Decomposed, SolveMethod::Direct]
            .into_iter()
            .find(|m| {
                args.iter()
                    .any(|a| a.eq_ignore_ascii_case(&format!("{m:?}")))
            });
        for gap in [0.005, 1e-4] {
            for method in [SolveMethod::Decomposed, SolveMethod::Direct] {
                if only.is_some_and(|o| o != method) {
                    continue;
                }
                let options = PlanOptions {
                    time_limit_s: 120.0,
                    relative_gap: gap,
                    analysis: false,
                    method,
                };
                let t = Instant::now();
                let result = plan(&p, &wide, &cal, &options);
                let plan_s = t.elapsed().as_secs_f64();
                let (status, solve, got) = match result {
                    Ok(pl) => (
                        pl.status.as_str().to_string(),
                        format!("{:.2}", pl.solve_seconds),
                        format!("{:.3}%", pl.gap * 100.0),
                    ),
                    Err(e) => (
                        format!("{e}").chars().take(40).collect(),
                        "—".into(),
                        "—".into(),
                    ),
                };
                let method = match method {
                    SolveMethod::Direct => "direct",
                    _ => "decomposed",
                };
                println!(
                    "| {services} | {:.2}% | {method} | {solve} | {plan_s:.2} | {status} | {got} |",
                    gap * 100.0
                );
            }
        }
    }
}

fn resilient(quick: bool) {
    let base = Catalog::builtin().unwrap();
    let wide = synthetic::catalog(&base, 300, 7);
    let cal = Calibration::builtin();
    println!();
    println!("| workloads | survive | method | solve s | status | gap |");
    println!("|---:|---|---|---:|---|---:|");
    let cases = [
        (100, FailureScope::Region, SolveMethod::Decomposed),
        (100, FailureScope::Region, SolveMethod::Direct),
        (1000, FailureScope::Provider, SolveMethod::Decomposed),
    ];
    for (n, survive, method) in cases {
        if quick && n > 100 {
            continue;
        }
        let shape = Shape {
            workloads: n,
            training_fraction: 0.1,
            vendor_cap: Some(0.6),
            with_contracts: true,
            resilience: Some(Resilience {
                survive,
                min_served: 0.5,
            }),
        };
        let p = synthetic::portfolio(42, &shape);
        let options = PlanOptions {
            time_limit_s: 60.0,
            relative_gap: 0.005,
            analysis: false,
            method,
        };
        let (status, solve, gap) = match plan(&p, &wide, &cal, &options) {
            Ok(pl) => (
                pl.status.as_str().to_string(),
                format!("{:.2}", pl.solve_seconds),
                format!("{:.3}%", pl.gap * 100.0),
            ),
            Err(e) => (
                format!("{e}").chars().take(40).collect(),
                "—".into(),
                "—".into(),
            ),
        };
        let method = match method {
            SolveMethod::Direct => "direct",
            _ => "decomposed",
        };
        println!(
            "| {n} | {} | {method} | {solve} | {status} | {gap} |",
            match survive {
                FailureScope::Region => "region",
                FailureScope::Provider => "provider",
                FailureScope::Vendor => "vendor",
            }
        );
    }
}

fn scaling(quick: bool) {
    let base = Catalog::builtin().unwrap();
    let wide = synthetic::catalog(&base, 300, 7);
    let cal = Calibration::builtin();
    println!(
        "| workloads | catalog | offerings | candidates | method | generate s | solve s | slowest solve s | plan s | status | worst gap |"
    );
    println!("|---:|---|---:|---:|---|---:|---:|---:|---:|---|---:|");
    for &n in &[10usize, 100, 1000] {
        if quick && n > 100 {
            continue;
        }
        for (name, catalog) in [("built-in", &base), ("generated 300", &wide)] {
            for method in [SolveMethod::Decomposed, SolveMethod::Direct] {
                let options = PlanOptions {
                    time_limit_s: 60.0,
                    relative_gap: 0.005,
                    analysis: false,
                    method,
                };
                let runs = if n >= 1000 && method == SolveMethod::Direct {
                    1
                } else {
                    3
                };
                let mut gen_s = Vec::new();
                let mut solve_s = Vec::new();
                let mut plan_s = Vec::new();
                let mut last = None;
                let mut worst_gap: f64 = 0.0;
                let mut statuses = std::collections::BTreeSet::new();
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
                    let t = Instant::now();
                    let result = plan(&p, catalog, &cal, &options);
                    plan_s.push(t.elapsed().as_secs_f64());
                    match &result {
                        Ok(pl) => {
                            solve_s.push(pl.solve_seconds);
                            worst_gap = worst_gap.max(pl.gap);
                            statuses.insert(pl.status.as_str());
                        }
                        Err(_) => solve_s.push(f64::NAN),
                    }
                    last = Some((g.candidates.len(), result));
                }
                let (cands, result) = last.unwrap();
                let (status, gap) = match result {
                    Ok(_) => (
                        statuses.into_iter().collect::<Vec<_>>().join(", "),
                        format!("{:.3}%", worst_gap * 100.0),
                    ),
                    Err(e) => (format!("{e}").chars().take(40).collect(), "—".into()),
                };
                let method = match method {
                    SolveMethod::Direct => "direct",
                    _ => "decomposed",
                };
                println!(
                    "| {n} | {name} | {} | {cands} | {method} | {:.2} | {:.2} | {:.2} | {:.2} | {status} | {gap} |",
                    catalog.offerings().len(),
                    median(gen_s),
                    median(solve_s.clone()),
                    solve_s.iter().copied().fold(0.0, f64::max),
                    median(plan_s),
                );
            }
        }
    }
}
