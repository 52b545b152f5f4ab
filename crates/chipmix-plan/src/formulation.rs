//! The MILP: one model over the whole portfolio. Written out in `docs/planning.md`.
//!
//! Variables: integer units per serving candidate, a binary per training candidate, per
//! service and vendor a binary "this vendor counts" (only with `min_vendors > 1`), a shortfall
//! per commitment and the credits used per credit grant. All money is USD per month averaged
//! over the horizon.

use crate::candidates::{Candidate, CandidateKind, DAYS_PER_MONTH};
use crate::lp::LinearModel;
use crate::rules;
use chipmix_catalog::{Catalog, Vendor};
use chipmix_workload::{Contract, FailureScope, Portfolio, ShareBasis, WorkloadKind};
use std::collections::BTreeSet;

/// What a row of the model stands for, to name binding constraints and to drop rules when
/// measuring what they cost.
#[derive(Clone, Debug, PartialEq)]
pub enum RowKind {
    Demand {
        workload: usize,
    },
    TrainOnce {
        workload: usize,
    },
    Capacity {
        offering: usize,
    },
    VendorShare {
        vendor: Vendor,
    },
    ServiceVendorFraction {
        workload: usize,
        vendor: Vendor,
    },
    ServiceVendorCounts {
        workload: usize,
        vendor: Vendor,
    },
    ServiceMinVendors {
        workload: usize,
    },
    /// A chip type the service uses carries `policy.min_share_per_placement` of its demand.
    PlacementShare {
        workload: usize,
    },
    /// Losing `failed` (a vendor, provider or region) still leaves the service
    /// `policy.resilience.min_served` of its peak demand.
    Resilience {
        workload: usize,
        failed: String,
    },
    Budget,
    Commitment {
        contract: usize,
    },
    /// Rows that make a shortfall exactly max(0, commitment − covered spend).
    CommitmentLink {
        contract: usize,
    },
    Credits {
        contract: usize,
    },
    /// A plan over time: on-demand use of an offering in a period is what its reservations
    /// leave uncovered (and, under a spend share cap, exactly that).
    OnDemand {
        offering: usize,
    },
    /// A plan over time: instances a service releases on one offering from one period to the
    /// next (what moving capacity is billed on).
    Migration {
        workload: usize,
    },
    /// A plan over time: `policy.max_churn` of a service in one period.
    Churn {
        workload: usize,
    },
}

/// Rules that can be switched off to measure what they cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Relaxations {
    pub no_vendor_share: bool,
    pub no_service_vendor_rules: bool,
    pub no_budget: bool,
    pub no_resilience: bool,
    pub no_placement_share: bool,
    /// Only this vendor's candidates may be used (the single-vendor baseline).
    pub only_vendor: Option<Vendor>,
}

pub struct Formulation {
    pub model: LinearModel,
    pub row_kinds: Vec<RowKind>,
    /// Column of each candidate.
    pub candidate_columns: Vec<usize>,
    /// Per contract: its shortfall (commitment) or credits-used column.
    pub contract_columns: Vec<Option<usize>>,
    /// USD per month one unit of each candidate adds to spend, after commitment discounts.
    pub unit_spend: Vec<f64>,
    /// Contract covering each candidate's discount, if any.
    pub discount_contract: Vec<Option<usize>>,
    pub horizon_months: f64,
}

/// The commitment whose discount applies to an offering: the first that covers it.
pub fn discount_contract(portfolio: &Portfolio, provider: &str, chip: &str) -> Option<usize> {
    portfolio
        .contracts
        .iter()
        .position(|k| matches!(k, Contract::Commitment { .. }) && k.covers(provider, chip))
}

/// The commitment discount on an offering's price (0 when no commitment covers it).
pub fn commitment_discount(portfolio: &Portfolio, provider: &str, chip: &str) -> f64 {
    match discount_contract(portfolio, provider, chip).map(|k| &portfolio.contracts[k]) {
        Some(Contract::Commitment { discount, .. }) => *discount,
        _ => 0.0,
    }
}

/// The commitment discount on an offering's price over `months` of a horizon (0-based), as the
/// mean of each month's: the first commitment that covers the offering and runs that month.
pub fn commitment_discount_over(
    portfolio: &Portfolio,
    provider: &str,
    chip: &str,
    months: std::ops::Range<u32>,
) -> f64 {
    let n = months.len();
    if n == 0 {
        return 0.0;
    }
    months
        .map(|m| {
            portfolio
                .contracts
                .iter()
                .find_map(|k| match k {
                    Contract::Commitment { discount, term, .. }
                        if k.covers(provider, chip) && term.covers_month(m) =>
                    {
                        Some(*discount)
                    }
                    _ => None,
                })
                .unwrap_or(0.0)
        })
        .sum::<f64>()
        / n as f64
}

