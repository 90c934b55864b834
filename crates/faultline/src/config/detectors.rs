//! The `[detectors]` section: detectors per signal and per service, validated into a `DetectorBankSpec`.
//!
//! Shape (every key documented on the raw structs below):
//!
//! ```toml
//! [[detectors.signal.error_rate]]      # one table per detector, in order
//! kind = "threshold"
//! above = 0.01
//! for = "2 of 3"
//!
//! [[detectors.service]]                # replaces a signal's detectors for one service
//! service = "payments-api"
//! signal = "error_rate"
//! [[detectors.service.detectors]]
//! kind = "threshold"
//! above = 0.02
//! ```
//!
//! A signal named under `signal` replaces that signal's built-in detectors; signals not
//! named keep them, so an absent section is exactly `DetectorBankSpec::default()`.

use std::collections::{BTreeMap, BTreeSet};

use faultline_core::detect::{
    AdaptiveConfig, BurnRateConfig, BurnWindowPair, ChangePointConfig, DetectorBankSpec, DetectorSpec, Direction,
    ServiceOverride, Sides, ThresholdConfig, TrendConfig,
};
use faultline_core::signal::Signal;
use serde::Deserialize;

use super::validate::Checker;

/// `[detectors]`.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct RawDetectors {
    /// Detectors per signal name (`error_rate`, `latency_p95`, `pool_saturation`, `cpu`,
    /// `memory`, `request_rate`, `txn_volume`, `txn_failure_rate`, `latency_p50`, `latency_p99`,
    /// `latency_max`, or any gauge name), each an array of tables. An empty array turns the
    /// signal's detection off; a signal not named keeps its built-in detectors.
    #[serde(default)]
    pub(crate) signal: BTreeMap<String, Vec<RawDetector>>,
    /// Detectors for every signal not named under `signal` (other gauges).
    pub(crate) other_signals: Option<Vec<RawDetector>>,
    /// Per-service replacements of one signal's detectors, checked before `signal`.
    #[serde(default)]
    pub(crate) service: Vec<RawServiceOverride>,
}

/// `[[detectors.service]]`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawServiceOverride {
    /// The service name, as in the events' `service`.
    pub(crate) service: String,
    /// The signal name, as under `[detectors.signal]`.
    pub(crate) signal: String,
    /// The detectors this service runs on the signal instead; empty turns it off.
    #[serde(default)]
    pub(crate) detectors: Vec<RawDetector>,
}

