/* Unit tests for the command-line parsers (cli/assemble.c, cli/args.c). */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/error.h"
#include "tests/unit/unit.h"

#define MAX_ARGS 16

/* A writable argv built from string literals, as getopt_long may permute and needs char *. */
struct argv_buf {
        int argc;
        char *argv[MAX_ARGS + 1];
};

static void make_argv(struct argv_buf *a, const char *const *args)
{
        memset(a, 0, sizeof(*a));
        for (; args[a->argc]; a->argc++) {
                ck_assert_int_lt(a->argc, MAX_ARGS);
                a->argv[a->argc] = strdup(args[a->argc]);
                ck_assert_ptr_nonnull(a->argv[a->argc]);
        }
        a->argv[a->argc] = NULL;
}

static void free_argv(struct argv_buf *a)
{
        for (int i = 0; i < a->argc; i++)
                free(a->argv[i]);
        memset(a, 0, sizeof(*a));
}

/* ---- assemble ---------------------------------------------------------------------------- */

struct assemble_run {
        struct argv_buf a;
        struct ovl_cli_globals g;
        struct ovl_assemble_args args;
        struct ovl_error err;
        int r;
};

/* Runs the assemble parser over args (argv[0] included). The caller frees run->a. */
static void run_assemble(struct assemble_run *run, const char *const *args)
{
        memset(run, 0, sizeof(*run));
        make_argv(&run->a, args);
        run->r = ovl_cli_parse_assemble(run->a.argc, run->a.argv, &run->g, &run->args, &run->err);
}

