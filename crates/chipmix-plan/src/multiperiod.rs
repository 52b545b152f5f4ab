//! Month by month: one MILP over every month of a `horizon:`, with demand that grows, supply
//! that ramps, reservations bought ahead (with a lead time) at a discount for a 1- or 3-year
//! term, on-demand and spot for the rest, and commitments, caps and budget per month.
//!
//! Variables per month: integer units per serving candidate; per training job a binary per
//! candidate (its months are fixed by `start_month` and the run's length); per offering and
//! month the on-demand instance-months beyond what reservations cover; per offering, term and
//! purchase month the integer instances reserved. A reservation is paid every month of its
//! term whether used or not, and the plan's cost includes the term's months after the horizon
//! (reported apart): the plan cannot know the capacity will be needed then, so it buys a term
//! only when the months it uses inside the horizon pay for all of it. Pricing only the months
//! inside the horizon instead would make every late 3-year term look free.

use crate::candidates::{self, Candidate, CandidateKind, DAYS_PER_MONTH, HOURS_PER_MONTH};
use crate::explain;
use crate::formulation::{
    RowKind, commitment_discount_over, commitment_vendor, credit_months, failure_domain,
};
use crate::lp::{self, LinearModel, Outcome, SolveOptions};
use crate::rules;
use crate::{PlanError, PlanOptions};
use chipmix_catalog::{Catalog, Vendor};
use chipmix_perf::{Calibration, TrainConfig};
use chipmix_workload::{Contract, Horizon, Portfolio, ShareBasis, WorkloadKind, timeline};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MonthlyPlan {
    pub portfolio: String,
    pub status: crate::Status,
    pub months: u32,
    /// Months per period: 1 (monthly) or 3 (quarterly); `by_month` has one entry per period.
    pub period_months: u32,
    pub lead_months: u32,
    /// Total cost: every month of the horizon plus the reservation payments owed after it.
    pub objective_usd: f64,
    /// Reservation payments owed after the horizon (included in `objective_usd`).
    pub committed_after_horizon_usd: f64,
    /// What moving capacity between months costs over the horizon (`policy.migration_cost`;
    /// included in `objective_usd`, not in any month's bill).
    pub migration_usd: f64,
    pub bound_usd: f64,
    pub gap: f64,
    pub solve_seconds: f64,
    /// How the MILP was solved: `direct` (one branch-and-bound) or `decomposed (…)` (column
    /// generation by workload and period, with its rounds and patterns).
    #[serde(default)]
    pub method: String,
    /// The same portfolio planned with on-demand and spot only, month by month (no
    /// reservations): what re-planning each month on demand alone costs. `None` when planned
    /// without analysis (`--no-analysis`, exports, the analyses' re-plans) or when it has no
    /// plan.
    pub on_demand_only_usd: Option<f64>,
    pub reservations: Vec<Reservation>,
    /// How each commitment fares over the horizon.
    pub commitments: Vec<CommitmentSummary>,
    pub by_month: Vec<Month>,
    /// What each rule costs over the horizon, by re-planning without it ([`rule_costs`]; empty
    /// unless asked for: each is a plan over time). `usd_per_month` is the horizon's difference
    /// spread over its months.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_costs: Vec<crate::plan::RuleCost>,
    pub warnings: Vec<String>,
}

/// What each rule the portfolio sets costs its plan over time `plan`: the portfolio re-planned
/// over time without that one rule (the vendor-share cap, per-service vendor rules, resilience,
/// the minimum share per placement, the budget, the migration cost, the churn cap), in
/// parallel, with `options` (analysis off). A difference within the two plans' gaps and the
/// asked gap is reported as 0: it is noise, not a cost.
pub fn rule_costs(
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    options: &PlanOptions,
    plan: &MonthlyPlan,
) -> Vec<crate::plan::RuleCost> {
    use crate::plan::PricedRule;
    use rayon::prelude::*;
    let policy = &portfolio.policy;
    let waived = |name: String, waive: &dyn Fn(&mut Portfolio)| {
        let mut p = portfolio.clone();
        waive(&mut p);
        (name, p)
    };
    let mut rules: Vec<(String, Portfolio)> = PricedRule::set_by(portfolio)
        .into_iter()
        .map(|(rule, name)| match rule {
            PricedRule::VendorShare => waived(name, &|p| p.policy.max_vendor_share = None),
            PricedRule::ServiceVendorRules => waived(name, &|p| {
                for w in &mut p.workloads {
                    if let WorkloadKind::Inference(s) = &mut w.kind {
                        s.min_vendors = 1;
                        s.max_vendor_fraction = 1.0;
                    }
                }
            }),
            PricedRule::Resilience => waived(name, &|p| p.policy.resilience = None),
            PricedRule::PlacementShare => {
                waived(name, &|p| p.policy.min_share_per_placement = None)
            }
            PricedRule::Budget => waived(name, &|p| p.policy.budget_usd_per_month = None),
        })
        .collect();
    if policy.migration_cost.usd_per_instance(1.0) > 0.0 {
        let name = match policy.migration_cost {
            chipmix_workload::MigrationCost::HoursOfPrice(h) => {
                format!("migration_cost ({h} hours of price per instance moved)")
            }
            chipmix_workload::MigrationCost::UsdPerInstance(u) => {
                format!("migration_cost (${u} per instance moved)")
            }
        };
        rules.push(waived(name, &|p| {
            p.policy.migration_cost = chipmix_workload::MigrationCost::UsdPerInstance(0.0)
        }));
    }
    if let Some(churn) = policy.max_churn {
        let name = format!("max_churn {:.0}%", churn * 100.0);
        rules.push(waived(name, &|p| p.policy.max_churn = None));
    }
    let options = PlanOptions {
        analysis: false,
        ..options.clone()
    };
    let months = f64::from(plan.months.max(1));
    rules
        .par_iter()
        .filter_map(|(rule, p)| {
            let without = plan_months(p, catalog, calibration, &options).ok()?;
            let cost = crate::plan::rule_cost(
                (plan.objective_usd, plan.gap),
                (without.objective_usd, without.gap),
                options.relative_gap,
            );
            Some(crate::plan::RuleCost {
                rule: rule.clone(),
                usd_per_month: cost / months,
            })
        })
        .collect()
}

/// A commitment over the horizon: what it owes, what the plan leaves unspent, and what walking
/// away would cost.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommitmentSummary {
    pub provider: String,
    /// Owed over the horizon (the term's months inside it).
    pub owed_usd: f64,
    /// Owed but not spent (paid as shortfall).
    pub shortfall_usd: f64,
    /// Share of what is owed that the plan spends on covered capacity.
    pub utilization: f64,
    /// Walking away at the end of each period: the contract's early-exit share of what the
    /// rest of the term owes (`None`: the contract states no early-exit terms).
    pub exit_cost_after_period: Option<Vec<f64>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reservation {
    pub offering: String,
    pub provider: String,
    pub term_years: u32,
    pub discount: f64,
    /// 1-based month of the horizon it is bought in, and the first month it can be used.
    pub bought_month: u32,
    pub usable_from_month: u32,
    pub instances: u32,
    /// Paid every month of the term.
    pub usd_per_month: f64,
    /// Term months after the horizon: a commitment the plan makes beyond what it prices.
    pub months_beyond_horizon: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Month {
    /// 1-based number of the period (a month, or a quarter when `period_months` is 3).
    pub month: u32,
    /// 1-based first month of the period, and how many months it has. Every amount below is
    /// for the whole period.
    pub first_month: u32,
    pub months: u32,
    pub cost_usd: f64,
    pub on_demand_usd: f64,
    pub spot_usd: f64,
    pub reserved_usd: f64,
    pub shortfall_usd: f64,
    pub credits_usd: f64,
    /// Peak req/s each service is provisioned for this month (headroom included).
    pub demand_requests_per_s: BTreeMap<String, f64>,
    /// Reserved instances usable this month, per offering.
    pub reserved_instances: BTreeMap<String, u32>,
    pub allocations: Vec<MonthAllocation>,
    pub spend_by_vendor: BTreeMap<String, f64>,
    /// What is spent with each provider (cloud) this period: on-demand, spot and reservations.
    #[serde(default)]
    pub spend_by_provider: BTreeMap<String, f64>,
    /// Capacity released since the previous month, and what that costs (not billed by a
    /// provider, so outside `cost_usd` and the budget).
    pub migrations: Vec<Migration>,
    pub migration_usd: f64,
    /// Training runs that resume from their checkpoint on another placement at the start of
    /// this period (`restart:`), and their fixed costs (outside `cost_usd` and the budget, like
    /// migrations; the overhead hours are in the period's bill).
    #[serde(default)]
    pub restarts: Vec<TrainingRestart>,
    #[serde(default)]
    pub restart_usd: f64,
}

/// A training run moved at a period's start: from one offering to another.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainingRestart {
    pub workload: String,
    pub from: String,
    pub to: String,
    pub usd: f64,
}

/// Instances of one placement (workload, offering, spot or not, layout) released from one
/// month to the next.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Migration {
    pub workload: String,
    pub offering: String,
    pub spot: bool,
    pub instances: u32,
    pub usd: f64,
}

/// What one serving placement is: allocations with the same key are the same capacity.
pub type PlacementKey<'p> = (&'p str, &'p str, bool, Option<u32>, Option<u32>);

/// Serving capacity released between two consecutive months' allocations, priced by
/// `policy.migration_cost` on each instance's list price that month (`factor`: the price
/// change since the catalog's, per offering).
fn migrations_between(
    before: &[MonthAllocation],
    now: &[MonthAllocation],
    factor: &dyn Fn(&str) -> f64,
    portfolio: &Portfolio,
    catalog: &Catalog,
) -> Vec<Migration> {
    fn count(allocs: &[MonthAllocation]) -> BTreeMap<PlacementKey<'_>, u32> {
        let mut by = BTreeMap::new();
        for a in allocs.iter().filter(|a| a.replicas.is_some()) {
            *by.entry(a.placement()).or_insert(0) += a.instances;
        }
        by
    }
    let (was, is) = (count(before), count(now));
    let mut out: BTreeMap<(String, String, bool), Migration> = BTreeMap::new();
    for (key, n) in was {
        let left = is.get(&key).copied().unwrap_or(0);
        let Some(released) = n.checked_sub(left).filter(|&r| r > 0) else {
            continue;
        };
        let (workload, offering, spot, _, _) = key;
        let price = catalog.offering(offering).and_then(|o| {
            if spot {
                o.spot_usd_per_hour
            } else {
                o.usd_per_hour
            }
        });
        let usd = portfolio
            .policy
            .migration_cost
            .usd_per_instance(price.unwrap_or(0.0) * factor(offering))
            * f64::from(released);
        let entry = out
            .entry((workload.to_owned(), offering.to_owned(), spot))
            .or_insert_with(|| Migration {
                workload: workload.to_owned(),
                offering: offering.to_owned(),
                spot,
                instances: 0,
                usd: 0.0,
            });
        entry.instances += released;
        entry.usd += usd;
    }
    out.into_values().collect()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MonthAllocation {
    pub workload: String,
    pub offering: String,
    pub chip: String,
    pub vendor: String,
    pub spot: bool,
    pub instances: u32,
    pub chips: u32,
    /// Fraction of the month the instances are busy (training runs end mid-month).
    pub busy_fraction: f64,
    pub replica_tp: Option<u32>,
    pub replica_pp: Option<u32>,
    pub replicas: Option<u32>,
    pub requests_per_s: Option<f64>,
    pub train_config: Option<TrainConfig>,
    pub days: Option<f64>,
    pub global_batch_tokens: Option<f64>,
}

