#include "config.h"

#include <errno.h>
#include <linux/fs.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "common/macro.h"
#include "namespaces/seccomp.h"

/* What the file work, memory, signals, time and the worker's own plumbing use (glibc and the
 * sanitizers included). Names this libseccomp or architecture does not know are skipped. */
/* A table, filled to the line. */
/* clang-format off */
static const char *const base_calls[] = {
        "read", "write", "pread64", "pwrite64", "readv", "writev", "close", "close_range", "open", "openat",
        "openat2", "creat", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "lseek",
        "getdents64", "mkdir", "mkdirat", "unlink", "unlinkat", "rmdir", "rename", "renameat", "renameat2",
        "link", "linkat", "symlink", "symlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat",
        "fchmodat2", "chown", "fchown", "lchown", "fchownat", "utimensat", "mknod", "mknodat", "getxattr",
        "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr", "llistxattr",
        "flistxattr", "removexattr", "lremovexattr", "fremovexattr", "fsync", "fdatasync", "syncfs",
        "ftruncate", "fallocate", "copy_file_range", "sendfile", "fcntl", "flock", "dup", "dup2", "dup3",
        "pipe2", "access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "umask", "mmap", "munmap", "mremap",
        "mprotect", "madvise", "mincore", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
        "sigaltstack", "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
        "getresgid", "getgroups", "exit", "exit_group", "futex", "set_robust_list", "get_robust_list",
        "set_tid_address", "rseq", "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
        "gettimeofday", "time", "getrandom", "prlimit64", "getrlimit", "uname", "sched_yield",
        "sched_getaffinity", "sysinfo", "sendmsg", "recvmsg", "wait4", "waitid", "prctl", "capget",
        "capset", "seccomp", "poll", "ppoll", "getpgrp", "arch_prctl", "mlock", "munlock", "restart_syscall",
};
/* clang-format on */

/* The mount backends' calls. */
static const char *const mount_calls[] = {
        "fsopen", "fsconfig", "fsmount", "open_tree", "move_mount", "mount_setattr", "mount", "umount2",
};

/* statmount (457 on every architecture), which libseccomp 2.5 does not know by name: destroy asks
 * it whether the mount it made still exists. */
#define STATMOUNT_NR 457

/* ioctls: reflink and file flags; TCGETS because stdio asks whether stderr is a terminal. */
static const unsigned long allowed_ioctls[] = { FICLONE, FICLONERANGE, FS_IOC_GETFLAGS, TCGETS };

static int allow_names(scmp_filter_ctx f, const char *const *names, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                int nr = seccomp_syscall_resolve_name(names[i]);
                if (nr != __NR_SCMP_ERROR && seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0) < 0)
                        return -EINVAL;
        }
        return 0;
}

/* The calls allowed only with some arguments. */
static int allow_conditional(scmp_filter_ctx f, unsigned groups)
{
        scmp_datum_t self = (scmp_datum_t) getpid();
        int r = 0;

        /* New processes and namespaces, but never a user namespace (a way to regain privileges). */
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, 0));
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(unshare), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, 0));
        /* clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes libc use clone. */
        r |= seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        /* Signals to itself only (raise, abort): the worker runs as uid 0 and could otherwise
         * signal any root process without CAP_KILL. */
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, SCMP_A0(SCMP_CMP_EQ, self));
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_EQ, self));
        for (size_t i = 0; i < ARRAY_SIZE(allowed_ioctls); i++)
                r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                      SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t) allowed_ioctls[i]));
        return r ? -EINVAL : 0;
}

int ovl_seccomp_load(unsigned groups, bool kill_on_deny, struct ovl_error *err)
{
        const uint32_t deny = kill_on_deny ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ERRNO(EPERM);
        _cleanup_(ovl_seccomp_releasep) scmp_filter_ctx f = seccomp_init(deny);
        int r;

        if (!f)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, ENOMEM, "sandbox: seccomp_init");
        /* The kernel's own errno on failure, not libseccomp's -ECANCELED. */
        (void) seccomp_attr_set(f, SCMP_FLTATR_API_SYSRAWRC, 1);
        r = allow_names(f, base_calls, ARRAY_SIZE(base_calls));
        if (r == 0 && (groups & OVL_SYSCALLS_MOUNT))
                r = allow_names(f, mount_calls, ARRAY_SIZE(mount_calls));
        if (r == 0 && (groups & OVL_SYSCALLS_MOUNT) && seccomp_rule_add(f, SCMP_ACT_ALLOW, STATMOUNT_NR, 0) < 0)
                r = -EINVAL;
        if (r == 0)
                r = allow_conditional(f, groups);
        if (r == 0)
                r = seccomp_load(f);
        return r < 0 ? ovl_error_set(err, OVL_ERR_UNSUPPORTED, -r, "sandbox: loading the seccomp filter") : 0;
}
