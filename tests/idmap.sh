#!/usr/bin/env bash
# Idmapped rootfses (--uidmap/--gidmap/--userns): bind and overlay show every owner shifted through
# idmapped mounts without writing a byte; copy writes the shifted owners itself, with setuid bits
# kept, security.capability rewritten as v3 naming the new root and ACL entries shifted. (runc in a
# user namespace on an idmapped overlay: tests/runc.sh.)
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setfattr getfattr setfacl python3 findmnt
require_overlayfs
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/fixtures.sh"

make_fixture "$TEST_TMP/img" aufs
LAYERS=("$TEST_TMP/img/l0" "$TEST_TMP/img/l1" "$TEST_TMP/img/l2")
MAP=(--uidmap=0:100000:65536 --gidmap=0:200000:65536)
manifest "$TEST_TMP/img" --dir-mtime >"$TEST_TMP/layers-before"

# shifted MANIFEST: the manifest with every owner mapped (uid+100000, gid+200000), and the
# xattrs that hold ids (security.capability, ACLs) dropped: they are checked on their own.
shifted() {
        python3 - "$1" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split(" ")
    u, g = f[3].split(":")
    f[3] = "%d:%d" % (int(u) + 100000, int(g) + 200000)
    print(re.sub(r"(security\.capability|system\.posix_acl_\w+)=[0-9a-f]+,?", "", " ".join(f)).rstrip(", "))
PY
}
unshifted() {
        python3 - "$1" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    print(re.sub(r"(security\.capability|system\.posix_acl_\w+)=[0-9a-f]+,?", "", line.rstrip("\n")).rstrip(", "))
PY
}

run_ovl 0 assemble --backend=copy --rootfs="$TEST_TMP/plain" "${LAYERS[@]}"
manifest "$TEST_TMP/plain" --dir-mtime | tail -n +2 >"$TEST_TMP/m-plain"
shifted "$TEST_TMP/m-plain" >"$TEST_TMP/m-want"

# copy: ids written shifted, in the same single pass.
run_ovl 0 assemble --backend=copy "${MAP[@]}" --rootfs="$TEST_TMP/copy" "${LAYERS[@]}"
manifest "$TEST_TMP/copy" --dir-mtime | tail -n +2 >"$TEST_TMP/m-copy"
diff -u "$TEST_TMP/m-want" <(unshifted "$TEST_TMP/m-copy") >&2 || fail "copy --uidmap: owners not shifted as mapped"
[ "$(stat -c '%u:%g %a' "$TEST_TMP/copy/bin/su")" = "100000:200000 4755" ] || fail "copy --uidmap lost the setuid bit"
cap=$(getfattr --absolute-names -e hex -n security.capability "$TEST_TMP/copy/bin/ping" | sed -n 's/^security.capability=//p')
[ "$cap" = 0x0100000300200000000000000000000000000000a0860100 ] || fail "security.capability not v3 with root 100000: $cap"
getfacl -n "$TEST_TMP/copy/data" 2>/dev/null | grep -q '^user:101000:rwx' || fail "ACL entry not shifted: $(getfacl -n "$TEST_TMP/copy/data")"

# overlay and bind: the same owners through idmapped mounts.
run_ovl 0 assemble --backend=overlay "${MAP[@]}" --rootfs="$TEST_TMP/ovl" "${LAYERS[@]}"
manifest "$TEST_TMP/ovl" --dir-mtime | tail -n +2 >"$TEST_TMP/m-ovl"
diff -u "$TEST_TMP/m-want" <(unshifted "$TEST_TMP/m-ovl") >&2 || fail "overlay --uidmap: the view's owners are not the mapped ones"
getfacl -n "$TEST_TMP/ovl/data" 2>/dev/null | grep -q '^user:101000:rwx' || fail "overlay: ACL entry not shifted"
[ "$(stat -c '%u:%g' "$TEST_TMP/ovl")" = 100000:200000 ] || fail "overlay: the upper dir is not the container root's"
run_ovl 0 assemble --backend=bind --uidmap=0:100000:65536 --rootfs="$TEST_TMP/bind" "${LAYERS[0]}"
[ "$(stat -c '%u:%g' "$TEST_TMP/bind/etc/keep")" = 101000:101000 ] || fail "bind --uidmap: $(stat -c '%u:%g' "$TEST_TMP/bind/etc/keep")"
manifest "$TEST_TMP/img" --dir-mtime | diff -u "$TEST_TMP/layers-before" - >&2 || fail "an idmapped rootfs wrote into a layer"

# --userns: the maps of a running process's user namespace.
unshare --user sleep 30 &
ns_pid=$!
for _ in $(seq 1 100); do [ "$(readlink /proc/$ns_pid/ns/user)" != "$(readlink /proc/self/ns/user)" ] && break; sleep 0.05; done
echo "0 300000 65536" >"/proc/$ns_pid/uid_map"
echo "0 300000 65536" >"/proc/$ns_pid/gid_map"
run_ovl 0 assemble --backend=bind --userns="/proc/$ns_pid/ns/user" --rootfs="$TEST_TMP/bind-ns" "${LAYERS[0]}"
[ "$(stat -c '%u:%g' "$TEST_TMP/bind-ns/etc/keep")" = 301000:301000 ] || fail "--userns: $(stat -c '%u:%g' "$TEST_TMP/bind-ns/etc/keep")"
kill "$ns_pid"
run_ovl 0 destroy "$TEST_TMP/bind-ns"

# Bad maps: refused before anything.
run_ovl 2 assemble --backend=copy --uidmap=0:100000 --rootfs="$TEST_TMP/bad" "${LAYERS[@]}"
assert_contains "$ERR" "--uidmap=0:100000: expected CONTAINER:HOST:COUNT"
run_ovl 2 assemble --backend=copy --uidmap=0:100000:10 --uidmap=5:1:10 --rootfs="$TEST_TMP/bad" "${LAYERS[@]}"
assert_contains "$ERR" "overlaps another range"
run_ovl 2 assemble --backend=copy --gidmap=0:1:1 --rootfs="$TEST_TMP/bad" "${LAYERS[@]}"
assert_contains "$ERR" "--gidmap needs --uidmap"
run_ovl 2 assemble --backend=copy --userns=/etc/passwd --rootfs="$TEST_TMP/bad" "${LAYERS[@]}"
assert_contains "$ERR" "expected /proc/PID/ns/user"
assert_absent "$TEST_TMP/bad"

for r in plain copy ovl bind; do run_ovl 0 destroy "$TEST_TMP/$r"; done
run_ovl 0 gc
assert_workdir_clean
echo "PASS: idmapped rootfses: copy writes shifted ids, bind and overlay show them, nothing written to layers"
