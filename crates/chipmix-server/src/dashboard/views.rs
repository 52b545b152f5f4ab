//! The dashboard's HTML: pages and the fragments htmx swaps in. Everything a user or a stored
//! document provides goes through maud's escaping; the only markup inserted unescaped is the
//! SVG that `chipmix-charts` draws (plotters escapes every text and attribute it writes).

use super::{Diag, HTMX_VERSION};
use crate::db::{Caller, JobRow, PlanRow, PortfolioSummary, VersionMeta, rfc3339};
use chipmix_charts::Bar;
use chipmix_plan::Plan;
use chipmix_plan::multiperiod::MonthlyPlan;
pub use chipmix_plan::plan::usd;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// htmx settings: no `eval`, no injected `<style>` (the CSP allows no inline styles; the
/// stylesheet has the indicator rules), and error responses are swapped too, because every
/// dashboard response, 4xx and 5xx included, is a fragment made for its target.
const HTMX_CONFIG: &str = r#"{"allowEval":false,"includeIndicatorStyles":false,"selfRequestsOnly":true,"historyCacheSize":0,"responseHandling":[{"code":"204","swap":false},{"code":"...","swap":true}]}"#;

// ------------------------------------------------------------------------------------------
// Formatting

/// `12.3%` from a fraction.
pub fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", v * 100.0)
    } else {
        "n/a".into()
    }
}

/// A USD amount with its sign, for deltas.
pub fn usd_delta(v: f64) -> String {
    if v > 0.0 {
        format!("+{}", usd(v))
    } else {
        usd(v)
    }
}

fn when(ms: i64) -> String {
    rfc3339(ms)
}

/// A job's or plan's status as a coloured badge.
pub fn badge(status: &str) -> Markup {
    html! { span class={ "badge " (status) } { (status) } }
}

// ------------------------------------------------------------------------------------------
// Layout

