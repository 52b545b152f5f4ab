//! The calls into the chipmix libraries, shaped for the API: no HTTP here, and nothing that
//! the libraries already decide (parsing, validation, planning, verification, export).

use chipmix_catalog::{Catalog, DataError, overrides};
use chipmix_perf::Calibration;
use chipmix_plan::{Plan, PlanError, PlanOptions, multiperiod, multiperiod::MonthlyPlan, verify};
use chipmix_workload::yaml::{self, Node, Value};
use chipmix_workload::{Diagnostic, Portfolio, Severity, portfolio};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Model config files are never read on the server: a portfolio names presets only. Paths are
/// rejected before parsing, and the parser's base directory is one that does not exist, so
/// that a bare name cannot resolve to a file either.
const NO_FILES_DIR: &str = "/nonexistent/chipmix-server-reads-no-model-files";

/// The file name diagnostics show for a portfolio's YAML.
pub const PORTFOLIO_FILE: &str = "portfolio.yaml";

/// A problem located in a submitted text, as the API returns it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Located {
    pub file: String,
    /// 1-based; 0 when the whole text is concerned.
    pub line: u64,
    /// 1-based; 0 when unknown (CSV problems name a column instead).
    pub column: u64,
    /// The YAML field path (`workloads[0].slo.tpot_ms`) or the CSV column.
    pub path: String,
    pub severity: String,
    pub message: String,
}

impl From<&Diagnostic> for Located {
    fn from(d: &Diagnostic) -> Self {
        Located {
            file: d.file.clone(),
            line: d.line,
            column: d.column,
            path: d.path.clone(),
            severity: match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            }
            .into(),
            message: d.message.clone(),
        }
    }
}

impl From<&DataError> for Located {
    fn from(e: &DataError) -> Self {
        // Errors found while applying an override carry their row as `file:line` in `file`.
        let (file, line) = match (e.line, e.file.rsplit_once(':')) {
            (0, Some((f, l))) if l.parse::<u64>().is_ok() => {
                (f.to_string(), l.parse().unwrap_or(0))
            }
            _ => (e.file.clone(), e.line),
        };
        Located {
            file,
            line,
            column: 0,
            path: e.field.clone().unwrap_or_default(),
            severity: "error".into(),
            message: e.message.clone(),
        }
    }
}

pub fn located_diagnostics(ds: &[Diagnostic]) -> Vec<Located> {
    ds.iter().map(Located::from).collect()
}

pub fn located_data_errors(es: &[DataError]) -> Vec<Located> {
    es.iter().map(Located::from).collect()
}

/// The file name a stored override version is parsed under; fixed per version so that the
/// catalog (and its hash) built from it is the same every time.
pub fn override_file(version: i64) -> String {
    format!("catalog-overrides-v{version}.csv")
}

/// The built-in catalog with an override file applied (all of it or, on any error, nothing).
pub fn apply_override_csv(
    builtin: &Catalog,
    file: &str,
    csv: &str,
) -> Result<Catalog, Vec<DataError>> {
    let ovs = overrides::parse(file, csv)?;
    let mut catalog = builtin.clone();
    catalog.apply_overrides(&ovs)?;
    Ok(catalog)
}

/// SHA-256 of the catalog's offerings and chips as JSON: equal hashes, equal catalogs.
pub fn catalog_sha256(catalog: &Catalog) -> String {
    let json = serde_json::to_vec(&(catalog.offerings(), catalog.chips())).unwrap_or_default();
    crate::auth::hex(&Sha256::digest(&json))
}

fn error_at(pos: yaml::Pos, path: &str, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: PORTFOLIO_FILE.into(),
        line: pos.line,
        column: pos.column,
        path: path.into(),
        message,
    }
}

