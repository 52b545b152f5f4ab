//! `chipmix plan FILE`

use crate::args;
use crate::catalog_cmd::{self, CatalogFiles};
use crate::output::{self, usd};
use crate::{CmdResult, Failure};
use chipmix_catalog::limits;
use chipmix_perf::Calibration;
use chipmix_plan::{Plan, PlanError, PlanOptions, verify};
use chipmix_workload::portfolio;
use clap::{Args, ValueEnum};
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    #[default]
    Table,
    Json,
    Markdown,
}

#[derive(Args)]
pub struct PlanArgs {
    /// The portfolio file (YAML)
    file: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    format: PlanFormat,
    /// Stop the solver after this many seconds (the plan then reports its gap)
    #[arg(long, default_value_t = 60.0, value_parser = args::number(&limits::TIME_LIMIT_S))]
    time_limit: f64,
    /// Stop when the proven relative gap is at most this (default 0.0001; 0.01 for a
    /// month-by-month plan, whose many integer reservations make the last percent slow)
    #[arg(long, value_parser = args::number(&limits::GAP))]
    gap: Option<f64>,
    /// Skip the baselines and the re-solves that price each rule
    #[arg(long)]
    no_analysis: bool,
    /// Over a `horizon:`: also price each rule (vendor caps, per-service rules, resilience,
    /// minimum share, budget, migration cost, churn cap) by re-planning over time without it,
    /// two at a time (a plan of one period always prices its rules)
    #[arg(long, conflicts_with = "no_analysis")]
    rule_costs: bool,
    /// How to solve: `auto` decomposes single-period portfolios of 50 workloads or more, and
    /// plans over time period by period first, then improves that plan by branch-and-bound;
    /// `direct` is one branch-and-bound over the whole model; `decomposed` is column
    /// generation by workload (by workload and period over time)
    #[arg(long, value_enum, default_value_t)]
    method: MethodArg,
    #[command(flatten)]
    catalog: CatalogFiles,
}

#[derive(Clone, Copy, Default, ValueEnum)]
pub enum MethodArg {
    #[default]
    Auto,
    Direct,
    Decomposed,
}

impl From<MethodArg> for chipmix_plan::SolveMethod {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Auto => chipmix_plan::SolveMethod::Auto,
            MethodArg::Direct => chipmix_plan::SolveMethod::Direct,
            MethodArg::Decomposed => chipmix_plan::SolveMethod::Decomposed,
        }
    }
}

/// Loads, validates and plans a portfolio, then verifies the plan independently. Shared by
/// every command that starts from a portfolio.
pub fn plan_file(
    file: &std::path::Path,
    catalog_files: &CatalogFiles,
    options: &PlanOptions,
) -> Result<(Plan, portfolio::Portfolio, chipmix_catalog::Catalog), Failure> {
    let (p, catalog) = load_portfolio(file, catalog_files)?;
    plan_loaded(file, p, catalog, options)
}

/// Reads and validates a portfolio and the catalog it plans on (its overrides applied).
pub fn load_portfolio(
    file: &std::path::Path,
    catalog_files: &CatalogFiles,
) -> Result<(portfolio::Portfolio, chipmix_catalog::Catalog), Failure> {
    let base = catalog_cmd::load(catalog_files)?;
    let loaded = portfolio::load(file, &base)
        .map_err(|d| Failure::BadInput(d.iter().map(|x| x.to_string()).collect()))?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let p = loaded.portfolio;
    let catalog = p
        .effective_catalog(&base)
        .map_err(|e| Failure::BadInput(e.iter().map(|x| format!("error: {x}")).collect()))?;
    Ok((p, catalog))
}

/// `--time-limit` and `--gap` as every planning command accepts them.
pub fn check_options(options: &PlanOptions) -> Result<(), Failure> {
    options
        .check()
        .map_err(|m| Failure::bad(format!("error: {m}")))
}

