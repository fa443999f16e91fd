#include "config.h"

#include <stdio.h>

#include "cli/cli.h"
#include "common/escape.h"
#include "common/json.h"
#include "lifecycle/lifecycle.h"

static void print_help(void)
{
        printf("Usage: ovlbackend gc [--json]\n"
               "Remove what interrupted runs left behind: unfinished records and what they made,\n"
               "record directories without a record, lock files without a record. A rootfs that\n"
               "is ready, or that an operation holds, is never touched; one whose destroy found\n"
               "it still held keeps its record until nothing holds it ('ovlbackend who ROOTFS').\n\n"
               "Options:\n"
               "      --json           print one JSON object on stdout\n" OVL_CLI_GLOBAL_HELP
               "\n" OVL_CLI_EXIT_CODES_HELP);
}

static void print_items(const struct ovl_gc_report *rep, bool json)
{
        struct ovl_json j;

        if (!json) {
                /* One line per item: the path and the detail (an error message, or a rootfs path
                 * from a record) are escaped, as either may hold a newline. */
                for (size_t i = 0; i < rep->count; i++) {
                        printf("%s %s ", rep->items[i].removed ? "removed" : "kept", rep->items[i].what);
                        ovl_escape_text(stdout, rep->items[i].path);
                        fputs(" (", stdout);
                        ovl_escape_text(stdout, rep->items[i].detail);
                        fputs(")\n", stdout);
                }
                return;
        }
        ovl_json_init(&j, stdout);
        ovl_json_object_begin(&j, NULL);
        for (int removed = 1; removed >= 0; removed--) {
                ovl_json_array_begin(&j, removed ? "removed" : "kept");
                for (size_t i = 0; i < rep->count; i++) {
                        if (rep->items[i].removed != (bool) removed)
                                continue;
                        ovl_json_object_begin(&j, NULL);
                        ovl_json_string(&j, "kind", rep->items[i].what);
                        ovl_json_string(&j, "path", rep->items[i].path);
                        ovl_json_string(&j, "detail", rep->items[i].detail);
                        ovl_json_object_end(&j);
                }
                ovl_json_array_end(&j);
        }
        ovl_json_object_end(&j);
}

int ovl_cmd_gc(int argc, char **argv, struct ovl_cli_globals *g)
{
        struct ovl_error err = { 0 };
        struct ovl_gc_report rep;
        struct ovl_cli_operands in;
        int r;

        if (!ovl_cli_start_simple(argc, argv, g, 0, 0, print_help, &in, &r))
                return r;
        r = ovl_lifecycle_gc(g->work_dir, &rep, &err);
        if (r < 0)
                return ovl_cli_report(&err, NULL);
        if (in.json || g->verbosity >= 0)
                print_items(&rep, in.json);
        ovl_gc_report_clear(&rep);
        return 0;
}
