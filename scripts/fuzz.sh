#!/usr/bin/env bash
# Bounded fuzzing of every decoder: scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]
#
# Builds the cargo-fuzz targets of fuzz/ once (stable toolchain with RUSTC_BOOTSTRAP=1, no
# nightly needed; AddressSanitizer, or FUZZ_SANITIZER=none), then runs each target for the
# given seconds. Seeds are read from fuzz/corpus/<target>/ (committed, never written); what the
# fuzzer finds goes to fuzz/target/corpus/<target>/ and crashes to fuzz/artifacts/<target>/.
# Prints executions per target and exits non-zero on a crash, with the command reproducing it.
# A log_<format> target whose format this build does not know yet is skipped, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${FAULTLINE_CACHE:-$HOME/.cache/faultline}"
export PATH="$CACHE/bin:$PATH"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
SANITIZER="${FUZZ_SANITIZER:-address}"

seconds=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi

if ! command -v cargo-fuzz >/dev/null; then
  # The one tool this needs; kept beside the other test tools, outside the clone.
  cargo install cargo-fuzz --locked --version '^0.13' --root "$CACHE" -q
fi

all=$(cargo fuzz list --fuzz-dir fuzz)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets <<<"$all"
fi
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$all" || { echo "unknown target \`$t\` (known: $(tr '\n' ' ' <<<"$all"))" >&2; exit 2; }
done

echo "== building ${#targets[@]} target(s) (sanitizer: $SANITIZER)" >&2
# One build: cargo fuzz builds one named target, or all of them.
one=()
[[ ${#targets[@]} -eq 1 ]] && one=("${targets[0]}")
cargo fuzz build --fuzz-dir fuzz --sanitizer "$SANITIZER" "${one[@]}"
host=$(rustc -vV | sed -n 's/^host: //p')
bin="fuzz/target/$host/release"

crashed=0
summary=()
for t in "${targets[@]}"; do
  work="fuzz/target/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  mkdir -p "$work" "$artifacts" "fuzz/corpus/$t"
  log="fuzz/target/$t.log"
  case $t in
    otlp_* | wal_*) max_len=16384 ;;
    *) max_len=4096 ;;
  esac
  echo "== $t: ${seconds}s" >&2
  rc=0
  # The first corpus directory receives new inputs; the committed seeds stay as they are.
  "$bin/$t" "$work" "fuzz/corpus/$t" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=2048 -error_exitcode=77 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [[ $rc -eq 3 ]] && grep -q "target skipped" "$log"; then
    grep "target skipped" "$log" >&2
    summary+=("$(printf '%-14s skipped (format not in this build)' "$t")")
    continue
  fi
  if [[ $rc -ne 0 ]]; then
    crashed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    grep -m1 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$log" >&2 || tail -20 "$log" >&2
    echo "   log: $log" >&2
    if [[ -n $artifact ]]; then
      echo "   artifact: $artifact" >&2
      echo "   reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz $t $artifact" >&2
      echo "   minimize:  RUSTC_BOOTSTRAP=1 cargo fuzz tmin --fuzz-dir fuzz $t $artifact" >&2
    fi
    summary+=("$(printf '%-14s CRASH after %s executions (exit %s): %s' "$t" "${execs:-?}" "$rc" "${artifact:-see $log}")")
    continue
  fi
  corpus=$(find "$work" -type f | wc -l)
  summary+=("$(printf '%-14s ok  %10s executions in %ss, 0 crashes, corpus %s' "$t" "${execs:-?}" "$seconds" "$corpus")")
done

echo
echo "== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit "$crashed"
