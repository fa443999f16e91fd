#!/usr/bin/env bash
# Rootless mode: an unprivileged user (made for the test) runs ovlbackend inside a user namespace it made
# (`unshare -Urm`). There the overlay backend mounts with userxattr (its glue marks with
# user.overlay.*), the copy backend works (and refuses clearly, exit 3, an owner that has no id
# in the namespace), and probe says so; the overlay view of layers in AUFS
# and user.overlay.* form equals the copy, with the new mount API and with mount(2).
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setpriv unshare python3 setfattr
require_overlayfs
require_cmd useradd userdel
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build, which honours OVLBACKEND_LEGACY_MOUNT_API)"
# An unprivileged user of its own, removed with the scratch.
USER_NAME=ovlbrl$$
useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_NAME" || fail "useradd $USER_NAME"
trap 'userdel "$USER_NAME" 2>/dev/null || true; cleanup_test_tmp' EXIT
USER_ID=$(id -u "$USER_NAME")
AS_USER=(setpriv --reuid="$USER_ID" --regid="$(id -g "$USER_NAME")" --clear-groups)
"${AS_USER[@]}" unshare -Urm true 2>/dev/null || skip "this host does not let an unprivileged user make a user namespace"

chmod 0755 "$TEST_TMP"
D=$TEST_TMP/rootless
mkdir "$D"
chown "$USER_ID" "$D"
chmod 0700 "$D" # as a home directory is: other users cannot reach the rootfses below it
mkdir -p "$D/foreign/x"
echo f >"$D/foreign/x/f"
chown -R 1000:1000 "$D/foreign"
cat >"$D/run.sh" <<'SH'
set -euo pipefail
D=$1 OVLBACKEND=$2 MANIFEST=$3 HOOKED=$4
PLAIN=$OVLBACKEND
export OVLBACKEND_WORK_DIR=$D/work
fail() { echo "FAIL (rootless): $*" >&2; exit 1; }
# Layers an unprivileged user can make: AUFS markers in l1, user.overlay.* and 0/0 devices in l2.
mkdir -p "$D/l0/d/opq" "$D/l1/d/opq" "$D/l2/e"
echo base >"$D/l0/d/gone"; echo base >"$D/l0/d/kept"; echo old >"$D/l0/d/opq/old"; echo e >"$D/l0/d/e-gone"
: >"$D/l1/d/.wh.gone"; : >"$D/l1/d/opq/.wh..wh..opq"; echo new >"$D/l1/d/opq/new"
mknod "$D/l2/e-gone" c 0 0 2>/dev/null || fail "no 0/0 whiteout device in a user namespace"
mkdir -p "$D/l2/d"; mknod "$D/l2/d/e-gone" c 0 0; setfattr -n user.overlay.opaque -v y "$D/l2/e"; echo top >"$D/l2/e/top"
"$OVLBACKEND" -q probe --json "$D/probe" | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["overlay"]["supported"] and o["userxattr"]["supported"], (o["overlay"], o["userxattr"])
assert o["recommended_backend"] == "overlay", o["recommended_backend"]' || fail "probe"
"$OVLBACKEND" -q assemble --backend=copy --rootfs="$D/copy" "$D/l0" "$D/l1" "$D/l2" || fail "copy assemble"
for mode in new legacy; do
        # Only the test build honours the legacy switch.
        [ "$mode" = new ] || { export OVLBACKEND_LEGACY_MOUNT_API=1; OVLBACKEND=$HOOKED; }
        "$OVLBACKEND" -q assemble --backend=overlay --rootfs="$D/ovl" "$D/l0" "$D/l1" "$D/l2" || fail "overlay assemble ($mode)"
        grep -q " $D/ovl overlay .*userxattr" /proc/self/mounts || fail "the overlay is not a userxattr mount ($mode)"
        diff <(python3 "$MANIFEST" "$D/copy" --dir-mtime | tail -n +2) <(python3 "$MANIFEST" "$D/ovl" --dir-mtime | tail -n +2) >&2 ||
                fail "overlay view differs from the copy ($mode)"
        [ ! -e "$D/ovl/d/gone" ] && [ ! -e "$D/ovl/d/opq/old" ] && [ ! -e "$D/ovl/d/e-gone" ] || fail "a whiteout was not honoured ($mode)"
        echo w >"$D/ovl/d/written" || fail "no write into the overlay ($mode)"
        [ ! -e "$D/l1/d/written" ] && [ ! -e "$D/l2/d/written" ] || fail "a write reached a layer"
        "$OVLBACKEND" -q destroy "$D/ovl" || fail "destroy ($mode)"
        unset OVLBACKEND_LEGACY_MOUNT_API
        OVLBACKEND=$PLAIN
done
# A layer whose owners have no id here: the copy refuses clearly (3) and leaves nothing.
rc=0
"$OVLBACKEND" -q assemble --backend=copy --rootfs="$D/c2" "$D/l0" "$D/foreign" 2>"$D/err" || rc=$?
[ "$rc" = 3 ] && grep -q "its owner has no id in this user namespace, so a rootless assemble cannot keep it" "$D/err" && [ ! -e "$D/c2" ] ||
        fail "unmapped owner: exit $rc, $(cat "$D/err")"
"$OVLBACKEND" -q destroy "$D/copy"
"$OVLBACKEND" -q gc
[ -z "$(find "$D/work" -mindepth 2 -not -path "$D/work/probe/*")" ] || fail "work dir not clean: $(find "$D/work" -mindepth 2)"
echo rootless-ok
SH
out=$("${AS_USER[@]}" unshare -Urm bash "$D/run.sh" "$D" "$OVLBACKEND" "$OVL_TESTS_SRCDIR/lib/manifest.py" "$OVLBACKEND_HOOKED" 2>&1) ||
        fail "rootless run failed: $out"
assert_contains "$out" rootless-ok
echo "PASS: rootless: overlay (userxattr, new API and mount(2)) equals copy; probe agrees"
