//! The cost-minimal mix across vendors and clouds.
//!
//! [`plan`] turns a portfolio and a catalog into a [`Plan`]: [`candidates`] asks the
//! performance model which configurations of each workload on each offering meet its memory,
//! SLO, deadline and software needs; [`formulation`] writes one MILP over the whole portfolio
//! (demand, capacity, vendor-share caps, per-service vendor rules, budget, commitments,
//! credits, spot); [`lp`] hands it to HiGHS. The plan reports the proven gap, the binding
//! constraints with LP shadow prices, what each policy rule costs, and baselines. When no plan
//! exists, [`explain`] says which workload and which constraint block it.
//!
//! [`verify`] re-checks any plan against the portfolio and catalog; it shares no code with the
//! formulation.

mod by_period;
pub mod candidates;
mod decompose;
pub mod explain;
pub mod formulation;
pub mod lp;
pub mod multiperiod;
pub mod plan;
pub mod rules;
pub mod synthetic;
pub mod verify;

pub use plan::{Allocation, Plan, Status};

use candidates::{Candidate, CandidateKind};
use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_workload::{Contract, Portfolio, ShareBasis};
use formulation::{Formulation, Relaxations, RowKind};
use lp::{Outcome, SolveOptions};
use plan::{Baseline, Binding, ContractOutcome, RuleCost};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct PlanOptions {
    pub time_limit_s: f64,
    /// Stop when the proven gap is at most this (relative).
    pub relative_gap: f64,
    /// Also solve the baselines and re-solve without each binding rule (a few more solves).
    pub analysis: bool,
    pub method: SolveMethod,
}

/// The proven gap a plan is solved to when none is asked: 0.01% for one period, 1% for a plan
/// over time (a portfolio with a `horizon:`), whose many integer reservations make the last
/// percent slow (`docs/planning.md`). One place for the CLI, the server and the analyses.
pub fn default_gap(portfolio: &Portfolio) -> f64 {
    if portfolio.horizon.is_some() {
        0.01
    } else {
        1e-4
    }
}

impl PlanOptions {
    /// Whether the time limit and gap are within their limits (`chipmix_catalog::limits`);
    /// the complaint names the option.
    pub fn check(&self) -> Result<(), String> {
        use chipmix_catalog::limits;
        limits::TIME_LIMIT_S
            .check(self.time_limit_s)
            .map_err(|m| format!("the time limit {m}"))?;
        limits::GAP
            .check(self.relative_gap)
            .map_err(|m| format!("the gap {m}"))?;
        Ok(())
    }
}

/// How the MILP is solved. Both prove their gap against a bound valid for the whole MILP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SolveMethod {
    /// Decomposed from [`DECOMPOSE_FROM_WORKLOADS`] workloads on, direct below; a plan over
    /// time is found period by period first and then improved by branch-and-bound from it
    /// (its decomposition is not yet better: `docs/planning.md`).
    #[default]
    Auto,
    /// One branch-and-bound over the whole model (HiGHS), after an LP-rounding heuristic for
    /// a single period; over time, branch-and-bound alone.
    Direct,
    /// Column generation by workload (Dantzig–Wolfe) and a MILP over the patterns found;
    /// falls back to `Direct` when it reaches no plan.
    Decomposed,
}

impl SolveMethod {
    /// Whether a single-period portfolio of `workloads` is decomposed.
    pub fn decomposes(self, workloads: usize) -> bool {
        match self {
            SolveMethod::Auto => workloads >= DECOMPOSE_FROM_WORKLOADS,
            SolveMethod::Direct => false,
            SolveMethod::Decomposed => true,
        }
    }
}

