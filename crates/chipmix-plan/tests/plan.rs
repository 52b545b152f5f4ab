use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::synthetic::{self, Shape};
use chipmix_plan::{PlanError, PlanOptions, SolveMethod, plan, verify::verify};
use chipmix_workload::{FailureScope, Resilience, portfolio};
use proptest::prelude::*;
use std::path::Path;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(text: &str) -> (chipmix_workload::Portfolio, Catalog) {
    let base = Catalog::builtin().unwrap();
    let p = portfolio::parse("t.yaml", text, Path::new("."), &base)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .portfolio;
    let c = p.effective_catalog(&base).unwrap();
    (p, c)
}

fn quick() -> PlanOptions {
    PlanOptions {
        time_limit_s: 30.0,
        relative_gap: 1e-6,
        analysis: false,
        method: Default::default(),
    }
}

#[test]
fn frontier_lab_is_optimal_verified_diversified_and_capped() {
    let base = Catalog::builtin().unwrap();
    let p = portfolio::load(&root().join("examples/frontier-lab.yaml"), &base)
        .unwrap()
        .portfolio;
    let c = p.effective_catalog(&base).unwrap();
    let cal = Calibration::builtin();
    let plan = plan(&p, &c, &cal, &PlanOptions::default()).unwrap();
    assert_eq!(plan.status, chipmix_plan::Status::Optimal);
    assert!(plan.gap <= 1e-4 + 1e-9);
    assert!(plan.bound_usd_per_month <= plan.objective_usd_per_month);
    assert!(verify(&plan, &p, &c, &cal).is_empty());
    let vendors: std::collections::BTreeSet<_> =
        plan.allocations.iter().map(|a| a.vendor.as_str()).collect();
    assert!(vendors.len() >= 2, "{vendors:?}");
    for (v, s) in &plan.vendor_shares {
        assert!(*s <= 0.6 + 1e-6, "{v} has {s}");
    }
    // Every workload is in the plan; the analysis ran.
    for w in &p.workloads {
        assert!(
            plan.allocations.iter().any(|a| a.workload == w.name),
            "{}",
            w.name
        );
    }
    assert_eq!(plan.baselines.len(), 2);
    assert!(
        plan.rule_costs
            .iter()
            .any(|r| r.rule.starts_with("max_vendor_share"))
    );
}

const MIX: &str = r#"
workloads:
  - name: chat
    kind: inference
    model: llama-3-70b
    peak_requests_per_s: PEAK
    prompt_tokens: 1024
    output_tokens: 256
    slo: { ttft_ms: 2000, tpot_ms: 50 }
    software: [cuda]
policy:
  allowed_providers: [lab]
offerings:
  - { provider: lab, instance_type: h100x8, region: r1, chip: h100, chips_per_instance: 8, usd_per_hour: 40, capacity_instances: H100CAP }
  - { provider: lab, instance_type: a100x8, region: r1, chip: a100-80gb, chips_per_instance: 8, usd_per_hour: 20, capacity_instances: A100CAP }
  - { provider: lab, instance_type: l40sx8, region: r1, chip: l40s, chips_per_instance: 8, usd_per_hour: 16, capacity_instances: L40SCAP }
"#;

fn mix(peak: f64, h100: u32, a100: u32, l40s: u32) -> String {
    MIX.replace("PEAK", &peak.to_string())
        .replace("H100CAP", &h100.to_string())
        .replace("A100CAP", &a100.to_string())
        .replace("L40SCAP", &l40s.to_string())
}

