#!/usr/bin/env bash
# `make fuzz`: builds each libFuzzer target (clang, with ASan and UBSan) against the library's
# sources and runs it for FUZZ_SECONDS (default 60) from the seed corpus in fuzz/corpus/ (copied:
# the repository's corpus is never written). Prints executions per target; fails on any crash.
# Usage: run.sh SRCDIR BUILDDIR
set -euo pipefail
src=$1 build=$2 seconds=${FUZZ_SECONDS:-60}
cc=${FUZZ_CC:-clang}
command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
out=$build/fuzz
mkdir -p "$out"
mapfile -t lib < <(cd "$src" && ls common/*.c backends/*.c state/*.c lifecycle/*.c probe/*.c namespaces/*.c cli/*.c | grep -v '^cli/main.c$')
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I"$src" -I"$build" -include config.h)
libs=$(pkg-config --libs mount libcap libseccomp)
read -r -a cflags <<<"$(pkg-config --cflags mount libcap libseccomp)"
total=0
for target in classify layers_from record json_escape claim; do
        # shellcheck disable=SC2086 # libs is a word list
        "$cc" "${flags[@]}" "${cflags[@]}" "$src/fuzz/$target.c" "${lib[@]/#/$src/}" $libs -o "$out/$target"
        rm -rf "$out/corpus-$target"
        cp -r "$src/fuzz/corpus/$target" "$out/corpus-$target"
        "$out/$target" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
                -artifact_prefix="$out/crash-$target-" "$out/corpus-$target" >"$out/$target.log" 2>&1 || {
                tail -n 40 "$out/$target.log" >&2
                echo "fuzz: $target found a crash (artifact in $out)" >&2
                exit 1
        }
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$target.log")
        total=$((total + runs))
        printf 'fuzz: %-12s %10s executions in %ss, no crash\n' "$target" "$runs" "$seconds"
done
echo "fuzz: $total executions in all"
