/* Shared by the probe modules (probe/): the context every probe step writes into, and the helpers
 * that add one reported feature. */
#pragma once

#include <stdbool.h>

#include "probe/probe.h"

struct probe_ctx {
        struct ovl_probe_result *res;
        int scratch;        /* the scratch directory (also the process's working directory) */
        bool private_ns;    /* test mounts may be attached: we are in our own mount namespace */
        char ns_error[160]; /* why not, when not */
        bool is_root;       /* trusted.* xattrs and device nodes can be made */
};

/* Adds a feature (yes/no and how it was found) and returns it, for a detail to be added. */
struct ovl_probe_feature *probe_add(struct probe_ctx *c, const char *key, bool yes, const char *how);

/* Adds a feature whose "no" detail is strerror(errnum). */
void probe_add_errno(struct probe_ctx *c, const char *key, bool yes, int errnum, const char *how);

/* Adds a feature that was not tried because `what` is missing ("no", detail "needs WHAT"). */
void probe_needs(struct probe_ctx *c, const char *key, const char *what);

/* Sets a feature's detail. */
void probe_detail(struct ovl_probe_feature *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The steps, each in its own module. */
void probe_filesystem(struct probe_ctx *c); /* backing fs, d_type, reflink, copy_file_range */
void probe_overlay(struct probe_ctx *c);    /* overlayfs, its mount API, options and limits */
void probe_sandbox(struct probe_ctx *c);    /* openat2, open_tree/move_mount, idmap, userns, seccomp */
