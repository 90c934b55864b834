//! The Kafka source: an rdkafka consumer in a consumer group, one engine input per topic partition.
//!
//! - **Partitions.** At start the source reads its topics' metadata and declares
//!   one partition per topic partition (`topic/N`), each its own engine input,
//!   so each holds back the watermark on its own until idle. When the group
//!   revokes a partition the source sends what it consumed of it and ends it
//!   (it holds the watermark back no more); when a partition is assigned again
//!   its next batch makes it live again.
//! - **Exactly-once state.** A batch carries [`Position::Partition`], the offset
//!   after its last message, into the engine's checkpoint. On assignment the
//!   consumer starts each partition at the checkpointed offset (in the
//!   rebalance callback, before the first fetch), or where this process got to
//!   if it held the partition before, so a restart neither loses nor counts a
//!   message twice. The group's committed offsets follow the durable
//!   checkpoints (for lag tools), never ahead of them: a rejected message is
//!   counted before any offset past it is committed.
//! - **Back-pressure.** When the engine's queue is full the source pauses its
//!   partitions and keeps polling (so the group does not drop it), and resumes
//!   once the queue took the batch.
//! - **Bad messages** (oversize, undecodable, wrong schema) are counted per
//!   topic and reason, copied to the dead-letter topic when one is configured
//!   (flushed before the batch after them goes to the engine), and never stop
//!   the consumer.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use faultline_core::wire::{Decoder, DecoderConfig};
use faultline_core::{Millis, Position, RejectReason, SeriesRegistry};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use crate::decode::LineDecoder;
use crate::otlp::{Body, Signal, SpanMapping, decode_body, metrics::Streams};
use crate::source::{BatchSender, NotQueued, Offer, RejectSample, Source, SourceBatch, StartAt};

mod handover;
#[cfg(test)]
mod tests;

use handover::HandoverLog;

/// The default largest message, bytes (librdkafka's own default fetch limit per message is 1 MB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

/// What a topic's messages hold.
#[derive(Debug)]
pub enum Payload {
    /// Lines (one or many per message) in a line format: the event JSON of DESIGN.md, or a log format.
    Lines(Box<LineDecoder>),
    /// One OTLP `Export*ServiceRequest` per message, protobuf (`json: false`, the
    /// Collector's `otlp_proto` encoding) or OTLP/JSON (`otlp_json`).
    Otlp {
        /// Traces, metrics or logs.
        signal: OtlpSignal,
        /// OTLP/JSON instead of protobuf.
        json: bool,
        /// Attributes to dimensions.
        mapping: SpanMapping,
        /// The registry events are interned into.
        registry: Arc<SeriesRegistry>,
        /// The event rules.
        decoder: DecoderConfig,
    },
}

/// An OTLP signal, as a Kafka topic carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpSignal {
    /// `ExportTraceServiceRequest`.
    Traces,
    /// `ExportMetricsServiceRequest`.
    Metrics,
    /// `ExportLogsServiceRequest`.
    Logs,
}

impl OtlpSignal {
    fn signal(self) -> Signal {
        match self {
            OtlpSignal::Traces => Signal::Traces,
            OtlpSignal::Metrics => Signal::Metrics,
            OtlpSignal::Logs => Signal::Logs,
        }
    }
}

/// How a Kafka source connects and what it reads.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// `group.id`.
    pub group: String,
    /// Topics to consume, all with the same payload.
    pub topics: Vec<String>,
    /// Larger messages are rejected (counted, dead-lettered), never decoded.
    pub max_message_bytes: usize,
    /// Where rejected messages are copied, when set.
    pub dead_letter_topic: Option<String>,
    /// Extra librdkafka settings (security.protocol, sasl.*, ssl.*, session.timeout.ms…), secrets included.
    pub settings: Vec<(String, String)>,
    /// Events per batch, about.
    pub batch_events: usize,
    /// How long the start waits for the topics' metadata.
    pub metadata_timeout: Duration,
    /// How long a revocation waits for a durable checkpoint of what was consumed
    /// of the revoked partitions before they go (zero when checkpoints are off:
    /// the consumed offsets are committed at once).
    pub handover: Duration,
    /// The hand-over log topic (compacted, shared by the group's members): a revoked
    /// partition's checkpointed offset is written there for its next owner.
    pub handover_topic: Option<String>,
    /// Where each partition's series state is kept, shared by the group's instances: a
    /// partition's state then moves with it (adopted on assignment, released on revocation).
    pub partition_store: Option<crate::PartitionStore>,
}

