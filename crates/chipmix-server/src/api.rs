//! The HTTP handlers: each reads its input, calls the store or the libraries (through
//! `engine`), and maps the outcome to a status and JSON. CPU-heavy work (solves, exports,
//! analyses) runs on the blocking pool, never on the async runtime.

use crate::AppState;
use crate::auth::{Admin, Editor, Role, Viewer};
use crate::db::{self, NewJob, NewPlan, PlanRow, TokenInfo, VersionRow, rfc3339};
use crate::diff::{self, PlanDiff};
use crate::engine::{self, ExportFailure, ExportResponse, Located, SolveFailure, Solved};
use crate::error::{ApiError, ErrorBody, Json, Path, Query, Text};
use crate::jobs::{self, JobKind, JobSpec};
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use chipmix_catalog::Catalog;
use chipmix_plan::{Plan, PlanOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

type ApiResult<T> = Result<T, ApiError>;

/// Runs CPU-heavy work on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

fn invalid(message: &str, problems: Vec<Located>) -> ApiError {
    ApiError::unprocessable(message).with_details(json!({ "diagnostics": problems }))
}

/// Names appear in URLs, so they keep to a URL-safe alphabet.
fn check_name(name: &str) -> ApiResult<()> {
    let ok = (1..=100).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!(
            "invalid portfolio name `{name}`: 1 to 100 letters, digits, `-`, `_` or `.`, starting with a letter or digit"
        )))
    }
}

// ------------------------------------------------------------------------------------------
// Health, metrics, OpenAPI

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
}

/// Health: 200 while the process serves HTTP and its storage answers; 503 when the database
/// is unreachable or its SQLite file was deleted or replaced. No token needed.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, axum::Json<Health>) {
    match state.db.check_storage().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(Health {
                status: "ok".into(),
            }),
        ),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(Health {
                status: format!("storage unavailable: {why}"),
            }),
        ),
    }
}

/// Refuses every write (503) while the storage is gone, so nothing is acknowledged that a
/// restart would lose.
pub async fn storage_guard(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let reads = [Method::GET, Method::HEAD, Method::OPTIONS];
    if !reads.contains(req.method())
        && let Err(why) = state.db.check_file()
    {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    }
    next.run(req).await
}

/// Prometheus metrics (text format 0.0.4). No token needed.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let jobs = state.db.job_counts().await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&jobs, state.running.in_flight()),
    ))
}

/// This document. No token needed.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(crate::openapi::document())
}

pub async fn fallback() -> ApiError {
    ApiError::not_found("no such route; the routes are listed at /api/openapi.json")
}

// ------------------------------------------------------------------------------------------
// Catalog

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChipsResponse {
    /// The override version in force (none: the built-in catalog alone).
    pub override_version: Option<i64>,
    pub catalog_sha256: String,
    #[schema(value_type = Vec<Object>)]
    pub chips: Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OfferingsResponse {
    pub override_version: Option<i64>,
    pub catalog_sha256: String,
    #[schema(value_type = Vec<Object>)]
    pub offerings: Value,
}

/// The chips of the effective catalog (built-in plus the override in force).
#[utoipa::path(get, path = "/api/v1/catalog/chips", tag = "catalog",
    security(("bearer" = [])),
    responses((status = 200, body = ChipsResponse), (status = 401, body = ErrorBody)))]
pub async fn catalog_chips(
    _: Viewer,
    State(state): State<AppState>,
) -> ApiResult<axum::Json<ChipsResponse>> {
    let (row, catalog) = state.catalogs.latest(&state.db).await?;
    Ok(axum::Json(ChipsResponse {
        override_version: row.map(|r| r.version),
        catalog_sha256: engine::catalog_sha256(&catalog),
        chips: serde_json::to_value(catalog.chips()).map_err(ApiError::internal)?,
    }))
}

/// The offerings of the effective catalog (built-in plus the override in force).
#[utoipa::path(get, path = "/api/v1/catalog/offerings", tag = "catalog",
    security(("bearer" = [])),
    responses((status = 200, body = OfferingsResponse), (status = 401, body = ErrorBody)))]
