/* Unit tests for the rootfs record format (state/record.c). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "state/record.h"
#include "tests/unit/unit.h"

#define V OVL_RECORD_VERSION_LINE "\n"
/* The lines every valid record needs after the version line. */
#define MINIMAL "rootfs=/r\nbackend=copy\n"

static void add(struct ovl_strlist *l, const char *s)
{
        ck_assert_int_eq(ovl_strlist_append(l, s), 0);
}

/* A record using every field, with paths that need escaping. */
static void fill_full(struct ovl_record *rec)
{
        memset(rec, 0, sizeof(*rec));
        rec->rootfs = strdup("/var/lib/roots/new\nline\\back\tslash\x01"
                             "end");
        rec->backend = strdup("overlay-mount");
        ck_assert_ptr_nonnull(rec->rootfs);
        ck_assert_ptr_nonnull(rec->backend);
        rec->state = OVL_RECORD_DESTROYING;
        rec->created = 1700000000;
        rec->pid = 4242;
        rec->read_only = true;
        rec->tree.dev = 2049;
        rec->tree.ino = 18446744073709551615ULL;
        rec->tree.btime_ns = 1700000000123456789ULL;
        rec->dev = (uint64_t) UINT32_MAX << 32 | 42;
        add(&rec->layers, "/layers/0");
        add(&rec->layers, "/layers/with space, comma: colon");
        add(&rec->layers, "/layers/\x7f\x1f\xc3\xa9=equals");
        add(&rec->scratch, "/work/scratch/a\nb");
        add(&rec->scratch, "/work/scratch/\\x41");
        add(&rec->mounts, "/mnt/one");
        add(&rec->mounts, "/mnt/two\\");
        add(&rec->mounts, "/mnt/three\n");
}

static void assert_list_eq(const struct ovl_strlist *a, const struct ovl_strlist *b)
{
        ck_assert_uint_eq(a->count, b->count);
        for (size_t i = 0; i < a->count; i++)
                ck_assert_str_eq(a->items[i], b->items[i]);
}

static void assert_record_eq(const struct ovl_record *a, const struct ovl_record *b)
{
        ck_assert_str_eq(a->rootfs, b->rootfs);
        ck_assert_str_eq(a->backend, b->backend);
        ck_assert_int_eq(a->state, b->state);
        ck_assert_int_eq(a->created, b->created);
        ck_assert_int_eq(a->pid, b->pid);
        ck_assert_int_eq(a->read_only, b->read_only);
        ck_assert_uint_eq(a->tree.dev, b->tree.dev);
        ck_assert_uint_eq(a->tree.ino, b->tree.ino);
        ck_assert_uint_eq(a->tree.btime_ns, b->tree.btime_ns);
        ck_assert_uint_eq(a->mount_id, b->mount_id);
        ck_assert_uint_eq(a->mount_id_reusable, b->mount_id_reusable);
        ck_assert_uint_eq(a->dev, b->dev);
        assert_list_eq(&a->layers, &b->layers);
        assert_list_eq(&a->scratch, &b->scratch);
        assert_list_eq(&a->mounts, &b->mounts);
}

/* Parses text (a C string) and asserts success. */
static void parse_ok(const char *text, struct ovl_record *rec)
{
        struct ovl_error err = { 0 };
        int r = ovl_record_parse(text, strlen(text), "test", rec, &err);

        ck_assert_msg(r == 0, "parse failed (%d): %s", r, err.msg);
        ck_assert(!err.set);
}

