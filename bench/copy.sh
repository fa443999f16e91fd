#!/usr/bin/env bash
# Copy backend benchmarks (warm cache, best of 3):
#  - the 4-layer Debian image: ovlbackend copy vs `cp -a` of the already merged final tree
#    (goal <= 1.0: the cost of copying the result once);
#  - 500 tiny layers, each overriding one shared file and adding its own: ovlbackend copy vs a
#    Mesos-style per-layer copy (remove whiteout targets, cp -a layer/. R/, delete markers)
#    (goal <= 0.10).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../tests/lib/fixtures.sh"
. "$here/../tests/lib/debian-fixture.sh"

R=$BENCH_DIR/rootfs
destroy_r() { "$OVLBACKEND" -q destroy "$R" 2>/dev/null || true; rm -rf "$R"; }

# The Mesos provisioner's copy backend, as a baseline: every layer copied in full, in order.
mesos_style_copy() {
        local rootfs=$1 layer wh dir target
        shift
        mkdir -p "$rootfs"
        for layer in "$@"; do
                while IFS= read -r -d '' wh; do
                        dir=$(dirname "${wh#"$layer"/}")
                        target=$(basename "$wh")
                        target=${target#.wh.}
                        [ "$target" = .wh..opq ] && continue
                        rm -rf "${rootfs:?}/$dir/$target"
                done < <(find "$layer" -name '.wh.*' -print0)
                cp -a "$layer/." "$rootfs/"
                find "$rootfs" -name '.wh.*' -delete
        done
}

mkdir -p "$BENCH_CACHE"
report_header

if debian_fixture "$BENCH_DIR/debian" >/dev/null 2>&1; then
        layers=("$BENCH_DIR/debian"/l0 "$BENCH_DIR/debian"/l1 "$BENCH_DIR/debian"/l2 "$BENCH_DIR/debian"/l3)
        "$OVLBACKEND" -q assemble --backend=copy --rootfs="$BENCH_DIR/merged" "${layers[@]}"
        tar -cf /dev/null "${layers[@]}" "$BENCH_DIR/merged" 2>/dev/null # warm the cache
        ours=$(best_of 3 destroy_r "$OVLBACKEND" -q assemble --backend=copy --rootfs="$R" "${layers[@]}")
        destroy_r
        base=$(best_of 3 'rm -rf "$BENCH_DIR/cp"' cp -a "$BENCH_DIR/merged" "$BENCH_DIR/cp")
        rm -rf "$BENCH_DIR/cp"
        "$OVLBACKEND" -q destroy "$BENCH_DIR/merged"
        report "copy: 4-layer Debian" "$ours" "$base" "cp -a of the merged tree" 1.0
else
        echo "copy: 4-layer Debian: skipped (debootstrap could not build the fixture)"
fi

mapfile -t tiny < <(tiny_layers 500)
ours=$(best_of 3 destroy_r "$OVLBACKEND" -q assemble --backend=copy --rootfs="$R" "${tiny[@]}")
destroy_r
base=$(best_of 3 'rm -rf "$BENCH_DIR/mesos"' mesos_style_copy "$BENCH_DIR/mesos" "${tiny[@]}")
rm -rf "$BENCH_DIR/mesos"
report "copy: 500 tiny layers" "$ours" "$base" "Mesos-style per-layer copy" 0.10
