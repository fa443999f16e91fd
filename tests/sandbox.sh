#!/usr/bin/env bash
# The sandbox around every backend's work (namespaces/): the worker keeps exactly the capabilities
# its backend declares, with no_new_privs and a seccomp filter; calls outside the allowlist fail
# with EPERM (or kill the worker with --seccomp-deny=kill) while the backend's own work succeeds;
# during an assembly the host sees no mount of the worker's, after it exactly R; strace shows the
# steps; --no-sandbox skips them and says so.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd capsh strace findmnt pgrep python3
require_overlayfs
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build, which honours OVLBACKEND_TEST_TRY_SYSCALLS and OVLBACKEND_TEST_STOP)"
enter_private_mountns "$@"

mkdir -p "$TEST_TMP/l0/etc" "$TEST_TMP/l1/etc"
echo base >"$TEST_TMP/l0/etc/base"
echo top >"$TEST_TMP/l1/etc/top"
R=$TEST_TMP/rootfs
mounts_now() { findmnt -rn -o TARGET | sort; }
BEFORE=$(mounts_now)

layers_for() { if [ "$1" = bind ]; then echo "$TEST_TMP/l0"; else printf '%s\n' "$TEST_TMP/l0" "$TEST_TMP/l1"; fi; }
caps_for() {
        case $1 in
        bind) echo cap_dac_override,cap_dac_read_search,cap_sys_admin ;;
        *) echo cap_chown,cap_dac_override,cap_dac_read_search,cap_fowner,cap_fsetid,cap_mknod,cap_setfcap,cap_sys_admin ;;
        esac
}
# status_field TEXT NAME: the value of the first "sandbox: worker N NAME:\tVALUE" line.
status_field() { grep -m1 -P "sandbox: worker \d+ $2:\t" <<<"$1" | sed 's/.*:\t//'; }
decode() { capsh --decode="$1" | sed "s/.*=//" | tr , "\n" | sort | paste -sd,; }

for backend in copy bind overlay; do
        mapfile -t layers < <(layers_for "$backend")
        # The worker's own report (-vv) of what it was left with.
        run_ovl 0 -v -v assemble --backend="$backend" --rootfs="$R" "${layers[@]}"
        want=$(caps_for "$backend" | tr , "\n" | sort | paste -sd,)
        for set in CapEff CapPrm CapBnd; do
                got=$(decode "$(status_field "$ERR" "$set")")
                [ "$got" = "$want" ] || fail "$backend worker $set: $got, expected $want"
        done
        [ "$(status_field "$ERR" CapInh)" = 0000000000000000 ] || fail "$backend worker keeps inheritable capabilities"
        [ "$(status_field "$ERR" CapAmb)" = 0000000000000000 ] || fail "$backend worker keeps ambient capabilities"
        [ "$(status_field "$ERR" NoNewPrivs)" = 1 ] || fail "$backend worker without no_new_privs"
        [ "$(status_field "$ERR" Seccomp)" = 2 ] || fail "$backend worker without a seccomp filter"
        # The host gained exactly R (nothing for copy).
        if [ "$backend" = copy ]; then expect=$BEFORE; else expect=$(printf '%s\n%s\n' "$BEFORE" "$R" | sort); fi
        [ "$(mounts_now)" = "$expect" ] || fail "$backend: the host mount table changed by more than R"
        run_ovl 0 destroy "$R"

        # Calls outside the allowlist fail with EPERM; the backend's own work still succeeds.
        OVLBACKEND_TEST_TRY_SYSCALLS=1 OVLBACKEND=$OVLBACKEND_HOOKED run_ovl 0 assemble --backend="$backend" --rootfs="$R" "${layers[@]}"
        for call in ptrace kexec_file_load init_module bpf keyctl reboot swapon "unshare(CLONE_NEWUSER)"; do
                assert_contains "$ERR" "sandbox: try $call: Operation not permitted"
        done
        [ -e "$R/etc/base" ] || fail "$backend: the sandboxed assemble made no rootfs"
        run_ovl 0 destroy "$R"
        # With --seccomp-deny=kill the first such call kills the worker: a clean failure.
        OVLBACKEND_TEST_TRY_SYSCALLS=1 OVLBACKEND=$OVLBACKEND_HOOKED run_ovl 1 --seccomp-deny=kill assemble --backend="$backend" --rootfs="$R" "${layers[@]}"
        assert_contains "$ERR" "killed by its seccomp filter"
        assert_absent "$R"
        [ "$(mounts_now)" = "$BEFORE" ] || fail "$backend: a killed worker left a mount"
        run_ovl 0 gc # overlay caches outlive a rootfs until gc
        assert_workdir_clean
        echo "$backend: worker caps $want, no_new_privs, seccomp; denied calls EPERM, or kill"
done
run_ovl 2 --seccomp-deny=maybe list
assert_contains "$ERR" "--seccomp-deny: expected eperm or kill"

# An overlay with its upper on a tmpfs, paused in the worker with the mount made but not yet handed
# back: the host sees nothing new, and the worker lives in another mount namespace.
OVLBACKEND_TEST_STOP=handback "$OVLBACKEND_HOOKED" -q assemble --backend=overlay --upper=tmpfs:8m --rootfs="$R" \
        "$TEST_TMP/l0" "$TEST_TMP/l1" &
