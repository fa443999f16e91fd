#!/usr/bin/env bash
# The overlay backend: in every whiteout format the mounted view equals the copy backend's tree
# entry by entry; writes land in the upper dir only; the host gains exactly one mount, R, and loses
# it on destroy; read-only and tmpfs uppers work; paths with , : \ and spaces, 64 layers with long
# paths (far over a page of options), 500 layers, and 1200 (flattened at the bottom) read right;
# --no-flatten names the kernel's limit. Run twice: with the new mount API and forced legacy.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setfattr setfacl python3 findmnt
require_overlayfs
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build, which honours OVLBACKEND_LEGACY_MOUNT_API)"
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/fixtures.sh"
PLAIN=$OVLBACKEND

mounts_now() { findmnt -rn -o TARGET | sort; }

# same_view FORMAT MODE: overlay of the fixture in FORMAT equals the copy of it.
same_view() {
        local format=$1 mode=$2 R=$TEST_TMP/R-$format-$mode C=$TEST_TMP/C-$format before
        local layers=("$TEST_TMP/$format/l0" "$TEST_TMP/$format/l1" "$TEST_TMP/$format/l2")
        [ -d "$C" ] || run_ovl 0 assemble --backend=copy --rootfs="$C" "${layers[@]}"
        before=$(mounts_now)
        run_ovl 0 assemble --backend=overlay --rootfs="$R" "${layers[@]}"
        [ "$(diff <(echo "$before") <(mounts_now) | grep -c '^>')" = 1 ] || fail "the host gained other mounts than R"
        findmnt -rn -o FSTYPE "$R" | grep -qx overlay || fail "$R is not an overlay mount"
        # Entry by entry, directory times included, except the root's (the upper dir's is ours).
        diff -u <(manifest "$C" --dir-mtime | tail -n +2) <(manifest "$R" --dir-mtime | tail -n +2) >&2 ||
                fail "overlay view of $format ($mode) differs from the copy backend's tree"
        # Writes land in the upper dir, never in a layer.
        manifest "$TEST_TMP/$format" --no-mtime >"$TEST_TMP/layers-before"
        echo written >"$R/etc/new-file"
        echo changed >"$R/etc/passwd"
        rm "$R/etc/keep"
        manifest "$TEST_TMP/$format" --no-mtime | diff "$TEST_TMP/layers-before" - >&2 || fail "a write reached a layer"
        [ "$(cat "$OVLBACKEND_WORK_DIR"/rootfs/*/upper/etc/new-file)" = written ] || fail "the write is not in the upper dir"
        run_ovl 0 destroy "$R"
        assert_absent "$R"
        [ "$(mounts_now)" = "$before" ] || fail "mounts left after destroy"
}

for mode in new legacy; do
        # Only the test build honours the legacy switch.
        if [ "$mode" = legacy ]; then export OVLBACKEND_LEGACY_MOUNT_API=1 OVLBACKEND=$OVLBACKEND_HOOKED; fi
        for format in aufs overlay overlay-user xattr mixed; do
                [ -d "$TEST_TMP/$format" ] || make_fixture "$TEST_TMP/$format" "$format"
                same_view "$format" "$mode"
        done

        # Read-only: no upper dir, writes fail with EROFS; a single layer works too.
        R=$TEST_TMP/ro-$mode
        run_ovl 0 assemble --backend=overlay --read-only --rootfs="$R" "$TEST_TMP/aufs/l0"
        if touch "$R/x" 2>"$TEST_TMP/touch.err"; then fail "a read-only overlay took a write"; fi
        assert_contains "$(cat "$TEST_TMP/touch.err")" "Read-only file system"
        run_ovl 0 destroy "$R"

        # The upper dir on a private tmpfs of a given size: nothing but R appears on the host.
        before=$(mounts_now)
        R=$TEST_TMP/tmpfs-$mode
        run_ovl 0 assemble --backend=overlay --upper=tmpfs:16m --rootfs="$R" "$TEST_TMP/aufs/l0" "$TEST_TMP/aufs/l1"
        [ "$(diff <(echo "$before") <(mounts_now) | grep '^>')" = "> $R" ] || fail "tmpfs upper: other mounts appeared"
        if dd if=/dev/zero of="$R/big" bs=1M count=32 2>/dev/null; then fail "the 16m tmpfs took 32 MiB"; fi
        run_ovl 0 destroy "$R"
        [ "$(mounts_now)" = "$before" ] || fail "tmpfs upper: mounts left after destroy"
        run_ovl 2 assemble --backend=overlay --upper=disk --rootfs="$R" "$TEST_TMP/aufs/l0"
        assert_contains "$ERR" "expected tmpfs or tmpfs:SIZE"

        # Layer paths with , : \ and spaces.
        odd="$TEST_TMP/odd, :\\ dir"
        mkdir -p "$odd/a,b" "$odd/c:d" "$odd/e\\f"
        echo 1 >"$odd/a,b/one"; echo 2 >"$odd/c:d/two"; echo 3 >"$odd/e\\f/three"
        run_ovl 0 assemble --backend=overlay --rootfs="$TEST_TMP/odd-$mode" "$odd/a,b" "$odd/c:d" "$odd/e\\f"
        [ "$(cat "$TEST_TMP/odd-$mode"/{one,two,three} | tr -d '\n')" = 123 ] || fail "odd paths read wrong"
        run_ovl 0 destroy "$TEST_TMP/odd-$mode"
        unset OVLBACKEND_LEGACY_MOUNT_API
        OVLBACKEND=$PLAIN