/// Why no `what` (a plan, a month-by-month plan) came out: exit code 3 with the reasons.
pub fn no_plan(file: &std::path::Path, what: &str, e: PlanError) -> Failure {
    match e {
        PlanError::Infeasible(reasons) => {
            let mut lines = vec![format!(
                "{}: infeasible: no {what} meets every constraint",
                file.display()
            )];
            lines.extend(reasons.into_iter().map(|r| format!("  - {r}")));
            Failure::Infeasible(lines)
        }
        PlanError::NoSolution(m) => Failure::Infeasible(vec![format!("{}: {m}", file.display())]),
        PlanError::Cancelled => Failure::Internal(format!("{}: cancelled", file.display())),
        PlanError::Solver(m) => Failure::Internal(format!(
            "{}: the solver could not be run on the model (a bug in chipmix): {m}",
            file.display()
        )),
    }
}

/// Plans an already loaded portfolio and verifies the plan independently.
pub fn plan_loaded(
    file: &std::path::Path,
    p: portfolio::Portfolio,
    catalog: chipmix_catalog::Catalog,
    options: &PlanOptions,
) -> Result<(Plan, portfolio::Portfolio, chipmix_catalog::Catalog), Failure> {
    let calibration = Calibration::builtin();
    check_options(options)?;
    if p.horizon.is_some() {
        // `plan`, `export` and the analyses route these to the planner over time; `simulate`
        // does not yet.
        eprintln!(
            "note: {}: {}",
            file.display(),
            chipmix_risk::SINGLE_PERIOD_NOTE
        );
    }
    let bar = crate::progress::spinner(format!(
        "planning {} (solver limit {} s)",
        file.display(),
        options.time_limit_s
    ));
    let plan = chipmix_plan::plan(&p, &catalog, &calibration, options);
    bar.finish_and_clear();
    let plan = plan.map_err(|e| no_plan(file, "plan", e))?;
    let violations = verify::verify(&plan, &p, &catalog, &calibration);
    if !violations.is_empty() {
        return Err(Failure::Internal(format!(
            "the plan failed independent verification — a bug in chipmix, please report it:\n  {}\nthe plan's spend {:.2} and contracts {}",
            violations.join("\n  "),
            plan.spend_usd_per_month,
            serde_json::to_string(&plan.contracts).unwrap_or_default()
        )));
    }
    Ok((plan, p, catalog))
}

pub fn run(args: PlanArgs) -> CmdResult {
    let options = PlanOptions {
        time_limit_s: args.time_limit,
        relative_gap: args.gap.unwrap_or(1e-4),
        analysis: !args.no_analysis,
        method: args.method.into(),
    };
    let (p, catalog) = load_portfolio(&args.file, &args.catalog)?;
    if p.horizon.is_some() {
        let options = PlanOptions {
            relative_gap: args.gap.unwrap_or(chipmix_plan::default_gap(&p)),
            ..options
        };
        return crate::months_cmd::run(
            &args.file,
            &p,
            &catalog,
            &options,
            args.format,
            args.rule_costs,
        );
    }
    let (plan, p, _) = plan_loaded(&args.file, p, catalog, &options)?;
    match args.format {
        PlanFormat::Json => output::print_json(&plan),
        PlanFormat::Table => print_table(&plan, &p),
        PlanFormat::Markdown => {
            print!("{}", markdown(&plan, &p));
            Ok(())
        }
    }
}

fn allocation_rows(plan: &Plan) -> Vec<Vec<String>> {
    plan.allocations
        .iter()
        .map(|a| {
            let detail = a.layout();
            vec![
                a.workload.clone(),
                a.offering.clone() + if a.spot { " (spot)" } else { "" },
                a.chip.clone(),
                a.vendor.clone(),
                a.instances.to_string(),
                a.chips.to_string(),
                usd(a.usd_per_month),
                detail,
            ]
        })
        .collect()
}

/// How the plan was solved, when not by one branch-and-bound (the usual case for small
/// portfolios, left unsaid).
fn method_note(plan: &Plan) -> String {
    if plan.method.is_empty() || plan.method == "direct" {
        String::new()
    } else {
        format!(", {}", plan.method)
    }
}

