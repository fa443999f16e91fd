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
