/* Mount options as data (see mountopts.h): built once, applied by fsconfig or formatted for
 * mount(2). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "backends/mountopts.h"
#include "common/macro.h"
#include "common/syscalls.h"

uint64_t ovl_mountopts_attrs(bool read_only, bool nosuid, bool nodev)
{
        return (read_only ? MOUNT_ATTR_RDONLY : 0) | (nosuid ? MOUNT_ATTR_NOSUID : 0) | (nodev ? MOUNT_ATTR_NODEV : 0);
}

unsigned long ovl_mountopts_ms_flags(uint64_t attrs)
{
        return (attrs & MOUNT_ATTR_RDONLY ? MS_RDONLY : 0) | (attrs & MOUNT_ATTR_NOSUID ? MS_NOSUID : 0) |
               (attrs & MOUNT_ATTR_NODEV ? MS_NODEV : 0);
}

void ovl_mountopts_clear(struct ovl_mount_params *p)
{
        free(p->items);
        *p = (struct ovl_mount_params){ 0 };
}

static int push(struct ovl_mount_params *p, const char *key, enum ovl_mount_param_kind kind, const char *value, int fd)
{
        if (p->count == p->allocated) {
                size_t n = p->allocated ? p->allocated * 2 : 16;
                struct ovl_mount_param *items = realloc(p->items, n * sizeof(*items));

                if (!items)
                        return -ENOMEM;
                p->items = items;
                p->allocated = n;
        }
        p->items[p->count++] = (struct ovl_mount_param){ .key = key, .kind = kind, .value = value, .fd = fd };
        return 0;
}

int ovl_mountopts_overlay(const struct ovl_mountopts_overlay_spec *spec, struct ovl_mount_params *ret)
{
        /* index=off, redirect_dir=nofollow and metacopy=off: nothing the mount does may depend on, or
         * write into, a lower layer, so one layer can sit under many overlays at once.
         * redirect_dir=nofollow: no redirect made, and none a layer carries followed. "off" is not
         * enough: a kernel built with OVERLAY_FS_REDIRECT_ALWAYS_FOLLOW (most distributions') still
         * follows a hostile layer's own trusted.overlay.redirect with it, and the view would show a
         * tree the layers do not hold. */
        static const char *const fixed[] = { "index", "off", "redirect_dir", "nofollow", "metacopy", "off" };
        /* The metadata stack: the kernel must read the metadata layer's metacopy and redirect
         * xattrs (metacopy=on needs redirect_dir=on). It reads them in that layer and the upper dir
         * only, both ovlbackend's; the layers are data-only, looked up by path, their own overlay
         * xattrs never read. */
        static const char *const fixed_meta[] = { "index", "off", "redirect_dir", "on", "metacopy", "on" };
        const char *const *opts = spec->n_data ? fixed_meta : fixed;
        int r;

        ret->count = 0;
        r = push(ret, "source", OVL_MOUNT_PARAM_STRING, spec->source, -1);
        /* lowerdir+ takes the layers top first. */
        for (size_t i = spec->n_lower; r == 0 && i-- > 0;)
                r = push(ret, "lowerdir+", OVL_MOUNT_PARAM_DIR_FD, NULL, spec->lower_fds[i]);
        for (size_t i = 0; r == 0 && i < spec->n_data; i++)
                r = push(ret, "datadir+", OVL_MOUNT_PARAM_DIR_FD, NULL, spec->data_fds[i]);
        if (r == 0 && spec->upper_fd >= 0)
                r = push(ret, "upperdir", OVL_MOUNT_PARAM_DIR_FD, NULL, spec->upper_fd);
        if (r == 0 && spec->work_fd >= 0)
                r = push(ret, "workdir", OVL_MOUNT_PARAM_DIR_FD, NULL, spec->work_fd);
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(fixed); i += 2)
                r = push(ret, opts[i], OVL_MOUNT_PARAM_STRING, opts[i + 1], -1);
        if (r == 0 && spec->volatile_upper)
                r = push(ret, "volatile", OVL_MOUNT_PARAM_FLAG, NULL, -1);
        if (r == 0 && spec->userxattr)
                r = push(ret, "userxattr", OVL_MOUNT_PARAM_FLAG, NULL, -1);
        return r;
}

