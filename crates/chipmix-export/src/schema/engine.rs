//! The bridge to the `jsonschema` crate: how an OpenAPI 3.0 / CRD schema becomes a JSON Schema
//! the crate compiles, the custom keywords for the Kubernetes extensions, and how the crate's
//! errors become [`Violation`]s with dotted paths.
//!
//! OpenAPI 3.0 differs from JSON Schema in a few places, and Kubernetes adds structural
//! pruning on top; [`prepare`] rewrites a schema so that plain JSON Schema says the same thing:
//!
//! * `nullable: true` → `"null"` added to `type` (and to `enum`), or the node wrapped in
//!   `anyOf: [{type: null}, …]` when it has no `type`;
//! * `format: int32` / `int64` → the integer's range as `minimum`/`maximum` (in `allOf`, so it
//!   adds to any bound already there);
//! * Kubernetes mode only: every object node in the structural part of the schema (reached
//!   through `properties`, `items`, `additionalProperties`, `patternProperties` — never inside
//!   `anyOf`/`oneOf`/`allOf`/`not`) that declares no `additionalProperties` and no
//!   `x-kubernetes-preserve-unknown-fields: true` gets `additionalProperties: false`, which is
//!   what `kubectl apply --validate=strict` reports as an unknown field;
//! * `x-kubernetes-embedded-resource: true` declares `apiVersion`, `kind` and `metadata`.
//!
//! Custom keywords (registered with the crate) check what JSON Schema cannot say:
//! `x-kubernetes-int-or-string`, `x-kubernetes-list-type` (`set`: unique items; `map`: unique
//! `x-kubernetes-list-map-keys`) and `x-kubernetes-embedded-resource` (`apiVersion` and `kind`
//! strings, `metadata` a valid ObjectMeta).

use std::collections::HashMap;
use std::fmt::Write as _;

use jsonschema::paths::Location;
use jsonschema::{
    Draft, Keyword, PatternOptions, ValidationError, Validator,
    error::{TypeKind, ValidationErrorKind},
};
use serde_json::{Map, Value, json};

use super::Violation;
use super::meta::check_object_meta;

/// How unknown fields and OpenAPI-isms are read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Mode {
    /// CRD `openAPIV3Schema` (OpenAPI 3.0, draft-4 semantics): unknown fields are errors in the
    /// structural part; `null` only where `nullable: true`.
    Kubernetes,
    /// Plain JSON Schema (draft-07 unless `$schema` names another): unknown fields are allowed
    /// unless `additionalProperties` forbids them.
    JsonSchema,
}

/// Separates a sub-path from the message in a custom keyword's error, so a problem found
/// inside the value (list item 3, `metadata.name`) is reported where it is.
const SUB_PATH: char = '\u{1f}';

/// A schema compiled by the `jsonschema` crate, after [`prepare`].
pub(super) struct Compiled {
    validator: Validator,
}

impl Compiled {
    /// Compiles `schema`; a schema the crate refuses (a pattern that does not compile, a `$ref`
    /// that does not resolve, a malformed keyword, a remote reference — never fetched) is
    /// returned as its message.
    pub(super) fn new(schema: &Value, mode: Mode) -> Result<Compiled, String> {
        let mut prepared = schema.clone();
        prepare(&mut prepared, mode == Mode::Kubernetes, true);
        let draft = match mode {
            Mode::Kubernetes => Some(Draft::Draft4),
            Mode::JsonSchema if schema.get("$schema").is_none() => Some(Draft::Draft7),
            Mode::JsonSchema => None,
        };
        let mut options = jsonschema::options()
            .should_validate_formats(true)
            // Kubernetes evaluates `pattern` with Go's RE2; the `regex` crate has the same
            // syntax and linear-time guarantee.
            .with_pattern_options(PatternOptions::regex())
            // Ranges come from `prepare`; the names must not count as unknown formats.
            .with_format("int32", |_: &str| true)
            .with_format("int64", |_: &str| true)
            .with_keyword("x-kubernetes-int-or-string", |_, value, _| {
                Ok(Box::new(IntOrString(value.as_bool() == Some(true))))
            })
            .with_keyword("x-kubernetes-list-type", list_type)
            .with_keyword("x-kubernetes-embedded-resource", |_, value, _| {
                Ok(Box::new(EmbeddedResource(value.as_bool() == Some(true))))
            });
        if let Some(draft) = draft {
            options = options.with_draft(draft);
        }
        let validator = options
            .build(&prepared)
            .map_err(|e| e.to_string().replace('\n', " "))?;
        Ok(Compiled { validator })
    }