pub async fn catalog_offerings(
    _: Viewer,
    State(state): State<AppState>,
) -> ApiResult<axum::Json<OfferingsResponse>> {
    let (row, catalog) = state.catalogs.latest(&state.db).await?;
    Ok(axum::Json(OfferingsResponse {
        override_version: row.map(|r| r.version),
        catalog_sha256: engine::catalog_sha256(&catalog),
        offerings: serde_json::to_value(catalog.offerings()).map_err(ApiError::internal)?,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OverrideVersion {
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    /// Rows of the override file (offerings changed or added).
    pub rows: usize,
    pub csv: String,
}

fn override_version(r: &db::OverrideRow) -> OverrideVersion {
    OverrideVersion {
        version: r.version,
        created_at: rfc3339(r.created_at),
        created_by: r.created_by.clone(),
        rows: r
            .csv
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .count(),
        csv: r.csv.clone(),
    }
}

/// Stores a new override file (CSV, as `chipmix --catalog` reads it). It replaces the one in
/// force; every later plan uses it. Checked against the built-in catalog first: any error
/// rejects the whole file.
#[utoipa::path(post, path = "/api/v1/catalog/overrides", tag = "catalog",
    security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = OverrideVersion),
        (status = 422, description = "The CSV has errors; `details.diagnostics` locates each", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn post_override(
    Editor(caller): Editor,
    State(state): State<AppState>,
    Text(csv): Text,
) -> ApiResult<(StatusCode, axum::Json<OverrideVersion>)> {
    let builtin = state.catalogs.builtin.clone();
    let checked = {
        let csv = csv.clone();
        blocking(move || engine::apply_override_csv(&builtin, "overrides.csv", &csv).map(|_| ()))
            .await?
    };
    if let Err(errors) = checked {
        return Err(invalid(
            "the override file has errors; nothing was stored",
            engine::located_data_errors(&errors),
        ));
    }
    let row = state.db.add_override(&csv, &caller.name).await?;
    Ok((StatusCode::CREATED, axum::Json(override_version(&row))))
}

/// Every stored override version, oldest first; the last one is in force.
#[utoipa::path(get, path = "/api/v1/catalog/overrides", tag = "catalog",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<OverrideVersion>), (status = 401, body = ErrorBody)))]
pub async fn list_overrides(
    _: Viewer,
    State(state): State<AppState>,
) -> ApiResult<axum::Json<Vec<OverrideVersion>>> {
    let rows = state.db.list_overrides().await?;
    Ok(axum::Json(rows.iter().map(override_version).collect()))
}

// ------------------------------------------------------------------------------------------
// Portfolios

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePortfolio {
    /// The portfolio's name in URLs: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The portfolio file, as `chipmix validate` reads it. Models are named by preset.
    pub yaml: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePortfolio {
    pub yaml: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PortfolioVersion {
    pub name: String,
    pub version: i64,
    pub yaml: String,
    pub created_at: String,
    pub created_by: String,
    /// Warnings found when this version was stored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Located>,
}

fn portfolio_version(v: VersionRow, warnings: Vec<Located>) -> PortfolioVersion {
    PortfolioVersion {
        name: v.portfolio,
        version: v.version,
        yaml: v.yaml,
        created_at: rfc3339(v.created_at),
        created_by: v.created_by,
        warnings,
    }
}

/// Validates a portfolio text against the catalog in force; the warnings on success.
async fn validate(state: &AppState, yaml: &str) -> ApiResult<Vec<Located>> {
    let (_, base) = state.catalogs.latest(&state.db).await?;
    let text = yaml.to_string();
    let parsed = blocking(move || {
        engine::parse_portfolio(&text, &base).and_then(|(p, warnings)| {
            // The portfolio's own offering overrides must apply too, or it cannot be planned.
            match p.effective_catalog(&base) {
                Ok(_) => Ok(warnings),
                Err(errors) => Err(errors
                    .iter()
                    .map(|e| chipmix_workload::Diagnostic {
                        severity: chipmix_workload::Severity::Error,
                        file: engine::PORTFOLIO_FILE.into(),
                        line: 0,
                        column: 0,
                        path: "offerings".into(),
                        message: e.to_string(),
                    })
                    .collect()),
            }
        })
    })
    .await?;
    match parsed {
        Ok(warnings) => Ok(engine::located_diagnostics(&warnings)),
        Err(errors) => Err(invalid(
            "the portfolio has errors; nothing was stored",
            engine::located_diagnostics(&errors),
        )),
    }
}

/// Creates a portfolio with its first version.
#[utoipa::path(post, path = "/api/v1/portfolios", tag = "portfolios",
    security(("bearer" = [])),
    request_body = CreatePortfolio,
    responses((status = 201, body = PortfolioVersion),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "The YAML has errors; `details.diagnostics` has line, column, path and message of each", body = ErrorBody)))]
pub async fn create_portfolio(
    Editor(caller): Editor,
    State(state): State<AppState>,
    Json(req): Json<CreatePortfolio>,
) -> ApiResult<(StatusCode, axum::Json<PortfolioVersion>)> {
    check_name(&req.name)?;
    let warnings = validate(&state, &req.yaml).await?;
    let row = state
        .db
        .create_portfolio(&req.name, &req.yaml, &caller.name)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(portfolio_version(row, warnings)),
    ))
}

/// Stores a new version of a portfolio (versions are immutable).
#[utoipa::path(put, path = "/api/v1/portfolios/{name}", tag = "portfolios",
    security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = UpdatePortfolio,
    responses((status = 201, body = PortfolioVersion), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_portfolio(
    Editor(caller): Editor,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(req): Json<UpdatePortfolio>,
) -> ApiResult<(StatusCode, axum::Json<PortfolioVersion>)> {
    let warnings = validate(&state, &req.yaml).await?;
    let row = state.db.add_version(&name, &req.yaml, &caller.name).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(portfolio_version(row, warnings)),
    ))
}