/// One detector: `kind` and the parameters of that kind (any left out take their default).
#[derive(Debug, Deserialize)]
pub(crate) struct RawDetector {
    /// `"threshold"`, `"baseline"`, `"burn_rate"`, `"change_point"` or `"trend"`.
    pub(crate) kind: String,
    /// threshold: breached above this value, in the signal's unit (ratio 0–1, ms, share 0–1).
    pub(crate) above: Option<f64>,
    /// threshold: breached below this value instead.
    pub(crate) below: Option<f64>,
    /// threshold: the for-duration, "N of M" breached windows among the last M (M ≤ 64); default "2 of 3".
    #[serde(rename = "for")]
    pub(crate) for_windows: Option<String>,
    /// threshold, ratio signals: fewest errors or failures a breach needs (default 5).
    pub(crate) min_count: Option<u64>,
    /// threshold, ratio signals: a window breaches only if P(X ≥ k | n, p = limit) is below this (default 0.01).
    pub(crate) max_p_value: Option<f64>,
    /// baseline: `"up"`, `"down"` or `"both"` (default) — which deviations count.
    pub(crate) sides: Option<Sides>,
    /// baseline: points learned before any score (default 60).
    pub(crate) warmup_points: Option<u32>,
    /// baseline: buckets per day of the daily profile, 0 disables it (default 24).
    pub(crate) daily_buckets: Option<u32>,
    /// baseline: buckets per week of the weekly profile, 0 disables it (default 0).
    pub(crate) weekly_buckets: Option<u32>,
    /// baseline: score (0–1) at which a finding is emitted (default 0.7).
    pub(crate) fire_score: Option<f64>,
    /// baseline: score (0–1) from which a point is flagged anomalous for learning (default 0.5).
    pub(crate) flag_score: Option<f64>,
    /// baseline: points after which a persistent shift is learned as the new normal (default 360).
    pub(crate) relearn_points: Option<u32>,
    /// baseline, a count per window: a Poisson CUSUM for a fall to this share of the forecast (off by default).
    pub(crate) count_drop: Option<f64>,
    /// burn_rate: the objective, e.g. 0.999 (default); the error budget is 1 - objective.
    pub(crate) objective: Option<f64>,
    /// burn_rate, latency signals: the latency objective in ms (default 1000).
    pub(crate) latency_ms: Option<f64>,
    /// burn_rate: alert pairs, most urgent first (default 14.4× over 1h/5m, 6× over 6h/30m).
    pub(crate) windows: Option<Vec<RawBurnWindow>>,
    /// change_point: windows learned before any finding (default 30).
    pub(crate) warmup_windows: Option<u32>,
    /// change_point: EWMA weight of a new window in the reference (default 0.02).
    pub(crate) alpha: Option<f64>,
    /// change_point: CUSUM allowance k in sigmas, drift per window ignored (default 0.75).
    pub(crate) drift_sigmas: Option<f64>,
    /// change_point: CUSUM decision interval h in sigmas (default 10).
    pub(crate) alarm_sigmas: Option<f64>,
    /// change_point: most sigmas one window adds (default 4).
    pub(crate) max_step_sigmas: Option<f64>,
    /// trend: the limit the signal must not reach (default 1.0).
    pub(crate) limit: Option<f64>,
    /// trend: report when the limit is reached within this time at the fitted slope (default "1h").
    pub(crate) horizon: Option<String>,
    /// trend: memory of the fit, in windows (default 60).
    pub(crate) half_life_windows: Option<f64>,
    /// trend: windows seen before any finding (default 30).
    pub(crate) min_windows: Option<u32>,
    /// trend: smallest R² of the fit (default 0.8).
    pub(crate) min_r2: Option<f64>,
}

/// One burn-rate alert pair: `{ burn_rate = 14.4, long = "1h", short = "5m" }`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawBurnWindow {
    /// Burn-rate factor both windows must reach (14.4 spends 2 % of a 30-day budget in 1 h).
    pub(crate) burn_rate: f64,
    /// Long window, e.g. "1h".
    pub(crate) long: String,
    /// Short window, e.g. "5m" (stops the alert soon after recovery).
    pub(crate) short: String,
}

const KINDS: &str = "threshold, baseline, burn_rate, change_point, trend";
const THRESHOLD_KEYS: &[&str] = &["above", "below", "for", "min_count", "max_p_value"];
const BASELINE_KEYS: &[&str] = &[
    "sides",
    "warmup_points",
    "daily_buckets",
    "weekly_buckets",
    "fire_score",
    "flag_score",
    "relearn_points",
    "count_drop",
];
const BURN_RATE_KEYS: &[&str] = &["objective", "latency_ms", "windows"];
const CHANGE_POINT_KEYS: &[&str] = &["warmup_windows", "alpha", "drift_sigmas", "alarm_sigmas", "max_step_sigmas"];
const TREND_KEYS: &[&str] = &["limit", "horizon", "half_life_windows", "min_windows", "min_r2"];

