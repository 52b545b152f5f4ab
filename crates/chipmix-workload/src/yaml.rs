//! A YAML document as a tree where every node knows its line and column, and a decoder that
//! collects every problem it meets instead of stopping at the first.
//!
//! serde would stop at the first error; a user fixing a portfolio wants all of them at once,
//! each with file, line, column and field path. So the portfolio is decoded by hand from this
//! tree, and [`Decoder`] keeps the list of [`Diagnostic`]s.

use chipmix_catalog::limits::Limit;
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;
use std::fmt;

/// A 1-based position in the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

impl Node {
    /// What the node is, for "expected X, found Y" messages.
    pub fn kind(&self) -> String {
        match &self.value {
            Value::Null => "nothing (null)".into(),
            Value::Bool(b) => format!("boolean `{b}`"),
            Value::Int(i) => format!("number `{i}`"),
            Value::Float(f) => format!("number `{f}`"),
            Value::Str(s) => format!("string \"{s}\""),
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
        }
    }
}

/// How serious a diagnostic is. Errors make the input unusable; warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in an input file, located at file, line, column and field path
/// (`workloads[2].slo.tpot_ms`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.line == 0 {
            write!(f, "{}: {sev}: ", self.file)?;
        } else {
            write!(f, "{}:{}:{}: {sev}: ", self.file, self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Parses one YAML document. A syntax error is returned with its position.
pub fn parse(text: &str) -> Result<Node, (Pos, String)> {
    let mut builder = Builder::default();
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            let m = e.marker();
            let mut pos = Pos {
                line: m.line() as u64,
                column: m.col() as u64 + 1,
            };
            // The scanner notices a tab where the scalar before it ends; point at the tab.
            if e.info().contains("tab")
                && let Some((i, line)) = text
                    .lines()
                    .enumerate()
                    .skip(m.line().saturating_sub(1))
                    .find(|(_, l)| l.trim_start_matches(' ').starts_with('\t'))
            {
                pos = Pos {
                    line: i as u64 + 1,
                    column: (line.len() - line.trim_start_matches(' ').len()) as u64 + 1,
                };
            }
            (pos, e.info().to_string())
        })?;
        let pos = Pos {
            line: span.start.line() as u64,
            column: span.start.col() as u64 + 1,
        };
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err((pos, "only one YAML document per file is allowed".into()));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                builder.count(1, pos)?;
                let forced_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let value = if style == ScalarStyle::Plain && !forced_str {
                    resolve_plain(&text)
                } else {
                    Value::Str(text.into_owned())
                };
                builder.push(Node { value, pos }, anchor)?;
            }
            Event::SequenceStart(anchor, _) => builder.open(Value::Seq(Vec::new()), pos, anchor)?,
            Event::MappingStart(anchor, _) => builder.open(Value::Map(Vec::new()), pos, anchor)?,
            Event::SequenceEnd | Event::MappingEnd => builder.close()?,
            Event::Alias(id) => {
                let n = builder
                    .anchors
                    .get(&id)
                    .map(|(_, n)| *n)
                    .ok_or((pos, "alias to an unknown anchor".to_string()))?;
                // Counted before the copy is made, so an expansion bomb stops here.
                builder.count(n, pos)?;
                let node = builder.anchors[&id].0.clone();
                builder.push(node, 0)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
    Ok(builder.root.unwrap_or(Node {
        value: Value::Null,
        pos: Pos { line: 1, column: 1 },
    }))
}

#[derive(Default)]
struct Builder {
    /// Open collections, with the anchor to record when each closes and, for a mapping, the
    /// key waiting for its value.
    stack: Vec<(Node, usize, Option<Key>)>,
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    /// Nodes in the document so far, aliases expanded: bounded, so that a few lines of nested
    /// aliases ("billion laughs") cannot make the reader build an enormous tree.
    nodes: usize,
}

/// Far above any real portfolio (frontier-lab has a few hundred nodes).
const MAX_NODES: usize = 1_000_000;

