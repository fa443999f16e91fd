#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/copy_pool.h"
#include "cli/cli.h"
#include "common/escape.h"
#include "common/json.h"
#include "common/macro.h"
#include "lifecycle/lifecycle.h"

#define LAYERS_FROM_MAX (64u << 20)

enum {
        OPT_ROOTFS = OVL_OPT_FIRST_COMMAND_OPTION,
        OPT_BACKEND,
        OPT_READ_ONLY,
        OPT_READ_WRITE,
        OPT_NOSUID,
        OPT_NODEV,
        OPT_ALLOW_WHITEOUTS,
        OPT_UPPER,
        OPT_VOLATILE,
        OPT_NO_FLATTEN,
        OPT_STACK,
        OPT_JOBS,
        OPT_LAYERS_FROM,
        OPT_UIDMAP,
        OPT_GIDMAP,
        OPT_USERNS,
        OPT_ALLOW_REACHABLE,
};

static void print_help(void)
{
        printf("Usage: ovlbackend assemble --backend=NAME --rootfs=DIR [OPTION...] LAYER...\n"
               "       ovlbackend assemble --backend=NAME --rootfs=DIR --layers-from=FILE\n"
               "Build a rootfs at DIR from layer directories given bottom first.\n\n"
               "DIR must not exist or be an empty directory. On success it is complete; on\n"
               "failure nothing is left behind. Layers are only ever read.\n\n"
               "Backends:\n");
        for (const struct ovl_backend_ops *const *b = ovl_backends; *b; b++)
                printf("  %-10s %s\n", (*b)->name, (*b)->summary);
        printf("\nOptions:\n"
               "  -b, --backend=NAME     the backend to use\n"
               "  -r, --rootfs=DIR       where the rootfs appears\n"
               "      --layers-from=FILE read layer paths from FILE, one a line ('-': stdin)\n"
               "      --read-only        a read-only rootfs (bind: the default; overlay: no upper dir)\n"
               "      --read-write       bind: a writable bind mount; WRITES REACH THE LAYER itself\n"
               "      --nosuid, --nodev  bind, overlay: mount the rootfs nosuid / nodev\n"
               "      --allow-whiteouts  bind: accept a layer that still holds whiteout markers\n"
               "                         (they show up in the rootfs as files and devices)\n"
               "      --upper=tmpfs[:SIZE]  overlay: the upper and work dirs on a private tmpfs\n"
               "                         (SIZE as tmpfs takes it, e.g. 512m; default half of RAM)\n"
               "      --volatile         overlay: no syncs to the upper dir (lost on a crash)\n"
               "      --no-flatten       overlay: refuse more layers than the kernel stacks in one\n"
               "                         mount, instead of flattening the bottom ones once\n"
               "      --stack=HOW        overlay: auto (default), layers (one lower dir per layer)\n"
               "                         or meta (one cached metadata layer over the layers as\n"
               "                         data-only lowers: lookups cost one layer at any depth)\n"
               "      --jobs=N           copy, overlay: threads that copy files (the copy backend,\n"
               "                         the overlay's cached layers); default: one per CPU, 1: none\n"
               "                         besides the walk's own\n"
               "      --uidmap=C:H:N     an idmapped rootfs: container uids C..C+N-1 owned by host\n"
               "                         uids H..H+N-1 (repeatable); bind, overlay: idmapped mounts\n"
               "                         (nothing is written), copy: the ids written shifted\n"
               "      --gidmap=C:H:N     the same for gids (default: the uid maps)\n"
               "      --userns=/proc/PID/ns/user  the maps of that process's user namespace\n"
               "      --allow-reachable-rootfs  accept a DIR that every local user can reach (no\n"
               "                         directory above it denies search to others): they can then\n"
               "                         run the image's setuid programs as root and use its device\n"
               "                         nodes; refused by default\n"
               "      --json             print the result as one JSON object on stdout\n" OVL_CLI_GLOBAL_HELP
               "\n" OVL_CLI_EXIT_CODES_HELP);
}

static int parse_stack(const char *text, enum ovl_stack *ret)
{
        static const char *const names[] = {
                [OVL_STACK_AUTO] = "auto", [OVL_STACK_LAYERS] = "layers", [OVL_STACK_META] = "meta"
        };

        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (strcmp(text, names[i]) == 0) {
                        *ret = (enum ovl_stack) i;
                        return 0;
                }
        return -EINVAL;
}

static int parse_jobs(const char *text, unsigned *ret)
{
        char *end;
        unsigned long n;

        errno = 0;
        n = strtoul(text, &end, 10);
        if (errno || end == text || *end || text[0] == '-' || n < 1 || n > OVL_COPY_MAX_WORKERS)
                return -EINVAL;
        *ret = (unsigned) n;
        return 0;
}

