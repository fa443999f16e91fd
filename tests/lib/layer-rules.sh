# shellcheck shell=bash
# Writes small layer stacks from a neutral description, in any whiteout format a store produces,
# and describes a tree by what a user of the rootfs sees, for tests/layer-rules.sh. Sourced after
# common.sh. Needs root (device nodes, trusted.* xattrs), setfattr and getfattr.
#
# A scenario is a shell function that describes its layers with these verbs, one layer at a time:
#   lr_layers N          the stack has N layers (call first)
#   lr_layer I           the following verbs write layer I (0 = bottom)
#   lr_file PATH TEXT    a regular file holding TEXT (no newline)
#   lr_dir PATH          a directory
#   lr_symlink PATH TO   a symbolic link
#   lr_hardlink PATH OLD a second name of the layer's own file OLD
#   lr_whiteout PATH     PATH is deleted from the layers below
#   lr_opaque DIR        DIR ("." = the layer's root) hides everything the layers below have in it
#   lr_expect            the tree the layers give (stdin, lines as lr_shape prints them): the
#                        oracle, written by hand from the OCI image-spec's layer.md
# Parents are made as needed; a layer that deletes a name and fills a directory of that name of its
# own says lr_dir before filling it. Whiteout and opaque markers are written in the format of the
# layer:
#   aufs     .wh.NAME files and .wh..wh..opq (what OCI tar layers carry)
#   trusted  0/0 character devices, trusted.overlay.opaque=y (what overlayfs itself writes)
#   user     0/0 character devices, user.overlay.opaque=y (an unprivileged overlayfs' upper dir)
#   xattr    the Linux 6.7+ form: empty files with trusted.overlay.whiteout in a directory marked
#            trusted.overlay.opaque=x; opaque directories trusted.overlay.opaque=y
#   A+B      the top layer in format B, every layer below it in format A
# A layer that deletes a name and has an entry of that name of its own (layer.md: a whiteout
# applies to the layers below only) is written as both markers in aufs, and as overlayfs writes it
# in the other formats: a directory becomes opaque, a non-directory needs no marker at all.

LR_TIME='2001-02-03 04:05:06'

# lr_build ROOT FORMAT SCENARIO: writes ROOT/l0 ... ROOT/l(N-1) of the scenario in FORMAT and the
# oracle to ROOT/expected; sets LR_N.
lr_build() {
        local i
        LR_ROOT=$1 LR_FORMAT=$2
        mkdir -p "$LR_ROOT"
        "$3"
        for ((i = 0; i < LR_N; i++)); do
                mkdir -p "$LR_ROOT/l$i"
        done
        # Fixed times everywhere (directories last), so that trees built at different moments,
        # by different tools, compare.
        find "$LR_ROOT" -depth -exec touch -h -d "$LR_TIME" {} +
}

lr_layers() {
        LR_N=$1
}

lr_layer() {
        local lower=${LR_FORMAT%+*} top=${LR_FORMAT#*+}
        LR_L=$LR_ROOT/l$1
        LR_F=$lower
        [ "$1" != $((LR_N - 1)) ] || LR_F=$top
        mkdir -p "$LR_L"
}

lr_expect() {
        LC_ALL=C sort >"$LR_ROOT/expected"
}

_lr_parent() {
        mkdir -p "$LR_L/$(dirname "$1")"
}

# Whether PATH of the current layer is a whiteout of the overlayfs forms (device or xattr).
_lr_is_overlay_whiteout() {
        local p=$LR_L/$1
        { [ -c "$p" ] && [ "$(stat -c %t:%T "$p")" = 0:0 ]; } && return 0
        [ -f "$p" ] && [ ! -L "$p" ] && [ ! -s "$p" ] &&
                getfattr -h --absolute-names -n trusted.overlay.whiteout "$p" >/dev/null 2>&1
}

# The overlay xattr opaque value of a directory of the current layer ("" when none).
_lr_opaque_value() {
        local ns=trusted
        [ "$LR_F" != user ] || ns=user
        getfattr -h --absolute-names --only-values -n "$ns.overlay.opaque" "$LR_L/$1" 2>/dev/null || true
}

_lr_set_opaque() {
        case $LR_F in
        trusted | xattr) setfattr -h -n trusted.overlay.opaque -v y "$LR_L/$1" ;;
        user) setfattr -h -n user.overlay.opaque -v y "$LR_L/$1" ;;
        esac
}