impl MonthAllocation {
    /// The placement this allocation holds: workload, offering, spot, replica layout.
    pub fn placement(&self) -> PlacementKey<'_> {
        (
            self.workload.as_str(),
            self.offering.as_str(),
            self.spot,
            self.replica_tp,
            self.replica_pp,
        )
    }
}

/// The months a training run is busy, from its start month: `(month index, busy fraction)`.
pub fn training_months(start_month: u32, days: f64) -> Vec<(u32, f64)> {
    let months = days / DAYS_PER_MONTH;
    let start = start_month.saturating_sub(1);
    let n = months.ceil().max(1.0) as u32;
    (0..n)
        .map(|k| (start + k, (months - f64::from(k)).clamp(0.0, 1.0)))
        .collect()
}

/// Instances obtainable of offering `o` in month `t` (0-based): none outside its `roadmap:`
/// window, else the supply ramp (its last value after it ends), else the catalog's limit.
pub fn capacity_in_month(
    portfolio: &Portfolio,
    catalog: &Catalog,
    o: usize,
    t: u32,
) -> Option<u32> {
    let offering = &catalog.offerings()[o];
    let id = offering.id();
    if !timeline::available(&portfolio.roadmap, &id, t) {
        return Some(0);
    }
    match portfolio.supply.iter().find(|s| s.offering == id) {
        Some(ramp) => ramp
            .capacity_by_month
            .get(t as usize)
            .or(ramp.capacity_by_month.last())
            .copied(),
        None => offering.capacity_instances,
    }
}

/// The periods of a horizon: `count` periods of `length` months (1: months, 3: quarters);
/// a reservation's lead time in whole periods, rounded up.
#[derive(Clone, Copy, Debug)]
pub struct Periods {
    pub count: u32,
    pub length: u32,
    pub lead: u32,
}

impl Periods {
    pub fn of(horizon: &Horizon) -> Periods {
        let length = horizon.period_months.max(1);
        Periods {
            count: horizon.months / length,
            length,
            lead: horizon.lead_months.div_ceil(length),
        }
    }

    /// The months (0-based) of period `t`.
    pub fn months(&self, t: u32) -> std::ops::Range<u32> {
        t * self.length..(t + 1) * self.length
    }

    /// Periods a reservation term lasts (a term that does not fill its last period counts
    /// that period whole: it is paid for the months it runs).
    pub fn term(&self, term: &chipmix_workload::ReservationTerm) -> u32 {
        term.months().div_ceil(self.length)
    }

    /// Months `length` as a number, for prices per month.
    fn len(&self) -> f64 {
        f64::from(self.length)
    }

    /// The periods a training run is busy: `(period, fraction of the period)`.
    pub fn training(&self, start_month: u32, days: f64) -> Vec<(u32, f64)> {
        let mut by: BTreeMap<u32, f64> = BTreeMap::new();
        for (m, f) in training_months(start_month, days) {
            *by.entry(m / self.length).or_insert(0.0) += f / self.len();
        }
        by.into_iter().collect()
    }
}

/// What offering `oi`'s instance-months cost in period `t` against its catalog price
/// (`prices:`; 1 when nothing changes).
pub fn price_factor(
    portfolio: &Portfolio,
    catalog: &Catalog,
    oi: usize,
    p: Periods,
    t: u32,
) -> f64 {
    let o = &catalog.offerings()[oi];
    let base = o.usd_per_hour.or(o.spot_usd_per_hour).unwrap_or(0.0);
    timeline::mean_price_factor(&portfolio.prices, &o.id(), base, p.months(t))
}

/// Req/s service `w` must be provisioned for in period `t`: its peak month's demand with
/// headroom (0 for a training job).
pub fn provisioned_in_period(portfolio: &Portfolio, w: usize, p: Periods, t: u32) -> f64 {
    match &portfolio.workloads[w].kind {
        WorkloadKind::Inference(s) => p
            .months(t)
            .map(|m| s.peak_in_month(m) * (1.0 + s.headroom))
            .fold(0.0, f64::max),
        WorkloadKind::Training(_) => 0.0,
    }
}

/// Peak req/s of service `w` in period `t` (its busiest month), without headroom.
fn peak_in_period(svc: &chipmix_workload::InferenceService, p: Periods, t: u32) -> f64 {
    p.months(t)
        .map(|m| svc.peak_in_month(m))
        .fold(0.0, f64::max)
}

/// Instances of offering `o` obtainable through all of period `t`: the least of its months.
pub fn capacity_in_period(
    portfolio: &Portfolio,
    catalog: &Catalog,
    o: usize,
    p: Periods,
    t: u32,
) -> Option<u32> {
    p.months(t)
        .filter_map(|m| capacity_in_month(portfolio, catalog, o, m))
        .min()
}

struct Columns {
    /// Per candidate: per period (serving) or one (training).
    units: Vec<Vec<usize>>,
    /// (offering, term index, purchase period) → column.
    reserved: BTreeMap<(usize, usize, u32), usize>,
    /// Training schedules that restart once (jobs with `restart:`).
    restarts: Vec<RestartSchedule>,
    /// The period each row and column belongs to.
    periods: crate::by_period::PeriodTags,
}

/// A training run that starts on one candidate and, at the start of a period, resumes from its
/// checkpoint on another: one binary column for the whole schedule.
#[derive(Clone, Debug)]
struct RestartSchedule {
    workload: usize,
    /// Candidates before and after the restart.
    first: usize,
    second: usize,
    /// Month (0-based) the second placement starts in: a period's first month.
    at_month: u32,
    /// Days on the first placement, and on the second (the restart's overhead included).
    first_days: f64,
    second_days: f64,
    col: usize,
}

impl RestartSchedule {
    /// Each placement of the run with the periods it is busy in: `(candidate, [(period,
    /// fraction of the period)])`, before and after the restart. `start_month` is the job's.
    fn segments(&self, p: Periods, start_month: u32) -> [(usize, Vec<(u32, f64)>); 2] {
        [
            (self.first, p.training(start_month, self.first_days)),
            (self.second, p.training(self.at_month + 1, self.second_days)),
        ]
    }
}

/// The restart schedules most worth offering per (first candidate, restart month): the
/// cheapest candidates to finish on, by their price then.
const RESTART_CHOICES: usize = 6;

/// Plans a portfolio with a `horizon:` month by month.
pub fn plan_months(
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    options: &PlanOptions,
) -> Result<MonthlyPlan, PlanError> {
    let Some(horizon) = &portfolio.horizon else {
        return Err(PlanError::Infeasible(vec![
            "the portfolio has no `horizon:`; plan it with `plan`".into(),
        ]));
    };
    let generated = candidates::generate(portfolio, catalog, calibration);
    let missing = explain::workloads_without_candidates(portfolio, catalog, &generated);
    if !missing.is_empty() {
        return Err(PlanError::Infeasible(missing));
    }
    let cands = &generated.candidates;
    let solve_options = SolveOptions {
        time_limit_s: options.time_limit_s,
        relative_gap: options.relative_gap,
        relax: false,
    };
    let (m, kinds, cols) = build(portfolio, catalog, cands, horizon, true)?;
    let way = Way::of(options.method, portfolio.workloads.len());
    // The baseline (no reservations at all) is solved on the other core meanwhile: each HiGHS
    // solve runs on one thread. Without `analysis` (exports, the analyses' re-plans) it is not
    // solved at all.
    let ((solved, method), on_demand_only) = std::thread::scope(|s| {
        let baseline = s.spawn(|| {
            if !options.analysis {
                return None;
            }
            let (m0, k0, c0) = build(portfolio, catalog, cands, horizon, false).ok()?;
            let solved = solve_over_time(&m0, &k0, &c0.periods, &solve_options, way).0;
            matches!(solved.outcome, Outcome::Optimal | Outcome::TimeLimit)
                .then_some(solved.objective)
        });
        let main = solve_over_time(&m, &kinds, &cols.periods, &solve_options, way);
        // A baseline that panicked is only a missing comparison.
        (main, baseline.join().ok().flatten())
    });
    match solved.outcome {
        Outcome::Optimal | Outcome::TimeLimit => {}
        Outcome::Infeasible => {
            return Err(PlanError::Infeasible(vec![format!(
                "no month-by-month plan meets demand within supply, caps and budget in every month of the {}-month horizon; check the supply ramps against the demand growth",
                horizon.months
            )]));
        }
        Outcome::NoSolution => return Err(crate::no_solution(&solved, options.time_limit_s)),
    }
    let mut plan = assemble(
        portfolio,
        catalog,
        cands,
        horizon,
        &cols,
        &solved,
        on_demand_only,
    );
    plan.method = method;
    Ok(plan)
}

/// How a model over time is solved, from the asked method and the portfolio's size.
#[derive(Clone, Copy, Debug)]
struct Way {
    /// Period by period first ([`crate::by_period`]): `auto`.
    by_period: bool,
    /// The whole model decomposed by workload and period (falling back to branch-and-bound):
    /// `decomposed`, and `auto` on large portfolios, where branch-and-bound's LP bound is far
    /// too weak; otherwise branch-and-bound (the decomposition's plans are worse:
    /// `docs/planning.md`).
    decompose: bool,
    /// Each period decomposed by workload when solved alone (large portfolios).
    periods_decomposed: bool,
}

impl Way {
    fn of(method: crate::SolveMethod, workloads: usize) -> Way {
        let large = crate::SolveMethod::Auto.decomposes(workloads);
        match method {
            crate::SolveMethod::Auto => Way {
                by_period: true,
                decompose: large,
                periods_decomposed: large,
            },
            crate::SolveMethod::Direct => Way {
                by_period: false,
                decompose: false,
                periods_decomposed: false,
            },
            crate::SolveMethod::Decomposed => Way {
                by_period: false,
                decompose: true,
                periods_decomposed: false,
            },
        }
    }
}

