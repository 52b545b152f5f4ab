//! Load benchmark of the plan read path: `GET /api/v1/plans/{id}` under concurrent keep-alive
//! clients, idle and while plan solves run (`cargo bench -p chipmix-server --bench load`).
//!
//! The server is the library's own router on a temporary SQLite file, served with
//! `axum::serve` exactly as `chipmix_server::serve` does, on its own multi-thread tokio runtime
//! (one worker per core, like the binary). The load generator runs on a second runtime, so the
//! client's tasks never sit in the server's run queues; both runtimes share the machine's cores
//! (on a 2-core VM: 2 server workers, 2 client workers, plus the blocking pool where solves
//! run), so the numbers are what one box does when it both generates and serves the load.
//!
//! Each client is one HTTP/1.1 keep-alive connection (hyper's `client::conn::http1`, the
//! connection under hyper-util's and reqwest's pools, without a pool in the way) that sends a
//! request, reads the whole body, and sends the next: a closed loop, so the latencies are
//! those of a saturated server (Little's law: mean latency ≈ clients / throughput). The last
//! phase is an open loop at a fixed offered rate (the target's 5,000/s): each request has a
//! scheduled send time and its latency is counted from that time, so a stall is charged to
//! every request it delays (no coordinated omission).
//!
//! Phases: a warm-up, then closed loops at 16 and 64 clients while idle, the same while a
//! background task solves `examples/frontier-lab.yaml` (analysis on) over and over, and the
//! open loop during solves. Latencies go into a sorted vector (exact percentiles). Bounded:
//! about 50 s with the defaults. Knobs (environment): `CHIPMIX_LOAD_SECS` (seconds per
//! measured phase, default 8), `CHIPMIX_LOAD_WARMUP_SECS` (2), `CHIPMIX_LOAD_RATE` (offered
//! rate of the open-loop phase, 5000; 0 skips it), `CHIPMIX_LOAD_SERVER_THREADS` and
//! `CHIPMIX_LOAD_CLIENT_THREADS` (worker threads of each runtime, default: the core count).
//!
//! Columns: errors are non-200 answers and transport errors (in the open loop also the requests
//! still unsent 2 s after the phase's end); CPU is cores used over the phase, from
//! /proc/self/task, by the server's async workers, sqlx's SQLite threads (one per pooled
//! connection), the server's blocking pool (the solves) and the load generator; solves are
//! background solves that finished during the phase.
//!
//! Only loopback addresses are used; every loop stops at its deadline.

use chipmix_server::{AppState, Config, Role, create_token, open_db, router};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

type Sender = SendRequest<Full<Bytes>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PORTFOLIO: &str = "frontier-lab";

/// How long past its end an open-loop phase may go on sending requests that fell behind.
const DRAIN: Duration = Duration::from_secs(2);

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One keep-alive HTTP/1.1 connection to `addr`.
async fn connect(addr: SocketAddr) -> Result<Sender, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request on `sender` and reads the whole response body.
async fn send(
    sender: &mut Sender,
    method: Method,
    path: &str,
    token: &str,
    json: Option<String>,
) -> Result<(StatusCode, Bytes), BoxError> {
    sender.ready().await?;
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1")
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let body = match json {
        Some(j) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Bytes::from(j)
        }
        None => Bytes::new(),
    };
    let resp = sender.send_request(req.body(Full::new(body))?).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

/// `send`, failing unless the status is `expected`; the body as JSON.
async fn call(
    sender: &mut Sender,
    method: Method,
    path: &str,
    token: &str,
    json: Option<serde_json::Value>,
    expected: StatusCode,
) -> serde_json::Value {
    let (status, body) = send(
        sender,
        method.clone(),
        path,
        token,
        json.map(|j| j.to_string()),
    )
    .await
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    assert_eq!(
        status,
        expected,
        "{method} {path}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"))
}

/// What one phase measured.
struct Outcome {
    phase: String,
    clients: usize,
    /// Latencies of the successful requests, microseconds, sorted.
    latencies_us: Vec<u64>,
    errors: u64,
    elapsed: Duration,
    /// CPU seconds per thread group over the phase.
    cpu: Cpu,
    solves: u64,
}

