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
#include <stdatomic.h>
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

/* Source directories a destination directory keeps a shared copy of for its jobs: its entries come
 * from a few layers at most, and a miss only costs a dup. */
#define SRC_SLOTS 4

/* A directory fd shared by the jobs that use it; the last to let go closes it. */
struct ovl_copy_fd {
        int fd;
        atomic_uint refs;
};

/* A destination directory being filled. Workers create regular files in it, so its own metadata
 * (owner, xattrs, mode, times) waits until the walk has left it and every job that creates a name
 * in it has done so: whoever drops the last reference applies it. */
struct ovl_copy_dir {
        int dst; /* owned, unless it is the caller's root */
        bool owns_dst;
        int src; /* the source directory itself, for its metadata */
        struct stat st;
        char *path; /* relative to the rootfs, for messages */
        atomic_uint refs;
        /* The walk's copies of the source directories of the entries it hands out (walk thread
         * only): the walk's own fds close when it leaves a directory, before the jobs run. */
        struct {
                int walk_fd;
                struct ovl_copy_fd *copy;
        } src_slots[SRC_SLOTS];
        unsigned next_slot;
};

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
        int root_fd;                /* the caller's empty destination */
        struct ovl_copy_dir **dirs; /* the destination directories walked into; dirs[depth - 1] is the current one */
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
        return c->dirs[c->depth - 1]->dst;
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

static int fail_src_at(const struct copy_ctx *c, size_t layer, const char *path, int errnum, struct ovl_error *err)
{
        return ovl_error_fail(err, errnum, "layer %s: %s", c->layers->items[layer].path, path);
}

static int fail_src(const struct copy_ctx *c, const struct ovl_merge_entry *e, int errnum, struct ovl_error *err)
{
        return fail_src_at(c, e->layer, e->path, errnum, err);
}

static int fail_replaced(const struct copy_ctx *c, size_t layer, const char *path, struct ovl_error *err)
{
        return ovl_error_fail(err, 0, "layer %s: %s: replaced by another file while it was copied",
                              c->layers->items[layer].path, path);
}

static void fd_unref(struct ovl_copy_fd *f)
{
        if (f && atomic_fetch_sub(&f->refs, 1) == 1) {
                close(f->fd);
                free(f);
        }
}

/* Drops a reference to d; the last one applies d's metadata (unless apply is false: the copy
 * failed) and frees it. Returns 0 or -errno with err set. */
static int dir_unref(const struct copy_ctx *c, struct ovl_copy_dir *d, bool apply, struct ovl_error *err)
{
        int r = 0;

        if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
                return 0;
        if (apply) {
                /* Created owner-only (visit_dir_enter): its real mode comes now, after its children. */
                r = ovl_copy_metadata(&(struct ovl_node_ref){ .fd = d->src }, &(struct ovl_node_ref){ .fd = d->dst },
                                      &d->st, 0700, c->idmap);
                if (r < 0)
                        r = fail_meta_at(c, d->path, &d->st, r, err);
        }
        close(d->src);
        if (d->owns_dst)
                close(d->dst);
        free(d->path);
        free(d);
        return r;
}

/* The walk's part of leaving d: its copies of source directories, then its own reference. */
static int dir_leave(const struct copy_ctx *c, struct ovl_copy_dir *d, bool apply, struct ovl_error *err)
{
        for (size_t i = 0; i < SRC_SLOTS; i++)
                fd_unref(d->src_slots[i].copy);
        return dir_unref(c, d, apply, err);
}

/* A new reference to a shared copy of the walk's source directory fd walk_fd, for a job in d.
 * Returns NULL with errno set on failure. */
static struct ovl_copy_fd *src_dir_ref(struct ovl_copy_dir *d, int walk_fd)
{
        struct ovl_copy_fd *f;
        size_t i;

