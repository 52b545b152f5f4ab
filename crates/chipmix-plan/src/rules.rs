//! The policy rules as MILP rows, written once and used by every builder: the single-period
//! model ([`crate::formulation`]) writes them once, the model over months
//! ([`crate::multiperiod`]) once per month with that month's columns and demand.
//!
//! Each writer takes the terms that rule needs — `(column, coefficient, what it belongs to)` —
//! so it does not care whether a column is a candidate's units, an on-demand purchase, a
//! reservation or a shortfall. `suffix` tells rows of different periods apart (`#3`).

use crate::formulation::{RowKind, counted_vendor_share};
use crate::lp::LinearModel;
use chipmix_catalog::Vendor;
use std::collections::BTreeSet;

/// A term of a vendor-share row: the column, its share measure per unit (spend, chips or
/// compute) and the vendor it counts toward (`None`: the total only, e.g. a shortfall owed
/// under a commitment that covers several vendors' chips).
pub type ShareTerm = (usize, f64, Option<Vendor>);

/// No vendor's measure exceeds `cap` of the total: for each vendor `v`,
/// `Σ own(v) − cap · Σ all ≤ 0`.
pub fn vendor_share(
    m: &mut LinearModel,
    kinds: &mut Vec<RowKind>,
    cap: f64,
    terms: &[ShareTerm],
    extra_vendors: impl IntoIterator<Item = Vendor>,
    suffix: &str,
) {
    let mut vendors: BTreeSet<Vendor> = terms.iter().filter_map(|t| t.2).collect();
    vendors.extend(extra_vendors);
    for v in vendors {
        let coeffs = terms
            .iter()
            .map(|&(col, measure, owner)| {
                let own = if owner == Some(v) { measure } else { 0.0 };
                (col, own - cap * measure)
            })
            .collect();
        m.row(
            format!("vendor_share[{v}]{suffix}"),
            f64::NEG_INFINITY,
            0.0,
            coeffs,
        );
        kinds.push(RowKind::VendorShare { vendor: v });
    }
}

/// A serving term of a service: the column, the req/s one unit serves, its vendor.
pub type ServeTerm = (usize, f64, Vendor);

/// A service's own vendor rules: no vendor carries more than `max_fraction` of what the
/// service is provisioned with, and at least `min_vendors` vendors each carry
/// [`counted_vendor_share`] of `demand` (a binary per vendor says which count).
#[allow(clippy::too_many_arguments)]
pub fn service_vendor_rules(
    m: &mut LinearModel,
    kinds: &mut Vec<RowKind>,
    workload: usize,
    name: &str,
    max_fraction: f64,
    min_vendors: u32,
    demand: f64,
    terms: &[ServeTerm],
    suffix: &str,
) {
    let vendors: BTreeSet<Vendor> = terms.iter().map(|t| t.2).collect();
    if max_fraction < 1.0 {
        for &v in &vendors {
            let coeffs = terms
                .iter()
                .map(|&(col, rps, owner)| {
                    let own = if owner == v { rps } else { 0.0 };
                    (col, own - max_fraction * rps)
                })
                .collect();
            m.row(
                format!("service_fraction[{name}][{v}]{suffix}"),
                f64::NEG_INFINITY,
                0.0,
                coeffs,
            );
            kinds.push(RowKind::ServiceVendorFraction {
                workload,
                vendor: v,
            });
        }
    }
    if min_vendors > 1 {
        let floor = counted_vendor_share(min_vendors) * demand;
        let mut ys = Vec::new();
        for &v in &vendors {
            let y = m.column(format!("counts[{name}][{v}]{suffix}"), 0.0, 0.0, 1.0, true);
            ys.push((y, 1.0));
            let mut coeffs: Vec<(usize, f64)> = terms
                .iter()
                .filter(|t| t.2 == v)
                .map(|&(col, rps, _)| (col, rps))
                .collect();
            coeffs.push((y, -floor));
            m.row(
                format!("vendor_counts[{name}][{v}]{suffix}"),
                0.0,
                f64::INFINITY,
                coeffs,
            );
            kinds.push(RowKind::ServiceVendorCounts {
                workload,
                vendor: v,
            });
        }
        m.row(
            format!("min_vendors[{name}]{suffix}"),
            f64::from(min_vendors),
            f64::INFINITY,
            ys,
        );
        kinds.push(RowKind::ServiceMinVendors { workload });
    }
}

/// Resilience: for every failure domain the service's terms fall in, what the other domains
/// serve is at least `floor` req/s. `terms`: `(column, req/s per unit, domain)`.
pub fn resilience(
    m: &mut LinearModel,
    kinds: &mut Vec<RowKind>,
    workload: usize,
    name: &str,
    floor: f64,
    terms: &[(usize, f64, String)],
    suffix: &str,
) {
    let domains: BTreeSet<&String> = terms.iter().map(|t| &t.2).collect();
    for failed in domains {
        let coeffs: Vec<(usize, f64)> = terms
            .iter()
            .filter(|t| &t.2 != failed)
            .map(|&(col, rps, _)| (col, rps))
            .collect();
        m.row(
            format!("resilience[{name}][without {failed}]{suffix}"),
            floor,
            f64::INFINITY,
            coeffs,
        );
        kinds.push(RowKind::Resilience {
            workload,
            failed: failed.clone(),
        });
    }
}

