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

struct ovl_merge_entry {
        int src_dirfd;        /* the parent directory, in the deciding layer */
        const char *name;     /* the entry's name in that directory ("." for the root) */
        const struct stat *st;
        size_t layer;         /* index in the layer list, 0 = bottom */
        const char *path;     /* path relative to the rootfs, "" for the root: for messages */
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
 * first error (the visitor's, or a layer that cannot be read or is malformed, named in err).
 * Returns 0 or -errno. */
int ovl_merge_walk(const struct ovl_layer_list *layers, const struct ovl_merge_visitor *visitor,
                   struct ovl_error *err);