/// Solves a model over time the [`Way`] asked: period by period first (at most 30% of the
/// time with the LP, 85% where it is planned without), then the whole model with the time left — branch-and-bound started from that plan,
/// or the decomposition — unless the first plan is already within the gap of the LP bound.
/// The better plan is kept, with the better of the two bounds; the second value says how.
fn solve_over_time(
    m: &LinearModel,
    kinds: &[RowKind],
    tags: &crate::by_period::PeriodTags,
    options: &SolveOptions,
    way: Way,
) -> (lp::Solved, String) {
    let start = std::time::Instant::now();
    let first = way
        .by_period
        .then(|| crate::by_period::solve(m, kinds, tags, options, way.periods_decomposed))
        .flatten();
    const BY_PERIOD: &str = "period by period";
    if let Some(h) = &first
        && h.outcome == Outcome::Optimal
    {
        let solved = lp::Solved {
            seconds: start.elapsed().as_secs_f64(),
            ..h.clone()
        };
        return (solved, BY_PERIOD.into());
    }
    let rest = SolveOptions {
        time_limit_s: (options.time_limit_s - start.elapsed().as_secs_f64()).max(0.05),
        ..*options
    };
    let start_values = first.as_ref().map(|h| h.values.as_slice());
    let incumbent = first.as_ref().map(|h| h.objective);
    let (mut solved, method) = crate::solve_model(m, kinds, &rest, way.decompose, incumbent, |o| {
        lp::solve_from(m, o, start_values)
    });
    let method = match first {
        None => method,
        Some(h) => match solved.outcome {
            Outcome::Optimal | Outcome::TimeLimit => {
                let bound = solved.bound.max(h.bound);
                if h.objective < solved.objective - 1e-9 {
                    solved = h.with_bound(bound, options.relative_gap);
                    format!("{BY_PERIOD}; {method} found no better plan")
                } else {
                    solved = solved.with_bound(bound, options.relative_gap);
                    format!("{BY_PERIOD}, then {method}")
                }
            }
            // A plan is in hand: the whole model's solve only ran out of time, or failed, or
            // (decomposed) proved a bound within the gap of it.
            Outcome::NoSolution | Outcome::Infeasible => {
                let bound = if solved.bound.is_finite() {
                    solved.bound.max(h.bound)
                } else {
                    h.bound
                };
                solved = h.with_bound(bound, options.relative_gap);
                if solved.outcome == Outcome::Optimal {
                    format!("{BY_PERIOD}, then {method}")
                } else {
                    format!("{BY_PERIOD}; {method} found no plan")
                }
            }
        },
    };
    solved.seconds = start.elapsed().as_secs_f64();
    (solved, method)
}

/// The reservation terms an offering can be bought on.
fn terms_for<'h>(
    horizon: &'h Horizon,
    provider: &str,
) -> Vec<(usize, &'h chipmix_workload::ReservationTerm)> {
    horizon
        .reservations
        .iter()
        .enumerate()
        .filter(|(_, r)| r.provider == "*" || r.provider.eq_ignore_ascii_case(provider))
        .collect()
}

/// One month-by-month MILP under construction. The rules common to every plan (vendor shares on
/// their `share_basis`, per-service vendor rules, resilience, commitments) are written by
/// [`crate::rules`], once per month with that month's columns and demand.
struct Builder<'a> {
    portfolio: &'a Portfolio,
    catalog: &'a Catalog,
    cands: &'a [Candidate],
    horizon: &'a Horizon,
    p: Periods,
    m: LinearModel,
    /// Row kinds, for the shared writers (a month-by-month plan reports no binding rows yet).
    kinds: Vec<RowKind>,
    units: Vec<Vec<usize>>,
    /// Per (offering, month): on-demand instance-month usage terms.
    usage_months: BTreeMap<(usize, u32), Vec<(usize, f64)>>,
    /// Per (offering, month): instance-count terms (on-demand and spot).
    usage_count: BTreeMap<(usize, u32), Vec<(usize, f64)>>,
    /// Per (offering, month): spot instance-count terms.
    spot_count: BTreeMap<(usize, u32), Vec<(usize, f64)>>,
    /// Per month: `(column, USD per unit, offering)` for every dollar spent.
    spend: BTreeMap<u32, Vec<(usize, f64, usize)>>,
    reserved: BTreeMap<(usize, usize, u32), usize>,
    /// (contract, month) → shortfall column.
    shortfall: BTreeMap<(usize, u32), usize>,
    /// (contract, month) → credits-used column.
    credits: BTreeMap<(usize, u32), usize>,
    restarts: Vec<RestartSchedule>,
    /// The period of every row and column made so far ([`Builder::tag`]).
    tags: crate::by_period::PeriodTags,
}

fn build(
    portfolio: &Portfolio,
    catalog: &Catalog,
    cands: &[Candidate],
    horizon: &Horizon,
    with_reservations: bool,
) -> Result<(LinearModel, Vec<RowKind>, Columns), PlanError> {
    let mut b = Builder {
        portfolio,
        catalog,
        cands,
        horizon,
        p: Periods::of(horizon),
        m: LinearModel::default(),
        kinds: Vec::new(),
        units: Vec::with_capacity(cands.len()),
        usage_months: BTreeMap::new(),
        usage_count: BTreeMap::new(),
        spot_count: BTreeMap::new(),
        spend: BTreeMap::new(),
        reserved: BTreeMap::new(),
        shortfall: BTreeMap::new(),
        credits: BTreeMap::new(),
        restarts: Vec::new(),
        tags: crate::by_period::PeriodTags::default(),
    };
    b.unit_columns();
    b.restart_columns();
    b.demand_rows();
    if with_reservations {
        b.reservation_columns();
    }
    b.on_demand_and_capacity();
    b.reserved_spend();
    b.contracts();
    b.migration();
    for t in 0..b.p.count {
        b.month_rules(t);
    }
    // A reservation's cost sits on its column for all its active months; the per-month rows
    // use the per-month rate, so the objective and the rows agree.
    debug_assert_eq!(b.kinds.len(), b.m.rows.len(), "every row has a kind");
    debug_assert_eq!(
        b.tags.rows.len(),
        b.m.rows.len(),
        "every row has a period tag"
    );
    debug_assert_eq!(
        b.tags.columns.len(),
        b.m.columns.len(),
        "every column has a tag"
    );
    b.tags.count = b.p.count;
    Ok((
        b.m,
        b.kinds,
        Columns {
            units: b.units,
            reserved: b.reserved,
            restarts: b.restarts,
            periods: b.tags,
        },
    ))
}

