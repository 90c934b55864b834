//! The source contract: partitions, decoded batches with positions, a bounded queue that pushes back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Instant;

use faultline_core::wire::ParseError;
use faultline_core::{Event, Position, RejectCounts};

/// A source of events, run on its own OS thread by the service.
///
/// `run` reads, decodes and sends batches until its input ends (then it
/// sends [`SourceMessage::End`] for each partition) or `stop` is set. An
/// error ends the source: the service then ends its partitions itself (so
/// they hold the watermark back no more) and reports the failure.
pub trait Source: Send + std::fmt::Debug {
    /// The configured name (`[sources.NAME]`).
    fn name(&self) -> &str;
    /// Partition names, each an engine input holding back the watermark
    /// until idle. A source with one partition names it after itself.
    fn partitions(&self) -> Vec<String> {
        vec![self.name().to_string()]
    }
    /// Whether clients push to it (it answers requests; its refusal counters mean something).
    fn is_push(&self) -> bool {
        false
    }
    /// Whether its input never ends (a Kafka topic): partitions it ends were handed
    /// to another instance, so the service never treats the input as finished.
    fn unbounded(&self) -> bool {
        false
    }
    /// Where a partitioned source's partitions keep their series' state (a directory the
    /// instances of a consumer group share): its partitions are adopted and released
    /// ([`SourceMessage::Adopt`], [`SourceMessage::Release`]) as they move.
    fn partition_store(&self) -> Option<crate::PartitionStore> {
        None
    }
    /// A Kafka source's own counters (lag, pauses, rejections per topic), for `/metrics`.
    fn kafka(&self) -> Option<Arc<crate::kafka::KafkaStats>> {
        None
    }
    /// Runs the source: `start` holds the checkpointed position of each
    /// partition (by name) that has one.
    fn run(self: Box<Self>, start: StartAt, out: BatchSender, stop: Arc<AtomicBool>) -> std::io::Result<()>;
}

/// Where each partition resumes: its checkpointed position, by partition name.
pub type StartAt = BTreeMap<String, Position>;

/// Decoded events of one partition, with the position just past them.
#[derive(Debug, Default)]
pub struct SourceBatch {
    /// Index into the source's [`Source::partitions`].
    pub partition: usize,
    /// The events, in input order.
    pub events: Vec<Event>,
    /// Position after the last record of this batch; `None` for a source without positions.
    pub position: Option<Position>,
    /// Records (lines) read, good or bad.
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Records that did not decode, by reason.
    pub rejects: RejectCounts,
    /// The first few decode errors of this batch, for the log and `/api/v1/ingest/errors`.
    pub errors: Vec<RejectSample>,
}

/// A rejected record kept as an example: why, where in its stream, and how it began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectSample {
    /// The error (its `line` numbers the record in its stream).
    pub error: ParseError,
    /// The stream: a file's path, a TCP peer, an OTLP request.
    pub origin: String,
    /// The record's first bytes as text (at most [`EXCERPT_CHARS`] characters).
    pub excerpt: String,
}

/// Characters of a rejected record kept in its sample.
pub const EXCERPT_CHARS: usize = 160;

impl RejectSample {
    /// A sample of `record`'s rejection, its start kept as text.
    pub fn new(error: ParseError, origin: &str, record: &[u8]) -> RejectSample {
        let head = &record[..record.len().min(EXCERPT_CHARS * 4)];
        let mut excerpt: String = String::from_utf8_lossy(head).chars().take(EXCERPT_CHARS).collect();
        if excerpt.len() < record.len() && excerpt.chars().count() == EXCERPT_CHARS {
            excerpt.push('…');
        }
        RejectSample { error, origin: origin.to_string(), excerpt }
    }
}

impl std::fmt::Display for RejectSample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.error)
    }
}