impl RawDetector {
    /// The parameter keys present in the file.
    fn present(&self) -> Vec<&'static str> {
        let keys = [
            ("above", self.above.is_some()),
            ("below", self.below.is_some()),
            ("for", self.for_windows.is_some()),
            ("min_count", self.min_count.is_some()),
            ("max_p_value", self.max_p_value.is_some()),
            ("sides", self.sides.is_some()),
            ("warmup_points", self.warmup_points.is_some()),
            ("daily_buckets", self.daily_buckets.is_some()),
            ("weekly_buckets", self.weekly_buckets.is_some()),
            ("fire_score", self.fire_score.is_some()),
            ("flag_score", self.flag_score.is_some()),
            ("relearn_points", self.relearn_points.is_some()),
            ("count_drop", self.count_drop.is_some()),
            ("objective", self.objective.is_some()),
            ("latency_ms", self.latency_ms.is_some()),
            ("windows", self.windows.is_some()),
            ("warmup_windows", self.warmup_windows.is_some()),
            ("alpha", self.alpha.is_some()),
            ("drift_sigmas", self.drift_sigmas.is_some()),
            ("alarm_sigmas", self.alarm_sigmas.is_some()),
            ("max_step_sigmas", self.max_step_sigmas.is_some()),
            ("limit", self.limit.is_some()),
            ("horizon", self.horizon.is_some()),
            ("half_life_windows", self.half_life_windows.is_some()),
            ("min_windows", self.min_windows.is_some()),
            ("min_r2", self.min_r2.is_some()),
        ];
        keys.into_iter().filter(|(_, set)| *set).map(|(k, _)| k).collect()
    }
}

/// Validates `[detectors]` over the built-in defaults.
pub(crate) fn detectors(raw: Option<&RawDetectors>, c: &mut Checker<'_>) -> DetectorBankSpec {
    let mut spec = DetectorBankSpec::default();
    let Some(raw) = raw else { return spec };
    for (signal, list) in &raw.signal {
        signal_name(&format!("detectors.signal.{signal}"), signal, c);
        let detectors = detector_list(&format!("detectors.signal.{signal}"), list, c);
        spec.signals.insert(signal.clone(), detectors);
    }
    if let Some(list) = &raw.other_signals {
        spec.other_signals = detector_list("detectors.other_signals", list, c);
    }
    let mut seen = BTreeSet::new();
    for (i, o) in raw.service.iter().enumerate() {
        let path = format!("detectors.service.{i}");
        if o.service.is_empty() {
            c.error(&format!("{path}.service"), "must not be empty".into());
        }
        signal_name(&format!("{path}.signal"), &o.signal, c);
        if !seen.insert((o.service.as_str(), o.signal.as_str())) {
            c.error(&path, format!("a second override of `{}` on `{}`", o.signal, o.service));
        }
        let detectors = detector_list(&format!("{path}.detectors"), &o.detectors, c);
        spec.services.push(ServiceOverride { service: o.service.clone(), signal: o.signal.clone(), detectors });
    }
    spec
}

/// A signal name is a built-in signal's or a gauge's; a gauge name within two edits of a
/// built-in name is taken for a typo (it would silently configure nothing).
fn signal_name(path: &str, name: &str, c: &mut Checker<'_>) {
    if name.is_empty() {
        c.error(path, "a signal name must not be empty".into());
        return;
    }
    if Signal::BUILT_IN.contains(&name) {
        return;
    }
    let near = Signal::BUILT_IN.iter().map(|b| (strsim::damerau_levenshtein(name, b), b)).min();
    if let Some((distance, near)) = near
        && distance <= 2
    {
        c.error(
            path,
            format!("`{name}` is not a built-in signal; did you mean `{near}`? (gauge names must differ from built-in ones by more than two letters)"),
        );
    }
}

fn detector_list(path: &str, list: &[RawDetector], c: &mut Checker<'_>) -> Vec<DetectorSpec> {
    list.iter().enumerate().filter_map(|(i, d)| detector(&format!("{path}.{i}"), d, c)).collect()
}

