//! The dashboard in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`; `scripts/install-browser.sh` installs them).
//!
//! Starts the `chipmix-server` binary on a fresh SQLite file, creates an editor token with its
//! `token create` command, and then, as a person would: signs in with the token, uploads
//! `examples/frontier-lab.yaml` through the upload form, runs a plan, checks the plan page
//! (an allocation row for every workload, a drawn spend-by-vendor chart), runs a small Monte
//! Carlo job and waits for its histogram, and saves a broken YAML to see the diagnostic shown
//! in place. Screenshots go to `CHIPMIX_ARTIFACTS_DIR`, else `<target dir>/browser-artifacts/`
//! (`dashboard.png`: the plan page; `job.png`: the finished Monte Carlo job; `diagnostics.png`:
//! the editor with the error; and `failure.png` with `failure.html` when a step fails).
//!
//! Without the browser the test fails and says how to install it, unless
//! `CHIPMIX_SKIP_BROWSER=1`, which skips it with a notice.
//!
//! A second test needs no browser: it checks the dashboard's sign-in, roles and cross-site
//! request refusal at the HTTP level, with requests a browser would not let a page make.

use anyhow::{Context as _, bail, ensure};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chipmix-server");
const WORKLOADS: [&str; 4] = ["pretrain-405b", "chat-70b", "assistant-8b", "finetune-8b"];
/// How long a page may take to show what a step waits for.
const PAGE: Duration = Duration::from_secs(30);
/// A solve of the example portfolio (with its baselines and rule prices) in a debug build.
const SOLVE: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(100);

/// A child process killed when the test ends, however it ends.
struct Process {
    child: Child,
    _stdout: Option<BufReader<ChildStdout>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An executable on PATH (or in Debian's own locations for Chromium).
fn find_executable(names: &[&str], extra_dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(extra_dirs.iter().map(PathBuf::from));
    let dirs: Vec<PathBuf> = dirs.collect();
    names.iter().find_map(|name| {
        dirs.iter()
            .map(|d| d.join(name))
            .find(|p| p.is_file() && is_executable(p))
    })
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    true
}

fn artifacts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHIPMIX_ARTIFACTS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        // The binary is <target>/<profile>/chipmix-server.
        .or_else(|| {
            Path::new(BIN)
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("browser-artifacts")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn create_token(db: &str, name: &str, role: &str) -> String {
    let out = Command::new(BIN)
        .args([
            "token", "create", "--name", name, "--role", role, "--db", db,
        ])
        .output()
        .expect("run chipmix-server token create");
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("cmx_"), "unexpected token {token:?}");
    token
}

/// The server on `db`, and its base URL (from its first line of output).
fn start_server(db: &str) -> (Process, String) {
    let mut child = Command::new(BIN)
        .args(["--db", db, "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start chipmix-server");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("read the listening line");
    let url = line
        .trim()
        .strip_prefix("chipmix-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
        .to_string();
    (
        Process {
            child,
            _stdout: Some(stdout),
        },
        url,
    )
}

/// chromedriver on a free port, once it answers `/status`.
async fn start_chromedriver(chromedriver: &Path) -> (Process, String) {
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
    let process = Process {
        child,
        _stdout: None,
    };
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{url}/status")).send().await
            && r.status().is_success()
        {
            return (process, url);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "chromedriver did not answer on {url} within 30 s"
        );
        tokio::time::sleep(POLL).await;
    }
}

async fn connect(webdriver: &str, chromium: &Path) -> Client {
    let caps: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-dev-shm-usage",
                    "--window-size=1400,1800",
                ],
            },
        }))
        .unwrap();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(webdriver)
        .await
        .unwrap_or_else(|e| panic!("cannot start a Chromium session through {webdriver}: {e}"))
}

