/* The overlay backend: an overlayfs mount of the layers at R, writable through an upper dir that
 * ovlbackend makes per rootfs under the work dir (or on a private tmpfs), read-only without one.
 *
 * The new mount API first: fsopen("overlay"), one fsconfig "lowerdir+" per lower directory, given
 * as an fd (or as /proc/self/fd/N on kernels that take only strings), so there is no option-string
 * length limit and nothing to escape, and no path can be swapped after ovlbackend opened it; the
 * kernel's own error text is read from the fs-context log. Where the kernel lacks the new API or
 * lowerdir+, mount(2) from inside /proc/self/fd, where every layer is a name of a few digits, keeps
 * the option string well under the page size for the 500 layers the kernel stacks at most. Which
 * path this kernel takes, and its real stack limit, come from the probe (probe/), run once per boot
 * and cached under the work dir.
 *
 * index=off, redirect_dir=nofollow and metacopy=off: nothing the mount does may depend on, or write
 * into, a lower layer, so one layer can sit under many overlays at once. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/copy.h"
#include "backends/copy_meta.h"
#include "backends/mount.h"
#include "backends/mountopts.h"
#include "common/fscontext.h"
#include "backends/overlay_cache.h"
#include "backends/overlay_lower.h"
#include "backends/overlay_meta.h"
#include "common/fsutil.h"
#include "common/walk.h"
#include "common/gcreport.h"
#include "common/macro.h"
#include "namespaces/idmap.h"
#include "namespaces/seccomp.h"
#include "common/log.h"
#include "common/syscalls.h"
#include "probe/probe.h"
#include "common/mounttable.h"
#include "state/workdir.h"

#define OVERLAYFS_MAGIC 0x794c7630
#define TMPFS_SCRATCH "tmpfs"

/* Everything one overlay mount is made of. */
struct overlay {
        const struct ovl_assemble_request *req;
        struct ovl_assembly *a;
        struct ovl_tree_id target_id; /* R's identity, made or found */
        struct ovl_overlay_caps caps; /* what this kernel takes, from the probe */
        struct ovl_lower_stack lower;
        int upper_fd, work_fd; /* -1 for a read-only mount */
        int tmpfs_fd;          /* the private tmpfs the upper lives on, or -1 */
        char *tmpfs_path;      /* where that tmpfs is mounted under the record dir (legacy API), or NULL */
        char source[64];       /* "ovlbackend-<id>": how destroy recognises the mount */
};

static void overlay_release(struct overlay *o)
{
        ovl_lower_stack_clear(&o->lower);
        o->upper_fd = safe_close(o->upper_fd);
        o->work_fd = safe_close(o->work_fd);
        o->tmpfs_fd = safe_close(o->tmpfs_fd);
        free(o->tmpfs_path);
        o->tmpfs_path = NULL;
}

/* "tmpfs" or "tmpfs:SIZE"; sets *ret_size to SIZE or NULL. SIZE is what tmpfs' size= takes. */
static int parse_upper(const char *spec, const char **ret_size, struct ovl_error *err)
{
        const char *size;

        *ret_size = NULL;
        if (strcmp(spec, "tmpfs") == 0)
                return 0;
        if (strncmp(spec, "tmpfs:", 6) != 0)
                return ovl_error_bad(err, 0, "--upper=%s: expected tmpfs or tmpfs:SIZE", spec);
        size = spec + 6;
        for (const char *p = size; *p; p++)
                if (!isdigit((unsigned char) *p) && !(p[1] == '\0' && p != size && strchr("kKmMgG%", *p)))
                        return ovl_error_bad(err, 0, "--upper=%s: SIZE must be a number with an optional k, m, g or %%",
                                             spec);
        if (!*size)
                return ovl_error_bad(err, 0, "--upper=%s: SIZE is empty", spec);
        *ret_size = size;
        return 0;
}

/* A private tmpfs for the upper dir: detached (new API), or mounted under the record dir until the
 * overlay holds it (legacy), then detached from there. */
