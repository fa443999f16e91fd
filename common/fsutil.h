/* File-system helpers that work on directory fds, so a path from a layer can never lead outside
 * the tree it belongs to. */
#pragma once

#include <dirent.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/error.h"

/* Opens relpath below rootfd without following any symlink and without leaving rootfd (openat2
 * with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or an O_NOFOLLOW walk one component at a time where the
 * kernel lacks openat2). Returns 0 and the fd in ret_fd, or -errno (-ELOOP for a symlink on the
 * way, -EXDEV for an escape). */
int ovl_open_beneath(int rootfd, const char *relpath, int flags, mode_t mode, int *ret_fd);

/* Who a directory is, robustly: inode numbers alone are reused as soon as a directory is removed,
 * so the birth time (where the filesystem records one) is part of the identity. */
struct ovl_tree_id {
        uint64_t dev, ino;
        uint64_t btime_ns; /* 0 where the filesystem has no birth time */
};

/* Reads the identity of dirfd/name (AT_SYMLINK_NOFOLLOW; name "" for dirfd itself). Returns 0 or
 * -errno. */
int ovl_tree_id_get(int dirfd, const char *name, struct ovl_tree_id *ret);

/* Returns whether a and b name the same directory; a zero identity matches nothing. */
bool ovl_tree_id_equal(const struct ovl_tree_id *a, const struct ovl_tree_id *b);

/* Room for "/proc/self/fd/N/" and one NAME_MAX component. */
#define OVL_FD_PATH_MAX (32 + 256)

/* Writes "/proc/self/fd/DIRFD/NAME" into buf: with the l*xattr calls this reaches NAME itself, even
 * a symlink or a device node, through an fd we already trust. Returns 0 or -ENAMETOOLONG. */
int ovl_fd_path(char *buf, size_t size, int dirfd, const char *name);

/* Lists the xattr names of path (not following a final symlink) into a new buffer of
 * NUL-separated names. A filesystem without xattrs gives an empty list. Returns 0 or -errno. */
int ovl_xattr_list(const char *path, char **ret_list, size_t *ret_len);

/* Returns 1 when the directory at dirfd/name (AT_SYMLINK_NOFOLLOW; name "" for dirfd itself, which
 * may be an O_PATH fd) is the root of a mount, 0 when it is not, or -errno. */
int ovl_is_mount_point_at(int dirfd, const char *name);

/* Creates path and its missing parents with mode. Returns 0 or -errno. */
int ovl_mkdir_parents(const char *path, mode_t mode);

/* Opens dirfd/name (dirfd itself for "", not following a final symlink) for listing, as a new DIR
 * with an fd of its own, so the listing starts at the beginning whatever dirfd has read. Returns 0
 * or -errno. */
int ovl_dir_open_at(int dirfd, const char *name, DIR **ret);

/* Sets *ret to whether the directory open at fd has no entries. Returns 0 or -errno. */
int ovl_dir_is_empty(int fd, bool *ret);

/* The next entry of d other than "." and "..": returns 1 with *ret set, 0 at the end, or -errno
 * when reading failed (which a bare readdir() loop would take for the end). */
int ovl_dir_next(DIR *d, struct dirent **ret);

/* Replaces dirfd/name with data atomically: a temporary file, fsync, rename, fsync of the directory.
 * Returns 0 or -errno. */
int ovl_write_file_atomic(int dirfd, const char *name, const char *data, size_t len);

/* Reads dirfd/name (at most max bytes, NUL-terminated) into a new buffer. Returns 0 or -errno
 * (-EFBIG when the file is larger than max). */
int ovl_read_file_at(int dirfd, const char *name, size_t max, char **ret_data);

/* Splits path into its parent directory and last component in new strings. "/a/b/" gives "/a" and
 * "b". Returns 0, -EINVAL for a path without a usable last component ("/", "", "."), or -ENOMEM. */
int ovl_path_split(const char *path, char **ret_parent, char **ret_base);

/* Makes path absolute and canonical although its last component may not exist yet: the parent is
 * resolved with realpath(3), the last component is kept verbatim. Returns 0 or -errno. */
int ovl_path_canonical_parent(const char *path, char **ret);

/* Returns whether `inner` is `outer` or lies below it (both canonical absolute paths). */
bool ovl_path_is_below(const char *inner, const char *outer);

/* Whether this process is in the initial user namespace (uid_map "0 0 4294967295"). Outside it
 * (rootless, under `unshare -Ur`) trusted.* xattrs are out of reach and overlayfs reads its
 * markers from user.overlay.* (the userxattr mount option). Computed once. */
bool ovl_in_initial_userns(void);
