//! The charts end up inline in markdown reports, so every output must be a well-formed standalone
//! SVG whatever the input, and identical across runs so that report snapshots stay stable.

use chipmix_charts::{Bar, Series, bar_chart_svg, histogram_svg, line_chart_svg};
use proptest::prelude::*;

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// Parses `svg`, checks the root element, and returns the trimmed contents of its `<text>`s.
fn texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    root.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_owned())
        .collect()
}

fn size(svg: &str) -> (u32, u32) {
    let doc = roxmltree::Document::parse(svg).unwrap();
    let root = doc.root_element();
    let dim = |a| root.attribute(a).unwrap().parse().unwrap();
    (dim("width"), dim("height"))
}

fn bars(items: &[(&str, f64)]) -> Vec<Bar> {
    items
        .iter()
        .map(|&(label, value)| Bar {
            label: label.to_owned(),
            value,
        })
        .collect()
}

#[test]
fn bar_chart_has_title_labels_and_values() {
    let svg = bar_chart_svg(
        "Cost per token",
        "USD / Mtok",
        &bars(&[("H100", 1.5), ("MI300X", 1.25), ("TPU v5e", 0.75)]),
        &fmt,
    );
    let t = texts(&svg);
    for want in [
        "Cost per token",
        "USD / Mtok",
        "H100",
        "MI300X",
        "TPU v5e",
        "1.5",
        "0.8",
    ] {
        assert!(t.iter().any(|s| s == want), "missing {want:?} in {t:?}");
    }
    assert_eq!(size(&svg), (720, 360));
}

#[test]
fn many_or_long_bars_go_horizontal_and_grow() {
    let many: Vec<Bar> = (0..30)
        .map(|i| Bar {
            label: format!("config-{i}"),
            value: i as f64,
        })
        .collect();
    let svg = bar_chart_svg("Many", "value", &many, &fmt);
    let (w, h) = size(&svg);
    assert_eq!(w, 720);
    assert!(h > 360, "height {h}");
    let t = texts(&svg);
    assert!(t.iter().any(|s| s == "config-29"));

    let long = bars(&[("a rather long configuration label that will not fit", 3.0)]);
    let svg = bar_chart_svg("Long", "value", &long, &fmt);
    assert!(texts(&svg).iter().any(|s| s.starts_with("a rather long")));
}

#[test]
fn bar_chart_handles_negative_and_non_finite_values() {
    let svg = bar_chart_svg(
        "Mixed",
        "delta",
        &bars(&[
            ("up", 2.0),
            ("down", -3.0),
            ("nan", f64::NAN),
            ("inf", f64::INFINITY),
        ]),
        &fmt,
    );
    let t = texts(&svg);
    assert!(t.iter().any(|s| s == "down"));
    assert!(t.iter().any(|s| s == "-3.0"));
    assert!(!t.iter().any(|s| s == "nan" || s == "inf"), "{t:?}");
}

#[test]
fn line_chart_has_legend_and_gap_markers() {
    let series = vec![
        Series {
            name: "H100".into(),
            points: vec![(1.0, 10.0), (2.0, 18.0), (4.0, f64::NAN), (8.0, 30.0)],
        },
        Series {
            name: "MI300X".into(),
            points: vec![(1.0, 12.0), (2.0, 20.0), (4.0, 26.0), (8.0, 34.0)],
        },
    ];
    let svg = line_chart_svg("Throughput", "batch", "tok/s", &series, &fmt);
    let t = texts(&svg);
    for want in ["Throughput", "batch", "tok/s", "H100", "MI300X"] {
        assert!(t.iter().any(|s| s == want), "missing {want:?} in {t:?}");
    }
    // The NaN splits the first series into two polylines; the second is one.
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let polylines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .count();
    assert!(polylines >= 3, "{polylines} polylines");
}

#[test]
fn single_series_has_no_legend() {
    let series = vec![Series {
        name: "only-series-name".into(),
        points: vec![(0.0, 1.0)],
    }];
    let svg = line_chart_svg("One point", "x", "y", &series, &fmt);
    let t = texts(&svg);
    assert!(t.iter().any(|s| s == "One point"));
    assert!(!t.iter().any(|s| s == "only-series-name"));
}

#[test]
fn histogram_has_markers_and_title() {
    let values: Vec<f64> = (0..200)
        .map(|i| (i as f64 * 0.37).sin() * 1e6 + 1e6)
        .collect();
    let markers = vec![("p50".to_owned(), 1.0e6), ("p95".to_owned(), 1.9e6)];
    let svg = histogram_svg("Latency", "ns", &values, 20, &markers, &|v| {
        format!("{:.1}M", v / 1e6)
    });
    let t = texts(&svg);
    for want in ["Latency", "ns", "count", "p50 = 1.0M", "p95 = 1.9M"] {
        assert!(t.iter().any(|s| s == want), "missing {want:?} in {t:?}");
    }
}

