/* Unit tests for the text escaping of untrusted names (common/escape.c). */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "tests/unit/unit.h"

/* Returns s as written by ovl_escape_text, in a new string. */
static char *escaped(const char *s)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ck_assert_ptr_nonnull(f);
        ovl_escape_text(f, s);
        ck_assert_int_eq(fclose(f), 0);
        return buf;
}

static void assert_escaped(const char *in, const char *want)
{
        char *got = escaped(in);

        ck_assert_str_eq(got, want);
        free(got);
}

/* Reverses ovl_escape_text: \\ and \xHH, everything else as it is. */
static char *unescaped(const char *s)
{
        char *out = malloc(strlen(s) + 1), *o = out;

        ck_assert_ptr_nonnull(out);
        while (*s) {
                if (s[0] == '\\' && s[1] == '\\') {
                        *o++ = '\\';
                        s += 2;
                } else if (s[0] == '\\' && s[1] == 'x') {
                        char hex[3] = { s[2], s[3], 0 };
                        *o++ = (char) strtol(hex, NULL, 16);
                        s += 4;
                } else {
                        ck_assert_int_ne(s[0], '\\');
                        *o++ = *s++;
                }
        }
        *o = '\0';
        return out;
}

/* ---- UTF-8 ------------------------------------------------------------------------------- */

START_TEST(test_utf8_len_valid)
{
        ck_assert_uint_eq(ovl_escape_utf8_len("a"), 1);
        ck_assert_uint_eq(ovl_escape_utf8_len("\x7f"), 1);
        ck_assert_uint_eq(ovl_escape_utf8_len("\xc2\x80"), 2);         /* U+0080 */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xc3\xa9"), 2);         /* é */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xdf\xbf"), 2);         /* U+07FF */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xe0\xa0\x80"), 3);     /* U+0800 */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xe6\x97\xa5"), 3);     /* 日 */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xed\x9f\xbf"), 3);     /* U+D7FF */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xee\x80\x80"), 3);     /* U+E000 */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xef\xbf\xbd"), 3);     /* U+FFFD */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xf0\x90\x80\x80"), 4); /* U+10000 */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xf0\x9f\x98\x80"), 4); /* 😀 */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xf4\x8f\xbf\xbf"), 4); /* U+10FFFF */
}
END_TEST

START_TEST(test_utf8_len_invalid)
{
        ck_assert_uint_eq(ovl_escape_utf8_len("\x80"), 0); /* stray continuation */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xbf"), 0);
        ck_assert_uint_eq(ovl_escape_utf8_len("\xc0\xaf"), 0); /* overlong '/' */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xc1\xbf"), 0);
        ck_assert_uint_eq(ovl_escape_utf8_len("\xe0\x80\xaf"), 0);     /* overlong '/' */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xe0\x9f\xbf"), 0);     /* overlong U+07FF */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xed\xa0\x80"), 0);     /* surrogate U+D800 */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xed\xbf\xbf"), 0);     /* surrogate U+DFFF */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xf0\x8f\xbf\xbf"), 0); /* overlong U+FFFF */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xf4\x90\x80\x80"), 0); /* U+110000 */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xf5\x80\x80\x80"), 0);
        ck_assert_uint_eq(ovl_escape_utf8_len("\xff"), 0);
        ck_assert_uint_eq(ovl_escape_utf8_len("\xfe"), 0);
        ck_assert_uint_eq(ovl_escape_utf8_len("\xc3"), 0); /* cut short by the NUL */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xe6\x97"), 0);
        ck_assert_uint_eq(ovl_escape_utf8_len("\xf0\x9f\x98"), 0);
        ck_assert_uint_eq(ovl_escape_utf8_len("\xc3/"), 0); /* cut short by ASCII */
        ck_assert_uint_eq(ovl_escape_utf8_len("\xe6\x97/"), 0);
        ck_assert_uint_eq(ovl_escape_utf8_len("\xf0\x9f\x98\xc3\xa9"), 0);
}
END_TEST

/* ---- text -------------------------------------------------------------------------------- */

