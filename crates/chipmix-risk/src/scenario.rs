//! Stress scenarios: named lists of shocks to capacity, price and demand.

use chipmix_catalog::{Catalog, Offering, Vendor, limits};
use chipmix_workload::yaml::{self, Decoder, Diagnostic, Fields, Node, Severity};
use chipmix_workload::{Portfolio, WorkloadKind};
use serde::Serialize;

/// What a shock multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShockKind {
    /// Instances that can be had: of an offering with a stated limit, the limit; of one without,
    /// what the plan holds there (so "NVIDIA supply halves" means half of today's NVIDIA fleet,
    /// and no new NVIDIA capacity elsewhere).
    Capacity,
    /// On-demand and spot prices.
    Price,
    /// Peak requests per second of inference services.
    Demand,
}

impl ShockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ShockKind::Capacity => "capacity",
            ShockKind::Price => "price",
            ShockKind::Demand => "demand",
        }
    }
}

/// Which offerings (or, for demand, which services) a shock hits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "by", content = "name", rename_all = "lowercase")]
pub enum Target {
    All,
    Vendor(Vendor),
    Provider(String),
    /// A region name (`us-east-1`, every provider's region of that name) or
    /// `provider/region`.
    Region(String),
    Chip(String),
    /// An inference service (demand shocks only).
    Workload(String),
}

impl Target {
    pub fn matches_offering(&self, catalog: &Catalog, o: &Offering) -> bool {
        match self {
            Target::All => true,
            Target::Vendor(v) => catalog.vendor_of(o) == *v,
            Target::Provider(p) => o.provider.eq_ignore_ascii_case(p),
            Target::Region(r) => match r.split_once('/') {
                Some((p, r)) => o.provider.eq_ignore_ascii_case(p) && o.region == r,
                None => o.region == *r,
            },
            Target::Chip(c) => catalog
                .chip(c)
                .is_some_and(|chip| chip.id == o.chip || catalog.chip(&o.chip) == Some(chip)),
            Target::Workload(_) => false,
        }
    }

