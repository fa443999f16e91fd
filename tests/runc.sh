#!/usr/bin/env bash
# A real runtime on ovlbackend's rootfs: runc runs a container whose root.path is the Debian image
# (tests/lib/debian-fixture.sh) assembled by the overlay, copy and bind backends; the container
# reads files of the top layers, finds the whited-out ones gone, writes a file (or, on the
# read-only bind, cannot), and exits; then the rootfs is destroyed and nothing is left.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd runc python3 debootstrap findmnt
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/debian-fixture.sh"

debian_fixture_or_skip "$TEST_TMP/img"
LAYERS=("$TEST_TMP/img/l0" "$TEST_TMP/img/l1" "$TEST_TMP/img/l2" "$TEST_TMP/img/l3")
BEFORE=$(findmnt -rn -o TARGET | sort)

# What the container checks: files of the top layers, whiteouts honoured, then a write.
read -r -d '' CHECKS <<'SH' || true
set -e
test ! -e /usr/share/doc/bash
test ! -e /usr/bin/perl5.36.0
grep -q '^fixture:x:1234:1234:Fixture User' /etc/passwd
test "$(cat /usr/share/doc/hostname/README)" = back
test "$(ls -A /etc/apt)" = sources.list
echo written-in-container >/root/written
echo container-ok
SH
read -r -d '' CHECKS_RO <<'SH' || true
set -e
test -x /usr/bin/dpkg
grep -q '^root:' /etc/passwd
if echo x >/root/written 2>/dev/null; then echo "wrote to a read-only rootfs"; exit 1; fi
echo container-ok
SH

# bundle DIR ROOTFS READONLY SCRIPT: an OCI bundle from `runc spec`, edited.
bundle() {
        mkdir -p "$1"
        (cd "$1" && runc spec)
        python3 - "$1/config.json" "$2" "$3" "$4" <<'PY'
import json, sys
path, rootfs, readonly, script = sys.argv[1:]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": readonly == "1"}
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c", script]
c["hostname"] = "ovlbackend-test"
json.dump(c, open(path, "w"), indent=1)
PY
}

for backend in overlay copy bind; do
        R=$TEST_TMP/rootfs-$backend
        if [ "$backend" = bind ]; then
                run_ovl 0 assemble --backend=bind --rootfs="$R" "${LAYERS[0]}"
                bundle "$TEST_TMP/bundle-$backend" "$R" 1 "$CHECKS_RO"
        else
                run_ovl 0 assemble --backend="$backend" --rootfs="$R" "${LAYERS[@]}"
                bundle "$TEST_TMP/bundle-$backend" "$R" 0 "$CHECKS"
        fi
        out=$(cd "$TEST_TMP/bundle-$backend" && runc --root "$TEST_TMP/runc-state" run "ovl-test-$backend" 2>&1) ||
                fail "runc on the $backend rootfs failed: $out"
        assert_contains "$out" container-ok
        if [ "$backend" != bind ]; then
                assert_file_content "$R/root/written" written-in-container
        fi
        run_ovl 0 destroy "$R"
        assert_absent "$R"
        echo "$backend: runc ran a container on the assembled rootfs"
done
# A user-namespaced container (its root is host uid 100000) on an idmapped overlay rootfs: it sees
# root-owned files as root's, writes as root, and the write lands in the upper dir as 100000.
R=$TEST_TMP/rootfs-userns
# The container's root (host uid 100000) must reach R to mount it: let its group in, nobody else
# (moby's 0710 root:REMAPPED-GID; assemble refuses a rootfs every user can reach).
chgrp 100000 "$TEST_TMP"
chmod 0710 "$TEST_TMP"
run_ovl 0 assemble --backend=overlay --uidmap=0:100000:65536 --rootfs="$R" "${LAYERS[@]}"
bundle "$TEST_TMP/bundle-userns" "$R" 0 'set -e; test "$(stat -c %u:%g /etc/passwd)" = 0:0; test "$(id -u)" = 0; echo hi >/root/written-in-userns; echo container-ok'
python3 - "$TEST_TMP/bundle-userns/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["namespaces"].append({"type": "user"})
c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
out=$(cd "$TEST_TMP/bundle-userns" && runc --root "$TEST_TMP/runc-state" run ovl-test-userns 2>&1) ||
        fail "runc in a user namespace on the idmapped overlay failed: $out"
assert_contains "$out" container-ok
[ "$(stat -c %u "$R/root/written-in-userns")" = 100000 ] || fail "the userns write is not owned by 100000"
run_ovl 0 destroy "$R"
echo "overlay --uidmap: runc ran a user-namespaced container on it"

[ "$(findmnt -rn -o TARGET | sort)" = "$BEFORE" ] || fail "mounts left: $(diff <(echo "$BEFORE") <(findmnt -rn -o TARGET | sort))"
run_ovl 0 gc
assert_workdir_clean
echo "PASS: runc runs containers on overlay, copy and bind rootfses"
