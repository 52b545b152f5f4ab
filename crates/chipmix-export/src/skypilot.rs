//! The plan as SkyPilot task YAML: per workload (per allocation, when a service is split
//! across offerings), `resources.ordered` with the plan's choice first and the cheapest
//! feasible offerings of other vendors after it, `num_nodes`, and a SkyServe `service:`
//! section for inference.
//!
//! SkyPilot's `ordered` list shares one task — one `num_nodes`, one `replicas`, one set of
//! environment variables — so a fallback goes there only when the performance model lays the
//! workload out on it exactly as on the plan's choice. Every other vendor's fallback gets a
//! task file of its own with the layout computed for its chip (`<name>-alt-<chip>.yaml`), named
//! in the primary file's header. Offerings of providers SkyPilot does not know are skipped
//! with a warning.

use crate::ExportError;
use crate::devices::{SKYPILOT_CLOUDS, dns_label, skypilot_accelerator, skypilot_cloud};
use chipmix_catalog::{Catalog, Offering};
use chipmix_perf::Calibration;
use chipmix_plan::candidates::{self, Candidate, CandidateKind};
use chipmix_plan::{Allocation, Plan};
use chipmix_workload::{Portfolio, Workload, WorkloadKind};
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

fn resources(catalog: &Catalog, o: &Offering, spot: bool) -> Result<Value, String> {
    let cloud = skypilot_cloud(&o.provider).ok_or_else(|| {
        format!(
            "SkyPilot has no cloud `{}` (it knows {})",
            o.provider,
            SKYPILOT_CLOUDS.join(", ")
        )
    })?;
    let accelerators = skypilot_accelerator(catalog, o).ok_or_else(|| {
        format!(
            "SkyPilot has no accelerator name chipmix knows for {}",
            o.chip
        )
    })?;
    let tpu = accelerators.starts_with("tpu-");
    let mut r = json!({
        "cloud": cloud,
        "region": o.region,
        "accelerators": accelerators,
        "use_spot": spot,
    });
    // SkyPilot provisions TPU VMs from the slice name; GPU and Neuron hosts by instance type.
    if !tpu {
        r["instance_type"] = json!(o.instance_type);
    }
    Ok(r)
}

/// Cost of one candidate doing the allocation's work, for ranking fallbacks: per req/s for a
/// service, per run for a training job.
fn rank_cost(c: &Candidate) -> f64 {
    match &c.kind {
        CandidateKind::Serve { requests_per_s, .. } => c.usd_per_unit_hour / requests_per_s,
        CandidateKind::Train { days, .. } => c.usd_per_unit_hour * days * 24.0,
    }
}

/// How a workload is laid out on one offering: what the task's `num_nodes` / `replicas` and
/// `CHIPMIX_*` variables say. SkyPilot's `ordered` resources share one task, so a fallback
/// goes into `ordered` only when its layout is the primary's.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    Train {
        nodes: u32,
        tp: u32,
        pp: u32,
        dp: u32,
        micro_batch: u32,
    },
    Serve {
        instances: u32,
        tp: u32,
        pp: u32,
        servers_per_node: u32,
    },
}

impl Layout {
    /// The plan's layout for an allocation.
    fn planned(a: &Allocation) -> Option<Layout> {
        if let Some(cfg) = &a.train_config {
            return Some(Layout::Train {
                nodes: a.instances,
                tp: cfg.tp,
                pp: cfg.pp,
                dp: cfg.dp,
                micro_batch: cfg.micro_batch,
            });
        }
        Some(Layout::Serve {
            instances: a.instances,
            tp: a.replica_tp?,
            pp: a.replica_pp?,
            servers_per_node: a
                .replicas
                .map(|r| r.div_ceil(a.instances.max(1)))
                .unwrap_or(1),
        })
    }

    /// The performance model's layout for a fallback candidate doing the allocation's work:
    /// the candidate's own parallel layout, and for a service as many instances as serve the
    /// allocation's requests/s on that chip.
    fn fallback(c: &Candidate, a: &Allocation) -> Layout {
        match &c.kind {
            CandidateKind::Train { config, .. } => Layout::Train {
                nodes: c.instances_per_unit,
                tp: config.tp,
                pp: config.pp,
                dp: config.dp,
                micro_batch: config.micro_batch,
            },
            CandidateKind::Serve {
                replica,
                replicas_per_unit,
                requests_per_s,
                ..
            } => {
                let needed = a.requests_per_s.unwrap_or(0.0);
                let units = (needed / requests_per_s).ceil().max(1.0) as u32;
                Layout::Serve {
                    instances: units.saturating_mul(c.instances_per_unit),
                    tp: replica.tp,
                    pp: replica.pp,
                    servers_per_node: if c.instances_per_unit == 1 {
                        *replicas_per_unit
                    } else {
                        1
                    },
                }
            }
        }
    }

