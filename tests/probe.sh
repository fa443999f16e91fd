#!/usr/bin/env bash
# probe tells the truth about this machine: each answer is checked against the kernel by other
# means (mount(8) test mounts, util-linux tools, /proc), on ext4, on a loop-mounted xfs (reflink)
# and on an ext4 made without d_type; the JSON has its stable keys; probing leaves
# nothing; the overlay backend reads the same answers from a per-boot cache. How long probing took
# is printed, never asserted: wall time gates nothing (it ranged 0.2-2.6 s here, same binary).
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3 findmnt mkfs.ext4 setpriv unshare
[ -n "${OVLBACKEND_HOOKED:-}" ] || skip "needs OVLBACKEND_HOOKED (the test build, which honours OVLBACKEND_LEGACY_MOUNT_API)"
enter_private_mountns "$@"

D=$TEST_TMP/probe
mounts_before=$(findmnt -rn | sort)
run_ovl 0 probe --json "$D"
echo "$OUT" >"$TEST_TMP/probe.json"
python3 - "$TEST_TMP/probe.json" <<'PY' || fail "probe --json is wrong: $OUT"
import json, sys
o = json.load(open(sys.argv[1]))
features = ("overlay", "backing_fs", "d_type", "fsopen", "lowerdir+", "datadir+", "layer_fds", "detached_layers",
            "data_only_lowers", "redirect_dir", "index", "metacopy", "xino", "volatile", "userxattr", "uuid",
            "xattr_whiteouts", "idmap", "idmap_layers", "open_tree", "move_mount", "reflink", "copy_file_range",
            "openat2", "userns", "seccomp", "rootless_overlay")
for key in features:
    assert isinstance(o[key]["supported"], bool) and o[key]["how"], key
    assert o[key]["supported"] or o[key]["detail"], ("a no without a reason", key, o[key])
for key in ("max_layers", "page_size", "fsconfig_string_max", "elapsed_ms"):
    assert isinstance(o[key], int), key
