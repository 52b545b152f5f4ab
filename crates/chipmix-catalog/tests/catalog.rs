use chipmix_catalog::skypilot::{self, Cloud, SkipReason};
use chipmix_catalog::{Catalog, PriceConfidence, Vendor, overrides};

const AWS_VMS: &str = include_str!("fixtures/aws-vms-us-east-1.csv");
const GCP_VMS: &str = include_str!("fixtures/gcp-vms-us-central1.csv");

fn builtin() -> Catalog {
    Catalog::builtin().expect("built-in catalog parses")
}

#[test]
fn builtin_has_every_required_chip_with_a_source() {
    let c = builtin();
    for name in [
        "A100-80GB",
        "H100",
        "H200",
        "B200",
        "L4",
        "A10G",
        "L40S",
        "Trainium",
        "Trainium2",
        "Inferentia2",
        "tpu-v5e",
        "tpu-v5p",
        "tpu-v6e",
        "MI300X",
        "gaudi3",
    ] {
        let chip = c.chip(name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(chip.source_url.starts_with("http"), "{name} has no source");
        assert!(chip.bf16_tflops > 0.0 && chip.hbm_gib > 0.0);
    }
    assert_eq!(c.chip("trn2").unwrap().vendor, Vendor::Aws);
    assert_eq!(c.chip("tpu-v6e-8").unwrap().id, "tpu-v6e");
    assert_eq!(c.chip("tpu-v5litepod-16").unwrap().id, "tpu-v5e");
    assert_eq!(c.chip("A100").unwrap().id, "a100-40gb");
    assert!(c.chip("V100").is_none());
    assert!(c.chip("").is_none());
}

#[test]
fn builtin_has_every_required_offering_family() {
    let c = builtin();
    for family in [
        "p4de.", "p5.", "p5en.", "p6-b200.", "g5.", "g6.", "g6e.", "trn1.", "trn1n.", "trn2.",
        "inf2.",
    ] {
        assert!(
            c.offerings()
                .iter()
                .any(|o| o.provider == "aws" && o.instance_type.starts_with(family)),
            "AWS {family} missing"
        );
    }
    for it in [
        "Standard_ND96isr_H100_v5",
        "Standard_ND96amsr_A100_v4",
        "a3-highgpu-8g",
        "a2-ultragpu-8g",
        "tpu-v5litepod-8",
        "tpu-v5p-8",
        "tpu-v6e-8",
    ] {
        assert!(c.find_offering(it).is_ok(), "{it} missing");
    }
    // The trn2 price only comes from an older catalog and must stay marked.
    let trn2 = c.find_offering("trn2.48xlarge").unwrap();
    assert_eq!(trn2.price_confidence, PriceConfidence::Unconfirmed);
    assert_eq!(trn2.chip, "trainium2");
    // No price was sourced for the Azure MI300X.
    let mi = c.find_offering("Standard_ND96isr_MI300X_v5").unwrap();
    assert_eq!(mi.usd_per_hour, None);
    assert_eq!(mi.price_confidence, PriceConfidence::NotSourced);
}

#[test]
fn every_priced_offering_is_positive_and_ids_are_unique() {
    let c = builtin();
    let mut ids = std::collections::HashSet::new();
    for o in c.offerings() {
        assert!(ids.insert(o.id()), "duplicate {}", o.id());
        assert!(o.chips_per_instance >= 1);
        if let Some(p) = o.usd_per_hour {
            assert!(p > 0.0);
        }
        assert!(!o.source.is_empty());
    }
}

#[test]
fn aws_skypilot_import_maps_every_accelerator() {
    let c = builtin();
    let imp = skypilot::import(&c, "aws-vms-us-east-1.csv", AWS_VMS, None).unwrap();
    assert_eq!(imp.cloud, Cloud::Aws);
    let unknown: Vec<_> = imp
        .skipped
        .iter()
        .filter(|s| s.reason == SkipReason::UnknownAccelerator)
        .collect();
    assert!(unknown.is_empty(), "unmapped: {unknown:?}");
    // Every distinct accelerator name in the file became at least one offering.
    let names: std::collections::BTreeSet<&str> = AWS_VMS
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .collect();
    for name in names {
        let chip = c.chip(name).unwrap().id.clone();
        assert!(imp.offerings.iter().any(|o| o.chip == chip), "{name}");
    }
    // One offering per instance type, spot = the lowest zone price.
    let p5 = imp
        .offerings
        .iter()
        .find(|o| o.instance_type == "p5.48xlarge")
        .unwrap();
    assert_eq!(p5.chip, "h100");
    assert_eq!(p5.chips_per_instance, 8);
    assert_eq!(p5.usd_per_hour, Some(55.04));
    assert_eq!(p5.spot_usd_per_hour, Some(14.246));
    let p4d = imp
        .offerings
        .iter()
        .find(|o| o.instance_type == "p4d.24xlarge")
        .unwrap();
    assert_eq!(p4d.chip, "a100-40gb");
    let types: std::collections::BTreeSet<&str> = AWS_VMS
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(imp.offerings.len(), types.len());
}

#[test]
fn gcp_import_adds_host_and_accelerator_prices_and_counts_tpu_chips() {
    let c = builtin();
    let imp = skypilot::import(&c, "gcp-vms-us-central1.csv", GCP_VMS, None).unwrap();
    assert_eq!(imp.cloud, Cloud::Gcp);
    let get = |it: &str| {
        imp.offerings
            .iter()
            .find(|o| o.instance_type == it)
            .unwrap_or_else(|| panic!("{it}"))
    };
    let a3 = get("a3-highgpu-8g");
    assert_eq!(a3.chip, "h100");
    assert_eq!(a3.chips_per_instance, 8);
    assert!((a3.usd_per_hour.unwrap() - (9.46006 + 33.60609)).abs() < 1e-9);
    assert!((a3.spot_usd_per_hour.unwrap() - (2.75246 + 22.8008)).abs() < 1e-9);
    let a2 = get("a2-ultragpu-8g");
    assert_eq!(a2.chip, "a100-80gb");
    assert!((a2.usd_per_hour.unwrap() - (8.79698 + 14.76958)).abs() < 1e-9);
    // v5p slice names count TensorCores: v5p-8 is 4 chips.
    assert_eq!(get("tpu-v5p-8").chips_per_instance, 4);
    assert_eq!(get("tpu-v5p-8").usd_per_hour, Some(16.8));
    assert_eq!(get("tpu-v6e-8").chips_per_instance, 8);
    assert_eq!(get("tpu-v6e-8").usd_per_hour, Some(21.6));
    assert_eq!(get("tpu-v5litepod-256").chips_per_instance, 256);
    assert!(imp.skipped.is_empty(), "{:?}", imp.skipped);
}

#[test]
fn unknown_accelerators_are_reported_with_their_line() {
    let c = builtin();
    let text = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone,Arch\n\
                p3.2xlarge,V100,1.0,8.0,61.0,,3.06,0.9,us-east-1,use1-az1,x86_64\n\
                m5.large,,,2.0,8.0,,0.096,0.03,us-east-1,use1-az1,x86_64\n\
                p5.48xlarge,H100,8.0,192.0,2048.0,,55.04,14.2,us-east-1,use1-az1,x86_64\n\
                trn2.48xlarge,Trainium2,16.0,192.0,2048.0,,,,us-east-2,use2-az3,x86_64\n";
    let imp = skypilot::import(&c, "vms.csv", text, Some(Cloud::Aws)).unwrap();
    assert_eq!(imp.offerings.len(), 1);
    assert_eq!(imp.skipped.len(), 2);
    assert_eq!(imp.skipped[0].line, 2);
    assert_eq!(imp.skipped[0].reason, SkipReason::UnknownAccelerator);
    assert!(imp.skipped[0].to_string().contains("V100"));
    assert_eq!(imp.skipped[1].line, 5);
    assert_eq!(imp.skipped[1].reason, SkipReason::NoPrice);
}

#[test]
fn bad_skypilot_cells_are_errors_with_line_and_column() {
    let c = builtin();
    let text = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone,Arch\n\
                p5.48xlarge,H100,eight,192.0,2048.0,,55.04,14.2,us-east-1,use1-az1,x86_64\n\
                p5.48xlarge,H100,8,192.0,2048.0,,-1,14.2,us-east-1,use1-az1,x86_64\n";
    let errs = skypilot::import(&c, "vms.csv", text, None).unwrap_err();
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0].line, 2);
    assert_eq!(errs[0].field.as_deref(), Some("AcceleratorCount"));
    assert_eq!(errs[1].line, 3);
    assert_eq!(errs[1].field.as_deref(), Some("Price"));
    assert!(errs[1].to_string().starts_with("vms.csv:3: Price:"));
}

