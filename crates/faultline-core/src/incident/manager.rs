//! The incident manager: grouping findings into incidents and driving their lifecycle on event time.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::IncidentConfig;
use super::causes::{CauseCatalog, CauseContext};
use super::confirm::{ConfirmPolicy, Strength, Watch, binomial_tail, contradicts, family, harms};
use super::evidence::WindowEvidence;
use super::model::{
    Action, ChangeRecord, Impact, Incident, IncidentEvent, IncidentSignal, Observed, RecentPoint, Severity,
    SignalDirection, Status, TimelineEntry, TimelineKind, detector_name,
};
use super::severity::WindowImpact;
use crate::detect::{DetectorKind, Direction, Finding};
use crate::event::ChangeKind;
use crate::series::SeriesId;
use crate::series::{SeriesKey, SeriesKind};
use crate::signal::Signal;
use crate::signal::SignalPoint;
use crate::time::{DurationMs, Millis};
use crate::window::ClosedWindow;
use crate::window::Window;

/// Version of [`ManagerState`]'s serialised form.
pub const STATE_VERSION: u32 = 1;

/// Everything the manager must keep across a restart, keyed by label sets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagerState {
    /// [`STATE_VERSION`] when written.
    pub version: u32,
    /// Open incidents, and resolved ones still inside the flap window.
    pub incidents: Vec<Incident>,
    /// Recent changes, oldest first.
    pub changes: Vec<ChangeRecord>,
    /// Findings not (yet) part of an incident, waiting for confirmation.
    pub pending: Vec<PendingFinding>,
    /// Services seen with transactions (payment paths).
    pub payment_services: BTreeSet<String>,
    /// Services seen serving requests; any other service is seen through gauges
    /// only (a database, a cache) and counts as shared infrastructure.
    #[serde(default)]
    pub app_services: BTreeSet<String>,
    /// End of the latest window processed.
    pub watermark: Option<Millis>,
    /// Windows ending at or before this only feed history: they open nothing.
    pub history_until: Option<Millis>,
}

impl ManagerState {
    /// Takes out what concerns `services` (incidents of theirs, their pending findings and
    /// changes, their membership of the service sets), as a state of its own.
    pub fn take_services(&mut self, services: &BTreeSet<String>) -> ManagerState {
        let (incidents, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.incidents).into_iter().partition(|i| services.contains(&i.service));
        self.incidents = keep;
        let (pending, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| services.contains(&*p.series.service));
        self.pending = keep;
        let (changes, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.changes).into_iter().partition(|c| services.contains(&c.service));
        self.changes = keep;
        ManagerState {
            version: STATE_VERSION,
            incidents,
            changes,
            pending,
            payment_services: self.payment_services.intersection(services).cloned().collect(),
            app_services: self.app_services.intersection(services).cloned().collect(),
            watermark: None,
            history_until: None,
        }
    }
}

/// A finding waiting for confirmation before it opens an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingFinding {
    /// The series.
    pub series: SeriesKey,
    /// Signal name.
    pub signal: String,
    /// End of its window.
    pub window_end: Millis,
}

/// Turns findings into incidents: groups them by service (and by dependency,
/// with the callers), opens, updates and resolves incidents as windows close.
/// Advances on event time only (window ends); no clock, no I/O.
///
/// Per window end the caller passes the closed windows, their signal points
/// and the detectors' findings, then calls [`IncidentManager::end_window`].
#[derive(Debug)]
pub struct IncidentManager {
    config: IncidentConfig,
    catalog: CauseCatalog,
    state: ManagerState,
    evidence: WindowEvidence,
    /// The service of the latest window counted and the set it is known in: windows come
    /// in label-set order, so runs of one service skip the set's string search.
    last_known: Option<(KnownSet, Box<str>)>,
}

/// Which of [`ManagerState`]'s service sets a service was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KnownSet {
    Payment,
    App,
}

impl IncidentManager {
    /// A manager with no incidents.
    pub fn new(config: IncidentConfig, catalog: CauseCatalog) -> IncidentManager {
        let state = ManagerState { version: STATE_VERSION, ..ManagerState::default() };
        IncidentManager::from_state(config, catalog, state)
    }

