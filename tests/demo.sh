#!/usr/bin/env bash
# `make demo` works: the README's first command must not rot.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setfattr setfacl python3
out=$(OVLBACKEND_DEMO_DIR="$TEST_TMP/demo" bash "$OVL_TESTS_SRCDIR/../examples/demo.sh" 2>&1) || fail "demo failed: $out"
assert_contains "$out" "assembled"
assert_contains "$out" "destroyed"
assert_absent "$TEST_TMP/demo"
echo "PASS: demo"
