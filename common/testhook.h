/* Stop points for tests: a test sets OVLBACKEND_TEST_STOP=POINT, waits for the process to stop
 * there, and then looks at the host (or kills the process) at a moment it chose, instead of
 * guessing with sleeps. The hook only ever stops its own process, at the request of whoever set
 * its environment, so it is safe to leave in the product. */
#pragma once

/* Stops the process with SIGSTOP when OVLBACKEND_TEST_STOP equals `point`. */
void ovl_test_stop_point(const char *point);

/* Stops the process with SIGSTOP when OVLBACKEND_TEST_STOP equals "point:detail" (for example
 * "copy-source:etc/passwd", right before the copy opens that file). */
void ovl_test_stop_point_at(const char *point, const char *detail);
