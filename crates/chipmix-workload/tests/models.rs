//! Parameter counts against the totals the model publishers state.

use chipmix_workload::model::{self, ModelSpec};
use std::path::Path;

const B: f64 = 1e9;

fn fixture(name: &str) -> ModelSpec {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models");
    model::resolve(&format!("{name}.config.json"), &dir).unwrap()
}

fn within(actual: u64, published: f64, tolerance: f64) {
    let err = (actual as f64 - published).abs() / published;
    assert!(
        err <= tolerance,
        "{:.3}B vs published {:.3}B: {:.2}% off",
        actual as f64 / B,
        published / B,
        err * 100.0
    );
}

#[test]
fn presets_match_published_totals_within_half_a_percent() {
    let cases = [
        ("llama-3.2-1b", 1.24 * B),
        ("llama-3.2-3b", 3.21 * B),
        ("llama-3-8b", 8.03 * B),
        ("llama-3-70b", 70.6 * B),
        ("llama-3.1-405b", 405.9 * B),
        ("llama-2-7b", 6.74 * B),
        ("llama-2-13b", 13.0 * B),
        ("llama-2-70b", 69.0 * B),
        ("mixtral-8x7b", 46.7 * B),
        ("deepseek-v3", 671.0 * B),
    ];
    for (name, published) in cases {
        let m = model::preset(name).unwrap();
        within(m.param_counts().total, published, 0.005);
    }
}

#[test]
fn moe_active_parameters_match_each_publishers_convention() {
    // Mistral counts every weight a token touches, embeddings included.
    let mixtral = model::preset("mixtral-8x7b").unwrap().param_counts();
    within(mixtral.active, 12.9 * B, 0.005);
    // DeepSeek counts the weights a token multiplies with (36.6B including the 0.9B output
    // head, README_WEIGHTS.md); the headline "37B" is that rounded.
    let ds = model::preset("deepseek-v3").unwrap().param_counts();
    within(ds.active_compute, 36.6 * B, 0.005);
    within(ds.active, 37.0 * B, 0.015);
    // Dense models: every weight is active.
    let l = model::preset("llama-3-70b").unwrap().param_counts();
    assert_eq!(l.active, l.total);
}

#[test]
fn hf_config_files_give_the_same_counts() {
    within(
        fixture("Meta-Llama-3-8B").param_counts().total,
        8.03 * B,
        0.005,
    );
    within(
        fixture("Llama-3.1-405B").param_counts().total,
        405.9 * B,
        0.005,
    );
    let mixtral = fixture("Mixtral-8x7B-v0.1").param_counts();
    within(mixtral.total, 46.7 * B, 0.005);
    within(mixtral.active, 12.9 * B, 0.005);
    let ds = fixture("DeepSeek-V3").param_counts();
    within(ds.total, 671.0 * B, 0.005);
    within(ds.active_compute, 36.6 * B, 0.005);
    within(fixture("Qwen2-7B").param_counts().total, 7.62 * B, 0.005);
    within(fixture("Qwen3-8B").param_counts().total, 8.19 * B, 0.005);
    let qmoe = fixture("Qwen3-30B-A3B").param_counts();
    within(qmoe.total, 30.5 * B, 0.005);
    within(qmoe.active, 3.3 * B, 0.02);
    within(
        fixture("Mistral-7B-v0.1").param_counts().total,
        7.24 * B,
        0.005,
    );
    // A preset and the full published file describe the same architecture.
    let from_file = fixture("Meta-Llama-3-8B");
    let preset = model::preset("llama-3-8b").unwrap();
    assert_eq!(from_file.param_counts(), preset.param_counts());
    assert_eq!(from_file.name, "Meta-Llama-3-8B.config");
}

#[test]
fn kv_cache_sizes() {
    // Llama-3-70B: 80 layers × 2 × 8 KV heads × 128 × 2 bytes = 320 KiB per token.
    let l = model::preset("llama-3-70b").unwrap();
    assert_eq!(l.kv_cache_bytes_per_token(2.0), 327_680.0);
    // DeepSeek-V3 caches one 512 latent + 64 rotary key per layer.
    let ds = model::preset("deepseek-v3").unwrap();
    assert_eq!(ds.kv_cache_elements_per_token_per_layer(), 576);
    assert_eq!(ds.moe_layers(), 58);
}

#[test]
fn presets_resolve_by_hugging_face_names() {
    let base = Path::new(".");
    assert_eq!(
        model::resolve("meta-llama/Meta-Llama-3-8B", base)
            .unwrap()
            .name,
        "llama-3-8b"
    );
    assert_eq!(
        model::resolve("Llama-3.1-405B", base).unwrap().name,
        "llama-3.1-405b"
    );
    assert_eq!(
        model::resolve("mistralai/Mixtral-8x7B-v0.1", base)
            .unwrap()
            .name,
        "mixtral-8x7b"
    );
}

#[test]
fn bad_configs_name_the_file_and_field() {
    let err = model::resolve("mixtral-8x7", Path::new(".")).unwrap_err();
    assert!(err.message.contains("did you mean `mixtral-8x7b`"), "{err}");
    let err = model::from_hf_config("c.json", "x", r#"{"model_type": "gpt2"}"#).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("model_type"));
    let err = model::from_hf_config(
        "c.json",
        "x",
        r#"{"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
            "num_hidden_layers": 32, "num_key_value_heads": 5, "vocab_size": 1, "intermediate_size": 1}"#,
    )
    .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("num_key_value_heads"));
    let err = model::from_hf_config("c.json", "x", "{\n  \"model_type\": \"llama\",\n  oops\n}")
        .unwrap_err();
    assert_eq!(err.line, Some(3));
    let err = model::from_hf_config(
        "c.json",
        "x",
        r#"{"model_type": "llama", "hidden_size": -1, "num_attention_heads": 32, "num_hidden_layers": 2}"#,
    )
    .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("hidden_size"));
    let err = model::resolve("missing/config.json", Path::new(".")).unwrap_err();
    assert!(err.message.contains("cannot read"), "{err}");
}
