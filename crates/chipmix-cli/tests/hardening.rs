//! Issue 13: no input breaks chipmix, and every output can be acted on. Each test here
//! reproduces a reported failure (a panic, an internal error, an export that cannot be
//! deployed) and failed before its fix.

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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const ABSURD: &str = "crates/chipmix-cli/tests/fixtures/bad/28-absurd-numbers.yaml";

/// Every command that reads a portfolio refuses absurd numbers as bad input (exit 2, the
/// field located), instead of panicking inside HiGHS (exit 101).
#[test]
fn absurd_numbers_are_bad_input_for_every_command() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["validate", ABSURD],
        vec!["plan", ABSURD],
        vec!["leverage", ABSURD],
        vec!["stress", ABSURD, "--scenario", "demand-2x"],
        vec!["montecarlo", ABSURD, "--samples", "10", "--replan", "1"],
        vec![
            "sweep",
            ABSURD,
            "--param",
            "policy.headroom",
            "--from",
            "0.1",
            "--to",
            "0.2",
        ],
        vec!["export", "kueue", ABSURD, "--out", out],
        vec!["export", "skypilot", ABSURD, "--out", out],
        vec!["simulate", ABSURD, "--trace", "none", "--days", "1"],
    ];
    for args in commands {
        let o = chipmix(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("workloads[0].peak_requests_per_s: must be a number in [1e-6, 10000000]"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(out).unwrap().count(),
        0,
        "nothing written"
    );
}

/// At the edge of every range a plan is found and passes the independent verifier (1e12
/// req/s used to end in "failed independent verification").
#[test]
fn the_largest_accepted_numbers_plan_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("examples/startup.yaml"))
        .unwrap()
        .replace("peak_requests_per_s: 20", "peak_requests_per_s: 10000000")
        .replace("budget_usd_per_month: 150k", "budget_usd_per_month: 1e11")
        .replace("headroom: 0.3", "headroom: 10");
    let path = dir.path().join("edge.yaml");
    std::fs::write(&path, text).unwrap();
    let o = chipmix(&["plan", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let cost = plan["objective_usd_per_month"].as_f64().unwrap();
    assert!(cost.is_finite() && cost > 1e9, "{cost}");
}

/// Numbers on the command line go through the same limits as numbers in files.
#[test]
fn out_of_range_flags_exit_2_naming_the_range() {
    let cases: [(&[&str], &str); 7] = [
        (
            &[
                "estimate",
                "decode",
                "--model",
                "llama-3-8b",
                "--chip",
                "h100",
                "--chips",
                "3",
                "--batch",
                "8",
                "--context",
                "1024",
            ],
            "tensor parallelism over 3 chips does not divide the model's 32 attention heads",
        ),
        (
            &[
                "estimate",
                "decode",
                "--model",
                "llama-3-8b",
                "--chip",
                "h100",
                "--batch",
                "4294967295",
                "--context",
                "1024",
            ],
            "must be a whole number in [1, 1000000] requests, got 4294967295",
        ),
        (
            &["plan", "examples/startup.yaml", "--time-limit", "inf"],
            "must be a number in [0.01, 86400] s, got inf",
        ),
        (
            &["plan", "examples/startup.yaml", "--gap", "NaN"],
            "must be a fraction in [0, 1], got NaN",
        ),
        (
            &["plan", "examples/startup.yaml", "--time-limit", "1e300"],
            "must be a number in [0.01, 86400] s, got 1e300",
        ),
        (
            &[
                "montecarlo",
                "examples/startup.yaml",
                "--vendor-shortage-p",
                "2",
            ],
            "must be a fraction in [0, 1], got 2",
        ),
        (
            &["simulate", "examples/startup.yaml", "--days=-1"],
            "must be a number in [0.001, 3650] days, got -1",
        ),
    ];
    for (args, want) in cases {
        let o = chipmix(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

/// The README's sweep starts at a cap no plan can meet: that value is a row with its reason,
/// not a failed sweep.
#[test]
fn a_sweep_reports_refused_values_as_rows() {
    let o = chipmix(&[
        "sweep",
        "examples/frontier-lab.yaml",
        "--param",
        "policy.max_vendor_share",
        "--from",
        "0.3",
        "--to",
        "1.0",
        "--steps",
        "3",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let points = report["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    assert!(points[0]["cost_usd_per_month"].is_null());
    let why = points[0]["infeasible"][0].as_str().unwrap();
    assert!(why.contains("cannot cover the portfolio"), "{why}");
    assert!(points[1]["cost_usd_per_month"].as_f64().unwrap() > 0.0);
    // The table names the reason too.
    let o = chipmix(&[
        "sweep",
        "examples/frontier-lab.yaml",
        "--param",
        "policy.max_vendor_share",
        "--from",
        "0.3",
        "--to",
        "1.0",
        "--steps",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("cannot cover the portfolio"),
        "{}",
        stdout(&o)
    );
    // A wrong field path fails at every value: still bad input.
    let o = chipmix(&[
        "sweep",
        "examples/frontier-lab.yaml",
        "--param",
        "policy.no_such_field",
        "--from",
        "0.3",
        "--to",
        "1.0",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

fn coreweave_portfolio(dir: &Path) -> (PathBuf, PathBuf) {
    let csv = dir.join("negotiated.csv");
    std::fs::write(
        &csv,
        "provider,instance_type,region,chip,chips_per_instance,usd_per_hour,source\n\
         coreweave,gpu-h100-8x,us-east-04,H100,8,2.0,CoreWeave quote 2026-10 (test: priced low so the plan uses it)\n",
    )
    .unwrap();
    let yaml = dir.join("cw.yaml");
    let text = std::fs::read_to_string(root().join("examples/startup.yaml"))
        .unwrap()
        .replace(
            "allowed_providers: [aws, gcp]",
            "allowed_providers: [aws, gcp, coreweave]",
        );
    std::fs::write(&yaml, text).unwrap();
    (yaml, csv)
}

/// A plan on a provider SkyPilot does not know (the README's CoreWeave example) exports with
/// a warning instead of an internal error.
#[test]
fn skypilot_export_skips_providers_skypilot_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let (yaml, csv) = coreweave_portfolio(dir.path());
    let out = dir.path().join("out");
    let o = chipmix(&[
        "export",
        "skypilot",
        yaml.to_str().unwrap(),
        "--catalog",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("coreweave/gpu-h100-8x/us-east-04: SkyPilot has no cloud `coreweave`"),
        "{}",
        stderr(&o)
    );
    // Kueue runs anywhere Kubernetes does: the same plan exports in full.
    let o = chipmix(&[
        "export",
        "kueue",
        yaml.to_str().unwrap(),
        "--catalog",
        csv.to_str().unwrap(),
        "--out",
        dir.path().join("k").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Each SkyPilot fallback runs the layout the performance model computed for its own chip:
/// `resources.ordered` holds only offerings that share the primary's layout, and every other
/// vendor gets a task file with its own TP/PP/DP, node count and replicas.
#[test]
fn skypilot_fallbacks_carry_their_own_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = chipmix(&[
        "export",
        "skypilot",
        "examples/frontier-lab.yaml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut alternatives = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let task: serde_json::Value = yaml_to_json(&text);
        let ordered = task["resources"]["ordered"].as_array().unwrap();
        if path.to_str().unwrap().contains("-alt-") {
            alternatives += 1;
            assert_eq!(ordered.len(), 1, "{}", path.display());
        }
        // One layout per file: every accelerator in `ordered` has the same chips per node,
        // so the task's TP/PP/DP and node count fit each of them.
        let counts: std::collections::BTreeSet<&str> = ordered
            .iter()
            .filter_map(|r| r["accelerators"].as_str())
            .filter(|a| !a.starts_with("tpu-"))
            .map(|a| a.rsplit(':').next().unwrap())
            .collect();
        assert!(counts.len() <= 1, "{}: {counts:?}", path.display());
        if let (Some(tp), Some(pp), Some(dp), Some(n)) = (
            env_u32(&task, "CHIPMIX_TP"),
            env_u32(&task, "CHIPMIX_PP"),
            env_u32(&task, "CHIPMIX_DP"),
            counts.iter().next().and_then(|c| c.parse::<u32>().ok()),
        ) {
            let nodes = task["num_nodes"].as_u64().unwrap() as u32;
            assert_eq!(tp * pp * dp, nodes * n, "{}", path.display());
        }
    }
    assert!(
        alternatives > 0,
        "frontier-lab has fallbacks of other layouts"
    );
}

fn env_u32(task: &serde_json::Value, key: &str) -> Option<u32> {
    task["envs"][key].as_str()?.parse().ok()
}

/// An exported task file (YAML behind a comment header) as JSON.
fn yaml_to_json(text: &str) -> serde_json::Value {
    yaml_serde::from_str(text).unwrap()
}

/// `validate /dev/zero` used to read until memory ran out.
#[test]
fn endless_files_are_refused_unread() {
    let o = chipmix(&["validate", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("larger than 256 MiB"), "{}", stderr(&o));
}

/// Token commands take only `--db`, name this binary in their hints, and exit 2 for a
/// mistake the user can fix.
#[test]
fn token_commands_are_their_own() {
    let help = chipmix(&["token", "create", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = stdout(&help);
    assert!(text.contains("--db"), "{text}");
    assert!(
        !text.contains("--bind") && !text.contains("--max-body-bytes"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let create = [
        "token", "create", "--name", "ci", "--role", "viewer", "--db", &db,
    ];
    assert_eq!(chipmix(&create).status.code(), Some(0));
    let again = chipmix(&create);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).starts_with("chipmix: error:"),
        "{}",
        stderr(&again)
    );
    let missing = chipmix(&["token", "revoke", "nobody", "--db", &db]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
}

/// A simulation bills its spend under the portfolio's contracts, as the plan does (issue 13:
/// $539K simulated against the plan's $363K with credits ignored), and runs from any
/// directory (the traces are built in).
#[test]
fn simulations_apply_contracts_and_need_no_checkout() {
    let elsewhere = tempfile::tempdir().unwrap();
    let file = root().join("examples/frontier-lab.yaml");
    let o = Command::new(env!("CARGO_BIN_EXE_chipmix"))
        .args([
            "simulate",
            file.to_str().unwrap(),
            "--policy",
            "follow-plan",
            "--days",
            "7",
            "--format",
            "json",
        ])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let runs: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let run = &runs[0];
    assert!(
        run["training"]["jobs_arrived"].as_u64().unwrap() > 0,
        "the Philly trace ran"
    );
    let bill = &run["contracts"];
    let list = bill["list_usd"].as_f64().unwrap();
    assert!((list - run["total_cost_usd"].as_f64().unwrap()).abs() < 1e-6 * list);
    assert!(bill["credits_used_usd"].as_f64().unwrap() > 0.0, "{bill}");
    assert!(bill["discount_usd"].as_f64().unwrap() > 0.0, "{bill}");
    let paid = bill["paid_usd"].as_f64().unwrap();
    let expected = list - bill["discount_usd"].as_f64().unwrap()
        + bill["shortfall_usd"].as_f64().unwrap()
        - bill["credits_used_usd"].as_f64().unwrap();
    assert!((paid - expected).abs() < 1e-6 * list, "{bill}");
    assert!(paid < list);
}

/// The portfolio's own training runs are simulated, on the pools and for the days the plan
/// gives them (issue 13: `--trace none` used to simulate no training at all).
#[test]
fn simulations_run_the_portfolios_own_training() {
    let plan = chipmix(&["plan", "examples/frontier-lab.yaml", "--format", "json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let runs: Vec<f64> = plan["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "training")
        .map(|a| a["days"].as_f64().unwrap())
        .collect();
    let o = chipmix(&[
        "simulate",
        "examples/frontier-lab.yaml",
        "--trace",
        "none",
        "--policy",
        "follow-plan",
        "--days",
        "30",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let sim: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let training = &sim[0]["training"];
    assert_eq!(
        training["jobs_arrived"].as_u64().unwrap(),
        runs.len() as u64
    );
    let short: Vec<f64> = runs.iter().copied().filter(|d| *d < 30.0).collect();
    assert_eq!(
        training["jobs_completed"].as_u64().unwrap(),
        short.len() as u64
    );
    if let [days] = short[..] {
        let jct_days = training["jct_mean_seconds"].as_f64().unwrap() / 86_400.0;
        assert!(
            (jct_days - days).abs() < 0.01 * days,
            "{jct_days} vs {days}"
        );
    }
}

/// A global batch the layout cannot run exactly is said, not silently changed (issue 13:
/// 16M became 15,728,640).
#[test]
fn a_changed_global_batch_is_stated() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("examples/startup.yaml"))
        .unwrap()
        .replace(
            "    seq_len: 4096\n",
            "    seq_len: 4096\n    global_batch_tokens: 16M\n",
        );
    let path = dir.path().join("gb.yaml");
    std::fs::write(&path, text).unwrap();
    let o = chipmix(&["plan", path.to_str().unwrap(), "--no-analysis"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("finetune: the global batch of 16000000 tokens runs as"),
        "{out}"
    );
}

/// The credits line of the binding constraints says what the plan does with the credits
/// (issue 13: "not used up" was printed for credits the plan used exactly up).
#[test]
fn the_credits_explanation_matches_the_plan() {
    let o = chipmix(&["plan", "examples/frontier-lab.yaml", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let credits = plan["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "credits")
        .unwrap();
    let used = credits["credits_used_usd_per_month"].as_f64().unwrap();
    for b in plan["binding_constraints"].as_array().unwrap() {
        let meaning = b["meaning"].as_str().unwrap();
        if !b["constraint"].as_str().unwrap().starts_with("credits[") {
            continue;
        }
        assert!(!meaning.contains("not used up"), "{meaning}");
        let exact = meaning.contains("uses each month's allowance exactly");
        let left = meaning.contains("unused");
        assert!(exact != left, "{meaning}");
        assert!(used > 0.0);
    }
}
