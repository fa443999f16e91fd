# shellcheck shell=bash
# Shared by tests of the overlay backend's metadata stack (tests/overlay-meta.sh): small images
# built for a purpose, and a look inside a metadata layer whatever its form. Sourced after
# common.sh and fixtures.sh; the functions use CASE_DIR (the calling case's scratch dir).
#
#   gen_image DIR LAYERS DIRS FILES    many small files over many layers, some deleted
#   make_runnable_image DIR            three layers a container can run (sh, cat), with whiteouts
#   evil PATH CONTENT XATTR=VALUE...   a file carrying the given xattrs
#   check_meta_entry ENTRY NAME        no layer's overlay xattr made it into the metadata layer
#   all_xattrs DIR                     every xattr below DIR, overlay ones too
#   shifted MANIFEST [DUID DGID]       a manifest with owners shifted, id-holding xattrs dropped
#   long_tree DIR [LAYER REL CONTENT]  files at paths too long to name from /
#   long_path N                        a relative path of exactly N bytes

# gen_image DIR LAYERS DIRS FILES: LAYERS layers of DIRS directories; layer 0 has FILES files in
# each, layer L those whose number plus L is a multiple of 5 (so every layer changes some), and
# every third layer deletes one file (AUFS whiteout).
gen_image() {
        python3 - "$@" <<'PY'
import os, sys
base, n_layers, n_dirs, n_files = sys.argv[1], *map(int, sys.argv[2:])
for l in range(n_layers):
    for d in range(n_dirs):
        p = "%s/l%d/d%02d" % (base, l, d)
        os.makedirs(p)
        for f in range(n_files):
            if l == 0 or (f + l) % 5 == 0:
                with open("%s/f%03d" % (p, f), "w") as fh:
                    fh.write("layer %d dir %d file %d\n" % (l, d, f) * (1 + f % 7))
        gone = (l + d) % n_files
        if (gone + l) % 5 == 0:
            gone = (gone + 1) % n_files  # not a file this layer makes
        if l % 3 == 2:
            open("%s/.wh.f%03d" % (p, gone), "w").close()
PY
        find "$1" -depth -exec touch -h -d "$FIXTURE_TIME" {} +
}

