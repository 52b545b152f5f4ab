//! Sweeps: the optimal cost as one numeric portfolio field varies — with
//! `policy.max_vendor_share`, the price of diversification.
//!
//! Each value is written into the portfolio's YAML tree and the file is decoded again, so a
//! swept value is validated exactly like one typed into the file, and service defaults
//! (`policy.headroom` …) propagate as they would.

use crate::stress::Replanned;
use crate::{Context, Watch};
use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::multiperiod::MonthlyPlan;
use chipmix_plan::{Plan, PlanError, PlanOptions};
use chipmix_workload::portfolio;
use chipmix_workload::{Diagnostic, Portfolio};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Debug, Serialize)]
pub struct SweepPoint {
    pub value: f64,
    /// `None` when no plan exists at this value. For a plan over time, its total over the
    /// horizon (reservation payments owed after it included) spread over its months.
    pub cost_usd_per_month: Option<f64>,
    /// For a plan over time: its total over the horizon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_over_horizon_usd: Option<f64>,
    pub gap: Option<f64>,
    /// Shares of spend (of the policy's share basis for a plan of one period); over the whole
    /// horizon for a plan over time.
    pub vendor_shares: BTreeMap<String, f64>,
    pub hhi: Option<f64>,
    pub infeasible: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    pub portfolio: String,
    pub param: String,
    /// The portfolio has a `horizon:` of this many months: every point is a plan over time,
    /// solved period by period. `None`: every point plans one period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub horizon_months: Option<u32>,
    pub points: Vec<SweepPoint>,
}

/// `steps` evenly spaced values from `from` to `to`, both included.
pub fn values(from: f64, to: f64, steps: usize) -> Vec<f64> {
    match steps {
        0 => Vec::new(),
        1 => vec![from],
        n => (0..n)
            .map(|i| from + (to - from) * i as f64 / (n - 1) as f64)
            .map(|v| (v * 1e9).round() / 1e9)
            .collect(),
    }
}

/// The portfolio file's text and where it came from.
/// The portfolio at one value with its effective catalog, or why the value is refused.
type Decoded = Result<(Portfolio, Catalog), Vec<Diagnostic>>;

/// The portfolio with `param` set to `v`, and its effective catalog.
fn decode_at(source: &Source, base_catalog: &Catalog, param: &str, v: f64) -> Decoded {
    let loaded = portfolio::parse_with(
        source.file,
        source.text,
        source.base_dir,
        base_catalog,
        &[(param, v)],
    )
    .map_err(|mut ds| {
        for d in &mut ds {
            d.message = format!("{} (with {param} = {v})", d.message);
        }
        ds
    })?;
    let p = loaded.portfolio;
    let c = p.effective_catalog(base_catalog).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| Diagnostic {
                severity: chipmix_workload::Severity::Error,
                file: source.file.into(),
                line: e.line,
                column: 0,
                path: e.field.clone().unwrap_or_default(),
                message: e.message,
            })
            .collect::<Vec<_>>()
    })?;
    Ok((p, c))
}

pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub base_dir: &'a Path,
}

/// Decodes the portfolio at every value first, then plans the valid ones in parallel. A value
/// the portfolio refuses (a cap that leaves too few vendors, a fraction out of range) is a row
/// of the report with the reason, like a value no plan satisfies; only when every value is
/// refused (a wrong field path, a broken file) does the sweep fail, with the file positions.
pub fn sweep(
    source: &Source,
    base_catalog: &Catalog,
    calibration: &Calibration,
    options: &PlanOptions,
    param: &str,
    values: &[f64],
    watch: Watch<'_>,
) -> Result<SweepReport, Vec<Diagnostic>> {
    let inputs: Vec<(f64, Decoded)> = values
        .iter()
        .map(|&v| (v, decode_at(source, base_catalog, param, v)))
        .collect();
    if inputs.iter().all(|(_, r)| r.is_err())
        && let Some((_, Err(ds))) = inputs.first()
    {
        return Err(ds.clone());
    }
    let first = inputs.iter().find_map(|(_, r)| r.as_ref().ok());
    let name = first.map(|(p, _)| p.name.clone()).unwrap_or_default();
    let horizon_months = first.and_then(|(p, _)| p.horizon.as_ref().map(|h| h.months));
    let points = inputs
        .par_iter()
        .map(|(v, input)| match input {
            Ok((p, c)) => {
                let ctx = Context {
                    portfolio: p,
                    catalog: c,
                    calibration,
                    options: options.clone(),
                    watch,
                };
                if p.horizon.is_some() {
                    point_over_time(*v, ctx.plan_months_on(p, c))
                } else {
                    point(*v, ctx.plan())
                }
            }
            Err(ds) => SweepPoint {
                infeasible: ds
                    .iter()
                    .filter(|d| d.severity == chipmix_workload::Severity::Error)
                    .map(|d| format!("{}: {}", d.path, d.message))
                    .collect(),
                ..no_plan(*v)
            },
        })
        .collect();
    Ok(SweepReport {
        portfolio: name,
        param: param.into(),
        horizon_months,
        points,
    })
}

fn no_plan(value: f64) -> SweepPoint {
    SweepPoint {
        value,
        cost_usd_per_month: None,
        cost_over_horizon_usd: None,
        gap: None,
        hhi: None,
        vendor_shares: BTreeMap::new(),
        infeasible: Vec::new(),
    }
}

/// The point of a plan of one period.
fn point(value: f64, result: Result<Plan, PlanError>) -> SweepPoint {
    let r = Replanned::from_result(result);
    SweepPoint {
        cost_usd_per_month: r.cost_usd_per_month,
        gap: r.gap,
        hhi: r.plan.as_ref().map(|pl| pl.hhi),
        vendor_shares: r.vendor_shares,
        infeasible: r.infeasible,
        ..no_plan(value)
    }
}

/// The point of a plan over time: its total, spread per month, and vendor shares over the
/// whole horizon.
fn point_over_time(value: f64, result: Result<MonthlyPlan, PlanError>) -> SweepPoint {
    match result {
        Ok(m) => {
            let shares = m.vendor_shares();
            SweepPoint {
                cost_usd_per_month: Some(m.objective_usd / f64::from(m.months.max(1))),
                cost_over_horizon_usd: Some(m.objective_usd),
                gap: Some(m.gap),
                hhi: Some(shares.values().map(|s| s * s).sum()),
                vendor_shares: shares,
                ..no_plan(value)
            }
        }
        Err(PlanError::Infeasible(reasons)) => SweepPoint {
            infeasible: reasons,
            ..no_plan(value)
        },
        Err(e) => SweepPoint {
            infeasible: vec![e.to_string()],
            ..no_plan(value)
        },
    }
}
