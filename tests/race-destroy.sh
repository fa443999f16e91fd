#!/usr/bin/env bash
# Hostile neighbours, item 5: destroy must not be raced into unmounting a foreign mount. User nobody
# owns S and the directories S/a and S/b in it; root has assembled container A at S/a/rootfs and
# container B (another container: the decoy) at S/b/rootfs. While root destroys S/a/rootfs, nobody
# exchanges S/a and S/b over and over (tests/race-swap), so a path through S/a reaches either. Then:
#  - B is still mounted, the very mount it was (same mount id), showing B's own file;
#  - destroy reported success: A's mount is gone; destroy failed: with one line naming R, and a
#    second destroy once the race is over succeeds and takes A's mount away;
#  - no other mount was unmounted, none appeared.
# The overlay backend (A and B with top layers of their own), and the bind backend with A and B
# bound from the same layer (bind recognised its mount by the layer's root inode alone); each with
# the new mount API, and again with A and B mounted by mount(2) under tests/enosys-shim (as
# tests/legacy-kernel.sh) when OVL_ENOSYS_SHIM is set. Bounded: 40 tries or 14 s each. Decoys only:
# every mount at stake is made by this test.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setpriv findmnt mountpoint mkfifo
[ -x "${OVL_RACE_SWAP:-}" ] || skip "OVL_RACE_SWAP (tests/race-swap, built by make check) is not set"
enter_private_mountns "$@"

MAX_TRIES=40
MAX_SECONDS=14
# Every mount: its id and where it is.
mounts_all() { findmnt -rn -o ID,TARGET | sort; }
# The id of the mount at exactly DIR, empty when none is.
mount_id_at() { findmnt -rn -o ID --mountpoint "$1" | tail -n 1; }

# User nobody must reach S: TEST_TMP is searchable, not readable, by others; the racer is copied
# where nobody can run it, whatever the build dir's modes.
chmod 0711 "$TEST_TMP"
RACER=$TEST_TMP/race-swap
install -m 0755 "$OVL_RACE_SWAP" "$RACER"
OVL_NEW_API=$OVLBACKEND
MODES=(new)
if [ -x "${OVL_ENOSYS_SHIM:-}" ]; then
        printf '#!/usr/bin/env bash\nexec %q %q "$@"\n' "$OVL_ENOSYS_SHIM" "$OVLBACKEND" \
                >"$TEST_TMP/ovlbackend-old-kernel"
        chmod 0755 "$TEST_TMP/ovlbackend-old-kernel"
        MODES+=(legacy)
elif [ "${OVLBACKEND_TESTS_MUST_RUN:-0}" = 1 ]; then
        fail "OVL_ENOSYS_SHIM is not set, and OVLBACKEND_TESTS_MUST_RUN=1"
else
        echo "NOTE: OVL_ENOSYS_SHIM is not set: mounts made by mount(2) not tried"
fi

# The fixed ovlbackend refuses a rootfs every user can reach unless told to accept it; the attack
# needs nobody to own a directory above R. Asked only where the binary knows the option.
REACHABLE=()
case $("$OVLBACKEND" assemble --help) in *--allow-reachable-rootfs*) REACHABLE=(--allow-reachable-rootfs) ;; esac

. "$OVL_TESTS_SRCDIR/lib/race.sh"



# The layers: a common bottom, and a top for each container with a file of its own.
mkdir -p "$TEST_TMP/l0/etc" "$TEST_TMP/la/etc" "$TEST_TMP/lb/etc"
echo base >"$TEST_TMP/l0/etc/base"
echo container-a >"$TEST_TMP/la/etc/only-a"
echo container-b >"$TEST_TMP/lb/etc/only-b"
chmod 0755 "$TEST_TMP/l0" "$TEST_TMP/la" "$TEST_TMP/lb"

# The shared directory and the two container directories, user nobody's, each with a marker saying
# which it is (so they can be put back after the race).
S=$TEST_TMP/shared
mkdir -m 0755 "$S"
chown $NOBODY:$NOBODY "$S"
as_nobody mkdir -m 0755 "$S/a" "$S/b" || skip "user nobody cannot write $S (cannot stage the attack)"
as_nobody sh -c 'echo a >"$1/a/which" && echo b >"$1/b/which"' sh "$S"
RA=$S/a/rootfs
RB=$S/b/rootfs