static int tmpfs_create(struct overlay *o, const char *size, struct ovl_error *err)
{
        const struct ovl_assemble_request *req = o->req;
        _cleanup_close_ int fs = ovl_fsopen("tmpfs", FSOPEN_CLOEXEC);
        _cleanup_(ovl_mountopts_clear) struct ovl_mount_params params = { 0 };
        _cleanup_free_ char *opts = NULL;
        /* nosuid, nodev: the scratch tmpfs is only ever reached through the overlay, which has its
         * own flags; nothing is to be run set-id or opened as a device through the tmpfs itself. */
        uint64_t attrs = ovl_mountopts_attrs(false, true, true);
        _cleanup_free_ char *path = NULL;
        int r;

        if (fs < 0 && errno != ENOSYS)
                return ovl_error_fail(err, errno, "--upper=%s", req->opts->upper);
        r = ovl_mountopts_tmpfs(size, &params);
        if (r == 0 && fs < 0)
                r = ovl_mountopts_format_legacy(&params, &opts);
        if (r < 0)
                return ovl_error_fail(err, -r, "--upper=%s", req->opts->upper);
        if (fs >= 0) {
                r = ovl_mountopts_apply_fsconfig(fs, &params, false);
                if (r < 0) {
                        ovl_error_fail(err, -r, "--upper=%s", req->opts->upper);
                        ovl_fscontext_append_log(fs, err);
                        return -EINVAL;
                }
                o->tmpfs_fd = ovl_fsmount(fs, FSMOUNT_CLOEXEC, (unsigned) attrs);
                return o->tmpfs_fd < 0 ? ovl_error_fail(err, errno, "--upper=%s", req->opts->upper) : 0;
        }
        if (asprintf(&path, "%s/" TMPFS_SCRATCH, req->record_dir) < 0)
                return ovl_error_fail(err, ENOMEM, "--upper=%s", req->opts->upper);
        /* Claimed first: a run killed with the tmpfs mounted leaves it for the rollback to detach. */
        r = ovl_assembly_claim(o->a, OVL_CLAIM_SCRATCH, path, err);
        if (r < 0)
                return r;
        if (mkdirat(req->record_dir_fd, TMPFS_SCRATCH, 0700) < 0)
                return ovl_error_fail(err, errno, "scratch %s", path);
        if (mount("tmpfs", path, "tmpfs", ovl_mountopts_ms_flags(attrs), opts) < 0)
                return ovl_error_fail(err, errno, "--upper=%s: tmpfs on %s", req->opts->upper, path);
        o->tmpfs_path = TAKE_PTR(path);
        o->tmpfs_fd = open(o->tmpfs_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return o->tmpfs_fd < 0 ? ovl_error_fail(err, errno, "scratch %s", o->tmpfs_path) : 0;
}

/* The upper and work dirs: on the tmpfs, or under the record dir. The upper dir's root is what the
 * rootfs' root shows, so it gets the top layer root's owner, mode, xattrs and times. */
static int upper_create(struct overlay *o, struct ovl_error *err)
{
        const struct ovl_assemble_request *req = o->req;
        const struct ovl_layer *top = &req->layers->items[req->layers->count - 1];
        const char *size = NULL;
        int base = req->record_dir_fd, r;
        _cleanup_free_ char *path = NULL;

        if (req->opts->upper) {
                r = parse_upper(req->opts->upper, &size, err);
                if (r == 0)
                        r = tmpfs_create(o, size, err);
                if (r < 0)
                        return r;
                base = o->tmpfs_fd;
        } else {
                for (int i = 0; i < 2; i++) {
                        _cleanup_free_ char *claim = NULL;
                        if (asprintf(&claim, "%s/%s", req->record_dir, i ? "work" : "upper") < 0)
                                return ovl_error_fail(err, ENOMEM, "rootfs %s: scratch", req->rootfs);
                        r = ovl_assembly_claim(o->a, OVL_CLAIM_SCRATCH, claim, err);
                        if (r < 0)
                                return r;
                }
        }
        if (asprintf(&path, "%s/upper", req->opts->upper ? "tmpfs" : req->record_dir) < 0)
                return ovl_error_fail(err, ENOMEM, "rootfs %s: scratch", req->rootfs);
        if (mkdirat(base, "upper", 0755) < 0 || mkdirat(base, "work", 0700) < 0)
                return ovl_error_fail(err, errno, "scratch %s", path);
        o->upper_fd = openat(base, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        o->work_fd = openat(base, "work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (o->upper_fd < 0 || o->work_fd < 0)
                return ovl_error_fail(err, errno, "scratch %s", path);
        r = ovl_copy_metadata(&(struct ovl_node_ref){ .fd = top->fd }, &(struct ovl_node_ref){ .fd = o->upper_fd },
                              &top->st, 0755, NULL);
        /* --uidmap: the root of the view belongs to the container's root, which must write there. */
        if (r == 0 && req->opts->idmap &&
            fchown(o->upper_fd, ovl_idmap_uid(req->opts->idmap, top->st.st_uid),
                   ovl_idmap_gid(req->opts->idmap, top->st.st_gid)) < 0)
                r = errno == OVL_COPY_EUNMAPPED ? -EINVAL : -errno; /* Only the metadata copy's means that. */
        if (r == -OVL_COPY_EUNMAPPED)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, 0, "scratch %s: " OVL_COPY_EUNMAPPED_TEXT, path);
        return r < 0 ? ovl_error_fail(err, -r, "scratch %s", path) : 0;
}

/* The overlay's parameters, the same list for both APIs. */
static int overlay_params(const struct overlay *o, struct ovl_mount_params *ret)
{
        const struct ovl_mountopts_overlay_spec spec = {
                .source = o->source,
                .lower_fds = o->lower.fds,
                .n_lower = o->lower.count,
                .data_fds = o->lower.data_fds,
                .n_data = o->lower.n_data,
                .upper_fd = o->upper_fd,
                .work_fd = o->work_fd,
                .volatile_upper = o->req->opts->volatile_upper,
                /* Rootless (a user namespace): markers in user.overlay.*, as the glue writes them. */
                .userxattr = !ovl_in_initial_userns(),
        };

        return ovl_mountopts_overlay(&spec, ret);
}

/* Layer directories by fd where the kernel takes fds (6.13+), else by /proc/self/fd path. */
static int config_all(const struct overlay *o, int fs)
{
        _cleanup_(ovl_mountopts_clear) struct ovl_mount_params params = { 0 };
        int r = overlay_params(o, &params);

        return r < 0 ? r : ovl_mountopts_apply_fsconfig(fs, &params, o->caps.layer_fds);
}

static unsigned mount_attrs(const struct ovl_backend_options *opts, bool read_only)
{
        return (unsigned) ovl_mountopts_attrs(read_only, opts->nosuid, opts->nodev);
}

/* The new API. Returns 0, -ENOSYS when the kernel lacks it or lowerdir+ (use mount(2)), or
 * -errno with err set. */
static int mount_new_api(const struct overlay *o, struct ovl_error *err)
{
        const struct ovl_assemble_request *req = o->req;
        _cleanup_close_ int fs = ovl_fsopen("overlay", FSOPEN_CLOEXEC), mnt = -1;
        int r;

        /* The probe found no lowerdir+ (before 6.8) or no new API at all: mount(2) it is. */
        if (!o->caps.new_api)
                return -ENOSYS;
        if (fs < 0)
                return errno == ENOSYS ? -ENOSYS : ovl_error_set(err, OVL_ERR_UNSUPPORTED, errno, "overlay: fsopen");
        r = config_all(o, fs);
        if (r < 0) {
                ovl_error_fail(err, -r, "rootfs %s: overlay mount", req->rootfs);
                ovl_fscontext_append_log(fs, err);
                return r;
        }
        mnt = ovl_fsmount(fs, FSMOUNT_CLOEXEC, mount_attrs(req->opts, o->upper_fd < 0));
        if (mnt < 0) {
                r = ovl_error_fail(err, errno, "rootfs %s: overlay mount", req->rootfs);
                ovl_fscontext_append_log(fs, err);
                return r;
        }
        return ovl_assembly_hand_over(o->a, mnt, err);
}

/* Where mount(2) mounts: R itself, through its checked O_PATH fd (ovl_mount_open_target); in a
 * private namespace (a kernel with fsopen but no lowerdir+) a scratch dir in the record dir, by
 * path (the clone must see the mount on it, which a /proc/self/fd link would jump under), whose
 * mount is then cloned into a detached mount for the parent. Sets *ret_path to that path (a new
 * string). Returns an fd (or -1) or -errno with err set. */
static int legacy_target(const struct overlay *o, char **ret_path, struct ovl_error *err)
{
        const struct ovl_assemble_request *req = o->req;
        _cleanup_close_ int fd = -1;
        char fd_path[OVL_FD_PATH_MAX];
        char *path;
        int r;

        if (req->private_ns) {
                if (mkdirat(req->record_dir_fd, "mnt", 0700) < 0 && errno != EEXIST)
                        return ovl_error_fail(err, errno, "rootfs %s", req->rootfs);
                if (asprintf(ret_path, "%s/mnt", req->record_dir) < 0)
                        return ovl_error_fail(err, ENOMEM, "rootfs %s", req->rootfs);
                return -1;
        }
        r = ovl_mount_open_target(req, &o->target_id, &fd, fd_path, sizeof(fd_path), err);
        if (r < 0)
                return r;
        path = strdup(fd_path);
        if (!path)
                return ovl_error_fail(err, ENOMEM, "rootfs %s", req->rootfs);
        *ret_path = path;
        return TAKE_FD(fd);
}

/* The mount made in a private namespace, cloned into a detached mount and handed over. */
static int hand_over_clone(const struct overlay *o, const char *target, struct ovl_error *err)
{
        _cleanup_close_ int tree = ovl_open_tree(AT_FDCWD, target, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        int r = tree < 0 ? -errno : 0;

        (void) umount2(target, MNT_DETACH);
        (void) unlinkat(o->req->record_dir_fd, "mnt", AT_REMOVEDIR);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s: handing the overlay over", o->req->rootfs);
        return ovl_assembly_hand_over(o->a, tree, err);
}

static bool overlay_is_ours(const struct ovl_record *rec, int rootfs_fd);

/* mount(2), from inside /proc/self/fd: "lowerdir=12:11:10" names the layers by their fds. */
static int mount_legacy(const struct overlay *o, struct ovl_error *err)
{
        const struct ovl_assemble_request *req = o->req;
        size_t page = (size_t) sysconf(_SC_PAGESIZE), len;
        _cleanup_(ovl_mountopts_clear) struct ovl_mount_params params = { 0 };
        _cleanup_free_ char *opts = NULL;
        _cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        unsigned long flags = ovl_mountopts_ms_flags(mount_attrs(req->opts, o->upper_fd < 0));
        _cleanup_close_ int target_fd = -1;
        _cleanup_free_ char *target = NULL;
        int r;

        if (cwd < 0)
                return ovl_error_fail(err, errno, "overlay");
        r = overlay_params(o, &params);
        if (r == 0)
                r = ovl_mountopts_format_legacy(&params, &opts);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s: overlay options", req->rootfs);
        len = strlen(opts);
        if (len >= page)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, 0,
                                     "rootfs %s: overlay options of %zu bytes do not fit the page size (%zu) "
                                     "mount(2) takes",
                                     req->rootfs, len, page);
        target_fd = legacy_target(o, &target, err);
        if (target_fd < -1)
                return target_fd;
        if (chdir("/proc/self/fd") < 0)
                return ovl_error_fail(err, errno, "overlay: /proc/self/fd");
        if (mount(o->source, target, "overlay", flags, opts) < 0)
                r = ovl_error_fail(err, errno, "rootfs %s: overlay mount (legacy mount(2))", req->rootfs);
        if (fchdir(cwd) < 0 && r == 0)
                r = ovl_error_fail(err, errno, "overlay: back to the working directory");
        if (r == 0 && req->private_ns)
                r = hand_over_clone(o, target, err);
        else if (r == 0)
                r = ovl_assembly_hand_over(o->a, -1, err); /* mounted at R itself */
        return r;
}

/* The mount open at rootfs_fd is ours when it is an overlay whose source names R's record; the
 * source is read for that very mount (by its id), not for whatever is at R's path by then. */
static bool overlay_is_ours(const struct ovl_record *rec, int rootfs_fd)
{
        _cleanup_free_ char *source = NULL;
        char want[64];
        struct statfs sf;
        int r;

        if (fstatfs(rootfs_fd, &sf) < 0 || sf.f_type != OVERLAYFS_MAGIC)
                return false;
        ovl_mount_source(rec->rootfs, want, sizeof(want));
        r = ovl_mounttable_source_of(rootfs_fd, &source);
        if (r == -EOPNOTSUPP) /* before 5.8 */
                r = ovl_mounttable_source(rec->rootfs, &source);
        return r == 0 && strcmp(source, want) == 0;
}

/* Detaches the legacy tmpfs of an interrupted run, then removes a scratch directory. */
static int remove_scratch(const char *path, struct ovl_error *err)
{
        _cleanup_free_ char *parent = NULL, *base = NULL;
        _cleanup_close_ int pfd = -1;
        int r = ovl_path_split(path, &parent, &base);

        if (r < 0)
                return ovl_error_fail(err, -r, "scratch %s", path);
        pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
                return errno == ENOENT ? 0 : ovl_error_fail(err, errno, "scratch %s", path);
        return ovl_remove_tree_at(pfd, base, path, err);
}

static int overlay_destroy(const struct ovl_record *rec, struct ovl_error *err)
{
        int r = ovl_mount_destroy_target(rec, overlay_is_ours, err);

        for (size_t i = 0; r == 0 && i < rec->scratch.count; i++) {
                const char *s = rec->scratch.items[i];
                size_t n = strlen(s), t = strlen("/" TMPFS_SCRATCH);

                if (strcmp(s, rec->rootfs) == 0)
                        continue; /* R itself: ovl_mount_destroy_target's */
                /* A legacy tmpfs left mounted by a run that died before detaching it. */
                if (n > t && strcmp(s + n - t, "/" TMPFS_SCRATCH) == 0)
                        (void) umount2(s, MNT_DETACH | UMOUNT_NOFOLLOW);
                r = remove_scratch(s, err);
        }
        return r;
}

/* A mount without an upper dir needs two lower layers at least: a single layer gets an empty
 * directory beneath it, which shows nothing (its root is shadowed by the layer's). */
static int add_empty_bottom(struct overlay *o, struct ovl_error *err)
{
        _cleanup_free_ char *path = NULL;
        int fd;

        if (asprintf(&path, "%s/layers/empty", o->req->work_dir) < 0)
                return ovl_error_fail(err, ENOMEM, "cache %s/layers/empty", o->req->work_dir);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return ovl_error_fail(err, errno, "cache %s", path);
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return ovl_error_fail(err, errno, "cache %s", path);
        memmove(o->lower.fds + 1, o->lower.fds, o->lower.count * sizeof(int));
        o->lower.fds[0] = fd;
        o->lower.count++;
        return 0;
}

/* The layers with only the topmost occurrence of a layer given more than once. Exact: the top
 * copy re-adds every entry and re-applies every whiteout and opaque dir of the lower one, so the
 * lower one can change nothing; and the kernel refuses a directory twice in one stack (ELOOP).
 * The items are shallow copies (the fds stay the request's). Returns 0 or -ENOMEM. */
static int unique_layers(const struct ovl_layer_list *in, struct ovl_layer_list *out)
{
        out->count = 0;
        out->items = calloc(in->count ? in->count : 1, sizeof(*out->items));
        if (!out->items)
                return -ENOMEM;
        for (size_t i = 0; i < in->count; i++) {
                bool above = false;
                for (size_t j = i + 1; j < in->count && !above; j++)
                        above = in->items[j].st.st_dev == in->items[i].st.st_dev &&
                                in->items[j].st.st_ino == in->items[i].st.st_ino;
                if (!above)
                        out->items[out->count++] = in->items[i];
        }
        return 0;
}

/* --uidmap: every lower dir (layers, glue, flattened bottoms, the metadata layer and the data
 * dirs) replaced by an idmapped clone of itself, so the kernel shows their ids shifted; an overlay
 * mount itself cannot be idmapped. */
static int idmap_dirs(const struct overlay *o, int *fds, size_t n, struct ovl_error *err)
{
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t) o->req->userns_fd };

        for (size_t i = 0; i < n; i++) {
                int tree = ovl_open_tree(fds[i], "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
                if (tree < 0 || ovl_mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
                        int e = errno;
                        safe_close(tree);
                        return ovl_error_set(err, OVL_ERR_UNSUPPORTED, e, "rootfs %s: an idmapped clone of a layer",
                                             o->req->rootfs);
                }
                close_and_replace(fds[i], tree);
        }
        return 0;
}

static int idmap_lowers(struct overlay *o, struct ovl_error *err)
{
        int r;

        if (!o->caps.new_api)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, ENOSYS,
                                     "rootfs %s: --uidmap needs the new mount API "
                                     "(idmapped layers)",
                                     o->req->rootfs);
        r = idmap_dirs(o, o->lower.fds, o->lower.count, err);
        return r < 0 ? r : idmap_dirs(o, o->lower.data_fds, o->lower.n_data, err);
}

