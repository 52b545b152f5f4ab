//! The discrete-event loop.
//!
//! Pools and jobs live in vectors indexed by `u32`; the loop does no hashing, no string work and
//! no allocation per event (the event heap and the queues grow to their high-water mark and
//! stay there). Arrivals are read from the sorted job list rather than pushed into the heap, so
//! the heap holds only what is in flight.
//!
//! Capacity model. *Reserved* policies (`FollowPlan`, `Replan`) hold instances and pay for them
//! all the time; jobs share a pool's chips (chips within a pool are interchangeable). *Rented*
//! policies (`Greedy`, `Gavel`) rent instances while jobs run and pay only then: whole
//! instances per job (`ceil(num_gpus / chips_per_instance)`, the default), or shared by the
//! pool's jobs ([`Renting::Shared`]). Inference instances are held and paid as planned under
//! every policy. Training instances that an outage or a spot preemption takes down are not
//! billed while down; inference instances are billed regardless.

use crate::SimError;
use crate::log::{Entry, EventLog, Record};
use crate::report::{ServiceReport, SimReport, TimePoint, TimeSeries, TrainingReport, mean_p99};
use crate::scenario::{
    DemandReplanner, FleetState, Policy, PoolStatus, QueuedJob, Renting, Replanner, Scenario,
    SimOutcome, SupplyEvent,
};
use crate::trace::SimRng;
use crate::trace::exponential;
use chipmix_catalog::Vendor;
use rand::{Rng, SeedableRng};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// Runs a scenario. `Replan` uses a [`DemandReplanner`] without headroom.
pub fn simulate(scenario: &Scenario, progress: &dyn Fn(f64)) -> Result<SimOutcome, SimError> {
    let mut replanner = DemandReplanner::default();
    simulate_with(scenario, &mut replanner, progress)
}

/// Runs a scenario with `replanner` deciding the held fleet under `Policy::Replan` (ignored by
/// the other policies). `progress` gets the fraction of simulated time done, now and then.
pub fn simulate_with(
    scenario: &Scenario,
    replanner: &mut dyn Replanner,
    progress: &dyn Fn(f64),
) -> Result<SimOutcome, SimError> {
    validate(scenario)?;
    let mut sim = Sim::new(scenario);
    sim.run(replanner, progress);
    Ok(sim.finish())
}

fn validate(s: &Scenario) -> Result<(), SimError> {
    s.fleet.validate()?;
    let err = |m: String| Err(SimError(m));
    if s.speeds.pools() != s.fleet.pools.len() {
        return err(format!(
            "the speed table covers {} pools, the fleet has {}",
            s.speeds.pools(),
            s.fleet.pools.len()
        ));
    }
    if !(s.days.is_finite() && s.days > 0.0) {
        return err(format!("days: {} is not a positive number", s.days));
    }
    if !(s.interval_seconds.is_finite() && s.interval_seconds > 0.0) {
        return err(format!(
            "interval_seconds: {} is not a positive number",
            s.interval_seconds
        ));
    }
    if s.days > 36_500.0 {
        return err(format!("days: {} is more than a century", s.days));
    }
    if s.days * 86_400.0 / s.interval_seconds > 10_000_000.0 {
        return err("interval_seconds: more than 10 million intervals; use a longer one".into());
    }
    match s.policy {
        Policy::Replan { every_seconds: t } | Policy::Gavel { round_seconds: t }
            if !(t.is_finite() && t >= 1.0) =>
        {
            return err(format!(
                "policy {}: the period must be at least 1 second",
                s.policy.name()
            ));
        }
        _ => {}
    }
    for (i, j) in s.jobs.iter().enumerate() {
        if !(j.submit_seconds.is_finite() && j.submit_seconds >= 0.0) {
            return err(format!(
                "job {i}: submit_seconds {} is not a time ≥ 0",
                j.submit_seconds
            ));
        }
        if !(j.duration_seconds.is_finite() && j.duration_seconds >= 0.0) {
            return err(format!(
                "job {i}: duration_seconds {} is not a duration ≥ 0",
                j.duration_seconds
            ));
        }
        if j.num_gpus == 0 {
            return err(format!("job {i}: num_gpus must be at least 1"));
        }
    }
    if s.jobs.len() >= u32::MAX as usize || s.fleet.pools.len() >= u32::MAX as usize {
        return err("more than 4 billion jobs or pools".into());
    }
    if s.load
        .per_minute
        .iter()
        .any(|x| !(x.is_finite() && *x >= 0.0))
    {
        return err("load shape: every value must be finite and non-negative".into());
    }
    let sp = s.spot;
    let non_negative = |x: f64| x.is_finite() && x >= 0.0;
    if !non_negative(sp.preemptions_per_hour) || !non_negative(sp.recovery_seconds) {
        return err(
            "spot: preemptions_per_hour and recovery_seconds must be finite and ≥ 0".into(),
        );
    }
    let time_ok = |t: f64| t.is_finite() && t >= 0.0;
    for (i, e) in s.supply_events.iter().enumerate() {
        let bad = match e {
            SupplyEvent::Outage {
                start_seconds,
                end_seconds,
                ..
            } => {
                if !(time_ok(*start_seconds) && time_ok(*end_seconds) && end_seconds >= start_seconds) {
                    Some("an outage needs 0 ≤ start_seconds ≤ end_seconds".to_string())
                } else {
                    None
                }
            }
            SupplyEvent::Capacity {
                pool, at_seconds, ..
            } => (*pool >= s.fleet.pools.len() || !time_ok(*at_seconds))
                .then(|| format!("capacity change on pool {pool} at {at_seconds} s: no such pool or bad time")),
            SupplyEvent::Price {
                pool,
                at_seconds,
                factor,
            } => (*pool >= s.fleet.pools.len()
                || !time_ok(*at_seconds)
                || !(factor.is_finite() && *factor >= 0.0))
                .then(|| format!("price change on pool {pool} at {at_seconds} s (× {factor}): no such pool, bad time or bad factor")),
        };
        if let Some(m) = bad {
            return err(format!("supply event {i}: {m}"));
        }
    }
    Ok(())
}

