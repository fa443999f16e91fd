#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/escape.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/syscalls.h"
#include "common/testhook.h"

struct command {
        const char *name;
        int (*run)(int argc, char **argv, struct ovl_cli_globals *g);
        const char *summary;
};

static const struct command commands[] = {
        { "assemble", ovl_cmd_assemble, "build a rootfs from layer directories" },
        { "destroy", ovl_cmd_destroy, "remove a rootfs ovlbackend assembled" },
        { "list", ovl_cmd_list, "show the rootfses ovlbackend assembled" },
        { "gc", ovl_cmd_gc, "remove what interrupted runs left behind" },
        { "probe", ovl_cmd_probe, "test what this kernel and filesystem support" },
        { "who", ovl_cmd_who, "show which processes and mount namespaces still hold a rootfs" },
};

static void print_help(void)
{
        printf("Usage: ovlbackend [OPTION...] COMMAND [ARG...]\n"
               "Assemble a container root filesystem from image layer directories.\n\n"
               "  ovlbackend assemble --backend=copy --rootfs=DIR [--json] LAYER...\n"
               "  ovlbackend destroy [--json] ROOTFS\n"
               "  ovlbackend list [--json]\n"
               "  ovlbackend gc [--json]\n"
               "  ovlbackend probe [--json] [DIR]\n"
               "  ovlbackend who [--json] ROOTFS\n\n"
               "Commands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                printf("  %-10s %s\n", commands[i].name, commands[i].summary);
        printf("\nLayers are given bottom first, as in an OCI manifest.\n"
               "'ovlbackend COMMAND --help' describes each command.\n\n"
               "Options:\n" OVL_CLI_GLOBAL_HELP "      --version        show the version\n\n" OVL_CLI_EXIT_CODES_HELP);
}

/* The absolute work dir that g->work_dir points to when it was given relative, kept for the life
 * of the process. */
static char *absolute_work_dir;

/* Appends the components of `tail` to the absolute path `out` (room for both), dropping "." and
 * empty ones and letting ".." take the last one off. */
static void append_lexically(char *out, char *tail)
{
        char *save = NULL;

        for (char *c = strtok_r(tail, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) {
                        char *slash = strrchr(out, '/');
                        slash[slash == out ? 1 : 0] = '\0';
                        continue;
                }
                if (strcmp(out, "/") != 0)
                        strcat(out, "/");
                strcat(out, c);
        }
}

/* Makes a relative path absolute as the kernel would resolve it from here, now: the current
 * directory joined with it, the longest part of that which exists through realpath (so a
 * "link/.." means what it means to the kernel), and the rest, which assemble creates, appended
 * lexically. Returns 0 or -errno. */
static int make_absolute(const char *path, char **ret)
{
        _cleanup_free_ char *cwd = getcwd(NULL, 0), *joined = NULL, *head = NULL, *real = NULL;
        char *out;

        if (!cwd)
                return -errno;
        if (asprintf(&joined, "%s/%s", cwd, path) < 0 || !(head = strdup(joined)))
                return -ENOMEM;
        while (!(real = realpath(head, NULL))) {
                char *slash = strrchr(head, '/');
                if (errno != ENOENT)
                        return -errno;
                slash[slash == head ? 1 : 0] = '\0'; /* "/" always exists: the loop ends */
        }
        out = malloc(strlen(real) + strlen(joined) + 2);
        if (!out)
                return -ENOMEM;
        strcpy(out, real);
        append_lexically(out, joined + strlen(head));
        *ret = out;
        return 0;
}

/* Sets the work dir from --work-dir or OVLBACKEND_WORK_DIR (`source`), made absolute once, here:
 * the lifecycle writes paths below it into records and hands them to the kernel, where a relative
 * path means something else or nothing. An absolute or empty value is kept as given. */
static void set_work_dir(struct ovl_cli_globals *g, const char *value, const char *source)
{
        struct ovl_error err = { 0 };
        char *absolute = NULL;
        int r;

        if (value[0] == '/' || value[0] == '\0') {
                g->work_dir = value;
                return;
        }
        r = make_absolute(value, &absolute);
        if (r < 0) {
                ovl_error_bad(&err, -r, "%s=%s: cannot make the work dir absolute", source, value);
                exit(ovl_cli_report(&err, NULL));
        }
        free(absolute_work_dir);
        g->work_dir = absolute_work_dir = absolute;
}

int ovl_cli_handle_global(int opt, const char *arg, struct ovl_cli_globals *g)
{
        switch (opt) {
        case OVL_OPT_WORK_DIR:
                set_work_dir(g, arg, "--work-dir");
                return 1;
        case 'v':
                g->verbosity = g->verbosity < 0 ? 1 : g->verbosity + 1;
                break;
        case 'q':
                g->verbosity = -1;
                break;
        case OVL_OPT_NO_SANDBOX:
                g->sandbox.disabled = true;
                ovl_sandbox_configure(&g->sandbox);
                ovl_log(OVL_LOG_NORMAL, "--no-sandbox: the backend runs without a private mount namespace, "
                                        "capability limits or seccomp");
                return 1;
        case OVL_OPT_SECCOMP_DENY:
                if (strcmp(arg, "eperm") != 0 && strcmp(arg, "kill") != 0) {
                        struct ovl_error err = { 0 };
                        ovl_cli_usage_error(&err, NULL, "--seccomp-deny: expected eperm or kill");
                        exit(ovl_cli_report(&err, ""));
                }
                g->sandbox.kill_on_deny = strcmp(arg, "kill") == 0;
                ovl_sandbox_configure(&g->sandbox);
                return 1;
        default:
                return 0;
        }
        ovl_log_set_level(g->verbosity < 0 ? OVL_LOG_QUIET : (enum ovl_log_level)(g->verbosity > 2 ? 2 : g->verbosity));
        return 1;
}

int ovl_cli_usage_error(struct ovl_error *err, const char *command, const char *what)
{
        return ovl_error_bad(err, 0, "%s%s%s", command ? command : "", command ? ": " : "", what);
}

int ovl_cli_report(const struct ovl_error *err, const char *command)
{
        /* One line, always: callers read the first line of stderr as the reason. The message names
         * paths from layers and from the caller, any of which may hold a newline or an escape
         * sequence, so it is escaped here, where it leaves the program. */
        fputs("ovlbackend: ", stderr);
        ovl_escape_text(stderr, err->msg);
        if (command)
                fprintf(stderr, " (see 'ovlbackend %s%s--help')", command, *command ? " " : "");
        fputc('\n', stderr);
        return ovl_error_exit_code(err);
}

/* Raises the open-file limit to its hard maximum: the merge walker holds a directory fd per
 * contributing layer per level, and images come with hundreds of layers. */
static void raise_fd_limit(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int ovl_cli_run(int argc, char **argv)
{
        static const struct option options[] = {
                OVL_CLI_GLOBAL_OPTIONS,
                { "version", no_argument, NULL, 'V' },
                { 0 },
        };
        struct ovl_cli_globals g = { .work_dir = OVL_CLI_DEFAULT_WORK_DIR };
        struct ovl_error err = { 0 };
        const char *env_work_dir = getenv("OVLBACKEND_WORK_DIR");
        const char *legacy = ovl_test_hook_getenv("OVLBACKEND_LEGACY_MOUNT_API");
        int opt;

        if (env_work_dir && *env_work_dir)
                set_work_dir(&g, env_work_dir, "OVLBACKEND_WORK_DIR");
        if (legacy && strcmp(legacy, "1") == 0)
                ovl_syscalls_disable_new_api();
        raise_fd_limit();
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+vqhV", options, NULL)) != -1) {
                if (ovl_cli_handle_global(opt, optarg, &g))
                        continue;
                if (opt == 'h') {
                        print_help();
                        return 0;
                }
                if (opt == 'V') {
                        printf("ovlbackend %s\n", PACKAGE_VERSION);
                        return 0;
                }
                ovl_cli_usage_error(&err, NULL, "unknown option or missing argument");
                return ovl_cli_report(&err, "");
        }
        if (optind >= argc) {
                ovl_cli_usage_error(&err, NULL, "no command given (assemble, destroy, list, gc, probe, who)");
                return ovl_cli_report(&err, "");
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[optind], commands[i].name) == 0) {
                        int sub_argc = argc - optind;
                        char **sub_argv = argv + optind;
                        optind = 0; /* restart getopt for the subcommand */
                        return commands[i].run(sub_argc, sub_argv, &g);
                }
        ovl_error_bad(&err, 0, "%s: unknown command", argv[optind]);
        return ovl_cli_report(&err, "");
}
