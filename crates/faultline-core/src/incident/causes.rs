//! Probable causes: evaluating the rule catalog (data, loadable from TOML) against an incident.

use serde::{Deserialize, Deserializer};

use super::model::{ChangeRecord, Incident, ProbableCause, SignalDirection};
use crate::event::ChangeKind;
use crate::series::SeriesKind;
use crate::time::DurationMs;

/// The rule catalog: one rule per cause. [`CauseCatalog::default`] is the built-in catalog;
/// the config layer may load another from TOML (`[[incidents.causes]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CauseCatalog {
    /// The rules, in tie-break order.
    pub rules: Vec<CauseRule>,
    /// Causes under this confidence are not reported.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f64,
}

/// One cause: weighted conditions, and what to do about it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CauseRule {
    /// Cause name, e.g. `db_pool_exhausted`.
    pub cause: String,
    /// Conditions; confidence is the share of their weight that holds.
    pub when: Vec<Term>,
    /// Runbook steps; `{change_id}`, `{service}` and `{dependency}` are filled in.
    #[serde(default)]
    pub runbook: Vec<String>,
}

/// A weighted condition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Term {
    /// What must hold.
    #[serde(flatten)]
    pub condition: Condition,
    /// Its weight (default 1).
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// If it does not hold, the rule does not apply at all.
    #[serde(default)]
    pub required: bool,
}

/// A condition over the incident's signals, changes and dependencies.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
pub enum Condition {
    /// The signal's peak over the services in scope reached `level`.
    SignalAbove {
        /// Signal name.
        signal: String,
        /// Level.
        level: f64,
        /// Only services whose name contains this (e.g. `db`).
        #[serde(default)]
        service_contains: Option<String>,
    },
    /// The signal's peak stayed under `level` (or the signal is absent).
    SignalBelow {
        /// Signal name.
        signal: String,
        /// Level.
        level: f64,
    },
    /// A detector found the signal anomalous in this incident.
    Anomalous {
        /// Signal name.
        signal: String,
        /// Which way, if it matters.
        #[serde(default)]
        direction: Option<SignalDirection>,
        /// Detector name, if it matters (`trend`…).
        #[serde(default)]
        detector: Option<String>,
        /// Series kind, if it matters (`dependency` for outbound calls).
        #[serde(default)]
        series_kind: Option<SeriesKind>,
    },
    /// No detector found the signal anomalous in this incident.
    NotAnomalous {
        /// Signal name.
        signal: String,
    },
    /// A change of `kind` on a service in scope, at most `within` before onset (or after it).
    ChangeBefore {
        /// Deploy, config or rollback.
        change: ChangeKind,
        /// How long before onset still counts, e.g. "15m".
        #[serde(deserialize_with = "duration_text")]
        within: DurationMs,
    },
    /// At least `min_share` of the errors are on calls to one dependency.
    DependencyErrorShare {
        /// Share, 0–1.
        min_share: f64,
    },
}

fn default_weight() -> f64 {
    1.0
}

fn default_min_confidence() -> f64 {
    0.3
}

fn duration_text<'de, D: Deserializer<'de>>(d: D) -> Result<DurationMs, D::Error> {
    let text = String::deserialize(d)?;
    DurationMs::parse(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a duration such as \"15m\"")))
}

/// What a cause rule may look at besides the incident.
#[derive(Debug, Clone, Copy)]
pub struct CauseContext<'a> {
    /// Changes seen on the services in scope, oldest first.
    pub changes: &'a [ChangeRecord],
}

/// What held for one rule: its confidence, evidence text and the change it names.
#[derive(Debug, Clone, PartialEq)]
struct RuleOutcome {
    confidence: f64,
    evidence: Vec<String>,
    change_id: Option<String>,
    dependency: Option<String>,
}

impl CauseCatalog {
    /// Ranks the causes of `incident`, best first, with the runbook of the top one.
    pub fn evaluate(&self, incident: &Incident, ctx: CauseContext<'_>) -> (Vec<ProbableCause>, Vec<String>) {
        let mut ranked: Vec<(usize, RuleOutcome)> = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| rule.evaluate(incident, ctx).map(|o| (i, o)))
            .filter(|(_, o)| o.confidence >= self.min_confidence)
            .collect();
        ranked.sort_by(|a, b| b.1.confidence.total_cmp(&a.1.confidence).then(a.0.cmp(&b.0)));
        let runbook = ranked.first().map_or_else(Vec::new, |(i, o)| {
            self.rules[*i]
                .runbook
                .iter()
                .map(|step| {
                    step.replace("{change_id}", o.change_id.as_deref().unwrap_or("the last change"))
                        .replace("{service}", &incident.service)
                        .replace("{dependency}", o.dependency.as_deref().unwrap_or("the dependency"))
                })
                .collect()
        });
        let causes = ranked
            .into_iter()
            .map(|(i, o)| ProbableCause {
                cause: self.rules[i].cause.clone(),
                confidence: o.confidence,
                evidence: o.evidence.join("; "),
            })
            .collect();
        (causes, runbook)
    }
}

