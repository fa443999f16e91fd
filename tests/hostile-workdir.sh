#!/usr/bin/env bash
# Hostile neighbours, item 2: a work dir someone else controls must not be used. Its records say
# what ovlbackend deletes, and its layers.lock is opened with O_CREAT, so whoever owns it (or may
# write one of its directories) makes root delete and create files anywhere.
#  - user nobody makes the work dir (0777, in a sticky directory all may write) and plants
#    well-formed records, state=assembling, whose scratch paths name decoys (root's directories with
#    files, outside the work dir), for the copy and the overlay backend, and layers.lock as a
#    symlink to a decoy path that does not exist;
#  - the same payload in a root-owned work dir of which one part is nobody's or group/other-writable
#    (the work dir itself, rootfs/, locks/, layers/, rootfs/<id>/);
#  - gc, list, assemble and destroy must each refuse it: exit 2, one line naming the work dir and
#    saying how to fix it (chmod), nothing deleted, nothing created;
#  - with a private work dir (root, 0700), a record naming a scratch path the backend never makes
#    (copy: .NAME.*.ovlbackend-tmp beside R; overlay: WORK/rootfs/<id>/{upper,work,tmpfs,mnt}) leaves
#    the decoy alone.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd setpriv python3
enter_private_mountns "$@"


# A sticky directory all may write (as /tmp is), where nobody can make a work dir before root does.
make_open_dir 1777


L=$TEST_TMP/layer
mkdir -p "$L/etc"
echo web >"$L/etc/hostname"
VICTIM=$TEST_TMP/victim
R_COPY=$VICTIM/web-copy
R_OVL=$VICTIM/web-overlay
D=$TEST_TMP/decoys
PLANTED=$D/created-through-layers.lock
SHAPED=$VICTIM/.web-copy.0123456789abcdef.ovlbackend-tmp

# write_record WORK ROOTFS BACKEND SCRATCH...: a well-formed record (state/record.h), state
# assembling, under the id ovlbackend gives ROOTFS; prints the record's directory.
write_record() {
        python3 - "$@" <<'PY'
import os, sys, time
work, rootfs, backend, scratch = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
h = 0xcbf29ce484222325
for b in rootfs.encode():
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
d = os.path.join(work, "rootfs", "%016x" % h)
os.makedirs(d, exist_ok=True)
lines = ["ovlbackend-record 1", "rootfs=" + rootfs, "backend=" + backend, "state=assembling",
         "created=%d" % int(time.time()), "pid=4194000", "read_only=0", "tree=0:0:0",
         "layer=" + os.environ["LAYER"]]
lines += ["scratch=" + s for s in scratch]
if backend == "overlay":
    lines.append("mount=" + rootfs)
with open(os.path.join(d, "record"), "w") as f:
    f.write("\n".join(lines) + "\n")
print(d)
PY
}

# Fresh decoys: root's directories with files, which no record of ovlbackend's could name.
make_decoys() {
        rm -rf "$D" "$VICTIM"
        mkdir -p "$VICTIM"
        for d in copy-scratch overlay-upper overlay-work; do
                mkdir -p "$D/$d/sub"
                echo "precious $d" >"$D/$d/file"
                echo "precious $d below" >"$D/$d/sub/file"
        done
        # A name of the copy scratch's own shape beside R that is not ours: named by a record that
        # holds no tree identity, it may only be rmdir'ed, and only when empty and ours.
        mkdir -p "$SHAPED/etc"
        echo "someone's tree" >"$SHAPED/etc/data"
        decoys_state >"$TEST_TMP/decoys.before"
}

# plant WORK [nolink]: the payload, written into WORK (which must exist with rootfs/ and locks/);
# nolink: without the layers.lock symlink.
plant() {
        local w=$1
        LAYER=$L write_record "$w" "$R_COPY" copy "$D/copy-scratch" "$SHAPED" >/dev/null
        LAYER=$L write_record "$w" "$R_OVL" overlay "$D/overlay-upper" "$D/overlay-work" >/dev/null
        [ "${2:-}" = nolink ] || ln -s "$PLANTED" "$w/layers.lock"
}

# Every decoy entry with its type, mode, owner, size and mtime, and every file's checksum.
decoys_state() {
        find "$D" "$SHAPED" -printf '%p %y %m %U:%G %s %T@\n' 2>/dev/null | sort
        find "$D" "$SHAPED" -type f -exec sha256sum {} + 2>/dev/null | sort
}

# What must hold after any command on a hostile work dir: every decoy as it was, nothing created.
# Returns 1 (after reporting the hole, all of it) when not.
decoys_intact() {
        local what="$*" found=() msg
        [ ! -e "$PLANTED" ] ||
                found+=("created $PLANTED through the planted symlink layers.lock ($(stat -c '%U %a' "$PLANTED"))")
        msg=$(decoys_state | diff "$TEST_TMP/decoys.before" - | grep '^< /' | cut -d' ' -f2 | sort -u |
                sed "s|^$TEST_TMP/||" | paste -sd' ' || true)
        [ -z "$msg" ] || found+=("deleted or changed decoys: $msg")
        [ "${#found[@]}" = 0 ] && return 0
        msg=$(printf '%s; ' "${found[@]}")
        hole "$what: ${msg%; }"
        return 1
}

# Each command is run once on a freshly planted hostile WORK, made by $SETUP.
COMMANDS=("gc" "list" "assemble --backend=copy --rootfs=$R_COPY $L" "destroy $R_OVL")

# The work dir's entries, owners and modes.
workdir_state() { find "$W" -printf '%P %y %m %U:%G\n' | sort; }

