#!/usr/bin/env bash
# systemd-nspawn runs containers on ovlbackend's rootfses (`-D`): the Debian image
# (tests/lib/debian-fixture.sh) assembled by the overlay and copy backends, its bottom layer by
# the (read-only) bind backend, and idmapped overlay and copy rootfses under a user-namespaced
# container (--private-users). Each container sees the top layers' files and not the deleted ones
# and writes a file, which lands in the rootfs (overlay: in its upper dir; on the bind, the write
# is refused); the layers never change; after destroy nothing is left.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd systemd-nspawn debootstrap findmnt timeout
require_overlayfs
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/runtimes.sh"

# nspawn keeps locks and a mount propagation directory under /run/systemd/nspawn/, and where /run
# is not a tmpfs (as here) cannot even remove the latter ("Attempted to remove disk file system
# ..., and we can't allow that"): they go to a tmpfs of this test's own.
rt_private_run
rt_setup

# As root, with no systemd to talk to (none is PID 1 here, and tests must not depend on one):
# --register=no (no machined), --keep-unit (no transient scope over D-Bus: the container stays in
# our cgroups, and nspawn makes none); --pipe for plain stdio; nothing of the host copied into the
# rootfs (resolv.conf, timezone, journal link), so that the only write is the container's own.
NSPAWN=(systemd-nspawn --quiet --register=no --keep-unit --pipe --private-network
        --resolv-conf=off --timezone=off --link-journal=no)

# in_nspawn NAME SCRIPT [OPTION...]
in_nspawn() {
        local name=$1 script=$2
        shift 2
        rt_run "${NSPAWN[@]}" "$@" -D "$TEST_TMP/$name" /bin/sh -c "$script" ||
                fail "systemd-nspawn on $name failed: $RT_OUT"
        assert_contains "$RT_OUT" container-ok
}

for backend in overlay copy; do
        rt_assemble "$backend" --backend="$backend" "${LAYERS[@]}"
        in_nspawn "$backend" "$RT_CHECKS"
        rt_assert_written "$backend"
        rt_destroy "$backend"
        echo "$backend: systemd-nspawn ran a container on it"
done
rt_assemble bind --backend=bind "${LAYERS[0]}"
in_nspawn bind "$RT_CHECKS_RO"
rt_destroy bind
echo "bind: systemd-nspawn ran a container on it (read-only)"

# User-namespaced containers (their root is host uid 100000) on idmapped rootfses. The rootfs
# already shows the container's ids, so nspawn must neither chown it nor idmap it again:
# --private-users-ownership=off says so (the default, auto, decides the same from the owner of the
# rootfs's root directory, but would chown the whole tree, or idmap it, were that owner not 100000).
rt_userns_reachable
for backend in overlay copy; do
        rt_assemble "$backend-userns" --backend="$backend" --uidmap="$RT_USERNS_MAP" "${LAYERS[@]}"
        in_nspawn "$backend-userns" "$RT_CHECKS_USERNS" \
                --private-users="$RT_USERNS_HOST:65536" --private-users-ownership=off
        rt_assert_written "$backend-userns" "$RT_USERNS_HOST"
        rt_destroy "$backend-userns"
        echo "$backend --uidmap: systemd-nspawn ran a user-namespaced container on it"
done

rt_finish
echo "PASS: systemd-nspawn runs containers on overlay, copy, bind and idmapped rootfses"