assert isinstance(o["module_parameters"], dict)
assert o["recommended_backend"] in ("copy", "overlay"), o
assert o["elapsed_ms"] >= 0, o["elapsed_ms"]
PY
[ -z "$(ls -A "$D")" ] || fail "probe left files in $D: $(ls -A "$D")"
[ "$(findmnt -rn | sort)" = "$mounts_before" ] || fail "probe left a mount"
json() { python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$TEST_TMP/probe.json" "$1"; }
echo "probe: $(json 'o["elapsed_ms"]') ms, max_layers $(json 'o["max_layers"]'), recommends $(json 'o["recommended_backend"]')"

# overlay: mount(8) agrees, and so does the stack limit: N lowers mount, N+1 do not.
if grep -qw overlay /proc/filesystems; then
        [ "$(json 'o["overlay"]["supported"]')" = True ] || fail "probe says no overlay: $(json 'o["overlay"]')"
        n=$(json 'o["max_layers"]')
        mkdir -p "$TEST_TMP/stack" "$TEST_TMP/mnt"
        (cd "$TEST_TMP/stack" && mkdir $(seq 0 "$n"))
        lowers() { seq 0 $(($1 - 1)) | paste -sd:; }
        (cd "$TEST_TMP/stack" && mount -t overlay x -o "lowerdir=$(lowers "$n")" "$TEST_TMP/mnt") ||
                fail "mount(8) of max_layers=$n lowers failed"
        umount "$TEST_TMP/mnt"
        if (cd "$TEST_TMP/stack" && mount -t overlay x -o "lowerdir=$(lowers $((n + 1)))" "$TEST_TMP/mnt" 2>/dev/null); then
                fail "mount(8) of max_layers+1=$((n + 1)) lowers worked"
        fi
        [ "$(json 'o["recommended_backend"]')" = overlay ] || fail "overlay works on ext4 but is not recommended"
fi
# The new API: fsopen and lowerdir+ as util-linux-independent facts are hard to get from a shell,
# so the overlay backend's own choice is checked instead, further down. The legacy switch turns
# them off and leaves overlay working through mount(2), with the same limit.
OVLBACKEND_LEGACY_MOUNT_API=1 OVLBACKEND=$OVLBACKEND_HOOKED run_ovl 0 probe --json "$D"
python3 - "$OUT" "$(json 'o["max_layers"]')" <<'PY' || fail "probe with the legacy switch is wrong: $OUT"
import json, sys
o = json.loads(sys.argv[1])
assert not o["fsopen"]["supported"] and not o["lowerdir+"]["supported"], o
assert o["overlay"]["supported"] and "mount(2)" in o["overlay"]["detail"], o["overlay"]
assert o["max_layers"] == int(sys.argv[2]), (o["max_layers"], sys.argv[2])
PY
# userns: util-linux as uid 65534 agrees; seccomp: the kernel lists it in /proc/self/status.
if setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U true 2>/dev/null; then want=True; else want=False; fi
[ "$(json 'o["userns"]["supported"]')" = "$want" ] || fail "userns: probe and unshare -U disagree: $(json 'o["userns"]')"
# Rootless overlay needs that user namespace (tests/rootless.sh runs the real thing).
if [ "$want" = False ]; then
        [ "$(json 'o["rootless_overlay"]["supported"]')" = False ] || fail "rootless overlay yes without user namespaces"
fi
if grep -q '^Seccomp:' /proc/self/status; then
        [ "$(json 'o["seccomp"]["supported"]')" = True ] || fail "seccomp: $(json 'o["seccomp"]')"
fi
# ext4: no reflink; copy_file_range yes.
if [ "$(stat -f -c %T "$TEST_TMP")" = ext2/ext3 ]; then
        [ "$(json 'o["backing_fs"]["detail"]')" = ext4 ] || fail "backing fs: $(json 'o["backing_fs"]')"
        [ "$(json 'o["reflink"]["supported"]')" = False ] || fail "reflink on ext4: $(json 'o["reflink"]')"
fi

# Reflink on a small loop-mounted xfs.
if command -v mkfs.xfs >/dev/null && truncate -s 320M "$TEST_TMP/xfs.img" && mkfs.xfs -q "$TEST_TMP/xfs.img" 2>/dev/null; then
        mkdir "$TEST_TMP/xfs"
        mount -o loop "$TEST_TMP/xfs.img" "$TEST_TMP/xfs"
        run_ovl 0 probe --json "$TEST_TMP/xfs"
        python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["reflink"]["supported"] and o["backing_fs"]["detail"]=="xfs", o' "$OUT" ||
                fail "probe on xfs: $OUT"
        umount "$TEST_TMP/xfs"
else
        echo "xfs: skipped (no mkfs.xfs)"
fi

# No d_type: an ext4 made without the filetype feature. Overlay cannot hide whiteouts there (the
# probe's test mount shows it), so copy is recommended and the reason names d_type.
truncate -s 64M "$TEST_TMP/nodtype.img"
mkfs.ext4 -q -O ^filetype "$TEST_TMP/nodtype.img"
mkdir "$TEST_TMP/nodtype"
mount -o loop "$TEST_TMP/nodtype.img" "$TEST_TMP/nodtype"
run_ovl 0 probe --json "$TEST_TMP/nodtype"
python3 - "$OUT" <<'PY' || fail "probe without d_type: $OUT"
import json, sys
o = json.loads(sys.argv[1])
assert not o["d_type"]["supported"] and "filetype" in o["d_type"]["detail"], o["d_type"]
assert o["recommended_backend"] == "copy", o
PY
run_ovl 0 probe "$TEST_TMP/nodtype"
assert_contains "$OUT" "d_type           no"
umount "$TEST_TMP/nodtype"

# The overlay backend's choice follows the probe, cached once per boot under the work dir: the
# first assemble probes, the next reads the cache; 1200 layers go through lowerdir+ by fd when
# the probe says so. gc keeps this boot's cache and drops another boot's.
if [ "$(json 'o["overlay"]["supported"]')" = True ]; then
        . "$OVL_TESTS_SRCDIR/lib/fixtures.sh"
        many_layers "$TEST_TMP/many" 1200 l
        printf '%s\n' "$TEST_TMP"/many/l* >"$TEST_TMP/1200.list"
        run_ovl 0 -v assemble --backend=overlay --rootfs="$TEST_TMP/r" "$TEST_TMP/many/l0000"
        assert_contains "$ERR" "probed now"
        run_ovl 0 destroy "$TEST_TMP/r"
        cache=$OVLBACKEND_WORK_DIR/probe/overlay-$(cat /proc/sys/kernel/random/boot_id)
        assert_file_content "$cache" "new_api=$([ "$(json 'o["lowerdir+"]["supported"]')" = True ] && echo 1 || echo 0) layer_fds=$([ "$(json 'o["layer_fds"]["supported"]')" = True ] && echo 1 || echo 0) max_layers=$(json 'o["max_layers"]') meta_stack=$([ "$(json 'o["meta_stack"]["supported"]')" = True ] && echo 1 || echo 0) meta_image=$([ "$(json 'o["meta_image"]["supported"]')" = True ] && echo 1 || echo 0)"
        run_ovl 0 -v assemble --backend=overlay --rootfs="$TEST_TMP/r" --layers-from="$TEST_TMP/1200.list"
        assert_contains "$ERR" "probed earlier this boot"
        if [ "$(json 'o["layer_fds"]["supported"]')" = True ]; then assert_contains "$ERR" "fsopen, lowerdir+ by fd"; fi
        assert_contains "$ERR" "this kernel stacks $(json 'o["max_layers"]')"
        check_many "$TEST_TMP/r" 1200
        run_ovl 0 destroy "$TEST_TMP/r"
        echo "new_api=1 layer_fds=1 max_layers=7" >"$OVLBACKEND_WORK_DIR/probe/overlay-00000000-0000-0000-0000-000000000000"
        run_ovl 0 gc
        assert_contains "$OUT" "probe result of an earlier boot"
        [ -f "$cache" ] || fail "gc removed this boot's probe cache"
        assert_workdir_clean
fi

run_ovl 0 probe "$D"
assert_contains "$OUT" "recommended"
assert_contains "$OUT" "d_type           yes"
[ "$(findmnt -rn | sort)" = "$mounts_before" ] || fail "mounts left at the end"
echo "PASS: probe tells the truth"