/// A whole page: header with the signed-in token, the content, the embedded assets.
pub fn page(title: &str, caller: Option<&Caller>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(HTMX_CONFIG);
                title { (title) " · chipmix" }
                link rel="stylesheet" href={ "/assets/dashboard.css?v=" (env!("CARGO_PKG_VERSION")) };
                script src={ "/assets/htmx.min.js?v=" (HTMX_VERSION) } defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "chipmix" }
                    @if caller.is_some() {
                        a href="/" { "Portfolios" }
                    }
                    @if let Some(c) = caller {
                        span.who #who { "signed in as " strong { (c.name) } " (" (c.role) ")" }
                        form method="post" action="/logout" {
                            button #logout type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// An error as a fragment: the message and, where the API gave them, the located diagnostics
/// or the reasons (an infeasible plan).
pub fn error_box(message: &str, diags: &[Diag], reasons: &[String]) -> Markup {
    html! {
        div.error-box role="alert" {
            strong.error-message { (message) }
            @if !reasons.is_empty() {
                ul.reasons { @for r in reasons { li { (r) } } }
            }
            @if !diags.is_empty() {
                (diagnostics_list(diags))
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Login

pub fn login_page(next: &str, error: Option<&str>) -> Markup {
    page(
        "Sign in",
        None,
        html! {
            section.card.login {
                h1 { "Sign in" }
                p.muted {
                    "Paste an API token (" code { "chipmix token create --name NAME --role editor" }
                    "). It is kept in an HttpOnly cookie for this browser and checked on every request, "
                    "with the same roles as the API: viewer reads, editor writes."
                }
                @if let Some(e) = error {
                    div.notice.error #login-error role="alert" { (e) }
                }
                form #login-form method="post" action="/login" .stack {
                    input type="hidden" name="next" value=(next);
                    div.field {
                        label for="token" { "API token" }
                        input #token type="password" name="token" autocomplete="off" required autofocus placeholder="cmx_…";
                    }
                    button #login-submit type="submit" { "Sign in" }
                }
            }
        },
    )
}

// ------------------------------------------------------------------------------------------
// The YAML editor

/// What an editor shows: the text, and the diagnostics of its last check.
pub struct EditorState<'a> {
    pub text: &'a str,
    pub diags: &'a [Diag],
    /// A message above the diagnostics (the API's error sentence).
    pub message: Option<&'a str>,
}

/// A textarea with line numbers beside it; lines with diagnostics are marked in the gutter
/// (with the message as a tooltip) and highlighted behind the text, and every diagnostic is
/// listed below with `line:column`, field path and message.
pub fn editor(id: &str, name: &str, state: &EditorState<'_>) -> Markup {
    let lines: Vec<&str> = state.text.split('\n').collect();
    let marks = |n: usize| -> Option<(&'static str, String)> {
        let on_line: Vec<&Diag> = state
            .diags
            .iter()
            .filter(|d| d.line as usize == n)
            .collect();
        if on_line.is_empty() {
            return None;
        }
        let class = if on_line.iter().any(|d| d.severity == "error") {
            "error"
        } else {
            "warning"
        };
        let title = on_line
            .iter()
            .map(|d| format!("{}:{} {}: {}", d.line, d.column, d.path, d.message))
            .collect::<Vec<_>>()
            .join("\n");
        Some((class, title))
    };
    html! {
        div.editor {
            pre.gutter aria-hidden="true" {
                @for n in 1..=lines.len() {
                    @match marks(n) {
                        Some((class, title)) => { span class=(class) id={ (id) "-L" (n) } title=(title) data-line=(n) { (n) } }
                        None => { span { (n) } }
                    }
                }
            }
            div.code {
                pre.backdrop aria-hidden="true" {
                    @for (i, line) in lines.iter().enumerate() {
                        @match marks(i + 1) {
                            Some((class, _)) => { span class=(class) { (line) " " } }
                            None => { span { (line) " " } }
                        }
                    }
                }
                textarea #(id) name=(name) rows=(lines.len().max(12) + 1) wrap="off" spellcheck="false"
                    autocapitalize="off" autocomplete="off" aria-label="portfolio YAML" {
                    // The parser drops one newline right after `<textarea>`: this one, so that
                    // a text starting with a blank line keeps it.
                    "\n" (state.text)
                }
            }
        }
        @if let Some(m) = state.message {
            div.notice.error.validation-message role="alert" { (m) }
        }
        @if !state.diags.is_empty() {
            (diagnostics_list(state.diags))
        }
    }
}

/// Each diagnostic as `line:column  path  message`, errors first as the API orders them.
pub fn diagnostics_list(diags: &[Diag]) -> Markup {
    html! {
        ol.diagnostics #diagnostics {
            @for d in diags {
                li class={ "diagnostic " (d.severity) } data-line=(d.line) {
                    span.loc { (d.line) ":" (d.column) }
                    @if !d.path.is_empty() { span.path { (d.path) } }
                    span.message { (d.message) }
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Portfolio list

/// The "new portfolio" form: a name and a YAML editor. After a failed create it comes back
/// with the text and the diagnostics in place (also for an uploaded file).
pub fn new_portfolio_form(name: &str, state: &EditorState<'_>) -> Markup {
    html! {
        form #new-portfolio-form method="post" action="/portfolios"
            hx-post="/portfolios" hx-target="#new-portfolio" hx-swap="innerHTML" .stack {
            div.field {
                label for="new-name" { "Name" }
                input #new-name type="text" name="name" value=(name) required
                    pattern="[A-Za-z0-9][A-Za-z0-9._-]{0,99}" placeholder="frontier-lab";
            }
            (editor("new-yaml", "yaml", state))
            button #new-submit type="submit" { "Create portfolio" }
        }
    }
}

/// What the new-portfolio editor starts with: a small valid portfolio to edit.
pub const NEW_PORTFOLIO_TEMPLATE: &str = "name: my-portfolio\nworkloads:\n  - name: chat\n    kind: inference\n    model: llama-3-8b\n    peak_requests_per_s: 100\n    prompt_tokens: 1000\n    output_tokens: 200\n    slo: { ttft_ms: 1000, tpot_ms: 50 }\n    software: [cuda, neuron]\npolicy:\n  max_vendor_share: 0.8\n";

pub fn index_page(
    caller: &Caller,
    portfolios: &[PortfolioSummary],
    new_form: Option<Markup>,
) -> Markup {
    let editor_role = caller.role >= crate::Role::Editor;
    page(
        "Portfolios",
        Some(caller),
        html! {
            h1 { "Portfolios" }
            section.card {
                @if portfolios.is_empty() {
                    p.muted #no-portfolios { "No portfolios yet." }
                } @else {
                    table #portfolios {
                        thead { tr { th { "name" } th.num { "latest version" } th { "updated" } th { "by" } } }
                        tbody {
                            @for p in portfolios {
                                tr data-name=(p.name) {
                                    td { a href={ "/portfolios/" (p.name) } { (p.name) } }
                                    td.num { (p.latest_version) }
                                    td { (p.updated_at) }
                                    td { (p.updated_by) }
                                }
                            }
                        }
                    }
                }
            }
            @if editor_role {
                div.grid2 {
                    section.card #upload {
                        h2 { "Upload a portfolio file" }
                        form #upload-form method="post" action="/portfolios" enctype="multipart/form-data"
                            hx-post="/portfolios" hx-encoding="multipart/form-data"
                            hx-target="#new-portfolio" hx-swap="innerHTML" .stack {
                            div.field {
                                label for="upload-name" { "Name (default: the file's name)" }
                                input #upload-name type="text" name="name"
                                    pattern="[A-Za-z0-9][A-Za-z0-9._-]{0,99}" placeholder="frontier-lab";
                            }
                            div.field {
                                label for="upload-file" { "YAML file" }
                                input #upload-file type="file" name="file" accept=".yaml,.yml,text/yaml" required;
                            }
                            button #upload-submit type="submit" { "Upload" }
                            p.small.muted { "Errors in the file are shown in the editor of the new-portfolio form, where they can be fixed." }
                        }
                    }
                    section.card {
                        h2 { "New portfolio" }
                        div #new-portfolio {
                            @match new_form {
                                Some(f) => { (f) }
                                None => { (new_portfolio_form("", &EditorState { text: NEW_PORTFOLIO_TEMPLATE, diags: &[], message: None })) }
                            }
                        }
                    }
                }
            } @else {
                p.muted { "Your token has the viewer role: you can read everything but not change it." }
            }
        },
    )
}

// ------------------------------------------------------------------------------------------
// Portfolio page

pub struct PortfolioView<'a> {
    pub name: &'a str,
    pub version: i64,
    pub latest: i64,
    pub yaml: &'a str,
    pub created_at: i64,
    pub created_by: &'a str,
    pub versions: &'a [VersionMeta],
    pub plans: &'a [PlanRow],
    /// The displayed version checked against the catalog in force now.
    pub diags: &'a [Diag],
    pub saved: Option<i64>,
    pub scenarios: &'a [(String, String)],
    /// The portfolio has a `horizon:`: plans and analyses are over time.
    pub over_time: bool,
}

pub fn portfolio_page(caller: &Caller, v: &PortfolioView<'_>) -> Markup {
    let editor_role = caller.role >= crate::Role::Editor;
    let base = format!("/portfolios/{}", v.name);
    page(
        v.name,
        Some(caller),
        html! {
            h1 { "Portfolio " span #portfolio-name { (v.name) } " " span.muted { "version " (v.version) } }
            @if let Some(n) = v.saved {
                div.notice.ok #saved role="status" { "Saved version " (n) "." }
            }
            @if v.version != v.latest {
                div.notice.warning { "This is version " (v.version) "; the latest is " a href=(base) { (v.latest) } "." }
            }
            div.grid2 {
                section.card #editor-card {
                    h2 { "YAML" }
                    p.small.muted { "Version " (v.version) ", saved " (when(v.created_at)) " by " (v.created_by) ". Saving stores a new version; the file is checked first, and nothing is stored while it has errors." }
                    form #portfolio-form method="post" action=(base) hx-post=(base) hx-target="#editor" hx-swap="innerHTML" .stack {
                        div #editor {
                            (editor("yaml", "yaml", &EditorState {
                                text: v.yaml,
                                diags: v.diags,
                                message: v.diags.iter().any(|d| d.severity == "error").then_some(
                                    "This text has errors against the catalog in force: plans and analyses of it will fail until it is fixed.",
                                ),
                            }))
                        }
                        @if editor_role {
                            button #save type="submit" { "Save as new version" }
                        }
                    }
                }
                div {
                    section.card #run {
                        h2 { "Plan" }
                        @if editor_role {
                            form #plan-form method="post" action={ (base) "/plans" } hx-post={ (base) "/plans" }
                                hx-target="#plan-result" hx-swap="innerHTML" hx-indicator="#plan-spinner"
                                hx-disabled-elt="#run-plan" .inline {
                                input type="hidden" name="version" value=(v.version);
                                button #run-plan type="submit" { "Run plan (version " (v.version) ")" }
                                span.htmx-indicator.spinner #plan-spinner { "solving…" }
                            }
                        }
                        div #plan-result {}
                        @if v.plans.is_empty() {
                            p.muted #no-plans { "No plans yet." }
                        } @else {
                            table #plans {
                                thead { tr { th { "plan" } th.num { "version" } th { "status" } th.num { "USD/month" } th { "made" } } }
                                tbody {
                                    @for p in v.plans {
                                        tr {
                                            td { a href={ "/plans/" (p.id) } { "#" (p.id) } }
                                            td.num { (p.portfolio_version) }
                                            td { (badge(&p.status)) }
                                            td.num { (usd(p.objective_usd_per_month))
                                                @if let Some(m) = p.horizon_months { br; span.small.muted { "average over " (m) " months" } } }
                                            td.small { (when(p.created_at)) " by " (p.created_by) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if editor_role {
                        section.card #risk {
                            h2 { "Risk analyses" }
                            p.small.muted { "Each runs in the background on version " (v.version) "; its page shows progress and then the result." }
                            (job_form(&base, v.version, "leverage", html! {
                                label { input type="checkbox" name="break_even" value="true" checked[!v.over_time]; " break-even price rises"
                                    @if v.over_time { span.small.muted { " (off by default: each step is a plan over time)" } } }
                            }, "Leverage"))
                            (job_form(&base, v.version, "stress", html! {
                                label for="scenario" { "scenario" }
                                select #scenario name="scenario" {
                                    @for (name, description) in v.scenarios {
                                        option value=(name) title=(description) { (name) }
                                    }
                                }
                                label { input type="checkbox" name="fixed_plan" value="true"; " today's plan only" }
                            }, "Stress"))
                            (job_form(&base, v.version, "montecarlo", html! {
                                label for="samples" { "samples" }
                                input #samples type="number" name="samples" value="2000" min="1" max="10000000";
                                label for="replan" { "re-planned" }
                                input #replan type="number" name="replan" value="20" min="0" max="100000";
                                label for="seed" { "seed" }
                                input #seed type="number" name="seed" value="42" min="0";
                            }, "Monte Carlo"))
                            div #job-result {}
                        }
                    }
                    section.card #versions {
                        h2 { "Versions" }
                        table #version-list {
                            thead { tr { th.num { "version" } th { "saved" } th { "by" } th.num { "chars" } } }
                            tbody {
                                @for m in v.versions.iter().rev() {
                                    tr class=[(m.version == v.version).then_some("current")] {
                                        td.num { a href={ (base) "?version=" (m.version) } { (m.version) } }
                                        td { (m.created_at) }
                                        td { (m.created_by) }
                                        td.num { (m.yaml_chars) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn job_form(base: &str, version: i64, kind: &str, fields: Markup, label: &str) -> Markup {
    let url = format!("{base}/jobs");
    html! {
        form.inline.job-form id={ "job-" (kind) } method="post" action=(url) hx-post=(url)
            hx-target="#job-result" hx-swap="innerHTML" {
            input type="hidden" name="kind" value=(kind);
            input type="hidden" name="version" value=(version);
            button id={ "start-" (kind) } type="submit" { (label) }
            (fields)
        }
    }
}

// ------------------------------------------------------------------------------------------
// Plan page

/// The charts of a plan, drawn in Rust (`chipmix-charts`) before rendering.
pub struct PlanCharts {
    pub by_vendor: String,
    pub by_provider: String,
    pub by_chip: String,
    pub shares: String,
}

pub fn plan_charts(plan: &Plan, cap: Option<f64>) -> PlanCharts {
    let bars = |m: &std::collections::BTreeMap<String, f64>| -> Vec<Bar> {
        m.iter()
            .map(|(k, v)| Bar {
                label: k.clone(),
                value: *v,
            })
            .collect()
    };
    let money = |v: f64| usd(v);
    let mut shares = bars(&plan.vendor_shares);
    if let Some(c) = cap {
        shares.push(Bar {
            label: "cap (max_vendor_share)".into(),
            value: c,
        });
    }
    PlanCharts {
        by_vendor: chipmix_charts::bar_chart_svg(
            "Spend by vendor",
            "USD per month",
            &bars(&plan.spend_by_vendor),
            &money,
        ),
        by_provider: chipmix_charts::bar_chart_svg(
            "Spend by provider",
            "USD per month",
            &bars(&plan.spend_by_provider),
            &money,
        ),
        by_chip: chipmix_charts::bar_chart_svg(
            "Spend by chip",
            "USD per month",
            &bars(&plan.spend_by_chip),
            &money,
        ),
        shares: chipmix_charts::bar_chart_svg(
            &match cap {
                Some(c) => format!(
                    "Vendor shares ({}) against the {} cap",
                    plan.share_basis,
                    pct(c)
                ),
                None => format!("Vendor shares ({}); no cap set", plan.share_basis),
            },
            "share",
            &shares,
            &|v| pct(v),
        ),
    }
}

fn chart(id: &str, svg: &str) -> Markup {
    html! { div.chart id=(id) { (PreEscaped(svg)) } }
}

pub fn plan_page(
    caller: &Caller,
    row: &PlanRow,
    plan: &Plan,
    cap: Option<f64>,
    charts: &PlanCharts,
) -> Markup {
    let portfolio_url = format!("/portfolios/{}", row.portfolio);
    page(
        &format!("Plan {}", row.id),
        Some(caller),
        html! {
            h1 {
                "Plan " span #plan-id { (row.id) } " · "
                a href={ (portfolio_url) "?version=" (row.portfolio_version) } { (row.portfolio) } " "
                span.muted { "version " (row.portfolio_version) }
            }
            section.card #plan-summary {
                dl.facts {
                    dt { "cost per month" } dd #plan-cost { strong { (usd(plan.objective_usd_per_month)) } " (spend after discounts, plus commitment shortfalls, minus credits)" }
                    dt { "status" } dd { (badge(plan.status.as_str())) " proven bound " (usd(plan.bound_usd_per_month)) ", gap " (format!("{:.3}%", plan.gap * 100.0)) ", solved in " (format!("{:.2}", plan.solve_seconds)) " s" }
                    dt { "spend per month" } dd { (usd(plan.spend_usd_per_month)) }
                    dt { "horizon" } dd { (plan.horizon_months) " months" }
                    dt { "concentration" } dd { "HHI " (format!("{:.3}", plan.hhi)) " on " (plan.share_basis) }
                    dt { "model" } dd { (plan.candidates) " candidates, " (plan.variables) " variables, " (plan.constraints) " constraints" }
                    dt { "catalog" } dd.mono { (row.catalog_sha256.get(..16).unwrap_or(&row.catalog_sha256)) "…" @if let Some(v) = row.catalog_override_version { " (override version " (v) ")" } }
                    dt { "made" } dd { (when(row.created_at)) " by " (row.created_by) }
                    dt { "export" } dd #exports {
                        a #export-kueue href={ "/plans/" (row.id) "/export/kueue" } { "Kueue (JSON)" } " · "
                        a #export-skypilot href={ "/plans/" (row.id) "/export/skypilot" } { "SkyPilot (JSON)" }
                    }
                }
                @if !plan.warnings.is_empty() {
                    details #plan-warnings {
                        summary { (plan.warnings.len()) " warning" @if plan.warnings.len() != 1 { "s" } " (estimated figures, unconfirmed prices, capacity bought beyond demand…)" }
                        ul { @for w in &plan.warnings { li { (w) } } }
                    }
                }
            }
            (allocations_table(plan))
            div.grid2 {
                section.card { h2 { "Spend by vendor" } (chart("spend-by-vendor", &charts.by_vendor)) }
                section.card {
                    h2 { "Vendor shares" }
                    (chart("vendor-shares", &charts.shares))
                    table #vendor-share-table {
                        thead { tr { th { "vendor" } th.num { "share" } th.num { "cap" } th.num { "headroom" } } }
                        tbody {
                            @for (v, s) in &plan.vendor_shares {
                                tr {
                                    td { (v) }
                                    td.num { (pct(*s)) }
                                    td.num { @match cap { Some(c) => { (pct(c)) } None => { "—" } } }
                                    td.num { @match cap { Some(c) => { (pct(c - s)) } None => { "—" } } }
                                }
                            }
                        }
                    }
                }
                section.card { h2 { "Spend by provider" } (chart("spend-by-provider", &charts.by_provider)) }
                section.card { h2 { "Spend by chip" } (chart("spend-by-chip", &charts.by_chip)) }
            }
            (services_and_contracts(plan))
            (constraints_rules_and_baselines(plan))
        },
    )
}

/// A plan's allocations with their totals.
fn allocations_table(plan: &Plan) -> Markup {
    let total_instances: u64 = plan.allocations.iter().map(|a| a.instances as u64).sum();
    let total_chips: u64 = plan.allocations.iter().map(|a| a.chips as u64).sum();
    let total_usd: f64 = plan.allocations.iter().map(|a| a.usd_per_month).sum();
    html! {
    section.card {
        h2 { "Allocations" }
        table #allocations {
            thead { tr {
                th { "workload" } th { "offering" } th { "chip" } th { "vendor" }
                th.num { "instances" } th.num { "chips" } th.num { "USD/month" } th { "configuration" }
            } }
            tbody {
                @for a in &plan.allocations {
                    tr.allocation data-workload=(a.workload) {
                        td.workload { (a.workload) }
                        td { (a.offering) @if a.spot { " (spot)" } }
                        td { (a.chip) }
                        td { (a.vendor) }
                        td.num { (a.instances) }
                        td.num { (a.chips) }
                        td.num { (usd(a.usd_per_month)) }
                        td.small { (a.layout()) @if let Some(c) = &a.commitment { br; span.muted { "discount " (pct(a.discount)) " (" (c) ")" } } }
                    }
                }
            }
            tfoot { tr #allocation-totals {
                td colspan="4" { "total" }
                td.num { (total_instances) }
                td.num { (total_chips) }
                td.num { (usd(total_usd)) }
                td {}
            } }
        }
    }
    }
}

/// What each inference service is provisioned, and how each contract settles.
fn services_and_contracts(plan: &Plan) -> Markup {
    html! {
    @if !plan.services.is_empty() {
        section.card {
            h2 { "Inference services" }
            table #services {
                thead { tr { th { "service" } th.num { "needed req/s" } th.num { "provisioned req/s" } th { "by vendor" } } }
                tbody {
                    @for s in &plan.services {
                        tr {
                            td { (s.workload) }
                            td.num { (format!("{:.1}", s.needed_requests_per_s)) }
                            td.num { (format!("{:.1}", s.provisioned_requests_per_s)) }
                            td.small { (s.requests_per_s_by_vendor.iter().map(|(v, r)| format!("{v} {r:.1}")).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
        }
    }
    @if !plan.contracts.is_empty() {
        section.card {
            h2 { "Contracts" }
            table #contracts {
                thead { tr { th { "kind" } th { "provider" } th.num { "amount" } th.num { "spend/month" } th.num { "shortfall/month" } th.num { "credits used/month" } } }
                tbody {
                    @for c in &plan.contracts {
                        tr {
                            td { (c.kind) } td { (c.provider) }
                            td.num { (usd(c.amount_usd)) }
                            td.num { (usd(c.spend_usd_per_month)) }
                            td.num { (usd(c.shortfall_usd_per_month)) }
                            td.num { (usd(c.credits_used_usd_per_month)) }
                        }
                    }
                }
            }
        }
    }
    }
}

/// The binding constraints with their shadow prices, what each rule costs, the baselines.
fn constraints_rules_and_baselines(plan: &Plan) -> Markup {
    html! {
    div.grid2 {
        section.card {
            h2 { "Binding constraints" }
            p.small.muted { "Constraints that bind in the LP relaxation, with their shadow prices: what one more unit of each would save (or cost) per month." }
            @if plan.binding_constraints.is_empty() {
                p.muted { "None." }
            } @else {
                table #binding-constraints {
                    thead { tr { th { "constraint" } th.num { "shadow price" } th { "meaning" } } }
                    tbody {
                        @for b in &plan.binding_constraints {
                            tr { td.mono { (b.constraint) } td.num { (format!("{:.4}", b.shadow_price)) } td.small { (b.meaning) } }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "What the rules cost" }
            @if plan.rule_costs.is_empty() {
                p.muted { "Not priced (plan made without analysis)." }
            } @else {
                table #rule-costs {
                    thead { tr { th { "rule" } th.num { "USD/month" } } }
                    tbody { @for r in &plan.rule_costs { tr { td { (r.rule) } td.num { (usd_delta(r.usd_per_month)) } } } }
                }
            }
            h2 { "Baselines" }
            @if plan.baselines.is_empty() {
                p.muted { "None computed." }
            } @else {
                table #baselines {
                    thead { tr { th { "baseline" } th.num { "USD/month" } th.num { "vs plan" } th { "note" } } }
                    tbody {
                        @for b in &plan.baselines {
                            tr {
                                td { (b.name) }
                                @match b.usd_per_month {
                                    Some(c) => {
                                        td.num { (usd(c)) }
                                        td.num { @if plan.objective_usd_per_month > 0.0 { (format!("{:+.1}%", (c / plan.objective_usd_per_month - 1.0) * 100.0)) } }
                                    }
                                    None => { td.num { "not possible" } td {} }
                                }
                                td.small { (b.note) }
                            }
                        }
                    }
                }
            }
        }
    }
    }
}

// ------------------------------------------------------------------------------------------
// Plan over time

/// The charts of a plan over time: cost and vendor shares per period (the CLI's report draws
/// the same lines).
pub struct MonthCharts {
    pub cost: String,
    pub shares: String,
}

pub fn month_charts(plan: &MonthlyPlan) -> MonthCharts {
    let lines = |series: Vec<(String, Vec<(f64, f64)>)>| -> Vec<chipmix_charts::Series> {
        series
            .into_iter()
            .map(|(name, points)| chipmix_charts::Series { name, points })
            .collect()
    };
    let word = plan.period_word();
    MonthCharts {
        cost: chipmix_charts::line_chart_svg(
            &format!("Cost per {word}"),
            word,
            "USD",
            &lines(plan.cost_series()),
            &|v| usd(v),
        ),
        shares: chipmix_charts::line_chart_svg(
            &format!("Vendor share of spend per {word}"),
            word,
            "% of spend",
            &lines(plan.vendor_share_series()),
            &|v| format!("{v:.0}%"),
        ),
    }
}

/// Export links for one period's fleet: a GET form per format, the period chosen by number.
fn period_exports(row: &PlanRow, periods: usize, word: &str) -> Markup {
    html! {
        @for (format, label) in [("kueue", "Kueue (JSON)"), ("skypilot", "SkyPilot (JSON)")] {
            form.inline method="get" action={ "/plans/" (row.id) "/export/" (format) } {
                label { (word) " " input type="number" name="period" min="1" max=(periods) value="1" required; }
                " " button type="submit" id={ "export-" (format) } { (label) }
            }
        }
    }
}

fn period_table(plan: &MonthlyPlan, vendors: &[&String]) -> Markup {
    html! {
        table #periods {
            thead { tr {
                th { (plan.period_word()) } th.num { "first month" } th.num { "cost" } th.num { "on-demand" }
                th.num { "spot" } th.num { "reserved" } th.num { "shortfall" } th.num { "credits" } th.num { "migration" }
                @for v in vendors { th.num { (v) } }
            } }
            tbody {
                @for m in &plan.by_month {
                    tr.period data-period=(m.month) {
                        td { (m.month) } td.num { (m.first_month) }
                        td.num { (usd(m.cost_usd)) } td.num { (usd(m.on_demand_usd)) } td.num { (usd(m.spot_usd)) }
                        td.num { (usd(m.reserved_usd)) } td.num { (usd(m.shortfall_usd)) } td.num { (usd(-m.credits_usd)) }
                        td.num { (usd(m.migration_usd)) }
                        @for v in vendors {
                            td.num { (usd(m.spend_by_vendor.get(*v).copied().unwrap_or(0.0))) }
                        }
                    }
                }
            }
        }
    }
}

/// What each period holds, one collapsible table per period.
fn period_allocations(plan: &MonthlyPlan) -> Markup {
    html! {
        @for m in &plan.by_month {
            details.period-allocations data-period=(m.month) {
                summary { (plan.period_word()) " " (m.month) ": " (m.allocations.len()) " placements, " (usd(m.cost_usd))
                    @if !m.migrations.is_empty() { ", " (m.migrations.len()) " migration(s) costing " (usd(m.migration_usd)) } }
                table {
                    thead { tr { th { "workload" } th { "offering" } th { "chip" } th { "vendor" } th.num { "instances" } th.num { "chips" } th.num { "busy" } } }
                    tbody {
                        @for a in &m.allocations {
                            tr { td { (a.workload) } td { (a.offering) @if a.spot { " (spot)" } } td { (a.chip) } td { (a.vendor) }
                                td.num { (a.instances) } td.num { (a.chips) } td.num { (pct(a.busy_fraction)) } }
                        }
                    }
                }
                @if !m.migrations.is_empty() {
                    p.small { "Released since the previous " (plan.period_word()) ": "
                        (m.migrations.iter().map(|g| format!("{} × {} ({}) {}", g.instances, g.offering, g.workload, usd(g.usd))).collect::<Vec<_>>().join("; ")) }
                }
                @if !m.restarts.is_empty() {
                    p.small.restarts { "Training resumed from its checkpoint elsewhere: "
                        (m.restarts.iter().map(|r| format!("{} from {} to {} ({})", r.workload, r.from, r.to, usd(r.usd))).collect::<Vec<_>>().join("; ")) }
                }
            }
        }
    }
}

fn reservations_and_commitments(plan: &MonthlyPlan) -> Markup {
    html! {
        section.card {
            h2 { "Reservations to buy" }
            @if plan.reservations.is_empty() {
                p.muted { "None: on-demand and spot capacity is cheaper over this horizon." }
            } @else {
                table #reservations {
                    thead { tr { th { "offering" } th.num { "instances" } th.num { "term" } th.num { "discount" } th.num { "bought" } th.num { "used from" } th.num { "USD/month" } th.num { "months after the horizon" } } }
                    tbody {
                        @for r in &plan.reservations {
                            tr { td { (r.offering) } td.num { (r.instances) } td.num { (r.term_years) " y" } td.num { (pct(r.discount)) }
                                td.num { "month " (r.bought_month) } td.num { "month " (r.usable_from_month) }
                                td.num { (usd(r.usd_per_month)) } td.num { (r.months_beyond_horizon) } }
                        }
                    }
                }
            }
            @if !plan.commitments.is_empty() {
                h2 { "Commitments" }
                table #commitments {
                    thead { tr { th { "provider" } th.num { "owed" } th.num { "shortfall" } th.num { "utilization" } } }
                    tbody {
                        @for c in &plan.commitments {
                            tr { td { (c.provider) } td.num { (usd(c.owed_usd)) } td.num { (usd(c.shortfall_usd)) } td.num { (pct(c.utilization)) } }
                        }
                    }
                }
            }
        }
    }
}

pub fn months_page(
    caller: &Caller,
    row: &PlanRow,
    plan: &MonthlyPlan,
    charts: &MonthCharts,
) -> Markup {
    let portfolio_url = format!("/portfolios/{}", row.portfolio);
    let vendors: Vec<&String> = plan
        .by_month
        .iter()
        .flat_map(|m| m.spend_by_vendor.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let word = plan.period_word();
    page(
        &format!("Plan {}", row.id),
        Some(caller),
        html! {
            h1 {
                "Plan " span #plan-id { (row.id) } " · "
                a href={ (portfolio_url) "?version=" (row.portfolio_version) } { (row.portfolio) } " "
                span.muted { "version " (row.portfolio_version) ", over " (plan.months) " months" }
            }
            section.card #plan-summary {
                dl.facts {
                    dt { "cost over the horizon" } dd #plan-cost { strong { (usd(plan.objective_usd)) } " (" (usd(plan.objective_usd / f64::from(plan.months.max(1)))) " per month on average; reservation payments after the horizon and migrations included)" }
                    dt { "status" } dd { (badge(plan.status.as_str())) " proven bound " (usd(plan.bound_usd)) ", gap " (format!("{:.3}%", plan.gap * 100.0)) ", solved in " (format!("{:.2}", plan.solve_seconds)) " s, " (plan.method) }
                    dt { "periods" } dd { (plan.by_month.len()) " " (word) "s, reservations bought " (plan.lead_months) " month(s) ahead" }
                    dt { "on-demand only" } dd { @match plan.on_demand_only_usd {
                        Some(c) => { (usd(c)) " planned month by month without reservations: reservations save " (usd(c - plan.objective_usd)) }
                        None => { "not computed" }
                    } }
                    dt { "migrations" } dd { (usd(plan.migration_usd)) " moving capacity between " (word) "s" }
                    dt { "after the horizon" } dd { (usd(plan.committed_after_horizon_usd)) " of reservation payments" }
                    dt { "catalog" } dd.mono { (row.catalog_sha256.get(..16).unwrap_or(&row.catalog_sha256)) "…" @if let Some(v) = row.catalog_override_version { " (override version " (v) ")" } }
                    dt { "made" } dd { (when(row.created_at)) " by " (row.created_by) }
                    dt { "export a " (word) "'s fleet" } dd #exports { (period_exports(row, plan.by_month.len(), word)) }
                }
                @if !plan.warnings.is_empty() {
                    details #plan-warnings {
                        summary { (plan.warnings.len()) " warning" @if plan.warnings.len() != 1 { "s" } }
                        ul { @for w in &plan.warnings { li { (w) } } }
                    }
                }
            }
            div.grid2 {
                section.card { h2 { "Cost per " (word) } (chart("cost-over-time", &charts.cost)) }
                section.card { h2 { "Vendor shares" } (chart("shares-over-time", &charts.shares)) }
            }
            section.card {
                h2 { "By " (word) }
                (period_table(plan, &vendors))
                (period_allocations(plan))
            }
            (reservations_and_commitments(plan))
        },
    )
}

// ------------------------------------------------------------------------------------------
// Job page

pub fn job_page(caller: &Caller, job: &JobRow, status: Markup) -> Markup {
    page(
        &format!("Job {}", job.id),
        Some(caller),
        html! {
            h1 {
                "Job " span #job-id { (job.id) } ": " span #job-kind { (job.kind) } " · "
                a href={ "/portfolios/" (job.portfolio) "?version=" (job.portfolio_version) } { (job.portfolio) }
                " " span.muted { "version " (job.portfolio_version) }
            }
            section.card {
                dl.facts {
                    dt { "started by" } dd { (job.created_by) ", " (when(job.created_at)) }
                    dt { "parameters" } dd.small #job-params {
                        @match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&job.params_json) {
                            Ok(params) => {
                                @for (k, v) in &params {
                                    span.param { code { (k) } " = " code { (v.to_string()) } }
                                }
                            }
                            Err(_) => { code { (job.params_json) } }
                        }
                    }
                }
            }
            (status)
        },
    )
}

/// The status block: polls itself every second while the job is queued or running (htmx
/// replaces it, so polling stops with the first finished answer), then shows the result.
pub fn job_status(caller: &Caller, job: &JobRow, result: Option<Markup>) -> Markup {
    let live = matches!(job.status.as_str(), "queued" | "running");
    let url = format!("/jobs/{}/status", job.id);
    html! {
        section.card #job-status data-status=(job.status)
            hx-get=[live.then_some(&url)] hx-trigger=[live.then_some("every 1s")] hx-swap=[live.then_some("outerHTML")] {
            h2 { "Status " (badge(&job.status)) }
            p {
                progress #job-progress max="1" value=(format!("{:.3}", job.progress)) {}
                " " span #job-percent { (format!("{:.0}%", job.progress * 100.0)) }
                " " span.small.muted { "updated " (when(job.updated_at)) }
            }
            @if live && caller.role >= crate::Role::Editor {
                button.secondary #cancel-job hx-post={ "/jobs/" (job.id) "/cancel" } hx-target="#job-status" hx-swap="outerHTML" { "Cancel" }
            }
            @if let Some(e) = &job.error {
                div.error-box #job-error role="alert" { (e) }
            }
            @if let Some(r) = result {
                div #job-result { (r) }
            }
        }
    }
}
