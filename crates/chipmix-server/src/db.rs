//! Storage: one `sqlx::AnyPool` over SQLite or PostgreSQL, with the same SQL on both.
//!
//! Every write that the API acknowledges has committed before the handler returns. Writes that
//! need several statements run in one transaction that starts with a write (on SQLite with
//! `BEGIN IMMEDIATE`), so a concurrent writer waits on the busy timeout instead of failing with
//! a lock upgrade error.

use crate::auth::{self, Role};
use crate::migrations::MIGRATIONS;
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, AssertSqlSafe, FromRow, Row, Transaction};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// Recently verified tokens, so a read does not pay a second query for its token.
    auth_cache: std::sync::Arc<std::sync::Mutex<AuthCache>>,
    /// The SQLite file this handle opened and its identity (device, inode) then: a file
    /// deleted or replaced under a running server would otherwise go unnoticed (SQLite keeps
    /// writing to the unlinked inode, and the data is gone on restart).
    sqlite_file: Option<(std::path::PathBuf, (u64, u64))>,
}

/// Successful token lookups, by SHA-256, for [`AUTH_CACHE_TTL`]. Unknown tokens always go to
/// the database; a revocation through this process clears the cache at once, one made by
/// another process (the CLI on the same file, another server on PostgreSQL) takes effect
/// within the TTL.
type AuthCache = std::collections::HashMap<String, (Caller, std::time::Instant)>;
const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
const AUTH_CACHE_MAX: usize = 1024;

/// What a storage call can fail with.
#[derive(Debug)]
pub enum StoreError {
    /// The name is taken.
    Duplicate(String),
    NotFound(String),
    /// The input breaks a rule of the store (a bad token name, an unknown role).
    Invalid(String),
    /// Something the caller cannot fix: the database is unreachable, a query failed.
    Database(sqlx::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Duplicate(m) | StoreError::NotFound(m) | StoreError::Invalid(m) => {
                f.write_str(m)
            }
            StoreError::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Milliseconds since the Unix epoch, the unit every `*_at` column holds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Opens a pool on `url`: `sqlite://FILE?mode=rwc` (created if missing with `mode=rwc`) or
/// `postgres://USER:PASSWORD@HOST:PORT/DB`. Does not migrate; call [`Db::migrate`].
pub async fn open_db(url: &str) -> StoreResult<Db> {
    sqlx::any::install_default_drivers();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Backend::Postgres
    } else {
        return Err(StoreError::Invalid(format!(
            "unsupported database URL `{}`: use sqlite://FILE?mode=rwc or postgres://…",
            redact_url(url)
        )));
    };
    let options = AnyPoolOptions::new()
        .max_connections(match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        })
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers run beside the writer; FULL syncs the WAL on every
                    // commit, so an acknowledged write survives a power cut, not only a crash.
                    sqlx::Executor::execute(&mut *conn, "PRAGMA journal_mode = WAL").await?;
                    sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous = FULL").await?;
                    sqlx::Executor::execute(&mut *conn, "PRAGMA busy_timeout = 15000").await?;
                    sqlx::Executor::execute(&mut *conn, "PRAGMA foreign_keys = ON").await?;
                }
                Ok(())
            })
        });
    let pool = options.connect(url).await?;
    let sqlite_file = match backend {
        Backend::Sqlite => sqlite_path(url).and_then(|path| {
            // Connecting created the file (mode=rwc); an in-memory database has none.
            let id = file_identity(&path).ok()?;
            Some((path, id))
        }),
        Backend::Postgres => None,
    };
    Ok(Db {
        pool,
        backend,
        auth_cache: Default::default(),
        sqlite_file,
    })
}

/// The file of a `sqlite://FILE?…` or `sqlite:FILE` URL; `None` for an in-memory database.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or("");
    (!file.is_empty() && !file.starts_with(":memory:")).then(|| std::path::PathBuf::from(file))
}

