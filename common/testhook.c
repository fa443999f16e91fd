#include "common/testhook.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

void ovl_test_stop_point(const char *point)
{
        const char *want = getenv("OVLBACKEND_TEST_STOP");

        if (want && strcmp(want, point) == 0)
                (void) raise(SIGSTOP);
}

void ovl_test_stop_point_at(const char *point, const char *detail)
{
        const char *want = getenv("OVLBACKEND_TEST_STOP");
        size_t n = strlen(point);

        if (want && strncmp(want, point, n) == 0 && want[n] == ':' && strcmp(want + n + 1, detail) == 0)
                (void) raise(SIGSTOP);
}
