//! Points in time given on the command line (`--mtime`, `SOURCE_DATE_EPOCH`): RFC 3339 or unix seconds.

use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;

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
        parse_rfc3339(t).map_err(bad)
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
        let secs = self.ns / NS;
        let frac = self.ns % NS;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )?;
        if frac != 0 {
            write!(f, ".{}", format!("{frac:09}").trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

/// `YYYY-MM-DD(T|t| )HH:MM:SS[.frac](Z|z|±HH:MM)`.
fn parse_rfc3339(s: &str) -> std::result::Result<Timestamp, &'static str> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(r)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    const SHAPE: &str =
        "not unix seconds and not of the form YYYY-MM-DDTHH:MM:SS plus Z or an offset";
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return Err(SHAPE);
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(min), Some(sec)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return Err(SHAPE);
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err("no such date");
    }
    // A leap second (:60) is taken as the next second, as most clocks show it.
    if hour > 23 || min > 59 || sec > 60 {
        return Err("no such time of day");
    }
    let mut i = 19;
    let mut frac_ns = 0u64;
    if sep(i, b".,") {
        let start = i + 1;
        let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if end == start {
            return Err("a fraction of a second needs digits after the point");
        }
        for (k, &c) in b[start..end].iter().take(9).enumerate() {
            frac_ns += u64::from(c - b'0') * 10u64.pow(8 - k as u32);
        }
        i = end;
    }
    let offset = match b.get(i..) {
        Some(b"Z") | Some(b"z") => 0,
        Some(&[sign @ (b'+' | b'-'), _, _, b':', _, _]) => {
            let (Some(h), Some(m)) = (num(i + 1..i + 3), num(i + 4..i + 6)) else {
                return Err("the offset must be ±HH:MM");
            };
            if h > 23 || m > 59 {
                return Err("the offset must be ±HH:MM");
            }
            let off = h * 3600 + m * 60;
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return Err("the time needs Z or an offset ±HH:MM after the seconds"),
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset;
    let secs = u64::try_from(secs).map_err(|_| "before 1970-01-01T00:00:00Z")?;
    Ok(Timestamp {
        ns: secs.saturating_mul(NS).saturating_add(frac_ns),
    })
}

/// Days in `month` (1–12) of `year`, proleptic Gregorian.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            era * 400 + yoe + 1
        } else {
            era * 400 + yoe
        },
        m,
        d,
    )
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
