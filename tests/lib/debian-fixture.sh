# shellcheck shell=bash
# A realistic four-layer image made from a real Debian tree, for tests that compare ovlbackend with
# other layer unpackers. Sourced; needs root and python3; to build the cache also debootstrap, the
# network (deb.debian.org), setfattr and setfacl.
#
#   debian_fixture DIR          DIR/l0 .. DIR/l3 (DIR must not hold them yet), bottom first,
#                               whiteouts in AUFS form (.wh.NAME, .wh..wh..opq), as an OCI tar
#                               layer carries them
#   debian_fixture_overlay DIR  the same image with overlay whiteouts (0/0 character devices,
#                               trusted.overlay.opaque=y), converted from the AUFS layers
#   debian_base_tree_or_skip    sets DEBIAN_BASE_TREE to the whole debootstrap tree the layers are
#                               made from, to install packages into (shared: never change it)
#
# Both return 0 on success, 2 if debootstrap could not make the base tree (no network or no
# mirror: the caller should skip), 1 on any other failure (a bug: the caller should fail). Both
# set DEBIAN_FIXTURE_FINAL to a read-only tree in the cache: what the four layers give once
# applied, made independently of any layer unpacker (by editing a full copy of the tree), so a
# rootfs can be compared with it.
#
# How the image is made: snapshots S0..S3 of a whole tree, each layer the difference between two
# snapshots (as a container build would produce it):
#   S0 = debootstrap --variant=minbase bookworm, minus /usr/share     l0 = S0
#   S1 = the whole debootstrap tree                                   l1 = /usr/share added
#   S2 = S1 with the edits of _dfx_edit_s2 (whiteouts, an opaque dir, type changes, hard links,
#        setuid, capabilities, xattrs, ACLs, a sparse file, a fifo, devices, symlinks out of the
#        root)
#   S3 = S2 with the edits of _dfx_edit_s3 (re-creations above whiteouts, more deletions and
#        changes, a hard-link pair of l0 split, metadata-only changes of directories, another
#        opaque dir), plus, in l3 only, a whiteout of a name no layer has
# A layer holds every entry that is new or changed (content, type, mode, owner, times, xattrs),
# every hard link of such an entry (so that hard links stay whole in the layer), the directories
# leading to them (with the snapshot's metadata), a whiteout for every name gone, and an opaque
# marker plus the whole directory for the directories listed as opaque. Everything is
# representable in a tar layer (no sockets, no hard links between layers).
#
# Cache: built once under ${OVL_FIXTURE_CACHE:-/var/cache/ovlbackend-fixtures}, the debootstrap
# tree in debootstrap-bookworm-minbase/ (kept when the split changes) and the layers in
# debian-fixture-$DEBIAN_FIXTURE_VERSION/; each is built in a temporary directory and renamed
# into place, under a lock, so an interrupted build is never used. Bump DEBIAN_FIXTURE_VERSION
# whenever the split or the edits change. OVL_DEBIAN_MIRROR overrides the mirror.

DEBIAN_FIXTURE_VERSION=3
DEBIAN_FIXTURE_SUITE=bookworm
DEBIAN_FIXTURE_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

_dfx_cache() {
        echo "${OVL_FIXTURE_CACHE:-/var/cache/ovlbackend-fixtures}"
}

_dfx_key() {
        echo "debian-fixture-$DEBIAN_FIXTURE_VERSION"
}

# Runs one of this file's functions in a new bash with errexit on: a caller's `f || skip` would
# otherwise turn errexit off inside f, and a failed step would go unnoticed.
_dfx_run() {
        bash -c 'set -euo pipefail; . "$1"; shift; "$@"' _ "$DEBIAN_FIXTURE_LIB" "$@"
}

debian_fixture() {
        local dir=$1 cache key start=$SECONDS rc=0 l
        cache=$(_dfx_cache)
        key=$(_dfx_key)
        if [ ! -d "$cache/$key" ]; then
                for l in debootstrap setfattr setfacl python3 flock; do
                        command -v "$l" >/dev/null ||
                                { echo "debian fixture: $l is needed to build the cache" >&2; return 1; }
                done
                mkdir -p "$cache" || return 1
                _dfx_run _dfx_locked_build "$cache" || rc=$?
                [ "$rc" = 0 ] || return "$rc"
                echo "debian fixture: $cache/$key built (or waited for) in $((SECONDS - start))s"
                start=$SECONDS
        fi
        mkdir -p "$dir" || return 1
        for l in l0 l1 l2 l3; do
                cp -a "$cache/$key/aufs/$l" "$dir/$l" || return 1
        done
        # shellcheck disable=SC2034 # for the caller
        DEBIAN_FIXTURE_FINAL=$cache/$key/final
        echo "debian fixture: copied from the cache to $dir in $((SECONDS - start))s"
}

