//! Schema validation for everything chipmix hands to another engine.
//!
//! Kueue objects are checked against the `openAPIV3Schema` of the real Kueue CRDs, which are
//! embedded in the binary (see `data/SOURCES.md` for where each file came from), so a plan
//! that validates here is one `kubectl apply --validate=strict` would accept as far as the
//! schema goes. SkyPilot task YAML has no published schema, so it is checked against a JSON
//! Schema we write ourselves, through the same keyword engine.
//!
//! # What the engine enforces
//!
//! `type` (string or list of types; `integer` means integral), `properties`, `required`,
//! `additionalProperties` (bool or schema), `patternProperties`, `items` (schema or tuple),
//! `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`/`exclusiveMaximum` (OpenAPI 3.0
//! boolean form and draft-07 number form), `multipleOf`, `minLength`/`maxLength` (counted in
//! characters), `minItems`/`maxItems`, `uniqueItems`, `minProperties`/`maxProperties`,
//! `pattern` (RE2-style syntax through the `regex` crate, unanchored as JSON Schema says; a
//! pattern that does not compile is reported, never a panic), `format` (`int32`, `int64` and
//! `date-time` are checked, every other format is ignored), `anyOf`, `oneOf`, `allOf`, `not`,
//! local `$ref` (`#/...`), `nullable`, and the Kubernetes extensions
//! `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`,
//! `x-kubernetes-embedded-resource`, and `x-kubernetes-list-type` (`map` lists must have
//! unique `x-kubernetes-list-map-keys`, `set` lists unique items).
//!
//! # What it does not enforce
//!
//! * **CEL rules (`x-kubernetes-validations`) are not checked.** They need a CEL evaluator;
//!   Kueue uses them for cross-field rules such as "every flavor lists as many resources as
//!   `coveredResources`", "`borrowingLimit` needs a cohort", immutability, and taint/toleration
//!   consistency. Whoever builds these objects must keep those rules by construction.
//! * `default` is ignored: defaulting changes nothing about whether our output is valid.
//! * `x-kubernetes-map-type` is ignored (it only affects server-side apply merging).
//! * Admission webhooks (Kueue's own validation beyond the CRD) are not run.
//! * Formats other than `int32`, `int64` and `date-time` are ignored.
//! * Any other schema keyword (`if`/`then`/`else`, `dependencies`, `contains`,
//!   `propertyNames`, remote `$ref`, ...) is reported as a violation rather than skipped, so a
//!   schema never appears to pass because the engine did not understand it. Annotation-only
//!   keywords (`description`, `title`, `examples`, `$comment`, ...) and other `x-` extensions
//!   are ignored.
//!
//! In Kubernetes mode (CRDs) an object field that the schema does not declare is an error, as
//! `kubectl apply --validate=strict` reports it, unless the schema says
//! `x-kubernetes-preserve-unknown-fields: true` or gives `additionalProperties`. Branches of
//! `anyOf`/`oneOf`/`allOf`/`not` never flag unknown fields there, because Kubernetes prunes
//! only by the structural part of a schema. In JSON Schema mode unknown fields are allowed
//! unless `additionalProperties` forbids them, as draft-07 says.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock, PoisonError};

