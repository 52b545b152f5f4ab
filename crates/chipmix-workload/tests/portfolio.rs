use chipmix_catalog::Catalog;
use chipmix_workload::portfolio::{self, Contract, Precision, ShareBasis};
use chipmix_workload::{Severity, WorkloadKind};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn parse(text: &str) -> Result<portfolio::Loaded, Vec<chipmix_workload::Diagnostic>> {
    portfolio::parse("p.yaml", text, Path::new("."), &catalog())
}

#[test]
fn frontier_lab_example_decodes_fully() {
    let loaded = portfolio::load(&root().join("examples/frontier-lab.yaml"), &catalog()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let p = loaded.portfolio;
    assert_eq!(p.name, "frontier-lab");
    assert_eq!(p.workloads.len(), 4);
    let (w, job) = p.training_jobs().next().unwrap();
    assert_eq!(w.name, "pretrain-405b");
    assert_eq!(w.model.name, "llama-3.1-405b");
    assert_eq!(job.tokens, 4e12);
    assert_eq!(job.global_batch_tokens, Some(16e6));
    let (chat, svc) = p.inference_services().next().unwrap();
    assert_eq!(chat.name, "chat-70b");
    assert_eq!(svc.min_vendors, 2);
    assert_eq!(svc.max_vendor_fraction, 0.7);
    assert_eq!(svc.headroom, 0.2, "inherited from policy.headroom");
    assert_eq!(p.policy.max_vendor_share, Some(0.6));
    assert_eq!(p.policy.budget_usd_per_month, Some(45e6));
    assert_eq!(p.policy.share_basis, ShareBasis::Spend);
    match &p.contracts[0] {
        Contract::Commitment {
            provider,
            usd_per_month,
            discount,
            chips,
            ..
        } => {
            assert_eq!(provider, "aws");
            assert_eq!(*usd_per_month, 8e6);
            assert_eq!(*discount, 0.3);
            assert_eq!(
                chips.as_deref().unwrap(),
                ["trainium", "trainium2", "inferentia2"]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(p.contracts[1], Contract::Credits { usd, .. } if usd == 20e6));
    let effective = p.effective_catalog(&catalog()).unwrap();
    let trn2 = effective.find_offering("trn2.48xlarge").unwrap();
    assert_eq!(trn2.capacity_instances, Some(400));
}

#[test]
fn numbers_accept_suffixes_and_separators() {
    let p = parse(
        "workloads:\n  - {name: a, kind: training, model: llama-3-8b, tokens: 1_500_000_000, seq_len: 4096, deadline_days: 7, software: [cuda]}\n  - {name: b, kind: training, model: llama-3-8b, tokens: 2.5T, seq_len: 2k, deadline_days: 0.5, software: cuda, precision: fp8}\npolicy: {budget_usd_per_month: $2.5M}\n",
    )
    .unwrap()
    .portfolio;
    let jobs: Vec<_> = p.training_jobs().collect();
    assert_eq!(jobs[0].1.tokens, 1.5e9);
    assert_eq!(jobs[1].1.tokens, 2.5e12);
    assert_eq!(jobs[1].1.seq_len, 2000);
    assert_eq!(jobs[1].0.precision, Precision::Fp8);
    assert_eq!(p.policy.budget_usd_per_month, Some(2.5e6));
}

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let errs = parse(
        "workloads:\n  - name: a\n    kind: inference\n    model: llama-3-8b\n    peak_requests_per_s: 0\n    prompt_tokens: 1.5\n    output_tokens: 10\n    slo: {ttft_ms: x, tpot_ms: -1}\n    software: [cuda]\npolicy: {max_vendor_share: 0}\n",
    )
    .unwrap_err();
    let paths: Vec<&str> = errs.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "workloads[0].peak_requests_per_s",
            "workloads[0].prompt_tokens",
            "workloads[0].slo.ttft_ms",
            "workloads[0].slo.tpot_ms",
            "policy.max_vendor_share"
        ]
    );
    assert!(
        errs.iter()
            .all(|d| d.severity == Severity::Error && d.line > 0)
    );
}

#[test]
fn long_sequences_warn_but_do_not_fail() {
    let loaded = parse(
        "workloads:\n  - {name: a, kind: training, model: llama-2-7b, tokens: 1B, seq_len: 8192, deadline_days: 7, software: [cuda]}\n",
    )
    .unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0]
            .message
            .contains("max_position_embeddings = 4096")
    );
}

