/* The parent's side of the worker protocol. A backend's assemble runs in a sandboxed worker
 * (namespaces/sandbox.h) and asks before it creates anything: each claim (backends/assembly.h) is
 * checked here against the shapes its backend may claim, recorded and saved, and only then
 * answered. The record is written by the parent alone, so a worker subverted through a kernel or
 * parser bug cannot make a later destroy or gc act on a path of its choosing. The finished mount
 * comes back as a detached mount fd, attached at R here, in the host's namespace. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "backends/assembly.h"
#include "backends/mount.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "common/mounttable.h"
#include "common/syscalls.h"
#include "common/testhook.h"
#include "lifecycle/internal.h"
#include "lifecycle/who.h"
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

/* What one worker may claim at most: far more than any backend does (the copy claims one scratch
 * per name it draws, at most 16; the overlay four, and a cache entry per layer and one flattened
 * bottom), and little enough that the record stays well below the size a record may have (each
 * byte may be escaped as four). */
#define MAX_SCRATCH_CLAIMS 64
#define MAX_CACHES_BEYOND_LAYERS 8
#define MAX_CLAIMED_BYTES (1u << 20)

static struct ovl_strlist *list_of(struct ovl_record *rec, enum ovl_claim_kind kind)
{
        return kind == OVL_CLAIM_SCRATCH ? &rec->scratch : kind == OVL_CLAIM_MOUNT ? &rec->mounts : &rec->caches;
}

/* What the parent keeps while it serves one worker, beyond the run itself. */
struct serving {
        struct ovl_run *run;
        char *rootfs_parent;   /* R's parent directory, as the record names it */
        size_t scratch_claims; /* scratch claims accepted, withdrawn ones included */
        size_t claimed_bytes;  /* the length of every claim accepted */
};

/* Refuses a request, keeping the parent's own reason for the run's final error (the worker's
 * account of it is not to be trusted). Returns -EPERM. */
