/* libFuzzer target: the parser the privileged parent reads each request of its sandboxed worker
 * with (backends/assembly.c). Whatever it accepts is one known operation with paths that are
 * absolute, NUL-terminated and tile the message (one empty one for a hand-over; several only for a
 * claim); whatever it refuses says why. */
#include <stdint.h>
#include <string.h>

#include "backends/assembly.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ovl_error err = { 0 };
        struct ovl_claim_request q;
        size_t len;

        if (ovl_claim_request_parse(data, size, &q, &err) < 0) {
                if (!err.set)
                        __builtin_trap();
                return 0;
        }
        if (q.n_paths == 0 || (q.n_paths > 1 && q.op != OVL_CLAIM_OP_CLAIM))
                __builtin_trap();
        /* The paths tile the message exactly. */
        for (size_t i = 0; i < q.n_paths; i++, q.path = ovl_claim_request_next(q.path)) {
                if ((const uint8_t *) q.path < data || (const uint8_t *) q.path >= data + size)
                        __builtin_trap();
                len = strlen(q.path);
                if ((const uint8_t *) q.path + len > data + size - 1)
                        __builtin_trap();
                if (q.op == OVL_CLAIM_OP_HAND_OVER ? len != 0 || q.kind != 0 : q.path[0] != '/')
                        __builtin_trap();
        }
        if ((const uint8_t *) q.path != data + size)
                __builtin_trap();
        return 0;
}
