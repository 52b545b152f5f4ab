//! Rolling-horizon re-planning with the MILP solver: every period, HiGHS decides how many
//! instances each pool holds and where the backlog goes.
//!
//! Queued jobs are grouped by size (the trace has a dozen sizes, so the model stays small
//! however long the queue): integer `y[size, pool]` jobs of a size placed on a pool, integer
//! `h[pool]` instances held. Minimize the cost of the work placed (its chip-hours at the pool's
//! price, which rewards fast chips), plus the held instances for one period, plus a penalty for
//! jobs left queued, subject to: held chips cover running and placed jobs, supply limits, and a
//! pool that is down holds nothing new.

use crate::scenario::{FleetState, Replanner};
use chipmix_plan::lp::{self, LinearModel, Outcome, SolveOptions};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct MilpReplanner {
    /// The re-planning period, seconds: held instances are paid for this long.
    pub period_seconds: f64,
    /// Per solve.
    pub time_limit_s: f64,
    pub relative_gap: f64,
    /// Solves that hit the time limit or failed (the previous decision is then kept).
    pub failed_solves: u64,
    pub solves: u64,
    last: Vec<(usize, u32)>,
}

impl MilpReplanner {
    pub fn new(period_seconds: f64) -> MilpReplanner {
        MilpReplanner {
            period_seconds,
            time_limit_s: 2.0,
            relative_gap: 0.01,
            failed_solves: 0,
            solves: 0,
            last: Vec::new(),
        }
    }
}

impl Replanner for MilpReplanner {
    fn replan(&mut self, _at_seconds: f64, state: &FleetState) -> Vec<(usize, u32)> {
        let pools = &state.fleet.pools;
        // Jobs by size: count and mean remaining work on the reference chip.
        let mut sizes: BTreeMap<u32, (u32, f64)> = BTreeMap::new();
        for j in &state.queued {
            let e = sizes.entry(j.num_gpus).or_insert((0, 0.0));
            e.0 += 1;
            e.1 += j.remaining_reference_seconds;
        }
        let mut m = LinearModel::default();
        let mut chips_rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); pools.len()];
        let period_hours = (self.period_seconds / 3600.0).max(1e-6);
        let mut held = Vec::with_capacity(pools.len());
        for (i, p) in pools.iter().enumerate() {
            let s = &state.pools[i];
            let upper = if s.down {
                0.0
            } else {
                s.obtainable_instances.map_or(f64::INFINITY, f64::from)
            };
            // Running jobs keep their instances whatever the solve says.
            let floor = f64::from(s.busy_chips.div_ceil(p.chips_per_instance.max(1)));
            let h = m.column(
                format!("hold[{i}]"),
                s.usd_per_hour * period_hours,
                floor.min(upper.max(floor)),
                upper.max(floor),
                true,
            );
            chips_rows[i].push((h, f64::from(p.chips_per_instance)));
            held.push(h);
        }
        for (&n, &(count, work)) in &sizes {
            let mean_work = work / f64::from(count);
            let probe = crate::scenario::QueuedJob {
                job: 0,
                num_gpus: n,
                remaining_reference_seconds: mean_work,
            };
            let mut placed = Vec::new();
            let mut cheapest = f64::INFINITY;
            for (i, p) in pools.iter().enumerate() {
                if state.pools[i].down {
                    continue;
                }
                let Some(seconds) = state.seconds_on(&probe, i) else {
                    continue;
                };
                let cost = state.pools[i].usd_per_hour / f64::from(p.chips_per_instance)
                    * f64::from(n)
                    * seconds
                    / 3600.0;
                cheapest = cheapest.min(cost);
                let y = m.column(
                    format!("place[{n}][{i}]"),
                    cost,
                    0.0,
                    f64::from(count),
                    true,
                );
                chips_rows[i].push((y, -f64::from(n)));
                placed.push((y, 1.0));
            }
            if placed.is_empty() {
                continue;
            }
            // Leaving a job queued costs more than running it anywhere.
            let left = m.column(
                format!("queued[{n}]"),
                10.0 * cheapest.max(1.0),
                0.0,
                f64::from(count),
                false,
            );
            placed.push((left, 1.0));
            m.row(
                format!("jobs[{n}]"),
                f64::from(count),
                f64::from(count),
                placed,
            );
        }
        for (i, coeffs) in chips_rows.into_iter().enumerate() {
            let busy = f64::from(state.pools[i].busy_chips);
            m.row(format!("chips[{i}]"), busy, f64::INFINITY, coeffs);
        }
        self.solves += 1;
        let solved = lp::solve(
            &m,
            &SolveOptions {
                time_limit_s: self.time_limit_s,
                relative_gap: self.relative_gap,
                relax: false,
            },
        );
        if !matches!(solved.outcome, Outcome::Optimal | Outcome::TimeLimit) {
            self.failed_solves += 1;
            return self.last.clone();
        }
        let decision: Vec<(usize, u32)> = held
            .iter()
            .enumerate()
            .map(|(i, &col)| (i, solved.values[col].round().max(0.0) as u32))
            .filter(|(_, n)| *n > 0)
            .collect();
        self.last = decision.clone();
        decision
    }
}
