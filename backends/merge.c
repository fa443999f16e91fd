#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "backends/merge.h"
#include "backends/whiteout.h"
#include "common/fsutil.h"
#include "common/macro.h"

/* One layer's copy of the directory being merged. Sources are ordered top layer first. */
struct source {
        int fd;
        size_t layer;
        bool opaque;          /* nothing below this source contributes */
        bool xattr_whiteouts; /* children may be 6.7+ xattr whiteouts */
};

/* One name seen in one source's listing. */
struct candidate {
        char *key;    /* the name in the merged directory (an AUFS whiteout's target) */
        char *name;   /* the name in the layer */
        uint32_t src; /* index into the sources, 0 = top */
        uint8_t dtype;
        bool whiteout; /* known from the name alone (AUFS) */
};

struct walker {
        const struct ovl_layer_list *layers;
        const struct ovl_merge_visitor *v;
        struct ovl_error *err;
        char *path; /* the current directory, relative to the rootfs */
        size_t path_len, path_cap;
        size_t depth; /* of the current directory: 0 for the root */
};

/* A path in a message keeps this much of each end: a deep layer's paths run to hundreds of
 * kilobytes, and the message must still fit and end with its cause. */
#define MSG_PATH_KEEP 240

struct msg_path {
        char s[2 * MSG_PATH_KEEP + 4];
};

static const char *layer_path(const struct walker *w, size_t layer)
{
        return w->layers->items[layer].path;
}

/* Appends "/name" (or "name" at the root) to the walker's path; returns the old length. */
static int path_push(struct walker *w, const char *name, size_t *ret_old)
{
        size_t n = strlen(name), need = w->path_len + n + 2;

        if (need > w->path_cap) {
                char *grown = realloc(w->path, need * 2);
                if (!grown)
                        return -ENOMEM;
                w->path = grown;
                w->path_cap = need * 2;
        }
        *ret_old = w->path_len;
        if (w->path_len > 0)
                w->path[w->path_len++] = '/';
        memcpy(w->path + w->path_len, name, n + 1);
        w->path_len += n;
        return 0;
}

static void path_pop(struct walker *w, size_t old)
{
        w->path_len = old;
        w->path[old] = '\0';
}

static const char *msg_path(const char *path, struct msg_path *buf)
{
        size_t n = strlen(path);

        if (n < sizeof(buf->s))
                return path;
        snprintf(buf->s, sizeof(buf->s), "%.*s...%s", MSG_PATH_KEEP, path, path + n - MSG_PATH_KEEP);
        return buf->s;
}

/* Out of fds, which is where a deep walk ends up: the message says which limit, and why the walk
 * holds so many. It stands in for a visitor's plain one too, which has no room left for this
 * after a deep path. name "" is the current directory itself. */
static int fail_fds(struct walker *w, size_t layer, const char *name, int errnum)
{
        const char *sep = *w->path && *name ? "/" : "";
        struct rlimit rl = { 0 };
        struct msg_path buf;

        if (w->err)
                w->err->set = false;
        if (errnum == ENFILE)
                return ovl_error_fail(w->err, errnum,
                                      "layer %s: %s%s%s: the system's open-file limit (fs.file-max) "
                                      "is reached",
                                      layer_path(w, layer), msg_path(w->path, &buf), sep, name);
        (void) getrlimit(RLIMIT_NOFILE, &rl);
        return ovl_error_fail(w->err, errnum,
                              "layer %s: %s%s%s: out of open files %zu directory levels deep: the "
                              "walk keeps one directory open per level and layer, and the open-file limit (ulimit "
                              "-n) is %llu",
                              layer_path(w, layer), msg_path(w->path, &buf), sep, name, w->depth,
                              (unsigned long long) rl.rlim_cur);
}

static int fail_at(struct walker *w, size_t layer, const char *name, int errnum, const char *what)
{
        struct msg_path buf;

        if (errnum == EMFILE || errnum == ENFILE)
                return fail_fds(w, layer, name, errnum);
        return ovl_error_fail(w->err, errnum, "layer %s: %s%s%s: %s", layer_path(w, layer), msg_path(w->path, &buf),
                              *w->path ? "/" : "", name, what);
}

