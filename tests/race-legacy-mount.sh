#!/usr/bin/env bash
# Hostile neighbours, item 4: on a kernel without the new mount API, mount(2) must not mount
# through a symlink swapped in at R. R's parent P belongs to user nobody, who races (tests/race-swap)
# to exchange R with a symlink to a decoy of root's, over and over, while root assembles R:
#  - the decoy must never get a mount on it or changed: D, a plain directory holding a marker, and
#    M, a tmpfs mount point holding a marker (a host mount: it must stay the only mount there, and
#    read-write);
#  - an assemble that fails leaves no mount anywhere; after a destroy that reports success no mount
#    of the rootfs is left anywhere, nor after one that fails and forgets the rootfs' record.
# R is made by ovlbackend in half the tries and an empty directory of root's made beforehand in the
# other half; the bind backend, then the overlay backend (two layers) where the kernel has overlayfs.
# Under tests/enosys-shim, as tests/legacy-kernel.sh. Bounded: 40 tries or 25 s per backend.
# Decoys only: every directory at stake is made by this test.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setpriv findmnt mountpoint mkfifo
[ -x "${OVL_ENOSYS_SHIM:-}" ] || skip "OVL_ENOSYS_SHIM (tests/enosys-shim, built by make check) is not set"
[ -x "${OVL_RACE_SWAP:-}" ] || skip "OVL_RACE_SWAP (tests/race-swap, built by make check) is not set"
enter_private_mountns "$@"

MAX_TRIES=40
MAX_SECONDS=25
# Every mount under TEST_TMP, with what it is and its per-mount options.
mounts_here() { findmnt -rn -o TARGET,SOURCE,FSTYPE,VFS-OPTIONS | awk -v p="$TEST_TMP/" 'index($1, p) == 1' | sort; }

# User nobody must reach P: TEST_TMP is searchable, not readable, by others; the racer is copied
# where nobody can run it, whatever the build dir's modes.
chmod 0711 "$TEST_TMP"
RACER=$TEST_TMP/race-swap
install -m 0755 "$OVL_RACE_SWAP" "$RACER"
printf '#!/usr/bin/env bash\nexec %q %q "$@"\n' "$OVL_ENOSYS_SHIM" "$OVLBACKEND" >"$TEST_TMP/ovlbackend-old-kernel"
chmod 0755 "$TEST_TMP/ovlbackend-old-kernel"
OLD_KERNEL=$TEST_TMP/ovlbackend-old-kernel

# The fixed ovlbackend refuses a rootfs every user can reach unless told to accept it; the attack
# needs nobody to reach R's parent. Asked only where the binary knows the option.
REACHABLE=()
case $("$OVLBACKEND" assemble --help) in *--allow-reachable-rootfs*) REACHABLE=(--allow-reachable-rootfs) ;; esac

. "$OVL_TESTS_SRCDIR/lib/race.sh"

# The layers: a bottom and a top, each with a file of its own.
mkdir -p "$TEST_TMP/l0/etc" "$TEST_TMP/l1/etc"
echo bottom >"$TEST_TMP/l0/etc/bottom"
echo top >"$TEST_TMP/l1/etc/top"
chmod 0755 "$TEST_TMP/l0" "$TEST_TMP/l1"

# The decoys, root's: a plain directory and a mount point, each with a marker.
D=$TEST_TMP/decoy-dir
M=$TEST_TMP/decoy-mnt
MARKER="decoy-$RANDOM$RANDOM"
mkdir -m 0755 "$D" "$M"
echo "$MARKER" >"$D/marker"
make_decoy_mount() {
        mount -t tmpfs -o mode=0755,size=1m decoy-tmpfs "$M"
        echo "$MARKER" >"$M/marker"
}
make_decoy_mount

# The shared parent, user nobody's.
P=$TEST_TMP/shared
mkdir -m 0755 "$P"
chown $NOBODY:$NOBODY "$P"
as_nobody touch "$P/.probe" 2>/dev/null || skip "user nobody cannot write $P (cannot stage the attack)"
rm -f "$P/.probe"

# decoy_state: what a user sees at the decoys, and every mount at or below them.
decoy_state() {
        echo "D marker: $(cat "$D/marker" 2>&1)"
        echo "M marker: $(cat "$M/marker" 2>&1)"
        mounts_here | awk -v d="$D" -v m="$M" '$1 == d || index($1, d "/") == 1 || $1 == m || index($1, m "/") == 1'
}
DECOYS=$(decoy_state)
BASE_MOUNTS=$(mounts_here)
# The mounts under TEST_TMP the test did not start with, on one line.
new_mounts() { diff <(echo "$BASE_MOUNTS") <(mounts_here) | grep '^>' | tr '\n' ' ' || true; }

# reset_mounts: back to the mounts the test started from (a try that went wrong left others).
reset_mounts() {
        local m
        for m in $(mounts_here | cut -d' ' -f1 | sort -r); do
                [ "$m" != "$M" ] || continue
                umount -l "$m" 2>/dev/null || true
        done
        if [ "$(decoy_state)" != "$DECOYS" ]; then
                while mountpoint -q "$M"; do umount -l "$M" || break; done
                make_decoy_mount
        fi
        [ "$(mounts_here)" = "$BASE_MOUNTS" ] || fail "could not put the mounts back: $(mounts_here)"
}



