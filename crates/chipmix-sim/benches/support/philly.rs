//! The Philly comparison setup, shared by `examples/compare_philly.rs` and `benches/sim.rs`.
//!
//! The fleet comes from a real plan: `examples/startup.yaml` planned on the built-in catalog
//! gives the inference service `api` (three allocations on AWS) and a spot B200 pool (the plan's
//! fine-tuning run). Training capacity for the trace is added by hand ([`TRAINING_CAPACITY`]).

// Each includer uses part of it.
#![allow(dead_code)]

use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::PlanOptions;
use chipmix_sim::*;
use chipmix_workload::portfolio;
use std::path::{Path, PathBuf};

/// Training instances added for the trace. Its average demand is 374 A100-40GB-equivalent GPUs
/// (Σ duration × GPUs ÷ span); hourly demand has median 422 and 90th percentile 709. With the
/// plan's 3 spot B200 instances this gives about 650 equivalents (chips ÷ the speed factor of a
/// 1-GPU job): between the median and the 90th percentile, so the busy weeks queue. 16 H100
/// instances make one pool of 128 chips, the trace's largest job; three vendors (NVIDIA,
/// Google, AWS), as a plan under a vendor cap would have.
pub const TRAINING_CAPACITY: &[(&str, u32)] = &[
    ("gcp/a3-highgpu-8g/us-central1", 16),
    ("gcp/tpu-v6e-8/us-central1", 2),
    ("aws/trn1.32xlarge/us-east-1", 2),
];

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct Setup {
    pub catalog: Catalog,
    pub calibration: Calibration,
    /// Every offering the portfolio allows, with the plan's and the added instances.
    pub full: Fleet,
    /// Only the pools with instances, each limited to them: the same supply for every policy.
    pub fixed: Fleet,
}

pub fn setup() -> Setup {
    let base = Catalog::builtin().expect("built-in catalog");
    let p = portfolio::load(&root().join("examples/startup.yaml"), &base)
        .expect("examples/startup.yaml")
        .portfolio;
    let catalog = p.effective_catalog(&base).expect("overrides");
    let calibration = Calibration::builtin();
    let plan = chipmix_plan::plan(
        &p,
        &catalog,
        &calibration,
        &PlanOptions {
            time_limit_s: 30.0,
            relative_gap: 1e-4,
            analysis: false,
            method: Default::default(),
        },
    )
    .expect("plan");
    let mut full = Fleet::from_plan(&plan, &catalog, &p).expect("fleet");
    for (offering, n) in TRAINING_CAPACITY {
        let pool = full
            .pools
            .iter_mut()
            .find(|x| x.offering == *offering && !x.spot)
            .expect("offering in the fleet");
        pool.planned_instances = *n;
    }
    for pool in &mut full.pools {
        if pool.spot {
            pool.max_instances = Some(pool.planned_instances + pool.inference_instances);
        }
    }
    let keep: Vec<bool> = full
        .pools
        .iter()
        .map(|x| x.planned_instances + x.inference_instances > 0)
        .collect();
    let mut fixed = retain_pools(&full, &keep);
    for pool in &mut fixed.pools {
        pool.max_instances = Some(pool.planned_instances + pool.inference_instances);
    }
    Setup {
        catalog,
        calibration,
        full,
        fixed,
    }
}

/// The trace's jobs on `fleet`, 120 days (the trace spans 109), the Azure load shape, spot
/// preemptions at 0.02 per instance-hour with 30-minute recovery, and a 6-hour outage of
/// aws/us-east-1 on day 60.
pub fn scenario(s: &Setup, fleet: &Fleet, jobs: &[JobArrival], shape: &LoadShape) -> Scenario {
    let speeds =
        SpeedTable::for_jobs(fleet, &s.catalog, &s.calibration, jobs).expect("speed table");
    let mut sc = Scenario::new(
        fleet.clone(),
        jobs.to_vec(),
        speeds,
        Policy::FollowPlan,
        120.0,
    );
    sc.load = shape.clone();
    sc.spot = SpotModel {
        preemptions_per_hour: 0.02,
        recovery_seconds: 1800.0,
    };
    sc.supply_events = vec![SupplyEvent::Outage {
        scope: Scope::Region("aws/us-east-1".into()),
        start_seconds: 60.0 * 86_400.0,
        end_seconds: 60.25 * 86_400.0,
    }];
    sc.seed = 1;
    sc
}

pub fn load_traces() -> (Vec<JobArrival>, LoadShape) {
    let jobs = load_philly(&root().join("data/traces/philly-sia.csv")).expect("philly trace");
    let shape =
        load_azure_shape(&root().join("data/traces/azure-llm-2023-conv.csv")).expect("azure trace");
    (jobs, shape)
}

/// The policies compared, with how the rented ones rent.
pub fn runs() -> Vec<(String, Policy, Renting)> {
    vec![
        ("follow-plan".into(), Policy::FollowPlan, Renting::PerJob),
        (
            "greedy (instances per job)".into(),
            Policy::Greedy,
            Renting::PerJob,
        ),
        (
            "greedy (shared instances)".into(),
            Policy::Greedy,
            Renting::Shared,
        ),
        (
            "replan hourly (DemandReplanner)".into(),
            Policy::Replan {
                every_seconds: 3600.0,
            },
            Renting::PerJob,
        ),
        (
            "gavel 6 min (instances per job)".into(),
            Policy::gavel(),
            Renting::PerJob,
        ),
        (
            "gavel 6 min (shared instances)".into(),
            Policy::gavel(),
            Renting::Shared,
        ),
    ]
}

fn retain_pools(fleet: &Fleet, keep: &[bool]) -> Fleet {
    let mut index = vec![usize::MAX; fleet.pools.len()];
    let mut out = Fleet::default();
    for (i, p) in fleet.pools.iter().enumerate() {
        if keep[i] {
            index[i] = out.pools.len();
            out.pools.push(p.clone());
        }
    }
    out.services = fleet
        .services
        .iter()
        .map(|s| Service {
            allocations: s
                .allocations
                .iter()
                .filter(|a| keep[a.pool])
                .map(|a| ServiceAllocation {
                    pool: index[a.pool],
                    ..*a
                })
                .collect(),
            ..s.clone()
        })
        .collect();
    out
}
