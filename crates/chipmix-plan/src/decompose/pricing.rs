//! Pricing: each block's cheapest pattern for the master's duals — an exact branch-and-bound
//! for covers and vendor rules, HiGHS for anything else.

use super::*;

/// One integer solution of a block.
#[derive(Clone, Debug)]
pub(super) struct Pattern {
    pub(super) block: usize,
    /// (model column, value), nonzero values only.
    pub(super) values: Vec<(usize, f64)>,
}

/// A block's cheapest pattern under `weights`, and a proven lower bound on its weight (equal
/// to the pattern's weight when pricing is exact).
pub(super) struct Priced {
    pub(super) pattern: Pattern,
    pub(super) lower_bound: f64,
}

pub(super) enum PriceError {
    /// The block has no integer solution at all: the portfolio is infeasible.
    Infeasible,
    /// Pricing failed (unbounded weights, solver trouble): give up the decomposition.
    Failed,
}

/// Most branch-and-bound nodes the cover pricer explores before handing the block to HiGHS.
pub(super) const COVER_NODE_LIMIT: usize = 5_000;

/// Cheapest integer units `x ≤ upper` with `Σ a·x ≥ demand` under `weights`: depth-first
/// branch-and-bound over units by cost per unit of work, bounded by the fractional cover.
/// `None` when no units cover the demand; `Err` past the node limit.
pub(super) fn cheapest_cover(
    weights: &[f64],
    work: &[f64],
    upper: &[f64],
    demand: f64,
) -> Result<Option<(f64, Vec<f64>)>, ()> {
    let n = weights.len();
    let tol = 1e-9 * demand.abs().max(1.0);
    let mut x = vec![0.0; n];
    let mut need = demand;
    let mut base = 0.0;
    // Units that cost nothing or less are all taken: the row is `≥`, more never hurts.
    for i in 0..n {
        if weights[i] <= 0.0 && upper[i] > 0.0 {
            x[i] = upper[i];
            need -= work[i] * upper[i];
            base += weights[i] * upper[i];
        }
    }
    if need <= tol {
        return Ok(Some((base, x)));
    }
    let mut order: Vec<usize> = (0..n)
        .filter(|&i| weights[i] > 0.0 && upper[i] >= 1.0)
        .collect();
    order.sort_by(|&a, &b| {
        (weights[a] / work[a])
            .total_cmp(&(weights[b] / work[b]))
            .then(work[b].total_cmp(&work[a]))
    });
    let mut suffix = vec![0.0; order.len() + 1];
    for k in (0..order.len()).rev() {
        suffix[k] = suffix[k + 1] + work[order[k]] * upper[order[k]];
    }
    if suffix[0] < need - tol {
        return Ok(None);
    }
    struct Search<'a> {
        order: &'a [usize],
        suffix: &'a [f64],
        weights: &'a [f64],
        work: &'a [f64],
        upper: &'a [f64],
        tol: f64,
        counts: Vec<f64>,
        best: f64,
        best_counts: Vec<f64>,
        nodes: usize,
    }
    impl Search<'_> {
        /// The fractional cover of `need` by items `k..`: a lower bound on their cost.
        fn bound(&self, k: usize, mut need: f64) -> f64 {
            let mut cost = 0.0;
            for &i in &self.order[k..] {
                if need <= self.tol {
                    break;
                }
                let take = (need / self.work[i]).min(self.upper[i]);
                cost += take * self.weights[i];
                need -= take * self.work[i];
            }
            cost
        }
        fn dfs(&mut self, k: usize, need: f64, cost: f64) -> Result<(), ()> {
            if need <= self.tol {
                if cost < self.best {
                    self.best = cost;
                    self.best_counts.clone_from(&self.counts);
                }
                return Ok(());
            }
            if k == self.order.len() || self.suffix[k] < need - self.tol {
                return Ok(());
            }
            if self.best.is_finite()
                && cost + self.bound(k, need) >= self.best - 1e-12 * self.best.abs()
            {
                return Ok(());
            }
            self.nodes += 1;
            if self.nodes > COVER_NODE_LIMIT {
                return Err(());
            }
            let i = self.order[k];
            let most = ((need - self.tol) / self.work[i])
                .ceil()
                .clamp(0.0, self.upper[i]);
            let mut c = most;
            while c >= 0.0 {
                self.counts[i] = c;
                self.dfs(k + 1, need - c * self.work[i], cost + c * self.weights[i])?;
                c -= 1.0;
            }
            self.counts[i] = 0.0;
            Ok(())
        }
    }
    let mut s = Search {
        order: &order,
        suffix: &suffix,
        weights,
        work,
        upper,
        tol,
        counts: vec![0.0; n],
        best: f64::INFINITY,
        best_counts: Vec::new(),
        nodes: 0,
    };
    s.dfs(0, need, 0.0)?;
    if !s.best.is_finite() {
        return Ok(None);
    }
    for &i in &order {
        x[i] = s.best_counts[i];
    }
    Ok(Some((base + s.best, x)))
}

