//! How each engine names our chips and their nodes: Kubernetes extended-resource names and
//! taints (from each vendor's device plugin), cloud node labels, and SkyPilot accelerator names.

use chipmix_catalog::{Catalog, Offering, Vendor};

/// The extended resource a vendor's Kubernetes device plugin advertises, one unit per chip.
///
/// Sources: NVIDIA k8s-device-plugin (`nvidia.com/gpu`); AWS Neuron device plugin
/// (`aws.amazon.com/neuron`, one per Trainium/Inferentia device; `aws.amazon.com/neuroncore`
/// counts cores instead); GKE TPU docs (`google.com/tpu`, one per TPU chip); ROCm k8s-device-plugin
/// (`amd.com/gpu`); Intel Gaudi device plugin (`habana.ai/gaudi`).
pub fn device_resource(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::Nvidia => "nvidia.com/gpu",
        Vendor::Aws => "aws.amazon.com/neuron",
        Vendor::Google => "google.com/tpu",
        Vendor::Amd => "amd.com/gpu",
        Vendor::Intel => "habana.ai/gaudi",
    }
}

/// The taint accelerator node pools usually carry (EKS, AKS and GKE accelerator node groups
/// taint with the device resource name, so only pods that ask for the device land there).
pub fn device_taint_key(vendor: Vendor) -> &'static str {
    device_resource(vendor)
}

/// Node labels that identify an offering's nodes on every managed Kubernetes: the well-known
/// instance-type and region labels, plus the cloud's spot label and, for TPU slices, GKE's
/// accelerator and topology labels.
pub fn node_labels(catalog: &Catalog, o: &Offering, spot: bool) -> Vec<(String, String)> {
    let mut labels = vec![
        (
            "node.kubernetes.io/instance-type".to_string(),
            o.instance_type.clone(),
        ),
        (
            "topology.kubernetes.io/region".to_string(),
            o.region.clone(),
        ),
    ];
    if spot {
        // Karpenter (EKS), GKE and AKS spot node labels.
        let (k, v) = match o.provider.as_str() {
            "gcp" => ("cloud.google.com/gke-spot", "true"),
            "azure" => ("kubernetes.azure.com/scalesetpriority", "spot"),
            _ => ("karpenter.sh/capacity-type", "spot"),
        };
        labels.push((k.into(), v.into()));
    }
    if let Some((accelerator, topology)) = gke_tpu(catalog, o) {
        labels.push(("cloud.google.com/gke-tpu-accelerator".into(), accelerator));
        if let Some(t) = topology {
            labels.push(("cloud.google.com/gke-tpu-topology".into(), t));
        }
    }
    labels
}

/// Spot node pools are tainted too; the taint a pod must tolerate there.
pub fn spot_taint(provider: &str) -> Option<(&'static str, &'static str)> {
    match provider {
        "gcp" => Some(("cloud.google.com/gke-spot", "true")),
        "azure" => Some(("kubernetes.azure.com/scalesetpriority", "spot")),
        _ => None,
    }
}

/// GKE's `gke-tpu-accelerator` value and, where GKE documents it for the slice size, the
/// `gke-tpu-topology` (v5e and v6e slices are 2-D: chips = x·y).
fn gke_tpu(catalog: &Catalog, o: &Offering) -> Option<(String, Option<String>)> {
    let chip = catalog.chip(&o.chip)?;
    let accelerator = match chip.id.as_str() {
        "tpu-v5e" => "tpu-v5-lite-podslice",
        "tpu-v5p" => "tpu-v5p-slice",
        "tpu-v6e" => "tpu-v6e-slice",
        _ => return None,
    };
    let topology = match (chip.id.as_str(), o.chips_per_instance) {
        ("tpu-v5e" | "tpu-v6e", 1) => Some("1x1"),
        ("tpu-v5e" | "tpu-v6e", 4) => Some("2x2"),
        ("tpu-v5e" | "tpu-v6e", 8) => Some("2x4"),
        ("tpu-v5e" | "tpu-v6e", 16) => Some("4x4"),
        ("tpu-v5e" | "tpu-v6e", 32) => Some("4x8"),
        ("tpu-v5e" | "tpu-v6e", 64) => Some("8x8"),
        ("tpu-v5e" | "tpu-v6e", 128) => Some("8x16"),
        ("tpu-v5e" | "tpu-v6e", 256) => Some("16x16"),
        _ => None,
    };
    Some((accelerator.into(), topology.map(String::from)))
}

/// The clouds SkyPilot launches on (its `resources.cloud` values), as chipmix spells
/// providers. The shipped task schema's `cloud` enum is this list (a test checks).
pub const SKYPILOT_CLOUDS: &[&str] = &[
    "aws",
    "gcp",
    "azure",
    "kubernetes",
    "lambda",
    "runpod",
    "nebius",
    "oci",
    "paperspace",
    "fluidstack",
    "cudo",
    "vast",
    "do",
    "ibm",
    "scp",
    "hyperbolic",
];

/// SkyPilot's cloud for a provider, `None` for a provider SkyPilot cannot launch on.
pub fn skypilot_cloud(provider: &str) -> Option<&'static str> {
    SKYPILOT_CLOUDS
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(provider))
}

/// SkyPilot's accelerator name for a chip (`H100`, `Trainium2`, `Inferentia2`), as in SkyPilot
/// catalog v8 (`AcceleratorName`) and its docs; TPU slices are named by their slice
/// (`tpu-v6e-32`), which is the offering's instance type. `None` where SkyPilot has no name we
/// could confirm.
pub fn skypilot_accelerator(catalog: &Catalog, o: &Offering) -> Option<String> {
    let chip = catalog.chip(&o.chip)?;
    let name = match chip.id.as_str() {
        "a100-40gb" => "A100",
        "a100-80gb" => "A100-80GB",
        "h100" => "H100",
        "h200" => "H200",
        "b200" => "B200",
        "l4" => "L4",
        "a10g" => "A10G",
        "l40s" => "L40S",
        "trainium" => "Trainium",
        "trainium2" => "Trainium2",
        "inferentia2" => "Inferentia2",
        "mi300x" => "MI300X",
        "tpu-v5e" | "tpu-v5p" | "tpu-v6e" => return Some(o.instance_type.clone()),
        _ => return None,
    };
    Some(format!("{name}:{}", o.chips_per_instance))
}

/// A DNS-1123 label from any text: lower case, `[a-z0-9-]`, at most 63 characters, starting
/// and ending with an alphanumeric.
pub fn dns_label(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.trim_matches('-').chars().take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "x".into() } else { out }
}
