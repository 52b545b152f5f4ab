//! Candidates: for each workload × offering, the configurations the performance model says can
//! run it — memory fit, SLOs, deadline, software stack — with their throughput and price.
//! Every offering that yields nothing is recorded with the reason, so an infeasible workload
//! can be explained.

use chipmix_catalog::{Catalog, Offering, Vendor};
use chipmix_perf::training::{self, TrainConfig, TrainEstimate, TrainRequest};
use chipmix_perf::{
    Calibration, ModelShape, OfferingServe, PerfError, Replica, System, serve_on_offering,
};
use chipmix_workload::{FailureScope, Portfolio, Workload, WorkloadKind};
use serde::Serialize;
use std::collections::HashMap;

/// Hours in an average month (8,766 h per year / 12).
pub const HOURS_PER_MONTH: f64 = 730.5;
pub const DAYS_PER_MONTH: f64 = 30.4375;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CandidateKind {
    /// One unit serves `requests_per_s` at the SLOs: an instance holding
    /// `replicas_per_unit` replicas, or one replica spanning `instances_per_unit` instances.
    Serve {
        replica: Replica,
        replicas_per_unit: u32,
        requests_per_s: f64,
        batch: u32,
        ttft_ms: f64,
        tpot_ms: f64,
    },
    /// The whole job on `instances_per_unit` instances.
    Train {
        config: TrainConfig,
        days: f64,
        tokens_per_s: f64,
        mfu: f64,
        global_batch_tokens: f64,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub workload: usize,
    /// Index into the catalog's offerings.
    pub offering: usize,
    pub spot: bool,
    pub vendor: Vendor,
    pub instances_per_unit: u32,
    pub chips_per_unit: u32,
    /// List price of one unit per hour (spot price for spot candidates), before contracts.
    pub usd_per_unit_hour: f64,
    /// Dense BF16 PFLOP/s of one unit's chips (for the compute share basis).
    pub pflops_per_unit: f64,
    pub kind: CandidateKind,
}

impl Candidate {
    /// Hours per month a unit is billed, averaged over the horizon: all of them for a service,
    /// the run's duration spread over the horizon for a training job.
    pub fn billed_hours_per_month(&self, horizon_months: f64) -> f64 {
        match &self.kind {
            CandidateKind::Serve { .. } => HOURS_PER_MONTH,
            CandidateKind::Train { days, .. } => days * 24.0 / horizon_months,
        }
    }
}

/// Why an offering gave a workload no candidate.
#[derive(Clone, Debug, Serialize)]
pub struct Rejection {
    pub offering: String,
    pub reason: String,
}

/// Default tokens per optimizer step when a training job does not set one: 4M tokens (Llama 2's
/// batch), 16M for models of 100B parameters and more (Llama 3 405B's).
pub fn default_global_batch_tokens(total_params: f64, seq_len: u32) -> f64 {
    let tokens: f64 = if total_params >= 100e9 {
        16_777_216.0
    } else {
        4_194_304.0
    };
    tokens.max(f64::from(seq_len))
}

/// The months a plan covers.
pub fn horizon_months(portfolio: &Portfolio) -> f64 {
    if let Some(m) = portfolio.policy.horizon_months {
        return f64::from(m);
    }
    portfolio
        .training_jobs()
        .map(|(_, j)| (j.deadline_days / DAYS_PER_MONTH).ceil())
        .fold(1.0, f64::max)
}

pub struct Generated {
    pub candidates: Vec<Candidate>,
    /// Per workload: offerings that gave nothing, and why.
    pub rejections: Vec<Vec<Rejection>>,
}

/// Whether the policy lets the plan use an offering at all (provider, region, vendor, price).
pub fn policy_rejects(portfolio: &Portfolio, catalog: &Catalog, o: &Offering) -> Option<String> {
    let p = &portfolio.policy;
    if let Some(ps) = &p.allowed_providers
        && !ps.iter().any(|x| x.eq_ignore_ascii_case(&o.provider))
    {
        return Some(format!(
            "provider {} is not in policy.allowed_providers",
            o.provider
        ));
    }
    if let Some(rs) = &p.allowed_regions
        && !rs.iter().any(|x| x == &o.region)
    {
        return Some(format!(
            "region {} is not in policy.allowed_regions",
            o.region
        ));
    }
    let vendor = catalog.vendor_of(o);
    if let Some(vs) = &p.allowed_vendors
        && !vs.contains(&vendor)
    {
        return Some(format!("vendor {vendor} is not in policy.allowed_vendors"));
    }
    if o.usd_per_hour.is_none() {
        return Some("no price (give one in `offerings:`)".into());
    }
    if o.capacity_instances == Some(0) {
        return Some("capacity is 0".into());
    }
    None
}

/// Provider, instance type, chip, chips per instance, network, memory and vCPUs: what the
/// performance model reads from an offering.
type HardwareKey = (
    String,
    String,
    String,
    u32,
    Option<u64>,
    Option<u64>,
    Option<u32>,
);

/// Offerings that differ only in region, price or capacity are the same hardware: the
/// performance model gives them the same answer, so it is asked once per workload and class.
fn hardware_classes(catalog: &Catalog) -> Vec<usize> {
    let mut seen: HashMap<HardwareKey, usize> = HashMap::new();
    catalog
        .offerings()
        .iter()
        .map(|o| {
            let key = (
                o.provider.clone(),
                o.instance_type.clone(),
                o.chip.clone(),
                o.chips_per_instance,
                o.network_gbps.map(f64::to_bits),
                o.memory_gib.map(f64::to_bits),
                o.vcpus,
            );
            let next = seen.len();
            *seen.entry(key).or_insert(next)
        })
        .collect()
}

/// Per workload, the performance model's answers by hardware class (and, for training, by
/// instance count).
#[derive(Default)]
struct Memo {
    serve: HashMap<usize, (usize, Result<OfferingServe, String>)>,
    train: HashMap<(usize, u32), Result<TrainEstimate, PerfError>>,
}

/// Generates the candidates of every workload (workloads in parallel; the result does not
/// depend on the number of threads).
pub fn generate(portfolio: &Portfolio, catalog: &Catalog, calibration: &Calibration) -> Generated {
    use rayon::prelude::*;
    let classes = hardware_classes(catalog);
    let per_workload: Vec<(Vec<Candidate>, Vec<Rejection>)> = portfolio
        .workloads
        .par_iter()
        .enumerate()
        .map(|(wi, w)| workload_candidates(portfolio, catalog, calibration, &classes, wi, w))
        .collect();
    let mut candidates = Vec::new();
    let mut rejections = Vec::new();
    for (mut c, r) in per_workload {
        candidates.append(&mut c);
        rejections.push(r);
    }
    Generated {
        candidates,
        rejections,
    }
}

fn workload_candidates(
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    classes: &[usize],
    wi: usize,
    w: &Workload,
) -> (Vec<Candidate>, Vec<Rejection>) {
    let shape = ModelShape::new(&w.model);
    let mut memo = Memo::default();
    let mut candidates = Vec::new();
    let mut rejected = Vec::new();
    for (oi, o) in catalog.offerings().iter().enumerate() {
        let reject = |reason: String| Rejection {
            offering: o.id(),
            reason,
        };
        if let Some(reason) = policy_rejects(portfolio, catalog, o) {
            rejected.push(reject(reason));
            continue;
        }
        let chip = catalog.chip(&o.chip).expect("catalog invariant");
        if !w.software.contains(&chip.software) {
            rejected.push(reject(format!(
                "{} runs {}, the workload runs [{}]",
                chip.id,
                chip.software,
                w.software
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
            continue;
        }
        if matches!(w.kind, WorkloadKind::Training(_)) && !chip.trains {
            rejected.push(reject(format!("{} is an inference-only chip", chip.id)));
            continue;
        }
        let mut pricings = vec![(false, o.usd_per_hour.unwrap_or(0.0))];
        if w.preemptible
            && let Some(spot) = o.spot_usd_per_hour
        {
            pricings.push((true, spot));
        }
        let site = Site {
            wi,
            oi,
            o,
            class: classes[oi],
        };
        let made = match &w.kind {
            WorkloadKind::Inference(_) => serve_candidates(
                portfolio,
                catalog,
                calibration,
                &shape,
                w,
                &site,
                &pricings,
                &mut memo,
            ),
            WorkloadKind::Training(_) => train_candidates(
                portfolio,
                catalog,
                calibration,
                &shape,
                w,
                &site,
                &pricings,
                &mut memo,
            ),
        };
        match made {
            Ok(mut c) => candidates.append(&mut c),
            Err(reason) => rejected.push(reject(reason)),
        }
    }
    prune_dominated(&mut candidates, 0, catalog, portfolio);
    (candidates, rejected)
}

/// Where a candidate is made: workload, offering and the offering's hardware class.
struct Site<'a> {
    wi: usize,
    oi: usize,
    o: &'a Offering,
    class: usize,
}

#[allow(clippy::too_many_arguments)]
fn serve_candidates(
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    shape: &ModelShape,
    w: &Workload,
    site: &Site,
    pricings: &[(bool, f64)],
    memo: &mut Memo,
) -> Result<Vec<Candidate>, String> {
    let WorkloadKind::Inference(svc) = &w.kind else {
        unreachable!()
    };
    let (wi, oi, o) = (site.wi, site.oi, site.o);
    let (first, answer) = memo.serve.entry(site.class).or_insert_with(|| {
        let answer = serve_on_offering(
            catalog,
            calibration,
            shape,
            o,
            w.precision,
            svc.prompt_tokens,
            svc.output_tokens,
            svc.slo,
        )
        .map_err(|e| e.to_string());
        (oi, answer)
    });
    // A reason found on another offering of the class names that offering: name this one.
    let s = match answer {
        Ok(s) => s.clone(),
        Err(reason) if *first == oi => return Err(reason.clone()),
        Err(reason) => {
            return Err(reason.replace(&catalog.offerings()[*first].id(), &o.id()));
        }
    };
    let chip = catalog.chip(&o.chip).expect("catalog invariant");
    let (instances_per_unit, replicas_per_unit) = if s.instances_per_replica > 1 {
        (s.instances_per_replica, 1)
    } else {
        (1, s.replicas_per_instance)
    };
    let chips_per_unit = instances_per_unit * o.chips_per_instance;
    Ok(pricings
        .iter()
        .map(|&(spot, usd)| {
            let availability = if spot {
                portfolio.policy.spot_availability
            } else {
                1.0
            };
            Candidate {
                workload: wi,
                offering: oi,
                spot,
                vendor: chip.vendor,
                instances_per_unit,
                chips_per_unit,
                usd_per_unit_hour: usd * f64::from(instances_per_unit),
                pflops_per_unit: f64::from(chips_per_unit) * chip.bf16_tflops / 1000.0,
                kind: CandidateKind::Serve {
                    replica: s.estimate.replica,
                    replicas_per_unit,
                    requests_per_s: s.estimate.max_requests_per_s
                        * f64::from(replicas_per_unit)
                        * availability,
                    batch: s.estimate.batch,
                    ttft_ms: s.estimate.ttft_ms,
                    tpot_ms: s.estimate.tpot_ms,
                },
            }
        })
        .collect())
}

/// Instance counts tried for a training job: 1, 2, 3, 4, 6, 8, 12, … (powers of two and 1.5×).
fn instance_counts(limit: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut p = 1u32;
    while p <= limit {
        out.push(p);
        let mid = p + p / 2;
        if p >= 2 && mid <= limit {
            out.push(mid);
        }
        p = match p.checked_mul(2) {
            Some(x) => x,
            None => break,
        };
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Most instances one training job may span.
pub const MAX_TRAINING_INSTANCES: u32 = 4096;
/// Training sizes kept per offering: the smallest that meet the deadline and a few larger ones,
/// so the MILP can trade capacity between jobs.
const TRAINING_SIZES_KEPT: usize = 3;

#[allow(clippy::too_many_arguments)]
fn train_candidates(
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    shape: &ModelShape,
    w: &Workload,
    site: &Site,
    pricings: &[(bool, f64)],
    memo: &mut Memo,
) -> Result<Vec<Candidate>, String> {
    let (wi, oi, o) = (site.wi, site.oi, site.o);
    let WorkloadKind::Training(job) = &w.kind else {
        unreachable!()
    };
    let system = System::for_offering(catalog, o, calibration.params_for(catalog, &o.chip))
        .map_err(|e| e.to_string())?;
    let gbt = job
        .global_batch_tokens
        .unwrap_or_else(|| default_global_batch_tokens(shape.total_params, job.seq_len));
    let limit = o
        .capacity_instances
        .unwrap_or(MAX_TRAINING_INSTANCES)
        .min(MAX_TRAINING_INSTANCES);
    let chip = catalog.chip(&o.chip).expect("catalog invariant");
    let mut out = Vec::new();
    let mut best_days = f64::INFINITY;
    let mut last_err = None;
    let counts = instance_counts(limit);
    let mut estimate = |n: u32| {
        memo.train
            .entry((site.class, n))
            .or_insert_with(|| {
                training::estimate(
                    shape,
                    &system,
                    &TrainRequest {
                        chips: n * o.chips_per_instance,
                        seq_len: job.seq_len,
                        global_batch_tokens: gbt,
                        precision: w.precision,
                        tp: None,
                        pp: None,
                        dp: None,
                        micro_batch: None,
                    },
                )
            })
            .clone()
    };
    for &(spot, usd) in pricings {
        let availability = if spot {
            portfolio.policy.spot_availability
        } else {
            1.0
        };
        let meets = |e: &chipmix_perf::TrainEstimate| {
            e.days_for(job.tokens) / availability <= job.deadline_days
        };
        // Throughput grows with instances (the search never picks a slower layout for more
        // chips it cannot use), so bisect for the smallest count that meets the deadline after
        // checking that the largest does.
        let largest = counts.iter().rev().find_map(|&n| match estimate(n) {
            Ok(e) => Some(Ok((n, e))),
            Err(e @ PerfError::Invalid { .. }) => Some(Err(e)),
            Err(e) => {
                last_err = Some(e.to_string());
                None
            }
        });
        let (n_max, e_max) = match largest {
            None => continue,
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(x)) => x,
        };
        best_days = best_days.min(e_max.days_for(job.tokens) / availability);
        if !meets(&e_max) {
            continue;
        }
        let usable: Vec<u32> = counts.iter().copied().filter(|&n| n <= n_max).collect();
        let (mut lo, mut hi) = (0usize, usable.len() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match estimate(usable[mid]) {
                Ok(e) if meets(&e) => hi = mid,
                _ => lo = mid + 1,
            }
        }
        for &n in usable[lo..].iter().take(TRAINING_SIZES_KEPT) {
            let Ok(e) = estimate(n) else { continue };
            if !meets(&e) {
                continue;
            }
            let chips = n * o.chips_per_instance;
            out.push(Candidate {
                workload: wi,
                offering: oi,
                spot,
                vendor: chip.vendor,
                instances_per_unit: n,
                chips_per_unit: chips,
                usd_per_unit_hour: usd * f64::from(n),
                pflops_per_unit: f64::from(chips) * chip.bf16_tflops / 1000.0,
                kind: CandidateKind::Train {
                    config: e.config,
                    days: e.days_for(job.tokens) / availability,
                    tokens_per_s: e.tokens_per_s * availability,
                    mfu: e.mfu,
                    global_batch_tokens: e.global_batch_tokens,
                },
            });
        }
    }
    if out.is_empty() {
        return Err(if best_days.is_finite() {
            format!(
                "the fastest run that fits ({limit} instances at most) takes {best_days:.0} days, deadline {} days",
                job.deadline_days
            )
        } else {
            last_err.unwrap_or_else(|| "no configuration fits".into())
        });
    }
    Ok(out)
}

/// Drops serving candidates another candidate of the same workload beats on every count the
/// MILP looks at: same vendor, spot or not, the same contracts apply, no capacity limit, and
/// one unit of it does at least the work for no more money, chips or compute. Only exact
/// dominance — one unit replaces one unit — so the optimum is unchanged. Over a `horizon:`
/// the unit must replace it in every month ([`replaces_over_time`]).
fn prune_dominated(
    candidates: &mut Vec<Candidate>,
    from: usize,
    catalog: &Catalog,
    portfolio: &Portfolio,
) {
    let offerings = catalog.offerings();
    let coverage = |c: &Candidate| -> Vec<bool> {
        let o = &offerings[c.offering];
        portfolio
            .contracts
            .iter()
            .map(|k| k.covers(&o.provider, &o.chip))
            .collect()
    };
    let work = |c: &Candidate| match &c.kind {
        CandidateKind::Serve { requests_per_s, .. } => *requests_per_s,
        CandidateKind::Train { .. } => 1.0,
    };
    let is_serve = |c: &Candidate| matches!(c.kind, CandidateKind::Serve { .. });
    let group = &candidates[from..];
    let mut keep = vec![true; group.len()];
    for (i, a) in group.iter().enumerate() {
        if !is_serve(a) {
            continue;
        }
        let oa = &offerings[a.offering];
        for (j, b) in group.iter().enumerate() {
            if i == j || !keep[j] || !is_serve(b) {
                continue;
            }
            let ob = &offerings[b.offering];
            // Provider and region enter the model through contracts (compared by
            // coverage), capacity (`b` has none) and the policy filter (already applied).
            // Under `policy.resilience` the failure domain enters too.
            let same_domain = match portfolio.policy.resilience.map(|r| r.survive) {
                None | Some(FailureScope::Vendor) => true,
                Some(FailureScope::Provider) => oa.provider == ob.provider,
                Some(FailureScope::Region) => oa.provider == ob.provider && oa.region == ob.region,
            };
            let same = a.vendor == b.vendor
                && a.spot == b.spot
                && same_domain
                && ob.capacity_instances.is_none()
                && coverage(a) == coverage(b)
                && replaces_over_time(portfolio, (a, oa), (b, ob));
            if !same {
                continue;
            }
            // One unit of `b` replaces one unit of `a`: at least the work, for no more money,
            // chips or compute (the share caps count those).
            let no_worse = work(b) >= work(a)
                && b.usd_per_unit_hour <= a.usd_per_unit_hour
                && b.chips_per_unit <= a.chips_per_unit
                && b.pflops_per_unit <= a.pflops_per_unit;
            let strictly = work(b) > work(a) || b.usd_per_unit_hour < a.usd_per_unit_hour;
            if no_worse && (strictly || j < i) {
                keep[i] = false;
                break;
            }
        }
    }
    let mut idx = 0;
    candidates.retain(|_| {
        let k = idx < from || keep[idx - from];
        idx += 1;
        k
    });
}

/// Whether a unit of `b` can stand in for a unit of `a` in every month of the portfolio's
/// `horizon:` (always, without one): `b` is there whenever `a` is (`roadmap:`), has no supply
/// ramp, costs no more in any month (`prices:`), can be reserved on the same terms, and holds
/// no more instances (migration and churn count instances). Without this a cheaper offering
/// that arrives late, is retired early or gets dearer would hide the one it beats today.
fn replaces_over_time(
    portfolio: &Portfolio,
    (a, oa): (&Candidate, &Offering),
    (b, ob): (&Candidate, &Offering),
) -> bool {
    use chipmix_workload::timeline;
    let Some(horizon) = &portfolio.horizon else {
        return true;
    };
    let (ida, idb) = (oa.id(), ob.id());
    let terms = |provider: &str| {
        let mut t: Vec<(u32, u64)> = horizon
            .reservations
            .iter()
            .filter(|r| r.provider == "*" || r.provider.eq_ignore_ascii_case(provider))
            .map(|r| (r.term_years, r.discount.to_bits()))
            .collect();
        t.sort_unstable();
        t
    };
    let factor = |id: &str, o: &Offering, month: u32| {
        timeline::price_factor(&portfolio.prices, id, o.usd_per_hour.unwrap_or(0.0), month)
    };
    !portfolio.supply.iter().any(|s| s.offering == idb)
        && b.instances_per_unit <= a.instances_per_unit
        && terms(&oa.provider) == terms(&ob.provider)
        && (0..horizon.months).all(|m| {
            let b_there = timeline::available(&portfolio.roadmap, &idb, m);
            let a_there = timeline::available(&portfolio.roadmap, &ida, m);
            (b_there || !a_there)
                && b.usd_per_unit_hour * factor(&idb, ob, m)
                    <= a.usd_per_unit_hour * factor(&ida, oa, m)
        })
}
