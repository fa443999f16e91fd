#include "config.h"

#include "cli/cli.h"
#include "common/testhook.h"

int main(int argc, char **argv)
{
#ifdef OVL_ENABLE_TEST_HOOKS
        /* Only a build configured with --enable-test-hooks: see common/testhook.h. */
        ovl_test_hooks_enable();
#endif
        return ovl_cli_run(argc, argv);
}
