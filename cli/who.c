#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "cli/cli.h"
#include "common/escape.h"
#include "common/json.h"
#include "lifecycle/lifecycle.h"

static void print_help(void)
{
        printf("Usage: ovlbackend who [--json] ROOTFS\n"
               "Show which processes and which mount namespaces still hold a rootfs ovlbackend\n"
               "assembled, or its scratch (the overlay's upper and work dirs): one line per holder,\n"
               "PID COMM KIND DETAIL, KIND being root, cwd, fd N or map (DETAIL: the path as the\n"
               "kernel gives it), or mount-namespace (DETAIL: where the mount is in that namespace,\n"
               "and the namespace, mnt:[INODE]). A namespace whose processes are all ovlbackend's\n"
               "own sandboxed workers is marked so: its copy of the mount goes when they exit.\n"
               "Nothing is printed when nothing holds it (a line with -v). It takes no lock and\n"
               "changes nothing; as root it sees every process.\n\n"
               "This is what keeps a destroyed overlay rootfs in `list` as busy: destroy detaches\n"
               "the mount from the host, but keeps the upper and work dirs while a holder still\n"
               "uses them; `ovlbackend gc` removes them once nobody does.\n\n"
               "Options:\n"
               "      --json           print one JSON object on stdout: rootfs, backend, held,\n"
               "                       holders, namespaces\n" OVL_CLI_GLOBAL_HELP
               "\nExit code 0 whether or not anything holds the rootfs (--json's \"held\" says it);\n"
               "2 for a path ovlbackend did not assemble.\n" OVL_CLI_EXIT_CODES_HELP);
}

static void print_json(const struct ovl_record *rec, const struct ovl_who *w)
{
        struct ovl_json j;

        ovl_json_init(&j, stdout);
        ovl_json_object_begin(&j, NULL);
        ovl_json_string(&j, "rootfs", rec->rootfs);
        ovl_json_string(&j, "backend", rec->backend);
        ovl_json_bool(&j, "held", ovl_who_held(w));
        ovl_json_array_begin(&j, "holders");
        for (size_t i = 0; i < w->n_holders; i++) {
                const struct ovl_holder *h = &w->holders[i];
                ovl_json_object_begin(&j, NULL);
                ovl_json_int(&j, "pid", h->pid);
                ovl_json_string(&j, "comm", h->comm);
                ovl_json_string(&j, "kind", ovl_holder_kind_name(h->kind));
                if (h->kind == OVL_HOLDER_FD)
                        ovl_json_int(&j, "fd", h->fd);
                ovl_json_string(&j, "path", h->path);
                ovl_json_int(&j, "mnt_ns", (int64_t) h->mnt_ns);
                ovl_json_bool(&j, "scratch", h->scratch);
                ovl_json_object_end(&j);
        }
        ovl_json_array_end(&j);
        ovl_json_array_begin(&j, "namespaces");
        for (size_t i = 0; i < w->n_namespaces; i++) {
                const struct ovl_holder_ns *n = &w->namespaces[i];
                ovl_json_object_begin(&j, NULL);
                ovl_json_int(&j, "mnt_ns", (int64_t) n->mnt_ns);
                ovl_json_array_begin(&j, "pids");
                for (size_t k = 0; k < n->n_pids; k++)
                        ovl_json_int(&j, NULL, n->pids[k]);
                ovl_json_array_end(&j);
                ovl_json_string(&j, "mount_point", n->mount_point);
                ovl_json_bool(&j, "ovlbackend_workers", n->ovlbackend);
                ovl_json_bool(&j, "unprivileged_userns", n->unprivileged);
                ovl_json_object_end(&j);
        }
        ovl_json_array_end(&j);
        ovl_json_int(&j, "unreadable_processes", (int64_t) w->unreadable);
        ovl_json_object_end(&j);
}

/* "PID COMM " (escaped: a process names itself), or "- - " for none. */
static void print_process(pid_t pid, const char *comm)
{
        if (pid <= 0) {
                fputs("- - ", stdout);
                return;
        }
        printf("%" PRIdMAX " ", (intmax_t) pid);
        ovl_escape_text(stdout, *comm ? comm : "-");
        putchar(' ');
}

static void print_text(const struct ovl_record *rec, const struct ovl_who *w, int verbosity)
{
        for (size_t i = 0; i < w->n_holders; i++) {
                const struct ovl_holder *h = &w->holders[i];
                print_process(h->pid, h->comm);
                fputs(ovl_holder_kind_name(h->kind), stdout);
                if (h->kind == OVL_HOLDER_FD)
                        printf(" %d", h->fd);
                putchar(' ');
                ovl_escape_text(stdout, h->path ? h->path : "?");
                puts(h->scratch ? " (scratch)" : "");
        }
        for (size_t i = 0; i < w->n_namespaces; i++) {
                const struct ovl_holder_ns *n = &w->namespaces[i];
                print_process(n->n_pids ? n->pids[0] : 0, n->comm);
                fputs("mount-namespace ", stdout);
                ovl_escape_text(stdout, n->mount_point);
                printf(" mnt:[%" PRIu64 "]%s\n", n->mnt_ns,
                       n->ovlbackend     ? " (ovlbackend workers)"
                       : n->unprivileged ? " (an unprivileged user namespace: not counted)"
                                         : "");
        }
        if (verbosity > 0 && w->n_holders == 0 && w->n_namespaces == 0) {
                fputs("nothing holds ", stdout);
                ovl_escape_text(stdout, rec->rootfs);
                putchar('\n');
        }
        if (verbosity >= 0 && w->unreadable)
                fprintf(stderr, "ovlbackend: %zu processes could not be inspected (not root?)\n", w->unreadable);
}

int ovl_cmd_who(int argc, char **argv, struct ovl_cli_globals *g)
{
        struct ovl_error err = { 0 };
        struct ovl_record rec;
        struct ovl_who who;
        struct ovl_cli_operands in;
        int r;

        if (!ovl_cli_start_simple(argc, argv, g, 1, 1, print_help, &in, &r))
                return r;
        r = ovl_lifecycle_who(g->work_dir, in.args[0], &rec, &who, &err);
        if (r < 0)
                return ovl_cli_report(&err, NULL);
        if (in.json)
                print_json(&rec, &who);
        else
                print_text(&rec, &who, g->verbosity);
        ovl_who_clear(&who);
        ovl_record_clear(&rec);
        return 0;
}
