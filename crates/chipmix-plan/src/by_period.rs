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
//! Where the LP is not solved in its share of the time (a model of hundreds of thousands of
//! columns), the horizon's decisions are taken without it ([`Greedy`]): the periods planned on
//! demand first, then reservations bought for the use that plan shows.
//!
//! The plan is a heuristic's: its bound is the LP relaxation's (without the LP, only the
//! trivial one), and it is checked against every row of the whole model before it is
//! returned. Migration and churn rows of period `t`
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

/// A plan of model `m` found period by period in part of `options.time_limit_s`, with the LP
/// relaxation's bound, or without the LP (and without a bound of its own) where the LP is not
/// solved in its time or its decisions leave no plan; `None` when the periods cannot be
/// completed (then the caller's branch-and-bound starts from nothing). Each period is
/// decomposed by workload when `decompose` (large portfolios), solved direct otherwise.
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
    // The LP and the periods around its decisions get 15% of the time each, leaving the rest
    // to branch-and-bound from the plan they find. A model too large for the LP in its time
    // (100 workloads over 36 months: 290,000 columns) is planned without it, in up to 85%.
    let lp_options = SolveOptions {
        time_limit_s: options.time_limit_s * 0.15,
        ..*options
    };
    let relaxed = lp::solve_relaxation_interior(m, &lp_options);
    log(|| {
        format!(
            "LP relaxation of {} columns ({} integer) and {} rows: {:?}, {:.2} in {:.2} s",
            m.columns.len(),
            m.columns.iter().filter(|c| c.integer).count(),
            m.rows.len(),
            relaxed.outcome,
            relaxed.objective,
            start.elapsed().as_secs_f64()
        )
    });
    let order = Order {
        m,
        kinds,
        tags,
        decompose,
        fill_reserved: false,
    };
    let left = |share: f64| options.time_limit_s * share - start.elapsed().as_secs_f64();
    if relaxed.outcome == Outcome::Optimal {
        for rounding in [Rounding::Nearest, Rounding::Down] {
            let mut values = horizon_decisions(m, kinds, tags, &relaxed.values, rounding);
            if left(0.3) <= 0.0 {
                break;
            }
            if order.complete(&mut values, options, left(0.3), &format!("{rounding:?}")) {
                return Some(order.solved(values, relaxed.objective, options, start));
            }
        }
    }
    // No bound of the LP's: only the trivial one (every column at its cheapest bound) until
    // the caller's solve proves a better one.
    let values = order.without_lp(options, left(0.85))?;
    Some(order.solved(values, trivial_bound(m), options, start))
}

/// A plan of model `m` found without the LP ([`Order::without_lp`]) in `options.time_limit_s`
/// (for tests of the whole planner over time).
#[cfg(test)]
pub(crate) fn without_lp(
    m: &LinearModel,
    kinds: &[RowKind],
    tags: &PeriodTags,
    options: &SolveOptions,
    decompose: bool,
) -> Option<Vec<f64>> {
    let order = Order {
        m,
        kinds,
        tags,
        decompose,
        fill_reserved: false,
    };
    order.without_lp(options, options.time_limit_s)
}

/// A bound no plan can beat: each column at whichever of its bounds costs least.
fn trivial_bound(m: &LinearModel) -> f64 {
    m.columns
        .iter()
        .map(|c| (c.cost * c.lower).min(c.cost * c.upper))
        .filter(|v| v.is_finite())
        .sum()
}

/// The decisions that span the horizon taken without the LP. Reservations are read off the
/// model's on-demand rows `od − usage + Σ reserved ≥ 0` (the horizon's columns with a positive
/// coefficient there); training runs off their run-once rows.
struct Greedy<'a> {
    m: &'a LinearModel,
    tags: &'a PeriodTags,
    /// Per on-demand row: its on-demand column (coefficient 1, of the row's period).
    on_demand: Vec<(usize, usize)>,
    /// The horizon's columns in a run-once row.
    in_run_once: Vec<bool>,
    /// Run-once rows over the horizon's columns.
    run_once: Vec<usize>,
}

