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
#include "common/macro.h"
#include "lifecycle/internal.h"
#include "lifecycle/lifecycle.h"
#include "lifecycle/who.h"
#include "state/workdir.h"

/* Rolls back an unfinished record left by a run that died: removes what it made, then the record. */
int ovl_lifecycle_rollback(struct ovl_workdir *wd, const char *id, const struct ovl_record *rec, struct ovl_error *err)
{
        const struct ovl_backend_ops *b = ovl_backend_find(rec->backend);
        int r;

        if (!b)
                return ovl_error_fail(err, 0, "record %s/rootfs/%s: unknown backend %s", wd->path, id, rec->backend);
        r = ovl_worker_destroy(wd->path, b, rec, err);
        /* -ESTALE: what it made is gone and someone else's tree stands there; forget the record. */
        return r < 0 && r != -ESTALE ? r : ovl_workdir_remove_record(wd, id, err);
}

int ovl_lifecycle_find_record(const char *work_dir, const char *rootfs, enum ovl_err_class not_found,
                              struct ovl_workdir *wd, char id[], int *ret_lock_fd, struct ovl_record *rec,
                              struct ovl_error *err)
{
        _cleanup_free_ char *canonical = NULL;
        int r;

        r = ovl_path_canonical_parent(rootfs, &canonical);
        if (r < 0)
                return ovl_error_set(err, not_found, 0, "rootfs %s: not assembled by ovlbackend", rootfs);
        r = ovl_workdir_open(work_dir, false, wd, err);
        if (r == -ENOENT)
                return ovl_error_set(err, not_found, 0, "rootfs %s: not assembled by ovlbackend", rootfs);
        if (r < 0)
                return r;
        ovl_workdir_record_id(canonical, id);
        if (ret_lock_fd) {
                r = ovl_workdir_lock(wd, id, true, ret_lock_fd, err);
                if (r < 0)
                        return r;
        }
        r = ovl_workdir_load_record(wd, id, rec, err);
        if (r == 0 && strcmp(rec->rootfs, canonical) != 0) {
                ovl_record_clear(rec);
                r = -ENOENT;
        }
        if (r == -ENOENT) {
                if (ret_lock_fd)
                        ovl_workdir_unlock(wd, id, TAKE_FD(*ret_lock_fd), true);
                return ovl_error_set(err, not_found, 0, "rootfs %s: not assembled by ovlbackend", rootfs);
        }
        return r;
}

int ovl_lifecycle_destroy(const char *work_dir, const char *rootfs, struct ovl_record *ret_rec, struct ovl_error *err)
{
        struct ovl_workdir wd = { .fd = -1, .rootfs_fd = -1, .locks_fd = -1 };
        struct ovl_record rec = { 0 };
        const struct ovl_backend_ops *b;
        char id[OVL_RECORD_ID_LEN + 1] = "";
        int lock_fd = -1, r;

        r = ovl_lifecycle_find_record(work_dir, rootfs, OVL_ERR_FAILED, &wd, id, &lock_fd, &rec, err);
        if (r < 0)
                goto out;
        b = ovl_backend_find(rec.backend);
        if (!b) {
                r = ovl_error_fail(err, 0, "rootfs %s: record names unknown backend %s", rootfs, rec.backend);
                goto out;
        }
        /* Marked first, so a destroy that dies half-way is finished by gc, not mistaken for live;
         * with what tells its mount's holders once it is off the host, for an older record. */
        rec.state = OVL_RECORD_DESTROYING;
        ovl_who_learn_mount(b, &rec);
        r = ovl_workdir_save_record(&wd, id, &rec, err);
        if (r == 0)
                r = ovl_worker_destroy(wd.path, b, &rec, err);
        if (r == 0 || r == -ESTALE) {
                int removed = ovl_workdir_remove_record(&wd, id, err);
                if (r == -ESTALE && removed == 0)
                        ovl_error_append(err, "; its record is forgotten");
                r = r ? r : removed;
        }
        /* Something busy (mounted below R, R still in use, a mount held elsewhere): who says who. */
        if (r < 0 && err && err->code == EBUSY)
                ovl_who_hint(err, rec.rootfs ? rec.rootfs : rootfs);
out:
        ovl_workdir_unlock(&wd, id, lock_fd, r == 0 || r == -ESTALE);
        ovl_workdir_close(&wd);
        if (r == 0)
                *ret_rec = rec;
        else
                ovl_record_clear(&rec);
        return r;
}
