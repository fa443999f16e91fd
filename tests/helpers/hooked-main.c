/* tests/ovlbackend-hooked: ovlbackend with its test hooks on (common/testhook.h), for the tests
 * that stop it at a named point, make its worker try denied calls, or force the legacy mount API.
 * Built by `make check`, never installed: the installed binary ignores those switches. */
#include "config.h"

#include "cli/cli.h"
#include "common/testhook.h"

int main(int argc, char **argv)
{
        ovl_test_hooks_enable();
        return ovl_cli_run(argc, argv);
}
