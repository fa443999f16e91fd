#!/usr/bin/env bash
# The legacy paths, reached through the kernel interface: integration tests run with ovlbackend
# under a seccomp shim (tests/helpers/enosys-shim.c) that makes fsopen, fsconfig, fsmount, fspick,
# move_mount, open_tree, mount_setattr and openat2 fail with ENOSYS, as a kernel older than them
# would. The same tests must pass, and probe must see the kernel as old.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3
[ -x "${OVL_ENOSYS_SHIM:-}" ] || skip "OVL_ENOSYS_SHIM (tests/enosys-shim, built by make check) is not set"
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build, which honours OVLBACKEND_LEGACY_MOUNT_API, for the tests it runs)"
enter_private_mountns "$@"

printf '#!/usr/bin/env bash\nexec %q %q "$@"\n' "$OVL_ENOSYS_SHIM" "$OVLBACKEND" >"$TEST_TMP/ovlbackend-old-kernel"
chmod 0755 "$TEST_TMP/ovlbackend-old-kernel"
export OVLBACKEND=$TEST_TMP/ovlbackend-old-kernel
# The tests it runs use the test build for their legacy-switch runs: under the shim too.
printf '#!/usr/bin/env bash\nexec %q %q "$@"\n' "$OVL_ENOSYS_SHIM" "$OVLBACKEND_HOOKED" >"$TEST_TMP/ovlbackend-hooked-old-kernel"
chmod 0755 "$TEST_TMP/ovlbackend-hooked-old-kernel"
export OVLBACKEND_HOOKED=$TEST_TMP/ovlbackend-hooked-old-kernel

run_ovl 0 probe --json "$TEST_TMP/probe"
python3 - "$OUT" <<'PY' || fail "probe under the shim does not see an old kernel: $OUT"
import json, sys
o = json.loads(sys.argv[1])
for key in ("fsopen", "lowerdir+", "layer_fds", "open_tree", "openat2", "idmap"):
    assert not o[key]["supported"] and ("Function not implemented" in o[key]["detail"] or "needs" in o[key]["detail"]), (key, o[key])
assert o["overlay"]["supported"] and "mount(2)" in o["overlay"]["detail"], o["overlay"]
assert o["max_layers"] >= 2, o["max_layers"]
PY

for t in copy-whiteouts copy-hostile bind overlay; do
        start=$SECONDS
        bash "$OVL_TESTS_SRCDIR/$t.sh" >"$TEST_TMP/$t.log" 2>&1 || {
                tail -n 30 "$TEST_TMP/$t.log" >&2
                fail "$t failed on the simulated old kernel"
        }
        echo "$t: $(tail -n 1 "$TEST_TMP/$t.log") ($((SECONDS - start)) s)"
done
echo "PASS: the legacy paths pass the integration tests on a simulated pre-5.2 kernel"
