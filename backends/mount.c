#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/mount.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "common/syscalls.h"
#include "state/workdir.h"

#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008
#endif

int ovl_mount_attach(int mnt_fd, int parent_fd, const char *name, const struct ovl_tree_id *expect)
{
        _cleanup_close_ int fd = openat(parent_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct ovl_tree_id id;
        struct stat st;

        /* R opened once without following a symlink, checked to be the directory this run made or
         * found (ours, no mount on it), and the mount attached to exactly that fd: whatever is
         * renamed meanwhile, the mount cannot land anywhere else. */
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || ovl_tree_id_get(fd, "", &id) < 0)
                return -errno;
        if (st.st_uid != geteuid() || (expect && expect->ino && !ovl_tree_id_equal(expect, &id)) ||
            ovl_is_mount_point_at(fd, "") > 0)
                return -ESTALE;
        if (ovl_move_mount(mnt_fd, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return -errno;
        return 0;
}

int ovl_mount_make_target(const struct ovl_assemble_request *req, struct ovl_assembly *a, struct ovl_tree_id *ret_id,
                          struct ovl_error *err)
{
        _cleanup_close_ int fd = -1;
        int r;

        if (req->rootfs_exists) {
                *ret_id = req->rootfs_id;
                return 0;
        }
        /* Claimed before it exists: a run killed right after the mkdir leaves nothing gc cannot
         * find; identified right after, so a rollback removes exactly the directory we made. */
        r = ovl_assembly_claim(a, OVL_CLAIM_SCRATCH, req->rootfs, err);
        if (r < 0)
                return r;
        if (mkdirat(req->rootfs_parent_fd, req->rootfs_name, 0755) < 0) {
                int e = errno;
                /* Someone else's (it appeared after our check): withdrawn, so no rollback touches it. */
                (void) ovl_assembly_withdraw(a, OVL_CLAIM_SCRATCH, req->rootfs, NULL);
                return ovl_error_fail(err, e, "rootfs %s", req->rootfs);
        }
        fd = openat(req->rootfs_parent_fd, req->rootfs_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = fd < 0 ? -errno : ovl_tree_id_get(fd, "", ret_id);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s", req->rootfs);
        return ovl_assembly_identify(a, req->rootfs, fd, err);
}

int ovl_mount_open_target(const struct ovl_assemble_request *req, const struct ovl_tree_id *expect, int *ret_fd,
                          char *path, size_t size, struct ovl_error *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *changeable = NULL;
        struct ovl_tree_id id;
        struct stat st;
        int r;

        /* mount(2) lands on the directory the fd names, wherever it is by then: if another user may
         * rename R (or a directory above it) between our check and the mount, the mount follows
         * R's directory to wherever they put it and R's path leads elsewhere, a mount nobody could
         * find again. Without the new mount API, only a path no other user can change will do. */
        r = ovl_path_changeable_ancestor(req->rootfs, &changeable, &st);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s: its ancestors", req->rootfs);
        if (r > 0)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, 0,
                                     "rootfs %s: %s (uid %u, mode %04o) may be changed by "
                                     "another user, and without the new mount API (fsopen, move_mount) a mount there "
                                     "cannot be made safely; use a parent only root can change, or the copy backend",
                                     req->rootfs, changeable, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
        fd = openat(req->rootfs_parent_fd, req->rootfs_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0)
                return ovl_error_fail(err, errno, "rootfs %s: changed while it was assembled", req->rootfs);
        r = ovl_tree_id_get(fd, "", &id);
        if (r == 0 && fstat(fd, &st) < 0)
                r = -errno;
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s", req->rootfs);
        if (st.st_uid != geteuid() || !ovl_tree_id_equal(expect, &id) || ovl_is_mount_point_at(fd, "") != 0)
                return ovl_error_fail(err, 0, "rootfs %s: replaced while it was assembled; nothing mounted",
                                      req->rootfs);
        r = ovl_fd_path(path, size, fd, "");
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s", req->rootfs);
        path[strlen(path) - 1] = '\0'; /* "/proc/self/fd/N", without the trailing slash */
        *ret_fd = TAKE_FD(fd);
        return 0;
}

void ovl_mount_source(const char *rootfs, char *buf, size_t size)
{
        char id[OVL_RECORD_ID_LEN + 1];

        ovl_workdir_record_id(rootfs, id);
        snprintf(buf, size, "ovlbackend-%s", id);
}

int ovl_mount_id_of(int fd, unsigned kind, uint64_t *ret)
{
        struct statx sx;

        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, kind, &sx) < 0)
                return -errno;
        if (!(sx.stx_mask & kind))
                return -EOPNOTSUPP;
        *ret = sx.stx_mnt_id;
        return 0;
}

void ovl_mount_record_id(int fd, struct ovl_record *rec)
{
        struct statx sx;
        uint64_t id = 0;

        /* Unique (6.8+): never reused while the system runs. The plain id too, the one mountinfo
         * shows: `who` finds the mount's users by it, then confirms them by the unique one. */
        if (ovl_mount_id_of(fd, OVL_STATX_MNT_ID_UNIQUE, &id) == 0)
                rec->mount_id = id;
        if (ovl_mount_id_of(fd, OVL_STATX_MNT_ID, &id) == 0)
                rec->mount_id_reusable = id;
        /* Its device: a copy of the mount in another mount namespace has an id of its own, and is
         * known by this (and, for a bind, its root) in that namespace's mountinfo. */
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) == 0)
                rec->dev = (uint64_t) sx.stx_dev_major << 32 | sx.stx_dev_minor;
}

