//! `chipmix plan FILE` for a portfolio with a `horizon:`: the month-by-month plan.

use crate::output::{self, usd};
use crate::plan_cmd::PlanFormat;
use crate::{CmdResult, Failure};
use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::multiperiod::{self, MonthlyPlan};
use chipmix_plan::{PlanOptions, verify};
use chipmix_workload::Portfolio;
use std::fmt::Write as _;
use std::path::Path;

/// Plans a portfolio with a `horizon:` period by period and verifies the plan over every
/// period; a plan that fails verification is never returned.
pub fn plan_verified(
    file: &Path,
    p: &Portfolio,
    catalog: &Catalog,
    options: &PlanOptions,
) -> Result<MonthlyPlan, Failure> {
    crate::plan_cmd::check_options(options)?;
    let calibration = Calibration::builtin();
    let bar = crate::progress::spinner(format!(
        "planning {} month by month (solver limit {} s)",
        file.display(),
        options.time_limit_s
    ));
    let plan = multiperiod::plan_months(p, catalog, &calibration, options);
    bar.finish_and_clear();
    let plan = plan.map_err(|e| crate::plan_cmd::no_plan(file, "month-by-month plan", e))?;
    let violations = verify::verify_months(&plan, p, catalog, &calibration);
    if !violations.is_empty() {
        return Err(Failure::Internal(format!(
            "the month-by-month plan failed independent verification — a bug in chipmix, nothing was written; please report it:\n  {}",
            violations.join("\n  ")
        )));
    }
    Ok(plan)
}

pub fn run(
    file: &Path,
    p: &Portfolio,
    catalog: &Catalog,
    options: &PlanOptions,
    format: PlanFormat,
    with_rule_costs: bool,
) -> CmdResult {
    let mut plan = plan_verified(file, p, catalog, options)?;
    if with_rule_costs {
        let bar = crate::progress::spinner(format!(
            "pricing each rule of {}: a plan over time without it (solver limit {} s each)",
            file.display(),
            options.time_limit_s
        ));
        plan.rule_costs =
            multiperiod::rule_costs(p, catalog, &Calibration::builtin(), options, &plan);
        bar.finish_and_clear();
    }
    match format {
        PlanFormat::Json => output::print_json(&plan),
        PlanFormat::Table => {
            print!(
                "{}",
                text(&plan, false, &crate::plan_cmd::workload_names(p))
            );
            Ok(())
        }
        PlanFormat::Markdown => {
            print!("{}", text(&plan, true, &crate::plan_cmd::workload_names(p)));
            Ok(())
        }
    }
}

/// What one entry of `by_month` is: a month or a quarter.
fn text(plan: &MonthlyPlan, md: bool, workloads: &[&str]) -> String {
    let mut s = String::new();
    if md {
        let _ = writeln!(s, "# Plan by {}: {}\n", plan.period_word(), plan.portfolio);
    }
    let mut parts = Vec::new();
    if plan.committed_after_horizon_usd > 0.0 {
        parts.push(format!(
            "{} reservation payments after the horizon",
            usd(plan.committed_after_horizon_usd)
        ));
    }
    if plan.migration_usd > 0.0 {
        parts.push(format!(
            "{} moving capacity between months",
            usd(plan.migration_usd)
        ));
    }
    let restart_usd: f64 = plan.by_month.iter().map(|m| m.restart_usd).sum();
    if restart_usd > 0.0 {
        parts.push(format!("{} restarting training runs", usd(restart_usd)));
    }
    let _ = writeln!(
        s,
        "{}: {} over {} months{} — status {}, bound {}, gap {:.3}%, solved in {:.2} s ({}){}",
        plan.portfolio,
        usd(plan.objective_usd),
        plan.months,
        if parts.is_empty() {
            String::new()
        } else {
            format!(" (of which {})", parts.join(", "))
        },
        plan.status.as_str(),
        usd(plan.bound_usd),
        plan.gap * 100.0,
        plan.solve_seconds,
        plan.method,
        match plan.on_demand_only_usd {
            Some(b) => format!(
                "; on-demand and spot only, month by month: {} ({:+.1}%)",
                usd(b),
                (b / plan.objective_usd.max(1e-9) - 1.0) * 100.0
            ),
            None => String::new(),
        }
    );
    if md {
        chart(&mut s, plan);
    }
    period_table(&mut s, plan, md);
    reservations(&mut s, plan, md);
    commitments(&mut s, plan, md);
    migrations(&mut s, plan, md);
    restarts(&mut s, plan, md);
    rule_costs(&mut s, plan, md);
    placements(&mut s, plan, md);
    for w in crate::output::summarize_warnings(&plan.warnings, workloads) {
        let _ = writeln!(s, "{}warning: {w}", if md { "\n> " } else { "" });
    }
    s
}