static int refuse(struct ovl_run *run, struct ovl_error *err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int refuse(struct ovl_run *run, struct ovl_error *err, const char *fmt, ...)
{
        struct ovl_error e = { 0 };
        _cleanup_free_ char *why = NULL;
        va_list ap;
        int r;

        /* Whole, however long the worker's path: the message keeps both of its ends. */
        va_start(ap, fmt);
        r = vasprintf(&why, fmt, ap);
        va_end(ap);
        ovl_error_fail(&e, 0, "rootfs %s: the %s worker %s", run->rec->rootfs, run->b->name, r < 0 ? fmt : why);
        if (!run->refusal.set)
                run->refusal = e;
        if (err && !err->set)
                *err = e;
        return -EPERM;
}

/* The mount an fd is on, from /proc/self/fdinfo: no filesystem is asked, so an fd the worker sent
 * from a filesystem it serves itself (FUSE) cannot stall the parent. Returns 0 or -errno. */
static int fd_mount_id(int fd, uint64_t *ret)
{
        char path[64];
        _cleanup_free_ char *text = NULL;
        const char *p;
        int r;

        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
        r = ovl_read_file_at(AT_FDCWD, path, 1 << 16, &text);
        if (r < 0)
                return r;
        p = strstr(text, "\nmnt_id:");
        if (!p)
                return -EOPNOTSUPP;
        *ret = strtoull(p + strlen("\nmnt_id:"), NULL, 10);
        return 0;
}

/* The directory a claimed scratch is created in, as the parent holds it: R's parent, the record
 * dir, or (for a shape of a backend to come) its path opened now. Returns an fd or -errno; *ret_own
 * is set when the caller must close it. */
static int scratch_dir_fd(const struct serving *s, const char *parent, bool *ret_own)
{
        const struct ovl_assemble_request *req = s->run->req;
        int fd;

        *ret_own = false;
        if (strcmp(parent, s->rootfs_parent) == 0)
                return req->rootfs_parent_fd;
        if (strcmp(parent, req->record_dir) == 0 && req->record_dir_fd >= 0)
                return req->record_dir_fd;
        fd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
        *ret_own = fd >= 0;
        return fd < 0 ? -errno : fd;
}

/* Whether something stands at a claimed scratch path already. Returns 1, 0 or -errno. */
static int scratch_exists(const struct serving *s, const char *path)
{
        _cleanup_free_ char *parent = NULL, *base = NULL;
        struct stat st;
        bool own;
        int fd, r = ovl_path_split(path, &parent, &base);

        if (r < 0)
                return r;
        fd = scratch_dir_fd(s, parent, &own);
        if (fd < 0)
                return fd == -ENOENT ? 0 : fd;
        r = fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 1 : errno == ENOENT ? 0 : -errno;
        if (own)
                close(fd);
        return r;
}

/* CLAIM: recorded, and saved before the answer (a cache only with the next save: it is shared and
 * kept from gc by the cache lock the worker holds meanwhile). A scratch is claimed before it is
 * created, so something standing at its name already is not the worker's to claim: refused
 * (EEXIST, not a lie: a neighbour may have been quicker), nothing recorded. */
static int serve_claim(struct serving *s, enum ovl_claim_kind kind, const char *path, struct ovl_error *err)
{
        struct ovl_run *run = s->run;
        struct ovl_strlist *list = list_of(run->rec, kind);
        size_t len = strlen(path);
        int r;

        if (!ovl_claim_allowed(run->wd->path, run->req->record_dir, run->b, run->rec, kind, path))
                return refuse(run, err,
                              "claimed %s as %s, which that backend never makes; refused, nothing "
                              "recorded",
                              path, ovl_claim_kind_name(kind));
        if (ovl_strlist_has(list, path))
                return 0;
        if ((kind == OVL_CLAIM_SCRATCH && s->scratch_claims >= MAX_SCRATCH_CLAIMS) ||
            (kind == OVL_CLAIM_CACHE && list->count >= run->layers->count + MAX_CACHES_BEYOND_LAYERS) ||
            s->claimed_bytes + len > MAX_CLAIMED_BYTES)
                return refuse(run, err,
                              "claimed more than that backend ever does (%s as %s); refused, nothing "
                              "recorded",
                              path, ovl_claim_kind_name(kind));
        if (kind == OVL_CLAIM_SCRATCH) {
                r = scratch_exists(s, path);
                if (r != 0)
                        return ovl_error_fail(err, r < 0 ? -r : EEXIST, "rootfs %s: scratch %s%s", run->rec->rootfs,
                                              path,
                                              r < 0 ? ""
                                                    : ": something stands there already; left alone, "
                                                      "nothing recorded");
                s->scratch_claims++;
        }
        r = ovl_strlist_append(list, path);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s: recording %s", run->rec->rootfs, path);
        s->claimed_bytes += len;
        return kind == OVL_CLAIM_CACHE ? 0 : ovl_run_save(run, err);
}

/* IDENTIFY: the claimed scratch beside R (or R) exists now, and fd is it. The parent looks the name
 * up itself, and records that directory's identity only when it is the worker's fd, on the same
 * mount, ours, and still empty: what the worker has just created, not a directory of anyone else's
 * it moved there (whose identity would make a rollback remove that tree). */
static int serve_identify(struct serving *s, const char *path, int fd, struct ovl_error *err)
{
        struct ovl_run *run = s->run;
        _cleanup_free_ char *parent = NULL, *base = NULL;
        _cleanup_close_ int own = -1, dir = -1;
        uint64_t mnt_parent, mnt_own, mnt_sent;
        struct ovl_tree_id id, sent;
        struct stat st;
        bool empty = false;

        if (fd < 0 || !ovl_strlist_has(&run->rec->scratch, path) || run->rec->tree.ino != 0 ||
            ovl_path_split(path, &parent, &base) < 0 || strcmp(parent, s->rootfs_parent) != 0)
                return refuse(run, err, "identified %s, which it did not claim beside R (or did twice); refused", path);
        /* O_PATH: opening it asks nothing of a filesystem mounted there. */
        own = openat(run->req->rootfs_parent_fd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (own < 0 || fd_mount_id(run->req->rootfs_parent_fd, &mnt_parent) < 0 || fd_mount_id(own, &mnt_own) < 0 ||
            fd_mount_id(fd, &mnt_sent) < 0)
                return ovl_error_fail(err, errno, "rootfs %s: scratch %s", run->rec->rootfs, path);
        if (mnt_own != mnt_parent || mnt_sent != mnt_own)
                return refuse(run, err,
                              "identified %s with a directory on another mount, or something is mounted "
                              "there; refused",
                              path);
        if (ovl_tree_id_get(own, "", &id) < 0 || ovl_tree_id_get(fd, "", &sent) < 0 || fstat(own, &st) < 0)
                return ovl_error_fail(err, errno, "rootfs %s: scratch %s", run->rec->rootfs, path);
        if (!ovl_tree_id_equal(&id, &sent) || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
                return refuse(run, err,
                              "identified %s with a directory that is not the one standing there; "
                              "refused",
                              path);
        dir = openat(own, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0 || ovl_dir_is_empty(dir, &empty) < 0)
                return ovl_error_fail(err, errno, "rootfs %s: scratch %s", run->rec->rootfs, path);
        if (!empty)
                return refuse(run, err,
                              "identified %s, which is not the empty directory it has just created; "
                              "refused",
                              path);
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
 * at R already (mount(2) in the host's namespace). Once, and only after claiming R as the mount.
 * A mount attached in the parent's own namespace is refused: move_mount would take it from where
 * it is (a layer, /home) to R, and destroy would later unmount it. */
static int serve_hand_over(struct serving *s, int fd, struct ovl_error *err)
{
        struct ovl_run *run = s->run;
        uint64_t id;
        int r;

        if (run->mnt_fd >= 0 || run->mounted_at_rootfs || !ovl_strlist_has(&run->rec->mounts, run->rec->rootfs) ||
            (fd < 0 && run->req->private_ns)) {
                safe_close(fd);
                return refuse(run, err, "handed over a mount it may not hand over; refused");
        }
        if (fd >= 0) {
                bool listed = false;
                r = fd_mount_id(fd, &id);
                if (r == 0)
                        r = ovl_mounttable_has_id(id, &listed);
                if (r == 0 && listed)
                        r = 1;
                if (r != 0) {
                        safe_close(fd);
                        return r < 0 ? ovl_error_fail(err, -r, "rootfs %s: the mount handed over", run->rec->rootfs)
                                     : refuse(run, err,
                                              "handed over a mount attached in the host's mount namespace, "
                                              "not a detached one it made; refused");
                }
        }
        if (fd < 0)
                run->mounted_at_rootfs = true;
        run->mnt_fd = fd;
        return 0;
}

static int serve(void *data, const void *msg, size_t len, int fd, struct ovl_error *err)
{
        struct serving *s = data;
        struct ovl_run *run = s->run;
        struct ovl_claim_request q;
        int r = ovl_claim_request_parse(msg, len, &q, err);

        if (r < 0 || (fd >= 0 && q.op != OVL_CLAIM_OP_IDENTIFY && q.op != OVL_CLAIM_OP_HAND_OVER)) {
                safe_close(fd);
                return r < 0 ? refuse(run, NULL, "sent a malformed request; refused")
                             : refuse(run, err, "sent an fd with a request that takes none; refused");
        }
        /* The work is failed once a request was refused, and finished once its mount is handed
         * over: nothing more is recorded for it. */
        if (run->refusal.set || run->mnt_fd >= 0 || run->mounted_at_rootfs) {
                safe_close(fd);
                return refuse(run, err, "asked again after %s; refused",
                              run->refusal.set ? "a refusal" : "handing its mount over");
        }
        switch (q.op) {
        case OVL_CLAIM_OP_CLAIM:
                r = 0;
                for (size_t i = 0; r == 0 && i < q.n_paths; i++, q.path = ovl_claim_request_next(q.path))
                        r = serve_claim(s, q.kind, q.path, err);
                return r;
        case OVL_CLAIM_OP_IDENTIFY:
                r = serve_identify(s, q.path, fd, err);
                safe_close(fd);
                return r;
        case OVL_CLAIM_OP_WITHDRAW:
                return serve_withdraw(run, q.kind, q.path, err);
        case OVL_CLAIM_OP_HAND_OVER:
                return serve_hand_over(s, fd, err);
        }
        safe_close(fd);
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

        r = ovl_worker_test_lies(run, &a, err);
        if (r == 1)
                return 0;
        if (r == 0 && run->req->private_ns && (run->b->sandbox.syscalls & OVL_SYSCALLS_MOUNT)) {
                r = ovl_layer_list_reopen(run->layers, err);
                run->req->record_dir_fd = open(run->req->record_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (r == 0 && run->req->record_dir_fd < 0)
                        r = ovl_error_fail(err, errno, "work dir %s", run->req->record_dir);
        }
        return r < 0 ? r : run->b->assemble(run->req, &a, err);
}

/* Whether the mount open at fd has the flags the options ask for (statfs reports the mount's own
 * flags): the worker chose them, the parent checks them. */
static bool flags_as_asked(const struct ovl_run *run, int fd)
{
        const struct ovl_backend_options *o = run->req->opts;
        struct statvfs sv;

        if (fstatvfs(fd, &sv) < 0)
                return false;
        return (!run->rec->read_only || (sv.f_flag & ST_RDONLY)) && (!o->nosuid || (sv.f_flag & ST_NOSUID)) &&
               (!o->nodev || (sv.f_flag & ST_NODEV));
}

/* Attaches the handed-over mount at R, the directory the record identifies; or takes the worker's
 * word that it mounted at R itself. Either way, what stands at R is then checked, whatever the
 * worker said its result was: the tree whose identity it recorded (copy), or the backend's own
 * mount with the flags asked for, whose id is recorded so destroy unmounts exactly it. A mount the
 * parent attached that fails the check is detached again; one the worker made at R is left for
 * the rollback, which unmounts only what it recognises. Returns 0 or -errno with err set. */
static int finish_in_host(struct ovl_run *run, struct ovl_error *err)
{
        const struct ovl_assemble_request *req = run->req;
        bool mounts = run->b->needs & OVL_NEEDS_MOUNT;
        _cleanup_close_ int fd = -1;
        int r;

        if (run->mnt_fd >= 0) {
                r = ovl_mount_attach(run->mnt_fd, req->rootfs_parent_fd, req->rootfs_name, &run->rec->tree);
                if (r < 0)
                        return ovl_error_fail(err, r == -ESTALE ? 0 : -r, "rootfs %s: attaching the mount%s",
                                              req->rootfs,
                                              r == -ESTALE ? ": R was replaced meanwhile; nothing attached" : "");
        } else if (mounts && !run->mounted_at_rootfs) {
                return ovl_error_fail(err, 0, "rootfs %s: the worker handed no mount over", req->rootfs);
        }
        fd = openat(req->rootfs_parent_fd, req->rootfs_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || run->b->in_place(run->rec, fd) != 1 || (mounts && !flags_as_asked(run, fd))) {
                if (run->mnt_fd >= 0) {
                        char path[OVL_FD_PATH_MAX];
                        snprintf(path, sizeof(path), "/proc/self/fd/%d", run->mnt_fd);
                        (void) umount2(path, MNT_DETACH);
                }
                return ovl_error_fail(err, 0, "rootfs %s: the worker reported success, but R shows %s", req->rootfs,
                                      mounts ? "no mount of ovlbackend's with the options asked for"
                                             : "not the tree the worker identified");
        }
        if (mounts)
                ovl_mount_record_id(run->mnt_fd >= 0 ? run->mnt_fd : fd, run->rec);
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
        struct serving s = { .run = run };
        _cleanup_free_ char *rootfs_base = NULL;
        _cleanup_free_ int *keep = NULL;
        size_t n_keep = 0;
        int r;

        run->mnt_fd = -1;
        run->req->private_ns = !ovl_sandbox_settings()->disabled && private_ns_for(run->b);
        keep = worker_fds(run, &n_keep);
        if (!keep || ovl_path_split(run->rec->rootfs, &s.rootfs_parent, &rootfs_base) < 0)
                return ovl_error_fail(err, ENOMEM, "rootfs %s", run->rec->rootfs);
        r = ovl_sandbox_run(&run->b->sandbox, private_ns_for(run->b), keep, n_keep, assemble_work, run, serve, &s, err);
        /* A refused request fails the run with the parent's reason, whatever the worker made of it. */
        if (run->refusal.set) {
                *err = run->refusal;
                r = r < 0 ? r : -EPERM;
        }
        if (r == 0)
                r = finish_in_host(run, err);
        run->mnt_fd = safe_close(run->mnt_fd);
        free(s.rootfs_parent);
        return r;
}

/* What the parent keeps while one destroy worker runs. */
struct removal {
        const struct ovl_backend_ops *b;
        const struct ovl_record *rec; /* what the backend's destroy works from */
        struct ovl_record seen;       /* a shallow copy, completed (ovl_who_learn_mount) while the
                                       * mount is still at R: what its holders are told by */
        bool asked;                   /* the one request it may make was made */
};

static int destroy_work(void *data, struct ovl_sandbox_link *link, struct ovl_error *err)
{
        const struct removal *job = data;
        int r;

        ovl_removal_set_link(link);
        r = job->b->destroy(job->rec, err);
        ovl_removal_set_link(NULL);
        return r;
}

/* The destroy worker's one request, once its mount is off the host: may it remove the rest? Looked
 * up here, in the parent, in the host's view of /proc (lifecycle/who.c). Anything else, or asking
 * twice, is refused. */
static int serve_removal(void *data, const void *msg, size_t len, int fd, struct ovl_error *err)
{
        struct removal *job = data;

        safe_close(fd);
        if (fd >= 0 || job->asked || len != sizeof(OVL_REMOVAL_REQUEST) || memcmp(msg, OVL_REMOVAL_REQUEST, len) != 0)
                return ovl_error_fail(err, EPERM, "rootfs %s: the destroy worker sent a request it may not; refused",
                                      job->rec->rootfs);
        job->asked = true;
        return ovl_who_may_remove(job->b, &job->seen, err);
}

int ovl_worker_destroy(const char *work_dir, const struct ovl_backend_ops *b, const struct ovl_record *rec,
                       struct ovl_error *err)
{
        struct removal job = { .b = b, .rec = rec, .seen = *rec };
        int r = ovl_record_check(work_dir, b, rec, err);

        /* It stays in the host's mount namespace: its work is to take R's mount off the host. It
         * may ask one thing (serve_removal). */
        if (r < 0)
                return r;
        ovl_who_learn_mount(b, &job.seen);
        return ovl_sandbox_run(&b->destroy_sandbox, false, NULL, 0, destroy_work, &job, serve_removal, &job, err);
}
