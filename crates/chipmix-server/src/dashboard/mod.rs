//! The web dashboard: server-rendered HTML (maud) with htmx, served by the same process as the
//! API and built on the same handlers.
//!
//! Every write goes through the API's own handler (`api::create_portfolio`, `create_plan`,
//! `create_job`, …), called with the caller the dashboard authenticated, so validation,
//! storage and errors are exactly the API's; the dashboard only turns the outcome into HTML.
//! Reads go to the store, as the API's reads do. Charts are SVG drawn in Rust
//! (`chipmix-charts`) and inlined; the only script is the vendored htmx (`assets/`), and every
//! asset is compiled into the binary.
//!
//! Auth: `POST /login` takes an API token, checks it like a bearer token, and opens a
//! server-side session: the browser gets a random session id in an `HttpOnly; SameSite=Strict`
//! cookie (`Secure` when the login came over HTTPS), never the token; the server stores only
//! the id's SHA-256, the token it was opened with, and its expiry (12 hours). Every dashboard
//! route looks the session up on each request with the API's roles (viewer reads, editor
//! writes); signing out deletes it, and revoking the token ends all its sessions at once.
//! Without a live session a page redirects to `/login` (an htmx request gets `HX-Redirect`).
//!
//! CSRF: besides `SameSite=Strict` (the browser does not send the cookie on cross-site
//! requests), every non-GET dashboard request must come from this origin: its `Origin` header
//! must name this host (`Host`, or `X-Forwarded-Host` behind a proxy), or, where a browser
//! sends no `Origin`, it must carry `HX-Request: true` (a header a cross-site form cannot set
//! and that no CORS preflight is ever granted for); `Sec-Fetch-Site`, when sent, must be
//! `same-origin`. Anything else gets 403 before any handler runs, the login form included.

mod results;
mod views;

use crate::AppState;
use crate::api::{
    self, CreatePortfolio, JobRequest, KueueQuery, PeriodQuery, PlanRequest, UpdatePortfolio,
};
use crate::auth::{Editor, Role, Viewer};
use crate::db::{Caller, JobRow, StoreError};
use crate::engine;
use crate::error::{ApiError, Json, Path as ApiPath, Query as ApiQuery};
use axum::Router;
use axum::extract::{Form, FromRequest, FromRequestParts, Multipart, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::{Markup, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Value, json};
use views::EditorState;

/// The vendored htmx (see `assets/SOURCES.md`).
pub const HTMX_VERSION: &str = "2.0.11";
static HTMX_JS: &str = include_str!("../../assets/htmx.min.js");
static CSS: &str = include_str!("../../assets/dashboard.css");

/// The session cookie: a random session id (see the module doc), never the token.
pub const COOKIE: &str = "chipmix_session";
/// How long a session lasts, on the server and in the browser.
const SESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// No script but our own file, no inline styles or scripts, no framing, forms post here only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes, to merge into the API router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/portfolios", post(create_portfolio))
        .route(
            "/portfolios/{name}",
            get(portfolio_page).post(save_portfolio),
        )
        .route("/portfolios/{name}/plans", post(run_plan))
        .route("/portfolios/{name}/jobs", post(start_job))
        .route("/plans/{id}", get(plan_page))
        .route("/plans/{id}/export/{format}", get(export))
        .route("/jobs/{id}", get(job_page))
        .route("/jobs/{id}/status", get(job_status))
        .route("/jobs/{id}/cancel", post(cancel_job))
        .route_layer(middleware::from_fn(same_origin_writes))
        .route("/assets/htmx.min.js", get(htmx_js))
        .route("/assets/dashboard.css", get(css))
        .layer(middleware::from_fn(security_headers))
}

// ------------------------------------------------------------------------------------------
// Diagnostics as the pages show them

/// A located problem, read from the API's error details (`details.diagnostics`).
#[derive(Clone, Debug)]
pub struct Diag {
    pub line: u64,
    pub column: u64,
    pub path: String,
    /// `error` or `warning`.
    pub severity: String,
    pub message: String,
}