# put_back: S/a and S/b in their places again (the racer stops at any point).
put_back() {
        [ "$(cat "$S/a/which")" = a ] || "$RACER" 0 "$S/a" "$S/b" || fail "could not put S/a and S/b back"
        if [ "$(cat "$S/a/which")" != a ] || [ "$(cat "$S/b/which")" != b ]; then fail "S/a and S/b are mixed up"; fi
}

# reset_pair: both containers gone whatever state a try left them in, then B assembled again.
# Sets B_ID, the id of B's mount.
reset_pair() {
        local m
        for m in $(findmnt -rn -o TARGET | grep "^$S/" | sort -r || true); do
                umount -l "$m" 2>/dev/null || true
        done
        "$OVLBACKEND" -q destroy "$RA" >/dev/null 2>&1 || true
        "$OVLBACKEND" -q destroy "$RB" >/dev/null 2>&1 || true
        rmdir "$RA" "$RB" 2>/dev/null || true
        [ -z "$(findmnt -rn -o TARGET | grep "^$S/" || true)" ] || fail "could not clear the mounts under $S"
        run_ovl 0 assemble --backend="$backend" "${REACHABLE[@]}" --rootfs="$RB" "${layers_b[@]}"
        B_ID=$(mount_id_at "$RB")
        [ -n "$B_ID" ] || fail "$name: B is not mounted at $RB after its assemble"
}

# b_intact: B's mount is the one assembled, at its place, showing B's content.
b_intact() {
        [ "$(mount_id_at "$RB")" = "$B_ID" ] || return 1
        if [ "$backend" = overlay ]; then
                [ "$(cat "$RB/etc/only-b" 2>/dev/null)" = container-b ] || return 1
        else
                [ "$(cat "$RB/etc/base" 2>/dev/null)" = base ] || return 1
        fi
}

BACKENDS=(bind)
if overlay_backend_here; then
        BACKENDS=(overlay bind)
fi

