//! Import of SkyPilot catalog files (`catalogs/v8/<cloud>/vms.csv`).
//!
//! The three clouds order their columns differently, so every column is read by its header
//! name. AWS and Azure list one row per instance type (AWS: per availability zone) with the
//! accelerator on the row. GCP lists host VMs and accelerators separately: the price of an
//! `a3-highgpu-8g` with its GPUs is the host row plus the `H100 × 8` accelerator row of the same
//! zone. TPU slices are rows of their own, priced per slice with the host included.
//!
//! Rows without an accelerator (CPU-only VMs) are not offerings and are passed over. Every other
//! row that does not become an offering is reported in [`SkyPilotImport::skipped`] with its line
//! number: an accelerator chipmix does not know, a missing price, a GPU row with no host.

use crate::limits::{self, Limit};
use crate::table::{Row, Table};
use crate::{Catalog, DataError, Offering, PriceConfidence, split_tpu_slice};
use std::collections::BTreeMap;
use std::fmt;

/// SkyPilot writes vCPUs as a decimal (`96.0`, and fractions for shared-core types).
const HOST_VCPUS: Limit = Limit {
    whole: false,
    ..limits::VCPUS
};

/// Which cloud a `vms.csv` describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    Aws,
    Azure,
    Gcp,
}

impl Cloud {
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
            Cloud::Gcp => "gcp",
        }
    }

    pub fn parse(s: &str) -> Option<Cloud> {
        match s.to_ascii_lowercase().as_str() {
            "aws" => Some(Cloud::Aws),
            "azure" => Some(Cloud::Azure),
            "gcp" => Some(Cloud::Gcp),
            _ => None,
        }
    }
}