/// Whether block-local values `x` meet the block's rows.
pub(super) fn satisfies_rows(
    m: &LinearModel,
    rows: &[usize],
    columns: &[usize],
    x: &[f64],
) -> bool {
    let value: std::collections::HashMap<usize, f64> =
        columns.iter().copied().zip(x.iter().copied()).collect();
    rows.iter().all(|&r| {
        let row = &m.rows[r];
        let activity: f64 = row
            .coefficients
            .iter()
            .map(|&(c, a)| a * value.get(&c).copied().unwrap_or(0.0))
            .sum();
        let scale = 1e-7 * row.lower.abs().max(row.upper.abs()).clamp(1.0, 1e12);
        activity >= row.lower - scale && activity <= row.upper + scale
    })
}

/// The branch-and-bound of [`cheapest_ruled`]: units taken one at a time in order of cost per
/// unit of work, bounded by a fraction-capped cover and the missing counted vendors.
struct Search<'a> {
    r: &'a Ruled,
    order: &'a [usize],
    weights: &'a [f64],
    upper: &'a [f64],
    tol: f64,
    /// The item just before each in the order that differs only in weight (same work,
    /// vendor and failure domain): while it has units left, this one is never needed —
    /// swapping them costs no more.
    twin: Vec<Option<usize>>,
    total: f64,
    by_vendor: Vec<f64>,
    by_domain: Vec<f64>,
    counts: Vec<f64>,
    best: f64,
    best_counts: Vec<f64>,
    nodes: usize,
}

