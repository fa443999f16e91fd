/* Walking and removing directory trees of any depth with a bounded number of fds, never following
 * a symlink nor entering another mount: what removal, size accounting and the copy's take-back
 * are built on. */
#pragma once

#include <stddef.h>
#include <sys/stat.h>

#include "common/error.h"

/* What ovl_walk_tree_at shows its visitor: an entry, by its name in an open directory. */
struct ovl_walk_entry {
        int dirfd;             /* the directory holding the entry; the walk's fd, valid during the call */
        const char *name;      /* the entry's name in dirfd ("" only for a top given as "") */
        const struct stat *st; /* what fstatat(AT_SYMLINK_NOFOLLOW) saw */
        size_t depth;          /* 0 for the top, 1 for its entries, ... */
};

/* Any callback may be NULL. A callback's negative return stops the walk and is returned. */
struct ovl_walk_visitor {
        void *ctx;
        /* Anything but a directory. */
        int (*file)(void *ctx, const struct ovl_walk_entry *e, struct ovl_error *err);
        /* A directory, before its entries are listed; fd is the directory itself (O_PATH), so its
         * mode can still be changed before the walk needs to read it. */
        int (*dir_enter)(void *ctx, const struct ovl_walk_entry *e, int fd, struct ovl_error *err);
        /* The same directory after its entries, named in its parent (checked to still be it). */
        int (*dir_leave)(void *ctx, const struct ovl_walk_entry *e, struct ovl_error *err);
};

/* ovl_walk_tree_at flags. */
enum {
        /* Pass over a mount point below (and the top, when it is one) without visiting it, instead
         * of failing with -EBUSY. */
        OVL_WALK_SKIP_MOUNTS = 1 << 0,
        /* The visitor removes each entry it is shown (or fails). A listing that was let go is then
         * read again from its start; otherwise the walk resumes it after the subdirectory it came
         * back from. */
        OVL_WALK_REMOVES = 1 << 1,
        /* An entry or directory that cannot be read (stat, open, list) is skipped, not an error. */
        OVL_WALK_KEEP_GOING = 1 << 2,
        /* The top may be the root of a mount (a tree on a filesystem of its own); mount points
         * below it are still not entered. */
        OVL_WALK_TOP_MOUNT = 1 << 3,
};

/* Walks dirfd/name (the directory dirfd itself for "") depth first, without recursion and with a
 * bounded number of open fds at any depth: the listings of the innermost 16 levels stay open, an
 * outer one is re-opened through ".." of its child and must be the very directory it was (device
 * and inode), or the walk stops with -EAGAIN, "WHAT: the tree changed while it was walked" (or
 * "removed", with OVL_WALK_REMOVES). Heap memory grows with the depth only. It never follows a
 * symlink and never enters another mount (see OVL_WALK_SKIP_MOUNTS). A missing top is success;
 * entries that vanish while the walk runs are passed over. Resuming a listing assumes that a
 * directory nobody changes lists its entries in the same order each time it is opened, as every
 * Linux filesystem does. `what` names the tree in messages. Returns 0 or -errno with err set. */
int ovl_walk_tree_at(int dirfd, const char *name, unsigned flags, const struct ovl_walk_visitor *v, const char *what,
                     struct ovl_error *err);

/* Removes NAME in dirfd and everything below it, at any depth, with a bounded number of open fds
 * (ovl_walk_tree_at). It never follows a symlink and never descends into another mount: a mount
 * point below fails the call with -EBUSY and a message naming it. A missing NAME is success, and
 * so are entries removed by someone else meanwhile. A directory moved while the removal is below
 * it stops the removal with -EAGAIN ("WHAT: the tree changed while it was removed"): nothing
 * outside the tree is touched, and what is left can be removed by calling again. -EAGAIN, not
 * -ESTALE, because callers read -ESTALE as "not ours, left alone". `what` names the tree in
 * messages. Returns 0 or -errno. */
int ovl_remove_tree_at(int dirfd, const char *name, const char *what, struct ovl_error *err);
