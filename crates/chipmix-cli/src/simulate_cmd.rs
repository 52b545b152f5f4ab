//! `chipmix simulate FILE`: run the portfolio's plan against job and traffic traces.

use crate::args;
use crate::catalog_cmd::CatalogFiles;
use crate::output::{self, usd};
use crate::plan_cmd::{PlanFormat, plan_file};
use crate::{CmdResult, Failure};
use chipmix_catalog::limits;
use chipmix_perf::Calibration;
use chipmix_plan::PlanOptions;
use chipmix_sim::{
    Fleet, JobArrival, JobMix, Policy, Renting, Scenario, Scope, SpeedTable, SpotModel, SupplyEvent,
};
use clap::{Args, ValueEnum};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    FollowPlan,
    Greedy,
    Replan,
    Gavel,
    /// Every policy, side by side
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RentingArg {
    /// Greedy and Gavel rent whole instances per job
    PerJob,
    /// Jobs on a pool share the instances it rents
    Shared,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReplannerArg {
    Milp,
    Demand,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// The portfolio file (YAML); its plan is the fleet
    file: PathBuf,
    /// Training jobs: `philly` (the Philly trace, built in), `generated` (a Poisson stream
    /// with Philly's job sizes), `none`, or a CSV in the Philly trace's format
    #[arg(long, default_value = "philly")]
    trace: String,
    /// Jobs per hour for `--trace generated`
    #[arg(long, default_value_t = 30.0, value_parser = args::number(&limits::PER_HOUR))]
    jobs_per_hour: f64,
    /// Inference load shape: an Azure LLM trace CSV (per-minute counts, busiest minute = peak)
    #[arg(long, value_name = "CSV")]
    load_trace: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "all")]
    policy: PolicyArg,
    #[arg(long, value_enum, default_value = "shared")]
    renting: RentingArg,
    /// Who re-plans under `--policy replan`: `milp` (HiGHS sizes every pool and places the
    /// backlog) or `demand` (each queued job to its cheapest pool, greedily)
    #[arg(long, value_enum, default_value = "milp")]
    replanner: ReplannerArg,
    /// Re-plan interval for `--policy replan`, hours
    #[arg(long, default_value_t = 1.0, value_parser = args::number(&limits::HOURS))]
    replan_hours: f64,
    /// Simulated days
    #[arg(long, default_value_t = 30.0, value_parser = args::number(&limits::DAYS))]
    days: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Extra training capacity beyond the plan: OFFERING=INSTANCES (repeatable)
    #[arg(long = "add", value_name = "OFFERING=N")]
    add: Vec<String>,
    /// Every policy gets only the plan's instances (plus --add): no renting elsewhere
    #[arg(long)]
    fixed_supply: bool,
    /// Spot preemptions per spot instance-hour
    #[arg(long, default_value_t = 0.0, value_parser = args::number(&limits::PER_HOUR))]
    spot_preemptions_per_hour: f64,
    /// An outage: SCOPE@DAY+HOURS, SCOPE a vendor, a provider or provider/region
    /// (`aws/us-east-1@10+6`; repeatable)
    #[arg(long = "outage", value_name = "SCOPE@DAY+HOURS")]
    outages: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    format: PlanFormat,
    /// Write the time series (per vendor spend, share, busy chips) as CSV
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Write a chart of busy chips over time (first policy) as SVG
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    #[command(flatten)]
    catalog: CatalogFiles,
}

fn bad(m: impl Into<String>) -> Failure {
    Failure::bad(format!("error: {}", m.into()))
}

