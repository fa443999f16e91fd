#!/usr/bin/env bash
# The erofs image writer (ovl_erofs_write_tree, common/erofs_image.h) against the kernel and
# erofs-utils. A tree on a tmpfs holds every kind of entry a metadata layer can: nested and empty
# directories, a directory of 3000 entries spanning many blocks with names up to 255 bytes and
# names that sort trickily, directories whose entries exactly fill their blocks, short and long
# symlinks, hard links, device nodes (large majors and minors, the 0:0 whiteout), a fifo, a socket,
# files with data, metacopy stubs up to 20 TiB (sparse), xattrs of every namespace the image holds
# (user., trusted., security.capability, POSIX ACLs, on symlinks too), owners, special modes, and
# mtimes with nanoseconds before 1970 and after 2038. tests/erofs-write writes its image;
# fsck.erofs must accept it; dump.erofs must show a chunk-based image about the size of the data;
# mounted from the file (mount(2) with the file as source, as ovlbackend's fsopen mounts it) and
# through a loop device (mount(8)), every entry must read back as in the tree: path, type, mode,
# owner, nlink, size, mtime, rdev, target, xattrs, data (a stub: zeros), d_type and d_ino, every
# lookup, every listing. Then the limits: a 65535-byte xattr value and the most xattrs an inode
# holds fit, a 65536-byte value and 4 bytes more are refused with -EOPNOTSUPP; a top alone.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd python3 fsck.erofs dump.erofs mkfs.erofs setfacl findmnt truncate
[ -x "${OVL_EROFS_WRITE:-}" ] || skip "OVL_EROFS_WRITE (tests/erofs-write, built by make check) is not set"
enter_private_mountns "$@"
START=$SECONDS

# mount_file IMAGE DIR: mounts IMAGE read-only with the file itself as the source, which the kernel
# takes as a file-backed erofs mount (6.12+); mount(8) would set up a loop device instead.
mount_file() {
        python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
if libc.mount(os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2]), b"erofs", 1, None) != 0:  # MS_RDONLY
    sys.exit("mount -t erofs %s %s: %s" % (sys.argv[1], sys.argv[2], os.strerror(ctypes.get_errno())))
' "$1" "$2"
}

# The kernel must have erofs and mount an image from a file: probed with an image of erofs-utils'.
grep -qw erofs /proc/filesystems || modprobe erofs 2>/dev/null || true
grep -qw erofs /proc/filesystems || skip "the kernel has no erofs"
mkdir "$TEST_TMP/probe" "$TEST_TMP/probe-mnt"
echo probe >"$TEST_TMP/probe/f"
mkfs.erofs --quiet "$TEST_TMP/probe.img" "$TEST_TMP/probe" >/dev/null 2>&1 || fail "mkfs.erofs of a one-file tree failed"
mount_file "$TEST_TMP/probe.img" "$TEST_TMP/probe-mnt" 2>"$TEST_TMP/probe.err" ||
        skip "the kernel mounts no erofs image from a file (file-backed mounts are 6.12+): $(cat "$TEST_TMP/probe.err")"
umount "$TEST_TMP/probe-mnt"

# The tree lives on a tmpfs: unlike ext4 it takes xattr values up to 64 KiB and files of 20 TiB.
FS=$TEST_TMP/fs
mkdir "$FS"
mount -t tmpfs -o mode=0755,size=256m ovl-erofs-test "$FS"
TREE=$FS/tree
mkdir "$TREE"

# ---- the tree -----------------------------------------------------------------------------------
# Built in Python to set exact bytes, owners and xattrs; the ACLs with setfacl; the nanosecond
# times last, printing those the filesystem did not keep (they are then compared as it keeps them).
python3 - "$TREE" <<'EOF'
import os, random, socket, struct, sys

T = os.fsencode(sys.argv[1])
os.chdir(T)
rnd = random.Random(20240601)

def b(s):
    return s if isinstance(s, bytes) else s.encode()

def write(p, data=b"", mode=0o644):
    with open(b(p), "wb") as f:
        f.write(data)
    os.chmod(b(p), mode)

def mkdir(p, mode=0o755):
    os.mkdir(b(p))
    os.chmod(b(p), mode)

def xattr(p, name, value):
    os.setxattr(b(p), name, value, follow_symlinks=False)

# Nested directories (40 levels: deeper than the walk keeps open), empty directories.
os.makedirs(b"nest/" + b"/".join(b"d%d" % i for i in range(1, 41)))
write(b"nest/" + b"/".join(b"d%d" % i for i in range(1, 41)) + b"/leaf", b"deep\n")
mkdir("nest/d1/sibling")
mkdir("empty")
mkdir("empty-private", 0o700)
mkdir("empty-sticky", 0o1777)
mkdir("nest/d1/d2/empty")