impl<'a> Builder<'a> {
    fn offering(&self, oi: usize) -> &'a chipmix_catalog::Offering {
        &self.catalog.offerings()[oi]
    }

    /// Adds a row of `kind`: every row of the model has one, so the decomposition can tell a
    /// workload's own rows from those that tie workloads together.
    fn row(
        &mut self,
        kind: RowKind,
        name: impl Into<String>,
        lower: f64,
        upper: f64,
        coefficients: Vec<(usize, f64)>,
    ) -> usize {
        self.kinds.push(kind);
        self.m.row(name, lower, upper, coefficients)
    }

    /// Every row and column made since the last call belongs to `period` (`None`: to the
    /// whole horizon — reservations, training runs and their run-once rows).
    fn tag(&mut self, period: Option<u32>) {
        self.tags
            .extend(self.m.rows.len(), self.m.columns.len(), period);
    }

    /// Offering `oi`'s price in period `t` against its catalog price.
    fn factor(&self, oi: usize, t: u32) -> f64 {
        price_factor(self.portfolio, self.catalog, oi, self.p, t)
    }

    /// Units a serving candidate can usefully hold in month `t`: enough for the month's demand
    /// alone, within supply. Bounds every column, so commitments get a finite big-M.
    fn serving_upper(&self, c: &Candidate, requests_per_s: f64, t: u32) -> f64 {
        let need =
            (provisioned_in_period(self.portfolio, c.workload, self.p, t) / requests_per_s).ceil();
        let cap = capacity_in_period(self.portfolio, self.catalog, c.offering, self.p, t)
            .map_or(f64::INFINITY, |cap| {
                (f64::from(cap) / f64::from(c.instances_per_unit)).floor()
            });
        need.min(cap).max(0.0)
    }

    /// Integer units per serving candidate and month; a binary per training candidate.
    fn unit_columns(&mut self) {
        let (periods, months) = (self.p.count, self.horizon.months);
        for c in self.cands {
            let o = self.offering(c.offering);
            let w = &self.portfolio.workloads[c.workload];
            let inst = f64::from(c.instances_per_unit);
            let tie = crate::formulation::TIE_BREAK_USD_PER_INSTANCE * inst;
            let cols = match (&c.kind, &w.kind) {
                (CandidateKind::Serve { requests_per_s, .. }, WorkloadKind::Inference(_)) => {
                    let mut per_month = Vec::new();
                    for t in 0..periods {
                        let cost = if c.spot {
                            c.usd_per_unit_hour
                                * HOURS_PER_MONTH
                                * self.p.len()
                                * self.factor(c.offering, t)
                        } else {
                            0.0
                        };
                        let upper = self.serving_upper(c, *requests_per_s, t);
                        let name = format!("{}@{}#{}", w.name, o.id(), t + 1);
                        let col = self.m.column(name, cost + tie, 0.0, upper, true);
                        self.tag(Some(t));
                        self.uses(c, col, t, 1.0, cost);
                        per_month.push(col);
                    }
                    per_month
                }
                (CandidateKind::Train { days, .. }, WorkloadKind::Training(job)) => {
                    let fits = training_months(job.start_month, *days)
                        .iter()
                        .all(|(m, _)| *m < months);
                    let busy = self.p.training(job.start_month, *days);
                    let period_usd: Vec<f64> = (0..periods)
                        .map(|t| {
                            c.usd_per_unit_hour
                                * HOURS_PER_MONTH
                                * self.p.len()
                                * self.factor(c.offering, t)
                        })
                        .collect();
                    let spot_cost: f64 = busy
                        .iter()
                        .filter(|(t, _)| *t < periods)
                        .map(|&(t, f)| f * period_usd[t as usize])
                        .sum();
                    let col = self.m.column(
                        format!("{}@{}", w.name, o.id()),
                        if c.spot { spot_cost } else { 0.0 },
                        0.0,
                        if fits { 1.0 } else { 0.0 },
                        true,
                    );
                    self.tag(None);
                    for (t, f) in busy.into_iter().filter(|(t, _)| *t < periods) {
                        self.uses(c, col, t, f, period_usd[t as usize] * f);
                    }
                    vec![col]
                }
                _ => Vec::new(),
            };
            self.units.push(cols);
        }
    }

    /// Records that `col` holds `c`'s instances in period `t`, busy `busy` of it; a spot unit
    /// spends `spot_usd` then. Usage is counted in instance-months.
    fn uses(&mut self, c: &Candidate, col: usize, t: u32, busy: f64, spot_usd: f64) {
        let inst = f64::from(c.instances_per_unit);
        let key = (c.offering, t);
        if c.spot {
            let spend = self.spend.entry(t).or_default();
            spend.push((col, spot_usd, c.offering));
            self.spot_count.entry(key).or_default().push((col, inst));
        } else {
            let usage = self.usage_months.entry(key).or_default();
            usage.push((col, inst * busy * self.p.len()));
        }
        self.usage_count.entry(key).or_default().push((col, inst));
    }

    /// Schedules that restart a training run once, at the start of a period, for jobs with
    /// `restart:`: from every candidate it could start on to the [`RESTART_CHOICES`] cheapest to
    /// finish on then, where the whole run still meets its deadline inside the horizon.
    fn restart_columns(&mut self) {
        for (wi, w) in self.portfolio.workloads.iter().enumerate() {
            let WorkloadKind::Training(job) = &w.kind else {
                continue;
            };
            let Some(restart) = job.restart else {
                continue;
            };
            let mine: Vec<(usize, f64)> = (0..self.cands.len())
                .filter(|&i| self.cands[i].workload == wi)
                .filter_map(|i| match self.cands[i].kind {
                    CandidateKind::Train { days, .. } => Some((i, days)),
                    CandidateKind::Serve { .. } => None,
                })
                .collect();
            let start = job.start_month.saturating_sub(1);
            let length = self.p.length;
            let boundaries: Vec<u32> = (1..self.p.count)
                .map(|t| t * length)
                .filter(|&b| b > start)
                .collect();
            for at in boundaries {
                let first_days = f64::from(at - start) * DAYS_PER_MONTH;
                let t = at / self.p.length;
                let mut seconds: Vec<(f64, usize, f64)> = mine
                    .iter()
                    .filter(|&&(i, _)| self.available(self.cands[i].offering, t))
                    .map(|&(i, days)| {
                        let c = &self.cands[i];
                        (
                            c.usd_per_unit_hour * days * self.factor(c.offering, t),
                            i,
                            days,
                        )
                    })
                    .collect();
                seconds.sort_by(|a, b| a.0.total_cmp(&b.0));
                seconds.truncate(RESTART_CHOICES);
                for &(first, days1) in mine.iter().filter(|(_, d)| *d > first_days) {
                    for &(_, second, days2) in seconds.iter().filter(|s| s.1 != first) {
                        let second_days =
                            restart.overhead_hours / 24.0 + (1.0 - first_days / days1) * days2;
                        self.restart_column(
                            wi,
                            restart.usd,
                            (first, second),
                            at,
                            first_days,
                            second_days,
                        );
                    }
                }
            }
        }
    }

    /// Whether offering `oi` can be had at all in period `t` (the roadmap, a ramp at 0).
    fn available(&self, oi: usize, t: u32) -> bool {
        capacity_in_period(self.portfolio, self.catalog, oi, self.p, t) != Some(0)
    }

    /// One restart schedule, if it meets the deadline inside the horizon.
    fn restart_column(
        &mut self,
        wi: usize,
        restart_usd: f64,
        (first, second): (usize, usize),
        at: u32,
        first_days: f64,
        second_days: f64,
    ) {
        let WorkloadKind::Training(job) = &self.portfolio.workloads[wi].kind else {
            return;
        };
        let (months, start_month) = (self.horizon.months, job.start_month);
        let ends_inside = training_months(at + 1, second_days)
            .iter()
            .all(|(m, _)| *m < months);
        if first_days + second_days > job.deadline_days + 1e-9 || !ends_inside {
            return;
        }
        let mut schedule = RestartSchedule {
            workload: wi,
            first,
            second,
            at_month: at,
            first_days,
            second_days,
            col: usize::MAX,
        };
        let mut spot_usd = 0.0;
        let mut uses = Vec::new();
        for (i, busy) in schedule.segments(self.p, start_month) {
            let c = &self.cands[i];
            for (t, f) in busy.into_iter().filter(|(t, _)| *t < self.p.count) {
                let usd = c.usd_per_unit_hour
                    * HOURS_PER_MONTH
                    * self.p.len()
                    * self.factor(c.offering, t)
                    * f;
                if c.spot {
                    spot_usd += usd;
                }
                uses.push((i, t, f, usd));
            }
        }
        let (a, b) = (&self.cands[first], &self.cands[second]);
        let tie = crate::formulation::TIE_BREAK_USD_PER_INSTANCE
            * f64::from(a.instances_per_unit + b.instances_per_unit);
        let name = format!(
            "{}@{}>{}#{}",
            self.portfolio.workloads[wi].name,
            self.offering(a.offering).id(),
            self.offering(b.offering).id(),
            at + 1
        );
        let col = self
            .m
            .column(name, spot_usd + restart_usd + tie, 0.0, 1.0, true);
        self.tag(None);
        for (i, t, f, usd) in uses {
            let c = &self.cands[i];
            self.uses(c, col, t, f, usd);
        }
        schedule.col = col;
        self.restarts.push(schedule);
    }

    /// Demand per service and month; each training job runs once.
    fn demand_rows(&mut self) {
        for (wi, w) in self.portfolio.workloads.iter().enumerate() {
            let mine: Vec<usize> = (0..self.cands.len())
                .filter(|&i| self.cands[i].workload == wi)
                .collect();
            match &w.kind {
                WorkloadKind::Inference(_) => {
                    for t in 0..self.p.count {
                        let coeffs = mine
                            .iter()
                            .filter_map(|&i| match self.cands[i].kind {
                                CandidateKind::Serve { requests_per_s, .. } => {
                                    Some((self.units[i][t as usize], requests_per_s))
                                }
                                CandidateKind::Train { .. } => None,
                            })
                            .collect();
                        self.row(
                            RowKind::Demand { workload: wi },
                            format!("demand[{}]#{}", w.name, t + 1),
                            provisioned_in_period(self.portfolio, wi, self.p, t),
                            f64::INFINITY,
                            coeffs,
                        );
                        self.tag(Some(t));
                    }
                }
                WorkloadKind::Training(_) => {
                    let mut coeffs: Vec<(usize, f64)> =
                        mine.iter().map(|&i| (self.units[i][0], 1.0)).collect();
                    let restarts = self.restarts.iter().filter(|r| r.workload == wi);
                    coeffs.extend(restarts.map(|r| (r.col, 1.0)));
                    let name = format!("run_once[{}]", w.name);
                    self.row(RowKind::TrainOnce { workload: wi }, name, 1.0, 1.0, coeffs);
                    self.tag(None);
                }
            }
        }
    }

    /// Instances of offering `oi` the plan could ever hold at once: its largest supply, or
    /// what every column on it could hold.
    fn most_instances(&self, oi: usize) -> f64 {
        let periods = self.p.count;
        let supply = (0..periods)
            .filter_map(|t| capacity_in_period(self.portfolio, self.catalog, oi, self.p, t))
            .max();
        match supply {
            Some(cap) => f64::from(cap),
            None => (0..periods)
                .map(|t| {
                    self.usage_count
                        .get(&(oi, t))
                        .into_iter()
                        .flatten()
                        .map(|&(col, inst)| inst * self.m.columns[col].upper)
                        .sum::<f64>()
                })
                .fold(0.0, f64::max),
        }
    }

    /// Reservations: bought in period τ, usable from τ + lead for the term. The whole term is
    /// owed, including months after the horizon: the plan cannot know the capacity will be
    /// needed then, so it does not count on it.
    fn reservation_columns(&mut self) {
        let (periods, lead) = (self.p.count, self.p.lead);
        let used: std::collections::BTreeSet<usize> =
            self.usage_months.keys().map(|(o, _)| *o).collect();
        for oi in used {
            let o = self.offering(oi);
            let Some(price) = o.usd_per_hour else {
                continue;
            };
            let upper = self.most_instances(oi);
            for (k, term) in terms_for(self.horizon, &o.provider) {
                for tau in 0..periods.saturating_sub(lead) {
                    // Priced when bought, for the whole term.
                    let price = price * self.factor(oi, tau);
                    let col = self.m.column(
                        format!("reserve[{}]{}y#{}", o.id(), term.term_years, tau + 1),
                        price * HOURS_PER_MONTH * (1.0 - term.discount) * f64::from(term.months()),
                        0.0,
                        upper,
                        true,
                    );
                    self.tag(None);
                    self.reserved.insert((oi, k, tau), col);
                }
            }
        }
    }

    /// Reservation columns usable in period `t` on offering `oi`, with the instance-months
    /// one reserved instance covers in it.
    fn reserved_at(&self, oi: usize, t: u32) -> Vec<(usize, f64)> {
        let lead = self.p.lead;
        self.reserved
            .iter()
            .filter(|((o, k, tau), _)| {
                let first = tau + lead;
                *o == oi && first <= t && t < first + self.p.term(&self.horizon.reservations[*k])
            })
            .map(|(_, &col)| (col, self.p.len()))
            .collect()
    }

    /// On-demand instance-months beyond reservations, and supply per offering and month.
    fn on_demand_and_capacity(&mut self) {
        for oi in 0..self.catalog.offerings().len() {
            for t in 0..self.p.count {
                self.on_demand_and_capacity_at(oi, t);
                self.tag(Some(t));
            }
        }
    }

    /// [`Builder::on_demand_and_capacity`] for offering `oi` in period `t`.
    fn on_demand_and_capacity_at(&mut self, oi: usize, t: u32) {
        let count_terms = self.usage_count.get(&(oi, t)).cloned();
        let month_terms = self.usage_months.get(&(oi, t)).cloned();
        if month_terms.is_none() && count_terms.is_none() {
            return;
        }
        let r = self.reserved_at(oi, t);
        let o = self.offering(oi);
        let id = o.id();
        if let Some(terms) = month_terms {
            let discount =
                commitment_discount_over(self.portfolio, &o.provider, &o.chip, self.p.months(t));
            let price = o.usd_per_hour.unwrap_or(0.0) * self.factor(oi, t) * (1.0 - discount);
            let upper: f64 = terms
                .iter()
                .map(|&(c, a)| a * self.m.columns[c].upper)
                .sum();
            let od = self.m.column(
                format!("on_demand[{id}]#{}", t + 1),
                price * HOURS_PER_MONTH,
                0.0,
                upper,
                false,
            );
            // od ≥ usage − reserved; without a reservation, od = usage.
            let mut coeffs = vec![(od, 1.0)];
            coeffs.extend(terms.iter().map(|&(c, a)| (c, -a)));
            coeffs.extend(r.iter().copied());
            let upper_row = if r.is_empty() { 0.0 } else { f64::INFINITY };
            let name = format!("on_demand[{id}]#{}", t + 1);
            let kind = RowKind::OnDemand { offering: oi };
            self.row(kind, name, 0.0, upper_row, coeffs.clone());
            if !r.is_empty() && self.spend_is_shared() {
                let label = format!("[{id}]#{}", t + 1);
                self.exact_on_demand(oi, od, upper, &coeffs, &r, &label);
            }
            let spend = self.spend.entry(t).or_default();
            spend.push((od, price * HOURS_PER_MONTH, oi));
        }
        let Some(cap) = capacity_in_period(self.portfolio, self.catalog, oi, self.p, t) else {
            return;
        };
        let cap = f64::from(cap);
        if let Some(terms) = count_terms {
            let name = format!("capacity[{id}]#{}", t + 1);
            let kind = RowKind::Capacity { offering: oi };
            self.row(kind, name, f64::NEG_INFINITY, cap, terms);
        }
        if !r.is_empty() {
            // Reserved instances hold capacity whether used or not.
            let mut coeffs: Vec<(usize, f64)> = r.iter().map(|&(c, _)| (c, 1.0)).collect();
            let spot = self.spot_count.get(&(oi, t)).into_iter().flatten();
            coeffs.extend(spot.copied());
            let name = format!("capacity_reserved[{id}]#{}", t + 1);
            let kind = RowKind::Capacity { offering: oi };
            self.row(kind, name, f64::NEG_INFINITY, cap, coeffs);
        }
    }

    /// Whether spend is capped per vendor: then every on-demand column must be exactly what
    /// reservations leave uncovered, or the solver could buy idle on-demand capacity from one
    /// vendor to dilute another's share.
    fn spend_is_shared(&self) -> bool {
        let policy = &self.portfolio.policy;
        policy.max_vendor_share.is_some() && policy.share_basis == ShareBasis::Spend
    }

    /// `od = max(0, usage − reserved)` exactly, with a binary `z` (1: usage reaches the
    /// reservations): `od − usage + reserved ≤ M(1 − z)` and `od ≤ M z`. `coeffs` is the row
    /// `od − usage + reserved`.
    fn exact_on_demand(
        &mut self,
        oi: usize,
        od: usize,
        od_upper: f64,
        coeffs: &[(usize, f64)],
        reserved: &[(usize, f64)],
        label: &str,
    ) {
        let big = od_upper
            + reserved
                .iter()
                .map(|&(c, a)| a * self.m.columns[c].upper)
                .sum::<f64>();
        if !big.is_finite() {
            return;
        }
        let z = self
            .m
            .column(format!("uses_reserved{label}"), 0.0, 0.0, 1.0, true);
        let mut row = coeffs.to_vec();
        row.push((z, big));
        self.row(
            RowKind::OnDemand { offering: oi },
            format!("on_demand_exact{label}"),
            f64::NEG_INFINITY,
            big,
            row,
        );
        self.row(
            RowKind::OnDemand { offering: oi },
            format!("on_demand_zero{label}"),
            f64::NEG_INFINITY,
            0.0,
            vec![(od, 1.0), (z, -big)],
        );
    }

    /// Reserved spend per month, for commitments, shares and budget.
    fn reserved_spend(&mut self) {
        let lead = self.p.lead;
        for (&(oi, k, tau), &col) in &self.reserved {
            let term = &self.horizon.reservations[k];
            let o = &self.catalog.offerings()[oi];
            let rate = o.usd_per_hour.unwrap_or(0.0)
                * self.factor(oi, tau)
                * HOURS_PER_MONTH
                * self.p.len()
                * (1.0 - term.discount);
            let first = tau + lead;
            for t in first..(first + self.p.term(term)).min(self.p.count) {
                self.spend.entry(t).or_default().push((col, rate, oi));
            }
        }
    }

    /// Commitments (exact shortfall per month) and credits (used per month while valid).
    fn contracts(&mut self) {
        let months = self.horizon.months;
        for (ki, k) in self.portfolio.contracts.iter().enumerate() {
            for t in 0..self.p.count {
                let covered: Vec<(usize, f64)> = self
                    .spend
                    .get(&t)
                    .into_iter()
                    .flatten()
                    .filter(|(_, _, oi)| {
                        let o = &self.catalog.offerings()[*oi];
                        match k {
                            Contract::Commitment { .. } => k.covers(&o.provider, &o.chip),
                            Contract::Credits { provider, .. } => {
                                o.provider.eq_ignore_ascii_case(provider)
                            }
                        }
                    })
                    .map(|&(c, usd, _)| (c, usd))
                    .collect();
                match k {
                    Contract::Commitment {
                        provider,
                        usd_per_month,
                        term,
                        ..
                    } => {
                        let owed: f64 = self
                            .p
                            .months(t)
                            .map(|m| term.usd_in_month(*usd_per_month, m))
                            .sum();
                        if owed <= 0.0 {
                            continue; // outside the term
                        }
                        let s = rules::commitment(
                            &mut self.m,
                            &mut self.kinds,
                            ki,
                            provider,
                            owed,
                            &covered,
                            &format!("#{}", t + 1),
                        );
                        self.shortfall.insert((ki, t), s);
                        self.tag(Some(t));
                    }
                    Contract::Credits { provider, usd, .. } => {
                        let valid = credit_months(self.portfolio, k, f64::from(months));
                        let start = f64::from(t * self.p.length);
                        if start >= valid {
                            continue;
                        }
                        let per_month = usd / valid.max(1.0);
                        let per_month = per_month * (valid - start).min(self.p.len());
                        let u = self.m.column(
                            format!("credits[{provider}]#{}", t + 1),
                            -1.0,
                            0.0,
                            per_month,
                            false,
                        );
                        let mut coeffs: Vec<(usize, f64)> =
                            covered.iter().map(|&(c, a)| (c, -a)).collect();
                        coeffs.push((u, 1.0));
                        self.row(
                            RowKind::Credits { contract: ki },
                            format!("credits[{provider}]#{}", t + 1),
                            f64::NEG_INFINITY,
                            0.0,
                            coeffs,
                        );
                        self.credits.insert((ki, t), u);
                        self.tag(Some(t));
                    }
                }
            }
        }
    }

    /// Moving capacity costs `policy.migration_cost` per instance released: for each serving
    /// candidate and period after the first, `moved ≥ units(t−1) − units(t)`; with
    /// `policy.max_churn`, a service releases at most that share of its instances per period.
    fn migration(&mut self) {
        let cost = self.portfolio.policy.migration_cost;
        let churn = self.portfolio.policy.max_churn;
        // Per (workload, period): (moved column, instances per unit, previous units column).
        type Released = Vec<(usize, f64, usize)>;
        let mut released: BTreeMap<(usize, usize), Released> = BTreeMap::new();
        for (i, c) in self.cands.iter().enumerate() {
            if !matches!(c.kind, CandidateKind::Serve { .. }) {
                continue;
            }
            let inst = f64::from(c.instances_per_unit);
            let per_unit = cost.usd_per_instance(c.usd_per_unit_hour / inst) * inst;
            if per_unit <= 0.0 && churn.is_none() {
                continue;
            }
            let w = &self.portfolio.workloads[c.workload].name;
            let id = self.offering(c.offering).id();
            for t in 1..self.p.count as usize {
                let per_unit = match cost {
                    chipmix_workload::MigrationCost::HoursOfPrice(_) => {
                        per_unit * self.factor(c.offering, t as u32)
                    }
                    chipmix_workload::MigrationCost::UsdPerInstance(_) => per_unit,
                };
                let (before, now) = (self.units[i][t - 1], self.units[i][t]);
                let upper = self.m.columns[before].upper;
                let name = format!("moved[{w}@{id}]#{}", t + 1);
                let moved = self.m.column(name.clone(), per_unit, 0.0, upper, false);
                let coeffs = vec![(moved, 1.0), (before, -1.0), (now, 1.0)];
                let kind = RowKind::Migration {
                    workload: c.workload,
                };
                self.row(kind, name, 0.0, f64::INFINITY, coeffs);
                self.tag(Some(t as u32));
                released
                    .entry((c.workload, t))
                    .or_default()
                    .push((moved, inst, before));
            }
        }
        // The churn cap: instances released per period at most `max_churn` of those held the
        // period before, per service.
        let Some(cap) = churn else {
            return;
        };
        for ((wi, t), terms) in released {
            let w = &self.portfolio.workloads[wi].name;
            let mut coeffs: Vec<(usize, f64)> = Vec::new();
            for &(moved, inst, before) in &terms {
                coeffs.push((moved, inst));
                coeffs.push((before, -cap * inst));
            }
            self.row(
                RowKind::Churn { workload: wi },
                format!("churn[{w}]#{}", t + 1),
                f64::NEG_INFINITY,
                0.0,
                coeffs,
            );
            self.tag(Some(t as u32));
        }
    }

    /// The rules every plan keeps, in month `t`: vendor shares (on the policy's basis),
    /// per-service vendor rules, resilience and the budget.
    fn month_rules(&mut self, t: u32) {
        let suffix = format!("#{}", t + 1);
        let portfolio = self.portfolio;
        let policy = &portfolio.policy;
        if let Some(cap) = policy.max_vendor_share {
            let (terms, extra) = self.share_terms(t);
            rules::vendor_share(&mut self.m, &mut self.kinds, cap, &terms, extra, &suffix);
        }
        for (wi, w) in portfolio.workloads.iter().enumerate() {
            let WorkloadKind::Inference(svc) = &w.kind else {
                continue;
            };
            let serving: Vec<(usize, f64, usize)> = (0..self.cands.len())
                .filter(|&i| self.cands[i].workload == wi)
                .filter_map(|i| match self.cands[i].kind {
                    CandidateKind::Serve { requests_per_s, .. } => {
                        Some((self.units[i][t as usize], requests_per_s, i))
                    }
                    CandidateKind::Train { .. } => None,
                })
                .collect();
            let terms: Vec<rules::ServeTerm> = serving
                .iter()
                .map(|&(col, rps, i)| (col, rps, self.cands[i].vendor))
                .collect();
            rules::service_vendor_rules(
                &mut self.m,
                &mut self.kinds,
                wi,
                &w.name,
                svc.max_vendor_fraction,
                svc.min_vendors,
                provisioned_in_period(portfolio, wi, self.p, t),
                &terms,
                &suffix,
            );
            if let Some(share) = policy.min_share_per_placement {
                let terms: Vec<rules::PlacementTerm> = serving
                    .iter()
                    .map(|&(col, rps, i)| {
                        let chip = self.offering(self.cands[i].offering).chip.clone();
                        (col, rps, chip)
                    })
                    .collect();
                let demand = provisioned_in_period(portfolio, wi, self.p, t);
                rules::placement_share(
                    &mut self.m,
                    &mut self.kinds,
                    wi,
                    &w.name,
                    share,
                    demand,
                    &terms,
                    &suffix,
                );
            }
            if let Some(res) = policy.resilience {
                let terms: Vec<(usize, f64, String)> = serving
                    .iter()
                    .map(|&(col, rps, i)| {
                        let domain =
                            failure_domain(self.catalog, self.cands[i].offering, res.survive);
                        (col, rps, domain)
                    })
                    .collect();
                let floor = res.min_served * peak_in_period(svc, self.p, t);
                rules::resilience(
                    &mut self.m,
                    &mut self.kinds,
                    wi,
                    &w.name,
                    floor,
                    &terms,
                    &suffix,
                );
            }
        }
        if let Some(budget) = policy.budget_usd_per_month {
            let mut coeffs: Vec<(usize, f64)> = self
                .spend
                .get(&t)
                .into_iter()
                .flatten()
                .map(|&(c, usd, _)| (c, usd))
                .collect();
            coeffs.extend(self.month_columns(&self.shortfall, t).map(|s| (s, 1.0)));
            coeffs.extend(self.month_columns(&self.credits, t).map(|u| (u, -1.0)));
            let budget = budget * self.p.len();
            let name = format!("budget{suffix}");
            self.row(RowKind::Budget, name, f64::NEG_INFINITY, budget, coeffs);
        }
        self.tag(Some(t));
    }

    /// Columns of `map` (keyed by contract and month) in month `t`.
    fn month_columns<'m>(
        &self,
        map: &'m BTreeMap<(usize, u32), usize>,
        t: u32,
    ) -> impl Iterator<Item = usize> + 'm {
        map.iter()
            .filter(move |((_, tt), _)| *tt == t)
            .map(|(_, &c)| c)
    }

    /// The vendor-share terms of month `t` on the policy's basis, and the vendors a
    /// commitment's shortfall may be paid to.
    fn share_terms(&self, t: u32) -> (Vec<rules::ShareTerm>, Vec<Vendor>) {
        let portfolio = self.portfolio;
        let vendor_of = |oi: usize| self.catalog.vendor_of(&self.catalog.offerings()[oi]);
        let basis = portfolio.policy.share_basis;
        let mut extra = Vec::new();
        let terms = match basis {
            ShareBasis::Spend => {
                let mut terms: Vec<rules::ShareTerm> = self
                    .spend
                    .get(&t)
                    .into_iter()
                    .flatten()
                    .map(|&(c, usd, oi)| (c, usd, Some(vendor_of(oi))))
                    .collect();
                for (&(ki, tt), &s) in &self.shortfall {
                    if tt == t {
                        let vendor = commitment_vendor(self.catalog, &portfolio.contracts[ki]);
                        terms.push((s, 1.0, vendor));
                        extra.extend(vendor);
                    }
                }
                terms
            }
            ShareBasis::Chips | ShareBasis::Compute => {
                let mut terms = Vec::new();
                for (i, c) in self.cands.iter().enumerate() {
                    let per_unit = match basis {
                        ShareBasis::Chips => f64::from(c.chips_per_unit),
                        _ => c.pflops_per_unit,
                    };
                    match (&c.kind, &portfolio.workloads[c.workload].kind) {
                        (CandidateKind::Serve { .. }, _) => {
                            terms.push((self.units[i][t as usize], per_unit, Some(c.vendor)));
                        }
                        (CandidateKind::Train { days, .. }, WorkloadKind::Training(job)) => {
                            let busy = self.p.training(job.start_month, *days);
                            if let Some((_, f)) = busy.into_iter().find(|(tt, _)| *tt == t) {
                                terms.push((self.units[i][0], per_unit * f, Some(c.vendor)));
                            }
                        }
                        _ => {}
                    }
                }
                // A run that restarts counts where it is in period `t`.
                for r in &self.restarts {
                    let WorkloadKind::Training(job) = &portfolio.workloads[r.workload].kind else {
                        continue;
                    };
                    for (i, busy) in r.segments(self.p, job.start_month) {
                        let c = &self.cands[i];
                        let per_unit = match basis {
                            ShareBasis::Chips => f64::from(c.chips_per_unit),
                            _ => c.pflops_per_unit,
                        };
                        if let Some((_, f)) = busy.into_iter().find(|(tt, _)| *tt == t) {
                            terms.push((r.col, per_unit * f, Some(c.vendor)));
                        }
                    }
                }
                terms
            }
        };
        (terms, extra)
    }
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    portfolio: &Portfolio,
    catalog: &Catalog,
    cands: &[Candidate],
    horizon: &Horizon,
    cols: &Columns,
    solved: &lp::Solved,
    on_demand_only: Option<f64>,
) -> MonthlyPlan {
    let months = horizon.months;
    let p = Periods::of(horizon);
    let mut warnings = Vec::new();
    let reservations = reservations_bought(portfolio, catalog, horizon, cols, solved);
    let beyond: f64 = reservations
        .iter()
        .map(|r| r.usd_per_month * f64::from(r.months_beyond_horizon))
        .sum();
    if beyond > 0.0 {
        warnings.push(format!(
            "reservations run past the {months}-month horizon: ${beyond:.0} of the plan's cost is owed after it"
        ));
    }
    let solution = Solution {
        portfolio,
        catalog,
        cands,
        p,
        cols,
        solved,
    };
    let mut by_month: Vec<Month> = Vec::new();
    // Per commitment: (owed over the horizon, shortfall over the horizon).
    let mut owed_by_contract: BTreeMap<usize, (f64, f64)> = BTreeMap::new();
    for t in 0..p.count {
        let allocations = solution.allocations(t);
        let restarts = solution.restarts(t);
        let mut month = period_bill(
            portfolio,
            catalog,
            p,
            t,
            allocations,
            &reservations,
            by_month.last(),
            &mut owed_by_contract,
        );
        month.restart_usd = restarts.iter().fold(0.0, |sum, r| sum + r.usd);
        month.restarts = restarts;
        by_month.push(month);
    }
    let migration_usd: f64 = by_month.iter().map(|m| m.migration_usd).sum();
    let restart_usd: f64 = by_month.iter().map(|m| m.restart_usd).sum();
    let objective: f64 =
        by_month.iter().map(|m| m.cost_usd).sum::<f64>() + migration_usd + restart_usd + beyond;
    let bound = (solved.bound - (solved.objective - objective)).min(objective);
    MonthlyPlan {
        portfolio: portfolio.name.clone(),
        status: if solved.outcome == Outcome::Optimal {
            crate::Status::Optimal
        } else {
            crate::Status::TimeLimit
        },
        months,
        period_months: p.length,
        lead_months: horizon.lead_months,
        objective_usd: objective,
        committed_after_horizon_usd: beyond,
        migration_usd,
        bound_usd: bound,
        gap: lp::relative_gap(objective, bound),
        solve_seconds: solved.seconds,
        method: "direct".into(),
        on_demand_only_usd: on_demand_only,
        reservations,
        commitments: commitment_summaries(portfolio, p, months, owed_by_contract),
        by_month,
        rule_costs: Vec::new(),
        warnings,
    }
}