/* A directory one level deeper than OVL_MERGE_MAX_DEPTH: bad input, said before a single fd for it
 * is opened. w->path is that directory. */
static int fail_too_deep(struct walker *w, size_t layer)
{
        struct msg_path buf;

        ovl_error_bad(w->err, 0,
                      "layer %s: %s: deeper than %d directory levels (ovlbackend's limit); this layer "
                      "cannot be assembled",
                      layer_path(w, layer), msg_path(w->path, &buf), OVL_MERGE_MAX_DEPTH);
        return -ELOOP;
}

static void candidates_free(struct candidate *c, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (c[i].name != c[i].key)
                        free(c[i].name);
                free(c[i].key);
        }
        free(c);
}

static int candidate_cmp(const void *a, const void *b)
{
        const struct candidate *x = a, *y = b;
        int r = strcmp(x->key, y->key);

        if (r)
                return r;
        if (x->src != y->src)
                return x->src < y->src ? -1 : 1;
        /* Within one layer the real entry comes before its own whiteout: OCI says a whiteout only
         * hides what lies in the layers below it. */
        return (int) x->whiteout - (int) y->whiteout;
}

/* Reads one source's listing into the candidate array. Sets *ret_opaque when the AUFS opaque
 * marker is in it. */
static int read_source(struct walker *w, const struct source *s, uint32_t src, struct candidate **cands, size_t *n,
                       size_t *cap, bool *ret_opaque)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int fd = openat(s->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

        if (fd < 0 || !(d = fdopendir(fd))) {
                safe_close(fd);
                return fail_at(w, s->layer, ".", errno, "cannot read directory");
        }
        while ((r = ovl_dir_next(d, &de)) > 0) {
                struct candidate c = { .src = src, .dtype = de->d_type };
                struct ovl_entry_info info;
                struct stat st = { .st_mode = S_IFREG, .st_nlink = 1 };

                if (strncmp(de->d_name, OVL_AUFS_PREFIX, strlen(OVL_AUFS_PREFIX)) == 0) {
                        if (ovl_entry_classify(de->d_name, &st, 0, false, &info) < 0)
                                return fail_at(w, s->layer, de->d_name, 0, "malformed whiteout (it names no entry)");
                        if (info.type == OVL_ENTRY_OPAQUE_MARKER)
                                *ret_opaque = true;
                        if (info.type != OVL_ENTRY_WHITEOUT)
                                continue;
                        c.whiteout = true;
                        c.key = strdup(info.target);
                        c.name = strdup(de->d_name);
                } else
                        c.name = c.key = strdup(de->d_name);
                if (!c.key || !c.name) {
                        free(c.key);
                        if (c.name != c.key)
                                free(c.name);
                        return ovl_error_fail(w->err, ENOMEM, "merge");
                }
                if (*n == *cap) {
                        size_t ncap = *cap ? *cap * 2 : 64;
                        struct candidate *grown = realloc(*cands, ncap * sizeof(**cands));
                        if (!grown) {
                                free(c.key);
                                if (c.name != c.key)
                                        free(c.name);
                                return ovl_error_fail(w->err, ENOMEM, "merge");
                        }
                        *cands = grown;
                        *cap = ncap;
                }
                (*cands)[(*n)++] = c;
        }
        return r < 0 ? fail_at(w, s->layer, ".", -r, "cannot read directory") : 0;
}

/* Classifies a candidate with what the kernel says of it. */
static int classify(struct walker *w, const struct source *s, const struct candidate *c, struct stat *st,
                    struct ovl_entry_info *info)
{
        unsigned bits = 0;
        int r;

