//! `chipmix estimate` and `chipmix calibrate` as scripts use them: flags, JSON fields, exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn chipmix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chipmix"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("chipmix runs")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = chipmix(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr_of(args: &[&str]) -> (Option<i32>, String) {
    let out = chipmix(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn prefill_json() {
    let v = json(&[
        "estimate",
        "prefill",
        "--model",
        "llama-3-70b",
        "--chip",
        "h100",
        "--chips",
        "4",
        "--batch",
        "1",
        "--prompt",
        "2048",
        "--format",
        "json",
    ]);
    assert!(v["time_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(v["bound"], "compute");
    assert_eq!(v["chip"], "h100");
}

#[test]
fn decode_json() {
    let v = json(&[
        "estimate",
        "decode",
        "--model",
        "llama-3-8b",
        "--chip",
        "h100",
        "--batch",
        "1",
        "--context",
        "1024",
        "--format",
        "json",
    ]);
    let step = v["step_ms"].as_f64().unwrap();
    // 16 GB of weights at ~3.35 TB/s: a few milliseconds, memory-bound.
    assert!(step > 4.0 && step < 12.0, "{step}");
    assert_eq!(v["bound"], "memory");
    assert!((v["tokens_per_s"].as_f64().unwrap() - 1000.0 / step).abs() < 1e-6);
    let fp8 = json(&[
        "estimate",
        "decode",
        "--model",
        "llama-3-8b",
        "--chip",
        "h100",
        "--batch",
        "1",
        "--context",
        "1024",
        "--precision",
        "fp8",
        "--format",
        "json",
    ]);
    assert!(
        fp8["step_ms"].as_f64().unwrap() < step,
        "FP8 weights halve the bytes"
    );
}

#[test]
fn train_json_searches_or_evaluates_given_degrees() {
    let args = [
        "estimate",
        "train",
        "--model",
        "llama-3-70b",
        "--chip",
        "h100",
        "--chips",
        "64",
        "--seq",
        "8192",
        "--global-batch-tokens",
        "4M",
        "--format",
        "json",
    ];
    let mut args = args.to_vec();
    let v = json(&args);
    assert_eq!(v["global_batch_tokens"].as_f64().unwrap() % 8192.0, 0.0);
    args[11] = "lots";
    let (code, err) = stderr_of(&args);
    assert_eq!(code, Some(2));
    assert!(err.contains("`lots` is not a number"), "{err}");
    args[11] = "4194304";
    let v = json(&args);
    for f in ["step_ms", "tokens_per_s", "mfu", "memory_gib_per_chip"] {
        assert!(v[f].as_f64().unwrap() > 0.0, "{f}");
    }
    let c = &v["config"];
    assert_eq!(
        c["tp"].as_u64().unwrap() * c["pp"].as_u64().unwrap() * c["dp"].as_u64().unwrap(),
        64
    );
    assert!(c["micro_batch"].as_u64().unwrap() >= 1);
    args.extend(["--tp", "8", "--pp", "4", "--dp", "2"]);
    let v = json(&args);
    assert_eq!(v["config"]["tp"], 8);
    assert_eq!(v["config"]["pp"], 4);
    assert_eq!(v["config"]["dp"], 2);
    args.extend(["--tokens", "1e12"]);
    let v = json(&args);
    assert!(v["days"].as_f64().unwrap() > 1.0);
}

#[test]
fn serve_json_has_capacity_latency_and_cost() {
    let v = json(&[
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
        "60",
        "--format",
        "json",
    ]);
    for f in [
        "max_requests_per_s",
        "output_tokens_per_s",
        "ttft_ms",
        "tpot_ms",
        "usd_per_million_output_tokens",
    ] {
        assert!(v[f].as_f64().unwrap() > 0.0, "{f}");
    }
    assert!(v["batch"].as_u64().unwrap() >= 1);
    assert!(v["ttft_ms"].as_f64().unwrap() <= 2000.0);
    assert!(v["tpot_ms"].as_f64().unwrap() <= 60.0);
    assert!(
        v["replica"]["tp"].as_u64().unwrap() >= 2,
        "70B BF16 needs at least two H100s"
    );
}

#[test]
fn bad_estimate_input_exits_2_with_a_clear_message() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "estimate",
                "decode",
                "--model",
                "llama-3-8b",
                "--chip",
                "h1000",
                "--batch",
                "1",
                "--context",
                "8",
            ],
            "unknown chip `h1000`",
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
                "0",
                "--context",
                "8",
            ],
            "must be a whole number in [1, 1000000] requests, got 0",
        ),
        (
            &[
                "estimate",
                "prefill",
                "--model",
                "llama-3.1-405b",
                "--chip",
                "h100",
                "--chips",
                "8",
                "--batch",
                "1",
                "--prompt",
                "8",
            ],
            "does not fit",
        ),
        (
            &[
                "estimate",
                "decode",
                "--model",
                "llama-3-8b",
                "--chip",
                "l4",
                "--chips",
                "16",
                "--batch",
                "1",
                "--context",
                "8",
            ],
            "scale-up domain",
        ),
        (
            &[
                "estimate",
                "train",
                "--model",
                "llama-3.1-405b",
                "--chip",
                "h100",
                "--chips",
                "8",
                "--seq",
                "8192",
                "--global-batch-tokens",
                "1048576",
            ],
            "does not fit",
        ),
        (
            &[
                "estimate",
                "train",
                "--model",
                "llama-3-8b",
                "--chip",
                "h100",
                "--chips",
                "8",
                "--seq",
                "8192",
                "--global-batch-tokens",
                "1048576",
                "--tp",
                "2",
                "--pp",
                "2",
                "--dp",
                "3",
            ],
            "is not --chips 8",
        ),
        (
            &[
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
                "1",
                "--tpot-ms",
                "60",
            ],
            "cannot meet the SLO",
        ),
        (
            &[
                "estimate",
                "serve",
                "--model",
                "llama-3-8b",
                "--offering",
                "p5.48xlarge",
                "--prompt",
                "1024",
                "--output",
                "256",
                "--ttft-ms",
                "0",
                "--tpot-ms",
                "60",
            ],
            "must be a number in [0.001, 3600000] ms, got 0",
        ),
        (
            &[
                "estimate",
                "decode",
                "--model",
                "llama-3-8b",
                "--chip",
                "a100-80gb",
                "--precision",
                "fp8",
                "--batch",
                "1",
                "--context",
                "8",
            ],
            "no FP8",
        ),
        (
            &[
                "estimate",
                "serve",
                "--model",
                "gpt-9",
                "--offering",
                "p5.48xlarge",
                "--prompt",
                "1",
                "--output",
                "1",
                "--ttft-ms",
                "1",
                "--tpot-ms",
                "1",
            ],
            "unknown model `gpt-9`",
        ),
    ];
    for (args, expected) in cases {
        let (code, err) = stderr_of(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains(expected),
            "{args:?}: expected `{expected}` in {err}"
        );
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn calibrate_reports_held_out_error_per_chip_family() {
    let v = json(&["calibrate", "--format", "json", "--folds", "3"]);
    let families = v["families"].as_array().unwrap();
    let chips: Vec<&str> = families
        .iter()
        .map(|f| f["chip"].as_str().unwrap())
        .collect();
    assert!(
        chips.contains(&"inferentia2") && chips.contains(&"trainium") && chips.contains(&"h100")
    );
    for f in families {
        assert!(
            f["held_out_median_abs_error"].as_f64().unwrap() <= 0.2,
            "{f}"
        );
    }
    assert!(v["not_modeled"].as_u64().unwrap() > 0);
}