fn outage(spec: &str, catalog: &chipmix_catalog::Catalog) -> Result<SupplyEvent, Failure> {
    let form = || {
        bad(format!(
            "--outage `{spec}`: write SCOPE@DAY+HOURS, e.g. aws/us-east-1@10+6"
        ))
    };
    let (scope, when) = spec.split_once('@').ok_or_else(form)?;
    let (day, hours) = when.split_once('+').ok_or_else(form)?;
    let day: f64 = day.parse().map_err(|_| form())?;
    let hours: f64 = hours.parse().map_err(|_| form())?;
    if !(day >= 0.0 && hours > 0.0 && day.is_finite() && hours.is_finite()) {
        return Err(form());
    }
    let scope = if let Ok(v) = scope.parse::<chipmix_catalog::Vendor>() {
        Scope::Vendor(v)
    } else if scope.contains('/') {
        Scope::Region(scope.to_string())
    } else if catalog.providers().contains(scope) {
        Scope::Provider(scope.to_string())
    } else {
        return Err(bad(format!(
            "--outage `{spec}`: `{scope}` is not a vendor, provider or provider/region"
        )));
    };
    Ok(SupplyEvent::Outage {
        scope,
        start_seconds: day * 86_400.0,
        end_seconds: (day + hours / 24.0) * 86_400.0,
    })
}

fn jobs(args: &SimulateArgs) -> Result<Vec<JobArrival>, Failure> {
    let trace_error = |e: chipmix_sim::TraceError| bad(e.to_string());
    match args.trace.as_str() {
        "none" => Ok(Vec::new()),
        "generated" => {
            if !(args.jobs_per_hour > 0.0 && args.jobs_per_hour.is_finite()) {
                return Err(bad("--jobs-per-hour must be > 0"));
            }
            let count = (args.jobs_per_hour * 24.0 * args.days).ceil() as usize;
            Ok(chipmix_sim::generate_jobs(
                args.jobs_per_hour,
                &JobMix::philly_like(),
                count,
                args.seed,
            ))
        }
        "philly" => chipmix_sim::trace::builtin_philly().map_err(trace_error),
        file => chipmix_sim::load_philly(Path::new(file)).map_err(trace_error),
    }
}

/// The portfolio's own training runs as the plan places them: (chips, pool, days planned).
fn own_training_jobs(plan: &chipmix_plan::Plan, fleet: &Fleet) -> Vec<(u32, usize, f64)> {
    plan.allocations
        .iter()
        .filter_map(|a| {
            let days = a.days.filter(|_| a.train_config.is_some())?;
            let pool = fleet
                .pools
                .iter()
                .position(|p| p.offering == a.offering && p.spot == a.spot)?;
            Some((a.chips, pool, days))
        })
        .collect()
}

/// The trace's jobs with the portfolio's own training runs in front (all submitted at the
/// start). A trace job's duration is stated on the reference chip; an own run's is set so
/// that on its planned pool it takes the days the plan says, and elsewhere it scales with the
/// simulator's speed table (an approximation: the table's model for that job size stands in
/// for the run's own model — see docs/simulation.md).
fn with_own_jobs(
    trace: Vec<JobArrival>,
    own: Vec<(u32, usize, f64)>,
    speeds: &SpeedTable,
) -> Vec<JobArrival> {
    let mut jobs: Vec<JobArrival> = own
        .into_iter()
        .map(|(chips, pool, days)| JobArrival {
            submit_seconds: 0.0,
            duration_seconds: days * 86_400.0 / speeds.factor(chips, pool).unwrap_or(1.0),
            num_gpus: chips,
        })
        .collect();
    jobs.extend(trace);
    jobs
}

