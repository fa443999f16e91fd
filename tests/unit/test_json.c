/* Unit tests for the JSON writer (common/json.c). */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "common/json.h"
#include "tests/unit/unit.h"

/* An in-memory stream and a writer on it. */
struct capture {
        char *buf;
        size_t len;
        FILE *f;
        struct ovl_json j;
};

static void capture_begin(struct capture *c)
{
        memset(c, 0, sizeof(*c));
        c->f = open_memstream(&c->buf, &c->len);
        ck_assert_ptr_nonnull(c->f);
        ovl_json_init(&c->j, c->f);
}

/* Closes the stream, asserts its content is exactly `want`, and frees it. */
static void capture_expect(struct capture *c, const char *want)
{
        ck_assert_int_eq(fclose(c->f), 0);
        ck_assert_str_eq(c->buf, want);
        ck_assert_uint_eq(c->len, strlen(want));
        free(c->buf);
        c->buf = NULL;
}

/* Returns s as written by ovl_json_write_escaped, in a new string. */
static char *escaped(const char *s)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ck_assert_ptr_nonnull(f);
        ovl_json_write_escaped(f, s);
        ck_assert_int_eq(fclose(f), 0);
        return buf;
}

static void assert_escaped(const char *in, const char *want)
{
        char *got = escaped(in);

        ck_assert_str_eq(got, want);
        free(got);
}

/* ---- structure --------------------------------------------------------------------------- */

START_TEST(test_empty_object)
{
        struct capture c;

        capture_begin(&c);
        ovl_json_object_begin(&c.j, NULL);
        ovl_json_object_end(&c.j);
        capture_expect(&c, "{}\n");
}
END_TEST

START_TEST(test_flat_object)
{
        struct capture c;

        capture_begin(&c);
        ovl_json_object_begin(&c.j, NULL);
        ovl_json_string(&c.j, "rootfs", "/r");
        ovl_json_string(&c.j, "backend", "copy");
        ovl_json_int(&c.j, "layers", 3);
        ovl_json_bool(&c.j, "read_only", false);
        ovl_json_object_end(&c.j);
        capture_expect(&c, "{\"rootfs\":\"/r\",\"backend\":\"copy\",\"layers\":3,\"read_only\":false}\n");
}
END_TEST

START_TEST(test_nested)
{
        struct capture c;

        capture_begin(&c);
        ovl_json_object_begin(&c.j, NULL);
        ovl_json_string(&c.j, "a", "b");
        ovl_json_array_begin(&c.j, "l");
        ovl_json_int(&c.j, NULL, 1);
        ovl_json_int(&c.j, NULL, -2);
        ovl_json_object_begin(&c.j, NULL);
        ovl_json_bool(&c.j, "t", true);
        ovl_json_string(&c.j, "s", NULL);
        ovl_json_object_end(&c.j);
        ovl_json_array_begin(&c.j, NULL);
        ovl_json_array_end(&c.j);
        ovl_json_array_end(&c.j);
        ovl_json_string(&c.j, "n", NULL);
        ovl_json_object_begin(&c.j, "o");
        ovl_json_object_begin(&c.j, "p");
        ovl_json_object_end(&c.j);
        ovl_json_object_end(&c.j);
        ovl_json_object_end(&c.j);
        capture_expect(&c, "{\"a\":\"b\",\"l\":[1,-2,{\"t\":true,\"s\":null},[]],\"n\":null,\"o\":{\"p\":{}}}\n");
}
END_TEST

START_TEST(test_array_of_strings)
{
        struct capture c;

        capture_begin(&c);
        ovl_json_object_begin(&c.j, NULL);
        ovl_json_array_begin(&c.j, "layers");
        ovl_json_string(&c.j, NULL, "/l0");
        ovl_json_string(&c.j, NULL, "/l1");
        ovl_json_string(&c.j, NULL, NULL);
        ovl_json_array_end(&c.j);
        ovl_json_object_end(&c.j);
        capture_expect(&c, "{\"layers\":[\"/l0\",\"/l1\",null]}\n");
}
END_TEST

START_TEST(test_two_top_level_objects)
{
        struct capture c;

        capture_begin(&c);
        ovl_json_object_begin(&c.j, NULL);
        ovl_json_int(&c.j, "i", 1);
        ovl_json_object_end(&c.j);
        ovl_json_object_begin(&c.j, NULL);
        ovl_json_int(&c.j, "i", 2);
        ovl_json_object_end(&c.j);
        capture_expect(&c, "{\"i\":1}\n{\"i\":2}\n");
}
END_TEST

START_TEST(test_top_level_array)
{
        struct capture c;

        capture_begin(&c);
        ovl_json_array_begin(&c.j, NULL);
        ovl_json_bool(&c.j, NULL, true);
        ovl_json_bool(&c.j, NULL, false);
        ovl_json_array_end(&c.j);
        capture_expect(&c, "[true,false]\n");
}
END_TEST

