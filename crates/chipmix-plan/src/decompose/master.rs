//! The master LP: coupling rows and one convexity row per block, patterns as columns, and
//! the dual prices and reduced costs the pricing reads.

use super::*;

/// Dual prices set to the sign their row allows (`≥` rows non-negative, `≤` rows
/// non-positive): any such prices give a valid Lagrangian bound.
pub(super) fn clamp_duals(m: &LinearModel, st: &Structure, raw: &[f64]) -> Vec<f64> {
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
pub(super) fn reduced_costs(m: &LinearModel, st: &Structure, y: &[f64]) -> Vec<f64> {
    m.columns
        .iter()
        .zip(&st.column_coupling)
        .map(|(c, coupling)| c.cost - coupling.iter().map(|&(k, a)| y[k] * a).sum::<f64>())
        .collect()
}

/// A pattern as a master column: its cost and its coefficients in the coupling rows.
pub(super) fn pattern_column(
    m: &LinearModel,
    st: &Structure,
    p: &Pattern,
) -> (f64, Vec<(usize, f64)>) {
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
pub(super) fn master_problem(
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
