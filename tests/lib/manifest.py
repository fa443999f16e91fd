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
# Hard links are shown as groups of names that share an inode inside the tree, not by st_nlink:
# overlayfs (index=off) reports a lower file's own link count even when a higher layer replaced
# its partner, and what a rootfs user sees is which names are one file.
first_name = {}  # (dev, ino) -> first path seen
names_of = {}    # (dev, ino) -> how many names in the tree

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
            key = (st.st_dev, st.st_ino)
            names_of[key] = names_of.get(key, 0) + 1
            fields.append((key, first_name.setdefault(key, '/' + rel)))
    elif kind == stat.S_IFLNK:
        fields.append('-> ' + os.readlink(path))
    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
        fields.append('%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev)))
    if not no_mtime and (kind != stat.S_IFDIR or dir_mtime):
        fields.append('mtime=%d' % int(st.st_mtime))
    fields.append(xattrs(path))
    return fields

def walk(rel, out):
    path = os.path.join(root, rel) if rel else root
    out.append(describe(rel, path))
    if stat.S_ISDIR(os.lstat(path).st_mode):
        for name in sorted(os.listdir(path)):
            walk(os.path.join(rel, name) if rel else name, out)

def render(field):
    if isinstance(field, tuple):
        key, first = field
        return 'link=' + first if names_of[key] > 1 else ''
    return field

entries = []
walk('', entries)
for fields in entries:
    print(' '.join(r for r in map(render, fields) if r))
