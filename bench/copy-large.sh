#!/usr/bin/env bash
# Copy backend on very large files: one layer holding a dense file of OVL_BENCH_LARGE_GIB GiB
# (default 2, random bytes) and a sparse file of twice that size (1 MiB of data every 256 MiB, the
# rest holes). ovlbackend copy (default --jobs) vs `cp -a` of the same layer, best of 3, on a fresh
# ext4 each run (fresh_ext4 in lib.sh), with the page cache dropped before each run, so both read
# the layer from the device: a time ratio row, the throughput of both (MiB/s of data), and a check that the holes are kept (the copy allocates no more blocks than the
# layer). Skipped, saying why, without mkfs.ext4, a loop device or the space (3x the layer).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
private_mount_ns "$@"

GIB=${OVL_BENCH_LARGE_GIB:-2}
F=$BENCH_DIR/large-fs
need_mib=$((GIB * 1024 * 3 + 1024))
free_mib=$(($(df --output=avail -B1M "$BENCH_DIR" | tail -n 1)))
if [ "$free_mib" -lt "$need_mib" ]; then
        echo "copy: large files: skipped (needs $need_mib MiB free in $BENCH_DIR, has $free_mib)"
        exit 0
fi
if ! fresh_ext4 "$F" "$need_mib"; then
        echo "copy: large files: skipped (no ext4 on a loop device)"
        exit 0
fi
trap 'drop_ext4 "$F"' EXIT
export OVLBACKEND_WORK_DIR=$F/work
R=$F/rootfses/rootfs
CP=$F/rootfses/cp

L=$F/layer
mkdir -p "$L"
head -c "$((GIB << 30))" /dev/urandom >"$L/dense"
truncate -s "$((2 * GIB))G" "$L/sparse"
for ((off = 0; off < 2 * GIB * 4; off++)); do
        head -c 1M /dev/urandom | dd of="$L/sparse" bs=1M seek=$((off * 256)) conv=notrunc status=none
done
sync

# Each run starts cold: the layer read from the device, as at a container's first start.
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
ours=$(best_of 3 'rm -rf "$CP"; "$OVLBACKEND" -q destroy "$R" 2>/dev/null || true; cold' \
        "$OVLBACKEND" -q assemble --backend=copy --rootfs="$R" "$L")
base=$(best_of 3 'rm -rf "$CP"; "$OVLBACKEND" -q destroy "$R" 2>/dev/null || true; cold' cp -a "$L" "$CP")
report "copy: ${GIB} GiB dense + $((2 * GIB)) GiB sparse" "$ours" "$base" "cp -a of the layer" -

"$OVLBACKEND" -q assemble --backend=copy --rootfs="$R" "$L"
data=$((GIB * 1024 + 2 * GIB * 4)) # MiB of data: the holes cost neither anything
printf 'copy: large files: ovlbackend %.0f MiB/s, cp -a %.0f MiB/s (MiB of data read and written, cold)\n' \
        "$(echo "$data / $ours" | bc -l)" "$(echo "$data / $base" | bc -l)"
layer_blocks=$(stat -c %b "$L/sparse")
copy_blocks=$(stat -c %b "$R/sparse")
printf 'check: large files: the sparse file has %s blocks in the copy, %s in the layer %s\n' \
        "$copy_blocks" "$layer_blocks" "$(if [ "$copy_blocks" -le "$layer_blocks" ]; then echo ok; else echo 'FAILED: holes filled'; fi)"
cmp -s "$L/dense" "$R/dense" && cmp -s "$L/sparse" "$R/sparse" ||
        echo "check: large files: FAILED: the copy differs from the layer"
"$OVLBACKEND" -q destroy "$R"