/// Every portfolio with its latest version.
#[utoipa::path(get, path = "/api/v1/portfolios", tag = "portfolios",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<db::PortfolioSummary>)))]
pub async fn list_portfolios(
    _: Viewer,
    State(state): State<AppState>,
) -> ApiResult<axum::Json<Vec<db::PortfolioSummary>>> {
    Ok(axum::Json(state.db.list_portfolios().await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// A stored version (default: the latest).
    pub version: Option<i64>,
}

/// A portfolio's latest version, or `?version=N`.
#[utoipa::path(get, path = "/api/v1/portfolios/{name}", tag = "portfolios",
    security(("bearer" = [])),
    params(("name" = String, Path), VersionQuery),
    responses((status = 200, body = PortfolioVersion), (status = 404, body = ErrorBody)))]
pub async fn get_portfolio(
    _: Viewer,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<axum::Json<PortfolioVersion>> {
    let row = state.db.get_version(&name, q.version).await?;
    Ok(axum::Json(portfolio_version(row, Vec::new())))
}

/// The versions of a portfolio, oldest first, without their text.
#[utoipa::path(get, path = "/api/v1/portfolios/{name}/versions", tag = "portfolios",
    security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = Vec<db::VersionMeta>), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    _: Viewer,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Vec<db::VersionMeta>>> {
    Ok(axum::Json(state.db.list_versions(&name).await?))
}

