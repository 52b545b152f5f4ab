//! Reading CSV tables by header name, with every error located at file, line and column name.

use crate::DataError;
use crate::limits::Limit;
use std::collections::HashMap;
use std::str::FromStr;

/// A CSV file read whole, with its header indexed by name.
pub(crate) struct Table {
    pub file: String,
    headers: HashMap<String, usize>,
    pub header_names: Vec<String>,
    rows: Vec<(u64, csv::StringRecord)>,
}

impl Table {
    pub fn parse(file: &str, text: &str) -> Result<Table, DataError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header_record = reader.headers().map_err(|e| csv_error(file, &e))?.clone();
        let header_names: Vec<String> = header_record.iter().map(|h| h.to_string()).collect();
        if header_names.iter().all(|h| h.is_empty()) {
            return Err(DataError::new(file, 1, None, "the file has no header row"));
        }
        let headers = header_names
            .iter()
            .enumerate()
            .map(|(i, h)| (h.to_ascii_lowercase(), i))
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(file, &e))?;
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            if record.iter().all(|f| f.is_empty()) {
                continue;
            }
            rows.push((line, record));
        }
        Ok(Table {
            file: file.to_string(),
            headers,
            header_names,
            rows,
        })
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.headers.contains_key(&name.to_ascii_lowercase())
    }

    /// Fails naming every required column that is missing.
    pub fn require_columns(&self, names: &[&str]) -> Result<(), DataError> {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !self.has_column(n))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(DataError::new(
                &self.file,
                1,
                None,
                format!(
                    "missing column(s): {} (the header has: {})",
                    missing.join(", "),
                    self.header_names.join(", ")
                ),
            ))
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |(line, record)| Row {
            table: self,
            line: *line,
            record,
        })
    }
}

/// One data row; getters name the file, line and column in their errors.
pub(crate) struct Row<'a> {
    table: &'a Table,
    pub line: u64,
    record: &'a csv::StringRecord,
}

impl Row<'_> {
    pub fn error(&self, field: &str, message: impl Into<String>) -> DataError {
        DataError::new(&self.table.file, self.line, Some(field), message)
    }

    /// The trimmed cell, `""` when the column is absent.
    pub fn str(&self, field: &str) -> &str {
        self.table
            .headers
            .get(&field.to_ascii_lowercase())
            .and_then(|&i| self.record.get(i))
            .unwrap_or("")
    }

    pub fn opt_str(&self, field: &str) -> Option<&str> {
        Some(self.str(field)).filter(|s| !s.is_empty())
    }

    pub fn req_str(&self, field: &str) -> Result<&str, DataError> {
        self.opt_str(field)
            .ok_or_else(|| self.error(field, "required, but empty"))
    }

    pub fn opt_parse<T: FromStr>(&self, field: &str) -> Result<Option<T>, DataError>
    where
        T::Err: std::fmt::Display,
    {
        match self.opt_str(field) {
            None => Ok(None),
            Some(s) => s
                .parse::<T>()
                .map(Some)
                .map_err(|e| self.error(field, format!("`{s}`: {e}"))),
        }
    }

    /// A number that must lie within `limit` (finite, in range) when present.
    pub fn opt_number(&self, field: &str, limit: &Limit) -> Result<Option<f64>, DataError> {
        let value: Option<f64> = self.opt_parse(field)?;
        value
            .map(|v| limit.check(v).map_err(|m| self.error(field, m)))
            .transpose()
    }

    pub fn req_number(&self, field: &str, limit: &Limit) -> Result<f64, DataError> {
        self.opt_number(field, limit)?
            .ok_or_else(|| self.error(field, "required, but empty"))
    }

    /// A whole number within `limit` when present; accepts `8.0` as SkyPilot writes counts.
    pub fn opt_count(&self, field: &str, limit: &Limit) -> Result<Option<u32>, DataError> {
        let value: Option<f64> = self.opt_parse(field)?;
        value
            .map(|v| limit.check_u32(v).map_err(|m| self.error(field, m)))
            .transpose()
    }
}

fn csv_error(file: &str, e: &csv::Error) -> DataError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields like the header, found {len}"),
        csv::ErrorKind::Utf8 { .. } => "the file is not valid UTF-8".to_string(),
        _ => e.to_string(),
    };
    DataError::new(file, line, None, message)
}
