//! Portfolio → plan on small generated inputs: up to four workloads and a policy built from
//! the fuzzer's bytes, written as YAML and read like a user's file. Whatever decodes is
//! planned (one-second limit); a plan must pass the independent verifier, and nothing may
//! panic. Numbers range over and past their limits, so the boundary is exercised too.
#![no_main]

use arbitrary::Arbitrary;
use chipmix_perf::Calibration;
use chipmix_plan::{PlanOptions, SolveMethod, plan, verify};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use common::catalog;
use std::fmt::Write;
use std::path::Path;

const MODELS: [&str; 4] = ["llama-3.2-1b", "llama-3-8b", "mixtral-8x7b", "llama-3-70b"];
const SOFTWARE: [&str; 4] = ["[cuda]", "[cuda, neuron]", "[cuda, rocm, xla]", "[neuron]"];
const PROVIDERS: [&str; 3] = ["aws", "gcp", "azure"];

#[derive(Arbitrary, Debug)]
enum Work {
    Serve {
        model: u8,
        software: u8,
        rate: f64,
        prompt: u32,
        output: u32,
        ttft_ms: f64,
        tpot_ms: f64,
        min_vendors: Option<u8>,
    },
    Train {
        model: u8,
        software: u8,
        tokens: f64,
        seq: u32,
        days: f64,
        preemptible: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    work: Vec<Work>,
    max_vendor_share: Option<f64>,
    budget: Option<f64>,
    headroom: Option<f64>,
    commitment: Option<(u8, f64, f64)>,
    credits: Option<(u8, f64)>,
}

fn pick<T: Copy>(xs: &[T], i: u8) -> T {
    xs[usize::from(i) % xs.len()]
}

fn yaml(input: &Input) -> String {
    let mut s = String::from("name: fuzz\nworkloads:\n");
    for (i, w) in input.work.iter().take(4).enumerate() {
        match w {
            Work::Serve {
                model,
                software,
                rate,
                prompt,
                output,
                ttft_ms,
                tpot_ms,
                min_vendors,
            } => {
                let _ = writeln!(
                    s,
                    "  - {{ name: s{i}, kind: inference, model: {}, software: {}, peak_requests_per_s: {rate:e}, prompt_tokens: {}, output_tokens: {}, slo: {{ ttft_ms: {ttft_ms:e}, tpot_ms: {tpot_ms:e} }}{} }}",
                    pick(&MODELS, *model),
                    pick(&SOFTWARE, *software),
                    prompt % 20_000,
                    output % 4_000,
                    min_vendors.map_or(String::new(), |n| format!(", min_vendors: {}", n % 4)),
                );
            }
            Work::Train {
                model,
                software,
                tokens,
                seq,
                days,
                preemptible,
            } => {
                let _ = writeln!(
                    s,
                    "  - {{ name: t{i}, kind: training, model: {}, software: {}, tokens: {tokens:e}, seq_len: {}, deadline_days: {days:e}, preemptible: {preemptible} }}",
                    pick(&MODELS, *model),
                    pick(&SOFTWARE, *software),
                    seq % 40_000,
                );
            }
        }
    }
    s.push_str("policy:\n");
    if let Some(x) = input.max_vendor_share {
        let _ = writeln!(s, "  max_vendor_share: {x:e}");
    }
    if let Some(x) = input.budget {
        let _ = writeln!(s, "  budget_usd_per_month: {x:e}");
    }
    if let Some(x) = input.headroom {
        let _ = writeln!(s, "  headroom: {x:e}");
    }
    if input.commitment.is_some() || input.credits.is_some() {
        s.push_str("contracts:\n");
    }
    if let Some((p, usd, discount)) = input.commitment {
        let _ = writeln!(
            s,
            "  - {{ kind: commitment, provider: {}, usd_per_month: {usd:e}, discount: {discount:e} }}",
            pick(&PROVIDERS, p)
        );
    }
    if let Some((p, usd)) = input.credits {
        let _ = writeln!(
            s,
            "  - {{ kind: credits, provider: {}, usd: {usd:e}, valid_months: 12 }}",
            pick(&PROVIDERS, p)
        );
    }
    s
}


fuzz_target!(|input: Input| {
    let text = yaml(&input);
    let Ok(loaded) =
        chipmix_workload::portfolio::parse("fuzz.yaml", &text, Path::new("."), catalog())
    else {
        return;
    };
    let p = loaded.portfolio;
    let Ok(c) = p.effective_catalog(catalog()) else {
        return;
    };
    let calibration = Calibration::builtin();
    let options = PlanOptions {
        time_limit_s: 1.0,
        relative_gap: 1e-4,
        analysis: false,
        method: SolveMethod::Auto,
    };
    match plan(&p, &c, &calibration, &options) {
        Ok(pl) => {
            let violations = verify::verify(&pl, &p, &c, &calibration);
            assert!(violations.is_empty(), "{text}\n{violations:?}");
        }
        Err(chipmix_plan::PlanError::Solver(m)) => panic!("solver refused a valid input: {m}\n{text}"),
        Err(_) => {}
    }
});
