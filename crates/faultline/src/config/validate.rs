//! Raw sections to the typed `PipelineSpec`: every check runs, every problem is kept.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use faultline_core::engine::EngineConfig;
use faultline_core::watermark::Timing;
use faultline_core::wire::{DecoderConfig, MAX_DIMS};
use faultline_core::{DurationMs, WindowSpec};

use faultline_ingest::{FormatOptions, LineFormat};

use super::raw::{RawConfig, RawSource};
use super::{
    AdminSpec, ConfigError, FormatSpec, KafkaPayloadSpec, KafkaSourceSpec, OtlpSpec, PipelineSpec, RuntimeSpec,
    SourceKind, SourceSpec, StateSpec,
};
use crate::config::locate::Locator;

/// Collects errors, each with the line of its key.
pub(crate) struct Checker<'a> {
    locator: &'a Locator<'a>,
    /// Every error so far.
    pub(crate) errors: Vec<ConfigError>,
}

impl Checker<'_> {
    /// Records an error at `path` (dotted; array elements by index).
    pub(crate) fn error(&mut self, path: &str, message: String) {
        self.errors.push(ConfigError { path: path.to_string(), line: self.locator.line(path), message });
    }

    /// Parses a duration, recording an error (and giving 0) when it is not one.
    pub(crate) fn duration(&mut self, path: &str, text: &str) -> DurationMs {
        DurationMs::parse(text).unwrap_or_else(|| {
            self.error(path, format!("`{text}` is not a duration such as \"250ms\", \"10s\" or \"5m\""));
            DurationMs(0)
        })
    }
}

/// Validates `raw`; `errors` may already hold errors from earlier stages.
pub(crate) fn validate(
    raw: RawConfig,
    locator: &Locator<'_>,
    errors: Vec<ConfigError>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PipelineSpec, Vec<ConfigError>> {
    let mut c = Checker { locator, errors };
    let w = &raw.windows;
    let size = c.duration("windows.size", &w.size);
    let slide = w.slide.as_deref().map_or(size, |s| c.duration("windows.slide", s));
    let ooo = c.duration("windows.out_of_orderness", &w.out_of_orderness);
    let lateness = c.duration("windows.lateness", &w.lateness);
    let idle = c.duration("windows.idle_timeout", &w.idle_timeout);
    let windows = if c.errors.iter().any(|e| e.path == "windows.size" || e.path == "windows.slide") {
        None
    } else {
        WindowSpec::hopping(size, slide).map_err(|e| c.error("windows.size", e.to_string())).ok()
    };
    let horizon = raw.series.future_horizon.as_deref().map(|h| c.duration("series.future_horizon", h));
    if raw.series.dimensions.len() > MAX_DIMS {
        let n = raw.series.dimensions.len();
        c.error("series.dimensions", format!("at most {MAX_DIMS} dimensions, got {n}"));
    }
    let sources = sources(&raw, env, &mut c);
    let external_url = raw.admin.external_url.clone();
    if let Some(u) = &external_url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        c.error("admin.external_url", format!("`{u}` is not an http(s) URL"));
    }
    let sinks = super::sinks::sinks(&raw.sinks, raw.state.directory.is_some(), env, &mut c);
    let sql = sql(&raw.sql, &mut c);
    let runtime = &raw.runtime;
    // Upper bounds keep a typo from reserving memory the machine does not have.
    for (key, n, max) in [
        ("runtime.queue_batches", runtime.queue_batches, 65_536),
        ("runtime.batch_events", runtime.batch_events, 1_048_576),
        ("runtime.sink_queue", runtime.sink_queue, 1_048_576),
    ] {
        if n == 0 {
            c.error(key, "must be at least 1".into());
        } else if n > max {
            c.error(key, format!("must be at most {max}, not {n}"));
        }
    }
    let bind: Option<IpAddr> = raw
        .admin
        .bind
        .parse()
        .map_err(|_| c.error("admin.bind", format!("`{}` is not an IP address such as 127.0.0.1", raw.admin.bind)))
        .ok();
    let detectors = super::detectors::detectors(raw.detectors.as_ref(), &mut c);
    let (incidents, causes) = super::incidents::incidents(raw.incidents.as_ref(), &mut c);
    let interval = c.duration("state.checkpoint_interval", &raw.state.checkpoint_interval);
    if interval.0 <= 0 && c.errors.iter().all(|e| e.path != "state.checkpoint_interval") {
        c.error("state.checkpoint_interval", "must be longer than 0s".into());
    }
    if raw.runtime.shards > MAX_SHARDS {
        c.error(
            "runtime.shards",
            format!("must be at most {MAX_SHARDS} (0 means one per core), not {}", raw.runtime.shards),
        );
    }
    if raw.runtime.decoders > MAX_DECODERS {
        c.error(
            "runtime.decoders",
            format!("must be at most {MAX_DECODERS} (0 means one per core), not {}", raw.runtime.decoders),
        );
    }
    match (windows, bind) {
        (Some(windows), Some(bind)) if c.errors.is_empty() => Ok(PipelineSpec {
            engine: EngineConfig {
                timing: Timing { windows, out_of_orderness: ooo, lateness, idle_timeout: idle },
                empty_windows: w.empty_windows,
            },
            decoder: DecoderConfig {
                dims: raw.series.dimensions,
                count_4xx_as_errors: raw.series.count_4xx_as_errors,
                future_horizon: horizon,
            },
            max_series_per_service: raw.series.max_series_per_service,
            shards: resolve_shards(raw.runtime.shards),
            sources,
            runtime: RuntimeSpec {
                decoders: resolve_decoders(runtime.decoders),
                queue_batches: runtime.queue_batches,
                batch_events: runtime.batch_events,
                sink_queue: runtime.sink_queue,
            },
            admin: AdminSpec {
                bind,
                port: raw.admin.port,
                grpc_port: raw.admin.grpc_port.unwrap_or(if raw.admin.port == 0 { 0 } else { 7072 }),
                flight_port: raw.admin.flight_port.unwrap_or(if raw.admin.port == 0 { 0 } else { 7071 }),
                external_url: external_url.map(|u| u.trim_end_matches('/').to_string()),
            },
            state: StateSpec {
                directory: raw.state.directory.map(PathBuf::from),
                checkpoint_interval: Duration::from_millis(interval.0.unsigned_abs()),
            },
            sql,
            sinks,
            detectors,
            incidents,
            causes,
        }),
        _ => Err(c.errors),
    }
}

