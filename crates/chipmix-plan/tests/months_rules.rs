//! Month-by-month plans keep every rule in every month (per-service vendor rules, resilience,
//! vendor shares on every basis) and pay for moving capacity between months.

use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::multiperiod::{MonthlyPlan, plan_months};
use chipmix_plan::verify::verify_months;
use chipmix_plan::{PlanError, PlanOptions, SolveMethod, synthetic};
use chipmix_workload::{Portfolio, portfolio};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;

fn load(text: &str) -> (Portfolio, Catalog) {
    let base = Catalog::builtin().unwrap();
    let p = portfolio::parse("t.yaml", text, Path::new("."), &base)
        .unwrap_or_else(|e| panic!("{e:#?}\n{text}"))
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

fn solve(text: &str, gap: f64) -> (MonthlyPlan, Portfolio, Catalog) {
    let (p, c) = load(text);
    let cal = Calibration::builtin();
    let plan = plan_months(&p, &c, &cal, &options(gap)).unwrap_or_else(|e| panic!("{e:?}"));
    let violations = verify_months(&plan, &p, &c, &cal);
    assert!(violations.is_empty(), "{violations:#?}");
    (plan, p, c)
}

/// Offerings a workload holds in a month.
fn placements(plan: &MonthlyPlan, month: usize) -> BTreeSet<String> {
    plan.by_month[month]
        .allocations
        .iter()
        .map(|a| a.offering.clone())
        .collect()
}

/// A small service (one instance serves it) over six months on AWS Neuron chips, where
/// `ramp` may hold an offering back in month 1, and moving costs `migration` per instance.
fn small_service(ramp: &str, migration: &str) -> String {
    format!(
        "name: mover
horizon:
  months: 6
workloads:
  - name: assistant
    kind: inference
    model: llama-3-8b
    peak_requests_per_s: 2
    prompt_tokens: 1024
    output_tokens: 64
    slo: {{ ttft_ms: 800, tpot_ms: 30 }}
    software: [neuron]
{ramp}policy:
  allowed_providers: [aws]
  migration_cost: {migration}
"
    )
}

#[test]
fn a_service_moves_only_when_the_saving_beats_the_migration_cost() {
    // Where it runs when nothing is held back.
    let (free, _, _) = solve(&small_service("", "{ usd_per_instance: 0 }"), 1e-9);
    let cheapest = placements(&free, 0);
    assert_eq!(cheapest.len(), 1, "{cheapest:?}");
    let cheapest = cheapest.into_iter().next().unwrap();
    // Hold the cheapest offering back in month 1: the plan starts elsewhere.
    let ramp = format!(
        "supply:\n  - offering: {cheapest}\n    capacity_by_month: [0, 100, 100, 100, 100, 100]\n"
    );
    let (moves, _, _) = solve(&small_service(&ramp, "{ usd_per_instance: 0 }"), 1e-9);
    assert!(!placements(&moves, 0).contains(&cheapest));
    assert!(placements(&moves, 5).contains(&cheapest), "moves for free");
    let (stays, _, _) = solve(&small_service(&ramp, "{ usd_per_instance: 1000000 }"), 1e-9);
    assert_eq!(
        placements(&stays, 0),
        placements(&stays, 5),
        "stays when dear"
    );
    assert_eq!(stays.migration_usd, 0.0);
    // The threshold: what moving saves, per instance released.
    let released: u32 = moves
        .by_month
        .iter()
        .flat_map(|m| &m.migrations)
        .map(|m| m.instances)
        .sum();
    assert!(released >= 1);
    let saving = stays.objective_usd - moves.objective_usd;
    assert!(saving > 0.0);
    let threshold = saving / f64::from(released);
    let below = format!("{{ usd_per_instance: {} }}", threshold * 0.8);
    let (cheap_move, _, _) = solve(&small_service(&ramp, &below), 1e-9);
    assert!(
        placements(&cheap_move, 5).contains(&cheapest),
        "a saving of ${saving:.0} beats a cost of ${:.0}",
        threshold * 0.8
    );
    assert!(cheap_move.migration_usd > 0.0, "the move is paid for");
    let above = format!("{{ usd_per_instance: {} }}", threshold * 1.25);
    let (no_move, _, _) = solve(&small_service(&ramp, &above), 1e-9);
    assert_eq!(
        placements(&no_move, 0),
        placements(&no_move, 5),
        "a saving of ${saving:.0} does not pay a cost of ${:.0}",
        threshold * 1.25
    );
}

/// Two services growing over four months with per-service vendor rules, resilience and a
/// vendor-share cap on `basis`.
fn ruled(basis: &str) -> String {
    format!(
        "name: ruled
horizon:
  months: 4
workloads:
  - name: chat
    kind: inference
    model: llama-3-8b
    peak_requests_per_s: 100
    demand_by_month: [100, 150, 220, 300]
    prompt_tokens: 1024
    output_tokens: 128
    slo: {{ ttft_ms: 1000, tpot_ms: 40 }}
    software: [cuda, neuron, rocm]
    min_vendors: 2
    max_vendor_fraction: 0.7
  - name: search
    kind: inference
    model: llama-3-8b
    peak_requests_per_s: 50
    growth_monthly: 0.2
    prompt_tokens: 512
    output_tokens: 64
    slo: {{ ttft_ms: 1000, tpot_ms: 40 }}
    software: [cuda, neuron, rocm]
policy:
  max_vendor_share: 0.8
  share_basis: {basis}
  resilience: {{ survive: vendor, min_served: 0.3 }}
  migration_cost: {{ hours_of_price: 24 }}
"
    )
}

#[test]
fn per_service_rules_and_resilience_hold_in_every_month() {
    for basis in ["spend", "chips", "compute"] {
        let (plan, p, c) = solve(&ruled(basis), 0.01);
        for (t, month) in plan.by_month.iter().enumerate() {
            let vendors: BTreeSet<&str> = month
                .allocations
                .iter()
                .filter(|a| a.workload == "chat")
                .map(|a| a.vendor.as_str())
                .collect();
            assert!(vendors.len() >= 2, "{basis}, month {}: {vendors:?}", t + 1);
            let search: BTreeSet<&str> = month
                .allocations
                .iter()
                .filter(|a| a.workload == "search")
                .map(|a| a.vendor.as_str())
                .collect();
            assert!(
                search.len() >= 2,
                "{basis}, month {}: resilience against losing a vendor needs a second one: {search:?}",
                t + 1
            );
        }
        // The verifier rejects the plan edited to break a rule in one month only: month 3
        // loses every allocation of one of chat's vendors (and its capacity with it).
        let cal = Calibration::builtin();
        let mut broken = plan.clone();
        let vendor = broken.by_month[2]
            .allocations
            .iter()
            .find(|a| a.workload == "chat")
            .map(|a| a.vendor.clone())
            .unwrap();
        broken.by_month[2]
            .allocations
            .retain(|a| !(a.workload == "chat" && a.vendor == vendor));
        let found = verify_months(&broken, &p, &c, &cal);
        assert!(
            found
                .iter()
                .any(|v| v.starts_with("month 3: chat") && v.contains("vendor(s)")),
            "{found:#?}"
        );
        assert!(
            found.iter().all(|v| !v.starts_with("month 1:")),
            "{found:#?}"
        );
    }
}

#[test]
fn the_verifier_catches_a_share_over_the_cap_or_a_move_not_paid_for() {
    let (plan, p, c) = solve(&ruled("chips"), 0.01);
    let cal = Calibration::builtin();
    // Month 2 doubled on its biggest vendor: over the cap (and the bill no longer adds up).
    let mut over = plan.clone();
    let month = &mut over.by_month[1];
    let top = month
        .allocations
        .iter()
        .max_by(|a, b| a.chips.cmp(&b.chips))
        .cloned()
        .unwrap();
    for _ in 0..20 {
        month.allocations.push(top.clone());
    }
    let found = verify_months(&over, &p, &c, &cal);
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("month 2: ") && v.contains("over the 80% cap")),
        "{found:#?}"
    );
    // A month whose capacity was released without the move being paid for.
    let mut unpaid = plan;
    let last = unpaid.by_month.len() - 1;
    unpaid.by_month[last]
        .allocations
        .retain(|a| a.workload != "search");
    unpaid.by_month[last].migration_usd = 0.0;
    let found = verify_months(&unpaid, &p, &c, &cal);
    assert!(
        found
            .iter()
            .any(|v| v.contains("moving capacity costs") && v.starts_with("month 4")),
        "{found:#?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// Random small horizon portfolios: whenever a plan comes back, it keeps every rule in
    /// every month (the verifier re-derives them all).
    #[test]
    fn random_horizon_plans_keep_every_rule_in_every_month(
        months in 2u32..5,
        quarters in any::<bool>(),
        peak in 20.0f64..300.0,
        growth in 0.0f64..0.3,
        min_vendors in 1u32..3,
        fraction in prop_oneof![Just(1.0), 0.6f64..0.9],
        resilience in prop_oneof![Just(None), (0.2f64..0.5).prop_map(Some)],
        basis in prop_oneof![Just("spend"), Just("chips"), Just("compute")],
        cap in prop_oneof![Just(None), (0.6f64..0.95).prop_map(Some)],
        migration_hours in 0.0f64..100.0,
        decomposed in any::<bool>(),
    ) {
        let horizon = if quarters {
            format!("months: {}\n  period: quarter", 3 * months)
        } else {
            format!("months: {months}")
        };
        let resilience = resilience
            .map(|m| format!("  resilience: {{ survive: vendor, min_served: {m} }}\n"))
            .unwrap_or_default();
        let cap = cap
            .map(|c| format!("  max_vendor_share: {c}\n"))
            .unwrap_or_default();
        let text = format!(
            "name: random
horizon:
  {horizon}
workloads:
  - name: svc
    kind: inference
    model: llama-3-8b
    peak_requests_per_s: {peak}
    growth_monthly: {growth}
    prompt_tokens: 1024
    output_tokens: 128
    slo: {{ ttft_ms: 1000, tpot_ms: 40 }}
    software: [cuda, neuron, rocm]
    min_vendors: {min_vendors}
    max_vendor_fraction: {fraction}
policy:
  share_basis: {basis}
{cap}{resilience}  migration_cost: {{ hours_of_price: {migration_hours} }}
"
        );
        let (p, c) = load(&text);
        let cal = Calibration::builtin();
        let method = if decomposed { SolveMethod::Decomposed } else { SolveMethod::Direct };
        match plan_months(&p, &c, &cal, &PlanOptions { method, ..options(0.02) }) {
            Ok(plan) => {
                let violations = verify_months(&plan, &p, &c, &cal);
                prop_assert!(violations.is_empty(), "{violations:#?}\n{text}\n{}", plan.method);
            }
            // Rules can make a portfolio impossible; anything else is a bug.
            Err(e) => prop_assert!(matches!(e, PlanError::Infeasible(_)), "{e:?}\n{text}"),
        }
    }
}

