#include "config.h"

#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backends/copy_data.h"
#include "common/macro.h"

#define RW_CHUNK (1u << 20)

/* Whether an errno says "this way of copying is not available here", as opposed to a real error
 * such as EIO or ENOSPC that must be reported. */
static bool unsupported_errno(int e)
{
        return e == EOPNOTSUPP || e == ENOTTY || e == EXDEV || e == EINVAL || e == ENOSYS || e == EBADF;
}

static int copy_range_rw(int src, int dst, off_t off, off_t len)
{
        _cleanup_free_ char *buf = malloc(RW_CHUNK);

        if (!buf)
                return -ENOMEM;
        while (len > 0) {
                ssize_t n = pread(src, buf, (size_t) (len < RW_CHUNK ? len : RW_CHUNK), off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ENODATA; /* the layer file shrank under us */
                for (ssize_t done = 0; done < n;) {
                        ssize_t w = pwrite(dst, buf + done, (size_t) (n - done), off + done);
                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        done += w;
                }
                off += n;
                len -= n;
        }
        return 0;
}

static int copy_range(int src, int dst, off_t off, off_t len, struct ovl_copy_accel *accel)
{
        bool first = true;

        while (len > 0 && !accel->no_copy_file_range) {
                loff_t in = off, out = off;
                ssize_t n = copy_file_range(src, &in, dst, &out, (size_t) len, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (first && unsupported_errno(errno)) {
                                accel->no_copy_file_range = true;
                                break;
                        }
                        return -errno;
                }
                if (n == 0)
                        return -ENODATA;
                first = false;
                off += n;
                len -= n;
        }
        return len > 0 ? copy_range_rw(src, dst, off, len) : 0;
}

/* Copies only the data extents and sizes the file, so holes are not written as zeros. */
static int copy_sparse(int src, int dst, const struct stat *st, struct ovl_copy_accel *accel)
{
        off_t off = 0;

        while (off < st->st_size) {
                off_t data = lseek(src, off, SEEK_DATA), hole;
                int r;

                if (data < 0) {
                        if (errno == ENXIO)
                                break; /* only a hole is left */
                        if (errno == EINVAL || errno == EOPNOTSUPP)
                                return copy_range(src, dst, off, st->st_size - off, accel);
                        return -errno;
                }
                hole = lseek(src, data, SEEK_HOLE);
                if (hole < 0)
                        return -errno;
                if (hole > st->st_size)
                        hole = st->st_size;
                r = copy_range(src, dst, data, hole - data, accel);
                if (r < 0)
                        return r;
                off = hole;
        }
        return ftruncate(dst, st->st_size) < 0 ? -errno : 0;
}

static int copy_data(int src_fd, int dst_fd, const struct stat *st, struct ovl_copy_accel *accel)
{
        if (st->st_size == 0)
                return 0;
        if (!accel->no_reflink) {
                if (ioctl(dst_fd, FICLONE, src_fd) == 0)
                        return 0;
                if (!unsupported_errno(errno))
                        return -errno;
                accel->no_reflink = true;
        }
        /* Fewer allocated blocks than the size means holes: keep them. */
        if ((off_t) st->st_blocks * 512 < st->st_size)
                return copy_sparse(src_fd, dst_fd, st, accel);
        return copy_range(src_fd, dst_fd, 0, st->st_size, accel);
}

int ovl_copy_data(int src_fd, int dst_fd, const struct stat *st, struct ovl_copy_accel *accel)
{
        int r = copy_data(src_fd, dst_fd, st, accel);

        /* An offset or range that does not fit (EOVERFLOW from lseek, pread or copy_file_range) is a
         * file too large to copy; the copy engine keeps EOVERFLOW for an owner without an id. */
        return r == -EOVERFLOW ? -EFBIG : r;
}
