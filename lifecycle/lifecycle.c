#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "common/testhook.h"
#include "backends/mount.h"
#include "namespaces/idmap.h"
#include "namespaces/sandbox.h"
#include "namespaces/seccomp.h"
#include "common/syscalls.h"
#include "backends/overlay_lower.h"
#include "probe/probe.h"
#include "lifecycle/lifecycle.h"
#include "common/mounttable.h"
#include "state/workdir.h"

/* Everything one assemble holds, released in one place. */
struct assembly {
        struct ovl_workdir wd;
        struct ovl_layer_list layers;
        char *rootfs;        /* canonical */
        char *parent, *name;
        int parent_fd;
        int lock_fd;
        char id[OVL_RECORD_ID_LEN + 1];
        bool rootfs_exists;
        struct ovl_tree_id rootfs_id; /* R's identity when it exists already */
        int checkpoints; /* records saved so far, for the test stop points */
};

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

static void assembly_release(struct assembly *a, bool remove_lock)
{
        ovl_workdir_unlock(&a->wd, a->id, a->lock_fd, remove_lock);
        ovl_workdir_close(&a->wd);
        ovl_layer_list_clear(&a->layers);
        if (a->parent_fd >= 0)
                close(a->parent_fd);
        free(a->rootfs);
        free(a->parent);
        free(a->name);
}

static int backend_names(char *buf, size_t size)
{
        size_t len = 0;

        buf[0] = '\0';
        for (const struct ovl_backend_ops *const *b = ovl_backends; *b; b++)
                len += (size_t) snprintf(buf + len, len < size ? size - len : 0, "%s%s",
                                         b == ovl_backends ? "" : ", ", (*b)->name);
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
                return ovl_error_bad(err, 0, "backend %s: takes exactly one layer, %zu given; the copy and overlay "
                                     "backends stack layers", (*ret)->name, opt->n_layers);
        if ((*ret)->max_layers && opt->n_layers > (*ret)->max_layers)
                return ovl_error_bad(err, 0, "backend %s: takes at most %zu layers, %zu given", (*ret)->name,
                                     (*ret)->max_layers, opt->n_layers);
        return 0;
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
                        return ovl_error_bad(err, 0, "rootfs %s: lies inside layer %s; layers are never written",
                                             given, a->layers.items[i].path);
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
                return ovl_error_bad(err, 0, "rootfs %s: belongs to uid %u, not to uid %u that runs ovlbackend; "
                                     "give a path that does not exist yet, or an empty directory of uid %u", given,
                                     (unsigned) st.st_uid, (unsigned) geteuid(), (unsigned) geteuid());
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
        return ovl_error_bad(err, 0, "rootfs %s: reachable by every local user (no directory above it denies "
                             "search to others), who could run its setuid programs as root and use its device "
                             "nodes; put it below a directory of mode 0700 (or 0710 with a group only trusted ids are in), or pass "
                             "--allow-reachable-rootfs to accept that", given);
}

static int save_checkpoint(const struct ovl_assemble_request *req, struct ovl_error *err)
{
        struct assembly *a = req->checkpoint_data;
        char point[32];
        int r = ovl_workdir_save_record(&a->wd, a->id, req->rec, err);

        if (r == 0 && req->rec->state == OVL_RECORD_READY) {
                ovl_test_stop_point("ready");
        } else if (r == 0) {
                snprintf(point, sizeof(point), "checkpoint-%d", ++a->checkpoints);
                ovl_test_stop_point(point);
        }
        return r;
}

struct destroy_job {
        const struct ovl_backend_ops *b;
        const struct ovl_record *rec;
};

static int destroy_work(void *data, int *ret_mnt_fd, struct ovl_error *err)
{
        const struct destroy_job *job = data;

        (void) ret_mnt_fd;
        return job->b->destroy(job->rec, err);
}

/* A record lists only what its backend makes: every scratch path of the backend's own shape, R as
 * the only mount, caches directly in WORK/layers. A record naming anything else was not written by
 * ovlbackend, and nothing it names is touched. Returns 0 or -EPERM with err set. */
