//! Training: memory per chip and step time of a parallel configuration, and the search for the
//! fastest configuration that fits.
//!
//! Megatron-style 3-D parallelism: tensor parallel (`tp`) inside a scale-up domain with
//! sequence parallelism, pipeline parallel (`pp`, 1F1B, optionally interleaved into
//! `virtual_stages`), data parallel (`dp`) with the optimizer state sharded (distributed
//! optimizer, ZeRO-1/2) or everything sharded (ZeRO-3/FSDP), and full activation
//! recomputation as an option. MoE experts are spread over the data-parallel ranks (expert
//! parallelism). Equations: `docs/performance-model.md`.

use crate::shape::ModelShape;
use crate::system::{GIB, System};
use crate::{Bound, PerfError};
use chipmix_workload::Precision;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharding {
    /// Optimizer state and gradients sharded over data-parallel ranks (Megatron distributed
    /// optimizer, ZeRO-2).
    Optimizer,
    /// Weights too (ZeRO-3 / FSDP): weights are all-gathered for every micro-batch.
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recompute {
    None,
    /// Recompute only the cheap elementwise ops (the SwiGLU product): saves a third of the MLP
    /// activations for almost no FLOPs.
    Selective,
    /// Keep only each layer's input; recompute the forward pass during backward.
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub tp: u32,
    pub pp: u32,
    pub dp: u32,
    pub micro_batch: u32,
    pub virtual_stages: u32,
    pub expert_parallel: u32,
    pub sharding: Sharding,
    pub recompute: Recompute,
    /// Micro-batches per step per data-parallel rank.
    pub micro_batches: u32,
}

#[derive(Clone, Debug)]
pub struct TrainRequest {
    pub chips: u32,
    pub seq_len: u32,
    pub global_batch_tokens: f64,
    pub precision: Precision,
    /// Fix any of these to restrict the search.
    pub tp: Option<u32>,
    pub pp: Option<u32>,
    pub dp: Option<u32>,
    pub micro_batch: Option<u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainEstimate {
    pub config: TrainConfig,
    pub step_ms: f64,
    pub tokens_per_s: f64,
    /// Model FLOPs (6·N_active + attention, no recomputation) over the chips' peak at the
    /// precision used.
    pub mfu: f64,
    pub memory_gib_per_chip: f64,
    pub usable_gib_per_chip: f64,
    pub bound: Bound,
    pub compute_ms: f64,
    pub pipeline_bubble_ms: f64,
    pub tensor_parallel_comm_ms: f64,
    pub data_parallel_comm_ms: f64,
    pub pipeline_comm_ms: f64,
    pub optimizer_ms: f64,
    pub global_batch_tokens: f64,
}

impl TrainEstimate {
    pub fn days_for(&self, tokens: f64) -> f64 {
        tokens / self.tokens_per_s / 86_400.0
    }
}

/// Bytes per parameter of mixed-precision Adam: BF16 weights (2) and gradients (2), FP32
/// master weights, first and second moments (12). ZeRO paper, §3.
const WEIGHT_BYTES: f64 = 2.0;
const GRAD_BYTES: f64 = 2.0;
const OPTIMIZER_BYTES: f64 = 12.0;

struct Fixed<'a> {
    shape: &'a ModelShape,
    system: &'a System,
    seq: f64,
    peak: f64,
    usable: f64,
    /// Model FLOPs per token (forward + backward).
    flops_per_token: f64,
    /// Forward FLOPs per token (for recomputation).
    forward_flops_per_token: f64,
}

/// Estimates one configuration, or says why it cannot run.
fn evaluate(f: &Fixed<'_>, c: &TrainConfig) -> Result<TrainEstimate, String> {
    let s = f.shape;
    let p = &f.system.params;
    let (tp, pp, dp) = (f64::from(c.tp), f64::from(c.pp), f64::from(c.dp));
    let mb = f64::from(c.micro_batch);
    let v = f64::from(c.virtual_stages);
    let n_mb = f64::from(c.micro_batches);
    let ep = f64::from(c.expert_parallel);

    // --- memory per chip ---
    let expert_params = s
        .moe
        .map_or(0.0, |m| m.moe_layers * m.experts * m.expert_params);
    let dense_params = s.total_params - expert_params;
    let local_params = dense_params / (tp * pp) + expert_params / (tp * pp * ep);
    // Expert weights are replicated over dp/ep ranks; their optimizer state shards over those.
    let state_shards = dp;
    let model_state = match c.sharding {
        Sharding::Optimizer => {
            local_params * WEIGHT_BYTES
                + local_params * (GRAD_BYTES + OPTIMIZER_BYTES) / state_shards
        }
        Sharding::Full => {
            local_params * (WEIGHT_BYTES + GRAD_BYTES + OPTIMIZER_BYTES) / state_shards
        }
    };
    let layers_per_stage = (s.layers / pp).ceil();
    // Activations of one layer for one micro-batch, BF16, with sequence parallelism and
    // FlashAttention (no s² scores kept), split over tp (Korthikanti et al. 2022 adapted to
    // pre-norm SwiGLU without dropout): two norm inputs 4·sbh, QKV input, Q and attention
    // output ≈ 6.5·sbh with GQA's small K and V; MLP input 2·sbh, gate and up outputs 4·sbf,
    // their product 2·sbf.
    let act_layer = match c.recompute {
        Recompute::None => f.seq * mb * (12.5 * s.hidden + 6.0 * s.mlp_width) / tp,
        Recompute::Selective => f.seq * mb * (12.5 * s.hidden + 4.0 * s.mlp_width) / tp,
        Recompute::Full => 2.0 * f.seq * mb * s.hidden / tp,
    };
    // 1F1B: the first stage holds up to `pp` micro-batches in flight; interleaving adds
    // (pp−1)/(pp·v) more.
    let in_flight = pp.min(n_mb) * (1.0 + if v > 1.0 { (pp - 1.0) / (pp * v) } else { 0.0 });
    let activations = act_layer * layers_per_stage * in_flight;
    // Logits in BF16 plus FP32 softmax on the last stage.
    let logits = 6.0 * f.seq * mb * s.vocab / tp;
    let memory = model_state
        + if pp > 1.0 {
            activations.max(logits)
        } else {
            activations + logits
        };
    if memory > f.usable {
        return Err(format!(
            "needs {:.1} GiB per chip, {:.1} GiB usable",
            memory / GIB,
            f.usable / GIB
        ));
    }

    // --- time ---
    let tokens_mb = f.seq * mb;
    let recompute_flops = if c.recompute == Recompute::Full {
        f.forward_flops_per_token
    } else {
        0.0
    };
    let stage_share = layers_per_stage / s.layers;
    let flops_mb_chip = (f.flops_per_token + recompute_flops) * tokens_mb * stage_share / tp;
    let compute_mb = flops_mb_chip / (f.peak * p.train_compute_efficiency);
    // Sequence-parallel TP: per layer, forward and backward each move the activations twice
    // (all-gather + reduce-scatter = one all-reduce of volume), plus the recomputed forward.
    let act_bytes = tokens_mb * s.hidden * 2.0;
    let tp_collectives = if c.recompute == Recompute::Full {
        6.0
    } else {
        4.0
    };
    let tp_mb =
        layers_per_stage / 2.0 * tp_collectives * f.system.allreduce_scaleup_s(act_bytes, c.tp);
    // Expert parallelism: dispatch and combine all-to-all, forward and backward, per MoE layer.
    let ep_mb = match s.moe {
        Some(m) if c.expert_parallel > 1 => {
            let bytes = tokens_mb * m.experts_per_token * s.hidden * 2.0 / tp;
            let moe_layers_stage = m.moe_layers * stage_share;
            4.0 * moe_layers_stage * bytes * (ep - 1.0)
                / ep
                / (f.system.scaleout_gb_per_s_per_chip * 1e9 * p.network_bw_efficiency)
        }
        _ => 0.0,
    };
    // ZeRO-3 gathers the stage's weights for forward and backward of every micro-batch;
    // prefetching hides it behind compute when compute is longer.
    let zero3_mb = if c.sharding == Sharding::Full {
        let gather = local_params * WEIGHT_BYTES;
        (2.0 * f.system.allreduce_scaleout_s(gather / 2.0, c.dp) - compute_mb).max(0.0)
    } else {
        0.0
    };
    let mb_time = compute_mb + tp_mb + ep_mb + zero3_mb;
    let compute_total = n_mb * compute_mb;
    let bubble = (pp - 1.0) / v * mb_time;
    let pipeline_comm = if pp > 1.0 {
        // Stage-to-stage sends overlap with compute in the steady state; the ramp-up and
        // ramp-down sends are exposed.
        2.0 * (pp - 1.0)
            * (p.collective_latency_us * 1e-6
                + act_bytes
                    / tp
                    / (f.system.scaleout_gb_per_s_per_chip * 1e9 * p.network_bw_efficiency))
    } else {
        0.0
    };
    // Gradient reduction over data-parallel ranks, overlapped with the backward pass of the
    // last micro-batch. Ranks of one scale-up domain reduce over its links, the rest over the
    // network.
    let grad_bytes = local_params * GRAD_BYTES;
    let dp_time = if tp * pp * dp <= f64::from(f.system.scaleup_domain_chips) {
        f.system.allreduce_scaleup_s(grad_bytes, c.dp)
    } else {
        f.system.allreduce_scaleout_s(grad_bytes, c.dp)
    };
    let dp_exposed = (dp_time - 2.0 / 3.0 * compute_mb * v).max(0.0);
    // Adam reads and writes its state once per step.
    let optimizer = local_params * (WEIGHT_BYTES + GRAD_BYTES + OPTIMIZER_BYTES) * 2.0
        / state_shards
        / (f.system.hbm_bytes_per_s() * p.decode_memory_efficiency);
    let step = n_mb * mb_time + bubble + pipeline_comm + dp_exposed + optimizer;

    let tokens_step = tokens_mb * n_mb * dp;
    let mfu = f.flops_per_token * tokens_step / (step * f64::from(c.tp * c.pp * c.dp) * f.peak);
    let network = n_mb * (tp_mb + ep_mb + zero3_mb) + pipeline_comm + dp_exposed;
    let bound = if compute_total >= network.max(bubble) {
        Bound::Compute
    } else if bubble >= network {
        Bound::PipelineBubble
    } else {
        Bound::Network
    };
    Ok(TrainEstimate {
        config: *c,
        step_ms: step * 1e3,
        tokens_per_s: tokens_step / step,
        mfu,
        memory_gib_per_chip: memory / GIB,
        usable_gib_per_chip: f.usable / GIB,
        bound,
        compute_ms: compute_total * 1e3,
        pipeline_bubble_ms: bubble * 1e3,
        tensor_parallel_comm_ms: n_mb * tp_mb * 1e3,
        data_parallel_comm_ms: dp_exposed * 1e3,
        pipeline_comm_ms: pipeline_comm * 1e3,
        optimizer_ms: optimizer * 1e3,
        global_batch_tokens: tokens_step,
    })
}

fn powers_of_two_up_to(n: u32) -> impl Iterator<Item = u32> {
    (0..31).map(|i| 1u32 << i).take_while(move |&x| x <= n)
}

/// The fastest configuration that fits, over the degrees not fixed in `req`.
pub fn estimate(
    shape: &ModelShape,
    system: &System,
    req: &TrainRequest,
) -> Result<TrainEstimate, PerfError> {
    if req.chips == 0 {
        return Err(PerfError::invalid("chips", "must be at least 1"));
    }
    if !system.chip.trains {
        return Err(PerfError::invalid(
            "chip",
            format!(
                "{} is an inference-only chip: its vendor's software does not train on it",
                system.chip.id
            ),
        ));
    }
    if req.seq_len == 0 {
        return Err(PerfError::invalid("seq", "must be at least 1"));
    }
    if !req.global_batch_tokens.is_finite() || req.global_batch_tokens < f64::from(req.seq_len) {
        return Err(PerfError::invalid(
            "global-batch-tokens",
            format!(
                "{} is less than one sequence of {} tokens",
                req.global_batch_tokens, req.seq_len
            ),
        ));
    }
    for (name, v) in [
        ("tp", req.tp),
        ("pp", req.pp),
        ("dp", req.dp),
        ("micro-batch", req.micro_batch),
    ] {
        if v == Some(0) {
            return Err(PerfError::invalid(name, "must be at least 1"));
        }
    }
    if let (Some(tp), Some(pp), Some(dp)) = (req.tp, req.pp, req.dp)
        && tp * pp * dp != req.chips
    {
        return Err(PerfError::invalid(
            "tp",
            format!(
                "tp {tp} × pp {pp} × dp {dp} = {} is not --chips {}",
                tp * pp * dp,
                req.chips
            ),
        ));
    }
    let seq = f64::from(req.seq_len);
    let attn = shape.attention_flops_causal(seq) / seq;
    let fixed = Fixed {
        shape,
        system,
        seq,
        peak: system.peak_flops(req.precision)?,
        usable: system.usable_memory_bytes(),
        flops_per_token: 6.0 * shape.active_compute_params + 3.0 * attn,
        forward_flops_per_token: 2.0 * shape.active_compute_params + attn,
    };
    let sequences = (req.global_batch_tokens / seq).floor() as u32;
    let heads = shape.heads as u32;
    let max_tp = system.scaleup_domain_chips.min(req.chips);
    let tps: Vec<u32> = match req.tp {
        Some(t) => vec![t],
        None => {
            let mut t: Vec<u32> = powers_of_two_up_to(max_tp)
                .chain(std::iter::once(max_tp))
                .filter(|t| heads.is_multiple_of(*t))
                .collect();
            t.dedup();
            t
        }
    };
    let layers = shape.layers as u32;
    let mut best: Option<TrainEstimate> = None;
    let mut why_not: Option<String> = None;
    for &tp in &tps {
        if tp > system.scaleup_domain_chips {
            return Err(PerfError::invalid(
                "tp",
                format!(
                    "tp {tp} exceeds the {}-chip scale-up domain ({})",
                    system.scaleup_domain_chips, system.fabric_note
                ),
            ));
        }
        let pps: Vec<u32> = match req.pp {
            Some(p) => vec![p],
            None => powers_of_two_up_to(layers.min(req.chips / tp)).collect(),
        };
        for pp in pps {
            if pp > layers {
                return Err(PerfError::invalid(
                    "pp",
                    format!("pp {pp} exceeds the model's {layers} layers"),
                ));
            }
            if !req.chips.is_multiple_of(tp.saturating_mul(pp)) {
                continue;
            }
            let dp = req.chips / (tp * pp);
            if req.dp.is_some_and(|d| d != dp) {
                continue;
            }
            let per_rank = sequences / dp;
            if per_rank == 0 {
                why_not.get_or_insert(format!(
                    "dp {dp} exceeds the {sequences} sequences in a global batch"
                ));
                continue;
            }
            let ep = shape.moe.map_or(1, |m| {
                powers_of_two_up_to(dp.min(m.experts as u32))
                    .filter(|e| (m.experts as u32).is_multiple_of(*e))
                    .last()
                    .unwrap_or(1)
            });
            let mbs: Vec<u32> = match req.micro_batch {
                Some(m) => vec![m],
                None => powers_of_two_up_to(per_rank.min(16)).collect(),
            };
            for mb in mbs {
                let micro_batches = per_rank.div_ceil(mb);
                let vs: &[u32] = if pp > 1 { &[1, 2, 4, 8] } else { &[1] };
                for &v in vs {
                    if v > 1 && (layers < pp * v || micro_batches < pp) {
                        continue;
                    }
                    let shardings: &[Sharding] = if dp > 1 {
                        &[Sharding::Optimizer, Sharding::Full]
                    } else {
                        &[Sharding::Optimizer]
                    };
                    for &sharding in shardings {
                        for recompute in [Recompute::Selective, Recompute::Full] {
                            let config = TrainConfig {
                                tp,
                                pp,
                                dp,
                                micro_batch: mb,
                                virtual_stages: v,
                                expert_parallel: ep,
                                sharding,
                                recompute,
                                micro_batches,
                            };
                            match evaluate(&fixed, &config) {
                                Ok(e) => {
                                    if best
                                        .as_ref()
                                        .is_none_or(|b| e.tokens_per_s > b.tokens_per_s)
                                    {
                                        best = Some(e);
                                    }
                                }
                                Err(w) => {
                                    if why_not.is_none() || recompute == Recompute::Full {
                                        why_not = Some(format!(
                                            "tp {tp} pp {pp} dp {dp} micro-batch {mb}: {w}"
                                        ));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    best.ok_or_else(|| {
        PerfError::DoesNotFit(format!(
            "no parallel configuration of {} on {} × {} fits{}",
            shape.name,
            req.chips,
            system.chip.id,
            why_not.map(|w| format!(" (e.g. {w})")).unwrap_or_default()
        ))
    })
}
