#!/usr/bin/env bash
# Installs what the tests need if it is missing, then runs every test.
# Tools are cached under ~/.cache/faultline so a warm machine skips the installs.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${FAULTLINE_CACHE:-$HOME/.cache/faultline}"
mkdir -p "$CACHE"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s\n' "$*" >&2; }

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked

step "benches compile and run once"
cargo bench -p faultline-benches --locked -- --test

step "replay smoke test"
out=$(cargo run -q -p faultline --locked -- replay --input testdata/payments-burst.jsonl --quiet | wc -l)
[ "$out" -gt 1000 ] || { echo "replay printed only $out signal lines"; exit 1; }
echo "replay printed $out signal lines"