static int check_record_shape(const char *work_dir, const struct ovl_backend_ops *b, const struct ovl_record *rec,
                              struct ovl_error *err)
{
        char id[OVL_RECORD_ID_LEN + 1], record_dir[PATH_MAX], layers[PATH_MAX];
        const char *bad = NULL;

        ovl_workdir_record_id(rec->rootfs, id);
        snprintf(record_dir, sizeof(record_dir), "%s/rootfs/%s", work_dir, id);
        snprintf(layers, sizeof(layers), "%s/layers/", work_dir);
        for (size_t i = 0; !bad && i < rec->scratch.count; i++)
                if (!b->owns_scratch(rec, record_dir, rec->scratch.items[i]))
                        bad = rec->scratch.items[i];
        for (size_t i = 0; !bad && i < rec->mounts.count; i++)
                if (strcmp(rec->mounts.items[i], rec->rootfs) != 0)
                        bad = rec->mounts.items[i];
        for (size_t i = 0; !bad && i < rec->caches.count; i++)
                if (strncmp(rec->caches.items[i], layers, strlen(layers)) != 0 ||
                    strchr(rec->caches.items[i] + strlen(layers), '/'))
                        bad = rec->caches.items[i];
        if (!bad)
                return 0;
        ovl_error_fail(err, 0, "record %s/record: names %s, which the %s backend never makes for %s; nothing "
                       "removed (a record ovlbackend did not write?)", record_dir, bad, b->name, rec->rootfs);
        return -EPERM;
}

/* The backend's destroy in a sandboxed worker, with the destroy policy (removal and unmounting
 * only), after the record's paths were checked. It stays in the host's mount namespace: its work
 * is to take R's mount off the host. */
static int destroy_sandboxed(const char *work_dir, const struct ovl_backend_ops *b, const struct ovl_record *rec,
                             struct ovl_error *err)
{
        struct destroy_job job = { .b = b, .rec = rec };
        int mnt_fd, r = check_record_shape(work_dir, b, rec, err);

        if (r < 0)
                return r;
        return ovl_sandbox_run(&b->destroy_sandbox, false, NULL, 0, destroy_work, &job, &mnt_fd, err);
}

/* Rolls back an unfinished record left by a run that died: removes what it made, then the record. */
static int rollback_record(struct ovl_workdir *wd, const char *id, struct ovl_record *rec, struct ovl_error *err)
{
        const struct ovl_backend_ops *b = ovl_backend_find(rec->backend);
        int r;

        if (!b)
                return ovl_error_fail(err, 0, "record %s/rootfs/%s: unknown backend %s", wd->path, id, rec->backend);
        r = destroy_sandboxed(wd->path, b, rec, err);
        /* -ESTALE: what it made is gone and someone else's tree stands there; forget the record. */
        return r < 0 && r != -ESTALE ? r : ovl_workdir_remove_record(wd, id, err);
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
                r = rollback_record(&a->wd, a->id, &old, err);
        ovl_record_clear(&old);
        return r;
}