#[test]
fn overrides_change_prices_add_offerings_and_reject_bad_rows() {
    let mut c = builtin();
    let text = "provider,instance_type,region,chip,chips_per_instance,usd_per_hour,capacity_instances,source\n\
                aws,p5.48xlarge,us-east-1,,,40.0,100,negotiated 2026-10\n\
                coreweave,HGX-H100x8,us-east-04,H100,8,49.0,,coreweave price list\n\
                azure,Standard_ND96isr_MI300X_v5,*,,,45.0,,negotiated\n";
    let ovs = overrides::parse("overrides.csv", text).unwrap();
    c.apply_overrides(&ovs).unwrap();
    let p5 = c.find_offering("aws/p5.48xlarge/us-east-1").unwrap();
    assert_eq!(p5.usd_per_hour, Some(40.0));
    assert_eq!(p5.capacity_instances, Some(100));
    assert_eq!(p5.price_confidence, PriceConfidence::UserSupplied);
    assert!(p5.source.contains("negotiated"));
    let cw = c.find_offering("HGX-H100x8").unwrap();
    assert_eq!(cw.provider, "coreweave");
    // Exact ids index every offering, the added one too; an instance type alone is not an id.
    for (i, o) in c.offerings().iter().enumerate() {
        assert_eq!(c.offering_index(&o.id()), Some(i));
    }
    assert_eq!(
        c.offering("coreweave/HGX-H100x8/us-east-04")
            .map(|o| o.usd_per_hour),
        Some(Some(49.0))
    );
    assert!(c.offering("HGX-H100x8").is_none());
    assert!(c.providers().contains("coreweave"));
    let mi = c.find_offering("Standard_ND96isr_MI300X_v5").unwrap();
    assert_eq!(mi.usd_per_hour, Some(45.0));
    // Priced by the user: nothing says "no price" any more (issue 13).
    assert_eq!(mi.price_confidence, PriceConfidence::UserSupplied);
    assert!(!mi.notes.contains("NO PRICE"), "{}", mi.notes);
    assert!(mi.notes.contains("negotiated"), "{}", mi.notes);

    // A new offering without chip and price, a bad chip, and an unknown column.
    let bad = "provider,instance_type,region,chip,usd_per_hour\n\
               lambda,gpu_8x_h100,us-west-1,,\n\
               lambda,gpu_8x_x,us-west-1,X9000,3\n";
    let ovs = overrides::parse("o.csv", bad).unwrap();
    let before = c.clone();
    let errs = c.apply_overrides(&ovs).unwrap_err();
    assert_eq!(errs.len(), 2);
    assert!(errs[0].to_string().contains("o.csv:2"), "{}", errs[0]);
    assert!(errs[0].message.contains("chips_per_instance"));
    assert!(errs[1].message.contains("unknown chip `X9000`"));
    assert_eq!(c, before, "nothing applied when any override is bad");

    let errs = overrides::parse(
        "o.csv",
        "provider,instance_type,region,usd_per_hr\naws,x,y,1\n",
    )
    .unwrap_err();
    assert!(
        errs[0].message.contains("did you mean `usd_per_hour`"),
        "{}",
        errs[0]
    );
}

#[test]
fn offering_lookup_names_ambiguity_and_typos() {
    let mut c = builtin();
    let ovs = overrides::parse(
        "o.csv",
        "provider,instance_type,region,chip,chips_per_instance,usd_per_hour\naws,p5.48xlarge,us-west-2,H100,8,56\n",
    )
    .unwrap();
    c.apply_overrides(&ovs).unwrap();
    let err = c.find_offering("p5.48xlarge").unwrap_err();
    assert!(err.contains("ambiguous") && err.contains("aws/p5.48xlarge/us-west-2"));
    let err = c.find_offering("p5.48xlarg").unwrap_err();
    assert!(err.contains("did you mean"), "{err}");
}
