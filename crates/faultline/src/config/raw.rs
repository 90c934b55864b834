//! Raw config sections as written in TOML, with the defaults of `pipelines/demo.toml`.
//!
//! Unknown keys are not rejected here: the file is deserialised through
//! `serde_ignored`, which reports every ignored key, so `check-config` lists
//! them all at once with their lines (see `config::locate`).

use std::collections::BTreeMap;

use serde::Deserialize;

pub(crate) use super::detectors::RawDetectors;
pub(crate) use super::incidents::RawIncidents;
pub(crate) use super::sinks::RawSink;

/// The whole file, as written.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct RawConfig {
    /// Named sources of events.
    #[serde(default)]
    pub(crate) sources: BTreeMap<String, RawSource>,
    /// Event-time windows.
    #[serde(default)]
    pub(crate) windows: RawWindows,
    /// Series identity and cardinality.
    #[serde(default)]
    pub(crate) series: RawSeries,
    /// Threads and queues.
    #[serde(default)]
    pub(crate) runtime: RawRuntime,
    /// The admin HTTP endpoint.
    #[serde(default)]
    pub(crate) admin: RawAdmin,
    /// Checkpoints.
    #[serde(default)]
    pub(crate) state: RawState,
    /// SQL over the live state (`POST /api/v1/sql`, `faultline sql`).
    #[serde(default)]
    pub(crate) sql: RawSql,
    /// Named outputs of incident events (or signal lines).
    #[serde(default)]
    pub(crate) sinks: BTreeMap<String, RawSink>,
    /// Detectors per signal and per service (`config::detectors`); absent = the built-in set.
    #[serde(default)]
    pub(crate) detectors: Option<RawDetectors>,
    /// Incident lifecycle, severity and probable causes (`config::incidents`); absent = the built-in policy.
    #[serde(default)]
    pub(crate) incidents: Option<RawIncidents>,
}

/// `[sources.NAME]`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawSource {
    /// Source type: `"file"`, `"stdin"`, `"tcp"`, `"syslog"` (lines in a format), `"otlp"` (the OTLP receiver) or `"kafka"`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// File to read.
    pub(crate) path: Option<String>,
    /// `false`: read to the end, checkpoint, exit. `true`: follow like `tail -F`.
    #[serde(default)]
    pub(crate) follow: bool,
    /// Paces reading to at most this many lines per second (replaying a recorded file as if live).
    #[serde(default)]
    pub(crate) max_lines_per_second: Option<u32>,
    /// OTLP: address to bind; "0.0.0.0" for all interfaces (default 127.0.0.1).
    #[serde(default)]
    pub(crate) bind: Option<String>,
    /// OTLP: gRPC port (default 4317; 0 picks a free one).
    #[serde(default)]
    pub(crate) grpc_port: Option<u16>,
    /// OTLP: HTTP port (default 4318; 0 picks a free one).
    #[serde(default)]
    pub(crate) http_port: Option<u16>,
    /// OTLP: which transports to serve (default both: `["grpc", "http"]`).
    #[serde(default)]
    pub(crate) transports: Option<Vec<String>>,
    /// OTLP: largest gRPC request in bytes after decompression (default 4 MiB).
    #[serde(default)]
    pub(crate) grpc_max_request_bytes: Option<usize>,
    /// OTLP: largest HTTP request in bytes after decompression (default 20 MiB).
    #[serde(default)]
    pub(crate) http_max_request_bytes: Option<usize>,
    /// OTLP: the delay clients are told to wait when the engine is behind (default "1s").
    #[serde(default)]
    pub(crate) retry_after: Option<String>,
    /// OTLP: `"wal"` (accepted requests in a write-ahead log under the state directory
    /// before the answer; the default with a state directory) or `"memory"`.
    #[serde(default)]
    pub(crate) durability: Option<String>,
    /// OTLP: the write-ahead log's largest size in bytes (default 1 GiB); past it, push-back.
    #[serde(default)]
    pub(crate) wal_max_bytes: Option<u64>,
    /// OTLP: per dimension, the span or resource attribute keys it is read from, best first.
    #[serde(default)]
    pub(crate) dimensions: Option<BTreeMap<String, Vec<String>>>,
    /// OTLP: per log field (outcome, amount, change, change_id), the record attribute keys it is read from.
    #[serde(default)]
    pub(crate) log_attributes: Option<BTreeMap<String, OneOrMany>>,
    /// Lines: their format (`event`, `json`, `logfmt`, `nginx`, `apache`, `syslog`).
    #[serde(default)]
    pub(crate) format: Option<String>,
    /// Lines: the service of lines that name none (access logs name none).
    #[serde(default)]
    pub(crate) service: Option<String>,
    /// Lines (json, logfmt): per event field, the key (or keys, best first) it is read from.
    #[serde(default)]
    pub(crate) fields: Option<BTreeMap<String, OneOrMany>>,
    /// Lines: the unit of a mapped latency or an access log's request time (s, ms, us, ns).
    #[serde(default)]
    pub(crate) latency_unit: Option<String>,
    /// syslog: the format of each message's text (e.g. `nginx` for nginx's syslog access log).
    #[serde(default)]
    pub(crate) message_format: Option<String>,
    /// tcp, syslog: the port to listen on (syslog default 5140, TCP and UDP).
    #[serde(default)]
    pub(crate) port: Option<u16>,
    /// tcp, syslog: how a TCP stream is cut into messages: auto, newline, octet_counting (RFC 6587).
    #[serde(default)]
    pub(crate) framing: Option<String>,
    /// tcp, syslog: longest message taken, bytes (default 1 MiB).
    #[serde(default)]
    pub(crate) max_message_bytes: Option<usize>,
    /// tcp, syslog: TCP connections served at once (default 256).
    #[serde(default)]
    pub(crate) max_connections: Option<usize>,
    /// kafka: `host:port[,host:port…]` (default `$KAFKA_BROKERS`, then 127.0.0.1:9092).
    #[serde(default)]
    pub(crate) brokers: Option<String>,
    /// kafka: the consumer group (default `faultline`).
    #[serde(default)]
    pub(crate) group: Option<String>,
    /// kafka: the topics, all with this source's payload format.
    #[serde(default)]
    pub(crate) topics: Option<Vec<String>>,
    /// kafka: extra librdkafka settings (no secrets).
    #[serde(default)]
    pub(crate) librdkafka: Option<BTreeMap<String, super::kafka::RawSetting>>,
    /// kafka: librdkafka settings read from environment variables (secrets), setting → variable.
    #[serde(default)]
    pub(crate) librdkafka_env: Option<BTreeMap<String, String>>,
    /// kafka: where rejected messages are copied (default: nowhere, only counted).
    #[serde(default)]
    pub(crate) dead_letter_topic: Option<String>,
    /// kafka: where a partition without a checkpoint or committed offset starts: earliest (default) or latest.
    #[serde(default)]
    pub(crate) start: Option<String>,
    /// kafka: how long a revoked partition waits for a checkpoint of what was consumed (default "10s").
    #[serde(default)]
    pub(crate) handover_timeout: Option<String>,
    /// kafka: the compacted topic where revoked partitions' checkpointed offsets go for their next owner.
    #[serde(default)]
    pub(crate) handover_topic: Option<String>,
    /// kafka: a directory the group's instances share, where each partition's series state is kept, so it moves with the partition.
    #[serde(default)]
    pub(crate) partition_state: Option<String>,
    /// kafka with an OTLP format: the signal the topics carry (traces, metrics, logs).
    #[serde(default)]
    pub(crate) signal: Option<String>,
}