impl Diag {
    fn from_json(v: &Value) -> Diag {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        Diag {
            line: n("line"),
            column: n("column"),
            path: s("path"),
            severity: match s("severity").as_str() {
                "warning" => "warning".into(),
                _ => "error".into(),
            },
            message: s("message"),
        }
    }

    fn from_located(l: &engine::Located) -> Diag {
        Diag {
            line: l.line,
            column: l.column,
            path: l.path.clone(),
            severity: l.severity.clone(),
            message: l.message.clone(),
        }
    }
}

fn details_list<'a>(e: &'a ApiError, key: &str) -> &'a [Value] {
    e.details
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn diags_of(e: &ApiError) -> Vec<Diag> {
    details_list(e, "diagnostics")
        .iter()
        .map(Diag::from_json)
        .collect()
}

fn reasons_of(e: &ApiError) -> Vec<String> {
    details_list(e, "reasons")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

// ------------------------------------------------------------------------------------------
// Sessions

fn is_htmx(headers: &HeaderMap) -> bool {
    headers
        .get("hx-request")
        .is_some_and(|v| v.as_bytes() == b"true")
}

/// A token or session id is a prefix and hex; anything else is ignored unread.
fn plausible_secret(s: &str) -> bool {
    (1..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The session id in the request's cookies, if any.
fn session_id(jar: &CookieJar) -> Option<String> {
    jar.get(COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| plausible_secret(v))
}

/// Characters percent-encoded in a query value (everything but unreserved characters and `/`).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// Where to go after signing in: a path on this site, never another site (`//host`,
/// `/\host`) and nothing a header cannot carry.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 2000
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => "/".into(),
    }
}

/// The path (and query) of a URL, for `HX-Current-URL`.
fn path_of_url(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map(|i| &rest[i..])
}

/// Sends an unauthenticated request to the login page, back here afterwards.
fn to_login(parts: &Parts, htmx: bool) -> Response {
    let here = if htmx {
        parts
            .headers
            .get("hx-current-url")
            .and_then(|v| v.to_str().ok())
            .and_then(path_of_url)
            .map(str::to_string)
    } else if parts.method == Method::GET {
        parts.uri.path_and_query().map(|p| p.as_str().to_string())
    } else {
        None
    };
    let next = safe_next(here.as_deref());
    let login = if next == "/" {
        "/login".to_string()
    } else {
        format!("/login?next={}", enc(&next))
    };
    go_to(htmx, &login, StatusCode::UNAUTHORIZED)
}

/// A redirect that htmx follows as a full navigation (`HX-Redirect`), or a plain 303.
fn go_to(htmx: bool, url: &str, htmx_status: StatusCode) -> Response {
    let Ok(value) = HeaderValue::from_str(url) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if htmx {
        (htmx_status, [("hx-redirect", value)]).into_response()
    } else {
        (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response()
    }
}

/// A signed-in browser: the token in its cookie, authenticated on this request.
pub struct Session {
    pub caller: Caller,
    pub htmx: bool,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let htmx = is_htmx(&parts.headers);
        let jar = CookieJar::from_headers(&parts.headers);
        let caller = match session_id(&jar) {
            Some(id) => state
                .db
                .session_caller(&id)
                .await
                .map_err(|e| error_response(None, htmx, e.into()))?,
            None => None,
        };
        match caller {
            Some(caller) => Ok(Session { caller, htmx }),
            None => Err(to_login(parts, htmx)),
        }
    }
}

impl Session {
    /// The caller, if its role may write (the API's `Editor`).
    fn editor(&self) -> Result<Editor, Fail> {
        if self.caller.role >= Role::Editor {
            Ok(Editor(self.caller.clone()))
        } else {
            Err(self.fail(ApiError::forbidden(format!(
                "token `{}` has role {}; this needs editor",
                self.caller.name, self.caller.role
            ))))
        }
    }

    fn viewer(&self) -> Viewer {
        Viewer(self.caller.clone())
    }

    fn fail(&self, e: ApiError) -> Fail {
        Fail(Box::new(error_response(Some(&self.caller), self.htmx, e)))
    }
}

/// An error as HTML: a fragment for htmx, else a page.
fn error_response(caller: Option<&Caller>, htmx: bool, e: ApiError) -> Response {
    let fragment = views::error_box(&e.error, &diags_of(&e), &reasons_of(&e));
    let body = if htmx {
        fragment
    } else {
        let title = e.status.canonical_reason().unwrap_or("Error");
        views::page(
            title,
            caller,
            html! { section.card { h1 { (e.status.as_u16()) " " (title) } (fragment) p { a href="/" { "Back to the portfolios" } } } },
        )
    };
    (e.status, body).into_response()
}

/// A failed dashboard request, already rendered for its caller (a page, or a fragment for
/// htmx). Boxed: a `Response` is large.
struct Fail(Box<Response>);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        *self.0
    }
}

