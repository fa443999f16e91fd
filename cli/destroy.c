#include "config.h"

#include <stdio.h>

#include "cli/cli.h"
#include "common/escape.h"
#include "common/json.h"
#include "lifecycle/lifecycle.h"

static void print_help(void)
{
        printf("Usage: ovlbackend destroy [--json] ROOTFS\n"
               "Remove a rootfs that ovlbackend assembled: unmount it (detached, so it works while\n"
               "files inside are open), remove what the backend made, and forget its record. Any\n"
               "path ovlbackend did not assemble is refused and left alone.\n"
               "An overlay still held after it was detached from the host (a process using it, a\n"
               "mount namespace with a copy of the mount) keeps its upper and work dirs and its\n"
               "record, so a container still running there keeps its files: destroy fails (exit 1)\n"
               "saying who, and 'ovlbackend gc' finishes the removal once they let go. Whenever\n"
               "something is busy, 'ovlbackend who ROOTFS' tells who holds it.\n\n"
               "Options:\n"
               "      --json           print the result as one JSON object on stdout\n" OVL_CLI_GLOBAL_HELP
               "\n" OVL_CLI_EXIT_CODES_HELP);
}

int ovl_cmd_destroy(int argc, char **argv, struct ovl_cli_globals *g)
{
        struct ovl_error err = { 0 };
        struct ovl_record rec;
        struct ovl_cli_operands in;
        int r;

        if (!ovl_cli_start_simple(argc, argv, g, 1, 1, print_help, &in, &r))
                return r;
        r = ovl_lifecycle_destroy(g->work_dir, in.args[0], &rec, &err);
        if (r < 0)
                return ovl_cli_report(&err, NULL);
        if (in.json) {
                struct ovl_json j;
                ovl_json_init(&j, stdout);
                ovl_json_object_begin(&j, NULL);
                ovl_json_string(&j, "rootfs", rec.rootfs);
                ovl_json_string(&j, "backend", rec.backend);
                ovl_json_bool(&j, "destroyed", true);
                ovl_json_object_end(&j);
        } else if (g->verbosity >= 0) {
                fputs("destroyed ", stdout);
                ovl_escape_text(stdout, rec.rootfs); /* names from the caller: one line whatever they hold */
                printf(" (%s)\n", rec.backend);
        }
        ovl_record_clear(&rec);
        return 0;
}