/// The reservations the solution buys: bought at the start of period τ, usable from the start
/// of τ + lead, priced when bought for the whole term.
fn reservations_bought(
    portfolio: &Portfolio,
    catalog: &Catalog,
    horizon: &Horizon,
    cols: &Columns,
    solved: &lp::Solved,
) -> Vec<Reservation> {
    let p = Periods::of(horizon);
    let mut reservations = Vec::new();
    for (&(oi, k, tau), &col) in &cols.reserved {
        let n = solved.values[col].round().max(0.0) as u32;
        if n == 0 {
            continue;
        }
        let o = &catalog.offerings()[oi];
        let term = &horizon.reservations[k];
        // In months.
        let bought = tau * p.length;
        let first = (tau + p.lead) * p.length;
        let end = first + term.months();
        let rate = o.usd_per_hour.unwrap_or(0.0)
            * price_factor(portfolio, catalog, oi, p, tau)
            * HOURS_PER_MONTH
            * (1.0 - term.discount);
        reservations.push(Reservation {
            offering: o.id(),
            provider: o.provider.clone(),
            term_years: term.term_years,
            discount: term.discount,
            bought_month: bought + 1,
            usable_from_month: first + 1,
            instances: n,
            usd_per_month: rate * f64::from(n),
            months_beyond_horizon: end.saturating_sub(horizon.months),
        });
    }
    reservations
}

