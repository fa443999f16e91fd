/* The shape of a unit test program: each tests/unit/test_X.c defines ovl_unit_suite() and no
 * main(); tests/unit/main.c, linked into every one of them, runs that suite. */
#pragma once

#include <check.h>

/* Returns this program's suite, newly created (the runner frees it). */
Suite *ovl_unit_suite(void);
