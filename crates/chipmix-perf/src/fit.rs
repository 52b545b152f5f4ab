//! Calibration against public measurements, and the held-out validation report.
//!
//! `data/measurements.csv` holds published benchmark results in one format (one row per
//! measured number). For each chip with measurements, [`calibrate`] finds the efficiency
//! parameters that minimize a robust loss on the log-ratio of prediction to measurement, with a
//! weak prior pulling unconstrained parameters toward [`ChipParams::default`]. The report gives
//! the fit error and the error on held-out rows: k-fold cross-validation by benchmark
//! configuration, so every reported held-out prediction comes from parameters fitted without
//! that configuration.

use crate::PerfError;
use crate::calibration::{Calibration, ChipParams};
use crate::inference::{InferenceSetup, Replica};
use crate::shape::ModelShape;
use crate::system::System;
use crate::training::{self, TrainRequest};
use argmin::core::{CostFunction, Executor};
use argmin::solver::neldermead::NelderMead;
use chipmix_catalog::Catalog;
use chipmix_workload::Precision;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Prefill a batch together, then decode it together (Neuron's benchmark tables).
    StaticBatch,
    Train,
    /// Kept so the report accounts for every published row; the reason is in `notes`.
    NotModeled,
}

#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    pub id: String,
    pub line: u64,
    pub chip: String,
    pub chips: Option<u32>,
    pub offering: String,
    pub model: String,
    pub kind: Kind,
    pub precision: Precision,
    pub tp: Option<u32>,
    pub pp: Option<u32>,
    pub dp: Option<u32>,
    pub batch: Option<u32>,
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    pub seq_len: Option<u32>,
    pub global_batch_tokens: Option<f64>,
    pub metric: String,
    pub value: f64,
    pub source: String,
    pub notes: String,
}