# Names that sort trickily, bytes >= 0x80 (UTF-8 and not), the longest a name can be.
TRICKY = [b".a", b"-x", b"+", b"~", b"a", b"a0", b"a.b", b"ab", b"a~", b"A", b"Z", b"_", b"..a", b"...",
          b"\xc3\xa9", b"\xc3\xa9x", "日本語".encode(), b"\x80", b"\xff", b"\xfe\xff", b"\x01", b" lead",
          b"trail ", b"new\nline", b"tab\t", b"a" * 254, b"a" * 255, b"z" * 255, b"\xff" * 255,
          "é".encode() * 127, b"b" * 128]
mkdir("tricky")
for i, n in enumerate(TRICKY):
    write(b"tricky/" + n, n[:1] * (i % 3))

# One directory of 3000 entries of every kind, so its entries span many blocks, with the tricky names
# among them and names of every length up to 255.
mkdir("big")
for i in range(3000):
    length = 255 if i % 50 == 0 else 5 + (i * 37) % 251
    name = (b"%04d-" % i + bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789._-") for _ in range(255)))[:length]
    p = b"big/" + name
    k = i % 10
    if k == 0:
        os.mkdir(p)
    elif k == 1:
        os.symlink(b"target-%d" % i, p)
    elif k == 2:
        os.mkfifo(p)
    elif k == 3:
        write(p, b"x" * (i % 5))
        xattr(p, "trusted.overlay.metacopy", b"")
        os.truncate(p, i * 1000)
        xattr(p, "trusted.overlay.redirect", b"/big/orig-%d" % i)
    else:
        write(p)
for n in TRICKY:
    write(b"big/" + n, b"T")
xattr("big", "user.dir", b"an xattr before the inline last block")

# Directories whose entries exactly fill one and two 4 KiB blocks: an entry takes 12 bytes and its
# name; "." and ".." take 27, a 25-byte name 37, a 240-byte name 252, a 52-byte name 64.
for d, blocks in (("fill1", 1), ("fill2", 2)):
    mkdir(d)
    write(d + "/" + "a" * 25)
    for j in range(16):
        write(d + "/" + ("b%02d" % j) + "b" * 237)
    if blocks == 2:
        for j in range(16):
            write(d + "/" + ("c%02d" % j) + "c" * 237)
        write(d + "/" + "d" * 52)
# A directory of 4032 bytes, which with its 64-byte inode exactly fills a block: "." and "..", 15
# names of 240 bytes and one of 213.
mkdir("fill-inline")
for j in range(15):
    write("fill-inline/" + ("e%02d" % j) + "e" * 237)
write("fill-inline/" + "f" * 213)
# A directory whose last block (2931 bytes) does not fit beside its inode and its 2000-byte xattr.
mkdir("tailplain")
for j in range(12):
    write("tailplain/" + ("t%02d" % j) + "t" * 227)
xattr("tailplain", "user.pad", bytes(rnd.getrandbits(8) for _ in range(2000)))

# Symlinks: short, long (inline and not), one with xattrs, one to /etc and one to a directory of
# the tree (neither may be followed), dangling, and a hard-linked one.
mkdir("links")
os.symlink(b"t", b"links/short")
os.symlink(b"/etc", b"to-etc")
os.symlink(b"../nest", b"links/dirlink")
os.symlink(b"..", b"links/dotdot")
os.symlink(b"nowhere/at/all", b"links/dangling")
os.symlink(b"\xff\xfe/\xc3\xa9", b"links/bytes")
os.symlink(b"/".join([b"p" * 99] * 40)[:4000], b"links/long4000")
os.symlink(b"q" * 4095, b"links/long4095")
os.symlink(b"k" * 4032, b"links/long4032")  # with its 64-byte inode, exactly one block
os.symlink(b"r" * 4000, b"links/long-xattr")
xattr("links/long-xattr", "trusted.sym", b"v" * 100)
os.symlink(b"s" * 3900, b"links/long-bigxattr")
xattr("links/long-bigxattr", "trusted.pad", b"w" * 3000)
xattr("links/short", "trusted.overlay.redirect", b"/elsewhere")
xattr("links/short", "trusted.empty", b"")
os.link(b"links/short", b"links/short-hardlink", follow_symlinks=False)
os.lchown(b"links/dangling", 1234, 5678)

# Device nodes, a fifo (hard-linked), a socket.
mkdir("dev")
for name, kind, ma, mi in (("null", 0o020000, 1, 3), ("c1-300", 0o020000, 1, 300), ("b259-0", 0o060000, 259, 0),
                           ("b259-7", 0o060000, 259, 7), ("cmax", 0o020000, 4095, 1048575),
                           ("b8-1", 0o060000, 8, 1), ("c-bigminor", 0o020000, 10, 70000)):
    os.mknod(b("dev/" + name), kind | 0o640, os.makedev(ma, mi))
os.mknod(b"dev/whiteout", 0o020000, os.makedev(0, 0))
os.chmod(b"dev/whiteout", 0)
xattr("dev/null", "trusted.dev", b"x")
os.mkfifo(b"dev/fifo", 0o600)
os.link(b"dev/fifo", b"dev/fifo-hardlink")
s = socket.socket(socket.AF_UNIX)
s.bind("dev/sock")
s.close()

# Regular files with data, owners, modes, xattrs.
mkdir("data")
write("data/empty")
write("data/one", b"1")
write("data/b4095", bytes(rnd.getrandbits(8) for _ in range(4095)))
write("data/b4096", bytes(rnd.getrandbits(8) for _ in range(4096)))
write("data/b4097", bytes(rnd.getrandbits(8) for _ in range(4097)))
write("data/rand1m", rnd.randbytes(1 << 20))
write("data/zeros", bytes(10000))
write("data/xattrs", b"abc")
xattr("data/xattrs", "user.a", b"1")
xattr("data/xattrs", "user.b", b"two")
xattr("data/xattrs", "user.empty", b"")
xattr("data/xattrs", "user.bin", b"\x00\x01\xff\x00")
xattr("data/xattrs", "user." + "n" * 250, b"longest name")
xattr("data/xattrs", "trusted.t", b"trusted")
xattr("data/xattrs", "security.s", b"sec")
write("data/bigxattr", b"big")
xattr("data/bigxattr", "user.big", rnd.randbytes(60000))
xattr("data/bigxattr", "user.after", b"after the big one")
write("data/cap", b"#!/bin/true\n", 0o755)
write("data/setuid", b"u", 0o4755)
write("data/setgid", b"g", 0o2755)
write("data/allbits", b"7", 0o7777)
write("data/none", b"0", 0)
write("data/owned", b"o")
write("data/bigid", b"i")
write("data/maxid", b"m")
write("data/acl", b"acl")
mkdir("aclsdir")
mkdir("owned-dir", 0o3775)
mkdir("hl")
mkdir("hl/a")
mkdir("hl/b")
write("hl/a/one", b"three names\n")
os.link(b"hl/a/one", b"hl/b/two")
os.link(b"hl/a/one", b"three")
xattr("hl/a/one", "user.hl", b"shared")

# Stubs: metacopy (empty, and one with a value) and a redirect; sparse up to 20 TiB, so the chunk
# map needs more than one chunk; one whose own data must not reach the image, one hard-linked, one
# with an xattr pushing its chunk map far from its inode.
mkdir("stubs")
STUBS = {"s0": 0, "s1": 1, "s4096": 4096, "s5000": 5000, "s8192": 8192, "s3g": 3 << 30, "s10g": 10 << 30,
         "s20t": 20 << 40, "s-data": 12345, "s-value": 77777, "s-pad": 9000}
for name, size in STUBS.items():
    p = "stubs/" + name
    write(p, b"DATA" * 4000 if name == "s-data" else b"")
    try:
        os.truncate(b(p), size)
    except OSError as e:
        print("NOTE: stub %s of %d bytes not made: %s" % (name, size, e))
        os.unlink(b(p))
        continue
    xattr(p, "trusted.overlay.metacopy", b"\x00\x24\x01\x01" if name == "s-value" else b"")
    xattr(p, "trusted.overlay.redirect", b"/orig/" + b(name))
xattr("stubs/s-pad", "trusted.pad", b"p" * 3500)
xattr("stubs/s-data", "trusted.overlay.redirect", b"/" + b"R" * 1000)
os.link(b"stubs/s5000", b"stubs/s5000-hardlink")
os.mkdir(b"stubs/opaque")
xattr("stubs/opaque", "trusted.overlay.opaque", b"y")

# The root of the tree has xattrs of its own.
xattr(".", "user.root", b"top")
xattr(".", "trusted.overlay.opaque", b"y")

# Owners (chown clears setuid bits and capabilities, so before modes and xattrs), then modes.
for p, uid, gid in (("data/owned", 1234, 5678), ("data/bigid", 100000, 100000), ("data/maxid", 4294967294, 4294967294),
                    ("owned-dir", 1234, 5678), ("empty-private", 100000, 5678), ("dev/c1-300", 1234, 0),
                    ("stubs/s10g", 1234, 5678), ("links/short", 100000, 100000)):
    os.lchown(b(p), uid, gid)
os.chmod(b"owned-dir", 0o3775)
os.chmod(b"data/setuid", 0o4755)
os.chmod(b"data/setgid", 0o2755)
os.chmod(b"data/allbits", 0o7777)
os.chmod(b"stubs/s1", 0o4711)
# security.capability, cap_net_raw+ep as setcap writes it (VFS_CAP_REVISION_2, effective).
xattr("data/cap", "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0))
EOF
setfacl -m u:1234:rwx,g:5678:r-x,u:100000:r,m::rwx "$TREE/data/acl"
setfacl -m u:1234:rwx "$TREE/aclsdir"
setfacl -d -m u:1234:r-x,g:5678:rwx "$TREE/aclsdir"
echo inherited >"$TREE/aclsdir/inherits"
mkdir "$TREE/aclsdir/subdir"
setfacl -m u:1234:r "$TREE/stubs/s5000"

# Times last (every change above moved a directory's mtime): nanoseconds everywhere, and times
# before 1970 and after 2038 on some entries. Bottom-up, so a directory's time stays as set.
python3 - "$TREE" <<'EOF'
import os, sys

T = os.fsencode(sys.argv[1])
S = 1000000000
SPECIAL = {
    b"data/one": -315619200 * S + 123456789,    # 1960-01-01 00:00:00.123456789
    b"data/empty": -1,                           # 1969-12-31 23:59:59.999999999
    b"data/b4097": 0,                            # the epoch
    b"data/b4096": 4102444800 * S + 500000000,   # 2100-01-01 00:00:00.5
    b"dev/c1-300": (1 << 33) * S + 1,            # in 2242
    b"nest/d1": 2208988800 * S + 999999999,      # 2040
    b"links/short": -631152000 * S + 42,         # 1950, on a symlink
    b"empty": (1 << 31) * S,                     # 2038-01-19 03:14:08, just past 32 bits
    b"stubs/s20t": ((1 << 31) - 1) * S + 999999999,
}
paths = []
for root, dirs, files in os.walk(T):
    for n in dirs + files:
        paths.append(os.path.join(root, n))
paths.sort(key=lambda p: -p.count(b"/"))
for k, p in enumerate(paths + [T]):
    rel = os.path.relpath(p, T)
    ns = SPECIAL.get(rel, (1700000000 + k * 3607) * S + (k * 7919 + 1) % S)
    os.utime(p, ns=(ns, ns), follow_symlinks=False)
    got = os.lstat(p).st_mtime_ns
    if got != ns:
        print("NOTE: %s: the tree's filesystem holds mtime %d ns, not %d: compared as it is" % (rel.decode(errors="replace"), got, ns))
EOF

# ---- the comparison -----------------------------------------------------------------------------
# compare_tree TREE MNT WHAT [extracted]: every entry of the mounted image against the tree; prints
# each mismatch and exits 1 when there is any. With "extracted", MNT is what fsck.erofs --extract
# wrote, which erofs-utils 1.5 writes without xattrs, hard links, setuid and setgid bits, and the
# trailing hole of a file: those are not compared, nor inode numbers.
compare_tree() {
        python3 - "$1" "$2" "$3" "${4:-}" <<'EOF'
import ctypes, hashlib, os, stat, sys

SRC, MNT, WHAT = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2]), sys.argv[3]
EXTRACTED = sys.argv[4] == "extracted"
MIB = 1 << 20
problems = []

def show(p):
    return repr(p)[2:-1] if p else "(the top)"

def bad(p, what):
    problems.append("%s: %s: %s" % (WHAT, show(p), what))

# readdir(3) for the raw d_type and d_ino, which os.scandir does not show.
libc = ctypes.CDLL(None, use_errno=True)
class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64), ("d_reclen", ctypes.c_ushort),
                ("d_type", ctypes.c_ubyte), ("d_name", ctypes.c_char * 256)]