impl KafkaConfig {
    /// A config for `topics` on `brokers` in `group`, with the defaults.
    pub fn new(brokers: &str, group: &str, topics: &[&str]) -> KafkaConfig {
        KafkaConfig {
            brokers: brokers.to_string(),
            group: group.to_string(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            dead_letter_topic: None,
            settings: Vec::new(),
            batch_events: 4096,
            metadata_timeout: Duration::from_secs(10),
            handover: Duration::ZERO,
            handover_topic: None,
            partition_store: None,
        }
    }

    /// A client config: `defaults`, then the configured settings over them.
    fn client(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        self.client_with(defaults, |_| true)
    }

    /// The config of this source's producers (dead letters, hand-over log): the settings
    /// without the consumer's own, which librdkafka would warn about.
    fn producer_client(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        self.client_with(defaults, |k| !is_consumer_setting(k))
    }

    fn client_with(&self, defaults: &[(&str, &str)], keep: impl Fn(&str) -> bool) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in self.settings.iter().filter(|(k, _)| keep(k)) {
            c.set(k, v);
        }
        c
    }
}

/// Whether a librdkafka setting is a consumer's only (a producer ignores it, with a warning).
fn is_consumer_setting(key: &str) -> bool {
    const CONSUMER: &[&str] = &[
        "group.instance.id",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "group.protocol",
        "group.protocol.type",
        "group.remote.assignor",
        "coordinator.query.interval.ms",
        "max.poll.interval.ms",
        "auto.commit.interval.ms",
        "auto.offset.reset",
        "partition.assignment.strategy",
        "queued.min.messages",
        "queued.max.messages.kbytes",
        "fetch.wait.max.ms",
        "fetch.queue.backoff.ms",
        "fetch.message.max.bytes",
        "max.partition.fetch.bytes",
        "fetch.max.bytes",
        "fetch.min.bytes",
        "fetch.error.backoff.ms",
        "isolation.level",
        "check.crcs",
        "allow.auto.create.topics",
        "enable.partition.eof",
    ];
    CONSUMER.contains(&key)
}

/// Counters of a Kafka source for `/metrics`, beside the source's own.
#[derive(Debug, Default)]
pub struct KafkaStats {
    /// Per partition (the source's partition order): the broker's high watermark, -1 unknown.
    pub high_watermarks: Vec<AtomicI64>,
    /// Per partition: the offset after the last message consumed, -1 none yet.
    pub positions: Vec<AtomicI64>,
    /// Per partition: 1 while assigned to this instance.
    pub assigned: Vec<AtomicBool>,
    /// Messages consumed.
    pub messages: AtomicU64,
    /// Times the partitions were paused because the engine's queue was full.
    pub pauses: AtomicU64,
    /// Rejected messages (or records in them) by (topic, reason).
    pub rejected: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Messages copied to the dead-letter topic.
    pub dead_lettered: AtomicU64,
    /// Dead-letter copies that failed.
    pub dead_letter_failures: AtomicU64,
    /// Rebalances seen (assignments and revocations).
    pub rebalances: AtomicU64,
}

impl KafkaStats {
    fn new(partitions: usize) -> KafkaStats {
        KafkaStats {
            high_watermarks: (0..partitions).map(|_| AtomicI64::new(-1)).collect(),
            positions: (0..partitions).map(|_| AtomicI64::new(-1)).collect(),
            assigned: (0..partitions).map(|_| AtomicBool::new(false)).collect(),
            ..KafkaStats::default()
        }
    }

    /// Messages behind the broker's high watermark, per partition, where both ends are known.
    pub fn lag(&self, partition: usize) -> Option<i64> {
        let hi = self.high_watermarks.get(partition)?.load(Ordering::Relaxed);
        let at = self.positions.get(partition)?.load(Ordering::Relaxed);
        (hi >= 0 && at >= 0).then(|| (hi - at).max(0))
    }

    fn reject(&self, topic: &str, reason: &'static str, n: u64) {
        let mut r = self.rejected.lock().unwrap_or_else(PoisonError::into_inner);
        *r.entry((topic.to_string(), reason)).or_insert(0) += n;
    }
}

/// What the poll loop and the rebalance callback share. The callback runs inside
/// `poll`, on the source's own thread, so the lock is never contended: it is there
/// because the callback only gets `&self`.
struct Shared {
    out: BatchSender,
    /// Batches being filled, per partition.
    pending: Vec<Option<Pending>>,
    /// A batch the engine's full queue refused: it goes before anything else.
    blocked: Option<Pending>,
    /// Partitions ended for the engine because they are not assigned here.
    released: Vec<bool>,
    /// Partitions assigned here now.
    owned: Vec<bool>,
    /// Where each partition resumes, by partition index: the checkpoint's offset, then this
    /// process's own progress (a slot per partition: it is written for every message).
    resume: Vec<Option<i64>>,
    /// The offsets last committed to the group, per partition.
    committed: HashMap<usize, i64>,
    /// The engine has stopped: so does the source.
    stopped: bool,
    /// Where revoked partitions' offsets go for their next owner.
    handover_log: Option<HandoverLog>,
}

