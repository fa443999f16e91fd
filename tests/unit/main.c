/* The one main() of the unit tests: runs the suite of the test_X.c it is linked with. Check reads
 * CK_FORK (CK_FORK=no runs every test in this process, as valgrind needs) and CK_VERBOSITY from the
 * environment. Exits 1 when a test failed, else 0. */
#include "config.h"

#include <check.h>

#include "tests/unit/unit.h"

int main(void)
{
        SRunner *sr = srunner_create(ovl_unit_suite());
        int failures;

        srunner_run_all(sr, CK_ENV);
        failures = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failures ? 1 : 0;
}
