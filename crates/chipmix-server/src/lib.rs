//! The chipmix HTTP API: portfolios, catalog overrides, plans, risk jobs and exports, stored in
//! SQLite or PostgreSQL and guarded by bearer tokens.
//!
//! The server is an edge, like the CLI: every decision is a call into the library crates
//! (`engine` holds those calls); handlers (`api`) map inputs and outcomes to HTTP, and `db`
//! is the only module that speaks SQL. The routes and their schemas are in the OpenAPI
//! document served at `/api/openapi.json`.

mod api;
pub mod auth;
pub mod cli;
mod dashboard;
pub mod db;
mod diff;
mod engine;
mod error;
mod jobs;
mod metrics;
mod migrations;
mod openapi;

pub use auth::Role;
pub use db::{Backend, Db, StoreError, TokenInfo, open_db};

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Clone, Debug)]
pub struct Config {
    /// `sqlite://FILE?mode=rwc` or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub db_url: String,
    pub bind: SocketAddr,
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// The longest any one solve may run; requests may ask for less.
    pub solve_time_limit_s: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            db_url: "sqlite://chipmix.db?mode=rwc".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 2 * 1024 * 1024,
            solve_time_limit_s: 60.0,
        }
    }
}

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    db: Db,
    config: Arc<Config>,
    catalogs: Arc<api::Catalogs>,
    calibration: Arc<Calibration>,
    metrics: Arc<metrics::Metrics>,
    running: Arc<jobs::Running>,
    /// Background analyses running at once; the rest wait queued.
    job_slots: Arc<Semaphore>,
    /// Plan solves running at once; more wait for a slot (each solve is single-threaded).
    plan_slots: Arc<Semaphore>,
}

impl AppState {
    /// The state for a migrated database.
    pub fn new(db: Db, config: Config) -> anyhow::Result<AppState> {
        let builtin = Catalog::builtin().map_err(|errors| {
            anyhow::anyhow!(
                "the built-in catalog is invalid: {}",
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(AppState {
            db,
            config: Arc::new(config),
            catalogs: Arc::new(api::Catalogs::new(builtin)),
            calibration: Arc::new(Calibration::builtin()),
            metrics: Arc::default(),
            running: Arc::default(),
            // Analyses parallelize inside (rayon), so one or two at a time keep the cores busy.
            job_slots: Arc::new(Semaphore::new(cores.div_ceil(4).max(1))),
            plan_slots: Arc::new(Semaphore::new(cores.max(1))),
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// Every route (the API and the dashboard), with the body limit and the request metrics.
pub async fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/v1/catalog/chips", get(api::catalog_chips))
        .route("/api/v1/catalog/offerings", get(api::catalog_offerings))
        .route(
            "/api/v1/catalog/overrides",
            get(api::list_overrides).post(api::post_override),
        )
        .route(
            "/api/v1/portfolios",
            get(api::list_portfolios).post(api::create_portfolio),
        )
        .route(
            "/api/v1/portfolios/{name}",
            get(api::get_portfolio).put(api::update_portfolio),
        )
        .route(
            "/api/v1/portfolios/{name}/versions",
            get(api::list_versions),
        )
        .route(
            "/api/v1/portfolios/{name}/plans",
            get(api::list_plans).post(api::create_plan),
        )
        .route("/api/v1/portfolios/{name}/jobs", post(api::create_job))
        .route("/api/v1/plans/{id}", get(api::get_plan))
        .route("/api/v1/plans/{a}/diff/{b}", get(api::diff_plans))
        .route("/api/v1/plans/{id}/export/kueue", get(api::export_kueue))
        .route(
            "/api/v1/plans/{id}/export/skypilot",
            get(api::export_skypilot),
        )
        .route("/api/v1/jobs/{id}", get(api::get_job))
        .route("/api/v1/jobs/{id}/cancel", post(api::cancel_job))
        .route(
            "/api/v1/tokens",
            get(api::list_tokens).post(api::create_token),
        )
        .route(
            "/api/v1/tokens/{name}",
            axum::routing::delete(api::revoke_token),
        )
        .merge(dashboard::routes())
        .fallback(api::fallback)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::storage_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state)
}

/// Creates a token and returns its secret (shown once; only its hash is stored).
pub async fn create_token(db: &Db, name: &str, role: Role) -> Result<String, StoreError> {
    db.create_token(name, role).await
}

/// Revokes the token with this name or numeric id.
pub async fn revoke_token(db: &Db, name_or_id: &str) -> Result<(), StoreError> {
    db.revoke_token(name_or_id).await.map(|_| ())
}

/// Opens and migrates the database, then serves until ctrl-c or SIGTERM. Prints
/// `chipmix-server listening on http://ADDR` on stdout once it accepts connections (with
/// `--bind …:0`, the port chosen).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let shown_url = db::redact_url(&config.db_url);
    let db = open_db(&config.db_url)
        .await
        .with_context(|| format!("cannot open the database {shown_url}"))?;
    db.migrate()
        .await
        .with_context(|| format!("cannot migrate the database {shown_url}"))?;
    let stale = db
        .fail_unfinished_jobs("the server stopped while the job was queued or running")
        .await?;
    if stale > 0 {
        eprintln!("chipmix-server: {stale} job(s) left unfinished by a previous run marked failed");
    }
    if db.active_token_count().await? == 0 {
        eprintln!(
            "chipmix serve: no tokens yet; every /api/v1 request will get 401. Create the first admin token with:\n  chipmix token create --name admin --role admin --db '{shown_url}'\n(or `chipmix-server token create …` with the standalone server binary)"
        );
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let state = AppState::new(db.clone(), config)?;
    let app = router(state.clone()).await;
    println!(
        "chipmix-server listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    state.running.cancel_all();
    db.fail_unfinished_jobs("the server stopped while the job was queued or running")
        .await?;
    db.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
