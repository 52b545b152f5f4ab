//! A plan over time found period by period: the decisions that span the horizon
//! (reservations, where each training run goes) are taken from the LP relaxation, then each
//! period is solved as a MILP of its own, in order, with everything before it fixed.
//!
//! Branch-and-bound over the whole horizon is slow to find good plans: each period's integer
//! instance counts, balanced against that period's vendor-share cap, leave a small gap of their
//! own, and the tree must close all of them at once. One period alone is a small MILP that
//! HiGHS solves to optimality in a fraction of a second. On `examples/growth.yaml` this finds,
//! in about two seconds, a plan better than branch-and-bound's after five minutes
//! (`BENCHMARKS.md`); the planner over time hands it to branch-and-bound as its first plan,
//! which then only has to improve on it and raise the bound.
//!
//! The plan is a heuristic's: its bound is the LP relaxation's, and it is checked against
//! every row of the whole model before it is returned. Migration and churn rows of period `t`
//! see period `t − 1` as already decided, so moving capacity is priced as in the whole model.

use crate::formulation::RowKind;
use crate::lp::{self, LinearModel, Outcome, SolveOptions, Solved};
use std::time::Instant;

/// `CHIPMIX_BY_PERIOD_LOG=1` prints each step on stderr, for diagnosing a plan over time that
/// is slow or not found.
fn log(message: impl FnOnce() -> String) {
    if std::env::var_os("CHIPMIX_BY_PERIOD_LOG").is_some() {
        eprintln!("period by period: {}", message());
    }
}

/// Which period every row and column of a model over time belongs to. `None`: the whole
/// horizon (reservations, training runs and their run-once rows). A row of period `t` holds
/// columns of period `t`, of earlier periods (migration and churn rows look back one period)
/// and of the whole horizon, never of a later period.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeriodTags {
    pub(crate) rows: Vec<Option<u32>>,
    pub(crate) columns: Vec<Option<u32>>,
    pub(crate) count: u32,
}

impl PeriodTags {
    /// Tags every row and column from the last tagged one up to `rows` and `columns`.
    pub(crate) fn extend(&mut self, rows: usize, columns: usize, period: Option<u32>) {
        self.rows.resize(rows, period);
        self.columns.resize(columns, period);
    }
}

/// How the decisions that span the horizon are rounded from the LP.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rounding {
    Nearest,
    Down,
}

/// A plan of model `m` found period by period within `options.time_limit_s`, with the LP
/// relaxation's bound; `None` when the LP is not solved or the periods cannot be completed
/// (then the caller's branch-and-bound starts from nothing). Each period is decomposed by
/// workload when `decompose` (large portfolios), solved direct otherwise.
pub(crate) fn solve(
    m: &LinearModel,
    kinds: &[RowKind],
    tags: &PeriodTags,
    options: &SolveOptions,
    decompose: bool,
) -> Option<Solved> {
    let start = Instant::now();
    if tags.rows.len() != m.rows.len() || tags.columns.len() != m.columns.len() {
        return None;
    }
    let relaxed = lp::solve_relaxation_interior(m, options);
    log(|| {
        format!(
            "LP relaxation {:?}, {:.2} in {:.2} s",
            relaxed.outcome,
            relaxed.objective,
            start.elapsed().as_secs_f64()
        )
    });
    if relaxed.outcome != Outcome::Optimal {
        return None;
    }
    for rounding in [Rounding::Nearest, Rounding::Down] {
        let remaining = options.time_limit_s - start.elapsed().as_secs_f64();
        if remaining <= 0.0 {
            return None;
        }
        let mut values = horizon_decisions(m, kinds, tags, &relaxed.values, rounding);
        let order = Order {
            m,
            kinds,
            tags,
            decompose,
        };
        if !order.solve(&mut values, options, remaining) {
            continue;
        }
        if !satisfies(m, &values) {
            log(|| format!("{rounding:?}: the plan breaks a row over the whole horizon"));
            continue;
        }
        let objective: f64 = values.iter().zip(&m.columns).map(|(v, c)| v * c.cost).sum();
        let solved = Solved {
            outcome: Outcome::TimeLimit,
            objective,
            bound: relaxed.objective,
            gap: f64::NAN,
            seconds: start.elapsed().as_secs_f64(),
            values,
            duals: Vec::new(),
            failure: None,
        };
        return Some(solved.with_bound(relaxed.objective, options.relative_gap));
    }
    None
}