libc.opendir.restype = ctypes.c_void_p
libc.opendir.argtypes = [ctypes.c_char_p]
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.closedir.argtypes = [ctypes.c_void_p]

def listdir_raw(path):
    d = libc.opendir(path)
    if not d:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)
    out = []
    try:
        while True:
            ctypes.set_errno(0)
            ent = libc.readdir(d)
            if not ent:
                e = ctypes.get_errno()
                if e:
                    raise OSError(e, os.strerror(e), path)
                return out
            out.append((ent.contents.d_name, ent.contents.d_type, ent.contents.d_ino))
    finally:
        libc.closedir(d)

DT = {stat.S_IFREG: 8, stat.S_IFDIR: 4, stat.S_IFLNK: 10, stat.S_IFCHR: 2, stat.S_IFBLK: 6, stat.S_IFIFO: 1,
      stat.S_IFSOCK: 12}

def xattrs(p):
    names = os.listxattr(p, follow_symlinks=False)
    return {n: os.getxattr(p, n, follow_symlinks=False) for n in names}

def walk(top):
    """rel path -> (lstat, raw listing) for the tree at top, symlinks never followed."""
    out, todo = {}, [b""]
    while todo:
        rel = todo.pop()
        p = os.path.join(top, rel) if rel else top
        st = os.lstat(p)
        listing = None
        if stat.S_ISDIR(st.st_mode):
            listing = listdir_raw(p)
            for name, _, _ in listing:
                if name not in (b".", b".."):
                    todo.append(os.path.join(rel, name) if rel else name)
        out[rel] = (st, listing)
    return out

