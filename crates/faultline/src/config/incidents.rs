//! The `[incidents]` section: lifecycle timing, severity thresholds and the probable-cause catalog.
//!
//! Every key is optional; one left out keeps the core default, so an absent section is
//! exactly `IncidentConfig::default()` and `CauseCatalog::default()`. A `[[incidents.causes]]`
//! list, when present, replaces the whole built-in catalog.

use std::collections::BTreeSet;

use faultline_core::event::ChangeKind;
use faultline_core::incident::{
    CauseCatalog, CauseRule, Condition, ConfirmPolicy, IncidentConfig, SeverityPolicy, SignalDirection, Term,
};
use faultline_core::{DurationMs, SeriesKind};
use serde::Deserialize;

use super::validate::Checker;

/// `[incidents]`.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct RawIncidents {
    /// Findings on shared infrastructure join an incident opened this recently (default "2m").
    pub(crate) correlation_window: Option<String>,
    /// A finding this soon after resolution re-opens the same incident (default "15m").
    pub(crate) flap_window: Option<String>,
    /// How long deploys and config changes are remembered to explain incidents (default "1h").
    pub(crate) change_memory: Option<String>,
    /// Hysteresis: quiet windows before an incident resolves, at least (default 3).
    pub(crate) resolve_min_windows: Option<u32>,
    /// Hysteresis: the quiet hold grows with the incident's duration times this factor (default 1.0)…
    pub(crate) resolve_duration_factor: Option<f64>,
    /// … up to this much (default "5m").
    pub(crate) resolve_max: Option<String>,
    /// A signal is judged on its windows over this span at most (default "1m").
    pub(crate) resolve_evidence: Option<String>,
    /// Probable causes under this confidence (0–1) are not reported (default 0.3).
    pub(crate) min_cause_confidence: Option<f64>,
    /// Severity thresholds, P0–P3 from measured impact.
    pub(crate) severity: Option<RawSeverity>,
    /// When findings open an incident (advanced; the keys of `faultline_core::incident::ConfirmPolicy`).
    pub(crate) confirm: Option<ConfirmPolicy>,
    /// The probable-cause rules, in tie-break order; when present they replace the built-in catalog.
    pub(crate) causes: Option<Vec<RawCause>>,
}

/// `[incidents.severity]`: P0 complete outage or payments failing, P1 major impact, P2 minor
/// (user-facing anomaly under the P1 levels), P3 no user impact (capacity warnings).
#[derive(Debug, Deserialize, Default)]
pub(crate) struct RawSeverity {
    /// P0: share of requests failing in one window (default 0.5).
    pub(crate) p0_error_share: Option<f64>,
    /// P0: share of requests failing in one window on a payment path (default 0.4).
    pub(crate) p0_payment_error_share: Option<f64>,
    /// P0: share of transactions failing in one window (default 0.5).
    pub(crate) p0_txn_failure_share: Option<f64>,
    /// P0: successful transaction volume at or below this fraction of its baseline (default 0.3).
    pub(crate) p0_txn_volume_ratio: Option<f64>,
    /// P1: successful transaction volume at or below this fraction of its baseline.
    pub(crate) p1_txn_volume_ratio: Option<f64>,
    /// P1: share of requests failing in one window (default 0.05).
    pub(crate) p1_error_share: Option<f64>,
    /// P1: share of transactions failing in one window (default 0.05).
    pub(crate) p1_txn_failure_share: Option<f64>,
    /// P1: p95 latency in ms (default 3000).
    pub(crate) p1_latency_p95_ms: Option<f64>,
    /// Requests a window needs before its error share counts (default 20).
    pub(crate) min_requests: Option<u64>,
    /// Transactions a window needs before its failure share counts (default 10).
    pub(crate) min_transactions: Option<u64>,
    /// A service whose name contains one of these is on a payment path (default pay, charge,
    /// checkout, billing, gateway).
    pub(crate) payment_path_patterns: Option<Vec<String>>,
    /// Signals whose anomalies affect users; anything else is a capacity warning (P3).
    pub(crate) user_facing_signals: Option<Vec<String>>,
}

/// `[[incidents.causes]]`: one probable cause.
#[derive(Debug, Deserialize)]
pub(crate) struct RawCause {
    /// Cause name, e.g. `db_pool_exhausted`.
    pub(crate) cause: String,
    /// Runbook steps shown for the top cause; `{service}`, `{change_id}` and `{dependency}` are filled in.
    #[serde(default)]
    pub(crate) runbook: Vec<String>,
    /// Weighted conditions (`[[incidents.causes.when]]`); confidence is the share of weight that holds.
    #[serde(default)]
    pub(crate) when: Vec<RawTerm>,
}

