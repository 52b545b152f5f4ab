//! What the simulated fleet is asked to do: training jobs (the Philly trace or a synthetic
//! Poisson stream) and the shape of inference load over a day (the Azure LLM trace).

use rand::SeedableRng;
use rand_distr::weighted::WeightedIndex;
use rand_distr::{Distribution, Exp};

/// The simulator's seeded random stream (xoshiro256++): the same numbers for a seed on every
/// machine.
pub type SimRng = rand_xoshiro::Xoshiro256PlusPlus;
use chrono::NaiveDateTime;
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// A training job as submitted.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct JobArrival {
    /// Seconds after the first submission of the trace.
    pub submit_seconds: f64,
    /// Run time on `num_gpus` chips of the reference chip ([`REFERENCE_CHIP`]).
    pub duration_seconds: f64,
    pub num_gpus: u32,
}

/// The chip the trace's durations were measured on, by chipmix's assumption: Philly's GPUs were
/// a mix of P100s and P40s, but speeds are taken relative to the A100-40GB because it is the
/// oldest training chip in the catalog with calibrated efficiencies. A job runs
/// `duration × (tokens/s on A100-40GB ÷ tokens/s on the chip)` elsewhere.
pub const REFERENCE_CHIP: &str = "a100-40gb";

/// The model a job of `num_gpus` GPUs is taken to train — chipmix's assumption, since the
/// Philly trace does not say what its jobs ran: 1 GPU → Llama 3.2 1B, 2–4 → Llama 3.2 3B,
/// 5–8 → Llama 3 8B, 9–64 → Llama 3 70B, more → Llama 3.1 405B. Bigger jobs train bigger
/// models; the speed of a job on another chip is the speed of this model there.
pub fn model_for_gpus(num_gpus: u32) -> &'static str {
    match num_gpus {
        0 | 1 => "llama-3.2-1b",
        2..=4 => "llama-3.2-3b",
        5..=8 => "llama-3-8b",
        9..=64 => "llama-3-70b",
        _ => "llama-3.1-405b",
    }
}

/// A problem in a trace file, located at its line (1-based; 0 for the whole file) and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    pub file: String,
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
}

impl TraceError {
    fn new(file: &str, line: u64, field: Option<&str>, message: impl Into<String>) -> Self {
        TraceError {
            file: file.to_string(),
            line,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for TraceError {}

fn read(path: &Path) -> Result<(String, String), TraceError> {
    let file = path.display().to_string();
    let text = chipmix_catalog::limits::read_text_file(path)
        .map_err(|e| TraceError::new(&file, 0, None, format!("cannot read the file: {e}")))?;
    Ok((file, text))
}

/// A CSV file with its header, rows kept with their line numbers.
struct Csv<'a> {
    file: &'a str,
    columns: Vec<String>,
    reader: csv::Reader<&'a [u8]>,
}

impl<'a> Csv<'a> {
    fn new(file: &'a str, text: &'a str) -> Result<Csv<'a>, TraceError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let columns = reader
            .headers()
            .map_err(|e| TraceError::new(file, 1, None, e.to_string()))?
            .iter()
            .map(str::to_ascii_lowercase)
            .collect();
        Ok(Csv {
            file,
            columns,
            reader,
        })
    }

    fn column(&self, name: &str) -> Result<usize, TraceError> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            TraceError::new(
                self.file,
                1,
                Some(name),
                format!(
                    "missing column (the header has: {})",
                    self.columns.join(", ")
                ),
            )
        })
    }

    /// Calls `row` for every non-blank record with its line and fields.
    fn for_each(
        &mut self,
        mut row: impl FnMut(u64, &csv::StringRecord) -> Result<(), TraceError>,
    ) -> Result<(), TraceError> {
        let mut record = csv::StringRecord::new();
        loop {
            let line = self.reader.position().line() + 1;
            match self.reader.read_record(&mut record) {
                Ok(false) => return Ok(()),
                Ok(true) => {
                    if record.iter().all(str::is_empty) {
                        continue;
                    }
                    let line = record.position().map_or(line, |p| p.line());
                    row(line, &record)?;
                }
                Err(e) => {
                    let line = e.position().map_or(line, |p| p.line());
                    return Err(TraceError::new(self.file, line, None, e.to_string()));
                }
            }
        }
    }
}

