use chipmix_catalog::{Catalog, Vendor};
use chipmix_perf::Calibration;
use chipmix_plan::PlanOptions;
use chipmix_sim::*;
use chipmix_workload::portfolio;
use proptest::prelude::*;
use std::cell::Cell;
use std::path::Path;

const PHILLY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/traces/philly-sia.csv"
);
const AZURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/traces/azure-llm-2023-conv.csv"
);

fn pool(cpi: u32, planned: u32, usd_per_hour: f64) -> Pool {
    Pool {
        offering: format!("test/x{cpi}/r"),
        provider: "test".into(),
        region: "r".into(),
        vendor: Vendor::Nvidia,
        chip: "h100".into(),
        chips_per_instance: cpi,
        usd_per_hour,
        spot: false,
        planned_instances: planned,
        inference_instances: 0,
        max_instances: None,
    }
}

fn job(submit: f64, duration: f64, gpus: u32) -> JobArrival {
    JobArrival {
        submit_seconds: submit,
        duration_seconds: duration,
        num_gpus: gpus,
    }
}

/// Every job size of `jobs` runs at `factors[pool]` on each pool.
fn speeds(fleet: &Fleet, jobs: &[JobArrival], factors: &[f64]) -> SpeedTable {
    let mut sizes: Vec<u32> = jobs.iter().map(|j| j.num_gpus).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let n = sizes.len();
    let f = (0..n).flat_map(|_| factors.iter().copied()).collect();
    assert_eq!(factors.len(), fleet.pools.len());
    SpeedTable::from_factors(sizes, fleet.pools.len(), f).unwrap()
}

fn scenario(fleet: Fleet, jobs: Vec<JobArrival>, factors: &[f64], policy: Policy) -> Scenario {
    let s = speeds(&fleet, &jobs, factors);
    let mut sc = Scenario::new(fleet, jobs, s, policy, 1.0);
    sc.record_log = true;
    sc
}

