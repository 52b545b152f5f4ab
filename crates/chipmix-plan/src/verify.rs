//! An independent check of a plan against the portfolio and the catalog.
//!
//! Shares no code with the formulation or the candidate generator on purpose: it re-derives
//! every quantity — capacity per allocation from the performance model, spend from list prices,
//! discounts, shortfalls and credits from the contracts, shares from the allocations — with its
//! own arithmetic, so a bug in the MILP shows up as a disagreement here. `chipmix plan` runs it
//! on every plan it prints; property tests run it on random portfolios.

use crate::plan::{Allocation, Plan};
use chipmix_catalog::{Catalog, Chip, Offering};
use chipmix_perf::training::{TrainConfig, TrainRequest};
use chipmix_perf::{Calibration, InferenceSetup, ModelShape, Replica, System};
use chipmix_workload::{
    Contract, FailureScope, InferenceService, Portfolio, ShareBasis, TrainingJob, Workload,
    WorkloadKind, timeline,
};
use std::collections::BTreeMap;

const HOURS_IN_YEAR: f64 = 8766.0;
const DAYS_IN_YEAR: f64 = 365.25;
/// Relative tolerance for money and capacity comparisons.
const TOL: f64 = 1e-6;

fn months_of(days: f64) -> f64 {
    days / (DAYS_IN_YEAR / 12.0)
}

fn leq(a: f64, b: f64) -> bool {
    a <= b + TOL * b.abs().max(1.0)
}

/// One allocation's serving capacity as the verifier derives it.
#[derive(Clone, Debug)]
struct Served {
    vendor: String,
    chip: String,
    provider: String,
    /// `provider/region`.
    region: String,
    requests_per_s: f64,
}

/// What one inference allocation serves, from the performance model.
/// The replica layout an allocation claims: tp, pp and the number of replicas.
type Layout = (Option<u32>, Option<u32>, Option<u32>);

fn layout(a: &Allocation) -> Layout {
    (a.replica_tp, a.replica_pp, a.replicas)
}

fn serving(
    w: &Workload,
    svc: &InferenceService,
    layout: Layout,
    o: &Offering,
    chip: &Chip,
    system: &System,
    availability: f64,
) -> Result<Served, String> {
    let (Some(tp), Some(pp), Some(replicas)) = layout else {
        return Err("no replica layout".into());
    };
    let e = InferenceSetup::new(
        &ModelShape::new(&w.model),
        system,
        w.precision,
        Replica { tp, pp },
    )
    .and_then(|s| s.serve(svc.prompt_tokens, svc.output_tokens, svc.slo))
    .map_err(|e| e.to_string())?;
    Ok(Served {
        vendor: chip.vendor.to_string(),
        chip: chip.id.clone(),
        provider: o.provider.clone(),
        region: format!("{}/{}", o.provider, o.region),
        requests_per_s: e.max_requests_per_s * f64::from(replicas) * availability,
    })
}

/// For each failure domain a service runs in: what the rest still serves.
fn without_each(lines: &[Served], scope: FailureScope) -> BTreeMap<String, f64> {
    let domain = |x: &Served| match scope {
        FailureScope::Vendor => x.vendor.clone(),
        FailureScope::Provider => x.provider.clone(),
        FailureScope::Region => x.region.clone(),
    };
    let total: f64 = lines.iter().map(|x| x.requests_per_s).sum();
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for x in lines {
        *out.entry(domain(x)).or_insert(total) -= x.requests_per_s;
    }
    out
}

/// What each inference service still serves when one vendor (or provider, or region) is lost,
/// re-derived from the performance model like every other check here: one row per service and
/// failure domain the service runs in.
pub fn survival(
    plan: &Plan,
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    scope: FailureScope,
) -> Vec<Survival> {
    let mut out = Vec::new();
    for w in &portfolio.workloads {
        let WorkloadKind::Inference(svc) = &w.kind else {
            continue;
        };
        let mut lines = Vec::new();
        for a in plan.allocations.iter().filter(|a| a.workload == w.name) {
            let Some(o) = catalog.offering(&a.offering) else {
                continue;
            };
            let Some(chip) = catalog.chip(&o.chip) else {
                continue;
            };
            let Ok(system) =
                System::for_offering(catalog, o, calibration.params_for(catalog, &o.chip))
            else {
                continue;
            };
            let availability = if a.spot {
                portfolio.policy.spot_availability
            } else {
                1.0
            };
            if let Ok(line) = serving(w, svc, layout(a), o, chip, &system, availability) {
                lines.push(line);
            }
        }
        for (failed, left) in without_each(&lines, scope) {
            out.push(Survival {
                workload: w.name.clone(),
                failed,
                served_requests_per_s: left,
                peak_requests_per_s: svc.peak_requests_per_s,
            });
        }
    }
    out
}

/// A row of [`survival`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct Survival {
    pub workload: String,
    /// The vendor, provider or `provider/region` lost.
    pub failed: String,
    pub served_requests_per_s: f64,
    pub peak_requests_per_s: f64,
}

impl Survival {
    pub fn served_fraction(&self) -> f64 {
        if self.peak_requests_per_s > 0.0 {
            self.served_requests_per_s / self.peak_requests_per_s
        } else {
            1.0
        }
    }
}

/// Every violation found; empty when the plan is valid.
pub fn verify(
    plan: &Plan,
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
) -> Vec<String> {
    let mut v = Vec::new();
    let horizon = portfolio
        .policy
        .horizon_months
        .map(f64::from)
        .unwrap_or_else(|| {
            portfolio
                .training_jobs()
                .map(|(_, j)| months_of(j.deadline_days).ceil())
                .fold(1.0, f64::max)
        });
    if (horizon - plan.horizon_months).abs() > 1e-9 {
        v.push(format!(
            "horizon: plan says {} months, the portfolio gives {horizon}",
            plan.horizon_months
        ));
    }
    let mut r = Recount {
        portfolio,
        catalog,
        calibration,
        horizon,
        per_offering: BTreeMap::new(),
        spend_by_alloc: Vec::new(),
        served: BTreeMap::new(),
        trained: BTreeMap::new(),
    };
    for a in &plan.allocations {
        let spend = r.allocation(a, &mut v);
        r.spend_by_alloc.push(spend);
    }
    r.capacity(&mut v);
    r.workloads(&mut v);
    let commitments = r.commitment_shortfalls(plan);
    r.vendor_shares(plan, &commitments, &mut v);
    r.bill(plan, &commitments, &mut v);
    v
}

