#!/usr/bin/env bash
# On a real Debian image of four layers (tests/lib/debian-fixture.sh), the copy backend builds
# exactly the tree umoci unpacks from the same layers packed as an OCI image, the same tree from
# AUFS and from overlay whiteouts, and the tree the layers were made from.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd umoci debootstrap python3 tar sha256sum setfattr getfattr setfacl
. "$OVL_TESTS_SRCDIR/lib/debian-fixture.sh"
. "$OVL_TESTS_SRCDIR/lib/oci.sh"

debian_fixture_or_skip "$TEST_TMP/aufs"
debian_fixture_overlay "$TEST_TMP/overlay" || fail "could not make the overlay form of the Debian fixture"
FINAL=$DEBIAN_FIXTURE_FINAL
LAYERS=(l0 l1 l2 l3)

umoci_rootfs "$TEST_TMP/oci" "$TEST_TMP/bundle" "${LAYERS[@]/#/$TEST_TMP/aufs/}"
UMOCI=$UMOCI_ROOTFS
[ -x "$UMOCI/usr/bin/dpkg" ] || fail "umoci made no Debian rootfs"

manifest "$TEST_TMP/aufs" --dir-mtime >"$TEST_TMP/layers-aufs-before"
manifest "$TEST_TMP/overlay" --dir-mtime >"$TEST_TMP/layers-overlay-before"
for format in aufs overlay; do
        start=$SECONDS
        run_ovl 0 assemble --backend=copy --rootfs="$TEST_TMP/R-$format" "${LAYERS[@]/#/$TEST_TMP/$format/}"
        assert_contains "$OUT" "assembled $TEST_TMP/R-$format (copy, 4 layers)"
        echo "ovlbackend assemble ($format): $((SECONDS - start))s"
done

# No whiteout of any format and no overlayfs xattr is left in any tree.
for r in "$TEST_TMP/R-aufs" "$TEST_TMP/R-overlay" "$UMOCI"; do
        [ -z "$(find "$r" -name '.wh.*')" ] || fail "AUFS markers in $r: $(find "$r" -name '.wh.*')"
        [ -z "$(find "$r" -type c -exec stat -c '%t:%T %n' {} + | grep '^0:0 ')" ] || fail "0/0 whiteouts in $r"
        if getfattr -R -d -m 'overlay\.' --absolute-names "$r" 2>/dev/null | grep -q overlay; then
                fail "overlay xattrs in $r"
        fi
done

# A few results that must hold whatever the tools agree on.
R=$TEST_TMP/R-aufs
assert_file_content "$R/usr/bin/pinky" "$(printf '#!/bin/sh\necho pinky is back')" # re-created above a whiteout
assert_file_content "$R/usr/share/doc/hostname/README" back                        # a directory too
assert_absent "$R/usr/share/doc/bash"
assert_absent "$R/usr/share/lintian"
assert_absent "$R/usr/bin/perl5.36.0"
[ "$(ls -A "$R/etc/apt")" = sources.list ] || fail "opaque etc/apt holds $(ls -A "$R/etc/apt")"
[ "$(ls -A "$R/etc/default")" = fixture ] || fail "opaque etc/default holds $(ls -A "$R/etc/default")"
assert_file_content "$R/etc/motd/00-fixture" 'a directory where a file was'
grep -q '^fixture:x:1234:1234:Fixture User:/home/fixture:/bin/bash$' "$R/etc/passwd" || fail "etc/passwd lost its edits"
[ "$(stat -c %i "$R/usr/bin/perl")" = "$(stat -c %i "$R/usr/local/bin/perl-hardlink")" ] || fail "perl hard link broken"
[ "$(stat -c %b "$R/var/lib/fixture-sparse.img")" -lt 1024 ] || fail "the holes of var/lib/fixture-sparse.img were filled"

# The trees, entry by entry: type, mode, owner, size, content, link target, device, hard-link
# group, xattrs, and the times of everything including directories.
manifest "$TEST_TMP/R-aufs" --dir-mtime >"$TEST_TMP/m-aufs"
manifest "$TEST_TMP/R-overlay" --dir-mtime >"$TEST_TMP/m-overlay"
manifest "$FINAL" --dir-mtime >"$TEST_TMP/m-final"
manifest "$UMOCI" --dir-mtime >"$TEST_TMP/m-umoci"
echo "rootfs: $(wc -l <"$TEST_TMP/m-aufs") entries, $(du -sh "$TEST_TMP/R-aufs" | cut -f1)"
diff -u "$TEST_TMP/m-aufs" "$TEST_TMP/m-overlay" >&2 || fail "the tree from overlay whiteouts differs from the one from AUFS whiteouts"
diff -u "$TEST_TMP/m-final" "$TEST_TMP/m-aufs" >&2 || fail "the tree differs from the one the layers were made from"
diff -u "$TEST_TMP/m-umoci" "$TEST_TMP/m-aufs" >&2 || fail "the tree differs from umoci's"

# The layers were only read.
manifest "$TEST_TMP/aufs" --dir-mtime | diff -u "$TEST_TMP/layers-aufs-before" - >&2 || fail "the AUFS layers changed"
manifest "$TEST_TMP/overlay" --dir-mtime | diff -u "$TEST_TMP/layers-overlay-before" - >&2 || fail "the overlay layers changed"

for format in aufs overlay; do
        run_ovl 0 destroy "$TEST_TMP/R-$format"
        assert_absent "$TEST_TMP/R-$format"
done
assert_workdir_clean
echo "PASS: a Debian image of 4 layers gives umoci's tree, from AUFS and from overlay whiteouts"
