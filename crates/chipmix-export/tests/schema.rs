//! The validator against the shipped Kueue CRDs and against a small hand-written JSON Schema.

use chipmix_export::schema::{KueueSchemas, Violation, validate_json_schema};
use proptest::prelude::*;
use serde_json::{Value, json};

fn validate(object: &Value) -> Vec<Violation> {
    KueueSchemas::shipped().validate(object)
}

/// Fails with every violation listed, so a broken fixture says what broke.
fn assert_valid(object: &Value) {
    let violations = validate(object);
    assert!(
        violations.is_empty(),
        "expected no violations for {}, got:\n{}",
        object["kind"],
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Asserts a violation at exactly `path` whose message contains `needle`.
fn assert_violation(object: &Value, path: &str, needle: &str) {
    let violations = validate(object);
    assert!(
        violations
            .iter()
            .any(|v| v.path == path && v.message.contains(needle)),
        "expected a violation at {path:?} containing {needle:?}, got:\n{}",
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn resource_flavor() -> Value {
    json!({
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ResourceFlavor",
        "metadata": {
            "name": "h100-spot",
            "labels": {"app.kubernetes.io/managed-by": "chipmix"}
        },
        "spec": {
            "nodeLabels": {
                "cloud.google.com/gke-accelerator": "nvidia-h100-80gb",
                "cloud.google.com/gke-spot": "true"
            },
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ]
        }
    })
}

fn cluster_queue() -> Value {
    json!({
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ClusterQueue",
        "metadata": {"name": "team-a"},
        "spec": {
            "cohortName": "org",
            "namespaceSelector": {},
            "resourceGroups": [{
                "coveredResources": ["nvidia.com/gpu", "cpu", "memory"],
                "flavors": [{
                    "name": "h100-spot",
                    "resources": [
                        {"name": "nvidia.com/gpu", "nominalQuota": 64},
                        {"name": "cpu", "nominalQuota": "512"},
                        {"name": "memory", "nominalQuota": "2048Gi"}
                    ]
                }]
            }]
        }
    })
}

fn local_queue() -> Value {
    json!({
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "LocalQueue",
        "metadata": {"name": "team-a", "namespace": "team-a"},
        "spec": {"clusterQueue": "team-a"}
    })
}

fn cohort() -> Value {
    json!({
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "Cohort",
        "metadata": {"name": "org"},
        "spec": {"fairSharing": {"weight": "1"}}
    })
}

fn admission_check() -> Value {
    json!({
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "AdmissionCheck",
        "metadata": {"name": "multikueue"},
        "spec": {
            "controllerName": "kueue.x-k8s.io/multikueue",
            "parameters": {
                "apiGroup": "kueue.x-k8s.io",
                "kind": "MultiKueueConfig",
                "name": "multikueue-config"
            }
        }
    })
}

fn multikueue_config() -> Value {
    json!({
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "MultiKueueConfig",
        "metadata": {"name": "multikueue-config"},
        "spec": {"clusters": ["worker-aws", "worker-gcp"]}
    })
}

fn multikueue_cluster() -> Value {
    json!({
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "MultiKueueCluster",
        "metadata": {"name": "worker-aws"},
        "spec": {
            "clusterSource": {
                "kubeConfig": {"location": "worker-aws-kubeconfig", "locationType": "Secret"}
            }
        }
    })
}

#[test]
fn shipped_kinds_serve_both_beta_versions() {
    let kinds = KueueSchemas::shipped().kinds();
    let names: Vec<&str> = kinds.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        names,
        ["ClusterQueue", "Cohort", "LocalQueue", "ResourceFlavor"]
    );
    for (kind, versions) in &kinds {
        assert_eq!(versions, &["v1beta1", "v1beta2"], "{kind}");
    }
}

#[test]
fn minimal_v1beta2_objects_validate() {
    for object in [resource_flavor(), cluster_queue(), local_queue(), cohort()] {
        assert_valid(&object);
    }
}

/// The MultiKueue CRDs could not be obtained at Kueue v0.19.2 (see data/SOURCES.md), so these
/// objects must be reported rather than passed. When the CRDs are added, these objects must
/// validate with zero violations instead.
#[test]
fn multikueue_kinds_without_shipped_schema_are_reported() {
    for object in [admission_check(), multikueue_config(), multikueue_cluster()] {
        let violations = validate(&object);
        let kind = object["kind"].as_str().unwrap();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].path, "kind");
        assert!(
            violations[0]
                .message
                .contains(&format!("no schema shipped for kind {kind}")),
            "{}",
            violations[0]
        );
    }
}

