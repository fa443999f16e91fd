/* The merge walker: resolves the tree that applying the layers bottom first would give, without
 * applying them. It walks the merged tree top-down; in each directory it reads every contributing
 * layer's listing, and decides each name once, by the topmost layer that mentions it:
 *   - a whiteout hides the name in every layer below;
 *   - a non-directory is the entry, whatever lies below;
 *   - a directory merges with the same directory in the layers below, down to the first layer where
 *     it is opaque, is not a directory, or is whited out.
 * The visitor sees each surviving entry exactly once, with the deciding layer's fd and stat, so a
 * backend can build the result in a single pass. Every layer path is read with *at() calls and
 * O_NOFOLLOW on fds the walker opened: nothing in a layer can redirect a read outside it. */
#pragma once

#include <stddef.h>
#include <sys/stat.h>

#include "backends/layer.h"
#include "common/error.h"

/* How many directory levels below its root a layer may nest: the walk enters a directory at most
 * this many names deep (a/b/.../z with OVL_MERGE_MAX_DEPTH names), whose entries may still be
 * files; a directory one level deeper fails the walk as bad input (exit 2). The walk keeps, for
 * each level it is in, one open directory per layer that contributes to that level, and the copy
 * backend one more for the directory it writes, so a path D levels deep through L layers holds
 * D * (L + 1) fds. Real images nest a few dozen levels (node_modules trees reach about a hundred),
 * so 1024 is generous, and still safe: ovlbackend raises its soft open-file limit to the hard one
 * at start-up, and 1024 levels through one layer need 2048 fds, within a hard limit of 4096; a hard
 * limit of 20000 leaves room for about 18 layers that all contribute to every level, systemd's
 * usual 524288 for hundreds. Beyond that the walk fails with a message naming the open-file limit.
 * The bound also keeps the walk's recursion, a few hundred bytes of stack per level, far from the
 * stack's end. */
#define OVL_MERGE_MAX_DEPTH 1024

struct ovl_merge_entry {
        int src_dirfd;    /* the parent directory, in the deciding layer */
        const char *name; /* the entry's name in that directory ("." for the root) */
        const struct stat *st;
        size_t layer;     /* index in the layer list, 0 = bottom */
        const char *path; /* path relative to the rootfs, "" for the root: for messages */
};

struct ovl_merge_visitor {
        void *ctx;
        /* A surviving non-directory. */
        int (*file)(void *ctx, const struct ovl_merge_entry *e, struct ovl_error *err);
        /* A surviving directory, before its children. */
        int (*dir_enter)(void *ctx, const struct ovl_merge_entry *e, struct ovl_error *err);
        /* The same directory, after its children. */
        int (*dir_leave)(void *ctx, const struct ovl_merge_entry *e, struct ovl_error *err);
};

/* Walks the merged tree of layers, calling the visitor for every surviving entry. Stops at the
 * first error (the visitor's, or a layer that cannot be read or is malformed, named in err; a
 * directory deeper than OVL_MERGE_MAX_DEPTH is bad input, -ELOOP). Returns 0 or -errno. */
int ovl_merge_walk(const struct ovl_layer_list *layers, const struct ovl_merge_visitor *visitor, struct ovl_error *err);
