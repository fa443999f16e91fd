/* libFuzzer target: the JSON string writer, which carries paths from layers (any bytes) into
 * --json output. The output is always one valid JSON string: quoted, no raw control character,
 * only valid escapes. (Overlay mount options need no escaping: the legacy path names every
 * layer by a short fd number, see backends/overlay.c.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

static void check(const char *out, size_t len)
{
        if (len < 2 || out[0] != '"' || out[len - 1] != '"')
                __builtin_trap();
        for (size_t i = 1; i + 1 < len; i++) {
                unsigned char c = (unsigned char) out[i];
                if (c < 0x20 || c == '"')
                        __builtin_trap();
                if (c != '\\')
                        continue;
                c = (unsigned char) out[++i];
                if (c == 'u') {
                        if (i + 4 >= len - 1)
                                __builtin_trap();
                        for (int k = 1; k <= 4; k++)
                                if (!strchr("0123456789abcdefABCDEF", out[i + k]))
                                        __builtin_trap();
                        i += 4;
                } else if (!strchr("\"\\/bfnrt", c)) {
                        __builtin_trap();
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1), *out = NULL;
        size_t len = 0;
        FILE *f;

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        f = open_memstream(&out, &len);
        if (!f)
                return free(s), 0;
        ovl_json_write_escaped(f, s);
        fclose(f);
        check(out, len);
        free(out);
        free(s);
        return 0;
}
