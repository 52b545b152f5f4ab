//! The fleet a simulation runs: one pool per offering it may use, and the inference services
//! with the plan's capacity for them.

use crate::SimError;
use chipmix_catalog::{Catalog, Vendor};
use chipmix_plan::Plan;
use chipmix_plan::candidates::policy_rejects;
use chipmix_workload::Portfolio;
use serde::Serialize;

/// Instances of one offering, bought on demand or on spot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pool {
    /// `provider/instance_type/region`.
    pub offering: String,
    pub provider: String,
    pub region: String,
    pub vendor: Vendor,
    pub chip: String,
    pub chips_per_instance: u32,
    /// What one instance costs: the on-demand price, or the spot price for a spot pool.
    /// Contract discounts and credits are not applied.
    pub usd_per_hour: f64,
    pub spot: bool,
    /// Instances the plan holds for training; the capacity `FollowPlan` runs jobs on.
    pub planned_instances: u32,
    /// Instances the plan holds for inference services: held and paid under every policy.
    pub inference_instances: u32,
    /// Instances that can be had at all (inference included); `None`: no stated limit.
    pub max_instances: Option<u32>,
}

/// An inference service and where the plan serves it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Service {
    pub name: String,
    pub peak_requests_per_s: f64,
    pub allocations: Vec<ServiceAllocation>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ServiceAllocation {
    /// Index into [`Fleet::pools`].
    pub pool: usize,
    /// Requests/s served with all of the pool's inference instances up.
    pub requests_per_s: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Fleet {
    pub pools: Vec<Pool>,
    pub services: Vec<Service>,
}

impl Fleet {
    /// The plan's fleet: a pool per (offering, spot) the plan allocates, holding its training
    /// instances as `planned_instances` and its inference instances; then every other priced
    /// offering the portfolio's policy allows, on demand with nothing planned, so policies
    /// that rent (`Greedy`, `Gavel`) or re-plan can grow there. Services are the portfolio's
    /// inference services with the plan's requests/s per allocation.
    ///
    /// The plan's own training workloads are not simulated as jobs: their instances are the
    /// capacity the trace's jobs run on.
    pub fn from_plan(
        plan: &Plan,
        catalog: &Catalog,
        portfolio: &Portfolio,
    ) -> Result<Fleet, SimError> {
        let mut fleet = Fleet::default();
        let mut services: Vec<Service> = portfolio
            .inference_services()
            .map(|(w, s)| Service {
                name: w.name.clone(),
                peak_requests_per_s: s.peak_requests_per_s,
                allocations: Vec::new(),
            })
            .collect();
        for a in &plan.allocations {
            let o = catalog.find_offering(&a.offering).map_err(|m| {
                SimError(format!(
                    "plan allocation {} on {}: {m}",
                    a.workload, a.offering
                ))
            })?;
            let id = o.id();
            let pool = match fleet
                .pools
                .iter()
                .position(|p| p.offering == id && p.spot == a.spot)
            {
                Some(i) => i,
                None => {
                    let price = if a.list_usd_per_hour.is_finite() && a.list_usd_per_hour > 0.0 {
                        a.list_usd_per_hour
                    } else if a.spot {
                        o.spot_usd_per_hour.or(o.usd_per_hour).unwrap_or(0.0)
                    } else {
                        o.usd_per_hour.unwrap_or(0.0)
                    };
                    fleet.pools.push(Pool {
                        offering: id,
                        provider: o.provider.clone(),
                        region: o.region.clone(),
                        vendor: catalog.vendor_of(o),
                        chip: o.chip.clone(),
                        chips_per_instance: o.chips_per_instance.max(1),
                        usd_per_hour: price,
                        spot: a.spot,
                        planned_instances: 0,
                        inference_instances: 0,
                        max_instances: o.capacity_instances,
                    });
                    fleet.pools.len() - 1
                }
            };
            if a.kind == chipmix_plan::plan::WorkloadClass::Inference {
                fleet.pools[pool].inference_instances += a.instances;
                match services.iter_mut().find(|s| s.name == a.workload) {
                    Some(s) => s.allocations.push(ServiceAllocation {
                        pool,
                        requests_per_s: a.requests_per_s.unwrap_or(0.0),
                    }),
                    None => {
                        return Err(SimError(format!(
                            "plan allocation {} on {}: no inference service of that name in portfolio {}",
                            a.workload, a.offering, portfolio.name
                        )));
                    }
                }
            } else {
                fleet.pools[pool].planned_instances += a.instances;
            }
        }
        // Capacity limits count instances, so several allocations on a pool share one limit.
        for p in &mut fleet.pools {
            if let Some(m) = p.max_instances {
                p.max_instances = Some(m.max(p.planned_instances + p.inference_instances));
            }
        }
        for o in catalog.offerings() {
            let id = o.id();
            if policy_rejects(portfolio, catalog, o).is_some()
                || fleet.pools.iter().any(|p| p.offering == id && !p.spot)
            {
                continue;
            }
            let Some(price) = o.usd_per_hour else {
                continue;
            };
            fleet.pools.push(Pool {
                offering: id,
                provider: o.provider.clone(),
                region: o.region.clone(),
                vendor: catalog.vendor_of(o),
                chip: o.chip.clone(),
                chips_per_instance: o.chips_per_instance.max(1),
                usd_per_hour: price,
                spot: false,
                planned_instances: 0,
                inference_instances: 0,
                max_instances: o.capacity_instances,
            });
        }
        fleet.services = services;
        Ok(fleet)
    }

    /// Checks what the simulator relies on: positive chips per instance, finite non-negative
    /// prices and loads, allocations on existing pools, limits that hold the inference
    /// instances.
    pub fn validate(&self) -> Result<(), SimError> {
        for (i, p) in self.pools.iter().enumerate() {
            let at = |m: &str| SimError(format!("pool {i} ({}): {m}", p.offering));
            if p.chips_per_instance == 0 {
                return Err(at("chips_per_instance must be at least 1"));
            }
            if !p.usd_per_hour.is_finite() || p.usd_per_hour < 0.0 {
                return Err(at(&format!(
                    "usd_per_hour {} is not a finite, non-negative price",
                    p.usd_per_hour
                )));
            }
            if p.max_instances.is_some_and(|m| m < p.inference_instances) {
                return Err(at("max_instances is below the inference instances"));
            }
        }
        for s in &self.services {
            let at = |m: &str| SimError(format!("service {}: {m}", s.name));
            if !s.peak_requests_per_s.is_finite() || s.peak_requests_per_s < 0.0 {
                return Err(at("peak_requests_per_s must be finite and non-negative"));
            }
            for a in &s.allocations {
                if a.pool >= self.pools.len() {
                    return Err(at(&format!(
                        "allocation on pool {} of {}",
                        a.pool,
                        self.pools.len()
                    )));
                }
                if !a.requests_per_s.is_finite() || a.requests_per_s < 0.0 {
                    return Err(at("requests_per_s must be finite and non-negative"));
                }
            }
        }
        Ok(())
    }

    /// The pools a scope names: a provider (`aws`), a region (`aws/us-east-1`) or a vendor
    /// (`nvidia`).
    pub fn pools_in(&self, scope: &Scope) -> Vec<usize> {
        self.pools
            .iter()
            .enumerate()
            .filter(|(_, p)| match scope {
                Scope::Provider(x) => p.provider.eq_ignore_ascii_case(x),
                Scope::Region(x) => x
                    .split_once('/')
                    .is_some_and(|(pr, r)| p.provider.eq_ignore_ascii_case(pr) && p.region == r),
                Scope::Vendor(v) => p.vendor == *v,
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// What an outage takes down.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Scope {
    Provider(String),
    /// `provider/region`.
    Region(String),
    Vendor(Vendor),
}
