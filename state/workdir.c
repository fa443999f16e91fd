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
#include "common/walk.h"
#include "common/macro.h"
#include "state/workdir.h"

#define RECORD_FILE "record"
#define RECORD_MAX_SIZE (16u << 20)

/* The kernel's overflow uid: how an owner outside a user namespace's map shows inside it. */
static uid_t overflow_uid(void)
{
        _cleanup_free_ char *text = NULL;

        if (ovl_read_file_at(AT_FDCWD, "/proc/sys/kernel/overflowuid", 32, &text) < 0)
                return 65534;
        return (uid_t) strtoul(text, NULL, 10);
}

int ovl_workdir_check_private(int fd, const char *path, struct ovl_error *err)
{
        struct stat st;

        if (fstat(fd, &st) < 0)
                return ovl_error_fail(err, errno, "work dir %s", path);
        if (!S_ISDIR(st.st_mode))
                return ovl_error_bad(err, ENOTDIR, "work dir %s", path);
        if (st.st_uid != geteuid())
                return ovl_error_bad(err, 0,
                                     "work dir %s: owned by uid %u, not by uid %u that runs ovlbackend; its "
                                     "records decide what ovlbackend deletes, so only it may own them: chown %u %s "
                                     "&& chmod 0700 %s (or use another --work-dir)",
                                     path, (unsigned) st.st_uid, (unsigned) geteuid(), (unsigned) geteuid(), path,
                                     path);
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return ovl_error_bad(err, 0,
                                     "work dir %s: writable by group or others (mode %04o); its records "
                                     "decide what ovlbackend deletes: chmod 0700 %s",
                                     path, (unsigned) (st.st_mode & 07777), path);
        return 0;
}

int ovl_path_changeable_ancestor(const char *canonical, char **ret_dir, struct stat *ret_st)
{
        _cleanup_free_ char *prefix = strdup(canonical);
        uid_t overflow = ovl_in_initial_userns() ? 0 : overflow_uid();
        struct stat st;

        if (!prefix)
                return -ENOMEM;
        for (char *slash = strrchr(prefix, '/'); slash; slash = strrchr(prefix, '/')) {
                slash[slash == prefix ? 1 : 0] = '\0';
                if (stat(prefix, &st) < 0)
                        return -errno;
                if ((st.st_uid != 0 && st.st_uid != geteuid() && st.st_uid != overflow) ||
                    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
                        *ret_st = st;
                        *ret_dir = TAKE_PTR(prefix);
                        return 1;
                }
                if (strcmp(prefix, "/") == 0)
                        break;
        }
        return 0;
}

/* Whoever may rename a directory above the work dir can swap the whole work dir for one of their
 * own between two path lookups: refused. */