/// Every `model:` value that would make the parser read a file.
fn model_paths(node: &Node, path: &str, out: &mut Vec<Diagnostic>) {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let child = yaml::join_path(path, &k.name);
                if k.name == "model"
                    && let Value::Str(s) = &v.value
                    && chipmix_workload::model::preset(s).is_none()
                {
                    let names: Vec<&str> = chipmix_workload::model::preset_names().collect();
                    out.push(error_at(
                        v.pos,
                        &child,
                        format!(
                            "unknown model `{s}`{}: the server reads no config.json files, so name a preset: {}",
                            chipmix_catalog::did_you_mean(s, &names),
                            names.join(", ")
                        ),
                    ));
                }
                model_paths(v, &child, out);
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                model_paths(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// A portfolio checked against `base` the way `chipmix validate` checks a file; `Ok` carries
/// the warnings.
pub fn parse_portfolio(
    text: &str,
    base: &Catalog,
) -> Result<(Portfolio, Vec<Diagnostic>), Vec<Diagnostic>> {
    parse_portfolio_with(text, base, &[])
}

/// [`parse_portfolio`] with numeric fields set (a sweep's value).
pub fn parse_portfolio_with(
    text: &str,
    base: &Catalog,
    set: &[(&str, f64)],
) -> Result<(Portfolio, Vec<Diagnostic>), Vec<Diagnostic>> {
    if let Ok(root) = yaml::parse(text) {
        let mut refused = Vec::new();
        model_paths(&root, "", &mut refused);
        if !refused.is_empty() {
            return Err(refused);
        }
    }
    let loaded = portfolio::parse_with(PORTFOLIO_FILE, text, Path::new(NO_FILES_DIR), base, set)?;
    Ok((loaded.portfolio, loaded.warnings))
}

/// The source a sweep re-decodes at every value.
pub fn sweep_source(text: &str) -> chipmix_risk::sweep::Source<'_> {
    chipmix_risk::sweep::Source {
        file: PORTFOLIO_FILE,
        text,
        base_dir: Path::new(NO_FILES_DIR),
    }
}

/// The catalog a portfolio plans on: `base` with the portfolio's own offering overrides.
pub fn effective_catalog(p: &Portfolio, base: &Catalog) -> Result<Catalog, Vec<Located>> {
    p.effective_catalog(base)
        .map_err(|es| located_data_errors(&es))
}

/// Why a solve produced no plan.
#[derive(Debug)]
pub enum SolveFailure {
    /// The request's options are out of range.
    BadOptions(String),
    /// No plan meets every constraint; each reason names what blocks it.
    Infeasible(Vec<String>),
    /// The solver stopped without any plan (time limit too short).
    NoSolution(String),
    /// The plan failed independent verification: a bug in chipmix.
    Internal(String),
}

pub fn check_options(o: &PlanOptions) -> Result<(), String> {
    o.check()
}

/// A plan as the server stores and serves it: of one period, or over time (a portfolio with a
/// `horizon:`), each as `chipmix plan --format json` prints it.
#[derive(Clone, Debug)]
pub enum Solved {
    Period(Plan),
    Horizon(MonthlyPlan),
}

impl Solved {
    pub fn status(&self) -> &'static str {
        match self {
            Solved::Period(p) => p.status.as_str(),
            Solved::Horizon(m) => m.status.as_str(),
        }
    }

    /// Cost per month; over time, the horizon's total (reservation payments owed after it
    /// included) spread over its months.
    pub fn objective_usd_per_month(&self) -> f64 {
        match self {
            Solved::Period(p) => p.objective_usd_per_month,
            Solved::Horizon(m) => m.objective_usd / f64::from(m.months.max(1)),
        }
    }

    /// Months a plan over time covers (`None`: a plan of one period).
    pub fn horizon_months(&self) -> Option<u32> {
        match self {
            Solved::Period(_) => None,
            Solved::Horizon(m) => Some(m.months),
        }
    }

    pub fn to_json(&self) -> serde_json::Result<String> {
        match self {
            Solved::Period(p) => serde_json::to_string(p),
            Solved::Horizon(m) => serde_json::to_string(m),
        }
    }

    /// A stored plan read back: `horizon_months` says which kind its JSON is.
    pub fn from_json(json: &str, horizon_months: Option<i64>) -> serde_json::Result<Solved> {
        Ok(match horizon_months {
            None => Solved::Period(serde_json::from_str(json)?),
            Some(_) => Solved::Horizon(serde_json::from_str(json)?),
        })
    }
}