impl<'a> Greedy<'a> {
    fn of(m: &'a LinearModel, kinds: &[RowKind], tags: &'a PeriodTags) -> Greedy<'a> {
        let mut on_demand = Vec::new();
        let mut in_run_once = vec![false; m.columns.len()];
        let mut run_once = Vec::new();
        for (r, row) in m.rows.iter().enumerate() {
            match kinds[r] {
                RowKind::TrainOnce { .. } if tags.rows[r].is_none() => {
                    for &(c, _) in &row.coefficients {
                        in_run_once[c] = true;
                    }
                    run_once.push(r);
                }
                // The row that prices on-demand use (the exactness rows under a spend cap
                // have a finite upper side or no reservation in them).
                RowKind::OnDemand { .. } if row.lower == 0.0 && row.upper == f64::INFINITY => {
                    let od = row.coefficients.iter().find(|&&(c, a)| {
                        a == 1.0 && tags.columns[c] == tags.rows[r] && !m.columns[c].integer
                    });
                    if let Some(&(od, _)) = od {
                        on_demand.push((r, od));
                    }
                }
                _ => {}
            }
        }
        Greedy {
            m,
            tags,
            on_demand,
            in_run_once,
            run_once,
        }
    }

    /// What a horizon column costs with the on-demand use it brings (USD).
    fn cost_on_demand(&self, values_cost: &mut [f64]) {
        for &(r, od) in &self.on_demand {
            let price = self.m.columns[od].cost;
            for &(c, a) in &self.m.rows[r].coefficients {
                if a < 0.0 && self.tags.columns[c].is_none() {
                    values_cost[c] += -a * price;
                }
            }
        }
    }

    /// No reservation; each training run on the placement that costs least on demand among
    /// those that fit the supply left by the runs placed before it.
    fn on_demand(&self) -> Vec<f64> {
        let m = self.m;
        let mut values = vec![0.0; m.columns.len()];
        let mut effective: Vec<f64> = m.columns.iter().map(|c| c.cost).collect();
        self.cost_on_demand(&mut effective);
        // Activity of the horizon's chosen columns in every row with an upper side.
        let mut activity = vec![0.0; m.rows.len()];
        let mut rows_of: Vec<Vec<(usize, f64)>> = vec![Vec::new(); m.columns.len()];
        for (r, row) in m.rows.iter().enumerate() {
            if row.upper.is_finite() && self.tags.rows[r].is_some() {
                for &(c, a) in &row.coefficients {
                    if self.in_run_once[c] {
                        rows_of[c].push((r, a));
                    }
                }
            }
        }
        for &r in &self.run_once {
            let mut options: Vec<usize> = m.rows[r]
                .coefficients
                .iter()
                .map(|&(c, _)| c)
                .filter(|&c| m.columns[c].upper >= 1.0)
                .collect();
            options.sort_by(|&a, &b| effective[a].total_cmp(&effective[b]));
            let fits = |c: usize, activity: &[f64]| {
                rows_of[c]
                    .iter()
                    .all(|&(r, a)| a <= 0.0 || activity[r] + a <= m.rows[r].upper + 1e-9)
            };
            let chosen = options
                .iter()
                .copied()
                .find(|&c| fits(c, &activity))
                .or(options.first().copied());
            if let Some(c) = chosen {
                values[c] = 1.0;
                for &(r, a) in &rows_of[c] {
                    activity[r] += a;
                }
            }
        }
        values
    }

    /// `plan`'s training runs, and reservations for the use it shows: longest-saving first,
    /// each bought up to the use left uncovered in every period of its term, when that saves
    /// more on demand than it costs.
    fn reserved_for(&self, plan: &[f64]) -> Vec<f64> {
        let m = self.m;
        let mut values: Vec<f64> = (0..m.columns.len())
            .map(|c| if self.in_run_once[c] { plan[c] } else { 0.0 })
            .collect();
        // Per on-demand row: the use left to cover, and per reservation column its rows.
        let mut uncovered: Vec<f64> = Vec::with_capacity(self.on_demand.len());
        let mut covers: Vec<Vec<(usize, f64)>> = vec![Vec::new(); m.columns.len()];
        for (i, &(r, _)) in self.on_demand.iter().enumerate() {
            let row = &m.rows[r].coefficients;
            let used: f64 = row
                .iter()
                .filter(|&&(_, a)| a < 0.0)
                .map(|&(c, a)| -a * plan[c])
                .sum();
            uncovered.push(used);
            for &(c, a) in row {
                if a > 0.0 && self.tags.columns[c].is_none() && !self.in_run_once[c] {
                    covers[c].push((i, a));
                }
            }
        }
        let saving = |c: usize| -> f64 {
            let kept: f64 = covers[c]
                .iter()
                .map(|&(i, a)| a * m.columns[self.on_demand[i].1].cost)
                .sum();
            kept - m.columns[c].cost
        };
        let mut reservations: Vec<usize> = (0..m.columns.len())
            .filter(|&c| !covers[c].is_empty() && m.columns[c].integer && saving(c) > 0.0)
            .collect();
        reservations.sort_by(|&a, &b| saving(b).total_cmp(&saving(a)));
        for c in reservations {
            let units = covers[c]
                .iter()
                .map(|&(i, a)| (uncovered[i] / a + 1e-9).floor())
                .fold(f64::INFINITY, f64::min)
                .min(m.columns[c].upper)
                .max(0.0);
            if units >= 1.0 {
                values[c] = units;
                for &(i, a) in &covers[c] {
                    uncovered[i] -= units * a;
                }
            }
        }
        values
    }
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
    /// Plan each period using all its reserved instances where it can (the reservations were
    /// bought for use already seen).
    fill_reserved: bool,
}