/// `[sql]`: limits within reason.
fn sql(raw: &super::raw::RawSql, c: &mut Checker<'_>) -> Option<super::SqlSpec> {
    let timeout = c.duration("sql.timeout", &raw.timeout);
    if timeout.0 <= 0 && DurationMs::parse(&raw.timeout).is_some() {
        c.error("sql.timeout", format!("must be longer than 0, not `{}`", raw.timeout));
    }
    if !(1..=10_000_000).contains(&raw.max_rows) {
        c.error("sql.max_rows", format!("must be between 1 and 10000000, not {}", raw.max_rows));
    }
    if !(1 << 20..=1 << 40).contains(&raw.memory_limit_bytes) {
        c.error("sql.memory_limit_bytes", format!("must be between 1 MiB and 1 TiB, not {}", raw.memory_limit_bytes));
    }
    if !(1_000..=1_000_000_000).contains(&raw.retention_rows) {
        c.error("sql.retention_rows", format!("must be between 1000 and 1000000000, not {}", raw.retention_rows));
    }
    let token_env = raw.token_env.trim();
    if token_env.is_empty()
        || !token_env.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        || token_env.starts_with(|ch: char| ch.is_ascii_digit())
    {
        c.error(
            "sql.token_env",
            format!("`{}` is not an environment variable's name such as FAULTLINE_SQL_TOKEN", raw.token_env),
        );
    }
    raw.enabled.then(|| super::SqlSpec {
        token_env: token_env.to_string(),
        limits: faultline_sql::Limits {
            max_rows: raw.max_rows,
            memory_bytes: usize::try_from(raw.memory_limit_bytes).unwrap_or(usize::MAX),
            timeout: Duration::from_millis(timeout.0.max(1).unsigned_abs()),
        },
        retention: faultline_sql::Retention { signal_rows: raw.retention_rows, ..faultline_sql::Retention::default() },
    })
}

