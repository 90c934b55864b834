//! OTLP logs to events: error logs as a service's errors, transaction outcomes and change events from attributes.
//!
//! Logs map through prost's owned decode (protobuf or OTLP/JSON):
//! - every record is a request of the service's `logs` series (operation [`LOG_OPERATION`]),
//!   an error when its severity is ERROR or worse (`severity_number` ≥ 17, else a
//!   `severity_text` of ERROR, FATAL or CRITICAL): so the service's `error_rate` there is the
//!   share of its logs that are errors, and a burst of error logs pages like a burst of 5xx;
//! - a record with `transaction.outcome` (success, failed, declined; `transaction.amount`
//!   optional) is also a transaction of the service;
//! - a record with `change.kind` (deploy, config, rollback; `change.id`, the body as text) is
//!   also a change event, which probable causes read.
//!
//! The attribute keys of transactions and changes are configurable ([`LogAttributes`], the
//! source's `[sources.NAME.log_attributes]`): each a list of keys, best first.
//!
//! The record's time is `time_unix_nano`, else `observed_time_unix_nano`.

use faultline_core::wire::{Decoder, Fields as EventFields, ParseError, RecordKind, Ts};
use faultline_core::{Millis, RejectReason};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};

use super::traces::{Picked, SpanMapping, TraceSummary, pick, reject_item};
use crate::source::SourceBatch;

/// The operation of a service's log series.
pub const LOG_OPERATION: &str = "logs";
/// `severity_number` of ERROR (SEVERITY_NUMBER_ERROR).
const SEVERITY_ERROR: i32 = 17;

/// The attribute keys a log record's transaction and change are read from, each best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogAttributes {
    /// A transaction's outcome (success, failed, declined): its presence makes the transaction.
    pub outcome: Vec<String>,
    /// A transaction's amount, in major units.
    pub amount: Vec<String>,
    /// A change's kind (deploy, config, rollback): its presence makes the change event.
    pub change: Vec<String>,
    /// A change's id.
    pub change_id: Vec<String>,
}

impl Default for LogAttributes {
    fn default() -> Self {
        let keys = |k: &str| vec![k.to_string()];
        LogAttributes {
            outcome: keys("transaction.outcome"),
            amount: keys("transaction.amount"),
            change: keys("change.kind"),
            change_id: keys("change.id"),
        }
    }
}

impl LogAttributes {
    /// The names `set` takes.
    pub const NAMES: &'static [&'static str] = &["outcome", "amount", "change", "change_id"];

    /// Reads `field` from `keys` (best first) instead of its conventional key.
    pub fn set(&mut self, field: &str, keys: Vec<String>) -> Result<(), String> {
        let slot = match field {
            "outcome" => &mut self.outcome,
            "amount" => &mut self.amount,
            "change" => &mut self.change,
            "change_id" => &mut self.change_id,
            other => return Err(format!("`{other}` is not one of: {}", LogAttributes::NAMES.join(", "))),
        };
        if keys.is_empty() || keys.iter().any(String::is_empty) {
            return Err(format!("`{field}` needs at least one attribute key, and no empty one"));
        }
        *slot = keys;
        Ok(())
    }
}

fn attr<'a>(attrs: &'a [KeyValue], keys: &[String]) -> Option<&'a any_value::Value> {
    keys.iter().find_map(|key| {
        attrs.iter().find(|kv| kv.key == *key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
    })
}

fn text<'a>(attrs: &'a [KeyValue], keys: &[String]) -> Option<&'a str> {
    match attr(attrs, keys) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// Maps an `ExportLogsServiceRequest` into `batch`; `spans` in the summary counts log records.
