//! The one boundary for numbers: the physical range every numeric input must lie in.
//!
//! Every number a user gives chipmix — in a portfolio, an override or SkyPilot CSV, a model's
//! `config.json`, a scenario file, a command-line flag or an API body — is checked against one
//! of these ranges where it enters, so nothing non-finite or absurd reaches the performance
//! model or the solver. The ranges are generous: each is wide enough for anything that exists
//! or is planned (the reason is given beside it), and narrow enough that every product of them
//! the planner forms stays far below the magnitudes at which a MILP solver's tolerances stop
//! meaning anything (HiGHS treats 1e20 as infinity and refuses matrix entries above 1e15).
//!
//! The table is written out in `docs/limits.md`; a test checks the two agree.

use std::fmt;

/// A closed or half-open range of accepted values with its unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// Lowest accepted value.
    pub min: f64,
    /// Whether `min` itself is refused (`> min` rather than `≥ min`).
    pub min_exclusive: bool,
    /// Highest accepted value.
    pub max: f64,
    /// Whether `max` itself is refused (`< max` rather than `≤ max`).
    pub max_exclusive: bool,
    /// Unit as shown in messages (`"USD/hour"`, `"requests/s"`, `""` for a pure number).
    pub unit: &'static str,
    /// Whether only whole numbers are accepted.
    pub whole: bool,
}

impl Limit {
    const fn real(min: f64, min_exclusive: bool, max: f64, unit: &'static str) -> Limit {
        Limit {
            min,
            min_exclusive,
            max,
            max_exclusive: false,
            unit,
            whole: false,
        }
    }

    const fn count(min: f64, max: f64, unit: &'static str) -> Limit {
        Limit {
            min,
            min_exclusive: false,
            max,
            max_exclusive: false,
            unit,
            whole: true,
        }
    }

    /// `Ok(v)` when `v` is finite, in range and (for a count) whole; otherwise the complaint,
    /// e.g. `must be a number in [0.0001, 1000000] USD/hour, got 1e300`.
    pub fn check(&self, v: f64) -> Result<f64, String> {
        let low_ok = if self.min_exclusive {
            v > self.min
        } else {
            v >= self.min
        };
        let high_ok = if self.max_exclusive {
            v < self.max
        } else {
            v <= self.max
        };
        let ok = v.is_finite() && low_ok && high_ok && (!self.whole || v.fract() == 0.0);
        if ok {
            Ok(v)
        } else {
            Err(format!("must be {self}, got {}", show(v)))
        }
    }

    /// [`Limit::check`] for a count that must fit a `u32` (every count limit does).
    pub fn check_u32(&self, v: f64) -> Result<u32, String> {
        debug_assert!(self.whole && self.max <= f64::from(u32::MAX));
        self.check(v).map(|v| v as u32)
    }

    /// [`Limit::check`] for a count given as an integer (a command-line flag).
    pub fn check_int(&self, v: u64) -> Result<u32, String> {
        if v > self.max as u64 {
            return Err(format!("must be {self}, got {v}"));
        }
        self.check_u32(v as f64)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.whole {
            "a whole number"
        } else if self.min >= 0.0 && self.max <= 1.0 && self.unit.is_empty() {
            "a fraction"
        } else {
            "a number"
        };
        let open = if self.min_exclusive { '(' } else { '[' };
        let close = if self.max_exclusive { ')' } else { ']' };
        write!(
            f,
            "{kind} in {open}{}, {}{close}",
            show(self.min),
            show(self.max)
        )?;
        if !self.unit.is_empty() {
            write!(f, " {}", self.unit)?;
        }
        Ok(())
    }
}

