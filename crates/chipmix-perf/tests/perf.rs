use chipmix_catalog::Catalog;
use chipmix_perf::fit;
use chipmix_perf::training::{self, Sharding, TrainRequest};
use chipmix_perf::{Calibration, InferenceSetup, ModelShape, PerfError, Replica, System};
use chipmix_workload::{Precision, Slo, model};
use proptest::prelude::*;

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn shape(name: &str) -> ModelShape {
    ModelShape::new(&model::preset(name).unwrap())
}

fn system(catalog: &Catalog, offering: &str) -> System {
    let o = catalog.find_offering(offering).unwrap();
    System::for_offering(
        catalog,
        o,
        Calibration::builtin().params_for(catalog, &o.chip),
    )
    .unwrap()
}

fn fits(shape: &ModelShape, system: &System, tp: u32, pp: u32) -> bool {
    InferenceSetup::new(shape, system, Precision::Bf16, Replica { tp, pp })
        .unwrap()
        .memory()
        .is_ok()
}

#[test]
fn llama_3_70b_bf16_needs_two_h100s() {
    let c = catalog();
    let h100 = system(&c, "p5.48xlarge");
    let m = shape("llama-3-70b");
    assert!(!fits(&m, &h100, 1, 1), "141 GB of weights do not fit 80 GB");
    assert!(fits(&m, &h100, 2, 1));
}

#[test]
fn llama_405b_bf16_fits_8_h200_but_not_8_h100() {
    let c = catalog();
    let m = shape("llama-3.1-405b");
    assert!(fits(&m, &system(&c, "p5en.48xlarge"), 8, 1));
    assert!(!fits(&m, &system(&c, "p5.48xlarge"), 8, 1));
    // Two H100 instances in pipeline do hold it.
    assert!(fits(&m, &system(&c, "p5.48xlarge"), 8, 2));
}

#[test]
fn training_405b_needs_optimizer_state_sharded_over_many_chips() {
    let c = catalog();
    let h100 = system(&c, "p5.48xlarge");
    let m = shape("llama-3.1-405b");
    let req = |chips, pp, dp| TrainRequest {
        chips,
        seq_len: 8192,
        global_batch_tokens: 16.0 * 1024.0 * 1024.0,
        precision: Precision::Bf16,
        tp: Some(8),
        pp,
        dp,
        micro_batch: None,
    };
    // Mixed-precision Adam keeps 16 bytes per parameter: 6.5 TB for 405B. Over 64-way model
    // parallelism that is 101 GB per chip — it does not fit without sharding over
    // data-parallel ranks, whatever the activations.
    let err = training::estimate(&m, &h100, &req(64, Some(8), Some(1))).unwrap_err();
    assert!(matches!(err, PerfError::DoesNotFit(_)), "{err}");
    // Sharded over 16 data-parallel ranks it does.
    let e = training::estimate(&m, &h100, &req(1024, Some(8), Some(16))).unwrap();
    assert!(e.memory_gib_per_chip <= e.usable_gib_per_chip);
    assert!(matches!(
        e.config.sharding,
        Sharding::Optimizer | Sharding::Full
    ));
    // Meta's layout (TP8 PP16 DP64 on 8,192 H100s) fits and lands near the MFU Meta reports.
    let e = training::estimate(&m, &h100, &req(8192, Some(16), Some(64))).unwrap();
    assert!((e.mfu - 0.43).abs() < 0.05, "mfu {}", e.mfu);
    // A single 8-GPU instance cannot train it at all.
    let err = training::estimate(
        &m,
        &h100,
        &TrainRequest {
            tp: None,
            ..req(8, None, None)
        },
    )
    .unwrap_err();
    assert!(matches!(err, PerfError::DoesNotFit(_)));
}

#[test]
fn moe_decode_reads_only_routed_experts() {
    let ds = shape("deepseek-v3");
    let read_one = ds.params_read_per_step(1.0);
    assert!(
        read_one < 0.1 * ds.total_params,
        "one token touches ~37B of 671B"
    );
    assert!(ds.params_read_per_step(256.0) > 0.9 * ds.total_params - ds.embedding_params);
}

#[test]
fn fp8_on_a_chip_without_fp8_is_an_error() {
    let c = catalog();
    let a100 = system(&c, "p4de.24xlarge");
    let m = shape("llama-3-8b");
    let err = InferenceSetup::new(&m, &a100, Precision::Fp8, Replica { tp: 1, pp: 1 }).unwrap_err();
    assert!(err.to_string().contains("no FP8"), "{err}");
}

#[test]
fn tensor_parallel_cannot_leave_the_instance() {
    let c = catalog();
    let m = shape("llama-3-8b");
    let l4 = system(&c, "g6.xlarge");
    assert!(InferenceSetup::new(&m, &l4, Precision::Bf16, Replica { tp: 2, pp: 1 }).is_err());
}