/// The consumer's context: starts assigned partitions where state resumes,
/// hands revoked ones over, reads statistics.
struct Context {
    name: String,
    partitions: Vec<(String, i32)>,
    names: Vec<String>,
    index: HashMap<(String, i32), usize>,
    stats: Arc<KafkaStats>,
    shared: Mutex<Shared>,
    dead_letters: Option<(ThreadedProducer<DefaultProducerContext>, String)>,
    /// How long a revocation waits for a checkpoint of what was consumed (zero: checkpoints are off).
    handover: Duration,
    /// Where partitions' series state is kept, when it moves with them.
    store: Option<crate::PartitionStore>,
}

impl ClientContext for Context {
    fn stats(&self, statistics: Statistics) {
        for (name, topic) in &statistics.topics {
            for (p, part) in &topic.partitions {
                if let Some(&idx) = self.index.get(&(name.clone(), *p))
                    && let Some(hw) = self.stats.high_watermarks.get(idx)
                    && part.hi_offset >= 0
                {
                    hw.store(part.hi_offset, Ordering::Relaxed);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Broker connections drop and come back; librdkafka retries on its own.
        tracing::warn!(source = %self.name, %error, reason, "kafka client error");
    }
}

impl ConsumerContext for Context {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        self.stats.rebalances.fetch_add(1, Ordering::Relaxed);
        let parts: Vec<(String, i32)> = tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
        let idx: Vec<usize> = parts.iter().filter_map(|k| self.index.get(k).copied()).collect();
        let mut sh = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // Start where whoever held the partition last got to durably: this process's
                // own progress, the hand-over log, or the group's committed offset (offsets only
                // grow, so the largest is the latest).
                if let Some(log) = sh.handover_log.as_mut() {
                    log.catch_up(Duration::from_secs(5));
                }
                let committed: HashMap<(String, i32), i64> = consumer
                    .committed_offsets(tpl.clone(), Duration::from_secs(5))
                    .map(|c| {
                        c.elements()
                            .iter()
                            .filter_map(|e| Some(((e.topic().to_string(), e.partition()), e.offset().to_raw()?)))
                            .collect()
                    })
                    .unwrap_or_default();
                for (&i, key) in idx.iter().zip(&parts) {
                    // A partition's own checkpoint holds its series' state at one offset: the
                    // partition resumes exactly there.
                    if let Some(store) = &self.store {
                        let state = match store.load(&self.names[i]) {
                            Ok(state) => state,
                            Err(e) => {
                                tracing::error!(source = %self.name, error = %e, "partition state not read: the partition starts without it");
                                None
                            }
                        };
                        let at = match state.as_ref().and_then(|s| s.position) {
                            Some(Position::Partition { next_offset }) => Some(next_offset),
                            _ => None,
                        };
                        let adopted = state.is_some();
                        if !sh.out.adopt(i, state.map(Box::new)) {
                            sh.stopped = true;
                        }
                        if adopted {
                            sh.resume[i] = at;
                            continue;
                        }
                    }
                    let from_log = sh.handover_log.as_ref().and_then(|l| l.get(&self.names[i]));
                    let known = [sh.resume[i], from_log, committed.get(key).copied().filter(|o| *o >= 0)];
                    if let Some(start) = known.into_iter().flatten().max() {
                        sh.resume[i] = Some(start);
                    }
                }
                for (&i, (topic, p)) in idx.iter().zip(&parts) {
                    if let Some(offset) = &sh.resume[i]
                        && let Err(e) = tpl.set_partition_offset(topic, *p, Offset::Offset(*offset))
                    {
                        tracing::error!(source = %self.name, topic, partition = p, error = %e, "cannot start the partition at its checkpointed offset");
                    }
                }
                let assigned = if cooperative { consumer.incremental_assign(tpl) } else { consumer.assign(tpl) };
                if let Err(e) = assigned {
                    tracing::error!(source = %self.name, error = %e, "kafka assignment failed");
                }
                if !cooperative {
                    sh.owned.fill(false);
                }
                for &i in &idx {
                    sh.owned[i] = true;
                    self.stats.assigned[i].store(true, Ordering::Relaxed);
                }
                tracing::info!(source = %self.name, partitions = ?parts, "kafka partitions assigned");
                // The partitions not ours are another member's: they hold this instance's
                // watermark back no more.
                for p in 0..self.partitions.len() {
                    if sh.owned[p] {
                        sh.released[p] = false;
                    } else {
                        self.release(&mut sh, p);
                    }
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.hand_over(consumer, &mut sh, &idx);
                let unassigned = if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() };
                if let Err(e) = unassigned {
                    tracing::error!(source = %self.name, error = %e, "kafka unassignment failed");
                }
                for &i in &idx {
                    sh.owned[i] = false;
                    self.stats.assigned[i].store(false, Ordering::Relaxed);
                }
                tracing::info!(source = %self.name, partitions = ?parts, "kafka partitions revoked");
            }
            other => {
                tracing::error!(source = %self.name, error = ?other, "kafka rebalance failed");
                let _ = consumer.unassign();
                sh.owned.fill(false);
            }
        }
    }
}