    /// A manager resuming from checkpointed state: incidents keep their ids and dedup keys.
    pub fn from_state(config: IncidentConfig, catalog: CauseCatalog, state: ManagerState) -> IncidentManager {
        IncidentManager { config, catalog, state, evidence: WindowEvidence::default(), last_known: None }
    }

    /// The checkpointable state. Consistent between [`IncidentManager::end_window`] calls.
    pub fn state(&self) -> &ManagerState {
        &self.state
    }

    /// The settings.
    pub fn config(&self) -> &IncidentConfig {
        &self.config
    }

    /// The probable-cause rules.
    pub fn catalog(&self) -> &CauseCatalog {
        &self.catalog
    }

    /// Replaces the state with a checkpointed one (between window ends).
    pub fn restore(&mut self, state: ManagerState) {
        self.state = state;
        self.evidence.clear();
        self.last_known = None;
    }

    /// Takes `services` out (their partition goes to another instance): their incidents,
    /// pending findings and changes, as a state the next owner adopts
    /// ([`IncidentManager::adopt`]). Call between window ends.
    pub fn release(&mut self, services: &BTreeSet<String>) -> ManagerState {
        self.last_known = None;
        self.state.take_services(services)
    }

    /// Takes over another instance's incidents, pending findings and changes of the
    /// services of a partition that moved here (from [`IncidentManager::release`] or
    /// [`ManagerState::take_services`]); an incident already here (by id) stays as it is.
    pub fn adopt(&mut self, part: ManagerState) {
        let s = &mut self.state;
        for inc in part.incidents {
            if !s.incidents.iter().any(|i| i.id == inc.id) {
                s.incidents.push(inc);
            }
        }
        for p in part.pending {
            if !s.pending.contains(&p) {
                s.pending.push(p);
            }
        }
        for c in part.changes {
            if !s.changes.contains(&c) {
                s.changes.push(c);
            }
        }
        s.changes.sort();
        s.payment_services.extend(part.payment_services);
        s.app_services.extend(part.app_services);
        self.last_known = None;
    }

    /// Open incidents and resolved ones still inside the flap window.
    pub fn incidents(&self) -> &[Incident] {
        &self.state.incidents
    }

    /// Windows ending at or before `until` feed history only: they open no incident.
    pub fn set_history_until(&mut self, until: Millis) {
        self.state.history_until = Some(until);
    }

    /// Counts a closed window of the series `key` (errors per dimension, transactions, changes).
    pub fn observe_window(&mut self, key: &Arc<SeriesKey>, closed: &ClosedWindow) {
        let set = match key.kind {
            SeriesKind::Transaction => Some(KnownSet::Payment),
            SeriesKind::Request | SeriesKind::Dependency => Some(KnownSet::App),
            _ => None,
        };
        if let Some(set) = set
            && self.last_known.as_ref().is_none_or(|(s, service)| *s != set || **service != *key.service)
        {
            let known = match set {
                KnownSet::Payment => &mut self.state.payment_services,
                KnownSet::App => &mut self.state.app_services,
            };
            if !known.contains(&*key.service) {
                known.insert(key.service.to_string());
            }
            self.last_known = Some((set, key.service.clone()));
        }
        self.evidence.observe_window(key, closed);
    }

    /// Records a signal value of the series `key`.
    pub fn observe_point(&mut self, key: &Arc<SeriesKey>, point: &SignalPoint) {
        self.evidence.observe_point(key, point);
    }

    /// Records a detector finding on the series `key`.
    pub fn observe_finding(&mut self, key: &SeriesKey, finding: &Finding) {
        self.evidence.findings.push((key.clone(), finding.clone()));
    }

