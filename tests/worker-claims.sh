#!/usr/bin/env bash
# The parent owns the record: a sandboxed worker that claims a path outside its backend's shapes
# (as one subverted through a kernel or parser bug would) is refused, and the path is neither
# recorded nor removed. The lie is told by the test build's hook OVLBACKEND_TEST_CLAIM=KIND:PATH,
# sent from inside the worker before the backend's own work; the same holds with --no-sandbox,
# where the same calls go straight to the parent's code.
# Then the other lies (OVLBACKEND_TEST_LIE: steps the worker takes before its backend's work): a
# name that exists already, a foreign tree identified as its own, a host mount or a wrong mount
# handed over, requests after the hand-over, success claimed without the work; and a broken line
# (OVLBACKEND_TEST_WIRE): several fds in one message, an empty or huge message, answers not read, a
# result without an exit, the line left to a child. None may make the parent record, remove or
# unmount what is not the run's, leak an fd or wait forever.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd findmnt
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build with its claim hook)"
enter_private_mountns "$@"

mounts_now() { findmnt -rn -o TARGET | sort; }
BEFORE=$(mounts_now)
mkdir -p "$TEST_TMP/l0/etc" "$TEST_TMP/l1/etc" "$TEST_TMP/decoy/sub"
echo base >"$TEST_TMP/l0/etc/base"
echo top >"$TEST_TMP/l1/etc/top"
echo precious >"$TEST_TMP/decoy/sub/file"
R=$TEST_TMP/rootfs
W=$OVLBACKEND_WORK_DIR
# A name longer than NAME_MAX, a path longer than PATH_MAX, a name with a terminal's escape codes.
LONG_NAME=$(printf 'n%.0s' $(seq 300))
LONG_PATH=$TEST_TMP$(printf '/d%.0s' $(seq 2100))
ESCAPES=$'decoy\e[31m\e[2J\a\nline' # no ";": it parts the steps of OVLBACKEND_TEST_LIE

backends="copy bind"
overlay_backend_here && backends="$backends overlay"
tried=0
for backend in $backends; do
        layers=("$TEST_TMP/l0" "$TEST_TMP/l1")
        [ "$backend" = bind ] && layers=("$TEST_TMP/l1")
        # A path of the right kind but another's, a path that reaches out of the work dir with
        # "..", R's own parent, and each kind where the backend makes none.
        # Then the copy's scratch shape made unplain (a trailing slash, "//", "/./", a name longer
        # than NAME_MAX: such a record could never be destroyed), and a cache name too long.
        S0=.rootfs.0123456789abcdef.ovlbackend-tmp
        for lie in "scratch:$TEST_TMP/decoy" "scratch:$W/rootfs/../../decoy" "scratch:$TEST_TMP" \
                "mount:$TEST_TMP/decoy" "cache:$TEST_TMP/decoy" "cache:$W/layers/../../decoy" "mount:$R/.." \
                "scratch:$TEST_TMP/$S0/" "scratch:$TEST_TMP//$S0" "scratch:$TEST_TMP/./$S0" \
                "scratch:$TEST_TMP/.$LONG_NAME.ovlbackend-tmp" "cache:$W/layers/$LONG_NAME" \
                "scratch:$TEST_TMP/.other.0123456789abcdef.ovlbackend-tmp" \
                "scratch:$TEST_TMP/.rootfs.0123456789abcdeX.ovlbackend-tmp"; do
                for sandbox in "" --no-sandbox; do
                        got=0
                        OVLBACKEND_TEST_CLAIM=$lie "$OVLBACKEND_HOOKED" -q $sandbox assemble --backend="$backend" \
                                --rootfs="$R" "${layers[@]}" 2>"$TEST_TMP/err" || got=$?
                        err=$(cat "$TEST_TMP/err")
                        tried=$((tried + 1))
                        [ "$got" = 1 ] || fail "$backend $sandbox, worker claims $lie: exit $got, expected 1 ($err)"
                        assert_contains "$err" "worker claimed ${lie#*:} as ${lie%%:*}, which that backend never makes"
                        assert_file_content "$TEST_TMP/decoy/sub/file" precious
                        assert_absent "$R"
                        [ "$(mounts_now)" = "$BEFORE" ] || fail "$backend, $lie: mounts left"
                        assert_workdir_clean
                done
        done
        # The shapes the backend does make are accepted: a claim of the kind it makes anyway.
        case $backend in
        copy) lie= ;;
        *) lie="mount:$R" ;;
        esac
        if [ -n "$lie" ]; then
                OVLBACKEND_TEST_CLAIM=$lie "$OVLBACKEND_HOOKED" -q assemble --backend="$backend" --rootfs="$R" \
                        "${layers[@]}" || fail "$backend: a claim of its own shape ($lie) was refused"
                assert_file_content "$R/etc/top" top
                run_ovl 0 destroy "$R"
        fi
        echo "$backend: lying claims refused, nothing recorded or removed"