/// The keys each source type takes (beside `type`).
const FORMAT_KEYS: &[&str] = &["format", "service", "fields", "latency_unit", "message_format"];
const FILE_KEYS: &[&str] = &["path", "follow", "max_lines_per_second"];
const STREAM_KEYS: &[&str] = &["bind", "port", "framing", "max_message_bytes", "max_connections"];
const SYSLOG_KEYS: &[&str] = &["transports"];
const OTLP_KEYS: &[&str] = &[
    "bind",
    "grpc_port",
    "http_port",
    "transports",
    "grpc_max_request_bytes",
    "http_max_request_bytes",
    "retry_after",
    "durability",
    "wal_max_bytes",
    "dimensions",
    "log_attributes",
];
const KAFKA_KEYS: &[&str] = &[
    "brokers",
    "group",
    "topics",
    "librdkafka",
    "librdkafka_env",
    "max_message_bytes",
    "dead_letter_topic",
    "start",
    "handover_timeout",
    "handover_topic",
    "partition_state",
    "signal",
    "dimensions",
    "log_attributes",
];
/// The source types.
const SOURCE_TYPES: &[&str] = &["file", "stdin", "tcp", "syslog", "otlp", "kafka"];

/// Default port of a syslog source, TCP and UDP (514 needs root).
pub(crate) const SYSLOG_PORT: u16 = 5140;

fn sources(raw: &RawConfig, env: &dyn Fn(&str) -> Option<String>, c: &mut Checker<'_>) -> Vec<SourceSpec> {
    let mut out = Vec::new();
    for (name, s) in &raw.sources {
        let kind = s.kind.as_str();
        let allowed: Vec<&str> = match kind {
            "file" => [FILE_KEYS, FORMAT_KEYS].concat(),
            "stdin" => FORMAT_KEYS.to_vec(),
            "tcp" => [STREAM_KEYS, FORMAT_KEYS].concat(),
            "syslog" => [STREAM_KEYS, SYSLOG_KEYS, FORMAT_KEYS].concat(),
            "otlp" => OTLP_KEYS.to_vec(),
            "kafka" => [KAFKA_KEYS, FORMAT_KEYS].concat(),
            other => {
                c.error(
                    &format!("sources.{name}.type"),
                    format!("unknown source type `{other}` (known: {})", SOURCE_TYPES.join(", ")),
                );
                continue;
            }
        };
        let strays: Vec<&str> = s.keys_set().into_iter().filter(|k| !allowed.contains(k)).collect();
        for key in &strays {
            c.error(
                &format!("sources.{name}.{key}"),
                format!(
                    "is not a key of {} {kind} source (its keys: {})",
                    if kind == "otlp" { "an" } else { "a" },
                    allowed.join(", ")
                ),
            );
        }
        let spec = match kind {
            "file" => {
                let format = line_format(name, s, "event", c);
                match &s.path {
                    Some(p) => format.map(|format| SourceKind::File {
                        path: PathBuf::from(p),
                        follow: s.follow,
                        max_lines_per_second: s.max_lines_per_second.filter(|n| *n > 0),
                        format,
                    }),
                    None => {
                        c.error(&format!("sources.{name}"), "a file source needs `path`".into());
                        None
                    }
                }
            }
            "stdin" => line_format(name, s, "event", c).map(|format| SourceKind::Stdin { format }),
            "tcp" | "syslog" => stream(name, s, kind, c),
            "kafka" => kafka(name, s, raw, env, c).map(SourceKind::Kafka),
            _ => otlp(name, s, raw, c).map(SourceKind::Otlp),
        };
        if let Some(kind) = spec {
            out.push(SourceSpec { name: name.clone(), kind });
        }
    }
    out
}

/// The line format of a line source (`default` when `format` is not set).
fn line_format(name: &str, s: &RawSource, default: &str, c: &mut Checker<'_>) -> Option<FormatSpec> {
    let options = FormatOptions {
        format: s.format.clone().unwrap_or_else(|| default.to_string()),
        service: s.service.clone(),
        fields: s.fields.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_vec())).collect(),
        latency_unit: s.latency_unit.clone(),
        message_format: s.message_format.clone(),
    };
    match LineFormat::from_options(&options) {
        Ok(format) => Some(FormatSpec { format, service: s.service.clone() }),
        Err(e) => {
            c.error(&format!("sources.{name}.{}", e.key), e.message);
            None
        }
    }
}

