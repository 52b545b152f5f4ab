//! Dantzig–Wolfe decomposition by workload, for portfolios too large for one branch-and-bound.
//!
//! Each workload's own rows — its demand or run-once row, its per-service vendor rules, its
//! resilience rows — form a block; the rows that tie workloads together (capacity, vendor-share
//! caps, contracts, budget) stay in a master problem. An integer solution of one block is a
//! *pattern*. The master LP mixes patterns; pricing finds, for the master's duals, every
//! block's cheapest pattern exactly, and that gives a Lagrangian lower bound valid for the MILP
//! itself. The bound keeps each block's integrality, so it is far tighter than the plain LP
//! relaxation, whose gap on many small services is mostly rounding. The plan then picks one
//! pattern per block in a MILP over the patterns found (HiGHS).
//!
//! The decomposition reads only the [`LinearModel`] and the row kinds: it adds no rule of its
//! own, so the model it solves is the one [`crate::formulation`] (or the planner over time)
//! writes. `blocks` reads the blocks off the rows, `pricing` finds each block's cheapest
//! pattern, `master` holds the master LP; this module runs the rounds, the bound and the MILP
//! over patterns.

use crate::formulation::RowKind;
use crate::lp::{LinearModel, Outcome, SolveOptions, Solved};
use highs::{ColProblem, HighsModelStatus, Sense};
use std::collections::HashMap;
use std::time::Instant;

mod blocks;
mod master;
mod pricing;

use blocks::*;
use master::*;
use pricing::*;

/// `CHIPMIX_DECOMPOSE_LOG=1` prints each column-generation round on stderr, for diagnosing a
/// slow or failed decomposition.
pub(crate) fn log(message: impl FnOnce() -> String) {
    if std::env::var_os("CHIPMIX_DECOMPOSE_LOG").is_some() {
        eprintln!("decomposition: {}", message());
    }
}

/// What the decomposition found.
pub(crate) struct Decomposed {
    /// `duals` are the master LP's at the last iteration, per model row; `NaN` on block rows,
    /// which the master does not see.
    pub solved: Solved,
    pub iterations: usize,
    pub patterns: usize,
}

#[derive(Debug)]
pub(crate) enum Failure {
    /// A workload has no solution even on its own: a proof that the portfolio is infeasible.
    BlockInfeasible,
    /// Even mixing patterns cannot meet the portfolio-wide rows (with artificial slacks priced
    /// high, so not a proof).
    Infeasible,
    /// The decomposition did not reach a plan (time, numerical trouble).
    Unsolved,
    /// Its bound came within the gap of the plan already in hand (`incumbent`): no plan of
    /// its own is needed. The bound is valid for the MILP.
    Beaten { bound: f64 },
}