impl Search<'_> {
    fn cover(&self, k: usize, mut need: f64, only: impl Fn(usize) -> bool) -> f64 {
        let mut cost = 0.0;
        for &i in &self.order[k..] {
            if need <= self.tol {
                return cost;
            }
            if !only(i) {
                continue;
            }
            let take = (need / self.r.work[i]).min(self.upper[i] - self.counts[i]);
            cost += take * self.weights[i];
            need -= take * self.r.work[i];
        }
        if need <= self.tol {
            cost
        } else {
            f64::INFINITY
        }
    }
    fn counted(&self) -> usize {
        match &self.r.counts {
            Some(c) => self
                .by_vendor
                .iter()
                .filter(|&&t| t >= c.floor - self.tol)
                .count(),
            None => 0,
        }
    }
    fn feasible(&self) -> bool {
        self.total >= self.r.demand - self.tol
            && self.r.fraction.is_none_or(|f| {
                self.by_vendor
                    .iter()
                    .all(|&t| t <= f * self.total + self.tol)
            })
            && self.r.counts.as_ref().is_none_or(|c| self.counted() >= c.m)
            && self.resilience_deficits().is_empty()
    }
    /// The fractional cover with every vendor held to its fraction of the total, at the
    /// smallest total the demand and the work already placed allow (more total only
    /// costs more).
    fn capped_cover(&self, k: usize, f: f64) -> f64 {
        let target = self
            .by_vendor
            .iter()
            .fold(self.r.demand.max(self.total), |t, &v| t.max(v / f));
        let mut room: Vec<f64> = self.by_vendor.iter().map(|&t| f * target - t).collect();
        let mut need = target - self.total;
        let mut cost = 0.0;
        for &i in &self.order[k..] {
            if need <= self.tol {
                return cost;
            }
            let v = self.r.vendor[i].unwrap_or(0);
            let work = ((self.upper[i] - self.counts[i]) * self.r.work[i])
                .min(room[v])
                .min(need);
            if work <= 0.0 {
                continue;
            }
            cost += work / self.r.work[i] * self.weights[i];
            room[v] -= work;
            need -= work;
        }
        if need <= self.tol {
            cost
        } else {
            f64::INFINITY
        }
    }
    /// Whole units: covering `need` with units of `k..` (of vendors `only`) takes at least
    /// `need / largest unit` of them, each at least the cheapest unit's weight.
    fn unit_bound(&self, k: usize, need: f64, only: impl Fn(usize) -> bool) -> f64 {
        if need <= self.tol {
            return 0.0;
        }
        let (mut largest, mut cheapest) = (0.0f64, f64::INFINITY);
        for &i in &self.order[k..] {
            if only(i) {
                largest = largest.max(self.r.work[i] * (self.upper[i] - self.counts[i]).min(1.0));
                cheapest = cheapest.min(self.weights[i]);
            }
        }
        if largest <= 0.0 {
            return f64::INFINITY;
        }
        ((need - self.tol) / largest).ceil().max(1.0) * cheapest
    }
    fn bound(&self, k: usize) -> f64 {
        let mut b = match self.r.fraction {
            Some(f) => self.capped_cover(k, f),
            None => self.cover(k, self.r.demand - self.total, |_| true),
        };
        b = b.max(self.unit_bound(k, self.r.demand - self.total, |_| true));
        if let Some(f) = self.r.fraction {
            for (v, &t) in self.by_vendor.iter().enumerate() {
                if t > f * self.total + self.tol {
                    b = b.max(
                        self.unit_bound(k, t / f - self.total, |i| self.r.vendor[i] != Some(v)),
                    );
                }
            }
        }
        if let Some(c) = &self.r.counts {
            let missing = c.m.saturating_sub(self.counted());
            if missing > 0 {
                let mut costs: Vec<f64> = self
                    .by_vendor
                    .iter()
                    .enumerate()
                    .filter(|&(_, &t)| t < c.floor - self.tol)
                    .map(|(v, &t)| {
                        let own = |i: usize| self.r.vendor[i] == Some(v);
                        self.cover(k, c.floor - t, own)
                            .max(self.unit_bound(k, c.floor - t, own))
                    })
                    .collect();
                costs.sort_by(f64::total_cmp);
                let sum: f64 = if costs.len() < missing {
                    f64::INFINITY
                } else {
                    costs[..missing].iter().sum()
                };
                b = b.max(sum);
            }
        }
        // Losing a domain: the others must still cover what it leaves short. Only the
        // largest shortfall is bounded: each is a valid bound, and scanning every domain
        // at every node costs more than the pruning it adds.
        if let Some(d) = &self.r.resilience
            && let Some((x, short)) = self
                .resilience_deficits()
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
        {
            let elsewhere = |i: usize| d.of[i] != x;
            b = b
                .max(self.cover(k, short, elsewhere))
                .max(self.unit_bound(k, short, elsewhere));
        }
        b
    }
    fn left(&self, i: usize) -> f64 {
        self.upper[i] - self.counts[i]
    }
    fn add(&mut self, i: usize, units: f64) {
        let v = self.r.vendor[i].expect("units have a vendor");
        self.counts[i] += units;
        self.total += units * self.r.work[i];
        self.by_vendor[v] += units * self.r.work[i];
        if let Some(d) = &self.r.resilience {
            self.by_domain[d.of[i]] += units * self.r.work[i];
        }
    }
    /// Per failure domain with a shortfall: the domain and the work the others still owe.
    fn resilience_deficits(&self) -> Vec<(usize, f64)> {
        let Some(d) = &self.r.resilience else {
            return Vec::new();
        };
        d.keep
            .iter()
            .zip(&self.by_domain)
            .enumerate()
            .map(|(x, (&keep, &lost))| (x, keep - (self.total - lost)))
            .filter(|&(_, short)| short > self.tol)
            .collect()
    }
    /// What a branch must beat to be explored (no limit before a first plan: `∞ − ∞` would
    /// be NaN and prune everything).
    fn threshold(&self) -> f64 {
        if self.best.is_finite() {
            self.best - 1e-12 * self.best.abs()
        } else {
            f64::INFINITY
        }
    }
    fn record(&mut self, cost: f64) {
        if cost < self.best {
            self.best = cost;
            self.best_counts.clone_from(&self.counts);
        }
    }
    /// A first plan to prune with: add, one unit at a time, the unit whose cost plus bound
    /// afterwards is least.
    fn dive(&mut self) {
        let mut added = Vec::new();
        let mut cost = 0.0;
        while !self.feasible() {
            let mut pick = None;
            for k in 0..self.order.len() {
                let i = self.order[k];
                if self.left(i) < 1.0 {
                    continue;
                }
                self.add(i, 1.0);
                let b = self.weights[i] + self.bound(0);
                self.add(i, -1.0);
                if b.is_finite() && pick.is_none_or(|(_, best)| b < best) {
                    pick = Some((i, b));
                }
            }
            let Some((i, _)) = pick else { break };
            self.add(i, 1.0);
            added.push(i);
            cost += self.weights[i];
        }
        if self.feasible() {
            self.record(cost);
        }
        for i in added {
            self.add(i, -1.0);
        }
    }
    /// Whether a unit can still be part of a cheapest plan. Without a fraction cap every
    /// rule is "at least": a unit added once the demand is covered and its vendor counted
    /// can be taken out again, so it is never needed. A fraction cap can make any unit
    /// useful later.
    fn helps(&self, i: usize) -> bool {
        if self.r.fraction.is_some() || self.total < self.r.demand - self.tol {
            return true;
        }
        let v = self.r.vendor[i].expect("units have a vendor");
        self.r
            .counts
            .as_ref()
            .is_some_and(|c| self.by_vendor[v] < c.floor - self.tol)
            || self.r.resilience.as_ref().is_some_and(|d| {
                self.resilience_deficits()
                    .iter()
                    .any(|&(x, _)| d.of[i] != x)
            })
    }
    /// Adds units in the order's sequence (a multiset, each once), pruned by the bound.
    fn dfs(&mut self, k: usize, cost: f64) -> Result<(), ()> {
        if self.feasible() {
            self.record(cost);
            return Ok(());
        }
        self.nodes += 1;
        if self.nodes > COVER_NODE_LIMIT {
            return Err(());
        }
        for next in k..self.order.len() {
            let i = self.order[next];
            if self.left(i) < 1.0
                || self.twin[i].is_some_and(|t| self.left(t) >= 1.0)
                || !self.helps(i)
            {
                continue;
            }
            self.add(i, 1.0);
            let child = cost + self.weights[i];
            let promising = child + self.bound(next) < self.threshold();
            let result = if promising {
                self.dfs(next, child)
            } else {
                Ok(())
            };
            self.add(i, -1.0);
            result?;
        }
        Ok(())
    }
}

