#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/nsfs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "common/procfs.h"

#define STATX_MNT_ID_PLAIN 0x00001000U
#define STATX_MNT_ID_UNIQUE_BIT 0x00004000U
#define DELETED_SUFFIX " (deleted)"

/* ENOENT: the process (or its fd) is gone, or is a zombie whose links lead nowhere; ESRCH: the
 * /proc/PID fd outlived its process. Both are the same thing to a reader. */
static int gone_or(int e)
{
        return e == ENOENT || e == ESRCH ? -ESRCH : -e;
}

bool ovl_proc_gone(int r)
{
        return r == -ESRCH || r == -ENOENT;
}

int ovl_proc_next_number(DIR *d, int *ret)
{
        struct dirent *de;
        int r;

        while ((r = ovl_dir_next(d, &de)) > 0) {
                const char *name = de->d_name;
                char *end;
                long v;

                /* Digits only, no sign, no leading zero but "0" itself. */
                if (name[0] < '0' || name[0] > '9' || (name[0] == '0' && name[1]))
                        continue;
                errno = 0;
                v = strtol(name, &end, 10);
                if (*end || errno || v < 0 || v > INT_MAX)
                        continue;
                *ret = (int) v;
                return 1;
        }
        return r;
}

int ovl_proc_open_pid(int proc_fd, pid_t pid)
{
        char name[32];
        int fd;

        snprintf(name, sizeof(name), "%" PRIdMAX, (intmax_t) pid);
        fd = openat(proc_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? gone_or(errno) : fd;
}

int ovl_proc_opendir(int pid_fd, const char *name, DIR **ret)
{
        int fd = openat(pid_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e;

        if (fd < 0)
                return gone_or(errno);
        /* fdopendir's fstat of a dead process' fd directory fails with ENOENT: gone too. */
        *ret = fdopendir(fd);
        if (*ret)
                return 0;
        e = errno;
        close(fd);
        return gone_or(e);
}

int ovl_proc_fopen(int pid_fd, const char *name, FILE **ret)
{
        int fd = openat(pid_fd, name, O_RDONLY | O_CLOEXEC), e;

        if (fd < 0)
                return gone_or(errno);
        *ret = fdopen(fd, "re");
        if (*ret)
                return 0;
        e = errno;
        close(fd);
        return gone_or(e);
}

int ovl_proc_ns_inode(int pid_fd, const char *ns, uint64_t *ret)
{
        struct stat st;

        /* Followed: the link leads to the namespace's own inode (nsfs), whose number names it. */
        if (fstatat(pid_fd, ns, &st, 0) < 0)
                return gone_or(errno);
        *ret = st.st_ino;
        return 0;
}

int ovl_proc_comm(int pid_fd, char *buf, size_t size)
{
        _cleanup_close_ int fd = openat(pid_fd, "comm", O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return gone_or(errno);
        n = read(fd, buf, size - 1);
        if (n < 0)
                return gone_or(errno);
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

int ovl_proc_ppid(int pid_fd, pid_t *ret)
{
        _cleanup_close_ int fd = openat(pid_fd, "stat", O_RDONLY | O_CLOEXEC);
        char buf[512];
        const char *end;
        char state;
        long ppid;
        ssize_t n;

        if (fd < 0)
                return gone_or(errno);
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return gone_or(errno);
        buf[n] = '\0';
        /* "PID (COMM) STATE PPID ...": the name may hold anything, ')' too; the last one ends it. */
        end = strrchr(buf, ')');
        if (!end || sscanf(end + 1, " %c %ld", &state, &ppid) != 2)
                return -EINVAL;
        *ret = (pid_t) ppid;
        return 0;
}

int ovl_proc_object(int pid_fd, const char *name, bool unique, struct ovl_proc_object *ret)
{
        unsigned want = unique ? STATX_MNT_ID_UNIQUE_BIT : STATX_MNT_ID_PLAIN;
        struct statx sx;

        /* Only the magic link at the end is followed ("fd" and "map_files" are plain directories):
         * that is the way to the object. */
        if (statx(pid_fd, name, AT_STATX_DONT_SYNC, STATX_TYPE | STATX_INO | want, &sx) < 0)
                return gone_or(errno);
        if (!(sx.stx_mask & want))
                return -EOPNOTSUPP;
        *ret = (struct ovl_proc_object){
                .mnt_id = sx.stx_mnt_id,
                .dev = (uint64_t) sx.stx_dev_major << 32 | sx.stx_dev_minor,
                .ino = sx.stx_ino,
                .mode = sx.stx_mode,
        };
        return 0;
}

/* Cuts a " (deleted)" suffix off path: the kernel's mark for a file removed since it was opened,
 * which still lies where its name was. */
static void strip_deleted(char *path)
{
        size_t n = strlen(path), s = strlen(DELETED_SUFFIX);

        if (n > s && strcmp(path + n - s, DELETED_SUFFIX) == 0)
                path[n - s] = '\0';
}

int ovl_proc_link(int pid_fd, const char *name, char **ret)
{
        /* /proc writes a link's path into one page at most. */
        size_t size = 2 * PATH_MAX;
        _cleanup_free_ char *buf = malloc(size);
        ssize_t n;

        if (!buf)
                return -ENOMEM;
        n = readlinkat(pid_fd, name, buf, size - 1);
        if (n < 0)
                return gone_or(errno);
        buf[n] = '\0';
        strip_deleted(buf);
        *ret = TAKE_PTR(buf);
        return 0;
}

int ovl_proc_parse_maps_line(char *line, struct ovl_proc_map *ret)
{
        unsigned long long start, end, offset, ino;
        unsigned major, minor;
        char perms[8];
        int n = -1;
        char *path;

        /* "start-end perms offset MAJ:MIN inode   path": addresses, offset and device in hex. */
        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu%n", &start, &end, perms, &offset, &major, &minor, &ino, &n) !=
                    7 ||
            n < 0)
                return -EINVAL;
        path = line + n;
        path += strspn(path, " ");
        /* Anonymous memory, [heap], [stack], [vdso], anon_inode:...: no file of any filesystem. */
        if (ino == 0 || path[0] != '/')
                return 0;
        strip_deleted(path);
        *ret = (struct ovl_proc_map){
                .start = start,
                .end = end,
                .dev = (uint64_t) major << 32 | minor,
                .ino = ino,
                .path = path,
        };
        return 1;
}

int ovl_proc_runs_our_program(int pid_fd)
{
        static struct stat ours;
        static int known; /* 0: not looked up yet, 1: ours is set, -errno: could not be read */
        struct statx sx;

        if (!known)
                known = stat("/proc/self/exe", &ours) == 0 ? 1 : -errno;
        if (known < 0)
                return known;
        /* Cached attributes: the program may be on a FUSE filesystem that would not answer. */
        if (statx(pid_fd, "exe", AT_STATX_DONT_SYNC, STATX_INO, &sx) < 0)
                return gone_or(errno);
        return makedev(sx.stx_dev_major, sx.stx_dev_minor) == ours.st_dev && sx.stx_ino == ours.st_ino;
}

int ovl_proc_ns_owner_uid(int pid_fd, const char *ns, uid_t *ret)
{
        _cleanup_close_ int fd = openat(pid_fd, ns, O_RDONLY | O_CLOEXEC), userns = -1;

        if (fd < 0)
                return gone_or(errno);
        userns = ioctl(fd, NS_GET_USERNS);
        if (userns < 0 || ioctl(userns, NS_GET_OWNER_UID, ret) < 0)
                return -errno;
        return 0;
}
