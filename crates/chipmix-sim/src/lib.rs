//! Trace-driven discrete-event simulation of a fleet run under a plan: training jobs (the Philly
//! trace, or a Poisson stream) queue for chips, inference services see load shaped by the Azure
//! LLM trace, outages, spot preemptions and capacity and price changes hit the pools, and a
//! [`Policy`] — follow the plan, rent the cheapest, re-plan on a rolling horizon, or Gavel-style
//! rounds — decides where jobs run; [`simulate`] reports cost by vendor, job completion and
//! queueing times and SLO attainment, and [`check()`] replays the optional event log on its own.
//! chipmix's assumptions, each documented where it is made: the trace's durations are
//! A100-40GB times ([`trace::REFERENCE_CHIP`]), a job's GPU count names the model it trains
//! (1 → Llama 3.2 1B, 2–4 → 3.2 3B, 5–8 → 3 8B, 9–64 → 3 70B, more → 3.1 405B;
//! [`trace::model_for_gpus`]), a preempted job loses no work (checkpoint at preemption), and
//! the Azure trace's hour repeats over the simulated days ([`trace::parse_azure_shape`]).

pub mod check;
pub mod contracts;
mod engine;
pub mod fleet;
pub mod log;
pub mod milp_replan;
pub mod report;
mod scenario;
pub mod speed;
pub mod trace;

pub use check::check;
pub use engine::{simulate, simulate_with};
pub use fleet::{Fleet, Pool, Scope, Service, ServiceAllocation};
pub use log::{Entry, EventLog, Record};
pub use milp_replan::MilpReplanner;
pub use report::{SimReport, markdown_table};
pub use scenario::{
    DemandReplanner, FleetState, Policy, PoolStatus, QueuedJob, Renting, Replanner, Scenario,
    SimOutcome, SpotModel, SupplyEvent,
};
pub use speed::SpeedTable;
pub use trace::{
    JobArrival, JobMix, LoadShape, TraceError, generate_jobs, load_azure_shape, load_philly,
};

use std::fmt;

/// A scenario the simulator cannot run, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError(pub String);

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SimError {}

/// The four policies as usually compared: follow the plan, greedy, re-plan hourly with
/// [`DemandReplanner`], Gavel with 6-minute rounds.
pub fn standard_policies() -> Vec<Policy> {
    vec![
        Policy::FollowPlan,
        Policy::Greedy,
        Policy::Replan {
            every_seconds: 3600.0,
        },
        Policy::gavel(),
    ]
}

/// Runs `base` under each policy (its own policy ignored), with a [`DemandReplanner`] for
/// `Replan`; (policy name, report) in the order given.
pub fn compare_policies(
    base: &Scenario,
    policies: &[Policy],
) -> Result<Vec<(String, SimReport)>, SimError> {
    let mut out = Vec::with_capacity(policies.len());
    let mut scenario = base.clone();
    for policy in policies {
        scenario.policy = policy.clone();
        let outcome = simulate(&scenario, &|_| {})?;
        out.push((policy.name(), outcome.report));
    }
    Ok(out)
}
