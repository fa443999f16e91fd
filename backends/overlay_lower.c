#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/copy.h"
#include "backends/copy_meta.h"
#include "backends/markers.h"
#include "backends/overlay_cache.h"
#include "backends/overlay_lower.h"
#include "common/fsutil.h"
#include "common/walk.h"
#include "common/macro.h"
#include "state/workdir.h"

/* Bump when the glue's layout or meaning changes: old cache entries are then simply unused. */
#define GLUE_VERSION "glue-4"
#define FLAT_VERSION "flat-1"

struct glue {
        int below, above; /* -1 when the layer needs none */
        bool opaque_root; /* the layer hides every layer below it */
};

/* In a glue entry: the layer's root is opaque. The kernel ignores opaque on a lower layer's root,
 * so the stack leaves the layers below out instead. */
#define OPAQUE_ROOT "opaque-root"

/* A glue layer under construction in a temporary entry of the cache. */
struct glue_build {
        const struct ovl_layer *layer;
        bool opaque_root;
        int entry_fd;
        int side_fd[2]; /* below, above: created on first use */
};

enum { BELOW, ABOVE };

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

/* ".wh.NAME": NAME goes for the layers below. When the layer has a directory NAME of its own, that
 * directory replaces the one below whole: an opaque directory below the layer says so (a 0/0 device
 * there would also stop the layer's own markers inside NAME from finding their place). */
