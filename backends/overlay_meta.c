#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/copy.h"
#include "backends/mount.h"
#include "backends/overlay_cache.h"
#include "backends/overlay_meta.h"
#include "common/erofs_image.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/syscalls.h"
#include "common/testhook.h"
#include "common/walk.h"
#include "state/workdir.h"

/* Bump when the metadata layer's layout or meaning changes: old entries are then simply unused.
 * meta-1: the stub tree is the entry; meta-2: the entry holds the tree as an erofs image
 * (META_IMAGE), or, where this image cannot hold it, the tree itself (META_TREE). */
#define META_VERSION_TREE "meta-1"
#define META_VERSION_IMAGE "meta-2"
#define META_IMAGE "meta.erofs"
#define META_TREE "tree"
#define TMPFS_TREE_INODES "262144"

/* Where the kernel finds the data of each layer's files. */
struct data_plan {
        char **prefix; /* per layer: "/REL" below its data dir, or "" (the layer is its own) */
        int *fds;      /* the data dirs, in the order the kernel searches them */
        size_t n_fds;
        char why[512]; /* why the shared plan was not taken, for the message when nothing fits */
};

/* The layers that share one data dir: those on one mount. */
struct group {
        dev_t dev;
        uint64_t mnt_id;
        char *dir;  /* their deepest common directory */
        int fd;     /* O_PATH of it */
        size_t top; /* the topmost layer in it */
};

static void plan_clear(struct data_plan *p, size_t n_layers)
{
        if (p->prefix)
                for (size_t i = 0; i < n_layers; i++)
                        free(p->prefix[i]);
        for (size_t i = 0; i < p->n_fds; i++)
                safe_close(p->fds[i]);
        free(p->prefix);
        free(p->fds);
        p->prefix = NULL;
        p->fds = NULL;
        p->n_fds = 0;
}

/* The id of fd's mount; 0 before 5.8, where the device alone tells the filesystems apart. */
static uint64_t mount_id(int fd)
{
        uint64_t id = 0;

        return ovl_mount_id_of(fd, OVL_STATX_MNT_ID, &id) == 0 ? id : 0;
}

/* The length of the longest directory prefix a and b share ("/x/y" of "/x/y/a" and "/x/y/b"). */
static size_t common_dir_len(const char *a, const char *b)
{
        size_t n = 0, last = 0;

        while (a[n] && a[n] == b[n]) {
                if (a[n] == '/')
                        last = n;
                n++;
        }
        if ((a[n] == '\0' || a[n] == '/') && (b[n] == '\0' || b[n] == '/'))
                last = n; /* one is the other, or a directory above it */
        return last;
}

/* Whether no one but root or us can change what name leads to under the directory dirfd: the
 * directory is ours and not writable by others, or sticky and name is ours. */
static bool step_is_ours(int dirfd, const char *name)
{
        struct stat dir, child;
        uid_t me = geteuid();

        if (fstat(dirfd, &dir) < 0 || (dir.st_uid != 0 && dir.st_uid != me))
                return false;
        if (!(dir.st_mode & 022))
                return true;
        return (dir.st_mode & S_ISVTX) && fstatat(dirfd, name, &child, AT_SYMLINK_NOFOLLOW) == 0 &&
               (child.st_uid == 0 || child.st_uid == me);
}

/* Checks that rel leads from the group's dir to layer exactly as the kernel will look it up
 * (component by component, no symlink, no other mount) and that no one else can redirect it.
 * Returns true, or false with why set. */
static bool reaches_layer(const struct group *g, const char *rel, const struct ovl_layer *layer, char *why, size_t size)
{
        _cleanup_free_ char *copy = strdup(rel);
        _cleanup_close_ int cur = fcntl(g->fd, F_DUPFD_CLOEXEC, 3);
        char *save = NULL;
        struct stat st;

        if (!copy || cur < 0)
                return snprintf(why, size, "out of memory or fds"), false;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int next;

                if (!step_is_ours(cur, c))
                        return snprintf(why, size, "a directory on the way from %s to layer %s is not only root's",
                                        g->dir, layer->path),
                               false;
                next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0 || mount_id(next) != g->mnt_id) {
                        safe_close(next);
                        return snprintf(why, size, "layer %s is not reached from %s without a symlink or a mount",
                                        layer->path, g->dir),
                               false;
                }
                close_and_replace(cur, next);
        }
        if (fstat(cur, &st) < 0 || st.st_dev != layer->st.st_dev || st.st_ino != layer->st.st_ino)
                return snprintf(why, size, "%s/%s is no longer layer %s", g->dir, rel, layer->path), false;
        return true;
}

