//! Monte Carlo supply shocks: random vendor shortages and region outages, against today's plan
//! and against a re-made one.
//!
//! Each sample draws from its own generator seeded by (seed, sample index, period), so the
//! result is the same for the same seed on any number of threads. Re-planning thousands of
//! times stays fast by caching: samples that draw the same shock pattern share one re-plan, and
//! the distinct patterns are solved in parallel. Outage probabilities are small, so a thousand
//! samples hold a few dozen patterns.
//!
//! A plan over time (a portfolio with a `horizon:`) is shocked period by period: each period
//! draws its own pattern (the probabilities are per period), today's plan is kept with that
//! period's fleet, demand and catalog, and a shocked period is re-planned on its own (see
//! [`run`]).

use crate::stress::{FixedPlan, Levels, held_instances, in_period, shocked_inputs};
use crate::{Context, Planned, cvar, quantile};
use chipmix_catalog::{Catalog, Vendor};
use chipmix_plan::Plan;
use chipmix_workload::{Portfolio, WorkloadKind};
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
    /// Over time: per period, the mean over the samples of its unserved fraction (empty for a
    /// plan of one period).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mean_unserved_by_period: Vec<f64>,
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
    /// The portfolio has a `horizon:` of this many months: today's plan is a plan over time
    /// (its cost per month is the horizon's total spread over its months), shocks are drawn per
    /// period of `period_months`, and an unserved fraction is over the whole horizon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub horizon_months: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_months: Option<u32>,
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

    fn draw(&self, model: &ShockModel, seed: u64, sample: usize, period: usize) -> Pattern {
        // One stream per sample and period (xoshiro256++, seeded through SplitMix64 from the
        // seed, the sample number and the period): the draws do not depend on which thread
        // takes which sample. The first period's stream is the sample's of a single period.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            seed ^ (sample as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
                ^ (period as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
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

    fn levels(
        &self,
        portfolio: &Portfolio,
        catalog: &Catalog,
        model: &ShockModel,
        p: &Pattern,
    ) -> Levels {
        let mut l = Levels::none(portfolio, catalog);
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

/// One period as the simulation sees it (a plan of one period has one): today's fleet then,
/// the peak demand then, and what a re-plan of the period alone starts from.
struct Period {
    fixed: FixedPlan,
    /// All services' peak req/s in the period: the weight of its unserved fraction.
    peak_requests_per_s: f64,
    /// The portfolio as the period sees it: services at the period's peak.
    portfolio: Portfolio,
    /// The same for a re-plan of the period alone: only the training the plan runs in it.
    replanned: Portfolio,
    catalog: Catalog,
    held: Vec<u32>,
    /// The period's share of the horizon (1 for a plan of one period).
    weight: f64,
}

impl Period {
    fn of_plan(plan: &Plan, portfolio: &Portfolio, catalog: &Catalog, weight: f64) -> Period {
        let running: BTreeSet<&str> = plan
            .allocations
            .iter()
            .map(|a| a.workload.as_str())
            .collect();
        let mut replanned = portfolio.clone();
        replanned.workloads.retain(|w| {
            matches!(w.kind, WorkloadKind::Inference(_)) || running.contains(w.name.as_str())
        });
        Period {
            fixed: FixedPlan::new(plan, portfolio, catalog),
            peak_requests_per_s: portfolio
                .inference_services()
                .map(|(_, s)| s.peak_requests_per_s)
                .sum(),
            held: held_instances(plan, catalog),
            portfolio: portfolio.clone(),
            replanned,
            catalog: catalog.clone(),
            weight,
        }
    }

    /// Every period of `base`, each with its own demand and catalog.
    fn all(ctx: &Context, base: &Planned) -> Vec<Period> {
        if base.horizon_months.is_none() {
            return base
                .periods
                .first()
                .map(|plan| Period::of_plan(plan, ctx.portfolio, ctx.catalog, 1.0))
                .into_iter()
                .collect();
        }
        let n = base.periods.len().max(1) as f64;
        base.periods
            .iter()
            .zip(&base.period_catalogs)
            .enumerate()
            .map(|(t, (plan, catalog))| {
                Period::of_plan(plan, &in_period(ctx.portfolio, t as u32), catalog, 1.0 / n)
            })
            .collect()
    }
}

/// One sample against today's plan: unserved req/s over the horizon's peak req/s, whether
/// some service fell below half in some period, whether some training was delayed; and the
/// unserved fraction of each period.
struct FixedSample {
    unserved_fraction: f64,
    below_half: bool,
    training_delayed: bool,
    by_period: Vec<f64>,
}

fn fixed_sample(
    world: &World,
    periods: &[Period],
    options: &MonteCarloOptions,
    sample: usize,
) -> FixedSample {
    let mut out = FixedSample {
        unserved_fraction: 0.0,
        below_half: false,
        training_delayed: false,
        by_period: vec![0.0; periods.len()],
    };
    let (mut unserved, mut peak) = (0.0, 0.0);
    for (t, period) in periods.iter().enumerate() {
        peak += period.peak_requests_per_s;
        let pattern = world.draw(&options.model, options.seed, sample, t);
        if pattern.short.is_empty() && pattern.lost.is_empty() {
            continue;
        }
        let levels = world.levels(&period.portfolio, &period.catalog, &options.model, &pattern);
        let o = period.fixed.evaluate(&levels);
        unserved += o.unserved_fraction * period.peak_requests_per_s;
        out.by_period[t] = o.unserved_fraction;
        out.below_half |= o.services.iter().any(|s| s.served_fraction < 0.5);
        out.training_delayed |= o.training.iter().any(|t| !t.meets_deadline);
    }
    if peak > 0.0 {
        out.unserved_fraction = unserved / peak;
    }
    out
}

/// Runs the simulation. `progress` is called with the number of samples finished (fixed-plan
/// samples, then re-planned patterns) and may be called from several threads.
///
/// Over time, a sample's shocked period is re-planned on its own, as a plan of one period (its
/// peak demand, its catalog, the instances today's plan holds then as the supply a shortage
/// scales): the shock costs the period what that re-plan costs over the same re-plan without
/// the shock, and the sample's cost is today's plan over time plus those differences, each
/// spread over the horizon. Reservations and contract terms over time enter neither side of
/// the difference (the single-period model has none).
pub fn run(
    ctx: &Context,
    base: &Planned,
    options: &MonteCarloOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> MonteCarloReport {
    let world = World::new(ctx);
    let periods = Period::all(ctx, base);
    let fixed_result = fixed_phase(&world, &periods, options, progress);
    let replan = (options.replan_samples > 0)
        .then(|| replan_phase(ctx, base, &world, &periods, options, progress));
    MonteCarloReport {
        portfolio: ctx.portfolio.name.clone(),
        seed: options.seed,
        model: options.model.clone(),
        vendors: world.vendors.iter().map(|v| v.to_string()).collect(),
        regions: world.regions.iter().map(|(r, _)| r.clone()).collect(),
        base_cost_usd_per_month: base.cost_usd_per_month,
        horizon_months: base.horizon_months,
        period_months: base
            .horizon_months
            .map(|m| m / base.periods.len().max(1) as u32),
        fixed_plan: fixed_result,
        replan,
    }
}

/// Today's plan under every sample: cheap, so all of them, in parallel chunks.
fn fixed_phase(
    world: &World,
    periods: &[Period],
    options: &MonteCarloOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> FixedPlanResult {
    let outcomes: Vec<FixedSample> = (0..options.samples)
        .into_par_iter()
        .map(|i| {
            let out = fixed_sample(world, periods, options, i);
            if i % 256 == 255 {
                progress(256);
            }
            out
        })
        .collect();
    progress((options.samples % 256) as u64);
    let n = outcomes.len().max(1) as f64;
    let mut unserved: Vec<f64> = outcomes.iter().map(|o| o.unserved_fraction).collect();
    let unserved_by_sample = unserved.clone();
    let mean_unserved_by_period = if periods.len() > 1 {
        (0..periods.len())
            .map(|t| outcomes.iter().map(|o| o.by_period[t]).sum::<f64>() / n)
            .collect()
    } else {
        Vec::new()
    };
    FixedPlanResult {
        samples: outcomes.len(),
        unserved_fraction: Distribution::of(&mut unserved),
        probability_any_service_below_half: outcomes.iter().filter(|o| o.below_half).count() as f64
            / n,
        probability_training_delayed: outcomes.iter().filter(|o| o.training_delayed).count() as f64
            / n,
        mean_unserved_by_period,
        unserved_by_sample,
    }
}

/// A period's re-planned cost per month: under the policy, and with the diversity rules and
/// budget waived (only solved where the policy cannot be met).
type Costs = (Option<f64>, Option<f64>);

/// The first `replan_samples` samples, re-planned: each distinct (period, pattern) once.
fn replan_phase(
    ctx: &Context,
    base: &Planned,
    world: &World,
    periods: &[Period],
    options: &MonteCarloOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> ReplanResult {
    let m = options.replan_samples;
    let empty = Pattern {
        short: Vec::new(),
        lost: Vec::new(),
    };
    let patterns: Vec<Vec<Pattern>> = (0..m)
        .map(|i| {
            (0..periods.len())
                .map(|t| world.draw(&options.model, options.seed, i, t))
                .collect()
        })
        .collect();
    let mut keys: BTreeSet<(usize, Pattern)> = BTreeSet::new();
    for sample in &patterns {
        for (t, p) in sample.iter().enumerate().filter(|(_, p)| **p != empty) {
            keys.insert((t, p.clone()));
            // Over time a period is also re-planned without the shock, to difference against.
            if base.horizon_months.is_some() {
                keys.insert((t, empty.clone()));
            }
        }
    }
    let keys: Vec<(usize, Pattern)> = keys.into_iter().collect();
    let solved: BTreeMap<(usize, Pattern), Costs> = keys
        .par_iter()
        .map(|(t, p)| {
            let costs = replan_period(ctx, world, &periods[*t], options, p);
            progress(1);
            ((*t, p.clone()), costs)
        })
        .collect();
    // Per sample: (cost under the policy where every period meets it, cost where a plan exists).
    let per_sample: Vec<(Option<f64>, Option<f64>)> = patterns
        .iter()
        .map(|sample| sample_cost(base, periods, sample, &solved, &empty))
        .collect();
    let cost_by_sample: Vec<Option<f64>> = per_sample.iter().map(|s| s.1).collect();
    let mut costs: Vec<f64> = cost_by_sample.iter().flatten().copied().collect();
    let base_cost = base.cost_usd_per_month;
    let mut increases: Vec<f64> = costs
        .iter()
        .map(|c| {
            if base_cost > 0.0 {
                c / base_cost - 1.0
            } else {
                0.0
            }
        })
        .collect();
    ReplanResult {
        samples: m,
        distinct_patterns: keys.len(),
        probability_policy_infeasible: per_sample.iter().filter(|s| s.0.is_none()).count() as f64
            / m.max(1) as f64,
        probability_infeasible: (m - costs.len()) as f64 / m.max(1) as f64,
        cost_usd_per_month: (!costs.is_empty()).then(|| Distribution::of(&mut costs)),
        increase_fraction: (!increases.is_empty()).then(|| Distribution::of(&mut increases)),
        cost_by_sample,
        how: replan_how(ctx, base, m, keys.len()),
    }
}

/// One period re-planned alone under `pattern`.
fn replan_period(
    ctx: &Context,
    world: &World,
    period: &Period,
    options: &MonteCarloOptions,
    pattern: &Pattern,
) -> Costs {
    let levels = world.levels(&period.replanned, &period.catalog, &options.model, pattern);
    let (pf, cat) = shocked_inputs(&levels, &period.replanned, &period.catalog, &period.held);
    match ctx.plan_on(&pf, &cat) {
        Ok(pl) => (Some(pl.objective_usd_per_month), None),
        Err(_) => (
            None,
            ctx.plan_on(&crate::waive_diversity_rules(&pf), &cat)
                .ok()
                .map(|pl| pl.objective_usd_per_month),
        ),
    }
}

/// A sample's cost per month: today's plus, for each shocked period, what the shock adds to
/// it (re-planned with the shock less re-planned without), spread over the horizon. The first
/// is `None` where some period cannot meet the policy, the second where some period has no
/// plan at all.
fn sample_cost(
    base: &Planned,
    periods: &[Period],
    sample: &[Pattern],
    solved: &BTreeMap<(usize, Pattern), Costs>,
    empty: &Pattern,
) -> (Option<f64>, Option<f64>) {
    let (mut policy, mut any) = (Some(base.cost_usd_per_month), Some(base.cost_usd_per_month));
    for (t, p) in sample.iter().enumerate().filter(|(_, p)| *p != empty) {
        let (kept, waived) = solved[&(t, p.clone())];
        let unshocked = match solved.get(&(t, empty.clone())) {
            // Over time: the period re-planned without the shock, under the policy or waived.
            Some(&(k, w)) => k.or(w),
            None => Some(base.cost_usd_per_month),
        };
        let weight = periods[t].weight;
        let delta = |c: Option<f64>| Some((c? - unshocked?) * weight);
        policy = policy.zip(delta(kept)).map(|(a, d)| a + d);
        any = any.zip(delta(kept.or(waived))).map(|(a, d)| a + d);
    }
    (policy, any)
}

fn replan_how(ctx: &Context, base: &Planned, m: usize, solves: usize) -> String {
    let limits = format!(
        "MILP to a {:.2}% gap, {} s limit each",
        ctx.options.relative_gap * 100.0,
        ctx.options.time_limit_s
    );
    let waived = "where no plan meets the policy, the emergency re-plan waives the vendor-share cap, per-service vendor rules, resilience and budget";
    match base.horizon_months {
        None => format!(
            "{m} samples re-planned by solving each of the {solves} distinct shock patterns once ({limits}), in parallel; samples with the same pattern share the result; {waived}"
        ),
        Some(months) => format!(
            "{m} samples, each drawing its shocks period by period over {months} months; a shocked period is re-planned alone as a plan of one period (its peak demand, its catalog), with and without the shock, and the difference, spread over the horizon, is added to today's plan over time; {solves} distinct (period, pattern) solves ({limits}), in parallel; reservations and contract terms over time enter neither side of a difference; {waived}"
        ),
    }
}
