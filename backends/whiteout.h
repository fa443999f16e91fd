/* The entry classifier: what one directory entry of a layer means for the merged tree. Layers come
 * from a store in either whiteout format, and may mix them:
 *   AUFS/OCI:   ".wh.NAME" hides NAME below; ".wh..wh..opq" makes its directory opaque; other
 *               ".wh..wh.*" names are AUFS bookkeeping and never part of the tree.
 *   overlayfs:  a character device 0/0 hides its name; a directory with *.overlay.opaque=y is
 *               opaque; since Linux 6.7 a zero-size regular file with *.overlay.whiteout hides its
 *               name when its directory is marked with *.overlay.opaque=x (or *.overlay.whiteouts,
 *               the 6.7 spelling). "*" is "trusted" or "user". */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

enum ovl_entry_type {
        OVL_ENTRY_REGULAR,
        OVL_ENTRY_DIRECTORY,
        OVL_ENTRY_SYMLINK,
        OVL_ENTRY_CHAR,
        OVL_ENTRY_BLOCK,
        OVL_ENTRY_FIFO,
        OVL_ENTRY_SOCKET,
        OVL_ENTRY_WHITEOUT,      /* hides `target` in the layers below */
        OVL_ENTRY_OPAQUE_MARKER, /* AUFS ".wh..wh..opq": its directory is opaque */
        OVL_ENTRY_AUFS_META,     /* other ".wh..wh.*": skipped */
};

enum ovl_whiteout_format {
        OVL_WHITEOUT_NONE,
        OVL_WHITEOUT_AUFS,
        OVL_WHITEOUT_CHARDEV,
        OVL_WHITEOUT_XATTR,
};

/* Overlay xattrs found on an entry, as bits (either namespace, trusted. or user.). */
enum {
        OVL_XATTR_OPAQUE = 1 << 0,        /* overlay.opaque=y */
        OVL_XATTR_HAS_WHITEOUTS = 1 << 1, /* overlay.opaque=x or overlay.whiteouts */
        OVL_XATTR_WHITEOUT = 1 << 2,      /* overlay.whiteout */
        OVL_XATTR_USER_NS = 1 << 3,       /* one of the above came as user.overlay.*, which the
                                             kernel honours only on a `userxattr` mount */
};

struct ovl_entry_info {
        enum ovl_entry_type type;
        enum ovl_whiteout_format format; /* for WHITEOUT and OPAQUE_MARKER */
        const char *target;              /* for WHITEOUT: the hidden name (may point into name) */
        bool opaque;                     /* for DIRECTORY: hides everything below it */
        bool has_xattr_whiteouts;        /* for DIRECTORY: its children may be xattr whiteouts */
        bool hardlinked;                 /* a non-directory with more than one link */
};

#define OVL_AUFS_PREFIX ".wh."
#define OVL_AUFS_META_PREFIX ".wh..wh."
#define OVL_AUFS_OPAQUE ".wh..wh..opq"

/* Classifies an entry by its name, mode, device number, size, link count and the overlay xattrs
 * found on it. parent_has_xattr_whiteouts says whether its directory carries the 6.7+ marker.
 * Pure: does no I/O. Returns 0, or -EINVAL for a whiteout naming no valid entry (".wh.",
 * ".wh..", ".wh..."): such a layer is malformed. */
int ovl_entry_classify(const char *name, const struct stat *st, unsigned xattr_bits, bool parent_has_xattr_whiteouts,
                       struct ovl_entry_info *ret);

/* Returns whether st could need overlay xattrs read to classify it (directories and empty regular
 * files): reading them for every file would cost a syscall each. */
bool ovl_entry_wants_xattrs(const struct stat *st);

/* Reads the overlay xattrs of dirfd/name (without following a symlink) into OVL_XATTR_* bits.
 * Returns 0 or -errno; a filesystem without xattr support gives 0 bits. */
int ovl_entry_read_xattrs(int dirfd, const char *name, unsigned *ret_bits);

/* Returns whether an xattr name is overlayfs' own bookkeeping (trusted.overlay.*, user.overlay.*),
 * which describes the layer, not the file, and must never be copied into a rootfs. */
bool ovl_xattr_is_overlay_private(const char *xattr_name);

/* Returns a short name for an entry type ("regular", "whiteout", ...), for messages and tests. */
const char *ovl_entry_type_name(enum ovl_entry_type type);
