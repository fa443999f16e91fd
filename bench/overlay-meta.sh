#!/usr/bin/env bash
# Overlay stacks compared: --stack=meta (one cached metadata layer, the layers as data-only lowers)
# and --stack=layers (one lower dir per layer), best of 3 unless said (cold walks: best of 5):
#  - the Debian image's final tree split over 100 layers (round-robin by file, each layer a valid
#    tree with the directories leading to its files): a stat walk of every entry
#    (`find -printf '%s %m'`), cold (after drop_caches) and warm (10 walks a sample: one takes
#    ~50 ms), vs the same walks of a bare 1-lower overlay of the merged tree (goals for meta:
#    cold <= 1.3, warm <= 1.2);
#  - 1200 layers of one distinct 1 MiB file each (and a small shared dir): the first assemble (no
#    cache, page cache dropped) and the cached one (a second rootfs of the same image, best of 3),
#    meta vs layers, and the disk the work dir uses after the first assemble (allocated bytes, as
#    `du -B1`: a metadata layer's sparse stubs have the files' apparent size) against the layers'
#    file data (goal for meta: under 16 MiB in all, no file data copied);
#  - 500 tiny layers: cached assemble + destroy vs a bare `mount -t overlay` + `umount` of the same
#    500 lowers (best of 5).
# Without --stack in this build (or meta_stack in probe), only the layers numbers are printed.
# The mounts this script makes itself are in a private mount namespace.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../tests/lib/debian-fixture.sh"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
if ! grep -qw overlay /proc/filesystems; then
        echo "overlay meta: skipped (the kernel has no overlayfs)"
        exit 0
fi

R=$BENCH_DIR/rootfs
R2=$BENCH_DIR/rootfs2
SCRATCH=$BENCH_DIR/meta-scratch
destroy() { local r; for r; do "$OVLBACKEND" -q destroy "$r" 2>/dev/null || true; rm -rf "$r"; done; }
destroy_r() { destroy "$R"; }
destroy_r2() { destroy "$R2"; }
cleanup() { destroy "$R" "$R2"; "$OVLBACKEND" -q gc >/dev/null 2>&1 || true; rm -rf "$SCRATCH"; }
trap cleanup EXIT
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# walk DIR: an lstat of every entry (find stats for %s), the output thrown away by best_of.
walk() { find "$1" -printf '%s %m\n'; }
walk10() { local i; for i in 1 2 3 4 5 6 7 8 9 10; do walk "$1"; done; }
# listing DIR: a digest of every entry's name, type, mode, owner (and size, but for directories,
# whose size overlayfs takes from one of the layers): the trees compared must give the same one.
listing() {
        (cd "$1" && find . \( -type d -printf '%p d %m %U %G\n' \) -o -printf '%p %y %s %m %U %G\n') |
                LC_ALL=C sort | md5sum | cut -d' ' -f1
}
# assemble STACK ROOTFS LAYER...: assemble quietly; STACK "" for a build without --stack.
assemble() {
        local stack=$1 rootfs=$2
        shift 2
        "$OVLBACKEND" -q assemble --backend=overlay ${stack:+--stack="$stack"} --rootfs="$rootfs" "$@"
}
# assemble_checked STACK ROOTFS LAYER...: the same with --json, and a warning when the rootfs
# reports another stack than asked for.
assemble_checked() {
        local stack=$1 rootfs=$2 got
        shift 2
        got=$("$OVLBACKEND" -q assemble --backend=overlay ${stack:+--stack="$stack"} --rootfs="$rootfs" --json "$@" |
                python3 -c 'import json,sys; print(json.load(sys.stdin).get("stack", "?"))')
        [ -z "$stack" ] || [ "$got" = "$stack" ] || echo "overlay meta: warning: --stack=$stack gave a \"$got\" stack" >&2
}
cycle() { assemble "$1" "$R" "${@:2}" && "$OVLBACKEND" -q destroy "$R"; }
work_bytes() { du -sx -B1 "$OVLBACKEND_WORK_DIR" | cut -f1; }
# in_private_ns FUNCTION ARG...: runs FUNCTION of this script in a private mount namespace.
in_private_ns() {
        export -f now best_of drop_caches walk walk10 baseline_walks bare_overlay bare_500
        export BENCH_DIR SCRATCH
        unshare -m --propagation private bash -c 'set -euo pipefail; "$@"' _ "$@"
}
# report_size NAME OURS BASELINE BASELINE-NAME GOAL: report for disk usage (bytes in, MiB out);
# GOAL is text ("-" for none). The CSV gets MiB in the seconds columns and "-" as the goal.
report_size() {
        local ratio goal="(goal: $5)" ours base
        ours=$(echo "$2 / 1048576" | bc -l)
        base=$(echo "$3 / 1048576" | bc -l)
        ratio=$(echo "$2 / $3" | bc -l)
        [ "$5" != - ] || goal=
        printf '%-38s %7.1f MiB %7.1f MiB %-28s %7.3f  %s\n' "$1" "$ours" "$base" "$4" "$ratio" "$goal"
        printf '%s (MiB),%.1f,%.1f,%s,%.4f,-\n' "$1" "$ours" "$base" "$4" "$ratio" >>"$BENCH_CSV"
}