fn size(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| 1 + size(v)).sum(),
        _ => 0,
    }
}

impl Builder {
    fn count(&mut self, n: usize, pos: Pos) -> Result<(), (Pos, String)> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err((
                pos,
                format!(
                    "the document has more than {MAX_NODES} nodes (aliases counted as expanded); a portfolio is far smaller"
                ),
            ));
        }
        Ok(())
    }

    fn open(&mut self, value: Value, pos: Pos, anchor: usize) -> Result<(), (Pos, String)> {
        self.count(1, pos)?;
        self.stack.push((Node { value, pos }, anchor, None));
        Ok(())
    }

    fn close(&mut self) -> Result<(), (Pos, String)> {
        let (node, anchor, _) = self.stack.pop().expect("parser balances start and end");
        self.push(node, anchor)
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), (Pos, String)> {
        if anchor != 0 {
            let n = size(&node);
            self.anchors.insert(anchor, (node.clone(), n));
        }
        let Some((parent, _, pending_key)) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        match &mut parent.value {
            Value::Seq(items) => items.push(node),
            Value::Map(entries) => match pending_key.take() {
                Some(key) => entries.push((key, node)),
                None => {
                    let name = match node.value {
                        Value::Str(s) => s,
                        Value::Int(i) => i.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_string(),
                        Value::Seq(_) | Value::Map(_) => {
                            return Err((node.pos, "mapping keys must be plain names".into()));
                        }
                    };
                    *pending_key = Some(Key {
                        name,
                        pos: node.pos,
                    });
                }
            },
            _ => unreachable!("only collections are pushed on the stack"),
        }
        Ok(())
    }
}

/// Sets the number at a dotted `path` (`policy.max_vendor_share`, `policy.resilience.min_served`,
/// `workloads.chat-70b.peak_requests_per_s`: a list entry is picked by its `name`), creating
/// missing mapping keys. The new node takes the position of the node it replaces or of its
/// parent, so the decoder's messages about it still point into the file.
pub fn set_number(root: &mut Node, path: &str, value: f64) -> Result<(), String> {
    let mut node = root;
    let mut walked = String::new();
    for segment in path.split('.') {
        if segment.is_empty() {
            return Err(format!("`{path}` is not a field path (empty segment)"));
        }
        let pos = node.pos;
        if matches!(node.value, Value::Null) {
            node.value = Value::Map(Vec::new());
        }
        node = match &mut node.value {
            Value::Map(entries) => {
                let at = match entries.iter().position(|(k, _)| k.name == segment) {
                    Some(i) => i,
                    None => {
                        entries.push((
                            Key {
                                name: segment.to_string(),
                                pos,
                            },
                            Node {
                                value: Value::Null,
                                pos,
                            },
                        ));
                        entries.len() - 1
                    }
                };
                &mut entries[at].1
            }
            Value::Seq(items) => items
                .iter_mut()
                .find(|item| match &item.value {
                    Value::Map(e) => e
                        .iter()
                        .any(|(k, v)| k.name == "name" && v.value == Value::Str(segment.into())),
                    _ => false,
                })
                .ok_or_else(|| format!("`{walked}` has no entry named `{segment}`"))?,
            other => {
                return Err(format!(
                    "`{walked}` is {}, not a mapping: cannot set `{path}`",
                    Node {
                        value: other.clone(),
                        pos
                    }
                    .kind()
                ));
            }
        };
        walked = join_path(&walked, segment);
    }
    node.value = if value.fract() == 0.0 && value.abs() < 9e15 {
        Value::Int(value as i64)
    } else {
        Value::Float(value)
    };
    Ok(())
}