    /// Processes the window ending at `window_end`: everything observed since the
    /// last call belongs to it. Appends at most one event per incident to `out`.
    pub fn end_window(&mut self, window_end: Millis, out: &mut Vec<IncidentEvent>) {
        let w = window_end;
        self.state.watermark = Some(w);
        self.state.changes.append(&mut self.evidence.changes);
        self.state.changes.sort();
        // Changes stay while an open incident may still name them.
        let oldest_onset = self.state.incidents.iter().filter(|i| i.status == Status::Open).map(|i| i.onset_at).min();
        let keep_after = w.min(oldest_onset.unwrap_or(w)).minus(self.config.change_memory);
        self.state.changes.retain(|c| c.at >= keep_after);
        let history = self.state.history_until.is_some_and(|h| w <= h);
        let mut findings = std::mem::take(&mut self.evidence.findings);
        if !history {
            self.measure_services(w, &mut findings);
        }
        let mut touched = Touched::new();
        if !history {
            let mut unmatched = Vec::new();
            let sustaining: Vec<&(SeriesKey, Finding)> = findings.iter().filter(|(_, f)| self.sustains(f)).collect();
            for (key, f) in sustaining {
                match self.matching_incident(key) {
                    Some(i) => {
                        let holds = self.holds(key, f);
                        if self.attach(i, key, f, w, holds) {
                            touched.entry(i).or_default().changed = true;
                        }
                    }
                    None => match self.strength(key, f) {
                        Strength::JoinOnly => {}
                        strength => unmatched.push((key, f, strength)),
                    },
                }
            }
            self.open_confirmed(&unmatched, w, &mut touched);
        }
        self.refresh_open(w, &mut touched);
        for (i, t) in touched {
            let action = if t.resolved {
                Action::Resolved
            } else if t.opened {
                Action::Opened
            } else if t.changed {
                Action::Updated
            } else {
                continue;
            };
            out.push(IncidentEvent { action, incident: self.state.incidents[i].clone() });
        }
        let flap = self.config.flap_window;
        self.state.incidents.retain(|i| i.resolved_at.is_none_or(|r| w.minus(flap) <= r));
        self.evidence.clear();
    }

    /// The runbooks' 1 % floor applied to each service's whole window (all operations,
    /// all regions): failures whose binomial tail under the null rate is below the weak
    /// tail become findings of their own, on the service-level series (empty name).
    /// Per-series detectors see a fraction of the volume each; this sees all of it.
    fn measure_services(&self, w: Millis, out: &mut Vec<(SeriesKey, Finding)>) {
        let c = &self.config.confirm;
        let window = Window { start: Millis(w.0 - self.config.window.0), end: w };
        for sw in self.evidence.services() {
            let service = sw.name();
            let (requests, errors) = sw.inbound();
            let measured = [
                (SeriesKind::Request, Signal::ErrorRate, requests, errors),
                (SeriesKind::Transaction, Signal::TxnFailureRate, sw.txn_total, sw.txn_failed),
            ];
            for (kind, signal, n, k) in measured {
                if k < c.min_ratio_failures {
                    continue;
                }
                let tail = binomial_tail(n, k, c.ratio_null_rate);
                if tail >= c.weak_tail {
                    continue;
                }
                let finding = Finding {
                    detector: DetectorKind::Threshold,
                    signal,
                    series: SeriesId(u32::MAX),
                    window,
                    value: k as f64 / n as f64,
                    baseline: None,
                    threshold: Some(c.ratio_null_rate),
                    score: 1.0 - tail,
                    direction: Direction::Up,
                    detail: Some(format!("{k} of {n} failed across {service}")),
                    tail: None,
                };
                out.push((SeriesKey::new(kind, service, "", &[]), finding));
            }
        }
    }

    /// Whether a finding says its signal is abnormal now: not on the normal side of
    /// its baseline, and for a failure ratio not under the null rate (a burn-rate
    /// finding may outlive the failures by the length of its long window).
    fn sustains(&self, f: &Finding) -> bool {
        let low_ratio =
            f.signal.is_ratio() && f.direction == Direction::Up && f.value < self.config.confirm.ratio_null_rate;
        !contradicts(f) && !low_ratio
    }

    /// How much a finding counts toward opening an incident.
    fn strength(&self, key: &SeriesKey, f: &Finding) -> Strength {
        self.config.confirm.strength(f, self.evidence.ratio_counts(key, f.signal.as_str()), self.watch(key, f))
    }

