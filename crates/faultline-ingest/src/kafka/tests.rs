//! The Kafka source against librdkafka's mock cluster (in process, real protocol on loopback).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use faultline_core::wire::DecoderConfig;
use faultline_core::{Millis, Position, RejectReason, SeriesRegistry};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::*;
use crate::source::{SourceMessage, SourceStats};

fn now() -> Millis {
    Millis(1_795_197_700_000)
}

fn line(i: usize) -> String {
    format!(
        r#"{{"ts":{},"service":"svc{}","operation":"GET /x","kind":"request","status":200,"latency_ms":{}}}"#,
        1_795_197_600_000u64 + i as u64 * 10,
        i % 3,
        10 + i % 7
    )
}

fn produce(brokers: &str, topic: &str, records: &[(Option<i32>, Vec<u8>)]) {
    let producer: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("a producer");
    for (partition, payload) in records {
        let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(payload);
        if let Some(p) = partition {
            r = r.partition(*p);
        }
        producer.send(r).map_err(|(e, _)| e).expect("queued");
    }
    producer.flush(Duration::from_secs(10)).expect("flushed");
}

fn source(brokers: &str, group: &str, topics: &[&str]) -> (KafkaConfig, Arc<SeriesRegistry>) {
    let mut config = KafkaConfig::new(brokers, group, topics);
    config.settings.push(("session.timeout.ms".into(), "6000".into()));
    config.settings.push(("heartbeat.interval.ms".into(), "500".into()));
    config.settings.push(("max.poll.interval.ms".into(), "10000".into()));
    config.batch_events = 16;
    (config, Arc::new(SeriesRegistry::new(1000)))
}

fn lines(registry: &Arc<SeriesRegistry>) -> Payload {
    Payload::Lines(Box::new(LineDecoder::new(registry.clone(), DecoderConfig::default())))
}

/// A running source: its thread, its queue, its stop flag.
struct Running {
    rx: Receiver<SourceMessage>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    stats: Arc<KafkaStats>,
    names: Vec<String>,
    committed: Arc<crate::source::Committed>,
}

impl Running {
    fn start(source: KafkaSource, start: StartAt, queue: usize) -> Running {
        let (tx, rx) = sync_channel(queue);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = source.kafka_stats();
        let names = source.partitions();
        let committed = Arc::new(crate::source::Committed::default());
        let out = BatchSender::new(0, tx, Arc::new(SourceStats::default())).with_committed(committed.clone());
        let s = stop.clone();
        let thread = Some(std::thread::spawn(move || Box::new(source).run(start, out, s)));
        Running { rx, stop, thread, stats, names, committed }
    }

    /// Receives until `events` events came (or the deadline): the batches, in order.
    fn until(&self, events: usize, within: Duration) -> Vec<SourceBatch> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        let mut n = 0;
        while n < events && Instant::now() < deadline {
            if let Ok(SourceMessage::Batch { batch, .. }) = self.rx.recv_timeout(Duration::from_millis(50)) {
                n += batch.events.len();
                got.push(batch);
            }
        }
        got
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        // Drain so a blocked send returns.
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            let _ = self.rx.recv_timeout(Duration::from_millis(10));
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("no panic").expect("the source ran without error");
        }
    }
}

fn events(batches: &[SourceBatch]) -> usize {
    batches.iter().map(|b| b.events.len()).sum()
}

/// The last position of each partition in `batches`.
fn positions(batches: &[SourceBatch], names: &[String]) -> StartAt {
    let mut at = StartAt::new();
    for b in batches {
        if let Some(p) = b.position {
            at.insert(names[b.partition].clone(), p);
        }
    }
    at
}

