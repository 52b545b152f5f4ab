//! The API end to end over HTTP, on SQLite and (with `CHIPMIX_TEST_POSTGRES_URL`) PostgreSQL.

mod common;

use common::{Body, TestServer, example};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

on_both_backends!(
    portfolio_versions_plans_diff_and_exports,
    validation_errors_are_located,
    catalog_overrides_change_the_catalog,
    infeasible_portfolio_is_422_with_reasons,
    montecarlo_job_finishes_and_a_long_one_cancels,
    cancelling_a_leverage_job_stops_its_work,
    job_parameters_are_checked,
    tokens_and_roles,
    body_over_the_limit_is_413,
    health_metrics_and_openapi,
    reads_answer_while_a_plan_solves,
    plans_over_time_are_stored_shown_and_exported_by_period,
);

fn frontier() -> String {
    example("frontier-lab.yaml")
}

async fn create_frontier(s: &TestServer, name: &str) {
    s.post(
        "/api/v1/portfolios",
        &s.admin,
        json!({"name": name, "yaml": frontier()}),
    )
    .await
    .expect(StatusCode::CREATED);
}

/// Starts a job on `portfolio` and waits for it to finish; its stored parameters (defaults
/// filled in) and the finished job.
async fn job_done(s: &TestServer, portfolio: &str, body: Value) -> (Value, Value) {
    let r = s
        .post(
            &format!("/api/v1/portfolios/{portfolio}/jobs"),
            &s.admin,
            body,
        )
        .await
        .expect(StatusCode::ACCEPTED);
    let job = s
        .wait_job(r.body["id"].as_i64().unwrap(), Duration::from_secs(240))
        .await;
    assert_eq!(job["status"], "done", "{job}");
    (r.body["params"].clone(), job)
}

/// A portfolio with a `horizon:` (four months of growth), small enough to plan at once.
fn horizon_small() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../chipmix-cli/tests/fixtures/horizon-small.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