/// A key, or several keys best first.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    /// One key.
    One(String),
    /// Keys, best first.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The keys, best first.
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(k) => vec![k],
            OneOrMany::Many(ks) => ks,
        }
    }
}

impl RawSource {
    /// The keys set in this section, by name: what a type's validation checks against its own keys.
    pub(crate) fn keys_set(&self) -> Vec<&'static str> {
        [
            ("path", self.path.is_some()),
            ("follow", self.follow),
            ("max_lines_per_second", self.max_lines_per_second.is_some()),
            ("bind", self.bind.is_some()),
            ("grpc_port", self.grpc_port.is_some()),
            ("http_port", self.http_port.is_some()),
            ("transports", self.transports.is_some()),
            ("grpc_max_request_bytes", self.grpc_max_request_bytes.is_some()),
            ("http_max_request_bytes", self.http_max_request_bytes.is_some()),
            ("retry_after", self.retry_after.is_some()),
            ("durability", self.durability.is_some()),
            ("wal_max_bytes", self.wal_max_bytes.is_some()),
            ("dimensions", self.dimensions.is_some()),
            ("log_attributes", self.log_attributes.is_some()),
            ("format", self.format.is_some()),
            ("service", self.service.is_some()),
            ("fields", self.fields.is_some()),
            ("latency_unit", self.latency_unit.is_some()),
            ("message_format", self.message_format.is_some()),
            ("port", self.port.is_some()),
            ("framing", self.framing.is_some()),
            ("max_message_bytes", self.max_message_bytes.is_some()),
            ("max_connections", self.max_connections.is_some()),
            ("brokers", self.brokers.is_some()),
            ("group", self.group.is_some()),
            ("topics", self.topics.is_some()),
            ("librdkafka", self.librdkafka.is_some()),
            ("librdkafka_env", self.librdkafka_env.is_some()),
            ("dead_letter_topic", self.dead_letter_topic.is_some()),
            ("start", self.start.is_some()),
            ("handover_timeout", self.handover_timeout.is_some()),
            ("handover_topic", self.handover_topic.is_some()),
            ("partition_state", self.partition_state.is_some()),
            ("signal", self.signal.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
    }
}

/// `[windows]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(crate) struct RawWindows {
    /// Window length, e.g. "10s".
    pub(crate) size: String,
    /// Distance between window starts; equal to size for tumbling windows.
    pub(crate) slide: Option<String>,
    /// How far behind the largest event time the watermark trails.
    pub(crate) out_of_orderness: String,
    /// Extra time a window stays open past the watermark.
    pub(crate) lateness: String,
    /// Processing time after which a silent input stops holding the watermark.
    pub(crate) idle_timeout: String,
    /// Empty windows emitted after a series goes quiet.
    pub(crate) empty_windows: u32,
}

