"""A fake instrumented "payments" service: the OpenTelemetry Python SDK exports its telemetry to Faultline.

Usage: payments.py grpc|http ENDPOINT [SECONDS] [RATE] [SIGNALS]

It plays SECONDS (default 360) of event time ending now, RATE (default 40) SERVER spans a second
of `POST /charge` and `GET /status`, with explicit start and end times so the run takes seconds,
not minutes. Between 55 % and 75 % of the way through, 40 % of charges fail with 502 and
status ERROR: the error burst Faultline must page on.

SIGNALS (default `traces`) is a comma list of traces, metrics, logs. With `metrics`, the SDK's
meters play the same event time on a virtual clock (the SDK reads `time_ns` at each collection;
the clock is set to the played time and one collection exported every 10 s of it): the
connection pool (`db.client.connection.count` used and idle, `db.client.connection.max`) runs
near full during the burst, and `GET /refund`, a route with metrics only, records
`http.server.request.duration` (its 5xx in the burst). With `logs`, every failed charge logs an
ERROR record and one in twenty good requests an INFO one, at the request's time, and a deploy
(`change.kind`) is logged 30 s before the burst. Prints one JSON line: what the SDK exported and
what the receiver acknowledged.
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


class CountingMetrics:
    """Wraps a metric exporter and counts the data points the receiver acknowledged."""

    def __init__(self, inner):
        self.inner = inner
        self.acknowledged = 0
        self.failed = 0
        self._preferred_temporality = inner._preferred_temporality
        self._preferred_aggregation = inner._preferred_aggregation

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        from opentelemetry.sdk.metrics.export import MetricExportResult

        points = sum(
            len(m.data.data_points)
            for rm in metrics_data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
        result = self.inner.export(metrics_data, timeout_millis=timeout_millis)
        if result == MetricExportResult.SUCCESS:
            self.acknowledged += points
        else:
            self.failed += points
        return result

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        self.inner.shutdown()


class CountingLogs:
    """Wraps a log exporter and counts the records the receiver acknowledged."""

    def __init__(self, inner):
        self.inner = inner
        self.acknowledged = 0
        self.failed = 0

    def export(self, batch):
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        result = self.inner.export(batch)
        if result == LogRecordExportResult.SUCCESS:
            self.acknowledged += len(batch)
        else:
            self.failed += len(batch)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def virtual_clock():
    """Points the metrics SDK's clock at a value this script sets: returns the setter."""
    import opentelemetry.sdk.metrics._internal._view_instrument_match as view_match
    import opentelemetry.sdk.metrics._internal.instrument as instrument
    import opentelemetry.sdk.metrics._internal.metric_reader_storage as storage

    now = [time.time_ns()]
    for module in (view_match, instrument, storage):
        module.time_ns = lambda: now[0]

    def set_clock(ns):
        now[0] = ns

    return set_clock


class Meters:
    """The pool gauges and the `/refund` histogram, collected once per 10 s of played time."""

    STEP = 10 * 1_000_000_000

    def __init__(self, transport, endpoint, resource, start, burst):
        self.set_clock = virtual_clock()
        self.set_clock(start)
        from opentelemetry.metrics import Observation
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        if transport == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            exporter = OTLPMetricExporter(endpoint=endpoint, insecure=True, timeout=30)
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            exporter = OTLPMetricExporter(endpoint=endpoint.rstrip("/") + "/v1/metrics", timeout=30)
        self.counting = CountingMetrics(exporter)
        # No timer export: one collection per step, from `step`.
        reader = PeriodicExportingMetricReader(self.counting, export_interval_millis=10**9)
        self.provider = MeterProvider(resource=resource, metric_readers=[reader])
        meter = self.provider.get_meter("payments")
        self.pool = {"used": 20}
        attrs = {"db.client.connection.pool.name": "payments-db"}
        meter.create_observable_up_down_counter(
            "db.client.connection.count",
            callbacks=[
                lambda options: [
                    Observation(self.pool["used"], {**attrs, "db.client.connection.state": "used"}),
                    Observation(100 - self.pool["used"], {**attrs, "db.client.connection.state": "idle"}),
                ]
            ],
        )
        meter.create_observable_up_down_counter(
            "db.client.connection.max", callbacks=[lambda options: [Observation(100, attrs)]]
        )
        self.duration = meter.create_histogram("http.server.request.duration", unit="s")
        self.burst = burst
        self.rng = random.Random(11)

    def step(self, t):
        """Records [t, t + STEP) and exports it, stamped t + STEP."""
        in_burst = self.burst[0] <= t < self.burst[1]
        self.pool["used"] = self.rng.randint(92, 98) if in_burst else self.rng.randint(18, 30)
        for _ in range(50):
            code = 503 if in_burst and self.rng.random() < 0.3 else 200
            attrs = {"http.route": "/refund", "http.request.method": "GET", "http.response.status_code": code}
            self.duration.record(self.rng.lognormvariate(-3.5, 0.4), attrs)
        self.set_clock(t + self.STEP)
        self.provider.force_flush()

    def shutdown(self):
        self.provider.shutdown()


