/* The copy engine: the merged tree of a layer stack written once into an empty directory, for the
 * copy backend (copy.c) and for the overlay backend's glue layers and flattened bottoms
 * (overlay_lower.c).
 *
 * The merge walker decides every name once, top layer first, so each surviving entry is copied
 * exactly once and nothing is ever written through a symlink: every entry is created fresh, with
 * O_EXCL/mkdirat/symlinkat/mknodat, in a directory fd this engine created itself (or the caller's
 * empty destination). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/copy.h"
#include "backends/copy_data.h"
#include "backends/copy_meta.h"
#include "backends/copy_pool.h"
#include "backends/merge.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "common/testhook.h"

/* Buckets of the hard-link table: a fixed size, chained, which is plenty for any image. */
#define LINK_BUCKETS 4096

/* The first copy of each multiply-linked inode, so its other names become hard links again. */
struct link_entry {
        size_t layer;
        dev_t dev;
        ino_t ino;
        char *path; /* relative to the rootfs */
        struct link_entry *next;
};

struct copy_ctx {
        const struct ovl_layer_list *layers;
        const char *rootfs;
        int *dirs; /* destination directory fds; dirs[depth - 1] is the current one */
        size_t depth, cap;
        struct ovl_copy_pool *pool;     /* finishes the regular files (copy_pool.h) */
        struct ovl_copy_accel *accel;   /* per worker and layer: each layer may sit on another filesystem */
        const struct ovl_idmap *idmap;  /* --uidmap/--gidmap: owners written mapped; NULL: as they are */
        const char *const *stub_prefix; /* per layer: stubs redirect to PREFIX/path; NULL: copy data */
        struct link_entry *links[LINK_BUCKETS];
};

static size_t link_bucket(size_t layer, dev_t dev, ino_t ino)
{
        return (size_t) ((ino * 31 + dev * 7 + layer) % LINK_BUCKETS);
}

static struct link_entry *link_find(struct copy_ctx *c, size_t layer, const struct stat *st)
{
        for (struct link_entry *l = c->links[link_bucket(layer, st->st_dev, st->st_ino)]; l; l = l->next)
                if (l->layer == layer && l->dev == st->st_dev && l->ino == st->st_ino)
                        return l;
        return NULL;
}

static int link_remember(struct copy_ctx *c, size_t layer, const struct stat *st, const char *path)
{
        size_t b = link_bucket(layer, st->st_dev, st->st_ino);
        struct link_entry *l = malloc(sizeof(*l));

        if (!l || !(l->path = strdup(path))) {
                free(l);
                return -ENOMEM;
        }
        l->layer = layer;
        l->dev = st->st_dev;
        l->ino = st->st_ino;
        l->next = c->links[b];
        c->links[b] = l;
        return 0;
}

static void links_free(struct copy_ctx *c)
{
        for (size_t i = 0; i < ARRAY_SIZE(c->links); i++)
                while (c->links[i]) {
                        struct link_entry *next = c->links[i]->next;
                        free(c->links[i]->path);
                        free(c->links[i]);
                        c->links[i] = next;
                }
}

static int current_dir(const struct copy_ctx *c)
{
        return c->dirs[c->depth - 1];
}

/* A failure to make e in the rootfs; errnum is the errno of the call that made, linked or filled it
 * (mkdirat, openat with O_CREAT, symlinkat, mknodat, linkat, the data copy). From those, EOVERFLOW
 * is not OVL_COPY_EUNMAPPED: the kernel says it when our own fsuid or fsgid has no mapping on the
 * destination, or when a size does not fit, never about the owner the image asks for (only
 * ovl_copy_metadata says that). So it becomes EINVAL, as in copy_meta.c. */
static int fail_dst_at(const struct copy_ctx *c, const char *path, int errnum, struct ovl_error *err)
{
        return ovl_error_fail(err, errnum == EOVERFLOW ? EINVAL : errnum, "rootfs %s: /%s", c->rootfs, path);
}

static int fail_dst(const struct copy_ctx *c, const struct ovl_merge_entry *e, int errnum, struct ovl_error *err)
{
        return fail_dst_at(c, e->path, errnum, err);
}

/* A failure of ovl_copy_metadata (r, a -errno) on e: only there is -OVL_COPY_EUNMAPPED the owner
 * having no id in this user namespace. */
static int fail_meta_at(const struct copy_ctx *c, const char *path, const struct stat *st, int r, struct ovl_error *err)
{
        if (r == -OVL_COPY_EUNMAPPED)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, 0,
                                     "rootfs %s: /%s (owner seen here as %u:%u): " OVL_COPY_EUNMAPPED_TEXT, c->rootfs,
                                     path, (unsigned) st->st_uid, (unsigned) st->st_gid);
        return ovl_error_fail(err, -r, "rootfs %s: /%s", c->rootfs, path);
}

