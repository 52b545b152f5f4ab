//! Kueue and SkyPilot exports of real plans: valid against the shipped schemas, quotas equal
//! to the plan, devices and flavors right, golden files for the example portfolio.

use chipmix_catalog::Catalog;
use chipmix_export::kueue::{self, KueueExport, KueueOptions, QUEUE_LABEL};
use chipmix_export::{skypilot, validate_kueue, validate_skypilot};
use chipmix_perf::Calibration;
use chipmix_plan::{Plan, PlanOptions, plan};
use chipmix_workload::{Portfolio, portfolio};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn planned(text: &str) -> (Plan, Portfolio, Catalog) {
    let base = Catalog::builtin().unwrap();
    let p = portfolio::parse("t.yaml", text, &root().join("examples"), &base)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .portfolio;
    let c = p.effective_catalog(&base).unwrap();
    let options = PlanOptions {
        time_limit_s: 60.0,
        relative_gap: 1e-4,
        analysis: false,
        method: Default::default(),
    };
    let pl = plan(&p, &c, &Calibration::builtin(), &options).unwrap();
    (pl, p, c)
}

fn frontier() -> (Plan, Portfolio, Catalog) {
    planned(&std::fs::read_to_string(root().join("examples/frontier-lab.yaml")).unwrap())
}

fn kueue_export(pl: &Plan, p: &Portfolio, c: &Catalog, multikueue: bool) -> KueueExport {
    kueue::export(
        pl,
        p,
        c,
        &KueueOptions {
            namespace: p.name.clone(),
            multikueue,
        },
    )
    .unwrap()
}

fn objects<'a>(e: &'a KueueExport, kind: &str) -> Vec<&'a Value> {
    e.files
        .iter()
        .filter(|f| !f.path.starts_with("workers/"))
        .flat_map(|f| &f.objects)
        .filter(|o| o["kind"] == kind)
        .collect()
}

fn quantity(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn frontier_lab_kueue_objects_validate_against_the_shipped_crds() {
    let (pl, p, c) = frontier();
    let e = kueue_export(&pl, &p, &c, false);
    let checked = validate_kueue(&e);
    assert!(checked.problems.is_empty(), "{:#?}", checked.problems);
    assert!(checked.unchecked.is_empty(), "{:#?}", checked.unchecked);
    assert_eq!(objects(&e, "Cohort").len(), 1);
    assert!(!objects(&e, "ResourceFlavor").is_empty());
    assert!(!objects(&e, "ClusterQueue").is_empty());
    // Every ClusterQueue is in the cohort and has a LocalQueue.
    for cq in objects(&e, "ClusterQueue") {
        assert_eq!(cq["spec"]["cohortName"], "frontier-lab");
        let name = &cq["metadata"]["name"];
        assert!(
            objects(&e, "LocalQueue")
                .iter()
                .any(|lq| &lq["spec"]["clusterQueue"] == name)
        );
    }
}

#[test]
fn a_deliberately_broken_object_fails_validation_at_its_field() {
    let (pl, p, c) = frontier();
    let mut e = kueue_export(&pl, &p, &c, false);
    let cq_file = e
        .files
        .iter_mut()
        .find(|f| f.path.ends_with("20-cluster-queues.yaml"))
        .unwrap();
    let cq = &mut cq_file.objects[0];
    cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] =
        Value::String("12 GPUs".into());
    cq["spec"]["cohort"] = Value::String("v1beta1-spelling".into());
    let problems = validate_kueue(&e).problems;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("resourceGroups[0].flavors[0].resources[0].nominalQuota")),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("spec.cohort")),
        "{problems:#?}"
    );

    // A core object with a field Kubernetes does not have.
    let mut e = kueue_export(&pl, &p, &c, false);
    let job_file = e
        .files
        .iter_mut()
        .find(|f| f.path.ends_with("pretrain-405b.yaml"))
        .unwrap();
    job_file.objects[0]["spec"]["gpuCount"] = Value::from(8);
    let problems = validate_kueue(&e).problems;
    assert!(
        problems.iter().any(|p| p.contains("spec.gpuCount")),
        "{problems:#?}"
    );
}