/// Values for the columns that span the horizon, from the LP's: each run-once row's column the
/// LP uses most (the others 0), integer columns rounded, continuous ones as the LP has them.
/// Columns of a period are left at 0 for [`periods_in_order`].
fn horizon_decisions(
    m: &LinearModel,
    kinds: &[RowKind],
    tags: &PeriodTags,
    lp: &[f64],
    rounding: Rounding,
) -> Vec<f64> {
    let mut values = vec![0.0; m.columns.len()];
    let mut chosen = vec![false; m.columns.len()];
    for (r, row) in m.rows.iter().enumerate() {
        if !matches!(kinds[r], RowKind::TrainOnce { .. }) || tags.rows[r].is_some() {
            continue;
        }
        // Most used; among equals the cheapest, then the first.
        let best = row.coefficients.iter().map(|&(c, _)| c).min_by(|&a, &b| {
            lp[b]
                .total_cmp(&lp[a])
                .then(m.columns[a].cost.total_cmp(&m.columns[b].cost))
        });
        for &(c, _) in &row.coefficients {
            chosen[c] = true;
        }
        if let Some(c) = best {
            values[c] = 1.0;
        }
    }
    for (c, col) in m.columns.iter().enumerate() {
        if tags.columns[c].is_some() || chosen[c] {
            continue;
        }
        let v = lp[c];
        let v = match (col.integer, rounding) {
            (false, _) => v,
            (true, Rounding::Nearest) => v.round(),
            (true, Rounding::Down) => (v + 1e-6).floor(),
        };
        values[c] = v.clamp(col.lower, col.upper);
    }
    values
}

/// The periods of a model, solved in order.
struct Order<'a> {
    m: &'a LinearModel,
    kinds: &'a [RowKind],
    tags: &'a PeriodTags,
    decompose: bool,
}

impl Order<'_> {
    /// Solves each period in order, everything outside it fixed at `values`, and writes its
    /// columns into `values`; false when a period has no solution.
    fn solve(&self, values: &mut [f64], options: &SolveOptions, time_limit_s: f64) -> bool {
        let (m, tags) = (self.m, self.tags);
        let start = Instant::now();
        let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); tags.count as usize];
        for (r, t) in tags.rows.iter().enumerate() {
            if let Some(t) = t {
                rows_of[*t as usize].push(r);
            }
        }
        let mut columns_of: Vec<Vec<usize>> = vec![Vec::new(); tags.count as usize];
        for (c, t) in tags.columns.iter().enumerate() {
            if let Some(t) = t {
                columns_of[*t as usize].push(c);
            }
        }
        for t in 0..tags.count as usize {
            let left = tags.count as usize - t;
            let budget = (time_limit_s - start.elapsed().as_secs_f64()) / left as f64;
            if budget <= 0.0 {
                return false;
            }
            let Some(sub) = period_model(m, tags, &rows_of[t], &columns_of[t], values, t as u32)
            else {
                return false;
            };
            let sub_kinds: Vec<RowKind> =
                rows_of[t].iter().map(|&r| self.kinds[r].clone()).collect();
            let sub_options = SolveOptions {
                time_limit_s: budget,
                // Each period within half the gap: the whole is then within it too.
                relative_gap: options.relative_gap * 0.5,
                relax: false,
            };
            let (solved, _) =
                crate::solve_model(&sub, &sub_kinds, &sub_options, self.decompose, None, |o| {
                    lp::solve(&sub, o)
                });
            log(|| {
                format!(
                    "period {}: {:?}, {:.2}, {:.2} s",
                    t + 1,
                    solved.outcome,
                    solved.objective,
                    solved.seconds
                )
            });
            if !matches!(solved.outcome, Outcome::Optimal | Outcome::TimeLimit) {
                return false;
            }
            for (i, &c) in columns_of[t].iter().enumerate() {
                values[c] = if m.columns[c].integer {
                    solved.values[i].round()
                } else {
                    solved.values[i]
                };
            }
        }
        true
    }
}

/// Period `t` alone: its columns (renumbered in order), its rows with every other column's
/// part moved into the bounds at its value in `values`. `None` when a row of the period holds
/// a column of a later one (the tags are then not what this module expects).
fn period_model(
    m: &LinearModel,
    tags: &PeriodTags,
    rows: &[usize],
    columns: &[usize],
    values: &[f64],
    t: u32,
) -> Option<LinearModel> {
    let mut local = vec![usize::MAX; m.columns.len()];
    let mut sub = LinearModel::default();
    for (i, &c) in columns.iter().enumerate() {
        local[c] = i;
        let col = &m.columns[c];
        sub.column(
            col.name.clone(),
            col.cost,
            col.lower,
            col.upper,
            col.integer,
        );
    }
    for &r in rows {
        let row = &m.rows[r];
        let mut fixed = 0.0;
        let mut coefficients = Vec::with_capacity(row.coefficients.len());
        for &(c, a) in &row.coefficients {
            if local[c] != usize::MAX {
                coefficients.push((local[c], a));
            } else if tags.columns[c].is_some_and(|p| p > t) {
                return None;
            } else {
                fixed += a * values[c];
            }
        }
        sub.row(
            row.name.clone(),
            row.lower - fixed,
            row.upper - fixed,
            coefficients,
        );
    }
    Some(sub)
}