impl CauseRule {
    fn evaluate(&self, incident: &Incident, ctx: CauseContext<'_>) -> Option<RuleOutcome> {
        let total: f64 = self.when.iter().map(|t| t.weight).sum();
        if total <= 0.0 {
            return None;
        }
        let mut out = RuleOutcome { confidence: 0.0, evidence: Vec::new(), change_id: None, dependency: None };
        let mut held = 0.0;
        for term in &self.when {
            match term.condition.check(incident, ctx, &mut out) {
                Some(evidence) => {
                    held += term.weight;
                    if !evidence.is_empty() {
                        out.evidence.push(evidence);
                    }
                }
                None if term.required => return None,
                None => {}
            }
        }
        out.confidence = held / total;
        Some(out)
    }
}

impl Condition {
    /// `Some(evidence)` when the condition holds (evidence may be empty).
    fn check(&self, incident: &Incident, ctx: CauseContext<'_>, out: &mut RuleOutcome) -> Option<String> {
        match self {
            Condition::SignalAbove { signal, level, service_contains } => {
                let (service, peak) = incident.peak(signal, service_contains.as_deref())?;
                (peak >= *level).then(|| {
                    format!("{signal} on {service} peaked at {} (limit {})", fmt_value(peak), fmt_value(*level))
                })
            }
            Condition::SignalBelow { signal, level } => match incident.peak(signal, None) {
                Some((_, peak)) if peak >= *level => None,
                Some((_, peak)) => Some(format!("{signal} normal ({})", fmt_value(peak))),
                None => Some(String::new()),
            },
            Condition::Anomalous { signal, direction, detector, series_kind } => {
                let s = incident.signals.iter().find(|s| {
                    &s.signal == signal
                        && direction.is_none_or(|d| d == s.direction)
                        && detector.as_ref().is_none_or(|d| *d == s.detector)
                        && series_kind.is_none_or(|k| k == s.series.kind)
                })?;
                let against = match (s.baseline, s.threshold) {
                    (Some(b), _) => format!(" vs baseline {}", fmt_value(b)),
                    (None, Some(t)) => format!(" vs threshold {}", fmt_value(t)),
                    (None, None) => String::new(),
                };
                let whom = if s.series.kind == SeriesKind::Dependency {
                    format!("{} calls to {}", s.series.service, s.series.name)
                } else {
                    s.series.service.to_string()
                };
                Some(format!("{signal} {} on {whom}{against}", fmt_value(s.worst)))
            }
            Condition::NotAnomalous { signal } => {
                (!incident.signals.iter().any(|s| &s.signal == signal)).then(|| format!("{signal} normal"))
            }
            Condition::ChangeBefore { change, within } => {
                let c = ctx
                    .changes
                    .iter()
                    .rev()
                    .filter(|c| c.kind == *change && incident.covers(&c.service))
                    .find(|c| c.at >= incident.onset_at.minus(*within) && c.at <= incident.last_abnormal_at)?;
                out.change_id = Some(c.id.clone());
                let mins = (incident.onset_at.0 - c.at.0) as f64 / 60_000.0;
                let when = if mins >= 0.0 {
                    format!("{mins:.1} min before onset")
                } else {
                    format!("{:.1} min after onset", -mins)
                };
                let text = if c.text.is_empty() { String::new() } else { format!(" ({})", c.text) };
                Some(format!("{} {} on {} {when}{text}", change.as_str(), c.id, c.service))
            }
            Condition::DependencyErrorShare { min_share } => {
                let (_, dep, share) =
                    incident.concentrations(*min_share).into_iter().find(|(k, _, _)| k == "dependency")?;
                let text = format!("{:.0}% of errors on calls to {dep}", share * 100.0);
                out.dependency = Some(dep);
                Some(text)
            }
        }
    }
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.3}") }
}

impl Default for CauseCatalog {
    /// The built-in catalog, from the team's runbooks.
    fn default() -> Self {
        toml_free_default()
    }
}

fn anomalous(signal: &str, weight: f64, required: bool) -> Term {
    moved(signal, SignalDirection::Up, weight, required)
}

/// `signal` anomalous in `direction`, by any detector on any series.
fn moved(signal: &str, direction: SignalDirection, weight: f64, required: bool) -> Term {
    let condition =
        Condition::Anomalous { signal: signal.into(), direction: Some(direction), detector: None, series_kind: None };
    term(condition, weight, required)
}