/// A row that did not become an offering, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    pub line: u64,
    pub accelerator: String,
    pub reason: SkipReason,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SkipReason {
    UnknownAccelerator,
    NoPrice,
    /// A GCP accelerator row with no host VM row it attaches to in the same zone.
    NoHost,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            SkipReason::UnknownAccelerator => write!(
                f,
                "line {}: unknown accelerator `{}` (not in the chip catalog)",
                self.line, self.accelerator
            ),
            SkipReason::NoPrice => write!(
                f,
                "line {}: `{}` has no on-demand price",
                self.line, self.accelerator
            ),
            SkipReason::NoHost => write!(
                f,
                "line {}: `{}` has no host VM row in the same zone to attach to",
                self.line, self.accelerator
            ),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SkyPilotImport {
    pub cloud: Cloud,
    /// One offering per (instance type, region); spot is the lowest price over the region's
    /// zones.
    pub offerings: Vec<Offering>,
    pub skipped: Vec<Skipped>,
}

/// Tells the cloud from the header: AWS has `Arch`, Azure `Generation`, GCP lists `vCPUs`
/// before `AcceleratorName`.
pub fn detect_cloud(file: &str, text: &str) -> Result<Cloud, DataError> {
    let table = Table::parse(file, text)?;
    let pos = |name: &str| {
        table
            .header_names
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
    };
    if pos("InstanceType").is_none() || pos("AcceleratorName").is_none() {
        return Err(DataError::new(
            file,
            1,
            None,
            "not a SkyPilot vms.csv: no InstanceType and AcceleratorName columns",
        ));
    }
    if pos("Arch").is_some() {
        Ok(Cloud::Aws)
    } else if pos("Generation").is_some() {
        Ok(Cloud::Azure)
    } else if pos("vCPUs") < pos("AcceleratorName") {
        Ok(Cloud::Gcp)
    } else {
        Err(DataError::new(
            file,
            1,
            None,
            "cannot tell which cloud this SkyPilot vms.csv is for; name it (aws:, gcp: or azure: before the path)",
        ))
    }
}

/// Whether a CSV header looks like a SkyPilot `vms.csv`.
pub fn looks_like_skypilot(text: &str) -> bool {
    let header = text.lines().next().unwrap_or("");
    header.contains("InstanceType") && header.contains("AcceleratorName")
}

struct Acc {
    offering: Offering,
    spot: Option<f64>,
}

/// Imports a SkyPilot `vms.csv`. `cloud` is detected from the header when `None`.
pub fn import(
    catalog: &Catalog,
    file: &str,
    text: &str,
    cloud: Option<Cloud>,
) -> Result<SkyPilotImport, Vec<DataError>> {
    let cloud = match cloud {
        Some(c) => c,
        None => detect_cloud(file, text).map_err(|e| vec![e])?,
    };
    let table = Table::parse(file, text).map_err(|e| vec![e])?;
    table
        .require_columns(&[
            "InstanceType",
            "AcceleratorName",
            "AcceleratorCount",
            "Price",
            "Region",
        ])
        .map_err(|e| vec![e])?;
    let source = format!("SkyPilot catalog {file}");
    let mut skipped = Vec::new();
    let mut errors = Vec::new();
    let mut merged: BTreeMap<(String, String), Acc> = BTreeMap::new();
    let mut add = |o: Offering, spot: Option<f64>| {
        let key = (o.instance_type.clone(), o.region.clone());
        let entry = merged.entry(key).or_insert(Acc {
            offering: o,
            spot: None,
        });
        entry.spot = match (entry.spot, spot) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    };

    // GCP: host rows and accelerator rows, joined by zone and accelerator count.
    let mut gcp_hosts: Vec<(Row<'_>, String, u32)> = Vec::new();
    let mut gcp_accels: Vec<Row<'_>> = Vec::new();

    for row in table.rows() {
        let result = (|| -> Result<(), DataError> {
            let instance = row.str("InstanceType");
            let accel = row.str("AcceleratorName");
            if cloud == Cloud::Gcp {
                if instance.is_empty() && !accel.is_empty() {
                    if let Some((family, n)) = split_tpu_slice(accel) {
                        return tpu_row(catalog, &row, accel, family, n, &source, &mut skipped)
                            .map(|r| {
                                if let Some((o, spot)) = r {
                                    add(o, spot)
                                }
                            });
                    }
                    gcp_accels.push(row);
                } else if let Some((acc, n)) = gcp_host_accelerator(instance) {
                    gcp_hosts.push((row, acc.to_string(), n));
                }
                return Ok(());
            }
            if accel.is_empty() {
                return Ok(());
            }
            let Some(chip) = catalog.chip(accel) else {
                skipped.push(Skipped {
                    line: row.line,
                    accelerator: accel.to_string(),
                    reason: SkipReason::UnknownAccelerator,
                });
                return Ok(());
            };
            let Some(price) = row.opt_number("Price", &limits::USD_PER_HOUR)? else {
                skipped.push(Skipped {
                    line: row.line,
                    accelerator: format!("{instance} ({accel})"),
                    reason: SkipReason::NoPrice,
                });
                return Ok(());
            };
            let count = row
                .opt_count("AcceleratorCount", &limits::CHIPS_PER_INSTANCE)?
                .ok_or_else(|| row.error("AcceleratorCount", "required, but empty"))?;
            let spot = row
                .opt_number("SpotPrice", &limits::USD_PER_HOUR)?
                // AWS fills SpotPrice with the on-demand price in zones without spot.
                .filter(|s| (s - price).abs() > 1e-9);
            let o = Offering {
                provider: cloud.as_str().to_string(),
                instance_type: row.req_str("InstanceType")?.to_string(),
                region: row.req_str("Region")?.to_string(),
                chip: chip.id.clone(),
                chips_per_instance: count,
                vcpus: row
                    .opt_number("vCPUs", &HOST_VCPUS)?
                    .map(|v| v.round() as u32),
                memory_gib: row.opt_number("MemoryGiB", &limits::MEMORY_GIB)?,
                network_gbps: None,
                usd_per_hour: Some(price),
                spot_usd_per_hour: None,
                price_confidence: PriceConfidence::Verified,
                capacity_instances: None,
                source: source.clone(),
                notes: String::new(),
            };
            add(o, spot);
            Ok(())
        })();
        if let Err(e) = result {
            errors.push(e);
        }
    }

    if cloud == Cloud::Gcp {
        let mut used = vec![false; gcp_accels.len()];
        for (host, acc_name, n) in &gcp_hosts {
            let result = (|| -> Result<(), DataError> {
                let zone = host.str("AvailabilityZone");
                let found = gcp_accels.iter().enumerate().find(|(_, a)| {
                    a.str("AcceleratorName").eq_ignore_ascii_case(acc_name)
                        && a.str("AvailabilityZone") == zone
                        && a.str("Region") == host.str("Region")
                        && a.opt_count("AcceleratorCount", &limits::CHIPS_PER_INSTANCE)
                            .ok()
                            .flatten()
                            == Some(*n)
                });
                let Some((i, accel)) = found else {
                    return Ok(());
                };
                used[i] = true;
                let Some(chip) = catalog.chip(acc_name) else {
                    skipped.push(Skipped {
                        line: accel.line,
                        accelerator: acc_name.clone(),
                        reason: SkipReason::UnknownAccelerator,
                    });
                    return Ok(());
                };
                let (Some(host_price), Some(acc_price)) = (
                    host.opt_number("Price", &limits::USD_PER_HOUR)?,
                    accel.opt_number("Price", &limits::USD_PER_HOUR)?,
                ) else {
                    skipped.push(Skipped {
                        line: host.line,
                        accelerator: format!("{} ({acc_name})", host.str("InstanceType")),
                        reason: SkipReason::NoPrice,
                    });
                    return Ok(());
                };
                let spot = match (
                    host.opt_number("SpotPrice", &limits::USD_PER_HOUR)?,
                    accel.opt_number("SpotPrice", &limits::USD_PER_HOUR)?,
                ) {
                    (Some(h), Some(a)) => Some(h + a),
                    _ => None,
                };
                let o = Offering {
                    provider: "gcp".to_string(),
                    instance_type: host.req_str("InstanceType")?.to_string(),
                    region: host.req_str("Region")?.to_string(),
                    chip: chip.id.clone(),
                    chips_per_instance: *n,
                    vcpus: host
                        .opt_number("vCPUs", &HOST_VCPUS)?
                        .map(|v| v.round() as u32),
                    memory_gib: host.opt_number("MemoryGiB", &limits::MEMORY_GIB)?,
                    network_gbps: None,
                    usd_per_hour: Some(host_price + acc_price),
                    spot_usd_per_hour: None,
                    price_confidence: PriceConfidence::Verified,
                    capacity_instances: None,
                    source: source.clone(),
                    notes: format!("host {host_price} + {n}x {acc_name} {acc_price} USD/h"),
                };
                add(o, spot);
                Ok(())
            })();
            if let Err(e) = result {
                errors.push(e);
            }
        }
        for (accel, used) in gcp_accels.iter().zip(used) {
            if used {
                continue;
            }
            let name = accel.str("AcceleratorName");
            let reason = if catalog.chip(name).is_none() {
                SkipReason::UnknownAccelerator
            } else {
                SkipReason::NoHost
            };
            skipped.push(Skipped {
                line: accel.line,
                accelerator: format!("{name} x{}", accel.str("AcceleratorCount")),
                reason,
            });
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    skipped.sort_by_key(|s| s.line);
    let offerings = merged
        .into_values()
        .map(|mut acc| {
            acc.offering.spot_usd_per_hour = acc.spot;
            acc.offering
        })
        .collect();
    Ok(SkyPilotImport {
        cloud,
        offerings,
        skipped,
    })
}

fn tpu_row(
    catalog: &Catalog,
    row: &Row<'_>,
    accel: &str,
    family: &str,
    n: u32,
    source: &str,
    skipped: &mut Vec<Skipped>,
) -> Result<Option<(Offering, Option<f64>)>, DataError> {
    let Some(chip) = catalog.chip(family) else {
        skipped.push(Skipped {
            line: row.line,
            accelerator: accel.to_string(),
            reason: SkipReason::UnknownAccelerator,
        });
        return Ok(None);
    };
    let Some(price) = row.opt_number("Price", &limits::USD_PER_HOUR)? else {
        skipped.push(Skipped {
            line: row.line,
            accelerator: accel.to_string(),
            reason: SkipReason::NoPrice,
        });
        return Ok(None);
    };
    // v5p slice names count TensorCores; the chip has `cores_per_chip` of them.
    let cores_per_chip = if chip.id == "tpu-v5p" {
        chip.cores_per_chip.unwrap_or(1)
    } else {
        1
    };
    let chips = (n / cores_per_chip).max(1);
    let o = Offering {
        provider: "gcp".to_string(),
        instance_type: accel.to_string(),
        region: row.req_str("Region")?.to_string(),
        chip: chip.id.clone(),
        chips_per_instance: chips,
        vcpus: None,
        memory_gib: None,
        network_gbps: None,
        usd_per_hour: Some(price),
        spot_usd_per_hour: None,
        price_confidence: PriceConfidence::Verified,
        capacity_instances: None,
        source: source.to_string(),
        notes: "TPU slice, priced per slice with hosts included".to_string(),
    };
    Ok(Some((
        o,
        row.opt_number("SpotPrice", &limits::USD_PER_HOUR)?,
    )))
}

/// The accelerators built into a GCP machine type (`a3-highgpu-8g` → 8 × H100). Machine types
/// that take no built-in accelerator return `None`.
pub fn gcp_host_accelerator(instance: &str) -> Option<(&'static str, u32)> {
    let gpus_in_name = || -> Option<u32> {
        let tail = instance.rsplit('-').next()?;
        tail.strip_suffix('g')?.parse().ok()
    };
    let family = instance.rsplit_once('-').map(|(f, _)| f)?;
    match family {
        "a2-highgpu" | "a2-megagpu" => Some(("A100", gpus_in_name()?)),
        "a2-ultragpu" => Some(("A100-80GB", gpus_in_name()?)),
        "a3-highgpu" | "a3-edgegpu" => Some(("H100", gpus_in_name()?)),
        "a3-megagpu" => Some(("H100-MEGA", gpus_in_name()?)),
        "a3-ultragpu" => Some(("H200", gpus_in_name()?)),
        "a4-highgpu" => Some(("B200", gpus_in_name()?)),
        "g2-standard" => {
            let vcpus: u32 = instance.rsplit('-').next()?.parse().ok()?;
            let gpus = match vcpus {
                4 | 8 | 12 | 16 | 32 => 1,
                24 => 2,
                48 => 4,
                96 => 8,
                _ => return None,
            };
            Some(("L4", gpus))
        }
        _ => None,
    }
}
