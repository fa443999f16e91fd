/* Wrappers for the new mount API and openat2. They behave like libc calls (return -1 and set errno)
 * so they read like the syscalls they stand for. Where libc lacks a call they issue the raw syscall;
 * when the new API is switched off (for testing the legacy paths) they fail with ENOSYS, exactly as
 * a kernel without the call would. */
#pragma once

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/types.h>

#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#ifndef HAVE_STRUCT_OPEN_HOW
struct open_how {
        uint64_t flags;
        uint64_t mode;
        uint64_t resolve;
};
#endif
#ifndef RESOLVE_BENEATH
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#endif

/* The new mount API's flags, for a libc whose headers predate them. */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

#ifndef HAVE_STRUCT_MOUNT_ATTR
struct mount_attr {
        uint64_t attr_set;
        uint64_t attr_clr;
        uint64_t propagation;
        uint64_t userns_fd;
};
#endif

/* Switches the new mount API and openat2 off for this process: every wrapper below then fails with
 * ENOSYS. Called once at start-up when OVLBACKEND_LEGACY_MOUNT_API=1 and the test hooks are on (see
 * common/testhook.h), so tests can force the fallbacks on a kernel that has the new calls. */
void ovl_syscalls_disable_new_api(void);

/* Returns whether the new API was switched off by ovl_syscalls_disable_new_api(). */
bool ovl_syscalls_new_api_disabled(void);

/* Whether fsopen works here (a kernel with the new mount API, not switched off). */
bool ovl_syscalls_have_new_mount_api(void);

/* statmount(2) (6.8+): what it needs to say whether a mount exists. */
struct ovl_mnt_id_req {
        uint32_t size;
        uint32_t spare;
        uint64_t mnt_id;
        uint64_t param;
};

/* Returns 0 when the mount with unique id req->mnt_id exists in this mount namespace, -1 with
 * errno ENOENT when it does not, or another errno (ENOSYS before 6.8). */
int ovl_statmount(const struct ovl_mnt_id_req *req, void *buf, size_t size, unsigned int flags);

int ovl_openat2(int dirfd, const char *path, const struct open_how *how, size_t size);
int ovl_fsopen(const char *fsname, unsigned int flags);
int ovl_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux);
int ovl_fsmount(int fd, unsigned int flags, unsigned int attr_flags);
int ovl_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path, unsigned int flags);
int ovl_open_tree(int dirfd, const char *path, unsigned int flags);
int ovl_mount_setattr(int dirfd, const char *path, unsigned int flags, struct mount_attr *attr, size_t size);
