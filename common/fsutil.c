#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "common/syscalls.h"

/* The fallback for kernels without openat2: one component at a time, each opened O_NOFOLLOW, so a
 * symlink anywhere on the way fails with ELOOP and ".." is refused outright. */
static int open_beneath_walk(int rootfd, const char *relpath, int flags, mode_t mode, int *ret_fd)
{
        _cleanup_free_ char *copy = strdup(relpath);
        _cleanup_close_ int cur = -1;
        char *save = NULL, *part, *next;
        int dirfd = rootfd;

        if (!copy)
                return -ENOMEM;
        part = strtok_r(copy, "/", &save);
        if (!part) {
                int fd = openat(rootfd, ".", flags | O_CLOEXEC | O_NOFOLLOW, mode);
                if (fd < 0)
                        return -errno;
                *ret_fd = fd;
                return 0;
        }
        for (; part; part = next) {
                int fd;

                next = strtok_r(NULL, "/", &save);
                if (strcmp(part, "..") == 0)
                        return -EXDEV;
                if (next)
                        fd = openat(dirfd, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                else
                        fd = openat(dirfd, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                if (fd < 0)
                        return -errno;
                close_and_replace(cur, fd);
                dirfd = cur;
        }
        *ret_fd = TAKE_FD(cur);
        return 0;
}

int ovl_open_beneath(int rootfd, const char *relpath, int flags, mode_t mode, int *ret_fd)
{
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC | O_NOFOLLOW),
                .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd;

        fd = (int) RETRY_EINTR(ovl_openat2(rootfd, relpath, &how, sizeof(how)));
        if (fd >= 0) {
                *ret_fd = fd;
                return 0;
        }
        if (errno != ENOSYS && errno != EAGAIN)
                return -errno;
        return open_beneath_walk(rootfd, relpath, flags, mode, ret_fd);
}

int ovl_fd_path(char *buf, size_t size, int dirfd, const char *name)
{
        int n = snprintf(buf, size, "/proc/self/fd/%d/%s", dirfd, name);

        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        return 0;
}

int ovl_tree_id_get(int dirfd, const char *name, struct ovl_tree_id *ret)
{
        struct statx sx;

        /* AT_STATX_DONT_SYNC: device, inode and birth time never change, so a network or FUSE
         * filesystem is not asked (a FUSE one could make us wait as long as it likes). */
        if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC | (*name ? 0 : AT_EMPTY_PATH),
                  STATX_INO | STATX_BTIME, &sx) < 0)
                return -errno;
        *ret = (struct ovl_tree_id){
                .dev = ((uint64_t) sx.stx_dev_major << 32) | sx.stx_dev_minor,
                .ino = sx.stx_ino,
                .btime_ns = (sx.stx_mask & STATX_BTIME)
                                    ? (uint64_t) sx.stx_btime.tv_sec * 1000000000u + sx.stx_btime.tv_nsec
                                    : 0,
        };
        return 0;
}

bool ovl_tree_id_equal(const struct ovl_tree_id *a, const struct ovl_tree_id *b)
{
        return a->ino != 0 && a->dev == b->dev && a->ino == b->ino && a->btime_ns == b->btime_ns;
}