src = walk(SRC)
try:
    img = walk(MNT)
except OSError as e:
    print("FAIL: %s: walking the mounted image: %s" % (WHAT, e))
    sys.exit(1)

for p in sorted(set(src) - set(img)):
    bad(p, "in the tree, missing from the image")
for p in sorted(set(img) - set(src)):
    bad(p, "in the image, not in the tree")

def fmt_dev(d):
    return "%d:%d" % (os.major(d), os.minor(d))

def compare_entry(p, s, sl, i, il):
    sp = os.path.join(SRC, p) if p else SRC
    ip = os.path.join(MNT, p) if p else MNT
    if stat.S_IFMT(s.st_mode) != stat.S_IFMT(i.st_mode):
        bad(p, "type %o in the tree, %o in the image" % (stat.S_IFMT(s.st_mode), stat.S_IFMT(i.st_mode)))
        return
    mode_mask = 0o171777 if EXTRACTED else 0o177777
    if s.st_mode & mode_mask != i.st_mode & mode_mask:
        bad(p, "mode %o in the tree, %o in the image" % (s.st_mode, i.st_mode))
    for field in ("st_uid", "st_gid", "st_mtime_ns"):
        if getattr(s, field) != getattr(i, field):
            bad(p, "%s %d in the tree, %d in the image" % (field, getattr(s, field), getattr(i, field)))
    sx = xattrs(sp)
    stub = stat.S_ISREG(s.st_mode) and "trusted.overlay.metacopy" in sx
    if stat.S_ISDIR(s.st_mode):
        subdirs = sum(1 for n, _, _ in il if n not in (b".", b"..") and stat.S_ISDIR(img[os.path.join(p, n) if p else n][0].st_mode))
        if i.st_nlink != 2 + subdirs:
            bad(p, "directory nlink %d in the image, expected 2 + %d subdirectories" % (i.st_nlink, subdirs))
    elif s.st_size != i.st_size and not (EXTRACTED and stub):
        bad(p, "size %d in the tree, %d in the image" % (s.st_size, i.st_size))
    if s.st_nlink != i.st_nlink and not (EXTRACTED and not stat.S_ISDIR(s.st_mode)):
        bad(p, "nlink %d in the tree, %d in the image" % (s.st_nlink, i.st_nlink))
    if (stat.S_ISCHR(s.st_mode) or stat.S_ISBLK(s.st_mode)) and s.st_rdev != i.st_rdev:
        bad(p, "device %s in the tree, %s in the image" % (fmt_dev(s.st_rdev), fmt_dev(i.st_rdev)))
    if not EXTRACTED:
        ix = xattrs(ip)
        if sorted(sx) != sorted(ix):
            bad(p, "xattr names %s in the tree, %s in the image" % (sorted(sx), sorted(ix)))
        for n in sorted(set(sx) & set(ix)):
            if sx[n] != ix[n]:
                bad(p, "xattr %s: %d bytes %r... in the tree, %d bytes %r... in the image" % (n, len(sx[n]), sx[n][:32], len(ix[n]), ix[n][:32]))
    if stat.S_ISLNK(s.st_mode):
        st_, it_ = os.readlink(sp), os.readlink(ip)
        if st_ != it_:
            bad(p, "symlink target %d bytes %r... in the tree, %d bytes %r... in the image" % (len(st_), st_[:40], len(it_), it_[:40]))
    if stub and not EXTRACTED:
        # A hole of the stub's size, whatever data the stub has in the tree: its first and last MiB
        # are read, and nothing past its end.
        with open(ip, "rb", buffering=0) as f:
            head = os.pread(f.fileno(), MIB, 0)
            tail = os.pread(f.fileno(), MIB, max(0, i.st_size - MIB))
            past = os.pread(f.fileno(), 16, i.st_size)
        if len(head) != min(MIB, s.st_size) or len(tail) != min(MIB, s.st_size):
            bad(p, "stub of %d bytes: read %d bytes at its start, %d at its end" % (s.st_size, len(head), len(tail)))
        if head.count(0) != len(head) or tail.count(0) != len(tail):
            bad(p, "stub: not all zeros (first nonzero byte at %d of its first MiB)" % next((k for k, c in enumerate(head) if c), -1))
        if past:
            bad(p, "stub: %d bytes read past its end" % len(past))
    elif stat.S_ISREG(s.st_mode) and not stub:
        hs, hi = sha256(sp), sha256(ip)
        if hs != hi:
            bad(p, "data differs (sha256 %s in the tree, %s in the image)" % (hs[:16], hi[:16]))
    if stat.S_ISDIR(s.st_mode):
        compare_listing(p, ip, i, sl, il)

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()