fn detector(path: &str, d: &RawDetector, c: &mut Checker<'_>) -> Option<DetectorSpec> {
    let allowed = match d.kind.as_str() {
        "threshold" => THRESHOLD_KEYS,
        "baseline" => BASELINE_KEYS,
        "burn_rate" => BURN_RATE_KEYS,
        "change_point" => CHANGE_POINT_KEYS,
        "trend" => TREND_KEYS,
        other => {
            c.error(&format!("{path}.kind"), format!("unknown detector kind `{other}` (known: {KINDS})"));
            return None;
        }
    };
    let n_errors = c.errors.len();
    for key in d.present().into_iter().filter(|k| !allowed.contains(k)) {
        let known = allowed.join(", ");
        c.error(&format!("{path}.{key}"), format!("not a key of a {} detector (its keys: {known})", d.kind));
    }
    let spec = match d.kind.as_str() {
        "threshold" => DetectorSpec::Threshold(threshold(path, d, c)),
        "baseline" => DetectorSpec::Baseline(Box::new(baseline(path, d, c))),
        "burn_rate" => DetectorSpec::BurnRate(burn_rate(path, d, c)),
        "change_point" => DetectorSpec::ChangePoint(change_point(path, d, c)),
        _ => DetectorSpec::Trend(trend(path, d, c)),
    };
    (c.errors.len() == n_errors).then_some(spec)
}

/// Checks a number is finite and within `[lo, hi]`.
fn number(c: &mut Checker<'_>, path: &str, value: Option<f64>, lo: f64, hi: f64) -> Option<f64> {
    let v = value?;
    if !(v.is_finite() && (lo..=hi).contains(&v)) {
        c.error(path, format!("{v} is out of range ({lo} to {hi})"));
    }
    Some(v)
}

fn threshold(path: &str, d: &RawDetector, c: &mut Checker<'_>) -> ThresholdConfig {
    let mut t = ThresholdConfig::default();
    let above = number(c, &format!("{path}.above"), d.above, f64::MIN, f64::MAX);
    let below = number(c, &format!("{path}.below"), d.below, f64::MIN, f64::MAX);
    match (above, below) {
        (Some(limit), None) => t.limit = limit,
        (None, Some(limit)) => (t.limit, t.direction) = (limit, Direction::Down),
        (Some(_), Some(_)) => c.error(&format!("{path}.below"), "a threshold has `above` or `below`, not both".into()),
        (None, None) => c.error(path, "a threshold needs `above` or `below`".into()),
    }
    if let Some(text) = &d.for_windows {
        match parse_n_of_m(text) {
            Some((n, m)) => (t.breached_windows, t.of_windows) = (n, m),
            None => c.error(&format!("{path}.for"), format!("`{text}` is not \"N of M\" with 1 ≤ N ≤ M ≤ 64")),
        }
    }
    t.min_count = d.min_count.unwrap_or(t.min_count);
    t.max_p_value = number(c, &format!("{path}.max_p_value"), d.max_p_value, 0.0, 1.0).unwrap_or(t.max_p_value);
    t
}

/// `"2 of 3"` → (2, 3).
fn parse_n_of_m(text: &str) -> Option<(u32, u32)> {
    let (n, m) = text.split_once(" of ")?;
    let (n, m): (u32, u32) = (n.trim().parse().ok()?, m.trim().parse().ok()?);
    (n >= 1 && n <= m && m <= 64).then_some((n, m))
}

fn baseline(path: &str, d: &RawDetector, c: &mut Checker<'_>) -> AdaptiveConfig {
    let mut b = AdaptiveConfig::default();
    b.sides = d.sides.unwrap_or(b.sides);
    b.warmup_points = d.warmup_points.unwrap_or(b.warmup_points);
    b.daily_buckets = d.daily_buckets.unwrap_or(b.daily_buckets);
    b.weekly_buckets = d.weekly_buckets.unwrap_or(b.weekly_buckets);
    b.relearn_points = d.relearn_points.unwrap_or(b.relearn_points);
    b.fire_score = number(c, &format!("{path}.fire_score"), d.fire_score, 0.0, 1.0).unwrap_or(b.fire_score);
    b.flag_score = number(c, &format!("{path}.flag_score"), d.flag_score, 0.0, 1.0).unwrap_or(b.flag_score);
    if let Some(share) = number(c, &format!("{path}.count_drop"), d.count_drop, 0.0, 1.0) {
        if share <= 0.0 || share >= 1.0 {
            c.error(
                &format!("{path}.count_drop"),
                format!("{share} is no fall (use a share between 0 and 1, e.g. 0.5)"),
            );
        }
        b.count_drop = Some(share);
    }
    b
}