int ovl_is_mount_point_at(int dirfd, const char *name)
{
        const int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT;
        struct statx sx, parent;

        if (statx(dirfd, name, flags | (*name ? 0 : AT_EMPTY_PATH), STATX_BASIC_STATS, &sx) < 0)
                return -errno;
        if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                return !!(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
        /* Kernels before 5.8 do not report mount roots: compare devices with the parent (for
         * dirfd itself its "..", which leads out of a mount root into the mount below). */
        if (statx(dirfd, *name ? "" : "..", *name ? AT_EMPTY_PATH : flags, STATX_BASIC_STATS, &parent) < 0)
                return -errno;
        return sx.stx_dev_major != parent.stx_dev_major || sx.stx_dev_minor != parent.stx_dev_minor;
}

int ovl_xattr_list(const char *path, char **ret_list, size_t *ret_len)
{
        size_t size = 1024;

        for (;;) {
                _cleanup_free_ char *buf = malloc(size);
                ssize_t n;

                if (!buf)
                        return -ENOMEM;
                n = llistxattr(path, buf, size);
                if (n >= 0) {
                        *ret_list = TAKE_PTR(buf);
                        *ret_len = (size_t) n;
                        return 0;
                }
                if (errno == ENOTSUP) {
                        *ret_list = TAKE_PTR(buf);
                        *ret_len = 0;
                        return 0;
                }
                if (errno != ERANGE)
                        return -errno;
                /* The list grew between calls or is larger than our guess: ask for its size. */
                n = llistxattr(path, NULL, 0);
                if (n < 0)
                        return -errno;
                size = (size_t) n + 256;
        }
}

int ovl_mkdir_parents(const char *path, mode_t mode)
{
        _cleanup_free_ char *copy = strdup(path);
        char *p;

        if (!copy)
                return -ENOMEM;
        for (p = copy + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(copy, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int ovl_dir_open_at(int dirfd, const char *name, DIR **ret)
{
        _cleanup_close_ int fd = openat(dirfd, *name ? name : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd); /* the DIR owns it now */
        *ret = d;
        return 0;
}

int ovl_dir_is_empty(int fd, bool *ret)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r = ovl_dir_open_at(fd, "", &d);

        if (r < 0)
                return r;
        r = ovl_dir_next(d, &de);
        if (r < 0)
                return r;
        *ret = r == 0;
        return 0;
}

int ovl_write_file_atomic(int dirfd, const char *name, const char *data, size_t len)
{
        char tmp[NAME_MAX + 1];
        _cleanup_close_ int fd = -1;
        size_t done = 0;
        int r;

        r = snprintf(tmp, sizeof(tmp), ".%s.%d.tmp", name, (int) getpid());
        if (r < 0 || (size_t) r >= sizeof(tmp))
                return -ENAMETOOLONG;
        /* A leftover of a run that died with our pid goes first; then the file must be new. */
        (void) unlinkat(dirfd, tmp, 0);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        while (done < len) {
                ssize_t n = write(fd, data + done, len - done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                done += (size_t) n;
        }
        if (fsync(fd) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
                r = -errno;
                goto fail;
        }
        /* The rename is durable only once the directory itself is on disk. */
        (void) fsync(dirfd);
        return 0;
fail:
        (void) unlinkat(dirfd, tmp, 0);
        return r;
}

int ovl_read_file_at(int dirfd, const char *name, size_t max, char **ret_data)
{
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        if (fd < 0)
                return -errno;
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + len, max + 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret_data = TAKE_PTR(buf);
        return 0;
}

int ovl_path_split(const char *path, char **ret_parent, char **ret_base)
{
        _cleanup_free_ char *copy = strdup(path);
        char *slash, *base, *parent;
        size_t len;

        if (!copy)
                return -ENOMEM;
        len = strlen(copy);
        while (len > 1 && copy[len - 1] == '/')
                copy[--len] = '\0';
        slash = strrchr(copy, '/');
        base = slash ? slash + 1 : copy;
        if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
                return -EINVAL;
        if (!slash)
                parent = strdup(".");
        else if (slash == copy)
                parent = strdup("/");
        else {
                *slash = '\0';
                parent = strdup(copy);
        }
        base = strdup(base);
        if (!parent || !base) {
                free(parent);
                free(base);
                return -ENOMEM;
        }
        *ret_parent = parent;
        *ret_base = base;
        return 0;
}

int ovl_path_canonical_parent(const char *path, char **ret)
{
        _cleanup_free_ char *parent = NULL, *base = NULL, *real = NULL;
        char *out;
        int r;

        r = ovl_path_split(path, &parent, &base);
        if (r < 0)
                return r;
        real = realpath(parent, NULL);
        if (!real)
                return -errno;
        if (asprintf(&out, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base) < 0)
                return -ENOMEM;
        *ret = out;
        return 0;
}

bool ovl_path_is_below(const char *inner, const char *outer)
{
        size_t n = strlen(outer);

        if (strcmp(outer, "/") == 0)
                return true;
        return strncmp(inner, outer, n) == 0 && (inner[n] == '\0' || inner[n] == '/');
}

static bool initial_userns;
static pthread_once_t initial_userns_once = PTHREAD_ONCE_INIT;

static void read_initial_userns(void)
{
        /* The initial user namespace has the fixed inode PROC_USER_INIT_INO (0xEFFFFFFD); any
         * other has another, even with a full identity map. */
        struct stat st;

        if (stat("/proc/self/ns/user", &st) == 0) {
                initial_userns = st.st_ino == 0xEFFFFFFDU;
        } else {
                _cleanup_free_ char *map = NULL;
                unsigned long a, b, c;
                initial_userns = ovl_read_file_at(AT_FDCWD, "/proc/self/uid_map", 4096, &map) < 0 ||
                                 (sscanf(map, "%lu %lu %lu", &a, &b, &c) == 3 && a == 0 && b == 0 && c == 4294967295UL);
        }
}

/* Once per process, for every thread (the copy engine's workers ask it too). */
bool ovl_in_initial_userns(void)
{
        pthread_once(&initial_userns_once, read_initial_userns);
        return initial_userns;
}

int ovl_dir_next(DIR *d, struct dirent **ret)
{
        struct dirent *de;

        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de)
                        return errno ? -errno : 0;
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        break;
        }
        *ret = de;
        return 1;
}