#[test]
fn quarterly_periods_plan_years_and_keep_the_rules() {
    // Four years in quarters: 16 periods; demand grows 5% a month; 1- and 3-year reservations.
    let text = "name: quarters
horizon:
  months: 48
  period: quarter
  lead_months: 2
  reservations:
    - { provider: aws, term_years: 1, discount: 0.35, source: test }
    - { provider: aws, term_years: 3, discount: 0.55, source: test }
workloads:
  - name: chat
    kind: inference
    model: llama-3-8b
    peak_requests_per_s: 40
    growth_monthly: 0.05
    prompt_tokens: 1024
    output_tokens: 128
    slo: { ttft_ms: 1000, tpot_ms: 40 }
    software: [cuda, neuron]
    min_vendors: 2
policy:
  allowed_providers: [aws]
  max_vendor_share: 0.8
  budget_usd_per_month: 2000000
";
    let (plan, p, _) = solve(text, 0.01);
    assert_eq!(plan.period_months, 3);
    assert_eq!(plan.by_month.len(), 16);
    let svc = p.inference_services().next().unwrap().1;
    for (t, q) in plan.by_month.iter().enumerate() {
        assert_eq!(q.first_month, 3 * t as u32 + 1);
        // Provisioned for the quarter's busiest (last) month.
        let last = svc.peak_in_month(3 * t as u32 + 2);
        assert!((q.demand_requests_per_s["chat"] - last).abs() < 1e-9);
    }
    // Reservations start at a quarter's first month, a whole number of quarters after purchase.
    for r in &plan.reservations {
        assert_eq!((r.bought_month - 1) % 3, 0, "{r:?}");
        assert_eq!((r.usable_from_month - 1) % 3, 0, "{r:?}");
        assert!(r.usable_from_month - r.bought_month >= 2, "{r:?}");
    }
}

