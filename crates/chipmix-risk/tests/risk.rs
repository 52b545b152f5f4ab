use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::verify::{survival, verify};
use chipmix_plan::{Plan, PlanOptions};
use chipmix_risk::leverage::{LeverageOptions, leverage};
use chipmix_risk::montecarlo::{self, MonteCarloOptions, ShockModel};
use chipmix_risk::scenario::{self, Scenario, Shock, ShockKind, Target};
use chipmix_risk::stress::{self, FixedPlan, Levels};
use chipmix_risk::sweep::{self, Source};
use chipmix_risk::{Context, Planned, Watch};
use chipmix_workload::{FailureScope, Portfolio, portfolio};
use proptest::prelude::*;
use std::path::Path;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn frontier_text() -> String {
    std::fs::read_to_string(root().join("examples/frontier-lab.yaml")).unwrap()
}

fn load(text: &str) -> (Portfolio, Catalog) {
    let base = Catalog::builtin().unwrap();
    let p = portfolio::parse("t.yaml", text, &root().join("examples"), &base)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .portfolio;
    let c = p.effective_catalog(&base).unwrap();
    (p, c)
}

fn options(gap: f64) -> PlanOptions {
    PlanOptions {
        time_limit_s: 60.0,
        relative_gap: gap,
        analysis: false,
        method: Default::default(),
    }
}

fn planned(p: &Portfolio, c: &Catalog, cal: &Calibration, gap: f64) -> Plan {
    let ctx = Context {
        portfolio: p,
        catalog: c,
        calibration: cal,
        options: options(gap),
        watch: Watch::NONE,
    };
    ctx.plan().unwrap()
}

/// One shock of `kind` by `factor` on everything.
fn everything(kind: ShockKind, factor: f64) -> Scenario {
    Scenario {
        name: "everything".into(),
        description: String::new(),
        shocks: vec![Shock {
            kind,
            factor,
            target: Target::All,
        }],
    }
}

fn with_resilience(min_served: f64) -> String {
    frontier_text().replace(
        "  headroom: 0.2 ",
        &format!("  resilience: {{ survive: vendor, min_served: {min_served} }}\n  headroom: 0.2 "),
    )
}

#[test]
fn leverage_lists_every_vendor_in_the_plan_with_a_cost_delta_and_a_break_even() {
    let (p, c) = load(&frontier_text());
    let cal = Calibration::builtin();
    let ctx = Context {
        portfolio: &p,
        catalog: &c,
        calibration: &cal,
        options: options(1e-4),
        watch: Watch::NONE,
    };
    let base = ctx.plan().unwrap();
    let report = leverage(
        &ctx,
        &Planned::of_plan(base.clone()),
        &LeverageOptions::default(),
    );
    let vendors: std::collections::BTreeSet<&str> =
        base.allocations.iter().map(|a| a.vendor.as_str()).collect();
    assert!(vendors.len() >= 2);
    for v in vendors {
        let row = report
            .rows
            .iter()
            .find(|r| r.entity.kind() == "vendor" && r.entity.name() == v)
            .unwrap_or_else(|| panic!("no row for {v}"));
        let delta = row.walk_away.delta_usd_per_month.expect("a cost delta");
        // Walking away from a vendor the optimal plan uses cannot make it cheaper.
        assert!(delta >= 0.0, "{v}: {delta}");
        let be = row.break_even.as_ref().expect("a break-even search");
        assert!(be.solves >= 1);
        if let Some(x) = be.price_increase {
            assert!(x > be.stays_at && x - be.stays_at <= be.resolution + 1e-12);
        }
    }
    // Every provider in the plan has a row too.
    for a in &base.allocations {
        assert!(
            report
                .rows
                .iter()
                .any(|r| r.entity.kind() == "provider" && r.entity.name() == a.provider)
        );
    }
}