/// Portfolios this large are decomposed by [`SolveMethod::Auto`]: below it one branch-and-bound
/// is fast and its LP duals give shadow prices for every row.
pub const DECOMPOSE_FROM_WORKLOADS: usize = 50;

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            time_limit_s: 60.0,
            relative_gap: 1e-4,
            analysis: true,
            method: SolveMethod::Auto,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PlanError {
    /// No plan satisfies the portfolio; each line names a workload or rule and what blocks it.
    Infeasible(Vec<String>),
    /// The solver stopped without finding any feasible plan.
    NoSolution(String),
    /// The solver could not be run on the model chipmix built: a bug, since every input
    /// number is range-checked where it enters.
    Solver(String),
    /// The analysis this plan was part of was cancelled before it ran.
    Cancelled,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::Infeasible(reasons) => write!(f, "infeasible: {}", reasons.join("; ")),
            PlanError::NoSolution(m) => write!(f, "no solution: {m}"),
            PlanError::Solver(m) => write!(f, "the solver could not be run: {m}"),
            PlanError::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl std::error::Error for PlanError {}

/// The error for a solve that found no plan: the solver could not be run, or ran out of time.
pub(crate) fn no_solution(solved: &lp::Solved, time_limit_s: f64) -> PlanError {
    match &solved.failure {
        Some(why) => PlanError::Solver(why.clone()),
        None => PlanError::NoSolution(format!(
            "HiGHS found no feasible plan within {time_limit_s} s; raise --time-limit"
        )),
    }
}

/// Plans `portfolio` on `catalog` (the portfolio's offering overrides already applied).
pub fn plan(
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    options: &PlanOptions,
) -> Result<Plan, PlanError> {
    let generated = candidates::generate(portfolio, catalog, calibration);
    let missing = explain::workloads_without_candidates(portfolio, catalog, &generated);
    if !missing.is_empty() {
        return Err(PlanError::Infeasible(missing));
    }
    let cands = &generated.candidates;
    let horizon = candidates::horizon_months(portfolio);
    let f = formulation::build(portfolio, catalog, cands, horizon, Relaxations::default());
    let solve_options = SolveOptions {
        time_limit_s: options.time_limit_s,
        relative_gap: options.relative_gap,
        relax: false,
    };
    let decompose = options.method.decomposes(portfolio.workloads.len());
    let (solved, method) = solve_milp(portfolio, catalog, cands, &f, &solve_options, decompose);
    match solved.outcome {
        Outcome::Optimal | Outcome::TimeLimit => {}
        Outcome::Infeasible => {
            return Err(PlanError::Infeasible(explain::elastic(
                portfolio,
                catalog,
                cands,
                &f,
                &solve_options,
            )));
        }
        Outcome::NoSolution => return Err(no_solution(&solved, options.time_limit_s)),
    }
    let mut plan = assemble(portfolio, catalog, calibration, cands, &f, &solved);
    plan.method = method;
    // A decomposed solve brings the duals of its master LP (a tighter relaxation than the
    // plain one, and no second solve of the whole model); they price the portfolio-wide rows.
    let duals = if solved.duals.len() == f.model.rows.len() {
        solved.duals.clone()
    } else {
        let relaxed = lp::solve(
            &f.model,
            &SolveOptions {
                relax: true,
                ..solve_options
            },
        );
        relaxed.duals
    };
    plan.binding_constraints = shadow_prices(portfolio, catalog, &f, &duals, &plan);
    if options.analysis {
        plan.rule_costs = rule_costs(
            portfolio,
            catalog,
            cands,
            horizon,
            &solve_options,
            decompose,
            &plan,
        );
        plan.baselines = baselines(
            portfolio,
            catalog,
            cands,
            horizon,
            &solve_options,
            decompose,
        );
    }
    Ok(plan)
}

/// Solves a formulation of the portfolio (the plan's, or one with rules relaxed) the chosen
/// way; the second value says how.
fn solve_milp(
    portfolio: &Portfolio,
    catalog: &Catalog,
    cands: &[Candidate],
    f: &Formulation,
    options: &SolveOptions,
    decompose: bool,
) -> (lp::Solved, String) {
    solve_model(&f.model, &f.row_kinds, options, decompose, None, |o| {
        solve_with_rounding(portfolio, catalog, cands, f, o)
    })
}

/// Solves any of chipmix's models (a single period's or one over time) decomposed or with
/// `solve_direct`; the second value says how. `incumbent` is the objective of a plan already
/// in hand: a decomposition whose bound comes within the gap of it stops there and returns no
/// plan (`Outcome::NoSolution`) with that bound.
pub(crate) fn solve_model(
    model: &lp::LinearModel,
    kinds: &[RowKind],
    options: &SolveOptions,
    decompose: bool,
    incumbent: Option<f64>,
    solve_direct: impl Fn(&SolveOptions) -> lp::Solved,
) -> (lp::Solved, String) {
    // Nothing the solver cannot take reaches it (the input limits should already see to it).
    if let Err(m) = model.check_numbers() {
        return (
            lp::Solved::failed(m, std::time::Instant::now()),
            "none".into(),
        );
    }
    if decompose {
        solve_decomposed(model, kinds, options, incumbent, solve_direct)
    } else {
        (solve_direct(options), "direct".to_string())
    }
}

/// The decomposition's plan. When it reaches none (an infeasible portfolio among them: the
/// direct path explains infeasibility), the direct solve runs with the time left; when its
/// plan is not within the requested gap, the direct solve gets a few times the
/// decomposition's time. The better plan is kept, with the better of the two bounds (both
/// valid).
fn solve_decomposed(
    model: &lp::LinearModel,
    kinds: &[RowKind],
    options: &SolveOptions,
    incumbent: Option<f64>,
    solve_direct: impl Fn(&SolveOptions) -> lp::Solved,
) -> (lp::Solved, String) {
    let start = std::time::Instant::now();
    let decomposed = decompose::solve(model, kinds, options, incumbent);
    if let Err(e) = &decomposed {
        decompose::log(|| format!("no plan: {e:?}"));
    }
    let described = |d: &decompose::Decomposed| {
        format!(
            "decomposed ({} column-generation rounds, {} patterns)",
            d.iterations, d.patterns
        )
    };
    match &decomposed {
        Ok(d) if d.solved.gap <= options.relative_gap => return (d.solved.clone(), described(d)),
        // The caller explains infeasibility with the whole model.
        Err(decompose::Failure::BlockInfeasible) => {
            return (
                lp::Solved {
                    outcome: Outcome::Infeasible,
                    objective: f64::NAN,
                    bound: f64::NAN,
                    gap: f64::NAN,
                    seconds: start.elapsed().as_secs_f64(),
                    values: Vec::new(),
                    duals: Vec::new(),
                    failure: None,
                },
                "decomposed (a workload has no solution on its own)".into(),
            );
        }
        Err(decompose::Failure::Beaten { bound }) => {
            let bound_only = lp::Solved {
                outcome: Outcome::NoSolution,
                objective: f64::NAN,
                bound: *bound,
                gap: f64::NAN,
                seconds: start.elapsed().as_secs_f64(),
                values: Vec::new(),
                duals: Vec::new(),
                failure: None,
            };
            return (bound_only, "decomposed (for its bound)".into());
        }
        _ => {}
    }
    let mut method = "direct (the decomposition reached no plan)".to_string();
    let spent = start.elapsed().as_secs_f64();
    let mut remaining = (options.time_limit_s - spent).max(0.05);
    if decomposed.is_ok() {
        // With a plan in hand the direct search is a second try, not the main one: on large
        // portfolios it rarely improves on the decomposition (its LP bound is far weaker), so
        // it gets five times the decomposition's time, at least 2 s. `--method direct` gives
        // it all.
        remaining = remaining.min((5.0 * spent).max(2.0));
    }
    let mut direct = solve_direct(&SolveOptions {
        time_limit_s: remaining,
        ..*options
    });
    if let Ok(d) = decomposed
        && matches!(
            direct.outcome,
            Outcome::Optimal | Outcome::TimeLimit | Outcome::NoSolution
        )
    {
        let bound = if direct.bound.is_finite() {
            direct.bound.max(d.solved.bound)
        } else {
            d.solved.bound
        };
        let take_decomposed =
            direct.outcome == Outcome::NoSolution || d.solved.objective < direct.objective;
        method = format!(
            "{}, then direct; the {} plan kept",
            described(&d),
            if take_decomposed {
                "decomposed"
            } else {
                "direct"
            }
        );
        let master_duals = d.solved.duals.clone();
        let mut best = if take_decomposed { d.solved } else { direct };
        // The master LP's duals price the rows whichever plan is kept.
        best.duals = master_duals;
        direct = best.with_bound(bound, options.relative_gap);
    }
    direct.seconds = start.elapsed().as_secs_f64();
    (direct, method)
}

/// The LP relaxation gives a bound; rounding its solution gives a plan. When the two are
/// within the requested gap the MILP is not needed; otherwise HiGHS searches, and the better of
/// its plan and the rounded one is kept, with the better of the two bounds.
///
/// The rounded plan is never handed to HiGHS as a MIP start: HiGHS then sometimes reported a
/// worse plan as optimal (found by the property test
/// `random_portfolios_verify_and_looser_caps_never_cost_more`; the seed is kept).
fn solve_with_rounding(
    portfolio: &Portfolio,
    catalog: &Catalog,
    cands: &[Candidate],
    f: &Formulation,
    options: &SolveOptions,
) -> lp::Solved {
    let start = std::time::Instant::now();
    let relaxed = lp::solve(
        &f.model,
        &SolveOptions {
            relax: true,
            ..*options
        },
    );
    if relaxed.outcome != Outcome::Optimal {
        // Infeasible or unsolved LP: the MILP reports it properly.
        return lp::solve(&f.model, options);
    }
    let heuristic = rounded_plan(portfolio, catalog, cands, f, &relaxed, options);
    if let Some(h) = &heuristic {
        let rounded = h
            .clone()
            .with_bound(relaxed.objective, options.relative_gap);
        if rounded.outcome == Outcome::Optimal {
            return lp::Solved {
                seconds: start.elapsed().as_secs_f64(),
                ..rounded
            };
        }
    }
    let remaining = (options.time_limit_s - start.elapsed().as_secs_f64()).max(0.01);
    let mut solved = lp::solve(
        &f.model,
        &SolveOptions {
            time_limit_s: remaining,
            ..*options
        },
    );
    if let Some(h) = heuristic {
        let bound = if solved.bound.is_finite() {
            solved.bound.max(relaxed.objective)
        } else {
            relaxed.objective
        };
        let better = match solved.outcome {
            Outcome::Optimal | Outcome::TimeLimit => h.objective < solved.objective - 1e-9,
            Outcome::NoSolution => true,
            Outcome::Infeasible => false,
        };
        if better {
            solved = h.with_bound(bound, options.relative_gap);
        }
    }
    solved.seconds = start.elapsed().as_secs_f64();
    solved
}

/// A feasible plan from the LP relaxation: each serving candidate's units rounded down and each
/// service topped up greedily with the candidate that buys its missing req/s cheapest (services
/// with vendor rules are built greedily from scratch: their cheapest vendors up to the counted
/// share, no vendor beyond its fraction); each training job on its most-used candidate. The
/// rest (vendor counts, contracts, any service the greedy could not place) is solved with
/// everything else fixed. `None` when that finds nothing.
fn rounded_plan(
    portfolio: &Portfolio,
    catalog: &Catalog,
    cands: &[Candidate],
    f: &Formulation,
    relaxed: &lp::Solved,
    options: &SolveOptions,
) -> Option<lp::Solved> {
    let mut by_workload: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, c) in cands.iter().enumerate() {
        by_workload.entry(c.workload).or_default().push(i);
    }
    let mut r = Rounding {
        cands,
        f,
        relaxed,
        fixed: f.model.clone(),
        // Instances still free per offering, shared by every workload's rounding.
        remaining: catalog
            .offerings()
            .iter()
            .map(|o| o.capacity_instances.map_or(f64::INFINITY, f64::from))
            .collect(),
    };
    // Training jobs first: they take the most instances at once.
    let mut order: Vec<usize> = by_workload.keys().copied().collect();
    order.sort_by_key(|&wi| {
        !matches!(
            portfolio.workloads[wi].kind,
            chipmix_workload::WorkloadKind::Training(_)
        )
    });
    for wi in order {
        let mine = &by_workload[&wi];
        match &portfolio.workloads[wi].kind {
            chipmix_workload::WorkloadKind::Training(_) => r.training(mine)?,
            chipmix_workload::WorkloadKind::Inference(svc) => {
                let demand = formulation::provisioned_demand(portfolio, wi);
                r.service(svc, demand, mine);
            }
        }
    }
    let mut fixed = r.fixed;
    let sub = SolveOptions {
        relax: false,
        time_limit_s: (options.time_limit_s * 0.1).max(0.05),
        relative_gap: options.relative_gap,
    };
    let done = lp::solve(&fixed, &sub);
    if matches!(done.outcome, Outcome::Optimal | Outcome::TimeLimit) {
        return Some(done);
    }
    // The rounding broke a portfolio-wide rule (the vendor-share cap): keep the rounded units
    // as a floor and let the solver add what the rule needs.
    for &col in &f.candidate_columns {
        fixed.columns[col].upper = f.model.columns[col].upper.max(fixed.columns[col].lower);
    }
    let done = lp::solve(&fixed, &sub);
    matches!(done.outcome, Outcome::Optimal | Outcome::TimeLimit).then_some(done)
}