/// Solves model `m` (its rows of `kinds`) by column generation and a MILP over the patterns
/// found. With a plan already in hand (`incumbent`, its objective), the column generation
/// stops once its bound is within the gap of that plan ([`Failure::Beaten`]).
pub(crate) fn solve(
    m: &LinearModel,
    kinds: &[RowKind],
    options: &SolveOptions,
    incumbent: Option<f64>,
) -> Result<Decomposed, Failure> {
    let start = Instant::now();
    let elapsed = || start.elapsed().as_secs_f64();
    let st = structure(m, kinds).ok_or(Failure::Unsolved)?;
    let nk = st.coupling.len();
    let nb = st.blocks.len();
    let pricing_limit = (options.time_limit_s * 0.25).max(0.05);

    // Master: coupling rows, one convexity row per block; columns are the master's own
    // variables, then artificial slacks on the coupling rows (so the first patterns need not
    // fit together), then patterns.
    let (mut pb, rows, convexity) = master_problem(m, &st, false);
    let artificials = add_artificials(&mut pb, m, &st, &rows);
    let first_pattern_column = st.master_columns.len() + artificials;
    let mut patterns: Vec<Pattern> = Vec::new();
    // A pattern already in the master can price out again only by the LP's tolerances:
    // adding it twice would loop.
    let mut known: std::collections::HashSet<(usize, Vec<(usize, u64)>)> =
        std::collections::HashSet::new();
    let key = |p: &Pattern| {
        (
            p.block,
            p.values.iter().map(|&(c, v)| (c, v.to_bits())).collect(),
        )
    };
    let add_pattern = |model_add: &mut dyn FnMut(f64, Vec<(highs::Row, f64)>), p: &Pattern| {
        let (cost, coeffs) = pattern_column(m, &st, p);
        let mut factors: Vec<(highs::Row, f64)> =
            coeffs.into_iter().map(|(k, a)| (rows[k], a)).collect();
        factors.push((convexity[p.block], 1.0));
        model_add(cost, factors);
    };

    // The first patterns: every block's cheapest on its own (all prices zero).
    let zero = vec![0.0; nk];
    let initial = price_all(m, &st, &reduced_costs(m, &st, &zero), pricing_limit)?;
    for p in initial {
        known.insert(key(&p.pattern));
        add_pattern(
            &mut |cost, factors| pb.add_column(cost, 0.0.., factors),
            &p.pattern,
        );
        patterns.push(p.pattern);
    }
    let mut model = pb
        .try_optimise(Sense::Minimise)
        .map_err(|_| Failure::Unsolved)?;
    crate::lp::configure(&mut model, options.time_limit_s, 0.0);
    // New patterns leave the last basis primal feasible: the primal simplex resumes from it.
    // (The dual simplex stopped on "excessive dual values" on plans over time, whose
    // artificial slacks are priced up to ~1e9 per unit, and stalled on their degenerate
    // masters even with the objective scaled down.)
    model.set_option("simplex_strategy", 4);

    let mut best_bound = f64::NEG_INFINITY;
    let mut iterations = 0;
    let mut duals_out = vec![f64::NAN; m.rows.len()];
    // The last master LP's mix of patterns (patterns added after it are not in it).
    let mut lambda: Vec<f64> = Vec::new();
    // Artificial slack the last solved master LP used (none solved yet: infinite).
    let mut last_artificial = f64::INFINITY;
    loop {
        iterations += 1;
        // The master LP shares the column generation's budget (60% of the limit).
        model.set_option(
            "time_limit",
            (options.time_limit_s * 0.6 - elapsed()).max(0.05),
        );
        let solved = model.try_solve().map_err(|e| {
            log(|| format!("master LP failed: {e:?}"));
            Failure::Unsolved
        })?;
        if solved.status() != HighsModelStatus::Optimal {
            log(|| format!("master LP: {:?}", solved.status()));
            if last_artificial <= 1e-6 {
                // A master LP that stalls ends the column generation, not the decomposition:
                // the patterns so far and the best bound so far still make a plan.
                break;
            }
            return Err(Failure::Unsolved);
        }
        let objective = solved.objective_value();
        let solution = solved.get_solution();
        let raw = solution.dual_rows();
        let y = clamp_duals(m, &st, &raw[..nk]);
        let mu = &raw[nk..nk + nb];
        for (k, &r) in st.coupling.iter().enumerate() {
            duals_out[r] = raw[k];
        }
        lambda = solution.columns()[first_pattern_column..].to_vec();
        let artificial_used: f64 = solution.columns()
            [st.master_columns.len()..first_pattern_column]
            .iter()
            .sum();
        last_artificial = artificial_used;
        let weights = reduced_costs(m, &st, &y);
        let priced = match price_all(m, &st, &weights, pricing_limit) {
            Ok(priced) => priced,
            // Out of the round's time: like a stalled master, the end of the column
            // generation, not of the decomposition, once the patterns fit together.
            Err(Failure::Unsolved) if last_artificial <= 1e-6 => {
                log(|| "pricing out of time".into());
                break;
            }
            Err(e) => return Err(e),
        };

        let bound = lagrangian_bound(m, &st, &y, &weights, &priced);
        if bound.is_finite() {
            best_bound = best_bound.max(bound);
        }

        log(|| {
            format!(
                "round {iterations}: master LP {objective:.2}, bound {bound:.2} (best {best_bound:.2}), artificial {artificial_used:.3}, {} patterns, {:.2} s",
                patterns.len(),
                elapsed()
            )
        });
        let mut model_next: highs::Model = solved.into();
        let mut added = 0;
        for (b, p) in priced.into_iter().enumerate() {
            let weight: f64 = p.pattern.values.iter().map(|&(c, v)| weights[c] * v).sum();
            let tolerance = 1e-9 * (1.0 + weight.abs().max(mu[b].abs()));
            if weight - mu[b] < -tolerance && known.insert(key(&p.pattern)) {
                add_pattern(
                    &mut |cost, factors| {
                        model_next.add_col(cost, 0.0.., factors);
                    },
                    &p.pattern,
                );
                patterns.push(p.pattern);
                added += 1;
            }
        }
        model = model_next;
        if let Some(known) = incumbent
            && crate::lp::relative_gap(known, best_bound) <= options.relative_gap
        {
            log(|| format!("the plan in hand is within the gap of bound {best_bound:.2}"));
            return Err(Failure::Beaten { bound: best_bound });
        }
        let lp_gap = (objective - best_bound) / objective.abs().max(1.0);
        let done = added == 0 || lp_gap <= options.relative_gap * 0.2;
        if done || elapsed() > options.time_limit_s * 0.6 || iterations >= 1000 {
            if artificial_used > 1e-6 {
                // Even mixing patterns cannot meet the coupling rows.
                return Err(if done {
                    Failure::Infeasible
                } else {
                    Failure::Unsolved
                });
            }
            break;
        }
    }

    let remaining = (options.time_limit_s - elapsed()).max(0.05);
    let (objective, values) =
        plan_from_patterns(m, &st, &patterns, &lambda, best_bound, remaining, options)?;
    let solved = Solved {
        outcome: Outcome::Optimal,
        objective,
        bound: best_bound,
        gap: 0.0,
        seconds: elapsed(),
        values,
        duals: duals_out,
        failure: None,
    };
    Ok(Decomposed {
        solved: solved.with_bound(best_bound, options.relative_gap),
        iterations,
        patterns: patterns.len(),
    })
}