#[test]
fn break_even_is_where_the_plan_starts_moving_work() {
    // Azure in frontier-lab runs part of two services; at the reported break-even its share
    // of them drops, just below it the plan keeps them.
    let (p, c) = load(&frontier_text());
    let cal = Calibration::builtin();
    let ctx = Context {
        portfolio: &p,
        catalog: &c,
        calibration: &cal,
        options: options(1e-4),
        watch: Watch::NONE,
    };
    let base = ctx.plan().unwrap();
    let report = leverage(
        &ctx,
        &Planned::of_plan(base.clone()),
        &LeverageOptions::default(),
    );
    let azure = report
        .rows
        .iter()
        .find(|r| r.entity.name() == "azure")
        .unwrap();
    let be = azure.break_even.as_ref().unwrap();
    let x = be.price_increase.expect("azure's work moves within +400%");
    let azure_rps = |increase: f64| {
        let s = Scenario {
            name: "t".into(),
            description: String::new(),
            shocks: vec![Shock {
                kind: ShockKind::Price,
                factor: 1.0 + increase,
                target: Target::Provider("azure".into()),
            }],
        };
        let r = stress::stress(&ctx, &Planned::of_plan(base.clone()), &s, false);
        let plan = r.replan.unwrap().plan.unwrap();
        plan.allocations
            .iter()
            .filter(|a| a.provider == "azure")
            .filter_map(|a| a.requests_per_s)
            .sum::<f64>()
    };
    let today: f64 = base
        .allocations
        .iter()
        .filter(|a| a.provider == "azure")
        .filter_map(|a| a.requests_per_s)
        .sum();
    assert!(today > 0.0);
    assert!(azure_rps(x) < today, "work should move at +{x}");
}

#[test]
fn resilient_plan_keeps_every_service_above_the_floor_when_any_vendor_is_lost() {
    let cal = Calibration::builtin();
    let (p, c) = load(&with_resilience(0.5));
    let plan = planned(&p, &c, &cal, 1e-4);
    assert!(verify(&plan, &p, &c, &cal).is_empty());
    let rows = survival(&plan, &p, &c, &cal, FailureScope::Vendor);
    // Every service runs on at least two vendors, and each loss leaves ≥ 50% of peak.
    for svc in ["chat-70b", "assistant-8b"] {
        assert!(
            rows.iter().filter(|r| r.workload == svc).count() >= 2,
            "{svc}"
        );
    }
    for r in &rows {
        assert!(
            r.served_fraction() >= 0.5 - 1e-9,
            "{} without {}: {}",
            r.workload,
            r.failed,
            r.served_fraction()
        );
    }
}

#[test]
fn the_verifier_rejects_a_plan_that_does_not_survive_the_loss() {
    // Plan without resilience, then check it against a portfolio that demands 80%: the
    // independent check must find the services that fall short.
    let cal = Calibration::builtin();
    let (plain, c) = load(&frontier_text());
    let plan = planned(&plain, &c, &cal, 1e-4);
    let (strict, _) = load(&with_resilience(0.8));
    let violations = verify(&plan, &strict, &c, &cal);
    assert!(
        violations.iter().any(|v| v.contains("policy.resilience")),
        "{violations:?}"
    );
    // And the planner meets the 80% when asked.
    let resilient = planned(&strict, &c, &cal, 1e-4);
    assert!(verify(&resilient, &strict, &c, &cal).is_empty());
    assert!(resilient.objective_usd_per_month >= plan.objective_usd_per_month * (1.0 - 1e-4));
}

#[test]
fn resilience_by_region_and_provider_is_planned_and_verified() {
    let cal = Calibration::builtin();
    for scope in ["provider", "region"] {
        let text = frontier_text().replace(
            "  headroom: 0.2 ",
            &format!("  resilience: {{ survive: {scope}, min_served: 0.5 }}\n  headroom: 0.2 "),
        );
        let (p, c) = load(&text);
        let plan = planned(&p, &c, &cal, 1e-4);
        assert!(verify(&plan, &p, &c, &cal).is_empty(), "{scope}");
        let scope = p.policy.resilience.unwrap().survive;
        for r in survival(&plan, &p, &c, &cal, scope) {
            assert!(r.served_fraction() >= 0.5 - 1e-9, "{r:?}");
        }
    }
}

