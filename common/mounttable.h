/* The real mount table of this process' namespace, read with libmount (never parsed by hand). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Sets *ret to whether a mount's target is path itself. Returns 0 or -errno. */
int ovl_mounttable_is_mounted(const char *path, bool *ret);

/* Sets *ret to whether any mount's target is path or lies below it. Returns 0 or -errno. */
int ovl_mounttable_has_mount_below(const char *path, bool *ret);

/* Sets *ret to whether a mount of this id (mountinfo's first field, the id /proc/self/fdinfo
 * shows) is attached in this mount namespace. Returns 0 or -errno. */
int ovl_mounttable_has_id(uint64_t id, bool *ret);

/* Sets *ret_source to a new copy of the source of the mount on top at path. Returns 0, -ENOENT
 * when nothing is mounted there, or -errno. */
int ovl_mounttable_source(const char *path, char **ret_source);

/* Sets *ret_source to a new copy of the source of the mount that the file open at fd is on, found
 * by its mount id, so no path is looked up again. Returns 0, -EOPNOTSUPP on kernels before 5.8
 * (no mount ids in statx), -ENOENT, or -errno. */
int ovl_mounttable_source_of(int fd, char **ret_source);
