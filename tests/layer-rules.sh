#!/usr/bin/env bash
# Every rule of the OCI image-spec's layer.md, one small scenario each, written in every whiteout
# format (AUFS, overlayfs devices with trusted. and user. opaque xattrs, the 6.7+ xattr whiteouts,
# and a lower format under another upper one): the copy backend, the overlay backend with each
# lower stack of OVL_STACKS (default "layers meta") and, for AUFS whiteouts, umoci give exactly the
# tree written down by hand in the scenario; the overlay view equals the copy entry by entry; the
# layers are never touched. Prints a table of every scenario, format and backend, and fails at the
# end when any differs.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3 setfattr getfattr findmnt mknod
require_overlayfs
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/layer-rules.sh"
. "$OVL_TESTS_SRCDIR/lib/oci.sh"

# ---- The scenarios: layers bottom first, then the tree layer.md says they give. ----

sc_file_added() {
        lr_layers 2
        lr_layer 0
        lr_file a a0
        lr_file d/x x0
        lr_layer 1
        lr_file b b1
        lr_file d/y y1
        lr_expect <<'EOF'
/a f a0
/b f b1
/d d
/d/x f x0
/d/y f y1
EOF
}

sc_file_changed() {
        lr_layers 2
        lr_layer 0
        lr_file a a0
        lr_file d/x x0
        lr_file keep k0
        lr_layer 1
        lr_file a a1
        lr_file d/x x1
        lr_expect <<'EOF'
/a f a1
/d d
/d/x f x1
/keep f k0
EOF
}

sc_file_deleted() {
        lr_layers 2
        lr_layer 0
        lr_file a a0
        lr_file d/x x0
        lr_file d/y y0
        lr_file keep k0
        lr_layer 1
        lr_whiteout a
        lr_whiteout d/x
        lr_expect <<'EOF'
/d d
/d/y f y0
/keep f k0
EOF
}

# A whiteout of a directory takes all it holds.
sc_dir_deleted() {
        lr_layers 2
        lr_layer 0
        lr_file d/x x0
        lr_file d/sub/y y0
        lr_file d/sub/deep/z z0
        lr_file keep k0
        lr_layer 1
        lr_whiteout d
        lr_expect <<'EOF'
/keep f k0
EOF
}

# An opaque directory keeps the layer's own entries and hides all the lower ones.
sc_opaque_dir() {
        lr_layers 2
        lr_layer 0
        lr_file d/x x0
        lr_file d/sub/y y0
        lr_file e/z z0
        lr_layer 1
        lr_opaque d
        lr_file d/new n1
        lr_file e/w w1
        lr_expect <<'EOF'
/d d
/d/new f n1
/e d
/e/w f w1
/e/z f z0
EOF
}

# A whiteout of a name no lower layer has changes nothing, even in the bottom layer; its directory
# is the layer's own.
sc_whiteout_missing() {
        lr_layers 2
        lr_layer 0
        lr_file a a0
        lr_whiteout z
        lr_file m/k k0
        lr_whiteout m/z
        lr_layer 1
        lr_whiteout nothing
        lr_whiteout n/gone
        lr_expect <<'EOF'
/a f a0
/m d
/m/k f k0
/n d
EOF
}

# A name deleted in one layer and made again in a higher one is the new entry alone.
sc_whiteout_recreate() {
        lr_layers 3
        lr_layer 0
        lr_file a a0
        lr_file d/x x0
        lr_file d/sub/y y0
        lr_layer 1
        lr_whiteout a
        lr_whiteout d
        lr_file b b1
        lr_layer 2
        lr_file a a2
        lr_file d/n n2
        lr_whiteout b
        lr_expect <<'EOF'
/a f a2
/d d
/d/n f n2
EOF
}

# A higher entry of another type replaces the lower one whole; a directory over a symlink is not
# reached through the link.
sc_type_changes() {
        lr_layers 2
        lr_layer 0
        lr_file f2d f0
        lr_file d2f/x x0
        lr_file d2l/x x0
        lr_file real/r r0
        lr_symlink l2d real
        lr_symlink l2f real
        lr_layer 1
        lr_file f2d/c c1
        lr_file d2f d1
        lr_symlink d2l real
        lr_file l2d/c c1
        lr_file l2f l1
        lr_expect <<'EOF'
/d2f f d1
/d2l l -> real
/f2d d
/f2d/c f c1
/l2d d
/l2d/c f c1
/l2f f l1
/real d
/real/r f r0
EOF
}

