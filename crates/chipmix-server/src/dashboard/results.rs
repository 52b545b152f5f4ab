//! A finished job's result, rendered: the stored JSON report (as `chipmix <kind> --format
//! json` prints it) read field by field, so that a report from an older server still renders
//! whatever it has. Charts come from `chipmix-charts`.

use super::views::{pct, usd, usd_delta};
use chipmix_charts::{Bar, Series};
use maud::{Markup, PreEscaped, html};
use serde_json::Value;

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    list(v, key)
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn money(v: Option<f64>) -> String {
    v.map(usd).unwrap_or_else(|| "—".into())
}

fn share(v: Option<f64>) -> String {
    v.map(pct).unwrap_or_else(|| "—".into())
}

fn chart(id: &str, svg: &str) -> Markup {
    html! { div.chart id=(id) { (PreEscaped(svg)) } }
}

/// The result of a job of `kind`.
pub fn render(kind: &str, r: &Value) -> Markup {
    let body = match kind {
        "leverage" => leverage(r),
        "stress" => stress(r),
        "montecarlo" => montecarlo(r),
        "sweep" => sweep(r),
        _ => raw(r),
    };
    html! {
        @if let Some(note) = r.get("note").and_then(Value::as_str) { p.note #result-note { "Note: " (note) } }
        @if let Some(m) = r.get("horizon_months").and_then(Value::as_u64) {
            p.note #result-horizon { "Every plan compared is planned month by month over the " (m) "-month horizon; amounts per month are each plan's total spread over its months." }
        }
        (body)
    }
}

fn raw(r: &Value) -> Markup {
    html! { pre.mono.small { (serde_json::to_string_pretty(r).unwrap_or_default()) } }
}

fn entity(row: &Value) -> (String, String) {
    let e = row.get("entity").unwrap_or(&Value::Null);
    (text(e, "kind").to_string(), text(e, "name").to_string())
}

fn leverage(r: &Value) -> Markup {
    let rows = list(r, "rows");
    let bars: Vec<Bar> = rows
        .iter()
        .filter_map(|row| {
            let (kind, name) = entity(row);
            num(&row["walk_away"], "delta_usd_per_month").map(|d| Bar {
                label: format!("{kind} {name}"),
                value: d,
            })
        })
        .collect();
    let svg = chipmix_charts::bar_chart_svg(
        "Cost of walking away",
        "USD per month over today's plan",
        &bars,
        &|v| usd(v),
    );
    html! {
        p { "Today's optimal plan costs " strong { (money(num(r, "base_cost_usd_per_month"))) } " per month. "
            "For each vendor and provider: the best plan without it (the cost of walking away — the other side's leverage), and how far its prices can rise before the optimal plan moves work away from it." }
        (chart("leverage-chart", &svg))
        table #leverage {
            thead { tr {
                th { "kind" } th { "name" } th.num { "spend/month" } th.num { "share" }
                th.num { "walk away: cost/month" } th.num { "delta" } th { "break-even price rise" } th { "notes" }
            } }
            tbody {
                @for row in rows {
                    @let (kind, name) = entity(row);
                    @let w = &row["walk_away"];
                    tr {
                        td { (kind) } td { (name) }
                        td.num { (money(num(row, "spend_usd_per_month"))) }
                        td.num { (share(num(row, "spend_share"))) }
                        td.num { (money(num(w, "cost_usd_per_month"))) }
                        td.num {
                            (num(w, "delta_usd_per_month").map(usd_delta).unwrap_or_else(|| "—".into()))
                            @if let Some(f) = num(w, "delta_fraction") { " (" (format!("{:+.1}%", f * 100.0)) ")" }
                        }
                        td {
                            @match row.get("break_even").filter(|b| !b.is_null()) {
                                None => { span.muted { "unused" } }
                                Some(b) => {
                                    @match num(b, "price_increase") {
                                        Some(p) => { "+" (format!("{:.0}%", p * 100.0)) }
                                        None => { "stays beyond +" (format!("{:.0}%", num(b, "searched_up_to").unwrap_or(0.0) * 100.0)) }
                                    }
                                }
                            }
                        }
                        td.small {
                            @if text(w, "delta_basis") == "diversity_rules_waived" { "rules waived. " }
                            @let breaks = strings(w, "breaks");
                            @if !breaks.is_empty() { "breaks: " (breaks.join(", ")) ". " }
                            @let why = strings(w, "infeasible");
                            @if !why.is_empty() { span.muted { (why.join("; ")) } }
                        }
                    }
                }
            }
        }
        p.small.muted { "Method: " (text(r, "method")) }
    }
}

fn target(t: &Value) -> String {
    match (text(t, "by"), text(t, "name")) {
        ("all", _) | ("", _) => "everything".into(),
        (by, name) => format!("{by} {name}"),
    }
}