// ------------------------------------------------------------------------------------------
// Plans

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// The portfolio version to plan (default: the latest).
    pub version: Option<i64>,
    /// Stop the solver after this many seconds (capped by the server's limit).
    pub time_limit_s: Option<f64>,
    /// Stop when the proven relative gap is at most this (default 0.0001; 0.01 for a
    /// portfolio with a `horizon:`, planned period by period).
    pub gap: Option<f64>,
    /// Also solve the baselines and price each rule (default true; a few more solves).
    pub analysis: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PlanResponse {
    pub id: i64,
    pub portfolio: String,
    pub portfolio_version: i64,
    /// `optimal` or `time_limit`.
    pub status: String,
    /// Cost per month; for a plan over time, its total (reservation payments owed after the
    /// horizon included) spread over its months.
    pub objective_usd_per_month: f64,
    /// Months a plan over time covers (a portfolio with a `horizon:`); absent for a plan of
    /// one period. `plan` is then the plan by period (`by_month`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub horizon_months: Option<i64>,
    /// SHA-256 of the catalog the plan was made on (offerings and chips, as JSON).
    pub catalog_sha256: String,
    /// The override version in force when it was made (none: the built-in catalog).
    pub catalog_override_version: Option<i64>,
    pub created_at: String,
    pub created_by: String,
    /// The plan as `chipmix plan --format json` prints it; left out of lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub plan: Option<Box<serde_json::value::RawValue>>,
}

fn plan_response(row: &PlanRow, with_plan: bool) -> ApiResult<PlanResponse> {
    let plan = if with_plan {
        Some(
            // Stored as the planner wrote it: served without parsing it into a tree (most of a
            // read's cost before).
            serde_json::value::RawValue::from_string(row.plan_json.clone())
                .map_err(ApiError::internal)?,
        )
    } else {
        None
    };
    Ok(PlanResponse {
        id: row.id,
        portfolio: row.portfolio.clone(),
        portfolio_version: row.portfolio_version,
        status: row.status.clone(),
        objective_usd_per_month: row.objective_usd_per_month,
        horizon_months: row.horizon_months,
        catalog_sha256: row.catalog_sha256.clone(),
        catalog_override_version: row.catalog_override_version,
        created_at: rfc3339(row.created_at),
        created_by: row.created_by.clone(),
        plan,
    })
}

fn solve_error(state: &AppState, f: SolveFailure) -> ApiError {
    let (outcome, e) = match f {
        SolveFailure::BadOptions(m) => ("rejected", ApiError::unprocessable(m)),
        SolveFailure::Infeasible(reasons) => (
            "infeasible",
            ApiError::unprocessable("infeasible: no plan meets every constraint")
                .with_details(json!({ "reasons": reasons })),
        ),
        SolveFailure::NoSolution(m) => (
            "no_solution",
            ApiError::unprocessable(format!("no plan found: {m}"))
                .with_details(json!({ "reasons": [m] })),
        ),
        SolveFailure::Internal(m) => ("error", ApiError::internal(m)),
    };
    state.metrics.record_solve(outcome);
    e
}

