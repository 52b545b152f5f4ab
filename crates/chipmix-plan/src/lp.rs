//! A small linear model of our own, handed to HiGHS. Keeping the model as plain data lets the
//! same formulation be solved as a MILP, as its LP relaxation (for shadow prices), and with
//! elastic slacks (to explain infeasibility) without rebuilding it.

use highs::{HighsModelStatus, RowProblem, Sense};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct Column {
    pub cost: f64,
    pub lower: f64,
    pub upper: f64,
    pub integer: bool,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Row {
    pub lower: f64,
    pub upper: f64,
    pub coefficients: Vec<(usize, f64)>,
    pub name: String,
}

#[derive(Clone, Debug, Default)]
pub struct LinearModel {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// Largest magnitude of a finite number handed to HiGHS. HiGHS refuses matrix entries above
/// 1e15 and reads 1e20 as infinity; the input limits (`chipmix_catalog::limits`) keep every
/// number of a real portfolio many orders of magnitude below this.
pub const MAX_MAGNITUDE: f64 = 1e15;

impl LinearModel {
    /// The objective of `values` (one per column).
    pub fn cost_of(&self, values: &[f64]) -> f64 {
        values
            .iter()
            .zip(&self.columns)
            .map(|(v, c)| v * c.cost)
            .sum()
    }

    /// The first number that must not reach the solver, named by its column or row: a NaN
    /// anywhere, an infinite cost or coefficient, a finite magnitude over [`MAX_MAGNITUDE`].
    pub fn check_numbers(&self) -> Result<(), String> {
        let finite_ok = |v: f64| v.is_finite() && v.abs() <= MAX_MAGNITUDE;
        let bound_ok = |v: f64| v.is_infinite() || finite_ok(v);
        for c in &self.columns {
            if !finite_ok(c.cost) {
                return Err(format!("column `{}` has cost {}", c.name, c.cost));
            }
            if !bound_ok(c.lower) || !bound_ok(c.upper) || c.lower > c.upper {
                return Err(format!(
                    "column `{}` has bounds [{}, {}]",
                    c.name, c.lower, c.upper
                ));
            }
        }
        for r in &self.rows {
            if !bound_ok(r.lower) || !bound_ok(r.upper) {
                return Err(format!(
                    "row `{}` has bounds [{}, {}]",
                    r.name, r.lower, r.upper
                ));
            }
            if let Some(&(i, v)) = r.coefficients.iter().find(|&&(_, v)| !finite_ok(v)) {
                let col = self.columns.get(i).map_or("?", |c| c.name.as_str());
                return Err(format!(
                    "row `{}` has coefficient {v} on column `{col}`",
                    r.name
                ));
            }
        }
        Ok(())
    }

    pub fn column(
        &mut self,
        name: impl Into<String>,
        cost: f64,
        lower: f64,
        upper: f64,
        integer: bool,
    ) -> usize {
        self.columns.push(Column {
            cost,
            lower,
            upper,
            integer,
            name: name.into(),
        });
        self.columns.len() - 1
    }

    pub fn row(
        &mut self,
        name: impl Into<String>,
        lower: f64,
        upper: f64,
        coefficients: Vec<(usize, f64)>,
    ) -> usize {
        self.rows.push(Row {
            lower,
            upper,
            coefficients,
            name: name.into(),
        });
        self.rows.len() - 1
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Optimal,
    /// Stopped by the time limit with a feasible solution.
    TimeLimit,
    Infeasible,
    /// Stopped without a feasible solution, or the solver failed.
    NoSolution,
}

#[derive(Clone, Debug)]
pub struct Solved {
    pub outcome: Outcome,
    pub objective: f64,
    /// Best proven lower bound (the LP bound of the branch-and-bound tree).
    pub bound: f64,
    pub gap: f64,
    pub seconds: f64,
    pub values: Vec<f64>,
    /// Row duals: an LP's, or those a decomposition's master LP priced (`NaN` on rows it
    /// does not see); empty for a MILP solved whole.
    pub duals: Vec<f64>,
    /// Why the solver could not be run at all (a number out of its range, HiGHS refusing the
    /// model); `outcome` is then `NoSolution`.
    pub failure: Option<String>,
}

pub struct SolveOptions {
    pub time_limit_s: f64,
    pub relative_gap: f64,
    /// Solve the LP relaxation (integrality dropped).
    pub relax: bool,
}

/// (objective − bound) / |objective|, the gap a plan reports (0 for a zero objective).
pub fn relative_gap(objective: f64, bound: f64) -> f64 {
    if objective.abs() > 1e-9 {
        ((objective - bound) / objective.abs()).max(0.0)
    } else {
        0.0
    }
}

impl Solved {
    /// The solver could not be run on the model: why.
    pub fn failed(why: String, start: Instant) -> Solved {
        Solved {
            outcome: Outcome::NoSolution,
            objective: f64::NAN,
            bound: f64::NAN,
            gap: f64::NAN,
            seconds: start.elapsed().as_secs_f64(),
            values: Vec::new(),
            duals: Vec::new(),
            failure: Some(why),
        }
    }

    /// This plan with a proven `bound` (capped at its own objective), its gap, and
    /// `Optimal` when the gap is within `target`, `TimeLimit` otherwise.
    pub fn with_bound(mut self, bound: f64, target: f64) -> Solved {
        self.bound = bound.min(self.objective);
        self.gap = relative_gap(self.objective, self.bound);
        self.outcome = if self.gap <= target {
            Outcome::Optimal
        } else {
            Outcome::TimeLimit
        };
        self
    }
}

/// The options every HiGHS model of chipmix runs with.
pub fn configure(model: &mut highs::Model, time_limit_s: f64, relative_gap: f64) {
    // `CHIPMIX_HIGHS_LOG=1` shows HiGHS's own log on stderr, for diagnosing slow solves.
    if std::env::var_os("CHIPMIX_HIGHS_LOG").is_none() {
        model.make_quiet();
    } else {
        model.set_option("output_flag", true);
        model.set_option("log_to_console", true);
    }
    model.set_option("time_limit", time_limit_s.max(0.01));
    model.set_option("mip_rel_gap", relative_gap.max(0.0));
    // Deterministic across machines of any core count.
    model.set_option("threads", 1);
    model.set_option("random_seed", 0);
}

/// Whether HiGHS holds a feasible solution. Read from the info value itself: when a solve
/// ends before HiGHS fills its info (an error, a time limit reached at once) the value is
/// not one the `highs` crate knows, and its `primal_solution_status()` panics.
pub fn has_feasible_solution(solved: &highs::SolvedModel) -> bool {
    // HiGHS's kSolutionStatusFeasible.
    solved
        .int_info_value(c"primal_solution_status")
        .is_ok_and(|v| v == 2)
}

/// Minimizes `model` with HiGHS.
pub fn solve(model: &LinearModel, options: &SolveOptions) -> Solved {
    solve_from(model, options, None)
}

/// Minimizes `model` with HiGHS, starting branch-and-bound from `start` (a value per column,
/// a plan found another way) when given. The bound HiGHS proves does not depend on the
/// start; the plan it returns is never worse than the start.
pub fn solve_from(model: &LinearModel, options: &SolveOptions, start_at: Option<&[f64]>) -> Solved {
    run(model, options, start_at, false)
}

/// The LP relaxation of `model` by the interior-point method, crossed over to a vertex. On
/// the large, degenerate LPs of plans over time it is several times faster than the dual
/// simplex HiGHS picks (a generated 20-workload, 12-month model: 5.4 s against 39 s).
pub fn solve_relaxation_interior(model: &LinearModel, options: &SolveOptions) -> Solved {
    let relaxed = SolveOptions {
        relax: true,
        ..*options
    };
    run(model, &relaxed, None, true)
}

fn run(
    model: &LinearModel,
    options: &SolveOptions,
    start_at: Option<&[f64]>,
    interior: bool,
) -> Solved {
    let start = Instant::now();
    if let Err(m) = model.check_numbers() {
        return Solved::failed(m, start);
    }
    let mut pb = RowProblem::new();
    let cols: Vec<highs::Col> = model
        .columns
        .iter()
        .map(|c| {
            pb.add_column_with_integrality(c.cost, c.lower..=c.upper, c.integer && !options.relax)
        })
        .collect();
    for r in &model.rows {
        let factors: Vec<(highs::Col, f64)> =
            r.coefficients.iter().map(|&(i, v)| (cols[i], v)).collect();
        match (r.lower.is_finite(), r.upper.is_finite()) {
            (true, true) => pb.add_row(r.lower..=r.upper, &factors),
            (true, false) => pb.add_row(r.lower.., &factors),
            (false, true) => pb.add_row(..=r.upper, &factors),
            (false, false) => pb.add_row::<f64, _, _, _>(.., &factors),
        }
    }
    let mut m = match pb.try_optimise(Sense::Minimise) {
        Ok(m) => m,
        Err(e) => return Solved::failed(format!("HiGHS refused the model: {e:?}"), start),
    };
    configure(&mut m, options.time_limit_s, options.relative_gap);
    if interior {
        m.set_option("solver", "ipm");
    }
    if let Some(values) = start_at.filter(|v| v.len() == model.columns.len() && !options.relax) {
        // HiGHS 1.16's presolve misprices a start: on a 12-month plan it took a start worth
        // $2,732,808 for $2,242,993 — below the true optimum — and returned it as optimal.
        // Without presolve the same start and model solve right.
        m.set_option("presolve", "off");
        // A start HiGHS refuses only costs it the head start.
        let _ = m.try_set_solution(Some(values), None, None, None);
    }
    let solved = match m.try_solve() {
        Ok(s) => s,
        Err(e) => return Solved::failed(format!("HiGHS failed: {e:?}"), start),
    };
    let status = solved.status();
    let has_solution = has_feasible_solution(&solved);
    let outcome = match status {
        HighsModelStatus::Optimal => Outcome::Optimal,
        HighsModelStatus::Infeasible => Outcome::Infeasible,
        HighsModelStatus::ReachedTimeLimit
        | HighsModelStatus::ReachedIterationLimit
        | HighsModelStatus::ReachedSolutionLimit
        | HighsModelStatus::ReachedInterrupt
            if has_solution =>
        {
            Outcome::TimeLimit
        }
        HighsModelStatus::ModelEmpty => Outcome::Optimal,
        _ => Outcome::NoSolution,
    };
    let seconds = start.elapsed().as_secs_f64();
    if matches!(outcome, Outcome::Infeasible | Outcome::NoSolution) {
        return Solved {
            outcome,
            objective: f64::NAN,
            bound: f64::NAN,
            gap: f64::NAN,
            seconds,
            values: Vec::new(),
            duals: Vec::new(),
            failure: None,
        };
    }
    let objective = solved.objective_value();
    let is_mip = !options.relax && model.columns.iter().any(|c| c.integer);
    let (bound, gap) = if is_mip {
        let bound = solved
            .double_info_value(c"mip_dual_bound")
            .unwrap_or(objective);
        let gap = relative_gap(objective, bound);
        (bound, gap)
    } else {
        (objective, 0.0)
    };
    let solution = solved.get_solution();
    let values = solution.columns().to_vec();
    // HiGHS's objective is that of the values it returns; where it is not (the presolve fault
    // above), neither its plan nor its bound can be trusted.
    let recomputed = model.cost_of(&values);
    if (recomputed - objective).abs() > 1e-6 * objective.abs().max(1.0) {
        return Solved::failed(
            format!("HiGHS reported objective {objective} for a solution worth {recomputed}"),
            start,
        );
    }
    Solved {
        outcome,
        objective,
        bound,
        gap,
        seconds,
        values,
        // A MILP has no duals worth reading; an LP's are its shadow prices.
        duals: if is_mip {
            Vec::new()
        } else {
            solution.dual_rows().to_vec()
        },
        failure: None,
    }
}
