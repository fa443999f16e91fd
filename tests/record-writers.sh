#!/usr/bin/env bash
# Only the parent writes records: under strace -f, every open for writing of a record file (and of
# its temporary name) on assemble and destroy, for every backend, comes from the ovlbackend process
# itself, never from its sandboxed worker.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd strace
enter_private_mountns "$@"

mkdir -p "$TEST_TMP/l0/etc" "$TEST_TMP/l1/etc"
echo base >"$TEST_TMP/l0/etc/base"
echo top >"$TEST_TMP/l1/etc/top"
R=$TEST_TMP/rootfs

# writers LOG: "PID" of each process that opened a record file for writing (one line each).
writers() {
        grep -E 'open(at)?\(.*record[^"]*", [^)]*O_(WRONLY|RDWR|CREAT)' "$1" | awk '{print $1}' | sort -u
}

backends="copy bind"
overlay_backend_here && backends="$backends overlay"
for backend in $backends; do
        layers=("$TEST_TMP/l0" "$TEST_TMP/l1")
        [ "$backend" = bind ] && layers=("$TEST_TMP/l1")
        for op in assemble destroy; do
                if [ "$op" = assemble ]; then args=(assemble --backend="$backend" --rootfs="$R" "${layers[@]}")
                else args=(destroy "$R"); fi
                # LeakSanitizer cannot run under ptrace (the sanitizer build).
                ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=open,openat,openat2,creat -o "$TEST_TMP/trace" "$OVLBACKEND" -q "${args[@]}" ||
                        fail "$backend $op under strace failed"
                main=$(head -n1 "$TEST_TMP/trace" | awk '{print $1}')
                who=$(writers "$TEST_TMP/trace")
                [ -n "$who" ] || fail "$backend $op: no record written at all (the trace shows none)"
                [ "$who" = "$main" ] || fail "$backend $op: records opened for writing by $(echo "$who" | paste -sd' ') (parent: $main)"
                # The sandbox really forked a worker, or the check above proves nothing.
                [ "$(awk '{print $1}' "$TEST_TMP/trace" | sort -u | wc -l)" -ge 2 ] ||
                        fail "$backend $op: no worker process in the trace"
        done
        echo "$backend: records written by the parent only, on assemble and destroy"
done
echo "PASS: only the parent writes records"