#[test]
fn fixed_plan_arithmetic_follows_the_allocations() {
    let cal = Calibration::builtin();
    let (p, c) = load(&frontier_text());
    let base = planned(&p, &c, &cal, 1e-4);
    let fixed = FixedPlan::new(&base, &p, &c);

    // A region outage: exactly what runs elsewhere is still served.
    let outage = scenario::builtin("aws-region-outage").unwrap();
    let o = fixed.evaluate(&Levels::of(&outage, &p, &c));
    for s in &o.services {
        let elsewhere: f64 = base
            .allocations
            .iter()
            .filter(|a| a.workload == s.workload)
            .filter(|a| !(a.provider == "aws" && a.region == "us-east-1"))
            .filter_map(|a| a.requests_per_s)
            .sum();
        assert!((s.served_requests_per_s - elsewhere).abs() < 1e-6, "{s:?}");
    }

    // Demand doubles: served is what is provisioned, capped at the new peak.
    let surge = scenario::builtin("demand-2x").unwrap();
    let o = fixed.evaluate(&Levels::of(&surge, &p, &c));
    for (s, summary) in o.services.iter().zip(&base.services) {
        let provisioned = summary.provisioned_requests_per_s;
        assert!((s.served_requests_per_s - provisioned).abs() < 1e-6);
        assert_eq!(s.slo_holds, provisioned >= s.peak_requests_per_s);
        assert!((s.served_fraction - (provisioned / s.peak_requests_per_s).min(1.0)).abs() < 1e-9);
    }

    // A price hike on the plan as it is: spend scales by exactly the factor.
    let hike = scenario::builtin("price-hike-30").unwrap();
    let o = fixed.evaluate(&Levels::of(&hike, &p, &c));
    assert!((o.spend_usd_per_month - 1.3 * base.spend_usd_per_month).abs() < 1e-3);
    assert_eq!(o.unserved_fraction, 0.0);
}

#[test]
fn shortage_halves_training_parallelism_and_replanning_costs_more_under_a_surge() {
    let cal = Calibration::builtin();
    let (p, c) = load(&frontier_text());
    let ctx = Context {
        portfolio: &p,
        catalog: &c,
        calibration: &cal,
        options: options(1e-4),
        watch: Watch::NONE,
    };
    let base = ctx.plan().unwrap();
    let r = stress::stress(
        &ctx,
        &Planned::of_plan(base.clone()),
        &scenario::builtin("nvidia-shortage-50").unwrap(),
        true,
    );
    assert!(r.replan.is_none());
    let pretrain = base
        .allocations
        .iter()
        .find(|a| a.workload == "pretrain-405b")
        .unwrap();
    let t = r
        .fixed_plan
        .training
        .iter()
        .find(|t| t.workload == "pretrain-405b")
        .unwrap();
    if pretrain.vendor == "nvidia" {
        assert_eq!(t.dp_after, t.dp_before / 2);
        assert!((t.days_after.unwrap() - 2.0 * t.days_before).abs() < 1e-6);
        assert!(!t.meets_deadline);
    }
    let surge = stress::stress(
        &ctx,
        &Planned::of_plan(base.clone()),
        &scenario::builtin("demand-2x").unwrap(),
        false,
    );
    let cost = surge.replan.unwrap().cost_usd_per_month.unwrap();
    assert!(cost > base.objective_usd_per_month);
}