BACKENDS=(bind)
if overlay_backend_here; then
        BACKENDS+=(overlay)
fi

for backend in "${BACKENDS[@]}"; do
        if [ "$backend" = bind ]; then layers=("$TEST_TMP/l1"); else layers=("$TEST_TMP/l0" "$TEST_TMP/l1"); fi
        tries=0 attacked=0 covered=0 leaked=0 orphaned=0 left=0 assembled=0 destroyed=0 exchanges=0
        start=$SECONDS
        while [ "$tries" -lt "$MAX_TRIES" ] && [ $((SECONDS - start)) -lt "$MAX_SECONDS" ]; do
                tries=$((tries + 1))
                R=$P/$backend-$tries
                EVIL=$P/$backend-$tries.evil
                # Alternately at the plain directory and at the mount point; R made by ovlbackend in
                # tries 1, 2, 5, 6, ..., made beforehand in tries 3, 4, 7, 8, ...
                if [ $((tries % 2)) = 1 ]; then decoy=$D; else decoy=$M; fi
                if [ $(((tries - 1) / 2 % 2)) = 1 ]; then how=premade; mkdir -m 0755 "$R"; else how=fresh; fi
                as_nobody ln -s "$decoy" "$EVIL"
                what="$backend, try $tries (R $how, symlink to $decoy)"

                start_racer "$R" "$EVIL"
                STATUS=0
                "$OLD_KERNEL" assemble --backend="$backend" "${REACHABLE[@]}" --rootfs="$R" "${layers[@]}" \
                        >/dev/null 2>"$TEST_TMP/stderr" || STATUS=$?
                stop_racer
                n=$(racer_exchanges)
                exchanges=$((exchanges + n))
                # The racer may have left the symlink at R: the directory goes back in its place,
                # unless a mount on it pins it where it is (EBUSY: the mount landed on the directory
                # after the racer moved it, and stopped the racer).
                if [ -L "$R" ] && ! "$RACER" 0 "$R" "$EVIL" 2>"$TEST_TMP/swap.err"; then
                        grep -q busy "$TEST_TMP/swap.err" ||
                                fail "$what: could not put R back: $(cat "$TEST_TMP/swap.err")"
                        echo "NOTE: $what: R was left a symlink, the directory with a mount on it at $EVIL"
                fi

                bad=0
                if [ "$(decoy_state)" != "$DECOYS" ]; then
                        hole "$what: assemble (exit $STATUS) mounted over or changed the decoy:" \
                                "$(diff <(echo "$DECOYS") <(decoy_state) | grep '^[<>]' | tr '\n' ' ')"
                        covered=$((covered + 1))
                        bad=1
                fi
                if [ "$STATUS" = 0 ]; then
                        assembled=$((assembled + 1))
                        STATUS=0
                        "$OLD_KERNEL" destroy "$R" >/dev/null 2>"$TEST_TMP/stderr" || STATUS=$?
                        if [ "$STATUS" = 0 ]; then
                                destroyed=$((destroyed + 1))
                                if [ "$(mounts_here)" != "$BASE_MOUNTS" ]; then
                                        hole "$what: destroy reported success and left mounts:" \
                                                "$(new_mounts)"
                                        leaked=$((leaked + 1))
                                        bad=1
                                fi
                        elif [ "$(mounts_here)" != "$BASE_MOUNTS" ]; then
                                # Failed with a mount left: fine while the record is kept (destroy can
                                # be run again once R is sorted out), a leak once it is forgotten.
                                ERR=$(cat "$TEST_TMP/stderr")
                                "$OLD_KERNEL" destroy "$R" >/dev/null 2>"$TEST_TMP/stderr" || true
                                if grep -q "not assembled by ovlbackend" "$TEST_TMP/stderr"; then
                                        hole "$what: destroy failed ($ERR), forgot the record and left mounts:" \
                                                "$(new_mounts)"
                                        orphaned=$((orphaned + 1))
                                        bad=1
                                else
                                        echo "NOTE: $what: destroy after the race failed, the record kept: $ERR"
                                fi
                        fi
                elif [ "$(mounts_here)" != "$BASE_MOUNTS" ]; then
                        hole "$what: assemble failed ($(head -n 1 "$TEST_TMP/stderr")) and left mounts:" \
                                "$(new_mounts)"
                        left=$((left + 1))
                        bad=1
                fi
                attacked=$((attacked + bad))
                reset_mounts
        done
        [ "$exchanges" -gt 0 ] || fail "$backend: the racer never exchanged R: the test proved nothing"
        echo "$backend: $attacked of $tries tries attacked successfully ($covered decoy covered or changed," \
                "$leaked mount left after a successful destroy, $orphaned left by a failed destroy that forgot" \
                "its record, $left left by a failed assemble);" \
                "$assembled assembles and $destroyed destroys succeeded; $exchanges exchanges by the racer;" \
                "$((SECONDS - start)) s"
done
[ "$HOLES" = 0 ] || fail "$HOLES hole(s), see the HOLE lines above"
echo "PASS: no legacy mount(2) went through a symlink swapped in at R, and nothing was left mounted"