type Page = Result<Response, Fail>;

// ------------------------------------------------------------------------------------------
// Middleware

fn origin_matches(origin: &str, host: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .any(|scheme| origin.strip_prefix(scheme) == Some(host))
}

/// CSRF: a request that changes something must come from a page of this origin (see the
/// module documentation).
async fn same_origin_writes(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let h = req.headers();
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    let fetch_site_ok = h
        .get("sec-fetch-site")
        .is_none_or(|v| v.as_bytes() == b"same-origin");
    let origin_ok = match text("origin") {
        Some(origin) => [text("host"), text("x-forwarded-host")]
            .into_iter()
            .flatten()
            .any(|host| origin_matches(origin, host)),
        None => is_htmx(h),
    };
    if fetch_site_ok && origin_ok {
        next.run(req).await
    } else {
        let htmx = is_htmx(h);
        error_response(
            None,
            htmx,
            ApiError::forbidden(
                "cross-site request refused: dashboard forms are accepted only from the dashboard's own pages",
            ),
        )
    }
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        // Pages hold the portfolios' data; the assets set their own caching.
        ("cache-control", "no-store"),
    ] {
        if !h.contains_key(name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

async fn htmx_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        HTMX_JS,
    )
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

// ------------------------------------------------------------------------------------------
// Login

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(Query(q): Query<NextQuery>) -> Markup {
    views::login_page(&safe_next(q.next.as_deref()), None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

/// Whether the browser reached us over HTTPS (directly or through a proxy that says so).
fn over_https(h: &HeaderMap) -> bool {
    let is = |name: &str, prefix: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with(prefix))
    };
    is("origin", "https://") || is("x-forwarded-proto", "https")
}

/// The session cookie with its attributes; `value` empty and `max_age` zero clears it.
fn session_cookie(value: String, max_age: std::time::Duration, secure: bool) -> Cookie<'static> {
    Cookie::build((COOKIE, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        ))
        .build()
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Form<LoginForm>,
) -> Response {
    let Form(f) = form;
    let next = safe_next(f.next.as_deref());
    let secret = f.token.trim();
    let opened = if plausible_secret(secret) {
        state.db.create_session(secret, SESSION_LIFETIME).await
    } else {
        Ok(None)
    };
    match opened {
        Ok(Some(session)) => {
            let cookie = session_cookie(session, SESSION_LIFETIME, over_https(&headers));
            match HeaderValue::from_str(&next) {
                Ok(next) => (
                    StatusCode::SEE_OTHER,
                    jar.add(cookie),
                    [(header::LOCATION, next)],
                )
                    .into_response(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            views::login_page(&next, Some("Unknown or revoked token.")),
        )
            .into_response(),
        Err(e) => error_response(None, false, e.into()),
    }
}

/// Ends the session on the server (the cookie alone would not: a copy of it would live on)
/// and clears the cookie.
async fn logout(State(state): State<AppState>, jar: CookieJar) -> Response {
    if let Some(id) = session_id(&jar)
        && let Err(e) = state.db.end_session(&id).await
    {
        return error_response(None, false, e.into());
    }
    (
        StatusCode::SEE_OTHER,
        jar.add(session_cookie(
            String::new(),
            std::time::Duration::ZERO,
            false,
        )),
        [(header::LOCATION, "/login".to_string())],
    )
        .into_response()
}

// ------------------------------------------------------------------------------------------
// Portfolios

async fn index(session: Session, State(state): State<AppState>) -> Page {
    let portfolios = state
        .db
        .list_portfolios()
        .await
        .map_err(|e| session.fail(e.into()))?;
    Ok(views::index_page(&session.caller, &portfolios, None).into_response())
}

/// What a new-portfolio form or upload carried.
struct NewPortfolio {
    name: String,
    yaml: String,
}

#[derive(Deserialize)]
struct NewPortfolioForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    yaml: String,
}

/// Reads `POST /portfolios`: the upload form (multipart: `name`, `file`) or the new-portfolio
/// form (urlencoded: `name`, `yaml`).
async fn read_new_portfolio(state: &AppState, req: Request) -> Result<NewPortfolio, ApiError> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let Form(f) = Form::<NewPortfolioForm>::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        return Ok(NewPortfolio {
            name: f.name.trim().to_string(),
            yaml: f.yaml,
        });
    }
    let mut form = Multipart::from_request(req, state)
        .await
        .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let (mut name, mut yaml, mut file_name) = (String::new(), None, None);
    let too_big = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(
            e.status(),
            format!("cannot read the upload: {}", e.body_text()),
        )
    };
    while let Some(field) = form.next_field().await.map_err(too_big)? {
        match field.name() {
            Some("name") => name = field.text().await.map_err(too_big)?.trim().to_string(),
            Some("file") | Some("yaml") => {
                file_name = field.file_name().map(str::to_string);
                let bytes = field.bytes().await.map_err(too_big)?;
                yaml = Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
                    ApiError::unprocessable("the file is not UTF-8 text; upload a YAML file")
                })?);
            }
            _ => {}
        }
    }
    let yaml = yaml.ok_or_else(|| ApiError::unprocessable("choose a YAML file to upload"))?;
    if name.is_empty() {
        // Default: the file's name without its extension.
        let stem = file_name
            .as_deref()
            .unwrap_or("")
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("");
        name = stem
            .strip_suffix(".yaml")
            .or_else(|| stem.strip_suffix(".yml"))
            .unwrap_or(stem)
            .to_string();
    }
    Ok(NewPortfolio { name, yaml })
}