/* Why the metadata stack cannot be used here, or NULL when it can. */
static const char *meta_refusal(const struct overlay *o)
{
        if (!ovl_in_initial_userns())
                return "the kernel refuses metacopy on a userxattr (rootless) mount";
        if (!o->caps.meta_stack)
                return "this kernel does not read metacopy stubs over data-only lowers (see `ovlbackend probe`, "
                       "meta_stack)";
        return NULL;
}

/* --stack=auto picks the metadata stack from this many layers on, or when the layers would not fit
 * the kernel's stack: below it the layer stack is shallow enough that lookups cost little, and it
 * needs no walk of the image on its first assemble. */
#define META_AUTO_MIN_LAYERS 8

static int stack_build(struct overlay *o, const struct ovl_layer_list *layers, struct ovl_error *err)
{
        const struct ovl_assemble_request *req = o->req;
        enum ovl_stack want = req->opts->stack;
        const char *refusal = meta_refusal(o);
        size_t max = (size_t) o->caps.max_layers;
        int r;

        if (want == OVL_STACK_META && refusal)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, 0, "rootfs %s: --stack=meta: %s", req->rootfs, refusal);
        if (want == OVL_STACK_AUTO && !refusal && (layers->count >= META_AUTO_MIN_LAYERS || layers->count + 1 > max))
                want = OVL_STACK_META;
        if (want == OVL_STACK_META) {
                r = ovl_meta_stack_build(layers, req->work_dir, max, o->caps.new_api && o->caps.meta_image, &o->lower,
                                         err);
                if (r != -EOPNOTSUPP || req->opts->stack == OVL_STACK_META)
                        return r;
                ovl_log(OVL_LOG_VERBOSE, "%s; stacking the layers instead", err->msg);
                *err = (struct ovl_error){ 0 };
        } else if (want == OVL_STACK_AUTO && refusal && layers->count >= META_AUTO_MIN_LAYERS)
                ovl_log(OVL_LOG_VERBOSE, "overlay: no metadata stack: %s", refusal);
        return ovl_lower_stack_build(layers, req->work_dir, max, req->opts->no_flatten, &o->lower, err);
}