/// [`rounded_plan`]'s state: the model with the rounded workloads fixed, and the instances
/// still free per offering.
struct Rounding<'a> {
    cands: &'a [Candidate],
    f: &'a Formulation,
    relaxed: &'a lp::Solved,
    fixed: lp::LinearModel,
    remaining: Vec<f64>,
}

impl Rounding<'_> {
    /// Candidate `i`'s units in the LP relaxation.
    fn value(&self, i: usize) -> f64 {
        self.relaxed.values[self.f.candidate_columns[i]]
    }

    fn rps(&self, i: usize) -> f64 {
        match self.cands[i].kind {
            CandidateKind::Serve { requests_per_s, .. } => requests_per_s,
            CandidateKind::Train { .. } => 0.0,
        }
    }

    fn instances(&self, i: usize) -> f64 {
        f64::from(self.cands[i].instances_per_unit)
    }

    fn fix(&mut self, i: usize, units: f64) {
        let col = self.f.candidate_columns[i];
        self.fixed.columns[col].lower = units;
        self.fixed.columns[col].upper = units;
    }

    /// A training job on its most-used candidate that still fits; `None` when none fits.
    fn training(&mut self, mine: &[usize]) -> Option<()> {
        let best = mine
            .iter()
            .copied()
            .filter(|&i| self.remaining[self.cands[i].offering] >= self.instances(i))
            .max_by(|&a, &b| self.value(a).total_cmp(&self.value(b)))?;
        self.remaining[self.cands[best].offering] -= self.instances(best);
        for &i in mine {
            self.fix(i, if i == best { 1.0 } else { 0.0 });
        }
        Some(())
    }

    /// A service's units: the relaxation's rounded down (from scratch with vendor rules), then
    /// topped up greedily — the cheapest vendors to their counted share first, then the
    /// cheapest req/s — with no vendor beyond its fraction. A service the greedy cannot place
    /// gives its instances back and is left to the sub-MIP.
    fn service(&mut self, svc: &chipmix_workload::InferenceService, demand: f64, mine: &[usize]) {
        let ruled = svc.min_vendors > 1 || svc.max_vendor_fraction < 1.0;
        // Each vendor may hold f of the demand (so at most f of any larger total).
        let vendor_cap = if svc.max_vendor_fraction < 1.0 {
            svc.max_vendor_fraction * demand
        } else {
            f64::INFINITY
        };
        let mut units: Vec<f64> = if ruled {
            vec![0.0; mine.len()]
        } else {
            mine.iter()
                .map(|&i| (self.value(i) + 1e-9).floor().max(0.0))
                .collect()
        };
        let mut by_vendor: BTreeMap<chipmix_catalog::Vendor, f64> = BTreeMap::new();
        for (k, &i) in mine.iter().enumerate() {
            let offering = self.cands[i].offering;
            let take = units[k].min((self.remaining[offering] / self.instances(i)).floor());
            units[k] = take.max(0.0);
            self.remaining[offering] -= units[k] * self.instances(i);
            *by_vendor.entry(self.cands[i].vendor).or_insert(0.0) += units[k] * self.rps(i);
        }
        let mut ok = true;
        if svc.min_vendors > 1 {
            // The cheapest vendors first, each up to its counted share.
            let floor = formulation::counted_vendor_share(svc.min_vendors) * demand;
            let mut vendors: Vec<(f64, chipmix_catalog::Vendor)> = Vec::new();
            for &i in mine {
                let per = self.f.unit_spend[i] / self.rps(i).min(floor);
                match vendors.iter_mut().find(|(_, v)| *v == self.cands[i].vendor) {
                    Some(e) => e.0 = e.0.min(per),
                    None => vendors.push((per, self.cands[i].vendor)),
                }
            }
            vendors.sort_by(|a, b| a.0.total_cmp(&b.0));
            for &(_, v) in vendors.iter().take(svc.min_vendors as usize) {
                while ok && by_vendor.get(&v).copied().unwrap_or(0.0) < floor - 1e-9 {
                    let need = floor - by_vendor.get(&v).copied().unwrap_or(0.0);
                    ok = self.add(mine, need, Some(v), vendor_cap, &mut units, &mut by_vendor);
                }
            }
        }
        while ok {
            let need = demand - by_vendor.values().sum::<f64>();
            if need <= 1e-9 {
                break;
            }
            ok = self.add(mine, need, None, vendor_cap, &mut units, &mut by_vendor);
        }
        if !ok {
            // Give its instances back and leave this service to the sub-MIP.
            for (k, &i) in mine.iter().enumerate() {
                self.remaining[self.cands[i].offering] += units[k] * self.instances(i);
            }
            return;
        }
        for (k, &i) in mine.iter().enumerate() {
            self.fix(i, units[k]);
        }
    }

    /// Adds the unit that buys `need` req/s cheapest (of vendor `only`, if given) within the
    /// vendor cap, supply and the column's bound; false when there is none.
    fn add(
        &mut self,
        mine: &[usize],
        need: f64,
        only: Option<chipmix_catalog::Vendor>,
        vendor_cap: f64,
        units: &mut [f64],
        by_vendor: &mut BTreeMap<chipmix_catalog::Vendor, f64>,
    ) -> bool {
        let pick = mine
            .iter()
            .copied()
            .enumerate()
            .filter(|&(k, i)| {
                let v = self.cands[i].vendor;
                only.is_none_or(|o| o == v)
                    && self.remaining[self.cands[i].offering] >= self.instances(i)
                    && units[k] + 1.0 <= self.fixed.columns[self.f.candidate_columns[i]].upper
                    && by_vendor.get(&v).copied().unwrap_or(0.0) + self.rps(i) <= vendor_cap + 1e-9
            })
            .min_by(|&(_, a), &(_, b)| {
                let per = |i: usize| self.f.unit_spend[i] / self.rps(i).min(need);
                per(a).total_cmp(&per(b))
            });
        let Some((k, i)) = pick else {
            return false;
        };
        units[k] += 1.0;
        self.remaining[self.cands[i].offering] -= self.instances(i);
        *by_vendor.entry(self.cands[i].vendor).or_insert(0.0) += self.rps(i);
        true
    }
}

