#!/usr/bin/env bash
# The overlay backend's metadata stack (--stack=meta) on the real kernel, one case each, each
# printing an ok/FAIL line (the test fails at the end if any failed):
#  1. runc runs a container on a meta rootfs: it sees the top layer's files and not the deleted
#     ones, a file it writes lands in the rootfs's upper dir (from the --json record's scratch) and
#     in no layer; destroy leaves no mount, no record and no scratch;
#  2. layers whose files carry overlayfs' own xattrs (trusted.overlay.redirect to another layer's
#     file, to a decoy /etc/shadow and to ../../x; trusted.overlay.metacopy, origin, nlink; a
#     trusted.overlay.opaque value that is not a marker; user.overlay.redirect) look exactly as
#     the copy backend shows them, xattrs included: no redirect of a layer's is followed, none is
#     copied into the metadata layer (checked inside it, a stub tree or a mounted erofs image);
#  3. --read-only (writes fail with EROFS), --upper=tmpfs:SIZE (writes go to the tmpfs),
#     --volatile and --uidmap/--gidmap (owners shifted) each work with --stack=meta and show the
#     copy's tree;
#  4. rootless: --stack=meta is refused (exit 3, saying why) and --stack=auto with 9 layers takes
#     the layer stack;
#  5. gc: an assemble SIGKILLed while it builds the metadata layer leaves a half-built entry that
#     blocks no later assemble and that gc removes, as it removes stale .tmp-*/.lock-* entries;
#     an entry a rootfs uses is kept, an unused one removed;
#  6. concurrent builders of one image (started at once, and forced to overlap) all succeed and
#     share exactly one cache entry;
#  7. files at paths longer than 256 bytes, of about 3500 bytes, and (7b) at the length where a
#     redirect would reach PATH_MAX read back right, before and after a copy-up.
#  8. where the data is found: one data dir for layers below a common directory only root can
#     change, one data dir per layer (searched top first) when someone else owns it; past the
#     kernel's lower limit that is refused with --stack=meta (exit 3, saying why) and --stack=auto
#     takes the layer stack; the view equals the copy's each time;
#  9. an image whose metadata tree overflows its tmpfs (a test hook makes that small) is built on
#     disk and still ends as an erofs image, with the same view.
# The metadata layer is WORK/layers/meta-*: a directory of stubs, one holding an erofs image of
# them, or an image file; the cases accept any.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setfattr getfattr setfacl getfacl python3 findmnt pgrep flock timeout mknod
require_overlayfs
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/fixtures.sh"
. "$OVL_TESTS_SRCDIR/lib/meta-stack.sh"
# python3 resolved once: a version manager's shim in PATH would cost a fraction of a second a call.
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
python3() { "$PYTHON" "$@"; }

run_ovl 0 probe --json "$TEST_TMP/probe"
python3 -c 'import json, sys; sys.exit(0 if json.loads(sys.argv[1])["meta_stack"]["supported"] else 1)' "$OUT" ||
        skip "this kernel cannot stack metadata layers (probe: meta_stack no): $(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["meta_stack"])' "$OUT")"

mounts_now() { findmnt -rn -o TARGET | sort; }
BEFORE=$(mounts_now)

# ---- Helpers -----------------------------------------------------------------------------------

# json_get KEY: the top-level KEY of the JSON object in $OUT; a list one item a line.
json_get() {
        python3 -c '
import json, sys
v = json.loads(sys.argv[1]).get(sys.argv[2])
if isinstance(v, list):
    print("\n".join(map(str, v)))
elif isinstance(v, bool):
    print("true" if v else "false")
elif v is not None:
    print(v)' "$OUT" "$1"
}

# meta_assemble R OPTION_OR_LAYER...: an overlay assemble with --stack=meta and --json, which must
# succeed and say "stack":"meta".
meta_assemble() {
        local R=$1
        shift
        run_ovl 0 assemble --backend=overlay --stack=meta --json --rootfs="$R" "$@"
        [ "$(json_get stack)" = meta ] || fail "assemble --stack=meta of $R: stack is '$(json_get stack)': $OUT"
}

# upper_of: the upper dir among the scratch of the last --json assemble.
upper_of() { json_get scratch | grep '/upper$' || true; }

# Entries of the work dir's cache: complete metadata layers (directory or file), and the
# half-built or lock entries of a builder (names starting with a dot).
meta_entries() { find "$OVLBACKEND_WORK_DIR/layers" -mindepth 1 -maxdepth 1 -name 'meta-*' -printf '%f\n' 2>/dev/null | sort || true; }
dot_entries() { find "$OVLBACKEND_WORK_DIR/layers" -mindepth 1 -maxdepth 1 -name '.*' -printf '%f\n' 2>/dev/null | sort || true; }

# view DIR: the manifest of a tree without its root entry (an overlay's root is its upper dir),
# from inside it, so that paths up to PATH_MAX relative to it can be read.
view() { (cd "$1" && manifest . --dir-mtime | tail -n +2); }

# copy_ref NAME LAYER...: the copy backend's tree of the layers, as a manifest in $CASE_DIR/NAME.ref.
copy_ref() {
        local name=$1
        shift
        run_ovl 0 assemble --backend=copy --rootfs="$CASE_DIR/copy-$name" "$@"
        view "$CASE_DIR/copy-$name" >"$CASE_DIR/$name.ref"
        run_ovl 0 destroy "$CASE_DIR/copy-$name"
}

# same_as_copy NAME R: R shows exactly the copy backend's tree NAME.
same_as_copy() {
        diff -u "$CASE_DIR/$1.ref" <(view "$2") >&2 || fail "$2 differs from the copy backend's tree ($1)"
}

# case_end: the case's rootfses are gone: gc leaves its work dir clean and no mount is left.
case_end() {
        run_ovl 0 gc
        assert_workdir_clean
        [ "$(mounts_now)" = "$BEFORE" ] || fail "mounts left: $(diff <(echo "$BEFORE") <(mounts_now) | grep '^>')"
}

case_skip() {
        if [ "${OVLBACKEND_TESTS_MUST_RUN:-0}" = 1 ]; then fail "would skip, but OVLBACKEND_TESTS_MUST_RUN=1: $*"; fi
        echo "SKIP: $*"
        exit 77
}

