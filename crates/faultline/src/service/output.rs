//! Output records: closed-window signal lines and incident event lines, as the sinks write them.

use std::collections::BTreeMap;

use faultline_core::incident::IncidentEvent;
use faultline_core::signal::extract;
use std::sync::Arc;

use faultline_core::{ClosedWindow, SeriesKey, SeriesKind, SeriesRegistry, SignalPoint};

/// One line for the sinks, tagged with what it is.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    /// A closed series-window signal line (built only when a sink writes signals).
    Signal(String),
    /// An incident event, typed up to the sink that renders it.
    Incident(Box<IncidentEvent>),
}

#[derive(serde::Serialize)]
struct SignalLine<'a> {
    window_start: String,
    window_end: String,
    service: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gauge: Option<&'a str>,
    dims: BTreeMap<&'a str, &'a str>,
    signal: &'a str,
    value: f64,
}

/// Appends the signal lines of `closed` to `out`, in the `replay --emit signals`
/// format and order: (window end, labels, window start, signal).
pub(crate) fn signal_lines(
    closed: &[ClosedWindow],
    registry: &SeriesRegistry,
    dim_names: &[String],
    out: &mut Vec<Record>,
) {
    for (key, p) in sorted_points(closed, registry) {
        out.push(Record::Signal(signal_line(&key, &p, dim_names)));
    }
}

/// The signal points of `closed` with their label sets, in (window end, labels,
/// window start, signal) order, so output does not depend on series ids or shards.
pub(crate) fn sorted_points(closed: &[ClosedWindow], registry: &SeriesRegistry) -> Vec<(Arc<SeriesKey>, SignalPoint)> {
    let mut rows = Vec::new();
    let mut points: Vec<SignalPoint> = Vec::new();
    for c in closed {
        let key = registry.key(c.series);
        points.clear();
        extract(c, &key, &mut points);
        rows.extend(points.drain(..).map(|p| (key.clone(), p)));
    }
    rows.sort_by(|a, b| {
        (a.1.window.end, &a.0, a.1.window.start, &a.1.signal).cmp(&(
            b.1.window.end,
            &b.0,
            b.1.window.start,
            &b.1.signal,
        ))
    });
    rows
}

/// One closed series-window signal as a JSON line (without the newline).
pub(crate) fn signal_line(key: &SeriesKey, p: &SignalPoint, dim_names: &[String]) -> String {
    let name = &*key.name;
    let line = SignalLine {
        window_start: p.window.start.to_rfc3339(),
        window_end: p.window.end.to_rfc3339(),
        service: &key.service,
        operation: (key.kind == SeriesKind::Request).then_some(name),
        peer: (key.kind == SeriesKind::Dependency).then_some(name),
        gauge: (key.kind == SeriesKind::Gauge).then_some(name),
        dims: dim_names
            .iter()
            .zip(key.dims.iter())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), &**v))
            .collect(),
        signal: p.signal.as_str(),
        value: p.value,
    };
    // Strings and numbers only (non-finite numbers become null): serialising cannot fail.
    serde_json::to_string(&line).expect("a signal line always serialises")
}