    /// Every problem with `value`, in the order the crate finds them.
    pub(super) fn violations(&self, value: &Value) -> Vec<Violation> {
        self.validator
            .iter_errors(value)
            .flat_map(|error| convert(&error, value))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAPI 3.0 / structural schema → JSON Schema.

/// Rewrites one schema node (see the module documentation). `strict`: report undeclared fields
/// here (Kubernetes mode, structural part). `root`: the object's root, whose `metadata` is
/// ObjectMeta, checked by [`check_object_meta`] instead of the schema (as is the `metadata` of
/// an embedded resource).
fn prepare(node: &mut Value, strict: bool, root: bool) {
    let Some(s) = node.as_object_mut() else {
        return;
    };
    let embedded = s.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true));
    if embedded {
        let properties = s
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(properties) = properties.as_object_mut() {
            for (name, kind) in [
                ("apiVersion", "string"),
                ("kind", "string"),
                ("metadata", "object"),
            ] {
                properties
                    .entry(name)
                    .or_insert_with(|| json!({ "type": kind }));
            }
        }
    }
    for (key, child) in s.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" => {
                let embedded_meta = key == "properties";
                for (name, field) in child.as_object_mut().into_iter().flatten() {
                    // ObjectMeta is checked on its own (the CRD only says `type: object`).
                    let meta = embedded_meta && name == "metadata" && (root || embedded);
                    prepare(field, strict && !meta, false);
                }
            }
            "additionalProperties" => prepare(child, strict, false),
            "items" => match child {
                Value::Array(items) => {
                    for item in items {
                        prepare(item, strict, false);
                    }
                }
                item => prepare(item, strict, false),
            },
            "anyOf" | "oneOf" | "allOf" => {
                for branch in child.as_array_mut().into_iter().flatten() {
                    prepare(branch, false, false);
                }
            }
            "not" => prepare(child, false, false),
            "definitions" | "$defs" => {
                for (_, def) in child.as_object_mut().into_iter().flatten() {
                    prepare(def, strict, false);
                }
            }
            _ => {}
        }
    }
    integer_format_range(s);
    if strict && is_object_node(s) && !s.contains_key("additionalProperties") {
        let preserve = s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        if !preserve {
            s.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
    if s.get("nullable") == Some(&Value::Bool(true)) {
        allow_null(node);
    }
}

/// A node that describes an object: it declares `properties` or says `type: object`.
fn is_object_node(s: &Map<String, Value>) -> bool {
    s.contains_key("properties") || s.get("type").and_then(Value::as_str) == Some("object")
}

/// `format: int32` / `int64` as a range on numbers.
fn integer_format_range(s: &mut Map<String, Value>) {
    let (min, max) = match s.get("format").and_then(Value::as_str) {
        Some("int32") => (json!(i32::MIN), json!(i32::MAX)),
        Some("int64") => (json!(i64::MIN), json!(i64::MAX)),
        _ => return,
    };
    let range = json!({ "minimum": min, "maximum": max });
    match s.get_mut("allOf") {
        Some(Value::Array(all)) => all.push(range),
        // A malformed `allOf` is left for the crate to report.
        Some(_) => {}
        None => {
            s.insert("allOf".into(), Value::Array(vec![range]));
        }
    }
}

/// OpenAPI's `nullable: true` in JSON Schema terms.
fn allow_null(node: &mut Value) {
    let Some(s) = node.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(allowed)) = s.get_mut("enum")
        && !allowed.contains(&Value::Null)
    {
        allowed.push(Value::Null);
    }
    match s.get_mut("type") {
        Some(Value::String(single)) => {
            let single = std::mem::take(single);
            s.insert("type".into(), json!([single, "null"]));
        }
        Some(Value::Array(types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
        }
        _ => {
            let rest = std::mem::take(node);
            *node = json!({ "anyOf": [{ "type": "null" }, rest] });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Custom keywords.

/// `x-kubernetes-int-or-string: true`: an integer or a string.
struct IntOrString(bool);

impl<'i> Keyword<'i> for IntOrString {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        if self.is_valid(instance) {
            Ok(())
        } else {
            Err(ValidationError::custom(format!(
                "expected integer or string, got {}",
                kind_of(instance)
            )))
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        !self.0 || is_integer(instance) || instance.is_string()
    }
}

/// `x-kubernetes-list-type`: `set` lists hold unique items, `map` lists unique keys.
enum ListType {
    /// `atomic` (or not a list type we check).
    Atomic,
    Set,
    Map(Vec<String>),
}

fn list_type<'a>(
    parent: &'a Map<String, Value>,
    value: &'a Value,
    _: Location,
) -> Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>> {
    let kind = match value.as_str() {
        Some("set") => ListType::Set,
        Some("map") => {
            let keys: Vec<String> = parent
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|keys| {
                    keys.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if keys.is_empty() {
                return Err(ValidationError::custom(
                    "x-kubernetes-list-type map needs x-kubernetes-list-map-keys",
                ));
            }
            ListType::Map(keys)
        }
        Some("atomic") => ListType::Atomic,
        _ => {
            return Err(ValidationError::custom(format!(
                "x-kubernetes-list-type must be atomic, set or map, got {value}"
            )));
        }
    };
    Ok(Box::new(kind))
}

impl ListType {
    /// `(index, message)` for every item that repeats an earlier one.
    fn duplicates(&self, items: &[Value]) -> Vec<(usize, String)> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let (key, shown) = match self {
                ListType::Atomic => return out,
                ListType::Set => (canonical(item), short(item)),
                ListType::Map(keys) => {
                    // A non-object item is reported by `items`.
                    let Some(fields) = item.as_object() else {
                        continue;
                    };
                    let mut key = String::new();
                    let mut shown = Vec::new();
                    for k in keys {
                        let v = fields.get(k).unwrap_or(&Value::Null);
                        key.push_str(&canonical(v));
                        key.push(SUB_PATH);
                        shown.push(format!("{k}={}", short(v)));
                    }
                    (key, shown.join(", "))
                }
            };
            if let Some(first) = seen.insert(key, i) {
                let what = match self {
                    ListType::Map(_) => "entry for",
                    _ => "item",
                };
                let kind = match self {
                    ListType::Map(_) => "map",
                    _ => "set",
                };
                out.push((
                    i,
                    format!(
                        "duplicate {what} {shown} (first at index {first}; x-kubernetes-list-type: {kind})"
                    ),
                ));
            }
        }
        out
    }
}

impl<'i> Keyword<'i> for ListType {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        match self.iter_errors(instance).next() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        instance
            .as_array()
            .is_none_or(|items| self.duplicates(items).is_empty())
    }

    fn iter_errors(
        &self,
        instance: &'i Value,
    ) -> Box<dyn Iterator<Item = ValidationError<'i>> + 'i> {
        let found = instance
            .as_array()
            .map(|items| self.duplicates(items))
            .unwrap_or_default();
        Box::new(
            found
                .into_iter()
                .map(|(i, message)| ValidationError::custom(format!("[{i}]{SUB_PATH}{message}"))),
        )
    }
}

/// `x-kubernetes-embedded-resource: true`: a Kubernetes object inside the value.
struct EmbeddedResource(bool);

impl EmbeddedResource {
    fn problems(&self, instance: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        let Some(fields) = instance.as_object().filter(|_| self.0) else {
            return out;
        };
        // Their types are declared by `prepare`; Kubernetes also requires them.
        for key in ["apiVersion", "kind"] {
            if !fields.contains_key(key) {
                out.push(Violation::new(key, "required field is missing"));
            }
        }
        if let Some(meta) = fields.get("metadata") {
            check_object_meta(meta, "metadata", false, &mut out);
        }
        out
    }
}

impl<'i> Keyword<'i> for EmbeddedResource {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        match self.iter_errors(instance).next() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        self.problems(instance).is_empty()
    }

    fn iter_errors(
        &self,
        instance: &'i Value,
    ) -> Box<dyn Iterator<Item = ValidationError<'i>> + 'i> {
        Box::new(
            self.problems(instance)
                .into_iter()
                .map(|v| ValidationError::custom(format!("{}{SUB_PATH}{}", v.path, v.message))),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Errors → violations.

/// One crate error as violations (an `additionalProperties` error names several fields).
fn convert(error: &ValidationError<'_>, root: &Value) -> Vec<Violation> {
    let path = dotted(error.instance_path(), root);
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            vec![Violation::new(
                key_path(&path, &name),
                "required field is missing",
            )]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| {
                Violation::new(
                    key_path(&path, name),
                    format!("unknown field {name:?} (the schema does not declare it)"),
                )
            })
            .collect(),
        ValidationErrorKind::Type { kind } => {
            let expected: Vec<String> = match kind {
                TypeKind::Single(t) => vec![t.to_string()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
            };
            vec![Violation::new(
                path,
                format!(
                    "expected {}, got {}",
                    expected.join(" or "),
                    kind_of(error.instance())
                ),
            )]
        }
        ValidationErrorKind::Custom { message, .. } => match message.split_once(SUB_PATH) {
            Some((sub, message)) => vec![Violation::new(join_sub(&path, sub), message)],
            None => vec![Violation::new(path, message.clone())],
        },
        _ => vec![Violation::new(path, error.to_string())],
    }
}

/// A JSON pointer into `root` as a dotted path (`spec.resourceGroups[0].flavors`): a segment is
/// an index where the value there is a list, a key otherwise.
fn dotted(pointer: &Location, root: &Value) -> String {
    let pointer = pointer.to_string();
    let mut path = String::new();
    let mut at = Some(root);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match (at, segment.parse::<usize>()) {
            (Some(Value::Array(items)), Ok(index)) => {
                path = index_path(&path, index);
                at = items.get(index);
            }
            (current, _) => {
                path = key_path(&path, &segment);
                at = current.and_then(|v| v.get(&segment));
            }
        }
    }
    path
}

/// `parent` followed by a relative path (`[3]`, `metadata.name`).
fn join_sub(parent: &str, sub: &str) -> String {
    if parent.is_empty() || sub.is_empty() || sub.starts_with('[') {
        format!("{parent}{sub}")
    } else {
        format!("{parent}.{sub}")
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Integral numbers count as integers however they were written (`64` or `64.0`), as in
/// JSON Schema.
pub(super) fn is_integer(value: &Value) -> bool {
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

pub(super) fn kind_of(value: &Value) -> &'static str {
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

/// A string equal for values JSON Schema calls equal (`1` and `1.0`), for hashing list items.
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

/// `parent.key`, or `parent["odd/key"]` for keys that are not plain identifiers.
pub(super) fn key_path(parent: &str, key: &str) -> String {
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

pub(super) fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn pointers_become_dotted_paths_by_the_value_they_walk() {
        let value = json!({"spec": {"groups": [{"0": {"a/b": 1}}]}});
        let pointer = Location::new()
            .join("spec")
            .join("groups")
            .join(0usize)
            .join("0")
            .join("a/b");
        assert_eq!(dotted(&pointer, &value), r#"spec.groups[0]["0"]["a/b"]"#);
    }

    #[test]
    fn list_items_compare_by_value() {
        assert_eq!(canonical(&json!(1)), canonical(&json!(1.0)));
        assert_ne!(canonical(&json!(1)), canonical(&json!("1")));
        assert_eq!(
            ListType::Set.duplicates(&[json!(1), json!(1.0)]).len(),
            1,
            "1 and 1.0 are the same set item"
        );
    }

    #[test]
    fn structural_objects_refuse_undeclared_fields_only_outside_junctors() {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {"a": {"type": "string"}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "either": {"anyOf": [{"type": "object", "properties": {}}]}
            }
        });
        prepare(&mut schema, true, true);
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(
            schema["properties"]["spec"]["additionalProperties"],
            json!(false)
        );
        assert!(
            schema["properties"]["free"]
                .get("additionalProperties")
                .is_none()
        );
        assert!(
            schema["properties"]["either"]["anyOf"][0]
                .get("additionalProperties")
                .is_none()
        );
    }
}