/// What [`verify`] recomputes from the allocations, one at a time.
struct Recount<'p> {
    portfolio: &'p Portfolio,
    catalog: &'p Catalog,
    calibration: &'p Calibration,
    horizon: f64,
    per_offering: BTreeMap<String, u32>,
    /// Per allocation: its spend per month, recomputed (0 when it cannot be).
    spend_by_alloc: Vec<f64>,
    served: BTreeMap<&'p str, Vec<Served>>,
    trained: BTreeMap<&'p str, usize>,
}

impl<'p> Recount<'p> {
    /// Checks one allocation against the policy, the catalog and the performance model, and
    /// returns its spend per month recomputed from list prices (0 when it cannot be).
    fn allocation(&mut self, a: &Allocation, v: &mut Vec<String>) -> f64 {
        let (portfolio, catalog) = (self.portfolio, self.catalog);
        let policy = &portfolio.policy;
        let here = format!("{} on {}", a.workload, a.offering);
        let Some(o) = catalog.offering(&a.offering) else {
            v.push(format!("{here}: the offering is not in the catalog"));
            return 0.0;
        };
        let Some(w) = portfolio.workloads.iter().find(|w| w.name == a.workload) else {
            v.push(format!("{here}: no such workload"));
            return 0.0;
        };
        let chip = catalog.chip(&o.chip).expect("catalog invariant");
        check_placement(&here, a, o, chip, w, policy, v);
        // Price.
        let hourly = if a.spot {
            if !w.preemptible {
                v.push(format!(
                    "{here}: spot capacity for a workload that is not preemptible"
                ));
            }
            o.spot_usd_per_hour
        } else {
            o.usd_per_hour
        };
        let Some(hourly) = hourly else {
            v.push(format!(
                "{here}: the offering has no {} price",
                if a.spot { "spot" } else { "on-demand" }
            ));
            return 0.0;
        };
        if (hourly - a.list_usd_per_hour).abs() > TOL * hourly {
            v.push(format!(
                "{here}: list price {} but the catalog says {hourly}",
                a.list_usd_per_hour
            ));
        }
        let discount = discount_for(portfolio, o);
        *self.per_offering.entry(o.id()).or_insert(0) += a.instances;
        let system =
            match System::for_offering(catalog, o, self.calibration.params_for(catalog, &o.chip)) {
                Ok(s) => s,
                Err(e) => {
                    v.push(format!("{here}: {e}"));
                    return 0.0;
                }
            };
        let Some(monthly_hours) = self.billed_hours(&here, a, w, o, chip, &system, v) else {
            return 0.0;
        };
        let spend = hourly * f64::from(a.instances) * monthly_hours * (1.0 - discount);
        if (spend - a.usd_per_month).abs() > 1e-6 * spend.max(1.0) {
            v.push(format!(
                "{here}: costs {spend:.2} USD/month, the plan says {:.2}",
                a.usd_per_month
            ));
        }
        spend
    }

    /// Hours a month the allocation is billed for, after checking its layout with the
    /// performance model: every hour for a service (whose capacity within the SLOs is
    /// recorded), the run's days spread over the horizon for a training job. `None` when the
    /// allocation has no layout to check.
    #[allow(clippy::too_many_arguments)]
    fn billed_hours(
        &mut self,
        here: &str,
        a: &Allocation,
        w: &'p Workload,
        o: &Offering,
        chip: &Chip,
        system: &System,
        v: &mut Vec<String>,
    ) -> Option<f64> {
        let availability = if a.spot {
            self.portfolio.policy.spot_availability
        } else {
            1.0
        };
        match &w.kind {
            WorkloadKind::Inference(svc) => {
                let (Some(tp), Some(pp), Some(replicas)) = (a.replica_tp, a.replica_pp, a.replicas)
                else {
                    v.push(format!(
                        "{here}: an inference allocation without its replica layout"
                    ));
                    return None;
                };
                if replicas * tp * pp > a.chips {
                    v.push(format!(
                        "{here}: {replicas} replicas of {} chips do not fit {} chips",
                        tp * pp,
                        a.chips
                    ));
                }
                match serving(w, svc, layout(a), o, chip, system, availability) {
                    Ok(line) => self.served.entry(w.name.as_str()).or_default().push(line),
                    Err(e) => v.push(format!("{here}: the layout does not serve the SLOs: {e}")),
                }
                Some(HOURS_IN_YEAR / 12.0)
            }
            WorkloadKind::Training(job) => {
                *self.trained.entry(w.name.as_str()).or_insert(0) += 1;
                let Some(cfg) = a.train_config else {
                    v.push(format!("{here}: a training allocation without its layout"));
                    return None;
                };
                Some(self.training_hours(here, a, w, job, cfg, system, availability, v))
            }
        }
    }

    /// A training allocation's layout re-estimated: its days against the deadline and the
    /// global batch, and its billed hours a month over the horizon.
    #[allow(clippy::too_many_arguments)]
    fn training_hours(
        &self,
        here: &str,
        a: &Allocation,
        w: &Workload,
        job: &TrainingJob,
        cfg: TrainConfig,
        system: &System,
        availability: f64,
        v: &mut Vec<String>,
    ) -> f64 {
        if cfg.tp * cfg.pp * cfg.dp != a.chips {
            v.push(format!(
                "{here}: tp×pp×dp = {} but {} chips",
                cfg.tp * cfg.pp * cfg.dp,
                a.chips
            ));
        }
        let gbt = a.global_batch_tokens.unwrap_or(0.0);
        let req = TrainRequest {
            chips: a.chips,
            seq_len: job.seq_len,
            global_batch_tokens: gbt,
            precision: w.precision,
            tp: Some(cfg.tp),
            pp: Some(cfg.pp),
            dp: Some(cfg.dp),
            micro_batch: Some(cfg.micro_batch),
        };
        let shape = ModelShape::new(&w.model);
        match chipmix_perf::training::estimate(&shape, system, &req) {
            Ok(e) => {
                let days = job.tokens / (e.tokens_per_s * availability) / 86_400.0;
                if !leq(days, job.deadline_days) {
                    v.push(format!(
                        "{here}: takes {days:.1} days, deadline {} days",
                        job.deadline_days
                    ));
                }
                if let Some(given) = job.global_batch_tokens
                    && (gbt - given).abs()
                        > f64::from(job.seq_len) * f64::from(cfg.dp) * f64::from(cfg.micro_batch)
                {
                    v.push(format!(
                        "{here}: global batch {gbt} tokens, the job asks for {given}"
                    ));
                }
                days * 24.0 / self.horizon
            }
            Err(e) => {
                v.push(format!("{here}: the layout cannot run: {e}"));
                0.0
            }
        }
    }

