//! Schema validation for everything chipmix hands to another engine.
//!
//! Kueue objects are checked against the `openAPIV3Schema` of the real Kueue CRDs, which are
//! embedded in the binary (see `data/SOURCES.md` for where each file came from), so a plan
//! that validates here is one `kubectl apply --validate=strict` would accept as far as the
//! schema goes. SkyPilot task YAML has no published schema, so it is checked against a JSON
//! Schema we write ourselves, through the same keyword engine.
//!
//! Validation itself is the [`jsonschema`](https://docs.rs/jsonschema) crate: CRD schemas
//! with draft-4 semantics (OpenAPI 3.0's boolean `exclusiveMinimum`), our own schemas as
//! draft-07 unless they name a `$schema`. Patterns use the `regex` crate (RE2 syntax, as the
//! Kubernetes API server evaluates them); formats are checked (`int32`/`int64` as integer
//! ranges, `date-time`, and the crate's standard formats). What OpenAPI and Kubernetes add —
//! `nullable`, structural pruning, `x-kubernetes-int-or-string`, `x-kubernetes-list-type`,
//! `x-kubernetes-embedded-resource`, `x-kubernetes-preserve-unknown-fields` — is translated
//! or checked by custom keywords in [`engine`](self) (see its documentation).
//!
//! # Strictness
//!
//! In Kubernetes mode (CRDs) an object field that the schema does not declare is an error, as
//! `kubectl apply --validate=strict` reports it, unless the schema says
//! `x-kubernetes-preserve-unknown-fields: true` or gives `additionalProperties`. Branches of
//! `anyOf`/`oneOf`/`allOf`/`not` never flag unknown fields there, because Kubernetes prunes
//! only by the structural part of a schema. In JSON Schema mode unknown fields are allowed
//! unless `additionalProperties` forbids them, as draft-07 says. `metadata` is ObjectMeta,
//! which the CRDs only declare as `type: object`; it is checked against the API server's own
//! rules for the fields chipmix writes (`meta`).
//!
//! # What is not enforced
//!
//! * **CEL rules (`x-kubernetes-validations`) are not checked.** They need a CEL evaluator;
//!   Kueue uses them for cross-field rules such as "every flavor lists as many resources as
//!   `coveredResources`", "`borrowingLimit` needs a cohort", immutability, and taint/toleration
//!   consistency. Whoever builds these objects must keep those rules by construction.
//! * `default` is ignored: defaulting changes nothing about whether our output is valid.
//! * `x-kubernetes-map-type` is ignored (it only affects server-side apply merging).
//! * Admission webhooks (Kueue's own validation beyond the CRD) are not run.
//! * Remote `$ref`s are never fetched: a schema that needs one is reported as not compiling.

mod engine;
mod meta;

use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use engine::{Compiled, Mode, kind_of};
use meta::check_object_meta;

/// One problem: a JSON path into the object
/// (`spec.resourceGroups[0].flavors[1].resources[0].nominalQuota`) and what is wrong.
///
/// The path is empty when the problem concerns the whole value. Keys that are not plain
/// identifiers are written in brackets, JSON-quoted: `metadata.labels["kueue.x-k8s.io/team"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where the problem is, relative to the validated value.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl Violation {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "(root): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The API group every Kueue object belongs to.
const KUEUE_GROUP: &str = "kueue.x-k8s.io";

/// A CRD compiled into the binary; `file` names it in `data/kueue-crds/`.
struct EmbeddedCrd {
    file: &'static str,
    text: &'static str,
}

/// The CRDs we ship. Adding one is a line here plus a row in `data/SOURCES.md`.
const SHIPPED_CRDS: &[EmbeddedCrd] = &[
    EmbeddedCrd {
        file: "kueue.x-k8s.io_resourceflavors.yaml",
        text: include_str!("../../data/kueue-crds/kueue.x-k8s.io_resourceflavors.yaml"),
    },
    EmbeddedCrd {
        file: "kueue.x-k8s.io_clusterqueues.yaml",
        text: include_str!("../../data/kueue-crds/kueue.x-k8s.io_clusterqueues.yaml"),
    },
    EmbeddedCrd {
        file: "kueue.x-k8s.io_localqueues.yaml",
        text: include_str!("../../data/kueue-crds/kueue.x-k8s.io_localqueues.yaml"),
    },
    EmbeddedCrd {
        file: "kueue.x-k8s.io_cohorts.yaml",
        text: include_str!("../../data/kueue-crds/kueue.x-k8s.io_cohorts.yaml"),
    },
];

