#!/usr/bin/env bash
# Hostile neighbours, item 1: a failed assemble deletes only what it made.
#  - copy: a live rootfs (or anyone's directory) standing at the name of R's scratch neither blocks
#    the assemble of R nor is touched by it, by its rollback or by destroy;
#  - copy: a directory user nobody planted under every scratch name it can guess, in a sticky
#    directory all may write, is never removed;
#  - bind, overlay: an empty directory of user nobody that appears at R after ovlbackend found R
#    missing is not removed by the rollback of the assemble that then fails. The window is made wide
#    and certain by delaying the worker's mkdirat of R (strace -P: only calls on R's parent).
# Decoys only: every directory at stake is made by this test.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setpriv python3 findmnt
enter_private_mountns "$@"

snapshot() { manifest "$1" --dir-mtime; }

# The rootfs parents user nobody must reach live under a 0755 chain of their own (TEST_TMP is
# 0700); removed, mounts first, however the test ends.
make_open_dir 0755

# The fixed ovlbackend refuses a rootfs every user can reach unless told to accept it; the attacks
# below need nobody to reach R's parent. Asked only where the binary knows the option.
HELP=$("$OVLBACKEND" assemble --help)
REACHABLE=()
case $HELP in *--allow-reachable-rootfs*) REACHABLE=(--allow-reachable-rootfs) ;; esac

# Each attack is one function; a hole it finds is reported and ends that attack, not the test, so
# one run shows every hole; the test fails at the end if there was any.

# A part that cannot be staged here is a note, or a failure where every part must run (CI).
not_staged() {
        [ "${OVLBACKEND_TESTS_MUST_RUN:-0}" != 1 ] || fail "would not stage: $*"
        echo "NOTE: not staged: $*"
}

# run_status ARGS...: runs ovlbackend, exit code in $STATUS, stderr in $ERR.
run_status() {
        STATUS=0
        "$OVLBACKEND" "$@" >/dev/null 2>"$TEST_TMP/stderr" || STATUS=$?
        ERR=$(cat "$TEST_TMP/stderr")
}

# 1. A live rootfs at R's old scratch name: R assembles beside it, and it stays as it is.
attack_live_tree_at_scratch_name() {
        local P=$TEST_TMP/p
        mkdir "$P"
        run_ovl 0 assemble --backend=copy --rootfs="$P/.web.ovlbackend-tmp" "$L"
        echo "live data" >"$P/.web.ovlbackend-tmp/etc/state"
        snapshot "$P/.web.ovlbackend-tmp" >"$TEST_TMP/live.before"
        run_status assemble --backend=copy --rootfs="$P/web" "$L"
        if [ ! -d "$P/.web.ovlbackend-tmp" ]; then
                hole "copy: assemble of $P/web (exit $STATUS: $ERR) removed the live rootfs $P/.web.ovlbackend-tmp"
                return 0
        fi
        if ! snapshot "$P/.web.ovlbackend-tmp" | diff "$TEST_TMP/live.before" - >&2; then
                hole "copy: assemble of $P/web changed the live rootfs $P/.web.ovlbackend-tmp"
                return 0
        fi
        if [ "$STATUS" != 0 ]; then
                hole "copy: a tree at the old scratch name blocks assemble of $P/web (exit $STATUS): $ERR"
                run_ovl 0 destroy "$P/.web.ovlbackend-tmp"
                return 0
        fi
        assert_file_content "$P/web/etc/hostname" web
        run_ovl 0 destroy "$P/web"
        assert_absent "$P/web"
        snapshot "$P/.web.ovlbackend-tmp" | diff "$TEST_TMP/live.before" - >&2 ||
                hole "copy: destroy of $P/web changed the live rootfs $P/.web.ovlbackend-tmp"
        run_ovl 0 destroy "$P/.web.ovlbackend-tmp"
}

# 2. User nobody squats every scratch name of R it can guess in a sticky directory all may write
#    (as /tmp is): none of them is entered or removed, by the assemble, its rollback or destroy.
attack_squatted_scratch_names() {
        local S=$OPEN/sticky s gone=
        local squats=(".web.ovlbackend-tmp" ".web.0000000000000000.ovlbackend-tmp"
                      ".web.ffffffffffffffff.ovlbackend-tmp" ".web.X.ovlbackend-tmp")
        # Each squat as it is (not S itself, whose mtime R's coming and going changes).
        squats_state() { for s in "${squats[@]}"; do echo "$s:"; snapshot "$S/$s"; done; }
        mkdir -m 1777 "$S"
        for s in "${squats[@]}"; do
                as_nobody mkdir -m 0755 "$S/$s" "$S/$s/sub"
                # shellcheck disable=SC2016 # $1 is the inner shell's
                as_nobody sh -c 'echo "nobody was here" >"$1/sub/file"' sh "$S/$s"
        done
        squats_state >"$TEST_TMP/squat.before"
        run_status assemble --backend=copy "${REACHABLE[@]}" --rootfs="$S/web" "$L"
        for s in "${squats[@]}"; do
                [ -d "$S/$s" ] || gone="$gone $s"
        done
        if [ -n "$gone" ]; then
                hole "copy: assemble of $S/web (exit $STATUS: $ERR) removed nobody's directories:$gone"
                return 0
        fi
        if [ "$STATUS" != 0 ]; then
                hole "copy: nobody's squatted scratch names block assemble of $S/web (exit $STATUS): $ERR"
                return 0
        fi
        run_ovl 0 destroy "$S/web"
        squats_state | diff "$TEST_TMP/squat.before" - >&2 ||
                hole "copy: nobody's directories in $S changed (assemble and destroy of $S/web)"
}

