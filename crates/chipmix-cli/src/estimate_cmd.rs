//! `chipmix estimate …` and `chipmix calibrate`

use crate::args;
use crate::catalog_cmd::{self, CatalogFiles};
use crate::output::{self, Format, num};
use crate::{CmdResult, Failure};
use chipmix_catalog::limits;
use chipmix_perf::fit::{self, Report};
use chipmix_perf::{
    Calibration, InferenceSetup, ModelShape, PerfError, Replica, System, TrainRequest, training,
};
use chipmix_workload::{Precision, Slo};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use std::path::Path;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PrecisionArg {
    Bf16,
    Fp8,
    Int8,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Precision {
        match p {
            PrecisionArg::Bf16 => Precision::Bf16,
            PrecisionArg::Fp8 => Precision::Fp8,
            PrecisionArg::Int8 => Precision::Int8,
        }
    }
}

#[derive(Args)]
pub struct Common {
    /// A model preset or a path to a Hugging Face config.json
    #[arg(long)]
    model: String,
    /// Weights (inference) or matrix math (training): int8 is weight-only
    #[arg(long, value_enum, default_value = "bf16")]
    precision: PrecisionArg,
    #[command(flatten)]
    catalog: CatalogFiles,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Subcommand)]
pub enum EstimateCommand {
    /// Time to prefill a batch of prompts
    Prefill {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        chip: String,
        /// Chips in tensor parallel (one replica)
        #[arg(long, default_value_t = 1, value_parser = args::count(&limits::CHIPS))]
        chips: u32,
        #[arg(long, value_parser = args::count(&limits::BATCH))]
        batch: u32,
        /// Prompt length, tokens
        #[arg(long, value_parser = args::count(&limits::TOKENS_PER_SEQUENCE))]
        prompt: u32,
    },
    /// Time of one decode step
    Decode {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        chip: String,
        #[arg(long, default_value_t = 1, value_parser = args::count(&limits::CHIPS))]
        chips: u32,
        #[arg(long, value_parser = args::count(&limits::BATCH))]
        batch: u32,
        /// Tokens already in each sequence's context
        #[arg(long, value_parser = args::count(&limits::TOKENS_PER_SEQUENCE))]
        context: u32,
    },
    /// Training step time, throughput and memory; searches the parallel layout unless given
    Train {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        chip: String,
        #[arg(long, value_parser = args::count(&limits::CHIPS))]
        chips: u32,
        /// Sequence length, tokens
        #[arg(long, value_parser = args::count(&limits::TOKENS_PER_SEQUENCE))]
        seq: u32,
        /// Tokens per optimizer step (suffixes k, M, B, T: `16M`)
        #[arg(long, value_parser = args::number(&limits::BATCH_TOKENS))]
        global_batch_tokens: f64,
        #[arg(long, value_parser = args::count(&limits::BATCH))]
        micro_batch: Option<u32>,
        #[arg(long, value_parser = args::count(&limits::CHIPS))]
        tp: Option<u32>,
        #[arg(long, value_parser = args::count(&limits::CHIPS))]
        pp: Option<u32>,
        #[arg(long, value_parser = args::count(&limits::CHIPS))]
        dp: Option<u32>,
        /// The instance the chips come in (sets the fabric); default: the chip's largest
        #[arg(long)]
        offering: Option<String>,
        /// Tokens to train on (`4T`): adds days to train
        #[arg(long, value_parser = args::number(&limits::TRAINING_TOKENS))]
        tokens: Option<f64>,
    },
    /// Serving under TTFT/TPOT SLOs on an offering: capacity per replica and cost per token
    Serve {
        #[command(flatten)]
        common: Common,
        /// `provider/instance/region`, or an instance type offered once
        #[arg(long)]
        offering: String,
        #[arg(long, value_parser = args::count(&limits::TOKENS_PER_SEQUENCE))]
        prompt: u32,
        #[arg(long, value_parser = args::count(&limits::TOKENS_PER_SEQUENCE))]
        output: u32,
        #[arg(long, value_parser = args::number(&limits::LATENCY_MS))]
        ttft_ms: f64,
        #[arg(long, value_parser = args::number(&limits::LATENCY_MS))]
        tpot_ms: f64,
    },
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::bad(format!("error: {e}"))
}

