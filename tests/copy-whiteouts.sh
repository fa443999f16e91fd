#!/usr/bin/env bash
# The copy backend applies the layers under OCI whiteout semantics, in every whiteout format a
# store produces, and the trees from every format are identical entry by entry.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setfattr setfacl python3
. "$OVL_TESTS_SRCDIR/lib/fixtures.sh"

check_semantics() {
        local r=$1
        assert_absent "$r/del/me"                      # a whiteout removes the name from below
        assert_file_content "$r/del/keep" keep         # and nothing else
        assert_file_content "$r/recreate" again        # a name re-created above a whiteout is kept
        assert_file_content "$r/etc/passwd" modified   # a later file replaces an earlier one
        assert_file_content "$r/etc/hostname" top
        [ "$(ls -A "$r/etc/old")" = n ] || fail "etc/old: whited-out dir re-created above holds $(ls -A "$r/etc/old")"
        [ "$(ls -A "$r/optdir")" = new ] || fail "opaque optdir holds $(ls -A "$r/optdir")"
        assert_file_content "$r/replace_dir" "now a file"      # a file replaces a directory
        assert_file_content "$r/replace_file/child" child     # and a directory a file
        assert_absent "$r/hard/b"
        assert_absent "$r/never"/existed
        # No whiteout marker of any format survives.
        [ -z "$(find "$r" -name '.wh.*')" ] || fail "AUFS markers in $r: $(find "$r" -name '.wh.*')"
        [ -z "$(find "$r" -type c -exec stat -c '%t:%T %n' {} + | grep '^0:0 ')" ] || fail "0/0 whiteouts in $r"
        if getfattr -R -d -m 'overlay\.' --absolute-names "$r" 2>/dev/null | grep -q overlay; then
                fail "overlay xattrs leaked into $r"
        fi
}

for format in aufs overlay overlay-user xattr mixed; do
        make_fixture "$TEST_TMP/$format" "$format"
        manifest "$TEST_TMP/$format" --no-mtime >"$TEST_TMP/layers-before-$format"
        run_ovl 0 assemble --backend=copy --rootfs="$TEST_TMP/R-$format" \
                "$TEST_TMP/$format/l0" "$TEST_TMP/$format/l1" "$TEST_TMP/$format/l2"
        assert_contains "$OUT" "assembled $TEST_TMP/R-$format (copy, 3 layers)"
        check_semantics "$TEST_TMP/R-$format"
        manifest "$TEST_TMP/R-$format" --dir-mtime >"$TEST_TMP/manifest-$format"
        # Layers are never modified.
        manifest "$TEST_TMP/$format" --no-mtime | diff "$TEST_TMP/layers-before-$format" - ||
                fail "layers of $format changed"
done
for format in overlay overlay-user xattr mixed; do
        diff -u "$TEST_TMP/manifest-aufs" "$TEST_TMP/manifest-$format" ||
                fail "the $format tree differs from the aufs one"
done
for format in aufs overlay overlay-user xattr mixed; do
        run_ovl 0 destroy "$TEST_TMP/R-$format"
        assert_absent "$TEST_TMP/R-$format"
done
assert_workdir_clean
echo "PASS: whiteout semantics identical in 5 formats"
