#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/testhook.h"

static bool hooks_enabled;

void ovl_test_hooks_enable(void)
{
        hooks_enabled = true;
}

bool ovl_test_hooks_enabled(void)
{
        return hooks_enabled;
}

const char *ovl_test_hook_getenv(const char *name)
{
        return hooks_enabled ? getenv(name) : NULL;
}

void ovl_test_stop_point(const char *point)
{
        const char *want = ovl_test_hook_getenv("OVLBACKEND_TEST_STOP");

        if (want && strcmp(want, point) == 0)
                (void) raise(SIGSTOP);
}

void ovl_test_stop_point_at(const char *point, const char *detail)
{
        const char *want = ovl_test_hook_getenv("OVLBACKEND_TEST_STOP");
        size_t n = strlen(point);

        if (want && strncmp(want, point, n) == 0 && want[n] == ':' && strcmp(want + n + 1, detail) == 0)
                (void) raise(SIGSTOP);
}
