#!/usr/bin/env bash
# LXC runs containers on ovlbackend's rootfses (`lxc-execute` with `lxc.rootfs.path = dir:R`): the
# Debian image (tests/lib/debian-fixture.sh) assembled by the overlay and copy backends, its bottom
# layer by the (read-only) bind backend, and idmapped overlay and copy rootfses under a
# user-namespaced container (lxc.idmap). Each container sees the top layers' files and not the
# deleted ones and writes a file, which lands in the rootfs (overlay: in its upper dir; on the
# bind, the write is refused); the layers never change; after destroy nothing is left.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd lxc-execute lxc-stop debootstrap findmnt timeout
require_overlayfs
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/runtimes.sh"

# LXC keeps a lock directory per container under /run/lxc/lock/<lxcpath>/ and leaves it: it goes
# to a tmpfs of this test's own.
rt_private_run
rt_setup
LXCPATH=$TEST_TMP/lxc
mkdir -m 0700 "$LXCPATH"
LXC_NAMES=()
lxc_stop() {
        local c
        for c in "${LXC_NAMES[@]}"; do
                lxc-stop --lxcpath="$LXCPATH" --name="$c" --kill || true
        done
}
RT_STOP=lxc_stop

# in_lxc NAME SCRIPT [CONFIG-LINE...]: runs SCRIPT in a container named NAME on $TEST_TMP/NAME.
# The config is all the container has (no lxc.include of the distribution's defaults, so that the
# test does not depend on them): no network but loopback, no AppArmor profile (the profiles are
# the host's business, and this machine has no AppArmor), /dev made by LXC, /proc and /sys as LXC
# usually mounts them, and its cgroups below RT_CGROUP (LXC puts them at the top of each hierarchy
# otherwise, and leaves lxc.pivot behind there).
in_lxc() {
        local name=$1 script=$2 line
        shift 2
        {
                echo "lxc.uts.name = $name"
                echo "lxc.rootfs.path = dir:$TEST_TMP/$name"
                echo "lxc.net.0.type = empty"
                echo "lxc.apparmor.profile = unconfined"
                echo "lxc.autodev = 1"
                echo "lxc.mount.auto = proc:mixed sys:ro cgroup:mixed"
                echo "lxc.cgroup.dir.container = $RT_CGROUP/$name"
                echo "lxc.cgroup.dir.monitor = $RT_CGROUP/$name-monitor"
                echo "lxc.cgroup.dir.monitor.pivot = $RT_CGROUP/pivot"
                for line in "$@"; do
                        echo "$line"
                done
        } >"$TEST_TMP/$name.conf"
        LXC_NAMES+=("$name")
        rt_run lxc-execute --lxcpath="$LXCPATH" --name="$name" --rcfile="$TEST_TMP/$name.conf" \
                --logfile="$TEST_TMP/$name.log" --logpriority=INFO -- /bin/sh -c "$script" ||
                fail "lxc-execute on $name failed: $RT_OUT; log: $(grep -E 'ERROR|WARN' "$TEST_TMP/$name.log")"
        assert_contains "$RT_OUT" container-ok
}

for backend in overlay copy; do
        rt_assemble "$backend" --backend="$backend" "${LAYERS[@]}"
        in_lxc "$backend" "$RT_CHECKS"
        rt_assert_written "$backend"
        rt_destroy "$backend"
        echo "$backend: LXC ran a container on it"
done
rt_assemble bind --backend=bind "${LAYERS[0]}"
in_lxc bind "$RT_CHECKS_RO"
rt_destroy bind
echo "bind: LXC ran a container on it (read-only)"

# User-namespaced containers (their root is host uid 100000) on idmapped rootfses. With shadow's
# newuidmap installed (package uidmap), LXC maps ids through it even as root, and it allows root
# only the ranges /etc/subuid and /etc/subgid give root ("newuidmap: uid range [0-65536) ->
# [100000-165536) not allowed"): those files get root's range here, in this mount namespace only.
rt_userns_reachable
# The container's root must get through the lxcpath too ("Could not access ...: Please grant it x
# access").
chgrp "$RT_USERNS_HOST" "$LXCPATH"
chmod 0710 "$LXCPATH"
if command -v newuidmap >/dev/null; then
        for f in subuid subgid; do
                [ -e "/etc/$f" ] || fail "/etc/$f is missing (package login makes it): nothing to mount over"
                { cat "/etc/$f"; echo "root:$RT_USERNS_HOST:65536"; } >"$TEST_TMP/$f"
                mount --bind "$TEST_TMP/$f" "/etc/$f"
        done
fi
for backend in overlay copy; do
        rt_assemble "$backend-userns" --backend="$backend" --uidmap="$RT_USERNS_MAP" "${LAYERS[@]}"
        in_lxc "$backend-userns" "$RT_CHECKS_USERNS" \
                "lxc.idmap = u 0 $RT_USERNS_HOST 65536" "lxc.idmap = g 0 $RT_USERNS_HOST 65536"
        rt_assert_written "$backend-userns" "$RT_USERNS_HOST"
        rt_destroy "$backend-userns"
        echo "$backend --uidmap: LXC ran a user-namespaced container on it"
done
if command -v newuidmap >/dev/null; then
        umount /etc/subuid /etc/subgid
fi

rt_finish
echo "PASS: LXC runs containers on overlay, copy, bind and idmapped rootfses"