async fn create_portfolio(session: Session, State(state): State<AppState>, req: Request) -> Page {
    let editor = session.editor()?;
    let new = match read_new_portfolio(&state, req).await {
        Ok(new) => new,
        // An unreadable upload: the new-portfolio form says why, and stays usable.
        Err(e) => {
            let form = views::new_portfolio_form(
                "",
                &EditorState {
                    text: views::NEW_PORTFOLIO_TEMPLATE,
                    diags: &[],
                    message: Some(&e.error),
                },
            );
            return if session.htmx {
                Ok((e.status, form).into_response())
            } else {
                Err(session.fail(e))
            };
        }
    };
    let created = api::create_portfolio(
        editor,
        State(state.clone()),
        Json(CreatePortfolio {
            name: new.name.clone(),
            yaml: new.yaml.clone(),
        }),
    )
    .await;
    match created {
        Ok((_, axum::Json(v))) => Ok(go_to(
            session.htmx,
            &format!("/portfolios/{}?saved={}", enc(&v.name), v.version),
            StatusCode::OK,
        )),
        Err(e) => {
            // Back into the new-portfolio form, with the text and what is wrong with it.
            let diags = diags_of(&e);
            let form = views::new_portfolio_form(
                &new.name,
                &EditorState {
                    text: &new.yaml,
                    diags: &diags,
                    message: Some(&e.error),
                },
            );
            if session.htmx {
                return Ok((e.status, form).into_response());
            }
            let portfolios = state
                .db
                .list_portfolios()
                .await
                .map_err(|e| session.fail(e.into()))?;
            Ok((
                e.status,
                views::index_page(&session.caller, &portfolios, Some(form)),
            )
                .into_response())
        }
    }
}

#[derive(Deserialize)]
struct PortfolioQuery {
    version: Option<i64>,
    saved: Option<i64>,
}