/// YAML 1.2 core-schema resolution of a plain scalar, plus `_` digit separators
/// (`50_000_000`), which YAML 1.1 allowed and people write.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | "+.inf" | ".Inf" | ".INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first_is_numeric = text
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if first_is_numeric && !text.contains("__") && !text.ends_with('_') {
        let cleaned: String = text.chars().filter(|&c| c != '_').collect();
        if let Some(hex) = cleaned.strip_prefix("0x")
            && let Ok(i) = i64::from_str_radix(hex, 16)
        {
            return Value::Int(i);
        }
        if let Some(oct) = cleaned.strip_prefix("0o")
            && let Ok(i) = i64::from_str_radix(oct, 8)
        {
            return Value::Int(i);
        }
        if cleaned
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '+')
            && let Ok(i) = cleaned.parse::<i64>()
        {
            return Value::Int(i);
        }
        if cleaned
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
            && let Ok(f) = cleaned.parse::<f64>()
        {
            return Value::Float(f);
        }
    }
    Value::Str(text.to_string())
}

/// Collects diagnostics while a tree is decoded.
pub struct Decoder {
    pub file: String,
    pub diagnostics: Vec<Diagnostic>,
}

/// A mapping whose keys have been checked against the allowed ones.
pub struct Fields<'n> {
    pub pos: Pos,
    pub path: String,
    entries: &'n [(Key, Node)],
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
            .filter(|v| v.value != Value::Null)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn child_path(&self, key: &str) -> String {
        join_path(&self.path, key)
    }
}

