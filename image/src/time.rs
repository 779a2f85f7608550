//! Points in time as nanoseconds since the unix epoch: RFC 3339 parsing and UTC formatting (no_std).

use core::fmt;

/// Nanoseconds in a second.
const NS: u64 = 1_000_000_000;

/// Seconds in a day.
const DAY: u64 = 86_400;

/// Nanoseconds since 1970-01-01T00:00:00Z of an RFC 3339 time
/// `YYYY-MM-DD(T|t| )HH:MM:SS[.frac](Z|z|±HH:MM)` (a leap second `:60` counts as the next second,
/// digits of the fraction past the ninth are dropped); the reason when it is not one, is before
/// 1970 or is after the year 2554 (u64 nanoseconds).
pub fn parse_rfc3339(s: &str) -> Result<u64, &'static str> {
    const SHAPE: &str = "not of the form YYYY-MM-DDTHH:MM:SS plus Z or an offset";
    const OFFSET: &str = "the offset must be ±HH:MM";
    let b = s.as_bytes();
    let num = |r: core::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(d.iter().fold(0, |a, &c| a * 10 + i64::from(c - b'0')))
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
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
    if hour > 23 || min > 59 || sec > 60 {
        return Err("no such time of day");
    }
    let mut i = 19;
    let mut frac_ns = 0u64;
    if sep(i, b".") {
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
        Some(b"Z" | b"z") => 0,
        Some(&[sign @ (b'+' | b'-'), _, _, b':', _, _]) => {
            let (Some(h), Some(m)) = (num(i + 1..i + 3), num(i + 4..i + 6)) else {
                return Err(OFFSET);
            };
            if h > 23 || m > 59 {
                return Err(OFFSET);
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
    let secs =
        days_from_civil(year, month, day) * DAY as i64 + hour * 3600 + min * 60 + sec - offset;
    let secs = u64::try_from(secs).map_err(|_| "before 1970-01-01T00:00:00Z")?;
    secs.checked_mul(NS)
        .and_then(|ns| ns.checked_add(frac_ns))
        .ok_or("too large (after the year 2554)")
}

/// Displays nanoseconds since the epoch as RFC 3339 in UTC (`2024-01-02T03:04:05.25Z`), with the
/// fraction only when there is one and without its trailing zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub u64);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d, hh, mm, ss) = utc(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}")?;
        let mut frac = self.0 % NS;
        if frac != 0 {
            let mut width = 9;
            while frac.is_multiple_of(10) {
                frac /= 10;
                width -= 1;
            }
            write!(f, ".{frac:0width$}")?;
        }
        f.write_str("Z")
    }
}

/// Displays nanoseconds since the epoch as `YYYY-MM-DD HH:MM` in UTC, as `ls -l` shows times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Minutes(pub u64);

impl fmt::Display for Minutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d, hh, mm, _) = utc(self.0);
        write!(f, "{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}")
    }
}

/// (year, month, day, hour, minute, second) in UTC of `ns` nanoseconds since the epoch.
fn utc(ns: u64) -> (i64, i64, i64, u64, u64, u64) {
    let secs = ns / NS;
    let (days, rem) = (secs / DAY, secs % DAY);
    let (y, m, d) = civil_from_days(days as i64);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
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

/// The (year, month, day) `days` after 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (era * 400 + yoe + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn rfc3339_times_convert_to_ns_since_the_epoch() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("1970-01-01t00:00:00z"), Ok(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Ok(951_868_800 * NS));
        assert_eq!(
            parse_rfc3339("2024-01-02T03:04:05.5+01:00"),
            Ok(1_704_161_045_500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-01-02 05:04:05+02:00"),
            Ok(1_704_164_645 * NS)
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T22:04:05-05:00"),
            Ok(1_704_164_645 * NS)
        );
        // A leap second reads as the next second; fraction digits past the ninth are dropped.
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2017-01-01T00:00:00Z")
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.0000000019Z"), Ok(1));
        // Before 1970 as written, but after the epoch once the offset is applied.
        assert_eq!(parse_rfc3339("1969-12-31T23:00:00-02:00"), Ok(3600 * NS));
    }

    #[test]
    fn leap_years_follow_the_gregorian_rules() {
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Ok(951_782_400 * NS));
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_ok());
        assert_eq!(parse_rfc3339("2100-02-29T00:00:00Z"), Err("no such date"));
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), Err("no such date"));
        assert_eq!(
            format!(
                "{}",
                Rfc3339(parse_rfc3339("2400-02-29T12:00:00Z").unwrap())
            ),
            "2400-02-29T12:00:00Z"
        );
    }

    #[test]
    fn malformed_pre_1970_and_too_late_times_are_refused() {
        for bad in [
            "",
            "yesterday",
            "2024-01-02",
            "2024-01-02T03:04:05",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05,5Z",
            "2024-13-02T03:04:05Z",
            "2024-00-02T03:04:05Z",
            "2024-01-00T03:04:05Z",
            "2024-02-30T00:00:00Z",
            "2024-01-02T24:04:05Z",
            "2024-01-02T03:60:05Z",
            "2024-01-02T03:04:61Z",
            "2024-01-02T03:04:05+2:00",
            "2024-01-02T03:04:05+24:00",
            "2024-01-02T03:04:05Zjunk",
            "2024-01-02T03:04:05+01:00:00",
            "+024-01-02T03:04:05Z",
            "1969-12-31T23:59:59Z",
            "2555-01-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn formatted_times_parse_back_to_the_same_instant() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59.000000001Z",
            "2024-01-02T03:04:05.25Z",
            "2100-12-31T23:59:59Z",
            "2554-07-21T23:34:33.709551615Z",
        ] {
            let ns = parse_rfc3339(s).unwrap();
            assert_eq!(format!("{}", Rfc3339(ns)), s);
        }
        for ns in [
            0,
            1,
            86_399 * NS + 999_999_999,
            1_704_164_645_250_000_000,
            u64::MAX,
        ] {
            assert_eq!(parse_rfc3339(&format!("{}", Rfc3339(ns))), Ok(ns));
        }
    }

    #[test]
    fn minutes_show_the_utc_calendar_date_and_time() {
        assert_eq!(format!("{}", Minutes(0)), "1970-01-01 00:00");
        assert_eq!(format!("{}", Minutes(951_782_400 * NS)), "2000-02-29 00:00");
        assert_eq!(
            format!("{}", Minutes(1_700_000_000 * NS)),
            "2023-11-14 22:13"
        );
    }
}
