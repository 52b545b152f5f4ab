//! How long a job takes on each pool: computed once from the performance model, before the
//! event loop, because a training search costs tens of microseconds and the loop handles
//! millions of events.

use crate::SimError;
use crate::fleet::Fleet;
use crate::trace::{JobArrival, REFERENCE_CHIP, model_for_gpus};
use chipmix_catalog::Catalog;
use chipmix_perf::training::{self, TrainRequest};
use chipmix_perf::{Calibration, ModelShape, System};
use chipmix_plan::candidates::default_global_batch_tokens;
use chipmix_workload::{Precision, model};
use serde::Serialize;
use std::collections::BTreeMap;

/// Sequence length the speed of every trace job is estimated at.
pub const SEQ_LEN: u32 = 4096;

/// Run-time multipliers per (job size, pool): a job of `num_gpus` GPUs that took `d` seconds
/// on the reference chip takes `d × factor` on the pool; `None` where the pool cannot run it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpeedTable {
    /// Distinct job sizes, ascending; a size's position is its class.
    gpu_counts: Vec<u32>,
    pools: usize,
    /// `[class × pools + pool]`; infinite where the pool cannot run the class.
    factors: Vec<f64>,
}

/// One cell of the table, for reports.
#[derive(Clone, Debug, Serialize)]
pub struct SpeedEntry {
    pub num_gpus: u32,
    pub model: &'static str,
    pub pool: usize,
    /// `None`: the model does not fit, or the chip does not train.
    pub factor: Option<f64>,
}

impl SpeedTable {
    /// Factors for every job size in `jobs` on every pool, from
    /// [`chipmix_perf::training::estimate`]: the model [`model_for_gpus`] maps the size to, on
    /// `num_gpus` chips, BF16, sequence length [`SEQ_LEN`], the planner's default global batch,
    /// the fastest layout. A pool's chip is taken as sold in its offering; a pool whose offering
    /// is not in the catalog falls back to the chip's largest offering.
    ///
    /// The reference is the A100-40GB as sold in its largest offering. Where the model does
    /// not fit `num_gpus` reference chips (Llama 3 70B on 12), the reference speed per chip is
    /// taken at the smallest doubling of the count where it fits.
    pub fn for_jobs(
        fleet: &Fleet,
        catalog: &Catalog,
        calibration: &Calibration,
        jobs: &[JobArrival],
    ) -> Result<SpeedTable, SimError> {
        let mut counts: Vec<u32> = jobs.iter().map(|j| j.num_gpus.max(1)).collect();
        counts.sort_unstable();
        counts.dedup();
        SpeedTable::build(fleet, catalog, calibration, counts)
    }

