//! Background risk analyses: leverage, stress, sweep and Monte Carlo.
//!
//! A job is a row (queued → running → done | failed | cancelled) and, while it runs, a task in
//! this process: the analysis runs on the blocking pool behind a semaphore, so a few analyses
//! at a time share the cores with plan solves and the async runtime stays free for reads.

use crate::AppState;
use crate::engine::{self, Located};
use chipmix_catalog::Catalog;
use chipmix_catalog::limits;
use chipmix_perf::Calibration;
use chipmix_plan::PlanOptions;
use chipmix_risk::leverage::{self, LeverageOptions};
use chipmix_risk::montecarlo::{self, MonteCarloOptions, ShockModel};
use chipmix_risk::scenario::{self, Scenario};
use chipmix_risk::stress;
use chipmix_risk::sweep;
use chipmix_risk::{Context, Planned, Watch};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Leverage,
    Stress,
    Sweep,
    Montecarlo,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Leverage => "leverage",
            JobKind::Stress => "stress",
            JobKind::Sweep => "sweep",
            JobKind::Montecarlo => "montecarlo",
        }
    }
}

fn default_max_increase() -> f64 {
    LeverageOptions::default().max_increase
}
fn default_steps() -> usize {
    10
}
fn default_samples() -> usize {
    10_000
}
fn default_replan() -> usize {
    1_000
}
fn default_seed() -> u64 {
    42
}
fn default_vendor_shortage_p() -> f64 {
    ShockModel::default().vendor_shortage_probability
}
fn default_vendor_shortage_factor() -> f64 {
    ShockModel::default().vendor_shortage_factor
}
fn default_region_outage_p() -> f64 {
    ShockModel::default().region_outage_probability
}
fn default_region_correlation() -> f64 {
    ShockModel::default().region_correlation
}

/// `chipmix leverage`: walk-away cost and break-even price rise per vendor and provider.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeverageParams {
    /// Search each vendor's and provider's break-even price rise (default: yes for a plan of
    /// one period, no for a portfolio with a `horizon:`, where each step is a plan over time).
    pub break_even: Option<bool>,
    /// Highest price increase the break-even search tries (1 = +100%).
    #[serde(default = "default_max_increase")]
    pub max_increase: f64,
    pub time_limit_s: Option<f64>,
    pub gap: Option<f64>,
}

/// `chipmix stress`: one scenario, built-in (`scenario`) or written out (`scenario_yaml`).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StressParams {
    pub scenario: Option<String>,
    pub scenario_yaml: Option<String>,
    /// Keep today's plan only; do not re-plan.
    #[serde(default)]
    pub fixed_plan: bool,
    pub time_limit_s: Option<f64>,
    pub gap: Option<f64>,
}

/// `chipmix sweep`: the optimal cost as one numeric field of the portfolio varies.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepParams {
    /// A dotted path: `policy.max_vendor_share`, `policy.budget_usd_per_month` …
    pub param: String,
    pub from: f64,
    pub to: f64,
    #[serde(default = "default_steps")]
    pub steps: usize,
    pub time_limit_s: Option<f64>,
    pub gap: Option<f64>,
}

/// `chipmix montecarlo`: random shortages and outages against today's plan and re-planned.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonteCarloParams {
    #[serde(default = "default_samples")]
    pub samples: usize,
    /// Of the samples, how many are also re-planned.
    #[serde(default = "default_replan")]
    pub replan: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_vendor_shortage_p")]
    pub vendor_shortage_p: f64,
    #[serde(default = "default_vendor_shortage_factor")]
    pub vendor_shortage_factor: f64,
    #[serde(default = "default_region_outage_p")]
    pub region_outage_p: f64,
    #[serde(default = "default_region_correlation")]
    pub region_correlation: f64,
    pub time_limit_s: Option<f64>,
    pub gap: Option<f64>,
}

/// A job's parameters, checked and with every default filled in (what is stored, so that a
/// job says exactly what it ran).
#[derive(Clone, Debug)]
pub enum JobSpec {
    Leverage(LeverageParams),
    /// With the scenario it names, read when the job was submitted.
    Stress(StressParams, Box<Scenario>),
    Sweep(SweepParams),
    Montecarlo(MonteCarloParams),
}

