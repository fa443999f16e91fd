/* The command line: one file per subcommand, dispatched from the table in cli/dispatch.c. Only
 * cli/ prints; everything below it returns errors in struct ovl_error. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "backends/backend.h"
#include "common/error.h"
#include "namespaces/idmap.h"
#include "namespaces/sandbox.h"

/* Options every subcommand accepts, before or after its name. */
struct ovl_cli_globals {
        const char *work_dir;
        int verbosity; /* -1 quiet, 0 normal, 1+ verbose */
        struct ovl_sandbox_settings sandbox;
};

/* Long-option values of the global options, above any short option character. */
enum {
        OVL_OPT_WORK_DIR = 0x1000,
        OVL_OPT_VERBOSE,
        OVL_OPT_QUIET,
        OVL_OPT_HELP,
        OVL_OPT_JSON,
        OVL_OPT_NO_SANDBOX,
        OVL_OPT_SECCOMP_DENY,
        OVL_OPT_FIRST_COMMAND_OPTION, /* subcommands number their own options from here */
};

/* One option per line, as getopt_long tables read best. */
/* clang-format off */
#define OVL_CLI_GLOBAL_OPTIONS                                              \
        { "work-dir", required_argument, NULL, OVL_OPT_WORK_DIR },          \
        { "verbose", no_argument, NULL, 'v' },                              \
        { "quiet", no_argument, NULL, 'q' },                                \
        { "help", no_argument, NULL, 'h' },                                 \
        { "no-sandbox", no_argument, NULL, OVL_OPT_NO_SANDBOX },            \
        { "seccomp-deny", required_argument, NULL, OVL_OPT_SECCOMP_DENY }
/* clang-format on */

/* The global options' lines for --help texts. */
#define OVL_CLI_GLOBAL_HELP                                                                         \
        "      --work-dir=DIR   state, scratch and caches (default " OVL_CLI_DEFAULT_WORK_DIR ";\n" \
        "                       environment OVLBACKEND_WORK_DIR)\n"                                 \
        "  -v, --verbose        say more on stderr\n"                                               \
        "  -q, --quiet          say nothing but errors\n"                                           \
        "  -h, --help           show this help\n"                                                   \
        "      --no-sandbox     run the backend's work in this process, without the worker's\n"     \
        "                       private mount namespace, capability limits and seccomp filter\n"    \
        "      --seccomp-deny=eperm|kill  a system call outside the worker's allowlist fails\n"     \
        "                       with EPERM (default) or kills the worker\n"

#define OVL_CLI_DEFAULT_WORK_DIR "/var/lib/ovlbackend"

#define OVL_CLI_EXIT_CODES_HELP                                                   \
        "Exit codes: 0 ok; 1 the operation failed; 2 usage error or bad input;\n" \
        "3 not supported by this kernel or filesystem.\n"

/* What a command's option parser decided: run, print help, or fail with a usage error. */
enum ovl_cli_parse_result { OVL_CLI_RUN, OVL_CLI_HELP };

/* Handles a global option returned by getopt_long. Returns 1 when opt was one, else 0. */
int ovl_cli_handle_global(int opt, const char *arg, struct ovl_cli_globals *g);

/* Sets the usage error for an unknown option or a missing argument seen by getopt. */
int ovl_cli_usage_error(struct ovl_error *err, const char *command, const char *what);

/* Prints err as one line "ovlbackend: <message>", with a --help hint naming `command` for usage
 * errors (command NULL: none); returns the exit code it stands for. */
int ovl_cli_report(const struct ovl_error *err, const char *command);

/* Each subcommand: parses its arguments (starting at argv[0] = its name) and runs. Returns the
 * process exit code. */
int ovl_cmd_assemble(int argc, char **argv, struct ovl_cli_globals *g);
int ovl_cmd_destroy(int argc, char **argv, struct ovl_cli_globals *g);
int ovl_cmd_list(int argc, char **argv, struct ovl_cli_globals *g);
int ovl_cmd_gc(int argc, char **argv, struct ovl_cli_globals *g);
int ovl_cmd_probe(int argc, char **argv, struct ovl_cli_globals *g);
int ovl_cmd_who(int argc, char **argv, struct ovl_cli_globals *g);

/* The whole program, minus main(): parses global options and dispatches. Returns the exit code. */
int ovl_cli_run(int argc, char **argv);

/* The parsed arguments of `assemble`, separated from running it so tests can check the parser. */
struct ovl_assemble_args {
        const char *backend;
        const char *rootfs;
        const char *layers_from;
        char **layers; /* points into argv */
        size_t n_layers;
        struct ovl_backend_options opts;
        struct ovl_idmap idmap; /* opts.idmap points here when given */
        const char *userns;
        bool allow_reachable_rootfs; /* --allow-reachable-rootfs */
        bool json;
};

/* Parses `assemble` arguments. Returns OVL_CLI_RUN, OVL_CLI_HELP, or -errno with a usage error. */
int ovl_cli_parse_assemble(int argc, char **argv, struct ovl_cli_globals *g, struct ovl_assemble_args *ret,
                           struct ovl_error *err);

/* Parses the arguments of a command taking only --json and at most `max_args` operands (destroy,
 * list, gc, probe, who). Returns OVL_CLI_RUN, OVL_CLI_HELP, or -errno with a usage error. */
int ovl_cli_parse_simple(int argc, char **argv, struct ovl_cli_globals *g, size_t min_args, size_t max_args,
                         bool *ret_json, char ***ret_args, size_t *ret_count, struct ovl_error *err);

/* What a simple command was given. */
struct ovl_cli_operands {
        bool json;
        char **args;
        size_t count;
};

/* The start of a simple command: parses its arguments (ovl_cli_parse_simple), printing its help
 * (help) or the usage error itself. Returns true when the command is to run; otherwise it is done
 * and *ret_exit is its exit code. */
bool ovl_cli_start_simple(int argc, char **argv, struct ovl_cli_globals *g, size_t min_args, size_t max_args,
                          void (*help)(void), struct ovl_cli_operands *ret, int *ret_exit);

struct ovl_json;
struct ovl_record;

/* Adds "stack" (how the layers are stacked) to a JSON object about rec, for the backends that
 * stack layers. */
void ovl_cli_json_stack(struct ovl_json *j, const struct ovl_record *rec);
