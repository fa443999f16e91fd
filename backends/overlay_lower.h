/* The lower stack an overlay mount is given: each layer as it is where the kernel understands its
 * whiteouts, with small cached "glue" layers where it does not, and the bottom of a stack deeper
 * than the kernel allows flattened once into a cached layer by the copy engine.
 *
 * Glue, for a layer L with markers the kernel does not read (AUFS `.wh.` names, user.overlay.*
 * xattrs): a layer placed right BELOW L with a 0/0 whiteout for each name L deletes and an opaque
 * directory for each directory L makes opaque (so they act on the layers below L only, and L's own
 * entries of those names stay), and a layer right ABOVE L that hides L's marker files with 0/0
 * whiteouts and whose directories carry L's own directory metadata (so they change nothing else,
 * and user.overlay.* xattrs do not show). L itself is never modified: glue costs a few entries per
 * marker, not a copy of the layer. Glue is built once per layer identity (device, inode, birth
 * time of its root) under WORK/layers/ (overlay_cache.h) and shared by every rootfs.
 *
 * A layer whose root is opaque hides everything below it; the kernel ignores opaque on a lower
 * layer's root, so the layers below are left out of the stack. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "backends/layer.h"
#include "common/error.h"
#include "state/record.h"

/* What an overlay mount stacks: lower directories, and data-only ones (the metadata stack's). */
struct ovl_lower_stack {
        int *fds; /* directory fds, bottom first */
        size_t count;
        int *data_fds; /* data-only lower directories (datadir+), in the order the kernel searches */
        size_t n_data;
        bool meta;                 /* the metadata stack (overlay_meta.h) */
        size_t hidden;             /* bottom layers left out: an opaque layer root above hides them */
        size_t flattened;          /* how many bottom layers were flattened into one (0: none) */
        struct ovl_strlist caches; /* the cache directories used, for the record */
        int cache_lock_fd;         /* a shared lock on the cache, held until cleared: gc waits */
};

/* Builds the lower stack of layers (bottom first), using at most max_stack lower directories:
 * deeper stacks are flattened at the bottom, or refused (exit 3, naming the limit) with
 * no_flatten. The layers below the topmost one whose root is opaque are left out. Returns 0 or
 * -errno with err set. */
int ovl_lower_stack_build(const struct ovl_layer_list *layers, const char *work_dir, size_t max_stack, bool no_flatten,
                          struct ovl_lower_stack *ret, struct ovl_error *err);

void ovl_lower_stack_clear(struct ovl_lower_stack *s);