fn round_units(v: f64) -> u32 {
    v.round().max(0.0) as u32
}

fn assemble(
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    cands: &[Candidate],
    f: &Formulation,
    solved: &lp::Solved,
) -> Plan {
    let mut warnings = Vec::new();
    let allocations: Vec<Allocation> = cands
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let units = round_units(solved.values[f.candidate_columns[i]]);
            (units > 0).then(|| {
                allocation(
                    portfolio,
                    catalog,
                    calibration,
                    f,
                    i,
                    c,
                    units,
                    &mut warnings,
                )
            })
        })
        .collect();
    let services = service_summaries(portfolio, &allocations, &mut warnings);
    warnings.sort();
    warnings.dedup();

    let spend: f64 = allocations.iter().map(|a| a.usd_per_month).sum();
    let mut by_vendor = BTreeMap::new();
    let mut by_provider = BTreeMap::new();
    let mut by_chip = BTreeMap::new();
    for a in &allocations {
        *by_vendor.entry(a.vendor.clone()).or_insert(0.0) += a.usd_per_month;
        *by_provider.entry(a.provider.clone()).or_insert(0.0) += a.usd_per_month;
        *by_chip.entry(a.chip.clone()).or_insert(0.0) += a.usd_per_month;
    }
    let vendor_shares = vendor_shares(portfolio, catalog, f, &allocations);
    let hhi = vendor_shares.values().map(|s| s * s).sum();
    let contracts = contract_outcomes(portfolio, f, &allocations);
    let status = match solved.outcome {
        Outcome::Optimal => Status::Optimal,
        _ => Status::TimeLimit,
    };
    // The reported cost leaves out the solver's tie-breaking term.
    let objective = spend
        + contracts
            .iter()
            .map(|c: &ContractOutcome| c.shortfall_usd_per_month - c.credits_used_usd_per_month)
            .sum::<f64>();
    let bound = (solved.bound - (solved.objective - objective)).min(objective);
    let gap = lp::relative_gap(objective, bound);
    if status == Status::TimeLimit {
        warnings.push(format!(
            "the time limit stopped the solver; the plan may be up to {:.2}% above optimal",
            gap * 100.0
        ));
    }
    Plan {
        portfolio: portfolio.name.clone(),
        status,
        objective_usd_per_month: objective,
        bound_usd_per_month: bound,
        gap,
        solve_seconds: solved.seconds,
        method: "direct".into(),
        horizon_months: f.horizon_months,
        allocations,
        services,
        spend_usd_per_month: spend,
        spend_by_vendor: by_vendor,
        spend_by_provider: by_provider,
        spend_by_chip: by_chip,
        vendor_shares,
        share_basis: portfolio.policy.share_basis,
        hhi,
        contracts,
        binding_constraints: Vec::new(),
        rule_costs: Vec::new(),
        baselines: Vec::new(),
        warnings,
        candidates: cands.len(),
        variables: f.model.columns.len(),
        constraints: f.model.rows.len(),
    }
}