/// Kueue kinds chipmix emits whose CRD could not be obtained at the pinned Kueue release
/// (see `data/SOURCES.md`). They get their own message so nobody mistakes "we have no schema"
/// for "you misspelled the kind"; either way the object is reported, never passed.
const UNSHIPPED_KINDS: &[(&str, &str)] = &[
    ("AdmissionCheck", "kueue.x-k8s.io_admissionchecks.yaml"),
    ("MultiKueueConfig", "kueue.x-k8s.io_multikueueconfigs.yaml"),
    (
        "MultiKueueCluster",
        "kueue.x-k8s.io_multikueueclusters.yaml",
    ),
];

/// One served-or-not version of a CRD, its schema compiled.
struct CrdVersion {
    name: String,
    served: bool,
    schema: Compiled,
}

/// The parts of a CRD the validator needs.
struct Crd {
    kind: String,
    versions: Vec<CrdVersion>,
}

/// The shipped Kueue CRD schemas, parsed once (`OnceLock`).
///
/// Shipped: ResourceFlavor, ClusterQueue, LocalQueue and Cohort from Kueue v0.19.2, each
/// serving `v1beta1` (deprecated) and `v1beta2`. Not shipped (their CRD files could not be
/// obtained at that release, see `data/SOURCES.md`): AdmissionCheck, MultiKueueConfig,
/// MultiKueueCluster — objects of these kinds get a "no schema shipped" violation.
pub struct KueueSchemas {
    crds: Vec<Crd>,
    /// Problems loading the embedded CRDs. They are repeated in every `validate` answer,
    /// because a broken schema set must not look like a clean validation.
    load_errors: Vec<Violation>,
}

