//! Blocks: a workload's rows split into the parts that share no column, read off the row
//! kinds, and how each block is priced (exact cover, vendor rules, or a HiGHS sub-MIP).

use super::*;

/// The workload a row belongs to, when it constrains that workload alone.
pub(super) fn row_block(kind: &RowKind) -> Option<usize> {
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

/// How a block's cheapest pattern is found.
pub(super) enum Pricing {
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
pub(super) struct Ruled {
    /// The block's rows, for checking the pattern found.
    pub(super) rows: Vec<usize>,
    pub(super) demand: f64,
    /// Work per unit (the demand row's coefficient); 0 for the vendor-count binaries.
    pub(super) work: Vec<f64>,
    /// Vendor (dense index) of each unit column; `None` for the vendor-count binaries.
    pub(super) vendor: Vec<Option<usize>>,
    pub(super) vendors: usize,
    /// Each vendor delivers at most this fraction of what the service gets.
    pub(super) fraction: Option<f64>,
    /// At least `m` vendors deliver at least `floor` each; the binary of each vendor.
    pub(super) counts: Option<Counts>,
    /// Losing any one failure domain leaves at least its `keep` of work.
    pub(super) resilience: Option<Domains>,
    /// The same block for HiGHS.
    pub(super) sub: LinearModel,
}

pub(super) struct Domains {
    /// Failure domain (dense index) of each unit column; `usize::MAX` for the binaries.
    pub(super) of: Vec<usize>,
    /// Per domain: the work the other domains must deliver without it.
    pub(super) keep: Vec<f64>,
}

pub(super) struct Counts {
    pub(super) floor: f64,
    pub(super) m: usize,
    pub(super) binary: Vec<usize>,
}

pub(super) struct Block {
    pub(super) columns: Vec<usize>,
    /// Each column's upper bound in whole units.
    pub(super) upper: Vec<f64>,
    pub(super) pricing: Pricing,
}

pub(super) struct Structure {
    pub(super) blocks: Vec<Block>,
    /// Rows of the model that tie blocks together.
    pub(super) coupling: Vec<usize>,
    /// Columns in no block (contracts): variables of the master itself.
    pub(super) master_columns: Vec<usize>,
    /// Per model column: its coefficients in the coupling rows (index into `coupling`).
    pub(super) column_coupling: Vec<Vec<(usize, f64)>>,
}

/// The blocks: a workload's own rows, split into the parts that share no column (a plan over
/// time with its migration rows in the master has one block per workload and period). `None`
/// when a row of one workload holds a column of another.
pub(super) fn structure(m: &LinearModel, kinds: &[RowKind]) -> Option<Structure> {
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

pub(super) fn pricing_of(
    m: &LinearModel,
    kinds: &[RowKind],
    rows: &[usize],
    columns: &[usize],
) -> Pricing {
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

pub(super) fn sub_model(
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
pub(super) fn ruled(
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
