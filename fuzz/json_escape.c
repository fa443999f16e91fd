/* libFuzzer target: the JSON string writer, which carries paths from layers (any bytes) into
 * --json output. The output is always one valid JSON string: quoted, no raw control character,
 * only valid escapes, and its raw bytes well-formed UTF-8 (the writer keeps valid UTF-8 as it is
 * and replaces other bytes). (Overlay mount options need no escaping: the legacy path names every
 * layer by a short fd number, see backends/overlay.c.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

/* Returns the length of the well-formed UTF-8 sequence at p (n bytes left), or 0. Decodes and
 * then checks the code point, a different way from the writer's own (common/escape.c). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
        static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
        uint32_t cp;
        size_t len;

        if ((p[0] & 0xe0) == 0xc0)
                len = 2, cp = p[0] & 0x1f;
        else if ((p[0] & 0xf0) == 0xe0)
                len = 3, cp = p[0] & 0x0f;
        else if ((p[0] & 0xf8) == 0xf0)
                len = 4, cp = p[0] & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

static void check(const char *out, size_t len)
{
        if (len < 2 || out[0] != '"' || out[len - 1] != '"')
                __builtin_trap();
        for (size_t i = 1; i + 1 < len; i++) {
                unsigned char c = (unsigned char) out[i];
                if (c < 0x20 || c == 0x7f || c == '"')
                        __builtin_trap();
                if (c >= 0x80) {
                        size_t k = utf8_len((const unsigned char *) out + i, len - 1 - i);
                        if (!k)
                                __builtin_trap();
                        i += k - 1;
                        continue;
                }
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
