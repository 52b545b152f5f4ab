//! Progress on stderr for work that can take more than a couple of seconds: a spinner with the
//! elapsed time for one long solve, a counter of re-plans for an analysis. indicatif draws
//! nothing when stderr is not a terminal, so scripts and pipes see no progress output.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// A spinner: `⠋ MESSAGE (12s)`, ticking on its own until finished.
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A spinner that counts steps: `⠋ MESSAGE: 37 re-plans (23s)`.
pub fn counter(message: impl Into<String>, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {{msg}}: {{pos}} {unit} ({{elapsed}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A bar over `len` steps with percentage and elapsed time.
pub fn bar(message: impl Into<String>, len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {percent}% ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(message.into());
    bar
}
