#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "rootfs/workdir.h"

#define RECORD_FILE "record"
#define RECORD_MAX_SIZE (16u << 20)

static int open_subdir(int parent, const char *name, bool create)
{
        if (create && mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int ovl_workdir_open(const char *path, bool create, struct ovl_workdir *ret, struct ovl_error *err)
{
        struct ovl_workdir wd = { .fd = -1, .rootfs_fd = -1, .locks_fd = -1 };
        int r;

        if (create) {
                r = ovl_mkdir_parents(path, 0700);
                if (r < 0)
                        return ovl_error_fail(err, -r, "work dir %s", path);
        }
        wd.fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (wd.fd < 0) {
                r = -errno;
                if (r == -ENOENT && !create)
                        return r;
                return ovl_error_fail(err, -r, "work dir %s", path);
        }
        wd.rootfs_fd = open_subdir(wd.fd, "rootfs", create);
        wd.locks_fd = open_subdir(wd.fd, "locks", create);
        if (wd.rootfs_fd < 0 || wd.locks_fd < 0) {
                r = wd.rootfs_fd < 0 ? wd.rootfs_fd : wd.locks_fd;
                ovl_workdir_close(&wd);
                if (r == -ENOENT && !create)
                        return r;
                return ovl_error_fail(err, -r, "work dir %s", path);
        }
        wd.path = strdup(path);
        if (!wd.path) {
                ovl_workdir_close(&wd);
                return ovl_error_fail(err, ENOMEM, "work dir %s", path);
        }
        *ret = wd;
        return 0;
}

void ovl_workdir_close(struct ovl_workdir *wd)
{
        if (wd->fd >= 0)
                close(wd->fd);
        if (wd->rootfs_fd >= 0)
                close(wd->rootfs_fd);
        if (wd->locks_fd >= 0)
                close(wd->locks_fd);
        free(wd->path);
        *wd = (struct ovl_workdir){ .fd = -1, .rootfs_fd = -1, .locks_fd = -1 };
}

void ovl_workdir_record_id(const char *rootfs, char ret_id[OVL_RECORD_ID_LEN + 1])
{
        uint64_t h = 0xcbf29ce484222325ULL;

        for (const unsigned char *p = (const unsigned char *) rootfs; *p; p++) {
                h ^= *p;
                h *= 0x100000001b3ULL;
        }
        snprintf(ret_id, OVL_RECORD_ID_LEN + 1, "%016" PRIx64, h);
}

static void lock_name(char *buf, size_t size, const char *id)
{
        snprintf(buf, size, "%s.lock", id);
}

int ovl_workdir_lock(struct ovl_workdir *wd, const char *id, bool wait, int *ret_lock_fd,
                     struct ovl_error *err)
{
        char name[OVL_RECORD_ID_LEN + 8];

        lock_name(name, sizeof(name), id);
        for (;;) {
                _cleanup_close_ int fd = openat(wd->locks_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
                struct stat held, now;

                if (fd < 0)
                        return ovl_error_fail(err, errno, "lock %s/locks/%s", wd->path, name);
                if (RETRY_EINTR(flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) < 0) {
                        if (errno == EWOULDBLOCK)
                                return -EBUSY;
                        return ovl_error_fail(err, errno, "lock %s/locks/%s", wd->path, name);
                }
                /* A remover deletes the file while holding the lock; if that happened between our
                 * open and our flock, we hold a lock nobody else can see: take a fresh one. */
                if (fstat(fd, &held) < 0)
                        return ovl_error_fail(err, errno, "lock %s/locks/%s", wd->path, name);
                if (fstatat(wd->locks_fd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
                    now.st_ino == held.st_ino && now.st_dev == held.st_dev) {
                        *ret_lock_fd = TAKE_FD(fd);
                        return 0;
                }
        }
}

void ovl_workdir_unlock(struct ovl_workdir *wd, const char *id, int lock_fd, bool remove)
{
        char name[OVL_RECORD_ID_LEN + 8];

        if (lock_fd < 0)
                return;
        if (remove) {
                lock_name(name, sizeof(name), id);
                (void) unlinkat(wd->locks_fd, name, 0);
        }
        close(lock_fd);
}

int ovl_workdir_record_dir(struct ovl_workdir *wd, const char *id, bool create, int *ret_fd)
{
        int fd = open_subdir(wd->rootfs_fd, id, create);

        if (fd < 0)
                return fd;
        *ret_fd = fd;
        return 0;
}

int ovl_workdir_load_record(struct ovl_workdir *wd, const char *id, struct ovl_record *ret,
                            struct ovl_error *err)
{
        _cleanup_close_ int dirfd = -1;
        _cleanup_free_ char *text = NULL;
        char source[512];
        int r;

        r = ovl_workdir_record_dir(wd, id, false, &dirfd);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return ovl_error_fail(err, -r, "record %s/rootfs/%s", wd->path, id);
        r = ovl_read_file_at(dirfd, RECORD_FILE, RECORD_MAX_SIZE, &text);
        if (r == -ENOENT)
                return r;
        snprintf(source, sizeof(source), "%s/rootfs/%s/%s", wd->path, id, RECORD_FILE);
        if (r < 0)
                return ovl_error_fail(err, -r, "record %s", source);
        return ovl_record_parse(text, strlen(text), source, ret, err);
}

int ovl_workdir_save_record(struct ovl_workdir *wd, const char *id, const struct ovl_record *rec,
                            struct ovl_error *err)
{
        _cleanup_close_ int dirfd = -1;
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = ovl_workdir_record_dir(wd, id, true, &dirfd);
        if (r < 0)
                return ovl_error_fail(err, -r, "record %s/rootfs/%s", wd->path, id);
        r = ovl_record_format(rec, &text, &len);
        if (r == 0)
                r = ovl_write_file_atomic(dirfd, RECORD_FILE, text, len);
        if (r < 0)
                return ovl_error_fail(err, -r, "record %s/rootfs/%s/%s", wd->path, id, RECORD_FILE);
        return 0;
}

int ovl_workdir_remove_record(struct ovl_workdir *wd, const char *id, struct ovl_error *err)
{
        char what[512];

        snprintf(what, sizeof(what), "record %s/rootfs/%s", wd->path, id);
        return ovl_remove_tree_at(wd->rootfs_fd, id, what, err);
}

int ovl_workdir_list_ids(struct ovl_workdir *wd, char ***ret_ids, size_t *ret_count)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct ovl_strlist ids = { 0 };
        struct dirent *de;
        int fd = dup(wd->rootfs_fd);

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        rewinddir(d);
        while ((errno = 0, de = readdir(d))) {
                if (strlen(de->d_name) != OVL_RECORD_ID_LEN ||
                    strspn(de->d_name, "0123456789abcdef") != OVL_RECORD_ID_LEN)
                        continue;
                if (ovl_strlist_append(&ids, de->d_name) < 0) {
                        ovl_strlist_clear(&ids);
                        return -ENOMEM;
                }
        }
        if (errno) {
                ovl_strlist_clear(&ids);
                return -errno;
        }
        if (ovl_strlist_append(&ids, "") < 0) {
                ovl_strlist_clear(&ids);
                return -ENOMEM;
        }
        /* NULL-terminate: replace the sentinel we just added. */
        free(ids.items[ids.count - 1]);
        ids.items[ids.count - 1] = NULL;
        *ret_ids = ids.items;
        *ret_count = ids.count - 1;
        return 0;
}