/// Most Monte Carlo re-plans a job may ask for: each is a MILP solve. (Sweep points and
/// samples are held to `chipmix_catalog::limits`, as on the command line.)
const MAX_REPLAN: usize = 100_000;

fn bad(path: &str, message: impl Into<String>) -> Vec<Located> {
    vec![Located {
        file: "params".into(),
        line: 0,
        column: 0,
        path: path.into(),
        severity: "error".into(),
        message: message.into(),
    }]
}

impl JobSpec {
    pub fn kind(&self) -> JobKind {
        match self {
            JobSpec::Leverage(_) => JobKind::Leverage,
            JobSpec::Stress(..) => JobKind::Stress,
            JobSpec::Sweep(_) => JobKind::Sweep,
            JobSpec::Montecarlo(_) => JobKind::Montecarlo,
        }
    }

    /// Reads and checks `params` for `kind` against the portfolio the job will run on, so
    /// that a typo fails the request instead of the job. The time limit is capped at
    /// `max_time_limit_s`.
    pub fn parse(
        kind: JobKind,
        params: Value,
        yaml: &str,
        portfolio: &chipmix_workload::Portfolio,
        catalog: &Catalog,
        base: &Catalog,
        max_time_limit_s: f64,
    ) -> Result<JobSpec, Vec<Located>> {
        let params = if params.is_null() {
            Value::Object(Default::default())
        } else {
            params
        };
        fn read<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Vec<Located>> {
            serde_json::from_value(v).map_err(|e| bad("params", e.to_string()))
        }
        let spec = match kind {
            JobKind::Leverage => {
                let mut p: LeverageParams = read(params)?;
                limits::PRICE_INCREASE
                    .check(p.max_increase)
                    .map_err(|m| bad("params.max_increase", m))?;
                // A portfolio with a `horizon:` is analysed over time, to its default gap.
                p.break_even = p.break_even.or(Some(portfolio.horizon.is_none()));
                p.gap = p.gap.or(Some(chipmix_plan::default_gap(portfolio)));
                JobSpec::Leverage(p)
            }
            JobKind::Stress => {
                let mut p: StressParams = read(params)?;
                let chosen = match (&p.scenario, &p.scenario_yaml) {
                    (Some(name), None) => scenario::builtin(name).ok_or_else(|| {
                        let names: Vec<String> =
                            scenario::library().into_iter().map(|s| s.name).collect();
                        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                        bad(
                            "params.scenario",
                            format!(
                                "unknown built-in scenario `{name}`{} (built-in: {})",
                                chipmix_catalog::did_you_mean(name, &refs),
                                refs.join(", ")
                            ),
                        )
                    })?,
                    (None, Some(text)) => {
                        scenario::parse("scenario.yaml", text, catalog, portfolio)
                            .map_err(|ds| engine::located_diagnostics(&ds))?
                    }
                    _ => {
                        return Err(bad(
                            "params",
                            "give exactly one of `scenario` (a built-in name) and `scenario_yaml`",
                        ));
                    }
                };
                // A portfolio with a `horizon:` is stressed over time, to its default gap.
                p.gap = p.gap.or(Some(chipmix_plan::default_gap(portfolio)));
                JobSpec::Stress(p, Box::new(chosen))
            }
            JobKind::Sweep => {
                let mut p: SweepParams = read(params)?;
                for (name, v) in [("from", p.from), ("to", p.to)] {
                    limits::SWEEP_VALUE
                        .check(v)
                        .map_err(|m| bad(&format!("params.{name}"), m))?;
                }
                limits::SWEEP_STEPS
                    .check(p.steps as f64)
                    .map_err(|m| bad("params.steps", m))?;
                // Decoding at both ends catches an unknown field now; a value refused at one end
                // only is a row of the report, as on the command line.
                let ends = [p.from, p.to]
                    .map(|v| engine::parse_portfolio_with(yaml, base, &[(p.param.as_str(), v)]));
                if let [Err(ds), Err(_)] = &ends {
                    return Err(engine::located_diagnostics(ds));
                }
                // A portfolio with a `horizon:` sweeps plans over time, to their default gap.
                p.gap = p.gap.or(Some(chipmix_plan::default_gap(portfolio)));
                JobSpec::Sweep(p)
            }
            JobKind::Montecarlo => {
                let mut p: MonteCarloParams = read(params)?;
                // Hundreds of re-plans: a looser gap than a plan's own, as `chipmix
                // montecarlo` uses (over time, the default of a plan over time).
                p.gap = p
                    .gap
                    .or(Some(chipmix_plan::default_gap(portfolio).max(0.005)));
                for (name, v) in [
                    ("vendor_shortage_p", p.vendor_shortage_p),
                    ("vendor_shortage_factor", p.vendor_shortage_factor),
                    ("region_outage_p", p.region_outage_p),
                    ("region_correlation", p.region_correlation),
                ] {
                    limits::PROBABILITY
                        .check(v)
                        .map_err(|m| bad(&format!("params.{name}"), m))?;
                }
                if p.samples == 0 {
                    return Err(bad("params.samples", "must be at least 1"));
                }
                limits::SAMPLES
                    .check(p.samples as f64)
                    .map_err(|m| bad("params.samples", m))?;
                if p.replan > p.samples || p.replan > MAX_REPLAN {
                    return Err(bad(
                        "params.replan",
                        format!("must be at most `samples` and at most {MAX_REPLAN}"),
                    ));
                }
                JobSpec::Montecarlo(p)
            }
        };
        let options = spec.options(max_time_limit_s);
        engine::check_options(&options).map_err(|m| bad("params", m))?;
        Ok(spec.with_solve_options(&options))
    }