/// What a source thread sends the engine.
#[derive(Debug)]
pub enum SourceMessage {
    /// A batch from source `source` (the index the service gave it).
    Batch {
        /// The source's index.
        source: usize,
        /// The batch.
        batch: SourceBatch,
    },
    /// Source `source` asks for a checkpoint now (a Kafka partition is about to
    /// be handed to another instance); it watches [`Committed`] for it.
    Checkpoint {
        /// The source's index.
        source: usize,
    },
    /// Partition `partition` of source `source` is assigned here (a partitioned source,
    /// [`Source::partition_store`]): its series' state, read from the partition's
    /// checkpoint file, comes first (`None`: there is none); its batches follow.
    Adopt {
        /// The source's index.
        source: usize,
        /// The partition's index.
        partition: usize,
        /// What its last owner checkpointed.
        state: Option<Box<faultline_core::checkpoint::PartitionCheckpoint>>,
    },
    /// Partitions of source `source` go to another instance: the engine checkpoints (their
    /// files included) and drops their series' state; the source watches [`Committed`].
    Release {
        /// The source's index.
        source: usize,
        /// The partitions' indexes.
        partitions: Vec<usize>,
    },
    /// Partition `partition` of source `source` reached its end: nothing more comes.
    End {
        /// The source's index.
        source: usize,
        /// The partition's index.
        partition: usize,
    },
}

/// Counters a source keeps for `/metrics`: the service reads them, the source only adds.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Batches sent.
    pub batches: AtomicU64,
    /// Bytes read.
    pub bytes: AtomicU64,
    /// Nanoseconds spent waiting on the engine's full queue (back-pressure).
    pub blocked_ns: AtomicU64,
    /// Why the source stopped, when it failed.
    pub failed: std::sync::Mutex<Option<String>>,
    /// A push source (its request counters below mean something).
    pub push: bool,
    /// Push requests refused as retryable (the engine's queue or the log full).
    pub refused_busy: AtomicU64,
    /// Push requests refused as not valid (malformed, too large, wrong media type).
    pub refused_invalid: AtomicU64,
    /// Bytes in the source's write-ahead log now.
    pub wal_bytes: AtomicU64,
    /// Requests replayed from the write-ahead log at start.
    pub wal_replayed: AtomicU64,
}

/// How full the engine's input queue is: senders add what they queue, the
/// engine takes off what it receives. Lets a push source refuse a request
/// before it spends time decoding it.
#[derive(Debug)]
pub struct QueueDepth {
    queued: AtomicUsize,
    capacity: usize,
}

impl QueueDepth {
    /// The depth gauge of a queue of `capacity` messages.
    pub fn new(capacity: usize) -> QueueDepth {
        QueueDepth { queued: AtomicUsize::new(0), capacity }
    }

    /// The engine received one message. Senders count a message before it is
    /// sent, so the count never misses one the engine has already taken.
    pub fn taken(&self) {
        let _ = self.queued.fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| Some(q.saturating_sub(1)));
    }

    /// Messages queued now, or about to be.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether the queue holds as many messages as it can.
    pub fn is_full(&self) -> bool {
        self.queued() >= self.capacity
    }
}

/// The positions of the last durable checkpoint, by partition: the service
/// publishes them once a checkpoint is on disk, and a source with a
/// write-ahead log frees what lies before them.
#[derive(Debug, Default)]
pub struct Committed {
    positions: std::sync::Mutex<BTreeMap<String, Position>>,
    /// Partitions released ([`SourceMessage::Release`]) whose final checkpoint is durable.
    released: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Committed {
    /// Records the positions of a checkpoint now durable.
    pub fn publish(&self, positions: &BTreeMap<String, Position>) {
        let mut p = self.positions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        p.extend(positions.iter().map(|(k, v)| (k.clone(), *v)));
    }

    /// The checkpoint that released `partitions` is durable (their files written).
    pub fn publish_released(&self, partitions: &[String]) {
        let mut r = self.released.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        r.extend(partitions.iter().cloned());
    }

    /// Whether `partition`'s release is durable; a `true` is taken (the next release waits anew).
    pub fn take_released(&self, partition: &str) -> bool {
        self.released.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(partition)
    }

    /// The durable position of `partition`, if a checkpoint holds one.
    pub fn get(&self, partition: &str) -> Option<Position> {
        self.positions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(partition).copied()
    }
}

/// Why a batch was not queued by [`BatchSender::try_send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotQueued {
    /// The engine's queue is full: push back, the client retries.
    Full,
    /// The engine has stopped.
    Stopped,
}

/// What became of a batch offered to the engine's queue.
#[derive(Debug)]
pub enum Offer {
    /// It is in the queue.
    Queued,
    /// Not queued, and why; the batch comes back, to be offered again.
    Refused(NotQueued, SourceBatch),
}

/// A source's end of the bounded queue to the engine.
#[derive(Debug, Clone)]
pub struct BatchSender {
    source: usize,
    tx: SyncSender<SourceMessage>,
    stats: Arc<SourceStats>,
    depth: Option<Arc<QueueDepth>>,
    committed: Arc<Committed>,
}