# debian_split N: prints the paths of the merged Debian tree then of N layers splitting it, bottom
# first (cached). Every non-directory (a hard-link group as one) and every empty directory goes to
# the next layer round-robin, with the directories leading to it (their metadata included).
debian_split() {
        local n=$1 dir tmp src i
        dir=$BENCH_CACHE/debian-split-$DEBIAN_FIXTURE_VERSION-$n
        if [ ! -d "$dir" ]; then
                mkdir -p "$BENCH_CACHE" "$BENCH_DIR"
                src=$(mktemp -d "$BENCH_DIR/.debian-src.XXXXXX")
                rmdir "$src"
                debian_fixture "$src" >&2 || { rm -rf "$src"; return 1; }
                rm -rf "$src"
                tmp=$(mktemp -d "$BENCH_CACHE/.debian-split.XXXXXX")
                cp -a "$DEBIAN_FIXTURE_FINAL" "$tmp/merged"
                python3 - "$tmp/merged" "$tmp" "$n" <<'PY'
import os, stat, sys

src, out, n = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2]), int(sys.argv[3])
lists = [set([b'.']) for _ in range(n)]
nxt, group = 0, {}

def place(rel):
    global nxt
    l = nxt % n
    nxt += 1
    return l

def add(l, rel):
    parts = rel.split(b'/')
    for k in range(1, len(parts) + 1):
        lists[l].add(b'./' + b'/'.join(parts[:k]))

def scan(rel):
    path = os.path.join(src, rel) if rel else src
    entries = sorted(os.scandir(path), key=lambda e: e.name)
    if rel and not entries:
        add(place(rel), rel)
    for e in entries:
        r = os.path.join(rel, e.name) if rel else e.name
        if e.is_dir(follow_symlinks=False):
            scan(r)
            continue
        st = e.stat(follow_symlinks=False)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            l = group.setdefault(st.st_ino, None)
            if l is None:
                l = group[st.st_ino] = place(r)
        else:
            l = place(r)
        add(l, r)

scan(b'')
for i, names in enumerate(lists):
    with open(os.path.join(out, b'l%03d.list' % i), 'wb') as f:
        f.write(b''.join(p + b'\0' for p in sorted(names)))
PY
                for i in $(seq -f '%03g' 0 $((n - 1))); do
                        mkdir "$tmp/l$i"
                        tar -C "$tmp/merged" -cf - --no-recursion --null --verbatim-files-from -T "$tmp/l$i.list" \
                                -S --xattrs --xattrs-include='*' --acls --numeric-owner |
                                tar -C "$tmp/l$i" -xpf - --xattrs --xattrs-include='*' --acls --numeric-owner
                        rm "$tmp/l$i.list"
                done
                sync -f "$tmp"
                mv -T "$tmp" "$dir"
        fi
        printf '%s\n' "$dir/merged" "$dir"/l[0-9]*
}