static int overlay_mount(struct overlay *o, struct ovl_error *err)
{
        const struct ovl_assemble_request *req = o->req;
        struct ovl_layer_list unique = { 0 };
        int r = ovl_probe_overlay_caps(req->work_dir, &o->caps, err);

        if (r < 0)
                return r;
        r = unique_layers(req->layers, &unique);
        if (r < 0)
                return ovl_error_fail(err, -r, "overlay");
        if (unique.count < req->layers->count)
                ovl_log(OVL_LOG_VERBOSE,
                        "overlay: %zu repeated layer(s) left out: a layer given more than once "
                        "counts once, at its topmost position",
                        req->layers->count - unique.count);
        r = stack_build(o, &unique, err);
        free(unique.items);

        if (r == 0)
                r = ovl_assembly_claim_all(o->a, OVL_CLAIM_CACHE, o->lower.caches.items, o->lower.caches.count, err);
        if (r == 0 && req->opts->idmap)
                r = idmap_lowers(o, err);
        if (r == 0 && !req->opts->read_only)
                r = upper_create(o, err);
        else if (r == 0 && o->lower.count < 2)
                r = add_empty_bottom(o, err);
        if (r == 0)
                r = ovl_assembly_claim(o->a, OVL_CLAIM_MOUNT, req->rootfs, err);
        if (r == 0)
                r = ovl_mount_make_target(req, o->a, &o->target_id, err);
        if (r < 0)
                return r;
        ovl_log(OVL_LOG_VERBOSE, "overlay: %s stack, %zu lower and %zu data-only dirs (this kernel stacks %ld; %s), %s",
                o->lower.meta ? "metadata" : "layer", o->lower.count, o->lower.n_data, o->caps.max_layers,
                o->caps.from_cache ? "probed earlier this boot" : "probed now",
                !o->caps.new_api    ? "mount(2)"
                : o->caps.layer_fds ? "fsopen, lowerdir+ by fd"
                                    : "fsopen, lowerdir+ by /proc/self/fd path");
        r = mount_new_api(o, err);
        if (r == -ENOSYS)
                r = mount_legacy(o, err);
        return r;
}

