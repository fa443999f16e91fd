# Shared by the integration tests: strict mode, skipping, a private mount namespace, a scratch
# directory that is always removed, and assertions that say what went wrong.
set -euo pipefail

: "${OVLBACKEND:?set OVLBACKEND to the ovlbackend binary}"
OVL_TESTS_SRCDIR=${OVL_TESTS_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
MANIFEST="$OVL_TESTS_SRCDIR/lib/manifest.py"

# A skip is exit 77 for Automake; with OVLBACKEND_TESTS_MUST_RUN=1 (CI) it is a failure instead.
skip() {
        if [ "${OVLBACKEND_TESTS_MUST_RUN:-0}" = 1 ]; then
                echo "FAIL: would skip, but OVLBACKEND_TESTS_MUST_RUN=1: $*" >&2
                exit 1
        fi
        echo "SKIP: $*"
        exit 77
}

require_root() {
        [ "$(id -u)" = 0 ] || skip "needs root"
}

require_cmd() {
        for c in "$@"; do
                command -v "$c" >/dev/null 2>&1 || skip "needs $c"
        done
}

# Re-runs the calling test inside its own private mount namespace, so no mount it makes can
# leak onto the host, whatever happens to the test.
# Skips the test when the kernel has no overlayfs, after asking it to load the module.
has_overlayfs() {
        grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
        grep -qw overlay /proc/filesystems
}
require_overlayfs() {
        has_overlayfs || skip "the kernel has no overlayfs"
}

# For tests that cover every backend: whether overlay can be tried here. Without overlayfs it says
# so and returns 1, or fails with OVLBACKEND_TESTS_MUST_RUN=1 (CI), as a skip would.
overlay_backend_here() {
        has_overlayfs && return 0
        [ "${OVLBACKEND_TESTS_MUST_RUN:-0}" != 1 ] || fail "the kernel has no overlayfs, and OVLBACKEND_TESTS_MUST_RUN=1"
        echo "NOTE: the kernel has no overlayfs: overlay not tried"
        return 1
}

enter_private_mountns() {
        if [ -z "${OVL_TEST_IN_MOUNTNS:-}" ]; then
                command -v unshare >/dev/null || skip "needs unshare"
                export OVL_TEST_IN_MOUNTNS=1
                # The re-executed test makes its own scratch; exec skips the EXIT trap.
                rm -rf "$TEST_TMP"
                exec unshare --mount --propagation private bash "$0" "$@"
        fi
}

# Says what failed and at which line of the test (the first caller outside this file).
fail() {
        local i=1
        while [ "${BASH_SOURCE[$i]:-}" = "${BASH_SOURCE[0]}" ]; do i=$((i + 1)); done
        echo "FAIL: $* (at $(basename "${BASH_SOURCE[$i]:-?}"):${BASH_LINENO[$((i - 1))]})" >&2
        exit 1
}

TEST_TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/ovlbackend-test.XXXXXX")
OPEN=
cleanup_test_tmp() {
        # Unmount anything a failed test left, deepest first, then remove the scratch (and the open
        # dir). Nothing here may fail: under set -e a failing trap would replace the test's own
        # exit status.
        local m d
        for d in "$TEST_TMP" ${OPEN:+"$OPEN"}; do
                if command -v findmnt >/dev/null; then
                        for m in $(findmnt -rn -o TARGET | grep "^$d" | sort -r || true); do
                                umount -l "$m" 2>/dev/null || true
                        done
                fi
                rm -rf "$d" || true
        done
}

# make_open_dir MODE: sets OPEN to a new directory of that mode that every user can reach (TEST_TMP
# is 0700, which would already shut others out), for attacks that need another user to get to a
# rootfs or work dir; cleanup_test_tmp removes it, mounts first.
make_open_dir() {
        OPEN=$(mktemp -d "/var/tmp/ovlbackend-open.XXXXXX")
        chmod "$1" "$OPEN"
}
trap cleanup_test_tmp EXIT
export OVLBACKEND_WORK_DIR="$TEST_TMP/work"

# run_ovl EXPECTED_EXIT ARGS...: runs ovlbackend, checks its exit code, keeps stdout in $OUT and
# stderr in $ERR.
run_ovl() {
        local want=$1 got=0
        shift
        OUT=$("$OVLBACKEND" "$@" 2>"$TEST_TMP/stderr") || got=$?
        ERR=$(cat "$TEST_TMP/stderr")
        if [ "$got" != "$want" ]; then
                fail "ovlbackend $* exited $got, expected $want; stderr: $ERR"
        fi
}

# The attacker tests report each hole they find and go on, so one run shows them all; they fail at
# the end when HOLES is not 0. NOBODY is the unprivileged user they act as.
NOBODY=65534
# as_nobody CMD...: runs CMD as nobody. Through env: setpriv execs its command with root's
# capabilities still effective (they go only at that execve), so the kernel would resolve the
# command's own path as root.
as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- env -- "$@"; }
HOLES=0
hole() {
        echo "HOLE: $*" >&2
        HOLES=$((HOLES + 1))
}

assert_contains() {
        case "$1" in
        *"$2"*) ;;
        *) fail "expected to find '$2' in: $1" ;;
        esac
}

assert_one_line() {
        [ "$(printf '%s\n' "$1" | grep -c .)" = 1 ] || fail "expected one line, got: $1"
}

assert_absent() {
        [ ! -e "$1" ] && [ ! -L "$1" ] || fail "$1 exists, expected it absent"
}

assert_file_content() {
        [ -f "$1" ] && [ ! -L "$1" ] || fail "$1 is not a regular file"
        [ "$(cat "$1")" = "$2" ] || fail "$1 holds '$(cat "$1")', expected '$2'"
}

manifest() {
        python3 "$MANIFEST" "$@"
}

# Nothing of ovlbackend's may remain under the work dir but empty bookkeeping directories and
# this boot's probe cache (probe/overlay-<boot id>).
assert_workdir_clean() {
        local left
        left=$(find "$OVLBACKEND_WORK_DIR" -mindepth 2 -not -path "$OVLBACKEND_WORK_DIR/probe/overlay-$(cat /proc/sys/kernel/random/boot_id)*" 2>/dev/null || true)
        [ -z "$left" ] || fail "work dir not clean: $left"
}