# mib_layers N: prints the paths of N layers (cached), bottom first, each with one distinct 1 MiB
# file data/file-I and an overriding shared/layer.
mib_layers() {
        local n=$1 dir=$BENCH_CACHE/mib-$1 tmp
        if [ ! -d "$dir" ]; then
                mkdir -p "$BENCH_CACHE"
                tmp=$(mktemp -d "$BENCH_CACHE/.mib.XXXXXX")
                python3 - "$tmp" "$n" <<'PY'
import os, sys
out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    l = os.path.join(out, 'l%04d' % i)
    os.makedirs(os.path.join(l, 'data'))
    os.makedirs(os.path.join(l, 'shared'))
    with open(os.path.join(l, 'data', 'file-%04d' % i), 'wb') as f:
        f.write(('layer %04d: 1 MiB of its own data\n' % i).encode().ljust(64, b'.') * 16384)
    with open(os.path.join(l, 'shared', 'layer'), 'w') as f:
        f.write('layer %d\n' % i)
PY
                sync -f "$tmp"
                mv -T "$tmp" "$dir"
        fi
        printf '%s\n' "$dir"/l*
}

# baseline_walks MERGED: cold then warm best-of-3 walk times of a bare 1-lower overlay of MERGED.
baseline_walks() {
        mkdir -p "$SCRATCH/upper" "$SCRATCH/work" "$SCRATCH/mnt"
        mount -t overlay overlay -o "lowerdir=$1,upperdir=$SCRATCH/upper,workdir=$SCRATCH/work,index=off" "$SCRATCH/mnt"
        best_of 5 drop_caches walk "$SCRATCH/mnt"
        walk "$SCRATCH/mnt" >/dev/null
        best_of 3 : walk10 "$SCRATCH/mnt"
        umount "$SCRATCH/mnt"
}
# bare_overlay LAYERDIR: as in overlay.sh (relative lowerdir names, so the options fit in a page).
bare_overlay() {
        local lower
        lower=$(cd "$1" && ls | sort -r | paste -sd:)
        mkdir -p "$SCRATCH/bare/upper" "$SCRATCH/bare/work" "$SCRATCH/bare/mnt"
        (cd "$1" && mount -t overlay overlay \
                -o "lowerdir=$lower,upperdir=$SCRATCH/bare/upper,workdir=$SCRATCH/bare/work,index=off" "$SCRATCH/bare/mnt")
        umount "$SCRATCH/bare/mnt"
        rm -rf "$SCRATCH/bare"
}
bare_500() { best_of 5 : bare_overlay "$1"; }

# Which stacks: `layers` is what a build without --stack does.
stacks=(layers)
if ! "$OVLBACKEND" assemble --help 2>&1 | grep -q -- '--stack='; then
        echo "meta: not available in this build"
        layers_stack=
elif [ "$("$OVLBACKEND" -q probe --json "$BENCH_DIR" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("meta_stack", {}).get("supported", True))' 2>/dev/null)" = False ]; then
        echo "meta: not supported by this kernel (probe: meta_stack)"
        layers_stack=layers
else
        stacks=(meta layers)
        layers_stack=layers
fi
# stack_arg STACK: what assemble gets for STACK ("" for layers in a build without --stack).
stack_arg() { if [ "$1" = layers ]; then echo "$layers_stack"; else echo "$1"; fi; }

mkdir -p "$SCRATCH"
"$OVLBACKEND" -q gc >/dev/null
mapfile -t tiny < <(tiny_layers 500)
cycle "$(stack_arg layers)" "${tiny[0]}" # a fresh work dir probes the kernel once: not timed here
report_header