/// Plans a portfolio version on the catalog in force, verifies the plan independently, and
/// stores it.
#[utoipa::path(post, path = "/api/v1/portfolios/{name}/plans", tag = "plans",
    security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = PlanRequest,
    responses((status = 201, body = PlanResponse),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Infeasible (`details.reasons`) or the portfolio no longer validates", body = ErrorBody)))]
pub async fn create_plan(
    Editor(caller): Editor,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(req): Json<PlanRequest>,
) -> ApiResult<(StatusCode, axum::Json<PlanResponse>)> {
    let version = state.db.get_version(&name, req.version).await?;
    let (override_row, base) = state.catalogs.latest(&state.db).await?;
    let max_s = state.config.solve_time_limit_s;
    let mut options = PlanOptions {
        time_limit_s: req.time_limit_s.unwrap_or(max_s).min(max_s),
        relative_gap: req.gap.unwrap_or(1e-4),
        analysis: req.analysis.unwrap_or(true),
        method: Default::default(),
    };
    engine::check_options(&options).map_err(ApiError::unprocessable)?;
    let _slot = state
        .plan_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let calibration = state.calibration.clone();
    let yaml = version.yaml.clone();
    let solved = blocking(move || {
        let (p, _) = engine::parse_portfolio(&yaml, &base).map_err(|ds| {
            invalid(
                "the portfolio version no longer validates against the catalog in force",
                engine::located_diagnostics(&ds),
            )
        })?;
        let catalog = engine::effective_catalog(&p, &base).map_err(|es| {
            invalid(
                "the portfolio's offering overrides do not apply to the catalog in force",
                es,
            )
        })?;
        let hash = engine::catalog_sha256(&catalog);
        options.relative_gap = req.gap.unwrap_or_else(|| chipmix_plan::default_gap(&p));
        Ok::<_, ApiError>((engine::solve(&p, &catalog, &calibration, &options), hash))
    })
    .await??;
    let (plan, hash) = match solved {
        (Ok(plan), hash) => (plan, hash),
        (Err(f), _) => return Err(solve_error(&state, f)),
    };
    state.metrics.record_solve(plan.status());
    let plan_json = plan.to_json().map_err(ApiError::internal)?;
    let horizon_months = plan.horizon_months().map(i64::from);
    let (id, created_at) = state
        .db
        .insert_plan(&NewPlan {
            portfolio_version_id: version.id,
            catalog_override_id: override_row.as_ref().map(|r| r.id),
            catalog_sha256: &hash,
            status: plan.status(),
            objective_usd_per_month: plan.objective_usd_per_month(),
            plan_json: &plan_json,
            created_by: &caller.name,
            horizon_months,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(PlanResponse {
            id,
            portfolio: version.portfolio,
            portfolio_version: version.version,
            status: plan.status().into(),
            objective_usd_per_month: plan.objective_usd_per_month(),
            horizon_months,
            catalog_sha256: hash,
            catalog_override_version: override_row.map(|r| r.version),
            created_at: rfc3339(created_at),
            created_by: caller.name,
            plan: Some(
                serde_json::value::RawValue::from_string(plan_json).map_err(ApiError::internal)?,
            ),
        }),
    ))
}

/// A stored plan with the full plan JSON.
#[utoipa::path(get, path = "/api/v1/plans/{id}", tag = "plans",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = PlanResponse), (status = 404, body = ErrorBody)))]
pub async fn get_plan(
    _: Viewer,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<PlanResponse>> {
    let row = state.db.get_plan(id).await?;
    Ok(axum::Json(plan_response(&row, true)?))
}

/// The plans of a portfolio (every version), newest first, without the plan JSON.
#[utoipa::path(get, path = "/api/v1/portfolios/{name}/plans", tag = "plans",
    security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = Vec<PlanResponse>), (status = 404, body = ErrorBody)))]
pub async fn list_plans(
    _: Viewer,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Vec<PlanResponse>>> {
    let rows = state.db.list_plans(&name).await?;
    Ok(axum::Json(
        rows.iter()
            .map(|r| plan_response(r, false))
            .collect::<ApiResult<_>>()?,
    ))
}

fn stored_plan(row: &PlanRow) -> ApiResult<Solved> {
    Solved::from_json(&row.plan_json, row.horizon_months).map_err(ApiError::internal)
}

/// A stored plan of one period, for what compares single fleets (diffs).
fn stored_period_plan(row: &PlanRow) -> ApiResult<Plan> {
    match stored_plan(row)? {
        Solved::Period(plan) => Ok(plan),
        Solved::Horizon(_) => Err(ApiError::unprocessable(format!(
            "plan {} is a plan over time ({} months): diffs compare plans of one period; export a period's fleet with `?period=`",
            row.id,
            row.horizon_months.unwrap_or(0)
        ))),
    }
}

/// How plan `b` differs from plan `a`: instances per workload and offering, cost, vendor
/// shares (all deltas are b − a).
#[utoipa::path(get, path = "/api/v1/plans/{a}/diff/{b}", tag = "plans",
    security(("bearer" = [])),
    params(("a" = i64, Path), ("b" = i64, Path)),
    responses((status = 200, body = PlanDiff), (status = 404, body = ErrorBody)))]
pub async fn diff_plans(
    _: Viewer,
    State(state): State<AppState>,
    Path((a, b)): Path<(i64, i64)>,
) -> ApiResult<axum::Json<PlanDiff>> {
    let (ra, rb) = (state.db.get_plan(a).await?, state.db.get_plan(b).await?);
    Ok(axum::Json(diff::diff(
        a,
        &stored_period_plan(&ra)?,
        b,
        &stored_period_plan(&rb)?,
    )))
}

