#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "common/syscalls.h"

/* The fallback for kernels without openat2: one component at a time, each opened O_NOFOLLOW, so a
 * symlink anywhere on the way fails with ELOOP and ".." is refused outright. */
static int open_beneath_walk(int rootfd, const char *relpath, int flags, mode_t mode, int *ret_fd)
{
        _cleanup_free_ char *copy = strdup(relpath);
        _cleanup_close_ int cur = -1;
        char *save = NULL, *part, *next;
        int dirfd = rootfd;

        if (!copy)
                return -ENOMEM;
        part = strtok_r(copy, "/", &save);
        if (!part) {
                int fd = openat(rootfd, ".", flags | O_CLOEXEC | O_NOFOLLOW, mode);
                if (fd < 0)
                        return -errno;
                *ret_fd = fd;
                return 0;
        }
        for (; part; part = next) {
                int fd;

                next = strtok_r(NULL, "/", &save);
                if (strcmp(part, "..") == 0)
                        return -EXDEV;
                if (next)
                        fd = openat(dirfd, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                else
                        fd = openat(dirfd, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                if (fd < 0)
                        return -errno;
                close_and_replace(cur, fd);
                dirfd = cur;
        }
        *ret_fd = TAKE_FD(cur);
        return 0;
}

int ovl_open_beneath(int rootfd, const char *relpath, int flags, mode_t mode, int *ret_fd)
{
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC | O_NOFOLLOW),
                .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd;

        fd = (int) RETRY_EINTR(ovl_openat2(rootfd, relpath, &how, sizeof(how)));
        if (fd >= 0) {
                *ret_fd = fd;
                return 0;
        }
        if (errno != ENOSYS && errno != EAGAIN)
                return -errno;
        return open_beneath_walk(rootfd, relpath, flags, mode, ret_fd);
}

int ovl_fd_path(char *buf, size_t size, int dirfd, const char *name)
{
        int n = snprintf(buf, size, "/proc/self/fd/%d/%s", dirfd, name);

        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        return 0;
}

int ovl_tree_id_get(int dirfd, const char *name, struct ovl_tree_id *ret)
{
        struct statx sx;

        if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH), STATX_INO | STATX_BTIME, &sx) < 0)
                return -errno;
        *ret = (struct ovl_tree_id){
                .dev = ((uint64_t) sx.stx_dev_major << 32) | sx.stx_dev_minor,
                .ino = sx.stx_ino,
                .btime_ns = (sx.stx_mask & STATX_BTIME)
                                    ? (uint64_t) sx.stx_btime.tv_sec * 1000000000u + sx.stx_btime.tv_nsec
                                    : 0,
        };
        return 0;
}

bool ovl_tree_id_equal(const struct ovl_tree_id *a, const struct ovl_tree_id *b)
{
        return a->ino != 0 && a->dev == b->dev && a->ino == b->ino && a->btime_ns == b->btime_ns;
}