fn print_table(plan: &Plan, p: &portfolio::Portfolio) -> CmdResult {
    println!(
        "plan for {}: {} — {} per month (bound {}, gap {:.3}%, solved in {:.2} s{}; horizon {} months)",
        plan.portfolio,
        plan.status.as_str(),
        usd(plan.objective_usd_per_month),
        usd(plan.bound_usd_per_month),
        plan.gap * 100.0,
        plan.solve_seconds,
        method_note(plan),
        plan.horizon_months
    );
    println!();
    output::print_listing(
        output::Format::Table,
        output::Listing::<()> {
            header: &[
                "workload",
                "offering",
                "chip",
                "vendor",
                "instances",
                "chips",
                "usd/month",
                "configuration",
            ],
            rows: allocation_rows(plan),
            items: &[],
        },
    )?;
    println!();
    let cap = p.policy.max_vendor_share;
    let mut shares: Vec<String> = plan
        .vendor_shares
        .iter()
        .map(|(v, s)| format!("{v} {:.1}%", s * 100.0))
        .collect();
    shares.sort();
    println!(
        "vendor shares ({}): {}{}; HHI {:.3}",
        plan.share_basis,
        shares.join(", "),
        cap.map(|c| format!(" (cap {:.0}%)", c * 100.0))
            .unwrap_or_default(),
        plan.hhi
    );
    for svc in &plan.services {
        println!(
            "service {}: {:.1} req/s provisioned for {:.1} needed ({})",
            svc.workload,
            svc.provisioned_requests_per_s,
            svc.needed_requests_per_s,
            svc.requests_per_s_by_vendor
                .iter()
                .map(|(v, r)| format!(
                    "{v} {:.0}%",
                    r / svc.provisioned_requests_per_s.max(1e-9) * 100.0
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "spend by provider: {}",
        plan.spend_by_provider
            .iter()
            .map(|(k, v)| format!("{k} {}", usd(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for c in &plan.contracts {
        match c.kind.as_str() {
            "commitment" => println!(
                "commitment on {}: {} committed, {} covered spend, {} shortfall per month",
                c.provider,
                usd(c.amount_usd),
                usd(c.spend_usd_per_month),
                usd(c.shortfall_usd_per_month)
            ),
            _ => println!(
                "credits on {}: {} granted, {} of spend covered per month",
                c.provider,
                usd(c.amount_usd),
                usd(c.credits_used_usd_per_month)
            ),
        }
    }
    for r in &plan.rule_costs {
        println!("rule {}: costs {} per month", r.rule, usd(r.usd_per_month));
    }
    for b in &plan.baselines {
        match b.usd_per_month {
            Some(c) => println!(
                "baseline {}: {} per month ({:+.1}% vs this plan) — {}",
                b.name,
                usd(c),
                (c / plan.objective_usd_per_month - 1.0) * 100.0,
                b.note
            ),
            None => println!("baseline {}: not possible — {}", b.name, b.note),
        }
    }
    for b in plan.binding_constraints.iter().take(8) {
        println!("binding {}: {}", b.constraint, b.meaning);
    }
    for w in output::summarize_warnings(&plan.warnings, &workload_names(p)) {
        println!("warning: {w}");
    }
    Ok(())
}

/// Spend by vendor as a standalone SVG bar chart.
pub fn spend_chart_svg(plan: &Plan) -> String {
    let bars: Vec<chipmix_charts::Bar> = plan
        .spend_by_vendor
        .iter()
        .map(|(v, usd_per_month)| chipmix_charts::Bar {
            label: v.clone(),
            value: *usd_per_month,
        })
        .collect();
    chipmix_charts::bar_chart_svg(
        "Spend by vendor, USD per month",
        "USD per month",
        &bars,
        &|v| usd(v),
    )
}

fn markdown(plan: &Plan, p: &portfolio::Portfolio) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Compute plan: {}\n", plan.portfolio);
    let _ = writeln!(
        md,
        "**{}** per month — status `{}`, proven bound {}, gap {:.3}%, solved in {:.2} s by HiGHS{} over {} candidates ({} variables, {} constraints). Horizon: {} months.\n",
        usd(plan.objective_usd_per_month),
        plan.status.as_str(),
        usd(plan.bound_usd_per_month),
        plan.gap * 100.0,
        plan.solve_seconds,
        method_note(plan),
        plan.candidates,
        plan.variables,
        plan.constraints,
        plan.horizon_months
    );
    let _ = writeln!(md, "## Allocations\n");
    let _ = writeln!(
        md,
        "| workload | offering | chip | vendor | instances | chips | USD/month | configuration |"
    );
    let _ = writeln!(md, "|---|---|---|---|---:|---:|---:|---|");
    for r in allocation_rows(plan) {
        let _ = writeln!(md, "| {} |", r.join(" | "));
    }
    if !plan.services.is_empty() {
        let _ = writeln!(md, "\n## Services\n");
        let _ = writeln!(
            md,
            "| service | needed req/s | provisioned req/s | by vendor |\n|---|---:|---:|---|"
        );
        for svc in &plan.services {
            let _ = writeln!(
                md,
                "| {} | {:.1} | {:.1} | {} |",
                svc.workload,
                svc.needed_requests_per_s,
                svc.provisioned_requests_per_s,
                svc.requests_per_s_by_vendor
                    .iter()
                    .map(|(v, r)| format!("{v} {r:.1}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    markdown_spend(&mut md, plan, p);
    if !plan.contracts.is_empty() {
        let _ = writeln!(md, "## Contracts\n");
        for c in &plan.contracts {
            let _ = writeln!(
                md,
                "- {} on **{}**: {} — spend counted {} per month, shortfall {}, credits used {} per month",
                c.kind,
                c.provider,
                usd(c.amount_usd),
                usd(c.spend_usd_per_month),
                usd(c.shortfall_usd_per_month),
                usd(c.credits_used_usd_per_month)
            );
        }
        md.push('\n');
    }
    markdown_rules_and_baselines(&mut md, plan);
    if !plan.warnings.is_empty() {
        let _ = writeln!(md, "\n## Warnings\n");
        for w in output::summarize_warnings(&plan.warnings, &workload_names(p)) {
            let _ = writeln!(md, "- {w}");
        }
    }
    md
}

/// The plan's spend: the chart, per vendor with its share, HHI, per provider and chip.
fn markdown_spend(md: &mut String, plan: &Plan, p: &portfolio::Portfolio) {
    let _ = writeln!(md, "\n## Spend\n");
    let _ = writeln!(md, "{}\n", spend_chart_svg(plan));
    let _ = writeln!(md, "| vendor | USD/month | share ({}) |", plan.share_basis);
    let _ = writeln!(md, "|---|---:|---:|");
    for (v, s) in &plan.spend_by_vendor {
        let _ = writeln!(
            md,
            "| {v} | {} | {:.1}% |",
            usd(*s),
            plan.vendor_shares.get(v).copied().unwrap_or(0.0) * 100.0
        );
    }
    let _ = writeln!(
        md,
        "\nHHI {:.3}{}. By provider: {}. By chip: {}.\n",
        plan.hhi,
        p.policy
            .max_vendor_share
            .map(|c| format!("; vendor cap {:.0}%", c * 100.0))
            .unwrap_or_default(),
        plan.spend_by_provider
            .iter()
            .map(|(k, v)| format!("{k} {}", usd(*v)))
            .collect::<Vec<_>>()
            .join(", "),
        plan.spend_by_chip
            .iter()
            .map(|(k, v)| format!("{k} {}", usd(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// What each rule costs, the binding rows, and the baselines.
fn markdown_rules_and_baselines(md: &mut String, plan: &Plan) {
    let _ = writeln!(md, "## What the rules cost\n");
    for r in &plan.rule_costs {
        let _ = writeln!(
            md,
            "- {}: {} per month (re-solved without it)",
            r.rule,
            usd(r.usd_per_month)
        );
    }
    for b in plan.binding_constraints.iter().take(12) {
        let _ = writeln!(
            md,
            "- `{}` binds (LP relaxation): {}",
            b.constraint, b.meaning
        );
    }
    let _ = writeln!(md, "\n## Baselines\n");
    let _ = writeln!(
        md,
        "| baseline | USD/month | vs this plan | |\n|---|---:|---:|---|"
    );
    for b in &plan.baselines {
        match b.usd_per_month {
            Some(c) => {
                let _ = writeln!(
                    md,
                    "| {} | {} | {:+.1}% | {} |",
                    b.name,
                    usd(c),
                    (c / plan.objective_usd_per_month - 1.0) * 100.0,
                    b.note
                );
            }
            None => {
                let _ = writeln!(md, "| {} | — | — | {} |", b.name, b.note);
            }
        }
    }
}

/// The portfolio's workload names, to group warnings by.
pub fn workload_names(p: &portfolio::Portfolio) -> Vec<&str> {
    p.workloads.iter().map(|w| w.name.as_str()).collect()
}
