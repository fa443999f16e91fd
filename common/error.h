/* The error that travels from the place that failed up to cli/, which alone prints it. */
#pragma once

#include <stdbool.h>

/* The class decides the process exit code; the values are the documented exit codes. */
enum ovl_err_class {
        OVL_ERR_FAILED = 1,      /* the operation failed */
        OVL_ERR_BAD_INPUT = 2,   /* usage error or bad input */
        OVL_ERR_UNSUPPORTED = 3, /* not supported by this kernel or filesystem */
};

struct ovl_error {
        int code; /* positive errno, or 0 */
        enum ovl_err_class class;
        bool set;
        char msg[1024]; /* one line naming the object and the cause */
};

/* Records the first error only (later ones are consequences of it). The message is the formatted
 * text followed by ": strerror(errnum)" when errnum is not 0. Returns -errnum (or -EIO for 0), so a
 * caller can write `return ovl_error_set(...)`. err may be NULL. */
int ovl_error_set(struct ovl_error *err, enum ovl_err_class class, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Like ovl_error_set() with OVL_ERR_FAILED. */
int ovl_error_fail(struct ovl_error *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like ovl_error_set() with OVL_ERR_BAD_INPUT. */
int ovl_error_bad(struct ovl_error *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends detail (for example the kernel's own fs-context log) to an already set message. */
void ovl_error_append(struct ovl_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns the exit code for err: 0 when no error is set. */
int ovl_error_exit_code(const struct ovl_error *err);