/// Reads a measurements CSV; every bad cell is reported with its line and column.
pub fn parse_measurements(
    file: &str,
    text: &str,
    catalog: &Catalog,
) -> Result<Vec<Measurement>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![format!("{file}: {e}")]),
    };
    let required = ["id", "chip", "model", "kind", "metric", "value", "source"];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !headers.iter().any(|h| h == *c))
        .collect();
    if !missing.is_empty() {
        return Err(vec![format!(
            "{file}:1: missing column(s): {}",
            missing.join(", ")
        )]);
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("{file}: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let get = |name: &str| -> &str {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|i| record.get(i))
                .unwrap_or("")
        };
        let mut row_errors = Vec::new();
        let mut err =
            |field: &str, msg: String| row_errors.push(format!("{file}:{line}: {field}: {msg}"));
        let count = |field: &str, err: &mut dyn FnMut(&str, String)| -> Option<u32> {
            let s = get(field);
            if s.is_empty() {
                return None;
            }
            match s.parse::<u32>() {
                Ok(v) if v > 0 => Some(v),
                _ => {
                    err(field, format!("`{s}` is not a whole number ≥ 1"));
                    None
                }
            }
        };
        let kind = match get("kind") {
            "static_batch" => Kind::StaticBatch,
            "train" => Kind::Train,
            "not_modeled" => Kind::NotModeled,
            other => {
                err(
                    "kind",
                    format!("`{other}` is not static_batch, train or not_modeled"),
                );
                Kind::NotModeled
            }
        };
        let value: f64 = match get("value").parse() {
            Ok(v) if v > 0.0 => v,
            _ => {
                err("value", format!("`{}` is not a number > 0", get("value")));
                0.0
            }
        };
        let precision = match get("precision") {
            "" | "bf16" => Precision::Bf16,
            "fp8" => Precision::Fp8,
            "int8" => Precision::Int8,
            other => {
                err("precision", format!("`{other}` is not bf16, fp8 or int8"));
                Precision::Bf16
            }
        };
        let chip = match catalog.chip(get("chip")) {
            Some(c) => c.id.clone(),
            None => {
                err("chip", format!("unknown chip `{}`", get("chip")));
                String::new()
            }
        };
        let modeled = kind != Kind::NotModeled;
        if modeled && chipmix_workload::model::preset(get("model")).is_none() {
            err("model", format!("`{}` is not a model preset", get("model")));
        }
        if modeled && !get("offering").is_empty() && catalog.find_offering(get("offering")).is_err()
        {
            err(
                "offering",
                format!("unknown offering `{}`", get("offering")),
            );
        }
        let metric = get("metric").to_string();
        let allowed: &[&str] = match kind {
            Kind::StaticBatch => &["output_tokens_per_s", "ttft_ms", "tpot_ms"],
            Kind::Train => &["tokens_per_s", "mfu"],
            Kind::NotModeled => &[],
        };
        if modeled && !allowed.contains(&metric.as_str()) {
            err(
                "metric",
                format!("`{metric}` is not one of {}", allowed.join(", ")),
            );
        }
        let m = Measurement {
            id: get("id").to_string(),
            line,
            chip,
            chips: count("chips", &mut err),
            offering: get("offering").to_string(),
            model: get("model").to_string(),
            kind,
            precision,
            tp: count("tp", &mut err),
            pp: count("pp", &mut err),
            dp: count("dp", &mut err),
            batch: count("batch", &mut err),
            input_tokens: count("input_tokens", &mut err),
            output_tokens: count("output_tokens", &mut err),
            seq_len: count("seq_len", &mut err),
            global_batch_tokens: get("global_batch_tokens").parse().ok(),
            metric,
            value,
            source: get("source").to_string(),
            notes: get("notes").to_string(),
        };
        if m.kind == Kind::StaticBatch
            && (m.batch.is_none() || m.input_tokens.is_none() || m.output_tokens.is_none())
        {
            err(
                "batch",
                "static_batch rows need batch, input_tokens and output_tokens".to_string(),
            );
        }
        if m.kind == Kind::Train
            && (m.seq_len.is_none() || m.global_batch_tokens.is_none() || m.chips.is_none())
        {
            err(
                "seq_len",
                "train rows need chips, seq_len and global_batch_tokens".to_string(),
            );
        }
        if row_errors.is_empty() {
            out.push(m);
        } else {
            errors.extend(row_errors);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// What predictions need besides the parameters.
pub struct Context<'a> {
    catalog: &'a Catalog,
    shapes: BTreeMap<String, ModelShape>,
}

impl<'a> Context<'a> {
    pub fn new(catalog: &'a Catalog, rows: &[Measurement]) -> Context<'a> {
        let shapes = rows
            .iter()
            .filter(|m| m.kind != Kind::NotModeled)
            .filter_map(|m| {
                chipmix_workload::model::preset(&m.model)
                    .map(|s| (m.model.clone(), ModelShape::new(&s)))
            })
            .collect();
        Context { catalog, shapes }
    }

    fn system(&self, m: &Measurement, params: &ChipParams) -> Result<System, PerfError> {
        if m.offering.is_empty() {
            System::for_chip(self.catalog, &m.chip, params.clone())
        } else {
            let o = self
                .catalog
                .find_offering(&m.offering)
                .map_err(|e| PerfError::invalid("offering", e))?;
            System::for_offering(self.catalog, o, params.clone())
        }
    }
}

/// The model's prediction of one measured number.
pub fn predict(ctx: &Context<'_>, m: &Measurement, params: &ChipParams) -> Result<f64, PerfError> {
    let shape = ctx
        .shapes
        .get(&m.model)
        .ok_or_else(|| PerfError::invalid("model", format!("`{}` is not modeled", m.model)))?;
    let system = ctx.system(m, params)?;
    match m.kind {
        Kind::StaticBatch => {
            let replica = Replica {
                tp: m.tp.unwrap_or(1),
                pp: m.pp.unwrap_or(1),
            };
            let setup = InferenceSetup::new(shape, &system, m.precision, replica)?;
            let (ttft, tpot, tps) = setup.static_batch(
                m.batch.unwrap_or(1),
                m.input_tokens.unwrap_or(1),
                m.output_tokens.unwrap_or(1),
            )?;
            Ok(match m.metric.as_str() {
                "ttft_ms" => ttft,
                "tpot_ms" => tpot,
                _ => tps,
            })
        }
        Kind::Train => {
            let chips = m.chips.ok_or_else(|| {
                PerfError::invalid("chips", format!("row {} gives no chip count", m.id))
            })?;
            let req = TrainRequest {
                chips,
                seq_len: m.seq_len.unwrap_or(1),
                global_batch_tokens: m.global_batch_tokens.unwrap_or(0.0),
                precision: m.precision,
                tp: m.tp,
                pp: m.pp,
                dp: m.dp,
                micro_batch: m.batch,
            };
            let e = training::estimate(shape, &system, &req)?;
            Ok(match m.metric.as_str() {
                "mfu" => e.mfu,
                _ => e.tokens_per_s,
            })
        }
        Kind::NotModeled => Err(PerfError::invalid("kind", "not modeled")),
    }
}

/// Robust loss of a log-ratio: quadratic near 0, linear beyond `DELTA` (soft-L1).
fn soft_l1(r: f64) -> f64 {
    const DELTA: f64 = 0.1;
    2.0 * DELTA * DELTA * ((1.0 + (r / DELTA).powi(2)).sqrt() - 1.0)
}

/// Weight of the prior, per parameter, in units of the loss of one row off by 10%.
const PRIOR_WEIGHT: f64 = 0.01;
/// A failed prediction (the configuration does not fit) counts as a factor-e error.
const FAILED_LOG_RATIO: f64 = 1.0;

fn to_x(p: &ChipParams) -> Vec<f64> {
    p.to_vec()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if ChipParams::is_fraction(i) {
                (v / (1.0 - v)).ln()
            } else {
                v.max(1e-6).ln()
            }
        })
        .collect()
}

