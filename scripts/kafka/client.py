"""confluent-kafka as the Kafka end-to-end test's client of a real broker (Tansu).

  client.py BROKERS create TOPIC:PARTITIONS...   create topics (existing ones are fine)
  client.py BROKERS produce TOPIC < records      one JSON record a line: {"key", "partition", "value"}
  client.py BROKERS consume TOPIC [IDLE_S]       print {"key", "value"} per message until idle
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def create(brokers, specs):
    admin = AdminClient({"bootstrap.servers": brokers})
    topics = []
    for spec in specs:
        name, partitions = spec.split(":")
        topics.append(NewTopic(name, num_partitions=int(partitions), replication_factor=1))
    for name, fut in admin.create_topics(topics, operation_timeout=10).items():
        try:
            fut.result(timeout=15)
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def produce(brokers, topic):
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
    n = 0
    for line in sys.stdin:
        r = json.loads(line)
        kwargs = {"value": r["value"].encode()}
        if r.get("key") is not None:
            kwargs["key"] = r["key"].encode()
        if r.get("partition") is not None:
            kwargs["partition"] = r["partition"]
        while True:
            try:
                p.produce(topic, **kwargs)
                break
            except BufferError:
                p.poll(0.1)
        n += 1
    left = p.flush(30)
    if left:
        sys.exit(f"{left} of {n} messages not delivered")


def consume(brokers, topic, idle):
    c = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"reader-{topic}-{time.time_ns()}",
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "enable.auto.commit": False,
    })
    c.subscribe([topic])
    last = time.time()
    started = time.time()
    seen = 0
    while time.time() - started < 60 and (seen == 0 or time.time() - last < idle):
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        last = time.time()
        seen += 1
        key = m.key().decode() if m.key() is not None else None
        print(json.dumps({"key": key, "value": m.value().decode()}), flush=True)
    c.close()


def main():
    brokers, cmd = sys.argv[1], sys.argv[2]
    if cmd == "create":
        create(brokers, sys.argv[3:])
    elif cmd == "produce":
        produce(brokers, sys.argv[3])
    elif cmd == "consume":
        consume(brokers, sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 3.0)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
