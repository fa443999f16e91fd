#include "config.h"

#include <stdio.h>

#include "probe/probe.h"
#include "cli/cli.h"
#include "common/json.h"

static void print_help(void)
{
        printf("Usage: ovlbackend probe [--json] [DIR]\n"
               "Test what this kernel and the filesystem under DIR (default: the work dir) support,\n"
               "by trying each feature for real in a scratch directory that is removed afterwards\n"
               "(test mounts stay in a private mount namespace): overlayfs and its mount API, options\n"
               "and stack limit, d_type, idmapped mounts, reflink, user namespaces, seccomp. Then say\n"
               "which backend to use. Exit 0 when a backend can work here, 3 when none can.\n\n"
               "Options:\n"
               "      --json           print one JSON object on stdout\n" OVL_CLI_GLOBAL_HELP
               "\n" OVL_CLI_EXIT_CODES_HELP);
}

static void print_json(const struct ovl_probe_result *res)
{
        struct ovl_json j;

        ovl_json_init(&j, stdout);
        ovl_json_object_begin(&j, NULL);
        for (size_t i = 0; i < res->count; i++) {
                const struct ovl_probe_feature *f = &res->features[i];
                ovl_json_object_begin(&j, f->key);
                ovl_json_bool(&j, "supported", f->supported);
                ovl_json_string(&j, "how", f->how);
                ovl_json_string(&j, "detail", f->detail);
                ovl_json_object_end(&j);
        }
        ovl_json_object_begin(&j, "module_parameters");
        for (size_t i = 0; i < res->n_params; i++)
                ovl_json_string(&j, res->module_params[i].name, res->module_params[i].value);
        ovl_json_object_end(&j);
        ovl_json_int(&j, "max_layers", res->max_layers);
        ovl_json_string(&j, "max_layers_how", res->max_layers_how);
        ovl_json_int(&j, "page_size", res->page_size);
        ovl_json_int(&j, "fsconfig_string_max", res->fsconfig_string_max);
        ovl_json_string(&j, "backing_fs_type", res->fs_type);
        ovl_json_int(&j, "elapsed_ms", (long long) res->elapsed_ms);
        ovl_json_string(&j, "recommended_backend", res->recommended_backend);
        ovl_json_string(&j, "reason", res->reason);
        ovl_json_object_end(&j);
}

int ovl_cmd_probe(int argc, char **argv, struct ovl_cli_globals *g)
{
        struct ovl_error err = { 0 };
        struct ovl_probe_result res;
        struct ovl_cli_operands in;
        int r;

        if (!ovl_cli_start_simple(argc, argv, g, 0, 1, print_help, &in, &r))
                return r;
        r = ovl_probe_run(in.count ? in.args[0] : g->work_dir, &res, &err);
        if (r < 0)
                return ovl_cli_report(&err, NULL);
        if (in.json)
                print_json(&res);
        else {
                for (size_t i = 0; i < res.count; i++)
                        printf("%-16s %-3s %s%s%s\n", res.features[i].key, res.features[i].supported ? "yes" : "no",
                               res.features[i].how, *res.features[i].detail ? ": " : "", res.features[i].detail);
                printf("%-16s %-3ld %s\n", "max_layers", res.max_layers, res.max_layers_how);
                printf("%-16s %-3ld what mount(2)'s option string must fit in\n", "page_size", res.page_size);
                printf("%-16s %-3ld bytes: the longest fsconfig string value\n", "fsconfig_string",
                       res.fsconfig_string_max);
                for (size_t i = 0; i < res.n_params; i++)
                        printf("%-16s %-3s /sys/module/overlay/parameters/%s\n", i ? "" : "module defaults",
                               res.module_params[i].value, res.module_params[i].name);
                printf("%-16s %s (%s)\n", "recommended", res.recommended_backend ? res.recommended_backend : "none",
                       res.reason);
        }
        return res.recommended_backend ? 0 : OVL_ERR_UNSUPPORTED;
}
