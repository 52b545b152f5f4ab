//! Prometheus text exposition of request counts, request durations, jobs and solves.
//!
//! Hand-written: a few counters and one histogram do not justify a metrics framework, and the
//! text format is stable (version 0.0.4).

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

/// Upper bounds of the request duration buckets, seconds.
const BUCKETS_S: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Default)]
struct Histogram {
    /// Per bucket of `BUCKETS_S`, not cumulative (summed when written).
    counts: Vec<u64>,
    sum_s: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    /// (method, route, status) → requests.
    requests: BTreeMap<(String, String, u16), u64>,
    /// (method, route) → durations.
    durations: BTreeMap<(String, String), Histogram>,
    /// Plan solves by outcome: optimal, time_limit, infeasible, no_solution, error.
    solves: BTreeMap<String, u64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut m) = self.inner.lock() else { return };
        *m.requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let h = m
            .durations
            .entry((method.to_string(), route.to_string()))
            .or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS_S.len()];
        }
        if let Some(i) = BUCKETS_S.iter().position(|&b| seconds <= b) {
            h.counts[i] += 1;
        }
        h.sum_s += seconds;
        h.count += 1;
    }

    pub fn record_solve(&self, outcome: &str) {
        if let Ok(mut m) = self.inner.lock() {
            *m.solves.entry(outcome.to_string()).or_default() += 1;
        }
    }

    /// The exposition; `jobs` are the stored jobs by status, `in_flight` the jobs whose work
    /// still runs in this process.
    pub fn render(&self, jobs: &[(String, i64)], in_flight: usize) -> String {
        let mut s = String::new();
        let Ok(m) = self.inner.lock() else {
            return s;
        };
        let _ = writeln!(
            s,
            "# HELP chipmix_http_requests_total HTTP requests by method, route and status.\n# TYPE chipmix_http_requests_total counter"
        );
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(
                s,
                "chipmix_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        let _ = writeln!(
            s,
            "# HELP chipmix_http_request_duration_seconds Time to answer HTTP requests.\n# TYPE chipmix_http_request_duration_seconds histogram"
        );
        for ((method, route), h) in &m.durations {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, n) in BUCKETS_S.iter().zip(&h.counts) {
                cumulative += n;
                let _ = writeln!(
                    s,
                    "chipmix_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                s,
                "chipmix_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                s,
                "chipmix_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_s
            );
            let _ = writeln!(
                s,
                "chipmix_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        let _ = writeln!(
            s,
            "# HELP chipmix_jobs Stored background jobs by status.\n# TYPE chipmix_jobs gauge"
        );
        for status in ["queued", "running", "done", "failed", "cancelled"] {
            let n = jobs
                .iter()
                .find(|(st, _)| st == status)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(s, "chipmix_jobs{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(
            s,
            "# HELP chipmix_jobs_in_flight Jobs whose analysis is still running in this process.\n# TYPE chipmix_jobs_in_flight gauge\nchipmix_jobs_in_flight {in_flight}"
        );
        let _ = writeln!(
            s,
            "# HELP chipmix_solves_total Plan solves requested through the API, by outcome.\n# TYPE chipmix_solves_total counter"
        );
        for (outcome, n) in &m.solves {
            let _ = writeln!(s, "chipmix_solves_total{{outcome=\"{outcome}\"}} {n}");
        }
        s
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The method as a label: the standard ones by name, anything a client invents as `other`, so
/// that no client can make a time series per request.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, name)| name)
}

/// Counts every request under its route template (`/api/v1/plans/{id}`), so that ids do not
/// make a time series each; unmatched paths count as `unmatched`.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = method_label(req.method()).to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.record_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        let invented: Vec<axum::http::Method> = (0..3000)
            .map(|i| axum::http::Method::from_bytes(format!("X{i}").as_bytes()).unwrap())
            .collect();
        let labels: std::collections::BTreeSet<&str> = invented.iter().map(method_label).collect();
        assert_eq!(labels.into_iter().collect::<Vec<_>>(), ["other"]);
        assert_eq!(method_label(&axum::http::Method::POST), "POST");
    }

    #[test]
    fn exposition_has_counters_histogram_and_jobs() {
        let m = Metrics::default();
        m.record_request("GET", "/healthz", 200, 0.003);
        m.record_request("GET", "/healthz", 200, 0.2);
        m.record_solve("optimal");
        let text = m.render(&[("done".into(), 2)], 1);
        assert!(text.contains("chipmix_jobs_in_flight 1"));
        assert!(text.contains(
            "chipmix_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "chipmix_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "chipmix_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("chipmix_jobs{status=\"done\"} 2"));
        assert!(text.contains("chipmix_jobs{status=\"running\"} 0"));
        assert!(text.contains("chipmix_solves_total{outcome=\"optimal\"} 1"));
    }
}
