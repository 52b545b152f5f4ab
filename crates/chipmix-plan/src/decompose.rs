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
//! own, so the model it solves is the one [`crate::formulation`] writes.

use crate::formulation::RowKind;
use crate::lp::{LinearModel, Outcome, SolveOptions, Solved};
use highs::{ColProblem, HighsModelStatus, Sense};
use std::collections::HashMap;
use std::time::Instant;

/// The workload a row belongs to, when it constrains that workload alone.
fn row_block(kind: &RowKind) -> Option<usize> {
    match kind {
        RowKind::Demand { workload }
        | RowKind::TrainOnce { workload }
        | RowKind::ServiceVendorFraction { workload, .. }
        | RowKind::ServiceVendorCounts { workload, .. }
        | RowKind::ServiceMinVendors { workload }
        | RowKind::PlacementShare { workload }
        | RowKind::Resilience { workload, .. } => Some(*workload),
        RowKind::Capacity { .. }
        | RowKind::VendorShare { .. }
        | RowKind::Budget
        | RowKind::Commitment { .. }
        | RowKind::CommitmentLink { .. }
        | RowKind::OnDemand { .. }
        // Moving capacity ties a service's periods together: priced in the master, so each
        // period of a service is a block of its own.
        | RowKind::Migration { .. }
        | RowKind::Churn { .. }
        | RowKind::Credits { .. } => None,
    }
}

/// `CHIPMIX_DECOMPOSE_LOG=1` prints each column-generation round on stderr, for diagnosing a
/// slow or failed decomposition.
pub(crate) fn log(message: impl FnOnce() -> String) {
    if std::env::var_os("CHIPMIX_DECOMPOSE_LOG").is_some() {
        eprintln!("decomposition: {}", message());
    }
}

/// How a block's cheapest pattern is found.
enum Pricing {
    /// Exactly one of binary columns (a training job's run-once row).
    ChooseOne,
    /// Integer units covering a demand: one `≥` row with positive coefficients (`work`,
    /// per block column); HiGHS solves the same block (`sub`) past the node limit.
    Cover {
        demand: f64,
        work: Vec<f64>,
        sub: LinearModel,
    },
    /// A service with per-vendor rules (fraction cap, minimum vendors) or resilience rows,
    /// read off its rows:
    /// exact branch-and-bound of our own, HiGHS past the node limit.
    Ruled(Box<Ruled>),
    /// Anything else (rows of a shape the pricer does not know): a small MILP for HiGHS, with
    /// the block's columns renumbered from 0.
    General(LinearModel),
}

/// A service block's rules as its rows state them, per block column (block-local indices).
struct Ruled {
    /// The block's rows, for checking the pattern found.
    rows: Vec<usize>,
    demand: f64,
    /// Work per unit (the demand row's coefficient); 0 for the vendor-count binaries.
    work: Vec<f64>,
    /// Vendor (dense index) of each unit column; `None` for the vendor-count binaries.
    vendor: Vec<Option<usize>>,
    vendors: usize,
    /// Each vendor delivers at most this fraction of what the service gets.
    fraction: Option<f64>,
    /// At least `m` vendors deliver at least `floor` each; the binary of each vendor.
    counts: Option<Counts>,
    /// Losing any one failure domain leaves at least its `keep` of work.
    resilience: Option<Domains>,
    /// The same block for HiGHS.
    sub: LinearModel,
}

struct Domains {
    /// Failure domain (dense index) of each unit column; `usize::MAX` for the binaries.
    of: Vec<usize>,
    /// Per domain: the work the other domains must deliver without it.
    keep: Vec<f64>,
}

struct Counts {
    floor: f64,
    m: usize,
    binary: Vec<usize>,
}

struct Block {
    columns: Vec<usize>,
    /// Each column's upper bound in whole units.
    upper: Vec<f64>,
    pricing: Pricing,
}

struct Structure {
    blocks: Vec<Block>,
    /// Rows of the model that tie blocks together.
    coupling: Vec<usize>,
    /// Columns in no block (contracts): variables of the master itself.
    master_columns: Vec<usize>,
    /// Per model column: its coefficients in the coupling rows (index into `coupling`).
    column_coupling: Vec<Vec<(usize, f64)>>,
}

