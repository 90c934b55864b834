//! Signals: the named values a closed window turns into (error rate, p95, saturation…).

use std::fmt;
use std::sync::Arc;

use crate::aggregate::Aggregate;
use crate::series::{SeriesId, SeriesKey, SeriesKind};
use crate::window::{ClosedWindow, Window};

/// A signal name. The built-in ones have variants; any other gauge becomes
/// a signal of its own name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Requests per second.
    RequestRate,
    /// errors / requests.
    ErrorRate,
    /// Median latency, ms.
    LatencyP50,
    /// 95th percentile latency, ms.
    LatencyP95,
    /// 99th percentile latency, ms.
    LatencyP99,
    /// Largest latency, ms.
    LatencyMax,
    /// Connection pool in use / max (last reading).
    PoolSaturation,
    /// CPU utilisation 0–1.
    Cpu,
    /// Memory utilisation 0–1.
    Memory,
    /// Successful transactions per window.
    TxnVolume,
    /// failed / all transactions.
    TxnFailureRate,
    /// Any other gauge, by name (last reading).
    Gauge(Arc<str>),
}

impl Signal {
    /// The names of the built-in signals (every other name is a gauge's).
    pub const BUILT_IN: [&'static str; 11] = [
        "request_rate",
        "error_rate",
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "latency_max",
        "pool_saturation",
        "cpu",
        "memory",
        "txn_volume",
        "txn_failure_rate",
    ];

    /// The signal's name as in config and output.
    pub fn as_str(&self) -> &str {
        match self {
            Signal::RequestRate => "request_rate",
            Signal::ErrorRate => "error_rate",
            Signal::LatencyP50 => "latency_p50",
            Signal::LatencyP95 => "latency_p95",
            Signal::LatencyP99 => "latency_p99",
            Signal::LatencyMax => "latency_max",
            Signal::PoolSaturation => "pool_saturation",
            Signal::Cpu => "cpu",
            Signal::Memory => "memory",
            Signal::TxnVolume => "txn_volume",
            Signal::TxnFailureRate => "txn_failure_rate",
            Signal::Gauge(name) => name,
        }
    }

    /// The signal of a name; unknown names are gauges.
    pub fn parse(name: &str) -> Signal {
        match name {
            "request_rate" => Signal::RequestRate,
            "error_rate" => Signal::ErrorRate,
            "latency_p50" => Signal::LatencyP50,
            "latency_p95" => Signal::LatencyP95,
            "latency_p99" => Signal::LatencyP99,
            "latency_max" => Signal::LatencyMax,
            "pool_saturation" => Signal::PoolSaturation,
            "cpu" => Signal::Cpu,
            "memory" => Signal::Memory,
            "txn_volume" => Signal::TxnVolume,
            "txn_failure_rate" => Signal::TxnFailureRate,
            other => Signal::Gauge(other.into()),
        }
    }

