//! Event time as epoch milliseconds, and its RFC 3339 text form.

use std::fmt;

/// A point in event time (or processing time, where a caller passes one in), in
/// milliseconds since the Unix epoch. The engine never reads a clock: every
/// `Millis` comes from an event or from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    /// The smallest representable time; the watermark of an input that saw nothing.
    pub const MIN: Millis = Millis(i64::MIN);
    /// The largest representable time; the watermark at end of input.
    pub const MAX: Millis = Millis(i64::MAX);

    /// Milliseconds since the epoch.
    pub fn as_i64(self) -> i64 {
        self.0
    }

    /// `self + d`, saturating at the ends of the range.
    pub fn plus(self, d: DurationMs) -> Millis {
        Millis(self.0.saturating_add(d.0))
    }

    /// `self - d`, saturating at the ends of the range.
    pub fn minus(self, d: DurationMs) -> Millis {
        Millis(self.0.saturating_sub(d.0))
    }

    /// Parses an RFC 3339 timestamp (`2026-11-20T18:00:00.120Z`, offsets allowed).
    pub fn parse_rfc3339(text: &str) -> Option<Millis> {
        if let Some(ms) = parse_fast_utc(text) {
            return Some(Millis(ms));
        }
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
        let nanos = t.unix_timestamp_nanos();
        i64::try_from(nanos.div_euclid(1_000_000)).ok().map(Millis)
    }

    /// The UTC time of a calendar date and time of day (for parsers of other
    /// date forms, such as access logs' `10/Oct/2000:13:55:36`); `None` when a
    /// part is out of range (month 13, 31 April, hour 24, second 60).
    pub fn from_utc(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<Millis> {
        let (m, d) = (i64::from(month), i64::from(day));
        if !(0..=9999).contains(&year) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(year, m) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let secs = days_from_civil(year, m, d) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        Some(Millis(secs * 1000))
    }

    /// The UTC calendar year and month (1–12) this time falls in.
    pub fn utc_year_month(self) -> (i64, u32) {
        let (y, m, _) = civil_from_days(self.0.div_euclid(86_400_000));
        (y, m as u32)
    }

    /// Formats as RFC 3339 UTC with milliseconds: `2026-11-20T18:00:00.120Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1000);
        let ms = self.0.rem_euclid(1000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(f, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", sod / 3600, (sod / 60) % 60, sod % 60)
    }
}

/// A span of time in milliseconds (window sizes, lateness, timeouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct DurationMs(pub i64);

impl DurationMs {
    /// From whole seconds.
    pub const fn from_secs(s: i64) -> DurationMs {
        DurationMs(s * 1000)
    }

    /// Parses `"250ms"`, `"10s"`, `"5m"`, `"1h"`, `"7d"` (an integer and a unit).
    pub fn parse(text: &str) -> Option<DurationMs> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (num, unit) = text.split_at(split);
        let n: i64 = num.parse().ok()?;
        let mult = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return None,
        };
        n.checked_mul(mult).map(DurationMs)
    }
}

impl fmt::Display for DurationMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms != 0 && ms % 3_600_000 == 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms != 0 && ms % 60_000 == 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// Fast path for the common `YYYY-MM-DDTHH:MM:SS[.fff]Z` form; anything else
/// falls back to the full RFC 3339 parser.
fn parse_fast_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || *b.last()? != b'Z' {
        return None;
    }
    if b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't') || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let ms = match b.len() {
        20 => 0,
        n if b[19] == b'.' && n > 21 => {
            let frac = &b[20..n - 1];
            let mut v = 0i64;
            for (i, &c) in frac.iter().enumerate() {
                if !c.is_ascii_digit() {
                    return None;
                }
                if i < 3 {
                    v = v * 10 + i64::from(c - b'0');
                }
            }
            for _ in frac.len()..3 {
                v *= 10;
            }
            v
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) * 1000) + ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_parts_agree_with_rfc3339() {
        let t = Millis::parse_rfc3339("2000-10-10T13:55:36Z").unwrap();
        assert_eq!(Millis::from_utc(2000, 10, 10, 13, 55, 36), Some(t));
        assert_eq!(t.utc_year_month(), (2000, 10));
        assert_eq!(Millis(-1).utc_year_month(), (1969, 12));
        assert_eq!(Millis::from_utc(2024, 2, 29, 0, 0, 0).map(|t| t.utc_year_month()), Some((2024, 2)));
        for bad in [(2023, 2, 29, 0, 0, 0), (2024, 13, 1, 0, 0, 0), (2024, 4, 31, 0, 0, 0), (2024, 1, 1, 24, 0, 0)] {
            assert_eq!(Millis::from_utc(bad.0, bad.1, bad.2, bad.3, bad.4, bad.5), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_round_trips_with_millis() {
        let t = Millis::parse_rfc3339("2026-11-20T18:00:00.120Z").unwrap();
        assert_eq!(t, Millis(1_795_197_600_120));
        assert_eq!(t.to_string(), "2026-11-20T18:00:00.120Z");
    }

    #[test]
    fn rfc3339_accepts_offsets_and_no_fraction() {
        assert_eq!(Millis::parse_rfc3339("2026-11-20T19:00:00+01:00"), Some(Millis(1_795_197_600_000)));
        assert_eq!(Millis::parse_rfc3339("2026-11-20T18:00:00Z"), Some(Millis(1_795_197_600_000)));
        assert_eq!(Millis::parse_rfc3339("2026-11-20T18:00:00.5Z"), Some(Millis(1_795_197_600_500)));
    }

    #[test]
    fn rfc3339_rejects_garbage() {
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z"] {
            assert_eq!(Millis::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn fast_path_agrees_with_time_crate() {
        for s in ["2024-02-29T23:59:59.999Z", "1970-01-01T00:00:00.000Z", "2000-03-01T00:00:00Z"] {
            let fast = parse_fast_utc(s).unwrap();
            let slow = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .unwrap()
                .unix_timestamp_nanos()
                / 1_000_000;
            assert_eq!(i128::from(fast), slow, "{s}");
            assert_eq!(Millis(fast).to_string().len(), 24);
        }
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(DurationMs::parse("250ms"), Some(DurationMs(250)));
        assert_eq!(DurationMs::parse("10s"), Some(DurationMs(10_000)));
        assert_eq!(DurationMs::parse("5m"), Some(DurationMs(300_000)));
        assert_eq!(DurationMs::parse("10"), None);
        assert_eq!(DurationMs::parse("10 parsecs"), None);
        assert_eq!(DurationMs(300_000).to_string(), "5m");
    }
}