use regex::Regex;
use serde_json::{Map, Value};

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
        text: include_str!("../data/kueue-crds/kueue.x-k8s.io_resourceflavors.yaml"),
    },
    EmbeddedCrd {
        file: "kueue.x-k8s.io_clusterqueues.yaml",
        text: include_str!("../data/kueue-crds/kueue.x-k8s.io_clusterqueues.yaml"),
    },
    EmbeddedCrd {
        file: "kueue.x-k8s.io_localqueues.yaml",
        text: include_str!("../data/kueue-crds/kueue.x-k8s.io_localqueues.yaml"),
    },
    EmbeddedCrd {
        file: "kueue.x-k8s.io_cohorts.yaml",
        text: include_str!("../data/kueue-crds/kueue.x-k8s.io_cohorts.yaml"),
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

/// One served-or-not version of a CRD.
struct CrdVersion {
    name: String,
    served: bool,
    schema: Value,
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

        out.extend(run(Mode::Kubernetes, schema, object, Flags::KUBE_ROOT));
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

/// Validates a value against a plain JSON Schema (draft-07 subset, the same keyword engine as
/// the CRDs): used for the SkyPilot task schema.
///
/// Unlike the CRD mode, unknown object fields are allowed unless `additionalProperties` says
/// otherwise, and `null` is only valid where `type` allows `"null"` (or `nullable: true`).
/// Problems in the schema itself (an unsupported keyword, a pattern that does not compile, a
/// `$ref` that does not resolve) are reported as violations too.
pub fn validate_json_schema(schema: &Value, value: &Value) -> Vec<Violation> {
    run(Mode::JsonSchema, schema, value, Flags::STRUCTURAL)
}

/// Runs the engine over one value and surfaces an aborted run at the top, where a branch of
/// `anyOf` or `not` cannot swallow it.
fn run(mode: Mode, schema: &Value, value: &Value, flags: Flags) -> Vec<Violation> {
    let limits = Limits {
        budget: Cell::new(WORK_BUDGET),
        aborted: Cell::new(false),
    };
    let mut engine = Engine {
        mode,
        root: schema,
        limits: &limits,
        out: Vec::new(),
    };
    engine.node(schema, value, "", 0, flags);
    let mut out = engine.out;
    if limits.aborted.get() {
        out.push(Violation::new(
            "",
            format!(
                "validation incomplete: stopped at {MAX_DEPTH} levels of nesting or \
                 {WORK_BUDGET} schema steps, so this value is not known to be valid"
            ),
        ));
    }
    out
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
        parsed.push(CrdVersion {
            name: name.to_owned(),
            served,
            schema: schema.clone(),
        });
    }
    Ok(Crd {
        kind,
        versions: parsed,
    })
}

// ---------------------------------------------------------------------------------------------
// The keyword engine.

/// How many schema nodes one validation may visit. Nested `anyOf`/`allOf` over `$ref`s can
/// blow up exponentially; past this we stop and say so instead of hanging.
const WORK_BUDGET: u64 = 1_000_000;
/// How deep schema recursion may go (value depth plus `$ref` hops), so a `$ref` cycle or an
/// absurdly deep value cannot overflow the stack.
const MAX_DEPTH: usize = 200;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// CRD `openAPIV3Schema`: unknown fields are errors, `nullable` governs `null`.
    Kubernetes,
    /// Plain JSON Schema (draft-07 subset).
    JsonSchema,
}

/// Per-node switches.
#[derive(Clone, Copy)]
struct Flags {
    /// Report fields the schema does not declare (Kubernetes mode, structural part only).
    unknown_fields: bool,
    /// This node is the root of a Kubernetes object whose `metadata` was checked separately.
    kube_root: bool,
}

impl Flags {
    const STRUCTURAL: Flags = Flags {
        unknown_fields: true,
        kube_root: false,
    };
    const KUBE_ROOT: Flags = Flags {
        unknown_fields: true,
        kube_root: true,
    };
    const BRANCH: Flags = Flags {
        unknown_fields: false,
        kube_root: false,
    };
}

/// Keywords the engine checks or deliberately ignores; anything else (apart from `x-`
/// extensions) is reported so an unsupported keyword never passes silently.
const KNOWN_KEYWORDS: &[&str] = &[
    // checked
    "type",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "items",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "pattern",
    "format",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "nullable",
    "$ref",
    // annotations and containers: no effect on validity
    "definitions",
    "$defs",
    "$schema",
    "$id",
    "id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "example",
    "readOnly",
    "writeOnly",
    "deprecated",
    "externalDocs",
];

/// Shared by an engine and all its branch engines.
struct Limits {
    budget: Cell<u64>,
    aborted: Cell<bool>,
}

struct Engine<'a> {
    mode: Mode,
    /// The document `$ref`s resolve against.
    root: &'a Value,
    limits: &'a Limits,
    out: Vec<Violation>,
}

impl<'a> Engine<'a> {
    fn push(&mut self, path: &str, message: impl Into<String>) {
        self.out.push(Violation::new(path, message));
    }

