"""A fake instrumented "payments" service: the OpenTelemetry Python SDK exports its spans to Faultline.

Usage: payments.py grpc|http ENDPOINT [SECONDS] [RATE]

It plays SECONDS (default 360) of event time ending now, RATE (default 40) SERVER spans a second
of `POST /charge` and `GET /status`, with explicit start and end times so the run takes seconds,
not minutes. Between 55 % and 75 % of the way through, 40 % of charges fail with 502 and
status ERROR: the error burst Faultline must page on. Prints one JSON line: what the SDK exported.
"""

import json
import random
import sys
import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode


class Counting:
    """Wraps an exporter and counts the spans it reports exported (acknowledged by the receiver)."""

    def __init__(self, inner):
        self.inner = inner
        self.acknowledged = 0
        self.failed = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result == SpanExportResult.SUCCESS:
            self.acknowledged += len(spans)
        else:
            self.failed += len(spans)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def main():
    transport, endpoint = sys.argv[1], sys.argv[2]
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 360
    rate = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=30)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=30)
    counting = Counting(exporter)
    resource = Resource.create({"service.name": "payments", "cloud.region": "eu-west-1"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(
        BatchSpanProcessor(counting, max_queue_size=1_000_000, max_export_batch_size=512, schedule_delay_millis=100)
    )
    tracer = provider.get_tracer("payments")
    rng = random.Random(7)
    now = time.time_ns()
    start = now - seconds * 1_000_000_000
    total = seconds * rate
    step = seconds * 1_000_000_000 // total
    errors = 0
    for i in range(total):
        t = start + i * step
        burst = 0.55 * total <= i < 0.75 * total
        route, method = ("/charge", "POST") if i % 4 else ("/status", "GET")
        code = 502 if burst and route == "/charge" and rng.random() < 0.4 else 200
        errors += code >= 500
        latency = int(rng.lognormvariate(3.5, 0.4) * 1_000_000)
        span = tracer.start_span(
            f"{method} {route}",
            kind=SpanKind.SERVER,
            start_time=t,
            attributes={"http.request.method": method, "http.route": route, "http.response.status_code": code},
        )
        if code >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=t + latency)
    provider.shutdown()
    print(json.dumps({"spans": total, "errors": errors, "acknowledged": counting.acknowledged, "failed": counting.failed}))


if __name__ == "__main__":
    main()
