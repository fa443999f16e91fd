#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "common/fsutil.h"
#include "common/walk.h"
#include "common/macro.h"
#include "common/mounttable.h"
#include "lifecycle/lifecycle.h"
#include "lifecycle/who.h"
#include "state/workdir.h"

static int add_blocks(void *ctx, const struct ovl_walk_entry *e, struct ovl_error *err)
{
        (void) err;
        *(unsigned long long *) ctx += (unsigned long long) e->st->st_blocks * 512;
        return 0;
}

static int add_dir_blocks(void *ctx, const struct ovl_walk_entry *e, int fd, struct ovl_error *err)
{
        (void) fd;
        return add_blocks(ctx, e, err);
}

/* Bytes allocated below path, not entering other mounts, with a bounded number of fds at any
 * depth. Best effort: what cannot be read counts 0. */
static unsigned long long tree_bytes(const char *path)
{
        unsigned long long total = 0;
        const struct ovl_walk_visitor v = { .ctx = &total, .file = add_blocks, .dir_enter = add_dir_blocks };

        (void) ovl_walk_tree_at(AT_FDCWD, path, OVL_WALK_SKIP_MOUNTS | OVL_WALK_KEEP_GOING, &v, path, NULL);
        return total;
}

/* Whether an unfinished record's mount is still held elsewhere, so that gc would keep it (a
 * destroy that found a container still running on a copy of the mount). Only for the backends
 * whose destroy waits for that: the scan reads all of /proc. */
static bool held(const struct ovl_backend_ops *b, const struct ovl_record *rec)
{
        struct ovl_who who;
        bool yes;

        if (!ovl_who_guards(b, rec) || ovl_who_scan(b, rec, &who, NULL) < 0)
                return false;
        yes = ovl_who_held(&who);
        ovl_who_clear(&who);
        return yes;
}

static void describe(struct ovl_workdir *wd, struct ovl_rootfs_info *info)
{
        const struct ovl_backend_ops *b = ovl_backend_find(info->rec.backend);
        int lock_fd = -1;

        info->presence = OVL_PRESENCE_MISSING;
        if (ovl_workdir_lock(wd, info->id, false, &lock_fd, NULL) == -EBUSY)
                info->presence = OVL_PRESENCE_BUSY;
        else if (info->rec.state != OVL_RECORD_READY)
                info->presence = OVL_PRESENCE_STALE;
        ovl_workdir_unlock(wd, info->id, lock_fd, false);
        /* After the unlock: the scan reads all of /proc, and a gc or destroy must not wait for it. */
        if (info->presence == OVL_PRESENCE_STALE && b && held(b, &info->rec))
                info->presence = OVL_PRESENCE_BUSY;
        (void) ovl_mounttable_is_mounted(info->rec.rootfs, &info->mounted);
        if (info->presence == OVL_PRESENCE_MISSING && b) {
                _cleanup_close_ int fd = open(info->rec.rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (b->in_place(&info->rec, fd) == 1)
                        info->presence = OVL_PRESENCE_PRESENT;
        }
        for (size_t i = 0; i < info->rec.scratch.count; i++)
                info->scratch_bytes += tree_bytes(info->rec.scratch.items[i]);
}

int ovl_lifecycle_list(const char *work_dir, struct ovl_rootfs_info **ret, size_t *ret_count, struct ovl_error *err)
{
        struct ovl_workdir wd;
        struct ovl_rootfs_info *infos = NULL;
        char **ids = NULL;
        size_t n_ids = 0, n = 0;
        int r;

        *ret = NULL;
        *ret_count = 0;
        r = ovl_workdir_open_ids(work_dir, &wd, &ids, &n_ids, err);
        if (r <= 0)
                return r;
        infos = calloc(n_ids + 1, sizeof(*infos));
        for (size_t i = 0; infos && i < n_ids; i++) {
                struct ovl_rootfs_info *info = &infos[n];
                /* A record that cannot be read is gc's business (it reports it), not list's. */
                if (ovl_workdir_load_record(&wd, ids[i], &info->rec, NULL) < 0)
                        continue;
                snprintf(info->id, sizeof(info->id), "%s", ids[i]);
                describe(&wd, info);
                n++;
        }
        ovl_strv_free(ids);
        ovl_workdir_close(&wd);
        if (!infos)
                return ovl_error_fail(err, ENOMEM, "list");
        *ret = infos;
        *ret_count = n;
        return 0;
}

void ovl_rootfs_info_free(struct ovl_rootfs_info *infos, size_t count)
{
        for (size_t i = 0; i < count; i++)
                ovl_record_clear(&infos[i].rec);
        free(infos);
}

const char *ovl_presence_name(const struct ovl_rootfs_info *info)
{
        switch (info->presence) {
        case OVL_PRESENCE_PRESENT:
                return info->mounted ? "mounted" : "present";
        case OVL_PRESENCE_MISSING:
                return "missing";
        case OVL_PRESENCE_STALE:
                return "stale";
        default:
                return "busy";
        }
}