#[test]
fn v1beta1_objects_validate_against_the_v1beta1_schema() {
    // v1beta1 spells the cohort field `cohort`; v1beta2 renamed it to `cohortName`.
    let mut queue = cluster_queue();
    queue["apiVersion"] = json!("kueue.x-k8s.io/v1beta1");
    let spec = queue["spec"].as_object_mut().unwrap();
    let cohort = spec.remove("cohortName").unwrap();
    spec.insert("cohort".into(), cohort);
    assert_valid(&queue);
}

#[test]
fn unknown_field_in_spec_is_reported_at_its_path() {
    // The v1beta1 name is unknown in v1beta2.
    let mut queue = cluster_queue();
    queue["spec"]["cohort"] = json!("org");
    assert_violation(&queue, "spec.cohort", "unknown field");

    let mut flavor = resource_flavor();
    flavor["spec"]["tolerations"][0]["tolerationSecs"] = json!(30);
    assert_violation(
        &flavor,
        "spec.tolerations[0].tolerationSecs",
        "unknown field",
    );
}

#[test]
fn missing_required_field_is_reported_at_its_path() {
    let mut queue = cluster_queue();
    queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][1]
        .as_object_mut()
        .unwrap()
        .remove("nominalQuota");
    assert_violation(
        &queue,
        "spec.resourceGroups[0].flavors[0].resources[1].nominalQuota",
        "required field is missing",
    );

    let mut queue = cluster_queue();
    queue["spec"]["resourceGroups"][0]
        .as_object_mut()
        .unwrap()
        .remove("coveredResources");
    assert_violation(
        &queue,
        "spec.resourceGroups[0].coveredResources",
        "required field is missing",
    );
}

#[test]
fn local_queue_cluster_queue_is_optional_in_the_v1beta2_schema() {
    // The v1beta2 CRD does not list spec.clusterQueue as required; pin that fact so a future
    // CRD that does shows up here.
    let mut queue = local_queue();
    queue["spec"]
        .as_object_mut()
        .unwrap()
        .remove("clusterQueue");
    assert_valid(&queue);
}

#[test]
fn wrong_type_is_reported_at_its_path() {
    let mut queue = cluster_queue();
    queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = json!(true);
    assert_violation(
        &queue,
        "spec.resourceGroups[0].flavors[0].resources[0].nominalQuota",
        "expected integer or string, got boolean",
    );

    let mut queue = cluster_queue();
    queue["spec"]["resourceGroups"][0]["coveredResources"] = json!("cpu");
    assert_violation(
        &queue,
        "spec.resourceGroups[0].coveredResources",
        "expected array, got string",
    );

    // A fractional number is not an int-or-string.
    let mut queue = cluster_queue();
    queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][1]["nominalQuota"] = json!(1.5);
    assert_violation(
        &queue,
        "spec.resourceGroups[0].flavors[0].resources[1].nominalQuota",
        "expected integer or string, got number",
    );
}

