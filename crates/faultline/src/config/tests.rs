//! Tests of config parsing, validation, line numbers and environment overrides.

use super::*;
use faultline_core::DurationMs;

#[test]
fn demo_config_is_valid() {
    let spec = parse(DEMO_TOML).unwrap();
    assert_eq!(spec.engine.timing.windows.size(), DurationMs::from_secs(10));
    assert_eq!(spec.decoder.dims, vec!["region".to_string()]);
    assert_eq!(spec.admin.addr().to_string(), "127.0.0.1:7070");
}

#[test]
fn shipped_pipelines_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(e) = parse(&text) {
                panic!("{}: {e:?}", path.display());
            }
            n += 1;
        }
    }
    assert!(n >= 3, "demo, payments and checkout at least");
}

#[test]
fn unknown_section_names_its_line() {
    let text = format!("{DEMO_TOML}\n[windoes]\nsize = \"10s\"\n");
    let line = text.lines().position(|l| l == "[windoes]").unwrap() + 1;
    let errs = parse(&text).unwrap_err();
    assert!(errs[0].contains(&format!("line {line}")), "{errs:?}");
    assert!(errs[0].contains("windoes"), "{errs:?}");
}

#[test]
fn bad_durations_are_all_reported() {
    let errs = parse("[windows]\nsize = \"ten\"\nslide = \"10s\"\nout_of_orderness = \"2x\"\nlateness = \"0s\"\nidle_timeout = \"1m\"\nempty_windows = 3\n").unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("line 2: windows.size"), "{errs:?}");
    assert!(errs[1].starts_with("line 4: windows.out_of_orderness"), "{errs:?}");
}

#[test]
fn env_overrides_win_and_bad_values_name_the_variable() {
    let env = |k: &str| match k {
        "FAULTLINE_ADMIN_PORT" => Some("0".to_string()),
        "FAULTLINE_ADMIN_BIND" => Some("0.0.0.0".to_string()),
        "FAULTLINE_STATE_DIR" => Some("/var/lib/faultline".to_string()),
        _ => None,
    };
    let spec = parse_with_env(DEMO_TOML, &env).unwrap();
    assert_eq!(spec.admin.addr().to_string(), "0.0.0.0:0");
    assert_eq!(spec.state.directory.as_deref(), Some(Path::new("/var/lib/faultline")));
    let errs = parse_with_env(DEMO_TOML, &|k| (k == "FAULTLINE_ADMIN_PORT").then(|| "http".to_string())).unwrap_err();
    assert_eq!(errs[0].to_string(), "admin.port (from FAULTLINE_ADMIN_PORT): `http` is not a port number (0-65535)");
}

const BROKEN: &str = r#"[sources.payments]
type = "file"
path = "events.jsonl"
follw = true

[sources.kafka]
type = "kafka"

[windows]
size = "10 seconds"
lateness = "0s"
sizee = "10s"

[admin]
bind = "localhost"

[state]
checkpoint_interval = "0s"

[sinks.out]
type = "file"
emit = "alerts"

[windoes]
size = "10s"
"#;

#[test]
fn every_error_of_a_broken_config_with_its_line() {
    let errs = parse_with_env(BROKEN, &|_| None).unwrap_err();
    insta::assert_snapshot!(render_errors("broken.toml", &errs));
}

#[test]
fn a_type_error_names_its_line() {
    let errs = parse("[admin]\nport = \"seventy\"\n").unwrap_err();
    assert!(errs[0].starts_with("line 2:"), "{errs:?}");
}

#[test]
fn demo_config_writes_out_the_core_defaults_exactly() {
    let spec = parse(DEMO_TOML).unwrap();
    let core = faultline_core::pipeline::PipelineConfig::default();
    assert_eq!(spec.detectors, core.detectors);
    assert_eq!(spec.incidents, core.incidents);
    assert_eq!(spec.causes, core.causes);
    // The whole pipeline config, as the commands build it, differs only in its dimensions.
    let built = spec.pipeline_config();
    assert_eq!(format!("{:?}", built.detectors), format!("{:?}", core.detectors));
    assert_eq!(built.engine, core.engine);
}

#[test]
fn absent_detectors_and_incidents_are_the_core_defaults() {
    let spec = parse("").unwrap();
    let core = faultline_core::pipeline::PipelineConfig::default();
    assert_eq!(spec.detectors, core.detectors);
    assert_eq!(spec.incidents, core.incidents);
    assert_eq!(spec.causes, core.causes);
}