#[test]
fn monte_carlo_is_reproducible_for_a_seed_and_sane() {
    let cal = Calibration::builtin();
    let (p, c) = load(&frontier_text());
    let ctx = Context {
        portfolio: &p,
        catalog: &c,
        calibration: &cal,
        options: options(0.005),
        watch: Watch::NONE,
    };
    let base = Planned::of_plan(ctx.plan().unwrap());
    let opts = |seed| MonteCarloOptions {
        samples: 2000,
        replan_samples: 60,
        seed,
        model: ShockModel {
            vendor_shortage_probability: 0.1,
            ..ShockModel::default()
        },
    };
    let a = montecarlo::run(&ctx, &base, &opts(7), &|_| {});
    let b = montecarlo::run(&ctx, &base, &opts(7), &|_| {});
    assert_eq!(
        a.fixed_plan.unserved_by_sample,
        b.fixed_plan.unserved_by_sample
    );
    let (ra, rb) = (a.replan.unwrap(), b.replan.unwrap());
    assert_eq!(ra.cost_by_sample, rb.cost_by_sample);
    assert!(ra.distinct_patterns >= 2 && ra.distinct_patterns <= 60);
    assert!(a.horizon_months.is_none() && a.fixed_plan.mean_unserved_by_period.is_empty());
    let other = montecarlo::run(&ctx, &base, &opts(8), &|_| {});
    assert_ne!(
        a.fixed_plan.unserved_by_sample,
        other.fixed_plan.unserved_by_sample
    );
    // Quantiles are ordered and fractions are fractions.
    let u = &a.fixed_plan.unserved_fraction;
    assert!(0.0 <= u.p50 && u.p50 <= u.p95 && u.p95 <= u.p99 && u.p99 <= u.max && u.max <= 1.0);
    assert!(u.cvar95 >= u.p95 - 1e-12);

    // No shocks: nothing unserved, every re-plan is today's plan.
    let calm = montecarlo::run(
        &ctx,
        &base,
        &MonteCarloOptions {
            samples: 300,
            replan_samples: 30,
            seed: 1,
            model: ShockModel {
                vendor_shortage_probability: 0.0,
                region_outage_probability: 0.0,
                ..ShockModel::default()
            },
        },
        &|_| {},
    );
    assert_eq!(calm.fixed_plan.unserved_fraction.max, 0.0);
    let r = calm.replan.unwrap();
    // Nothing shocked, nothing to re-plan.
    assert_eq!(r.distinct_patterns, 0);
    assert!(
        r.cost_by_sample
            .iter()
            .all(|c| *c == Some(base.cost_usd_per_month))
    );
}

/// Over time every period draws its own shocks and is kept with its own fleet, demand and
/// catalog: with every vendor short in every period, each period loses what `stress` says the
/// same shock costs that period, the horizon's unserved fraction is their peak-weighted mean,
/// and the re-plan prices each period's shock against the period re-planned without it.
#[test]
fn monte_carlo_over_time_shocks_each_period_as_stress_does() {
    let cal = Calibration::builtin();
    let text = std::fs::read_to_string(
        root().join("crates/chipmix-cli/tests/fixtures/horizon-small.yaml"),
    )
    .unwrap();
    let (p, c) = load(&text);
    let ctx = Context {
        portfolio: &p,
        catalog: &c,
        calibration: &cal,
        options: options(0.01),
        watch: Watch::NONE,
    };
    let base = ctx.planned_on(&p, &c).unwrap();
    assert_eq!(base.horizon_months, Some(4));
    let always = MonteCarloOptions {
        samples: 40,
        replan_samples: 5,
        seed: 3,
        model: ShockModel {
            vendor_shortage_probability: 1.0,
            vendor_shortage_factor: 0.5,
            region_outage_probability: 0.0,
            ..ShockModel::default()
        },
    };
    let r = montecarlo::run(&ctx, &base, &always, &|_| {});
    assert_eq!((r.horizon_months, r.period_months), (Some(4), Some(1)));
    let s = stress::stress(&ctx, &base, &everything(ShockKind::Capacity, 0.5), true);
    let by_period: Vec<f64> = s
        .fixed_by_period
        .iter()
        .map(|o| o.unserved_fraction)
        .collect();
    assert_eq!(by_period.len(), 4);
    for (mc, st) in r.fixed_plan.mean_unserved_by_period.iter().zip(&by_period) {
        assert!((mc - st).abs() < 1e-12, "{mc} vs {st}");
    }
    assert!(by_period.iter().all(|u| *u > 0.0), "{by_period:?}");
    let peaks = [100.0, 130.0, 170.0, 200.0];
    let weighted: f64 =
        by_period.iter().zip(peaks).map(|(u, p)| u * p).sum::<f64>() / peaks.iter().sum::<f64>();
    assert!((r.fixed_plan.unserved_fraction.mean - weighted).abs() < 1e-9);
    assert!((r.fixed_plan.unserved_fraction.max - weighted).abs() < 1e-9);
    // Every sample draws the same shocks: one solve per period with the shock, one without.
    // Half of what the plan holds cannot carry a period's demand (offerings it does not hold
    // have nothing to give): no sample has a plan.
    let rp = r.replan.unwrap();
    assert_eq!(rp.distinct_patterns, 8);
    assert_eq!(rp.probability_infeasible, 1.0);
    assert!(rp.cost_by_sample.iter().all(Option::is_none));

    // A shortage that keeps everything: every period is shocked and re-planned, the shock
    // costs nothing, and every sample costs today's plan over time.
    let harmless = montecarlo::run(
        &ctx,
        &base,
        &MonteCarloOptions {
            model: ShockModel {
                vendor_shortage_factor: 1.0,
                ..always.model.clone()
            },
            ..always.clone()
        },
        &|_| {},
    );
    assert_eq!(harmless.fixed_plan.unserved_fraction.max, 0.0);
    let rp = harmless.replan.unwrap();
    assert_eq!(rp.distinct_patterns, 8);
    assert!(
        rp.cost_by_sample
            .iter()
            .all(|c| c.is_some_and(|c| (c - base.cost_usd_per_month).abs() < 1e-6)),
        "{:?} vs {}",
        rp.cost_by_sample,
        base.cost_usd_per_month
    );

    // Calm: nothing unserved, nothing re-planned, every sample costs today's plan over time.
    let calm = montecarlo::run(
        &ctx,
        &base,
        &MonteCarloOptions {
            model: ShockModel {
                vendor_shortage_probability: 0.0,
                region_outage_probability: 0.0,
                ..ShockModel::default()
            },
            ..always
        },
        &|_| {},
    );
    assert_eq!(calm.fixed_plan.unserved_fraction.max, 0.0);
    let rp = calm.replan.unwrap();
    assert_eq!(rp.distinct_patterns, 0);
    assert!(
        rp.cost_by_sample
            .iter()
            .all(|c| *c == Some(base.cost_usd_per_month))
    );
}

