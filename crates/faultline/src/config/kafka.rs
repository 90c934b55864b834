//! Kafka client settings shared by the `kafka` source and sink: brokers, librdkafka settings, secrets from env.
//!
//! `brokers` defaults to `$KAFKA_BROKERS`, then `127.0.0.1:9092`. Extra librdkafka
//! settings go in `librdkafka` (security.protocol, sasl.mechanism, ssl.ca.location,
//! session.timeout.ms…); a secret never sits in the file: `librdkafka_env` names the
//! variable each secret setting is read from (`"sasl.password" = "KAFKA_PASSWORD"`).
//! Every setting is checked by librdkafka itself at load, so a typo fails
//! `check-config` with librdkafka's own message.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::sensitive::Sensitive;
use super::validate::Checker;

/// The brokers when neither `brokers` nor `$KAFKA_BROKERS` says.
pub(crate) const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

/// A librdkafka setting as TOML writes it: text, a number or a boolean.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum RawSetting {
    /// Text.
    Text(String),
    /// A number.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl RawSetting {
    fn text(&self) -> String {
        match self {
            RawSetting::Text(s) => s.clone(),
            RawSetting::Int(n) => n.to_string(),
            RawSetting::Bool(b) => b.to_string(),
        }
    }
}

/// Settings Faultline sets itself: configured through its own keys, or not at all.
const OWN_SETTINGS: &[(&str, &str)] = &[
    ("bootstrap.servers", "use `brokers`"),
    ("metadata.broker.list", "use `brokers`"),
    ("group.id", "use `group`"),
    ("enable.auto.commit", "offsets live in the checkpoint; the group's are committed after it"),
    ("enable.auto.offset.store", "offsets live in the checkpoint"),
    ("auto.offset.reset", "use `start`"),
    ("enable.idempotence", "the sink is always idempotent"),
];

/// Whether a librdkafka setting holds a secret (and so is read from the environment only).
fn is_secret(key: &str) -> bool {
    key.contains("password") || key.contains("secret") || key == "ssl.key.pem" || key == "sasl.oauthbearer.config"
}

/// A Kafka client's connection: brokers and librdkafka settings, secrets included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KafkaClientSpec {
    /// `bootstrap.servers`.
    pub(crate) brokers: String,
    /// Settings from the file.
    pub(crate) settings: Vec<(String, String)>,
    /// Settings from the environment (secrets).
    pub(crate) secrets: Vec<(String, Sensitive<String>)>,
}

impl KafkaClientSpec {
    /// Every setting, secrets included, for the client.
    pub(crate) fn all(&self) -> Vec<(String, String)> {
        let mut all = self.settings.clone();
        all.extend(self.secrets.iter().map(|(k, v)| (k.clone(), v.expose().clone())));
        all
    }
}

/// Checks a section's client keys (`prefix` is `sources.NAME` or `sinks.NAME`).
pub(crate) fn client(
    prefix: &str,
    brokers: Option<&str>,
    librdkafka: Option<&BTreeMap<String, RawSetting>>,
    librdkafka_env: Option<&BTreeMap<String, String>>,
    env: &dyn Fn(&str) -> Option<String>,
    c: &mut Checker<'_>,
) -> Option<KafkaClientSpec> {
    let mut ok = true;
    let brokers = match brokers {
        Some(b) => b.to_string(),
        None => env("KAFKA_BROKERS").filter(|b| !b.trim().is_empty()).unwrap_or_else(|| DEFAULT_BROKERS.to_string()),
    };
    if brokers.trim().is_empty() {
        c.error(&format!("{prefix}.brokers"), "no broker: give host:port[,host:port…]".into());
        ok = false;
    }
    let mut settings = Vec::new();
    for (key, value) in librdkafka.into_iter().flatten() {
        let path = format!("{prefix}.librdkafka.\"{key}\"");
        if let Some((_, why)) = OWN_SETTINGS.iter().find(|(k, _)| k == key) {
            c.error(&path, format!("set by Faultline: {why}"));
            ok = false;
        } else if is_secret(key) {
            c.error(
                &path,
                format!("a secret: name the variable that holds it instead (librdkafka_env.\"{key}\" = \"VAR\")"),
            );
            ok = false;
        } else {
            settings.push((key.clone(), value.text()));
        }
    }
    let mut secrets = Vec::new();
    for (key, var) in librdkafka_env.into_iter().flatten() {
        let path = format!("{prefix}.librdkafka_env.\"{key}\"");
        if let Some((_, why)) = OWN_SETTINGS.iter().find(|(k, _)| k == key) {
            c.error(&path, format!("set by Faultline: {why}"));
            ok = false;
            continue;
        }
        match env(var) {
            Some(v) => secrets.push((key.clone(), Sensitive::new(v))),
            None => {
                c.error(&path, format!("{var} is not set"));
                ok = false;
            }
        }
    }
    // librdkafka checks names and values itself (a typo, a bad enum value).
    for (key, value) in &settings {
        if let Err(e) = rdkafka::ClientConfig::new().set(key, value).create_native_config() {
            c.error(&format!("{prefix}.librdkafka.\"{key}\""), librdkafka_message(&e));
            ok = false;
        }
    }
    for (key, value) in &secrets {
        // The value is a secret: librdkafka's message (which may quote it) is not repeated.
        if rdkafka::ClientConfig::new().set(key, value.expose()).create_native_config().is_err() {
            c.error(
                &format!("{prefix}.librdkafka_env.\"{key}\""),
                format!("librdkafka does not take `{key}` with this value"),
            );
            ok = false;
        }
    }
    ok.then_some(KafkaClientSpec { brokers, settings, secrets })
}

/// librdkafka's own words for a refused setting.
fn librdkafka_message(e: &rdkafka::error::KafkaError) -> String {
    match e {
        rdkafka::error::KafkaError::ClientConfig(_, message, _, _) => format!("librdkafka: {message}"),
        other => format!("librdkafka: {other}"),
    }
}
