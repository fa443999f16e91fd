/* Unit tests for the layer list (backends/layer.c) and the path helpers (common/fsutil.c). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/layer.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "tests/unit/unit.h"

/* ---- ovl_layer_list_parse ---------------------------------------------------------------- */

/* Parses text of len bytes; asserts success and `expected` (NULL-terminated) as the result. */
static void parse_expect(const char *text, size_t len, const char *const *expected)
{
        struct ovl_error err = { 0 };
        char **paths = NULL;
        size_t count = 99, n = 0;

        ck_assert_int_eq(ovl_layer_list_parse(text, len, "F", &paths, &count, &err), 0);
        ck_assert(!err.set);
        ck_assert_ptr_nonnull(paths);
        while (expected[n])
                n++;
        ck_assert_uint_eq(count, n);
        for (size_t i = 0; i < n; i++)
                ck_assert_str_eq(paths[i], expected[i]);
        ck_assert_ptr_null(paths[n]);
        ovl_strv_free(paths);
}

static void parse_expect_str(const char *text, const char *const *expected)
{
        parse_expect(text, strlen(text), expected);
}

START_TEST(test_parse_empty)
{
        static const char *const none[] = { NULL };

        parse_expect("", 0, none);
        parse_expect_str("\n\n\n", none);
}
END_TEST

START_TEST(test_parse_skips_empty_lines)
{
        static const char *const want[] = { "a", "b", NULL };

        parse_expect_str("a\n\nb\n", want);
}
END_TEST

START_TEST(test_parse_no_trailing_newline)
{
        static const char *const want[] = { "/l/0", "/l/1", NULL };

        parse_expect_str("/l/0\n/l/1", want);
}
END_TEST

START_TEST(test_parse_verbatim)
{
        static const char *const want[] = { "/a b/c d ", " lead", "x,y", "p:q", "#c", "\t", NULL };

        parse_expect_str("/a b/c d \n lead\nx,y\np:q\n#c\n\t\n", want);
}
END_TEST

START_TEST(test_parse_len_respected)
{
        static const char *const want[] = { "abc", NULL };

        /* Only the first 3 bytes count. */
        parse_expect("abc\ndef\n", 3, want);
}
END_TEST

START_TEST(test_parse_nul_byte)
{
        static const char text[] = "/a\n/b\0c\n";
        struct ovl_error err = { 0 };
        char **paths = NULL;
        size_t count = 0;

        ck_assert_int_lt(ovl_layer_list_parse(text, sizeof(text) - 1, "LIST", &paths, &count, &err), 0);
        ck_assert(err.set);
        ck_assert_int_eq(err.class, OVL_ERR_BAD_INPUT);
        ck_assert_ptr_nonnull(strstr(err.msg, "LIST"));
        ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));
        ck_assert_ptr_null(paths);
}
END_TEST

/* ---- ovl_layer_list_add and find_containing on real directories ------------------------- */

static char tmpdir[64];
static char *realtmp; /* tmpdir, canonical */

static void setup_tmpdir(void)
{
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_layers.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        realtmp = realpath(tmpdir, NULL);
        ck_assert_ptr_nonnull(realtmp);
}

