#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backends/markers.h"
#include "backends/whiteout.h"
#include "common/fsutil.h"
#include "common/macro.h"

/* The scan recurses and keeps one directory open per level, so how deep it goes must be bounded:
 * a relative path longer than this (some 8000 levels of one-letter names) is refused with a message
 * rather than walked. */
#define SCAN_PATH_MAX (16 * 1024)

struct scan {
        const struct ovl_layer *layer;
        ovl_marker_fn fn;
        void *ctx;
        struct ovl_error *err;
        char *path; /* the directory being scanned, relative to the layer ("" = root) */
        size_t len, cap;
};

bool ovl_marker_is_native(const struct ovl_marker *m)
{
        switch (m->kind) {
        case OVL_MARKER_CHARDEV:
                return true;
        case OVL_MARKER_XATTR_WHITEOUT:
        case OVL_MARKER_OPAQUE_DIR:
        case OVL_MARKER_XATTR_DIR:
                /* A userxattr mount (outside the initial user namespace) reads user.overlay.*. */
                return ovl_in_initial_userns() ? !m->user_ns : m->user_ns;
        default:
                return false;
        }
}

static int scan_fail(struct scan *s, const char *dir, const char *name, int errnum, const char *what)
{
        return ovl_error_fail(s->err, errnum, "layer %s: %s%s%s: %s", s->layer->path, dir, *dir && *name ? "/" : "",
                              *dir || *name ? name : ".", what);
}

/* Appends "/name" (or "name" at the root) to the scan's path; returns the old length in *ret_old.
 * Returns 0, -ENAMETOOLONG beyond SCAN_PATH_MAX, or -ENOMEM. */
static int path_push(struct scan *s, const char *name, size_t *ret_old)
{
        size_t n = strlen(name), need = s->len + n + 2;

        if (need > SCAN_PATH_MAX)
                return -ENAMETOOLONG;
        if (need > s->cap) {
                size_t cap = need * 2 < SCAN_PATH_MAX ? need * 2 : SCAN_PATH_MAX;
                char *grown = realloc(s->path, cap);

                if (!grown)
                        return -ENOMEM;
                s->path = grown;
                s->cap = cap;
        }
        *ret_old = s->len;
        if (s->len > 0)
                s->path[s->len++] = '/';
        memcpy(s->path + s->len, name, n + 1);
        s->len += n;
        return 0;
}

static void path_pop(struct scan *s, size_t old)
{
        s->len = old;
        s->path[old] = '\0';
}

static int report(struct scan *s, enum ovl_marker_kind kind, bool user_ns, int dirfd, const char *name,
                  const char *target)
{
        struct ovl_marker m = {
                .kind = kind, .user_ns = user_ns, .dir = s->path, .name = name, .target = target, .dirfd = dirfd
        };

        return s->fn(s->ctx, &m, s->err);
}

/* Reports the markers the directory parent_fd/name, the scan's current path, carries in its own
 * xattrs. */
static int report_dir_xattrs(struct scan *s, int parent_fd, const char *name, bool *ret_xattr_wh)
{
        unsigned bits = 0;
        int r = ovl_entry_read_xattrs(parent_fd, name, &bits);
        bool user = !!(bits & OVL_XATTR_USER_NS);

        if (r < 0)
                return scan_fail(s, s->path, "", -r, "cannot read xattrs");
        *ret_xattr_wh = !!(bits & OVL_XATTR_HAS_WHITEOUTS);
        if (bits & OVL_XATTR_OPAQUE)
                r = report(s, OVL_MARKER_OPAQUE_DIR, user, -1, ".", NULL);
        if (r == 0 && *ret_xattr_wh)
                r = report(s, OVL_MARKER_XATTR_DIR, user, -1, ".", NULL);
        return r;
}

static int scan_dir(struct scan *s, int fd, bool xattr_wh);

/* One entry of the directory at the scan's path: a marker by name, by device number or by xattr, or
 * a directory to descend into. */
