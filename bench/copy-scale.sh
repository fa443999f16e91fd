#!/usr/bin/env bash
# Copy backend scale: synthetic trees of 10k, 100k and 1M entries (files of 200-399 bytes, 100
# files a directory, 100 directories a top directory), each as 1 layer and as 100 layers (the
# files round-robin over the layers, each layer with the directories leading to its files: every
# directory is in every layer). ovlbackend copy (default --jobs) vs `cp -a` of the merged tree,
# warm cache, best of 3 (1M: best of 1): wall time and peak RSS (GNU time's %M: the peak of the
# largest single process, ovlbackend or the sandboxed worker it forks and waits for, not their
# sum). Prints a time ratio row each and a table (seconds, entries/s, MiB), writes
# $BENCH_DIR/scale.csv and, with gnuplot, $BENCH_DIR/scale.png (time and memory against entries).
# Every run writes to a fresh ext4 (fresh_ext4 in lib.sh: a sparse image in BENCH_DIR on a loop
# device, in a private mount namespace), the work dir on it too, so that no run follows the
# deletion of the previous one's tree. Without mkfs.ext4 or a loop device the runs go to BENCH_DIR,
# each after that deletion, as the output says.
# 1M is skipped with OVL_BENCH_QUICK=1 or without 10 GiB free (~4.5 GiB a copy of it on a 4 KiB
# block filesystem); building its cached trees once takes ~12 GiB more (and a while).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
private_mount_ns "$@"

CSV=$BENCH_DIR/scale.csv
S=$BENCH_DIR/scale-fs
human() { if [ "$1" -ge 1000000 ]; then echo "$(($1 / 1000000))M"; else echo "$(($1 / 1000))k"; fi; }
destroy_r() { "$OVLBACKEND" -q destroy "$R" 2>/dev/null || true; rm -rf "$R"; }

# Each run on a fresh ext4 of $mib MiB (6 KiB an entry, 1 GiB more), if there can be one.
if fresh_ext4 "$S" 1024; then
        trap 'drop_ext4 "$S"' EXIT
        export OVLBACKEND_WORK_DIR=$S/work
        reset_cp='fresh_ext4 "$S" "$mib"'
        reset_r=$reset_cp
        tidy=: # the next fresh_ext4 wipes it all
        where="to a fresh ext4 on a loop device each run"
else
        drop_ext4 "$S"
        echo "copy scale: no ext4 on a loop device: the copies go to $BENCH_DIR, each run after the deletion of the previous one's tree"
        S=$BENCH_DIR/scale
        mkdir -p "$S/rootfses"
        reset_cp='rm -rf "$CP"'
        reset_r=destroy_r
        tidy='rm -rf "$CP"; destroy_r'
        where="to $BENCH_DIR, each run after a deletion"
fi
R=$S/rootfses/rootfs
CP=$S/rootfses/cp