/// One row per period: what it costs and how, what moved, what is held, the demand.
fn period_table(s: &mut String, plan: &MonthlyPlan, md: bool) {
    let header = [
        plan.period_word(),
        "cost",
        "on-demand",
        "reserved",
        "spot",
        "shortfall",
        "moved (cost)",
        "instances (reserved)",
        "demand req/s",
    ];
    let rows: Vec<Vec<String>> = plan
        .by_month
        .iter()
        .map(|m| {
            let instances: u32 = m.allocations.iter().map(|a| a.instances).sum();
            let reserved: u32 = m.reserved_instances.values().sum();
            vec![
                m.month.to_string(),
                usd(m.cost_usd),
                usd(m.on_demand_usd),
                usd(m.reserved_usd),
                usd(m.spot_usd),
                usd(m.shortfall_usd),
                {
                    let moved: u32 = m.migrations.iter().map(|x| x.instances).sum();
                    if moved == 0 {
                        "0".to_owned()
                    } else {
                        format!("{moved} ({})", usd(m.migration_usd))
                    }
                },
                format!("{instances} ({reserved})"),
                m.demand_requests_per_s
                    .iter()
                    .map(|(w, r)| format!("{w} {r:.0}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    output::table_or_markdown(
        s,
        md,
        &header,
        rows,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    );
}

/// Where each workload runs, period by period.
fn placements(s: &mut String, plan: &MonthlyPlan, md: bool) {
    if md {
        let _ = writeln!(s, "\n## Where each workload runs, by month\n");
    } else {
        let _ = writeln!(s, "\nwhere each workload runs:");
    }
    for m in &plan.by_month {
        let mut by: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for a in &m.allocations {
            by.entry(a.workload.clone()).or_default().push(format!(
                "{} × {}{}",
                a.instances,
                a.offering,
                if a.spot { " (spot)" } else { "" }
            ));
        }
        let line = by
            .iter()
            .map(|(w, xs)| format!("{w}: {}", xs.join(" + ")))
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            s,
            "{}{} {}: {line}",
            if md { "- " } else { "  " },
            plan.period_word(),
            m.month
        );
    }
}

/// Cost and vendor shares per period as SVG line charts (Markdown only).
fn chart(s: &mut String, plan: &MonthlyPlan) {
    let lines = |series: Vec<(String, Vec<(f64, f64)>)>| -> Vec<chipmix_charts::Series> {
        series
            .into_iter()
            .map(|(name, points)| chipmix_charts::Series { name, points })
            .collect()
    };
    let word = plan.period_word();
    let cost = chipmix_charts::line_chart_svg(
        &format!("Cost per {word}"),
        word,
        "USD",
        &lines(plan.cost_series()),
        &|v| usd(v),
    );
    let shares = chipmix_charts::line_chart_svg(
        &format!("Vendor share of spend per {word}"),
        word,
        "% of spend",
        &lines(plan.vendor_share_series()),
        &|v| format!("{v:.0}%"),
    );
    let _ = writeln!(s, "\n{cost}\n\n\n{shares}\n");
}

/// The reservations to buy, and when.
fn reservations(s: &mut String, plan: &MonthlyPlan, md: bool) {
    if !plan.reservations.is_empty() {
        let _ = writeln!(
            s,
            "{}reservations (bought ahead, lead time {} month(s)):",
            if md { "\n## Reservations\n\n" } else { "\n" },
            plan.lead_months
        );
        for r in &plan.reservations {
            let _ = writeln!(
                s,
                "{}{} × {}: {}-year term at {:.0}% off, bought month {}, used from month {}, {} per month{}",
                if md { "- " } else { "  " },
                r.instances,
                r.offering,
                r.term_years,
                r.discount * 100.0,
                r.bought_month,
                r.usable_from_month,
                usd(r.usd_per_month),
                if r.months_beyond_horizon > 0 {
                    format!(
                        " ({} more months after the horizon)",
                        r.months_beyond_horizon
                    )
                } else {
                    String::new()
                }
            );
        }
    }
}

/// What each rule costs over the horizon (`--rule-costs`).
fn rule_costs(s: &mut String, plan: &MonthlyPlan, md: bool) {
    if plan.rule_costs.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "{}what each rule costs (re-planned over time without it; 0 where the difference is within the gaps):",
        if md {
            "\n## What each rule costs\n\n"
        } else {
            "\n"
        },
    );
    for r in &plan.rule_costs {
        let _ = writeln!(
            s,
            "{}{}: {} over the horizon ({} a month)",
            if md { "- " } else { "  " },
            r.rule,
            usd(r.usd_per_month * f64::from(plan.months)),
            usd(r.usd_per_month)
        );
    }
}

/// Training runs resumed from their checkpoint on another placement (`restart:`).
fn restarts(s: &mut String, plan: &MonthlyPlan, md: bool) {
    if plan.by_month.iter().all(|m| m.restarts.is_empty()) {
        return;
    }
    let _ = writeln!(
        s,
        "{}training restarts (resumed from the checkpoint at the start of the {}; the overhead hours are in its bill):",
        if md {
            "\n## Training restarts\n\n"
        } else {
            "\n"
        },
        plan.period_word()
    );
    for m in &plan.by_month {
        for r in &m.restarts {
            let _ = writeln!(
                s,
                "{}{} {}: {} from {} to {} ({})",
                if md { "- " } else { "  " },
                plan.period_word(),
                m.month,
                r.workload,
                r.from,
                r.to,
                usd(r.usd)
            );
        }
    }
}

/// Capacity released from one month to the next and what `policy.migration_cost` says it costs.
fn migrations(s: &mut String, plan: &MonthlyPlan, md: bool) {
    if plan.migration_usd <= 0.0 {
        return;
    }
    let _ = writeln!(
        s,
        "{}capacity moved (released from a placement since the month before; policy.migration_cost):",
        if md { "\n## Capacity moved\n\n" } else { "\n" },
    );
    for m in plan.by_month.iter().filter(|m| !m.migrations.is_empty()) {
        let moves = m
            .migrations
            .iter()
            .map(|x| {
                format!(
                    "{}: {} × {}{} ({})",
                    x.workload,
                    x.instances,
                    x.offering,
                    if x.spot { " (spot)" } else { "" },
                    usd(x.usd)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            s,
            "{}{} {}: {moves}",
            if md { "- " } else { "  " },
            plan.period_word(),
            m.month
        );
    }
}

/// Each commitment over the horizon: owed, used, and what walking away costs.
fn commitments(s: &mut String, plan: &MonthlyPlan, md: bool) {
    if plan.commitments.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "{}commitments over the horizon:",
        if md { "\n## Commitments\n\n" } else { "\n" }
    );
    for c in &plan.commitments {
        let exit = match &c.exit_cost_after_period {
            Some(costs) if !costs.is_empty() => {
                let mid = costs.len() / 2;
                format!(
                    "; walking away after {} 1 costs {}, after {} {} costs {}",
                    plan.period_word(),
                    usd(costs[0]),
                    plan.period_word(),
                    mid + 1,
                    usd(costs[mid])
                )
            }
            _ => "; no early-exit terms stated".to_owned(),
        };
        let _ = writeln!(
            s,
            "{}{}: {} owed, {:.1}% used, {} unspent{exit}",
            if md { "- " } else { "  " },
            c.provider,
            usd(c.owed_usd),
            c.utilization * 100.0,
            usd(c.shortfall_usd),
        );
    }
}
