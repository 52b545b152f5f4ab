//! A catalog that changes over a `horizon:`: offerings that arrive or are retired (`roadmap:`)
//! and prices that change (`prices:`). Each entry carries its source, or says it is an
//! assumption. Read by the planner over time and by its verifier alike, so both see the same
//! market in every month.

use serde::Serialize;

/// An offering available only from one month of the horizon (a generation that arrives) and,
/// optionally, until another (one that is retired).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Availability {
    /// Offering id (`provider/instance_type/region`).
    pub offering: String,
    /// 1-based first month it can be used.
    pub from_month: u32,
    /// 1-based last month it can be used (`None`: to the end of the horizon).
    pub until_month: Option<u32>,
    pub source: String,
}

/// How an offering's price moves over the horizon.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSeries {
    /// The on-demand price per hour in each month of the horizon.
    UsdPerHourByMonth(Vec<f64>),
    /// A yearly decline, compounding monthly from the horizon's first month: the price in
    /// month `m` (0-based) is `(1 − d)^(m / 12)` of the catalog's.
    DeclinePerYear(f64),
}

/// A price change for one offering, or for every offering (`offering: "*"`, declines only).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PriceChange {
    /// Offering id, or `*`.
    pub offering: String,
    pub series: PriceSeries,
    pub source: String,
}

/// Whether `offering` can be used in month `month` (0-based) under `roadmap`: offerings not on
/// it always can.
pub fn available(roadmap: &[Availability], offering: &str, month: u32) -> bool {
    roadmap
        .iter()
        .filter(|a| a.offering == offering)
        .all(|a| a.from_month <= month + 1 && a.until_month.is_none_or(|u| month < u))
}

/// What the catalog price of `offering` (`base_usd_per_hour`) is multiplied by in month `month`
/// (0-based): the first change naming the offering, else the first `*` decline, else 1. Spot
/// prices move with it (an assumption: spot markets follow list prices).
pub fn price_factor(
    changes: &[PriceChange],
    offering: &str,
    base_usd_per_hour: f64,
    month: u32,
) -> f64 {
    let change = changes
        .iter()
        .find(|c| c.offering == offering)
        .or_else(|| changes.iter().find(|c| c.offering == "*"));
    match change.map(|c| &c.series) {
        None => 1.0,
        Some(PriceSeries::DeclinePerYear(d)) => (1.0 - d).powf(f64::from(month) / 12.0),
        Some(PriceSeries::UsdPerHourByMonth(series)) => {
            let price = series
                .get(month as usize)
                .or(series.last())
                .copied()
                .unwrap_or(base_usd_per_hour);
            if base_usd_per_hour > 0.0 {
                price / base_usd_per_hour
            } else {
                1.0
            }
        }
    }
}

/// [`price_factor`] averaged over `months` (a planning period): what the period's
/// instance-months cost against the catalog price.
pub fn mean_price_factor(
    changes: &[PriceChange],
    offering: &str,
    base_usd_per_hour: f64,
    months: std::ops::Range<u32>,
) -> f64 {
    let n = months.len();
    if n == 0 || changes.is_empty() {
        return 1.0;
    }
    months
        .map(|m| price_factor(changes, offering, base_usd_per_hour, m))
        .sum::<f64>()
        / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roadmap_windows_are_inclusive_one_based_months() {
        let roadmap = [Availability {
            offering: "a".into(),
            from_month: 3,
            until_month: Some(5),
            source: "s".into(),
        }];
        let months: Vec<bool> = (0..7).map(|m| available(&roadmap, "a", m)).collect();
        assert_eq!(months, [false, false, true, true, true, false, false]);
        assert!(available(&roadmap, "b", 0));
    }

    #[test]
    fn declines_compound_and_series_are_relative_to_the_catalog() {
        let changes = [
            PriceChange {
                offering: "*".into(),
                series: PriceSeries::DeclinePerYear(0.2),
                source: "s".into(),
            },
            PriceChange {
                offering: "x".into(),
                series: PriceSeries::UsdPerHourByMonth(vec![10.0, 8.0]),
                source: "s".into(),
            },
        ];
        assert!((price_factor(&changes, "y", 5.0, 12) - 0.8).abs() < 1e-12);
        assert!((price_factor(&changes, "y", 5.0, 0) - 1.0).abs() < 1e-12);
        assert!((price_factor(&changes, "x", 10.0, 1) - 0.8).abs() < 1e-12);
        assert!(
            (price_factor(&changes, "x", 10.0, 9) - 0.8).abs() < 1e-12,
            "last repeats"
        );
    }
}
