/* The overlay backend's cache under WORK/layers/: entries built once (glue layers, flattened
 * bottoms, metadata layers), shared by every rootfs that names them in its record, removed by gc
 * when none does. An entry is built in a temporary directory under a per-entry lock and renamed
 * into place, so a half-built entry is never used and two assembles of one image build it once. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "backends/layer.h"
#include "common/error.h"
#include "state/record.h"

struct ovl_cache {
        int fd;      /* WORK/layers */
        char *path;  /* its path */
        int lock_fd; /* the shared lock that keeps gc away, see ovl_cache_lock */
};

/* Opens (creating) WORK/layers, checks that only we can write it, and takes the shared lock.
 * Returns 0 or -errno with err set; ovl_cache_close undoes it either way. */
int ovl_cache_open(const char *work_dir, struct ovl_cache *c, struct ovl_error *err);

/* Closes the cache dir; returns the shared lock's fd, which the caller keeps until the entries it
 * picked are recorded (gc waits for it meanwhile). */
int ovl_cache_close(struct ovl_cache *c);

typedef int (*ovl_cache_build_fn)(void *data, int entry_fd, const char *entry_path, struct ovl_error *err);

/* Opens entry `key` into *ret_fd, building it with `build` first when it is missing. Appends its
 * path to `used` (what the record must name). Returns 0 or -errno with err set. */
int ovl_cache_entry(struct ovl_cache *c, const char *key, ovl_cache_build_fn build, void *data, int *ret_fd,
                    struct ovl_strlist *used, struct ovl_error *err);

/* The identity of a layer, what entries are keyed by: "dev:ino:birth time;" of its root, so a layer
 * removed and extracted again at the same path is a new layer. Returns 0 or -errno. */
int ovl_cache_layer_identity(const struct ovl_layer *l, char *buf, size_t size);

/* Locks the cache of work_dir: shared while entries are built or picked for a record, exclusive
 * (without waiting: -EBUSY) for gc. Returns the lock fd or -errno. */
int ovl_cache_lock(const char *work_dir, bool exclusive);