/// The demand a service must be provisioned for: peak × (1 + headroom).
pub fn provisioned_demand(portfolio: &Portfolio, workload: usize) -> f64 {
    match &portfolio.workloads[workload].kind {
        WorkloadKind::Inference(s) => s.peak_requests_per_s * (1.0 + s.headroom),
        WorkloadKind::Training(_) => 0.0,
    }
}

/// What an offering belongs to when `scope` fails: its chip vendor, its provider, or its
/// provider and region (`aws/us-east-1`; region names are per provider).
pub fn failure_domain(catalog: &Catalog, offering: usize, scope: FailureScope) -> String {
    let o = &catalog.offerings()[offering];
    match scope {
        FailureScope::Vendor => catalog.vendor_of(o).to_string(),
        FailureScope::Provider => o.provider.clone(),
        FailureScope::Region => format!("{}/{}", o.provider, o.region),
    }
}

/// Added to the objective per instance bought, so that among plans of equal cost the solver
/// buys no idle capacity (spend under a commitment is otherwise free). Subtracted again from the
/// reported cost: 10,000 instances add one cent.
pub const TIE_BREAK_USD_PER_INSTANCE: f64 = 1e-6;

/// The vendor a commitment's shortfall is paid to, for the spend-share cap: the vendor of every
/// chip it covers, when they are all one vendor's.
pub fn commitment_vendor(catalog: &Catalog, contract: &Contract) -> Option<Vendor> {
    let Contract::Commitment {
        chips: Some(chips), ..
    } = contract
    else {
        return None;
    };
    let vendors: BTreeSet<Vendor> = chips
        .iter()
        .filter_map(|c| catalog.chip(c))
        .map(|c| c.vendor)
        .collect();
    (vendors.len() == 1).then(|| *vendors.iter().next().expect("one vendor"))
}

/// A vendor counts toward a service's `min_vendors` when it carries at least this share of the
/// service's demand: half an even split, `1 / (2 · min_vendors)`.
pub fn counted_vendor_share(min_vendors: u32) -> f64 {
    1.0 / (2.0 * f64::from(min_vendors.max(1)))
}

/// Months a credit grant is valid from the portfolio's start (the horizon when it cannot be
/// placed).
pub fn credit_months(portfolio: &Portfolio, contract: &Contract, horizon: f64) -> f64 {
    match contract {
        Contract::Credits {
            expires,
            valid_months,
            ..
        } => {
            let months = match (expires, valid_months, portfolio.start) {
                (_, Some(m), _) => f64::from(*m),
                (Some(e), None, Some(s)) => (*e - s).num_days() as f64 / DAYS_PER_MONTH,
                _ => horizon,
            };
            months.max(0.0)
        }
        Contract::Commitment { .. } => horizon,
    }
}

/// The share-cap measure of one unit: spend, chips or compute, averaged over the horizon.
fn share_measure(basis: ShareBasis, c: &Candidate, spend: f64, horizon: f64) -> f64 {
    let time_share = match &c.kind {
        CandidateKind::Serve { .. } => 1.0,
        CandidateKind::Train { days, .. } => (days / (horizon * DAYS_PER_MONTH)).min(1.0),
    };
    match basis {
        ShareBasis::Spend => spend,
        ShareBasis::Chips => f64::from(c.chips_per_unit) * time_share,
        ShareBasis::Compute => c.pflops_per_unit * time_share,
    }
}

