//! `[sinks.NAME]`: line sinks (stdout, file) and delivery sinks (PagerDuty, Slack, webhook) with their secrets from the environment.
//!
//! Secrets never sit in the file: a delivery sink names the environment
//! variables that hold its routing keys, webhook URL or signing secret
//! (`*_env` keys), read once at load into [`Sensitive`] values. A PagerDuty
//! sink whose variables are all unset is off (said at start), so a shipped
//! pipeline can carry one for whoever sets the key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::sensitive::Sensitive;
use super::validate::Checker;
use super::{Emit, SinkKind, SinkSpec};

/// `[sinks.NAME]`, as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawSink {
    /// `stdout`, `file`, `pagerduty`, `slack` or `webhook`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// File to append to (file sinks).
    pub(crate) path: Option<String>,
    /// `"incidents"` (default) or `"signals"` (line sinks only).
    #[serde(default)]
    pub(crate) emit: Option<String>,
    /// pagerduty, webhook: where to post (pagerduty default: PagerDuty's enqueue endpoint).
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// pagerduty: the variable that overrides `url` when set (default `PAGERDUTY_EVENTS_URL`);
    /// slack: the variable holding the incoming webhook URL (default `SLACK_WEBHOOK_URL`).
    #[serde(default)]
    pub(crate) url_env: Option<String>,
    /// pagerduty: the variable holding the routing key of incidents no rule names (default `PAGERDUTY_ROUTING_KEY`).
    #[serde(default)]
    pub(crate) routing_key_env: Option<String>,
    /// pagerduty: per service, the variable holding its routing key.
    #[serde(default)]
    pub(crate) service_routing_keys_env: Option<BTreeMap<String, String>>,
    /// pagerduty: per severity (P0…P3), the variable holding its routing key.
    #[serde(default)]
    pub(crate) severity_routing_keys_env: Option<BTreeMap<String, String>>,
    /// pagerduty: PagerDuty severity per Faultline severity (default P0 critical, P1 error, P2 warning, P3 info).
    #[serde(default)]
    pub(crate) severity_map: Option<BTreeMap<String, String>>,
    /// pagerduty: events a minute per routing key, at most (default 100; PagerDuty allows about 120).
    #[serde(default)]
    pub(crate) rate_per_minute: Option<u32>,
    /// delivery sinks: one attempt's timeout (default "10s").
    #[serde(default)]
    pub(crate) timeout: Option<String>,
    /// webhook: the variable holding the HMAC-SHA256 signing secret.
    #[serde(default)]
    pub(crate) secret_env: Option<String>,
    /// webhook: extra headers (values may name a variable as `env:NAME`).
    #[serde(default)]
    pub(crate) headers: Option<BTreeMap<String, String>>,
    /// file: rotate the file once it is past this many bytes (at a checkpoint, whole lines).
    #[serde(default)]
    pub(crate) max_bytes: Option<u64>,
    /// file: rotated files kept (`path.1` … `path.N`, default 5).
    #[serde(default)]
    pub(crate) max_files: Option<u32>,
    /// alertmanager: how often firing (and recently resolved) alerts are posted again (default "60s").
    #[serde(default)]
    pub(crate) refresh: Option<String>,
    /// kafka: `host:port[,host:port…]` (default `$KAFKA_BROKERS`, then 127.0.0.1:9092).
    #[serde(default)]
    pub(crate) brokers: Option<String>,
    /// kafka: the topic incident events go to.
    #[serde(default)]
    pub(crate) topic: Option<String>,
    /// kafka: extra librdkafka settings (no secrets).
    #[serde(default)]
    pub(crate) librdkafka: Option<BTreeMap<String, super::kafka::RawSetting>>,
    /// kafka: librdkafka settings read from environment variables (secrets), setting → variable.
    #[serde(default)]
    pub(crate) librdkafka_env: Option<BTreeMap<String, String>>,
    /// delivery sinks: only incidents of these services (default all).
    #[serde(default)]
    pub(crate) services: Option<Vec<String>>,
    /// delivery sinks: only incidents of these severities (default all).
    #[serde(default)]
    pub(crate) severities: Option<Vec<String>>,
}

/// A PagerDuty sink's settings, its keys read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PagerDutySpec {
    /// The enqueue URL.
    pub(crate) url: String,
    /// The routing key of incidents no rule names.
    pub(crate) default_key: Option<Sensitive<String>>,
    /// Routing keys per service.
    pub(crate) by_service: BTreeMap<String, Sensitive<String>>,
    /// Routing keys per severity.
    pub(crate) by_severity: BTreeMap<String, Sensitive<String>>,
    /// PagerDuty severity per Faultline severity.
    pub(crate) severities: BTreeMap<String, String>,
    /// Events a minute per key.
    pub(crate) per_minute: u32,
}

