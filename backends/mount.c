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

#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008
#endif

size_t ovl_mount_read_log(int fs_fd, char *buf, size_t size)
{
        char msg[512];
        size_t len = 0;

        buf[0] = '\0';
        /* Each read returns one message, prefixed "e ", "w " or "i " (error, warning, info), until
         * the log is empty (ENODATA). */
        for (int i = 0; i < 16 && len + 1 < size; i++) {
                ssize_t n = read(fs_fd, msg, sizeof(msg) - 1);
                if (n <= 0)
                        break;
                msg[n] = '\0';
                if (msg[n - 1] == '\n')
                        msg[n - 1] = '\0';
                len += (size_t) snprintf(buf + len, size - len, "%s%s", len ? "; " : "",
                                         n > 2 && msg[1] == ' ' ? msg + 2 : msg);
        }
        return len < size ? len : size - 1;
}

void ovl_mount_append_log(int fs_fd, struct ovl_error *err)
{
        char log[1024];

        if (ovl_mount_read_log(fs_fd, log, sizeof(log)) > 0)
                ovl_error_append(err, " (kernel: %s)", log);
}

int ovl_mount_attach(int mnt_fd, int parent_fd, const char *name)
{
        /* The target's last component is not followed if it is a symlink (no MOVE_MOUNT_T_SYMLINKS):
         * a symlink planted at R cannot redirect the mount. */
        if (ovl_move_mount(mnt_fd, "", parent_fd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return -errno;
        return 0;
}

int ovl_mount_make_target(const struct ovl_assemble_request *req, struct ovl_error *err)
{
        int r;

        if (req->rootfs_exists)
                return 0;
        /* Recorded before it exists: a run killed right after the mkdir leaves nothing gc cannot
         * find. */
        r = ovl_strlist_append(&req->rec->scratch, req->rootfs);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s", req->rootfs);
        r = req->checkpoint(req, err);
        if (r < 0)
                return r;
        if (mkdirat(req->rootfs_parent_fd, req->rootfs_name, 0755) < 0)
                return ovl_error_fail(err, errno, "rootfs %s", req->rootfs);
        return 0;
}

/* Whether the record says the backend created the directory R (rather than finding it empty). */
static bool created_rootfs(const struct ovl_record *rec)
{
        for (size_t i = 0; i < rec->scratch.count; i++)
                if (strcmp(rec->scratch.items[i], rec->rootfs) == 0)
                        return true;
        return false;
}

/* Detaches the mount at R if it is ours. Returns 0 when R is now free of our mount (or never had
 * it), -ESTALE when someone else's mount stands there, or -errno. */
static int detach_if_ours(const struct ovl_record *rec, int pfd, const char *base, ovl_mount_is_ours_fn is_ours,
                          struct ovl_error *err)
{
        _cleanup_close_ int fd = -1;
        int mounted = ovl_is_mount_point_at(pfd, base);

        if (mounted == -ENOENT || mounted == 0)
                return 0; /* never mounted (rollback), or unmounted behind our back */
        if (mounted < 0)
                return ovl_error_fail(err, -mounted, "rootfs %s", rec->rootfs);
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return ovl_error_fail(err, errno, "rootfs %s", rec->rootfs);
        if (!is_ours(rec, fd)) {
                /* An interrupted assemble may have died before mounting: what is there is not ours. */
                if (rec->state == OVL_RECORD_ASSEMBLING)
                        return 0;
                ovl_error_fail(err, 0, "rootfs %s: the mount there is not the one ovlbackend made; left it alone",
                               rec->rootfs);
                return -ESTALE;
        }
        close(TAKE_FD(fd));
        /* MNT_DETACH: a process with a file open inside must not keep the rootfs from going away
         * (Mesos' MESOS-9196); the kernel frees the mount when the last user lets go. */
        if (umount2(rec->rootfs, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                return ovl_error_fail(err, errno, "rootfs %s: unmount", rec->rootfs);
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
        if (pfd < 0)
                return errno == ENOENT ? 0 : ovl_error_fail(err, errno, "rootfs %s: parent directory", rec->rootfs);
        r = detach_if_ours(rec, pfd, base, is_ours, err);
        if (r < 0 || !created_rootfs(rec))
                return r;
        /* rmdir, never a recursive delete: a directory we made empty must still be empty. */
        if (unlinkat(pfd, base, AT_REMOVEDIR) < 0 && errno != ENOENT) {
                if (errno != ENOTEMPTY && errno != EBUSY)
                        return ovl_error_fail(err, errno, "rootfs %s", rec->rootfs);
                ovl_error_fail(err, errno, "rootfs %s: left in place", rec->rootfs);
                return -ESTALE;
        }
        return 0;
}

bool ovl_mount_in_place(const struct ovl_record *rec, ovl_mount_is_ours_fn is_ours)
{
        _cleanup_close_ int fd = open(rec->rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        return fd >= 0 && is_ours(rec, fd);
}