/// A portfolio text checked as the API checks it, against the catalog in force: its errors
/// (a stored version can stop validating when the catalog changes) or its warnings.
/// The stored text's diagnostics against the catalog in force, and whether it is a portfolio
/// with a `horizon:` (planned and analysed over time).
async fn check_stored(state: &AppState, yaml: &str) -> Result<(Vec<Diag>, bool), ApiError> {
    let (_, base) = state.catalogs.latest(&state.db).await?;
    let text = yaml.to_string();
    tokio::task::spawn_blocking(move || match engine::parse_portfolio(&text, &base) {
        Ok((p, warnings)) => {
            let diags = match engine::effective_catalog(&p, &base) {
                Ok(_) => engine::located_diagnostics(&warnings)
                    .iter()
                    .map(Diag::from_located)
                    .collect(),
                Err(errors) => errors.iter().map(Diag::from_located).collect(),
            };
            (diags, p.horizon.is_some())
        }
        Err(errors) => {
            let diags = engine::located_diagnostics(&errors)
                .iter()
                .map(Diag::from_located)
                .collect();
            (diags, false)
        }
    })
    .await
    .map_err(ApiError::internal)
}

/// The portfolio page; `edited` is a submitted text with its diagnostics (a failed save
/// without htmx).
async fn render_portfolio(
    session: &Session,
    state: &AppState,
    name: &str,
    q: PortfolioQuery,
    edited: Option<(String, Vec<Diag>)>,
) -> Result<Markup, ApiError> {
    let row = state.db.get_version(name, q.version).await?;
    let versions = state.db.list_versions(name).await?;
    let plans = state.db.list_plans(name).await?;
    let latest = versions.last().map_or(row.version, |v| v.version);
    let (yaml, diags, over_time) = match edited {
        Some((text, diags)) => (text, diags, false),
        None => {
            let (diags, over_time) = check_stored(state, &row.yaml).await?;
            (row.yaml.clone(), diags, over_time)
        }
    };
    let scenarios: Vec<(String, String)> = chipmix_risk::scenario::library()
        .into_iter()
        .map(|s| (s.name, s.description))
        .collect();
    Ok(views::portfolio_page(
        &session.caller,
        &views::PortfolioView {
            name: &row.portfolio,
            version: row.version,
            latest,
            yaml: &yaml,
            created_at: row.created_at,
            created_by: &row.created_by,
            versions: &versions,
            plans: &plans,
            diags: &diags,
            saved: q.saved,
            scenarios: &scenarios,
            over_time,
        },
    ))
}

async fn portfolio_page(
    session: Session,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<PortfolioQuery>,
) -> Page {
    render_portfolio(&session, &state, &name, q, None)
        .await
        .map(IntoResponse::into_response)
        .map_err(|e| session.fail(e))
}

#[derive(Deserialize)]
struct SaveForm {
    #[serde(default)]
    yaml: String,
}

/// Saves a new version through the API's handler; on errors the editor comes back with the
/// text and the diagnostics in place, and nothing is stored.
async fn save_portfolio(
    session: Session,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Form(f): Form<SaveForm>,
) -> Page {
    let editor = session.editor()?;
    let saved = api::update_portfolio(
        editor,
        State(state.clone()),
        ApiPath(name.clone()),
        Json(UpdatePortfolio {
            yaml: f.yaml.clone(),
        }),
    )
    .await;
    match saved {
        Ok((_, axum::Json(v))) => Ok(go_to(
            session.htmx,
            &format!("/portfolios/{}?saved={}", enc(&v.name), v.version),
            StatusCode::OK,
        )),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let diags = diags_of(&e);
            if session.htmx {
                let fragment = views::editor(
                    "yaml",
                    "yaml",
                    &EditorState {
                        text: &f.yaml,
                        diags: &diags,
                        message: Some(&e.error),
                    },
                );
                return Ok((e.status, fragment).into_response());
            }
            let q = PortfolioQuery {
                version: None,
                saved: None,
            };
            let page = render_portfolio(&session, &state, &name, q, Some((f.yaml, diags)))
                .await
                .map_err(|e| session.fail(e))?;
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(session.fail(e)),
    }
}

// ------------------------------------------------------------------------------------------
// Plans

