#!/usr/bin/env bash
# A container still running while `destroy` walks its copy rootfs, renaming its directories as fast
# as it can: destroy either removes the whole tree or stops with "the tree changed while it was
# removed" and keeps the record (so a later destroy or gc finishes it); it never touches anything
# outside the rootfs, and once the container stops, destroy completes. Bounded: 10 tries or 20 s.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3
enter_private_mountns "$@"

mkdir -p "$TEST_TMP/l0/etc" "$TEST_TMP/outside/keep"
echo base >"$TEST_TMP/l0/etc/base"
echo mine >"$TEST_TMP/outside/keep/file"
R=$TEST_TMP/rootfs

# The container: a deep tree (deeper than the walker keeps open, so it climbs back through "..")
# and a loop that keeps moving its subtrees around inside R.
cat >"$TEST_TMP/container.py" <<'PY'
import os, sys, time
root, seconds = sys.argv[1], float(sys.argv[2])
fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
for top in ("a", "b"):
    d = os.open(".", os.O_RDONLY, dir_fd=fd)
    for _ in range(300):
        os.mkdir("d", dir_fd=d)
        open(f"/proc/self/fd/{d}/d/f", "w").close()
        n = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=d)
        os.close(d)
        d = n
    os.close(d)
    os.rename("d", top, src_dir_fd=fd, dst_dir_fd=fd)
print("ready", flush=True)
end = time.time() + seconds
while time.time() < end:
    try:
        os.rename("a/d/d/d", "b/d/d/x", src_dir_fd=fd, dst_dir_fd=fd)
        os.rename("b/d/d/x", "a/d/d/d", src_dir_fd=fd, dst_dir_fd=fd)
    except OSError:
        pass  # destroy got there first
PY

tries=0 stopped=0 finished=0 start=$SECONDS
while [ "$tries" -lt 10 ] && [ $((SECONDS - start)) -lt 20 ]; do
        tries=$((tries + 1))
        run_ovl 0 assemble --backend=copy --rootfs="$R" "$TEST_TMP/l0"
        coproc CONTAINER { python3 "$TEST_TMP/container.py" "$R" 5; }
        read -r -t 30 line <&"${CONTAINER[0]}" || true
        [ "$line" = ready ] || fail "the container did not start"
        rc=0
        "$OVLBACKEND" destroy "$R" >/dev/null 2>"$TEST_TMP/destroy.err" || rc=$?
        wait "$CONTAINER_PID" 2>/dev/null || true
        [ "$(cat "$TEST_TMP/outside/keep/file")" = mine ] || fail "try $tries: destroy touched a file outside the rootfs"
        if [ "$rc" = 0 ]; then
                finished=$((finished + 1))
                assert_absent "$R"
                continue
        fi
        stopped=$((stopped + 1))
        assert_contains "$(cat "$TEST_TMP/destroy.err")" "the tree changed while it was removed"
        assert_one_line "$(cat "$TEST_TMP/destroy.err")"
        # The record is kept, and with the container gone destroy finishes.
        run_ovl 0 list
        assert_contains "$OUT" "$R"
        run_ovl 0 destroy "$R"
        assert_absent "$R"
done
run_ovl 0 gc
assert_workdir_clean
echo "destroy raced by a running container: $tries tries, $finished finished at once, $stopped stopped and finished later"
echo "PASS: a container rewriting its tree never makes destroy act outside it, and destroy finishes once it stops"