async fn portfolio_versions_plans_diff_and_exports(s: &TestServer) {
    let editor = s.token("editor", "editor").await;
    let viewer = s.token("viewer", "viewer").await;
    let r = s
        .post(
            "/api/v1/portfolios",
            &editor,
            json!({"name": "frontier-lab", "yaml": frontier()}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["created_by"], "editor");

    // A tighter vendor cap as version 2.
    let tighter = frontier().replace("max_vendor_share: 0.6", "max_vendor_share: 0.5");
    assert_ne!(tighter, frontier());
    let r = s
        .put(
            "/api/v1/portfolios/frontier-lab",
            &editor,
            json!({"yaml": tighter}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(r.body["version"], 2);

    let r = s
        .get("/api/v1/portfolios/frontier-lab/versions", &viewer)
        .await
        .expect(StatusCode::OK);
    let versions: Vec<i64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);

    let r = s
        .get("/api/v1/portfolios/frontier-lab?version=1", &viewer)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body["yaml"]
            .as_str()
            .unwrap()
            .contains("max_vendor_share: 0.6")
    );
    let r = s.get("/api/v1/portfolios/frontier-lab", &viewer).await;
    assert_eq!(r.body["version"], 2);
    assert!(
        r.body["yaml"]
            .as_str()
            .unwrap()
            .contains("max_vendor_share: 0.5")
    );
    s.get("/api/v1/portfolios/frontier-lab?version=9", &viewer)
        .await
        .expect(StatusCode::NOT_FOUND);
    let r = s.get("/api/v1/portfolios/nope", &viewer).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = s.get("/api/v1/portfolios", &viewer).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body[0]["name"], "frontier-lab");
    assert_eq!(r.body[0]["latest_version"], 2);

    // Plan both versions.
    let r = s
        .post(
            "/api/v1/portfolios/frontier-lab/plans",
            &editor,
            json!({"version": 1, "analysis": false}),
        )
        .await
        .expect(StatusCode::CREATED);
    let a = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["portfolio_version"], 1);
    assert_eq!(r.body["status"], "optimal");
    assert_eq!(r.body["catalog_sha256"].as_str().unwrap().len(), 64);
    let cost_a = num(&r.body["objective_usd_per_month"]);
    assert!(cost_a > 0.0);
    let r = s
        .post(
            "/api/v1/portfolios/frontier-lab/plans",
            &editor,
            json!({"analysis": false}),
        )
        .await
        .expect(StatusCode::CREATED);
    let b = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["portfolio_version"], 2);
    let cost_b = num(&r.body["objective_usd_per_month"]);

    let r = s
        .get(&format!("/api/v1/plans/{a}"), &viewer)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.body["plan"]["portfolio"], "frontier-lab");
    assert!(!r.body["plan"]["allocations"].as_array().unwrap().is_empty());
    assert_eq!(num(&r.body["plan"]["objective_usd_per_month"]), cost_a);

    let r = s
        .get("/api/v1/portfolios/frontier-lab/plans", &viewer)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let ids: Vec<i64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [b, a]);
    assert!(
        r.body[0].get("plan").is_none(),
        "lists leave the plan JSON out"
    );

    let r = s
        .get(&format!("/api/v1/plans/{a}/diff/{b}"), &viewer)
        .await
        .expect(StatusCode::OK);
    let delta = num(&r.body["objective_usd_per_month_delta"]);
    assert!((delta - (cost_b - cost_a)).abs() < 1e-6 * cost_a);
    assert!(delta > 0.0, "a tighter cap cannot be cheaper");
    assert!(!r.body["allocations"].as_array().unwrap().is_empty());
    let shares = r.body["vendor_shares"].as_array().unwrap();
    assert!(shares.iter().any(|v| v["vendor"] == "nvidia"));
    let nvidia_b = shares.iter().find(|v| v["vendor"] == "nvidia").unwrap();
    assert!(num(&nvidia_b["share_b"]) <= 0.5 + 1e-6);
    let r = s
        .get(&format!("/api/v1/plans/{a}/diff/999999"), &viewer)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = s
        .get(&format!("/api/v1/plans/{a}/export/kueue"), &viewer)
        .await
        .expect(StatusCode::OK);
    let files = r.body["files"].as_array().unwrap();
    assert!(!files.is_empty());
    for f in files {
        assert!(f["path"].as_str().unwrap().ends_with(".yaml"), "{f}");
        assert!(!f["content"].as_str().unwrap().is_empty());
    }
    assert!(
        files.iter().any(|f| f["content"]
            .as_str()
            .unwrap()
            .contains("kind: ClusterQueue")),
        "a ClusterQueue is exported"
    );
    let r = s
        .get(
            &format!("/api/v1/plans/{b}/export/kueue?namespace=research"),
            &viewer,
        )
        .await
        .expect(StatusCode::OK);
    assert!(r.text.contains("namespace: research"));
    let r = s
        .get(&format!("/api/v1/plans/{a}/export/skypilot"), &viewer)
        .await
        .expect(StatusCode::OK);
    assert!(!r.body["files"].as_array().unwrap().is_empty());
    let r = s.get("/api/v1/plans/424242/export/kueue", &viewer).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn validation_errors_are_located(s: &TestServer) {
    let broken = frontier().replace("tpot_ms: 50", "tpot_ms: 0").replace(
        "    min_vendors: 2              # never one vendor",
        "    min_vendor: 2              # never one vendor",
    );
    let r = s
        .post(
            "/api/v1/portfolios",
            &s.admin,
            json!({"name": "broken", "yaml": broken}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let ds = r.body["details"]["diagnostics"].as_array().unwrap();
    assert!(ds.len() >= 2, "{}", r.text);
    let tpot = ds
        .iter()
        .find(|d| d["path"] == "workloads[1].slo.tpot_ms")
        .unwrap();
    let line = broken
        .lines()
        .position(|l| l.contains("tpot_ms: 0"))
        .unwrap()
        + 1;
    assert_eq!(tpot["line"], line as u64);
    assert!(tpot["column"].as_u64().unwrap() > 0);
    assert!(ds.iter().any(|d| d["path"] == "workloads[1].min_vendor"));
    // Nothing was stored.
    let r = s.get("/api/v1/portfolios/broken", &s.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // YAML syntax and model paths.
    s.post(
        "/api/v1/portfolios",
        &s.admin,
        json!({"name": "bad", "yaml": "name: [unclosed\n"}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let r = s
        .post(
            "/api/v1/portfolios",
            &s.admin,
            json!({"name": "bad", "yaml": frontier().replace("model: llama-3-8b", "model: /etc/passwd")}),
        )
        .await.expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("name a preset"), "{}", r.text);

    // Names, duplicates, missing portfolios.
    s.post(
        "/api/v1/portfolios",
        &s.admin,
        json!({"name": "no/slashes", "yaml": frontier()}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    create_frontier(s, "lab").await;
    s.post(
        "/api/v1/portfolios",
        &s.admin,
        json!({"name": "lab", "yaml": frontier()}),
    )
    .await
    .expect(StatusCode::CONFLICT);
    s.put(
        "/api/v1/portfolios/missing",
        &s.admin,
        json!({"yaml": frontier()}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let r = s
        .put("/api/v1/portfolios/lab", &s.admin, json!({"yaml": broken}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = s.get("/api/v1/portfolios/lab", &s.admin).await;
    assert_eq!(r.body["version"], 1, "a rejected update stores nothing");

    // Bodies that are not the expected JSON.
    let r = s
        .send(
            Method::POST,
            "/api/v1/portfolios",
            Some(&s.admin),
            Some(Body::Raw("application/json", b"{\"name\": ".to_vec())),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert!(r.body["error"].as_str().unwrap().contains("JSON"));
    s.post(
        "/api/v1/portfolios",
        &s.admin,
        json!({"name": "x", "yaml": "", "colour": "blue"}),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    s.post(
        "/api/v1/portfolios/lab/plans",
        &s.admin,
        json!({"time_limit_s": -1}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    s.get("/api/v1/plans/not-a-number", &s.admin)
        .await
        .expect(StatusCode::BAD_REQUEST);
    let r = s.get("/api/v1/nowhere", &s.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body["error"].is_string());
}

async fn catalog_overrides_change_the_catalog(s: &TestServer) {
    let editor = s.token("ed", "editor").await;
    let r = s.get("/api/v1/catalog/chips", &s.admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["chips"].as_array().unwrap().len() > 5);
    assert!(r.body["override_version"].is_null());
    let r = s.get("/api/v1/catalog/offerings", &s.admin).await;
    assert_eq!(r.status, StatusCode::OK);
    let builtin_hash = r.body["catalog_sha256"].as_str().unwrap().to_string();
    let offerings = r.body["offerings"].as_array().unwrap();
    assert!(!offerings.iter().any(|o| o["provider"] == "coreweave"));

    // A price of 1e300 used to be stored (201) and break every plan after it (issue 13).
    let r = s
        .send(
            Method::POST,
            "/api/v1/catalog/overrides",
            Some(&editor),
            Some(Body::Raw(
                "text/csv",
                b"provider,instance_type,region,usd_per_hour\naws,p5.48xlarge,us-east-1,1e300\n"
                    .to_vec(),
            )),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text
            .contains("must be a number in [0.0001, 1000000] USD/hour, got 1e300"),
        "{}",
        r.text
    );
    let bad = "provider,instance_type,region,chip,chips_per_instance,usd_per_hour\ncoreweave,gpu-h100-8x,us-east-04,H100,8,-49.0\ncoreweave,gpu-x,us-east-04,nosuchchip,8,10\n";
    let r = s
        .send(
            Method::POST,
            "/api/v1/catalog/overrides",
            Some(&editor),
            Some(Body::Raw("text/csv", bad.as_bytes().to_vec())),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let ds = r.body["details"]["diagnostics"].as_array().unwrap();
    assert!(
        ds.iter()
            .any(|d| d["line"] == 2 && d["path"] == "usd_per_hour"),
        "{}",
        r.text
    );
    let r = s.get("/api/v1/catalog/overrides", &s.admin).await;
    assert_eq!(r.body.as_array().unwrap().len(), 0, "nothing stored");

    let good = "provider,instance_type,region,chip,chips_per_instance,usd_per_hour,source\ncoreweave,gpu-h100-8x,us-east-04,H100,8,49.0,CoreWeave quote\n";
    let r = s
        .send(
            Method::POST,
            "/api/v1/catalog/overrides",
            Some(&editor),
            Some(Body::Raw("text/csv", good.as_bytes().to_vec())),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["rows"], 1);
    let r = s.get("/api/v1/catalog/offerings", &s.admin).await;
    assert_eq!(r.body["override_version"], 1);
    assert_ne!(r.body["catalog_sha256"], builtin_hash.as_str());
    let cw = r.body["offerings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["provider"] == "coreweave")
        .expect("the override's offering")
        .clone();
    assert_eq!(num(&cw["usd_per_hour"]), 49.0);
    let r = s.get("/api/v1/catalog/overrides", &s.admin).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["csv"], good);

    // A plan made now records the override version; viewers cannot post overrides.
    create_frontier(s, "lab").await;
    let r = s
        .post(
            "/api/v1/portfolios/lab/plans",
            &editor,
            json!({"analysis": false}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(r.body["catalog_override_version"], 1);
    let id = r.body["id"].as_i64().unwrap();
    // A newer override does not break the export of a plan made on the older one.
    let r = s
        .send(
            Method::POST,
            "/api/v1/catalog/overrides",
            Some(&editor),
            Some(Body::Raw(
                "text/csv",
                b"provider,instance_type,region\n".to_vec(),
            )),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(r.body["version"], 2);
    s.get(&format!("/api/v1/plans/{id}/export/kueue"), &s.admin)
        .await
        .expect(StatusCode::OK);
    let viewer = s.token("v", "viewer").await;
    let r = s
        .send(
            Method::POST,
            "/api/v1/catalog/overrides",
            Some(&viewer),
            Some(Body::Raw("text/csv", good.as_bytes().to_vec())),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn infeasible_portfolio_is_422_with_reasons(s: &TestServer) {
    let tight = frontier().replace("budget_usd_per_month: 45M", "budget_usd_per_month: 1M");
    s.post(
        "/api/v1/portfolios",
        &s.admin,
        json!({"name": "tight", "yaml": tight}),
    )
    .await
    .expect(StatusCode::CREATED);
    let r = s
        .post(
            "/api/v1/portfolios/tight/plans",
            &s.admin,
            json!({"analysis": false}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body["error"].as_str().unwrap().contains("infeasible"));
    let reasons = r.body["details"]["reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|x| x.as_str().unwrap().contains("budget")),
        "{}",
        r.text
    );
    let r = s.get("/api/v1/portfolios/tight/plans", &s.admin).await;
    assert_eq!(r.body.as_array().unwrap().len(), 0, "no plan stored");
    let r = s.get("/metrics", &s.admin).await;
    assert!(
        r.text
            .contains("chipmix_solves_total{outcome=\"infeasible\"} 1"),
        "{}",
        r.text
    );
}

/// The jobs whose analysis still runs in the server process, from `/metrics`.
async fn in_flight(s: &TestServer) -> u64 {
    let r = s.get("/metrics", &s.admin).await;
    r.text
        .lines()
        .find_map(|l| l.strip_prefix("chipmix_jobs_in_flight "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no in-flight gauge in {}", r.text))
}

/// Cancelling stops the work itself, not only the job's row (issue 13: a cancelled leverage
/// job used to re-plan on for a minute). Leverage re-plans frontier-lab some ninety times.
async fn cancelling_a_leverage_job_stops_its_work(s: &TestServer) {
    create_frontier(s, "lev").await;
    let r = s
        .post(
            "/api/v1/portfolios/lev/jobs",
            &s.admin,
            json!({"kind": "leverage", "params": {}}),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    let id = r.body["id"].as_i64().unwrap();
    let started = Instant::now();
    loop {
        let r = s.get(&format!("/api/v1/jobs/{id}"), &s.admin).await;
        // Past the base plan: re-planning.
        if r.body["status"] == "running" && num(&r.body["progress"]) > 0.05 {
            break;
        }
        assert_ne!(
            r.body["status"], "done",
            "leverage finished before it could be cancelled"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "{}", r.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(in_flight(s).await, 1);
    s.send(
        Method::POST,
        &format!("/api/v1/jobs/{id}/cancel"),
        Some(&s.admin),
        None,
    )
    .await
    .expect(StatusCode::OK);
    let cancelled = Instant::now();
    while in_flight(s).await > 0 {
        assert!(
            cancelled.elapsed() < Duration::from_secs(20),
            "the cancelled job's work still runs after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = s.get(&format!("/api/v1/jobs/{id}"), &s.admin).await;
    assert_eq!(r.body["status"], "cancelled");
}

async fn montecarlo_job_finishes_and_a_long_one_cancels(s: &TestServer) {
    create_frontier(s, "lab").await;
    let r = s
        .post(
            "/api/v1/portfolios/lab/jobs",
            &s.admin,
            json!({"kind": "montecarlo", "params": {"samples": 300, "replan": 2, "seed": 7}}),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    let id = r.body["id"].as_i64().unwrap();
    assert!(matches!(
        r.body["status"].as_str(),
        Some("queued" | "running")
    ));
    assert_eq!(r.body["params"]["samples"], 300);
    assert_eq!(
        r.body["params"]["vendor_shortage_p"], 0.05,
        "defaults are filled in"
    );
    let job = s.wait_job(id, Duration::from_secs(240)).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(num(&job["progress"]), 1.0);
    assert_eq!(job["result"]["fixed_plan"]["samples"], 300);
    assert_eq!(job["result"]["seed"], 7);
    assert_eq!(job["result"]["replan"]["samples"], 2);

    // Long enough that it cannot finish before it is cancelled.
    let r = s
        .post(
            "/api/v1/portfolios/lab/jobs",
            &s.admin,
            json!({"kind": "montecarlo", "params": {"samples": 1_000_000, "replan": 20_000}}),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    let long = r.body["id"].as_i64().unwrap();
    let started = Instant::now();
    loop {
        let r = s.get(&format!("/api/v1/jobs/{long}"), &s.admin).await;
        if r.body["status"] == "running" && num(&r.body["progress"]) > 0.05 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{}", r.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let viewer = s.token("viewer", "viewer").await;
    let r = s
        .send(
            Method::POST,
            &format!("/api/v1/jobs/{long}/cancel"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .send(
            Method::POST,
            &format!("/api/v1/jobs/{long}/cancel"),
            Some(&s.admin),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.body["status"], "cancelled");
    s.send(
        Method::POST,
        &format!("/api/v1/jobs/{long}/cancel"),
        Some(&s.admin),
        None,
    )
    .await
    .expect(StatusCode::CONFLICT);
    let r = s
        .send(
            Method::POST,
            &format!("/api/v1/jobs/{id}/cancel"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a finished job cannot be cancelled"
    );

    // The analysis stops: a job queued behind it gets to run and finish.
    let r = s
        .post(
            "/api/v1/portfolios/lab/jobs",
            &s.admin,
            json!({"kind": "stress", "params": {"scenario": "nvidia-shortage-50", "fixed_plan": true}}),
        )
        .await.expect(StatusCode::ACCEPTED);
    let next = r.body["id"].as_i64().unwrap();
    let job = s.wait_job(next, Duration::from_secs(240)).await;
    assert_eq!(job["status"], "done", "{job}");
    assert!(job["result"]["fixed_plan"]["services"].is_array());
    let r = s.get(&format!("/api/v1/jobs/{long}"), &s.admin).await;
    assert_eq!(r.body["status"], "cancelled");
    assert!(r.body.get("result").is_none());
    let r = s.get("/metrics", &s.admin).await;
    assert!(
        r.text.contains("chipmix_jobs{status=\"cancelled\"} 1"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("chipmix_jobs{status=\"done\"} 2"),
        "{}",
        r.text
    );
}

async fn job_parameters_are_checked(s: &TestServer) {
    create_frontier(s, "lab").await;
    let cases = [
        json!({"kind": "montecarlo", "params": {"samples": 0}}),
        json!({"kind": "montecarlo", "params": {"samples": 10, "replan": 11}}),
        json!({"kind": "montecarlo", "params": {"region_outage_p": 1.5}}),
        json!({"kind": "montecarlo", "params": {"sampels": 10}}),
        json!({"kind": "stress", "params": {"scenario": "nvidia-shortage-5O"}}),
        json!({"kind": "stress", "params": {}}),
        json!({"kind": "stress", "params": {"scenario_yaml": "name: x\nshocks: 3\n"}}),
        json!({"kind": "sweep", "params": {"param": "policy.no_such_field", "from": 0.3, "to": 1.0}}),
        json!({"kind": "sweep", "params": {"param": "policy.max_vendor_share", "from": 0.3, "to": 1.0, "steps": 0}}),
        json!({"kind": "leverage", "params": {"max_increase": -1}}),
        json!({"kind": "leverage", "params": {"max_increase": 1e300}}),
        json!({"kind": "sweep", "params": {"param": "policy.headroom", "from": 0.1, "to": 1e300}}),
        json!({"kind": "montecarlo", "params": {"samples": 100_000_000}}),
        json!({"kind": "leverage", "params": {"time_limit_s": 0}}),
    ];
    for body in cases {
        let r = s
            .post("/api/v1/portfolios/lab/jobs", &s.admin, body.clone())
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert!(r.body["details"]["diagnostics"].is_array(), "{}", r.text);
    }
    s.post(
        "/api/v1/portfolios/lab/jobs",
        &s.admin,
        json!({"kind": "astrology"}),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    s.post(
        "/api/v1/portfolios/none/jobs",
        &s.admin,
        json!({"kind": "leverage"}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let r = s.get("/api/v1/jobs/777", &s.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A small sweep runs to a result with one point per step.
    let r = s
        .post(
            "/api/v1/portfolios/lab/jobs",
            &s.admin,
            json!({"kind": "sweep", "params": {"param": "policy.max_vendor_share", "from": 0.6, "to": 1.0, "steps": 2, "gap": 0.01}}),
        )
        .await.expect(StatusCode::ACCEPTED);
    let job = s
        .wait_job(r.body["id"].as_i64().unwrap(), Duration::from_secs(240))
        .await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["result"]["points"].as_array().unwrap().len(), 2);
}

async fn tokens_and_roles(s: &TestServer) {
    let path = "/api/v1/portfolios";
    let r = s.send(Method::GET, path, None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body["error"].is_string());
    let r = s.get(path, "cmx_0000").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .client
        .get(format!("{}{path}", s.base))
        .header("authorization", format!("Basic {}", s.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let viewer = s.token("viewer", "viewer").await;
    let editor = s.token("editor", "editor").await;
    assert!(viewer.starts_with("cmx_") && viewer.len() == 68);
    assert_eq!(s.get(path, &viewer).await.status, StatusCode::OK);
    let body = json!({"name": "lab", "yaml": frontier()});
    s.post(path, &viewer, body.clone())
        .await
        .expect(StatusCode::FORBIDDEN);
    s.post(path, &editor, body)
        .await
        .expect(StatusCode::CREATED);

    // Token management is the admin's.
    let r = s
        .post(
            "/api/v1/tokens",
            &editor,
            json!({"name": "x", "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        s.get("/api/v1/tokens", &editor).await.status,
        StatusCode::FORBIDDEN
    );
    s.post(
        "/api/v1/tokens",
        &s.admin,
        json!({"name": "viewer", "role": "viewer"}),
    )
    .await
    .expect(StatusCode::CONFLICT);
    s.post(
        "/api/v1/tokens",
        &s.admin,
        json!({"name": "x", "role": "root"}),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    s.post(
        "/api/v1/tokens",
        &s.admin,
        json!({"name": "9lives", "role": "viewer"}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let r = s.get("/api/v1/tokens", &s.admin).await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "viewer", "editor"]);
    for secret in [&s.admin, &viewer, &editor] {
        assert!(
            !r.text.contains(secret.as_str()),
            "secrets are never listed"
        );
        assert!(!r.text.contains(&secret[4..]));
    }

    // Revoked: refused from the next request on.
    let r = s
        .send(
            Method::DELETE,
            "/api/v1/tokens/editor",
            Some(&s.admin),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert!(r.body["revoked_at"].is_string());
    let r = s.get(path, &editor).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .send(
            Method::DELETE,
            "/api/v1/tokens/nobody",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // By id, through the library as the CLI does.
    let id = s.get("/api/v1/tokens", &s.admin).await.body[1]["id"]
        .as_i64()
        .unwrap();
    chipmix_server::revoke_token(&s.db, &id.to_string())
        .await
        .unwrap();
    assert_eq!(s.get(path, &viewer).await.status, StatusCode::UNAUTHORIZED);
}

/// Sends a request over a plain socket and returns the response's status and body. The body is
/// written from another task, ignoring write errors: a server that refuses a body early may
/// close the connection before it is all written (HTTP/1.1 has no other way to stop it), and
/// an HTTP client library can then report the broken pipe instead of the response.
async fn raw_request(s: &TestServer, head: String, body: Vec<u8>, chunked: bool) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        if chunked {
            for chunk in body.chunks(64 * 1024) {
                let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
                if writer.write_all(&framed).await.is_err() {
                    return;
                }
            }
            let _ = writer.write_all(b"0\r\n\r\n").await;
        } else {
            let _ = writer.write_all(&body).await;
        }
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&response);
        if let Some((headers, rest)) = text.split_once("\r\n\r\n") {
            let length = headers
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if rest.len() >= length {
                break;
            }
        }
    }
    writing.abort();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP response: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn body_over_the_limit_is_413(s: &TestServer) {
    let big = json!({"name": "big", "yaml": "#".repeat(3 * 1024 * 1024)}).to_string();
    // Refused from its Content-Length.
    let head = format!(
        "POST /api/v1/portfolios HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        s.admin,
        big.len()
    );
    let (status, body) = raw_request(s, head, big.into_bytes(), false).await;
    assert_eq!(status, 413, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("too large"),
        "{body}"
    );
    // Refused while it streams in, without a length.
    let head = format!(
        "POST /api/v1/catalog/overrides HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: text/csv\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        s.admin
    );
    let csv = format!(
        "provider,instance_type,region\n{}",
        "aws,x,y\n".repeat(400_000)
    );
    let (status, body) = raw_request(s, head, csv.into_bytes(), true).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("too large"), "{body}");
    // Just under the limit is read (and then judged on its content).
    let fits = format!("{}\n{}", frontier(), "#".repeat(1024 * 1024));
    let r = s
        .post(
            "/api/v1/portfolios",
            &s.admin,
            json!({"name": "fits", "yaml": fits}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        &r.text[..r.text.len().min(300)]
    );
}

async fn health_metrics_and_openapi(s: &TestServer) {
    let r = s.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "ok"}));

    let r = s.send(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = r.body["paths"].as_object().unwrap();
    let expected = [
        ("/healthz", "get"),
        ("/metrics", "get"),
        ("/api/openapi.json", "get"),
        ("/api/v1/catalog/chips", "get"),
        ("/api/v1/catalog/offerings", "get"),
        ("/api/v1/catalog/overrides", "get"),
        ("/api/v1/catalog/overrides", "post"),
        ("/api/v1/portfolios", "get"),
        ("/api/v1/portfolios", "post"),
        ("/api/v1/portfolios/{name}", "get"),
        ("/api/v1/portfolios/{name}", "put"),
        ("/api/v1/portfolios/{name}/versions", "get"),
        ("/api/v1/portfolios/{name}/plans", "get"),
        ("/api/v1/portfolios/{name}/plans", "post"),
        ("/api/v1/portfolios/{name}/jobs", "post"),
        ("/api/v1/plans/{id}", "get"),
        ("/api/v1/plans/{a}/diff/{b}", "get"),
        ("/api/v1/plans/{id}/export/kueue", "get"),
        ("/api/v1/plans/{id}/export/skypilot", "get"),
        ("/api/v1/jobs/{id}", "get"),
        ("/api/v1/jobs/{id}/cancel", "post"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens/{name}", "delete"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        operations,
        expected.len(),
        "every documented route is one the test knows"
    );
    assert!(r.body["components"]["securitySchemes"]["bearer"].is_object());
    let params = r.body["paths"]["/api/v1/portfolios/{name}"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let version = params.iter().find(|p| p["name"] == "version").unwrap();
    assert_eq!(version["in"], "query");
    assert_eq!(version["required"], false);
    assert!(r.body["components"]["schemas"]["PlanRequest"].is_object());

    // Metrics count what was served, by route template.
    let _ = s.get("/api/v1/plans/123", &s.admin).await;
    let r = s.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text.contains(
            "chipmix_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{}",
        r.text
    );
    assert!(r.text.contains(
        "chipmix_http_requests_total{method=\"GET\",route=\"/api/v1/plans/{id}\",status=\"404\"} 1"
    ), "{}", r.text);
    assert!(r.text.contains("chipmix_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"+Inf\"} 1"));
    assert!(r.text.contains("chipmix_jobs{status=\"queued\"} 0"));
    assert!(r.text.contains("# TYPE chipmix_solves_total counter"));
}

async fn reads_answer_while_a_plan_solves(s: &TestServer) {
    create_frontier(s, "lab").await;
    let (base, token, client) = (s.base.clone(), s.admin.clone(), s.client.clone());
    // With the rule analysis: several solves, seconds of CPU.
    let solve = tokio::spawn(async move {
        client
            .post(format!("{base}/api/v1/portfolios/lab/plans"))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .map(|r| r.status())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut reads = Vec::new();
    for i in 0..20 {
        let path = match i % 4 {
            0 => "/api/v1/portfolios",
            1 => "/api/v1/portfolios/lab",
            2 => "/api/v1/portfolios/lab/versions",
            _ => "/healthz",
        };
        let (url, token, client) = (
            format!("{}{path}", s.base),
            s.admin.clone(),
            s.client.clone(),
        );
        reads.push(tokio::spawn(async move {
            let r = client
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .expect("read");
            (r.status(), url)
        }));
    }
    let mut results = Vec::new();
    for r in reads {
        results.push(r.await.expect("read task"));
    }
    let reads_s = started.elapsed().as_secs_f64();
    let solving_after_reads = !solve.is_finished();
    for (status, url) in &results {
        assert_eq!(*status, StatusCode::OK, "{url}");
    }
    // The point of the test: the reads were answered while the solve was still running.
    assert!(
        solving_after_reads,
        "the solve finished before the 20 reads were answered ({reads_s:.3} s): nothing was shown"
    );
    let status = solve.await.unwrap().unwrap();
    assert_eq!(status, StatusCode::CREATED);
    eprintln!(
        "20 reads took {reads_s:.3} s; the solve was {} running when they had all answered",
        if solving_after_reads {
            "still"
        } else {
            "no longer"
        }
    );
}

/// Deleting the SQLite file under a running server used to go unnoticed: writes answered 201
/// and were gone after a restart. Now health fails and writes are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_database_file_fails_health_and_refuses_writes() {
    let (store, url) = common::Store::sqlite();
    let file = match &store {
        common::Store::Sqlite(dir) => dir.path().join("chipmix.db"),
        common::Store::Postgres { .. } => unreachable!(),
    };
    let s = TestServer::start(store, url).await;
    let r = s.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    create_frontier(&s, "before").await;
    std::fs::remove_file(&file).unwrap();
    let r = s.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(r.text.contains("is gone"), "{}", r.text);
    let r = s
        .post(
            "/api/v1/portfolios",
            &s.admin,
            json!({"name": "after", "yaml": frontier()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    s.finish().await;
}

/// A portfolio with a `horizon:` is planned period by period, stored as such, served with its
/// months, exported one period's fleet at a time, and analysed over time.
async fn plans_over_time_are_stored_shown_and_exported_by_period(s: &TestServer) {
    s.post(
        "/api/v1/portfolios",
        &s.admin,
        json!({"name": "growing", "yaml": horizon_small()}),
    )
    .await
    .expect(StatusCode::CREATED);
    let r = s
        .post("/api/v1/portfolios/growing/plans", &s.admin, json!({}))
        .await
        .expect(StatusCode::CREATED);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["horizon_months"], 4, "{}", r.body);
    let plan = &r.body["plan"];
    let months = plan["by_month"].as_array().expect("a plan by period");
    assert_eq!(months.len(), 4);
    let total = num(&plan["objective_usd"]);
    assert!(total > 0.0);
    assert!((num(&r.body["objective_usd_per_month"]) - total / 4.0).abs() < 1e-6 * total);
    // Demand doubles over the horizon, and the plan follows it.
    let instances = |m: &Value| -> u64 {
        m["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["instances"].as_u64().unwrap())
            .sum()
    };
    assert!(instances(&months[3]) > instances(&months[0]), "{plan}");

    let stored = s
        .get(&format!("/api/v1/plans/{id}"), &s.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(stored.body["plan"], *plan);
    let listed = s
        .get("/api/v1/portfolios/growing/plans", &s.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed.body[0]["horizon_months"], 4);

    // Each period's fleet exports; the last period serves with more replicas than the first.
    let replicas = |r: &Value| -> u64 {
        r["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| !f["path"].as_str().unwrap().contains("-alt-"))
            .flat_map(|f| f["content"].as_str().unwrap().lines())
            .filter_map(|l| l.trim().strip_prefix("replicas: "))
            .map(|n| n.parse::<u64>().unwrap())
            .sum()
    };
    let first = s
        .get(&format!("/api/v1/plans/{id}/export/skypilot"), &s.admin)
        .await
        .expect(StatusCode::OK);
    let last = s
        .get(
            &format!("/api/v1/plans/{id}/export/skypilot?period=4"),
            &s.admin,
        )
        .await
        .expect(StatusCode::OK);
    assert!(replicas(&first.body) > 0, "{}", first.body);
    assert!(
        replicas(&last.body) > replicas(&first.body),
        "{}",
        last.body
    );
    s.get(
        &format!("/api/v1/plans/{id}/export/kueue?period=2"),
        &s.admin,
    )
    .await
    .expect(StatusCode::OK);
    let r = s
        .get(
            &format!("/api/v1/plans/{id}/export/kueue?period=5"),
            &s.admin,
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body["error"].as_str().unwrap().contains("4 period(s)"),
        "{}",
        r.body
    );
    // Diffs compare fleets of one period.
    s.get(&format!("/api/v1/plans/{id}/diff/{id}"), &s.admin)
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);

    // Leverage, stress and Monte Carlo analyse plans over time (leverage's break-even off by
    // default there).
    let (params, job) = job_done(s, "growing", json!({"kind": "leverage", "params": {}})).await;
    assert_eq!(params["break_even"], false, "{params}");
    assert_eq!(params["gap"], 0.01, "{params}");
    assert_eq!(job["result"]["horizon_months"], 4, "{job}");
    assert!(job["result"]["note"].is_null(), "{job}");
    assert!(
        (num(&job["result"]["base_cost_usd_per_month"]) - total / 4.0).abs() <= 0.01 * total,
        "{job}"
    );
    let (_, job) = job_done(
        s,
        "growing",
        json!({"kind": "stress", "params": {"scenario": "price-hike-30"}}),
    )
    .await;
    assert_eq!(job["result"]["horizon_months"], 4, "{job}");
    assert_eq!(
        job["result"]["fixed_by_period"].as_array().unwrap().len(),
        4
    );
    assert!(job["result"]["note"].is_null(), "{job}");
    let (params, job) = job_done(
        s,
        "growing",
        json!({"kind": "montecarlo", "params": {"samples": 50, "replan": 3}}),
    )
    .await;
    assert_eq!(params["gap"], 0.01, "{params}");
    assert_eq!(job["result"]["horizon_months"], 4, "{job}");
    assert_eq!(
        job["result"]["fixed_plan"]["mean_unserved_by_period"]
            .as_array()
            .map(Vec::len),
        Some(4),
        "{job}"
    );
    assert!(job["result"]["note"].is_null(), "{job}");

    // A sweep plans every value over time, to the gap of a plan over time.
    let (params, job) = job_done(s, "growing", json!({"kind": "sweep", "params": {"param": "policy.headroom", "from": 0.0, "to": 0.2, "steps": 2}})).await;
    assert_eq!(params["gap"], 0.01, "{params}");
    assert_eq!(job["result"]["horizon_months"], 4, "{job}");
    let first = &job["result"]["points"][0];
    assert!(
        (num(&first["cost_over_horizon_usd"]) - total).abs() <= 0.01 * total,
        "{job}"
    );
}