impl Context {
    /// Ends partition `p` for the engine once (it is not ours now); its next
    /// batch, if it comes back, makes it live again.
    fn release(&self, sh: &mut Shared, p: usize) {
        if !std::mem::replace(&mut sh.released[p], true) && !sh.out.end(p) {
            sh.stopped = true;
        }
    }

    /// Queues `pending` for the engine: waiting while its queue is full when
    /// `wait`, else handing a refused batch back (`Some`).
    fn deliver(&self, sh: &mut Shared, pending: Pending, wait: bool) -> Option<Pending> {
        if pending.dead_lettered
            && let Some((producer, dlq)) = &self.dead_letters
            && let Err(e) = producer.flush(Duration::from_secs(10))
        {
            self.stats.dead_letter_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(source = %self.name, topic = %dlq, error = %e, "dead-letter copies not confirmed");
        }
        if wait {
            if !sh.out.send(pending.batch) {
                sh.stopped = true;
            }
            return None;
        }
        let Pending { batch, since, .. } = pending;
        match sh.out.offer(batch) {
            Offer::Queued => None,
            Offer::Refused(NotQueued::Stopped, _) => {
                sh.stopped = true;
                None
            }
            Offer::Refused(NotQueued::Full, batch) => Some(Pending { batch, since, dead_lettered: false }),
        }
    }

    /// A revocation: what was consumed of `revoked` goes to the engine, a checkpoint
    /// of it is asked for and awaited (within the hand-over time), the group's
    /// offsets move to it, and the partitions end here.
    fn hand_over(&self, consumer: &BaseConsumer<Self>, sh: &mut Shared, revoked: &[usize]) {
        // In partition order: the refused batch first, then what waits behind it.
        if let Some(b) = sh.blocked.take() {
            self.deliver(sh, b, true);
        }
        for &p in revoked {
            if let Some(b) = sh.pending[p].take() {
                self.deliver(sh, b, true);
            }
        }
        let consumed: Vec<(usize, i64)> = revoked.iter().filter_map(|&p| sh.resume[p].map(|o| (p, o))).collect();
        let durable = |sh: &Shared, p: usize| match sh.out.committed().get(&self.names[p]) {
            Some(Position::Partition { next_offset }) => Some(next_offset),
            _ => None,
        };
        let mut offsets: Vec<(usize, i64)> = consumed.clone();
        if self.store.is_some() && !sh.stopped {
            // The engine checkpoints the partitions' state into their files, then drops it;
            // the next owner must find those files, so this waits for them.
            for &p in revoked {
                let _ = sh.out.committed().take_released(&self.names[p]);
            }
            if sh.out.release(revoked.to_vec()) {
                let deadline = Instant::now() + self.handover;
                let mut waiting: Vec<usize> = revoked.to_vec();
                while !waiting.is_empty() && Instant::now() < deadline {
                    waiting.retain(|&p| !sh.out.committed().take_released(&self.names[p]));
                    std::thread::sleep(Duration::from_millis(5));
                }
                if !waiting.is_empty() {
                    tracing::warn!(source = %self.name, "the revoked partitions' state was not written within the hand-over time: their next owner starts from older files");
                }
            } else {
                sh.stopped = true;
            }
        }
        if !self.handover.is_zero() && !consumed.is_empty() && !sh.stopped {
            let behind = |sh: &Shared| consumed.iter().any(|&(p, o)| durable(sh, p).is_none_or(|d| d < o));
            if behind(sh) && sh.out.checkpoint() {
                let deadline = Instant::now() + self.handover;
                while behind(sh) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            if behind(sh) {
                tracing::warn!(source = %self.name, "no durable checkpoint of the revoked partitions within the hand-over time: the next owner reads again from the last one");
            }
            // Never commit past what a checkpoint holds: the next owner re-reads the rest.
            offsets = consumed.iter().filter_map(|&(p, _)| durable(sh, p).map(|d| (p, d))).collect();
        }
        if let Some(log) = sh.handover_log.as_mut() {
            let named: Vec<(&str, i64)> = offsets.iter().map(|&(p, o)| (self.names[p].as_str(), o)).collect();
            if let Err(e) = log.write(&named, self.handover.max(Duration::from_secs(5))) {
                tracing::warn!(source = %self.name, error = %e, "hand-over log not written: the next owner starts at the group's offset");
            }
        }
        let mut tpl = TopicPartitionList::new();
        for &(p, offset) in &offsets {
            let (topic, q) = &self.partitions[p];
            if sh.committed.get(&p) != Some(&offset)
                && tpl.add_partition_offset(topic, *q, Offset::Offset(offset)).is_ok()
            {
                sh.committed.insert(p, offset);
            }
        }
        if tpl.count() > 0
            && let Err(e) = consumer.commit(&tpl, CommitMode::Sync)
        {
            tracing::warn!(source = %self.name, error = %e, "committing the revoked partitions' offsets failed");
        }
        for &p in revoked {
            self.release(sh, p);
        }
    }
}

/// A Kafka consumer as a [`Source`] with one partition per topic partition.
pub struct KafkaSource {
    name: String,
    config: KafkaConfig,
    payload: Payload,
    /// (topic, partition) in the order of [`Source::partitions`].
    partitions: Vec<(String, i32)>,
    clock: fn() -> Millis,
    stats: Arc<KafkaStats>,
    handover_log: Option<HandoverLog>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Settings may hold credentials: only names are printed.
        f.debug_struct("KafkaSource")
            .field("name", &self.name)
            .field("brokers", &self.config.brokers)
            .field("group", &self.config.group)
            .field("topics", &self.config.topics)
            .finish_non_exhaustive()
    }
}

