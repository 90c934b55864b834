//! The catalog of the service's own metrics, with help text, and their Prometheus text rendering.
//!
//! Stages publish counts once per batch (not per event), so a mutex around
//! the sample map costs nothing on the hot path; the registry is passed in,
//! never global, so tests read it directly.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Counter or gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricType {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// One catalog entry.
#[derive(Debug)]
pub(crate) struct MetricDef {
    /// Full name, `faultline_<area>_<what>_<unit>[_total]`.
    pub(crate) name: &'static str,
    /// Counter or gauge.
    pub(crate) kind: MetricType,
    /// Help text.
    pub(crate) help: &'static str,
}

macro_rules! catalog {
    ($($id:ident = $name:literal, $kind:ident, $help:literal;)*) => {
        $(
            #[doc = $help]
            pub(crate) const $id: &MetricDef = &MetricDef { name: $name, kind: MetricType::$kind, help: $help };
        )*
        /// Every metric the service exports.
        pub(crate) const CATALOG: &[&MetricDef] = &[$($id),*];
    };
}

catalog! {
    EVENTS_ACCEPTED = "faultline_source_events_accepted_total", Counter, "Events decoded and applied to their windows, by source.";
    EVENTS_REJECTED = "faultline_source_events_rejected_total", Counter, "Lines rejected by the decoder, by source and reason.";
    SOURCE_BYTES = "faultline_source_read_bytes_total", Counter, "Bytes of fully read lines, by source.";
    EVENTS_LATE = "faultline_engine_late_events_total", Counter, "Events whose window had closed: counted, not applied.";
    ACTIVE_SERIES = "faultline_engine_active_series", Gauge, "Distinct series (label sets) known to the registry.";
    OPEN_WINDOWS = "faultline_engine_open_windows", Gauge, "Windows still open.";
    WATERMARK_LAG = "faultline_engine_watermark_lag_seconds", Gauge, "Wall clock minus the event-time watermark, seconds.";
    WINDOWS_CLOSED = "faultline_engine_windows_closed_total", Counter, "Series-windows closed by the watermark.";
    DETECTOR_EVALUATIONS = "faultline_detector_evaluations_total", Counter, "Signal points evaluated by the detector bank.";
    INCIDENT_EVENTS = "faultline_incident_events_total", Counter, "Incident events, by severity and action (opened, updated, resolved).";
    SINK_DELIVERIES = "faultline_sink_deliveries_total", Counter, "Lines a sink wrote itself (signal lines; incident lines without a state directory), by sink; sinks behind the outbox count in faultline_delivery_events_total.";
    SINK_FAILURES = "faultline_sink_failures_total", Counter, "Failed sink writes, by sink.";
    QUEUE_PUSHED = "faultline_queue_pushed_total", Counter, "Items pushed into a bounded queue, by queue (depth = pushed - popped).";
    QUEUE_POPPED = "faultline_queue_popped_total", Counter, "Items popped from a bounded queue, by queue.";
    QUEUE_DEPTH = "faultline_queue_depth", Gauge, "Items waiting in a bounded queue, by queue.";
    CHECKPOINTS = "faultline_checkpoints_total", Counter, "Checkpoints written.";
    CHECKPOINT_FAILURES = "faultline_checkpoint_failures_total", Counter, "Checkpoints that could not be written.";
    CHECKPOINT_AGE = "faultline_checkpoint_age_seconds", Gauge, "Seconds since the last checkpoint was written.";
    CHECKPOINT_DURATION = "faultline_checkpoint_duration_seconds", Gauge, "Time the last checkpoint took to write, seconds.";
    READY = "faultline_ready", Gauge, "1 when sources are connected and state is restored.";
    SOURCE_BACKPRESSURE = "faultline_source_backpressure_seconds_total", Counter, "Time a source waited on the engine's full queue, by source.";
    SOURCE_REQUESTS_REFUSED = "faultline_source_requests_refused_total", Counter, "Push-source requests refused, by source and reason (busy: retryable push-back; invalid: not the protocol's message, too large, wrong media type).";
    SOURCE_WAL_BYTES = "faultline_source_wal_bytes", Gauge, "Bytes in a push source's write-ahead log, by source.";
    SOURCE_WAL_REPLAYED = "faultline_source_wal_replayed_requests", Gauge, "Requests replayed from a push source's write-ahead log at start, by source.";
    PARTITION_WATERMARK_LAG = "faultline_partition_watermark_lag_seconds", Gauge, "Wall clock minus a source partition's own watermark (its latest event time minus the out-of-orderness), by partition.";
    SOURCE_EVENT_RATE = "faultline_source_events_per_second", Gauge, "Events a source had accepted per second, over the last second or so, by source.";
    KAFKA_LAG = "faultline_kafka_partition_lag_messages", Gauge, "Messages a Kafka partition's high watermark is ahead of what this instance consumed, by source and partition (where both are known).";
    KAFKA_ASSIGNED = "faultline_kafka_partition_assigned", Gauge, "1 while a Kafka partition is assigned to this instance, by source and partition.";
    KAFKA_MESSAGES = "faultline_kafka_messages_total", Counter, "Kafka messages consumed, by source.";
    SQL_QUERIES = "faultline_sql_queries_total", Counter, "SQL queries answered, by endpoint (http, flight) and result (ok, invalid, plan, memory, timeout, error, unauthenticated).";
    SQL_FEED_DROPPED = "faultline_sql_feed_dropped_total", Counter, "Window ends and incident events the SQL tables missed because their writer was behind (ingest never waits for it).";
    SQL_SIGNAL_ROWS = "faultline_sql_signal_rows", Gauge, "Rows of the SQL table signals in memory.";
    KAFKA_PAUSES = "faultline_kafka_pauses_total", Counter, "Times a Kafka source paused its partitions because the engine's queue was full, by source.";
    KAFKA_REJECTED = "faultline_kafka_rejected_total", Counter, "Kafka records rejected, by source, topic and reason (oversize, or the decoder's reason).";
    KAFKA_DEAD_LETTERED = "faultline_kafka_dead_lettered_total", Counter, "Rejected Kafka messages copied to the dead-letter topic, by source and result (copied, failed).";
    KAFKA_REBALANCES = "faultline_kafka_rebalances_total", Counter, "Partition assignments and revocations a Kafka source went through, by source.";
    PARTITION_IDLE = "faultline_partition_idle", Gauge, "1 when a source partition is idle and no longer holds the watermark back, by partition.";
    SHARD_EVENTS = "faultline_shard_events_total", Counter, "Events routed to a shard, by shard.";
    SHARD_EVENT_RATE = "faultline_shard_events_per_second", Gauge, "Events routed to a shard per second, over the last second or so, by shard.";
    SHARD_QUEUE_DEPTH = "faultline_shard_queue_depth", Gauge, "Batches waiting in a shard's queue, by shard (0 for the shard on the engine thread).";
    SHARD_BACKPRESSURE = "faultline_shard_backpressure_seconds_total", Counter, "Time the router waited on a shard's full queue, by shard.";
    CHECKPOINT_BYTES = "faultline_checkpoint_size_bytes", Gauge, "Size of the last checkpoint written, bytes.";
    CHECKPOINT_STALL = "faultline_checkpoint_stall_seconds", Gauge, "Time ingest stood still for the last checkpoint (barrier through every shard and state copy), seconds.";
    CHECKPOINTS_HELD = "faultline_checkpoints_held_total", Counter, "Checkpoints not written because a sink had not durably taken the output before them.";
    DELIVERY_EVENTS = "faultline_delivery_events_total", Counter, "Incident events a delivery sink finished with, by sink and result (delivered; rejected: dead-lettered for good; skipped: not its route).";
    DELIVERY_RETRIES = "faultline_delivery_retries_total", Counter, "Delivery attempts that will be retried (refused, timed out, 429, 5xx), by sink.";
    DELIVERY_PENDING = "faultline_delivery_pending", Gauge, "Incident events in the outbox a delivery sink has still to deliver, by sink.";
    OUTBOX_BYTES = "faultline_outbox_pending_bytes", Gauge, "Bytes of incident events in the outbox some sink has still to deliver.";
    OUTBOX_COALESCED = "faultline_outbox_coalesced_total", Counter, "Older incident updates coalesced into later ones because the outbox was over its bound.";
    SOURCE_REJECT_SAMPLE = "faultline_source_reject_sample_info", Gauge, "The latest rejected record of a source, by source and reason, with its stream, record number, error and first characters as labels (all samples: GET /api/v1/ingest/errors); the value is when it came, Unix seconds.";
}

