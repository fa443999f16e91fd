#!/usr/bin/env bash
# The lifecycle with every backend, mount backends included: a run stopped at each of its
# checkpoints (OVLBACKEND_TEST_STOP) and SIGKILLed there leaves R absent or complete with a finished
# record, and `gc` clears everything else with no mount left; a kill in the middle of building the
# overlay caches (1200 layers) leaves nothing gc cannot clear; 16 concurrent loops of three overlay
# assemble/destroy cycles all succeed and leave no mount; `list` follows the real mount table,
# including a rootfs unmounted, or covered by another mount, behind ovlbackend's back.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setfattr setfacl python3 findmnt flock
require_overlayfs
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build, which honours OVLBACKEND_TEST_STOP)"
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/fixtures.sh"

mounts_now() { findmnt -rn -o TARGET | sort; }
make_fixture "$TEST_TMP/img" aufs
LAYERS=("$TEST_TMP/img/l0" "$TEST_TMP/img/l1" "$TEST_TMP/img/l2")
mkdir -p "$TEST_TMP/single/etc"
echo single >"$TEST_TMP/single/etc/hostname"
R=$TEST_TMP/rootfs
BEFORE=$(mounts_now)

# layers_for BACKEND: the layers each backend is given.
layers_for() {
        if [ "$1" = bind ]; then echo "$TEST_TMP/single"; else printf '%s\n' "${LAYERS[@]}"; fi
}

# reference BACKEND: the manifest of a complete rootfs (root entry left out: an overlay's root is
# its upper dir).
reference() {
        local layers
        mapfile -t layers < <(layers_for "$1")
        run_ovl 0 assemble --backend="$1" --rootfs="$R" "${layers[@]}"
        manifest "$R" --dir-mtime | tail -n +2 >"$TEST_TMP/ref-$1"
        run_ovl 0 destroy "$R"
}

# state_of PID: its state letter (T stopped, Z zombie), empty once gone.
state_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }

# stop_at POINT BACKEND: runs assemble until it (or its sandboxed worker) stops at POINT, then
# SIGKILLs ovlbackend (the worker dies with it) and waits until both are gone. Prints "stopped"
# when it did stop there, "finished" when it ended without reaching POINT.
stop_at() {
        local point=$1 backend=$2 pid p state= stopped=finished layers procs
        mapfile -t layers < <(layers_for "$backend")
        OVLBACKEND_TEST_STOP=$point "$OVLBACKEND_HOOKED" -q assemble --backend="$backend" --rootfs="$R" "${layers[@]}" &
        pid=$!
        for _ in $(seq 1 1000); do
                procs="$pid $(pgrep -P "$pid" || true)"
                state=$(state_of "$pid")
                for p in $procs; do [ "$(state_of "$p")" != T ] || stopped=stopped; done
                # Stopped, or gone (reaped) or a zombie: it finished.
                [ "$stopped" = finished ] && [ -n "$state" ] && [ "$state" != Z ] || break
                sleep 0.01
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        for p in $procs; do
                while [ -n "$(state_of "$p")" ]; do sleep 0.01; done
        done
        echo "$stopped"
}