fn field<'r>(
    file: &str,
    line: u64,
    record: &'r csv::StringRecord,
    index: usize,
    name: &str,
) -> Result<&'r str, TraceError> {
    match record.get(index) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(TraceError::new(
            file,
            line,
            Some(name),
            "required, but empty",
        )),
    }
}

fn timestamp(file: &str, line: u64, name: &str, s: &str) -> Result<f64, TraceError> {
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").map_err(|e| {
        TraceError::new(
            file,
            line,
            Some(name),
            format!("`{s}` is not a time like 2017-10-09 07:01:55 ({e})"),
        )
    })?;
    let utc = t.and_utc();
    Ok(utc.timestamp() as f64 + f64::from(utc.timestamp_subsec_nanos()) * 1e-9)
}

/// Reads the Philly job trace (`data/traces/philly-sia.csv`: `timestamp,duration,num_gpus,…`).
/// The Philly job trace shipped in the binary (`data/traces/philly-sia.csv`, sources in
/// `data/SOURCES.md`), so `--trace philly` works from any directory.
pub const PHILLY_CSV: &str = include_str!("../../../data/traces/philly-sia.csv");
/// The Azure LLM inference trace (conversation, 2023) shipped in the binary: the default load
/// shape of simulated services.
pub const AZURE_CONV_CSV: &str = include_str!("../../../data/traces/azure-llm-2023-conv.csv");

/// The built-in Philly trace's jobs.
pub fn builtin_philly() -> Result<Vec<JobArrival>, TraceError> {
    parse_philly("data/traces/philly-sia.csv (built in)", PHILLY_CSV)
}

/// The built-in Azure conversation trace's load shape.
pub fn builtin_azure_shape() -> Result<LoadShape, TraceError> {
    parse_azure_shape(
        "data/traces/azure-llm-2023-conv.csv (built in)",
        AZURE_CONV_CSV,
    )
}

pub fn load_philly(path: &Path) -> Result<Vec<JobArrival>, TraceError> {
    let (file, text) = read(path)?;
    parse_philly(&file, &text)
}

/// Parses Philly trace text: jobs sorted by submission time (the file is not), time 0 at the
/// first submission. Extra columns (`gpu_time`, `cluster`) are ignored.
pub fn parse_philly(file: &str, text: &str) -> Result<Vec<JobArrival>, TraceError> {
    let mut csv = Csv::new(file, text)?;
    let (ts, dur, gpus) = (
        csv.column("timestamp")?,
        csv.column("duration")?,
        csv.column("num_gpus")?,
    );
    let mut jobs = Vec::new();
    csv.for_each(|line, r| {
        let submit = timestamp(
            file,
            line,
            "timestamp",
            field(file, line, r, ts, "timestamp")?,
        )?;
        let d = field(file, line, r, dur, "duration")?;
        let duration: f64 = d.parse().map_err(|_| {
            TraceError::new(
                file,
                line,
                Some("duration"),
                format!("`{d}` is not a number"),
            )
        })?;
        if !duration.is_finite() || duration < 0.0 {
            return Err(TraceError::new(
                file,
                line,
                Some("duration"),
                format!("{duration} is not a finite, non-negative number of seconds"),
            ));
        }
        let g = field(file, line, r, gpus, "num_gpus")?;
        let num_gpus: u32 = g.parse().map_err(|_| {
            TraceError::new(
                file,
                line,
                Some("num_gpus"),
                format!("`{g}` is not a whole number"),
            )
        })?;
        if num_gpus == 0 {
            return Err(TraceError::new(
                file,
                line,
                Some("num_gpus"),
                "must be at least 1",
            ));
        }
        jobs.push(JobArrival {
            submit_seconds: submit,
            duration_seconds: duration,
            num_gpus,
        });
        Ok(())
    })?;
    if jobs.is_empty() {
        return Err(TraceError::new(file, 0, None, "the trace has no jobs"));
    }
    // Stable, so jobs submitted in the same second keep the file's order.
    jobs.sort_by(|a, b| a.submit_seconds.total_cmp(&b.submit_seconds));
    let t0 = jobs[0].submit_seconds;
    for j in &mut jobs {
        j.submit_seconds -= t0;
    }
    Ok(jobs)
}

/// How many jobs of each size a synthetic stream draws, and how long they run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobMix {
    /// (GPUs, relative weight).
    pub sizes: Vec<(u32, f64)>,
    /// Mean of the exponentially distributed run time on the reference chip.
    pub mean_duration_seconds: f64,
}