/* Whether the mount with this unique id still exists in our mount namespace: 1, 0 (gone), or
 * -errno when the kernel cannot tell (no statmount, before 6.8). */
static int mount_exists(uint64_t unique_id)
{
        struct ovl_mnt_id_req req = { .size = sizeof(req), .mnt_id = unique_id };
        uint64_t buf[64]; /* struct statmount's fixed part; STATMOUNT_MNT_BASIC needs nothing more */

        if (ovl_statmount(&req, buf, sizeof(buf), 0) == 0)
                return 1;
        return errno == ENOENT ? 0 : -errno;
}

/* Whether the record created R (rather than finding it empty). */
static bool created_rootfs(const struct ovl_record *rec)
{
        return ovl_strlist_has(&rec->scratch, rec->rootfs);
}

/* The mount open at fd is the record's: the very mount it made (its unique id, where the kernel
 * has them and the record holds one), else what the backend's is_ours recognises. */
static bool mount_is_records(const struct ovl_record *rec, int fd, ovl_mount_is_ours_fn is_ours)
{
        uint64_t id;

        if (rec->mount_id != 0 && ovl_mount_id_of(fd, OVL_STATX_MNT_ID_UNIQUE, &id) == 0)
                return id == rec->mount_id;
        /* Before 6.8: the plain mount id is never shared by two mounts that exist at once, but is
         * reused after an unmount, so the backend must recognise the mount too. */
        if (rec->mount_id_reusable != 0 && ovl_mount_id_of(fd, OVL_STATX_MNT_ID, &id) == 0 &&
            id != rec->mount_id_reusable)
                return false;
        return is_ours(rec, fd);
}

/* Nothing of ours is at R. Whether that is fine depends on where our mount is: gone (unmounted
 * behind our back: 0, or -ESTALE when a foreign mount stands at R), or still mounted somewhere
 * (under what covers R, or moved away with a directory above R): then it is reported and the
 * record kept (-EBUSY), so that nothing is leaked. */
static int ours_not_at_rootfs(const struct ovl_record *rec, bool foreign_at_r, struct ovl_error *err)
{
        int exists = rec->mount_id ? mount_exists(rec->mount_id) : -ENODATA;

        if (rec->state == OVL_RECORD_ASSEMBLING && rec->mount_id == 0)
                return 0; /* an interrupted assemble that never got to mount */
        if (exists == 0 || (exists < 0 && !foreign_at_r))
                return foreign_at_r ? ovl_error_fail(err, 0,
                                                     "rootfs %s: the mount there is not the one ovlbackend "
                                                     "made; left it alone",
                                                     rec->rootfs),
                       -ESTALE      : 0;
        ovl_error_fail(err, EBUSY,
                       "rootfs %s: %s; left it alone, the record is kept (run destroy again once R "
                       "shows ovlbackend's mount)",
                       rec->rootfs,
                       foreign_at_r
                               ? "the mount there is not the one ovlbackend made, which may still be mounted below it"
                               : "ovlbackend's mount is no longer at R (was a directory above R moved?)");
        return -EBUSY;
}