pub fn run(args: SimulateArgs) -> CmdResult {
    if !(args.days > 0.0 && args.days <= 3650.0) {
        return Err(bad("--days must be in (0, 3650]"));
    }
    if !(args.replan_hours > 0.0 && args.spot_preemptions_per_hour >= 0.0) {
        return Err(bad(
            "--replan-hours must be > 0 and --spot-preemptions-per-hour ≥ 0",
        ));
    }
    let jobs = jobs(&args)?;
    let load = match &args.load_trace {
        Some(p) => chipmix_sim::load_azure_shape(p).map_err(|e| bad(e.to_string()))?,
        None => chipmix_sim::trace::builtin_azure_shape().map_err(|e| bad(e.to_string()))?,
    };
    let (plan, p, catalog) = plan_file(
        &args.file,
        &args.catalog,
        &PlanOptions {
            time_limit_s: 60.0,
            relative_gap: 1e-4,
            analysis: false,
            method: Default::default(),
        },
    )?;
    let mut fleet = Fleet::from_plan(&plan, &catalog, &p).map_err(|e| bad(e.to_string()))?;
    for spec in &args.add {
        let (offering, n) = spec
            .split_once('=')
            .and_then(|(o, n)| Some((o, n.parse::<u32>().ok()?)))
            .ok_or_else(|| bad(format!("--add `{spec}`: write OFFERING=INSTANCES")))?;
        let id = catalog
            .find_offering(offering)
            .map_err(|e| bad(format!("--add `{spec}`: {e}")))?
            .id();
        let pool = fleet
            .pools
            .iter_mut()
            .find(|x| x.offering == id && !x.spot)
            .ok_or_else(|| bad(format!("--add `{spec}`: the policy does not allow {id}")))?;
        pool.planned_instances += n;
    }
    if args.fixed_supply {
        for pool in &mut fleet.pools {
            pool.max_instances = Some(pool.planned_instances + pool.inference_instances);
        }
    }
    let supply_events = args
        .outages
        .iter()
        .map(|s| outage(s, &catalog))
        .collect::<Result<Vec<_>, _>>()?;
    let own = own_training_jobs(&plan, &fleet);
    let mut sizes: Vec<u32> = jobs.iter().map(|j| j.num_gpus).collect();
    sizes.extend(own.iter().map(|(n, _, _)| *n));
    let speeds = SpeedTable::build(&fleet, &catalog, &Calibration::builtin(), sizes)
        .map_err(|e| bad(e.to_string()))?;
    let own_count = own.len();
    let jobs = with_own_jobs(jobs, own, &speeds);
    let mut scenario = Scenario::new(fleet, jobs, speeds, Policy::FollowPlan, args.days);
    scenario.load = load;
    scenario.supply_events = supply_events;
    scenario.spot = SpotModel {
        preemptions_per_hour: args.spot_preemptions_per_hour,
        ..SpotModel::default()
    };
    scenario.renting = match args.renting {
        RentingArg::PerJob => Renting::PerJob,
        RentingArg::Shared => Renting::Shared,
    };
    scenario.seed = args.seed;
    let replan = Policy::Replan {
        every_seconds: args.replan_hours * 3600.0,
    };
    let policies = match args.policy {
        PolicyArg::FollowPlan => vec![Policy::FollowPlan],
        PolicyArg::Greedy => vec![Policy::Greedy],
        PolicyArg::Replan => vec![replan],
        PolicyArg::Gavel => vec![Policy::gavel()],
        PolicyArg::All => vec![Policy::FollowPlan, Policy::Greedy, replan, Policy::gavel()],
    };
    let bar = indicatif::ProgressBar::new(1000 * policies.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {percent}% ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut rows = Vec::new();
    for (k, policy) in policies.into_iter().enumerate() {
        scenario.policy = policy;
        bar.set_message(scenario.policy.name());
        let base = 1000 * k as u64;
        let progress = |f: f64| bar.set_position(base + (f * 1000.0) as u64);
        let (out, name) = match (&scenario.policy, args.replanner) {
            (Policy::Replan { every_seconds }, ReplannerArg::Milp) => {
                let mut milp = chipmix_sim::MilpReplanner::new(*every_seconds);
                let out = chipmix_sim::simulate_with(&scenario, &mut milp, &progress);
                if milp.failed_solves > 0 {
                    eprintln!(
                        "warning: {} of {} re-planning solves failed; the previous fleet was kept",
                        milp.failed_solves, milp.solves
                    );
                }
                (out, format!("{} (MILP)", scenario.policy.name()))
            }
            _ => (
                chipmix_sim::simulate(&scenario, &progress),
                scenario.policy.name(),
            ),
        };
        let out = out.map_err(|e| bad(e.to_string()))?;
        rows.push((name, out.report));
    }
    bar.finish_and_clear();
    if let Some(path) = &args.csv {
        std::fs::write(path, rows[0].1.timeseries_csv())
            .map_err(|e| bad(format!("{}: {e}", path.display())))?;
    }
    let chart = busy_chart(&rows);
    if let Some(path) = &args.svg {
        std::fs::write(path, &chart).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    }
    // Every policy's metered list-price spend, billed under the portfolio's contracts.
    let bills: Vec<chipmix_sim::contracts::ContractBill> = rows
        .iter()
        .map(|(_, r)| {
            chipmix_sim::contracts::bill(
                &p,
                &scenario.fleet,
                &r.cost_by_pool_usd,
                r.simulated_seconds,
                plan.horizon_months,
            )
        })
        .collect();
    match args.format {
        PlanFormat::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                #[serde(flatten)]
                report: &'a chipmix_sim::SimReport,
                contracts: &'a chipmix_sim::contracts::ContractBill,
            }
            output::print_json(
                &rows
                    .iter()
                    .zip(&bills)
                    .map(|((_, report), contracts)| Out { report, contracts })
                    .collect::<Vec<_>>(),
            )
        }
        PlanFormat::Table | PlanFormat::Markdown => {
            let mut s = String::new();
            let md = args.format == PlanFormat::Markdown;
            if md {
                let _ = writeln!(s, "# Simulation: {}\n", p.name);
            }
            let _ = writeln!(
                s,
                "{} over {} days, seed {}: {} training jobs ({own_count} of the portfolio's own, the rest from --trace {}), fleet from the plan ({} pools)\n",
                p.name,
                args.days,
                args.seed,
                scenario.jobs.len(),
                args.trace,
                scenario.fleet.pools.len()
            );
            let _ = writeln!(s, "{}", chipmix_sim::markdown_table(&rows));
            for ((name, r), b) in rows.iter().zip(&bills) {
                let _ = writeln!(
                    s,
                    "{name}: paid {} after contracts (list {}: training {}, inference {}; discounts −{}, commitment shortfall +{}, credits −{}); {} events",
                    usd(b.paid_usd),
                    usd(r.total_cost_usd),
                    usd(r.training_cost_usd),
                    usd(r.inference_cost_usd),
                    usd(b.discount_usd),
                    usd(b.shortfall_usd),
                    usd(b.credits_used_usd),
                    r.events_processed
                );
            }
            let _ = writeln!(
                s,
                "the plan: {} per month after contracts, {} over these {} days",
                usd(plan.objective_usd_per_month),
                usd(plan.objective_usd_per_month * args.days
                    / chipmix_plan::candidates::DAYS_PER_MONTH),
                args.days
            );
            if md {
                let _ = writeln!(s, "\n{chart}");
            }
            print!("{s}");
            Ok(())
        }
    }
}

fn busy_chart(rows: &[(String, chipmix_sim::SimReport)]) -> String {
    let Some((name, r)) = rows.first() else {
        return String::new();
    };
    let series: Vec<chipmix_charts::Series> = r
        .timeseries
        .vendors
        .iter()
        .enumerate()
        .map(|(v, vendor)| chipmix_charts::Series {
            name: vendor.clone(),
            points: r
                .timeseries
                .points
                .iter()
                .map(|p| (p.start_seconds / 86_400.0, p.busy_chips[v]))
                .collect(),
        })
        .collect();
    chipmix_charts::line_chart_svg(
        &format!("Chips busy with training, by vendor ({name})"),
        "day",
        "chips",
        &series,
        &|v| format!("{v:.0}"),
    )
}