#[derive(Deserialize)]
struct PlanForm {
    version: Option<String>,
}

fn parse_opt<T: std::str::FromStr>(v: Option<&str>, field: &str) -> Result<Option<T>, ApiError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            ApiError::unprocessable(format!("`{field}` must be a whole number, not `{s}`"))
        }),
    }
}

/// Solves through the API's handler, then goes to the plan's page.
async fn run_plan(
    session: Session,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Form(f): Form<PlanForm>,
) -> Page {
    let editor = session.editor()?;
    let version = parse_opt(f.version.as_deref(), "version").map_err(|e| session.fail(e))?;
    let (_, axum::Json(plan)) = api::create_plan(
        editor,
        State(state),
        ApiPath(name),
        Json(PlanRequest {
            version,
            ..PlanRequest::default()
        }),
    )
    .await
    .map_err(|e| session.fail(e))?;
    Ok(go_to(
        session.htmx,
        &format!("/plans/{}", plan.id),
        StatusCode::OK,
    ))
}

fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no {what} `{raw}`")))
}

async fn plan_page(
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Page {
    let id = parse_id(&id, "plan").map_err(|e| session.fail(e))?;
    let row = state
        .db
        .get_plan(id)
        .await
        .map_err(|e| session.fail(e.into()))?;
    let plan = match engine::Solved::from_json(&row.plan_json, row.horizon_months)
        .map_err(|e| session.fail(ApiError::internal(e)))?
    {
        engine::Solved::Period(plan) => plan,
        engine::Solved::Horizon(months) => {
            let charts = tokio::task::spawn_blocking(move || {
                let charts = views::month_charts(&months);
                (months, charts)
            })
            .await
            .map_err(|e| session.fail(ApiError::internal(e)))?;
            let (months, charts) = charts;
            return Ok(views::months_page(&session.caller, &row, &months, &charts).into_response());
        }
    };
    // The vendor-share cap is the portfolio's, read from the version the plan was made of, on
    // the catalog it was made on; a version that no longer parses just shows no cap.
    let yaml = state
        .db
        .get_version_by_id(row.portfolio_version_id)
        .await
        .map(|v| v.yaml)
        .ok();
    let base = state
        .catalogs
        .by_override_id(&state.db, row.catalog_override_id)
        .await
        .ok();
    let (plan, charts, cap) = tokio::task::spawn_blocking(move || {
        let cap = match (yaml, base) {
            (Some(yaml), Some(base)) => engine::parse_portfolio(&yaml, &base)
                .ok()
                .and_then(|(p, _)| p.policy.max_vendor_share),
            _ => None,
        };
        let charts = views::plan_charts(&plan, cap);
        (plan, charts, cap)
    })
    .await
    .map_err(|e| session.fail(ApiError::internal(e)))?;
    Ok(views::plan_page(&session.caller, &row, &plan, cap, &charts).into_response())
}

#[derive(Deserialize)]
struct ExportForm {
    /// A plan over time: the period whose fleet to export (empty: the first).
    period: Option<String>,
}

/// The API's export of a plan, as a JSON download.
async fn export(
    session: Session,
    State(state): State<AppState>,
    Path((id, format)): Path<(String, String)>,
    Query(q): Query<ExportForm>,
) -> Page {
    let id = parse_id(&id, "plan").map_err(|e| session.fail(e))?;
    let period = parse_opt(q.period.as_deref(), "period").map_err(|e| session.fail(e))?;
    let exported = match format.as_str() {
        "kueue" => {
            api::export_kueue(
                session.viewer(),
                State(state),
                ApiPath(id),
                ApiQuery(KueueQuery {
                    namespace: None,
                    multikueue: false,
                    period,
                }),
            )
            .await
        }
        "skypilot" => {
            let q = PeriodQuery { period };
            api::export_skypilot(session.viewer(), State(state), ApiPath(id), ApiQuery(q)).await
        }
        other => Err(ApiError::not_found(format!(
            "no export format `{other}` (kueue, skypilot)"
        ))),
    };
    let axum::Json(body) = exported.map_err(|e| session.fail(e))?;
    let json =
        serde_json::to_string_pretty(&body).map_err(|e| session.fail(ApiError::internal(e)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"plan-{id}-{format}.json\""),
            ),
        ],
        json,
    )
        .into_response())
}

