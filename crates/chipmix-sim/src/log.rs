//! The event log: what happened, in order, in just enough detail for [`crate::check()`] to
//! replay it without the engine.

use serde::Serialize;

/// One change of state. Job ids index the scenario's `jobs`; pool ids index `fleet.pools`;
/// service ids index `fleet.services`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Arrive {
        job: u32,
        chips: u32,
    },
    Start {
        job: u32,
        pool: u32,
        chips: u32,
    },
    /// The job completed; ends it.
    Finish {
        job: u32,
        pool: u32,
        chips: u32,
    },
    /// The job lost its chips (spot preemption, outage, capacity cut) and is queued again.
    Preempt {
        job: u32,
        pool: u32,
        chips: u32,
    },
    /// No pool of the fleet can ever run the job; ends it.
    Unrunnable {
        job: u32,
    },
    /// Ends a job still running when the simulation stops.
    RunningAtEnd {
        job: u32,
        pool: u32,
    },
    /// Ends a job still waiting when the simulation stops.
    QueuedAtEnd {
        job: u32,
    },
    /// Training instances the pool now holds (reserved) or rents (on demand).
    Held {
        pool: u32,
        instances: u32,
    },
    /// The pool's supply limit changed (`None`: no limit).
    Capacity {
        pool: u32,
        max_instances: Option<u32>,
    },
    Price {
        pool: u32,
        usd_per_hour: f64,
    },
    /// The pool went down (`true`) or came back.
    Outage {
        pool: u32,
        down: bool,
    },
    /// Inference instances of the pool that are up (spot preemptions take them down).
    InferenceUp {
        pool: u32,
        instances: u32,
    },
    /// A service's requests in one minute (minute `m` starts at `60 m` seconds).
    Minute {
        service: u32,
        minute: u32,
        offered_requests: f64,
        served_requests: f64,
        unserved_requests: f64,
        /// Requests the instances up could serve in the minute.
        capacity_requests: f64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub seconds: f64,
    pub record: Record,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EventLog {
    pub entries: Vec<Entry>,
}

impl EventLog {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