START_TEST(test_too_deep_stops)
{
        /* Past the limit the writer stops rather than write invalid JSON, and says so. */
        struct capture c;
        char want[256] = "";

        capture_begin(&c);
        for (int i = 0; i < OVL_JSON_MAX_DEPTH + 2; i++) {
                ovl_json_array_begin(&c.j, NULL);
                if (i < OVL_JSON_MAX_DEPTH - 1)
                        strcat(want, "[");
        }
        ovl_json_int(&c.j, NULL, 7);
        for (int i = 0; i < OVL_JSON_MAX_DEPTH + 2; i++)
                ovl_json_array_end(&c.j);
        ck_assert(c.j.too_deep);
        capture_expect(&c, want);
}
END_TEST

START_TEST(test_max_depth)
{
        /* OVL_JSON_MAX_DEPTH - 1 nested containers, each with a sibling after its child. */
        enum { N = OVL_JSON_MAX_DEPTH - 1 };
        struct capture c;
        char want[256] = "";

        capture_begin(&c);
        for (int i = 0; i < N; i++) {
                ovl_json_array_begin(&c.j, NULL);
                ovl_json_int(&c.j, NULL, i);
                strcat(want, i ? ",[" : "[");
                snprintf(want + strlen(want), sizeof(want) - strlen(want), "%d", i);
        }
        for (int i = 0; i < N; i++) {
                ovl_json_array_end(&c.j);
                strcat(want, "]");
                if (i < N - 1) {
                        ovl_json_bool(&c.j, NULL, true);
                        strcat(want, ",true");
                }
        }
        strcat(want, "\n");
        capture_expect(&c, want);
}
END_TEST

/* ---- scalars ----------------------------------------------------------------------------- */

START_TEST(test_int_limits)
{
        struct capture c;

        capture_begin(&c);
        ovl_json_object_begin(&c.j, NULL);
        ovl_json_int(&c.j, "max", INT64_MAX);
        ovl_json_int(&c.j, "min", INT64_MIN);
        ovl_json_int(&c.j, "zero", 0);
        ovl_json_object_end(&c.j);
        capture_expect(&c, "{\"max\":9223372036854775807,\"min\":-9223372036854775808,\"zero\":0}\n");
}
END_TEST

START_TEST(test_double)
{
        struct capture c;

        capture_begin(&c);
        ovl_json_object_begin(&c.j, NULL);
        ovl_json_double(&c.j, "ms", 12.5);
        ovl_json_double(&c.j, "z", 0.0);
        ovl_json_double(&c.j, "r", 0.12345);
        ovl_json_object_end(&c.j);
        capture_expect(&c, "{\"ms\":12.500,\"z\":0.000,\"r\":0.123}\n");
}
END_TEST

START_TEST(test_null_and_empty_string)
{
        struct capture c;

        capture_begin(&c);
        ovl_json_object_begin(&c.j, NULL);
        ovl_json_string(&c.j, "null", NULL);
        ovl_json_string(&c.j, "empty", "");
        ovl_json_object_end(&c.j);
        capture_expect(&c, "{\"null\":null,\"empty\":\"\"}\n");
}
END_TEST

/* ---- escaping ---------------------------------------------------------------------------- */

START_TEST(test_escape_plain)
{
        assert_escaped("", "\"\"");
        assert_escaped("/usr/lib/x86_64-linux-gnu ~!@#$%^&*()", "\"/usr/lib/x86_64-linux-gnu ~!@#$%^&*()\"");
}
END_TEST

START_TEST(test_escape_quote_backslash)
{
        assert_escaped("a\"b", "\"a\\\"b\"");
        assert_escaped("a\\b", "\"a\\\\b\"");
        assert_escaped("\\\"", "\"\\\\\\\"\"");
        assert_escaped("/", "\"/\"");
}
END_TEST

START_TEST(test_escape_newline_tab)
{
        assert_escaped("a\nb", "\"a\\nb\"");
        assert_escaped("\t", "\"\\t\"");
}
END_TEST

START_TEST(test_escape_control)
{
        assert_escaped("\x01", "\"\\u0001\"");
        assert_escaped("a\rb", "\"a\\u000db\"");
        assert_escaped("\b\f", "\"\\u0008\\u000c\"");
        assert_escaped("\x1f", "\"\\u001f\"");
        assert_escaped("\x7f", "\"\\u007f\"");
}
END_TEST

