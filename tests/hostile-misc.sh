#!/usr/bin/env bash
# Three small holes of the hardening issue, each as a user or an attacker meets it:
#  1. a layer's entry names (hostile) and rootfs paths reach error messages and `list`: a newline,
#     an escape sequence or a byte that is not UTF-8 in one must neither break the one-line error
#     nor list's one line per rootfs, nor reach the terminal; UTF-8 stays readable, and
#     `list --json` gives back the exact path;
#  2. a relative work dir works with the overlay backend, and means the same directory to every
#     command run from where it was given;
#  3. the test switches (OVLBACKEND_TEST_STOP, OVLBACKEND_TEST_TRY_SYSCALLS,
#     OVLBACKEND_LEGACY_MOUNT_API) are dead in the installed binary and live in the test build.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3 findmnt pgrep timeout
require_overlayfs
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build, which honours the test switches)"
enter_private_mountns "$@"

# check WHAT FUNCTION: runs one case in a subshell; any failure in it is a hole.
check() { if ! ("$2"); then hole "$1"; fi; }
mounts_now() { findmnt -rn -o TARGET | sort; }
BEFORE=$(mounts_now)
ESC=$'\e'

mkdir -p "$TEST_TMP/l0/etc" "$TEST_TMP/l1/etc"
echo base >"$TEST_TMP/l0/etc/base"
echo top >"$TEST_TMP/l1/etc/top"

# The last run's stderr is one line "ovlbackend: ..." with no control character in it (ESC, a
# raw newline, CR) and no byte that is not UTF-8.
assert_clean_error() {
        [ "$(wc -l <"$TEST_TMP/stderr")" = 1 ] || fail "stderr is not one line: $(cat -A "$TEST_TMP/stderr")"
        case $ERR in "ovlbackend: "*) ;; *) fail "stderr does not start with 'ovlbackend: ': $ERR" ;; esac
        if printf '%s' "$ERR" | LC_ALL=C grep -q '[[:cntrl:]]'; then
                fail "a control character reached stderr: $(cat -A "$TEST_TMP/stderr")"
        fi
        python3 -c 'import sys; sys.stdin.buffer.read().decode("utf-8")' <"$TEST_TMP/stderr" ||
                fail "stderr is not UTF-8: $(cat -A "$TEST_TMP/stderr")"
}

# ---- 1. Hostile names in errors -----------------------------------------------------------------
errors_one_line() {
        local L R=$TEST_TMP/R1
        # bind refuses a layer holding a whiteout marker, and names it.
        L=$TEST_TMP/bind-layer
        mkdir -p "$L/etc"
        : >"$L/etc/.wh.evil"$'\n'"$ESC[31mred"
        run_ovl 2 assemble --backend=bind --rootfs="$R" "$L"
        assert_clean_error
        assert_contains "$ERR" 'holds a whiteout marker (etc/.wh.evil\x0a\x1b[31mred)'
        assert_absent "$R"
        # copy refuses a malformed whiteout (".wh.." would hide the directory's parent) and names it
        # with its directory, whose name holds a newline, an ESC, a byte that is not UTF-8, and é.
        L=$TEST_TMP/copy-layer
        mkdir -p "$L/d"$'\n'"$ESC[2J"$'\xff'"é"
        : >"$L/d"$'\n'"$ESC[2J"$'\xff'"é/.wh.."
        run_ovl 1 assemble --backend=copy --rootfs="$R" "$L"
        assert_clean_error
        assert_contains "$ERR" 'd\x0a\x1b[2J\xffé/.wh..: malformed whiteout'
        assert_absent "$R"
        # A rootfs path of the caller's, and a backslash, which is escaped so no name can pass
        # for an escape.
        run_ovl 1 destroy "$TEST_TMP/not"$'\n'"there\\x0a"
        assert_clean_error
        assert_contains "$ERR" "rootfs $TEST_TMP/not\\x0athere\\\\x0a: not assembled by ovlbackend"
}
check "errors naming hostile names are not one clean line" errors_one_line