const UNLIMITED: u32 = u32::MAX;

// Event kinds (the heap stores a byte, not an enum with payloads, to stay 24 bytes).
const FINISH: u8 = 0;
const MINUTE: u8 = 1;
const OUTAGE_START: u8 = 2;
const OUTAGE_END: u8 = 3;
const CAPACITY: u8 = 4;
const PRICE: u8 = 5;
const SPOT_PREEMPT: u8 = 6;
const SPOT_RECOVER: u8 = 7;
const INFERENCE_RECOVER: u8 = 8;
const ROUND: u8 = 9;
const REPLAN: u8 = 10;

/// Ordered by (time, insertion sequence): ties go to what was scheduled first.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Ev {
    /// Bits of a non-negative f64: they order like the number.
    time: u64,
    seq: u64,
    a: u32,
    b: u32,
    kind: u8,
}

impl Ord for Ev {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap pops the largest.
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

impl PartialOrd for Ev {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Queued,
    Running,
    Done,
}

struct Job {
    submit: f64,
    /// Seconds of work left on the reference chip.
    remaining: f64,
    /// Start of the current run, and the pool's factor for it.
    start: f64,
    factor: f64,
    first_start: f64,
    end: f64,
    received_chip_seconds: f64,
    pool: u32,
    /// Position in the pool's running list.
    slot: u32,
    /// Instances rented for the run (rented policies).
    instances: u32,
    /// Bumped when a run is cut short, so its pending finish event is recognised as stale.
    generation: u32,
    chips: u32,
    /// Size class in the speed table; `u32::MAX` when the table has no such size.
    class: u32,
    state: State,
}

struct PoolRt {
    cpi: u32,
    vendor: usize,
    spot: bool,
    usd_per_hour: f64,
    /// Supply limit, inference included.
    cap: u32,
    inference: u32,
    inference_up: u32,
    outages: u32,
    /// Training instances preempted and not yet back.
    spot_down: u32,
    target: u32,
    /// Training instances held (reserved) or rented (rented policies), up.
    held: u32,
    busy: u32,
    running: Vec<u32>,
    meter_seconds: f64,
    training_usd: f64,
    inference_usd: f64,
    busy_chip_seconds: f64,
    /// Up instances the pending preemption event was drawn for (thinning bound), and its
    /// generation.
    spot_bound: u32,
    spot_generation: u32,
}

impl PoolRt {
    /// Training instances that may be held now.
    fn obtainable(&self) -> u32 {
        if self.outages > 0 {
            0
        } else if self.cap == UNLIMITED {
            UNLIMITED
        } else {
            self.cap.saturating_sub(self.inference)
        }
    }

    fn up(&self) -> u32 {
        if self.outages > 0 {
            0
        } else {
            self.inference_up.saturating_add(self.held)
        }
    }

    fn instances_for(&self, chips: u32) -> u32 {
        chips.div_ceil(self.cpi)
    }
}

struct ServiceRt {
    peak: f64,
    /// (pool, requests/s at full strength).
    allocations: Vec<(usize, f64)>,
    minutes_met: u64,
    offered: f64,
    served: f64,
}

struct Sim<'a> {
    sc: &'a Scenario,
    end: f64,
    reserved: bool,
    /// Rented policies with `Renting::Shared`.
    shared: bool,
    replanning: bool,
    gavel_round: Option<f64>,
    pools: Vec<PoolRt>,
    /// Per class: the pools that can ever run it, best first.
    order: Vec<Vec<u32>>,
    best_speedup: Vec<f64>,
    class_chips: Vec<u32>,
    queues: Vec<VecDeque<u32>>,
    queued: usize,
    blocked: Vec<bool>,
    jobs: Vec<Job>,
    /// Arrival rank → position in the scenario's jobs (`None` when they were already sorted).
    ids: Option<Vec<u32>>,
    next_arrival: usize,
    heap: BinaryHeap<Ev>,
    seq: u64,
    rng: SimRng,
    outages: Vec<Vec<usize>>,
    services: Vec<ServiceRt>,
    vendors: Vec<Vendor>,
    buckets_spend: Vec<f64>,
    buckets_busy: Vec<f64>,
    log: Option<Vec<Entry>>,
    now: f64,
    events: u64,
    preemptions: u64,
    unrunnable: u64,
    completed: u64,
}

