//! The plan as SkyPilot task YAML: per workload (per allocation, when a service is split
//! across offerings), `resources.ordered` with the plan's choice first and the cheapest
//! feasible offerings of other vendors after it, `num_nodes`, and a SkyServe `service:`
//! section for inference.
//!
//! SkyPilot's `ordered` list shares one `num_nodes`, so a training job's fallbacks are only
//! offerings that run it on the same number of nodes; alternatives that need another node count
//! are listed in the file's header comment instead.

use crate::ExportError;
use crate::devices::{dns_label, skypilot_accelerator};
use chipmix_catalog::{Catalog, Offering};
use chipmix_perf::Calibration;
use chipmix_plan::candidates::{self, Candidate, CandidateKind};
use chipmix_plan::{Allocation, Plan};
use chipmix_workload::{Portfolio, WorkloadKind};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// How many fallbacks follow the plan's choice.
pub const FALLBACKS: usize = 3;

#[derive(Clone, Debug)]
pub struct TaskFile {
    pub path: String,
    /// Comment lines written above the YAML.
    pub header: Vec<String>,
    pub task: Value,
}

#[derive(Clone, Debug)]
pub struct SkyPilotExport {
    pub files: Vec<TaskFile>,
    pub warnings: Vec<String>,
}

fn resources(catalog: &Catalog, o: &Offering, spot: bool) -> Option<Value> {
    let accelerators = skypilot_accelerator(catalog, o)?;
    let tpu = accelerators.starts_with("tpu-");
    let mut r = json!({
        "cloud": o.provider,
        "region": o.region,
        "accelerators": accelerators,
        "use_spot": spot,
    });
    // SkyPilot provisions TPU VMs from the slice name; GPU and Neuron hosts by instance type.
    if !tpu {
        r["instance_type"] = json!(o.instance_type);
    }
    Some(r)
}

/// Cost of one candidate doing the allocation's work, for ranking fallbacks: per req/s for a
/// service, per run for a training job.
fn rank_cost(c: &Candidate) -> f64 {
    match &c.kind {
        CandidateKind::Serve { requests_per_s, .. } => c.usd_per_unit_hour / requests_per_s,
        CandidateKind::Train { days, .. } => c.usd_per_unit_hour * days * 24.0,
    }
}

