//! What a shock does: to today's plan kept as it is (`--fixed-plan`), and to the optimal plan
//! re-made under it.
//!
//! Scenarios and Monte Carlo draws both compile to [`Levels`] — one factor per offering and per
//! workload — so both modes and both callers share one arithmetic.

use crate::scenario::{Scenario, ShockKind};
use crate::{Context, Planned};
use chipmix_catalog::Catalog;
use chipmix_plan::{Plan, PlanError};
use chipmix_workload::{Portfolio, WorkloadKind};
use serde::Serialize;
use std::collections::BTreeMap;

/// A shock in compiled form.
#[derive(Clone, Debug, PartialEq)]
pub struct Levels {
    /// Per catalog offering: the factor on what can be had there (1: untouched).
    pub capacity: Vec<f64>,
    /// Per catalog offering: the factor on its prices.
    pub price: Vec<f64>,
    /// Per portfolio workload: the factor on peak demand (inference only).
    pub demand: Vec<f64>,
}

impl Levels {
    pub fn none(portfolio: &Portfolio, catalog: &Catalog) -> Levels {
        let n = catalog.offerings().len();
        Levels {
            capacity: vec![1.0; n],
            price: vec![1.0; n],
            demand: vec![1.0; portfolio.workloads.len()],
        }
    }

    /// Shocks compound: two capacity shocks on one offering multiply.
    pub fn of(scenario: &Scenario, portfolio: &Portfolio, catalog: &Catalog) -> Levels {
        let mut l = Levels::none(portfolio, catalog);
        for s in &scenario.shocks {
            match s.kind {
                ShockKind::Capacity | ShockKind::Price => {
                    let into = if s.kind == ShockKind::Capacity {
                        &mut l.capacity
                    } else {
                        &mut l.price
                    };
                    for (i, o) in catalog.offerings().iter().enumerate() {
                        if s.target.matches_offering(catalog, o) {
                            into[i] *= s.factor;
                        }
                    }
                }
                ShockKind::Demand => {
                    for (i, w) in portfolio.workloads.iter().enumerate() {
                        if matches!(w.kind, WorkloadKind::Inference(_))
                            && s.target.matches_workload(&w.name)
                        {
                            l.demand[i] *= s.factor;
                        }
                    }
                }
            }
        }
        l
    }
}

/// Instances of each offering (by catalog index) the plan holds.
pub fn held_instances(plan: &Plan, catalog: &Catalog) -> Vec<u32> {
    let index: BTreeMap<String, usize> = catalog
        .offerings()
        .iter()
        .enumerate()
        .map(|(i, o)| (o.id(), i))
        .collect();
    let mut held = vec![0u32; catalog.offerings().len()];
    for a in &plan.allocations {
        if let Some(&i) = index.get(&a.offering) {
            held[i] += a.instances;
        }
    }
    held
}

/// Instances of offering `i` that can be had under the shock: a stated limit scaled, or, with
/// no stated limit, the plan's holdings scaled (growth of an unlimited offering stays
/// unlimited).
pub fn shocked_capacity(limit: Option<u32>, held: u32, factor: f64) -> Option<u32> {
    match limit {
        Some(cap) => Some((f64::from(cap) * factor + 1e-9).floor() as u32),
        None if factor >= 1.0 => None,
        None => Some((f64::from(held) * factor + 1e-9).floor() as u32),
    }
}

/// The portfolio and catalog under a shock, for re-planning.
pub fn shocked_inputs(
    levels: &Levels,
    portfolio: &Portfolio,
    catalog: &Catalog,
    held: &[u32],
) -> (Portfolio, Catalog) {
    let mut c = catalog.clone();
    for (i, o) in catalog.offerings().iter().enumerate() {
        if levels.capacity[i] != 1.0 {
            c.set_capacity(
                i,
                shocked_capacity(o.capacity_instances, held[i], levels.capacity[i]),
            );
        }
        if levels.price[i] != 1.0 {
            c.scale_price(i, levels.price[i]);
        }
    }
    let mut p = portfolio.clone();
    for (w, f) in p.workloads.iter_mut().zip(&levels.demand) {
        if let WorkloadKind::Inference(s) = &mut w.kind {
            s.peak_requests_per_s *= f;
            // Over time: every month's demand.
            for d in s.demand_by_month.iter_mut().flatten() {
                *d *= f;
            }
        }
    }
    // Over time: a shocked offering's supply ramp shrinks with it, month by month.
    for ramp in &mut p.supply {
        let Some(i) = catalog.offering_index(&ramp.offering) else {
            continue;
        };
        let factor = levels.capacity[i];
        if factor != 1.0 {
            for cap in &mut ramp.capacity_by_month {
                *cap = shocked_capacity(Some(*cap), 0, factor).unwrap_or(*cap);
            }
        }
    }
    (p, c)
}

