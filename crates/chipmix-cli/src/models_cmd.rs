//! `chipmix models …`

use crate::output::{self, Format, Listing, billions};
use crate::{CmdResult, Failure};
use chipmix_workload::model::{self, Attention, ModelSpec};
use clap::Subcommand;
use std::path::Path;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// List the built-in models with their parameter counts
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show one model's architecture: a preset name or a path to a Hugging Face config.json
    Show {
        model: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub fn run(cmd: ModelsCommand) -> CmdResult {
    match cmd {
        ModelsCommand::List { format } => {
            let models: Vec<ModelSpec> = model::preset_names().filter_map(model::preset).collect();
            list(&models, format)
        }
        ModelsCommand::Show { model: arg, format } => {
            let spec = model::resolve(&arg, Path::new("."))
                .map_err(|e| Failure::bad(format!("error: {e}")))?;
            show(&spec, format)
        }
    }
}

#[derive(serde::Serialize)]
struct ModelOut<'a> {
    #[serde(flatten)]
    spec: &'a ModelSpec,
    params: model::ParamCounts,
    kv_cache_bytes_per_token_bf16: f64,
}

fn out(spec: &ModelSpec) -> ModelOut<'_> {
    ModelOut {
        spec,
        params: spec.param_counts(),
        kv_cache_bytes_per_token_bf16: spec.kv_cache_bytes_per_token(2.0),
    }
}

fn list(models: &[ModelSpec], format: Format) -> CmdResult {
    let rows = models
        .iter()
        .map(|m| {
            let p = m.param_counts();
            vec![
                m.name.clone(),
                m.family.clone(),
                billions(p.total),
                billions(p.active),
                m.layers.to_string(),
                m.hidden_size.to_string(),
                m.moe
                    .as_ref()
                    .map(|x| format!("{}/{}", x.experts_per_token, x.routed_experts))
                    .unwrap_or_default(),
                format!("{:.0}", m.kv_cache_bytes_per_token(2.0) / 1024.0),
            ]
        })
        .collect();
    let items: Vec<ModelOut<'_>> = models.iter().map(out).collect();
    output::print_listing(
        format,
        Listing {
            header: &[
                "model",
                "family",
                "params",
                "active",
                "layers",
                "hidden",
                "experts",
                "kv_kib_per_token",
            ],
            rows,
            items: &items,
        },
    )
}

fn show(m: &ModelSpec, format: Format) -> CmdResult {
    if format == Format::Json {
        return output::print_json(&out(m));
    }
    let p = m.param_counts();
    let mut fields: Vec<(String, String)> = vec![
        ("model".into(), m.name.clone()),
        ("family".into(), m.family.clone()),
        ("source".into(), m.source.clone()),
        ("layers".into(), m.layers.to_string()),
        ("hidden_size".into(), m.hidden_size.to_string()),
        ("ffn_size".into(), m.ffn_size.to_string()),
        ("vocab_size".into(), m.vocab_size.to_string()),
        ("tied_embeddings".into(), m.tied_embeddings.to_string()),
    ];
    match &m.attention {
        Attention::Standard {
            heads,
            kv_heads,
            head_dim,
            ..
        } => fields.push((
            "attention".into(),
            format!("{heads} heads, {kv_heads} KV heads, head_dim {head_dim}"),
        )),
        Attention::Latent {
            heads,
            kv_lora_rank,
            qk_rope_head_dim,
            ..
        } => fields.push((
            "attention".into(),
            format!(
                "latent (MLA): {heads} heads, KV latent {kv_lora_rank} + rotary {qk_rope_head_dim}"
            ),
        )),
    }
    if let Some(moe) = &m.moe {
        fields.push((
            "experts".into(),
            format!(
                "{} of {} routed per token (ffn {}), shared ffn {}, {} MoE layers",
                moe.experts_per_token,
                moe.routed_experts,
                moe.expert_ffn_size,
                moe.shared_ffn_size,
                m.moe_layers()
            ),
        ));
    }
    fields.extend([
        ("params_total".into(), billions(p.total)),
        ("params_active".into(), billions(p.active)),
        ("params_active_compute".into(), billions(p.active_compute)),
        (
            "kv_cache_per_token_bf16".into(),
            format!("{:.1} KiB", m.kv_cache_bytes_per_token(2.0) / 1024.0),
        ),
    ]);
    let rows: Vec<Vec<String>> = fields.into_iter().map(|(k, v)| vec![k, v]).collect();
    output::print_listing(
        format,
        Listing::<()> {
            header: &["field", "value"],
            rows,
            items: &[],
        },
    )
}
