//! `chipmix export kueue|skypilot FILE --out DIR`: the plan in the formats the engines consume.

use crate::args;
use crate::catalog_cmd::CatalogFiles;
use crate::plan_cmd::{load_portfolio, plan_loaded};
use crate::{CmdResult, Failure};
use chipmix_catalog::limits;
use chipmix_export::{kueue, skypilot};
use chipmix_perf::Calibration;
use chipmix_plan::{Plan, PlanOptions, verify};
use chipmix_workload::Portfolio;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ExportCommand {
    /// Kueue objects: ResourceFlavors, ClusterQueues in a Cohort, LocalQueues, Job/Deployment
    /// templates (kueue.x-k8s.io/v1beta2, Kueue 0.19+)
    Kueue(KueueArgs),
    /// SkyPilot task YAML per workload, with fallbacks on other vendors and SkyServe sections
    Skypilot(SkyPilotArgs),
}

#[derive(Args)]
pub struct Common {
    /// The portfolio file (YAML)
    file: PathBuf,
    /// Directory to write into (created if missing)
    #[arg(long)]
    out: PathBuf,
    /// Export this saved plan (`chipmix plan FILE --format json > plan.json`) instead of
    /// planning FILE again; it is re-verified against FILE first
    #[arg(long, value_name = "PLAN.json")]
    plan: Option<PathBuf>,
    /// Stop the solver after this many seconds (when planning)
    #[arg(long, default_value_t = 60.0, value_parser = args::number(&limits::TIME_LIMIT_S))]
    time_limit: f64,
    /// For a portfolio with a `horizon:`: the period (month or quarter, from 1) whose fleet to
    /// export (default: the first)
    #[arg(long, value_parser = args::count(&limits::HORIZON_MONTHS))]
    period: Option<u32>,
    #[command(flatten)]
    catalog: CatalogFiles,
}

#[derive(Args)]
pub struct KueueArgs {
    #[command(flatten)]
    common: Common,
    /// Namespace of the LocalQueues and workload templates (default: the portfolio's name)
    #[arg(long)]
    namespace: Option<String>,
    /// A MultiKueue setup: a manager cluster and one worker cluster per provider
    #[arg(long)]
    multikueue: bool,
}

#[derive(Args)]
pub struct SkyPilotArgs {
    #[command(flatten)]
    common: Common,
}

pub fn run(cmd: ExportCommand) -> CmdResult {
    match cmd {
        ExportCommand::Kueue(args) => {
            let (plan, p, c) = load(&args.common)?;
            let namespace = args.namespace.clone().unwrap_or_else(|| p.name.clone());
            let export = kueue::export(
                &plan,
                &p,
                &c,
                &kueue::KueueOptions {
                    namespace,
                    multikueue: args.multikueue,
                },
            )
            .map_err(|e| Failure::bad(format!("error: {e}")))?;
            let checked = chipmix_export::validate_kueue(&export);
            if !checked.problems.is_empty() {
                return Err(Failure::Internal(format!(
                    "the Kueue objects fail their schemas — a bug in chipmix, nothing was written:\n  {}",
                    checked.problems.join("\n  ")
                )));
            }
            for u in &checked.unchecked {
                eprintln!(
                    "note: {u}: not schema-checked (its Kueue CRD is not shipped; fields follow Kueue's v1beta2 types)"
                );
            }
            let files = chipmix_export::render_kueue(&export)
                .map_err(|e| Failure::Internal(e.to_string()))?;
            finish(&args.common.out, &files, &export.warnings, "Kueue", || {
                export.files.iter().map(|f| f.objects.len()).sum()
            })
        }
        ExportCommand::Skypilot(args) => {
            let (plan, p, c) = load(&args.common)?;
            let export = skypilot::export(&plan, &p, &c, &Calibration::builtin())
                .map_err(|e| Failure::bad(format!("error: {e}")))?;
            let problems = chipmix_export::validate_skypilot(&export);
            if !problems.is_empty() {
                return Err(Failure::Internal(format!(
                    "the SkyPilot tasks fail their schema — a bug in chipmix, nothing was written:\n  {}",
                    problems.join("\n  ")
                )));
            }
            let files = chipmix_export::render_skypilot(&export)
                .map_err(|e| Failure::Internal(e.to_string()))?;
            finish(
                &args.common.out,
                &files,
                &export.warnings,
                "SkyPilot",
                || export.files.len(),
            )
        }
    }
}

