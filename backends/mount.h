/* What the mount backends (bind, overlay) share: attaching a detached mount at the rootfs with the
 * new mount API, taking a mount down, and the rootfs directory a mount backend may have had to
 * create. The new API is tried first; each
 * caller keeps its own mount(2) fallback for kernels without it (ENOSYS), since what the legacy
 * call needs differs per backend. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backends/backend.h"
#include "common/error.h"
#include "common/fsutil.h"

#define OVL_STATX_MNT_ID 0x00001000U
#define OVL_STATX_MNT_ID_UNIQUE 0x00004000U

/* Attaches the detached mount mnt_fd at parent_fd/name (move_mount onto R's own O_PATH fd, after
 * checking it is a directory owned by us with nothing mounted on it and, when expect names one,
 * the directory with that identity). Returns 0, -ESTALE when R is not that directory, or -errno. */
int ovl_mount_attach(int mnt_fd, int parent_fd, const char *name, const struct ovl_tree_id *expect);

/* Makes R a directory a mount can be attached to: creates it (mode 0755) when the request says it
 * does not exist, claiming it as scratch first so an interrupted run's rollback removes it.
 * *ret_id gets R's identity (made or found). Returns 0 or -errno with err set. */
int ovl_mount_make_target(const struct ovl_assemble_request *req, struct ovl_assembly *a, struct ovl_tree_id *ret_id,
                          struct ovl_error *err);

/* Opens R for a mount(2) of the legacy API, which takes only paths: R's O_PATH fd (a symlink swapped
 * in at R is not followed), checked to be the directory this run made (or found) and owned by us,
 * and its path "/proc/self/fd/N" in path, which names that very directory whatever is renamed
 * meanwhile. Returns 0 and the fd (keep it open while the path is used), or -errno with err set. */
int ovl_mount_open_target(const struct ovl_assemble_request *req, const struct ovl_tree_id *expect, int *ret_fd,
                          char *path, size_t size, struct ovl_error *err);

/* Records in rec the id of the mount fd is on: its unique id (6.8+), else its plain mount id (5.8+),
 * else nothing; and its device (rec->dev). */
void ovl_mount_record_id(int fd, struct ovl_record *rec);

/* Whether the mount at R is the one the record describes; each mount backend says how to tell.
 * Used where the record holds no unique mount id (see ovl_record.mount_id). */
typedef bool (*ovl_mount_is_ours_fn)(const struct ovl_record *rec, int rootfs_fd);

/* The destroy of a mount backend: detaches the mount at R (MNT_DETACH, so files still open inside
 * do not block it) when it is the record's (its unique mount id, else is_ours), unmounting exactly
 * the mount it checked, asks whether it may go on (ovl_destroy_may_remove: -EBUSY, everything else
 * left, while the mount is held elsewhere), then removes the directory R when the backend created
 * it (rmdir only:
 * never a recursive delete; only the directory whose identity the record holds). A mount at R that
 * is not ours is left alone: -ESTALE (see backend.h) when ours is gone, -EBUSY (record kept) when
 * ours may still be mounted elsewhere. A directory no longer empty is left too. Returns 0 or -errno
 * with err set. */
int ovl_mount_destroy_target(const struct ovl_record *rec, ovl_mount_is_ours_fn is_ours, struct ovl_error *err);

/* The in_place op of a mount backend: 1 when the mount at rootfs_fd (R, or -1 when missing) is the
 * record's (its unique mount id, else is_ours), else 0. */
int ovl_mount_in_place(const struct ovl_record *rec, int rootfs_fd, ovl_mount_is_ours_fn is_ours);

/* Writes the source a backend gives the filesystem it mounts at rootfs, "ovlbackend-<record id>"
 * (size: 64 is plenty): mountinfo shows it in every mount namespace, so a mount is told from
 * another one that got its anonymous device number again. */
void ovl_mount_source(const char *rootfs, char *buf, size_t size);

/* The id of fd's mount of the kind asked for (OVL_STATX_MNT_ID_UNIQUE or OVL_STATX_MNT_ID).
 * Returns 0, -EOPNOTSUPP when the kernel has no such id, or -errno. */
int ovl_mount_id_of(int fd, unsigned kind, uint64_t *ret);
