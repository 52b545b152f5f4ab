//! Why no plan exists: per workload when no offering can run it at all, and otherwise the
//! smallest relaxation of the model's constraints that makes it feasible (an elastic
//! formulation: every soft constraint gets a penalized slack).

use crate::candidates::{Candidate, Generated};
use crate::formulation::{Formulation, RowKind};
use crate::lp::{self, Outcome, SolveOptions};
use chipmix_catalog::Catalog;
use chipmix_workload::{Portfolio, WorkloadKind};
use std::collections::BTreeMap;

/// One line per workload that has no candidate at all, summarizing why each offering was
/// turned down (most common reasons first, with an example offering).
pub fn workloads_without_candidates(
    portfolio: &Portfolio,
    catalog: &Catalog,
    generated: &Generated,
) -> Vec<String> {
    let _ = catalog;
    let mut out = Vec::new();
    for (wi, w) in portfolio.workloads.iter().enumerate() {
        if generated.candidates.iter().any(|c| c.workload == wi) {
            continue;
        }
        let mut groups: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
        for r in &generated.rejections[wi] {
            groups
                .entry(category(&r.reason))
                .or_default()
                .push((r.offering.as_str(), r.reason.as_str()));
        }
        let mut parts: Vec<(usize, String)> = groups
            .into_iter()
            .map(|(cat, items)| {
                let (example, detail) = items[0];
                (
                    items.len(),
                    format!(
                        "{} offering(s) {cat} (e.g. {example}: {detail})",
                        items.len()
                    ),
                )
            })
            .collect();
        parts.sort_by_key(|p| std::cmp::Reverse(p.0));
        let needs = match &w.kind {
            WorkloadKind::Inference(s) => format!(
                "{} req/s of {} with TTFT ≤ {} ms and TPOT ≤ {} ms on [{}]",
                s.peak_requests_per_s,
                w.model.name,
                s.slo.ttft_ms,
                s.slo.tpot_ms,
                w.software
                    .iter()
                    .map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            WorkloadKind::Training(t) => format!(
                "{:.3e} tokens of {} within {} days on [{}]",
                t.tokens,
                w.model.name,
                t.deadline_days,
                w.software
                    .iter()
                    .map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.push(format!(
            "{}: no offering can run it ({needs}): {}",
            w.name,
            parts
                .into_iter()
                .map(|(_, p)| p)
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    out
}

/// Groups rejection reasons into a few kinds for the summary.
fn category(reason: &str) -> String {
    if reason.contains("policy.") {
        "are excluded by the policy".into()
    } else if reason.contains(" runs ") || reason.contains("inference-only") {
        "run another software stack".into()
    } else if reason.starts_with("does not fit") {
        "cannot hold the model".into()
    } else if reason.starts_with("cannot meet the SLO") {
        "cannot meet the SLO".into()
    } else if reason.contains("deadline") {
        "cannot meet the deadline".into()
    } else if reason.contains("no price") {
        "have no price".into()
    } else if reason.contains("capacity") {
        "have no capacity".into()
    } else {
        "cannot run it".into()
    }
}

/// Solves the elastic version of an infeasible model and names every constraint it had to
/// relax, with by how much.
pub fn elastic(
    portfolio: &Portfolio,
    catalog: &Catalog,
    candidates: &[Candidate],
    f: &Formulation,
    options: &SolveOptions,
) -> Vec<String> {
    let _ = candidates;
    let mut m = f.model.clone();
    // Penalties dwarf any real cost so the solver relaxes as little as it can; each kind is
    // scaled to its unit so one req/s short and one instance over weigh alike.
    let scale = m.columns.iter().map(|c| c.cost.abs()).fold(1.0, f64::max) * 1e3;
    let mut slacks: Vec<(usize, usize, f64)> = Vec::new(); // (row, column, sign)
    for (r, kind) in f.row_kinds.iter().enumerate() {
        let (sign, weight) = match kind {
            RowKind::Demand { .. } => (1.0, scale),
            RowKind::TrainOnce { .. } => (1.0, scale * 100.0),
            RowKind::Capacity { .. } => (-1.0, scale),
            RowKind::VendorShare { .. } => (-1.0, 1e3),
            RowKind::ServiceVendorFraction { .. } => (-1.0, scale),
            RowKind::ServiceVendorCounts { .. } | RowKind::PlacementShare { .. } => continue,
            RowKind::ServiceMinVendors { .. } => (1.0, scale * 10.0),
            RowKind::Resilience { .. } => (1.0, scale),
            RowKind::Budget => (-1.0, 1e3),
            RowKind::Commitment { .. }
            | RowKind::CommitmentLink { .. }
            | RowKind::Credits { .. }
            | RowKind::OnDemand { .. }
            | RowKind::Migration { .. }
            | RowKind::Churn { .. } => continue,
        };
        let col = m.column(
            format!("slack[{}]", m.rows[r].name),
            weight,
            0.0,
            f64::INFINITY,
            false,
        );
        // sign +1: slack adds to the left side of a ≥ row; −1: subtracts from a ≤ row.
        m.rows[r].coefficients.push((col, sign));
        slacks.push((r, col, sign));
    }
    let solved = lp::solve(&m, options);
    if !matches!(solved.outcome, Outcome::Optimal | Outcome::TimeLimit) {
        return vec!["the model is infeasible and its elastic relaxation could not be solved; simplify the portfolio to find the conflict".into()];
    }
    let offerings = catalog.offerings();
    let mut out = Vec::new();
    for (r, col, _) in slacks {
        let v = solved.values[col];
        // Slack that is noise at the row's scale (the elastic model's weights trade a hair of
        // one row for another) is not a conflict.
        let row = &m.rows[r];
        let scale = [row.lower, row.upper]
            .into_iter()
            .filter(|b| b.is_finite())
            .fold(1.0, |a: f64, b| a.max(b.abs()));
        if v <= 1e-4 * scale {
            continue;
        }
        out.push(match &f.row_kinds[r] {
            RowKind::Demand { workload } => format!(
                "{}: only {:.1} of the {:.1} req/s needed can be served within capacity and the other rules (short by {v:.1} req/s)",
                portfolio.workloads[*workload].name,
                crate::formulation::provisioned_demand(portfolio, *workload) - v,
                crate::formulation::provisioned_demand(portfolio, *workload)
            ),
            RowKind::TrainOnce { workload } => format!(
                "{}: no training configuration fits the remaining capacity and rules",
                portfolio.workloads[*workload].name
            ),
            RowKind::Capacity { offering } => format!(
                "capacity of {}: {} instances, {v:.0} more needed",
                offerings[*offering].id(),
                offerings[*offering].capacity_instances.unwrap_or(0)
            ),
            RowKind::VendorShare { vendor } => format!(
                "policy.max_vendor_share: {vendor} must exceed the {:.0}% cap (by {v:.0} on the {} basis)",
                portfolio.policy.max_vendor_share.unwrap_or(1.0) * 100.0,
                match portfolio.policy.share_basis {
                    chipmix_workload::ShareBasis::Spend => "spend, USD/month",
                    chipmix_workload::ShareBasis::Chips => "chips",
                    chipmix_workload::ShareBasis::Compute => "compute, PFLOP/s",
                }
            ),
            RowKind::ServiceVendorFraction { workload, vendor } => format!(
                "{}: {vendor} must carry more than max_vendor_fraction of the service (by {v:.1} req/s)",
                portfolio.workloads[*workload].name
            ),
            RowKind::ServiceMinVendors { workload } => format!(
                "{}: min_vendors cannot be met (short by {v:.0} vendor(s) carrying their share)",
                portfolio.workloads[*workload].name
            ),
            RowKind::Resilience { workload, failed } => format!(
                "{}: policy.resilience cannot be met: without {failed} the service keeps {v:.1} req/s too little (it must keep {:.0}% of its {:.1} req/s peak)",
                portfolio.workloads[*workload].name,
                portfolio.policy.resilience.map_or(0.0, |r| r.min_served) * 100.0,
                match &portfolio.workloads[*workload].kind {
                    chipmix_workload::WorkloadKind::Inference(s) => s.peak_requests_per_s,
                    _ => 0.0,
                }
            ),
            RowKind::Budget => format!(
                "policy.budget_usd_per_month: the cheapest plan needs ${v:.0}/month more than the budget of ${:.0}",
                portfolio.policy.budget_usd_per_month.unwrap_or(0.0)
            ),
            RowKind::ServiceVendorCounts { .. }
            | RowKind::PlacementShare { .. }
            | RowKind::Commitment { .. }
            | RowKind::CommitmentLink { .. }
            | RowKind::Credits { .. }
            | RowKind::OnDemand { .. }
            | RowKind::Migration { .. }
            | RowKind::Churn { .. } => continue,
        });
    }
    if out.is_empty() {
        out.push("the model is infeasible, but no single constraint relaxation explains it".into());
    }
    out
}