done

# lie EXIT STEPS SANDBOX ARGS...: the worker takes STEPS (OVLBACKEND_TEST_LIE) first; ovlbackend
# must end within a minute with EXIT, its reason in one line ($err).
lie() {
        local want=$1 steps=$2 sandbox=$3 got=0
        shift 3
        OVLBACKEND_TEST_LIE=$steps timeout 60 "$OVLBACKEND_HOOKED" -q $sandbox "$@" 2>"$TEST_TMP/err" || got=$?
        err=$(cat "$TEST_TMP/err")
        tried=$((tried + 1))
        [ "$got" = "$want" ] || fail "$* $sandbox, worker lies $steps: exit $got, expected $want ($err)"
        [ "$want" = 0 ] || assert_one_line "$err"
}
# nothing_left: no mount, no record, and R gone or still the caller's empty directory.
nothing_left() {
        [ "$(mounts_now)" = "$BEFORE" ] || fail "$1: mounts left or taken: $(diff <(echo "$BEFORE") <(mounts_now))"
        assert_workdir_clean
        [ ! -e "$R" ] || [ -z "$(ls -A "$R")" ] || fail "$1: $R is not empty"
}
run_ovl 0 gc # the overlay's cache entries, which no rootfs uses any more
L1=$TEST_TMP/l1
S1=.rootfs.1111111111111111.ovlbackend-tmp
mkdir "$TEST_TMP/victim"
mount -t tmpfs victim "$TEST_TMP/victim"
echo precious >"$TEST_TMP/victim/file"
BEFORE=$(mounts_now)

# Claims a neighbour could not tell from a lie.
for sandbox in "" --no-sandbox; do
        # A name longer than PATH_MAX, and escape codes, which reach stderr as \xHH on one line.
        lie 1 "claim:scratch:$LONG_PATH" "$sandbox" assemble --backend=copy --rootfs="$R" "$L1"
        assert_contains "$err" "which that backend never makes; refused, nothing recorded"
        lie 1 "claim:scratch:$TEST_TMP/$ESCAPES" "$sandbox" assemble --backend=copy --rootfs="$R" "$L1"
        assert_contains "$err" 'decoy\x1b[31m\x1b[2J\x07\x0aline as scratch, which that backend never makes'
        # A cache claimed by a backend that keeps none.
        for backend in copy bind; do
                lie 1 "claim:cache:$W/layers/glue-0123456789abcdef" "$sandbox" assemble --backend=$backend \
                        --rootfs="$R" "$L1"
                assert_contains "$err" "claimed $W/layers/glue-0123456789abcdef as cache, which that backend never makes"
        done
        # More claims than any backend makes (each would be saved, the record grow without bound).
        steps=
        for i in $(seq 70); do steps="$steps;claim:scratch:$TEST_TMP/.rootfs.$(printf '%016x' "$i").ovlbackend-tmp"; done
        lie 1 "${steps#;}" "$sandbox" assemble --backend=copy --rootfs="$R" "$L1"
        assert_contains "$err" "claimed more than that backend ever does"
        nothing_left "claims"

        # A scratch name that is taken already (a live tree of anyone's): refused, untouched.
        mkdir -p "$TEST_TMP/$S1/sub"
        echo precious >"$TEST_TMP/$S1/sub/file"
        lie 1 "claim:scratch:$TEST_TMP/$S1" "$sandbox" assemble --backend=copy --rootfs="$R" "$L1"
        assert_contains "$err" "scratch $TEST_TMP/$S1: something stands there already; left alone, nothing recorded"
        assert_file_content "$TEST_TMP/$S1/sub/file" precious
        # A foreign tree moved to a fresh claimed name and identified as the worker's own: its
        # identity is not recorded, so no rollback removes it.
        mv "$TEST_TMP/$S1" "$TEST_TMP/.foreign"
        S2=.rootfs.2222222222222222.ovlbackend-tmp
        lie 1 "claim:scratch:$TEST_TMP/$S2;rename:.foreign:$S2;identify:$S2:$TEST_TMP/$S2" "$sandbox" \
                assemble --backend=copy --rootfs="$R" "$L1"
        assert_contains "$err" "identified $TEST_TMP/$S2, which is not the empty directory it has just created; refused"
        assert_file_content "$TEST_TMP/$S2/sub/file" precious
        rm -rf "${TEST_TMP:?}/$S2"
        nothing_left "identify"
        # Success without the work: R must show what the record says.
        lie 1 "done" "$sandbox" assemble --backend=copy --rootfs="$R" "$L1"
        assert_contains "$err" "the worker reported success, but R shows not the tree the worker identified"
        nothing_left "done"

        # The mount backends' hand-over. R exists (the caller's empty directory), so the lies need
        # not make it.
        mount_backends=bind
        overlay_backend_here >/dev/null && mount_backends="bind overlay"
        for backend in $mount_backends; do
                mkdir "$R"
                # A host mount (reached through R's parent): attaching it would take it from its
                # place, and destroy would unmount it.
                lie 1 "claim:mount:$R;hand-over:victim;done" "$sandbox" assemble --backend=$backend --rootfs="$R" "$L1"
                assert_contains "$err" "handed over a mount attached in the host's mount namespace, not a detached one it made; refused"
                assert_file_content "$TEST_TMP/victim/file" precious
                nothing_left "$backend: host mount"
                # A second hand-over, and a claim after it.
                lie 1 "claim:mount:$R;hand-over-clone:$L1;hand-over-clone:$L1" "$sandbox" assemble \
                        --backend=$backend --rootfs="$R" "$L1"
                assert_contains "$err" "asked again after handing its mount over; refused"
                lie 1 "claim:mount:$R;hand-over-clone:$L1;claim:scratch:$R" "$sandbox" assemble --backend=$backend \
                        --rootfs="$R" "$L1"
                assert_contains "$err" "asked again after handing its mount over; refused"
                nothing_left "$backend: second hand-over"
                # A detached mount, but not the backend's (another layer; or writable where the
                # rootfs is to be read-only): attached, found wrong, detached again.
                lie 1 "claim:mount:$R;hand-over-clone:$TEST_TMP/l0;done" "$sandbox" assemble --backend=$backend \
                        --rootfs="$R" "$L1"
                assert_contains "$err" "the worker reported success, but R shows no mount of ovlbackend's"
                nothing_left "$backend: wrong mount"
                rmdir "$R"
        done
        mkdir "$R"
        lie 1 "claim:mount:$R;hand-over-clone:$L1;done" "$sandbox" assemble --backend=bind --rootfs="$R" "$L1"
        assert_contains "$err" "the worker reported success, but R shows no mount of ovlbackend's with the options asked for"
        nothing_left "bind: writable mount"
        rmdir "$R"
