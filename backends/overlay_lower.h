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
 * time of its root) under WORK/layers/ and shared by every rootfs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "backends/layer.h"
#include "common/error.h"
#include "state/record.h"

struct ovl_lower_stack {
        int *fds; /* directory fds, bottom first */
        size_t count;
        size_t flattened;          /* how many bottom layers were flattened into one (0: none) */
        struct ovl_strlist caches; /* the cache directories used, for the record */
        int cache_lock_fd;         /* a shared lock on the cache, held until cleared: gc waits */
};

/* Builds the lower stack of layers (bottom first), using at most max_stack lower directories:
 * deeper stacks are flattened at the bottom, or refused (exit 3, naming the limit) with
 * no_flatten. Returns 0 or -errno with err set. */
int ovl_lower_stack_build(const struct ovl_layer_list *layers, const char *work_dir, size_t max_stack, bool no_flatten,
                          struct ovl_lower_stack *ret, struct ovl_error *err);

void ovl_lower_stack_clear(struct ovl_lower_stack *s);

/* Locks the cache of work_dir: shared while entries are built or picked for a record, exclusive
 * (without waiting: -EBUSY) for gc. Returns the lock fd or -errno. */
int ovl_cache_lock(const char *work_dir, bool exclusive);
