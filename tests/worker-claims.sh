#!/usr/bin/env bash
# The parent owns the record: a sandboxed worker that claims a path outside its backend's shapes
# (as one subverted through a kernel or parser bug would) is refused, and the path is neither
# recorded nor removed. The lie is told by the test build's hook OVLBACKEND_TEST_CLAIM=KIND:PATH,
# sent from inside the worker before the backend's own work; the same holds with --no-sandbox,
# where the same calls go straight to the parent's code.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd findmnt
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build with its claim hook)"
enter_private_mountns "$@"

mounts_now() { findmnt -rn -o TARGET | sort; }
BEFORE=$(mounts_now)
mkdir -p "$TEST_TMP/l0/etc" "$TEST_TMP/l1/etc" "$TEST_TMP/decoy/sub"
echo base >"$TEST_TMP/l0/etc/base"
echo top >"$TEST_TMP/l1/etc/top"
echo precious >"$TEST_TMP/decoy/sub/file"
R=$TEST_TMP/rootfs
W=$OVLBACKEND_WORK_DIR

backends="copy bind"
overlay_backend_here && backends="$backends overlay"
tried=0
for backend in $backends; do
        layers=("$TEST_TMP/l0" "$TEST_TMP/l1")
        [ "$backend" = bind ] && layers=("$TEST_TMP/l1")
        # A path of the right kind but another's, a path that reaches out of the work dir with
        # "..", R's own parent, and each kind where the backend makes none.
        for lie in "scratch:$TEST_TMP/decoy" "scratch:$W/rootfs/../../decoy" "scratch:$TEST_TMP" \
                "mount:$TEST_TMP/decoy" "cache:$TEST_TMP/decoy" "cache:$W/layers/../../decoy" "mount:$R/.."; do
                for sandbox in "" --no-sandbox; do
                        got=0
                        OVLBACKEND_TEST_CLAIM=$lie "$OVLBACKEND_HOOKED" -q $sandbox assemble --backend="$backend" \
                                --rootfs="$R" "${layers[@]}" 2>"$TEST_TMP/err" || got=$?
                        err=$(cat "$TEST_TMP/err")
                        tried=$((tried + 1))
                        [ "$got" = 1 ] || fail "$backend $sandbox, worker claims $lie: exit $got, expected 1 ($err)"
                        assert_contains "$err" "worker claimed ${lie#*:} as ${lie%%:*}, which that backend never makes"
                        assert_file_content "$TEST_TMP/decoy/sub/file" precious
                        assert_absent "$R"
                        [ "$(mounts_now)" = "$BEFORE" ] || fail "$backend, $lie: mounts left"
                        assert_workdir_clean
                done
        done
        # The shapes the backend does make are accepted: a claim of the kind it makes anyway.
        case $backend in
        copy) lie= ;;
        *) lie="mount:$R" ;;
        esac
        if [ -n "$lie" ]; then
                OVLBACKEND_TEST_CLAIM=$lie "$OVLBACKEND_HOOKED" -q assemble --backend="$backend" --rootfs="$R" \
                        "${layers[@]}" || fail "$backend: a claim of its own shape ($lie) was refused"
                assert_file_content "$R/etc/top" top
                run_ovl 0 destroy "$R"
        fi
        echo "$backend: lying claims refused, nothing recorded or removed"
done
echo "PASS: $tried lying claims refused (sandboxed and --no-sandbox)"
