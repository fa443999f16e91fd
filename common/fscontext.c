#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "common/fscontext.h"

size_t ovl_fscontext_read_log(int fs_fd, char *buf, size_t size)
{
        char msg[512];
        size_t len = 0;

        buf[0] = '\0';
        /* Each read returns one message, prefixed "e ", "w " or "i " (error, warning, info), until
         * the log is empty (ENODATA). */
        for (int i = 0; i < 16 && len + 1 < size; i++) {
                ssize_t n = read(fs_fd, msg, sizeof(msg) - 1);
                if (n <= 0)
                        break;
                msg[n] = '\0';
                if (msg[n - 1] == '\n')
                        msg[n - 1] = '\0';
                len += (size_t) snprintf(buf + len, size - len, "%s%s", len ? "; " : "",
                                         n > 2 && msg[1] == ' ' ? msg + 2 : msg);
        }
        return len < size ? len : size - 1;
}

void ovl_fscontext_append_log(int fs_fd, struct ovl_error *err)
{
        char log[1024];

        if (ovl_fscontext_read_log(fs_fd, log, sizeof(log)) > 0)
                ovl_error_append(err, " (kernel: %s)", log);
}
