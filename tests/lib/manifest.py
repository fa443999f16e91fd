#!/usr/bin/env python3
"""Prints one line per entry of a tree, sorted by path, with everything a rootfs comparison needs:
type, mode, owner, size and content hash, link target, device numbers, hard-link group, mtime (not
for directories unless --dir-mtime), and xattrs (overlayfs' own excluded).
Usage: manifest.py ROOT [--dir-mtime] [--no-mtime]"""
import hashlib
import os
import stat
import sys

root = sys.argv[1].rstrip('/') or '/'
dir_mtime = '--dir-mtime' in sys.argv
no_mtime = '--no-mtime' in sys.argv
first_name = {}  # (dev, ino) -> first path seen, to show hard links as groups

def xattrs(path):
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
    except OSError:
        return ''
    out = []
    for n in names:
        if n.startswith(('trusted.overlay.', 'user.overlay.', 'security.selinux')):
            continue
        out.append('%s=%s' % (n, os.getxattr(path, n, follow_symlinks=False).hex()))
    return ','.join(out)

def describe(rel, path):
    st = os.lstat(path)
    kind = stat.S_IFMT(st.st_mode)
    fields = ['/' + rel, {stat.S_IFDIR: 'd', stat.S_IFREG: 'f', stat.S_IFLNK: 'l', stat.S_IFCHR: 'c',
                          stat.S_IFBLK: 'b', stat.S_IFIFO: 'p', stat.S_IFSOCK: 's'}[kind],
              '%04o' % stat.S_IMODE(st.st_mode), '%d:%d' % (st.st_uid, st.st_gid)]
    if kind == stat.S_IFREG:
        h = hashlib.sha256()
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
        fields += [str(st.st_size), h.hexdigest()[:16]]
        if st.st_nlink > 1:
            fields.append('link=' + first_name.setdefault((st.st_dev, st.st_ino), '/' + rel))
    elif kind == stat.S_IFLNK:
        fields.append('-> ' + os.readlink(path))
    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
        fields.append('%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev)))
    if not no_mtime and (kind != stat.S_IFDIR or dir_mtime):
        fields.append('mtime=%d' % int(st.st_mtime))
    fields.append(xattrs(path))
    return ' '.join(f for f in fields if f)

def walk(rel):
    path = os.path.join(root, rel) if rel else root
    print(describe(rel, path))
    if stat.S_ISDIR(os.lstat(path).st_mode):
        for name in sorted(os.listdir(path)):
            walk(os.path.join(rel, name) if rel else name)

walk('')
