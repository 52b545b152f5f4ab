//! Bargaining power: what walking away from each vendor and each provider costs, and how far
//! their prices can rise before the optimal plan moves work away from them.
//!
//! Walk-away: the portfolio re-planned with the vendor (provider) removed from the policy's
//! allowed list; contracts stay, so a commitment to a provider one leaves is still owed.
//! Break-even: bisection on full MILP re-solves with the entity's prices scaled — not LP
//! ranging, which would price a relaxation whose plan differs from the integer one.
//!
//! A portfolio with a `horizon:` is analysed over time: every re-plan is a plan over time, and
//! every amount per month is the horizon's total spread over its months.

use crate::stress::{Levels, shocked_inputs};
use crate::{Context, Planned};
use chipmix_catalog::Vendor;
use chipmix_plan::PlanError;
use chipmix_workload::{Portfolio, WorkloadKind};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeSet;

/// A vendor or a provider.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Entity {
    Vendor(Vendor),
    Provider(String),
}

impl Entity {
    pub fn name(&self) -> String {
        match self {
            Entity::Vendor(v) => v.to_string(),
            Entity::Provider(p) => p.clone(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Entity::Vendor(_) => "vendor",
            Entity::Provider(_) => "provider",
        }
    }

    fn owns(&self, a: &chipmix_plan::Allocation) -> bool {
        match self {
            Entity::Vendor(v) => a.vendor == v.as_str(),
            Entity::Provider(p) => a.provider.eq_ignore_ascii_case(p),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct WalkAway {
    /// The optimal cost without the entity; `None` when no plan exists without it.
    pub cost_usd_per_month: Option<f64>,
    /// Over today's cost: of the plan under the policy, or, when none exists, of the one with
    /// the diversity rules waived (see `delta_basis`).
    pub delta_usd_per_month: Option<f64>,
    pub delta_fraction: Option<f64>,
    /// `policy`, `diversity_rules_waived`, or `none` (no plan either way).
    pub delta_basis: String,
    /// Why no plan exists without it.
    pub infeasible: Vec<String>,
    /// Workloads that cannot run without it at all, even with the diversity rules waived.
    pub breaks: Vec<String>,
    /// When no plan exists under the policy: the cost with the policy's diversity rules
    /// (vendor-share cap, per-service vendor rules, resilience) and budget waived.
    pub cost_rules_waived_usd_per_month: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BreakEven {
    /// The smallest price increase found that moves work away (0.25 = +25%), within
    /// `resolution`; `None` when work stays even at `searched_up_to`.
    pub price_increase: Option<f64>,
    /// The largest increase tested at which work stayed.
    pub stays_at: f64,
    pub resolution: f64,
    pub searched_up_to: f64,
    /// MILP re-solves it took.
    pub solves: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct LeverageRow {
    pub entity: Entity,
    /// Spend on it in today's plan, and its share of spend.
    pub spend_usd_per_month: f64,
    pub spend_share: f64,
    /// Workloads that run (partly) on it today.
    pub workloads: Vec<String>,
    pub walk_away: WalkAway,
    /// `None` for an entity the plan does not use.
    pub break_even: Option<BreakEven>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LeverageReport {
    pub portfolio: String,
    pub base_cost_usd_per_month: f64,
    /// The portfolio has a `horizon:` of this many months: every plan compared is a plan over
    /// time, and every amount per month is its total spread over these months. `None`: plans
    /// of one period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub horizon_months: Option<u32>,
    pub method: String,
    pub rows: Vec<LeverageRow>,
}

#[derive(Clone, Debug)]
pub struct LeverageOptions {
    pub break_even: bool,
    /// Highest price increase searched (1.0 = +100%): +100% is tried first, then doubled up
    /// to this.
    pub max_increase: f64,
    /// Bisection steps inside the bracket found; +100% bracketed in 7 steps resolves to 0.8
    /// points.
    pub steps: u32,
}

impl Default for LeverageOptions {
    fn default() -> Self {
        LeverageOptions {
            break_even: true,
            max_increase: 4.0,
            steps: 7,
        }
    }
}

/// Every vendor and provider in the plan, and every other one the policy allows and the
/// catalog prices, each with its walk-away cost and (if used) break-even price increase.
pub fn leverage(ctx: &Context, base: &Planned, options: &LeverageOptions) -> LeverageReport {
    let entities = entities(ctx, base);
    let rows = entities
        .par_iter()
        .map(|e| row(ctx, base, e, options))
        .collect();
    let over_time = match base.horizon_months {
        Some(m) => format!(
            "; over time: every plan is planned period by period over the {m}-month horizon, amounts per month are its total spread over the months, and work moves if it does in any period"
        ),
        None => String::new(),
    };
    LeverageReport {
        portfolio: ctx.portfolio.name.clone(),
        base_cost_usd_per_month: base.cost_usd_per_month,
        horizon_months: base.horizon_months,
        method: format!(
            "walk-away: full re-plan (MILP) without the vendor/provider, contracts kept (a commitment to a provider left is still owed); break-even: bisection on MILP re-solves with its prices scaled — tried at +100%, doubled up to +{:.0}% until work moves, then {} bisection steps; \"work moves\" = the shares of their capacity that workloads lose on it sum to more than {:.0}% of one workload{over_time}",
            options.max_increase * 100.0,
            options.steps,
            SHIFT_TOLERANCE * 100.0
        ),
        rows,
    }
}

/// About how many re-plans [`leverage`] makes (for a progress bar): per vendor and provider,
/// the walk-away (and its rules-waived fallback) and, with break-even, the bracket and the
/// bisection steps.
pub fn replans_expected(ctx: &Context, base: &Planned, options: &LeverageOptions) -> u64 {
    let per_entity = 1 + if options.break_even {
        3 + u64::from(options.steps)
    } else {
        0
    };
    entities(ctx, base).len() as u64 * per_entity
}

/// The vendors and providers [`leverage`] looks at: those in the plan, and every other one the
/// policy allows and the catalog prices.
fn entities(ctx: &Context, base: &Planned) -> Vec<Entity> {
    let mut entities: BTreeSet<Entity> = BTreeSet::new();
    for a in base.allocations() {
        if let Ok(v) = a.vendor.parse::<Vendor>() {
            entities.insert(Entity::Vendor(v));
        }
        entities.insert(Entity::Provider(a.provider.clone()));
    }
    let policy = &ctx.portfolio.policy;
    for o in ctx.catalog.offerings() {
        if o.usd_per_hour.is_none() {
            continue;
        }
        let v = ctx.catalog.vendor_of(o);
        if policy
            .allowed_vendors
            .as_ref()
            .is_none_or(|vs| vs.contains(&v))
        {
            entities.insert(Entity::Vendor(v));
        }
        if policy
            .allowed_providers
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| p.eq_ignore_ascii_case(&o.provider)))
        {
            entities.insert(Entity::Provider(o.provider.clone()));
        }
    }
    entities.into_iter().collect()
}

/// How much of a workload's capacity (summed over workloads) must leave an entity to count as
/// "work moved": below this, integer rounding reshuffles instances without a real move.
const SHIFT_TOLERANCE: f64 = 0.02;

/// Per workload (and period, over time), the entity's share of its capacity: for a service, of
/// its req/s; for a training job, 1 when the run is on it.
fn work_on(plan: &Planned, portfolio: &Portfolio, entity: &Entity) -> Vec<f64> {
    plan.periods
        .iter()
        .flat_map(|p| work_in_period(p, portfolio, entity))
        .collect()
}

fn work_in_period(plan: &chipmix_plan::Plan, portfolio: &Portfolio, entity: &Entity) -> Vec<f64> {
    portfolio
        .workloads
        .iter()
        .map(|w| {
            let mine: Vec<_> = plan
                .allocations
                .iter()
                .filter(|a| a.workload == w.name)
                .collect();
            match &w.kind {
                WorkloadKind::Inference(_) => {
                    let all: f64 = mine.iter().filter_map(|a| a.requests_per_s).sum();
                    let on: f64 = mine
                        .iter()
                        .filter(|a| entity.owns(a))
                        .filter_map(|a| a.requests_per_s)
                        .sum();
                    if all > 0.0 { on / all } else { 0.0 }
                }
                WorkloadKind::Training(_) => {
                    if mine.iter().any(|a| entity.owns(a)) {
                        1.0
                    } else {
                        0.0
                    }
                }
            }
        })
        .collect()
}

/// Work moved away: summed over workloads, the share each one lost on the entity (work that
/// arrives elsewhere does not offset work that left).
fn moved_away(before: &[f64], after: &[f64]) -> bool {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| (b - a).max(0.0))
        .sum::<f64>()
        > SHIFT_TOLERANCE
}

fn without(portfolio: &Portfolio, ctx: &Context, entity: &Entity) -> Portfolio {
    let mut p = portfolio.clone();
    match entity {
        Entity::Vendor(v) => {
            let allowed = p
                .policy
                .allowed_vendors
                .clone()
                .unwrap_or_else(|| Vendor::ALL.to_vec());
            p.policy.allowed_vendors = Some(allowed.into_iter().filter(|x| x != v).collect());
        }
        Entity::Provider(name) => {
            let allowed = p.policy.allowed_providers.clone().unwrap_or_else(|| {
                ctx.catalog
                    .providers()
                    .into_iter()
                    .map(String::from)
                    .collect()
            });
            p.policy.allowed_providers = Some(
                allowed
                    .into_iter()
                    .filter(|x| !x.eq_ignore_ascii_case(name))
                    .collect(),
            );
        }
    }
    p
}

/// A re-plan's cost and gap, or why there is none.
struct Outcome {
    cost: Option<f64>,
    gap: Option<f64>,
    infeasible: Vec<String>,
}

impl From<Result<Planned, PlanError>> for Outcome {
    fn from(r: Result<Planned, PlanError>) -> Outcome {
        match r {
            Ok(p) => Outcome {
                cost: Some(p.cost_usd_per_month),
                gap: Some(p.gap),
                infeasible: Vec::new(),
            },
            Err(PlanError::Infeasible(reasons)) => Outcome {
                cost: None,
                gap: None,
                infeasible: reasons,
            },
            Err(e) => Outcome {
                cost: None,
                gap: None,
                infeasible: vec![e.to_string()],
            },
        }
    }
}

/// What `base` spends on the entity per month.
fn spend_on(base: &Planned, entity: &Entity) -> f64 {
    match entity {
        Entity::Vendor(v) => base.spend_by_vendor.get(v.as_str()).copied().unwrap_or(0.0),
        Entity::Provider(p) => base
            .spend_by_provider
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(p))
            .map(|(_, usd)| usd)
            .sum(),
    }
}

fn row(ctx: &Context, base: &Planned, entity: &Entity, options: &LeverageOptions) -> LeverageRow {
    let spend = spend_on(base, entity);
    let workloads: Vec<String> = base
        .allocations()
        .filter(|a| entity.owns(a))
        .map(|a| a.workload.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let p = without(ctx.portfolio, ctx, entity);
    let walked = Outcome::from(ctx.planned_on(&p, ctx.catalog));
    // Infeasible under the policy: is it the diversity rules, or can a workload not run at all?
    let (waived, breaks) = if walked.cost.is_none() {
        let w = Outcome::from(ctx.planned_on(&crate::waive_diversity_rules(&p), ctx.catalog));
        let breaks = ctx
            .portfolio
            .workloads
            .iter()
            .filter(|x| {
                w.infeasible
                    .iter()
                    .any(|r| r.starts_with(&format!("{}:", x.name)))
            })
            .map(|x| x.name.clone())
            .collect();
        (w.cost, breaks)
    } else {
        (None, Vec::new())
    };
    let base_cost = base.cost_usd_per_month;
    // Differences within the solvers' gaps are noise, not a cost.
    let noise = (base.gap + walked.gap.unwrap_or(0.0) + ctx.options.relative_gap) * base_cost.abs();
    let (compared, basis) = match (walked.cost, waived) {
        (Some(c), _) => (Some(c), "policy"),
        (None, Some(c)) => (Some(c), "diversity_rules_waived"),
        (None, None) => (None, "none"),
    };
    let delta = compared.map(|c| {
        let d = c - base_cost;
        if d.abs() <= noise { 0.0 } else { d }
    });
    let walk_away = WalkAway {
        cost_usd_per_month: walked.cost,
        delta_usd_per_month: delta,
        delta_fraction: delta.map(|d| if base_cost > 0.0 { d / base_cost } else { 0.0 }),
        delta_basis: basis.into(),
        infeasible: walked.infeasible,
        breaks,
        cost_rules_waived_usd_per_month: waived,
    };
    let break_even = (options.break_even && !workloads.is_empty())
        .then(|| break_even(ctx, base, entity, options));
    LeverageRow {
        entity: entity.clone(),
        spend_usd_per_month: spend,
        spend_share: if base.spend_usd_per_month > 0.0 {
            (spend / base.spend_usd_per_month).max(0.0)
        } else {
            0.0
        },
        workloads,
        walk_away,
        break_even,
    }
}

fn break_even(
    ctx: &Context,
    base: &Planned,
    entity: &Entity,
    options: &LeverageOptions,
) -> BreakEven {
    let work0 = work_on(base, ctx.portfolio, entity);
    // Only prices change, so no capacity is scaled from what the plan holds.
    let held = vec![0; ctx.catalog.offerings().len()];
    let mut solves = 0;
    let mut moved = |increase: f64| -> bool {
        solves += 1;
        let mut levels = Levels::none(ctx.portfolio, ctx.catalog);
        for (i, o) in ctx.catalog.offerings().iter().enumerate() {
            let hit = match entity {
                Entity::Vendor(v) => ctx.catalog.vendor_of(o) == *v,
                Entity::Provider(p) => o.provider.eq_ignore_ascii_case(p),
            };
            if hit {
                levels.price[i] = 1.0 + increase;
            }
        }
        let (p, c) = shocked_inputs(&levels, ctx.portfolio, ctx.catalog, &held);
        match ctx.planned_on(&p, &c) {
            Ok(plan) => moved_away(&work0, &work_on(&plan, ctx.portfolio, entity)),
            // Dearer prices broke the budget: the plan cannot keep the work as it is.
            Err(PlanError::Infeasible(_)) => true,
            Err(PlanError::NoSolution(_) | PlanError::Solver(_) | PlanError::Cancelled) => false,
        }
    };
    // Bracket: +100%, then doubling up to the limit; then bisect inside the bracket.
    let mut lo = 0.0;
    let mut hi = options.max_increase.min(1.0);
    loop {
        if moved(hi) {
            break;
        }
        if hi >= options.max_increase {
            return BreakEven {
                price_increase: None,
                stays_at: hi,
                resolution: 0.0,
                searched_up_to: options.max_increase,
                solves,
            };
        }
        lo = hi;
        hi = (hi * 2.0).min(options.max_increase);
    }
    for _ in 0..options.steps {
        let mid = 0.5 * (lo + hi);
        if moved(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    BreakEven {
        price_increase: Some(hi),
        stays_at: lo,
        resolution: hi - lo,
        searched_up_to: options.max_increase,
        solves,
    }
}