fn from_x(x: &[f64], source: String, training: bool, inference: bool) -> ChipParams {
    let mut v = [0.0; crate::calibration::N_PARAMS];
    for i in 0..v.len() {
        v[i] = if ChipParams::is_fraction(i) {
            1.0 / (1.0 + (-x[i]).exp())
        } else {
            x[i].exp()
        };
    }
    ChipParams::from_vec(&v, source, training, inference)
}

fn log_ratio(ctx: &Context<'_>, m: &Measurement, params: &ChipParams) -> f64 {
    match predict(ctx, m, params) {
        Ok(p) if p > 0.0 && p.is_finite() => (p / m.value).ln(),
        _ => FAILED_LOG_RATIO,
    }
}

struct Problem<'a, 'b> {
    ctx: &'b Context<'a>,
    rows: Vec<&'b Measurement>,
    prior: Vec<f64>,
}

impl CostFunction for Problem<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Self::Param) -> Result<f64, argmin::core::Error> {
        let params = from_x(x, String::new(), true, true);
        let data: f64 = self
            .rows
            .iter()
            .map(|m| soft_l1(log_ratio(self.ctx, m, &params)))
            .sum();
        let prior: f64 = x
            .iter()
            .zip(&self.prior)
            .map(|(a, b)| PRIOR_WEIGHT * (a - b).powi(2))
            .sum();
        Ok(data + prior)
    }
}

/// Fits one chip's parameters to `rows` (all of that chip).
pub fn fit_chip(ctx: &Context<'_>, rows: &[&Measurement], source: String) -> ChipParams {
    let prior = to_x(&ChipParams::default());
    let problem = Problem {
        ctx,
        rows: rows.to_vec(),
        prior: prior.clone(),
    };
    let mut start = prior.clone();
    // Two rounds: Nelder–Mead restarted from its own optimum escapes a collapsed simplex.
    for _ in 0..2 {
        let mut simplex = vec![start.clone()];
        for i in 0..start.len() {
            let mut v = start.clone();
            v[i] += 0.7;
            simplex.push(v);
        }
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(1e-7)
            .expect("a positive tolerance is valid");
        let result = Executor::new(
            Problem {
                ctx,
                rows: problem.rows.clone(),
                prior: prior.clone(),
            },
            solver,
        )
        .configure(|state| state.max_iters(1500))
        .run();
        if let Ok(r) = result
            && let Some(best) = r.state.best_param
        {
            start = best;
        }
    }
    let training = rows.iter().any(|m| m.kind == Kind::Train);
    let inference = rows.iter().any(|m| m.kind == Kind::StaticBatch);
    from_x(&start, source, training, inference)
}

#[derive(Clone, Debug, Serialize)]
pub struct RowResult {
    pub id: String,
    pub chip: String,
    pub model: String,
    pub metric: String,
    pub measured: f64,
    /// With parameters fitted on every row.
    pub fitted: Option<f64>,
    /// With parameters fitted on the other folds.
    pub held_out: Option<f64>,
    pub held_out_error: Option<f64>,
    pub note: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct FamilySummary {
    pub chip: String,
    pub rows: usize,
    pub fit_median_abs_error: f64,
    pub held_out_median_abs_error: f64,
    pub held_out_p90_abs_error: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub folds: usize,
    pub families: Vec<FamilySummary>,
    pub overall_held_out_median_abs_error: f64,
    pub rows: Vec<RowResult>,
    pub not_modeled: usize,
    #[serde(skip)]
    pub calibration: Calibration,
}

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - pos.floor())
}