done
# "Mounted at R already" is no answer from a worker in a private mount namespace (the new API).
mkdir "$R"
lie 1 "claim:mount:$R;hand-over:-" "" assemble --backend=bind --rootfs="$R" "$L1"
nothing_left "mounted at R"
rmdir "$R"
echo "lies: taken names, foreign trees, host and wrong mounts, requests after the hand-over, success without work: refused"

# wire NAME: the worker breaks the line (OVLBACKEND_TEST_WIRE); ovlbackend must stop it and fail
# within 20 s (a worker that breaks a rule sleeps a minute), leaving nothing.
wire() {
        local got=0 start=$SECONDS
        OVLBACKEND_TEST_WIRE=$1 timeout 50 "$OVLBACKEND_HOOKED" -q ${2:+"$2"} assemble --backend=copy --rootfs="$R" \
                "$L1" 2>"$TEST_TMP/err" || got=$?
        err=$(cat "$TEST_TMP/err")
        tried=$((tried + 1))
        [ "$got" = 1 ] || fail "worker breaks the line ($1): exit $got, expected 1 ($err)"
        [ $((SECONDS - start)) -lt 20 ] || fail "worker breaks the line ($1): the parent waited $((SECONDS - start)) s"
        assert_one_line "$err"
        assert_absent "$R"
        nothing_left "wire $1"
}
for w in two-fds empty huge flood orphan done-then-hang bad-done fd-done; do
        wire $w
done
# The two fds of one message are both closed by the parent, the second one too (on 64-bit, room
# for one fd in a control message has room for two).
if command -v strace >/dev/null && strace -qq -o /dev/null true 2>/dev/null; then
        OVLBACKEND_TEST_WIRE=two-fds strace -f -qq -e trace=recvmsg,close -o "$TEST_TMP/trace" "$OVLBACKEND_HOOKED" \
                -q assemble --backend=copy --rootfs="$R" "$L1" 2>/dev/null || true
        main=$(head -n1 "$TEST_TMP/trace" | awk '{print $1}')
        fds=$(grep "^$main .*SCM_RIGHTS" "$TEST_TMP/trace" | sed -n 's/.*cmsg_data=\[\([0-9, ]*\)\].*/\1/p' | tr -d ,)
        [ "$(echo "$fds" | wc -w)" = 2 ] || fail "two-fds: the parent did not receive two fds ($fds)"
        for fd in $fds; do
                sed -n "/^$main .*SCM_RIGHTS/,\$p" "$TEST_TMP/trace" | grep -q "^$main  *close($fd)" ||
                        fail "two-fds: the parent never closed fd $fd it received"
        done
        nothing_left "two-fds under strace"
fi
echo "wire: several fds, empty, huge, unread answers, orphaned line, result without exit, bad results: stopped, nothing left"
umount "$TEST_TMP/victim"
echo "PASS: $tried lying claims and requests refused (sandboxed and --no-sandbox)"