done

# 64 layers whose paths are long: far more than a page of mount options.
long=$TEST_TMP/$(printf 'long%.0s' $(seq 40))
many_layers "$long" 64 "layer-with-a-long-name-"
mapfile -t layers < <(printf '%s\n' "$long"/layer-*)
for mode in new legacy; do
        [ "$mode" = new ] || export OVLBACKEND_LEGACY_MOUNT_API=1 OVLBACKEND=$OVLBACKEND_HOOKED
        run_ovl 0 assemble --backend=overlay --rootfs="$TEST_TMP/long-$mode" "${layers[@]}"
        check_many "$TEST_TMP/long-$mode" 64
        run_ovl 0 destroy "$TEST_TMP/long-$mode"
        unset OVLBACKEND_LEGACY_MOUNT_API
        OVLBACKEND=$PLAIN
done

# 500 and 1200 layers (from a list file); past the kernel's 500 the bottom is flattened once and
# cached; --no-flatten refuses, naming the limit.
many_layers "$TEST_TMP/many" 1200 l
printf '%s\n' "$TEST_TMP"/many/l* >"$TEST_TMP/1200.list"
head -n 500 "$TEST_TMP/1200.list" >"$TEST_TMP/500.list"
run_ovl 0 assemble --backend=overlay --stack=layers --rootfs="$TEST_TMP/r500" --layers-from="$TEST_TMP/500.list"
[ "$(cat "$TEST_TMP/r500/shared/file")" = 0499 ] || fail "500 layers: wrong top"
run_ovl 0 destroy "$TEST_TMP/r500"
run_ovl 3 assemble --backend=overlay --stack=layers --no-flatten --rootfs="$TEST_TMP/r1200" --layers-from="$TEST_TMP/1200.list"
assert_contains "$ERR" "the kernel stacks at most 500 in one mount"
assert_absent "$TEST_TMP/r1200"
run_ovl 0 gc # the 500 layers' glue made them more than 500 lower dirs: their flattened entry goes
for i in 1 2; do
        run_ovl 0 assemble --backend=overlay --stack=layers --json --rootfs="$TEST_TMP/r1200" --layers-from="$TEST_TMP/1200.list"
        check_many "$TEST_TMP/r1200" 1200
        flats=$(find "$OVLBACKEND_WORK_DIR/layers" -mindepth 1 -maxdepth 1 -name 'flat-*' | wc -l)
        [ "$flats" = 1 ] || fail "$flats flattened cache entries, expected 1"
        run_ovl 0 destroy "$TEST_TMP/r1200"
done
# The metadata stack (auto's choice past the kernel's limit): 1200 layers, no data copied, and
# --no-flatten is no obstacle: the stack is 2 deep.
run_ovl 0 assemble --backend=overlay --no-flatten --json --rootfs="$TEST_TMP/r1200" --layers-from="$TEST_TMP/1200.list"
assert_contains "$OUT" '"stack":"meta"'
check_many "$TEST_TMP/r1200" 1200
run_ovl 0 destroy "$TEST_TMP/r1200"

# gc removes the caches no rootfs uses; the work dir is then clean.
for format in aufs overlay overlay-user xattr mixed; do
        run_ovl 0 destroy "$TEST_TMP/C-$format"
done
run_ovl 0 gc
assert_contains "$OUT" "removed cache"
assert_workdir_clean
echo "PASS: overlay view equals copy in 5 formats, new API and legacy, up to 1200 layers"