#[test]
fn quantities_accept_integers_and_quantity_strings_only() {
    for good in [
        json!(0),
        json!(64),
        json!("512"),
        json!("2048Gi"),
        json!("500m"),
        json!("1.5"),
        json!("1e3"),
    ] {
        let mut queue = cluster_queue();
        queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][2]["nominalQuota"] = good;
        assert_valid(&queue);
    }
    for bad in ["12 GPUs", "2048GB", "", "Gi"] {
        let mut queue = cluster_queue();
        queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][2]["nominalQuota"] =
            json!(bad);
        assert_violation(
            &queue,
            "spec.resourceGroups[0].flavors[0].resources[2].nominalQuota",
            "does not match",
        );
    }
}

#[test]
fn bad_metadata_name_is_reported() {
    let mut flavor = resource_flavor();
    flavor["metadata"]["name"] = json!("Bad_Name");
    assert_violation(&flavor, "metadata.name", "not a valid DNS-1123 subdomain");

    let mut flavor = resource_flavor();
    flavor["metadata"]["name"] = json!("a".repeat(254));
    assert_violation(&flavor, "metadata.name", "at most 253");

    let mut flavor = resource_flavor();
    flavor["metadata"].as_object_mut().unwrap().remove("name");
    assert_violation(&flavor, "metadata.name", "required field is missing");

    let mut flavor = resource_flavor();
    flavor["metadata"]["labels"]["bad key!"] = json!("x");
    assert_violation(&flavor, r#"metadata.labels["bad key!"]"#, "invalid key");

    let mut flavor = resource_flavor();
    flavor["metadata"]["nmae"] = json!("typo");
    assert_violation(&flavor, "metadata.nmae", "unknown field");
}

#[test]
fn unknown_kind_is_reported() {
    let mut queue = cluster_queue();
    queue["kind"] = json!("ClusterQueues");
    assert_violation(&queue, "kind", "unknown kind");
}

#[test]
fn unserved_api_version_is_reported() {
    let mut queue = cluster_queue();
    queue["apiVersion"] = json!("kueue.x-k8s.io/v9");
    assert_violation(&queue, "apiVersion", "not served for kind ClusterQueue");

    let mut queue = cluster_queue();
    queue["apiVersion"] = json!("batch/v1");
    assert_violation(&queue, "apiVersion", "not a Kueue API version");
}

#[test]
fn duplicate_map_list_keys_are_reported() {
    let mut queue = cluster_queue();
    let flavor = queue["spec"]["resourceGroups"][0]["flavors"][0].clone();
    queue["spec"]["resourceGroups"][0]["flavors"]
        .as_array_mut()
        .unwrap()
        .push(flavor);
    assert_violation(
        &queue,
        "spec.resourceGroups[0].flavors[1]",
        "duplicate entry for name=\"h100-spot\"",
    );
}

#[test]
fn non_objects_are_reported_not_panicked_on() {
    for value in [json!(null), json!([]), json!("ClusterQueue"), json!(3)] {
        let violations = validate(&value);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].path, "");
    }
}

#[test]
fn violation_display_names_the_path() {
    let violation = Violation {
        path: "spec.cohort".into(),
        message: "unknown field \"cohort\"".into(),
    };
    assert_eq!(
        violation.to_string(),
        "spec.cohort: unknown field \"cohort\""
    );
}

// --- plain JSON Schema -----------------------------------------------------------------------

fn task_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name", "resources"],
        "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$", "maxLength": 63},
            "num_nodes": {"type": "integer", "minimum": 1},
            "resources": {
                "type": "object",
                "required": ["accelerators"],
                "properties": {
                    "accelerators": {"type": "string"},
                    "use_spot": {"type": "boolean"},
                    "cloud": {"enum": ["aws", "gcp", "azure"]}
                }
            },
            "envs": {"type": "object", "additionalProperties": {"type": "string"}},
            "setup": {"type": ["string", "null"]}
        }
    })
}

fn task() -> Value {
    json!({
        "name": "llama-finetune",
        "num_nodes": 2,
        "resources": {"accelerators": "H100:8", "use_spot": true, "cloud": "aws"},
        "envs": {"MODEL": "llama-3-70b"},
        "setup": null
    })
}

