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

# private_mount_ns ARG...: runs the calling script again, with ARGs, in a private mount namespace
# (unless it runs in one already): what it mounts is never seen outside and goes away with it,
# even when it is killed.
private_mount_ns() {
        [ "${OVL_BENCH_PRIVATE_NS:-}" != 1 ] || return 0
        export OVL_BENCH_PRIVATE_NS=1
        exec unshare -m --propagation private bash "$0" "$@"
}

# fresh_ext4 DIR SIZE_MIB: a new empty ext4 at DIR (a sparse image DIR.img on a loop device, with
# direct I/O so that what is written is not cached twice) in place of the one there, with a 0700
# DIR/rootfses; returns 1 if none can be made. For runs that must not follow the deletion of the
# previous run's tree: inode allocation can be slow for minutes after one (ext4 without a journal,
# as on some VMs, skips the inodes it freed lately one by one at every allocation). Call
# private_mount_ns first; drop_ext4 DIR at the end.
fresh_ext4() {
        drop_ext4 "$1"
        truncate -s "$2M" "$1.img"
        mkfs.ext4 -q -F -i 4096 -E lazy_itable_init=1,lazy_journal_init=1,nodiscard "$1.img" >/dev/null 2>&1 &&
                mkdir -p "$1" && mount -o loop,noinit_itable "$1.img" "$1" 2>/dev/null || return 1
        losetup --direct-io=on "$(findmnt -n -o SOURCE "$1")" 2>/dev/null || true
        mkdir -m 0700 "$1/rootfses"
}
drop_ext4() { umount "$1" 2>/dev/null || true; rm -f "$1.img"; rmdir "$1" 2>/dev/null || true; }

# warm PATH...: reads the trees at PATHs into the page cache, file data included (which
# `tar -cf /dev/null` skips: GNU tar does not read what it would write to /dev/null).
warm() { tar -cf - "$@" 2>/dev/null | cat >/dev/null || true; }

# best_of N RESET CMD...: runs RESET (untimed) then CMD, N times; prints the best time in seconds.
# RESET is eval'd in here: a variable it names must not be one of the locals (n, reset, best, ...).
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

# best_of_rss N RESET CMD...: best_of for a program (not a shell function), with its memory:
# prints "SECONDS KIB", the best wall time (measured here, to the ms: GNU time's %e has 10 ms) and
# the largest peak RSS over the N runs as GNU time's %M gives it: getrusage of the process and of
# the children it waited for, i.e. the peak of the largest single process of the tree, not a sum.
best_of_rss() {
        local n=$1 reset=$2 best='' rss=0 t0 t1 t m out
        shift 2
        out=$(mktemp)
        for _ in $(seq 1 "$n"); do
                eval "$reset"
                sync
                t0=$(now)
                /usr/bin/time -o "$out" -f '%e %M' "$@" >/dev/null
                t1=$(now)
                t=$(echo "$t1 - $t0" | bc -l)
                if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
                m=$(tail -n 1 "$out" | cut -d' ' -f2)
                [ "$m" -le "$rss" ] || rss=$m
        done
        rm -f "$out"
        printf '%.3f %s\n' "$best" "$rss"
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
