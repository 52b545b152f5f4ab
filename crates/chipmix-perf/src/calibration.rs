//! Per-chip efficiency parameters: how much of the data sheet a real software stack achieves.
//!
//! Shipped in `data/calibration.csv`, written by `chipmix calibrate` from
//! `data/measurements.csv`. A chip without measurements gets [`ChipParams::default`], marked
//! `calibrated = false` so every estimate that uses it says so.

use crate::PerfError;
use serde::Serialize;

const CALIBRATION_CSV: &str = include_str!("../../../data/calibration.csv");

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChipParams {
    /// Achieved fraction of peak matrix FLOP/s in training steps (large GEMMs, fwd + bwd).
    pub train_compute_efficiency: f64,
    /// Achieved fraction of peak matrix FLOP/s in inference forward passes (prefill, and the
    /// compute part of decode).
    pub prefill_compute_efficiency: f64,
    /// Achieved fraction of HBM bandwidth when streaming weights in decode.
    pub decode_memory_efficiency: f64,
    /// Achieved fraction of HBM bandwidth when reading the KV cache (paged, strided reads).
    pub kv_read_efficiency: f64,
    /// Fixed cost of one forward pass: kernel launches, scheduling, sampling.
    pub step_overhead_ms: f64,
    /// Latency of one collective on the scale-up fabric.
    pub collective_latency_us: f64,
    /// Achieved fraction of scale-up link bandwidth in collectives.
    pub collective_bw_efficiency: f64,
    /// Achieved fraction of the network bandwidth between instances in collectives.
    pub network_bw_efficiency: f64,
    /// Whether training measurements constrained the training parameters.
    pub calibrated_training: bool,
    /// Whether inference measurements constrained the inference parameters.
    pub calibrated_inference: bool,
    pub source: String,
}

impl Default for ChipParams {
    /// Priors for chips without measurements. ESTIMATES, not fits: typical published ranges
    /// for tuned stacks (GEMM efficiency 50–70%, HBM streaming 70–85%, NCCL small-message
    /// latency 10–30 µs, bus bandwidth 70–85% of link, 60–80% of EFA/InfiniBand line rate).
    fn default() -> Self {
        ChipParams {
            train_compute_efficiency: 0.55,
            prefill_compute_efficiency: 0.6,
            decode_memory_efficiency: 0.75,
            kv_read_efficiency: 0.75,
            step_overhead_ms: 1.0,
            collective_latency_us: 20.0,
            collective_bw_efficiency: 0.75,
            network_bw_efficiency: 0.7,
            calibrated_training: false,
            calibrated_inference: false,
            source: "default prior (ESTIMATE; no measurements for this chip)".to_string(),
        }
    }
}

/// The parameters in a fixed order, for fitting. Fractions are fitted on a logit scale and
/// positive quantities on a log scale, so every step of the optimizer stays in range.
pub(crate) const PARAM_NAMES: [&str; N_PARAMS] = [
    "train_compute_efficiency",
    "prefill_compute_efficiency",
    "decode_memory_efficiency",
    "kv_read_efficiency",
    "step_overhead_ms",
    "collective_latency_us",
    "collective_bw_efficiency",
    "network_bw_efficiency",
];

pub(crate) const N_PARAMS: usize = 8;

impl ChipParams {
    pub(crate) fn to_vec(&self) -> [f64; N_PARAMS] {
        [
            self.train_compute_efficiency,
            self.prefill_compute_efficiency,
            self.decode_memory_efficiency,
            self.kv_read_efficiency,
            self.step_overhead_ms,
            self.collective_latency_us,
            self.collective_bw_efficiency,
            self.network_bw_efficiency,
        ]
    }

    pub(crate) fn from_vec(
        v: &[f64; N_PARAMS],
        source: String,
        training: bool,
        inference: bool,
    ) -> ChipParams {
        ChipParams {
            train_compute_efficiency: v[0],
            prefill_compute_efficiency: v[1],
            decode_memory_efficiency: v[2],
            kv_read_efficiency: v[3],
            step_overhead_ms: v[4],
            collective_latency_us: v[5],
            collective_bw_efficiency: v[6],
            network_bw_efficiency: v[7],
            calibrated_training: training,
            calibrated_inference: inference,
            source,
        }
    }

    /// Whether parameter `i` is a fraction (else a positive quantity).
    pub(crate) fn is_fraction(i: usize) -> bool {
        !matches!(i, 4 | 5)
    }
}

/// Calibration for every chip; chips not listed use the default prior.
#[derive(Clone, Debug, Default)]
pub struct Calibration {
    entries: Vec<(String, ChipParams)>,
}