/// A solved model over time, read back period by period.
struct Solution<'a> {
    portfolio: &'a Portfolio,
    catalog: &'a Catalog,
    cands: &'a [Candidate],
    p: Periods,
    cols: &'a Columns,
    solved: &'a lp::Solved,
}

impl Solution<'_> {
    /// What the solution holds in period `t`: serving units, and training runs busy then (a
    /// run that restarts: on the placement it is on then).
    fn allocations(&self, t: u32) -> Vec<MonthAllocation> {
        let (portfolio, catalog, cands) = (self.portfolio, self.catalog, self.cands);
        let (p, cols, solved) = (self.p, self.cols, self.solved);
        let units_of = |c: usize| solved.values[c].round().max(0.0) as u32;
        let mut allocations = Vec::new();
        for (i, c) in cands.iter().enumerate() {
            let w = &portfolio.workloads[c.workload];
            let (units, busy) = match (&c.kind, &w.kind) {
                (CandidateKind::Serve { .. }, _) => (units_of(cols.units[i][t as usize]), 1.0),
                (CandidateKind::Train { days, .. }, WorkloadKind::Training(job)) => {
                    if units_of(cols.units[i][0]) == 0 {
                        continue;
                    }
                    match p
                        .training(job.start_month, *days)
                        .into_iter()
                        .find(|(tt, _)| *tt == t)
                    {
                        Some((_, f)) => (1, f),
                        None => continue,
                    }
                }
                _ => continue,
            };
            if units > 0 {
                allocations.push(allocation(portfolio, catalog, c, units, busy));
            }
        }
        for r in cols.restarts.iter().filter(|r| units_of(r.col) > 0) {
            let WorkloadKind::Training(job) = &portfolio.workloads[r.workload].kind else {
                continue;
            };
            for (i, busy) in r.segments(p, job.start_month) {
                if let Some((_, f)) = busy.into_iter().find(|(tt, _)| *tt == t) {
                    allocations.push(allocation(portfolio, catalog, &cands[i], 1, f));
                }
            }
        }
        allocations
    }

    /// The training runs that restart in period `t` (0-based), with what each restart costs
    /// beyond the hours it is busy (`restart.usd`).
    fn restarts(&self, t: u32) -> Vec<TrainingRestart> {
        let (portfolio, catalog, cands) = (self.portfolio, self.catalog, self.cands);
        let (p, cols, solved) = (self.p, self.cols, self.solved);
        let id = |i: usize| catalog.offerings()[cands[i].offering].id();
        cols.restarts
            .iter()
            .filter(|r| r.at_month / p.length == t && solved.values[r.col].round() > 0.0)
            .filter_map(|r| {
                let w = &portfolio.workloads[r.workload];
                let WorkloadKind::Training(job) = &w.kind else {
                    return None;
                };
                Some(TrainingRestart {
                    workload: w.name.clone(),
                    from: id(r.first),
                    to: id(r.second),
                    usd: job.restart.map_or(0.0, |x| x.usd),
                })
            })
            .collect()
    }
}

