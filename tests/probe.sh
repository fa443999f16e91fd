#!/usr/bin/env bash
# probe answers from the real kernel and filesystem, in both output forms, and leaves nothing.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3
enter_private_mountns "$@"

D=$TEST_TMP/probe
mounts_before=$(wc -l </proc/self/mountinfo)
run_ovl 0 probe --json "$D"
python3 - "$OUT" "$(stat -f -c %T "$TEST_TMP")" <<'PY' || fail "probe --json is wrong: $OUT"
import json, sys
o = json.loads(sys.argv[1])
for key in ("overlay", "d_type", "fsopen", "lowerdir+", "openat2", "reflink", "copy_file_range", "backing_fs"):
    assert isinstance(o[key]["supported"], bool) and o[key]["how"], key
assert o["recommended_backend"] in ("copy", "overlay", "bind"), o
# What the kernel says of itself must agree with what probe reports.
fs = open("/proc/filesystems").read()
assert o["overlay"]["supported"] == ("\toverlay\n" in fs and o["backing_fs"]["supported"]), o["overlay"]
if sys.argv[2] == "ext2/ext3":   # stat -f names ext4 so
    assert o["backing_fs"]["detail"] == "ext4", o["backing_fs"]
    assert o["reflink"]["supported"] is False and o["reflink"]["detail"], o["reflink"]
PY
[ -z "$(ls -A "$D")" ] || fail "probe left files in $D: $(ls -A "$D")"
[ "$(wc -l </proc/self/mountinfo)" = "$mounts_before" ] || fail "probe left a mount"

# Reflink is reported where the filesystem has it: a small loop-mounted xfs image.
if command -v mkfs.xfs >/dev/null && truncate -s 320M "$TEST_TMP/xfs.img" && mkfs.xfs -q "$TEST_TMP/xfs.img" 2>/dev/null; then
        mkdir "$TEST_TMP/xfs"
        mount -o loop "$TEST_TMP/xfs.img" "$TEST_TMP/xfs"
        run_ovl 0 probe --json "$TEST_TMP/xfs"
        python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["reflink"]["supported"] and o["backing_fs"]["detail"]=="xfs", o' "$OUT" ||
                fail "probe on xfs: $OUT"
        umount "$TEST_TMP/xfs"
fi

run_ovl 0 probe "$D"
assert_contains "$OUT" "recommended"
assert_contains "$OUT" "d_type           yes"
echo "PASS: probe tells the truth"