/// Candidate `i` (`c`) held at `units` units as an allocation, with the warnings its estimate
/// and price carry (uncalibrated efficiencies, unverified prices, spot, a changed batch).
#[allow(clippy::too_many_arguments)]
fn allocation(
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    f: &Formulation,
    i: usize,
    c: &Candidate,
    units: u32,
    warnings: &mut Vec<String>,
) -> Allocation {
    let offerings = catalog.offerings();
    let o = &offerings[c.offering];
    let w = &portfolio.workloads[c.workload];
    let discount = match f.discount_contract[i].map(|k| &portfolio.contracts[k]) {
        Some(Contract::Commitment { discount, .. }) => *discount,
        _ => 0.0,
    };
    let mut a = Allocation {
        workload: w.name.clone(),
        kind: match c.kind {
            CandidateKind::Serve { .. } => plan::WorkloadClass::Inference,
            CandidateKind::Train { .. } => plan::WorkloadClass::Training,
        },
        offering: o.id(),
        provider: o.provider.clone(),
        region: o.region.clone(),
        instance: o.instance_type.clone(),
        chip: o.chip.clone(),
        vendor: c.vendor.to_string(),
        spot: c.spot,
        instances: units * c.instances_per_unit,
        chips: units * c.chips_per_unit,
        usd_per_month: f.unit_spend[i] * f64::from(units),
        reserved_usd_per_month: 0.0,
        list_usd_per_hour: c.usd_per_unit_hour / f64::from(c.instances_per_unit),
        discount,
        commitment: f.discount_contract[i]
            .map(|k| format!("commitment[{}]", portfolio.contracts[k].provider())),
        replica_tp: None,
        replica_pp: None,
        replicas: None,
        requests_per_s: None,
        batch: None,
        ttft_ms: None,
        tpot_ms: None,
        train_config: None,
        days: None,
        tokens_per_s: None,
        mfu: None,
        global_batch_tokens: None,
    };
    let params = calibration.params_for(catalog, &o.chip);
    match &c.kind {
        CandidateKind::Serve {
            replica,
            replicas_per_unit,
            requests_per_s,
            batch,
            ttft_ms,
            tpot_ms,
        } => {
            a.replica_tp = Some(replica.tp);
            a.replica_pp = Some(replica.pp);
            a.replicas = Some(units * replicas_per_unit);
            a.requests_per_s = Some(requests_per_s * f64::from(units));
            a.batch = Some(*batch);
            a.ttft_ms = Some(*ttft_ms);
            a.tpot_ms = Some(*tpot_ms);
            if !params.calibrated_inference {
                warnings.push(format!(
                    "{} on {}: inference throughput uses {} efficiencies ({})",
                    w.name,
                    o.chip,
                    if params.source.starts_with("borrowed") {
                        "borrowed"
                    } else {
                        "default"
                    },
                    params.source
                ));
            }
        }
        CandidateKind::Train {
            config,
            days,
            tokens_per_s,
            mfu,
            global_batch_tokens,
        } => {
            a.train_config = Some(*config);
            a.days = Some(*days);
            a.tokens_per_s = Some(*tokens_per_s);
            a.mfu = Some(*mfu);
            a.global_batch_tokens = Some(*global_batch_tokens);
            if let chipmix_workload::WorkloadKind::Training(job) = &w.kind
                && let Some(asked) = job.global_batch_tokens
                && (global_batch_tokens - asked).abs() > 1e-3 * asked
            {
                warnings.push(format!(
                    "{}: the global batch of {asked:.0} tokens runs as {global_batch_tokens:.0} ({:.0} sequences of {} tokens, a whole number per data-parallel rank)",
                    w.name,
                    global_batch_tokens / f64::from(job.seq_len),
                    job.seq_len
                ));
            }
            if !params.calibrated_training {
                warnings.push(format!(
                    "{} on {}: training throughput uses uncalibrated efficiencies ({})",
                    w.name, o.chip, params.source
                ));
            }
        }
    }
    warnings.extend(price_warnings(portfolio, &w.name, o, c.spot));
    a
}

/// What an allocation's price rests on: a price not verified against its source, and spot
/// capacity counted at an assumed availability.
fn price_warnings(
    portfolio: &Portfolio,
    workload: &str,
    o: &chipmix_catalog::Offering,
    spot: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    if o.price_confidence != chipmix_catalog::PriceConfidence::Verified {
        out.push(format!(
            "{workload}: price of {} is {}",
            o.id(),
            o.price_confidence.as_str()
        ));
    }
    if spot {
        out.push(format!(
            "{workload}: spot capacity counted at policy.spot_availability = {} (an assumption unless you set it)",
            portfolio.policy.spot_availability
        ));
    }
    out
}

