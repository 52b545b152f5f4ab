//! The plan as Kueue objects (API `kueue.x-k8s.io/v1beta2`, Kueue 0.19+): ResourceFlavors,
//! ClusterQueues in one Cohort, LocalQueues, and a Job or Deployment per workload; with
//! MultiKueue, one worker cluster per provider.
//!
//! Layout of the quotas: each ClusterQueue has a single resource group covering `cpu`, `memory`
//! and every device resource its flavors carry, because Kueue lets a resource appear in only
//! one group of a queue and requires every flavor of a group to list all covered resources. A
//! flavor's quota for a device it does not have is 0, so a job asking for `nvidia.com/gpu` can
//! never be admitted on a Trainium flavor — Kueue's flavor fungibility stays within a device
//! type, and the vendor mix is the plan's.

use crate::ExportError;
use crate::devices::{device_resource, device_taint_key, dns_label, node_labels, spot_taint};
use chipmix_catalog::{Catalog, Offering, Vendor};
use chipmix_plan::{Allocation, Plan};
use chipmix_workload::{Portfolio, Workload, WorkloadKind};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, PodSpec, PodTemplateSpec, ResourceRequirements, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub const API_VERSION: &str = "kueue.x-k8s.io/v1beta2";
pub const QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";

#[derive(Clone, Debug)]
pub struct KueueOptions {
    /// Namespace of the LocalQueues and workload templates.
    pub namespace: String,
    /// One worker cluster per provider, dispatched to by MultiKueue from a manager cluster.
    pub multikueue: bool,
}

/// One file of the export: a path relative to the output directory and its objects.
#[derive(Clone, Debug)]
pub struct ObjectFile {
    pub path: String,
    pub objects: Vec<Value>,
}

#[derive(Clone, Debug)]
pub struct KueueExport {
    pub files: Vec<ObjectFile>,
    pub warnings: Vec<String>,
}

/// A flavor: one offering, on-demand or spot.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FlavorKey {
    offering: String,
    spot: bool,
}

struct Flavor<'a> {
    name: String,
    offering: &'a Offering,
    spot: bool,
    vendor: Vendor,
}

/// The group a workload's quota belongs to: its team, else its kind.
pub fn group_of(w: &Workload) -> String {
    dns_label(w.team.as_deref().unwrap_or(match w.kind {
        WorkloadKind::Training(_) => "training",
        WorkloadKind::Inference(_) => "inference",
    }))
}

pub fn flavor_name(o: &Offering, spot: bool) -> String {
    let base = dns_label(&format!("{}-{}-{}", o.provider, o.instance_type, o.region));
    if spot {
        dns_label(&format!(
            "{}-spot",
            base.chars().take(58).collect::<String>()
        ))
    } else {
        base
    }
}