/// One inference service under the shock, plan unchanged.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceImpact {
    pub workload: String,
    /// Peak demand after the shock.
    pub peak_requests_per_s: f64,
    /// What the surviving instances deliver within the SLOs.
    pub served_requests_per_s: f64,
    /// Served / peak, at most 1.
    pub served_fraction: f64,
    /// False when demand exceeds what the surviving replicas deliver within the SLOs: requests
    /// queue and TTFT/TPOT targets break for the excess.
    pub slo_holds: bool,
}

/// One training job under the shock, plan unchanged.
#[derive(Clone, Debug, Serialize)]
pub struct TrainingImpact {
    pub workload: String,
    /// Data-parallel replicas left of the plan's.
    pub dp_before: u32,
    pub dp_after: u32,
    pub days_before: f64,
    /// Days at the reduced data parallelism (throughput ∝ replicas); `None` when not one
    /// model replica is left and the job stops.
    pub days_after: Option<f64>,
    pub deadline_days: f64,
    pub meets_deadline: bool,
}

/// Today's plan under a shock.
#[derive(Clone, Debug, Serialize)]
pub struct FixedOutcome {
    pub services: Vec<ServiceImpact>,
    pub training: Vec<TrainingImpact>,
    /// Unserved peak req/s over all services / total peak req/s.
    pub unserved_fraction: f64,
    /// The plan's spend at the shocked prices, for the instances still held.
    pub spend_usd_per_month: f64,
    /// The plan's cost at shocked prices: spend plus commitment shortfalls minus credits as in
    /// the plan (contracts are not re-settled).
    pub cost_usd_per_month: f64,
    /// The same plan's cost without the shock (over time: that period's), to compare with.
    pub base_cost_usd_per_month: f64,
}

/// Today's plan, prepared for evaluating many shocks quickly (Monte Carlo evaluates it
/// thousands of times).
pub struct FixedPlan {
    allocations: Vec<FixedAllocation>,
    held: Vec<u32>,
    limits: Vec<Option<u32>>,
    base_cost_usd_per_month: f64,
    base_spend_usd_per_month: f64,
    workloads: Vec<(String, FixedWorkload)>,
}

struct FixedAllocation {
    offering: usize,
    workload: usize,
    /// What a shock can change: the spend beyond reserved instances (owed whatever happens).
    variable_usd_per_month: f64,
    requests_per_s: f64,
    /// tp × pp × dp for training.
    train: Option<(u32, f64)>,
}

enum FixedWorkload {
    Service { peak_requests_per_s: f64 },
    Job { deadline_days: f64 },
}

