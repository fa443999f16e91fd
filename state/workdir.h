/* The work dir holds ovlbackend's state:
 *   rootfs/<id>/record   the record of one rootfs (id: a hash of its canonical path)
 *   rootfs/<id>/...      per-rootfs scratch a backend keeps there (overlay upper and work dirs)
 *   locks/<id>.lock      the lock that serialises every operation on that rootfs
 * Locks are per rootfs, never for the whole tool, so unrelated rootfses are assembled in parallel. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "common/error.h"
#include "state/record.h"

#define OVL_RECORD_ID_LEN 16

struct ovl_workdir {
        char *path;
        int fd;
        int rootfs_fd; /* rootfs/ */
        int locks_fd;  /* locks/ */
};

/* Opens (creating it when `create`) the work dir at path. The work dir, its rootfs/, locks/,
 * layers/ and probe/ must be owned by the effective uid and not writable by group or others, and
 * no directory above it may be changed by another user (owned by root or us; sticky where others
 * may write): its records decide what ovlbackend deletes and unmounts. Otherwise it fails with
 * OVL_ERR_BAD_INPUT and a message saying how to fix it. wd->path is the canonical path. Returns 0
 * or -errno; a missing work dir when !create is -ENOENT without an error message, since it just
 * means "no records yet". */
int ovl_workdir_open(const char *path, bool create, struct ovl_workdir *ret, struct ovl_error *err);

void ovl_workdir_close(struct ovl_workdir *wd);

/* Looks for a directory above canonical (an absolute path without symlinks) that another user could
 * change, so as to rename what lies below it: one not owned by root or the effective uid (in a user
 * namespace, root shows as the overflow uid), or writable by group or others without the sticky
 * bit. Returns 1 with the first such directory (a new string) and its stat, 0 when there is none,
 * or -errno. */
int ovl_path_changeable_ancestor(const char *canonical, char **ret_dir, struct stat *ret_st);

/* Checks that the directory open at fd (path names it in messages) is owned by the effective uid
 * and not writable by group or others. Returns 0, or -errno with err set (OVL_ERR_BAD_INPUT, with
 * the chown/chmod that fixes it). */
int ovl_workdir_check_private(int fd, const char *path, struct ovl_error *err);

/* Writes the record id for a canonical rootfs path (16 hex digits of a 64-bit FNV-1a hash). */
void ovl_workdir_record_id(const char *rootfs, char ret_id[OVL_RECORD_ID_LEN + 1]);

/* Takes the lock of record id. With !wait a held lock fails with -EBUSY. The lock file is
 * re-checked after locking so that a concurrent remover cannot leave us holding a deleted file.
 * Returns 0 and the lock fd, or -errno. */
int ovl_workdir_lock(struct ovl_workdir *wd, const char *id, bool wait, int *ret_lock_fd, struct ovl_error *err);

/* Releases a lock and, with `remove`, deletes its lock file first (while still holding it). */
void ovl_workdir_unlock(struct ovl_workdir *wd, const char *id, int lock_fd, bool remove);

/* Loads the record of id. Returns 0, -ENOENT (no record) without a message, or -errno. */
int ovl_workdir_load_record(struct ovl_workdir *wd, const char *id, struct ovl_record *ret, struct ovl_error *err);

/* Writes the record of id atomically, creating rootfs/<id>/. Returns 0 or -errno. */
int ovl_workdir_save_record(struct ovl_workdir *wd, const char *id, const struct ovl_record *rec,
                            struct ovl_error *err);

/* Removes rootfs/<id>/ and all it holds. Returns 0 or -errno. */
int ovl_workdir_remove_record(struct ovl_workdir *wd, const char *id, struct ovl_error *err);

/* Opens rootfs/<id>/ (creating it when `create`), checked like the work dir itself. Returns 0 and
 * the fd, -ENOENT (missing, no message) when !create, or -errno with err set. */
int ovl_workdir_record_dir(struct ovl_workdir *wd, const char *id, bool create, int *ret_fd, struct ovl_error *err);

/* Lists the ids under rootfs/ into a new NULL-terminated array. Returns 0 or -errno. */
int ovl_workdir_list_ids(struct ovl_workdir *wd, char ***ret_ids, size_t *ret_count);

/* Opens the work dir at path if there is one, and lists its record ids: what `list` and `gc`
 * start from. Returns 1 with both (close and free them), 0 when there is no work dir yet (nothing
 * to do), or -errno with err set. */
int ovl_workdir_open_ids(const char *path, struct ovl_workdir *ret, char ***ret_ids, size_t *ret_count,
                         struct ovl_error *err);
