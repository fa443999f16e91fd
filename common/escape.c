#include "config.h"

#include <stdbool.h>

#include "common/escape.h"

static bool is_continuation(unsigned char c)
{
        return (c & 0xc0) == 0x80;
}

size_t ovl_escape_utf8_len(const char *s)
{
        const unsigned char *p = (const unsigned char *) s;
        /* The second byte's range depends on the first (Unicode table 3-7): it is what rules out
         * overlong forms (E0, F0), surrogates (ED) and code points past U+10FFFF (F4). */
        unsigned char lo = 0x80, hi = 0xbf;
        size_t len;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                len = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                len = 3;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                len = 4;
        else
                return 0;
        if (p[0] == 0xe0)
                lo = 0xa0;
        else if (p[0] == 0xed)
                hi = 0x9f;
        else if (p[0] == 0xf0)
                lo = 0x90;
        else if (p[0] == 0xf4)
                hi = 0x8f;
        if (p[1] < lo || p[1] > hi)
                return 0;
        /* The NUL ends the string and is no continuation byte, so these never read past it. */
        for (size_t i = 2; i < len; i++)
                if (!is_continuation(p[i]))
                        return 0;
        return len;
}

static void put_hex(FILE *out, unsigned char c)
{
        fprintf(out, "\\x%02x", c);
}

void ovl_escape_text(FILE *out, const char *s)
{
        const unsigned char *p = (const unsigned char *) s;

        while (p && *p) {
                size_t len = ovl_escape_utf8_len((const char *) p);

                if (*p == '\\') {
                        fputs("\\\\", out);
                } else if (len == 1 && *p >= 0x20 && *p != 0x7f) {
                        fputc(*p, out);
                } else if (len == 0 || len == 1) {
                        put_hex(out, *p);
                } else if (len == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
                        put_hex(out, p[0]);
                        put_hex(out, p[1]);
                } else {
                        fwrite(p, 1, len, out);
                }
                p += len ? len : 1;
        }
}