/// The partition name of `topic`'s partition `p`: `topic/p`.
pub fn partition_name(topic: &str, p: i32) -> String {
    format!("{topic}/{p}")
}

impl KafkaSource {
    /// Reads the topics' partitions from the brokers (waiting up to the
    /// config's metadata timeout): an unreachable cluster or a topic that does
    /// not exist fails the start, naming it.
    pub fn connect(
        name: &str,
        config: KafkaConfig,
        payload: Payload,
        clock: fn() -> Millis,
    ) -> std::io::Result<KafkaSource> {
        let probe: BaseConsumer = config
            .client(&[])
            .set("group.id", &config.group)
            .create()
            .map_err(|e| std::io::Error::other(format!("kafka source {name}: {e}")))?;
        let mut partitions = Vec::new();
        for topic in &config.topics {
            let meta = probe.fetch_metadata(Some(topic), config.metadata_timeout).map_err(|e| {
                std::io::Error::other(format!(
                    "kafka source {name}: no metadata for topic {topic} from {}: {e}",
                    config.brokers
                ))
            })?;
            let Some(t) = meta.topics().iter().find(|t| t.name() == topic) else {
                return Err(std::io::Error::other(format!("kafka source {name}: topic {topic} not in the metadata")));
            };
            if let Some(e) = t.error() {
                let e = rdkafka::error::RDKafkaErrorCode::from(e);
                return Err(std::io::Error::other(format!("kafka source {name}: topic {topic}: {e}")));
            }
            let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            if ids.is_empty() {
                return Err(std::io::Error::other(format!("kafka source {name}: topic {topic} has no partitions")));
            }
            ids.sort_unstable();
            partitions.extend(ids.into_iter().map(|p| (topic.clone(), p)));
        }
        let stats = Arc::new(KafkaStats::new(partitions.len()));
        let handover_log = match &config.handover_topic {
            Some(topic) => Some(
                HandoverLog::open(
                    &config.producer_client(&[]),
                    &config.client(&[]),
                    topic,
                    &config.group,
                    config.metadata_timeout,
                )
                .map_err(|e| std::io::Error::other(format!("kafka source {name}: {e}")))?,
            ),
            None => None,
        };
        Ok(KafkaSource { name: name.to_string(), config, payload, partitions, clock, stats, handover_log })
    }

    /// The source's Kafka counters.
    pub fn kafka_stats(&self) -> Arc<KafkaStats> {
        self.stats.clone()
    }
}