def logs_exporter(transport, endpoint):
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=endpoint, insecure=True, timeout=30)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(endpoint=endpoint.rstrip("/") + "/v1/logs", timeout=30)


def main():
    transport, endpoint = sys.argv[1], sys.argv[2]
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 360
    rate = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    signals = set((sys.argv[5] if len(sys.argv) > 5 else "traces").split(","))
    unknown = signals - {"traces", "metrics", "logs"}
    if unknown:
        sys.exit(f"unknown signals: {sorted(unknown)} (known: traces, metrics, logs)")
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
    burst = (start + int(0.55 * total) * step, start + int(0.75 * total) * step)
    log_records = []
    if "logs" in signals:
        from opentelemetry._logs import LogRecord, SeverityNumber
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        counting_logs = CountingLogs(logs_exporter(transport, endpoint))
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(
                counting_logs, max_queue_size=1_000_000, max_export_batch_size=512, schedule_delay_millis=100
            )
        )
        logger = logger_provider.get_logger("payments")
        deploy_at = burst[0] - 30 * 1_000_000_000
    meters = Meters(transport, endpoint, resource, start, burst) if "metrics" in signals else None
    tick = start + Meters.STEP

    def flush_until(t):
        """Every 10 s of played time: spans and logs before it out first, then that step's metrics."""
        nonlocal tick
        while t >= tick:
            if meters:
                provider.force_flush()
                if "logs" in signals:
                    logger_provider.force_flush()
                meters.step(tick - Meters.STEP)
            tick += Meters.STEP

    errors = 0
    deployed = "logs" not in signals
    for i in range(total):
        t = start + i * step
        flush_until(t)
        burst_now = burst[0] <= t < burst[1]
        if not deployed and t >= deploy_at:
            logger.emit(
                LogRecord(
                    timestamp=deploy_at,
                    severity_number=SeverityNumber.INFO,
                    body="deployed payments v2.14.0",
                    attributes={"change.kind": "deploy", "change.id": "v2.14.0"},
                )
            )
            log_records.append("deploy")
            deployed = True
        route, method = ("/charge", "POST") if i % 4 else ("/status", "GET")
        code = 502 if burst_now and route == "/charge" and rng.random() < 0.4 else 200
        errors += code >= 500
        latency = int(rng.lognormvariate(3.5, 0.4) * 1_000_000)
        if "traces" in signals:
            span = tracer.start_span(
                f"{method} {route}",
                kind=SpanKind.SERVER,
                start_time=t,
                attributes={"http.request.method": method, "http.route": route, "http.response.status_code": code},
            )
            if code >= 500:
                span.set_status(Status(StatusCode.ERROR))
            span.end(end_time=t + latency)
        if "logs" in signals and (code >= 500 or i % 20 == 0):
            error = code >= 500
            logger.emit(
                LogRecord(
                    timestamp=t + latency,
                    severity_number=SeverityNumber.ERROR if error else SeverityNumber.INFO,
                    severity_text="ERROR" if error else "INFO",
                    body=f"charge failed: upstream answered {code}" if error else f"{method} {route} {code}",
                    attributes={"http.route": route},
                )
            )
            log_records.append("error" if error else "info")
    flush_until(start + total * step)
    provider.shutdown()
    report = {"spans": total if "traces" in signals else 0, "errors": errors}
    report.update({"acknowledged": counting.acknowledged, "failed": counting.failed})
    if "logs" in signals:
        logger_provider.shutdown()
        report["logs"] = {
            "records": len(log_records),
            "errors": log_records.count("error"),
            "acknowledged": counting_logs.acknowledged,
            "failed": counting_logs.failed,
        }
    if meters:
        meters.shutdown()
        report["metrics"] = {"acknowledged": meters.counting.acknowledged, "failed": meters.counting.failed}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
