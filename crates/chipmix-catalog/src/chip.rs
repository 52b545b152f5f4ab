//! Accelerator chips: who makes them, what software runs on them, how fast they are.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The company whose silicon a chip is. Vendor-share caps and "minimum vendors per service" are
/// counted over this, not over clouds: an H100 on Azure and one on AWS are both NVIDIA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Nvidia,
    Aws,
    Google,
    Amd,
    Intel,
}

impl Vendor {
    pub const ALL: [Vendor; 5] = [
        Vendor::Nvidia,
        Vendor::Aws,
        Vendor::Google,
        Vendor::Amd,
        Vendor::Intel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Nvidia => "nvidia",
            Vendor::Aws => "aws",
            Vendor::Google => "google",
            Vendor::Amd => "amd",
            Vendor::Intel => "intel",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Vendor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Vendor::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown vendor `{s}` (expected one of: {})",
                    join(Vendor::ALL.iter().map(|v| v.as_str()))
                )
            })
    }
}

/// The software stack a chip is programmed with. A workload lists the stacks its code runs on;
/// a chip whose stack is not in that list is never a candidate for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SoftwareStack {
    Cuda,
    Neuron,
    Xla,
    Rocm,
    Synapse,
}

impl SoftwareStack {
    pub const ALL: [SoftwareStack; 5] = [
        SoftwareStack::Cuda,
        SoftwareStack::Neuron,
        SoftwareStack::Xla,
        SoftwareStack::Rocm,
        SoftwareStack::Synapse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SoftwareStack::Cuda => "cuda",
            SoftwareStack::Neuron => "neuron",
            SoftwareStack::Xla => "xla",
            SoftwareStack::Rocm => "rocm",
            SoftwareStack::Synapse => "synapse",
        }
    }
}

impl fmt::Display for SoftwareStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SoftwareStack {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SoftwareStack::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown software stack `{s}` (expected one of: {})",
                    join(SoftwareStack::ALL.iter().map(|v| v.as_str()))
                )
            })
    }
}

/// How far a shipped figure can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Read from the vendor's own documentation.
    Verified,
    /// From a reputable secondary source, or a vendor page that is ambiguous.
    Secondary,
    /// Our estimate; treat any result that depends on it with care.
    Estimate,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Verified => "verified",
            Confidence::Secondary => "secondary",
            Confidence::Estimate => "estimate",
        }
    }
}

impl FromStr for Confidence {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "verified" => Ok(Confidence::Verified),
            "secondary" => Ok(Confidence::Secondary),
            "estimate" => Ok(Confidence::Estimate),
            _ => Err(format!(
                "unknown confidence `{s}` (expected verified, secondary or estimate)"
            )),
        }
    }
}

/// One accelerator chip (a GPU, a Trainium/Inferentia device, a TPU chip). All rates are per
/// chip and dense (no sparsity).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Chip {
    /// Stable lower-case id used everywhere in chipmix (`h100`, `trainium2`, `tpu-v6e`).
    pub id: String,
    pub name: String,
    pub vendor: Vendor,
    pub software: SoftwareStack,
    pub bf16_tflops: f64,
    /// `None` where the chip has no FP8 matrix unit.
    pub fp8_tflops: Option<f64>,
    pub hbm_gib: f64,
    pub hbm_tb_per_s: f64,
    /// Per-chip bandwidth of the scale-up fabric (NVLink, NeuronLink, ICI, Infinity Fabric, or
    /// PCIe where there is none).
    pub scaleup_gb_per_s: f64,
    pub scaleup_link: String,
    /// Whether the vendor's software trains on it (Inferentia2 is inference-only: the Neuron
    /// training libraries support Trainium).
    pub trains: bool,
    /// NeuronCores or TensorCores per chip, where the vendor counts them.
    pub cores_per_chip: Option<u32>,
    pub tdp_w: Option<f64>,
    pub release_year: Option<u32>,
    pub confidence: Confidence,
    pub notes: String,
    pub source_url: String,
}

/// Reduces an accelerator name to the form aliases are matched in: lower case, letters and
/// digits only (`A100-80GB`, `a100_80gb` and `A100 80GB` all become `a10080gb`).
pub fn normalize_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Names other tools use for our chips (SkyPilot accelerator names, AWS instance family names,
/// marketing names), normalized with [`normalize_name`]. The chip ids themselves also match.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    // SkyPilot spells the 40 GB A100 plain `A100` (p4d.24xlarge, a2-highgpu).
    ("a100", "a100-40gb"),
    ("a10040g", "a100-40gb"),
    ("a10080g", "a100-80gb"),
    ("a10080gb", "a100-80gb"),
    ("h100sxm", "h100"),
    ("h10080gb", "h100"),
    ("h100mega", "h100"),
    ("h200141gb", "h200"),
    ("a10", "a10g"),
    ("trn1", "trainium"),
    ("trn1n", "trainium"),
    ("trainium1", "trainium"),
    ("trn2", "trainium2"),
    ("inf2", "inferentia2"),
    ("tpuv5e", "tpu-v5e"),
    ("tpuv5litepod", "tpu-v5e"),
    ("tpuv5lite", "tpu-v5e"),
    ("v5e", "tpu-v5e"),
    ("tpuv5p", "tpu-v5p"),
    ("v5p", "tpu-v5p"),
    ("tpuv6e", "tpu-v6e"),
    ("trillium", "tpu-v6e"),
    ("v6e", "tpu-v6e"),
    ("mi300", "mi300x"),
    ("instinctmi300x", "mi300x"),
    ("hl225", "gaudi2"),
    ("hl325l", "gaudi3"),
];

/// A TPU slice name (`tpu-v6e-8`, `tpu-v5litepod-16`, `tpu-v5p-128`) split into the chip alias
/// and the number in the name. For v5p (and older TPUs) the number counts TensorCores, two per
/// chip; for v5e and v6e it counts chips.
pub fn split_tpu_slice(name: &str) -> Option<(&str, u32)> {
    let lower = name.trim();
    if !lower.to_ascii_lowercase().starts_with("tpu-") {
        return None;
    }
    let (family, count) = lower.rsplit_once('-')?;
    let count: u32 = count.parse().ok()?;
    if family.len() <= 4 {
        return None;
    }
    Some((family, count))
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
