//! Model architectures: the shapes that decide memory and FLOPs.
//!
//! A [`ModelSpec`] is read from a Hugging Face `config.json` (Llama, Mistral, Mixtral, Qwen2,
//! Qwen2-MoE, Qwen3, Qwen3-MoE and DeepSeek-V3 families). The presets are the published
//! `config.json` files themselves, shipped in `data/models/`, so presets and user files go
//! through the same reader.

use chipmix_catalog::limits::{self, Limit};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::path::Path;

/// How a layer's attention is built. Decides attention parameters, attention FLOPs and the size
/// of the KV cache.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attention {
    /// Multi-head / grouped-query attention (`kv_heads < heads`): Llama, Mistral, Qwen.
    Standard {
        heads: u64,
        kv_heads: u64,
        head_dim: u64,
        /// Qwen2 puts biases on the q, k and v projections.
        qkv_bias: bool,
        /// Qwen3 normalizes q and k per head (two `head_dim` weight vectors).
        qk_norm: bool,
    },
    /// DeepSeek multi-head latent attention: keys and values are cached as one compressed
    /// latent of `kv_lora_rank` plus a shared rotary key of `qk_rope_head_dim`.
    Latent {
        heads: u64,
        /// `None`: queries are projected directly (no low-rank compression).
        q_lora_rank: Option<u64>,
        kv_lora_rank: u64,
        qk_nope_head_dim: u64,
        qk_rope_head_dim: u64,
        v_head_dim: u64,
    },
}

/// Mixture-of-experts feed-forward layers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Moe {
    pub routed_experts: u64,
    pub experts_per_token: u64,
    /// Hidden size of one routed expert's gated MLP.
    pub expert_ffn_size: u64,
    /// Hidden size of all always-on shared experts together (0 when there are none).
    pub shared_ffn_size: u64,
    /// Qwen2-MoE gates its shared expert with a `hidden → 1` projection.
    pub shared_expert_gate: bool,
    /// DeepSeek keeps a per-expert routing bias.
    pub router_bias: bool,
    /// The first this-many layers are dense (DeepSeek `first_k_dense_replace`).
    pub first_dense_layers: u64,
    /// Of the remaining layers, every `layer_step`-th is MoE (`moe_layer_freq`,
    /// `decoder_sparse_step`).
    pub layer_step: u64,
    /// Layers forced dense (Qwen `mlp_only_layers`).
    pub dense_layers: Vec<u64>,
}

/// A decoder-only transformer, as far as memory and FLOPs are concerned.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelSpec {
    pub name: String,
    /// The `model_type` of the config (`llama`, `mixtral`, `qwen3_moe`, `deepseek_v3` …).
    pub family: String,
    pub layers: u64,
    pub hidden_size: u64,
    /// Hidden size of the dense gated MLP (used by dense layers).
    pub ffn_size: u64,
    pub vocab_size: u64,
    pub tied_embeddings: bool,
    pub max_position_embeddings: Option<u64>,
    pub attention: Attention,
    pub moe: Option<Moe>,
    /// Where the architecture was read from.
    pub source: String,
}

/// Parameter counts, computed from the architecture.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ParamCounts {
    pub total: u64,
    /// Every weight a token touches, the input embedding included (Mistral's convention:
    /// Mixtral 8x7B = 12.9B).
    pub active: u64,
    /// Every weight a token multiplies with: `active` without the input-embedding lookup
    /// (DeepSeek's convention: V3 = 36.6B). `2 × this` is the forward FLOPs per token before
    /// attention scores.
    pub active_compute: u64,
    pub embedding: u64,
}

impl ModelSpec {
    pub fn is_moe_layer(&self, layer: u64) -> bool {
        let Some(moe) = &self.moe else {
            return false;
        };
        layer >= moe.first_dense_layers
            && (layer - moe.first_dense_layers).is_multiple_of(moe.layer_step.max(1))
            && !moe.dense_layers.contains(&layer)
    }