impl Source for KafkaSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn partitions(&self) -> Vec<String> {
        self.partitions.iter().map(|(t, p)| partition_name(t, *p)).collect()
    }

    fn kafka(&self) -> Option<Arc<KafkaStats>> {
        Some(self.stats.clone())
    }

    fn unbounded(&self) -> bool {
        true
    }

    fn partition_store(&self) -> Option<crate::PartitionStore> {
        self.config.partition_store.clone()
    }

    fn run(self: Box<Self>, start: StartAt, out: BatchSender, stop: Arc<AtomicBool>) -> std::io::Result<()> {
        let names = self.partitions();
        let index: HashMap<(String, i32), usize> =
            self.partitions.iter().cloned().enumerate().map(|(i, k)| (k, i)).collect();
        let mut resume = vec![None; names.len()];
        for (i, name) in names.iter().enumerate() {
            match start.get(name) {
                Some(Position::Partition { next_offset }) => {
                    resume[i] = Some(*next_offset);
                }
                Some(other) => tracing::warn!(partition = %name, position = ?other, "not a Kafka position: ignored"),
                None => {}
            }
        }
        let dead_letters = match &self.config.dead_letter_topic {
            Some(topic) => {
                let producer: ThreadedProducer<DefaultProducerContext> =
                    self.config.producer_client(&[("enable.idempotence", "true")]).create().map_err(|e| {
                        std::io::Error::other(format!("kafka source {} dead-letter producer: {e}", self.name))
                    })?;
                Some((producer, topic.clone()))
            }
            None => None,
        };
        let n = self.partitions.len();
        let shared = Shared {
            out,
            pending: (0..n).map(|_| None).collect(),
            blocked: None,
            released: vec![false; n],
            owned: vec![false; n],
            resume,
            committed: HashMap::new(),
            stopped: false,
            handover_log: self.handover_log,
        };
        let context = Context {
            name: self.name.clone(),
            partitions: self.partitions.clone(),
            names,
            index,
            stats: self.stats.clone(),
            shared: Mutex::new(shared),
            dead_letters,
            handover: self.config.handover,
            store: self.config.partition_store.clone(),
        };
        // Cooperative rebalancing moves only the partitions that change owner, and hands
        // them over while the group is stable (so their offsets can be committed).
        let mut client = self.config.client(&[
            ("auto.offset.reset", "earliest"),
            ("statistics.interval.ms", "1000"),
            ("partition.assignment.strategy", "cooperative-sticky"),
        ]);
        // Offsets live in the checkpoint: the group's are only a copy, committed by hand.
        client
            .set("group.id", &self.config.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false");
        let consumer: BaseConsumer<Context> = client
            .create_with_context(context)
            .map_err(|e| std::io::Error::other(format!("kafka source {}: {e}", self.name)))?;
        let topics: Vec<&str> = self.config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| std::io::Error::other(format!("kafka source {}: {e}", self.name)))?;
        let mut run = Run {
            clock: self.clock,
            decode: Decode::new(self.payload),
            max_bytes: self.config.max_message_bytes,
            batch_events: self.config.batch_events.max(1),
            paused: None,
            waited: None,
            taken: 0,
            now: Millis(0),
        };
        run.run(&consumer, &stop);
        // Leave the group now, so the partitions move on without waiting for the session timeout.
        consumer.unsubscribe();
        let _ = consumer.poll(Duration::from_millis(100));
        Ok(())
    }
}

/// How long consumed messages wait in a batch before it goes to the engine.
const LINGER: Duration = Duration::from_millis(20);
/// How often the group's offsets follow the durable checkpoint.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// The decoding side of a Kafka source.
#[expect(clippy::large_enum_variant, reason = "one per source, made once, never moved on the hot path")]
enum Decode {
    Lines(LineDecoder),
    Otlp { signal: Signal, json: bool, mapping: SpanMapping, decoder: Decoder, streams: Mutex<Streams> },
}

impl Decode {
    fn new(payload: Payload) -> Decode {
        match payload {
            Payload::Lines(d) => Decode::Lines(*d),
            Payload::Otlp { signal, json, mapping, registry, decoder } => Decode::Otlp {
                signal: signal.signal(),
                json,
                mapping,
                decoder: Decoder::new(registry, decoder),
                streams: Mutex::default(),
            },
        }
    }

    /// Decodes one message's payload into `batch`; `origin` names the message in a reject sample.
    fn message(&mut self, payload: &[u8], origin: &dyn Fn() -> String, now: Millis, batch: &mut SourceBatch) {
        match self {
            Decode::Lines(d) => {
                let first_error = batch.errors.len();
                d.set_line_no(0);
                d.decode_lines(payload, Some(now), batch);
                if batch.errors.len() > first_error {
                    let origin = origin();
                    for e in &mut batch.errors[first_error..] {
                        e.origin.clone_from(&origin);
                    }
                }
            }
            Decode::Otlp { signal, json, mapping, decoder, streams } => {
                let first_error = batch.errors.len();
                batch.records += 1;
                batch.bytes += payload.len() as u64;
                let body = if *json { Body::Json(payload) } else { Body::Proto(payload) };
                if let Err(why) = decode_body(*signal, body, decoder, mapping, streams, Some(now), batch) {
                    reject(batch, RejectReason::Unparsed, &why, &origin(), payload);
                } else if batch.errors.len() > first_error {
                    // Spans or points the mapping rejected: named by the message they came in.
                    let origin = origin();
                    for e in &mut batch.errors[first_error..] {
                        e.origin.clone_from(&origin);
                    }
                }
            }
        }
    }
}