fn finish(
    out: &Path,
    files: &[(String, String)],
    warnings: &[String],
    what: &str,
    objects: impl Fn() -> usize,
) -> CmdResult {
    chipmix_export::write_files(out, files).map_err(|e| Failure::bad(format!("error: {e}")))?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "wrote {} {what} file(s), {} object(s), to {} (validated against the shipped schemas)",
        files.len(),
        objects(),
        out.display()
    );
    for (path, _) in files {
        println!("  {}", out.join(path).display());
    }
    Ok(())
}

/// One period of a plan over time, planned now and verified (every period of it), as a plan of
/// that period's fleet.
fn load_period(
    args: &Common,
    p: Portfolio,
    c: chipmix_catalog::Catalog,
) -> Result<(Plan, Portfolio, chipmix_catalog::Catalog), Failure> {
    if args.plan.is_some() {
        return Err(Failure::bad(format!(
            "{}: error: --plan takes a single-period plan; a portfolio with a `horizon:` is planned again (choose the fleet with --period)",
            args.file.display()
        )));
    }
    let options = PlanOptions {
        time_limit_s: args.time_limit,
        relative_gap: chipmix_plan::default_gap(&p),
        analysis: false,
        method: Default::default(),
    };
    let over_time = crate::months_cmd::plan_verified(&args.file, &p, &c, &options)?;
    let periods = over_time.by_month.len();
    let period = args.period.unwrap_or(1);
    // The period's catalog: fallbacks only among offerings there then, at that period's prices.
    let Some((plan, c)) = over_time.period_fleet(period, &p, &c) else {
        return Err(Failure::bad(format!(
            "{}: error: --period {period}: the plan has {periods} period(s)",
            args.file.display()
        )));
    };
    eprintln!(
        "note: exporting the fleet of period {period} of {periods} (--period chooses another)"
    );
    Ok((plan, p, c))
}

/// The plan to export: planned now, or read from `--plan` and re-verified against the portfolio.
fn load(args: &Common) -> Result<(Plan, Portfolio, chipmix_catalog::Catalog), Failure> {
    let (p, c) = load_portfolio(&args.file, &args.catalog)?;
    match (&p.horizon, args.period) {
        (Some(_), _) => return load_period(args, p, c),
        (None, Some(_)) => {
            return Err(Failure::bad(format!(
                "{}: error: --period needs a portfolio with a `horizon:` (this one plans a single period)",
                args.file.display()
            )));
        }
        (None, None) => {}
    }
    let Some(plan_path) = &args.plan else {
        return plan_loaded(
            &args.file,
            p,
            c,
            &PlanOptions {
                time_limit_s: args.time_limit,
                relative_gap: 1e-4,
                analysis: false,
                method: Default::default(),
            },
        );
    };
    let text = chipmix_catalog::limits::read_text_file(plan_path).map_err(|e| {
        Failure::bad(format!(
            "{}: error: cannot read the file: {e}",
            plan_path.display()
        ))
    })?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        Failure::bad(format!(
            "{}:{}:{}: error: not a chipmix plan (JSON from `chipmix plan --format json`): {e}",
            plan_path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let violations = verify::verify(&plan, &p, &c, &Calibration::builtin());
    if !violations.is_empty() {
        let mut lines = vec![format!(
            "{}: error: the plan does not fit {} (made for another portfolio or catalog?):",
            plan_path.display(),
            args.file.display()
        )];
        lines.extend(violations.into_iter().map(|v| format!("  - {v}")));
        return Err(Failure::BadInput(lines));
    }
    Ok((plan, p, c))
}