# Opaque directories inside directories deleted and made again: p in the layer above, r in the
# same layer.
sc_opaque_in_recreated() {
        lr_layers 3
        lr_layer 0
        lr_file p/y y0
        lr_file p/q/x x0
        lr_file r/t t0
        lr_file r/s/x x0
        lr_layer 1
        lr_whiteout p
        lr_dir p
        lr_file p/q/m m1
        lr_file p/w w1
        lr_whiteout r
        lr_dir r
        lr_opaque r/s
        lr_file r/s/m m1
        lr_layer 2
        lr_opaque p/q
        lr_file p/q/n n2
        lr_expect <<'EOF'
/p d
/p/q d
/p/q/n f n2
/p/w f w1
/r d
/r/s d
/r/s/m f m1
EOF
}

# Whiteouts and an opaque marker in one directory (d), and a whiteout beside an opaque directory
# (e); the layer above deletes from the opaque directory.
sc_whiteout_opaque_same_dir() {
        lr_layers 3
        lr_layer 0
        lr_file d/x x0
        lr_file d/y y0
        lr_file d/sub/z z0
        lr_file e/x x0
        lr_file e/s/a a0
        lr_layer 1
        lr_opaque d
        lr_whiteout d/x
        lr_whiteout d/gone
        lr_file d/new n1
        lr_whiteout e/x
        lr_opaque e/s
        lr_file e/s/b b1
        lr_layer 2
        lr_whiteout d/new
        lr_file d/top t2
        lr_expect <<'EOF'
/d d
/d/top f t2
/e d
/e/s d
/e/s/b f b1
EOF
}

# Hard-link pairs: kept, one name deleted, one name replaced, and a new pair.
sc_hardlinks() {
        lr_layers 2
        lr_layer 0
        lr_file p1 p0
        lr_hardlink p2 p1
        lr_file q1 q0
        lr_hardlink q2 q1
        lr_file s1 s0
        lr_hardlink s2 s1
        lr_file d/h1 h0
        lr_hardlink d/h2 d/h1
        lr_layer 1
        lr_whiteout q2
        lr_file s2 s1
        lr_file r1 r1
        lr_hardlink r2 r1
        lr_expect <<'EOF'
/d d
/d/h1 f h0
/d/h2 f h0 link=/d/h1
/p1 f p0
/p2 f p0 link=/p1
/q1 f q0
/r1 f r1
/r2 f r1 link=/r1
/s1 f s0
/s2 f s1
EOF
}

# An opaque marker on a layer's root hides every layer below it.
sc_opaque_root() {
        lr_layers 2
        lr_layer 0
        lr_file a a0
        lr_file d/x x0
        lr_layer 1
        lr_opaque .
        lr_file c c1
        lr_expect <<'EOF'
/c f c1
EOF
}

# The same in the middle of the stack, with a layer above it; the opaque layer's own whiteouts hide
# nothing.
sc_opaque_root_middle() {
        lr_layers 3
        lr_layer 0
        lr_file a a0
        lr_file d/x x0
        lr_file g/gone g0
        lr_layer 1
        lr_opaque .
        lr_file c c1
        lr_file d/y y1
        lr_whiteout g/gone
        lr_layer 2
        lr_file e e2
        lr_whiteout c
        lr_expect <<'EOF'
/d d
/d/y f y1
/e f e2
/g d
EOF
}

# A layer that deletes foo and has a directory foo of its own (which deletes foo/bar): the lower
# foo is gone whole, the layer's own, empty, foo stays.
sc_whiteout_own_dir() {
        lr_layers 2
        lr_layer 0
        lr_file foo/bar bar0
        lr_file foo/baz baz0
        lr_layer 1
        lr_whiteout foo
        lr_dir foo
        lr_whiteout foo/bar
        lr_expect <<'EOF'
/foo d
EOF
}

