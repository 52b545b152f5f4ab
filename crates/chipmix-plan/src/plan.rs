//! The plan: what runs where, what it costs, how sure we are, and what the rules cost.

use chipmix_perf::TrainConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Proven optimal within the requested gap.
    Optimal,
    /// The time limit stopped the search; the plan is feasible, `gap` says how far from optimal
    /// it may be.
    TimeLimit,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Optimal => "optimal",
            Status::TimeLimit => "time_limit",
        }
    }
}

/// What an allocation runs: an inference service or a training job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadClass {
    Inference,
    Training,
}

/// What a contract outcome settles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractKind {
    Commitment,
    Credits,
}

impl WorkloadClass {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadClass::Inference => "inference",
            WorkloadClass::Training => "training",
        }
    }
}

impl ContractKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContractKind::Commitment => "commitment",
            ContractKind::Credits => "credits",
        }
    }
}

impl std::fmt::Display for WorkloadClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for ContractKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// One line of the plan: a workload on an offering.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Allocation {
    pub workload: String,
    pub kind: WorkloadClass,
    pub offering: String,
    pub provider: String,
    pub region: String,
    pub instance: String,
    pub chip: String,
    pub vendor: String,
    pub spot: bool,
    pub instances: u32,
    pub chips: u32,
    /// Spend after commitment discounts, averaged over the horizon (a training run's cost is
    /// spread over the horizon's months).
    pub usd_per_month: f64,
    /// Of `usd_per_month`, what is paid for reserved instances (a period of a plan over time):
    /// owed whether or not they run, so a shock to prices or supply does not change it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reserved_usd_per_month: f64,
    /// List price of one instance (the spot price for spot allocations).
    pub list_usd_per_hour: f64,
    pub discount: f64,
    /// The commitment whose discount applies.
    pub commitment: Option<String>,
    /// Inference: tensor × pipeline layout of one replica and how many replicas run.
    pub replica_tp: Option<u32>,
    pub replica_pp: Option<u32>,
    pub replicas: Option<u32>,
    /// Inference: requests/s this allocation serves at the SLOs (spot: × availability).
    pub requests_per_s: Option<f64>,
    pub batch: Option<u32>,
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    /// Training: the parallel layout, run length and throughput.
    pub train_config: Option<TrainConfig>,
    pub days: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub mfu: Option<f64>,
    pub global_batch_tokens: Option<f64>,
}

impl Allocation {
    /// The replica layout and what it delivers (inference), or the parallel layout, run length
    /// and MFU (training): the line every report shows for an allocation.
    pub fn layout(&self) -> String {
        match (self.kind, self.train_config) {
            (WorkloadClass::Inference, _) => format!(
                "{} × tp{}{} → {:.1} req/s (TTFT {:.0} ms, TPOT {:.1} ms)",
                self.replicas.unwrap_or(0),
                self.replica_tp.unwrap_or(0),
                self.replica_pp
                    .filter(|&p| p > 1)
                    .map(|p| format!("·pp{p}"))
                    .unwrap_or_default(),
                self.requests_per_s.unwrap_or(0.0),
                self.ttft_ms.unwrap_or(0.0),
                self.tpot_ms.unwrap_or(0.0)
            ),
            (_, Some(c)) => format!(
                "tp{} pp{} dp{} → {:.1} days, MFU {:.0}%",
                c.tp,
                c.pp,
                c.dp,
                self.days.unwrap_or(0.0),
                self.mfu.unwrap_or(0.0) * 100.0
            ),
            (_, None) => String::new(),
        }
    }
}

/// Whole dollars with thousands separators, as every report writes money: `$19,311,802`,
/// `-$4,000`; `n/a` when not a number.
pub fn usd(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    // A tiny negative rounds to 0: no `-$0`.
    let neg = v < 0.0 && digits != "0";
    format!("{}${out}", if neg { "-" } else { "" })
}

/// How much of an inference service the plan provisions, and on whose chips.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub workload: String,
    /// Peak × (1 + headroom).
    pub needed_requests_per_s: f64,
    pub provisioned_requests_per_s: f64,
    pub requests_per_s_by_vendor: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContractOutcome {
    pub kind: ContractKind,
    pub provider: String,
    /// Commitment: USD per month promised. Credits: USD granted (whole grant).
    pub amount_usd: f64,
    /// Commitment: covered spend per month; credits: spend per month on the provider.
    pub spend_usd_per_month: f64,
    /// Commitment: USD per month paid for nothing.
    pub shortfall_usd_per_month: f64,
    /// Credits: USD per month of spend they cover, averaged over the horizon.
    pub credits_used_usd_per_month: f64,
}