fn run(sc: &Scenario) -> SimOutcome {
    let out = simulate(sc, &|_| {}).unwrap();
    let problems = check(out.log.as_ref().unwrap(), &sc.fleet);
    assert!(problems.is_empty(), "{problems:#?}");
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn follow_plan_runs_jobs_back_to_back_and_pays_all_day() {
    let fleet = Fleet {
        pools: vec![pool(4, 1, 10.0)],
        services: vec![],
    };
    let jobs = vec![job(0.0, 100.0, 4), job(0.0, 100.0, 4), job(0.0, 100.0, 4)];
    let out = run(&scenario(fleet, jobs, &[1.0], Policy::FollowPlan));
    let t = &out.report.training;
    assert_eq!(t.jobs_completed, 3);
    assert_eq!(t.jct_mean_seconds, Some(200.0));
    assert_eq!(t.jct_p99_seconds, Some(300.0));
    assert_eq!(t.queueing_delay_mean_seconds, Some(100.0));
    assert!(close(out.report.total_cost_usd, 240.0));
    assert!(close(out.report.cost_by_vendor_usd["nvidia"], 240.0));
    assert!(close(t.busy_chip_hours, 4.0 * 300.0 / 3600.0));
}

#[test]
fn greedy_rents_whole_instances_only_while_running() {
    let mut p = pool(4, 0, 10.0);
    p.max_instances = Some(2);
    let fleet = Fleet {
        pools: vec![p],
        services: vec![],
    };
    // Three 1-GPU jobs: each rents a whole 4-chip instance, so the third waits.
    let jobs = vec![job(0.0, 100.0, 1), job(0.0, 100.0, 1), job(0.0, 100.0, 1)];
    let mut sc = scenario(fleet, jobs, &[1.0], Policy::Greedy);
    let out = run(&sc);
    assert_eq!(out.report.training.jct_mean_seconds, Some(400.0 / 3.0));
    assert!(close(
        out.report.training_cost_usd,
        3.0 * 100.0 * 10.0 / 3600.0
    ));
    // Shared instances: all three pack onto one.
    sc.renting = Renting::Shared;
    let out = run(&sc);
    assert_eq!(out.report.training.jct_mean_seconds, Some(100.0));
    assert!(close(out.report.training_cost_usd, 100.0 * 10.0 / 3600.0));
}

#[test]
fn jobs_go_where_they_finish_soonest_or_cost_least() {
    let fleet = Fleet {
        pools: vec![pool(1, 1, 1.0), pool(1, 1, 4.0)],
        services: vec![],
    };
    // Pool 1 is twice as fast but four times the price.
    let jobs = vec![job(0.0, 1000.0, 1)];
    let out = run(&scenario(
        fleet.clone(),
        jobs.clone(),
        &[1.0, 0.5],
        Policy::FollowPlan,
    ));
    assert_eq!(out.report.training.jct_mean_seconds, Some(500.0));
    let out = run(&scenario(fleet, jobs, &[1.0, 0.5], Policy::Greedy));
    assert_eq!(out.report.training.jct_mean_seconds, Some(1000.0));
}

#[test]
fn an_outage_requeues_a_job_without_losing_its_work() {
    let fleet = Fleet {
        pools: vec![pool(8, 1, 8.0)],
        services: vec![],
    };
    let mut sc = scenario(fleet, vec![job(0.0, 1000.0, 8)], &[1.0], Policy::FollowPlan);
    sc.supply_events = vec![SupplyEvent::Outage {
        scope: Scope::Vendor(Vendor::Nvidia),
        start_seconds: 100.0,
        end_seconds: 300.0,
    }];
    let out = run(&sc);
    let t = &out.report.training;
    assert_eq!(t.preemptions, 1);
    assert_eq!(t.jct_mean_seconds, Some(1200.0));
    // The down pool is not billed: 24 h less the 200 s outage.
    assert!(close(
        out.report.total_cost_usd,
        8.0 * (86_400.0 - 200.0) / 3600.0
    ));
    let log = out.log.unwrap();
    assert!(log.entries.iter().any(|e| matches!(
        e.record,
        Record::Preempt {
            job: 0,
            pool: 0,
            chips: 8
        }
    )));
}

#[test]
fn capacity_cuts_and_price_rises_apply_from_their_time() {
    let mut p = pool(1, 2, 2.0);
    p.max_instances = Some(2);
    let fleet = Fleet {
        pools: vec![p],
        services: vec![],
    };
    let jobs = vec![job(0.0, 7200.0, 1), job(10.0, 7200.0, 1)];
    let mut sc = scenario(fleet, jobs, &[1.0], Policy::FollowPlan);
    sc.supply_events = vec![
        SupplyEvent::Capacity {
            pool: 0,
            at_seconds: 3600.0,
            max_instances: Some(1),
        },
        SupplyEvent::Price {
            pool: 0,
            at_seconds: 43_200.0,
            factor: 2.0,
        },
    ];
    let out = run(&sc);
    // The later job is cut at 1 h and resumes when the first finishes at 2 h.
    assert_eq!(out.report.training.preemptions, 1);
    assert_eq!(out.report.training.jobs_completed, 2);
    // 2 instances × 1 h, then 1 instance × 11 h at $2, then 12 h at $4.
    assert!(close(
        out.report.total_cost_usd,
        2.0 * 2.0 + 11.0 * 2.0 + 12.0 * 4.0
    ));
}

#[test]
fn inference_capacity_follows_outages_and_the_load_shape() {
    let mut p = pool(8, 0, 10.0);
    p.inference_instances = 2;
    let fleet = Fleet {
        pools: vec![p],
        services: vec![Service {
            name: "api".into(),
            peak_requests_per_s: 10.0,
            allocations: vec![ServiceAllocation {
                pool: 0,
                requests_per_s: 8.0,
            }],
        }],
    };
    let mut sc = scenario(fleet, vec![], &[1.0], Policy::Greedy);
    sc.load = LoadShape {
        per_minute: vec![1.0, 0.5, 0.5, 0.5],
    };
    sc.supply_events = vec![SupplyEvent::Outage {
        scope: Scope::Region("test/r".into()),
        start_seconds: 3600.0,
        end_seconds: 7200.0,
    }];
    let out = run(&sc);
    let s = &out.report.services[0];
    assert_eq!(s.minutes, 1440);
    // Peak minutes (every 4th) miss; the outage hour misses all 60; 15 of its were peaks.
    let missed = 360 + 60 - 15;
    assert!(close(s.slo_attainment, (1440 - missed) as f64 / 1440.0));
    assert!(close(s.offered_requests, 360.0 * 600.0 + 1080.0 * 300.0));
    assert!(close(
        s.served_requests + s.unserved_requests,
        s.offered_requests
    ));
    // Inference instances are paid as planned, outage or not.
    assert!(close(out.report.inference_cost_usd, 2.0 * 10.0 * 24.0));
}

#[test]
fn spot_preemptions_repeat_for_a_seed() {
    let mut p = pool(2, 4, 3.0);
    p.spot = true;
    p.inference_instances = 1;
    let fleet = Fleet {
        pools: vec![p],
        services: vec![Service {
            name: "s".into(),
            peak_requests_per_s: 1.0,
            allocations: vec![ServiceAllocation {
                pool: 0,
                requests_per_s: 2.0,
            }],
        }],
    };
    let jobs: Vec<JobArrival> = generate_jobs(20.0, &JobMix::philly_like(), 200, 3)
        .into_iter()
        .map(|j| job(j.submit_seconds, j.duration_seconds, j.num_gpus.min(4)))
        .collect();
    for policy in standard_policies() {
        let mut sc = scenario(fleet.clone(), jobs.clone(), &[1.0], policy);
        sc.days = 2.0;
        sc.spot = SpotModel {
            preemptions_per_hour: 0.5,
            recovery_seconds: 600.0,
        };
        sc.seed = 11;
        let a = run(&sc);
        let b = run(&sc);
        assert_eq!(
            serde_json::to_string(&a.report).unwrap(),
            serde_json::to_string(&b.report).unwrap()
        );
        assert_eq!(a.log, b.log);
        assert!(a.report.training.preemptions > 0, "{}", sc.policy.name());
        sc.seed = 12;
        let c = run(&sc);
        assert_ne!(a.log, c.log);
    }
}

struct Fixed {
    calls: Cell<u32>,
    instances: u32,
}

impl Replanner for Fixed {
    fn replan(&mut self, at_seconds: f64, state: &FleetState) -> Vec<(usize, u32)> {
        self.calls.set(self.calls.get() + 1);
        assert_eq!(state.pools.len(), state.fleet.pools.len());
        assert!(at_seconds >= 0.0);
        vec![(0, self.instances), (99, 5)]
    }
}

#[test]
fn an_external_replanner_sets_the_held_fleet() {
    let fleet = Fleet {
        pools: vec![pool(1, 0, 1.0)],
        services: vec![],
    };
    let jobs = vec![job(10.0, 100.0, 1), job(10.0, 100.0, 1)];
    let sc = scenario(
        fleet,
        jobs,
        &[1.0],
        Policy::Replan {
            every_seconds: 3600.0,
        },
    );
    let mut r = Fixed {
        calls: Cell::new(0),
        instances: 2,
    };
    let out = simulate_with(&sc, &mut r, &|_| {}).unwrap();
    assert!(check(out.log.as_ref().unwrap(), &sc.fleet).is_empty());
    assert_eq!(r.calls.get(), 24);
    assert_eq!(out.report.training.jct_mean_seconds, Some(100.0));
    assert!(close(out.report.total_cost_usd, 48.0));
    // The built-in replanner sizes to demand: the jobs wait for the next call, and the two
    // instances are held until the call after.
    let out = run(&sc);
    assert_eq!(
        out.report.training.queueing_delay_mean_seconds,
        Some(3590.0)
    );
    assert!(close(out.report.total_cost_usd, 2.0));
}

#[test]
fn gavel_starts_jobs_at_rounds_by_speedup() {
    let mut p = pool(2, 0, 1.0);
    p.max_instances = Some(1);
    let fleet = Fleet {
        pools: vec![p],
        services: vec![],
    };
    // The 2-GPU job gains twice as much from this pool as the 1-GPU job.
    let speeds = SpeedTable::from_factors(vec![1, 2], 1, vec![1.0, 0.5]).unwrap();
    let jobs = vec![job(10.0, 100.0, 1), job(20.0, 100.0, 2)];
    let mut sc = Scenario::new(fleet, jobs, speeds, Policy::gavel(), 1.0);
    sc.record_log = true;
    let out = run(&sc);
    let starts: Vec<(f64, u32)> = out
        .log
        .unwrap()
        .entries
        .iter()
        .filter_map(|e| match e.record {
            Record::Start { job, .. } => Some((e.seconds, job)),
            _ => None,
        })
        .collect();
    // Round at 360 s: the 2-GPU job first, filling the only instance; the other at 720 s.
    assert_eq!(starts, vec![(360.0, 1), (720.0, 0)]);
    assert_eq!(
        out.report.training.jct_mean_seconds,
        Some((390.0 + 810.0) / 2.0)
    );
    // Greedy starts each on arrival, first come first served.
    sc.policy = Policy::Greedy;
    let out = run(&sc);
    assert_eq!(
        out.report.training.jct_mean_seconds,
        Some((100.0 + 140.0) / 2.0)
    );
}

#[test]
fn jobs_no_pool_can_run_are_unrunnable() {
    let mut p = pool(1, 1, 1.0);
    p.max_instances = Some(1);
    let fleet = Fleet {
        pools: vec![p],
        services: vec![],
    };
    // A 2-GPU job on a pool of one 1-chip instance, and a size the speed table lacks.
    let speeds = SpeedTable::from_factors(vec![1, 2], 1, vec![1.0, 1.0]).unwrap();
    let jobs = vec![job(0.0, 100.0, 1), job(10.0, 100.0, 2), job(20.0, 1.0, 4)];
    for policy in standard_policies() {
        let mut sc = Scenario::new(fleet.clone(), jobs.clone(), speeds.clone(), policy, 1.0);
        sc.record_log = true;
        let out = run(&sc);
        assert_eq!(
            out.report.training.jobs_unrunnable,
            2,
            "{}",
            sc.policy.name()
        );
        assert_eq!(out.report.training.jobs_completed, 1);
    }
}

#[test]
fn unsorted_jobs_keep_their_ids() {
    let fleet = Fleet {
        pools: vec![pool(8, 1, 1.0)],
        services: vec![],
    };
    let jobs = vec![job(500.0, 10.0, 8), job(0.0, 10.0, 2), job(100.0, 10.0, 4)];
    let out = run(&scenario(fleet, jobs, &[1.0], Policy::FollowPlan));
    let arrivals: Vec<(u32, u32)> = out
        .log
        .unwrap()
        .entries
        .iter()
        .filter_map(|e| match e.record {
            Record::Arrive { job, chips } => Some((job, chips)),
            _ => None,
        })
        .collect();
    assert_eq!(arrivals, vec![(1, 2), (2, 4), (0, 8)]);
}

#[test]
fn bad_scenarios_are_errors_not_panics() {
    let fleet = Fleet {
        pools: vec![pool(8, 1, 1.0)],
        services: vec![],
    };
    let base = scenario(fleet, vec![job(0.0, 1.0, 1)], &[1.0], Policy::FollowPlan);
    type Mutation = Box<dyn Fn(&mut Scenario)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (Box::new(|s| s.days = 0.0), "days"),
        (Box::new(|s| s.days = f64::NAN), "days"),
        (
            Box::new(|s| s.fleet.pools[0].usd_per_hour = f64::NAN),
            "usd_per_hour",
        ),
        (
            Box::new(|s| s.fleet.pools[0].chips_per_instance = 0),
            "chips_per_instance",
        ),
        (Box::new(|s| s.jobs[0].duration_seconds = -1.0), "job 0"),
        (Box::new(|s| s.jobs[0].num_gpus = 0), "job 0"),
        (Box::new(|s| s.interval_seconds = 0.0), "interval"),
        (
            Box::new(|s| {
                s.supply_events.push(SupplyEvent::Price {
                    pool: 3,
                    at_seconds: 0.0,
                    factor: 2.0,
                })
            }),
            "supply event 0",
        ),
        (
            Box::new(|s| {
                s.supply_events.push(SupplyEvent::Outage {
                    scope: Scope::Provider("test".into()),
                    start_seconds: 10.0,
                    end_seconds: 5.0,
                })
            }),
            "supply event 0",
        ),
        (
            Box::new(|s| s.policy = Policy::Replan { every_seconds: 0.0 }),
            "period",
        ),
        (
            Box::new(|s| {
                s.spot = SpotModel {
                    preemptions_per_hour: f64::INFINITY,
                    recovery_seconds: 1.0,
                }
            }),
            "spot",
        ),
        (Box::new(|s| s.load.per_minute = vec![-1.0]), "load shape"),
        (
            Box::new(|s| s.fleet.pools.push(pool(1, 1, 1.0))),
            "speed table",
        ),
    ];
    for (mutate, want) in cases {
        let mut sc = base.clone();
        mutate(&mut sc);
        let e = simulate(&sc, &|_| {}).unwrap_err().to_string();
        assert!(e.contains(want), "{e} (wanted {want})");
    }
}