# The same for non-directories: the layer's own entry of a name it deletes stays.
sc_whiteout_own_file() {
        lr_layers 2
        lr_layer 0
        lr_file x x0
        lr_file y/z z0
        lr_layer 1
        lr_whiteout x
        lr_file x x1
        lr_whiteout y
        lr_symlink y x
        lr_expect <<'EOF'
/x f x1
/y l -> x
EOF
}

SCENARIOS=(file_added file_changed file_deleted dir_deleted opaque_dir whiteout_missing whiteout_recreate
        type_changes opaque_in_recreated whiteout_opaque_same_dir hardlinks opaque_root opaque_root_middle
        whiteout_own_dir whiteout_own_file)
FORMATS=(aufs trusted user xattr aufs+trusted user+aufs)
read -r -a STACKS <<<"${OVL_STACKS:-layers meta}"
if ! "$OVLBACKEND" assemble --help 2>&1 | grep -q -- '--stack'; then
        echo "NOTE: assemble has no --stack: the overlay backend runs once, with its own stack, labelled layers"
        STACKS=(layers)
        NO_STACK_OPTION=1
fi
HAVE_UMOCI=0
if command -v umoci >/dev/null && command -v tar >/dev/null && command -v sha256sum >/dev/null; then
        HAVE_UMOCI=1
else
        echo "NOTE: no umoci (or tar, sha256sum): umoci not used as an oracle"
fi

# ---- The matrix. ----

LAYERS=$TEST_TMP/layers
for sc in "${SCENARIOS[@]}"; do
        for fmt in "${FORMATS[@]}"; do
                lr_build "$LAYERS/$sc/$fmt" "$fmt" "sc_$sc"
        done
done
# The layers' entries and every xattr (manifest leaves overlayfs' own out), to compare at the end.
layers_state() {
        manifest "$LAYERS" --dir-mtime
        getfattr -R -h -d -m - -e hex --absolute-names "$LAYERS" 2>/dev/null
}
layers_state >"$TEST_TMP/layers-before"
mounts_before=$(findmnt -rn -o TARGET | sort)

: >"$TEST_TMP/results"
MISMATCHES=0
declare -A SKIP_SAID=()

# result SCENARIO FORMAT BACKEND STATUS [WHAT DIFF-FILE]: records a row; a FAIL is said at once,
# with the difference.
result() {
        echo "$1 $2 $3 $4" >>"$TEST_TMP/results"
        [ "$4" = FAIL ] || return 0
        MISMATCHES=$((MISMATCHES + 1))
        echo "MISMATCH: scenario $1, format $2, backend $3: $5" >&2
        [ -z "${6:-}" ] || sed 's/^/        /' "$6" >&2
}

# assemble_rc ARGS...: runs ovlbackend assemble; sets RC, and ERR to its stderr.
assemble_rc() {
        RC=0
        "$OVLBACKEND" assemble "$@" >/dev/null 2>"$TEST_TMP/stderr" || RC=$?
        ERR=$(cat "$TEST_TMP/stderr")
}

# check_shape DIR: whether the tree at DIR is the scenario's oracle; the difference in $TEST_TMP/diff.
check_shape() {
        if ! lr_shape "$1" "$TEST_TMP/shape"; then
                cp "$TEST_TMP/shape" "$TEST_TMP/diff"
                return 1
        fi
        diff -u --label expected --label actual "$LAYERS/$sc/$fmt/expected" "$TEST_TMP/shape" >"$TEST_TMP/diff"
}

# same_as_copy DIR: whether DIR equals the copy backend's tree entry by entry (manifest.py, directory
# times included; the root directory's own entry left out: an overlay's root is its upper dir,
# made by us); the difference in $TEST_TMP/diff.
same_as_copy() {
        lr_manifest "$1" "$TEST_TMP/m-view" || { cp "$TEST_TMP/m-view" "$TEST_TMP/diff" && return 1; }
        diff -u --label copy --label "$backend" "$TEST_TMP/m-copy" "$TEST_TMP/m-view" >"$TEST_TMP/diff"
}