#[test]
fn shipped_calibration_is_what_the_shipped_measurements_give() {
    let c = catalog();
    let text = include_str!("../../../data/measurements.csv");
    let rows = fit::parse_measurements("data/measurements.csv", text, &c).unwrap();
    let report = fit::calibrate(&c, &rows, 5, "data/measurements.csv", "2026-11-26");
    let shipped = Calibration::builtin();
    for (chip, fitted) in report.calibration.entries() {
        let s = shipped.params(chip);
        let (a, b) = (fitted, &s);
        for (x, y) in [
            (a.train_compute_efficiency, b.train_compute_efficiency),
            (a.prefill_compute_efficiency, b.prefill_compute_efficiency),
            (a.decode_memory_efficiency, b.decode_memory_efficiency),
            (a.step_overhead_ms, b.step_overhead_ms),
        ] {
            assert!(
                (x - y).abs() <= 1e-3 * y.max(1.0),
                "{chip}: refit {x} vs shipped {y}; rerun `chipmix calibrate --write data/calibration.csv`"
            );
        }
    }
    // The acceptance bar: held-out median error ≤ 15% for every chip family with data.
    for f in &report.families {
        assert!(
            f.held_out_median_abs_error <= 0.15,
            "{}: {:.1}%",
            f.chip,
            f.held_out_median_abs_error * 100.0
        );
    }
    // Every published row is accounted for: predicted, or listed with the reason it is not.
    assert_eq!(report.rows.len(), rows.len());
    assert!(
        report
            .rows
            .iter()
            .all(|r| r.held_out.is_some() || !r.note.is_empty())
    );
}

#[test]
fn bad_measurement_rows_are_located() {
    let c = catalog();
    let text = "id,chip,chips,offering,model,kind,precision,tp,pp,dp,batch,input_tokens,output_tokens,seq_len,global_batch_tokens,metric,value,source,notes\n\
                a,h100,1,,llama-3-8b,static_batch,bf16,1,1,1,8,128,128,,,tpot_ms,-1,x,\n\
                b,x9000,1,,llama-3-8b,static_batch,bf16,1,1,1,8,128,128,,,tpot_ms,10,x,\n";
    let errs = fit::parse_measurements("m.csv", text, &c).unwrap_err();
    assert!(errs[0].starts_with("m.csv:2: value:"), "{errs:?}");
    assert!(errs[1].starts_with("m.csv:3: chip:"), "{errs:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A serving answer always meets the SLOs it was asked for and fits memory.
    #[test]
    fn serve_meets_its_slos(
        model_i in 0usize..4,
        offering_i in 0usize..6,
        prompt in 16u32..4096,
        output in 1u32..1024,
        ttft in 100.0f64..5000.0,
        tpot in 5.0f64..200.0,
    ) {
        let c = catalog();
        let models = ["llama-3-8b", "llama-3-70b", "mixtral-8x7b", "llama-3.2-1b"];
        let offerings = ["p5.48xlarge", "inf2.48xlarge", "trn1.32xlarge", "g6e.xlarge", "p5en.48xlarge", "a3-highgpu-8g"];
        let m = shape(models[model_i]);
        let o = c.find_offering(offerings[offering_i]).unwrap();
        let slo = Slo { ttft_ms: ttft, tpot_ms: tpot };
        match chipmix_perf::serve_on_offering(&c, &Calibration::builtin(), &m, o, Precision::Bf16, prompt, output, slo) {
            Ok(s) => {
                let e = &s.estimate;
                prop_assert!(e.ttft_ms <= ttft + 1e-9 && e.tpot_ms <= tpot + 1e-9);
                prop_assert!(e.max_requests_per_s > 0.0 && e.prefill_utilization < 1.0);
                prop_assert!(e.batch >= 1);
                prop_assert!(s.usd_per_million_output_tokens.unwrap() > 0.0);
            }
            Err(PerfError::SloUnreachable(_) | PerfError::DoesNotFit(_)) => {}
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    /// Decode steps get no faster with more sequences or longer contexts.
    #[test]
    fn decode_is_monotone(batch in 1u32..96, extra in 1u32..64, context in 1u32..4000) {
        let c = catalog();
        let sys = system(&c, "p5.48xlarge");
        let m = shape("llama-3-8b");
        let s = InferenceSetup::new(&m, &sys, Precision::Bf16, Replica { tp: 1, pp: 1 }).unwrap();
        let a = s.decode(batch, context).unwrap().step_ms;
        // A larger batch either takes at least as long or no longer fits the KV cache.
        match s.decode(batch + extra, context) {
            Ok(d) => prop_assert!(d.step_ms >= a),
            Err(e) => prop_assert!(matches!(e, PerfError::DoesNotFit(_))),
        }
        match s.decode(batch, context + extra) {
            Ok(d) => prop_assert!(d.step_ms >= a),
            Err(e) => prop_assert!(matches!(e, PerfError::DoesNotFit(_))),
        }
        prop_assert!(s.prefill(1, context + extra).unwrap().time_ms >= s.prefill(1, context).unwrap().time_ms);
    }

    /// The training search returns a layout that uses every chip and fits memory.
    #[test]
    fn training_configs_fit(chips_log in 3u32..11, seq_i in 0usize..3, model_i in 0usize..3) {
        let c = catalog();
        let sys = system(&c, "p5.48xlarge");
        let m = shape(["llama-3-8b", "llama-3-70b", "mixtral-8x7b"][model_i]);
        let seq = [2048u32, 4096, 8192][seq_i];
        let chips = 1u32 << chips_log;
        let req = TrainRequest {
            chips,
            seq_len: seq,
            global_batch_tokens: 4.0 * 1024.0 * 1024.0,
            precision: Precision::Bf16,
            tp: None, pp: None, dp: None, micro_batch: None,
        };
        if let Ok(e) = training::estimate(&m, &sys, &req) {
            let k = e.config;
            prop_assert_eq!(k.tp * k.pp * k.dp, chips);
            prop_assert!(k.tp <= 8);
            prop_assert!(e.memory_gib_per_chip <= e.usable_gib_per_chip);
            prop_assert!(e.mfu > 0.0 && e.mfu < 1.0);
            prop_assert!(e.global_batch_tokens <= req.global_batch_tokens * 1.0001 + f64::from(seq) * f64::from(k.dp) * f64::from(k.micro_batch));
        }
    }
}
