#!/usr/bin/env bash
# The rootfs lifecycle: list against reality, destroy (twice, foreign paths, mounts below),
# gc after runs killed with SIGKILL at random points, and concurrent runs.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3
enter_private_mountns "$@"

# Three layers of 2000 small files each: big enough that a kill lands mid-copy.
for i in 0 1 2; do
        mkdir -p "$TEST_TMP/l$i/d$i"
        python3 - "$TEST_TMP/l$i" "$i" <<'PY'
import os, sys
root, layer = sys.argv[1], sys.argv[2]
for n in range(2000):
    d = os.path.join(root, "shared", "d%02d" % (n % 40))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%04d" % n), "w") as f:
        f.write(("layer %s file %d\n" % (layer, n)) * 64)
PY
done
LAYERS=("$TEST_TMP/l0" "$TEST_TMP/l1" "$TEST_TMP/l2")
R=$TEST_TMP/rootfs

# Reference tree, then list in both forms.
run_ovl 0 assemble --backend=copy --rootfs="$R" "${LAYERS[@]}"
manifest "$R" --dir-mtime >"$TEST_TMP/reference"
run_ovl 0 list
assert_contains "$OUT" "copy     3      present"
assert_contains "$OUT" "$R"
run_ovl 0 list --json
python3 - "$OUT" "$R" <<'PY' || fail "list --json is wrong: $OUT"
import json, sys
o = json.loads(sys.argv[1])
[e] = o["rootfs"]
assert e["rootfs"] == sys.argv[2] and e["backend"] == "copy" and e["layers"] == 3, e
assert e["state"] == "present" and e["record_state"] == "ready" and e["mounted"] is False, e
assert e["created"] > 1700000000, e
PY

# A second assemble on a live rootfs is refused and changes nothing.
run_ovl 2 assemble --backend=copy --rootfs="$R" "${LAYERS[@]}"
assert_contains "$ERR" "already assembled by ovlbackend"
manifest "$R" --dir-mtime | diff -q "$TEST_TMP/reference" - >/dev/null || fail "refused assemble changed R"

# Something mounted below R: destroy refuses before deleting anything.
mount -t tmpfs tmpfs "$R/shared"
run_ovl 1 destroy "$R"
assert_contains "$ERR" "something is mounted on or below it"
umount "$R/shared"
manifest "$R" --dir-mtime | diff -q "$TEST_TMP/reference" - >/dev/null || fail "refused destroy changed R"

# Destroy while a process holds a file open inside; then twice; then foreign paths.
exec 9<"$R/shared/d00/f0000"
run_ovl 0 destroy "$R"
exec 9<&-
assert_absent "$R"
run_ovl 1 destroy "$R"
assert_contains "$ERR" "rootfs $R: not assembled by ovlbackend"
mkdir -p "$TEST_TMP/foreign/x"
run_ovl 1 destroy "$TEST_TMP/foreign"
assert_contains "$ERR" "not assembled by ovlbackend"
[ -d "$TEST_TMP/foreign/x" ] || fail "destroy touched a foreign path"
run_ovl 1 destroy /
assert_contains "$ERR" "not assembled by ovlbackend"
assert_workdir_clean

# A symlink to a rootfs is not that rootfs.
run_ovl 0 assemble --backend=copy --rootfs="$R" "${LAYERS[@]}"
ln -s "$R" "$TEST_TMP/link-to-rootfs"
run_ovl 1 destroy "$TEST_TMP/link-to-rootfs"
assert_contains "$ERR" "not assembled by ovlbackend"
# Removed behind ovlbackend's back: list says missing, destroy still clears the record.
mv "$R" "$TEST_TMP/moved"
run_ovl 0 list
assert_contains "$OUT" "missing"
run_ovl 0 destroy "$R"
assert_workdir_clean
# Replaced behind its back: destroy leaves the impostor alone.
run_ovl 0 assemble --backend=copy --rootfs="$R" "${LAYERS[@]}"
rm -rf "$R"
mkdir "$R"
echo mine >"$R/precious"
run_ovl 1 destroy "$R"
assert_contains "$ERR" "not the tree ovlbackend built (replaced since?); left it alone; its record is forgotten"
assert_file_content "$R/precious" mine
run_ovl 1 destroy "$R"
assert_contains "$ERR" "not assembled by ovlbackend"
assert_file_content "$R/precious" mine
assert_workdir_clean
rm -rf "$R" "$TEST_TMP/moved"

# SIGKILL at random points (50 runs): R is absent or complete, gc clears every leftover, and a new
# assemble works.
rm -rf "$OVLBACKEND_WORK_DIR"
for i in $(seq 1 50); do
        "$OVLBACKEND" -q assemble --backend=copy --rootfs="$R" "${LAYERS[@]}" &
        pid=$!
        sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        if [ -e "$R" ]; then
                manifest "$R" --dir-mtime | diff -q "$TEST_TMP/reference" - >/dev/null ||
                        fail "iteration $i: a partial rootfs is visible at R"
        fi
        run_ovl 0 list
        if grep -q ready "$OVLBACKEND_WORK_DIR"/rootfs/*/record 2>/dev/null; then
                run_ovl 0 destroy "$R"
        else
                run_ovl 0 gc
        fi
        assert_absent "$R"
        [ -z "$(ls -A "$TEST_TMP" | grep ovlbackend-tmp)" ] || fail "iteration $i: scratch survived gc"
        assert_workdir_clean
done
run_ovl 0 assemble --backend=copy --rootfs="$R" "${LAYERS[@]}"
manifest "$R" --dir-mtime | diff -q "$TEST_TMP/reference" - >/dev/null || fail "assemble after the kills differs"
run_ovl 0 destroy "$R"

# Two assembles on the same R at once: exactly one wins, the other fails cleanly.
for i in 1 2; do
        ("$OVLBACKEND" -q assemble --backend=copy --rootfs="$R" "${LAYERS[@]}" 2>"$TEST_TMP/race$i"; echo $? >"$TEST_TMP/race$i.rc") &
done
wait
wins=$(cat "$TEST_TMP"/race*.rc | grep -c '^0$' || true)
[ "$wins" = 1 ] || fail "expected one winner of two racing assembles, got $wins: $(cat "$TEST_TMP"/race1 "$TEST_TMP"/race2)"
manifest "$R" --dir-mtime | diff -q "$TEST_TMP/reference" - >/dev/null || fail "racing assemble left a wrong tree"
run_ovl 0 destroy "$R"

# Eight concurrent loops of three assemble/destroy cycles on distinct rootfses: no failure.
for j in $(seq 1 8); do
        (for k in 1 2 3; do
                "$OVLBACKEND" -q assemble --backend=copy --rootfs="$TEST_TMP/r$j" "${LAYERS[@]}" &&
                        "$OVLBACKEND" -q destroy "$TEST_TMP/r$j" || exit 1
        done) &
done
failed=0
for job in $(jobs -p); do wait "$job" || failed=$((failed + 1)); done
[ "$failed" = 0 ] || fail "$failed of 8 concurrent loops failed"
assert_workdir_clean
run_ovl 0 gc --json
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["removed"] == [] and o["kept"] == [], o' "$OUT" ||
        fail "gc found leftovers after clean runs: $OUT"
echo "PASS: lifecycle, crash safety and concurrency"