impl Order<'_> {
    /// A plan found without the LP within `limit_s`: first every period on demand, then
    /// reservations bought for the use that plan shows and the periods planned again around
    /// them; the cheaper of the two.
    fn without_lp(&self, options: &SolveOptions, limit_s: f64) -> Option<Vec<f64>> {
        let start = Instant::now();
        let greedy = Greedy::of(self.m, self.kinds, self.tags);
        let mut first = greedy.on_demand();
        if !self.complete(&mut first, options, limit_s * 0.5, "on demand") {
            return None;
        }
        let mut reserved = greedy.reserved_for(&first);
        let left = limit_s - start.elapsed().as_secs_f64();
        let filling = Order {
            fill_reserved: true,
            ..*self
        };
        let kept =
            left > 0.0 && filling.complete(&mut reserved, options, left, "reserved for that use");
        Some(
            if kept && self.m.cost_of(&reserved) < self.m.cost_of(&first) {
                reserved
            } else {
                first
            },
        )
    }

    /// Solves each period in order around the horizon's decisions in `values`, and checks the
    /// plan against every row; false (with why, in the log) when it is not a plan.
    fn complete(
        &self,
        values: &mut [f64],
        options: &SolveOptions,
        limit_s: f64,
        how: &str,
    ) -> bool {
        if !self.solve(values, options, limit_s) {
            log(|| format!("{how}: a period has no plan in the time"));
            return false;
        }
        if !satisfies(self.m, values) {
            log(|| format!("{how}: the plan breaks a row over the whole horizon"));
            return false;
        }
        log(|| format!("{how}: a plan of {:.2}", self.m.cost_of(values)));
        true
    }

    /// The plan `values` with `bound` (the LP's, or none: minus infinity).
    fn solved(
        &self,
        values: Vec<f64>,
        bound: f64,
        options: &SolveOptions,
        start: Instant,
    ) -> Solved {
        let objective = self.m.cost_of(&values);
        let solved = Solved {
            outcome: Outcome::TimeLimit,
            objective,
            bound,
            gap: f64::NAN,
            seconds: start.elapsed().as_secs_f64(),
            values,
            duals: Vec::new(),
            failure: None,
        };
        solved.with_bound(bound, options.relative_gap)
    }

    /// Solves each period in order, everything outside it fixed at `values`, and writes its
    /// columns into `values`; false when a period has no solution.
    fn solve(&self, values: &mut [f64], options: &SolveOptions, time_limit_s: f64) -> bool {
        let tags = self.tags;
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
            let period = Period {
                t: t as u32,
                rows: &rows_of[t],
                columns: &columns_of[t],
            };
            // Around reservations bought for use already seen, that use is kept first; where
            // that leaves the period no plan, it is planned again without.
            let local = match self.fill_reserved {
                true => self
                    .period(&period, values, options, budget * 0.5, true)
                    .or_else(|| self.period(&period, values, options, budget * 0.5, false)),
                false => self.period(&period, values, options, budget, false),
            };
            let Some(local) = local else {
                return false;
            };
            for (i, &c) in columns_of[t].iter().enumerate() {
                values[c] = local[i];
            }
        }
        true
    }

    /// One period solved with everything outside it at `values`: its columns' values, or
    /// `None` when it has no plan in `budget` seconds. With `fill_reserved`, the reserved
    /// instances of an offering are all used as well ([`substitute_on_demand`]).
    fn period(
        &self,
        period: &Period,
        values: &[f64],
        options: &SolveOptions,
        budget: f64,
        fill_reserved: bool,
    ) -> Option<Vec<f64>> {
        let (m, tags, t) = (self.m, self.tags, period.t);
        let mut sub = period_model(m, tags, period.rows, period.columns, values, t)?;
        let kinds: Vec<RowKind> = period.rows.iter().map(|&r| self.kinds[r].clone()).collect();
        let substitutable: Vec<bool> = period
            .rows
            .iter()
            .map(|&r| {
                fill_reserved
                    || m.rows[r]
                        .coefficients
                        .iter()
                        .all(|&(c, a)| a <= 0.0 || tags.columns[c] == Some(t) || values[c] == 0.0)
            })
            .collect();
        let substituted = substitute_on_demand(&mut sub, &kinds, &substitutable);
        let sub_options = SolveOptions {
            time_limit_s: budget,
            // Each period within half the gap: the whole is then within it too.
            relative_gap: options.relative_gap * 0.5,
            relax: false,
        };
        let (solved, how) =
            crate::solve_model(&sub, &kinds, &sub_options, self.decompose, None, |o| {
                lp::solve(&sub, o)
            });
        log(|| {
            format!(
                "period {}{} ({how}, {} columns, {} rows): {:?}, {:.2}, {:.2} s",
                t + 1,
                if fill_reserved {
                    ", reservations used"
                } else {
                    ""
                },
                sub.columns.len(),
                sub.rows.len(),
                solved.outcome,
                solved.objective,
                solved.seconds
            )
        });
        if !matches!(solved.outcome, Outcome::Optimal | Outcome::TimeLimit) {
            return None;
        }
        let mut local: Vec<f64> = period
            .columns
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                if m.columns[c].integer {
                    solved.values[i].round()
                } else {
                    solved.values[i]
                }
            })
            .collect();
        for s in &substituted {
            local[s.on_demand] = s.fixed + s.terms.iter().map(|&(x, w)| w * local[x]).sum::<f64>();
        }
        Some(local)
    }
}