/* Whether the directory at fd holds the cache dir cache_fd (or is it): the kernel refuses a data
 * dir above a lower layer. Walks up from the cache by "..", to the root. */
static bool holds_cache(int fd, int cache_fd)
{
        _cleanup_close_ int cur = fcntl(cache_fd, F_DUPFD_CLOEXEC, 3);
        struct stat want, st, up;

        if (cur < 0 || fstat(fd, &want) < 0)
                return true;
        for (;;) {
                int parent;

                if (fstat(cur, &st) < 0)
                        return true;
                if (st.st_dev == want.st_dev && st.st_ino == want.st_ino)
                        return true;
                parent = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (parent < 0 || fstat(parent, &up) < 0) {
                        safe_close(parent);
                        return true;
                }
                if (up.st_dev == st.st_dev && up.st_ino == st.st_ino) {
                        safe_close(parent);
                        return false; /* the root */
                }
                close_and_replace(cur, parent);
        }
}

/* Sorts the layers into groups by mount and finds each group's dir. Returns the number of groups,
 * or 0 with why set. group_of[i] is layer i's group. */
static size_t find_groups(const struct ovl_layer_list *layers, struct group *groups, size_t *group_of, char *why,
                          size_t size)
{
        size_t n = 0;

        for (size_t i = 0; i < layers->count; i++) {
                const struct ovl_layer *l = &layers->items[i];
                uint64_t id = mount_id(l->fd);
                size_t g = 0, len;

                while (g < n && !(groups[g].dev == l->st.st_dev && groups[g].mnt_id == id))
                        g++;
                if (g == n) {
                        groups[n++] = (struct group){ .dev = l->st.st_dev, .mnt_id = id, .fd = -1 };
                        groups[g].dir = strdup(l->path);
                        if (!groups[g].dir)
                                return snprintf(why, size, "out of memory"), 0;
                }
                len = common_dir_len(groups[g].dir, l->path);
                groups[g].dir[len] = '\0';
                groups[g].top = i;
                group_of[i] = g;
        }
        for (size_t g = 0; g < n; g++) {
                /* The dir must lie above its layers, so every redirect starts with a name in it. */
                for (size_t i = 0; i < layers->count; i++)
                        if (group_of[i] == g && strcmp(layers->items[i].path, groups[g].dir) == 0) {
                                char *slash = strrchr(groups[g].dir, '/');
                                if (!slash || slash == groups[g].dir)
                                        return snprintf(why, size, "layer %s has no directory above it",
                                                        layers->items[i].path),
                                               0;
                                *slash = '\0';
                        }
                if (groups[g].dir[0] == '\0')
                        strcpy(groups[g].dir, "/");
        }
        return n;
}

static const char *rel_below(const char *dir, const char *path)
{
        return path + (strcmp(dir, "/") == 0 ? 1 : strlen(dir) + 1);
}

/* Whether a redirect into group g could be found first in another group's dir: the first name of
 * each of g's layers must be missing from the others. */