    pub fn moe_layers(&self) -> u64 {
        (0..self.layers).filter(|&l| self.is_moe_layer(l)).count() as u64
    }

    pub fn attention_heads(&self) -> u64 {
        match self.attention {
            Attention::Standard { heads, .. } | Attention::Latent { heads, .. } => heads,
        }
    }

    /// Weights of one layer's attention block (projections, biases, q/k norms).
    pub fn attention_params_per_layer(&self) -> u64 {
        let h = self.hidden_size;
        match &self.attention {
            Attention::Standard {
                heads,
                kv_heads,
                head_dim,
                qkv_bias,
                qk_norm,
            } => {
                let q = heads * head_dim;
                let kv = kv_heads * head_dim;
                let proj = h * q + 2 * h * kv + q * h;
                let bias = if *qkv_bias { q + 2 * kv } else { 0 };
                let norm = if *qk_norm { 2 * head_dim } else { 0 };
                proj + bias + norm
            }
            Attention::Latent {
                heads,
                q_lora_rank,
                kv_lora_rank,
                qk_nope_head_dim,
                qk_rope_head_dim,
                v_head_dim,
            } => {
                let qk_head = qk_nope_head_dim + qk_rope_head_dim;
                let q = match q_lora_rank {
                    Some(r) => h * r + r + r * heads * qk_head,
                    None => h * heads * qk_head,
                };
                let kv_down = h * (kv_lora_rank + qk_rope_head_dim) + kv_lora_rank;
                let kv_up = kv_lora_rank * heads * (qk_nope_head_dim + v_head_dim);
                let o = heads * v_head_dim * h;
                q + kv_down + kv_up + o
            }
        }
    }

    /// A gated (SwiGLU) MLP: gate, up and down projections.
    fn gated_mlp(&self, inner: u64) -> u64 {
        3 * self.hidden_size * inner
    }

    /// (total, active) weights of one MoE feed-forward block.
    fn moe_block_params(&self, moe: &Moe) -> (u64, u64) {
        let expert = self.gated_mlp(moe.expert_ffn_size);
        let shared = self.gated_mlp(moe.shared_ffn_size)
            + if moe.shared_expert_gate {
                self.hidden_size
            } else {
                0
            };
        let router = self.hidden_size * moe.routed_experts
            + if moe.router_bias {
                moe.routed_experts
            } else {
                0
            };
        (
            moe.routed_experts * expert + shared + router,
            moe.experts_per_token * expert + shared + router,
        )
    }

    pub fn param_counts(&self) -> ParamCounts {
        let h = self.hidden_size;
        let embedding = self.vocab_size * h;
        let lm_head = if self.tied_embeddings { 0 } else { embedding };
        let per_layer_common = self.attention_params_per_layer() + 2 * h;
        let dense_ffn = self.gated_mlp(self.ffn_size);
        let (moe_total, moe_active) = match &self.moe {
            Some(moe) => self.moe_block_params(moe),
            None => (0, 0),
        };
        let moe_layers = self.moe_layers();
        let dense_layers = self.layers - moe_layers;
        let layers_total =
            self.layers * per_layer_common + dense_layers * dense_ffn + moe_layers * moe_total;
        let layers_active =
            self.layers * per_layer_common + dense_layers * dense_ffn + moe_layers * moe_active;
        let final_norm = h;
        let total = embedding + lm_head + layers_total + final_norm;
        // The output projection is a matmul whether or not it shares the embedding's weights.
        let active_compute = layers_active + final_norm + embedding;
        ParamCounts {
            total,
            active: active_compute + if self.tied_embeddings { 0 } else { embedding },
            active_compute,
            embedding,
        }
    }