#[test]
fn scenario_files_report_every_problem_with_its_line() {
    let (p, c) = load(&frontier_text());
    let text = "name: bad\nshocks:\n  - capacity: 0.5\n    price: 2\n  - capacity: 0.5\n    vendor: nvidiaa\n  - demand: 2\n    provider: aws\n  - price: -1\n  - capacity: 0.5\n    region: mars-1\n  - demand: 3\n    workload: chat-7b\n";
    let errors = scenario::parse("s.yaml", text, &c, &p).unwrap_err();
    let has = |line: u64, needle: &str| {
        errors
            .iter()
            .any(|e| e.line == line && e.to_string().contains(needle))
    };
    assert!(has(3, "exactly one"), "{errors:#?}");
    assert!(has(6, "nvidiaa"), "{errors:#?}");
    assert!(has(7, "demand shock"), "{errors:#?}");
    assert!(
        has(9, "must be a number in [1e-6, 1000], got -1"),
        "{errors:#?}"
    );
    assert!(has(11, "mars-1"), "{errors:#?}");
    assert!(has(13, "chat-70b"), "{errors:#?}");
    let ok = scenario::parse(
        "s.yaml",
        "name: ok\nshocks:\n  - capacity: 0.25\n    chip: H100\n  - demand: 1.5\n    workload: chat-70b\n",
        &c,
        &p,
    )
    .unwrap();
    assert_eq!(ok.shocks.len(), 2);
    assert_eq!(ok.shocks[0].target, Target::Chip("h100".into()));
}