/// Builds every object; nothing is written here.
pub fn export(
    plan: &Plan,
    portfolio: &Portfolio,
    catalog: &Catalog,
    options: &KueueOptions,
) -> Result<KueueExport, ExportError> {
    let mut warnings = Vec::new();
    let namespace = dns_label(&options.namespace);
    let mut flavors: BTreeMap<FlavorKey, Flavor> = BTreeMap::new();
    for a in &plan.allocations {
        let o = catalog.find_offering(&a.offering).map_err(|e| {
            ExportError(format!(
                "the plan names offering {} which this catalog does not have ({e}); export with the catalog the plan was made with",
                a.offering
            ))
        })?;
        flavors
            .entry(FlavorKey {
                offering: o.id(),
                spot: a.spot,
            })
            .or_insert_with(|| Flavor {
                name: flavor_name(o, a.spot),
                offering: o,
                spot: a.spot,
                vendor: catalog.vendor_of(o),
            });
        if o.vcpus.is_none() || o.memory_gib.is_none() {
            warnings.push(format!(
                "{}: the catalog gives no vCPUs/memory for {}; its cpu and memory quotas are 0 and the templates request none (set them in your catalog to manage them)",
                a.workload,
                o.id()
            ));
        }
    }
    let workload_of = |name: &str| portfolio.workloads.iter().find(|w| w.name == name);
    for a in &plan.allocations {
        if workload_of(&a.workload).is_none() {
            return Err(ExportError(format!(
                "the plan has workload `{}`, which the portfolio does not; export with the portfolio the plan was made with",
                a.workload
            )));
        }
    }

    let providers: BTreeSet<String> = flavors
        .values()
        .map(|f| f.offering.provider.clone())
        .collect();
    let multikueue = options.multikueue && providers.len() > 1;
    if options.multikueue && !multikueue {
        warnings.push(
            "--multikueue: the plan uses one provider, so a single cluster is exported".into(),
        );
    }
    let cohort = dns_label(&portfolio.name);
    let check_name = "multikueue";

    // Quotas per (group, flavor): device chips, vCPUs, memory GiB.
    let mut quotas: BTreeMap<String, BTreeMap<FlavorKey, (u64, u64, f64)>> = BTreeMap::new();
    for a in &plan.allocations {
        let w = workload_of(&a.workload).expect("checked above");
        let key = FlavorKey {
            offering: a.offering.clone(),
            spot: a.spot,
        };
        let o = flavors[&key].offering;
        let q = quotas
            .entry(group_of(w))
            .or_default()
            .entry(key)
            .or_insert((0, 0, 0.0));
        q.0 += u64::from(a.chips);
        q.1 += u64::from(o.vcpus.unwrap_or(0)) * u64::from(a.instances);
        q.2 += o.memory_gib.unwrap_or(0.0) * f64::from(a.instances);
    }

    let flavor_objects = |only: Option<&str>| -> Vec<Value> {
        flavors
            .values()
            .filter(|f| only.is_none_or(|p| f.offering.provider == p))
            .map(|f| resource_flavor(catalog, f))
            .collect()
    };
    let cluster_queues = |only: Option<&str>, with_check: bool| -> Vec<Value> {
        quotas
            .iter()
            .filter_map(|(group, per_flavor)| {
                let mine: Vec<(&Flavor, &(u64, u64, f64))> = per_flavor
                    .iter()
                    .map(|(k, q)| (&flavors[k], q))
                    .filter(|(f, _)| only.is_none_or(|p| f.offering.provider == p))
                    .collect();
                (!mine.is_empty())
                    .then(|| cluster_queue(group, &cohort, &mine, with_check.then_some(check_name)))
            })
            .collect()
    };
    let local_queues = |only: Option<&str>| -> Vec<Value> {
        quotas
            .iter()
            .filter(|(_, per_flavor)| {
                per_flavor
                    .keys()
                    .any(|k| only.is_none_or(|p| flavors[k].offering.provider == p))
            })
            .map(|(group, _)| {
                json!({
                    "apiVersion": API_VERSION,
                    "kind": "LocalQueue",
                    "metadata": { "name": group, "namespace": namespace },
                    "spec": { "clusterQueue": group },
                })
            })
            .collect()
    };
    let cohort_object = json!({
        "apiVersion": API_VERSION,
        "kind": "Cohort",
        "metadata": { "name": cohort },
        "spec": {},
    });
    let namespace_object = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": namespace },
    });

    let mut files = Vec::new();
    let prefix = if multikueue { "manager/" } else { "" };
    files.push(ObjectFile {
        path: format!("{prefix}00-namespace-and-cohort.yaml"),
        objects: vec![namespace_object.clone(), cohort_object.clone()],
    });
    files.push(ObjectFile {
        path: format!("{prefix}10-resource-flavors.yaml"),
        objects: flavor_objects(None),
    });
    files.push(ObjectFile {
        path: format!("{prefix}20-cluster-queues.yaml"),
        objects: cluster_queues(None, multikueue),
    });
    files.push(ObjectFile {
        path: format!("{prefix}30-local-queues.yaml"),
        objects: local_queues(None),
    });
    if multikueue {
        let mut mk = vec![
            json!({
                "apiVersion": API_VERSION,
                "kind": "AdmissionCheck",
                "metadata": { "name": check_name },
                "spec": {
                    "controllerName": "kueue.x-k8s.io/multikueue",
                    "parameters": {
                        "apiGroup": "kueue.x-k8s.io",
                        "kind": "MultiKueueConfig",
                        "name": cohort,
                    },
                },
            }),
            json!({
                "apiVersion": API_VERSION,
                "kind": "MultiKueueConfig",
                "metadata": { "name": cohort },
                "spec": { "clusters": providers.iter().map(|p| dns_label(p)).collect::<Vec<_>>() },
            }),
        ];
        for p in &providers {
            mk.push(multikueue_cluster(&dns_label(p)));
        }
        files.push(ObjectFile {
            path: "manager/40-multikueue.yaml".into(),
            objects: mk,
        });
        for p in &providers {
            let dir = format!("workers/{}/", dns_label(p));
            files.push(ObjectFile {
                path: format!("{dir}00-namespace-and-cohort.yaml"),
                objects: vec![namespace_object.clone(), cohort_object.clone()],
            });
            files.push(ObjectFile {
                path: format!("{dir}10-resource-flavors.yaml"),
                objects: flavor_objects(Some(p)),
            });
            files.push(ObjectFile {
                path: format!("{dir}20-cluster-queues.yaml"),
                objects: cluster_queues(Some(p), false),
            });
            files.push(ObjectFile {
                path: format!("{dir}30-local-queues.yaml"),
                objects: local_queues(Some(p)),
            });
        }
    }

    // Workload templates: one file per workload, submitted where the LocalQueues are (the
    // manager, with MultiKueue).
    let mut by_workload: BTreeMap<&str, Vec<&Allocation>> = BTreeMap::new();
    for a in &plan.allocations {
        by_workload.entry(a.workload.as_str()).or_default().push(a);
    }
    for w in &portfolio.workloads {
        let Some(allocs) = by_workload.get(w.name.as_str()) else {
            continue;
        };
        let mut objects = Vec::new();
        for a in allocs {
            let f = &flavors[&FlavorKey {
                offering: a.offering.clone(),
                spot: a.spot,
            }];
            let name = if allocs.len() == 1 {
                dns_label(&w.name)
            } else {
                dns_label(&format!("{}-{}", w.name, f.name))
            };
            let template = pod_template(catalog, w, a, f, &name, &group_of(w));
            let per_replica = a.replica_tp.unwrap_or(1) * a.replica_pp.unwrap_or(1);
            let object = match &w.kind {
                WorkloadKind::Training(_) => {
                    serde_json::to_value(training_job(&name, &namespace, w, a, template))
                }
                WorkloadKind::Inference(_) if per_replica > f.offering.chips_per_instance => Ok(
                    leader_worker_set(&name, &namespace, w, a, f.offering, template),
                ),
                WorkloadKind::Inference(_) => {
                    serde_json::to_value(deployment(&name, &namespace, w, a, template))
                }
            }
            .map_err(|e| ExportError(format!("serializing {name}: {e}")))?;
            objects.push(object);
        }
        files.push(ObjectFile {
            path: format!("{prefix}workloads/{}.yaml", dns_label(&w.name)),
            objects,
        });
    }
    warnings.sort();
    warnings.dedup();
    Ok(KueueExport { files, warnings })
}

