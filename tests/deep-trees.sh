#!/usr/bin/env bash
# Deep directory trees. A container that nests 12,000 directories in its copy rootfs cannot make
# it undeletable: destroy removes it with a handful of fds, even under `ulimit -n 64`. A layer
# deeper than the merge walker's limit (OVL_MERGE_MAX_DEPTH, 1024 directory levels) is bad input:
# exit 2, one line naming the limit, nothing left beside R or in the work dir, and R stays free
# for the next assemble. A layer exactly at the limit assembles.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3 mount
enter_private_mountns "$@"

MAX_DEPTH=1024 # OVL_MERGE_MAX_DEPTH, backends/merge.h

# Layers and rootfs on a tmpfs of this test's mount namespace: tens of thousands of directories
# are made and removed in memory, in seconds, whatever the disk is doing. Mode 0700, like
# TEST_TMP: no other user can reach a rootfs below it.
FS=$TEST_TMP/fs
mkdir "$FS"
mount -t tmpfs -o mode=0700 tmpfs "$FS"

# make_deep DIR LEVELS: DIR/a/a/.../a with LEVELS directories, the file "leaf" (holding "deep")
# in the last one. Walked with fds, one level at a time, as a container would: no path grows.
make_deep() {
        python3 - "$1" "$2" <<'PY'
import os, sys
root, levels = sys.argv[1], int(sys.argv[2])
os.makedirs(root, exist_ok=True)
fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
for _ in range(levels):
    os.mkdir("a", dir_fd=fd)
    child = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = child
leaf = os.open("leaf", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
os.write(leaf, b"deep\n")
os.close(leaf)
os.close(fd)
PY
}

# deep_path LEVELS: "a/a/.../a" with LEVELS names.
deep_path() {
        local p
        p=$(printf 'a/%.0s' $(seq "$1"))
        printf '%s' "${p%/}"
}

assert_no_records() {
        run_ovl 0 list --json
        python3 -c 'import json, sys; r = json.loads(sys.argv[1])["rootfs"]; assert r == [], r' "$OUT" ||
                fail "list still shows: $OUT"
}

assert_nothing_beside() {
        [ -z "$(ls -A "$1")" ] || fail "left in $1: $(ls -A "$1")"
}

SMALL=$FS/small
mkdir -p "$SMALL/etc"
echo hello >"$SMALL/etc/motd"

# --- a. A container nests 12,000 directories inside its copy rootfs ------------------------------
# Every rootfs lives in a directory of its own, where "nothing left beside R" is easy to see.
mkdir "$FS/a"
R=$FS/a/rootfs
run_ovl 0 assemble --backend=copy --rootfs="$R" "$SMALL"
make_deep "$R/home/deep" 12000
run_ovl 0 destroy "$R"
assert_absent "$R"
assert_nothing_beside "$FS/a"
assert_no_records
assert_workdir_clean

# The same under an open-file limit of 64 (soft and hard: ovlbackend cannot raise it): removal
# needs a bounded number of fds, not one per level.
run_ovl 0 assemble --backend=copy --rootfs="$R" "$SMALL"
make_deep "$R/home/deep" 12000
(
        ulimit -n 64
        run_ovl 0 destroy "$R"
)
assert_absent "$R"
assert_nothing_beside "$FS/a"
assert_no_records
assert_workdir_clean

# --- b. A layer 10,000 directories deep is refused, and leaves nothing --------------------------
DEEP=$FS/layer-10000
make_deep "$DEEP" 10000
mkdir "$FS/b"
R=$FS/b/rootfs
run_ovl 2 assemble --backend=copy --rootfs="$R" "$DEEP"
assert_one_line "$ERR"
assert_contains "$ERR" "ovlbackend: layer $DEEP: a/a/a/"
assert_contains "$ERR" "deeper than $MAX_DEPTH directory levels (ovlbackend's limit)"
assert_absent "$R"
assert_nothing_beside "$FS/b" # no .rootfs.*.ovlbackend-tmp scratch
assert_no_records
assert_workdir_clean
# R is free again: a normal layer assembles there.
run_ovl 0 assemble --backend=copy --rootfs="$R" "$SMALL"
assert_file_content "$R/etc/motd" hello
run_ovl 0 destroy "$R"

# --- c. A layer exactly at the limit assembles; one level more is refused ------------------------
make_deep "$FS/layer-max" "$MAX_DEPTH"
mkdir "$FS/c"
R=$FS/c/rootfs
run_ovl 0 assemble --backend=copy --rootfs="$R" "$FS/layer-max" "$SMALL"
assert_file_content "$R/$(deep_path "$MAX_DEPTH")/leaf" deep
assert_file_content "$R/etc/motd" hello
run_ovl 0 destroy "$R"
assert_absent "$R"

make_deep "$FS/layer-over" $((MAX_DEPTH + 1))
run_ovl 2 assemble --backend=copy --rootfs="$R" "$FS/layer-over"
assert_one_line "$ERR"
assert_contains "$ERR" "ovlbackend: layer $FS/layer-over: a/a/a/"
assert_contains "$ERR" "deeper than $MAX_DEPTH directory levels (ovlbackend's limit)"
assert_absent "$R"
assert_nothing_beside "$FS/c"
assert_no_records
assert_workdir_clean
echo "PASS: deep trees are destroyed with few fds; too deep a layer is refused cleanly"