fn stress(r: &Value) -> Markup {
    let sc = &r["scenario"];
    let fixed = &r["fixed_plan"];
    let replan = r.get("replan").filter(|v| !v.is_null());
    html! {
        h3 { "Scenario " code #stress-scenario { (text(sc, "name")) } }
        p { (text(sc, "description")) }
        ul #shocks {
            @for s in list(sc, "shocks") {
                li { (text(s, "kind")) " × " (num(s, "factor").unwrap_or(f64::NAN)) " on " (target(&s["target"])) }
            }
        }
        h3 { "Today's plan under the shock" }
        @if let Some(t) = r.get("worst_period").and_then(Value::as_u64) {
            p #stress-worst-period { "Period " (t) ", where the shock hurts most; peak demand unserved by period: "
                (list(r, "fixed_by_period").iter().enumerate().map(|(i, f)| format!("{}: {}", i + 1, pct(num(f, "unserved_fraction").unwrap_or(f64::NAN)))).collect::<Vec<_>>().join(", ")) }
        }
        dl.facts {
            dt { "cost per month" } dd { (money(num(fixed, "cost_usd_per_month"))) " (today " (money(num(r, "base_cost_usd_per_month"))) ")" }
            dt { "unserved peak demand" } dd #stress-unserved { (share(num(fixed, "unserved_fraction"))) }
        }
        @if !list(fixed, "services").is_empty() {
            table #stress-services {
                thead { tr { th { "service" } th.num { "peak req/s" } th.num { "served req/s" } th.num { "served" } th { "SLO" } } }
                tbody {
                    @for s in list(fixed, "services") {
                        tr {
                            td { (text(s, "workload")) }
                            td.num { (format!("{:.1}", num(s, "peak_requests_per_s").unwrap_or(f64::NAN))) }
                            td.num { (format!("{:.1}", num(s, "served_requests_per_s").unwrap_or(f64::NAN))) }
                            td.num { (share(num(s, "served_fraction"))) }
                            td { @if s["slo_holds"].as_bool() == Some(true) { "holds" } @else { strong { "breaks" } } }
                        }
                    }
                }
            }
        }
        @if !list(fixed, "training").is_empty() {
            table #stress-training {
                thead { tr { th { "training job" } th.num { "replicas" } th.num { "days" } th.num { "deadline" } th { "" } } }
                tbody {
                    @for t in list(fixed, "training") {
                        tr {
                            td { (text(t, "workload")) }
                            td.num { (num(t, "dp_after").unwrap_or(0.0)) " of " (num(t, "dp_before").unwrap_or(0.0)) }
                            td.num {
                                (format!("{:.1}", num(t, "days_before").unwrap_or(f64::NAN))) " → "
                                @match num(t, "days_after") { Some(d) => { (format!("{d:.1}")) } None => { "stops" } }
                            }
                            td.num { (format!("{:.0}", num(t, "deadline_days").unwrap_or(f64::NAN))) }
                            td { @if t["meets_deadline"].as_bool() == Some(true) { "meets it" } @else { strong { "misses it" } } }
                        }
                    }
                }
            }
        }
        @if let Some(rp) = replan {
            h3 { "Re-planned" }
            dl.facts #stress-replan {
                dt { "cost per month" } dd { (money(num(rp, "cost_usd_per_month"))) }
                @if let Some(c) = num(rp, "cost_rules_waived_usd_per_month") {
                    dt { "with diversity rules waived" } dd { (usd(c)) }
                }
                @let why = strings(rp, "infeasible");
                @if !why.is_empty() { dt { "no plan under the policy" } dd { (why.join("; ")) } }
            }
            @if let Some(shares) = rp.get("vendor_shares").and_then(Value::as_object).filter(|m| !m.is_empty()) {
                @let bars: Vec<Bar> = shares.iter().filter_map(|(k, v)| v.as_f64().map(|v| Bar { label: k.clone(), value: v })).collect();
                (chart("stress-shares", &chipmix_charts::bar_chart_svg("Vendor shares after re-planning", "share", &bars, &|v| pct(v))))
            }
        }
    }
}

fn distribution_row(label: &str, d: Option<&Value>, fmt: &dyn Fn(f64) -> String) -> Markup {
    html! {
        tr {
            td { (label) }
            @match d.filter(|d| !d.is_null()) {
                Some(d) => {
                    @for k in ["mean", "p50", "p95", "p99", "cvar95", "max"] {
                        td.num { (num(d, k).map(fmt).unwrap_or_else(|| "—".into())) }
                    }
                }
                None => { td colspan="6" { span.muted { "no feasible sample" } } }
            }
        }
    }
}

