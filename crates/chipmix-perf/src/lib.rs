//! What a workload achieves on a chip, and what it costs.
//!
//! First principles — FLOPs against achievable compute, bytes against achievable memory
//! bandwidth, collectives against link bandwidth and latency, memory capacity against weights,
//! optimizer state, activations and KV cache — with per-chip efficiencies fitted to public
//! measurements ([`calibration`], [`fit`]).
//!
//! - [`inference`]: memory fit, prefill, decode, continuous-batching serving under TTFT/TPOT
//!   SLOs; [`serve_on_offering`] picks the replica layout for an offering and prices it.
//! - [`training`]: memory per chip and step time of tensor/pipeline/data-parallel
//!   configurations, and the search for the fastest that fits.
//!
//! Pure functions of (model, chip, calibration, fabric): no I/O, no solver. The equations are
//! written out in `docs/performance-model.md`.

pub mod calibration;
pub mod fit;
pub mod inference;
pub mod shape;
pub mod system;
pub mod training;

pub use calibration::{Calibration, ChipParams};
pub use inference::{DecodeEstimate, InferenceSetup, PrefillEstimate, Replica, ServeEstimate};
pub use shape::ModelShape;
pub use system::System;
pub use training::{TrainConfig, TrainEstimate, TrainRequest};

use chipmix_catalog::{Catalog, Offering};
use chipmix_workload::{Precision, Slo};
use serde::Serialize;
use std::fmt;

/// What limits an estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    Compute,
    Memory,
    Network,
    /// Fixed per-step costs (kernel launches, scheduling) dominate.
    Overhead,
    PipelineBubble,
}

impl Bound {
    /// The largest of the four times names the bound.
    pub(crate) fn of(compute: f64, memory: f64, network: f64, overhead: f64) -> Bound {
        let mut best = (compute, Bound::Compute);
        for (t, b) in [
            (memory, Bound::Memory),
            (network, Bound::Network),
            (overhead, Bound::Overhead),
        ] {
            if t > best.0 {
                best = (t, b);
            }
        }
        best.1
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Compute => "compute",
            Bound::Memory => "memory",
            Bound::Network => "network",
            Bound::Overhead => "overhead",
            Bound::PipelineBubble => "pipeline_bubble",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PerfError {
    /// An argument is out of range or unknown.
    Invalid { field: String, message: String },
    /// The model (or its batch) does not fit the memory.
    DoesNotFit(String),
    /// No batch meets the latency SLOs.
    SloUnreachable(String),
}

impl PerfError {
    pub fn invalid(field: &str, message: impl Into<String>) -> PerfError {
        PerfError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for PerfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PerfError::Invalid { field, message } => write!(f, "{field}: {message}"),
            PerfError::DoesNotFit(m) => write!(f, "does not fit: {m}"),
            PerfError::SloUnreachable(m) => write!(f, "cannot meet the SLO: {m}"),
        }
    }
}

impl std::error::Error for PerfError {}

/// Serving one model on one offering: the best replica layout and its price.
#[derive(Clone, Debug, Serialize)]
pub struct OfferingServe {
    pub offering: String,
    pub chip: String,
    #[serde(flatten)]
    pub estimate: ServeEstimate,
    pub chips_per_replica: u32,
    /// Instances one replica spans (pipeline stages); 1 when replicas share an instance.
    pub instances_per_replica: u32,
    /// Replicas that fit in one instance (1 when a replica spans instances).
    pub replicas_per_instance: u32,
    pub usd_per_replica_hour: Option<f64>,
    pub usd_per_million_output_tokens: Option<f64>,
    pub calibrated: bool,
    pub notes: Vec<String>,
}

/// The replica layouts worth trying on an offering: tensor parallel over 1, 2, 4 … chips up to
/// the instance, and when even the whole instance is too small, pipeline stages over several
/// instances.
pub fn replica_options(offering: &Offering) -> Vec<Replica> {
    let n = offering.chips_per_instance;
    let mut out: Vec<Replica> = (0..31)
        .map(|i| 1u32 << i)
        .take_while(|&t| t <= n)
        .chain(std::iter::once(n))
        .map(|tp| Replica { tp, pp: 1 })
        .collect();
    out.dedup();
    out.extend((2..=16).map(|pp| Replica { tp: n, pp }));
    out
}

/// Serves `shape` on `offering` at the SLOs with the replica layout that gives the most
/// requests per second per chip (so per dollar), and prices it.
#[allow(clippy::too_many_arguments)]
pub fn serve_on_offering(
    catalog: &Catalog,
    calibration: &Calibration,
    shape: &ModelShape,
    offering: &Offering,
    precision: Precision,
    prompt: u32,
    output: u32,
    slo: Slo,
) -> Result<OfferingServe, PerfError> {
    let system = System::for_offering(
        catalog,
        offering,
        calibration.params_for(catalog, &offering.chip),
    )?;
    let mut best: Option<(f64, ServeEstimate)> = None;
    let mut last_err = None;
    for replica in replica_options(offering) {
        // A layout spanning more instances than needed only adds pipeline stages.
        if replica.pp > 1 && best.is_some() {
            break;
        }
        let setup = InferenceSetup::new(shape, &system, precision, replica)?;
        match setup.serve(prompt, output, slo) {
            Ok(e) => {
                let per_chip = e.max_requests_per_s / effective_chips(offering, replica);
                if best.as_ref().is_none_or(|(b, _)| per_chip > *b) {
                    best = Some((per_chip, e));
                }
            }
            Err(e @ PerfError::Invalid { .. }) => return Err(e),
            Err(e) => last_err = Some(e),
        }
    }
    let Some((_, estimate)) = best else {
        return Err(last_err.unwrap_or_else(|| {
            PerfError::DoesNotFit(format!("{} on {}", shape.name, offering.id()))
        }));
    };
    let r = estimate.replica;
    let (instances_per_replica, replicas_per_instance) = if r.pp > 1 {
        (r.pp, 1)
    } else {
        (1, offering.chips_per_instance / r.tp)
    };
    let usd_per_replica_hour = offering
        .usd_per_hour
        .map(|p| p * f64::from(instances_per_replica) / f64::from(replicas_per_instance));
    let usd_per_million_output_tokens =
        usd_per_replica_hour.map(|usd| usd / (estimate.output_tokens_per_s * 3600.0) * 1e6);
    let mut notes = Vec::new();
    if !system.params.calibrated_inference {
        notes.push(format!(
            "{} has no inference measurements: default efficiencies (ESTIMATE)",
            offering.chip
        ));
    }
    if offering.price_confidence != chipmix_catalog::PriceConfidence::Verified {
        notes.push(format!(
            "price of {} is {}",
            offering.id(),
            offering.price_confidence.as_str()
        ));
    }
    Ok(OfferingServe {
        offering: offering.id(),
        chip: offering.chip.clone(),
        chips_per_replica: r.chips(),
        instances_per_replica,
        replicas_per_instance,
        usd_per_replica_hour,
        usd_per_million_output_tokens,
        calibrated: system.params.calibrated_inference,
        estimate,
        notes,
    })
}

/// Chips a replica occupies, counting the chips of its instance it leaves idle.
fn effective_chips(offering: &Offering, r: Replica) -> f64 {
    if r.pp > 1 {
        f64::from(r.chips())
    } else {
        let per_instance = (offering.chips_per_instance / r.tp).max(1);
        f64::from(offering.chips_per_instance) / f64::from(per_instance)
    }
}