/// A `tcp` source (lines on TCP) or a `syslog` source (syslog on UDP and TCP).
fn stream(name: &str, s: &RawSource, kind: &str, c: &mut Checker<'_>) -> Option<SourceKind> {
    let path = |key: &str| format!("sources.{name}.{key}");
    let syslog = kind == "syslog";
    let format = line_format(name, s, if syslog { "syslog" } else { "event" }, c);
    let mut ok = true;
    let bind_text = s.bind.as_deref().unwrap_or("127.0.0.1");
    let bind: Option<IpAddr> = bind_text.parse().ok();
    if bind.is_none() {
        c.error(&path("bind"), format!("`{bind_text}` is not an IP address such as 127.0.0.1"));
        ok = false;
    }
    let port = match (s.port, syslog) {
        (Some(p), _) => p,
        (None, true) => SYSLOG_PORT,
        (None, false) => {
            c.error(&path("port"), "a tcp source needs `port` (0 picks a free one)".into());
            ok = false;
            0
        }
    };
    let transports = s.transports.clone().unwrap_or_else(|| vec!["udp".into(), "tcp".into()]);
    for t in &transports {
        if t != "udp" && t != "tcp" {
            c.error(&path("transports"), format!("`{t}` is not one of: udp, tcp"));
            ok = false;
        }
    }
    if transports.is_empty() {
        c.error(&path("transports"), "serve at least one of: udp, tcp".into());
        ok = false;
    }
    let framing = match s.framing.as_deref() {
        None => faultline_ingest::Framing::Auto,
        Some(f) => faultline_ingest::Framing::parse(f).unwrap_or_else(|| {
            c.error(&path("framing"), format!("`{f}` is not one of: {}", faultline_ingest::Framing::NAMES.join(", ")));
            ok = false;
            faultline_ingest::Framing::Auto
        }),
    };
    let mut bounded = |key: &str, v: Option<usize>, default: usize, max: usize| match v {
        None => default,
        Some(n) if (1..=max).contains(&n) => n,
        Some(n) => {
            c.error(&path(key), format!("must be between 1 and {max}, not {n}"));
            ok = false;
            default
        }
    };
    let max_message_bytes =
        bounded("max_message_bytes", s.max_message_bytes, faultline_ingest::MAX_LINE_BYTES, MAX_REQUEST_BYTES);
    let max_connections = bounded("max_connections", s.max_connections, 256, 65_536);
    let (bind, format) = (bind?, format?);
    let on = |t: &str| (!syslog || transports.iter().any(|x| x == t)).then(|| SocketAddr::new(bind, port));
    ok.then(|| SourceKind::Stream {
        tcp: on("tcp"),
        udp: if syslog { on("udp") } else { None },
        framing,
        max_message_bytes,
        max_connections,
        format,
    })
}

/// Largest request size a config may set, bytes (1 GiB).
const MAX_REQUEST_BYTES: usize = 1 << 30;