# make_runnable_image DIR: l0 holds dash and cat with their libraries and some files; l1 deletes two
# of them (AUFS whiteouts, one a directory) and changes one; l2 deletes another (a 0/0 device) and
# changes it again.
make_runnable_image() {
        local img=$1 f
        mkdir -p "$img"/l0/{bin,etc/dir,root} "$img"/l1/etc "$img"/l2/etc
        cp -L /bin/sh "$img/l0/bin/sh"
        cp -L /bin/cat "$img/l0/bin/cat"
        for f in $(ldd /bin/sh /bin/cat | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' | sort -u); do
                mkdir -p "$img/l0$(dirname "$f")"
                cp -L "$f" "$img/l0$f"
        done
        echo base >"$img/l0/etc/hostname"
        echo keep >"$img/l0/etc/keep"
        echo gone >"$img/l0/etc/gone"
        echo old >"$img/l0/etc/old"
        echo x >"$img/l0/etc/dir/x"
        : >"$img/l1/etc/.wh.gone"
        : >"$img/l1/etc/.wh.dir"
        echo middle >"$img/l1/etc/hostname"
        mknod "$img/l2/etc/old" c 0 0
        echo top >"$img/l2/etc/hostname"
        echo "from the top layer" >"$img/l2/etc/motd"
}

# evil PATH CONTENT XATTR=VALUE...: a file (empty for an empty CONTENT) with those xattrs.
evil() {
        local path=$1 content=$2 kv
        shift 2
        if [ -n "$content" ]; then printf '%s\n' "$content" >"$path"; else : >"$path"; fi
        for kv in "$@"; do setfattr -h -n "${kv%%=*}" -v "${kv#*=}" "$path"; done
}

# stub_root ENTRY NAME: the root of the metadata layer's tree in the cache entry ENTRY: an erofs
# image (the entry, or a file in it, with erofs' magic at byte 1024) mounted read-only at
# $CASE_DIR/image ("-" when it cannot be mounted here), else the directory (the entry or one in
# it) that holds the image's top-level NAME. Prints nothing when there is none.
stub_root() {
        local entry=$1 name=$2 f
        for f in "$entry" "$entry"/*; do
                [ -f "$f" ] && [ ! -L "$f" ] || continue
                [ "$(od -An -tx4 -j1024 -N4 "$f" 2>/dev/null | tr -d ' ')" = e0f5e1e2 ] || continue
                mkdir -p "$CASE_DIR/image"
                if mount -t erofs -o ro "$f" "$CASE_DIR/image" 2>"$CASE_DIR/image.err"; then
                        echo "$CASE_DIR/image"
                else
                        echo "NOTE: could not mount the erofs image $f to look into it: $(cat "$CASE_DIR/image.err")" >&2
                        echo -
                fi
                return 0
        done
        for f in "$entry" "$entry"/*; do
                if [ -d "$f" ] && [ ! -L "$f" ] && [ -e "$f/$name" ]; then
                        echo "$f"
                        return 0
                fi
        done
}

# check_meta_entry ENTRY NAME: in the metadata layer's tree (stub_root), NAME is a stub, every
# stub's redirect is its own path (one of its names) in one layer (/LAYER/PATH or /PATH), it
# carries no other overlay xattr, and nothing else in it carries any: no layer's own overlay xattr
# made it in.
check_meta_entry() {
        local root
        root=$(stub_root "$1" "$2")
        [ -n "$root" ] || fail "cannot find the metadata layer's tree in the cache entry $1: $(find "$1" -maxdepth 2 | head)"
        [ "$root" != - ] || return 0
        python3 - "$root" "$2" <<'PY' || fail "the metadata layer $1 carries a layer's own overlay xattrs, or no stub for $2"
import os, re, stat, sys
root, must = sys.argv[1:]
bad = []
stubs = set()
names = {}  # inode -> its names: a stub's redirect names one of them
for dirpath, dirs, files in os.walk(root):
    for name in files:
        p = os.path.join(dirpath, name)
        names.setdefault(os.lstat(p).st_ino, set()).add(os.path.relpath(p, root))
for dirpath, dirs, files in os.walk(root):
    for name in dirs + files:
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        xs = {x for x in os.listxattr(p, follow_symlinks=False) if x.startswith(("trusted.overlay.", "user.overlay."))}
        if stat.S_ISREG(st.st_mode) and xs == {"trusted.overlay.redirect", "trusted.overlay.metacopy"}:
            r = os.getxattr(p, "trusted.overlay.redirect", follow_symlinks=False).decode(errors="replace")
            m = re.fullmatch(r"(/l[0-9])?/(.*)", r)
            stubs.add(rel)
            if not m or m.group(2) not in names[st.st_ino]:
                bad.append("%s: redirect %s" % (rel, r))
            if os.getxattr(p, "trusted.overlay.metacopy", follow_symlinks=False) != b"":
                bad.append("%s: metacopy not the builder's own (empty)" % rel)
        elif xs:
            bad.append("%s: %s" % (rel, sorted(xs)))
if must not in stubs:
    bad.append("%s: not a metacopy stub (stubs: %d)" % (must, len(stubs)))
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
        if [ "$root" = "$CASE_DIR/image" ]; then umount "$root"; fi
        echo "cache entry $(basename "$1"): every stub redirects to its own file, no layer's overlay xattr in it"
}

# all_xattrs DIR: every xattr of every entry below DIR (overlay ones too), one line per entry.
all_xattrs() {
        python3 - "$1" <<'PY'
import os, sys
root = sys.argv[1]
for dirpath, dirs, files in sorted(os.walk(root)):
    for name in sorted(dirs + files):
        p = os.path.join(dirpath, name)
        xs = sorted(x for x in os.listxattr(p, follow_symlinks=False) if x != "security.selinux")
        print(os.path.relpath(p, root), " ".join("%s=%s" % (x, os.getxattr(p, x, follow_symlinks=False).hex()) for x in xs))
PY
}

# Idmapped: owners +100000 (uid) / +200000 (gid); the xattrs holding ids are checked on their own.
shifted() {
        python3 - "$1" "${2:-0}" "${3:-0}" <<'PY'
import re, sys
du, dg = int(sys.argv[2]), int(sys.argv[3])
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split(" ")
    u, g = f[3].split(":")
    f[3] = "%d:%d" % (int(u) + du, int(g) + dg)
    print(re.sub(r"(security\.capability|system\.posix_acl_\w+)=[0-9a-f]+,?", "", " ".join(f)).rstrip(", "))
PY
}

# long_tree DIR [LAYER REL CONTENT]...: in DIR/LAYER a file at REL holding CONTENT (directories made
# one by one, by fd, as a path near PATH_MAX cannot be named whole from /).
long_tree() {
        python3 - "$@" <<'PY'
import os, stat, sys
base = sys.argv[1]
args = sys.argv[2:]
for layer, rel, content in zip(args[0::3], args[1::3], args[2::3]):
    os.makedirs(os.path.join(base, layer), exist_ok=True)
    fd = os.open(os.path.join(base, layer), os.O_DIRECTORY)
    *dirs, name = rel.split("/")
    for d in dirs:
        try:
            os.mkdir(d, 0o755, dir_fd=fd)
        except FileExistsError:
            pass
        nfd = os.open(d, os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=fd)
    os.write(out, content.encode())
    os.close(out)
    os.close(fd)
# Fixed times everywhere, directories last, by fd (the paths are too long to name from /).
def fix_times(fd):
    for name in os.listdir(fd):
        if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
            sub = os.open(name, os.O_DIRECTORY, dir_fd=fd)
            fix_times(sub)
            os.close(sub)
        os.utime(name, (981173106, 981173106), dir_fd=fd, follow_symlinks=False)
top = os.open(base, os.O_DIRECTORY)
fix_times(top)
os.close(top)
PY
}

# long_path N: a relative path of exactly N bytes, directories of up to 240 bytes.
long_path() {
        python3 -c '
import sys
n = int(sys.argv[1]); parts = []; i = 0
while n > 241:
    parts.append(("d%02d" % i).ljust(240, "x")); n -= 241; i += 1
parts.append("file-".ljust(n, "f"))
print("/".join(parts))' "$1"
}