pub fn build(
    portfolio: &Portfolio,
    catalog: &Catalog,
    candidates: &[Candidate],
    horizon: f64,
    relax: Relaxations,
) -> Formulation {
    let offerings = catalog.offerings();
    let policy = &portfolio.policy;
    let mut m = LinearModel::default();
    let mut kinds = Vec::new();

    let discount_contract: Vec<Option<usize>> = candidates
        .iter()
        .map(|c| {
            let o = &offerings[c.offering];
            discount_contract(portfolio, &o.provider, &o.chip)
        })
        .collect();
    let unit_spend: Vec<f64> = candidates
        .iter()
        .zip(&discount_contract)
        .map(|(c, k)| {
            let discount = match k.map(|i| &portfolio.contracts[i]) {
                Some(Contract::Commitment { discount, .. }) => *discount,
                _ => 0.0,
            };
            c.usd_per_unit_hour * c.billed_hours_per_month(horizon) * (1.0 - discount)
        })
        .collect();

    let candidate_columns: Vec<usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let o = &offerings[c.offering];
            let allowed = relax.only_vendor.is_none_or(|v| v == c.vendor);
            let upper = if !allowed {
                0.0
            } else {
                match &c.kind {
                    CandidateKind::Serve { requests_per_s, .. } => {
                        let need =
                            (provisioned_demand(portfolio, c.workload) / requests_per_s).ceil();
                        let cap = o.capacity_instances.map_or(f64::INFINITY, |cap| {
                            (f64::from(cap) / f64::from(c.instances_per_unit)).floor()
                        });
                        need.min(cap).max(0.0)
                    }
                    CandidateKind::Train { .. } => 1.0,
                }
            };
            let name = format!(
                "{}@{}{}",
                portfolio.workloads[c.workload].name,
                o.id(),
                if c.spot { ":spot" } else { "" }
            );
            m.column(
                name,
                unit_spend[i] + TIE_BREAK_USD_PER_INSTANCE * f64::from(c.instances_per_unit),
                0.0,
                upper,
                true,
            )
        })
        .collect();

    // Demand and training assignment.
    for (wi, w) in portfolio.workloads.iter().enumerate() {
        let mine: Vec<usize> = (0..candidates.len())
            .filter(|&i| candidates[i].workload == wi)
            .collect();
        match &w.kind {
            WorkloadKind::Inference(_) => {
                let coeffs = mine
                    .iter()
                    .map(|&i| match &candidates[i].kind {
                        CandidateKind::Serve { requests_per_s, .. } => {
                            (candidate_columns[i], *requests_per_s)
                        }
                        CandidateKind::Train { .. } => unreachable!(),
                    })
                    .collect();
                m.row(
                    format!("demand[{}]", w.name),
                    provisioned_demand(portfolio, wi),
                    f64::INFINITY,
                    coeffs,
                );
                kinds.push(RowKind::Demand { workload: wi });
            }
            WorkloadKind::Training(_) => {
                m.row(
                    format!("run_once[{}]", w.name),
                    1.0,
                    1.0,
                    mine.iter().map(|&i| (candidate_columns[i], 1.0)).collect(),
                );
                kinds.push(RowKind::TrainOnce { workload: wi });
            }
        }
    }

    // Capacity, shared by every workload (spot draws on the same pool).
    for (oi, o) in offerings.iter().enumerate() {
        let Some(cap) = o.capacity_instances else {
            continue;
        };
        let coeffs: Vec<(usize, f64)> = (0..candidates.len())
            .filter(|&i| candidates[i].offering == oi)
            .map(|i| {
                (
                    candidate_columns[i],
                    f64::from(candidates[i].instances_per_unit),
                )
            })
            .collect();
        if coeffs.is_empty() {
            continue;
        }
        m.row(
            format!("capacity[{}]", o.id()),
            f64::NEG_INFINITY,
            f64::from(cap),
            coeffs,
        );
        kinds.push(RowKind::Capacity { offering: oi });
    }

    // Contracts.
    let mut contract_columns = Vec::new();
    for (ki, k) in portfolio.contracts.iter().enumerate() {
        match k {
            Contract::Commitment {
                provider,
                usd_per_month,
                ..
            } => {
                let covered: Vec<(usize, f64)> = (0..candidates.len())
                    .filter(|&i| {
                        let o = &offerings[candidates[i].offering];
                        k.covers(&o.provider, &o.chip)
                    })
                    .map(|i| (candidate_columns[i], unit_spend[i]))
                    .collect();
                let s = rules::commitment(
                    &mut m,
                    &mut kinds,
                    ki,
                    provider,
                    *usd_per_month,
                    &covered,
                    "",
                );
                contract_columns.push(Some(s));
            }
            Contract::Credits { provider, usd, .. } => {
                // The grant is spread evenly over its validity (a plan is a steady state that
                // continues past the horizon), and covers spend only in the months it is valid.
                let valid = credit_months(portfolio, k, horizon);
                let per_month = if valid > 0.0 {
                    usd / valid.max(horizon)
                } else {
                    0.0
                };
                let covered_share = valid.min(horizon) / horizon;
                let u = m.column(format!("credits[{provider}]"), -1.0, 0.0, per_month, false);
                let mut coeffs: Vec<(usize, f64)> = (0..candidates.len())
                    .filter(|&i| {
                        offerings[candidates[i].offering]
                            .provider
                            .eq_ignore_ascii_case(provider)
                    })
                    .map(|i| (candidate_columns[i], -unit_spend[i] * covered_share))
                    .collect();
                coeffs.push((u, 1.0));
                m.row(
                    format!("credits[{provider}]"),
                    f64::NEG_INFINITY,
                    0.0,
                    coeffs,
                );
                kinds.push(RowKind::Credits { contract: ki });
                contract_columns.push(Some(u));
            }
        }
    }

    // Vendor share cap over the whole portfolio.
    // Every vendor money can go to: the candidates' and, on the spend basis, those whose
    // commitments may be paid as shortfall.
    let mut vendors: BTreeSet<Vendor> = candidates.iter().map(|c| c.vendor).collect();
    if policy.share_basis == ShareBasis::Spend {
        vendors.extend(
            portfolio
                .contracts
                .iter()
                .filter_map(|k| commitment_vendor(catalog, k)),
        );
    }
    if let (Some(cap), false) = (
        policy.max_vendor_share,
        relax.no_vendor_share || relax.only_vendor.is_some(),
    ) {
        let mut terms: Vec<rules::ShareTerm> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let measure = share_measure(policy.share_basis, c, unit_spend[i], horizon);
                (candidate_columns[i], measure, Some(c.vendor))
            })
            .collect();
        // A commitment's shortfall is money paid to its provider: on the spend basis it
        // counts toward the vendor whose chips the commitment covers, and toward the total.
        if policy.share_basis == ShareBasis::Spend {
            for (ki, k) in portfolio.contracts.iter().enumerate() {
                if let (Contract::Commitment { .. }, Some(col)) = (k, contract_columns[ki]) {
                    terms.push((col, 1.0, commitment_vendor(catalog, k)));
                }
            }
        }
        rules::vendor_share(&mut m, &mut kinds, cap, &terms, vendors, "");
    }

    // Per-service vendor rules.
    if !relax.no_service_vendor_rules && relax.only_vendor.is_none() {
        for (wi, w) in portfolio.workloads.iter().enumerate() {
            let WorkloadKind::Inference(svc) = &w.kind else {
                continue;
            };
            let mine: Vec<usize> = (0..candidates.len())
                .filter(|&i| candidates[i].workload == wi)
                .collect();
            let rps = |i: usize| match &candidates[i].kind {
                CandidateKind::Serve { requests_per_s, .. } => *requests_per_s,
                CandidateKind::Train { .. } => 0.0,
            };
            let terms: Vec<rules::ServeTerm> = mine
                .iter()
                .map(|&i| (candidate_columns[i], rps(i), candidates[i].vendor))
                .collect();
            rules::service_vendor_rules(
                &mut m,
                &mut kinds,
                wi,
                &w.name,
                svc.max_vendor_fraction,
                svc.min_vendors,
                provisioned_demand(portfolio, wi),
                &terms,
                "",
            );
        }
    }

    // Fragmentation: every chip type a service uses carries a minimum share of it.
    if let (Some(share), false, None) = (
        policy.min_share_per_placement,
        relax.no_placement_share,
        relax.only_vendor,
    ) {
        for (wi, w) in portfolio.workloads.iter().enumerate() {
            if !matches!(w.kind, WorkloadKind::Inference(_)) {
                continue;
            }
            let terms: Vec<rules::PlacementTerm> = (0..candidates.len())
                .filter(|&i| candidates[i].workload == wi)
                .filter_map(|i| match &candidates[i].kind {
                    CandidateKind::Serve { requests_per_s, .. } => Some((
                        candidate_columns[i],
                        *requests_per_s,
                        offerings[candidates[i].offering].chip.clone(),
                    )),
                    CandidateKind::Train { .. } => None,
                })
                .collect();
            let demand = provisioned_demand(portfolio, wi);
            rules::placement_share(&mut m, &mut kinds, wi, &w.name, share, demand, &terms, "");
        }
    }

    // Resilience: for every service and every failure domain among its candidates, what the
    // other domains deliver covers `min_served` of peak demand.
    if let (Some(res), false) = (policy.resilience, relax.no_resilience) {
        for (wi, w) in portfolio.workloads.iter().enumerate() {
            let WorkloadKind::Inference(svc) = &w.kind else {
                continue;
            };
            let mine: Vec<usize> = (0..candidates.len())
                .filter(|&i| candidates[i].workload == wi)
                .collect();
            let terms: Vec<(usize, f64, String)> = mine
                .iter()
                .filter_map(|&i| match &candidates[i].kind {
                    CandidateKind::Serve { requests_per_s, .. } => Some((
                        candidate_columns[i],
                        *requests_per_s,
                        failure_domain(catalog, candidates[i].offering, res.survive),
                    )),
                    CandidateKind::Train { .. } => None,
                })
                .collect();
            rules::resilience(
                &mut m,
                &mut kinds,
                wi,
                &w.name,
                res.min_served * svc.peak_requests_per_s,
                &terms,
                "",
            );
        }
    }

    // Budget on what is paid: spend + shortfalls − credits, which is the objective.
    if let (Some(budget), false) = (policy.budget_usd_per_month, relax.no_budget) {
        let coeffs = m
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.cost != 0.0)
            .map(|(i, c)| (i, c.cost))
            .collect();
        m.row("budget", f64::NEG_INFINITY, budget, coeffs);
        kinds.push(RowKind::Budget);
    }

    Formulation {
        model: m,
        row_kinds: kinds,
        candidate_columns,
        contract_columns,
        unit_spend,
        discount_contract,
        horizon_months: horizon,
    }
}
