/* ID maps for idmapped rootfses (--uidmap, --gidmap, --userns): the ranges, the host id a
 * container id maps to, a user namespace carrying them (for MOUNT_ATTR_IDMAP), and the rewriting
 * of the xattrs that hold ids (security.capability's root id, POSIX ACL entries) for the copy
 * backend, which writes shifted ids itself. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define OVL_IDMAP_MAX 16
#define OVL_ID_UNMAPPED 65534u /* what an unmapped id becomes: the overflow id */

struct ovl_id_range {
        uint32_t inside, outside, count; /* container ids [inside, inside+count) are host ids from outside */
};

struct ovl_idmap {
        struct ovl_id_range uid[OVL_IDMAP_MAX], gid[OVL_IDMAP_MAX];
        size_t n_uid, n_gid;
};

/* Adds "CONTAINER:HOST:COUNT" to the uid (or gid) ranges. Bad input on a malformed or overlapping
 * range. Returns 0 or -errno with err set. */
int ovl_idmap_add(struct ovl_idmap *m, bool gid, const char *spec, struct ovl_error *err);

/* Reads the maps of the user namespace at path, which must be /proc/PID/ns/user (the maps are read
 * from /proc/PID/uid_map and gid_map). Returns 0 or -errno with err set. */
int ovl_idmap_from_userns(const char *path, struct ovl_idmap *ret, struct ovl_error *err);

/* The host id of container id `id`, or OVL_ID_UNMAPPED. */
uint32_t ovl_idmap_uid(const struct ovl_idmap *m, uint32_t id);
uint32_t ovl_idmap_gid(const struct ovl_idmap *m, uint32_t id);

/* A new user namespace with m's maps, as an fd (for mount_setattr(MOUNT_ATTR_IDMAP)). Returns 0 or
 * -errno with err set. */
int ovl_idmap_userns(const struct ovl_idmap *m, int *ret_fd, struct ovl_error *err);

/* Rewrites, in place, an xattr value that holds ids: security.capability (v2 becomes v3 with the
 * host root id; v3's root id is mapped) and system.posix_acl_* (named user and group entries).
 * *len may grow (v2 to v3: buf must hold 24 bytes). Other xattrs are left alone. */
void ovl_idmap_xattr(const struct ovl_idmap *m, const char *name, void *buf, size_t *len);
