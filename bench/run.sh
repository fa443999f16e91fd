#!/usr/bin/env bash
# `make bench`: every benchmark, one table of ratios against baselines measured in the same run,
# also written as CSV ($BENCH_DIR/results.csv). Needs root. Never part of `make check`.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
: >"$BENCH_CSV"
echo "case,ovlbackend_s,baseline_s,baseline,ratio,goal" >"$BENCH_CSV"
bash "$here/copy.sh"
bash "$here/copy-scale.sh"
bash "$here/copy-large.sh"
bash "$here/overlay.sh"
bash "$here/overlay-meta.sh"
bash "$here/latency.sh"
bash "$here/idmap.sh"
echo "CSV: $BENCH_CSV"