# 1. The Debian tree over 100 layers: stat walks.
declare -A cold warm first
if mapfile -t split < <(debian_split 100) && [ "${#split[@]}" = 101 ]; then
        merged=${split[0]}
        layers=("${split[@]:1}")
        tar -cf /dev/null "${split[@]}" 2>/dev/null
        read -r base_cold base_warm < <(in_private_ns baseline_walks "$merged" | paste -sd' ')
        rm -rf "${SCRATCH:?}"/*
        want=$(listing "$merged")
        for s in "${stacks[@]}"; do
                "$OVLBACKEND" -q gc >/dev/null
                first[$s]=$(best_of 1 destroy_r assemble_checked "$(stack_arg "$s")" "$R" "${layers[@]}")
                [ "$(listing "$R")" = "$want" ] ||
                        echo "overlay meta: warning: the $s stack of the 100 layers differs from the merged tree" >&2
                cold[$s]=$(best_of 5 drop_caches walk "$R")
                walk "$R" >/dev/null
                warm[$s]=$(best_of 3 : walk10 "$R")
                destroy_r
        done
        for s in "${stacks[@]}"; do
                goal_cold=- goal_warm=-
                [ "$s" != meta ] || { goal_cold=1.3; goal_warm=1.2; }
                report "overlay $s: Debian/100 walk, cold" "${cold[$s]}" "$base_cold" "bare 1-lower overlay, cold" "$goal_cold"
                report "overlay $s: Debian/100 walk, warm" "${warm[$s]}" "$base_warm" "bare 1-lower overlay, warm" "$goal_warm"
        done
        [ "${#stacks[@]}" = 1 ] ||
                report "overlay meta: Debian/100, first" "${first[meta]}" "${first[layers]}" "--stack=layers, first" -
else
        echo "overlay meta: Debian/100: skipped (debootstrap could not build the fixture)"
fi

# 2. 1200 layers of 1 MiB: first and cached assemble, the work dir's disk.
mapfile -t mib < <(mib_layers 1200)
data=$(du -s -B1 --exclude=shared "$(dirname "${mib[0]}")" | cut -f1)
declare -A cached bytes
for s in "${stacks[@]}"; do
        "$OVLBACKEND" -q gc >/dev/null
        first[$s]=$(best_of 1 drop_caches assemble_checked "$(stack_arg "$s")" "$R" "${mib[@]}")
        bytes[$s]=$(work_bytes)
        cached[$s]=$(best_of 3 destroy_r2 assemble "$(stack_arg "$s")" "$R2" "${mib[@]}")
        destroy "$R2" "$R"
done
"$OVLBACKEND" -q gc >/dev/null
if [ "${#stacks[@]}" = 2 ]; then
        report "overlay meta: 1200x1MiB, first" "${first[meta]}" "${first[layers]}" "--stack=layers, first" -
        report "overlay meta: 1200x1MiB, cached" "${cached[meta]}" "${cached[layers]}" "--stack=layers, cached" -
        report "overlay meta: 1200x1MiB, cached" "${cached[meta]}" "${first[meta]}" "--stack=meta, first" -
        report_size "overlay meta: 1200x1MiB, work dir" "${bytes[meta]}" "$data" "the layers' file data" "< 16 MiB"
fi
report "overlay layers: 1200x1MiB, cached" "${cached[layers]}" "${first[layers]}" "--stack=layers, first" -
report_size "overlay layers: 1200x1MiB, work dir" "${bytes[layers]}" "$data" "the layers' file data" -

# 3. 500 tiny layers: cached assemble + destroy vs a bare mount.
tar -cf /dev/null "${tiny[@]}" 2>/dev/null
base=$(in_private_ns bare_500 "$(dirname "${tiny[0]}")")
for s in "${stacks[@]}"; do
        cycle "$(stack_arg "$s")" "${tiny[@]}" # the caches, built once
        ours=$(best_of 5 destroy_r cycle "$(stack_arg "$s")" "${tiny[@]}")
        report "overlay $s: 500 assemble+destroy" "$ours" "$base" "bare mount+umount" -
done