fn otlp(name: &str, s: &RawSource, raw: &RawConfig, c: &mut Checker<'_>) -> Option<OtlpSpec> {
    let path = |key: &str| format!("sources.{name}.{key}");
    let mut ok = true;
    let bind_text = s.bind.as_deref().unwrap_or("127.0.0.1");
    let bind: Option<IpAddr> = bind_text.parse().ok();
    if bind.is_none() {
        c.error(&path("bind"), format!("`{bind_text}` is not an IP address such as 127.0.0.1"));
    }
    let transports = s.transports.clone().unwrap_or_else(|| vec!["grpc".into(), "http".into()]);
    for t in &transports {
        if t != "grpc" && t != "http" {
            c.error(&path("transports"), format!("`{t}` is not one of: grpc, http"));
            ok = false;
        }
    }
    if transports.is_empty() {
        c.error(&path("transports"), "serve at least one of: grpc, http".into());
        ok = false;
    }
    let mut size = |key: &str, v: Option<usize>, default: usize| match v {
        None => default,
        Some(n) if (1..=MAX_REQUEST_BYTES).contains(&n) => n,
        Some(n) => {
            c.error(&path(key), format!("must be between 1 and {MAX_REQUEST_BYTES}, not {n}"));
            ok = false;
            default
        }
    };
    let grpc_max_bytes =
        size("grpc_max_request_bytes", s.grpc_max_request_bytes, faultline_ingest::otlp::DEFAULT_GRPC_MAX_BYTES);
    let http_max_bytes =
        size("http_max_request_bytes", s.http_max_request_bytes, faultline_ingest::otlp::DEFAULT_HTTP_MAX_BYTES);
    let retry_after = c.duration(&path("retry_after"), s.retry_after.as_deref().unwrap_or("1s"));
    let (dimensions, log_attributes) = otlp_mapping(name, s, raw, &mut ok, c);
    let has_state = raw.state.directory.is_some();
    let wal_max_bytes = match s.durability.as_deref() {
        None if has_state => Some(s.wal_max_bytes.unwrap_or(DEFAULT_WAL_MAX_BYTES)),
        None | Some("memory") => None,
        Some("wal") if has_state => Some(s.wal_max_bytes.unwrap_or(DEFAULT_WAL_MAX_BYTES)),
        Some("wal") => {
            c.error(
                &path("durability"),
                "`wal` keeps its log under [state] directory: set one, or use `memory`".into(),
            );
            ok = false;
            None
        }
        Some(other) => {
            c.error(&path("durability"), format!("`{other}` is not one of: wal, memory"));
            ok = false;
            None
        }
    };
    if let Some(n) = s.wal_max_bytes
        && n < 1 << 20
    {
        c.error(&path("wal_max_bytes"), format!("must be at least 1048576 (1 MiB), not {n}"));
        ok = false;
    }
    let bind = bind?;
    let addr = |t: &str, port: Option<u16>, default: u16| {
        transports.iter().any(|x| x == t).then(|| SocketAddr::new(bind, port.unwrap_or(default)))
    };
    ok.then(|| OtlpSpec {
        grpc: addr("grpc", s.grpc_port, 4317),
        http: addr("http", s.http_port, 4318),
        grpc_max_bytes,
        http_max_bytes,
        retry_after,
        dimensions,
        wal_max_bytes,
        log_attributes,
    })
}

/// An OTLP payload's mapping: attribute keys per dimension (each a `[series]` dimension)
/// and per log field. A problem is reported and clears `ok`.
fn otlp_mapping(
    name: &str,
    s: &RawSource,
    raw: &RawConfig,
    ok: &mut bool,
    c: &mut Checker<'_>,
) -> (Vec<(String, Vec<String>)>, faultline_ingest::otlp::LogAttributes) {
    let dimensions: Vec<(String, Vec<String>)> = s.dimensions.clone().unwrap_or_default().into_iter().collect();
    for (dim, _) in &dimensions {
        if !raw.series.dimensions.contains(dim) {
            c.error(
                &format!("sources.{name}.dimensions.{dim}"),
                format!("`{dim}` is not in [series] dimensions ({})", raw.series.dimensions.join(", ")),
            );
            *ok = false;
        }
    }
    let mut log_attributes = faultline_ingest::otlp::LogAttributes::default();
    for (field, keys) in s.log_attributes.clone().unwrap_or_default() {
        if let Err(e) = log_attributes.set(&field, keys.into_vec()) {
            c.error(&format!("sources.{name}.log_attributes.{field}"), e);
            *ok = false;
        }
    }
    (dimensions, log_attributes)
}