pub fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Decoder {
    pub fn new(file: &str) -> Self {
        Decoder {
            file: file.to_string(),
            diagnostics: Vec::new(),
        }
    }

    pub fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, pos, path, message.into());
    }

    pub fn warning(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, pos, path, message.into());
    }

    fn push(&mut self, severity: Severity, pos: Pos, path: &str, message: String) {
        self.diagnostics.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// Checks that `node` is a mapping whose keys are all in `allowed` (unknown keys get a
    /// did-you-mean, repeated keys an error).
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        self.fields_except(node, path, allowed, &[], "")
    }

    /// Like [`Decoder::fields`], but keys in `elsewhere` get `elsewhere_message` instead of the
    /// unknown-field error (for fields that belong to another kind of entry).
    pub fn fields_except<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
        elsewhere: &[&str],
        elsewhere_message: &str,
    ) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.error(
                node.pos,
                path,
                format!("expected a mapping of fields, found {}", node.kind()),
            );
            return None;
        };
        for (i, (key, _)) in entries.iter().enumerate() {
            let key_path = join_path(path, &key.name);
            if elsewhere.contains(&key.name.as_str()) {
                self.error(key.pos, &key_path, elsewhere_message);
            } else if !allowed.contains(&key.name.as_str()) {
                self.error(
                    key.pos,
                    &key_path,
                    format!(
                        "unknown field{} (allowed here: {})",
                        chipmix_catalog::did_you_mean(&key.name, allowed),
                        allowed.join(", ")
                    ),
                );
            } else if entries[..i].iter().any(|(k, _)| k.name == key.name) {
                self.error(key.pos, &key_path, "this field is given twice");
            }
        }
        Some(Fields {
            pos: node.pos,
            path: path.to_string(),
            entries,
        })
    }

    /// A list; reports anything else.
    pub fn seq<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.error(
                    node.pos,
                    path,
                    format!("expected a list, found {}", node.kind()),
                );
                None
            }
        }
    }

    pub fn require<'n>(&mut self, f: &Fields<'n>, key: &str) -> Option<&'n Node> {
        let node = f.get(key);
        if node.is_none() {
            self.error(
                f.pos,
                &f.child_path(key),
                format!("missing required field `{key}`"),
            );
        }
        node
    }

    pub fn str_value(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Str(_) => {
                self.error(node.pos, path, "must not be empty");
                None
            }
            // Names like `2024` or versions are fine as strings.
            Value::Int(i) => Some(i.to_string()),
            _ => {
                self.error(
                    node.pos,
                    path,
                    format!("expected a string, found {}", node.kind()),
                );
                None
            }
        }
    }

    pub fn opt_str(&mut self, f: &Fields<'_>, key: &str) -> Option<String> {
        let node = f.get(key)?;
        self.str_value(node, &f.child_path(key))
    }

    pub fn req_str(&mut self, f: &Fields<'_>, key: &str) -> Option<String> {
        let node = self.require(f, key)?;
        self.str_value(node, &f.child_path(key))
    }

    /// A number (with optional `k`/`M`/`B`/`T` suffix when written as a string).
    pub fn number_value(&mut self, node: &Node, path: &str) -> Option<f64> {
        let v = match &node.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => chipmix_catalog::limits::parse_quantity(s),
            _ => None,
        };
        match v {
            Some(v) if v.is_finite() => Some(v),
            Some(_) => {
                self.error(node.pos, path, "must be a finite number");
                None
            }
            None => {
                self.error(
                    node.pos,
                    path,
                    format!("expected a number, found {}", node.kind()),
                );
                None
            }
        }
    }

    /// A number within `limit` (finite, in its physical range), else an error at `node`.
    pub fn number_in(&mut self, node: &Node, path: &str, limit: &Limit) -> Option<f64> {
        let v = self.number_value(node, path)?;
        match limit.check(v) {
            Ok(v) => Some(v),
            Err(complaint) => {
                self.error(node.pos, path, complaint);
                None
            }
        }
    }

    /// A whole number within `limit`.
    pub fn count_in(&mut self, node: &Node, path: &str, limit: &Limit) -> Option<u32> {
        self.number_in(node, path, limit).map(|v| v as u32)
    }

    /// The number at `key` within `limit`, if the key is present.
    pub fn opt_number(&mut self, f: &Fields<'_>, key: &str, limit: &Limit) -> Option<f64> {
        let node = f.get(key)?;
        self.number_in(node, &f.child_path(key), limit)
    }

    pub fn req_number(&mut self, f: &Fields<'_>, key: &str, limit: &Limit) -> Option<f64> {
        self.require(f, key)?;
        self.opt_number(f, key, limit)
    }

    /// The whole number at `key` within `limit` (a count limit), if the key is present.
    pub fn opt_count(&mut self, f: &Fields<'_>, key: &str, limit: &Limit) -> Option<u32> {
        debug_assert!(limit.whole);
        self.opt_number(f, key, limit).map(|v| v as u32)
    }

    pub fn req_count(&mut self, f: &Fields<'_>, key: &str, limit: &Limit) -> Option<u32> {
        self.require(f, key)?;
        self.opt_count(f, key, limit)
    }

    pub fn opt_bool(&mut self, f: &Fields<'_>, key: &str) -> Option<bool> {
        let node = f.get(key)?;
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.error(
                    node.pos,
                    &f.child_path(key),
                    format!("expected true or false, found {}", node.kind()),
                );
                None
            }
        }
    }

    /// A list of strings; a single string is taken as a one-element list. Returns each item
    /// with its position so callers can check values individually.
    pub fn opt_str_list(
        &mut self,
        f: &Fields<'_>,
        key: &str,
    ) -> Option<Vec<(String, Pos, String)>> {
        let node = f.get(key)?;
        let path = f.child_path(key);
        if let Value::Str(_) = node.value {
            return self
                .str_value(node, &path)
                .map(|s| vec![(s, node.pos, path.clone())]);
        }
        let items = self.seq(node, &path)?;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            if let Some(s) = self.str_value(item, &item_path) {
                out.push((s, item.pos, item_path));
            }
        }
        Some(out)
    }

    /// One of a fixed set of words.
    pub fn opt_choice<T: Copy>(
        &mut self,
        f: &Fields<'_>,
        key: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let node = f.get(key)?;
        let path = f.child_path(key);
        let s = self.str_value(node, &path)?;
        match choices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&s))
        {
            Some((_, v)) => Some(*v),
            None => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.error(
                    node.pos,
                    &path,
                    format!(
                        "`{s}` is not one of: {}{}",
                        names.join(", "),
                        chipmix_catalog::did_you_mean(&s, &names)
                    ),
                );
                None
            }
        }
    }
}
