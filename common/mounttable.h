/* The real mount table of this process' namespace (and, for `who`, of other processes'), read with
 * libmount (never parsed by hand). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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

/* One mount of a mountinfo file, as libmount reads it (the kernel's escapes undone). */
struct ovl_mount_entry {
        uint64_t id;            /* the first field: unique among the mounts that exist at one time */
        uint64_t dev;           /* (major << 32) | minor, as struct ovl_tree_id's dev */
        const char *root;       /* the directory of its filesystem that the mount shows */
        const char *target;     /* where it is mounted, as that mount namespace sees it */
        const char *fstype;     /* "" when not given */
        const char *source;     /* "" when not given */
        const char *fs_options; /* the superblock's options (overlay: upperdir=...), or "" */
};

typedef int (*ovl_mount_entry_fn)(void *ctx, const struct ovl_mount_entry *m);

/* Reads a mountinfo file from f (another process' /proc/PID/mountinfo, say, opened by the caller)
 * and calls fn(ctx, m) for each mount, in order, until it returns non-zero. Returns 0, fn's
 * non-zero value, or -errno. */
int ovl_mounttable_each(FILE *f, ovl_mount_entry_fn fn, void *ctx);

/* Sets *ret to a new copy of the value of option name in a comma-separated option string (a
 * mount's fs_options), or NULL when it has no such option or no value. Returns 0 or -ENOMEM. */
int ovl_mounttable_option(const char *options, const char *name, char **ret);
