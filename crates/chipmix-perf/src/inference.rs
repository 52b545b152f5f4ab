//! Inference: memory fit, prefill, decode, and serving under latency SLOs.
//!
//! The equations are written out in `docs/performance-model.md`; keep the two in step.

use crate::shape::ModelShape;
use crate::system::{GIB, System};
use crate::{Bound, PerfError};
use chipmix_workload::{Precision, Slo};
use serde::Serialize;

/// KV cache is kept in BF16 (vLLM's `kv_cache_dtype=auto` for BF16 and FP8-weight models).
pub const KV_BYTES_PER_ELEMENT: f64 = 2.0;

/// Most sequences a serving engine batches at once (vLLM's default `max_num_seqs`).
pub const MAX_BATCH: u32 = 256;

/// How a replica of the model is spread over chips: `tp` chips in tensor parallel inside one
/// scale-up domain, `pp` pipeline stages (across instances) for models too big for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Replica {
    pub tp: u32,
    pub pp: u32,
}

impl Replica {
    pub fn chips(self) -> u32 {
        self.tp.saturating_mul(self.pp)
    }
}

/// A model on a system in a replica layout at a precision.
#[derive(Clone, Debug)]
pub struct InferenceSetup<'a> {
    pub shape: &'a ModelShape,
    pub system: &'a System,
    pub precision: Precision,
    pub replica: Replica,
    peak_flops: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemoryFit {
    pub weights_gib_per_chip: f64,
    pub usable_gib_per_chip: f64,
    pub kv_bytes_per_token_per_chip: f64,
    /// Tokens of KV cache the replica can hold beside its weights.
    pub kv_capacity_tokens: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PrefillEstimate {
    pub time_ms: f64,
    pub bound: Bound,
    pub compute_ms: f64,
    pub memory_ms: f64,
    pub communication_ms: f64,
    pub overhead_ms: f64,
    pub tflops_per_chip: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DecodeEstimate {
    pub step_ms: f64,
    pub tokens_per_s: f64,
    pub bound: Bound,
    pub compute_ms: f64,
    pub memory_ms: f64,
    pub communication_ms: f64,
    pub overhead_ms: f64,
    pub weight_gib_read_per_chip: f64,
    pub kv_gib_read_per_chip: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServeEstimate {
    pub replica: Replica,
    /// Concurrent sequences per pipeline micro-batch at the operating point.
    pub batch: u32,
    pub max_requests_per_s: f64,
    pub output_tokens_per_s: f64,
    pub ttft_ms: f64,
    pub tpot_ms: f64,
    /// Share of time the replica spends on prefills; decodes stall for it.
    pub prefill_utilization: f64,
    pub decode_step_ms: f64,
    pub prefill_ms: f64,
    /// What stops the batch from growing: `slo_tpot`, `slo_ttft`, `memory` or `max_batch`.
    pub limited_by: &'static str,
}

impl<'a> InferenceSetup<'a> {
    pub fn new(
        shape: &'a ModelShape,
        system: &'a System,
        precision: Precision,
        replica: Replica,
    ) -> Result<Self, PerfError> {
        if replica.tp == 0 || replica.pp == 0 {
            return Err(PerfError::invalid("chips", "must be at least 1"));
        }
        if replica.tp > system.scaleup_domain_chips {
            return Err(PerfError::invalid(
                "chips",
                format!(
                    "tensor parallelism over {} chips exceeds the {}-chip scale-up domain of {} ({})",
                    replica.tp, system.scaleup_domain_chips, system.chip.id, system.fabric_note
                ),
            ));
        }
        // On GPUs, tensor parallelism splits attention by head (vLLM, SGLang and TensorRT-LLM
        // refuse a degree that does not divide the head count). Neuron (NxD Inference) pads
        // heads up to the degree, and XLA/Synapse shard by their own rules, so only GPU stacks
        // are held to divisors.
        let heads = shape.heads as u64;
        let splits_by_head = matches!(
            system.chip.software,
            chipmix_catalog::SoftwareStack::Cuda | chipmix_catalog::SoftwareStack::Rocm
        );
        if splits_by_head && heads > 0 && !heads.is_multiple_of(u64::from(replica.tp)) {
            return Err(PerfError::invalid(
                "chips",
                format!(
                    "tensor parallelism over {} chips does not divide the model's {heads} attention heads; use a divisor of {heads}",
                    replica.tp
                ),
            ));
        }
        let peak_flops = system.peak_flops(precision)?;
        Ok(InferenceSetup {
            shape,
            system,
            precision,
            replica,
            peak_flops,
        })
    }

    fn tp(&self) -> f64 {
        f64::from(self.replica.tp)
    }

    fn pp(&self) -> f64 {
        f64::from(self.replica.pp)
    }

    fn shards(&self) -> f64 {
        self.tp() * self.pp()
    }

    pub fn memory(&self) -> Result<MemoryFit, PerfError> {
        let s = self.shape;
        let weights = s.total_params * self.precision.bytes_per_param() / self.shards();
        let usable = self.system.usable_memory_bytes();
        let kv_per_token =
            s.kv_elements_per_token * KV_BYTES_PER_ELEMENT / (s.kv_shards(self.tp()) * self.pp());
        if weights >= usable {
            return Err(PerfError::DoesNotFit(format!(
                "{} in {} needs {:.1} GiB of weights per chip on {} {} chips (tp {} × pp {}); {:.1} GiB usable ({:.0}% of {} GiB HBM)",
                s.name,
                self.precision.as_str(),
                weights / GIB,
                self.replica.chips(),
                self.system.chip.id,
                self.replica.tp,
                self.replica.pp,
                usable / GIB,
                crate::system::USABLE_MEMORY_FRACTION * 100.0,
                self.system.chip.hbm_gib
            )));
        }
        Ok(MemoryFit {
            weights_gib_per_chip: weights / GIB,
            usable_gib_per_chip: usable / GIB,
            kv_bytes_per_token_per_chip: kv_per_token,
            kv_capacity_tokens: (usable - weights) / kv_per_token,
        })
    }

    /// Two all-reduces per layer over the tensor-parallel group, of `tokens × hidden` BF16
    /// activations; plus, with pipeline stages, one activation transfer between stages.
    fn communication_s(&self, tokens: f64) -> f64 {
        let s = self.shape;
        let bytes = tokens * s.hidden * 2.0;
        let tp_comm = 2.0 * s.layers * self.system.allreduce_scaleup_s(bytes, self.replica.tp);
        let pp_comm = (self.pp() - 1.0)
            * (self.system.params.collective_latency_us * 1e-6
                + bytes
                    / (self.system.scaleout_gb_per_s_per_chip
                        * 1e9
                        * self.system.params.network_bw_efficiency));
        tp_comm + pp_comm
    }

    /// A forward pass over `batch` prompts of `prompt` tokens.
    pub fn prefill(&self, batch: u32, prompt: u32) -> Result<PrefillEstimate, PerfError> {
        positive("batch", batch)?;
        positive("prompt", prompt)?;
        self.memory()?;
        let s = self.shape;
        let (b, l) = (f64::from(batch), f64::from(prompt));
        let p = &self.system.params;
        let flops = 2.0 * s.active_compute_params * b * l + b * s.attention_flops_causal(l);
        let flops_per_chip = flops / self.shards();
        // Stages run one after another for one pass; each chip holds 1/(tp·pp) of the work.
        let compute = self.pp() * flops_per_chip / (self.peak_flops * p.prefill_compute_efficiency);
        let weight_bytes =
            s.params_read_per_step(b * l) * self.precision.bytes_per_param() / self.shards();
        let memory =
            self.pp() * weight_bytes / (self.system.hbm_bytes_per_s() * p.decode_memory_efficiency);
        let comm = self.communication_s(b * l);
        let overhead = p.step_overhead_ms * 1e-3;
        let total = compute.max(memory) + comm + overhead;
        Ok(PrefillEstimate {
            time_ms: total * 1e3,
            bound: Bound::of(compute, memory, comm, overhead),
            compute_ms: compute * 1e3,
            memory_ms: memory * 1e3,
            communication_ms: comm * 1e3,
            overhead_ms: overhead * 1e3,
            tflops_per_chip: flops_per_chip / total / 1e12,
        })
    }

    /// One decode step for `batch` sequences (per pipeline micro-batch) whose context is
    /// `context` tokens on average. With `pp` stages, `pp` micro-batches are in flight, so
    /// `tokens_per_s` counts all of them.
    pub fn decode(&self, batch: u32, context: u32) -> Result<DecodeEstimate, PerfError> {
        positive("batch", batch)?;
        positive("context", context)?;
        let mem = self.memory()?;
        let needed = f64::from(batch) * self.pp() * f64::from(context);
        if needed > mem.kv_capacity_tokens {
            return Err(PerfError::DoesNotFit(format!(
                "{} sequences of {} tokens need {:.0} tokens of KV cache; the replica holds {:.0} beside its weights",
                batch * self.replica.pp,
                context,
                needed,
                mem.kv_capacity_tokens
            )));
        }
        Ok(self.decode_unchecked(f64::from(batch), f64::from(context), &mem))
    }

    fn decode_unchecked(&self, b: f64, c: f64, mem: &MemoryFit) -> DecodeEstimate {
        let s = self.shape;
        let p = &self.system.params;
        let bw = self.system.hbm_bytes_per_s();
        let weight_bytes =
            s.params_read_per_step(b) * self.precision.bytes_per_param() / self.shards();
        let kv_bytes = b * c * mem.kv_bytes_per_token_per_chip;
        let memory = self.pp()
            * (weight_bytes / (bw * p.decode_memory_efficiency)
                + kv_bytes / (bw * p.kv_read_efficiency));
        let flops = b * (2.0 * s.active_compute_params + s.attention_flops_per_token(c));
        let compute =
            self.pp() * flops / self.shards() / (self.peak_flops * p.prefill_compute_efficiency);
        let comm = self.communication_s(b);
        let overhead = p.step_overhead_ms * 1e-3;
        let step = compute.max(memory) + comm + overhead;
        DecodeEstimate {
            step_ms: step * 1e3,
            tokens_per_s: b * self.pp() / step,
            bound: Bound::of(compute, memory, comm, overhead),
            compute_ms: compute * 1e3,
            memory_ms: memory * 1e3,
            communication_ms: comm * 1e3,
            overhead_ms: overhead * 1e3,
            weight_gib_read_per_chip: weight_bytes / GIB,
            kv_gib_read_per_chip: kv_bytes / GIB,
        }
    }

    /// Continuous batching at the highest load that meets the SLOs.
    ///
    /// With `b` sequences decoding, a request arriving at rate λ costs one prefill of `t_pf`
    /// and `O` decode steps of `t_dec(b)`. Prefills preempt decodes (vLLM's scheduler runs
    /// waiting prefills first), so decodes get `1 − λ·t_pf` of the time:
    ///
    /// λ = b / (O·t_dec + b·t_pf),  TPOT = t_dec / (1 − λ·t_pf),
    /// TTFT = t_pf + W + t_dec/2 with W the M/D/1 wait ρ·t_pf / (2(1 − ρ)), ρ = λ·t_pf.
    ///
    /// TPOT and TTFT grow with `b`, and so does λ; the answer is the largest `b` that meets both
    /// SLOs and fits the KV cache, found by bisection.
    pub fn serve(&self, prompt: u32, output: u32, slo: Slo) -> Result<ServeEstimate, PerfError> {
        positive("prompt", prompt)?;
        positive("output", output)?;
        if !(slo.ttft_ms > 0.0 && slo.tpot_ms > 0.0) {
            return Err(PerfError::invalid("slo", "TTFT and TPOT must be > 0"));
        }
        let mem = self.memory()?;
        let seq_tokens = f64::from(prompt) + f64::from(output);
        let fit = (mem.kv_capacity_tokens / (seq_tokens * self.pp())).floor();
        if fit < 1.0 {
            return Err(PerfError::DoesNotFit(format!(
                "one sequence of {} tokens needs {:.0} tokens of KV cache per pipeline stage; {:.0} fit beside the weights",
                seq_tokens,
                seq_tokens * self.pp(),
                mem.kv_capacity_tokens
            )));
        }
        let b_max = fit.min(f64::from(MAX_BATCH)) as u32;
        let t_pf = self.prefill(1, prompt)?.time_ms * 1e-3;
        let context = f64::from(prompt) + f64::from(output) / 2.0;
        let o = f64::from(output);
        let point = |b: u32| -> ServeEstimate {
            let dec = self.decode_unchecked(f64::from(b), context, &mem);
            let t_dec = dec.step_ms * 1e-3;
            let bt = f64::from(b) * self.pp();
            // Pipeline stages overlap micro-batches: the replica completes `pp` micro-batch
            // steps per `t_dec`.
            let lambda = bt / (o * t_dec + bt * t_pf);
            let rho = lambda * t_pf;
            let tpot = t_dec / (1.0 - rho);
            let wait = rho * t_pf / (2.0 * (1.0 - rho));
            let ttft = t_pf + wait + t_dec / 2.0;
            ServeEstimate {
                replica: self.replica,
                batch: b,
                max_requests_per_s: lambda,
                output_tokens_per_s: lambda * o,
                ttft_ms: ttft * 1e3,
                tpot_ms: tpot * 1e3,
                prefill_utilization: rho,
                decode_step_ms: t_dec * 1e3,
                prefill_ms: t_pf * 1e3,
                limited_by: "",
            }
        };
        let meets = |e: &ServeEstimate| e.tpot_ms <= slo.tpot_ms && e.ttft_ms <= slo.ttft_ms;
        let first = point(1);
        if !meets(&first) {
            return Err(PerfError::SloUnreachable(format!(
                "even one sequence at a time gives TTFT {:.0} ms (SLO {:.0}) and TPOT {:.1} ms (SLO {:.1}) for {} on {} × {} (tp {}, pp {})",
                first.ttft_ms,
                slo.ttft_ms,
                first.tpot_ms,
                slo.tpot_ms,
                self.shape.name,
                self.replica.chips(),
                self.system.chip.id,
                self.replica.tp,
                self.replica.pp
            )));
        }
        let (mut lo, mut hi) = (1u32, b_max);
        let mut best = first;
        if meets(&point(hi)) {
            lo = hi;
            best = point(hi);
        } else {
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                let e = point(mid);
                if meets(&e) {
                    lo = mid;
                    best = e;
                } else {
                    hi = mid;
                }
            }
        }
        best.limited_by = if lo == b_max {
            if b_max == MAX_BATCH {
                "max_batch"
            } else {
                "memory"
            }
        } else {
            let next = point(lo + 1);
            if next.tpot_ms > slo.tpot_ms {
                "slo_tpot"
            } else {
                "slo_ttft"
            }
        };
        Ok(best)
    }

    /// Static batching as Neuron's benchmarks run it: `batch` prompts prefilled together, then
    /// decoded together to `output` tokens. Returns (TTFT ms, mean TPOT ms, output tokens/s).
    pub fn static_batch(
        &self,
        batch: u32,
        prompt: u32,
        output: u32,
    ) -> Result<(f64, f64, f64), PerfError> {
        let ttft = self.prefill(batch, prompt)?.time_ms;
        let context = prompt.saturating_add(output / 2);
        let tpot = self.decode(batch, context.max(1))?.step_ms;
        let total_s = (ttft + f64::from(output.saturating_sub(1)) * tpot) * 1e-3;
        Ok((ttft, tpot, f64::from(batch) * f64::from(output) / total_s))
    }
}

fn positive(field: &str, v: u32) -> Result<(), PerfError> {
    if v == 0 {
        Err(PerfError::invalid(field, "must be at least 1"))
    } else {
        Ok(())
    }
}