static int overlay_assemble(const struct ovl_assemble_request *req, struct ovl_assembly *a, struct ovl_error *err)
{
        struct overlay o = {
                .req = req, .a = a, .upper_fd = -1, .work_fd = -1, .tmpfs_fd = -1, .lower = { .cache_lock_fd = -1 }
        };
        int r;

        ovl_copy_set_workers(req->opts->jobs); /* for the cached layers it builds */
        ovl_mount_source(req->rootfs, o.source, sizeof(o.source));
        r = overlay_mount(&o, err);
        /* The overlay holds its own references to the upper tmpfs: its legacy mount point goes. */
        if (o.tmpfs_path)
                (void) umount2(o.tmpfs_path, MNT_DETACH);
        overlay_release(&o);
        return r;
}

static int overlay_in_place(const struct ovl_record *rec, int rootfs_fd)
{
        return ovl_mount_in_place(rec, rootfs_fd, overlay_is_ours);
}

/* --upper is checked before anything is locked or made. */
static int overlay_validate(const struct ovl_backend_options *opts, struct ovl_error *err)
{
        const char *size;

        return opts->upper ? parse_upper(opts->upper, &size, err) : 0;
}

static bool cache_in_use(const char *name, const char *path, void *ctx)
{
        (void) name;
        return ovl_strlist_has(ctx, path);
}