int ovl_is_mount_point_at(int dirfd, const char *name)
{
        const int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT;
        struct statx sx, parent;

        if (statx(dirfd, name, flags | (*name ? 0 : AT_EMPTY_PATH), STATX_BASIC_STATS, &sx) < 0)
                return -errno;
        if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                return !!(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
        /* Kernels before 5.8 do not report mount roots: compare devices with the parent (for
         * dirfd itself its "..", which leads out of a mount root into the mount below). */
        if (statx(dirfd, *name ? "" : "..", *name ? AT_EMPTY_PATH : flags, STATX_BASIC_STATS, &parent) < 0)
                return -errno;
        return sx.stx_dev_major != parent.stx_dev_major || sx.stx_dev_minor != parent.stx_dev_minor;
}

int ovl_xattr_list(const char *path, char **ret_list, size_t *ret_len)
{
        size_t size = 1024;

        for (;;) {
                _cleanup_free_ char *buf = malloc(size);
                ssize_t n;

                if (!buf)
                        return -ENOMEM;
                n = llistxattr(path, buf, size);
                if (n >= 0) {
                        *ret_list = TAKE_PTR(buf);
                        *ret_len = (size_t) n;
                        return 0;
                }
                if (errno == ENOTSUP) {
                        *ret_list = TAKE_PTR(buf);
                        *ret_len = 0;
                        return 0;
                }
                if (errno != ERANGE)
                        return -errno;
                /* The list grew between calls or is larger than our guess: ask for its size. */
                n = llistxattr(path, NULL, 0);
                if (n < 0)
                        return -errno;
                size = (size_t) n + 256;
        }
}

/* How many levels of a walk keep their listing open. A deeper level lets its listing go and gets
 * it back through ".." when the walk returns to it: the walk never holds more than this many
 * directory fds (and two more for a moment) however deep the tree is, and in a tree no deeper than
 * this reads every directory once. */
#define WALK_WINDOW 16

/* One directory on the way from the top down to where the walk is: heap memory per level is this
 * and the name, whatever the tree holds. */
struct walk_level {
        char *name; /* in its parent; the caller's name for the top */
        dev_t dev;  /* who it is, checked whenever it is reached again by a path */
        ino_t ino;
        DIR *d;     /* its listing while it is in the window; NULL once let go */
};

struct walk {
        int top_dirfd;
        unsigned flags;
        const struct ovl_walk_visitor *v;
        const char *what;
        struct ovl_error *err;
        struct walk_level *lv;
        size_t depth, cap;
};

static int stat_nofollow(int dirfd, const char *name, struct stat *st)
{
        return fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH)) < 0 ? -errno : 0;
}

static int walk_fail(const struct walk *w, int errnum, const char *verb, const char *name)
{
        return ovl_error_fail(w->err, errnum, "%s: %s %s", w->what, verb, *name ? name : ".");
}

/* A directory is no longer where the walk left it: someone moved it (a container renaming its
 * own directories while its rootfs is removed). Going on could act outside the tree. */
static int walk_changed(const struct walk *w)
{
        ovl_error_fail(w->err, 0, "%s: the tree changed while it was %s", w->what,
                       (w->flags & OVL_WALK_REMOVES) ? "removed" : "walked");
        return -EAGAIN;
}

static void walk_free(struct walk *w)
{
        for (size_t i = 0; i < w->depth; i++) {
                if (w->lv[i].d)
                        closedir(w->lv[i].d);
                free(w->lv[i].name);
        }
        free(w->lv);
}

/* Adds a directory (its listing in d) as the innermost level, and lets the listing of the level
 * that leaves the window go. */
static int walk_add_level(struct walk *w, const char *name, const struct stat *st, DIR *d)
{
        struct walk_level *l;

        if (w->depth == w->cap) {
                size_t ncap = w->cap ? w->cap * 2 : 64;
                struct walk_level *grown = realloc(w->lv, ncap * sizeof(*grown));
                if (!grown)
                        return ovl_error_fail(w->err, ENOMEM, "%s", w->what);
                w->lv = grown;
                w->cap = ncap;
        }
        l = &w->lv[w->depth];
        *l = (struct walk_level){ .name = strdup(name), .dev = st->st_dev, .ino = st->st_ino, .d = d };
        if (!l->name)
                return ovl_error_fail(w->err, ENOMEM, "%s", w->what); /* d stays the caller's */
        w->depth++;
        if (w->depth > WALK_WINDOW) {
                l = &w->lv[w->depth - 1 - WALK_WINDOW];
                if (l->d) {
                        closedir(l->d);
                        l->d = NULL;
                }
        }
        return 0;
}

/* Enters dirfd/name, which the walk saw as the directory *seen: the fd must be that very directory
 * and no mount root; the visitor sees it before its listing is opened. Returns 0 when entered, 1
 * when passed over, or -errno. */
