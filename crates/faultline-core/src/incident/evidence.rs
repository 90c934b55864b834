//! Evidence of one window end: per-service counts, dimension breakdowns, signal values, findings.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use rustc_hash::FxBuildHasher;

use super::model::{ChangeRecord, DimensionCount, name_dimension};
use super::severity::WindowImpact;
use crate::aggregate::Aggregate;
use crate::detect::Finding;
use crate::series::{SeriesKey, SeriesKind};
use crate::signal::{Signal, SignalPoint};
use crate::window::ClosedWindow;

/// What the closed windows of one window end showed. Transient: the manager
/// folds it into its incidents when the window end is processed, then clears it.
///
/// Recording is the hot part (every closed window and every signal point passes
/// through here), reading is rare (findings and open incidents only), so
/// recording only appends: label sets are shared (`Arc`), never copied, and the
/// breakdowns and the lookup index by label set are built when first asked for.
#[derive(Debug, Default)]
pub(crate) struct WindowEvidence {
    /// Service name → slot in `slots`; kept across window ends so a service's
    /// name is copied once, not once per window.
    service_slot: hashbrown::HashMap<Box<str>, u32, FxBuildHasher>,
    /// One per service ever seen; those not in `active` hold stale counts.
    slots: Vec<ServiceWindow>,
    /// Slots touched in this window end, in first-touch order.
    active: Vec<u32>,
    /// The slot of the latest service looked up (consecutive windows mostly share one).
    last_slot: Option<u32>,
    /// Counts the window ends, so a slot knows whether it belongs to this one.
    epoch: u64,
    /// Findings of this window end, with their series' label sets.
    pub(crate) findings: Vec<(SeriesKey, Finding)>,
    /// Series with signal points, in observation order, each with its run of `points`.
    series: Vec<SeriesPoints>,
    /// Every signal point observed: signal, value, n, k.
    points: Vec<(Signal, f64, u64, u64)>,
    /// Label set → latest entry of `series`, built on the first lookup.
    index: OnceCell<hashbrown::HashTable<u32>>,
    /// Changes seen.
    pub(crate) changes: Vec<ChangeRecord>,
}

/// One service in one window.
#[derive(Debug, Default, Clone)]
pub(crate) struct ServiceWindow {
    name: Box<str>,
    /// The window end (epoch) these counts belong to.
    epoch: u64,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// Outbound calls (also counted in `requests` under their operation).
    pub(crate) dep_requests: u64,
    /// Failed outbound calls (also counted in `errors`).
    pub(crate) dep_errors: u64,
    pub(crate) txn_total: u64,
    pub(crate) txn_failed: u64,
    pub(crate) max_latency_p95_ms: f64,
    /// Request and dependency windows with requests: label set, errors, requests.
    /// The (dimension key, value) breakdown is made from these when asked for.
    breakdown: Vec<(Arc<SeriesKey>, u64, u64)>,
    /// Largest value per signal (request, gauge and transaction series), in first-seen order.
    peaks: Vec<(Signal, f64)>,
}

/// A series' run of points in [`WindowEvidence::points`].
#[derive(Debug)]
struct SeriesPoints {
    key: Arc<SeriesKey>,
    first: u32,
    end: u32,
    /// The previous entry of the same label set, linked when the index is built.
    prev: OnceCell<Option<u32>>,
}

impl ServiceWindow {
    /// Requests and errors served, without the outbound calls the decoder also
    /// counts under their operation.
    pub(crate) fn inbound(&self) -> (u64, u64) {
        (self.requests.saturating_sub(self.dep_requests), self.errors.saturating_sub(self.dep_errors))
    }

    /// The service's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn reset(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.requests = 0;
        self.errors = 0;
        self.dep_requests = 0;
        self.dep_errors = 0;
        self.txn_total = 0;
        self.txn_failed = 0;
        self.max_latency_p95_ms = 0.0;
        self.breakdown.clear();
        self.peaks.clear();
    }
}

