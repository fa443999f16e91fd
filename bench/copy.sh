#!/usr/bin/env bash
# Copy backend benchmarks (warm cache, best of 3), with the default --jobs (a thread per CPU)
# unless said:
#  - the 4-layer Debian image: ovlbackend copy vs `cp -a` of the already merged final tree (goal
#    <= 0.7), the same with --jobs=1 (the single-threaded engine, no goal), and the default vs
#    --jobs=1; every run on a fresh ext4 on a loop device (see fresh_ext4 in lib.sh for why);
#  - reflinks: the same image on an xfs made with reflink=1 (a sparse image file in BENCH_DIR on a
#    loop device), the rootfs and the work dir on it too: ovlbackend copy vs `cp -a
#    --reflink=always` of the merged tree on that xfs (goal <= 1.0), and a check that the
#    rootfs's files share their extents with the layers' (fiemap, and the xfs's used blocks).
#    Skipped, saying why, without mkfs.xfs, xfs or a loop device;
#  - 500 tiny layers, each overriding one shared file and adding its own: ovlbackend copy vs a
#    Mesos-style per-layer copy (remove whiteout targets, cp -a layer/. R/, delete markers)
#    (goal <= 0.10).
# The script runs in a private mount namespace: its mounts are never seen outside and go away with
# it, even when it is killed. Time and memory from 10k to 1M entries: copy-scale.sh.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
private_mount_ns "$@"
. "$here/../tests/lib/fixtures.sh"
. "$here/../tests/lib/debian-fixture.sh"

R=$BENCH_DIR/rootfs
destroy_r() { "$OVLBACKEND" -q destroy "$R" 2>/dev/null || true; rm -rf "$R"; }
copy() { "$OVLBACKEND" -q assemble --backend=copy "$@"; }

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

# shared_extents DIR: prints "S N": of the N largest regular files of DIR (50 at most, of 64 KiB
# or more), S have an extent marked shared (FIEMAP_EXTENT_SHARED, 0x2000) by xfs_io fiemap.
shared_extents() {
        local f flags s=0 n=0
        while IFS= read -r -d '' f; do
                n=$((n + 1))
                while read -r flags; do
                        if [[ $flags == 0x* ]] && ((flags & 0x2000)); then
                                s=$((s + 1))
                                break
                        fi
                done < <(xfs_io -r -c 'fiemap -v' "$f" | awk 'NR > 2 { print $NF }')
        done < <(find "$1" -type f -size +64k -printf '%s %p\0' | sort -z -rn | head -z -n 50 | cut -z -d' ' -f2-)
        echo "$s $n"
}
xfs_used() { sync -f "$1"; df --output=used -B1 "$1" | tail -n 1; }

# debian_bench LAYER...: the Debian rows, the merged tree in $BENCH_DIR/merged. Every run is on a
# fresh ext4 (fresh_ext4) that the layers and the merged tree are first copied to (untimed: the
# copy then works within one filesystem, as on a host, and the reads hit the page cache), the
# work dir on it too; without one, in BENCH_DIR, each run after the deletion of the previous
# one's tree. A subshell, for the work dir and the trap.
debian_bench() (
        F=$BENCH_DIR/copy-fs
        onto_fresh_fs() { fresh_ext4 "$F" 1536 && cp -a "$@" "$BENCH_DIR/merged" "$F/"; }
        if onto_fresh_fs "$@"; then
                trap 'drop_ext4 "$F"' EXIT
                export OVLBACKEND_WORK_DIR=$F/work
                reset="onto_fresh_fs $(printf '%q ' "$@")"
                reset_cp=$reset
                fl=()
                for l; do fl+=("$F/$(basename "$l")"); done
                set -- "${fl[@]}" # the layers on the fresh ext4
                merged=$F/merged R=$F/rootfses/rootfs CP=$F/rootfses/cp
        else
                echo "copy: no ext4 on a loop device: the Debian copies go to $BENCH_DIR, each after a deletion"
                merged=$BENCH_DIR/merged CP=$BENCH_DIR/cp reset=destroy_r reset_cp='rm -rf "$CP"'
        fi
        ours=$(best_of 3 "$reset" copy --rootfs="$R" "$@")
        one=$(best_of 3 "$reset" copy --jobs=1 --rootfs="$R" "$@")
        base=$(best_of 3 "$reset_cp" cp -a "$merged" "$CP")
        destroy_r
        rm -rf "$CP"
        report "copy: 4-layer Debian" "$ours" "$base" "cp -a of the merged tree" 0.7
        report "copy --jobs=1: 4-layer Debian" "$one" "$base" "cp -a of the merged tree" -
        report "copy: 4-layer Debian" "$ours" "$one" "copy --jobs=1" -
)