impl Calibration {
    /// The shipped calibration (`data/calibration.csv`).
    pub fn builtin() -> Calibration {
        Calibration::parse("data/calibration.csv", CALIBRATION_CSV)
            .expect("the shipped calibration parses (tested)")
    }

    /// The chip's own fitted parameters, or the default prior.
    pub fn params(&self, chip_id: &str) -> ChipParams {
        self.entries
            .iter()
            .find(|(id, _)| id == chip_id)
            .map(|(_, p)| p.clone())
            .unwrap_or_default()
    }

    /// The chip's own fitted parameters; for a chip without measurements, those of a measured
    /// chip on the same software stack (a new chip on the same compiler and runtime reaches the
    /// same fraction of its data sheet until measured — Trainium2 borrows Trainium's); else
    /// the default prior. Borrowed parameters are marked uncalibrated.
    pub fn params_for(&self, catalog: &chipmix_catalog::Catalog, chip_id: &str) -> ChipParams {
        if let Some((_, p)) = self.entries.iter().find(|(id, _)| id == chip_id) {
            return p.clone();
        }
        let Some(stack) = catalog.chip(chip_id).map(|c| c.software) else {
            return ChipParams::default();
        };
        self.entries
            .iter()
            .filter(|(id, _)| catalog.chip(id).is_some_and(|c| c.software == stack))
            .max_by_key(|(id, p)| {
                (
                    u8::from(p.calibrated_training) + u8::from(p.calibrated_inference),
                    std::cmp::Reverse(id.clone()),
                )
            })
            .map(|(id, p)| ChipParams {
                calibrated_training: false,
                calibrated_inference: false,
                source: format!(
                    "borrowed from {id} (same {stack} software stack; no measurements of {chip_id}): ESTIMATE"
                ),
                ..p.clone()
            })
            .unwrap_or_default()
    }

    pub fn entries(&self) -> &[(String, ChipParams)] {
        &self.entries
    }

    pub fn set(&mut self, chip_id: &str, params: ChipParams) {
        match self.entries.iter_mut().find(|(id, _)| id == chip_id) {
            Some(slot) => slot.1 = params,
            None => self.entries.push((chip_id.to_string(), params)),
        }
    }

    pub fn parse(file: &str, text: &str) -> Result<Calibration, PerfError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| PerfError::invalid(file, e.to_string()))?
            .clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| PerfError::invalid(file, format!("missing column `{name}`")))
        };
        let chip_col = col("chip")?;
        let for_col = col("calibrated_for")?;
        let source_col = col("source")?;
        let cols: Vec<usize> = PARAM_NAMES
            .iter()
            .map(|n| col(n))
            .collect::<Result<_, _>>()?;
        let mut entries = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| PerfError::invalid(file, e.to_string()))?;
            let line = record.position().map_or(0, |p| p.line());
            let mut v = [0.0; N_PARAMS];
            for (i, &c) in cols.iter().enumerate() {
                let cell = record.get(c).unwrap_or("");
                v[i] = cell.parse().map_err(|_| {
                    PerfError::invalid(
                        &format!("{file}:{line}"),
                        format!("{}: `{cell}` is not a number", PARAM_NAMES[i]),
                    )
                })?;
                let ok = if ChipParams::is_fraction(i) {
                    v[i] > 0.0 && v[i] <= 1.0
                } else {
                    v[i] >= 0.0
                };
                if !ok {
                    return Err(PerfError::invalid(
                        &format!("{file}:{line}"),
                        format!("{}: {} is out of range", PARAM_NAMES[i], v[i]),
                    ));
                }
            }
            let source = record.get(source_col).unwrap_or("").to_string();
            let for_ = record.get(for_col).unwrap_or("");
            entries.push((
                record.get(chip_col).unwrap_or("").to_string(),
                ChipParams::from_vec(
                    &v,
                    source,
                    for_.contains("training"),
                    for_.contains("inference"),
                ),
            ));
        }
        Ok(Calibration { entries })
    }

    /// The CSV `chipmix calibrate --write` produces.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("chip,");
        out.push_str(&PARAM_NAMES.join(","));
        out.push_str(",calibrated_for,source\n");
        for (chip, p) in &self.entries {
            out.push_str(chip);
            for v in p.to_vec() {
                out.push_str(&format!(",{}", fmt_param(v)));
            }
            let for_ = match (p.calibrated_training, p.calibrated_inference) {
                (true, true) => "training+inference",
                (true, false) => "training",
                (false, true) => "inference",
                (false, false) => "none",
            };
            out.push_str(&format!(",{for_},\"{}\"\n", p.source.replace('"', "'")));
        }
        out
    }
}

fn fmt_param(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