/// The blocks: a workload's own rows, split into the parts that share no column (a plan over
/// time with its migration rows in the master has one block per workload and period). `None`
/// when a row of one workload holds a column of another.
fn structure(m: &LinearModel, kinds: &[RowKind]) -> Option<Structure> {
    debug_assert_eq!(kinds.len(), m.rows.len(), "every row has a kind");
    // Union-find over block rows: two rows of a block share a column.
    let mut parent: Vec<usize> = (0..m.rows.len()).collect();
    fn root(parent: &mut [usize], mut r: usize) -> usize {
        while parent[r] != r {
            parent[r] = parent[parent[r]];
            r = parent[r];
        }
        r
    }
    fn join(parent: &mut [usize], a: usize, b: usize) {
        let (a, b) = (root(parent, a), root(parent, b));
        parent[a] = b;
    }
    let mut first_row_of_column: Vec<Option<usize>> = vec![None; m.columns.len()];
    let mut first_row_of_workload = std::collections::BTreeMap::new();
    let mut coupling = Vec::new();
    for (r, kind) in kinds.iter().enumerate() {
        let Some(w) = row_block(kind) else {
            coupling.push(r);
            continue;
        };
        let first = *first_row_of_workload.entry(w).or_insert(r);
        if m.rows[r].coefficients.is_empty() {
            // A row with no column (a rule no candidate can meet) stays with its workload:
            // alone it would be a block of nothing, and its infeasibility would be lost.
            join(&mut parent, first, r);
        }
        for &(col, _) in &m.rows[r].coefficients {
            match first_row_of_column[col] {
                None => first_row_of_column[col] = Some(r),
                Some(other) => {
                    if row_block(&kinds[other]) != Some(w) {
                        return None;
                    }
                    join(&mut parent, other, r);
                }
            }
        }
    }
    let mut block_of_root = std::collections::BTreeMap::new();
    let mut block_rows: Vec<Vec<usize>> = Vec::new();
    for (r, kind) in kinds.iter().enumerate() {
        if row_block(kind).is_none() {
            continue;
        }
        let b = *block_of_root
            .entry(root(&mut parent, r))
            .or_insert_with(|| {
                block_rows.push(Vec::new());
                block_rows.len() - 1
            });
        block_rows[b].push(r);
    }
    let mut column_block: Vec<Option<usize>> = vec![None; m.columns.len()];
    for (b, rows) in block_rows.iter().enumerate() {
        for &r in rows {
            for &(col, _) in &m.rows[r].coefficients {
                column_block[col] = Some(b);
            }
        }
    }
    let mut block_columns: Vec<Vec<usize>> = vec![Vec::new(); block_rows.len()];
    let mut master_columns = Vec::new();
    for (col, b) in column_block.iter().enumerate() {
        match b {
            Some(b) => block_columns[*b].push(col),
            None => master_columns.push(col),
        }
    }
    let mut column_coupling: Vec<Vec<(usize, f64)>> = vec![Vec::new(); m.columns.len()];
    for (k, &r) in coupling.iter().enumerate() {
        for &(col, a) in &m.rows[r].coefficients {
            if a != 0.0 {
                column_coupling[col].push((k, a));
            }
        }
    }
    let blocks = block_rows
        .into_iter()
        .zip(block_columns)
        .map(|(rows, columns)| {
            let pricing = pricing_of(m, kinds, &rows, &columns);
            let upper = columns
                .iter()
                .map(|&c| m.columns[c].upper.floor())
                .collect();
            Block {
                columns,
                upper,
                pricing,
            }
        })
        .collect();
    Some(Structure {
        blocks,
        coupling,
        master_columns,
        column_coupling,
    })
}

fn pricing_of(m: &LinearModel, kinds: &[RowKind], rows: &[usize], columns: &[usize]) -> Pricing {
    let local: std::collections::HashMap<usize, usize> =
        columns.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let sub = sub_model(m, rows, columns, &local);
    let integer_from_zero = columns.iter().all(|&c| {
        let col = &m.columns[c];
        col.integer && col.lower == 0.0 && col.upper.is_finite()
    });
    if let ([r], true) = (rows, integer_from_zero) {
        let row = &m.rows[*r];
        let spans_block = row.coefficients.len() == columns.len();
        match kinds[*r] {
            RowKind::TrainOnce { .. }
                if spans_block
                    && row.lower == 1.0
                    && row.upper == 1.0
                    && row.coefficients.iter().all(|&(_, a)| a == 1.0) =>
            {
                return Pricing::ChooseOne;
            }
            RowKind::Demand { .. }
                if spans_block
                    && row.lower.is_finite()
                    && row.upper == f64::INFINITY
                    && row.coefficients.iter().all(|&(_, a)| a > 0.0) =>
            {
                let mut work = vec![0.0; columns.len()];
                for &(c, a) in &row.coefficients {
                    work[local[&c]] = a;
                }
                return Pricing::Cover {
                    demand: row.lower,
                    work,
                    sub,
                };
            }
            _ => {}
        }
    }
    match ruled(m, kinds, rows, columns, &local) {
        Some(mut r) => {
            r.sub = sub;
            Pricing::Ruled(Box::new(r))
        }
        None => Pricing::General(sub),
    }
}