START_TEST(test_text_plain)
{
        assert_escaped("", "");
        assert_escaped("/var/lib/ovlbackend ~!@#$%^&*()\"'", "/var/lib/ovlbackend ~!@#$%^&*()\"'");
        assert_escaped(NULL, ""); /* writes nothing */
}
END_TEST

START_TEST(test_text_controls)
{
        assert_escaped("a\nb", "a\\x0ab");
        assert_escaped(".wh.evil\n\x1b[31mred", ".wh.evil\\x0a\\x1b[31mred");
        assert_escaped("\t\r\x01\x1f", "\\x09\\x0d\\x01\\x1f");
        assert_escaped("\x7f", "\\x7f");
        assert_escaped(" ~", " ~");
}
END_TEST

START_TEST(test_text_backslash)
{
        /* A name holding the text of an escape is written so that it cannot pass for one. */
        assert_escaped("\\", "\\\\");
        assert_escaped("a\\x0ab", "a\\\\x0ab");
        assert_escaped("\\\n", "\\\\\\x0a");
}
END_TEST

START_TEST(test_text_utf8_kept)
{
        assert_escaped("caf\xc3\xa9", "caf\xc3\xa9");
        assert_escaped("\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac");
        assert_escaped("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
        assert_escaped("\xc2\xa0", "\xc2\xa0"); /* U+00A0, the first after the C1 controls */
}
END_TEST

START_TEST(test_text_c1_controls)
{
        /* U+009B is CSI, which some terminals obey like ESC [. */
        assert_escaped("\xc2\x9b"
                       "31m",
                       "\\xc2\\x9b31m");
        assert_escaped("\xc2\x80\xc2\x85\xc2\x9f", "\\xc2\\x80\\xc2\\x85\\xc2\\x9f");
}
END_TEST

START_TEST(test_text_invalid_utf8)
{
        assert_escaped("caf\xe9", "caf\\xe9");
        assert_escaped("\xff\xfe", "\\xff\\xfe");
        assert_escaped("\xc0\xaf", "\\xc0\\xaf");
        assert_escaped("\xed\xa0\x80", "\\xed\\xa0\\x80");
        /* A sequence cut short: its lead byte alone is escaped, what follows is read afresh. */
        assert_escaped("\xe6\x97"
                       "a",
                       "\\xe6\\x97a");
        assert_escaped("\xc3\xc3\xa9", "\\xc3\xc3\xa9");
        assert_escaped("\xf0\x9f\x98", "\\xf0\\x9f\\x98");
}
END_TEST

START_TEST(test_text_one_line_and_reversible)
{
        /* Every byte value, in every position: the output is one line without a control byte, and
         * unescaping it gives back the input. */
        char in[3 * 255 + 1];
        size_t n = 0;

        for (int c = 1; c < 256; c++) {
                in[n++] = (char) c;
                in[n++] = 'a';
                in[n++] = (char) (256 - c);
        }
        in[n] = '\0';
        char *out = escaped(in), *back = unescaped(out);

        for (const unsigned char *p = (const unsigned char *) out; *p; p++)
                ck_assert_msg(*p >= 0x20 && *p != 0x7f, "control byte %#x in the output", *p);
        ck_assert_mem_eq(back, in, n + 1);
        free(back);
        free(out);
}
END_TEST

Suite *ovl_unit_suite(void)
{
        Suite *s = suite_create("escape");
        TCase *utf8 = tcase_create("utf8");
        TCase *text = tcase_create("text");

        tcase_add_test(utf8, test_utf8_len_valid);
        tcase_add_test(utf8, test_utf8_len_invalid);
        suite_add_tcase(s, utf8);

        tcase_add_test(text, test_text_plain);
        tcase_add_test(text, test_text_controls);
        tcase_add_test(text, test_text_backslash);
        tcase_add_test(text, test_text_utf8_kept);
        tcase_add_test(text, test_text_c1_controls);
        tcase_add_test(text, test_text_invalid_utf8);
        tcase_add_test(text, test_text_one_line_and_reversible);
        suite_add_tcase(s, text);
        return s;
}
