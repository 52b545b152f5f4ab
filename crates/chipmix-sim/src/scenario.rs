//! What a simulation is given: the fleet, the jobs, the supply events and the policy, and the
//! interface through which an outside planner re-plans the fleet.

use crate::fleet::{Fleet, Scope};
use crate::log::EventLog;
use crate::report::SimReport;
use crate::speed::SpeedTable;
use crate::trace::{JobArrival, LoadShape};

/// How the fleet is run.
#[derive(Clone, Debug, PartialEq)]
pub enum Policy {
    /// The plan's training instances, held and paid all the time. Jobs start in arrival order
    /// on the pool where they finish soonest; one that fits nowhere yet does not hold back
    /// later jobs that fit (first-fit backfilling, no reservations).
    FollowPlan,
    /// Cheapest available now: each job rents instances on the pool where it costs least
    /// among those with supply left (instances × price × its run time there; with
    /// [`Renting::Shared`], price per chip-hour × chips × run time) and pays only while it
    /// runs. Jobs wait in arrival order (with backfilling) when nothing is free. Affects
    /// training only: inference runs as planned.
    Greedy,
    /// Rolling horizon: every `every_seconds` a [`Replanner`] sets the instances held per
    /// pool until the next call; jobs run as under `FollowPlan` on what is held. Held
    /// instances are never released under a running job: a pool shrinks as its jobs finish.
    Replan { every_seconds: f64 },
    /// In the spirit of Gavel (Narayanan et al., OSDI 2020): every `round_seconds`, waiting jobs
    /// in order of throughput-normalised priority — best speed-up over the reference chip
    /// across pools ÷ (chip-seconds received so far + 1) — each rent instances (as
    /// [`Scenario::renting`] says) on the pool with the best speed-up per dollar they fit.
    /// Jobs start only at rounds; running jobs are not preempted to rebalance (a
    /// simplification of Gavel's round-by-round reallocation), so the priority orders who
    /// starts, and a job cut by a preemption or outage waits behind those that received less.
    Gavel { round_seconds: f64 },
}

impl Policy {
    /// Gavel's round length in the paper's simulator: 6 minutes.
    pub const GAVEL_ROUND_SECONDS: f64 = 360.0;

    pub fn gavel() -> Policy {
        Policy::Gavel {
            round_seconds: Self::GAVEL_ROUND_SECONDS,
        }
    }

    pub fn name(&self) -> String {
        match self {
            Policy::FollowPlan => "follow-plan".into(),
            Policy::Greedy => "greedy".into(),
            Policy::Replan { every_seconds } => format!("replan-{}s", every_seconds),
            Policy::Gavel { round_seconds } => format!("gavel-{}s", round_seconds),
        }
    }
}

/// A change in supply at a known time.
#[derive(Clone, Debug, PartialEq)]
pub enum SupplyEvent {
    /// Every pool in `scope` is down from `start_seconds` to `end_seconds`: its jobs are
    /// queued again and its inference capacity is zero.
    Outage {
        scope: Scope,
        start_seconds: f64,
        end_seconds: f64,
    },
    /// From `at_seconds` the pool's supply limit is `max_instances` (inference included;
    /// inference instances are kept even above the limit).
    Capacity {
        pool: usize,
        at_seconds: f64,
        max_instances: Option<u32>,
    },
    /// From `at_seconds` the pool's price is multiplied by `factor`.
    Price {
        pool: usize,
        at_seconds: f64,
        factor: f64,
    },
}

/// How the rented policies (`Greedy`, `Gavel`) take instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Renting {
    /// Each job rents `ceil(num_gpus / chips_per_instance)` whole instances of its own, as
    /// on-demand instances are bought.
    #[default]
    PerJob,
    /// Jobs on a pool share its rented instances: the pool rents `ceil(busy chips /
    /// chips_per_instance)`, as if jobs were packed and moved between instances for free (a
    /// cluster scheduler on rented nodes).
    Shared,
}

/// Spot preemptions: each spot instance that is up is taken back at `preemptions_per_hour`
/// (a Poisson process per instance) and comes back after `recovery_seconds`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SpotModel {
    pub preemptions_per_hour: f64,
    pub recovery_seconds: f64,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub fleet: Fleet,
    /// In any order; ids in the log and reports are positions in this list.
    pub jobs: Vec<JobArrival>,
    pub speeds: SpeedTable,
    /// Shape of every service's offered load (peak × shape).
    pub load: LoadShape,
    pub supply_events: Vec<SupplyEvent>,
    pub spot: SpotModel,
    pub policy: Policy,
    /// How `Greedy` and `Gavel` rent instances.
    pub renting: Renting,
    /// Simulated time from 0.
    pub days: f64,
    /// Seeds the spot preemptions (the only randomness in the loop).
    pub seed: u64,
    pub record_log: bool,
    /// Width of the report's time-series buckets.
    pub interval_seconds: f64,
}

