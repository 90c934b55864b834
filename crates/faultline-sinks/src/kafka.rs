//! The Kafka sink: each incident event (DESIGN.md's JSON) to a topic, keyed by its dedup key.
//!
//! The producer is idempotent (`enable.idempotence`, so `acks=all` and no duplicates from
//! its own retries) and the worker before it takes events from the outbox in order, so a
//! topic partition holds each incident's events in the order they happened (one key, one
//! partition). Headers: `faultline.action` (opened, updated, resolved) and
//! `faultline.delivery` (the outbox sequence number, the same on a re-delivery after a
//! restart, for consumers that deduplicate). A broker that is down or slow is retried by
//! the worker; a message the broker will never take (larger than it accepts, say) is
//! dead-lettered.

use std::time::Duration;

use faultline_core::incident::wire::IncidentEventJson;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::deliver::{Attempt, BoxFuture, Receiver};
use crate::outbox::Entry;

/// A Kafka producer of incident events.
pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    timeout: Duration,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Settings may hold credentials: never printed.
        f.debug_struct("KafkaSink").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// A producer to `topic` on `brokers` with the extra librdkafka `settings`; an
    /// attempt gives up (and is retried) after `timeout`.
    pub fn new(
        brokers: &str,
        settings: &[(String, String)],
        topic: &str,
        timeout: Duration,
    ) -> Result<KafkaSink, KafkaError> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", brokers);
        c.set("message.timeout.ms", timeout.as_millis().max(1).to_string());
        for (k, v) in settings {
            c.set(k, v);
        }
        // Not to be turned off by a setting: the worker's retries rely on it.
        c.set("enable.idempotence", "true");
        let producer: FutureProducer = c.create()?;
        Ok(KafkaSink { producer, topic: topic.to_string(), timeout })
    }
}

/// How a failed produce ends: retried, unless the broker will never take the message.
fn classify(e: &KafkaError) -> Attempt {
    let code = match e {
        KafkaError::MessageProduction(code) => Some(*code),
        _ => e.rdkafka_error_code(),
    };
    match code {
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::InvalidRecord,
        ) => Attempt::Rejected { why: format!("the broker refused the event: {e}") },
        _ => Attempt::Retry { after: None, why: format!("kafka: {e}") },
    }
}

impl Receiver for KafkaSink {
    fn deliver<'a>(&'a mut self, entry: &'a Entry, _event: &'a IncidentEventJson) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let seq = entry.seq.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header { key: "faultline.action", value: Some(entry.action.as_str()) })
                .insert(Header { key: "faultline.delivery", value: Some(&seq) });
            let record = FutureRecord::to(&self.topic).key(&entry.dedup_key).payload(&entry.json).headers(headers);
            let delivery = match self.producer.send_result(record) {
                Ok(d) => d,
                Err((e, _)) => return Attempt::Retry { after: None, why: format!("kafka: {e}") },
            };
            // librdkafka gives up at message.timeout.ms (the same timeout); a little slack past it.
            match tokio::time::timeout(self.timeout + Duration::from_secs(1), delivery).await {
                Ok(Ok(Ok(_))) => Attempt::Delivered,
                Ok(Ok(Err((e, _)))) => classify(&e),
                Ok(Err(_)) => Attempt::Retry { after: None, why: "kafka: the producer dropped the delivery".into() },
                Err(_) => Attempt::Retry { after: None, why: "kafka: no delivery report in time".into() },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::mocking::MockCluster;

    use super::*;
    use crate::outbox::Action;

    fn event() -> IncidentEventJson {
        serde_json::from_value(serde_json::json!({"action": "opened", "incident": {
            "id": "i", "dedup_key": "payments/db", "service": "payments", "services": ["payments"], "severity": "P1",
            "title": "t", "status": "open", "onset_at": "a", "detected_at": "b", "resolved_at": null, "signals": [],
            "scope": {"share_of_requests": 0.0, "dimensions": []}, "probable_causes": [], "runbook": [],
            "timeline": []}}))
        .expect("an incident event")
    }

    #[tokio::test]
    async fn an_event_goes_to_its_topic_keyed_by_dedup_key_and_a_broker_down_is_retried() {
        let cluster = MockCluster::new(1).expect("a mock cluster");
        cluster.create_topic("incidents", 3, 1).expect("topic");
        let brokers = cluster.bootstrap_servers();
        let mut sink = KafkaSink::new(&brokers, &[], "incidents", Duration::from_secs(2)).expect("a producer");
        let ev = event();
        let entry = |seq: u64| Entry {
            seq,
            dedup_key: "payments/db".into(),
            action: Action::Opened,
            json: serde_json::to_string(&ev).expect("json"),
        };
        assert_eq!(sink.deliver(&entry(7), &ev).await, Attempt::Delivered);
        cluster.broker_down(1).expect("down");
        let down = sink.deliver(&entry(8), &ev).await;
        assert!(matches!(down, Attempt::Retry { .. }), "{down:?}");
        cluster.broker_up(1).expect("up");
        let mut again = sink.deliver(&entry(8), &ev).await;
        for _ in 0..5 {
            if again == Attempt::Delivered {
                break;
            }
            again = sink.deliver(&entry(8), &ev).await;
        }
        assert_eq!(again, Attempt::Delivered);

        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "reader")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        c.subscribe(&["incidents"]).expect("subscribed");
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while got.len() < 2 && std::time::Instant::now() < deadline {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                let h = m.headers().expect("headers");
                let header = |k: &str| {
                    h.iter().find(|h| h.key == k).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).to_string())
                };
                let key = m.key().map(|k| String::from_utf8_lossy(k).to_string());
                got.push((m.partition(), key, header("faultline.action"), header("faultline.delivery")));
            }
        }
        assert!(got.len() >= 2, "{got:?}");
        assert!(got.iter().all(|g| g.0 == got[0].0), "one key, one partition: {got:?}");
        assert_eq!(got[0].1.as_deref(), Some("payments/db"));
        assert_eq!(got[0].2.as_deref(), Some("opened"));
        assert_eq!(got[0].3.as_deref(), Some("7"));
    }
}