        for (i = 0; i < SRC_SLOTS; i++)
                if (d->src_slots[i].copy && d->src_slots[i].walk_fd == walk_fd)
                        break;
        if (i == SRC_SLOTS) {
                i = d->next_slot++ % SRC_SLOTS;
                f = malloc(sizeof(*f));
                if (!f)
                        return NULL;
                f->fd = fcntl(walk_fd, F_DUPFD_CLOEXEC, 3);
                if (f->fd < 0) {
                        free(f);
                        return NULL;
                }
                atomic_init(&f->refs, 1);
                fd_unref(d->src_slots[i].copy);
                d->src_slots[i].walk_fd = walk_fd;
                d->src_slots[i].copy = f;
        }
        atomic_fetch_add(&d->src_slots[i].copy->refs, 1);
        return d->src_slots[i].copy;
}

/* Opens the source directory of e itself (the walk's fds are its parent's), checked to be the one
 * the walk saw. Returns the fd, -ESTALE, or -errno. */
static int open_source_dir(const struct ovl_merge_entry *e)
{
        _cleanup_close_ int fd = openat(e->src_dirfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_dev != e->st->st_dev || st.st_ino != e->st->st_ino)
                return -ESTALE;
        return TAKE_FD(fd);
}

/* A node for the destination directory dst (owned when owns_dst) of e, with the walk's reference. */
static int dir_new(const struct copy_ctx *c, const struct ovl_merge_entry *e, int dst, bool owns_dst,
                   struct ovl_copy_dir **ret, struct ovl_error *err)
{
        struct ovl_copy_dir *d = calloc(1, sizeof(*d));
        int src = open_source_dir(e);