impl<'a> Sim<'a> {
    fn new(sc: &'a Scenario) -> Sim<'a> {
        let end = sc.days * 86_400.0;
        let fleet = &sc.fleet;
        let vendors: Vec<Vendor> = Vendor::ALL
            .into_iter()
            .filter(|v| fleet.pools.iter().any(|p| p.vendor == *v))
            .collect();
        let pools: Vec<PoolRt> = fleet
            .pools
            .iter()
            .map(|p| PoolRt {
                cpi: p.chips_per_instance,
                vendor: vendors.iter().position(|v| *v == p.vendor).unwrap_or(0),
                spot: p.spot,
                usd_per_hour: p.usd_per_hour,
                cap: p.max_instances.unwrap_or(UNLIMITED),
                inference: p.inference_instances,
                inference_up: p.inference_instances,
                outages: 0,
                spot_down: 0,
                target: 0,
                held: 0,
                busy: 0,
                running: Vec::new(),
                meter_seconds: 0.0,
                training_usd: 0.0,
                inference_usd: 0.0,
                busy_chip_seconds: 0.0,
                spot_bound: 0,
                spot_generation: 0,
            })
            .collect();
        let reserved = matches!(sc.policy, Policy::FollowPlan | Policy::Replan { .. });
        let sorted = sc
            .jobs
            .windows(2)
            .all(|w| w[0].submit_seconds <= w[1].submit_seconds);
        let ids = (!sorted).then(|| {
            let mut ids: Vec<u32> = (0..sc.jobs.len() as u32).collect();
            ids.sort_by(|a, b| {
                sc.jobs[*a as usize]
                    .submit_seconds
                    .total_cmp(&sc.jobs[*b as usize].submit_seconds)
            });
            ids
        });
        let jobs = (0..sc.jobs.len())
            .map(|rank| {
                let j = &sc.jobs[ids.as_ref().map_or(rank, |ids| ids[rank] as usize)];
                Job {
                    submit: j.submit_seconds,
                    remaining: j.duration_seconds,
                    start: 0.0,
                    factor: 1.0,
                    first_start: f64::NAN,
                    end: f64::NAN,
                    received_chip_seconds: 0.0,
                    pool: 0,
                    slot: 0,
                    instances: 0,
                    generation: 0,
                    chips: j.num_gpus,
                    class: sc
                        .speeds
                        .class_of(j.num_gpus)
                        .map_or(u32::MAX, |c| c as u32),
                    state: State::Pending,
                }
            })
            .collect();
        let classes = sc.speeds.gpu_counts().len();
        let buckets = (end / sc.interval_seconds).ceil() as usize + 1;
        let services = fleet
            .services
            .iter()
            .map(|s| ServiceRt {
                peak: s.peak_requests_per_s,
                allocations: s
                    .allocations
                    .iter()
                    .map(|a| (a.pool, a.requests_per_s))
                    .collect(),
                minutes_met: 0,
                offered: 0.0,
                served: 0.0,
            })
            .collect();
        let outages = sc
            .supply_events
            .iter()
            .map(|e| match e {
                SupplyEvent::Outage { scope, .. } => fleet.pools_in(scope),
                _ => Vec::new(),
            })
            .collect();
        let mut sim = Sim {
            sc,
            end,
            reserved,
            shared: !reserved && sc.renting == Renting::Shared,
            replanning: matches!(sc.policy, Policy::Replan { .. }),
            gavel_round: match sc.policy {
                Policy::Gavel { round_seconds } => Some(round_seconds),
                _ => None,
            },
            pools,
            order: vec![Vec::new(); classes],
            best_speedup: vec![0.0; classes],
            class_chips: sc.speeds.gpu_counts().to_vec(),
            queues: vec![VecDeque::new(); classes],
            queued: 0,
            blocked: vec![false; classes],
            jobs,
            ids,
            next_arrival: 0,
            heap: BinaryHeap::new(),
            seq: 0,
            rng: SimRng::seed_from_u64(sc.seed ^ 0x5EED_5107),
            outages,
            services,
            vendors,
            buckets_spend: Vec::new(),
            buckets_busy: Vec::new(),
            log: sc.record_log.then(Vec::new),
            now: 0.0,
            events: 0,
            preemptions: 0,
            unrunnable: 0,
            completed: 0,
        };
        let width = sim.vendors.len().max(1);
        sim.buckets_spend = vec![0.0; buckets * width];
        sim.buckets_busy = vec![0.0; buckets * width];
        sim.build_orders();
        sim
    }

    /// Per class, the pools that could ever run it under the policy, best first.
    fn build_orders(&mut self) {
        let sc = self.sc;
        // The most training instances a pool could ever have: its largest limit over time.
        let mut most: Vec<u32> = self.pools.iter().map(|p| p.obtainable()).collect();
        for e in &sc.supply_events {
            if let SupplyEvent::Capacity {
                pool,
                max_instances,
                ..
            } = e
            {
                let m = match max_instances {
                    None => UNLIMITED,
                    Some(m) => m.saturating_sub(self.pools[*pool].inference),
                };
                most[*pool] = most[*pool].max(m);
            }
        }
        for c in 0..self.class_chips.len() {
            let n = self.class_chips[c];
            let mut best = 0.0f64;
            let mut list = Vec::new();
            for (p, pool) in self.pools.iter().enumerate() {
                let f = sc.speeds.raw(c, p);
                if !f.is_finite() {
                    continue;
                }
                best = best.max(1.0 / f);
                let room = match sc.policy {
                    Policy::FollowPlan => sc.fleet.pools[p].planned_instances,
                    _ => most[p],
                };
                if u64::from(room) * u64::from(pool.cpi) >= u64::from(n) {
                    list.push(p as u32);
                }
            }
            self.best_speedup[c] = best;
            self.order[c] = list;
        }
        self.sort_orders();
    }

    /// Reserved policies prefer the pool where a job finishes soonest; rented ones the pool
    /// where it costs least (equivalently, the best speed-up per dollar).
    fn sort_orders(&mut self) {
        let speeds = &self.sc.speeds;
        let pools = &self.pools;
        let (reserved, shared) = (self.reserved, self.shared);
        for (c, list) in self.order.iter_mut().enumerate() {
            let n = self.class_chips[c];
            let key = |p: u32| {
                let f = speeds.raw(c, p as usize);
                let pool = &pools[p as usize];
                if reserved {
                    f
                } else if shared {
                    f * pool.usd_per_hour / f64::from(pool.cpi)
                } else {
                    f * f64::from(pool.instances_for(n)) * pool.usd_per_hour
                }
            };
            list.sort_by(|a, b| key(*a).total_cmp(&key(*b)).then(a.cmp(b)));
        }
    }

    fn id(&self, rank: u32) -> u32 {
        self.ids.as_ref().map_or(rank, |ids| ids[rank as usize])
    }

    fn record(&mut self, record: Record) {
        if let Some(log) = &mut self.log {
            log.push(Entry {
                seconds: self.now,
                record,
            });
        }
    }

    fn push(&mut self, time: f64, kind: u8, a: u32, b: u32) {
        let time = if time > 0.0 { time } else { 0.0 };
        self.seq += 1;
        self.heap.push(Ev {
            time: time.to_bits(),
            seq: self.seq,
            a,
            b,
            kind,
        });
    }

    fn run(&mut self, replanner: &mut dyn Replanner, progress: &dyn Fn(f64)) {
        let sc = self.sc;
        for p in 0..self.pools.len() {
            if self.reserved {
                self.pools[p].target = sc.fleet.pools[p].planned_instances;
                self.reconcile(p);
            }
            self.spot_touch(p);
        }
        for (i, e) in sc.supply_events.iter().enumerate() {
            let i = i as u32;
            match e {
                SupplyEvent::Outage {
                    start_seconds,
                    end_seconds,
                    ..
                } => {
                    self.push(*start_seconds, OUTAGE_START, i, 0);
                    self.push(*end_seconds, OUTAGE_END, i, 0);
                }
                SupplyEvent::Capacity { at_seconds, .. } => self.push(*at_seconds, CAPACITY, i, 0),
                SupplyEvent::Price { at_seconds, .. } => self.push(*at_seconds, PRICE, i, 0),
            }
        }
        if !self.services.is_empty() {
            self.push(0.0, MINUTE, 0, 0);
        }
        if self.replanning {
            self.push(0.0, REPLAN, 0, 0);
        }
        if self.gavel_round.is_some() {
            self.push(0.0, ROUND, 0, 0);
        }
        let mut next_progress = 1u64 << 16;
        loop {
            let arrival = self.jobs.get(self.next_arrival).map(|j| j.submit);
            let event = self.heap.peek().map(|e| f64::from_bits(e.time));
            // Arrivals count as inserted before everything else, so they win ties.
            let take_arrival = match (arrival, event) {
                (Some(a), Some(e)) => a <= e,
                (Some(_), None) => true,
                (None, _) => false,
            };
            let t = if take_arrival { arrival } else { event };
            let Some(t) = t.filter(|t| *t < self.end) else {
                break;
            };
            self.now = t;
            if take_arrival {
                let rank = self.next_arrival as u32;
                self.next_arrival += 1;
                self.events += 1;
                self.arrive(rank);
            } else if let Some(e) = self.heap.pop() {
                self.dispatch(e, replanner);
            }
            if self.events >= next_progress {
                next_progress = self.events + (1 << 16);
                progress(self.now / self.end);
            }
        }
        self.now = self.end;
        progress(1.0);
    }

    fn dispatch(&mut self, e: Ev, replanner: &mut dyn Replanner) {
        match e.kind {
            FINISH => {
                let j = &self.jobs[e.a as usize];
                if j.state != State::Running || j.generation != e.b {
                    return;
                }
                self.events += 1;
                self.finish_job(e.a);
            }
            SPOT_PREEMPT => {
                if self.pools[e.a as usize].spot_generation != e.b {
                    return;
                }
                self.events += 1;
                self.spot_fire(e.a as usize);
            }
            _ => {
                self.events += 1;
                match e.kind {
                    MINUTE => self.minute(e.a),
                    OUTAGE_START | OUTAGE_END => self.outage(e.a as usize, e.kind == OUTAGE_START),
                    CAPACITY => self.capacity(e.a as usize),
                    PRICE => self.price(e.a as usize),
                    SPOT_RECOVER => {
                        let p = e.a as usize;
                        self.pools[p].spot_down = self.pools[p].spot_down.saturating_sub(1);
                        if self.reserved {
                            self.reconcile(p);
                        }
                        self.try_start();
                        self.spot_touch(p);
                    }
                    INFERENCE_RECOVER => {
                        let p = e.a as usize;
                        let pool = &mut self.pools[p];
                        pool.inference_up = (pool.inference_up + 1).min(pool.inference);
                        let up = pool.inference_up;
                        self.record(Record::InferenceUp {
                            pool: p as u32,
                            instances: up,
                        });
                        self.spot_touch(p);
                    }
                    ROUND => self.gavel(),
                    REPLAN => self.replan(replanner),
                    _ => {}
                }
            }
        }
    }

    /// Bills a pool up to now and adds its spend and busy chips to the time buckets.
    fn advance(&mut self, p: usize) {
        let now = self.now;
        let width = self.vendors.len().max(1);
        let interval = self.sc.interval_seconds;
        let pool = &mut self.pools[p];
        let t0 = pool.meter_seconds;
        if now <= t0 {
            return;
        }
        pool.meter_seconds = now;
        let dt = now - t0;
        let train_rate = f64::from(pool.held) * pool.usd_per_hour / 3600.0;
        let inference_rate = f64::from(pool.inference) * pool.usd_per_hour / 3600.0;
        let busy = f64::from(pool.busy);
        pool.training_usd += train_rate * dt;
        pool.inference_usd += inference_rate * dt;
        pool.busy_chip_seconds += busy * dt;
        let rate = train_rate + inference_rate;
        if rate == 0.0 && busy == 0.0 {
            return;
        }
        let v = pool.vendor;
        let mut t = t0;
        let mut b = (t / interval) as usize;
        loop {
            let bucket_end = (b + 1) as f64 * interval;
            let seg = now.min(bucket_end) - t;
            if let Some(x) = self.buckets_spend.get_mut(b * width + v) {
                *x += rate * seg;
            }
            if let Some(x) = self.buckets_busy.get_mut(b * width + v) {
                *x += busy * seg;
            }
            if now <= bucket_end {
                break;
            }
            t = bucket_end;
            b += 1;
        }
    }

    fn arrive(&mut self, rank: u32) {
        let id = self.id(rank);
        let (chips, class) = {
            let j = &self.jobs[rank as usize];
            (j.chips, j.class)
        };
        self.record(Record::Arrive { job: id, chips });
        if class == u32::MAX || self.order[class as usize].is_empty() {
            self.jobs[rank as usize].state = State::Done;
            self.unrunnable += 1;
            self.record(Record::Unrunnable { job: id });
            return;
        }
        let c = class as usize;
        if self.gavel_round.is_none()
            && self.queues[c].is_empty()
            && let Some(p) = self.find_pool(c)
        {
            self.start(rank, p);
            return;
        }
        // A job of a class whose head is waiting fits nowhere either: same size, same pools.
        self.enqueue(rank);
    }

    fn enqueue(&mut self, rank: u32) {
        let c = self.jobs[rank as usize].class as usize;
        self.jobs[rank as usize].state = State::Queued;
        self.queued += 1;
        let q = &self.queues[c];
        let pos = if self.gavel_round.is_some() {
            // Gavel serves a class in order of chip-seconds received, then arrival.
            let key = |r: u32| (self.jobs[r as usize].received_chip_seconds, r);
            let k = key(rank);
            q.partition_point(|&r| {
                let kr = key(r);
                kr.0 < k.0 || (kr.0 == k.0 && kr.1 < k.1)
            })
        } else if q.back().is_none_or(|&b| b < rank) {
            q.len()
        } else {
            q.partition_point(|&r| r < rank)
        };
        if pos == q.len() {
            self.queues[c].push_back(rank);
        } else {
            self.queues[c].insert(pos, rank);
        }
    }

    /// The first pool in the class's order with room for a job of the class now.
    fn find_pool(&self, c: usize) -> Option<usize> {
        let n = self.class_chips[c];
        for &p in &self.order[c] {
            let pool = &self.pools[p as usize];
            let fits = if self.reserved {
                (u64::from(pool.held) * u64::from(pool.cpi)).saturating_sub(u64::from(pool.busy))
                    >= u64::from(n)
            } else if self.shared {
                pool.instances_for(pool.busy.saturating_add(n))
                    <= pool.obtainable().saturating_sub(pool.spot_down)
            } else {
                let used = pool.held.saturating_add(pool.spot_down);
                pool.obtainable().saturating_sub(used) >= pool.instances_for(n)
            };
            if fits {
                return Some(p as usize);
            }
        }
        None
    }

    fn start(&mut self, rank: u32, p: usize) {
        self.advance(p);
        let id = self.id(rank);
        let class = self.jobs[rank as usize].class as usize;
        let factor = self.sc.speeds.raw(class, p);
        let now = self.now;
        let chips = self.jobs[rank as usize].chips;
        let rented = if self.reserved || self.shared {
            0
        } else {
            self.pools[p].instances_for(chips)
        };
        let held = if self.shared {
            self.pools[p].instances_for(self.pools[p].busy + chips)
        } else {
            self.pools[p].held + rented
        };
        // Instances come before the job that needs them, in the log as in life.
        if held != self.pools[p].held {
            self.pools[p].held = held;
            self.record(Record::Held {
                pool: p as u32,
                instances: held,
            });
        }
        let pool = &mut self.pools[p];
        pool.busy += chips;
        let slot = pool.running.len() as u32;
        pool.running.push(rank);
        let j = &mut self.jobs[rank as usize];
        j.state = State::Running;
        j.pool = p as u32;
        j.slot = slot;
        j.start = now;
        j.factor = factor;
        j.instances = rented;
        if j.first_start.is_nan() {
            j.first_start = now;
        }
        let finish = now + j.remaining * factor;
        let generation = j.generation;
        self.record(Record::Start {
            job: id,
            pool: p as u32,
            chips,
        });
        self.push(finish, FINISH, rank, generation);
        if !self.reserved {
            self.spot_touch(p);
        }
    }

    /// Takes a running job off its pool; the caller logs why, then calls `released`.
    fn release(&mut self, rank: u32) -> usize {
        let (p, slot, chips) = {
            let j = &self.jobs[rank as usize];
            (j.pool as usize, j.slot as usize, j.chips)
        };
        self.advance(p);
        let pool = &mut self.pools[p];
        pool.busy -= chips;
        pool.running.swap_remove(slot);
        if let Some(&moved) = pool.running.get(slot) {
            self.jobs[moved as usize].slot = slot as u32;
        }
        p
    }

    /// Gives back the instances a released job rented (after its log record: a job leaves
    /// before its instances do).
    fn released(&mut self, rank: u32, p: usize) {
        let instances = std::mem::take(&mut self.jobs[rank as usize].instances);
        let pool = &mut self.pools[p];
        let held = if self.shared {
            pool.instances_for(pool.busy)
        } else {
            pool.held - instances
        };
        if held != pool.held {
            pool.held = held;
            self.record(Record::Held {
                pool: p as u32,
                instances: held,
            });
        }
    }

    fn finish_job(&mut self, rank: u32) {
        let p = self.release(rank);
        let id = self.id(rank);
        let now = self.now;
        let j = &mut self.jobs[rank as usize];
        j.state = State::Done;
        j.end = now;
        j.remaining = 0.0;
        j.received_chip_seconds += (now - j.start) * f64::from(j.chips);
        let chips = j.chips;
        self.completed += 1;
        self.record(Record::Finish {
            job: id,
            pool: p as u32,
            chips,
        });
        self.released(rank, p);
        if self.replanning && self.pools[p].held > self.pools[p].target {
            self.reconcile(p);
        }
        if self.gavel_round.is_none() {
            self.try_start();
        }
    }

    /// Cuts a run short: the work done is kept (checkpoint at preemption) and the job queues
    /// again.
    fn evict(&mut self, rank: u32) {
        let p = self.release(rank);
        let id = self.id(rank);
        let now = self.now;
        let j = &mut self.jobs[rank as usize];
        let elapsed = now - j.start;
        j.remaining = (j.remaining - elapsed / j.factor).max(0.0);
        j.received_chip_seconds += elapsed * f64::from(j.chips);
        j.generation = j.generation.wrapping_add(1);
        let chips = j.chips;
        self.preemptions += 1;
        self.record(Record::Preempt {
            job: id,
            pool: p as u32,
            chips,
        });
        self.released(rank, p);
        self.enqueue(rank);
    }

    /// The most recently started job on a pool (ties: the later arrival): the one that loses
    /// least when cut.
    fn victim(&self, p: usize) -> Option<u32> {
        self.pools[p].running.iter().copied().max_by(|a, b| {
            let (ja, jb) = (&self.jobs[*a as usize], &self.jobs[*b as usize]);
            ja.start.total_cmp(&jb.start).then(a.cmp(b))
        })
    }

    /// Brings a pool's training instances in line with its target, supply and preempted
    /// instances, cutting jobs that no longer fit (latest started first).
    fn reconcile(&mut self, p: usize) {
        if self.reserved {
            let pool = &self.pools[p];
            let needed = pool.instances_for(pool.busy);
            let want = pool.target.max(needed);
            let held = want.min(pool.obtainable()).saturating_sub(pool.spot_down);
            while u64::from(self.pools[p].busy) > u64::from(held) * u64::from(self.pools[p].cpi) {
                match self.victim(p) {
                    Some(v) => self.evict(v),
                    None => break,
                }
            }
            if held != self.pools[p].held {
                self.advance(p);
                self.pools[p].held = held;
                self.record(Record::Held {
                    pool: p as u32,
                    instances: held,
                });
            }
        } else {
            loop {
                let pool = &self.pools[p];
                let limit = pool.obtainable().saturating_sub(pool.spot_down);
                let held = if self.shared {
                    pool.instances_for(pool.busy)
                } else {
                    pool.held
                };
                if held <= limit {
                    break;
                }
                match self.victim(p) {
                    Some(v) => self.evict(v),
                    None => break,
                }
            }
        }
        self.spot_touch(p);
    }

    /// Starts waiting jobs in arrival order wherever they fit (policies other than Gavel).
    fn try_start(&mut self) {
        if self.gavel_round.is_some() {
            return;
        }
        while self.queued > 0 {
            let mut best: Option<(u32, usize, usize)> = None;
            for c in 0..self.queues.len() {
                let Some(&rank) = self.queues[c].front() else {
                    continue;
                };
                if best.is_some_and(|(r, _, _)| r < rank) {
                    continue;
                }
                if let Some(p) = self.find_pool(c) {
                    best = Some((rank, c, p));
                }
            }
            let Some((rank, c, p)) = best else {
                return;
            };
            self.queues[c].pop_front();
            self.queued -= 1;
            self.start(rank, p);
        }
    }

    fn gavel(&mut self) {
        self.blocked.iter_mut().for_each(|b| *b = false);
        while self.queued > 0 {
            let mut best: Option<(f64, u32, usize)> = None;
            for c in 0..self.queues.len() {
                if self.blocked[c] {
                    continue;
                }
                let Some(&rank) = self.queues[c].front() else {
                    continue;
                };
                let priority =
                    self.best_speedup[c] / (self.jobs[rank as usize].received_chip_seconds + 1.0);
                let better = match best {
                    None => true,
                    Some((bp, br, _)) => priority > bp || (priority == bp && rank < br),
                };
                if better {
                    best = Some((priority, rank, c));
                }
            }
            let Some((_, rank, c)) = best else {
                break;
            };
            match self.find_pool(c) {
                Some(p) => {
                    self.queues[c].pop_front();
                    self.queued -= 1;
                    self.start(rank, p);
                }
                None => self.blocked[c] = true,
            }
        }
        if let Some(round) = self.gavel_round {
            self.push(self.now + round, ROUND, 0, 0);
        }
    }

    fn replan(&mut self, replanner: &mut dyn Replanner) {
        let sc = self.sc;
        // Ranks are arrival order.
        let mut ranks: Vec<u32> = self.queues.iter().flatten().copied().collect();
        ranks.sort_unstable();
        let queued = ranks
            .iter()
            .map(|&r| {
                let j = &self.jobs[r as usize];
                QueuedJob {
                    job: self.id(r) as usize,
                    num_gpus: j.chips,
                    remaining_reference_seconds: j.remaining,
                }
            })
            .collect();
        let state = FleetState {
            at_seconds: self.now,
            fleet: &sc.fleet,
            pools: self
                .pools
                .iter()
                .map(|p| {
                    let o = p.obtainable();
                    PoolStatus {
                        held_instances: p.held,
                        busy_chips: p.busy,
                        obtainable_instances: (o != UNLIMITED)
                            .then(|| o.saturating_sub(p.spot_down)),
                        usd_per_hour: p.usd_per_hour,
                        down: p.outages > 0,
                    }
                })
                .collect(),
            queued,
            speeds: &sc.speeds,
        };
        let wanted = replanner.replan(self.now, &state);
        let mut targets = vec![0u32; self.pools.len()];
        for (p, n) in wanted {
            if let Some(t) = targets.get_mut(p) {
                *t = n;
            }
        }
        for (p, t) in targets.into_iter().enumerate() {
            self.pools[p].target = t;
            self.reconcile(p);
        }
        self.try_start();
        if let Policy::Replan { every_seconds } = sc.policy {
            self.push(self.now + every_seconds, REPLAN, 0, 0);
        }
    }

    fn minute(&mut self, minute: u32) {
        let shape = self.sc.load.at_minute(u64::from(minute));
        for s in 0..self.services.len() {
            let svc = &self.services[s];
            let mut capacity_rps = 0.0;
            for &(p, rps) in &svc.allocations {
                let pool = &self.pools[p];
                if pool.outages == 0 && pool.inference > 0 {
                    capacity_rps += rps * f64::from(pool.inference_up) / f64::from(pool.inference);
                }
            }
            let offered = svc.peak * shape * 60.0;
            let capacity = capacity_rps * 60.0;
            let served = offered.min(capacity);
            let svc = &mut self.services[s];
            svc.offered += offered;
            svc.served += served;
            if offered <= capacity {
                svc.minutes_met += 1;
            }
            self.record(Record::Minute {
                service: s as u32,
                minute,
                offered_requests: offered,
                served_requests: served,
                unserved_requests: offered - served,
                capacity_requests: capacity,
            });
        }
        self.push(f64::from(minute + 1) * 60.0, MINUTE, minute + 1, 0);
    }

    fn outage(&mut self, k: usize, starting: bool) {
        for i in 0..self.outages[k].len() {
            let p = self.outages[k][i];
            if starting {
                self.advance(p);
                self.pools[p].outages += 1;
                if self.pools[p].outages == 1 {
                    // Cut and release first, so the log never shows a job on a down pool.
                    if self.reserved {
                        self.reconcile(p);
                    } else {
                        while let Some(v) = self.victim(p) {
                            self.evict(v);
                        }
                    }
                    self.record(Record::Outage {
                        pool: p as u32,
                        down: true,
                    });
                }
            } else {
                let pool = &mut self.pools[p];
                pool.outages = pool.outages.saturating_sub(1);
                if pool.outages == 0 {
                    self.record(Record::Outage {
                        pool: p as u32,
                        down: false,
                    });
                    if self.reserved {
                        self.reconcile(p);
                    }
                    self.spot_touch(p);
                }
            }
        }
        self.try_start();
    }

    fn capacity(&mut self, k: usize) {
        let SupplyEvent::Capacity {
            pool: p,
            max_instances,
            ..
        } = self.sc.supply_events[k]
        else {
            return;
        };
        let record = Record::Capacity {
            pool: p as u32,
            max_instances,
        };
        let cap = max_instances.unwrap_or(UNLIMITED);
        let growing = cap >= self.pools[p].cap;
        // Log a rise before using it and a cut after the jobs it cuts.
        if growing {
            self.record(record);
        }
        self.pools[p].cap = cap;
        self.reconcile(p);
        if !growing {
            self.record(record);
        }
        self.try_start();
    }

    fn price(&mut self, k: usize) {
        let SupplyEvent::Price {
            pool: p, factor, ..
        } = self.sc.supply_events[k]
        else {
            return;
        };
        self.advance(p);
        self.pools[p].usd_per_hour *= factor;
        let usd_per_hour = self.pools[p].usd_per_hour;
        self.record(Record::Price {
            pool: p as u32,
            usd_per_hour,
        });
        if !self.reserved {
            self.sort_orders();
        }
    }

    /// Keeps a spot pool's next preemption drawn for at least as many up instances as it has:
    /// a rise redraws (the process is memoryless); a fall is handled by thinning when the
    /// event fires.
    fn spot_touch(&mut self, p: usize) {
        let rate = self.sc.spot.preemptions_per_hour;
        let pool = &self.pools[p];
        if !pool.spot || rate <= 0.0 {
            return;
        }
        let up = pool.up();
        if up <= pool.spot_bound {
            return;
        }
        let wait = exponential(&mut self.rng, 3600.0 / (rate * f64::from(up)));
        let pool = &mut self.pools[p];
        pool.spot_bound = up;
        pool.spot_generation = pool.spot_generation.wrapping_add(1);
        let generation = pool.spot_generation;
        self.push(self.now + wait, SPOT_PREEMPT, p as u32, generation);
    }

    fn spot_fire(&mut self, p: usize) {
        let bound = self.pools[p].spot_bound;
        let up = self.pools[p].up();
        self.pools[p].spot_bound = 0;
        // Thinning: the event was drawn for `bound` instances, `up` are up now.
        let accept = up > 0 && self.rng.random::<f64>() * f64::from(bound.max(1)) < f64::from(up);
        if accept {
            let r = self.rng.random_range(0..up);
            let recover = self.now + self.sc.spot.recovery_seconds;
            let inference_up = self.pools[p].inference_up;
            if r < inference_up {
                self.pools[p].inference_up -= 1;
                self.record(Record::InferenceUp {
                    pool: p as u32,
                    instances: inference_up - 1,
                });
                self.push(recover, INFERENCE_RECOVER, p as u32, 0);
            } else {
                self.pools[p].spot_down += 1;
                self.push(recover, SPOT_RECOVER, p as u32, 0);
                if self.shared {
                    // The jobs packed on the lost instance: the latest started, an instance's
                    // worth.
                    let keep = self.pools[p].held.saturating_sub(1);
                    while self.pools[p].instances_for(self.pools[p].busy) > keep {
                        match self.victim(p) {
                            Some(v) => self.evict(v),
                            None => break,
                        }
                    }
                } else if !self.reserved {
                    // The instance belongs to one job: it loses all of its instances.
                    let mut left = r - inference_up;
                    let mut victim = None;
                    for &rank in &self.pools[p].running {
                        let k = self.jobs[rank as usize].instances;
                        if left < k {
                            victim = Some(rank);
                            break;
                        }
                        left -= k;
                    }
                    if let Some(v) = victim {
                        self.evict(v);
                    }
                }
                self.reconcile(p);
                self.try_start();
            }
        }
        self.spot_touch(p);
    }

    fn finish(mut self) -> SimOutcome {
        let sc = self.sc;
        self.now = self.end;
        for p in 0..self.pools.len() {
            self.advance(p);
        }
        let mut running_at_end = 0;
        let mut queued_at_end = 0;
        let mut jct = Vec::new();
        let mut delay = Vec::new();
        for rank in 0..self.jobs.len() {
            let j = &self.jobs[rank];
            if !j.first_start.is_nan() {
                delay.push(j.first_start - j.submit);
            }
            match j.state {
                State::Done if !j.end.is_nan() => jct.push(j.end - j.submit),
                State::Running => {
                    running_at_end += 1;
                    let record = Record::RunningAtEnd {
                        job: self.id(rank as u32),
                        pool: j.pool,
                    };
                    self.record(record);
                }
                State::Queued => {
                    queued_at_end += 1;
                    let record = Record::QueuedAtEnd {
                        job: self.id(rank as u32),
                    };
                    self.record(record);
                }
                _ => {}
            }
        }
        let (jct_mean, jct_p99) = mean_p99(jct);
        let (delay_mean, delay_p99) = mean_p99(delay);
        let mut by_vendor: BTreeMap<String, f64> = BTreeMap::new();
        let (mut training_usd, mut inference_usd, mut busy) = (0.0, 0.0, 0.0);
        let cost_by_pool: Vec<f64> = self
            .pools
            .iter()
            .map(|p| p.training_usd + p.inference_usd)
            .collect();
        for (p, pool) in self.pools.iter().enumerate() {
            training_usd += pool.training_usd;
            inference_usd += pool.inference_usd;
            busy += pool.busy_chip_seconds;
            *by_vendor
                .entry(sc.fleet.pools[p].vendor.as_str().to_string())
                .or_default() += pool.training_usd + pool.inference_usd;
        }
        let width = self.vendors.len().max(1);
        let interval = sc.interval_seconds;
        let buckets = (self.end / interval).ceil() as usize;
        let points = (0..buckets)
            .map(|b| {
                let start = b as f64 * interval;
                let span = (self.end.min(start + interval) - start).max(f64::MIN_POSITIVE);
                let spend: Vec<f64> =
                    self.buckets_spend[b * width..][..self.vendors.len()].to_vec();
                let total: f64 = spend.iter().sum();
                TimePoint {
                    start_seconds: start,
                    spend_share: spend
                        .iter()
                        .map(|s| if total > 0.0 { s / total } else { 0.0 })
                        .collect(),
                    spend_usd: spend,
                    busy_chips: self.buckets_busy[b * width..][..self.vendors.len()]
                        .iter()
                        .map(|c| c / span)
                        .collect(),
                }
            })
            .collect();
        let arrived = self.next_arrival as u64;
        let report = SimReport {
            policy: sc.policy.name(),
            simulated_seconds: self.end,
            seed: sc.seed,
            total_cost_usd: training_usd + inference_usd,
            training_cost_usd: training_usd,
            inference_cost_usd: inference_usd,
            cost_by_vendor_usd: by_vendor,
            cost_by_pool_usd: cost_by_pool,
            training: TrainingReport {
                jobs_arrived: arrived,
                jobs_completed: self.completed,
                jobs_running_at_end: running_at_end,
                jobs_queued_at_end: queued_at_end,
                jobs_unfinished: running_at_end + queued_at_end,
                jobs_unrunnable: self.unrunnable,
                jct_mean_seconds: jct_mean,
                jct_p99_seconds: jct_p99,
                queueing_delay_mean_seconds: delay_mean,
                queueing_delay_p99_seconds: delay_p99,
                preemptions: self.preemptions,
                busy_chip_hours: busy / 3600.0,
            },
            services: sc
                .fleet
                .services
                .iter()
                .zip(&self.services)
                .map(|(s, rt)| {
                    let minutes = if self.services.is_empty() {
                        0
                    } else {
                        (self.end / 60.0).ceil() as u64
                    };
                    ServiceReport {
                        name: s.name.clone(),
                        minutes,
                        slo_attainment: if minutes > 0 {
                            rt.minutes_met as f64 / minutes as f64
                        } else {
                            1.0
                        },
                        offered_requests: rt.offered,
                        served_requests: rt.served,
                        unserved_requests: rt.offered - rt.served,
                    }
                })
                .collect(),
            timeseries: TimeSeries {
                interval_seconds: interval,
                vendors: self
                    .vendors
                    .iter()
                    .map(|v| v.as_str().to_string())
                    .collect(),
                points,
            },
            events_processed: self.events,
        };
        SimOutcome {
            report,
            log: self.log.map(|entries| EventLog { entries }),
        }
    }
}
