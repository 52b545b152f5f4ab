//! `chipmix leverage`, `stress`, `sweep`, `montecarlo` and `export` as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chipmix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chipmix"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("chipmix runs")
}

fn ok_json(args: &[&str]) -> serde_json::Value {
    let out = chipmix(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn leverage_json_has_a_row_per_vendor_and_provider_in_the_plan() {
    let plan = ok_json(&[
        "plan",
        "examples/frontier-lab.yaml",
        "--format",
        "json",
        "--no-analysis",
    ]);
    let v = ok_json(&[
        "leverage",
        "examples/frontier-lab.yaml",
        "--format",
        "json",
        "--no-break-even",
    ]);
    let rows = v["rows"].as_array().unwrap();
    for a in plan["allocations"].as_array().unwrap() {
        for (kind, name) in [("vendor", &a["vendor"]), ("provider", &a["provider"])] {
            let row = rows
                .iter()
                .find(|r| r["entity"]["kind"] == kind && &r["entity"]["name"] == name)
                .unwrap_or_else(|| panic!("no {kind} {name}"));
            assert!(row["walk_away"]["delta_usd_per_month"].is_number(), "{row}");
        }
    }
    assert!(v["method"].as_str().unwrap().contains("bisection"));
}

#[test]
fn stress_lists_the_library_and_reports_both_modes() {
    let out = chipmix(&["stress", "--list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "nvidia-shortage-50",
        "aws-region-outage",
        "price-hike-30",
        "demand-2x",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    let v = ok_json(&[
        "stress",
        "examples/frontier-lab.yaml",
        "--scenario",
        "demand-2x",
        "--format",
        "json",
    ]);
    let services = v["fixed_plan"]["services"].as_array().unwrap();
    assert!(services.iter().any(|s| s["slo_holds"] == false), "{v}");
    assert!(
        v["replan"]["cost_usd_per_month"].as_f64().unwrap()
            > v["base_cost_usd_per_month"].as_f64().unwrap()
    );
    let v = ok_json(&[
        "stress",
        "examples/frontier-lab.yaml",
        "--scenario",
        "aws-region-outage",
        "--fixed-plan",
        "--format",
        "json",
    ]);
    assert!(v["replan"].is_null());
}

#[test]
fn stress_with_a_bad_scenario_is_bad_input() {
    let out = chipmix(&[
        "stress",
        "examples/frontier-lab.yaml",
        "--scenario",
        "nvidia-shortage-5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean `nvidia-shortage-50`"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.yaml");
    std::fs::write(
        &path,
        "name: s\nshocks:\n  - capacity: 0.5\n    vendor: nvidya\n",
    )
    .unwrap();
    let out = chipmix(&[
        "stress",
        "examples/frontier-lab.yaml",
        "--scenario",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":4:") && err.contains("nvidya"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn sweep_prints_a_cost_curve_and_writes_its_chart() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("curve.svg");
    let v = ok_json(&[
        "sweep",
        "examples/frontier-lab.yaml",
        "--param",
        "policy.max_vendor_share",
        "--from",
        "0.6",
        "--to",
        "1.0",
        "--steps",
        "3",
        "--format",
        "json",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let costs: Vec<f64> = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["cost_usd_per_month"].as_f64().unwrap())
        .collect();
    assert_eq!(costs.len(), 3);
    // Looser caps never cost more (within the solver's gap).
    assert!(
        costs.windows(2).all(|w| w[1] <= w[0] * (1.0 + 2e-4)),
        "{costs:?}"
    );
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("policy.max_vendor_share"));

    // A swept value the portfolio rejects is bad input, located in the file.
    let out = chipmix(&[
        "sweep",
        "examples/frontier-lab.yaml",
        "--param",
        "policy.max_vendor_share",
        "--from",
        "0.2",
        "--to",
        "1.4",
        "--steps",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("frontier-lab.yaml:") && err.contains("policy.max_vendor_share"),
        "{err}"
    );
}

#[test]
fn montecarlo_is_the_same_for_the_same_seed() {
    let args = [
        "montecarlo",
        "examples/frontier-lab.yaml",
        "--samples",
        "1000",
        "--replan",
        "40",
        "--seed",
        "3",
        "--format",
        "json",
    ];
    let a = ok_json(&args);
    let b = ok_json(&args);
    assert_eq!(a, b);
    assert_eq!(a["fixed_plan"]["samples"], 1000);
    assert_eq!(a["replan"]["samples"], 40);
    let out = chipmix(&[
        "montecarlo",
        "examples/frontier-lab.yaml",
        "--region-outage-p",
        "1.5",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn export_writes_validated_files_and_refuses_a_stale_plan() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deploy");
    let o = chipmix(&[
        "export",
        "kueue",
        "examples/frontier-lab.yaml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let cq = std::fs::read_to_string(out.join("20-cluster-queues.yaml")).unwrap();
    assert!(cq.contains("kind: ClusterQueue") && cq.contains("apiVersion: kueue.x-k8s.io/v1beta2"));
    assert!(out.join("workloads/pretrain-405b.yaml").exists());

    // A plan made for another portfolio is refused before anything is written.
    let plan = dir.path().join("plan.json");
    let p = chipmix(&[
        "plan",
        "examples/startup.yaml",
        "--format",
        "json",
        "--no-analysis",
    ]);
    std::fs::write(&plan, &p.stdout).unwrap();
    let sky = dir.path().join("sky");
    let o = chipmix(&[
        "export",
        "skypilot",
        "examples/frontier-lab.yaml",
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        sky.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not fit"));
    assert!(!sky.exists());

    // The matching saved plan exports.
    let p = chipmix(&[
        "plan",
        "examples/frontier-lab.yaml",
        "--format",
        "json",
        "--no-analysis",
    ]);
    std::fs::write(&plan, &p.stdout).unwrap();
    let o = chipmix(&[
        "export",
        "skypilot",
        "examples/frontier-lab.yaml",
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        sky.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        std::fs::read_to_string(sky.join("pretrain-405b.yaml"))
            .unwrap()
            .contains("num_nodes")
    );
    // Not JSON at all: bad input with a location.
    std::fs::write(&plan, "{ not json").unwrap();
    let o = chipmix(&[
        "export",
        "kueue",
        "examples/frontier-lab.yaml",
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        sky.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("plan.json:1:"));
}

#[test]
fn simulate_runs_every_policy_and_is_deterministic() {
    let args = [
        "simulate",
        "examples/startup.yaml",
        "--trace",
        "generated",
        "--jobs-per-hour",
        "20",
        "--days",
        "2",
        "--spot-preemptions-per-hour",
        "0.05",
        "--outage",
        "aws/us-east-1@1+3",
        "--format",
        "json",
    ];
    let a = ok_json(&args);
    let b = ok_json(&args);
    assert_eq!(a, b);
    let reports = a.as_array().unwrap();
    assert_eq!(reports.len(), 4);
    for r in reports {
        assert!(r["training"]["jobs_arrived"].as_u64().unwrap() > 0);
        assert!(r["total_cost_usd"].as_f64().unwrap() > 0.0);
    }
    let out = chipmix(&["simulate", "examples/startup.yaml", "--outage", "mars@1+2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--outage"));
}

#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_chipmix"))
        .args(["catalog", "offerings"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
}

/// Every shipped example loads; the one over 36 months plans in quarters and verifies (the
/// command fails on a plan the verifier rejects), with the arriving chip only from its month.
#[test]
fn every_example_validates_and_the_36_month_example_plans() {
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        let out = chipmix(&["validate", path.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let plan = ok_json(&["plan", "examples/roadmap-36m.yaml", "--format", "json"]);
    assert_eq!(plan["period_months"], 3);
    let periods = plan["by_month"].as_array().unwrap();
    assert_eq!(periods.len(), 12);
    for q in periods {
        let first = q["first_month"].as_u64().unwrap();
        let b200 = q["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["offering"] == "aws/p6-b200.48xlarge/us-east-1");
        assert!(!b200 || first >= 13, "B200 before it arrives: {q}");
    }
}

/// `export --period`: a horizon portfolio exports the fleet of the period asked for (the first
/// by default); a period past the horizon, or `--period` on a single-period portfolio, exits 2.
#[test]
fn export_writes_the_fleet_of_a_chosen_period() {
    let fixture = "crates/chipmix-cli/tests/fixtures/horizon-small.yaml";
    let out = std::env::temp_dir().join(format!("chipmix-period-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = |period: &str| {
        chipmix(&[
            "export",
            "kueue",
            fixture,
            "--out",
            out.to_str().unwrap(),
            "--period",
            period,
        ])
    };
    let ok = run("4");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stderr).contains("period 4 of 4"));
    let queues = std::fs::read_to_string(out.join("20-cluster-queues.yaml")).unwrap();
    assert!(queues.contains("nominalQuota"), "{queues}");
    let past = run("5");
    assert_eq!(past.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&past.stderr).contains("the plan has 4 period(s)"));
    let single = chipmix(&[
        "export",
        "kueue",
        "examples/startup.yaml",
        "--out",
        out.to_str().unwrap(),
        "--period",
        "1",
    ]);
    assert_eq!(single.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&out);
}

/// Monte Carlo of a portfolio with a `horizon:` shocks the plan over time period by period
/// (and no longer falls back to its single-period version).
#[test]
fn monte_carlo_of_a_horizon_portfolio_is_over_time() {
    let out = chipmix(&[
        "montecarlo",
        "crates/chipmix-cli/tests/fixtures/horizon-small.yaml",
        "--samples",
        "50",
        "--replan",
        "2",
        "--format",
        "json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("single-period version"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["horizon_months"], 4, "{v}");
    assert_eq!(v["period_months"], 1, "{v}");
    assert_eq!(
        v["fixed_plan"]["mean_unserved_by_period"]
            .as_array()
            .map(Vec::len),
        Some(4),
        "{v}"
    );
    assert!(
        v["replan"]["how"]
            .as_str()
            .unwrap()
            .contains("period by period"),
        "{v}"
    );
}

/// A sweep of a portfolio with a `horizon:` plans every value over time: the cost it reports
/// is the plan over time's total (the same as `chipmix plan` at that value), and more headroom
/// never costs less.
#[test]
fn a_sweep_of_a_horizon_portfolio_plans_each_value_over_time() {
    let file = "crates/chipmix-cli/tests/fixtures/horizon-small.yaml";
    let sweep = ok_json(&[
        "sweep",
        file,
        "--param",
        "policy.headroom",
        "--from",
        "0",
        "--to",
        "0.4",
        "--steps",
        "3",
        "--format",
        "json",
    ]);
    assert_eq!(sweep["horizon_months"], 4, "{sweep}");
    let totals: Vec<f64> = sweep["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["cost_over_horizon_usd"]
                .as_f64()
                .expect("a plan over time")
        })
        .collect();
    assert_eq!(totals.len(), 3);
    // Each plan is within its 1% gap of optimal, so a larger headroom may show at most that
    // much less.
    for w in totals.windows(2) {
        assert!(w[1] >= w[0] * 0.99, "{totals:?}");
    }
    assert!(totals[2] > totals[0] * 1.2, "{totals:?}");
    let plan = ok_json(&["plan", file, "--format", "json"]);
    let planned = plan["objective_usd"].as_f64().unwrap();
    assert!(
        (totals[0] - planned).abs() <= 0.01 * planned,
        "sweep at headroom 0: {}, plan: {planned}",
        totals[0]
    );
}

/// A period's fleet is exported on the catalog as it stands in that period: a SkyPilot
/// fallback never names an offering the roadmap has not brought yet.
#[test]
fn exported_fallbacks_are_offerings_there_in_that_period() {
    let dir = std::env::temp_dir().join(format!("chipmix-roadmap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/horizon-small.yaml"),
    )
    .unwrap();
    let arrives = "aws/p6-b200.48xlarge/us-east-1";
    let text = format!(
        "{base}\nroadmap:\n  - {{ offering: {arrives}, from_month: 3, source: \"test\" }}\n"
    );
    let file = dir.join("roadmap.yaml");
    std::fs::write(&file, text).unwrap();
    let export = |period: &str| -> String {
        let out = dir.join(format!("p{period}"));
        let run = chipmix(&[
            "export",
            "skypilot",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--period",
            period,
        ]);
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        std::fs::read_dir(&out)
            .unwrap()
            .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
            .collect()
    };
    let first = export("1");
    assert!(first.contains("instance_type"), "{first}");
    assert!(
        !first.contains("p6-b200.48xlarge"),
        "a fallback before the offering arrives: {first}"
    );
    // From its month on it may be named (the built-in catalog's only B200 offering on AWS).
    let last = export("4");
    assert!(last.contains("instance_type"), "{last}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Leverage on a portfolio with a `horizon:` compares plans over time: today's cost is the plan
/// over time's total spread over its months, walking away from NVIDIA costs more (Inferentia
/// alone serves the traffic at a higher price), and the only provider cannot be left.
#[test]
fn leverage_of_a_horizon_portfolio_compares_plans_over_time() {
    let file = "crates/chipmix-cli/tests/fixtures/horizon-small.yaml";
    let report = ok_json(&["leverage", file, "--format", "json"]);
    let plan = ok_json(&["plan", file, "--format", "json"]);
    assert_eq!(report["horizon_months"], 4, "{report}");
    let total = plan["objective_usd"].as_f64().unwrap();
    let base = report["base_cost_usd_per_month"].as_f64().unwrap();
    assert!(
        (base - total / 4.0).abs() <= 0.01 * base,
        "{base} vs {total}"
    );
    let row = |kind: &str, name: &str| -> serde_json::Value {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["entity"]["kind"] == kind && r["entity"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}: {report}"))
            .clone()
    };
    let nvidia = row("vendor", "nvidia");
    let delta = nvidia["walk_away"]["delta_usd_per_month"].as_f64().unwrap();
    assert!(delta > 0.05 * base, "{nvidia}");
    assert!(
        nvidia["break_even"].is_null(),
        "break-even is off over time unless asked: {nvidia}"
    );
    let aws = row("provider", "aws");
    assert!(aws["walk_away"]["cost_usd_per_month"].is_null(), "{aws}");
    assert_eq!(aws["walk_away"]["breaks"][0], "assistant-8b", "{aws}");
    // Spend on the vendors adds up to what the plan over time spends, per month.
    let spend: f64 = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["entity"]["kind"] == "vendor")
        .map(|r| r["spend_usd_per_month"].as_f64().unwrap())
        .sum();
    let billed: f64 = plan["by_month"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["spend_by_vendor"].as_object().unwrap().values())
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((spend - billed / 4.0).abs() < 1.0, "{spend} vs {billed}");
}

/// A stress scenario on a portfolio with a `horizon:` holds for the whole horizon: today's plan
/// is kept period by period (each fleet against that period's demand), the worst period is the
/// one reported, and the re-plan is a plan over time that serves everything, at a higher cost.
#[test]
fn stress_of_a_horizon_portfolio_checks_every_period() {
    let file = "crates/chipmix-cli/tests/fixtures/horizon-small.yaml";
    let r = ok_json(&[
        "stress",
        file,
        "--scenario",
        "nvidia-shortage-50",
        "--format",
        "json",
    ]);
    assert_eq!(r["horizon_months"], 4, "{r}");
    let periods = r["fixed_by_period"].as_array().expect("per period");
    assert_eq!(periods.len(), 4);
    let unserved: Vec<f64> = periods
        .iter()
        .map(|p| p["unserved_fraction"].as_f64().unwrap())
        .collect();
    let worst = r["worst_period"].as_u64().unwrap() as usize;
    let most = unserved.iter().copied().fold(0.0, f64::max);
    assert_eq!(unserved[worst - 1], most, "{unserved:?}");
    assert_eq!(r["fixed_plan"]["unserved_fraction"].as_f64().unwrap(), most);
    // Half the NVIDIA capacity gone leaves demand unserved in every period.
    assert!(unserved.iter().all(|&u| u > 0.1), "{unserved:?}");
    // Each period's fleet is checked against that period's peak: demand grows 100 → 200.
    let peak = |p: &serde_json::Value| p["services"][0]["peak_requests_per_s"].as_f64().unwrap();
    assert!((peak(&periods[0]) - 100.0).abs() < 1e-6, "{}", periods[0]);
    assert!((peak(&periods[3]) - 200.0).abs() < 1e-6, "{}", periods[3]);
    let base = r["base_cost_usd_per_month"].as_f64().unwrap();
    let replanned = r["replan"]["cost_usd_per_month"]
        .as_f64()
        .expect("a re-plan");
    assert!(replanned > base * 1.02, "{replanned} vs {base}");
}