static int check_ancestors(const char *canonical, struct ovl_error *err)
{
        _cleanup_free_ char *dir = NULL;
        struct stat st;
        int r = ovl_path_changeable_ancestor(canonical, &dir, &st);

        if (r < 0)
                return ovl_error_fail(err, -r, "work dir %s: its ancestors", canonical);
        if (r == 0)
                return 0;
        return ovl_error_bad(err, 0,
                             "work dir %s: ancestor %s (uid %u, mode %04o) may be changed by another user, "
                             "who could swap the work dir; put the work dir where only root can change the path to it",
                             canonical, dir, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
}

static int open_subdir(int parent, const char *name, bool create)
{
        if (create && mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* Opens name in parent, WORK/rel (creating it when `create`), and checks that only we can change
 * it. Returns 0 and the fd, -ENOENT (missing, no message) when !create, or -errno with err set. */
static int open_private_subdir(const struct ovl_workdir *wd, int parent, const char *name, const char *rel, bool create,
                               int *ret_fd, struct ovl_error *err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = open_subdir(parent, name, create);
        int r;

        if (fd == -ENOENT && !create)
                return -ENOENT;
        if (asprintf(&path, "%s/%s", wd->path, rel) < 0)
                return ovl_error_fail(err, ENOMEM, "work dir %s", wd->path);
        if (fd < 0)
                return ovl_error_fail(err, -fd, "work dir %s", path);
        r = ovl_workdir_check_private(fd, path, err);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Every record directory WORK/rootfs/<id> must be as private as the work dir: one planted there
 * is refused by every command, not only by those that happen to read it. */
static int check_record_dirs(struct ovl_workdir *wd, struct ovl_error *err)
{
        char **ids = NULL;
        size_t n = 0;
        int r = ovl_workdir_list_ids(wd, &ids, &n);

        if (r < 0)
                return ovl_error_fail(err, -r, "work dir %s/rootfs", wd->path);
        for (size_t i = 0; r == 0 && i < n; i++) {
                _cleanup_close_ int fd = -1;
                r = ovl_workdir_record_dir(wd, ids[i], false, &fd, err);
                r = r == -ENOENT ? 0 : r; /* gone meanwhile */
        }
        for (size_t i = 0; i < n; i++)
                free(ids[i]);
        free(ids);
        return r;
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
        wd.path = realpath(path, NULL);
        if (!wd.path) {
                r = -errno;
                if (r == -ENOENT && !create)
                        return r;
                return ovl_error_fail(err, -r, "work dir %s", path);
        }
        r = check_ancestors(wd.path, err);
        if (r == 0) {
                wd.fd = open(wd.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = wd.fd < 0 ? ovl_error_fail(err, errno, "work dir %s", wd.path) : 0;
        }
        if (r == 0)
                r = ovl_workdir_check_private(wd.fd, wd.path, err);
        if (r == 0)
                r = open_private_subdir(&wd, wd.fd, "rootfs", "rootfs", create, &wd.rootfs_fd, err);
        if (r == 0)
                r = check_record_dirs(&wd, err);
        if (r == 0)
                r = open_private_subdir(&wd, wd.fd, "locks", "locks", create, &wd.locks_fd, err);
        /* Checked here too, although only overlay and the probe use them, so that gc never sweeps
         * a tree someone else could have planted. */
        for (size_t i = 0; r == 0 && i < 2; i++) {
                _cleanup_close_ int fd = -1;
                const char *sub = i ? "probe" : "layers";
                r = open_private_subdir(&wd, wd.fd, sub, sub, false, &fd, err);
                r = r == -ENOENT ? 0 : r;
        }
        if (r < 0) {
                ovl_workdir_close(&wd);
                return r;
        }
        *ret = wd;
        return 0;
}

void ovl_workdir_close(struct ovl_workdir *wd)
{
        wd->fd = safe_close(wd->fd);
        wd->rootfs_fd = safe_close(wd->rootfs_fd);
        wd->locks_fd = safe_close(wd->locks_fd);
        free(wd->path);
        wd->path = NULL;
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

int ovl_workdir_lock(struct ovl_workdir *wd, const char *id, bool wait, int *ret_lock_fd, struct ovl_error *err)
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
                if (fstatat(wd->locks_fd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == held.st_ino &&
                    now.st_dev == held.st_dev) {
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

int ovl_workdir_record_dir(struct ovl_workdir *wd, const char *id, bool create, int *ret_fd, struct ovl_error *err)
{
        _cleanup_free_ char *rel = NULL;

        if (asprintf(&rel, "rootfs/%s", id) < 0)
                return ovl_error_fail(err, ENOMEM, "record %s/rootfs/%s", wd->path, id);
        /* The work dir is ours, so only we could have made this; checked anyway, since a record
         * is what gc acts on. */
        return open_private_subdir(wd, wd->rootfs_fd, id, rel, create, ret_fd, err);
}

int ovl_workdir_load_record(struct ovl_workdir *wd, const char *id, struct ovl_record *ret, struct ovl_error *err)
{
        _cleanup_close_ int dirfd = -1;
        _cleanup_free_ char *text = NULL, *source = NULL;
        int r;

        r = ovl_workdir_record_dir(wd, id, false, &dirfd, err);
        if (r < 0)
                return r;
        r = ovl_read_file_at(dirfd, RECORD_FILE, RECORD_MAX_SIZE, &text);
        if (r == -ENOENT)
                return r;
        if (asprintf(&source, "%s/rootfs/%s/%s", wd->path, id, RECORD_FILE) < 0)
                return ovl_error_fail(err, ENOMEM, "record %s/rootfs/%s", wd->path, id);
        if (r < 0)
                return ovl_error_fail(err, -r, "record %s", source);
        return ovl_record_parse(text, strlen(text), source, ret, err);
}

int ovl_workdir_save_record(struct ovl_workdir *wd, const char *id, const struct ovl_record *rec, struct ovl_error *err)
{
        _cleanup_close_ int dirfd = -1;
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = ovl_workdir_record_dir(wd, id, true, &dirfd, err);
        if (r < 0)
                return r;
        r = ovl_record_format(rec, &text, &len);
        if (r == 0)
                r = ovl_write_file_atomic(dirfd, RECORD_FILE, text, len);
        if (r < 0)
                return ovl_error_fail(err, -r, "record %s/rootfs/%s/%s", wd->path, id, RECORD_FILE);
        return 0;
}

int ovl_workdir_remove_record(struct ovl_workdir *wd, const char *id, struct ovl_error *err)
{
        _cleanup_free_ char *what = NULL;

        if (asprintf(&what, "record %s/rootfs/%s", wd->path, id) < 0)
                return ovl_error_fail(err, ENOMEM, "record %s/rootfs/%s", wd->path, id);
        return ovl_remove_tree_at(wd->rootfs_fd, id, what, err);
}

int ovl_workdir_list_ids(struct ovl_workdir *wd, char ***ret_ids, size_t *ret_count)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct ovl_strlist ids = { 0 };
        struct dirent *de;
        int r = ovl_dir_open_at(wd->rootfs_fd, "", &d);

        if (r < 0)
                return r;
        while ((r = ovl_dir_next(d, &de)) > 0) {
                if (strlen(de->d_name) != OVL_RECORD_ID_LEN ||
                    strspn(de->d_name, "0123456789abcdef") != OVL_RECORD_ID_LEN)
                        continue;
                if (ovl_strlist_append(&ids, de->d_name) < 0) {
                        ovl_strlist_clear(&ids);
                        return -ENOMEM;
                }
        }
        if (r < 0) {
                ovl_strlist_clear(&ids);
                return r;
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

int ovl_workdir_open_ids(const char *path, struct ovl_workdir *ret, char ***ret_ids, size_t *ret_count,
                         struct ovl_error *err)
{
        int r = ovl_workdir_open(path, false, ret, err);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = ovl_workdir_list_ids(ret, ret_ids, ret_count);
        if (r < 0) {
                ovl_workdir_close(ret);
                return ovl_error_fail(err, -r, "work dir %s", path);
        }
        return 1;
}
