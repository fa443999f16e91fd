#include "config.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/syscalls.h"

static bool new_api_disabled;

void ovl_syscalls_disable_new_api(void)
{
        new_api_disabled = true;
}

bool ovl_syscalls_new_api_disabled(void)
{
        return new_api_disabled;
}

/* Each wrapper calls libc's function where configure found one (glibc 2.36+ has the mount API in
 * <sys/mount.h>) and the raw syscall where it did not; openat2 and statmount have no glibc wrapper
 * yet and are always raw. */

/* Evaluates to -1/ENOSYS when the new API is switched off, like a kernel that lacks the call. */
#define NEW_API_GUARD()                 \
        do {                            \
                if (new_api_disabled) { \
                        errno = ENOSYS; \
                        return -1;      \
                }                       \
        } while (0)

int ovl_openat2(int dirfd, const char *path, const struct open_how *how, size_t size)
{
        NEW_API_GUARD();
        return (int) syscall(SYS_openat2, dirfd, path, how, size);
}

int ovl_fsopen(const char *fsname, unsigned int flags)
{
        NEW_API_GUARD();
#ifdef HAVE_FSOPEN
        return fsopen(fsname, flags);
#else
        return (int) syscall(SYS_fsopen, fsname, flags);
#endif
}

int ovl_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
        NEW_API_GUARD();
#ifdef HAVE_FSCONFIG
        return fsconfig(fd, cmd, key, value, aux);
#else
        return (int) syscall(SYS_fsconfig, fd, cmd, key, value, aux);
#endif
}

int ovl_fsmount(int fd, unsigned int flags, unsigned int attr_flags)
{
        NEW_API_GUARD();
#ifdef HAVE_FSMOUNT
        return fsmount(fd, flags, attr_flags);
#else
        return (int) syscall(SYS_fsmount, fd, flags, attr_flags);
#endif
}

int ovl_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path, unsigned int flags)
{
        NEW_API_GUARD();
#ifdef HAVE_MOVE_MOUNT
        return move_mount(from_dirfd, from_path, to_dirfd, to_path, flags);
#else
        return (int) syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
#endif
}

int ovl_open_tree(int dirfd, const char *path, unsigned int flags)
{
        NEW_API_GUARD();
#ifdef HAVE_OPEN_TREE
        return open_tree(dirfd, path, flags);
#else
        return (int) syscall(SYS_open_tree, dirfd, path, flags);
#endif
}

int ovl_mount_setattr(int dirfd, const char *path, unsigned int flags, struct mount_attr *attr, size_t size)
{
        NEW_API_GUARD();
#ifdef HAVE_MOUNT_SETATTR
        return mount_setattr(dirfd, path, flags, attr, size);
#else
        return (int) syscall(SYS_mount_setattr, dirfd, path, flags, attr, size);
#endif
}

bool ovl_syscalls_have_new_mount_api(void)
{
        int fd = ovl_fsopen("tmpfs", FSOPEN_CLOEXEC);

        if (fd < 0)
                return errno != ENOSYS;
        close(fd);
        return true;
}

/* 457 on every architecture (the unified syscall table); libc headers of 2023 lack it. */
#ifndef SYS_statmount
#define SYS_statmount 457
#endif

int ovl_statmount(const struct ovl_mnt_id_req *req, void *buf, size_t size, unsigned int flags)
{
        NEW_API_GUARD();
        return (int) syscall(SYS_statmount, req, buf, size, flags);
}
