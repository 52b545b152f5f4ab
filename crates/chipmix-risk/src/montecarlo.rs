//! Monte Carlo supply shocks: random vendor shortages and region outages, against today's plan
//! and against a re-made one.
//!
//! Each sample draws from its own generator seeded by (seed, sample index), so the result is
//! the same for the same seed on any number of threads. Re-planning thousands of times stays
//! fast by caching: samples that draw the same shock pattern share one re-plan, and the
//! distinct patterns are solved in parallel. Outage probabilities are small, so a thousand
//! samples hold a few dozen patterns.

use crate::stress::{FixedPlan, Levels, held_instances, shocked_inputs};
use crate::{Context, cvar, quantile};
use chipmix_catalog::Vendor;
use chipmix_plan::Plan;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The random shocks. The defaults are assumptions for illustration, not measured rates: set
/// your own from your providers' incident history and your supply contracts.
#[derive(Clone, Debug, Serialize)]
pub struct ShockModel {
    /// Per vendor, per sample: the chance its supply is short.
    pub vendor_shortage_probability: f64,
    /// What a shortage leaves of the vendor's instances (see [`crate::scenario::ShockKind::Capacity`]).
    pub vendor_shortage_factor: f64,
    /// Per provider region, per sample: the chance of an outage.
    pub region_outage_probability: f64,
    /// In an outage, the chance each offering of the region is lost: 1 loses the whole region
    /// together (fully correlated), lower values lose parts of it.
    pub region_correlation: f64,
}