    fn capacity(&self, v: &mut Vec<String>) {
        for (id, used) in &self.per_offering {
            if let Some(o) = self.catalog.offering(id)
                && let Some(cap) = o.capacity_instances
                && *used > cap
            {
                v.push(format!(
                    "capacity of {id}: {used} instances used, {cap} available"
                ));
            }
        }
    }

    /// Every service is served (with its own rules kept); every training job runs once.
    fn workloads(&self, v: &mut Vec<String>) {
        let policy = &self.portfolio.policy;
        for w in &self.portfolio.workloads {
            match &w.kind {
                WorkloadKind::Inference(svc) => {
                    let need = svc.peak_requests_per_s * (1.0 + svc.headroom);
                    let lines = self
                        .served
                        .get(w.name.as_str())
                        .cloned()
                        .unwrap_or_default();
                    let total: f64 = lines.iter().map(|x| x.requests_per_s).sum();
                    if !leq(need, total) {
                        v.push(format!(
                            "{}: serves {total:.2} req/s, needs {need:.2}",
                            w.name
                        ));
                    }
                    let peak = svc.peak_requests_per_s;
                    check_service("", w, svc, &lines, need, peak, policy, v);
                }
                WorkloadKind::Training(_) => match self.trained.get(w.name.as_str()) {
                    Some(1) => {}
                    Some(n) => v.push(format!("{}: runs {n} times, must run once", w.name)),
                    None => v.push(format!("{}: not scheduled", w.name)),
                },
            }
        }
    }

    /// Each commitment's shortfall (what its covered spend leaves unspent), for the shares
    /// and the bill.
    fn commitment_shortfalls(&self, plan: &'p Plan) -> Vec<(&'p Contract, f64)> {
        self.portfolio
            .contracts
            .iter()
            .filter_map(|k| match k {
                Contract::Commitment {
                    provider,
                    usd_per_month,
                    chips,
                    ..
                } => {
                    let covered: f64 = plan
                        .allocations
                        .iter()
                        .zip(&self.spend_by_alloc)
                        .filter(|(a, _)| {
                            a.provider.eq_ignore_ascii_case(provider)
                                && chips.as_ref().is_none_or(|cs| cs.contains(&a.chip))
                        })
                        .map(|(_, s)| s)
                        .sum();
                    Some((k, (usd_per_month - covered).max(0.0)))
                }
                Contract::Credits { .. } => None,
            })
            .collect()
    }

    /// Vendor shares on the policy's basis, against the cap and against what the plan says.
    fn vendor_shares(&self, plan: &Plan, commitments: &[(&Contract, f64)], v: &mut Vec<String>) {
        let policy = &self.portfolio.policy;
        let mut measure: BTreeMap<String, f64> = BTreeMap::new();
        for (a, spend) in plan.allocations.iter().zip(&self.spend_by_alloc) {
            let time_share = a
                .days
                .map_or(1.0, |d| (months_of(d) / self.horizon).min(1.0));
            let tflops = self.catalog.chip(&a.chip).map_or(0.0, |c| c.bf16_tflops);
            let m = match policy.share_basis {
                ShareBasis::Spend => *spend,
                ShareBasis::Chips => f64::from(a.chips) * time_share,
                ShareBasis::Compute => f64::from(a.chips) * tflops / 1000.0 * time_share,
            };
            *measure.entry(a.vendor.clone()).or_insert(0.0) += m;
        }
        // A commitment's shortfall is paid to the provider: on the spend basis it counts toward
        // the vendor whose chips the commitment covers (when they are one vendor's) and the
        // total.
        let mut unattributed = 0.0;
        if policy.share_basis == ShareBasis::Spend {
            for &(k, shortfall) in commitments {
                match shortfall_vendor(self.catalog, k) {
                    Some(vendor) => *measure.entry(vendor).or_insert(0.0) += shortfall,
                    None => unattributed += shortfall,
                }
            }
        }
        let total_measure: f64 = measure.values().sum::<f64>() + unattributed;
        check_shares("", &measure, unattributed, policy.max_vendor_share, v);
        for (vendor, share) in &plan.vendor_shares {
            let mine = if total_measure > 0.0 {
                measure.get(vendor).copied().unwrap_or(0.0) / total_measure
            } else {
                0.0
            };
            if (mine - share).abs() > 1e-6 {
                v.push(format!(
                    "vendor share of {vendor}: plan says {share:.6}, recomputed {mine:.6}"
                ));
            }
        }
    }

    /// The bill (spend, shortfalls, credits) against the plan's objective and the budget, and
    /// the proven bound against the objective.
    fn bill(&self, plan: &Plan, commitments: &[(&Contract, f64)], v: &mut Vec<String>) {
        let (portfolio, horizon) = (self.portfolio, self.horizon);
        let spend_total: f64 = self.spend_by_alloc.iter().sum();
        let mut bill = spend_total + commitments.iter().map(|(_, s)| s).sum::<f64>();
        for k in &portfolio.contracts {
            let Contract::Credits {
                provider,
                usd,
                expires,
                valid_months,
                ..
            } = k
            else {
                continue;
            };
            let valid = match (valid_months, expires, portfolio.start) {
                (Some(m), _, _) => f64::from(*m),
                (None, Some(e), Some(s)) => months_of((*e - s).num_days() as f64),
                _ => horizon,
            }
            .max(0.0);
            let on_provider: f64 = plan
                .allocations
                .iter()
                .zip(&self.spend_by_alloc)
                .filter(|(a, _)| a.provider.eq_ignore_ascii_case(provider))
                .map(|(_, s)| s)
                .sum();
            // Spread over the grant's validity; usable only while valid.
            let monthly_grant = if valid > 0.0 {
                usd / valid.max(horizon)
            } else {
                0.0
            };
            bill -= monthly_grant.min(on_provider * valid.min(horizon) / horizon);
        }
        if (bill - plan.objective_usd_per_month).abs() > 1e-6 * bill.abs().max(1.0) {
            v.push(format!(
                "the bill recomputed from the allocations and contracts is {bill:.2} USD/month, the plan says {:.2}",
                plan.objective_usd_per_month
            ));
        }
        if let Some(budget) = portfolio.policy.budget_usd_per_month
            && !leq(bill, budget)
        {
            v.push(format!(
                "the bill of {bill:.0} USD/month exceeds the budget of {budget:.0}"
            ));
        }
        let slack = 1e-6 * plan.objective_usd_per_month.abs().max(1.0);
        if plan.bound_usd_per_month.is_nan()
            || plan.bound_usd_per_month > plan.objective_usd_per_month + slack
        {
            v.push("the proven bound exceeds the objective".into());
        }
    }
}

