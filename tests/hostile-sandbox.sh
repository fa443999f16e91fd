#!/usr/bin/env bash
# The smaller holes of the hostile-neighbours issue, each as an attacker (or a hostile store) would
# use it:
#  - a worker must not inherit the fds ovlbackend's caller left open (a decoy file on fd 7);
#  - destroy's worker keeps only the capabilities removal needs (copy: no CHOWN, MKNOD, SETFCAP,
#    SYS_ADMIN);
#  - a layer carrying overlayfs' own redirect and metacopy xattrs must not make the overlay show
#    another layer's files (redirect_dir=nofollow), and the copy keeps none of them;
#  - a regular file swapped for a FIFO or a device while the copy runs neither hangs the worker nor
#    is read as a device: the assemble fails naming it, and leaves nothing.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd capsh python3 setfattr findmnt timeout
require_overlayfs
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build with its stop points)"
enter_private_mountns "$@"

status_field() { grep -m1 -P "sandbox: worker \d+ $2:\t" <<<"$1" | sed 's/.*:\t//'; }
decode() { capsh --decode="$1" | sed "s/.*=//" | tr , "\n" | sort | paste -sd,; }
mounts_now() { findmnt -rn -o TARGET | sort; }
BEFORE=$(mounts_now)

mkdir -p "$TEST_TMP/l0/etc" "$TEST_TMP/l1/etc"
echo base >"$TEST_TMP/l0/etc/base"
echo top >"$TEST_TMP/l1/etc/top"
R=$TEST_TMP/rootfs

# 1. destroy keeps only what removal (and, for mounts, unmounting) needs.
for backend in copy bind overlay; do
        case $backend in
        copy) want=cap_dac_override,cap_dac_read_search,cap_fowner; layers=("$TEST_TMP/l0" "$TEST_TMP/l1") ;;
        bind) want=cap_dac_override,cap_dac_read_search,cap_sys_admin; layers=("$TEST_TMP/l0") ;;
        overlay) want=cap_dac_override,cap_dac_read_search,cap_fowner,cap_sys_admin; layers=("$TEST_TMP/l0" "$TEST_TMP/l1") ;;
        esac
        run_ovl 0 assemble --backend="$backend" --rootfs="$R" "${layers[@]}"
        run_ovl 0 -v -v destroy "$R"
        for set in CapEff CapPrm CapBnd; do
                got=$(decode "$(status_field "$ERR" "$set")")
                [ "$got" = "$want" ] || hole "$backend destroy worker $set: $got, expected $want"
        done
        assert_absent "$R"
done

# 2. The caller's fds stay with the caller: the worker, stopped once sandboxed, holds none of them.
echo "decoy secret" >"$TEST_TMP/decoy"
OVLBACKEND_TEST_STOP=sandboxed "$OVLBACKEND_HOOKED" assemble --backend=copy --rootfs="$R" \
        "$TEST_TMP/l0" "$TEST_TMP/l1" 7<"$TEST_TMP/decoy" 8>>"$TEST_TMP/decoy" &
main=$!
worker=
for _ in $(seq 100); do
        worker=$(pgrep -P "$main" || true)
        [ -n "$worker" ] && [ "$(awk '{print $3}' "/proc/$worker/stat" 2>/dev/null)" = T ] && break
        sleep 0.1
