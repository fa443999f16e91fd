#!/usr/bin/env bash
# Idmapped rootfs benchmarks on the 4-layer Debian image (warm cache, best of 5):
#  - overlay --uidmap assemble+destroy vs plain overlay assemble+destroy (goal <= 1.5: idmapping
#    every layer is a few mount_setattr calls, not a walk);
#  - overlay --uidmap vs the chown approach: copy, then `chown -R` every entry by the offset.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../tests/lib/debian-fixture.sh"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
if ! grep -qw overlay /proc/filesystems || ! debian_fixture "$BENCH_DIR/idmap-img" >/dev/null 2>&1; then
        echo "idmap: skipped (no overlayfs, or debootstrap could not build the fixture)"
        exit 0
fi
layers=("$BENCH_DIR/idmap-img"/l0 "$BENCH_DIR/idmap-img"/l1 "$BENCH_DIR/idmap-img"/l2 "$BENCH_DIR/idmap-img"/l3)
R=$BENCH_DIR/rootfs
destroy_r() { "$OVLBACKEND" -q destroy "$R" 2>/dev/null || true; rm -rf "$R"; }
cycle() { "$OVLBACKEND" -q assemble --backend=overlay --rootfs="$R" "$@" "${layers[@]}" && "$OVLBACKEND" -q destroy "$R"; }
# The chown approach: a copy, then every owner shifted by a walk.
copy_chown() {
        "$OVLBACKEND" -q assemble --backend=copy --rootfs="$R" "${layers[@]}"
        python3 - "$R" <<'PY'
import os, sys
for d, dirs, files in os.walk(sys.argv[1]):
    for n in [d] + [os.path.join(d, f) for f in dirs + files]:
        st = os.lstat(n)
        os.lchown(n, st.st_uid + 100000, st.st_gid + 100000)
PY
        "$OVLBACKEND" -q destroy "$R"
}
tar -cf /dev/null "${layers[@]}" 2>/dev/null
cycle >/dev/null # the glue cache, built once
report_header
plain=$(best_of 5 destroy_r cycle)
mapped=$(best_of 5 destroy_r cycle --uidmap=0:100000:65536)
chowned=$(best_of 3 destroy_r copy_chown)
report "overlay --uidmap: Debian, 4 layers" "$mapped" "$plain" "plain overlay" 1.5
report "overlay --uidmap: Debian, 4 layers" "$mapped" "$chowned" "copy + chown -R" -
"$OVLBACKEND" -q gc >/dev/null