    /// Elements cached per token per layer for attention (keys and values, or MLA's latent).
    pub fn kv_cache_elements_per_token_per_layer(&self) -> u64 {
        match &self.attention {
            Attention::Standard {
                kv_heads, head_dim, ..
            } => 2 * kv_heads * head_dim,
            Attention::Latent {
                kv_lora_rank,
                qk_rope_head_dim,
                ..
            } => kv_lora_rank + qk_rope_head_dim,
        }
    }

    /// Bytes of KV cache one token takes across all layers.
    pub fn kv_cache_bytes_per_token(&self, bytes_per_element: f64) -> f64 {
        (self.kv_cache_elements_per_token_per_layer() * self.layers) as f64 * bytes_per_element
    }
}

/// An error reading a model; names the file and the field.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelError {
    pub file: String,
    pub line: Option<u64>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            write!(f, "{}", self.file)?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            write!(f, ": ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ModelError {}

/// The model families whose `config.json` chipmix reads.
pub const SUPPORTED_FAMILIES: &[&str] = &[
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "deepseek_v3",
];

struct Config<'a> {
    file: &'a str,
    obj: &'a serde_json::Map<String, Value>,
}

impl Config<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> ModelError {
        ModelError {
            file: self.file.to_string(),
            line: None,
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// A whole number within `limit` (JSON may write it `8` or `8.0`).
    fn opt_u64(&self, field: &str, limit: &Limit) -> Result<Option<u64>, ModelError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let n = v
                    .as_f64()
                    .ok_or_else(|| self.err(field, format!("must be a whole number, got {v}")))?;
                limit
                    .check(n)
                    .map(|n| Some(n as u64))
                    .map_err(|m| self.err(field, m))
            }
        }
    }

    fn u64(&self, field: &str, limit: &Limit) -> Result<u64, ModelError> {
        self.opt_u64(field, limit)?
            .ok_or_else(|| self.err(field, "missing (required for this model family)"))
    }

    fn opt_bool(&self, field: &str) -> Result<Option<bool>, ModelError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.err(field, format!("must be true or false, got {v}"))),
        }
    }

    fn u64_list(&self, field: &str) -> Result<Vec<u64>, ModelError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .ok_or_else(|| self.err(field, format!("must list layer numbers, got {v}")))
                })
                .collect(),
            Some(v) => Err(self.err(field, format!("must be a list, got {v}"))),
        }
    }
}