state_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1 || true; }

# Nothing a case leaves may disturb the next: whatever rootfs is still recorded is destroyed.
tidy() {
        local work=$1 r left
        [ -d "$work" ] || return 0
        mapfile -t left < <(OVLBACKEND_WORK_DIR=$work "$OVLBACKEND" list --json 2>/dev/null |
                python3 -c 'import json, sys; [print(e["rootfs"]) for e in json.load(sys.stdin)["rootfs"]]' 2>/dev/null || true)
        for r in "${left[@]}"; do
                OVLBACKEND_WORK_DIR=$work timeout 60 "$OVLBACKEND" -q destroy "$r" >/dev/null 2>&1 ||
                        echo "NOTE: tidying up: destroy $r failed" >&2
        done
        OVLBACKEND_WORK_DIR=$work timeout 60 "$OVLBACKEND" -q gc >/dev/null 2>&1 || echo "NOTE: tidying up: gc failed" >&2
}

# kill_jobs: what a case started in the background and left running (a failed case) is killed,
# stopped or not, before the next (their workers die with them).
kill_jobs() {
        local j
        for j in $(jobs -p); do kill -9 "$j" 2>/dev/null || true; done
        for j in $(jobs -p); do wait "$j" 2>/dev/null || true; done
}

FAILED=()
SKIPPED=()
# run_case NAME FUNCTION: one case in a subshell with errexit, in its own scratch dir (CASE_DIR);
# prints ok/FAIL/SKIP with its time. The cases share the work dir (and so its probe, made once):
# each ends with it clean, and whatever a failed one left is destroyed before the next.
run_case() {
        local name=$1 fn=$2 rc start=$SECONDS
        CASE_DIR=$TEST_TMP/$fn
        mkdir -p "$CASE_DIR"
        echo "---- $name"
        set +e
        (
                set -eE
                trap 'echo "FAIL: command failed (exit $?): $BASH_COMMAND (at line $LINENO)" >&2' ERR
                trap kill_jobs EXIT
                "$fn"
        )
        rc=$?
        set -e
        tidy "$OVLBACKEND_WORK_DIR"
        for m in $(findmnt -rn -o TARGET | grep "^$CASE_DIR/" | sort -r || true); do umount -l "$m" || true; done
        case $rc in
        0) echo "ok   - $name ($((SECONDS - start)) s)" ;;
        77)
                echo "SKIP - $name"
                SKIPPED+=("$name")
                ;;
        *)
                echo "FAIL - $name ($((SECONDS - start)) s)"
                FAILED+=("$name")
                ;;
        esac
}

# ---- 1. runc on a meta rootfs -------------------------------------------------------------------

runc_on_meta() {
        command -v runc >/dev/null || case_skip "needs runc"
        local img=$CASE_DIR/img R=$CASE_DIR/rootfs upper record out s
        local checks='set -e
test "$(/bin/cat /etc/hostname)" = top
test "$(/bin/cat /etc/motd)" = "from the top layer"
test "$(/bin/cat /etc/keep)" = keep
test ! -e /etc/gone
test ! -e /etc/dir
test ! -e /etc/old
test ! -e /etc/.wh.gone
echo written-in-container >/root/written
echo container-ok'
        make_runnable_image "$img"
        manifest "$img" >"$CASE_DIR/layers-before"
        meta_assemble "$R" "$img/l0" "$img/l1" "$img/l2"
        upper=$(upper_of)
        record=$(json_get record)
        mapfile -t scratch < <(json_get scratch)
        [ -n "$upper" ] && [ -d "$upper" ] || fail "no upper dir among the scratch of the record: $OUT"
        [ -f "$record" ] || fail "the record $record named by --json does not exist"

        mkdir -p "$CASE_DIR/bundle"
        (cd "$CASE_DIR/bundle" && runc spec)
        python3 - "$CASE_DIR/bundle/config.json" "$R" "$checks" <<'PY'
import json, sys
path, rootfs, script = sys.argv[1:]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": False}
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c", script]
c["hostname"] = "ovlbackend-meta"
json.dump(c, open(path, "w"), indent=1)
PY
        out=$(cd "$CASE_DIR/bundle" && runc --root "$CASE_DIR/runc-state" run "ovl-meta-test-$$" 2>&1) ||
                fail "runc on the meta rootfs failed: $out"
        assert_contains "$out" container-ok
        assert_file_content "$R/root/written" written-in-container
        assert_file_content "$upper/root/written" written-in-container
        manifest "$img" | diff -u "$CASE_DIR/layers-before" - >&2 || fail "the container's write reached a layer"
        [ -z "$(find "$img" "$OVLBACKEND_WORK_DIR/layers" -name written)" ] || fail "the write is in a layer or the cache"

        run_ovl 0 destroy "$R"
        assert_absent "$R"
        [ -z "$(findmnt -rn -o TARGET | grep -F "$R" || true)" ] || fail "a mount is left at $R"
        assert_absent "$record"
        assert_absent "$(dirname "$record")"
        for s in "${scratch[@]}"; do assert_absent "$s"; done
        run_ovl 0 list --json
        [ "$(python3 -c 'import json, sys; print(len(json.loads(sys.argv[1])["rootfs"]))' "$OUT")" = 0 ] ||
                fail "list still shows a rootfs: $OUT"
        case_end
}

# ---- 2. Hostile overlay xattrs in the layers ----------------------------------------------------

