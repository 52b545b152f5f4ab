//! `chipmix leverage`, `chipmix stress`, `chipmix sweep`, `chipmix montecarlo`: supply risk
//! and bargaining power, printed as tables, JSON or markdown reports with SVG charts.

use crate::args;
use crate::catalog_cmd::{self, CatalogFiles};
use crate::output::{self, usd};
use crate::plan_cmd::{PlanFormat, load_portfolio, plan_loaded};
use crate::progress;
use crate::{CmdResult, Failure};
use chipmix_catalog::limits;
use chipmix_charts::{Bar, Series};
use chipmix_perf::Calibration;
use chipmix_plan::PlanOptions;
use chipmix_risk::leverage::{self, LeverageOptions, LeverageReport};
use chipmix_risk::montecarlo::{self, MonteCarloOptions, MonteCarloReport, ShockModel};
use chipmix_risk::scenario::{self, Scenario};
use chipmix_risk::stress::{self, StressReport};
use chipmix_risk::sweep::{self, SweepReport};
use chipmix_risk::{Context, Planned, Watch};
use clap::Args;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Solver settings shared by the analyses; each re-plan uses them.
#[derive(Args)]
pub struct SolveArgs {
    /// Stop each solve after this many seconds
    #[arg(long, default_value_t = 60.0, value_parser = args::number(&limits::TIME_LIMIT_S))]
    time_limit: f64,
    /// Stop each solve when the proven relative gap is at most this
    #[arg(long, value_parser = args::number(&limits::GAP))]
    gap: Option<f64>,
    #[command(flatten)]
    catalog: CatalogFiles,
}