static int fill_record(struct ovl_record *rec, const struct assembly *a, const struct ovl_backend_ops *b,
                       bool read_only)
{
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

/* Attaches the finished mount at R, the directory the record identifies, and records the mount's
 * unique id so destroy unmounts exactly it. Takes mnt_fd. Returns 0 or -errno. */
static int attach_and_record(int mnt_fd, int parent_fd, const char *name, struct ovl_record *rec)
{
        int r = ovl_mount_attach(mnt_fd, parent_fd, name, &rec->tree);

        if (r == 0)
                ovl_mount_record_id(mnt_fd, rec);
        close(mnt_fd);
        return r;
}

/* Outside a sandbox the finished mount is attached at once. */
static int attach_now(const struct ovl_assemble_request *req, int mnt_fd)
{
        return attach_and_record(mnt_fd, req->rootfs_parent_fd, req->rootfs_name, req->rec);
}

/* In a sandbox the worker keeps it for its parent. */
static int attach_later(const struct ovl_assemble_request *req, int mnt_fd)
{
        *req->attach_slot = mnt_fd;
        return 0;
}

/* Whether b's worker gets a private mount namespace: always, but for a backend that mounts on a
 * kernel without the new mount API (see namespaces/sandbox.h). */
static bool private_ns_for(const struct ovl_backend_ops *b)
{
        return !(b->sandbox.syscalls & OVL_SYSCALLS_MOUNT) || ovl_syscalls_have_new_mount_api();
}

struct assemble_job {
        struct assembly *a;
        const struct ovl_backend_ops *b;
        struct ovl_assemble_request *req;
};

static int assemble_work(void *data, int *ret_mnt_fd, struct ovl_error *err)
{
        const struct assemble_job *job = data;
        bool sandboxed = !ovl_sandbox_settings()->disabled;
        int r = 0;

        /* Mount calls refuse the fds the parent opened: they name the host namespace's mounts. The
         * worker exits when done, so the parent's fds need no closing here. */
        job->req->private_ns = sandboxed && private_ns_for(job->b);
        if (job->req->private_ns && (job->b->sandbox.syscalls & OVL_SYSCALLS_MOUNT)) {
                r = ovl_layer_list_reopen(&job->a->layers, err);
                job->req->record_dir_fd = open(job->req->record_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (r == 0 && job->req->record_dir_fd < 0)
                        r = ovl_error_fail(err, errno, "work dir %s", job->req->record_dir);
        }
        if (r == 0)
                r = job->b->assemble(job->req, err);
        /* What the worker added to the record reaches the parent through the record file. */
        if (r == 0 && sandboxed)
                r = save_checkpoint(job->req, err);
        *ret_mnt_fd = *job->req->attach_slot;
        return r;
}

/* The parent's side once the worker succeeded: the record as the worker left it, then the mount
 * attached at R from the host's namespace. */
static int finish_in_host(struct assembly *a, const struct ovl_backend_ops *b, struct ovl_record *rec, int mnt_fd,
                          struct ovl_error *err)
{
        int r;

        ovl_record_clear(rec);
        r = ovl_workdir_load_record(&a->wd, a->id, rec, err);
        /* A mount made in the worker's private namespace exists only as the fd it handed over. */
        if (r == 0 && mnt_fd < 0 && (b->sandbox.syscalls & OVL_SYSCALLS_MOUNT) && private_ns_for(b))
                r = ovl_error_fail(err, 0, "rootfs %s: the sandboxed worker handed no mount over", a->rootfs);
        if (r == 0 && mnt_fd >= 0) {
                r = attach_and_record(TAKE_FD(mnt_fd), a->parent_fd, a->name, rec);
                if (r < 0)
                        ovl_error_fail(err, r == -ESTALE ? 0 : -r, "rootfs %s: attaching the mount%s", a->rootfs,
                                       r == -ESTALE ? ": R was replaced meanwhile; nothing attached" : "");
        }
        if (mnt_fd >= 0)
                close(mnt_fd);
        return r;
}

/* After a failed run: whatever the record on disk names is removed again (the backend removed what
 * it made, unless its worker died; every piece may be missing already). The record goes only when
 * that worked; otherwise it stays for gc, and err says so. Returns 0 or -errno. */
static int rollback_failed_run(struct assembly *a, const struct ovl_backend_ops *b, struct ovl_error *err)
{
        struct ovl_record rec = { 0 };
        struct ovl_error why = { 0 };
        int r = ovl_workdir_load_record(&a->wd, a->id, &rec, &why);

        if (r == 0)
                r = destroy_sandboxed(a->wd.path, b, &rec, &why);
        if (r == 0 || r == -ESTALE || r == -ENOENT)
                r = ovl_workdir_remove_record(&a->wd, a->id, &why);
        ovl_record_clear(&rec);
        if (r < 0)
                ovl_error_append(err, "; what it made could not be removed (%s): its record stays for gc", why.msg);
        return r;
}

/* The fds an assemble worker is handed (it closes every other fd it inherited): the layers, R's
 * parent, the record dir, the user namespace of --uidmap, and the work dir's for checkpoints.
 * Returns a new array, or NULL. */
static int *worker_fds(const struct assembly *a, int record_dir_fd, int userns_fd, size_t *ret_count)
{
        const int fixed[] = { a->parent_fd, record_dir_fd, userns_fd, a->wd.fd, a->wd.rootfs_fd, a->wd.locks_fd };
        int *fds = calloc(a->layers.count + ARRAY_SIZE(fixed), sizeof(int));

        if (!fds)
                return NULL;
        for (size_t i = 0; i < a->layers.count; i++)
                fds[i] = a->layers.items[i].fd;
        memcpy(fds + a->layers.count, fixed, sizeof(fixed));
        *ret_count = a->layers.count + ARRAY_SIZE(fixed);
        return fds;
}

static int run_backend(struct assembly *a, const struct ovl_backend_ops *b, const struct ovl_assemble_options *opt,
                       struct ovl_record *rec, struct ovl_error *err)
{
        char record_dir[4096];
        _cleanup_close_ int record_dir_fd = -1;
        struct ovl_assemble_request req = {
                .rootfs = a->rootfs, .rootfs_parent_fd = a->parent_fd, .rootfs_name = a->name,
                .rootfs_exists = a->rootfs_exists, .layers = &a->layers, .opts = &opt->opts,
                .work_dir = a->wd.path, .record_dir = record_dir,
                .rec = rec, .checkpoint = save_checkpoint, .checkpoint_data = a,
        };
        struct assemble_job job = { .a = a, .b = b, .req = &req };
        bool sandboxed = !ovl_sandbox_settings()->disabled;
        int r, slot = -1, mnt_fd = -1;
        _cleanup_close_ int userns_fd = -1;
        _cleanup_free_ int *keep = NULL;
        size_t n_keep = 0;

        r = fill_record(rec, a, b, opt->opts.read_only);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s", opt->rootfs);
        r = save_checkpoint(&req, err);
        if (r < 0)
                return r;
        if ((size_t) snprintf(record_dir, sizeof(record_dir), "%s/rootfs/%s", a->wd.path, a->id) >= sizeof(record_dir))
                return ovl_error_bad(err, ENAMETOOLONG, "work dir %s", a->wd.path);
        r = ovl_workdir_record_dir(&a->wd, a->id, false, &record_dir_fd, err);
        if (r < 0)
                return r == -ENOENT ? ovl_error_fail(err, ENOENT, "work dir %s", record_dir) : r;
        req.record_dir_fd = record_dir_fd;
        /* --uidmap for a mount backend: a user namespace carrying the maps, made here (the worker's
         * filter forbids new user namespaces) and inherited by the worker. */
        req.userns_fd = -1;
        if (opt->opts.idmap && (b->sandbox.syscalls & OVL_SYSCALLS_MOUNT)) {
                r = ovl_idmap_userns(opt->opts.idmap, &userns_fd, err);
                if (r < 0)
                        return r;
                req.userns_fd = userns_fd;
        }
        req.attach = sandboxed ? attach_later : attach_now;
        req.attach_slot = &slot;
        keep = worker_fds(a, record_dir_fd, userns_fd, &n_keep);
        if (!keep)
                return ovl_error_fail(err, ENOMEM, "rootfs %s", opt->rootfs);
        r = ovl_sandbox_run(&b->sandbox, private_ns_for(b), keep, n_keep, assemble_work, &job, &mnt_fd, err);
        if (r == 0 && sandboxed)
                r = finish_in_host(a, b, rec, mnt_fd, err);
        if (r == 0) {
                ovl_test_stop_point("assembled"); /* R complete, its record still unfinished */
                rec->state = OVL_RECORD_READY;
                r = save_checkpoint(&req, err);
        }
        return r;
}

int ovl_lifecycle_assemble(const struct ovl_assemble_options *opt, struct ovl_assemble_result *ret,
                           struct ovl_error *err)
{
        struct assembly a = { .wd = { .fd = -1, .rootfs_fd = -1, .locks_fd = -1 }, .parent_fd = -1, .lock_fd = -1 };
        const struct ovl_backend_ops *b;
        double start = now_ms();
        bool keep_lock = false;
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
                keep_lock = true;
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
                keep_lock = rollback_failed_run(&a, b, err) < 0;
                ovl_record_clear(&ret->rec);
                goto out;
        }
        keep_lock = true;
        ret->backend = b;
        snprintf(ret->record_path, sizeof(ret->record_path), "%s/rootfs/%s/record", a.wd.path, a.id);
        ret->elapsed_ms = now_ms() - start;
out:
        assembly_release(&a, !keep_lock);
        return r;
}

/* Locks and loads the record of a rootfs path; "not assembled by ovlbackend" when there is none. */
static int open_record(const char *work_dir, const char *rootfs, struct ovl_workdir *wd, char id[],
                       int *ret_lock_fd, struct ovl_record *rec, struct ovl_error *err)
{
        _cleanup_free_ char *canonical = NULL;
        int r;

        r = ovl_path_canonical_parent(rootfs, &canonical);
        if (r < 0)
                return ovl_error_fail(err, 0, "rootfs %s: not assembled by ovlbackend", rootfs);
        r = ovl_workdir_open(work_dir, false, wd, err);
        if (r == -ENOENT)
                return ovl_error_fail(err, 0, "rootfs %s: not assembled by ovlbackend", rootfs);
        if (r < 0)
                return r;
        ovl_workdir_record_id(canonical, id);
        r = ovl_workdir_lock(wd, id, true, ret_lock_fd, err);
        if (r < 0)
                return r;
        r = ovl_workdir_load_record(wd, id, rec, err);
        if (r == 0 && strcmp(rec->rootfs, canonical) != 0) {
                ovl_record_clear(rec);
                r = -ENOENT;
        }
        if (r == -ENOENT) {
                ovl_workdir_unlock(wd, id, TAKE_FD(*ret_lock_fd), true);
                return ovl_error_fail(err, 0, "rootfs %s: not assembled by ovlbackend", rootfs);
        }
        return r;
}

int ovl_lifecycle_destroy(const char *work_dir, const char *rootfs, struct ovl_record *ret_rec,
                          struct ovl_error *err)
{
        struct ovl_workdir wd = { .fd = -1, .rootfs_fd = -1, .locks_fd = -1 };
        struct ovl_record rec = { 0 };
        const struct ovl_backend_ops *b;
        char id[OVL_RECORD_ID_LEN + 1] = "";
        int lock_fd = -1, r;

        r = open_record(work_dir, rootfs, &wd, id, &lock_fd, &rec, err);
        if (r < 0)
                goto out;
        b = ovl_backend_find(rec.backend);
        if (!b) {
                r = ovl_error_fail(err, 0, "rootfs %s: record names unknown backend %s", rootfs, rec.backend);
                goto out;
        }
        /* Marked first, so a destroy that dies half-way is finished by gc, not mistaken for live. */
        rec.state = OVL_RECORD_DESTROYING;
        r = ovl_workdir_save_record(&wd, id, &rec, err);
        if (r == 0)
                r = destroy_sandboxed(wd.path, b, &rec, err);
        if (r == 0 || r == -ESTALE) {
                int removed = ovl_workdir_remove_record(&wd, id, err);
                if (r == -ESTALE && removed == 0)
                        ovl_error_append(err, "; its record is forgotten");
                r = r ? r : removed;
        }
out:
        ovl_workdir_unlock(&wd, id, lock_fd, r == 0 || r == -ESTALE);
        ovl_workdir_close(&wd);
        if (r == 0)
                *ret_rec = rec;
        else
                ovl_record_clear(&rec);
        return r;
}

static int add_blocks(void *ctx, const struct ovl_walk_entry *e, struct ovl_error *err)
{
        (void) err;
        *(unsigned long long *) ctx += (unsigned long long) e->st->st_blocks * 512;
        return 0;
}

static int add_dir_blocks(void *ctx, const struct ovl_walk_entry *e, int fd, struct ovl_error *err)
{
        (void) fd;
        return add_blocks(ctx, e, err);
}

/* Bytes allocated below path, not entering other mounts, with a bounded number of fds at any
 * depth. Best effort: what cannot be read counts 0. */
static unsigned long long tree_bytes(const char *path)
{
        unsigned long long total = 0;
        const struct ovl_walk_visitor v = { .ctx = &total, .file = add_blocks, .dir_enter = add_dir_blocks };

        (void) ovl_walk_tree_at(AT_FDCWD, path, OVL_WALK_SKIP_MOUNTS | OVL_WALK_KEEP_GOING, &v, path, NULL);
        return total;
}

static void describe(struct ovl_workdir *wd, struct ovl_rootfs_info *info)
{
        const struct ovl_backend_ops *b = ovl_backend_find(info->rec.backend);
        int lock_fd = -1;

        info->presence = OVL_PRESENCE_MISSING;
        if (ovl_workdir_lock(wd, info->id, false, &lock_fd, NULL) == -EBUSY)
                info->presence = OVL_PRESENCE_BUSY;
        else if (info->rec.state != OVL_RECORD_READY)
                info->presence = OVL_PRESENCE_STALE;
        ovl_workdir_unlock(wd, info->id, lock_fd, false);
        (void) ovl_mounttable_is_mounted(info->rec.rootfs, &info->mounted);
        if (info->presence == OVL_PRESENCE_MISSING && b && b->in_place(&info->rec))
                info->presence = OVL_PRESENCE_PRESENT;
        for (size_t i = 0; i < info->rec.scratch.count; i++)
                info->scratch_bytes += tree_bytes(info->rec.scratch.items[i]);
}

int ovl_lifecycle_list(const char *work_dir, struct ovl_rootfs_info **ret, size_t *ret_count,
                       struct ovl_error *err)
{
        struct ovl_workdir wd;
        struct ovl_rootfs_info *infos = NULL;
        char **ids = NULL;
        size_t n_ids = 0, n = 0;
        int r;

        *ret = NULL;
        *ret_count = 0;
        r = ovl_workdir_open(work_dir, false, &wd, err);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = ovl_workdir_list_ids(&wd, &ids, &n_ids);
        if (r < 0) {
                ovl_workdir_close(&wd);
                return ovl_error_fail(err, -r, "work dir %s", work_dir);
        }
        infos = calloc(n_ids + 1, sizeof(*infos));
        for (size_t i = 0; infos && i < n_ids; i++) {
                struct ovl_rootfs_info *info = &infos[n];
                /* A record that cannot be read is gc's business (it reports it), not list's. */
                if (ovl_workdir_load_record(&wd, ids[i], &info->rec, NULL) < 0)
                        continue;
                snprintf(info->id, sizeof(info->id), "%s", ids[i]);
                describe(&wd, info);
                n++;
        }
        ovl_strv_free(ids);
        ovl_workdir_close(&wd);
        if (!infos)
                return ovl_error_fail(err, ENOMEM, "list");
        *ret = infos;
        *ret_count = n;
        return 0;
}

void ovl_rootfs_info_free(struct ovl_rootfs_info *infos, size_t count)
{
        for (size_t i = 0; i < count; i++)
                ovl_record_clear(&infos[i].rec);
        free(infos);
}

const char *ovl_presence_name(const struct ovl_rootfs_info *info)
{
        switch (info->presence) {
        case OVL_PRESENCE_PRESENT:
                return info->mounted ? "mounted" : "present";
        case OVL_PRESENCE_MISSING:
                return "missing";
        case OVL_PRESENCE_STALE:
                return "stale";
        default:
                return "busy";
        }
}

static int report_add(struct ovl_gc_report *rep, const char *what, const char *path, const char *detail, bool removed)
{
        struct ovl_gc_item *grown = realloc(rep->items, (rep->count + 1) * sizeof(*grown));

        if (!grown)
                return -ENOMEM;
        rep->items = grown;
        grown[rep->count] = (struct ovl_gc_item){ .what = strdup(what), .path = strdup(path),
                                                  .detail = strdup(detail ? detail : ""), .removed = removed };
        rep->count++;
        return 0;
}

/* One record directory: roll back an unfinished record, or remove a directory without one. */
static int gc_record(struct ovl_workdir *wd, const char *id, struct ovl_gc_report *rep)
{
        struct ovl_error e = { 0 };
        struct ovl_record rec = { 0 };
        char path[4096];
        int lock_fd = -1, r;

        snprintf(path, sizeof(path), "%s/rootfs/%s", wd->path, id);
        r = ovl_workdir_lock(wd, id, false, &lock_fd, &e);
        if (r == -EBUSY)
                return 0; /* an operation holds it: not a leftover */
        if (r < 0)
                return report_add(rep, "record", path, e.msg, false);
        r = ovl_workdir_load_record(wd, id, &rec, &e);
        if (r == -ENOENT) {
                r = ovl_workdir_remove_record(wd, id, &e);
                report_add(rep, "record", path, r < 0 ? e.msg : "directory without a record", r == 0);
        } else if (r < 0) {
                report_add(rep, "record", path, e.msg, false);
        } else if (rec.state != OVL_RECORD_READY) {
                r = rollback_record(wd, id, &rec, &e);
                report_add(rep, "record", path, r < 0 ? e.msg : rec.rootfs, r == 0);
        }
        ovl_workdir_unlock(wd, id, lock_fd, r == 0 && rec.state != OVL_RECORD_READY);
        ovl_record_clear(&rec);
        return 0;
}

/* Lock files of rootfses that no longer have a record (left when a run died between steps). */
static int gc_locks(struct ovl_workdir *wd, struct ovl_gc_report *rep)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int fd = openat(wd->locks_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || !(d = fdopendir(fd))) {
                if (fd >= 0)
                        close(fd);
                return -errno;
        }
        while ((de = readdir(d))) {
                char id[OVL_RECORD_ID_LEN + 1], path[4096];
                struct stat st;
                int lock_fd = -1;

                if (strlen(de->d_name) != OVL_RECORD_ID_LEN + 5 || strcmp(de->d_name + OVL_RECORD_ID_LEN, ".lock") != 0)
                        continue;
                snprintf(id, sizeof(id), "%.*s", OVL_RECORD_ID_LEN, de->d_name);
                if (fstatat(wd->rootfs_fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        continue;
                if (ovl_workdir_lock(wd, id, false, &lock_fd, NULL) < 0)
                        continue;
                /* Re-check under the lock: an assemble may have created the record meanwhile. */
                if (fstatat(wd->rootfs_fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        ovl_workdir_unlock(wd, id, lock_fd, false);
                        continue;
                }
                ovl_workdir_unlock(wd, id, lock_fd, true);
                snprintf(path, sizeof(path), "%s/locks/%s", wd->path, de->d_name);
                report_add(rep, "lock", path, "lock file without a record", true);
        }
        return 0;
}

/* Every cache path the work dir's records name, read once. Returns 0 or -ENOMEM. */
static int caches_in_use(struct ovl_workdir *wd, struct ovl_strlist *ret)
{
        char **ids = NULL;
        size_t n_ids = 0;
        int r = ovl_workdir_list_ids(wd, &ids, &n_ids);

        for (size_t i = 0; r == 0 && i < n_ids; i++) {
                struct ovl_record rec = { 0 };
                if (ovl_workdir_load_record(wd, ids[i], &rec, NULL) < 0)
                        continue;
                for (size_t j = 0; r == 0 && j < rec.caches.count; j++)
                        r = ovl_strlist_append(ret, rec.caches.items[j]);
                ovl_record_clear(&rec);
        }
        ovl_strv_free(ids);
        return r;
}

/* Removes every entry of WORK/sub that keep() does not claim, reporting each as `what`, `why`. */
static int gc_dir(struct ovl_workdir *wd, const char *sub, bool (*keep)(const char *name, const char *path, void *ctx),
                  void *ctx, const char *what, const char *why, struct ovl_gc_report *rep)
{
        _cleanup_close_ int fd = openat(wd->fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        d = fdopendir(TAKE_FD(fd));
        while (d && (de = readdir(d))) {
                struct ovl_error e = { 0 };
                char path[4200];
                int r;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s/%s", wd->path, sub, de->d_name);
                if (keep(de->d_name, path, ctx))
                        continue;
                r = ovl_remove_tree_at(dirfd(d), de->d_name, path, &e);
                report_add(rep, what, path, r < 0 ? e.msg : why, r == 0);
        }
        return d ? 0 : -errno;
}

static bool cache_used(const char *name, const char *path, void *ctx)
{
        const struct ovl_strlist *used = ctx;

        (void) name;
        for (size_t i = 0; i < used->count; i++)
                if (strcmp(used->items[i], path) == 0)
                        return true;
        return false;
}

/* Cache entries (overlay glue and flattened layers) no record names, and half-built ones. Under
 * the exclusive cache lock, so no assemble is building or picking one meanwhile; when one is,
 * the caches wait for the next gc. */
static int gc_caches(struct ovl_workdir *wd, struct ovl_gc_report *rep)
{
        _cleanup_close_ int lock = ovl_cache_lock(wd->path, true);
        struct ovl_strlist used = { 0 };
        int r;

        if (lock == -EBUSY)
                return 0;
        if (lock < 0)
                return lock;
        r = caches_in_use(wd, &used);
        if (r == 0)
                r = gc_dir(wd, "layers", cache_used, &used, "cache", "cache no rootfs uses", rep);
        ovl_strlist_clear(&used);
        return r;
}

static bool probe_entry_live(const char *name, const char *path, void *ctx)
{
        (void) path;
        (void) ctx;
        return ovl_probe_entry_live(name);
}

/* WORK/probe/: caches of earlier boots and scratch dirs of probes that died. */
static int gc_probe_dir(struct ovl_workdir *wd, struct ovl_gc_report *rep)
{
        return gc_dir(wd, "probe", probe_entry_live, NULL, "probe",
                      "probe result of an earlier boot, or a dead probe's scratch", rep);
}

int ovl_lifecycle_gc(const char *work_dir, struct ovl_gc_report *ret, struct ovl_error *err)
{
        struct ovl_workdir wd;
        char **ids = NULL;
        size_t n_ids = 0;
        int r;

        *ret = (struct ovl_gc_report){ 0 };
        r = ovl_workdir_open(work_dir, false, &wd, err);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = ovl_workdir_list_ids(&wd, &ids, &n_ids);
        for (size_t i = 0; r == 0 && i < n_ids; i++)
                r = gc_record(&wd, ids[i], ret);
        if (r == 0)
                r = gc_locks(&wd, ret);
        if (r == 0)
                r = gc_caches(&wd, ret);
        if (r == 0)
                r = gc_probe_dir(&wd, ret);
        ovl_strv_free(ids);
        ovl_workdir_close(&wd);
        if (r < 0)
                return ovl_error_fail(err, -r, "gc %s", work_dir);
        return 0;
}

void ovl_gc_report_clear(struct ovl_gc_report *report)
{
        for (size_t i = 0; i < report->count; i++) {
                free(report->items[i].what);
                free(report->items[i].path);
                free(report->items[i].detail);
        }
        free(report->items);
        *report = (struct ovl_gc_report){ 0 };
}