fn file_identity(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

impl Db {
    /// Whether the storage this handle writes to is still there: the SQLite file it opened
    /// (not deleted, not replaced). Cheap (one `stat`); checked before every write.
    pub fn check_file(&self) -> Result<(), String> {
        let Some((path, id)) = &self.sqlite_file else {
            return Ok(());
        };
        match file_identity(path) {
            Ok(now) if now == *id => Ok(()),
            Ok(_) => Err(format!(
                "the database file {} was replaced while the server ran; restart it",
                path.display()
            )),
            Err(e) => Err(format!(
                "the database file {} is gone ({e}); writes would be lost — restart the server",
                path.display()
            )),
        }
    }

    /// [`Db::check_file`] and a round trip to the database.
    pub async fn check_storage(&self) -> Result<(), String> {
        self.check_file()?;
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| format!("database error: {e}"))
    }
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

// ------------------------------------------------------------------------------------------
// Rows as the API shows them.

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Who made a request: an unrevoked token's name and role.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VersionRow {
    pub id: i64,
    pub portfolio: String,
    pub version: i64,
    pub yaml: String,
    pub created_at: i64,
    pub created_by: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VersionMeta {
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    pub yaml_chars: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PortfolioSummary {
    pub name: String,
    pub created_at: String,
    pub latest_version: i64,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OverrideRow {
    pub id: i64,
    pub version: i64,
    pub csv: String,
    pub created_at: i64,
    pub created_by: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PlanRow {
    pub id: i64,
    pub portfolio: String,
    pub portfolio_version: i64,
    pub portfolio_version_id: i64,
    pub catalog_override_id: Option<i64>,
    pub catalog_sha256: String,
    pub status: String,
    pub objective_usd_per_month: f64,
    pub plan_json: String,
    pub created_at: i64,
    pub created_by: String,
    pub catalog_override_version: Option<i64>,
    /// Months a plan over time covers; `None` for a plan of one period.
    pub horizon_months: Option<i64>,
}

pub struct NewPlan<'a> {
    pub portfolio_version_id: i64,
    pub catalog_override_id: Option<i64>,
    pub catalog_sha256: &'a str,
    pub status: &'a str,
    pub objective_usd_per_month: f64,
    pub plan_json: &'a str,
    pub created_by: &'a str,
    pub horizon_months: Option<i64>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub progress: f64,
    pub portfolio: String,
    pub portfolio_version: i64,
    pub portfolio_version_id: i64,
    pub catalog_override_id: Option<i64>,
    pub params_json: String,
    pub result_json: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub created_by: String,
}

pub struct NewJob<'a> {
    pub kind: &'a str,
    pub portfolio_version_id: i64,
    pub catalog_override_id: Option<i64>,
    pub params_json: &'a str,
    pub created_by: &'a str,
}

/// RFC 3339 in UTC with milliseconds, as every time in the API is shown.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Columns named as [`VersionRow`]'s fields (`sqlx::FromRow` maps them by name).
const VERSION_COLUMNS: &str = "v.id AS id, p.name AS portfolio, v.version AS version, v.yaml AS yaml, v.created_at AS created_at, v.created_by AS created_by";

fn version_row(r: &AnyRow) -> StoreResult<VersionRow> {
    Ok(VersionRow::from_row(r)?)
}

/// Columns named as [`PlanRow`]'s fields.
const PLAN_COLUMNS: &str = "pl.id AS id, p.name AS portfolio, v.version AS portfolio_version, v.id AS portfolio_version_id, pl.catalog_override_id AS catalog_override_id, pl.catalog_sha256 AS catalog_sha256, pl.status AS status, pl.objective_usd_per_month AS objective_usd_per_month, pl.plan_json AS plan_json, pl.created_at AS created_at, pl.created_by AS created_by, co.version AS catalog_override_version, pl.horizon_months AS horizon_months";

/// The joins every plan query makes for [`PLAN_COLUMNS`].
const PLAN_FROM: &str = "plans pl JOIN portfolio_versions v ON v.id = pl.portfolio_version_id JOIN portfolios p ON p.id = v.portfolio_id LEFT JOIN catalog_overrides co ON co.id = pl.catalog_override_id";

fn plan_row(r: &AnyRow) -> StoreResult<PlanRow> {
    Ok(PlanRow::from_row(r)?)
}

/// Columns named as [`JobRow`]'s fields.
const JOB_COLUMNS: &str = "j.id AS id, j.kind AS kind, j.status AS status, j.progress AS progress, p.name AS portfolio, v.version AS portfolio_version, v.id AS portfolio_version_id, j.catalog_override_id AS catalog_override_id, j.params_json AS params_json, j.result_json AS result_json, j.error AS error, j.created_at AS created_at, j.updated_at AS updated_at, j.created_by AS created_by";

fn job_row(r: &AnyRow) -> StoreResult<JobRow> {
    Ok(JobRow::from_row(r)?)
}

fn override_row(r: &AnyRow) -> StoreResult<OverrideRow> {
    Ok(OverrideRow::from_row(r)?)
}

/// Postgres may see two writers compute the same next version; the UNIQUE constraint rejects
/// the second, which then tries again with the new maximum.
const VERSION_RETRIES: usize = 8;

impl Db {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Applies every migration not yet applied, each in its own transaction.
    pub async fn migrate(&self) -> StoreResult<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        for m in MIGRATIONS {
            let mut tx = self.begin_write().await?;
            if self.backend == Backend::Postgres {
                // Two servers starting on one empty database must not both create the tables.
                sqlx::query("SELECT pg_advisory_xact_lock(727274)")
                    .execute(&mut *tx)
                    .await?;
            }
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(m.version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if applied.is_some() {
                tx.rollback().await?;
                continue;
            }
            for statement in m.statements(self.backend) {
                sqlx::query(AssertSqlSafe(statement))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// The applied migration versions, in order.
    pub async fn applied_migrations(&self) -> StoreResult<Vec<i64>> {
        Ok(
            sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    // -------------------------------------------------------------------------------------
    // Tokens

    /// Stores a new token and returns its secret, which is not kept: only its SHA-256 is.
    pub async fn create_token(&self, name: &str, role: Role) -> StoreResult<String> {
        auth::check_token_name(name).map_err(StoreError::Invalid)?;
        let secret = auth::new_secret().map_err(StoreError::Invalid)?;
        let result = sqlx::query(
            "INSERT INTO tokens (name, role, token_sha256, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(auth::secret_sha256(&secret))
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(secret),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate(format!(
                "a token named `{name}` exists (names of revoked tokens stay taken)"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes the token with this name (or this numeric id). Revoking a revoked token is a
    /// no-op.
    pub async fn revoke_token(&self, name_or_id: &str) -> StoreResult<TokenInfo> {
        self.auth_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        let id: i64 = name_or_id.parse().unwrap_or(-1);
        sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE (name = $2 OR id = $3) AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(name_or_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT id, name, role, created_at, revoked_at FROM tokens WHERE name = $1 OR id = $2",
        )
        .bind(name_or_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => token_info(&r),
            None => Err(StoreError::NotFound(format!(
                "no token named `{name_or_id}`"
            ))),
        }
    }

    pub async fn list_tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        let rows =
            sqlx::query("SELECT id, name, role, created_at, revoked_at FROM tokens ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(token_info).collect()
    }

    pub async fn active_token_count(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The caller a secret belongs to; `None` for unknown and revoked secrets alike.
    pub async fn authenticate(&self, secret: &str) -> StoreResult<Option<Caller>> {
        let hash = auth::secret_sha256(secret);
        let cached = {
            let cache = self
                .auth_cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cache
                .get(&hash)
                .filter(|(_, at)| at.elapsed() < AUTH_CACHE_TTL)
                .map(|(c, _)| c.clone())
        };
        if cached.is_some() {
            return Ok(cached);
        }
        let row = sqlx::query(
            "SELECT name, role FROM tokens WHERE token_sha256 = $1 AND revoked_at IS NULL",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let role: String = r.try_get(1)?;
        let caller = Role::parse(&role).map(|role| Caller {
            name: r.try_get(0).unwrap_or_default(),
            role,
        });
        if let Some(c) = &caller {
            let mut cache = self
                .auth_cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cache.len() >= AUTH_CACHE_MAX {
                cache.clear();
            }
            cache.insert(hash, (c.clone(), std::time::Instant::now()));
        }
        Ok(caller)
    }

    // -------------------------------------------------------------------------------------
    // Dashboard sessions

    /// Opens a dashboard session for the token `secret` lasting `lifetime`: a new random
    /// session id (returned, shown to the browser only), stored as its SHA-256. `None` when
    /// the token is unknown or revoked. Expired sessions are purged on the way.
    pub async fn create_session(
        &self,
        secret: &str,
        lifetime: Duration,
    ) -> StoreResult<Option<String>> {
        let now = now_ms();
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let token_id: Option<i64> =
            sqlx::query("SELECT id FROM tokens WHERE token_sha256 = $1 AND revoked_at IS NULL")
                .bind(auth::secret_sha256(secret))
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        let Some(token_id) = token_id else {
            return Ok(None);
        };
        let session = auth::new_session_id().map_err(StoreError::Invalid)?;
        let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO sessions (session_sha256, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(auth::secret_sha256(&session))
        .bind(token_id)
        .bind(now)
        .bind(now.saturating_add(lifetime_ms))
        .execute(&self.pool)
        .await?;
        Ok(Some(session))
    }

    /// The caller behind a live session: not expired, not signed out, its token not revoked.
    pub async fn session_caller(&self, session: &str) -> StoreResult<Option<Caller>> {
        let row = sqlx::query(
            "SELECT t.name, t.role FROM sessions s JOIN tokens t ON t.id = s.token_id \
             WHERE s.session_sha256 = $1 AND s.expires_at > $2 AND t.revoked_at IS NULL",
        )
        .bind(auth::secret_sha256(session))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let role: String = r.try_get(1)?;
        Ok(Role::parse(&role).map(|role| Caller {
            name: r.try_get(0).unwrap_or_default(),
            role,
        }))
    }

    /// Ends a session (signing out). Ending an unknown session is a no-op.
    pub async fn end_session(&self, session: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE session_sha256 = $1")
            .bind(auth::secret_sha256(session))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // -------------------------------------------------------------------------------------
    // Portfolios

    /// Creates a portfolio with its first version.
    pub async fn create_portfolio(
        &self,
        name: &str,
        yaml: &str,
        created_by: &str,
    ) -> StoreResult<VersionRow> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
            "INSERT INTO portfolios (name, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(name)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let portfolio_id = match inserted {
            Ok(id) => id,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Duplicate(format!(
                    "a portfolio named `{name}` exists; PUT /api/v1/portfolios/{name} adds a version"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO portfolio_versions (portfolio_id, version, yaml, created_at, created_by) VALUES ($1, 1, $2, $3, $4) RETURNING id",
        )
        .bind(portfolio_id)
        .bind(yaml)
        .bind(now)
        .bind(created_by)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(VersionRow {
            id,
            portfolio: name.to_string(),
            version: 1,
            yaml: yaml.to_string(),
            created_at: now,
            created_by: created_by.to_string(),
        })
    }

    /// Adds the next version of a portfolio, atomically numbered.
    pub async fn add_version(
        &self,
        name: &str,
        yaml: &str,
        created_by: &str,
    ) -> StoreResult<VersionRow> {
        for _ in 0..VERSION_RETRIES {
            let now = now_ms();
            let result = sqlx::query(
                "INSERT INTO portfolio_versions (portfolio_id, version, yaml, created_at, created_by) \
                 SELECT p.id, COALESCE((SELECT MAX(v.version) FROM portfolio_versions v WHERE v.portfolio_id = p.id), 0) + 1, $2, $3, $4 \
                 FROM portfolios p WHERE p.name = $1 RETURNING id, version",
            )
            .bind(name)
            .bind(yaml)
            .bind(now)
            .bind(created_by)
            .fetch_optional(&self.pool)
            .await;
            match result {
                Ok(Some(r)) => {
                    return Ok(VersionRow {
                        id: r.try_get(0)?,
                        portfolio: name.to_string(),
                        version: r.try_get(1)?,
                        yaml: yaml.to_string(),
                        created_at: now,
                        created_by: created_by.to_string(),
                    });
                }
                Ok(None) => return Err(not_found_portfolio(name)),
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Invalid(format!(
            "portfolio `{name}` is being updated by many writers at once; try again"
        )))
    }

    pub async fn list_portfolios(&self) -> StoreResult<Vec<PortfolioSummary>> {
        let rows = sqlx::query(
            "SELECT p.name, p.created_at, v.version, v.created_at, v.created_by \
             FROM portfolios p JOIN portfolio_versions v ON v.portfolio_id = p.id \
             WHERE v.version = (SELECT MAX(w.version) FROM portfolio_versions w WHERE w.portfolio_id = p.id) \
             ORDER BY p.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PortfolioSummary {
                    name: r.try_get(0)?,
                    created_at: rfc3339(r.try_get(1)?),
                    latest_version: r.try_get(2)?,
                    updated_at: rfc3339(r.try_get(3)?),
                    updated_by: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// A version of a portfolio: `version`, or the latest.
    pub async fn get_version(&self, name: &str, version: Option<i64>) -> StoreResult<VersionRow> {
        let row = match version {
            Some(n) => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {VERSION_COLUMNS} FROM portfolio_versions v JOIN portfolios p ON p.id = v.portfolio_id \
                     WHERE p.name = $1 AND v.version = $2"
                )))
                .bind(name)
                .bind(n)
                .fetch_optional(&self.pool)
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {VERSION_COLUMNS} FROM portfolio_versions v JOIN portfolios p ON p.id = v.portfolio_id \
                     WHERE p.name = $1 ORDER BY v.version DESC LIMIT 1"
                )))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
            }
        };
        match (row, version) {
            (Some(r), _) => version_row(&r),
            (None, Some(n)) if self.portfolio_exists(name).await? => Err(StoreError::NotFound(
                format!("portfolio `{name}` has no version {n}"),
            )),
            (None, _) => Err(not_found_portfolio(name)),
        }
    }

    pub async fn get_version_by_id(&self, id: i64) -> StoreResult<VersionRow> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM portfolio_versions v JOIN portfolios p ON p.id = v.portfolio_id WHERE v.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => version_row(&r),
            None => Err(StoreError::NotFound(format!(
                "no portfolio version with id {id}"
            ))),
        }
    }

    async fn portfolio_exists(&self, name: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM portfolios WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn list_versions(&self, name: &str) -> StoreResult<Vec<VersionMeta>> {
        let rows = sqlx::query(
            "SELECT v.version, v.created_at, v.created_by, LENGTH(v.yaml) FROM portfolio_versions v \
             JOIN portfolios p ON p.id = v.portfolio_id WHERE p.name = $1 ORDER BY v.version",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(not_found_portfolio(name));
        }
        rows.iter()
            .map(|r| {
                Ok(VersionMeta {
                    version: r.try_get(0)?,
                    created_at: rfc3339(r.try_get(1)?),
                    created_by: r.try_get(2)?,
                    yaml_chars: r.try_get(3)?,
                })
            })
            .collect()
    }

    // -------------------------------------------------------------------------------------
    // Catalog overrides

    pub async fn add_override(&self, csv: &str, created_by: &str) -> StoreResult<OverrideRow> {
        for _ in 0..VERSION_RETRIES {
            let now = now_ms();
            let result = sqlx::query(
                "INSERT INTO catalog_overrides (version, csv, created_at, created_by) \
                 SELECT COALESCE(MAX(version), 0) + 1, $1, $2, $3 FROM catalog_overrides RETURNING id, version",
            )
            .bind(csv)
            .bind(now)
            .bind(created_by)
            .fetch_one(&self.pool)
            .await;
            match result {
                Ok(r) => {
                    return Ok(OverrideRow {
                        id: r.try_get(0)?,
                        version: r.try_get(1)?,
                        csv: csv.to_string(),
                        created_at: now,
                        created_by: created_by.to_string(),
                    });
                }
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Invalid(
            "the catalog overrides are being updated by many writers at once; try again".into(),
        ))
    }

    pub async fn latest_override(&self) -> StoreResult<Option<OverrideRow>> {
        let row = sqlx::query(
            "SELECT id, version, csv, created_at, created_by FROM catalog_overrides ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(override_row).transpose()
    }

    /// The id of the override version in force (`None`: none stored), without its text.
    pub async fn latest_override_id(&self) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM catalog_overrides ORDER BY version DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn override_by_id(&self, id: i64) -> StoreResult<OverrideRow> {
        let row = sqlx::query(
            "SELECT id, version, csv, created_at, created_by FROM catalog_overrides WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => override_row(&r),
            None => Err(StoreError::NotFound(format!(
                "no catalog override with id {id}"
            ))),
        }
    }

    pub async fn list_overrides(&self) -> StoreResult<Vec<OverrideRow>> {
        let rows = sqlx::query(
            "SELECT id, version, csv, created_at, created_by FROM catalog_overrides ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(override_row).collect()
    }

    // -------------------------------------------------------------------------------------
    // Plans

    pub async fn insert_plan(&self, plan: &NewPlan<'_>) -> StoreResult<(i64, i64)> {
        let now = now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO plans (portfolio_version_id, catalog_override_id, catalog_sha256, status, objective_usd_per_month, plan_json, created_at, created_by, horizon_months) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(plan.portfolio_version_id)
        .bind(plan.catalog_override_id)
        .bind(plan.catalog_sha256)
        .bind(plan.status)
        .bind(plan.objective_usd_per_month)
        .bind(plan.plan_json)
        .bind(now)
        .bind(plan.created_by)
        .bind(plan.horizon_months)
        .fetch_one(&self.pool)
        .await?;
        Ok((id, now))
    }

    pub async fn get_plan(&self, id: i64) -> StoreResult<PlanRow> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM {PLAN_FROM} WHERE pl.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => plan_row(&r),
            None => Err(StoreError::NotFound(format!("no plan with id {id}"))),
        }
    }

    /// The plans of a portfolio, newest first, without their plan JSON.
    pub async fn list_plans(&self, name: &str) -> StoreResult<Vec<PlanRow>> {
        if !self.portfolio_exists(name).await? {
            return Err(not_found_portfolio(name));
        }
        let columns = PLAN_COLUMNS.replace("pl.plan_json", "''");
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {columns} FROM {PLAN_FROM} WHERE p.name = $1 ORDER BY pl.id DESC"
        )))
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(plan_row).collect()
    }

    // -------------------------------------------------------------------------------------
    // Jobs

    pub async fn insert_job(&self, job: &NewJob<'_>) -> StoreResult<i64> {
        let now = now_ms();
        Ok(sqlx::query_scalar(
            "INSERT INTO jobs (kind, status, progress, portfolio_version_id, catalog_override_id, params_json, created_at, updated_at, created_by) \
             VALUES ($1, 'queued', 0.0, $2, $3, $4, $5, $5, $6) RETURNING id",
        )
        .bind(job.kind)
        .bind(job.portfolio_version_id)
        .bind(job.catalog_override_id)
        .bind(job.params_json)
        .bind(now)
        .bind(job.created_by)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn get_job(&self, id: i64) -> StoreResult<JobRow> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs j JOIN portfolio_versions v ON v.id = j.portfolio_version_id \
             JOIN portfolios p ON p.id = v.portfolio_id WHERE j.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => job_row(&r),
            None => Err(StoreError::NotFound(format!("no job with id {id}"))),
        }
    }

    /// Queued → running; false when the job is no longer queued (cancelled meanwhile).
    pub async fn start_job(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'running', updated_at = $1 WHERE id = $2 AND status = 'queued'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_job_progress(&self, id: i64, progress: f64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET progress = $1, updated_at = $2 WHERE id = $3 AND status = 'running'",
        )
        .bind(progress)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Running → done or failed; a job cancelled meanwhile stays cancelled.
    pub async fn finish_job(
        &self,
        id: i64,
        status: &str,
        result_json: Option<&str>,
        error: Option<&str>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET status = $1, progress = CASE WHEN $1 = 'done' THEN 1.0 ELSE progress END, \
             result_json = $2, error = $3, updated_at = $4 WHERE id = $5 AND status = 'running'",
        )
        .bind(status)
        .bind(result_json)
        .bind(error)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Queued or running → cancelled; false when the job had already finished.
    pub async fn cancel_job(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'cancelled', updated_at = $1 WHERE id = $2 AND status IN ('queued', 'running')",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks every queued or running job failed: at start-up (what a previous process left) and
    /// at shutdown (what this one stops).
    pub async fn fail_unfinished_jobs(&self, error: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'failed', error = $1, updated_at = $2 WHERE status IN ('queued', 'running')",
        )
        .bind(error)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn job_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}

fn not_found_portfolio(name: &str) -> StoreError {
    StoreError::NotFound(format!("no portfolio named `{name}`"))
}

fn token_info(r: &AnyRow) -> StoreResult<TokenInfo> {
    let role: String = r.try_get(2)?;
    Ok(TokenInfo {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        role: Role::parse(&role).ok_or_else(|| {
            StoreError::Invalid(format!("stored token has unknown role `{role}`"))
        })?,
        created_at: rfc3339(r.try_get(3)?),
        revoked_at: r.try_get::<Option<i64>, _>(4)?.map(rfc3339),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://chipmix:secret@127.0.0.1:5432/db"),
            "postgres://chipmix:***@127.0.0.1:5432/db"
        );
        assert_eq!(
            redact_url("sqlite://chipmix.db?mode=rwc"),
            "sqlite://chipmix.db?mode=rwc"
        );
    }
}
