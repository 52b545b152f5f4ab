//! Supply risk and bargaining power, on top of the planner.
//!
//! Every analysis here re-plans a changed portfolio or catalog with [`chipmix_plan::plan`] or
//! evaluates a fixed plan under a shock; none has its own optimizer. [`leverage`] measures the
//! cost of walking away from each vendor and provider and how far their prices can rise before
//! work moves; [`stress`] applies [`scenario`]s to today's plan and to a re-made one;
//! [`montecarlo`] draws random shortages and outages (period by period over time); [`sweep`] traces the cost of a policy
//! knob ("the price of diversification").

pub mod leverage;
pub mod montecarlo;
pub mod scenario;
pub mod stress;
pub mod sweep;

use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::multiperiod::MonthlyPlan;
use chipmix_plan::{Plan, PlanError, PlanOptions};
use chipmix_workload::Portfolio;
use std::collections::BTreeMap;

/// What every analysis starts from: the portfolio, the catalog it plans on (overrides
/// applied), the calibration, and how hard to solve each re-plan.
pub struct Context<'a> {
    pub portfolio: &'a Portfolio,
    pub catalog: &'a Catalog,
    pub calibration: &'a Calibration,
    /// Used for every re-plan, with the plan's own analysis (baselines, rule costs) off.
    pub options: PlanOptions,
    /// Progress and cancellation of the analysis.
    pub watch: Watch<'a>,
}

impl Context<'_> {
    /// The plan of the unchanged portfolio.
    pub fn plan(&self) -> Result<Plan, PlanError> {
        self.plan_on(self.portfolio, self.catalog)
    }

    /// The plan of a changed portfolio or catalog. Once the analysis is cancelled (see
    /// [`Watch`]) every re-plan fails at once with [`PlanError::Cancelled`], so the analysis
    /// ends within the solve in flight.
    pub fn plan_on(&self, portfolio: &Portfolio, catalog: &Catalog) -> Result<Plan, PlanError> {
        self.watched(|options| chipmix_plan::plan(portfolio, catalog, self.calibration, options))
    }

    /// One re-plan under the watch: refused once cancelled, counted when done; solved with
    /// the context's options and the plan's own analysis off.
    fn watched<T>(
        &self,
        solve: impl FnOnce(&PlanOptions) -> Result<T, PlanError>,
    ) -> Result<T, PlanError> {
        if (self.watch.cancelled)() {
            return Err(PlanError::Cancelled);
        }
        let result = solve(&PlanOptions {
            analysis: false,
            ..self.options.clone()
        });
        (self.watch.replanned)();
        result
    }
}

/// What a command that plans one period says of a portfolio with a `horizon:` (`chipmix
/// simulate`): it works on the single-period version ([`chipmix_plan::plan`] plans one
/// steady-state month). Every analysis here works over time.
pub const SINGLE_PERIOD_NOTE: &str = "the portfolio has a `horizon:`; this command uses its single-period version (one steady-state month: today's demand, the catalog as it is, no reservations, roadmap, price changes or commitment terms) — simulation over time is not supported yet";

/// The plan an analysis starts from or re-plans, as the analyses compare it: of one period, or
/// over time (a portfolio with a `horizon:`), where every amount per month is the horizon's
/// total spread over its months.
#[derive(Clone, Debug)]
pub struct Planned {
    pub cost_usd_per_month: f64,
    pub gap: f64,
    pub spend_usd_per_month: f64,
    pub spend_by_vendor: BTreeMap<String, f64>,
    pub spend_by_provider: BTreeMap<String, f64>,
    /// Each period's fleet as a plan of that period (a plan of one period: itself).
    pub periods: Vec<Plan>,
    /// Over time: the catalog as it stands in each period (roadmap, supply ramp, prices);
    /// empty for a plan of one period.
    pub period_catalogs: Vec<Catalog>,
    /// Months a plan over time covers; `None` for a plan of one period.
    pub horizon_months: Option<u32>,
}

impl Planned {
    pub fn of_plan(plan: Plan) -> Planned {
        Planned {
            cost_usd_per_month: plan.objective_usd_per_month,
            gap: plan.gap,
            spend_usd_per_month: plan.spend_usd_per_month,
            spend_by_vendor: plan.spend_by_vendor.clone(),
            spend_by_provider: plan.spend_by_provider.clone(),
            periods: vec![plan],
            period_catalogs: Vec::new(),
            horizon_months: None,
        }
    }