/* Asserts that args are refused as a usage error whose message contains needle. */
static void assemble_bad(const char *const *args, const char *needle)
{
        struct assemble_run run;

        run_assemble(&run, args);
        ck_assert_int_lt(run.r, 0);
        ck_assert(run.err.set);
        ck_assert_int_eq(run.err.class, OVL_ERR_BAD_INPUT);
        ck_assert_int_eq(ovl_error_exit_code(&run.err), 2);
        ck_assert_msg(strstr(run.err.msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, run.err.msg);
        free_argv(&run.a);
}

START_TEST(test_assemble_full)
{
        static const char *const args[] = { "assemble", "--backend=copy", "--rootfs=/r", "l0", "l1", NULL };
        struct assemble_run run;

        run_assemble(&run, args);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert(!run.err.set);
        ck_assert_str_eq(run.args.backend, "copy");
        ck_assert_str_eq(run.args.rootfs, "/r");
        ck_assert_ptr_null(run.args.layers_from);
        ck_assert_uint_eq(run.args.n_layers, 2);
        ck_assert_str_eq(run.args.layers[0], "l0");
        ck_assert_str_eq(run.args.layers[1], "l1");
        ck_assert_ptr_eq(run.args.layers, &run.a.argv[3]); /* points into argv */
        ck_assert(!run.args.opts.read_only);
        ck_assert(!run.args.json);
        ck_assert_ptr_null(run.g.work_dir);
        free_argv(&run.a);
}
END_TEST

START_TEST(test_assemble_separate_args)
{
        static const char *const args[] = { "assemble", "--backend", "overlay", "--rootfs", "/x/y", "l0", NULL };
        struct assemble_run run;

        run_assemble(&run, args);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert_str_eq(run.args.backend, "overlay");
        ck_assert_str_eq(run.args.rootfs, "/x/y");
        ck_assert_uint_eq(run.args.n_layers, 1);
        ck_assert_str_eq(run.args.layers[0], "l0");
        free_argv(&run.a);
}
END_TEST

START_TEST(test_assemble_short_options)
{
        static const char *const args[] = { "assemble", "-b", "copy", "-r/root", "/l0", NULL };
        struct assemble_run run;

        run_assemble(&run, args);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert_str_eq(run.args.backend, "copy");
        ck_assert_str_eq(run.args.rootfs, "/root");
        ck_assert_uint_eq(run.args.n_layers, 1);
        ck_assert_str_eq(run.args.layers[0], "/l0");
        free_argv(&run.a);
}
END_TEST

START_TEST(test_assemble_json_read_only)
{
        static const char *const args[] = { "assemble", "--json", "-b", "copy", "--read-only", "-r", "/r", "a", NULL };
        struct assemble_run run;

        run_assemble(&run, args);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert(run.args.json);
        ck_assert(run.args.opts.read_only);
        ck_assert_uint_eq(run.args.n_layers, 1);
        free_argv(&run.a);
}
END_TEST

START_TEST(test_assemble_layers_from)
{
        static const char *const args[] = { "assemble", "-b", "copy", "-r", "/r", "--layers-from=F", NULL };
        struct assemble_run run;

        run_assemble(&run, args);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert_str_eq(run.args.layers_from, "F");
        ck_assert_uint_eq(run.args.n_layers, 0);
        free_argv(&run.a);
}
END_TEST

START_TEST(test_assemble_work_dir)
{
        static const char *const args[] = { "assemble", "--work-dir=/X", "-b", "copy", "-r", "/r", "l", NULL };
        struct assemble_run run;

        run_assemble(&run, args);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert_str_eq(run.g.work_dir, "/X");
        free_argv(&run.a);
}
END_TEST

START_TEST(test_assemble_stops_at_first_operand)
{
        /* Options are not permuted: after the first layer, "--json" is a layer too. */
        static const char *const args[] = { "assemble", "-b", "copy", "-r", "/r", "l0", "--json", NULL };
        struct assemble_run run;

        run_assemble(&run, args);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert(!run.args.json);
        ck_assert_uint_eq(run.args.n_layers, 2);
        ck_assert_str_eq(run.args.layers[1], "--json");
        free_argv(&run.a);
}
END_TEST

START_TEST(test_assemble_double_dash)
{
        static const char *const args[] = { "assemble", "-b", "copy", "-r", "/r", "--", "-l0", NULL };
        struct assemble_run run;

        run_assemble(&run, args);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert_uint_eq(run.args.n_layers, 1);
        ck_assert_str_eq(run.args.layers[0], "-l0");
        free_argv(&run.a);
}
END_TEST

START_TEST(test_assemble_help)
{
        static const char *const args[] = { "assemble", "--help", NULL };
        static const char *const args_short[] = { "assemble", "-b", "copy", "-h", NULL };
        struct assemble_run run;

        run_assemble(&run, args);
        ck_assert_int_eq(run.r, OVL_CLI_HELP);
        ck_assert(!run.err.set);
        free_argv(&run.a);
        run_assemble(&run, args_short);
        ck_assert_int_eq(run.r, OVL_CLI_HELP);
        free_argv(&run.a);
}
END_TEST

START_TEST(test_assemble_reparse)
{
        /* The parser resets getopt itself: a second call with other arguments works. */
        static const char *const one[] = { "assemble", "-b", "copy", "-r", "/r", "l0", "l1", "l2", NULL };
        static const char *const two[] = { "assemble", "--rootfs=/s", "--backend=x", "m0", NULL };
        struct assemble_run run;

        run_assemble(&run, one);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert_uint_eq(run.args.n_layers, 3);
        free_argv(&run.a);
        run_assemble(&run, two);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert_str_eq(run.args.rootfs, "/s");
        ck_assert_str_eq(run.args.backend, "x");
        ck_assert_uint_eq(run.args.n_layers, 1);
        ck_assert_str_eq(run.args.layers[0], "m0");
        free_argv(&run.a);
}
END_TEST

START_TEST(test_assemble_missing_backend)
{
        static const char *const args[] = { "assemble", "--rootfs=/r", "l0", NULL };

        assemble_bad(args, "--backend");
}
END_TEST

START_TEST(test_assemble_missing_rootfs)
{
        static const char *const args[] = { "assemble", "--backend=copy", "l0", NULL };

        assemble_bad(args, "--rootfs");
}
END_TEST

START_TEST(test_assemble_no_layers)
{
        static const char *const args[] = { "assemble", "--backend=copy", "--rootfs=/r", NULL };

        assemble_bad(args, "no layers");
}
END_TEST

START_TEST(test_assemble_both_layer_sources)
{
        static const char *const args[] = { "assemble", "-b", "copy", "-r", "/r", "--layers-from=F", "l0", NULL };

        assemble_bad(args, "not both");
}
END_TEST

START_TEST(test_assemble_unknown_option)
{
        static const char *const args[] = { "assemble", "-b", "copy", "-r", "/r", "--frobnicate", "l0", NULL };
        static const char *const args_short[] = { "assemble", "-Z", "-b", "copy", "-r", "/r", "l0", NULL };

        assemble_bad(args, "unknown option");
        assemble_bad(args_short, "unknown option");
}
END_TEST

START_TEST(test_assemble_missing_argument)
{
        static const char *const args[] = { "assemble", "-r", "/r", "l0", "-b", NULL };
        static const char *const args_end[] = { "assemble", "-r", "/r", "--backend", NULL };

        /* "-b" after an operand is an operand; the backend is then missing. */
        assemble_bad(args, "--backend");
        assemble_bad(args_end, "missing argument");
}
END_TEST

START_TEST(test_assemble_message_names_command)
{
        static const char *const args[] = { "assemble", "--rootfs=/r", "l0", NULL };

        assemble_bad(args, "assemble: ");
}
END_TEST

/* ---- the simple parser ------------------------------------------------------------------- */

struct simple_run {
        struct argv_buf a;
        struct ovl_cli_globals g;
        struct ovl_error err;
        bool json;
        char **ops;
        size_t n;
        int r;
};

static void run_simple(struct simple_run *run, const char *const *args, size_t min, size_t max)
{
        memset(run, 0, sizeof(*run));
        run->n = 99;
        make_argv(&run->a, args);
        run->r = ovl_cli_parse_simple(run->a.argc, run->a.argv, &run->g, min, max, &run->json, &run->ops, &run->n,
                                      &run->err);
}

static void simple_bad(const char *const *args, size_t min, size_t max, const char *needle)
{
        struct simple_run run;

        run_simple(&run, args, min, max);
        ck_assert_int_lt(run.r, 0);
        ck_assert(run.err.set);
        ck_assert_int_eq(run.err.class, OVL_ERR_BAD_INPUT);
        ck_assert_msg(strstr(run.err.msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, run.err.msg);
        ck_assert_msg(strstr(run.err.msg, args[0]) != NULL, "command not in \"%s\"", run.err.msg);
        free_argv(&run.a);
}

START_TEST(test_simple_one_operand)
{
        static const char *const args[] = { "destroy", "/r", NULL };
        struct simple_run run;

        run_simple(&run, args, 1, 1);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert(!run.json);
        ck_assert_uint_eq(run.n, 1);
        ck_assert_str_eq(run.ops[0], "/r");
        ck_assert_ptr_eq(run.ops, &run.a.argv[1]);
        free_argv(&run.a);
}
END_TEST

START_TEST(test_simple_no_operands)
{
        static const char *const args[] = { "list", NULL };
        struct simple_run run;

        run_simple(&run, args, 0, 0);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert_uint_eq(run.n, 0);
        free_argv(&run.a);
}
END_TEST

START_TEST(test_simple_range)
{
        static const char *const args[] = { "gc", "a", "b", NULL };
        struct simple_run run;

        run_simple(&run, args, 0, 2);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert_uint_eq(run.n, 2);
        ck_assert_str_eq(run.ops[0], "a");
        ck_assert_str_eq(run.ops[1], "b");
        free_argv(&run.a);
}
END_TEST

START_TEST(test_simple_json)
{
        static const char *const args[] = { "list", "--json", NULL };
        struct simple_run run;

        run_simple(&run, args, 0, 0);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert(run.json);
        ck_assert_uint_eq(run.n, 0);
        free_argv(&run.a);
}
END_TEST

START_TEST(test_simple_globals)
{
        static const char *const args[] = { "probe", "--work-dir=/w", "-q", NULL };
        struct simple_run run;

        run_simple(&run, args, 0, 0);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert_str_eq(run.g.work_dir, "/w");
        ck_assert_int_eq(run.g.verbosity, -1);
        free_argv(&run.a);
}
END_TEST

/* Parses --work-dir=value (from the current directory) and asserts the work dir it gives. */
static void assert_work_dir(const char *value, const char *want)
{
        char opt[256];
        const char *const args[] = { "list", opt, NULL };
        struct simple_run run;

        snprintf(opt, sizeof(opt), "--work-dir=%s", value);
        run_simple(&run, args, 0, 0);
        ck_assert_int_eq(run.r, OVL_CLI_RUN);
        ck_assert_str_eq(run.g.work_dir, want);
        free_argv(&run.a);
}

START_TEST(test_simple_work_dir_relative)
{
        /* A relative work dir is made absolute from the current directory as the kernel resolves
         * it: "s/.." is the parent of s's target, not the current directory. The part that does
         * not exist yet is appended lexically. Absolute and empty values are kept as given. */
        char tmpl[] = "/tmp/ovl-test-cli.XXXXXX", path[512], want[512];
        char *dir = mkdtemp(tmpl), *real;
        int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ck_assert_ptr_nonnull(dir);
        ck_assert_int_ge(cwd, 0);
        real = realpath(dir, NULL);
        ck_assert_ptr_nonnull(real);
        snprintf(path, sizeof(path), "%s/a", real);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/a/b", real);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/s", real);
        ck_assert_int_eq(symlink("a/b", path), 0);
        ck_assert_int_eq(chdir(real), 0);

        snprintf(want, sizeof(want), "%s/wd", real);
        assert_work_dir("wd", want);
        assert_work_dir("./wd/", want);
        assert_work_dir("a/../wd", want);
        snprintf(want, sizeof(want), "%s/a/wd/new", real);
        assert_work_dir("s/../wd/./new", want);
        assert_work_dir("s/../wd/x/../new//", want);
        snprintf(want, sizeof(want), "%s/a/b", real);
        assert_work_dir("s", want);
        assert_work_dir(".", real);
        assert_work_dir("/abs/./x/../y", "/abs/./x/../y");
        assert_work_dir("", "");

        ck_assert_int_eq(fchdir(cwd), 0);
        close(cwd);
        snprintf(path, sizeof(path), "%s/s", real);
        ck_assert_int_eq(unlink(path), 0);
        snprintf(path, sizeof(path), "%s/a/b", real);
        ck_assert_int_eq(rmdir(path), 0);
        snprintf(path, sizeof(path), "%s/a", real);
        ck_assert_int_eq(rmdir(path), 0);
        ck_assert_int_eq(rmdir(real), 0);
        free(real);
}
END_TEST

START_TEST(test_simple_help)
{
        static const char *const args[] = { "destroy", "--help", NULL };
        struct simple_run run;

        /* Help wins over the missing operand. */
        run_simple(&run, args, 1, 1);
        ck_assert_int_eq(run.r, OVL_CLI_HELP);
        ck_assert(!run.err.set);
        free_argv(&run.a);
}
END_TEST

START_TEST(test_simple_too_many)
{
        static const char *const args[] = { "destroy", "/a", "/b", NULL };
        static const char *const args_list[] = { "list", "x", NULL };

        simple_bad(args, 1, 1, "too many operands");
        simple_bad(args_list, 0, 0, "too many operands");
}
END_TEST

START_TEST(test_simple_missing)
{
        static const char *const args[] = { "destroy", "--json", NULL };
        static const char *const args_two[] = { "cmd", "a", NULL };

        simple_bad(args, 1, 1, "missing operand");
        simple_bad(args_two, 2, 3, "missing operands");
}
END_TEST

START_TEST(test_simple_unknown_option)
{
        static const char *const args[] = { "list", "--all", NULL };
        static const char *const args_arg[] = { "list", "--work-dir", NULL };

        simple_bad(args, 0, 0, "unknown option");
        simple_bad(args_arg, 0, 0, "missing argument");
}
END_TEST

Suite *ovl_unit_suite(void)
{
        Suite *s = suite_create("cli");
        TCase *assemble = tcase_create("assemble");
        TCase *simple = tcase_create("simple");

        tcase_add_test(assemble, test_assemble_full);
        tcase_add_test(assemble, test_assemble_separate_args);
        tcase_add_test(assemble, test_assemble_short_options);
        tcase_add_test(assemble, test_assemble_json_read_only);
        tcase_add_test(assemble, test_assemble_layers_from);
        tcase_add_test(assemble, test_assemble_work_dir);
        tcase_add_test(assemble, test_assemble_stops_at_first_operand);
        tcase_add_test(assemble, test_assemble_double_dash);
        tcase_add_test(assemble, test_assemble_help);
        tcase_add_test(assemble, test_assemble_reparse);
        tcase_add_test(assemble, test_assemble_missing_backend);
        tcase_add_test(assemble, test_assemble_missing_rootfs);
        tcase_add_test(assemble, test_assemble_no_layers);
        tcase_add_test(assemble, test_assemble_both_layer_sources);
        tcase_add_test(assemble, test_assemble_unknown_option);
        tcase_add_test(assemble, test_assemble_missing_argument);
        tcase_add_test(assemble, test_assemble_message_names_command);
        suite_add_tcase(s, assemble);

        tcase_add_test(simple, test_simple_one_operand);
        tcase_add_test(simple, test_simple_no_operands);
        tcase_add_test(simple, test_simple_range);
        tcase_add_test(simple, test_simple_json);
        tcase_add_test(simple, test_simple_globals);
        tcase_add_test(simple, test_simple_work_dir_relative);
        tcase_add_test(simple, test_simple_help);
        tcase_add_test(simple, test_simple_too_many);
        tcase_add_test(simple, test_simple_missing);
        tcase_add_test(simple, test_simple_unknown_option);
        suite_add_tcase(s, simple);
        return s;
}
