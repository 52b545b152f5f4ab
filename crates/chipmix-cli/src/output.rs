//! Output formats shared by every command: an aligned table for people, JSON and CSV for
//! scripts.

use crate::{CmdResult, Failure};
pub use chipmix_plan::plan::usd;
use comfy_table::{ContentArrangement, Table, presets::NOTHING};
use serde::Serialize;
use std::io::Write;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

/// Rows to print: a header, one string row per item for table/CSV, and the items themselves
/// for JSON (which keeps numbers as numbers and `null` for missing values).
pub struct Listing<'a, T: Serialize> {
    pub header: &'a [&'a str],
    pub rows: Vec<Vec<String>>,
    pub items: &'a [T],
}

pub fn print_listing<T: Serialize>(format: Format, listing: Listing<'_, T>) -> CmdResult {
    let mut out = std::io::stdout().lock();
    let result = match format {
        Format::Json => serde_json::to_writer_pretty(&mut out, listing.items)
            .map_err(|e| e.to_string())
            .and_then(|()| writeln!(out).map_err(|e| e.to_string())),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            std::iter::once(listing.header.iter().map(|s| s.to_string()).collect())
                .chain(listing.rows)
                .try_for_each(|r: Vec<String>| w.write_record(&r))
                .and_then(|()| w.flush().map_err(csv::Error::from))
                .map_err(|e| e.to_string())
        }
        Format::Table => {
            let mut table = new_table();
            table.set_header(listing.header.to_vec());
            for row in listing.rows {
                table.add_row(row);
            }
            writeln!(out, "{table}").map_err(|e| e.to_string())
        }
    };
    result.or_else(ignore_broken_pipe)
}

pub fn new_table() -> Table {
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    table
}

pub fn print_json<T: Serialize + ?Sized>(value: &T) -> CmdResult {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(|e| e.to_string())
        .and_then(|()| writeln!(out).map_err(|e| e.to_string()))
        .or_else(ignore_broken_pipe)
}

/// `chipmix … | head` closing the pipe early is not an error.
fn ignore_broken_pipe(message: String) -> CmdResult {
    if message.contains("Broken pipe") {
        Ok(())
    } else {
        Err(Failure::Internal(format!("writing output: {message}")))
    }
}

/// A number with at most `decimals` decimals and no trailing zeros; "" for `None`.
pub fn num(value: Option<f64>, decimals: usize) -> String {
    match value {
        None => String::new(),
        Some(v) => {
            let s = format!("{v:.decimals$}");
            if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                s
            }
        }
    }
}

/// Long text cut for a table cell; JSON and CSV keep it whole.
pub fn cell(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// Billions with two decimals: `70.55B`.
pub fn billions(n: u64) -> String {
    format!("{:.2}B", n as f64 / 1e9)
}

/// Rows as a markdown table (`align` is its separator line, e.g. `|---|---:|`) or as an aligned
/// text table, appended to `s`.
pub fn table_or_markdown(
    s: &mut String,
    markdown: bool,
    header: &[&str],
    rows: Vec<Vec<String>>,
    align: &str,
) {
    use std::fmt::Write as _;
    if markdown {
        let _ = writeln!(s, "| {} |\n{align}", header.join(" | "));
        for r in rows {
            let _ = writeln!(s, "| {} |", r.join(" | "));
        }
        let _ = writeln!(s);
    } else {
        let mut t = new_table();
        t.set_header(header.to_vec());
        for r in rows {
            t.add_row(r);
        }
        let _ = writeln!(s, "{t}");
    }
}

/// Warnings as a person reads them: the same warning about many workloads (`w1 on h100:
/// inference throughput uses default efficiencies …` for each of a thousand services) becomes
/// one line naming how many and the first few; fewer than four stay as they are. Order of
/// first appearance is kept. JSON output keeps every warning.
pub fn summarize_warnings(warnings: &[String], workloads: &[&str]) -> Vec<String> {
    // (rest of the message after the workload name, workloads) in first-appearance order.
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    let mut plain: Vec<(usize, String)> = Vec::new();
    for w in warnings {
        let name = workloads
            .iter()
            .filter(|n| {
                w.strip_prefix(**n)
                    .is_some_and(|rest| rest.starts_with(':') || rest.starts_with(" on "))
            })
            .max_by_key(|n| n.len());
        match name {
            Some(n) => {
                let rest = w[n.len()..].to_string();
                match groups.iter_mut().find(|(r, _)| *r == rest) {
                    Some((_, names)) => names.push(n),
                    None => groups.push((rest, vec![n])),
                }
            }
            None => plain.push((groups.len(), w.clone())),
        }
    }
    let mut out = Vec::new();
    let mut plain = plain.into_iter().peekable();
    for (i, (rest, names)) in groups.into_iter().enumerate() {
        while let Some((_, w)) = plain.next_if(|(at, _)| *at <= i) {
            out.push(w);
        }
        if names.len() < 4 {
            out.extend(names.iter().map(|n| format!("{n}{rest}")));
        } else {
            out.push(format!(
                "{} workloads ({}, …){rest}",
                names.len(),
                names[..3].join(", ")
            ));
        }
    }
    out.extend(plain.map(|(_, w)| w));
    out
}

#[cfg(test)]
mod warning_tests {
    use super::summarize_warnings;

    #[test]
    fn repeated_warnings_become_one_line() {
        let names: Vec<String> = (0..1000).map(|i| format!("svc-{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut warnings: Vec<String> = names
            .iter()
            .map(|n| format!("{n} on h100: inference throughput uses default efficiencies"))
            .collect();
        warnings.insert(0, "budget is tight".into());
        warnings.push("svc-7: price of aws/x/y is unconfirmed".into());
        let out = summarize_warnings(&warnings, &refs);
        assert_eq!(
            out,
            [
                "budget is tight",
                "1000 workloads (svc-0, svc-1, svc-2, …) on h100: inference throughput uses default efficiencies",
                "svc-7: price of aws/x/y is unconfirmed",
            ]
        );
    }
}
