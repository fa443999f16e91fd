/* The fs-context log of the new mount API: the kernel's own words on why fsconfig or fsmount
 * failed, so the user reads them rather than a bare EINVAL. */
#pragma once

#include <stddef.h>

#include "common/error.h"

/* Appends the messages the kernel left in the fs-context log of fs_fd (fsopen's fd) to err, as
 * "(kernel: overlayfs: ...)". Used after a failed fsconfig or fsmount so the user reads the
 * kernel's reason rather than a bare EINVAL. */
void ovl_fscontext_append_log(int fs_fd, struct ovl_error *err);

/* The messages of that log, without their "e "/"w "/"i " prefixes, joined by "; " into buf.
 * Returns their length (0 when the kernel left none). */
size_t ovl_fscontext_read_log(int fs_fd, char *buf, size_t size);