static int fail_meta(const struct copy_ctx *c, const struct ovl_merge_entry *e, int r, struct ovl_error *err)
{
        return fail_meta_at(c, e->path, e->st, r, err);
}

static int fail_src(const struct copy_ctx *c, const struct ovl_merge_entry *e, int errnum, struct ovl_error *err)
{
        return ovl_error_fail(err, errnum, "layer %s: %s", c->layers->items[e->layer].path, e->path);
}

/* Opens the directory relpath below rootfd. openat2 refuses a path of PATH_MAX bytes or more, and
 * a legitimately deep layer holds longer ones below the rootfs, so a long path is opened in
 * pieces shorter than PATH_MAX, each resolved beneath the directory the previous piece reached. */
static int open_dir_beneath(int rootfd, const char *relpath, int *ret_fd)
{
        _cleanup_free_ char *copy = strdup(relpath);
        _cleanup_close_ int cur = -1;
        char *piece = copy;

        if (!copy)
                return -ENOMEM;
        for (;;) {
                char *cut = NULL;
                int fd, r;

                if (strlen(piece) >= PATH_MAX) {
                        /* Every name is at most NAME_MAX bytes, so a '/' lies close before the limit. */
                        cut = piece + PATH_MAX - 1;
                        while (cut > piece && *cut != '/')
                                cut--;
                        if (cut == piece)
                                return -ENAMETOOLONG;
                        *cut = '\0';
                }
                r = ovl_open_beneath(cur >= 0 ? cur : rootfd, piece, O_PATH | O_DIRECTORY, 0, &fd);
                if (r < 0)
                        return r;
                close_and_replace(cur, fd);
                if (!cut)
                        break;
                piece = cut + 1;
        }
        *ret_fd = TAKE_FD(cur);
        return 0;
}

/* Makes e a hard link to the earlier copy of the same inode. */
static int link_to_first(struct copy_ctx *c, const struct ovl_merge_entry *e, const struct link_entry *first,
                         struct ovl_error *err)
{
        _cleanup_free_ char *parent = NULL, *base = NULL;
        _cleanup_close_ int pfd = -1;
        int r;

        r = ovl_path_split(first->path, &parent, &base);
        if (r == 0)
                r = open_dir_beneath(c->dirs[0], parent, &pfd);
        if (r == 0 && linkat(pfd, base, current_dir(c), e->name, 0) < 0)
                r = -errno;
        return r < 0 ? fail_dst(c, e, -r, err) : 0;
}

/* Opens the regular file the walk saw at dirfd/name. O_NONBLOCK|O_NOCTTY: a FIFO or device
 * swapped in since the walk stat'ed it must neither hang us nor become our terminal, and opening a
 * device must do nothing but open it; then the fd itself must be that very file (type, device and
 * inode), or the layer changed under us. O_NOATIME: reading must not change the layer, not even its
 * access times. Returns the fd, -ESTALE for a swapped file, or -errno. */
static int open_source(int dirfd, const char *name, const struct stat *seen)
{
        const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
        _cleanup_close_ int fd = openat(dirfd, name, flags | O_NOATIME);
        struct stat st;

        if (fd < 0 && errno == EPERM)
                fd = openat(dirfd, name, flags);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_dev != seen->st_dev || st.st_ino != seen->st_ino)
                return -ESTALE;
        return TAKE_FD(fd);
}

/* A metadata stub in place of the data: an empty file of the right size (sparse, no blocks) that
 * overlayfs reads as metacopy, its data at the absolute redirect in a data-only layer. A redirect the
 * kernel would not take (PATH_MAX or longer) is not made: the data is copied instead. Returns 1
 * when the stub was made, 0 when the data is to be copied, or -errno. */
static int make_stub(const struct copy_ctx *c, const struct ovl_copy_job *job)
{
        _cleanup_free_ char *redirect = NULL;
        int dst = job->dst;

        if (!c->stub_prefix || job->st.st_size == 0)
                return 0;
        if (asprintf(&redirect, "%s/%s", c->stub_prefix[job->layer], job->path) < 0)
                return -ENOMEM;
        if (strlen(redirect) >= PATH_MAX)
                return 0;
        if (ftruncate(dst, job->st.st_size) < 0 ||
            fsetxattr(dst, "trusted.overlay.redirect", redirect, strlen(redirect), 0) < 0 ||
            fsetxattr(dst, "trusted.overlay.metacopy", "", 0, 0) < 0)
                return -errno;
        return 1;
}

