#!/usr/bin/env bash
# Hostile layers cannot make the copy backend write outside the rootfs: a symlink in one layer is
# replaced, never written through, by a later layer's directory of the same name; malformed
# whiteouts are refused with the path named; nothing is left behind on failure.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root

OUTSIDE=$TEST_TMP/outside
mkdir -p "$OUTSIDE/deep/a/b/c"
manifest "$OUTSIDE" >"$TEST_TMP/outside-before"

# l0: etc -> OUTSIDE (absolute), up -> ../../../..  (relative), loop -> loop (a loop)
mkdir -p "$TEST_TMP/l0" "$TEST_TMP/l1/etc" "$TEST_TMP/l1/up" "$TEST_TMP/l1/loop"
ln -s "$OUTSIDE" "$TEST_TMP/l0/etc"
ln -s ../../../../../../../../ "$TEST_TMP/l0/up"
ln -s loop "$TEST_TMP/l0/loop"
ln -s "$OUTSIDE/deep" "$TEST_TMP/l0/deep"
# l1 writes through each of those names.
echo pwned >"$TEST_TMP/l1/etc/pwned"
echo pwned >"$TEST_TMP/l1/up/escape"
echo pwned >"$TEST_TMP/l1/loop/x"
R=$TEST_TMP/rootfs
run_ovl 0 assemble --backend=copy --rootfs="$R" "$TEST_TMP/l0" "$TEST_TMP/l1"
[ -d "$R/etc" ] && [ ! -L "$R/etc" ] || fail "etc should be a directory in the rootfs"
assert_file_content "$R/etc/pwned" pwned
assert_file_content "$R/up/escape" pwned
[ "$(readlink "$R/deep")" = "$OUTSIDE/deep" ] || fail "symlink deep not kept verbatim"
manifest "$OUTSIDE" | diff "$TEST_TMP/outside-before" - || fail "something was written outside the rootfs"
# up resolves to / from the rootfs and from the layer alike (8 levels up is past any test dir), so
# /escape is where a write through it would land. (Not a search of the whole disk: other tests
# running at the same time make files named escape in their own dirs.)
if [ -e /escape ] && [ /escape -nt "$TEST_TMP/outside-before" ]; then
        fail "/escape appeared: the copy wrote through the layer's symlink up"
fi
run_ovl 0 destroy "$R"
# destroy removed the tree, not what its symlinks point to.
manifest "$OUTSIDE" | diff "$TEST_TMP/outside-before" - || fail "destroy followed a symlink out of the rootfs"

# Malformed AUFS whiteouts (".wh." alone, ".wh..", ".wh...") are refused, naming the path.
for bad in .wh. .wh.. .wh...; do
        rm -rf "$TEST_TMP/bad"
        mkdir -p "$TEST_TMP/bad/sub"
        : >"$TEST_TMP/bad/sub/$bad"
        run_ovl 1 assemble --backend=copy --rootfs="$R" "$TEST_TMP/l0" "$TEST_TMP/bad"
        assert_contains "$ERR" "layer $TEST_TMP/bad: sub/$bad: malformed whiteout"
        assert_absent "$R"
        assert_workdir_clean
        [ -z "$(ls -A "$TEST_TMP" | grep ovlbackend-tmp)" ] || fail "scratch left after refusing $bad"
done
manifest "$OUTSIDE" | diff "$TEST_TMP/outside-before" - || fail "outside changed"
echo "PASS: no escape through symlinks, malformed whiteouts refused"