// ------------------------------------------------------------------------------------------
// Jobs

#[derive(Deserialize)]
struct JobForm {
    kind: String,
    version: Option<String>,
    break_even: Option<String>,
    scenario: Option<String>,
    fixed_plan: Option<String>,
    samples: Option<String>,
    replan: Option<String>,
    seed: Option<String>,
}

/// The API's job parameters from the form (a checkbox is sent only when checked).
fn job_request(f: &JobForm) -> Result<JobRequest, ApiError> {
    let params = match f.kind.as_str() {
        "leverage" => json!({ "break_even": f.break_even.is_some() }),
        "stress" => json!({
            "scenario": f.scenario.clone().unwrap_or_default(),
            "fixed_plan": f.fixed_plan.is_some(),
        }),
        "montecarlo" => {
            let mut p = serde_json::Map::new();
            for (key, value) in [
                ("samples", &f.samples),
                ("replan", &f.replan),
                ("seed", &f.seed),
            ] {
                if let Some(n) = parse_opt::<u64>(value.as_deref(), key)? {
                    p.insert(key.into(), json!(n));
                }
            }
            Value::Object(p)
        }
        other => {
            return Err(ApiError::unprocessable(format!(
                "unknown analysis `{other}` (leverage, stress, montecarlo)"
            )));
        }
    };
    Ok(JobRequest {
        kind: serde_json::from_value(json!(f.kind)).map_err(ApiError::internal)?,
        params,
        version: parse_opt(f.version.as_deref(), "version")?,
    })
}

/// Starts an analysis through the API's handler, then goes to the job's page.
async fn start_job(
    session: Session,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Form(f): Form<JobForm>,
) -> Page {
    let editor = session.editor()?;
    let request = job_request(&f).map_err(|e| session.fail(e))?;
    let (_, axum::Json(job)) = api::create_job(editor, State(state), ApiPath(name), Json(request))
        .await
        .map_err(|e| session.fail(e))?;
    Ok(go_to(
        session.htmx,
        &format!("/jobs/{}", job.id),
        StatusCode::OK,
    ))
}

fn status_block(caller: &Caller, job: &JobRow) -> Markup {
    let result = match (job.status.as_str(), job.result_json.as_deref()) {
        ("done", Some(text)) => Some(match serde_json::from_str::<Value>(text) {
            Ok(v) => results::render(&job.kind, &v),
            Err(_) => views::error_box("the stored result cannot be read", &[], &[]),
        }),
        ("cancelled", _) => Some(html! { p.muted { "Cancelled." } }),
        _ => None,
    };
    views::job_status(caller, job, result)
}

async fn load_job(session: &Session, state: &AppState, id: &str) -> Result<JobRow, Fail> {
    let id = parse_id(id, "job").map_err(|e| session.fail(e))?;
    state
        .db
        .get_job(id)
        .await
        .map_err(|e: StoreError| session.fail(e.into()))
}

async fn job_page(session: Session, State(state): State<AppState>, Path(id): Path<String>) -> Page {
    let job = load_job(&session, &state, &id).await?;
    let status = status_block(&session.caller, &job);
    Ok(views::job_page(&session.caller, &job, status).into_response())
}