/// An allocation's offering against the policy (providers, regions, vendors), the workload's
/// software, and its own labels and chip count.
fn check_placement(
    here: &str,
    a: &Allocation,
    o: &Offering,
    chip: &Chip,
    w: &Workload,
    policy: &chipmix_workload::Policy,
    v: &mut Vec<String>,
) {
    if let Some(ps) = &policy.allowed_providers
        && !ps.iter().any(|p| p.eq_ignore_ascii_case(&o.provider))
    {
        v.push(format!("{here}: provider {} is not allowed", o.provider));
    }
    if let Some(rs) = &policy.allowed_regions
        && !rs.contains(&o.region)
    {
        v.push(format!("{here}: region {} is not allowed", o.region));
    }
    if let Some(vs) = &policy.allowed_vendors
        && !vs.contains(&chip.vendor)
    {
        v.push(format!("{here}: vendor {} is not allowed", chip.vendor));
    }
    if !w.software.contains(&chip.software) {
        v.push(format!(
            "{here}: {} needs {}, not in the workload's software",
            chip.id, chip.software
        ));
    }
    if a.vendor != chip.vendor.as_str() || a.chip != chip.id {
        v.push(format!("{here}: chip/vendor mislabeled"));
    }
    if a.instances == 0 || a.chips != a.instances * o.chips_per_instance {
        v.push(format!(
            "{here}: {} chips on {} instances of {} chips",
            a.chips, a.instances, o.chips_per_instance
        ));
    }
}

/// A service's own rules over the capacity `lines` it holds: resilience against losing any
/// one failure domain (`min_served` of `peak`), no vendor over `max_vendor_fraction`, and
/// `min_vendors` vendors each carrying a counted share of `need`. `here` prefixes messages.
#[allow(clippy::too_many_arguments)]
fn check_service(
    here: &str,
    w: &Workload,
    svc: &InferenceService,
    lines: &[Served],
    need: f64,
    peak: f64,
    policy: &chipmix_workload::Policy,
    v: &mut Vec<String>,
) {
    let total: f64 = lines.iter().map(|x| x.requests_per_s).sum();
    let mut by_vendor: BTreeMap<String, f64> = BTreeMap::new();
    for x in lines {
        *by_vendor.entry(x.vendor.clone()).or_insert(0.0) += x.requests_per_s;
    }
    if let Some(res) = policy.resilience {
        for (failed, left) in without_each(lines, res.survive) {
            let floor = res.min_served * peak;
            if !leq(floor, left) {
                v.push(format!(
                    "{here}{}: without {failed} it keeps {left:.1} req/s, policy.resilience needs {floor:.1} ({:.0}% of the {peak:.1} req/s peak)",
                    w.name,
                    res.min_served * 100.0,
                ));
            }
        }
    }
    for (vendor, r) in &by_vendor {
        if total > 0.0 && !leq(*r, svc.max_vendor_fraction * total) {
            v.push(format!(
                "{here}{}: {vendor} carries {:.1}% of the capacity, the most allowed is {:.1}%",
                w.name,
                r / total * 100.0,
                svc.max_vendor_fraction * 100.0
            ));
        }
    }
    if let Some(share) = policy.min_share_per_placement {
        let mut by_chip: BTreeMap<&str, f64> = BTreeMap::new();
        for x in lines {
            *by_chip.entry(x.chip.as_str()).or_insert(0.0) += x.requests_per_s;
        }
        for (chip, r) in by_chip {
            if !leq(share * need, r) {
                v.push(format!(
                    "{here}{}: {chip} carries {r:.1} req/s, under the {:.0}% of {need:.1} that policy.min_share_per_placement asks of every chip type it uses",
                    w.name,
                    share * 100.0
                ));
            }
        }
    }
    if svc.min_vendors > 1 {
        let floor = need / (2.0 * f64::from(svc.min_vendors));
        let counted = by_vendor.values().filter(|&&r| leq(floor, r)).count();
        if counted < svc.min_vendors as usize {
            v.push(format!(
                "{here}{}: {counted} vendor(s) carry at least {floor:.1} req/s each, {} required",
                w.name, svc.min_vendors
            ));
        }
    }
}

/// No vendor's measure over `cap` of the total (the total includes `unattributed`, a
/// shortfall owed under a commitment that covers several vendors' chips).
fn check_shares(
    here: &str,
    measure: &BTreeMap<String, f64>,
    unattributed: f64,
    cap: Option<f64>,
    v: &mut Vec<String>,
) {
    let total: f64 = measure.values().sum::<f64>() + unattributed;
    let Some(cap) = cap else {
        return;
    };
    for (vendor, m) in measure {
        if !leq(*m, cap * total) {
            v.push(format!(
                "{here}{vendor} has {:.2}% of the portfolio, over the {:.0}% cap",
                m / total * 100.0,
                cap * 100.0
            ));
        }
    }
}

/// The vendor a commitment's shortfall is paid to, for the spend share: the vendor of every
/// chip it names, when they are one vendor's; `None` counts toward the total only.
fn shortfall_vendor(catalog: &Catalog, k: &Contract) -> Option<String> {
    let Contract::Commitment {
        chips: Some(chips), ..
    } = k
    else {
        return None;
    };
    let vendors: std::collections::BTreeSet<String> = chips
        .iter()
        .filter_map(|c| catalog.chip(c))
        .map(|c| c.vendor.to_string())
        .collect();
    (vendors.len() == 1).then(|| vendors.into_iter().next().expect("one"))
}