/// Waits for an element, failing with what the page shows instead.
async fn wait_for(c: &Client, css: &str, timeout: Duration) -> anyhow::Result<Element> {
    let started = Instant::now();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            return Ok(e);
        }
        if started.elapsed() > timeout {
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let text = match c.find(Locator::Css("body")).await {
                Ok(b) => b.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            bail!(
                "`{css}` did not appear within {timeout:?} on {url}; the page says:\n{}",
                text.chars().take(2000).collect::<String>()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn text_of(c: &Client, css: &str) -> anyhow::Result<String> {
    Ok(c.find(Locator::Css(css)).await?.text().await?)
}

/// A checkbox's `checked` property (`"true"` / `"false"`).
async fn checked_prop(c: &Client, css: &str) -> anyhow::Result<Option<String>> {
    Ok(c.find(Locator::Css(css)).await?.prop("checked").await?)
}

/// A screenshot of the whole page: the window is made as tall as the page for the shot.
async fn full_page_screenshot(c: &Client) -> anyhow::Result<Vec<u8>> {
    let height = c
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await?
        .as_u64()
        .unwrap_or(1800)
        .clamp(600, 8000);
    c.set_window_size(1400, height as u32).await?;
    let png = c.screenshot().await;
    c.set_window_size(1400, 1800).await?;
    let png = png?;
    ensure!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    Ok(png)
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// What the user does, step by step.
async fn scenario(c: &Client, base: &str, token: &str, artifacts: &Path) -> anyhow::Result<()> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/frontier-lab.yaml")
        .canonicalize()
        .context("examples/frontier-lab.yaml")?;
    let example_text = std::fs::read_to_string(&example)?;
    for w in WORKLOADS {
        ensure!(
            example_text.contains(&format!("- name: {w}")),
            "the example no longer has workload {w}"
        );
    }

    // Not signed in: the dashboard sends the browser to the login page.
    c.goto(&format!("{base}/portfolios/frontier-lab")).await?;
    wait_for(c, "form#login-form", PAGE).await?;
    let url = c.current_url().await?;
    ensure!(url.path() == "/login", "expected the login page, got {url}");

    // A wrong token is refused on the page.
    c.find(Locator::Css("#token"))
        .await?
        .send_keys("cmx_wrong")
        .await?;
    c.find(Locator::Css("#login-submit")).await?.click().await?;
    wait_for(c, "#login-error", PAGE).await?;

    // Sign in; the browser comes back to the page it asked for (a 404 page: nothing uploaded
    // yet), and then goes to the portfolio list.
    c.find(Locator::Css("#token"))
        .await?
        .send_keys(token)
        .await?;
    c.find(Locator::Css("#login-submit")).await?.click().await?;
    wait_for(c, "#who", PAGE).await?;
    c.goto(&format!("{base}/")).await?;
    wait_for(c, "#upload-form", PAGE).await?;
    let who = text_of(c, "#who").await?;
    ensure!(who.contains("browser"), "signed in as {who:?}");

    // Upload the example through the file input.
    c.find(Locator::Css("#upload-name"))
        .await?
        .send_keys("frontier-lab")
        .await?;
    c.find(Locator::Css("#upload-file"))
        .await?
        .send_keys(&example.display().to_string())
        .await?;
    c.find(Locator::Css("#upload-submit"))
        .await?
        .click()
        .await?;
    wait_for(c, "#saved", PAGE).await?;
    ensure!(text_of(c, "#portfolio-name").await? == "frontier-lab");
    let checked = checked_prop(c, "#risk input[name=break_even]").await?;
    ensure!(
        checked.as_deref() == Some("true"),
        "break-even not ticked for a single-period portfolio: {checked:?}"
    );
    let stored = c
        .find(Locator::Css("textarea#yaml"))
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    ensure!(
        stored == example_text,
        "the editor shows a different text than the uploaded file"
    );

    // Run a plan; the page goes to the plan when the solve is done.
    c.find(Locator::Css("#run-plan")).await?.click().await?;
    wait_for(c, "table#allocations, #plan-result .error-box", SOLVE).await?;
    if let Ok(e) = c.find(Locator::Css("#plan-result .error-box")).await {
        bail!("the plan failed: {}", e.text().await?);
    }
    let mut seen = std::collections::BTreeSet::new();
    for row in c
        .find_all(Locator::Css("table#allocations tbody tr.allocation"))
        .await?
    {
        seen.insert(row.attr("data-workload").await?.unwrap_or_default());
    }
    for w in WORKLOADS {
        ensure!(
            seen.contains(w),
            "no allocation row for {w}; rows: {seen:?}"
        );
    }
    let bars = c
        .find_all(Locator::Css("#spend-by-vendor svg rect"))
        .await?;
    ensure!(!bars.is_empty(), "the spend-by-vendor chart has no bars");
    for id in ["vendor-shares", "spend-by-provider", "spend-by-chip"] {
        c.find(Locator::Css(&format!("#{id} svg")))
            .await
            .with_context(|| format!("no chart in #{id}"))?;
    }
    let plan_url = c.current_url().await?;
    ensure!(plan_url.path().starts_with("/plans/"), "on {plan_url}");
    let png = full_page_screenshot(c).await?;
    let shot = save(artifacts, "dashboard.png", &png)?;
    eprintln!(
        "browser test: screenshot of the plan page at {}",
        shot.display()
    );

    // The export links answer with the API's JSON (the cookie authenticates them).
    let href = c
        .find(Locator::Css("#export-kueue"))
        .await?
        .attr("href")
        .await?
        .unwrap_or_default();
    ensure!(href.ends_with("/export/kueue"), "kueue link {href}");

    // A small Monte Carlo run: the job page polls until done, then shows the histogram.
    c.goto(&format!("{base}/portfolios/frontier-lab")).await?;
    let samples = wait_for(c, "#samples", PAGE).await?;
    samples.clear().await?;
    samples.send_keys("200").await?;
    let replan = c.find(Locator::Css("#replan")).await?;
    replan.clear().await?;
    replan.send_keys("0").await?;
    c.find(Locator::Css("#start-montecarlo"))
        .await?
        .click()
        .await?;
    let finished = "#job-status:not([data-status=queued]):not([data-status=running])";
    let status = wait_for(c, finished, SOLVE).await?;
    let how = status.attr("data-status").await?.unwrap_or_default();
    ensure!(
        how == "done",
        "the job ended {how}: {}",
        status.text().await?
    );
    wait_for(c, "#montecarlo-histogram svg rect", PAGE).await?;
    ensure!(text_of(c, "#job-percent").await? == "100%");
    save(artifacts, "job.png", &full_page_screenshot(c).await?)?;

    // A broken YAML: the save is refused and the diagnostic is shown in place.
    c.goto(&format!("{base}/portfolios/frontier-lab")).await?;
    let editor = wait_for(c, "textarea#yaml", PAGE).await?;
    editor.clear().await?;
    editor
        .send_keys(
            "name: frontier-lab\nworkloads:\n  - name: chat\n    kind: inference\n    model: llama-3-8b\n    peak_requests_per_s: lots\n    prompt_tokens: 1000\n    output_tokens: 200\n    slo: { ttft_ms: 1000, tpot_ms: 50 }\n    software: [cuda]\n",
        )
        .await?;
    c.find(Locator::Css("#save")).await?.click().await?;
    wait_for(c, "#editor .validation-message", PAGE).await?;
    wait_for(c, "#editor ol#diagnostics li.diagnostic.error", PAGE).await?;
    let mut listed = Vec::new();
    let mut found = None;
    for item in c
        .find_all(Locator::Css("#editor ol#diagnostics li.diagnostic.error"))
        .await?
    {
        let text = item.text().await?;
        if found.is_none() && text.contains("workloads[0].peak_requests_per_s") {
            found = Some(item);
        }
        listed.push(text);
    }
    let item = found.with_context(|| {
        format!("no diagnostic names workloads[0].peak_requests_per_s: {listed:?}")
    })?;
    let line = item.attr("data-line").await?.unwrap_or_default();
    let loc = item.find(Locator::Css(".loc")).await?.text().await?;
    ensure!(
        loc.starts_with(&format!("{line}:")) && line == "6",
        "diagnostic at {loc:?} (line {line}), expected line 6"
    );
    let marked = c
        .find(Locator::Css(&format!(
            "#editor .gutter span.error#yaml-L{line}"
        )))
        .await
        .context("the gutter does not mark the line")?;
    ensure!(marked.text().await? == line);
    // Nothing was stored: still one version.
    let versions = c.find_all(Locator::Css("#version-list tbody tr")).await?;
    ensure!(
        versions.len() == 1,
        "{} versions after a refused save",
        versions.len()
    );
    save(artifacts, "diagnostics.png", &c.screenshot().await?)?;

    // A portfolio with a `horizon:`: its plan page shows the plan period by period.
    let horizon = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../chipmix-cli/tests/fixtures/horizon-small.yaml")
        .canonicalize()
        .context("the horizon-small fixture")?;
    c.goto(&format!("{base}/")).await?;
    wait_for(c, "#upload-form", PAGE).await?;
    c.find(Locator::Css("#upload-name"))
        .await?
        .send_keys("growing")
        .await?;
    c.find(Locator::Css("#upload-file"))
        .await?
        .send_keys(&horizon.display().to_string())
        .await?;
    c.find(Locator::Css("#upload-submit"))
        .await?
        .click()
        .await?;
    wait_for(c, "#saved", PAGE).await?;
    // Leverage over time: the break-even search (a plan over time per step) starts unticked.
    let checked = checked_prop(c, "#risk input[name=break_even]").await?;
    ensure!(
        checked.as_deref() == Some("false"),
        "break-even ticked for a portfolio with a horizon: {checked:?}"
    );
    c.find(Locator::Css("#run-plan")).await?.click().await?;
    wait_for(c, "table#periods, #plan-result .error-box", SOLVE).await?;
    if let Ok(e) = c.find(Locator::Css("#plan-result .error-box")).await {
        bail!("the plan over time failed: {}", e.text().await?);
    }
    let periods = c
        .find_all(Locator::Css("table#periods tbody tr.period"))
        .await?;
    ensure!(
        periods.len() == 4,
        "{} period rows, expected 4",
        periods.len()
    );
    for id in ["cost-over-time", "shares-over-time"] {
        c.find(Locator::Css(&format!("#{id} svg")))
            .await
            .with_context(|| format!("no chart in #{id}"))?;
    }
    c.find(Locator::Css("#exports input[name=period]"))
        .await
        .context("no period to export")?;
    save(
        artifacts,
        "plan-over-time.png",
        &full_page_screenshot(c).await?,
    )?;

    // Signing out ends the session.
    c.find(Locator::Css("#logout")).await?.click().await?;
    wait_for(c, "form#login-form", PAGE).await?;
    c.goto(&format!("{base}/")).await?;
    wait_for(c, "form#login-form", PAGE).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_browser() {
    if std::env::var("CHIPMIX_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("browser test skipped: CHIPMIX_SKIP_BROWSER=1");
        return;
    }
    let missing = |what: &str| -> ! {
        panic!(
            "{what} not found: run scripts/install-browser.sh (it installs Debian's chromium and chromium-driver; CI runs it), or set CHIPMIX_SKIP_BROWSER=1 to skip this test"
        )
    };
    let chromedriver = find_executable(&["chromedriver"], &["/usr/lib/chromium"])
        .unwrap_or_else(|| missing("chromedriver"));
    let chromium = find_executable(
        &["chromium", "chromium-browser", "google-chrome"],
        &["/usr/lib/chromium"],
    )
    .unwrap_or_else(|| missing("chromium"));

    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("browser.db").display()
    );
    let token = create_token(&db, "browser", "editor");
    let (_server, base) = start_server(&db);
    let (_driver, webdriver) = start_chromedriver(&chromedriver).await;
    let client = connect(&webdriver, &chromium).await;
    let artifacts = artifacts_dir();
    // What a failed run left would read as this run's.
    for stale in ["failure.png", "failure.html"] {
        let _ = std::fs::remove_file(artifacts.join(stale));
    }

    let outcome = scenario(&client, &base, &token, &artifacts).await;
    if outcome.is_err() {
        if let Ok(png) = client.screenshot().await {
            let _ = save(&artifacts, "failure.png", &png);
        }
        if let Ok(html) = client.source().await {
            let _ = save(&artifacts, "failure.html", html.as_bytes());
        }
    }
    let _ = client.close().await;
    if let Err(e) = outcome {
        panic!(
            "{e:#}\n(screenshot and page source in {})",
            artifacts.display()
        );
    }
}

/// Sign-in, roles and CSRF at the HTTP level (no browser needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_sessions_roles_and_cross_site_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("http.db").display());
    let editor = create_token(&db, "ed", "editor");
    let viewer = create_token(&db, "vi", "viewer");
    let (_server, base) = start_server(&db);
    let host = base.strip_prefix("http://").unwrap().to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };

    // Anonymous: pages redirect to the login page; htmx requests get HX-Redirect.
    let r = http.get(format!("{base}/plans/1")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/login?next=/plans/1");
    let r = http
        .get(format!("{base}/jobs/1/status"))
        .header("hx-request", "true")
        .header("hx-current-url", format!("{base}/jobs/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "hx-redirect"), "/login?next=/jobs/1");
    // The API is unchanged: JSON 401 without a bearer token, and a cookie is not a token.
    let r = http
        .get(format!("{base}/api/v1/portfolios"))
        .header("cookie", format!("chipmix_session={editor}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Pages carry the security headers; the assets are served from the binary.
    let r = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-security-policy").contains("script-src 'self'"));
    assert_eq!(header(&r, "x-frame-options"), "DENY");
    let r = http
        .get(format!("{base}/assets/htmx.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/javascript"));
    assert!(r.text().await.unwrap().starts_with("var htmx="));

    // Login: refused from another origin (login CSRF), accepted from this one.
    let form = [("token", editor.as_str()), ("next", "/")];
    let r = http
        .post(format!("{base}/login"))
        .header("origin", "http://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(header(&r, "set-cookie").is_empty());
    let r = http
        .post(format!("{base}/login"))
        .header("origin", format!("http://{host}"))
        .form(&[("token", "cmx_nope"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(header(&r, "set-cookie").is_empty());
    let r = http
        .post(format!("{base}/login"))
        .header("origin", format!("http://{host}"))
        .form(&[("token", editor.as_str()), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/", "no open redirect");
    let cookie = header(&r, "set-cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    // The cookie holds a session id, never the token.
    assert!(session.starts_with("chipmix_session=cms_"), "{session}");
    assert!(!cookie.contains(editor.as_str()), "{cookie}");
    let r = http
        .get(format!("{base}/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("upload-form"));

    // A signed-in browser's cookie does not make a cross-site post go through.
    let yaml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/frontier-lab.yaml"),
    )
    .unwrap();
    let new = [("name", "lab"), ("yaml", yaml.as_str())];
    let cross_site = [
        vec![("origin", "http://evil.example".to_string())],
        vec![("origin", "null".to_string())],
        // No Origin and no HX-Request: not from one of our pages.
        vec![],
        vec![
            ("origin", format!("http://{host}")),
            ("sec-fetch-site", "cross-site".to_string()),
        ],
    ];
    for headers in cross_site {
        let mut req = http
            .post(format!("{base}/portfolios"))
            .header("cookie", &session)
            .form(&new);
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 403, "{headers:?}");
    }
    let r = http
        .get(format!("{base}/portfolios/lab"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "nothing was created");

    // From this origin it goes through (htmx: HX-Redirect to the new portfolio).
    let r = http
        .post(format!("{base}/portfolios"))
        .header("cookie", &session)
        .header("origin", format!("http://{host}"))
        .header("hx-request", "true")
        .form(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(header(&r, "hx-redirect"), "/portfolios/lab?saved=1");

    // A token in the cookie is not a session.
    let r = http
        .get(format!("{base}/"))
        .header("cookie", format!("chipmix_session={viewer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // A viewer reads but cannot write.
    let r = http
        .post(format!("{base}/login"))
        .header("origin", format!("http://{host}"))
        .form(&[("token", viewer.as_str()), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let viewer_cookie = header(&r, "set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = http
        .get(format!("{base}/portfolios/lab"))
        .header("cookie", &viewer_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("frontier-lab") && !page.contains("id=\"run-plan\""));
    let r = http
        .post(format!("{base}/portfolios/lab/plans"))
        .header("cookie", &viewer_cookie)
        .header("origin", format!("http://{host}"))
        .form(&[("version", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Signing out clears the cookie.
    let r = http
        .post(format!("{base}/logout"))
        .header("cookie", &session)
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(header(&r, "set-cookie").contains("Max-Age=0"));
    // The session ended on the server: a copy of the old cookie opens nothing.
    let r = http
        .get(format!("{base}/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed out");
    assert_eq!(header(&r, "location"), "/login");
}