#[test]
fn timeseries_has_a_row_per_interval_and_shares_sum_to_one() {
    let mut a = pool(1, 1, 1.0);
    a.vendor = Vendor::Google;
    let fleet = Fleet {
        pools: vec![a, pool(1, 3, 1.0)],
        services: vec![],
    };
    let mut sc = scenario(
        fleet,
        vec![job(0.0, 1800.0, 1)],
        &[2.0, 1.0],
        Policy::FollowPlan,
    );
    sc.days = 0.5;
    let out = run(&sc);
    let r = &out.report;
    assert_eq!(r.timeseries.vendors, vec!["nvidia", "google"]);
    assert_eq!(r.timeseries.points.len(), 12);
    let p0 = &r.timeseries.points[0];
    assert!(close(p0.spend_share[0], 0.75) && close(p0.spend_share[1], 0.25));
    assert!(close(p0.busy_chips[0], 0.5));
    let csv = r.timeseries_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 13);
    assert_eq!(
        lines[0],
        "start_seconds,spend_usd_nvidia,spend_usd_google,spend_share_nvidia,spend_share_google,busy_chips_nvidia,busy_chips_google"
    );
    assert!(r.timeseries_json().starts_with('{'));
    let total: f64 = r.timeseries.points.iter().flat_map(|p| &p.spend_usd).sum();
    assert!(close(total, r.total_cost_usd));
}

