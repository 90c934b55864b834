//! The hand-over log: where each revoked partition's checkpointed state ends, for the member that gets it next.
//!
//! A group commit made while the group rebalances can be refused (REBALANCE_IN_PROGRESS),
//! and then the next owner starts at an older offset and counts messages twice. So a
//! member that hands a partition over also writes the offset its durable checkpoint
//! reached to this topic (a compacted topic, key `group/topic/partition`, value the offset
//! in decimal), and waits for the write to be acknowledged before the rebalance goes on;
//! a producer's write does not depend on the group's state. The next owner reads the
//! log up to its end when a partition is assigned, before the first fetch.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

/// One group's hand-over records, read and written.
pub(crate) struct HandoverLog {
    topic: String,
    group: String,
    producer: ThreadedProducer<DefaultProducerContext>,
    reader: BaseConsumer,
    partitions: Vec<i32>,
    /// The latest offset per `topic/partition` of this group.
    latest: HashMap<String, i64>,
    /// The reader's next offset per log partition.
    next: HashMap<i32, i64>,
}

impl std::fmt::Debug for HandoverLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandoverLog").field("topic", &self.topic).field("group", &self.group).finish_non_exhaustive()
    }
}

impl HandoverLog {
    /// Opens the log on `topic` (which must exist) with the client settings of the
    /// source's producers (`producing`) and of its consumer (`base`).
    pub(crate) fn open(
        producing: &ClientConfig,
        base: &ClientConfig,
        topic: &str,
        group: &str,
        timeout: Duration,
    ) -> Result<HandoverLog, String> {
        let producer: ThreadedProducer<DefaultProducerContext> = producing
            .clone()
            .set("enable.idempotence", "true")
            .create()
            .map_err(|e| format!("hand-over producer: {e}"))?;
        // Read by assignment, never as a group member; the id is only what librdkafka asks for.
        let reader: BaseConsumer = base
            .clone()
            .remove("group.instance.id")
            .set("group.id", format!("{group}.handover-reader"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()
            .map_err(|e| format!("hand-over reader: {e}"))?;
        let meta = reader.fetch_metadata(Some(topic), timeout).map_err(|e| format!("hand-over topic {topic}: {e}"))?;
        let partitions: Vec<i32> = meta
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().iter().map(|p| p.id()).collect())
            .unwrap_or_default();
        if partitions.is_empty() {
            return Err(format!("hand-over topic {topic} does not exist (create it, compacted)"));
        }
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition_offset(topic, *p, Offset::Beginning).map_err(|e| e.to_string())?;
        }
        reader.assign(&tpl).map_err(|e| format!("hand-over reader: {e}"))?;
        Ok(HandoverLog {
            topic: topic.to_string(),
            group: group.to_string(),
            producer,
            reader,
            partitions,
            latest: HashMap::new(),
            next: HashMap::new(),
        })
    }

    fn key(&self, partition: &str) -> String {
        format!("{}/{partition}", self.group)
    }

    /// Writes the offsets of `(partition name, next offset)` and waits for the acknowledgement.
    pub(crate) fn write(&mut self, offsets: &[(&str, i64)], timeout: Duration) -> Result<(), String> {
        for (partition, offset) in offsets {
            let key = self.key(partition);
            let value = offset.to_string();
            self.producer
                .send(BaseRecord::to(&self.topic).key(&key).payload(&value))
                .map_err(|(e, _)| format!("hand-over write: {e}"))?;
            self.latest.insert((*partition).to_string(), *offset);
        }
        self.producer.flush(timeout).map_err(|e| format!("hand-over write not acknowledged: {e}"))
    }

    /// Reads the log up to its end now (within `timeout`).
    pub(crate) fn catch_up(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut ends = Vec::new();
        for p in &self.partitions {
            match self.reader.fetch_watermarks(&self.topic, *p, timeout) {
                Ok(w) => ends.push((*p, w)),
                Err(e) => {
                    tracing::warn!(topic = %self.topic, partition = p, error = %e, "hand-over log: no end offset")
                }
            }
        }
        let prefix = format!("{}/", self.group);
        loop {
            let behind = ends.iter().any(|(p, (low, high))| self.next.get(p).copied().unwrap_or(0).max(*low) < *high);
            if !behind || Instant::now() >= deadline {
                break;
            }
            let Some(Ok(m)) = self.reader.poll(Duration::from_millis(20)) else { continue };
            self.next.insert(m.partition(), m.offset() + 1);
            let (Some(key), Some(value)) = (m.key(), m.payload()) else { continue };
            let (Ok(key), Some(offset)) =
                (std::str::from_utf8(key), std::str::from_utf8(value).ok().and_then(|v| v.parse::<i64>().ok()))
            else {
                continue;
            };
            if let Some(partition) = key.strip_prefix(&prefix) {
                self.latest.insert(partition.to_string(), offset);
            }
        }
    }

    /// The latest handed-over offset of `partition` (a `topic/N` name).
    pub(crate) fn get(&self, partition: &str) -> Option<i64> {
        self.latest.get(partition).copied()
    }
}