# ---- 2. A rootfs path with a newline and UTF-8 in list ----------------------------------------
list_escapes() {
        local P=$TEST_TMP/p/é$'\n'x
        mkdir -p "$TEST_TMP/p"
        run_ovl 0 assemble --backend=copy --rootfs="$P" "$TEST_TMP/l0" "$TEST_TMP/l1"
        [ "$(cat "$P/etc/top")" = top ] || fail "the rootfs at a path with a newline is not right"
        run_ovl 0 list
        # A header and one line for the one rootfs.
        [ "$(printf '%s\n' "$OUT" | wc -l)" = 2 ] || fail "list printed more than one line per rootfs: $OUT"
        assert_contains "$OUT" "present"
        assert_contains "$OUT" " $TEST_TMP/p/é\\x0ax"
        run_ovl 0 list --json
        python3 - "$P" "$OUT" <<'PY' || fail "list --json does not give back the path: $OUT"
import json, os, sys
text = os.fsencode(sys.argv[2]).decode("utf-8")
[e] = json.loads(text)["rootfs"]
assert e["rootfs"].encode("utf-8") == os.fsencode(sys.argv[1]), (e["rootfs"], sys.argv[1])
assert "/p/é\\nx" in text, text  # UTF-8 as it is, the newline as \n
PY
        run_ovl 0 destroy "$P"
        assert_absent "$P"
        run_ovl 0 list
        [ "$(printf '%s\n' "$OUT" | wc -l)" = 1 ] || fail "list after destroy: $OUT"
}
check "list of a rootfs path with a newline and UTF-8" list_escapes