/// `[[incidents.causes.when]]`: one weighted condition.
#[derive(Debug, Deserialize)]
pub(crate) struct RawTerm {
    /// `"signal_above"`, `"signal_below"`, `"anomalous"`, `"not_anomalous"`, `"change_before"`
    /// or `"dependency_error_share"`.
    pub(crate) condition: String,
    /// signal_above, signal_below, anomalous, not_anomalous: the signal name.
    pub(crate) signal: Option<String>,
    /// signal_above: the peak reached this; signal_below: the peak stayed under it.
    pub(crate) level: Option<f64>,
    /// signal_above: only services whose name contains this (e.g. "db").
    pub(crate) service_contains: Option<String>,
    /// anomalous: `"up"` or `"down"`, if it matters.
    pub(crate) direction: Option<SignalDirection>,
    /// anomalous: the detector kind (`"trend"`…), if it matters.
    pub(crate) detector: Option<String>,
    /// anomalous: the series kind (`"dependency"` for outbound calls), if it matters.
    pub(crate) series_kind: Option<SeriesKind>,
    /// change_before: `"deploy"`, `"config"` or `"rollback"`.
    pub(crate) change: Option<ChangeKind>,
    /// change_before: how long before onset the change still counts, e.g. "15m".
    pub(crate) within: Option<String>,
    /// dependency_error_share: share (0–1) of the errors on calls to one dependency.
    pub(crate) min_share: Option<f64>,
    /// The condition's weight (default 1).
    pub(crate) weight: Option<f64>,
    /// If it does not hold, the cause does not apply at all (default false).
    pub(crate) required: Option<bool>,
}

const CONDITIONS: &str = "signal_above, signal_below, anomalous, not_anomalous, change_before, dependency_error_share";
const DETECTOR_KINDS: &[&str] = &["threshold", "baseline", "burn_rate", "change_point", "trend"];

/// Validates `[incidents]` over the built-in defaults.
pub(crate) fn incidents(raw: Option<&RawIncidents>, c: &mut Checker<'_>) -> (IncidentConfig, CauseCatalog) {
    let mut config = IncidentConfig::default();
    let mut catalog = CauseCatalog::default();
    let Some(raw) = raw else { return (config, catalog) };
    let duration = |c: &mut Checker<'_>, key: &str, text: &Option<String>, into: &mut DurationMs| {
        if let Some(text) = text {
            let path = format!("incidents.{key}");
            let d = c.duration(&path, text);
            if d.0 <= 0 && DurationMs::parse(text).is_some() {
                c.error(&path, "must be longer than 0s".into());
            }
            *into = d;
        }
    };
    duration(c, "correlation_window", &raw.correlation_window, &mut config.correlation_window);
    duration(c, "flap_window", &raw.flap_window, &mut config.flap_window);
    duration(c, "change_memory", &raw.change_memory, &mut config.change_memory);
    duration(c, "resolve_max", &raw.resolve_max, &mut config.resolve_max);
    duration(c, "resolve_evidence", &raw.resolve_evidence, &mut config.resolve_evidence);
    if let Some(n) = raw.resolve_min_windows {
        if n == 0 {
            c.error("incidents.resolve_min_windows", "must be at least 1".into());
        }
        config.resolve_min_windows = n;
    }
    if let Some(f) = raw.resolve_duration_factor {
        if !(f.is_finite() && f >= 0.0) {
            c.error("incidents.resolve_duration_factor", format!("{f} is not a factor of 0 or more"));
        }
        config.resolve_duration_factor = f;
    }
    if let Some(conf) = &raw.confirm {
        config.confirm = conf.clone();
    }
    if let Some(s) = &raw.severity {
        config.severity = severity(s, c);
    }
    if let Some(m) = raw.min_cause_confidence {
        share(c, "incidents.min_cause_confidence", m);
        catalog.min_confidence = m;
    }
    if let Some(causes) = &raw.causes {
        catalog.rules = rules(causes, c);
    }
    (config, catalog)
}

/// Checks a share lies in 0–1.
fn share(c: &mut Checker<'_>, path: &str, v: f64) -> f64 {
    if !(0.0..=1.0).contains(&v) {
        c.error(path, format!("{v} is not a share between 0 and 1"));
    }
    v
}

fn severity(s: &RawSeverity, c: &mut Checker<'_>) -> SeverityPolicy {
    let mut p = SeverityPolicy::default();
    let shares = [
        ("p0_error_share", s.p0_error_share, &mut p.p0_error_share),
        ("p0_payment_error_share", s.p0_payment_error_share, &mut p.p0_payment_error_share),
        ("p0_txn_failure_share", s.p0_txn_failure_share, &mut p.p0_txn_failure_share),
        ("p0_txn_volume_ratio", s.p0_txn_volume_ratio, &mut p.p0_txn_volume_ratio),
        ("p1_txn_volume_ratio", s.p1_txn_volume_ratio, &mut p.p1_txn_volume_ratio),
        ("p1_error_share", s.p1_error_share, &mut p.p1_error_share),
        ("p1_txn_failure_share", s.p1_txn_failure_share, &mut p.p1_txn_failure_share),
    ];
    for (key, value, into) in shares {
        if let Some(v) = value {
            *into = share(c, &format!("incidents.severity.{key}"), v);
        }
    }
    if let Some(ms) = s.p1_latency_p95_ms {
        if !(ms.is_finite() && ms > 0.0) {
            c.error("incidents.severity.p1_latency_p95_ms", format!("{ms} is not a latency in ms"));
        }
        p.p1_latency_p95_ms = ms;
    }
    if p.p1_error_share > p.p0_error_share {
        c.error("incidents.severity.p1_error_share", "must not be above p0_error_share".into());
    }
    if p.p1_txn_failure_share > p.p0_txn_failure_share {
        c.error("incidents.severity.p1_txn_failure_share", "must not be above p0_txn_failure_share".into());
    }
    p.min_requests = s.min_requests.unwrap_or(p.min_requests);
    p.min_transactions = s.min_transactions.unwrap_or(p.min_transactions);
    if let Some(v) = &s.payment_path_patterns {
        p.payment_path_patterns = v.iter().map(|x| x.to_ascii_lowercase()).collect();
    }
    if let Some(v) = &s.user_facing_signals {
        p.user_facing_signals = v.clone();
    }
    p
}