hostile_xattrs() {
        local H=$CASE_DIR/img
        mkdir -p "$H"/l0/{etc,data,d} "$H"/l1/{d,evil-dir} "$H"/l2/etc "$H/etc"
        echo 'root:$6$secret-hash:19000:0:99999:7:::' >"$H/l0/etc/shadow"
        chmod 0640 "$H/l0/etc/shadow"
        echo 'root:x:0:0:root:/root:/bin/sh' >"$H/l0/etc/passwd"
        echo target-data >"$H/l0/data/target"
        echo inner-l0 >"$H/l0/d/inner"
        # Decoys in the layers' common directory (a data dir of the metadata stack) and above it:
        # a layer's redirect taken by the kernel would find them.
        echo DECOY-datadir-shadow >"$H/etc/shadow"
        echo DECOY-datadir-x >"$H/x"
        echo DECOY-above-x >"$CASE_DIR/x"
        # l1: files carrying overlayfs' own xattrs, each with content of its own.
        evil "$H/l1/evil-abs" own-abs trusted.overlay.redirect=/etc/shadow trusted.overlay.metacopy=
        evil "$H/l1/evil-layer" own-layer trusted.overlay.redirect=/l0/etc/shadow trusted.overlay.metacopy=
        evil "$H/l1/evil-up" own-up trusted.overlay.redirect=../../x trusted.overlay.metacopy=
        evil "$H/l1/evil-up-abs" own-up-abs trusted.overlay.redirect=/../x trusted.overlay.metacopy=
        evil "$H/l1/evil-empty" "" trusted.overlay.redirect=/l0/data/target trusted.overlay.metacopy=
        evil "$H/l1/evil-meta-only" own-meta-only trusted.overlay.metacopy=
        evil "$H/l1/evil-meta-junk" own-meta-junk trusted.overlay.metacopy=0xdeadbeef
        evil "$H/l1/evil-origin" own-origin trusted.overlay.origin=0x00fb2101 trusted.overlay.nlink=U+5 \
                trusted.overlay.upper=0x00fb2101 trusted.overlay.impure=y
        # user.overlay.* mean nothing to a mount in the initial user namespace; the copy drops them.
        evil "$H/l1/evil-user" own-user user.overlay.redirect=/l0/etc/shadow user.overlay.metacopy= user.other=kept
        evil "$H/l1/evil-hard" own-hard trusted.overlay.redirect=/l0/etc/shadow trusted.overlay.metacopy=
        ln "$H/l1/evil-hard" "$H/l1/evil-hard2"
        ln -s etc/passwd "$H/l1/evil-link"
        setfattr -h -n trusted.overlay.redirect -v /l0/data/target "$H/l1/evil-link"
        evil "$H/l1/evil-dir/own" own-dir
        setfattr -n trusted.overlay.redirect -v /l0/d "$H/l1/evil-dir"
        # An opaque value that is no marker (only y and x are): d stays merged.
        setfattr -n trusted.overlay.opaque -v n "$H/l1/d"
        evil "$H/l1/d/own" own-d trusted.overlay.redirect=/l0/d/inner trusted.overlay.metacopy=
        # l2: a file over a lower one that redirects back to the lower version, and one to l1's file.
        evil "$H/l2/etc/passwd" passwd-l2 trusted.overlay.redirect=/l0/etc/passwd trusted.overlay.metacopy=
        evil "$H/l2/top-redirect" own-top trusted.overlay.redirect=/l1/evil-layer trusted.overlay.metacopy=
        find "$H" -depth -exec touch -h -d "$FIXTURE_TIME" {} +
        manifest "$H" >"$CASE_DIR/layers-before"

        run_ovl 0 assemble --backend=copy --rootfs="$CASE_DIR/copy-hostile" "$H/l0" "$H/l1" "$H/l2"
        view "$CASE_DIR/copy-hostile" >"$CASE_DIR/hostile.ref"
        all_xattrs "$CASE_DIR/copy-hostile" >"$CASE_DIR/hostile.xattrs"
        run_ovl 0 destroy "$CASE_DIR/copy-hostile"
        hostile_view "$H" new
        if [ -n "${OVLBACKEND_HOOKED:-}" ]; then
                # mount(2) instead of the new mount API: the metadata layer may take another form.
                OVLBACKEND_LEGACY_MOUNT_API=1 OVLBACKEND=$OVLBACKEND_HOOKED hostile_view "$H" legacy
        else
                echo "NOTE: no OVLBACKEND_HOOKED: the legacy mount path is not tried"
        fi
        case_end
}

# hostile_view IMAGE MODE: the meta view of the hostile image is the copy's, and follows no
# layer's redirect.
hostile_view() {
        local H=$1 mode=$2 R=$CASE_DIR/R f want
        meta_assemble "$R" "$H/l0" "$H/l1" "$H/l2"
        same_as_copy hostile "$R"
        diff -u "$CASE_DIR/hostile.xattrs" <(all_xattrs "$R") >&2 ||
                fail "the view's xattrs, overlay ones included, differ from the copy's ($mode)"
        for f in abs layer up up-abs meta-only meta-junk origin user hard hard2; do
                want=own-$f
                [ "$f" != hard2 ] || want=own-hard
                assert_file_content "$R/evil-$f" "$want"
        done
        [ -f "$R/evil-empty" ] && [ ! -s "$R/evil-empty" ] || fail "evil-empty is not the empty file of its layer"
        [ "$(readlink "$R/evil-link")" = etc/passwd ] || fail "evil-link: $(readlink "$R/evil-link")"
        [ "$(ls -A "$R/evil-dir")" = own ] || fail "evil-dir followed its redirect: $(ls -A "$R/evil-dir" | tr '\n' ' ')"
        [ "$(ls -A "$R/d" | tr '\n' ' ')" = "inner own " ] || fail "d (opaque=n) is not merged: $(ls -A "$R/d" | tr '\n' ' ')"
        assert_file_content "$R/d/own" own-d
        assert_file_content "$R/etc/passwd" passwd-l2
        assert_file_content "$R/top-redirect" own-top
        assert_file_content "$R/etc/shadow" 'root:$6$secret-hash:19000:0:99999:7:::'
        [ -z "$(grep -rl DECOY "$R" || true)" ] || fail "a decoy outside the layers shows: $(grep -rl DECOY "$R")"
        [ "$(grep -rl 'secret-hash' "$R" || true)" = "$R/etc/shadow" ] ||
                fail "the shadow's content shows elsewhere: $(grep -rl secret-hash "$R" | tr '\n' ' ')"
        # The layers' own overlay xattrs are not visible in the view, as in the copy.
        [ -z "$(getfattr -R -h -d -m '^trusted\.overlay\.' "$R" 2>/dev/null)" ] || fail "overlay xattrs show in the view"
        [ "$(meta_entries | wc -l)" = 1 ] || fail "expected one metadata layer, found: $(meta_entries)"
        check_meta_entry "$OVLBACKEND_WORK_DIR/layers/$(meta_entries)" evil-layer
        # A write copies a hostile stub up with its own layer's data.
        echo appended >>"$R/evil-layer"
        [ "$(cat "$R/evil-layer")" = "own-layer"$'\n'"appended" ] || fail "copy-up of evil-layer: $(cat "$R/evil-layer")"
        assert_file_content "$(upper_of)/evil-layer" "own-layer"$'\n'"appended"
        manifest "$H" | diff -u "$CASE_DIR/layers-before" - >&2 || fail "a layer changed ($mode)"
        run_ovl 0 destroy "$R"
        run_ovl 0 gc
        echo "$mode mount path: the copy's tree, every file its own layer's content"
}

