//! Month by month: one MILP over every month of a `horizon:`, with demand that grows, supply
//! that ramps, reservations bought ahead (with a lead time) at a discount for a 1- or 3-year
//! term, on-demand and spot for the rest, and commitments, caps and budget per month.
//!
//! Variables per month: integer units per serving candidate; per training job a binary per
//! candidate (its months are fixed by `start_month` and the run's length); per offering and
//! month the on-demand instance-months beyond what reservations cover; per offering, term and
//! purchase month the integer instances reserved. A reservation is paid every month of its
//! term whether used or not, and the plan's cost includes the term's months after the horizon
//! (reported apart): the plan cannot know the capacity will be needed then, so it buys a term
//! only when the months it uses inside the horizon pay for all of it. Pricing only the months
//! inside the horizon instead would make every late 3-year term look free.

use crate::candidates::{self, Candidate, CandidateKind, DAYS_PER_MONTH, HOURS_PER_MONTH};
use crate::explain;
use crate::formulation::commitment_discount;
use crate::lp::{self, LinearModel, Outcome, SolveOptions};
use crate::{PlanError, PlanOptions};
use chipmix_catalog::{Catalog, Vendor};
use chipmix_perf::{Calibration, TrainConfig};
use chipmix_workload::{Contract, Horizon, Portfolio, WorkloadKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MonthlyPlan {
    pub portfolio: String,
    pub status: crate::Status,
    pub months: u32,
    pub lead_months: u32,
    /// Total cost: every month of the horizon plus the reservation payments owed after it.
    pub objective_usd: f64,
    /// Reservation payments owed after the horizon (included in `objective_usd`).
    pub committed_after_horizon_usd: f64,
    pub bound_usd: f64,
    pub gap: f64,
    pub solve_seconds: f64,
    /// The same portfolio planned with on-demand and spot only, month by month (no
    /// reservations): what re-planning each month on demand alone costs.
    pub on_demand_only_usd: Option<f64>,
    pub reservations: Vec<Reservation>,
    pub by_month: Vec<Month>,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reservation {
    pub offering: String,
    pub provider: String,
    pub term_years: u32,
    pub discount: f64,
    /// 1-based month of the horizon it is bought in, and the first month it can be used.
    pub bought_month: u32,
    pub usable_from_month: u32,
    pub instances: u32,
    /// Paid every month of the term.
    pub usd_per_month: f64,
    /// Term months after the horizon: a commitment the plan makes beyond what it prices.
    pub months_beyond_horizon: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Month {
    /// 1-based.
    pub month: u32,
    pub cost_usd: f64,
    pub on_demand_usd: f64,
    pub spot_usd: f64,
    pub reserved_usd: f64,
    pub shortfall_usd: f64,
    pub credits_usd: f64,
    /// Peak req/s each service is provisioned for this month (headroom included).
    pub demand_requests_per_s: BTreeMap<String, f64>,
    /// Reserved instances usable this month, per offering.
    pub reserved_instances: BTreeMap<String, u32>,
    pub allocations: Vec<MonthAllocation>,
    pub spend_by_vendor: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MonthAllocation {
    pub workload: String,
    pub offering: String,
    pub chip: String,
    pub vendor: String,
    pub spot: bool,
    pub instances: u32,
    pub chips: u32,
    /// Fraction of the month the instances are busy (training runs end mid-month).
    pub busy_fraction: f64,
    pub replica_tp: Option<u32>,
    pub replica_pp: Option<u32>,
    pub replicas: Option<u32>,
    pub requests_per_s: Option<f64>,
    pub train_config: Option<TrainConfig>,
    pub days: Option<f64>,
    pub global_batch_tokens: Option<f64>,
}

/// The months a training run is busy, from its start month: `(month index, busy fraction)`.
pub fn training_months(start_month: u32, days: f64) -> Vec<(u32, f64)> {
    let months = days / DAYS_PER_MONTH;
    let start = start_month.saturating_sub(1);
    let n = months.ceil().max(1.0) as u32;
    (0..n)
        .map(|k| (start + k, (months - f64::from(k)).clamp(0.0, 1.0)))
        .collect()
}

/// Instances obtainable of offering `o` in month `t` (0-based): the supply ramp (its last value
/// after it ends), else the catalog's limit.
pub fn capacity_in_month(
    portfolio: &Portfolio,
    catalog: &Catalog,
    o: usize,
    t: u32,
) -> Option<u32> {
    let offering = &catalog.offerings()[o];
    let id = offering.id();
    match portfolio.supply.iter().find(|s| s.offering == id) {
        Some(ramp) => ramp
            .capacity_by_month
            .get(t as usize)
            .or(ramp.capacity_by_month.last())
            .copied(),
        None => offering.capacity_instances,
    }
}

struct Columns {
    /// Per candidate: per month (serving) or one (training).
    units: Vec<Vec<usize>>,
    /// (offering, term index, purchase month) → column.
    reserved: BTreeMap<(usize, usize, u32), usize>,
}

/// Plans a portfolio with a `horizon:` month by month.
pub fn plan_months(
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    options: &PlanOptions,
) -> Result<MonthlyPlan, PlanError> {
    let Some(horizon) = &portfolio.horizon else {
        return Err(PlanError::Infeasible(vec![
            "the portfolio has no `horizon:`; plan it with `plan`".into(),
        ]));
    };
    let generated = candidates::generate(portfolio, catalog, calibration);
    let missing = explain::workloads_without_candidates(portfolio, catalog, &generated);
    if !missing.is_empty() {
        return Err(PlanError::Infeasible(missing));
    }
    let cands = &generated.candidates;
    let solve_options = SolveOptions {
        time_limit_s: options.time_limit_s,
        relative_gap: options.relative_gap,
        relax: false,
    };
    let (m, cols) = build(portfolio, catalog, cands, horizon, true)?;
    let solved = lp::solve(&m, &solve_options);
    match solved.outcome {
        Outcome::Optimal | Outcome::TimeLimit => {}
        Outcome::Infeasible => {
            return Err(PlanError::Infeasible(vec![format!(
                "no month-by-month plan meets demand within supply, caps and budget in every month of the {}-month horizon; check the supply ramps against the demand growth",
                horizon.months
            )]));
        }
        Outcome::NoSolution => return Err(crate::no_solution(&solved, options.time_limit_s)),
    }
    // The baseline: no reservations at all.
    let on_demand_only = build(portfolio, catalog, cands, horizon, false)
        .ok()
        .map(|(m0, _)| lp::solve(&m0, &solve_options))
        .filter(|s| matches!(s.outcome, Outcome::Optimal | Outcome::TimeLimit))
        .map(|s| s.objective);
    Ok(assemble(
        portfolio,
        catalog,
        cands,
        horizon,
        &cols,
        &solved,
        on_demand_only,
    ))
}

/// The reservation terms an offering can be bought on.
fn terms_for<'h>(
    horizon: &'h Horizon,
    provider: &str,
) -> Vec<(usize, &'h chipmix_workload::ReservationTerm)> {
    horizon
        .reservations
        .iter()
        .enumerate()
        .filter(|(_, r)| r.provider == "*" || r.provider.eq_ignore_ascii_case(provider))
        .collect()
}

fn build(
    portfolio: &Portfolio,
    catalog: &Catalog,
    cands: &[Candidate],
    horizon: &Horizon,
    with_reservations: bool,
) -> Result<(LinearModel, Columns), PlanError> {
    let offerings = catalog.offerings();
    let months = horizon.months;
    let lead = horizon.lead_months;
    let mut m = LinearModel::default();
    let mut units: Vec<Vec<usize>> = Vec::with_capacity(cands.len());
    // Per (offering, month): (on-demand instance-month usage terms, instance-count terms, spot
    // instance-count terms), for the rows below.
    let mut usage_months: BTreeMap<(usize, u32), Vec<(usize, f64)>> = BTreeMap::new();
    let mut usage_count: BTreeMap<(usize, u32), Vec<(usize, f64)>> = BTreeMap::new();
    let mut spot_count: BTreeMap<(usize, u32), Vec<(usize, f64)>> = BTreeMap::new();
    // Per (provider-or-vendor key, month): spend terms for commitments, shares and budget.
    let mut spend: BTreeMap<u32, Vec<(usize, f64, usize)>> = BTreeMap::new(); // (col, usd, offering)

    for c in cands {
        let o = &offerings[c.offering];
        let w = &portfolio.workloads[c.workload];
        let inst = f64::from(c.instances_per_unit);
        match (&c.kind, &w.kind) {
            (CandidateKind::Serve { .. }, WorkloadKind::Inference(_)) => {
                let mut per_month = Vec::new();
                for t in 0..months {
                    let cost = if c.spot {
                        c.usd_per_unit_hour * HOURS_PER_MONTH
                    } else {
                        0.0
                    };
                    let col = m.column(
                        format!("{}@{}#{}", w.name, o.id(), t + 1),
                        cost + crate::formulation::TIE_BREAK_USD_PER_INSTANCE * inst,
                        0.0,
                        f64::INFINITY,
                        true,
                    );
                    if c.spot {
                        spend.entry(t).or_default().push((col, cost, c.offering));
                        spot_count
                            .entry((c.offering, t))
                            .or_default()
                            .push((col, inst));
                    } else {
                        usage_months
                            .entry((c.offering, t))
                            .or_default()
                            .push((col, inst));
                    }
                    usage_count
                        .entry((c.offering, t))
                        .or_default()
                        .push((col, inst));
                    per_month.push(col);
                }
                units.push(per_month);
            }
            (CandidateKind::Train { days, .. }, WorkloadKind::Training(job)) => {
                let busy = training_months(job.start_month, *days);
                let fits = busy.iter().all(|(t, _)| *t < months);
                let spot_cost: f64 = busy.iter().map(|(_, f)| f).sum::<f64>()
                    * c.usd_per_unit_hour
                    * HOURS_PER_MONTH;
                let col = m.column(
                    format!("{}@{}", w.name, o.id()),
                    if c.spot { spot_cost } else { 0.0 },
                    0.0,
                    if fits { 1.0 } else { 0.0 },
                    true,
                );
                for (t, f) in busy.into_iter().filter(|(t, _)| *t < months) {
                    if c.spot {
                        spend.entry(t).or_default().push((
                            col,
                            c.usd_per_unit_hour * HOURS_PER_MONTH * f,
                            c.offering,
                        ));
                        spot_count
                            .entry((c.offering, t))
                            .or_default()
                            .push((col, inst));
                    } else {
                        usage_months
                            .entry((c.offering, t))
                            .or_default()
                            .push((col, inst * f));
                    }
                    usage_count
                        .entry((c.offering, t))
                        .or_default()
                        .push((col, inst));
                }
                units.push(vec![col]);
            }
            _ => units.push(Vec::new()),
        }
    }

    // Demand per service and month; each training job runs once.
    for (wi, w) in portfolio.workloads.iter().enumerate() {
        let mine: Vec<usize> = (0..cands.len())
            .filter(|&i| cands[i].workload == wi)
            .collect();
        match &w.kind {
            WorkloadKind::Inference(svc) => {
                for t in 0..months {
                    let coeffs = mine
                        .iter()
                        .filter_map(|&i| match cands[i].kind {
                            CandidateKind::Serve { requests_per_s, .. } => {
                                Some((units[i][t as usize], requests_per_s))
                            }
                            CandidateKind::Train { .. } => None,
                        })
                        .collect();
                    m.row(
                        format!("demand[{}]#{}", w.name, t + 1),
                        svc.peak_in_month(t) * (1.0 + svc.headroom),
                        f64::INFINITY,
                        coeffs,
                    );
                }
            }
            WorkloadKind::Training(_) => {
                m.row(
                    format!("run_once[{}]", w.name),
                    1.0,
                    1.0,
                    mine.iter().map(|&i| (units[i][0], 1.0)).collect(),
                );
            }
        }
    }

    // Reservations: bought in month τ, usable from τ + lead for the term.
    let mut reserved: BTreeMap<(usize, usize, u32), usize> = BTreeMap::new();
    let used_offerings: std::collections::BTreeSet<usize> =
        usage_months.keys().map(|(o, _)| *o).collect();
    if with_reservations {
        for &oi in &used_offerings {
            let o = &offerings[oi];
            let Some(price) = o.usd_per_hour else {
                continue;
            };
            for (k, term) in terms_for(horizon, &o.provider) {
                for tau in 0..months.saturating_sub(lead) {
                    // The whole term is owed, including months after the horizon: the plan
                    // cannot know the capacity will be needed then, so it does not count on it.
                    let col = m.column(
                        format!("reserve[{}]{}y#{}", o.id(), term.term_years, tau + 1),
                        price * HOURS_PER_MONTH * (1.0 - term.discount) * f64::from(term.months()),
                        0.0,
                        f64::INFINITY,
                        true,
                    );
                    reserved.insert((oi, k, tau), col);
                }
            }
        }
    }
    let reserved_at = |oi: usize, t: u32| -> Vec<(usize, f64)> {
        reserved
            .iter()
            .filter(|((o, k, tau), _)| {
                *o == oi && {
                    let first = tau + lead;
                    first <= t && t < first + horizon.reservations[*k].months()
                }
            })
            .map(|(_, &col)| (col, 1.0))
            .collect()
    };

    // On-demand beyond reservations, and capacity.
    for (oi, o) in offerings.iter().enumerate() {
        for t in 0..months {
            let months_terms = usage_months.get(&(oi, t));
            let count_terms = usage_count.get(&(oi, t));
            if months_terms.is_none() && count_terms.is_none() {
                continue;
            }
            let r = reserved_at(oi, t);
            if let Some(terms) = months_terms {
                let price = o.usd_per_hour.unwrap_or(0.0)
                    * (1.0 - commitment_discount(portfolio, &o.provider, &o.chip));
                let od = m.column(
                    format!("on_demand[{}]#{}", o.id(), t + 1),
                    price * HOURS_PER_MONTH,
                    0.0,
                    f64::INFINITY,
                    false,
                );
                // od ≥ usage − reserved
                let mut coeffs = vec![(od, 1.0)];
                coeffs.extend(terms.iter().map(|&(c, a)| (c, -a)));
                coeffs.extend(r.iter().copied());
                m.row(
                    format!("on_demand[{}]#{}", o.id(), t + 1),
                    0.0,
                    f64::INFINITY,
                    coeffs,
                );
                spend
                    .entry(t)
                    .or_default()
                    .push((od, price * HOURS_PER_MONTH, oi));
            }
            if let Some(cap) = capacity_in_month(portfolio, catalog, oi, t) {
                let cap = f64::from(cap);
                if let Some(terms) = count_terms {
                    m.row(
                        format!("capacity[{}]#{}", o.id(), t + 1),
                        f64::NEG_INFINITY,
                        cap,
                        terms.clone(),
                    );
                }
                if !r.is_empty() {
                    // Reserved instances hold capacity whether used or not.
                    let mut coeffs = r.clone();
                    coeffs.extend(spot_count.get(&(oi, t)).into_iter().flatten().copied());
                    m.row(
                        format!("capacity_reserved[{}]#{}", o.id(), t + 1),
                        f64::NEG_INFINITY,
                        cap,
                        coeffs,
                    );
                }
            }
        }
    }
    // Reserved spend per month, for commitments, shares and budget.
    for (&(oi, k, tau), &col) in &reserved {
        let o = &offerings[oi];
        let rate = o.usd_per_hour.unwrap_or(0.0)
            * HOURS_PER_MONTH
            * (1.0 - horizon.reservations[k].discount);
        let first = tau + lead;
        for t in first..(first + horizon.reservations[k].months()).min(months) {
            spend.entry(t).or_default().push((col, rate, oi));
        }
    }

    // Contracts per month.
    let mut shortfall = BTreeMap::new();
    let mut credits = BTreeMap::new();
    for (ki, k) in portfolio.contracts.iter().enumerate() {
        for t in 0..months {
            let covered: Vec<(usize, f64)> = spend
                .get(&t)
                .into_iter()
                .flatten()
                .filter(|(_, _, oi)| {
                    let o = &offerings[*oi];
                    match k {
                        Contract::Commitment { .. } => k.covers(&o.provider, &o.chip),
                        Contract::Credits { provider, .. } => {
                            o.provider.eq_ignore_ascii_case(provider)
                        }
                    }
                })
                .map(|&(c, usd, _)| (c, usd))
                .collect();
            match k {
                Contract::Commitment {
                    provider,
                    usd_per_month,
                    ..
                } => {
                    let s = m.column(
                        format!("shortfall[{provider}]#{}", t + 1),
                        1.0,
                        0.0,
                        *usd_per_month,
                        false,
                    );
                    let mut coeffs = covered;
                    coeffs.push((s, 1.0));
                    m.row(
                        format!("commitment[{provider}]#{}", t + 1),
                        *usd_per_month,
                        f64::INFINITY,
                        coeffs,
                    );
                    shortfall.insert((ki, t), s);
                }
                Contract::Credits { provider, .. } => {
                    let valid = crate::formulation::credit_months(portfolio, k, f64::from(months));
                    if f64::from(t) >= valid {
                        continue;
                    }
                    let Contract::Credits { usd, .. } = k else {
                        unreachable!()
                    };
                    let per_month = usd / valid.max(1.0);
                    let u = m.column(
                        format!("credits[{provider}]#{}", t + 1),
                        -1.0,
                        0.0,
                        per_month,
                        false,
                    );
                    let mut coeffs: Vec<(usize, f64)> =
                        covered.iter().map(|&(c, a)| (c, -a)).collect();
                    coeffs.push((u, 1.0));
                    m.row(
                        format!("credits[{provider}]#{}", t + 1),
                        f64::NEG_INFINITY,
                        0.0,
                        coeffs,
                    );
                    credits.insert((ki, t), u);
                }
            }
        }
    }

    // Vendor-share cap (on spend) and budget, per month.
    let vendor_of = |oi: usize| catalog.vendor_of(&offerings[oi]);
    for t in 0..months {
        let terms = spend.get(&t).cloned().unwrap_or_default();
        if let Some(cap) = portfolio.policy.max_vendor_share {
            let vendors: std::collections::BTreeSet<Vendor> =
                terms.iter().map(|&(_, _, oi)| vendor_of(oi)).collect();
            for v in vendors {
                let coeffs = terms
                    .iter()
                    .map(|&(c, usd, oi)| {
                        (c, if vendor_of(oi) == v { usd } else { 0.0 } - cap * usd)
                    })
                    .collect();
                m.row(
                    format!("vendor_share[{v}]#{}", t + 1),
                    f64::NEG_INFINITY,
                    0.0,
                    coeffs,
                );
            }
        }
        if let Some(budget) = portfolio.policy.budget_usd_per_month {
            let mut coeffs: Vec<(usize, f64)> = terms.iter().map(|&(c, usd, _)| (c, usd)).collect();
            for ((_, tt), &s) in &shortfall {
                if *tt == t {
                    coeffs.push((s, 1.0));
                }
            }
            for ((_, tt), &u) in &credits {
                if *tt == t {
                    coeffs.push((u, -1.0));
                }
            }
            m.row(
                format!("budget#{}", t + 1),
                f64::NEG_INFINITY,
                budget,
                coeffs,
            );
        }
    }
    // A reservation's cost sits on its column for all its active months; the per-month rows
    // above use the per-month rate, so the objective and the rows agree.
    Ok((m, Columns { units, reserved }))
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    portfolio: &Portfolio,
    catalog: &Catalog,
    cands: &[Candidate],
    horizon: &Horizon,
    cols: &Columns,
    solved: &lp::Solved,
    on_demand_only: Option<f64>,
) -> MonthlyPlan {
    let offerings = catalog.offerings();
    let months = horizon.months;
    let lead = horizon.lead_months;
    let v = |c: usize| solved.values[c];
    let round = |x: f64| x.round().max(0.0) as u32;
    let mut warnings = Vec::new();

    let mut reservations = Vec::new();
    for (&(oi, k, tau), &col) in &cols.reserved {
        let n = round(v(col));
        if n == 0 {
            continue;
        }
        let o = &offerings[oi];
        let term = &horizon.reservations[k];
        let first = tau + lead;
        let end = first + term.months();
        let rate = o.usd_per_hour.unwrap_or(0.0) * HOURS_PER_MONTH * (1.0 - term.discount);
        reservations.push(Reservation {
            offering: o.id(),
            provider: o.provider.clone(),
            term_years: term.term_years,
            discount: term.discount,
            bought_month: tau + 1,
            usable_from_month: first + 1,
            instances: n,
            usd_per_month: rate * f64::from(n),
            months_beyond_horizon: end.saturating_sub(months),
        });
    }
    let beyond: f64 = reservations
        .iter()
        .map(|r| r.usd_per_month * f64::from(r.months_beyond_horizon))
        .sum();
    if beyond > 0.0 {
        warnings.push(format!(
            "reservations run past the {months}-month horizon: ${beyond:.0} of the plan's cost is owed after it"
        ));
    }

    let mut by_month = Vec::new();
    for t in 0..months {
        let mut allocations = Vec::new();
        for (i, c) in cands.iter().enumerate() {
            let w = &portfolio.workloads[c.workload];
            let o = &offerings[c.offering];
            let (units, busy, days) = match (&c.kind, &w.kind) {
                (CandidateKind::Serve { .. }, _) => {
                    (round(v(cols.units[i][t as usize])), 1.0, None)
                }
                (CandidateKind::Train { days, .. }, WorkloadKind::Training(job)) => {
                    if round(v(cols.units[i][0])) == 0 {
                        continue;
                    }
                    match training_months(job.start_month, *days)
                        .into_iter()
                        .find(|(tt, _)| *tt == t)
                    {
                        Some((_, f)) => (1, f, Some(*days)),
                        None => continue,
                    }
                }
                _ => continue,
            };
            if units == 0 {
                continue;
            }
            let mut a = MonthAllocation {
                workload: w.name.clone(),
                offering: o.id(),
                chip: o.chip.clone(),
                vendor: c.vendor.to_string(),
                spot: c.spot,
                instances: units * c.instances_per_unit,
                chips: units * c.chips_per_unit,
                busy_fraction: busy,
                replica_tp: None,
                replica_pp: None,
                replicas: None,
                requests_per_s: None,
                train_config: None,
                days,
                global_batch_tokens: None,
            };
            match &c.kind {
                CandidateKind::Serve {
                    replica,
                    replicas_per_unit,
                    requests_per_s,
                    ..
                } => {
                    a.replica_tp = Some(replica.tp);
                    a.replica_pp = Some(replica.pp);
                    a.replicas = Some(units * replicas_per_unit);
                    a.requests_per_s = Some(requests_per_s * f64::from(units));
                }
                CandidateKind::Train {
                    config,
                    global_batch_tokens,
                    ..
                } => {
                    a.train_config = Some(*config);
                    a.global_batch_tokens = Some(*global_batch_tokens);
                }
            }
            allocations.push(a);
        }
        let mut reserved_instances = BTreeMap::new();
        for r in &reservations {
            let first = r.usable_from_month - 1;
            if first <= t && t < first + r.term_years * 12 {
                *reserved_instances.entry(r.offering.clone()).or_insert(0) += r.instances;
            }
        }
        // Costs from what the plan holds, not from the solver's slack variables (an incumbent
        // stopped by the time limit may carry loose ones).
        let price_of = |id: &str| catalog.find_offering(id).expect("from the catalog");
        let mut busy: BTreeMap<&str, f64> = BTreeMap::new();
        let mut spot_by: Vec<(&str, f64)> = Vec::new();
        for a in &allocations {
            let o = price_of(&a.offering);
            if a.spot {
                spot_by.push((
                    a.offering.as_str(),
                    o.spot_usd_per_hour.unwrap_or(0.0)
                        * f64::from(a.instances)
                        * HOURS_PER_MONTH
                        * a.busy_fraction,
                ));
            } else {
                *busy.entry(a.offering.as_str()).or_insert(0.0) +=
                    f64::from(a.instances) * a.busy_fraction;
            }
        }
        let spot_usd: f64 = spot_by.iter().map(|(_, u)| u).sum();
        let mut on_demand_usd = 0.0;
        // (offering, usd) for every dollar spent this month.
        let mut spent: Vec<(&str, f64)> = spot_by;
        for (id, b) in &busy {
            let o = price_of(id);
            let uncovered =
                (b - f64::from(reserved_instances.get(*id).copied().unwrap_or(0))).max(0.0);
            let usd = uncovered
                * o.usd_per_hour.unwrap_or(0.0)
                * (1.0 - commitment_discount(portfolio, &o.provider, &o.chip))
                * HOURS_PER_MONTH;
            on_demand_usd += usd;
            spent.push((id, usd));
        }
        let mut reserved_usd = 0.0;
        for r in &reservations {
            let first = r.usable_from_month - 1;
            if first <= t && t < first + r.term_years * 12 {
                reserved_usd += r.usd_per_month;
                spent.push((r.offering.as_str(), r.usd_per_month));
            }
        }
        let mut shortfall_usd = 0.0;
        let mut credits_usd = 0.0;
        for k in &portfolio.contracts {
            let covered: f64 = spent
                .iter()
                .filter(|(id, _)| {
                    let o = price_of(id);
                    match k {
                        Contract::Commitment { .. } => k.covers(&o.provider, &o.chip),
                        Contract::Credits { provider, .. } => {
                            o.provider.eq_ignore_ascii_case(provider)
                        }
                    }
                })
                .map(|(_, u)| u)
                .sum();
            match k {
                Contract::Commitment { usd_per_month, .. } => {
                    shortfall_usd += (usd_per_month - covered).max(0.0);
                }
                Contract::Credits { usd, .. } => {
                    let valid = crate::formulation::credit_months(portfolio, k, f64::from(months));
                    if f64::from(t) < valid {
                        credits_usd += covered.min(usd / valid.max(1.0));
                    }
                }
            }
        }
        let mut spend_by_vendor: BTreeMap<String, f64> = BTreeMap::new();
        for (id, u) in &spent {
            *spend_by_vendor
                .entry(catalog.vendor_of(price_of(id)).to_string())
                .or_insert(0.0) += u;
        }
        let demand_requests_per_s = portfolio
            .inference_services()
            .map(|(w, s)| (w.name.clone(), s.peak_in_month(t) * (1.0 + s.headroom)))
            .collect();
        by_month.push(Month {
            month: t + 1,
            cost_usd: on_demand_usd + spot_usd + reserved_usd + shortfall_usd - credits_usd,
            on_demand_usd,
            spot_usd,
            reserved_usd,
            shortfall_usd,
            credits_usd,
            demand_requests_per_s,
            reserved_instances,
            allocations,
            spend_by_vendor,
        });
    }
    let objective: f64 = by_month.iter().map(|m| m.cost_usd).sum::<f64>() + beyond;
    let bound = (solved.bound - (solved.objective - objective)).min(objective);
    let gap = lp::relative_gap(objective, bound);
    if portfolio
        .inference_services()
        .any(|(_, s)| s.min_vendors > 1 || s.max_vendor_fraction < 1.0)
        || portfolio.policy.resilience.is_some()
    {
        warnings.push("per-service vendor rules (min_vendors, max_vendor_fraction) and policy.resilience are not enforced in month-by-month plans; check a representative month with a single-period plan (a portfolio without `horizon:`)".into());
    }
    MonthlyPlan {
        portfolio: portfolio.name.clone(),
        status: if solved.outcome == Outcome::Optimal {
            crate::Status::Optimal
        } else {
            crate::Status::TimeLimit
        },
        months,
        lead_months: lead,
        objective_usd: objective,
        committed_after_horizon_usd: beyond,
        bound_usd: bound,
        gap,
        solve_seconds: solved.seconds,
        on_demand_only_usd: on_demand_only,
        reservations,
        by_month,
        warnings,
    }
}
