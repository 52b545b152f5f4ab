//! Offerings: what can be bought, where, and at what price.

use serde::Serialize;
use std::str::FromStr;

/// How far an offering's price can be trusted. Anything but `Verified` and `Negotiated` is shown
/// as such wherever the price is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceConfidence {
    /// From a provider's price list (through a dated catalog snapshot).
    Verified,
    /// Only an older or indirect listing exists.
    Unconfirmed,
    /// No public price was found; the offering cannot be planned on until a user supplies one.
    NotSourced,
    /// Supplied by the user (override file or portfolio).
    UserSupplied,
}

impl PriceConfidence {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceConfidence::Verified => "verified",
            PriceConfidence::Unconfirmed => "unconfirmed",
            PriceConfidence::NotSourced => "not_sourced",
            PriceConfidence::UserSupplied => "user_supplied",
        }
    }
}

impl FromStr for PriceConfidence {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "verified" => Ok(PriceConfidence::Verified),
            "unconfirmed" => Ok(PriceConfidence::Unconfirmed),
            "not_sourced" => Ok(PriceConfidence::NotSourced),
            "user_supplied" => Ok(PriceConfidence::UserSupplied),
            _ => Err(format!(
                "unknown price confidence `{s}` (expected verified, unconfirmed, not_sourced or user_supplied)"
            )),
        }
    }
}

/// One instance type in one region of one provider. Instances are the unit that is bought: a
/// plan allocates whole instances, each carrying `chips_per_instance` chips.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Offering {
    /// Lower-case provider id: `aws`, `azure`, `gcp`, or any other a user adds.
    pub provider: String,
    pub instance_type: String,
    pub region: String,
    /// A chip id from the catalog's chip table.
    pub chip: String,
    pub chips_per_instance: u32,
    pub vcpus: Option<u32>,
    pub memory_gib: Option<f64>,
    pub network_gbps: Option<f64>,
    /// On-demand price of one instance; `None` where no price is known.
    pub usd_per_hour: Option<f64>,
    pub spot_usd_per_hour: Option<f64>,
    pub price_confidence: PriceConfidence,
    /// How many instances can be had at most; `None` means no stated limit.
    pub capacity_instances: Option<u32>,
    pub source: String,
    pub notes: String,
}

impl Offering {
    /// `provider/instance_type/region`: unique within a catalog.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.provider, self.instance_type, self.region)
    }

    pub fn usd_per_chip_hour(&self) -> Option<f64> {
        self.usd_per_hour
            .map(|p| p / f64::from(self.chips_per_instance))
    }

    pub(crate) fn same_key(&self, provider: &str, instance_type: &str, region: &str) -> bool {
        self.provider.eq_ignore_ascii_case(provider)
            && self.instance_type.eq_ignore_ascii_case(instance_type)
            && (region == "*" || self.region.eq_ignore_ascii_case(region))
    }
}

/// A change to the catalog from the user: a negotiated price, a capacity limit, or a whole new
/// offering. Fields left `None` keep the catalog's value. Comes from an override CSV or from the
/// `offerings:` section of a portfolio; both funnel through [`crate::Catalog::apply_overrides`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OfferingOverride {
    pub provider: String,
    pub instance_type: String,
    /// `*` applies the override to the instance type in every region it is offered in.
    pub region: String,
    pub chip: Option<String>,
    pub chips_per_instance: Option<u32>,
    pub usd_per_hour: Option<f64>,
    pub spot_usd_per_hour: Option<f64>,
    pub capacity_instances: Option<u32>,
    pub vcpus: Option<u32>,
    pub memory_gib: Option<f64>,
    pub network_gbps: Option<f64>,
    pub source: Option<String>,
    pub notes: Option<String>,
    /// Where the override was written, for error messages (`overrides.csv:4`).
    pub origin: String,
}