impl Outcome {
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies_us.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.latencies_us.len()) - 1;
        self.latencies_us[i] as f64 / 1000.0
    }

    fn row(&self) -> String {
        let n = self.latencies_us.len();
        let secs = self.elapsed.as_secs_f64();
        let max = self
            .latencies_us
            .last()
            .map_or(f64::NAN, |&m| m as f64 / 1000.0);
        format!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} / {:.2} / {:.2} / {:.2} | {} |",
            self.phase,
            self.clients,
            n,
            self.errors,
            n as f64 / secs,
            self.percentile_ms(50.0),
            self.percentile_ms(99.0),
            self.percentile_ms(99.9),
            max,
            self.cpu.server / secs,
            self.cpu.db / secs,
            self.cpu.solver / secs,
            self.cpu.client / secs,
            self.solves,
        )
    }
}

/// CPU time of this process's threads, seconds, by the runtime they belong to.
#[derive(Clone, Copy, Default)]
struct Cpu {
    /// The server runtime's async workers.
    server: f64,
    /// sqlx's SQLite threads (one per pooled connection; the queries run there).
    db: f64,
    /// The server runtime's blocking pool (solves, and whatever else handlers send there).
    solver: f64,
    /// The load generator's runtime.
    client: f64,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, o: Cpu) -> Cpu {
        Cpu {
            server: self.server - o.server,
            db: self.db - o.db,
            solver: self.solver - o.solver,
            client: self.client - o.client,
        }
    }
}

/// Reads /proc/self/task/*/stat (Linux; zeros elsewhere). Threads are told apart by name:
/// see `on_thread_start` in `main`.
fn cpu_now() -> Cpu {
    let mut cpu = Cpu::default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return cpu;
    };
    // USER_HZ is 100 on every Linux this runs on.
    let tick = 0.01;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // After the name: state is field 3, utime field 14, stime field 15 (1-based).
        let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<f64>().ok());
        let (Some(user), Some(system)) = (ticks(14), ticks(15)) else {
            continue;
        };
        let secs = (user + system) * tick;
        if name.starts_with("srv-async") {
            cpu.server += secs;
        } else if name.starts_with("sqlx") {
            cpu.db += secs;
        } else if name.starts_with("srv-blocking") {
            cpu.solver += secs;
        } else if name.starts_with("load") {
            cpu.client += secs;
        }
    }
    cpu
}