// ------------------------------------------------------------------------------------------
// Exports

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KueueQuery {
    /// Namespace of the LocalQueues and templates (default: the portfolio's name).
    pub namespace: Option<String>,
    /// A MultiKueue setup: a manager cluster and one worker cluster per provider.
    #[serde(default)]
    pub multikueue: bool,
    /// For a plan over time: the period (1-based) whose fleet to export (default: the first).
    pub period: Option<u32>,
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// For a plan over time: the period (1-based) whose fleet to export (default: the first).
    pub period: Option<u32>,
}

enum Format {
    Kueue(KueueQuery),
    SkyPilot(PeriodQuery),
}

/// Rebuilds what a plan was made from, checks it is unchanged (same catalog hash), re-verifies
/// the plan and exports it.
async fn export(state: &AppState, id: i64, format: Format) -> ApiResult<ExportResponse> {
    let row = state.db.get_plan(id).await?;
    let version = state.db.get_version_by_id(row.portfolio_version_id).await?;
    let base = state
        .catalogs
        .by_override_id(&state.db, row.catalog_override_id)
        .await?;
    let plan = stored_plan(&row)?;
    let calibration = state.calibration.clone();
    blocking(move || {
        let (p, _) = engine::parse_portfolio(&version.yaml, &base).map_err(|ds| {
            invalid(
                "the plan's portfolio version no longer validates against its catalog",
                engine::located_diagnostics(&ds),
            )
        })?;
        let catalog = engine::effective_catalog(&p, &base)
            .map_err(|es| invalid("the portfolio's offering overrides no longer apply", es))?;
        if engine::catalog_sha256(&catalog) != row.catalog_sha256 {
            return Err(ApiError::conflict(
                "the catalog this plan was made on cannot be rebuilt (the server's built-in catalog changed); plan the portfolio again",
            ));
        }
        let period = match &format {
            Format::Kueue(q) => q.period,
            Format::SkyPilot(q) => q.period,
        };
        let (plan, catalog) = engine::fleet(plan, period, &p, &catalog, &calibration).map_err(|e| match e {
            ExportFailure::Rejected(m) => ApiError::unprocessable(m),
            ExportFailure::Internal(m) => {
                ApiError::internal(format!("stored plan {id} fails verification: {m}"))
            }
        })?;
        let exported = match format {
            Format::Kueue(q) => engine::export_kueue(&plan, &p, &catalog, q.namespace, q.multikueue),
            Format::SkyPilot(_) => engine::export_skypilot(&plan, &p, &catalog, &calibration),
        };
        exported.map_err(|e| match e {
            ExportFailure::Rejected(m) => ApiError::unprocessable(m),
            ExportFailure::Internal(m) => ApiError::internal(m),
        })
    })
    .await?
}

/// Kueue objects for a stored plan (ResourceFlavors, ClusterQueues, LocalQueues, templates),
/// validated against the shipped CRD schemas.
#[utoipa::path(get, path = "/api/v1/plans/{id}/export/kueue", tag = "exports",
    security(("bearer" = [])),
    params(("id" = i64, Path), KueueQuery),
    responses((status = 200, body = ExportResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn export_kueue(
    _: Viewer,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<KueueQuery>,
) -> ApiResult<axum::Json<ExportResponse>> {
    Ok(axum::Json(export(&state, id, Format::Kueue(q)).await?))
}

/// SkyPilot task YAML for a stored plan, with fallbacks, validated against the task schema.
#[utoipa::path(get, path = "/api/v1/plans/{id}/export/skypilot", tag = "exports",
    security(("bearer" = [])),
    params(("id" = i64, Path), PeriodQuery),
    responses((status = 200, body = ExportResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "A period the plan does not have, or `period` on a plan of one period", body = ErrorBody)))]
