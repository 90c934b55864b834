//! Pipeline config: raw TOML sections, validated into the typed spec the pipeline runs on.
//!
//! Two stages: [`raw`] holds the sections as written (deserialised through
//! `serde_ignored`, so every unknown key is reported, not only the first),
//! [`validate`] builds the typed [`PipelineSpec`]. Every error carries its key
//! path and, from toml spans ([`locate`]), its line. `FAULTLINE_…`
//! environment variables ([`env`]) override file values.

mod detectors;
mod env;
mod incidents;
pub(crate) mod kafka;
mod locate;
mod raw;
mod sensitive;
pub(crate) mod sinks;
pub(crate) mod validate;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use faultline_core::DurationMs;
use faultline_core::detect::DetectorBankSpec;
use faultline_core::engine::EngineConfig;
use faultline_core::incident::{CauseCatalog, IncidentConfig};
use faultline_core::pipeline::PipelineConfig;
use faultline_core::wire::DecoderConfig;

/// The embedded default pipeline (`pipelines/demo.toml`).
pub(crate) const DEMO_TOML: &str = include_str!("../../../../pipelines/demo.toml");

/// A validated pipeline config.
#[derive(Debug, Clone)]
pub(crate) struct PipelineSpec {
    /// Windows, watermarks, lateness.
    pub(crate) engine: EngineConfig,
    /// Series dimensions and event classification.
    pub(crate) decoder: DecoderConfig,
    /// Cardinality cap per service.
    pub(crate) max_series_per_service: u32,
    /// Shard threads, resolved: `runtime.shards`, or one per core when it is 0.
    pub(crate) shards: usize,
    /// Event sources, by name order.
    pub(crate) sources: Vec<SourceSpec>,
    /// Queue sizes.
    pub(crate) runtime: RuntimeSpec,
    /// The admin HTTP endpoint.
    pub(crate) admin: AdminSpec,
    /// Checkpoints.
    pub(crate) state: StateSpec,
    /// SQL over the live state; `None` when `[sql] enabled = false`.
    pub(crate) sql: Option<SqlSpec>,
    /// Outputs, by name order.
    pub(crate) sinks: Vec<SinkSpec>,
    /// Detectors per signal and per service (`[detectors]`).
    pub(crate) detectors: DetectorBankSpec,
    /// Incident lifecycle and severity policy (`[incidents]`).
    pub(crate) incidents: IncidentConfig,
    /// Probable-cause rules with their runbooks (`[[incidents.causes]]`).
    pub(crate) causes: CauseCatalog,
}

impl PipelineSpec {
    /// What the core pipeline runs: engine, detectors, incident policy and causes from this config.
    pub(crate) fn pipeline_config(&self) -> PipelineConfig {
        PipelineConfig {
            engine: self.engine,
            detectors: self.detectors.clone(),
            incidents: self.incidents.clone(),
            causes: self.causes.clone(),
            dimension_names: self.decoder.dims.clone(),
            shards: self.shards,
        }
    }
}

/// One configured source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SourceSpec {
    /// The name in `[sources.NAME]`; checkpoints key positions by it.
    pub(crate) name: String,
    /// What it reads.
    pub(crate) kind: SourceKind,
}

/// Source types.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SourceKind {
    /// Lines from a file.
    File {
        /// The file.
        path: PathBuf,
        /// Follow like `tail -F` instead of stopping at the end.
        follow: bool,
        /// Pace to at most this many lines per second.
        max_lines_per_second: Option<u32>,
        /// How its lines are read.
        format: FormatSpec,
    },
    /// Lines from standard input, to its end.
    Stdin {
        /// How its lines are read.
        format: FormatSpec,
    },
    /// Lines from TCP connections and UDP datagrams (`tcp` and `syslog` sources).
    Stream {
        /// TCP address, when served.
        tcp: Option<SocketAddr>,
        /// UDP address, when served.
        udp: Option<SocketAddr>,
        /// How a TCP stream is cut into messages.
        framing: faultline_ingest::Framing,
        /// Longest message, bytes.
        max_message_bytes: usize,
        /// TCP connections at once.
        max_connections: usize,
        /// How its lines are read.
        format: FormatSpec,
    },
    /// The OTLP receiver (traces over gRPC and HTTP).
    Otlp(OtlpSpec),
    /// A Kafka consumer in a consumer group.
    Kafka(KafkaSourceSpec),
}

/// A Kafka source's settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KafkaSourceSpec {
    /// Brokers and librdkafka settings.
    pub(crate) client: kafka::KafkaClientSpec,
    /// The consumer group.
    pub(crate) group: String,
    /// The topics.
    pub(crate) topics: Vec<String>,
    /// What their messages hold.
    pub(crate) payload: KafkaPayloadSpec,
    /// Larger messages are rejected.
    pub(crate) max_message_bytes: usize,
    /// Where rejected messages are copied.
    pub(crate) dead_letter_topic: Option<String>,
    /// `auto.offset.reset`: earliest or latest.
    pub(crate) start: String,
    /// How long a revocation waits for a durable checkpoint.
    pub(crate) handover: Duration,
    /// Where revoked partitions' offsets go for their next owner.
    pub(crate) handover_topic: Option<String>,
    /// The shared directory of partition state files, when a partition's state moves with it.
    pub(crate) partition_state: Option<PathBuf>,
}