fn json_violations(value: &Value) -> Vec<Violation> {
    validate_json_schema(&task_schema(), value)
}

#[test]
fn json_schema_accepts_a_valid_task() {
    assert_eq!(json_violations(&task()), vec![]);
    // Draft-07: unknown fields are fine where additionalProperties is not given.
    let mut extra = task();
    extra["resources"]["disk_size"] = json!(256);
    assert_eq!(json_violations(&extra), vec![]);
}

#[test]
fn json_schema_required() {
    let mut value = task();
    value.as_object_mut().unwrap().remove("name");
    let violations = json_violations(&value);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].path, "name");
    assert_eq!(violations[0].message, "required field is missing");
}

#[test]
fn json_schema_enum() {
    let mut value = task();
    value["resources"]["cloud"] = json!("oracle");
    let violations = json_violations(&value);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].path, "resources.cloud");
    assert!(
        violations[0].message.contains(r#""oracle" is not one of"#),
        "{violations:?}"
    );
}

#[test]
fn json_schema_types() {
    let mut value = task();
    value["num_nodes"] = json!("two");
    value["resources"]["use_spot"] = json!("yes");
    value["envs"]["SEED"] = json!(42);
    value["setup"] = json!(7);
    let mut paths: Vec<String> = json_violations(&value)
        .into_iter()
        .map(|v| v.path)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        ["envs.SEED", "num_nodes", "resources.use_spot", "setup"]
    );

    let mut value = task();
    value["num_nodes"] = json!(1.5);
    let violations = json_violations(&value);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].message, "expected integer, got number");

    // 2.0 is an integer in JSON Schema.
    let mut value = task();
    value["num_nodes"] = json!(2.0);
    assert_eq!(json_violations(&value), vec![]);
}

#[test]
fn json_schema_additional_properties_false() {
    let mut value = task();
    value["run_cmd"] = json!("python train.py");
    let violations = json_violations(&value);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].path, "run_cmd");
    assert!(violations[0].message.contains("unknown field"));
}

#[test]
fn json_schema_bounds_and_patterns() {
    let mut value = task();
    value["num_nodes"] = json!(0);
    value["name"] = json!("Llama");
    let mut paths: Vec<String> = json_violations(&value)
        .into_iter()
        .map(|v| v.path)
        .collect();
    paths.sort();
    assert_eq!(paths, ["name", "num_nodes"]);
}

#[test]
fn json_schema_junctors_refs_and_consts() {
    let schema = json!({
        "definitions": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}},
        "type": "object",
        "properties": {
            "port": {"$ref": "#/definitions/port"},
            "mode": {"oneOf": [{"const": "train"}, {"const": "serve"}]},
            "replicas": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+-[0-9]+$"}]},
            "both": {"allOf": [{"type": "string"}, {"minLength": 3}]},
            "not_zero": {"not": {"const": 0}}
        }
    });
    let good =
        json!({"port": 8080, "mode": "serve", "replicas": "1-4", "both": "abc", "not_zero": 1});
    assert_eq!(validate_json_schema(&schema, &good), vec![]);

    let bad =
        json!({"port": 70000, "mode": "eval", "replicas": "many", "both": "ab", "not_zero": 0});
    let mut paths: Vec<String> = validate_json_schema(&schema, &bad)
        .into_iter()
        .map(|v| v.path)
        .collect();
    paths.sort();
    assert_eq!(paths, ["both", "mode", "not_zero", "port", "replicas"]);
}

