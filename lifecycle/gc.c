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
#include "common/gcreport.h"
#include "common/macro.h"
#include "lifecycle/internal.h"
#include "lifecycle/lifecycle.h"
#include "probe/probe.h"
#include "state/workdir.h"

/* Whether a record names the rootfs its directory is named after (the hash of its path). */
static bool record_is_its_dirs(const struct ovl_record *rec, const char *id)
{
        char want[OVL_RECORD_ID_LEN + 1];

        ovl_workdir_record_id(rec->rootfs, want);
        return strcmp(want, id) == 0;
}

/* One record directory: roll back an unfinished record, or remove a directory without one. */
static int gc_record(struct ovl_workdir *wd, const char *id, struct ovl_gc_report *rep)
{
        struct ovl_error e = { 0 };
        struct ovl_record rec = { 0 };
        _cleanup_free_ char *path = NULL;
        int lock_fd = -1, r;

        if (asprintf(&path, "%s/rootfs/%s", wd->path, id) < 0)
                return -ENOMEM;
        r = ovl_workdir_lock(wd, id, false, &lock_fd, &e);
        if (r == -EBUSY)
                return 0; /* an operation holds it: not a leftover */
        if (r < 0)
                return ovl_gc_report_add(rep, "record", path, e.msg, false);
        r = ovl_workdir_load_record(wd, id, &rec, &e);
        if (r == -ENOENT) {
                r = ovl_workdir_remove_record(wd, id, &e);
                ovl_gc_report_add(rep, "record", path, r < 0 ? e.msg : "directory without a record", r == 0);
        } else if (r < 0) {
                ovl_gc_report_add(rep, "record", path, e.msg, false);
        } else if (!record_is_its_dirs(&rec, id)) {
                /* Rolling it back would act on another rootfs' paths without holding its lock. */
                r = -EPERM;
                ovl_gc_report_add(rep, "record", path, "names a rootfs whose record lives elsewhere; left alone",
                                  false);
        } else if (rec.state != OVL_RECORD_READY) {
                r = ovl_lifecycle_rollback(wd, id, &rec, &e);
                ovl_gc_report_add(rep, "record", path, r < 0 ? e.msg : rec.rootfs, r == 0);
        }
        ovl_workdir_unlock(wd, id, lock_fd, r == 0 && rec.state != OVL_RECORD_READY);
        ovl_record_clear(&rec);
        return 0;
}

/* Whether the lock file `name` belongs to a rootfs without a record, checked again under its lock
 * (an assemble may have created the record meanwhile); if so it is removed. Returns 1 when it was. */
static int remove_orphan_lock(struct ovl_workdir *wd, const char *name)
{
        char id[OVL_RECORD_ID_LEN + 1];
        struct stat st;
        int lock_fd = -1;

        if (strlen(name) != OVL_RECORD_ID_LEN + 5 || strcmp(name + OVL_RECORD_ID_LEN, ".lock") != 0)
                return 0;
        snprintf(id, sizeof(id), "%.*s", OVL_RECORD_ID_LEN, name);
        if (fstatat(wd->rootfs_fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
            ovl_workdir_lock(wd, id, false, &lock_fd, NULL) < 0)
                return 0;
        if (fstatat(wd->rootfs_fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                ovl_workdir_unlock(wd, id, lock_fd, false);
                return 0;
        }
        ovl_workdir_unlock(wd, id, lock_fd, true);
        return 1;
}

/* Lock files of rootfses that no longer have a record (left when a run died between steps). */
static int gc_locks(struct ovl_workdir *wd, struct ovl_gc_report *rep)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int fd = openat(wd->locks_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                safe_close(fd);
                return r;
        }
        while ((r = ovl_dir_next(d, &de)) > 0) {
                _cleanup_free_ char *path = NULL;

                if (!remove_orphan_lock(wd, de->d_name))
                        continue;
                if (asprintf(&path, "%s/locks/%s", wd->path, de->d_name) < 0 ||
                    ovl_gc_report_add(rep, "lock", path, "lock file without a record", true) < 0)
                        return -ENOMEM;
        }
        return r;
}

/* Every cache path the work dir's records name, read once. Returns 0 or -ENOMEM. */
static int caches_in_use(struct ovl_workdir *wd, struct ovl_strlist *ret)
{
        char **ids = NULL;
        size_t n_ids = 0;
        int r = ovl_workdir_list_ids(wd, &ids, &n_ids);

        for (size_t i = 0; r == 0 && i < n_ids; i++) {
                struct ovl_record rec = { 0 };
                if (ovl_workdir_load_record(wd, ids[i], &rec, NULL) < 0)
                        continue;
                for (size_t j = 0; r == 0 && j < rec.caches.count; j++)
                        r = ovl_strlist_append(ret, rec.caches.items[j]);
                ovl_record_clear(&rec);
        }
        ovl_strv_free(ids);
        return r;
}

/* Each backend's shared caches that no record names, under the backend's own rules. */
static int gc_caches(struct ovl_workdir *wd, struct ovl_gc_report *rep)
{
        struct ovl_strlist used = { 0 };
        int r = caches_in_use(wd, &used);

        for (const struct ovl_backend_ops *const *b = ovl_backends; r == 0 && *b; b++)
                if ((*b)->gc)
                        r = (*b)->gc(wd->path, &used, rep);
        ovl_strlist_clear(&used);
        return r;
}

int ovl_lifecycle_gc(const char *work_dir, struct ovl_gc_report *ret, struct ovl_error *err)
{
        struct ovl_workdir wd;
        char **ids = NULL;
        size_t n_ids = 0;
        int r;

        *ret = (struct ovl_gc_report){ 0 };
        r = ovl_workdir_open_ids(work_dir, &wd, &ids, &n_ids, err);
        if (r <= 0)
                return r;
        r = 0;
        for (size_t i = 0; r == 0 && i < n_ids; i++)
                r = gc_record(&wd, ids[i], ret);
        if (r == 0)
                r = gc_locks(&wd, ret);
        if (r == 0)
                r = gc_caches(&wd, ret);
        if (r == 0)
                r = ovl_probe_gc(wd.path, ret);
        ovl_strv_free(ids);
        ovl_workdir_close(&wd);
        if (r < 0)
                return ovl_error_fail(err, -r, "gc %s", work_dir);
        return 0;
}