    /// Whether a finding keeps the incident it joins open (see [`ConfirmPolicy::holds`]).
    fn holds(&self, key: &SeriesKey, f: &Finding) -> bool {
        self.config.confirm.holds(f, self.evidence.ratio_counts(key, f.signal.as_str()), self.watch(key, f))
    }

    /// Whether `key`'s service changed (deploy, config) shortly before the finding's window.
    fn watch(&self, key: &SeriesKey, f: &Finding) -> Watch {
        let w = f.window.end;
        let changed = self.state.changes.iter().any(|ch| {
            *ch.service == *key.service
                && ch.kind != ChangeKind::Rollback
                && ch.at <= w
                && w.0 - ch.at.0 <= self.config.confirm.change_watch_ms
        });
        if changed { Watch::AfterChange } else { Watch::Normal }
    }

    /// Index of the open (or flap-window resolved) incident a finding on `key` belongs to.
    fn matching_incident(&self, key: &SeriesKey) -> Option<usize> {
        let peer = (key.kind == SeriesKind::Dependency).then_some(&*key.name);
        self.state
            .incidents
            .iter()
            .position(|i| i.status == Status::Open && (i.covers(&key.service) || peer.is_some_and(|p| i.covers(p))))
    }

    /// Adds a finding to incident `i`; one that `holds` keeps it open. True when it
    /// brought a new signal or service.
    fn attach(&mut self, i: usize, key: &SeriesKey, f: &Finding, w: Millis, holds: bool) -> bool {
        let inc = &mut self.state.incidents[i];
        if holds {
            inc.last_abnormal_at = w;
        }
        // What arrives in the window that opens the incident is part of its opening.
        let opening = inc.detected_at == w && inc.status == Status::Open && inc.resolved_at.is_none();
        let mut changed = false;
        for s in std::iter::once(&*key.service).chain((key.kind == SeriesKind::Dependency).then_some(&*key.name)) {
            if inc.services.insert(s.to_string()) && !opening {
                inc.timeline.push(TimelineEntry {
                    at: w,
                    kind: TimelineKind::SignalAdded,
                    detail: format!("service {s} joined"),
                });
                changed = true;
            }
        }
        let name = f.signal.as_str();
        match inc.signal_mut(key, name) {
            Some(s) => {
                s.value = f.value;
                s.worst = match s.direction {
                    SignalDirection::Up => s.worst.max(f.value),
                    SignalDirection::Down => s.worst.min(f.value),
                };
                s.baseline = f.baseline.or(s.baseline);
                s.threshold = f.threshold.or(s.threshold);
                s.detector = detector_name(f.detector);
                s.last_at = w;
            }
            None => {
                let s = new_signal(key, f, w);
                if !inc.signals.is_empty() && !opening {
                    inc.timeline.push(TimelineEntry { at: w, kind: TimelineKind::SignalAdded, detail: describe(&s) });
                    changed = true;
                }
                inc.signals.push(s);
            }
        }
        changed
    }

