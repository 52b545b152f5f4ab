//! `chipmix catalog …`

use crate::output::{self, Format, Listing, cell, num};
use crate::{CmdResult, Failure};
use chipmix_catalog::skypilot::{self, Cloud};
use chipmix_catalog::{Catalog, Vendor, overrides};
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// List the chips: vendor, software stack, compute, memory, links, source
    Chips {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List the offerings: instance types with chips, prices and capacity
    Offerings(OfferingsArgs),
}

/// `--catalog FILE` as every command that plans takes it.
#[derive(Args, Clone, Default)]
pub struct CatalogFiles {
    /// Extra catalog data, applied in order: a SkyPilot `vms.csv` (cloud detected from the
    /// header, or named as `aws:FILE`, `gcp:FILE`, `azure:FILE`) or an override CSV (negotiated
    /// prices, capacity, extra offerings; see docs/portfolio.md)
    #[arg(long = "catalog", value_name = "FILE")]
    pub files: Vec<String>,
    /// Treat SkyPilot rows that cannot be imported (unknown accelerator, no price) as errors
    #[arg(long)]
    pub strict: bool,
}

#[derive(Args)]
pub struct OfferingsArgs {
    /// Only chips of this vendor (nvidia, aws, google, amd, intel)
    #[arg(long)]
    vendor: Option<String>,
    /// Only this chip (id or any known name: h100, Trainium2, trn2, tpu-v6e …)
    #[arg(long)]
    chip: Option<String>,
    /// Only this provider (aws, azure, gcp …)
    #[arg(long)]
    provider: Option<String>,
    /// Only this region
    #[arg(long)]
    region: Option<String>,
    #[command(flatten)]
    catalog: CatalogFiles,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub fn run(cmd: CatalogCommand) -> CmdResult {
    match cmd {
        CatalogCommand::Chips { format } => chips(format),
        CatalogCommand::Offerings(args) => offerings(args),
    }
}

/// The built-in catalog with the user's files applied. Rows a SkyPilot file could not import are
/// printed as warnings (errors with `--strict`).
pub fn load(files: &CatalogFiles) -> Result<Catalog, Failure> {
    let mut catalog = Catalog::builtin().map_err(|errors| {
        Failure::Internal(format!(
            "the built-in catalog is invalid: {}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    let lines = |errors: Vec<chipmix_catalog::DataError>| {
        Failure::BadInput(errors.iter().map(|e| format!("error: {e}")).collect())
    };
    for spec in &files.files {
        let (cloud, path) = match spec.split_once(':') {
            Some((c, p)) if Cloud::parse(c).is_some() => (Cloud::parse(c), p),
            _ => (None, spec.as_str()),
        };
        let text = chipmix_catalog::limits::read_text_file(path)
            .map_err(|e| Failure::bad(format!("error: {path}: cannot read the file: {e}")))?;
        if cloud.is_some() || skypilot::looks_like_skypilot(&text) {
            let import = skypilot::import(&catalog, path, &text, cloud).map_err(lines)?;
            if !import.skipped.is_empty() {
                let messages: Vec<String> = import
                    .skipped
                    .iter()
                    .map(|s| format!("{path}:{}", s.to_string().trim_start_matches("line ")))
                    .collect();
                if files.strict {
                    return Err(Failure::BadInput(
                        messages
                            .into_iter()
                            .map(|m| format!("error: {m}"))
                            .collect(),
                    ));
                }
                for m in &messages {
                    eprintln!("warning: {m}");
                }
                eprintln!(
                    "warning: {path}: {} row(s) not imported; --strict makes this an error",
                    import.skipped.len()
                );
            }
            catalog.upsert_offerings(import.offerings).map_err(lines)?;
        } else {
            let ovs = overrides::parse(path, &text).map_err(lines)?;
            catalog.apply_overrides(&ovs).map_err(lines)?;
        }
    }
    Ok(catalog)
}

fn chips(format: Format) -> CmdResult {
    let catalog = load(&CatalogFiles::default())?;
    let rows = catalog
        .chips()
        .iter()
        .map(|c| {
            vec![
                c.id.clone(),
                c.vendor.to_string(),
                c.software.to_string(),
                num(Some(c.bf16_tflops), 1),
                num(c.fp8_tflops, 1),
                num(Some(c.hbm_gib), 0),
                num(Some(c.hbm_tb_per_s), 3),
                num(Some(c.scaleup_gb_per_s), 0),
                c.cores_per_chip.map(|n| n.to_string()).unwrap_or_default(),
                c.confidence.as_str().to_string(),
                source_cell(format, &c.source_url),
            ]
        })
        .collect();
    output::print_listing(
        format,
        Listing {
            header: &[
                "chip",
                "vendor",
                "software",
                "bf16_tflops",
                "fp8_tflops",
                "hbm_gib",
                "hbm_tb_s",
                "scaleup_gb_s",
                "cores",
                "confidence",
                "source",
            ],
            rows,
            items: catalog.chips(),
        },
    )
}

fn offerings(args: OfferingsArgs) -> CmdResult {
    let catalog = load(&args.catalog)?;
    let vendor = args
        .vendor
        .as_deref()
        .map(|v| v.parse::<Vendor>())
        .transpose()
        .map_err(|m| Failure::bad(format!("error: --vendor: {m}")))?;
    let chip = args
        .chip
        .as_deref()
        .map(|c| catalog.resolve_chip(c).map(|c| c.id.clone()))
        .transpose()
        .map_err(|m| Failure::bad(format!("error: --chip: {m}")))?;
    if let Some(p) = &args.provider
        && !catalog
            .providers()
            .iter()
            .any(|x| x.eq_ignore_ascii_case(p))
    {
        let providers: Vec<&str> = catalog.providers().into_iter().collect();
        return Err(Failure::bad(format!(
            "error: --provider: unknown provider `{p}`{} (providers: {})",
            chipmix_catalog::did_you_mean(p, &providers),
            providers.join(", ")
        )));
    }
    let selected: Vec<_> = catalog
        .offerings()
        .iter()
        .filter(|o| vendor.is_none_or(|v| catalog.vendor_of(o) == v))
        .filter(|o| chip.as_ref().is_none_or(|c| &o.chip == c))
        .filter(|o| {
            args.provider
                .as_ref()
                .is_none_or(|p| o.provider.eq_ignore_ascii_case(p))
        })
        .filter(|o| {
            args.region
                .as_ref()
                .is_none_or(|r| o.region.eq_ignore_ascii_case(r))
        })
        .cloned()
        .collect();
    let rows = selected
        .iter()
        .map(|o| {
            let price = match o.usd_per_hour {
                Some(p)
                    if format_is_table(args.format)
                        && o.price_confidence.as_str() != "verified" =>
                {
                    format!("{} ({})", num(Some(p), 4), o.price_confidence.as_str())
                }
                Some(p) => num(Some(p), 4),
                None if format_is_table(args.format) => "NOT SOURCED".to_string(),
                None => String::new(),
            };
            vec![
                o.provider.clone(),
                o.instance_type.clone(),
                o.region.clone(),
                o.chip.clone(),
                catalog.vendor_of(o).to_string(),
                o.chips_per_instance.to_string(),
                price,
                num(o.spot_usd_per_hour, 4),
                num(o.usd_per_chip_hour(), 4),
                o.capacity_instances
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                o.price_confidence.as_str().to_string(),
                source_cell(args.format, &o.source),
            ]
        })
        .collect();
    let items: Vec<OfferingOut> = selected
        .iter()
        .map(|o| OfferingOut {
            id: o.id(),
            vendor: catalog.vendor_of(o),
            usd_per_chip_hour: o.usd_per_chip_hour(),
            offering: o,
        })
        .collect();
    output::print_listing(
        args.format,
        Listing {
            header: &[
                "provider",
                "instance_type",
                "region",
                "chip",
                "vendor",
                "chips",
                "usd_per_hour",
                "spot_usd_per_hour",
                "usd_per_chip_hour",
                "capacity",
                "price_confidence",
                "source",
            ],
            rows,
            items: &items,
        },
    )
}

fn source_cell(format: Format, source: &str) -> String {
    if format == Format::Table {
        cell(source, 60)
    } else {
        source.to_string()
    }
}

fn format_is_table(f: Format) -> bool {
    f == Format::Table
}

#[derive(serde::Serialize)]
struct OfferingOut<'a> {
    id: String,
    vendor: Vendor,
    usd_per_chip_hour: Option<f64>,
    #[serde(flatten)]
    offering: &'a chipmix_catalog::Offering,
}