    /// Runs `schema` against `value` in a fresh collector, for junctors that need to know
    /// whether a branch matched without reporting its problems directly.
    fn branch(&self, schema: &Value, value: &Value, path: &str, depth: usize) -> Vec<Violation> {
        let mut sub = Engine {
            mode: self.mode,
            root: self.root,
            limits: self.limits,
            out: Vec::new(),
        };
        let flags = match self.mode {
            Mode::Kubernetes => Flags::BRANCH,
            Mode::JsonSchema => Flags::STRUCTURAL,
        };
        sub.node(schema, value, path, depth + 1, flags);
        sub.out
    }

    fn node(&mut self, schema: &Value, value: &Value, path: &str, depth: usize, flags: Flags) {
        let left = self.limits.budget.get();
        if left == 0 || depth > MAX_DEPTH {
            // Reported once, at the top, by `run`; a failure here alone could be hidden by
            // a junctor.
            self.limits.aborted.set(true);
            return;
        }
        self.limits.budget.set(left - 1);

        let s = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                self.push(path, "no value is allowed here (schema is `false`)");
                return;
            }
            Value::Object(s) => s,
            other => {
                self.push(
                    path,
                    format!("invalid schema: expected an object, got {}", kind_of(other)),
                );
                return;
            }
        };

        if let Some(reference) = s.get("$ref") {
            // draft-07: `$ref` replaces its siblings.
            match reference.as_str().map(|r| self.resolve(r)) {
                Some(Ok(target)) => self.node(target, value, path, depth + 1, flags),
                Some(Err(why)) => self.push(path, format!("invalid schema: {why}")),
                None => self.push(path, "invalid schema: $ref must be a string"),
            }
            return;
        }

        for key in s.keys() {
            if !key.starts_with("x-") && !KNOWN_KEYWORDS.contains(&key.as_str()) {
                self.push(
                    path,
                    format!(
                        "schema keyword {key:?} is not supported by this validator (not checked)"
                    ),
                );
            }
        }

        if value.is_null() {
            let nullable = s.get("nullable").and_then(Value::as_bool) == Some(true);
            match self.mode {
                Mode::Kubernetes if !nullable => {
                    self.push(path, "must not be null (the schema is not nullable)");
                    return;
                }
                Mode::Kubernetes => return,
                Mode::JsonSchema if nullable => return,
                Mode::JsonSchema => {}
            }
        }

        if flag(s, "x-kubernetes-int-or-string") && !(is_integer(value) || value.is_string()) {
            self.push(
                path,
                format!("expected integer or string, got {}", kind_of(value)),
            );
            return;
        }

        if let Some(types) = s.get("type")
            && !self.check_type(types, value, path)
        {
            return;
        }

        if let Some(allowed) = s.get("enum") {
            match allowed.as_array() {
                Some(allowed) if allowed.iter().any(|a| json_eq(a, value)) => {}
                Some(allowed) => {
                    let list: Vec<String> = allowed.iter().map(short).collect();
                    self.push(
                        path,
                        format!(
                            "{} is not one of the allowed values: {}",
                            short(value),
                            list.join(", ")
                        ),
                    );
                }
                None => self.push(path, "invalid schema: enum must be a list"),
            }
        }
        if let Some(expected) = s.get("const")
            && !json_eq(expected, value)
        {
            self.push(
                path,
                format!("must be {}, got {}", short(expected), short(value)),
            );
        }

        match value {
            Value::String(text) => self.string_keywords(s, text, path),
            Value::Number(_) => self.number_keywords(s, value, path),
            Value::Array(items) => self.array_keywords(s, items, path, depth),
            Value::Object(fields) => self.object_keywords(s, fields, path, depth, flags),
            Value::Bool(_) | Value::Null => {}
        }

        self.junctors(s, value, path, depth);
    }

    fn resolve(&self, reference: &str) -> Result<&'a Value, String> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(format!(
                "only local $ref (\"#/...\") is supported, got {reference:?}"
            ));
        };
        let root = self.root;
        let target = if pointer.is_empty() {
            Some(root)
        } else {
            root.pointer(pointer)
        };
        target.ok_or_else(|| format!("$ref {reference:?} does not resolve"))
    }

    /// Reports a type mismatch; false when the value has the wrong type, so the
    /// type-specific keywords are skipped rather than piling up noise.
    fn check_type(&mut self, types: &Value, value: &Value, path: &str) -> bool {
        let names: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => {
                self.push(
                    path,
                    "invalid schema: type must be a string or a list of strings",
                );
                return true;
            }
        };
        let mut known = Vec::new();
        let mut matched = false;
        for name in names {
            match type_matches(name, value) {
                Some(hit) => {
                    known.push(name);
                    matched |= hit;
                }
                None => self.push(path, format!("invalid schema: unknown type {name:?}")),
            }
        }
        // With no type we understand there is nothing to check; the schema error is reported.
        if !matched && !known.is_empty() {
            self.push(
                path,
                format!("expected {}, got {}", known.join(" or "), kind_of(value)),
            );
            return false;
        }
        true
    }

    fn string_keywords(&mut self, s: &Map<String, Value>, text: &str, path: &str) {
        let length = text.chars().count() as u64;
        if let Some(min) = self.count_keyword(s, "minLength", path)
            && length < min
        {
            self.push(
                path,
                format!("must be at least {min} characters long, got {length}"),
            );
        }
        if let Some(max) = self.count_keyword(s, "maxLength", path)
            && length > max
        {
            self.push(
                path,
                format!("must be at most {max} characters long, got {length}"),
            );
        }
        if let Some(pattern) = s.get("pattern") {
            match pattern.as_str().map(compiled) {
                Some(Ok(re)) => {
                    if !re.is_match(text) {
                        self.push(path, format!("{text:?} does not match pattern {re}"));
                    }
                }
                Some(Err(why)) => self.push(
                    path,
                    format!("invalid schema: pattern {pattern} does not compile: {why}"),
                ),
                None => self.push(path, "invalid schema: pattern must be a string"),
            }
        }
        if s.get("format").and_then(Value::as_str) == Some("date-time") {
            let ok = compiled(DATE_TIME).is_ok_and(|re| re.is_match(text));
            if !ok {
                self.push(path, format!("{text:?} is not an RFC 3339 date-time"));
            }
        }
    }

    fn number_keywords(&mut self, s: &Map<String, Value>, value: &Value, path: &str) {
        let Some(x) = value.as_f64() else {
            return;
        };
        let bound = |key: &str| s.get(key).and_then(Value::as_f64);
        let exclusive_flag = |key: &str| s.get(key).and_then(Value::as_bool) == Some(true);

        if let Some(min) = bound("minimum") {
            if exclusive_flag("exclusiveMinimum") {
                if x <= min {
                    self.push(
                        path,
                        format!("must be greater than {min}, got {}", short(value)),
                    );
                }
            } else if x < min {
                self.push(
                    path,
                    format!("must be at least {min}, got {}", short(value)),
                );
            }
        }
        if let Some(max) = bound("maximum") {
            if exclusive_flag("exclusiveMaximum") {
                if x >= max {
                    self.push(
                        path,
                        format!("must be less than {max}, got {}", short(value)),
                    );
                }
            } else if x > max {
                self.push(path, format!("must be at most {max}, got {}", short(value)));
            }
        }
        // draft-07 numeric forms
        if let Some(min) = bound("exclusiveMinimum")
            && x <= min
        {
            self.push(
                path,
                format!("must be greater than {min}, got {}", short(value)),
            );
        }
        if let Some(max) = bound("exclusiveMaximum")
            && x >= max
        {
            self.push(
                path,
                format!("must be less than {max}, got {}", short(value)),
            );
        }
        if let Some(step) = s.get("multipleOf") {
            match step.as_f64() {
                Some(step) if step > 0.0 && step.is_finite() => {
                    let ratio = x / step;
                    if !ratio.is_finite() || (ratio - ratio.round()).abs() > 1e-9 {
                        self.push(
                            path,
                            format!("must be a multiple of {step}, got {}", short(value)),
                        );
                    }
                }
                _ => self.push(path, "invalid schema: multipleOf must be a positive number"),
            }
        }
        match s.get("format").and_then(Value::as_str) {
            Some("int32")
                if is_integer(value) && !(i32::MIN as f64..=i32::MAX as f64).contains(&x) =>
            {
                self.push(path, format!("{} does not fit in int32", short(value)));
            }
            Some("int64") if is_integer(value) && value.as_i64().is_none() => {
                self.push(path, format!("{} does not fit in int64", short(value)));
            }
            _ => {}
        }
    }

    fn array_keywords(
        &mut self,
        s: &Map<String, Value>,
        items: &[Value],
        path: &str,
        depth: usize,
    ) {
        let count = items.len() as u64;
        if let Some(min) = self.count_keyword(s, "minItems", path)
            && count < min
        {
            self.push(path, format!("must have at least {min} items, got {count}"));
        }
        if let Some(max) = self.count_keyword(s, "maxItems", path)
            && count > max
        {
            self.push(path, format!("must have at most {max} items, got {count}"));
        }
        match s.get("items") {
            Some(Value::Array(tuple)) => {
                for (i, (item, schema)) in items.iter().zip(tuple).enumerate() {
                    self.node(
                        schema,
                        item,
                        &index_path(path, i),
                        depth + 1,
                        Flags::STRUCTURAL,
                    );
                }
            }
            Some(schema) => {
                for (i, item) in items.iter().enumerate() {
                    self.node(
                        schema,
                        item,
                        &index_path(path, i),
                        depth + 1,
                        Flags::STRUCTURAL,
                    );
                }
            }
            None => {}
        }

        let list_type = s.get("x-kubernetes-list-type").and_then(Value::as_str);
        if list_type == Some("set") || flag(s, "uniqueItems") {
            let why = if list_type == Some("set") {
                "x-kubernetes-list-type: set"
            } else {
                "uniqueItems"
            };
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (i, item) in items.iter().enumerate() {
                if let Some(first) = seen.insert(canonical(item), i) {
                    self.push(
                        &index_path(path, i),
                        format!(
                            "duplicate item {} (first at index {first}; {why})",
                            short(item)
                        ),
                    );
                }
            }
        }
        if list_type == Some("map") {
            let keys: Vec<&str> = s
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if keys.is_empty() {
                self.push(
                    path,
                    "invalid schema: x-kubernetes-list-type map needs x-kubernetes-list-map-keys",
                );
                return;
            }
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (i, item) in items.iter().enumerate() {
                let Some(fields) = item.as_object() else {
                    continue; // already reported by `items`
                };
                let mut key = String::new();
                let mut shown = Vec::new();
                for k in &keys {
                    let v = fields.get(*k).unwrap_or(&Value::Null);
                    key.push_str(&canonical(v));
                    key.push('\u{1f}');
                    shown.push(format!("{k}={}", short(v)));
                }
                if let Some(first) = seen.insert(key, i) {
                    self.push(
                        &index_path(path, i),
                        format!(
                            "duplicate entry for {} (first at index {first}; x-kubernetes-list-type: map)",
                            shown.join(", ")
                        ),
                    );
                }
            }
        }
    }

    fn object_keywords(
        &mut self,
        s: &Map<String, Value>,
        fields: &Map<String, Value>,
        path: &str,
        depth: usize,
        flags: Flags,
    ) {
        let count = fields.len() as u64;
        if let Some(min) = self.count_keyword(s, "minProperties", path)
            && count < min
        {
            self.push(
                path,
                format!("must have at least {min} fields, got {count}"),
            );
        }
        if let Some(max) = self.count_keyword(s, "maxProperties", path)
            && count > max
        {
            self.push(path, format!("must have at most {max} fields, got {count}"));
        }

        let embedded = flag(s, "x-kubernetes-embedded-resource");
        if let Some(required) = s.get("required") {
            match required.as_array() {
                Some(required) => {
                    for name in required {
                        match name.as_str() {
                            Some(name) if !fields.contains_key(name) => {
                                self.push(&key_path(path, name), "required field is missing");
                            }
                            Some(_) => {}
                            None => self.push(path, "invalid schema: required must list strings"),
                        }
                    }
                }
                None => self.push(path, "invalid schema: required must be a list"),
            }
        }

        let properties = s.get("properties").and_then(Value::as_object);
        let pattern_properties = s.get("patternProperties").and_then(Value::as_object);
        let additional = s.get("additionalProperties");
        let preserve = flag(s, "x-kubernetes-preserve-unknown-fields");
        let structural_object =
            properties.is_some() || s.get("type").and_then(Value::as_str) == Some("object");

        for (name, field) in fields {
            let field_path = key_path(path, name);
            if flags.kube_root && name == "metadata" {
                continue; // checked as ObjectMeta by the caller
            }
            if embedded && matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
                if name == "metadata" {
                    check_object_meta(field, &field_path, false, &mut self.out);
                } else if !field.is_string() {
                    self.push(
                        &field_path,
                        format!("expected string, got {}", kind_of(field)),
                    );
                }
                continue;
            }
            let mut declared = false;
            if let Some(schema) = properties.and_then(|p| p.get(name)) {
                declared = true;
                self.node(schema, field, &field_path, depth + 1, Flags::STRUCTURAL);
            }
            if let Some(patterns) = pattern_properties {
                for (pattern, schema) in patterns {
                    match compiled(pattern) {
                        Ok(re) if re.is_match(name) => {
                            declared = true;
                            self.node(schema, field, &field_path, depth + 1, Flags::STRUCTURAL);
                        }
                        Ok(_) => {}
                        Err(why) => self.push(
                            path,
                            format!("invalid schema: patternProperties key {pattern:?} does not compile: {why}"),
                        ),
                    }
                }
            }
            if declared {
                continue;
            }
            match additional {
                Some(Value::Bool(true)) => {}
                Some(Value::Bool(false)) => {
                    if flags.unknown_fields || self.mode == Mode::JsonSchema {
                        self.push(
                            &field_path,
                            format!("unknown field {name:?} (additionalProperties is false)"),
                        );
                    }
                }
                Some(schema) => self.node(schema, field, &field_path, depth + 1, Flags::STRUCTURAL),
                None => {
                    if self.mode == Mode::Kubernetes
                        && flags.unknown_fields
                        && structural_object
                        && !preserve
                    {
                        self.push(&field_path, format!("unknown field {name:?}"));
                    }
                }
            }
        }
    }

    fn junctors(&mut self, s: &Map<String, Value>, value: &Value, path: &str, depth: usize) {
        if let Some(all) = s.get("allOf") {
            match all.as_array() {
                Some(all) => {
                    for schema in all {
                        let problems = self.branch(schema, value, path, depth);
                        self.out.extend(problems);
                    }
                }
                None => self.push(path, "invalid schema: allOf must be a list"),
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            let Some(options) = s.get(keyword) else {
                continue;
            };
            let Some(options) = options.as_array() else {
                self.push(path, format!("invalid schema: {keyword} must be a list"));
                continue;
            };
            let results: Vec<Vec<Violation>> = options
                .iter()
                .map(|schema| self.branch(schema, value, path, depth))
                .collect();
            let matching: Vec<usize> = results
                .iter()
                .enumerate()
                .filter(|(_, r)| r.is_empty())
                .map(|(i, _)| i)
                .collect();
            if matching.is_empty() {
                let mut message = format!("does not match any {keyword} alternative");
                for (i, problems) in results.iter().enumerate() {
                    if let Some(first) = problems.first() {
                        let _ = write!(message, "; #{}: {first}", i + 1);
                    }
                }
                self.push(path, message);
            } else if keyword == "oneOf" && matching.len() > 1 {
                let which: Vec<String> = matching.iter().map(|i| format!("#{}", i + 1)).collect();
                self.push(
                    path,
                    format!(
                        "matches more than one oneOf alternative ({})",
                        which.join(", ")
                    ),
                );
            }
        }
        if let Some(schema) = s.get("not")
            && self.branch(schema, value, path, depth).is_empty()
        {
            self.push(path, "must not match the schema under `not`");
        }
    }

    /// A non-negative integer keyword such as `maxLength`; reports a malformed one.
    fn count_keyword(&mut self, s: &Map<String, Value>, key: &str, path: &str) -> Option<u64> {
        let raw = s.get(key)?;
        let count = raw.as_u64();
        if count.is_none() {
            self.push(
                path,
                format!("invalid schema: {key} must be a non-negative integer"),
            );
        }
        count
    }
}