/// A valid log with a finish, an inference minute and a held fleet to corrupt.
fn sample() -> (EventLog, Fleet) {
    let mut p = pool(4, 1, 1.0);
    p.inference_instances = 1;
    let fleet = Fleet {
        pools: vec![p],
        services: vec![Service {
            name: "s".into(),
            peak_requests_per_s: 1.0,
            allocations: vec![ServiceAllocation {
                pool: 0,
                requests_per_s: 0.5,
            }],
        }],
    };
    let mut sc = scenario(
        fleet.clone(),
        vec![job(0.0, 100.0, 4), job(5.0, 100.0, 4)],
        &[1.0],
        Policy::FollowPlan,
    );
    sc.days = 0.01;
    let log = run(&sc).log.unwrap();
    (log, fleet)
}

fn position(log: &EventLog, f: impl Fn(&Record) -> bool) -> usize {
    log.entries.iter().position(|e| f(&e.record)).unwrap()
}

#[test]
fn the_checker_catches_corrupted_logs() {
    let (log, fleet) = sample();
    assert!(check(&log, &fleet).is_empty());

    // A finish recorded twice.
    let mut bad = log.clone();
    let i = position(&bad, |r| matches!(r, Record::Finish { .. }));
    bad.entries.insert(i + 1, bad.entries[i]);
    let problems = check(&bad, &fleet);
    assert!(
        problems.iter().any(|p| p.contains("job 0 finishes")),
        "{problems:?}"
    );

    // The second job started while the first still holds the only instance.
    let mut bad = log.clone();
    let i = position(&bad, |r| matches!(r, Record::Start { job: 1, .. }));
    let start = bad.entries.remove(i);
    let j = position(&bad, |r| matches!(r, Record::Arrive { job: 1, .. }));
    bad.entries.insert(j + 1, start);
    let problems = check(&bad, &fleet);
    assert!(
        problems.iter().any(|p| p.contains("busy chips on 1 held")),
        "{problems:?}"
    );

    // A job that never ends.
    let mut bad = log.clone();
    let i = position(&bad, |r| matches!(r, Record::Finish { job: 1, .. }));
    bad.entries.remove(i);
    let problems = check(&bad, &fleet);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("job 1 arrived but never ended")),
        "{problems:?}"
    );

    // A minute that serves more than its capacity, or loses requests.
    let i = position(&log, |r| matches!(r, Record::Minute { .. }));
    for (served, unserved) in [(60.0, 0.0), (30.0, 0.0)] {
        let mut bad = log.clone();
        if let Record::Minute {
            served_requests: s,
            unserved_requests: u,
            ..
        } = &mut bad.entries[i].record
        {
            *s = served;
            *u = unserved;
        }
        assert!(!check(&bad, &fleet).is_empty());
    }

    // Time going backwards.
    let mut bad = log.clone();
    let last = bad.entries.len() - 1;
    bad.entries[last].seconds = -1.0;
    let problems = check(&bad, &fleet);
    assert!(
        problems.iter().any(|p| p.contains("time goes back")),
        "{problems:?}"
    );
}

