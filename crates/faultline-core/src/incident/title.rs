//! An incident's title, as a person reads it in a PagerDuty list or a Slack channel.
//!
//! `payments-api: 86 % of POST /charge failing, p95 3.1 s — db pool exhausted?`: the service,
//! what is wrong in words and numbers (the lead signal and one more of another kind), where
//! (the operation, the dependency), and the top probable cause as a question. The severity is
//! not in it: every place that shows a title shows the severity beside it, once.

use super::model::{Incident, IncidentSignal, SignalDirection};
use crate::series::SeriesKind;

/// The title of `inc`.
pub(crate) fn title(inc: &Incident) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut kinds: Vec<&str> = Vec::new();
    let mut named: Vec<String> = Vec::new();
    for s in &inc.signals {
        let kind = family(&s.signal);
        if kinds.contains(&kind) {
            continue;
        }
        kinds.push(kind);
        parts.push(phrase(s, &inc.service, &mut named));
        if parts.len() == 2 {
            break;
        }
    }
    let what = if parts.is_empty() { "anomalous".to_string() } else { parts.join(", ") };
    match inc.causes.first() {
        Some(c) => format!("{}: {what} — {}?", inc.service, c.cause.replace('_', " ")),
        None => format!("{}: {what}", inc.service),
    }
}

/// Signals of one family say the same thing twice (p95 and p99): one per title.
fn family(signal: &str) -> &str {
    if signal.starts_with("latency_") { "latency" } else { signal }
}

/// Where a signal's series is, in words: the operation, the dependency, or nothing for the service itself.
fn place(s: &IncidentSignal, service: &str) -> String {
    let name = &*s.series.name;
    let other_service = (&*s.series.service != service).then(|| format!("{} ", s.series.service));
    match s.series.kind {
        SeriesKind::Dependency => format!("calls to {name}"),
        _ if name.is_empty() => other_service.map_or_else(|| "requests".to_string(), |o| format!("{}requests", o)),
        _ => format!("{}{name}", other_service.unwrap_or_default()),
    }
}

fn pct(v: f64) -> String {
    let p = v * 100.0;
    if p >= 10.0 || p == 0.0 { format!("{p:.0} %") } else { format!("{p:.1} %") }
}

fn seconds_or_ms(ms: f64) -> String {
    if ms >= 1000.0 { format!("{:.1} s", ms / 1000.0) } else { format!("{ms:.0} ms") }
}

fn of_baseline(s: &IncidentSignal) -> Option<String> {
    let b = s.baseline.filter(|b| *b > 0.0)?;
    Some(format!("{} of normal", pct(s.value / b)))
}

/// One signal in words and numbers; a place `named` already is not named again.
fn phrase(s: &IncidentSignal, service: &str, named: &mut Vec<String>) -> String {
    let mut at = place(s, service);
    if named.contains(&at) {
        at = "requests".to_string();
    } else {
        named.push(at.clone());
    }
    let v = s.value;
    match s.signal.as_str() {
        "error_rate" => format!("{} of {at} failing", pct(v)),
        "txn_failure_rate" => format!("{} of transactions failing", pct(v)),
        "latency_p50" | "latency_p95" | "latency_p99" | "latency_max" => {
            let q = s.signal.trim_start_matches("latency_");
            let q = if q == "max" { "slowest".to_string() } else { q.to_string() };
            if at == "requests" {
                format!("{q} {}", seconds_or_ms(v))
            } else {
                format!("{q} {} on {at}", seconds_or_ms(v))
            }
        }
        "request_rate" => {
            let trend = if s.direction == SignalDirection::Down { "traffic down" } else { "traffic up" };
            let how = of_baseline(s).map_or_else(|| format!("{v:.1}/s"), |b| format!("{v:.1}/s, {b}"));
            if at == "requests" { format!("{trend} ({how})") } else { format!("{trend} on {at} ({how})") }
        }
        "txn_volume" => {
            // Over the incident's windows so far: one quiet window says little.
            let o = &s.observed;
            let how = if o.windows > 0 && o.expected > 0.0 {
                let per = |x: f64| x / f64::from(o.windows);
                format!("{:.1} a window, {} of normal", per(o.value), pct(o.value / o.expected))
            } else {
                of_baseline(s).map_or_else(|| format!("{v:.0} a window"), |b| format!("{v:.0} a window, {b}"))
            };
            format!(
                "successful transactions {} ({how})",
                if s.direction == SignalDirection::Down { "down" } else { "up" }
            )
        }
        "pool_saturation" => format!("connection pool {} full", pct(v)),
        "cpu" => format!("CPU {}", pct(v)),
        "memory" => format!("memory {}", pct(v)),
        other => {
            let shown = if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.3}") };
            if at == "requests" { format!("{other} {shown}") } else { format!("{other} {shown} on {at}") }
        }
    }
}
