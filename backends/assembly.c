#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "backends/assembly.h"
#include "common/macro.h"

struct wire_header {
        uint32_t op;
        uint32_t kind;
};

static int send_request(struct ovl_assembly *a, enum ovl_claim_op op, enum ovl_claim_kind kind, const char *path,
                        int fd, struct ovl_error *err)
{
        size_t len = strlen(path) + 1;
        struct wire_header h = { .op = op, .kind = kind };
        _cleanup_free_ char *msg = malloc(sizeof(h) + len);

        if (!msg)
                return ovl_error_fail(err, ENOMEM, "claim %s", path);
        memcpy(msg, &h, sizeof(h));
        memcpy(msg + sizeof(h), path, len);
        return ovl_sandbox_call(a->link, msg, sizeof(h) + len, fd, err);
}

int ovl_assembly_claim(struct ovl_assembly *a, enum ovl_claim_kind kind, const char *path, struct ovl_error *err)
{
        return send_request(a, OVL_CLAIM_OP_CLAIM, kind, path, -1, err);
}

/* What one request may carry: well within the sandbox's line (two PATH_MAX). */
#define BATCH_BYTES PATH_MAX

int ovl_assembly_claim_all(struct ovl_assembly *a, enum ovl_claim_kind kind, char *const *paths, size_t n,
                           struct ovl_error *err)
{
        struct wire_header h = { .op = OVL_CLAIM_OP_CLAIM, .kind = kind };
        _cleanup_free_ char *msg = malloc(sizeof(h) + BATCH_BYTES + PATH_MAX);
        size_t i = 0;

        if (!msg)
                return ovl_error_fail(err, ENOMEM, "claims");
        memcpy(msg, &h, sizeof(h));
        while (i < n) {
                size_t len = 0;
                int r;

                /* At least one path a request, however long (a single path is below PATH_MAX). */
                do {
                        size_t one = strlen(paths[i]) + 1;
                        if (one > PATH_MAX)
                                return ovl_error_fail(err, ENAMETOOLONG, "claim %.64s...", paths[i]);
                        memcpy(msg + sizeof(h) + len, paths[i], one);
                        len += one;
                        i++;
                } while (i < n && len + strlen(paths[i]) + 1 <= BATCH_BYTES);
                r = ovl_sandbox_call(a->link, msg, sizeof(h) + len, -1, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int ovl_assembly_identify(struct ovl_assembly *a, const char *path, int fd, struct ovl_error *err)
{
        return send_request(a, OVL_CLAIM_OP_IDENTIFY, OVL_CLAIM_SCRATCH, path, fd, err);
}

int ovl_assembly_withdraw(struct ovl_assembly *a, enum ovl_claim_kind kind, const char *path, struct ovl_error *err)
{
        return send_request(a, OVL_CLAIM_OP_WITHDRAW, kind, path, -1, err);
}

int ovl_assembly_hand_over(struct ovl_assembly *a, int mnt_fd, struct ovl_error *err)
{
        return send_request(a, OVL_CLAIM_OP_HAND_OVER, 0, "", mnt_fd, err);
}

const char *ovl_claim_kind_name(enum ovl_claim_kind kind)
{
        switch (kind) {
        case OVL_CLAIM_SCRATCH:
                return "scratch";
        case OVL_CLAIM_MOUNT:
                return "mount";
        case OVL_CLAIM_CACHE:
                return "cache";
        }
        return "unknown";
}

const char *ovl_claim_request_next(const char *path)
{
        return path + strlen(path) + 1;
}

int ovl_claim_request_parse(const void *msg, size_t len, struct ovl_claim_request *ret, struct ovl_error *err)
{
        struct wire_header h;
        const char *path = (const char *) msg + sizeof(h), *end = (const char *) msg + len;
        size_t n_paths = 0;
        bool hand_over;

        if (len < sizeof(h) + 1 || end[-1] != '\0')
                return ovl_error_fail(err, EBADMSG, "claim: a malformed request of %zu bytes", len);
        memcpy(&h, msg, sizeof(h));
        hand_over = h.op == OVL_CLAIM_OP_HAND_OVER;
        if (h.op < OVL_CLAIM_OP_CLAIM || h.op > OVL_CLAIM_OP_HAND_OVER)
                return ovl_error_fail(err, EBADMSG, "claim: unknown operation %u", (unsigned) h.op);
        /* Each path absolute (so none is empty) but a hand-over's, which is one empty one. */
        for (const char *p = path; p < end; p = ovl_claim_request_next(p), n_paths++)
                if (hand_over ? *p != '\0' : *p != '/')
                        return ovl_error_fail(err, EBADMSG, "claim: a malformed path in a request (operation %u)",
                                              (unsigned) h.op);
        if ((n_paths > 1 && h.op != OVL_CLAIM_OP_CLAIM) ||
            (hand_over ? h.kind != 0 : h.kind < OVL_CLAIM_SCRATCH || h.kind > OVL_CLAIM_CACHE))
                return ovl_error_fail(err, EBADMSG, "claim: a malformed request (operation %u, kind %u, %zu paths)",
                                      (unsigned) h.op, (unsigned) h.kind, n_paths);
        *ret = (struct ovl_claim_request){ .op = h.op, .kind = h.kind, .path = path, .n_paths = n_paths };
        return 0;
}

/* The destroy worker's line to its parent while a backend's destroy runs (see
 * ovl_removal_set_link): the destroy op takes no handle, and a worker runs exactly one. */
static struct ovl_sandbox_link *removal_link;

void ovl_removal_set_link(struct ovl_sandbox_link *link)
{
        removal_link = link;
}

int ovl_destroy_may_remove(const struct ovl_record *rec, struct ovl_error *err)
{
        /* Outside a destroy worker (no line set) nobody else is there to look: go on, as before. */
        if (!removal_link)
                return 0;
        (void) rec;
        return ovl_sandbox_call(removal_link, OVL_REMOVAL_REQUEST, sizeof(OVL_REMOVAL_REQUEST), -1, err);
}