fn sub_model(
    m: &LinearModel,
    rows: &[usize],
    columns: &[usize],
    local: &std::collections::HashMap<usize, usize>,
) -> LinearModel {
    let mut sub = LinearModel::default();
    for &c in columns {
        let col = &m.columns[c];
        sub.column(col.name.clone(), 0.0, col.lower, col.upper, col.integer);
    }
    for &r in rows {
        let row = &m.rows[r];
        sub.row(
            row.name.clone(),
            row.lower,
            row.upper,
            row.coefficients
                .iter()
                .map(|&(c, a)| (local[&c], a))
                .collect(),
        );
    }
    sub
}

/// Reads a service's vendor rules off its rows; `None` when the rows are not exactly a demand
/// row plus fraction caps and vendor counts (resilience, or anything unforeseen).
fn ruled(
    m: &LinearModel,
    kinds: &[RowKind],
    rows: &[usize],
    columns: &[usize],
    local: &std::collections::HashMap<usize, usize>,
) -> Option<Ruled> {
    let n = columns.len();
    let mut work = vec![0.0; n];
    let mut demand = None;
    for &r in rows {
        if let RowKind::Demand { .. } = kinds[r] {
            let row = &m.rows[r];
            if demand.is_some() || row.upper != f64::INFINITY || !row.lower.is_finite() {
                return None;
            }
            demand = Some(row.lower);
            for &(c, a) in &row.coefficients {
                if a <= 0.0 {
                    return None;
                }
                work[local[&c]] = a;
            }
        }
    }
    let demand = demand?;
    let mut vendor_names: Vec<chipmix_catalog::Vendor> = Vec::new();
    let mut vendor: Vec<Option<usize>> = vec![None; n];
    let mut fraction: Option<f64> = None;
    let mut floor: Option<f64> = None;
    let mut m_needed: Option<usize> = None;
    let mut binary_of: Vec<(usize, usize)> = Vec::new();
    let mut domain: Vec<usize> = vec![usize::MAX; n];
    let mut keep: Vec<f64> = Vec::new();
    let vendor_index = |v: chipmix_catalog::Vendor, names: &mut Vec<chipmix_catalog::Vendor>| {
        names.iter().position(|x| *x == v).unwrap_or_else(|| {
            names.push(v);
            names.len() - 1
        })
    };
    for &r in rows {
        let row = &m.rows[r];
        match &kinds[r] {
            RowKind::Demand { .. } => {}
            RowKind::ServiceVendorCounts { vendor: v, .. } => {
                let vi = vendor_index(*v, &mut vendor_names);
                if row.lower != 0.0 || row.upper != f64::INFINITY {
                    return None;
                }
                for &(c, a) in &row.coefficients {
                    let j = local[&c];
                    if work[j] > 0.0 {
                        if (a - work[j]).abs() > 1e-9 * work[j]
                            || vendor[j].is_some_and(|x| x != vi)
                        {
                            return None;
                        }
                        vendor[j] = Some(vi);
                    } else {
                        if floor.is_some_and(|f| (f + a).abs() > 1e-9 * f.abs().max(1.0)) {
                            return None;
                        }
                        floor = Some(-a);
                        binary_of.push((vi, j));
                    }
                }
            }
            RowKind::ServiceMinVendors { .. } => {
                if m_needed.is_some() || row.upper != f64::INFINITY {
                    return None;
                }
                m_needed = Some(row.lower.round().max(0.0) as usize);
            }
            RowKind::ServiceVendorFraction { vendor: v, .. } => {
                let vi = vendor_index(*v, &mut vendor_names);
                if row.upper != 0.0 || row.lower != f64::NEG_INFINITY {
                    return None;
                }
                for &(c, a) in &row.coefficients {
                    let j = local[&c];
                    if work[j] <= 0.0 {
                        return None;
                    }
                    // own: (1 − f)·work; other vendors': −f·work.
                    let (own, f) = if a > 0.0 {
                        (true, 1.0 - a / work[j])
                    } else {
                        (false, -a / work[j])
                    };
                    if fraction.is_some_and(|x| (x - f).abs() > 1e-9) {
                        return None;
                    }
                    fraction = Some(f);
                    if own {
                        if vendor[j].is_some_and(|x| x != vi) {
                            return None;
                        }
                        vendor[j] = Some(vi);
                    }
                }
            }
            RowKind::Resilience { .. } => {
                // Every unit column but the failed domain's, at its work.
                if row.upper != f64::INFINITY || !row.lower.is_finite() {
                    return None;
                }
                let mut present = vec![false; n];
                for &(c, a) in &row.coefficients {
                    let j = local[&c];
                    if work[j] <= 0.0 || (a - work[j]).abs() > 1e-9 * work[j] {
                        return None;
                    }
                    present[j] = true;
                }
                let d = keep.len();
                keep.push(row.lower);
                for j in (0..n).filter(|&j| work[j] > 0.0 && !present[j]) {
                    if domain[j] != usize::MAX {
                        return None;
                    }
                    domain[j] = d;
                }
            }
            _ => return None,
        }
    }
    // Without vendor rules every unit counts as one vendor's.
    let vendors = if fraction.is_none() && floor.is_none() {
        for j in (0..n).filter(|&j| work[j] > 0.0) {
            vendor[j] = Some(0);
        }
        1
    } else {
        vendor_names.len()
    };
    // Every unit column has one vendor (and, with resilience, one domain); every other column
    // is a vendor-count binary.
    for j in 0..n {
        let col = &m.columns[columns[j]];
        let is_binary = binary_of.iter().any(|&(_, b)| b == j);
        if (work[j] > 0.0) == is_binary || vendor[j].is_none() && !is_binary {
            return None;
        }
        if !keep.is_empty() && !is_binary && domain[j] == usize::MAX {
            return None;
        }
        if !col.integer || col.lower != 0.0 || !col.upper.is_finite() {
            return None;
        }
    }
    let counts = match (floor, m_needed) {
        (Some(floor), Some(m)) => {
            let mut binary = vec![usize::MAX; vendor_names.len()];
            for (vi, j) in binary_of {
                binary[vi] = j;
            }
            Some(Counts { floor, m, binary })
        }
        (None, None) => None,
        _ => return None,
    };
    Some(Ruled {
        rows: rows.to_vec(),
        demand,
        work,
        vendor,
        vendors,
        fraction,
        counts,
        resilience: (!keep.is_empty()).then_some(Domains { of: domain, keep }),
        sub: LinearModel::default(),
    })
}