    pub fn matches_workload(&self, name: &str) -> bool {
        match self {
            Target::All => true,
            Target::Workload(w) => w == name,
            _ => false,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Target::All => "everything".into(),
            Target::Vendor(v) => format!("vendor {v}"),
            Target::Provider(p) => format!("provider {p}"),
            Target::Region(r) => format!("region {r}"),
            Target::Chip(c) => format!("chip {c}"),
            Target::Workload(w) => format!("workload {w}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shock {
    pub kind: ShockKind,
    pub factor: f64,
    pub target: Target,
}

impl Shock {
    pub fn describe(&self) -> String {
        format!(
            "{} × {} on {}",
            self.kind.as_str(),
            self.factor,
            self.target.describe()
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub shocks: Vec<Shock>,
}

/// The built-in scenario library (`chipmix stress --list`).
pub fn library() -> Vec<Scenario> {
    let s = |name: &str, description: &str, shocks: Vec<Shock>| Scenario {
        name: name.into(),
        description: description.into(),
        shocks,
    };
    let shock = |kind, factor, target| Shock {
        kind,
        factor,
        target,
    };
    vec![
        s(
            "nvidia-shortage-50",
            "NVIDIA supply halves: half the NVIDIA instances you hold (or half a stated limit) stay available, none are added elsewhere",
            vec![shock(
                ShockKind::Capacity,
                0.5,
                Target::Vendor(Vendor::Nvidia),
            )],
        ),
        s(
            "aws-region-outage",
            "AWS us-east-1 goes down: every offering there is lost",
            vec![shock(
                ShockKind::Capacity,
                0.0,
                Target::Region("aws/us-east-1".into()),
            )],
        ),
        s(
            "price-hike-30",
            "every price rises 30% (contract terms unchanged)",
            vec![shock(ShockKind::Price, 1.3, Target::All)],
        ),
        s(
            "nvidia-price-hike-30",
            "NVIDIA-based offerings cost 30% more on every cloud",
            vec![shock(ShockKind::Price, 1.3, Target::Vendor(Vendor::Nvidia))],
        ),
        s(
            "demand-2x",
            "peak traffic of every inference service doubles",
            vec![shock(ShockKind::Demand, 2.0, Target::All)],
        ),
        s(
            "trainium-slip",
            "AWS's own chips ramp slower: half the Trainium and Inferentia capacity",
            vec![shock(ShockKind::Capacity, 0.5, Target::Vendor(Vendor::Aws))],
        ),
    ]
}

/// A scenario from the library by name.
pub fn builtin(name: &str) -> Option<Scenario> {
    library().into_iter().find(|s| s.name == name)
}

const SCENARIO: &[&str] = &["name", "description", "shocks"];
const SHOCK: &[&str] = &[
    "capacity", "price", "demand", "vendor", "provider", "region", "chip", "workload",
];

/// Reads a scenario file. Targets are checked against the catalog (and, for workloads, the
/// portfolio); every problem is reported with line, column and field path.
pub fn parse(
    file: &str,
    text: &str,
    catalog: &Catalog,
    portfolio: &Portfolio,
) -> Result<Scenario, Vec<Diagnostic>> {
    let mut d = Decoder::new(file);
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err((pos, message)) => {
            d.error(pos, "", format!("YAML syntax error: {message}"));
            return Err(d.diagnostics);
        }
    };
    let scenario = decode(&mut d, &root, catalog, portfolio);
    let mut diagnostics = d.diagnostics;
    diagnostics.sort_by_key(|x| (x.line, x.column));
    match scenario {
        Some(s) if !diagnostics.iter().any(|x| x.severity == Severity::Error) => Ok(s),
        _ => Err(diagnostics),
    }
}

fn decode(
    d: &mut Decoder,
    root: &Node,
    catalog: &Catalog,
    portfolio: &Portfolio,
) -> Option<Scenario> {
    let top = d.fields(root, "", SCENARIO)?;
    let name = d.opt_str(&top, "name").unwrap_or_else(|| "scenario".into());
    let description = d.opt_str(&top, "description").unwrap_or_default();
    let node = d.require(&top, "shocks")?;
    let items = d.seq(node, "shocks")?;
    if items.is_empty() {
        d.error(node.pos, "shocks", "a scenario needs at least one shock");
    }
    let mut shocks = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("shocks[{i}]");
        if let Some(f) = d.fields(item, &path, SHOCK)
            && let Some(s) = decode_shock(d, &f, catalog, portfolio)
        {
            shocks.push(s);
        }
    }
    Some(Scenario {
        name,
        description,
        shocks,
    })
}

fn decode_shock(
    d: &mut Decoder,
    f: &Fields<'_>,
    catalog: &Catalog,
    portfolio: &Portfolio,
) -> Option<Shock> {
    let kinds: Vec<(&str, ShockKind)> = [
        ("capacity", ShockKind::Capacity),
        ("price", ShockKind::Price),
        ("demand", ShockKind::Demand),
    ]
    .into_iter()
    .filter(|(k, _)| f.has(k))
    .collect();
    let (key, kind) = match kinds.as_slice() {
        [one] => *one,
        [] => {
            d.error(
                f.pos,
                &f.path,
                "a shock needs one factor: `capacity`, `price` or `demand`",
            );
            return None;
        }
        _ => {
            d.error(
                f.pos,
                &f.path,
                "a shock has exactly one of `capacity`, `price`, `demand`; write two shocks",
            );
            return None;
        }
    };
    let factor = match kind {
        ShockKind::Capacity => d.opt_number(f, key, &limits::FACTOR)?,
        ShockKind::Price | ShockKind::Demand => d.opt_number(f, key, &limits::POSITIVE_FACTOR)?,
    };
    let targets: Vec<&str> = ["vendor", "provider", "region", "chip", "workload"]
        .into_iter()
        .filter(|k| f.has(k))
        .collect();
    let target = match targets.as_slice() {
        [] => Target::All,
        [one] => {
            let node = f.get(one)?;
            let path = f.child_path(one);
            let name = d.str_value(node, &path)?;
            let known = |d: &mut Decoder, ok: bool, what: &str, names: Vec<String>| {
                if !ok {
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    d.error(
                        node.pos,
                        &path,
                        format!(
                            "unknown {what} `{name}`{} (known: {})",
                            chipmix_catalog::did_you_mean(&name, &refs),
                            refs.join(", ")
                        ),
                    );
                }
                ok
            };
            match *one {
                "vendor" => match name.parse::<Vendor>() {
                    Ok(v) => Target::Vendor(v),
                    Err(m) => {
                        d.error(node.pos, &path, m);
                        return None;
                    }
                },
                "provider" => {
                    let names: Vec<String> =
                        catalog.providers().into_iter().map(String::from).collect();
                    let ok = names.iter().any(|p| p.eq_ignore_ascii_case(&name));
                    known(d, ok, "provider", names).then(|| Target::Provider(name.clone()))?
                }
                "region" => {
                    let ok = catalog
                        .offerings()
                        .iter()
                        .any(|o| Target::Region(name.clone()).matches_offering(catalog, o));
                    let names: Vec<String> =
                        catalog.regions().into_iter().map(String::from).collect();
                    known(d, ok, "region", names).then(|| Target::Region(name.clone()))?
                }
                "chip" => match catalog.resolve_chip(&name) {
                    Ok(c) => Target::Chip(c.id.clone()),
                    Err(m) => {
                        d.error(node.pos, &path, m);
                        return None;
                    }
                },
                _ => {
                    let names: Vec<String> = portfolio
                        .workloads
                        .iter()
                        .filter(|w| matches!(w.kind, WorkloadKind::Inference(_)))
                        .map(|w| w.name.clone())
                        .collect();
                    let ok = names.contains(&name);
                    known(d, ok, "inference service", names)
                        .then(|| Target::Workload(name.clone()))?
                }
            }
        }
        _ => {
            d.error(
                f.pos,
                &f.path,
                format!(
                    "a shock targets at most one of vendor, provider, region, chip, workload (found {})",
                    targets.join(", ")
                ),
            );
            return None;
        }
    };
    let fits = match (&kind, &target) {
        (ShockKind::Demand, Target::All | Target::Workload(_)) => true,
        (ShockKind::Demand, _) => false,
        (_, Target::Workload(_)) => false,
        _ => true,
    };
    if !fits {
        d.error(
            f.pos,
            &f.path,
            if kind == ShockKind::Demand {
                "a demand shock targets a `workload` (or every service, with no target)"
            } else {
                "capacity and price shocks target offerings: by vendor, provider, region or chip"
            },
        );
        return None;
    }
    Some(Shock {
        kind,
        factor,
        target,
    })
}