/// The commitment discount an offering gets: the first commitment that covers it.
fn discount_for(portfolio: &Portfolio, o: &Offering) -> f64 {
    discount_at(portfolio, o, None)
}

/// The first commitment that names the offering's provider (and chip, when it lists chips) —
/// and, given a month of a horizon, whose term runs then: its discount, else 0.
fn discount_at(portfolio: &Portfolio, o: &Offering, month: Option<u32>) -> f64 {
    for k in &portfolio.contracts {
        if let Contract::Commitment {
            provider,
            discount,
            chips,
            term,
            ..
        } = k
            && provider.eq_ignore_ascii_case(&o.provider)
            && chips.as_ref().is_none_or(|cs| cs.contains(&o.chip))
            && month.is_none_or(|m| term.covers_month(m))
        {
            return *discount;
        }
    }
    0.0
}

/// Re-checks a month-by-month plan: per month, every service's demand is served (capacity
/// re-derived from the performance model), no offering exceeds its supply, the reserved
/// instances in use were bought early enough and are still in their term, each training job
/// runs once inside the horizon, and the cost adds up from list prices, discounts and terms.
/// Independent of `multiperiod.rs`: it recomputes everything from the plan's allocations and
/// reservations.
pub fn verify_months(
    plan: &crate::multiperiod::MonthlyPlan,
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
) -> Vec<String> {
    let mut v = Vec::new();
    let Some(horizon) = &portfolio.horizon else {
        return vec!["the portfolio has no horizon".into()];
    };
    let len = horizon.period_months.max(1);
    let periods = horizon.months / len;
    if plan.period_months != len || plan.by_month.len() != periods as usize {
        v.push(format!(
            "{} periods of {} month(s) planned, the horizon has {periods} of {len}",
            plan.by_month.len(),
            plan.period_months,
        ));
    }
    check_reservation_terms(plan, horizon, &mut v);
    let mut total = 0.0;
    let mut runs: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (t, month) in plan.by_month.iter().enumerate() {
        let t = t as u32;
        let check = PeriodCheck {
            plan,
            portfolio,
            catalog,
            calibration,
            month,
            previous: t.checked_sub(1).and_then(|p| plan.by_month.get(p as usize)),
            here: format!("{} {}", if len == 1 { "month" } else { "period" }, t + 1),
            m0: t * len,
            len,
        };
        total += check.run(t, &mut runs, &mut v);
    }
    for (w, _) in portfolio.training_jobs() {
        if !runs.contains_key(w.name.as_str()) {
            v.push(format!("{}: never runs in the horizon", w.name));
        }
    }
    total += training_runs(plan, portfolio, len, &mut v);
    total += payments_after_horizon(plan, portfolio, catalog, horizon.months, len);
    if (total - plan.objective_usd).abs() > 1e-6 * total.abs().max(1.0) {
        v.push(format!(
            "the months add up to {total:.2}, the plan says {:.2}",
            plan.objective_usd
        ));
    }
    v
}

/// Where a training run is: offering, spot, layout.
type RunPlacement<'a> = (&'a str, bool, Option<TrainConfig>);

/// Each training run over time: one placement at a time, from its start period without a gap;
/// moved to another placement only where the job allows restarts (`restart:`), each restart
/// costing its overhead hours (busy, not working) and its fixed amount; all its work done by
/// its deadline. Returns the restarts' fixed costs, checked against each period's.
fn training_runs(
    plan: &crate::multiperiod::MonthlyPlan,
    portfolio: &Portfolio,
    len: u32,
    v: &mut Vec<String>,
) -> f64 {
    let days_per_period = f64::from(len) * DAYS_IN_YEAR / 12.0;
    let mut restart_usd = vec![0.0; plan.by_month.len()];
    for (w, job) in portfolio.training_jobs() {
        // (period, placement, busy fraction, days the whole run takes on that layout)
        let mut busy: Vec<(usize, RunPlacement, f64, f64)> = Vec::new();
        for (t, month) in plan.by_month.iter().enumerate() {
            let mine: Vec<_> = month
                .allocations
                .iter()
                .filter(|a| a.workload == w.name)
                .collect();
            if mine.len() > 1 {
                v.push(format!(
                    "{}: on {} placements at once in period {}",
                    w.name,
                    mine.len(),
                    t + 1
                ));
            }
            for a in mine {
                let key = (a.offering.as_str(), a.spot, a.train_config);
                busy.push((t, key, a.busy_fraction, a.days.unwrap_or(f64::NAN)));
            }
        }
        let Some(&(first, ..)) = busy.first() else {
            continue;
        };
        let start = (job.start_month.saturating_sub(1) / len) as usize;
        if first != start {
            v.push(format!(
                "{}: starts in period {}, not in its start period {}",
                w.name,
                first + 1,
                start + 1
            ));
        }
        let overhead_days = job.restart.map_or(0.0, |r| r.overhead_hours / 24.0);
        let (mut work, mut elapsed) = (0.0, 0.0);
        for (k, &(t, key, f, days)) in busy.iter().enumerate() {
            let restarted = k > 0 && busy[k - 1].1 != key;
            if k > 0 && busy[k - 1].0 + 1 != t {
                v.push(format!(
                    "{}: stops after period {} and resumes in period {}",
                    w.name,
                    busy[k - 1].0 + 1,
                    t + 1
                ));
            }
            if restarted {
                match job.restart {
                    None => v.push(format!(
                        "{}: moves from {} to {} in period {}, but the job has no `restart:`",
                        w.name,
                        busy[k - 1].1.0,
                        key.0,
                        t + 1
                    )),
                    Some(r) => restart_usd[t] += r.usd,
                }
            }
            let here = f * days_per_period;
            // A restarted run first spends the overhead catching up, then works.
            let overhead = if restarted { overhead_days } else { 0.0 };
            work += (here - overhead).max(0.0) / days;
            elapsed += here;
        }
        if work.is_nan() || work < 1.0 - 1e-6 {
            v.push(format!("{}: does {:.1}% of its run", w.name, work * 100.0));
        }
        if !leq(elapsed, job.deadline_days) {
            v.push(format!(
                "{}: runs {elapsed:.1} days, deadline {} days",
                w.name, job.deadline_days
            ));
        }
    }
    for (t, month) in plan.by_month.iter().enumerate() {
        if (month.restart_usd - restart_usd[t]).abs() > TOL * restart_usd[t].max(1.0) {
            v.push(format!(
                "period {}: training restarts cost {:.2}, the plan says {:.2}",
                t + 1,
                restart_usd[t],
                month.restart_usd
            ));
        }
    }
    restart_usd.iter().sum()
}