#[test]
fn cluster_queue_quotas_add_up_to_exactly_the_chips_in_the_plan() {
    let (pl, p, c) = frontier();
    let e = kueue_export(&pl, &p, &c, false);
    let mut planned: BTreeMap<String, u64> = BTreeMap::new();
    for a in &pl.allocations {
        let v: chipmix_catalog::Vendor = a.vendor.parse().unwrap();
        *planned
            .entry(chipmix_export::devices::device_resource(v).to_string())
            .or_default() += u64::from(a.chips);
    }
    let mut quota: BTreeMap<String, u64> = BTreeMap::new();
    for cq in objects(&e, "ClusterQueue") {
        for rg in cq["spec"]["resourceGroups"].as_array().unwrap() {
            for f in rg["flavors"].as_array().unwrap() {
                for r in f["resources"].as_array().unwrap() {
                    let name = r["name"].as_str().unwrap();
                    if name != "cpu" && name != "memory" {
                        *quota.entry(name.to_string()).or_default() += quantity(&r["nominalQuota"]);
                    }
                }
            }
        }
    }
    assert_eq!(quota, planned);
    // And the pods the templates create never ask for more than their queue's quota.
    let mut requested: BTreeMap<String, u64> = BTreeMap::new();
    for f in e.files.iter().filter(|f| f.path.contains("workloads/")) {
        for o in &f.objects {
            let (pods, template) = match o["kind"].as_str().unwrap() {
                "Job" => (quantity(&o["spec"]["parallelism"]), &o["spec"]["template"]),
                "Deployment" => (quantity(&o["spec"]["replicas"]), &o["spec"]["template"]),
                other => panic!("{other}"),
            };
            for (k, v) in template["spec"]["containers"][0]["resources"]["requests"]
                .as_object()
                .unwrap()
            {
                *requested.entry(k.clone()).or_default() += pods * quantity(v);
            }
        }
    }
    for (device, n) in &requested {
        assert!(
            *n <= planned[device],
            "{device}: pods ask {n}, plan has {}",
            planned[device]
        );
    }
}

/// The flavor a pod template lands on: the one whose node labels its node selector matches.
fn flavor_for<'a>(e: &'a KueueExport, template: &Value) -> &'a Value {
    let selector = template["spec"]["nodeSelector"].as_object().unwrap();
    let matching: Vec<&Value> = objects(e, "ResourceFlavor")
        .into_iter()
        .filter(|f| f["spec"]["nodeLabels"].as_object().unwrap() == selector)
        .collect();
    assert_eq!(matching.len(), 1, "{selector:?}");
    matching[0]
}