done
[ -n "$worker" ] || fail "no stopped worker under $main"
fds=$(for f in /proc/"$worker"/fd/*; do readlink "$f"; done)
kill -CONT "$worker"
wait "$main" || fail "assemble with a stopped and resumed worker failed"
case $fds in *"$TEST_TMP/decoy"*) hole "the worker inherited the caller's fds: $(echo $fds)" ;; esac
[ "$(printf '%s\n' "$fds" | head -2 | sort -u)" = /dev/null ] || hole "the worker's stdin/stdout are not /dev/null: $(echo $fds)"
run_ovl 0 destroy "$R"

# 3. Hostile overlayfs xattrs in a layer: d redirects to /secret, f is a metacopy of /secret/data.
H=$TEST_TMP/hostile
mkdir -p "$H/l0/secret" "$H/l1/d"
echo s1 >"$H/l0/secret/s1"
echo payload >"$H/l0/secret/data"
setfattr -n trusted.overlay.redirect -v /secret "$H/l1/d"
: >"$H/l1/f"
setfattr -n trusted.overlay.metacopy -v "" "$H/l1/f"
setfattr -n trusted.overlay.redirect -v /secret/data "$H/l1/f"
run_ovl 0 assemble --backend=overlay --read-only --rootfs="$R" "$H/l0" "$H/l1"
leak=$( (ls -A "$R/d"; cat "$R/f") 2>/dev/null || true)
case $leak in *s1* | *data* | *payload*) hole "the overlay followed a layer's own redirect/metacopy: $(echo $leak)" ;; esac
run_ovl 0 destroy "$R"
run_ovl 0 assemble --backend=copy --rootfs="$R" "$H/l0" "$H/l1"
[ -d "$R/d" ] && [ -z "$(ls -A "$R/d")" ] && [ -f "$R/f" ] && [ ! -s "$R/f" ] || fail "the copy did not keep d and f as the layer has them"
[ -z "$(getfattr --absolute-names -d -m '^trusted\.overlay\.' "$R/d" "$R/f" 2>/dev/null)" ] ||
        fail "the copy kept overlayfs' private xattrs"
run_ovl 0 destroy "$R"

# 4. A regular file swapped for a FIFO, then for a device, between the walk's stat and the open.
S=$TEST_TMP/swap
mkdir -p "$S/l0"
head -c 65536 /dev/urandom >"$S/l0/swapme"
for kind in fifo device; do
        OVLBACKEND_TEST_STOP=copy-source:swapme "$OVLBACKEND_HOOKED" assemble --backend=copy --rootfs="$R" \
                "$S/l0" 2>"$TEST_TMP/swap.err" &
        main=$!
        stopped=
        for _ in $(seq 100); do
                for p in $main $(pgrep -P "$main" || true); do
                        if [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = T ]; then stopped=$p; fi
                done
                [ -n "$stopped" ] && break
                sleep 0.1
        done
        if [ -z "$stopped" ]; then
                # A build without the stop point cannot stage the swap: that too is a failure.
                wait "$main" || true
                hole "the copy never stopped before opening swapme ($kind): not staged"
                "$OVLBACKEND" -q destroy "$R" 2>/dev/null || true
                continue
        fi
        mv "$S/l0/swapme" "$S/keep"
        if [ "$kind" = fifo ]; then mkfifo "$S/l0/swapme"; else mknod "$S/l0/swapme" c 1 3; fi
        kill -CONT "$stopped"
        rc=0
        if ! timeout 20 tail --pid="$main" -f /dev/null; then
                hole "the copy hung on a swapped-in $kind"
                pkill -9 -P "$main" 2>/dev/null || true
                kill -9 "$main" 2>/dev/null || true
        fi
        wait "$main" || rc=$?
        case $(cat "$TEST_TMP/swap.err") in
        *"swapme: replaced by another file while it was copied"*) [ "$rc" = 1 ] || hole "a swapped-in $kind: exit $rc" ;;
        *) hole "a swapped-in $kind was not refused (exit $rc): $(cat "$TEST_TMP/swap.err")" ;;
        esac
        if [ -e "$R" ]; then "$OVLBACKEND" -q destroy "$R" || rm -rf "$R"; fi
        [ -z "$(find "$TEST_TMP" -maxdepth 1 -name '.rootfs.*')" ] || fail "scratch left beside R ($kind)"
        rm "$S/l0/swapme"
        mv "$S/keep" "$S/l0/swapme"
done
run_ovl 0 list --json
python3 -c 'import json, sys; assert json.loads(sys.argv[1])["rootfs"] == []' "$OUT" || fail "records left: $OUT"
[ "$(mounts_now)" = "$BEFORE" ] || fail "mounts left behind"
[ "$HOLES" = 0 ] || fail "$HOLES hole(s), see the HOLE lines above"
echo "PASS: workers hold no inherited fds, destroy keeps removal caps only, hostile overlay xattrs are not followed, swapped files are refused"