# Leaves out of a work dir change list the lock files root made in a locks/ only root can enter:
# a command takes R's lock before it reads R's record, and a lock there reaches nothing of anyone's.
own_locks_out() {
        if [ "$(stat -c '%u %a' "$W/locks" 2>/dev/null)" = "0 700" ] &&
                [ "$(stat -c '%u %a' "$W" 2>/dev/null)" = "0 700" ]; then
                grep -Ev '^> locks/[0-9a-f]{16}\.lock f 600 0:0$' || true
        else
                cat
        fi
}

# refused SCENARIO: every command exits 2 with one line naming the work dir and saying chmod, and
# nothing is deleted or created.
refused() {
        local scenario=$1 cmd status err changed
        for cmd in "${COMMANDS[@]}"; do
                make_decoys
                rm -rf "$W"
                "$SETUP"
                workdir_state >"$TEST_TMP/workdir.before"
                status=0
                # shellcheck disable=SC2086 # the command's words
                "$OVLBACKEND" --work-dir="$W" $cmd >/dev/null 2>"$TEST_TMP/stderr" || status=$?
                err=$(cat "$TEST_TMP/stderr")
                decoys_intact "$scenario: ovlbackend ${cmd%% *} (exit $status)" || continue
                changed=$(workdir_state | diff "$TEST_TMP/workdir.before" - | grep '^[<>]' | own_locks_out |
                        paste -sd' ' || true)
                if [ "$status" != 2 ]; then
                        hole "$scenario: ovlbackend ${cmd%% *} used it (exit $status, expected 2):" \
                                "${err:-no message}${changed:+; work dir changes: $changed}"
                        continue
                fi
                [ -z "$changed" ] || hole "$scenario: ovlbackend ${cmd%% *} refused it but changed it: $changed"
                assert_one_line "$err"
                assert_contains "$err" "$W"
                assert_contains "$err" "chmod"
        done
}

# The scenarios. W is the work dir; each SETUP makes it with the payload in it.
W=$OPEN/work
setup_nobody_made_it() {
        as_nobody mkdir -m 0777 "$W"
        mkdir -m 0777 "$W/rootfs" "$W/locks"
        plant "$W"
        chown -hR $NOBODY:$NOBODY "$W"
}
SETUP=setup_nobody_made_it refused "a work dir user nobody made (0777)"

W=$TEST_TMP/work-parts
setup_root_work() {
        mkdir -m 0700 "$W" "$W/rootfs" "$W/locks" "$W/layers"
        plant "$W"
}
setup_work_mode() { setup_root_work; chmod 0770 "$W"; }
SETUP=setup_work_mode refused "a root-owned work dir writable by its group (0770)"
setup_rootfs_nobody() { setup_root_work; chown $NOBODY "$W/rootfs"; }
SETUP=setup_rootfs_nobody refused "WORK/rootfs owned by nobody"
setup_locks_mode() { setup_root_work; chmod 0777 "$W/locks"; }
SETUP=setup_locks_mode refused "WORK/locks writable by others (0777)"
setup_layers_nobody() { setup_root_work; chown $NOBODY "$W/layers"; }
SETUP=setup_layers_nobody refused "WORK/layers owned by nobody"
setup_record_dirs_nobody() { setup_root_work; chown -R $NOBODY:$NOBODY "$W"/rootfs/*; }
SETUP=setup_record_dirs_nobody refused "WORK/rootfs/<id> owned by nobody"

# A private work dir (root, 0700 throughout) whose records name paths their backend never makes:
# whatever each command answers, the decoys stay.
W=$TEST_TMP/work-private
for cmd in "gc" "list" "assemble --backend=copy --rootfs=$R_COPY $L" "destroy $R_OVL" "destroy $R_COPY"; do
        make_decoys
        rm -rf "$W"
        mkdir -m 0700 "$W" "$W/rootfs" "$W/locks"
        plant "$W" nolink
        status=0
        # shellcheck disable=SC2086 # the command's words
        "$OVLBACKEND" --work-dir="$W" $cmd >/dev/null 2>"$TEST_TMP/stderr" || status=$?
        decoys_intact "private work dir, records naming foreign paths: ovlbackend ${cmd%% *}" \
                "(exit $status: $(cat "$TEST_TMP/stderr"))" || true
done

# A record moved into another rootfs' directory (the id is the hash of R's path): gc would roll
# back that other rootfs' paths without holding its lock. It leaves the record alone.
W=$TEST_TMP/work-moved
mkdir -m 0700 "$W"
"$OVLBACKEND" -q --work-dir="$W" assemble --backend=copy --rootfs="$TEST_TMP/moved-r" "$L" || fail "assemble for the moved record"
src=$(ls -d "$W"/rootfs/*)
mkdir -m 0700 "$W/rootfs/0123456789abcdef"
sed 's/^state=ready$/state=assembling/' "$src/record" >"$W/rootfs/0123456789abcdef/record"
"$OVLBACKEND" --work-dir="$W" gc >"$TEST_TMP/gc.out" 2>&1 || true
[ -d "$TEST_TMP/moved-r" ] || hole "gc rolled back a record found in another rootfs' directory: $(cat "$TEST_TMP/gc.out")"
grep -q 'names a rootfs whose record lives elsewhere' "$TEST_TMP/gc.out" || hole "gc did not report the moved record: $(cat "$TEST_TMP/gc.out")"
"$OVLBACKEND" -q --work-dir="$W" destroy "$TEST_TMP/moved-r" || fail "destroy after the moved record"

[ "$HOLES" = 0 ] || fail "$HOLES hole(s), see the HOLE lines above"
echo "PASS: a work dir others control is refused; records naming foreign paths delete nothing"