# A layer's own non-directory over its own whiteout of the name: in the overlayfs forms the entry
# alone says it (a non-directory always hides what is below).
_lr_replace_marker() {
        if [ "$LR_F" != aufs ] && _lr_is_overlay_whiteout "$1"; then rm -f "$LR_L/$1"; fi
}

lr_file() {
        _lr_parent "$1"
        _lr_replace_marker "$1"
        printf '%s' "$2" >"$LR_L/$1"
}

lr_symlink() {
        _lr_parent "$1"
        _lr_replace_marker "$1"
        ln -s "$2" "$LR_L/$1"
}

lr_hardlink() {
        _lr_parent "$1"
        _lr_replace_marker "$1"
        ln "$LR_L/$2" "$LR_L/$1"
}

lr_dir() {
        if [ "$LR_F" != aufs ] && _lr_is_overlay_whiteout "$1"; then
                # Deleted below and made again here: overlayfs' own spelling is an opaque directory.
                rm -f "$LR_L/$1"
                mkdir -p "$LR_L/$1"
                _lr_set_opaque "$1"
        fi
        mkdir -p "$LR_L/$1"
}

_lr_whiteout_device() {
        mknod "$LR_L/$1" c 0 0
}

lr_whiteout() {
        local dir base
        dir=$(dirname "$1")
        base=$(basename "$1")
        _lr_parent "$1"
        if [ "$LR_F" = aufs ]; then
                : >"$LR_L/$dir/.wh.$base"
                return
        fi
        if [ -d "$LR_L/$1" ] && [ ! -L "$LR_L/$1" ]; then
                # The layer's own directory of that name stays: it replaces the one below.
                _lr_set_opaque "$1"
                return
        fi
        if [ -e "$LR_L/$1" ] || [ -L "$LR_L/$1" ]; then
                return # the layer's own non-directory hides the name below by itself
        fi
        case $LR_F in
        trusted | user) _lr_whiteout_device "$1" ;;
        xattr)
                if [ "$(_lr_opaque_value "$dir")" = y ]; then
                        # trusted.overlay.opaque holds one value: a directory cannot be both
                        # opaque (y) and one of xattr whiteouts (x). Where it is opaque, a store
                        # writes overlayfs' own device, as overlayfs does in its upper dir.
                        _lr_whiteout_device "$1"
                else
                        : >"$LR_L/$1"
                        setfattr -h -n trusted.overlay.whiteout -v "" "$LR_L/$1"
                        setfattr -h -n trusted.overlay.opaque -v x "$LR_L/$dir"
                fi
                ;;
        *) fail "lr_whiteout: unknown format $LR_F" ;;
        esac
}