pub fn export(
    plan: &Plan,
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
) -> Result<SkyPilotExport, ExportError> {
    let generated = candidates::generate(portfolio, catalog, calibration);
    let offerings = catalog.offerings();
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    for (wi, w) in portfolio.workloads.iter().enumerate() {
        let allocs: Vec<&Allocation> = plan
            .allocations
            .iter()
            .filter(|a| a.workload == w.name)
            .collect();
        for a in &allocs {
            let o = catalog
                .find_offering(&a.offering)
                .map_err(|e| ExportError(format!("{}: {e}", a.offering)))?;
            let Some(first) = resources(catalog, o, a.spot) else {
                warnings.push(format!(
                    "{}: SkyPilot has no accelerator name chipmix knows for {} ({}); skipped",
                    w.name,
                    o.chip,
                    o.id()
                ));
                continue;
            };
            let vendor = catalog.vendor_of(o);
            // Fallbacks: the cheapest candidate of each other vendor, cheapest first.
            let mut others: Vec<&Candidate> = generated
                .candidates
                .iter()
                .filter(|c| c.workload == wi && c.vendor != vendor)
                .filter(|c| !c.spot || a.spot)
                .collect();
            others.sort_by(|x, y| rank_cost(x).total_cmp(&rank_cost(y)));
            let mut ordered = vec![first];
            let mut seen_vendors = BTreeSet::new();
            // Per vendor without a same-size fallback: its cheapest other-size option.
            let mut elsewhere: std::collections::BTreeMap<chipmix_catalog::Vendor, String> =
                std::collections::BTreeMap::new();
            for c in others {
                if ordered.len() > FALLBACKS || !seen_vendors.insert(c.vendor) {
                    continue;
                }
                let co = &offerings[c.offering];
                let same_nodes = match c.kind {
                    CandidateKind::Train { .. } => c.instances_per_unit == a.instances,
                    CandidateKind::Serve { .. } => true,
                };
                if !same_nodes {
                    seen_vendors.remove(&c.vendor);
                    elsewhere.entry(c.vendor).or_insert_with(|| {
                        format!(
                            "#   {} on {} nodes of {} ({}) — needs another num_nodes",
                            c.vendor, c.instances_per_unit, co.instance_type, co.provider
                        )
                    });
                    continue;
                }
                if let Some(r) = resources(catalog, co, c.spot) {
                    ordered.push(r);
                }
            }
            let mut stem = if allocs.len() == 1 {
                dns_label(&w.name)
            } else {
                dns_label(&format!("{}-{}-{}", w.name, o.provider, o.instance_type))
            };
            // The same instance type in two regions (or spot beside on-demand).
            let mut n = 2;
            while files
                .iter()
                .any(|f: &TaskFile| f.path == format!("{stem}.yaml"))
            {
                stem = dns_label(&format!(
                    "{}-{n}",
                    stem.chars().take(58).collect::<String>()
                ));
                n += 1;
            }
            let mut task = json!({
                // SkyServe service names are unique per cluster: one per file.
                "name": stem,
                "resources": { "ordered": ordered },
                "envs": {
                    "CHIPMIX_MODEL": w.model_ref,
                },
                "setup": "# install your training or serving stack here\n",
            });
            match &w.kind {
                WorkloadKind::Training(job) => {
                    task["num_nodes"] = json!(a.instances);
                    if let Some(cfg) = &a.train_config {
                        task["envs"]["CHIPMIX_TP"] = json!(cfg.tp.to_string());
                        task["envs"]["CHIPMIX_PP"] = json!(cfg.pp.to_string());
                        task["envs"]["CHIPMIX_DP"] = json!(cfg.dp.to_string());
                        task["envs"]["CHIPMIX_MICRO_BATCH"] = json!(cfg.micro_batch.to_string());
                    }
                    task["envs"]["CHIPMIX_TOKENS"] = json!(format!("{:.0}", job.tokens));
                    task["run"] = json!(
                        "# your training command; SkyPilot sets SKYPILOT_NODE_RANK and SKYPILOT_NODE_IPS\n"
                    );
                }
                WorkloadKind::Inference(svc) => {
                    let per_instance = a
                        .replicas
                        .map(|r| r.div_ceil(a.instances.max(1)))
                        .unwrap_or(1);
                    task["envs"]["CHIPMIX_TP"] = json!(a.replica_tp.unwrap_or(1).to_string());
                    task["envs"]["CHIPMIX_PP"] = json!(a.replica_pp.unwrap_or(1).to_string());
                    task["envs"]["CHIPMIX_SERVERS_PER_NODE"] = json!(per_instance.to_string());
                    task["resources"]["ports"] = json!(8000);
                    task["service"] = json!({
                        "readiness_probe": "/health",
                        // One SkyServe replica is one instance; each runs the plan's model
                        // servers (CHIPMIX_SERVERS_PER_NODE of them).
                        "replicas": a.instances,
                    });
                    task["run"] = json!(format!(
                        "# start CHIPMIX_SERVERS_PER_NODE model servers on port 8000 (SLO: TTFT {} ms, TPOT {} ms)\n",
                        svc.slo.ttft_ms, svc.slo.tpot_ms
                    ));
                }
            }
            let mut header = vec![
                format!("# chipmix plan for {}: {}", portfolio.name, w.name),
                format!(
                    "# planned: {} × {} ({}), {} chips, ${:.0}/month{}",
                    a.instances,
                    o.instance_type,
                    o.id(),
                    a.chips,
                    a.usd_per_month,
                    if a.spot { ", spot" } else { "" }
                ),
                "# resources.ordered: the plan's choice first, then the cheapest feasible offering of each other vendor".into(),
            ];
            elsewhere.retain(|v, _| !seen_vendors.contains(v));
            if !elsewhere.is_empty() {
                header
                    .push("# other vendors that could run it with a different node count:".into());
                header.extend(elsewhere.into_values());
            }
            files.push(TaskFile {
                path: format!("{stem}.yaml"),
                header,
                task,
            });
        }
    }
    Ok(SkyPilotExport { files, warnings })
}
