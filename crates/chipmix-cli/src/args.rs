//! Numbers on the command line go through the same limits as numbers in files
//! (`chipmix_catalog::limits`): clap calls these parsers, so a flag out of range is refused
//! with its name and the accepted range, exit code 2, before any work starts.

use chipmix_catalog::limits::{Limit, parse_in as parse};

/// A real number within `limit` (suffixes k, M, B, T allowed: `16M`).
pub fn number(limit: &'static Limit) -> impl Fn(&str) -> Result<f64, String> + Clone {
    move |s| parse(s, limit)
}

/// A whole number within `limit`.
pub fn count(limit: &'static Limit) -> impl Fn(&str) -> Result<u32, String> + Clone {
    move |s| parse(s, limit).map(|v| v as u32)
}

/// A whole number within `limit`, as a size.
pub fn size(limit: &'static Limit) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |s| parse(s, limit).map(|v| v as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chipmix_catalog::limits;

    #[test]
    fn flags_are_checked_against_the_limits() {
        assert_eq!(count(&limits::BATCH)("64"), Ok(64));
        assert_eq!(number(&limits::BATCH_TOKENS)("16M"), Ok(16e6));
        assert!(count(&limits::BATCH)("4294967295").is_err());
        assert!(count(&limits::BATCH)("2.5").is_err());
        assert!(number(&limits::TIME_LIMIT_S)("inf").is_err());
        assert!(number(&limits::TIME_LIMIT_S)("NaN").is_err());
        assert_eq!(
            number(&limits::GAP)("x").unwrap_err(),
            "`x` is not a number"
        );
    }
}