fn perf_err(e: PerfError) -> Failure {
    Failure::bad(format!("error: {e}"))
}

struct Loaded {
    catalog: chipmix_catalog::Catalog,
    shape: ModelShape,
    calibration: Calibration,
}

fn load(common: &Common) -> Result<Loaded, Failure> {
    let catalog = catalog_cmd::load(&common.catalog)?;
    let spec = chipmix_workload::model::resolve(&common.model, Path::new(".")).map_err(bad)?;
    Ok(Loaded {
        catalog,
        shape: ModelShape::new(&spec),
        calibration: Calibration::builtin(),
    })
}

fn system_for_chip(l: &Loaded, chip: &str) -> Result<System, Failure> {
    let id = l
        .catalog
        .resolve_chip(chip)
        .map_err(|m| bad(format!("--chip: {m}")))?
        .id
        .clone();
    System::for_chip(&l.catalog, &id, l.calibration.params_for(&l.catalog, &id)).map_err(perf_err)
}

#[derive(Serialize)]
struct WithContext<'a, T: Serialize> {
    model: &'a str,
    chip: &'a str,
    precision: &'static str,
    #[serde(flatten)]
    estimate: T,
    calibrated: bool,
    calibration_source: &'a str,
}

fn print<T: Serialize>(format: Format, value: &T, rows: Vec<(&str, String)>) -> CmdResult {
    if format == Format::Json {
        return output::print_json(value);
    }
    output::print_listing(
        format,
        output::Listing::<()> {
            header: &["quantity", "value"],
            rows: rows
                .into_iter()
                .map(|(k, v)| vec![k.to_string(), v])
                .collect(),
            items: &[],
        },
    )
}