/// `units` of candidate `c` held in a period, busy `busy` of it.
fn allocation(
    portfolio: &Portfolio,
    catalog: &Catalog,
    c: &Candidate,
    units: u32,
    busy: f64,
) -> MonthAllocation {
    let o = &catalog.offerings()[c.offering];
    let mut a = MonthAllocation {
        workload: portfolio.workloads[c.workload].name.clone(),
        offering: o.id(),
        chip: o.chip.clone(),
        vendor: c.vendor.to_string(),
        spot: c.spot,
        instances: units * c.instances_per_unit,
        chips: units * c.chips_per_unit,
        busy_fraction: busy,
        replica_tp: None,
        replica_pp: None,
        replicas: None,
        requests_per_s: None,
        train_config: None,
        days: None,
        global_batch_tokens: None,
    };
    match &c.kind {
        CandidateKind::Serve {
            replica,
            replicas_per_unit,
            requests_per_s,
            ..
        } => {
            a.replica_tp = Some(replica.tp);
            a.replica_pp = Some(replica.pp);
            a.replicas = Some(units * replicas_per_unit);
            a.requests_per_s = Some(requests_per_s * f64::from(units));
        }
        CandidateKind::Train {
            config,
            global_batch_tokens,
            days,
            ..
        } => {
            a.train_config = Some(*config);
            a.global_batch_tokens = Some(*global_batch_tokens);
            a.days = Some(*days);
        }
    }
    a
}

/// Period `t`'s bill from what the plan holds (not from the solver's slack variables: an
/// incumbent stopped by the time limit may carry loose ones): on-demand beyond reservations,
/// spot, reservations in their term, commitment shortfalls (added to `owed_by_contract`),
/// credits, spend per vendor and provider, and the migrations since `previous`.
#[allow(clippy::too_many_arguments)]
fn period_bill(
    portfolio: &Portfolio,
    catalog: &Catalog,
    p: Periods,
    t: u32,
    allocations: Vec<MonthAllocation>,
    reservations: &[Reservation],
    previous: Option<&Month>,
    owed_by_contract: &mut BTreeMap<usize, (f64, f64)>,
) -> Month {
    let len = f64::from(p.length);
    let m0 = t * p.length;
    let in_term = |r: &Reservation| {
        let first = r.usable_from_month - 1;
        first <= m0 && m0 < first + r.term_years * 12
    };
    let mut reserved_instances = BTreeMap::new();
    for r in reservations.iter().filter(|r| in_term(r)) {
        *reserved_instances.entry(r.offering.clone()).or_insert(0) += r.instances;
    }
    let price_of = |id: &str| catalog.offering(id).expect("from the catalog");
    let factor = |id: &str| {
        let o = price_of(id);
        let base = o.usd_per_hour.or(o.spot_usd_per_hour).unwrap_or(0.0);
        timeline::mean_price_factor(&portfolio.prices, id, base, p.months(t))
    };
    let mut busy: BTreeMap<&str, f64> = BTreeMap::new();
    // (offering, usd) for every dollar spent this period.
    let mut spent: Vec<(&str, f64)> = Vec::new();
    for a in &allocations {
        let o = price_of(&a.offering);
        let instance_months = f64::from(a.instances) * a.busy_fraction * len;
        if a.spot {
            let hourly = o.spot_usd_per_hour.unwrap_or(0.0) * factor(&a.offering);
            spent.push((
                a.offering.as_str(),
                hourly * instance_months * HOURS_PER_MONTH,
            ));
        } else {
            *busy.entry(a.offering.as_str()).or_insert(0.0) += instance_months;
        }
    }
    let spot_usd: f64 = spent.iter().map(|(_, u)| u).sum();
    let mut on_demand_usd = 0.0;
    for (id, b) in &busy {
        let o = price_of(id);
        let reserved_months = f64::from(reserved_instances.get(*id).copied().unwrap_or(0)) * len;
        let uncovered = (b - reserved_months).max(0.0);
        let usd = uncovered
            * o.usd_per_hour.unwrap_or(0.0)
            * factor(id)
            * (1.0 - commitment_discount_over(portfolio, &o.provider, &o.chip, p.months(t)))
            * HOURS_PER_MONTH;
        on_demand_usd += usd;
        spent.push((id, usd));
    }
    let mut reserved_usd = 0.0;
    for r in reservations.iter().filter(|r| in_term(r)) {
        reserved_usd += r.usd_per_month * len;
        spent.push((r.offering.as_str(), r.usd_per_month * len));
    }
    let (shortfall_usd, credits_usd) =
        settle_contracts(portfolio, p, t, &spent, &price_of, owed_by_contract);
    let mut spend_by_vendor: BTreeMap<String, f64> = BTreeMap::new();
    let mut spend_by_provider: BTreeMap<String, f64> = BTreeMap::new();
    for (id, u) in &spent {
        let o = price_of(id);
        *spend_by_vendor
            .entry(catalog.vendor_of(o).to_string())
            .or_insert(0.0) += u;
        *spend_by_provider.entry(o.provider.clone()).or_insert(0.0) += u;
    }
    let demand_requests_per_s = portfolio
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| matches!(w.kind, WorkloadKind::Inference(_)))
        .map(|(wi, w)| (w.name.clone(), provisioned_in_period(portfolio, wi, p, t)))
        .collect();
    let migrations = match previous {
        Some(prev) => {
            migrations_between(&prev.allocations, &allocations, &factor, portfolio, catalog)
        }
        None => Vec::new(),
    };
    let migration_usd = migrations.iter().map(|m| m.usd).sum();
    Month {
        month: t + 1,
        first_month: m0 + 1,
        months: p.length,
        cost_usd: on_demand_usd + spot_usd + reserved_usd + shortfall_usd - credits_usd,
        on_demand_usd,
        spot_usd,
        reserved_usd,
        shortfall_usd,
        credits_usd,
        demand_requests_per_s,
        reserved_instances,
        allocations,
        spend_by_vendor,
        spend_by_provider,
        migrations,
        migration_usd,
        restarts: Vec::new(),
        restart_usd: 0.0,
    }
}

/// Period `t`'s commitment shortfalls and credits used, from what is `spent` per offering;
/// each commitment's owed amount and shortfall are added to `owed_by_contract`.
fn settle_contracts<'c>(
    portfolio: &Portfolio,
    p: Periods,
    t: u32,
    spent: &[(&str, f64)],
    price_of: &dyn Fn(&str) -> &'c chipmix_catalog::Offering,
    owed_by_contract: &mut BTreeMap<usize, (f64, f64)>,
) -> (f64, f64) {
    let (len, m0) = (f64::from(p.length), t * p.length);
    let horizon_months = portfolio
        .horizon
        .as_ref()
        .map_or(p.count * p.length, |h| h.months);
    let mut shortfall_usd = 0.0;
    let mut credits_usd = 0.0;
    for (ki, k) in portfolio.contracts.iter().enumerate() {
        let covered: f64 = spent
            .iter()
            .filter(|(id, _)| {
                let o = price_of(id);
                match k {
                    Contract::Commitment { .. } => k.covers(&o.provider, &o.chip),
                    Contract::Credits { provider, .. } => o.provider.eq_ignore_ascii_case(provider),
                }
            })
            .map(|(_, u)| u)
            .sum();
        match k {
            Contract::Commitment {
                usd_per_month,
                term,
                ..
            } => {
                let owed: f64 = p
                    .months(t)
                    .map(|m| term.usd_in_month(*usd_per_month, m))
                    .sum();
                let short = (owed - covered).max(0.0);
                shortfall_usd += short;
                let entry = owed_by_contract.entry(ki).or_insert((0.0, 0.0));
                entry.0 += owed;
                entry.1 += short;
            }
            Contract::Credits { usd, .. } => {
                let valid =
                    crate::formulation::credit_months(portfolio, k, f64::from(horizon_months));
                let start = f64::from(m0);
                if start < valid {
                    let grant = usd / valid.max(1.0) * (valid - start).min(len);
                    credits_usd += covered.min(grant);
                }
            }
        }
    }
    (shortfall_usd, credits_usd)
}

/// How each commitment fares over the horizon, and what walking away after each period costs.
fn commitment_summaries(
    portfolio: &Portfolio,
    p: Periods,
    months: u32,
    owed_by_contract: BTreeMap<usize, (f64, f64)>,
) -> Vec<CommitmentSummary> {
    owed_by_contract
        .into_iter()
        .filter_map(|(ki, (owed, short))| match &portfolio.contracts[ki] {
            Contract::Commitment {
                provider,
                usd_per_month,
                term,
                ..
            } => Some(CommitmentSummary {
                provider: provider.clone(),
                owed_usd: owed,
                shortfall_usd: short,
                utilization: if owed > 0.0 { 1.0 - short / owed } else { 1.0 },
                exit_cost_after_period: term.early_exit_fraction.map(|_| {
                    (0..p.count)
                        .map(|t| {
                            let last = (t + 1) * p.length - 1;
                            term.exit_cost_after(*usd_per_month, last, months)
                                .unwrap_or(0.0)
                        })
                        .collect()
                }),
            }),
            Contract::Credits { .. } => None,
        })
        .collect()
}

