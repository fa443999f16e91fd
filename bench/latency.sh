#!/usr/bin/env bash
# assemble + destroy latency for 1, 10, 100, 500 and 1200 tiny layers per backend (best of 3),
# each against a baseline measured in the same run: copy vs `cp -a` of the final tree, overlay vs a
# bare `mount -t overlay` + `umount` of the same lowers (up to the kernel's stack limit), bind (one
# layer) vs a bare `mount --bind` + `umount`. Writes $BENCH_DIR/latency.csv and, with gnuplot,
# $BENCH_DIR/latency.png (time against layer count, per backend).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

R=$BENCH_DIR/rootfs
M=$BENCH_DIR/mnt
CSV=$BENCH_DIR/latency.csv
destroy_r() { "$OVLBACKEND" -q destroy "$R" 2>/dev/null || true; rm -rf "$R"; }
cycle() { local backend=$1; shift; "$OVLBACKEND" -q assemble --backend="$backend" --rootfs="$R" "$@" && "$OVLBACKEND" -q destroy "$R"; }
bare_overlay() {
        mkdir -p "$BENCH_DIR/bare/upper" "$BENCH_DIR/bare/work" "$M"
        (cd "$1" && mount -t overlay overlay -o "lowerdir=$(ls | head -n "$2" | sort -r | paste -sd:),upperdir=$BENCH_DIR/bare/upper,workdir=$BENCH_DIR/bare/work,index=off" "$M")
        umount "$M"
        rm -rf "$BENCH_DIR/bare"
}
bare_bind() { mkdir -p "$M" && mount --bind -o ro "$1" "$M" && umount "$M"; }

report_header
echo "backend,layers,ovlbackend_s,baseline_s,baseline,ratio" >"$CSV"
row() { # BACKEND N OURS BASE BASE-NAME
        report "$1: $2 layers, assemble+destroy" "$3" "$4" "$5" -
        printf '%s,%s,%s,%s,%s,%.4f\n' "$1" "$2" "$3" "$4" "$5" "$(echo "$3 / $4" | bc -l)" >>"$CSV"
}
mapfile -t all < <(tiny_layers 1200)
dir=$(dirname "${all[0]}")
tar -cf /dev/null "${all[@]}" 2>/dev/null
max=$(("$OVLBACKEND" -q probe --json "$BENCH_DIR" 2>/dev/null || echo '{}') |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("max_layers", 0))')
for n in 1 10 100 500 1200; do
        layers=("${all[@]:0:$n}")
        "$OVLBACKEND" -q assemble --backend=copy --rootfs="$BENCH_DIR/final" "${layers[@]}"
        ours=$(best_of 3 destroy_r cycle copy "${layers[@]}")
        base=$(best_of 3 'rm -rf "$BENCH_DIR/cp"' cp -a "$BENCH_DIR/final" "$BENCH_DIR/cp")
        rm -rf "$BENCH_DIR/cp"
        "$OVLBACKEND" -q destroy "$BENCH_DIR/final"
        row copy "$n" "$ours" "$base" "cp -a of the final tree"
        if grep -qw overlay /proc/filesystems; then
                cycle overlay "${layers[@]}" # the glue and flattening caches, built once
                ours=$(best_of 3 destroy_r cycle overlay "${layers[@]}")
                if [ "$n" -le "$max" ]; then
                        base=$(best_of 3 : bare_overlay "$dir" "$n")
                        row overlay "$n" "$ours" "$base" "bare mount -t overlay"
                else
                        row overlay "$n" "$ours" "$ours" "(over the stack limit: none)"
                fi
        fi
        if [ "$n" = 1 ]; then
                row bind 1 "$(best_of 3 destroy_r cycle bind "${layers[0]}")" "$(best_of 3 : bare_bind "${layers[0]}")" \
                        "bare mount --bind -o ro"
        fi
done
"$OVLBACKEND" -q gc >/dev/null
echo "CSV: $CSV"
if command -v gnuplot >/dev/null; then
        for b in copy overlay; do grep "^$b," "$CSV" | cut -d, -f2,3 | tr , ' ' >"$BENCH_DIR/latency-$b.dat"; done
        gnuplot <<GP
set terminal png size 900,560
set output "$BENCH_DIR/latency.png"
set title "ovlbackend assemble+destroy latency (tiny layers, best of 3)"
set xlabel "layers"
set ylabel "seconds"
set logscale xy
set key left top
plot "$BENCH_DIR/latency-copy.dat" with linespoints title "copy", \
     "$BENCH_DIR/latency-overlay.dat" with linespoints title "overlay"
GP
        echo "plot: $BENCH_DIR/latency.png"
else
        echo "plot: skipped (apt-get install gnuplot-nox for a PNG)"
fi