def compare_listing(p, ip, i, sl, il):
    """The names, once each, with "." and ".."; each d_type and d_ino as its inode says; and no
    name found that is not listed."""
    sn = sorted(n for n, _, _ in sl if n not in (b".", b".."))
    inames = [n for n, _, _ in il]
    if sorted(n for n in inames if n not in (b".", b"..")) != sn:
        bad(p, "listing differs: %d names in the tree, %d in the image" % (len(sn), len(inames) - 2))
    if inames.count(b".") != 1 or inames.count(b"..") != 1 or len(set(inames)) != len(inames):
        bad(p, "listing: '.' %d times, '..' %d times, %d duplicate names" % (inames.count(b"."), inames.count(b".."), len(inames) - len(set(inames))))
    sdt = {n: t for n, t, _ in sl}
    for n, t, ino in il:
        child = os.path.join(p, n) if p else n
        if n == b".":
            want_ino, want_t = i.st_ino, 4
        elif n == b"..":
            want_ino, want_t = (img[os.path.dirname(p)][0].st_ino if p else i.st_ino), 4
        elif child in img:
            want_ino, want_t = img[child][0].st_ino, DT[stat.S_IFMT(img[child][0].st_mode)]
            if sdt.get(n, 0) != 0 and sdt[n] != t:
                bad(child, "d_type %d in the tree, %d in the image" % (sdt[n], t))
        else:
            continue
        if t != want_t:
            bad(child, "d_type %d, its inode says %d" % (t, want_t))
        if ino != want_ino and not EXTRACTED:
            bad(child, "d_ino %d in the listing, %d from lstat" % (ino, want_ino))
    # Lookups of names that are not there: neighbours of every name in the sort order.
    present = set(sn)
    for n in sn:
        for probe in (n[:-1], n + b"!", n + b"\xff", n[:1]):
            if not probe or probe in present or len(probe) > 255 or probe in (b".", b".."):
                continue
            try:
                os.lstat(os.path.join(ip, probe))
                bad(os.path.join(p, probe), "found in the image, absent from the tree")
            except FileNotFoundError:
                pass