/// Settings every delivery sink has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliverySpec {
    /// One attempt's timeout.
    pub(crate) timeout: Duration,
    /// Only these services (empty: all).
    pub(crate) services: Vec<String>,
    /// Only these severities (empty: all).
    pub(crate) severities: Vec<String>,
    /// Attempts a minute at most (Slack: 60 unless set).
    pub(crate) per_minute: Option<u32>,
}

const LINE_KEYS: &[&str] = &["path", "emit", "max_bytes", "max_files"];
const SEVERITY_NAMES: &[&str] = &["P0", "P1", "P2", "P3"];
const SINK_TYPES: &[&str] = &["stdout", "file", "pagerduty", "slack", "webhook", "alertmanager", "kafka"];

impl RawSink {
    fn keys_set(&self) -> Vec<&'static str> {
        [
            ("path", self.path.is_some()),
            ("emit", self.emit.is_some()),
            ("url", self.url.is_some()),
            ("url_env", self.url_env.is_some()),
            ("routing_key_env", self.routing_key_env.is_some()),
            ("service_routing_keys_env", self.service_routing_keys_env.is_some()),
            ("severity_routing_keys_env", self.severity_routing_keys_env.is_some()),
            ("severity_map", self.severity_map.is_some()),
            ("rate_per_minute", self.rate_per_minute.is_some()),
            ("timeout", self.timeout.is_some()),
            ("secret_env", self.secret_env.is_some()),
            ("headers", self.headers.is_some()),
            ("refresh", self.refresh.is_some()),
            ("max_bytes", self.max_bytes.is_some()),
            ("max_files", self.max_files.is_some()),
            ("services", self.services.is_some()),
            ("severities", self.severities.is_some()),
            ("brokers", self.brokers.is_some()),
            ("topic", self.topic.is_some()),
            ("librdkafka", self.librdkafka.is_some()),
            ("librdkafka_env", self.librdkafka_env.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
    }
}

/// Validates every sink; `env` reads the environment.
pub(crate) fn sinks(
    raw: &BTreeMap<String, RawSink>,
    has_state: bool,
    env: &dyn Fn(&str) -> Option<String>,
    c: &mut Checker<'_>,
) -> Vec<SinkSpec> {
    let mut out = Vec::new();
    for (name, s) in raw {
        let path = |key: &str| format!("sinks.{name}.{key}");
        let allowed: &[&str] = match s.kind.as_str() {
            "stdout" => &["emit"],
            "file" => LINE_KEYS,
            "pagerduty" => &[
                "url",
                "url_env",
                "routing_key_env",
                "service_routing_keys_env",
                "severity_routing_keys_env",
                "severity_map",
                "rate_per_minute",
                "timeout",
                "services",
                "severities",
            ],
            "slack" => &["url_env", "timeout", "services", "severities", "rate_per_minute"],
            "webhook" => &["url", "secret_env", "headers", "timeout", "services", "severities", "rate_per_minute"],
            "alertmanager" => &["url", "refresh", "timeout", "services", "severities", "rate_per_minute"],
            "kafka" => &[
                "brokers",
                "topic",
                "librdkafka",
                "librdkafka_env",
                "timeout",
                "services",
                "severities",
                "rate_per_minute",
            ],
            other => {
                c.error(&path("type"), format!("unknown sink type `{other}` (known: {})", SINK_TYPES.join(", ")));
                continue;
            }
        };
        for key in s.keys_set().into_iter().filter(|k| !allowed.contains(k)) {
            c.error(&path(key), format!("is not a key of a {} sink (its keys: {})", s.kind, allowed.join(", ")));
        }
        let emit = match s.emit.as_deref() {
            None | Some("incidents") => Some(Emit::Incidents),
            Some("signals") => Some(Emit::Signals),
            Some(other) => {
                c.error(&path("emit"), format!("`{other}` is not one of: incidents, signals"));
                None
            }
        };
        let delivery = matches!(s.kind.as_str(), "pagerduty" | "slack" | "webhook" | "alertmanager" | "kafka");
        if delivery && !has_state {
            c.error(
                &format!("sinks.{name}"),
                format!("a {} sink delivers through the outbox under [state] directory: set one", s.kind),
            );
            continue;
        }
        let d = delivery.then(|| delivery_spec(name, s, c));
        let kind = match s.kind.as_str() {
            "stdout" => Some(SinkKind::Stdout),
            "file" => match &s.path {
                Some(p) => Some(SinkKind::File(PathBuf::from(p))),
                None => {
                    c.error(&format!("sinks.{name}"), "a file sink needs `path`".into());
                    None
                }
            },
            "pagerduty" => pagerduty(name, s, env, c).map(|p| match p {
                Some(p) => SinkKind::PagerDuty(p, d.clone().unwrap_or_else(default_delivery)),
                None => SinkKind::Off(format!(
                    "no routing key: {} is not set",
                    s.routing_key_env.as_deref().unwrap_or(DEFAULT_KEY_ENV)
                )),
            }),
            "slack" => {
                let var = s.url_env.as_deref().unwrap_or("SLACK_WEBHOOK_URL");
                match env(var) {
                    Some(url) if !url.is_empty() => {
                        Some(SinkKind::Slack(Sensitive::new(url), d.clone().unwrap_or_else(default_delivery)))
                    }
                    _ => Some(SinkKind::Off(format!("no webhook URL: {var} is not set"))),
                }
            }
            "kafka" => {
                let client = super::kafka::client(
                    &format!("sinks.{name}"),
                    s.brokers.as_deref(),
                    s.librdkafka.as_ref(),
                    s.librdkafka_env.as_ref(),
                    env,
                    c,
                );
                let topic = s.topic.clone();
                if topic.is_none() {
                    c.error(&format!("sinks.{name}"), "a kafka sink needs `topic`".into());
                }
                client.zip(topic).map(|(client, topic)| SinkKind::Kafka {
                    client,
                    topic,
                    delivery: d.clone().unwrap_or_else(default_delivery),
                })
            }
            "alertmanager" => {
                let refresh = c.duration(&path("refresh"), s.refresh.as_deref().unwrap_or("60s"));
                if refresh.0 < 1000 {
                    c.error(&path("refresh"), "at least 1s".into());
                }
                match &s.url {
                    Some(url) => Some(SinkKind::Alertmanager {
                        url: url.clone(),
                        refresh: Duration::from_millis(refresh.0.max(1000).unsigned_abs()),
                        delivery: d.clone().unwrap_or_else(default_delivery),
                    }),
                    None => {
                        c.error(&format!("sinks.{name}"), "an alertmanager sink needs `url` (http://host:9093)".into());
                        None
                    }
                }
            }
            _ => {
                let url = s.url.clone();
                if url.is_none() {
                    c.error(&format!("sinks.{name}"), "a webhook sink needs `url`".into());
                }
                let secret = match &s.secret_env {
                    Some(var) => match env(var) {
                        Some(v) if !v.is_empty() => Some(Sensitive::new(v)),
                        _ => {
                            c.error(&path("secret_env"), format!("{var} is not set: the webhook would go unsigned"));
                            None
                        }
                    },
                    None => None,
                };
                let mut headers = Vec::new();
                for (k, v) in s.headers.clone().unwrap_or_default() {
                    match v.strip_prefix("env:") {
                        Some(var) => match env(var) {
                            Some(val) => headers.push((k, Sensitive::new(val))),
                            None => c.error(&format!("sinks.{name}.headers.{k}"), format!("{var} is not set")),
                        },
                        None => headers.push((k, Sensitive::new(v))),
                    }
                }
                url.map(|url| SinkKind::Webhook {
                    url,
                    secret,
                    headers,
                    delivery: d.clone().unwrap_or_else(default_delivery),
                })
            }
        };
        let rotate = match (s.max_bytes, s.max_files) {
            (None, None) => None,
            (Some(b), _) if b < 4096 => {
                c.error(&path("max_bytes"), format!("at least 4096, not {b}"));
                None
            }
            (_, Some(0)) => {
                c.error(&path("max_files"), "keep at least 1 rotated file".into());
                None
            }
            (None, Some(_)) => {
                c.error(&path("max_files"), "rotation needs `max_bytes`".into());
                None
            }
            (Some(b), n) => Some((b, n.unwrap_or(5).min(1000))),
        };
        if let (Some(kind), Some(emit)) = (kind, emit) {
            let spec = SinkSpec { name: name.clone(), kind, emit, rotate };
            if spec.through_outbox(has_state) && !valid_name(name) {
                c.error(
                    &format!("sinks.{name}"),
                    "a sink behind the outbox is named with letters, digits, - and _ only".into(),
                );
                continue;
            }
            out.push(spec);
        }
    }
    out
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn default_delivery() -> DeliverySpec {
    DeliverySpec { timeout: Duration::from_secs(10), services: Vec::new(), severities: Vec::new(), per_minute: None }
}

fn delivery_spec(name: &str, s: &RawSink, c: &mut Checker<'_>) -> DeliverySpec {
    let timeout = c.duration(&format!("sinks.{name}.timeout"), s.timeout.as_deref().unwrap_or("10s"));
    let severities = s.severities.clone().unwrap_or_default();
    for sev in &severities {
        if !SEVERITY_NAMES.contains(&sev.as_str()) {
            c.error(&format!("sinks.{name}.severities"), format!("`{sev}` is not one of: P0, P1, P2, P3"));
        }
    }
    let per_minute = match (s.kind.as_str(), s.rate_per_minute) {
        // PagerDuty's limit is per routing key, in its receiver.
        ("pagerduty", _) => None,
        (_, Some(n)) if (1..=6000).contains(&n) => Some(n),
        (_, Some(n)) => {
            c.error(&format!("sinks.{name}.rate_per_minute"), format!("must be between 1 and 6000, not {n}"));
            None
        }
        // Slack's incoming webhooks take about one message a second.
        ("slack", None) => Some(60),
        (_, None) => None,
    };
    DeliverySpec {
        timeout: Duration::from_millis(timeout.0.max(1).unsigned_abs()),
        services: s.services.clone().unwrap_or_default(),
        severities,
        per_minute,
    }
}

/// The default routing key's variable.
const DEFAULT_KEY_ENV: &str = "PAGERDUTY_ROUTING_KEY";

/// A PagerDuty sink's spec; `Some(None)` when no key variable is set (the sink is off).
fn pagerduty(
    name: &str,
    s: &RawSink,
    env: &dyn Fn(&str) -> Option<String>,
    c: &mut Checker<'_>,
) -> Option<Option<PagerDutySpec>> {
    let path = |key: &str| format!("sinks.{name}.{key}");
    let read = |var: &str| env(var).filter(|v| !v.is_empty()).map(Sensitive::new);
    let default_key = read(s.routing_key_env.as_deref().unwrap_or(DEFAULT_KEY_ENV));
    let by_service: BTreeMap<String, Sensitive<String>> = s
        .service_routing_keys_env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(svc, var)| read(&var).map(|k| (svc, k)))
        .collect();
    let mut by_severity = BTreeMap::new();
    for (sev, var) in s.severity_routing_keys_env.clone().unwrap_or_default() {
        if !SEVERITY_NAMES.contains(&sev.as_str()) {
            c.error(&path("severity_routing_keys_env"), format!("`{sev}` is not one of: P0, P1, P2, P3"));
            continue;
        }
        if let Some(k) = read(&var) {
            by_severity.insert(sev, k);
        }
    }
    let mut severities = faultline_sinks::pagerduty::default_severities();
    for (sev, pd) in s.severity_map.clone().unwrap_or_default() {
        if !SEVERITY_NAMES.contains(&sev.as_str()) {
            c.error(&path("severity_map"), format!("`{sev}` is not one of: P0, P1, P2, P3"));
        } else if !faultline_sinks::pagerduty::SEVERITIES.contains(&pd.as_str()) {
            c.error(
                &format!("sinks.{name}.severity_map.{sev}"),
                format!("`{pd}` is not a PagerDuty severity ({})", faultline_sinks::pagerduty::SEVERITIES.join(", ")),
            );
        } else {
            severities.insert(sev, pd);
        }
    }
    let per_minute = match s.rate_per_minute {
        None => 100,
        Some(n) if (1..=6000).contains(&n) => n,
        Some(n) => {
            c.error(&path("rate_per_minute"), format!("must be between 1 and 6000, not {n}"));
            100
        }
    };
    let url = env(s.url_env.as_deref().unwrap_or("PAGERDUTY_EVENTS_URL"))
        .filter(|u| !u.is_empty())
        .or_else(|| s.url.clone())
        .unwrap_or_else(|| faultline_sinks::pagerduty::EVENTS_URL.to_string());
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        c.error(&path("url"), format!("`{url}` is not an http(s) URL"));
        return None;
    }
    if default_key.is_none() && by_service.is_empty() && by_severity.is_empty() {
        return Some(None);
    }
    Some(Some(PagerDutySpec { url, default_key, by_service, by_severity, severities, per_minute }))
}
