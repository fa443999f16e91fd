#!/usr/bin/env bash
# examples/containerizer.sh does what it documents: gc at start-up (clearing a crashed run's
# leftovers), the probed backend, assemble --json, the run, destroy; exit 3 falls back to copy.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build, which honours OVLBACKEND_TEST_STOP)"
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/fixtures.sh"
EXAMPLE=$OVL_TESTS_SRCDIR/../examples/containerizer.sh
export CONTAINERS_DIR=$TEST_TMP/containers

make_fixture "$TEST_TMP/img" aufs
LAYERS=("$TEST_TMP/img/l0" "$TEST_TMP/img/l1" "$TEST_TMP/img/l2")

# A crashed run's leftover: a record whose assemble never finished.
OVLBACKEND_TEST_STOP=checkpoint-1 "$OVLBACKEND_HOOKED" -q --no-sandbox assemble --backend=copy \
        --rootfs="$TEST_TMP/crashed" "${LAYERS[@]}" &
pid=$!
for _ in $(seq 1 500); do
        [ "$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1)" = T ] && break
        sleep 0.01
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true

out=$(bash "$EXAMPLE" --run='test "$(cat "$ROOTFS/recreate")" = again && test ! -e "$ROOTFS/del/me" && echo checked' \
        web1 "${LAYERS[@]}") || fail "the example failed: $out"
assert_contains "$out" "start-up: gc removed 1 leftover(s)"
expected=$("$OVLBACKEND" -q probe --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["recommended_backend"])')
assert_contains "$out" "probe recommends: $expected"
assert_contains "$out" "with $expected (3 layers)"
assert_contains "$out" checked
assert_contains "$out" "container exited with 0"
assert_absent "$CONTAINERS_DIR/web1"

# bind cannot stack three layers: bad input (2), not retried.
rc=0
out=$(bash "$EXAMPLE" --backend=bind web2 "${LAYERS[@]}" 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "bad input: exit $rc, expected 2: $out"
assert_contains "$out" "bad input, not retried"

# Not supported here (3) falls back to copy: overlay with --no-flatten past the kernel's stack
# limit, through a wrapper that adds --stack=layers --no-flatten to overlay assembles (the
# metadata stack, auto's choice there, fits any number of layers).
printf '#!/usr/bin/env bash\nargs=()\nfor a in "$@"; do args+=("$a"); [ "$a" != --backend=overlay ] || args+=(--stack=layers --no-flatten); done\nexec %q "${args[@]}"\n' \
        "$OVLBACKEND" >"$TEST_TMP/ovl-no-flatten"
chmod 0755 "$TEST_TMP/ovl-no-flatten"
many_layers "$TEST_TMP/many" 520 l
mapfile -t many < <(printf '%s\n' "$TEST_TMP"/many/l*)
out=$(OVLBACKEND="$TEST_TMP/ovl-no-flatten" bash "$EXAMPLE" --backend=overlay --run='test "$(cat "$ROOTFS/shared/file")" = 519 && echo checked' \
        web3 "${many[@]}" 2>&1) || fail "the fallback failed: $out"
assert_contains "$out" "overlay is not supported here: falling back to copy"
assert_contains "$out" "with copy (520 layers)"
assert_contains "$out" checked
run_ovl 0 gc
assert_workdir_clean
echo "PASS: the containerizer example works as documented"
