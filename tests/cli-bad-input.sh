#!/usr/bin/env bash
# Bad command lines and bad input: each exits 2 with one line naming the object and the cause,
# and leaves nothing behind (no rootfs, no record, no lock file, no scratch).
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root

L=$TEST_TMP/layer
mkdir -p "$L/etc" "$TEST_TMP/nonempty"
echo x >"$L/etc/file"
echo y >"$TEST_TMP/nonempty/f"
echo z >"$TEST_TMP/afile"
ln -s "$L" "$TEST_TMP/layerlink"
R=$TEST_TMP/rootfs

# expect_bad EXIT MESSAGE-PART ARGS...
expect_bad() {
        local code=$1 part=$2
        shift 2
        run_ovl "$code" "$@"
        assert_one_line "$ERR"
        assert_contains "$ERR" "ovlbackend: "
        assert_contains "$ERR" "$part"
        [ -z "$OUT" ] || fail "nothing expected on stdout for $*, got: $OUT"
        assert_absent "$R"
        assert_workdir_clean
        ls -A "$TEST_TMP" | grep -q '\.ovlbackend-tmp' && fail "scratch left behind by: $*"
        return 0
}

expect_bad 2 "backend nope: unknown backend (known: copy" assemble --backend=nope --rootfs="$R" "$L"
expect_bad 2 "layer $TEST_TMP/missing: No such file or directory" assemble --backend=copy --rootfs="$R" "$TEST_TMP/missing"
expect_bad 2 "layer $TEST_TMP/afile: Not a directory" assemble --backend=copy --rootfs="$R" "$TEST_TMP/afile"
expect_bad 2 "layer $TEST_TMP/layerlink: is a symbolic link" assemble --backend=copy --rootfs="$R" "$TEST_TMP/layerlink"
expect_bad 2 "no layers given" assemble --backend=copy --rootfs="$R"
expect_bad 2 "--backend=NAME is required" assemble --rootfs="$R" "$L"
expect_bad 2 "--rootfs=DIR is required" assemble --backend=copy "$L"
expect_bad 2 "unknown option" assemble --backend=copy --rootfs="$R" --bogus "$L"
expect_bad 2 "not both" assemble --backend=copy --rootfs="$R" --layers-from=- "$L"
expect_bad 2 "layer list $TEST_TMP/nolist: No such file or directory" assemble --backend=copy --rootfs="$R" --layers-from="$TEST_TMP/nolist"
expect_bad 2 "rootfs $TEST_TMP/nodir/r: parent directory: No such file or directory" assemble --backend=copy --rootfs="$TEST_TMP/nodir/r" "$L"
expect_bad 2 "lies inside layer $L" assemble --backend=copy --rootfs="$L/etc/r" "$L"
expect_bad 2 "backend copy: does not take --read-only" assemble --backend=copy --read-only --rootfs="$R" "$L"
for n in 0 65 -1 x 2x ""; do
        expect_bad 2 "--jobs: expected a number from 1 to 64" assemble --backend=copy --jobs="$n" --rootfs="$R" "$L"
done
expect_bad 2 "backend bind: does not take --jobs" assemble --backend=bind --jobs=2 --rootfs="$R" "$L"
expect_bad 2 "--stack: expected auto, layers or meta" assemble --backend=overlay --stack=deep --rootfs="$R" "$L"
expect_bad 2 "backend copy: does not take --stack" assemble --backend=copy --stack=meta --rootfs="$R" "$L"
expect_bad 2 "unknown command" frobnicate
expect_bad 2 "no command given" 
expect_bad 2 "too many operands" destroy a b
expect_bad 2 "missing operand" destroy

# A non-empty rootfs and a rootfs that is a file are refused and left exactly as they were.
run_ovl 2 assemble --backend=copy --rootfs="$TEST_TMP/nonempty" "$L"
assert_contains "$ERR" "rootfs $TEST_TMP/nonempty: Directory not empty"
assert_file_content "$TEST_TMP/nonempty/f" y
[ "$(ls -A "$TEST_TMP/nonempty")" = f ] || fail "non-empty rootfs was changed"
run_ovl 2 assemble --backend=copy --rootfs="$TEST_TMP/afile" "$L"
assert_contains "$ERR" "exists and is not a directory"
assert_file_content "$TEST_TMP/afile" z
assert_workdir_clean

# A layer list with a NUL byte is bad input; a good one from stdin works.
printf '%s\0\n' "$L" >"$TEST_TMP/nul.list"
expect_bad 2 "contains a NUL byte" assemble --backend=copy --rootfs="$R" --layers-from="$TEST_TMP/nul.list"
printf '%s\n\n' "$L" | "$OVLBACKEND" -q assemble --backend=copy --rootfs="$R" --layers-from=- ||
        fail "assemble with --layers-from=- failed"
assert_file_content "$R/etc/file" x

# Help and version describe the contract.
run_ovl 0 --help
for word in assemble destroy list gc probe "Exit codes" "bottom first" --work-dir; do
        assert_contains "$OUT" "$word"
done
run_ovl 0 assemble --help
assert_contains "$OUT" "--layers-from=FILE"
for cmd in destroy list gc probe; do
        run_ovl 0 "$cmd" --help
        assert_contains "$OUT" "Usage: ovlbackend $cmd"
done
run_ovl 0 --version
assert_contains "$OUT" "ovlbackend "
echo "PASS: bad input refused cleanly"