pub fn run(cmd: EstimateCommand) -> CmdResult {
    match cmd {
        EstimateCommand::Prefill {
            common,
            chip,
            chips,
            batch,
            prompt,
        } => {
            let l = load(&common)?;
            let system = system_for_chip(&l, &chip)?;
            let setup = InferenceSetup::new(
                &l.shape,
                &system,
                common.precision.into(),
                Replica { tp: chips, pp: 1 },
            )
            .map_err(perf_err)?;
            let e = setup.prefill(batch, prompt).map_err(perf_err)?;
            let rows = vec![
                ("time_ms", num(Some(e.time_ms), 2)),
                ("bound", e.bound.as_str().to_string()),
                ("compute_ms", num(Some(e.compute_ms), 2)),
                ("memory_ms", num(Some(e.memory_ms), 2)),
                ("communication_ms", num(Some(e.communication_ms), 2)),
                ("overhead_ms", num(Some(e.overhead_ms), 2)),
                ("tflops_per_chip", num(Some(e.tflops_per_chip), 1)),
            ];
            print(common.format, &wrap(&l, &system, &common, e, false), rows)
        }
        EstimateCommand::Decode {
            common,
            chip,
            chips,
            batch,
            context,
        } => {
            let l = load(&common)?;
            let system = system_for_chip(&l, &chip)?;
            let setup = InferenceSetup::new(
                &l.shape,
                &system,
                common.precision.into(),
                Replica { tp: chips, pp: 1 },
            )
            .map_err(perf_err)?;
            let e = setup.decode(batch, context).map_err(perf_err)?;
            let rows = vec![
                ("step_ms", num(Some(e.step_ms), 3)),
                ("tokens_per_s", num(Some(e.tokens_per_s), 1)),
                ("bound", e.bound.as_str().to_string()),
                ("memory_ms", num(Some(e.memory_ms), 3)),
                ("compute_ms", num(Some(e.compute_ms), 3)),
                ("communication_ms", num(Some(e.communication_ms), 3)),
                ("overhead_ms", num(Some(e.overhead_ms), 3)),
                (
                    "weight_gib_read_per_chip",
                    num(Some(e.weight_gib_read_per_chip), 2),
                ),
                ("kv_gib_read_per_chip", num(Some(e.kv_gib_read_per_chip), 2)),
            ];
            print(common.format, &wrap(&l, &system, &common, e, false), rows)
        }
        EstimateCommand::Train {
            common,
            chip,
            chips,
            seq,
            global_batch_tokens,
            micro_batch,
            tp,
            pp,
            dp,
            offering,
            tokens,
        } => {
            let l = load(&common)?;
            let system = match &offering {
                Some(o) => {
                    let off = l
                        .catalog
                        .find_offering(o)
                        .map_err(|m| bad(format!("--offering: {m}")))?;
                    let chip_id = l
                        .catalog
                        .resolve_chip(&chip)
                        .map_err(|m| bad(format!("--chip: {m}")))?
                        .id
                        .clone();
                    if off.chip != chip_id {
                        return Err(bad(format!(
                            "--offering: {} has {} chips, not {chip_id}",
                            off.id(),
                            off.chip
                        )));
                    }
                    System::for_offering(
                        &l.catalog,
                        off,
                        l.calibration.params_for(&l.catalog, &off.chip),
                    )
                    .map_err(perf_err)?
                }
                None => system_for_chip(&l, &chip)?,
            };
            if let Some(t) = tokens
                && (t.is_nan() || t <= 0.0)
            {
                return Err(bad("--tokens: must be > 0"));
            }
            let req = TrainRequest {
                chips,
                seq_len: seq,
                global_batch_tokens,
                precision: common.precision.into(),
                tp,
                pp,
                dp,
                micro_batch,
            };
            let e = training::estimate(&l.shape, &system, &req).map_err(perf_err)?;
            let days = tokens.map(|t| e.days_for(t));
            let c = e.config;
            let rows = vec![
                ("step_ms", num(Some(e.step_ms), 1)),
                ("tokens_per_s", num(Some(e.tokens_per_s), 0)),
                ("mfu", num(Some(e.mfu), 3)),
                (
                    "memory_gib_per_chip",
                    format!(
                        "{:.1} of {:.1} usable",
                        e.memory_gib_per_chip, e.usable_gib_per_chip
                    ),
                ),
                ("bound", e.bound.as_str().to_string()),
                (
                    "config",
                    format!(
                        "tp {} pp {} dp {} micro-batch {} × {} (virtual stages {}, ep {}, sharding {:?}, recompute {:?})",
                        c.tp,
                        c.pp,
                        c.dp,
                        c.micro_batch,
                        c.micro_batches,
                        c.virtual_stages,
                        c.expert_parallel,
                        c.sharding,
                        c.recompute
                    ),
                ),
                ("compute_ms", num(Some(e.compute_ms), 1)),
                ("pipeline_bubble_ms", num(Some(e.pipeline_bubble_ms), 1)),
                (
                    "tensor_parallel_comm_ms",
                    num(Some(e.tensor_parallel_comm_ms), 1),
                ),
                (
                    "data_parallel_comm_ms",
                    num(Some(e.data_parallel_comm_ms), 1),
                ),
                ("days", days.map(|d| format!("{d:.1}")).unwrap_or_default()),
                ("fabric", system.fabric_note.clone()),
            ];
            #[derive(Serialize)]
            struct Out<T: Serialize> {
                #[serde(flatten)]
                estimate: T,
                days: Option<f64>,
                fabric: String,
            }
            let out = Out {
                estimate: e,
                days,
                fabric: system.fabric_note.clone(),
            };
            print(common.format, &wrap(&l, &system, &common, out, true), rows)
        }
        EstimateCommand::Serve {
            common,
            offering,
            prompt,
            output,
            ttft_ms,
            tpot_ms,
        } => {
            let l = load(&common)?;
            let off = l
                .catalog
                .find_offering(&offering)
                .map_err(|m| bad(format!("--offering: {m}")))?;
            let e = chipmix_perf::serve_on_offering(
                &l.catalog,
                &l.calibration,
                &l.shape,
                off,
                common.precision.into(),
                prompt,
                output,
                Slo { ttft_ms, tpot_ms },
            )
            .map_err(perf_err)?;
            let s = &e.estimate;
            let rows = vec![
                ("offering", e.offering.clone()),
                (
                    "replica",
                    format!(
                        "{} chips (tp {} × pp {}), {} per instance",
                        e.chips_per_replica, s.replica.tp, s.replica.pp, e.replicas_per_instance
                    ),
                ),
                ("max_requests_per_s", num(Some(s.max_requests_per_s), 2)),
                ("output_tokens_per_s", num(Some(s.output_tokens_per_s), 0)),
                ("batch", s.batch.to_string()),
                ("ttft_ms", num(Some(s.ttft_ms), 1)),
                ("tpot_ms", num(Some(s.tpot_ms), 2)),
                ("limited_by", s.limited_by.to_string()),
                (
                    "usd_per_million_output_tokens",
                    num(e.usd_per_million_output_tokens, 3),
                ),
                ("calibrated", e.calibrated.to_string()),
                ("notes", e.notes.join("; ")),
            ];
            if common.format == Format::Json {
                return output::print_json(&WithContext {
                    model: &l.shape.name,
                    chip: &e.chip,
                    precision: Precision::from(common.precision).as_str(),
                    calibrated: e.calibrated,
                    calibration_source: &l.calibration.params_for(&l.catalog, &e.chip).source,
                    estimate: &e,
                });
            }
            print(common.format, &e, rows)
        }
    }
}

