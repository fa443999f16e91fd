/* The claim protocol between a backend's assemble (in the sandboxed worker) and the parent that
 * owns the record: the worker side of the ovl_assembly_* calls of backend.h, and the parser the
 * parent reads each request with. A request is one message on the sandbox's line
 * (namespaces/sandbox.h): an operation, a claim kind and a NUL-terminated absolute path; a
 * hand-over carries the mount fd and no path. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "common/error.h"
#include "namespaces/sandbox.h"

enum ovl_claim_op {
        OVL_CLAIM_OP_CLAIM = 1,
        OVL_CLAIM_OP_IDENTIFY = 2,
        OVL_CLAIM_OP_WITHDRAW = 3,
        OVL_CLAIM_OP_HAND_OVER = 4,
};

struct ovl_assembly {
        struct ovl_sandbox_link *link;
};

/* A request as the parent reads it; path points into the message. A claim may carry several paths
 * of one kind, one after the other, each NUL-terminated (ovl_claim_request_next walks them). */
struct ovl_claim_request {
        enum ovl_claim_op op;
        enum ovl_claim_kind kind; /* 0 for a hand-over */
        const char *path;         /* the first path; "" for a hand-over */
        size_t n_paths;           /* 1 but for a claim of several */
};

/* The path after path in a request of several. */
const char *ovl_claim_request_next(const char *path);

/* Parses a request of len bytes. Anything malformed (short, unknown op or kind, a path that is not
 * absolute, an empty path, the last not NUL-terminated exactly at the end, several paths where
 * only a claim takes them, a path on a hand-over) is -EBADMSG with err set. Returns 0 or -errno. */
int ovl_claim_request_parse(const void *msg, size_t len, struct ovl_claim_request *ret, struct ovl_error *err);

/* "scratch", "mount", "cache". */
const char *ovl_claim_kind_name(enum ovl_claim_kind kind);

/* The one request a destroy worker makes (ovl_destroy_may_remove), exactly as the line carries it:
 * these bytes, its NUL included, and no fd. */
#define OVL_REMOVAL_REQUEST "may-remove"

/* Sets the line the running destroy asks its parent on (ovl_destroy_may_remove): the lifecycle's
 * destroy worker, for the length of one backend destroy (a worker does one); NULL after. */
void ovl_removal_set_link(struct ovl_sandbox_link *link);
