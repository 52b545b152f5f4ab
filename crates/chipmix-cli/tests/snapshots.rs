//! Golden files for what a user reads: tables, error listings, reports. Review changes with
//! `cargo insta review` (or set INSTA_UPDATE=always) and commit the `.snap` files.

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_chipmix"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("chipmix runs");
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    // Wall-clock times differ run to run.
    s.add_filter(r"solved in [0-9.]+ s", "solved in [time] s");
    s.add_filter(r"\d+\.\d+ s by HiGHS", "[time] s by HiGHS");
    s.add_filter(
        r#""solve_seconds": [0-9.e-]+"#,
        r#""solve_seconds": "[time]""#,
    );
    s
}

#[test]
fn trainium2_offerings_table() {
    insta::assert_snapshot!(run(&["catalog", "offerings", "--chip", "trainium2"]));
}

#[test]
fn model_presets_table() {
    insta::assert_snapshot!(run(&["models", "list"]));
}

#[test]
fn validation_errors_listing() {
    insta::assert_snapshot!(run(&[
        "validate",
        "crates/chipmix-cli/tests/fixtures/bad/21-bad-offering-override.yaml"
    ]));
}

#[test]
fn startup_plan_report() {
    settings().bind(|| {
        insta::assert_snapshot!(run(&[
            "plan",
            "examples/startup.yaml",
            "--format",
            "markdown"
        ]));
    });
}

#[test]
fn serve_estimate_table() {
    insta::assert_snapshot!(run(&[
        "estimate",
        "serve",
        "--model",
        "llama-3-70b",
        "--offering",
        "p5.48xlarge",
        "--prompt",
        "1024",
        "--output",
        "256",
        "--ttft-ms",
        "2000",
        "--tpot-ms",
        "50",
    ]));
}

#[test]
fn stress_report_region_outage_markdown() {
    settings().bind(|| {
        insta::assert_snapshot!(run(&[
            "stress",
            "examples/frontier-lab.yaml",
            "--scenario",
            "aws-region-outage",
            "--format",
            "markdown",
        ]));
    });
}

#[test]
fn stress_scenario_library() {
    insta::assert_snapshot!(run(&["stress", "--list"]));
}

#[test]
fn leverage_report_markdown() {
    settings().bind(|| {
        insta::assert_snapshot!(run(&[
            "leverage",
            "examples/startup.yaml",
            "--format",
            "markdown"
        ]));
    });
}

#[test]
fn sweep_report_markdown() {
    settings().bind(|| {
        insta::assert_snapshot!(run(&[
            "sweep",
            "examples/startup.yaml",
            "--param",
            "policy.headroom",
            "--from",
            "0",
            "--to",
            "1",
            "--steps",
            "3",
            "--format",
            "markdown",
        ]));
    });
}

#[test]
fn montecarlo_report_markdown() {
    settings().bind(|| {
        insta::assert_snapshot!(run(&[
            "montecarlo",
            "examples/startup.yaml",
            "--samples",
            "300",
            "--replan",
            "5",
            "--seed",
            "7",
            "--format",
            "markdown",
        ]));
    });
}

#[test]
fn simulate_report_markdown() {
    settings().bind(|| {
        insta::assert_snapshot!(run(&[
            "simulate",
            "examples/startup.yaml",
            "--trace",
            "generated",
            "--jobs-per-hour",
            "2",
            "--days",
            "2",
            "--policy",
            "all",
            "--format",
            "markdown",
        ]));
    });
}

#[test]
fn horizon_plan_report() {
    settings().bind(|| {
        insta::assert_snapshot!(run(&[
            "plan",
            "crates/chipmix-cli/tests/fixtures/horizon-small.yaml",
        ]));
    });
}
