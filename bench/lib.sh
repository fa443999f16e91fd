# Shared by the benchmarks: best-of-N timing of a command with a preparation step that is not
# timed, and a results table of ratios against baselines measured in the same run (these machines
# are noisy: only ratios from one run mean anything). Never used to gate CI.
set -euo pipefail

: "${OVLBACKEND:?set OVLBACKEND to the ovlbackend binary}"
BENCH_DIR=${BENCH_DIR:-/var/tmp/ovlbackend-bench}
BENCH_CACHE=${OVL_FIXTURE_CACHE:-/var/cache/ovlbackend-fixtures}
BENCH_CSV=${BENCH_CSV:-$BENCH_DIR/results.csv}
export OVLBACKEND_WORK_DIR=$BENCH_DIR/work
mkdir -p "$BENCH_DIR"

now() { date +%s.%N; }

# best_of N RESET CMD...: runs RESET (untimed) then CMD, N times; prints the best time in seconds.
best_of() {
        local n=$1 reset=$2 best= t0 t1 t
        shift 2
        for _ in $(seq 1 "$n"); do
                eval "$reset"
                sync
                t0=$(now)
                "$@" >/dev/null
                t1=$(now)
                t=$(echo "$t1 - $t0" | bc -l)
                if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
        done
        printf '%.3f\n' "$best"
}

# report NAME OURS BASELINE BASELINE-NAME GOAL: one table row and one CSV line.
report() {
        local ratio
        ratio=$(echo "$2 / $3" | bc -l)
        printf '%-34s %9.3f s %9.3f s %-28s %7.3f  (goal <= %s)\n' "$1" "$2" "$3" "$4" "$ratio" "$5"
        printf '%s,%s,%s,%s,%.4f,%s\n' "$1" "$2" "$3" "$4" "$ratio" "$5" >>"$BENCH_CSV"
}

report_header() {
        printf '%-34s %11s %11s %-28s %7s\n' case ovlbackend baseline "baseline is" ratio
}
