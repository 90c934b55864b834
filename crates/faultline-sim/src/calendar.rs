//! The estate's daily and weekly load cycle: how busy a given instant is, from 0 to about 1.

/// One day, in milliseconds.
pub(crate) const DAY_MS: i64 = 86_400_000;
/// One hour, in milliseconds.
pub(crate) const HOUR_MS: i64 = 3_600_000;
/// One minute, in milliseconds.
pub(crate) const MINUTE_MS: i64 = 60_000;

/// Relative traffic by hour of day (UTC is the estate's local time): a night
/// trough near 3–4 am, a lunchtime plateau and an evening peak at 19:00.
const HOURLY: [f64; 24] = [
    0.20, 0.13, 0.09, 0.07, 0.07, 0.09, 0.15, 0.25, 0.38, 0.48, 0.55, 0.60, //
    0.65, 0.62, 0.58, 0.57, 0.60, 0.70, 0.85, 0.92, 0.88, 0.70, 0.50, 0.32,
];

/// Relative traffic by weekday, Monday first; Friday evening is the week's peak.
const WEEKLY: [f64; 7] = [0.84, 0.85, 0.87, 0.91, 1.0, 0.95, 0.88];

/// Day of the week of an epoch-ms instant, 0 = Monday (1970-01-01 was a Thursday).
pub(crate) fn weekday(ts_ms: i64) -> i64 {
    (ts_ms.div_euclid(DAY_MS) + 3).rem_euclid(7)
}

/// Milliseconds since the instant's midnight (UTC).
pub(crate) fn time_of_day_ms(ts_ms: i64) -> i64 {
    ts_ms.rem_euclid(DAY_MS)
}

/// Midnight (UTC) of the instant's day.
pub(crate) fn midnight(ts_ms: i64) -> i64 {
    ts_ms - time_of_day_ms(ts_ms)
}

/// How busy the estate is at `ts_ms`, relative to the Friday-evening peak
/// (which is 1.0); hours are interpolated so the curve has no steps.
pub(crate) fn load(ts_ms: i64) -> f64 {
    let hours = time_of_day_ms(ts_ms) as f64 / HOUR_MS as f64;
    let h = hours.floor() as usize % 24;
    let frac = hours - hours.floor();
    let daily = HOURLY[h] * (1.0 - frac) + HOURLY[(h + 1) % 24] * frac;
    let day = weekday(ts_ms) as usize;
    daily * WEEKLY[day] / HOURLY[19]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-20T00:00:00Z, a Friday.
    const FRIDAY: i64 = 1_795_132_800_000;

    #[test]
    fn weekday_of_a_known_friday() {
        assert_eq!(weekday(FRIDAY), 4);
        assert_eq!(weekday(FRIDAY + DAY_MS), 5);
        assert_eq!(weekday(0), 3);
    }

    #[test]
    fn friday_evening_is_the_peak_and_night_the_trough() {
        let peak = load(FRIDAY + 19 * HOUR_MS);
        assert!((peak - 1.0).abs() < 1e-9);
        let night = load(FRIDAY + 3 * HOUR_MS + 30 * MINUTE_MS);
        assert!(night < 0.1 * peak, "night {night}");
        for d in 0..7 {
            for h in 0..24 {
                assert!(load(FRIDAY + d * DAY_MS + h * HOUR_MS) <= 1.0 + 1e-9);
            }
        }
    }
}
