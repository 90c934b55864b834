"""One raw OTLP/gRPC call with grpcio (the gRPC library the OpenTelemetry exporter uses).

Usage: grpc_probe.py ADDR BODY_FILE [gzip|plain] [METHOD]

Sends BODY_FILE's bytes as a request to METHOD (default TraceService/Export) and prints one JSON
line: the status code name, the details message, the RetryInfo delay (seconds) from
grpc-status-details-bin, and the response bytes as hex on success.
"""

import json
import sys

import grpc
from google.protobuf import duration_pb2  # noqa: F401  (ships with the exporter's protobuf)
from google.rpc import status_pb2  # noqa: F401

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def main():
    addr, body_file = sys.argv[1], sys.argv[2]
    compression = grpc.Compression.Gzip if len(sys.argv) > 3 and sys.argv[3] == "gzip" else None
    body = open(body_file, "rb").read()
    channel = grpc.insecure_channel(addr, options=[("grpc.max_send_message_length", 64 << 20)])
    method = sys.argv[4] if len(sys.argv) > 4 else METHOD
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    out = {"code": "OK", "message": "", "retry_delay": None, "response": None}
    try:
        resp = call(body, timeout=10, compression=compression)
        out["response"] = resp.hex()
    except grpc.RpcError as e:
        out["code"] = e.code().name
        out["message"] = e.details()
        for key, value in e.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                from google.rpc import error_details_pb2

                st = status_pb2.Status.FromString(value)
                for d in st.details:
                    if d.type_url.endswith("google.rpc.RetryInfo"):
                        info = error_details_pb2.RetryInfo.FromString(d.value)
                        out["retry_delay"] = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    print(json.dumps(out))


if __name__ == "__main__":
    main()