#[test]
fn horizons_in_quarters_must_be_whole_quarters() {
    let base = Catalog::builtin().unwrap();
    let text = small_service("", "{ hours_of_price: 24 }")
        .replace("months: 6", "months: 10\n  period: quarter");
    let errors = portfolio::parse("t.yaml", &text, Path::new("."), &base).unwrap_err();
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter()
            .any(|e| e.contains("horizon.months") && e.contains("quarters")),
        "{text:#?}"
    );
    let bad_period = small_service("", "{ hours_of_price: 24 }")
        .replace("months: 6", "months: 6\n  period: fortnight");
    let errors = portfolio::parse("t.yaml", &bad_period, Path::new("."), &base).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("horizon.period")),
        "{errors:#?}"
    );
    let both = small_service("", "{ hours_of_price: 24, usd_per_instance: 5 }");
    let errors = portfolio::parse("t.yaml", &both, Path::new("."), &base).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("policy.migration_cost")),
        "{errors:#?}"
    );
}

#[test]
fn an_offering_that_arrives_in_month_k_is_used_from_k_never_before() {
    let (free, _, _) = solve(&small_service("", "{ usd_per_instance: 0 }"), 1e-9);
    let cheapest = placements(&free, 0).into_iter().next().unwrap();
    // It arrives in month 3 and is retired after month 5.
    let roadmap = format!(
        "roadmap:\n  - {{ offering: {cheapest}, from_month: 3, until_month: 5, source: test }}\n"
    );
    let (plan, p, c) = solve(&small_service(&roadmap, "{ usd_per_instance: 0 }"), 1e-9);
    for (t, used) in (0..6).map(|t| (t, placements(&plan, t).contains(&cheapest))) {
        assert_eq!(
            used,
            (2..5).contains(&t),
            "month {}: {:?}",
            t + 1,
            placements(&plan, t)
        );
    }
    // The verifier refuses it a month early.
    let mut early = plan.clone();
    early.by_month[1].allocations = plan.by_month[2].allocations.clone();
    let found = verify_months(&early, &p, &c, &Calibration::builtin());
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("month 2") && v.contains("roadmap")),
        "{found:#?}"
    );
}

