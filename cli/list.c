#include "config.h"

#include <stdio.h>
#include <time.h>

#include "cli/cli.h"
#include "common/escape.h"
#include "common/json.h"
#include "lifecycle/lifecycle.h"

static void print_help(void)
{
        printf("Usage: ovlbackend list [--json]\n"
               "Show every rootfs ovlbackend assembled, checked against the real mount table:\n"
               "its backend, layer count, state (mounted, present, missing, stale, busy), scratch\n"
               "size and creation time. busy: an operation on it is in progress, or its destroy\n"
               "detached the mount but waits for processes or mount namespaces that still hold it\n"
               "('ovlbackend who ROOTFS' tells who; 'ovlbackend gc' finishes once they let go).\n\n"
               "Options:\n"
               "      --json           print one JSON object on stdout\n" OVL_CLI_GLOBAL_HELP
               "\n" OVL_CLI_EXIT_CODES_HELP);
}

static void print_json(const struct ovl_rootfs_info *infos, size_t n)
{
        struct ovl_json j;

        ovl_json_init(&j, stdout);
        ovl_json_object_begin(&j, NULL);
        ovl_json_array_begin(&j, "rootfs");
        for (size_t i = 0; i < n; i++) {
                ovl_json_object_begin(&j, NULL);
                ovl_json_string(&j, "rootfs", infos[i].rec.rootfs);
                ovl_json_string(&j, "backend", infos[i].rec.backend);
                ovl_cli_json_stack(&j, &infos[i].rec);
                ovl_json_int(&j, "layers", (int64_t) infos[i].rec.layers.count);
                ovl_json_string(&j, "state", ovl_presence_name(&infos[i]));
                ovl_json_string(&j, "record_state", ovl_record_state_name(infos[i].rec.state));
                ovl_json_bool(&j, "mounted", infos[i].mounted);
                ovl_json_int(&j, "scratch_bytes", (int64_t) infos[i].scratch_bytes);
                ovl_json_int(&j, "created", infos[i].rec.created);
                ovl_json_object_end(&j);
        }
        ovl_json_array_end(&j);
        ovl_json_object_end(&j);
}

static void print_table(const struct ovl_rootfs_info *infos, size_t n)
{
        printf("%-8s %-6s %-8s %10s %-20s %s\n", "BACKEND", "LAYERS", "STATE", "SCRATCH", "CREATED", "ROOTFS");
        for (size_t i = 0; i < n; i++) {
                char when[32] = "-";
                time_t t = (time_t) infos[i].rec.created;
                struct tm tm;

                if (localtime_r(&t, &tm))
                        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
                printf("%-8s %-6zu %-8s %10llu %-20s ", infos[i].rec.backend, infos[i].rec.layers.count,
                       ovl_presence_name(&infos[i]), infos[i].scratch_bytes, when);
                /* Escaped: a rootfs path may hold a newline, and this table is one line per rootfs. */
                ovl_escape_text(stdout, infos[i].rec.rootfs);
                putchar('\n');
        }
}

int ovl_cmd_list(int argc, char **argv, struct ovl_cli_globals *g)
{
        struct ovl_error err = { 0 };
        struct ovl_rootfs_info *infos;
        struct ovl_cli_operands in;
        size_t n;
        int r;

        if (!ovl_cli_start_simple(argc, argv, g, 0, 0, print_help, &in, &r))
                return r;
        r = ovl_lifecycle_list(g->work_dir, &infos, &n, &err);
        if (r < 0)
                return ovl_cli_report(&err, NULL);
        if (in.json)
                print_json(infos, n);
        else
                print_table(infos, n);
        ovl_rootfs_info_free(infos, n);
        return 0;
}