    /// True for ratios of counts, whose meaning depends on the window's volume.
    pub fn is_ratio(&self) -> bool {
        matches!(self, Signal::ErrorRate | Signal::TxnFailureRate)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One signal value of one series for one closed window.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalPoint {
    /// The series.
    pub series: SeriesId,
    /// The window.
    pub window: Window,
    /// Which signal.
    pub signal: Signal,
    /// Its value.
    pub value: f64,
    /// For ratios: the denominator (requests or transactions); else the events behind it.
    pub n: u64,
    /// For ratios: the numerator (errors or failed transactions).
    pub k: u64,
}

/// Turns a closed window into its signal points, appending to `out`.
/// A window without events yields only the volume signals (request_rate 0,
/// txn_volume 0), so a collapse of traffic is visible.
pub fn extract(closed: &ClosedWindow, key: &SeriesKey, out: &mut Vec<SignalPoint>) {
    let point = |signal: Signal, value: f64, n: u64, k: u64| SignalPoint {
        series: closed.series,
        window: closed.window,
        signal,
        value,
        n,
        k,
    };
    match &closed.aggregate {
        Aggregate::Request(a) => {
            out.push(point(Signal::RequestRate, a.requests as f64 / closed.window.secs(), a.requests, 0));
            if a.requests > 0 {
                out.push(point(Signal::ErrorRate, a.errors as f64 / a.requests as f64, a.requests, a.errors));
            }
            if let Some(h) = a.latency.as_ref().filter(|h| !h.is_empty()) {
                let n = h.len();
                // Three walks that stop early beat hdrhistogram's one-walk `value_at_quantiles` here.
                out.push(point(Signal::LatencyP50, h.quantile_ms(0.50), n, 0));
                out.push(point(Signal::LatencyP95, h.quantile_ms(0.95), n, 0));
                out.push(point(Signal::LatencyP99, h.quantile_ms(0.99), n, 0));
                out.push(point(Signal::LatencyMax, h.max_ms(), n, 0));
            }
        }
        Aggregate::Gauge(g) if g.n > 0 => {
            let (signal, value) = match (&*key.name, g.last_max) {
                ("db.pool.in_use", Some(max)) => (Signal::PoolSaturation, g.last / max),
                ("cpu.utilization", _) => (Signal::Cpu, g.last),
                ("memory.utilization", _) => (Signal::Memory, g.last),
                ("memory.usage", Some(max)) => (Signal::Memory, g.last / max),
                (name, _) => (Signal::Gauge(name.into()), g.last),
            };
            out.push(point(signal, value, g.n, 0));
        }
        Aggregate::Gauge(_) => {}
        Aggregate::Transaction(t) => {
            out.push(point(Signal::TxnVolume, t.succeeded as f64, t.total(), 0));
            if t.total() > 0 {
                out.push(point(Signal::TxnFailureRate, t.failed as f64 / t.total() as f64, t.total(), t.failed));
            }
        }
        Aggregate::Change(_) => {}
    }
    debug_assert!(key.kind != SeriesKind::Change || out.iter().all(|p| p.series != closed.series));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{GaugeAggregate, RequestAggregate, TransactionAggregate};
    use crate::latency::LatencyHistogram;
    use crate::time::Millis;

    fn closed(aggregate: Aggregate) -> ClosedWindow {
        ClosedWindow { series: SeriesId(0), window: Window { start: Millis(0), end: Millis(10_000) }, aggregate }
    }

    #[test]
    fn built_in_names_parse_to_their_variants() {
        for name in Signal::BUILT_IN {
            let signal = Signal::parse(name);
            assert!(!matches!(signal, Signal::Gauge(_)), "{name} parses as a gauge");
            assert_eq!(signal.as_str(), name);
        }
        assert!(matches!(Signal::parse("queue_depth"), Signal::Gauge(_)));
    }

    fn names(points: &[SignalPoint]) -> Vec<(&str, f64)> {
        points.iter().map(|p| (p.signal.as_str(), p.value)).collect()
    }

    #[test]
    fn request_window_signals() {
        let mut h = LatencyHistogram::new();
        for _ in 0..100 {
            h.record(100_000);
        }
        let a = RequestAggregate { requests: 100, errors: 45, latency: Some(h) };
        let key = SeriesKey::new(SeriesKind::Request, "pay", "POST /charge", &[]);
        let mut out = Vec::new();
        extract(&closed(Aggregate::Request(a)), &key, &mut out);
        let n = names(&out);
        assert_eq!(n[0], ("request_rate", 10.0));
        assert_eq!(n[1], ("error_rate", 0.45));
        assert_eq!(n[2].0, "latency_p50");
        assert!((n[3].1 - 100.0).abs() < 1.0);
        assert_eq!(out[1].n, 100);
        assert_eq!(out[1].k, 45);
    }

    #[test]
    fn empty_request_window_is_zero_rate_only() {
        let key = SeriesKey::new(SeriesKind::Request, "pay", "x", &[]);
        let mut out = Vec::new();
        extract(&closed(Aggregate::Request(RequestAggregate::default())), &key, &mut out);
        assert_eq!(names(&out), vec![("request_rate", 0.0)]);
    }

    #[test]
    fn gauges_map_to_named_signals() {
        let g = |last: f64, max: Option<f64>| GaugeAggregate {
            n: 1,
            last_at: Millis(1),
            last,
            last_max: max,
            min: last,
            max: last,
            sum_micros: 0,
        };
        let cases = [
            ("db.pool.in_use", g(95.0, Some(100.0)), "pool_saturation", 0.95),
            ("cpu.utilization", g(0.9, None), "cpu", 0.9),
            ("memory.usage", g(3.0, Some(4.0)), "memory", 0.75),
            ("queue.depth", g(12.0, None), "queue.depth", 12.0),
        ];
        for (name, agg, signal, value) in cases {
            let key = SeriesKey::new(SeriesKind::Gauge, "pay", name, &[]);
            let mut out = Vec::new();
            extract(&closed(Aggregate::Gauge(agg)), &key, &mut out);
            assert_eq!(names(&out), vec![(signal, value)], "{name}");
        }
    }

    #[test]
    fn transactions_failure_rate_counts_declined_in_total() {
        let t = TransactionAggregate { succeeded: 70, failed: 25, declined: 5, amount_minor: 0 };
        let key = SeriesKey::new(SeriesKind::Transaction, "pay", "", &[]);
        let mut out = Vec::new();
        extract(&closed(Aggregate::Transaction(t)), &key, &mut out);
        assert_eq!(names(&out), vec![("txn_volume", 70.0), ("txn_failure_rate", 0.25)]);
    }
}