#[test]
fn json_schema_problems_in_the_schema_are_reported_not_panicked_on() {
    // A schema that does not compile fails every validation, saying why; it never passes.
    for (schema, needle) in [
        (
            json!({"properties": {"a": {"pattern": "([unclosed"}}}),
            "([unclosed",
        ),
        (
            json!({"properties": {"b": {"$ref": "#/definitions/missing"}}}),
            "missing",
        ),
        (json!({"properties": {"d": {"type": "strnig"}}}), "strnig"),
        (
            json!({"$ref": "https://example.com/remote.json"}),
            "example.com",
        ),
    ] {
        let violations = validate_json_schema(&schema, &json!({"a": "x", "b": 1, "d": "x"}));
        assert_eq!(violations.len(), 1, "{schema}: {violations:?}");
        assert_eq!(violations[0].path, "");
        assert!(
            violations[0].message.starts_with("invalid schema: ")
                && violations[0].message.contains(needle),
            "{schema}: {violations:?}"
        );
    }
}

#[test]
fn json_schema_keywords_beyond_openapi_are_checked() {
    // `if`/`then`, `contains` and `propertyNames` are draft-07 keywords the crate enforces.
    let schema = json!({
        "type": "object",
        "properties": {
            "c": {"if": {"type": "string"}, "then": {"minLength": 1}},
            "list": {"contains": {"const": "gpu"}},
        },
        "propertyNames": {"maxLength": 4}
    });
    assert_eq!(
        validate_json_schema(&schema, &json!({"c": "x", "list": ["gpu"]})),
        vec![]
    );
    let paths: Vec<String> =
        validate_json_schema(&schema, &json!({"c": "", "list": ["cpu"], "toolong": 1}))
            .into_iter()
            .map(|v| v.path)
            .collect();
    assert!(paths.contains(&"c".to_owned()), "{paths:?}");
    assert!(paths.contains(&"list".to_owned()), "{paths:?}");
    assert!(paths.len() >= 3, "{paths:?}");
}

#[test]
fn json_schema_self_reference_cannot_hang_or_overflow() {
    // A schema that refers only to itself constrains nothing; it must answer, not loop.
    let looping = json!({"allOf": [{"$ref": "#"}, {"$ref": "#"}]});
    assert_eq!(validate_json_schema(&looping, &json!({})), vec![]);
    let _ = validate_json_schema(&json!({"not": {"$ref": "#"}}), &json!(1));
    // A recursive schema with real constraints is followed down a deep value.
    let tree = json!({
        "type": "object",
        "properties": {"n": {"type": "integer"}, "child": {"$ref": "#"}}
    });
    let mut value = json!({"n": "three"});
    for _ in 0..60 {
        value = json!({"n": 1, "child": value});
    }
    let violations = validate_json_schema(&tree, &value);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(
        violations[0].path,
        format!("{}n", "child.".repeat(60)),
        "{violations:?}"
    );
}

#[test]
fn json_schema_nullable_and_int_or_string() {
    let schema = json!({
        "type": "object",
        "properties": {
            "limit": {"x-kubernetes-int-or-string": true, "pattern": "^[0-9]+Gi$"},
            "note": {"type": "string", "nullable": true}
        }
    });
    assert_eq!(
        validate_json_schema(&schema, &json!({"limit": 3, "note": null})),
        vec![]
    );
    assert_eq!(
        validate_json_schema(&schema, &json!({"limit": "4Gi"})),
        vec![]
    );
    let bad = validate_json_schema(&schema, &json!({"limit": "4 GB"}));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].path, "limit");
}

// --- never panic -----------------------------------------------------------------------------

/// Field names from the Kueue schemas and ObjectMeta, so generated objects reach deep into
/// the schemas instead of stopping at the first unknown field.
const VOCABULARY: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "labels",
    "annotations",
    "spec",
    "status",
    "cohortName",
    "cohort",
    "namespaceSelector",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "resourceGroups",
    "coveredResources",
    "flavors",
    "resources",
    "nominalQuota",
    "borrowingLimit",
    "lendingLimit",
    "clusterQueue",
    "parentName",
    "fairSharing",
    "weight",
    "nodeLabels",
    "nodeTaints",
    "tolerations",
    "effect",
    "value",
    "tolerationSeconds",
    "preemption",
    "queueingStrategy",
    "stopPolicy",
    "admissionChecksStrategy",
    "admissionChecks",
    "onFlavors",
    "conditions",
    "type",
    "x-kubernetes-list-type",
    "properties",
    "items",
    "required",
    "pattern",
    "enum",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "$ref",
    "additionalProperties",
    "minimum",
    "maxLength",
    "format",
];