/* Cache entries (glue and flattened layers) no record names, and half-built ones. Under the
 * exclusive cache lock, so no assemble is building or picking one meanwhile; when one is, the
 * caches wait for the next gc. */
static int overlay_gc(const char *work_dir, const struct ovl_strlist *in_use, struct ovl_gc_report *report)
{
        _cleanup_close_ int lock = ovl_cache_lock(work_dir, true);
        _cleanup_free_ char *dir = NULL;

        if (lock == -EBUSY)
                return 0;
        if (lock < 0)
                return lock;
        if (asprintf(&dir, "%s/layers", work_dir) < 0)
                return -ENOMEM;
        return ovl_gc_sweep_dir(dir, cache_in_use, (void *) in_use, "cache", "cache no rootfs uses", report);
}

/* A rootfs whose record names a metadata layer has the metadata stack. */
static const char *overlay_stack_of(const struct ovl_record *rec)
{
        for (size_t i = 0; i < rec->caches.count; i++) {
                const char *slash = strrchr(rec->caches.items[i], '/');
                if (ovl_meta_is_entry(slash ? slash + 1 : rec->caches.items[i]))
                        return "meta";
        }
        return "layers";
}

/* R itself (when it had to create it), and the upper and work dirs or the legacy tmpfs mount
 * point directly in the record dir. */