#[test]
fn prices_that_change_move_the_plan_and_are_billed_per_month() {
    let (free, p0, c0) = solve(&small_service("", "{ usd_per_instance: 0 }"), 1e-9);
    let cheapest = placements(&free, 0).into_iter().next().unwrap();
    let price = c0.find_offering(&cheapest).unwrap().usd_per_hour.unwrap();
    // The cheapest offering's price triples from month 4: the plan leaves it then.
    let series: Vec<String> = (0..6)
        .map(|m| format!("{}", if m < 3 { price } else { 3.0 * price }))
        .collect();
    let prices = format!(
        "prices:\n  - {{ offering: {cheapest}, usd_per_hour_by_month: [{}], source: test }}\n",
        series.join(", ")
    );
    let (plan, _, _) = solve(&small_service(&prices, "{ usd_per_instance: 0 }"), 1e-9);
    assert!(placements(&plan, 0).contains(&cheapest));
    assert!(
        !placements(&plan, 5).contains(&cheapest),
        "{:?}",
        placements(&plan, 5)
    );
    // A yearly decline on everything lowers every later month's bill.
    let decline =
        "prices:\n  - { offering: \"*\", decline_per_year: 0.3, source: \"assumption\" }\n";
    let (cheaper, _, _) = solve(&small_service(decline, "{ usd_per_instance: 0 }"), 1e-9);
    assert_eq!(p0.horizon.as_ref().unwrap().months, 6);
    assert!(cheaper.by_month[5].cost_usd < free.by_month[5].cost_usd * 0.9);
    assert!((cheaper.by_month[0].cost_usd - free.by_month[0].cost_usd).abs() < 1e-6);
}

