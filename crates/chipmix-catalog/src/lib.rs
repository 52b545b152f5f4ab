//! What hardware exists and what it costs.
//!
//! The catalog holds chips ([`Chip`]: vendor, software stack, compute, memory, links) and
//! offerings ([`Offering`]: an instance type in a region of a provider, with its price and
//! optional capacity limit). The built-in catalog is compiled from `data/chips.csv` and
//! `data/offerings.csv`, where every row carries its source. Users extend it with SkyPilot
//! catalog files ([`skypilot`]) and override files ([`overrides`]).
//!
//! This crate knows nothing of workloads, performance or plans.

mod chip;
pub mod limits;
mod offering;
pub mod overrides;
pub mod skypilot;
mod table;

pub use chip::{Chip, Confidence, SoftwareStack, Vendor, normalize_name, split_tpu_slice};
pub use offering::{Offering, OfferingOverride, PriceConfidence};

use std::collections::BTreeSet;
use std::fmt;
use table::Table;

const CHIPS_CSV: &str = include_str!("../../../data/chips.csv");
const OFFERINGS_CSV: &str = include_str!("../../../data/offerings.csv");

/// An error in a data file, located at file, line and (where known) column name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError {
    pub file: String,
    /// 1-based; 0 when the whole file is concerned.
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
}