fn rules(causes: &[RawCause], c: &mut Checker<'_>) -> Vec<CauseRule> {
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, raw) in causes.iter().enumerate() {
        let path = format!("incidents.causes.{i}");
        if raw.cause.is_empty() {
            c.error(&format!("{path}.cause"), "must not be empty".into());
        } else if !names.insert(raw.cause.as_str()) {
            c.error(&format!("{path}.cause"), format!("cause `{}` is defined twice", raw.cause));
        }
        if raw.when.is_empty() {
            c.error(&path, "a cause needs at least one `[[incidents.causes.when]]` condition".into());
        }
        let when: Vec<Term> =
            raw.when.iter().enumerate().filter_map(|(j, t)| term(&format!("{path}.when.{j}"), t, c)).collect();
        if !raw.when.is_empty() && when.len() == raw.when.len() && when.iter().map(|t| t.weight).sum::<f64>() <= 0.0 {
            c.error(&format!("{path}.when"), "the weights sum to 0".into());
        }
        out.push(CauseRule { cause: raw.cause.clone(), when, runbook: raw.runbook.clone() });
    }
    out
}

fn term(path: &str, t: &RawTerm, c: &mut Checker<'_>) -> Option<Term> {
    let n_errors = c.errors.len();
    let present = [
        ("signal", t.signal.is_some()),
        ("level", t.level.is_some()),
        ("service_contains", t.service_contains.is_some()),
        ("direction", t.direction.is_some()),
        ("detector", t.detector.is_some()),
        ("series_kind", t.series_kind.is_some()),
        ("change", t.change.is_some()),
        ("within", t.within.is_some()),
        ("min_share", t.min_share.is_some()),
    ];
    let (needed, optional): (&[&str], &[&str]) = match t.condition.as_str() {
        "signal_above" => (&["signal", "level"], &["service_contains"]),
        "signal_below" => (&["signal", "level"], &[]),
        "anomalous" => (&["signal"], &["direction", "detector", "series_kind"]),
        "not_anomalous" => (&["signal"], &[]),
        "change_before" => (&["change", "within"], &[]),
        "dependency_error_share" => (&["min_share"], &[]),
        other => {
            c.error(&format!("{path}.condition"), format!("unknown condition `{other}` (known: {CONDITIONS})"));
            return None;
        }
    };
    for (key, set) in present {
        if set && !needed.contains(&key) && !optional.contains(&key) {
            c.error(&format!("{path}.{key}"), format!("not a key of a `{}` condition", t.condition));
        } else if !set && needed.contains(&key) {
            c.error(path, format!("a `{}` condition needs `{key}`", t.condition));
        }
    }
    let weight = t.weight.unwrap_or(1.0);
    if !(weight.is_finite() && weight >= 0.0) {
        c.error(&format!("{path}.weight"), format!("{weight} is not a weight of 0 or more"));
    }
    if let Some(d) = &t.detector
        && !DETECTOR_KINDS.contains(&d.as_str())
    {
        c.error(&format!("{path}.detector"), format!("unknown detector kind `{d}`"));
    }
    let within = t.within.as_deref().map(|w| c.duration(&format!("{path}.within"), w));
    let min_share = t.min_share.map(|s| share(c, &format!("{path}.min_share"), s));
    if c.errors.len() != n_errors {
        return None;
    }
    let signal = t.signal.clone().unwrap_or_default();
    let level = t.level.unwrap_or_default();
    let condition = match t.condition.as_str() {
        "signal_above" => Condition::SignalAbove { signal, level, service_contains: t.service_contains.clone() },
        "signal_below" => Condition::SignalBelow { signal, level },
        "anomalous" => Condition::Anomalous {
            signal,
            direction: t.direction,
            detector: t.detector.clone(),
            series_kind: t.series_kind,
        },
        "not_anomalous" => Condition::NotAnomalous { signal },
        "change_before" => Condition::ChangeBefore {
            change: t.change.unwrap_or(ChangeKind::Deploy),
            within: within.unwrap_or_default(),
        },
        _ => Condition::DependencyErrorShare { min_share: min_share.unwrap_or_default() },
    };
    Some(Term { condition, weight, required: t.required.unwrap_or(false) })
}