/* --userns reads its maps; gid maps default to the uid maps; gid maps alone are refused. */
static int finish_idmap(struct ovl_assemble_args *ret, struct ovl_error *err)
{
        struct ovl_idmap *m = &ret->idmap;

        if (ret->userns && ret->opts.idmap)
                return ovl_cli_usage_error(err, "assemble", "give --userns or --uidmap/--gidmap, not both");
        if (ret->userns) {
                if (ovl_idmap_from_userns(ret->userns, m, err) < 0)
                        return -EINVAL;
                if (m->n_uid == 0 || m->n_gid == 0)
                        return ovl_error_bad(err, 0, "--userns=%s: the namespace has no %s map yet", ret->userns,
                                             m->n_uid == 0 ? "uid" : "gid");
                ret->opts.idmap = m;
        }
        if (ret->opts.idmap && m->n_uid == 0)
                return ovl_cli_usage_error(err, "assemble", "--gidmap needs --uidmap");
        if (ret->opts.idmap && m->n_gid == 0) {
                memcpy(m->gid, m->uid, sizeof(m->gid));
                m->n_gid = m->n_uid;
        }
        return OVL_CLI_RUN;
}

int ovl_cli_parse_assemble(int argc, char **argv, struct ovl_cli_globals *g, struct ovl_assemble_args *ret,
                           struct ovl_error *err)
{
        static const struct option options[] = {
                OVL_CLI_GLOBAL_OPTIONS,
                { "rootfs", required_argument, NULL, 'r' },
                { "backend", required_argument, NULL, 'b' },
                { "read-only", no_argument, NULL, OPT_READ_ONLY },
                { "read-write", no_argument, NULL, OPT_READ_WRITE },
                { "nosuid", no_argument, NULL, OPT_NOSUID },
                { "nodev", no_argument, NULL, OPT_NODEV },
                { "allow-whiteouts", no_argument, NULL, OPT_ALLOW_WHITEOUTS },
                { "upper", required_argument, NULL, OPT_UPPER },
                { "volatile", no_argument, NULL, OPT_VOLATILE },
                { "no-flatten", no_argument, NULL, OPT_NO_FLATTEN },
                { "stack", required_argument, NULL, OPT_STACK },
                { "jobs", required_argument, NULL, OPT_JOBS },
                { "layers-from", required_argument, NULL, OPT_LAYERS_FROM },
                { "uidmap", required_argument, NULL, OPT_UIDMAP },
                { "gidmap", required_argument, NULL, OPT_GIDMAP },
                { "userns", required_argument, NULL, OPT_USERNS },
                { "allow-reachable-rootfs", no_argument, NULL, OPT_ALLOW_REACHABLE },
                { "json", no_argument, NULL, OVL_OPT_JSON },
                { 0 },
        };
        int opt;

        *ret = (struct ovl_assemble_args){ 0 };
        opterr = 0;
        optind = 0;
        while ((opt = getopt_long(argc, argv, "+vqhr:b:", options, NULL)) != -1) {
                if (ovl_cli_handle_global(opt, optarg, g))
                        continue;
                switch (opt) {
                case 'h':
                        return OVL_CLI_HELP;
                case 'r':
                        ret->rootfs = optarg;
                        break;
                case 'b':
                        ret->backend = optarg;
                        break;
                case OPT_READ_ONLY:
                        ret->opts.read_only = true;
                        break;
                case OPT_READ_WRITE:
                        ret->opts.read_write = true;
                        break;
                case OPT_NOSUID:
                        ret->opts.nosuid = true;
                        break;
                case OPT_NODEV:
                        ret->opts.nodev = true;
                        break;
                case OPT_ALLOW_WHITEOUTS:
                        ret->opts.allow_whiteouts = true;
                        break;
                case OPT_UPPER:
                        ret->opts.upper = optarg;
                        break;
                case OPT_VOLATILE:
                        ret->opts.volatile_upper = true;
                        break;
                case OPT_NO_FLATTEN:
                        ret->opts.no_flatten = true;
                        break;
                case OPT_STACK:
                        if (parse_stack(optarg, &ret->opts.stack) < 0)
                                return ovl_cli_usage_error(err, "assemble", "--stack: expected auto, layers or meta");
                        break;
                case OPT_JOBS:
                        if (parse_jobs(optarg, &ret->opts.jobs) < 0)
                                return ovl_cli_usage_error(err, "assemble", "--jobs: expected a number from 1 to 64");
                        break;
                case OPT_LAYERS_FROM:
                        ret->layers_from = optarg;
                        break;
                case OPT_ALLOW_REACHABLE:
                        ret->allow_reachable_rootfs = true;
                        break;
                case OPT_UIDMAP:
                case OPT_GIDMAP:
                        if (ovl_idmap_add(&ret->idmap, opt == OPT_GIDMAP, optarg, err) < 0)
                                return -EINVAL;
                        ret->opts.idmap = &ret->idmap;
                        break;
                case OPT_USERNS:
                        ret->userns = optarg;
                        break;
                case OVL_OPT_JSON:
                        ret->json = true;
                        break;
                default:
                        return ovl_cli_usage_error(err, "assemble", "unknown option or missing argument");
                }
        }
        ret->layers = argv + optind;
        ret->n_layers = (size_t) (argc - optind);
        if (!ret->backend)
                return ovl_cli_usage_error(err, "assemble", "--backend=NAME is required");
        if (!ret->rootfs)
                return ovl_cli_usage_error(err, "assemble", "--rootfs=DIR is required");
        if (ret->layers_from && ret->n_layers > 0)
                return ovl_cli_usage_error(err, "assemble", "give layers as arguments or with --layers-from, not both");
        if (!ret->layers_from && ret->n_layers == 0)
                return ovl_cli_usage_error(err, "assemble", "no layers given");
        return finish_idmap(ret, err);
}