src_groups, img_groups = {}, {}
for p in sorted(set(src) & set(img)):
    src_groups.setdefault(src[p][0].st_ino, []).append(p)
    img_groups.setdefault(img[p][0].st_ino, []).append(p)
    try:
        compare_entry(p, *src[p], *img[p])
    except OSError as e:
        bad(p, "%s: %s" % (e.filename, e.strerror))

# Hard links: the same groups of names share one inode on both sides.
sg = sorted(sorted(v) for v in src_groups.values())
ig = sorted(sorted(v) for v in img_groups.values())
if sg != ig and not EXTRACTED:
    only_s = [[show(x) for x in g] for g in sg if g not in ig]
    only_i = [[show(x) for x in g] for g in ig if g not in sg]
    bad(b"", "hard-link groups differ: only in the tree %s, only in the image %s" % (only_s[:5], only_i[:5]))

for line in problems[:300]:
    print("MISMATCH " + line)
if len(problems) > 300:
    print("... and %d more mismatches" % (len(problems) - 300))
print("%s: %d entries compared, %d mismatches" % (WHAT, len(src), len(problems)))
sys.exit(1 if problems else 0)
EOF
}

# ---- the image ----------------------------------------------------------------------------------
IMG=$TEST_TMP/tree.erofs
"$OVL_EROFS_WRITE" "$TREE" "$IMG" 2>"$TEST_TMP/write.err" || fail "erofs-write of the tree exited $?: $(cat "$TEST_TMP/write.err")"
echo "image written: $(stat -c %s "$IMG") bytes, $(($(stat -c %b "$IMG") * 512)) allocated ($((SECONDS - START)) s)"

FAILED=0
# A failure that does not stop the test: the other checks still run and show what else is wrong.
problem() {
        echo "FAIL: $*" >&2
        FAILED=$((FAILED + 1))
}