/// Per service: what it needs and what the plan provisions, by vendor (a warning when the plan
/// buys well beyond demand).
fn service_summaries(
    portfolio: &Portfolio,
    allocations: &[Allocation],
    warnings: &mut Vec<String>,
) -> Vec<plan::ServiceSummary> {
    let mut services = Vec::new();
    for (wi, w) in portfolio.workloads.iter().enumerate() {
        if !matches!(w.kind, chipmix_workload::WorkloadKind::Inference(_)) {
            continue;
        }
        let mut by_vendor: BTreeMap<String, f64> = BTreeMap::new();
        for a in allocations.iter().filter(|a| a.workload == w.name) {
            *by_vendor.entry(a.vendor.clone()).or_insert(0.0) += a.requests_per_s.unwrap_or(0.0);
        }
        let needed = formulation::provisioned_demand(portfolio, wi);
        let provisioned: f64 = by_vendor.values().sum();
        if provisioned > 1.25 * needed {
            warnings.push(format!(
                "{}: {:.0} req/s provisioned for {:.0} needed (+{:.0}%): the plan buys capacity beyond demand to meet the vendor-share cap on spend or to use committed spend (see \"A spend cap buys capacity\" in docs/planning.md)",
                w.name,
                provisioned,
                needed,
                (provisioned / needed - 1.0) * 100.0
            ));
        }
        services.push(plan::ServiceSummary {
            workload: w.name.clone(),
            needed_requests_per_s: needed,
            provisioned_requests_per_s: provisioned,
            requests_per_s_by_vendor: by_vendor,
        });
    }
    services
}

/// Each vendor's share on the policy's basis; on the spend basis a commitment's shortfall is
/// spend with its provider (see `formulation::commitment_vendor`).
fn vendor_shares(
    portfolio: &Portfolio,
    catalog: &Catalog,
    f: &Formulation,
    allocations: &[Allocation],
) -> BTreeMap<String, f64> {
    let basis = portfolio.policy.share_basis;
    let mut measure: BTreeMap<String, f64> = BTreeMap::new();
    for a in allocations {
        let time_share = a.days.map_or(1.0, |d| {
            (d / (f.horizon_months * candidates::DAYS_PER_MONTH)).min(1.0)
        });
        let chip = catalog.chip(&a.chip).expect("catalog invariant");
        let m = match basis {
            ShareBasis::Spend => a.usd_per_month,
            ShareBasis::Chips => f64::from(a.chips) * time_share,
            ShareBasis::Compute => f64::from(a.chips) * chip.bf16_tflops / 1000.0 * time_share,
        };
        *measure.entry(a.vendor.clone()).or_insert(0.0) += m;
    }
    let mut unattributed = 0.0;
    if basis == ShareBasis::Spend {
        for (ki, k) in portfolio.contracts.iter().enumerate() {
            if let (Contract::Commitment { .. }, Some(_)) = (k, f.contract_columns[ki]) {
                let shortfall = settled(portfolio, k, allocations, f.horizon_months);
                match formulation::commitment_vendor(catalog, k) {
                    Some(v) => *measure.entry(v.to_string()).or_insert(0.0) += shortfall,
                    None => unattributed += shortfall,
                }
            }
        }
    }
    let total: f64 = measure.values().sum::<f64>() + unattributed;
    measure
        .into_iter()
        .map(|(v, m)| (v, if total > 0.0 { m / total } else { 0.0 }))
        .collect()
}

/// How each contract fares, from the plan itself, not the solver's continuous columns: an
/// incumbent stopped at a gap may carry them loose (credits unused that could have been).
fn contract_outcomes(
    portfolio: &Portfolio,
    f: &Formulation,
    allocations: &[Allocation],
) -> Vec<ContractOutcome> {
    portfolio
        .contracts
        .iter()
        .enumerate()
        .map(|(ki, k)| {
            let col = match f.contract_columns[ki] {
                Some(_) => settled(portfolio, k, allocations, f.horizon_months),
                None => 0.0,
            };
            match k {
                Contract::Commitment {
                    provider,
                    usd_per_month,
                    ..
                } => {
                    let covered: f64 = allocations
                        .iter()
                        .filter(|a| k.covers(&a.provider, &a.chip))
                        .map(|a| a.usd_per_month)
                        .sum();
                    ContractOutcome {
                        kind: plan::ContractKind::Commitment,
                        provider: provider.clone(),
                        amount_usd: *usd_per_month,
                        spend_usd_per_month: covered,
                        shortfall_usd_per_month: col.max(0.0),
                        credits_used_usd_per_month: 0.0,
                    }
                }
                Contract::Credits { provider, usd, .. } => ContractOutcome {
                    kind: plan::ContractKind::Credits,
                    provider: provider.clone(),
                    amount_usd: *usd,
                    spend_usd_per_month: allocations
                        .iter()
                        .filter(|a| a.provider.eq_ignore_ascii_case(provider))
                        .map(|a| a.usd_per_month)
                        .sum(),
                    shortfall_usd_per_month: 0.0,
                    credits_used_usd_per_month: col.max(0.0),
                },
            }
        })
        .collect()
}

/// Shadow prices from an LP relaxation's `duals` (`NaN` for rows it does not price): the
/// rows that bind, and what one more unit of each would be worth.
/// What a binding credits row means, in the plan's own numbers: the credits cover all spend on
/// the provider, and either some of each month's allowance is left or the plan uses exactly
/// all of it (the degenerate case, where the row and the allowance bind together).
fn credits_meaning(
    portfolio: &Portfolio,
    f: &Formulation,
    plan: &Plan,
    contract: usize,
    dual: f64,
) -> String {
    let provider = portfolio.contracts[contract].provider();
    let allowance =
        f.contract_columns[contract].map_or(f64::INFINITY, |c| f.model.columns[c].upper);
    let used = plan
        .contracts
        .iter()
        .find(|c| c.kind == plan::ContractKind::Credits && c.provider == provider)
        .map_or(0.0, |c| c.credits_used_usd_per_month);
    if used >= allowance * (1.0 - 1e-6) {
        format!(
            "the credits on {provider} cover all spend there and it uses each month's allowance exactly ({}): a dollar of spend moved there is worth ${dual:.3} at the margin",
            plan::usd(allowance)
        )
    } else {
        format!(
            "the credits on {provider} cover all spend there, {} of each month's {} unused: a dollar of spend moved there is worth ${dual:.3} at the margin",
            plan::usd(allowance - used),
            plan::usd(allowance)
        )
    }
}