/* Parses text and asserts it is refused with a message containing `needle` (if not NULL). */
static void parse_bad(const char *text, size_t len, const char *needle)
{
        struct ovl_record rec = { 0 };
        struct ovl_error err = { 0 };
        int r = ovl_record_parse(text, len, "REC", &rec, &err);

        ck_assert_msg(r < 0, "accepted: %s", text);
        ck_assert(err.set);
        ck_assert_ptr_nonnull(strstr(err.msg, "REC"));
        if (needle)
                ck_assert_msg(strstr(err.msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, err.msg);
        ck_assert_ptr_null(rec.rootfs);
}

static void parse_bad_str(const char *text, const char *needle)
{
        parse_bad(text, strlen(text), needle);
}

/* ---- formatting and round trip ----------------------------------------------------------- */

START_TEST(test_format_exact)
{
        struct ovl_record rec = { 0 };
        char *text = NULL;
        size_t len = 0;

        rec.rootfs = strdup("/r\n\\\t\x01");
        rec.backend = strdup("copy");
        rec.state = OVL_RECORD_READY;
        rec.created = 12;
        rec.pid = 34;
        rec.tree.dev = 5;
        rec.tree.ino = 6;
        rec.tree.btime_ns = 7;
        rec.mount_id = 8;
        rec.dev = (uint64_t) 254 << 32 | 3;
        add(&rec.layers, "/l0");
        add(&rec.scratch, "/s");
        add(&rec.mounts, "/m");
        ck_assert_int_eq(ovl_record_format(&rec, &text, &len), 0);
        ck_assert_str_eq(text, "ovlbackend-record 1\n"
                               "rootfs=/r\\n\\\\\\x09\\x01\n"
                               "backend=copy\n"
                               "state=ready\n"
                               "created=12\n"
                               "pid=34\n"
                               "read_only=0\n"
                               "tree=5:6:7\n"
                               "mount_id=8\n"
                               "dev=254:3\n"
                               "layer=/l0\n"
                               "scratch=/s\n"
                               "mount=/m\n");
        ck_assert_uint_eq(len, strlen(text));
        free(text);
        ovl_record_clear(&rec);
}
END_TEST

START_TEST(test_round_trip_full)
{
        struct ovl_record in, out = { 0 };
        struct ovl_error err = { 0 };
        char *text = NULL;
        size_t len = 0;

        fill_full(&in);
        ck_assert_int_eq(ovl_record_format(&in, &text, &len), 0);
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_eq(len, strlen(text));
        /* Every value is on one line: exactly 9 fixed lines (dev included) + 8 list lines. */
        {
                size_t lines = 0;
                for (size_t i = 0; i < len; i++)
                        lines += text[i] == '\n';
                ck_assert_uint_eq(lines, 17);
        }
        ck_assert_int_eq(ovl_record_parse(text, len, "rt", &out, &err), 0);
        assert_record_eq(&in, &out);
        free(text);
        ovl_record_clear(&in);
        ovl_record_clear(&out);
}
END_TEST

START_TEST(test_round_trip_each_state)
{
        for (int s = OVL_RECORD_ASSEMBLING; s <= OVL_RECORD_DESTROYING; s++) {
                struct ovl_record in = { 0 }, out = { 0 };
                struct ovl_error err = { 0 };
                char *text = NULL;
                size_t len = 0;

                in.rootfs = strdup("/r");
                in.backend = strdup("copy");
                in.state = (enum ovl_record_state) s;
                ck_assert_int_eq(ovl_record_format(&in, &text, &len), 0);
                ck_assert_int_eq(ovl_record_parse(text, len, "rt", &out, &err), 0);
                assert_record_eq(&in, &out);
                ck_assert_uint_eq(out.layers.count, 0);
                free(text);
                ovl_record_clear(&in);
                ovl_record_clear(&out);
        }
}
END_TEST

START_TEST(test_parse_minimal_defaults)
{
        struct ovl_record rec;

        memset(&rec, 0x5a, sizeof(rec));
        parse_ok(V MINIMAL, &rec);
        ck_assert_str_eq(rec.rootfs, "/r");
        ck_assert_str_eq(rec.backend, "copy");
        ck_assert_int_eq(rec.state, OVL_RECORD_ASSEMBLING);
        ck_assert_int_eq(rec.created, 0);
        ck_assert_int_eq(rec.pid, 0);
        ck_assert(!rec.read_only);
        ck_assert_uint_eq(rec.tree.dev, 0);
        ck_assert_uint_eq(rec.tree.ino, 0);
        ck_assert_uint_eq(rec.tree.btime_ns, 0);
        /* Records written before `dev` existed: none recorded. */
        ck_assert_uint_eq(rec.mount_id, 0);
        ck_assert_uint_eq(rec.mount_id_reusable, 0);
        ck_assert_uint_eq(rec.dev, 0);
        ck_assert_uint_eq(rec.layers.count, 0);
        ck_assert_uint_eq(rec.scratch.count, 0);
        ck_assert_uint_eq(rec.mounts.count, 0);
        ovl_record_clear(&rec);
        ck_assert_ptr_null(rec.rootfs);
        ck_assert_ptr_null(rec.layers.items);
}
END_TEST

START_TEST(test_parse_escapes)
{
        struct ovl_record rec = { 0 };

        parse_ok(V MINIMAL "layer=/a\\x41\\x7f\\xff\\n\\\\z\n", &rec);
        ck_assert_uint_eq(rec.layers.count, 1);
        ck_assert_str_eq(rec.layers.items[0], "/aA\x7f\xff\n\\z");
        ovl_record_clear(&rec);
}
END_TEST

START_TEST(test_parse_value_with_equals)
{
        struct ovl_record rec = { 0 };

        parse_ok(V MINIMAL "mount=/a=b=c\n", &rec);
        ck_assert_str_eq(rec.mounts.items[0], "/a=b=c");
        ovl_record_clear(&rec);
}
END_TEST

START_TEST(test_parse_read_only_one)
{
        struct ovl_record rec = { 0 };

        parse_ok(V MINIMAL "read_only=1\n", &rec);
        ck_assert(rec.read_only);
        ovl_record_clear(&rec);
}
END_TEST

START_TEST(test_parse_tree)
{
        struct ovl_record rec = { 0 };

        parse_ok(V MINIMAL "tree=2049:18446744073709551615:0\n", &rec);
        ck_assert_uint_eq(rec.tree.dev, 2049);
        ck_assert_uint_eq(rec.tree.ino, UINT64_MAX);
        ck_assert_uint_eq(rec.tree.btime_ns, 0);
        ovl_record_clear(&rec);
}
END_TEST

START_TEST(test_parse_dev)
{
        struct ovl_record rec = { 0 };

        parse_ok(V MINIMAL "mount_id=2147501308\ndev=0:39\n", &rec);
        ck_assert_uint_eq(rec.mount_id, 2147501308u);
        ck_assert_uint_eq(rec.dev, 39);
        ovl_record_clear(&rec);
        parse_ok(V MINIMAL "dev=4294967295:4294967295\n", &rec);
        ck_assert_uint_eq(rec.dev, UINT64_MAX);
        ovl_record_clear(&rec);
}
END_TEST

START_TEST(test_state_name)
{
        ck_assert_str_eq(ovl_record_state_name(OVL_RECORD_ASSEMBLING), "assembling");
        ck_assert_str_eq(ovl_record_state_name(OVL_RECORD_READY), "ready");
        ck_assert_str_eq(ovl_record_state_name(OVL_RECORD_DESTROYING), "destroying");
        ck_assert_str_eq(ovl_record_state_name((enum ovl_record_state) 7), "unknown");
}
END_TEST

START_TEST(test_strlist)
{
        struct ovl_strlist l = { 0 };
        char buf[] = "abc";

        add(&l, buf);
        add(&l, "");
        buf[0] = 'X'; /* the list holds copies */
        ck_assert_uint_eq(l.count, 2);
        ck_assert_str_eq(l.items[0], "abc");
        ck_assert_str_eq(l.items[1], "");
        ovl_strlist_clear(&l);
        ck_assert_uint_eq(l.count, 0);
        ck_assert_ptr_null(l.items);
}
END_TEST

/* ---- refused records --------------------------------------------------------------------- */

START_TEST(test_bad_no_version)
{
        parse_bad_str(MINIMAL, "version line missing");
        parse_bad_str("", "version line missing");
        parse_bad_str(OVL_RECORD_VERSION_LINE, "version line missing");
        parse_bad_str("ovlbackend-record 2\n" MINIMAL, "version line missing");
}
END_TEST

START_TEST(test_bad_unknown_key)
{
        parse_bad_str(V MINIMAL "color=blue\n", "line 4: unknown key color");
}
END_TEST

START_TEST(test_bad_state)
{
        parse_bad_str(V "state=running\n" MINIMAL, "line 2: bad value for state");
        parse_bad_str(V "state=\n" MINIMAL, "line 2: bad value for state");
}
END_TEST

START_TEST(test_bad_created)
{
        parse_bad_str(V MINIMAL "created=-1\n", "line 4: bad value for created");
        parse_bad_str(V MINIMAL "created=12x\n", "line 4: bad value for created");
        parse_bad_str(V MINIMAL "created=\n", "line 4: bad value for created");
        parse_bad_str(V MINIMAL "created=99999999999999999999\n", "line 4: bad value for created");
}
END_TEST

START_TEST(test_bad_pid)
{
        parse_bad_str(V MINIMAL "pid=-5\n", "line 4: bad value for pid");
}
END_TEST

START_TEST(test_bad_read_only)
{
        parse_bad_str(V MINIMAL "read_only=2\n", "line 4: bad value for read_only");
        parse_bad_str(V MINIMAL "read_only=yes\n", "line 4: bad value for read_only");
        parse_bad_str(V MINIMAL "read_only=-1\n", "line 4: bad value for read_only");
}
END_TEST

START_TEST(test_bad_tree)
{
        parse_bad_str(V MINIMAL "tree=1\n", "line 4: bad value for tree");
        parse_bad_str(V MINIMAL "tree=1:2\n", "line 4: bad value for tree");
        parse_bad_str(V MINIMAL "tree=1:2:3:4\n", "line 4: bad value for tree");
        parse_bad_str(V MINIMAL "tree=1:2:3x\n", "line 4: bad value for tree");
        parse_bad_str(V MINIMAL "tree=-1:2:3\n", "line 4: bad value for tree");
        parse_bad_str(V MINIMAL "tree=1:-2:3\n", "line 4: bad value for tree");
        parse_bad_str(V MINIMAL "tree=1:+2:3\n", "line 4: bad value for tree");
        parse_bad_str(V MINIMAL "tree=1: 2:3\n", "line 4: bad value for tree");
}
END_TEST

START_TEST(test_bad_dev)
{
        parse_bad_str(V MINIMAL "dev=1\n", "line 4: bad value for dev");
        parse_bad_str(V MINIMAL "dev=1:\n", "line 4: bad value for dev");
        parse_bad_str(V MINIMAL "dev=:1\n", "line 4: bad value for dev");
        parse_bad_str(V MINIMAL "dev=1:2:3\n", "line 4: bad value for dev");
        parse_bad_str(V MINIMAL "dev=-1:2\n", "line 4: bad value for dev");
        parse_bad_str(V MINIMAL "dev=4294967296:0\n", "line 4: bad value for dev");
        parse_bad_str(V MINIMAL "dev=0:4294967296\n", "line 4: bad value for dev");
        parse_bad_str(V MINIMAL "dev=0x1:2\n", "line 4: bad value for dev");
        parse_bad_str(V MINIMAL "dev=1:2\ndev=1:2\n", "line 5: bad value for dev");
}
END_TEST

START_TEST(test_bad_tree_overflow)
{
        /* One past UINT64_MAX must not be read as UINT64_MAX (as `created` already refuses). */
        parse_bad_str(V MINIMAL "tree=1:2:18446744073709551616\n", "line 4: bad value for tree");
        parse_bad_str(V MINIMAL "tree=99999999999999999999:2:3\n", "line 4: bad value for tree");
}
END_TEST

START_TEST(test_bad_repeated_or_relative)
{
        /* A key that holds one value may appear once; lists hold absolute paths only. */
        parse_bad_str(V MINIMAL "state=ready\nstate=ready\n", "line 5: bad value for state");
        parse_bad_str(V MINIMAL "tree=1:2:3\ntree=1:2:3\n", "line 5: bad value for tree");
        parse_bad_str(V MINIMAL "created=1\ncreated=2\n", "line 5: bad value for created");
        parse_bad_str(V MINIMAL "created= 5\n", "line 4: bad value for created");
        parse_bad_str(V MINIMAL "created=+5\n", "line 4: bad value for created");
        parse_bad_str(V MINIMAL "layer=\n", "line 4: bad value for layer");
        parse_bad_str(V MINIMAL "scratch=relative/path\n", "line 4: bad value for scratch");
        parse_bad_str(V MINIMAL "mount=x\n", "line 4: bad value for mount");
        parse_bad_str(V "rootfs=r\nbackend=copy\n", "line 2: bad value for rootfs");
}
END_TEST

START_TEST(test_bad_escape_q)
{
        parse_bad_str(V MINIMAL "layer=/a\\q\n", "line 4: bad value for layer");
}
END_TEST

START_TEST(test_bad_escape_short_hex)
{
        parse_bad_str(V MINIMAL "layer=/a\\x0\n", "line 4: bad value for layer");
        parse_bad_str(V MINIMAL "layer=/a\\x\n", "line 4: bad value for layer");
}
END_TEST

START_TEST(test_bad_escape_nul)
{
        parse_bad_str(V MINIMAL "layer=/a\\x00b\n", "line 4: bad value for layer");
}
END_TEST

START_TEST(test_bad_escape_non_hex)
{
        parse_bad_str(V MINIMAL "layer=/a\\xzz\n", "line 4: bad value for layer");
}
END_TEST

START_TEST(test_bad_escape_trailing_backslash)
{
        parse_bad_str(V MINIMAL "layer=/a\\\n", "line 4: bad value for layer");
}
END_TEST

START_TEST(test_bad_truncated)
{
        parse_bad_str(V MINIMAL "layer=/a", "line 4: truncated");
}
END_TEST

START_TEST(test_bad_missing_rootfs)
{
        parse_bad_str(V "backend=copy\n", "rootfs or backend missing");
}
END_TEST

START_TEST(test_bad_missing_backend)
{
        parse_bad_str(V "rootfs=/r\n", "rootfs or backend missing");
}
END_TEST

START_TEST(test_bad_empty_rootfs)
{
        parse_bad_str(V "rootfs=\nbackend=copy\n", "line 2: bad value for rootfs");
}
END_TEST

START_TEST(test_bad_duplicate_rootfs)
{
        parse_bad_str(V MINIMAL "rootfs=/other\n", "line 4: bad value for rootfs");
}
END_TEST

START_TEST(test_bad_duplicate_backend)
{
        parse_bad_str(V MINIMAL "backend=copy\n", "line 4: bad value for backend");
}
END_TEST

START_TEST(test_bad_no_equals)
{
        parse_bad_str(V MINIMAL "layer /a\n", "line 4: not key=value");
}
END_TEST

START_TEST(test_bad_empty_key)
{
        parse_bad_str(V MINIMAL "=/a\n", "line 4: not key=value");
}
END_TEST

START_TEST(test_bad_empty_line)
{
        parse_bad_str(V "rootfs=/r\n\nbackend=copy\n", "line 3: not key=value");
}
END_TEST

START_TEST(test_bad_nul_in_line)
{
        static const char text[] = V MINIMAL "layer=/a\0b\n";

        parse_bad(text, sizeof(text) - 1, "line 4: not key=value");
}
END_TEST

START_TEST(test_bad_line_number_later)
{
        parse_bad_str(V MINIMAL "layer=/a\nlayer=/b\nlayer=/c\\q\n", "line 6:");
}
END_TEST

START_TEST(test_error_null_err)
{
        struct ovl_record rec = { 0 };
        const char *text = V "rootfs=/r\n";

        ck_assert_int_lt(ovl_record_parse(text, strlen(text), "x", &rec, NULL), 0);
}
END_TEST

Suite *ovl_unit_suite(void)
{
        Suite *s = suite_create("record");
        TCase *good = tcase_create("good");
        TCase *bad = tcase_create("bad");

        tcase_add_test(good, test_format_exact);
        tcase_add_test(good, test_round_trip_full);
        tcase_add_test(good, test_round_trip_each_state);
        tcase_add_test(good, test_parse_minimal_defaults);
        tcase_add_test(good, test_parse_escapes);
        tcase_add_test(good, test_parse_value_with_equals);
        tcase_add_test(good, test_parse_read_only_one);
        tcase_add_test(good, test_parse_tree);
        tcase_add_test(good, test_parse_dev);
        tcase_add_test(good, test_state_name);
        tcase_add_test(good, test_strlist);
        suite_add_tcase(s, good);

        tcase_add_test(bad, test_bad_no_version);
        tcase_add_test(bad, test_bad_unknown_key);
        tcase_add_test(bad, test_bad_state);
        tcase_add_test(bad, test_bad_created);
        tcase_add_test(bad, test_bad_pid);
        tcase_add_test(bad, test_bad_read_only);
        tcase_add_test(bad, test_bad_tree);
        tcase_add_test(bad, test_bad_dev);
        tcase_add_test(bad, test_bad_tree_overflow);
        tcase_add_test(bad, test_bad_repeated_or_relative);
        tcase_add_test(bad, test_bad_escape_q);
        tcase_add_test(bad, test_bad_escape_short_hex);
        tcase_add_test(bad, test_bad_escape_nul);
        tcase_add_test(bad, test_bad_escape_non_hex);
        tcase_add_test(bad, test_bad_escape_trailing_backslash);
        tcase_add_test(bad, test_bad_truncated);
        tcase_add_test(bad, test_bad_missing_rootfs);
        tcase_add_test(bad, test_bad_missing_backend);
        tcase_add_test(bad, test_bad_empty_rootfs);
        tcase_add_test(bad, test_bad_duplicate_rootfs);
        tcase_add_test(bad, test_bad_duplicate_backend);
        tcase_add_test(bad, test_bad_no_equals);
        tcase_add_test(bad, test_bad_empty_key);
        tcase_add_test(bad, test_bad_empty_line);
        tcase_add_test(bad, test_bad_nul_in_line);
        tcase_add_test(bad, test_bad_line_number_later);
        tcase_add_test(bad, test_error_null_err);
        suite_add_tcase(s, bad);
        return s;
}