fn resource_flavor(catalog: &Catalog, f: &Flavor) -> Value {
    let labels: serde_json::Map<String, Value> = node_labels(catalog, f.offering, f.spot)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let mut tolerations = vec![json!({
        "key": device_taint_key(f.vendor),
        "operator": "Exists",
        "effect": "NoSchedule",
    })];
    if f.spot
        && let Some((k, v)) = spot_taint(&f.offering.provider)
    {
        tolerations
            .push(json!({ "key": k, "operator": "Equal", "value": v, "effect": "NoSchedule" }));
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "ResourceFlavor",
        "metadata": {
            "name": f.name,
            "labels": { "app.kubernetes.io/managed-by": "chipmix" },
            "annotations": { "chipmix.dev/offering": f.offering.id() },
        },
        "spec": { "nodeLabels": labels, "tolerations": tolerations },
    })
}

/// A memory quantity in whole GiB where possible, else MiB.
fn gib_quantity(gib: f64) -> Value {
    if (gib - gib.round()).abs() < 1e-9 {
        Value::String(format!("{}Gi", gib.round() as u64))
    } else {
        Value::String(format!("{}Mi", (gib * 1024.0).round() as u64))
    }
}

fn cluster_queue(
    group: &str,
    cohort: &str,
    flavors: &[(&Flavor, &(u64, u64, f64))],
    admission_check: Option<&str>,
) -> Value {
    let devices: BTreeSet<&str> = flavors
        .iter()
        .map(|(f, _)| device_resource(f.vendor))
        .collect();
    let mut covered = vec!["cpu", "memory"];
    covered.extend(devices.iter().copied());
    let flavor_entries: Vec<Value> = flavors
        .iter()
        .map(|(f, (chips, vcpus, memory))| {
            let mut resources = vec![
                json!({ "name": "cpu", "nominalQuota": vcpus }),
                json!({ "name": "memory", "nominalQuota": gib_quantity(*memory) }),
            ];
            for d in &devices {
                let q = if *d == device_resource(f.vendor) {
                    *chips
                } else {
                    0
                };
                resources.push(json!({ "name": d, "nominalQuota": q }));
            }
            json!({ "name": f.name, "resources": resources })
        })
        .collect();
    let mut spec = json!({
        "cohortName": cohort,
        "namespaceSelector": {},
        "queueingStrategy": "BestEffortFIFO",
        "resourceGroups": [{ "coveredResources": covered, "flavors": flavor_entries }],
    });
    if let Some(check) = admission_check {
        spec["admissionChecksStrategy"] = json!({ "admissionChecks": [{ "name": check }] });
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "ClusterQueue",
        "metadata": { "name": group, "labels": { "app.kubernetes.io/managed-by": "chipmix" } },
        "spec": spec,
    })
}

