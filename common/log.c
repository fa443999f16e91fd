#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/log.h"

static enum ovl_log_level current_level = OVL_LOG_NORMAL;

void ovl_log_set_level(enum ovl_log_level level)
{
        current_level = level;
}

enum ovl_log_level ovl_log_get_level(void)
{
        return current_level;
}

void ovl_log(enum ovl_log_level level, const char *fmt, ...)
{
        va_list ap;

        if (level > current_level)
                return;
        fputs("ovlbackend: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}