START_TEST(test_escape_utf8_kept)
{
        /* Well-formed UTF-8 is written as it is, so a UTF-8 path reads back exactly. */
        assert_escaped("caf\xc3\xa9", "\"caf\xc3\xa9\"");
        assert_escaped("/p/\xc3\xa9\nx", "\"/p/\xc3\xa9\\nx\"");
        assert_escaped("\xe6\x97\xa5\xe6\x9c\xac", "\"\xe6\x97\xa5\xe6\x9c\xac\"");
        assert_escaped("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
        assert_escaped("\xc2\xa0\xef\xbf\xbd", "\"\xc2\xa0\xef\xbf\xbd\"");
}
END_TEST

START_TEST(test_escape_c1_controls)
{
        /* U+0080-U+009F are control characters too: escaped as their code point, which loses
         * nothing (\u009b reads back as U+009B, whose UTF-8 is C2 9B). */
        assert_escaped("\xc2\x80", "\"\\u0080\"");
        assert_escaped("\xc2\x9b"
                       "31m",
                       "\"\\u009b31m\"");
        assert_escaped("\xc2\x9f", "\"\\u009f\"");
}
END_TEST

START_TEST(test_escape_invalid_utf8)
{
        /* A byte outside well-formed UTF-8 becomes U+FFFD, one per byte (see json.h for why not
         * \u00XX); what follows it is read afresh. */
        assert_escaped("\x80", "\"\\ufffd\"");
        assert_escaped("\xff", "\"\\ufffd\"");
        assert_escaped("caf\xe9", "\"caf\\ufffd\"");
        assert_escaped("\xc0\xaf", "\"\\ufffd\\ufffd\"");                       /* overlong '/' */
        assert_escaped("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");            /* surrogate */
        assert_escaped("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* past U+10FFFF */
        assert_escaped("\xe6\x97"
                       "a",
                       "\"\\ufffd\\ufffda\""); /* cut short */
        assert_escaped("\xc3\xc3\xa9", "\"\\ufffd\xc3\xa9\"");
        assert_escaped("\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\"");
}
END_TEST

START_TEST(test_escape_every_byte_valid)
{
        /* Every byte value, in every position: the output is a string literal without a control
         * byte, and its raw bytes are well-formed UTF-8. */
        char in[3 * 255 + 1];
        size_t n = 0;

        for (int c = 1; c < 256; c++) {
                in[n++] = (char) c;
                in[n++] = '"';
                in[n++] = (char) (256 - c);
        }
        in[n] = '\0';
        char *out = escaped(in);
        size_t len = strlen(out);

        ck_assert_uint_ge(len, 2);
        ck_assert_int_eq(out[0], '"');
        ck_assert_int_eq(out[len - 1], '"');
        for (const char *p = out; *p;) {
                size_t k = ovl_escape_utf8_len(p);
                ck_assert_msg(k > 0, "invalid UTF-8 at offset %zu", (size_t) (p - out));
                ck_assert_msg((unsigned char) *p >= 0x20 && (unsigned char) *p != 0x7f, "control byte at %zu",
                              (size_t) (p - out));
                p += k;
        }
        free(out);
}
END_TEST

START_TEST(test_escape_in_keys)
{
        struct capture c;

        capture_begin(&c);
        ovl_json_object_begin(&c.j, NULL);
        ovl_json_string(&c.j, "k\"\n", "v\\\x02");
        ovl_json_object_end(&c.j);
        capture_expect(&c, "{\"k\\\"\\n\":\"v\\\\\\u0002\"}\n");
}
END_TEST

Suite *ovl_unit_suite(void)
{
        Suite *s = suite_create("json");
        TCase *structure = tcase_create("structure");
        TCase *scalars = tcase_create("scalars");
        TCase *escape = tcase_create("escape");

        tcase_add_test(structure, test_empty_object);
        tcase_add_test(structure, test_flat_object);
        tcase_add_test(structure, test_nested);
        tcase_add_test(structure, test_array_of_strings);
        tcase_add_test(structure, test_two_top_level_objects);
        tcase_add_test(structure, test_top_level_array);
        tcase_add_test(structure, test_max_depth);
        tcase_add_test(structure, test_too_deep_stops);
        suite_add_tcase(s, structure);

        tcase_add_test(scalars, test_int_limits);
        tcase_add_test(scalars, test_double);
        tcase_add_test(scalars, test_null_and_empty_string);
        suite_add_tcase(s, scalars);

        tcase_add_test(escape, test_escape_plain);
        tcase_add_test(escape, test_escape_quote_backslash);
        tcase_add_test(escape, test_escape_newline_tab);
        tcase_add_test(escape, test_escape_control);
        tcase_add_test(escape, test_escape_utf8_kept);
        tcase_add_test(escape, test_escape_c1_controls);
        tcase_add_test(escape, test_escape_invalid_utf8);
        tcase_add_test(escape, test_escape_every_byte_valid);
        tcase_add_test(escape, test_escape_in_keys);
        suite_add_tcase(s, escape);
        return s;
}
