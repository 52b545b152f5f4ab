//! What the simulated spend costs once the portfolio's contracts apply. The simulator meters
//! list prices on each pool; this bills that spend with the planner's own contract rules —
//! which contract discounts an offering (`formulation::discount_contract`), how long credits
//! are valid and how they are spread (`formulation::credit_months`) — so a simulation and the
//! plan it follows are priced alike.
//!
//! Over a simulated period of `m` months: covered spend is discounted; a commitment owes
//! `usd_per_month × m`, and what covered spend does not reach is paid as shortfall; credits
//! worth `usd` valid `v` months are spread as in the plan (`usd / max(v, horizon)` a month)
//! and offset spend on their provider in the months they are valid.

use crate::fleet::Fleet;
use chipmix_plan::candidates::DAYS_PER_MONTH;
use chipmix_plan::formulation::{commitment_discount, credit_months, discount_contract};
use chipmix_workload::{Contract, Portfolio};
use serde::Serialize;

/// The simulated period's bill.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContractBill {
    pub months: f64,
    /// Spend at list prices, as metered.
    pub list_usd: f64,
    /// Commitment discounts on covered spend.
    pub discount_usd: f64,
    /// Committed amounts that covered spend did not reach.
    pub shortfall_usd: f64,
    /// Spend that credits paid for.
    pub credits_used_usd: f64,
    /// What is paid: list − discounts + shortfalls − credits.
    pub paid_usd: f64,
    pub contracts: Vec<ContractLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContractLine {
    /// `commitment` or `credits`.
    pub kind: String,
    pub provider: String,
    /// Commitment: covered spend after discount; credits: spend on the provider.
    pub spend_usd: f64,
    pub shortfall_usd: f64,
    pub credits_used_usd: f64,
}

/// Bills `cost_by_pool_usd` (list spend per pool of `fleet`, over `seconds`) under the
/// portfolio's contracts. `horizon_months` is the plan's horizon (credits are spread over
/// their validity or the horizon, whichever is longer, as the plan spreads them).
pub fn bill(
    portfolio: &Portfolio,
    fleet: &Fleet,
    cost_by_pool_usd: &[f64],
    seconds: f64,
    horizon_months: f64,
) -> ContractBill {
    let months = seconds / 86_400.0 / DAYS_PER_MONTH;
    let mut covered = vec![0.0; portfolio.contracts.len()];
    let mut on_provider = vec![0.0; portfolio.contracts.len()];
    let (mut list, mut discounted_total) = (0.0, 0.0);
    for (pool, &usd) in fleet.pools.iter().zip(cost_by_pool_usd) {
        list += usd;
        let k = discount_contract(portfolio, &pool.provider, &pool.chip);
        let discount = commitment_discount(portfolio, &pool.provider, &pool.chip);
        let discounted = usd * (1.0 - discount);
        discounted_total += discounted;
        if let Some(k) = k {
            covered[k] += discounted;
        }
        for (i, c) in portfolio.contracts.iter().enumerate() {
            if matches!(c, Contract::Credits { .. }) && c.covers(&pool.provider, &pool.chip) {
                on_provider[i] += discounted;
            }
        }
    }
    let mut lines = Vec::new();
    let (mut shortfall, mut credits) = (0.0, 0.0);
    for (i, c) in portfolio.contracts.iter().enumerate() {
        match c {
            Contract::Commitment {
                provider,
                usd_per_month,
                ..
            } => {
                let owed = (usd_per_month * months - covered[i]).max(0.0);
                shortfall += owed;
                lines.push(ContractLine {
                    kind: "commitment".into(),
                    provider: provider.clone(),
                    spend_usd: covered[i],
                    shortfall_usd: owed,
                    credits_used_usd: 0.0,
                });
            }
            Contract::Credits { provider, usd, .. } => {
                let horizon = horizon_months.max(months);
                let valid = credit_months(portfolio, c, horizon);
                let per_month = if valid > 0.0 {
                    usd / valid.max(horizon)
                } else {
                    0.0
                };
                let valid_share = if months > 0.0 {
                    (valid.min(months) / months).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let used = (on_provider[i] * valid_share).min(per_month * valid.min(months));
                credits += used;
                lines.push(ContractLine {
                    kind: "credits".into(),
                    provider: provider.clone(),
                    spend_usd: on_provider[i],
                    shortfall_usd: 0.0,
                    credits_used_usd: used,
                });
            }
        }
    }
    ContractBill {
        months,
        list_usd: list,
        discount_usd: list - discounted_total,
        shortfall_usd: shortfall,
        credits_used_usd: credits,
        paid_usd: discounted_total + shortfall - credits,
        contracts: lines,
    }
}