fn multikueue_cluster(name: &str) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "MultiKueueCluster",
        "metadata": { "name": name },
        "spec": {
            "clusterSource": {
                "kubeConfig": { "locationType": "Secret", "location": format!("{name}-kubeconfig") },
            },
        },
    })
}

/// Chips each pod asks for: a training pod takes a whole instance; a serving pod one replica,
/// or one instance of a replica that spans several (a LeaderWorkerSet group).
pub fn chips_per_pod(a: &Allocation, o: &Offering) -> u32 {
    match (a.replica_tp, a.replica_pp) {
        (Some(tp), Some(pp)) => (tp * pp).min(o.chips_per_instance),
        _ => o.chips_per_instance,
    }
}

fn pod_template(
    catalog: &Catalog,
    w: &Workload,
    a: &Allocation,
    f: &Flavor,
    name: &str,
    group: &str,
) -> PodTemplateSpec {
    let device = device_resource(f.vendor).to_string();
    let chips = chips_per_pod(a, f.offering);
    let mut limits = BTreeMap::new();
    limits.insert(device.clone(), Quantity(chips.to_string()));
    let mut env = vec![
        EnvVar {
            name: "CHIPMIX_MODEL".into(),
            value: Some(w.model_ref.clone()),
            ..Default::default()
        },
        EnvVar {
            name: "CHIPMIX_CHIPS_PER_POD".into(),
            value: Some(chips.to_string()),
            ..Default::default()
        },
    ];
    let mut push = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            env.push(EnvVar {
                name: k.into(),
                value: Some(v),
                ..Default::default()
            });
        }
    };
    if let Some(cfg) = &a.train_config {
        push("CHIPMIX_TP", Some(cfg.tp.to_string()));
        push("CHIPMIX_PP", Some(cfg.pp.to_string()));
        push("CHIPMIX_DP", Some(cfg.dp.to_string()));
        push("CHIPMIX_MICRO_BATCH", Some(cfg.micro_batch.to_string()));
        push(
            "CHIPMIX_GLOBAL_BATCH_TOKENS",
            a.global_batch_tokens.map(|x| format!("{x:.0}")),
        );
    } else {
        push("CHIPMIX_TP", a.replica_tp.map(|x| x.to_string()));
        push("CHIPMIX_PP", a.replica_pp.map(|x| x.to_string()));
        push("CHIPMIX_MAX_BATCH", a.batch.map(|x| x.to_string()));
    }
    let mut tolerations = vec![Toleration {
        key: Some(device_taint_key(f.vendor).into()),
        operator: Some("Exists".into()),
        effect: Some("NoSchedule".into()),
        ..Default::default()
    }];
    if f.spot
        && let Some((k, v)) = spot_taint(&f.offering.provider)
    {
        tolerations.push(Toleration {
            key: Some(k.into()),
            operator: Some("Equal".into()),
            value: Some(v.into()),
            effect: Some("NoSchedule".into()),
            ..Default::default()
        });
    }
    // The plan chose this offering: pin the pods to its nodes, so Kueue can only assign the
    // flavor whose node labels match.
    let node_selector: BTreeMap<String, String> = node_labels(catalog, f.offering, f.spot)
        .into_iter()
        .collect();
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/name".to_string(), name.to_string()),
                ("app.kubernetes.io/part-of".to_string(), dns_label(&w.name)),
                (QUEUE_LABEL.to_string(), group.to_string()),
            ])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            restart_policy: Some(
                match w.kind {
                    WorkloadKind::Training(_) => "Never",
                    WorkloadKind::Inference(_) => "Always",
                }
                .into(),
            ),
            node_selector: Some(node_selector),
            tolerations: Some(tolerations),
            containers: vec![Container {
                name: match w.kind {
                    WorkloadKind::Training(_) => "trainer".into(),
                    WorkloadKind::Inference(_) => "server".into(),
                },
                // chipmix decides where and how much, not what runs: the image is yours.
                image: Some(format!("REPLACE-ME/{}:latest", dns_label(&w.name))),
                env: Some(env),
                resources: Some(ResourceRequirements {
                    limits: Some(limits.clone()),
                    requests: Some(limits),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

fn meta(name: &str, namespace: &str, group: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: Some(BTreeMap::from([
            (QUEUE_LABEL.to_string(), group.to_string()),
            (
                "app.kubernetes.io/managed-by".to_string(),
                "chipmix".to_string(),
            ),
        ])),
        ..Default::default()
    }
}

/// Restarts of a training Job after real pod failures (Kubernetes' default).
pub const TRAINING_BACKOFF_LIMIT: i32 = 6;

/// One pod per instance, all admitted together (Kueue admits a Job as a whole).
fn training_job(
    name: &str,
    namespace: &str,
    w: &Workload,
    a: &Allocation,
    template: PodTemplateSpec,
) -> Job {
    let pods = i32::try_from(a.instances).unwrap_or(i32::MAX);
    Job {
        metadata: meta(name, namespace, &group_of(w)),
        spec: Some(JobSpec {
            parallelism: Some(pods),
            completions: Some(pods),
            completion_mode: Some("Indexed".into()),
            // Kueue unsuspends the Job when it admits it.
            suspend: Some(true),
            // A training run resumes from its checkpoint: a failed pod restarts the Job up to
            // Kubernetes' default six times, and a preemption (spot reclaim, eviction, node
            // drain: the pod's DisruptionTarget condition) does not count as a failure at all.
            backoff_limit: Some(TRAINING_BACKOFF_LIMIT),
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![PodFailurePolicyRule {
                    action: "Ignore".into(),
                    on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                        type_: "DisruptionTarget".into(),
                        status: "True".into(),
                    }]),
                    ..Default::default()
                }],
            }),
            template,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One pod per model replica (Kueue's pod-group integration admits Deployments whose pods
/// carry the queue label).
fn deployment(
    name: &str,
    namespace: &str,
    w: &Workload,
    a: &Allocation,
    template: PodTemplateSpec,
) -> Deployment {
    let selector = BTreeMap::from([("app.kubernetes.io/name".to_string(), name.to_string())]);
    let replicas = i32::try_from(a.replicas.unwrap_or(a.instances)).unwrap_or(i32::MAX);
    Deployment {
        metadata: meta(name, namespace, &group_of(w)),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            template,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A replica that spans several instances runs as a LeaderWorkerSet group (one pod per
/// instance). LeaderWorkerSet is not a core type and its CRD is not shipped: the pod template
/// is typed, the wrapper follows leaderworkerset.x-k8s.io/v1.
fn leader_worker_set(
    name: &str,
    namespace: &str,
    w: &Workload,
    a: &Allocation,
    o: &Offering,
    template: PodTemplateSpec,
) -> Value {
    let per_replica = a.replica_tp.unwrap_or(1) * a.replica_pp.unwrap_or(1);
    let size = per_replica.div_ceil(o.chips_per_instance.max(1));
    json!({
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": meta(name, namespace, &group_of(w)),
        "spec": {
            "replicas": a.replicas.unwrap_or(1),
            "leaderWorkerTemplate": { "size": size, "workerTemplate": template },
        },
    })
}