#[test]
fn anchors_and_aliases_are_followed() {
    let p = parse("x-slo: &slo {ttft_ms: 500, tpot_ms: 40}\nworkloads: []\n");
    // `x-slo` is not a portfolio field: reported, not ignored.
    assert!(p.unwrap_err().iter().any(|d| d.path == "x-slo"));
    let p = parse(
        "workloads:\n  - {name: a, kind: inference, model: llama-3-8b, peak_requests_per_s: 1, prompt_tokens: 10, output_tokens: 10, slo: &slo {ttft_ms: 500, tpot_ms: 40}, software: [cuda]}\n  - {name: b, kind: inference, model: llama-3-8b, peak_requests_per_s: 1, prompt_tokens: 10, output_tokens: 10, slo: *slo, software: [cuda]}\n",
    )
    .unwrap()
    .portfolio;
    assert_eq!(p.workloads.len(), 2);
    let WorkloadKind::Inference(b) = &p.workloads[1].kind else {
        panic!("b is a service")
    };
    assert_eq!((b.slo.ttft_ms, b.slo.tpot_ms), (500.0, 40.0));
}

#[test]
fn credits_with_valid_months_need_no_start() {
    let p = parse(
        "workloads:\n  - {name: a, kind: training, model: llama-3-8b, tokens: 1B, seq_len: 4096, deadline_days: 7, software: [cuda]}\ncontracts:\n  - {kind: credits, provider: gcp, usd: 1M, valid_months: 12}\n",
    )
    .unwrap()
    .portfolio;
    assert!(matches!(
        p.contracts[0],
        Contract::Credits {
            valid_months: Some(12),
            ..
        }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Arbitrary text never panics the reader: it is a portfolio or a list of located errors.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        if let Err(errs) = parse(&text) {
            prop_assert!(!errs.is_empty());
        }
    }

    /// Corrupting one byte of a valid portfolio gives a portfolio or located errors, never a
    /// panic; every error names a line inside the file.
    #[test]
    fn corrupted_example_never_panics(pos in 0usize..2000, byte in proptest::sample::select(
        vec![b':', b'-', b' ', b'\t', b'[', b'{', b'"', b'0', b'x', b'\n', b'&', b'*', b'!', b'#'])) {
        let original = std::fs::read_to_string(root().join("examples/frontier-lab.yaml")).unwrap();
        let mut bytes = original.into_bytes();
        let i = pos % bytes.len();
        bytes[i] = byte;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let lines = text.lines().count() as u64 + 1;
        if let Err(errs) = parse(&text) {
            prop_assert!(!errs.is_empty());
            for e in errs {
                prop_assert!(e.line >= 1 && e.line <= lines, "{e}");
            }
        }
    }
}

#[test]
fn alias_bombs_are_refused_not_expanded() {
    // Nine levels of ten aliases each would expand to 10^9 nodes.
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text.push_str("workloads: *a9\n");
    let base = chipmix_catalog::Catalog::builtin().unwrap();
    let started = std::time::Instant::now();
    let errors =
        chipmix_workload::portfolio::parse("bomb.yaml", &text, std::path::Path::new("."), &base)
            .unwrap_err();
    assert!(
        errors.iter().any(|e| e
            .message
            .contains("has more than 1000000 nodes (aliases counted as expanded)")),
        "{errors:#?}"
    );
    // Refused early, not after building the tree.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Ordinary aliases still work.
    let ok = "name: a\nslo: &slo { ttft_ms: 500, tpot_ms: 40 }\n";
    assert!(chipmix_workload::yaml::parse(ok).is_ok());
}

/// Credits, like commitments, carry where they come from; a field credits do not have is still
/// refused with its place.
#[test]
fn credits_carry_their_source() {
    let p = parse(
        "workloads:\n  - {name: a, kind: training, model: llama-3-8b, tokens: 1B, seq_len: 4096, deadline_days: 7, software: [cuda]}\ncontracts:\n  - {kind: credits, provider: gcp, usd: 1M, valid_months: 12, source: \"award letter 2026-11\"}\n",
    )
    .unwrap()
    .portfolio;
    let Contract::Credits { source, .. } = &p.contracts[0] else {
        panic!("credits")
    };
    assert_eq!(source.as_deref(), Some("award letter 2026-11"));
    let refused = parse(
        "workloads:\n  - {name: a, kind: training, model: llama-3-8b, tokens: 1B, seq_len: 4096, deadline_days: 7, software: [cuda]}\ncontracts:\n  - {kind: credits, provider: gcp, usd: 1M, valid_months: 12, discount: 0.1}\n",
    )
    .unwrap_err();
    assert!(
        refused
            .iter()
            .any(|d| d.path == "contracts[0].discount" && d.line == 4),
        "{refused:?}"
    );
}