impl MonthlyPlan {
    /// What one period is: `month` or `quarter`.
    pub fn period_word(&self) -> &'static str {
        if self.period_months == 3 {
            "quarter"
        } else {
            "month"
        }
    }

    /// Cost per period as chart lines `(name, [(period, USD)])`: the total, what reservations
    /// cost and what on-demand capacity costs. One place for the CLI's report and the dashboard.
    pub fn cost_series(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        let line = |name: &str, f: fn(&Month) -> f64| {
            let points = self
                .by_month
                .iter()
                .map(|m| (f64::from(m.month), f(m)))
                .collect();
            (name.to_string(), points)
        };
        vec![
            line("total", |m| m.cost_usd),
            line("reserved", |m| m.reserved_usd),
            line("on-demand", |m| m.on_demand_usd),
        ]
    }

    /// Each vendor's share of what is spent over the whole horizon (fractions summing to 1).
    pub fn vendor_shares(&self) -> BTreeMap<String, f64> {
        let mut spend: BTreeMap<String, f64> = BTreeMap::new();
        for (v, usd) in self.by_month.iter().flat_map(|m| &m.spend_by_vendor) {
            *spend.entry(v.clone()).or_default() += usd;
        }
        let total: f64 = spend.values().sum();
        if total > 0.0 {
            spend.values_mut().for_each(|s| *s /= total);
        }
        spend
    }

    /// Each vendor's share of what is spent, period by period, in percent, as chart lines.
    pub fn vendor_share_series(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        let vendors: std::collections::BTreeSet<&String> = self
            .by_month
            .iter()
            .flat_map(|m| m.spend_by_vendor.keys())
            .collect();
        vendors
            .into_iter()
            .map(|v| {
                let points = self
                    .by_month
                    .iter()
                    .map(|m| {
                        let total: f64 = m.spend_by_vendor.values().sum();
                        let mine = m.spend_by_vendor.get(v).copied().unwrap_or(0.0);
                        let share = if total > 0.0 { mine / total } else { 0.0 };
                        (f64::from(m.month), 100.0 * share)
                    })
                    .collect();
                (v.clone(), points)
            })
            .collect()
    }

    /// The catalog as it stands in period `period` (1-based): an offering the roadmap has not
    /// brought yet (or has retired) has no capacity, a supply ramp sets the period's capacity,
    /// and prices are the period's (`prices:`). What an exported fleet's fallbacks are chosen
    /// from, so that none points at a chip that is not there yet. `None` when the period is
    /// not in the plan.
    pub fn period_catalog(
        &self,
        period: u32,
        portfolio: &Portfolio,
        catalog: &Catalog,
    ) -> Option<Catalog> {
        let t = period.checked_sub(1)?;
        if t as usize >= self.by_month.len() {
            return None;
        }
        let p = self.periods();
        let mut out = catalog.clone();
        for oi in 0..catalog.offerings().len() {
            out.scale_price(oi, price_factor(portfolio, catalog, oi, p, t));
            out.set_capacity(oi, capacity_in_period(portfolio, catalog, oi, p, t));
        }
        Some(out)
    }

    /// Period `period`'s fleet as exports take it: [`MonthlyPlan::period_plan`] with
    /// [`MonthlyPlan::period_catalog`] (the plan is priced against `catalog`, once).
    pub fn period_fleet(
        &self,
        period: u32,
        portfolio: &Portfolio,
        catalog: &Catalog,
    ) -> Option<(crate::Plan, Catalog)> {
        Some((
            self.period_plan(period, portfolio, catalog)?,
            self.period_catalog(period, portfolio, catalog)?,
        ))
    }

    /// Prices the instance-months reservations cover in `month` at their reservations' rate:
    /// the period's reserved instances go to its on-demand allocations on the same offering in
    /// order, as the bill nets them (on-demand pays only for what reservations do not cover),
    /// so the allocations' on-demand parts add up to the period's on-demand bill. `allocations`
    /// are `month.allocations`, in order, as single-period allocations.
    fn net_reservations(&self, month: &Month, allocations: &mut [crate::plan::Allocation]) {
        let m0 = month.first_month - 1;
        for (offering, &n) in &month.reserved_instances {
            // USD per reserved instance-month: the active reservations' average.
            let (usd, count) = self
                .reservations
                .iter()
                .filter(|r| {
                    let first = r.usable_from_month - 1;
                    &r.offering == offering && first <= m0 && m0 < first + 12 * r.term_years
                })
                .fold((0.0, 0u32), |(u, c), r| {
                    (u + r.usd_per_month, c + r.instances)
                });
            if count == 0 {
                continue;
            }
            let rate = usd / f64::from(count);
            let mut left = f64::from(n);
            for (held, a) in month.allocations.iter().zip(allocations.iter_mut()) {
                if held.spot || &held.offering != offering {
                    continue;
                }
                // Instance-months a month.
                let used = f64::from(held.instances) * held.busy_fraction;
                let covered = used.min(left);
                if covered <= 0.0 {
                    continue;
                }
                left -= covered;
                a.reserved_usd_per_month = covered * rate;
                a.usd_per_month =
                    a.usd_per_month * (1.0 - covered / used) + a.reserved_usd_per_month;
            }
        }
    }

    /// The plan's periods (no lead time: it is only needed to build the model).
    fn periods(&self) -> Periods {
        Periods {
            count: self.by_month.len() as u32,
            length: self.period_months.max(1),
            lead: 0,
        }
    }

    /// Period `period` (1-based) as a single-period [`Plan`], for the engines that run one
    /// fleet at a time (exports): its allocations with their layouts, each allocation's spend
    /// per month at that period's list price and commitment discount (reservations are not
    /// netted out per allocation), and the horizon's status and gap. `None` when the period is
    /// not in the plan.
    pub fn period_plan(
        &self,
        period: u32,
        portfolio: &Portfolio,
        catalog: &Catalog,
    ) -> Option<crate::Plan> {
        use crate::plan::{Allocation, ServiceSummary};
        let month = self.by_month.get(period.checked_sub(1)? as usize)?;
        let p = self.periods();
        let t = period - 1;
        let mut allocations = month
            .allocations
            .iter()
            .map(|a| period_allocation(a, portfolio, catalog, p, t))
            .collect::<Option<Vec<_>>>()?;
        self.net_reservations(month, &mut allocations);
        let services = portfolio
            .inference_services()
            .map(|(w, _)| {
                let mut by_vendor: BTreeMap<String, f64> = BTreeMap::new();
                for a in allocations.iter().filter(|a| a.workload == w.name) {
                    *by_vendor.entry(a.vendor.clone()).or_insert(0.0) +=
                        a.requests_per_s.unwrap_or(0.0);
                }
                ServiceSummary {
                    workload: w.name.clone(),
                    needed_requests_per_s: month
                        .demand_requests_per_s
                        .get(&w.name)
                        .copied()
                        .unwrap_or(0.0),
                    provisioned_requests_per_s: by_vendor.values().sum(),
                    requests_per_s_by_vendor: by_vendor,
                }
            })
            .collect();
        let per_month = 1.0 / f64::from(p.length);
        let total: f64 = month.spend_by_vendor.values().sum();
        let vendor_shares: BTreeMap<String, f64> = month
            .spend_by_vendor
            .iter()
            .map(|(v, u)| (v.clone(), if total > 0.0 { u / total } else { 0.0 }))
            .collect();
        let by = |key: fn(&Allocation) -> &str| {
            let mut out: BTreeMap<String, f64> = BTreeMap::new();
            for a in &allocations {
                *out.entry(key(a).to_owned()).or_insert(0.0) += a.usd_per_month;
            }
            out
        };
        let spend_by_provider = by(|a| a.provider.as_str());
        let spend_by_chip = by(|a| a.chip.as_str());
        Some(crate::Plan {
            portfolio: self.portfolio.clone(),
            status: self.status,
            objective_usd_per_month: month.cost_usd * per_month,
            bound_usd_per_month: month.cost_usd * per_month * (1.0 - self.gap),
            gap: self.gap,
            solve_seconds: self.solve_seconds,
            method: format!(
                "over time: {} {period} of {}",
                if p.length == 3 { "quarter" } else { "month" },
                p.count
            ),
            horizon_months: f64::from(p.length),
            hhi: vendor_shares.values().map(|s| s * s).sum(),
            vendor_shares,
            share_basis: ShareBasis::Spend,
            spend_usd_per_month: total * per_month,
            spend_by_vendor: month
                .spend_by_vendor
                .iter()
                .map(|(v, u)| (v.clone(), u * per_month))
                .collect(),
            spend_by_provider,
            spend_by_chip,
            services,
            allocations,
            contracts: Vec::new(),
            binding_constraints: Vec::new(),
            rule_costs: Vec::new(),
            baselines: Vec::new(),
            warnings: vec![format!(
                "period {period} of a plan over time: allocations priced at the period's list price less commitment discounts, the instance-months reservations cover at their reservations' rate (idle reservations are in the period's bill, not in an allocation); the period's bill is {} a month",
                crate::plan::usd(month.cost_usd * per_month)
            )],
            candidates: 0,
            variables: 0,
            constraints: 0,
        })
    }
}

/// One allocation of a plan over time as a single-period [`crate::Allocation`]: priced at period
/// `t`'s list price less its commitment discount. `None` when the allocation names an offering
/// or workload the catalog or portfolio lacks.
fn period_allocation(
    a: &MonthAllocation,
    portfolio: &Portfolio,
    catalog: &Catalog,
    p: Periods,
    t: u32,
) -> Option<crate::plan::Allocation> {
    use crate::plan::Allocation;
    let oi = catalog.offering_index(&a.offering)?;
    let o = &catalog.offerings()[oi];
    let list = if a.spot {
        o.spot_usd_per_hour
    } else {
        o.usd_per_hour
    }
    .unwrap_or(0.0)
        * price_factor(portfolio, catalog, oi, p, t);
    let discount = if a.spot {
        0.0
    } else {
        commitment_discount_over(portfolio, &o.provider, &o.chip, p.months(t))
    };
    let kind = match portfolio
        .workloads
        .iter()
        .find(|w| w.name == a.workload)?
        .kind
    {
        WorkloadKind::Inference(_) => crate::plan::WorkloadClass::Inference,
        WorkloadKind::Training(_) => crate::plan::WorkloadClass::Training,
    };
    Some(Allocation {
        workload: a.workload.clone(),
        kind,
        offering: a.offering.clone(),
        provider: o.provider.clone(),
        region: o.region.clone(),
        instance: o.instance_type.clone(),
        chip: a.chip.clone(),
        vendor: a.vendor.clone(),
        spot: a.spot,
        instances: a.instances,
        chips: a.chips,
        usd_per_month: list
            * (1.0 - discount)
            * f64::from(a.instances)
            * HOURS_PER_MONTH
            * a.busy_fraction,
        reserved_usd_per_month: 0.0,
        list_usd_per_hour: list,
        discount,
        commitment: (discount > 0.0).then(|| o.provider.clone()),
        replica_tp: a.replica_tp,
        replica_pp: a.replica_pp,
        replicas: a.replicas,
        requests_per_s: a.requests_per_s,
        batch: None,
        ttft_ms: None,
        tpot_ms: None,
        train_config: a.train_config,
        days: a.days,
        tokens_per_s: None,
        mfu: None,
        global_batch_tokens: a.global_batch_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// `examples/growth.yaml` planned period by period without the LP: a plan that meets every
    /// row of the whole model, buys reservations, and costs little more than the plan rounded
    /// from the LP.
    #[test]
    fn growth_planned_without_the_lp_meets_every_row_and_buys_reservations() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let text = std::fs::read_to_string(dir.join("growth.yaml")).unwrap();
        let base = Catalog::builtin().unwrap();
        let parsed = chipmix_workload::portfolio::parse("growth.yaml", &text, &dir, &base);
        let p = parsed.unwrap_or_else(|e| panic!("{e:#?}")).portfolio;
        let catalog = p.effective_catalog(&base).unwrap();
        let generated = candidates::generate(&p, &catalog, &Calibration::builtin());
        let horizon = p.horizon.as_ref().unwrap();
        let (m, kinds, cols) = build(&p, &catalog, &generated.candidates, horizon, true).unwrap();
        let options = SolveOptions {
            time_limit_s: 60.0,
            relative_gap: 0.01,
            relax: false,
        };
        let values = crate::by_period::without_lp(&m, &kinds, &cols.periods, &options, false)
            .expect("a plan without the LP");
        assert!(crate::by_period::satisfies(&m, &values));
        let cost = m.cost_of(&values);
        let reserved = m
            .columns
            .iter()
            .zip(&values)
            .filter(|(c, v)| c.name.starts_with("reserve[") && **v > 0.5)
            .count();
        assert!(reserved > 0, "no reservation bought; cost {cost:.0}");
        let with_lp = crate::by_period::solve(&m, &kinds, &cols.periods, &options, false)
            .expect("a plan from the LP");
        assert!(
            cost <= with_lp.objective * 1.05,
            "without the LP {cost:.0}, from the LP {:.0}",
            with_lp.objective
        );
        eprintln!(
            "without the LP {cost:.0}, from the LP {:.0}",
            with_lp.objective
        );
    }
}
