# shellcheck shell=bash
# Shared by the tests that run a container runtime on ovlbackend's rootfses (tests/runc.sh,
# tests/podman.sh, tests/nspawn.sh, tests/lxc.sh). Sourced after enter_private_mountns; needs
# findmnt.
#
#   rt_setup                  copies the Debian image (tests/lib/debian-fixture.sh) to $TEST_TMP/img
#                             and sets LAYERS (bottom first); remembers the mount table and the
#                             layers' signature
#   rt_private_run            a tmpfs on /run in this test's mount namespace, for runtimes that
#                             keep state in fixed places there
#   rt_userns_reachable       lets the container root of the user-namespaced cases (host uid and
#                             gid $RT_USERNS_HOST) through $TEST_TMP, as moby does for its root
#   rt_assemble NAME ARGS...  assembles $TEST_TMP/NAME (R) with ARGS; sets UPPER to the overlay's
#                             upper dir (empty for other backends)
#   rt_assert_written NAME [OWNER]
#                             the container's write (RT_CHECKS) is in the rootfs (for overlay: in
#                             the upper dir), owned by OWNER (host uid, default 0)
#   rt_destroy NAME           destroys it and proves nothing of it is left
#   rt_finish                 at the end: layers unchanged, mount table as before, no cgroup left,
#                             gc leaves a clean work dir
#   rt_run CMD...             runs a runtime command, bounded in time, keeping its output in $RT_OUT
#
# RT_CHECKS, RT_CHECKS_RO and RT_CHECKS_USERNS are what a container runs with /bin/sh -c (see
# below); each prints container-ok last. RT_STOP names a function of the test that stops whatever
# its runtime may still run; the EXIT trap calls it before the scratch is removed. RT_CGROUP is a
# cgroup name the test's runtimes should create their cgroups below (cgroups are not in the mount
# namespace: the EXIT trap removes it in every hierarchy).

. "$OVL_TESTS_SRCDIR/lib/debian-fixture.sh"

# The id range of the user-namespaced containers: container ids 0..65535 are host ids 100000...
RT_USERNS_HOST=100000
RT_USERNS_MAP=0:$RT_USERNS_HOST:65536

# What a container checks on a rootfs of the whole image: files of the top layers, whiteouts
# honoured (a file and a directory deleted in l3, an opaque /etc/apt), then a write.
read -r -d '' RT_CHECKS <<'SH' || true
set -e
test ! -e /usr/share/doc/bash
test ! -e /usr/bin/perl5.36.0
grep -q '^fixture:x:1234:1234:Fixture User' /etc/passwd
test "$(cat /usr/share/doc/hostname/README)" = back
test "$(ls -A /etc/apt)" = sources.list
echo written-in-container >/root/written
echo container-ok
SH
# On the read-only bind of the bottom layer alone: its files, and no write.
# shellcheck disable=SC2034 # for the tests
read -r -d '' RT_CHECKS_RO <<'SH' || true
set -e
test -x /usr/bin/dpkg
grep -q '^root:' /etc/passwd
if echo x >/root/written 2>/dev/null; then echo "wrote to a read-only rootfs"; exit 1; fi
echo container-ok
SH
# In a user namespace whose root is host uid 100000 on an idmapped rootfs: the container's root is
# root, sees root's files as its own, and then runs RT_CHECKS.
# shellcheck disable=SC2034 # for the tests
RT_CHECKS_USERNS="set -e
read -r c h n </proc/self/uid_map
test \"\$c:\$h:\$n\" = $RT_USERNS_MAP
test \"\$(id -u)\" = 0
test \"\$(stat -c %u:%g /etc/passwd)\" = 0:0
$RT_CHECKS"

RT_CGROUP=$(basename "$TEST_TMP")

# The layers' signature: every entry's inode, type, mode, owner, size, mtime, ctime and link target.
# Any change to an entry (data, owner, mode, xattrs, a link added or removed) moves its ctime, which
# nothing can set back, and any entry added or removed changes its directory's, so an equal
# signature shows the layers were never written; much faster than hashing 130 MB of content.
rt_layers_signature() {
        find "${LAYERS[@]}" -printf '%p %y %i %m %U:%G %s %T@ %C@ %l\n' | LC_ALL=C sort
}

rt_setup() {
        debian_fixture_or_skip "$TEST_TMP/img"
        LAYERS=("$TEST_TMP/img/l0" "$TEST_TMP/img/l1" "$TEST_TMP/img/l2" "$TEST_TMP/img/l3")
        rt_layers_signature >"$TEST_TMP/layers-before"
        RT_MOUNTS_BEFORE=$(findmnt -rn -o TARGET | sort)
}