impl WindowEvidence {
    /// Counts a closed window of the series `key`.
    pub(crate) fn observe_window(&mut self, key: &Arc<SeriesKey>, closed: &ClosedWindow) {
        let slot = self.touch(&key.service);
        let svc = &mut self.slots[slot];
        match &closed.aggregate {
            Aggregate::Request(a) => {
                if key.kind == SeriesKind::Request {
                    svc.requests += a.requests;
                    svc.errors += a.errors;
                } else {
                    svc.dep_requests += a.requests;
                    svc.dep_errors += a.errors;
                }
                if a.requests > 0 && name_dimension(key.kind).is_some() {
                    svc.breakdown.push((key.clone(), a.errors, a.requests));
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
    pub(crate) fn observe_point(&mut self, key: &Arc<SeriesKey>, point: &SignalPoint) {
        let n = u32::try_from(self.points.len()).expect("fewer than 2^32 points per window end");
        self.points.push((point.signal.clone(), point.value, point.n, point.k));
        match self.series.last_mut() {
            Some(s) if s.end == n && (Arc::ptr_eq(&s.key, key) || s.key == *key) => s.end = n + 1,
            _ => {
                self.series.push(SeriesPoints { key: key.clone(), first: n, end: n + 1, prev: OnceCell::new() });
                self.index.take();
            }
        }
        if key.kind == SeriesKind::Dependency {
            return;
        }
        let slot = self.touch(&key.service);
        let svc = &mut self.slots[slot];
        if point.signal == Signal::LatencyP95 {
            svc.max_latency_p95_ms = svc.max_latency_p95_ms.max(point.value);
        }
        match svc.peaks.iter_mut().find(|(s, _)| *s == point.signal) {
            Some((_, peak)) => *peak = peak.max(point.value),
            None => svc.peaks.push((point.signal.clone(), f64::NEG_INFINITY.max(point.value))),
        }
    }

    /// The slot of `service` in this window end, made (or reset) on first touch.
    #[inline]
    fn touch(&mut self, service: &str) -> usize {
        if let Some(slot) = self.last_slot
            && let Some(sw) = self.slots.get(slot as usize)
            && sw.epoch == self.epoch
            && *sw.name == *service
        {
            return slot as usize;
        }
        self.touch_slow(service)
    }

    #[inline(never)]
    fn touch_slow(&mut self, service: &str) -> usize {
        let slot = match self.service_slot.get(service) {
            Some(&slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 services");
                self.service_slot.insert(service.into(), slot);
                self.slots.push(ServiceWindow {
                    name: service.into(),
                    epoch: self.epoch.wrapping_sub(1),
                    ..Default::default()
                });
                slot
            }
        };
        let sw = &mut self.slots[slot as usize];
        if sw.epoch != self.epoch {
            sw.reset(self.epoch);
            self.active.push(slot);
        }
        self.last_slot = Some(slot);
        slot as usize
    }

    /// The counts of `service` in this window end, if it had any window or point.
    fn service(&self, service: &str) -> Option<&ServiceWindow> {
        let slot = *self.service_slot.get(service)?;
        Some(&self.slots[slot as usize]).filter(|sw| sw.epoch == self.epoch)
    }

    /// The services of this window end, by name.
    pub(crate) fn services(&self) -> Vec<&ServiceWindow> {
        let mut out: Vec<&ServiceWindow> = self.active.iter().map(|&slot| &self.slots[slot as usize]).collect();
        out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The impact measured over `services`.
    pub(crate) fn impact<'a>(&self, services: impl Iterator<Item = &'a String>) -> WindowImpact {
        let mut w = WindowImpact::default();
        for s in services {
            if let Some(sw) = self.service(s) {
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

    /// Adds this window's dimension counts of `services` into `into`: per service,
    /// (dimension key, value) pairs in order, `dim_names` naming the series' dimensions.
    pub(crate) fn add_dimensions<'a>(
        &self,
        services: impl Iterator<Item = &'a String>,
        dim_names: &[String],
        into: &mut Vec<DimensionCount>,
    ) {
        for s in services {
            let Some(sw) = self.service(s) else { continue };
            for (k, v, errors, requests) in breakdown(sw, dim_names) {
                match into.iter_mut().find(|d| d.key == k && d.value == v) {
                    Some(d) => {
                        d.errors += errors;
                        d.requests += requests;
                    }
                    None => into.push(DimensionCount { key: k.to_string(), value: v.to_string(), errors, requests }),
                }
            }
        }
    }

    /// Folds this window's peaks of `services` into `into`, keyed `service/signal`.
    pub(crate) fn add_peaks<'a>(&self, services: impl Iterator<Item = &'a String>, into: &mut BTreeMap<String, f64>) {
        for s in services {
            let Some(sw) = self.service(s) else { continue };
            for (signal, v) in &sw.peaks {
                let p = into.entry(format!("{s}/{}", signal.as_str())).or_insert(*v);
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
        let Some(sw) = self.service(&series.service) else { return (0, 0) };
        match signal {
            "txn_failure_rate" => (sw.txn_total, sw.txn_failed),
            _ => sw.inbound(),
        }
    }

    /// Latest (value, n, k) of `signal` on `series` in this window.
    pub(crate) fn point(&self, series: &SeriesKey, signal: &str) -> Option<(f64, u64, u64)> {
        let index = self.index.get_or_init(|| self.build_index());
        let hash = FxBuildHasher.hash_one(series);
        let mut at = index.find(hash, |&i| *self.series[i as usize].key == *series).copied();
        while let Some(i) = at {
            let s = &self.series[i as usize];
            let run = &self.points[s.first as usize..s.end as usize];
            if let Some(p) = run.iter().rev().find(|p| p.0.as_str() == signal) {
                return Some((p.1, p.2, p.3));
            }
            at = s.prev.get().copied().flatten();
        }
        None
    }

    /// Label set → latest entry of `series`, each entry linked to the previous one of its label set.
    fn build_index(&self) -> hashbrown::HashTable<u32> {
        let mut index = hashbrown::HashTable::with_capacity(self.series.len());
        let hasher = |i: &u32| FxBuildHasher.hash_one(&*self.series[*i as usize].key);
        for (i, s) in self.series.iter().enumerate() {
            let hash = FxBuildHasher.hash_one(&*s.key);
            let i = i as u32;
            match index.entry(hash, |&j| *self.series[j as usize].key == *s.key, hasher) {
                hashbrown::hash_table::Entry::Occupied(mut e) => {
                    let _ = s.prev.set(Some(*e.get()));
                    *e.get_mut() = i;
                }
                hashbrown::hash_table::Entry::Vacant(e) => {
                    let _ = s.prev.set(None);
                    e.insert(i);
                }
            }
        }
        index
    }

    /// Forgets everything, keeping allocations.
    pub(crate) fn clear(&mut self) {
        for &slot in &self.active {
            self.slots[slot as usize].breakdown.clear();
        }
        self.active.clear();
        self.epoch = self.epoch.wrapping_add(1);
        self.last_slot = None;
        self.findings.clear();
        self.series.clear();
        self.points.clear();
        self.index.take();
        self.changes.clear();
    }
}

/// The (dimension key, value) → (errors, requests) breakdown of one service's
/// windows, in (key, value) order.
fn breakdown<'a>(sw: &'a ServiceWindow, dim_names: &'a [String]) -> Vec<(&'a str, &'a str, u64, u64)> {
    let mut rows: Vec<(&str, &str, u64, u64)> = Vec::new();
    for (key, errors, requests) in &sw.breakdown {
        let Some(dim) = name_dimension(key.kind) else { continue };
        rows.push((dim, &key.name, *errors, *requests));
        if key.kind == SeriesKind::Request {
            for (name, value) in dim_names.iter().zip(key.dims.iter()) {
                if !value.is_empty() {
                    rows.push((name, value, *errors, *requests));
                }
            }
        }
    }
    rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    rows.dedup_by(|later, kept| {
        let same = (later.0, later.1) == (kept.0, kept.1);
        if same {
            kept.2 += later.2;
            kept.3 += later.3;
        }
        same
    });
    rows
}
