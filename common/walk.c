#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "common/walk.h"

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
        DIR *d; /* its listing while it is in the window; NULL once let go */
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
        if (r > 0 && w->depth == 0 && (w->flags & OVL_WALK_TOP_MOUNT))
                r = 0;
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
                                            &(struct ovl_walk_entry){ .dirfd = parent_fd,
                                                                      .name = c->name,
                                                                      .st = &st,
                                                                      .depth = w->depth - 1 },
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
                                               &(struct ovl_walk_entry){ .dirfd = dirfd(d),
                                                                         .name = de->d_name,
                                                                         .st = &st,
                                                                         .depth = w->depth },
                                               w->err)
                                  : 0;
        r = walk_enter(w, dirfd(d), de->d_name, &st);
        return r > 0 ? 0 : r;
}

int ovl_walk_tree_at(int dirfd, const char *name, unsigned flags, const struct ovl_walk_visitor *v, const char *what,
                     struct ovl_error *err)
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