/// The cheapest units for a service with vendor rules or resilience under `weights`:
/// depth-first branch-and-bound over units by cost per unit of work. Each node is bounded by
/// the largest of four fractional covers, each a relaxation: the demand left; for a vendor over
/// its fraction, the work other vendors must add; for missing vendors, the cheapest ones
/// brought to the counted floor; for a failure domain whose loss leaves too little, the work
/// the other domains must add. `Err` when a weight is not positive or past the node limit.
pub(super) fn cheapest_ruled(
    r: &Ruled,
    weights: &[f64],
    upper: &[f64],
) -> Result<Option<(f64, Vec<f64>)>, ()> {
    let n = weights.len();
    let units: Vec<usize> = (0..n)
        .filter(|&j| r.work[j] > 0.0 && upper[j] >= 1.0)
        .collect();
    if units.iter().any(|&j| weights[j] <= 0.0) {
        return Err(());
    }
    let mut order = units;
    order.sort_by(|&a, &b| {
        (weights[a] / r.work[a])
            .total_cmp(&(weights[b] / r.work[b]))
            .then(r.work[b].total_cmp(&r.work[a]))
    });
    let mut twin = vec![None; n];
    let mut last: HashMap<(u64, Option<usize>, usize), usize> = HashMap::new();
    for &i in &order {
        let domain = r.resilience.as_ref().map_or(0, |d| d.of[i]);
        twin[i] = last.insert((r.work[i].to_bits(), r.vendor[i], domain), i);
    }
    let mut s = Search {
        r,
        order: &order,
        twin,
        weights,
        upper,
        tol: 1e-9 * r.demand.abs().max(1.0),
        total: 0.0,
        by_vendor: vec![0.0; r.vendors],
        by_domain: vec![0.0; r.resilience.as_ref().map_or(0, |d| d.keep.len())],
        counts: vec![0.0; n],
        best: f64::INFINITY,
        best_counts: Vec::new(),
        nodes: 0,
    };
    s.dive();
    s.dfs(0, 0.0)?;
    if !s.best.is_finite() {
        return Ok(None);
    }
    let mut x = s.best_counts;
    if let Some(c) = &r.counts {
        let mut by_vendor = vec![0.0; r.vendors];
        for ((v, units), work) in r.vendor.iter().zip(&x).zip(&r.work) {
            if let Some(v) = v {
                by_vendor[*v] += units * work;
            }
        }
        for (v, &j) in c.binary.iter().enumerate() {
            if j != usize::MAX {
                x[j] = if by_vendor[v] >= c.floor - s.tol {
                    1.0
                } else {
                    0.0
                };
            }
        }
    }
    Ok(Some((s.best, x)))
}