# ---- 3. --read-only, --upper=tmpfs, --volatile, --uidmap with --stack=meta ------------------------

meta_options() {
        local img=$CASE_DIR/img R layers blocks bs
        make_fixture "$img" aufs
        layers=("$img/l0" "$img/l1" "$img/l2")
        manifest "$img" --dir-mtime >"$CASE_DIR/layers-before"
        copy_ref fixture "${layers[@]}"

        # --read-only: no upper dir, the copy's tree, writes fail with EROFS.
        R=$CASE_DIR/ro
        meta_assemble "$R" --read-only "${layers[@]}"
        [ "$(json_get read_only)" = true ] || fail "--read-only: read_only is not true: $OUT"
        [ -z "$(upper_of)" ] || fail "--read-only has an upper dir: $OUT"
        findmnt -rn -o OPTIONS "$R" | grep -q '^ro,' || fail "--read-only: the mount is not ro: $(findmnt -rn -o OPTIONS "$R")"
        same_as_copy fixture "$R"
        if touch "$R/etc/new" 2>"$CASE_DIR/err"; then fail "--read-only took a new file"; fi
        assert_contains "$(cat "$CASE_DIR/err")" "Read-only file system"
        if (echo x >>"$R/etc/passwd") 2>"$CASE_DIR/err"; then fail "--read-only took a write to a file"; fi
        assert_contains "$(cat "$CASE_DIR/err")" "Read-only file system"
        run_ovl 0 destroy "$R"
        echo "--read-only: the copy's tree, EROFS on writes"

        # --upper=tmpfs:16m: writes go to a private tmpfs of that size, nowhere on disk; R is the
        # only new mount.
        R=$CASE_DIR/tmpfs
        meta_assemble "$R" --upper=tmpfs:16m "${layers[@]}"
        [ "$(diff <(echo "$BEFORE") <(mounts_now) | grep '^>')" = "> $R" ] || fail "--upper=tmpfs: other mounts appeared"
        same_as_copy fixture "$R"
        echo in-tmpfs >"$R/etc/tmpfs-write"
        assert_file_content "$R/etc/tmpfs-write" in-tmpfs
        [ -z "$(find "$OVLBACKEND_WORK_DIR" "$img" -name tmpfs-write)" ] || fail "--upper=tmpfs: the write is on disk"
        read -r blocks bs < <(stat -f -c '%b %S' "$R")
        [ $((blocks * bs)) = $((16 << 20)) ] || fail "--upper=tmpfs:16m: the upper filesystem has $((blocks * bs)) bytes"
        if dd if=/dev/zero of="$R/big" bs=1M count=32 2>"$CASE_DIR/err"; then fail "the 16m tmpfs took 32 MiB"; fi
        assert_contains "$(cat "$CASE_DIR/err")" "No space left on device"
        run_ovl 0 destroy "$R"
        echo "--upper=tmpfs:16m: the copy's tree, writes in a 16 MiB tmpfs"

        # --volatile: the volatile mount option, the copy's tree, writes in the upper dir.
        R=$CASE_DIR/volatile
        meta_assemble "$R" --volatile "${layers[@]}"
        findmnt -rn -o OPTIONS "$R" | grep -q 'volatile' || fail "--volatile: not a volatile mount: $(findmnt -rn -o OPTIONS "$R")"
        same_as_copy fixture "$R"
        echo volatile-write >"$R/etc/volatile-write"
        assert_file_content "$(upper_of)/etc/volatile-write" volatile-write
        run_ovl 0 destroy "$R"
        echo "--volatile: the copy's tree, writes in the upper dir"

        # --uidmap/--gidmap: every owner shifted, ACL entries too, the view's root the container
        # root's.
        R=$CASE_DIR/idmap
        meta_assemble "$R" --uidmap=0:100000:65536 --gidmap=0:200000:65536 "${layers[@]}"
        diff -u <(shifted "$CASE_DIR/fixture.ref" 100000 200000) <(view "$R" >"$CASE_DIR/idmap.view" && shifted "$CASE_DIR/idmap.view") >&2 ||
                fail "--uidmap: the view's owners are not the copy's shifted"
        [ "$(stat -c '%u:%g' "$R/etc/keep")" = 101000:201000 ] || fail "--uidmap: etc/keep is $(stat -c '%u:%g' "$R/etc/keep")"
        [ "$(stat -c '%u:%g %a' "$R/bin/su")" = "100000:200000 4755" ] || fail "--uidmap: bin/su is $(stat -c '%u:%g %a' "$R/bin/su")"
        getfacl -n "$R/data" 2>/dev/null | grep -q '^user:101000:rwx' || fail "--uidmap: ACL entry not shifted"
        [ "$(stat -c '%u:%g' "$R")" = 100000:200000 ] || fail "--uidmap: the view's root is $(stat -c '%u:%g' "$R")"
        [ "$(head -c 4 "$R/etc/passwd")" = modi ] || fail "--uidmap: etc/passwd reads wrong"
        run_ovl 0 destroy "$R"
        echo "--uidmap/--gidmap: owners and ACLs shifted"

        manifest "$img" --dir-mtime | diff -u "$CASE_DIR/layers-before" - >&2 || fail "a layer changed"
        case_end
}

