//! Points in time given on the command line (`--mtime`, `SOURCE_DATE_EPOCH`): RFC 3339 or unix seconds.

use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;
use wasifs_image::time::{parse_rfc3339, Rfc3339};

/// Nanoseconds in a second.
const NS: u64 = 1_000_000_000;

/// The forms a timestamp is accepted in, shown in every parse error.
const FORMS: &str =
    "give RFC 3339 (e.g. 2024-01-02T03:04:05Z or 2024-01-02T05:04:05+02:00) or unix seconds (e.g. 1704164645)";

/// A point in time at or after 1970-01-01T00:00:00Z, to the nanosecond. Parsed from unix seconds
/// (`1704164645`) or RFC 3339 (`2024-01-02T03:04:05Z`, `2024-01-02 03:04:05.5+01:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Nanoseconds since the unix epoch.
    ns: u64,
}

impl Timestamp {
    /// The time `secs` seconds after the unix epoch.
    pub fn from_unix_secs(secs: u64) -> Self {
        Timestamp {
            ns: secs.saturating_mul(NS),
        }
    }

    /// Nanoseconds since the unix epoch.
    pub fn unix_nanos(self) -> u64 {
        self.ns
    }

    /// Parses `s` as given to `what` (named in the error): unix seconds or RFC 3339.
    pub(crate) fn parse_for(what: &str, s: &str) -> Result<Self> {
        let bad = |why: &str| Error::usage(format!("{what} {s:?}: {why}; {FORMS}"));
        let t = s.trim();
        if t.is_empty() {
            return Err(bad("empty"));
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            let secs: u64 = t.parse().map_err(|_| bad("too large"))?;
            if secs > u64::MAX / NS {
                return Err(bad("too large (after the year 2554)"));
            }
            return Ok(Timestamp::from_unix_secs(secs));
        }
        parse_rfc3339(t).map(|ns| Timestamp { ns }).map_err(bad)
    }
}

impl FromStr for Timestamp {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Timestamp::parse_for("timestamp", s)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with the fraction only when there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Rfc3339(self.ns).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> u64 {
        s.parse::<Timestamp>()
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .unix_nanos()
            / NS
    }

    #[test]
    fn unix_seconds_and_rfc3339_name_the_same_instant() {
        assert_eq!(secs("0"), 0);
        assert_eq!(secs("1704164645"), 1_704_164_645);
        assert_eq!(secs("2024-01-02T03:04:05Z"), 1_704_164_645);
        assert_eq!(secs("2024-01-02 05:04:05+02:00"), 1_704_164_645);
        assert_eq!(secs("2024-01-01t22:04:05-05:00"), 1_704_164_645);
        assert_eq!(secs("2000-02-29T00:00:00Z"), 951_782_400);
        assert_eq!(secs("1970-01-01T00:00:00z"), 0);
        let t: Timestamp = "2024-01-02T03:04:05.25Z".parse().unwrap();
        assert_eq!(t.unix_nanos(), 1_704_164_645_250_000_000);
    }

    #[test]
    fn display_is_rfc3339_utc_and_parses_back() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2024-01-02T03:04:05.25Z",
            "2100-12-31T23:59:59Z",
        ] {
            let t: Timestamp = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
        }
    }

    #[test]
    fn malformed_or_pre_1970_times_are_refused_with_the_accepted_forms() {
        for bad in [
            "",
            "yesterday",
            "-5",
            "2024-01-02",
            "2024-01-02T03:04:05",
            "2024-13-02T03:04:05Z",
            "2023-02-29T03:04:05Z",
            "2024-01-02T24:04:05Z",
            "2024-01-02T03:04:05+2:00",
            "1969-12-31T23:59:59Z",
            "99999999999999999999",
        ] {
            let err = bad.parse::<Timestamp>().expect_err(bad).to_string();
            assert!(err.contains("RFC 3339"), "{bad}: {err}");
        }
    }
}