/// Counts `record` as rejected for `reason` in `batch`, keeping a sample.
fn reject(batch: &mut SourceBatch, reason: RejectReason, detail: &str, origin: &str, record: &[u8]) {
    batch.rejects.add(reason);
    if batch.errors.len() < 16 {
        let e = faultline_core::wire::ParseError { line: 1, field: None, reason, detail: detail.to_string() };
        batch.errors.push(RejectSample::new(e, origin, record));
    }
}

/// A batch being filled for one partition, and when its first message came.
struct Pending {
    batch: SourceBatch,
    since: Instant,
    /// It holds a message copied to the dead-letter topic: flush that copy first.
    dead_lettered: bool,
}

/// The poll loop's own state (the rest is in the consumer's context).
struct Run {
    clock: fn() -> Millis,
    decode: Decode,
    max_bytes: usize,
    batch_events: usize,
    /// The partitions paused while the engine's queue is full.
    paused: Option<TopicPartitionList>,
    /// Since when the refused batch waits.
    waited: Option<Instant>,
    /// Messages taken so far: the clocks are read every [`CLOCK_EVERY`] of them, not per message.
    taken: u64,
    /// Processing time for the future-horizon check, read every [`CLOCK_EVERY`] messages.
    now: Millis,
}

/// Messages between two readings of the clocks (the processing time, the batches' linger):
/// a clock read per message cost a tenth of the consumer's time at one event a message.
const CLOCK_EVERY: u64 = 64;

impl Run {
    fn run(&mut self, consumer: &BaseConsumer<Context>, stop: &AtomicBool) {
        let ctx = consumer.context();
        let mut last_commit = Instant::now();
        while !stop.load(Ordering::Acquire) {
            let idle = match consumer.poll(Duration::from_millis(if self.paused.is_some() { 2 } else { 10 })) {
                Some(Ok(m)) => {
                    self.take(ctx, &m);
                    false
                }
                Some(Err(e)) => {
                    tracing::warn!(source = %ctx.name, error = %e, "kafka consumer error");
                    true
                }
                None => true,
            };
            if !self.send_ready(consumer, idle) {
                return;
            }
            if last_commit.elapsed() >= COMMIT_EVERY {
                commit_durable(consumer);
                last_commit = Instant::now();
            }
        }
        // Stopping: what was consumed goes to the engine (the service checkpoints it at shutdown).
        let mut sh = ctx.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = sh.blocked.take() {
            ctx.deliver(&mut sh, b, true);
        }
        for p in 0..sh.pending.len() {
            if let Some(b) = sh.pending[p].take() {
                ctx.deliver(&mut sh, b, true);
            }
        }
        drop(sh);
        commit_durable(consumer);
    }

    /// Decodes one message into its partition's batch.
    fn take(&mut self, ctx: &Context, m: &BorrowedMessage<'_>) {
        let (topic, p, offset, payload, key) = (m.topic(), m.partition(), m.offset(), m.payload(), m.key());
        // A scan: a source has few partitions, and a lookup by (String, i32) would allocate per message.
        let Some(idx) = ctx.partitions.iter().position(|(t, q)| *q == p && t == topic) else {
            // A partition added after start: read after a restart (its offsets are neither checkpointed nor committed).
            tracing::debug!(source = %ctx.name, topic, partition = p, "a message of a partition not known at start: left for the next start");
            return;
        };
        ctx.stats.messages.fetch_add(1, Ordering::Relaxed);
        if self.taken.is_multiple_of(CLOCK_EVERY) {
            self.now = (self.clock)();
        }
        self.taken += 1;
        let now = self.now;
        let origin = || format!("{topic}/{p}@{offset}");
        let mut sh = ctx.shared.lock().unwrap_or_else(PoisonError::into_inner);
        sh.released[idx] = false;
        sh.resume[idx] = Some(offset + 1);
        let pending = sh.pending[idx].get_or_insert_with(|| Pending {
            batch: SourceBatch { partition: idx, ..SourceBatch::default() },
            since: Instant::now(),
            dead_lettered: false,
        });
        let batch = &mut pending.batch;
        batch.position = Some(Position::Partition { next_offset: offset + 1 });
        let rejected_before = batch.rejects.total();
        let mut reason: Option<&'static str> = None;
        match payload {
            // A tombstone or an empty message: nothing to decode.
            None => batch.records += 1,
            Some(bytes) if bytes.len() > self.max_bytes => {
                batch.records += 1;
                batch.bytes += bytes.len() as u64;
                let why = format!("message of {} bytes, over the limit of {}", bytes.len(), self.max_bytes);
                reject(batch, RejectReason::LineTooLong, &why, &origin(), bytes);
                reason = Some("oversize");
            }
            Some(bytes) => {
                let first_error = batch.errors.len();
                self.decode.message(bytes, &origin, now, batch);
                if batch.rejects.total() > rejected_before {
                    reason = Some(batch.errors.get(first_error).map_or("invalid", |e| e.error.reason.as_str()));
                }
            }
        }
        ctx.stats.positions[idx].store(offset + 1, Ordering::Relaxed);
        let rejected = batch.rejects.total() - rejected_before;
        if rejected == 0 {
            return;
        }
        let reason = reason.unwrap_or("invalid");
        ctx.stats.reject(topic, reason, rejected);
        if let Some((producer, dlq)) = &ctx.dead_letters {
            let (partition, at) = (p.to_string(), offset.to_string());
            let headers = OwnedHeaders::new()
                .insert(Header { key: "faultline.topic", value: Some(topic) })
                .insert(Header { key: "faultline.partition", value: Some(&partition) })
                .insert(Header { key: "faultline.offset", value: Some(&at) })
                .insert(Header { key: "faultline.reason", value: Some(reason) });
            let mut record: BaseRecord<'_, [u8], [u8]> =
                BaseRecord::to(dlq).payload(payload.unwrap_or_default()).headers(headers);
            if let Some(k) = key {
                record = record.key(k);
            }
            match producer.send(record) {
                Ok(()) => {
                    pending.dead_lettered = true;
                    ctx.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                }
                Err((e, _)) => {
                    ctx.stats.dead_letter_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(source = %ctx.name, topic = %dlq, error = %e, "dead-letter copy failed");
                }
            }
        }
    }