/// A period's index, rows and columns in the whole model.
struct Period<'a> {
    t: u32,
    rows: &'a [usize],
    columns: &'a [usize],
}

/// An on-demand column of a period replaced by the use it prices: `od = fixed + Σ w·x`.
struct Substitution {
    on_demand: usize,
    fixed: f64,
    terms: Vec<(usize, f64)>,
}

/// An on-demand row `od − Σ a·x ≥ F − R` of a period (`F`: use fixed elsewhere, `R`: the
/// reserved instance-months) where `substitutable` says so: `od` is replaced by `F − R + Σ a·x`
/// in the objective and in every row, so the instance counts carry their own price. Without it
/// the counts cost nothing and only the on-demand rows price them, which a decomposition by
/// workload learns only over many rounds (a period of 100 services over 300 offerings did not
/// converge in 3 s; with it, 3 rounds). Where nothing is reserved (`R = 0`) `od` equals the use
/// at every optimum (and exactly under a spend cap, by its exactness rows), so the period's
/// optimum is kept. Where something is (`R > 0`) the row becomes `Σ a·x ≥ R − F`: the period
/// must use what it reserved, a restriction (every plan of it is a plan of the period) that the
/// caller asks for only where the reservations were bought for use already seen. The on-demand
/// column is fixed at 0 in the model; its value is restored from the substitution.
fn substitute_on_demand(
    sub: &mut LinearModel,
    kinds: &[RowKind],
    substitutable: &[bool],
) -> Vec<Substitution> {
    let mut out = Vec::new();
    let mut defined = vec![false; sub.columns.len()];
    for (i, row) in sub.rows.iter().enumerate() {
        if !matches!(kinds[i], RowKind::OnDemand { .. })
            || !substitutable[i]
            || !row.lower.is_finite()
            || !(row.upper == f64::INFINITY || row.upper == row.lower)
        {
            continue;
        }
        let mut od = None;
        let mut terms = Vec::with_capacity(row.coefficients.len());
        let mut shaped = true;
        for &(c, a) in &row.coefficients {
            let col = &sub.columns[c];
            if a == 1.0 && od.is_none() && !col.integer && col.lower == 0.0 && col.cost >= 0.0 {
                od = Some(c);
            } else if a < 0.0 {
                terms.push((c, -a));
            } else {
                shaped = false;
            }
        }
        let Some(od) = od.filter(|&c| shaped && !defined[c]) else {
            continue;
        };
        defined[od] = true;
        out.push((
            i,
            Substitution {
                on_demand: od,
                fixed: row.lower,
                terms,
            },
        ));
    }
    let mut by_column: Vec<Option<usize>> = vec![None; sub.columns.len()];
    for (k, (_, s)) in out.iter().enumerate() {
        by_column[s.on_demand] = Some(k);
    }
    for (i, row) in sub.rows.iter_mut().enumerate() {
        if !row
            .coefficients
            .iter()
            .any(|&(c, _)| by_column[c].is_some())
        {
            continue;
        }
        if let Some((_, s)) = out.iter().find(|(r, _)| *r == i) {
            // The defining row: it holds by construction where `od ≥ 0` does.
            if s.fixed < 0.0 {
                row.coefficients = s.terms.clone();
                row.lower = -s.fixed;
            } else {
                row.coefficients.clear();
                row.lower = f64::NEG_INFINITY;
            }
            row.upper = f64::INFINITY;
            continue;
        }
        let mut merged: std::collections::BTreeMap<usize, f64> = Default::default();
        let mut shift = 0.0;
        for &(c, a) in &row.coefficients {
            match by_column[c] {
                Some(k) => {
                    let s = &out[k].1;
                    shift += a * s.fixed;
                    for &(x, w) in &s.terms {
                        *merged.entry(x).or_insert(0.0) += a * w;
                    }
                }
                None => *merged.entry(c).or_insert(0.0) += a,
            }
        }
        row.coefficients = merged.into_iter().filter(|&(_, a)| a != 0.0).collect();
        row.lower -= shift;
        row.upper -= shift;
    }
    for (_, s) in &out {
        let price = sub.columns[s.on_demand].cost;
        for &(x, w) in &s.terms {
            sub.columns[x].cost += price * w;
        }
        let col = &mut sub.columns[s.on_demand];
        col.cost = 0.0;
        col.upper = 0.0;
    }
    out.into_iter().map(|(_, s)| s).collect()
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
pub(crate) fn satisfies(m: &LinearModel, values: &[f64]) -> bool {
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

    fn options() -> SolveOptions {
        SolveOptions {
            time_limit_s: 10.0,
            relative_gap: 1e-6,
            relax: false,
        }
    }

    /// The periods of a test model in order, each solved direct.
    fn order<'a>(m: &'a LinearModel, kinds: &'a [RowKind], tags: &'a PeriodTags) -> Order<'a> {
        Order {
            m,
            kinds,
            tags,
            decompose: false,
            fill_reserved: false,
        }
    }

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
        let options = options();
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
    fn without_the_lp_reservations_are_bought_for_the_use_the_on_demand_plan_shows() {
        let (m, kinds, tags) = two_periods();
        let options = options();
        let order = order(&m, &kinds, &tags);
        // On demand alone: 3 units in each period, 60. A reserved unit covers one unit in
        // both periods (20 on demand) for 15, so all 3 are reserved: 45, the optimum.
        let greedy = Greedy::of(&m, &kinds, &tags);
        let mut first = greedy.on_demand();
        assert!(order.complete(&mut first, &options, 10.0, "on demand"));
        assert_eq!(first[0], 0.0);
        assert!(
            (m.cost_of(&first) - 60.0).abs() < 1e-9,
            "{}",
            m.cost_of(&first)
        );
        let values = order.without_lp(&options, 10.0).expect("a plan");
        assert_eq!(values[0], 3.0);
        assert!(satisfies(&m, &values));
        assert!(
            (m.cost_of(&values) - 45.0).abs() < 1e-9,
            "{}",
            m.cost_of(&values)
        );
    }

    #[test]
    fn without_the_lp_a_reservation_that_would_save_nothing_is_not_bought() {
        let (mut m, kinds, tags) = two_periods();
        // Dearer than the on-demand use it replaces (20).
        m.columns[0].cost = 25.0;
        let options = options();
        let order = order(&m, &kinds, &tags);
        let values = order.without_lp(&options, 10.0).expect("a plan");
        assert_eq!(values[0], 0.0);
        assert!(
            (m.cost_of(&values) - 60.0).abs() < 1e-9,
            "{}",
            m.cost_of(&values)
        );
        // The only bound without the LP: every column at its cheapest bound.
        assert_eq!(trivial_bound(&m), 0.0);
    }

    #[test]
    fn an_unreserved_on_demand_column_is_replaced_by_the_use_it_prices() {
        let mut m = LinearModel::default();
        let x = m.column("units", 0.5, 0.0, 10.0, true);
        let od = m.column("od", 5.0, 0.0, 100.0, false);
        // od − 2x ≥ 1 (one instance-month fixed from elsewhere), and a budget on od.
        m.row("on_demand", 1.0, f64::INFINITY, vec![(od, 1.0), (x, -2.0)]);
        m.row("budget", f64::NEG_INFINITY, 10.0, vec![(od, 1.0), (x, 0.5)]);
        let kinds = vec![RowKind::OnDemand { offering: 0 }, RowKind::Budget];
        // Reserved: nothing is substituted.
        let mut kept = m.clone();
        assert!(substitute_on_demand(&mut kept, &kinds, &[false, true]).is_empty());
        assert_eq!(kept.rows[1].coefficients, m.rows[1].coefficients);
        let subs = substitute_on_demand(&mut m, &kinds, &[true, true]);
        assert_eq!(subs.len(), 1);
        assert_eq!((subs[0].on_demand, subs[0].fixed), (od, 1.0));
        // The units carry the on-demand price: 0.5 + 5 × 2.
        assert_eq!(m.columns[x].cost, 10.5);
        assert_eq!((m.columns[od].cost, m.columns[od].upper), (0.0, 0.0));
        // budget: (1 + 2x) + 0.5x ≤ 10, i.e. 2.5x ≤ 9; the defining row holds by itself.
        assert_eq!(m.rows[1].coefficients, vec![(x, 2.5)]);
        assert_eq!(m.rows[1].upper, 9.0);
        assert!(m.rows[0].coefficients.is_empty());
    }

    #[test]
    fn a_reserved_on_demand_column_replaced_keeps_the_reservation_in_use() {
        let mut m = LinearModel::default();
        let x = m.column("units", 0.0, 0.0, 10.0, true);
        let od = m.column("od", 5.0, 0.0, 100.0, false);
        // od − x ≥ −3: three instance-months reserved.
        m.row("on_demand", -3.0, f64::INFINITY, vec![(od, 1.0), (x, -1.0)]);
        let kinds = vec![RowKind::OnDemand { offering: 0 }];
        let subs = substitute_on_demand(&mut m, &kinds, &[true]);
        assert_eq!(subs[0].fixed, -3.0);
        // od = x − 3 ≥ 0: the period uses at least what it reserved, and pays for the rest.
        assert_eq!(m.rows[0].coefficients, vec![(x, 1.0)]);
        assert_eq!((m.rows[0].lower, m.rows[0].upper), (3.0, f64::INFINITY));
        assert_eq!(m.columns[x].cost, 5.0);
    }

    #[test]
    fn a_row_that_reaches_into_a_later_period_is_refused() {
        let (mut m, kinds, mut tags) = two_periods();
        // A row of period 0 holding period 1's units.
        m.row("bad", 0.0, f64::INFINITY, vec![(4, 1.0)]);
        tags.rows.push(Some(0));
        let mut k = kinds.clone();
        k.push(RowKind::Budget);
        let options = options();
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
        let options = options();
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