impl KueueSchemas {
    /// The CRDs embedded in this binary, parsed on first use.
    pub fn shipped() -> &'static KueueSchemas {
        static SHIPPED: OnceLock<KueueSchemas> = OnceLock::new();
        SHIPPED.get_or_init(|| KueueSchemas::load(SHIPPED_CRDS))
    }

    fn load(files: &[EmbeddedCrd]) -> KueueSchemas {
        let mut crds = Vec::new();
        let mut load_errors = Vec::new();
        for file in files {
            match parse_crd(file.text) {
                Ok(crd) => crds.push(crd),
                Err(why) => load_errors.push(Violation::new(
                    "",
                    format!("shipped CRD {} could not be loaded: {why}", file.file),
                )),
            }
        }
        KueueSchemas { crds, load_errors }
    }

    /// Validates one object (a `serde_json::Value` with apiVersion `kueue.x-k8s.io/<version>`
    /// and kind) against the `openAPIV3Schema` of that kind and version, strictly: unknown
    /// fields are errors (as `kubectl apply --validate=strict` reports them), except where the
    /// schema says `x-kubernetes-preserve-unknown-fields: true`. Also checks `metadata` (known
    /// ObjectMeta fields only; `metadata.name` present and a valid DNS-1123 subdomain:
    /// lowercase alphanumerics, '-', '.', at most 253 characters; namespace a DNS-1123 label;
    /// label keys and values well-formed) and that apiVersion/kind are served by the CRD. An
    /// object of a kind/version with no shipped CRD is a violation.
    ///
    /// CEL rules (`x-kubernetes-validations`) in the CRDs are **not** checked; see the module
    /// documentation for the full list of what is and is not enforced.
    pub fn validate(&self, object: &Value) -> Vec<Violation> {
        let mut out = self.load_errors.clone();
        let Some(obj) = object.as_object() else {
            out.push(Violation::new(
                "",
                format!(
                    "expected a Kubernetes object (a JSON object), got {}",
                    kind_of(object)
                ),
            ));
            return out;
        };

        // metadata is ObjectMeta, which the CRD schema only declares as `type: object`.
        match obj.get("metadata") {
            Some(meta) => check_object_meta(meta, "metadata", true, &mut out),
            None => out.push(Violation::new(
                "metadata",
                "required field is missing (every object needs metadata.name)",
            )),
        }

        let version = match obj.get("apiVersion") {
            None => {
                out.push(Violation::new("apiVersion", "required field is missing"));
                None
            }
            Some(Value::String(api_version)) => match api_version.split_once('/') {
                Some((KUEUE_GROUP, version)) if !version.is_empty() => Some(version),
                _ => {
                    out.push(Violation::new(
                        "apiVersion",
                        format!(
                            "{api_version:?} is not a Kueue API version (expected {KUEUE_GROUP}/<version>)"
                        ),
                    ));
                    None
                }
            },
            Some(other) => {
                out.push(Violation::new(
                    "apiVersion",
                    format!("expected string, got {}", kind_of(other)),
                ));
                None
            }
        };

        let kind = match obj.get("kind") {
            None => {
                out.push(Violation::new("kind", "required field is missing"));
                return out;
            }
            Some(Value::String(kind)) => kind.as_str(),
            Some(other) => {
                out.push(Violation::new(
                    "kind",
                    format!("expected string, got {}", kind_of(other)),
                ));
                return out;
            }
        };

        let Some(crd) = self.crds.iter().find(|crd| crd.kind == kind) else {
            let message = match UNSHIPPED_KINDS.iter().find(|(k, _)| *k == kind) {
                Some((_, file)) => format!(
                    "no schema shipped for kind {kind}: {file} is not in data/kueue-crds (see \
                     data/SOURCES.md), so this object is not validated"
                ),
                None => format!(
                    "unknown kind {kind:?}: no shipped Kueue CRD defines it (shipped kinds: {})",
                    self.crds
                        .iter()
                        .map(|crd| crd.kind.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            out.push(Violation::new("kind", message));
            return out;
        };

        let Some(version) = version else {
            return out;
        };
        let served: Vec<&str> = crd
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| v.name.as_str())
            .collect();
        let Some(schema) = crd
            .versions
            .iter()
            .find(|v| v.served && v.name == version)
            .map(|v| &v.schema)
        else {
            out.push(Violation::new(
                "apiVersion",
                format!(
                    "{KUEUE_GROUP}/{version} is not served for kind {kind} (served: {})",
                    served.join(", ")
                ),
            ));
            return out;
        };

        out.extend(schema.violations(object));
        out
    }

    /// Each shipped kind with its served versions, sorted by kind.
    pub fn kinds(&self) -> Vec<(String, Vec<String>)> {
        let mut kinds: Vec<(String, Vec<String>)> = self
            .crds
            .iter()
            .map(|crd| {
                let served = crd
                    .versions
                    .iter()
                    .filter(|v| v.served)
                    .map(|v| v.name.clone())
                    .collect();
                (crd.kind.clone(), served)
            })
            .collect();
        kinds.sort();
        kinds
    }
}

/// A plain JSON Schema, compiled once: used for the SkyPilot task schema.
///
/// Unlike the CRD mode, unknown object fields are allowed unless `additionalProperties` says
/// otherwise, and `null` is only valid where `type` allows `"null"` (or `nullable: true`).
pub struct JsonSchema {
    compiled: Result<Compiled, String>,
}

impl JsonSchema {
    /// Compiles `schema`. A schema that does not compile (an unknown `$ref`, a pattern that
    /// does not compile, a malformed keyword) is kept as a problem every validation reports, so
    /// a broken schema never looks like a clean validation.
    pub fn new(schema: &Value) -> JsonSchema {
        JsonSchema {
            compiled: Compiled::new(schema, Mode::JsonSchema),
        }
    }

    /// Every problem with `value`.
    pub fn validate(&self, value: &Value) -> Vec<Violation> {
        match &self.compiled {
            Ok(compiled) => compiled.violations(value),
            Err(why) => vec![Violation::new("", format!("invalid schema: {why}"))],
        }
    }
}

/// Validates `value` against a plain JSON Schema (compiled for this one call; see
/// [`JsonSchema`] to compile once).
pub fn validate_json_schema(schema: &Value, value: &Value) -> Vec<Violation> {
    JsonSchema::new(schema).validate(value)
}

fn parse_crd(text: &str) -> Result<Crd, String> {
    let doc: Value = yaml_serde::from_str(text).map_err(|e| format!("YAML: {e}"))?;
    let str_at = |pointer: &str| {
        doc.pointer(pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{pointer} is missing or not a string"))
    };
    if str_at("/kind")? != "CustomResourceDefinition" {
        return Err("not a CustomResourceDefinition".into());
    }
    let group = str_at("/spec/group")?;
    if group != KUEUE_GROUP {
        return Err(format!("group {group:?} is not {KUEUE_GROUP}"));
    }
    let kind = str_at("/spec/names/kind")?.to_owned();
    let versions = doc
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .ok_or("/spec/versions is missing or not a list")?;
    let mut parsed = Vec::new();
    for (i, version) in versions.iter().enumerate() {
        let name = version
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("/spec/versions/{i}/name is missing"))?;
        let served = version
            .get("served")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let schema = version
            .pointer("/schema/openAPIV3Schema")
            .filter(|s| s.is_object())
            .ok_or_else(|| format!("version {name} has no openAPIV3Schema"))?;
        let schema = Compiled::new(schema, Mode::Kubernetes)
            .map_err(|why| format!("version {name}: the schema does not compile: {why}"))?;
        parsed.push(CrdVersion {
            name: name.to_owned(),
            served,
            schema,
        });
    }
    Ok(Crd {
        kind,
        versions: parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shipped CRD compiles (a failure would be repeated in every answer, but say it
    /// here first, with the reason).
    #[test]
    fn shipped_crds_compile() {
        let schemas = KueueSchemas::shipped();
        assert!(schemas.load_errors.is_empty(), "{:?}", schemas.load_errors);
        assert_eq!(schemas.crds.len(), SHIPPED_CRDS.len());
    }
}