lr_opaque() {
        local f
        mkdir -p "$LR_L/$1"
        case $LR_F in
        aufs) : >"$LR_L/$1/.wh..wh..opq" ;;
        xattr)
                # See lr_whiteout: xattr whiteouts already in the directory become devices.
                if [ "$(_lr_opaque_value "$1")" = x ]; then
                        for f in "$LR_L/$1"/*; do
                                [ -f "$f" ] || continue
                                if _lr_is_overlay_whiteout "${f#"$LR_L/"}"; then
                                        rm -f "$f"
                                        mknod "$f" c 0 0
                                fi
                        done
                fi
                _lr_set_opaque "$1"
                ;;
        *) _lr_set_opaque "$1" ;;
        esac
}

# The trees are read by one Python process for the whole test (a Python start costs more than
# all else a scenario does): lr_inspect_start starts it; lr_shape and lr_manifest ask it.
lr_inspect_start() {
        coproc LR_INSPECT { python3 -c "$_LR_INSPECT_PY" "$MANIFEST"; }
}

# _lr_ask VERB ROOT OUT: has the inspector write VERB's description of ROOT to OUT; returns
# non-zero (OUT saying why) when it could not.
_lr_ask() {
        local reply
        printf '%s\t%s\t%s\n' "$1" "$2" "$3" >&"${LR_INSPECT[1]}"
        read -r reply <&"${LR_INSPECT[0]}" || fail "the tree inspector died"
        [ "$reply" = ok ]
}

# lr_shape ROOT OUT: one line per entry below ROOT (not ROOT itself), sorted: "/PATH TYPE [DETAIL]"
# with TYPE f d l c b p s; DETAIL is a file's text, a link's "-> TARGET", a device's MAJ:MIN; a
# file with other names in the tree adds "link=/FIRST-NAME". A marker that leaks shows as what it
# is (a .wh. file, a c 0:0 device, "xattr=NAME" for an overlayfs xattr), an entry listed but not
# there as "?". The link group comes last, after the xattrs.
lr_shape() {
        _lr_ask shape "$1" "$2"
}

# lr_manifest ROOT OUT: tests/lib/manifest.py ROOT --dir-mtime, less ROOT's own line.
lr_manifest() {
        _lr_ask manifest "$1" "$2"
}

_LR_INSPECT_PY='
import contextlib, io, os, runpy, stat, sys, traceback
MANIFEST = sys.argv[1]
KINDS = {stat.S_IFDIR: "d", stat.S_IFREG: "f", stat.S_IFLNK: "l", stat.S_IFCHR: "c",
         stat.S_IFBLK: "b", stat.S_IFIFO: "p", stat.S_IFSOCK: "s"}

def shape(root):
    entries, groups = [], {}
    def walk(rel):
        for name in sorted(os.listdir(os.path.join(root, rel))):
            r = os.path.join(rel, name)
            path = os.path.join(root, r)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                entries.append((["/" + r, "?"], None))
                continue
            kind = KINDS[stat.S_IFMT(st.st_mode)]
            fields = ["/" + r, kind]
            key = None
            if kind == "f":
                with open(path, "rb") as f:
                    fields.append(f.read().decode(errors="replace"))
                key = (st.st_dev, st.st_ino)
                groups.setdefault(key, []).append("/" + r)
            elif kind == "l":
                fields.append("-> " + os.readlink(path))
            elif kind in "cb":
                fields.append("%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
            try:
                names = os.listxattr(path, follow_symlinks=False)
            except OSError:
                names = []
            fields += sorted("xattr=" + n for n in names if n.startswith(("trusted.overlay.", "user.overlay.")))
            entries.append((fields, key))
            if kind == "d":
                walk(r)
    walk("")
    lines = []
    for fields, key in entries:
        if key and len(groups[key]) > 1 and groups[key][0] != fields[0]:
            fields.append("link=" + groups[key][0])
        lines.append(" ".join(x for x in fields if x != ""))
    for line in sorted(lines):
        print(line)

def manifest(root):
    sys.argv = [MANIFEST, root, "--dir-mtime"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        runpy.run_path(MANIFEST, run_name="__main__")
    sys.stdout.write(buf.getvalue().split("\n", 1)[1])

for line in sys.stdin:
    verb, root, out = line.rstrip("\n").split("\t")
    with open(out, "w") as f:
        try:
            with contextlib.redirect_stdout(f):
                {"shape": shape, "manifest": manifest}[verb](root)
            reply = "ok"
        except Exception:
            traceback.print_exc(file=f)
            reply = "error"
    print(reply, flush=True)
'