#[test]
fn trainium_training_requests_neuron_and_lands_on_a_trn_flavor_with_quota() {
    let (pl, p, c) = planned(
        "name: trn-shop\nworkloads:\n  - name: pretrain-8b\n    kind: training\n    team: research\n    model: llama-3-8b\n    tokens: 100B\n    seq_len: 4096\n    deadline_days: 20\n    software: [neuron]\npolicy:\n  allowed_providers: [aws]\n",
    );
    assert!(
        pl.allocations
            .iter()
            .all(|a| a.chip.starts_with("trainium"))
    );
    let e = kueue_export(&pl, &p, &c, false);
    let checked = validate_kueue(&e);
    assert!(
        checked.problems.is_empty() && checked.unchecked.is_empty(),
        "{checked:#?}"
    );
    let job = objects(&e, "Job")[0];
    let template = &job["spec"]["template"];
    let requests = template["spec"]["containers"][0]["resources"]["requests"]
        .as_object()
        .unwrap();
    assert_eq!(
        requests.keys().collect::<Vec<_>>(),
        ["aws.amazon.com/neuron"]
    );
    let flavor = flavor_for(&e, template);
    let instance = flavor["spec"]["nodeLabels"]["node.kubernetes.io/instance-type"]
        .as_str()
        .unwrap();
    assert!(instance.starts_with("trn"), "{instance}");
    // The job's queue leads to a ClusterQueue with neuron quota on that flavor.
    let queue = job["metadata"]["labels"][QUEUE_LABEL].as_str().unwrap();
    let lq = objects(&e, "LocalQueue")
        .into_iter()
        .find(|q| q["metadata"]["name"] == queue)
        .unwrap();
    let cq = objects(&e, "ClusterQueue")
        .into_iter()
        .find(|q| q["metadata"]["name"] == lq["spec"]["clusterQueue"])
        .unwrap();
    let entry = cq["spec"]["resourceGroups"][0]["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == flavor["metadata"]["name"])
        .unwrap();
    let neuron = entry["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "aws.amazon.com/neuron")
        .unwrap();
    let pods = quantity(&job["spec"]["parallelism"]);
    assert!(
        quantity(&neuron["nominalQuota"]) >= pods * quantity(&requests["aws.amazon.com/neuron"])
    );
}

#[test]
fn h100_services_request_nvidia_gpus() {
    let (pl, p, c) = frontier();
    let e = kueue_export(&pl, &p, &c, false);
    let mut seen = 0;
    for d in objects(&e, "Deployment") {
        let template = &d["spec"]["template"];
        let flavor = flavor_for(&e, template);
        let offering = flavor["metadata"]["annotations"]["chipmix.dev/offering"]
            .as_str()
            .unwrap();
        let chip = &c.find_offering(offering).unwrap().chip;
        let requests = template["spec"]["containers"][0]["resources"]["requests"]
            .as_object()
            .unwrap();
        if chip == "h100" {
            seen += 1;
            assert!(requests.contains_key("nvidia.com/gpu"), "{requests:?}");
        }
        assert_eq!(requests.len(), 1);
    }
    assert!(seen > 0, "frontier-lab serves something on H100");
}

#[test]
fn multikueue_has_a_worker_per_provider_whose_quotas_sum_to_the_managers() {
    let (pl, p, c) = frontier();
    let e = kueue_export(&pl, &p, &c, true);
    let checked = validate_kueue(&e);
    assert!(checked.problems.is_empty(), "{:#?}", checked.problems);
    // Only the MultiKueue kinds, whose CRDs are not shipped, go unchecked.
    for u in &checked.unchecked {
        assert!(
            ["AdmissionCheck", "MultiKueueConfig", "MultiKueueCluster"]
                .iter()
                .any(|k| u.contains(&format!(": {k} "))),
            "{u}"
        );
    }
    let providers: std::collections::BTreeSet<&str> =
        pl.allocations.iter().map(|a| a.provider.as_str()).collect();
    let workers: std::collections::BTreeSet<String> = e
        .files
        .iter()
        .filter_map(|f| f.path.strip_prefix("workers/"))
        .map(|p| p.split('/').next().unwrap().to_string())
        .collect();
    assert_eq!(workers, providers.iter().map(|p| p.to_string()).collect());
    let config = objects(&e, "MultiKueueConfig")[0];
    assert_eq!(
        config["spec"]["clusters"].as_array().unwrap().len(),
        providers.len()
    );
    for cq in objects(&e, "ClusterQueue") {
        assert_eq!(
            cq["spec"]["admissionChecksStrategy"]["admissionChecks"][0]["name"],
            "multikueue"
        );
    }
    let sum = |only_workers: bool| -> u64 {
        e.files
            .iter()
            .filter(|f| f.path.starts_with("workers/") == only_workers)
            .flat_map(|f| &f.objects)
            .filter(|o| o["kind"] == "ClusterQueue")
            .flat_map(|cq| {
                cq["spec"]["resourceGroups"][0]["flavors"]
                    .as_array()
                    .unwrap()
            })
            .flat_map(|f| f["resources"].as_array().unwrap())
            .filter(|r| r["name"] != "cpu" && r["name"] != "memory")
            .map(|r| quantity(&r["nominalQuota"]))
            .sum()
    };
    assert_eq!(sum(true), sum(false));
}

#[test]
fn skypilot_tasks_put_the_plan_first_and_validate() {
    let (pl, p, c) = frontier();
    let e = skypilot::export(&pl, &p, &c, &Calibration::builtin()).unwrap();
    assert!(
        validate_skypilot(&e).is_empty(),
        "{:#?}",
        validate_skypilot(&e)
    );
    // One file per allocation, plus one per fallback that needs a layout of its own.
    let primary: Vec<_> = e
        .files
        .iter()
        .filter(|f| !f.path.contains("-alt-"))
        .collect();
    assert_eq!(primary.len(), pl.allocations.len());
    for (f, a) in primary.into_iter().zip(&pl.allocations) {
        let first = &f.task["resources"]["ordered"][0];
        assert_eq!(first["cloud"], a.provider.as_str());
        assert_eq!(first["region"], a.region.as_str());
        let acc = first["accelerators"].as_str().unwrap();
        match a.chip.as_str() {
            "h100" => assert_eq!(acc, "H100:8"),
            "trainium2" => assert_eq!(acc, "Trainium2:16"),
            "inferentia2" => assert!(acc.starts_with("Inferentia2:")),
            c if c.starts_with("tpu-") => assert!(acc.starts_with("tpu-v")),
            _ => {}
        }
        // Fallbacks are other vendors, each once.
        let vendors: Vec<String> = f.task["resources"]["ordered"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let o = c
                    .offerings()
                    .iter()
                    .find(|o| {
                        o.provider == r["cloud"]
                            && o.region == r["region"]
                            && (r["instance_type"].is_null()
                                || o.instance_type == r["instance_type"])
                            && chipmix_export::devices::skypilot_accelerator(&c, o).as_deref()
                                == r["accelerators"].as_str()
                    })
                    .unwrap();
                c.vendor_of(o).to_string()
            })
            .collect();
        let unique: std::collections::BTreeSet<&String> = vendors.iter().collect();
        assert_eq!(unique.len(), vendors.len(), "{vendors:?}");
        match a.kind.as_str() {
            "inference" => assert_eq!(f.task["service"]["replicas"], a.instances),
            _ => assert_eq!(f.task["num_nodes"], a.instances),
        }
    }
    // A broken task fails the schema.
    let mut broken = e.clone();
    broken.files[0].task["resources"]["ordered"][0]["accelerators"] = Value::from("8x H100");
    broken.files[0].task["nodes"] = Value::from(3);
    let problems = validate_skypilot(&broken);
    assert!(
        problems.iter().any(|p| p.contains("accelerators")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.contains("nodes")), "{problems:?}");
}

#[test]
fn golden_files_for_frontier_lab() {
    let (pl, p, c) = frontier();
    let render = |files: Vec<(String, String)>| {
        files
            .into_iter()
            .map(|(path, text)| format!("=== {path}\n{text}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let k = chipmix_export::render_kueue(&kueue_export(&pl, &p, &c, true)).unwrap();
    insta::assert_snapshot!("frontier_lab_kueue_multikueue", render(k));
    let s = chipmix_export::render_skypilot(
        &skypilot::export(&pl, &p, &c, &Calibration::builtin()).unwrap(),
    )
    .unwrap();
    insta::assert_snapshot!("frontier_lab_skypilot", render(s));
}
