/* Progress messages for -v. Errors are not logged here: they travel up in struct ovl_error and
 * cli/ prints them. */
#pragma once

enum ovl_log_level { OVL_LOG_QUIET = -1, OVL_LOG_NORMAL = 0, OVL_LOG_VERBOSE = 1, OVL_LOG_DEBUG = 2 };

void ovl_log_set_level(enum ovl_log_level level);
enum ovl_log_level ovl_log_get_level(void);

/* Prints "ovlbackend: <message>" to stderr when the level is at least `level`. */
void ovl_log(enum ovl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
