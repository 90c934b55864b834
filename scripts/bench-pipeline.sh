#!/usr/bin/env bash
# Pipeline throughput of the `faultline` binary, end to end (JSON lines in, incidents out).
#
#   scripts/bench-pipeline.sh [--quick] [--shards "1 2"] [--profile release|dist]
#
# 1. 10 k series (100 services x 100 operations, 500 s of event time, ~1 % errors, log-normal
#    latency; benches/examples/gen_load.rs, fixed seed): `faultline replay` on 2 M and 10 M
#    events with each shard count (one decoder, the default), then 10 M on the first shard
#    count with a decoder per core (`--decoders 0`). Events per CPU-second come from the difference of the two
#    sizes, so start-up and the final flush cancel; wall-clock events/s are given per size.
# 2. 1 M series (1,000 x 1,000, 20 s of event time, 4 M events): wall, CPU, peak RSS, and
#    events/s relative to the 10 k-series case.
# 3. `faultline run` on a file source (follow = false, stdout sink, admin on port 0, no state
#    directory) against `faultline replay` on the same file and config: the goal is run >= 0.9
#    of replay's throughput.
#
# --quick runs only the 10 k-series pair on 1 shard. Generated files are cached under
# ${FAULTLINE_CACHE:-$HOME/.cache/faultline}/bench/, keyed by their generator arguments.
# Every figure is printed with the command it came from. `replay` is given `--shards N`
# whatever it does with it: the script reports what the binary measures.
set -euo pipefail

QUICK=0
SHARDS="1 2"
PROFILE=release
SEED=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --shards) SHARDS="${2:?--shards needs a list, e.g. \"1 2\"}"; shift ;;
        --profile) PROFILE="${2:?--profile needs a name (release or dist)}"; shift ;;
        -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-pipeline: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [[ $QUICK == 1 ]]; then SHARDS=1; fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FAULTLINE_CACHE:-$HOME/.cache/faultline}/bench"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE"
TIME=/usr/bin/time
if [[ ! -x $TIME ]]; then
    echo "bench-pipeline: GNU time is missing: apt-get install time" >&2
    exit 1
fi

cd "$ROOT"
echo "building (profile $PROFILE)..." >&2
cargo build --quiet --profile "$PROFILE" -p faultline
cargo build --quiet --profile "$PROFILE" -p faultline-benches --example gen_load
FAULTLINE="$TARGET/faultline"
GEN="$TARGET/examples/gen_load"
mkdir -p "$CACHE"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# load EVENTS SERVICES OPERATIONS SECONDS: the cached file's path (generated once).
load() {
    local f="$CACHE/load-$1ev-$2x$3-$4s-seed$SEED.jsonl"
    if [[ ! -s $f ]]; then
        echo "generating $f..." >&2
        "$GEN" "$1" "$2" "$3" "$4" "$SEED" > "$f.tmp"
        mv "$f.tmp" "$f"
    fi
    echo "$f"
}