/// A constraint that binds in the LP relaxation, with what it costs at the margin.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Binding {
    pub constraint: String,
    /// d(objective)/d(right-hand side), USD per month per unit of the constraint.
    pub shadow_price: f64,
    /// The shadow price in words, in the constraint's natural unit.
    pub meaning: String,
}

/// A policy rule a plan can be re-solved without, to price it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PricedRule {
    VendorShare,
    ServiceVendorRules,
    Resilience,
    PlacementShare,
    Budget,
}

impl PricedRule {
    /// The rules `portfolio` sets, each with the name reports give it.
    pub(crate) fn set_by(portfolio: &chipmix_workload::Portfolio) -> Vec<(PricedRule, String)> {
        let policy = &portfolio.policy;
        let mut out = Vec::new();
        if let Some(cap) = policy.max_vendor_share {
            let name = format!(
                "max_vendor_share {:.0}% ({})",
                cap * 100.0,
                policy.share_basis
            );
            out.push((PricedRule::VendorShare, name));
        }
        if portfolio
            .inference_services()
            .any(|(_, s)| s.min_vendors > 1 || s.max_vendor_fraction < 1.0)
        {
            let name = "per-service min_vendors / max_vendor_fraction".to_string();
            out.push((PricedRule::ServiceVendorRules, name));
        }
        if let Some(r) = policy.resilience {
            let name = format!(
                "resilience (survive any one {}, keep {:.0}%)",
                r.survive.as_str(),
                r.min_served * 100.0
            );
            out.push((PricedRule::Resilience, name));
        }
        if let Some(share) = policy.min_share_per_placement {
            let name = format!(
                "min_share_per_placement {:.0}% (no chip type carries less of a service)",
                share * 100.0
            );
            out.push((PricedRule::PlacementShare, name));
        }
        if policy.budget_usd_per_month.is_some() {
            out.push((PricedRule::Budget, "budget".to_string()));
        }
        out
    }
}

/// What a rule costs: `with − without`, or 0 where the difference is within the two plans'
/// gaps and the asked gap (noise, not a cost). Each is `(cost, proven gap)`.
pub(crate) fn rule_cost(with: (f64, f64), without: (f64, f64), asked_gap: f64) -> f64 {
    let noise = (with.1 + without.1 + asked_gap) * with.0.abs();
    let cost = with.0 - without.0;
    if cost.abs() <= noise { 0.0 } else { cost }
}

/// What a policy rule costs: the optimal cost with it minus without it (re-solved).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RuleCost {
    pub rule: String,
    pub usd_per_month: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Baseline {
    pub name: String,
    /// `None` when the baseline cannot serve the portfolio at all.
    pub usd_per_month: Option<f64>,
    pub note: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub portfolio: String,
    pub status: Status,
    /// What is paid per month: spend after discounts, plus commitment shortfalls, minus credits.
    pub objective_usd_per_month: f64,
    /// Proven lower bound on any plan's cost.
    pub bound_usd_per_month: f64,
    /// (objective − bound) / objective.
    pub gap: f64,
    pub solve_seconds: f64,
    /// How the MILP was solved: `direct` (one branch-and-bound) or `decomposed` (column
    /// generation by workload, with its rounds and patterns).
    #[serde(default)]
    pub method: String,
    pub horizon_months: f64,
    pub allocations: Vec<Allocation>,
    pub services: Vec<ServiceSummary>,
    /// Spend after discounts, before credits and shortfalls, USD per month.
    pub spend_usd_per_month: f64,
    pub spend_by_vendor: BTreeMap<String, f64>,
    pub spend_by_provider: BTreeMap<String, f64>,
    pub spend_by_chip: BTreeMap<String, f64>,
    /// Share of each vendor on the policy's basis (`share_basis`).
    pub vendor_shares: BTreeMap<String, f64>,
    pub share_basis: chipmix_workload::ShareBasis,
    /// Herfindahl–Hirschman index of `vendor_shares` (1 = one vendor).
    pub hhi: f64,
    pub contracts: Vec<ContractOutcome>,
    pub binding_constraints: Vec<Binding>,
    pub rule_costs: Vec<RuleCost>,
    pub baselines: Vec<Baseline>,
    pub warnings: Vec<String>,
    pub candidates: usize,
    pub variables: usize,
    pub constraints: usize,
}
