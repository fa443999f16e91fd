/* Test hooks: environment switches that let the tests reach states a real run only reaches by bad
 * luck, or force a kernel's fallbacks:
 *   OVLBACKEND_TEST_STOP=POINT        the process stops itself (SIGSTOP) at a named point, so a
 *                                     test can look at the host, or kill it, exactly there;
 *   OVLBACKEND_TEST_TRY_SYSCALLS=1    the sandboxed worker tries calls its filter must deny;
 *   OVLBACKEND_LEGACY_MOUNT_API=1     the new mount API and openat2 are switched off;
 *   OVLBACKEND_TEST_META_TMPFS_INODES=N  the tmpfs the metadata tree is built on holds N inodes,
 *                                     so a small image overflows it and is built on disk.
 * They are off unless ovl_test_hooks_enable() was called: by the never-installed test binary
 * (tests/ovlbackend-hooked), and by ovlbackend itself only when configured with
 * --enable-test-hooks. A switch that stops a privileged process at a chosen moment, or takes away
 * openat2's guarantees, is no knob for whoever sets the environment of an installed binary. */
#pragma once

#include <stdbool.h>

/* Turns the test hooks on for this process (and the workers it forks). */
void ovl_test_hooks_enable(void);

/* Returns whether the test hooks are on. */
bool ovl_test_hooks_enabled(void);

/* Returns getenv(name) when the test hooks are on, else NULL without reading the environment.
 * Every test switch is read through it. */
const char *ovl_test_hook_getenv(const char *name);

/* Stops the process with SIGSTOP when OVLBACKEND_TEST_STOP equals `point`. */
void ovl_test_stop_point(const char *point);

/* Stops the process with SIGSTOP when OVLBACKEND_TEST_STOP equals "point:detail" (for example
 * "copy-source:etc/passwd", right before the copy opens that file). */
void ovl_test_stop_point_at(const char *point, const char *detail);