    /// Opens (or re-opens) incidents for services whose unmatched findings are confirmed.
    fn open_confirmed(&mut self, unmatched: &[(&SeriesKey, &Finding, Strength)], w: Millis, touched: &mut Touched) {
        let c = self.config.confirm.clone();
        let window_ms = self.config.window.0.max(1);
        let oldest = Millis(w.0 - i64::from(c.within_windows.max(1)) * window_ms);
        self.state.pending.retain(|p| p.window_end > oldest);
        for (key, f, _) in unmatched {
            self.state.pending.push(PendingFinding {
                series: (*key).clone(),
                signal: f.signal.as_str().into(),
                window_end: w,
            });
        }
        let services: BTreeSet<&str> = unmatched.iter().map(|(k, _, _)| &*k.service).collect();
        for service in services {
            let now: Vec<&(&SeriesKey, &Finding, Strength)> =
                unmatched.iter().filter(|(k, _, _)| &*k.service == service).collect();
            let strong = now.iter().any(|(_, _, s)| *s == Strength::Strong);
            let n_families = now.iter().map(|(_, f, _)| family(f.signal.as_str())).collect::<BTreeSet<_>>().len();
            let n_windows = self
                .state
                .pending
                .iter()
                .filter(|p| &*p.series.service == service)
                .map(|p| p.window_end)
                .collect::<BTreeSet<_>>()
                .len();
            let confirmed = n_families >= c.immediate_families || n_windows >= c.windows as usize;
            if !(strong || confirmed) {
                continue;
            }
            let first_end =
                self.state.pending.iter().filter(|p| &*p.series.service == service).map(|p| p.window_end).min();
            let onset = Millis(first_end.unwrap_or(w).0 - window_ms);
            self.state.pending.retain(|p| &*p.series.service != service);
            let (i, is_new) = match self.correlated_incident(service, w) {
                Some(i) => (i, false),
                None => self.open_or_reopen(service, onset, w),
            };
            for (key, f, _) in now {
                self.attach(i, key, f, w, true);
            }
            let t = touched.entry(i).or_default();
            t.opened |= is_new;
            t.changed |= !is_new;
        }
    }

    /// An open incident that `service` joins by correlation in time: shared
    /// infrastructure (seen through gauges only) joins the latest open incident; an
    /// app joins an incident of shared infrastructure opened within the correlation window.
    fn correlated_incident(&self, service: &str, w: Millis) -> Option<usize> {
        let infra = |s: &str| !self.state.app_services.contains(s);
        let since = w.minus(self.config.correlation_window);
        let incidents = &self.state.incidents;
        if infra(service) {
            return incidents.iter().rposition(|i| i.status == Status::Open);
        }
        incidents
            .iter()
            .position(|i| i.status == Status::Open && i.detected_at >= since && i.services.iter().any(|s| infra(s)))
    }

    /// A new incident on `service`, or the resolved one still inside the flap window.
    fn open_or_reopen(&mut self, service: &str, onset: Millis, w: Millis) -> (usize, bool) {
        if let Some(i) = self.state.incidents.iter().position(|i| i.status == Status::Resolved && i.covers(service)) {
            let inc = &mut self.state.incidents[i];
            inc.status = Status::Open;
            inc.resolved_at = None;
            inc.last_abnormal_at = w;
            inc.timeline.push(TimelineEntry {
                at: w,
                kind: TimelineKind::Detected,
                detail: "re-opened within the flap window".into(),
            });
            return (i, false);
        }
        let opened_window = Millis(w.0 - self.config.window.0);
        let dedup_key = format!("{service}/{}", opened_window.to_rfc3339());
        let id = format!("inc-{:016x}", fnv1a(dedup_key.as_bytes()));
        self.state.incidents.push(Incident {
            id,
            dedup_key,
            service: service.to_string(),
            services: [service.to_string()].into(),
            severity: Severity::P3,
            title: String::new(),
            status: Status::Open,
            onset_at: onset,
            detected_at: w,
            resolved_at: None,
            last_abnormal_at: w,
            signals: Vec::new(),
            impact: Impact::default(),
            dimensions: Vec::new(),
            peaks: Default::default(),
            causes: Vec::new(),
            runbook: Vec::new(),
            timeline: vec![
                TimelineEntry { at: onset, kind: TimelineKind::Onset, detail: "first anomalous window".into() },
                TimelineEntry { at: w, kind: TimelineKind::Detected, detail: "opened".into() },
            ],
        });
        (self.state.incidents.len() - 1, true)
    }

