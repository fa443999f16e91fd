/* The shapes a backend may claim, checked for every claim a worker makes and for every path of a
 * record before destroy or gc act on it. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "lifecycle/internal.h"

/* A path as ovlbackend writes them: absolute, no empty, "." or ".." component, no trailing slash,
 * no component longer than NAME_MAX and shorter than PATH_MAX in all, so that every path a record
 * names can be looked up again (a name too long to look up is a record destroy can never finish). */
bool ovl_path_is_plain(const char *path)
{
        size_t component = 0;
        const char *p;

        if (path[0] != '/' || path[1] == '\0')
                return false;
        for (p = path; *p; p++) {
                if (*p != '/') {
                        if (++component > NAME_MAX)
                                return false;
                        continue;
                }
                component = 0;
                if (p[1] == '/' || p[1] == '\0' || (p[1] == '.' && (p[2] == '/' || p[2] == '\0')) ||
                    (p[1] == '.' && p[2] == '.' && (p[3] == '/' || p[3] == '\0')))
                        return false;
        }
        return (size_t) (p - path) < PATH_MAX;
}

/* Whether the backend b may claim path as kind for rec: its own scratch shapes, R as its mount,
 * an entry directly in WORK/layers/ as a cache (only a backend with caches, which has a gc op to
 * sweep them). record_dir is WORK/rootfs/<id>. */
bool ovl_claim_allowed(const char *work_dir, const char *record_dir, const struct ovl_backend_ops *b,
                       const struct ovl_record *rec, enum ovl_claim_kind kind, const char *path)
{
        size_t n = strlen(work_dir);

        if (!ovl_path_is_plain(path))
                return false;
        switch (kind) {
        case OVL_CLAIM_SCRATCH:
                return b->owns_scratch(rec, record_dir, path) == 1;
        case OVL_CLAIM_MOUNT:
                return (b->needs & OVL_NEEDS_MOUNT) && strcmp(path, rec->rootfs) == 0;
        case OVL_CLAIM_CACHE:
                return b->gc && strncmp(path, work_dir, n) == 0 && strncmp(path + n, "/layers/", 8) == 0 &&
                       !strchr(path + n + 8, '/');
        }
        return false;
}

static char *record_dir_of(const char *work_dir, const struct ovl_record *rec)
{
        char id[OVL_RECORD_ID_LEN + 1], *dir;

        ovl_workdir_record_id(rec->rootfs, id);
        return asprintf(&dir, "%s/rootfs/%s", work_dir, id) < 0 ? NULL : dir;
}

/* A record lists only what its backend may claim, and layers as ovlbackend records them (canonical
 * absolute paths). A record naming anything else was not written by ovlbackend, and nothing it
 * names is touched. Returns 0 or -errno with err set. */
int ovl_record_check(const char *work_dir, const struct ovl_backend_ops *b, const struct ovl_record *rec,
                     struct ovl_error *err)
{
        const struct {
                enum ovl_claim_kind kind;
                const struct ovl_strlist *list;
        } lists[] = { { OVL_CLAIM_SCRATCH, &rec->scratch },
                      { OVL_CLAIM_MOUNT, &rec->mounts },
                      { OVL_CLAIM_CACHE, &rec->caches } };
        _cleanup_free_ char *record_dir = record_dir_of(work_dir, rec);
        const char *bad = NULL;

        if (!record_dir)
                return ovl_error_fail(err, ENOMEM, "record of %s", rec->rootfs);
        for (size_t l = 0; l < ARRAY_SIZE(lists) && !bad; l++)
                for (size_t i = 0; i < lists[l].list->count && !bad; i++)
                        if (!ovl_claim_allowed(work_dir, record_dir, b, rec, lists[l].kind, lists[l].list->items[i]))
                                bad = lists[l].list->items[i];
        for (size_t i = 0; i < rec->layers.count && !bad; i++)
                if (!ovl_path_is_plain(rec->layers.items[i]))
                        bad = rec->layers.items[i];
        if (bad) {
                ovl_error_fail(err, 0,
                               "record %s/record: names %s, which the %s backend never makes for %s; "
                               "nothing removed (a record ovlbackend did not write?)",
                               record_dir, bad, b->name, rec->rootfs);
                return -EPERM;
        }
        return 0;
}