# fsck.erofs checks the metadata; with --extract it reads every file's data as well, and with
# --extract=DIR writes the tree out, which is then compared with the tree: erofs-utils' own reading
# of the image, beside the kernel's.
if ! fsck.erofs "$IMG" >"$TEST_TMP/fsck.out" 2>&1; then
        problem "fsck.erofs rejects the image: $(tr '\n' ' ' <"$TEST_TMP/fsck.out")"
elif ! fsck.erofs --extract "$IMG" >"$TEST_TMP/fsck.out" 2>&1; then
        problem "fsck.erofs --extract (reading all data) rejects the image: $(tr '\n' ' ' <"$TEST_TMP/fsck.out")"
elif ! fsck.erofs --extract="$FS/extracted" "$IMG" >"$TEST_TMP/fsck.out" 2>&1; then
        problem "fsck.erofs --extract=DIR fails: $(tr '\n' ' ' <"$TEST_TMP/fsck.out")"
else
        echo "fsck.erofs accepts the image"
        compare_tree "$TREE" "$FS/extracted" "extracted by fsck.erofs" extracted ||
                problem "what fsck.erofs extracts differs from the tree (see the MISMATCH lines)"
        rm -rf "$FS/extracted"
fi

dump.erofs -s "$IMG" >"$TEST_TMP/dump.out" 2>&1 || problem "dump.erofs -s failed: $(cat "$TEST_TMP/dump.out")"
grep -q 'Filesystem features:.*chunked_file' "$TEST_TMP/dump.out" ||
        problem "dump.erofs -s shows no chunked_file feature: $(grep features "$TEST_TMP/dump.out")"
# Every inode of the tree is in the image, and no more: nothing outside it (/etc, through to-etc)
# was walked. The tree's inodes, and the bytes its files other than stubs take in 4 KiB blocks.
read -r want_inodes data_bytes < <(python3 - "$TREE" <<'EOF'
import os, stat, sys
inodes, data = set(), 0
for root, dirs, files in os.walk(os.fsencode(sys.argv[1])):
    for p in [root] + [os.path.join(root, n) for n in dirs + files]:
        st = os.lstat(p)
        if st.st_ino in inodes:
            continue
        inodes.add(st.st_ino)
        if stat.S_ISREG(st.st_mode) and "trusted.overlay.metacopy" not in os.listxattr(p):
            data += (st.st_size + 4095) // 4096 * 4096
print(len(inodes), data)
EOF
)
got_inodes=$(sed -n 's/^Filesystem inode count:[[:space:]]*//p' "$TEST_TMP/dump.out")
[ "$got_inodes" = "$want_inodes" ] || problem "dump.erofs counts $got_inodes inodes, the tree has $want_inodes"

# Small: the stubs (20 TiB and more in all) take no space; only the data, the metadata of about
# 3200 inodes and the directory blocks do.
img_bytes=$(stat -c %s "$IMG")
limit=$((data_bytes + 2 * 1024 * 1024))
if [ "$img_bytes" -gt "$limit" ]; then
        problem "the image is $img_bytes bytes, more than the data ($data_bytes bytes) + 2 MiB"
else
        echo "the image is $img_bytes bytes: $data_bytes of data + $((img_bytes - data_bytes)) of metadata and directories"
fi

# Mounted from the file, as ovlbackend mounts it.
MNT=$TEST_TMP/mnt
mkdir "$MNT"
if ! mount_file "$IMG" "$MNT" 2>"$TEST_TMP/mount.err"; then
        problem "the kernel does not mount the image: $(cat "$TEST_TMP/mount.err"); dmesg: $(dmesg 2>/dev/null | grep -i erofs | tail -n 3 | tr '\n' ' ')"
else
        src=$(findmnt -n -o SOURCE,FSTYPE "$MNT")
        [ "$src" = "$IMG erofs" ] || echo "NOTE: the mount shows source and type '$src', expected '$IMG erofs'"
        compare_tree "$TREE" "$MNT" "file-backed mount" || problem "the file-backed mount differs from the tree (see the MISMATCH lines)"
        umount "$MNT"
fi
echo "file-backed mount compared ($((SECONDS - START)) s)"

# Through a loop device, as mount(8) mounts a file.
if [ -e /dev/loop-control ] && command -v losetup >/dev/null; then
        if mount -t erofs -o ro "$IMG" "$MNT" 2>"$TEST_TMP/mount.err"; then
                compare_tree "$TREE" "$MNT" "loop mount" || problem "the loop mount differs from the tree (see the MISMATCH lines)"
                umount "$MNT"
        elif grep -qi 'loop' "$TEST_TMP/mount.err"; then
                echo "NOTE: no loop device to be had, the loop mount not tried: $(cat "$TEST_TMP/mount.err")"
        else
                problem "mount -t erofs -o ro (a loop device) fails: $(cat "$TEST_TMP/mount.err")"
        fi
