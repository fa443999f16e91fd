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

struct scan {
        const struct ovl_layer *layer;
        ovl_marker_fn fn;
        void *ctx;
        struct ovl_error *err;
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

static int report(struct scan *s, enum ovl_marker_kind kind, bool user_ns, const char *dir, const char *name,
                  const char *target)
{
        struct ovl_marker m = { .kind = kind, .user_ns = user_ns, .dir = dir, .name = name, .target = target };

        return s->fn(s->ctx, &m, s->err);
}

/* Reports the markers a directory carries in its own xattrs. */
static int report_dir_xattrs(struct scan *s, int parent_fd, const char *name, const char *path, bool *ret_xattr_wh)
{
        unsigned bits = 0;
        int r = ovl_entry_read_xattrs(parent_fd, name, &bits);
        bool user = !!(bits & OVL_XATTR_USER_NS);

        if (r < 0)
                return scan_fail(s, path, "", -r, "cannot read xattrs");
        *ret_xattr_wh = !!(bits & OVL_XATTR_HAS_WHITEOUTS);
        if (bits & OVL_XATTR_OPAQUE)
                r = report(s, OVL_MARKER_OPAQUE_DIR, user, path, ".", NULL);
        if (r == 0 && *ret_xattr_wh)
                r = report(s, OVL_MARKER_XATTR_DIR, user, path, ".", NULL);
        return r;
}

static int scan_dir(struct scan *s, int fd, char *path, size_t len, size_t cap, bool xattr_wh);

/* One entry of the directory at path: a marker by name, by device number or by xattr, or a
 * directory to descend into. */
static int scan_entry(struct scan *s, int dirfd, const struct dirent *de, char *path, size_t len, size_t cap,
                      bool xattr_wh)
{
        struct stat st = { .st_mode = S_IFREG, .st_nlink = 1 };
        struct ovl_entry_info info;
        unsigned bits = 0;
        size_t n = strlen(de->d_name);
        int r;

        if (strncmp(de->d_name, OVL_AUFS_PREFIX, strlen(OVL_AUFS_PREFIX)) == 0) {
                if (ovl_entry_classify(de->d_name, &st, 0, false, &info) < 0)
                        return scan_fail(s, path, de->d_name, 0, "malformed whiteout (it names no entry)");
                return report(s, info.type == OVL_ENTRY_WHITEOUT ? OVL_MARKER_AUFS_WHITEOUT
                                 : info.type == OVL_ENTRY_OPAQUE_MARKER ? OVL_MARKER_AUFS_OPAQUE
                                                                        : OVL_MARKER_AUFS_META,
                              false, path, de->d_name, info.type == OVL_ENTRY_WHITEOUT ? info.target : NULL);
        }
        /* Only directories, devices and (in a marked directory) regular files can be markers: the
         * rest need no stat at all. */
        if (de->d_type != DT_DIR && de->d_type != DT_CHR && de->d_type != DT_UNKNOWN &&
            !(de->d_type == DT_REG && xattr_wh))
                return 0;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return scan_fail(s, path, de->d_name, errno, "cannot stat");
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
                return report(s, OVL_MARKER_CHARDEV, false, path, de->d_name, de->d_name);
        if (S_ISREG(st.st_mode) && xattr_wh && st.st_size == 0) {
                r = ovl_entry_read_xattrs(dirfd, de->d_name, &bits);
                if (r < 0)
                        return scan_fail(s, path, de->d_name, -r, "cannot read xattrs");
                if (bits & OVL_XATTR_WHITEOUT)
                        return report(s, OVL_MARKER_XATTR_WHITEOUT, !!(bits & OVL_XATTR_USER_NS), path,
                                      de->d_name, de->d_name);
                return 0;
        }
        if (!S_ISDIR(st.st_mode))
                return 0;
        if (len + n + 2 > cap)
                return scan_fail(s, path, de->d_name, ENAMETOOLONG, "path too long to scan");
        if (len)
                path[len++] = '/';
        memcpy(path + len, de->d_name, n + 1);
        {
                _cleanup_close_ int child = -1;
                bool child_xattr_wh = false;

                r = report_dir_xattrs(s, dirfd, de->d_name, path, &child_xattr_wh);
                if (r == 0) {
                        child = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        r = child < 0 ? scan_fail(s, path, "", errno, "cannot open directory")
                                      : scan_dir(s, child, path, len + n, cap, child_xattr_wh);
                }
        }
        path[len ? len - 1 : 0] = '\0';
        return r;
}

static int scan_dir(struct scan *s, int fd, char *path, size_t len, size_t cap, bool xattr_wh)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

        if (dfd < 0 || !(d = fdopendir(dfd))) {
                int e = errno;
                if (dfd >= 0)
                        close(dfd);
                return scan_fail(s, path, "", e, "cannot read directory");
        }
        while (r == 0 && (errno = 0, de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        r = scan_entry(s, dirfd(d), de, path, len, cap, xattr_wh);
        if (r == 0 && errno)
                r = scan_fail(s, path, "", errno, "cannot read directory");
        return r;
}

int ovl_layer_scan_markers(const struct ovl_layer *layer, ovl_marker_fn fn, void *ctx, struct ovl_error *err)
{
        struct scan s = { .layer = layer, .fn = fn, .ctx = ctx, .err = err };
        /* PATH_MAX bounds what a layer's relative paths can be when the layer is read by path;
         * deeper trees are refused with a message rather than truncated. */
        const size_t cap = 4 * 4096;
        _cleanup_free_ char *path = calloc(1, cap);
        bool xattr_wh = false;
        int r;

        if (!path)
                return ovl_error_fail(err, ENOMEM, "layer %s", layer->path);
        r = report_dir_xattrs(&s, layer->fd, ".", "", &xattr_wh);
        return r < 0 ? r : scan_dir(&s, layer->fd, path, 0, cap, xattr_wh);
}