/// Reads a Hugging Face `config.json`. `file` names it in errors; `name` becomes the model's
/// name.
pub fn from_hf_config(file: &str, name: &str, json: &str) -> Result<ModelSpec, ModelError> {
    let value: Value = serde_json::from_str(json).map_err(|e| ModelError {
        file: file.to_string(),
        line: Some(e.line() as u64),
        field: None,
        message: format!("not valid JSON: {e}"),
    })?;
    let Some(obj) = value.as_object() else {
        return Err(ModelError {
            file: file.to_string(),
            line: None,
            field: None,
            message: "a config.json must be a JSON object".to_string(),
        });
    };
    let c = Config { file, obj };
    let family = match obj.get("model_type") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(c.err("model_type", "missing; chipmix needs it to read the config")),
    };
    if !SUPPORTED_FAMILIES.contains(&family.as_str()) {
        return Err(c.err(
            "model_type",
            format!(
                "`{family}` is not a supported family (supported: {})",
                SUPPORTED_FAMILIES.join(", ")
            ),
        ));
    }
    let hidden_size = c.u64("hidden_size", &limits::MODEL_DIMENSION)?;
    let heads = c.u64("num_attention_heads", &limits::HEADS)?;
    let layers = c.u64("num_hidden_layers", &limits::LAYERS)?;
    let kv_heads = c
        .opt_u64("num_key_value_heads", &limits::HEADS)?
        .unwrap_or(heads);
    if !heads.is_multiple_of(kv_heads) {
        return Err(c.err(
            "num_key_value_heads",
            format!("{kv_heads} does not divide num_attention_heads = {heads}"),
        ));
    }
    let head_dim = match c.opt_u64("head_dim", &limits::MODEL_DIMENSION)? {
        Some(d) => d,
        None if hidden_size.is_multiple_of(heads) => hidden_size / heads,
        None => {
            return Err(c.err(
                "head_dim",
                "missing, and hidden_size is not a multiple of num_attention_heads",
            ));
        }
    };
    let attention = if family == "deepseek_v3" {
        Attention::Latent {
            heads,
            q_lora_rank: c.opt_u64("q_lora_rank", &limits::MODEL_DIMENSION)?,
            kv_lora_rank: c.u64("kv_lora_rank", &limits::MODEL_DIMENSION)?,
            qk_nope_head_dim: c.u64("qk_nope_head_dim", &limits::MODEL_DIMENSION)?,
            qk_rope_head_dim: c.u64("qk_rope_head_dim", &limits::MODEL_DIMENSION)?,
            v_head_dim: c.u64("v_head_dim", &limits::MODEL_DIMENSION)?,
        }
    } else {
        Attention::Standard {
            heads,
            kv_heads,
            head_dim,
            // Qwen2 always has q/k/v biases; Llama-family configs say so with `attention_bias`.
            qkv_bias: family.starts_with("qwen2") || c.opt_bool("attention_bias")?.unwrap_or(false),
            qk_norm: family.starts_with("qwen3"),
        }
    };
    let moe = match family.as_str() {
        "mixtral" => Some(Moe {
            routed_experts: c.u64("num_local_experts", &limits::EXPERTS)?,
            experts_per_token: c.u64("num_experts_per_tok", &limits::EXPERTS)?,
            expert_ffn_size: c.u64("intermediate_size", &limits::MODEL_DIMENSION)?,
            shared_ffn_size: 0,
            shared_expert_gate: false,
            router_bias: false,
            first_dense_layers: 0,
            layer_step: 1,
            dense_layers: Vec::new(),
        }),
        "qwen2_moe" | "qwen3_moe" => Some(Moe {
            routed_experts: c.u64("num_experts", &limits::EXPERTS)?,
            experts_per_token: c.u64("num_experts_per_tok", &limits::EXPERTS)?,
            expert_ffn_size: c.u64("moe_intermediate_size", &limits::MODEL_DIMENSION)?,
            shared_ffn_size: c
                .opt_u64("shared_expert_intermediate_size", &limits::MODEL_DIMENSION)?
                .unwrap_or(0),
            shared_expert_gate: family == "qwen2_moe",
            router_bias: false,
            first_dense_layers: 0,
            layer_step: c
                .opt_u64("decoder_sparse_step", &limits::LAYERS)?
                .unwrap_or(1),
            dense_layers: c.u64_list("mlp_only_layers")?,
        }),
        "deepseek_v3" => {
            let expert_ffn_size = c.u64("moe_intermediate_size", &limits::MODEL_DIMENSION)?;
            Some(Moe {
                routed_experts: c.u64("n_routed_experts", &limits::EXPERTS)?,
                experts_per_token: c.u64("num_experts_per_tok", &limits::EXPERTS)?,
                expert_ffn_size,
                shared_ffn_size: c
                    .opt_u64("n_shared_experts", &limits::EXPERTS)?
                    .unwrap_or(0)
                    * expert_ffn_size,
                shared_expert_gate: false,
                router_bias: true,
                first_dense_layers: c
                    .opt_u64("first_k_dense_replace", &limits::LAYERS)?
                    .unwrap_or(0),
                layer_step: c.opt_u64("moe_layer_freq", &limits::LAYERS)?.unwrap_or(1),
                dense_layers: Vec::new(),
            })
        }
        _ => None,
    };
    if let Some(m) = &moe
        && m.experts_per_token > m.routed_experts
    {
        return Err(c.err(
            "num_experts_per_tok",
            format!(
                "{} is more than the {} experts",
                m.experts_per_token, m.routed_experts
            ),
        ));
    }
    // Dense layers of MoE models that have no dense MLP size fall back to the expert size.
    let ffn_size = match (
        c.opt_u64("intermediate_size", &limits::MODEL_DIMENSION)?,
        &moe,
    ) {
        (Some(n), _) => n,
        (None, Some(m)) => m.expert_ffn_size,
        (None, None) => return Err(c.err("intermediate_size", "missing")),
    };
    let source = match obj.get("_chipmix_source") {
        Some(Value::String(s)) => s.clone(),
        _ => file.to_string(),
    };
    Ok(ModelSpec {
        name: name.to_string(),
        family,
        layers,
        hidden_size,
        ffn_size,
        vocab_size: c.u64("vocab_size", &limits::VOCAB)?,
        tied_embeddings: c.opt_bool("tie_word_embeddings")?.unwrap_or(false),
        max_position_embeddings: c
            .opt_u64("max_position_embeddings", &limits::TOKENS_PER_SEQUENCE)?,
        attention,
        moe,
        source,
    })
}

