//! Hands a plan to the engines that run it: Kueue objects ([`kueue`]) for Kubernetes fleets and
//! SkyPilot task YAML ([`skypilot`]) for multi-cloud launches.
//!
//! Everything is built in memory, validated — Kueue objects against the real CRD schemas and
//! core objects by deserializing them into `k8s-openapi` types ([`schema`], [`validate_kueue`]),
//! SkyPilot tasks against a JSON Schema of what we emit — and only then written
//! ([`write_files`]), so a failed export leaves nothing half-written.

pub mod devices;
pub mod kueue;
pub mod schema;
pub mod skypilot;

use serde_json::Value;
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub struct ExportError(pub String);

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExportError {}

/// The JSON Schema of the SkyPilot task subset chipmix emits (source in the file).
pub const SKYPILOT_TASK_SCHEMA: &str = include_str!("../data/skypilot-task.schema.json");

/// The outcome of validating a Kueue export.
#[derive(Clone, Debug, Default)]
pub struct KueueValidation {
    /// Every problem: file, object and field. Must be empty before anything is written.
    pub problems: Vec<String>,
    /// Objects of Kueue kinds whose CRD is not shipped (the MultiKueue kinds: no v0.19.2 copy
    /// of their CRDs could be sourced, see `data/SOURCES.md`), so not schema-checked. Their
    /// fields follow Kueue's v1beta2 Go types.
    pub unchecked: Vec<String>,
}

/// Validates a Kueue export: CRD objects against their schemas, core objects (`Job`,
/// `Deployment`, `Namespace`) by deserializing into `k8s-openapi` types with unknown fields
/// refused. Each line names the file, the object and the field.
pub fn validate_kueue(export: &kueue::KueueExport) -> KueueValidation {
    let schemas = schema::KueueSchemas::shipped();
    let shipped: Vec<String> = schemas.kinds().into_iter().map(|(k, _)| k).collect();
    let mut out = KueueValidation::default();
    for file in &export.files {
        for object in &file.objects {
            let kind = object["kind"].as_str().unwrap_or("?");
            let name = object["metadata"]["name"].as_str().unwrap_or("?");
            let here = format!("{}: {kind} {name}", file.path);
            let api = object["apiVersion"].as_str().unwrap_or("");
            if api.starts_with("kueue.x-k8s.io/") && !shipped.iter().any(|k| k == kind) {
                out.unchecked.push(here);
                continue;
            }
            let problems: Vec<String> = if api.starts_with("kueue.x-k8s.io/") {
                schemas
                    .validate(object)
                    .into_iter()
                    .map(|v| v.to_string())
                    .collect()
            } else {
                core_problems(object)
            };
            out.problems
                .extend(problems.into_iter().map(|p| format!("{here}: {p}")));
        }
    }
    out
}

/// Core objects must round-trip through `k8s-openapi` unchanged: a field the type does not
/// know would be dropped, and the round trip shows it.
fn core_problems(object: &Value) -> Vec<String> {
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(
        object: &Value,
    ) -> Vec<String> {
        match serde_json::from_value::<T>(object.clone()) {
            Err(e) => vec![e.to_string()],
            Ok(typed) => match serde_json::to_value(&typed) {
                Ok(back) if &back == object => Vec::new(),
                Ok(back) => vec![format!(
                    "fields the Kubernetes type does not have: {}",
                    dropped_fields(object, &back, "").join(", ")
                )],
                Err(e) => vec![e.to_string()],
            },
        }
    }
    use k8s_openapi::api::{apps::v1::Deployment, batch::v1::Job, core::v1::Namespace};
    match (object["apiVersion"].as_str(), object["kind"].as_str()) {
        (Some("batch/v1"), Some("Job")) => round_trip::<Job>(object),
        (Some("apps/v1"), Some("Deployment")) => round_trip::<Deployment>(object),
        (Some("v1"), Some("Namespace")) => round_trip::<Namespace>(object),
        (Some("leaderworkerset.x-k8s.io/v1"), Some("LeaderWorkerSet")) => {
            let template = &object["spec"]["leaderWorkerTemplate"]["workerTemplate"];
            round_trip::<k8s_openapi::api::core::v1::PodTemplateSpec>(template)
                .into_iter()
                .map(|p| format!("spec.leaderWorkerTemplate.workerTemplate: {p}"))
                .collect()
        }
        (api, kind) => vec![format!(
            "no schema to check {} {}",
            api.unwrap_or("?"),
            kind.unwrap_or("?")
        )],
    }
}

fn dropped_fields(original: &Value, back: &Value, path: &str) -> Vec<String> {
    match (original, back) {
        (Value::Object(a), Value::Object(b)) => a
            .iter()
            .flat_map(|(k, v)| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    None => vec![p],
                    Some(w) => dropped_fields(v, w, &p),
                }
            })
            .collect(),
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .zip(b)
            .enumerate()
            .flat_map(|(i, (v, w))| dropped_fields(v, w, &format!("{path}[{i}]")))
            .collect(),
        (a, b) if a != b => vec![format!("{path} (changed)")],
        _ => Vec::new(),
    }
}

/// Every problem in a SkyPilot export.
pub fn validate_skypilot(export: &skypilot::SkyPilotExport) -> Vec<String> {
    let schema: Value = serde_json::from_str(SKYPILOT_TASK_SCHEMA).expect("shipped schema parses");
    let schema = schema::JsonSchema::new(&schema);
    export
        .files
        .iter()
        .flat_map(|f| {
            schema
                .validate(&f.task)
                .into_iter()
                .map(move |v| format!("{}: {v}", f.path))
        })
        .collect()
}

/// One YAML document per object, `---` between them.
pub fn to_yaml_documents(objects: &[Value]) -> Result<String, ExportError> {
    let mut out = String::new();
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(
            &yaml_serde::to_string(o).map_err(|e| ExportError(format!("writing YAML: {e}")))?,
        );
    }
    Ok(out)
}

/// The files of a Kueue export, rendered.
pub fn render_kueue(export: &kueue::KueueExport) -> Result<Vec<(String, String)>, ExportError> {
    export
        .files
        .iter()
        .map(|f| {
            let header =
                "# Generated by chipmix from a plan: Kueue v1beta2 objects (kubectl apply -f).\n";
            Ok((
                f.path.clone(),
                format!("{header}{}", to_yaml_documents(&f.objects)?),
            ))
        })
        .collect()
}

/// The files of a SkyPilot export, rendered.
pub fn render_skypilot(
    export: &skypilot::SkyPilotExport,
) -> Result<Vec<(String, String)>, ExportError> {
    export
        .files
        .iter()
        .map(|f| {
            let yaml = to_yaml_documents(std::slice::from_ref(&f.task))?;
            Ok((f.path.clone(), format!("{}\n{yaml}", f.header.join("\n"))))
        })
        .collect()
}

/// Writes rendered files under `dir`: each to a temporary name first, then renamed, so a
/// failure leaves no partial file; directories are created as needed.
pub fn write_files(dir: &Path, files: &[(String, String)]) -> Result<(), ExportError> {
    let fail = |p: &Path, e: std::io::Error| ExportError(format!("{}: {e}", p.display()));
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
        }
        let tmp = path.with_extension("yaml.chipmix-tmp");
        if let Err(e) = std::fs::write(&tmp, text) {
            for t in &written {
                let _ = std::fs::remove_file(t);
            }
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(&tmp, e));
        }
        written.push(tmp);
    }
    for ((rel, _), tmp) in files.iter().zip(&written) {
        let path = dir.join(rel);
        std::fs::rename(tmp, &path).map_err(|e| fail(&path, e))?;
    }
    Ok(())
}
