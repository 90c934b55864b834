//! Output records: closed-window signal lines and incident event lines, as the sinks write them.

use std::collections::BTreeMap;

use faultline_core::signal::extract;
use faultline_core::{ClosedWindow, SeriesKind, SeriesRegistry, SignalPoint};

/// One line for the sinks, tagged with what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// A closed series-window signal line.
    Signal(String),
    /// An incident event line.
    Incident(String),
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

/// Appends the signal lines of `closed` (in engine order) to `out`, in the
/// `replay --emit signals` format.
pub(crate) fn signal_lines(
    closed: &[ClosedWindow],
    registry: &SeriesRegistry,
    dim_names: &[String],
    out: &mut Vec<Record>,
) {
    let mut points: Vec<SignalPoint> = Vec::new();
    for c in closed {
        let key = registry.key(c.series);
        points.clear();
        extract(c, &key, &mut points);
        for p in &points {
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
            if let Ok(s) = serde_json::to_string(&line) {
                out.push(Record::Signal(s));
            }
        }
    }
}