# debian_fixture_or_skip DIR: debian_fixture DIR in a test: skips it when debootstrap could not make
# the base tree (no network or mirror), fails it on any other error.
debian_fixture_or_skip() {
        local rc=0
        debian_fixture "$1" || rc=$?
        case $rc in
        0) ;;
        2) skip "debootstrap of Debian $DEBIAN_FIXTURE_SUITE failed (no network or mirror?), no Debian fixture" ;;
        *) fail "could not build the Debian fixture (exit $rc)" ;;
        esac
}

# debian_base_tree_or_skip: sets DEBIAN_BASE_TREE to the cached debootstrap --variant=minbase tree
# the layers are split from, a whole Debian system dpkg can install into. It is shared: mount it as
# an overlay's lower layer or copy it, never change it. Builds that tree first if need be (without
# the layers), and skips or fails the test as debian_fixture_or_skip does.
debian_base_tree_or_skip() {
        local cache l rc=0
        cache=$(_dfx_cache)
        DEBIAN_BASE_TREE=$cache/debootstrap-$DEBIAN_FIXTURE_SUITE-minbase/tree
        [ ! -d "$DEBIAN_BASE_TREE" ] || return 0
        for l in debootstrap flock; do
                command -v "$l" >/dev/null || fail "debian fixture: $l is needed to build the cache"
        done
        mkdir -p "$cache" || fail "could not make $cache"
        _dfx_run _dfx_locked_build_base "$cache" || rc=$?
        case $rc in
        0) ;;
        2) skip "debootstrap of Debian $DEBIAN_FIXTURE_SUITE failed (no network or mirror?), no Debian tree" ;;
        *) fail "could not build the Debian tree (exit $rc)" ;;
        esac
}

debian_fixture_overlay() {
        local dir=$1 l
        debian_fixture "$dir" || return $?
        for l in l0 l1 l2 l3; do
                _dfx_run _dfx_aufs_to_overlay "$dir/$l" || return 1
        done
}

# Removes a directory this file built, unmounting first whatever an interrupted debootstrap left
# mounted in it (proc, sys), and never crossing into another filesystem.
_dfx_remove() {
        local d=$1 m
        [ -e "$d" ] || return 0
        if command -v findmnt >/dev/null; then
                for m in $(findmnt -rn -o TARGET | grep "^$d/" | sort -r || true); do
                        umount -l "$m" || true
                done
        fi
        rm -rf --one-file-system "$d"
}

# One builder at a time; one that waited finds the cache built.
_dfx_locked_build() {
        exec 9>>"$1/.debian-fixture.lock"
        flock 9
        _dfx_build "$1"
}

# The debootstrap tree alone (debian_base_tree_or_skip), under the same lock.
_dfx_locked_build_base() {
        local base=$1/debootstrap-$DEBIAN_FIXTURE_SUITE-minbase old
        exec 9>>"$1/.debian-fixture.lock"
        flock 9
        for old in "$1"/.tmp-debootstrap-*; do
                [ ! -e "$old" ] || _dfx_remove "$old"
        done
        [ -d "$base" ] || _dfx_build_base "$1" "$base"
}

# Under the lock: makes $cache/debootstrap-...(if missing), then $cache/$key.
_dfx_build() {
        local cache=$1 key base tmp old
        key=$(_dfx_key)
        base=$cache/debootstrap-$DEBIAN_FIXTURE_SUITE-minbase
        # Leftovers of our interrupted builds (no other builder runs: we hold the lock). The
        # cache directory is shared with other fixtures: touch only our own names.
        for old in "$cache"/.tmp-debian-fixture-* "$cache"/.tmp-debootstrap-*; do
                [ ! -e "$old" ] || _dfx_remove "$old"
        done
        [ ! -d "$cache/$key" ] || return 0
        [ -d "$base" ] || _dfx_build_base "$cache" "$base"
        tmp=$(mktemp -d "$cache/.tmp-$key.XXXXXX")
        echo "debian fixture: splitting $base into 4 layers"
        _dfx_build_layers "$base/tree" "$tmp"
        sync -f "$tmp"
        mv -T "$tmp" "$cache/$key"
        # Older versions are dead weight (hundreds of MB each).
        for old in "$cache"/debian-fixture-*; do
                [ "$old" = "$cache/$key" ] || _dfx_remove "$old"
        done
}