#[test]
fn no_data_charts_show_title() {
    let cases = [
        bar_chart_svg("Empty bars", "v", &[], &fmt),
        bar_chart_svg("NaN bars", "v", &bars(&[("x", f64::NAN)]), &fmt),
        line_chart_svg("Empty lines", "x", "y", &[], &fmt),
        line_chart_svg(
            "NaN lines",
            "x",
            "y",
            &[Series {
                name: "s".into(),
                points: vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)],
            }],
            &fmt,
        ),
        histogram_svg("Empty histogram", "x", &[], 10, &[], &fmt),
        histogram_svg(
            "NaN histogram",
            "x",
            &[f64::NAN, f64::NEG_INFINITY],
            0,
            &[("p".into(), f64::NAN)],
            &fmt,
        ),
    ];
    let titles = [
        "Empty bars",
        "NaN bars",
        "Empty lines",
        "NaN lines",
        "Empty histogram",
        "NaN histogram",
    ];
    for (svg, title) in cases.iter().zip(titles) {
        let t = texts(svg);
        assert!(t.iter().any(|s| s == title), "{t:?}");
        assert!(t.iter().any(|s| s == "no data"), "{t:?}");
    }
}

#[test]
fn degenerate_inputs_still_render() {
    let all_equal = [5.0; 10];
    let huge = [f64::MAX, -f64::MAX, 1e308, 0.0];
    let tiny = [1e15, 1e15 + 0.125, 1e-320, 0.0];
    for values in [
        &all_equal[..],
        &huge[..],
        &tiny[..],
        &[0.0][..],
        &[-1.0, -2.0][..],
    ] {
        let b: Vec<Bar> = values
            .iter()
            .map(|&v| Bar {
                label: "b".into(),
                value: v,
            })
            .collect();
        texts(&bar_chart_svg("t", "v", &b, &fmt));
        let s = [Series {
            name: "s".into(),
            points: values.iter().map(|&v| (v, v)).collect(),
        }];
        texts(&line_chart_svg("t", "x", "y", &s, &fmt));
        let markers = [("m".to_owned(), values[0]), ("far".to_owned(), -1e300)];
        texts(&histogram_svg("t", "x", values, 7, &markers, &fmt));
    }
}

#[test]
fn text_is_escaped_and_control_characters_are_dropped() {
    let svg = bar_chart_svg(
        "<b>&\"title\"</b>\u{0}\u{1b}",
        "a\nb",
        &bars(&[("<&>", 1.0)]),
        &|v| format!("{v}\u{7}<"),
    );
    let t = texts(&svg);
    assert!(
        t.iter().any(|s| s.starts_with("<b>&\"title\"</b>")),
        "{t:?}"
    );
    assert!(t.iter().any(|s| s == "<&>"), "{t:?}");
}

#[test]
fn output_is_deterministic() {
    let b = bars(&[("a", 1.0), ("b", 2.0)]);
    assert_eq!(
        bar_chart_svg("t", "v", &b, &fmt),
        bar_chart_svg("t", "v", &b, &fmt)
    );
    let s = [
        Series {
            name: "a".into(),
            points: vec![(1.0, 2.0), (2.0, f64::NAN), (3.0, 1.0)],
        },
        Series {
            name: "b".into(),
            points: vec![(1.0, 3.0), (3.0, 4.0)],
        },
    ];
    assert_eq!(
        line_chart_svg("t", "x", "y", &s, &fmt),
        line_chart_svg("t", "x", "y", &s, &fmt)
    );
    let v = [1.0, 2.0, 2.5, 3.0, 10.0];
    let m = [("p95".to_owned(), 9.0)];
    assert_eq!(
        histogram_svg("t", "x", &v, 4, &m, &fmt),
        histogram_svg("t", "x", &v, 4, &m, &fmt)
    );
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6..1e6f64,
        2 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.0),
        1 => Just(f64::MAX),
        1 => Just(f64::MIN_POSITIVE),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_inputs_never_panic(
        values in prop::collection::vec(any_f64(), 0..40),
        ys in prop::collection::vec(any_f64(), 0..40),
        bins in 0usize..70,
        marker in any_f64(),
        label in ".{0,12}",
    ) {
        let b: Vec<Bar> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| Bar { label: format!("{label}{i}"), value: v })
            .collect();
        let svg = bar_chart_svg(&label, &label, &b, &fmt);
        prop_assert!(roxmltree::Document::parse(&svg).is_ok(), "{}", svg);

        let series = vec![
            Series { name: label.clone(), points: values.iter().copied().zip(ys.iter().copied()).collect() },
            Series { name: "b".into(), points: ys.iter().map(|&y| (y, y)).collect() },
        ];
        let svg = line_chart_svg(&label, "x", "y", &series, &fmt);
        prop_assert!(roxmltree::Document::parse(&svg).is_ok(), "{}", svg);

        let svg = histogram_svg(&label, "x", &values, bins, &[(label.clone(), marker)], &fmt);
        prop_assert!(roxmltree::Document::parse(&svg).is_ok(), "{}", svg);
    }
}
