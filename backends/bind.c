/* The bind backend: one layer bind-mounted at R, read-only unless --read-write is given (then
 * writes reach the layer itself). The layer's tree is cloned with open_tree(OPEN_TREE_CLONE |
 * AT_RECURSIVE), its attributes set on the detached clone with mount_setattr, so the mount never
 * appears writable for an instant, and moved to R with move_mount; mount(2) where the kernel lacks
 * the new API. A layer that still holds whiteout markers is refused: bound as it is, they would
 * show up in the rootfs as files and devices. */
#include "config.h"

#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/markers.h"
#include "backends/mount.h"
#include "backends/mountopts.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "namespaces/seccomp.h"
#include "common/syscalls.h"

/* The first marker found ends the scan: one is enough to refuse the layer. */
static int refuse_marker(void *ctx, const struct ovl_marker *m, struct ovl_error *err)
{
        const struct ovl_layer *layer = ctx;

        return ovl_error_bad(err, 0,
                             "layer %s: holds a whiteout marker (%s%s%s); bound as it is it would show up as a "
                             "file: use the copy or overlay backend, or --allow-whiteouts",
                             layer->path, m->dir, *m->dir ? "/" : "", m->name);
}

static uint64_t mount_attrs(const struct ovl_backend_options *o)
{
        return ovl_mountopts_attrs(!o->read_write, o->nosuid, o->nodev);
}

/* The new API: a detached recursive clone of the layer, its attributes set before anyone can see
 * it, attached at R. */