rt_private_run() {
        mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run || fail "cannot mount a private /run"
}

# The container's root (host uid 100000) must reach R to mount it: let its group in, nobody else
# (moby's 0710 root:REMAPPED-GID; assemble refuses a rootfs every user can reach).
rt_userns_reachable() {
        chgrp "$RT_USERNS_HOST" "$TEST_TMP"
        chmod 0710 "$TEST_TMP"
}

# What each assemble's --json output said, by NAME. Read with bash patterns rather than python3,
# whose start-up can cost more than a container run: these paths are plain ASCII, which --json
# prints as it is.
declare -A RT_BACKEND RT_RECORD RT_SCRATCH RT_UPPER
rt_json_string() {
        [[ $1 =~ \"$2\":\"([^\"]*)\" ]] || fail "no \"$2\" in: $1"
        echo "${BASH_REMATCH[1]}"
}

rt_assemble() {
        local name=$1 s
        shift
        R=$TEST_TMP/$name
        run_ovl 0 assemble --json --rootfs="$R" "$@"
        RT_BACKEND[$name]=$(rt_json_string "$OUT" backend)
        RT_RECORD[$name]=$(rt_json_string "$OUT" record)
        [[ $OUT =~ \"scratch\":\[([^]]*)\] ]] || fail "no scratch list in: $OUT"
        s=${BASH_REMATCH[1]//\"/}
        RT_SCRATCH[$name]=${s//,/ }
        UPPER=
        for s in ${RT_SCRATCH[$name]}; do
                [ "${s##*/}" != upper ] || UPPER=$s
        done
        RT_UPPER[$name]=$UPPER
}

rt_assert_written() {
        local name=$1 owner=${2:-0} where=$TEST_TMP/$1
        if [ "${RT_BACKEND[$name]}" = overlay ]; then
                where=${RT_UPPER[$name]}
                [ -n "$where" ] || fail "$name: no upper dir in the assemble output"
        fi
        assert_file_content "$where/root/written" written-in-container
        [ "$(stat -c %u:%g "$where/root/written")" = "$owner:$owner" ] ||
                fail "$where/root/written is owned by $(stat -c %u:%g "$where/root/written"), expected $owner:$owner"
}

# Nothing of NAME may be left: no rootfs, no mount at or below it, none of what the assemble output
# named (record, its directory, scratch), no entry in `list`.
rt_destroy() {
        local name=$1 r=$TEST_TMP/$1 t p
        run_ovl 0 destroy "$r"
        assert_absent "$r"
        while read -r t; do
                case $t in
                "$r" | "$r"/*) fail "$t is still mounted after destroy" ;;
                esac
        done < <(findmnt -rn -o TARGET)
        assert_absent "${RT_RECORD[$name]}"
        assert_absent "$(dirname "${RT_RECORD[$name]}")"
        for p in ${RT_SCRATCH[$name]}; do
                assert_absent "$p"
        done
        run_ovl 0 list --json
        case $OUT in
        *"\"rootfs\":\"$r\""*) fail "list still shows $r: $OUT" ;;
        esac
}

# Every hierarchy's RT_CGROUP subtree, deepest first (a cgroup goes only when empty).
rt_remove_cgroups() {
        local h
        for h in $(findmnt -rn -t cgroup,cgroup2 -o TARGET); do
                [ ! -d "$h/$RT_CGROUP" ] || find "$h/$RT_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
}

rt_finish() {
        local h
        rt_layers_signature | diff "$TEST_TMP/layers-before" - >&2 || fail "a layer changed"
        [ "$(findmnt -rn -o TARGET | sort)" = "$RT_MOUNTS_BEFORE" ] ||
                fail "mounts left: $(diff <(echo "$RT_MOUNTS_BEFORE") <(findmnt -rn -o TARGET | sort))"
        rt_remove_cgroups
        for h in $(findmnt -rn -t cgroup,cgroup2 -o TARGET); do
                [ ! -e "$h/$RT_CGROUP" ] || fail "cgroup $h/$RT_CGROUP is left (busy?)"
        done
        run_ovl 0 gc
        assert_workdir_clean
}

# A container that hangs must not hang CI: each runtime command gets two minutes.
rt_run() {
        local rc=0
        # shellcheck disable=SC2034 # for the tests
        RT_OUT=$(timeout --kill-after=10 120 "$@" 2>&1) || rc=$?
        return "$rc"
}

RT_STOP=true
rt_on_exit() {
        # Nothing here may fail (see cleanup_test_tmp).
        "$RT_STOP" >/dev/null 2>&1 || true
        rt_remove_cgroups
        cleanup_test_tmp
}
trap rt_on_exit EXIT
