//! Speed of the estimators the planner calls for every (workload, offering, configuration)
//! candidate. Targets: a serve estimate under 20 µs, a training search under 1 ms, one core.

use chipmix_catalog::Catalog;
use chipmix_perf::training::{self, TrainRequest};
use chipmix_perf::{Calibration, InferenceSetup, ModelShape, Replica, System, serve_on_offering};
use chipmix_workload::{Precision, Slo, model};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let catalog = Catalog::builtin().unwrap();
    let calibration = Calibration::builtin();
    let p5 = catalog.find_offering("p5.48xlarge").unwrap();
    let h100 =
        System::for_offering(&catalog, p5, calibration.params_for(&catalog, "h100")).unwrap();
    let l70 = ModelShape::new(&model::preset("llama-3-70b").unwrap());
    let l405 = ModelShape::new(&model::preset("llama-3.1-405b").unwrap());
    let slo = Slo {
        ttft_ms: 2000.0,
        tpot_ms: 50.0,
    };

    let setup =
        InferenceSetup::new(&l70, &h100, Precision::Bf16, Replica { tp: 4, pp: 1 }).unwrap();
    c.bench_function(
        "serve: llama-3-70b, one replica layout (tp 4 on H100)",
        |b| b.iter(|| setup.serve(black_box(1024), black_box(256), slo).unwrap()),
    );
    c.bench_function(
        "serve_on_offering: llama-3-70b on p5.48xlarge (all layouts, priced)",
        |b| {
            b.iter(|| {
                serve_on_offering(
                    &catalog,
                    &calibration,
                    &l70,
                    p5,
                    Precision::Bf16,
                    black_box(1024),
                    256,
                    slo,
                )
                .unwrap()
            })
        },
    );
    c.bench_function("decode step: llama-3-70b tp 4 batch 64", |b| {
        b.iter(|| setup.decode(black_box(64), black_box(1536)).unwrap())
    });
    let req = |chips| TrainRequest {
        chips,
        seq_len: 8192,
        global_batch_tokens: 16.0 * 1024.0 * 1024.0,
        precision: Precision::Bf16,
        tp: None,
        pp: None,
        dp: None,
        micro_batch: None,
    };
    c.bench_function("train search: llama-3-70b on 1024 H100", |b| {
        b.iter(|| training::estimate(&l70, &h100, black_box(&req(1024))).unwrap())
    });
    c.bench_function("train search: llama-3.1-405b on 8192 H100", |b| {
        b.iter(|| training::estimate(&l405, &h100, black_box(&req(8192))).unwrap())
    });
}

criterion_group! {
    name = estimators;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(estimators);
