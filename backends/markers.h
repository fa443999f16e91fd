/* The whiteout markers of one layer, found by walking it: what the bind backend refuses (they would
 * show up as files) and what the overlay backend must translate for the kernel, which understands
 * only some of the forms a store produces. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "backends/layer.h"
#include "common/error.h"

enum ovl_marker_kind {
        OVL_MARKER_AUFS_WHITEOUT,  /* ".wh.NAME": NAME hidden below; the file itself is a marker */
        OVL_MARKER_AUFS_OPAQUE,    /* ".wh..wh..opq": its directory is opaque */
        OVL_MARKER_AUFS_META,      /* other ".wh..wh.*" names: AUFS bookkeeping */
        OVL_MARKER_CHARDEV,        /* a 0/0 character device: overlayfs' own whiteout */
        OVL_MARKER_XATTR_WHITEOUT, /* an empty file with *.overlay.whiteout (Linux 6.7+ form) */
        OVL_MARKER_OPAQUE_DIR,     /* a directory with *.overlay.opaque=y */
        OVL_MARKER_XATTR_DIR,      /* a directory with *.overlay.opaque=x or *.overlay.whiteouts */
};

struct ovl_marker {
        enum ovl_marker_kind kind;
        bool user_ns;       /* the xattr form came as user.overlay.* rather than trusted.overlay.* */
        const char *dir;    /* the directory holding the marker, relative to the layer ("" = root) */
        const char *name;   /* the marker's name in it ("." for a marked directory itself) */
        const char *target; /* the name the marker hides (whiteouts), else NULL */
        int dirfd;          /* the directory holding the marker (valid during the call); -1 for a
                             * marked directory itself (name ".") */
};

/* Whether the kernel understands a marker without help on a mount that is not `userxattr`:
 * 0/0 devices and trusted.overlay.* xattrs. */
bool ovl_marker_is_native(const struct ovl_marker *m);

typedef int (*ovl_marker_fn)(void *ctx, const struct ovl_marker *m, struct ovl_error *err);

/* Walks the layer (directory fds, O_NOFOLLOW: nothing in it is followed) and calls fn for every
 * marker, parents before children. A malformed AUFS whiteout (".wh.", ".wh..") fails with the path
 * named. Stops at fn's first error. Returns 0 or -errno with err set. */
int ovl_layer_scan_markers(const struct ovl_layer *layer, ovl_marker_fn fn, void *ctx, struct ovl_error *err);