#[test]
fn malformed_messages_are_counted_per_topic_and_reason_dead_lettered_and_never_stop_the_consumer() {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic("telemetry", 2, 1).expect("topic");
    cluster.create_topic("dead", 1, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let mut records: Vec<(Option<i32>, Vec<u8>)> = Vec::new();
    for i in 0..40 {
        records.push((Some((i % 2) as i32), line(i).into_bytes()));
    }
    // Three lines in one message, one of them broken JSON.
    records.push((Some(0), format!("{}\n{{\"ts\":\n{}\n", line(40), line(41)).into_bytes()));
    // Wrong schema: valid JSON without a kind.
    records.push((Some(1), br#"{"ts":1795197600000,"service":"svc0"}"#.to_vec()));
    // Oversize.
    records.push((Some(1), vec![b'x'; 3000]));
    // NaN latency.
    records.push((
        Some(0),
        br#"{"ts":1795197600000,"service":"svc0","operation":"GET /x","kind":"request","status":200,"latency_ms":NaN}"#
            .to_vec(),
    ));
    produce(&brokers, "telemetry", &records);

    let (mut config, registry) = source(&brokers, "g1", &["telemetry"]);
    config.max_message_bytes = 2048;
    config.dead_letter_topic = Some("dead".into());
    let src = KafkaSource::connect("kafka", config, lines(&registry), now).expect("connected");
    assert_eq!(src.partitions(), vec!["telemetry/0".to_string(), "telemetry/1".to_string()]);
    let run = Running::start(src, StartAt::new(), 64);
    let batches = run.until(42, Duration::from_secs(20));
    // Wait for the last rejected messages' batch too.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut batches = batches;
    while batches.iter().map(|b| b.rejects.total()).sum::<u64>() < 4 && Instant::now() < deadline {
        batches.extend(run.until(1, Duration::from_millis(200)));
    }
    assert_eq!(events(&batches), 42, "every good line decoded once");
    let mut rejects = faultline_core::RejectCounts::default();
    for b in &batches {
        for (r, n) in b.rejects.iter() {
            rejects.add_n(r, n);
        }
    }
    assert_eq!(rejects.total(), 4, "the broken line, the wrong schema, the oversize message, the NaN");
    assert!(rejects.get(RejectReason::InvalidJson) >= 1, "{rejects:?}");
    assert_eq!(rejects.get(RejectReason::LineTooLong), 1);
    let sample = batches.iter().flat_map(|b| &b.errors).find(|e| e.error.reason == RejectReason::LineTooLong);
    assert!(sample.is_some_and(|s| s.origin.starts_with("telemetry/1@")), "{sample:?}");
    let by_topic = run.stats.rejected.lock().expect("lock").clone();
    assert_eq!(by_topic.get(&("telemetry".to_string(), "oversize")), Some(&1));
    assert_eq!(by_topic.values().sum::<u64>(), 4);
    assert_eq!(run.stats.dead_lettered.load(Ordering::Relaxed), 4, "one copy per rejected message");
    // Positions reach the end of both partitions.
    let at = positions(&batches, &run.names);
    assert_eq!(at.get("telemetry/0"), Some(&Position::Partition { next_offset: 22 }));
    assert_eq!(at.get("telemetry/1"), Some(&Position::Partition { next_offset: 22 }));
    run.stop();

    // The dead-letter topic holds the three messages with where they came from.
    let dlq: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "dlq-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    dlq.subscribe(&["dead"]).expect("subscribed");
    let mut copies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while copies.len() < 4 && Instant::now() < deadline {
        if let Some(Ok(m)) = dlq.poll(Duration::from_millis(100)) {
            let h = m.headers().expect("headers");
            let header = |k: &str| {
                h.iter().find(|h| h.key == k).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).to_string())
            };
            let from = format!(
                "{}/{}@{}",
                header("faultline.topic").unwrap_or_default(),
                header("faultline.partition").unwrap_or_default(),
                header("faultline.offset").unwrap_or_default()
            );
            copies.push((from, header("faultline.reason").unwrap_or_default(), m.payload().map_or(0, <[u8]>::len)));
        }
    }
    copies.sort();
    assert_eq!(copies.len(), 4, "{copies:?}");
    assert!(
        copies.contains(&("telemetry/0@20".to_string(), "invalid_json".to_string(), records[40].1.len())),
        "{copies:?}"
    );
    assert!(copies.contains(&("telemetry/1@21".to_string(), "oversize".to_string(), 3000)), "{copies:?}");
}

#[test]
fn a_restart_at_the_checkpointed_offsets_neither_loses_nor_counts_twice() {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic("telemetry", 3, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let all: Vec<(Option<i32>, Vec<u8>)> = (0..90).map(|i| (Some((i % 3) as i32), line(i).into_bytes())).collect();
    produce(&brokers, "telemetry", &all[..60]);
    let (config, registry) = source(&brokers, "g2", &["telemetry"]);
    let src = KafkaSource::connect("kafka", config.clone(), lines(&registry), now).expect("connected");
    let run = Running::start(src, StartAt::new(), 64);
    let first = run.until(60, Duration::from_secs(20));
    assert_eq!(events(&first), 60);
    // A checkpoint after the first 60 (the positions of those batches); nothing was committed to the group.
    let at = positions(&first, &run.names);
    run.stop();
    produce(&brokers, "telemetry", &all[60..]);
    // The group's committed offsets are none (never published as durable): the checkpoint alone says where.
    let src = KafkaSource::connect("kafka", config, lines(&registry), now).expect("connected");
    let run = Running::start(src, at, 64);
    let second = run.until(30, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    let mut second = second;
    second.extend(run.until(1, Duration::from_millis(300)));
    assert_eq!(events(&second), 30, "only what came after the checkpoint");
    let stamps: Vec<i64> = second.iter().flat_map(|b| b.events.iter().map(|e| e.ts.0)).collect();
    assert!(stamps.iter().all(|t| *t >= 1_795_197_600_000 + 600), "{stamps:?}");
    run.stop();
}

#[test]
fn the_group_offsets_follow_the_durable_checkpoint_never_ahead() {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic("telemetry", 1, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let all: Vec<(Option<i32>, Vec<u8>)> = (0..20).map(|i| (Some(0), line(i).into_bytes())).collect();
    produce(&brokers, "telemetry", &all);
    let (config, registry) = source(&brokers, "g3", &["telemetry"]);
    let src = KafkaSource::connect("kafka", config, lines(&registry), now).expect("connected");
    let run = Running::start(src, StartAt::new(), 64);
    assert_eq!(events(&run.until(20, Duration::from_secs(20))), 20);
    let committed_offset = |group: &str| -> Option<i64> {
        let c: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", &brokers).set("group.id", group).create().expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("telemetry", 0);
        let got = c.committed_offsets(tpl, Duration::from_secs(5)).expect("committed offsets");
        got.elements().first().and_then(|e| e.offset().to_raw()).filter(|o| *o >= 0)
    };
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(committed_offset("g3"), None, "nothing durable yet: nothing committed");
    let mut durable = BTreeMap::new();
    durable.insert("telemetry/0".to_string(), Position::Partition { next_offset: 12 });
    run.committed.publish(&durable);
    let deadline = Instant::now() + Duration::from_secs(10);
    while committed_offset("g3") != Some(12) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(committed_offset("g3"), Some(12));
    run.stop();
}

#[test]
fn a_full_engine_queue_pauses_the_partitions_and_loses_nothing() {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic("telemetry", 2, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let all: Vec<(Option<i32>, Vec<u8>)> = (0..400).map(|i| (Some((i % 2) as i32), line(i).into_bytes())).collect();
    produce(&brokers, "telemetry", &all);
    let (config, registry) = source(&brokers, "g4", &["telemetry"]);
    let src = KafkaSource::connect("kafka", config, lines(&registry), now).expect("connected");
    // A queue of one batch, read slowly.
    let run = Running::start(src, StartAt::new(), 1);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while events(&got) < 400 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        got.extend(run.until(1, Duration::from_millis(50)));
    }
    assert_eq!(events(&got), 400, "every event once");
    assert!(run.stats.pauses.load(Ordering::Relaxed) > 0, "the partitions were paused");
    // In order within each partition.
    for p in 0..2 {
        let ts: Vec<i64> =
            got.iter().filter(|b| b.partition == p).flat_map(|b| b.events.iter().map(|e| e.ts.0)).collect();
        assert!(ts.windows(2).all(|w| w[0] < w[1]), "partition {p} in order");
    }
    run.stop();
}

#[test]
fn lag_is_the_high_watermark_minus_the_position_and_survives_a_broker_outage() {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic("telemetry", 1, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let all: Vec<(Option<i32>, Vec<u8>)> = (0..50).map(|i| (Some(0), line(i).into_bytes())).collect();
    produce(&brokers, "telemetry", &all[..30]);
    let (config, registry) = source(&brokers, "g5", &["telemetry"]);
    let src = KafkaSource::connect("kafka", config, lines(&registry), now).expect("connected");
    let run = Running::start(src, StartAt::new(), 64);
    assert_eq!(events(&run.until(30, Duration::from_secs(20))), 30);
    let deadline = Instant::now() + Duration::from_secs(10);
    while run.stats.lag(0) != Some(0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(run.stats.lag(0), Some(0), "caught up");
    assert!(run.stats.assigned[0].load(Ordering::Relaxed));
    cluster.broker_down(1).expect("down");
    std::thread::sleep(Duration::from_millis(1500));
    cluster.broker_up(1).expect("up");
    produce(&brokers, "telemetry", &all[30..]);
    assert_eq!(events(&run.until(20, Duration::from_secs(30))), 20, "the rest after the outage, once");
    run.stop();
}

#[test]
fn two_members_of_one_group_share_the_partitions_and_a_revoked_partition_ends() {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic("telemetry", 4, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let (config, registry) = source(&brokers, "g6", &["telemetry"]);
    let a = Running::start(
        KafkaSource::connect("kafka", config.clone(), lines(&registry), now).expect("a"),
        StartAt::new(),
        64,
    );
    // Wait for a to own all four.
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.stats.assigned.iter().filter(|x| x.load(Ordering::Relaxed)).count() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let b =
        Running::start(KafkaSource::connect("kafka", config, lines(&registry), now).expect("b"), StartAt::new(), 64);
    // The mock cluster's cooperative rebalances take rounds of about 5 s, and some runs need
    // several before the revoked partitions land on b.
    let deadline = Instant::now() + Duration::from_secs(90);
    let owned = |r: &Running| r.stats.assigned.iter().filter(|x| x.load(Ordering::Relaxed)).count();
    while (owned(&a) + owned(&b) != 4 || owned(&b) == 0 || owned(&a) == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!((owned(&a), owned(&b)), (2, 2), "shared");
    // a said its revoked partitions ended.
    let mut ended = Vec::new();
    while let Ok(m) = a.rx.try_recv() {
        if let SourceMessage::End { partition, .. } = m {
            ended.push(partition);
        }
    }
    // Every partition b took was handed over and ended by a (cooperative rebalancing revokes
    // only those; with eager rebalancing a would end all four and revive the two it keeps).
    for p in 0..4 {
        if b.stats.assigned[p].load(Ordering::Relaxed) {
            assert!(ended.contains(&p), "b owns {p}, a ended {ended:?}");
        }
    }
    let all: Vec<(Option<i32>, Vec<u8>)> = (0..80).map(|i| (Some((i % 4) as i32), line(i).into_bytes())).collect();
    produce(&brokers, "telemetry", &all);
    let got_a = a.until(40, Duration::from_secs(20));
    let got_b = b.until(40, Duration::from_secs(20));
    assert_eq!(events(&got_a) + events(&got_b), 80, "every event once overall");
    let a_parts: std::collections::BTreeSet<usize> = got_a.iter().map(|b| b.partition).collect();
    let b_parts: std::collections::BTreeSet<usize> = got_b.iter().map(|b| b.partition).collect();
    assert!(a_parts.is_disjoint(&b_parts));
    a.stop();
    b.stop();
}

/// An engine stand-in: takes a source's batches, and on a checkpoint request makes the
/// positions it has taken durable (as the service does once the checkpoint is on disk).
fn engine(run: Running) -> (std::thread::JoinHandle<Vec<SourceBatch>>, Arc<AtomicBool>) {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let handle = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut at = BTreeMap::new();
        while !d.load(Ordering::Acquire) {
            match run.rx.recv_timeout(Duration::from_millis(20)) {
                Ok(SourceMessage::Batch { batch, .. }) => {
                    if let Some(p) = batch.position {
                        at.insert(run.names[batch.partition].clone(), p);
                    }
                    got.push(batch);
                }
                Ok(SourceMessage::Checkpoint { .. }) => run.committed.publish(&at),
                _ => {}
            }
        }
        run.stop.store(true, Ordering::Release);
        while let Ok(m) = run.rx.recv_timeout(Duration::from_millis(200)) {
            if let SourceMessage::Batch { batch, .. } = m {
                got.push(batch);
            }
        }
        if let Some(t) = run.thread {
            t.join().expect("no panic").expect("ran");
        }
        got
    });
    (handle, done)
}

#[test]
fn a_member_joining_mid_stream_takes_over_at_the_checkpoint_of_what_was_consumed_so_every_event_counts_once() {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic("telemetry", 4, 1).expect("topic");
    cluster.create_topic("handover", 1, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let (mut config, registry) = source(&brokers, "g7", &["telemetry"]);
    config.handover = Duration::from_secs(5);
    config.handover_topic = Some("handover".into());
    let total = 2000;
    let producer = {
        let brokers = brokers.clone();
        std::thread::spawn(move || {
            for chunk in 0..40 {
                let recs: Vec<(Option<i32>, Vec<u8>)> =
                    (chunk * 50..chunk * 50 + 50).map(|i| (Some((i % 4) as i32), line(i).into_bytes())).collect();
                produce(&brokers, "telemetry", &recs);
                std::thread::sleep(Duration::from_millis(150));
            }
        })
    };
    let a = Running::start(
        KafkaSource::connect("kafka", config.clone(), lines(&registry), now).expect("a"),
        StartAt::new(),
        64,
    );
    let a_stats = a.stats.clone();
    let (a_engine, a_done) = engine(a);
    // b joins once a has consumed part of the stream.
    let deadline = Instant::now() + Duration::from_secs(30);
    while a_stats.messages.load(Ordering::Relaxed) < 300 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let b =
        Running::start(KafkaSource::connect("kafka", config, lines(&registry), now).expect("b"), StartAt::new(), 64);
    let b_stats = b.stats.clone();
    let (b_engine, b_done) = engine(b);
    producer.join().expect("produced");
    let consumed = || a_stats.messages.load(Ordering::Relaxed) + b_stats.messages.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(120);
    while consumed() < total as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    a_done.store(true, Ordering::Release);
    b_done.store(true, Ordering::Release);
    let (got_a, got_b) = (a_engine.join().expect("a"), b_engine.join().expect("b"));
    assert!(events(&got_b) > 0, "b took partitions over");
    let mut stamps: Vec<i64> = got_a.iter().chain(&got_b).flat_map(|b| b.events.iter().map(|e| e.ts.0)).collect();
    stamps.sort_unstable();
    let expected: Vec<i64> = (0..total).map(|i| 1_795_197_600_000 + i as i64 * 10).collect();
    let dups = stamps.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(stamps.len(), total, "every event once overall ({dups} twice)");
    assert_eq!(stamps, expected);
}

#[test]
fn otlp_protobuf_messages_as_the_collector_writes_them_decode_and_a_garbage_one_is_counted() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use prost::Message as _;

    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    };
    let request = |n: u64| ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", "checkout")], ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                spans: (0..10)
                    .map(|i| {
                        let start = (1_795_197_600_000 + n * 1000 + i * 10) * 1_000_000;
                        Span {
                            trace_id: vec![1; 16],
                            span_id: vec![2; 8],
                            name: "GET /cart".into(),
                            kind: 2,
                            start_time_unix_nano: start,
                            end_time_unix_nano: start + 20_000_000,
                            attributes: vec![kv("http.route", "/cart"), kv("http.request.method", "GET")],
                            status: Some(Status { code: if i == 0 { 2 } else { 0 }, ..Default::default() }),
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic("otlp_spans", 1, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let mut records: Vec<(Option<i32>, Vec<u8>)> = (0..5).map(|n| (None, request(n).encode_to_vec())).collect();
    records.insert(2, (None, b"\xff\xff not protobuf".to_vec()));
    produce(&brokers, "otlp_spans", &records);
    let (config, registry) = source(&brokers, "g8", &["otlp_spans"]);
    let payload = Payload::Otlp {
        signal: OtlpSignal::Traces,
        json: false,
        mapping: crate::otlp::SpanMapping::new(&[], &[]),
        registry: registry.clone(),
        decoder: DecoderConfig::default(),
    };
    let run =
        Running::start(KafkaSource::connect("spans", config, payload, now).expect("connected"), StartAt::new(), 64);
    let mut batches = run.until(50, Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(5);
    while batches.iter().map(|b| b.rejects.total()).sum::<u64>() < 1 && Instant::now() < deadline {
        batches.extend(run.until(1, Duration::from_millis(200)));
    }
    assert_eq!(events(&batches), 50, "ten spans a request, five requests");
    let errors: u64 = batches
        .iter()
        .flat_map(|b| &b.events)
        .filter(|e| matches!(e.body, faultline_core::EventBody::Request(r) if r.is_error))
        .count() as u64;
    assert_eq!(errors, 5, "one error span a request");
    let key = registry.key(batches[0].events[0].series);
    assert_eq!((&*key.service, &*key.name), ("checkout", "GET /cart"));
    let unparsed: u64 = batches.iter().map(|b| b.rejects.get(RejectReason::Unparsed)).sum();
    assert_eq!(unparsed, 1, "the garbage message");
    let sample = batches.iter().flat_map(|b| &b.errors).next().expect("a sample");
    assert_eq!(sample.origin, "otlp_spans/0@2");
    assert!(sample.error.detail.contains("ExportTraceServiceRequest"), "{}", sample.error.detail);
    run.stop();
}