/// Reservations: bought ahead by the lead time, on a term the horizon quotes.
fn check_reservation_terms(
    plan: &crate::multiperiod::MonthlyPlan,
    horizon: &chipmix_workload::Horizon,
    v: &mut Vec<String>,
) {
    for r in &plan.reservations {
        if r.usable_from_month < r.bought_month + horizon.lead_months {
            v.push(format!(
                "reservation of {} bought in month {} is used from month {}, before the {}-month lead time",
                r.offering, r.bought_month, r.usable_from_month, horizon.lead_months
            ));
        }
        let quoted = horizon.reservations.iter().any(|q| {
            (q.provider == "*" || q.provider.eq_ignore_ascii_case(&r.provider))
                && q.term_years == r.term_years
                && (q.discount - r.discount).abs() < 1e-12
        });
        if !quoted {
            v.push(format!(
                "reservation of {}: no {}-year term at {:.0}% off is quoted for {}",
                r.offering,
                r.term_years,
                r.discount * 100.0,
                r.provider
            ));
        }
    }
}

/// Reservation payments owed after the horizon, at the list price of the period each was
/// bought in: part of the plan's cost.
fn payments_after_horizon(
    plan: &crate::multiperiod::MonthlyPlan,
    portfolio: &Portfolio,
    catalog: &Catalog,
    months: u32,
    len: u32,
) -> f64 {
    plan.reservations
        .iter()
        .map(|r| {
            let bought = r.bought_month - 1;
            let price = catalog
                .offering(&r.offering)
                .and_then(|o| {
                    Some(o.usd_per_hour? * list_factor(portfolio, o, bought..bought + len))
                })
                .unwrap_or(0.0);
            let end = r.usable_from_month - 1 + 12 * r.term_years;
            let beyond = end.saturating_sub(months);
            price
                * (HOURS_IN_YEAR / 12.0)
                * (1.0 - r.discount)
                * f64::from(r.instances)
                * f64::from(beyond)
        })
        .sum()
}

/// One period of a plan over time, checked from scratch.
struct PeriodCheck<'a> {
    plan: &'a crate::multiperiod::MonthlyPlan,
    portfolio: &'a Portfolio,
    catalog: &'a Catalog,
    calibration: &'a Calibration,
    month: &'a crate::multiperiod::Month,
    previous: Option<&'a crate::multiperiod::Month>,
    /// `month 3` or `period 3`, to prefix messages.
    here: String,
    /// The period's first month (0-based) and its length in months.
    m0: u32,
    len: u32,
}

/// What a period holds, recounted from its allocations.
#[derive(Default)]
struct Held<'a> {
    instances: BTreeMap<&'a str, u32>,
    served: BTreeMap<&'a str, Vec<Served>>,
    /// Vendor-share measure on the chips and compute bases (what runs, for the time it runs);
    /// the spend basis is added from the bill.
    measure: BTreeMap<String, f64>,
}

impl<'a> PeriodCheck<'a> {
    /// The period's months (0-based): demand is its busiest month's, supply its scarcest's.
    fn months(&self) -> std::ops::Range<u32> {
        self.m0..self.m0 + self.len
    }

    /// Every check of the period; returns its cost plus what moving capacity into it costs.
    fn run(&self, t: u32, runs: &mut BTreeMap<&'a str, Vec<u32>>, v: &mut Vec<String>) -> f64 {
        let (portfolio, catalog) = (self.portfolio, self.catalog);
        let here = &self.here;
        // Reserved instances usable now, from the purchases alone.
        let mut reserved: BTreeMap<&str, u32> = BTreeMap::new();
        for r in &self.plan.reservations {
            let first = r.usable_from_month - 1;
            if first <= self.m0 && self.m0 < first + 12 * r.term_years {
                *reserved.entry(r.offering.as_str()).or_insert(0) += r.instances;
            }
        }
        let mut held = self.holdings(t, runs, v);
        self.services(&held, v);
        self.supply(&held, &reserved, v);
        // Cost: spot, on-demand for what reservations do not cover, reservation payments.
        let spent = period_spend(
            self.month,
            &self.plan.reservations,
            &reserved,
            catalog,
            portfolio,
            (self.m0, self.len),
        );
        let spend: f64 = spent.iter().map(|(_, usd)| usd).sum();
        let cost = spend + self.month.shortfall_usd - self.month.credits_usd;
        if (cost - self.month.cost_usd).abs() > 1e-6 * cost.abs().max(1.0) {
            v.push(format!(
                "{here}: costs {cost:.2} from prices and terms, the plan says {:.2}",
                self.month.cost_usd
            ));
        }
        self.commitments_and_shares(&spent, &mut held.measure, v);
        let moved = self.moves(v);
        if let Some(budget) = portfolio.policy.budget_usd_per_month
            && !leq(cost, budget * f64::from(self.len))
        {
            v.push(format!(
                "{here}: costs {cost:.0}, budget {:.0}",
                budget * f64::from(self.len)
            ));
        }
        cost + moved
    }

