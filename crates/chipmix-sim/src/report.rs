//! What a simulation measured. Wall-clock time is deliberately absent: a report depends only on
//! the scenario and its seed.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimReport {
    pub policy: String,
    pub simulated_seconds: f64,
    pub seed: u64,
    /// Training plus inference spend over the simulated time.
    pub total_cost_usd: f64,
    pub training_cost_usd: f64,
    pub inference_cost_usd: f64,
    pub cost_by_vendor_usd: BTreeMap<String, f64>,
    /// List-price spend on each pool of the fleet, in the fleet's pool order.
    pub cost_by_pool_usd: Vec<f64>,
    pub training: TrainingReport,
    pub services: Vec<ServiceReport>,
    pub timeseries: TimeSeries,
    /// Job arrivals plus every event the loop acted on (stale, superseded events not counted).
    pub events_processed: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainingReport {
    /// Jobs submitted before the end.
    pub jobs_arrived: u64,
    pub jobs_completed: u64,
    pub jobs_running_at_end: u64,
    pub jobs_queued_at_end: u64,
    /// Running or queued at the end.
    pub jobs_unfinished: u64,
    /// No pool of the fleet could ever run them (too big, or no chip that trains the model).
    pub jobs_unrunnable: u64,
    /// Completion time (finish − submit) of completed jobs.
    pub jct_mean_seconds: Option<f64>,
    pub jct_p99_seconds: Option<f64>,
    /// First start − submit, over jobs that started.
    pub queueing_delay_mean_seconds: Option<f64>,
    pub queueing_delay_p99_seconds: Option<f64>,
    /// Times a running job lost its chips (spot, outage, capacity cut) and was queued again.
    pub preemptions: u64,
    pub busy_chip_hours: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceReport {
    pub name: String,
    pub minutes: u64,
    /// Fraction of minutes in which capacity covered the offered load.
    pub slo_attainment: f64,
    pub offered_requests: f64,
    pub served_requests: f64,
    pub unserved_requests: f64,
}

/// Spend and busy chips per vendor, per interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeSeries {
    pub interval_seconds: f64,
    /// Vendors of the fleet, in the order of every point's vectors.
    pub vendors: Vec<String>,
    pub points: Vec<TimePoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimePoint {
    pub start_seconds: f64,
    pub spend_usd: Vec<f64>,
    /// Each vendor's share of the interval's spend (zeros when nothing was spent).
    pub spend_share: Vec<f64>,
    /// Time-averaged chips running training jobs over the interval.
    pub busy_chips: Vec<f64>,
}

impl SimReport {
    /// The time series as CSV: `start_seconds`, then per vendor `spend_usd_<v>`,
    /// `spend_share_<v>`, `busy_chips_<v>`.
    pub fn timeseries_csv(&self) -> String {
        let ts = &self.timeseries;
        let mut out = String::from("start_seconds");
        for prefix in ["spend_usd", "spend_share", "busy_chips"] {
            for v in &ts.vendors {
                let _ = write!(out, ",{prefix}_{v}");
            }
        }
        out.push('\n');
        for p in &ts.points {
            let _ = write!(out, "{}", p.start_seconds);
            for series in [&p.spend_usd, &p.spend_share, &p.busy_chips] {
                for x in series {
                    let _ = write!(out, ",{x}");
                }
            }
            out.push('\n');
        }
        out
    }

    /// The time series as JSON.
    pub fn timeseries_json(&self) -> String {
        serde_json::to_string(&self.timeseries).unwrap_or_else(|_| "null".into())
    }
}

/// The reports side by side: cost, job completion and queueing times, completed and unfinished
/// jobs, and the worst service's SLO attainment.
pub fn markdown_table(rows: &[(String, SimReport)]) -> String {
    let hours = |s: Option<f64>| s.map_or("—".to_string(), |s| format!("{:.2}", s / 3600.0));
    let mut out = String::from(
        "| policy | cost USD | training USD | JCT mean h | JCT p99 h | queue mean h | queue p99 h | completed | unfinished | unrunnable | preemptions | worst SLO attainment |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, r) in rows {
        let t = &r.training;
        let slo = r
            .services
            .iter()
            .map(|s| s.slo_attainment)
            .reduce(f64::min)
            .map_or("—".to_string(), |x| format!("{:.1}%", x * 100.0));
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {slo} |",
            r.total_cost_usd,
            r.training_cost_usd,
            hours(t.jct_mean_seconds),
            hours(t.jct_p99_seconds),
            hours(t.queueing_delay_mean_seconds),
            hours(t.queueing_delay_p99_seconds),
            t.jobs_completed,
            t.jobs_unfinished,
            t.jobs_unrunnable,
            t.preemptions,
        );
    }
    out
}

/// Mean and 99th percentile (nearest rank); `None` for no values.
pub(crate) fn mean_p99(mut v: Vec<f64>) -> (Option<f64>, Option<f64>) {
    if v.is_empty() {
        return (None, None);
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let k = ((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len()) - 1;
    let (_, p99, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    (Some(mean), Some(*p99))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_nearest_rank() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(mean_p99(v), (Some(100.5), Some(198.0)));
        assert_eq!(mean_p99(vec![3.0]), (Some(3.0), Some(3.0)));
        assert_eq!(mean_p99(Vec::new()), (None, None));
    }
}
