//! Evidence of one window end: per-service counts, dimension breakdowns, signal values, findings.

use std::collections::BTreeMap;

use super::model::{ChangeRecord, DimensionCount, name_dimension};
use super::severity::WindowImpact;
use crate::aggregate::Aggregate;
use crate::detect::Finding;
use crate::series::{SeriesKey, SeriesKind};
use crate::signal::{Signal, SignalPoint};
use crate::window::ClosedWindow;

/// What the closed windows of one window end showed. Transient: the manager
/// folds it into its incidents when the window end is processed, then clears it.
#[derive(Debug, Default)]
pub(crate) struct WindowEvidence {
    /// Per service.
    pub(crate) services: BTreeMap<Box<str>, ServiceWindow>,
    /// Findings of this window end, with their series' label sets.
    pub(crate) findings: Vec<(SeriesKey, Finding)>,
    /// Latest point per (series, signal name): value, n, k.
    pub(crate) values: BTreeMap<(SeriesKey, String), (f64, u64, u64)>,
    /// Changes seen.
    pub(crate) changes: Vec<ChangeRecord>,
}

/// One service in one window.
#[derive(Debug, Default, Clone)]
pub(crate) struct ServiceWindow {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// Outbound calls (also counted in `requests` under their operation).
    pub(crate) dep_requests: u64,
    /// Failed outbound calls (also counted in `errors`).
    pub(crate) dep_errors: u64,
    pub(crate) txn_total: u64,
    pub(crate) txn_failed: u64,
    pub(crate) max_latency_p95_ms: f64,
    /// (dimension key, value) → (errors, requests).
    pub(crate) dims: BTreeMap<(String, String), (u64, u64)>,
    /// Largest value per signal name (request, gauge and transaction series).
    pub(crate) peaks: BTreeMap<String, f64>,
}

impl ServiceWindow {
    /// Requests and errors served, without the outbound calls the decoder also
    /// counts under their operation.
    pub(crate) fn inbound(&self) -> (u64, u64) {
        (self.requests.saturating_sub(self.dep_requests), self.errors.saturating_sub(self.dep_errors))
    }
}

impl WindowEvidence {
    /// Counts a closed window of the series `key`.
    pub(crate) fn observe_window(&mut self, key: &SeriesKey, closed: &ClosedWindow, dim_names: &[String]) {
        let svc = self.services.entry(key.service.clone()).or_default();
        match &closed.aggregate {
            Aggregate::Request(a) => {
                if key.kind == SeriesKind::Request {
                    svc.requests += a.requests;
                    svc.errors += a.errors;
                } else {
                    svc.dep_requests += a.requests;
                    svc.dep_errors += a.errors;
                }
                if a.requests == 0 {
                    return;
                }
                let mut add = |k: &str, v: &str| {
                    let e = svc.dims.entry((k.to_string(), v.to_string())).or_default();
                    e.0 += a.errors;
                    e.1 += a.requests;
                };
                if let Some(dim) = name_dimension(key.kind) {
                    add(dim, &key.name);
                }
                if key.kind == SeriesKind::Request {
                    for (name, value) in dim_names.iter().zip(key.dims.iter()) {
                        if !value.is_empty() {
                            add(name, value);
                        }
                    }
                }
            }
            Aggregate::Transaction(t) => {
                svc.txn_total += t.total();
                svc.txn_failed += t.failed;
            }
            Aggregate::Change(c) => {
                self.changes.extend(c.changes.iter().map(|c| ChangeRecord {
                    at: c.at,
                    service: key.service.to_string(),
                    kind: c.kind,
                    id: c.id.clone(),
                    text: c.text.clone(),
                }));
            }
            Aggregate::Gauge(_) => {}
        }
    }

    /// Records a signal value of the series `key`.
    pub(crate) fn observe_point(&mut self, key: &SeriesKey, point: &SignalPoint) {
        self.values.insert((key.clone(), point.signal.as_str().to_string()), (point.value, point.n, point.k));
        if key.kind == SeriesKind::Dependency {
            return;
        }
        let svc = self.services.entry(key.service.clone()).or_default();
        if point.signal == Signal::LatencyP95 {
            svc.max_latency_p95_ms = svc.max_latency_p95_ms.max(point.value);
        }
        let peak = svc.peaks.entry(point.signal.as_str().to_string()).or_insert(f64::NEG_INFINITY);
        *peak = peak.max(point.value);
    }

    /// The impact measured over `services`.
    pub(crate) fn impact<'a>(&self, services: impl Iterator<Item = &'a String>) -> WindowImpact {
        let mut w = WindowImpact::default();
        for s in services {
            if let Some(sw) = self.services.get(s.as_str()) {
                let (requests, errors) = sw.inbound();
                w.requests += requests;
                w.errors += errors;
                w.txn_total += sw.txn_total;
                w.txn_failed += sw.txn_failed;
                w.max_latency_p95_ms = w.max_latency_p95_ms.max(sw.max_latency_p95_ms);
            }
        }
        w
    }

    /// Adds this window's dimension counts of `services` into `into`.
    pub(crate) fn add_dimensions<'a>(
        &self,
        services: impl Iterator<Item = &'a String>,
        into: &mut Vec<DimensionCount>,
    ) {
        for s in services {
            let Some(sw) = self.services.get(s.as_str()) else { continue };
            for ((k, v), (errors, requests)) in &sw.dims {
                match into.iter_mut().find(|d| d.key == *k && d.value == *v) {
                    Some(d) => {
                        d.errors += errors;
                        d.requests += requests;
                    }
                    None => into.push(DimensionCount {
                        key: k.clone(),
                        value: v.clone(),
                        errors: *errors,
                        requests: *requests,
                    }),
                }
            }
        }
    }

    /// Folds this window's peaks of `services` into `into`, keyed `service/signal`.
    pub(crate) fn add_peaks<'a>(&self, services: impl Iterator<Item = &'a String>, into: &mut BTreeMap<String, f64>) {
        for s in services {
            let Some(sw) = self.services.get(s.as_str()) else { continue };
            for (name, v) in &sw.peaks {
                let p = into.entry(format!("{s}/{name}")).or_insert(*v);
                *p = p.max(*v);
            }
        }
    }

    /// Trials and failures behind a ratio signal of `series` in this window: the
    /// service's inbound requests or transactions, or the dependency's own calls
    /// (for a latency quantile: its samples, no failures).
    pub(crate) fn ratio_counts(&self, series: &SeriesKey, signal: &str) -> (u64, u64) {
        if series.kind == SeriesKind::Dependency {
            return self.point(series, signal).map_or((0, 0), |p| (p.1, p.2));
        }
        if signal.starts_with("latency_") {
            return self.point(series, signal).map_or((0, 0), |p| (p.1, 0));
        }
        let Some(sw) = self.services.get(&series.service) else { return (0, 0) };
        match signal {
            "txn_failure_rate" => (sw.txn_total, sw.txn_failed),
            _ => sw.inbound(),
        }
    }

    /// Latest value of `signal` on `series` in this window.
    pub(crate) fn value(&self, series: &SeriesKey, signal: &str) -> Option<f64> {
        self.point(series, signal).map(|p| p.0)
    }

    /// Latest (value, n, k) of `signal` on `series` in this window.
    pub(crate) fn point(&self, series: &SeriesKey, signal: &str) -> Option<(f64, u64, u64)> {
        self.values.get(&(series.clone(), signal.to_string())).copied()
    }

    /// Forgets everything, keeping allocations.
    pub(crate) fn clear(&mut self) {
        self.services.clear();
        self.findings.clear();
        self.values.clear();
        self.changes.clear();
    }
}