impl FixedPlan {
    pub fn new(plan: &Plan, portfolio: &Portfolio, catalog: &Catalog) -> FixedPlan {
        let index: BTreeMap<String, usize> = catalog
            .offerings()
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id(), i))
            .collect();
        let allocations = plan
            .allocations
            .iter()
            .filter_map(|a| {
                Some(FixedAllocation {
                    offering: *index.get(&a.offering)?,
                    workload: portfolio
                        .workloads
                        .iter()
                        .position(|w| w.name == a.workload)?,
                    variable_usd_per_month: a.usd_per_month - a.reserved_usd_per_month,
                    requests_per_s: a.requests_per_s.unwrap_or(0.0),
                    train: match (a.train_config, a.days) {
                        (Some(cfg), Some(days)) => Some((cfg.dp, days)),
                        _ => None,
                    },
                })
            })
            .collect();
        FixedPlan {
            allocations,
            held: held_instances(plan, catalog),
            limits: catalog
                .offerings()
                .iter()
                .map(|o| o.capacity_instances)
                .collect(),
            base_cost_usd_per_month: plan.objective_usd_per_month,
            base_spend_usd_per_month: plan.spend_usd_per_month,
            workloads: portfolio
                .workloads
                .iter()
                .map(|w| {
                    (
                        w.name.clone(),
                        match &w.kind {
                            WorkloadKind::Inference(s) => FixedWorkload::Service {
                                peak_requests_per_s: s.peak_requests_per_s,
                            },
                            WorkloadKind::Training(j) => FixedWorkload::Job {
                                deadline_days: j.deadline_days,
                            },
                        },
                    )
                })
                .collect(),
        }
    }

    /// Fraction of the plan's instances of each offering still held under `levels`.
    fn kept(&self, levels: &Levels, offering: usize) -> f64 {
        let held = self.held[offering];
        if held == 0 {
            return 1.0;
        }
        let left = shocked_capacity(self.limits[offering], held, levels.capacity[offering])
            .map_or(f64::from(held), f64::from);
        (left / f64::from(held)).min(1.0)
    }

    pub fn evaluate(&self, levels: &Levels) -> FixedOutcome {
        let mut served = vec![0.0; self.workloads.len()];
        let mut jobs: Vec<Option<(u32, u32, f64)>> = vec![None; self.workloads.len()];
        // The plan's spend, changed only where the shock reaches: what is not reserved, scaled
        // by the instances kept and the price factor.
        let mut spend = self.base_spend_usd_per_month;
        for a in &self.allocations {
            let kept = self.kept(levels, a.offering);
            served[a.workload] += a.requests_per_s * kept;
            spend += a.variable_usd_per_month * (kept * levels.price[a.offering] - 1.0);
            if let Some((dp, days)) = a.train {
                let after = (f64::from(dp) * kept + 1e-9).floor() as u32;
                jobs[a.workload] = Some((dp, after, days));
            }
        }
        let mut services = Vec::new();
        let mut training = Vec::new();
        let (mut short, mut total) = (0.0, 0.0);
        for (i, (name, w)) in self.workloads.iter().enumerate() {
            match w {
                FixedWorkload::Service {
                    peak_requests_per_s,
                } => {
                    let peak = peak_requests_per_s * levels.demand[i];
                    total += peak;
                    short += (peak - served[i]).max(0.0);
                    services.push(ServiceImpact {
                        workload: name.clone(),
                        peak_requests_per_s: peak,
                        served_requests_per_s: served[i],
                        served_fraction: if peak > 0.0 {
                            (served[i] / peak).min(1.0)
                        } else {
                            1.0
                        },
                        slo_holds: served[i] + 1e-9 >= peak,
                    });
                }
                FixedWorkload::Job { deadline_days } => {
                    if let Some((before, after, days)) = jobs[i] {
                        let days_after =
                            (after > 0).then(|| days * f64::from(before) / f64::from(after));
                        training.push(TrainingImpact {
                            workload: name.clone(),
                            dp_before: before,
                            dp_after: after,
                            days_before: days,
                            days_after,
                            deadline_days: *deadline_days,
                            meets_deadline: days_after.is_some_and(|d| d <= deadline_days + 1e-9),
                        });
                    }
                }
            }
        }
        FixedOutcome {
            services,
            training,
            unserved_fraction: if total > 0.0 { short / total } else { 0.0 },
            spend_usd_per_month: spend,
            cost_usd_per_month: self.base_cost_usd_per_month - self.base_spend_usd_per_month
                + spend,
            base_cost_usd_per_month: self.base_cost_usd_per_month,
        }
    }
}

