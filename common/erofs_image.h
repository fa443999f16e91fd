/* The metadata layer as an erofs image: the stub tree the metadata stack resolves an image into
 * (overlay_meta.h), written once more as one small read-only filesystem image and mounted from that
 * file (erofs file-backed mounts, 6.12+).
 *
 * Why: on ext4 a stub's two overlay xattrs fit in its inode only while the redirect is at most 24
 * bytes, so nearly every stub of a real image has its xattrs in a block of their own, and a cold
 * lookup reads that block too (a cold stat walk of a Debian image cost 1.3-1.9x a bare 1-lower
 * overlay). In the image every inode, its xattrs and its directory's entries lie together in a
 * few contiguous metadata blocks, and a stub takes no data block at all (a chunk-based file whose
 * one chunk is a hole), so a Debian image's metadata layer is about 1 MiB.
 *
 * The image holds directories, symlinks, device nodes, fifos, sockets, hard links, owners, modes,
 * mtimes and xattrs (user., trusted., security. and POSIX ACLs) as the tree has them; a regular
 * file carrying trusted.overlay.metacopy becomes a hole of its size, any other its own data. */
#pragma once

#include "common/error.h"

/* Writes an erofs image of the directory tree at dirfd into out_fd (an empty regular file opened
 * for writing). Returns 0; -EOPNOTSUPP with err set when the tree holds what this image cannot (an
 * xattr outside those namespaces, or a value over 64 KiB - 1); or another -errno with err set. */
int ovl_erofs_write_tree(int dirfd, int out_fd, struct ovl_error *err);

/* Mounts the image open at image_fd read-only as a detached erofs mount (fsopen), and returns the
 * mount's fd, or -errno with err set (with the kernel's words from the fs-context log). */
int ovl_erofs_mount(int image_fd, struct ovl_error *err);