    /// Folds this window's evidence into every open incident: impact, severity,
    /// causes, title; resolves those whose signals stayed normal long enough.
    fn refresh_open(&mut self, w: Millis, touched: &mut Touched) {
        let cfg = &self.config;
        for (i, inc) in self.state.incidents.iter_mut().enumerate() {
            if inc.status != Status::Open {
                continue;
            }
            let just_opened = inc.detected_at == w;
            let since = w.minus(cfg.resolve_evidence);
            for s in &mut inc.signals {
                if let Some((value, n, k)) = self.evidence.point(&s.series, &s.signal) {
                    s.recent.push(RecentPoint { at: w, value, n, k });
                    if let Some(b) = s.baseline {
                        s.observed.value += value;
                        s.observed.expected += b;
                        s.observed.windows += 1;
                    }
                }
                let stale = s.recent.iter().take_while(|p| p.at <= since).count();
                s.recent.drain(..stale);
            }
            let still_abnormal = inc.signals.iter().any(|s| signal_abnormal(s, &cfg.confirm));
            if still_abnormal {
                // Window ends go back only when a partition is adopted: never this incident's clock.
                inc.last_abnormal_at = inc.last_abnormal_at.max(w);
            }
            if inc.last_abnormal_at == w {
                let window = self.evidence.impact(inc.services.iter());
                accumulate(&mut inc.impact, &window);
                self.evidence.add_dimensions(inc.services.iter(), &cfg.dimension_names, &mut inc.dimensions);
                self.evidence.add_peaks(inc.services.iter(), &mut inc.peaks);
                // Shares are judged over the incident so far, so a few requests in one
                // quiet window cannot make a P0 on their own.
                let measured = WindowImpact {
                    requests: inc.impact.requests,
                    errors: inc.impact.errors,
                    txn_total: inc.impact.txn_total,
                    txn_failed: inc.impact.txn_failed,
                    max_latency_p95_ms: window.max_latency_p95_ms,
                    payment_path: inc
                        .services
                        .iter()
                        .any(|s| self.state.payment_services.contains(s) || cfg.severity.is_payment_service(s)),
                };
                let (severity, why) = cfg.severity.assess(inc, &measured);
                if severity < inc.severity {
                    if !just_opened && !inc.signals.is_empty() {
                        let detail = format!("{} → {}: {why}", inc.severity.as_str(), severity.as_str());
                        inc.timeline.push(TimelineEntry { at: w, kind: TimelineKind::SeverityChanged, detail });
                        touched.entry(i).or_default().changed = true;
                    }
                    inc.severity = severity;
                }
                let top_before = inc.causes.first().map(|c| c.cause.clone());
                let (causes, runbook) = self.catalog.evaluate(inc, CauseContext { changes: &self.state.changes });
                inc.causes = causes;
                inc.runbook = runbook;
                if inc.causes.first().map(|c| c.cause.clone()) != top_before && !just_opened {
                    touched.entry(i).or_default().changed = true;
                }
                inc.title = super::title::title(inc);
                continue;
            }
            let quiet = w.0 - inc.last_abnormal_at.0;
            let hold = resolve_hold(cfg, DurationMs(inc.last_abnormal_at.0 - inc.onset_at.0));
            if quiet >= hold.0 {
                inc.status = Status::Resolved;
                inc.resolved_at = Some(w);
                let detail = format!("all signals normal since {}", inc.last_abnormal_at.to_rfc3339());
                inc.timeline.push(TimelineEntry { at: w, kind: TimelineKind::Resolved, detail });
                touched.entry(i).or_default().resolved = true;
            }
        }
    }
}

/// What happened to each incident in one window, by index.
type Touched = std::collections::BTreeMap<usize, Touch>;

/// What happened to one incident in one window.
#[derive(Debug, Default, Clone, Copy)]
struct Touch {
    opened: bool,
    changed: bool,
    resolved: bool,
}

fn new_signal(key: &SeriesKey, f: &Finding, w: Millis) -> IncidentSignal {
    IncidentSignal {
        series: key.clone(),
        signal: f.signal.as_str().to_string(),
        detector: detector_name(f.detector),
        direction: f.direction.into(),
        value: f.value,
        worst: f.value,
        baseline: f.baseline,
        threshold: f.threshold,
        first_at: f.window.start,
        last_at: w,
        detail: f.detail.clone(),
        recent: Vec::new(),
        observed: Observed::default(),
    }
}