/* Detaches the mount at R if it is ours: R opened once (O_PATH, not following a symlink), checked
 * through that fd, and exactly that mount unmounted through /proc/self/fd/N, so a directory above
 * R renamed between the check and the unmount cannot make us unmount another. Returns 0 when R is
 * now free of our mount, -ESTALE/-EBUSY (see ours_not_at_rootfs), or -errno. */
static int detach_if_ours(const struct ovl_record *rec, int pfd, const char *base, ovl_mount_is_ours_fn is_ours,
                          struct ovl_error *err)
{
        _cleanup_close_ int fd = openat(pfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        char path[OVL_FD_PATH_MAX];
        int mounted;

        if (fd < 0 && errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
                return ovl_error_fail(err, errno, "rootfs %s", rec->rootfs);
        mounted = fd < 0 ? 0 : ovl_is_mount_point_at(fd, "");
        if (mounted < 0)
                return ovl_error_fail(err, -mounted, "rootfs %s", rec->rootfs);
        if (!mounted || !mount_is_records(rec, fd, is_ours))
                return ours_not_at_rootfs(rec, mounted, err);
        /* MNT_DETACH: a process with a file open inside must not keep the rootfs from going away
         * (Mesos' MESOS-9196); the kernel frees the mount when the last user lets go. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (umount2(path, MNT_DETACH) < 0)
                return ovl_error_fail(err, errno, "rootfs %s: unmount", rec->rootfs);
        return 0;
}

/* Removes R when this record created it: the directory whose identity it recorded, or, killed
 * before that, an empty one of ours; rmdir only, never a recursive delete. */
static int remove_created_rootfs(const struct ovl_record *rec, int pfd, const char *base, struct ovl_error *err)
{
        struct ovl_tree_id id;
        struct stat st;

        if (ovl_tree_id_get(pfd, base, &id) < 0 || fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : ovl_error_fail(err, errno, "rootfs %s", rec->rootfs);
        if ((rec->tree.ino != 0 && !ovl_tree_id_equal(&rec->tree, &id)) || st.st_uid != geteuid()) {
                ovl_error_fail(err, 0, "rootfs %s: not the directory ovlbackend made; left in place", rec->rootfs);
                return -ESTALE;
        }
        if (unlinkat(pfd, base, AT_REMOVEDIR) < 0 && errno != ENOENT) {
                if (errno != ENOTEMPTY && errno != EBUSY)
                        return ovl_error_fail(err, errno, "rootfs %s", rec->rootfs);
                ovl_error_fail(err, errno, "rootfs %s: left in place", rec->rootfs);
                return -ESTALE;
        }
        return 0;
}

int ovl_mount_destroy_target(const struct ovl_record *rec, ovl_mount_is_ours_fn is_ours, struct ovl_error *err)
{
        _cleanup_free_ char *parent = NULL, *base = NULL;
        _cleanup_close_ int pfd = -1;
        int r = ovl_path_split(rec->rootfs, &parent, &base);

        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s", rec->rootfs);
        pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0 && errno != ENOENT)
                return ovl_error_fail(err, errno, "rootfs %s: parent directory", rec->rootfs);
        r = pfd < 0 ? ours_not_at_rootfs(rec, false, err) : detach_if_ours(rec, pfd, base, is_ours, err);
        /* Off the host now; anything more waits until nobody holds the mount elsewhere. Asked
         * before R goes too: removing R would also take the copies mounted on it out of other
         * mount namespaces, hiding who holds them. R stays looked up through the same pfd. */
        if (r == 0)
                r = ovl_destroy_may_remove(rec, err);
        if (r < 0 || pfd < 0 || !created_rootfs(rec))
                return r;
        return remove_created_rootfs(rec, pfd, base, err);
}

int ovl_mount_in_place(const struct ovl_record *rec, int rootfs_fd, ovl_mount_is_ours_fn is_ours)
{
        return rootfs_fd >= 0 && ovl_is_mount_point_at(rootfs_fd, "") > 0 && mount_is_records(rec, rootfs_fd, is_ours);
}
