//! The numbers of a model that the estimators use, computed once.

use chipmix_workload::ModelSpec;
use chipmix_workload::model::Attention;

/// Precomputed model quantities. Building one walks the layers; estimating with it does not.
#[derive(Clone, Debug)]
pub struct ModelShape {
    pub name: String,
    pub layers: f64,
    pub hidden: f64,
    pub vocab: f64,
    pub heads: f64,
    /// Query/key width and value width per head (attention FLOPs).
    pub qk_head_dim: f64,
    pub v_head_dim: f64,
    /// KV heads for sharding the cache across tensor-parallel ranks; `None` for latent
    /// attention, whose compressed cache every rank holds whole.
    pub kv_heads: Option<f64>,
    pub total_params: f64,
    /// Parameters that do a matmul per token (2 × this = forward FLOPs before attention).
    pub active_compute_params: f64,
    /// Parameters read from HBM by one forward pass of one token: all but the input embedding
    /// (a row lookup) and the experts a token does not use.
    pub embedding_params: f64,
    pub tied_embeddings: bool,
    /// MoE: routed experts, experts per token, weights of one routed expert, MoE layer count.
    pub moe: Option<MoeShape>,
    /// KV-cache elements per token over all layers.
    pub kv_elements_per_token: f64,
    /// Activation width of one MLP per token (for training activation memory): the dense FFN,
    /// or the active experts' FFNs.
    pub mlp_width: f64,
}

#[derive(Clone, Copy, Debug)]
pub struct MoeShape {
    pub experts: f64,
    pub experts_per_token: f64,
    pub expert_params: f64,
    pub moe_layers: f64,
}

impl ModelShape {
    pub fn new(m: &ModelSpec) -> ModelShape {
        let p = m.param_counts();
        let (heads, qk, v, kv_heads) = match &m.attention {
            Attention::Standard {
                heads,
                kv_heads,
                head_dim,
                ..
            } => (*heads, *head_dim, *head_dim, Some(*kv_heads as f64)),
            Attention::Latent {
                heads,
                qk_nope_head_dim,
                qk_rope_head_dim,
                v_head_dim,
                ..
            } => (
                *heads,
                qk_nope_head_dim + qk_rope_head_dim,
                *v_head_dim,
                None,
            ),
        };
        let moe = m.moe.as_ref().map(|x| MoeShape {
            experts: x.routed_experts as f64,
            experts_per_token: x.experts_per_token as f64,
            expert_params: (3 * m.hidden_size * x.expert_ffn_size) as f64,
            moe_layers: m.moe_layers() as f64,
        });
        let mlp_width = match &m.moe {
            Some(x) => (x.experts_per_token * x.expert_ffn_size + x.shared_ffn_size) as f64,
            None => m.ffn_size as f64,
        };
        ModelShape {
            name: m.name.clone(),
            layers: m.layers as f64,
            hidden: m.hidden_size as f64,
            vocab: m.vocab_size as f64,
            heads: heads as f64,
            qk_head_dim: qk as f64,
            v_head_dim: v as f64,
            kv_heads,
            total_params: p.total as f64,
            active_compute_params: p.active_compute as f64,
            embedding_params: p.embedding as f64,
            tied_embeddings: m.tied_embeddings,
            moe,
            kv_elements_per_token: (m.kv_cache_elements_per_token_per_layer() * m.layers) as f64,
            mlp_width,
        }
    }

    /// Attention-score FLOPs (QKᵀ and AV) of one new token attending to `context` tokens.
    pub fn attention_flops_per_token(&self, context: f64) -> f64 {
        2.0 * context * self.heads * (self.qk_head_dim + self.v_head_dim) * self.layers
    }

    /// Attention-score FLOPs of a causal pass over `len` tokens of one sequence.
    pub fn attention_flops_causal(&self, len: f64) -> f64 {
        len * len * self.heads * (self.qk_head_dim + self.v_head_dim) * self.layers
    }

    /// Weights streamed from HBM by one decode step over `batch` sequences, in parameters: MoE
    /// layers read only the experts some sequence in the batch routes to — in expectation
    /// `E·(1 − (1 − k/E)^batch)` of them, with uniform routing.
    pub fn params_read_per_step(&self, batch: f64) -> f64 {
        let lookup_only = if self.tied_embeddings {
            0.0
        } else {
            self.embedding_params
        };
        let mut params = self.total_params - lookup_only;
        if let Some(moe) = self.moe {
            let touched =
                moe.experts * (1.0 - (1.0 - moe.experts_per_token / moe.experts).powf(batch));
            params -= moe.moe_layers * (moe.experts - touched) * moe.expert_params;
        }
        params
    }

    /// Tensor-parallel ranks over which the KV cache is split: by KV head, so ranks beyond the
    /// KV-head count hold copies; latent caches are not split.
    pub fn kv_shards(&self, tp: f64) -> f64 {
        match self.kv_heads {
            Some(kv) => tp.min(kv),
            None => 1.0,
        }
    }
}