#[test]
fn philly_jobs_on_a_planned_fleet() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let base = Catalog::builtin().unwrap();
    let p = portfolio::load(&root.join("examples/startup.yaml"), &base)
        .unwrap()
        .portfolio;
    let catalog = p.effective_catalog(&base).unwrap();
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
    .unwrap();
    let mut fleet = Fleet::from_plan(&plan, &catalog, &p).unwrap();
    // Every allocation is a pool; the policy's providers (aws, gcp) only; the service is there.
    for a in &plan.allocations {
        assert!(
            fleet
                .pools
                .iter()
                .any(|x| x.offering == a.offering && x.spot == a.spot)
        );
    }
    assert!(
        fleet
            .pools
            .iter()
            .all(|x| x.provider == "aws" || x.provider == "gcp")
    );
    assert!(fleet.pools.len() > plan.allocations.len());
    assert_eq!(fleet.services.len(), 1);
    assert_eq!(fleet.services[0].name, "api");
    let provisioned: f64 = fleet.services[0]
        .allocations
        .iter()
        .map(|a| a.requests_per_s)
        .sum();
    assert!(provisioned >= 20.0, "{provisioned}");
    // Training room for the trace.
    let h100 = fleet
        .pools
        .iter()
        .position(|x| x.offering == "gcp/a3-highgpu-8g/us-central1")
        .unwrap();
    fleet.pools[h100].planned_instances = 16;
    fleet.pools[h100].max_instances = Some(24);

    let all = load_philly(Path::new(PHILLY)).unwrap();
    assert_eq!(all.len(), 82_247);
    // Two busy days from the middle of the trace, from time 0.
    let from = 50.0 * 86_400.0;
    let jobs: Vec<JobArrival> = all
        .iter()
        .filter(|j| (from..from + 2.0 * 86_400.0).contains(&j.submit_seconds))
        .map(|j| JobArrival {
            submit_seconds: j.submit_seconds - from,
            ..*j
        })
        .collect();
    let n = jobs.len() as u64;
    assert!(n > 1000, "{n}");
    let speeds = SpeedTable::for_jobs(&fleet, &catalog, &calibration, &jobs).unwrap();
    // The reference chip's own pool runs everything at factor 1; H100 is faster.
    let a100 = fleet
        .pools
        .iter()
        .position(|x| x.chip == "a100-40gb")
        .unwrap();
    assert!((speeds.factor(1, a100).unwrap() - 1.0).abs() < 1e-9);
    assert!(speeds.factor(1, h100).unwrap() < 0.5);
    let inferentia = fleet
        .pools
        .iter()
        .position(|x| x.chip == "inferentia2")
        .unwrap();
    assert_eq!(speeds.factor(1, inferentia), None);

    let mut sc = Scenario::new(fleet, jobs, speeds, Policy::FollowPlan, 4.0);
    sc.load = load_azure_shape(Path::new(AZURE)).unwrap();
    assert!(sc.load.per_minute.len() >= 55);
    sc.record_log = true;
    sc.spot = SpotModel {
        preemptions_per_hour: 0.05,
        recovery_seconds: 1800.0,
    };
    sc.supply_events = vec![SupplyEvent::Outage {
        scope: Scope::Region("gcp/us-central1".into()),
        start_seconds: 86_400.0,
        end_seconds: 90_000.0,
    }];
    let progress = Cell::new(0.0);
    for policy in standard_policies() {
        sc.policy = policy;
        let out = simulate(&sc, &|f| progress.set(f)).unwrap();
        assert_eq!(progress.get(), 1.0);
        let problems = check(out.log.as_ref().unwrap(), &sc.fleet);
        assert!(problems.is_empty(), "{}: {problems:#?}", sc.policy.name());
        let t = &out.report.training;
        assert_eq!(t.jobs_arrived, n);
        assert_eq!(t.jobs_completed + t.jobs_unfinished + t.jobs_unrunnable, n);
        assert!(t.jobs_completed > n * 3 / 4, "{}: {t:?}", sc.policy.name());
        assert!(out.report.total_cost_usd > 0.0);
    }
    let rows = compare_policies(&sc, &standard_policies()).unwrap();
    assert_eq!(rows.len(), 4);
    assert!(markdown_table(&rows).lines().count() == 6);
}