impl JobMix {
    /// The Philly trace's job sizes (shares of jobs by GPU count, rounded) with a one-hour
    /// mean run time.
    pub fn philly_like() -> JobMix {
        JobMix {
            sizes: vec![
                (1, 0.932),
                (2, 0.022),
                (4, 0.023),
                (8, 0.020),
                (16, 0.0024),
                (32, 0.0008),
            ],
            mean_duration_seconds: 3600.0,
        }
    }
}

/// A Poisson stream of `count` jobs at `rate_per_hour`, sizes drawn from `mix`; the same for a
/// seed on every machine. An empty or weightless mix, or a rate that is not positive, gives no
/// jobs.
pub fn generate_jobs(rate_per_hour: f64, mix: &JobMix, count: usize, seed: u64) -> Vec<JobArrival> {
    let total: f64 = mix
        .sizes
        .iter()
        .map(|(_, w)| if w.is_finite() { w.max(0.0) } else { 0.0 })
        .sum();
    let usable = rate_per_hour.is_finite()
        && rate_per_hour > 0.0
        && total > 0.0
        && mix.mean_duration_seconds.is_finite()
        && mix.mean_duration_seconds >= 0.0;
    if !usable {
        return Vec::new();
    }
    let mut rng = SimRng::seed_from_u64(seed);
    let mean_gap = 3600.0 / rate_per_hour;
    let weights = mix
        .sizes
        .iter()
        .map(|&(_, w)| if w.is_finite() { w.max(0.0) } else { 0.0 });
    let Ok(sizes) = WeightedIndex::new(weights) else {
        return Vec::new();
    };
    let mut t = 0.0;
    let mut jobs = Vec::with_capacity(count);
    for _ in 0..count {
        let num_gpus = mix.sizes[sizes.sample(&mut rng)].0.max(1);
        jobs.push(JobArrival {
            submit_seconds: t,
            duration_seconds: exponential(&mut rng, mix.mean_duration_seconds).max(1.0),
            num_gpus,
        });
        t += exponential(&mut rng, mean_gap);
    }
    jobs
}

/// An exponentially distributed value with this mean (0 for a mean that is not > 0).
pub(crate) fn exponential(rng: &mut SimRng, mean: f64) -> f64 {
    match Exp::new(1.0 / mean) {
        Ok(d) if mean > 0.0 && mean.is_finite() => d.sample(rng),
        _ => 0.0,
    }
}

/// Offered inference load over time relative to the peak: one value per minute, the busiest
/// minute 1.0. The simulation repeats it end to end (minute `m` uses value `m mod len`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadShape {
    pub per_minute: Vec<f64>,
}

impl LoadShape {
    /// Every minute at peak.
    pub fn flat() -> LoadShape {
        LoadShape {
            per_minute: vec![1.0],
        }
    }

    pub fn at_minute(&self, minute: u64) -> f64 {
        if self.per_minute.is_empty() {
            return 1.0;
        }
        self.per_minute[(minute % self.per_minute.len() as u64) as usize]
    }
}

/// Reads an Azure LLM inference trace (`data/traces/azure-llm-2023-conv.csv`,
/// `TIMESTAMP,ContextTokens,GeneratedTokens`) into a per-minute shape.
pub fn load_azure_shape(path: &Path) -> Result<LoadShape, TraceError> {
    let (file, text) = read(path)?;
    parse_azure_shape(&file, &text)
}

/// Longest span of requests a load-shape trace may cover (its minutes are counted in memory).
pub const MAX_SHAPE_SPAN_S: f64 = 92.0 * 86_400.0;