impl Scenario {
    /// A scenario with flat load, no supply events, no spot preemptions, per-job renting, seed
    /// 0, no log and hourly time series.
    pub fn new(
        fleet: Fleet,
        jobs: Vec<JobArrival>,
        speeds: SpeedTable,
        policy: Policy,
        days: f64,
    ) -> Scenario {
        Scenario {
            fleet,
            jobs,
            speeds,
            load: LoadShape::flat(),
            supply_events: Vec::new(),
            spot: SpotModel::default(),
            policy,
            renting: Renting::PerJob,
            days,
            seed: 0,
            record_log: false,
            interval_seconds: 3600.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SimOutcome {
    pub report: SimReport,
    pub log: Option<EventLog>,
}

/// A pool as a [`Replanner`] sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolStatus {
    pub held_instances: u32,
    pub busy_chips: u32,
    /// Training instances that could be held now (`None`: no limit); 0 while down.
    pub obtainable_instances: Option<u32>,
    pub usd_per_hour: f64,
    pub down: bool,
}

/// A waiting job as a [`Replanner`] sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueuedJob {
    /// Position in the scenario's `jobs`.
    pub job: usize,
    pub num_gpus: u32,
    /// Work left, in seconds on the reference chip.
    pub remaining_reference_seconds: f64,
}

/// The fleet at a re-planning instant.
pub struct FleetState<'a> {
    pub at_seconds: f64,
    pub fleet: &'a Fleet,
    pub pools: Vec<PoolStatus>,
    /// In arrival order.
    pub queued: Vec<QueuedJob>,
    pub(crate) speeds: &'a SpeedTable,
}

impl FleetState<'_> {
    /// How long the job would run on `pool`; `None` if the pool cannot run it.
    pub fn seconds_on(&self, job: &QueuedJob, pool: usize) -> Option<f64> {
        self.speeds
            .factor(job.num_gpus, pool)
            .map(|f| f * job.remaining_reference_seconds)
    }
}

/// Decides, every re-planning period, how many training instances each pool holds.
pub trait Replanner {
    /// (pool, instances) for the pools to hold; pools not named hold none (but keep what their
    /// running jobs need until those finish). Pool indices out of range are ignored.
    fn replan(&mut self, at_seconds: f64, state: &FleetState) -> Vec<(usize, u32)>;
}

/// Sizes each pool to the chips of the jobs running on it plus the queued jobs it is the
/// cheapest place for (price per chip-hour × chips × run time, among pools with supply left),
/// plus `headroom` (a fraction) for arrivals before the next call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DemandReplanner {
    pub headroom: f64,
}

impl Replanner for DemandReplanner {
    fn replan(&mut self, _at_seconds: f64, state: &FleetState) -> Vec<(usize, u32)> {
        let pools = &state.fleet.pools;
        let mut chips: Vec<u64> = state
            .pools
            .iter()
            .map(|p| u64::from(p.busy_chips))
            .collect();
        let mut room: Vec<u64> = state
            .pools
            .iter()
            .zip(pools)
            .zip(&chips)
            .map(|((s, p), busy)| match s.obtainable_instances {
                None => u64::MAX,
                Some(m) => (u64::from(m) * u64::from(p.chips_per_instance)).saturating_sub(*busy),
            })
            .collect();
        for job in &state.queued {
            let n = u64::from(job.num_gpus);
            let mut best: Option<(f64, usize)> = None;
            for (i, p) in pools.iter().enumerate() {
                if room[i] < n || state.pools[i].down {
                    continue;
                }
                let Some(seconds) = state.seconds_on(job, i) else {
                    continue;
                };
                let usd = state.pools[i].usd_per_hour / f64::from(p.chips_per_instance)
                    * n as f64
                    * seconds;
                if best.is_none_or(|(b, _)| usd < b) {
                    best = Some((usd, i));
                }
            }
            if let Some((_, i)) = best {
                chips[i] += n;
                room[i] -= n;
            }
        }
        let headroom = if self.headroom.is_finite() {
            self.headroom.max(0.0)
        } else {
            0.0
        };
        chips
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                let cpi = f64::from(pools[i].chips_per_instance);
                let want = (*c as f64 * (1.0 + headroom) / cpi).ceil();
                (i, want.min(f64::from(u32::MAX)) as u32)
            })
            .collect()
    }
}