for run in "${BACKENDS[@]/%/ new}" "${BACKENDS[@]/%/ legacy}"; do
        backend=${run% *} mode=${run#* } name="${run% *} (${run#* } API)"
        case " ${MODES[*]} " in *" $mode "*) ;; *) continue ;; esac
        # Every ovlbackend call of the run, assemble and destroy alike, on the kernel it simulates.
        if [ "$mode" = legacy ]; then OVLBACKEND=$TEST_TMP/ovlbackend-old-kernel; else OVLBACKEND=$OVL_NEW_API; fi
        if [ "$backend" = overlay ]; then
                layers_a=("$TEST_TMP/l0" "$TEST_TMP/la")
                layers_b=("$TEST_TMP/l0" "$TEST_TMP/lb")
        else
                layers_a=("$TEST_TMP/l0")
                layers_b=("$TEST_TMP/l0")
        fi
        tries=0 attacked=0 b_hit=0 a_leaked=0 unclear=0 not_finished=0 others=0 failed=0 exchanges=0 first_err=
        start=$SECONDS
        if [ "$mode" = legacy ]; then
                # Without the new mount API a mount follows its directory wherever another user
                # renames it, so ovlbackend refuses to mount below a directory another user may
                # change: that refusal (exit 3, nothing made) is the defence to check here.
                rc=0
                "$OVLBACKEND" assemble --backend="$backend" "${REACHABLE[@]}" --rootfs="$RB" "${layers_b[@]}" \
                        2>"$TEST_TMP/legacy.err" >/dev/null || rc=$?
                if [ "$rc" = 3 ] && grep -q "cannot be made safely" "$TEST_TMP/legacy.err"; then
                        [ ! -e "$RB" ] && [ -z "$(findmnt -rn -o TARGET | grep "^$S/" || true)" ] ||
                                fail "$name: the refused assemble left something behind"
                        echo "$name: refused below a directory another user may change (exit 3), nothing to race"
                        continue
                fi
                [ "$rc" = 0 ] || fail "$name: assemble of B exited $rc: $(cat "$TEST_TMP/legacy.err")"
                "$OVLBACKEND" -q destroy "$RB"
        fi
        reset_pair
        while [ "$tries" -lt "$MAX_TRIES" ] && [ $((SECONDS - start)) -lt "$MAX_SECONDS" ]; do
                tries=$((tries + 1))
                what="$name, try $tries"
                run_ovl 0 assemble --backend="$backend" "${REACHABLE[@]}" --rootfs="$RA" "${layers_a[@]}"
                A_ID=$(mount_id_at "$RA")
                [ -n "$A_ID" ] || fail "$what: A is not mounted at $RA after its assemble"
                before=$(mounts_all)

                start_racer "$S/a" "$S/b"
                STATUS=0
                "$OVLBACKEND" destroy "$RA" >/dev/null 2>"$TEST_TMP/stderr" || STATUS=$?
                ERR=$(cat "$TEST_TMP/stderr")
                stop_racer
                n=$(racer_exchanges)
                exchanges=$((exchanges + n))
                put_back

                bad=0 STATUS2=
                if ! b_intact; then
                        hole "$what: destroy of $RA (exit $STATUS) unmounted or changed B at $RB" \
                                "(mount id now '$(mount_id_at "$RB")', was $B_ID)"
                        b_hit=$((b_hit + 1))
                        bad=1
                fi
                if [ "$STATUS" != 0 ]; then
                        failed=$((failed + 1))
                        first_err=${first_err:-$ERR}
                        if [ "$STATUS" -ge 126 ] || [ "$(printf '%s\n' "$ERR" | grep -c .)" != 1 ] ||
                                [[ "$ERR" != *"$RA"* ]]; then
                                hole "$what: destroy of $RA failed (exit $STATUS) without one line naming it: $ERR"
                                unclear=$((unclear + 1))
                                bad=1
                        fi
                        # The race is over: a second destroy must finish the job.
                        STATUS2=0
                        "$OVLBACKEND" destroy "$RA" >/dev/null 2>"$TEST_TMP/stderr" || STATUS2=$?
                        if [ "$STATUS2" != 0 ]; then
                                hole "$what: destroy of $RA failed during the race ($ERR), and again after it" \
                                        "(exit $STATUS2: $(cat "$TEST_TMP/stderr"))"
                                not_finished=$((not_finished + 1))
                                bad=1
                        fi
                fi
                # After a destroy that reported success (during the race, or the second one), A's
                # mount is gone. (One that never succeeded was reported above.)
                if { [ "$STATUS" = 0 ] || [ "${STATUS2:-1}" = 0 ]; } &&
                        { [ -n "$(mount_id_at "$RA")" ] || grep -q "^$A_ID " <(mounts_all); }; then
                        where=$(mounts_all | grep "^$A_ID " | cut -d' ' -f2- || true)
                        hole "$what: A's mount (id $A_ID) is still there, at $where, after destroy reported success"
                        a_leaked=$((a_leaked + 1))
                        bad=1
                fi
                # Exactly A's mount went; B's too where the hole above was found.
                gone=$(comm -23 <(echo "$before") <(mounts_all) | grep -v "^$A_ID " | grep -v "^$B_ID " || true)
                new=$(comm -13 <(echo "$before") <(mounts_all) || true)
                if [ -n "$gone" ] || [ -n "$new" ]; then
                        hole "$what: other mounts changed: gone: $(tr '\n' ' ' <<<"$gone")," \
                                "new: $(tr '\n' ' ' <<<"$new")"
                        others=$((others + 1))
                        bad=1
                fi
                attacked=$((attacked + bad))
                [ "$bad" = 0 ] || reset_pair
        done
        [ "$exchanges" -gt 0 ] || fail "$name: the racer never exchanged S/a and S/b: the test proved nothing"
        echo "$name: $attacked of $tries destroys raced successfully ($b_hit unmounted B, $a_leaked reported" \
                "success and left A mounted, $not_finished failed and could not be finished after the race," \
                "$unclear failed unclearly, $others changed other mounts); $failed destroys failed during the race;" \
                "$exchanges exchanges by the racer; $((SECONDS - start)) s"
        [ -z "$first_err" ] || echo "  the first refusal during the race: $first_err"
        # Both gone before the next backend.
        run_ovl 0 destroy "$RB"
        [ -z "$(findmnt -rn -o TARGET | grep "^$S/" || true)" ] || fail "$name: mounts left under $S"
done
[ "$HOLES" = 0 ] || fail "$HOLES hole(s), see the HOLE lines above"
echo "PASS: destroy raced by a neighbour exchanging the directories above R never unmounted another container"