int ovl_mountopts_tmpfs(const char *size, struct ovl_mount_params *ret)
{
        int r;

        ret->count = 0;
        r = push(ret, "mode", OVL_MOUNT_PARAM_STRING, "0755", -1);
        if (r == 0 && size)
                r = push(ret, "size", OVL_MOUNT_PARAM_STRING, size, -1);
        return r;
}

int ovl_mountopts_emit(const struct ovl_mount_params *p, bool dirs_by_fd, ovl_mountopts_sink sink, void *ctx)
{
        int r = 0;

        for (size_t i = 0; r == 0 && i < p->count; i++) {
                const struct ovl_mount_param *q = &p->items[i];
                /* A /proc/self/fd path is always short and never in need of escaping (fsconfig strings
                 * stop at 255 bytes). */
                char path[32];

                switch (q->kind) {
                case OVL_MOUNT_PARAM_FLAG:
                        r = sink(ctx, FSCONFIG_SET_FLAG, q->key, NULL, 0);
                        break;
                case OVL_MOUNT_PARAM_STRING:
                        r = sink(ctx, FSCONFIG_SET_STRING, q->key, q->value, 0);
                        break;
                case OVL_MOUNT_PARAM_DIR_FD:
                        if (dirs_by_fd) {
                                r = sink(ctx, FSCONFIG_SET_FD, q->key, NULL, q->fd);
                                break;
                        }
                        snprintf(path, sizeof(path), "/proc/self/fd/%d", q->fd);
                        r = sink(ctx, FSCONFIG_SET_STRING, q->key, path, 0);
                        break;
                default:
                        r = -EINVAL;
                }
        }
        return r == 0 ? sink(ctx, FSCONFIG_CMD_CREATE, NULL, NULL, 0) : r;
}

static int fsconfig_sink(void *ctx, unsigned int cmd, const char *key, const char *value, int aux)
{
        return ovl_fsconfig(*(const int *) ctx, cmd, key, value, aux) < 0 ? -errno : 0;
}

int ovl_mountopts_apply_fsconfig(int fs_fd, const struct ovl_mount_params *p, bool dirs_by_fd)
{
        return ovl_mountopts_emit(p, dirs_by_fd, fsconfig_sink, &fs_fd);
}

/* Whether key names an entry of a list ("lowerdir+"). */
static bool is_list_key(const char *key)
{
        size_t n = strlen(key);

        return n > 1 && key[n - 1] == '+';
}

int ovl_mountopts_format_legacy(const struct ovl_mount_params *p, char **ret_text)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        const char *list = NULL; /* the key of the list being written, or NULL */
        bool first = true;
        int r = 0;

        if (!f)
                return -ENOMEM;
        for (size_t i = 0; r == 0 && i < p->count; i++) {
                const struct ovl_mount_param *q = &p->items[i];
                bool in_list = is_list_key(q->key);
                char num[16];
                const char *value = q->value;

                if (strcmp(q->key, "source") == 0)
                        continue;
                if (q->kind == OVL_MOUNT_PARAM_DIR_FD) {
                        snprintf(num, sizeof(num), "%d", q->fd);
                        value = num;
                }
                /* The string has no escaping: a ',' would split an entry, a ':' a list entry. */
                if (strchr(q->key, ',') || (q->kind != OVL_MOUNT_PARAM_FLAG &&
                                            (!value || strchr(value, ',') || (in_list && strchr(value, ':'))))) {
                        r = -EINVAL;
                        break;
                }
                if (in_list && list && strcmp(list, q->key) == 0) {
                        fprintf(f, ":%s", value);
                        continue;
                }
                /* Data-only lowers follow the lowers after "::". */
                if (list && strcmp(list, "lowerdir+") == 0 && strcmp(q->key, "datadir+") == 0) {
                        fprintf(f, "::%s", value);
                        continue;
                }
                list = in_list ? q->key : NULL;
                fprintf(f, "%s%.*s", first ? "" : ",", (int) (strlen(q->key) - in_list), q->key);
                if (q->kind != OVL_MOUNT_PARAM_FLAG)
                        fprintf(f, "=%s", value);
                first = false;
        }
        if (fclose(f) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret_text = TAKE_PTR(text);
        return 0;
}