/// A scenario's effect both ways.
#[derive(Clone, Debug, Serialize)]
pub struct StressReport {
    pub scenario: Scenario,
    pub base_cost_usd_per_month: f64,
    /// The portfolio has a `horizon:` of this many months: today's plan and the re-plan are
    /// plans over time (amounts per month: their totals spread over the months), the shock
    /// holds for the whole horizon, and `fixed_plan` is the period it hurts most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub horizon_months: Option<u32>,
    /// Over time: today's plan under the shock, period by period (each against that period's
    /// demand and supply).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixed_by_period: Vec<FixedOutcome>,
    /// Over time: the period (1-based) `fixed_plan` is of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_period: Option<u32>,
    pub fixed_plan: FixedOutcome,
    /// `None` when only the fixed-plan mode ran.
    pub replan: Option<Replanned>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Replanned {
    /// `None` when no plan satisfies the portfolio under the shock.
    pub cost_usd_per_month: Option<f64>,
    pub gap: Option<f64>,
    pub vendor_shares: BTreeMap<String, f64>,
    /// Why no plan exists, when none does.
    pub infeasible: Vec<String>,
    /// When no plan meets the policy: the optimal cost with the diversity rules and budget
    /// waived (an emergency re-plan), if that exists.
    pub cost_rules_waived_usd_per_month: Option<f64>,
    #[serde(skip)]
    pub plan: Option<Plan>,
}

impl Replanned {
    pub fn from_result(result: Result<Plan, PlanError>) -> Replanned {
        match result {
            Ok(p) => Replanned {
                cost_usd_per_month: Some(p.objective_usd_per_month),
                gap: Some(p.gap),
                vendor_shares: p.vendor_shares.clone(),
                infeasible: Vec::new(),
                cost_rules_waived_usd_per_month: None,
                plan: Some(p),
            },
            Err(PlanError::Infeasible(reasons)) => Replanned {
                cost_usd_per_month: None,
                gap: None,
                vendor_shares: BTreeMap::new(),
                infeasible: reasons,
                cost_rules_waived_usd_per_month: None,
                plan: None,
            },
            Err(e) => Replanned {
                cost_usd_per_month: None,
                gap: None,
                vendor_shares: BTreeMap::new(),
                infeasible: vec![e.to_string()],
                cost_rules_waived_usd_per_month: None,
                plan: None,
            },
        }
    }
}

impl Replanned {
    /// A re-plan as the analyses compare it: a plan of one period as [`Replanned::from_result`]
    /// has it; over time, its cost per month and vendor shares of spend over the horizon.
    pub fn from_planned(result: Result<Planned, PlanError>) -> Replanned {
        match result {
            Ok(p) if p.horizon_months.is_some() => {
                let total: f64 = p.spend_by_vendor.values().sum();
                let vendor_shares = p
                    .spend_by_vendor
                    .iter()
                    .map(|(v, usd)| (v.clone(), if total > 0.0 { usd / total } else { 0.0 }))
                    .collect();
                Replanned {
                    cost_usd_per_month: Some(p.cost_usd_per_month),
                    gap: Some(p.gap),
                    vendor_shares,
                    infeasible: Vec::new(),
                    cost_rules_waived_usd_per_month: None,
                    plan: None,
                }
            }
            Ok(p) => match p.periods.into_iter().next() {
                Some(plan) => Replanned::from_result(Ok(plan)),
                None => Replanned::from_result(Err(PlanError::NoSolution(
                    "the plan has no period".into(),
                ))),
            },
            Err(e) => Replanned::from_result(Err(e)),
        }
    }
}

/// The portfolio as period `t` (0-based) of its horizon sees it, for a fixed plan's
/// arithmetic: each service's peak is its busiest month's in the period.
pub(crate) fn in_period(portfolio: &Portfolio, t: u32) -> Portfolio {
    let len = portfolio
        .horizon
        .as_ref()
        .map_or(1, |h| h.period_months.max(1));
    let mut p = portfolio.clone();
    for w in &mut p.workloads {
        if let WorkloadKind::Inference(s) = &mut w.kind {
            s.peak_requests_per_s = (t * len..(t + 1) * len)
                .map(|m| s.peak_in_month(m))
                .fold(0.0, f64::max);
            s.demand_by_month = None;
            s.growth_monthly = 0.0;
        }
    }
    p
}

/// Runs a scenario against the plan `base` (and, unless `fixed_only`, re-plans under it). A
/// plan over time is shocked for its whole horizon: each period's fleet against that period's
/// demand and supply, and the re-plan is a plan over time.
pub fn stress(
    ctx: &Context,
    base: &Planned,
    scenario: &Scenario,
    fixed_only: bool,
) -> StressReport {
    let levels = Levels::of(scenario, ctx.portfolio, ctx.catalog);
    let fixed_by_period: Vec<FixedOutcome> = match base.horizon_months {
        None => Vec::new(),
        Some(_) => base
            .periods
            .iter()
            .zip(&base.period_catalogs)
            .enumerate()
            .map(|(t, (plan, catalog))| {
                FixedPlan::new(plan, &in_period(ctx.portfolio, t as u32), catalog).evaluate(&levels)
            })
            .collect(),
    };
    // The first period where the most peak demand goes unserved.
    let worst = fixed_by_period
        .iter()
        .enumerate()
        .rev()
        .max_by(|a, b| a.1.unserved_fraction.total_cmp(&b.1.unserved_fraction))
        .map(|(t, _)| t);
    let fixed = match worst {
        Some(t) => fixed_by_period[t].clone(),
        None => FixedPlan::new(&base.periods[0], ctx.portfolio, ctx.catalog).evaluate(&levels),
    };
    let replan = (!fixed_only).then(|| {
        let held = most_held(base, ctx.catalog);
        let (p, c) = shocked_inputs(&levels, ctx.portfolio, ctx.catalog, &held);
        let mut r = Replanned::from_planned(ctx.planned_on(&p, &c));
        if r.cost_usd_per_month.is_none() {
            r.cost_rules_waived_usd_per_month = ctx
                .planned_on(&crate::waive_diversity_rules(&p), &c)
                .ok()
                .map(|x| x.cost_usd_per_month);
        }
        r
    });
    StressReport {
        scenario: scenario.clone(),
        base_cost_usd_per_month: base.cost_usd_per_month,
        horizon_months: base.horizon_months,
        worst_period: worst.map(|t| t as u32 + 1),
        fixed_by_period,
        fixed_plan: fixed,
        replan,
    }
}

/// Instances of each offering the plan holds at most in any period.
fn most_held(base: &Planned, catalog: &Catalog) -> Vec<u32> {
    let mut most = vec![0; catalog.offerings().len()];
    for plan in &base.periods {
        for (m, h) in most.iter_mut().zip(held_instances(plan, catalog)) {
            *m = (*m).max(h);
        }
    }
    most
}