pub fn map_logs(
    req: &ExportLogsServiceRequest,
    decoder: &mut Decoder,
    mapping: &SpanMapping,
    processing_now: Option<Millis>,
    batch: &mut SourceBatch,
) -> TraceSummary {
    let mut summary = TraceSummary::default();
    for rl in &req.resource_logs {
        let mut resource = Picked::default();
        if let Some(r) = &rl.resource {
            pick(&r.attributes, mapping, &mut resource);
        }
        for sl in &rl.scope_logs {
            for rec in &sl.log_records {
                summary.spans += 1;
                let n = summary.spans;
                let reject = |summary: &mut TraceSummary, batch: &mut SourceBatch, e: ParseError| {
                    reject_item(summary, batch, "log record", e)
                };
                let bad = |field, reason, detail: &str| ParseError {
                    line: n,
                    field: Some(field),
                    reason,
                    detail: detail.to_string(),
                };
                let Some(service) = resource.service() else {
                    reject(
                        &mut summary,
                        batch,
                        bad("service.name", RejectReason::MissingField, "the resource has no service.name"),
                    );
                    continue;
                };
                let ns = if rec.time_unix_nano > 0 { rec.time_unix_nano } else { rec.observed_time_unix_nano };
                if ns == 0 {
                    reject(
                        &mut summary,
                        batch,
                        bad("time_unix_nano", RejectReason::MissingField, "the record has no time"),
                    );
                    continue;
                }
                let ts = Some(Ts::Millis((ns / 1_000_000) as i64));
                let error = rec.severity_number >= SEVERITY_ERROR
                    || (rec.severity_number == 0
                        && matches!(rec.severity_text.to_ascii_uppercase().as_str(), "ERROR" | "FATAL" | "CRITICAL"));
                let mut point = Picked::default();
                pick(&rec.attributes, mapping, &mut point);
                let dim = |d: &str| point.dim(mapping, d).or_else(|| resource.dim(mapping, d));
                let mut out = Vec::new();
                let mut records = vec![EventFields {
                    ts,
                    service: Some(service),
                    kind: Some(Ok(RecordKind::Request)),
                    operation: Some(LOG_OPERATION),
                    error: Some(error),
                    ..EventFields::default()
                }];
                let keys = &mapping.logs;
                if let Some(outcome) = text(&rec.attributes, &keys.outcome) {
                    let amount = match attr(&rec.attributes, &keys.amount) {
                        Some(any_value::Value::DoubleValue(d)) => Some(*d),
                        Some(any_value::Value::IntValue(i)) => Some(*i as f64),
                        _ => None,
                    };
                    records.push(EventFields {
                        ts,
                        service: Some(service),
                        kind: Some(Ok(RecordKind::Transaction)),
                        outcome: Some(outcome),
                        amount,
                        ..EventFields::default()
                    });
                }
                let body = match rec.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
                    _ => None,
                };
                if let Some(change) = text(&rec.attributes, &keys.change) {
                    records.push(EventFields {
                        ts,
                        service: Some(service),
                        kind: Some(Ok(RecordKind::Change)),
                        change: Some(change),
                        id: text(&rec.attributes, &keys.change_id),
                        text: body,
                        ..EventFields::default()
                    });
                }
                // All of a record's events, or none of them.
                let mut failed = None;
                for f in &records {
                    if let Err(e) = decoder.emit(n, f, dim, processing_now, &mut out) {
                        failed = Some(e);
                        break;
                    }
                }
                match failed {
                    Some(e) => reject(&mut summary, batch, e),
                    None => batch.events.append(&mut out),
                }
            }
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use faultline_core::event::{EventBody, Outcome, Request};
    use faultline_core::wire::DecoderConfig;
    use faultline_core::{SeriesKind, SeriesRegistry};
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    use super::*;

    fn kv(key: &str, v: any_value::Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
    }

    fn s(v: &str) -> any_value::Value {
        any_value::Value::StringValue(v.into())
    }

    #[test]
    fn error_logs_are_errors_and_attributes_make_transactions_and_changes() {
        let rec = |severity: i32, text: &str, attrs: Vec<KeyValue>| LogRecord {
            time_unix_nano: 1_795_197_600_000_000_000,
            severity_number: severity,
            severity_text: text.into(),
            body: Some(AnyValue { value: Some(s("raise gateway timeout")) }),
            attributes: attrs,
            ..Default::default()
        };
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource { attributes: vec![kv("service.name", s("pay"))], ..Default::default() }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![
                        rec(9, "INFO", vec![]),
                        rec(17, "ERROR", vec![]),
                        rec(0, "fatal", vec![]),
                        rec(
                            9,
                            "",
                            vec![
                                kv("transaction.outcome", s("declined")),
                                kv("transaction.amount", any_value::Value::DoubleValue(4.2)),
                            ],
                        ),
                        rec(9, "", vec![kv("change.kind", s("deploy")), kv("change.id", s("v2.3.1"))]),
                        rec(9, "", vec![kv("transaction.outcome", s("maybe"))]),
                    ],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
        };
        let registry = Arc::new(SeriesRegistry::new(100));
        let mut decoder = Decoder::new(registry.clone(), DecoderConfig::default());
        let mut batch = SourceBatch::default();
        let summary = map_logs(&req, &mut decoder, &SpanMapping::new(&[], &[]), None, &mut batch);
        assert_eq!((summary.spans, summary.rejected), (6, 1), "{:?}", summary.errors);
        assert!(summary.errors[0].contains("`maybe` is not success, failed or declined"), "{:?}", summary.errors);
        let kinds: Vec<(SeriesKind, EventBody)> =
            batch.events.iter().map(|e| (registry.key(e.series).kind, e.body.clone())).collect();
        let req_ev = |is_error| (SeriesKind::Request, EventBody::Request(Request { latency_us: None, is_error }));
        assert_eq!(kinds[..3], [req_ev(false), req_ev(true), req_ev(true)]);
        assert_eq!(kinds[3], req_ev(false));
        assert!(
            matches!(&kinds[4].1, EventBody::Transaction(t) if t.outcome == Outcome::Declined && t.amount_minor == 420)
        );
        assert_eq!(kinds[5], req_ev(false));
        assert!(matches!(&kinds[6].1, EventBody::Change(c) if c.id == "v2.3.1" && c.text == "raise gateway timeout"));
        assert_eq!(batch.events.len(), 7, "the bad record left nothing behind");
        assert_eq!(registry.key(batch.events[0].series).name.as_ref(), LOG_OPERATION);
    }

    #[test]
    fn configured_attribute_keys_make_transactions_and_changes_best_first() {
        let rec = |attrs: Vec<KeyValue>| LogRecord {
            time_unix_nano: 1_795_197_600_000_000_000,
            severity_number: 9,
            attributes: attrs,
            ..Default::default()
        };
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource { attributes: vec![kv("service.name", s("wallet"))], ..Default::default() }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![
                        rec(vec![
                            kv("payment.status", s("failed")),
                            kv("payment.value", any_value::Value::IntValue(3)),
                        ]),
                        // The first key wins over the second.
                        rec(vec![kv("txn.result", s("success")), kv("payment.status", s("failed"))]),
                        // The conventional key is no longer read.
                        rec(vec![kv("transaction.outcome", s("success"))]),
                        rec(vec![kv("release.type", s("rollback")), kv("release.id", s("r-17"))]),
                    ],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
        };
        let mut keys = LogAttributes::default();
        keys.set("outcome", vec!["txn.result".into(), "payment.status".into()]).unwrap();
        keys.set("amount", vec!["payment.value".into()]).unwrap();
        keys.set("change", vec!["release.type".into()]).unwrap();
        keys.set("change_id", vec!["release.id".into()]).unwrap();
        assert_eq!(
            keys.clone().set("result", vec!["x".into()]).unwrap_err(),
            "`result` is not one of: outcome, amount, change, change_id"
        );
        assert!(keys.clone().set("outcome", vec![]).is_err(), "no key at all is a mistake");
        let registry = Arc::new(SeriesRegistry::new(100));
        let mut decoder = Decoder::new(registry.clone(), DecoderConfig::default());
        let mut batch = SourceBatch::default();
        let mapping = SpanMapping::new(&[], &[]).with_log_attributes(keys);
        let summary = map_logs(&req, &mut decoder, &mapping, None, &mut batch);
        assert_eq!(summary.rejected, 0, "{:?}", summary.errors);
        let bodies: Vec<EventBody> = batch.events.iter().map(|e| e.body.clone()).collect();
        assert!(
            matches!(&bodies[1], EventBody::Transaction(t) if t.outcome == Outcome::Failed && t.amount_minor == 300)
        );
        assert!(matches!(&bodies[3], EventBody::Transaction(t) if t.outcome == Outcome::Success));
        assert!(matches!(bodies[4], EventBody::Request(_)), "no transaction from the conventional key");
        assert!(matches!(&bodies[6], EventBody::Change(c) if c.id == "r-17"));
        assert_eq!(bodies.len(), 7);
    }

    mod arbitrary {
        //! Any records map without a panic and are counted once (the `otlp_logs` fuzz target's property).

        use proptest::prelude::*;
        use prost::Message;

        use super::*;

        fn arb_value() -> impl Strategy<Value = any_value::Value> {
            prop_oneof![
                prop_oneof![
                    Just("declined".to_string()),
                    Just("success".to_string()),
                    Just("deploy".to_string()),
                    Just("rollback".to_string()),
                    "[a-z]{0,5}",
                ]
                .prop_map(|v| s(&v)),
                any::<i64>().prop_map(any_value::Value::IntValue),
                prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-1.0), any::<f64>()]
                    .prop_map(any_value::Value::DoubleValue),
                any::<bool>().prop_map(any_value::Value::BoolValue),
            ]
        }

        fn arb_record() -> impl Strategy<Value = LogRecord> {
            let key = prop_oneof![
                Just("transaction.outcome"),
                Just("transaction.amount"),
                Just("change.kind"),
                Just("change.id"),
                Just("region"),
            ];
            let time = prop_oneof![Just(0u64), Just(1_795_197_600_000_000_000u64), any::<u64>()];
            (
                time.clone(),
                time,
                any::<i32>(),
                prop_oneof![Just("ERROR".to_string()), Just("fatal".to_string()), "[a-zA-Z]{0,8}"],
                proptest::collection::vec((key, arb_value()), 0..4),
                proptest::option::of(arb_value()),
            )
                .prop_map(|(time, observed, severity, text, attrs, body)| LogRecord {
                    time_unix_nano: time,
                    observed_time_unix_nano: observed,
                    severity_number: severity,
                    severity_text: text,
                    attributes: attrs.into_iter().map(|(k, v)| kv(k, v)).collect(),
                    body: body.map(|v| AnyValue { value: Some(v) }),
                    ..Default::default()
                })
        }

        fn map_checked(req: &ExportLogsServiceRequest) -> Result<(), TestCaseError> {
            let registry = Arc::new(SeriesRegistry::new(100));
            let config = DecoderConfig { dims: vec!["region".into()], ..Default::default() };
            let mut decoder = Decoder::new(registry, config.clone());
            let mut batch = SourceBatch::default();
            let summary = map_logs(req, &mut decoder, &SpanMapping::new(&config.dims, &[]), None, &mut batch);
            prop_assert_eq!(summary.rejected, batch.rejects.total());
            prop_assert!(summary.rejected + summary.ignored <= summary.spans, "{:?}", summary);
            prop_assert_eq!(summary.errors.len() as u64, summary.rejected.min(5));
            // A record gives at most a request, a transaction and a change.
            prop_assert!(batch.events.len() as u64 <= 3 * (summary.spans - summary.rejected));
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            #[test]
            fn any_records_map_without_a_panic(
                records in proptest::collection::vec(arb_record(), 0..6),
                service in proptest::option::of(Just("pay")),
            ) {
                let req = ExportLogsServiceRequest {
                    resource_logs: vec![ResourceLogs {
                        resource: Some(Resource {
                            attributes: service.map(|v| vec![kv("service.name", s(v))]).unwrap_or_default(),
                            ..Default::default()
                        }),
                        scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
                        schema_url: String::new(),
                    }],
                };
                map_checked(&req)?;
            }

            /// Bytes that prost decodes map without a panic.
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                if let Ok(req) = ExportLogsServiceRequest::decode(&bytes[..]) {
                    map_checked(&req)?;
                }
            }
        }
    }
}
