//! Generated portfolios and catalogs, deterministic for a seed: for property tests and
//! benchmarks, never for planning real work.

use chipmix_catalog::{Catalog, Offering, PriceConfidence, SoftwareStack};
use chipmix_workload::{
    Contract, InferenceService, Policy, Portfolio, Precision, ShareBasis, Slo, TrainingJob,
    Workload, WorkloadKind, model,
};
use rand::{Rng as _, RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A seeded xoshiro256++ stream (`rand_xoshiro`): the same numbers for a seed on every
/// machine, with `rand`'s unbiased sampling.
pub struct Rng(Xoshiro256PlusPlus);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [lo, hi) (`lo` when the range is empty).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.0.random::<f64>()
    }

    /// One of `items`, each equally likely. `items` must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.0.random_range(0..items.len())]
    }

    /// True with probability `p` (never for `p ≤ 0`, always for `p ≥ 1`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.0.random::<f64>() < p
    }
}

/// Knobs of a generated portfolio.
#[derive(Clone, Debug)]
pub struct Shape {
    pub workloads: usize,
    /// Fraction of workloads that are training jobs.
    pub training_fraction: f64,
    pub vendor_cap: Option<f64>,
    pub with_contracts: bool,
    pub resilience: Option<chipmix_workload::Resilience>,
}

/// A portfolio of inference services and training jobs of a few preset models, mostly
/// feasible on the built-in catalog.
pub fn portfolio(seed: u64, shape: &Shape) -> Portfolio {
    let mut rng = Rng::new(seed);
    let serve_models = [
        "llama-3-8b",
        "llama-3.2-3b",
        "llama-3-70b",
        "mixtral-8x7b",
        "llama-3.2-1b",
    ];
    let train_models = ["llama-3.2-1b", "llama-3-8b", "llama-3.2-3b"];
    let stacks = [
        vec![SoftwareStack::Cuda],
        vec![SoftwareStack::Cuda, SoftwareStack::Neuron],
        vec![
            SoftwareStack::Cuda,
            SoftwareStack::Neuron,
            SoftwareStack::Rocm,
        ],
        vec![SoftwareStack::Cuda, SoftwareStack::Xla],
        vec![
            SoftwareStack::Neuron,
            SoftwareStack::Cuda,
            SoftwareStack::Xla,
        ],
    ];
    let mut workloads = Vec::new();
    for i in 0..shape.workloads {
        let training = rng.chance(shape.training_fraction);
        let (name, kind, model_name) = if training {
            let m = *rng.pick(&train_models);
            (
                format!("train-{i}"),
                WorkloadKind::Training(TrainingJob {
                    start_month: 1,
                    tokens: rng.range(1e9, 3e10).round(),
                    seq_len: *rng.pick(&[2048u32, 4096]),
                    deadline_days: rng.range(5.0, 30.0).round(),
                    global_batch_tokens: None,
                    restart: None,
                }),
                m,
            )
        } else {
            let m = *rng.pick(&serve_models);
            let prompt = *rng.pick(&[256u32, 512, 1024, 2048]);
            (
                format!("serve-{i}"),
                WorkloadKind::Inference(InferenceService {
                    growth_monthly: 0.0,
                    demand_by_month: None,
                    peak_requests_per_s: rng.range(0.5, 60.0).round().max(1.0),
                    prompt_tokens: prompt,
                    output_tokens: *rng.pick(&[64u32, 128, 256]),
                    slo: Slo {
                        ttft_ms: *rng.pick(&[1500.0, 3000.0]),
                        tpot_ms: *rng.pick(&[50.0, 80.0]),
                    },
                    headroom: *rng.pick(&[0.0, 0.2]),
                    min_vendors: if rng.chance(0.2) { 2 } else { 1 },
                    max_vendor_fraction: if rng.chance(0.2) { 0.75 } else { 1.0 },
                }),
                m,
            )
        };
        // Services that must span vendors get software more than one vendor runs.
        let multi_vendor = matches!(&kind, WorkloadKind::Inference(s) if s.min_vendors > 1 || s.max_vendor_fraction < 1.0);
        let software = if multi_vendor {
            stacks[1 + (rng.next_u64() % 4) as usize].clone()
        } else {
            rng.pick(&stacks).clone()
        };
        workloads.push(Workload {
            name,
            model_ref: model_name.into(),
            model: model::preset(model_name).expect("preset"),
            software,
            preemptible: rng.chance(0.2),
            team: None,
            precision: Precision::Bf16,
            kind,
        });
    }
    let contracts = if shape.with_contracts {
        vec![
            Contract::Commitment {
                provider: "aws".into(),
                usd_per_month: rng.range(1e4, 5e5).round(),
                discount: 0.2,
                chips: Some(vec![
                    "trainium".into(),
                    "trainium2".into(),
                    "inferentia2".into(),
                ]),
                term: Default::default(),
            },
            Contract::Credits {
                provider: "gcp".into(),
                usd: rng.range(1e4, 1e6).round(),
                expires: None,
                valid_months: Some(6),
                source: Some("ASSUMPTION: generated".into()),
            },
        ]
    } else {
        Vec::new()
    };
    Portfolio {
        name: format!("synthetic-{seed}"),
        file: "<generated>".into(),
        start: None,
        workloads,
        policy: Policy {
            budget_usd_per_month: None,
            max_vendor_share: shape.vendor_cap,
            share_basis: ShareBasis::Spend,
            allowed_providers: None,
            allowed_regions: None,
            allowed_vendors: None,
            headroom: 0.0,
            min_vendors_per_service: 1,
            max_vendor_fraction_per_service: 1.0,
            horizon_months: Some(1),
            spot_availability: 0.5,
            resilience: shape.resilience,
            migration_cost: chipmix_workload::DEFAULT_MIGRATION_COST,
            min_share_per_placement: None,
            max_churn: None,
        },
        contracts,
        offering_overrides: Vec::new(),
        horizon: None,
        supply: Vec::new(),
        roadmap: Vec::new(),
        prices: Vec::new(),
    }
}

