//! A real server on a real database for each test: SQLite in a temporary directory, or
//! PostgreSQL (when `CHIPMIX_TEST_POSTGRES_URL` is set) in a fresh schema of its own.

#![allow(dead_code)] // each test binary uses a different part

use chipmix_server::{AppState, Config, Role};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

pub const POSTGRES_ENV: &str = "CHIPMIX_TEST_POSTGRES_URL";

pub fn example(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub enum Store {
    Sqlite(tempfile::TempDir),
    /// The server URL (search_path set to the schema) and the schema to drop afterwards.
    Postgres {
        base_url: String,
        schema: String,
    },
}

impl Store {
    pub fn sqlite() -> (Store, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("chipmix.db").display()
        );
        (Store::Sqlite(dir), url)
    }

    /// `None` when the variable is unset: the caller reports the test as skipped.
    pub async fn postgres() -> Option<(Store, String)> {
        let base_url = std::env::var(POSTGRES_ENV).ok()?;
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).expect("random");
        let schema = format!(
            "chipmix_test_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let admin = admin_pool(&base_url).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("create the test schema");
        admin.close().await;
        let sep = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{sep}options[search_path]={schema}");
        Some((Store::Postgres { base_url, schema }, url))
    }

    pub async fn cleanup(self) {
        if let Store::Postgres { base_url, schema } = self {
            let admin = admin_pool(&base_url).await;
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await;
            admin.close().await;
        }
    }
}

async fn admin_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_ENV}: {e}"))
}

pub struct TestServer {
    pub base: String,
    pub admin: String,
    pub client: reqwest::Client,
    pub db: chipmix_server::Db,
    store: Store,
    server: tokio::task::JoinHandle<()>,
}

pub struct Response {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
}

impl Response {
    /// This response, after checking its status (the body is shown when it differs).
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Response {
        assert_eq!(self.status, status, "{}", self.text);
        self
    }
}

impl TestServer {
    pub async fn start(store: Store, url: String) -> TestServer {
        Self::start_with(store, url, Config::default()).await
    }

    pub async fn start_with(store: Store, url: String, config: Config) -> TestServer {
        let db = chipmix_server::open_db(&url)
            .await
            .expect("open the database");
        db.migrate().await.expect("migrate");
        let admin = chipmix_server::create_token(&db, "admin", Role::Admin)
            .await
            .expect("admin token");
        let state = AppState::new(
            db.clone(),
            Config {
                db_url: url,
                ..config
            },
        )
        .expect("state");
        let app = chipmix_server::router(state).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        TestServer {
            base: format!("http://{addr}"),
            admin,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .expect("client"),
            db,
            store,
            server,
        }
    }

    pub async fn finish(self) {
        self.server.abort();
        self.db.close().await;
        self.store.cleanup().await;
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Body>,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req = match body {
            Some(Body::Json(v)) => req.json(&v),
            Some(Body::Raw(content_type, bytes)) => {
                req.header("content-type", content_type).body(bytes)
            }
            None => req,
        };
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Response { status, body, text }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(token), Some(Body::Json(body)))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Response {
        self.send(Method::PUT, path, Some(token), Some(Body::Json(body)))
            .await
    }

    /// A token of `role` made through the API.
    pub async fn token(&self, name: &str, role: &str) -> String {
        let r = self
            .post(
                "/api/v1/tokens",
                &self.admin,
                serde_json::json!({"name": name, "role": role}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["token"].as_str().expect("secret").to_string()
    }

    /// Polls a job until it leaves queued/running (or `limit` passes).
    pub async fn wait_job(&self, id: i64, limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let r = self.get(&format!("/api/v1/jobs/{id}"), &self.admin).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            let status = r.body["status"].as_str().unwrap_or_default().to_string();
            if !matches!(status.as_str(), "queued" | "running") {
                return r.body;
            }
            assert!(
                started.elapsed() < limit,
                "job {id} still {status} after {limit:?}: {}",
                r.text
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub enum Body {
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

/// Runs each named scenario `async fn NAME(server: &TestServer)` on SQLite and, when
/// `CHIPMIX_TEST_POSTGRES_URL` is set, on PostgreSQL (otherwise that variant says it skipped).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, url) = $crate::common::Store::sqlite();
                    let server = $crate::common::TestServer::start(store, url).await;
                    super::$name(&server).await;
                    server.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some((store, url)) = $crate::common::Store::postgres().await else {
                        // Never a silent pass: without PostgreSQL this suite fails, unless
                        // skipping was asked for by name.
                        assert!(
                            std::env::var_os("CHIPMIX_SKIP_POSTGRES").is_some(),
                            "{} needs PostgreSQL: run `bash scripts/test.sh` (starts it), or set {} \
                             (e.g. postgres://chipmix:chipmix@127.0.0.1:5432/chipmix_test), or \
                             CHIPMIX_SKIP_POSTGRES=1 to skip the PostgreSQL suite",
                            stringify!($name),
                            $crate::common::POSTGRES_ENV
                        );
                        eprintln!("SKIPPED (CHIPMIX_SKIP_POSTGRES): postgres::{}", stringify!($name));
                        return;
                    };
                    let server = $crate::common::TestServer::start(store, url).await;
                    super::$name(&server).await;
                    server.finish().await;
                }
            )*
        }
    };
}
