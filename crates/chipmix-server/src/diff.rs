//! What changed from one plan to another: instances per workload and offering, cost, and
//! vendor shares.

use chipmix_plan::Plan;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One workload on one offering (on-demand or spot) in either plan.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AllocationDelta {
    pub workload: String,
    pub offering: String,
    pub spot: bool,
    pub chip: String,
    pub vendor: String,
    pub instances_a: u32,
    pub instances_b: u32,
    pub instances_delta: i64,
    pub chips_delta: i64,
    pub usd_per_month_a: f64,
    pub usd_per_month_b: f64,
    pub usd_per_month_delta: f64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ShareDelta {
    pub vendor: String,
    pub share_a: f64,
    pub share_b: f64,
    pub share_delta: f64,
    pub spend_usd_per_month_a: f64,
    pub spend_usd_per_month_b: f64,
    pub spend_usd_per_month_delta: f64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PlanDiff {
    pub a: i64,
    pub b: i64,
    pub objective_usd_per_month_a: f64,
    pub objective_usd_per_month_b: f64,
    /// b − a.
    pub objective_usd_per_month_delta: f64,
    pub spend_usd_per_month_delta: f64,
    pub hhi_delta: f64,
    /// Lines whose instances differ; lines equal in both plans are left out.
    pub allocations: Vec<AllocationDelta>,
    pub unchanged_allocations: usize,
    /// Every vendor present in either plan.
    pub vendor_shares: Vec<ShareDelta>,
}

pub fn diff(a_id: i64, a: &Plan, b_id: i64, b: &Plan) -> PlanDiff {
    type Key = (String, String, bool);
    #[derive(Default)]
    struct Line {
        chip: String,
        vendor: String,
        instances: [u32; 2],
        chips: [u32; 2],
        usd: [f64; 2],
    }
    let mut lines: BTreeMap<Key, Line> = BTreeMap::new();
    for (side, plan) in [a, b].into_iter().enumerate() {
        for x in &plan.allocations {
            let line = lines
                .entry((x.workload.clone(), x.offering.clone(), x.spot))
                .or_default();
            line.chip.clone_from(&x.chip);
            line.vendor.clone_from(&x.vendor);
            line.instances[side] += x.instances;
            line.chips[side] += x.chips;
            line.usd[side] += x.usd_per_month;
        }
    }
    let total = lines.len();
    let allocations: Vec<AllocationDelta> = lines
        .into_iter()
        .filter(|(_, l)| l.instances[0] != l.instances[1])
        .map(|((workload, offering, spot), l)| AllocationDelta {
            workload,
            offering,
            spot,
            chip: l.chip,
            vendor: l.vendor,
            instances_a: l.instances[0],
            instances_b: l.instances[1],
            instances_delta: i64::from(l.instances[1]) - i64::from(l.instances[0]),
            chips_delta: i64::from(l.chips[1]) - i64::from(l.chips[0]),
            usd_per_month_a: l.usd[0],
            usd_per_month_b: l.usd[1],
            usd_per_month_delta: l.usd[1] - l.usd[0],
        })
        .collect();
    let vendors: BTreeSet<&String> = a
        .vendor_shares
        .keys()
        .chain(b.vendor_shares.keys())
        .chain(a.spend_by_vendor.keys())
        .chain(b.spend_by_vendor.keys())
        .collect();
    let get = |m: &BTreeMap<String, f64>, v: &str| m.get(v).copied().unwrap_or(0.0);
    let vendor_shares = vendors
        .into_iter()
        .map(|v| {
            let (sa, sb) = (get(&a.vendor_shares, v), get(&b.vendor_shares, v));
            let (pa, pb) = (get(&a.spend_by_vendor, v), get(&b.spend_by_vendor, v));
            ShareDelta {
                vendor: v.clone(),
                share_a: sa,
                share_b: sb,
                share_delta: sb - sa,
                spend_usd_per_month_a: pa,
                spend_usd_per_month_b: pb,
                spend_usd_per_month_delta: pb - pa,
            }
        })
        .collect();
    PlanDiff {
        a: a_id,
        b: b_id,
        objective_usd_per_month_a: a.objective_usd_per_month,
        objective_usd_per_month_b: b.objective_usd_per_month,
        objective_usd_per_month_delta: b.objective_usd_per_month - a.objective_usd_per_month,
        spend_usd_per_month_delta: b.spend_usd_per_month - a.spend_usd_per_month,
        hhi_delta: b.hhi - a.hhi,
        unchanged_allocations: total - allocations.len(),
        allocations,
        vendor_shares,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(allocs: &[(&str, &str, u32, f64)], shares: &[(&str, f64)]) -> Plan {
        let allocations: Vec<serde_json::Value> = allocs
            .iter()
            .map(|(w, o, n, usd)| {
                serde_json::json!({
                    "workload": w, "kind": "inference", "offering": o, "provider": "aws",
                    "region": "r", "instance": "i", "chip": "h100", "vendor": "nvidia",
                    "spot": false, "instances": n, "chips": n * 8, "usd_per_month": usd,
                    "list_usd_per_hour": 1.0, "discount": 0.0, "commitment": null,
                    "replica_tp": null, "replica_pp": null, "replicas": null,
                    "requests_per_s": null, "batch": null, "ttft_ms": null, "tpot_ms": null,
                    "train_config": null, "days": null, "tokens_per_s": null, "mfu": null,
                    "global_batch_tokens": null
                })
            })
            .collect();
        let cost: f64 = allocs.iter().map(|a| a.3).sum();
        let shares: BTreeMap<String, f64> =
            shares.iter().map(|(v, s)| (v.to_string(), *s)).collect();
        serde_json::from_value(serde_json::json!({
            "portfolio": "p", "status": "optimal", "objective_usd_per_month": cost,
            "bound_usd_per_month": cost, "gap": 0.0, "solve_seconds": 0.1, "horizon_months": 1.0,
            "allocations": allocations, "services": [], "spend_usd_per_month": cost,
            "spend_by_vendor": {}, "spend_by_provider": {}, "spend_by_chip": {},
            "vendor_shares": shares, "share_basis": "spend", "hhi": 1.0, "contracts": [],
            "binding_constraints": [], "rule_costs": [], "baselines": [], "warnings": [],
            "candidates": 1, "variables": 1, "constraints": 1
        }))
        .expect("a plan")
    }

    #[test]
    fn deltas_cover_added_removed_and_changed_lines() {
        let a = plan(
            &[
                ("chat", "aws/p5/us", 10, 100.0),
                ("chat", "aws/trn2/us", 4, 40.0),
            ],
            &[("nvidia", 0.7), ("aws", 0.3)],
        );
        let b = plan(
            &[
                ("chat", "aws/p5/us", 6, 60.0),
                ("chat", "gcp/tpu/us", 5, 50.0),
                ("chat", "aws/trn2/us", 4, 40.0),
            ],
            &[("nvidia", 0.4), ("google", 0.3), ("aws", 0.3)],
        );
        let d = diff(1, &a, 2, &b);
        assert_eq!(d.unchanged_allocations, 1);
        assert_eq!(d.allocations.len(), 2);
        let p5 = d
            .allocations
            .iter()
            .find(|x| x.offering == "aws/p5/us")
            .unwrap();
        assert_eq!((p5.instances_delta, p5.chips_delta), (-4, -32));
        let tpu = d
            .allocations
            .iter()
            .find(|x| x.offering == "gcp/tpu/us")
            .unwrap();
        assert_eq!((tpu.instances_a, tpu.instances_b), (0, 5));
        assert!((d.objective_usd_per_month_delta - 10.0).abs() < 1e-9);
        let google = d
            .vendor_shares
            .iter()
            .find(|s| s.vendor == "google")
            .unwrap();
        assert!((google.share_delta - 0.3).abs() < 1e-12);
        assert_eq!(d.vendor_shares.len(), 3);
    }
}