lr_inspect_start
start=$SECONDS
for sc in "${SCENARIOS[@]}"; do
        for fmt in "${FORMATS[@]}"; do
                dir=$LAYERS/$sc/$fmt
                layers=()
                n=$(find "$dir" -mindepth 1 -maxdepth 1 -name 'l[0-9]*' | wc -l)
                for ((i = 0; i < n; i++)); do layers+=("$dir/l$i"); done
                R=$TEST_TMP/R

                rm -f "$TEST_TMP/m-copy"
                assemble_rc --backend=copy --rootfs="$R" "${layers[@]}"
                if [ "$RC" != 0 ]; then
                        echo "$ERR" >"$TEST_TMP/diff"
                        result "$sc" "$fmt" copy FAIL "assemble exited $RC" "$TEST_TMP/diff"
                else
                        if check_shape "$R"; then result "$sc" "$fmt" copy ok; else
                                result "$sc" "$fmt" copy FAIL "tree differs from the expected one" "$TEST_TMP/diff"
                        fi
                        if ! lr_manifest "$R" "$TEST_TMP/m-copy"; then
                                result "$sc" "$fmt" copy FAIL "no manifest of the tree" "$TEST_TMP/m-copy"
                                rm -f "$TEST_TMP/m-copy"
                        fi
                        run_ovl 0 destroy "$R"
                fi

                for stack in "${STACKS[@]}"; do
                        backend=overlay:$stack
                        opt=(--stack="$stack")
                        [ -z "${NO_STACK_OPTION:-}" ] || opt=()
                        assemble_rc --backend=overlay "${opt[@]}" --rootfs="$R" "${layers[@]}"
                        if [ "$RC" = 3 ]; then
                                [ -n "${SKIP_SAID[$stack]:-}" ] || echo "SKIP: overlay stack $stack: not supported here: $ERR"
                                SKIP_SAID[$stack]=1
                                result "$sc" "$fmt" "$backend" skip
                                continue
                        fi
                        if [ "$RC" != 0 ]; then
                                echo "$ERR" >"$TEST_TMP/diff"
                                result "$sc" "$fmt" "$backend" FAIL "assemble exited $RC" "$TEST_TMP/diff"
                                continue
                        fi
                        if ! check_shape "$R"; then
                                result "$sc" "$fmt" "$backend" FAIL "tree differs from the expected one" "$TEST_TMP/diff"
                        elif [ -f "$TEST_TMP/m-copy" ] && ! same_as_copy "$R"; then
                                result "$sc" "$fmt" "$backend" FAIL "the view differs from the copy backend's tree" "$TEST_TMP/diff"
                        else
                                result "$sc" "$fmt" "$backend" ok
                        fi
                        run_ovl 0 destroy "$R"
                done

                # umoci reads OCI tar layers, which carry AUFS whiteouts only.
                if [ "$fmt" = aufs ] && [ "$HAVE_UMOCI" = 1 ]; then
                        umoci_rootfs "$TEST_TMP/oci-$sc" "$TEST_TMP/bundle-$sc" "${layers[@]}" >/dev/null
                        if check_shape "$UMOCI_ROOTFS"; then result "$sc" "$fmt" umoci ok; else
                                result "$sc" "$fmt" umoci FAIL "tree differs from the expected one" "$TEST_TMP/diff"
                        fi
                        rm -rf "$TEST_TMP/oci-$sc" "$TEST_TMP/oci-$sc.umoci.log" "$TEST_TMP/bundle-$sc"
                fi
        done
done
echo "matrix: ${#SCENARIOS[@]} scenarios x ${#FORMATS[@]} formats in $((SECONDS - start))s"

echo
printf '%-28s %-14s %-16s %s\n' scenario format backend result
while read -r sc fmt backend status; do
        printf '%-28s %-14s %-16s %s\n' "$sc" "$fmt" "$backend" "$status"
done <"$TEST_TMP/results"
echo

[ "$(findmnt -rn -o TARGET | sort)" = "$mounts_before" ] || fail "mounts left after destroy"
layers_state | diff -u "$TEST_TMP/layers-before" - >&2 || fail "the layers changed"
run_ovl 0 gc
assert_workdir_clean
[ "$MISMATCHES" = 0 ] || fail "$MISMATCHES of $(wc -l <"$TEST_TMP/results") results differ from layer.md (MISMATCH lines above)"
echo "PASS: ${#SCENARIOS[@]} layer.md scenarios in ${#FORMATS[@]} whiteout formats: every backend gives the expected tree"
