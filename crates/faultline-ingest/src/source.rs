//! The source contract: partitions, decoded batches with positions, a bounded queue that pushes back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// The first few decode errors of this batch, for the log.
    pub errors: Vec<ParseError>,
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
}

/// A source's end of the bounded queue to the engine.
#[derive(Debug, Clone)]
pub struct BatchSender {
    source: usize,
    tx: SyncSender<SourceMessage>,
    stats: Arc<SourceStats>,
}

impl BatchSender {
    /// The sender of source index `source`.
    pub fn new(source: usize, tx: SyncSender<SourceMessage>, stats: Arc<SourceStats>) -> BatchSender {
        BatchSender { source, tx, stats }
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

    /// Says partition `partition` has ended.
    pub fn end(&self, partition: usize) -> bool {
        self.push(SourceMessage::End { source: self.source, partition })
    }

    fn push(&self, msg: SourceMessage) -> bool {
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Disconnected(_)) => false,
            Err(TrySendError::Full(msg)) => {
                let waited = Instant::now();
                let sent = self.tx.send(msg).is_ok();
                let ns = u64::try_from(waited.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.stats.blocked_ns.fetch_add(ns, Ordering::Relaxed);
                sent
            }
        }
    }
}
