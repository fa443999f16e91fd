#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/walk.h"
#include "common/gcreport.h"
#include "common/macro.h"

int ovl_gc_report_add(struct ovl_gc_report *rep, const char *what, const char *path, const char *detail, bool removed)
{
        struct ovl_gc_item *grown = realloc(rep->items, (rep->count + 1) * sizeof(*grown));
        struct ovl_gc_item item = {
                .what = strdup(what), .path = strdup(path), .detail = strdup(detail ? detail : ""), .removed = removed
        };

        if (grown)
                rep->items = grown;
        if (!grown || !item.what || !item.path || !item.detail) {
                free(item.what);
                free(item.path);
                free(item.detail);
                return -ENOMEM;
        }
        grown[rep->count++] = item;
        return 0;
}

void ovl_gc_report_clear(struct ovl_gc_report *report)
{
        for (size_t i = 0; i < report->count; i++) {
                free(report->items[i].what);
                free(report->items[i].path);
                free(report->items[i].detail);
        }
        free(report->items);
        *report = (struct ovl_gc_report){ 0 };
}

int ovl_gc_sweep_dir(const char *dir, ovl_gc_keep_fn keep, void *ctx, const char *what, const char *why,
                     struct ovl_gc_report *rep)
{
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        fd = -1; /* the DIR owns it now */
        while ((r = ovl_dir_next(d, &de)) > 0) {
                struct ovl_error e = { 0 };
                _cleanup_free_ char *path = NULL;
                int removed;

                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                if (keep(de->d_name, path, ctx))
                        continue;
                removed = ovl_remove_tree_at(dirfd(d), de->d_name, path, &e);
                if (ovl_gc_report_add(rep, what, path, removed < 0 ? e.msg : why, removed == 0) < 0)
                        return -ENOMEM;
        }
        return r;
}