    /// The spec with the time limit and gap it will run with written in.
    fn with_solve_options(mut self, o: &PlanOptions) -> JobSpec {
        let (t, g) = (Some(o.time_limit_s), Some(o.relative_gap));
        match &mut self {
            JobSpec::Leverage(p) => (p.time_limit_s, p.gap) = (t, g),
            JobSpec::Stress(p, _) => (p.time_limit_s, p.gap) = (t, g),
            JobSpec::Sweep(p) => (p.time_limit_s, p.gap) = (t, g),
            JobSpec::Montecarlo(p) => (p.time_limit_s, p.gap) = (t, g),
        }
        self
    }

    /// The parameters as stored with the job, defaults filled in.
    pub fn params_json(&self) -> Value {
        match self {
            JobSpec::Leverage(p) => serde_json::to_value(p),
            JobSpec::Stress(p, _) => serde_json::to_value(p),
            JobSpec::Sweep(p) => serde_json::to_value(p),
            JobSpec::Montecarlo(p) => serde_json::to_value(p),
        }
        .unwrap_or(Value::Null)
    }

    fn solve_params(&self) -> (Option<f64>, Option<f64>, f64) {
        match self {
            JobSpec::Leverage(p) => (p.time_limit_s, p.gap, 1e-4),
            JobSpec::Stress(p, _) => (p.time_limit_s, p.gap, 1e-4),
            JobSpec::Sweep(p) => (p.time_limit_s, p.gap, 1e-4),
            JobSpec::Montecarlo(p) => (p.time_limit_s, p.gap, 0.005),
        }
    }

    /// Each solve's options; the time limit is capped by the server's.
    pub fn options(&self, max_time_limit_s: f64) -> PlanOptions {
        let (time_limit_s, gap, default_gap) = self.solve_params();
        PlanOptions {
            time_limit_s: time_limit_s
                .unwrap_or(max_time_limit_s)
                .min(max_time_limit_s),
            relative_gap: gap.unwrap_or(default_gap),
            analysis: false,
            method: Default::default(),
        }
    }
}

/// Why a job stopped without a result.
#[derive(Debug)]
pub enum JobStop {
    Cancelled,
    Failed(String),
}

/// The unwinding payload that carries a cancellation out of an analysis. The risk library
/// offers no way to stop an analysis, but Monte Carlo calls its progress callback from inside
/// its loops; unwinding from there (with `resume_unwind`, which skips the panic hook) ends the
/// analysis at the next sample, and rayon carries the payload back to `catch_unwind` here.
struct Cancelled;

/// Progress as a fraction in [0, 1], shared between the analysis and the task that stores it.
#[derive(Default)]
pub struct Progress(AtomicU64);

