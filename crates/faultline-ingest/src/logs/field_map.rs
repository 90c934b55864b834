//! Which keys of a JSON or logfmt log line feed which event field: the mapping, its defaults, its lookup.
//!
//! `[sources.NAME.fields]` maps an event field to the keys it is read from,
//! best first (`latency = ["duration_ms", "elapsed_ms"]`): when a line has
//! several of them, the first listed wins, wherever it stands in the line.
//! A field named there replaces that field's defaults; an empty list turns
//! the field off; fields not named keep their defaults:
//!
//! | field       | default keys                                           |
//! |-------------|--------------------------------------------------------|
//! | `ts`        | `ts`, `time`, `timestamp`, `@timestamp`                |
//! | `service`   | `service`, `service.name`, `app`                       |
//! | `kind`      | none (the kind is inferred)                            |
//! | `operation` | `route`, `http.route`, `operation`                     |
//! | `status`    | `status`, `http.status_code`, `http.response.status_code` |
//! | `latency`   | `latency_ms`, `duration_ms`                            |
//! | `error`     | `error`                                                |
//! | `level`     | `level`, `severity`, `lvl`, `log.level`                |
//! | `peer`      | `peer`, `peer.service`                                 |
//! | `outcome`   | `outcome`, `transaction.outcome`                       |
//! | `amount`    | `amount`, `transaction.amount`                         |
//! | `change`    | `change`, `change.kind`                                |
//! | `change_id` | `change_id`, `change.id`                               |
//! | `text`      | `msg`, `message`                                       |
//!
//! In JSON a dotted key is also a path into nested objects: `http.route`
//! matches `{"http":{"route":…}}` as well as a top-level `"http.route"`. In
//! logfmt keys are flat and a dotted key is literal.

use std::collections::BTreeMap;

use super::FormatError;

/// An event field a JSON or logfmt log line may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MappedField {
    /// The event time: epoch number or RFC 3339 text.
    Ts,
    /// The service.
    Service,
    /// The record kind (`request`, `transaction`, `change`); inferred when absent.
    Kind,
    /// A request's operation.
    Operation,
    /// A request's HTTP status.
    Status,
    /// A request's latency, in the source's `latency_unit`.
    Latency,
    /// An explicit error flag.
    Error,
    /// The log level: error or worse makes the line an error.
    Level,
    /// The dependency a request called.
    Peer,
    /// A transaction's outcome.
    Outcome,
    /// A transaction's amount.
    Amount,
    /// A change's kind (deploy, config, rollback).
    Change,
    /// A change's id.
    ChangeId,
    /// The message: a change's text.
    Text,
}

/// Per event field, the keys it is read from, best first; with a lookup from
/// a key (or a JSON path) to the fields it feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMap {
    keys: [Vec<Box<str>>; MappedField::ALL.len()],
    /// Every mapped key and every proper dotted prefix of one, sorted by length then text.
    entries: Vec<Entry>,
    /// `entries[by_len[n]..by_len[n + 1]]` are the entries of length `n`.
    by_len: Vec<u32>,
}

/// A key of the lookup: the fields it feeds (with the key's rank in each) and
/// whether it is a JSON path prefix of a mapped key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: Box<str>,
    targets: Vec<(MappedField, u8)>,
    is_prefix: bool,
}

impl MappedField {
    /// Every mapped field, in the order of their config names' table.
    pub const ALL: [MappedField; 14] = [
        MappedField::Ts,
        MappedField::Service,
        MappedField::Kind,
        MappedField::Operation,
        MappedField::Status,
        MappedField::Latency,
        MappedField::Error,
        MappedField::Level,
        MappedField::Peer,
        MappedField::Outcome,
        MappedField::Amount,
        MappedField::Change,
        MappedField::ChangeId,
        MappedField::Text,
    ];