    fn summary(&self) -> String {
        match *self {
            Layout::Train {
                nodes,
                tp,
                pp,
                dp,
                micro_batch,
            } => format!("{nodes} nodes, TP{tp} PP{pp} DP{dp}, micro-batch {micro_batch}"),
            Layout::Serve {
                instances,
                tp,
                pp,
                servers_per_node,
            } => format!(
                "{instances} instances, TP{tp} PP{pp}, {servers_per_node} server(s)/instance"
            ),
        }
    }
}

/// One task: `ordered` resources that all run `layout`.
fn task(name: &str, w: &Workload, layout: Layout, ordered: Vec<Value>) -> Value {
    let mut task = json!({
        // SkyServe service names are unique per cluster: one per file.
        "name": name,
        "resources": { "ordered": ordered },
        "envs": {
            "CHIPMIX_MODEL": w.model_ref,
        },
        "setup": "# install your training or serving stack here\n",
    });
    match (&w.kind, layout) {
        (
            WorkloadKind::Training(job),
            Layout::Train {
                nodes,
                tp,
                pp,
                dp,
                micro_batch,
            },
        ) => {
            task["num_nodes"] = json!(nodes);
            task["envs"]["CHIPMIX_TP"] = json!(tp.to_string());
            task["envs"]["CHIPMIX_PP"] = json!(pp.to_string());
            task["envs"]["CHIPMIX_DP"] = json!(dp.to_string());
            task["envs"]["CHIPMIX_MICRO_BATCH"] = json!(micro_batch.to_string());
            task["envs"]["CHIPMIX_TOKENS"] = json!(format!("{:.0}", job.tokens));
            task["run"] = json!(
                "# your training command; SkyPilot sets SKYPILOT_NODE_RANK and SKYPILOT_NODE_IPS\n"
            );
        }
        (
            WorkloadKind::Inference(svc),
            Layout::Serve {
                instances,
                tp,
                pp,
                servers_per_node,
            },
        ) => {
            task["envs"]["CHIPMIX_TP"] = json!(tp.to_string());
            task["envs"]["CHIPMIX_PP"] = json!(pp.to_string());
            task["envs"]["CHIPMIX_SERVERS_PER_NODE"] = json!(servers_per_node.to_string());
            task["resources"]["ports"] = json!(8000);
            task["service"] = json!({
                "readiness_probe": "/health",
                // One SkyServe replica is one instance; each runs CHIPMIX_SERVERS_PER_NODE
                // model servers.
                "replicas": instances,
            });
            task["run"] = json!(format!(
                "# start CHIPMIX_SERVERS_PER_NODE model servers on port 8000 (SLO: TTFT {} ms, TPOT {} ms)\n",
                svc.slo.ttft_ms, svc.slo.tpot_ms
            ));
        }
        // A layout is always built from the workload's own kind.
        _ => {}
    }
    task
}

/// A file name stem not yet used by `files`.
fn unique_stem(files: &[TaskFile], stem: String) -> String {
    let mut out = stem.clone();
    let mut n = 2;
    while files.iter().any(|f| f.path == format!("{out}.yaml")) {
        out = dns_label(&format!(
            "{}-{n}",
            stem.chars().take(58).collect::<String>()
        ));
        n += 1;
    }
    out
}

pub fn export(
    plan: &Plan,
    portfolio: &Portfolio,
    catalog: &Catalog,
    calibration: &Calibration,
) -> Result<SkyPilotExport, ExportError> {
    let generated = candidates::generate(portfolio, catalog, calibration);
    let mut out = SkyPilotExport {
        files: Vec::new(),
        warnings: Vec::new(),
    };
    for (wi, w) in portfolio.workloads.iter().enumerate() {
        let allocs: Vec<&Allocation> = plan
            .allocations
            .iter()
            .filter(|a| a.workload == w.name)
            .collect();
        for a in &allocs {
            let stem = if allocs.len() == 1 {
                dns_label(&w.name)
            } else {
                dns_label(&format!("{}-{}-{}", w.name, a.provider, a.instance))
            };
            export_allocation(catalog, &generated.candidates, wi, w, a, stem, &mut out)?;
        }
    }
    Ok(out)
}

