#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

static int error_setv(struct ovl_error *err, enum ovl_err_class class, int errnum, const char *fmt, va_list ap)
{
        int ret = errnum > 0 ? -errnum : -EIO;
        char full[8192], cause[128] = "";
        size_t room, len;

        if (!err || err->set)
                return ret;
        err->set = true;
        err->class = class;
        err->code = errnum;
        vsnprintf(full, sizeof(full), fmt, ap);
        if (errnum > 0)
                snprintf(cause, sizeof(cause), ": %s", strerror(errnum));
        /* Too long (a deep path): keep both ends of the text and the cause, which matter most. */
        room = sizeof(err->msg) - strlen(cause) - 1;
        len = strlen(full);
        if (len > room) {
                size_t half = (room - 3) / 2;
                memmove(full + half + 3, full + len - half, half + 1);
                memcpy(full + half, "...", 3);
        }
        snprintf(err->msg, sizeof(err->msg), "%s%s", full, cause);
        return ret;
}

int ovl_error_set(struct ovl_error *err, enum ovl_err_class class, int errnum, const char *fmt, ...)
{
        va_list ap;
        int ret;

        va_start(ap, fmt);
        ret = error_setv(err, class, errnum, fmt, ap);
        va_end(ap);
        return ret;
}

int ovl_error_fail(struct ovl_error *err, int errnum, const char *fmt, ...)
{
        va_list ap;
        int ret;

        va_start(ap, fmt);
        ret = error_setv(err, OVL_ERR_FAILED, errnum, fmt, ap);
        va_end(ap);
        return ret;
}

int ovl_error_bad(struct ovl_error *err, int errnum, const char *fmt, ...)
{
        va_list ap;
        int ret;

        va_start(ap, fmt);
        ret = error_setv(err, OVL_ERR_BAD_INPUT, errnum, fmt, ap);
        va_end(ap);
        return ret;
}

void ovl_error_append(struct ovl_error *err, const char *fmt, ...)
{
        va_list ap;
        size_t len;

        if (!err || !err->set)
                return;
        len = strlen(err->msg);
        va_start(ap, fmt);
        vsnprintf(err->msg + len, sizeof(err->msg) - len, fmt, ap);
        va_end(ap);
}

int ovl_error_exit_code(const struct ovl_error *err)
{
        if (!err || !err->set)
                return 0;
        return (int) err->class;
}