// ---------------------------------------------------------------------------------------------
// ObjectMeta: the CRD schema says only `metadata: {type: object}`; the API server checks it
// against its own rules, which these mirror for the fields chipmix emits.

const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "selfLink",
];

const DNS1123_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const DNS1123_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const QUALIFIED_NAME: &str = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$";
const LABEL_VALUE: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
const DATE_TIME: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$";

fn matches(pattern: &str, text: &str) -> bool {
    compiled(pattern).is_ok_and(|re| re.is_match(text))
}

fn check_object_meta(meta: &Value, path: &str, require_name: bool, out: &mut Vec<Violation>) {
    let Some(fields) = meta.as_object() else {
        out.push(Violation::new(
            path,
            format!("expected object, got {}", kind_of(meta)),
        ));
        return;
    };
    for (name, field) in fields {
        let field_path = key_path(path, name);
        if !OBJECT_META_FIELDS.contains(&name.as_str()) {
            out.push(Violation::new(
                &field_path,
                format!("unknown field {name:?}"),
            ));
            continue;
        }
        match name.as_str() {
            "name" => match field.as_str() {
                Some(value) => {
                    if value.len() > 253 || !matches(DNS1123_SUBDOMAIN, value) {
                        out.push(Violation::new(
                            &field_path,
                            format!(
                                "{value:?} is not a valid DNS-1123 subdomain (lowercase alphanumerics, \
                                 '-' and '.', starting and ending with an alphanumeric, at most 253 characters)"
                            ),
                        ));
                    }
                }
                None => out.push(Violation::new(
                    &field_path,
                    format!("expected string, got {}", kind_of(field)),
                )),
            },
            "namespace" => match field.as_str() {
                Some(value) => {
                    if value.len() > 63 || !matches(DNS1123_LABEL, value) {
                        out.push(Violation::new(
                            &field_path,
                            format!(
                                "{value:?} is not a valid DNS-1123 label (lowercase alphanumerics and '-', \
                                 starting and ending with an alphanumeric, at most 63 characters)"
                            ),
                        ));
                    }
                }
                None => out.push(Violation::new(
                    &field_path,
                    format!("expected string, got {}", kind_of(field)),
                )),
            },
            "generateName" | "uid" | "resourceVersion" | "selfLink" | "creationTimestamp"
            | "deletionTimestamp"
                if !field.is_string() && !field.is_null() =>
            {
                out.push(Violation::new(
                    &field_path,
                    format!("expected string, got {}", kind_of(field)),
                ));
            }
            "labels" | "annotations" => {
                let is_labels = name == "labels";
                let Some(entries) = field.as_object() else {
                    out.push(Violation::new(
                        &field_path,
                        format!("expected object, got {}", kind_of(field)),
                    ));
                    continue;
                };
                for (key, value) in entries {
                    let entry_path = key_path(&field_path, key);
                    if let Some(why) = qualified_name_problem(key) {
                        out.push(Violation::new(
                            &entry_path,
                            format!("invalid key {key:?}: {why}"),
                        ));
                    }
                    match value.as_str() {
                        Some(text)
                            if is_labels && (text.len() > 63 || !matches(LABEL_VALUE, text)) =>
                        {
                            out.push(Violation::new(
                                &entry_path,
                                format!(
                                    "{text:?} is not a valid label value (at most 63 alphanumerics, '-', '_' \
                                     or '.', starting and ending with an alphanumeric)"
                                ),
                            ));
                        }
                        Some(_) => {}
                        None => out.push(Violation::new(
                            &entry_path,
                            format!("expected string, got {}", kind_of(value)),
                        )),
                    }
                }
            }
            "finalizers" => {
                let ok = field
                    .as_array()
                    .is_some_and(|items| items.iter().all(Value::is_string));
                if !ok {
                    out.push(Violation::new(&field_path, "expected a list of strings"));
                }
            }
            _ => {}
        }
    }
    if require_name && !fields.contains_key("name") && !fields.contains_key("generateName") {
        out.push(Violation::new(
            key_path(path, "name"),
            "required field is missing",
        ));
    }
}

