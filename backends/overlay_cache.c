#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/overlay_cache.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "common/walk.h"
#include "state/workdir.h"

int ovl_cache_lock(const char *work_dir, bool exclusive)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;

        if (asprintf(&path, "%s/layers.lock", work_dir) < 0)
                return -ENOMEM;
        /* O_NOFOLLOW: a symlink planted here must not make root create or lock another file. */
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        return TAKE_FD(fd);
}

int ovl_cache_open(const char *work_dir, struct ovl_cache *c, struct ovl_error *err)
{
        int r;

        *c = (struct ovl_cache){ .fd = -1, .lock_fd = -1 };
        if (asprintf(&c->path, "%s/layers", work_dir) < 0) {
                c->path = NULL;
                return ovl_error_fail(err, ENOMEM, "cache %s/layers", work_dir);
        }
        if (mkdir(c->path, 0700) < 0 && errno != EEXIST)
                return ovl_error_fail(err, errno, "cache %s", c->path);
        c->fd = open(c->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c->fd < 0)
                return ovl_error_fail(err, errno, "cache %s", c->path);
        r = ovl_workdir_check_private(c->fd, c->path, err);
        if (r < 0)
                return r;
        /* Shared: many assembles build and use entries at once; gc takes it exclusively. It lives
         * beside the cache, never removed, so every process locks the same file. */
        c->lock_fd = ovl_cache_lock(work_dir, false);
        if (c->lock_fd < 0)
                return ovl_error_fail(err, -c->lock_fd, "cache lock %s.lock", c->path);
        return 0;
}

int ovl_cache_close(struct ovl_cache *c)
{
        int lock = c->lock_fd;

        safe_close(c->fd);
        free(c->path);
        *c = (struct ovl_cache){ .fd = -1, .lock_fd = -1 };
        return lock;
}

static int entry_open(const struct ovl_cache *c, const char *key)
{
        int fd = openat(c->fd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

/* Builds entry `key` in a temporary directory renamed into place. The entry's own lock (a file
 * beside it, exclusive) makes a second assemble of the same image wait for the first and use its
 * result instead of building it again; it is removed by its holder, and a waiter that then gets a
 * removed file's lock still finds the entry built, or builds it itself: the temporary name and
 * RENAME_NOREPLACE keep even two builders right. Returns the entry's fd or -errno with err set. */
static int entry_build(struct ovl_cache *c, const char *key, ovl_cache_build_fn build, void *data, const char *path,
                       struct ovl_error *err)
{
        _cleanup_free_ char *tmp = NULL, *lock_name = NULL;
        _cleanup_close_ int lock = -1, fd = -1;
        int r;

        if (asprintf(&tmp, ".tmp-%s-%d", key, (int) getpid()) < 0 || asprintf(&lock_name, ".lock-%s", key) < 0)
                return ovl_error_fail(err, ENOMEM, "cache %s", path);
        lock = openat(c->fd, lock_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (lock < 0 || flock(lock, LOCK_EX) < 0)
                return ovl_error_fail(err, errno, "cache %s/%s", c->path, lock_name);
        fd = entry_open(c, key);
        if (fd >= 0 || fd != -ENOENT) {
                (void) unlinkat(c->fd, lock_name, 0);
                return fd >= 0 ? TAKE_FD(fd) : ovl_error_fail(err, -fd, "cache %s", path);
        }
        (void) ovl_remove_tree_at(c->fd, tmp, "cache", NULL);
        if (mkdirat(c->fd, tmp, 0755) < 0)
                return ovl_error_fail(err, errno, "cache %s/%s", c->path, tmp);
        fd = openat(c->fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = fd < 0 ? ovl_error_fail(err, errno, "cache %s/%s", c->path, tmp) : build(data, fd, path, err);
        if (r == 0 && renameat2(c->fd, tmp, c->fd, key, RENAME_NOREPLACE) < 0 && errno != EEXIST)
                r = ovl_error_fail(err, errno, "cache %s", path);
        (void) ovl_remove_tree_at(c->fd, tmp, "cache", NULL); /* when the rename lost, or failed */
        (void) unlinkat(c->fd, lock_name, 0);
        if (r < 0)
                return r;
        /* Ours or a concurrent builder's: whichever the name holds now. */
        r = entry_open(c, key);
        return r < 0 ? ovl_error_fail(err, -r, "cache %s", path) : r;
}

int ovl_cache_entry(struct ovl_cache *c, const char *key, ovl_cache_build_fn build, void *data, int *ret_fd,
                    struct ovl_strlist *used, struct ovl_error *err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if (asprintf(&path, "%s/%s", c->path, key) < 0) {
                path = NULL;
                return ovl_error_fail(err, ENOMEM, "cache %s/%s", c->path, key);
        }
        fd = entry_open(c, key);
        if (fd < 0 && fd != -ENOENT)
                return ovl_error_fail(err, -fd, "cache %s", path);
        if (fd < 0)
                fd = entry_build(c, key, build, data, path, err);
        if (fd < 0)
                return fd;
        r = ovl_strlist_append(used, path);
        if (r < 0)
                return ovl_error_fail(err, -r, "cache %s", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int ovl_cache_layer_identity(const struct ovl_layer *l, char *buf, size_t size)
{
        struct ovl_tree_id id;
        int r = ovl_tree_id_get(l->fd, "", &id);

        if (r < 0)
                return r;
        snprintf(buf, size, "%llu:%llu:%llu;", (unsigned long long) id.dev, (unsigned long long) id.ino,
                 (unsigned long long) id.btime_ns);
        return 0;
}