/// Whether `values` meets every row and bound of `m` (to a relative 1e-6).
fn satisfies(m: &LinearModel, values: &[f64]) -> bool {
    let tolerance = |bound: f64| 1e-6 * bound.abs().max(1.0);
    let bounds_ok = m.columns.iter().zip(values).all(|(c, &v)| {
        v >= c.lower - tolerance(c.lower)
            && v <= c.upper + tolerance(c.upper)
            && (!c.integer || (v - v.round()).abs() <= 1e-6)
    });
    bounds_ok
        && m.rows.iter().all(|r| {
            let activity: f64 = r.coefficients.iter().map(|&(c, a)| a * values[c]).sum();
            activity >= r.lower - tolerance(r.lower) && activity <= r.upper + tolerance(r.upper)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two periods and one reservation: each period needs 3 units, a reserved unit covers both
    /// periods and is cheaper than on-demand in both together.
    fn two_periods() -> (LinearModel, Vec<RowKind>, PeriodTags) {
        let mut m = LinearModel::default();
        let mut tags = PeriodTags::default();
        let r = m.column("reserve", 15.0, 0.0, 10.0, true);
        tags.extend(0, m.columns.len(), None);
        let mut kinds = Vec::new();
        for t in 0..2 {
            // units served in t (integer, free), on-demand beyond the reservation
            let u = m.column(format!("units#{t}"), 0.0, 0.0, 10.0, true);
            let od = m.column(format!("od#{t}"), 10.0, 0.0, 10.0, false);
            m.row(format!("demand#{t}"), 2.5, f64::INFINITY, vec![(u, 1.0)]);
            kinds.push(RowKind::Demand { workload: 0 });
            m.row(
                format!("on_demand#{t}"),
                0.0,
                f64::INFINITY,
                vec![(od, 1.0), (u, -1.0), (r, 1.0)],
            );
            kinds.push(RowKind::OnDemand { offering: 0 });
            tags.extend(m.rows.len(), m.columns.len(), Some(t));
        }
        tags.count = 2;
        (m, kinds, tags)
    }

    #[test]
    fn each_period_is_solved_with_the_reservation_fixed_and_the_plan_meets_every_row() {
        let (m, kinds, tags) = two_periods();
        let options = SolveOptions {
            time_limit_s: 10.0,
            relative_gap: 1e-6,
            relax: false,
        };
        let solved = solve(&m, &kinds, &tags, &options, false).expect("a plan");
        // The LP reserves 2.5 units; rounded to 3 (2.5 rounds away from zero), each period
        // then runs 3 units on the reservation and buys nothing on demand.
        assert_eq!(solved.values[0], 3.0);
        assert!(satisfies(&m, &solved.values));
        assert!(
            (solved.objective - 45.0).abs() < 1e-9,
            "{}",
            solved.objective
        );
        // The LP's bound: 2.5 reserved units.
        assert!((solved.bound - 37.5).abs() < 1e-9, "{}", solved.bound);
        assert_eq!(solved.outcome, Outcome::TimeLimit);
    }

    #[test]
    fn a_row_that_reaches_into_a_later_period_is_refused() {
        let (mut m, kinds, mut tags) = two_periods();
        // A row of period 0 holding period 1's units.
        m.row("bad", 0.0, f64::INFINITY, vec![(4, 1.0)]);
        tags.rows.push(Some(0));
        let mut k = kinds.clone();
        k.push(RowKind::Budget);
        let options = SolveOptions {
            time_limit_s: 10.0,
            relative_gap: 1e-6,
            relax: false,
        };
        assert!(solve(&m, &k, &tags, &options, false).is_none());
    }

    #[test]
    fn a_rounding_that_breaks_a_horizon_row_is_not_returned() {
        let (mut m, kinds, mut tags) = two_periods();
        // A row over the whole horizon, which the periods never see: rounding the LP's 2.5
        // reserved units to 3 breaks it, so the plan rounds down instead.
        m.row("at_most", f64::NEG_INFINITY, 2.5, vec![(0, 1.0)]);
        tags.rows.push(None);
        let mut k = kinds.clone();
        k.push(RowKind::Budget);
        let options = SolveOptions {
            time_limit_s: 10.0,
            relative_gap: 1e-6,
            relax: false,
        };
        let solved = solve(&m, &k, &tags, &options, false).expect("a plan");
        assert_eq!(solved.values[0], 2.0);
        assert!(satisfies(&m, &solved.values));
        // 2 reserved, and one unit on demand in each period.
        assert!(
            (solved.objective - 50.0).abs() < 1e-9,
            "{}",
            solved.objective
        );
    }
}