# scale_tree N: prints the directory (cached) holding one/l0, the tree of N entries, and
# many/l000 .. many/l099, the same split over 100 layers, and a file `entries`: N and the entry
# count of the 100 layers (every directory 100 times).
scale_tree() {
        local n=$1 dir=$BENCH_CACHE/scale-v1-$1 tmp
        if [ ! -d "$dir" ]; then
                mkdir -p "$BENCH_CACHE"
                tmp=$(mktemp -d "$BENCH_CACHE/.scale.XXXXXX")
                python3 - "$tmp" "$n" <<'PY'
import os, sys

out, n = sys.argv[1], int(sys.argv[2])
L = 100
leaves = max(1, n // 101)                       # 100 files a leaf directory
tops = (leaves + 99) // 100                     # 100 leaves a top directory
files = n - leaves - tops
one = os.path.join(out, 'one', 'l0')
many = [os.path.join(out, 'many', 'l%03d' % k) for k in range(L)]
for d in [one] + many:
    os.makedirs(d)
made = [None] * L                               # the last leaf made in each layer
many_entries = 0
flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
for j in range(leaves):
    rel = 'd%03d/d%05d' % (j // 100, j)
    if j % 100 == 0:
        os.mkdir(os.path.join(one, rel.split('/')[0]))
    os.mkdir(os.path.join(one, rel))
    for i in range(j * files // leaves, (j + 1) * files // leaves):
        k = i % L
        if made[k] != j:
            top = os.path.join(many[k], rel.split('/')[0])
            if not os.path.isdir(top):
                os.mkdir(top)
                many_entries += 1
            os.mkdir(os.path.join(many[k], rel))
            many_entries += 1
            made[k] = j
        data = (b'entry %d of the scale tree\n' % i) * 16
        data = data[:200 + i * 7919 % 200]
        for p in (os.path.join(one, rel, 'f%07d' % i), os.path.join(many[k], rel, 'f%07d' % i)):
            fd = os.open(p, flags, 0o644)
            os.write(fd, data)
            os.close(fd)
        many_entries += 1
with open(os.path.join(out, 'entries'), 'w') as f:
    f.write('%d %d\n' % (n, many_entries))
PY
                sync -f "$tmp"
                mv -T "$tmp" "$dir"
        fi
        echo "$dir"
}

# why_not_1m: prints why the 1M case is skipped (nothing if it is not).
why_not_1m() {
        local avail
        if [ "${OVL_BENCH_QUICK:-}" = 1 ]; then echo "OVL_BENCH_QUICK=1"; return; fi
        avail=$(($(df --output=avail -B1 "$BENCH_DIR" | tail -n 1) >> 30))
        [ "$avail" -ge 10 ] || { echo "$avail GiB free in $BENCH_DIR, 10 GiB needed"; return; }
        [ -d "$BENCH_CACHE/scale-v1-1000000" ] && return
        avail=$(($(df --output=avail -B1 "$BENCH_CACHE" | tail -n 1) >> 30))
        [ "$avail" -ge 20 ] || echo "$avail GiB free in $BENCH_CACHE, 20 GiB needed to build the cached trees"
}

sizes=(10000 100000)
why=$(why_not_1m)
[ -n "$why" ] || sizes+=(1000000)

report_header
echo "entries,layers,layer_entries,ovlbackend_s,ovlbackend_rss_mib,cp_s,cp_rss_mib" >"$CSV"
rows=()
for n in "${sizes[@]}"; do
        runs=3
        [ "$n" -lt 1000000 ] || runs=1
        mib=$((n * 6 / 1024 + 1024))
        dir=$(scale_tree "$n")
        read -r _ many_entries <"$dir/entries"
        warm "$dir"
        read -r base base_rss < <(best_of_rss "$runs" "$reset_cp" cp -a "$dir/one/l0" "$CP")
        eval "$tidy"
        for layers in 1 100; do
                if [ "$layers" = 1 ]; then
                        set -- "$dir/one/l0"
                        entries=$n
                else
                        set -- "$dir"/many/l*
                        entries=$many_entries
                fi
                read -r ours rss < <(best_of_rss "$runs" "$reset_r" "$OVLBACKEND" -q assemble --backend=copy --rootfs="$R" "$@")
                eval "$tidy"
                name="copy scale: $(human "$n") entries, $layers layer$([ "$layers" = 1 ] || echo s)"
                report "$name" "$ours" "$base" "cp -a of the merged tree" -
                # The memory too, as overlay-meta.sh writes sizes: MiB in the seconds columns.
                printf '%s,%.1f,%.1f,%s,%.4f,-\n' "$name, peak RSS (MiB)" \
                        "$(echo "$rss / 1024" | bc -l)" "$(echo "$base_rss / 1024" | bc -l)" "cp -a of the merged tree" \
                        "$(echo "$rss / $base_rss" | bc -l)" >>"$BENCH_CSV"
                printf '%s,%s,%s,%s,%.1f,%s,%.1f\n' "$n" "$layers" "$entries" "$ours" "$(echo "$rss / 1024" | bc -l)" \
                        "$base" "$(echo "$base_rss / 1024" | bc -l)" >>"$CSV"
                rows+=("$(printf '%8s %6s %9s | %8.3f %10.0f %7.1f | %8.3f %10.0f %7.1f' "$n" "$layers" "$entries" \
                        "$ours" "$(echo "$n / $ours" | bc -l)" "$(echo "$rss / 1024" | bc -l)" \
                        "$base" "$(echo "$n / $base" | bc -l)" "$(echo "$base_rss / 1024" | bc -l)")")
        done
done
[ -z "$why" ] || echo "copy scale: 1M entries: skipped ($why)"

echo
echo "copy scale: copies $where, default --jobs, best of 3 (1M: 1)"
echo "entries/s: entries of the merged tree a second; MiB: peak RSS (GNU time %M: the largest single"
echo "process of ovlbackend and the sandboxed worker it waits for, not their sum)"
printf '%8s %6s %9s | %8s %10s %7s | %8s %10s %7s\n' entries layers "layer ent" "copy s" entries/s MiB "cp -a s" entries/s MiB
printf '%s\n' "${rows[@]}"
echo "CSV: $CSV"
if command -v gnuplot >/dev/null; then
        for l in 1 100; do awk -F, -v l="$l" 'NR > 1 && $2 == l' "$CSV" | tr , ' ' >"$BENCH_DIR/scale-$l.dat"; done
        read -r n0 _ _ _ _ t0 _ < <(tail -n 1 "$BENCH_DIR/scale-1.dat") # linear through cp -a of the largest
        gnuplot <<GP
set terminal png size 1200,500
set output "$BENCH_DIR/scale.png"
set multiplot layout 1,2 title "ovlbackend copy vs cp -a of the merged tree (warm cache)"
set xlabel "entries"
set logscale x
set key left top
set logscale y
set ylabel "seconds"
set title "wall time"
plot "$BENCH_DIR/scale-1.dat" using 1:4 with linespoints title "copy, 1 layer", \
     "$BENCH_DIR/scale-100.dat" using 1:4 with linespoints title "copy, 100 layers", \
     "$BENCH_DIR/scale-1.dat" using 1:6 with linespoints title "cp -a", \
     $t0 * x / $n0 with lines dashtype 2 title "linear"
unset logscale y
set yrange [0:*]
set ylabel "MiB"
set title "peak RSS (GNU time %M)"
plot "$BENCH_DIR/scale-1.dat" using 1:5 with linespoints title "copy, 1 layer", \
     "$BENCH_DIR/scale-100.dat" using 1:5 with linespoints title "copy, 100 layers", \
     "$BENCH_DIR/scale-1.dat" using 1:7 with linespoints title "cp -a"
unset multiplot
GP
        echo "plot: $BENCH_DIR/scale.png"
else
        echo "plot: skipped (apt-get install gnuplot-nox for a PNG)"
fi
