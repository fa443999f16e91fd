#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <libmount.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "common/mounttable.h"

OVL_DEFINE_CLEANUP_FUNC(ovl_mnt_unref_tablep, struct libmnt_table *, mnt_unref_table)
OVL_DEFINE_CLEANUP_FUNC(ovl_mnt_free_iterp, struct libmnt_iter *, mnt_free_iter)

/* Loads /proc/self/mountinfo. Returns 0 or -errno. */
static int load(struct libmnt_table **ret)
{
        _cleanup_(ovl_mnt_unref_tablep) struct libmnt_table *t = mnt_new_table();
        int r;

        if (!t)
                return -ENOMEM;
        r = mnt_table_parse_mtab(t, "/proc/self/mountinfo");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(t);
        return 0;
}

/* Calls match(fs, ctx) for every mount; stops and sets *ret when it returns true. */
static int any_mount(bool (*match)(struct libmnt_fs *fs, const void *ctx), const void *ctx, bool *ret)
{
        _cleanup_(ovl_mnt_unref_tablep) struct libmnt_table *t = NULL;
        _cleanup_(ovl_mnt_free_iterp) struct libmnt_iter *it = NULL;
        struct libmnt_fs *fs;
        int r = load(&t);

        if (r < 0)
                return r;
        it = mnt_new_iter(MNT_ITER_FORWARD);
        if (!it)
                return -ENOMEM;
        *ret = false;
        while (mnt_table_next_fs(t, it, &fs) == 0)
                if (match(fs, ctx)) {
                        *ret = true;
                        break;
                }
        return 0;
}

static bool target_is(struct libmnt_fs *fs, const void *path)
{
        const char *target = mnt_fs_get_target(fs);

        return target && strcmp(target, path) == 0;
}

static bool target_below(struct libmnt_fs *fs, const void *path)
{
        const char *target = mnt_fs_get_target(fs);

        return target && ovl_path_is_below(target, path);
}

static bool id_is(struct libmnt_fs *fs, const void *id)
{
        return mnt_fs_get_id(fs) >= 0 && (uint64_t) mnt_fs_get_id(fs) == *(const uint64_t *) id;
}

int ovl_mounttable_is_mounted(const char *path, bool *ret)
{
        return any_mount(target_is, path, ret);
}

int ovl_mounttable_has_mount_below(const char *path, bool *ret)
{
        return any_mount(target_below, path, ret);
}

int ovl_mounttable_has_id(uint64_t id, bool *ret)
{
        return any_mount(id_is, &id, ret);
}

int ovl_mounttable_source(const char *path, char **ret_source)
{
        _cleanup_(ovl_mnt_unref_tablep) struct libmnt_table *t = NULL;
        struct libmnt_fs *fs;
        int r = load(&t);

        if (r < 0)
                return r;
        /* Backwards: of mounts stacked on one target, the last one listed is the one on top. */
        fs = mnt_table_find_target(t, path, MNT_ITER_BACKWARD);
        if (!fs)
                return -ENOENT;
        *ret_source = strdup(mnt_fs_get_source(fs) ? mnt_fs_get_source(fs) : "");
        return *ret_source ? 0 : -ENOMEM;
}

int ovl_mounttable_source_of(int fd, char **ret_source)
{
        _cleanup_(ovl_mnt_unref_tablep) struct libmnt_table *t = NULL;
        _cleanup_(ovl_mnt_free_iterp) struct libmnt_iter *it = NULL;
        struct libmnt_fs *fs;
        struct statx sx;
        int r;

        /* STATX_MNT_ID (5.8+): the id mountinfo lists first on each line. */
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, 0x00001000U, &sx) < 0)
                return -errno;
        if (!(sx.stx_mask & 0x00001000U))
                return -EOPNOTSUPP;
        r = load(&t);
        if (r < 0)
                return r;
        it = mnt_new_iter(MNT_ITER_FORWARD);
        if (!it)
                return -ENOMEM;
        r = -ENOENT;
        while (r == -ENOENT && mnt_table_next_fs(t, it, &fs) == 0)
                if ((uint64_t) mnt_fs_get_id(fs) == sx.stx_mnt_id)
                        r = (*ret_source = strdup(mnt_fs_get_source(fs) ? mnt_fs_get_source(fs) : "")) ? 0 : -ENOMEM;
        return r;
}

int ovl_mounttable_each(FILE *f, ovl_mount_entry_fn fn, void *ctx)
{
        _cleanup_(ovl_mnt_unref_tablep) struct libmnt_table *t = mnt_new_table();
        _cleanup_(ovl_mnt_free_iterp) struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
        struct libmnt_fs *fs;
        int r;

        if (!t || !it)
                return -ENOMEM;
        r = mnt_table_parse_stream(t, f, "mountinfo");
        if (r < 0)
                return r;
        while (mnt_table_next_fs(t, it, &fs) == 0) {
                dev_t dev = mnt_fs_get_devno(fs);
                const struct ovl_mount_entry m = {
                        .id = mnt_fs_get_id(fs) < 0 ? 0 : (uint64_t) mnt_fs_get_id(fs),
                        .dev = (uint64_t) major(dev) << 32 | minor(dev),
                        .root = mnt_fs_get_root(fs) ? mnt_fs_get_root(fs) : "",
                        .target = mnt_fs_get_target(fs) ? mnt_fs_get_target(fs) : "",
                        .fstype = mnt_fs_get_fstype(fs) ? mnt_fs_get_fstype(fs) : "",
                        .source = mnt_fs_get_source(fs) ? mnt_fs_get_source(fs) : "",
                        .fs_options = mnt_fs_get_fs_options(fs) ? mnt_fs_get_fs_options(fs) : "",
                };
                r = fn(ctx, &m);
                if (r != 0)
                        return r;
        }
        return 0;
}

int ovl_mounttable_option(const char *options, const char *name, char **ret)
{
        char *value = NULL;
        size_t len = 0;

        *ret = NULL;
        /* 1: not there; a negative value: a malformed string, which names no option either. */
        if (mnt_optstr_get_option(options, name, &value, &len) != 0 || !value)
                return 0;
        *ret = strndup(value, len);
        return *ret ? 0 : -ENOMEM;
}