pub async fn export_skypilot(
    _: Viewer,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<axum::Json<ExportResponse>> {
    Ok(axum::Json(export(&state, id, Format::SkyPilot(q)).await?))
}

// ------------------------------------------------------------------------------------------
// Jobs

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    pub kind: JobKind,
    /// Per kind: see the `LeverageParams`, `StressParams`, `SweepParams` and
    /// `MonteCarloParams` schemas. Missing fields take the CLI's defaults.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Value,
    /// The portfolio version to analyse (default: the latest).
    pub version: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct JobResponse {
    pub id: i64,
    pub kind: String,
    /// queued, running, done, failed or cancelled.
    pub status: String,
    /// Fraction done, 0 to 1.
    pub progress: f64,
    pub portfolio: String,
    pub portfolio_version: i64,
    /// The parameters it runs with, defaults filled in.
    #[schema(value_type = Object)]
    pub params: Value,
    /// The report (as `chipmix <kind> --format json` prints it) once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: String,
}

fn job_response(j: db::JobRow) -> ApiResult<JobResponse> {
    let parse = |s: &str| serde_json::from_str::<Value>(s).map_err(ApiError::internal);
    Ok(JobResponse {
        id: j.id,
        kind: j.kind,
        status: j.status,
        progress: j.progress,
        portfolio: j.portfolio,
        portfolio_version: j.portfolio_version,
        params: parse(&j.params_json)?,
        result: j.result_json.as_deref().map(parse).transpose()?,
        error: j.error,
        created_at: rfc3339(j.created_at),
        updated_at: rfc3339(j.updated_at),
        created_by: j.created_by,
    })
}

/// Starts a risk analysis in the background; poll `GET /api/v1/jobs/{id}`.
#[utoipa::path(post, path = "/api/v1/portfolios/{name}/jobs", tag = "jobs",
    security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = JobRequest,
    responses((status = 202, body = JobResponse), (status = 404, body = ErrorBody),
        (status = 422, description = "Bad parameters; `details.diagnostics` says which", body = ErrorBody)))]
pub async fn create_job(
    Editor(caller): Editor,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(req): Json<JobRequest>,
) -> ApiResult<(StatusCode, axum::Json<JobResponse>)> {
    let version = state.db.get_version(&name, req.version).await?;
    let (override_row, base) = state.catalogs.latest(&state.db).await?;
    let (yaml, kind, params, check_base) =
        (version.yaml.clone(), req.kind, req.params, base.clone());
    let max_s = state.config.solve_time_limit_s;
    let spec = blocking(move || {
        let (p, _) = engine::parse_portfolio(&yaml, &check_base).map_err(|ds| {
            invalid(
                "the portfolio version no longer validates against the catalog in force",
                engine::located_diagnostics(&ds),
            )
        })?;
        let catalog = engine::effective_catalog(&p, &check_base)
            .map_err(|es| invalid("the portfolio's offering overrides do not apply", es))?;
        JobSpec::parse(kind, params, &yaml, &p, &catalog, &check_base, max_s)
            .map_err(|problems| invalid("invalid job parameters", problems))
    })
    .await??;
    let params_json = spec.params_json().to_string();
    let id = state
        .db
        .insert_job(&NewJob {
            kind: spec.kind().as_str(),
            portfolio_version_id: version.id,
            catalog_override_id: override_row.map(|r| r.id),
            params_json: &params_json,
            created_by: &caller.name,
        })
        .await?;
    jobs::spawn(state.clone(), id, spec, version.yaml, base);
    let row = state.db.get_job(id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(job_response(row)?)))
}

/// A job's status and progress, and its result once done.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = JobResponse), (status = 404, body = ErrorBody)))]
pub async fn get_job(
    _: Viewer,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<JobResponse>> {
    Ok(axum::Json(job_response(state.db.get_job(id).await?)?))
}

/// Cancels a queued or running job. The analysis stops at its next step (Monte Carlo: its
/// next sample; the others: between their solves and the report).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = JobResponse), (status = 404, body = ErrorBody),
        (status = 409, description = "The job already finished", body = ErrorBody)))]