# ---- 4. Rootless -------------------------------------------------------------------------------

rootless_meta() {
        command -v useradd >/dev/null && command -v userdel >/dev/null || case_skip "needs useradd and userdel"
        local user=ovlbmeta$$ uid out D
        useradd --system --no-create-home --shell /usr/sbin/nologin "$user" || fail "useradd $user"
        # A directory the user can reach (CASE_DIR is below the 0700 scratch), its own 0700 inside;
        # both go with this case's subshell.
        make_open_dir 0755
        # shellcheck disable=SC2064 # both are known now, and the function's locals are gone then
        trap "userdel '$user' 2>/dev/null || true; rm -rf '$OPEN'; kill_jobs" EXIT
        uid=$(id -u "$user")
        local as_user=(setpriv --reuid="$uid" --regid="$(id -g "$user")" --clear-groups)
        "${as_user[@]}" unshare -Urm true 2>/dev/null || case_skip "this host does not let an unprivileged user make a user namespace"
        D=$OPEN/rootless
        mkdir "$D"
        chown "$uid" "$D"
        chmod 0700 "$D"
        cat >"$D/run.sh" <<'SH'
set -euo pipefail
D=$1 OVLBACKEND=$2
export OVLBACKEND_WORK_DIR=$D/work
cd "$D"
fail() { echo "FAIL (rootless): $*" >&2; exit 1; }
for i in 0 1 2 3 4 5 6 7 8; do
        mkdir -p "$D/img/l$i/shared"
        echo "$i" >"$D/img/l$i/shared/file"
        echo "$i" >"$D/img/l$i/own-$i"
done
: >"$D/img/l8/.wh.own-7"
layers=("$D"/img/l*)
rc=0
"$OVLBACKEND" assemble --backend=overlay --stack=meta --rootfs="$D/meta" "${layers[@]}" >"$D/out" 2>"$D/err" || rc=$?
err=$(cat "$D/err")
[ "$rc" = 3 ] || fail "--stack=meta exited $rc, expected 3: $err"
[ "$(wc -l <"$D/err")" = 1 ] || fail "--stack=meta: not one line on stderr: $err"
case $err in *"--stack=meta"*rootless*) ;; *) fail "--stack=meta: the refusal does not say why: $err" ;; esac
[ ! -e "$D/meta" ] || fail "--stack=meta left its rootfs"
[ -z "$(find "$D/work/layers" -mindepth 1 -name 'meta-*' 2>/dev/null)" ] || fail "--stack=meta built a metadata layer"
echo "refused: $err"
out=$("$OVLBACKEND" assemble --backend=overlay --json --rootfs="$D/auto" "${layers[@]}") || fail "--stack=auto failed"
python3 -c 'import json, sys; o = json.loads(sys.argv[1]); assert o["stack"] == "layers", o' "$out" ||
        fail "--stack=auto with 9 layers rootless: $out"
[ "$(cat "$D/auto/shared/file")" = 8 ] && [ ! -e "$D/auto/own-7" ] && [ "$(cat "$D/auto/own-0")" = 0 ] ||
        fail "--stack=auto rootless: the view is wrong"