#[test]
fn detectors_replace_one_signal_and_add_service_overrides() {
    use faultline_core::detect::{DetectorBankSpec, DetectorSpec, Direction};
    let spec = parse(
        r#"
[[detectors.signal.error_rate]]
kind = "threshold"
above = 0.02
for = "3 of 5"

[[detectors.signal.cpu]]
kind = "threshold"
below = 0.1

[[detectors.service]]
service = "payments-api"
signal = "latency_p95"
[[detectors.service.detectors]]
kind = "trend"
limit = 5000.0
horizon = "30m"

[[detectors.service]]
service = "batch"
signal = "error_rate"
detectors = []
"#,
    )
    .unwrap();
    let defaults = DetectorBankSpec::default();
    let DetectorSpec::Threshold(t) = &spec.detectors.signals["error_rate"][0] else { panic!() };
    assert_eq!((t.limit, t.breached_windows, t.of_windows), (0.02, 3, 5));
    assert_eq!(spec.detectors.signals["error_rate"].len(), 1);
    let DetectorSpec::Threshold(t) = &spec.detectors.signals["cpu"][0] else { panic!() };
    assert_eq!((t.limit, t.direction), (0.1, Direction::Down));
    assert_eq!(spec.detectors.signals["memory"], defaults.signals["memory"]);
    assert_eq!(spec.detectors.services.len(), 2);
    let DetectorSpec::Trend(t) = &spec.detectors.services[0].detectors[0] else { panic!() };
    assert_eq!((t.limit, t.horizon_secs), (5000.0, 1800.0));
    assert!(spec.detectors.services[1].detectors.is_empty());
}

#[test]
fn incidents_set_timing_severity_and_causes() {
    let spec = parse(
        r#"
[incidents]
correlation_window = "30s"
flap_window = "10m"
resolve_min_windows = 6

[incidents.severity]
p1_latency_p95_ms = 2000.0

[[incidents.causes]]
cause = "noisy_neighbour"
runbook = ["Move {service} off the shared host"]
[[incidents.causes.when]]
condition = "signal_above"
signal = "cpu"
level = 0.9
required = true
"#,
    )
    .unwrap();
    assert_eq!(spec.incidents.correlation_window, DurationMs::from_secs(30));
    assert_eq!(spec.incidents.flap_window, DurationMs::from_secs(600));
    assert_eq!(spec.incidents.resolve_min_windows, 6);
    assert_eq!(spec.incidents.severity.p1_latency_p95_ms, 2000.0);
    assert_eq!(spec.incidents.severity.p0_error_share, 0.5);
    assert_eq!(spec.causes.rules.len(), 1);
    assert_eq!(spec.causes.rules[0].runbook, vec!["Move {service} off the shared host".to_string()]);
    assert!(spec.causes.rules[0].when[0].required);
}

const BROKEN_DETECTION: &str = r#"[[detectors.signal.error_rate]]
kind = "threshold"
above = 0.01
for = "3 of two"
objective = 0.99

[[detectors.signal.latency_p95]]
kind = "thresold"

[[detectors.signal.cpu]]
kind = "burn_rate"
objective = 1.0
windows = [{ burn_rate = 14.4, long = "5m", short = "1h" }]
colour = "red"

[[detectors.service]]
service = "payments-api"
signal = "error_rate"
[[detectors.service.detectors]]
kind = "threshold"

[[detectors.signal.error_rat]]
kind = "threshold"
above = 0.01

[[detectors.service]]
service = "checkout"
signal = "latency_95"
[[detectors.service.detectors]]
kind = "baseline"

[[detectors.signal.queue_depth]]
kind = "baseline"

[incidents]
correlation_window = "2 minutes"
resolve_min_windows = 0
flap_windw = "15m"

[incidents.severity]
p0_error_share = 1.5
p1_error_share = 0.6

[[incidents.causes]]
cause = "bad_deployment"
runbook = ["Roll back {service}"]
[[incidents.causes.when]]
condition = "change_before"
change = "deploy"
[[incidents.causes.when]]
condition = "anomalus"
signal = "error_rate"

[[incidents.causes]]
cause = "bad_deployment"
"#;

#[test]
fn every_error_of_broken_detectors_and_incidents_with_its_line() {
    let errs = parse_with_env(BROKEN_DETECTION, &|_| None).unwrap_err();
    insta::assert_snapshot!(render_errors("broken.toml", &errs));
}

#[test]
fn a_bad_detector_value_type_names_its_line() {
    let errs = parse("\n[[detectors.signal.memory]]\nkind = \"baseline\"\nsides = \"upward\"\n").unwrap_err();
    assert!(errs[0].starts_with("line 4:"), "{errs:?}");
}

const BROKEN_STREAMS: &str = r#"[sources.logs]
type = "syslog"
path = "/var/log/syslog"
framing = "lines"

[sources.lines]
type = "tcp"
format = "yaml"

[sources.web]
type = "stdin"
port = 9000

[sources.events]
type = "file"
path = "e.jsonl"
latency_unit = "ms"

[sources.otel]
type = "otlp"
format = "json"
grpc_port = 0
http_port = 0

