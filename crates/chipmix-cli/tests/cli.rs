//! The `chipmix` binary as a user runs it: exit codes, output formats, error locations.

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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn every_malformed_portfolio_gives_located_errors_and_exit_2() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "only {} malformed files", files.len());
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expectations: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expectations.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let out = Command::new(env!("CARGO_BIN_EXE_chipmix"))
            .args(["validate", file.file_name().unwrap().to_str().unwrap()])
            .current_dir(&dir)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", file.display());
        for e in expectations {
            if !err.contains(e) {
                failures.push(format!("{}:\nexpected: {e}\ngot:\n{err}", file.display()));
            }
        }
        assert!(stdout(&out).is_empty(), "nothing on stdout for bad input");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn validate_json_lists_diagnostics_with_locations() {
    let out = chipmix(&[
        "validate",
        "crates/chipmix-cli/tests/fixtures/bad/06-zero-tpot.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let d = &v["diagnostics"][0];
    assert_eq!(d["line"], 9);
    assert_eq!(d["column"], 35);
    assert_eq!(d["path"], "workloads[0].slo.tpot_ms");
    assert_eq!(d["severity"], "error");
}

#[test]
fn examples_validate() {
    for f in ["examples/frontier-lab.yaml", "examples/startup.yaml"] {
        let out = chipmix(&["validate", f]);
        assert_eq!(out.status.code(), Some(0), "{f}: {}", stderr(&out));
        assert!(stdout(&out).contains(": ok"));
    }
}

#[test]
fn trainium2_offerings_as_json_have_prices_and_sources() {
    let out = chipmix(&[
        "catalog",
        "offerings",
        "--chip",
        "trainium2",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        assert_eq!(r["chip"], "trainium2");
        assert!(r["instance_type"].as_str().unwrap().starts_with("trn2"));
        assert!(r["usd_per_hour"].as_f64().unwrap() > 0.0);
        assert!(!r["source"].as_str().unwrap().is_empty());
        assert_eq!(r["price_confidence"], "unconfirmed");
    }
}

#[test]
fn aws_vendor_filter_includes_trainium_and_inferentia() {
    let out = chipmix(&["catalog", "offerings", "--vendor", "aws", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("provider,instance_type,region,chip,"));
    for it in [
        "trn1.32xlarge",
        "trn1n.32xlarge",
        "trn2.48xlarge",
        "inf2.48xlarge",
    ] {
        assert!(text.contains(it), "{it} missing");
    }
    assert!(
        !text.contains("p5.48xlarge"),
        "NVIDIA chips are not vendor aws"
    );
}

#[test]
fn table_output_marks_unconfirmed_and_missing_prices() {
    let out = chipmix(&["catalog", "offerings", "--provider", "azure"]);
    let text = stdout(&out);
    assert!(text.contains("NOT SOURCED"), "{text}");
    let out = chipmix(&["catalog", "offerings", "--chip", "trn2"]);
    assert!(stdout(&out).contains("(unconfirmed)"));
}

#[test]
fn skypilot_catalog_files_import_through_the_cli() {
    let out = chipmix(&[
        "catalog",
        "offerings",
        "--catalog",
        "crates/chipmix-catalog/tests/fixtures/gcp-vms-us-central1.csv",
        "--chip",
        "tpu-v5p",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The snapshot lists v5p slices up to 12288 TensorCores; the built-in stops at 512.
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|r| r["instance_type"] == "tpu-v5p-12288" && r["chips_per_instance"] == 6144)
    );
}

#[test]
fn bad_override_files_and_arguments_exit_2_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ovr.csv");
    // A negative price, and one so large that it used to panic the solver (issue 13).
    for (price, shown) in [("-4", "-4"), ("1e300", "1e300")] {
        std::fs::write(
            &path,
            format!(
                "provider,instance_type,region,usd_per_hour\naws,p5.48xlarge,us-east-1,{price}\n"
            ),
        )
        .unwrap();
        for args in [
            vec!["catalog", "offerings", "--catalog", path.to_str().unwrap()],
            vec![
                "plan",
                "examples/startup.yaml",
                "--catalog",
                path.to_str().unwrap(),
            ],
        ] {
            let out = chipmix(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            let want = format!(
                "ovr.csv:2: usd_per_hour: must be a number in [0.0001, 1000000] USD/hour, got {shown}"
            );
            assert!(stderr(&out).contains(&want), "{}", stderr(&out));
        }
    }

    let out = chipmix(&["catalog", "offerings", "--chip", "H1000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown chip `H1000` (did you mean `h100`?)"));
    let out = chipmix(&["catalog", "offerings", "--vendor", "nvida"]);
    assert_eq!(out.status.code(), Some(2));
    let out = chipmix(&["models", "show", "gpt-5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown model `gpt-5`"));
    // clap's own usage errors use exit code 2 as well.
    let out = chipmix(&["catalog", "offerings", "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn overrides_change_what_the_catalog_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("negotiated.csv");
    std::fs::write(
        &path,
        "provider,instance_type,region,usd_per_hour,capacity_instances,source\n\
         azure,Standard_ND96isr_MI300X_v5,eastus,48.0,64,negotiated 2026-11\n",
    )
    .unwrap();
    let out = chipmix(&[
        "catalog",
        "offerings",
        "--chip",
        "mi300x",
        "--format",
        "json",
        "--catalog",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["usd_per_hour"], 48.0);
    assert_eq!(v[0]["usd_per_chip_hour"], 6.0);
    assert_eq!(v[0]["capacity_instances"], 64);
    assert_eq!(v[0]["price_confidence"], "user_supplied");
}

#[test]
fn models_list_and_show() {
    let out = chipmix(&["models", "list", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for n in [
        "llama-3.2-1b",
        "llama-3-70b",
        "llama-3.1-405b",
        "llama-2-13b",
        "mixtral-8x7b",
        "deepseek-v3",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    let out = chipmix(&[
        "models",
        "show",
        "crates/chipmix-workload/tests/fixtures/models/Qwen3-30B-A3B.config.json",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["family"], "qwen3_moe");
    assert_eq!(v["moe"]["routed_experts"], 128);
    let out = chipmix(&["models", "show", "deepseek-v3"]);
    let text = stdout(&out);
    assert!(text.contains("671.03B") || text.contains("671.0"), "{text}");
    assert!(text.contains("latent (MLA)"));
}

#[test]
fn chips_listing_carries_sources_and_confidence() {
    let out = chipmix(&["catalog", "chips", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let a10g = text.lines().find(|l| l.starts_with("a10g,")).unwrap();
    assert!(a10g.contains(",estimate,"), "{a10g}");
    assert_eq!(text.lines().count(), 1 + 17);
}

/// `--method` picks the solver; both methods prove the same optimum on the example within the
/// gap, and the plan says how it was solved.
#[test]
fn plan_methods_agree_and_say_which_ran() {
    let run = |method: &str| {
        let out = chipmix(&[
            "plan",
            "examples/frontier-lab.yaml",
            "--format",
            "json",
            "--no-analysis",
            "--method",
            method,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let direct = run("direct");
    let decomposed = run("decomposed");
    assert_eq!(direct["method"], "direct");
    assert!(
        decomposed["method"]
            .as_str()
            .unwrap()
            .starts_with("decomposed"),
        "{}",
        decomposed["method"]
    );
    let cost = |v: &serde_json::Value| v["objective_usd_per_month"].as_f64().unwrap();
    let bound = |v: &serde_json::Value| v["bound_usd_per_month"].as_f64().unwrap();
    assert!(bound(&decomposed) <= cost(&direct) * (1.0 + 1e-9));
    assert!(bound(&direct) <= cost(&decomposed) * (1.0 + 1e-9));
    let bad = chipmix(&["plan", "examples/frontier-lab.yaml", "--method", "fastest"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn plan_json_has_the_fields_scripts_rely_on() {
    let out = chipmix(&[
        "plan",
        "examples/frontier-lab.yaml",
        "--format",
        "json",
        "--no-analysis",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "optimal");
    for f in [
        "objective_usd_per_month",
        "bound_usd_per_month",
        "gap",
        "solve_seconds",
        "hhi",
    ] {
        assert!(v[f].is_number(), "{f}");
    }
    let allocations = v["allocations"].as_array().unwrap();
    assert!(!allocations.is_empty());
    for a in allocations {
        for f in [
            "workload", "offering", "provider", "region", "instance", "chip", "vendor",
        ] {
            assert!(a[f].is_string(), "{f}");
        }
        for f in ["instances", "chips", "usd_per_month"] {
            assert!(a[f].is_number(), "{f}");
        }
    }
    let shares = v["vendor_shares"].as_object().unwrap();
    let total: f64 = shares.values().map(|s| s.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9);
    assert!(shares.values().all(|s| s.as_f64().unwrap() <= 0.6 + 1e-9));
}

#[test]
fn plan_markdown_report_has_a_chart_and_baselines() {
    let out = chipmix(&["plan", "examples/startup.yaml", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = stdout(&out);
    assert!(md.starts_with("# Compute plan: startup"));
    assert!(md.contains("<svg") && md.contains("</svg>"));
    assert!(md.contains("## Baselines") && md.contains("single cheapest vendor"));
}

#[test]
fn infeasible_plans_exit_3_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(
        &path,
        "workloads:\n  - {name: chat-70b, kind: inference, model: llama-3-70b, peak_requests_per_s: 10, prompt_tokens: 512, output_tokens: 128, slo: {ttft_ms: 20, tpot_ms: 50}, software: [neuron]}\n",
    )
    .unwrap();
    let out = chipmix(&["plan", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("infeasible") && err.contains("chat-70b: no offering can run it"),
        "{err}"
    );
    // Bad input stays exit 2, distinct from infeasible.
    let out = chipmix(&[
        "plan",
        "crates/chipmix-cli/tests/fixtures/bad/06-zero-tpot.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2));
}