impl SolveArgs {
    fn options(&self, default_gap: f64) -> PlanOptions {
        PlanOptions {
            time_limit_s: self.time_limit,
            relative_gap: self.gap.unwrap_or(default_gap),
            analysis: false,
            method: Default::default(),
        }
    }
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

/// Today's plan as leverage and stress compare it, planned and verified: over time for a
/// portfolio with a `horizon:` (every re-plan is then a plan over time), else of one period.
fn planned(
    file: &Path,
    p: &chipmix_workload::Portfolio,
    c: &chipmix_catalog::Catalog,
    options: &PlanOptions,
) -> Result<Planned, Failure> {
    if p.horizon.is_some() {
        let m = crate::months_cmd::plan_verified(file, p, c, options)?;
        Ok(Planned::of_months(&m, p, c))
    } else {
        let (plan, _, _) = plan_loaded(file, p.clone(), c.clone(), options)?;
        Ok(Planned::of_plan(plan))
    }
}

fn write_svg(path: Option<&Path>, svg: &str) -> CmdResult {
    if let Some(path) = path {
        std::fs::write(path, svg)
            .map_err(|e| Failure::bad(format!("error: cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// leverage

#[derive(Args)]
pub struct LeverageArgs {
    /// The portfolio file (YAML)
    file: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    format: PlanFormat,
    /// Skip the break-even search (one re-plan per vendor and provider instead of about nine)
    #[arg(long)]
    no_break_even: bool,
    /// Search break-even price rises for a portfolio with a `horizon:` too (off by default
    /// there: each step is a plan over time)
    #[arg(long, conflicts_with = "no_break_even")]
    break_even: bool,
    /// Highest price increase the break-even search tries, as a fraction (1 = +100%)
    #[arg(long, default_value_t = 4.0, value_parser = args::number(&limits::PRICE_INCREASE))]
    max_increase: f64,
    #[command(flatten)]
    solve: SolveArgs,
}

pub fn leverage(args: LeverageArgs) -> CmdResult {
    if !(args.max_increase.is_finite() && args.max_increase > 0.0) {
        return Err(Failure::bad("error: --max-increase must be > 0"));
    }
    let (p, c) = load_portfolio(&args.file, &args.solve.catalog)?;
    let options = args.solve.options(chipmix_plan::default_gap(&p));
    let base = planned(&args.file, &p, &c, &options)?;
    let break_even = if p.horizon.is_some() {
        if !args.break_even && !args.no_break_even {
            eprintln!(
                "note: break-even price rises are not searched over time unless --break-even is given (about nine plans over time per vendor and provider)"
            );
        }
        args.break_even
    } else {
        !args.no_break_even
    };
    let cal = Calibration::builtin();
    let bar = progress::counter("leverage: walk-away and break-even re-plans", "re-plans");
    let replanned = || bar.inc(1);
    let ctx = Context {
        portfolio: &p,
        catalog: &c,
        calibration: &cal,
        options,
        watch: Watch {
            replanned: &replanned,
            ..Watch::NONE
        },
    };
    let report = leverage::leverage(
        &ctx,
        &base,
        &LeverageOptions {
            break_even,
            max_increase: args.max_increase,
            ..LeverageOptions::default()
        },
    );
    bar.finish_and_clear();
    match args.format {
        PlanFormat::Json => output::print_json(&report),
        PlanFormat::Table => {
            println!(
                "leverage for {}: today's plan costs {} per month{}",
                report.portfolio,
                usd(report.base_cost_usd_per_month),
                over_time(&report)
            );
            let header = &[
                "kind",
                "name",
                "spend/month",
                "share",
                "walk away: cost/month",
                "delta",
                "break-even price rise",
                "notes",
            ];
            let mut s = String::new();
            output::table_or_markdown(&mut s, false, header, leverage_rows(&report, true), "");
            print!("{s}");
            println!("method: {}", report.method);
            Ok(())
        }
        PlanFormat::Markdown => {
            print!("{}", leverage_markdown(&report));
            Ok(())
        }
    }
}

/// How a report over time says what its amounts per month are.
fn over_time(report: &LeverageReport) -> String {
    match report.horizon_months {
        Some(m) => format!(
            " (on average over {m} months: every plan, today's and each re-plan, is planned month by month over the horizon)"
        ),
        None => String::new(),
    }
}

fn break_even_text(r: &leverage::LeverageRow) -> String {
    match &r.break_even {
        None if r.workloads.is_empty() => "not used".into(),
        None => "not computed".into(),
        Some(b) => match b.price_increase {
            Some(x) if b.stays_at <= 0.0 => {
                format!("below +{:.1}% (work moves at any rise)", x * 100.0)
            }
            Some(x) => format!("+{:.1}% (stays at +{:.1}%)", x * 100.0, b.stays_at * 100.0),
            None => format!("above +{:.0}%", b.searched_up_to * 100.0),
        },
    }
}

/// `brief`: the first reason a plan fails without it and a count of the others (tables);
/// otherwise all of them.
fn leverage_notes(r: &leverage::LeverageRow, brief: bool) -> String {
    let w = &r.walk_away;
    let mut notes = Vec::new();
    if !w.breaks.is_empty() {
        notes.push(format!("cannot run without it: {}", w.breaks.join(", ")));
    }
    if w.cost_usd_per_month.is_none() {
        let reasons = match (brief, w.infeasible.as_slice()) {
            (true, [first, _, ..]) => {
                format!("{first} (and {} more)", w.infeasible.len() - 1)
            }
            _ => w.infeasible.join("; "),
        };
        notes.push(format!("no plan meets the policy without it: {reasons}"));
    }
    if !r.workloads.is_empty() {
        notes.push(format!("runs {}", r.workloads.join(", ")));
    }
    notes.join("; ")
}

fn leverage_rows(report: &LeverageReport, brief: bool) -> Vec<Vec<String>> {
    report
        .rows
        .iter()
        .map(|r| {
            let w = &r.walk_away;
            vec![
                r.entity.kind().into(),
                r.entity.name(),
                usd(r.spend_usd_per_month),
                if r.workloads.is_empty() {
                    "-".into()
                } else {
                    format!("{:.1}%", r.spend_share * 100.0)
                },
                match (w.cost_usd_per_month, w.cost_rules_waived_usd_per_month) {
                    (Some(c), _) => usd(c),
                    (None, Some(c)) => format!("{} (rules waived)", usd(c)),
                    (None, None) => "no plan".into(),
                },
                match (w.delta_usd_per_month, w.delta_fraction) {
                    (Some(d), Some(f)) => format!("{} ({})", usd(d), pct(f)),
                    _ => "-".into(),
                },
                break_even_text(r),
                leverage_notes(r, brief),
            ]
        })
        .collect()
}

fn leverage_markdown(report: &LeverageReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Bargaining power: {}\n", report.portfolio);
    let _ = writeln!(
        md,
        "Today's optimal plan costs **{}** per month{}. For each vendor and provider: what the best plan without it costs (the cost of walking away, which is the other side's leverage), and how far its prices can rise before the optimal plan moves work away from it. Where no plan meets the policy without it, the cost is that of the best plan with the diversity rules (vendor-share cap, per-service vendor rules, resilience) and budget waived, marked \"rules waived\".\n",
        usd(report.base_cost_usd_per_month),
        over_time(report)
    );
    let bars: Vec<Bar> = report
        .rows
        .iter()
        .filter_map(|r| {
            r.walk_away.delta_usd_per_month.map(|d| Bar {
                label: format!("{} {}", r.entity.kind(), r.entity.name()),
                value: d,
            })
        })
        .collect();
    let _ = writeln!(
        md,
        "{}\n",
        chipmix_charts::bar_chart_svg(
            "Cost of walking away, USD per month",
            "USD per month over today's plan",
            &bars,
            &|v| usd(v)
        )
    );
    let _ = writeln!(
        md,
        "| kind | name | spend/month | share | walk away: cost/month | delta | break-even price rise | notes |\n|---|---|---:|---:|---:|---:|---|---|"
    );
    for r in leverage_rows(report, false) {
        let _ = writeln!(md, "| {} |", r.join(" | "));
    }
    let _ = writeln!(md, "\nMethod: {}.", report.method);
    md
}

// ---------------------------------------------------------------------------------------------
// stress

#[derive(Args)]
pub struct StressArgs {
    /// The portfolio file (YAML)
    #[arg(required_unless_present = "list")]
    file: Option<PathBuf>,
    /// A built-in scenario (see --list) or a scenario file (YAML)
    #[arg(long, required_unless_present = "list")]
    scenario: Option<String>,
    /// Keep today's plan: report what is still served and what breaks, without re-planning
    #[arg(long)]
    fixed_plan: bool,
    /// List the built-in scenarios
    #[arg(long)]
    list: bool,
    #[arg(long, value_enum, default_value_t)]
    format: PlanFormat,
    #[command(flatten)]
    solve: SolveArgs,
}

pub fn stress(args: StressArgs) -> CmdResult {
    if args.list {
        let scenarios = scenario::library();
        let rows = scenarios
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.description.clone(),
                    s.shocks
                        .iter()
                        .map(|x| x.describe())
                        .collect::<Vec<_>>()
                        .join("; "),
                ]
            })
            .collect();
        return output::print_listing(
            match args.format {
                PlanFormat::Json => output::Format::Json,
                _ => output::Format::Table,
            },
            output::Listing {
                header: &["name", "description", "shocks"],
                rows,
                items: &scenarios,
            },
        );
    }
    let (Some(file), Some(name)) = (&args.file, &args.scenario) else {
        return Err(Failure::bad("error: give a portfolio FILE and --scenario"));
    };
    // Read the scenario before solving anything: a typo should fail fast.
    let (p, c) = load_portfolio(file, &args.solve.catalog)?;
    let chosen = load_scenario(name, &c, &p)?;
    let options = args.solve.options(chipmix_plan::default_gap(&p));
    let base = planned(file, &p, &c, &options)?;
    let cal = Calibration::builtin();
    let bar = progress::spinner(format!("stress: re-planning under {}", chosen.name));
    let ctx = Context {
        portfolio: &p,
        catalog: &c,
        calibration: &cal,
        options,
        watch: Watch::NONE,
    };
    let report = stress::stress(&ctx, &base, &chosen, args.fixed_plan);
    bar.finish_and_clear();
    match args.format {
        PlanFormat::Json => output::print_json(&report),
        PlanFormat::Table => {
            print!("{}", stress_text(&report, false));
            Ok(())
        }
        PlanFormat::Markdown => {
            print!("{}", stress_text(&report, true));
            Ok(())
        }
    }
}

fn load_scenario(
    name: &str,
    catalog: &chipmix_catalog::Catalog,
    portfolio: &chipmix_workload::Portfolio,
) -> Result<Scenario, Failure> {
    if let Some(s) = scenario::builtin(name) {
        return Ok(s);
    }
    let path = Path::new(name);
    if !path.exists() {
        let names: Vec<String> = scenario::library().into_iter().map(|s| s.name).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        return Err(Failure::bad(format!(
            "error: --scenario `{name}` is neither a built-in scenario{} nor a file (built-in: {})",
            chipmix_catalog::did_you_mean(name, &refs),
            refs.join(", ")
        )));
    }
    let text = chipmix_catalog::limits::read_text_file(path)
        .map_err(|e| Failure::bad(format!("{name}: error: cannot read the file: {e}")))?;
    scenario::parse(name, &text, catalog, portfolio)
        .map_err(|d| Failure::BadInput(d.iter().map(|x| x.to_string()).collect()))
}

/// Over time: what the stress report's figures are, and the unserved demand period by period.
fn over_time_line(r: &StressReport, markdown: bool) -> Option<String> {
    let months = r.horizon_months?;
    let worst = r.worst_period.unwrap_or(1);
    let by_period: Vec<String> = r
        .fixed_by_period
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{}: {:.1}%", i + 1, f.unserved_fraction * 100.0))
        .collect();
    Some(format!(
        "{}over {months} months, the shock held throughout: today's plan and the re-plan are plans over time (amounts per month on average); the figures below are of period {worst}, where it hurts most. Peak demand unserved by period: {}.{}",
        if markdown { "" } else { "  " },
        by_period.join(", "),
        if markdown { "\n" } else { "" }
    ))
}

fn stress_text(r: &StressReport, markdown: bool) -> String {
    let mut s = String::new();
    stress_heading(&mut s, r, markdown);
    if let Some(line) = over_time_line(r, markdown) {
        let _ = writeln!(s, "{line}");
    }
    let f = &r.fixed_plan;
    fixed_tables(&mut s, f, markdown);
    let _ = writeln!(
        s,
        "\nunserved demand: {:.1}% of all services' peak; the instances still held cost {} per month at the shocked prices (today's plan {}{}, {})",
        f.unserved_fraction * 100.0,
        usd(f.cost_usd_per_month),
        usd(f.base_cost_usd_per_month),
        r.worst_period
            .map_or(String::new(), |t| format!(" in period {t}")),
        pct(f.cost_usd_per_month / f.base_cost_usd_per_month.max(1e-9) - 1.0)
    );
    if let Some(rp) = &r.replan {
        replan_text(&mut s, r, rp, markdown);
    }
    s
}

/// The scenario's title and shocks, and (Markdown) the chart of what today's plan still serves.
fn stress_heading(s: &mut String, r: &StressReport, markdown: bool) {
    let title = format!(
        "stress scenario {}: {}",
        r.scenario.name, r.scenario.description
    );
    if markdown {
        let _ = writeln!(
            s,
            "# Stress: {}\n\n{}\n",
            r.scenario.name, r.scenario.description
        );
        let _ = writeln!(
            s,
            "Shocks: {}.\n",
            r.scenario
                .shocks
                .iter()
                .map(|x| x.describe())
                .collect::<Vec<_>>()
                .join("; ")
        );
        let bars: Vec<Bar> = r
            .fixed_plan
            .services
            .iter()
            .map(|x| Bar {
                label: x.workload.clone(),
                value: x.served_fraction * 100.0,
            })
            .collect();
        let _ = writeln!(s, "## Today's plan, kept\n");
        let _ = writeln!(
            s,
            "{}\n",
            chipmix_charts::bar_chart_svg(
                "Peak demand still served with today's plan, %",
                "% of peak served",
                &bars,
                &|v| format!("{v:.1}%")
            )
        );
    } else {
        let _ = writeln!(s, "{title}");
        let _ = writeln!(s, "\ntoday's plan, kept:");
    }
}

/// Today's plan under the shock: per service, and per training job.
fn fixed_tables(s: &mut String, f: &chipmix_risk::stress::FixedOutcome, markdown: bool) {
    let header = &["service", "peak req/s", "served req/s", "served", "SLOs"];
    let mut rows = Vec::new();
    for x in &f.services {
        rows.push(vec![
            x.workload.clone(),
            format!("{:.1}", x.peak_requests_per_s),
            format!("{:.1}", x.served_requests_per_s),
            format!("{:.1}%", x.served_fraction * 100.0),
            if x.slo_holds {
                "hold".into()
            } else {
                "break (load above the capacity that meets them)".into()
            },
        ]);
    }
    output::table_or_markdown(s, markdown, header, rows, "|---|---:|---:|---:|---|");
    if !f.training.is_empty() {
        let header = &["training job", "dp", "days", "deadline", "outcome"];
        let rows = f
            .training
            .iter()
            .map(|x| {
                vec![
                    x.workload.clone(),
                    format!("{} → {}", x.dp_before, x.dp_after),
                    match x.days_after {
                        Some(d) => format!("{:.1} → {d:.1}", x.days_before),
                        None => format!("{:.1} → stopped", x.days_before),
                    },
                    format!("{:.0}", x.deadline_days),
                    if x.meets_deadline {
                        "meets deadline".into()
                    } else if x.days_after.is_none() {
                        "stops: not one model replica left".into()
                    } else {
                        "misses deadline".into()
                    },
                ]
            })
            .collect();
        if !markdown {
            let _ = writeln!(s);
        }
        output::table_or_markdown(s, markdown, header, rows, "|---|---|---|---:|---|");
    }
}

/// The re-plan under the shock, or why there is none and what an emergency re-plan costs.
fn replan_text(
    s: &mut String,
    r: &StressReport,
    rp: &chipmix_risk::stress::Replanned,
    markdown: bool,
) {
    let _ = writeln!(
        s,
        "{}",
        if markdown {
            "\n## Re-planned\n"
        } else {
            "\nre-planned:"
        }
    );
    match rp.cost_usd_per_month {
        Some(c) => {
            let _ = writeln!(
                s,
                "optimal cost {} per month ({} vs today), gap {:.3}%; vendor shares: {}",
                usd(c),
                pct(c / r.base_cost_usd_per_month.max(1e-9) - 1.0),
                rp.gap.unwrap_or(0.0) * 100.0,
                rp.vendor_shares
                    .iter()
                    .map(|(v, x)| format!("{v} {:.1}%", x * 100.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        None => {
            let _ = writeln!(s, "no plan satisfies the portfolio under this scenario:");
            for line in &rp.infeasible {
                let _ = writeln!(s, "  - {line}");
            }
            let _ = writeln!(
                s,
                "with the diversity rules and budget waived (an emergency re-plan): {}",
                match rp.cost_rules_waived_usd_per_month {
                    Some(c) => format!(
                        "{} per month ({} vs today)",
                        usd(c),
                        pct(c / r.base_cost_usd_per_month.max(1e-9) - 1.0)
                    ),
                    None => "still no plan: demand goes unserved".into(),
                }
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// sweep

#[derive(Args)]
pub struct SweepArgs {
    /// The portfolio file (YAML)
    file: PathBuf,
    /// The numeric field to vary, as a dotted path: policy.max_vendor_share,
    /// policy.budget_usd_per_month, policy.resilience.min_served, policy.headroom …
    #[arg(long)]
    param: String,
    #[arg(long, value_parser = args::number(&limits::SWEEP_VALUE))]
    from: f64,
    #[arg(long, value_parser = args::number(&limits::SWEEP_VALUE))]
    to: f64,
    #[arg(long, default_value_t = 10, value_parser = args::size(&limits::SWEEP_STEPS))]
    steps: usize,
    #[arg(long, value_enum, default_value_t)]
    format: PlanFormat,
    /// Also write the cost curve as an SVG file
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    #[command(flatten)]
    solve: SolveArgs,
}

pub fn sweep(args: SweepArgs) -> CmdResult {
    let base = catalog_cmd::load(&args.solve.catalog)?;
    let file = args.file.display().to_string();
    let text = chipmix_catalog::limits::read_text_file(&args.file)
        .map_err(|e| Failure::bad(format!("{file}: error: cannot read the file: {e}")))?;
    let source = sweep::Source {
        file: &file,
        text: &text,
        base_dir: args.file.parent().unwrap_or(Path::new(".")),
    };
    // The default gap is the planner's for this portfolio (1% for a plan over time); a file
    // that only decodes with the swept value set plans one period.
    let unswept = chipmix_workload::portfolio::parse_with(
        source.file,
        source.text,
        source.base_dir,
        &base,
        &[],
    );
    let default_gap = unswept.map_or(1e-4, |l| chipmix_plan::default_gap(&l.portfolio));
    let options = args.solve.options(default_gap);
    crate::plan_cmd::check_options(&options)?;
    let values = sweep::values(args.from, args.to, args.steps);
    let bar = progress::bar(format!("sweep of {}", args.param), values.len() as u64);
    let replanned = || bar.inc(1);
    let report = sweep::sweep(
        &source,
        &base,
        &Calibration::builtin(),
        &options,
        &args.param,
        &values,
        Watch {
            replanned: &replanned,
            ..Watch::NONE
        },
    );
    bar.finish_and_clear();
    let report =
        report.map_err(|d| Failure::BadInput(d.iter().map(|x| x.to_string()).collect()))?;
    let svg = sweep_chart(&report);
    write_svg(args.svg.as_deref(), &svg)?;
    match args.format {
        PlanFormat::Json => output::print_json(&report),
        PlanFormat::Table => {
            println!("sweep of {} for {}", report.param, report.portfolio);
            let cost = cost_column(&report);
            let header = &[
                "value",
                cost.as_str(),
                "vs best",
                "gap",
                "HHI",
                "vendor shares (or why no plan)",
            ];
            let mut s = String::new();
            output::table_or_markdown(&mut s, false, header, sweep_rows(&report), "");
            print!("{s}");
            Ok(())
        }
        PlanFormat::Markdown => {
            let mut md = String::new();
            let _ = writeln!(
                md,
                "# Sweep of `{}`: {}\n\nThe optimal cost at each value (a blank cost: no plan satisfies the portfolio there).\n\n{svg}\n\n| value | {} | vs best | gap | HHI | vendor shares (or why no plan) |\n|---:|---:|---:|---:|---:|---|",
                report.param,
                report.portfolio,
                cost_column(&report)
            );
            for r in sweep_rows(&report) {
                let _ = writeln!(md, "| {} |", r.join(" | "));
            }
            print!("{md}");
            Ok(())
        }
    }
}

/// The cost a sweep compares: per month, or over the horizon for plans over time.
fn cost_column(report: &SweepReport) -> String {
    match report.horizon_months {
        Some(m) => format!("cost over {m} months"),
        None => "cost/month".into(),
    }
}

fn sweep_cost(report: &SweepReport, p: &sweep::SweepPoint) -> Option<f64> {
    match report.horizon_months {
        Some(_) => p.cost_over_horizon_usd,
        None => p.cost_usd_per_month,
    }
}

fn sweep_rows(report: &SweepReport) -> Vec<Vec<String>> {
    let best = report
        .points
        .iter()
        .filter_map(|p| sweep_cost(report, p))
        .fold(f64::INFINITY, f64::min);
    report
        .points
        .iter()
        .map(|p| {
            vec![
                output::num(Some(p.value), 6),
                sweep_cost(report, p).map_or("infeasible".into(), usd),
                sweep_cost(report, p).map_or(String::new(), |c| pct(c / best - 1.0)),
                p.gap
                    .map_or(String::new(), |g| format!("{:.3}%", g * 100.0)),
                p.hhi.map_or(String::new(), |h| format!("{h:.3}")),
                if p.cost_usd_per_month.is_some() {
                    p.vendor_shares
                        .iter()
                        .filter(|(_, x)| **x > 0.0005)
                        .map(|(v, x)| format!("{v} {:.1}%", x * 100.0))
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    p.infeasible.join("; ")
                },
            ]
        })
        .collect()
}

fn sweep_chart(report: &SweepReport) -> String {
    let unit = match report.horizon_months {
        Some(m) => format!("USD over {m} months"),
        None => "USD per month".into(),
    };
    chipmix_charts::line_chart_svg(
        &format!("Optimal cost vs {}", report.param),
        &report.param,
        &unit,
        &[Series {
            name: "optimal cost".into(),
            points: report
                .points
                .iter()
                .map(|p| (p.value, sweep_cost(report, p).unwrap_or(f64::NAN)))
                .collect(),
        }],
        &|v| usd(v),
    )
}

// ---------------------------------------------------------------------------------------------
// montecarlo

#[derive(Args)]
pub struct MonteCarloArgs {
    /// The portfolio file (YAML)
    file: PathBuf,
    /// Samples evaluated against today's plan
    #[arg(long, default_value_t = 10_000, value_parser = args::size(&limits::SAMPLES))]
    samples: usize,
    /// Of those, how many are also re-planned (0: none)
    #[arg(long, default_value_t = 1_000, value_parser = args::size(&limits::SAMPLES))]
    replan: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Chance per sample that a vendor's supply is short (an assumption: set your own)
    #[arg(long, default_value_t = ShockModel::default().vendor_shortage_probability,
          value_parser = args::number(&limits::PROBABILITY))]
    vendor_shortage_p: f64,
    /// What a shortage leaves of the vendor's instances
    #[arg(long, default_value_t = ShockModel::default().vendor_shortage_factor,
          value_parser = args::number(&limits::PROBABILITY))]
    vendor_shortage_factor: f64,
    /// Chance per sample that a provider region goes down (an assumption: set your own)
    #[arg(long, default_value_t = ShockModel::default().region_outage_probability,
          value_parser = args::number(&limits::PROBABILITY))]
    region_outage_p: f64,
    /// In an outage, the chance each offering of the region is lost (1: the whole region)
    #[arg(long, default_value_t = ShockModel::default().region_correlation,
          value_parser = args::number(&limits::PROBABILITY))]
    region_correlation: f64,
    #[arg(long, value_enum, default_value_t)]
    format: PlanFormat,
    /// Also write the distribution of re-planned cost (or of unserved demand) as SVG
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    #[command(flatten)]
    solve: SolveArgs,
}

pub fn montecarlo(args: MonteCarloArgs) -> CmdResult {
    let probabilities = [
        ("--vendor-shortage-p", args.vendor_shortage_p),
        ("--vendor-shortage-factor", args.vendor_shortage_factor),
        ("--region-outage-p", args.region_outage_p),
        ("--region-correlation", args.region_correlation),
    ];
    for (flag, v) in probabilities {
        if !(0.0..=1.0).contains(&v) {
            return Err(Failure::bad(format!(
                "error: {flag} must be in [0, 1], got {v}"
            )));
        }
    }
    if args.samples == 0 || args.replan > args.samples {
        return Err(Failure::bad(
            "error: --samples must be > 0 and --replan at most --samples",
        ));
    }
    let (p, c) = load_portfolio(&args.file, &args.solve.catalog)?;
    // Hundreds of re-plans: a looser gap than a plan's own (over time, the default of a plan
    // over time).
    let options = args.solve.options(chipmix_plan::default_gap(&p).max(0.005));
    let base = planned(&args.file, &p, &c, &options)?;
    let cal = Calibration::builtin();
    let ctx = Context {
        portfolio: &p,
        catalog: &c,
        calibration: &cal,
        options,
        watch: Watch::NONE,
    };
    let bar = indicatif::ProgressBar::new(args.samples as u64)
        .with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        )
        .with_message("fixed-plan samples");
    let report = {
        let started_replan = std::sync::atomic::AtomicBool::new(false);
        let progress = |n: u64| {
            if bar.position() >= args.samples as u64
                && !started_replan.swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                bar.set_position(0);
                bar.set_length(args.replan as u64);
                bar.set_message("re-planned patterns");
            }
            bar.inc(n);
        };
        montecarlo::run(
            &ctx,
            &base,
            &MonteCarloOptions {
                samples: args.samples,
                replan_samples: args.replan,
                seed: args.seed,
                model: ShockModel {
                    vendor_shortage_probability: args.vendor_shortage_p,
                    vendor_shortage_factor: args.vendor_shortage_factor,
                    region_outage_probability: args.region_outage_p,
                    region_correlation: args.region_correlation,
                },
            },
            &progress,
        )
    };
    bar.finish_and_clear();
    let svg = montecarlo_chart(&report);
    write_svg(args.svg.as_deref(), &svg)?;
    match args.format {
        PlanFormat::Json => output::print_json(&report),
        PlanFormat::Table => {
            print!("{}", montecarlo_text(&report, None));
            Ok(())
        }
        PlanFormat::Markdown => {
            print!("{}", montecarlo_text(&report, Some(&svg)));
            Ok(())
        }
    }
}

fn montecarlo_chart(r: &MonteCarloReport) -> String {
    match r
        .replan
        .as_ref()
        .and_then(|x| x.cost_usd_per_month.as_ref().map(|d| (x, d)))
    {
        Some((rp, d)) => {
            let costs: Vec<f64> = rp.cost_by_sample.iter().flatten().copied().collect();
            chipmix_charts::histogram_svg(
                "Re-planned cost after random supply shocks",
                "USD per month",
                &costs,
                20,
                &[
                    ("today".into(), r.base_cost_usd_per_month),
                    ("p95".into(), d.p95),
                ],
                &|v| usd(v),
            )
        }
        None => chipmix_charts::histogram_svg(
            "Unserved demand with today's plan after random supply shocks",
            "fraction of peak demand unserved",
            &r.fixed_plan.unserved_by_sample,
            20,
            &[("p95".into(), r.fixed_plan.unserved_fraction.p95)],
            &|v| format!("{:.0}%", v * 100.0),
        ),
    }
}

fn montecarlo_text(r: &MonteCarloReport, svg: Option<&str>) -> String {
    let mut s = String::new();
    let md = svg.is_some();
    if md {
        let _ = writeln!(s, "# Supply risk, Monte Carlo: {}\n", r.portfolio);
    } else {
        let _ = writeln!(
            s,
            "Monte Carlo supply shocks for {} (seed {})",
            r.portfolio, r.seed
        );
    }
    let m = &r.model;
    let _ = writeln!(
        s,
        "shock model (assumptions, not measured rates): each of {} vendors short with p = {} (keeping {:.0}% of its instances); each of {} provider regions down with p = {} (correlation within the region {}). Seed {}.{}",
        r.vendors.len(),
        m.vendor_shortage_probability,
        m.vendor_shortage_factor * 100.0,
        r.regions.len(),
        m.region_outage_probability,
        m.region_correlation,
        r.seed,
        if md { "\n" } else { "" }
    );
    if let (Some(months), Some(len)) = (r.horizon_months, r.period_months) {
        let _ = writeln!(
            s,
            "over time: today's plan over {months} months ({} a month); every period of {len} month(s) draws its own shocks with these probabilities, and unserved demand is over the whole horizon{}",
            usd(r.base_cost_usd_per_month),
            if md { "\n" } else { "" }
        );
    }
    let f = &r.fixed_plan;
    let u = &f.unserved_fraction;
    let _ = writeln!(
        s,
        "{}today's plan, kept ({} samples): unserved demand mean {:.2}%, p50 {:.2}%, p95 {:.2}%, p99 {:.2}%, CVaR95 {:.2}%, worst {:.2}%; P(some service below 50%) = {:.2}%; P(a training job late or stopped) = {:.2}%",
        if md { "**" } else { "" },
        f.samples,
        u.mean * 100.0,
        u.p50 * 100.0,
        u.p95 * 100.0,
        u.p99 * 100.0,
        u.cvar95 * 100.0,
        u.max * 100.0,
        f.probability_any_service_below_half * 100.0,
        f.probability_training_delayed * 100.0
    );
    if !f.mean_unserved_by_period.is_empty() {
        let by: Vec<String> = f
            .mean_unserved_by_period
            .iter()
            .enumerate()
            .map(|(t, u)| format!("{} {:.2}%", t + 1, u * 100.0))
            .collect();
        let _ = writeln!(s, "mean unserved demand by period: {}", by.join(", "));
    }
    if let Some(rp) = &r.replan {
        let _ = writeln!(
            s,
            "{}re-planned ({} samples, {} distinct patterns): P(no plan meets the policy) = {:.2}%, P(no plan even with the diversity rules waived) = {:.2}%",
            if md { "\n" } else { "" },
            rp.samples,
            rp.distinct_patterns,
            rp.probability_policy_infeasible * 100.0,
            rp.probability_infeasible * 100.0
        );
        if let (Some(c), Some(i)) = (&rp.cost_usd_per_month, &rp.increase_fraction) {
            let _ = writeln!(
                s,
                "cost per month (emergency re-plans included): mean {}, p50 {}, p95 {}, CVaR95 {}, worst {} (today {}; p95 {}, CVaR95 {})",
                usd(c.mean),
                usd(c.p50),
                usd(c.p95),
                usd(c.cvar95),
                usd(c.max),
                usd(r.base_cost_usd_per_month),
                pct(i.p95),
                pct(i.cvar95)
            );
        }
        let _ = writeln!(s, "{}how: {}", if md { "\n" } else { "" }, rp.how);
    }
    if let Some(svg) = svg {
        let _ = writeln!(s, "\n{svg}");
    }
    s
}
