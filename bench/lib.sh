# Shared by the benchmarks: best-of-N timing of a command with a preparation step that is not
# timed, and a results table of ratios against baselines measured in the same run (these machines
# are noisy: only ratios from one run mean anything). Never used to gate CI.
set -euo pipefail

: "${OVLBACKEND:?set OVLBACKEND to the ovlbackend binary}"
BENCH_DIR=${BENCH_DIR:-/var/tmp/ovlbackend-bench}
BENCH_CACHE=${OVL_FIXTURE_CACHE:-/var/cache/ovlbackend-fixtures}
BENCH_CSV=${BENCH_CSV:-$BENCH_DIR/results.csv}
export OVLBACKEND_WORK_DIR=$BENCH_DIR/work
# Shut to other users: assemble refuses rootfses every local user can reach.
mkdir -p "$BENCH_DIR"
chmod 0700 "$BENCH_DIR"

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

# report NAME OURS BASELINE BASELINE-NAME GOAL: one table row and one CSV line; GOAL "-" for a
# ratio that is only reported.
report() {
        local ratio goal="(goal <= $5)"
        ratio=$(echo "$2 / $3" | bc -l)
        [ "$5" != - ] || goal=
        printf '%-38s %9.3f s %9.3f s %-28s %7.3f  %s\n' "$1" "$2" "$3" "$4" "$ratio" "$goal"
        printf '%s,%s,%s,%s,%.4f,%s\n' "$1" "$2" "$3" "$4" "$ratio" "$5" >>"$BENCH_CSV"
}

report_header() {
        printf '%-38s %11s %11s %-28s %7s\n' case ovlbackend baseline "baseline is" ratio
}

# tiny_layers N: prints the paths of N tiny layers, bottom first (cached), each overriding one
# shared file and adding its own.
tiny_layers() {
        local n=$1 dir=$BENCH_CACHE/tiny-$1 tmp i
        if [ ! -d "$dir" ]; then
                mkdir -p "$BENCH_CACHE"
                tmp=$(mktemp -d "$BENCH_CACHE/.tiny.XXXXXX")
                for i in $(seq -w 0 $((n - 1))); do
                        mkdir -p "$tmp/l$i/shared" "$tmp/l$i/own"
                        echo "layer $i" >"$tmp/l$i/shared/file"
                        echo "own $i" >"$tmp/l$i/own/file-$i"
                done
                mv "$tmp" "$dir"
        fi
        printf '%s\n' "$dir"/l*
}