#[test]
fn sweep_values_go_through_validation_with_file_positions() {
    let text = frontier_text();
    let cal = Calibration::builtin();
    let base = Catalog::builtin().unwrap();
    let src = Source {
        file: "frontier-lab.yaml",
        text: &text,
        base_dir: &root().join("examples"),
    };
    // 1.5 is not a share: among valid values it is a row of the report with the reason
    // (issue 13: one refused value used to fail the whole sweep) ...
    let r = sweep::sweep(
        &src,
        &base,
        &cal,
        &options(1e-4),
        "policy.max_vendor_share",
        &[0.8, 1.5],
        Watch::NONE,
    )
    .unwrap();
    assert!(r.points[0].cost_usd_per_month.is_some());
    assert!(r.points[1].cost_usd_per_month.is_none());
    assert!(
        r.points[1].infeasible[0].starts_with("policy.max_vendor_share: must be a fraction")
            && r.points[1].infeasible[0].contains("1.5"),
        "{:?}",
        r.points[1].infeasible
    );
    // ... and when every value is refused, the sweep fails naming the field and its line.
    let e = sweep::sweep(
        &src,
        &base,
        &cal,
        &options(1e-4),
        "policy.max_vendor_share",
        &[1.5, 2.0],
        Watch::NONE,
    )
    .unwrap_err();
    let line = text
        .lines()
        .position(|l| l.contains("max_vendor_share"))
        .unwrap() as u64
        + 1;
    assert!(
        e.iter().any(|d| d.line == line
            && d.path == "policy.max_vendor_share"
            && d.message.contains("1.5")),
        "{e:#?}"
    );
    // A path that is not a field of the portfolio.
    let e = sweep::sweep(
        &src,
        &base,
        &cal,
        &options(1e-4),
        "policy.max_vendor_shares",
        &[0.8],
        Watch::NONE,
    )
    .unwrap_err();
    assert!(
        e.iter().any(|d| d.message.contains("max_vendor_share")),
        "{e:#?}"
    );
}

