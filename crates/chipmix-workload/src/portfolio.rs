//! The portfolio file: workloads, policy, contracts and offering overrides.
//!
//! The format is documented for users in `docs/portfolio.md`; keep the two in step.

use crate::model::{self, ModelSpec};
use crate::timeline::{Availability, PriceChange, PriceSeries};
use crate::yaml::{self, Decoder, Diagnostic, Fields, Node, Pos, Severity};
use chipmix_catalog::{Catalog, OfferingOverride, SoftwareStack, Vendor, limits};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

/// Numeric format of weights (inference) or of the matrix math (training).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Bf16,
    Fp8,
    Int8,
}

impl Precision {
    pub const CHOICES: &[(&str, Precision)] = &[
        ("bf16", Precision::Bf16),
        ("fp8", Precision::Fp8),
        ("int8", Precision::Int8),
    ];

    pub fn bytes_per_param(self) -> f64 {
        match self {
            Precision::Bf16 => 2.0,
            Precision::Fp8 | Precision::Int8 => 1.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Bf16 => "bf16",
            Precision::Fp8 => "fp8",
            Precision::Int8 => "int8",
        }
    }
}

/// What a vendor-share cap is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ShareBasis {
    /// USD per month spent on the vendor's chips.
    #[default]
    Spend,
    /// Number of the vendor's chips.
    Chips,
    /// Dense BF16 FLOP/s the vendor's chips deliver.
    Compute,
}

impl ShareBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            ShareBasis::Spend => "spend",
            ShareBasis::Chips => "chips",
            ShareBasis::Compute => "compute",
        }
    }
}

impl std::fmt::Display for ShareBasis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a resilient plan must survive the loss of: any one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureScope {
    /// A chip vendor (all of NVIDIA, all of AWS's own chips …).
    Vendor,
    /// A cloud provider.
    Provider,
    /// One region of one provider (`aws/us-east-1`).
    Region,
}

impl FailureScope {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureScope::Vendor => "vendor",
            FailureScope::Provider => "provider",
            FailureScope::Region => "region",
        }
    }
}

/// `policy.resilience`: losing any one vendor (or provider, or region) must still leave every
/// inference service at least `min_served` of its peak demand.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Resilience {
    pub survive: FailureScope,
    /// Fraction of `peak_requests_per_s` (headroom not counted) still served after the loss.
    pub min_served: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Portfolio {
    pub name: String,
    /// The file it was read from, for messages.
    pub file: String,
    /// First day of the first planned month; needed to place credit expiry dates.
    pub start: Option<NaiveDate>,
    pub workloads: Vec<Workload>,
    pub policy: Policy,
    pub contracts: Vec<Contract>,
    pub offering_overrides: Vec<OfferingOverride>,
    /// `horizon:`: plan month by month (multi-period) instead of one steady-state month.
    pub horizon: Option<Horizon>,
    /// `supply:`: instances obtainable per month of the horizon, per offering (supply ramps).
    pub supply: Vec<SupplyRamp>,
    /// `roadmap:`: offerings usable only from / until a month of the horizon.
    pub roadmap: Vec<Availability>,
    /// `prices:`: prices that change over the horizon.
    pub prices: Vec<PriceChange>,
}

/// A multi-period horizon: months planned together, the lead time of capacity bought ahead,
/// and the reserved-capacity terms on offer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Horizon {
    pub months: u32,
    /// Months per period: 1 (`period: month`, the default) or 3 (`period: quarter`). `months`
    /// is a whole number of periods.
    pub period_months: u32,
    /// Months between buying a reservation and using it.
    pub lead_months: u32,
    pub reservations: Vec<ReservationTerm>,
}

/// A reserved-capacity price: `discount` off on-demand for `term_years`, paid every month of
/// the term whether used or not. chipmix ships no reservation prices: they are the user's
/// quotes (or the provider's published rates), with their source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReservationTerm {
    /// A provider id, or `*` for every provider.
    pub provider: String,
    pub term_years: u32,
    pub discount: f64,
    pub source: String,
}

impl ReservationTerm {
    pub fn months(&self) -> u32 {
        self.term_years * 12
    }
}