/// A number as people write it in files and flags: `16M`, `4T`, `1.5e12`, `1_000`, `$40,000`
/// (suffixes k/K = 10³, M = 10⁶, B/G = 10⁹, T = 10¹²). `None` when it is not one.
pub fn parse_quantity(s: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 6] = [
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("B", 1e9),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let s = s.trim().trim_start_matches('$').replace(['_', ','], "");
    for (suffix, factor) in SUFFIXES {
        if let Some(num) = s.strip_suffix(suffix) {
            return num.trim().parse::<f64>().ok().map(|v| v * factor);
        }
    }
    s.parse::<f64>().ok()
}

/// Largest input file chipmix reads (a portfolio, a catalog or trace CSV, a `config.json`, a
/// scenario, a saved plan): the largest shipped file, the Philly trace, is 3.4 MB.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Reads a text file of at most [`MAX_FILE_BYTES`] without reading past that: `/dev/zero` or a
/// runaway file is refused, not read into memory. The message does not name the file (the
/// caller does).
pub fn read_text_file(path: impl AsRef<std::path::Path>) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path.as_ref()).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "larger than {} MiB; chipmix reads no input that large",
            MAX_FILE_BYTES / (1024 * 1024)
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// A number given as text (a command-line flag, a query parameter) checked against `limit`.
pub fn parse_in(s: &str, limit: &Limit) -> Result<f64, String> {
    let v = parse_quantity(s).ok_or_else(|| format!("`{s}` is not a number"))?;
    limit.check(v)
}