grep -q " $D/auto overlay .*userxattr" /proc/self/mounts || fail "--stack=auto rootless: not a userxattr mount"
"$OVLBACKEND" -q destroy "$D/auto" || fail "destroy"
"$OVLBACKEND" -q gc
[ -z "$(find "$D/work" -mindepth 2 -not -path "$D/work/probe/*")" ] || fail "work dir not clean: $(find "$D/work" -mindepth 2)"
echo rootless-ok
SH
        out=$("${as_user[@]}" unshare -Urm bash "$D/run.sh" "$D" "$OVLBACKEND" 2>&1) || fail "rootless run failed: $out"
        echo "$out"
        assert_contains "$out" rootless-ok
}

# ---- 5. gc of half-built and unused metadata layers ---------------------------------------------

# kill_mid_build R LAYER...: starts a meta assemble of the layers and SIGKILLs it (its worker dies
# too) while it builds the metadata layer: once its worker stops at the test build's copy-source
# point (STOP_AT), or else as soon as a half-built entry (a dot entry) shows in the cache. Prints
# "caught", or "finished" when it ended first.
kill_mid_build() {
        local R=$1 pid p procs state result=finished deadline=$((SECONDS + 30))
        shift
        OVLBACKEND_TEST_STOP=copy-source:$STOP_AT "$KILL_BIN" -q assemble --backend=overlay --stack=meta --rootfs="$R" "$@" \
                >/dev/null 2>&1 &
        pid=$!
        procs=$pid
        while [ "$SECONDS" -lt "$deadline" ]; do
                procs="$pid $(pgrep -P "$pid" | tr '\n' ' ' || true)"
                for p in $procs; do [ "$(state_of "$p")" != T ] || result=caught; done
                [ -z "$(dot_entries)" ] || result=caught
                state=$(state_of "$pid")
                [ "$result" = finished ] && [ -n "$state" ] && [ "$state" != Z ] || break
        done
        kill -9 $procs 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        for p in $procs; do
                while [ -n "$(state_of "$p")" ]; do sleep 0.01; done
        done
        # The worker holds the cache lock until it is gone: gc leaves the caches alone until then.
        [ ! -e "$OVLBACKEND_WORK_DIR/layers.lock" ] || flock -x -w 30 "$OVLBACKEND_WORK_DIR/layers.lock" true ||
                fail "the killed builder's cache lock is still held"
        echo "$result"
}

gc_meta() {
        local img=$CASE_DIR/img RK=$CASE_DIR/killed R=$CASE_DIR/R L=$OVLBACKEND_WORK_DIR/layers try result
        local left still entry e
        gen_image "$img" 8 20 25
        local layers=("$img"/l*)
        copy_ref big "${layers[@]}"
        STOP_AT=d10/f000
        KILL_BIN=${OVLBACKEND_HOOKED:-$OVLBACKEND}
        for try in 1 2 3; do
                result=$(kill_mid_build "$RK" "${layers[@]}")
                if [ "$result" = caught ] && [ -n "$(dot_entries)" ] && [ -z "$(meta_entries)" ]; then break; fi
                echo "try $try: the build was not caught in the middle ($result; cache: $(ls -A "$L" 2>/dev/null | tr '\n' ' '))"
                result=finished
                [ -e "$RK" ] && run_ovl 0 destroy "$RK"
                run_ovl 0 gc
                KILL_BIN=$OVLBACKEND # without the stop point: by timing only
        done
        [ "$result" = caught ] || fail "no kill in 3 tries caught the metadata layer's build in the middle"
        left=$(dot_entries)
        echo "killed in the middle of the build, it left: $(echo "$left" | tr '\n' ' ')"

        # The dead builder's leftovers block no one: the same image assembles, right.
        timeout 60 "$OVLBACKEND" -q assemble --backend=overlay --stack=meta --rootfs="$R" "${layers[@]}" ||
                fail "assemble after a killed build failed or hung"
        same_as_copy big "$R"
        [ "$(meta_entries | wc -l)" = 1 ] || fail "expected one metadata layer, found: $(meta_entries)"
        entry=$(meta_entries)

        # gc: the killed run's rootfs and every half-built entry go (those the later builder did
        # not remove itself: it removes the lock of the key it builds); the entry R uses stays.
        still=$(dot_entries)
        echo "after the next assemble of the image: $(echo "$still" | tr '\n' ' ')"
        run_ovl 0 gc --json
        for e in $(dot_entries); do fail "gc left $L/$e"; done
        for e in $still; do assert_contains "$OUT" "\"path\":\"$L/$e\""; done
        assert_absent "$RK"
        [ "$(meta_entries)" = "$entry" ] || fail "gc removed the metadata layer R uses (now: $(meta_entries))"
        same_as_copy big "$R"

        # Stale entries as a killed builder leaves them (a .tmp-* of a stub directory or an image
        # file, a .lock-*), beside the entry in use: gc removes them and keeps the entry.
        mkdir -p "$L/.tmp-$entry-4194301/d00"
        : >"$L/.tmp-$entry-4194301/d00/f000"
        : >"$L/.lock-$entry"
        head -c 4096 /dev/zero >"$L/.tmp-meta-2-0123456789abcdef.erofs-4194302"
        : >"$L/.lock-meta-2-0123456789abcdef.erofs"
        run_ovl 0 gc --json
        for e in ".tmp-$entry-4194301" ".lock-$entry" .tmp-meta-2-0123456789abcdef.erofs-4194302 .lock-meta-2-0123456789abcdef.erofs; do
                assert_absent "$L/$e"
                assert_contains "$OUT" "\"path\":\"$L/$e\""
        done
        [ "$(meta_entries)" = "$entry" ] || fail "gc removed the metadata layer R uses"

        # Unused, it goes.
        run_ovl 0 destroy "$R"
        [ "$(meta_entries)" = "$entry" ] || fail "destroy removed the shared cache entry"
        run_ovl 0 gc --json
        assert_contains "$OUT" "\"path\":\"$L/$entry\""
        [ -z "$(meta_entries)" ] || fail "gc kept an unused metadata layer: $(meta_entries)"
        case_end
}

# ---- 6. Concurrent builders -----------------------------------------------------------------------

# records_name ENTRY R...: each R's record names the cache entry.
records_name() {
        local entry=$1 R id
        shift
        for R in "$@"; do
                id=$(grep -lx "rootfs=$R" "$OVLBACKEND_WORK_DIR"/rootfs/*/record) || fail "no record of $R"
                grep -qx "cache=$OVLBACKEND_WORK_DIR/layers/$entry" "$id" || fail "the record of $R does not name $entry: $(grep '^cache=' "$id")"
        done
}

# one_shared_entry R...: after concurrent builds: all views right, one metadata layer, no
# half-built or lock entry left, every record naming it; then removed only with its last user.
one_shared_entry() {
        local entry R n=$#
        for R in "$@"; do same_as_copy img "$R"; done
        [ "$(meta_entries | wc -l)" = 1 ] || fail "$n concurrent builders left $(meta_entries | wc -l) metadata layers: $(meta_entries | tr '\n' ' ')"
        [ -z "$(dot_entries)" ] || fail "concurrent builders left $(dot_entries | tr '\n' ' ')"
        entry=$(meta_entries)
        records_name "$entry" "$@"
        for R in "$@"; do
                run_ovl 0 destroy "$R"
                run_ovl 0 gc
                if [ "$R" != "${*: -1}" ]; then
                        [ "$(meta_entries)" = "$entry" ] || fail "gc removed the entry while a rootfs uses it"
                fi
        done
        [ -z "$(meta_entries)" ] || fail "gc kept the entry after its last user"
}

