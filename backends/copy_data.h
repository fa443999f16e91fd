/* Copying a regular file's contents: reflink where the filesystem can, then copy_file_range, then
 * read/write; holes stay holes. What failed is remembered, so each file does not retry it. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

struct ovl_copy_accel {
        bool no_reflink;         /* FICLONE refused between these filesystems */
        bool no_copy_file_range; /* copy_file_range refused */
};

/* Copies st->st_size bytes from src_fd to the new, empty dst_fd. Returns 0 or -errno, never
 * -EOVERFLOW (a range that does not fit is -EFBIG), which ovl_copy_metadata keeps for an owner
 * without an id. */
int ovl_copy_data(int src_fd, int dst_fd, const struct stat *st, struct ovl_copy_accel *accel);
