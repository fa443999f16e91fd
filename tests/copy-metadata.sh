#!/usr/bin/env bash
# Every kind of entry and every bit of metadata survives the copy backend: owners, setuid and
# sticky bits, file capabilities, ACLs and other xattrs, devices, fifos, sockets, symlinks
# (verbatim, never followed), hard links (one inode), holes (still holes) and times.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setfattr setfacl getfacl getfattr python3
. "$OVL_TESTS_SRCDIR/lib/fixtures.sh"

make_fixture "$TEST_TMP/img" aufs
R=$TEST_TMP/rootfs
run_ovl 0 assemble --backend=copy --rootfs="$R" --json "$TEST_TMP/img/l0" "$TEST_TMP/img/l1" "$TEST_TMP/img/l2"
python3 - "$OUT" "$R" <<'PY' || fail "assemble --json output is wrong: $OUT"
import json, sys
o = json.loads(sys.argv[1])
assert o["rootfs"] == sys.argv[2], o
assert o["backend"] == "copy" and o["layers"] == 3 and o["read_only"] is False, o
assert o["mounts"] == [] and o["scratch"] == [], o
assert o["timings"]["total_ms"] > 0, o
assert o["record"].endswith("/record"), o
PY

stat_is() {
        local path=$1 format=$2 want=$3 got
        got=$(stat -c "$format" "$path")
        [ "$got" = "$want" ] || fail "stat -c '$format' $path: got '$got', expected '$want'"
}
stat_is "$R/bin/su" '%a %U' '4755 root'
stat_is "$R/bin/sgid" '%a' 2755
stat_is "$R/tmp" '%a %F' '1777 directory'
stat_is "$R/usr/lib/x" '%a' 555
stat_is "$R/etc/keep" '%u:%g' 1000:1000
stat_is "$R/bin/link" '%u:%g %F' '1001:1001 symbolic link'
[ "$(readlink "$R/bin/link")" = sh ] || fail "bin/link target changed"
[ "$(readlink "$R/bin/abslink")" = /etc/passwd ] || fail "absolute symlink target changed"
stat_is "$R/dev/null" '%F %t:%T' 'character special file 1:3'
stat_is "$R/dev/loop0" '%F %t:%T' 'block special file 7:0'
stat_is "$R/run/fifo" '%F' fifo
stat_is "$R/run/sock" '%F' socket
stat_is "$R/etc/passwd" '%Y' "$(date -d "$FIXTURE_TIME" +%s)"
stat_is "$R/etc" '%Y' "$(date -d "$FIXTURE_TIME" +%s)"   # directory times are set after their children
[ "$(stat -c %i "$R/hard/a")" = "$(stat -c %i "$R/hard/c")" ] || fail "hard/a and hard/c are no longer one inode"
stat_is "$R/hard/a" '%h' 2
[ "$(getfattr --absolute-names --only-values -n security.capability "$R/bin/ping" | od -An -tx1 | tr -d ' \n')" = \
        0100000200200000000000000000000000000000 ] || fail "security.capability lost on bin/ping"
[ "$(getfattr --absolute-names --only-values -n user.test "$R/etc/keep")" = hello ] || fail "user.test xattr lost"
getfacl -pn "$R/data" 2>/dev/null | grep -q '^user:1000:rwx' || fail "ACL lost on data"
# The sparse file keeps its size and content but not its hole's blocks.
stat_is "$R/data/sparse" '%s' 16777216
[ "$(stat -c %b "$R/data/sparse")" -lt 1024 ] || fail "data/sparse holes were filled ($(stat -c %b "$R/data/sparse") blocks)"
cmp "$R/data/sparse" "$TEST_TMP/img/l0/data/sparse" || fail "data/sparse content differs"
run_ovl 0 destroy "$R"
assert_absent "$R"
assert_workdir_clean
echo "PASS: every entry kind and its metadata survive"