#[test]
fn bad_roadmaps_and_price_series_are_located_errors() {
    let base = Catalog::builtin().unwrap();
    let errors_of = |extra: &str| -> Vec<String> {
        let text = small_service(extra, "{ usd_per_instance: 0 }");
        match portfolio::parse("t.yaml", &text, Path::new("."), &base) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    };
    let offering = "aws/inf2.xlarge/us-east-1";
    let cases = [
        (
            format!("roadmap:\n  - {{ offering: {offering}, from_month: 9, source: s }}\n"),
            "roadmap[0].from_month",
            "outside the 6-month horizon",
        ),
        (
            format!(
                "roadmap:\n  - {{ offering: {offering}, from_month: 4, until_month: 2, source: s }}\n"
            ),
            "roadmap[0].until_month",
            "before it starts",
        ),
        (
            format!(
                "prices:\n  - {{ offering: {offering}, usd_per_hour_by_month: [1, 2], source: s }}\n"
            ),
            "prices[0].usd_per_hour_by_month",
            "the horizon has 6 months",
        ),
        (
            "prices:\n  - { offering: \"*\", decline_per_year: 3, source: s }\n".to_owned(),
            "prices[0].decline_per_year",
            "must be",
        ),
    ];
    for (extra, path, needle) in cases {
        let errors = errors_of(&extra);
        assert!(
            errors
                .iter()
                .any(|e| e.contains(path) && e.contains(needle)),
            "{extra}: {errors:#?}"
        );
        assert!(errors.iter().all(|e| e.contains("t.yaml:")), "{errors:#?}");
    }
}

#[test]
fn commitments_run_for_their_term_ramp_by_year_and_price_walking_away() {
    // Six months; an AWS commitment from month 2 for 4 months at $20k a month (a one-year ramp),
    // 10% off, half the rest owed on early exit. The service is far smaller than the amount.
    let contract = "contracts:\n  - { kind: commitment, provider: aws, from_month: 2, term_months: 4, usd_per_month_by_year: [20000], discount: 0.1, early_exit_fraction: 0.5 }\n";
    let (plan, _, _) = solve(&small_service(contract, "{ usd_per_instance: 0 }"), 1e-9);
    for (t, m) in plan.by_month.iter().enumerate() {
        let in_term = (1..5).contains(&t);
        assert_eq!(m.shortfall_usd > 0.0, in_term, "month {}: {m:?}", t + 1);
        if in_term {
            // What is unspent plus what is spent on AWS is the month's amount.
            assert!(m.shortfall_usd < 20_000.0 && m.cost_usd >= 20_000.0 - 1e-6);
        }
    }
    let c = &plan.commitments[0];
    assert!((c.owed_usd - 80_000.0).abs() < 1e-6, "{c:?}");
    assert!(c.utilization > 0.0 && c.utilization < 1.0);
    let exit = c.exit_cost_after_period.as_ref().unwrap();
    // After month 1 the whole term is still ahead; after month 3, two months of it.
    assert!((exit[0] - 0.5 * 80_000.0).abs() < 1e-6, "{exit:?}");
    assert!((exit[2] - 0.5 * 40_000.0).abs() < 1e-6, "{exit:?}");
    assert_eq!(exit[5], 0.0);
}

#[test]
fn commitment_terms_are_validated_with_locations() {
    let base = Catalog::builtin().unwrap();
    let errors_of = |contract: &str| -> Vec<String> {
        let text = small_service(
            &format!("contracts:\n  - {contract}\n"),
            "{ usd_per_instance: 0 }",
        );
        match portfolio::parse("t.yaml", &text, Path::new("."), &base) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    };
    let cases = [
        (
            "{ kind: commitment, provider: aws, term_months: 12, usd_per_month_by_year: [1000, 2000] }",
            "lists 2 years, the 12-month term has 1",
        ),
        (
            "{ kind: commitment, provider: aws, usd_per_month: 5, usd_per_month_by_year: [1000] }",
            "not both",
        ),
        (
            "{ kind: commitment, provider: aws, usd_per_month: 5000, from_month: 9 }",
            "outside the 6-month horizon",
        ),
        (
            "{ kind: credits, provider: aws, usd: 5000, valid_months: 3, term_months: 4 }",
            "not a field of a credits contract",
        ),
    ];
    for (contract, needle) in cases {
        let errors = errors_of(contract);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("contracts[0]") && e.contains(needle)),
            "{contract}: {errors:#?}"
        );
    }
}