    /// Sends the refused batch, then every batch that is full or has waited
    /// its linger (all of them when `all`). While the engine's queue is full
    /// the partitions are paused (the loop keeps polling, so the group keeps
    /// this member; what was fetched before the pause joins its batch).
    /// `false` when the engine has stopped.
    fn send_ready(&mut self, consumer: &BaseConsumer<Context>, all: bool) -> bool {
        let ctx = consumer.context();
        let mut sh = ctx.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = sh.blocked.take()
            && let Some(back) = ctx.deliver(&mut sh, b, false)
        {
            sh.blocked = Some(back);
        }
        // The linger is checked every CLOCK_EVERY messages (and when the consumer is idle).
        let check_linger = all || self.taken.is_multiple_of(CLOCK_EVERY);
        if sh.blocked.is_none() {
            for p in 0..sh.pending.len() {
                let ready = sh.pending[p].as_ref().is_some_and(|b| {
                    all || b.batch.events.len() >= self.batch_events || (check_linger && b.since.elapsed() >= LINGER)
                });
                if !ready {
                    continue;
                }
                if let Some(b) = sh.pending[p].take()
                    && let Some(back) = ctx.deliver(&mut sh, b, false)
                {
                    sh.blocked = Some(back);
                    break;
                }
            }
        }
        let (blocked, stopped) = (sh.blocked.is_some(), sh.stopped);
        drop(sh);
        match (blocked, self.paused.is_some()) {
            (true, false) => {
                let tpl = consumer.assignment().unwrap_or_default();
                if let Err(e) = consumer.pause(&tpl) {
                    tracing::warn!(source = %ctx.name, error = %e, "pausing partitions failed");
                }
                ctx.stats.pauses.fetch_add(1, Ordering::Relaxed);
                self.paused = Some(tpl);
                self.waited = Some(Instant::now());
            }
            (false, true) => {
                if let Some(tpl) = self.paused.take()
                    && let Err(e) = consumer.resume(&tpl)
                {
                    tracing::warn!(source = %ctx.name, error = %e, "resuming partitions failed");
                }
                if let Some(t) = self.waited.take() {
                    let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    let sh = ctx.shared.lock().unwrap_or_else(PoisonError::into_inner);
                    sh.out.stats().blocked_ns.fetch_add(ns, Ordering::Relaxed);
                }
            }
            _ => {}
        }
        !stopped
    }
}

/// Commits the durable checkpoint's offsets of the assigned partitions to the group (for lag tools), never further.
fn commit_durable(consumer: &BaseConsumer<Context>) {
    let ctx = consumer.context();
    let mut tpl = TopicPartitionList::new();
    {
        let mut sh = ctx.shared.lock().unwrap_or_else(PoisonError::into_inner);
        for (i, (topic, p)) in ctx.partitions.iter().enumerate() {
            if !ctx.stats.assigned[i].load(Ordering::Relaxed) {
                continue;
            }
            if let Some(Position::Partition { next_offset }) = sh.out.committed().get(&ctx.names[i])
                && sh.committed.get(&i) != Some(&next_offset)
                && tpl.add_partition_offset(topic, *p, Offset::Offset(next_offset)).is_ok()
            {
                sh.committed.insert(i, next_offset);
            }
        }
    }
    if tpl.count() > 0
        && let Err(e) = consumer.commit(&tpl, CommitMode::Async)
    {
        tracing::warn!(source = %ctx.name, error = %e, "committing offsets to the group failed");
    }
}
