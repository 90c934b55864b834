"""A client of Faultline's gRPC API, generated from proto/faultline/v1/incidents.proto with grpcio-tools.

Usage: watch.py ADDRESS SECONDS

Generates the Python stubs from the .proto into a temporary directory (as any client team would),
watches the incident stream from the start (the open incidents, then every event) until an
incident resolves or SECONDS pass, then watches again resuming after the first event it saw, and
lists and gets the incident. Prints one JSON line: what it saw.
"""

import importlib
import json
import os
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def stubs():
    out = tempfile.mkdtemp(prefix="faultline-grpc-")
    proto_dir = os.path.join(ROOT, "proto")
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            os.path.join(proto_dir, "faultline", "v1", "incidents.proto"),
        ]
    )
    if rc != 0:
        sys.exit(f"protoc failed: {rc}")
    for d in ("faultline", os.path.join("faultline", "v1")):
        open(os.path.join(out, d, "__init__.py"), "a").close()
    sys.path.insert(0, out)
    pb = importlib.import_module("faultline.v1.incidents_pb2")
    rpc = importlib.import_module("faultline.v1.incidents_pb2_grpc")
    return pb, rpc


def event(pb, e):
    return {
        "seq": e.seq,
        "action": pb.Action.Name(e.action),
        "snapshot": e.snapshot,
        "service": e.incident.service,
        "severity": e.incident.severity,
        "status": e.incident.status,
        "dedup_key": e.incident.dedup_key,
    }


def main():
    address, seconds = sys.argv[1], float(sys.argv[2])
    pb, rpc = stubs()
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=30)
    client = rpc.IncidentsStub(channel)
    seen = []
    deadline = time.time() + seconds
    stream = client.WatchIncidents(pb.WatchIncidentsRequest(after_seq=0), timeout=seconds)
    try:
        for e in stream:
            seen.append(event(pb, e))
            if e.action == pb.RESOLVED or time.time() > deadline:
                break
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
    stream.cancel()
    resumed = []
    if seen:
        first = seen[0]["seq"]
        again = client.WatchIncidents(pb.WatchIncidentsRequest(after_seq=first), timeout=10)
        try:
            for e in again:
                resumed.append(event(pb, e))
                if len(resumed) >= len(seen) - 1:
                    break
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
        again.cancel()
    listed = [i.dedup_key for i in client.ListIncidents(pb.ListIncidentsRequest()).incidents]
    got = None
    if seen:
        got = client.GetIncident(pb.GetIncidentRequest(id=seen[0]["dedup_key"])).service
    try:
        client.GetIncident(pb.GetIncidentRequest(id="no-such-incident"))
        missing = "found"
    except grpc.RpcError as err:
        missing = err.code().name
    # A sequence number from before a restart (or long gone) is not resumed from.
    try:
        for _ in client.WatchIncidents(pb.WatchIncidentsRequest(after_seq=1), timeout=10):
            break
        stale = "resumed"
    except grpc.RpcError as err:
        stale = err.code().name
    out = {"seen": seen, "resumed": resumed, "listed": listed, "got": got, "missing": missing, "stale": stale}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