macro_rules! presets {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../data/models/", $name, ".json")))),*]
    };
}

/// The built-in models: published `config.json` files, by preset name.
const PRESETS: &[(&str, &str)] = presets![
    "llama-3.2-1b",
    "llama-3.2-3b",
    "llama-3-8b",
    "llama-3-70b",
    "llama-3.1-405b",
    "llama-2-7b",
    "llama-2-13b",
    "llama-2-70b",
    "mixtral-8x7b",
    "deepseek-v3",
    "mistral-7b-instruct-v0.2",
    "codellama-13b",
    "gpt-3-175b",
];

pub fn preset_names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|(n, _)| *n)
}

/// A built-in model by name. Accepts the Hugging Face repo name too
/// (`meta-llama/Meta-Llama-3-8B` → `llama-3-8b`).
pub fn preset(name: &str) -> Option<ModelSpec> {
    let key = preset_key(name);
    let (preset_name, json) = PRESETS.iter().find(|(n, _)| preset_key(n) == key)?;
    let spec = from_hf_config(
        &format!("data/models/{preset_name}.json"),
        preset_name,
        json,
    )
    .expect("built-in model presets are valid (tested)");
    Some(spec)
}

fn preset_key(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    let base = base
        .strip_prefix("meta-")
        .unwrap_or(&base)
        .replace("-hf", "")
        .replace("-v0.1", "");
    base.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

/// A model argument: a preset name, or a path to a `config.json` (or to a folder holding one).
/// Relative paths are taken from `base_dir` (the folder of the portfolio that names them).
pub fn resolve(arg: &str, base_dir: &Path) -> Result<ModelSpec, ModelError> {
    if let Some(spec) = preset(arg) {
        return Ok(spec);
    }
    let looks_like_path = arg.ends_with(".json") || arg.contains('/') || arg.contains('\\');
    let path = base_dir.join(arg);
    if looks_like_path || path.exists() {
        let file = if path.is_dir() {
            path.join("config.json")
        } else {
            path
        };
        let shown = file.display().to_string();
        let text = chipmix_catalog::limits::read_text_file(&file).map_err(|e| ModelError {
            file: shown.clone(),
            line: None,
            field: None,
            message: format!("cannot read model config: {e}"),
        })?;
        let name = file
            .parent()
            .and_then(|p| p.file_name())
            .filter(|_| file.file_name().is_some_and(|n| n == "config.json"))
            .or_else(|| file.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| arg.to_string());
        return from_hf_config(&shown, &name, &text);
    }
    let names: Vec<&str> = preset_names().collect();
    Err(ModelError {
        file: String::new(),
        line: None,
        field: None,
        message: format!(
            "unknown model `{arg}`{}; presets: {}; or give the path to a Hugging Face config.json",
            chipmix_catalog::did_you_mean(arg, &names),
            names.join(", ")
        ),
    })
}
