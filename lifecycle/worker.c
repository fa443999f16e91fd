/* The parent's side of the worker protocol. A backend's assemble runs in a sandboxed worker
 * (namespaces/sandbox.h) and asks before it creates anything: each claim (backends/assembly.h) is
 * checked here against the shapes its backend may claim, recorded and saved, and only then
 * answered. The record is written by the parent alone, so a worker subverted through a kernel or
 * parser bug cannot make a later destroy or gc act on a path of its choosing. The finished mount
 * comes back as a detached mount fd, attached at R here, in the host's namespace. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/assembly.h"
#include "backends/mount.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "common/syscalls.h"
#include "common/testhook.h"
#include "lifecycle/internal.h"
#include "namespaces/sandbox.h"
#include "namespaces/seccomp.h"

int ovl_run_save(struct ovl_run *run, struct ovl_error *err)
{
        char point[32];
        int r = ovl_workdir_save_record(run->wd, run->id, run->rec, err);

        if (r == 0 && run->rec->state == OVL_RECORD_READY) {
                ovl_test_stop_point("ready");
        } else if (r == 0) {
                snprintf(point, sizeof(point), "checkpoint-%d", ++run->checkpoints);
                ovl_test_stop_point(point);
        }
        return r;
}

/* A path as ovlbackend writes them: absolute, no empty, "." or ".." component, no trailing slash. */
static bool path_is_plain(const char *path)
{
        if (path[0] != '/' || path[1] == '\0')
                return false;
        for (const char *p = path; *p; p++)
                if (*p == '/' && (p[1] == '/' || p[1] == '\0' || (p[1] == '.' && (p[2] == '/' || p[2] == '\0')) ||
                                  (p[1] == '.' && p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
                        return false;
        return true;
}

/* Whether the backend b may claim path as kind for rec: its own scratch shapes, R as its mount,
 * an entry directly in WORK/layers/ as a cache. record_dir is WORK/rootfs/<id>. */
static bool claim_allowed(const char *work_dir, const char *record_dir, const struct ovl_backend_ops *b,
                          const struct ovl_record *rec, enum ovl_claim_kind kind, const char *path)
{
        size_t n = strlen(work_dir);

        if (!path_is_plain(path))
                return false;
        switch (kind) {
        case OVL_CLAIM_SCRATCH:
                return b->owns_scratch(rec, record_dir, path) == 1;
        case OVL_CLAIM_MOUNT:
                return (b->needs & OVL_NEEDS_MOUNT) && strcmp(path, rec->rootfs) == 0;
        case OVL_CLAIM_CACHE:
                return strncmp(path, work_dir, n) == 0 && strncmp(path + n, "/layers/", 8) == 0 &&
                       !strchr(path + n + 8, '/');
        }
        return false;
}

static char *record_dir_of(const char *work_dir, const struct ovl_record *rec)
{
        char id[OVL_RECORD_ID_LEN + 1], *dir;

        ovl_workdir_record_id(rec->rootfs, id);
        return asprintf(&dir, "%s/rootfs/%s", work_dir, id) < 0 ? NULL : dir;
}

/* A record lists only what its backend may claim. A record naming anything else was not written
 * by ovlbackend, and nothing it names is touched. Returns 0 or -errno with err set. */
static int check_record(const char *work_dir, const struct ovl_backend_ops *b, const struct ovl_record *rec,
                        struct ovl_error *err)
{
        const struct {
                enum ovl_claim_kind kind;
                const struct ovl_strlist *list;
        } lists[] = { { OVL_CLAIM_SCRATCH, &rec->scratch }, { OVL_CLAIM_MOUNT, &rec->mounts },
                      { OVL_CLAIM_CACHE, &rec->caches } };
        _cleanup_free_ char *record_dir = record_dir_of(work_dir, rec);

        if (!record_dir)
                return ovl_error_fail(err, ENOMEM, "record of %s", rec->rootfs);
        for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
                for (size_t i = 0; i < lists[l].list->count; i++)
                        if (!claim_allowed(work_dir, record_dir, b, rec, lists[l].kind, lists[l].list->items[i])) {
                                ovl_error_fail(err, 0, "record %s/record: names %s, which the %s backend never "
                                               "makes for %s; nothing removed (a record ovlbackend did not "
                                               "write?)", record_dir, lists[l].list->items[i], b->name, rec->rootfs);
                                return -EPERM;
                        }
        return 0;
}

static struct ovl_strlist *list_of(struct ovl_record *rec, enum ovl_claim_kind kind)
{
        return kind == OVL_CLAIM_SCRATCH ? &rec->scratch : kind == OVL_CLAIM_MOUNT ? &rec->mounts : &rec->caches;
}

static bool list_has(const struct ovl_strlist *l, const char *path)
{
        for (size_t i = 0; i < l->count; i++)
                if (strcmp(l->items[i], path) == 0)
                        return true;
        return false;
}

/* Refuses a request, keeping the parent's own reason for the run's final error (the worker's
 * account of it is not to be trusted). Returns -EPERM. */
static int refuse(struct ovl_run *run, struct ovl_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int refuse(struct ovl_run *run, struct ovl_error *err, const char *fmt, ...)
{
        struct ovl_error e = { 0 };
        char why[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        ovl_error_fail(&e, 0, "rootfs %s: the %s worker %s", run->rec->rootfs, run->b->name, why);
        if (!run->refusal.set)
                run->refusal = e;
        if (err && !err->set)
                *err = e;
        return -EPERM;
}

/* OVLBACKEND_TEST_CLAIM=KIND:PATH (a test hook): the worker claims PATH before its backend's work,
 * as a worker subverted into lying would. */
static int test_claim_hook(struct ovl_assembly *a, struct ovl_error *err)
{
        static const char *const kinds[] = { [OVL_CLAIM_SCRATCH] = "scratch", [OVL_CLAIM_MOUNT] = "mount",
                                             [OVL_CLAIM_CACHE] = "cache" };
        const char *want = ovl_test_hook_getenv("OVLBACKEND_TEST_CLAIM"), *colon;

        if (!want || !(colon = strchr(want, ':')))
                return 0;
        for (size_t k = OVL_CLAIM_SCRATCH; k < ARRAY_SIZE(kinds); k++)
                if (strlen(kinds[k]) == (size_t) (colon - want) && strncmp(want, kinds[k], strlen(kinds[k])) == 0)
                        return ovl_assembly_claim(a, (enum ovl_claim_kind) k, colon + 1, err);
        return 0;
}

/* CLAIM: recorded, and saved before the answer (a cache only with the next save: it is shared and
 * kept from gc by the cache lock the worker holds meanwhile). */
static int serve_claim(struct ovl_run *run, enum ovl_claim_kind kind, const char *path, struct ovl_error *err)
{
        struct ovl_strlist *list = list_of(run->rec, kind);
        int r;

        if (!claim_allowed(run->wd->path, run->req->record_dir, run->b, run->rec, kind, path))
                return refuse(run, err, "claimed %s as %s, which that backend never makes; refused, nothing "
                              "recorded", path, ovl_claim_kind_name(kind));
        if (list_has(list, path))
                return 0;
        r = ovl_strlist_append(list, path);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s: recording %s", run->rec->rootfs, path);
        return kind == OVL_CLAIM_CACHE ? 0 : ovl_run_save(run, err);
}

/* IDENTIFY: the claimed scratch beside R (or R) exists now, and fd is it. The identity recorded is
 * read from what stands at that name, checked to be the worker's fd. */
static int serve_identify(struct ovl_run *run, const char *path, int fd, struct ovl_error *err)
{
        _cleanup_free_ char *parent = NULL, *base = NULL, *rparent = NULL, *rbase = NULL;
        struct ovl_tree_id id, sent;
        struct stat st;

        if (fd < 0 || !list_has(&run->rec->scratch, path) || run->rec->tree.ino != 0 ||
            ovl_path_split(path, &parent, &base) < 0 || ovl_path_split(run->rec->rootfs, &rparent, &rbase) < 0 ||
            strcmp(parent, rparent) != 0)
                return refuse(run, err, "identified %s, which it did not claim beside R (or did twice); refused",
                              path);
        if (ovl_tree_id_get(run->req->rootfs_parent_fd, base, &id) < 0 || ovl_tree_id_get(fd, "", &sent) < 0 ||
            fstat(fd, &st) < 0)
                return ovl_error_fail(err, errno, "rootfs %s: scratch %s", run->rec->rootfs, path);
        if (!ovl_tree_id_equal(&id, &sent) || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
                return refuse(run, err, "identified %s with a directory that is not the one standing there; "
                              "refused", path);
        run->rec->tree = id;
        return ovl_run_save(run, err);
}

/* WITHDRAW: the last claim of path of that kind is forgotten (saved with the next save: what the
 * record still names is only ever removed by its identity or if it is an empty dir of ours). */
static int serve_withdraw(struct ovl_run *run, enum ovl_claim_kind kind, const char *path, struct ovl_error *err)
{
        struct ovl_strlist *list = list_of(run->rec, kind);

        for (size_t i = list->count; i-- > 0;)
                if (strcmp(list->items[i], path) == 0) {
                        free(list->items[i]);
                        memmove(list->items + i, list->items + i + 1, (list->count - i - 1) * sizeof(char *));
                        list->count--;
                        return 0;
                }
        return refuse(run, err, "withdrew %s as %s, which it never claimed; refused", path, ovl_claim_kind_name(kind));
}

/* HAND_OVER: a detached mount kept for attaching once the work is done, or word that the mount is
 * at R already (mount(2) in the host's namespace). Once, and only after claiming R as the mount. */
static int serve_hand_over(struct ovl_run *run, int fd, struct ovl_error *err)
{
        if (run->mnt_fd >= 0 || run->mounted_at_rootfs || !list_has(&run->rec->mounts, run->rec->rootfs) ||
            (fd < 0 && run->req->private_ns)) {
                safe_close(fd);
                return refuse(run, err, "handed over a mount it may not hand over; refused");
        }
        if (fd < 0)
                run->mounted_at_rootfs = true;
        run->mnt_fd = fd;
        return 0;
}

static int serve(void *data, const void *msg, size_t len, int fd, struct ovl_error *err)
{
        struct ovl_run *run = data;
        struct ovl_claim_request q;
        int r = ovl_claim_request_parse(msg, len, &q, err);

        if (r < 0 || (fd >= 0 && q.op != OVL_CLAIM_OP_IDENTIFY && q.op != OVL_CLAIM_OP_HAND_OVER)) {
                safe_close(fd);
                return r < 0 ? refuse(run, NULL, "sent a malformed request; refused")
                             : refuse(run, err, "sent an fd with a request that takes none; refused");
        }
        switch (q.op) {
        case OVL_CLAIM_OP_CLAIM:
                return serve_claim(run, q.kind, q.path, err);
        case OVL_CLAIM_OP_IDENTIFY:
                r = serve_identify(run, q.path, fd, err);
                safe_close(fd);
                return r;
        case OVL_CLAIM_OP_WITHDRAW:
                return serve_withdraw(run, q.kind, q.path, err);
        case OVL_CLAIM_OP_HAND_OVER:
                return serve_hand_over(run, fd, err);
        }
        return -EBADMSG;
}

/* Whether b's worker gets a private mount namespace: always, but for a backend that mounts on a
 * kernel without the new mount API (see namespaces/sandbox.h). */
static bool private_ns_for(const struct ovl_backend_ops *b)
{
        return !(b->sandbox.syscalls & OVL_SYSCALLS_MOUNT) || ovl_syscalls_have_new_mount_api();
}

/* The worker's side: in a private namespace, the fds the parent opened name the host's mounts,
 * which mount calls refuse; the worker reopens them (it exits when done, so the parent's fds need
 * no closing here). Then the backend's assemble, with the assembly handle on the line to us. */
static int assemble_work(void *data, struct ovl_sandbox_link *link, struct ovl_error *err)
{
        struct ovl_run *run = data;
        struct ovl_assembly a = { .link = link };
        int r = 0;

        r = test_claim_hook(&a, err);
        if (r == 0 && run->req->private_ns && (run->b->sandbox.syscalls & OVL_SYSCALLS_MOUNT)) {
                r = ovl_layer_list_reopen(run->layers, err);
                run->req->record_dir_fd = open(run->req->record_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (r == 0 && run->req->record_dir_fd < 0)
                        r = ovl_error_fail(err, errno, "work dir %s", run->req->record_dir);
        }
        return r < 0 ? r : run->b->assemble(run->req, &a, err);
}

/* Attaches the handed-over mount at R, the directory the record identifies, and records the mount's
 * unique id so destroy unmounts exactly it; or identifies the mount the worker made at R. Returns
 * 0 or -errno with err set. */
static int finish_in_host(struct ovl_run *run, struct ovl_error *err)
{
        const struct ovl_assemble_request *req = run->req;
        _cleanup_close_ int fd = -1;
        int r;

        if (run->mounted_at_rootfs) {
                fd = openat(req->rootfs_parent_fd, req->rootfs_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 || run->b->in_place(run->rec, fd) != 1)
                        return ovl_error_fail(err, 0, "rootfs %s: the worker mounted it, but R shows no mount of "
                                              "ovlbackend's", req->rootfs);
                ovl_mount_record_id(fd, run->rec);
                return 0;
        }
        if (run->mnt_fd < 0)
                return (run->b->needs & OVL_NEEDS_MOUNT) ? ovl_error_fail(err, 0, "rootfs %s: the worker handed no "
                                                                         "mount over", req->rootfs)
                                                         : 0;
        r = ovl_mount_attach(run->mnt_fd, req->rootfs_parent_fd, req->rootfs_name, &run->rec->tree);
        if (r == 0)
                ovl_mount_record_id(run->mnt_fd, run->rec);
        run->mnt_fd = safe_close(run->mnt_fd);
        if (r < 0)
                return ovl_error_fail(err, r == -ESTALE ? 0 : -r, "rootfs %s: attaching the mount%s", req->rootfs,
                                      r == -ESTALE ? ": R was replaced meanwhile; nothing attached" : "");
        return 0;
}

/* The fds an assemble worker is handed (it closes every other fd it inherited): the layers, R's
 * parent, the record dir and the user namespace of --uidmap. Returns a new array, or NULL. */
static int *worker_fds(const struct ovl_run *run, size_t *ret_count)
{
        const int fixed[] = { run->req->rootfs_parent_fd, run->req->record_dir_fd, run->req->userns_fd };
        int *fds = calloc(run->layers->count + ARRAY_SIZE(fixed), sizeof(int));

        if (!fds)
                return NULL;
        for (size_t i = 0; i < run->layers->count; i++)
                fds[i] = run->layers->items[i].fd;
        memcpy(fds + run->layers->count, fixed, sizeof(fixed));
        *ret_count = run->layers->count + ARRAY_SIZE(fixed);
        return fds;
}

int ovl_worker_assemble(struct ovl_run *run, struct ovl_error *err)
{
        _cleanup_free_ int *keep = NULL;
        size_t n_keep = 0;
        int r;

        run->mnt_fd = -1;
        run->req->private_ns = !ovl_sandbox_settings()->disabled && private_ns_for(run->b);
        keep = worker_fds(run, &n_keep);
        if (!keep)
                return ovl_error_fail(err, ENOMEM, "rootfs %s", run->rec->rootfs);
        r = ovl_sandbox_run(&run->b->sandbox, private_ns_for(run->b), keep, n_keep, assemble_work, run, serve, run,
                            err);
        /* A refused request fails the run with the parent's reason, whatever the worker made of it. */
        if (run->refusal.set) {
                *err = run->refusal;
                r = r < 0 ? r : -EPERM;
        }
        if (r == 0)
                r = finish_in_host(run, err);
        run->mnt_fd = safe_close(run->mnt_fd);
        return r;
}

static int destroy_work(void *data, struct ovl_sandbox_link *link, struct ovl_error *err)
{
        const struct ovl_run *job = data;

        (void) link;
        return job->b->destroy(job->rec, err);
}

int ovl_worker_destroy(const char *work_dir, const struct ovl_backend_ops *b, const struct ovl_record *rec,
                       struct ovl_error *err)
{
        struct ovl_run job = { .b = b, .rec = (struct ovl_record *) rec };
        int r = check_record(work_dir, b, rec, err);

        /* It stays in the host's mount namespace: its work is to take R's mount off the host. It
         * may ask nothing. */
        if (r < 0)
                return r;
        return ovl_sandbox_run(&b->destroy_sandbox, false, NULL, 0, destroy_work, &job, NULL, NULL, err);
}