#[test]
fn placements_over_time_keep_their_minimum_share() {
    let text = ruled("spend").replace(
        "  migration_cost: { hours_of_price: 24 }",
        "  migration_cost: { hours_of_price: 24 }\n  min_share_per_placement: 0.3",
    );
    let (plan, p, _) = solve(&text, 0.01);
    for (t, month) in plan.by_month.iter().enumerate() {
        for (w, need) in &month.demand_requests_per_s {
            let mut by_chip: std::collections::BTreeMap<&str, f64> = Default::default();
            for a in month.allocations.iter().filter(|a| &a.workload == w) {
                *by_chip.entry(a.chip.as_str()).or_insert(0.0) += a.requests_per_s.unwrap_or(0.0);
            }
            for (chip, rps) in by_chip {
                assert!(
                    rps >= 0.3 * need * (1.0 - 1e-6),
                    "month {}: {w} on {chip}: {rps} of {need}",
                    t + 1
                );
            }
        }
    }
    assert!(p.policy.min_share_per_placement.is_some());
}

#[test]
fn the_churn_cap_limits_what_a_service_releases_per_period() {
    // Moving is free, but no service may release more than 20% of its instances a month.
    let big = |ramp: &str| {
        small_service(ramp, "{ usd_per_instance: 0 }")
            .replace("peak_requests_per_s: 2", "peak_requests_per_s: 200")
    };
    let (free, _, _) = solve(&big(""), 1e-6);
    let cheapest = free.by_month[0]
        .allocations
        .iter()
        .max_by_key(|a| a.instances)
        .map(|a| a.offering.clone())
        .unwrap();
    let ramp = format!(
        "supply:\n  - offering: {cheapest}\n    capacity_by_month: [0, 1000, 1000, 1000, 1000, 1000]\n"
    );
    let text = big(&ramp).replace("  migration_cost:", "  max_churn: 0.2\n  migration_cost:");
    let (plan, _, _) = solve(&text, 1e-6);
    let held = |m: &chipmix_plan::multiperiod::Month| -> u32 {
        m.allocations.iter().map(|a| a.instances).sum()
    };
    for t in 1..plan.by_month.len() {
        let released: u32 = plan.by_month[t]
            .migrations
            .iter()
            .map(|m| m.instances)
            .sum();
        let before = held(&plan.by_month[t - 1]);
        assert!(
            f64::from(released) <= 0.2 * f64::from(before) + 1e-9,
            "month {}: released {released} of {before}",
            t + 1
        );
    }
    // Without the cap the whole service moves in month 2.
    let (uncapped, _, _) = solve(&text.replace("  max_churn: 0.2\n", ""), 1e-6);
    let moved: u32 = uncapped.by_month[1]
        .migrations
        .iter()
        .map(|m| m.instances)
        .sum();
    assert!(f64::from(moved) > 0.2 * f64::from(held(&uncapped.by_month[0])));
}

/// A generated portfolio over four months (growth, reservations, a ramped commitment, credits, the
/// vendor cap, per-service vendor rules, migration cost, a churn cap) planned both ways: the
/// decomposed plan keeps every rule in every month, and each method's proven bound lies below
/// the other's plan — both bounds are valid for the same MILP.
#[test]
fn decomposed_plans_over_time_keep_every_rule_and_agree_with_branch_and_bound() {
    let base = Catalog::builtin().unwrap();
    let cal = Calibration::builtin();
    let shape = synthetic::Shape {
        workloads: 6,
        training_fraction: 0.1,
        vendor_cap: Some(0.6),
        with_contracts: true,
        resilience: None,
    };
    let p = synthetic::over_time(synthetic::portfolio(42, &shape), 4, 1, 42);
    let solve = |method| {
        let plan = plan_months(
            &p,
            &base,
            &cal,
            &PlanOptions {
                method,
                time_limit_s: 5.0,
                ..options(0.01)
            },
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let violations = verify_months(&plan, &p, &base, &cal);
        assert!(violations.is_empty(), "{}: {violations:#?}", plan.method);
        plan
    };
    let decomposed = solve(SolveMethod::Decomposed);
    let direct = solve(SolveMethod::Direct);
    assert!(
        decomposed.method.starts_with("decomposed"),
        "{}",
        decomposed.method
    );
    assert_eq!(direct.method, "direct");
    let slack = 1e-6 * direct.objective_usd;
    assert!(decomposed.bound_usd <= direct.objective_usd + slack);
    assert!(direct.bound_usd <= decomposed.objective_usd + slack);
    assert_eq!(decomposed.by_month.len(), 4);
}