        if (fstatat(s->fd, c->name, st, AT_SYMLINK_NOFOLLOW) < 0)
                return fail_at(w, s->layer, c->name, errno, "cannot stat");
        if (S_ISDIR(st->st_mode) || (S_ISREG(st->st_mode) && st->st_size == 0 && s->xattr_whiteouts)) {
                r = ovl_entry_read_xattrs(s->fd, c->name, &bits);
                if (r < 0)
                        return fail_at(w, s->layer, c->name, -r, "cannot read xattrs");
        }
        if (ovl_entry_classify(c->name, st, bits, s->xattr_whiteouts, info) < 0)
                return fail_at(w, s->layer, c->name, 0, "malformed whiteout");
        return 0;
}

static int walk_dir(struct walker *w, const struct ovl_merge_entry *self, struct source *srcs, size_t n_srcs);

/* Opens the directories that make up a merged child directory and walks it; refused, before any
 * fd is opened, when it lies deeper than OVL_MERGE_MAX_DEPTH. */
static int walk_child_dir(struct walker *w, const struct ovl_merge_entry *e, const struct source *parent,
                          const struct candidate *group, const bool *contributes, size_t group_len,
                          const struct ovl_entry_info *top_info)
{
        struct source *child;
        size_t n = 0;
        int r = 0;

        if (w->depth >= OVL_MERGE_MAX_DEPTH)
                return fail_too_deep(w, parent[group[0].src].layer);
        child = calloc(group_len, sizeof(*child));
        if (!child)
                return ovl_error_fail(w->err, ENOMEM, "merge");
        for (size_t i = 0; i < group_len && r == 0; i++) {
                const struct source *ps = &parent[group[i].src];
                unsigned bits = 0;
                int fd;

                if (!contributes[i])
                        continue;
                fd = openat(ps->fd, group[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        r = fail_at(w, ps->layer, group[i].name, errno, "cannot open directory");
                        break;
                }
                child[n++] = (struct source){ .fd = fd, .layer = ps->layer };
                if (i == 0) {
                        child[0].opaque = top_info->opaque;
                        child[0].xattr_whiteouts = top_info->has_xattr_whiteouts;
                        continue;
                }
                r = ovl_entry_read_xattrs(ps->fd, group[i].name, &bits);
                if (r < 0)
                        r = fail_at(w, ps->layer, group[i].name, -r, "cannot read xattrs");
                child[n - 1].opaque = !!(bits & OVL_XATTR_OPAQUE);
                child[n - 1].xattr_whiteouts = !!(bits & OVL_XATTR_HAS_WHITEOUTS);
        }
        if (r == 0) {
                w->depth++;
                r = walk_dir(w, e, child, n);
                w->depth--;
        }
        for (size_t i = 0; i < n; i++)
                safe_close(child[i].fd);
        free(child);
        return r;
}

/* Decides one name from its candidates (top first) and visits the result. */
static int decide_group(struct walker *w, struct source *srcs, struct candidate *group, size_t len)
{
        const struct source *top = &srcs[group[0].src];
        struct ovl_entry_info info;
        struct stat st;
        size_t old;
        bool *contributes;
        int r;

        if (group[0].whiteout)
                return 0;
        r = classify(w, top, &group[0], &st, &info);
        if (r < 0 || info.type == OVL_ENTRY_WHITEOUT)
                return r;
        r = path_push(w, group[0].key, &old);
        if (r < 0)
                return ovl_error_fail(w->err, -r, "merge");
        {
                struct ovl_merge_entry e = {
                        .src_dirfd = top->fd, .name = group[0].name, .st = &st, .layer = top->layer, .path = w->path
                };
                if (info.type != OVL_ENTRY_DIRECTORY) {
                        r = w->v->file(w->v->ctx, &e, w->err);
                        if (r == -EMFILE || r == -ENFILE)
                                r = fail_fds(w, top->layer, "", -r);
                        path_pop(w, old);
                        return r;
                }
                /* Which lower copies of the directory merge into it: down to the first layer where
                 * the name is not a directory or is whited out (an own-layer whiteout too). */
                contributes = calloc(len, sizeof(bool));
                if (!contributes) {
                        path_pop(w, old);
                        return ovl_error_fail(w->err, ENOMEM, "merge");
                }
                contributes[0] = true;
                for (size_t i = 1; i < len && !info.opaque; i++) {
                        const struct candidate *c = &group[i];
                        unsigned char t = c->dtype;

                        if (c->whiteout)
                                break;
                        if (t == DT_UNKNOWN) {
                                struct stat cst;
                                if (fstatat(srcs[c->src].fd, c->name, &cst, AT_SYMLINK_NOFOLLOW) < 0) {
                                        r = fail_at(w, srcs[c->src].layer, c->name, errno, "cannot stat");
                                        break;
                                }
                                t = S_ISDIR(cst.st_mode) ? DT_DIR : DT_REG;
                        }
                        if (t != DT_DIR)
                                break;
                        contributes[i] = true;
                }
                if (r == 0)
                        r = walk_child_dir(w, &e, srcs, group, contributes, len, &info);
                free(contributes);
        }
        path_pop(w, old);
        return r;
}

static int walk_dir(struct walker *w, const struct ovl_merge_entry *self, struct source *srcs, size_t n_srcs)
{
        struct candidate *cands = NULL;
        size_t n = 0, cap = 0, used = 0;
        int r;

        r = w->v->dir_enter(w->v->ctx, self, w->err);
        /* The visitor keeps a directory open per level too (the copy's destination). */
        if (r == -EMFILE || r == -ENFILE)
                return fail_fds(w, self->layer, "", -r);
        if (r < 0)
                return r;
        /* Read the listings top first, stopping below the first opaque copy. */
        for (; used < n_srcs && r == 0; used++) {
                bool marker = false;

                r = read_source(w, &srcs[used], (uint32_t) used, &cands, &n, &cap, &marker);
                if (r == 0 && (marker || srcs[used].opaque)) {
                        used++;
                        break;
                }
        }
        if (r == 0 && n > 1)
                qsort(cands, n, sizeof(*cands), candidate_cmp);
        for (size_t i = 0; i < n && r == 0;) {
                size_t j = i + 1;

                while (j < n && strcmp(cands[j].key, cands[i].key) == 0)
                        j++;
                r = decide_group(w, srcs, cands + i, j - i);
                i = j;
        }
        candidates_free(cands, n);
        if (r < 0)
                return r;
        return w->v->dir_leave(w->v->ctx, self, w->err);
}

int ovl_merge_walk(const struct ovl_layer_list *layers, const struct ovl_merge_visitor *visitor, struct ovl_error *err)
{
        struct walker w = { .layers = layers, .v = visitor, .err = err };
        struct source *srcs;
        struct stat root_st;
        size_t n = 0;
        int r = 0;

        if (layers->count == 0)
                return ovl_error_bad(err, 0, "no layers given");
        srcs = calloc(layers->count, sizeof(*srcs));
        w.path = calloc(1, 256);
        w.path_cap = 256;
        if (!srcs || !w.path) {
                free(srcs);
                free(w.path);
                return ovl_error_fail(err, ENOMEM, "merge");
        }
        /* The root merges every layer's root, top first, down to the first opaque one. */
        for (size_t i = layers->count; i-- > 0;) {
                unsigned bits = 0;

                r = ovl_entry_read_xattrs(layers->items[i].fd, ".", &bits);
                if (r < 0) {
                        r = ovl_error_fail(err, -r, "layer %s: cannot read xattrs", layers->items[i].path);
                        break;
                }
                srcs[n++] = (struct source){ .fd = layers->items[i].fd,
                                             .layer = i,
                                             .opaque = !!(bits & OVL_XATTR_OPAQUE),
                                             .xattr_whiteouts = !!(bits & OVL_XATTR_HAS_WHITEOUTS) };
                if (srcs[n - 1].opaque)
                        break;
        }
        root_st = layers->items[layers->count - 1].st;
        if (r == 0) {
                struct ovl_merge_entry root = { .src_dirfd = layers->items[layers->count - 1].fd,
                                                .name = ".",
                                                .st = &root_st,
                                                .layer = layers->count - 1,
                                                .path = "" };
                r = walk_dir(&w, &root, srcs, n);
        }
        free(srcs);
        free(w.path);
        return r;
}