#[test]
fn mixing_chip_types_beats_every_single_type() {
    // Scarce H100s and H200s: each single chip type either cannot serve the demand or costs
    // more; the planner mixes.
    let cal = Calibration::builtin();
    let peak = 60.0;
    let (p, c) = load(&mix(peak, 2, 100, 100));
    let mixed = plan(&p, &c, &cal, &quick()).unwrap();
    assert!(verify(&mixed, &p, &c, &cal).is_empty());
    let chips: std::collections::BTreeSet<_> =
        mixed.allocations.iter().map(|a| a.chip.clone()).collect();
    assert!(chips.len() >= 2, "the optimum mixes chip types: {chips:?}");
    for (p5, p5en, p4) in [(2, 0, 0), (0, 100, 0), (0, 0, 100)] {
        let (p1, c1) = load(&mix(peak, p5, p5en, p4));
        match plan(&p1, &c1, &cal, &quick()) {
            Ok(single) => assert!(
                single.objective_usd_per_month > mixed.objective_usd_per_month + 1.0,
                "single type {p5}/{p5en}/{p4}: {} vs mixed {}",
                single.objective_usd_per_month,
                mixed.objective_usd_per_month
            ),
            Err(PlanError::Infeasible(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

const COMMIT: &str = r#"
workloads:
  - name: api
    kind: inference
    model: llama-3-8b
    peak_requests_per_s: 200
    prompt_tokens: 1024
    output_tokens: 256
    slo: { ttft_ms: 2000, tpot_ms: 50 }
    software: [cuda]
policy:
  allowed_providers: [aws, gcp]
CONTRACTS
"#;

#[test]
fn an_underused_commitment_pulls_work_to_its_provider() {
    let cal = Calibration::builtin();
    let (p0, c0) = load(&COMMIT.replace("CONTRACTS", ""));
    let free = plan(&p0, &c0, &cal, &quick()).unwrap();
    let aws_share = |pl: &chipmix_plan::Plan| {
        pl.spend_by_provider.get("aws").copied().unwrap_or(0.0) / pl.spend_usd_per_month
    };
    assert!(
        aws_share(&free) < 0.5,
        "without a commitment GCP's H100s are cheaper: {:?}",
        free.spend_by_provider
    );
    let commitment = 0.6 * free.objective_usd_per_month;
    let (p1, c1) = load(&COMMIT.replace(
        "CONTRACTS",
        &format!(
            "contracts:\n  - {{kind: commitment, provider: aws, usd_per_month: {commitment}}}\n"
        ),
    ));
    let committed = plan(&p1, &c1, &cal, &quick()).unwrap();
    assert!(verify(&committed, &p1, &c1, &cal).is_empty());
    assert!(
        aws_share(&committed) > aws_share(&free) + 0.2,
        "{:?}",
        committed.spend_by_provider
    );
    // Moving work there beats paying for the commitment and running elsewhere.
    let naive = free.objective_usd_per_month + commitment;
    assert!(committed.objective_usd_per_month < naive - 1.0);
}

#[test]
fn infeasible_portfolios_name_the_workload_and_the_constraint() {
    let cal = Calibration::builtin();
    // No Neuron offering can serve a 70B model within a 20 ms first token.
    let (p, c) = load(
        "workloads:\n  - {name: chat-70b, kind: inference, model: llama-3-70b, peak_requests_per_s: 10, prompt_tokens: 512, output_tokens: 128, slo: {ttft_ms: 20, tpot_ms: 50}, software: [neuron]}\npolicy: {allowed_providers: [aws]}\n",
    );
    match plan(&p, &c, &cal, &quick()) {
        Err(PlanError::Infeasible(r)) => {
            assert!(
                r[0].starts_with("chat-70b: no offering can run it"),
                "{r:?}"
            );
            assert!(
                r[0].contains("cannot meet the SLO") && r[0].contains("run another software stack"),
                "{r:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Capacity too small for the demand: the elastic relaxation names it.
    let (p, c) = load(&mix(500.0, 1, 0, 0));
    match plan(&p, &c, &cal, &quick()) {
        Err(PlanError::Infeasible(r)) => {
            assert!(
                r.iter().any(|x| x.contains("chat") && x.contains("req/s")),
                "{r:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A budget below the cheapest plan.
    let text =
        mix(20.0, 10, 10, 10).replace("policy:\n", "policy:\n  budget_usd_per_month: 1000\n");
    let (p, c) = load(&text);
    match plan(&p, &c, &cal, &quick()) {
        Err(PlanError::Infeasible(r)) => assert!(r.iter().any(|x| x.contains("budget")), "{r:?}"),
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every plan of a random portfolio passes the independent verifier, and loosening the
    /// vendor cap never raises the optimal cost.
    #[test]
    fn random_portfolios_verify_and_looser_caps_never_cost_more(
        seed in 0u64..10_000,
        n in 1usize..7,
        cap in 0.5f64..0.9,
        contracts in any::<bool>(),
    ) {
        let cal = Calibration::builtin();
        let c = Catalog::builtin().unwrap();
        let shape = |vendor_cap| Shape { workloads: n, training_fraction: 0.25, vendor_cap, with_contracts: contracts, resilience: None };
        let mut last: Option<f64> = None;
        for vendor_cap in [Some(cap), Some((cap + 0.2).min(1.0)), None] {
            let p = synthetic::portfolio(seed, &shape(vendor_cap));
            match plan(&p, &c, &cal, &quick()) {
                Ok(pl) => {
                    let violations = verify(&pl, &p, &c, &cal);
                    prop_assert!(violations.is_empty(), "{violations:?}");
                    if let Some(prev) = last {
                        prop_assert!(pl.objective_usd_per_month <= prev * (1.0 + 1e-5) + 1e-6,
                            "looser cap {vendor_cap:?} costs {} > {prev}", pl.objective_usd_per_month);
                    }
                    last = Some(pl.objective_usd_per_month);
                }
                Err(PlanError::Infeasible(_)) => {
                    // A tighter cap may be infeasible; a looser one then may not be compared.
                    last = None;
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// With `policy.resilience`, every plan of a random portfolio survives the loss of any one
    /// vendor, provider or region as the independent verifier re-derives it.
    #[test]
    fn resilient_plans_of_random_portfolios_pass_the_verifier(
        seed in 0u64..10_000,
        n in 1usize..6,
        scope in 0usize..3,
        min_served in 0.2f64..0.8,
    ) {
        let cal = Calibration::builtin();
        let c = Catalog::builtin().unwrap();
        let survive = [FailureScope::Vendor, FailureScope::Provider, FailureScope::Region][scope];
        let shape = Shape {
            workloads: n,
            training_fraction: 0.25,
            vendor_cap: None,
            with_contracts: seed % 2 == 0,
            resilience: Some(Resilience { survive, min_served }),
        };
        let p = synthetic::portfolio(seed, &shape);
        match plan(&p, &c, &cal, &quick()) {
            Ok(pl) => {
                let violations = verify(&pl, &p, &c, &cal);
                prop_assert!(violations.is_empty(), "{violations:?}");
                for r in chipmix_plan::verify::survival(&pl, &p, &c, &cal, survive) {
                    prop_assert!(r.served_fraction() >= min_served - 1e-6, "{r:?}");
                }
            }
            Err(PlanError::Infeasible(reasons)) => {
                // Only when some service runs in a single failure domain.
                prop_assert!(!reasons.is_empty());
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The decomposition's bound is valid and its plan verified: its bound never exceeds the
    /// direct solve's optimum, its plan costs at most the requested gap above it, and the
    /// direct bound never exceeds the decomposed plan's cost.
    #[test]
    fn decomposed_and_direct_solves_agree(
        seed in 0u64..10_000,
        n in 2usize..14,
        cap in proptest::option::of(0.45f64..0.9),
        contracts in any::<bool>(),
        wide in any::<bool>(),
        resilient in proptest::option::of(0usize..3),
    ) {
        let cal = Calibration::builtin();
        let base = Catalog::builtin().unwrap();
        let c = if wide { synthetic::catalog(&base, 120, seed) } else { base };
        // Resilience rows make a block HiGHS prices (the general path).
        let resilience = resilient.map(|scope| Resilience {
            survive: [FailureScope::Vendor, FailureScope::Provider, FailureScope::Region][scope],
            min_served: 0.3,
        });
        let shape = Shape { workloads: n, training_fraction: 0.2, vendor_cap: cap, with_contracts: contracts, resilience };
        let p = synthetic::portfolio(seed, &shape);
        let gap = 0.005;
        let options = |method| PlanOptions { relative_gap: gap, method, ..quick() };
        let direct = plan(&p, &c, &cal, &PlanOptions { relative_gap: 1e-6, ..options(SolveMethod::Direct) });
        let decomposed = plan(&p, &c, &cal, &options(SolveMethod::Decomposed));
        match (direct, decomposed) {
            (Ok(d), Ok(w)) => {
                let violations = verify(&w, &p, &c, &cal);
                prop_assert!(violations.is_empty(), "{violations:?}");
                let tol = 1e-6 * d.objective_usd_per_month.abs().max(1.0);
                prop_assert!(w.bound_usd_per_month <= d.objective_usd_per_month + tol,
                    "decomposed bound {} above the optimum {} ({})", w.bound_usd_per_month, d.objective_usd_per_month, w.method);
                prop_assert!(d.bound_usd_per_month <= w.objective_usd_per_month + tol);
                prop_assert!(w.objective_usd_per_month <= d.objective_usd_per_month * (1.0 + gap) + tol + d.objective_usd_per_month * d.gap,
                    "decomposed {} vs direct {} ({})", w.objective_usd_per_month, d.objective_usd_per_month, w.method);
            }
            (Err(PlanError::Infeasible(_)), Err(PlanError::Infeasible(_))) => {}
            (d, w) => prop_assert!(false, "direct {:?} / decomposed {:?}", d.map(|x| x.objective_usd_per_month), w.map(|x| x.objective_usd_per_month)),
        }
    }
}

/// From `DECOMPOSE_FROM_WORKLOADS` on, the default solve is the decomposition: a generated
/// portfolio of 200 workloads over a 150-offering catalog is planned that way, to the requested
/// gap against its own proven bound, and the verifier accepts the plan.
#[test]
fn large_portfolios_are_decomposed_verified_and_within_the_gap() {
    let cal = Calibration::builtin();
    let c = synthetic::catalog(&Catalog::builtin().unwrap(), 150, 3);
    let shape = Shape {
        workloads: 200,
        training_fraction: 0.1,
        vendor_cap: Some(0.6),
        with_contracts: true,
        resilience: None,
    };
    let p = synthetic::portfolio(5, &shape);
    let options = PlanOptions {
        relative_gap: 0.005,
        ..quick()
    };
    let pl = plan(&p, &c, &cal, &options).unwrap();
    assert!(pl.method.starts_with("decomposed"), "{}", pl.method);
    assert_eq!(pl.status, chipmix_plan::Status::Optimal);
    assert!(pl.gap <= 0.005, "gap {}", pl.gap);
    assert!(pl.bound_usd_per_month <= pl.objective_usd_per_month);
    let violations = verify(&pl, &p, &c, &cal);
    assert!(violations.is_empty(), "{violations:?}");
}

/// `policy.min_share_per_placement`: no service keeps a chip type carrying less than the share,
/// the plan verifies, the report prices the rule, and the verifier catches a sliver added back.
#[test]
fn placements_below_the_minimum_share_are_not_made() {
    let text = std::fs::read_to_string(root().join("examples/frontier-lab.yaml"))
        .unwrap()
        .replace(
            "  headroom: 0.2",
            "  headroom: 0.2\n  min_share_per_placement: 0.25",
        );
    let (p, c) = load(&text);
    let cal = Calibration::builtin();
    let options = PlanOptions {
        analysis: true,
        ..PlanOptions::default()
    };
    let plan = plan(&p, &c, &cal, &options).unwrap();
    assert!(verify(&plan, &p, &c, &cal).is_empty());
    for (w, svc) in p.inference_services() {
        let need = svc.peak_requests_per_s * (1.0 + svc.headroom);
        let mut by_chip: std::collections::BTreeMap<&str, f64> = Default::default();
        for a in plan.allocations.iter().filter(|a| a.workload == w.name) {
            *by_chip.entry(a.chip.as_str()).or_insert(0.0) += a.requests_per_s.unwrap_or(0.0);
        }
        for (chip, rps) in by_chip {
            assert!(
                rps >= 0.25 * need * (1.0 - 1e-6),
                "{}: {chip} {rps} of {need}",
                w.name
            );
        }
    }
    assert!(
        plan.rule_costs
            .iter()
            .any(|r| r.rule.starts_with("min_share_per_placement 25%")),
        "{:?}",
        plan.rule_costs
    );
    // Cut one chip type of a service down to a single instance: a sliver the rule forbids.
    let mut sliver = plan.clone();
    let spread = p.inference_services().find_map(|(w, _)| {
        let chips: std::collections::BTreeSet<&str> = plan
            .allocations
            .iter()
            .filter(|a| a.workload == w.name)
            .map(|a| a.chip.as_str())
            .collect();
        (chips.len() >= 2).then(|| w.name.clone())
    });
    let service = spread.expect("a service with min_vendors: 2 spans two chip types");
    let a = sliver
        .allocations
        .iter_mut()
        .filter(|a| a.workload == service)
        .min_by_key(|a| a.instances)
        .unwrap();
    let per_instance = a.replicas.unwrap() / a.instances;
    a.chips /= a.instances;
    a.replicas = Some(per_instance.max(1));
    a.instances = 1;
    let found = verify(&sliver, &p, &c, &cal);
    assert!(
        found.iter().any(|v| v.contains("min_share_per_placement")),
        "{found:#?}"
    );
}