fn failure(e: PlanError) -> SolveFailure {
    match e {
        PlanError::Infeasible(reasons) => SolveFailure::Infeasible(reasons),
        PlanError::NoSolution(m) => SolveFailure::NoSolution(m),
        e @ (PlanError::Solver(_) | PlanError::Cancelled) => SolveFailure::Internal(e.to_string()),
    }
}

/// `Err` with the message a plan that fails independent verification gets.
fn verified(violations: Vec<String>) -> Result<(), String> {
    if violations.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the plan failed independent verification (a bug in chipmix): {}",
        violations.join("; ")
    ))
}

/// Plans and verifies, as `chipmix plan` does: a portfolio with a `horizon:` is planned period
/// by period, any other as one period; a plan that fails verification is never returned.
pub fn solve(
    p: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    options: &PlanOptions,
) -> Result<Solved, SolveFailure> {
    if p.horizon.is_none() {
        return solve_period(p, catalog, calibration, options).map(Solved::Period);
    }
    check_options(options).map_err(SolveFailure::BadOptions)?;
    let plan = multiperiod::plan_months(p, catalog, calibration, options).map_err(failure)?;
    verified(verify::verify_months(&plan, p, catalog, calibration))
        .map_err(SolveFailure::Internal)?;
    Ok(Solved::Horizon(plan))
}

/// Plans one period and verifies it. A portfolio with a `horizon:` is planned as its
/// single-period version (today's demand and catalog), as the analyses do.
pub fn solve_period(
    p: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
    options: &PlanOptions,
) -> Result<Plan, SolveFailure> {
    check_options(options).map_err(SolveFailure::BadOptions)?;
    let plan = chipmix_plan::plan(p, catalog, calibration, options).map_err(failure)?;
    verified(verify::verify(&plan, p, catalog, calibration)).map_err(SolveFailure::Internal)?;
    Ok(plan)
}

/// The fleet to export and the catalog to export it on, verified against the portfolio first:
/// period `period` (1-based, default the first) of a plan over time (verified over every
/// period), on the catalog as it stands in that period; or a plan of one period, which takes no
/// period.
pub fn fleet(
    solved: Solved,
    period: Option<u32>,
    p: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
) -> Result<(Plan, Catalog), ExportFailure> {
    match solved {
        Solved::Period(plan) => {
            if period.is_some() {
                return Err(ExportFailure::Rejected(
                    "`period` applies to a plan over time (a portfolio with a `horizon:`); this plan is of one period".into(),
                ));
            }
            verified(verify::verify(&plan, p, catalog, calibration))
                .map_err(ExportFailure::Internal)?;
            Ok((plan, catalog.clone()))
        }
        Solved::Horizon(months) => {
            verified(verify::verify_months(&months, p, catalog, calibration))
                .map_err(ExportFailure::Internal)?;
            let period = period.unwrap_or(1);
            months.period_fleet(period, p, catalog).ok_or_else(|| {
                ExportFailure::Rejected(format!(
                    "period {period}: the plan has {} period(s), numbered from 1",
                    months.by_month.len()
                ))
            })
        }
    }
}

/// One exported file.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ExportFile {
    pub path: String,
    pub content: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ExportResponse {
    pub format: String,
    pub files: Vec<ExportFile>,
    pub warnings: Vec<String>,
    /// Objects not schema-checked because their CRD is not shipped (MultiKueue kinds).
    pub unchecked: Vec<String>,
}

pub enum ExportFailure {
    /// The exporter rejected the input (a message for the caller).
    Rejected(String),
    /// The exported objects fail their schemas: a bug in chipmix.
    Internal(String),
}

fn files(rendered: Vec<(String, String)>) -> Vec<ExportFile> {
    rendered
        .into_iter()
        .map(|(path, content)| ExportFile { path, content })
        .collect()
}

