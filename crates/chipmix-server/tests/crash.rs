//! Durability: every write the server acknowledged survives a SIGKILL of the server.
//!
//! Runs the `chipmix-server` binary on a SQLite file, streams portfolio versions at it from
//! several writers, kills it (SIGKILL) while writes are in flight, restarts it on the same
//! file, and reads every acknowledged version back.

mod common;

use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chipmix-server");

/// Starts the server on `db`; returns it and its base URL (read from its first line).
fn start(db: &str) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["--db", db, "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start chipmix-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let url = line
        .trim()
        .strip_prefix("chipmix-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (child, url)
}

fn yaml_version(writer: usize, n: usize) -> String {
    format!(
        "# writer {writer}, write {n}\n{}",
        common::example("frontier-lab.yaml")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("crash.db").display()
    );
    let out = Command::new(BIN)
        .args([
            "token", "create", "--name", "writer", "--role", "editor", "--db", &db,
        ])
        .output()
        .expect("token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("cmx_"));

    let (mut server, url) = start(&db);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let r = client
        .post(format!("{url}/api/v1/portfolios"))
        .bearer_auth(&token)
        .json(&json!({"name": "lab", "yaml": yaml_version(0, 0)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // version → the YAML it was acknowledged with.
    let acked: Arc<Mutex<BTreeMap<i64, String>>> = Arc::default();
    acked.lock().unwrap().insert(1, yaml_version(0, 0));
    let mut writers = Vec::new();
    for w in 1..=4 {
        let (client, url, token, acked) =
            (client.clone(), url.clone(), token.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let mut failures = 0;
            for n in 0.. {
                let yaml = yaml_version(w, n);
                let sent = client
                    .put(format!("{url}/api/v1/portfolios/lab"))
                    .bearer_auth(&token)
                    .json(&json!({"yaml": yaml}))
                    .send()
                    .await;
                let Ok(resp) = sent else {
                    // The server is gone: stop after a few refused connections.
                    failures += 1;
                    if failures > 3 {
                        break;
                    }
                    continue;
                };
                if !resp.status().is_success() {
                    continue;
                }
                // Acknowledged only once the whole body arrived.
                let Ok(body) = resp.json::<serde_json::Value>().await else {
                    continue;
                };
                let version = body["version"].as_i64().expect("version");
                acked.lock().unwrap().insert(version, yaml);
            }
        }));
    }
    // Kill mid-stream, once a good number of writes went through.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 200 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "writes too slow"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
    server.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let (mut server, url) = start(&db);
    let r = client
        .get(format!("{url}/api/v1/portfolios/lab/versions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let versions: Vec<i64> = r
        .json::<serde_json::Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    let max = *versions.last().unwrap();
    assert_eq!(
        versions,
        (1..=max).collect::<Vec<_>>(),
        "versions are contiguous"
    );
    for (version, yaml) in &acked {
        let r = client
            .get(format!("{url}/api/v1/portfolios/lab?version={version}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged version {version} lost");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["yaml"].as_str().unwrap(), yaml, "version {version}");
    }
    eprintln!(
        "{} acknowledged versions all present after SIGKILL; {} stored in all",
        acked.len(),
        max
    );
    // The restarted server still takes writes, numbered after the survivors.
    let r = client
        .put(format!("{url}/api/v1/portfolios/lab"))
        .bearer_auth(&token)
        .json(&json!({"yaml": yaml_version(9, 9)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["version"].as_i64().unwrap(), max + 1);
    server.kill().unwrap();
    server.wait().unwrap();
}
