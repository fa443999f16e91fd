#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/copy_meta.h"
#include "namespaces/idmap.h"
#include "backends/whiteout.h"
#include "common/fsutil.h"
#include "common/macro.h"

static ssize_t ref_listxattr(const struct ovl_node_ref *ref, const char *path, char *buf, size_t size)
{
        return ref->fd >= 0 ? flistxattr(ref->fd, buf, size) : llistxattr(path, buf, size);
}

static ssize_t ref_getxattr(const struct ovl_node_ref *ref, const char *path, const char *key, void *buf, size_t size)
{
        return ref->fd >= 0 ? fgetxattr(ref->fd, key, buf, size) : lgetxattr(path, key, buf, size);
}

static int ref_setxattr(const struct ovl_node_ref *ref, const char *path, const char *key, const void *val, size_t size)
{
        return ref->fd >= 0 ? fsetxattr(ref->fd, key, val, size, 0) : lsetxattr(path, key, val, size, 0);
}

/* -errno for the call that just failed. EOVERFLOW is what ovl_copy_metadata says for an owner that
 * has no id (OVL_COPY_EUNMAPPED), so where any other call says it (a value or size that does not
 * fit), it becomes EINVAL and cannot be taken for that. */
static int fail_errno(void)
{
        return errno == OVL_COPY_EUNMAPPED ? -EINVAL : -errno;
}

/* Lists src's xattr names into a new buffer. */
static int list_names(const struct ovl_node_ref *src, const char *path, char **ret, size_t *ret_len)
{
        char small[512];
        ssize_t n = ref_listxattr(src, path, small, sizeof(small));

        if (n == 0 || (n < 0 && (errno == ENOTSUP || errno == ENODATA))) {
                *ret_len = 0;
                *ret = NULL;
                return 0;
        }
        if (n > 0) {
                *ret = malloc((size_t) n);
                if (!*ret)
                        return -ENOMEM;
                memcpy(*ret, small, (size_t) n);
                *ret_len = (size_t) n;
                return 0;
        }
        if (errno != ERANGE)
                return fail_errno();
        for (;;) {
                _cleanup_free_ char *buf = NULL;
                n = ref_listxattr(src, path, NULL, 0);
                if (n < 0)
                        return fail_errno();
                buf = malloc((size_t) n + 1);
                if (!buf)
                        return -ENOMEM;
                n = ref_listxattr(src, path, buf, (size_t) n + 1);
                if (n >= 0) {
                        *ret = TAKE_PTR(buf);
                        *ret_len = (size_t) n;
                        return 0;
                }
                if (errno != ERANGE)
                        return fail_errno();
        }
}

/* Copies one xattr, with the ids it holds (security.capability, POSIX ACLs) mapped through idmap. */
static int copy_one_xattr(const struct ovl_node_ref *src, const char *spath, const struct ovl_node_ref *dst,
                          const char *dpath, const char *key, const struct ovl_idmap *idmap)
{
        char small[256];
        _cleanup_free_ char *big = NULL;
        void *val = small;
        ssize_t n = ref_getxattr(src, spath, key, small, sizeof(small));

        size_t len;

        if (n < 0 && errno == ERANGE) {
                n = ref_getxattr(src, spath, key, NULL, 0);
                /* Room for a v2 capability to grow into v3. */
                if (n >= 0 && !(big = malloc((size_t) n + 8)))
                        return -ENOMEM;
                if (n >= 0)
                        n = ref_getxattr(src, spath, key, big, (size_t) n + 1);
                val = big;
        }
        if (n < 0)
                return errno == ENODATA ? 0 : fail_errno();
        len = (size_t) n;
        if (idmap)
                ovl_idmap_xattr(idmap, key, val, &len);
        if (ref_setxattr(dst, dpath, key, val, len) < 0)
                return fail_errno();
        return 0;
}

/* Copies src's xattrs to dst; sets *ret_acl when a POSIX ACL was among them. */
static int copy_xattrs(const struct ovl_node_ref *src, const struct ovl_node_ref *dst, const struct ovl_idmap *idmap,
                       bool *ret_acl)
{
        char spath[OVL_FD_PATH_MAX], dpath[OVL_FD_PATH_MAX];
        _cleanup_free_ char *names = NULL;
        size_t len = 0;
        int r;

        if (src->fd < 0 && (r = ovl_fd_path(spath, sizeof(spath), src->dirfd, src->name)) < 0)
                return r;
        if (dst->fd < 0 && (r = ovl_fd_path(dpath, sizeof(dpath), dst->dirfd, dst->name)) < 0)
                return r;
        r = list_names(src, spath, &names, &len);
        if (r < 0)
                return r;
        for (size_t off = 0; off < len; off += strlen(names + off) + 1) {
                if (ovl_xattr_is_overlay_private(names + off))
                        continue;
                if (strncmp(names + off, "system.posix_acl_", 17) == 0)
                        *ret_acl = true;
                r = copy_one_xattr(src, spath, dst, dpath, names + off, idmap);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Our own ids, read once for every thread of the copy engine. */
static uid_t euid;
static gid_t egid;
static pthread_once_t ids_once = PTHREAD_ONCE_INIT;

static void read_ids(void)
{
        euid = geteuid();
        egid = getegid();
}

int ovl_copy_metadata(const struct ovl_node_ref *src, const struct ovl_node_ref *dst, const struct stat *st,
                      mode_t created_mode, const struct ovl_idmap *idmap)
{
        const struct timespec times[2] = { st->st_atim, st->st_mtim };
        bool is_link = S_ISLNK(st->st_mode), chowned = false, has_acl = false;
        uid_t uid = idmap ? ovl_idmap_uid(idmap, st->st_uid) : st->st_uid;
        gid_t gid = idmap ? ovl_idmap_gid(idmap, st->st_gid) : st->st_gid;
        int r;

        pthread_once(&ids_once, read_ids);
        /* New entries are ours; skip the chown when that is already the right owner. */
        if (uid != euid || gid != egid) {
                r = dst->fd >= 0 ? fchown(dst->fd, uid, gid)
                                 : fchownat(dst->dirfd, dst->name, uid, gid, AT_SYMLINK_NOFOLLOW);
                /* The kernel says EINVAL for an id this user namespace has no mapping for, and
                 * EOVERFLOW for one the destination's filesystem (or idmapped mount) cannot hold.
                 * Rootless, both mean the owner cannot be kept here. In the initial namespace every
                 * id is mapped, so it is the destination that refuses: a plain EINVAL. */
                if (r < 0 && (errno == EINVAL || errno == EOVERFLOW))
                        return ovl_in_initial_userns() ? -EINVAL : -OVL_COPY_EUNMAPPED;
                if (r < 0)
                        return -errno;
                chowned = true;
        }
        r = copy_xattrs(src, dst, idmap, &has_acl);
        if (r < 0)
                return r;
        /* chown clears setuid/setgid and an ACL changes the group bits: only an untouched entry
         * created with exactly the right mode may skip the chmod. */
        if (!is_link && (chowned || (st->st_mode & 07777) != created_mode || has_acl)) {
                r = dst->fd >= 0 ? fchmod(dst->fd, st->st_mode & 07777)
                                 : fchmodat(dst->dirfd, dst->name, st->st_mode & 07777, 0);
                if (r < 0)
                        return fail_errno();
        }
        r = dst->fd >= 0 ? futimens(dst->fd, times) : utimensat(dst->dirfd, dst->name, times, AT_SYMLINK_NOFOLLOW);
        return r < 0 ? fail_errno() : 0;
}