type Labels = Vec<(&'static str, String)>;

/// The service's metric registry: samples by (metric, labels).
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    samples: Mutex<BTreeMap<(&'static str, Labels), f64>>,
}

impl Metrics {
    /// Adds `by` to a counter.
    pub(crate) fn add(&self, def: &MetricDef, labels: &[(&'static str, &str)], by: f64) {
        let mut s = self.samples.lock().expect("metrics mutex poisoned");
        *s.entry((def.name, owned(labels))).or_insert(0.0) += by;
    }

    /// Sets a gauge.
    pub(crate) fn set(&self, def: &MetricDef, labels: &[(&'static str, &str)], value: f64) {
        let mut s = self.samples.lock().expect("metrics mutex poisoned");
        s.insert((def.name, owned(labels)), value);
    }

    /// Sets the one sample of `def` whose labels begin with `key`, replacing
    /// any with other `extra` labels (an info metric whose text changes).
    pub(crate) fn set_only(
        &self,
        def: &MetricDef,
        key: &[(&'static str, &str)],
        extra: &[(&'static str, &str)],
        value: f64,
    ) {
        let mut s = self.samples.lock().expect("metrics mutex poisoned");
        let key = owned(key);
        s.retain(|(name, labels), _| *name != def.name || !labels.starts_with(&key));
        let mut labels = key;
        labels.extend(owned(extra));
        s.insert((def.name, labels), value);
    }

    /// Every sample of `def`: its labels and value.
    pub(crate) fn samples(&self, def: &MetricDef) -> Vec<(Labels, f64)> {
        let s = self.samples.lock().expect("metrics mutex poisoned");
        s.range((def.name, Vec::new())..)
            .take_while(|((n, _), _)| *n == def.name)
            .map(|((_, l), v)| (l.clone(), *v))
            .collect()
    }

    /// Whether a sample was ever set.
    pub(crate) fn has(&self, def: &MetricDef, labels: &[(&'static str, &str)]) -> bool {
        let s = self.samples.lock().expect("metrics mutex poisoned");
        s.contains_key(&(def.name, owned(labels)))
    }

    /// The current value of a sample (0 when never set).
    pub(crate) fn get(&self, def: &MetricDef, labels: &[(&'static str, &str)]) -> f64 {
        let s = self.samples.lock().expect("metrics mutex poisoned");
        s.get(&(def.name, owned(labels))).copied().unwrap_or(0.0)
    }

    /// Prometheus text format: every catalog entry with HELP and TYPE, and a
    /// zero sample for entries nothing has touched yet.
    pub(crate) fn render(&self) -> String {
        let s = self.samples.lock().expect("metrics mutex poisoned");
        let mut out = String::new();
        for def in CATALOG {
            let kind = match def.kind {
                MetricType::Counter => "counter",
                MetricType::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {} {}\n# TYPE {} {kind}", def.name, def.help, def.name);
            let mut any = false;
            for ((_, labels), v) in s.range((def.name, Vec::new())..).take_while(|((n, _), _)| *n == def.name) {
                any = true;
                out.push_str(def.name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, val)) in labels.iter().enumerate() {
                        let sep = if i > 0 { "," } else { "" };
                        let _ = write!(
                            out,
                            "{sep}{k}=\"{}\"",
                            val.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
                        );
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {v}");
            }
            if !any {
                let _ = writeln!(out, "{} 0", def.name);
            }
        }
        out
    }
}

fn owned(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for d in CATALOG {
            assert!(d.name.starts_with("faultline_"), "{}", d.name);
            assert_eq!(d.kind == MetricType::Counter, d.name.ends_with("_total"), "{}", d.name);
            assert!(seen.insert(d.name), "duplicate {}", d.name);
        }
    }

    #[test]
    fn renders_labels_and_untouched_entries() {
        let m = Metrics::default();
        m.add(EVENTS_REJECTED, &[("source", "app"), ("reason", "bad_json")], 2.0);
        let text = m.render();
        assert!(
            text.contains("faultline_source_events_rejected_total{source=\"app\",reason=\"bad_json\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("\nfaultline_ready 0\n"), "{text}");
    }
}
