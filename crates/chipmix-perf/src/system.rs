//! The hardware an estimate runs on: a chip, its calibrated efficiencies, and the fabric around
//! it (how many chips share the scale-up links, how fast the network between instances is).

use crate::PerfError;
use crate::calibration::ChipParams;
use chipmix_catalog::{Catalog, Chip, Offering};
use chipmix_workload::Precision;

pub(crate) const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Share of HBM a serving engine or trainer may fill (vLLM's default `gpu_memory_utilization`
/// is 0.9); the rest is CUDA/Neuron runtime, workspace and fragmentation.
pub const USABLE_MEMORY_FRACTION: f64 = 0.9;

/// Scale-out bandwidth assumed when neither the offering nor any other offering of the chip
/// states one: 100 Gb/s per chip (the EFA/RoCE figure of the smallest multi-node instances).
/// Estimates that use it say so in their notes.
pub const DEFAULT_SCALEOUT_GBPS_PER_CHIP: f64 = 100.0;

/// A chip in its setting.
#[derive(Clone, Debug)]
pub struct System {
    pub chip: Chip,
    pub params: ChipParams,
    /// Chips connected by the scale-up fabric (NVLink, NeuronLink, ICI): an instance, or a TPU
    /// slice. Tensor parallelism stays inside it.
    pub scaleup_domain_chips: u32,
    /// Network bandwidth per chip between scale-up domains, GB/s (bytes).
    pub scaleout_gb_per_s_per_chip: f64,
    /// Where the fabric figures came from, for the estimate's notes.
    pub fabric_note: String,
}

impl System {
    /// The chip as sold in `offering`.
    pub fn for_offering(
        catalog: &Catalog,
        offering: &Offering,
        params: ChipParams,
    ) -> Result<System, PerfError> {
        let chip = catalog
            .chip(&offering.chip)
            .ok_or_else(|| PerfError::invalid("chip", format!("unknown chip `{}`", offering.chip)))?
            .clone();
        let (gbps, note) = match offering.network_gbps {
            Some(g) => (
                g / f64::from(offering.chips_per_instance),
                format!("{}: {g} Gb/s network", offering.id()),
            ),
            None => scaleout_fallback(catalog, &chip),
        };
        Ok(System {
            chip,
            params,
            scaleup_domain_chips: offering.chips_per_instance,
            scaleout_gb_per_s_per_chip: gbps / 8.0,
            fabric_note: note,
        })
    }

    /// The chip in its largest catalog offering (the usual building block of a cluster).
    pub fn for_chip(
        catalog: &Catalog,
        chip_name: &str,
        params: ChipParams,
    ) -> Result<System, PerfError> {
        let chip = catalog
            .resolve_chip(chip_name)
            .map_err(|m| PerfError::invalid("chip", m))?;
        match catalog
            .offerings()
            .iter()
            .filter(|o| o.chip == chip.id)
            // The largest instance, one that states its network, then the cheapest per chip.
            .max_by(|a, b| {
                (a.chips_per_instance, a.network_gbps.is_some())
                    .cmp(&(b.chips_per_instance, b.network_gbps.is_some()))
                    .then_with(|| {
                        let price = |o: &Offering| o.usd_per_chip_hour().unwrap_or(f64::INFINITY);
                        price(b).total_cmp(&price(a))
                    })
            }) {
            Some(o) => System::for_offering(catalog, o, params),
            None => {
                let (gbps, note) = scaleout_fallback(catalog, chip);
                Ok(System {
                    chip: chip.clone(),
                    params,
                    scaleup_domain_chips: 8,
                    scaleout_gb_per_s_per_chip: gbps / 8.0,
                    fabric_note: format!(
                        "no offering of {}: 8-chip scale-up domain assumed; {note}",
                        chip.id
                    ),
                })
            }
        }
    }

    /// Dense matrix throughput at a precision, FLOP/s.
    pub fn peak_flops(&self, precision: Precision) -> Result<f64, PerfError> {
        let tflops = match precision {
            // Weight-only INT8 computes in BF16 after dequantizing.
            Precision::Bf16 | Precision::Int8 => self.chip.bf16_tflops,
            Precision::Fp8 => self.chip.fp8_tflops.ok_or_else(|| {
                PerfError::invalid(
                    "precision",
                    format!(
                        "{} has no FP8 matrix unit; use bf16, or int8 (weight-only)",
                        self.chip.id
                    ),
                )
            })?,
        };
        Ok(tflops * 1e12)
    }

    pub fn hbm_bytes_per_s(&self) -> f64 {
        self.chip.hbm_tb_per_s * 1e12
    }

    pub fn usable_memory_bytes(&self) -> f64 {
        self.chip.hbm_gib * GIB * USABLE_MEMORY_FRACTION
    }

    /// Time of a ring all-reduce of `bytes` over `n` chips on the scale-up fabric: latency per
    /// step plus 2(n−1)/n of the data over the link.
    pub fn allreduce_scaleup_s(&self, bytes: f64, n: u32) -> f64 {
        if n <= 1 {
            return 0.0;
        }
        let n = f64::from(n);
        let bw = self.chip.scaleup_gb_per_s * 1e9 * self.params.collective_bw_efficiency;
        self.params.collective_latency_us * 1e-6 + 2.0 * (n - 1.0) / n * bytes / bw
    }

    /// Time of a ring all-reduce across scale-up domains, over the network.
    pub fn allreduce_scaleout_s(&self, bytes: f64, n: u32) -> f64 {
        if n <= 1 {
            return 0.0;
        }
        let n = f64::from(n);
        let bw = self.scaleout_gb_per_s_per_chip * 1e9 * self.params.network_bw_efficiency;
        // Latency grows with the ring length across the network.
        self.params.collective_latency_us * 1e-6 * n.log2().max(1.0)
            + 2.0 * (n - 1.0) / n * bytes / bw
    }
}

/// Network per chip for chips whose offering states none: the best other offering of the same
/// chip, or [`DEFAULT_SCALEOUT_GBPS_PER_CHIP`].
fn scaleout_fallback(catalog: &Catalog, chip: &Chip) -> (f64, String) {
    catalog
        .offerings()
        .iter()
        .filter(|o| o.chip == chip.id)
        .filter_map(|o| {
            o.network_gbps
                .map(|g| (g / f64::from(o.chips_per_instance), o))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(g, o)| {
            (
                g,
                format!("network not stated; {} Gb/s per chip from {}", g, o.id()),
            )
        })
        .unwrap_or((
            DEFAULT_SCALEOUT_GBPS_PER_CHIP,
            format!("network not stated; {DEFAULT_SCALEOUT_GBPS_PER_CHIP} Gb/s per chip assumed"),
        ))
}
