#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "backends/whiteout.h"
#include "common/fsutil.h"
#include "common/macro.h"

static int classify_aufs_name(const char *name, struct ovl_entry_info *ret)
{
        const char *target;

        if (strcmp(name, OVL_AUFS_OPAQUE) == 0) {
                ret->type = OVL_ENTRY_OPAQUE_MARKER;
                ret->format = OVL_WHITEOUT_AUFS;
                return 0;
        }
        if (strncmp(name, OVL_AUFS_META_PREFIX, strlen(OVL_AUFS_META_PREFIX)) == 0) {
                ret->type = OVL_ENTRY_AUFS_META;
                ret->format = OVL_WHITEOUT_AUFS;
                return 0;
        }
        target = name + strlen(OVL_AUFS_PREFIX);
        /* A whiteout must name one real entry: "", "." and ".." would hide the directory itself
         * or its parent, which no store produces and a hostile layer must not get to do. */
        if (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0)
                return -EINVAL;
        ret->type = OVL_ENTRY_WHITEOUT;
        ret->format = OVL_WHITEOUT_AUFS;
        ret->target = target;
        return 0;
}

static enum ovl_entry_type type_from_mode(mode_t mode)
{
        switch (mode & S_IFMT) {
        case S_IFDIR:
                return OVL_ENTRY_DIRECTORY;
        case S_IFLNK:
                return OVL_ENTRY_SYMLINK;
        case S_IFCHR:
                return OVL_ENTRY_CHAR;
        case S_IFBLK:
                return OVL_ENTRY_BLOCK;
        case S_IFIFO:
                return OVL_ENTRY_FIFO;
        case S_IFSOCK:
                return OVL_ENTRY_SOCKET;
        default:
                return OVL_ENTRY_REGULAR;
        }
}

int ovl_entry_classify(const char *name, const struct stat *st, unsigned xattr_bits, bool parent_has_xattr_whiteouts,
                       struct ovl_entry_info *ret)
{
        *ret = (struct ovl_entry_info){ .type = type_from_mode(st->st_mode), .target = name };

        if (strncmp(name, OVL_AUFS_PREFIX, strlen(OVL_AUFS_PREFIX)) == 0)
                return classify_aufs_name(name, ret);

        switch (ret->type) {
        case OVL_ENTRY_CHAR:
                if (st->st_rdev == makedev(0, 0)) {
                        ret->type = OVL_ENTRY_WHITEOUT;
                        ret->format = OVL_WHITEOUT_CHARDEV;
                }
                break;
        case OVL_ENTRY_REGULAR:
                if (parent_has_xattr_whiteouts && st->st_size == 0 && (xattr_bits & OVL_XATTR_WHITEOUT)) {
                        ret->type = OVL_ENTRY_WHITEOUT;
                        ret->format = OVL_WHITEOUT_XATTR;
                }
                break;
        case OVL_ENTRY_DIRECTORY:
                ret->opaque = !!(xattr_bits & OVL_XATTR_OPAQUE);
                ret->has_xattr_whiteouts = !!(xattr_bits & OVL_XATTR_HAS_WHITEOUTS);
                return 0;
        default:
                break;
        }
        ret->hardlinked = ret->type != OVL_ENTRY_WHITEOUT && st->st_nlink > 1;
        return 0;
}

bool ovl_entry_wants_xattrs(const struct stat *st)
{
        return S_ISDIR(st->st_mode) || (S_ISREG(st->st_mode) && st->st_size == 0);
}

/* Returns the OVL_XATTR_* bit an xattr name (and, for opaque, its value) stands for. */
static unsigned bits_for_xattr(const char *path, const char *xname)
{
        static const char *const prefixes[] = { "trusted.overlay.", "user.overlay." };
        char value[8];

        for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
                size_t plen = strlen(prefixes[i]);
                const char *key = xname + plen;
                ssize_t n;

                if (strncmp(xname, prefixes[i], plen) != 0)
                        continue;
                unsigned user = i == 1 ? OVL_XATTR_USER_NS : 0;

                if (strcmp(key, "whiteout") == 0)
                        return OVL_XATTR_WHITEOUT | user;
                if (strcmp(key, "whiteouts") == 0)
                        return OVL_XATTR_HAS_WHITEOUTS | user;
                if (strcmp(key, "opaque") != 0)
                        return 0;
                n = lgetxattr(path, xname, value, sizeof(value));
                if (n == 1 && value[0] == 'y')
                        return OVL_XATTR_OPAQUE | user;
                if (n == 1 && value[0] == 'x')
                        return OVL_XATTR_HAS_WHITEOUTS | user;
        }
        return 0;
}

int ovl_entry_read_xattrs(int dirfd, const char *name, unsigned *ret_bits)
{
        _cleanup_free_ char *list = NULL;
        char path[OVL_FD_PATH_MAX];
        unsigned bits = 0;
        size_t len;
        int r;

        r = ovl_fd_path(path, sizeof(path), dirfd, name);
        if (r < 0)
                return r;
        r = ovl_xattr_list(path, &list, &len);
        if (r < 0)
                return r;
        for (size_t off = 0; off < len; off += strlen(list + off) + 1)
                bits |= bits_for_xattr(path, list + off);
        *ret_bits = bits;
        return 0;
}

bool ovl_xattr_is_overlay_private(const char *xattr_name)
{
        return strncmp(xattr_name, "trusted.overlay.", 16) == 0 || strncmp(xattr_name, "user.overlay.", 13) == 0;
}

const char *ovl_entry_type_name(enum ovl_entry_type type)
{
        static const char *const names[] = {
                [OVL_ENTRY_REGULAR] = "regular",
                [OVL_ENTRY_DIRECTORY] = "directory",
                [OVL_ENTRY_SYMLINK] = "symlink",
                [OVL_ENTRY_CHAR] = "char",
                [OVL_ENTRY_BLOCK] = "block",
                [OVL_ENTRY_FIFO] = "fifo",
                [OVL_ENTRY_SOCKET] = "socket",
                [OVL_ENTRY_WHITEOUT] = "whiteout",
                [OVL_ENTRY_OPAQUE_MARKER] = "opaque-marker",
                [OVL_ENTRY_AUFS_META] = "aufs-meta",
        };
        return (unsigned) type < ARRAY_SIZE(names) ? names[type] : "unknown";
}
