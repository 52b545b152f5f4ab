//! The MILP: one model over the whole portfolio. Written out in `docs/planning.md`.
//!
//! Variables: integer units per serving candidate, a binary per training candidate, per
//! service and vendor a binary "this vendor counts" (only with `min_vendors > 1`), a shortfall
//! per commitment and the credits used per credit grant. All money is USD per month averaged
//! over the horizon.

use crate::candidates::{Candidate, CandidateKind, DAYS_PER_MONTH};
use crate::lp::LinearModel;
use crate::rules;
use chipmix_catalog::{Catalog, Offering, Vendor};
use chipmix_workload::{
    Contract, FailureScope, InferenceService, Portfolio, ShareBasis, WorkloadKind,
};
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
    let mut b = Builder {
        portfolio,
        catalog,
        candidates,
        horizon,
        relax,
        m: LinearModel::default(),
        kinds: Vec::new(),
        unit_spend,
        columns: Vec::with_capacity(candidates.len()),
        contract_columns: Vec::new(),
    };
    b.candidate_columns();
    b.demand_rows();
    b.capacity_rows();
    b.contracts();
    b.vendor_share();
    b.service_vendor_rules();
    b.placement_shares();
    b.resilience();
    b.budget();
    Formulation {
        model: b.m,
        row_kinds: b.kinds,
        candidate_columns: b.columns,
        contract_columns: b.contract_columns,
        unit_spend: b.unit_spend,
        discount_contract,
        horizon_months: horizon,
    }
}

/// The single-period model under construction; each method writes one kind of rows.
struct Builder<'a> {
    portfolio: &'a Portfolio,
    catalog: &'a Catalog,
    candidates: &'a [Candidate],
    horizon: f64,
    relax: Relaxations,
    m: LinearModel,
    kinds: Vec<RowKind>,
    /// Per candidate: USD per unit and month after its commitment discount.
    unit_spend: Vec<f64>,
    /// Per candidate: its column (units).
    columns: Vec<usize>,
    /// Per contract: its shortfall or credits-used column.
    contract_columns: Vec<Option<usize>>,
}