# reflink_bench LAYER...: the reflink rows (see the top), on a fresh xfs; a subshell, for the
# work dir and the trap.
reflink_bench() (
        img=$BENCH_DIR/xfs.img x=$BENCH_DIR/xfs why=
        grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null || true
        if ! command -v mkfs.xfs >/dev/null || ! command -v xfs_io >/dev/null; then
                why="no mkfs.xfs or xfs_io: apt-get install xfsprogs"
        elif ! grep -qw xfs /proc/filesystems; then
                why="the kernel has no xfs"
        else
                rm -f "$img"
                truncate -s 4G "$img"
                if ! mkfs.xfs -q -m reflink=1 "$img" >/dev/null 2>&1; then
                        why="mkfs.xfs -m reflink=1 failed"
                elif ! mkdir -p "$x" || ! mount -o loop "$img" "$x" 2>/dev/null; then
                        why="could not mount it on a loop device"
                fi
        fi
        if [ -n "$why" ]; then
                rm -f "$img"
                echo "copy: reflink: skipped ($why)"
                return 0
        fi
        trap 'umount "$x" 2>/dev/null || true; rm -f "$img"; rmdir "$x" 2>/dev/null || true' EXIT
        mkdir "$x/layers"
        cp -a "$@" "$x/layers/"
        xlayers=()
        for l; do xlayers+=("$x/layers/$(basename "$l")"); done
        # Rootfses below a directory other users cannot search; the work dir on the xfs too.
        mkdir -m 0700 "$x/rootfses"
        export OVLBACKEND_WORK_DIR=$x/work
        R=$x/rootfses/rootfs
        copy --rootfs="$x/rootfses/merged" "${xlayers[@]}"
        warm "${xlayers[@]}" "$x/rootfses/merged"
        ours=$(best_of 3 destroy_r copy --rootfs="$R" "${xlayers[@]}")
        destroy_r
        base=$(best_of 3 'rm -rf "$x/rootfses/cp"' cp -a --reflink=always "$x/rootfses/merged" "$x/rootfses/cp")
        rm -rf "$x/rootfses/cp"
        report "copy: 4-layer Debian, xfs reflink" "$ours" "$base" "cp -a --reflink=always" 1.0
        # One more copy, to see what it costs the xfs: a reflinked copy allocates next to nothing.
        used=$(xfs_used "$x")
        copy --rootfs="$R" "${xlayers[@]}"
        used=$(($(xfs_used "$x") - used))
        read -r s n < <(shared_extents "$R")
        printf 'check: reflink: %s of the %s largest files of the rootfs share extents (fiemap); it took %.1f MiB of new xfs blocks for %.1f MiB (du) %s\n' \
                "$s" "$n" "$(echo "$used / 1048576" | bc -l)" "$(echo "$(du -s -B1 "$R" | cut -f1) / 1048576" | bc -l)" \
                "$(if [ "$n" -gt 0 ] && [ "$s" = "$n" ]; then echo ok; else echo 'FAILED: not reflinked'; fi)"
        destroy_r
        "$OVLBACKEND" -q destroy "$x/rootfses/merged"
)

mkdir -p "$BENCH_CACHE"
report_header

rm -rf "$BENCH_DIR/debian" # debian_fixture copies into it: it must not hold the layers yet
if debian_fixture "$BENCH_DIR/debian" >/dev/null 2>&1; then
        layers=("$BENCH_DIR/debian"/l0 "$BENCH_DIR/debian"/l1 "$BENCH_DIR/debian"/l2 "$BENCH_DIR/debian"/l3)
        copy --rootfs="$BENCH_DIR/merged" "${layers[@]}"
        warm "${layers[@]}" "$BENCH_DIR/merged"
        debian_bench "${layers[@]}"
        "$OVLBACKEND" -q destroy "$BENCH_DIR/merged"
        reflink_bench "${layers[@]}"
        rm -rf "$BENCH_DIR/debian"
else
        echo "copy: 4-layer Debian: skipped (debootstrap could not build the fixture)"
fi

mapfile -t tiny < <(tiny_layers 500)
ours=$(best_of 3 destroy_r copy --rootfs="$R" "${tiny[@]}")
destroy_r
base=$(best_of 3 'rm -rf "$BENCH_DIR/mesos"' mesos_style_copy "$BENCH_DIR/mesos" "${tiny[@]}")
rm -rf "$BENCH_DIR/mesos"
report "copy: 500 tiny layers" "$ours" "$base" "Mesos-style per-layer copy" 0.10