/// The plan from the patterns found, within `time_limit_s`: one pattern per block in a MILP
/// over them; if that is not within the gap of `best_bound`, the blocks the last master LP
/// (`lambda`) took whole are fixed and HiGHS re-decides the others over all their candidates.
/// The better plan's objective and column values.
fn plan_from_patterns(
    m: &LinearModel,
    st: &Structure,
    patterns: &[Pattern],
    lambda: &[f64],
    best_bound: f64,
    time_limit_s: f64,
    options: &SolveOptions,
) -> Result<(f64, Vec<f64>), Failure> {
    let start = Instant::now();
    // The plan: one pattern per block, in a MILP over the patterns found.
    let (mut pb, rows, convexity) = master_problem(m, st, true);
    for p in patterns {
        let (cost, coeffs) = pattern_column(m, st, p);
        let mut factors: Vec<(highs::Row, f64)> =
            coeffs.into_iter().map(|(k, a)| (rows[k], a)).collect();
        factors.push((convexity[p.block], 1.0));
        pb.add_column_with_integrality(cost, 0.0..=1.0, factors, true);
    }
    let mut model = pb
        .try_optimise(Sense::Minimise)
        .map_err(|_| Failure::Unsolved)?;
    crate::lp::configure(&mut model, time_limit_s * 0.5, options.relative_gap * 0.5);
    let solved = model.try_solve().map_err(|_| Failure::Unsolved)?;
    let mut best: Option<(f64, Vec<f64>)> = None;
    let gap_to = |objective: f64| (objective - best_bound) / objective.abs().max(1e-9);
    if crate::lp::has_feasible_solution(&solved) {
        let chosen = solved.get_solution();
        let chosen = chosen.columns();
        let mut values = vec![0.0; m.columns.len()];
        for (i, &c) in st.master_columns.iter().enumerate() {
            values[c] = if m.columns[c].integer {
                chosen[i].round()
            } else {
                chosen[i]
            };
        }
        let offset = st.master_columns.len();
        for (p, &v) in patterns.iter().zip(&chosen[offset..]) {
            if v > 0.5 {
                for &(c, x) in &p.values {
                    values[c] = x;
                }
            }
        }
        best = Some((m.cost_of(&values), values));
    }
    if best
        .as_ref()
        .is_none_or(|(objective, _)| gap_to(*objective) > options.relative_gap)
    {
        // Patterns alone combine badly when the coupling rows bind on few blocks: keep the
        // blocks the master LP already takes whole, and let HiGHS re-decide the others over
        // all their candidates.
        let mut fixed = m.clone();
        for (p, &l) in patterns.iter().zip(lambda) {
            if l > 1.0 - 1e-6 {
                for &c in &st.blocks[p.block].columns {
                    let v = p
                        .values
                        .iter()
                        .find(|&&(pc, _)| pc == c)
                        .map_or(0.0, |&(_, v)| v);
                    fixed.columns[c].lower = v;
                    fixed.columns[c].upper = v;
                }
            }
        }
        let remaining = (time_limit_s - start.elapsed().as_secs_f64()).max(0.05);
        let repaired = crate::lp::solve(
            &fixed,
            &SolveOptions {
                time_limit_s: remaining,
                relative_gap: options.relative_gap * 0.5,
                relax: false,
            },
        );
        if matches!(repaired.outcome, Outcome::Optimal | Outcome::TimeLimit) {
            let objective = m.cost_of(&repaired.values);
            if best.as_ref().is_none_or(|(b, _)| objective < *b) {
                best = Some((objective, repaired.values));
            }
        }
    }
    best.ok_or(Failure::Unsolved)
}

