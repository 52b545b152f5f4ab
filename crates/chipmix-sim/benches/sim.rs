//! Simulator speed. Prints markdown.
//!
//! 1. Core loop: 2 million synthetic jobs (Philly-like sizes, 1-hour mean run time, Poisson
//!    arrivals) on a 4-pool, 3,200-chip fleet under `FollowPlan`, no log, no services; events
//!    per second of the loop (the speed table is built before the clock starts). Target ≥ 5 M/s.
//!    Greedy and Gavel for comparison, with shared instances (per-job instances would leave
//!    1-GPU jobs an 8-chip instance each and the queue would grow without bound).
//! 2. The Philly trace (82,247 jobs) under each policy on the comparison fleet, planning, trace
//!    reading and the speed table excluded. Target < 1 s each.
//!
//! `cargo bench -p chipmix-sim --bench sim`

#[path = "support/philly.rs"]
mod philly;

use chipmix_catalog::Vendor;
use chipmix_sim::*;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn synthetic(policy: Policy, jobs: &[JobArrival]) -> Scenario {
    let renting = Renting::Shared;
    let pools = (0..4)
        .map(|i| Pool {
            offering: format!("bench/x{i}/r"),
            provider: "bench".into(),
            region: "r".into(),
            vendor: Vendor::ALL[i],
            chip: "h100".into(),
            chips_per_instance: 8,
            usd_per_hour: 10.0 + i as f64,
            spot: false,
            planned_instances: 100,
            inference_instances: 0,
            max_instances: Some(100),
        })
        .collect();
    let fleet = Fleet {
        pools,
        services: Vec::new(),
    };
    let sizes: Vec<u32> = vec![1, 2, 4, 8, 16, 32];
    let per_pool = [1.0, 0.5, 0.8, 1.2];
    let factors = sizes.iter().flat_map(|_| per_pool).collect();
    let speeds = SpeedTable::from_factors(sizes, 4, factors).expect("speeds");
    let days = jobs
        .last()
        .map_or(1.0, |j| j.submit_seconds / 86_400.0 + 2.0);
    let mut sc = Scenario::new(fleet, jobs.to_vec(), speeds, policy, days);
    sc.renting = renting;
    sc
}

fn main() {
    let t = Instant::now();
    let jobs = generate_jobs(2_000.0, &JobMix::philly_like(), 2_000_000, 42);
    println!(
        "generated 2,000,000 jobs in {:.2} s\n",
        t.elapsed().as_secs_f64()
    );
    println!("| run | jobs | events | completed | seconds (median of 3) | events/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for policy in [Policy::FollowPlan, Policy::Greedy, Policy::gavel()] {
        let sc = synthetic(policy.clone(), &jobs);
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..3 {
            let t = Instant::now();
            let out = simulate(&sc, &|_| {}).expect("simulate");
            times.push(t.elapsed().as_secs_f64());
            last = Some(out.report);
        }
        let r = last.expect("ran");
        let s = median(times);
        println!(
            "| synthetic, {} | {} | {} | {} | {s:.3} | {:.2} M |",
            policy.name(),
            jobs.len(),
            r.events_processed,
            r.training.jobs_completed,
            r.events_processed as f64 / s / 1e6
        );
    }

    let t = Instant::now();
    let setup = philly::setup();
    let plan_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (jobs, shape) = philly::load_traces();
    let read_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut sc = philly::scenario(&setup, &setup.fixed, &jobs, &shape);
    let speed_s = t.elapsed().as_secs_f64();
    println!(
        "\nPhilly: plan + fleet {plan_s:.3} s, reading both traces {read_s:.3} s, speed table {speed_s:.3} s ({} sizes × {} pools) — all excluded below.\n",
        sc.speeds.gpu_counts().len(),
        sc.fleet.pools.len()
    );
    println!(
        "| Philly, 120 days | events | completed | seconds (median of 5) | events/s | with log: seconds | log entries |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, policy, renting) in philly::runs() {
        sc.policy = policy;
        sc.renting = renting;
        sc.record_log = false;
        let mut times = Vec::new();
        let mut report = None;
        for _ in 0..5 {
            let t = Instant::now();
            let out = simulate(&sc, &|_| {}).expect("simulate");
            times.push(t.elapsed().as_secs_f64());
            report = Some(out.report);
        }
        let r = report.expect("ran");
        let s = median(times);
        sc.record_log = true;
        let t = Instant::now();
        let out = simulate(&sc, &|_| {}).expect("simulate");
        let logged_s = t.elapsed().as_secs_f64();
        let log = out.log.expect("log");
        let problems = check(&log, &sc.fleet);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        println!(
            "| {name} | {} | {} | {s:.4} | {:.2} M | {logged_s:.4} | {} |",
            r.events_processed,
            r.training.jobs_completed,
            r.events_processed as f64 / s / 1e6,
            log.len()
        );
    }
}