static void teardown_tmpdir(void)
{
        char cmd[128];

        free(realtmp);
        realtmp = NULL;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* Returns the formatted text in a new string. */
static char *new_string(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *new_string(const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(n, 0);
        return s;
}

/* Returns tmpdir/rel in a new string. */
static char *in_tmp(const char *rel)
{
        return new_string("%s/%s", tmpdir, rel);
}

/* Returns realtmp/rel in a new string: what the list makes of in_tmp(rel). */
static char *in_realtmp(const char *rel)
{
        return new_string("%s/%s", realtmp, rel);
}

static void make_dir(const char *rel)
{
        _cleanup_free_ char *p = in_tmp(rel);

        ck_assert_int_eq(mkdir(p, 0755), 0);
}

/* Adds tmpdir/rel to list and asserts that it was accepted. */
static void add_ok(struct ovl_layer_list *list, const char *rel)
{
        _cleanup_free_ char *p = in_tmp(rel);
        struct ovl_error err = { 0 };

        ck_assert_int_eq(ovl_layer_list_add(list, p, &err), 0);
        ck_assert(!err.set);
}

/* Asserts that adding rel fails as bad input, with a message naming the path and containing
 * `needle`, and leaves the list unchanged. */
static void add_bad(const char *rel, const char *needle)
{
        struct ovl_layer_list list = { 0 };
        struct ovl_error err = { 0 };
        _cleanup_free_ char *p = in_tmp(rel);

        ck_assert_int_lt(ovl_layer_list_add(&list, p, &err), 0);
        ck_assert(err.set);
        ck_assert_int_eq(err.class, OVL_ERR_BAD_INPUT);
        ck_assert_msg(strstr(err.msg, p) != NULL, "path not in \"%s\"", err.msg);
        ck_assert_msg(strstr(err.msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, err.msg);
        ck_assert_uint_eq(list.count, 0);
        ovl_layer_list_clear(&list);
}

START_TEST(test_add_ok)
{
        struct ovl_layer_list list = { 0 };
        _cleanup_free_ char *want = in_realtmp("l0");
        struct stat st;

        make_dir("l0");
        make_dir("l0/sub");
        /* A non-canonical spelling: the list keeps the canonical path. */
        add_ok(&list, "l0/sub/../");
        ck_assert_uint_eq(list.count, 1);
        ck_assert_str_eq(list.items[0].path, want);
        ck_assert_int_ge(list.items[0].fd, 0);
        ck_assert_int_eq(stat(want, &st), 0);
        ck_assert_uint_eq(list.items[0].st.st_ino, st.st_ino);
        ck_assert_uint_eq(list.items[0].st.st_dev, st.st_dev);
        ck_assert(S_ISDIR(list.items[0].st.st_mode));
        ovl_layer_list_clear(&list);
        ck_assert_uint_eq(list.count, 0);
        ck_assert_ptr_null(list.items);
}
END_TEST

START_TEST(test_add_keeps_order)
{
        struct ovl_layer_list list = { 0 };
        const char *names[] = { "b", "a", "c" };

        for (size_t i = 0; i < 3; i++) {
                make_dir(names[i]);
                add_ok(&list, names[i]);
        }
        ck_assert_uint_eq(list.count, 3);
        for (size_t i = 0; i < 3; i++) {
                _cleanup_free_ char *want = in_realtmp(names[i]);
                ck_assert_str_eq(list.items[i].path, want);
        }
        ovl_layer_list_clear(&list);
}
END_TEST

START_TEST(test_add_missing)
{
        add_bad("nope", "No such file or directory");
}
END_TEST

START_TEST(test_add_regular_file)
{
        _cleanup_free_ char *p = in_tmp("file");
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

        ck_assert_int_ge(fd, 0);
        add_bad("file", "Not a directory");
}
END_TEST

START_TEST(test_add_symlink_to_dir)
{
        _cleanup_free_ char *p = in_tmp("link");

        make_dir("target");
        ck_assert_int_eq(symlink("target", p), 0);
        add_bad("link", "symbolic link");
}
END_TEST

START_TEST(test_add_dangling_symlink)
{
        _cleanup_free_ char *p = in_tmp("dangling");

        ck_assert_int_eq(symlink("nowhere", p), 0);
        add_bad("dangling", "symbolic link");
}
END_TEST

START_TEST(test_add_empty_path)
{
        struct ovl_layer_list list = { 0 };
        struct ovl_error err = { 0 };

        ck_assert_int_lt(ovl_layer_list_add(&list, "", &err), 0);
        ck_assert_int_eq(err.class, OVL_ERR_BAD_INPUT);
        ck_assert_uint_eq(list.count, 0);
}
END_TEST

START_TEST(test_find_containing)
{
        struct ovl_layer_list list = { 0 };
        _cleanup_free_ char *l0 = in_realtmp("l0"), *l1_below = in_realtmp("l1/x/y"), *l10 = in_realtmp("l10");

        make_dir("l0");
        make_dir("l1");
        make_dir("l10");
        add_ok(&list, "l0");
        add_ok(&list, "l1");

        ck_assert_int_eq(ovl_layer_list_find_containing(&list, l0), 0);
        ck_assert_int_eq(ovl_layer_list_find_containing(&list, l1_below), 1);
        ck_assert_int_eq(ovl_layer_list_find_containing(&list, l10), -1); /* a sibling sharing the prefix */
        ck_assert_int_eq(ovl_layer_list_find_containing(&list, realtmp), -1);
        ck_assert_int_eq(ovl_layer_list_find_containing(&list, "/"), -1);
        ovl_layer_list_clear(&list);
        ck_assert_int_eq(ovl_layer_list_find_containing(&list, l10), -1);
}
END_TEST

START_TEST(test_find_containing_nested)
{
        struct ovl_layer_list list = { 0 };
        _cleanup_free_ char *q = in_realtmp("outer/inner/f");

        /* Layer 1 lies inside layer 0: the first (bottom) match wins. */
        make_dir("outer");
        make_dir("outer/inner");
        add_ok(&list, "outer");
        add_ok(&list, "outer/inner");
        ck_assert_int_eq(ovl_layer_list_find_containing(&list, q), 0);
        ovl_layer_list_clear(&list);
}
END_TEST

START_TEST(test_strv_free_null)
{
        ovl_strv_free(NULL);
}
END_TEST

/* ---- ovl_path_split ---------------------------------------------------------------------- */

static void split_ok(const char *path, const char *parent, const char *base)
{
        char *p = NULL, *b = NULL;

        ck_assert_msg(ovl_path_split(path, &p, &b) == 0, "split \"%s\" failed", path);
        ck_assert_str_eq(p, parent);
        ck_assert_str_eq(b, base);
        free(p);
        free(b);
}

static void split_einval(const char *path)
{
        char *p = NULL, *b = NULL;

        ck_assert_msg(ovl_path_split(path, &p, &b) == -EINVAL, "split \"%s\" accepted", path);
        ck_assert_ptr_null(p);
        ck_assert_ptr_null(b);
}

START_TEST(test_split_simple)
{
        split_ok("/a/b", "/a", "b");
        split_ok("/a/b/c", "/a/b", "c");
}
END_TEST

START_TEST(test_split_trailing_slash)
{
        split_ok("/a/b/", "/a", "b");
        split_ok("/a/b///", "/a", "b");
}
END_TEST

START_TEST(test_split_relative)
{
        split_ok("b", ".", "b");
        split_ok("a/b", "a", "b");
        split_ok("b/", ".", "b");
}
END_TEST

START_TEST(test_split_root_child)
{
        split_ok("/b", "/", "b");
        split_ok("/b/", "/", "b");
}
END_TEST

START_TEST(test_split_invalid)
{
        split_einval("/");
        split_einval("");
        split_einval(".");
        split_einval("..");
        split_einval("//");
        split_einval("/a/.");
        split_einval("/a/..");
}
END_TEST

/* ---- ovl_path_canonical_parent ----------------------------------------------------------- */

START_TEST(test_canonical_parent)
{
        _cleanup_free_ char *p = in_tmp("d/../d/not-yet"), *want = in_realtmp("d/not-yet"), *out = NULL;

        make_dir("d");
        ck_assert_int_eq(ovl_path_canonical_parent(p, &out), 0);
        ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(test_canonical_parent_root)
{
        char *out = NULL;

        ck_assert_int_eq(ovl_path_canonical_parent("/newdir", &out), 0);
        ck_assert_str_eq(out, "/newdir");
        free(out);
}
END_TEST

START_TEST(test_canonical_parent_missing_parent)
{
        _cleanup_free_ char *p = in_tmp("nope/x");
        char *out = NULL;

        ck_assert_int_eq(ovl_path_canonical_parent(p, &out), -ENOENT);
        ck_assert_int_eq(ovl_path_canonical_parent("/", &out), -EINVAL);
}
END_TEST

/* ---- ovl_path_is_below ------------------------------------------------------------------- */

START_TEST(test_is_below)
{
        ck_assert(ovl_path_is_below("/a/b", "/a"));
        ck_assert(ovl_path_is_below("/a/b/c", "/a"));
        ck_assert(ovl_path_is_below("/a", "/a"));
        ck_assert(!ovl_path_is_below("/ab", "/a"));
        ck_assert(!ovl_path_is_below("/a", "/a/b"));
        ck_assert(!ovl_path_is_below("/b", "/a"));
}
END_TEST

START_TEST(test_is_below_root)
{
        ck_assert(ovl_path_is_below("/", "/"));
        ck_assert(ovl_path_is_below("/a", "/"));
        ck_assert(ovl_path_is_below("/x/y/z", "/"));
}
END_TEST

Suite *ovl_unit_suite(void)
{
        Suite *s = suite_create("layers");
        TCase *parse = tcase_create("parse");
        TCase *fs = tcase_create("add");
        TCase *paths = tcase_create("paths");

        tcase_add_test(parse, test_parse_empty);
        tcase_add_test(parse, test_parse_skips_empty_lines);
        tcase_add_test(parse, test_parse_no_trailing_newline);
        tcase_add_test(parse, test_parse_verbatim);
        tcase_add_test(parse, test_parse_len_respected);
        tcase_add_test(parse, test_parse_nul_byte);
        suite_add_tcase(s, parse);

        tcase_add_checked_fixture(fs, setup_tmpdir, teardown_tmpdir);
        tcase_add_test(fs, test_add_ok);
        tcase_add_test(fs, test_add_keeps_order);
        tcase_add_test(fs, test_add_missing);
        tcase_add_test(fs, test_add_regular_file);
        tcase_add_test(fs, test_add_symlink_to_dir);
        tcase_add_test(fs, test_add_dangling_symlink);
        tcase_add_test(fs, test_add_empty_path);
        tcase_add_test(fs, test_find_containing);
        tcase_add_test(fs, test_find_containing_nested);
        tcase_add_test(fs, test_strv_free_null);
        tcase_add_test(fs, test_canonical_parent);
        tcase_add_test(fs, test_canonical_parent_root);
        tcase_add_test(fs, test_canonical_parent_missing_parent);
        suite_add_tcase(s, fs);

        tcase_add_test(paths, test_split_simple);
        tcase_add_test(paths, test_split_trailing_slash);
        tcase_add_test(paths, test_split_relative);
        tcase_add_test(paths, test_split_root_child);
        tcase_add_test(paths, test_split_invalid);
        tcase_add_test(paths, test_is_below);
        tcase_add_test(paths, test_is_below_root);
        suite_add_tcase(s, paths);
        return s;
}