/// Lagrangian bound at prices `y`: `L(y) = Σ rows y·rhs + Σ master columns min over their box
/// + Σ blocks their cheapest pattern`. Valid for the MILP at any sign-correct `y`.
fn lagrangian_bound(
    m: &LinearModel,
    st: &Structure,
    y: &[f64],
    weights: &[f64],
    priced: &[Priced],
) -> f64 {
    let mut bound = 0.0;
    for (k, &r) in st.coupling.iter().enumerate() {
        let row = &m.rows[r];
        bound += if y[k] > 0.0 {
            y[k] * row.lower
        } else if y[k] < 0.0 {
            y[k] * row.upper
        } else {
            0.0
        };
    }
    for &c in &st.master_columns {
        let col = &m.columns[c];
        let w = weights[c];
        bound += if w >= 0.0 {
            w * col.lower
        } else {
            w * col.upper
        };
    }
    bound + priced.iter().map(|p| p.lower_bound).sum::<f64>()
}

/// Artificial slacks on the master's coupling rows, priced far above anything a unit of the
/// row can be worth, so the first patterns need not fit together; how many were added.
fn add_artificials(
    pb: &mut ColProblem,
    m: &LinearModel,
    st: &Structure,
    rows: &[highs::Row],
) -> usize {
    let mut artificials = 0;
    for (k, &r) in st.coupling.iter().enumerate() {
        let row = &m.rows[r];
        let worth = row
            .coefficients
            .iter()
            .filter(|&&(_, a)| a.abs() > 1e-9)
            .map(|&(c, a)| m.columns[c].cost.abs() / a.abs())
            .fold(1.0, f64::max);
        let penalty = 100.0 * worth;
        if row.lower.is_finite() {
            pb.add_column(penalty, 0.0.., [(rows[k], 1.0)]);
            artificials += 1;
        }
        if row.upper.is_finite() {
            pb.add_column(penalty, 0.0.., [(rows[k], -1.0)]);
            artificials += 1;
        }
    }
    artificials
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every integer point of the box, the cheapest meeting `ok`.
    fn brute_force(
        weights: &[f64],
        upper: &[f64],
        ok: impl Fn(&[f64]) -> bool,
    ) -> Option<(f64, Vec<f64>)> {
        let n = weights.len();
        let mut x = vec![0.0; n];
        let mut best: Option<(f64, Vec<f64>)> = None;
        loop {
            if ok(&x) {
                let w: f64 = x.iter().zip(weights).map(|(a, b)| a * b).sum();
                if best.as_ref().is_none_or(|(b, _)| w < *b - 1e-9) {
                    best = Some((w, x.clone()));
                }
            }
            let mut i = 0;
            loop {
                if i == n {
                    return best;
                }
                if x[i] < upper[i] {
                    x[i] += 1.0;
                    break;
                }
                x[i] = 0.0;
                i += 1;
            }
        }
    }

    fn item() -> impl Strategy<Value = (f64, f64, f64, usize)> {
        (0.5f64..10.0, 0.5f64..8.0, 0usize..4, 0usize..3).prop_map(|(w, a, u, v)| {
            (
                (w * 4.0).round() / 4.0,
                (a * 2.0).round() / 2.0,
                u as f64,
                v,
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The cover pricer is exact: it matches enumeration of every integer point.
        #[test]
        fn cheapest_cover_matches_enumeration(
            items in proptest::collection::vec(item(), 1..6),
            demand in 0.5f64..20.0,
        ) {
            let weights: Vec<f64> = items.iter().map(|i| i.0).collect();
            let work: Vec<f64> = items.iter().map(|i| i.1).collect();
            let upper: Vec<f64> = items.iter().map(|i| i.2).collect();
            let found = cheapest_cover(&weights, &work, &upper, demand).expect("small");
            let truth = brute_force(&weights, &upper, |x| {
                x.iter().zip(&work).map(|(a, b)| a * b).sum::<f64>() >= demand - 1e-9
            });
            match (found, truth) {
                (None, None) => {}
                (Some((w, x)), Some((t, _))) => {
                    prop_assert!((w - t).abs() < 1e-9, "found {w}, truth {t}");
                    let cover: f64 = x.iter().zip(&work).map(|(a, b)| a * b).sum();
                    prop_assert!(cover >= demand - 1e-9);
                }
                (f, t) => prop_assert!(false, "found {f:?}, truth {t:?}"),
            }
        }

        /// The vendor-rule pricer is exact: it matches enumeration under the same rules
        /// (fraction cap, minimum vendors, surviving the loss of any one failure domain).
        #[test]
        fn cheapest_ruled_matches_enumeration(
            items in proptest::collection::vec(item(), 1..6),
            demand in 0.5f64..20.0,
            fraction in proptest::option::of(0.5f64..0.9),
            min_vendors in proptest::option::of(2usize..3),
            resilience in proptest::option::of((0.1f64..0.9, proptest::collection::vec(0usize..3, 6))),
        ) {
            let weights: Vec<f64> = items.iter().map(|i| i.0).collect();
            let work: Vec<f64> = items.iter().map(|i| i.1).collect();
            let upper: Vec<f64> = items.iter().map(|i| i.2).collect();
            let vendor: Vec<Option<usize>> = items.iter().map(|i| Some(i.3)).collect();
            let counts = min_vendors.map(|m| Counts {
                floor: demand / (2.0 * m as f64),
                m,
                binary: vec![usize::MAX; 3],
            });
            let domains = resilience.as_ref().map(|(served, of)| Domains {
                of: of[..items.len()].to_vec(),
                keep: vec![served * demand; 3],
            });
            let ruled = Ruled {
                rows: Vec::new(),
                demand,
                work: work.clone(),
                vendor: vendor.clone(),
                vendors: 3,
                fraction,
                counts,
                resilience: domains,
                sub: LinearModel::default(),
            };
            let tol = 1e-9 * demand.max(1.0);
            let found = cheapest_ruled(&ruled, &weights, &upper).expect("small");
            let truth = brute_force(&weights, &upper, |x| {
                let mut by_vendor = [0.0; 3];
                let mut total = 0.0;
                for j in 0..x.len() {
                    by_vendor[vendor[j].unwrap()] += x[j] * work[j];
                    total += x[j] * work[j];
                }
                total >= demand - tol
                    && fraction.is_none_or(|f| by_vendor.iter().all(|&t| t <= f * total + tol))
                    && min_vendors.is_none_or(|m| {
                        by_vendor.iter().filter(|&&t| t >= demand / (2.0 * m as f64) - tol).count() >= m
                    })
                    && resilience.as_ref().is_none_or(|(served, of)| {
                        (0..3).all(|d| {
                            let kept: f64 = (0..x.len()).filter(|&j| of[j] != d).map(|j| x[j] * work[j]).sum();
                            kept >= served * demand - tol
                        })
                    })
            });
            match (found, truth) {
                (None, None) => {}
                (Some((w, _)), Some((t, _))) => prop_assert!((w - t).abs() < 1e-9, "found {w}, truth {t}"),
                (f, t) => prop_assert!(false, "found {f:?}, truth {t:?}"),
            }
        }
    }
}