/* Reads a --layers-from file (or stdin for "-") into a new array of paths. */
static int read_layers_from(const char *source, char ***ret, size_t *ret_count, struct ovl_error *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = malloc(LAYERS_FROM_MAX);
        size_t len = 0;

        if (!buf)
                return ovl_error_fail(err, ENOMEM, "layer list %s", source);
        fd = strcmp(source, "-") == 0 ? dup(STDIN_FILENO) : open(source, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ovl_error_bad(err, errno, "layer list %s", source);
        for (;;) {
                ssize_t n = read(fd, buf + len, LAYERS_FROM_MAX - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ovl_error_bad(err, errno, "layer list %s", source);
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len == LAYERS_FROM_MAX)
                        return ovl_error_bad(err, EFBIG, "layer list %s", source);
        }
        return ovl_layer_list_parse(buf, len, source, ret, ret_count, err);
}

static void print_json(const struct ovl_assemble_result *res)
{
        struct ovl_json j;

        ovl_json_init(&j, stdout);
        ovl_json_object_begin(&j, NULL);
        ovl_json_string(&j, "rootfs", res->rec.rootfs);
        ovl_json_string(&j, "backend", res->rec.backend);
        ovl_cli_json_stack(&j, &res->rec);
        ovl_json_int(&j, "layers", (int64_t) res->rec.layers.count);
        ovl_json_bool(&j, "read_only", res->rec.read_only);
        ovl_json_string(&j, "record", res->record_path ? res->record_path : "");
        ovl_json_array_begin(&j, "mounts");
        for (size_t i = 0; i < res->rec.mounts.count; i++)
                ovl_json_string(&j, NULL, res->rec.mounts.items[i]);
        ovl_json_array_end(&j);
        ovl_json_array_begin(&j, "scratch");
        for (size_t i = 0; i < res->rec.scratch.count; i++)
                ovl_json_string(&j, NULL, res->rec.scratch.items[i]);
        ovl_json_array_end(&j);
        ovl_json_object_begin(&j, "timings");
        ovl_json_double(&j, "total_ms", res->elapsed_ms);
        ovl_json_object_end(&j);
        ovl_json_object_end(&j);
}

int ovl_cmd_assemble(int argc, char **argv, struct ovl_cli_globals *g)
{
        struct ovl_error err = { 0 };
        struct ovl_assemble_args args;
        struct ovl_assemble_result res;
        char **from_file = NULL;
        int r;

        r = ovl_cli_parse_assemble(argc, argv, g, &args, &err);
        if (r == OVL_CLI_HELP) {
                print_help();
                return 0;
        }
        if (r < 0)
                return ovl_cli_report(&err, "assemble");
        if (args.layers_from) {
                r = read_layers_from(args.layers_from, &from_file, &args.n_layers, &err);
                if (r < 0)
                        return ovl_cli_report(&err, NULL);
                args.layers = from_file;
        }
        r = ovl_lifecycle_assemble(&(struct ovl_assemble_options){ .work_dir = g->work_dir,
                                                                   .rootfs = args.rootfs,
                                                                   .backend = args.backend,
                                                                   .layers = args.layers,
                                                                   .n_layers = args.n_layers,
                                                                   .opts = args.opts,
                                                                   .allow_reachable_rootfs =
                                                                           args.allow_reachable_rootfs },
                                   &res, &err);
        ovl_strv_free(from_file);
        if (r < 0)
                return ovl_cli_report(&err, NULL);
        if (args.json) {
                print_json(&res);
        } else if (g->verbosity >= 0) {
                fputs("assembled ", stdout);
                ovl_escape_text(stdout, res.rec.rootfs); /* one line, whatever the path holds */
                printf(" (%s, %zu layer%s) in %.1f ms\n", res.rec.backend, res.rec.layers.count,
                       res.rec.layers.count == 1 ? "" : "s", res.elapsed_ms);
        }
        ovl_assemble_result_clear(&res);
        return 0;
}
