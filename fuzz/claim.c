/* libFuzzer target: the parser the privileged parent reads each request of its sandboxed worker
 * with (backends/assembly.c). Whatever it accepts is one known operation with a path that is
 * absolute and NUL-terminated inside the message (empty only for a hand-over); whatever it refuses
 * says why. */
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
        if ((const uint8_t *) q.path < data || (const uint8_t *) q.path >= data + size)
                __builtin_trap();
        len = strlen(q.path);
        if ((const uint8_t *) q.path + len != data + size - 1)
                __builtin_trap();
        if (q.op == OVL_CLAIM_OP_HAND_OVER ? len != 0 || q.kind != 0 : q.path[0] != '/')
                __builtin_trap();
        return 0;
}
