#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "common/testhook.h"
#include "lifecycle/internal.h"
#include "lifecycle/lifecycle.h"
#include "namespaces/idmap.h"
#include "namespaces/seccomp.h"
#include "state/workdir.h"

/* Everything one assemble holds, released in one place. */
struct assembly {
        struct ovl_workdir wd;
        struct ovl_layer_list layers;
        char *rootfs; /* canonical */
        char *parent, *name;
        int parent_fd;
        int lock_fd;
        char id[OVL_RECORD_ID_LEN + 1];
        bool rootfs_exists;
        struct ovl_tree_id rootfs_id; /* R's identity when it exists already */
        char *record_dir;             /* WORK/rootfs/<id>, and its fd */
        int record_dir_fd;
        int userns_fd;  /* --uidmap with a mount backend */
        bool keep_lock; /* a record stays: so does its lock file */
};

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

static void assembly_release(struct assembly *a)
{
        ovl_workdir_unlock(&a->wd, a->id, a->lock_fd, !a->keep_lock);
        ovl_workdir_close(&a->wd);
        ovl_layer_list_clear(&a->layers);
        safe_close(a->parent_fd);
        free(a->rootfs);
        free(a->parent);
        free(a->name);
        free(a->record_dir);
        safe_close(a->record_dir_fd);
        safe_close(a->userns_fd);
}

static int backend_names(char *buf, size_t size)
{
        size_t len = 0;

        buf[0] = '\0';
        for (const struct ovl_backend_ops *const *b = ovl_backends; *b; b++)
                len += (size_t) snprintf(buf + len, len < size ? size - len : 0, "%s%s", b == ovl_backends ? "" : ", ",
                                         (*b)->name);
        return 0;
}

/* The options given that the backend does not honour, as "--a, --b", or "" when none. */
static void unsupported_options(const struct ovl_backend_options *o, unsigned accepts, char *buf, size_t size)
{
        const struct {
                bool given;
                unsigned needs;
                const char *name;
        } all[] = {
                { o->read_only, OVL_ACCEPTS_READ_ONLY, "--read-only" },
                { o->read_write, OVL_ACCEPTS_READ_WRITE, "--read-write" },
                { o->nosuid, OVL_ACCEPTS_MOUNT_FLAGS, "--nosuid" },
                { o->nodev, OVL_ACCEPTS_MOUNT_FLAGS, "--nodev" },
                { o->allow_whiteouts, OVL_ACCEPTS_ALLOW_WHITEOUTS, "--allow-whiteouts" },
                { o->upper != NULL, OVL_ACCEPTS_UPPER, "--upper" },
                { o->volatile_upper, OVL_ACCEPTS_UPPER, "--volatile" },
                { o->no_flatten, OVL_ACCEPTS_NO_FLATTEN, "--no-flatten" },
                { o->stack != OVL_STACK_AUTO, OVL_ACCEPTS_STACK, "--stack" },
                { o->jobs != 0, OVL_ACCEPTS_JOBS, "--jobs" },
                { o->idmap != NULL, OVL_ACCEPTS_IDMAP, "--uidmap/--gidmap/--userns" },
        };
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(all); i++)
                if (all[i].given && !(accepts & all[i].needs))
                        len += (size_t) snprintf(buf + len, len < size ? size - len : 0, "%s%s", len ? ", " : "",
                                                 all[i].name);
}

static int validate_backend(const struct ovl_assemble_options *opt, const struct ovl_backend_ops **ret,
                            struct ovl_error *err)
{
        char names[256], unsupported[256];

        *ret = opt->backend ? ovl_backend_find(opt->backend) : NULL;
        if (!*ret) {
                backend_names(names, sizeof(names));
                if (!opt->backend)
                        return ovl_error_bad(err, 0, "no backend given (--backend=%s)", names);
                return ovl_error_bad(err, 0, "backend %s: unknown backend (known: %s)", opt->backend, names);
        }
        if (opt->n_layers == 0)
                return ovl_error_bad(err, 0, "no layers given");
        unsupported_options(&opt->opts, (*ret)->accepts, unsupported, sizeof(unsupported));
        if (*unsupported)
                return ovl_error_bad(err, 0, "backend %s: does not take %s", (*ret)->name, unsupported);
        if (opt->opts.read_only && opt->opts.read_write)
                return ovl_error_bad(err, 0, "--read-only and --read-write contradict each other");
        if ((*ret)->max_layers == 1 && opt->n_layers > 1)
                return ovl_error_bad(err, 0,
                                     "backend %s: takes exactly one layer, %zu given; the copy and overlay "
                                     "backends stack layers",
                                     (*ret)->name, opt->n_layers);
        if ((*ret)->max_layers && opt->n_layers > (*ret)->max_layers)
                return ovl_error_bad(err, 0, "backend %s: takes at most %zu layers, %zu given", (*ret)->name,
                                     (*ret)->max_layers, opt->n_layers);
        return (*ret)->validate ? (*ret)->validate(&opt->opts, err) : 0;
}