static int walk_enter(struct walk *w, int dirfd, const char *name, const struct stat *seen)
{
        const bool soft = w->flags & OVL_WALK_KEEP_GOING;
        _cleanup_close_ int fd = -1;
        struct ovl_walk_entry e = { .dirfd = dirfd, .name = name, .st = seen, .depth = w->depth };
        struct stat st;
        DIR *d;
        int r;

        fd = openat(dirfd, *name ? name : ".", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT || soft ? 1 : walk_fail(w, errno, "open", name);
        if (fstat(fd, &st) < 0)
                return soft ? 1 : walk_fail(w, errno, "stat", name);
        if (st.st_dev != seen->st_dev || st.st_ino != seen->st_ino)
                return walk_changed(w);
        r = ovl_is_mount_point_at(fd, "");
        if (r < 0)
                return soft ? 1 : walk_fail(w, -r, "stat", name);
        if (r > 0 && (w->flags & OVL_WALK_SKIP_MOUNTS))
                return 1;
        if (r > 0)
                return ovl_error_fail(w->err, EBUSY, "%s: %s is a mount point, not %s", w->what, *name ? name : ".",
                                      (w->flags & OVL_WALK_REMOVES) ? "removed" : "entered");
        if (w->v->dir_enter) {
                r = w->v->dir_enter(w->v->ctx, &e, fd, w->err);
                if (r < 0)
                        return r;
        }
        r = ovl_dir_open_at(fd, "", &d);
        if (r < 0) {
                if (!soft)
                        return walk_fail(w, -r, "open", name);
                /* Entered but unreadable: left at once, as if it were empty. */
                return w->v->dir_leave ? w->v->dir_leave(w->v->ctx, &e, w->err) : 1;
        }
        r = walk_add_level(w, name, &st, d);
        if (r < 0)
                closedir(d);
        return r;
}

/* Makes sure the parent of the innermost level has its listing: a parent that left the window is
 * re-opened through "..", which must lead to the very directory it was. Without OVL_WALK_REMOVES
 * its listing resumes after the child the walk comes back from. */
static int walk_reopen_parent(struct walk *w)
{
        struct walk_level *c = &w->lv[w->depth - 1], *p = &w->lv[w->depth - 2];
        _cleanup_close_ int fd = -1;
        struct dirent *de;
        struct stat st;
        int r;

        if (p->d)
                return 0;
        fd = openat(dirfd(c->d), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) /* c itself was removed under us */
                return walk_changed(w);
        if (fd < 0)
                return walk_fail(w, errno, "open", "..");
        if (fstat(fd, &st) < 0)
                return walk_fail(w, errno, "stat", "..");
        if (st.st_dev != p->dev || st.st_ino != p->ino)
                return walk_changed(w);
        p->d = fdopendir(fd);
        if (!p->d)
                return walk_fail(w, errno, "open", p->name);
        TAKE_FD(fd);
        if (w->flags & OVL_WALK_REMOVES)
                return 0;
        while ((r = ovl_dir_next(p->d, &de)) > 0 && strcmp(de->d_name, c->name) != 0)
                ;
        /* A listing that fails here would resume at its end and pass over the rest in silence. */
        if (r < 0 && !(w->flags & OVL_WALK_KEEP_GOING))
                return walk_fail(w, -r, "read directory", p->name);
        return 0;
}

/* The innermost level's listing is done: back to its parent, and dir_leave for it there. */
static int walk_leave(struct walk *w)
{
        struct walk_level *c = &w->lv[w->depth - 1];
        int parent_fd = w->top_dirfd, r = 0;
        struct stat st;

        if (w->depth > 1) {
                r = walk_reopen_parent(w);
                if (r < 0)
                        return r;
                parent_fd = dirfd(w->lv[w->depth - 2].d);
        }
        closedir(c->d);
        c->d = NULL;
        if (w->v->dir_leave) {
                /* Its name must still be it: the visitor acts on the name. Gone is fine. */
                r = stat_nofollow(parent_fd, c->name, &st);
                if (r == 0 && (st.st_dev != c->dev || st.st_ino != c->ino))
                        r = walk_changed(w);
                else if (r == 0)
                        r = w->v->dir_leave(w->v->ctx,
                                            &(struct ovl_walk_entry){ .dirfd = parent_fd, .name = c->name,
                                                                      .st = &st, .depth = w->depth - 1 },
                                            w->err);
                else if (r == -ENOENT)
                        r = 0;
                else
                        r = walk_fail(w, -r, "stat", c->name);
        }
        free(c->name);
        w->depth--;
        return r;
}

/* One entry of the innermost level: a file is visited, a directory entered. */
static int walk_step(struct walk *w)
{
        DIR *d = w->lv[w->depth - 1].d;
        struct dirent *de;
        struct stat st;
        int r;

        r = ovl_dir_next(d, &de);
        if (r < 0 && !(w->flags & OVL_WALK_KEEP_GOING))
                return walk_fail(w, -r, "read directory", w->lv[w->depth - 1].name);
        if (r <= 0)
                return walk_leave(w);
        r = stat_nofollow(dirfd(d), de->d_name, &st);
        if (r == -ENOENT || (r < 0 && (w->flags & OVL_WALK_KEEP_GOING)))
                return 0;
        if (r < 0)
                return walk_fail(w, -r, "stat", de->d_name);
        if (!S_ISDIR(st.st_mode))
                return w->v->file ? w->v->file(w->v->ctx,
                                               &(struct ovl_walk_entry){ .dirfd = dirfd(d), .name = de->d_name,
                                                                         .st = &st, .depth = w->depth },
                                               w->err)
                                  : 0;
        r = walk_enter(w, dirfd(d), de->d_name, &st);
        return r > 0 ? 0 : r;
}

int ovl_walk_tree_at(int dirfd, const char *name, unsigned flags, const struct ovl_walk_visitor *v,
                     const char *what, struct ovl_error *err)
{
        struct walk w = { .top_dirfd = dirfd, .flags = flags, .v = v, .what = what, .err = err };
        struct stat st;
        int r = stat_nofollow(dirfd, name, &st);

        if (r == -ENOENT || (r < 0 && (flags & OVL_WALK_KEEP_GOING)))
                return 0;
        if (r < 0)
                return walk_fail(&w, -r, "stat", name);
        if (!S_ISDIR(st.st_mode))
                return v->file ? v->file(v->ctx, &(struct ovl_walk_entry){ .dirfd = dirfd, .name = name, .st = &st },
                                         err)
                               : 0;
        r = walk_enter(&w, dirfd, name, &st);
        while (r >= 0 && w.depth > 0)
                r = walk_step(&w);
        walk_free(&w);
        return r < 0 ? r : 0;
}

static int remove_file(void *ctx, const struct ovl_walk_entry *e, struct ovl_error *err)
{
        if (unlinkat(e->dirfd, e->name, 0) < 0 && errno != ENOENT)
                return ovl_error_fail(err, errno, "%s: remove %s", (const char *) ctx, e->name);
        return 0;
}

static int remove_dir(void *ctx, const struct ovl_walk_entry *e, struct ovl_error *err)
{
        if (unlinkat(e->dirfd, e->name, AT_REMOVEDIR) == 0 || errno == ENOENT)
                return 0;
        /* Emptied a moment ago: someone moved or made entries in it meanwhile (a container still
         * running). Like a directory moved under the walk, a reason to stop, not a failure. */
        if (errno == ENOTEMPTY) {
                ovl_error_fail(err, 0, "%s: the tree changed while it was removed (%s filled again)",
                               (const char *) ctx, e->name);
                return -EAGAIN;
        }
        return ovl_error_fail(err, errno, "%s: remove directory %s", (const char *) ctx, e->name);
}

int ovl_remove_tree_at(int dirfd, const char *name, const char *what, struct ovl_error *err)
{
        const struct ovl_walk_visitor v = { .ctx = (void *) what, .file = remove_file, .dir_leave = remove_dir };

        if (!*name)
                return ovl_error_fail(err, EINVAL, "%s: no name to remove", what);
        return ovl_walk_tree_at(dirfd, name, OVL_WALK_REMOVES, &v, what, err);
}

int ovl_mkdir_parents(const char *path, mode_t mode)
{
        _cleanup_free_ char *copy = strdup(path);
        char *p;

        if (!copy)
                return -ENOMEM;
        for (p = copy + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(copy, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int ovl_dir_open_at(int dirfd, const char *name, DIR **ret)
{
        _cleanup_close_ int fd = openat(dirfd, *name ? name : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd); /* the DIR owns it now */
        *ret = d;
        return 0;
}

int ovl_dir_is_empty(int fd, bool *ret)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r = ovl_dir_open_at(fd, "", &d);

        if (r < 0)
                return r;
        r = ovl_dir_next(d, &de);
        if (r < 0)
                return r;
        *ret = r == 0;
        return 0;
}

int ovl_write_file_atomic(int dirfd, const char *name, const char *data, size_t len)
{
        char tmp[NAME_MAX + 1];
        _cleanup_close_ int fd = -1;
        size_t done = 0;
        int r;

        r = snprintf(tmp, sizeof(tmp), ".%s.%d.tmp", name, (int) getpid());
        if (r < 0 || (size_t) r >= sizeof(tmp))
                return -ENAMETOOLONG;
        /* A leftover of a run that died with our pid goes first; then the file must be new. */
        (void) unlinkat(dirfd, tmp, 0);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        while (done < len) {
                ssize_t n = write(fd, data + done, len - done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                done += (size_t) n;
        }
        if (fsync(fd) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
                r = -errno;
                goto fail;
        }
        /* The rename is durable only once the directory itself is on disk. */
        (void) fsync(dirfd);
        return 0;
fail:
        (void) unlinkat(dirfd, tmp, 0);
        return r;
}

int ovl_read_file_at(int dirfd, const char *name, size_t max, char **ret_data)
{
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        if (fd < 0)
                return -errno;
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + len, max + 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret_data = TAKE_PTR(buf);
        return 0;
}

int ovl_path_split(const char *path, char **ret_parent, char **ret_base)
{
        _cleanup_free_ char *copy = strdup(path);
        char *slash, *base, *parent;
        size_t len;

        if (!copy)
                return -ENOMEM;
        len = strlen(copy);
        while (len > 1 && copy[len - 1] == '/')
                copy[--len] = '\0';
        slash = strrchr(copy, '/');
        base = slash ? slash + 1 : copy;
        if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
                return -EINVAL;
        if (!slash)
                parent = strdup(".");
        else if (slash == copy)
                parent = strdup("/");
        else {
                *slash = '\0';
                parent = strdup(copy);
        }
        base = strdup(base);
        if (!parent || !base) {
                free(parent);
                free(base);
                return -ENOMEM;
        }
        *ret_parent = parent;
        *ret_base = base;
        return 0;
}

int ovl_path_canonical_parent(const char *path, char **ret)
{
        _cleanup_free_ char *parent = NULL, *base = NULL, *real = NULL;
        char *out;
        int r;

        r = ovl_path_split(path, &parent, &base);
        if (r < 0)
                return r;
        real = realpath(parent, NULL);
        if (!real)
                return -errno;
        if (asprintf(&out, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base) < 0)
                return -ENOMEM;
        *ret = out;
        return 0;
}

bool ovl_path_is_below(const char *inner, const char *outer)
{
        size_t n = strlen(outer);

        if (strcmp(outer, "/") == 0)
                return true;
        return strncmp(inner, outer, n) == 0 && (inner[n] == '\0' || inner[n] == '/');
}

bool ovl_in_initial_userns(void)
{
        static int initial = -1;

        if (initial < 0) {
                /* The initial user namespace has the fixed inode PROC_USER_INIT_INO (0xEFFFFFFD); any
                 * other has another, even with a full identity map. */
                struct stat st;
                if (stat("/proc/self/ns/user", &st) == 0) {
                        initial = st.st_ino == 0xEFFFFFFDU;
                } else {
                        _cleanup_free_ char *map = NULL;
                        unsigned long a, b, c;
                        initial = ovl_read_file_at(AT_FDCWD, "/proc/self/uid_map", 4096, &map) < 0 ||
                                  (sscanf(map, "%lu %lu %lu", &a, &b, &c) == 3 && a == 0 && b == 0 &&
                                   c == 4294967295UL);
                }
        }
        return initial;
}

int ovl_dir_next(DIR *d, struct dirent **ret)
{
        struct dirent *de;

        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de)
                        return errno ? -errno : 0;
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        break;
        }
        *ret = de;
        return 1;
}