    /// The period's allocations against the catalog, the roadmap and the performance model.
    fn holdings(
        &self,
        t: u32,
        runs: &mut BTreeMap<&'a str, Vec<u32>>,
        v: &mut Vec<String>,
    ) -> Held<'a> {
        let (portfolio, catalog, here) = (self.portfolio, self.catalog, &self.here);
        let mut held = Held::default();
        for a in &self.month.allocations {
            let Some(o) = catalog.offering(&a.offering) else {
                v.push(format!("{here}: {} is not in the catalog", a.offering));
                continue;
            };
            let Some(w) = portfolio.workloads.iter().find(|w| w.name == a.workload) else {
                v.push(format!("{here}: no workload {}", a.workload));
                continue;
            };
            *held.instances.entry(a.offering.as_str()).or_insert(0) += a.instances;
            if let Some(m) = self
                .months()
                .find(|&m| !timeline::available(&portfolio.roadmap, &a.offering, m))
            {
                v.push(format!(
                    "{here}: {} runs on {}, which its roadmap entry does not offer in month {}",
                    a.workload,
                    a.offering,
                    m + 1
                ));
            }
            if a.spot && !w.preemptible {
                v.push(format!("{here}: {} on spot but not preemptible", w.name));
            }
            let chip = catalog.chip(&o.chip).expect("catalog invariant");
            match &w.kind {
                WorkloadKind::Inference(svc) => {
                    let availability = if a.spot {
                        portfolio.policy.spot_availability
                    } else {
                        1.0
                    };
                    let params = self.calibration.params_for(catalog, &o.chip);
                    let system = System::for_offering(catalog, o, params);
                    let layout = (a.replica_tp, a.replica_pp, a.replicas);
                    match system
                        .map_err(|e| e.to_string())
                        .and_then(|s| serving(w, svc, layout, o, chip, &s, availability))
                    {
                        Ok(line) => held.served.entry(w.name.as_str()).or_default().push(line),
                        Err(e) => v.push(format!("{here}: {} on {}: {e}", w.name, a.offering)),
                    }
                }
                WorkloadKind::Training(_) => {
                    runs.entry(w.name.as_str()).or_default().push(t);
                }
            }
            let chips = f64::from(a.chips) * a.busy_fraction;
            let m = match portfolio.policy.share_basis {
                ShareBasis::Spend => 0.0,
                ShareBasis::Chips => chips,
                ShareBasis::Compute => chips * chip.bf16_tflops / 1000.0,
            };
            *held.measure.entry(chip.vendor.to_string()).or_insert(0.0) += m;
        }
        held
    }

    /// Every service is served at the period's peak, with its own rules kept.
    fn services(&self, held: &Held, v: &mut Vec<String>) {
        let here = &self.here;
        for (w, svc) in self.portfolio.inference_services() {
            let peak = self
                .months()
                .map(|m| svc.peak_in_month(m))
                .fold(0.0, f64::max);
            let need = peak * (1.0 + svc.headroom);
            let lines = held
                .served
                .get(w.name.as_str())
                .cloned()
                .unwrap_or_default();
            let got: f64 = lines.iter().map(|x| x.requests_per_s).sum();
            if !leq(need, got) {
                v.push(format!(
                    "{here}: {} serves {got:.1} req/s of {need:.1}",
                    w.name
                ));
            }
            let policy = &self.portfolio.policy;
            check_service(&format!("{here}: "), w, svc, &lines, need, peak, policy, v);
        }
    }

    /// Supply: what is held (reserved or bought) never exceeds what can be had.
    fn supply(&self, held: &Held, reserved: &BTreeMap<&str, u32>, v: &mut Vec<String>) {
        let portfolio = self.portfolio;
        for o in self.catalog.offerings() {
            let id = o.id();
            let used = held.instances.get(id.as_str()).copied().unwrap_or(0);
            let res = reserved.get(id.as_str()).copied().unwrap_or(0);
            if used == 0 && res == 0 {
                continue;
            }
            let ramp = portfolio.supply.iter().find(|s| s.offering == id);
            let cap = self
                .months()
                .filter_map(|m| match ramp {
                    _ if !timeline::available(&portfolio.roadmap, &id, m) => Some(0),
                    Some(s) => s
                        .capacity_by_month
                        .get(m as usize)
                        .or(s.capacity_by_month.last())
                        .copied(),
                    None => o.capacity_instances,
                })
                .min();
            if let Some(cap) = cap
                && used.max(res) > cap
            {
                v.push(format!(
                    "{}: {id} holds {} instances ({used} in use, {res} reserved), {cap} can be had",
                    self.here,
                    used.max(res)
                ));
            }
        }
    }

    /// Commitments: the shortfall is what covered spend leaves of each; then vendor shares
    /// (on the spend basis, of what is spent and of the shortfalls) against the cap.
    fn commitments_and_shares(
        &self,
        spent: &[(&chipmix_catalog::Offering, f64)],
        measure: &mut BTreeMap<String, f64>,
        v: &mut Vec<String>,
    ) {
        let (portfolio, catalog) = (self.portfolio, self.catalog);
        let on_spend = portfolio.policy.share_basis == ShareBasis::Spend;
        let mut owed = 0.0;
        let mut unattributed = 0.0;
        for k in &portfolio.contracts {
            let Contract::Commitment {
                usd_per_month,
                term,
                ..
            } = k
            else {
                continue;
            };
            let covered: f64 = spent
                .iter()
                .filter(|(o, _)| k.covers(&o.provider, &o.chip))
                .map(|(_, usd)| usd)
                .sum();
            let due: f64 = self
                .months()
                .map(|m| term.usd_in_month(*usd_per_month, m))
                .sum();
            let short = (due - covered).max(0.0);
            owed += short;
            if on_spend {
                match shortfall_vendor(catalog, k) {
                    Some(vendor) => *measure.entry(vendor).or_insert(0.0) += short,
                    None => unattributed += short,
                }
            }
        }
        if on_spend {
            for (o, usd) in spent {
                let vendor = catalog.vendor_of(o).to_string();
                *measure.entry(vendor).or_insert(0.0) += usd;
            }
        }
        let cap = portfolio.policy.max_vendor_share;
        check_shares(&format!("{}: ", self.here), measure, unattributed, cap, v);
        if (owed - self.month.shortfall_usd).abs() > 1e-6 * owed.max(1.0) + 1e-3 {
            v.push(format!(
                "{}: commitments leave {owed:.2} unspent, the plan says {:.2}",
                self.here, self.month.shortfall_usd
            ));
        }
    }

    /// Moving capacity: what each placement released since the previous period, its cost by
    /// `policy.migration_cost` and the churn cap. Returns the cost.
    fn moves(&self, v: &mut Vec<String>) -> f64 {
        let (portfolio, here) = (self.portfolio, &self.here);
        let Some(before) = self.previous else {
            if self.month.migration_usd.abs() > 1e-6 {
                v.push(format!(
                    "{here}: moving capacity costs 0.00 by policy.migration_cost, the plan says {:.2}",
                    self.month.migration_usd
                ));
            }
            return 0.0;
        };
        let moved = released_usd(
            &before.allocations,
            &self.month.allocations,
            portfolio,
            self.catalog,
            self.months(),
        );
        if let Some(cap) = portfolio.policy.max_churn {
            for (w, _) in portfolio.inference_services() {
                let (held, released) = churn(
                    &before.allocations,
                    &self.month.allocations,
                    portfolio,
                    &w.name,
                );
                if !leq(f64::from(released), cap * f64::from(held)) {
                    v.push(format!(
                        "{here}: {} releases {released} of the {held} instances it held, over policy.max_churn {:.0}%",
                        w.name,
                        cap * 100.0
                    ));
                }
            }
        }
        if (moved - self.month.migration_usd).abs() > 1e-6 * moved.max(1.0) {
            v.push(format!(
                "{here}: moving capacity costs {moved:.2} by policy.migration_cost, the plan says {:.2}",
                self.month.migration_usd
            ));
        }
        moved
    }
}

