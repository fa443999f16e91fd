/* The record of one assembled rootfs, kept under the work dir. It is what makes `destroy`, `list`
 * and `gc` possible: ovlbackend acts only on rootfses it has a record of.
 *
 * Text format, one "key=value" a line after a version line; values escape '\\', newline and other
 * control bytes as \\, \n and \xHH so that any path round-trips:
 *   ovlbackend-record 1
 *   rootfs=/abs/path
 *   backend=copy
 *   state=assembling|ready|destroying
 *   created=<unix seconds>
 *   pid=<pid of the assembling process>
 *   read_only=0|1
 *   tree=<dev>:<ino>:<ns>  identity of a directory tree the backend built (copy), or 0:0:0;
 *                          ns is its birth time, because inode numbers are reused at once
 *   mount_id=<n>           the unique id (statx STATX_MNT_ID_UNIQUE, 6.8+) of the mount the
 *                          backend put at R; absent (0) where the kernel has none
 *   mount_id_reusable=<n>  its plain mount id (STATX_MNT_ID, 5.8+), unique only while it exists:
 *                          alone before 6.8; beside mount_id since (what mountinfo and fdinfo show)
 *   dev=<major>:<minor>    the device (st_dev) of that mount: how its copies in other mount
 *                          namespaces are told (`who`); absent in records written before it
 *   layer=/abs/path        repeated, bottom first
 *   scratch=/abs/path      repeated: what the backend creates and destroy removes
 *   mount=/abs/path        repeated: mounts the backend made visible on the host
 *   cache=/abs/path        repeated: shared caches under the work dir the rootfs uses (overlay's
 *                          converted layers); gc removes a cache no record names
 * Unknown keys, repeated single keys, signs or overflow in numbers, and relative paths are refused:
 * a record we cannot fully understand is not one we may act on. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/fsutil.h"

#define OVL_RECORD_VERSION_LINE "ovlbackend-record 1"

enum ovl_record_state {
        OVL_RECORD_ASSEMBLING,
        OVL_RECORD_READY,
        OVL_RECORD_DESTROYING,
};

struct ovl_strlist {
        char **items;
        size_t count;
};

struct ovl_record {
        char *rootfs;
        char *backend;
        enum ovl_record_state state;
        int64_t created;
        int64_t pid;
        bool read_only;
        struct ovl_tree_id tree;
        uint64_t mount_id;          /* 0: none recorded */
        uint64_t mount_id_reusable; /* 0: none recorded */
        uint64_t dev;               /* the mount's device, (major << 32) | minor as in struct
                                     * ovl_tree_id; 0: none recorded */
        struct ovl_strlist layers;
        struct ovl_strlist scratch;
        struct ovl_strlist mounts;
        struct ovl_strlist caches;
};

/* Appends a copy of s. Returns 0 or -ENOMEM. */
int ovl_strlist_append(struct ovl_strlist *l, const char *s);
void ovl_strlist_clear(struct ovl_strlist *l);
/* Whether l holds s. */
bool ovl_strlist_has(const struct ovl_strlist *l, const char *s);

/* Serialises rec into a new NUL-terminated buffer. Returns 0 or -ENOMEM. */
int ovl_record_format(const struct ovl_record *rec, char **ret_text, size_t *ret_len);

/* Parses a record. Anything malformed (no version line, unknown key, bad escape, missing rootfs or
 * backend, bad number) fails with a message naming `source` and the line. Returns 0 or -errno. */
int ovl_record_parse(const char *text, size_t len, const char *source, struct ovl_record *ret, struct ovl_error *err);

/* Frees everything rec owns and zeroes it. */
void ovl_record_clear(struct ovl_record *rec);

/* "assembling", "ready", "destroying". */
const char *ovl_record_state_name(enum ovl_record_state state);
