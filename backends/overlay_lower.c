#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/copy.h"
#include "backends/copy_meta.h"
#include "backends/markers.h"
#include "backends/overlay_lower.h"
#include "common/fsutil.h"
#include "common/walk.h"
#include "common/macro.h"
#include "state/workdir.h"

/* Bump when the glue's layout or meaning changes: old cache entries are then simply unused. */
#define GLUE_VERSION "glue-2"
#define FLAT_VERSION "flat-1"

/* WORK/layers: the cache, and the lock that keeps gc from removing an entry being built or used. */
struct cache {
        int fd;
        char *path;
        int lock_fd;
};

struct glue {
        int below, above; /* -1 when the layer needs none */
};

/* A glue layer under construction in a temporary entry of the cache. */
struct glue_build {
        const struct ovl_layer *layer;
        int entry_fd;
        int side_fd[2]; /* below, above: created on first use */
};

enum { BELOW, ABOVE };

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

static int cache_open(const char *work_dir, struct cache *c, struct ovl_error *err)
{
        int r;

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

/* Opens (creating with mode 0755) the directory rel below rootfd, one component at a time. The
 * names come from a layer's listing, so none is "." or ".." or holds a '/'. */
static int mkdirs_at(int rootfd, const char *rel, int *ret_fd)
{
        _cleanup_free_ char *copy = strdup(rel);
        _cleanup_close_ int fd = -1;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int next;

                if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST)
                        return -errno;
                next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0)
                        return -errno;
                close_and_replace(fd, next);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int glue_side(struct glue_build *g, int side, int *ret_fd)
{
        static const char *const names[] = { "below", "above" };

        if (g->side_fd[side] < 0) {
                if (mkdirat(g->entry_fd, names[side], 0755) < 0)
                        return -errno;
                g->side_fd[side] = openat(g->entry_fd, names[side], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (g->side_fd[side] < 0)
                        return -errno;
        }
        *ret_fd = g->side_fd[side];
        return 0;
}

/* A 0/0 character device: overlayfs' own whiteout. */
static int put_whiteout(struct glue_build *g, int side, const char *dir, const char *name)
{
        _cleanup_close_ int dfd = -1;
        int root = -1, r = glue_side(g, side, &root);

        if (r == 0)
                r = mkdirs_at(root, dir, &dfd);
        if (r == 0 && mknodat(dfd, name, S_IFCHR | 0600, makedev(0, 0)) < 0 && errno != EEXIST)
                r = -errno;
        return r;
}

static int put_dir(struct glue_build *g, int side, const char *dir, bool opaque)
{
        _cleanup_close_ int dfd = -1;
        int root = -1, r = glue_side(g, side, &root);

        if (r == 0)
                r = mkdirs_at(root, dir, &dfd);
        if (r == 0 && opaque &&
            fsetxattr(dfd, ovl_in_initial_userns() ? "trusted.overlay.opaque" : "user.overlay.opaque", "y", 1, 0) < 0)
                r = -errno;
        return r;
}

static int marker_fail(const struct glue_build *g, const struct ovl_marker *m, int r, struct ovl_error *err)
{
        return ovl_error_fail(err, -r, "layer %s: %s%s%s: building its overlay glue", g->layer->path, m->dir,
                              *m->dir ? "/" : "", m->name);
}

static int put_dir_or_fail(struct glue_build *g, const struct ovl_marker *m, struct ovl_error *err)
{
        int r = put_dir(g, ABOVE, m->dir, false);

        return r < 0 ? marker_fail(g, m, r, err) : 0;
}

/* Translates one marker the kernel would not read (see overlay_lower.h). */
static int glue_marker(void *ctx, const struct ovl_marker *m, struct ovl_error *err)
{
        struct glue_build *g = ctx;
        int r = 0;

        /* The kernel reads these, but lists a whiteout in a directory only one layer has (it
         * reads such a directory as it is): a directory in the glue above makes it a merged one,
         * whose listing the kernel filters. */
        if ((m->kind == OVL_MARKER_CHARDEV || m->kind == OVL_MARKER_XATTR_WHITEOUT) && ovl_marker_is_native(m))
                return put_dir_or_fail(g, m, err);
        if (ovl_marker_is_native(m))
                return 0;
        switch (m->kind) {
        case OVL_MARKER_AUFS_WHITEOUT:
                r = put_whiteout(g, BELOW, m->dir, m->target);
                if (r == 0)
                        r = put_whiteout(g, ABOVE, m->dir, m->name);
                break;
        case OVL_MARKER_AUFS_OPAQUE:
                r = put_dir(g, BELOW, m->dir, true);
                if (r == 0)
                        r = put_whiteout(g, ABOVE, m->dir, m->name);
                break;
        case OVL_MARKER_AUFS_META:
        case OVL_MARKER_XATTR_WHITEOUT:
                r = put_whiteout(g, ABOVE, m->dir, m->name);
                break;
        case OVL_MARKER_OPAQUE_DIR:
                r = put_dir(g, BELOW, m->dir, true);
                if (r == 0)
                        r = put_dir(g, ABOVE, m->dir, false);
                break;
        case OVL_MARKER_XATTR_DIR:
                r = put_dir(g, ABOVE, m->dir, false);
                break;
        case OVL_MARKER_CHARDEV:
                break;
        }
        return r < 0 ? marker_fail(g, m, r, err) : 0;
}

static int dir_metadata_fail(const struct ovl_layer *layer, int errnum, struct ovl_error *err)
{
        return ovl_error_fail(err, errnum, "layer %s: copying directory metadata to its overlay glue", layer->path);
}

/* Gives the ABOVE glue's directory glue_fd (taken: closed here) and every directory below it the
 * metadata of the layer's directory src_fd of the same path, children first (times last), so the
 * glue changes nothing of what the layer shows. The two trees are walked side by side, one name at
 * a time with O_NOFOLLOW, and no path is ever built: every name in the glue came from the layer's
 * own listing, so it is a directory there too. The glue is only as deep as the marker scan went,
 * which bounds the recursion; it holds two fds per level. Returns 0 or -errno with err set. */
static int copy_dir_metadata(const struct ovl_layer *layer, int src_fd, int glue_fd, struct ovl_error *err)
{
        _cleanup_closedir_ DIR *d = fdopendir(glue_fd);
        struct dirent *de;
        struct stat st;
        int r;

        if (!d) {
                safe_close(glue_fd);
                return dir_metadata_fail(layer, errno, err);
        }
        while ((r = ovl_dir_next(d, &de)) > 0) {
                _cleanup_close_ int src_child = -1;
                int glue_child;

                if (de->d_type != DT_DIR)
                        continue;
                src_child = openat(src_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (src_child < 0)
                        return dir_metadata_fail(layer, errno, err);
                glue_child = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (glue_child < 0)
                        return dir_metadata_fail(layer, errno, err);
                r = copy_dir_metadata(layer, src_child, glue_child, err);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return dir_metadata_fail(layer, -r, err);
        if (fstat(src_fd, &st) < 0)
                return dir_metadata_fail(layer, errno, err);
        r = ovl_copy_metadata(&(struct ovl_node_ref){ .fd = src_fd }, &(struct ovl_node_ref){ .fd = dirfd(d) }, &st,
                              0755, NULL);
        if (r == -OVL_COPY_EUNMAPPED)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, 0,
                                     "layer %s: a directory's glue: " OVL_COPY_EUNMAPPED_TEXT, layer->path);
        return r < 0 ? dir_metadata_fail(layer, -r, err) : 0;
}

/* Builds the glue of layer into the empty cache entry at entry_fd. */
static int glue_build(const struct ovl_layer *layer, int entry_fd, struct ovl_error *err)
{
        struct glue_build g = { .layer = layer, .entry_fd = entry_fd, .side_fd = { -1, -1 } };
        int r = ovl_layer_scan_markers(layer, glue_marker, &g, err);

        if (r == 0 && g.side_fd[ABOVE] >= 0)
                r = copy_dir_metadata(layer, layer->fd, TAKE_FD(g.side_fd[ABOVE]), err);
        for (int i = 0; i < 2; i++)
                g.side_fd[i] = safe_close(g.side_fd[i]);
        return r;
}

typedef int (*entry_builder_fn)(void *data, int entry_fd, const char *entry_path, struct ovl_error *err);

/* Opens cache entry `key`, building it with `build` when missing: in a temporary entry renamed into
 * place, so a half-built entry is never used, and a concurrent builder's result wins the race. */
static int cache_entry(struct cache *c, const char *key, entry_builder_fn build, void *data, int *ret_fd,
                       struct ovl_strlist *used, struct ovl_error *err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        char tmp[64];
        int r;

        if (asprintf(&path, "%s/%s", c->path, key) < 0) {
                path = NULL;
                return ovl_error_fail(err, ENOMEM, "cache %s/%s", c->path, key);
        }
        fd = openat(c->fd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT)
                return ovl_error_fail(err, errno, "cache %s", path);
        if (fd < 0) {
                snprintf(tmp, sizeof(tmp), ".tmp-%s-%d", key, (int) getpid());
                (void) ovl_remove_tree_at(c->fd, tmp, "cache", NULL);
                if (mkdirat(c->fd, tmp, 0755) < 0)
                        return ovl_error_fail(err, errno, "cache %s/%s", c->path, tmp);
                fd = openat(c->fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = fd < 0 ? ovl_error_fail(err, errno, "cache %s/%s", c->path, tmp) : build(data, fd, path, err);
                if (r == 0 && renameat2(c->fd, tmp, c->fd, key, RENAME_NOREPLACE) < 0 && errno != EEXIST)
                        r = ovl_error_fail(err, errno, "cache %s", path);
                (void) ovl_remove_tree_at(c->fd, tmp, "cache", NULL); /* when the rename lost, or failed */
                if (r < 0)
                        return r;
                /* Ours or the concurrent builder's: whichever the name holds now. */
                fd = safe_close(fd);
                fd = openat(c->fd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return ovl_error_fail(err, errno, "cache %s", path);
        }
        r = ovl_strlist_append(used, path);
        if (r < 0)
                return ovl_error_fail(err, -r, "cache %s", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int build_glue_entry(void *data, int entry_fd, const char *entry_path, struct ovl_error *err)
{
        return glue_build(data, entry_fd, err);
}

/* The identity of a layer: what its cache entries are keyed by. */
static int layer_identity(const struct ovl_layer *l, char *buf, size_t size)
{
        struct ovl_tree_id id;
        int r = ovl_tree_id_get(l->fd, "", &id);

        if (r < 0)
                return r;
        snprintf(buf, size, "%llu:%llu:%llu;", (unsigned long long) id.dev, (unsigned long long) id.ino,
                 (unsigned long long) id.btime_ns);
        return 0;
}

static int glue_get(struct cache *c, const struct ovl_layer *layer, struct glue *ret, struct ovl_strlist *used,
                    struct ovl_error *err)
{
        char ident[128], key[OVL_RECORD_ID_LEN + 16] = GLUE_VERSION "-", id[OVL_RECORD_ID_LEN + 1];
        _cleanup_close_ int fd = -1;
        int r = layer_identity(layer, ident, sizeof(ident));

        if (r < 0)
                return ovl_error_fail(err, -r, "layer %s", layer->path);
        /* Glue for a userxattr mount marks with user.overlay.*: another entry. */
        if (!ovl_in_initial_userns())
                strcat(ident, "userxattr");
        ovl_workdir_record_id(ident, id);
        strcat(key, id);
        r = cache_entry(c, key, build_glue_entry, (void *) layer, &fd, used, err);
        if (r < 0)
                return r;
        ret->below = openat(fd, "below", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        ret->above = openat(fd, "above", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if ((ret->below < 0 || ret->above < 0) && errno != ENOENT)
                return ovl_error_fail(err, errno, "cache %s/%s", c->path, key);
        return 0;
}

static int build_flat_entry(void *data, int entry_fd, const char *entry_path, struct ovl_error *err)
{
        return ovl_copy_merge_into(data, NULL, entry_fd, entry_path, err);
}

/* The bottom `count` layers merged once by the copy engine, keyed by their identities in order. */
static int flat_get(struct cache *c, const struct ovl_layer_list *layers, size_t count, int *ret_fd,
                    struct ovl_strlist *used, struct ovl_error *err)
{
        struct ovl_layer_list bottom = { .items = layers->items, .count = count };
        char key[OVL_RECORD_ID_LEN + 16] = FLAT_VERSION "-", id[OVL_RECORD_ID_LEN + 1];
        _cleanup_free_ char *idents = malloc(count * 128 + 1);
        size_t len = 0;

        if (!idents)
                return ovl_error_fail(err, ENOMEM, "flatten");
        idents[0] = '\0';
        for (size_t i = 0; i < count; i++) {
                int r = layer_identity(&layers->items[i], idents + len, 128);
                if (r < 0)
                        return ovl_error_fail(err, -r, "layer %s", layers->items[i].path);
                len += strlen(idents + len);
        }
        ovl_workdir_record_id(idents, id);
        strcat(key, id);
        return cache_entry(c, key, build_flat_entry, &bottom, ret_fd, used, err);
}

static size_t lowers_of(const struct glue *g, bool has_below)
{
        return 1 + (g->above >= 0) + (has_below && g->below >= 0);
}

/* The number of bottom layers to flatten so that the rest, over the flattened one, fits. */
static size_t flatten_count(const struct glue *glues, size_t n, size_t max_stack)
{
        size_t used = 1; /* the flattened layer */

        for (size_t i = n; i-- > 0;) {
                if (used + lowers_of(&glues[i], true) > max_stack)
                        return i + 1;
                used += lowers_of(&glues[i], true);
        }
        return 0;
}

static int push_fd(struct ovl_lower_stack *s, int fd)
{
        int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);

        if (copy < 0)
                return -errno;
        s->fds[s->count++] = copy;
        return 0;
}

static int stack_fill(struct ovl_lower_stack *s, const struct ovl_layer_list *layers, const struct glue *glues,
                      size_t first, int flat_fd)
{
        int r = flat_fd >= 0 ? push_fd(s, flat_fd) : 0;

        for (size_t i = first; i < layers->count && r == 0; i++) {
                /* Below the bottom layer there is nothing for a below-glue to hide. */
                if (glues[i].below >= 0 && (i > 0 || flat_fd >= 0))
                        r = push_fd(s, glues[i].below);
                if (r == 0)
                        r = push_fd(s, layers->items[i].fd);
                if (r == 0 && glues[i].above >= 0)
                        r = push_fd(s, glues[i].above);
        }
        return r;
}

int ovl_lower_stack_build(const struct ovl_layer_list *layers, const char *work_dir, size_t max_stack, bool no_flatten,
                          struct ovl_lower_stack *ret, struct ovl_error *err)
{
        struct cache c = { .fd = -1, .lock_fd = -1 };
        struct glue *glues = calloc(layers->count, sizeof(*glues));
        size_t total = 0, flat = 0;
        int flat_fd = -1, r;

        *ret = (struct ovl_lower_stack){ .fds = calloc(3 * layers->count + 1, sizeof(int)) };
        if (!glues || !ret->fds) {
                free(glues);
                return ovl_error_fail(err, ENOMEM, "overlay");
        }
        for (size_t i = 0; i < layers->count; i++)
                glues[i] = (struct glue){ -1, -1 };
        r = cache_open(work_dir, &c, err);
        for (size_t i = 0; r == 0 && i < layers->count; i++) {
                r = glue_get(&c, &layers->items[i], &glues[i], &ret->caches, err);
                total += lowers_of(&glues[i], i > 0);
        }
        if (r == 0 && total > max_stack) {
                if (no_flatten)
                        r = ovl_error_set(err, OVL_ERR_UNSUPPORTED, 0,
                                          "overlay: %zu layers need %zu lower directories; the kernel stacks at most "
                                          "%zu in one mount (--no-flatten given)",
                                          layers->count, total, max_stack);
                else {
                        flat = flatten_count(glues, layers->count, max_stack);
                        r = flat_get(&c, layers, flat, &flat_fd, &ret->caches, err);
                }
        }
        if (r == 0) {
                r = stack_fill(ret, layers, glues, flat, flat_fd);
                if (r < 0)
                        r = ovl_error_fail(err, -r, "overlay: lower stack");
        }
        ret->flattened = flat;
        for (size_t i = 0; i < layers->count; i++) {
                safe_close(glues[i].below);
                safe_close(glues[i].above);
        }
        free(glues);
        safe_close(flat_fd);
        safe_close(c.fd);
        free(c.path);
        /* The shared cache lock stays held until the stack is cleared: by then the record names
         * the entries, and gc keeps them. */
        ret->cache_lock_fd = c.lock_fd;
        if (r < 0)
                ovl_lower_stack_clear(ret);
        return r;
}

void ovl_lower_stack_clear(struct ovl_lower_stack *s)
{
        for (size_t i = 0; i < s->count; i++)
                safe_close(s->fds[i]);
        free(s->fds);
        ovl_strlist_clear(&s->caches);
        safe_close(s->cache_lock_fd);
        *s = (struct ovl_lower_stack){ .cache_lock_fd = -1 };
}
