//! The user's override file: negotiated prices, capacity limits and extra offerings.
//!
//! A CSV with a header naming any of these columns (only the first three are required):
//!
//! | column | meaning |
//! |---|---|
//! | `provider`, `instance_type`, `region` | which offering; `region = *` means every region |
//! | `chip`, `chips_per_instance` | required for a new offering |
//! | `usd_per_hour`, `spot_usd_per_hour` | price of one instance |
//! | `capacity_instances` | most instances that can be had |
//! | `vcpus`, `memory_gib`, `network_gbps` | host facts |
//! | `source`, `notes` | where the numbers come from (shown wherever they are used) |

use crate::limits;
use crate::table::Table;
use crate::{DataError, OfferingOverride, did_you_mean};

/// Every column an override file may have.
pub const COLUMNS: &[&str] = &[
    "provider",
    "instance_type",
    "region",
    "chip",
    "chips_per_instance",
    "usd_per_hour",
    "spot_usd_per_hour",
    "capacity_instances",
    "vcpus",
    "memory_gib",
    "network_gbps",
    "source",
    "notes",
];

/// Parses an override file, reporting every bad cell at once.
pub fn parse(file: &str, text: &str) -> Result<Vec<OfferingOverride>, Vec<DataError>> {
    let table = Table::parse(file, text).map_err(|e| vec![e])?;
    let mut errors: Vec<DataError> = table
        .header_names
        .iter()
        .filter(|h| !COLUMNS.contains(&h.to_ascii_lowercase().as_str()))
        .map(|h| {
            DataError::new(
                file,
                1,
                Some(h),
                format!(
                    "unknown column{} (columns: {})",
                    did_you_mean(h, COLUMNS),
                    COLUMNS.join(", ")
                ),
            )
        })
        .collect();
    if let Err(e) = table.require_columns(&["provider", "instance_type", "region"]) {
        errors.push(e);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut out = Vec::new();
    for row in table.rows() {
        let parsed = (|| -> Result<OfferingOverride, DataError> {
            Ok(OfferingOverride {
                provider: row.req_str("provider")?.to_string(),
                instance_type: row.req_str("instance_type")?.to_string(),
                region: row.req_str("region")?.to_string(),
                chip: row.opt_str("chip").map(str::to_string),
                chips_per_instance: row
                    .opt_count("chips_per_instance", &limits::CHIPS_PER_INSTANCE)?,
                usd_per_hour: row.opt_number("usd_per_hour", &limits::USD_PER_HOUR)?,
                spot_usd_per_hour: row.opt_number("spot_usd_per_hour", &limits::USD_PER_HOUR)?,
                capacity_instances: row
                    .opt_count("capacity_instances", &limits::CAPACITY_INSTANCES)?,
                vcpus: row.opt_count("vcpus", &limits::VCPUS)?,
                memory_gib: row.opt_number("memory_gib", &limits::MEMORY_GIB)?,
                network_gbps: row.opt_number("network_gbps", &limits::NETWORK_GBPS)?,
                source: row.opt_str("source").map(str::to_string),
                notes: row.opt_str("notes").map(str::to_string),
                origin: format!("{file}:{}", row.line),
            })
        })();
        match parsed {
            Ok(o) => out.push(o),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