static int overlay_owns_scratch(const struct ovl_record *rec, const char *record_dir, const char *path)
{
        static const char *const names[] = { "upper", "work", TMPFS_SCRATCH };
        size_t n = strlen(record_dir);

        if (strcmp(path, rec->rootfs) == 0)
                return true;
        if (strncmp(path, record_dir, n) != 0 || path[n] != '/')
                return false;
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (strcmp(path + n + 1, names[i]) == 0)
                        return true;
        return false;
}

/* Removal of the upper dir's tree (any owner, sticky dirs) and the unmount. */
static const int overlay_destroy_caps[] = { CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_SYS_ADMIN };

/* The copy engine's (glue layers and flattening re-create entries with their metadata, 0/0
 * devices included), and mounting. */
static const int overlay_caps[] = { CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
                                    CAP_FSETID, CAP_MKNOD,        CAP_SETFCAP,         CAP_SYS_ADMIN };

const struct ovl_backend_ops ovl_backend_overlay = {
        .name = "overlay",
        .summary = "mount an overlayfs of the layers, writable through a managed upper dir",
        .needs = OVL_NEEDS_MOUNT | OVL_NEEDS_OVERLAYFS,
        .max_layers = 0,
        .accepts = OVL_ACCEPTS_READ_ONLY | OVL_ACCEPTS_MOUNT_FLAGS | OVL_ACCEPTS_UPPER | OVL_ACCEPTS_NO_FLATTEN |
                   OVL_ACCEPTS_IDMAP | OVL_ACCEPTS_STACK | OVL_ACCEPTS_JOBS,
        .sandbox = { .caps = overlay_caps, .n_caps = ARRAY_SIZE(overlay_caps), .syscalls = OVL_SYSCALLS_MOUNT },
        .destroy_sandbox = { .caps = overlay_destroy_caps,
                             .n_caps = ARRAY_SIZE(overlay_destroy_caps),
                             .syscalls = OVL_SYSCALLS_MOUNT },
        .validate = overlay_validate,
        .assemble = overlay_assemble,
        .destroy = overlay_destroy,
        .owns_scratch = overlay_owns_scratch,
        .in_place = overlay_in_place,
        .gc = overlay_gc,
        .stack_of = overlay_stack_of,
};