    /// [`SpeedTable::for_jobs`] for given job sizes.
    pub fn build(
        fleet: &Fleet,
        catalog: &Catalog,
        calibration: &Calibration,
        mut gpu_counts: Vec<u32>,
    ) -> Result<SpeedTable, SimError> {
        fleet.validate()?;
        gpu_counts.iter_mut().for_each(|g| *g = (*g).max(1));
        gpu_counts.sort_unstable();
        gpu_counts.dedup();
        let reference = System::for_chip(
            catalog,
            REFERENCE_CHIP,
            calibration.params_for(catalog, REFERENCE_CHIP),
        )
        .map_err(|e| SimError(format!("reference chip {REFERENCE_CHIP}: {e}")))?;
        let mut systems = Vec::with_capacity(fleet.pools.len());
        for (i, p) in fleet.pools.iter().enumerate() {
            let params = calibration.params_for(catalog, &p.chip);
            let system = match catalog.find_offering(&p.offering) {
                Ok(o) => System::for_offering(catalog, o, params),
                Err(_) => System::for_chip(catalog, &p.chip, params),
            }
            .map_err(|e| SimError(format!("pool {i} ({}): {e}", p.offering)))?;
            systems.push(system);
        }
        let mut shapes: BTreeMap<&'static str, ModelShape> = BTreeMap::new();
        // Pools of one offering (spot and on demand) give the same estimate.
        let mut cache: BTreeMap<(&'static str, String, u32), f64> = BTreeMap::new();
        let mut factors = Vec::with_capacity(gpu_counts.len() * fleet.pools.len());
        for &n in &gpu_counts {
            let name = model_for_gpus(n);
            let shape = match shapes.get(name) {
                Some(s) => s,
                None => {
                    let spec = model::preset(name)
                        .ok_or_else(|| SimError(format!("model preset {name} is missing")))?;
                    shapes.entry(name).or_insert(ModelShape::new(&spec))
                }
            };
            let reference_tps = reference_tokens_per_s(shape, &reference, n);
            for (i, system) in systems.iter().enumerate() {
                let key = (name, fleet.pools[i].offering.clone(), n);
                let tps = *cache
                    .entry(key)
                    .or_insert_with(|| tokens_per_s(shape, system, n).unwrap_or(0.0));
                factors.push(match reference_tps {
                    Some(r) if tps > 0.0 => r / tps,
                    _ => f64::INFINITY,
                });
            }
        }
        Ok(SpeedTable {
            gpu_counts,
            pools: fleet.pools.len(),
            factors,
        })
    }

    /// A table from given factors, `factors[class × pools + pool]` with classes in the order of
    /// `gpu_counts` (ascending, distinct); infinite or non-positive factors mean "cannot run".
    /// For tests and for fleets outside the catalog.
    pub fn from_factors(
        gpu_counts: Vec<u32>,
        pools: usize,
        factors: Vec<f64>,
    ) -> Result<SpeedTable, SimError> {
        if !gpu_counts.windows(2).all(|w| w[0] < w[1]) || gpu_counts.contains(&0) {
            return Err(SimError(
                "speed table: job sizes must be positive, distinct and ascending".into(),
            ));
        }
        if factors.len() != gpu_counts.len() * pools {
            return Err(SimError(format!(
                "speed table: {} factors for {} sizes × {pools} pools",
                factors.len(),
                gpu_counts.len()
            )));
        }
        let factors = factors
            .into_iter()
            .map(|f| {
                if f.is_finite() && f > 0.0 {
                    f
                } else {
                    f64::INFINITY
                }
            })
            .collect();
        Ok(SpeedTable {
            gpu_counts,
            pools,
            factors,
        })
    }

    pub fn gpu_counts(&self) -> &[u32] {
        &self.gpu_counts
    }

    pub fn pools(&self) -> usize {
        self.pools
    }

    pub(crate) fn class_of(&self, num_gpus: u32) -> Option<usize> {
        self.gpu_counts.binary_search(&num_gpus.max(1)).ok()
    }

    pub(crate) fn raw(&self, class: usize, pool: usize) -> f64 {
        self.factors[class * self.pools + pool]
    }

    /// The run-time multiplier of a job of `num_gpus` on `pool`; `None` when the pool cannot
    /// run it or the size is not in the table.
    pub fn factor(&self, num_gpus: u32, pool: usize) -> Option<f64> {
        let c = self.class_of(num_gpus)?;
        if pool >= self.pools {
            return None;
        }
        Some(self.raw(c, pool)).filter(|f| f.is_finite())
    }

    pub fn entries(&self) -> Vec<SpeedEntry> {
        let mut out = Vec::new();
        for (c, &n) in self.gpu_counts.iter().enumerate() {
            for pool in 0..self.pools {
                let f = self.raw(c, pool);
                out.push(SpeedEntry {
                    num_gpus: n,
                    model: model_for_gpus(n),
                    pool,
                    factor: f.is_finite().then_some(f),
                });
            }
        }
        out
    }
}

fn request(shape: &ModelShape, chips: u32) -> TrainRequest {
    TrainRequest {
        chips,
        seq_len: SEQ_LEN,
        global_batch_tokens: default_global_batch_tokens(shape.total_params, SEQ_LEN),
        precision: Precision::Bf16,
        tp: None,
        pp: None,
        dp: None,
        micro_batch: None,
    }
}

fn tokens_per_s(shape: &ModelShape, system: &System, chips: u32) -> Option<f64> {
    training::estimate(shape, system, &request(shape, chips))
        .ok()
        .map(|e| e.tokens_per_s)
        .filter(|t| t.is_finite() && *t > 0.0)
}

/// Reference tokens/s of `chips` reference chips; where the model does not fit them, per-chip
/// speed at the smallest doubling that fits, times `chips`.
fn reference_tokens_per_s(shape: &ModelShape, reference: &System, chips: u32) -> Option<f64> {
    let mut n = chips;
    for _ in 0..12 {
        if let Some(t) = tokens_per_s(shape, reference, n) {
            return Some(t / f64::from(n) * f64::from(chips));
        }
        n = n.checked_mul(2)?;
    }
    None
}