const STRINGS: &[&str] = &[
    "",
    "kueue.x-k8s.io/v1beta2",
    "kueue.x-k8s.io/v1beta1",
    "kueue.x-k8s.io/v9",
    "ClusterQueue",
    "ResourceFlavor",
    "LocalQueue",
    "Cohort",
    "AdmissionCheck",
    "64",
    "2048Gi",
    "12 GPUs",
    "Bad_Name",
    "h100-spot",
    "object",
    "array",
    "string",
    "integer",
    "map",
    "set",
    "#",
    "#/properties",
    "([",
    "^[a-z]+$",
    "date-time",
    "int32",
    "Never",
    "NoSchedule",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // non-finite becomes null
        prop::sample::select(STRINGS).prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 6, |inner| {
        let key = prop_oneof![
            3 => prop::sample::select(VOCABULARY).prop_map(str::to_owned),
            1 => "[ -~]{0,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn arb_kueue_object() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(STRINGS),
        prop::sample::select(STRINGS),
        arb_json(),
        arb_json(),
    )
        .prop_map(|(api_version, kind, metadata, spec)| {
            json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validate_never_panics_on_arbitrary_values(value in arb_json()) {
        let _ = validate(&value);
    }

    #[test]
    fn validate_never_panics_on_kueue_shaped_objects(object in arb_kueue_object()) {
        let _ = validate(&object);
    }

    #[test]
    fn validate_json_schema_never_panics(schema in arb_json(), value in arb_json()) {
        let _ = validate_json_schema(&schema, &value);
    }
}

#[test]
fn kubernetes_extensions_are_checked_as_custom_keywords() {
    let schema = json!({
        "type": "object",
        "properties": {
            "zones": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "replicas": {"type": "integer", "format": "int32"},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                         "x-kubernetes-preserve-unknown-fields": true}
        }
    });
    let good = json!({
        "zones": ["a", "b"],
        "replicas": 2_147_483_647_i64,
        "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    });
    assert_eq!(validate_json_schema(&schema, &good), vec![]);
    let bad = json!({
        "zones": ["a", "b", "a"],
        "replicas": 2_147_483_648_i64,
        "template": {"kind": 3, "metadata": {"name": "Not_DNS"}}
    });
    let mut found: Vec<String> = validate_json_schema(&schema, &bad)
        .iter()
        .map(ToString::to_string)
        .collect();
    found.sort();
    let expect = [
        "replicas: 2147483648 is greater than the maximum of 2147483647",
        "template.apiVersion: required field is missing",
        "template.kind: expected string, got integer",
        "template.metadata.name: \"Not_DNS\" is not a valid DNS-1123 subdomain",
        "zones[2]: duplicate item \"a\" (first at index 0; x-kubernetes-list-type: set)",
    ];
    assert_eq!(found.len(), expect.len(), "{found:?}");
    for (got, want) in found.iter().zip(expect) {
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
}

#[test]
fn nullable_is_openapi_not_json_schema() {
    let schema = json!({
        "type": "object",
        "properties": {
            "note": {"type": "string", "nullable": true},
            "size": {"type": "string", "enum": ["s", "m"], "nullable": true},
            "text": {"type": "string"}
        }
    });
    assert_eq!(
        validate_json_schema(&schema, &json!({"note": null, "size": null})),
        vec![]
    );
    let bad = validate_json_schema(&schema, &json!({"text": null, "size": "xl"}));
    let paths: Vec<&str> = bad.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths.len(), 2, "{bad:?}");
    assert!(
        paths.contains(&"text") && paths.contains(&"size"),
        "{bad:?}"
    );
}