/// Instances of one offering (`provider/instance_type/region`) obtainable in each month.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SupplyRamp {
    pub offering: String,
    pub capacity_by_month: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Workload {
    pub name: String,
    /// What the portfolio wrote: a preset name or a path.
    pub model_ref: String,
    pub model: ModelSpec,
    /// Software stacks the workload's code runs on; chips on other stacks are never candidates.
    pub software: Vec<SoftwareStack>,
    /// Whether the workload tolerates preemption (and so may run on spot capacity).
    pub preemptible: bool,
    /// Groups workloads for quotas (Kueue ClusterQueues) and reports.
    pub team: Option<String>,
    pub precision: Precision,
    pub kind: WorkloadKind,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum WorkloadKind {
    Training(TrainingJob),
    Inference(InferenceService),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainingJob {
    /// Month of the horizon the run starts in (1-based; multi-period plans only).
    pub start_month: u32,
    pub tokens: f64,
    pub seq_len: u32,
    pub deadline_days: f64,
    /// Tokens per optimizer step; `None` lets the performance model choose.
    pub global_batch_tokens: Option<f64>,
    /// Over time: the run may stop at the end of a period and resume from its checkpoint on
    /// another placement, at this cost. `None`: it stays where it starts.
    pub restart: Option<Restart>,
}

/// What resuming a training run elsewhere costs (`restart:` on a training job): the hours the
/// new fleet spends loading the checkpoint and catching up (paid at its price, and the run
/// lasts that much longer), and a fixed amount per restart (moving the checkpoint between
/// clouds, say). Set both from your own restarts; chipmix has no default.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Restart {
    pub overhead_hours: f64,
    pub usd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InferenceService {
    pub peak_requests_per_s: f64,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    pub slo: Slo,
    /// Capacity to provision above peak: delivered ≥ peak × (1 + headroom).
    pub headroom: f64,
    /// Distinct chip vendors the service must be spread over.
    pub min_vendors: u32,
    /// No vendor may carry more than this fraction of the service's capacity.
    pub max_vendor_fraction: f64,
    /// Multi-period plans: peak demand grows by this fraction every month.
    pub growth_monthly: f64,
    /// Multi-period plans: peak req/s per month, overriding growth.
    pub demand_by_month: Option<Vec<f64>>,
}

impl InferenceService {
    /// Peak req/s in month `m` (0-based) of a multi-period horizon.
    pub fn peak_in_month(&self, m: u32) -> f64 {
        match &self.demand_by_month {
            Some(series) => series
                .get(m as usize)
                .or(series.last())
                .copied()
                .unwrap_or(self.peak_requests_per_s),
            None => self.peak_requests_per_s * (1.0 + self.growth_monthly).powi(m as i32),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Slo {
    /// Time to first token.
    pub ttft_ms: f64,
    /// Time per output token after the first.
    pub tpot_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Policy {
    pub budget_usd_per_month: Option<f64>,
    /// No vendor may exceed this share of the whole portfolio (measured by `share_basis`).
    pub max_vendor_share: Option<f64>,
    pub share_basis: ShareBasis,
    /// `None`: every provider in the catalog.
    pub allowed_providers: Option<Vec<String>>,
    pub allowed_regions: Option<Vec<String>>,
    pub allowed_vendors: Option<Vec<Vendor>>,
    /// Defaults for inference services that do not set their own.
    pub headroom: f64,
    pub min_vendors_per_service: u32,
    pub max_vendor_fraction_per_service: f64,
    /// Months the plan covers; `None`: long enough for the longest training deadline (at
    /// least one).
    pub horizon_months: Option<u32>,
    /// Fraction of the time spot capacity is available to a preemptible workload: its
    /// throughput on spot is scaled by this.
    pub spot_availability: f64,
    pub resilience: Option<Resilience>,
    /// What moving capacity between periods of a `horizon:` costs (see [`MigrationCost`]).
    pub migration_cost: MigrationCost,
    /// Fragmentation: each chip type an inference service uses carries at least this share of
    /// its provisioned demand (`None`: any split).
    pub min_share_per_placement: Option<f64>,
    /// Plans over a `horizon:`: the most of a service's instances released from their
    /// placements from one period to the next, as a share of those it held (`None`: no cap).
    pub max_churn: Option<f64>,
}

/// The cost of moving a service's capacity from one period to the next, charged per instance
/// released from an offering (and layout) while the service runs on: the drain, the cut-over
/// and the engineering work of standing the capacity up elsewhere. A scale-down pays it too:
/// handing instances back is work as well. Only plans over a `horizon:` have periods to move
/// between.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationCost {
    /// This many hours of the released instance's own price (on-demand, or spot for spot).
    HoursOfPrice(f64),
    /// A flat amount per instance released.
    UsdPerInstance(f64),
}

/// Default [`MigrationCost`]: a day of the instance's price. An ASSUMPTION, not a measurement
/// (stand-up, model download, warm-up and canary of a replacement take hours; a day also
/// covers the overlap while both run) — set `policy.migration_cost` from your own moves.
pub const DEFAULT_MIGRATION_COST: MigrationCost = MigrationCost::HoursOfPrice(24.0);

impl MigrationCost {
    /// USD for releasing one instance priced `usd_per_hour`.
    pub fn usd_per_instance(self, usd_per_hour: f64) -> f64 {
        match self {
            MigrationCost::HoursOfPrice(h) => h * usd_per_hour,
            MigrationCost::UsdPerInstance(usd) => usd,
        }
    }
}

/// Default [`Policy::spot_availability`]: an assumption, not a measurement — set your own from
/// your interruption history.
pub const DEFAULT_SPOT_AVAILABILITY: f64 = 0.5;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Contract {
    /// Spend on the provider up to `usd_per_month` is owed whether used or not; in exchange
    /// the provider's prices are cut by `discount`.
    Commitment {
        provider: String,
        usd_per_month: f64,
        discount: f64,
        /// Chips the commitment covers (e.g. only Trainium and Inferentia); `None`: all.
        chips: Option<Vec<String>>,
        /// When it runs and how its amount ramps, for plans over a `horizon:`. A single-period
        /// plan is a month inside the term at `usd_per_month` (the ramp's average).
        term: CommitmentTerm,
    },
    /// The first `usd` spent on the provider is free until the credits expire.
    Credits {
        provider: String,
        usd: f64,
        expires: Option<NaiveDate>,
        /// Months from the portfolio's start until expiry, when given as a duration.
        valid_months: Option<u32>,
        /// Where the grant comes from (an award letter, an investment term sheet).
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
}

/// A commitment over time: the months it runs, the amount per month in each year of it, and
/// what walking away costs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommitmentTerm {
    /// 1-based month of the horizon it starts in.
    pub from_month: u32,
    /// How long it runs (`None`: to the end of any horizon).
    pub months: Option<u32>,
    /// USD per month owed in each year of the term (a ramp; the last repeats). `None`: the
    /// commitment's `usd_per_month` throughout.
    pub usd_per_month_by_year: Option<Vec<f64>>,
    /// Share of the amount still owed for the rest of the term that walking away costs
    /// (`None`: not stated in the contract).
    pub early_exit_fraction: Option<f64>,
    /// Where the terms come from (a term sheet, a quote).
    pub source: Option<String>,
}

impl Default for CommitmentTerm {
    fn default() -> Self {
        CommitmentTerm {
            from_month: 1,
            months: None,
            usd_per_month_by_year: None,
            early_exit_fraction: None,
            source: None,
        }
    }
}

impl CommitmentTerm {
    /// Whether month `m` (0-based) of the horizon is inside the term.
    pub fn covers_month(&self, m: u32) -> bool {
        let start = self.from_month.saturating_sub(1);
        m >= start && self.months.is_none_or(|n| m < start + n)
    }

    /// USD owed in month `m` (0-based) of the horizon for a commitment of `usd_per_month`.
    pub fn usd_in_month(&self, usd_per_month: f64, m: u32) -> f64 {
        if !self.covers_month(m) {
            return 0.0;
        }
        let year = ((m + 1 - self.from_month) / 12) as usize;
        match &self.usd_per_month_by_year {
            Some(ramp) => ramp.get(year).or(ramp.last()).copied().unwrap_or(0.0),
            None => usd_per_month,
        }
    }

    /// What walking away at the end of month `m` (0-based) costs: the early-exit share of what
    /// the rest of the term would have owed, through `horizon_months` when the term is open.
    pub fn exit_cost_after(&self, usd_per_month: f64, m: u32, horizon_months: u32) -> Option<f64> {
        let fraction = self.early_exit_fraction?;
        let end = match self.months {
            Some(n) => self.from_month.saturating_sub(1) + n,
            None => horizon_months,
        };
        let rest: f64 = (m + 1..end)
            .map(|k| self.usd_in_month(usd_per_month, k))
            .sum();
        Some(fraction * rest)
    }
}

impl Contract {
    /// Whether spend on `chip` at `provider` counts toward this contract: a commitment counts
    /// the chips it names (all, when it names none), credits everything at their provider.
    pub fn covers(&self, provider: &str, chip: &str) -> bool {
        match self {
            Contract::Commitment {
                provider: p, chips, ..
            } => {
                p.eq_ignore_ascii_case(provider)
                    && chips.as_ref().is_none_or(|cs| cs.iter().any(|c| c == chip))
            }
            Contract::Credits { provider: p, .. } => p.eq_ignore_ascii_case(provider),
        }
    }

    pub fn provider(&self) -> &str {
        match self {
            Contract::Commitment { provider, .. } | Contract::Credits { provider, .. } => provider,
        }
    }
}

impl Portfolio {
    pub fn inference_services(&self) -> impl Iterator<Item = (&Workload, &InferenceService)> {
        self.workloads.iter().filter_map(|w| match &w.kind {
            WorkloadKind::Inference(s) => Some((w, s)),
            WorkloadKind::Training(_) => None,
        })
    }

    pub fn training_jobs(&self) -> impl Iterator<Item = (&Workload, &TrainingJob)> {
        self.workloads.iter().filter_map(|w| match &w.kind {
            WorkloadKind::Training(t) => Some((w, t)),
            WorkloadKind::Inference(_) => None,
        })
    }

    /// The catalog this portfolio plans against: `base` with the portfolio's overrides.
    pub fn effective_catalog(
        &self,
        base: &Catalog,
    ) -> Result<Catalog, Vec<chipmix_catalog::DataError>> {
        let mut catalog = base.clone();
        catalog.apply_overrides(&self.offering_overrides)?;
        Ok(catalog)
    }
}

/// A portfolio read without errors, and the warnings met on the way.
#[derive(Debug)]
pub struct Loaded {
    pub portfolio: Portfolio,
    pub warnings: Vec<Diagnostic>,
}

/// Reads and validates a portfolio file against a catalog.
pub fn load(path: &Path, catalog: &Catalog) -> Result<Loaded, Vec<Diagnostic>> {
    let file = path.display().to_string();
    let text = chipmix_catalog::limits::read_text_file(path).map_err(|e| {
        vec![Diagnostic {
            severity: Severity::Error,
            file: file.clone(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("cannot read the file: {e}"),
        }]
    })?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    parse(&file, &text, base_dir, catalog)
}

/// Reads and validates portfolio text. Every problem is reported, errors and warnings in the
/// order they appear in the file.
pub fn parse(
    file: &str,
    text: &str,
    base_dir: &Path,
    catalog: &Catalog,
) -> Result<Loaded, Vec<Diagnostic>> {
    parse_with(file, text, base_dir, catalog, &[])
}

/// [`parse`] with numbers set at dotted field paths first (`policy.max_vendor_share = 0.5`),
/// as a sweep does: the value goes through the same validation as one written in the file.
pub fn parse_with(
    file: &str,
    text: &str,
    base_dir: &Path,
    catalog: &Catalog,
    set: &[(&str, f64)],
) -> Result<Loaded, Vec<Diagnostic>> {
    let mut d = Decoder::new(file);
    let mut root = match yaml::parse(text) {
        Ok(root) => root,
        Err((pos, message)) => {
            d.error(pos, "", format!("YAML syntax error: {message}"));
            return Err(d.diagnostics);
        }
    };
    for (path, value) in set {
        if let Err(m) = yaml::set_number(&mut root, path, *value) {
            d.error(root.pos, path, m);
            return Err(d.diagnostics);
        }
    }
    let portfolio = decode(&mut d, &root, base_dir, catalog);
    let mut diagnostics = d.diagnostics;
    diagnostics.sort_by_key(|x| (x.line, x.column));
    match portfolio {
        Some(p) if !diagnostics.iter().any(|x| x.severity == Severity::Error) => Ok(Loaded {
            portfolio: p,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

const TOP: &[&str] = &[
    "name",
    "start",
    "workloads",
    "policy",
    "contracts",
    "offerings",
    "horizon",
    "supply",
    "roadmap",
    "prices",
];
const WORKLOAD_COMMON: &[&str] = &[
    "name",
    "kind",
    "model",
    "software",
    "preemptible",
    "team",
    "precision",
];
const TRAINING: &[&str] = &[
    "tokens",
    "seq_len",
    "deadline_days",
    "global_batch_tokens",
    "start_month",
    "restart",
];
const INFERENCE: &[&str] = &[
    "peak_requests_per_s",
    "prompt_tokens",
    "output_tokens",
    "slo",
    "headroom",
    "min_vendors",
    "max_vendor_fraction",
    "growth_monthly",
    "demand_by_month",
];
const POLICY: &[&str] = &[
    "budget_usd_per_month",
    "max_vendor_share",
    "share_basis",
    "allowed_providers",
    "allowed_regions",
    "allowed_vendors",
    "headroom",
    "min_vendors_per_service",
    "max_vendor_fraction_per_service",
    "horizon_months",
    "spot_availability",
    "resilience",
    "migration_cost",
    "min_share_per_placement",
    "max_churn",
];
/// An `offerings:` entry has exactly the columns of an override file.
const OFFERING: &[&str] = chipmix_catalog::overrides::COLUMNS;

fn decode(d: &mut Decoder, root: &Node, base_dir: &Path, base: &Catalog) -> Option<Portfolio> {
    let top = d.fields(root, "", TOP)?;
    let name = d.opt_str(&top, "name").unwrap_or_else(|| {
        Path::new(&d.file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "portfolio".into())
    });
    let start = top.get("start").and_then(|n| date_value(d, n, "start"));

    // Overrides first: the rest is checked against the catalog they produce.
    let (offering_overrides, catalog) = decode_offerings(d, &top, base);

    let policy = decode_policy(d, &top, &catalog);
    let workloads = decode_workloads(d, &top, base_dir, &catalog, policy.as_ref());
    if !top.has("horizon") {
        warn_restarts_without_horizon(d, &top);
    }
    let horizon = top
        .get("horizon")
        .and_then(|n| decode_horizon(d, n, &catalog));
    let horizon_months = horizon.as_ref().map(|h| h.months);
    let contracts = decode_contracts(d, &top, &catalog, start, horizon_months);
    let supply = decode_supply(d, &top, &catalog, horizon.as_ref());
    let roadmap = decode_roadmap(d, &top, &catalog, horizon.as_ref());
    let prices = decode_prices(d, &top, &catalog, horizon.as_ref());
    if let (Some(h), Some(ws)) = (&horizon, &workloads) {
        for (i, w) in ws.iter().enumerate() {
            match &w.kind {
                WorkloadKind::Training(j) if j.start_month > h.months => {
                    d.error(
                        Pos::default(),
                        &format!("workloads[{i}].start_month"),
                        format!(
                            "{}: starts in month {} of a {}-month horizon",
                            w.name, j.start_month, h.months
                        ),
                    );
                }
                _ => {}
            }
        }
    }

    Some(Portfolio {
        name,
        file: d.file.clone(),
        start,
        workloads: workloads?,
        policy: policy?,
        contracts: contracts?,
        offering_overrides,
        horizon,
        supply,
        roadmap,
        prices,
    })
}

/// The offering id `key` names, or a located error.
fn offering_id(d: &mut Decoder, f: &Fields<'_>, key: &str, catalog: &Catalog) -> Option<String> {
    let name = d.req_str(f, key)?;
    match catalog.find_offering(&name) {
        Ok(found) => Some(found.id()),
        Err(m) => {
            d.error(f.get(key).map_or(f.pos, |n| n.pos), &f.child_path(key), m);
            None
        }
    }
}

/// A 1-based month of the horizon at `key`, or a located error when it falls outside.
fn month_in_horizon(d: &mut Decoder, f: &Fields<'_>, key: &str, months: u32) -> Option<u32> {
    let m = d.opt_count(f, key, &limits::HORIZON_MONTHS)?;
    if m > months {
        d.error(
            f.get(key).map_or(f.pos, |n| n.pos),
            &f.child_path(key),
            format!("month {m} is outside the {months}-month horizon"),
        );
        return None;
    }
    Some(m)
}

fn decode_roadmap(
    d: &mut Decoder,
    top: &Fields<'_>,
    catalog: &Catalog,
    horizon: Option<&Horizon>,
) -> Vec<Availability> {
    let mut out = Vec::new();
    let Some(node) = top.get("roadmap") else {
        return out;
    };
    let Some(h) = horizon else {
        d.error(
            node.pos,
            "roadmap",
            "a roadmap needs a multi-period `horizon:` (months to plan)",
        );
        return out;
    };
    let Some(items) = d.seq(node, "roadmap") else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("roadmap[{i}]");
        let keys = ["offering", "from_month", "until_month", "source"];
        let Some(f) = d.fields(item, &path, &keys) else {
            continue;
        };
        let offering = offering_id(d, &f, "offering", catalog);
        let from = month_in_horizon(d, &f, "from_month", h.months)
            .or_else(|| (!f.has("from_month")).then_some(1));
        let until = month_in_horizon(d, &f, "until_month", h.months);
        let source = d.req_str(&f, "source");
        if let (Some(from), Some(until)) = (from, until)
            && until < from
        {
            d.error(
                f.get("until_month").map_or(f.pos, |n| n.pos),
                &f.child_path("until_month"),
                format!("ends in month {until}, before it starts in month {from}"),
            );
            continue;
        }
        if let (Some(offering), Some(from_month), Some(source)) = (offering, from, source) {
            out.push(Availability {
                offering,
                from_month,
                until_month: until,
                source,
            });
        }
    }
    out
}

fn decode_prices(
    d: &mut Decoder,
    top: &Fields<'_>,
    catalog: &Catalog,
    horizon: Option<&Horizon>,
) -> Vec<PriceChange> {
    let mut out = Vec::new();
    let Some(node) = top.get("prices") else {
        return out;
    };
    let Some(h) = horizon else {
        d.error(
            node.pos,
            "prices",
            "price changes need a multi-period `horizon:` (months to plan)",
        );
        return out;
    };
    let Some(items) = d.seq(node, "prices") else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("prices[{i}]");
        let keys = [
            "offering",
            "usd_per_hour_by_month",
            "decline_per_year",
            "source",
        ];
        let Some(f) = d.fields(item, &path, &keys) else {
            continue;
        };
        let every = f
            .get("offering")
            .is_some_and(|n| matches!(&n.value, yaml::Value::Str(o) if o == "*"));
        let offering = if every {
            Some("*".to_owned())
        } else {
            offering_id(d, &f, "offering", catalog)
        };
        let source = d.req_str(&f, "source");
        let series = match (f.get("usd_per_hour_by_month"), f.get("decline_per_year")) {
            (Some(_), Some(_)) | (None, None) => {
                d.error(
                    f.pos,
                    &path,
                    "give either `usd_per_hour_by_month` (a price per month of the horizon) or `decline_per_year`",
                );
                None
            }
            (None, Some(n)) => d
                .number_in(n, &f.child_path("decline_per_year"), &limits::PRICE_DECLINE)
                .map(PriceSeries::DeclinePerYear),
            (Some(n), None) if every => {
                d.error(
                    n.pos,
                    &f.child_path("usd_per_hour_by_month"),
                    "a price series names one offering; `*` takes `decline_per_year`",
                );
                None
            }
            (Some(n), None) => {
                let p = f.child_path("usd_per_hour_by_month");
                d.seq(n, &p).and_then(|items| {
                    if items.len() != h.months as usize {
                        d.error(
                            n.pos,
                            &p,
                            format!(
                                "lists {} prices, the horizon has {} months",
                                items.len(),
                                h.months
                            ),
                        );
                        return None;
                    }
                    let mut v = Vec::new();
                    for (k, item) in items.iter().enumerate() {
                        v.push(d.number_in(item, &format!("{p}[{k}]"), &limits::USD_PER_HOUR)?);
                    }
                    Some(PriceSeries::UsdPerHourByMonth(v))
                })
            }
        };
        if let (Some(offering), Some(series), Some(source)) = (offering, series, source) {
            out.push(PriceChange {
                offering,
                series,
                source,
            });
        }
    }
    out
}

fn decode_horizon(d: &mut Decoder, node: &Node, catalog: &Catalog) -> Option<Horizon> {
    let f = d.fields(
        node,
        "horizon",
        &["months", "period", "lead_months", "reservations"],
    )?;
    let months = d.req_count(&f, "months", &limits::HORIZON_MONTHS);
    let period_months = d
        .opt_choice(&f, "period", &[("month", 1), ("quarter", 3)])
        .unwrap_or(1);
    if let Some(m) = months
        && m % period_months != 0
    {
        let pos = f.get("months").map_or(f.pos, |n| n.pos);
        d.error(
            pos,
            "horizon.months",
            format!("{m} months are not a whole number of quarters (use a multiple of 3)"),
        );
    }
    let lead_months = f
        .get("lead_months")
        .and_then(|n| d.count_in(n, "horizon.lead_months", &limits::LEAD_MONTHS))
        .unwrap_or(0);
    let mut reservations = Vec::new();
    if let Some(n) = f.get("reservations")
        && let Some(items) = d.seq(n, "horizon.reservations")
    {
        for (i, item) in items.iter().enumerate() {
            let path = format!("horizon.reservations[{i}]");
            let Some(rf) = d.fields(
                item,
                &path,
                &["provider", "term_years", "discount", "source"],
            ) else {
                continue;
            };
            let provider = d.req_str(&rf, "provider");
            if let Some(p) = &provider
                && p != "*"
            {
                let pos = rf.get("provider").map_or(rf.pos, |n| n.pos);
                check_provider(d, catalog, p, pos, &rf.child_path("provider"));
            }
            let term_years = d.req_count(&rf, "term_years", &limits::TERM_YEARS);
            let discount = d.req_number(&rf, "discount", &limits::DISCOUNT);
            let source = d.req_str(&rf, "source");
            if let (Some(provider), Some(term_years), Some(discount), Some(source)) =
                (provider, term_years, discount, source)
            {
                reservations.push(ReservationTerm {
                    provider: provider.to_ascii_lowercase(),
                    term_years,
                    discount,
                    source,
                });
            }
        }
    }
    Some(Horizon {
        months: months?,
        period_months,
        lead_months,
        reservations,
    })
}

fn decode_supply(
    d: &mut Decoder,
    top: &Fields<'_>,
    catalog: &Catalog,
    horizon: Option<&Horizon>,
) -> Vec<SupplyRamp> {
    let mut out = Vec::new();
    let Some(node) = top.get("supply") else {
        return out;
    };
    if horizon.is_none() {
        d.error(
            node.pos,
            "supply",
            "supply ramps need a multi-period `horizon:` (months to plan)",
        );
    }
    let Some(items) = d.seq(node, "supply") else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("supply[{i}]");
        let Some(f) = d.fields(item, &path, &["offering", "capacity_by_month"]) else {
            continue;
        };
        let offering = d
            .req_str(&f, "offering")
            .and_then(|o| match catalog.find_offering(&o) {
                Ok(found) => Some(found.id()),
                Err(m) => {
                    d.error(
                        f.get("offering").map_or(f.pos, |n| n.pos),
                        &f.child_path("offering"),
                        m,
                    );
                    None
                }
            });
        let series = d.require(&f, "capacity_by_month").and_then(|n| {
            let p = f.child_path("capacity_by_month");
            let items = d.seq(n, &p)?;
            let mut v = Vec::new();
            for (k, item) in items.iter().enumerate() {
                let x = d.count_in(item, &format!("{p}[{k}]"), &limits::CAPACITY_INSTANCES)?;
                v.push(x);
            }
            if v.is_empty() {
                d.error(n.pos, &p, "must list at least one month");
            }
            Some(v)
        });
        if let (Some(offering), Some(capacity_by_month)) = (offering, series) {
            out.push(SupplyRamp {
                offering,
                capacity_by_month,
            });
        }
    }
    out
}

fn date_value(d: &mut Decoder, node: &Node, path: &str) -> Option<NaiveDate> {
    let s = d.str_value(node, path)?;
    // A month (`2027-01`) means its first day.
    let parsed = NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d"));
    match parsed {
        Ok(date) => Some(date),
        Err(_) => {
            d.error(
                node.pos,
                path,
                format!("`{s}` is not a date; write YYYY-MM-DD (or YYYY-MM for a month)"),
            );
            None
        }
    }
}

fn decode_offerings(
    d: &mut Decoder,
    top: &Fields<'_>,
    base: &Catalog,
) -> (Vec<OfferingOverride>, Catalog) {
    let mut catalog = base.clone();
    let mut out = Vec::new();
    let Some(node) = top.get("offerings") else {
        return (out, catalog);
    };
    let Some(items) = d.seq(node, "offerings") else {
        return (out, catalog);
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("offerings[{i}]");
        let Some(f) = d.fields(item, &path, OFFERING) else {
            continue;
        };
        let errors_before = d.diagnostics.len();
        let provider = d.req_str(&f, "provider");
        let instance_type = d.req_str(&f, "instance_type");
        let region = d.req_str(&f, "region");
        let chip = d.opt_str(&f, "chip");
        if let Some(c) = &chip
            && let Err(m) = catalog.resolve_chip(c)
        {
            d.error(
                f.get("chip").map_or(f.pos, |n| n.pos),
                &f.child_path("chip"),
                m,
            );
        }
        let ov = OfferingOverride {
            provider: provider.unwrap_or_default(),
            instance_type: instance_type.unwrap_or_default(),
            region: region.unwrap_or_default(),
            chip,
            chips_per_instance: d.opt_count(&f, "chips_per_instance", &limits::CHIPS_PER_INSTANCE),
            usd_per_hour: d.opt_number(&f, "usd_per_hour", &limits::USD_PER_HOUR),
            spot_usd_per_hour: d.opt_number(&f, "spot_usd_per_hour", &limits::USD_PER_HOUR),
            capacity_instances: d.opt_count(&f, "capacity_instances", &limits::CAPACITY_INSTANCES),
            vcpus: d.opt_count(&f, "vcpus", &limits::VCPUS),
            memory_gib: d.opt_number(&f, "memory_gib", &limits::MEMORY_GIB),
            network_gbps: d.opt_number(&f, "network_gbps", &limits::NETWORK_GBPS),
            source: d.opt_str(&f, "source"),
            notes: d.opt_str(&f, "notes"),
            origin: format!("{}:{}:{}", d.file, item.pos.line, item.pos.column),
        };
        if d.diagnostics.len() != errors_before {
            continue;
        }
        match catalog.apply_overrides(std::slice::from_ref(&ov)) {
            Ok(()) => out.push(ov),
            Err(errors) => {
                for e in errors {
                    let field_path = e
                        .field
                        .as_deref()
                        .map_or(path.clone(), |fl| join(&path, fl));
                    d.error(item.pos, &field_path, e.message);
                }
            }
        }
    }
    (out, catalog)
}

/// The string value of `key` in a mapping node, without reporting anything.
fn peek_str<'n>(node: &'n Node, key: &str) -> Option<&'n str> {
    match &node.value {
        crate::yaml::Value::Map(entries) => entries.iter().find_map(|(k, v)| match &v.value {
            crate::yaml::Value::Str(s) if k.name == key => Some(s.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

fn join(path: &str, key: &str) -> String {
    yaml::join_path(path, key)
}

/// Checks a provider name against the catalog; reports with a did-you-mean.
fn check_provider(d: &mut Decoder, catalog: &Catalog, name: &str, pos: Pos, path: &str) -> bool {
    let providers: Vec<&str> = catalog.providers().into_iter().collect();
    if providers.iter().any(|p| p.eq_ignore_ascii_case(name)) {
        return true;
    }
    d.error(
        pos,
        path,
        format!(
            "unknown provider `{name}`{} (providers in the catalog: {})",
            chipmix_catalog::did_you_mean(name, &providers),
            providers.join(", ")
        ),
    );
    false
}

/// `restart: {overhead_hours: 6, usd: 500}` on a training job (`usd` may be left out: 0).
fn decode_restart(d: &mut Decoder, node: &Node, path: &str) -> Option<Restart> {
    let f = d.fields(node, path, &["overhead_hours", "usd"])?;
    let hours = d.req_number(&f, "overhead_hours", &limits::MIGRATION_HOURS);
    let usd = d
        .opt_number(&f, "usd", &limits::MIGRATION_USD)
        .unwrap_or(0.0);
    Some(Restart {
        overhead_hours: hours?,
        usd,
    })
}

/// `migration_cost: {hours_of_price: 24}` or `{usd_per_instance: 500}` (exactly one; 0 turns
/// the cost off).
fn decode_migration_cost(d: &mut Decoder, node: &Node) -> Option<MigrationCost> {
    let path = "policy.migration_cost";
    let f = d.fields(node, path, &["hours_of_price", "usd_per_instance"])?;
    let hours = f.get("hours_of_price").and_then(|n| {
        d.number_in(
            n,
            "policy.migration_cost.hours_of_price",
            &limits::MIGRATION_HOURS,
        )
    });
    let usd = f.get("usd_per_instance").and_then(|n| {
        d.number_in(
            n,
            "policy.migration_cost.usd_per_instance",
            &limits::MIGRATION_USD,
        )
    });
    match (f.has("hours_of_price"), f.has("usd_per_instance")) {
        (true, true) => {
            d.error(
                f.pos,
                path,
                "give either `hours_of_price` or `usd_per_instance`, not both",
            );
            None
        }
        (false, false) => {
            d.error(
                f.pos,
                path,
                "missing `hours_of_price` (hours of the released instance's price) or `usd_per_instance`",
            );
            None
        }
        (true, false) => hours.map(MigrationCost::HoursOfPrice),
        (false, true) => usd.map(MigrationCost::UsdPerInstance),
    }
}

fn decode_resilience(d: &mut Decoder, node: &Node) -> Option<Resilience> {
    let f = d.fields(node, "policy.resilience", &["survive", "min_served"])?;
    let survive = d.opt_choice(
        &f,
        "survive",
        &[
            ("vendor", FailureScope::Vendor),
            ("provider", FailureScope::Provider),
            ("region", FailureScope::Region),
        ],
    );
    if !f.has("survive") {
        d.error(
            f.pos,
            "policy.resilience.survive",
            "missing field `survive` (vendor, provider or region)",
        );
    }
    let min_served = d.opt_number(&f, "min_served", &limits::FRACTION);
    if !f.has("min_served") {
        d.error(
            f.pos,
            "policy.resilience.min_served",
            "missing field `min_served` (the fraction of each service's peak demand that must survive, in (0, 1])",
        );
    }
    Some(Resilience {
        survive: survive?,
        min_served: min_served?,
    })
}

fn decode_policy(d: &mut Decoder, top: &Fields<'_>, catalog: &Catalog) -> Option<Policy> {
    let mut policy = Policy {
        budget_usd_per_month: None,
        max_vendor_share: None,
        share_basis: ShareBasis::Spend,
        allowed_providers: None,
        allowed_regions: None,
        allowed_vendors: None,
        headroom: 0.0,
        min_vendors_per_service: 1,
        max_vendor_fraction_per_service: 1.0,
        horizon_months: None,
        spot_availability: DEFAULT_SPOT_AVAILABILITY,
        resilience: None,
        migration_cost: DEFAULT_MIGRATION_COST,
        min_share_per_placement: None,
        max_churn: None,
    };
    let Some(node) = top.get("policy") else {
        return Some(policy);
    };
    let f = d.fields(node, "policy", POLICY)?;
    let errors_before = d.diagnostics.len();
    policy.budget_usd_per_month = d.opt_number(&f, "budget_usd_per_month", &limits::USD_PER_MONTH);
    policy.max_vendor_share = d.opt_number(&f, "max_vendor_share", &limits::FRACTION);
    policy.share_basis = d
        .opt_choice(
            &f,
            "share_basis",
            &[
                ("spend", ShareBasis::Spend),
                ("chips", ShareBasis::Chips),
                ("compute", ShareBasis::Compute),
            ],
        )
        .unwrap_or_default();
    if let Some(list) = d.opt_str_list(&f, "allowed_providers") {
        let mut out = Vec::new();
        for (name, pos, path) in list {
            if check_provider(d, catalog, &name, pos, &path) {
                out.push(name.to_ascii_lowercase());
            }
        }
        policy.allowed_providers = Some(out);
    }
    if let Some(list) = d.opt_str_list(&f, "allowed_regions") {
        let regions: Vec<&str> = catalog.regions().into_iter().collect();
        for (name, pos, path) in &list {
            if !regions.contains(&name.as_str()) {
                d.error(
                    *pos,
                    path,
                    format!(
                        "unknown region `{name}`{} (regions in the catalog: {})",
                        chipmix_catalog::did_you_mean(name, &regions),
                        regions.join(", ")
                    ),
                );
            }
        }
        policy.allowed_regions = Some(list.into_iter().map(|(n, _, _)| n).collect());
    }
    if let Some(list) = d.opt_str_list(&f, "allowed_vendors") {
        let mut out = Vec::new();
        for (name, pos, path) in list {
            match name.parse::<Vendor>() {
                Ok(v) => out.push(v),
                Err(m) => d.error(pos, &path, m),
            }
        }
        policy.allowed_vendors = Some(out);
    }
    if let Some(h) = d.opt_number(&f, "headroom", &limits::HEADROOM) {
        policy.headroom = h;
    }
    if let Some(n) = d.opt_count(&f, "min_vendors_per_service", &limits::VENDORS) {
        policy.min_vendors_per_service = n;
    }
    if let Some(x) = d.opt_number(&f, "max_vendor_fraction_per_service", &limits::FRACTION) {
        policy.max_vendor_fraction_per_service = x;
    }
    policy.horizon_months = d.opt_count(&f, "horizon_months", &limits::HORIZON_MONTHS);
    if let Some(x) = d.opt_number(&f, "spot_availability", &limits::FRACTION) {
        policy.spot_availability = x;
    }
    if let Some(node) = f.get("resilience") {
        policy.resilience = decode_resilience(d, node);
    }
    policy.min_share_per_placement = d.opt_number(&f, "min_share_per_placement", &limits::FRACTION);
    policy.max_churn = d.opt_number(&f, "max_churn", &limits::FRACTION);
    if let Some(node) = f.get("migration_cost")
        && let Some(cost) = decode_migration_cost(d, node)
    {
        policy.migration_cost = cost;
    }
    if let Some(share) = policy.max_vendor_share {
        let vendors = usable_vendors(catalog, &policy, &SoftwareStack::ALL);
        if (vendors.len() as f64) * share < 1.0 - 1e-9 {
            let pos = f.get("max_vendor_share").map_or(f.pos, |n| n.pos);
            d.error(
                pos,
                "policy.max_vendor_share",
                format!(
                    "{share} per vendor cannot cover the portfolio with the {} vendor(s) the policy allows ({})",
                    vendors.len(),
                    vendors.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
    (d.diagnostics.len() == errors_before || !d.has_errors()).then_some(policy)
}

/// Vendors with at least one priced offering the policy allows, on one of `software`.
fn usable_vendors(
    catalog: &Catalog,
    policy: &Policy,
    software: &[SoftwareStack],
) -> BTreeSet<Vendor> {
    catalog
        .offerings()
        .iter()
        .filter(|o| o.usd_per_hour.is_some())
        .filter(|o| {
            policy
                .allowed_providers
                .as_ref()
                .is_none_or(|ps| ps.iter().any(|p| p.eq_ignore_ascii_case(&o.provider)))
        })
        .filter(|o| {
            policy
                .allowed_regions
                .as_ref()
                .is_none_or(|rs| rs.iter().any(|r| r == &o.region))
        })
        .filter_map(|o| catalog.chip(&o.chip))
        .filter(|c| software.contains(&c.software))
        .filter(|c| {
            policy
                .allowed_vendors
                .as_ref()
                .is_none_or(|vs| vs.contains(&c.vendor))
        })
        .map(|c| c.vendor)
        .collect()
}

fn decode_workloads(
    d: &mut Decoder,
    top: &Fields<'_>,
    base_dir: &Path,
    catalog: &Catalog,
    policy: Option<&Policy>,
) -> Option<Vec<Workload>> {
    let node = d.require(top, "workloads")?;
    let items = d.seq(node, "workloads")?;
    if items.is_empty() {
        d.error(node.pos, "workloads", "the portfolio has no workloads");
    }
    let mut out = Vec::new();
    let mut seen: Vec<(String, Pos)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("workloads[{i}]");
        // The fields allowed depend on the kind; those of the other kind get a message that
        // says so, so a misplaced field or a wrong `kind` does not pass silently.
        let kind = peek_str(item, "kind").map(|k| k.to_ascii_lowercase());
        let (own, other, other_kind): (&[&str], &[&str], &str) = match kind.as_deref() {
            Some("training") => (TRAINING, INFERENCE, "inference"),
            Some("inference") => (INFERENCE, TRAINING, "training"),
            _ => (&[], &[], ""),
        };
        let mut allowed: Vec<&str> = WORKLOAD_COMMON.to_vec();
        if own.is_empty() {
            allowed.extend_from_slice(TRAINING);
            allowed.extend_from_slice(INFERENCE);
        } else {
            allowed.extend_from_slice(own);
        }
        let message = format!("only {other_kind} workloads have this field");
        let Some(f) = d.fields_except(item, &path, &allowed, other, &message) else {
            continue;
        };
        // Duplicate names are reported even when the rest of the workload has errors.
        if let Some(name_node) = f.get("name")
            && let crate::yaml::Value::Str(name) = &name_node.value
        {
            if let Some((_, first)) = seen.iter().find(|(n, _)| n == name) {
                d.error(
                    name_node.pos,
                    &f.child_path("name"),
                    format!(
                        "duplicate workload name `{name}` (first used at line {})",
                        first.line
                    ),
                );
            }
            seen.push((name.clone(), name_node.pos));
        }
        if let Some(w) = decode_workload(d, &f, base_dir, catalog, policy) {
            out.push(w);
        }
    }
    Some(out)
}

fn decode_workload(
    d: &mut Decoder,
    f: &Fields<'_>,
    base_dir: &Path,
    catalog: &Catalog,
    policy: Option<&Policy>,
) -> Option<Workload> {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Training,
        Inference,
    }
    let name = d.req_str(f, "name");
    d.require(f, "kind");
    let kind = d.opt_choice(
        f,
        "kind",
        &[("training", Kind::Training), ("inference", Kind::Inference)],
    );
    let model_node = d.require(f, "model");
    let model_ref = model_node.and_then(|n| d.str_value(n, &f.child_path("model")));
    let model = match (&model_ref, model_node) {
        (Some(r), Some(n)) => match model::resolve(r, base_dir) {
            Ok(m) => Some(m),
            Err(e) => {
                d.error(n.pos, &f.child_path("model"), e.to_string());
                None
            }
        },
        _ => None,
    };
    let software = match d.opt_str_list(f, "software") {
        Some(list) => {
            let mut out = Vec::new();
            for (s, pos, path) in list {
                match s.parse::<SoftwareStack>() {
                    Ok(st) if out.contains(&st) => {
                        d.error(pos, &path, format!("`{st}` is listed twice"))
                    }
                    Ok(st) => out.push(st),
                    Err(m) => d.error(pos, &path, m),
                }
            }
            if out.is_empty() {
                d.error(
                    f.pos,
                    &f.child_path("software"),
                    "must list at least one software stack",
                );
            }
            out
        }
        None => {
            d.error(
                f.pos,
                &f.child_path("software"),
                format!(
                    "missing required field `software`: the stacks the code runs on ({})",
                    SoftwareStack::ALL.map(|s| s.as_str()).join(", ")
                ),
            );
            Vec::new()
        }
    };
    let preemptible = d.opt_bool(f, "preemptible").unwrap_or(false);
    let team = d.opt_str(f, "team");
    let precision = d
        .opt_choice(f, "precision", Precision::CHOICES)
        .unwrap_or_default();
    if precision == Precision::Fp8 && !software.is_empty() {
        let fp8_capable = catalog
            .chips()
            .iter()
            .any(|c| software.contains(&c.software) && c.fp8_tflops.is_some());
        if !fp8_capable {
            d.error(
                f.get("precision").map_or(f.pos, |n| n.pos),
                &f.child_path("precision"),
                "no chip on the listed software stacks has FP8",
            );
        }
    }

    let kind = match kind? {
        Kind::Training => decode_training(d, f, model.as_ref())?,
        Kind::Inference => decode_inference(d, f, model.as_ref(), catalog, policy, &software)?,
    };
    Some(Workload {
        name: name?,
        model_ref: model_ref?,
        model: model?,
        software,
        preemptible,
        team,
        precision,
        kind,
    })
}

/// `restart:` only means something over a `horizon:` (a plan of one period has no period to
/// restart at): say so where it is written.
fn warn_restarts_without_horizon(d: &mut Decoder, top: &Fields<'_>) {
    let Some(crate::yaml::Value::Seq(items)) = top.get("workloads").map(|n| &n.value) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        if let crate::yaml::Value::Map(entries) = &item.value
            && let Some((_, node)) = entries.iter().find(|(k, _)| k.name == "restart")
        {
            d.warning(
                node.pos,
                &format!("workloads[{i}].restart"),
                "applies only over a `horizon:`; a plan of one period ignores it",
            );
        }
    }
}

/// A training job's own fields.
fn decode_training(
    d: &mut Decoder,
    f: &Fields<'_>,
    model: Option<&ModelSpec>,
) -> Option<WorkloadKind> {
    let tokens = d.req_number(f, "tokens", &limits::TRAINING_TOKENS);
    let seq_len = d.req_count(f, "seq_len", &limits::TOKENS_PER_SEQUENCE);
    let deadline_days = d.req_number(f, "deadline_days", &limits::DEADLINE_DAYS);
    let global_batch_tokens = d.opt_number(f, "global_batch_tokens", &limits::BATCH_TOKENS);
    if let (Some(s), Some(g)) = (seq_len, global_batch_tokens)
        && g < f64::from(s)
    {
        d.error(
            f.get("global_batch_tokens").map_or(f.pos, |n| n.pos),
            &f.child_path("global_batch_tokens"),
            format!("{g} is less than one sequence of seq_len = {s}"),
        );
    }
    if let (Some(m), Some(s)) = (model, seq_len) {
        check_context(d, f, m, u64::from(s), "seq_len");
    }
    let start_month = d.opt_count(f, "start_month", &limits::MONTHS).unwrap_or(1);
    let restart = f
        .get("restart")
        .and_then(|n| decode_restart(d, n, &f.child_path("restart")));
    Some(WorkloadKind::Training(TrainingJob {
        start_month,
        tokens: tokens?,
        seq_len: seq_len?,
        deadline_days: deadline_days?,
        global_batch_tokens,
        restart,
    }))
}

/// An inference service's own fields; per-service vendor rules default to the policy's and are
/// checked against the vendors it can use.
fn decode_inference(
    d: &mut Decoder,
    f: &Fields<'_>,
    model: Option<&ModelSpec>,
    catalog: &Catalog,
    policy: Option<&Policy>,
    software: &[SoftwareStack],
) -> Option<WorkloadKind> {
    let peak = d.req_number(f, "peak_requests_per_s", &limits::REQUESTS_PER_S);
    let prompt = d.req_count(f, "prompt_tokens", &limits::TOKENS_PER_SEQUENCE);
    let output = d.req_count(f, "output_tokens", &limits::TOKENS_PER_SEQUENCE);
    let slo = d.require(f, "slo").and_then(|n| {
        let sf = d.fields(n, &f.child_path("slo"), &["ttft_ms", "tpot_ms"])?;
        let ttft = d.req_number(&sf, "ttft_ms", &limits::LATENCY_MS);
        let tpot = d.req_number(&sf, "tpot_ms", &limits::LATENCY_MS);
        Some(Slo {
            ttft_ms: ttft?,
            tpot_ms: tpot?,
        })
    });
    let default_policy_headroom = policy.map_or(0.0, |p| p.headroom);
    let headroom = d
        .opt_number(f, "headroom", &limits::HEADROOM)
        .unwrap_or(default_policy_headroom);
    let min_vendors = d
        .opt_count(f, "min_vendors", &limits::VENDORS)
        .unwrap_or(policy.map_or(1, |p| p.min_vendors_per_service));
    let max_vendor_fraction = d
        .opt_number(f, "max_vendor_fraction", &limits::FRACTION)
        .unwrap_or(policy.map_or(1.0, |p| p.max_vendor_fraction_per_service));
    // A per-vendor fraction f needs at least ceil(1/f) vendors, whatever min_vendors says.
    if let Some(p) = policy {
        let vendors = usable_vendors(catalog, p, software);
        let needed = min_vendors.max((1.0 / max_vendor_fraction - 1e-9).ceil() as u32);
        if !software.is_empty() && (vendors.len() as u32) < needed {
            let (pos, path) = if vendors.is_empty() {
                (
                    f.get("software").map_or(f.pos, |n| n.pos),
                    f.child_path("software"),
                )
            } else {
                (
                    f.get("min_vendors")
                        .or(f.get("max_vendor_fraction"))
                        .map_or(f.pos, |n| n.pos),
                    f.child_path("min_vendors"),
                )
            };
            d.error(
                pos,
                &path,
                if vendors.is_empty() {
                    format!(
                        "no vendor sells priced chips for [{}] within the policy (check policy.allowed_providers, allowed_regions and allowed_vendors, and the workload's software)",
                        software.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    )
                } else {
                    format!(
                        "needs {needed} distinct vendor(s), but only {} sell(s) chips for [{}] within the policy ({})",
                        vendors.len(),
                        software.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                        vendors.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )
                },
            );
        }
    }
    if let (Some(m), Some(p), Some(o)) = (model, prompt, output) {
        check_context(d, f, m, u64::from(p) + u64::from(o), "prompt_tokens");
    }
    let growth_monthly = d
        .opt_number(f, "growth_monthly", &limits::GROWTH_MONTHLY)
        .unwrap_or(0.0);
    let demand_by_month = f.get("demand_by_month").and_then(|n| {
        let path = f.child_path("demand_by_month");
        let items = d.seq(n, &path)?;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let v = d.number_in(
                item,
                &format!("{path}[{i}]"),
                &limits::REQUESTS_PER_S_OR_ZERO,
            )?;
            out.push(v);
        }
        if out.is_empty() {
            d.error(n.pos, &path, "must list at least one month");
        }
        Some(out)
    });
    Some(WorkloadKind::Inference(InferenceService {
        peak_requests_per_s: peak?,
        prompt_tokens: prompt?,
        output_tokens: output?,
        slo: slo?,
        headroom,
        min_vendors,
        max_vendor_fraction,
        growth_monthly,
        demand_by_month,
    }))
}

/// Warns when a sequence is longer than the model was built for: it may still run (RoPE
/// scaling), so this is not an error.
fn check_context(d: &mut Decoder, f: &Fields<'_>, model: &ModelSpec, tokens: u64, key: &str) {
    if let Some(max) = model.max_position_embeddings
        && tokens > max
    {
        d.warning(
            f.get(key).map_or(f.pos, |n| n.pos),
            &f.child_path(key),
            format!(
                "{tokens} tokens per sequence is more than {}'s max_position_embeddings = {max}",
                model.name
            ),
        );
    }
}

/// `from_month`, `term_months`, `usd_per_month_by_year` and `early_exit_fraction` of a
/// commitment (`None` after a located error).
fn decode_commitment_term(
    d: &mut Decoder,
    f: &Fields<'_>,
    horizon_months: Option<u32>,
) -> Option<CommitmentTerm> {
    let errors = d.diagnostics.len();
    let mut term = CommitmentTerm::default();
    if let Some(m) = d.opt_count(f, "from_month", &limits::HORIZON_MONTHS) {
        if let Some(h) = horizon_months
            && m > h
        {
            d.error(
                f.get("from_month").map_or(f.pos, |n| n.pos),
                &f.child_path("from_month"),
                format!("month {m} is outside the {h}-month horizon"),
            );
        }
        term.from_month = m;
    }
    term.months = d.opt_count(f, "term_months", &limits::MONTHS);
    if let Some(n) = f.get("usd_per_month_by_year") {
        let p = f.child_path("usd_per_month_by_year");
        if let Some(items) = d.seq(n, &p) {
            let mut ramp = Vec::new();
            for (k, item) in items.iter().enumerate() {
                if let Some(x) = d.number_in(item, &format!("{p}[{k}]"), &limits::USD_PER_MONTH) {
                    ramp.push(x);
                }
            }
            if items.is_empty() {
                d.error(n.pos, &p, "must list at least one year");
            }
            if let Some(months) = term.months
                && ramp.len() > months.div_ceil(12) as usize
            {
                d.error(
                    n.pos,
                    &p,
                    format!(
                        "lists {} years, the {months}-month term has {}",
                        ramp.len(),
                        months.div_ceil(12)
                    ),
                );
            }
            term.usd_per_month_by_year = Some(ramp);
        }
        if f.has("usd_per_month") {
            d.error(
                n.pos,
                &p,
                "give either `usd_per_month` or `usd_per_month_by_year`, not both",
            );
        }
    }
    term.early_exit_fraction = d.opt_number(f, "early_exit_fraction", &limits::FRACTION);
    term.source = d.opt_str(f, "source");
    (d.diagnostics.len() == errors).then_some(term)
}

fn decode_contracts(
    d: &mut Decoder,
    top: &Fields<'_>,
    catalog: &Catalog,
    start: Option<NaiveDate>,
    horizon_months: Option<u32>,
) -> Option<Vec<Contract>> {
    let Some(node) = top.get("contracts") else {
        return Some(Vec::new());
    };
    let items = d.seq(node, "contracts")?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("contracts[{i}]");
        let Some(f) = d.fields(
            item,
            &path,
            &[
                "kind",
                "provider",
                "usd_per_month",
                "discount",
                "chips",
                "usd",
                "expires",
                "valid_months",
                "from_month",
                "term_months",
                "usd_per_month_by_year",
                "early_exit_fraction",
                "source",
            ],
        ) else {
            continue;
        };
        let provider = d.req_str(&f, "provider");
        if let (Some(p), Some(n)) = (&provider, f.get("provider")) {
            check_provider(d, catalog, p, n.pos, &f.child_path("provider"));
        }
        d.require(&f, "kind");
        let kind = d.opt_choice(&f, "kind", &[("commitment", true), ("credits", false)]);
        let misplaced: &[&str] = match kind {
            Some(true) => &["usd", "expires", "valid_months"],
            Some(false) => &[
                "usd_per_month",
                "discount",
                "chips",
                "from_month",
                "term_months",
                "usd_per_month_by_year",
                "early_exit_fraction",
            ],
            None => &[],
        };
        for key in misplaced {
            if let Some(n) = f.get(key) {
                d.error(
                    n.pos,
                    &f.child_path(key),
                    format!(
                        "not a field of a {} contract",
                        if kind == Some(true) {
                            "commitment"
                        } else {
                            "credits"
                        }
                    ),
                );
            }
        }
        match kind {
            Some(true) => out.extend(decode_commitment(d, &f, catalog, provider, horizon_months)),
            Some(false) => out.extend(decode_credits(d, &f, &path, provider, start)),
            None => {}
        }
    }
    Some(out)
}

/// A `kind: commitment` contract's own fields (`provider` decoded by the caller).
fn decode_commitment(
    d: &mut Decoder,
    f: &Fields<'_>,
    catalog: &Catalog,
    provider: Option<String>,
    horizon_months: Option<u32>,
) -> Option<Contract> {
    let term = decode_commitment_term(d, f, horizon_months);
    let usd_per_month = match (&term, f.has("usd_per_month")) {
        // A ramp alone: a single-period plan sees its average year.
        (
            Some(CommitmentTerm {
                usd_per_month_by_year: Some(ramp),
                ..
            }),
            false,
        ) => Some(ramp.iter().sum::<f64>() / ramp.len().max(1) as f64),
        _ => d.req_number(f, "usd_per_month", &limits::USD_PER_MONTH),
    };
    let discount = d
        .opt_number(f, "discount", &limits::DISCOUNT)
        .unwrap_or(0.0);
    let chips = d.opt_str_list(f, "chips").map(|list| {
        let mut ids = Vec::new();
        for (name, pos, p) in list {
            match catalog.resolve_chip(&name) {
                Ok(c) => ids.push(c.id.clone()),
                Err(m) => d.error(pos, &p, m),
            }
        }
        ids
    });
    Some(Contract::Commitment {
        provider: provider?.to_ascii_lowercase(),
        usd_per_month: usd_per_month?,
        discount,
        chips,
        term: term?,
    })
}

/// A `kind: credits` contract's own fields (`provider` decoded by the caller).
fn decode_credits(
    d: &mut Decoder,
    f: &Fields<'_>,
    path: &str,
    provider: Option<String>,
    start: Option<NaiveDate>,
) -> Option<Contract> {
    let usd = d.req_number(f, "usd", &limits::USD);
    let expires = f
        .get("expires")
        .and_then(|n| date_value(d, n, &f.child_path("expires")));
    let valid_months = d.opt_count(f, "valid_months", &limits::MONTHS);
    match (f.has("expires"), f.has("valid_months")) {
        (true, true) => d.error(
            f.pos,
            path,
            "give either `expires` (a date) or `valid_months`, not both",
        ),
        (false, false) => d.error(
            f.pos,
            path,
            "credits need an expiry: `expires: YYYY-MM-DD` or `valid_months: N`",
        ),
        _ => {}
    }
    if let Some(date) = expires {
        match start {
            None => d.error(
                f.get("expires").map_or(f.pos, |n| n.pos),
                &f.child_path("expires"),
                "an expiry date needs the portfolio's `start:` date to place it; add `start: YYYY-MM-DD` at the top, or use `valid_months`",
            ),
            Some(s) if date <= s => d.error(
                f.get("expires").map_or(f.pos, |n| n.pos),
                &f.child_path("expires"),
                format!("the credits expire on {date}, before the portfolio starts ({s})"),
            ),
            Some(_) => {}
        }
    }
    let source = d.opt_str(f, "source");
    Some(Contract::Credits {
        provider: provider?.to_ascii_lowercase(),
        usd: usd?,
        expires,
        valid_months,
        source,
    })
}