        if (!d || src < 0 || !(d->path = strdup(e->path))) {
                if (owns_dst)
                        close(dst);
                free(d);
                if (src == -ESTALE)
                        return fail_replaced(c, e->layer, e->path, err);
                return src < 0 ? fail_src(c, e, -src, err) : (safe_close(src), fail_dst(c, e, ENOMEM, err));
        }
        d->dst = dst;
        d->owns_dst = owns_dst;
        d->src = src;
        d->st = *e->st;
        atomic_init(&d->refs, 1);
        *ret = d;
        return 0;
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
                r = open_dir_beneath(c->dirs[0]->dst, parent, &pfd);
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

/* Opens a job's source and creates its destination, when the walk left that to the job. */
static int open_job_files(struct copy_ctx *c, struct ovl_copy_job *job, struct ovl_error *err)
{
        if (job->src < 0) {
                job->src = open_source(job->src_dir->fd, job->name, &job->st);
                if (job->src == -ESTALE)
                        return fail_replaced(c, job->layer, job->path, err);
                if (job->src < 0)
                        return fail_src_at(c, job->layer, job->path, -job->src, err);
        }
        if (job->dst < 0) {
                /* Created with its final permission bits (umask is 0), so most files need no chmod;
                 * the special bits wait for ovl_copy_metadata, after the data and the owner. */
                job->dst = openat(job->dir->dst, job->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                  job->st.st_mode & 0777);
                if (job->dst < 0)
                        return fail_dst_at(c, job->path, errno, err);
        }
        /* The name is made: the directory's metadata need not wait for the rest of this job. */
        fd_unref(job->src_dir);
        job->src_dir = NULL;
        return dir_unref(c, TAKE_PTR(job->dir), true, err);
}

/* A worker's part of a regular file: its source and destination opened (unless the walk did), then
 * its data (or a stub) and its metadata, through those fds. */
static int finish_regular(void *ctx, unsigned worker, struct ovl_copy_job *job, struct ovl_error *err)
{
        struct copy_ctx *c = ctx;
        int r = open_job_files(c, job, err);

        if (r < 0)
                return r;
        r = make_stub(c, job);
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

/* What a job still holds once done or dropped: its directories (a failed copy applies nothing). */
static void release_job(void *ctx, struct ovl_copy_job *job)
{
        fd_unref(TAKE_PTR(job->src_dir));
        (void) dir_unref(ctx, TAKE_PTR(job->dir), false, NULL);
}

/* The walk's part of a regular file: a job for the pool, which opens the source and creates the
 * destination itself, in parallel. A file with other names is created here, in walk order, so that
 * they can be linked to it at once (visit_file). */
static int copy_regular(struct copy_ctx *c, const struct ovl_merge_entry *e, struct ovl_error *err)
{
        struct ovl_copy_job job = { .src = -1, .dst = -1, .st = *e->st, .layer = e->layer };
        struct ovl_copy_dir *d = c->dirs[c->depth - 1];
        int r = 0;

        ovl_test_stop_point_at("copy-source", e->path);
        job.path = strdup(e->path);
        if (!job.path)
                return fail_dst(c, e, ENOMEM, err);
        job.name = strrchr(job.path, '/') ? strrchr(job.path, '/') + 1 : job.path;
        job.src_dir = src_dir_ref(d, e->src_dirfd);
        if (!job.src_dir)
                r = fail_src(c, e, errno, err);
        if (r == 0) {
                atomic_fetch_add(&d->refs, 1);
                job.dir = d;
        }
        if (r == 0 && e->st->st_nlink > 1)
                r = open_job_files(c, &job, err);
        if (r < 0) {
                release_job(c, &job);
                safe_close(job.src);
                safe_close(job.dst);
                free(job.path);
                return r;
        }
        return ovl_copy_pool_submit(c->pool, &job, err);
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

/* Makes room for one more directory on the walk's stack. */
static int dirs_reserve(struct copy_ctx *c)
{
        struct ovl_copy_dir **grown;

        if (c->depth < c->cap)
                return 0;
        grown = realloc(c->dirs, (c->cap * 2) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        c->dirs = grown;
        c->cap *= 2;
        return 0;
}

static int visit_dir_enter(void *ctx, const struct ovl_merge_entry *e, struct ovl_error *err)
{
        struct copy_ctx *c = ctx;
        int fd, r;

        if (dirs_reserve(c) < 0)
                return fail_dst(c, e, ENOMEM, err);
        /* Created owner-only; the real mode is set after the children, so a read-only directory in
         * the image does not stop us filling it. */
        if (mkdirat(current_dir(c), e->name, 0700) < 0)
                return fail_dst(c, e, errno, err);
        fd = openat(current_dir(c), e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return fail_dst(c, e, errno, err);
        r = dir_new(c, e, fd, true, &c->dirs[c->depth], err);
        if (r == 0)
                c->depth++;
        return r;
}

/* Directory metadata is set last, after every child has been made in it: here, or by the job that
 * makes its last file (dir_unref). */
static int visit_dir_leave(void *ctx, const struct ovl_merge_entry *e, struct ovl_error *err)
{
        struct copy_ctx *c = ctx;

        (void) e;
        return dir_leave(c, c->dirs[--c->depth], true, err);
}

/* The root is the caller's empty destination, which already exists: entered without creating. */
static int visit_root_or_dir(void *ctx, const struct ovl_merge_entry *e, struct ovl_error *err)
{
        struct copy_ctx *c = ctx;
        int r;

        if (c->depth > 0)
                return visit_dir_enter(ctx, e, err);
        r = dir_new(c, e, c->root_fd, false, &c->dirs[0], err);
        if (r == 0)
                c->depth = 1;
        return r;
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

        c.dirs = calloc(c.cap, sizeof(*c.dirs));
        c.accel = calloc((size_t) (workers ? workers : 1) * (layers->count ? layers->count : 1), sizeof(*c.accel));
        r = c.dirs && c.accel ? ovl_copy_pool_start(workers, finish_regular, release_job, &c, &c.pool) : -ENOMEM;
        if (r < 0) {
                free(c.dirs);
                free(c.accel);
                return ovl_error_fail(err, -r, "copy: starting %u copy threads", workers);
        }
        c.root_fd = dst_fd;
        /* Modes come from the layers verbatim: the umask must not trim them. */
        old_umask = umask(0);
        r = ovl_merge_walk(layers, &v, err);
        /* Every file is finished (or, after a failure, released) before the caller renames or
         * removes the tree. */
        pool_r = ovl_copy_pool_finish(c.pool, err);
        umask(old_umask);
        /* Left only by a failed walk: nothing more is applied to a tree that is rolled back. */
        while (c.depth > 0)
                (void) dir_leave(&c, c.dirs[--c.depth], false, NULL);
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
