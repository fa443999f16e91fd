/* The rootfs lifecycle shared by every backend: validation of the request, the per-rootfs lock,
 * the record written before anything is created, and rollback of whatever an interrupted or failed
 * run left. cli/ calls these and prints what they return. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "backends/backend.h"
#include "common/error.h"
#include "common/gcreport.h"
#include "state/record.h"

struct ovl_assemble_options {
        const char *work_dir;
        const char *rootfs; /* as the caller gave it */
        const char *backend;
        char *const *layers; /* bottom first */
        size_t n_layers;
        struct ovl_backend_options opts;
        bool allow_reachable_rootfs; /* --allow-reachable-rootfs: no directory above R need shut
                                      * other users out (see check_reachable in assemble.c) */
};

struct ovl_assemble_result {
        const struct ovl_backend_ops *backend;
        struct ovl_record rec; /* the record as saved */
        char *record_path;
        double elapsed_ms;
};

void ovl_assemble_result_clear(struct ovl_assemble_result *res);

/* Assembles a rootfs. On failure nothing is left: no rootfs, no scratch, no record, no lock file.
 * Returns 0 or -errno with err set. */
int ovl_lifecycle_assemble(const struct ovl_assemble_options *opt, struct ovl_assemble_result *ret,
                           struct ovl_error *err);

/* Destroys a rootfs ovlbackend assembled; any other path is refused with "not assembled by
 * ovlbackend". On success *ret_rec holds the record it acted on. Returns 0 or -errno. */
int ovl_lifecycle_destroy(const char *work_dir, const char *rootfs, struct ovl_record *ret_rec, struct ovl_error *err);

enum ovl_presence {
        OVL_PRESENCE_PRESENT, /* the backend's result is there (mounted, or the copied tree) */
        OVL_PRESENCE_MISSING, /* gone behind ovlbackend's back */
        OVL_PRESENCE_STALE,   /* the record is unfinished and nobody holds its lock: gc clears it */
        OVL_PRESENCE_BUSY,    /* an operation on it is in progress */
};

struct ovl_rootfs_info {
        struct ovl_record rec;
        char id[17];
        enum ovl_presence presence;
        bool mounted;
        unsigned long long scratch_bytes;
};

/* Lists every record of the work dir with what the system says of it. Returns 0 or -errno. */
int ovl_lifecycle_list(const char *work_dir, struct ovl_rootfs_info **ret, size_t *ret_count, struct ovl_error *err);

void ovl_rootfs_info_free(struct ovl_rootfs_info *infos, size_t count);

/* "present", "missing", "stale", "busy", or "mounted" for a present mount. */
const char *ovl_presence_name(const struct ovl_rootfs_info *info);

/* Removes leftovers of interrupted runs: unfinished records (rolling back what they made), record
 * directories without a record, lock files nobody holds that have no record. Never touches a ready
 * rootfs or one whose lock is held. Returns 0 or -errno. */
int ovl_lifecycle_gc(const char *work_dir, struct ovl_gc_report *ret, struct ovl_error *err);
