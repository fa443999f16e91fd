/* Copying an entry's metadata: owner, mode (setuid, setgid and sticky included), xattrs (POSIX ACLs
 * and security.capability included, overlayfs' own bookkeeping excluded) and times. */
#pragma once

#include <errno.h>

#include <stdbool.h>
#include <sys/stat.h>

/* Names an entry for the metadata calls: by fd when one is open (regular files, directories), or
 * by its directory and name (symlinks, devices, fifos, sockets), never following a symlink. */
struct ovl_node_ref {
        int fd; /* -1 when the entry is named by dirfd + name */
        int dirfd;
        const char *name;
};

struct ovl_idmap;

/* Gives dst the owner, xattrs, mode and times of st/src, in the order that keeps them all: chown
 * first (it clears setuid bits and file capabilities), then xattrs, then the mode, then times.
 * created_mode is the permission bits dst was created with (umask 0), so an unneeded chmod is
 * skipped. idmap (the copy backend's --uidmap/--gidmap) maps the owner and the ids inside
 * security.capability and POSIX ACLs; NULL writes them as they are. Returns 0, -OVL_COPY_EUNMAPPED
 * when the owner has no id here, or another -errno. */
int ovl_copy_metadata(const struct ovl_node_ref *src, const struct ovl_node_ref *dst, const struct stat *st,
                      mode_t created_mode, const struct ovl_idmap *idmap);

/* What ovl_copy_metadata returns (negated) when the owner to set has no id where it is written:
 * outside the initial user namespace (rootless) the kernel says EINVAL, which would not say so.
 * EOVERFLOW, "the value does not fit", because ovl_copy_metadata returns it for nothing else (it
 * turns any other EOVERFLOW into EINVAL), so callers can tell it apart and turn it into
 * OVL_COPY_EUNMAPPED_TEXT. */
#define OVL_COPY_EUNMAPPED EOVERFLOW
#define OVL_COPY_EUNMAPPED_TEXT                                                                               \
        "its owner has no id in this user namespace, so a rootless assemble cannot keep it (run as root, or " \
        "map that id into the namespace)"