impl Progress {
    pub fn set(&self, fraction: f64) {
        self.0
            .store(fraction.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Runs a job to its result JSON. Blocking: call it on the blocking pool.
pub fn run(
    spec: &JobSpec,
    yaml: &str,
    base: &Catalog,
    calibration: &Calibration,
    max_time_limit_s: f64,
    cancel: &AtomicBool,
    progress: &Progress,
) -> Result<Value, JobStop> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        run_inner(
            spec,
            yaml,
            base,
            calibration,
            max_time_limit_s,
            cancel,
            progress,
        )
    }));
    match outcome {
        Ok(r) => r,
        Err(payload) if payload.is::<Cancelled>() => Err(JobStop::Cancelled),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(JobStop::Failed(format!(
                "internal error: the analysis panicked (a bug in chipmix): {message}"
            )))
        }
    }
}

fn check(cancel: &AtomicBool) -> Result<(), JobStop> {
    if cancel.load(Ordering::Relaxed) {
        Err(JobStop::Cancelled)
    } else {
        Ok(())
    }
}

fn to_json<T: Serialize>(report: &T) -> Result<Value, JobStop> {
    serde_json::to_value(report)
        .map_err(|e| JobStop::Failed(format!("internal error: cannot serialize the report: {e}")))
}

fn run_inner(
    spec: &JobSpec,
    yaml: &str,
    base: &Catalog,
    calibration: &Calibration,
    max_time_limit_s: f64,
    cancel: &AtomicBool,
    progress: &Progress,
) -> Result<Value, JobStop> {
    let options = spec.options(max_time_limit_s);
    // Every re-plan of an analysis asks `cancelled` first (a cancel stops the work within
    // the solve in flight) and counts itself in `replans` for the progress shown.
    let cancelled = || cancel.load(Ordering::Relaxed);
    let replans = AtomicU64::new(0);
    let expected = AtomicU64::new(1);
    let replanned = || {
        let done = replans.fetch_add(1, Ordering::Relaxed) + 1;
        let of = expected.load(Ordering::Relaxed).max(done);
        progress.set(0.05 + 0.9 * done as f64 / of as f64);
    };
    let watch = Watch {
        cancelled: &cancelled,
        replanned: &replanned,
    };
    if let JobSpec::Sweep(p) = spec {
        // A sweep re-decodes the portfolio at every value and needs no base plan.
        check(cancel)?;
        let values = sweep::values(p.from, p.to, p.steps);
        expected.store(values.len() as u64, Ordering::Relaxed);
        let report = sweep::sweep(
            &engine::sweep_source(yaml),
            base,
            calibration,
            &options,
            &p.param,
            &values,
            watch,
        )
        .map_err(|ds| {
            JobStop::Failed(
                ds.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        check(cancel)?;
        return to_json(&report);
    }
    let (portfolio, catalog) = job_portfolio(yaml, base)?;
    check(cancel)?;
    // Every analysis of a portfolio with a `horizon:` is over time.
    let base = match engine::solve(&portfolio, &catalog, calibration, &options).map_err(failed)? {
        engine::Solved::Period(plan) => Planned::of_plan(plan),
        engine::Solved::Horizon(m) => Planned::of_months(&m, &portfolio, &catalog),
    };
    progress.set(0.05);
    check(cancel)?;
    let ctx = Context {
        portfolio: &portfolio,
        catalog: &catalog,
        calibration,
        options,
        watch,
    };
    let base_plan = &base;
    let report = match spec {
        JobSpec::Leverage(p) => {
            let options = LeverageOptions {
                break_even: p.break_even.unwrap_or(true),
                max_increase: p.max_increase,
                ..LeverageOptions::default()
            };
            expected.store(
                leverage::replans_expected(&ctx, base_plan, &options),
                Ordering::Relaxed,
            );
            to_json(&leverage::leverage(&ctx, base_plan, &options))
        }
        JobSpec::Stress(p, chosen) => {
            expected.store(2, Ordering::Relaxed);
            to_json(&stress::stress(&ctx, base_plan, chosen, p.fixed_plan))
        }
        JobSpec::Montecarlo(p) => montecarlo_job(&ctx, base_plan, p, cancel, progress),
        JobSpec::Sweep(_) => Err(JobStop::Failed(
            "internal error: a sweep is run before the base plan".into(),
        )),
    }?;
    check(cancel)?;
    Ok(report)
}

/// The job's portfolio, decoded again against today's catalog, and the catalog it plans on.
fn job_portfolio(
    yaml: &str,
    base: &Catalog,
) -> Result<(chipmix_workload::Portfolio, Catalog), JobStop> {
    let joined = |items: Vec<String>| items.join("; ");
    let (portfolio, _) = engine::parse_portfolio(yaml, base).map_err(|ds| {
        JobStop::Failed(format!(
            "the portfolio no longer validates against the current catalog: {}",
            joined(ds.iter().map(|d| d.to_string()).collect())
        ))
    })?;
    let catalog = portfolio
        .effective_catalog(base)
        .map_err(|es| JobStop::Failed(joined(es.iter().map(|e| e.to_string()).collect())))?;
    Ok((portfolio, catalog))
}

/// A Monte Carlo job: its progress per sample and pattern, cancelled between them, and the
/// per-sample values its histogram needs.
fn montecarlo_job(
    ctx: &Context,
    base: &Planned,
    p: &MonteCarloParams,
    cancel: &AtomicBool,
    progress: &Progress,
) -> Result<Value, JobStop> {
    let done = AtomicU64::new(0);
    let on_progress = |n: u64| {
        if cancel.load(Ordering::Relaxed) {
            std::panic::resume_unwind(Box::new(Cancelled));
        }
        let d = done.fetch_add(n, Ordering::Relaxed) + n;
        progress.set(montecarlo_progress(d, p.samples, p.replan));
    };
    let report = montecarlo::run(
        ctx,
        base,
        &MonteCarloOptions {
            samples: p.samples,
            replan_samples: p.replan,
            seed: p.seed,
            model: ShockModel {
                vendor_shortage_probability: p.vendor_shortage_p,
                vendor_shortage_factor: p.vendor_shortage_factor,
                region_outage_probability: p.region_outage_p,
                region_correlation: p.region_correlation,
            },
        },
        &on_progress,
    );
    to_json(&report).map(|mut json| {
        json["chart_samples"] = montecarlo_chart_samples(&report);
        json
    })
}

fn failed(f: engine::SolveFailure) -> JobStop {
    JobStop::Failed(match f {
        engine::SolveFailure::Infeasible(reasons) => {
            format!("the portfolio is infeasible: {}", reasons.join("; "))
        }
        engine::SolveFailure::NoSolution(m)
        | engine::SolveFailure::BadOptions(m)
        | engine::SolveFailure::Internal(m) => m,
    })
}

/// Monte Carlo reports the fixed-plan samples first, then each re-planned shock pattern. A
/// re-plan is a MILP solve and a fixed-plan sample is arithmetic, so with re-plans the first
/// phase gets a fifth of the bar. The patterns may be fewer than `replan` (samples share
/// them), so the bar can stop short; 1.0 is set when the job is done.
fn montecarlo_progress(done: u64, samples: usize, replan: usize) -> f64 {
    let samples = samples.max(1) as f64;
    let fixed = (done as f64 / samples).min(1.0);
    if replan == 0 {
        return 0.05 + 0.94 * fixed;
    }
    let replanned = ((done as f64 - samples).max(0.0) / replan as f64).min(1.0);
    0.05 + 0.2 * fixed + 0.74 * replanned
}

/// Per-sample values a Monte Carlo result keeps for its histogram (the dashboard draws it), at
/// most this many of each: the report itself leaves them out, and a job may have millions.
pub const CHART_SAMPLES: usize = 5_000;

/// The first [`CHART_SAMPLES`] samples in sample order (samples are independent draws, so these
/// are a fair subsample): each one's unserved fraction with today's plan and, of the re-planned
/// ones, the re-planned cost (`null` where no plan exists).
fn montecarlo_chart_samples(r: &montecarlo::MonteCarloReport) -> Value {
    let unserved: Vec<f64> = r
        .fixed_plan
        .unserved_by_sample
        .iter()
        .take(CHART_SAMPLES)
        .copied()
        .collect();
    let replanned: Option<Vec<Option<f64>>> = r.replan.as_ref().map(|rp| {
        rp.cost_by_sample
            .iter()
            .take(CHART_SAMPLES)
            .copied()
            .collect()
    });
    serde_json::json!({
        "unserved_fraction": unserved,
        "replan_cost_usd_per_month": replanned,
    })
}

/// The jobs running in this process, by id: their cancellation flags.
#[derive(Default)]
pub struct Running {
    flags: Mutex<HashMap<i64, Arc<AtomicBool>>>,
}

impl Running {
    fn register(&self, id: i64) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        if let Ok(mut m) = self.flags.lock() {
            m.insert(id, flag.clone());
        }
        flag
    }

    fn unregister(&self, id: i64) {
        if let Ok(mut m) = self.flags.lock() {
            m.remove(&id);
        }
    }

    /// Asks a job of this process to stop; a no-op for jobs it does not run.
    pub fn cancel(&self, id: i64) {
        if let Ok(m) = self.flags.lock()
            && let Some(flag) = m.get(&id)
        {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Jobs whose work is still running in this process (a cancelled job counts until its
    /// analysis has actually stopped).
    pub fn in_flight(&self) -> usize {
        self.flags.lock().map_or(0, |m| m.len())
    }

    pub fn cancel_all(&self) {
        if let Ok(m) = self.flags.lock() {
            for flag in m.values() {
                flag.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// How often a running job's progress is written to its row.
const PROGRESS_EVERY: Duration = Duration::from_millis(300);

/// Starts a stored (queued) job in the background.
pub fn spawn(state: AppState, id: i64, spec: JobSpec, yaml: String, base: Arc<Catalog>) {
    let cancel = state.running.register(id);
    tokio::spawn(async move {
        let outcome = drive(&state, id, spec, yaml, base, cancel).await;
        state.running.unregister(id);
        if let Err(e) = outcome {
            eprintln!("chipmix-server: job {id}: {e}");
        }
    });
}

async fn drive(
    state: &AppState,
    id: i64,
    spec: JobSpec,
    yaml: String,
    base: Arc<Catalog>,
    cancel: Arc<AtomicBool>,
) -> Result<(), crate::db::StoreError> {
    let Ok(_permit) = state.job_slots.clone().acquire_owned().await else {
        return Ok(());
    };
    if !state.db.start_job(id).await? {
        return Ok(()); // cancelled while queued
    }
    let progress = Arc::new(Progress::default());
    let calibration = state.calibration.clone();
    let max_time_limit_s = state.config.solve_time_limit_s;
    let mut handle = {
        let (cancel, progress) = (cancel.clone(), progress.clone());
        tokio::task::spawn_blocking(move || {
            run(
                &spec,
                &yaml,
                &base,
                &calibration,
                max_time_limit_s,
                &cancel,
                &progress,
            )
        })
    };
    let mut stored = 0.0;
    let result = loop {
        tokio::select! {
            r = &mut handle => break r,
            _ = tokio::time::sleep(PROGRESS_EVERY) => {
                let now = progress.get();
                if now != stored {
                    state.db.set_job_progress(id, now).await?;
                    stored = now;
                }
            }
        }
    };
    match result {
        Ok(Ok(report)) => {
            let json = serde_json::to_string(&report).unwrap_or_else(|_| "null".into());
            state.db.finish_job(id, "done", Some(&json), None).await?;
        }
        // The row was set to cancelled by the request that cancelled it.
        Ok(Err(JobStop::Cancelled)) => {}
        Ok(Err(JobStop::Failed(m))) => {
            state.db.finish_job(id, "failed", None, Some(&m)).await?;
        }
        Err(e) => {
            state
                .db
                .finish_job(id, "failed", None, Some(&format!("internal error: {e}")))
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn montecarlo_progress_rises_through_both_phases() {
        assert!((montecarlo_progress(0, 1000, 10) - 0.05).abs() < 1e-12);
        assert!((montecarlo_progress(1000, 1000, 10) - 0.25).abs() < 1e-12);
        assert!((montecarlo_progress(1005, 1000, 10) - 0.62).abs() < 1e-12);
        assert!((montecarlo_progress(1010, 1000, 10) - 0.99).abs() < 1e-12);
        assert!((montecarlo_progress(500, 1000, 0) - 0.52).abs() < 1e-12);
        assert!(montecarlo_progress(u64::MAX, 1, 1) <= 1.0);
    }
}