static int whiteout_below(struct glue_build *g, const struct ovl_marker *m)
{
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (fstatat(m->dirfd, m->target, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                return put_whiteout(g, BELOW, m->dir, m->target);
        if (asprintf(&path, "%s%s%s", m->dir, *m->dir ? "/" : "", m->target) < 0)
                return -ENOMEM;
        return put_dir(g, BELOW, path, true);
}

/* Translates one marker the kernel would not read (see overlay_lower.h). */
static int glue_marker(void *ctx, const struct ovl_marker *m, struct ovl_error *err)
{
        struct glue_build *g = ctx;
        int r = 0;

        if (*m->dir == '\0' && (m->kind == OVL_MARKER_AUFS_OPAQUE || m->kind == OVL_MARKER_OPAQUE_DIR))
                g->opaque_root = true;

        /* The kernel reads these, but lists a whiteout in a directory only one layer has (it
         * reads such a directory as it is): a directory in the glue above makes it a merged one,
         * whose listing the kernel filters. */
        if (m->kind == OVL_MARKER_CHARDEV && ovl_marker_is_native(m))
                return put_dir_or_fail(g, m, err);
        /* The kernel ignores xattr whiteouts in the lowest layer (its listing still shows them),
         * and the glue is per layer, not per position: a 0/0 device above hides the name as well. */
        if (m->kind == OVL_MARKER_XATTR_WHITEOUT && ovl_marker_is_native(m)) {
                r = put_whiteout(g, ABOVE, m->dir, m->name);
                return r < 0 ? marker_fail(g, m, r, err) : 0;
        }
        if (ovl_marker_is_native(m))
                return 0;
        switch (m->kind) {
        case OVL_MARKER_AUFS_WHITEOUT:
                r = whiteout_below(g, m);
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
        if (r == 0 && g.opaque_root) {
                int fd = openat(entry_fd, OPAQUE_ROOT, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        r = ovl_error_fail(err, errno, "layer %s: its overlay glue", layer->path);
                safe_close(fd);
        }
        for (int i = 0; i < 2; i++)
                g.side_fd[i] = safe_close(g.side_fd[i]);
        return r;
}

static int build_glue_entry(void *data, int entry_fd, const char *entry_path, struct ovl_error *err)
{
        return glue_build(data, entry_fd, err);
}

static int glue_get(struct ovl_cache *c, const struct ovl_layer *layer, struct glue *ret, struct ovl_strlist *used,
                    struct ovl_error *err)
{
        char ident[128], key[OVL_RECORD_ID_LEN + 16] = GLUE_VERSION "-", id[OVL_RECORD_ID_LEN + 1];
        _cleanup_close_ int fd = -1;
        int r = ovl_cache_layer_identity(layer, ident, sizeof(ident));

        if (r < 0)
                return ovl_error_fail(err, -r, "layer %s", layer->path);
        /* Glue for a userxattr mount marks with user.overlay.*: another entry. */
        if (!ovl_in_initial_userns())
                strcat(ident, "userxattr");
        ovl_workdir_record_id(ident, id);
        strcat(key, id);
        r = ovl_cache_entry(c, key, build_glue_entry, (void *) layer, &fd, used, err);
        if (r < 0)
                return r;
        ret->opaque_root = faccessat(fd, OPAQUE_ROOT, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
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
static int flat_get(struct ovl_cache *c, const struct ovl_layer_list *layers, size_t count, int *ret_fd,
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
                int r = ovl_cache_layer_identity(&layers->items[i], idents + len, 128);
                if (r < 0)
                        return ovl_error_fail(err, -r, "layer %s", layers->items[i].path);
                len += strlen(idents + len);
        }
        ovl_workdir_record_id(idents, id);
        strcat(key, id);
        return ovl_cache_entry(c, key, build_flat_entry, &bottom, ret_fd, used, err);
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

/* The glue of every layer, from the top down to the topmost layer whose root is opaque (those
 * below it are hidden whole and left out of the stack). Sets *ret_bottom to that layer's index, or
 * 0. Returns 0 or -errno with err set. */
static int glue_all(struct ovl_cache *c, const struct ovl_layer_list *layers, struct glue *glues, size_t *ret_bottom,
                    struct ovl_strlist *used, struct ovl_error *err)
{
        *ret_bottom = 0;
        for (size_t i = layers->count; i-- > 0;) {
                int r = glue_get(c, &layers->items[i], &glues[i], used, err);
                if (r < 0)
                        return r;
                if (glues[i].opaque_root) {
                        *ret_bottom = i;
                        break;
                }
        }
        return 0;
}

int ovl_lower_stack_build(const struct ovl_layer_list *layers, const char *work_dir, size_t max_stack, bool no_flatten,
                          struct ovl_lower_stack *ret, struct ovl_error *err)
{
        struct ovl_cache c;
        struct glue *glues = calloc(layers->count, sizeof(*glues));
        struct ovl_layer_list shown;
        size_t total = 0, flat = 0, bottom = 0;
        int flat_fd = -1, r;

        *ret = (struct ovl_lower_stack){ .fds = calloc(3 * layers->count + 1, sizeof(int)), .cache_lock_fd = -1 };
        if (!glues || !ret->fds) {
                free(glues);
                return ovl_error_fail(err, ENOMEM, "overlay");
        }
        for (size_t i = 0; i < layers->count; i++)
                glues[i] = (struct glue){ -1, -1, false };
        r = ovl_cache_open(work_dir, &c, err);
        if (r == 0)
                r = glue_all(&c, layers, glues, &bottom, &ret->caches, err);
        shown = (struct ovl_layer_list){ .items = layers->items + bottom, .count = layers->count - bottom };
        ret->hidden = bottom;
        for (size_t i = 0; i < shown.count; i++)
                total += lowers_of(&glues[bottom + i], i > 0);
        if (r == 0 && total > max_stack) {
                if (no_flatten)
                        r = ovl_error_set(err, OVL_ERR_UNSUPPORTED, 0,
                                          "overlay: %zu layers need %zu lower directories; the kernel stacks at most "
                                          "%zu in one mount (--no-flatten given)",
                                          shown.count, total, max_stack);
                else {
                        flat = flatten_count(glues + bottom, shown.count, max_stack);
                        r = flat_get(&c, &shown, flat, &flat_fd, &ret->caches, err);
                }
        }
        if (r == 0) {
                r = stack_fill(ret, &shown, glues + bottom, flat, flat_fd);
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
        /* The shared cache lock stays held until the stack is cleared: by then the record names
         * the entries, and gc keeps them. */
        ret->cache_lock_fd = ovl_cache_close(&c);
        if (r < 0)
                ovl_lower_stack_clear(ret);
        return r;
}

void ovl_lower_stack_clear(struct ovl_lower_stack *s)
{
        for (size_t i = 0; i < s->count; i++)
                safe_close(s->fds[i]);
        for (size_t i = 0; i < s->n_data; i++)
                safe_close(s->data_fds[i]);
        free(s->fds);
        free(s->data_fds);
        ovl_strlist_clear(&s->caches);
        safe_close(s->cache_lock_fd);
        *s = (struct ovl_lower_stack){ .cache_lock_fd = -1 };
}
