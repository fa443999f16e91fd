/* Cleanup helpers in the systemd style: variables declared with these attributes are released when
 * they go out of scope, so error paths cannot leak. Ownership is handed off with TAKE_FD/TAKE_PTR. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(ovl_freep)
#define _cleanup_close_ _cleanup_(ovl_closep)
#define _cleanup_closedir_ _cleanup_(ovl_closedirp)
#define _cleanup_fclose_ _cleanup_(ovl_fclosep)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void ovl_freep(void *p)
{
        free(*(void **) p);
}

static inline int safe_close(int fd);

static inline void ovl_closep(int *fd)
{
        safe_close(*fd);
}

static inline void ovl_closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

static inline void ovl_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

/* Closes fd when it is one (keeping errno, so it can sit on an error path) and returns -1, for
 * `fd = safe_close(fd);`. */
static inline int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

/* Closes what a holds and puts b there, taking b: for an fd replaced by another it stands for. */
#define close_and_replace(a, b)    \
        ({                         \
                int *_a_ = &(a);   \
                safe_close(*_a_);  \
                *_a_ = TAKE_FD(b); \
                0;                 \
        })

/* Defines `static inline void name(type *p)`, a cleanup helper that releases *p with func unless it
 * is NULL: for the objects of libraries that have a free function but no cleanup helper of their
 * own (libmount, libcap, libseccomp), declared next to where those objects are used. */
#define OVL_DEFINE_CLEANUP_FUNC(name, type, func) \
        static inline void name(type *p)          \
        {                                         \
                if (*p)                           \
                        func(*p);                 \
        }

/* Returns the fd and leaves -1 behind, so the cleanup handler does not close what was handed off. */
#define TAKE_FD(fd)              \
        ({                       \
                int _fd_ = (fd); \
                (fd) = -1;       \
                _fd_;            \
        })

#define TAKE_PTR(p)                      \
        ({                               \
                __typeof__(p) _p_ = (p); \
                (p) = NULL;              \
                _p_;                     \
        })

/* Retries a syscall interrupted by a signal; evaluates to the call's result. */
#define RETRY_EINTR(expr)                          \
        ({                                         \
                long _r_;                          \
                do                                 \
                        _r_ = (long) (expr);       \
                while (_r_ < 0 && errno == EINTR); \
                _r_;                               \
        })
