#!/usr/bin/env bash
# podman runs containers on ovlbackend's rootfses (`podman run --rootfs`), with runc and with crun
# as its OCI runtime: the Debian image (tests/lib/debian-fixture.sh) assembled by the overlay and
# copy backends, its bottom layer by the bind backend, and idmapped overlay and copy rootfses under
# a user-namespaced container. Each container sees the top layers' files and not the deleted ones
# and writes a file, which lands in the rootfs (overlay: in its upper dir); the layers never
# change; after destroy nothing is left (mounts, rootfs, scratch, record, list entry, cgroups).
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd podman runc crun debootstrap findmnt timeout
require_overlayfs
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/runtimes.sh"

# podman, conmon and the OCI runtimes keep their state where this test says (all under TEST_TMP);
# the private /run catches anything they would still put in a fixed place there.
rt_private_run
rt_setup
P=$TEST_TMP/podman
PODMAN=(podman --root "$P/root" --runroot "$P/run" --tmpdir "$P/tmp" --storage-driver=vfs
        --cgroup-manager=cgroupfs --events-backend=none --runtime-flag=root="$P/oci")

# podman pins its own RLIMIT_NPROC to 32768 and raises RLIMIT_NOFILE to 1048576 where it can (it
# keeps the hard limit where it cannot), then by default asks the runtime to give the container
# 1048576 of both. Without CAP_SYS_RESOURCE in the bounding set (as on this project's CI machines)
# raising fails ("runc create failed: ... error setting rlimits for ready process: error setting
# rlimit type 7: operation not permitted"), so the container gets what podman itself has.
hard_nofile=$(ulimit -Hn)
hard_nproc=$(ulimit -Hu)
[ "$hard_nofile" != unlimited ] && [ "$hard_nofile" -le 1048576 ] || hard_nofile=1048576
[ "$hard_nproc" != unlimited ] && [ "$hard_nproc" -le 32768 ] || hard_nproc=32768
RUN_OPTS=(--rm --network=none --ulimit "nofile=$hard_nofile:$hard_nofile" --ulimit "nproc=$hard_nproc:$hard_nproc")

# crun 1.8 refuses a hybrid cgroup layout whose v2 hierarchy holds a controller ("cgroups in hybrid
# mode not supported, drop all controllers from cgroupv2"), even with its cgroup manager disabled:
# this machine's (hugetlb is in /sys/fs/cgroup/unified). Where that is so, an empty tmpfs hides the
# v2 hierarchy in this mount namespace while crun runs, so that it finds the v1 layout it
# supports, and with --cgroups=disabled it makes no cgroup at all. (Not in a namespace of its own:
# that would hold a copy of the rootfs's mount for as long as conmon lingers, and destroy would
# find it busy.) runc, which supports the hybrid layout, runs with podman's cgroups below
# RT_CGROUP (conmon stays in ours).
HIDE_V2=0
if [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ] && [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] &&
        [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers)" ]; then
        HIDE_V2=1
fi
hide_v2() {
        [ "$HIDE_V2" = 0 ] || mount -t tmpfs -o ro,mode=0755 ovlbackend-hide-v2 /sys/fs/cgroup/unified
}
show_v2() {
        [ "$HIDE_V2" = 0 ] || [ "$(findmnt -rn -o SOURCE /sys/fs/cgroup/unified | tail -n 1)" != ovlbackend-hide-v2 ] ||
                umount /sys/fs/cgroup/unified
}
podman_stop() {
        "${PODMAN[@]}" rm --force --all || true
        show_v2
}
RT_STOP=podman_stop

# in_podman RUNTIME NAME SCRIPT [OPTION...]: runs SCRIPT in a container on $TEST_TMP/NAME (with
# ":O" appended to NAME, podman's own overlay over it, for a read-only rootfs).
in_podman() {
        local runtime=$1 name=$2 script=$3 root=$TEST_TMP/$2
        shift 3
        if [ "$runtime" = crun ]; then
                hide_v2
                rt_run "${PODMAN[@]}" --runtime crun run "${RUN_OPTS[@]}" --cgroups=disabled \
                        "$@" --rootfs "$root" /bin/sh -c "$script" ||
                        fail "podman --runtime crun on $name failed: $RT_OUT"
                show_v2
        else
                rt_run "${PODMAN[@]}" --runtime runc run "${RUN_OPTS[@]}" --cgroups=no-conmon --cgroup-parent="/$RT_CGROUP" \
                        "$@" --rootfs "$root" /bin/sh -c "$script" ||
                        fail "podman --runtime runc on $name failed: $RT_OUT"
        fi
        assert_contains "$RT_OUT" container-ok
}

# Each rootfs serves a container of each runtime in turn (the first one's write removed before the
# second one's), which spares a copy.
for backend in overlay copy; do
        rt_assemble "$backend" --backend="$backend" "${LAYERS[@]}"
        for runtime in runc crun; do
                in_podman "$runtime" "$backend" "$RT_CHECKS"
                rt_assert_written "$backend"
                rm "$R/root/written"
                echo "$backend: podman ($runtime) ran a container on it"
        done
        rt_destroy "$backend"
done
# podman cannot start a container on a read-only rootfs as it is (it makes /etc/mtab there:
# "creating /etc/mtab symlink: read-only file system"); ":O" stacks its own overlay on the rootfs,
# with the upper dir in podman's storage. The write lands there, not in the rootfs, which is the
# layer.
rt_assemble bind --backend=bind "${LAYERS[0]}"
for runtime in runc crun; do
        in_podman "$runtime" bind:O 'set -e; test -x /usr/bin/dpkg; echo x >/root/written; echo container-ok'
        assert_absent "$R/root/written"
        echo "bind: podman ($runtime) ran a container on it (podman's overlay on top)"
done
rt_destroy bind

# User-namespaced containers (their root is host uid 100000) on idmapped rootfses: they see
# root-owned files as root's, and their writes land as 100000.
rt_userns_reachable
for backend in overlay copy; do
        rt_assemble "$backend-userns" --backend="$backend" --uidmap="$RT_USERNS_MAP" "${LAYERS[@]}"
        for runtime in runc crun; do
                in_podman "$runtime" "$backend-userns" "$RT_CHECKS_USERNS" \
                        --uidmap="$RT_USERNS_MAP" --gidmap="$RT_USERNS_MAP"
                rt_assert_written "$backend-userns" "$RT_USERNS_HOST"
                rm "$R/root/written"
                # podman makes every directory above a user-namespaced container's rootfs
                # searchable by all (libpod's makeAccessible adds --x--x--x to each one the
                # container's root does not own), here TEST_TMP, which shut everyone else out:
                # said, and shut again.
                if [ "$(stat -c %a "$TEST_TMP")" != 710 ]; then
                        echo "NOTE: podman --uidmap made $TEST_TMP mode $(stat -c %a "$TEST_TMP")"
                        chmod 0710 "$TEST_TMP"
                fi
                echo "$backend --uidmap: podman ($runtime) ran a user-namespaced container on it"
        done
        rt_destroy "$backend-userns"
done

[ -z "$("${PODMAN[@]}" ps --all --quiet)" ] || fail "podman still has containers: $("${PODMAN[@]}" ps --all)"
rt_finish
echo "PASS: podman (runc, crun) runs containers on overlay, copy, bind and idmapped rootfses"
