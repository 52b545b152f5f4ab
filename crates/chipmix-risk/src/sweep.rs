//! Sweeps: the optimal cost as one numeric portfolio field varies — with
//! `policy.max_vendor_share`, the price of diversification.
//!
//! Each value is written into the portfolio's YAML tree and the file is decoded again, so a
//! swept value is validated exactly like one typed into the file, and service defaults
//! (`policy.headroom` …) propagate as they would.

use crate::Context;
use crate::stress::Replanned;
use chipmix_catalog::Catalog;
use chipmix_perf::Calibration;
use chipmix_plan::PlanOptions;
use chipmix_workload::portfolio;
use chipmix_workload::{Diagnostic, Portfolio};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Debug, Serialize)]
pub struct SweepPoint {
    pub value: f64,
    /// `None` when no plan exists at this value.
    pub cost_usd_per_month: Option<f64>,
    pub gap: Option<f64>,
    pub vendor_shares: BTreeMap<String, f64>,
    pub hhi: Option<f64>,
    pub infeasible: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    pub portfolio: String,
    pub param: String,
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
pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub base_dir: &'a Path,
}

/// Decodes the portfolio at every value first (so one bad value fails the sweep before any
/// solve, with the file position of the field), then plans all of them in parallel.
pub fn sweep(
    source: &Source,
    base_catalog: &Catalog,
    calibration: &Calibration,
    options: &PlanOptions,
    param: &str,
    values: &[f64],
) -> Result<SweepReport, Vec<Diagnostic>> {
    let mut inputs: Vec<(f64, Portfolio, Catalog)> = Vec::new();
    for &v in values {
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
        inputs.push((v, p, c));
    }
    let name = inputs
        .first()
        .map(|(_, p, _)| p.name.clone())
        .unwrap_or_default();
    let points = inputs
        .par_iter()
        .map(|(v, p, c)| {
            let ctx = Context {
                portfolio: p,
                catalog: c,
                calibration,
                options: options.clone(),
            };
            let r = Replanned::from_result(ctx.plan());
            SweepPoint {
                value: *v,
                cost_usd_per_month: r.cost_usd_per_month,
                gap: r.gap,
                hhi: r.plan.as_ref().map(|pl| pl.hhi),
                vendor_shares: r.vendor_shares,
                infeasible: r.infeasible,
            }
        })
        .collect();
    Ok(SweepReport {
        portfolio: name,
        param: param.into(),
        points,
    })
}
