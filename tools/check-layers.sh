#!/bin/sh
# check-layers.sh [SRCDIR]: checks that #include "dir/x.h" lines follow the architecture's layers.
#
# A file may include headers of its own folder and of any folder of a lower rank, never of a higher
# rank or of another folder of the same rank (namespaces/ and state/ are siblings that stay apart).
# Folders missing from the table are not checked (tests/, fuzz/, tests/helpers/ may include
# anything); an include into a folder missing from the table is reported. Includes without a folder
# ("config.h", "internal.h") are the file's own folder or the build's, and are fine.
# Prints one line per violation and exits 1 if there is any.

# The layers, top first: folder rank.
LAYERS='
cli 5
lifecycle 4
backends 3
probe 2
namespaces 1
state 1
common 0
'

set -eu
srcdir=${1:-$(dirname "$0")/..}
cd "$srcdir"

folders=$(printf '%s\n' "$LAYERS" | awk 'NF == 2 { print $1 }')

# The files to check: what git knows (tracked, or new and not ignored), else, in a tarball, what is there.
set -f
if [ -e .git ] && command -v git >/dev/null 2>&1; then
        patterns=
        for d in $folders; do
                patterns="$patterns $d/*.c $d/*.h"
        done
        # shellcheck disable=SC2086
        files=$(git ls-files --cached --others --exclude-standard -- $patterns)
else
        # shellcheck disable=SC2086
        files=$(find $folders -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | LC_ALL=C sort)
fi
set +f
existing=
for f in $files; do
        [ -f "$f" ] && existing="$existing $f"
done
[ -n "$existing" ] || { echo "check-layers: no sources found under $srcdir" >&2; exit 1; }

# shellcheck disable=SC2086,SC2016
awk -v layers="$LAYERS" '
BEGIN {
        n = split(layers, l, "\n")
        for (i = 1; i <= n; i++)
                if (split(l[i], kv, " ") == 2)
                        rank[kv[1]] = kv[2]
        bad = 0
}
FNR == 1 {
        nfiles++
        dir = FILENAME
        sub(/\/.*/, "", dir)
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
        inc = $0
        sub(/^[^"]*"/, "", inc)
        sub(/".*/, "", inc)
        if (inc !~ /\//)
                next
        to = inc
        sub(/\/.*/, "", to)
        if (to == dir)
                next
        if (!(to in rank)) {
                printf "%s: includes %s (rank %s -> a folder outside the layers)\n", FILENAME, inc, rank[dir]
                bad++
        } else if (rank[to] >= rank[dir]) {
                printf "%s: includes %s (rank %s -> rank %s)\n", FILENAME, inc, rank[dir], rank[to]
                bad++
        }
}
END {
        if (bad) {
                printf "check-layers: %d include(s) against the layers (cli > lifecycle > backends > probe > namespaces, state > common)\n", bad > "/dev/stderr"
                exit 1
        }
        printf "check-layers: %d files, every include follows the layers\n", nfiles
}' $existing