static int bind_new_api(const struct ovl_assemble_request *req, const struct ovl_layer *layer, int *ret_tree)
{
        struct mount_attr attr = { .attr_set = mount_attrs(req->opts) };

        /* --uidmap: the layer's ids shown shifted, nothing written. */
        if (req->opts->idmap) {
                attr.attr_set |= MOUNT_ATTR_IDMAP;
                attr.userns_fd = (uint64_t) req->userns_fd;
        }
        _cleanup_close_ int tree = ovl_open_tree(layer->fd, "",
                                                 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);

        if (tree < 0)
                return -errno;
        if (attr.attr_set && ovl_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
                return -errno;
        *ret_tree = TAKE_FD(tree);
        return 0;
}

/* mount(2): the legacy API cannot set flags in a bind, and a remount needs a path that reaches the
 * new mount, which R's own path (renameable by whoever may write R's parent) is not. So the layer
 * is bound and remounted with its flags on a staging dir in the record dir (root's, 0700), then
 * that read-only mount is bound (flags and all: a bind keeps them) onto R through R's checked
 * O_PATH fd, and the staging mount dropped. Only the top mount of a recursive bind gets them. */
static bool bind_is_ours(const struct ovl_record *rec, int rootfs_fd);

static int bind_legacy(const struct ovl_assemble_request *req, struct ovl_assembly *a,
                       const struct ovl_tree_id *target_id, const struct ovl_layer *layer, struct ovl_error *err)
{
        unsigned long flags = ovl_mountopts_ms_flags(mount_attrs(req->opts));
        char src[OVL_FD_PATH_MAX], target[OVL_FD_PATH_MAX];
        _cleanup_free_ char *staging = NULL;
        _cleanup_close_ int target_fd = -1;
        int r = 0;

        if (asprintf(&staging, "%s/mnt", req->record_dir) < 0)
                return ovl_error_fail(err, ENOMEM, "rootfs %s: staging dir", req->rootfs);
        if (mkdirat(req->record_dir_fd, "mnt", 0700) < 0 && errno != EEXIST)
                return ovl_error_fail(err, errno, "rootfs %s: staging dir %s", req->rootfs, staging);
        snprintf(src, sizeof(src), "/proc/self/fd/%d", layer->fd);
        if (mount(src, staging, NULL, MS_BIND | MS_REC, NULL) < 0)
                r = ovl_error_fail(err, errno, "rootfs %s: bind mount of layer %s", req->rootfs, layer->path);
        else if (flags && mount(NULL, staging, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
                r = ovl_error_fail(err, errno, "rootfs %s: remount of layer %s", req->rootfs, layer->path);
        if (r == 0)
                r = ovl_mount_open_target(req, target_id, &target_fd, target, sizeof(target), err);
        if (r == 0 && mount(staging, target, NULL, MS_BIND | MS_REC, NULL) < 0)
                r = ovl_error_fail(err, errno, "rootfs %s: bind mount of layer %s", req->rootfs, layer->path);
        (void) umount2(staging, MNT_DETACH);
        (void) unlinkat(req->record_dir_fd, "mnt", AT_REMOVEDIR);
        return r == 0 ? ovl_assembly_hand_over(a, -1, err) : r;
}

/* R shows the layer when its root is the layer's root directory. */
static bool bind_is_ours(const struct ovl_record *rec, int rootfs_fd)
{
        struct stat at_r, layer;

        return rec->layers.count == 1 && fstat(rootfs_fd, &at_r) == 0 && stat(rec->layers.items[0], &layer) == 0 &&
               at_r.st_dev == layer.st_dev && at_r.st_ino == layer.st_ino;
}

static int bind_destroy(const struct ovl_record *rec, struct ovl_error *err)
{
        return ovl_mount_destroy_target(rec, bind_is_ours, err);
}

static int bind_assemble(const struct ovl_assemble_request *req, struct ovl_assembly *a, struct ovl_error *err)
{
        const struct ovl_layer *layer = &req->layers->items[0];
        _cleanup_close_ int tree = -1;
        struct ovl_tree_id target_id;
        int r;

        if (!req->opts->allow_whiteouts) {
                r = ovl_layer_scan_markers(layer, refuse_marker, (void *) layer, err);
                if (r < 0)
                        return r;
        }
        r = ovl_assembly_claim(a, OVL_CLAIM_MOUNT, req->rootfs, err);
        if (r == 0)
                r = ovl_mount_make_target(req, a, &target_id, err);
        if (r < 0)
                return r;
        r = bind_new_api(req, layer, &tree);
        if (r == -ENOSYS && req->opts->idmap)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, ENOSYS,
                                     "rootfs %s: --uidmap needs idmapped mounts "
                                     "(mount_setattr)",
                                     req->rootfs);
        if (r == -ENOSYS)
                return bind_legacy(req, a, &target_id, layer, err);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s: bind mount of layer %s", req->rootfs, layer->path);
        return ovl_assembly_hand_over(a, tree, err);
}

static int bind_in_place(const struct ovl_record *rec, int rootfs_fd)
{
        return ovl_mount_in_place(rec, rootfs_fd, bind_is_ours);
}

/* The only scratch bind makes is R itself, when it had to create it. */
static int bind_owns_scratch(const struct ovl_record *rec, const char *record_dir, const char *path)
{
        (void) record_dir;
        return strcmp(path, rec->rootfs) == 0;
}

/* Reading the layer (its markers, trusted.* xattrs) and mounting; destroy needs the same. */
static const int bind_caps[] = { CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN };

const struct ovl_backend_ops ovl_backend_bind = {
        .name = "bind",
        .summary = "bind-mount a single layer, read-only unless --read-write",
        .needs = OVL_NEEDS_MOUNT,
        .max_layers = 1,
        .accepts = OVL_ACCEPTS_READ_ONLY | OVL_ACCEPTS_READ_WRITE | OVL_ACCEPTS_MOUNT_FLAGS |
                   OVL_ACCEPTS_ALLOW_WHITEOUTS | OVL_ACCEPTS_IDMAP,
        .sandbox = { .caps = bind_caps, .n_caps = ARRAY_SIZE(bind_caps), .syscalls = OVL_SYSCALLS_MOUNT },
        .destroy_sandbox = { .caps = bind_caps, .n_caps = ARRAY_SIZE(bind_caps), .syscalls = OVL_SYSCALLS_MOUNT },
        .assemble = bind_assemble,
        .destroy = bind_destroy,
        .owns_scratch = bind_owns_scratch,
        .in_place = bind_in_place,
};