impl BatchSender {
    /// The sender of source index `source`.
    pub fn new(source: usize, tx: SyncSender<SourceMessage>, stats: Arc<SourceStats>) -> BatchSender {
        BatchSender { source, tx, stats, depth: None, committed: Arc::default() }
    }

    /// Reads durable checkpoint positions from `committed` (shared with the service).
    pub fn with_committed(mut self, committed: Arc<Committed>) -> BatchSender {
        self.committed = committed;
        self
    }

    /// The positions of the last durable checkpoint.
    pub fn committed(&self) -> &Committed {
        &self.committed
    }

    /// Counts what this sender queues in `depth` (shared by every sender of the queue).
    pub fn with_depth(mut self, depth: Arc<QueueDepth>) -> BatchSender {
        self.depth = Some(depth);
        self
    }

    /// Whether the engine's queue is full now (never, without a depth gauge).
    pub fn is_full(&self) -> bool {
        self.depth.as_ref().is_some_and(|d| d.is_full())
    }

    /// Queues a batch if there is room, without waiting: a push source answers
    /// its client only after this says the batch is accepted.
    pub fn try_send(&self, batch: SourceBatch) -> Result<(), NotQueued> {
        match self.offer(batch) {
            Offer::Queued => Ok(()),
            Offer::Refused(why, _) => Err(why),
        }
    }

    /// Like [`BatchSender::try_send`], but a batch not queued comes back, to be sent later.
    pub fn offer(&self, batch: SourceBatch) -> Offer {
        let bytes = batch.bytes;
        self.count(true);
        match self.tx.try_send(SourceMessage::Batch { source: self.source, batch }) {
            Ok(()) => {
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
                Offer::Queued
            }
            Err(e) => {
                self.count(false);
                let (why, msg) = match e {
                    TrySendError::Full(m) => (NotQueued::Full, m),
                    TrySendError::Disconnected(m) => (NotQueued::Stopped, m),
                };
                match msg {
                    SourceMessage::Batch { batch, .. } => Offer::Refused(why, batch),
                    _ => Offer::Refused(why, SourceBatch::default()),
                }
            }
        }
    }

    /// Counts a message about to be sent (`true`), or one that was not sent after all.
    fn count(&self, up: bool) {
        if let Some(d) = &self.depth {
            if up {
                d.queued.fetch_add(1, Ordering::AcqRel);
            } else {
                d.taken();
            }
        }
    }

    /// The source's counters.
    pub fn stats(&self) -> &SourceStats {
        &self.stats
    }

    /// Sends a batch, waiting while the queue is full (the wait is counted as
    /// back-pressure). `false` when the engine has stopped: the source should stop too.
    pub fn send(&self, batch: SourceBatch) -> bool {
        let bytes = batch.bytes;
        let sent = self.push(SourceMessage::Batch { source: self.source, batch });
        if sent {
            self.stats.batches.fetch_add(1, Ordering::Relaxed);
            self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        sent
    }

    /// Asks the engine for a checkpoint now; `false` when the engine has stopped.
    pub fn checkpoint(&self) -> bool {
        self.push(SourceMessage::Checkpoint { source: self.source })
    }

    /// Says partition `partition` is assigned here, with what its last owner checkpointed.
    pub fn adopt(&self, partition: usize, state: Option<Box<faultline_core::checkpoint::PartitionCheckpoint>>) -> bool {
        self.push(SourceMessage::Adopt { source: self.source, partition, state })
    }

    /// Hands `partitions` over: the engine checkpoints them and drops their state.
    pub fn release(&self, partitions: Vec<usize>) -> bool {
        self.push(SourceMessage::Release { source: self.source, partitions })
    }

    /// Says partition `partition` has ended.
    pub fn end(&self, partition: usize) -> bool {
        self.push(SourceMessage::End { source: self.source, partition })
    }

    fn push(&self, msg: SourceMessage) -> bool {
        self.count(true);
        let sent = match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Disconnected(_)) => false,
            Err(TrySendError::Full(msg)) => {
                let waited = Instant::now();
                let sent = self.tx.send(msg).is_ok();
                let ns = u64::try_from(waited.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.stats.blocked_ns.fetch_add(ns, Ordering::Relaxed);
                sent
            }
        };
        if !sent {
            self.count(false);
        }
        sent
    }
}