/* A worker's part of a regular file: its data (or a stub) and its metadata, through the job's fds. */
static int finish_regular(void *ctx, unsigned worker, const struct ovl_copy_job *job, struct ovl_error *err)
{
        struct copy_ctx *c = ctx;
        int r = make_stub(c, job);

        if (r == 0)
                r = ovl_copy_data(job->src, job->dst, &job->st, &c->accel[worker * c->layers->count + job->layer]);
        else if (r > 0)
                r = 0;
        if (r == -ENODATA)
                return ovl_error_fail(err, 0, "layer %s: %s: file changed while it was copied",
                                      c->layers->items[job->layer].path, job->path);
        if (r < 0)
                return fail_dst_at(c, job->path, -r, err);
        r = ovl_copy_metadata(&(struct ovl_node_ref){ .fd = job->src }, &(struct ovl_node_ref){ .fd = job->dst },
                              &job->st, job->st.st_mode & 0777, c->idmap);
        return r < 0 ? fail_meta_at(c, job->path, &job->st, r, err) : 0;
}

/* The engine's part: the source checked and the destination created, in walk order; the rest is a
 * job for the pool. */
static int copy_regular(struct copy_ctx *c, const struct ovl_merge_entry *e, struct ovl_error *err)
{
        _cleanup_close_ int src = -1, dst = -1;
        char *path;

        ovl_test_stop_point_at("copy-source", e->path);
        src = open_source(e->src_dirfd, e->name, e->st);
        if (src == -ESTALE)
                return ovl_error_fail(err, 0, "layer %s: %s: replaced by another file while it was copied",
                                      c->layers->items[e->layer].path, e->path);
        if (src < 0)
                return fail_src(c, e, -src, err);
        /* Created with its final permission bits (umask is 0), so most files need no chmod; the
         * special bits wait for ovl_copy_metadata, after the data and the owner. */
        dst = openat(current_dir(c), e->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     e->st->st_mode & 0777);
        if (dst < 0)
                return fail_dst(c, e, errno, err);
        path = strdup(e->path);
        if (!path)
                return fail_dst(c, e, ENOMEM, err);
        return ovl_copy_pool_submit(c->pool,
                                    &(struct ovl_copy_job){ .src = TAKE_FD(src),
                                                            .dst = TAKE_FD(dst),
                                                            .st = *e->st,
                                                            .layer = e->layer,
                                                            .path = path },
                                    err);
}

static int copy_symlink(struct copy_ctx *c, const struct ovl_merge_entry *e, struct ovl_error *err)
{
        size_t size = (size_t) e->st->st_size + 1;
        _cleanup_free_ char *target = malloc(size + 1);
        ssize_t n;

        if (!target)
                return fail_dst(c, e, ENOMEM, err);
        n = readlinkat(e->src_dirfd, e->name, target, size);
        if (n < 0)
                return fail_src(c, e, errno, err);
        if ((size_t) n >= size)
                return ovl_error_fail(err, 0, "layer %s: %s: symlink changed while it was copied",
                                      c->layers->items[e->layer].path, e->path);
        target[n] = '\0';
        /* The target is stored verbatim and never resolved: it is only data. */
        if (symlinkat(target, current_dir(c), e->name) < 0)
                return fail_dst(c, e, errno, err);
        return 0;
}

static int copy_special(struct copy_ctx *c, const struct ovl_merge_entry *e, struct ovl_error *err)
{
        if (mknodat(current_dir(c), e->name, (e->st->st_mode & S_IFMT) | 0600, e->st->st_rdev) < 0)
                return fail_dst(c, e, errno, err);
        return 0;
}

static int visit_file(void *ctx, const struct ovl_merge_entry *e, struct ovl_error *err)
{
        struct copy_ctx *c = ctx;
        bool linked = e->st->st_nlink > 1;
        int r;

        if (linked) {
                const struct link_entry *first = link_find(c, e->layer, e->st);
                if (first)
                        return link_to_first(c, e, first, err);
        }
        if (S_ISREG(e->st->st_mode))
                r = copy_regular(c, e, err);
        else {
                r = S_ISLNK(e->st->st_mode) ? copy_symlink(c, e, err) : copy_special(c, e, err);
                if (r == 0) {
                        r = ovl_copy_metadata(&(struct ovl_node_ref){ .fd = -1,
                                                                      .dirfd = e->src_dirfd,
                                                                      .name = e->name },
                                              &(struct ovl_node_ref){
                                                      .fd = -1, .dirfd = current_dir(c), .name = e->name },
                                              e->st, 0600, c->idmap);
                        if (r < 0)
                                r = fail_meta(c, e, r, err);
                }
        }
        if (r == 0 && linked && link_remember(c, e->layer, e->st, e->path) < 0)
                r = fail_dst(c, e, ENOMEM, err);
        return r;
}