fn rel_error(pred: Option<f64>, measured: f64) -> Option<f64> {
    pred.map(|p| (p - measured).abs() / measured)
}

/// Fits every chip that has measurements and cross-validates with `folds` folds.
/// `date` labels the fitted parameters' source.
pub fn calibrate(
    catalog: &Catalog,
    rows: &[Measurement],
    folds: usize,
    file: &str,
    date: &str,
) -> Report {
    let folds = folds.max(2);
    let ctx = Context::new(catalog, rows);
    let modeled: Vec<&Measurement> = rows.iter().filter(|m| m.kind != Kind::NotModeled).collect();
    let mut by_chip: BTreeMap<&str, Vec<&Measurement>> = BTreeMap::new();
    for m in &modeled {
        by_chip.entry(m.chip.as_str()).or_default().push(m);
    }
    let mut calibration = Calibration::default();
    let mut results: Vec<RowResult> = Vec::new();
    let mut families = Vec::new();
    for (chip, chip_rows) in &by_chip {
        let configs: std::collections::BTreeSet<&str> =
            chip_rows.iter().map(|m| m.id.as_str()).collect();
        let fold_of =
            |m: &Measurement| configs.iter().position(|c| *c == m.id).unwrap_or(0) % folds;
        let kinds = |k: Kind| chip_rows.iter().filter(|m| m.kind == k).count();
        let mut source = format!(
            "fitted by `chipmix calibrate {file}` on {date}: {} training and {} inference measurements of {} configurations",
            kinds(Kind::Train),
            kinds(Kind::StaticBatch),
            configs.len()
        );
        if kinds(Kind::StaticBatch) == 0 {
            source.push_str("; inference parameters are the default prior (ESTIMATE)");
        }
        if kinds(Kind::Train) == 0 {
            source.push_str("; training parameters are the default prior (ESTIMATE)");
        }
        let all = fit_chip(&ctx, chip_rows, source);
        let mut held: Vec<Option<f64>> = vec![None; chip_rows.len()];
        let n_folds = folds.min(configs.len());
        if n_folds >= 2 {
            for k in 0..folds {
                let train: Vec<&Measurement> = chip_rows
                    .iter()
                    .copied()
                    .filter(|m| fold_of(m) != k)
                    .collect();
                if train.len() == chip_rows.len() {
                    continue;
                }
                let params = fit_chip(&ctx, &train, String::new());
                for (i, m) in chip_rows.iter().enumerate() {
                    if fold_of(m) == k {
                        held[i] = predict(&ctx, m, &params).ok();
                    }
                }
            }
        }
        let mut fit_errs = Vec::new();
        let mut held_errs = Vec::new();
        for (i, m) in chip_rows.iter().enumerate() {
            let fitted = predict(&ctx, m, &all).ok();
            let fe = rel_error(fitted, m.value);
            let he = rel_error(held[i], m.value);
            fit_errs.push(fe.unwrap_or(1.0));
            held_errs.push(he.unwrap_or(1.0));
            results.push(RowResult {
                id: m.id.clone(),
                chip: m.chip.clone(),
                model: m.model.clone(),
                metric: m.metric.clone(),
                measured: m.value,
                fitted,
                held_out: held[i],
                held_out_error: he,
                note: if held[i].is_none() {
                    "prediction failed".into()
                } else {
                    String::new()
                },
            });
        }
        families.push(FamilySummary {
            chip: chip.to_string(),
            rows: chip_rows.len(),
            fit_median_abs_error: quantile(fit_errs, 0.5),
            held_out_median_abs_error: quantile(held_errs.clone(), 0.5),
            held_out_p90_abs_error: quantile(held_errs, 0.9),
        });
        calibration.set(chip, all);
    }
    for m in rows.iter().filter(|m| m.kind == Kind::NotModeled) {
        results.push(RowResult {
            id: m.id.clone(),
            chip: m.chip.clone(),
            model: m.model.clone(),
            metric: m.metric.clone(),
            measured: m.value,
            fitted: None,
            held_out: None,
            held_out_error: None,
            note: m
                .notes
                .split("NOT MODELED: ")
                .nth(1)
                .unwrap_or(&m.notes)
                .to_string(),
        });
    }
    let all_held: Vec<f64> = results.iter().filter_map(|r| r.held_out_error).collect();
    Report {
        folds,
        families,
        overall_held_out_median_abs_error: quantile(all_held, 0.5),
        not_modeled: rows.iter().filter(|m| m.kind == Kind::NotModeled).count(),
        rows: results,
        calibration,
    }
}