else
        echo "NOTE: no loop devices here: the loop mount not tried"
fi
echo "loop mount compared ($((SECONDS - START)) s)"

# ---- the limits ---------------------------------------------------------------------------------
# An xattr value holds at most 65535 bytes (16-bit length), an inode's xattrs at most 262136 bytes
# after their 12-byte header (16-bit count of 4-byte words, less one). At the limits the image
# must be written and read back; past them (a 65536-byte value, the kernel's XATTR_SIZE_MAX, or 4
# bytes too many) erofs-write must be refused with -EOPNOTSUPP. And the smallest tree: a top alone.
LIM=$FS/limits
mkdir -p "$LIM/top-alone" "$LIM/fits" "$LIM/value" "$LIM/many"

# image_matches DIR WHAT: erofs-write, fsck.erofs and the file-backed mount of DIR's image, which
# must read back as DIR.
image_matches() {
        local img="$TEST_TMP/$(basename "$1").erofs"
        if ! "$OVL_EROFS_WRITE" "$1" "$img" 2>"$TEST_TMP/write.err"; then
                problem "$2: erofs-write failed: $(cat "$TEST_TMP/write.err")"
                return
        fi
        fsck.erofs --extract "$img" >"$TEST_TMP/fsck.out" 2>&1 ||
                problem "$2: fsck.erofs --extract rejects the image: $(tr '\n' ' ' <"$TEST_TMP/fsck.out")"
        if ! mount_file "$img" "$MNT" 2>"$TEST_TMP/mount.err"; then
                problem "$2: the kernel does not mount the image: $(cat "$TEST_TMP/mount.err")"
                return
        fi
        compare_tree "$1" "$MNT" "$2" || problem "$2: the image differs from the tree (see the MISMATCH lines)"
        umount "$MNT"
}

# expect_unsupported DIR WHAT: erofs-write must exit 3 (-EOPNOTSUPP) with a message.
expect_unsupported() {
        local got=0
        "$OVL_EROFS_WRITE" "$1" "$TEST_TMP/$(basename "$1").erofs" 2>"$TEST_TMP/write.err" || got=$?
        if [ "$got" != 3 ]; then
                problem "$2: erofs-write exited $got, expected 3 (ovl_erofs_write_tree returning -EOPNOTSUPP, as erofs_image.h says); stderr: $(cat "$TEST_TMP/write.err")"
        else
                echo "$2: refused as unsupported: $(cat "$TEST_TMP/write.err")"
        fi
}

# set_xattrs FILE NAME=SIZE...: FILE gets each xattr with a value of SIZE bytes, or the reason the
# tree's filesystem refuses one in $TEST_TMP/err.
set_xattrs() {
        python3 -c '
import os, sys
for a in sys.argv[2:]:
    name, size = a.split("=")
    os.setxattr(sys.argv[1], name, name[-1].encode() * int(size))' "$@" 2>"$TEST_TMP/err"
}

chmod 0700 "$LIM/top-alone"
image_matches "$LIM/top-alone" "a top alone"

echo fits >"$LIM/fits/value"
echo most >"$LIM/fits/most"
# 3 x (4 + 1 + 65535) + (4 + 1 + 65511) = 262136 bytes of entries.
if set_xattrs "$LIM/fits/value" user.v=65535 && set_xattrs "$LIM/fits/most" trusted.a=65535 trusted.b=65535 trusted.c=65535 trusted.d=65511; then
        image_matches "$LIM/fits" "a 65535-byte xattr value and 262136 bytes of xattrs on one inode"
else
        echo "NOTE: xattrs at the limits not tried: the tree's filesystem refuses them: $(cat "$TEST_TMP/err")"
fi

echo value >"$LIM/value/f"
if set_xattrs "$LIM/value/f" user.v=65536; then
        expect_unsupported "$LIM/value" "a 65536-byte xattr value"
else
        echo "NOTE: a 65536-byte xattr value not tried: the tree's filesystem refuses it: $(cat "$TEST_TMP/err")"
fi

echo many >"$LIM/many/f"
if set_xattrs "$LIM/many/f" trusted.a=65535 trusted.b=65535 trusted.c=65535 trusted.d=65515; then
        expect_unsupported "$LIM/many" "262140 bytes of xattrs on one inode"
else
        echo "NOTE: 262140 bytes of xattrs on one inode not tried: the tree's filesystem refuses them: $(cat "$TEST_TMP/err")"
fi

echo "done in $((SECONDS - START)) s"
[ "$FAILED" = 0 ] || fail "$FAILED check(s) failed, see the FAIL and MISMATCH lines above"
echo "PASS: the erofs image of the tree passes fsck.erofs and reads back through the kernel as the tree"
