/* Cleanup helpers in the systemd style: variables declared with these attributes are released when
 * they go out of scope, so error paths cannot leak. Ownership is handed off with TAKE_FD/TAKE_PTR. */
#pragma once

#include <dirent.h>
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

static inline void ovl_closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
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

/* Returns the fd and leaves -1 behind, so the cleanup handler does not close what was handed off. */
#define TAKE_FD(fd)                    \
        ({                             \
                int _fd_ = (fd);       \
                (fd) = -1;             \
                _fd_;                  \
        })

#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _p_ = (p);     \
                (p) = NULL;                  \
                _p_;                         \
        })

/* Retries a syscall interrupted by a signal; evaluates to the call's result. */
#define RETRY_EINTR(expr)                                  \
        ({                                                 \
                long _r_;                                  \
                do                                         \
                        _r_ = (long) (expr);               \
                while (_r_ < 0 && errno == EINTR);         \
                _r_;                                       \
        })