# ---- 3. A relative work dir with the overlay backend --------------------------------------------
relative_work_dir() {
        local C=$TEST_TMP/cwd R=$TEST_TMP/R3
        mkdir -p "$C/sub"
        cd "$C"
        run_ovl 0 --work-dir=wd assemble --backend=overlay --rootfs="$R" "$TEST_TMP/l0" "$TEST_TMP/l1"
        findmnt -rn -o FSTYPE "$R" | grep -qx overlay || fail "$R is not an overlay mount"
        [ "$(cat "$R/etc/base" "$R/etc/top" | tr '\n' ' ')" = "base top " ] || fail "the overlay reads wrong"
        ! grep -h '^\(scratch\|cache\|layer\|mount\)=[^/]' "$C"/wd/rootfs/*/record ||
                fail "the record holds relative paths"
        # The same directory, named from elsewhere and through the environment.
        cd "$C/sub"
        run_ovl 0 --work-dir=../wd list
        assert_contains "$OUT" "$R"
        assert_contains "$OUT" "mounted"
        cd "$C"
        OVLBACKEND_WORK_DIR=wd run_ovl 0 destroy "$R"
        assert_absent "$R"
        [ "$(mounts_now)" = "$BEFORE" ] || fail "mounts left after destroy"
        run_ovl 0 list --work-dir=./sub/../wd --json
        python3 -c 'import json, sys; assert json.loads(sys.argv[1])["rootfs"] == []' "$OUT" || fail "records left: $OUT"
        run_ovl 0 --work-dir=wd gc
        cd /
}
check "a relative work dir with the overlay backend" relative_work_dir

# ---- 4. The test switches -----------------------------------------------------------------------
# stops_at BINARY POINT: runs a copy assemble with OVLBACKEND_TEST_STOP=POINT; prints "stopped" when
# it (or its worker) stopped, then kills it and clears what it left; "finished" when it ran through.
state_of() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true; }
stops_at() {
        local bin=$1 point=$2 main p procs state result=finished R=$TEST_TMP/R4
        OVLBACKEND_TEST_STOP=$point "$bin" -q assemble --backend=copy --rootfs="$R" "$TEST_TMP/l0" &
        main=$!
        for _ in $(seq 100); do
                procs="$main $(pgrep -P "$main" || true)"
                for p in $procs; do [ "$(state_of "$p")" != T ] || result=stopped; done
                state=$(state_of "$main")
                # Stopped, or gone or a zombie: it finished.
                [ "$result" = finished ] && [ -n "$state" ] && [ "$state" != Z ] || break
                sleep 0.1
        done
        [ "$result" = finished ] || kill -9 $procs 2>/dev/null || true
        wait "$main" 2>/dev/null || true
        for p in $procs; do
                while [ -n "$(state_of "$p")" ]; do sleep 0.05; done
        done
        "$OVLBACKEND" -q gc >/dev/null 2>&1 || true
        if [ -e "$R" ]; then "$OVLBACKEND" -q destroy "$R" >/dev/null 2>&1 || true; fi
        echo "$result"
}

# fsopen_supported JSON: "True" or "False".
fsopen_supported() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])["fsopen"]["supported"])' "$1"; }

switches_dead_in_installed() {
        [ "$(stops_at "$OVLBACKEND" sandboxed)" = finished ] ||
                fail "the installed binary stopped at OVLBACKEND_TEST_STOP=sandboxed"
        OVLBACKEND_TEST_TRY_SYSCALLS=1 run_ovl 0 assemble --backend=copy --rootfs="$TEST_TMP/R4" "$TEST_TMP/l0"
        case $ERR in *"sandbox: try"*) fail "the installed binary tried denied calls: $ERR" ;; esac
        run_ovl 0 destroy "$TEST_TMP/R4"
        run_ovl 0 probe --json "$TEST_TMP/probe"
        if [ "$(fsopen_supported "$OUT")" = True ]; then
                OVLBACKEND_LEGACY_MOUNT_API=1 run_ovl 0 probe --json "$TEST_TMP/probe"
                [ "$(fsopen_supported "$OUT")" = True ] ||
                        fail "the installed binary obeyed OVLBACKEND_LEGACY_MOUNT_API=1: $OUT"
        else
                echo "(this kernel has no fsopen: OVLBACKEND_LEGACY_MOUNT_API=1 cannot be told from it)"
        fi
}

switches_live_in_test_build() {
        local H=$OVLBACKEND_HOOKED
        [ "$(stops_at "$H" sandboxed)" = stopped ] || fail "the test build did not stop at OVLBACKEND_TEST_STOP=sandboxed"
        OVLBACKEND_TEST_TRY_SYSCALLS=1 OVLBACKEND=$H run_ovl 0 assemble --backend=copy --rootfs="$TEST_TMP/R4" "$TEST_TMP/l0"
        assert_contains "$ERR" "sandbox: try ptrace: Operation not permitted"
        run_ovl 0 destroy "$TEST_TMP/R4"
        OVLBACKEND_LEGACY_MOUNT_API=1 OVLBACKEND=$H run_ovl 0 probe --json "$TEST_TMP/probe"
        [ "$(fsopen_supported "$OUT")" = False ] || fail "the test build ignored OVLBACKEND_LEGACY_MOUNT_API=1: $OUT"
        assert_contains "$OUT" "switched off (OVLBACKEND_LEGACY_MOUNT_API=1)"
}

if [ "${OVLBACKEND_HAS_TEST_HOOKS:-no}" = yes ]; then
        echo "(configured with --enable-test-hooks: the installed binary honours the switches by request)"
else
        check "the installed binary honours a test switch" switches_dead_in_installed
fi
check "the test build does not honour the test switches" switches_live_in_test_build

run_ovl 0 list --json
python3 -c 'import json, sys; assert json.loads(sys.argv[1])["rootfs"] == []' "$OUT" || fail "records left: $OUT"
[ "$(mounts_now)" = "$BEFORE" ] || fail "mounts left behind"
[ "$HOLES" = 0 ] || fail "$HOLES hole(s), see the HOLE lines above"
echo "PASS: hostile names escaped in errors and list (exact in --json), a relative work dir works, test switches only in the test build"