fn wrap<'a, T: Serialize>(
    l: &'a Loaded,
    system: &'a System,
    common: &Common,
    estimate: T,
    training: bool,
) -> WithContext<'a, T> {
    WithContext {
        model: &l.shape.name,
        chip: &system.chip.id,
        precision: Precision::from(common.precision).as_str(),
        estimate,
        calibrated: if training {
            system.params.calibrated_training
        } else {
            system.params.calibrated_inference
        },
        calibration_source: &system.params.source,
    }
}

#[derive(Args)]
pub struct CalibrateArgs {
    /// Measurements CSV (format: docs/performance-model.md); default: the shipped
    /// data/measurements.csv
    file: Option<String>,
    /// Folds of the cross-validation that gives the held-out error
    #[arg(long, default_value_t = 5, value_parser = args::size(&limits::FOLDS))]
    folds: usize,
    /// Print every row's prediction, not only the per-chip summary
    #[arg(long)]
    report: bool,
    /// Write the fitted parameters to this CSV (the shipped one is data/calibration.csv)
    #[arg(long, value_name = "FILE")]
    write: Option<String>,
    /// Date recorded in the fitted parameters' source (default: today, UTC)
    #[arg(long)]
    date: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

const SHIPPED_MEASUREMENTS: &str = include_str!("../../../data/measurements.csv");

pub fn calibrate(args: CalibrateArgs) -> CmdResult {
    let catalog = catalog_cmd::load(&CatalogFiles::default())?;
    let (file, text) = match &args.file {
        Some(f) => (
            f.clone(),
            chipmix_catalog::limits::read_text_file(f)
                .map_err(|e| bad(format!("{f}: cannot read the file: {e}")))?,
        ),
        None => (
            "data/measurements.csv".to_string(),
            SHIPPED_MEASUREMENTS.to_string(),
        ),
    };
    let rows = fit::parse_measurements(&file, &text, &catalog).map_err(|errs| {
        Failure::BadInput(errs.into_iter().map(|e| format!("error: {e}")).collect())
    })?;
    let date = args.date.clone().unwrap_or_else(today);
    let bar = crate::progress::spinner(format!(
        "fitting {} measurements with {}-fold cross-validation",
        rows.len(),
        args.folds
    ));
    let report = fit::calibrate(&catalog, &rows, args.folds, &file, &date);
    bar.finish_and_clear();
    if let Some(path) = &args.write {
        std::fs::write(path, report.calibration.to_csv())
            .map_err(|e| Failure::Internal(format!("writing {path}: {e}")))?;
        eprintln!("wrote {path}");
    }
    print_report(&report, args.format, args.report)
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_default()
}

fn print_report(report: &Report, format: Format, all_rows: bool) -> CmdResult {
    if format == Format::Json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            report: &'a Report,
            parameters: Vec<(&'a str, &'a chipmix_perf::ChipParams)>,
        }
        return output::print_json(&Out {
            report,
            parameters: report
                .calibration
                .entries()
                .iter()
                .map(|(c, p)| (c.as_str(), p))
                .collect(),
        });
    }
    let rows: Vec<Vec<String>> = report
        .families
        .iter()
        .map(|f| {
            vec![
                f.chip.clone(),
                f.rows.to_string(),
                pct(Some(f.fit_median_abs_error)),
                pct(Some(f.held_out_median_abs_error)),
                pct(Some(f.held_out_p90_abs_error)),
            ]
        })
        .collect();
    output::print_listing(
        format,
        output::Listing::<()> {
            header: &[
                "chip",
                "measurements",
                "fit_median_err",
                "held_out_median_err",
                "held_out_p90_err",
            ],
            rows,
            items: &[],
        },
    )?;
    println!(
        "held-out median |error| over all modeled rows: {} ({}-fold cross-validation by benchmark configuration); {} published rows not modeled",
        pct(Some(report.overall_held_out_median_abs_error)),
        report.folds,
        report.not_modeled
    );
    let params: Vec<Vec<String>> = report
        .calibration
        .entries()
        .iter()
        .map(|(chip, p)| {
            vec![
                chip.clone(),
                num(Some(p.train_compute_efficiency), 3),
                num(Some(p.prefill_compute_efficiency), 3),
                num(Some(p.decode_memory_efficiency), 3),
                num(Some(p.kv_read_efficiency), 3),
                num(Some(p.step_overhead_ms), 2),
                num(Some(p.collective_latency_us), 1),
                num(Some(p.collective_bw_efficiency), 3),
                num(Some(p.network_bw_efficiency), 3),
            ]
        })
        .collect();
    println!();
    output::print_listing(
        format,
        output::Listing::<()> {
            header: &[
                "chip",
                "train_eff",
                "prefill_eff",
                "decode_mem_eff",
                "kv_read_eff",
                "overhead_ms",
                "coll_lat_us",
                "coll_bw_eff",
                "net_bw_eff",
            ],
            rows: params,
            items: &[],
        },
    )?;
    if all_rows {
        println!();
        let rows: Vec<Vec<String>> = report
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.id.clone(),
                    r.chip.clone(),
                    r.model.clone(),
                    r.metric.clone(),
                    num(Some(r.measured), 2),
                    num(r.fitted, 2),
                    num(r.held_out, 2),
                    pct(r.held_out_error),
                    output::cell(&r.note, 70),
                ]
            })
            .collect();
        output::print_listing(
            format,
            output::Listing::<()> {
                header: &[
                    "id",
                    "chip",
                    "model",
                    "metric",
                    "measured",
                    "fitted",
                    "held_out",
                    "held_out_err",
                    "note",
                ],
                rows,
                items: &[],
            },
        )?;
    }
    Ok(())
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    chrono::NaiveDate::from_num_days_from_ce_opt(719_163 + days as i32)
        .map(|d| d.to_string())
        .unwrap_or_default()
}
