#!/usr/bin/env bash
# Bad input against every backend (the command-line cases are in cli-bad-input.sh): each gives a
# clear message and the documented exit code, writes nothing outside R, and leaves nothing behind.
# Odd but valid input (a layer given twice, paths with , : \ and spaces, a 0/0 device in an AUFS
# layer, an empty layer) gives the same tree with copy and overlay.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3 findmnt
require_overlayfs
enter_private_mountns "$@"

tried=0
L=$TEST_TMP/layer
mkdir -p "$L/etc" "$TEST_TMP/empty"
echo x >"$L/etc/file"
R=$TEST_TMP/rootfs
BEFORE=$(findmnt -rn -o TARGET | sort)
snapshot() { find "$TEST_TMP" \( -path "$OVLBACKEND_WORK_DIR" -o -path "$TEST_TMP/stdout" -o -path "$TEST_TMP/stderr" \) -prune -o -print | sort; }

# refused EXIT MESSAGE-PART ARGS...: refused with one line, nothing new anywhere.
refused() {
        local code=$1 part=$2 before
        shift 2
        before=$(snapshot)
        run_ovl "$code" "$@"
        assert_one_line "$ERR"
        assert_contains "$ERR" "$part"
        [ "$(snapshot)" = "$before" ] || fail "$* left something: $(diff <(echo "$before") <(snapshot))"
        [ "$(findmnt -rn -o TARGET | sort)" = "$BEFORE" ] || fail "$* left a mount"
        run_ovl 0 gc
        assert_workdir_clean
        tried=$((tried + 1))
}

long_name=$(printf 'n%.0s' $(seq 256))
deep=$TEST_TMP$(printf '/%s' $(for _ in $(seq 20); do printf 'd%.0s' $(seq 250); done))
mkdir -p "$TEST_TMP/mp"
mount -t tmpfs mine "$TEST_TMP/mp"
echo keep >"$TEST_TMP/mp/keep"
BEFORE=$(findmnt -rn -o TARGET | sort)
mkdir -p "$TEST_TMP/malformed"
: >"$TEST_TMP/malformed/.wh.."
for backend in copy bind overlay; do
        refused 1 "rootfs $TEST_TMP/$long_name: File name too long" assemble --backend=$backend --rootfs="$TEST_TMP/$long_name" "$L"
        refused 2 "/r: parent directory: File name too long" assemble --backend=$backend --rootfs="$deep/r" "$L"
        refused 2 "rootfs $TEST_TMP/mp: is a mount point" assemble --backend=$backend --rootfs="$TEST_TMP/mp" "$L"
        assert_file_content "$TEST_TMP/mp/keep" keep
        refused 2 "lies inside layer $L" assemble --backend=$backend --rootfs="$L/etc/r" "$L"
        refused 2 "layer $TEST_TMP/missing: No such file or directory" assemble --backend=$backend --rootfs="$R" "$TEST_TMP/missing"
done
refused 1 "layer $TEST_TMP/malformed: .wh..: malformed whiteout" assemble --backend=copy --rootfs="$R" "$L" "$TEST_TMP/malformed"
refused 1 "layer $TEST_TMP/malformed: .wh..: malformed whiteout" assemble --backend=overlay --rootfs="$R" "$L" "$TEST_TMP/malformed"
refused 2 "backend bind: takes exactly one layer, 2 given" assemble --backend=bind --rootfs="$R" "$L" "$L"
mkdir -p "$TEST_TMP/withwh"
: >"$TEST_TMP/withwh/.wh.foo"
refused 2 "holds a whiteout marker (.wh.foo)" assemble --backend=bind --rootfs="$R" "$TEST_TMP/withwh"
refused 1 "layer $TEST_TMP/malformed: .wh..: malformed whiteout" assemble --backend=bind --rootfs="$R" "$TEST_TMP/malformed"
mkdir -p "$TEST_TMP/many"
(cd "$TEST_TMP/many" && mkdir $(seq 1000 1500))
refused 3 "the kernel stacks at most" assemble --backend=overlay --no-flatten --rootfs="$R" "$TEST_TMP"/many/* "$L"
umount "$TEST_TMP/mp"
BEFORE=$(findmnt -rn -o TARGET | sort)

# Odd but valid: the same tree from copy and overlay, and what the rules say.
odd="$TEST_TMP/odd, :\\ dir"
mkdir -p "$odd/l0/d" "$odd/l1/d"
echo base >"$odd/l0/d/gone"
echo base >"$odd/l0/d/kept"
echo top >"$odd/l1/d/new"
mknod "$odd/l1/d/gone" c 0 0 # an overlay-style whiteout in a layer that is otherwise AUFS-style
: >"$odd/l1/.wh.nothing-below"
for backend in copy overlay; do
        run_ovl 0 assemble --backend=$backend --rootfs="$TEST_TMP/odd-$backend" \
                "$odd/l0" "$TEST_TMP/empty" "$L" "$odd/l1" "$L"
        assert_absent "$TEST_TMP/odd-$backend/d/gone"
        assert_file_content "$TEST_TMP/odd-$backend/d/kept" base
        assert_file_content "$TEST_TMP/odd-$backend/etc/file" x
        [ -z "$(find "$TEST_TMP/odd-$backend" -name '.wh.*')" ] || fail "$backend: a marker shows"
        tried=$((tried + 1))
done
diff <(manifest "$TEST_TMP/odd-copy" --dir-mtime | tail -n +2) <(manifest "$TEST_TMP/odd-overlay" --dir-mtime | tail -n +2) >&2 ||
        fail "odd input: overlay and copy differ"
run_ovl 0 assemble --backend=bind --rootfs="$TEST_TMP/odd-bind" "$odd/l0"
assert_file_content "$TEST_TMP/odd-bind/d/kept" base
for backend in copy overlay bind; do run_ovl 0 destroy "$TEST_TMP/odd-$backend"; done
run_ovl 0 gc
assert_workdir_clean
[ "$(findmnt -rn -o TARGET | sort)" = "$BEFORE" ] || fail "mounts left at the end"
echo "bad or odd inputs tried against the backends: $tried"
echo "PASS: bad input refused cleanly by every backend; odd input gives the same tree"
