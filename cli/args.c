/* Argument parsing shared by the subcommands that take only --json and operands. */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "cli/cli.h"
#include "common/json.h"
#include "state/record.h"

int ovl_cli_parse_simple(int argc, char **argv, struct ovl_cli_globals *g, size_t min_args, size_t max_args,
                         bool *ret_json, char ***ret_args, size_t *ret_count, struct ovl_error *err)
{
        static const struct option options[] = {
                OVL_CLI_GLOBAL_OPTIONS,
                { "json", no_argument, NULL, OVL_OPT_JSON },
                { 0 },
        };
        size_t count;
        int opt;

        *ret_json = false;
        opterr = 0;
        optind = 0;
        while ((opt = getopt_long(argc, argv, "+vqh", options, NULL)) != -1) {
                if (ovl_cli_handle_global(opt, optarg, g))
                        continue;
                if (opt == 'h')
                        return OVL_CLI_HELP;
                if (opt == OVL_OPT_JSON) {
                        *ret_json = true;
                        continue;
                }
                return ovl_cli_usage_error(err, argv[0], "unknown option or missing argument");
        }
        count = (size_t) (argc - optind);
        if (count < min_args)
                return ovl_cli_usage_error(err, argv[0], min_args == 1 ? "missing operand" : "missing operands");
        if (count > max_args)
                return ovl_cli_usage_error(err, argv[0], "too many operands");
        *ret_args = argv + optind;
        *ret_count = count;
        return OVL_CLI_RUN;
}

bool ovl_cli_start_simple(int argc, char **argv, struct ovl_cli_globals *g, size_t min_args, size_t max_args,
                          void (*help)(void), struct ovl_cli_operands *ret, int *ret_exit)
{
        struct ovl_error err = { 0 };
        int r = ovl_cli_parse_simple(argc, argv, g, min_args, max_args, &ret->json, &ret->args, &ret->count, &err);

        if (r == OVL_CLI_RUN)
                return true;
        if (r == OVL_CLI_HELP)
                help();
        *ret_exit = r == OVL_CLI_HELP ? 0 : ovl_cli_report(&err, argv[0]);
        return false;
}

void ovl_cli_json_stack(struct ovl_json *j, const struct ovl_record *rec)
{
        const struct ovl_backend_ops *b = ovl_backend_find(rec->backend);

        if (b && b->stack_of)
                ovl_json_string(j, "stack", b->stack_of(rec));
}
