#include "config.h"

#include <errno.h>
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

int ovl_claim_request_parse(const void *msg, size_t len, struct ovl_claim_request *ret, struct ovl_error *err)
{
        struct wire_header h;
        const char *path = (const char *) msg + sizeof(h);
        bool hand_over;

        if (len < sizeof(h) + 1 || memchr(path, '\0', len - sizeof(h)) != path + len - sizeof(h) - 1)
                return ovl_error_fail(err, EBADMSG, "claim: a malformed request of %zu bytes", len);
        memcpy(&h, msg, sizeof(h));
        hand_over = h.op == OVL_CLAIM_OP_HAND_OVER;
        if (h.op < OVL_CLAIM_OP_CLAIM || h.op > OVL_CLAIM_OP_HAND_OVER)
                return ovl_error_fail(err, EBADMSG, "claim: unknown operation %u", (unsigned) h.op);
        if (hand_over ? h.kind != 0 || *path : h.kind < OVL_CLAIM_SCRATCH || h.kind > OVL_CLAIM_CACHE || *path != '/')
                return ovl_error_fail(err, EBADMSG, "claim: a malformed request (operation %u, kind %u)",
                                      (unsigned) h.op, (unsigned) h.kind);
        *ret = (struct ovl_claim_request){ .op = h.op, .kind = h.kind, .path = path };
        return 0;
}