# 3. bind, overlay: R is missing when ovlbackend looks, then nobody makes it (an empty directory of
#    its own, in a directory nobody owns) before ovlbackend's mkdir. The assemble fails; its rollback
#    must leave that directory alone: it rmdirs only what it made.
attack_directory_appears_at_rootfs() {
        local backend=$1 M=$OPEN/mnt-$1 tracer main worker='' mounts_before
        mkdir -m 0755 "$M"
        chown $NOBODY:$NOBODY "$M"
        mounts_before=$(findmnt -rn -o TARGET | sort)
        # The worker's mkdirat of R (the only mkdirat on M) waits 3 s; the worker exists only after
        # the main process found R missing, so a directory made as soon as the worker is seen
        # appears between that check and the mkdir, every time.
        strace -f -qq -o /dev/null -e trace=mkdirat -e inject=mkdirat:delay_enter=3000000 -P "$M" \
                "$OVLBACKEND" assemble --backend="$backend" "${REACHABLE[@]}" --rootfs="$M/web" "$L" \
                >/dev/null 2>"$TEST_TMP/stderr" &
        tracer=$!
        for _ in $(seq 5000); do
                main=$(cat "/proc/$tracer/task/$tracer/children" 2>/dev/null || true)
                main=${main%% *}
                if [ -n "$main" ]; then
                        worker=$(cat "/proc/$main/task/$main/children" 2>/dev/null || true)
                        worker=${worker%% *}
                fi
                [ -z "$worker" ] || break
                kill -0 "$tracer" 2>/dev/null || break
                sleep 0.001
        done
        if [ -z "$worker" ]; then
                wait "$tracer" || true
                fail "$backend: never saw the assemble's worker: $(cat "$TEST_TMP/stderr")"
        fi
        if ! as_nobody mkdir -m 0755 "$M/web" 2>/dev/null; then
                # R was made before the worker started: this staging no longer fits the code.
                wait "$tracer" || true
                [ ! -d "$M/web" ] || [ "$(findmnt -rn -o TARGET "$M/web")" = "" ] || run_ovl 0 destroy "$M/web"
                not_staged "$backend: R existed before the worker was seen"
                return 0
        fi
        STATUS=0
        wait "$tracer" || STATUS=$?
        ERR=$(cat "$TEST_TMP/stderr")
        if [ ! -d "$M/web" ]; then
                hole "$backend: the failed assemble (exit $STATUS: $ERR) removed nobody's directory $M/web"
        elif [ "$(stat -c %u "$M/web")" != $NOBODY ]; then
                hole "$backend: $M/web is no longer nobody's (exit $STATUS: $ERR)"
        elif [ "$STATUS" = 0 ]; then
                hole "$backend: assemble succeeded, mounting on nobody's directory $M/web"
                run_ovl 0 destroy "$M/web"
        else
                echo "$backend: the assemble failed (exit $STATUS: $ERR) and left nobody's $M/web alone"
        fi
        [ "$(findmnt -rn -o TARGET | sort)" = "$mounts_before" ] || fail "$backend: a mount was left"
}

L=$TEST_TMP/layer
mkdir -p "$L/etc" "$L/bin"
echo web >"$L/etc/hostname"
echo '#!/bin/sh' >"$L/bin/start"
chmod 0755 "$L/bin/start"

attack_live_tree_at_scratch_name
attack_squatted_scratch_names
if ! command -v strace >/dev/null || ! strace -qq -o /dev/null true 2>/dev/null; then
        not_staged "bind and overlay, a directory appearing at R (needs a working strace)"
else
        attack_directory_appears_at_rootfs bind
        grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
        if grep -qw overlay /proc/filesystems; then
                # One assemble first, so the probe's cache exists before the timed run.
                run_ovl 0 assemble --backend=overlay --rootfs="$TEST_TMP/warm" "$L"
                run_ovl 0 destroy "$TEST_TMP/warm"
                attack_directory_appears_at_rootfs overlay
        else
                not_staged "overlay, a directory appearing at R (the kernel has no overlayfs)"
        fi
fi
[ "$HOLES" = 0 ] || fail "$HOLES hole(s), see the HOLE lines above"
run_ovl 0 gc # the overlay cache entries no rootfs uses any more
assert_workdir_clean
echo "PASS: a failed assemble removes only what it made (copy scratch names, mount targets)"