/// Closed loop: `clients` connections, each sending the next request when the last answered,
/// for `duration`.
async fn closed_loop(
    addr: SocketAddr,
    path: Arc<str>,
    token: Arc<str>,
    clients: usize,
    duration: Duration,
) -> (Vec<u64>, u64, Duration) {
    let mut senders = Vec::with_capacity(clients);
    for _ in 0..clients {
        senders.push(connect(addr).await.expect("connect"));
    }
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut sender| {
            let (path, token) = (path.clone(), token.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(16 * 1024);
                let mut errors = 0u64;
                loop {
                    let t0 = Instant::now();
                    if t0 >= deadline {
                        break;
                    }
                    match send(&mut sender, Method::GET, &path, &token, None).await {
                        Ok((StatusCode::OK, body)) if !body.is_empty() => {
                            latencies.push(t0.elapsed().as_micros() as u64)
                        }
                        Ok(_) => errors += 1,
                        Err(_) => {
                            errors += 1;
                            match connect(addr).await {
                                Ok(s) => sender = s,
                                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                            }
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client task");
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    (all, errors, elapsed)
}

/// Open loop: `rate` requests per second spread over `clients` connections, each request
/// timed from when it was due.
async fn open_loop(
    addr: SocketAddr,
    path: Arc<str>,
    token: Arc<str>,
    clients: usize,
    rate: f64,
    duration: Duration,
) -> (Vec<u64>, u64, Duration) {
    let mut senders = Vec::with_capacity(clients);
    for _ in 0..clients {
        senders.push(connect(addr).await.expect("connect"));
    }
    let interval = Duration::from_secs_f64(clients as f64 / rate);
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, mut sender)| {
            let (path, token) = (path.clone(), token.clone());
            // Staggered so that the connections do not fire together.
            let first = start + interval.mul_f64(i as f64 / clients as f64);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(16 * 1024);
                let mut errors = 0u64;
                let mut due = first;
                while due < deadline {
                    if Instant::now() > deadline + DRAIN {
                        // Too far behind: what is still due counts as failed, and the phase
                        // stays bounded.
                        errors +=
                            ((deadline - due).as_secs_f64() / interval.as_secs_f64()).ceil() as u64;
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                    match send(&mut sender, Method::GET, &path, &token, None).await {
                        Ok((StatusCode::OK, body)) if !body.is_empty() => {
                            latencies.push(due.elapsed().as_micros() as u64)
                        }
                        Ok(_) => errors += 1,
                        Err(_) => {
                            errors += 1;
                            if let Ok(s) = connect(addr).await {
                                sender = s;
                            }
                        }
                    }
                    due += interval;
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client task");
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    (all, errors, elapsed)
}

/// Solves the portfolio again and again (analysis on) until `stop`; counts the solves.
async fn solve_forever(
    addr: SocketAddr,
    editor: Arc<str>,
    stop: Arc<AtomicBool>,
    solves: Arc<AtomicU64>,
) {
    let mut sender = connect(addr).await.expect("connect");
    let path = format!("/api/v1/portfolios/{PORTFOLIO}/plans");
    while !stop.load(Ordering::Relaxed) {
        let body = serde_json::json!({ "analysis": true, "time_limit_s": 10.0 }).to_string();
        match send(&mut sender, Method::POST, &path, &editor, Some(body)).await {
            Ok((StatusCode::CREATED, _)) => {
                solves.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, body)) => panic!(
                "background solve: {status}: {}",
                String::from_utf8_lossy(&body)
            ),
            Err(e) => panic!("background solve: {e}"),
        }
    }
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let secs = env_f64("CHIPMIX_LOAD_SECS", 8.0);
    let warmup_secs = env_f64("CHIPMIX_LOAD_WARMUP_SECS", 2.0);
    let rate = env_f64("CHIPMIX_LOAD_RATE", 5000.0);
    let server_threads = env_usize("CHIPMIX_LOAD_SERVER_THREADS", cores).max(1);
    let client_threads = env_usize("CHIPMIX_LOAD_CLIENT_THREADS", cores).max(1);
    let phase = Duration::from_secs_f64(secs);
    let bench_start = Instant::now();

    // The server: its own runtime, like `chipmix_server::cli::main`. Worker and blocking
    // threads are told apart by name for the CPU columns.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(server_threads)
        .thread_name_fn({
            // The workers are the first threads the runtime starts (at build); every later
            // one is a blocking-pool thread.
            let started = AtomicU64::new(0);
            move || {
                if started.fetch_add(1, Ordering::Relaxed) < server_threads as u64 {
                    "srv-async".into()
                } else {
                    "srv-blocking".into()
                }
            }
        })
        // Idle blocking threads would exit after 10 s and take their CPU time with them.
        .thread_keep_alive(Duration::from_secs(3600))
        .enable_all()
        .build()
        .expect("server runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("chipmix.db").display()
    );
    let (addr, viewer, editor) = server_rt.block_on(async {
        let db = open_db(&db_url).await.expect("open the database");
        db.migrate().await.expect("migrate");
        let viewer = create_token(&db, "bench-viewer", Role::Viewer)
            .await
            .expect("viewer token");
        let editor = create_token(&db, "bench-editor", Role::Editor)
            .await
            .expect("editor token");
        let state = AppState::new(
            db,
            Config {
                db_url: db_url.clone(),
                ..Config::default()
            },
        )
        .expect("state");
        let app = router(state).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        (addr, Arc::<str>::from(viewer), Arc::<str>::from(editor))
    });

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .thread_name("load")
        .enable_all()
        .build()
        .expect("client runtime");

    let mut outcomes = Vec::new();
    let (plan_path, plan_bytes, solve_secs) = client_rt.block_on(async {
        let mut s = connect(addr).await.expect("connect");
        let yaml = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/frontier-lab.yaml"),
        )
        .expect("examples/frontier-lab.yaml");
        call(
            &mut s,
            Method::POST,
            "/api/v1/portfolios",
            &editor,
            Some(serde_json::json!({ "name": PORTFOLIO, "yaml": yaml })),
            StatusCode::CREATED,
        )
        .await;
        let t0 = Instant::now();
        let plan = call(
            &mut s,
            Method::POST,
            &format!("/api/v1/portfolios/{PORTFOLIO}/plans"),
            &editor,
            Some(serde_json::json!({ "analysis": true })),
            StatusCode::CREATED,
        )
        .await;
        let solve_secs = t0.elapsed().as_secs_f64();
        let id = plan["id"].as_i64().expect("plan id");
        let path = format!("/api/v1/plans/{id}");
        let (status, body) = send(&mut s, Method::GET, &path, &viewer, None)
            .await
            .expect("GET plan");
        assert_eq!(status, StatusCode::OK);
        (Arc::<str>::from(path), body.len(), solve_secs)
    });
    eprintln!(
        "load: server on {addr} ({server_threads} workers), load generator {client_threads} workers, {cores} cores; \
         GET {plan_path} returns {plan_bytes} bytes; one solve with analysis took {solve_secs:.2} s"
    );

    client_rt.block_on(async {
        // Warm-up: connections, SQLite's page cache, the allocator.
        let _ = closed_loop(
            addr,
            plan_path.clone(),
            viewer.clone(),
            16,
            Duration::from_secs_f64(warmup_secs),
        )
        .await;

        let mut measure =
            |name: &str, clients: usize, run: (Vec<u64>, u64, Duration), cpu: Cpu, solves: u64| {
                let (latencies_us, errors, elapsed) = run;
                let o = Outcome {
                    phase: name.into(),
                    clients,
                    latencies_us,
                    errors,
                    elapsed,
                    cpu,
                    solves,
                };
                eprintln!("{}", o.row());
                outcomes.push(o);
            };

        for clients in [16, 64] {
            let c0 = cpu_now();
            let run = closed_loop(addr, plan_path.clone(), viewer.clone(), clients, phase).await;
            measure("idle", clients, run, cpu_now() - c0, 0);
        }

        let stop = Arc::new(AtomicBool::new(false));
        let solves = Arc::new(AtomicU64::new(0));
        let solver = tokio::spawn(solve_forever(
            addr,
            editor.clone(),
            stop.clone(),
            solves.clone(),
        ));
        // Let the first solve get going.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for clients in [16, 64] {
            let (c0, n0) = (cpu_now(), solves.load(Ordering::Relaxed));
            let run = closed_loop(addr, plan_path.clone(), viewer.clone(), clients, phase).await;
            measure(
                "during solves",
                clients,
                run,
                cpu_now() - c0,
                solves.load(Ordering::Relaxed) - n0,
            );
        }
        if rate > 0.0 {
            let (c0, n0) = (cpu_now(), solves.load(Ordering::Relaxed));
            let run = open_loop(addr, plan_path.clone(), viewer.clone(), 64, rate, phase).await;
            measure(
                &format!("during solves, open loop {rate:.0}/s"),
                64,
                run,
                cpu_now() - c0,
                solves.load(Ordering::Relaxed) - n0,
            );
        }
        stop.store(true, Ordering::Relaxed);
        // The solve in flight finishes within its time limit. The task ends early only by
        // panicking (a failed solve): then the "during solves" rows are void.
        if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(15), solver).await
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    });

    println!();
    println!(
        "GET /api/v1/plans/{{id}} ({plan_bytes}-byte body), {secs:.0} s per phase, {cores} cores: server runtime {server_threads} workers, load generator {client_threads} workers in the same process"
    );
    println!();
    println!(
        "| phase | clients | requests | errors | req/s | p50 ms | p99 ms | p99.9 ms | max ms | CPU cores: server / sqlite / solves / client | solves |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    for o in &outcomes {
        println!("{}", o.row());
    }
    println!();
    println!("total {:.1} s", bench_start.elapsed().as_secs_f64());
    drop(client_rt);
    server_rt.shutdown_timeout(Duration::from_secs(2));
}
