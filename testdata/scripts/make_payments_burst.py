#!/usr/bin/env python3
"""Writes testdata/payments-burst.jsonl: five minutes of payments traffic with a
90-second burst of gateway errors, deterministic (fixed seed)."""
import json, random, sys

random.seed(7)
start = 1795197600000  # 2026-11-20T18:00:00Z
out = []
ops = [("POST /charge", 0.6), ("GET /status", 0.3), ("POST /refund", 0.1)]
regions = ["eu-west-1", "us-east-1"]
for ms in range(0, 300_000, 100):          # 10 requests per second
    ts = start + ms + random.randint(0, 99)
    burst = 120_000 <= ms < 210_000
    op = random.choices([o for o, _ in ops], [w for _, w in ops])[0]
    region = random.choice(regions)
    fail = random.random() < (0.4 if burst and op == "POST /charge" else 0.004)
    status = 502 if fail else 200
    latency = random.lognormvariate(4.3, 0.35) * (8 if burst and op == "POST /charge" else 1)
    ev = {"ts": ts, "service": "payments-api", "operation": op, "kind": "request",
          "status": status, "latency_ms": round(latency, 1), "attrs": {"region": region}}
    if op == "POST /charge":
        ev["peer"] = "payment-gateway"
    out.append(ev)
    if op == "POST /charge":
        outcome = "failed" if fail else ("declined" if random.random() < 0.03 else "success")
        out.append({"ts": ts, "service": "payments-api", "kind": "transaction",
                    "outcome": outcome, "amount": round(random.uniform(5, 200), 2)})
for ms in range(0, 300_000, 5_000):
    ts = start + ms
    burst = 120_000 <= ms < 210_000
    out.append({"ts": ts, "service": "payments-api", "kind": "gauge", "name": "db.pool.in_use",
                "value": random.randint(20, 35), "max": 100})
    out.append({"ts": ts, "service": "payments-api", "kind": "gauge", "name": "cpu.utilization",
                "value": round(random.uniform(0.3, 0.45) + (0.2 if burst else 0), 3)})
out.append({"ts": start + 115_000, "service": "payments-api", "kind": "change", "change": "config",
            "id": "gw-timeout-2s", "text": "lower gateway timeout to 2s"})
out.sort(key=lambda e: e["ts"])
# A little disorder, within the 2 s allowed out-of-orderness, and a few bad lines.
for i in range(0, len(out) - 3, 97):
    out[i], out[i + 2] = out[i + 2], out[i]
lines = [json.dumps(e, separators=(",", ":")) for e in out]
lines.insert(500, '{"ts":"not a time","service":"payments-api","kind":"request"}')
lines.insert(900, '{"ts":1795197690000,"service":"payments-api","kind":"request","operation":"GET /status","status":200,"latency_ms":-3}')
lines.insert(1500, 'garbage')
sys.stdout.write("\n".join(lines) + "\n")