/// A commitment of `usd` owed whatever is spent, with its shortfall column made exactly
/// `max(0, usd − covered spend)` (a binary says whether covered spend reaches it): the
/// spend-share cap counts the shortfall as money paid to the provider, so the solver must not
/// inflate it. `covered`: `(column, USD per unit)` of every spend the commitment covers, with
/// each column's upper bound known to the model. Returns the shortfall column.
pub fn commitment(
    m: &mut LinearModel,
    kinds: &mut Vec<RowKind>,
    contract: usize,
    label: &str,
    usd: f64,
    covered: &[(usize, f64)],
    suffix: &str,
) -> usize {
    let s = m.column(format!("shortfall[{label}]{suffix}"), 1.0, 0.0, usd, false);
    m.row(
        format!("commitment[{label}]{suffix}"),
        usd,
        f64::INFINITY,
        covered.iter().copied().chain([(s, 1.0)]).collect(),
    );
    kinds.push(RowKind::Commitment { contract });
    let big: f64 = covered
        .iter()
        .map(|&(col, spend)| spend * m.columns[col].upper)
        .sum::<f64>()
        + usd;
    if !big.is_finite() {
        // Unbounded covered spend: no big-M exists. The shortfall is then only bounded below;
        // minimizing cost keeps it exact unless a share cap pays for inflating it, which the
        // builders prevent by bounding every covered column.
        return s;
    }
    let met = m.column(
        format!("commitment_met[{label}]{suffix}"),
        0.0,
        0.0,
        1.0,
        true,
    );
    let with = |extra: Vec<(usize, f64)>| covered.iter().copied().chain(extra).collect::<Vec<_>>();
    m.row(
        format!("commitment_exact[{label}]{suffix}"),
        f64::NEG_INFINITY,
        usd,
        with(vec![(s, 1.0), (met, -big)]),
    );
    kinds.push(RowKind::CommitmentLink { contract });
    m.row(
        format!("commitment_met_zero[{label}]{suffix}"),
        f64::NEG_INFINITY,
        usd,
        vec![(s, 1.0), (met, usd)],
    );
    kinds.push(RowKind::CommitmentLink { contract });
    m.row(
        format!("commitment_met_reached[{label}]{suffix}"),
        0.0,
        f64::INFINITY,
        with(vec![(met, -usd)]),
    );
    kinds.push(RowKind::CommitmentLink { contract });
    s
}

/// A serving term grouped by chip type: the column, req/s per unit, the chip.
pub type PlacementTerm = (usize, f64, String);

/// Fragmentation: a chip type a service uses carries at least `min_share` of the service's
/// `demand`. Per chip type, a binary `used`: `Σ units ≤ U · used` and
/// `Σ req/s · units ≥ min_share · demand · used` (U: the columns' upper bounds; a chip type
/// whose columns are unbounded gets no rule).
#[allow(clippy::too_many_arguments)]
pub fn placement_share(
    m: &mut LinearModel,
    kinds: &mut Vec<RowKind>,
    workload: usize,
    name: &str,
    min_share: f64,
    demand: f64,
    terms: &[PlacementTerm],
    suffix: &str,
) {
    let chips: BTreeSet<&String> = terms.iter().map(|t| &t.2).collect();
    for chip in chips {
        let mine: Vec<(usize, f64)> = terms
            .iter()
            .filter(|t| &t.2 == chip)
            .map(|t| (t.0, t.1))
            .collect();
        let big: f64 = mine.iter().map(|&(c, _)| m.columns[c].upper).sum();
        if !big.is_finite() || big <= 0.0 {
            continue;
        }
        let used = m.column(
            format!("placed[{name}][{chip}]{suffix}"),
            0.0,
            0.0,
            1.0,
            true,
        );
        let mut link: Vec<(usize, f64)> = mine.iter().map(|&(c, _)| (c, 1.0)).collect();
        link.push((used, -big));
        m.row(
            format!("placed_link[{name}][{chip}]{suffix}"),
            f64::NEG_INFINITY,
            0.0,
            link,
        );
        kinds.push(RowKind::PlacementShare { workload });
        let mut floor: Vec<(usize, f64)> = mine.clone();
        floor.push((used, -min_share * demand));
        m.row(
            format!("placement_share[{name}][{chip}]{suffix}"),
            0.0,
            f64::INFINITY,
            floor,
        );
        kinds.push(RowKind::PlacementShare { workload });
    }
}
