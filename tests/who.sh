#!/usr/bin/env bash
# `who`: which processes and which mount namespaces still hold a rootfs. For each backend, holders
# are started: a new mount namespace holding a copy of the mount (for the copy, one holding a bind
# of the tree, as a runtime makes in a container's namespace), a process whose working directory is
# inside, one holding a file open, one running a program from inside (mapped); `who` and
# `who --json` name each with its kind. Then the overlay's destroy: detached from the host, but
# held, so it keeps the record and the upper dir (a container still running on it keeps its files),
# says who, and `list` says busy; gc keeps it as long as they hold it and finishes once they are
# gone, leaving no record, no scratch and no mount. The copy and bind destroys go ahead as before
# (nothing they remove is used by a mount). Also: who on a path ovlbackend did not assemble (exit
# 2), on an unheld rootfs (nothing), and while holders come and go; an unprivileged user's namespace
# holding a copy is listed but does not hold the rootfs.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3 findmnt unshare
# Mount ids in statx (STATX_MNT_ID) came with 5.8: without them who cannot tell a file's mount.
kernel=$(uname -r)
major=${kernel%%.*} minor=${kernel#*.}
minor=${minor%%[!0-9]*}
[ "$major" -gt 5 ] || { [ "$major" = 5 ] && [ "$minor" -ge 8 ]; } || skip "the kernel ($kernel) has no mount ids in statx (5.8+)"
enter_private_mountns "$@"

mkdir -p "$TEST_TMP/l0/etc" "$TEST_TMP/l0/bin" "$TEST_TMP/l1/etc"
echo root:x:0:0::/root:/bin/sh >"$TEST_TMP/l0/etc/passwd"
echo top >"$TEST_TMP/l1/etc/hostname"
cp "$(command -v sleep)" "$TEST_TMP/l0/bin/sleep2"
R=$TEST_TMP/rootfs
HOLDERS=()

# Every holder is killed on the way out, whatever happens (they would keep the mounts).
kill_holders() {
        local p
        for p in "${HOLDERS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
        for p in "${HOLDERS[@]}"; do wait "$p" 2>/dev/null || true; done
        HOLDERS=()
}
trap 'kill_holders; cleanup_test_tmp' EXIT

# wait_for DESCRIPTION CMD...: polls CMD (up to 5 s) until it succeeds.
wait_for() {
        local what=$1 i
        shift
        for i in $(seq 1 250); do
                "$@" 2>/dev/null && return 0
                sleep 0.02
        done
        fail "gave up waiting for $what"
}
in_other_ns() { [ "$(readlink "/proc/$1/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]; }
cwd_is() { [ "$(readlink "/proc/$1/cwd")" = "$2" ]; }
has_fd3() { [ "$(readlink "/proc/$1/fd/3")" = "$2" ]; }
runs() { [ "$(readlink "/proc/$1/exe")" = "$2" ]; }
has_mount() { grep -q " $2 " "/proc/$1/mountinfo"; }

# start_holders BACKEND: sets NS, CWD, FD and MAP to the pids of the four holders.
start_holders() {
        if [ "$1" = copy ]; then
                # A plain tree is no mount: the namespace holds a bind of it, as a runtime's would.
                mkdir -p "$TEST_TMP/ctr"
                unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && exec sleep 1000' sh "$R" "$TEST_TMP/ctr" &
                NS=$!
                HOLDERS+=("$NS")
                wait_for "the namespace's bind" has_mount "$NS" "$TEST_TMP/ctr"
        else
                unshare -m --propagation private sleep 1000 &
                NS=$!
                HOLDERS+=("$NS")
                wait_for "a new mount namespace" in_other_ns "$NS"
        fi
        (cd "$R/etc" && exec sleep 1000) &
        CWD=$!
        sleep 1000 3<"$R/etc/passwd" &
        FD=$!
        "$R/bin/sleep2" 1000 &
        MAP=$!
        HOLDERS+=("$CWD" "$FD" "$MAP")
        wait_for "the working directory" cwd_is "$CWD" "$R/etc"
        wait_for "the open file" has_fd3 "$FD" "$R/etc/passwd"
        wait_for "the program" runs "$MAP" "$R/bin/sleep2"
}

# check_who BACKEND: who and who --json name the four holders.
check_who() {
        local ns_point=$R
        [ "$1" != copy ] || ns_point=$TEST_TMP/ctr
        run_ovl 0 who "$R"
        assert_contains "$OUT" "$CWD sleep cwd $R/etc"$'\n'
        assert_contains "$OUT" "$FD sleep fd 3 $R/etc/passwd"$'\n'
        assert_contains "$OUT" "$MAP sleep2 map $R/bin/sleep2"$'\n'
        assert_contains "$OUT" "$NS sleep mount-namespace $ns_point mnt:["
        run_ovl 0 who --json "$R"
        python3 - "$OUT" "$R" "$1" "$NS" "$CWD" "$FD" "$MAP" "$ns_point" <<'PY' || fail "$1: who --json is wrong: $OUT"
import json, sys
o = json.loads(sys.argv[1])
r, backend, ns, cwd, fd, mp, point = sys.argv[2], sys.argv[3], *map(int, sys.argv[4:8]), sys.argv[8]
assert o["rootfs"] == r and o["backend"] == backend and o["held"] is True, o
kinds = {(h["pid"], h["kind"]) for h in o["holders"]}
assert {(cwd, "cwd"), (fd, "fd"), (mp, "map")} <= kinds, kinds
[f] = [h for h in o["holders"] if h["pid"] == fd and h["kind"] == "fd"]
assert f["fd"] == 3 and f["path"] == r + "/etc/passwd" and f["comm"] == "sleep" and f["scratch"] is False, f
assert all(isinstance(h["mnt_ns"], int) for h in o["holders"]), o
[n] = [n for n in o["namespaces"] if ns in n["pids"]]
assert n["mount_point"] == point and n["ovlbackend_workers"] is False and n["mnt_ns"] > 0, n
PY
}

# Nothing held, and paths ovlbackend did not assemble.
mkdir "$TEST_TMP/foreign"
run_ovl 2 who "$TEST_TMP/foreign"
assert_contains "$ERR" "rootfs $TEST_TMP/foreign: not assembled by ovlbackend"
run_ovl 2 who "$TEST_TMP/missing/deeper"
assert_contains "$ERR" "not assembled by ovlbackend"
run_ovl 2 who
assert_contains "$ERR" "missing operand"

BACKENDS=(copy bind)
if overlay_backend_here; then BACKENDS+=(overlay); fi
for backend in "${BACKENDS[@]}"; do
        start=$SECONDS
        layers=("$TEST_TMP/l0" "$TEST_TMP/l1")
        [ "$backend" != bind ] || layers=("$TEST_TMP/l0")
        run_ovl 0 assemble --backend="$backend" --rootfs="$R" "${layers[@]}"
        run_ovl 0 who "$R"
        [ -z "$OUT" ] || fail "$backend: who names holders of a rootfs nobody uses: $OUT"
        run_ovl 0 -v who "$R"
        [ "$OUT" = "nothing holds $R" ] || fail "$backend: who -v says: $OUT"
        run_ovl 0 who --json "$R"
        python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["held"] is False and o["holders"] == [] and o["namespaces"] == [], o' "$OUT" ||
                fail "$backend: who --json of an unheld rootfs: $OUT"

        start_holders "$backend"
        check_who "$backend"
        if [ "$backend" != overlay ]; then
                # Nothing the copy or bind destroy removes is used by a mount: it goes ahead.
                run_ovl 0 destroy "$R"
                kill_holders
                run_ovl 2 who "$R"
                assert_workdir_clean
                echo "$backend: who names all four holders; destroy goes ahead ($((SECONDS - start)) s)"
                continue
        fi

        # The overlay: written to through the mount, then destroyed while held.
        echo kept >"$R/etc/written"
        run_ovl 1 destroy "$R"
        assert_one_line "$ERR"
        assert_contains "$ERR" "rootfs $R: detached from the host, but still held by PID $CWD (sleep)"
        assert_contains "$ERR" "Device or resource busy"
        assert_contains "$ERR" "ovlbackend gc"
        assert_contains "$ERR" "(see: ovlbackend who $R)"
        [ -z "$(findmnt -rn -o TARGET | grep "^$R" || true)" ] || fail "the overlay is still mounted on the host"
        assert_file_content "/proc/$CWD/cwd/written" kept
        upper=$(grep -h '^scratch=.*/upper$' "$OVLBACKEND_WORK_DIR"/rootfs/*/record | cut -d= -f2-)
        [ -n "$upper" ] || fail "the record of the held rootfs is gone"
        assert_file_content "$upper/etc/written" kept
        grep -q '^state=destroying$' "$OVLBACKEND_WORK_DIR"/rootfs/*/record || fail "the record is not marked destroying"
        run_ovl 0 list
        assert_contains "$OUT" "overlay  2      busy"
        run_ovl 0 list --json
        python3 -c 'import json,sys; [e]=json.loads(sys.argv[1])["rootfs"]; assert e["state"] == "busy", e' "$OUT" ||
                fail "list --json does not say busy: $OUT"
        # Still named after the detach (the paths are the detached mount's own now).
        run_ovl 0 who --json "$R"
        python3 - "$OUT" "$NS" "$CWD" "$FD" "$MAP" <<'PY' || fail "who after the detach: $OUT"
import json, sys
o = json.loads(sys.argv[1])
ns, cwd, fd, mp = map(int, sys.argv[2:6])
assert o["held"] is True, o
assert {(cwd, "cwd"), (fd, "fd"), (mp, "map")} <= {(h["pid"], h["kind"]) for h in o["holders"]}, o
assert [n for n in o["namespaces"] if ns in n["pids"]], o
PY
        # gc keeps it while they hold it, and says why.
        run_ovl 0 gc
        assert_contains "$OUT" "kept record"
        assert_contains "$OUT" "still held by"
        [ -e "$upper/etc/written" ] || fail "gc removed the upper dir of a held rootfs"
        # The same destroy again: still held, still kept.
        run_ovl 1 destroy "$R"
        assert_contains "$ERR" "still held by"

        kill_holders
        run_ovl 0 list
        assert_contains "$OUT" "overlay  2      stale"
        run_ovl 0 gc
        assert_contains "$OUT" "removed record"
        run_ovl 0 list
        [ "$(echo "$OUT" | wc -l)" = 1 ] || fail "list after gc: $OUT"
        assert_absent "$upper"
        assert_absent "$R"
        [ -z "$(findmnt -rn -o TARGET | grep "^$TEST_TMP" || true)" ] || fail "mounts left: $(findmnt -rn -o TARGET | grep "^$TEST_TMP")"
        run_ovl 2 who "$R"
        assert_workdir_clean

        # A record written before `dev` was kept: learnt from the mount at R before it is detached.
        run_ovl 0 assemble --backend=overlay --rootfs="$R" "${layers[@]}"
        sed -i '/^dev=/d; /^mount_id_reusable=/d' "$OVLBACKEND_WORK_DIR"/rootfs/*/record
        start_holders overlay
        run_ovl 0 who "$R"
        assert_contains "$OUT" "$NS sleep mount-namespace $R mnt:["
        run_ovl 1 destroy "$R"
        assert_contains "$ERR" "still held by PID $CWD (sleep)"
        grep -q '^dev=' "$OVLBACKEND_WORK_DIR"/rootfs/*/record || fail "destroy did not keep what tells the holders"
        run_ovl 0 who "$R"
        assert_contains "$OUT" "$NS sleep mount-namespace $R mnt:["
        assert_contains "$OUT" "$FD sleep fd 3 "
        kill_holders
        run_ovl 0 gc
        assert_contains "$OUT" "removed record"
        assert_workdir_clean
        # Any user can copy the host's mounts, ours too, into a user and mount namespace of its own
        # (unshare -Urm) without reaching R: listed, never counted, or anyone could keep any rootfs.
        run_ovl 0 assemble --backend=overlay --rootfs="$R" "${layers[@]}"
        setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urm sleep 1000 &
        HOLDERS+=("$!")
        wait_for "an unprivileged user's namespace" in_other_ns "$!"
        run_ovl 0 who --json "$R"
        python3 - "$OUT" "$!" <<'PY' || fail "who with an unprivileged user's namespace: $OUT"
import json, sys
o = json.loads(sys.argv[1])
[n] = [n for n in o["namespaces"] if int(sys.argv[2]) in n["pids"]]
assert n["unprivileged_userns"] is True and o["held"] is False, o
PY
        run_ovl 0 destroy "$R"
        kill_holders
        run_ovl 0 gc # the cached layers no rootfs uses now
        assert_workdir_clean
        echo "overlay: who names all four holders; destroy keeps it while held, gc finishes; old records too" \
                "($((SECONDS - start)) s)"
done

# A busy copy destroy points to who.
run_ovl 0 assemble --backend=copy --rootfs="$R" "$TEST_TMP/l0" "$TEST_TMP/l1"
mount -t tmpfs tmpfs "$R/etc"
run_ovl 1 destroy "$R"
assert_contains "$ERR" "something is mounted on or below it"
assert_contains "$ERR" "(see: ovlbackend who $R)"
umount "$R/etc"

# Holders that come and go while who reads /proc: each run still answers, and only with what was
# there. Short-lived processes in and out of R, and namespaces, for 4 s or 40 runs.
start=$SECONDS
(while [ $((SECONDS - start)) -lt 6 ]; do
        (cd "$R/etc" && exec sleep 0.0$((RANDOM % 10))) &
        sleep 0.01 3<"$R/etc/passwd" &
        unshare -m --propagation private true &
        sleep 0.02
        wait
done) &
CHURN=$!
HOLDERS+=("$CHURN")
runs=0
while [ "$runs" -lt 40 ] && [ $((SECONDS - start)) -lt 4 ]; do
        run_ovl 0 who "$R"
        while read -r pid comm kind rest; do
                [ -n "$pid" ] || continue
                case $kind in cwd | fd) ;; *) fail "who named an unexpected holder: $pid $comm $kind $rest" ;; esac
        done <<<"$OUT"
        run_ovl 0 who --json "$R"
        printf '%s\n' "$OUT" >>"$TEST_TMP/churn.json"
        runs=$((runs + 1))
done
kill_holders
python3 - "$TEST_TMP/churn.json" "$R" <<'PY' || fail "who --json under churn: $(cat "$TEST_TMP/churn.json")"
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert o["rootfs"] == sys.argv[2], o
    assert all(h["kind"] in ("cwd", "fd") for h in o["holders"]), o
PY
run_ovl 0 destroy "$R"
assert_workdir_clean
echo "who under churn: $runs runs, every one answered"
echo "PASS: who ($SECONDS s)"