/// A `kafka` source.
fn kafka(
    name: &str,
    s: &RawSource,
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
    c: &mut Checker<'_>,
) -> Option<KafkaSourceSpec> {
    let path = |key: &str| format!("sources.{name}.{key}");
    let mut ok = true;
    let client = super::kafka::client(
        &format!("sources.{name}"),
        s.brokers.as_deref(),
        s.librdkafka.as_ref(),
        s.librdkafka_env.as_ref(),
        env,
        c,
    );
    let topics = s.topics.clone().unwrap_or_default();
    if topics.is_empty() {
        c.error(&path("topics"), "a kafka source needs `topics` (one or more)".into());
        ok = false;
    }
    for t in topics.iter().chain(&s.dead_letter_topic).chain(&s.handover_topic) {
        if t.is_empty() || t.len() > 249 || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
            c.error(&path("topics"), format!("`{t}` is not a Kafka topic name (letters, digits, . _ -, at most 249)"));
            ok = false;
        }
    }
    let otlp = |json: bool| -> Option<(bool, faultline_ingest::kafka::OtlpSignal)> {
        use faultline_ingest::kafka::OtlpSignal;
        match s.signal.as_deref() {
            Some("traces") => Some((json, OtlpSignal::Traces)),
            Some("metrics") => Some((json, OtlpSignal::Metrics)),
            Some("logs") => Some((json, OtlpSignal::Logs)),
            _ => None,
        }
    };
    let payload = match s.format.as_deref() {
        Some(f @ ("otlp_proto" | "otlp_json")) => {
            for key in ["service", "fields", "latency_unit", "message_format"] {
                if s.keys_set().contains(&key) {
                    c.error(&path(key), format!("not a key of an {f} payload (OTLP names its services)"));
                    ok = false;
                }
            }
            match otlp(f == "otlp_json") {
                Some((json, signal)) => {
                    let (dimensions, log_attributes) = otlp_mapping(name, s, raw, &mut ok, c);
                    Some(KafkaPayloadSpec::Otlp { signal, json, dimensions, log_attributes })
                }
                None => {
                    c.error(&path("signal"), format!("an {f} payload needs `signal`: traces, metrics or logs"));
                    None
                }
            }
        }
        _ => {
            for key in ["signal", "dimensions", "log_attributes"] {
                if s.keys_set().contains(&key) {
                    c.error(&path(key), "only for an OTLP payload (format = \"otlp_proto\" or \"otlp_json\")".into());
                    ok = false;
                }
            }
            line_format(name, s, "event", c).map(|f| KafkaPayloadSpec::Lines(Box::new(f)))
        }
    };
    let max_message_bytes = match s.max_message_bytes {
        None => faultline_ingest::kafka::DEFAULT_MAX_MESSAGE_BYTES,
        Some(n) if (1..=MAX_REQUEST_BYTES).contains(&n) => n,
        Some(n) => {
            c.error(&path("max_message_bytes"), format!("must be between 1 and {MAX_REQUEST_BYTES}, not {n}"));
            ok = false;
            0
        }
    };
    let start = match s.start.as_deref() {
        None | Some("earliest") => "earliest",
        Some("latest") => "latest",
        Some(other) => {
            c.error(&path("start"), format!("`{other}` is not one of: earliest, latest"));
            ok = false;
            "earliest"
        }
    };
    let handover = c.duration(&path("handover_timeout"), s.handover_timeout.as_deref().unwrap_or("10s"));
    for (key, t) in [("dead_letter_topic", &s.dead_letter_topic), ("handover_topic", &s.handover_topic)] {
        if let Some(t) = t
            && topics.contains(t)
        {
            c.error(&path(key), format!("`{t}` is also a topic read as telemetry"));
            ok = false;
        }
    }
    let partition_state = s.partition_state.as_deref().map(PathBuf::from);
    if partition_state.is_some() && raw.state.directory.is_none() {
        c.error(
            &path("partition_state"),
            "partition files are written at checkpoints: set [state] directory too".into(),
        );
        ok = false;
    }
    if let (Some(shared), Some(own)) = (&partition_state, &raw.state.directory)
        && shared == &PathBuf::from(own)
    {
        c.error(&path("partition_state"), "must be a directory of its own, not [state] directory".into());
        ok = false;
    }
    let (client, payload) = (client?, payload?);
    ok.then(|| KafkaSourceSpec {
        partition_state,
        client,
        group: s.group.clone().unwrap_or_else(|| "faultline".to_string()),
        topics,
        payload,
        max_message_bytes,
        dead_letter_topic: s.dead_letter_topic.clone(),
        start: start.to_string(),
        handover: Duration::from_millis(handover.0.max(0).unsigned_abs()),
        handover_topic: s.handover_topic.clone(),
    })
}

/// Default bound of an OTLP source's write-ahead log, bytes (1 GiB).
const DEFAULT_WAL_MAX_BYTES: u64 = 1 << 30;

/// Most shard threads a pipeline runs.
pub(crate) const MAX_SHARDS: usize = 64;

/// `runtime.shards` as run: 0 means one per core (at most [`MAX_SHARDS`]).
pub(crate) fn resolve_shards(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_SHARDS),
        n => n.min(MAX_SHARDS),
    }
}

/// Most decoder threads a line source runs.
pub(crate) const MAX_DECODERS: usize = 64;

/// `runtime.decoders` as run: 0 means one per core, at most 8 (a source past that is
/// rarely the bottleneck, and each decoder keeps its own label cache).
pub(crate) fn resolve_decoders(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()).min(8),
        n => n.min(MAX_DECODERS),
    }
}