/// The built-in catalog widened to about `target` priced offerings: every priced offering
/// again in more regions, at prices −10%…+25% and with some capacity limits, as real
/// multi-region catalogs look.
pub fn catalog(base: &Catalog, target: usize, seed: u64) -> Catalog {
    let mut rng = Rng::new(seed);
    let priced: Vec<Offering> = base
        .offerings()
        .iter()
        .filter(|o| o.usd_per_hour.is_some())
        .cloned()
        .collect();
    let mut out = Vec::new();
    let mut region = 0;
    while priced.len() + out.len() < target {
        region += 1;
        for o in &priced {
            if priced.len() + out.len() >= target {
                break;
            }
            let factor = rng.range(0.9, 1.25);
            out.push(Offering {
                region: format!("{}-synthetic-{region}", o.region),
                usd_per_hour: o.usd_per_hour.map(|p| p * factor),
                spot_usd_per_hour: o.spot_usd_per_hour.map(|p| p * factor),
                capacity_instances: if rng.chance(0.3) {
                    Some(rng.range(2.0, 60.0) as u32)
                } else {
                    None
                },
                price_confidence: PriceConfidence::UserSupplied,
                source: "synthetic (benchmark)".into(),
                ..o.clone()
            });
        }
    }
    let mut c = base.clone();
    c.add_offerings(out).expect("synthetic offerings are valid");
    c
}

/// `portfolio` planned over `months` in periods of `period_months`, with every rule a plan
/// over time knows: services growing 0–4% a month, training jobs starting through the first
/// half, 1- and 3-year reservations (illustrative discounts) bought one month ahead, the
/// commitment ramped over years with an early-exit term, the policy's default migration cost
/// and a churn cap of half a service's instances per period.
pub fn over_time(
    mut portfolio: Portfolio,
    months: u32,
    period_months: u32,
    seed: u64,
) -> Portfolio {
    let mut rng = Rng::new(seed ^ 0x005e_ed0f_7143);
    for w in &mut portfolio.workloads {
        match &mut w.kind {
            WorkloadKind::Inference(s) => s.growth_monthly = rng.range(0.0, 0.04),
            WorkloadKind::Training(j) => {
                j.start_month = 1 + (rng.next_u64() % u64::from((months / 2).max(1))) as u32;
            }
        }
    }
    let term = |provider: &str, years: u32, discount: f64| chipmix_workload::ReservationTerm {
        provider: provider.into(),
        term_years: years,
        discount,
        source: "ASSUMPTION: illustrative discount for generated portfolios".into(),
    };
    portfolio.horizon = Some(chipmix_workload::Horizon {
        months,
        period_months,
        lead_months: 1,
        reservations: vec![
            term("aws", 1, 0.35),
            term("aws", 3, 0.55),
            term("gcp", 1, 0.37),
            term("azure", 1, 0.35),
        ],
    });
    portfolio.policy.horizon_months = None;
    portfolio.policy.max_churn = Some(0.5);
    for k in &mut portfolio.contracts {
        if let Contract::Commitment {
            usd_per_month,
            term,
            ..
        } = k
        {
            let first = *usd_per_month;
            term.months = Some(months.min(36));
            term.usd_per_month_by_year = Some(vec![first, first * 1.5, first * 2.0]);
            term.early_exit_fraction = Some(0.5);
            term.source = Some("ASSUMPTION: generated".into());
        }
    }
    portfolio
}