impl DataError {
    pub fn new(file: &str, line: u64, field: Option<&str>, message: impl Into<String>) -> Self {
        DataError {
            file: file.to_string(),
            line,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for DataError {}

/// Chips and offerings. Invariant: every offering's `chip` is the id of a chip in `chips`, and
/// no two offerings share an [`Offering::id`].
#[derive(Clone, Debug, PartialEq)]
pub struct Catalog {
    chips: Vec<Chip>,
    offerings: Vec<Offering>,
    /// [`Offering::id`] → index in `offerings` (ids never change once added).
    ids: std::collections::HashMap<String, usize>,
}

impl Catalog {
    /// The catalog shipped in the binary.
    pub fn builtin() -> Result<Catalog, Vec<DataError>> {
        let chips = parse_chips("data/chips.csv", CHIPS_CSV).map_err(|e| vec![e])?;
        let mut catalog = Catalog {
            chips,
            offerings: Vec::new(),
            ids: Default::default(),
        };
        let offerings = catalog.parse_offerings("data/offerings.csv", OFFERINGS_CSV)?;
        catalog.add_offerings(offerings)?;
        Ok(catalog)
    }

    pub fn chips(&self) -> &[Chip] {
        &self.chips
    }

    pub fn offerings(&self) -> &[Offering] {
        &self.offerings
    }

    /// Looks a chip up by id or by any name other tools use for it (`H100`, `Trainium2`,
    /// `trn2`, `Inferentia2`, `A100-80GB`, `tpu-v6e-8`, `tpu-v5litepod-16` …).
    pub fn chip(&self, name: &str) -> Option<&Chip> {
        let name = split_tpu_slice(name).map_or(name, |(family, _)| family);
        let key = normalize_name(name);
        if key.is_empty() {
            return None;
        }
        let id = chip::ALIASES
            .iter()
            .find(|(alias, _)| *alias == key)
            .map(|(_, id)| *id);
        self.chips.iter().find(|c| match id {
            Some(id) => c.id == id,
            None => normalize_name(&c.id) == key,
        })
    }

    /// Like [`Catalog::chip`], with an error that lists the known chips and the closest one.
    pub fn resolve_chip(&self, name: &str) -> Result<&Chip, String> {
        self.chip(name).ok_or_else(|| {
            let ids: Vec<&str> = self.chips.iter().map(|c| c.id.as_str()).collect();
            format!(
                "unknown chip `{name}`{} (known chips: {})",
                did_you_mean(name, &ids),
                ids.join(", ")
            )
        })
    }

    /// Every provider that has at least one offering.
    pub fn providers(&self) -> BTreeSet<&str> {
        self.offerings.iter().map(|o| o.provider.as_str()).collect()
    }

    pub fn regions(&self) -> BTreeSet<&str> {
        self.offerings.iter().map(|o| o.region.as_str()).collect()
    }

    /// The vendor of an offering's chip.
    pub fn vendor_of(&self, offering: &Offering) -> Vendor {
        self.chip(&offering.chip)
            .expect("catalog invariant: every offering's chip is in the chip table")
            .vendor
    }

    /// The index of the offering with exactly this [`Offering::id`]: how the planner and the
    /// verifiers refer back to offerings (users' spellings go through
    /// [`Catalog::find_offering`]).
    pub fn offering_index(&self, id: &str) -> Option<usize> {
        self.ids.get(id).copied()
    }

    /// The offering with exactly this [`Offering::id`].
    pub fn offering(&self, id: &str) -> Option<&Offering> {
        self.offering_index(id).map(|i| &self.offerings[i])
    }

    /// Appends an offering whose id is new, keeping the index.
    fn push_offering(&mut self, o: Offering) {
        self.ids.insert(o.id(), self.offerings.len());
        self.offerings.push(o);
    }

    /// Finds an offering by its id (`aws/p5.48xlarge/us-east-1`), or by an instance type that
    /// only one offering has (`p5.48xlarge`).
    pub fn find_offering(&self, spec: &str) -> Result<&Offering, String> {
        let spec = spec.trim();
        if let Some(o) = self
            .offerings
            .iter()
            .find(|o| o.id().eq_ignore_ascii_case(spec))
        {
            return Ok(o);
        }
        let matches: Vec<&Offering> = self
            .offerings
            .iter()
            .filter(|o| o.instance_type.eq_ignore_ascii_case(spec))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => {
                let ids: Vec<String> = self.offerings.iter().map(|o| o.id()).collect();
                let types: Vec<&str> = self
                    .offerings
                    .iter()
                    .map(|o| o.instance_type.as_str())
                    .chain(ids.iter().map(String::as_str))
                    .collect();
                Err(format!(
                    "unknown offering `{spec}`{}; `chipmix catalog offerings` lists them",
                    did_you_mean(spec, &types)
                ))
            }
            many => Err(format!(
                "offering `{spec}` is ambiguous: it is offered as {}; name one of them",
                many.iter().map(|o| o.id()).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// Multiplies an offering's on-demand and spot prices by `factor` (a price shock). The
    /// offering keeps its identity; only its terms change.
    pub fn scale_price(&mut self, index: usize, factor: f64) {
        if let Some(o) = self.offerings.get_mut(index) {
            o.usd_per_hour = o.usd_per_hour.map(|p| p * factor);
            o.spot_usd_per_hour = o.spot_usd_per_hour.map(|p| p * factor);
        }
    }

    /// Sets how many instances of an offering can be had (`None`: no stated limit).
    pub fn set_capacity(&mut self, index: usize, instances: Option<u32>) {
        if let Some(o) = self.offerings.get_mut(index) {
            o.capacity_instances = instances;
        }
    }

    /// Adds offerings, checking the catalog invariants (known chip, unique id).
    pub fn add_offerings(&mut self, offerings: Vec<Offering>) -> Result<(), Vec<DataError>> {
        let mut errors = Vec::new();
        for o in offerings {
            if self.chip(&o.chip).is_none() {
                errors.push(DataError::new(
                    "catalog",
                    0,
                    Some("chip"),
                    format!("{}: unknown chip `{}`", o.id(), o.chip),
                ));
            } else if self.ids.contains_key(&o.id()) {
                errors.push(DataError::new(
                    "catalog",
                    0,
                    None,
                    format!("duplicate offering {}", o.id()),
                ));
            } else {
                self.push_offering(o);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Adds offerings, replacing any with the same id (a newer catalog snapshot wins).
    pub fn upsert_offerings(&mut self, offerings: Vec<Offering>) -> Result<(), Vec<DataError>> {
        let (replacing, adding): (Vec<Offering>, Vec<Offering>) = offerings
            .into_iter()
            .partition(|o| self.ids.contains_key(&o.id()));
        for o in replacing {
            if let Some(i) = self.offering_index(&o.id()) {
                self.offerings[i] = o;
            }
        }
        self.add_offerings(adding)
    }

    /// Applies user overrides in order: an override that names an existing offering (by
    /// provider, instance type and region, `*` for every region) changes the fields it sets;
    /// one that names no existing offering adds a new one, which must then give chip, chips per
    /// instance and price. Applies nothing unless every override is valid.
    pub fn apply_overrides(
        &mut self,
        overrides: &[OfferingOverride],
    ) -> Result<(), Vec<DataError>> {
        let mut next = self.clone();
        let mut errors = Vec::new();
        for ov in overrides {
            if let Err(e) = next.apply_override(ov) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            *self = next;
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn apply_override(&mut self, ov: &OfferingOverride) -> Result<(), DataError> {
        let err = |field: Option<&str>, msg: String| DataError::new(&ov.origin, 0, field, msg);
        let chip_id = match &ov.chip {
            Some(name) => Some(
                self.resolve_chip(name)
                    .map_err(|m| err(Some("chip"), m))?
                    .id
                    .clone(),
            ),
            None => None,
        };
        let provider = ov.provider.to_ascii_lowercase();
        let mut matched = false;
        for o in self
            .offerings
            .iter_mut()
            .filter(|o| o.same_key(&provider, &ov.instance_type, &ov.region))
        {
            matched = true;
            if let Some(c) = &chip_id {
                o.chip = c.clone();
            }
            set(&mut o.chips_per_instance, ov.chips_per_instance);
            if ov.usd_per_hour.is_some() {
                if o.price_confidence == PriceConfidence::NotSourced {
                    // The shipped note says there is no price; now there is the user's.
                    o.notes = format!(
                        "price given by the user ({})",
                        ov.source.as_deref().unwrap_or(&ov.origin)
                    );
                }
                o.usd_per_hour = ov.usd_per_hour;
                o.price_confidence = PriceConfidence::UserSupplied;
            }
            set_opt(&mut o.spot_usd_per_hour, ov.spot_usd_per_hour);
            set_opt(&mut o.capacity_instances, ov.capacity_instances);
            set_opt(&mut o.vcpus, ov.vcpus);
            set_opt(&mut o.memory_gib, ov.memory_gib);
            set_opt(&mut o.network_gbps, ov.network_gbps);
            let src = ov.source.clone().unwrap_or_else(|| ov.origin.clone());
            o.source = format!("{} (overridden by {src})", o.source);
            if let Some(n) = &ov.notes {
                o.notes = n.clone();
            }
        }
        if matched {
            return Ok(());
        }
        if ov.region == "*" {
            return Err(err(
                Some("region"),
                format!(
                    "`*` only applies to offerings already in the catalog, and {}/{} is not one",
                    provider, ov.instance_type
                ),
            ));
        }
        let missing: Vec<&str> = [
            ("chip", chip_id.is_none()),
            ("chips_per_instance", ov.chips_per_instance.is_none()),
            ("usd_per_hour", ov.usd_per_hour.is_none()),
        ]
        .into_iter()
        .filter_map(|(f, m)| m.then_some(f))
        .collect();
        if !missing.is_empty() {
            return Err(err(
                None,
                format!(
                    "{provider}/{}/{} is not in the catalog, so this adds it, and a new offering needs {}",
                    ov.instance_type,
                    ov.region,
                    missing.join(", ")
                ),
            ));
        }
        let (Some(chip), Some(chips_per_instance)) = (chip_id, ov.chips_per_instance) else {
            unreachable!("checked above");
        };
        self.push_offering(Offering {
            provider,
            instance_type: ov.instance_type.clone(),
            region: ov.region.clone(),
            chip,
            chips_per_instance,
            vcpus: ov.vcpus,
            memory_gib: ov.memory_gib,
            network_gbps: ov.network_gbps,
            usd_per_hour: ov.usd_per_hour,
            spot_usd_per_hour: ov.spot_usd_per_hour,
            price_confidence: PriceConfidence::UserSupplied,
            capacity_instances: ov.capacity_instances,
            source: ov.source.clone().unwrap_or_else(|| ov.origin.clone()),
            notes: ov.notes.clone().unwrap_or_default(),
        });
        Ok(())
    }

    /// Parses an offerings table in the format of `data/offerings.csv`.
    pub fn parse_offerings(&self, file: &str, text: &str) -> Result<Vec<Offering>, Vec<DataError>> {
        let table = Table::parse(file, text).map_err(|e| vec![e])?;
        table
            .require_columns(&[
                "provider",
                "instance_type",
                "region",
                "chip",
                "chips_per_instance",
                "usd_per_hour",
                "price_confidence",
                "source",
            ])
            .map_err(|e| vec![e])?;
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for row in table.rows() {
            match self.parse_offering_row(&row) {
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

    fn parse_offering_row(&self, row: &table::Row<'_>) -> Result<Offering, DataError> {
        let chip = self
            .resolve_chip(row.req_str("chip")?)
            .map_err(|m| row.error("chip", m))?;
        let price_confidence: PriceConfidence = row
            .req_str("price_confidence")?
            .parse()
            .map_err(|m: String| row.error("price_confidence", m))?;
        let usd_per_hour = row.opt_number("usd_per_hour", &limits::USD_PER_HOUR)?;
        if usd_per_hour.is_none() && price_confidence != PriceConfidence::NotSourced {
            return Err(row.error(
                "usd_per_hour",
                "empty; a row without a price must say price_confidence = not_sourced",
            ));
        }
        Ok(Offering {
            provider: row.req_str("provider")?.to_ascii_lowercase(),
            instance_type: row.req_str("instance_type")?.to_string(),
            region: row.req_str("region")?.to_string(),
            chip: chip.id.clone(),
            chips_per_instance: row
                .opt_count("chips_per_instance", &limits::CHIPS_PER_INSTANCE)?
                .ok_or_else(|| row.error("chips_per_instance", "required, but empty"))?,
            vcpus: row.opt_count("vcpus", &limits::VCPUS)?,
            memory_gib: row.opt_number("memory_gib", &limits::MEMORY_GIB)?,
            network_gbps: row.opt_number("network_gbps", &limits::NETWORK_GBPS)?,
            usd_per_hour,
            spot_usd_per_hour: row.opt_number("spot_usd_per_hour", &limits::USD_PER_HOUR)?,
            price_confidence,
            capacity_instances: row.opt_count("capacity_instances", &limits::CAPACITY_INSTANCES)?,
            source: row.req_str("source")?.to_string(),
            notes: row.str("notes").to_string(),
        })
    }
}

fn parse_chips(file: &str, text: &str) -> Result<Vec<Chip>, DataError> {
    let table = Table::parse(file, text)?;
    table.require_columns(&[
        "id",
        "name",
        "vendor",
        "software",
        "bf16_tflops",
        "hbm_gib",
        "hbm_tb_s",
        "scaleup_gb_s",
        "trains",
        "confidence",
        "source_url",
    ])?;
    let mut chips = Vec::new();
    for row in table.rows() {
        chips.push(Chip {
            id: row.req_str("id")?.to_string(),
            name: row.req_str("name")?.to_string(),
            vendor: row
                .req_str("vendor")?
                .parse()
                .map_err(|m: String| row.error("vendor", m))?,
            software: row
                .req_str("software")?
                .parse()
                .map_err(|m: String| row.error("software", m))?,
            bf16_tflops: row.req_number("bf16_tflops", &limits::TFLOPS)?,
            fp8_tflops: row.opt_number("fp8_tflops", &limits::TFLOPS)?,
            hbm_gib: row.req_number("hbm_gib", &limits::HBM_GIB)?,
            hbm_tb_per_s: row.req_number("hbm_tb_s", &limits::HBM_TBPS)?,
            scaleup_gb_per_s: row.req_number("scaleup_gb_s", &limits::LINK_GBPS)?,
            scaleup_link: row.str("scaleup_link").to_string(),
            trains: match row.req_str("trains")? {
                "yes" => true,
                "no" => false,
                other => return Err(row.error("trains", format!("`{other}` is not yes or no"))),
            },
            cores_per_chip: row.opt_count("cores_per_chip", &limits::CORES_PER_CHIP)?,
            tdp_w: row.opt_number("tdp_w", &limits::TDP_W)?,
            release_year: row.opt_count("release_year", &limits::RELEASE_YEAR)?,
            confidence: row
                .req_str("confidence")?
                .parse()
                .map_err(|m: String| row.error("confidence", m))?,
            notes: row.str("notes").to_string(),
            source_url: row.req_str("source_url")?.to_string(),
        });
    }
    Ok(chips)
}

/// ` (did you mean `x`?)` when a candidate is close enough to be a likely typo, else "".
pub fn did_you_mean(input: &str, candidates: &[&str]) -> String {
    let input_lower = input.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&input_lower, &c.to_ascii_lowercase()),
                *c,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn set_opt<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}