/// Whether a signal's recent windows (see [`IncidentConfig::resolve_evidence`]) still say
/// the incident goes on: off in the harmful direction (a latency that fell holds nothing),
/// on evidence as significant as opening needs (a failure ratio's binomial tail), and past
/// its threshold or (without one) not yet back halfway from its worst to its baseline.
///
/// Counted signals are judged on the newest windows that hold `min_latency_samples` events
/// between them (the whole span when they never do): one window of a busy service, up to a
/// minute of a quiet one, so a quiet service's one failure per window still counts and a
/// busy one resolves on fresh evidence only. Ratios use the sums, latencies the
/// sample-weighted mean of the quantiles; gauges their latest reading. Volumes never: a
/// volume's normal level moves with the time of day, which the baseline frozen at the
/// finding does not know, so only their detectors' findings (seasonal forecasts, the count
/// CUSUM) hold an incident on volume.
fn signal_abnormal(s: &IncidentSignal, c: &ConfirmPolicy) -> bool {
    let Some(latest) = s.recent.last() else { return false };
    let direction = match s.direction {
        SignalDirection::Up => Direction::Up,
        SignalDirection::Down => Direction::Down,
    };
    let volume = matches!(&*s.signal, "request_rate" | "txn_volume");
    if !harms(&s.signal, direction) || volume {
        return false;
    }
    let ratio = matches!(&*s.signal, "error_rate" | "txn_failure_rate");
    let latency = s.signal.starts_with("latency_");
    let mut used = 0;
    let mut n = 0;
    for p in s.recent.iter().rev() {
        used += 1;
        n += p.n;
        if n >= c.min_latency_samples {
            break;
        }
    }
    let span = &s.recent[s.recent.len() - used..];
    let v = if ratio {
        let k: u64 = span.iter().map(|p| p.k).sum();
        let p0 = s.baseline.unwrap_or(0.0).max(c.ratio_null_rate);
        if k < c.min_ratio_failures || binomial_tail(n, k, p0) >= c.weak_tail {
            return false;
        }
        k as f64 / n as f64
    } else if latency {
        if n < c.min_latency_samples {
            return false;
        }
        span.iter().map(|p| p.value * p.n as f64).sum::<f64>() / n as f64
    } else {
        latest.value
    };
    let limit = match (s.threshold, s.baseline) {
        (Some(t), _) => t,
        (None, Some(b)) => (b + s.worst) / 2.0,
        (None, None) => return false,
    };
    match s.direction {
        SignalDirection::Up => v >= limit && v > s.baseline.unwrap_or(f64::NEG_INFINITY),
        SignalDirection::Down => v <= limit && v < s.baseline.unwrap_or(f64::INFINITY),
    }
}

fn accumulate(total: &mut Impact, w: &WindowImpact) {
    total.requests += w.requests;
    total.errors += w.errors;
    total.txn_total += w.txn_total;
    total.txn_failed += w.txn_failed;
    if w.requests > 0 {
        total.peak_error_share = total.peak_error_share.max(w.errors as f64 / w.requests as f64);
    }
    if w.txn_total > 0 {
        total.peak_txn_failure_share = total.peak_txn_failure_share.max(w.txn_failed as f64 / w.txn_total as f64);
    }
}

/// A signal in a timeline entry: name, value, series and detector.
fn describe(s: &IncidentSignal) -> String {
    let on = if s.series.kind == SeriesKind::Dependency {
        format!("{} → {}", s.series.service, s.series.name)
    } else if s.series.name.is_empty() {
        s.series.service.to_string()
    } else {
        format!("{} {}", s.series.service, s.series.name)
    };
    format!("{} {} on {on} ({})", s.signal, fmt_num(s.value), s.detector)
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.3}") }
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms, for incident ids.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The hold before resolving an incident of `duration`: see [`IncidentConfig`].
pub fn resolve_hold(config: &IncidentConfig, duration: DurationMs) -> DurationMs {
    let min = i64::from(config.resolve_min_windows) * config.window.0;
    DurationMs(min.max(((duration.0 as f64 * config.resolve_duration_factor) as i64).min(config.resolve_max.0)))
}

#[cfg(test)]
pub(crate) mod tests;