/// The status block alone, for htmx's polling.
async fn job_status(
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Page {
    let job = load_job(&session, &state, &id).await?;
    Ok(status_block(&session.caller, &job).into_response())
}

async fn cancel_job(
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Page {
    let editor = session.editor()?;
    let job = load_job(&session, &state, &id).await?;
    // A job that finished meanwhile answers 409; the block below shows how it ended.
    let _ = api::cancel_job(editor, State(state.clone()), ApiPath(job.id)).await;
    let job = load_job(&session, &state, &id).await?;
    Ok(status_block(&session.caller, &job).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/plans/3")), "/plans/3");
        assert_eq!(
            safe_next(Some("/portfolios/a?version=2")),
            "/portfolios/a?version=2"
        );
        for bad in [
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "plans",
            "/a b",
            "/\r\nSet-Cookie: x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; chipmix_session=cms_abc123; b=2"),
        );
        assert_eq!(
            session_id(&CookieJar::from_headers(&h)).as_deref(),
            Some("cms_abc123")
        );
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("chipmix_session=\"<script>\""),
        );
        assert_eq!(session_id(&CookieJar::from_headers(&h)), None);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(enc("/plans/3?x=a b&c"), "/plans/3%3Fx%3Da%20b%26c");
        assert_eq!(enc("lab-1_2.3~"), "lab-1_2.3~");
    }

    #[test]
    fn origins_must_name_this_host() {
        assert!(origin_matches("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(origin_matches("https://chipmix.example", "chipmix.example"));
        assert!(!origin_matches("http://127.0.0.1:8081", "127.0.0.1:8080"));
        assert!(!origin_matches("null", "127.0.0.1:8080"));
        assert!(!origin_matches(
            "http://chipmix.example.evil",
            "chipmix.example"
        ));
    }

    #[test]
    fn the_editor_marks_the_lines_with_diagnostics() {
        let diags = vec![Diag {
            line: 2,
            column: 5,
            path: "workloads[0].kind".into(),
            severity: "error".into(),
            message: "unknown kind `<script>`".into(),
        }];
        let html = views::editor(
            "yaml",
            "yaml",
            &EditorState {
                text: "name: x\nkind: <script>\n",
                diags: &diags,
                message: None,
            },
        )
        .into_string();
        assert!(html.contains(r#"id="yaml-L2""#), "{html}");
        assert!(html.contains("2:5"), "{html}");
        assert!(html.contains("workloads[0].kind"), "{html}");
        assert!(!html.contains("<script>"), "user text is escaped: {html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn the_new_portfolio_template_validates() {
        let catalog = chipmix_catalog::Catalog::builtin().unwrap();
        let parsed = engine::parse_portfolio(views::NEW_PORTFOLIO_TEMPLATE, &catalog);
        assert!(parsed.is_ok(), "{:?}", parsed.err());
    }

    #[test]
    fn results_render_whatever_shape_they_have() {
        // Reports from another server version, or cut short, still render (no panics).
        for kind in ["leverage", "stress", "montecarlo", "sweep", "other"] {
            for r in [
                json!(null),
                json!({}),
                json!({"rows": [{}], "points": [{}], "fixed_plan": {}, "replan": {}}),
            ] {
                let html = results::render(kind, &r).into_string();
                assert!(!html.is_empty(), "{kind}");
            }
        }
        let r = json!({
            "base_cost_usd_per_month": 100.0,
            "fixed_plan": {"samples": 3, "unserved_fraction": {"p95": 0.5}},
            "chart_samples": {"unserved_fraction": [0.0, 0.5, 1.0]},
        });
        let html = results::render("montecarlo", &r).into_string();
        assert!(html.contains(r#"id="montecarlo-histogram""#), "{html}");
        assert!(html.contains("<rect"), "{html}");
        assert!(!html.contains("montecarlo-by-period"), "{html}");
        let over_time = json!({
            "horizon_months": 2,
            "fixed_plan": {"samples": 3, "mean_unserved_by_period": [0.25, 0.5]},
        });
        let html = results::render("montecarlo", &over_time).into_string();
        assert!(html.contains("1: 25.0%, 2: 50.0%"), "{html}");
        // What a report over time or of a single-period version says, it says on the page.
        let r = json!({"note": "single-period <version>", "horizon_months": 12, "rows": []});
        let html = results::render("leverage", &r).into_string();
        assert!(html.contains("single-period &lt;version&gt;"), "{html}");
        assert!(html.contains("12-month horizon"), "{html}");
    }

    #[test]
    fn money_is_formatted_like_the_cli() {
        assert_eq!(views::usd(1234567.4), "$1,234,567");
        assert_eq!(views::usd(-1500.0), "-$1,500");
        assert_eq!(views::usd(f64::NAN), "n/a");
        assert_eq!(views::pct(0.1234), "12.3%");
    }
}