/// One integer solution of a block.
#[derive(Clone, Debug)]
struct Pattern {
    block: usize,
    /// (model column, value), nonzero values only.
    values: Vec<(usize, f64)>,
}

/// A block's cheapest pattern under `weights`, and a proven lower bound on its weight (equal
/// to the pattern's weight when pricing is exact).
struct Priced {
    pattern: Pattern,
    lower_bound: f64,
}

enum PriceError {
    /// The block has no integer solution at all: the portfolio is infeasible.
    Infeasible,
    /// Pricing failed (unbounded weights, solver trouble): give up the decomposition.
    Failed,
}

/// Most branch-and-bound nodes the cover pricer explores before handing the block to HiGHS.
const COVER_NODE_LIMIT: usize = 5_000;

/// Cheapest integer units `x ≤ upper` with `Σ a·x ≥ demand` under `weights`: depth-first
/// branch-and-bound over units by cost per unit of work, bounded by the fractional cover.
/// `None` when no units cover the demand; `Err` past the node limit.
fn cheapest_cover(
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
fn satisfies_rows(m: &LinearModel, rows: &[usize], columns: &[usize], x: &[f64]) -> bool {
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

/// The cheapest units for a service with vendor rules or resilience under `weights`:
/// depth-first branch-and-bound over units by cost per unit of work. Each node is bounded by
/// the largest of four fractional covers, each a relaxation: the demand left; for a vendor over
/// its fraction, the work other vendors must add; for missing vendors, the cheapest ones
/// brought to the counted floor; for a failure domain whose loss leaves too little, the work
/// the other domains must add. `Err` when a weight is not positive or past the node limit.
fn cheapest_ruled(
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
                    largest =
                        largest.max(self.r.work[i] * (self.upper[i] - self.counts[i]).min(1.0));
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
                        b =
                            b.max(self.unit_bound(k, t / f - self.total, |i| {
                                self.r.vendor[i] != Some(v)
                            }));
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
                            self.cover(k, c.floor - t, own).max(self.unit_bound(
                                k,
                                c.floor - t,
                                own,
                            ))
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

fn price(
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

fn price_general(
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
}

/// Dual prices set to the sign their row allows (`≥` rows non-negative, `≤` rows
/// non-positive): any such prices give a valid Lagrangian bound.
fn clamp_duals(m: &LinearModel, st: &Structure, raw: &[f64]) -> Vec<f64> {
    st.coupling
        .iter()
        .zip(raw)
        .map(|(&r, &y)| {
            let row = &m.rows[r];
            match (row.lower.is_finite(), row.upper.is_finite()) {
                (true, true) => y,
                (true, false) => y.max(0.0),
                (false, true) => y.min(0.0),
                (false, false) => 0.0,
            }
        })
        .collect()
}

/// Each column's cost less what its coupling rows are worth at prices `y`.
fn reduced_costs(m: &LinearModel, st: &Structure, y: &[f64]) -> Vec<f64> {
    m.columns
        .iter()
        .zip(&st.column_coupling)
        .map(|(c, coupling)| c.cost - coupling.iter().map(|&(k, a)| y[k] * a).sum::<f64>())
        .collect()
}

/// Prices every block under `weights`, in parallel; results in block order.
fn price_all(
    m: &LinearModel,
    st: &Structure,
    weights: &[f64],
    time_limit_s: f64,
) -> Result<Vec<Priced>, Failure> {
    use rayon::prelude::*;
    st.blocks
        .par_iter()
        .enumerate()
        .map(|(b, block)| {
            price(m, block, b, weights, time_limit_s).map_err(|e| match e {
                PriceError::Infeasible => Failure::BlockInfeasible,
                PriceError::Failed => Failure::Unsolved,
            })
        })
        .collect()
}

/// A pattern as a master column: its cost and its coefficients in the coupling rows.
fn pattern_column(m: &LinearModel, st: &Structure, p: &Pattern) -> (f64, Vec<(usize, f64)>) {
    let mut cost = 0.0;
    let mut coeffs: Vec<(usize, f64)> = Vec::new();
    for &(c, v) in &p.values {
        cost += m.columns[c].cost * v;
        for &(k, a) in &st.column_coupling[c] {
            coeffs.push((k, a * v));
        }
    }
    coeffs.sort_by_key(|&(k, _)| k);
    coeffs.dedup_by(|later, first| {
        if later.0 == first.0 {
            first.1 += later.1;
            true
        } else {
            false
        }
    });
    (cost, coeffs)
}

/// The master's rows (coupling rows, then one convexity row per block) and its own columns
/// (the contract columns; integer ones as such when `integer`); patterns are added after.
fn master_problem(
    m: &LinearModel,
    st: &Structure,
    integer: bool,
) -> (ColProblem, Vec<highs::Row>, Vec<highs::Row>) {
    let mut pb = ColProblem::default();
    let rows: Vec<highs::Row> = st
        .coupling
        .iter()
        .map(|&r| pb.add_row(m.rows[r].lower..=m.rows[r].upper))
        .collect();
    let convexity: Vec<highs::Row> = (0..st.blocks.len())
        .map(|_| pb.add_row(1.0..=1.0))
        .collect();
    for &c in &st.master_columns {
        let col = &m.columns[c];
        let factors: Vec<(highs::Row, f64)> = st.column_coupling[c]
            .iter()
            .map(|&(k, a)| (rows[k], a))
            .collect();
        pb.add_column_with_integrality(
            col.cost,
            col.lower..=col.upper,
            factors,
            integer && col.integer,
        );
    }
    (pb, rows, convexity)
}

fn objective_of(m: &LinearModel, values: &[f64]) -> f64 {
    values.iter().zip(&m.columns).map(|(v, c)| v * c.cost).sum()
}

/// Solves model `m` (its rows of `kinds`) by column generation and a MILP over the patterns
/// found.
pub(crate) fn solve(
    m: &LinearModel,
    kinds: &[RowKind],
    options: &SolveOptions,
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
        let priced = price_all(m, &st, &weights, pricing_limit)?;

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
        best = Some((objective_of(m, &values), values));
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
            let objective = objective_of(m, &repaired.values);
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