fn montecarlo(r: &Value) -> Markup {
    let fixed = &r["fixed_plan"];
    let replan = r.get("replan").filter(|v| !v.is_null());
    let samples = r.get("chart_samples").unwrap_or(&Value::Null);
    let unserved: Vec<f64> = list(samples, "unserved_fraction")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let costs: Vec<f64> = list(samples, "replan_cost_usd_per_month")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let fixed_n = num(fixed, "samples").unwrap_or(0.0) as usize;
    let unserved_svg = chipmix_charts::histogram_svg(
        "Unserved demand with today's plan after random supply shocks",
        "fraction of peak demand unserved",
        &unserved,
        20,
        &num(&fixed["unserved_fraction"], "p95")
            .map(|p| vec![("p95".to_string(), p)])
            .unwrap_or_default(),
        &|v| format!("{:.0}%", v * 100.0),
    );
    let cost_svg = replan.and_then(|rp| {
        let d = rp.get("cost_usd_per_month").filter(|d| !d.is_null())?;
        let mut markers = Vec::new();
        if let Some(b) = num(r, "base_cost_usd_per_month") {
            markers.push(("today".to_string(), b));
        }
        if let Some(p) = num(d, "p95") {
            markers.push(("p95".to_string(), p));
        }
        Some(chipmix_charts::histogram_svg(
            "Re-planned cost after random supply shocks",
            "USD per month",
            &costs,
            20,
            &markers,
            &|v| usd(v),
        ))
    });
    let by_period: Vec<String> = list(fixed, "mean_unserved_by_period")
        .iter()
        .enumerate()
        .map(|(t, u)| format!("{}: {}", t + 1, share(u.as_f64())))
        .collect();
    let m = &r["model"];
    html! {
        p {
            "Seed " (num(r, "seed").unwrap_or(0.0)) ": each vendor short (capacity × "
            (num(m, "vendor_shortage_factor").unwrap_or(f64::NAN)) ") with probability "
            (share(num(m, "vendor_shortage_probability"))) ", each region out with probability "
            (share(num(m, "region_outage_probability"))) " (correlation " (num(m, "region_correlation").unwrap_or(f64::NAN)) "). "
            "Today's plan costs " strong { (money(num(r, "base_cost_usd_per_month"))) } " per month."
        }
        dl.facts #montecarlo-summary {
            dt { "samples with today's plan" } dd { (fixed_n) }
            dt { "P(some service below half its peak)" } dd { (share(num(fixed, "probability_any_service_below_half"))) }
            dt { "P(a training job delayed)" } dd { (share(num(fixed, "probability_training_delayed"))) }
            @if !by_period.is_empty() {
                dt { "mean unserved demand by period (each period draws its own shocks)" }
                dd #montecarlo-by-period { (by_period.join(", ")) }
            }
            @if let Some(rp) = replan {
                dt { "samples re-planned" } dd { (num(rp, "samples").unwrap_or(0.0)) " (" (num(rp, "distinct_patterns").unwrap_or(0.0)) " distinct shock patterns)" }
                dt { "P(no plan meets the policy)" } dd { (share(num(rp, "probability_policy_infeasible"))) }
                dt { "P(no plan at all)" } dd { (share(num(rp, "probability_infeasible"))) }
            }
        }
        table #montecarlo-distribution {
            thead { tr { th { "" } th.num { "mean" } th.num { "p50" } th.num { "p95" } th.num { "p99" } th.num { "CVaR 95" } th.num { "max" } } }
            tbody {
                (distribution_row("unserved demand, today's plan", fixed.get("unserved_fraction"), &pct))
                @if let Some(rp) = replan {
                    (distribution_row("re-planned cost, USD/month", rp.get("cost_usd_per_month"), &usd))
                    (distribution_row("cost increase", rp.get("increase_fraction"), &pct))
                }
            }
        }
        @if !unserved.is_empty() {
            (chart("montecarlo-histogram", &unserved_svg))
            @if unserved.len() < fixed_n {
                p.small.muted { "Histogram of the first " (unserved.len()) " of " (fixed_n) " samples." }
            }
        }
        @if let Some(svg) = cost_svg {
            @if !costs.is_empty() { (chart("montecarlo-cost-histogram", &svg)) }
        }
        @if let Some(rp) = replan { p.small.muted { (text(rp, "how")) } }
    }
}

fn sweep(r: &Value) -> Markup {
    let points = list(r, "points");
    let series = vec![Series {
        name: "cost".into(),
        points: points
            .iter()
            .map(|p| {
                (
                    num(p, "value").unwrap_or(f64::NAN),
                    num(p, "cost_usd_per_month").unwrap_or(f64::NAN),
                )
            })
            .collect(),
    }];
    let param = text(r, "param");
    let svg = chipmix_charts::line_chart_svg(
        &format!("Optimal cost as {param} varies"),
        param,
        "USD per month",
        &series,
        &|v| usd(v),
    );
    html! {
        (chart("sweep-chart", &svg))
        table #sweep {
            thead { tr { th.num { (param) } th.num { "USD/month" } th.num { "HHI" } th { "vendor shares" } } }
            tbody {
                @for p in points {
                    tr {
                        td.num { (num(p, "value").unwrap_or(f64::NAN)) }
                        td.num { (money(num(p, "cost_usd_per_month"))) }
                        td.num { (num(p, "hhi").map(|h| format!("{h:.3}")).unwrap_or_else(|| "—".into())) }
                        td.small {
                            @if let Some(m) = p.get("vendor_shares").and_then(Value::as_object) {
                                (m.iter().map(|(k, v)| format!("{k} {}", share(v.as_f64()))).collect::<Vec<_>>().join(", "))
                            }
                            @let why = strings(p, "infeasible");
                            @if !why.is_empty() { span.muted { "infeasible: " (why.join("; ")) } }
                        }
                    }
                }
            }
        }
    }
}