pub async fn cancel_job(
    _: Editor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<JobResponse>> {
    let cancelled = state.db.cancel_job(id).await?;
    let row = state.db.get_job(id).await?;
    if !cancelled {
        return Err(ApiError::conflict(format!(
            "job {id} already finished ({})",
            row.status
        )));
    }
    state.running.cancel(id);
    Ok(axum::Json(job_response(row)?))
}

// ------------------------------------------------------------------------------------------
// Tokens

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    pub role: Role,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub name: String,
    pub role: Role,
    /// The secret for `Authorization: Bearer …`. Shown once: only its hash is stored.
    pub token: String,
}

/// Creates a token; the response is the only time its secret is shown.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens",
    security(("bearer" = [])),
    request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    _: Admin,
    State(state): State<AppState>,
    Json(req): Json<CreateToken>,
) -> ApiResult<(StatusCode, axum::Json<CreatedToken>)> {
    let token = state.db.create_token(&req.name, req.role).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedToken {
            name: req.name,
            role: req.role,
            token,
        }),
    ))
}

/// Every token, revoked ones included, without secrets.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenInfo>), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    _: Admin,
    State(state): State<AppState>,
) -> ApiResult<axum::Json<Vec<TokenInfo>>> {
    Ok(axum::Json(state.db.list_tokens().await?))
}

/// Revokes a token (by name or id): it is refused from the next request on.
#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "tokens",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The token's name or numeric id")),
    responses((status = 200, body = TokenInfo), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<TokenInfo>> {
    Ok(axum::Json(state.db.revoke_token(&name).await?))
}

/// The effective catalogs: the built-in one and the built-in one with an override version
/// applied, cached by override id (building one parses the CSV and copies the catalog).
pub struct Catalogs {
    pub builtin: Arc<Catalog>,
    cache: std::sync::Mutex<Vec<(i64, Arc<Catalog>)>>,
}

/// Override versions kept built; older ones are rebuilt on demand (exports of old plans).
const CACHED_CATALOGS: usize = 4;

impl Catalogs {
    pub fn new(builtin: Catalog) -> Self {
        Catalogs {
            builtin: Arc::new(builtin),
            cache: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The catalog in force: built-in plus the latest override, and that override's row.
    pub async fn latest(&self, db: &db::Db) -> ApiResult<(Option<db::OverrideRow>, Arc<Catalog>)> {
        match db.latest_override().await? {
            None => Ok((None, self.builtin.clone())),
            Some(row) => {
                let catalog = self.build(&row)?;
                Ok((Some(row), catalog))
            }
        }
    }

    pub async fn by_override_id(&self, db: &db::Db, id: Option<i64>) -> ApiResult<Arc<Catalog>> {
        match id {
            None => Ok(self.builtin.clone()),
            Some(id) => {
                if let Some(c) = self.cached(id) {
                    return Ok(c);
                }
                let row = db.override_by_id(id).await?;
                self.build(&row)
            }
        }
    }

    fn cached(&self, id: i64) -> Option<Arc<Catalog>> {
        let cache = self.cache.lock().ok()?;
        cache.iter().find(|(k, _)| *k == id).map(|(_, c)| c.clone())
    }

    fn build(&self, row: &db::OverrideRow) -> ApiResult<Arc<Catalog>> {
        if let Some(c) = self.cached(row.id) {
            return Ok(c);
        }
        let catalog = engine::apply_override_csv(
            &self.builtin,
            &engine::override_file(row.version),
            &row.csv,
        )
        .map_err(|errors| {
            invalid(
                &format!(
                    "catalog override version {} no longer applies to the server's built-in catalog; POST a corrected one",
                    row.version
                ),
                engine::located_data_errors(&errors),
            )
        })?;
        let catalog = Arc::new(catalog);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHED_CATALOGS {
                cache.remove(0);
            }
            cache.push((row.id, catalog.clone()));
        }
        Ok(catalog)
    }
}