/// A number as a person writes it: `1000000`, `0.5`, `1e300`.
fn show(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.is_finite() && v != 0.0 && !(1e-4..1e15).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

// --- Offerings (catalog rows, override and SkyPilot CSVs, portfolio overrides) ---

/// Price of one instance for one hour. A whole 9,216-chip TPU pod at list prices is below
/// $100,000/hour; SkyPilot's largest TPU slice (v5p-12288) is listed at $25,804.80.
pub const USD_PER_HOUR: Limit = Limit::real(0.0001, false, 1_000_000.0, "USD/hour");
/// Accelerator chips in one instance or slice (the largest TPU slices hold 9,216 chips).
pub const CHIPS_PER_INSTANCE: Limit = Limit::count(1.0, 100_000.0, "chips");
/// Instances a provider can supply of one offering (0: none can be had).
pub const CAPACITY_INSTANCES: Limit = Limit::count(0.0, 10_000_000.0, "instances");
/// Host vCPUs of one instance.
pub const VCPUS: Limit = Limit::count(1.0, 1_000_000.0, "vCPUs");
/// Host memory of one instance.
pub const MEMORY_GIB: Limit = Limit::real(0.001, false, 100_000_000.0, "GiB");
/// Network bandwidth of one instance.
pub const NETWORK_GBPS: Limit = Limit::real(0.001, false, 10_000_000.0, "Gbit/s");

// --- Chips (the built-in data and any chip a user adds) ---

/// Dense matrix throughput of one chip at one precision (B200: 2,250 dense BF16 TFLOPS).
pub const TFLOPS: Limit = Limit::real(0.001, false, 1_000_000.0, "TFLOPS");
/// Memory of one chip.
pub const HBM_GIB: Limit = Limit::real(0.001, false, 100_000.0, "GiB");
/// Memory bandwidth of one chip.
pub const HBM_TBPS: Limit = Limit::real(0.001, false, 10_000.0, "TB/s");
/// Link bandwidth of one chip.
pub const LINK_GBPS: Limit = Limit::real(0.001, false, 100_000_000.0, "Gbit/s");
/// Cores (TensorCores, NeuronCores) in one chip.
pub const CORES_PER_CHIP: Limit = Limit::count(1.0, 100_000.0, "cores");
/// Power of one chip.
pub const TDP_W: Limit = Limit::real(0.001, false, 1_000_000.0, "W");
/// Year a chip became available.
pub const RELEASE_YEAR: Limit = Limit::count(1990.0, 2100.0, "");

// --- Workloads ---

/// Peak traffic of one inference service. The largest public services serve tens of
/// thousands of requests per second; ten million leaves room for anything real.
pub const REQUESTS_PER_S: Limit = Limit::real(0.000_001, false, 10_000_000.0, "requests/s");
/// Prompt or output length of one request, a training sequence, a model's context (Llama 4
/// Scout's is 10,485,760 tokens).
pub const TOKENS_PER_SEQUENCE: Limit = Limit::count(1.0, 100_000_000.0, "tokens");
/// Tokens of one training run (frontier runs are tens of trillions).
pub const TRAINING_TOKENS: Limit = Limit::real(1_000.0, false, 1e16, "tokens");
/// Tokens of one optimizer step.
pub const BATCH_TOKENS: Limit = Limit::real(1.0, false, 1e10, "tokens");
/// Days until a training run must finish (ten years).
pub const DEADLINE_DAYS: Limit = Limit::real(0.01, false, 3_650.0, "days");
/// A latency objective (time to first token, time per output token): up to an hour.
pub const LATENCY_MS: Limit = Limit::real(0.001, false, 3_600_000.0, "ms");
/// Spare capacity over peak demand, as a fraction (10 = eleven times the peak).
pub const HEADROOM: Limit = Limit::real(0.0, false, 10.0, "");
/// Month-on-month demand growth as a fraction (−0.99 … +10).
pub const GROWTH_MONTHLY: Limit = Limit::real(-0.99, false, 10.0, "");
/// A month number or a number of months (fifty years).
pub const MONTHS: Limit = Limit::count(1.0, 600.0, "months");
/// Months a plan looks ahead (`horizon.months`): ten years.
pub const HORIZON_MONTHS: Limit = Limit::count(1.0, 120.0, "months");
/// Months between ordering capacity and having it.
pub const LEAD_MONTHS: Limit = Limit::count(0.0, 120.0, "months");
/// Demand in one month of a series (0: the service is off that month).
pub const REQUESTS_PER_S_OR_ZERO: Limit = Limit::real(0.0, false, 10_000_000.0, "requests/s");
/// Years of a reservation term.
pub const TERM_YEARS: Limit = Limit::count(1.0, 10.0, "years");

// --- Money and rules ---

/// A monthly amount (budget, commitment): $100 billion a month is beyond any lab's spend.
pub const USD_PER_MONTH: Limit = Limit::real(0.01, false, 1e11, "USD/month");
/// A one-off amount (credits): a trillion dollars.
pub const USD: Limit = Limit::real(0.01, false, 1e12, "USD");
/// A share of something (vendor share, fraction served).
pub const FRACTION: Limit = Limit::real(0.000_001, false, 1.0, "");
/// A discount off list price: in [0, 1).
pub const DISCOUNT: Limit = Limit {
    max_exclusive: true,
    ..Limit::real(0.0, false, 1.0, "")
};
/// Vendors a service must run on.
pub const VENDORS: Limit = Limit::count(1.0, 100.0, "vendors");

// --- Model configs (`config.json`) ---

/// Transformer layers.
pub const LAYERS: Limit = Limit::count(1.0, 10_000.0, "layers");
/// Hidden, intermediate, head and latent dimensions.
pub const MODEL_DIMENSION: Limit = Limit::count(1.0, 10_000_000.0, "");
/// Attention heads (query or key/value).
pub const HEADS: Limit = Limit::count(1.0, 100_000.0, "heads");
/// Vocabulary size.
pub const VOCAB: Limit = Limit::count(1.0, 100_000_000.0, "tokens");
/// Experts of a mixture-of-experts layer, routed or active.
pub const EXPERTS: Limit = Limit::count(1.0, 100_000.0, "experts");

// --- Command-line flags and API parameters ---

/// Requests decoded together (`--batch`).
pub const BATCH: Limit = Limit::count(1.0, 1_000_000.0, "requests");
/// Chips given to one estimate (`--chips`).
pub const CHIPS: Limit = Limit::count(1.0, 1_000_000.0, "chips");
/// Solver time limit (`--time-limit`): up to a day.
pub const TIME_LIMIT_S: Limit = Limit::real(0.01, false, 86_400.0, "s");
/// Relative optimality gap at which the solver may stop (`--gap`).
pub const GAP: Limit = Limit::real(0.0, false, 1.0, "");
/// A probability.
pub const PROBABILITY: Limit = Limit::real(0.0, false, 1.0, "");
/// Random samples or re-plans of a Monte Carlo run.
pub const SAMPLES: Limit = Limit::count(0.0, 10_000_000.0, "samples");
/// Points of a sweep.
pub const SWEEP_STEPS: Limit = Limit::count(2.0, 1_000.0, "steps");
/// A value a sweep sets (its own field's limit is checked when the portfolio is decoded).
pub const SWEEP_VALUE: Limit = Limit::real(-1e12, false, 1e12, "");
/// Folds of a cross-validation.
pub const FOLDS: Limit = Limit::count(2.0, 10_000.0, "folds");
/// A price increase tried by a break-even search, as a fraction (100 = +10,000%).
pub const PRICE_INCREASE: Limit = Limit::real(0.000_001, false, 100.0, "");
/// Days simulated (ten years).
pub const DAYS: Limit = Limit::real(0.001, false, 3_650.0, "days");
/// An interval in hours (a year).
pub const HOURS: Limit = Limit::real(0.001, false, 8_760.0, "hours");
/// A yearly price decline (`prices[].decline_per_year`; negative: a rise).
pub const PRICE_DECLINE: Limit = Limit::real(-1.0, false, 0.99, "");
/// Hours of an instance's price that moving it costs (`policy.migration_cost`; 0 = free).
pub const MIGRATION_HOURS: Limit = Limit::real(0.0, false, 8_760.0, "hours");
/// USD that moving one instance costs (`policy.migration_cost`; 0 = free).
pub const MIGRATION_USD: Limit = Limit::real(0.0, false, 10_000_000.0, "USD");
/// A rate of events per hour (jobs arriving, spot preemptions per instance-hour).
pub const PER_HOUR: Limit = Limit::real(0.0, false, 1_000_000.0, "per hour");
/// Bytes of one request body the server accepts.
pub const BODY_BYTES: Limit = Limit::count(1_024.0, 1_073_741_824.0, "bytes");
/// A multiplicative factor in a scenario (capacity × 0 is an outage).
pub const FACTOR: Limit = Limit::real(0.0, false, 1_000.0, "");
/// A multiplicative factor that must leave something (price × 3, demand × 0.5).
pub const POSITIVE_FACTOR: Limit = Limit::real(0.000_001, false, 1_000.0, "");

/// Every limit with the name `docs/limits.md` gives it.
pub const ALL: &[(&str, Limit)] = &[
    ("USD_PER_HOUR", USD_PER_HOUR),
    ("CHIPS_PER_INSTANCE", CHIPS_PER_INSTANCE),
    ("CAPACITY_INSTANCES", CAPACITY_INSTANCES),
    ("VCPUS", VCPUS),
    ("MEMORY_GIB", MEMORY_GIB),
    ("NETWORK_GBPS", NETWORK_GBPS),
    ("TFLOPS", TFLOPS),
    ("HBM_GIB", HBM_GIB),
    ("HBM_TBPS", HBM_TBPS),
    ("LINK_GBPS", LINK_GBPS),
    ("CORES_PER_CHIP", CORES_PER_CHIP),
    ("TDP_W", TDP_W),
    ("RELEASE_YEAR", RELEASE_YEAR),
    ("REQUESTS_PER_S", REQUESTS_PER_S),
    ("TOKENS_PER_SEQUENCE", TOKENS_PER_SEQUENCE),
    ("TRAINING_TOKENS", TRAINING_TOKENS),
    ("BATCH_TOKENS", BATCH_TOKENS),
    ("DEADLINE_DAYS", DEADLINE_DAYS),
    ("LATENCY_MS", LATENCY_MS),
    ("HEADROOM", HEADROOM),
    ("GROWTH_MONTHLY", GROWTH_MONTHLY),
    ("MONTHS", MONTHS),
    ("HORIZON_MONTHS", HORIZON_MONTHS),
    ("LEAD_MONTHS", LEAD_MONTHS),
    ("REQUESTS_PER_S_OR_ZERO", REQUESTS_PER_S_OR_ZERO),
    ("TERM_YEARS", TERM_YEARS),
    ("USD_PER_MONTH", USD_PER_MONTH),
    ("USD", USD),
    ("FRACTION", FRACTION),
    ("DISCOUNT", DISCOUNT),
    ("VENDORS", VENDORS),
    ("LAYERS", LAYERS),
    ("MODEL_DIMENSION", MODEL_DIMENSION),
    ("HEADS", HEADS),
    ("VOCAB", VOCAB),
    ("EXPERTS", EXPERTS),
    ("BATCH", BATCH),
    ("CHIPS", CHIPS),
    ("TIME_LIMIT_S", TIME_LIMIT_S),
    ("GAP", GAP),
    ("PROBABILITY", PROBABILITY),
    ("SAMPLES", SAMPLES),
    ("SWEEP_STEPS", SWEEP_STEPS),
    ("SWEEP_VALUE", SWEEP_VALUE),
    ("FOLDS", FOLDS),
    ("PRICE_INCREASE", PRICE_INCREASE),
    ("DAYS", DAYS),
    ("HOURS", HOURS),
    ("PRICE_DECLINE", PRICE_DECLINE),
    ("MIGRATION_HOURS", MIGRATION_HOURS),
    ("MIGRATION_USD", MIGRATION_USD),
    ("PER_HOUR", PER_HOUR),
    ("BODY_BYTES", BODY_BYTES),
    ("FACTOR", FACTOR),
    ("POSITIVE_FACTOR", POSITIVE_FACTOR),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_non_finite_and_out_of_range() {
        assert_eq!(USD_PER_HOUR.check(98.32), Ok(98.32));
        for bad in [0.0, -1.0, 1e300, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(USD_PER_HOUR.check(bad).is_err(), "{bad}");
        }
        assert_eq!(
            USD_PER_HOUR.check(1e300).unwrap_err(),
            "must be a number in [0.0001, 1000000] USD/hour, got 1e300"
        );
        assert_eq!(CAPACITY_INSTANCES.check_u32(0.0), Ok(0));
        assert!(CHIPS_PER_INSTANCE.check_u32(8.5).is_err());
        assert_eq!(
            BATCH.check_int(4_294_967_295).unwrap_err(),
            "must be a whole number in [1, 1000000] requests, got 4294967295"
        );
        assert_eq!(HEADROOM.check(0.0), Ok(0.0));
    }

    /// `docs/limits.md` shows exactly these limits (`CHIPMIX_WRITE_DOCS=1` rewrites its table).
    #[test]
    fn the_docs_table_is_these_limits() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/limits.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let start = "<!-- limits table:";
        let end = "<!-- end of limits table -->";
        let (head, rest) = doc.split_at(doc.find(start).unwrap());
        let head_line_end = rest.find('\n').unwrap() + 1;
        let tail = &rest[rest.find(end).unwrap()..];
        let mut table = String::from("| limit | accepted |\n|---|---|\n");
        for (name, l) in ALL {
            table.push_str(&format!("| `{name}` | {l} |\n"));
        }
        let want = format!("{head}{}{table}{tail}", &rest[..head_line_end]);
        if std::env::var_os("CHIPMIX_WRITE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        assert_eq!(
            doc, want,
            "docs/limits.md is stale: CHIPMIX_WRITE_DOCS=1 rewrites it"
        );
    }

    #[test]
    fn every_count_fits_u32() {
        for (name, l) in ALL {
            assert!(l.min <= l.max, "{name}");
            if l.whole {
                assert!(l.max <= f64::from(u32::MAX), "{name}");
            }
        }
    }
}