impl Default for RawWindows {
    fn default() -> Self {
        RawWindows {
            size: "10s".into(),
            slide: None,
            out_of_orderness: "2s".into(),
            lateness: "0s".into(),
            idle_timeout: "60s".into(),
            empty_windows: 30,
        }
    }
}

/// `[series]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(crate) struct RawSeries {
    /// Attribute names that become dimensions, in order.
    pub(crate) dimensions: Vec<String>,
    /// Label sets per service before folding into an overflow series.
    pub(crate) max_series_per_service: u32,
    /// Whether 4xx counts as an error.
    pub(crate) count_4xx_as_errors: bool,
    /// Reject events this far ahead of processing time.
    pub(crate) future_horizon: Option<String>,
}

impl Default for RawSeries {
    fn default() -> Self {
        RawSeries {
            dimensions: Vec::new(),
            max_series_per_service: 10_000,
            count_4xx_as_errors: false,
            future_horizon: Some("10m".into()),
        }
    }
}

/// `[runtime]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(crate) struct RawRuntime {
    /// Shard threads; 0 = one per core.
    pub(crate) shards: usize,
    /// Decoder threads per line source; 1 (the default) decodes on the reading thread, 0 = one per core (at most 8).
    pub(crate) decoders: usize,
    /// Event batches queued between the sources and the engine thread.
    pub(crate) queue_batches: usize,
    /// Events per batch a source sends at most.
    pub(crate) batch_events: usize,
    /// Output records queued between the engine thread and the sinks.
    pub(crate) sink_queue: usize,
}

impl Default for RawRuntime {
    fn default() -> Self {
        RawRuntime { shards: 0, decoders: 1, queue_batches: 64, batch_events: 2048, sink_queue: 1024 }
    }
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(crate) struct RawAdmin {
    /// Address to bind; "0.0.0.0" for all interfaces.
    pub(crate) bind: String,
    /// TCP port; 0 picks a free one.
    pub(crate) port: u16,
    /// The gRPC API's port (incidents, the incident stream), on the same address; default 7072,
    /// or a free one when `port` is 0.
    pub(crate) grpc_port: Option<u16>,
    /// Arrow Flight SQL's port, on the same address, served when `[sql]` is on; default 7071,
    /// or a free one when `port` is 0.
    pub(crate) flight_port: Option<u16>,
    /// The console's address as people reach it (behind a proxy, say), for the links in pages
    /// and messages; default `http://BIND:PORT`.
    pub(crate) external_url: Option<String>,
}

impl Default for RawAdmin {
    fn default() -> Self {
        RawAdmin { bind: "127.0.0.1".into(), port: 7070, grpc_port: None, flight_port: None, external_url: None }
    }
}

/// `[sql]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(crate) struct RawSql {
    /// Whether the SQL tables are kept and queries answered.
    pub(crate) enabled: bool,
    /// Rows a query returns at most.
    pub(crate) max_rows: usize,
    /// Memory one query's operators may hold, bytes.
    pub(crate) memory_limit_bytes: u64,
    /// Wall time before a query is cancelled.
    pub(crate) timeout: String,
    /// Signal rows kept in memory (the oldest windows go first).
    pub(crate) retention_rows: usize,
    /// The environment variable that holds the bearer token SQL clients must present (Flight
    /// SQL, `POST /api/v1/sql`, `GET /api/v1/incidents`); unset or empty: no token is asked.
    pub(crate) token_env: String,
}

impl Default for RawSql {
    fn default() -> Self {
        RawSql {
            enabled: true,
            max_rows: 100_000,
            memory_limit_bytes: 512 << 20,
            timeout: "30s".into(),
            retention_rows: 2_000_000,
            token_env: "FAULTLINE_SQL_TOKEN".into(),
        }
    }
}

/// `[state]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(crate) struct RawState {
    /// Directory for checkpoints; none means no checkpoints.
    pub(crate) directory: Option<String>,
    /// Time between periodic checkpoints.
    pub(crate) checkpoint_interval: String,
}

impl Default for RawState {
    fn default() -> Self {
        RawState { directory: None, checkpoint_interval: "10s".into() }
    }
}