pid=$!
worker=
for _ in $(seq 1 1000); do
        for p in $(pgrep -P "$pid" || true); do
                [ "$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)" = T ] && worker=$p
        done
        [ -z "$worker" ] || break
        sleep 0.01
done
[ -n "$worker" ] || fail "the worker never stopped at the handback point"
[ "$(mounts_now)" = "$BEFORE" ] || fail "during the assembly the host sees: $(diff <(echo "$BEFORE") <(mounts_now))"
[ "$(readlink "/proc/$worker/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] || fail "the worker shares the host's mount namespace"
kill -CONT "$worker"
wait "$pid" || fail "the paused assemble failed after resuming"
[ "$(mounts_now)" = "$(printf '%s\n%s\n' "$BEFORE" "$R" | sort)" ] || fail "after the handback the host has more than R"
[ "$(cat "$R/etc/top")" = top ] || fail "the handed-back overlay shows the wrong tree"
run_ovl 0 destroy "$R"

# A kernel with fsopen but without lowerdir+ (before 6.8), told by the probe cache: the worker
# mounts with mount(2) in its private namespace, clones that (open_tree) and hands it over.
cache=$OVLBACKEND_WORK_DIR/probe/overlay-$(cat /proc/sys/kernel/random/boot_id)
mkdir -p "$(dirname "$cache")"
echo "new_api=0 layer_fds=0 max_layers=500 meta_stack=0 meta_image=0" >"$cache"
run_ovl 0 -v assemble --backend=overlay --rootfs="$R" "$TEST_TMP/l0" "$TEST_TMP/l1"
assert_contains "$ERR" "probed earlier this boot), mount(2)"
findmnt -rn -o FSTYPE "$R" | grep -qx overlay || fail "the handed-over mount(2) overlay is not at R"
[ "$(cat "$R/etc/top")" = top ] || fail "the handed-over overlay shows the wrong tree"
[ "$(mounts_now)" = "$(printf '%s\n%s\n' "$BEFORE" "$R" | sort)" ] || fail "mount(2) in the worker: the host has more than R"
run_ovl 0 destroy "$R"
rm "$cache"

# strace: the steps, in the worker, for copy and overlay.
for backend in copy overlay; do
        # LeakSanitizer (sanitizer builds) cannot run under ptrace.
        ASAN_OPTIONS=detect_leaks=0 strace -f -o "$TEST_TMP/strace-$backend" -e trace=unshare,capset,prctl,seccomp \
                "$OVLBACKEND" -q assemble --backend="$backend" --rootfs="$R" "$TEST_TMP/l0" "$TEST_TMP/l1" ||
                fail "assemble under strace failed"
        for step in 'unshare(CLONE_NEWNS)' 'prctl(PR_CAPBSET_DROP' 'capset(' 'prctl(PR_SET_NO_NEW_PRIVS, 1' \
                'seccomp(SECCOMP_SET_MODE_FILTER'; do
                grep -qF "$step" "$TEST_TMP/strace-$backend" || fail "$backend: strace shows no $step"
        done
        run_ovl 0 destroy "$R"
done

# Where a sandbox step is not allowed (here: no CAP_SYS_ADMIN, so no unshare(CLONE_NEWNS)), the
# assemble fails naming the step and leaves nothing; --no-sandbox then works.
printf '#!/usr/bin/env bash\nexec setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin %q "$@"\n' "$OVLBACKEND" \
        >"$TEST_TMP/ovlbackend-no-admin"
chmod 0755 "$TEST_TMP/ovlbackend-no-admin"
OVLBACKEND=$TEST_TMP/ovlbackend-no-admin run_ovl 3 assemble --backend=copy --rootfs="$R" "$TEST_TMP/l0" "$TEST_TMP/l1"
assert_contains "$ERR" "sandbox: unshare(CLONE_NEWNS): Operation not permitted (--no-sandbox runs without the sandbox)"
assert_absent "$R"
run_ovl 0 gc
assert_workdir_clean
OVLBACKEND=$TEST_TMP/ovlbackend-no-admin run_ovl 0 --no-sandbox assemble --backend=copy --rootfs="$R" "$TEST_TMP/l0" "$TEST_TMP/l1"
OVLBACKEND=$TEST_TMP/ovlbackend-no-admin run_ovl 0 --no-sandbox destroy "$R"

# --no-sandbox: said on stderr, and no worker steps.
ASAN_OPTIONS=detect_leaks=0 strace -f -o "$TEST_TMP/strace-none" -e trace=unshare,seccomp "$OVLBACKEND" --no-sandbox assemble --backend=copy \
        --rootfs="$R" "$TEST_TMP/l0" "$TEST_TMP/l1" 2>"$TEST_TMP/none.err" || fail "--no-sandbox assemble failed"
assert_contains "$(cat "$TEST_TMP/none.err")" "--no-sandbox: the backend runs without a private mount namespace"
if grep -q 'seccomp(' "$TEST_TMP/strace-none"; then fail "--no-sandbox still loaded a filter"; fi
run_ovl 0 destroy "$R"
run_ovl 0 gc
assert_workdir_clean
[ "$(mounts_now)" = "$BEFORE" ] || fail "mounts left at the end"
echo "PASS: every backend's worker is sandboxed as declared"