pub fn export_kueue(
    plan: &Plan,
    p: &Portfolio,
    catalog: &Catalog,
    namespace: Option<String>,
    multikueue: bool,
) -> Result<ExportResponse, ExportFailure> {
    use chipmix_export::kueue;
    let export = kueue::export(
        plan,
        p,
        catalog,
        &kueue::KueueOptions {
            namespace: namespace.unwrap_or_else(|| p.name.clone()),
            multikueue,
        },
    )
    .map_err(|e| ExportFailure::Rejected(e.to_string()))?;
    let checked = chipmix_export::validate_kueue(&export);
    if !checked.problems.is_empty() {
        return Err(ExportFailure::Internal(format!(
            "the Kueue objects fail their schemas (a bug in chipmix): {}",
            checked.problems.join("; ")
        )));
    }
    let rendered = chipmix_export::render_kueue(&export)
        .map_err(|e| ExportFailure::Internal(e.to_string()))?;
    Ok(ExportResponse {
        format: "kueue".into(),
        files: files(rendered),
        warnings: export.warnings,
        unchecked: checked.unchecked,
    })
}

pub fn export_skypilot(
    plan: &Plan,
    p: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
) -> Result<ExportResponse, ExportFailure> {
    use chipmix_export::skypilot;
    let export = skypilot::export(plan, p, catalog, calibration)
        .map_err(|e| ExportFailure::Rejected(e.to_string()))?;
    let problems = chipmix_export::validate_skypilot(&export);
    if !problems.is_empty() {
        return Err(ExportFailure::Internal(format!(
            "the SkyPilot tasks fail their schema (a bug in chipmix): {}",
            problems.join("; ")
        )));
    }
    let rendered = chipmix_export::render_skypilot(&export)
        .map_err(|e| ExportFailure::Internal(e.to_string()))?;
    Ok(ExportResponse {
        format: "skypilot".into(),
        files: files(rendered),
        warnings: export.warnings,
        unchecked: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> Catalog {
        Catalog::builtin().expect("built-in catalog")
    }

    #[test]
    fn model_paths_are_refused_before_any_file_is_read() {
        let yaml =
            "name: x\nworkloads:\n  - name: a\n    kind: inference\n    model: /etc/passwd\n";
        let errors = parse_portfolio(yaml, &builtin()).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 5);
        assert_eq!(errors[0].path, "workloads[0].model");
        assert!(errors[0].message.contains("name a preset"));
    }

    #[test]
    fn the_example_portfolio_parses() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/frontier-lab.yaml"),
        )
        .unwrap();
        let (p, _) = parse_portfolio(&text, &builtin()).unwrap();
        assert_eq!(p.name, "frontier-lab");
    }

    #[test]
    fn catalog_hash_changes_with_an_override() {
        let b = builtin();
        let csv = "provider,instance_type,region,usd_per_hour\naws,p5.48xlarge,us-east-1,1.0\n";
        let changed = apply_override_csv(&b, "o.csv", csv).unwrap();
        assert_ne!(catalog_sha256(&b), catalog_sha256(&changed));
        assert_eq!(catalog_sha256(&b), catalog_sha256(&builtin()));
    }

    #[test]
    fn override_errors_are_located() {
        let b = builtin();
        let csv = "provider,instance_type,region,usd_per_hour\naws,p5.48xlarge,us-east-1,-3\n";
        let errors = located_data_errors(&apply_override_csv(&b, "o.csv", csv).unwrap_err());
        assert_eq!(errors[0].line, 2, "{errors:?}");
        assert_eq!(errors[0].path, "usd_per_hour");
        let csv = "provider,instance_type,region\nnowhere,x1,r1\n";
        let errors = located_data_errors(&apply_override_csv(&b, "o.csv", csv).unwrap_err());
        assert_eq!(
            (errors[0].file.as_str(), errors[0].line),
            ("o.csv", 2),
            "{errors:?}"
        );
    }
}
