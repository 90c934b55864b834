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
if ! command -v cargo-insta >/dev/null; then
  # Snapshot tests run through cargo-insta so orphaned snapshots fail the run.
  cargo install cargo-insta --locked --version '^1' --root "$CACHE" -q
fi

step "format"
cargo fmt --all -- --check

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
n=$(cargo run -q -p faultline --locked -- replay --input testdata/payments-burst.jsonl --emit signals --quiet | wc -l)
[ "$n" -gt 1000 ] || { echo "replay printed only $n signal lines"; exit 1; }
echo "replay printed $n signal lines"

step "done"
echo "tests: $passed passed, $failed failed"
