//! An independent check of an event log: it replays the log against the fleet and shares no
//! code with the engine, so an engine bug shows up as a disagreement rather than being
//! repeated.

use crate::fleet::Fleet;
use crate::log::{EventLog, Record};
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq)]
enum Life {
    Waiting,
    Running { pool: u32 },
    Ended,
}

struct JobSeen {
    chips: u32,
    life: Life,
}

/// Everything wrong with the log, one line each (empty when it holds up):
///
/// - time never goes backwards;
/// - every job that arrived ends exactly once (finished, unrunnable, or marked running or
///   queued at the end), starts only while waiting, and stops only where it runs, with the
///   chips it arrived with;
/// - no pool ever has more busy chips than the chips of its held instances, holds instances
///   while down, or holds more than its supply limit leaves after inference;
/// - for every service and minute, once each and in order: served + unserved = offered,
///   served ≤ offered, served ≤ capacity, and the capacity is what the plan's allocations
///   give with the inference instances up at that moment.
pub fn check(log: &EventLog, fleet: &Fleet) -> Vec<String> {
    let mut problems = Vec::new();
    let n_pools = fleet.pools.len();
    let mut held = vec![0u64; n_pools];
    let mut busy = vec![0u64; n_pools];
    let mut down = vec![false; n_pools];
    let mut limit: Vec<Option<u64>> = fleet
        .pools
        .iter()
        .map(|p| p.max_instances.map(u64::from))
        .collect();
    let mut inference_up: Vec<u64> = fleet
        .pools
        .iter()
        .map(|p| u64::from(p.inference_instances))
        .collect();
    let mut next_minute = vec![0u64; fleet.services.len()];
    let mut jobs: HashMap<u32, JobSeen> = HashMap::new();
    let mut last = f64::NEG_INFINITY;

    for (i, entry) in log.entries.iter().enumerate() {
        let at = format!("entry {i} at {} s", entry.seconds);
        let mut problem = |m: String| problems.push(format!("{at}: {m}"));
        if !entry.seconds.is_finite() || entry.seconds < last {
            problem(format!("time goes back from {last} s"));
        }
        last = last.max(entry.seconds);
        let pool_ok = |p: u32| (p as usize) < n_pools;
        match entry.record {
            Record::Arrive { job, chips } => {
                if let std::collections::hash_map::Entry::Vacant(e) = jobs.entry(job) {
                    e.insert(JobSeen {
                        chips,
                        life: Life::Waiting,
                    });
                } else {
                    problem(format!("job {job} arrives twice"));
                }
            }
            Record::Start { job, pool, chips } => {
                if !pool_ok(pool) {
                    problem(format!(
                        "job {job} starts on pool {pool}, which does not exist"
                    ));
                    continue;
                }
                match jobs.get_mut(&job) {
                    None => problem(format!("job {job} starts before it arrives")),
                    Some(j) => {
                        if j.life != Life::Waiting {
                            problem(format!("job {job} starts while not waiting"));
                        }
                        if j.chips != chips {
                            problem(format!(
                                "job {job} starts on {chips} chips but asked for {}",
                                j.chips
                            ));
                        }
                        j.life = Life::Running { pool };
                        let p = pool as usize;
                        busy[p] += u64::from(chips);
                        if down[p] {
                            problem(format!("job {job} starts on pool {pool} while it is down"));
                        }
                    }
                }
            }
            Record::Finish { job, pool, chips } | Record::Preempt { job, pool, chips } => {
                let finishing = matches!(entry.record, Record::Finish { .. });
                let what = if finishing {
                    "finishes"
                } else {
                    "is preempted"
                };
                match jobs.get_mut(&job) {
                    None => problem(format!("job {job} {what} but never arrived")),
                    Some(j) => {
                        if j.life != (Life::Running { pool }) {
                            problem(format!(
                                "job {job} {what} on pool {pool} without running there"
                            ));
                        } else {
                            if j.chips != chips {
                                problem(format!(
                                    "job {job} {what} releasing {chips} chips, it held {}",
                                    j.chips
                                ));
                            }
                            let p = pool as usize;
                            match busy[p].checked_sub(u64::from(chips)) {
                                Some(b) => busy[p] = b,
                                None => {
                                    problem(format!(
                                        "pool {pool} releases more chips than are busy"
                                    ));
                                    busy[p] = 0;
                                }
                            }
                        }
                        if j.life == Life::Ended {
                            problem(format!("job {job} {what} after it ended"));
                        }
                        j.life = if finishing {
                            Life::Ended
                        } else {
                            Life::Waiting
                        };
                    }
                }
            }
            Record::Unrunnable { job } | Record::QueuedAtEnd { job } => match jobs.get_mut(&job) {
                None => problem(format!("job {job} ends but never arrived")),
                Some(j) => {
                    if j.life != Life::Waiting {
                        problem(format!("job {job} ends as waiting, but is not waiting"));
                    }
                    j.life = Life::Ended;
                }
            },
            Record::RunningAtEnd { job, pool } => match jobs.get_mut(&job) {
                None => problem(format!("job {job} ends but never arrived")),
                Some(j) => {
                    if j.life != (Life::Running { pool }) {
                        problem(format!(
                            "job {job} ends as running on pool {pool}, but is not"
                        ));
                    }
                    j.life = Life::Ended;
                }
            },
            Record::Held { pool, instances } => {
                if !pool_ok(pool) {
                    problem(format!("pool {pool} does not exist"));
                    continue;
                }
                let p = pool as usize;
                held[p] = u64::from(instances);
                if down[p] && instances > 0 {
                    problem(format!(
                        "pool {pool} holds {instances} instances while down"
                    ));
                }
            }
            Record::Capacity {
                pool,
                max_instances,
            } => {
                if !pool_ok(pool) {
                    problem(format!("pool {pool} does not exist"));
                    continue;
                }
                limit[pool as usize] = max_instances.map(u64::from);
            }
            Record::Price { pool, usd_per_hour } => {
                if !pool_ok(pool) || !usd_per_hour.is_finite() || usd_per_hour < 0.0 {
                    problem(format!("pool {pool}: bad price {usd_per_hour}"));
                }
            }
            Record::Outage { pool, down: d } => {
                if !pool_ok(pool) {
                    problem(format!("pool {pool} does not exist"));
                    continue;
                }
                let p = pool as usize;
                if d == down[p] {
                    problem(format!("pool {pool} changes to down = {d} twice"));
                }
                down[p] = d;
                if d && (held[p] > 0 || busy[p] > 0) {
                    problem(format!(
                        "pool {pool} goes down still holding {} instances, {} busy chips",
                        held[p], busy[p]
                    ));
                }
            }
            Record::InferenceUp { pool, instances } => {
                if !pool_ok(pool) {
                    problem(format!("pool {pool} does not exist"));
                    continue;
                }
                let p = pool as usize;
                if u64::from(instances) > u64::from(fleet.pools[p].inference_instances) {
                    problem(format!(
                        "pool {pool} has {instances} inference instances up of {}",
                        fleet.pools[p].inference_instances
                    ));
                }
                inference_up[p] = u64::from(instances);
            }
            Record::Minute {
                service,
                minute,
                offered_requests: offered,
                served_requests: served,
                unserved_requests: unserved,
                capacity_requests: capacity,
            } => {
                let Some(s) = fleet.services.get(service as usize) else {
                    problem(format!("service {service} does not exist"));
                    continue;
                };
                let expected = &mut next_minute[service as usize];
                if u64::from(minute) != *expected {
                    problem(format!(
                        "service {service}: minute {minute} where minute {expected} was due"
                    ));
                }
                *expected = u64::from(minute) + 1;
                let tol = 1e-9 * offered.abs().max(capacity.abs()).max(1.0);
                if ![offered, served, unserved, capacity]
                    .iter()
                    .all(|x| x.is_finite() && *x >= -tol)
                {
                    problem(format!(
                        "service {service} minute {minute}: a negative or non-finite number"
                    ));
                }
                if (served + unserved - offered).abs() > tol {
                    problem(format!(
                        "service {service} minute {minute}: served {served} + unserved {unserved} ≠ offered {offered}"
                    ));
                }
                if served > offered + tol || served > capacity + tol {
                    problem(format!(
                        "service {service} minute {minute}: served {served} exceeds offered {offered} or capacity {capacity}"
                    ));
                }
                let expected_capacity: f64 = s
                    .allocations
                    .iter()
                    .map(|a| {
                        let pool = &fleet.pools[a.pool];
                        if down[a.pool] || pool.inference_instances == 0 {
                            0.0
                        } else {
                            a.requests_per_s * 60.0 * inference_up[a.pool] as f64
                                / f64::from(pool.inference_instances)
                        }
                    })
                    .sum();
                if (expected_capacity - capacity).abs() > 1e-6 * expected_capacity.max(1.0) {
                    problem(format!(
                        "service {service} minute {minute}: capacity {capacity} but the instances up give {expected_capacity}"
                    ));
                }
            }
        }
        // The capacity invariants, after every entry that can change them.
        match entry.record {
            Record::Start { pool, .. }
            | Record::Held { pool, .. }
            | Record::Capacity { pool, .. } => {
                let p = pool as usize;
                if p < n_pools {
                    let cpi = u64::from(fleet.pools[p].chips_per_instance);
                    if busy[p] > held[p] * cpi {
                        problems.push(format!(
                            "entry {i} at {} s: pool {pool} has {} busy chips on {} held instances of {cpi}",
                            entry.seconds, busy[p], held[p]
                        ));
                    }
                    if let Some(m) = limit[p] {
                        let room = m.saturating_sub(u64::from(fleet.pools[p].inference_instances));
                        if held[p] > room {
                            problems.push(format!(
                                "entry {i} at {} s: pool {pool} holds {} training instances, its limit leaves {room}",
                                entry.seconds, held[p]
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut never_ended: Vec<u32> = jobs
        .iter()
        .filter(|(_, j)| j.life != Life::Ended)
        .map(|(id, _)| *id)
        .collect();
    never_ended.sort_unstable();
    for id in never_ended.iter().take(20) {
        problems.push(format!("job {id} arrived but never ended"));
    }
    if never_ended.len() > 20 {
        problems.push(format!(
            "… and {} more jobs never ended",
            never_ended.len() - 20
        ));
    }
    problems
}