fn shadow_prices(
    portfolio: &Portfolio,
    catalog: &Catalog,
    f: &Formulation,
    duals: &[f64],
    plan: &Plan,
) -> Vec<Binding> {
    if duals.len() != f.model.rows.len() {
        return Vec::new();
    }
    let offerings = catalog.offerings();
    let total_measure = match portfolio.policy.share_basis {
        ShareBasis::Spend => plan.spend_usd_per_month,
        _ => 0.0,
    };
    let mut out: Vec<(f64, Binding)> = Vec::new();
    for (r, kind) in f.row_kinds.iter().enumerate() {
        let dual = duals[r];
        // Assignment rows and vendor-count indicators are structure, not rules to loosen.
        if dual.is_nan()
            || dual.abs() < 1e-7
            || matches!(
                kind,
                RowKind::TrainOnce { .. }
                    | RowKind::ServiceVendorCounts { .. }
                    | RowKind::PlacementShare { .. }
                    | RowKind::CommitmentLink { .. }
                    | RowKind::OnDemand { .. }
                    | RowKind::Migration { .. }
                    | RowKind::Churn { .. }
            )
        {
            continue;
        }
        let name = f.model.rows[r].name.clone();
        let (weight, meaning) = match kind {
            RowKind::Demand { workload } => (
                dual.abs(),
                format!(
                    "each extra req/s of {} costs ${:.0}/month",
                    portfolio.workloads[*workload].name,
                    dual.abs()
                ),
            ),
            RowKind::Capacity { offering } => (
                dual.abs(),
                format!(
                    "one more instance of {} would save ${:.0}/month",
                    offerings[*offering].id(),
                    dual.abs()
                ),
            ),
            RowKind::VendorShare { vendor } => {
                let per_point = if total_measure > 0.0 {
                    dual.abs() * 0.01 * total_measure
                } else {
                    dual.abs()
                };
                (
                    per_point,
                    if total_measure > 0.0 {
                        format!(
                            "loosening the {:.0}% cap on {vendor} by one point would save ${per_point:.0}/month",
                            portfolio.policy.max_vendor_share.unwrap_or(1.0) * 100.0
                        )
                    } else {
                        format!("the cap on {vendor} binds (shadow price {:.3})", dual.abs())
                    },
                )
            }
            RowKind::ServiceVendorFraction { workload, vendor } => (
                dual.abs(),
                format!(
                    "{}: the per-vendor fraction binds for {vendor} (${:.0}/month per req/s moved)",
                    portfolio.workloads[*workload].name,
                    dual.abs()
                ),
            ),
            RowKind::ServiceMinVendors { workload } => (
                dual.abs(),
                format!(
                    "{}: requiring {} vendors costs ${:.0}/month per vendor (LP relaxation)",
                    portfolio.workloads[*workload].name,
                    match &portfolio.workloads[*workload].kind {
                        chipmix_workload::WorkloadKind::Inference(s) => s.min_vendors,
                        _ => 0,
                    },
                    dual.abs()
                ),
            ),
            RowKind::Resilience { workload, failed } => (
                dual.abs(),
                format!(
                    "{}: surviving the loss of {failed} costs ${:.0}/month per req/s kept",
                    portfolio.workloads[*workload].name,
                    dual.abs()
                ),
            ),
            RowKind::Budget => (
                dual.abs(),
                format!("each extra budget dollar would save ${:.3}", dual.abs()),
            ),
            RowKind::TrainOnce { .. }
            | RowKind::ServiceVendorCounts { .. }
            | RowKind::PlacementShare { .. }
            | RowKind::CommitmentLink { .. }
            | RowKind::OnDemand { .. }
            | RowKind::Migration { .. }
            | RowKind::Churn { .. } => {
                continue;
            }
            RowKind::Commitment { contract } => (
                dual.abs(),
                format!(
                    "each committed dollar on {} is worth ${:.3} of spend at the margin",
                    portfolio.contracts[*contract].provider(),
                    dual.abs()
                ),
            ),
            RowKind::Credits { contract } => (
                dual.abs(),
                credits_meaning(portfolio, f, plan, *contract, dual.abs()),
            ),
        };
        out.push((
            weight,
            Binding {
                constraint: name,
                shadow_price: dual,
                meaning,
            },
        ));
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out.into_iter().map(|(_, b)| b).collect()
}

/// What each binding policy rule costs, by re-solving without it.
fn rule_costs(
    portfolio: &Portfolio,
    catalog: &Catalog,
    cands: &[Candidate],
    horizon: f64,
    options: &SolveOptions,
    decompose: bool,
    plan: &Plan,
) -> Vec<RuleCost> {
    let mut out = Vec::new();
    for (rule, name) in plan::PricedRule::set_by(portfolio) {
        let relax = match rule {
            plan::PricedRule::VendorShare => Relaxations {
                no_vendor_share: true,
                ..Default::default()
            },
            plan::PricedRule::ServiceVendorRules => Relaxations {
                no_service_vendor_rules: true,
                ..Default::default()
            },
            plan::PricedRule::Resilience => Relaxations {
                no_resilience: true,
                ..Default::default()
            },
            plan::PricedRule::PlacementShare => Relaxations {
                no_placement_share: true,
                ..Default::default()
            },
            plan::PricedRule::Budget => Relaxations {
                no_budget: true,
                ..Default::default()
            },
        };
        let f = formulation::build(portfolio, catalog, cands, horizon, relax);
        let (s, _) = solve_milp(portfolio, catalog, cands, &f, options, decompose);
        if matches!(s.outcome, Outcome::Optimal | Outcome::TimeLimit) {
            out.push(RuleCost {
                rule: name,
                usd_per_month: plan::rule_cost(
                    (plan.objective_usd_per_month, plan.gap),
                    (s.objective, s.gap),
                    options.relative_gap,
                ),
            });
        }
    }
    out
}

/// What contract `k` settles per month under `allocations`: a commitment's shortfall,
/// `max(0, amount − covered spend)`, or the credits used — the grant's monthly share, up to the
/// provider's spend in the months the grant is valid (as `formulation::build` states both).
fn settled(portfolio: &Portfolio, k: &Contract, allocations: &[Allocation], horizon: f64) -> f64 {
    match k {
        Contract::Commitment { usd_per_month, .. } => {
            let covered: f64 = allocations
                .iter()
                .filter(|a| k.covers(&a.provider, &a.chip))
                .map(|a| a.usd_per_month)
                .sum();
            (usd_per_month - covered).max(0.0)
        }
        Contract::Credits { provider, usd, .. } => {
            let valid = formulation::credit_months(portfolio, k, horizon);
            let per_month = if valid > 0.0 {
                usd / valid.max(horizon)
            } else {
                0.0
            };
            let on_provider: f64 = allocations
                .iter()
                .filter(|a| a.provider.eq_ignore_ascii_case(provider))
                .map(|a| a.usd_per_month)
                .sum();
            per_month.min(on_provider * valid.min(horizon) / horizon)
        }
    }
}

/// Baselines a user compares the plan against.
fn baselines(
    portfolio: &Portfolio,
    catalog: &Catalog,
    cands: &[Candidate],
    horizon: f64,
    options: &SolveOptions,
    decompose: bool,
) -> Vec<Baseline> {
    vec![
        single_vendor_baseline(portfolio, catalog, cands, horizon, options, decompose),
        greedy_baseline(portfolio, catalog, cands, horizon, options),
    ]
}

/// Everything on the single cheapest vendor, caps and vendor rules ignored.
fn single_vendor_baseline(
    portfolio: &Portfolio,
    catalog: &Catalog,
    cands: &[Candidate],
    horizon: f64,
    options: &SolveOptions,
    decompose: bool,
) -> Baseline {
    let vendors: std::collections::BTreeSet<_> = cands.iter().map(|c| c.vendor).collect();
    let mut best: Option<(f64, chipmix_catalog::Vendor)> = None;
    for v in vendors {
        let relax = Relaxations {
            no_vendor_share: true,
            no_service_vendor_rules: true,
            no_budget: true,
            no_resilience: true,
            no_placement_share: true,
            only_vendor: Some(v),
        };
        let fv = formulation::build(portfolio, catalog, cands, horizon, relax);
        let (s, _) = solve_milp(portfolio, catalog, cands, &fv, options, decompose);
        if matches!(s.outcome, Outcome::Optimal | Outcome::TimeLimit)
            && best.is_none_or(|(c, _)| s.objective < c)
        {
            best = Some((s.objective, v));
        }
    }
    match best {
        Some((cost, v)) => Baseline {
            name: "single cheapest vendor".into(),
            usd_per_month: Some(cost),
            note: format!(
                "everything on {v}; vendor caps, per-service vendor rules and budget ignored"
            ),
        },
        None => Baseline {
            name: "single cheapest vendor".into(),
            usd_per_month: None,
            note: "no single vendor can run every workload".into(),
        },
    }
}

/// Greedy: each workload, in file order, buys its cheapest candidate at list price, as a
/// broker that sees one task at a time does; capacity is consumed as it goes. The bill then
/// applies the contracts as the provider would.
fn greedy_baseline(
    portfolio: &Portfolio,
    catalog: &Catalog,
    cands: &[Candidate],
    horizon: f64,
    options: &SolveOptions,
) -> Baseline {
    let offerings = catalog.offerings();
    let mut remaining: Vec<Option<u32>> = offerings.iter().map(|o| o.capacity_instances).collect();
    let mut units = vec![0.0; cands.len()];
    let mut unserved = Vec::new();
    for (wi, w) in portfolio.workloads.iter().enumerate() {
        let mut mine: Vec<usize> = (0..cands.len())
            .filter(|&i| cands[i].workload == wi)
            .collect();
        // A broker prices each option for this workload alone: the list cost of covering the
        // whole demand with that one offering (whole instances), or of the training run.
        let demand = formulation::provisioned_demand(portfolio, wi);
        let list_cost = |i: usize| -> f64 {
            let c = &cands[i];
            let per = c.usd_per_unit_hour * c.billed_hours_per_month(horizon);
            match &c.kind {
                CandidateKind::Serve { requests_per_s, .. } => {
                    per * (demand / requests_per_s).ceil()
                }
                CandidateKind::Train { .. } => per,
            }
        };
        mine.sort_by(|&a, &b| list_cost(a).total_cmp(&list_cost(b)));
        match &w.kind {
            chipmix_workload::WorkloadKind::Inference(_) => {
                let mut need = formulation::provisioned_demand(portfolio, wi);
                for &i in &mine {
                    if need <= 1e-9 {
                        break;
                    }
                    let CandidateKind::Serve { requests_per_s, .. } = cands[i].kind else {
                        continue;
                    };
                    let per_unit = cands[i].instances_per_unit;
                    let avail = remaining[cands[i].offering].map_or(u32::MAX, |r| r / per_unit);
                    let take = ((need / requests_per_s).ceil() as u32).min(avail);
                    if take == 0 {
                        continue;
                    }
                    units[i] += f64::from(take);
                    need -= f64::from(take) * requests_per_s;
                    if let Some(r) = &mut remaining[cands[i].offering] {
                        *r -= take * per_unit;
                    }
                }
                if need > 1e-9 {
                    unserved.push(w.name.clone());
                }
            }
            chipmix_workload::WorkloadKind::Training(_) => {
                let pick = mine.iter().copied().find(|&i| {
                    remaining[cands[i].offering].is_none_or(|r| r >= cands[i].instances_per_unit)
                });
                match pick {
                    Some(i) => {
                        units[i] = 1.0;
                        if let Some(r) = &mut remaining[cands[i].offering] {
                            *r -= cands[i].instances_per_unit;
                        }
                    }
                    None => unserved.push(w.name.clone()),
                }
            }
        }
    }
    if !unserved.is_empty() {
        return Baseline {
            name: "greedy per-workload cheapest".into(),
            usd_per_month: None,
            note: format!("capacity ran out for {}", unserved.join(", ")),
        };
    }
    // Bill the greedy choice: fix the units, let the LP settle shortfalls and credits, with the
    // policy rules off (a broker does not enforce them).
    let mut fixed = formulation::build(
        portfolio,
        catalog,
        cands,
        horizon,
        Relaxations {
            no_vendor_share: true,
            no_service_vendor_rules: true,
            no_budget: true,
            no_resilience: true,
            no_placement_share: true,
            only_vendor: None,
        },
    );
    for (i, &col) in fixed.candidate_columns.clone().iter().enumerate() {
        let c = &mut fixed.model.columns[col];
        c.lower = units[i];
        c.upper = units[i];
    }
    let s = lp::solve(
        &fixed.model,
        &SolveOptions {
            relax: true,
            ..*options
        },
    );
    Baseline {
        name: "greedy per-workload cheapest".into(),
        usd_per_month: matches!(s.outcome, Outcome::Optimal).then_some(s.objective),
        note: "each workload, one at a time, takes the offering that serves it alone cheapest at list price (what a one-task broker such as SkyPilot does); contracts billed as they fall".into(),
    }
}