impl Default for ShockModel {
    fn default() -> Self {
        ShockModel {
            vendor_shortage_probability: 0.05,
            vendor_shortage_factor: 0.5,
            region_outage_probability: 0.02,
            region_correlation: 1.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct MonteCarloOptions {
    pub samples: usize,
    /// The first this many samples are also re-planned.
    pub replan_samples: usize,
    pub seed: u64,
    pub model: ShockModel,
}

#[derive(Clone, Debug, Serialize)]
pub struct Distribution {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    /// Mean of the worst 5%.
    pub cvar95: f64,
    pub max: f64,
}

impl Distribution {
    fn of(values: &mut [f64]) -> Distribution {
        values.sort_by(f64::total_cmp);
        Distribution {
            mean: values.iter().sum::<f64>() / values.len().max(1) as f64,
            p50: quantile(values, 0.5),
            p95: quantile(values, 0.95),
            p99: quantile(values, 0.99),
            cvar95: cvar(values, 0.95),
            max: values.last().copied().unwrap_or(f64::NAN),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FixedPlanResult {
    pub samples: usize,
    /// Unserved peak demand as a fraction of all services' peak demand.
    pub unserved_fraction: Distribution,
    /// Chance that some service keeps less than half its peak demand.
    pub probability_any_service_below_half: f64,
    /// Chance that some training job misses its deadline or stops.
    pub probability_training_delayed: f64,
    /// Every sample's unserved fraction, in sample order (for charts).
    #[serde(skip)]
    pub unserved_by_sample: Vec<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReplanResult {
    pub samples: usize,
    /// Distinct shock patterns among them: the number of MILP solves.
    pub distinct_patterns: usize,
    /// Chance that no plan meets the policy after the shock.
    pub probability_policy_infeasible: f64,
    /// Chance that no plan exists even with the diversity rules and budget waived: demand
    /// goes unserved.
    pub probability_infeasible: f64,
    /// Re-planned cost over the samples where a plan exists: under the policy where one meets
    /// it, else with the diversity rules waived (an emergency re-plan).
    pub cost_usd_per_month: Option<Distribution>,
    /// Cost over today's, over the feasible samples.
    pub increase_fraction: Option<Distribution>,
    #[serde(skip)]
    pub cost_by_sample: Vec<Option<f64>>,
    pub how: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct MonteCarloReport {
    pub portfolio: String,
    pub seed: u64,
    pub model: ShockModel,
    pub vendors: Vec<String>,
    pub regions: Vec<String>,
    pub base_cost_usd_per_month: f64,
    pub fixed_plan: FixedPlanResult,
    pub replan: Option<ReplanResult>,
}

/// One sample's shock: the vendors short and the offerings lost.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pattern {
    short: Vec<usize>,
    lost: Vec<usize>,
}

struct World {
    vendors: Vec<Vendor>,
    /// `provider/region` → offering indices.
    regions: Vec<(String, Vec<usize>)>,
    vendor_of_offering: Vec<usize>,
}

impl World {
    fn new(ctx: &Context) -> World {
        let offerings = ctx.catalog.offerings();
        let vendors: Vec<Vendor> = offerings
            .iter()
            .map(|o| ctx.catalog.vendor_of(o))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut regions: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, o) in offerings.iter().enumerate() {
            regions
                .entry(format!("{}/{}", o.provider, o.region))
                .or_default()
                .push(i);
        }
        World {
            vendor_of_offering: offerings
                .iter()
                .map(|o| {
                    let v = ctx.catalog.vendor_of(o);
                    vendors.iter().position(|x| *x == v).unwrap_or(0)
                })
                .collect(),
            vendors,
            regions: regions.into_iter().collect(),
        }
    }

    fn draw(&self, model: &ShockModel, seed: u64, sample: usize) -> Pattern {
        // One stream per sample (xoshiro256++, seeded through SplitMix64 from the seed and the
        // sample number): the draws do not depend on which thread takes which sample.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            seed ^ (sample as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        let mut chance = |p: f64| rng.random::<f64>() < p;
        let short = (0..self.vendors.len())
            .filter(|_| chance(model.vendor_shortage_probability))
            .collect();
        let mut lost = Vec::new();
        for (_, offerings) in &self.regions {
            if chance(model.region_outage_probability) {
                for &o in offerings {
                    if model.region_correlation >= 1.0 || chance(model.region_correlation) {
                        lost.push(o);
                    }
                }
            }
        }
        lost.sort_unstable();
        Pattern { short, lost }
    }

    fn levels(&self, ctx: &Context, model: &ShockModel, p: &Pattern) -> Levels {
        let mut l = Levels::none(ctx.portfolio, ctx.catalog);
        for (i, c) in l.capacity.iter_mut().enumerate() {
            if p.short.contains(&self.vendor_of_offering[i]) {
                *c *= model.vendor_shortage_factor;
            }
        }
        for &o in &p.lost {
            l.capacity[o] = 0.0;
        }
        l
    }
}

/// Runs the simulation. `progress` is called with the number of samples finished (fixed-plan
/// samples, then re-planned patterns) and may be called from several threads.
pub fn run(
    ctx: &Context,
    base: &Plan,
    options: &MonteCarloOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> MonteCarloReport {
    let world = World::new(ctx);
    let model = &options.model;
    let fixed = FixedPlan::new(base, ctx.portfolio, ctx.catalog);

    // Fixed plan: cheap, so every sample, in parallel chunks.
    let outcomes: Vec<(f64, bool, bool)> = (0..options.samples)
        .into_par_iter()
        .map(|i| {
            let pattern = world.draw(model, options.seed, i);
            let out = if pattern.short.is_empty() && pattern.lost.is_empty() {
                (0.0, false, false)
            } else {
                let levels = world.levels(ctx, model, &pattern);
                let o = fixed.evaluate(&levels);
                (
                    o.unserved_fraction,
                    o.services.iter().any(|s| s.served_fraction < 0.5),
                    o.training.iter().any(|t| !t.meets_deadline),
                )
            };
            if i % 256 == 255 {
                progress(256);
            }
            out
        })
        .collect();
    progress((options.samples % 256) as u64);
    let n = outcomes.len().max(1) as f64;
    let mut unserved: Vec<f64> = outcomes.iter().map(|o| o.0).collect();
    let unserved_by_sample = unserved.clone();
    let fixed_result = FixedPlanResult {
        samples: outcomes.len(),
        unserved_fraction: Distribution::of(&mut unserved),
        probability_any_service_below_half: outcomes.iter().filter(|o| o.1).count() as f64 / n,
        probability_training_delayed: outcomes.iter().filter(|o| o.2).count() as f64 / n,
        unserved_by_sample,
    };

    let replan = (options.replan_samples > 0).then(|| {
        let m = options.replan_samples;
        let patterns: Vec<Pattern> = (0..m)
            .map(|i| world.draw(model, options.seed, i))
            .collect();
        let distinct: Vec<Pattern> = patterns
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let held = held_instances(base, ctx.catalog);
        // Per pattern: (cost under the policy, cost with the diversity rules waived).
        let solved: BTreeMap<Pattern, (Option<f64>, Option<f64>)> = distinct
            .par_iter()
            .map(|p| {
                let costs = if p.short.is_empty() && p.lost.is_empty() {
                    (Some(base.objective_usd_per_month), None)
                } else {
                    let levels = world.levels(ctx, model, p);
                    let (pf, cat) = shocked_inputs(&levels, ctx.portfolio, ctx.catalog, &held);
                    match ctx.plan_on(&pf, &cat) {
                        Ok(pl) => (Some(pl.objective_usd_per_month), None),
                        Err(_) => (
                            None,
                            ctx.plan_on(&crate::waive_diversity_rules(&pf), &cat)
                                .ok()
                                .map(|pl| pl.objective_usd_per_month),
                        ),
                    }
                };
                progress(1);
                (p.clone(), costs)
            })
            .collect();
        let policy_cost: Vec<Option<f64>> = patterns.iter().map(|p| solved[p].0).collect();
        let cost_by_sample: Vec<Option<f64>> =
            patterns.iter().map(|p| solved[p].0.or(solved[p].1)).collect();
        let mut costs: Vec<f64> = cost_by_sample.iter().flatten().copied().collect();
        let base_cost = base.objective_usd_per_month;
        let mut increases: Vec<f64> = costs
            .iter()
            .map(|c| if base_cost > 0.0 { c / base_cost - 1.0 } else { 0.0 })
            .collect();
        ReplanResult {
            samples: m,
            distinct_patterns: distinct.len(),
            probability_policy_infeasible: policy_cost.iter().filter(|c| c.is_none()).count()
                as f64
                / m.max(1) as f64,
            probability_infeasible: (m - costs.len()) as f64 / m.max(1) as f64,
            cost_usd_per_month: (!costs.is_empty()).then(|| Distribution::of(&mut costs)),
            increase_fraction: (!increases.is_empty()).then(|| Distribution::of(&mut increases)),
            cost_by_sample,
            how: format!(
                "{m} samples re-planned by solving each of the {} distinct shock patterns once (MILP to a {:.2}% gap, {} s limit each), in parallel; samples with the same pattern share the result; where no plan meets the policy, the emergency re-plan waives the vendor-share cap, per-service vendor rules, resilience and budget",
                distinct.len(),
                ctx.options.relative_gap * 100.0,
                ctx.options.time_limit_s
            ),
        }
    });

    MonteCarloReport {
        portfolio: ctx.portfolio.name.clone(),
        seed: options.seed,
        model: model.clone(),
        vendors: world.vendors.iter().map(|v| v.to_string()).collect(),
        regions: world.regions.iter().map(|(r, _)| r.clone()).collect(),
        base_cost_usd_per_month: base.objective_usd_per_month,
        fixed_plan: fixed_result,
        replan,
    }
}
