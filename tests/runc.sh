#!/usr/bin/env bash
# A real runtime on ovlbackend's rootfs: runc runs a container whose root.path is the Debian image
# (tests/lib/debian-fixture.sh) assembled by the overlay, copy and bind backends; the container
# reads files of the top layers, finds the whited-out ones gone, writes a file (or, on the
# read-only bind, cannot), and exits; the layers never change; then the rootfs is destroyed and
# nothing is left. tests/podman.sh, tests/nspawn.sh and tests/lxc.sh do the same with other
# runtimes (tests/lib/runtimes.sh).
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd runc python3 debootstrap findmnt timeout
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/runtimes.sh"

rt_setup
STATE=$TEST_TMP/runc-state
runc_stop() {
        local id
        for id in $(runc --root "$STATE" list --quiet); do
                runc --root "$STATE" delete --force "$id"
        done
}
RT_STOP=runc_stop

# bundle NAME READONLY SCRIPT: an OCI bundle from `runc spec` for the rootfs $TEST_TMP/NAME, edited;
# its cgroups below RT_CGROUP.
bundle() {
        mkdir -p "$TEST_TMP/bundle-$1"
        (cd "$TEST_TMP/bundle-$1" && runc spec)
        python3 - "$TEST_TMP/bundle-$1/config.json" "$TEST_TMP/$1" "$2" "$3" "/$RT_CGROUP/$1" <<'PY'
import json, sys
path, rootfs, readonly, script, cgroup = sys.argv[1:]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": readonly == "1"}
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c", script]
c["hostname"] = "ovlbackend-test"
c["linux"]["cgroupsPath"] = cgroup
json.dump(c, open(path, "w"), indent=1)
PY
}

# in_runc NAME: runs the container of bundle NAME.
in_runc() {
        # shellcheck disable=SC2016 # expanded by that sh
        rt_run sh -c 'cd "$1" && exec runc --root "$2" run "$3"' sh "$TEST_TMP/bundle-$1" "$STATE" "ovl-test-$1" ||
                fail "runc on $1 failed: $RT_OUT"
        assert_contains "$RT_OUT" container-ok
}

for backend in overlay copy bind; do
        if [ "$backend" = bind ]; then
                rt_assemble "$backend" --backend=bind "${LAYERS[0]}"
                bundle "$backend" 1 "$RT_CHECKS_RO"
        else
                rt_assemble "$backend" --backend="$backend" "${LAYERS[@]}"
                bundle "$backend" 0 "$RT_CHECKS"
        fi
        in_runc "$backend"
        if [ "$backend" != bind ]; then
                rt_assert_written "$backend"
        fi
        rt_destroy "$backend"
        echo "$backend: runc ran a container on the assembled rootfs"
done
# A user-namespaced container (its root is host uid 100000) on an idmapped overlay rootfs: it sees
# root-owned files as root's, writes as root, and the write lands in the upper dir as 100000.
rt_userns_reachable
rt_assemble userns --backend=overlay --uidmap="$RT_USERNS_MAP" "${LAYERS[@]}"
bundle userns 0 "$RT_CHECKS_USERNS"
python3 - "$TEST_TMP/bundle-userns/config.json" "$RT_USERNS_HOST" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
host = int(sys.argv[2])
c["linux"]["namespaces"].append({"type": "user"})
c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host, "size": 65536}]
c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host, "size": 65536}]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
in_runc userns
rt_assert_written userns "$RT_USERNS_HOST"
rt_destroy userns
echo "overlay --uidmap: runc ran a user-namespaced container on it"

rt_finish
echo "PASS: runc runs containers on overlay, copy and bind rootfses"