/// Requests per minute, counted in whole minutes from the first request (a trailing partial
/// minute is dropped so it does not read as a lull), divided by the busiest minute. The trace
/// covers about an hour; chipmix tiles that hour over the simulated days — an assumption, as
/// the published trace has no day-scale pattern.
pub fn parse_azure_shape(file: &str, text: &str) -> Result<LoadShape, TraceError> {
    let mut csv = Csv::new(file, text)?;
    let ts = csv.column("timestamp")?;
    let mut times = Vec::new();
    csv.for_each(|line, r| {
        times.push(timestamp(
            file,
            line,
            "TIMESTAMP",
            field(file, line, r, ts, "TIMESTAMP")?,
        )?);
        Ok(())
    })?;
    let Some(t0) = times.iter().copied().reduce(f64::min) else {
        return Err(TraceError::new(file, 0, None, "the trace has no requests"));
    };
    let t1 = times.iter().copied().fold(t0, f64::max);
    // A load shape is counted per minute: a trace spanning years (a typo in a timestamp) would
    // ask for millions of buckets. The published traces cover an hour or a week.
    if t1 - t0 > MAX_SHAPE_SPAN_S {
        return Err(TraceError::new(
            file,
            0,
            Some("TIMESTAMP"),
            format!(
                "the requests span {:.0} days; a load shape covers at most {:.0} days",
                (t1 - t0) / 86_400.0,
                MAX_SHAPE_SPAN_S / 86_400.0
            ),
        ));
    }
    let minutes = (((t1 - t0) / 60.0).floor() as usize).max(1);
    let mut counts = vec![0u64; minutes];
    for t in times {
        if let Some(c) = counts.get_mut(((t - t0) / 60.0) as usize) {
            *c += 1;
        }
    }
    let peak = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    Ok(LoadShape {
        per_minute: counts.into_iter().map(|c| c as f64 / peak).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/regressions/traces_csv/`): timestamps years apart made the
    /// reader allocate a bucket per minute of the span and run out of memory.
    #[test]
    fn a_load_trace_spanning_years_is_refused() {
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                    2023-11-16 18:15:46.6805900,10,10\n\
                    2604-03-05 10:02:00.0000000,10,10\n";
        let e = parse_azure_shape("a.csv", text).unwrap_err();
        assert!(
            e.to_string()
                .contains("a load shape covers at most 92 days"),
            "{e}"
        );
    }

    #[test]
    fn philly_rows_sort_and_start_at_zero() {
        let text = "timestamp,duration,num_gpus,gpu_time,cluster\n\
                    2017-10-09 07:01:55,66.0,1,66.0,a\n\
                    2017-10-09 06:13:03,2951.0,4,1,b\n\n";
        let jobs = parse_philly("t.csv", text).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].submit_seconds, 0.0);
        assert_eq!(jobs[0].num_gpus, 4);
        assert_eq!(jobs[1].submit_seconds, 2932.0);
    }

    #[test]
    fn bad_rows_are_located() {
        let cases = [
            (
                "timestamp,duration,num_gpus\n2017-10-09 07:01:55,x,1\n",
                "t.csv:2: duration: `x` is not a number",
            ),
            (
                "timestamp,duration,num_gpus\n2017-10-09 07:01:55,1,1\n2017-13-09 07:01:55,1,1\n",
                "t.csv:3: timestamp:",
            ),
            (
                "timestamp,duration,num_gpus\n2017-10-09 07:01:55,1,0\n",
                "t.csv:2: num_gpus: must be at least 1",
            ),
            (
                "timestamp,duration,num_gpus\n2017-10-09 07:01:55,-1,1\n",
                "t.csv:2: duration:",
            ),
            (
                "timestamp,duration,num_gpus\n2017-10-09 07:01:55,1\n",
                "t.csv:2: num_gpus: required, but empty",
            ),
            ("timestamp,duration\n", "t.csv:1: num_gpus: missing column"),
            (
                "timestamp,duration,num_gpus\n",
                "t.csv: the trace has no jobs",
            ),
        ];
        for (text, want) in cases {
            let e = parse_philly("t.csv", text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e} (wanted {want})");
        }
    }

    #[test]
    fn azure_shape_peaks_at_one() {
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                    2023-11-16 18:15:46.6805900,1,1\n\
                    2023-11-16 18:15:50.1,1,1\n\
                    2023-11-16 18:16:50.1,1,1\n\
                    2023-11-16 18:17:50,1,1\n";
        let s = parse_azure_shape("a.csv", text).unwrap();
        assert_eq!(s.per_minute, vec![1.0, 0.5]);
        assert!(parse_azure_shape("a.csv", "TIMESTAMP\nnope\n").is_err());
    }

    #[test]
    fn generated_jobs_repeat_for_a_seed() {
        let mix = JobMix::philly_like();
        let a = generate_jobs(100.0, &mix, 500, 7);
        assert_eq!(a, generate_jobs(100.0, &mix, 500, 7));
        assert_ne!(a, generate_jobs(100.0, &mix, 500, 8));
        assert!(
            a.windows(2)
                .all(|w| w[0].submit_seconds <= w[1].submit_seconds)
        );
        let rate = 500.0 / (a.last().unwrap().submit_seconds / 3600.0);
        assert!((70.0..140.0).contains(&rate), "{rate}");
        assert!(generate_jobs(0.0, &mix, 5, 1).is_empty());
    }
}
