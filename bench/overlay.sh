#!/usr/bin/env bash
# Overlay backend benchmarks (warm cache):
#  - 500 tiny layers: ovlbackend assemble + destroy vs a bare `mount -t overlay` + `umount` of the
#    same 500 lowers with upper and work dirs (relative lowerdir names, so the options fit in a
#    page), best of 5 (goal <= 3.0: what the record, the lock and the checks cost over the mount);
#  - 1200 tiny layers, past the kernel's stack limit: the first assemble (the bottom flattened by
#    the copy engine into a cache entry) vs the copy backend assembling all 1200, and the next
#    (cached) assemble vs that first one.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
if ! grep -qw overlay /proc/filesystems; then
        echo "overlay: skipped (the kernel has no overlayfs)"
        exit 0
fi

R=$BENCH_DIR/rootfs
destroy_r() { "$OVLBACKEND" -q destroy "$R" 2>/dev/null || true; rm -rf "$R"; }
assemble_destroy() { "$OVLBACKEND" -q assemble --backend=overlay --rootfs="$R" "$@" && "$OVLBACKEND" -q destroy "$R"; }

# bare_overlay LAYERDIR: mount(8) of every layer in LAYERDIR (named so that `sort` is bottom first)
# with an upper and a work dir, then umount, as a containerizer without ovlbackend would.
bare_overlay() {
        local scratch=$BENCH_DIR/bare lower
        lower=$(cd "$1" && ls | sort -r | paste -sd:)
        mkdir -p "$scratch/upper" "$scratch/work" "$scratch/mnt"
        (cd "$1" && mount -t overlay overlay \
                -o "lowerdir=$lower,upperdir=$scratch/upper,workdir=$scratch/work,index=off" "$scratch/mnt")
        umount "$scratch/mnt"
        rm -rf "$scratch"
}

report_header
mapfile -t tiny < <(tiny_layers 500)
tar -cf /dev/null "${tiny[@]}" 2>/dev/null # warm the cache
ours=$(best_of 5 destroy_r assemble_destroy "${tiny[@]}")
base=$(best_of 5 : bare_overlay "$(dirname "${tiny[0]}")")
report "overlay: 500 layers assemble+destroy" "$ours" "$base" "bare mount+umount" 3.0

mapfile -t many < <(tiny_layers 1200)
tar -cf /dev/null "${many[@]}" 2>/dev/null
"$OVLBACKEND" -q gc >/dev/null
copy=$(best_of 1 destroy_r "$OVLBACKEND" -q assemble --backend=copy --rootfs="$R" "${many[@]}")
destroy_r
cold=$(best_of 1 ': ' "$OVLBACKEND" -q assemble --backend=overlay --rootfs="$R" "${many[@]}")
destroy_r
warm=$(best_of 3 destroy_r "$OVLBACKEND" -q assemble --backend=overlay --rootfs="$R" "${many[@]}")
destroy_r
"$OVLBACKEND" -q gc >/dev/null
report "overlay: 1200 layers, first" "$cold" "$copy" "copy backend, 1200 layers" -
report "overlay: 1200 layers, cached" "$warm" "$cold" "the first (cache-building)" -
