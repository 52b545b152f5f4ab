//! ObjectMeta: the CRD schema says only `metadata: {type: object}`; the API server checks it
//! against its own rules, which these mirror for the fields chipmix emits.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::Violation;
use super::engine::{key_path, kind_of};

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

/// Whether `text` matches one of the fixed patterns above (compiled once each).
fn matches(pattern: &'static str, text: &str) -> bool {
    static COMPILED: OnceLock<Vec<(&'static str, Regex)>> = OnceLock::new();
    let compiled = COMPILED.get_or_init(|| {
        [
            DNS1123_SUBDOMAIN,
            DNS1123_LABEL,
            QUALIFIED_NAME,
            LABEL_VALUE,
        ]
        .into_iter()
        .filter_map(|p| Regex::new(p).ok().map(|re| (p, re)))
        .collect()
    });
    compiled
        .iter()
        .find(|(p, _)| *p == pattern)
        .is_some_and(|(_, re)| re.is_match(text))
}

pub(super) fn check_object_meta(
    meta: &Value,
    path: &str,
    require_name: bool,
    out: &mut Vec<Violation>,
) {
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