# after_kill BACKEND WHERE: R is complete with a finished record, or gc leaves nothing at all.
after_kill() {
        local backend=$1 where=$2
        if grep -q '^state=ready' "$OVLBACKEND_WORK_DIR"/rootfs/*/record 2>/dev/null; then
                manifest "$R" --dir-mtime | tail -n +2 | diff -u "$TEST_TMP/ref-$backend" - >&2 ||
                        fail "$backend, killed $where: the record is finished but R is not complete"
                run_ovl 0 list
                assert_contains "$OUT" "$backend"
                run_ovl 0 destroy "$R"
        else
                if [ -e "$R" ] && [ -n "$(ls -A "$R")" ]; then
                        manifest "$R" --dir-mtime | tail -n +2 | diff -q "$TEST_TMP/ref-$backend" - >/dev/null ||
                                fail "$backend, killed $where: a partial rootfs is visible at R"
                fi
                run_ovl 0 list
                assert_contains "$OUT" "stale"
                run_ovl 0 gc
        fi
        assert_absent "$R"
        [ "$(mounts_now)" = "$BEFORE" ] || fail "$backend, killed $where: mounts left: $(diff <(echo "$BEFORE") <(mounts_now))"
        run_ovl 0 gc
        assert_workdir_clean
}

for backend in copy bind overlay; do
        reference "$backend"
        n=1
        while [ "$(stop_at "checkpoint-$n" "$backend")" = stopped ]; do
                after_kill "$backend" "after checkpoint $n"
                n=$((n + 1))
        done
        after_kill "$backend" "after finishing"
        [ "$n" -ge 3 ] || fail "$backend: only $((n - 1)) checkpoints"
        [ "$(stop_at assembled "$backend")" = stopped ] || fail "$backend: never reached the 'assembled' stop point"
        after_kill "$backend" "with R complete and its record unfinished"
        echo "$backend: killed at $((n - 1)) checkpoints and once complete: all rolled back or complete"
done

echo "checkpoint kills: $SECONDS s"

# Killed in the middle of building the overlay caches: glue for 120 AUFS layers and a flattened
# bottom for 1200 layers. Whatever half-built entry is left, gc removes it and a new run works.
many_layers "$TEST_TMP/many" 1200 l
printf '%s\n' "$TEST_TMP"/many/l* >"$TEST_TMP/1200.list"
half_built=0
for delay in 0.05 0.15 0.3 0.6; do
        "$OVLBACKEND" -q assemble --backend=overlay --rootfs="$R" --layers-from="$TEST_TMP/1200.list" &
        pid=$!
        sleep "$delay"
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        if grep -q '^state=ready' "$OVLBACKEND_WORK_DIR"/rootfs/*/record 2>/dev/null; then
                check_many "$R" 1200
                run_ovl 0 destroy "$R"
        fi
        ls -A "$OVLBACKEND_WORK_DIR/layers" 2>/dev/null | grep -q '^\.tmp-' && half_built=$((half_built + 1))
        # The worker dies with its parent (PDEATHSIG), but a moment later: until then it holds the
        # cache lock, and gc (by design) leaves the caches to the next run. Wait for the lock.
        [ ! -e "$OVLBACKEND_WORK_DIR/layers.lock" ] || flock -x -w 30 "$OVLBACKEND_WORK_DIR/layers.lock" true ||
                fail "killed after ${delay}s: the cache lock is still held"
        run_ovl 0 gc
        assert_absent "$R"
        [ "$(mounts_now)" = "$BEFORE" ] || fail "killed after ${delay}s: mounts left"
        assert_workdir_clean
done
echo "kills that left a half-built cache entry for gc: $half_built of 4"
run_ovl 0 assemble --backend=overlay --rootfs="$R" --layers-from="$TEST_TMP/1200.list"
check_many "$R" 1200
run_ovl 0 destroy "$R"
run_ovl 0 gc

echo "cache-build kills: $SECONDS s"

# Two overlay assembles on the same R: one wins, the other fails cleanly.
for i in 1 2; do
        ("$OVLBACKEND" -q assemble --backend=overlay --rootfs="$R" "${LAYERS[@]}" 2>"$TEST_TMP/race$i"
         echo $? >"$TEST_TMP/race$i.rc") &
done
wait
[ "$(cat "$TEST_TMP"/race*.rc | grep -c '^0$')" = 1 ] ||
        fail "expected one winner of two racing assembles: $(cat "$TEST_TMP"/race1 "$TEST_TMP"/race2)"
[ "$(mounts_now | grep -cx "$R")" = 1 ] || fail "racing assembles left $(mounts_now | grep -cx "$R") mounts at R"
run_ovl 0 destroy "$R"

# 16 concurrent loops of three overlay assemble/destroy cycles on distinct rootfses, all sharing
# the same glue cache: no failure, no mount left.
for j in $(seq 1 16); do
        (for k in 1 2 3; do
                "$OVLBACKEND" -q assemble --backend=overlay --rootfs="$TEST_TMP/r$j" "${LAYERS[@]}" || exit 1
                [ "$(cat "$TEST_TMP/r$j/etc/passwd" | head -c 4)" != "" ] || exit 1
                "$OVLBACKEND" -q destroy "$TEST_TMP/r$j" || exit 1
        done) 2>"$TEST_TMP/loop$j.err" &
done
failed=0
for job in $(jobs -p); do wait "$job" || failed=$((failed + 1)); done
[ "$failed" = 0 ] || fail "$failed of 16 concurrent loops failed: $(cat "$TEST_TMP"/loop*.err)"
[ "$(mounts_now)" = "$BEFORE" ] || fail "concurrent loops left mounts"
run_ovl 0 gc
assert_workdir_clean

echo "concurrency: $SECONDS s"

# list against the mount table: mounted; unmounted behind our back (missing, and destroy still
# clears the record); covered by someone else's mount (not ours: missing, left alone).
run_ovl 0 assemble --backend=overlay --rootfs="$R" "${LAYERS[@]}"
run_ovl 0 list --json
python3 - "$OUT" "$R" <<'PY' || fail "list --json of a mounted overlay is wrong: $OUT"
import json, sys
[e] = json.loads(sys.argv[1])["rootfs"]
assert e["rootfs"] == sys.argv[2] and e["backend"] == "overlay" and e["layers"] == 3, e
assert e["state"] == "mounted" and e["mounted"] is True, e
PY
umount "$R"
run_ovl 0 list
assert_contains "$OUT" "missing"
run_ovl 0 destroy "$R"
assert_absent "$R"
run_ovl 0 assemble --backend=bind --rootfs="$R" "$TEST_TMP/single"
mount -t tmpfs covering "$R"
run_ovl 0 list --json
python3 - "$OUT" <<'PY' || fail "list --json of a covered bind mount is wrong: $OUT"
import json, sys
[e] = json.loads(sys.argv[1])["rootfs"]
assert e["state"] == "missing" and e["mounted"] is True, e
PY
run_ovl 1 destroy "$R"
assert_contains "$ERR" "not the one ovlbackend made, which may still be mounted below it; left it alone, the record is kept"
findmnt -rn -o SOURCE "$R" | grep -qx covering || fail "destroy touched someone else's mount"
umount "$R" # the tmpfs: ovlbackend's bind mount shows at R again, and its record is still there
run_ovl 0 destroy "$R"
assert_absent "$R"
run_ovl 0 gc
assert_workdir_clean
[ "$(mounts_now)" = "$BEFORE" ] || fail "mounts left at the end"
echo "PASS: lifecycle of every backend: kills at each checkpoint, cache-build kills, concurrency, list"
