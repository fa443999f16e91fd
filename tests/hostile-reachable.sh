#!/usr/bin/env bash
# Hostile neighbours, item 3: a rootfs every local user can reach hands them root. The image's
# setuid-root programs run as root for whoever can reach them, and its device nodes open whatever
# device they name. The layer here carries a setuid-root copy of id(1) and a 0666 block device node
# of a decoy disk (a loop device over a file holding a marker).
#  (a) assemble of an R whose every ancestor others may search (a 0755 chain) is refused: exit 2,
#      one line saying "reachable" and naming --allow-reachable-rootfs; nothing made;
#  (b) below a 0700 directory of root's it works, and user nobody can neither run R/bin/id nor open
#      R/dev/disk;
#  (c) --allow-reachable-rootfs accepts the 0755 chain (the documented risk);
# for the copy, bind and overlay backends.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setpriv losetup findmnt python3
enter_private_mountns "$@"

mounts_now() { findmnt -rn -o TARGET | sort; }

# R's parents live under a 0755 chain of their own (TEST_TMP is 0700, which would already protect).
make_open_dir 0755
LOOP=
cleanup_all() {
        [ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || true
        cleanup_test_tmp
}
trap cleanup_all EXIT

# The decoy disk: 1 MiB holding a marker, behind a loop device.
MARKER="ovlbackend-decoy-disk-$RANDOM$RANDOM"
python3 -c 'import sys; open(sys.argv[1], "wb").write(sys.argv[2].encode().ljust(1 << 20, b"\0"))' \
        "$TEST_TMP/disk.img" "$MARKER"
LOOP=$(losetup -f --show "$TEST_TMP/disk.img" 2>/dev/null) || { LOOP=; skip "no loop device to make a decoy disk"; }
MAJ=$((16#$(stat -c %t "$LOOP")))
MIN=$((16#$(stat -c %T "$LOOP")))
[ "$(head -c ${#MARKER} "$LOOP")" = "$MARKER" ] || fail "the decoy disk $LOOP does not show its marker"

# The image: a setuid-root id(1), a world-readable and -writable node of the decoy disk.
L=$TEST_TMP/layer
mkdir -p "$L/bin" "$L/dev" "$L/etc"
chmod 0755 "$L"
echo web >"$L/etc/hostname"
cp "$(command -v id)" "$L/bin/id"
chown 0:0 "$L/bin/id"
chmod 4755 "$L/bin/id"
mknod -m 0666 "$L/dev/disk" b "$MAJ" "$MIN"

HELP=$("$OVLBACKEND" assemble --help)
case $HELP in
*--allow-reachable-rootfs*) HAVE_OPTION=1 ;;
*) HAVE_OPTION=0 ;;
esac

# What user nobody gets out of R: "euid=N" or an error, and the first bytes of R/dev/disk or an
# error. Sets EUID_SEEN and DISK_SEEN.
probe_as_nobody() {
        local r=$1
        EUID_SEEN=$(as_nobody "$r/bin/id" -u 2>&1) || true
        DISK_SEEN=$(as_nobody head -c ${#MARKER} "$r/dev/disk" 2>&1) || true
}

BACKENDS=(copy bind)
if overlay_backend_here; then
        BACKENDS+=(overlay)
fi

before=$(mounts_now)
for backend in "${BACKENDS[@]}"; do
        # (a) Reachable by everyone: refused, nothing made.
        R=$OPEN/web-$backend
        STATUS=0
        "$OVLBACKEND" assemble --backend="$backend" --rootfs="$R" "$L" >/dev/null 2>"$TEST_TMP/stderr" || STATUS=$?
        ERR=$(cat "$TEST_TMP/stderr")
        if [ "$STATUS" = 0 ]; then
                probe_as_nobody "$R"
                what="$backend: assemble of $R (every ancestor searchable by others) was accepted"
                [ "$EUID_SEEN" != 0 ] || what="$what; nobody ran $R/bin/id as euid 0"
                [ "$DISK_SEEN" != "$MARKER" ] || what="$what; nobody read the decoy disk's marker through $R/dev/disk"
                hole "$what (id -u: '$EUID_SEEN', dev/disk: '$DISK_SEEN')"
                run_ovl 0 destroy "$R"
        else
                [ "$STATUS" = 2 ] || fail "$backend: assemble of reachable $R exited $STATUS, expected 2: $ERR"
                assert_one_line "$ERR"
                assert_contains "$ERR" "reachable"
                assert_contains "$ERR" "--allow-reachable-rootfs"
                assert_absent "$R"
                [ "$(mounts_now)" = "$before" ] || fail "$backend: a refused assemble left a mount"
        fi

        # (b) Below a 0700 directory of root's: works, and nobody reaches nothing in it.
        [ -d "$OPEN/private" ] || mkdir -m 0700 "$OPEN/private"
        R=$OPEN/private/web-$backend
        run_ovl 0 assemble --backend="$backend" --rootfs="$R" "$L"
        [ "$(stat -c '%a %U' "$R/bin/id")" = "4755 root" ] ||
                fail "$backend: $R/bin/id is not the image's setuid-root id"
        [ "$(head -c ${#MARKER} "$R/dev/disk")" = "$MARKER" ] || fail "$backend: root cannot read $R/dev/disk"
        probe_as_nobody "$R"
        assert_contains "$EUID_SEEN" "Permission denied"
        assert_contains "$DISK_SEEN" "Permission denied"
        run_ovl 0 destroy "$R"

        # (c) --allow-reachable-rootfs: accepted, as documented.
        if [ "$HAVE_OPTION" = 1 ]; then
                R=$OPEN/web-$backend
                run_ovl 0 assemble --backend="$backend" --allow-reachable-rootfs --rootfs="$R" "$L"
                assert_file_content "$R/etc/hostname" web
                run_ovl 0 destroy "$R"
        fi
done
[ "$(mounts_now)" = "$before" ] || fail "mounts left behind"
run_ovl 0 gc # the overlay cache entries no rootfs uses any more
assert_workdir_clean
[ "$HAVE_OPTION" = 1 ] || hole "assemble --help knows no --allow-reachable-rootfs"
[ "$HOLES" = 0 ] || fail "$HOLES hole(s), see the HOLE lines above"
echo "PASS: a rootfs every user could reach is refused unless allowed; below a 0700 directory nobody gets in"