fn burn_rate(path: &str, d: &RawDetector, c: &mut Checker<'_>) -> BurnRateConfig {
    let mut b = BurnRateConfig::default();
    if let Some(o) = number(c, &format!("{path}.objective"), d.objective, 0.0, 1.0) {
        if o >= 1.0 || o <= 0.0 {
            c.error(&format!("{path}.objective"), format!("{o} leaves no error budget (use e.g. 0.999)"));
        }
        b.objective = o;
    }
    b.latency_ms = number(c, &format!("{path}.latency_ms"), d.latency_ms, 0.0, f64::MAX).unwrap_or(b.latency_ms);
    if let Some(windows) = &d.windows {
        b.pairs = Vec::new();
        for (i, w) in windows.iter().enumerate() {
            let wpath = format!("{path}.windows.{i}");
            let long = c.duration(&format!("{wpath}.long"), &w.long);
            let short = c.duration(&format!("{wpath}.short"), &w.short);
            if short.0 <= 0 || long.0 <= short.0 {
                c.error(&wpath, format!("needs 0 < short < long, got short {} and long {}", w.short, w.long));
            }
            let burn = number(c, &format!("{wpath}.burn_rate"), Some(w.burn_rate), 0.0, f64::MAX);
            b.pairs.push(BurnWindowPair {
                burn_rate: burn.unwrap_or(w.burn_rate),
                long_secs: long.0 as f64 / 1000.0,
                short_secs: short.0 as f64 / 1000.0,
            });
        }
        if windows.is_empty() {
            c.error(&format!("{path}.windows"), "needs at least one alert pair".into());
        }
    }
    b
}

fn change_point(path: &str, d: &RawDetector, c: &mut Checker<'_>) -> ChangePointConfig {
    let mut p = ChangePointConfig::default();
    let max = f64::MAX;
    p.warmup_windows = d.warmup_windows.unwrap_or(p.warmup_windows);
    p.alpha = number(c, &format!("{path}.alpha"), d.alpha, 0.0, 1.0).unwrap_or(p.alpha);
    p.drift_sigmas = number(c, &format!("{path}.drift_sigmas"), d.drift_sigmas, 0.0, max).unwrap_or(p.drift_sigmas);
    p.alarm_sigmas = number(c, &format!("{path}.alarm_sigmas"), d.alarm_sigmas, 0.0, max).unwrap_or(p.alarm_sigmas);
    p.max_step_sigmas =
        number(c, &format!("{path}.max_step_sigmas"), d.max_step_sigmas, 0.0, max).unwrap_or(p.max_step_sigmas);
    p
}

fn trend(path: &str, d: &RawDetector, c: &mut Checker<'_>) -> TrendConfig {
    let mut t = TrendConfig::default();
    t.limit = number(c, &format!("{path}.limit"), d.limit, f64::MIN, f64::MAX).unwrap_or(t.limit);
    if let Some(text) = &d.horizon {
        let h = c.duration(&format!("{path}.horizon"), text);
        if h.0 <= 0 && faultline_core::DurationMs::parse(text).is_some() {
            c.error(&format!("{path}.horizon"), "must be longer than 0s".into());
        }
        t.horizon_secs = h.0 as f64 / 1000.0;
    }
    let max = f64::MAX;
    t.half_life_windows =
        number(c, &format!("{path}.half_life_windows"), d.half_life_windows, 0.0, max).unwrap_or(t.half_life_windows);
    t.min_windows = d.min_windows.unwrap_or(t.min_windows);
    t.min_r2 = number(c, &format!("{path}.min_r2"), d.min_r2, 0.0, 1.0).unwrap_or(t.min_r2);
    t
}