/// Every dollar spent in the period starting at month `m0` (`len` months), by offering: spot,
/// on-demand for the instance-months reservations leave uncovered (less any commitment discount
/// in force), and the payments of the reservations in their term (at their purchase price).
fn period_spend<'c>(
    month: &crate::multiperiod::Month,
    reservations: &[crate::multiperiod::Reservation],
    reserved: &BTreeMap<&str, u32>,
    catalog: &'c Catalog,
    portfolio: &Portfolio,
    (m0, len): (u32, u32),
) -> Vec<(&'c Offering, f64)> {
    let lenf = f64::from(len);
    let hours = HOURS_IN_YEAR / 12.0 * lenf;
    let mut out = Vec::new();
    let mut busy: BTreeMap<&str, f64> = BTreeMap::new();
    for a in &month.allocations {
        let Some(o) = catalog.offering(&a.offering) else {
            continue;
        };
        if a.spot {
            let price =
                o.spot_usd_per_hour.unwrap_or(0.0) * list_factor(portfolio, o, m0..m0 + len);
            out.push((o, price * f64::from(a.instances) * hours * a.busy_fraction));
        } else {
            *busy.entry(a.offering.as_str()).or_insert(0.0) +=
                f64::from(a.instances) * a.busy_fraction * lenf;
        }
    }
    for (id, b) in busy {
        let Some(o) = catalog.offering(id) else {
            continue;
        };
        let uncovered = (b - f64::from(reserved.get(id).copied().unwrap_or(0)) * lenf).max(0.0);
        let price = o.usd_per_hour.unwrap_or(0.0)
            * list_factor(portfolio, o, m0..m0 + len)
            * (1.0 - discount_over(portfolio, o, m0..m0 + len));
        out.push((o, uncovered * price * (HOURS_IN_YEAR / 12.0)));
    }
    for r in reservations {
        let first = r.usable_from_month - 1;
        if first <= m0
            && m0 < first + 12 * r.term_years
            && let Some(o) = catalog.offering(&r.offering)
        {
            let bought = r.bought_month - 1;
            let price =
                o.usd_per_hour.unwrap_or(0.0) * list_factor(portfolio, o, bought..bought + len);
            out.push((
                o,
                price * (1.0 - r.discount) * hours * f64::from(r.instances),
            ));
        }
    }
    out
}

/// Every serving placement (workload, offering, spot, layout) held in `before`: the
/// instances it held then and how many of them `now` no longer holds.
fn releases<'a>(
    before: &'a [crate::multiperiod::MonthAllocation],
    now: &'a [crate::multiperiod::MonthAllocation],
    portfolio: &Portfolio,
) -> Vec<(&'a str, &'a str, bool, u32, u32)> {
    let held = |allocs: &'a [crate::multiperiod::MonthAllocation]| {
        let mut out: BTreeMap<crate::multiperiod::PlacementKey<'a>, u32> = BTreeMap::new();
        for a in allocs {
            let is_service = portfolio
                .workloads
                .iter()
                .any(|w| w.name == a.workload && matches!(w.kind, WorkloadKind::Inference(_)));
            if is_service {
                *out.entry(a.placement()).or_insert(0) += a.instances;
            }
        }
        out
    };
    let now = held(now);
    held(before)
        .into_iter()
        .map(|(key, n)| {
            let left = now.get(&key).copied().unwrap_or(0);
            (key.0, key.1, key.2, n, n.saturating_sub(left))
        })
        .collect()
}

/// What releasing serving capacity between two months costs under `policy.migration_cost`:
/// per placement (workload, offering, spot, layout), the instances held before and not now.
fn released_usd(
    before: &[crate::multiperiod::MonthAllocation],
    now: &[crate::multiperiod::MonthAllocation],
    portfolio: &Portfolio,
    catalog: &Catalog,
    months: std::ops::Range<u32>,
) -> f64 {
    let mut usd = 0.0;
    for (_, offering, spot, _, released) in releases(before, now, portfolio) {
        if released == 0 {
            continue;
        }
        let price = catalog.offering(offering).and_then(|o| {
            let list = if spot {
                o.spot_usd_per_hour
            } else {
                o.usd_per_hour
            };
            Some(list? * list_factor(portfolio, o, months.clone()))
        });
        usd += portfolio
            .policy
            .migration_cost
            .usd_per_instance(price.unwrap_or(0.0))
            * f64::from(released);
    }
    usd
}

/// What an offering's list price is multiplied by over `months` (`prices:` in the portfolio):
/// the mean of each month's change against the catalog price.
fn list_factor(portfolio: &Portfolio, o: &Offering, months: std::ops::Range<u32>) -> f64 {
    let base = o.usd_per_hour.or(o.spot_usd_per_hour).unwrap_or(0.0);
    timeline::mean_price_factor(&portfolio.prices, &o.id(), base, months)
}

/// The commitment discount on an offering over `months`: the mean of each month's.
fn discount_over(portfolio: &Portfolio, o: &Offering, months: std::ops::Range<u32>) -> f64 {
    let n = months.len().max(1) as f64;
    months
        .map(|m| discount_at(portfolio, o, Some(m)))
        .sum::<f64>()
        / n
}

/// A service's instances held in `before`, and how many of them its placements released by
/// `now`.
fn churn(
    before: &[crate::multiperiod::MonthAllocation],
    now: &[crate::multiperiod::MonthAllocation],
    portfolio: &Portfolio,
    workload: &str,
) -> (u32, u32) {
    releases(before, now, portfolio)
        .into_iter()
        .filter(|r| r.0 == workload)
        .fold((0, 0), |(h, r), (_, _, _, held, released)| {
            (h + held, r + released)
        })
}