/// A Kafka source's payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KafkaPayloadSpec {
    /// Lines in a format, one or many per message.
    Lines(Box<FormatSpec>),
    /// One OTLP request per message.
    Otlp {
        /// Which signal.
        signal: faultline_ingest::kafka::OtlpSignal,
        /// OTLP/JSON instead of protobuf.
        json: bool,
        /// Per dimension, the attribute keys it is read from.
        dimensions: Vec<(String, Vec<String>)>,
        /// Log record fields' attribute keys.
        log_attributes: faultline_ingest::otlp::LogAttributes,
    },
}

/// How a line source's lines are read: the format and the service of lines that name none.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FormatSpec {
    /// The format, checked.
    pub(crate) format: faultline_ingest::LineFormat,
    /// The service of lines that name none.
    pub(crate) service: Option<String>,
}

impl FormatSpec {
    /// A parser for one stream of these lines.
    pub(crate) fn parser(&self) -> faultline_ingest::LogParser {
        faultline_ingest::LogParser::new(self.format.clone(), self.service.clone())
    }
}

/// An OTLP receiver's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OtlpSpec {
    /// gRPC address, when served.
    pub(crate) grpc: Option<SocketAddr>,
    /// HTTP address, when served.
    pub(crate) http: Option<SocketAddr>,
    /// Largest gRPC request, bytes.
    pub(crate) grpc_max_bytes: usize,
    /// Largest HTTP request, bytes.
    pub(crate) http_max_bytes: usize,
    /// Retry delay told to clients when the engine is behind.
    pub(crate) retry_after: DurationMs,
    /// Attribute keys per dimension that override the conventional ones.
    pub(crate) dimensions: Vec<(String, Vec<String>)>,
    /// `Some(max bytes)`: durability `wal`, the log under `state.directory/wal/NAME`.
    pub(crate) wal_max_bytes: Option<u64>,
    /// Where log records carry transactions and changes.
    pub(crate) log_attributes: faultline_ingest::otlp::LogAttributes,
}

/// Queue sizes between the runtime's stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RuntimeSpec {
    /// Decoder threads per line source (file, stdin), resolved: 1 decodes on the reading thread.
    pub(crate) decoders: usize,
    /// Event batches queued from the sources to the engine thread.
    pub(crate) queue_batches: usize,
    /// Events per batch at most.
    pub(crate) batch_events: usize,
    /// Output records queued from the engine thread to the sinks.
    pub(crate) sink_queue: usize,
}

/// `[sql]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlSpec {
    /// Per-query limits.
    pub(crate) limits: faultline_sql::Limits,
    /// What the live tables keep.
    pub(crate) retention: faultline_sql::Retention,
    /// The variable holding the SQL clients' bearer token.
    pub(crate) token_env: String,
}

/// Where the admin HTTP endpoint listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdminSpec {
    /// Bind address.
    pub(crate) bind: IpAddr,
    /// Port (0 picks a free one).
    pub(crate) port: u16,
    /// The gRPC API's port (0 picks a free one).
    pub(crate) grpc_port: u16,
    /// Flight SQL's port (0 picks a free one).
    pub(crate) flight_port: u16,
    /// The console's address for links, when set.
    pub(crate) external_url: Option<String>,
}

impl AdminSpec {
    /// The socket address to bind.
    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// The gRPC API's socket address.
    pub(crate) fn grpc_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.grpc_port)
    }

    /// Flight SQL's socket address.
    pub(crate) fn flight_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.flight_port)
    }
}

/// Checkpoint settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateSpec {
    /// Directory of the checkpoint file; `None` disables checkpoints.
    pub(crate) directory: Option<PathBuf>,
    /// Time between periodic checkpoints.
    pub(crate) checkpoint_interval: Duration,
}

/// One configured sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SinkSpec {
    /// The name in `[sinks.NAME]`.
    pub(crate) name: String,
    /// Where lines go.
    pub(crate) kind: SinkKind,
    /// What lines.
    pub(crate) emit: Emit,
    /// File sinks: rotate past this many bytes, keeping this many old files (`path.1` newest).
    pub(crate) rotate: Option<(u64, u32)>,
}