pub(super) fn price(
    m: &LinearModel,
    block: &Block,
    b: usize,
    weights: &[f64],
    time_limit_s: f64,
) -> Result<Priced, PriceError> {
    let w: Vec<f64> = block.columns.iter().map(|&c| weights[c]).collect();
    let pattern = |values: Vec<(usize, f64)>| Pattern {
        block: b,
        values: values.into_iter().filter(|&(_, v)| v != 0.0).collect(),
    };
    match &block.pricing {
        Pricing::ChooseOne => {
            let best = (0..w.len())
                .filter(|&i| m.columns[block.columns[i]].upper >= 1.0)
                .min_by(|&a, &b| w[a].total_cmp(&w[b]))
                .ok_or(PriceError::Infeasible)?;
            Ok(Priced {
                pattern: pattern(vec![(block.columns[best], 1.0)]),
                lower_bound: w[best],
            })
        }
        Pricing::Cover { demand, work, sub } => {
            match cheapest_cover(&w, work, &block.upper, *demand) {
                Ok(Some((weight, x))) => Ok(Priced {
                    pattern: pattern(block.columns.iter().copied().zip(x).collect()),
                    lower_bound: weight,
                }),
                Ok(None) => Err(PriceError::Infeasible),
                // Too many nodes: let HiGHS solve the same cover.
                Err(()) => price_general(sub, block, b, &w, time_limit_s),
            }
        }
        Pricing::Ruled(r) => {
            match cheapest_ruled(r, &w, &block.upper) {
                Ok(Some((weight, x))) if satisfies_rows(m, &r.rows, &block.columns, &x) => {
                    Ok(Priced {
                        pattern: pattern(block.columns.iter().copied().zip(x).collect()),
                        lower_bound: weight,
                    })
                }
                // Past the node limit, or (never seen) a pattern its rows refuse: HiGHS decides.
                _ => price_general(&r.sub, block, b, &w, time_limit_s),
            }
        }
        Pricing::General(sub) => price_general(sub, block, b, &w, time_limit_s),
    }
}

pub(super) fn price_general(
    sub: &LinearModel,
    block: &Block,
    b: usize,
    w: &[f64],
    time_limit_s: f64,
) -> Result<Priced, PriceError> {
    let mut sub = sub.clone();
    for (col, &weight) in sub.columns.iter_mut().zip(w) {
        col.cost = weight;
    }
    let solved = crate::lp::solve(
        &sub,
        &SolveOptions {
            time_limit_s,
            relative_gap: 1e-9,
            relax: false,
        },
    );
    match solved.outcome {
        Outcome::Optimal | Outcome::TimeLimit => Ok(Priced {
            pattern: Pattern {
                block: b,
                values: block
                    .columns
                    .iter()
                    .zip(&solved.values)
                    .zip(&sub.columns)
                    .filter(|&((_, v), _)| v.abs() > 1e-9)
                    .map(|((&c, &v), col)| {
                        // Integer columns come back within HiGHS's tolerance: snap them.
                        (c, if col.integer { v.round() } else { v })
                    })
                    .collect(),
            },
            lower_bound: if solved.bound.is_finite() {
                solved.bound.min(solved.objective)
            } else {
                f64::NEG_INFINITY
            },
        }),
        Outcome::Infeasible => Err(PriceError::Infeasible),
        Outcome::NoSolution => Err(PriceError::Failed),
    }
}

/// Prices every block under `weights`, in parallel; results in block order.
pub(super) fn price_all(
    m: &LinearModel,
    st: &Structure,
    weights: &[f64],
    time_limit_s: f64,
) -> Result<Vec<Priced>, Failure> {
    use rayon::prelude::*;
    // One deadline for the whole round: blocks priced by a MILP each get what is left of it,
    // so a round of many blocks cannot run past the time it was given.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(time_limit_s);
    st.blocks
        .par_iter()
        .enumerate()
        .map(|(b, block)| {
            let left = deadline
                .saturating_duration_since(std::time::Instant::now())
                .as_secs_f64();
            if left <= 0.0 {
                return Err(Failure::Unsolved);
            }
            price(m, block, b, weights, left).map_err(|e| match e {
                PriceError::Infeasible => Failure::BlockInfeasible,
                PriceError::Failed => Failure::Unsolved,
            })
        })
        .collect()
}