fn term(condition: Condition, weight: f64, required: bool) -> Term {
    Term { condition, weight, required }
}

fn steps(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

/// The built-in rules, written out as data (the same shape a TOML catalog has).
fn toml_free_default() -> CauseCatalog {
    let above =
        |signal: &str, level: f64| Condition::SignalAbove { signal: signal.into(), level, service_contains: None };
    let db_above = |signal: &str, level: f64| Condition::SignalAbove {
        signal: signal.into(),
        level,
        service_contains: Some("db".into()),
    };
    let below = |signal: &str, level: f64| Condition::SignalBelow { signal: signal.into(), level };
    let change = |change: ChangeKind| Condition::ChangeBefore { change, within: DurationMs(15 * 60_000) };
    let rules = vec![
        CauseRule {
            cause: "bad_deployment".into(),
            when: vec![
                term(change(ChangeKind::Deploy), 3.0, true),
                anomalous("error_rate", 1.0, false),
                anomalous("latency_p95", 1.0, false),
            ],
            runbook: steps(&[
                "Roll back {service} to the version before {change_id}",
                "Compare error signatures and latency before and after {change_id}",
                "Hold further deploys of {service} until the regression is understood",
            ]),
        },
        CauseRule {
            cause: "misconfiguration".into(),
            when: vec![
                term(change(ChangeKind::Config), 3.0, true),
                anomalous("txn_failure_rate", 1.0, false),
                term(below("pool_saturation", 0.8), 0.5, false),
                term(Condition::NotAnomalous { signal: "latency_p95".into() }, 0.5, false),
            ],
            runbook: steps(&[
                "Revert config change {change_id} on {service}",
                "Diff the configuration before and after {change_id}",
                "Check which share of transactions fail and on which path (DB and network may look fine)",
            ]),
        },
        CauseRule {
            cause: "payment_provider_outage".into(),
            when: vec![
                term(Condition::DependencyErrorShare { min_share: 0.5 }, 3.0, true),
                anomalous("txn_failure_rate", 1.0, false),
                moved("txn_volume", SignalDirection::Down, 1.0, false),
            ],
            runbook: steps(&[
                "Check {dependency} status page and connectivity from {service}",
                "Fail over to the secondary payment provider if one is configured",
                "Queue or retry failed payments; tell customer support",
            ]),
        },
        CauseRule {
            cause: "db_pool_exhausted".into(),
            when: vec![
                term(above("pool_saturation", 0.9), 3.0, true),
                anomalous("error_rate", 1.0, false),
                anomalous("latency_p95", 1.0, false),
            ],
            runbook: steps(&[
                "Check DB connection pool usage and long-held connections on {service}",
                "Scale out the application or raise the pool size if the database has headroom",
                "Shed or rate-limit non-critical traffic until the pool recovers",
            ]),
        },
        CauseRule {
            cause: "memory_leak".into(),
            when: vec![
                moved("memory", SignalDirection::Up, 2.0, true),
                term(above("memory", 0.85), 1.0, false),
                anomalous("error_rate", 1.0, false),
            ],
            runbook: steps(&[
                "Check memory growth and restarts (OOM kills) of {service} instances",
                "Restart the worst instances to buy time; roll back if the growth started with a deploy",
                "Take a heap profile before the next restart",
            ]),
        },
        CauseRule {
            cause: "slow_db_queries".into(),
            when: vec![
                anomalous("latency_p95", 2.0, true),
                term(db_above("cpu", 0.8), 2.0, true),
                term(below("pool_saturation", 0.9), 1.0, false),
                term(Condition::NotAnomalous { signal: "memory".into() }, 0.5, false),
            ],
            runbook: steps(&[
                "Check the database's slow query log and CPU",
                "Look for missing indexes or plan changes on the slowest queries",
                "Kill runaway queries; add timeouts where they are missing",
            ]),
        },
        CauseRule {
            cause: "silent_transaction_loss".into(),
            when: vec![
                moved("txn_volume", SignalDirection::Down, 3.0, true),
                term(Condition::NotAnomalous { signal: "error_rate".into() }, 1.0, false),
                term(Condition::NotAnomalous { signal: "txn_failure_rate".into() }, 1.0, false),
                term(Condition::NotAnomalous { signal: "latency_p95".into() }, 1.0, false),
            ],
            runbook: steps(&[
                "Find where {service}'s missing transactions stop: a client or app release, a payment method switched off, a routing or DNS change upstream",
                "Compare request volume per operation and region with the same hour last week",
                "Place a test transaction end to end",
            ]),
        },
    ];
    CauseCatalog { rules, min_confidence: default_min_confidence() }
}