static bool groups_disjoint(const struct ovl_layer_list *layers, const struct group *groups, size_t n,
                            const size_t *group_of, char *why, size_t size)
{
        for (size_t i = 0; i < layers->count && n > 1; i++) {
                const char *rel = rel_below(groups[group_of[i]].dir, layers->items[i].path);
                _cleanup_free_ char *first = strndup(rel, strcspn(rel, "/"));

                for (size_t h = 0; first && h < n; h++)
                        if (h != group_of[i] && faccessat(groups[h].fd, first, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                                return snprintf(why, size, "%s/%s exists as well as layer %s", groups[h].dir, first,
                                                layers->items[i].path),
                                       false;
        }
        return true;
}

/* The shared plan: one data dir per mount. Returns true with plan filled, or false with plan->why
 * set. */
static bool plan_shared(const struct ovl_layer_list *layers, int cache_fd, struct data_plan *plan)
{
        struct group *groups = calloc(layers->count, sizeof(*groups));
        size_t *group_of = calloc(layers->count, sizeof(*group_of));
        size_t n = 0;
        bool ok = groups && group_of;

        if (!ok)
                snprintf(plan->why, sizeof(plan->why), "out of memory");
        if (ok)
                ok = (n = find_groups(layers, groups, group_of, plan->why, sizeof(plan->why))) > 0;
        for (size_t g = 0; ok && g < n; g++) {
                groups[g].fd = open(groups[g].dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                ok = groups[g].fd >= 0 && mount_id(groups[g].fd) == groups[g].mnt_id;
                if (!ok)
                        snprintf(plan->why, sizeof(plan->why), "%s: not a directory on the layers' mount",
                                 groups[g].dir);
                else if (holds_cache(groups[g].fd, cache_fd)) {
                        ok = false;
                        snprintf(plan->why, sizeof(plan->why),
                                 "%s holds the work dir, and the kernel refuses a data dir above a lower one",
                                 groups[g].dir);
                }
        }
        for (size_t i = 0; ok && i < layers->count; i++)
                ok = reaches_layer(&groups[group_of[i]], rel_below(groups[group_of[i]].dir, layers->items[i].path),
                                   &layers->items[i], plan->why, sizeof(plan->why));
        if (ok)
                ok = groups_disjoint(layers, groups, n, group_of, plan->why, sizeof(plan->why));
        for (size_t i = 0; ok && i < layers->count; i++)
                ok = asprintf(&plan->prefix[i], "/%s", rel_below(groups[group_of[i]].dir, layers->items[i].path)) >= 0;
        /* Searched topmost group first; each name is in one group only, so the order is only speed. */
        for (size_t k = layers->count; ok && k-- > 0;)
                for (size_t g = 0; g < n; g++)
                        if (groups[g].top == k && groups[g].fd >= 0)
                                plan->fds[plan->n_fds++] = TAKE_FD(groups[g].fd);
        for (size_t g = 0; g < n; g++) {
                safe_close(groups[g].fd);
                free(groups[g].dir);
        }
        free(groups);
        free(group_of);
        return ok;
}

/* Each layer its own data dir, top layer first: the kernel takes the first regular file it finds
 * at a redirect's path, and the layer a merged file comes from has the topmost regular file there
 * (a layer above with anything at that path, or hiding it, would have decided it). */
static int plan_per_layer(const struct ovl_layer_list *layers, struct data_plan *plan)
{
        for (size_t i = 0; i < layers->count; i++)
                if (!(plan->prefix[i] = strdup("")))
                        return -ENOMEM;
        for (size_t i = layers->count; i-- > 0;) {
                int fd = fcntl(layers->items[i].fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
                plan->fds[plan->n_fds++] = fd;
        }
        return 0;
}

/* Gives plan empty arrays for n_layers layers (freeing what it had). Returns 0 or -ENOMEM. */
static int plan_reset(struct data_plan *plan, size_t n_layers)
{
        plan_clear(plan, n_layers);
        plan->prefix = calloc(n_layers, sizeof(char *));
        plan->fds = calloc(n_layers, sizeof(int));
        return plan->prefix && plan->fds ? 0 : -ENOMEM;
}

static int plan_data(const struct ovl_layer_list *layers, int cache_fd, size_t max_stack, struct data_plan *plan,
                     struct ovl_error *err)
{
        int r = plan_reset(plan, layers->count);

        if (r < 0)
                return ovl_error_fail(err, -r, "overlay: metadata stack");
        if (plan_shared(layers, cache_fd, plan))
                return 0;
        if (layers->count + 1 > max_stack)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, 0,
                                     "overlay: --stack=meta: the layers share no data directory (%s), and %zu layers "
                                     "as data directories of their own exceed the kernel's %zu lowers",
                                     plan->why, layers->count, max_stack),
                       -EOPNOTSUPP;
        r = plan_reset(plan, layers->count);
        if (r == 0)
                r = plan_per_layer(layers, plan);
        return r < 0 ? ovl_error_fail(err, -r, "overlay: metadata stack") : 0;
}

/* The entry's key: the layers' identities in order with where their data is found. */
static int meta_key(const struct ovl_layer_list *layers, const struct data_plan *plan, bool image, char *key,
                    size_t size)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        char ident[128], id[OVL_RECORD_ID_LEN + 1];
        int r = f ? 0 : -ENOMEM;

        for (size_t i = 0; r == 0 && i < layers->count; i++) {
                r = ovl_cache_layer_identity(&layers->items[i], ident, sizeof(ident));
                if (r == 0)
                        fprintf(f, "%s%s\n", ident, plan->prefix[i]);
        }
        for (size_t i = 0; r == 0 && i < plan->n_fds; i++) {
                struct ovl_tree_id tid;
                r = ovl_tree_id_get(plan->fds[i], "", &tid);
                if (r == 0)
                        fprintf(f, "data %llu:%llu:%llu\n", (unsigned long long) tid.dev, (unsigned long long) tid.ino,
                                (unsigned long long) tid.btime_ns);
        }
        if (f && fclose(f) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        ovl_workdir_record_id(text, id);
        snprintf(key, size, "%s-%s", image ? META_VERSION_IMAGE : META_VERSION_TREE, id);
        return 0;
}

struct meta_build {
        const struct ovl_layer_list *layers;
        const struct data_plan *plan;
        bool image;
};

/* The image's stub tree (copy_engine.c's stub mode), written into the empty directory dir_fd. */
static int build_stub_tree(const struct meta_build *b, int dir_fd, const char *what, struct ovl_error *err)
{
        return ovl_copy_merge_stubs(b->layers, (const char *const *) b->plan->prefix, dir_fd, what, err);
}

/* Writes the stub tree at tree_fd as the entry's image, and checks that it mounts. Returns 0, or
 * -errno with err set: OVL_ERR_UNSUPPORTED when the image cannot hold the tree (an xattr namespace
 * erofs lacks) or the kernel does not mount it. */
static int write_image(int entry_fd, int tree_fd, const char *entry_path, struct ovl_error *err)
{
        _cleanup_close_ int image = -1, mnt = -1;
        int r;

        (void) unlinkat(entry_fd, META_IMAGE, 0); /* a failed try's */
        image = openat(entry_fd, META_IMAGE, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (image < 0)
                return ovl_error_fail(err, errno, "cache %s/" META_IMAGE, entry_path);
        r = ovl_erofs_write_tree(tree_fd, image, err);
        if (r == 0 && fsync(image) < 0)
                r = ovl_error_fail(err, errno, "cache %s/" META_IMAGE, entry_path);
        if (r == 0 && (mnt = ovl_erofs_mount(image, err)) < 0)
                r = mnt;
        if (r < 0)
                (void) unlinkat(entry_fd, META_IMAGE, 0);
        return r;
}

/* A private tmpfs, detached, to build the stub tree in: a tree that lives only until its image is
 * written costs no journal, no xattr blocks and no removal there. Its inodes live in memory (about
 * 1 KiB each, xattrs included), so it takes at most TMPFS_TREE_INODES: a larger image fills it
 * (ENOSPC) and is built on disk. Returns its root's fd or -errno. */
static int scratch_tmpfs(void)
{
        _cleanup_close_ int fs = ovl_fsopen("tmpfs", FSOPEN_CLOEXEC), m = -1;
        const char *inodes = ovl_test_hook_getenv("OVLBACKEND_TEST_META_TMPFS_INODES");
        int root;

        if (fs < 0 || ovl_fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0700", 0) < 0 ||
            ovl_fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", inodes ? inodes : TMPFS_TREE_INODES, 0) < 0 ||
            ovl_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return -errno;
        m = ovl_fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
        if (m < 0)
                return -errno;
        /* fsmount's fd is an O_PATH one: the tree is made through a real open of the root. */
        root = openat(m, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return root < 0 ? -errno : root;
}

/* The stub tree built on a private tmpfs and written as the entry's image. Returns 0, or -errno
 * with why set (the tmpfs may lack an xattr namespace a layer uses: user.* before 6.6). */
static int build_image_in_tmpfs(const struct meta_build *b, int entry_fd, const char *entry_path, struct ovl_error *why)
{
        _cleanup_close_ int tree = scratch_tmpfs();
        int r;

        if (tree < 0)
                return ovl_error_fail(why, -tree, "a tmpfs for the metadata tree");
        r = build_stub_tree(b, tree, "the metadata tree (tmpfs)", why);
        return r < 0 ? r : write_image(entry_fd, tree, entry_path, why);
}

/* The metadata layer as an erofs image: its stub tree built on a private tmpfs, or, where that
 * fails, in the entry (META_TREE), written as the image, and the tree dropped. Where the image
 * cannot hold the tree or the kernel does not mount it, the entry keeps the tree, which is only
 * slower when cold. */
static int build_meta_image(const struct meta_build *b, int entry_fd, const char *entry_path, struct ovl_error *err)
{
        _cleanup_close_ int tree = -1;
        _cleanup_free_ char *tree_path = NULL;
        struct ovl_error why = { 0 };
        int r = build_image_in_tmpfs(b, entry_fd, entry_path, &why);

        if (r == 0)
                return 0;
        ovl_log(OVL_LOG_VERBOSE, "overlay: the metadata tree is built on disk: %s", why.msg);
        why = (struct ovl_error){ 0 };
        if (asprintf(&tree_path, "%s/" META_TREE, entry_path) < 0) {
                tree_path = NULL;
                return ovl_error_fail(err, ENOMEM, "cache %s", entry_path);
        }
        if (mkdirat(entry_fd, META_TREE, 0755) < 0 ||
            (tree = openat(entry_fd, META_TREE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
                return ovl_error_fail(err, errno, "cache %s", tree_path);
        r = build_stub_tree(b, tree, tree_path, err);
        if (r < 0)
                return r;
        r = write_image(entry_fd, tree, entry_path, &why);
        if (r < 0 && why.class != OVL_ERR_UNSUPPORTED) {
                *err = why;
                return r;
        }
        if (r < 0) {
                ovl_log(OVL_LOG_VERBOSE, "overlay: the metadata layer stays a directory tree: %s", why.msg);
                return 0;
        }
        return ovl_remove_tree_at(entry_fd, META_TREE, "cache", err);
}

static int build_meta_entry(void *data, int entry_fd, const char *entry_path, struct ovl_error *err)
{
        const struct meta_build *b = data;

        if (b->image)
                return build_meta_image(b, entry_fd, entry_path, err);
        return build_stub_tree(b, entry_fd, entry_path, err);
}

/* The metadata layer of a meta-2 entry as a lower dir: its image mounted, or its tree. Returns an
 * fd or -errno with err set. */
static int meta_lower_open(int entry_fd, const char *what, struct ovl_error *err)
{
        _cleanup_close_ int fd = openat(entry_fd, META_IMAGE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        int r;

        if (fd >= 0) {
                r = ovl_erofs_mount(fd, err);
                if (r < 0)
                        ovl_error_append(err, " (cache %s/" META_IMAGE ")", what);
                return r;
        }
        if (errno == ENOENT)
                fd = openat(entry_fd, META_TREE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd >= 0 ? TAKE_FD(fd) : ovl_error_fail(err, errno, "cache %s", what);
}

bool ovl_meta_is_entry(const char *name)
{
        return strncmp(name, "meta-", 5) == 0; /* of any version */
}

int ovl_meta_stack_build(const struct ovl_layer_list *layers, const char *work_dir, size_t max_stack, bool image,
                         struct ovl_lower_stack *ret, struct ovl_error *err)
{
        struct data_plan plan = { 0 };
        struct ovl_cache c;
        char key[64];
        int meta_fd = -1, r;

        *ret = (struct ovl_lower_stack){ .fds = calloc(2, sizeof(int)), .cache_lock_fd = -1, .meta = true };
        if (!ret->fds)
                return ovl_error_fail(err, ENOMEM, "overlay");
        r = ovl_cache_open(work_dir, &c, err);
        if (r == 0)
                r = plan_data(layers, c.fd, max_stack, &plan, err);
        if (r == 0 && (r = meta_key(layers, &plan, image, key, sizeof(key))) < 0)
                r = ovl_error_fail(err, -r, "overlay: metadata stack");
        if (r == 0)
                r = ovl_cache_entry(&c, key, build_meta_entry, &(struct meta_build){ layers, &plan, image }, &meta_fd,
                                    &ret->caches, err);
        if (r == 0 && image) {
                int entry_fd = meta_fd;
                meta_fd = meta_lower_open(entry_fd, ret->caches.items[ret->caches.count - 1], err);
                safe_close(entry_fd);
                r = meta_fd < 0 ? meta_fd : 0;
        }
        if (r == 0) {
                ret->fds[ret->count++] = meta_fd;
                ret->data_fds = TAKE_PTR(plan.fds);
                ret->n_data = plan.n_fds;
                plan.n_fds = 0;
        }
        plan_clear(&plan, layers->count);
        ret->cache_lock_fd = ovl_cache_close(&c);
        if (r < 0)
                ovl_lower_stack_clear(ret);
        return r;
}