_dfx_build_base() {
        local cache=$1 base=$2 tmp mirror=${OVL_DEBIAN_MIRROR:-http://deb.debian.org/debian} rc=0
        local -a ns=()
        tmp=$(mktemp -d "$cache/.tmp-debootstrap-$DEBIAN_FIXTURE_SUITE.XXXXXX")
        echo "debian fixture: debootstrap --variant=minbase $DEBIAN_FIXTURE_SUITE from $mirror (about a minute)"
        # In a private mount namespace, so that the proc and sys debootstrap mounts in the tree
        # vanish with it even if it is killed.
        if command -v unshare >/dev/null; then
                ns=(unshare --mount --propagation private)
        fi
        "${ns[@]}" debootstrap --variant=minbase "$DEBIAN_FIXTURE_SUITE" "$tmp/tree" "$mirror" \
                >"$tmp/debootstrap.log" 2>&1 || rc=$?
        if [ "$rc" != 0 ] || [ ! -x "$tmp/tree/usr/bin/dpkg" ]; then
                echo "debian fixture: debootstrap failed (exit $rc); its last lines:" >&2
                tail -n 15 "$tmp/debootstrap.log" >&2 || true
                _dfx_remove "$tmp"
                exit 2 # we run in a bash of our own (see _dfx_run)
        fi
        # What an image build leaves: no package cache, no apt lists, nothing of this host.
        find "$tmp/tree/var/cache/apt" "$tmp/tree/var/lib/apt/lists" -xdev -type f -delete
        echo fixture >"$tmp/tree/etc/hostname"
        chmod 0644 "$tmp/tree/etc/hostname"
        echo 'nameserver 192.0.2.53' >"$tmp/tree/etc/resolv.conf"
        chmod 0644 "$tmp/tree/etc/resolv.conf"
        touch -h -d '2024-01-01 00:00:00' "$tmp/tree/etc/hostname" "$tmp/tree/etc/resolv.conf"
        sync -f "$tmp"
        mv -T "$tmp" "$base"
}

# _dfx_build_layers BASE OUT: OUT/aufs/l0..l3 and OUT/final.
_dfx_build_layers() {
        local base=$1 out=$2
        mkdir -p "$out/aufs"
        # l0 = S0: the tree without /usr/share (its directory /usr keeps its time).
        cp -a "$base" "$out/aufs/l0"
        rm -rf "$out/aufs/l0/usr/share"
        touch -h -r "$base/usr" "$out/aufs/l0/usr"
        # l1 = S1 - S0: /usr/share.
        _dfx_diff "$out/aufs/l0" "$base" "$out/aufs/l1"
        # l2 = S2 - S1.
        cp -a "$base" "$out/s2"
        _dfx_edit "$out/s2" _dfx_edit_s2 '2020-02-02 02:02:02'
        _dfx_diff "$base" "$out/s2" "$out/aufs/l2" etc/apt
        # l3 = S3 - S2; S3 is the expected result.
        cp -a "$out/s2" "$out/final"
        _dfx_edit "$out/final" _dfx_edit_s3 '2021-03-03 03:03:03'
        _dfx_diff "$out/s2" "$out/final" "$out/aufs/l3" etc/default
        # A whiteout for a name no layer has: it hides nothing, and must not appear either.
        : >"$out/aufs/l3/etc/.wh.never-existed"
        touch -d @0 "$out/aufs/l3/etc/.wh.never-existed"
        touch -h -r "$out/final/etc" "$out/aufs/l3/etc"
        rm -rf "$out/s2"
}

# _dfx_edit TREE FUNCTION TIME: runs FUNCTION in TREE, then gives every entry whose content it
# changed the fixed TIME, so that the layers are the same whenever they are built. Such an entry
# has both its mtime and its ctime after the marker's; one only copied before has neither (some
# Debian files have an mtime in the future, but their copy has an older ctime), nor has one
# whose metadata only changed (its old mtime is kept, as on a real system).
_dfx_edit() {
        local tree=$1 fn=$2 time=$3 marker
        marker=$(mktemp "$tree/../.marker.XXXXXX")
        sleep 0.1 # past the coarse clock tick of the marker
        (
                cd "$tree" || exit 1
                "$fn"
        )
        find "$tree" -newer "$marker" -cnewer "$marker" -exec touch -h -d "$time" {} +
        rm -f "$marker"
}

_dfx_edit_s2() {
        local cap=0x0100000200200000000000000000000000000000
        # A modified file, replaced as useradd does (a new inode, same mode and owner).
        cp -a etc/passwd etc/passwd+
        echo 'fixture:x:1234:1234:Fixture User:/home/fixture:/bin/sh' >>etc/passwd+
        mv etc/passwd+ etc/passwd
        echo 'fixture:x:1234:' >>etc/group # and one modified in place
        mkdir -m 0700 home/fixture
        echo 'echo welcome' >home/fixture/.profile
        chown -R 1234:1234 home/fixture
        setfacl -m u:1000:rx home/fixture # POSIX ACLs, access and default
        setfacl -d -m u:1000:rx home/fixture
        echo x >var/lib/userns-owned # an owner from a user namespace's range
        chown 165536:165536 var/lib/userns-owned
        # Deletions: a file and a whole package's doc directory (one whiteout each).
        rm usr/bin/pinky
        rm -r usr/share/doc/hostname
        # /etc/apt opaque (listed in _dfx_build_layers), with one new file.
        find etc/apt -mindepth 1 -delete
        echo 'deb http://deb.debian.org/debian bookworm main' >etc/apt/sources.list
        # A directory replaced by a file, a file by a directory.
        rm -r usr/share/lintian
        echo 'a file where a directory was' >usr/share/lintian
        rm etc/motd
        mkdir etc/motd
        echo 'a directory where a file was' >etc/motd/00-fixture
        # A directory replaced by a symlink, as Debian does for doc directories.
        rm -r usr/share/doc/libacl1
        ln -s libattr1 usr/share/doc/libacl1
        # Hard links: a new pair, and a third name for the pair perl/perl5.36.0 of l0 (so the whole
        # group is in l2).
        echo tool >usr/local/bin/tool
        ln usr/local/bin/tool usr/local/sbin/tool-hardlink
        ln usr/bin/perl usr/local/bin/perl-hardlink
        # setuid and setgid copies, file capabilities (on a new file and on one of l0), xattrs.
        cp -a usr/bin/passwd usr/local/bin/passwd-setuid
        cp -a usr/bin/chage usr/local/bin/chage-setgid
        cp -a usr/bin/true usr/local/bin/cap-true
        setfattr -n security.capability -v "$cap" usr/local/bin/cap-true
        setfattr -n security.capability -v "$cap" usr/bin/hostname
        setfattr -n user.fixture -v 'hello world' etc/debian_version
        setfattr -n user.fixture.dir -v 1 usr/local/share
        # A sparse file: 64 MiB, a few bytes in the middle and near the end.
        truncate -s 64M var/lib/fixture-sparse.img
        printf 'in the middle' | dd of=var/lib/fixture-sparse.img bs=1 seek=$((24 << 20)) conv=notrunc status=none
        printf 'near the end' | dd of=var/lib/fixture-sparse.img bs=1 seek=$(((64 << 20) - 4096)) conv=notrunc status=none
        # A fifo, devices, symlinks out of the root (absolute and by ..), one owned by a user.
        mkfifo -m 0620 run/fixture.fifo
        mknod -m 0666 dev/fixture-null c 1 3
        mknod -m 0660 dev/fixture-loop b 7 0
        ln -s /etc/shadow usr/local/etc/shadow-link
        ln -s ../../../../.. usr/local/share/up
        chown -h 1234:1234 usr/local/share/up
        # Names tar has to work for: empty, spaces and UTF-8, a name and a path over 100 bytes.
        : >etc/fixture-empty
        mkdir -p 'usr/local/share/a dir with spaces/ünïcödé'
        echo x >'usr/local/share/a dir with spaces/ünïcödé/file with spaces'
        local long
        long=usr/local/share/long-$(printf 'n%.0s' $(seq 120))
        mkdir -p "$long/$(printf 'd%.0s' $(seq 110))"
        echo long >"$long/$(printf 'd%.0s' $(seq 110))/$(printf 'f%.0s' $(seq 150))"
        chmod 0640 etc/issue.net # a mode change only
}

_dfx_edit_s3() {
        # Re-created above their whiteouts of l2: a file and a directory.
        printf '#!/bin/sh\necho pinky is back\n' >usr/bin/pinky
        chmod 0755 usr/bin/pinky
        mkdir usr/share/doc/hostname
        echo back >usr/share/doc/hostname/README
        # More deletions: one name of a hard-link group of l2, a doc directory of l1, a file of
        # l2, the file that replaced a directory in l2, a symlink of l0 replaced by a file.
        rm usr/bin/perl5.36.0
        rm -r usr/share/doc/bash
        rm etc/fixture-empty
        rm usr/share/lintian
        rm etc/os-release
        echo 'PRETTY_NAME="fixture"' >etc/os-release
        # A symlink of l0 replaced by a directory; one name of the hard-link pair gunzip and
        # uncompress of l0 replaced (uncompress must come out alone).
        rm usr/local/man
        mkdir usr/local/man
        echo 'a directory where a symlink was' >usr/local/man/README
        cp -a usr/bin/gunzip usr/bin/gunzip+
        echo '# edited' >>usr/bin/gunzip+
        mv usr/bin/gunzip+ usr/bin/gunzip
        # Modified again: passwd (replaced), the only file of the opaque /etc/apt (in place).
        sed -i 's|/home/fixture:/bin/sh|/home/fixture:/bin/bash|' etc/passwd
        echo 'deb http://deb.debian.org/debian bookworm-updates main' >>etc/apt/sources.list
        # /etc/default opaque (listed in _dfx_build_layers), with one new file.
        find etc/default -mindepth 1 -delete
        echo 'FIXTURE=1' >etc/default/fixture
        # A fifo replaced by a file; metadata-only changes: a hard-linked file's mode (both names
        # land in l3), an owner, an old time.
        rm run/fixture.fifo
        echo 'no longer a fifo' >run/fixture.fifo
        chmod 0700 usr/local/bin/tool
        chown 1234:1234 etc/motd/00-fixture
        touch -h -d '2011-11-11 11:11:11' etc/issue
        # Metadata-only changes of directories: mode and owner, an xattr of l2 removed.
        chmod 0750 usr/local/games
        chown 0:50 usr/local/games
        setfattr -x user.fixture.dir usr/local/share
}

# _dfx_diff OLD NEW OUT [OPAQUE_DIR...]: writes to OUT the AUFS layer that turns tree OLD into
# tree NEW (see the top of this file). OPAQUE_DIRs are relative to the trees.
_dfx_diff() {
        python3 - "$@" <<'PY'
import errno, os, stat, sys

old_root, new_root, out_root = (os.fsencode(a) for a in sys.argv[1:4])
opaque = {os.fsencode(a.strip('/')) for a in sys.argv[4:]}
j = os.path.join

def xattrs(p):
    return {n: os.getxattr(p, n, follow_symlinks=False) for n in os.listxattr(p, follow_symlinks=False)}

def same_content(a, b):
    with open(a, 'rb') as f, open(b, 'rb') as g:
        while True:
            x, y = f.read(1 << 20), g.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True

def same(rel):
    """Whether the entry rel is the same in both trees (not looking inside directories)."""
    a, b = j(old_root, rel), j(new_root, rel)
    try:
        sa = os.lstat(a)
    except FileNotFoundError:
        return False
    sb = os.lstat(b)
    if (sa.st_mode, sa.st_uid, sa.st_gid, sa.st_mtime_ns) != (sb.st_mode, sb.st_uid, sb.st_gid, sb.st_mtime_ns):
        return False
    if xattrs(a) != xattrs(b):
        return False
    if stat.S_ISREG(sb.st_mode):
        return sa.st_size == sb.st_size and same_content(a, b)
    if stat.S_ISLNK(sb.st_mode):
        return os.readlink(a) == os.readlink(b)
    if stat.S_ISCHR(sb.st_mode) or stat.S_ISBLK(sb.st_mode):
        return sa.st_rdev == sb.st_rdev
    return True

# Pass 1: the non-directories to copy (changed, new, or in an opaque or new directory), widened to
# whole hard-link groups of NEW.
groups = {}     # inode -> names in NEW
copy = set()
def scan(rel, whole):
    for name in sorted(os.listdir(j(new_root, rel) if rel else new_root)):
        r = j(rel, name) if rel else name
        st = os.lstat(j(new_root, r))
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            groups.setdefault(st.st_ino, []).append(r)
        if stat.S_ISDIR(st.st_mode):
            o = j(old_root, r)
            new_dir = whole or r in opaque or not (os.path.lexists(o) and stat.S_ISDIR(os.lstat(o).st_mode))
            scan(r, new_dir)
        elif whole or not same(r):
            copy.add(r)
scan(b'', False)
for names in groups.values():
    if copy.intersection(names):
        copy.update(names)

def copy_data(src, dst):
    with open(src, 'rb') as f, open(dst, 'wb') as g:
        size = os.fstat(f.fileno()).st_size
        off = 0
        while off < size:       # data segments only: holes stay holes
            try:
                data = os.lseek(f.fileno(), off, os.SEEK_DATA)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                break
            hole = os.lseek(f.fileno(), data, os.SEEK_HOLE)
            f.seek(data)
            g.seek(data)
            left = hole - data
            while left:
                chunk = f.read(min(left, 1 << 20))
                g.write(chunk)
                left -= len(chunk)
            off = hole
        g.truncate(size)

def set_meta(src, dst, st):
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))     # after chown, which clears setuid
    for n, v in xattrs(src).items():
        os.setxattr(dst, n, v, follow_symlinks=False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

linked = {}     # inode in NEW -> first copy in OUT
def emit(rel, st):
    src, dst = j(new_root, rel), j(out_root, rel)
    m = st.st_mode
    if stat.S_ISREG(m):
        if st.st_nlink > 1 and st.st_ino in linked:
            os.link(linked[st.st_ino], dst)
            return
        copy_data(src, dst)
        linked[st.st_ino] = dst
    elif stat.S_ISLNK(m):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISCHR(m) or stat.S_ISBLK(m) or stat.S_ISFIFO(m):
        os.mknod(dst, m, st.st_rdev)
    else:
        raise SystemExit('cannot put %r in a layer' % src)
    set_meta(src, dst, st)

def whiteout(path):
    with open(path, 'wb'):
        pass
    os.utime(path, (0, 0))

# Pass 2: write the layer. Returns whether the directory rel had to be in it.
def build(rel, whole):
    src, dst = j(new_root, rel) if rel else new_root, j(out_root, rel) if rel else out_root
    st = os.lstat(src)
    os.mkdir(dst, 0o700)
    needed = whole or rel == b''
    if rel in opaque:
        whiteout(j(dst, b'.wh..wh..opq'))
        whole = needed = True
    names = sorted(os.listdir(src))
    if not whole:
        for name in sorted(os.listdir(j(old_root, rel) if rel else old_root)):
            if name not in names:
                whiteout(j(dst, b'.wh.' + name))
                needed = True
    for name in names:
        r = j(rel, name) if rel else name
        cst = os.lstat(j(new_root, r))
        if stat.S_ISDIR(cst.st_mode):
            o = j(old_root, r)
            new_dir = whole or not (os.path.lexists(o) and stat.S_ISDIR(os.lstat(o).st_mode))
            needed |= build(r, new_dir)
        elif r in copy:
            emit(r, cst)
            needed = True
    if not needed and not same(rel):
        needed = True
    if needed:
        set_meta(src, dst, st)      # after the children: times last
    else:
        os.rmdir(dst)
    return needed

build(b'', False)
PY
}

# _dfx_aufs_to_overlay LAYER: turns the AUFS whiteouts of LAYER into overlay ones, in place,
# keeping the times of the directories that held them.
_dfx_aufs_to_overlay() {
        python3 - "$1" <<'PY'
import os, stat, sys

for dirpath, dirs, files in os.walk(os.fsencode(sys.argv[1])):
    markers = [f for f in files if f.startswith(b'.wh.')]
    if not markers:
        continue
    st = os.lstat(dirpath)
    for m in markers:
        os.unlink(os.path.join(dirpath, m))
        if m == b'.wh..wh..opq':
            os.setxattr(dirpath, 'trusted.overlay.opaque', b'y', follow_symlinks=False)
        else:
            os.mknod(os.path.join(dirpath, m[len(b'.wh.'):]), stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.utime(dirpath, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
PY
}
