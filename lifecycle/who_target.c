/* What of a rootfs is "ours", for `who`: by the record, never by a name alone. A mount backend's
 * mount is known by the device it recorded (an overlay's also by its source, which names R's
 * record, and its upper dir; a bind's by the directory it shows), so that its copies in other mount
 * namespaces, which have ids of their own, are found in their mountinfo; an object a process uses
 * is on one of those mounts (its mount id, confirmed so that a reused id does not count) or, for
 * the copy's plain tree and the scratch dirs, inside them (its ancestors, or the path the kernel
 * gives for a file). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backends/mount.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "lifecycle/who.h"

/* Walking ".." from a directory ends at the root of its mount tree; no path is deeper than this. */
#define MAX_WALK_UP (PATH_MAX / 2)

struct mount_of {
        uint64_t id;
        struct ovl_mount_entry found;
        char *root, *target; /* copies: found's strings live only during the callback */
};

static int find_mount(void *ctx, const struct ovl_mount_entry *m)
{
        struct mount_of *w = ctx;

        if (m->id != w->id)
                return 0;
        w->found = *m;
        w->root = strdup(m->root);
        w->target = strdup(m->target);
        return w->root && w->target ? 1 : -ENOMEM;
}

/* The path within its filesystem of the directory at path, and its mount's device, from this
 * process' own mountinfo: the root of the mount it is on joined with its path below that mount's
 * target. Returns 0, or -errno (-ENOENT when it is gone or not below its mount's target). */
