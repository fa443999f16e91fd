#!/usr/bin/env bash
# The bind backend: one layer, read-only by default (EROFS, the layer untouched), --read-write
# reaching the layer, exactly one new mount on the host, destroy with a file held open inside,
# refusal of two layers and of a layer with whiteout markers, each leaving nothing behind.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd findmnt python3
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build, which honours OVLBACKEND_LEGACY_MOUNT_API)"
enter_private_mountns "$@"
PLAIN=$OVLBACKEND

mounts_now() { findmnt -rn -o TARGET | sort; }
L=$TEST_TMP/layer
mkdir -p "$L/etc" "$L/bin"
echo base >"$L/etc/hostname"
ln -s ../etc/hostname "$L/bin/link"
manifest "$L" >"$TEST_TMP/layer-before"
before=$(mounts_now)

for mode in new legacy; do
        # Only the test build honours the legacy switch.
        [ "$mode" = new ] || { export OVLBACKEND_LEGACY_MOUNT_API=1; OVLBACKEND=$OVLBACKEND_HOOKED; }
        R=$TEST_TMP/R-$mode
        run_ovl 0 assemble --backend=bind --rootfs="$R" "$L"
        [ "$(diff <(echo "$before") <(mounts_now) | grep '^>')" = "> $R" ] || fail "other mounts than $R appeared"
        assert_file_content "$R/etc/hostname" base
        if echo x 2>"$TEST_TMP/w.err" >"$R/etc/hostname"; then fail "a write went through a read-only bind"; fi
        assert_contains "$(cat "$TEST_TMP/w.err")" "Read-only file system"
        # Destroy while a process holds a file open inside: the mount is detached all the same.
        exec 7<"$R/etc/hostname"
        run_ovl 0 destroy "$R"
        exec 7<&-
        assert_absent "$R"
        [ "$(mounts_now)" = "$before" ] || fail "mounts left after destroy"
        run_ovl 1 destroy "$R"
        assert_contains "$ERR" "not assembled by ovlbackend"

        # An existing empty directory is used and kept; nosuid and nodev when asked.
        mkdir "$R"
        run_ovl 0 assemble --backend=bind --nosuid --nodev --rootfs="$R" "$L"
        opts=$(findmnt -rn -o OPTIONS "$R")
        assert_contains "$opts" nosuid
        assert_contains "$opts" nodev
        run_ovl 0 destroy "$R"
        [ -d "$R" ] && [ -z "$(ls -A "$R")" ] || fail "the caller's empty directory was not kept empty"
        rmdir "$R"
        unset OVLBACKEND_LEGACY_MOUNT_API
        OVLBACKEND=$PLAIN
done
manifest "$L" | diff "$TEST_TMP/layer-before" - >&2 || fail "the layer changed"

# --read-write: the writes reach the layer, as --help warns.
run_ovl 0 assemble --backend=bind --read-write --rootfs="$TEST_TMP/rw" "$L"
echo changed >"$TEST_TMP/rw/etc/hostname"
assert_file_content "$L/etc/hostname" changed
run_ovl 0 destroy "$TEST_TMP/rw"
"$OVLBACKEND" assemble --help | grep -q "WRITES REACH THE LAYER" || fail "--help does not warn about --read-write"

# Refusals: two layers, a layer with whiteout markers (either form), contradicting options.
mkdir -p "$TEST_TMP/wh/etc" "$TEST_TMP/dev-wh"
: >"$TEST_TMP/wh/etc/.wh.hostname"
mknod "$TEST_TMP/dev-wh/gone" c 0 0
run_ovl 2 assemble --backend=bind --rootfs="$TEST_TMP/R" "$L" "$L"
assert_contains "$ERR" "takes exactly one layer, 2 given; the copy and overlay backends stack layers"
run_ovl 2 assemble --backend=bind --rootfs="$TEST_TMP/R" "$TEST_TMP/wh"
assert_contains "$ERR" "holds a whiteout marker (etc/.wh.hostname)"
run_ovl 2 assemble --backend=bind --rootfs="$TEST_TMP/R" "$TEST_TMP/dev-wh"
assert_contains "$ERR" "holds a whiteout marker (gone)"
run_ovl 2 assemble --backend=bind --read-only --read-write --rootfs="$TEST_TMP/R" "$L"
run_ovl 2 assemble --backend=copy --read-write --rootfs="$TEST_TMP/R" "$L"
assert_contains "$ERR" "backend copy: does not take --read-write"
assert_absent "$TEST_TMP/R"
[ "$(mounts_now)" = "$before" ] || fail "a refused assemble left a mount"
# --allow-whiteouts binds it as it is.
run_ovl 0 assemble --backend=bind --allow-whiteouts --rootfs="$TEST_TMP/R" "$TEST_TMP/wh"
[ -e "$TEST_TMP/R/etc/.wh.hostname" ] || fail "--allow-whiteouts did not bind the layer as it is"
run_ovl 0 destroy "$TEST_TMP/R"
assert_workdir_clean
echo "PASS: bind read-only, read-write, refusals, destroy with an open file, new API and legacy"