    /// A plan over time, its spend averaged over the horizon's months (on-demand, spot and
    /// reservations, as each period's bill has them).
    pub fn of_months(plan: &MonthlyPlan, portfolio: &Portfolio, catalog: &Catalog) -> Planned {
        let months = f64::from(plan.months.max(1));
        let mut by_vendor: BTreeMap<String, f64> = BTreeMap::new();
        let mut by_provider: BTreeMap<String, f64> = BTreeMap::new();
        for m in &plan.by_month {
            for (v, usd) in &m.spend_by_vendor {
                *by_vendor.entry(v.clone()).or_default() += usd / months;
            }
            for (p, usd) in &m.spend_by_provider {
                *by_provider.entry(p.clone()).or_default() += usd / months;
            }
        }
        let (periods, period_catalogs) = (1..=plan.by_month.len() as u32)
            .filter_map(|t| plan.period_fleet(t, portfolio, catalog))
            .unzip();
        Planned {
            cost_usd_per_month: plan.objective_usd / months,
            gap: plan.gap,
            spend_usd_per_month: by_vendor.values().sum(),
            spend_by_vendor: by_vendor,
            spend_by_provider: by_provider,
            periods,
            period_catalogs,
            horizon_months: Some(plan.months),
        }
    }

    /// Every allocation of every period.
    pub fn allocations(&self) -> impl Iterator<Item = &chipmix_plan::Allocation> {
        self.periods.iter().flat_map(|p| &p.allocations)
    }
}

impl Context<'_> {
    /// The plan of a changed portfolio or catalog as the analyses compare it: over time when
    /// the portfolio has a `horizon:` ([`Context::plan_months_on`]), else of one period.
    pub fn planned_on(
        &self,
        portfolio: &Portfolio,
        catalog: &Catalog,
    ) -> Result<Planned, PlanError> {
        if portfolio.horizon.is_some() {
            let m = self.plan_months_on(portfolio, catalog)?;
            Ok(Planned::of_months(&m, portfolio, catalog))
        } else {
            self.plan_on(portfolio, catalog).map(Planned::of_plan)
        }
    }

    /// The plan over time (period by period) of a changed portfolio with a `horizon:` or
    /// catalog, watched as [`Context::plan_on`] is.
    pub fn plan_months_on(
        &self,
        portfolio: &Portfolio,
        catalog: &Catalog,
    ) -> Result<MonthlyPlan, PlanError> {
        self.watched(|options| {
            chipmix_plan::multiperiod::plan_months(portfolio, catalog, self.calibration, options)
        })
    }
}

/// Who watches a long analysis: `cancelled` is asked before every re-plan (a server's cancel
/// flag), `replanned` is called after each one (a progress bar). Both are called from many
/// threads at once.
#[derive(Clone, Copy)]
pub struct Watch<'a> {
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
    pub replanned: &'a (dyn Fn() + Sync),
}

fn never() -> bool {
    false
}

fn nothing() {}

impl Watch<'static> {
    /// Nobody watches: never cancelled, progress not reported.
    pub const NONE: Watch<'static> = Watch {
        cancelled: &never,
        replanned: &nothing,
    };
}

/// The portfolio with its diversity rules (vendor-share cap, per-service vendor rules,
/// resilience) and budget waived: what an emergency re-plan may fall back to when no plan
/// meets the policy.
pub fn waive_diversity_rules(portfolio: &Portfolio) -> Portfolio {
    let mut p = portfolio.clone();
    p.policy.max_vendor_share = None;
    p.policy.budget_usd_per_month = None;
    p.policy.resilience = None;
    for w in &mut p.workloads {
        if let chipmix_workload::WorkloadKind::Inference(s) = &mut w.kind {
            s.min_vendors = 1;
            s.max_vendor_fraction = 1.0;
        }
    }
    p
}

/// The `q`-quantile (0…1) of sorted values, by linear interpolation.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Conditional value at risk: the mean of the worst `1 − q` of sorted values (the upper tail).
pub fn cvar(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let tail = (((1.0 - q) * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    let worst = &sorted[sorted.len() - tail..];
    worst.iter().sum::<f64>() / worst.len() as f64
}