/// Sink types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SinkKind {
    /// Standard output.
    Stdout,
    /// Appended to a file.
    File(PathBuf),
    /// PagerDuty Events API v2, through the outbox.
    PagerDuty(sinks::PagerDutySpec, sinks::DeliverySpec),
    /// A Slack incoming webhook (its URL is the secret), through the outbox.
    Slack(sensitive::Sensitive<String>, sinks::DeliverySpec),
    /// A signed webhook, through the outbox.
    Webhook {
        /// Where to post.
        url: String,
        /// The HMAC-SHA256 signing secret.
        secret: Option<sensitive::Sensitive<String>>,
        /// Extra headers.
        headers: Vec<(String, sensitive::Sensitive<String>)>,
        /// Timeout and routing.
        delivery: sinks::DeliverySpec,
    },
    /// A Kafka topic, through the outbox.
    Kafka {
        /// Brokers and librdkafka settings.
        client: kafka::KafkaClientSpec,
        /// The topic.
        topic: String,
        /// Timeout and routing.
        delivery: sinks::DeliverySpec,
    },
    /// Alertmanager's v2 API, through the outbox.
    Alertmanager {
        /// Its base URL.
        url: String,
        /// How often alerts are posted again.
        refresh: Duration,
        /// Timeout and routing.
        delivery: sinks::DeliverySpec,
    },
    /// Configured but off (its secret is not in the environment): said at start.
    Off(String),
}

impl SinkSpec {
    /// Whether its incident events go through the outbox: every delivery sink, and the stdout
    /// and file sinks of incident events when the pipeline has a state directory (where the
    /// outbox lives; without one nothing is durable, and they are written directly).
    pub(crate) fn through_outbox(&self, has_state: bool) -> bool {
        self.kind.is_delivery()
            || (has_state && self.emit == Emit::Incidents && matches!(self.kind, SinkKind::Stdout | SinkKind::File(_)))
    }
}

impl SinkKind {
    /// Whether it delivers through the outbox.
    pub(crate) fn is_delivery(&self) -> bool {
        matches!(
            self,
            SinkKind::PagerDuty(..)
                | SinkKind::Slack(..)
                | SinkKind::Webhook { .. }
                | SinkKind::Alertmanager { .. }
                | SinkKind::Kafka { .. }
        )
    }
}

/// What a sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emit {
    /// Incident events (`opened`, `updated`, `resolved`).
    Incidents,
    /// One line per closed series-window signal, as `replay --emit signals`.
    Signals,
}

/// One config problem: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    /// Dotted key path (`windows.size`), or the environment variable.
    pub(crate) path: String,
    /// 1-based line in the file, when the key is in it.
    pub(crate) line: Option<usize>,
    /// What is wrong, lowercase.
    pub(crate) message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Reads and validates a pipeline config file, with `FAULTLINE_…` overrides from the environment.
pub(crate) fn load(path: &Path) -> anyhow::Result<PipelineSpec> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_with_env(&text, &|k| std::env::var(k).ok())
        .map_err(|errs| anyhow::anyhow!("{}", render_errors(&path.display().to_string(), &errs).trim_end()))
}

/// Parses and validates config text (no environment overrides); every problem found, one message each.
pub(crate) fn parse(text: &str) -> Result<PipelineSpec, Vec<String>> {
    parse_with_env(text, &|_| None).map_err(|errs| errs.iter().map(ToString::to_string).collect())
}

/// Parses and validates config text, overriding values from `env`.
pub(crate) fn parse_with_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PipelineSpec, Vec<ConfigError>> {
    let locator = locate::Locator::new(text);
    let mut errors = Vec::new();
    let de = toml::Deserializer::new(text);
    let result: Result<raw::RawConfig, _> = serde_ignored::deserialize(de, |path| {
        // `?` marks an `Option` level in serde_ignored's paths; key paths have none.
        let path = path.to_string().split('.').filter(|seg| *seg != "?").collect::<Vec<_>>().join(".");
        errors.push(ConfigError { line: locator.line(&path), path, message: "unknown key".into() });
    });
    let mut raw = match result {
        Ok(raw) => raw,
        Err(e) => {
            let line = e.span().map(|s| locator.line_at(s.start));
            let message = e.message().trim_end().to_string();
            errors.push(ConfigError { path: "(file)".into(), line, message });
            return Err(errors);
        }
    };
    env::apply(&mut raw, env, &mut errors);
    validate::validate(raw, &locator, errors, env)
}

/// Every error as `FILE:LINE: path: message`, one a line, in file order.
pub(crate) fn render_errors(file: &str, errors: &[ConfigError]) -> String {
    let mut sorted: Vec<&ConfigError> = errors.iter().collect();
    sorted.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    let mut out = String::new();
    for e in sorted {
        match e.line {
            Some(line) => out.push_str(&format!("{file}:{line}: {}: {}\n", e.path, e.message)),
            None => out.push_str(&format!("{file}: {}: {}\n", e.path, e.message)),
        }
    }
    out
}

/// `faultline check-config FILE`: prints every problem, exits 1 if there is one.
pub(crate) fn check_config(path: &Path) -> anyhow::Result<std::process::ExitCode> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match parse_with_env(&text, &|k| std::env::var(k).ok()) {
        Ok(_) => {
            println!("{}: ok", path.display());
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprint!("{}", render_errors(&path.display().to_string(), &errors));
            eprintln!("{}: {} error(s)", path.display(), errors.len());
            Ok(std::process::ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests;