/// The task file for one allocation, plus one file per fallback vendor whose layout differs.
fn export_allocation(
    catalog: &Catalog,
    candidates: &[Candidate],
    wi: usize,
    w: &Workload,
    a: &Allocation,
    stem: String,
    out: &mut SkyPilotExport,
) -> Result<(), ExportError> {
    let o = catalog
        .find_offering(&a.offering)
        .map_err(|e| ExportError(format!("{}: {e}", a.offering)))?;
    let first = match resources(catalog, o, a.spot) {
        Ok(r) => r,
        Err(why) => {
            out.warnings
                .push(format!("{}: {}: {why}; skipped", w.name, o.id()));
            return Ok(());
        }
    };
    let layout = Layout::planned(a)
        .ok_or_else(|| ExportError(format!("{}: the plan has no layout", w.name)))?;
    let vendor = catalog.vendor_of(o);
    // Fallbacks: the cheapest candidate of each other vendor that SkyPilot can launch.
    let mut others: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.workload == wi && c.vendor != vendor)
        .filter(|c| !c.spot || a.spot)
        .collect();
    others.sort_by(|x, y| rank_cost(x).total_cmp(&rank_cost(y)));
    let offerings = catalog.offerings();
    let mut ordered = vec![first];
    let mut alternatives: Vec<(Layout, Value, &Candidate)> = Vec::new();
    let mut seen_vendors = BTreeSet::new();
    for c in others {
        if ordered.len() + alternatives.len() > FALLBACKS || seen_vendors.contains(&c.vendor) {
            continue;
        }
        let Ok(r) = resources(catalog, &offerings[c.offering], c.spot) else {
            continue;
        };
        seen_vendors.insert(c.vendor);
        let theirs = Layout::fallback(c, a);
        if theirs == layout {
            ordered.push(r);
        } else {
            alternatives.push((theirs, r, c));
        }
    }
    let stem = unique_stem(&out.files, stem);
    let mut header = vec![
        format!("# chipmix plan for {}", w.name),
        format!(
            "# planned: {} × {} ({}), {} chips, ${:.0}/month{}",
            a.instances,
            o.instance_type,
            o.id(),
            a.chips,
            a.usd_per_month,
            if a.spot { ", spot" } else { "" }
        ),
        format!("# layout: {}", layout.summary()),
        "# resources.ordered: the plan's choice first, then the cheapest offering of each other vendor that runs the same layout".into(),
    ];
    let mut alt_files = Vec::new();
    for (theirs, r, c) in alternatives {
        let co = &offerings[c.offering];
        // `<stem>-alt-<chip>`, the stem cut so the whole stays a DNS label (63 characters)
        // with room for a `-N` suffix.
        let suffix = format!("-alt-{}", co.chip);
        let keep = 60usize.saturating_sub(suffix.len());
        let cut: String = stem.chars().take(keep).collect();
        let alt_stem = unique_stem(
            &out.files,
            dns_label(&format!("{}{suffix}", cut.trim_end_matches('-'))),
        );
        alt_files.push(format!(
            "#   {alt_stem}.yaml: {} on {} ({}), {}",
            c.vendor,
            co.instance_type,
            co.provider,
            theirs.summary()
        ));
        out.files.push(TaskFile {
            path: format!("{alt_stem}.yaml"),
            header: vec![
                format!(
                    "# chipmix fallback for {} (plan: {} in {stem}.yaml)",
                    w.name,
                    o.id()
                ),
                format!(
                    "# layout for {} by the performance model: {}",
                    co.chip,
                    theirs.summary()
                ),
            ],
            task: task(&alt_stem, w, theirs, vec![r]),
        });
    }
    if !alt_files.is_empty() {
        header.push("# other vendors need their own layout; launch one of these instead:".into());
        header.extend(alt_files);
    }
    out.files.push(TaskFile {
        path: format!("{stem}.yaml"),
        header,
        task: task(&stem, w, layout, ordered),
    });
    Ok(())
}
