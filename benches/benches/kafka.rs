//! Kafka messages into windows: the Kafka source consuming from librdkafka's mock cluster (in
//! process, real protocol on loopback) and the engine recording what it decodes, against the
//! same messages decoded from memory and recorded (the same job without Kafka: the baseline),
//! and against recording the decoded events alone.
//!
//! Payloads: the event JSON of DESIGN.md, 100 lines a message and 1 a message, and OTLP
//! protobuf (`ExportTraceServiceRequest`, 100 SERVER spans a message), over 1,000 series.
//! Each iteration consumes the whole topic (4 partitions) in a new consumer group and is timed
//! from the first batch to the last (the group join, seconds on the mock cluster, is left out).
//! Figures read as events per second; decode-and-record time / consume-and-record time says
//! how far the consumer is from free (goal ≥ 0.7: the engine's work, not the consumer, is the
//! bottleneck). The consumer decodes on its own thread (beside librdkafka's), the engine
//! records on this one, so consume-and-record uses more than one core.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_core::watermark::InputId;
use faultline_core::wire::DecoderConfig;
use faultline_core::{Engine, EngineConfig, Event, Millis, SeriesRegistry};
use faultline_ingest::kafka::{OtlpSignal, Payload};
use faultline_ingest::otlp::{SpanMapping, decode_traces};
use faultline_ingest::{
    BatchSender, KafkaConfig, KafkaSource, LineDecoder, Source, SourceBatch, SourceMessage, SourceStats,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// Events in each topic, over [`PARTITIONS`] partitions (librdkafka's mock cluster keeps
/// about 5 MB a partition).
const EVENTS: usize = 100_000;
const PARTITIONS: i32 = 4;
const T0: u64 = 1_795_197_600_000;

fn now() -> Millis {
    Millis(T0 as i64 + 3_600_000)
}

fn line(i: usize) -> String {
    format!(
        r#"{{"ts":{},"service":"svc-{:02}","operation":"GET /r{}","kind":"request","status":{},"latency_ms":{}}}"#,
        T0 + (i / 50) as u64,
        i % 40,
        i % 25,
        if i.is_multiple_of(97) { 503 } else { 200 },
        5 + i % 211
    )
}

fn s(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

/// 100 HTTP SERVER spans of one service as one request.
fn spans(first: usize) -> Vec<u8> {
    let svc = (first / 100) % 40;
    let spans = (first..first + 100)
        .map(|n| {
            let t = (T0 + (n / 50) as u64) * 1_000_000;
            Span {
                trace_id: vec![n as u8; 16],
                span_id: vec![1; 8],
                name: format!("GET /r{}", n % 25),
                kind: 2,
                start_time_unix_nano: t,
                end_time_unix_nano: t + 5_000_000 + (n % 211) as u64 * 1_000_000,
                attributes: vec![s("http.request.method", "GET"), s("http.route", &format!("/r{}", n % 25))],
                status: Some(Status { code: if n.is_multiple_of(97) { 2 } else { 0 }, ..Default::default() }),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![s("service.name", &format!("svc-{svc:02}"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Makes the payload of the message that starts at event `i`.
type Payloads = Box<dyn Fn(usize) -> Vec<u8>>;

/// A mock cluster holding the three topics.
fn cluster() -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    let brokers = cluster.bootstrap_servers();
    let producer: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", &brokers).set("linger.ms", "5").create().expect("producer");
    let topics: [(&str, usize, Payloads); 3] = [
        ("json100", 100, Box::new(|i| (i..i + 100).map(line).collect::<Vec<_>>().join("\n").into_bytes())),
        ("json1", 1, Box::new(|i| line(i).into_bytes())),
        ("otlp100", 100, Box::new(spans)),
    ];
    for (topic, per, make) in topics {
        cluster.create_topic(topic, PARTITIONS, 1).expect("topic");
        for i in (0..EVENTS).step_by(per) {
            let payload = make(i);
            // A service's messages on one partition, as producers keyed by service do.
            let partition = ((i / 100) % 40) as i32 % PARTITIONS;
            loop {
                match producer.send(BaseRecord::<(), [u8]>::to(topic).payload(&payload).partition(partition)) {
                    Ok(()) => break,
                    Err((_, _)) => producer.poll(Duration::from_millis(10)),
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flushed");
    for topic in ["json100", "json1", "otlp100"] {
        for p in 0..PARTITIONS {
            let (low, _) = producer.client().fetch_watermarks(topic, p, Duration::from_secs(5)).expect("watermarks");
            assert_eq!(low, 0, "{topic}: the mock cluster keeps only a few MB a partition");
        }
    }
    cluster
}

fn payload(topic: &str, registry: &Arc<SeriesRegistry>) -> Payload {
    if topic.starts_with("otlp") {
        Payload::Otlp {
            signal: OtlpSignal::Traces,
            json: false,
            mapping: SpanMapping::new(&[], &[]),
            registry: registry.clone(),
            decoder: DecoderConfig::default(),
        }
    } else {
        Payload::Lines(Box::new(LineDecoder::new(registry.clone(), DecoderConfig::default())))
    }
}

static GROUP: AtomicUsize = AtomicUsize::new(0);

/// Consumes `topic` whole in a new group; `on_batch` gets each batch's events on this thread.
/// The time from the first batch to the last.
fn consume(brokers: &str, topic: &str, mut on_batch: impl FnMut(&[Event])) -> Duration {
    let registry = Arc::new(SeriesRegistry::new(100_000));
    let group = format!("bench-{}", GROUP.fetch_add(1, Ordering::Relaxed));
    let mut config = KafkaConfig::new(brokers, &group, &[topic]);
    config.batch_events = 2048;
    let source = KafkaSource::connect("bench", config, payload(topic, &registry), now).expect("connected");
    let (tx, rx) = sync_channel(64);
    let stop = Arc::new(AtomicBool::new(false));
    let out = BatchSender::new(0, tx, Arc::new(SourceStats::default()));
    let s = stop.clone();
    let thread = std::thread::spawn(move || Box::new(source).run(Default::default(), out, s));
    let (mut seen, mut rejected) = (0, 0);
    // Every event decodes: a reject would make the two sides' work differ.
    let mut first: Option<Instant> = None;
    while seen < EVENTS {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(SourceMessage::Batch { batch, .. }) => {
                first.get_or_insert_with(Instant::now);
                seen += batch.events.len();
                rejected += batch.rejects.total();
                on_batch(&batch.events);
            }
            Ok(_) => {}
            Err(_) => panic!("{topic}: only {seen} of {EVENTS} events ({rejected} rejected)"),
        }
    }
    assert_eq!(rejected, 0, "{topic}: every event decodes");
    let took = first.map_or(Duration::ZERO, |f| f.elapsed());
    stop.store(true, Ordering::Release);
    while !thread.is_finished() {
        let _ = rx.recv_timeout(Duration::from_millis(10));
    }
    thread.join().expect("no panic").expect("ran");
    took
}

/// The messages of `topic` as produced, in memory.
fn payloads(topic: &str) -> Vec<Vec<u8>> {
    match topic {
        "json100" => (0..EVENTS)
            .step_by(100)
            .map(|i| (i..i + 100).map(line).collect::<Vec<_>>().join("\n").into_bytes())
            .collect(),
        "json1" => (0..EVENTS).map(|i| line(i).into_bytes()).collect(),
        _ => (0..EVENTS).step_by(100).map(spans).collect(),
    }
}

/// Decodes the messages from memory, as the source does, and records them: the same job without Kafka.
fn decode_and_record(topic: &str, messages: &[Vec<u8>]) -> Duration {
    let registry = Arc::new(SeriesRegistry::new(100_000));
    let mut engine = Engine::new(EngineConfig::default());
    let mut lines = LineDecoder::new(registry.clone(), DecoderConfig::default());
    let mut decoder = faultline_core::wire::Decoder::new(registry, DecoderConfig::default());
    let mapping = SpanMapping::new(&[], &[]);
    let started = Instant::now();
    let mut batch = SourceBatch::default();
    for (n, m) in messages.iter().enumerate() {
        if topic.starts_with("otlp") {
            decode_traces(m, &mut decoder, &mapping, Some(now()), &mut batch).expect("a request");
        } else {
            lines.decode_lines(m, Some(now()), &mut batch);
        }
        if batch.events.len() >= 2048 || n + 1 == messages.len() {
            engine.record(InputId(0), &batch.events);
            batch = SourceBatch::default();
        }
    }
    started.elapsed()
}

fn bench(c: &mut Criterion) {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let mut g = c.benchmark_group("kafka");
    g.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(EVENTS as u64));
    for topic in ["json100", "json1", "otlp100"] {
        // The baseline: the same decoded events recorded alone.
        let mut decoded: Vec<Vec<Event>> = Vec::new();
        consume(&brokers, topic, |events| decoded.push(events.to_vec()));
        g.bench_function(format!("{topic}/record_only"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut engine = Engine::new(EngineConfig::default());
                    let started = Instant::now();
                    for events in &decoded {
                        engine.record(InputId(0), events);
                    }
                    total += started.elapsed();
                }
                total
            });
        });
        let messages = payloads(topic);
        g.bench_function(format!("{topic}/decode_and_record"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| decode_and_record(topic, &messages)).sum());
        });
        g.bench_function(format!("{topic}/consume_and_record"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut engine = Engine::new(EngineConfig::default());
                    total += consume(&brokers, topic, |events| {
                        engine.record(InputId(0), events);
                    });
                }
                total
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