static int scan_entry(struct scan *s, int dirfd, const struct dirent *de, bool xattr_wh)
{
        struct stat st = { .st_mode = S_IFREG, .st_nlink = 1 };
        struct ovl_entry_info info;
        bool child_xattr_wh = false;
        unsigned bits = 0;
        size_t old;
        int child, r;

        if (strncmp(de->d_name, OVL_AUFS_PREFIX, strlen(OVL_AUFS_PREFIX)) == 0) {
                if (ovl_entry_classify(de->d_name, &st, 0, false, &info) < 0)
                        return scan_fail(s, s->path, de->d_name, 0, "malformed whiteout (it names no entry)");
                return report(s,
                              info.type == OVL_ENTRY_WHITEOUT        ? OVL_MARKER_AUFS_WHITEOUT
                              : info.type == OVL_ENTRY_OPAQUE_MARKER ? OVL_MARKER_AUFS_OPAQUE
                                                                     : OVL_MARKER_AUFS_META,
                              false, dirfd, de->d_name, info.type == OVL_ENTRY_WHITEOUT ? info.target : NULL);
        }
        /* Only directories, devices and (in a marked directory) regular files can be markers: the
         * rest need no stat at all. */
        if (de->d_type != DT_DIR && de->d_type != DT_CHR && de->d_type != DT_UNKNOWN &&
            !(de->d_type == DT_REG && xattr_wh))
                return 0;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return scan_fail(s, s->path, de->d_name, errno, "cannot stat");
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
                return report(s, OVL_MARKER_CHARDEV, false, dirfd, de->d_name, de->d_name);
        if (S_ISREG(st.st_mode) && xattr_wh && st.st_size == 0) {
                r = ovl_entry_read_xattrs(dirfd, de->d_name, &bits);
                if (r < 0)
                        return scan_fail(s, s->path, de->d_name, -r, "cannot read xattrs");
                if (bits & OVL_XATTR_WHITEOUT)
                        return report(s, OVL_MARKER_XATTR_WHITEOUT, !!(bits & OVL_XATTR_USER_NS), dirfd, de->d_name,
                                      de->d_name);
                return 0;
        }
        if (!S_ISDIR(st.st_mode))
                return 0;
        r = path_push(s, de->d_name, &old);
        if (r < 0)
                return scan_fail(s, s->path, de->d_name, -r,
                                 r == -ENAMETOOLONG ? "path too long to scan" : "cannot scan");
        r = report_dir_xattrs(s, dirfd, de->d_name, &child_xattr_wh);
        if (r == 0) {
                child = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = child < 0 ? scan_fail(s, s->path, "", errno, "cannot open directory")
                              : scan_dir(s, child, child_xattr_wh);
        }
        path_pop(s, old);
        return r;
}

/* Scans the directory fd (taken: closed here), the scan's current path. */
static int scan_dir(struct scan *s, int fd, bool xattr_wh)
{
        _cleanup_closedir_ DIR *d = fdopendir(fd);
        struct dirent *de;
        int r;

        if (!d) {
                safe_close(fd);
                return scan_fail(s, s->path, "", errno, "cannot read directory");
        }
        while ((r = ovl_dir_next(d, &de)) > 0) {
                r = scan_entry(s, dirfd(d), de, xattr_wh);
                if (r < 0)
                        return r;
        }
        return r < 0 ? scan_fail(s, s->path, "", -r, "cannot read directory") : 0;
}

int ovl_layer_scan_markers(const struct ovl_layer *layer, ovl_marker_fn fn, void *ctx, struct ovl_error *err)
{
        struct scan s = { .layer = layer, .fn = fn, .ctx = ctx, .err = err, .path = calloc(1, 256), .cap = 256 };
        bool xattr_wh = false;
        int fd, r;

        if (!s.path)
                return ovl_error_fail(err, ENOMEM, "layer %s", layer->path);
        r = report_dir_xattrs(&s, layer->fd, ".", &xattr_wh);
        if (r == 0) {
                /* The listing needs an fd of its own: the layer's stays the caller's. */
                fd = openat(layer->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = fd < 0 ? scan_fail(&s, "", "", errno, "cannot read directory") : scan_dir(&s, fd, xattr_wh);
        }
        free(s.path);
        return r;
}
