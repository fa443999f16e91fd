/* What the mount backends (bind, overlay) share: attaching a detached mount at the rootfs with the
 * new mount API, reading the kernel's own error text from an fs-context, taking a mount down, and
 * the rootfs directory a mount backend may have had to create. The new API is tried first; each
 * caller keeps its own mount(2) fallback for kernels without it (ENOSYS), since what the legacy
 * call needs differs per backend. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backends/backend.h"
#include "common/error.h"

/* Appends the messages the kernel left in the fs-context log of fs_fd (fsopen's fd) to err, as
 * "(kernel: overlayfs: ...)". Used after a failed fsconfig or fsmount so the user reads the
 * kernel's reason rather than a bare EINVAL. */
void ovl_mount_append_log(int fs_fd, struct ovl_error *err);

/* The messages of that log, without their "e "/"w "/"i " prefixes, joined by "; " into buf.
 * Returns their length (0 when the kernel left none). */
size_t ovl_mount_read_log(int fs_fd, char *buf, size_t size);

/* Attaches the detached mount mnt_fd at parent_fd/name (move_mount). Returns 0 or -errno. */
int ovl_mount_attach(int mnt_fd, int parent_fd, const char *name);

/* Makes R a directory a mount can be attached to: creates it (mode 0755) when the request says it
 * does not exist, recording it as the backend's scratch first so an interrupted run's rollback
 * removes it. Returns 0 or -errno with err set. */
int ovl_mount_make_target(const struct ovl_assemble_request *req, struct ovl_error *err);

/* Whether the mount at R is the one the record describes; each mount backend says how to tell. */
typedef bool (*ovl_mount_is_ours_fn)(const struct ovl_record *rec, int rootfs_fd);

/* The destroy of a mount backend: detaches the mount at R (MNT_DETACH, so files still open inside
 * do not block it) when is_ours says it is the backend's, then removes the directory R when the
 * backend created it (rmdir only: never a recursive delete). A mount at R that is not ours is left
 * alone (-ESTALE, see backend.h), and so is a directory that is no longer empty. Returns 0 or
 * -errno with err set. */
int ovl_mount_destroy_target(const struct ovl_record *rec, ovl_mount_is_ours_fn is_ours, struct ovl_error *err);

/* Whether is_ours says that what stands at R is the backend's mount. */
bool ovl_mount_in_place(const struct ovl_record *rec, ovl_mount_is_ours_fn is_ours);