concurrent_builders() {
        local img=$CASE_DIR/img i pid stopped='' waiters lock deadline alive stops rcs=() pids=()
        gen_image "$img" 8 20 25
        local layers=("$img"/l*)
        copy_ref img "${layers[@]}"
        # Three started at once: each waits for its line on a FIFO, written when all wait.
        mkfifo "$CASE_DIR/go"
        exec 8<>"$CASE_DIR/go"
        for i in 1 2 3; do
                (exec 8>&-
                 read -r _ <"$CASE_DIR/go"
                 exec "$OVLBACKEND" -q assemble --backend=overlay --stack=meta --rootfs="$CASE_DIR/r$i" "${layers[@]}") \
                        2>"$CASE_DIR/r$i.err" &
                pids+=($!)
        done
        sleep 0.2
        printf 'go\ngo\ngo\n' >&8
        exec 8>&-
        for i in 0 1 2; do
                wait "${pids[$i]}" || fail "concurrent builder $((i + 1)) failed: $(cat "$CASE_DIR/r$((i + 1)).err")"
        done
        one_shared_entry "$CASE_DIR/r1" "$CASE_DIR/r2" "$CASE_DIR/r3"
        echo "3 builders started at once: all right, one shared entry"

        # Forced to overlap: the first builder stopped in the middle of its build (test build), two
        # more wait on its entry lock; then it goes on, and all three share its entry.
        if [ -z "${OVLBACKEND_HOOKED:-}" ]; then
                echo "NOTE: no OVLBACKEND_HOOKED: the forced overlap is not tried"
                case_end
                return 0
        fi
        OVLBACKEND_TEST_STOP=copy-source:d10/f000 "$OVLBACKEND_HOOKED" -q assemble --backend=overlay --stack=meta \
                --rootfs="$CASE_DIR/s1" "${layers[@]}" 2>"$CASE_DIR/s1.err" &
        pids=($!)
        deadline=$((SECONDS + 20))
        while [ -z "$stopped" ] && [ "$SECONDS" -lt "$deadline" ] && [ -n "$(state_of "${pids[0]}")" ]; do
                for pid in "${pids[0]}" $(pgrep -P "${pids[0]}" || true); do [ "$(state_of "$pid")" != T ] || stopped=$pid; done
                sleep 0.02
        done
        if [ -z "$stopped" ]; then
                wait "${pids[0]}" || fail "the first builder failed: $(cat "$CASE_DIR/s1.err")"
                run_ovl 0 destroy "$CASE_DIR/s1"
                [ "${OVLBACKEND_TESTS_MUST_RUN:-0}" != 1 ] || fail "the meta build never reached the copy-source stop point"
                echo "NOTE: this build of the metadata layer has no copy-source stop point: the forced overlap is not tried"
                case_end
                return 0
        fi
        lock=$(find "$OVLBACKEND_WORK_DIR/layers" -maxdepth 1 -name '.lock-*' | head -n 1 || true)
        [ -n "$lock" ] || fail "the stopped builder holds no .lock-* entry"
        for i in 2 3; do
                "$OVLBACKEND" -q assemble --backend=overlay --stack=meta --rootfs="$CASE_DIR/s$i" "${layers[@]}" 2>"$CASE_DIR/s$i.err" &
                pids+=($!)
        done
        # Both wait on the entry's lock (blocked flocks show as "->" in /proc/locks).
        deadline=$((SECONDS + 20))
        until [ "$(grep -c -- "-> FLOCK.*:$(stat -c %i "$lock") " /proc/locks || true)" -ge 2 ] || [ "$SECONDS" -ge "$deadline" ]; do
                sleep 0.02
        done
        waiters=$(grep -c -- "-> FLOCK.*:$(stat -c %i "$lock") " /proc/locks || true)
        [ "$waiters" -ge 2 ] || echo "NOTE: $waiters of 2 later builders seen waiting on the entry lock"
        [ "$(meta_entries | wc -l)" = 0 ] || fail "an entry appeared while its builder was stopped: $(meta_entries)"
        # Resumed; a build that passes the stop point again (it may walk the layers more than
        # once) is resumed again, until all three are done.
        kill -CONT "$stopped"
        stops=1
        deadline=$((SECONDS + 60))
        while [ "$SECONDS" -lt "$deadline" ]; do
                alive=0
                for pid in "${pids[@]}"; do [ -z "$(state_of "$pid")" ] || [ "$(state_of "$pid")" = Z ] || alive=1; done
                [ "$alive" = 1 ] || break
                for pid in "${pids[0]}" $(pgrep -P "${pids[0]}" || true); do
                        if [ "$(state_of "$pid")" = T ]; then
                                kill -CONT "$pid"
                                stops=$((stops + 1))
                        fi
                done
                sleep 0.05
        done
        [ "$alive" = 0 ] || fail "the builders did not finish within 60 s of the first one's resumption"
        [ "$stops" = 1 ] || echo "NOTE: the build of the metadata layer passed the copy-source stop point for d10/f000 $stops times"
        for i in 0 1 2; do
                rcs[$i]=0
                wait "${pids[$i]}" || rcs[$i]=$?
        done
        [ "${rcs[*]}" = "0 0 0" ] || fail "overlapping builders exited ${rcs[*]}: $(cat "$CASE_DIR"/s*.err)"
        one_shared_entry "$CASE_DIR/s1" "$CASE_DIR/s2" "$CASE_DIR/s3"
        echo "a builder stopped mid-build, two waiting on it: all right, one shared entry"
        case_end
}

# ---- 7. Long redirects ----------------------------------------------------------------------------

# read_at R REL: the content of R/REL, from inside R.
read_at() { (cd "$1" && cat "./$2"); }