    /// The field's name under `[sources.NAME.fields]`, and in errors.
    pub fn name(self) -> &'static str {
        match self {
            MappedField::Ts => "ts",
            MappedField::Service => "service",
            MappedField::Kind => "kind",
            MappedField::Operation => "operation",
            MappedField::Status => "status",
            MappedField::Latency => "latency",
            MappedField::Error => "error",
            MappedField::Level => "level",
            MappedField::Peer => "peer",
            MappedField::Outcome => "outcome",
            MappedField::Amount => "amount",
            MappedField::Change => "change",
            MappedField::ChangeId => "change_id",
            MappedField::Text => "text",
        }
    }

    /// The keys the field is read from when the config names none.
    pub fn default_keys(self) -> &'static [&'static str] {
        match self {
            MappedField::Ts => &["ts", "time", "timestamp", "@timestamp"],
            MappedField::Service => &["service", "service.name", "app"],
            MappedField::Kind => &[],
            MappedField::Operation => &["route", "http.route", "operation"],
            MappedField::Status => &["status", "http.status_code", "http.response.status_code"],
            MappedField::Latency => &["latency_ms", "duration_ms"],
            MappedField::Error => &["error"],
            MappedField::Level => &["level", "severity", "lvl", "log.level"],
            MappedField::Peer => &["peer", "peer.service"],
            MappedField::Outcome => &["outcome", "transaction.outcome"],
            MappedField::Amount => &["amount", "transaction.amount"],
            MappedField::Change => &["change", "change.kind"],
            MappedField::ChangeId => &["change_id", "change.id"],
            MappedField::Text => &["msg", "message"],
        }
    }

    fn from_name(name: &str) -> Option<MappedField> {
        MappedField::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl Default for FieldMap {
    fn default() -> FieldMap {
        FieldMap::new(MappedField::ALL.map(|f| f.default_keys().iter().map(|k| Box::from(*k)).collect()))
    }
}

impl FieldMap {
    /// Most keys one field may be read from (a key's rank is a `u8`).
    pub const MAX_KEYS: usize = 32;

    /// The mapping `[sources.NAME.fields]` describes, over the defaults.
    pub fn from_options(fields: &BTreeMap<String, Vec<String>>) -> Result<FieldMap, FormatError> {
        let mut keys = FieldMap::default().keys;
        for (name, list) in fields {
            let err = |message: String| FormatError { key: format!("fields.{name}"), message };
            let Some(field) = MappedField::from_name(name) else {
                let known: Vec<&str> = MappedField::ALL.iter().map(|f| f.name()).collect();
                return Err(err(format!("unknown event field `{name}` (known: {})", known.join(", "))));
            };
            if list.len() > FieldMap::MAX_KEYS {
                return Err(err(format!("{} keys; at most {} per field", list.len(), FieldMap::MAX_KEYS)));
            }
            if let Some(i) = list.iter().position(|k| k.is_empty() || k.starts_with('.') || k.ends_with('.')) {
                return Err(err(format!("key {} (`{}`) is empty or starts or ends with a dot", i + 1, list[i])));
            }
            keys[field as usize] = list.iter().map(|k| Box::from(k.as_str())).collect();
        }
        Ok(FieldMap::new(keys))
    }

    /// The keys `field` is read from, best first.
    pub fn keys(&self, field: MappedField) -> &[Box<str>] {
        &self.keys[field as usize]
    }

    /// The fields `key` feeds, each with the key's rank (0 is best).
    pub(super) fn lookup(&self, key: &str) -> &[(MappedField, u8)] {
        self.entry(key).map_or(&[], |e| &e.targets)
    }

    /// Whether `path` is a proper dotted prefix of a mapped key (`http` of `http.route`).
    pub(super) fn is_prefix(&self, path: &str) -> bool {
        self.entry(path).is_some_and(|e| e.is_prefix)
    }

    fn entry(&self, key: &str) -> Option<&Entry> {
        let n = key.len();
        if n + 1 >= self.by_len.len() {
            return None;
        }
        let (lo, hi) = (self.by_len[n] as usize, self.by_len[n + 1] as usize);
        self.entries[lo..hi].iter().find(|e| &*e.key == key)
    }

    fn new(keys: [Vec<Box<str>>; MappedField::ALL.len()]) -> FieldMap {
        let mut entries: Vec<Entry> = Vec::new();
        let mut entry = |key: &str| -> usize {
            match entries.iter().position(|e| &*e.key == key) {
                Some(i) => i,
                None => {
                    entries.push(Entry { key: key.into(), targets: Vec::new(), is_prefix: false });
                    entries.len() - 1
                }
            }
        };
        let mut marks: Vec<(usize, Option<(MappedField, u8)>)> = Vec::new();
        for field in MappedField::ALL {
            for (rank, key) in keys[field as usize].iter().enumerate() {
                marks.push((entry(key), Some((field, rank as u8))));
                for (i, _) in key.match_indices('.') {
                    marks.push((entry(&key[..i]), None));
                }
            }
        }
        for (i, mark) in marks {
            match mark {
                // A key listed twice for one field keeps its better rank.
                Some((field, rank)) if !entries[i].targets.iter().any(|(f, _)| *f == field) => {
                    entries[i].targets.push((field, rank));
                }
                Some(_) => {}
                None => entries[i].is_prefix = true,
            }
        }
        entries.sort_by(|a, b| (a.key.len(), &a.key).cmp(&(b.key.len(), &b.key)));
        let longest = entries.last().map_or(0, |e| e.key.len());
        let by_len = (0..=longest + 1).map(|n| entries.partition_point(|e| e.key.len() < n) as u32).collect();
        FieldMap { keys, entries, by_len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_every_key_with_its_rank_and_the_dotted_prefixes() {
        let map = FieldMap::default();
        assert_eq!(map.lookup("ts"), &[(MappedField::Ts, 0)]);
        assert_eq!(map.lookup("@timestamp"), &[(MappedField::Ts, 3)]);
        assert_eq!(map.lookup("http.response.status_code"), &[(MappedField::Status, 2)]);
        assert_eq!(map.lookup("nope"), &[]);
        assert_eq!(map.lookup(""), &[]);
        assert_eq!(map.lookup(&"x".repeat(300)), &[]);
        assert!(map.is_prefix("http") && map.is_prefix("http.response") && map.is_prefix("transaction"));
        assert!(!map.is_prefix("ts") && !map.is_prefix("http.route"));
    }

    #[test]
    fn a_named_field_replaces_its_defaults_and_an_empty_list_turns_it_off() {
        let opts = BTreeMap::from([
            ("latency".to_string(), vec!["elapsed".to_string(), "ms".to_string()]),
            ("change".to_string(), vec![]),
            ("text".to_string(), vec!["ts".to_string()]),
        ]);
        let map = FieldMap::from_options(&opts).expect("valid");
        assert_eq!(map.lookup("ms"), &[(MappedField::Latency, 1)]);
        assert_eq!(map.lookup("latency_ms"), &[]);
        assert_eq!(map.lookup("change"), &[]);
        assert_eq!(map.lookup("ts"), &[(MappedField::Ts, 0), (MappedField::Text, 0)]);
        assert_eq!(map.lookup("status"), &[(MappedField::Status, 0)]);
    }

    #[test]
    fn unknown_fields_and_empty_keys_name_their_key() {
        let bad = |name: &str, keys: &[&str]| {
            let opts = BTreeMap::from([(name.to_string(), keys.iter().map(|k| k.to_string()).collect())]);
            FieldMap::from_options(&opts).expect_err(name).to_string()
        };
        assert_eq!(
            bad("latency_ms", &["x"]),
            "fields.latency_ms: unknown event field `latency_ms` (known: ts, service, kind, operation, status, \
             latency, error, level, peer, outcome, amount, change, change_id, text)"
        );
        assert_eq!(bad("ts", &["t", ""]), "fields.ts: key 2 (``) is empty or starts or ends with a dot");
        assert_eq!(bad("ts", &["a."]), "fields.ts: key 1 (`a.`) is empty or starts or ends with a dot");
    }
}