#[test]
fn the_speed_table_takes_any_job_size() {
    let catalog = Catalog::builtin().unwrap();
    let calibration = Calibration::builtin();
    let mut fleet = Fleet {
        pools: vec![pool(8, 1, 1.0), pool(1, 1, 1.0)],
        services: vec![],
    };
    fleet.pools[1].chip = "inferentia2".into();
    let sizes = vec![0, 1, 3, 100_000, u32::MAX];
    let speeds = SpeedTable::build(&fleet, &catalog, &calibration, sizes).unwrap();
    assert_eq!(speeds.gpu_counts(), &[1, 3, 100_000, u32::MAX]);
    // H100 is faster than the reference; Inferentia does not train; nothing runs 4 billion.
    assert!(speeds.factor(1, 0).unwrap() < 1.0);
    assert_eq!(speeds.factor(1, 1), None);
    assert_eq!(speeds.factor(u32::MAX, 0), None);
    assert_eq!(speeds.factor(2, 0), None);
    assert_eq!(speeds.entries().len(), 8);
    fleet.pools[0].chips_per_instance = 0;
    assert!(SpeedTable::build(&fleet, &catalog, &calibration, vec![1]).is_err());
}

fn arb_scenario() -> impl Strategy<Value = Scenario> {
    let pools = prop::collection::vec(
        (
            prop::sample::select(vec![1u32, 2, 4, 8]),
            0u32..4,
            0u32..3,
            prop::option::of(0u32..4),
            any::<bool>(),
            1.0f64..10.0,
            0usize..5,
            0usize..3,
        ),
        1..4,
    );
    let jobs = prop::collection::vec(
        (
            0.0f64..150_000.0,
            0.0f64..30_000.0,
            prop::sample::select(vec![1u32, 2, 4, 8, 16]),
        ),
        0..50,
    );
    let outages = prop::collection::vec((0usize..3, 0.0f64..150_000.0, 0.0f64..40_000.0), 0..3);
    let changes = prop::collection::vec(
        (
            any::<bool>(),
            0usize..4,
            0.0f64..150_000.0,
            0u32..6,
            0.25f64..4.0,
        ),
        0..3,
    );
    let factors = prop::collection::vec(prop::option::weighted(0.85, 0.3f64..3.0), 20);
    (
        pools,
        jobs,
        outages,
        changes,
        factors,
        (
            0.0f64..1.0,
            0.0f64..7200.0,
            any::<u64>(),
            1.0f64..2.0,
            any::<bool>(),
        ),
    )
        .prop_map(
            |(pools, jobs, outages, changes, factors, (rate, recovery, seed, days, shuffle))| {
                let pools: Vec<Pool> = pools
                    .into_iter()
                    .enumerate()
                    .map(
                        |(i, (cpi, planned, inference, extra, spot, usd, vendor, region))| Pool {
                            offering: format!("p{}/x{i}/r{region}", i % 2),
                            provider: format!("p{}", i % 2),
                            region: format!("r{region}"),
                            vendor: Vendor::ALL[vendor],
                            chip: "h100".into(),
                            chips_per_instance: cpi,
                            usd_per_hour: usd,
                            spot,
                            planned_instances: planned,
                            inference_instances: inference,
                            max_instances: extra.map(|e| planned + inference + e),
                        },
                    )
                    .collect();
                let n = pools.len();
                let services = vec![
                    Service {
                        name: "a".into(),
                        peak_requests_per_s: 3.0,
                        allocations: (0..n)
                            .map(|p| ServiceAllocation {
                                pool: p,
                                requests_per_s: 1.0 + p as f64,
                            })
                            .collect(),
                    },
                    Service {
                        name: "b".into(),
                        peak_requests_per_s: 0.5,
                        allocations: vec![],
                    },
                ];
                let mut jobs: Vec<JobArrival> =
                    jobs.into_iter().map(|(s, d, g)| job(s, d, g)).collect();
                if !shuffle {
                    jobs.sort_by(|a, b| a.submit_seconds.total_cmp(&b.submit_seconds));
                }
                let fleet = Fleet { pools, services };
                let sizes = vec![1u32, 2, 4, 8, 16];
                let f: Vec<f64> = (0..sizes.len() * n)
                    .map(|i| factors[i % factors.len()].unwrap_or(f64::INFINITY))
                    .collect();
                let speeds = SpeedTable::from_factors(sizes, n, f).unwrap();
                let mut supply: Vec<SupplyEvent> = outages
                    .into_iter()
                    .map(|(kind, start, len)| SupplyEvent::Outage {
                        scope: match kind {
                            0 => Scope::Provider("p0".into()),
                            1 => Scope::Region("p1/r1".into()),
                            _ => Scope::Vendor(fleet.pools[0].vendor),
                        },
                        start_seconds: start,
                        end_seconds: start + len,
                    })
                    .collect();
                for (capacity, p, at, m, factor) in changes {
                    let pool = p % n;
                    supply.push(if capacity {
                        SupplyEvent::Capacity {
                            pool,
                            at_seconds: at,
                            max_instances: (m < 5).then_some(m),
                        }
                    } else {
                        SupplyEvent::Price {
                            pool,
                            at_seconds: at,
                            factor,
                        }
                    });
                }
                let mut sc = Scenario::new(fleet, jobs, speeds, Policy::FollowPlan, days);
                sc.supply_events = supply;
                sc.spot = SpotModel {
                    preemptions_per_hour: rate,
                    recovery_seconds: recovery,
                };
                sc.seed = seed;
                sc.record_log = true;
                sc.load = LoadShape {
                    per_minute: vec![1.0, 0.2, 0.7],
                };
                sc
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Random fleets, job streams, outages, capacity and price changes and spot preemptions,
    /// under every policy and both ways of renting: the independent replay of the log finds
    /// nothing, and the report's books balance.
    #[test]
    fn every_policy_leaves_a_log_the_checker_accepts(mut sc in arb_scenario()) {
        let mut policies = standard_policies();
        policies.push(Policy::Replan { every_seconds: 900.0 });
        for renting in [Renting::PerJob, Renting::Shared] {
            sc.renting = renting;
            for policy in &policies {
                sc.policy = policy.clone();
                let out = simulate(&sc, &|_| {}).unwrap();
                let log = out.log.as_ref().unwrap();
                let problems = check(log, &sc.fleet);
                prop_assert!(problems.is_empty(), "{} {:?}: {:#?}", policy.name(), renting, problems);
                let r = &out.report;
                let t = &r.training;
                prop_assert_eq!(t.jobs_completed + t.jobs_unfinished + t.jobs_unrunnable, t.jobs_arrived);
                let arrived = sc.jobs.iter().filter(|j| j.submit_seconds < sc.days * 86_400.0).count();
                prop_assert_eq!(t.jobs_arrived, arrived as u64);
                for s in &r.services {
                    prop_assert!(close(s.served_requests + s.unserved_requests, s.offered_requests));
                    prop_assert!((0.0..=1.0).contains(&s.slo_attainment));
                }
                let by_vendor: f64 = r.cost_by_vendor_usd.values().sum();
                prop_assert!(close(by_vendor, r.total_cost_usd));
                let series: f64 = r.timeseries.points.iter().flat_map(|p| &p.spend_usd).sum();
                prop_assert!(close(series, r.total_cost_usd), "{} vs {}", series, r.total_cost_usd);
                prop_assert!(r.total_cost_usd.is_finite() && r.total_cost_usd >= 0.0);
            }
            // Rolling re-planning with the MILP solver deciding the held fleet.
            sc.policy = Policy::Replan { every_seconds: 900.0 };
            let mut milp = MilpReplanner::new(900.0);
            let out = simulate_with(&sc, &mut milp, &|_| {}).unwrap();
            let problems = check(out.log.as_ref().unwrap(), &sc.fleet);
            prop_assert!(problems.is_empty(), "milp replan: {:#?}", problems);
            let t = &out.report.training;
            prop_assert_eq!(t.jobs_completed + t.jobs_unfinished + t.jobs_unrunnable, t.jobs_arrived);
            prop_assert_eq!(milp.failed_solves, 0);
        }
    }
}