/* Resolves R's parent and checks R is not inside a layer. */
static int resolve_rootfs(struct assembly *a, const char *given, struct ovl_error *err)
{
        int r;

        r = ovl_path_canonical_parent(given, &a->rootfs);
        if (r == -EINVAL)
                return ovl_error_bad(err, 0, "rootfs %s: not a usable rootfs path", given);
        if (r < 0)
                return ovl_error_bad(err, -r, "rootfs %s: parent directory", given);
        r = ovl_path_split(a->rootfs, &a->parent, &a->name);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s", given);
        if (strlen(a->name) > NAME_MAX)
                return ovl_error_fail(err, ENAMETOOLONG, "rootfs %s", given); /* exit 1: "names too long", #4 */
        {
                ssize_t i = ovl_layer_list_find_containing(&a->layers, a->rootfs);
                if (i >= 0)
                        return ovl_error_bad(err, 0, "rootfs %s: lies inside layer %s; layers are never written", given,
                                             a->layers.items[i].path);
        }
        a->parent_fd = open(a->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (a->parent_fd < 0)
                return ovl_error_bad(err, errno, "rootfs %s: parent directory", given);
        return 0;
}

/* Checks, under the lock, that R is missing or an empty directory. */
static int check_rootfs_free(struct assembly *a, const char *given, struct ovl_error *err)
{
        struct stat st;
        int r;

        if (fstatat(a->parent_fd, a->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return ovl_error_fail(err, errno, "rootfs %s", given);
                a->rootfs_exists = false;
                return 0;
        }
        if (!S_ISDIR(st.st_mode))
                return ovl_error_bad(err, 0, "rootfs %s: exists and is not a directory", given);
        /* Its owner could swap what is in it, or it, between our checks and our work. */
        if (st.st_uid != geteuid())
                return ovl_error_bad(err, 0,
                                     "rootfs %s: belongs to uid %u, not to uid %u that runs ovlbackend; "
                                     "give a path that does not exist yet, or an empty directory of uid %u",
                                     given, (unsigned) st.st_uid, (unsigned) geteuid(), (unsigned) geteuid());
        /* Checked before any work: the copy's final rename would only fail (EBUSY) at the end, and a
         * mount backend would stack on someone else's mount. */
        if (ovl_is_mount_point_at(a->parent_fd, a->name) > 0)
                return ovl_error_bad(err, 0, "rootfs %s: is a mount point (something is mounted there)", given);
        {
                _cleanup_close_ int fd = openat(a->parent_fd, a->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                bool empty = false;
                if (fd < 0 || (r = ovl_dir_is_empty(fd, &empty)) < 0)
                        return ovl_error_fail(err, fd < 0 ? errno : -r, "rootfs %s", given);
                if (!empty)
                        return ovl_error_bad(err, ENOTEMPTY, "rootfs %s", given);
                r = ovl_tree_id_get(fd, "", &a->rootfs_id);
                if (r < 0)
                        return ovl_error_fail(err, -r, "rootfs %s", given);
        }
        a->rootfs_exists = true;
        return 0;
}

/* Whether the directory open at fd shuts other users out: ours (or root's), and not searchable by
 * "others". Its group may search it: that is how a user-namespaced container's root is let in
 * (moby's 0710 root:REMAPPED-GID), a grant the owner made on purpose. */
static bool shuts_others_out(int fd)
{
        struct stat st;

        return fstat(fd, &st) == 0 && (st.st_uid == geteuid() || st.st_uid == 0) && !(st.st_mode & S_IXOTH);
}

/* A rootfs holds the image's setuid-root programs and device nodes: a local user who can reach it
 * can run them as root, or read a disk through them (the class of CVE-2021-41091 and
 * CVE-2021-41103, both fixed by shutting others out of the rootfses' parents). So some directory
 * above R must deny search to other users. The ancestors are walked through fds from "/", each
 * opened O_NOFOLLOW (the canonical path has no symlinks), and the last must be R's parent as
 * opened before. Returns 0 or -errno with err set. */
static int check_reachable(const struct assembly *a, const char *given, bool allowed, struct ovl_error *err)
{
        _cleanup_free_ char *copy = strdup(a->parent);
        _cleanup_close_ int cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        bool shut = cur >= 0 && shuts_others_out(cur);
        struct stat want, got;
        char *save = NULL;

        if (!copy || cur < 0)
                return ovl_error_fail(err, copy ? errno : ENOMEM, "rootfs %s", given);
        for (char *part = strtok_r(copy, "/", &save); part && !shut; part = strtok_r(NULL, "/", &save)) {
                int next = openat(cur, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0)
                        return ovl_error_fail(err, errno, "rootfs %s: parent directory", given);
                close(cur);
                cur = next;
                shut = shuts_others_out(cur);
        }
        if (shut || allowed)
                return 0;
        if (fstat(cur, &got) < 0 || fstat(a->parent_fd, &want) < 0 || got.st_dev != want.st_dev ||
            got.st_ino != want.st_ino)
                return ovl_error_fail(err, 0, "rootfs %s: its parent directory changed while it was checked", given);
        return ovl_error_bad(err, 0,
                             "rootfs %s: reachable by every local user (no directory above it denies "
                             "search to others), who could run its setuid programs as root and use its device "
                             "nodes; put it below a directory of mode 0700 (or 0710 with a group only trusted ids are "
                             "in), or pass "
                             "--allow-reachable-rootfs to accept that",
                             given);
}

/* Under the lock: an earlier record for R is either live (refuse) or unfinished (roll it back). */
static int settle_previous_record(struct assembly *a, const char *given, struct ovl_error *err)
{
        struct ovl_record old = { 0 };
        int r = ovl_workdir_load_record(&a->wd, a->id, &old, err);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (strcmp(old.rootfs, a->rootfs) != 0)
                r = ovl_error_fail(err, 0, "rootfs %s: record id collides with %s", given, old.rootfs);
        else if (old.state == OVL_RECORD_READY)
                r = ovl_error_bad(err, 0, "rootfs %s: already assembled by ovlbackend (destroy it first)", given);
        else
                r = ovl_lifecycle_rollback(&a->wd, a->id, &old, err);
        ovl_record_clear(&old);
        return r;
}

static int fill_record(struct ovl_record *rec, const struct assembly *a, const struct ovl_backend_ops *b,
                       const struct ovl_backend_options *opts)
{
        /* A backend that can write to its layer (--read-write) is read-only unless told. */
        bool read_only = opts->read_only || ((b->accepts & OVL_ACCEPTS_READ_WRITE) && !opts->read_write);

        rec->rootfs = strdup(a->rootfs);
        rec->backend = strdup(b->name);
        rec->state = OVL_RECORD_ASSEMBLING;
        rec->created = (int64_t) time(NULL);
        rec->pid = getpid();
        rec->read_only = read_only;
        /* The directory a mount backend mounts on (the copy records the tree it builds instead, and
         * must never take the caller's empty R for it). */
        if (a->rootfs_exists && (b->needs & OVL_NEEDS_MOUNT))
                rec->tree = a->rootfs_id;
        if (!rec->rootfs || !rec->backend)
                return -ENOMEM;
        for (size_t i = 0; i < a->layers.count; i++)
                if (ovl_strlist_append(&rec->layers, a->layers.items[i].path) < 0)
                        return -ENOMEM;
        return 0;
}

/* After a failed run: whatever the record names is removed again (every piece may be missing
 * already). The record goes only when that worked; otherwise it stays for gc, and err says so.
 * Returns 0 or -errno. */
static int rollback_failed_run(struct assembly *a, const struct ovl_backend_ops *b, const struct ovl_record *rec,
                               struct ovl_error *err)
{
        struct ovl_error why = { 0 };
        int r = ovl_worker_destroy(a->wd.path, b, rec, &why);

        if (r == 0 || r == -ESTALE || r == -ENOENT)
                r = ovl_workdir_remove_record(&a->wd, a->id, &why);
        if (r < 0)
                ovl_error_append(err, "; what it made could not be removed (%s): its record stays for gc", why.msg);
        return r;
}

/* The request the backend works from: R, the layers, the options, its record dir, and for
 * --uidmap with a mount backend a user namespace carrying the maps (made here: the worker's filter
 * forbids new user namespaces). */
static int prepare_request(struct assembly *a, const struct ovl_backend_ops *b, const struct ovl_assemble_options *opt,
                           struct ovl_assemble_request *req, struct ovl_error *err)
{
        int r;

        *req = (struct ovl_assemble_request){ .rootfs = a->rootfs,
                                              .rootfs_parent_fd = a->parent_fd,
                                              .rootfs_name = a->name,
                                              .rootfs_exists = a->rootfs_exists,
                                              .rootfs_id = a->rootfs_id,
                                              .layers = &a->layers,
                                              .opts = &opt->opts,
                                              .work_dir = a->wd.path,
                                              .record_dir_fd = -1,
                                              .userns_fd = -1 };
        if (asprintf(&a->record_dir, "%s/rootfs/%s", a->wd.path, a->id) < 0)
                return ovl_error_fail(err, ENOMEM, "work dir %s", a->wd.path);
        req->record_dir = a->record_dir;
        r = ovl_workdir_record_dir(&a->wd, a->id, false, &a->record_dir_fd, err);
        if (r < 0)
                return r == -ENOENT ? ovl_error_fail(err, ENOENT, "work dir %s", a->record_dir) : r;
        req->record_dir_fd = a->record_dir_fd;
        if (opt->opts.idmap && (b->sandbox.syscalls & OVL_SYSCALLS_MOUNT)) {
                r = ovl_idmap_userns(opt->opts.idmap, &a->userns_fd, err);
                if (r < 0)
                        return r;
                req->userns_fd = a->userns_fd;
        }
        return 0;
}

/* The record saved first, then the backend's work in its worker, then the record finished. On
 * failure what the run made is rolled back. */
static int run_backend(struct assembly *a, const struct ovl_backend_ops *b, const struct ovl_assemble_options *opt,
                       struct ovl_record *rec, struct ovl_error *err)
{
        struct ovl_assemble_request req;
        struct ovl_run run = {
                .wd = &a->wd, .id = a->id, .b = b, .rec = rec, .req = &req, .layers = &a->layers, .mnt_fd = -1
        };
        int r = fill_record(rec, a, b, &opt->opts);

        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s", opt->rootfs);
        r = ovl_run_save(&run, err);
        if (r < 0)
                return r;
        r = prepare_request(a, b, opt, &req, err);
        if (r == 0)
                r = ovl_worker_assemble(&run, err);
        if (r == 0) {
                ovl_test_stop_point("assembled"); /* R complete, its record still unfinished */
                rec->state = OVL_RECORD_READY;
                r = ovl_run_save(&run, err);
        }
        if (r < 0)
                a->keep_lock = rollback_failed_run(a, b, rec, err) < 0;
        return r;
}

int ovl_lifecycle_assemble(const struct ovl_assemble_options *opt, struct ovl_assemble_result *ret,
                           struct ovl_error *err)
{
        struct assembly a = { .wd = { .fd = -1, .rootfs_fd = -1, .locks_fd = -1 },
                              .parent_fd = -1,
                              .lock_fd = -1,
                              .record_dir_fd = -1,
                              .userns_fd = -1 };
        const struct ovl_backend_ops *b;
        double start = now_ms();
        int r;

        *ret = (struct ovl_assemble_result){ 0 };
        r = validate_backend(opt, &b, err);
        for (size_t i = 0; r == 0 && i < opt->n_layers; i++)
                r = ovl_layer_list_add(&a.layers, opt->layers[i], err);
        if (r == 0)
                r = resolve_rootfs(&a, opt->rootfs, err);
        if (r < 0)
                goto out;
        ovl_workdir_record_id(a.rootfs, a.id);
        r = ovl_workdir_open(opt->work_dir, true, &a.wd, err);
        if (r < 0)
                goto out;
        r = ovl_workdir_lock(&a.wd, a.id, false, &a.lock_fd, err);
        if (r == -EBUSY)
                r = ovl_error_fail(err, EBUSY, "rootfs %s: another ovlbackend operation on it is in progress",
                                   opt->rootfs);
        if (r < 0)
                goto out;
        r = settle_previous_record(&a, opt->rootfs, err);
        if (r < 0) {
                /* A record is still there (live, or one we could not roll back): its lock stays. */
                a.keep_lock = true;
                goto out;
        }
        /* Only now, with any stale tree of an interrupted run rolled back, does R's state count. */
        r = check_rootfs_free(&a, opt->rootfs, err);
        if (r == 0)
                r = check_reachable(&a, opt->rootfs, opt->allow_reachable_rootfs, err);
        if (r < 0)
                goto out;
        r = run_backend(&a, b, opt, &ret->rec, err);
        if (r < 0) {
                ovl_record_clear(&ret->rec);
                goto out;
        }
        a.keep_lock = true;
        ret->backend = b;
        if (asprintf(&ret->record_path, "%s/record", a.record_dir) < 0)
                ret->record_path = NULL; /* only printed, and then as "" */
        ret->elapsed_ms = now_ms() - start;
out:
        assembly_release(&a);
        return r;
}

void ovl_assemble_result_clear(struct ovl_assemble_result *res)
{
        ovl_record_clear(&res->rec);
        free(res->record_path);
        res->record_path = NULL;
}