ROWS=()
# measure NAME EVENTS CMD...: runs CMD (stdout discarded) under GNU time; sets WALL, CPU, RSS_MIB.
measure() {
    local name="$1" events="$2"
    shift 2
    echo "running $name: $*" >&2
    "$TIME" -f "%e %U %S %M" -o "$WORK/time" "$@" > /dev/null 2> "$WORK/stderr" || {
        echo "bench-pipeline: $name failed:" >&2
        cat "$WORK/stderr" >&2
        exit 1
    }
    read -r WALL user sys rss_kib < <(tail -n 1 "$WORK/time")
    CPU=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    RSS_MIB=$(awk -v k="$rss_kib" 'BEGIN { printf "%.0f", k / 1024 }')
    local rate cmd="$*"
    rate=$(awk -v n="$events" -v w="$WALL" 'BEGIN { printf "%.2f", n / w / 1e6 }')
    cmd="${cmd//$ROOT\//}"
    cmd="${cmd//$CACHE\//\$CACHE/}"
    cmd="${cmd//$WORK\//}"
    ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s | `%s` |' "$name" "$events" "$WALL" "$CPU" "$RSS_MIB" "$rate" "$cmd")")
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# diff_rate EVENTS_SMALL SECONDS_SMALL EVENTS_LARGE SECONDS_LARGE: M events per second from the difference.
diff_rate() { awk -v n1="$1" -v c1="$2" -v n2="$3" -v c2="$4" 'BEGIN { printf "%.2f", (n2 - n1) / (c2 - c1) / 1e6 }'; }

SMALL=2000000
LARGE=10000000
F_SMALL=$(load "$SMALL" 100 100 500)
F_LARGE=$(load "$LARGE" 100 100 500)
SUMMARY=()
declare -A WALL_LARGE
for n in $SHARDS; do
    measure "10k series, $n shard(s)" "$SMALL" "$FAULTLINE" replay --input "$F_SMALL" --shards "$n" --quiet
    cpu_small=$CPU wall_small=$WALL
    measure "10k series, $n shard(s)" "$LARGE" "$FAULTLINE" replay --input "$F_LARGE" --shards "$n" --quiet
    WALL_LARGE[$n]=$WALL
    if [[ $n == "${SHARDS%% *}" ]]; then CPU_LARGE_FIRST=$CPU; fi
    # Both sizes span the same 500 s, so they close the same series-windows: the difference
    # cancels start-up and the per-window work (signals, detectors), leaving the per-event cost.
    fixed=$(awk -v n1="$SMALL" -v c1="$cpu_small" -v n2="$LARGE" -v c2="$CPU" \
        'BEGIN { printf "%.2f", c1 - n1 * (c2 - c1) / (n2 - n1) }')
    SUMMARY+=("10k series, $n shard(s): $(diff_rate "$SMALL" "$cpu_small" "$LARGE" "$CPU") M events per CPU-second, $(diff_rate "$SMALL" "$wall_small" "$LARGE" "$WALL") M events/s wall (both from the 10 M - 2 M difference); CPU not proportional to events (start-up and the 500 k series-windows both sizes close): $fixed s")
done
first=${SHARDS%% *}
# The decoder pool (--decoders 0: one per core) against the default, decoding on the reading thread.
measure "10k series, $first shard(s), one decoder per core" "$LARGE" "$FAULTLINE" replay --input "$F_LARGE" --shards "$first" --decoders 0 --quiet
SUMMARY+=("decoder pool: 10 M events, $first shard(s), --decoders 0 / the default 1: $(ratio "${WALL_LARGE[$first]}" "$WALL")x the wall-clock throughput, $(ratio "$CPU_LARGE_FIRST" "$CPU")x the events per CPU-second")
for n in $SHARDS; do
    if [[ $n != "$first" ]]; then
        SUMMARY+=("wall-clock ratio, $n shards / $first shard (10 M events): $(ratio "${WALL_LARGE[$first]}" "${WALL_LARGE[$n]}")x the throughput")
    fi
done

if [[ $QUICK == 0 ]]; then
    CARD=4000000
    F_CARD=$(load "$CARD" 1000 1000 20)
    measure "1M series, $first shard(s)" "$CARD" "$FAULTLINE" replay --input "$F_CARD" --shards "$first" --quiet
    SUMMARY+=("1M-series events/s / 10k-series events/s ($first shard, wall): $(ratio "$(ratio "$CARD" "$WALL")" "$(ratio "$LARGE" "${WALL_LARGE[$first]}")")")

    cfg="$WORK/run.toml"
    cat > "$cfg" <<EOF
[sources.load]
type = "file"
path = "$F_LARGE"
follow = false

[runtime]
shards = 1

[admin]
port = 0

[sinks.console]
type = "stdout"
emit = "incidents"
EOF
    measure "replay, file, config" "$LARGE" "$FAULTLINE" replay --config "$cfg" --input "$F_LARGE" --quiet
    wall_replay=$WALL
    measure "run, file source" "$LARGE" "$FAULTLINE" run --config "$cfg"
    SUMMARY+=("run / replay throughput on the same file (10 M events, wall): $(ratio "$wall_replay" "$WALL") (goal >= 0.9)")
fi

echo
echo "| case | events | wall s | CPU s | peak RSS MiB | M events/s (wall) | command |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
printf -- '- %s\n' "${SUMMARY[@]}"
if [[ $QUICK == 0 ]]; then
    echo "- run.toml: a file source on the 10 M-event file (follow = false), [runtime] shards = 1, [admin] port = 0, the stdout sink (incidents), no state directory"
fi
echo "- files: \$CACHE = $CACHE (gen_load EVENTS SERVICES OPERATIONS SECONDS $SEED); profile $PROFILE; $(nproc) cores"