static int fs_path_of(const char *path, uint64_t *ret_dev, char **ret_root)
{
        _cleanup_free_ char *real = realpath(path, NULL);
        _cleanup_close_ int fd = -1;
        _cleanup_fclose_ FILE *f = NULL;
        struct mount_of w = { 0 };
        const char *below;
        int r;

        if (!real)
                return -errno;
        fd = open(real, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = ovl_mount_id_of(fd, OVL_STATX_MNT_ID, &w.id);
        f = r == 0 ? fopen("/proc/self/mountinfo", "re") : NULL;
        if (r == 0 && !f)
                r = -errno;
        if (r == 0)
                r = ovl_mounttable_each(f, find_mount, &w);
        below = w.target && ovl_path_is_below(real, w.target) ? real + (strcmp(w.target, "/") ? strlen(w.target) : 0)
                                                              : NULL;
        if (r == 1 && below) {
                r = asprintf(ret_root, "%s%s", strcmp(w.root, "/") || !*below ? w.root : "", below) < 0 ? -ENOMEM : 0;
                *ret_dev = w.found.dev;
        } else if (r >= 0) {
                r = -ENOENT;
        }
        free(w.root);
        free(w.target);
        return r;
}

static int add_dir(struct ovl_who_target *t, const char *path, const struct ovl_tree_id *id, bool scratch)
{
        struct ovl_who_dir *grown = realloc(t->dirs, (t->n_dirs + 1) * sizeof(*grown));

        if (!grown)
                return -ENOMEM;
        t->dirs = grown;
        t->dirs[t->n_dirs] = (struct ovl_who_dir){ .path = strdup(path), .id = *id, .scratch = scratch };
        return t->dirs[t->n_dirs++].path ? 0 : -ENOMEM;
}

/* The scratch dirs as they are now (R itself, a mount backend's created R, is the mount's). */
static int add_scratch(struct ovl_who_target *t)
{
        const struct ovl_record *rec = t->rec;

        for (size_t i = 0; i < rec->scratch.count; i++) {
                struct ovl_tree_id id;
                struct stat st;

                if (strcmp(rec->scratch.items[i], rec->rootfs) == 0 ||
                    fstatat(AT_FDCWD, rec->scratch.items[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
                    ovl_tree_id_get(AT_FDCWD, rec->scratch.items[i], &id) < 0)
                        continue;
                if (add_dir(t, rec->scratch.items[i], &id, true) < 0)
                        return -ENOMEM;
        }
        return 0;
}

void ovl_who_learn_mount(const struct ovl_backend_ops *b, struct ovl_record *rec)
{
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (!(b->needs & OVL_NEEDS_MOUNT) || (rec->dev && rec->mount_id_reusable))
                return;
        fd = open(rec->rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || b->in_place(rec, fd) != 1)
                return;
        if (!rec->dev && fstat(fd, &st) == 0)
                rec->dev = (uint64_t) major(st.st_dev) << 32 | minor(st.st_dev);
        if (!rec->mount_id_reusable)
                (void) ovl_mount_id_of(fd, OVL_STATX_MNT_ID, &rec->mount_id_reusable);
}

/* The copy: R's tree as recorded; mounts of it are looked for only while R is still that tree. */
static int init_tree(struct ovl_who_target *t)
{
        const struct ovl_record *rec = t->rec;
        struct ovl_tree_id now;
        uint64_t dev;
        int r;

        t->dev = rec->tree.dev;
        if (rec->tree.ino == 0)
                return 0;
        if (ovl_tree_id_get(AT_FDCWD, rec->rootfs, &now) == 0 && ovl_tree_id_equal(&rec->tree, &now)) {
                r = fs_path_of(rec->rootfs, &dev, &t->fs_root);
                if (r == -ENOMEM)
                        return r;
        }
        return add_dir(t, rec->rootfs, &rec->tree, false);
}

int ovl_who_target_init(const struct ovl_backend_ops *b, const struct ovl_record *rec, struct ovl_who_target *ret)
{
        struct ovl_record known = *rec; /* a shallow copy, for what the mount at R adds to it */
        struct ovl_who_target t = { .rec = rec, .own_unique = rec->mount_id };
        uint64_t dev = 0;
        int r = 0;

        ovl_who_learn_mount(b, &known);
        t.dev = known.dev;
        t.own_id = known.mount_id_reusable;

        t.rule = (b->needs & OVL_NEEDS_OVERLAYFS) ? OVL_WHO_SUPERBLOCK
                 : (b->needs & OVL_NEEDS_MOUNT)   ? OVL_WHO_MOUNT_ROOT
                                                  : OVL_WHO_SUBTREE;
        if (t.rule == OVL_WHO_SUBTREE)
                r = init_tree(&t);
        if (r == 0 && t.rule == OVL_WHO_SUPERBLOCK) {
                ovl_mount_source(rec->rootfs, t.source, sizeof(t.source));
        }
        /* A bind shows its layer: the layer's directory within its filesystem, on the layer's
         * device (which is the mount's). */
        if (r == 0 && t.rule == OVL_WHO_MOUNT_ROOT && rec->layers.count == 1 &&
            fs_path_of(rec->layers.items[0], &dev, &t.fs_root) == 0) {
                t.layer = realpath(rec->layers.items[0], NULL);
                if (!t.dev)
                        t.dev = dev;
        }
        if (r == 0)
                r = add_scratch(&t);
        if (r < 0) {
                ovl_who_target_clear(&t);
                return r;
        }
        *ret = t;
        return 0;
}

void ovl_who_target_clear(struct ovl_who_target *t)
{
        free(t->fs_root);
        free(t->layer);
        free(t->ids);
        for (size_t i = 0; i < t->n_dirs; i++)
                free(t->dirs[i].path);
        free(t->dirs);
        *t = (struct ovl_who_target){ 0 };
}

int ovl_who_target_add_id(struct ovl_who_target *t, uint64_t id)
{
        uint64_t *grown;

        for (size_t i = 0; i < t->n_ids; i++)
                if (t->ids[i] == id)
                        return 0;
        grown = realloc(t->ids, (t->n_ids + 1) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        t->ids = grown;
        t->ids[t->n_ids++] = id;
        return 0;
}

/* An overlay's device is anonymous and handed out again once its filesystem is gone: its source,
 * which names R's record, tells ours from a later one that got the same device (another assemble
 * of R is refused while ours is held). Not the upperdir= it shows: the kernel shows the string it
 * was given, which is /proc/self/fd/N or N where the upper dir was passed as an fd (before 6.13). */
static bool overlay_is_ours(const struct ovl_who_target *t, const struct ovl_mount_entry *m)
{
        return strcmp(m->fstype, "overlay") == 0 && strcmp(m->source, t->source) == 0;
}

bool ovl_who_mount_matches(const struct ovl_who_target *t, const struct ovl_mount_entry *m)
{
        if (!t->dev || m->dev != t->dev)
                return false;
        switch (t->rule) {
        case OVL_WHO_SUPERBLOCK:
                return overlay_is_ours(t, m);
        case OVL_WHO_MOUNT_ROOT:
                /* Mounted where the layer is, it is the store's mount of the layer itself. */
                return t->fs_root && strcmp(m->root, t->fs_root) == 0 &&
                       !(t->layer && strcmp(m->target, t->layer) == 0);
        case OVL_WHO_SUBTREE:
                return t->fs_root && ovl_path_is_below(m->root, t->fs_root);
        }
        return false;
}

static bool has_id(const struct ovl_who_target *t, uint64_t id)
{
        for (size_t i = 0; i < t->n_ids; i++)
                if (t->ids[i] == id)
                        return true;
        return false;
}

/* Whether the object is on a mount of ours. Plain mount ids are handed out again once a mount is
 * gone, so each match is confirmed: the record's own mount (at R, or detached from it) by its
 * unique id (6.8+), which never is, or else by the object's device; a copy seen in a namespace in
 * this scan by the object's device too (every directory of a mount, and every file of a bind or a
 * plain tree, has the mount's device) or, for a file of an overlay (which may report its layer's
 * device), by the process' own mount table read now. */
static bool on_our_mount(const struct ovl_who_target *t, struct ovl_who_process *p, const char *name,
                         const struct ovl_proc_object *o)
{
        struct ovl_proc_object u;

        if (t->own_unique) {
                if ((o->mnt_id == t->own_id || (!t->own_id && o->dev == t->dev)) &&
                    ovl_proc_object(p->fd, name, true, &u) == 0 && u.mnt_id == t->own_unique)
                        return true;
        } else if (t->own_id && o->mnt_id == t->own_id && (o->dev == t->dev || !t->own_id_attached)) {
                /* Detached (no mount table lists the id), it is still ours: an id is not handed
                 * out again while its mount exists, and an overlay's file may show its layer's
                 * device. */
                return true;
        }
        if (!has_id(t, o->mnt_id))
                return false;
        if (o->dev == t->dev)
                return true;
        return !S_ISDIR(o->mode) && t->rule == OVL_WHO_SUPERBLOCK && p->lists(p, o->mnt_id);
}

static const struct ovl_who_dir *dir_with_id(const struct ovl_who_target *t, const struct ovl_tree_id *id)
{
        for (size_t i = 0; i < t->n_dirs; i++)
                if (ovl_tree_id_equal(&t->dirs[i].id, id))
                        return &t->dirs[i];
        return NULL;
}

static bool dev_of_a_dir(const struct ovl_who_target *t, uint64_t dev)
{
        for (size_t i = 0; i < t->n_dirs; i++)
                if (t->dirs[i].id.dev == dev)
                        return true;
        return false;
}

/* The directory of t->dirs that the directory behind name is, or lies below: walking ".." from
 * it, which the kernel resolves whatever path names it now (a tree renamed, a container's root).
 * Opened O_PATH: nothing is read. NULL when none. */
static const struct ovl_who_dir *dir_above(const struct ovl_who_target *t, int pid_fd, const char *name)
{
        _cleanup_close_ int fd = openat(pid_fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);

        for (int depth = 0; fd >= 0 && depth < MAX_WALK_UP; depth++) {
                const struct ovl_who_dir *d;
                struct ovl_tree_id id, up_id;
                int up;

                if (ovl_tree_id_get(fd, "", &id) < 0)
                        return NULL;
                d = dir_with_id(t, &id);
                if (d)
                        return d;
                up = openat(fd, "..", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                /* Our dirs are on one device each: above the top of that device there is none of
                 * them, and the walk never goes on into another filesystem (a FUSE one could make
                 * it wait). */
                if (up < 0 || ovl_tree_id_get(up, "", &up_id) < 0 || up_id.dev != id.dev ||
                    (up_id.ino == id.ino && up_id.btime_ns == id.btime_ns)) {
                        safe_close(up);
                        return NULL; /* the top of its mount tree or device */
                }
                close_and_replace(fd, up);
        }
        return NULL;
}

/* The directory of t->dirs on dev that path lies in, by the kernel's path for a file. */
static const struct ovl_who_dir *dir_by_path(const struct ovl_who_target *t, uint64_t dev, const char *path)
{
        for (size_t i = 0; i < t->n_dirs; i++)
                if (t->dirs[i].id.dev == dev && ovl_path_is_below(path, t->dirs[i].path))
                        return &t->dirs[i];
        return NULL;
}

int ovl_who_object_inside(const struct ovl_who_target *t, struct ovl_who_process *p, const char *name,
                          const struct ovl_proc_object *o, bool *ret_scratch)
{
        const struct ovl_who_dir *d = NULL;

        *ret_scratch = false;
        if (on_our_mount(t, p, name, o))
                return 1;
        if (!dev_of_a_dir(t, o->dev))
                return 0;
        if (S_ISDIR(o->mode)) {
                d = dir_above(t, p->fd, name);
        } else {
                _cleanup_free_ char *path = NULL;
                int r = ovl_proc_link(p->fd, name, &path);
                if (r < 0)
                        return r;
                d = dir_by_path(t, o->dev, path);
        }
        if (d)
                *ret_scratch = d->scratch;
        return d != NULL;
}

int ovl_who_map_inside(const struct ovl_who_target *t, struct ovl_who_process *p, const struct ovl_proc_map *m,
                       bool map_files, bool *ret_scratch)
{
        const struct ovl_who_dir *d;
        char name[64];
        struct ovl_proc_object o;
        int r;

        *ret_scratch = false;
        if ((!t->dev || m->dev != t->dev) && !dev_of_a_dir(t, m->dev))
                return 0;
        if (map_files) {
                /* /proc/PID/map_files names each mapping "start-end", in hex without padding. */
                snprintf(name, sizeof(name), "map_files/%llx-%llx", (unsigned long long) m->start,
                         (unsigned long long) m->end);
                r = ovl_proc_object(p->fd, name, false, &o);
                return r < 0 ? r : ovl_who_object_inside(t, p, name, &o, ret_scratch);
        }
        /* Without map_files only the line itself: the device (an overlay's own, unique while it
         * exists), and the path for what shares its device with the rest of its filesystem. */
        if (m->dev == t->dev && (t->rule == OVL_WHO_SUPERBLOCK || ovl_path_is_below(m->path, t->rec->rootfs)))
                return 1;
        d = dir_by_path(t, m->dev, m->path);
        if (d)
                *ret_scratch = d->scratch;
        return d != NULL;
}

bool ovl_who_guards(const struct ovl_backend_ops *b, const struct ovl_record *rec)
{
        if (!(b->needs & OVL_NEEDS_MOUNT))
                return false;
        for (size_t i = 0; i < rec->scratch.count; i++)
                if (strcmp(rec->scratch.items[i], rec->rootfs) != 0)
                        return true;
        return rec->caches.count > 0;
}