[sources.otel.log_attributes]
result = "payment.status"
"#;

#[test]
fn every_error_of_broken_line_sources_with_its_line() {
    let errs = parse_with_env(BROKEN_STREAMS, &|_| None).unwrap_err();
    insta::assert_snapshot!(render_errors("streams.toml", &errs));
}

#[test]
fn otlp_log_attributes_name_their_keys_best_first() {
    let text = "[sources.otel]\ntype = \"otlp\"\n[sources.otel.log_attributes]\noutcome = [\"payment.status\", \"txn\"]\nchange = \"release.type\"\n";
    let spec = parse_with_env(text, &|_| None).unwrap();
    let SourceKind::Otlp(o) = &spec.sources[0].kind else { panic!("{:?}", spec.sources[0]) };
    assert_eq!(o.log_attributes.outcome, ["payment.status", "txn"]);
    assert_eq!(o.log_attributes.change, ["release.type"]);
    assert_eq!(o.log_attributes.amount, ["transaction.amount"], "the others keep their conventional key");
}

#[test]
fn tcp_sources_listen_where_configured() {
    let text = r#"
[sources.lines]
type = "tcp"
bind = "0.0.0.0"
port = 7000
framing = "octet_counting"
max_connections = 4
"#;
    let spec = parse_with_env(text, &|_| None).unwrap();
    match spec.sources[0].kind.clone() {
        SourceKind::Stream { tcp, udp, framing, max_connections, format, .. } => {
            assert_eq!(tcp.map(|a| a.to_string()).as_deref(), Some("0.0.0.0:7000"));
            assert_eq!(udp, None, "a tcp source has no UDP");
            assert_eq!(framing, faultline_ingest::Framing::OctetCounting);
            assert_eq!(max_connections, 4);
            assert_eq!(format.format, faultline_ingest::LineFormat::Event, "event JSON unless told");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn delivery_sinks_read_their_secrets_from_the_environment_and_are_off_without_them() {
    let text = "[state]\ndirectory = \"/tmp/s\"\n\
                [sinks.pd]\ntype = \"pagerduty\"\nservice_routing_keys_env = { payments = \"PD_PAYMENTS\" }\n\
                severity_map = { P3 = \"warning\" }\nseverities = [\"P0\", \"P1\"]\n\
                [sinks.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret_env = \"HOOK_SECRET\"\n\
                headers = { X-Team = \"payments\", Authorization = \"env:HOOK_AUTH\" }\n\
                [sinks.chat]\ntype = \"slack\"\n";
    let env = |k: &str| match k {
        "PAGERDUTY_ROUTING_KEY" => Some("default-key".to_string()),
        "PD_PAYMENTS" => Some("payments-key".to_string()),
        "HOOK_SECRET" => Some("s3cret".to_string()),
        "HOOK_AUTH" => Some("Bearer t0ken".to_string()),
        _ => None,
    };
    let spec = parse_with_env(text, &env).unwrap();
    let kind = |n: &str| spec.sinks.iter().find(|s| s.name == n).map(|s| s.kind.clone()).unwrap();
    match kind("pd") {
        SinkKind::PagerDuty(p, d) => {
            assert_eq!(p.default_key.as_ref().map(|k| k.expose().as_str()), Some("default-key"));
            assert_eq!(p.by_service["payments"].expose(), "payments-key");
            assert_eq!(p.severities["P3"], "warning");
            assert_eq!(p.severities["P0"], "critical", "the rest keep their defaults");
            assert_eq!(p.url, faultline_sinks::pagerduty::EVENTS_URL);
            assert_eq!(d.severities, ["P0", "P1"]);
            let shown = format!("{p:?}");
            assert!(!shown.contains("default-key") && !shown.contains("payments-key"), "secrets never print: {shown}");
        }
        other => panic!("{other:?}"),
    }
    match kind("hook") {
        SinkKind::Webhook { secret, headers, .. } => {
            assert_eq!(secret.unwrap().expose(), "s3cret");
            let auth = headers.iter().find(|(k, _)| k == "Authorization").unwrap();
            assert_eq!(auth.1.expose(), "Bearer t0ken", "an env: header value is read from the environment");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(kind("chat"), SinkKind::Off("no webhook URL: SLACK_WEBHOOK_URL is not set".into()));
    // No key at all: the PagerDuty sink is off, not an error.
    let off = parse_with_env(text, &|k| (k == "HOOK_SECRET" || k == "HOOK_AUTH").then(|| "x".to_string())).unwrap();
    let pd = off.sinks.iter().find(|s| s.name == "pd").unwrap();
    assert_eq!(pd.kind, SinkKind::Off("no routing key: PAGERDUTY_ROUTING_KEY is not set".into()));
}

const BROKEN_SINKS: &str = r#"[sinks.pd]
type = "pagerduty"
severity_map = { P0 = "urgent" }
path = "x.jsonl"

[sinks.hook]
type = "webhook"
emit = "signals"
secret_env = "NOT_SET_ANYWHERE"
"#;

#[test]
fn every_error_of_broken_delivery_sinks_with_its_line() {
    let errs = parse_with_env(BROKEN_SINKS, &|_| None).unwrap_err();
    insta::assert_snapshot!(render_errors("sinks.toml", &errs));
    let with_state = format!("[state]\ndirectory = \"/tmp/s\"\n{BROKEN_SINKS}");
    let errs = parse_with_env(&with_state, &|_| None).unwrap_err();
    insta::assert_snapshot!("broken_delivery_sinks_with_a_state_directory", render_errors("sinks.toml", &errs));
}

const BROKEN_KAFKA: &str = r#"
[state]
directory = "/tmp/s"

[sources.k]
type = "kafka"
topics = ["telemetry", "bad topic"]
format = "otlp_proto"
service = "x"
start = "newest"
dead_letter_topic = "telemetry"
partition_state = "/tmp/s"

[sources.k.librdkafka]
"session.timout.ms" = 6000
"sasl.password" = "hunter2"
"group.id" = "mine"

[sources.k.librdkafka_env]
"sasl.username" = "NOT_SET"

[sources.lines]
type = "kafka"
signal = "traces"
port = 9092

[sources.typo]
type = "kafak"

[sinks.out]
type = "kafka"
url = "http://x"
"#;

#[test]
fn every_error_of_broken_kafka_sources_and_sinks_with_its_line() {
    let errs = parse_with_env(BROKEN_KAFKA, &|_| None).unwrap_err();
    insta::assert_snapshot!(render_errors("kafka.toml", &errs));
}

#[test]
fn kafka_brokers_come_from_the_file_then_kafka_brokers_then_loopback_and_secrets_from_the_environment() {
    let text = "[state]\ndirectory = \"/tmp/s\"\n\
                [sources.k]\ntype = \"kafka\"\ntopics = [\"telemetry\"]\nhandover_topic = \"handover\"\n\
                [sources.k.librdkafka]\n\"security.protocol\" = \"sasl_plaintext\"\n\"sasl.mechanism\" = \"PLAIN\"\n\
                [sources.k.librdkafka_env]\n\"sasl.password\" = \"KAFKA_PASSWORD\"\n\
                [sinks.out]\ntype = \"kafka\"\ntopic = \"incidents\"\nbrokers = \"b1:9092,b2:9092\"\n";
    let env = |k: &str| match k {
        "KAFKA_BROKERS" => Some("k1:9092".to_string()),
        "KAFKA_PASSWORD" => Some("s3cret".to_string()),
        _ => None,
    };
    let spec = parse_with_env(text, &env).unwrap();
    let SourceKind::Kafka(k) = &spec.sources[0].kind else { panic!("a kafka source") };
    assert_eq!(k.client.brokers, "k1:9092");
    assert_eq!((k.group.as_str(), k.start.as_str()), ("faultline", "earliest"));
    assert_eq!(k.handover_topic.as_deref(), Some("handover"));
    assert!(matches!(k.payload, KafkaPayloadSpec::Lines(_)));
    assert!(k.client.all().contains(&("sasl.password".to_string(), "s3cret".to_string())));
    assert!(!format!("{k:?}").contains("s3cret"), "the secret is never printed");
    let SinkKind::Kafka { client, topic, .. } = &spec.sinks[0].kind else { panic!("a kafka sink") };
    assert_eq!((client.brokers.as_str(), topic.as_str()), ("b1:9092,b2:9092", "incidents"));
    let none = parse_with_env(text, &|k| (k == "KAFKA_PASSWORD").then(|| "x".to_string())).unwrap();
    let SourceKind::Kafka(k) = &none.sources[0].kind else { panic!("a kafka source") };
    assert_eq!(k.client.brokers, kafka::DEFAULT_BROKERS);
}

#[test]
fn sql_limits_are_checked_and_sql_can_be_off() {
    let errs = parse_with_env(
        "[sql]\ntimeout = \"soon\"\nmax_rows = 0\nmemory_limit_bytes = 5\nretention_rows = 10\nmemroy = 1\n",
        &|_| None,
    )
    .unwrap_err();
    insta::assert_snapshot!(render_errors("sql.toml", &errs));
    let spec = parse_with_env("[sql]\nenabled = false\n", &|_| None).unwrap();
    assert!(spec.sql.is_none());
    let spec = parse_with_env("", &|_| None).unwrap();
    let sql = spec.sql.expect("on by default");
    assert_eq!((sql.limits.max_rows, sql.limits.timeout), (100_000, std::time::Duration::from_secs(30)));
}