# check_long LENGTHS: a 2-layer image with files at paths of those lengths (the top layer replacing
# one, the bottom alone holding another), read through the metadata stack, before and after a
# copy-up, against the copy backend.
check_long() {
        local img=$CASE_DIR/img R=$CASE_DIR/R n p specs=() want
        for n in "$@"; do
                p=$(long_path "$n")
                [ "${#p}" = "$n" ] || fail "long_path $n made ${#p} bytes"
                specs+=(l0 "$p" "l0 $n$(printf '%*s' 3000 '' | tr ' ' 'a')" l1 "$p" "l1 $n $(printf '%*s' 5000 '' | tr ' ' 'b')")
                specs+=(l0 "${p%/*}/only-l0" "only in l0 at $n")
        done
        long_tree "$img" "${specs[@]}"

        copy_ref long "$img/l0" "$img/l1"
        meta_assemble "$R" "$img/l0" "$img/l1"
        same_as_copy long "$R"
        for n in "$@"; do
                p=$(long_path "$n")
                want="l1 $n $(printf '%*s' 5000 '' | tr ' ' 'b')"
                [ "$(read_at "$R" "$p")" = "$want" ] || fail "the $n-byte path reads wrong: $(read_at "$R" "$p" | head -c 40)"
                [ "$(read_at "$R" "${p%/*}/only-l0")" = "only in l0 at $n" ] || fail "the $n-byte path's l0 file reads wrong"
                # A copy-up takes the file's data from its own layer.
                (cd "$R" && echo appended >>"./$p")
                [ "$(read_at "$R" "$p")" = "${want}appended" ] || fail "the $n-byte path after a copy-up: $(read_at "$R" "$p" | tail -c 40)"
                [ "$(read_at "$img/l1" "$p")" = "$want" ] || fail "the copy-up of the $n-byte path changed its layer"
        done
        run_ovl 0 destroy "$R"
        case_end
}

long_redirects() {
        check_long 300 3500
        echo "paths of 300 and 3500 bytes read right"
}

# "/l1/" and a 4092-byte path is a redirect of PATH_MAX bytes: the kernel would not take it.
long_redirects_at_path_max() {
        check_long 4092
        echo "a path of 4092 bytes reads right"
}

# ---- 8. the data dirs --------------------------------------------------------------------------

# data_dirs_of: the number of data-only dirs the last verbose assemble reports.
data_dirs_of() { sed -n 's/.* lower and \([0-9]*\) data-only dirs.*/\1/p' <<<"$ERR"; }

data_dir_plans() {
        local safe=$CASE_DIR/safe unsafe=$CASE_DIR/unsafe R=$CASE_DIR/r layers
        gen_image "$safe" 4 3 10
        mapfile -t layers < <(printf '%s\n' "$safe"/l* | sort -V)
        copy_ref safe "${layers[@]}"
        run_ovl 0 -v assemble --backend=overlay --stack=meta --rootfs="$R" "${layers[@]}"
        [ "$(data_dirs_of)" = 1 ] || fail "layers below a root-owned dir: $(data_dirs_of) data dirs, expected 1: $ERR"
        same_as_copy safe "$R"
        run_ovl 0 destroy "$R"
        # Someone else owns the layers' common directory: they could rename what a redirect
        # below it reaches, so each layer is a data dir of its own.
        mkdir "$unsafe"
        cp -a "$safe"/l* "$unsafe"/
        chown "$NOBODY" "$unsafe"
        mapfile -t layers < <(printf '%s\n' "$unsafe"/l* | sort -V)
        run_ovl 0 -v assemble --backend=overlay --stack=meta --rootfs="$R" "${layers[@]}"
        [ "$(data_dirs_of)" = 4 ] || fail "layers below nobody's dir: $(data_dirs_of) data dirs, expected 4: $ERR"
        same_as_copy safe "$R"
        run_ovl 0 destroy "$R"
        # More layers than the kernel stacks, each its own data dir: refused, or the layer stack.
        rm -rf "${unsafe:?}"/*
        gen_image "$unsafe" 520 1 2
        mapfile -t layers < <(printf '%s\n' "$unsafe"/l* | sort -V)
        copy_ref many "${layers[@]}"
        run_ovl 3 assemble --backend=overlay --stack=meta --rootfs="$R" "${layers[@]}"
        assert_contains "$ERR" "share no data directory"
        [ ! -e "$R" ] || fail "a refused assemble left $R"
        run_ovl 0 assemble --backend=overlay --json --rootfs="$R" "${layers[@]}"
        [ "$(json_get stack)" = layers ] || fail "--stack=auto past the limit without a shared data dir: $OUT"
        same_as_copy many "$R"
        run_ovl 0 destroy "$R"
        case_end
        echo "one data dir below root's, one per layer below nobody's, refused past the limit"
}

# ---- 9. a metadata tree too big for its tmpfs ------------------------------------------------------

meta_tree_on_disk() {
        local img=$CASE_DIR/img R=$CASE_DIR/r layers entry
        [ -n "${OVLBACKEND_HOOKED:-}" ] || case_skip "no OVLBACKEND_HOOKED (the test build with its hooks)"
        gen_image "$img" 3 4 20
        mapfile -t layers < <(printf '%s\n' "$img"/l* | sort -V)
        copy_ref disk "${layers[@]}"
        # The hook lives in the test build only.
        OVLBACKEND=$OVLBACKEND_HOOKED OVLBACKEND_TEST_META_TMPFS_INODES=8 run_ovl 0 -v assemble --backend=overlay \
                --stack=meta --rootfs="$R" "${layers[@]}"
        assert_contains "$ERR" "the metadata tree is built on disk"
        same_as_copy disk "$R"
        entry=$(meta_entries)
        [ -f "$OVLBACKEND_WORK_DIR/layers/$entry/meta.erofs" ] ||
                fail "the entry $entry holds no image: $(ls -A "$OVLBACKEND_WORK_DIR/layers/$entry")"
        [ "$(ls -A "$OVLBACKEND_WORK_DIR/layers/$entry")" = meta.erofs ] ||
                fail "the entry $entry holds more than its image: $(ls -A "$OVLBACKEND_WORK_DIR/layers/$entry")"
        run_ovl 0 destroy "$R"
        case_end
        echo "built on disk, kept as an image, the same view"
}

# ---- The cases ------------------------------------------------------------------------------------

run_case "1. runc runs a container on a meta rootfs; destroy leaves nothing" runc_on_meta
run_case "2. hostile trusted.overlay.* xattrs in layers: the meta view equals the copy, no redirect followed" hostile_xattrs
run_case "3. --read-only, --upper=tmpfs, --volatile, --uidmap/--gidmap with --stack=meta" meta_options
run_case "4. rootless: --stack=meta refused (exit 3), --stack=auto takes the layer stack" rootless_meta
run_case "5. gc: a killed build's half-built entry and stale .tmp-/.lock- go, a used entry stays" gc_meta
run_case "6. concurrent builders of one image share exactly one entry" concurrent_builders
run_case "7. files at paths of 300 and 3500 bytes through the metadata stack" long_redirects
run_case "7b. a file whose redirect would be PATH_MAX long" long_redirects_at_path_max
run_case "8. one data dir where safe, one per layer where not, refused past the limit" data_dir_plans
run_case "9. a metadata tree too big for its tmpfs is built on disk" meta_tree_on_disk

[ "$(mounts_now)" = "$BEFORE" ] || FAILED+=("mounts left: $(diff <(echo "$BEFORE") <(mounts_now) | grep '^>')")
echo "time: $SECONDS s"
if [ "${#FAILED[@]}" -gt 0 ]; then
        printf 'FAILED: %s\n' "${FAILED[@]}" >&2
        fail "${#FAILED[@]} case(s) failed"
fi
[ "${#SKIPPED[@]}" = 0 ] || echo "skipped: ${SKIPPED[*]}"
echo "PASS: the metadata stack under runc, hostile xattrs, every option, rootless, gc, concurrency, long paths, data dir plans and the on-disk build"