/// Why `key` is not a Kubernetes qualified name (`[prefix/]name`), if it is not.
fn qualified_name_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && (prefix.is_empty() || prefix.len() > 253 || !matches(DNS1123_SUBDOMAIN, prefix))
    {
        return Some("the prefix must be a DNS-1123 subdomain".into());
    }
    if name.is_empty() || name.len() > 63 || !matches(QUALIFIED_NAME, name) {
        return Some(
            "the name part must be 1-63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
                .into(),
        );
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Compiles `pattern` once per process; patterns repeat across every object we validate.
fn compiled(pattern: &str) -> Result<Regex, String> {
    /// Bound on cached patterns, so arbitrary schemas cannot grow the cache without limit.
    const CACHE_LIMIT: usize = 4096;
    static CACHE: OnceLock<Mutex<HashMap<String, Result<Regex, String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    // A poisoned lock only means another thread panicked mid-insert; the map is still usable.
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(hit) = cache.get(pattern) {
        return hit.clone();
    }
    let result = Regex::new(pattern).map_err(|e| e.to_string().replace('\n', " "));
    if cache.len() < CACHE_LIMIT {
        cache.insert(pattern.to_owned(), result.clone());
    }
    result
}

fn flag(s: &Map<String, Value>, key: &str) -> bool {
    s.get(key).and_then(Value::as_bool) == Some(true)
}

/// Integral numbers count as integers however they were written (`64` or `64.0`), as in
/// JSON Schema.
fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => {
            n.is_i64()
                || n.is_u64()
                || n.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

fn type_matches(name: &str, value: &Value) -> Option<bool> {
    Some(match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => is_integer(value),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => return None,
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) if is_integer(value) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Equality as JSON Schema defines it: numbers compare by value, so `1` equals `1.0`.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A string that is equal for `json_eq`-equal values, for hashing list items.
fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    let _ = write!(out, "{}", f as i64);
                } else {
                    let _ = write!(out, "{f:e}");
                }
            }
        }
        Value::Array(items) => {
            out.push('[');
            for item in items {
                write_canonical(item, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push('{');
            for key in keys {
                let _ = write!(out, "{key:?}:");
                write_canonical(&fields[key], out);
                out.push(',');
            }
            out.push('}');
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// A value for a message, cut short so a huge value does not swamp the report.
fn short(value: &Value) -> String {
    const LIMIT: usize = 80;
    let text = value.to_string();
    if text.chars().count() <= LIMIT {
        text
    } else {
        let cut: String = text.chars().take(LIMIT).collect();
        format!("{cut}...")
    }
}

fn key_path(parent: &str, key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", Value::String(key.to_owned())),
    }
}

fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every keyword the shipped CRDs use is one the engine knows; an unknown one would show up
    /// as a violation on valid objects, so catch it here with a pointer to where it is.
    #[test]
    fn shipped_crds_use_only_known_keywords() {
        fn walk(schema: &Value, at: &str, found: &mut Vec<String>) {
            let Some(s) = schema.as_object() else { return };
            for (key, sub) in s {
                if !key.starts_with("x-") && !KNOWN_KEYWORDS.contains(&key.as_str()) {
                    found.push(format!("{at}: {key}"));
                }
                match key.as_str() {
                    "properties" | "patternProperties" | "definitions" | "$defs" => {
                        for (name, child) in sub.as_object().into_iter().flatten() {
                            walk(child, &format!("{at}.{name}"), found);
                        }
                    }
                    "items" | "additionalProperties" | "not" => {
                        walk(sub, &format!("{at}.{key}"), found)
                    }
                    "anyOf" | "oneOf" | "allOf" => {
                        for (i, child) in sub.as_array().into_iter().flatten().enumerate() {
                            walk(child, &format!("{at}.{key}[{i}]"), found);
                        }
                    }
                    _ => {}
                }
            }
        }
        let schemas = KueueSchemas::shipped();
        assert!(schemas.load_errors.is_empty(), "{:?}", schemas.load_errors);
        let mut found = Vec::new();
        for crd in &schemas.crds {
            for version in &crd.versions {
                walk(
                    &version.schema,
                    &format!("{}/{}", crd.kind, version.name),
                    &mut found,
                );
            }
        }
        assert!(found.is_empty(), "unsupported keywords: {found:?}");
    }

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        assert_eq!(key_path("", "spec"), "spec");
        assert_eq!(key_path("spec", "cohortName"), "spec.cohortName");
        assert_eq!(
            key_path("spec.nodeLabels", "cloud.google.com/gke-accelerator"),
            r#"spec.nodeLabels["cloud.google.com/gke-accelerator"]"#
        );
        assert_eq!(
            index_path("spec.resourceGroups", 0),
            "spec.resourceGroups[0]"
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&serde_json::json!(1), &serde_json::json!(1.0)));
        assert_eq!(
            canonical(&serde_json::json!(1)),
            canonical(&serde_json::json!(1.0))
        );
        assert!(!json_eq(&serde_json::json!(1), &serde_json::json!("1")));
    }
}