/// A random portfolio as a user would write it.
fn random_portfolio(seed: u64, services: usize) -> String {
    let mut rng = chipmix_plan::synthetic::Rng::new(seed);
    let models = ["llama-3-8b", "llama-3.2-3b", "llama-3-70b", "mixtral-8x7b"];
    let software = [
        "[cuda, neuron]",
        "[cuda, neuron, xla]",
        "[cuda, rocm, neuron]",
    ];
    let mut s = String::from("name: random\nworkloads:\n");
    for i in 0..services {
        let min_vendors = if rng.chance(0.3) { 2 } else { 1 };
        s.push_str(&format!(
            "  - name: svc-{i}\n    kind: inference\n    model: {}\n    peak_requests_per_s: {:.0}\n    prompt_tokens: {}\n    output_tokens: {}\n    slo: {{ ttft_ms: 2000, tpot_ms: 60 }}\n    software: {}\n    min_vendors: {min_vendors}\n",
            rng.pick(&models),
            rng.range(5.0, 400.0),
            [512, 1024, 2048][(rng.next_u64() % 3) as usize],
            [64, 128, 256][(rng.next_u64() % 3) as usize],
            rng.pick(&software),
        ));
    }
    if rng.chance(0.5) {
        s.push_str("  - name: tune\n    kind: training\n    model: llama-3-8b\n    tokens: 5B\n    seq_len: 4096\n    deadline_days: 10\n    software: [cuda, neuron]\n");
    }
    s.push_str("policy:\n  max_vendor_share: 0.5\n  horizon_months: 1\n");
    if rng.chance(0.5) {
        s.push_str("contracts:\n  - kind: commitment\n    provider: aws\n    usd_per_month: 200k\n    discount: 0.2\n    chips: [trainium, trainium2, inferentia2]\n");
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// In a sweep of `policy.max_vendor_share`, the optimal cost never rises as the cap
    /// loosens, and once a cap is feasible every looser one is.
    #[test]
    fn sweeping_the_vendor_cap_never_raises_cost_as_it_loosens(
        seed in 0u64..100_000,
        services in 1usize..5,
    ) {
        let text = random_portfolio(seed, services);
        let cal = Calibration::builtin();
        let base = Catalog::builtin().unwrap();
        let src = Source { file: "random.yaml", text: &text, base_dir: Path::new(".") };
        let values = sweep::values(0.35, 1.0, 6);
        let report = match sweep::sweep(&src, &base, &cal, &options(1e-6), "policy.max_vendor_share", &values, Watch::NONE) {
            Ok(r) => r,
            // A cap that the vendors the services can use cannot cover is rejected up front.
            Err(_) => sweep::sweep(&src, &base, &cal, &options(1e-6), "policy.max_vendor_share", &values[2..], Watch::NONE).unwrap(),
        };
        let mut last: Option<f64> = None;
        for point in &report.points {
            match (point.cost_usd_per_month, last) {
                (Some(c), Some(prev)) => {
                    prop_assert!(c <= prev * (1.0 + 2e-6) + 1e-6,
                        "cap {} costs {c} > {prev} at a tighter cap", point.value);
                    last = Some(c);
                }
                (Some(c), None) => last = Some(c),
                (None, Some(_)) => prop_assert!(false, "cap {} infeasible after a tighter one was feasible", point.value),
                (None, None) => {}
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Scenario files are user input: any text gives a scenario or located errors, never a
    /// panic.
    #[test]
    fn scenario_reader_never_panics(text in "\\PC{0,300}", pick in 0usize..4) {
        let (p, c) = load(&frontier_text());
        let seeds = [
            "name: s\nshocks:\n  - capacity: 0.5\n    vendor: nvidia\n",
            "shocks:\n  - demand: 2\n    workload: chat-70b\n  - price: 1.1\n",
            "shocks: []\n",
            "",
        ];
        // Arbitrary text, and valid files with arbitrary text spliced in.
        let _ = scenario::parse("s.yaml", &text, &c, &p);
        let base = seeds[pick];
        let cut = text.len().min(base.len());
        let mixed = format!("{}{}", &base[..base.char_indices().map(|(i, _)| i).take_while(|&i| i <= cut).last().unwrap_or(0)], text);
        let _ = scenario::parse("s.yaml", &mixed, &c, &p);
    }

    /// Sweep paths are user input too.
    #[test]
    fn sweep_paths_never_panic(path in "[a-z_.\\[\\]0-9-]{0,40}", value in -10.0f64..10.0) {
        let text = frontier_text();
        let base = Catalog::builtin().unwrap();
        let _ = portfolio::parse_with("t.yaml", &text, &root().join("examples"), &base, &[(&path, value)]);
    }
}

/// Over time a plan's reserved instances are owed whatever a shock does: kept as it is under a
/// shock that changes nothing, each period costs what it cost; under a doubling of prices, it
/// costs more by exactly what is not reserved (on-demand and spot), not by its whole bill.
#[test]
fn stress_over_time_leaves_reservation_payments_alone() {
    let text = "name: tripling
horizon:
  months: 12
  lead_months: 1
  reservations:
    - { provider: aws, term_years: 1, discount: 0.35, source: test }
workloads:
  - name: assistant
    kind: inference
    model: llama-3-8b
    peak_requests_per_s: 400
    demand_by_month: [400, 440, 480, 530, 580, 640, 700, 770, 850, 940, 1060, 1200]
    prompt_tokens: 1024
    output_tokens: 64
    slo: { ttft_ms: 800, tpot_ms: 30 }
    software: [neuron]
policy:
  allowed_providers: [aws]
";
    let cal = Calibration::builtin();
    let (p, c) = load(text);
    let ctx = Context {
        portfolio: &p,
        catalog: &c,
        calibration: &cal,
        options: options(0.005),
        watch: Watch::NONE,
    };
    let base = ctx.planned_on(&p, &c).unwrap();
    let same = stress::stress(&ctx, &base, &everything(ShockKind::Capacity, 1.0), true);
    let doubled = stress::stress(&ctx, &base, &everything(ShockKind::Price, 2.0), true);
    let mut reserved_somewhere = false;
    for (t, plan) in base.periods.iter().enumerate() {
        let o = &same.fixed_by_period[t];
        assert!(
            (o.cost_usd_per_month - o.base_cost_usd_per_month).abs()
                < 1e-6 * o.base_cost_usd_per_month,
            "period {}: {} vs {}",
            t + 1,
            o.cost_usd_per_month,
            o.base_cost_usd_per_month
        );
        let variable: f64 = plan
            .allocations
            .iter()
            .map(|a| a.usd_per_month - a.reserved_usd_per_month)
            .sum();
        reserved_somewhere |= plan
            .allocations
            .iter()
            .any(|a| a.reserved_usd_per_month > 0.0);
        let d = &doubled.fixed_by_period[t];
        let rise = d.cost_usd_per_month - d.base_cost_usd_per_month;
        assert!(
            (rise - variable).abs() < 1e-6 * variable.max(1.0),
            "period {}: +{rise} vs {variable}",
            t + 1
        );
    }
    assert!(reserved_somewhere);
}