impl<'a> Builder<'a> {
    fn mine(&self, workload: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.candidates.len()).filter(move |&i| self.candidates[i].workload == workload)
    }

    /// Req/s one unit of serving candidate `i` delivers (0 for a training candidate).
    fn requests_per_s(&self, i: usize) -> Option<f64> {
        match &self.candidates[i].kind {
            CandidateKind::Serve { requests_per_s, .. } => Some(*requests_per_s),
            CandidateKind::Train { .. } => None,
        }
    }

    /// Integer units per candidate, bounded by what demand can use and supply allows.
    fn candidate_columns(&mut self) {
        let offerings = self.catalog.offerings();
        for (i, c) in self.candidates.iter().enumerate() {
            let o = &offerings[c.offering];
            let allowed = self.relax.only_vendor.is_none_or(|v| v == c.vendor);
            let upper = if !allowed {
                0.0
            } else {
                match &c.kind {
                    CandidateKind::Serve { requests_per_s, .. } => {
                        let need = (provisioned_demand(self.portfolio, c.workload)
                            / requests_per_s)
                            .ceil();
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
                self.portfolio.workloads[c.workload].name,
                o.id(),
                if c.spot { ":spot" } else { "" }
            );
            let cost =
                self.unit_spend[i] + TIE_BREAK_USD_PER_INSTANCE * f64::from(c.instances_per_unit);
            let col = self.m.column(name, cost, 0.0, upper, true);
            self.columns.push(col);
        }
    }

    /// Demand per service; each training job runs once.
    fn demand_rows(&mut self) {
        for (wi, w) in self.portfolio.workloads.iter().enumerate() {
            match &w.kind {
                WorkloadKind::Inference(_) => {
                    let coeffs = self
                        .mine(wi)
                        .filter_map(|i| Some((self.columns[i], self.requests_per_s(i)?)))
                        .collect();
                    let demand = provisioned_demand(self.portfolio, wi);
                    self.m
                        .row(format!("demand[{}]", w.name), demand, f64::INFINITY, coeffs);
                    self.kinds.push(RowKind::Demand { workload: wi });
                }
                WorkloadKind::Training(_) => {
                    let coeffs = self.mine(wi).map(|i| (self.columns[i], 1.0)).collect();
                    self.m
                        .row(format!("run_once[{}]", w.name), 1.0, 1.0, coeffs);
                    self.kinds.push(RowKind::TrainOnce { workload: wi });
                }
            }
        }
    }

    /// Capacity, shared by every workload (spot draws on the same pool).
    fn capacity_rows(&mut self) {
        for (oi, o) in self.catalog.offerings().iter().enumerate() {
            let Some(cap) = o.capacity_instances else {
                continue;
            };
            let coeffs: Vec<(usize, f64)> = (0..self.candidates.len())
                .filter(|&i| self.candidates[i].offering == oi)
                .map(|i| {
                    let per_unit = self.candidates[i].instances_per_unit;
                    (self.columns[i], f64::from(per_unit))
                })
                .collect();
            if coeffs.is_empty() {
                continue;
            }
            let name = format!("capacity[{}]", o.id());
            self.m.row(name, f64::NEG_INFINITY, f64::from(cap), coeffs);
            self.kinds.push(RowKind::Capacity { offering: oi });
        }
    }

    /// Candidates whose offering `keep` accepts, with their spend per unit and month scaled.
    fn spend_terms(&self, keep: impl Fn(&Offering) -> bool, scale: f64) -> Vec<(usize, f64)> {
        let offerings = self.catalog.offerings();
        (0..self.candidates.len())
            .filter(|&i| keep(&offerings[self.candidates[i].offering]))
            .map(|i| (self.columns[i], self.unit_spend[i] * scale))
            .collect()
    }

    /// Commitments (exact shortfall) and credits (used while valid).
    fn contracts(&mut self) {
        let horizon = self.horizon;
        for (ki, k) in self.portfolio.contracts.iter().enumerate() {
            let col = match k {
                Contract::Commitment {
                    provider,
                    usd_per_month,
                    ..
                } => {
                    let covered = self.spend_terms(|o| k.covers(&o.provider, &o.chip), 1.0);
                    rules::commitment(
                        &mut self.m,
                        &mut self.kinds,
                        ki,
                        provider,
                        *usd_per_month,
                        &covered,
                        "",
                    )
                }
                Contract::Credits { provider, usd, .. } => {
                    // The grant is spread evenly over its validity (a plan is a steady state
                    // that continues past the horizon), and covers spend only in the months it
                    // is valid.
                    let valid = credit_months(self.portfolio, k, horizon);
                    let per_month = if valid > 0.0 {
                        usd / valid.max(horizon)
                    } else {
                        0.0
                    };
                    let covered_share = valid.min(horizon) / horizon;
                    let name = format!("credits[{provider}]");
                    let u = self.m.column(name.clone(), -1.0, 0.0, per_month, false);
                    let mut coeffs = self.spend_terms(
                        |o| o.provider.eq_ignore_ascii_case(provider),
                        -covered_share,
                    );
                    coeffs.push((u, 1.0));
                    self.m.row(name, f64::NEG_INFINITY, 0.0, coeffs);
                    self.kinds.push(RowKind::Credits { contract: ki });
                    u
                }
            };
            self.contract_columns.push(Some(col));
        }
    }

    /// The vendor-share cap over the whole portfolio, on the policy's basis.
    fn vendor_share(&mut self) {
        let policy = &self.portfolio.policy;
        let relax = self.relax;
        let Some(cap) = policy.max_vendor_share else {
            return;
        };
        if relax.no_vendor_share || relax.only_vendor.is_some() {
            return;
        }
        // Every vendor money can go to: the candidates' and, on the spend basis, those whose
        // commitments may be paid as shortfall.
        let mut vendors: BTreeSet<Vendor> = self.candidates.iter().map(|c| c.vendor).collect();
        let mut terms: Vec<rules::ShareTerm> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let measure =
                    share_measure(policy.share_basis, c, self.unit_spend[i], self.horizon);
                (self.columns[i], measure, Some(c.vendor))
            })
            .collect();
        // A commitment's shortfall is money paid to its provider: on the spend basis it
        // counts toward the vendor whose chips the commitment covers, and toward the total.
        if policy.share_basis == ShareBasis::Spend {
            for (ki, k) in self.portfolio.contracts.iter().enumerate() {
                let vendor = commitment_vendor(self.catalog, k);
                vendors.extend(vendor);
                if let (Contract::Commitment { .. }, Some(col)) = (k, self.contract_columns[ki]) {
                    terms.push((col, 1.0, vendor));
                }
            }
        }
        rules::vendor_share(&mut self.m, &mut self.kinds, cap, &terms, vendors, "");
    }

    /// Inference services with their index, name and terms.
    fn services(&self) -> Vec<(usize, &'a str, &'a InferenceService)> {
        self.portfolio
            .workloads
            .iter()
            .enumerate()
            .filter_map(|(wi, w)| match &w.kind {
                WorkloadKind::Inference(svc) => Some((wi, w.name.as_str(), svc)),
                WorkloadKind::Training(_) => None,
            })
            .collect()
    }

    /// A service's serving candidates: `(column, req/s per unit, candidate)`.
    fn serving(&self, wi: usize) -> Vec<(usize, f64, usize)> {
        self.mine(wi)
            .filter_map(|i| Some((self.columns[i], self.requests_per_s(i)?, i)))
            .collect()
    }

    /// Per-service vendor rules: how many vendors, and the most any one may serve.
    fn service_vendor_rules(&mut self) {
        if self.relax.no_service_vendor_rules || self.relax.only_vendor.is_some() {
            return;
        }
        for (wi, name, svc) in self.services() {
            let terms: Vec<rules::ServeTerm> = self
                .mine(wi)
                .map(|i| {
                    let rps = self.requests_per_s(i).unwrap_or(0.0);
                    (self.columns[i], rps, self.candidates[i].vendor)
                })
                .collect();
            let demand = provisioned_demand(self.portfolio, wi);
            let (fraction, min) = (svc.max_vendor_fraction, svc.min_vendors);
            let (m, kinds) = (&mut self.m, &mut self.kinds);
            rules::service_vendor_rules(m, kinds, wi, name, fraction, min, demand, &terms, "");
        }
    }

    /// Fragmentation: every chip type a service uses carries a minimum share of it.
    fn placement_shares(&mut self) {
        let (Some(share), false, None) = (
            self.portfolio.policy.min_share_per_placement,
            self.relax.no_placement_share,
            self.relax.only_vendor,
        ) else {
            return;
        };
        let offerings = self.catalog.offerings();
        for (wi, name, _) in self.services() {
            let terms: Vec<rules::PlacementTerm> = self
                .serving(wi)
                .into_iter()
                .map(|(col, rps, i)| {
                    let chip = offerings[self.candidates[i].offering].chip.clone();
                    (col, rps, chip)
                })
                .collect();
            let demand = provisioned_demand(self.portfolio, wi);
            let (m, kinds) = (&mut self.m, &mut self.kinds);
            rules::placement_share(m, kinds, wi, name, share, demand, &terms, "");
        }
    }

    /// Resilience: for every service and every failure domain among its candidates, what the
    /// other domains deliver covers `min_served` of peak demand.
    fn resilience(&mut self) {
        let (Some(res), false) = (self.portfolio.policy.resilience, self.relax.no_resilience)
        else {
            return;
        };
        for (wi, name, svc) in self.services() {
            let terms: Vec<(usize, f64, String)> = self
                .serving(wi)
                .into_iter()
                .map(|(col, rps, i)| {
                    let offering = self.candidates[i].offering;
                    (
                        col,
                        rps,
                        failure_domain(self.catalog, offering, res.survive),
                    )
                })
                .collect();
            let floor = res.min_served * svc.peak_requests_per_s;
            rules::resilience(&mut self.m, &mut self.kinds, wi, name, floor, &terms, "");
        }
    }

    /// The budget on what is paid: spend + shortfalls − credits, which is the objective.
    fn budget(&mut self) {
        let (Some(budget), false) = (
            self.portfolio.policy.budget_usd_per_month,
            self.relax.no_budget,
        ) else {
            return;
        };
        let coeffs = self
            .m
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.cost != 0.0)
            .map(|(i, c)| (i, c.cost))
            .collect();
        self.m.row("budget", f64::NEG_INFINITY, budget, coeffs);
        self.kinds.push(RowKind::Budget);
    }
}