static int visit_dir_enter(void *ctx, const struct ovl_merge_entry *e, struct ovl_error *err)
{
        struct copy_ctx *c = ctx;
        int fd;

        if (c->depth == c->cap) {
                int *grown = realloc(c->dirs, (c->cap * 2) * sizeof(int));
                if (!grown)
                        return fail_dst(c, e, ENOMEM, err);
                c->dirs = grown;
                c->cap *= 2;
        }
        if (c->depth == 0)
                return ovl_error_fail(err, EINVAL, "copy: walk without a root");
        /* Created owner-only; the real mode is set after the children, so a read-only directory in
         * the image does not stop us filling it. */
        if (mkdirat(current_dir(c), e->name, 0700) < 0)
                return fail_dst(c, e, errno, err);
        fd = openat(current_dir(c), e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return fail_dst(c, e, errno, err);
        c->dirs[c->depth++] = fd;
        return 0;
}

static int visit_dir_leave(void *ctx, const struct ovl_merge_entry *e, struct ovl_error *err)
{
        struct copy_ctx *c = ctx;
        int fd = current_dir(c), r;

        /* Directory times are set last, after every child has been written into it. */
        r = ovl_copy_metadata(&(struct ovl_node_ref){ .fd = -1, .dirfd = e->src_dirfd, .name = e->name },
                              &(struct ovl_node_ref){ .fd = fd }, e->st, 0700, c->idmap);
        if (r < 0)
                return fail_meta(c, e, r, err);
        if (c->depth > 1) {
                close(fd);
                c->depth--;
        }
        return 0;
}

/* The root is the scratch directory itself, which already exists: enter it without creating. */
static int visit_root_or_dir(void *ctx, const struct ovl_merge_entry *e, struct ovl_error *err)
{
        struct copy_ctx *c = ctx;

        if (*e->path == '\0' && c->depth == 1)
                return 0;
        return visit_dir_enter(ctx, e, err);
}

/* Copy threads: 0 for as many as the machine has CPUs (ovl_copy_set_workers). */
static unsigned workers_setting;

void ovl_copy_set_workers(unsigned n)
{
        workers_setting = n;
}

/* The worker threads to start: none for one (the engine's own thread copies, as a single-threaded
 * engine), else one per CPU or as set. */
static unsigned workers_wanted(void)
{
        unsigned n = workers_setting ? workers_setting : ovl_copy_pool_default_workers();

        return n <= 1 ? 0 : n;
}

static int merge_into(struct copy_ctx *proto, int dst_fd, struct ovl_error *err)
{
        struct copy_ctx c = *proto;
        const struct ovl_layer_list *layers = c.layers;
        struct ovl_merge_visitor v = {
                .ctx = &c, .file = visit_file, .dir_enter = visit_root_or_dir, .dir_leave = visit_dir_leave
        };
        unsigned workers = workers_wanted();
        mode_t old_umask;
        int r, pool_r;

        c.dirs = calloc(c.cap, sizeof(int));
        c.accel = calloc((size_t) (workers ? workers : 1) * (layers->count ? layers->count : 1), sizeof(*c.accel));
        r = c.dirs && c.accel ? ovl_copy_pool_start(workers, finish_regular, &c, &c.pool) : -ENOMEM;
        if (r < 0) {
                free(c.dirs);
                free(c.accel);
                return ovl_error_fail(err, -r, "copy: starting %u copy threads", workers);
        }
        c.dirs[c.depth++] = dst_fd;
        /* Modes come from the layers verbatim: the umask must not trim them. */
        old_umask = umask(0);
        r = ovl_merge_walk(layers, &v, err);
        /* Every file is finished (or, after a failure, released) before the caller renames or
         * removes the tree. */
        pool_r = ovl_copy_pool_finish(c.pool, err);
        umask(old_umask);
        for (size_t i = 1; i < c.depth; i++)
                close(c.dirs[i]);
        links_free(&c);
        free(c.dirs);
        free(c.accel);
        return r < 0 ? r : pool_r;
}

int ovl_copy_merge_into(const struct ovl_layer_list *layers, const struct ovl_idmap *idmap, int dst_fd,
                        const char *what, struct ovl_error *err)
{
        struct copy_ctx c = { .layers = layers, .rootfs = what, .idmap = idmap, .cap = 64 };

        return merge_into(&c, dst_fd, err);
}

int ovl_copy_merge_stubs(const struct ovl_layer_list *layers, const char *const *redirect_prefix, int dst_fd,
                         const char *what, struct ovl_error *err)
{
        struct copy_ctx c = { .layers = layers, .rootfs = what, .stub_prefix = redirect_prefix, .cap = 64 };

        return merge_into(&c, dst_fd, err);
}
