#!/usr/bin/env bash
# On the real Debian image of four layers (tests/lib/debian-fixture.sh), the overlay backend's
# mounted view equals, entry by entry, the copy backend's tree and umoci's unpack of the same
# layers packed as an OCI image, from AUFS and from overlay whiteouts, with the new mount API and
# with the mount(2) fallback, with the layer stack and the metadata stack (--stack=meta); writes
# reach the upper dir only (a metadata stub is copied up with its data) and the layers are never
# touched.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd umoci debootstrap python3 tar sha256sum setfattr getfattr setfacl findmnt
require_overlayfs
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build, which honours OVLBACKEND_LEGACY_MOUNT_API)"
enter_private_mountns "$@"
PLAIN=$OVLBACKEND
. "$OVL_TESTS_SRCDIR/lib/debian-fixture.sh"
. "$OVL_TESTS_SRCDIR/lib/oci.sh"

debian_fixture_or_skip "$TEST_TMP/aufs"
debian_fixture_overlay "$TEST_TMP/overlay" || fail "could not make the overlay form of the Debian fixture"
LAYERS=(l0 l1 l2 l3)

umoci_rootfs "$TEST_TMP/oci" "$TEST_TMP/bundle" "${LAYERS[@]/#/$TEST_TMP/aufs/}"
[ -x "$UMOCI_ROOTFS/usr/bin/dpkg" ] || fail "umoci made no Debian rootfs"
# The root directory's own entry is left out: an overlay's root is its upper dir, made by us.
tree_manifest() { manifest "$1" --dir-mtime | tail -n +2; }
tree_manifest "$UMOCI_ROOTFS" >"$TEST_TMP/m-umoci"
run_ovl 0 assemble --backend=copy --rootfs="$TEST_TMP/C" "${LAYERS[@]/#/$TEST_TMP/aufs/}"
tree_manifest "$TEST_TMP/C" >"$TEST_TMP/m-copy"
diff -u "$TEST_TMP/m-umoci" "$TEST_TMP/m-copy" >&2 || fail "the copy backend's tree differs from umoci's"
echo "rootfs: $(wc -l <"$TEST_TMP/m-copy") entries"

for format in aufs overlay; do
        manifest "$TEST_TMP/$format" --dir-mtime >"$TEST_TMP/layers-$format-before"
done
mounts_before=$(findmnt -rn -o TARGET | sort)
for mode in new legacy; do
        # Only the test build honours the legacy switch.
        if [ "$mode" = legacy ]; then export OVLBACKEND_LEGACY_MOUNT_API=1 OVLBACKEND=$OVLBACKEND_HOOKED; fi
        for run in aufs:layers overlay:layers aufs:meta overlay:meta; do
                format=${run%:*} stack=${run#*:}
                R=$TEST_TMP/R-$format-$mode-$stack
                start=$SECONDS
                run_ovl 0 assemble --backend=overlay --stack="$stack" --rootfs="$R" "${LAYERS[@]/#/$TEST_TMP/$format/}"
                echo "overlay assemble ($format, $mode API, $stack stack): $((SECONDS - start))s"
                tree_manifest "$R" >"$TEST_TMP/m-$format-$mode-$stack"
                diff -u "$TEST_TMP/m-copy" "$TEST_TMP/m-$format-$mode-$stack" >&2 ||
                        fail "overlay view ($format whiteouts, $mode API, $stack stack) differs from the copy backend's tree"
                # Every file reads as the copy's: the stubs' data comes from the right layer.
                (cd "$TEST_TMP/C" && find . -type f -print0 | sort -z | xargs -0 cat | sha256sum) >"$TEST_TMP/sum-copy"
                (cd "$R" && find . -type f -print0 | sort -z | xargs -0 cat | sha256sum) |
                        diff -q "$TEST_TMP/sum-copy" - >/dev/null ||
                        fail "file contents ($format whiteouts, $mode API, $stack stack) differ from the copy's"
                # A package-manager-like write: the upper dir takes it, the layers do not.
                echo "fixture-write" >>"$R/etc/passwd"
                rm -r "$R/usr/share/doc"
                [ -e "$TEST_TMP/$format/l1/usr/share/doc" ] || fail "a delete reached a layer"
                grep -q fixture-write "$OVLBACKEND_WORK_DIR"/rootfs/*/upper/etc/passwd ||
                        fail "the write is not in the upper dir"
                { cat "$TEST_TMP/C/etc/passwd"; echo fixture-write; } | cmp -s - "$OVLBACKEND_WORK_DIR"/rootfs/*/upper/etc/passwd ||
                        fail "the upper dir's copy of a written file lacks its data ($stack stack)"
                run_ovl 0 destroy "$R"
                assert_absent "$R"
        done
        unset OVLBACKEND_LEGACY_MOUNT_API
        OVLBACKEND=$PLAIN
done
[ "$(findmnt -rn -o TARGET | sort)" = "$mounts_before" ] || fail "mounts left after destroy"
for format in aufs overlay; do
        manifest "$TEST_TMP/$format" --dir-mtime | diff -u "$TEST_TMP/layers-$format-before" - >&2 ||
                fail "the $format layers changed"
done
run_ovl 0 destroy "$TEST_TMP/C"
run_ovl 0 gc
assert_workdir_clean
echo "PASS: the overlay view of a 4-layer Debian image equals the copy backend's tree and umoci's"
