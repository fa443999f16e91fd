/* `who`: which processes and which mount namespaces still hold a rootfs or its scratch dirs.
 *
 * Two passes over /proc. The first collects every mount namespace (of every thread) and reads the
 * mountinfo of one process in each, keeping the mounts that are the rootfs' (lifecycle/who_target.c
 * says which): a namespace holding one is a holder, and each such mount's id joins "our mounts".
 * The second looks at what each process uses (its root, working directory, open files, mapped
 * files) and keeps those inside; a namespace first seen then is read then. Processes come and go
 * throughout: one that is gone is skipped, never an error. This process is never counted; its
 * namespace only for a mount of the rootfs other than the record's own at R (a bind of R elsewhere
 * on the host), listed without processes; its children (a destroy worker) never. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "lifecycle/internal.h"
#include "lifecycle/lifecycle.h"
#include "lifecycle/who.h"

/* A mount namespace seen in the first pass, with the processes (or threads) in it. */
struct ns_seen {
        uint64_t ino;
        pid_t *pids;
        size_t n_pids;
};

struct scan {
        struct ovl_who_target t;
        struct ovl_who *res;
        int proc_fd;
        pid_t self;
        uint64_t own_ns;
        struct ns_seen *ns;
        size_t n_ns;
};

static const char *const kind_names[] = {
        [OVL_HOLDER_ROOT] = "root",
        [OVL_HOLDER_CWD] = "cwd",
        [OVL_HOLDER_FD] = "fd",
        [OVL_HOLDER_MAP] = "map",
};

const char *ovl_holder_kind_name(enum ovl_holder_kind kind)
{
        return (unsigned) kind < ARRAY_SIZE(kind_names) ? kind_names[kind] : "unknown";
}

void ovl_who_clear(struct ovl_who *w)
{
        for (size_t i = 0; i < w->n_holders; i++)
                free(w->holders[i].path);
        for (size_t i = 0; i < w->n_namespaces; i++) {
                free(w->namespaces[i].pids);
                free(w->namespaces[i].mount_point);
        }
        free(w->holders);
        free(w->namespaces);
        *w = (struct ovl_who){ 0 };
}

bool ovl_who_held(const struct ovl_who *w)
{
        if (w->n_holders > 0)
                return true;
        for (size_t i = 0; i < w->n_namespaces; i++)
                if (!w->namespaces[i].ovlbackend && !w->namespaces[i].unprivileged)
                        return true;
        return false;
}

static int append_pid(pid_t **pids, size_t *n, pid_t pid)
{
        pid_t *grown = realloc(*pids, (*n + 1) * sizeof(pid_t));

        if (!grown)
                return -ENOMEM;
        *pids = grown;
        grown[(*n)++] = pid;
        return 0;
}

static struct ns_seen *ns_find(struct scan *s, uint64_t ino)
{
        for (size_t i = 0; i < s->n_ns; i++)
                if (s->ns[i].ino == ino)
                        return &s->ns[i];
        return NULL;
}

/* Notes that pid (or a thread) is in namespace ino. Returns 0 or -ENOMEM. */
static int ns_note(struct scan *s, uint64_t ino, pid_t pid)
{
        struct ns_seen *n = ns_find(s, ino);

        if (!n) {
                struct ns_seen *grown = realloc(s->ns, (s->n_ns + 1) * sizeof(*grown));
                if (!grown)
                        return -ENOMEM;
                s->ns = grown;
                n = &s->ns[s->n_ns++];
                *n = (struct ns_seen){ .ino = ino };
        }
        return append_pid(&n->pids, &n->n_pids, pid);
}

/* What reading one namespace's mountinfo collects. */
struct ns_read {
        struct scan *s;
        uint64_t ino;
        size_t mounts;     /* every mount listed: none means the process was gone */
        char *mount_point; /* the first mount of ours a holder has there */
};

static int on_mount(void *ctx, const struct ovl_mount_entry *m)
{
        struct ns_read *nr = ctx;
        int r;

        nr->mounts++;
        if (m->id == nr->s->t.own_id)
                nr->s->t.own_id_attached = true;
        if (!ovl_who_mount_matches(&nr->s->t, m))
                return 0;
        r = ovl_who_target_add_id(&nr->s->t, m->id);
        /* Our own namespace holds the record's own mount at R: not a holder for that. */
        if (r == 0 && !nr->mount_point && (nr->ino != nr->s->own_ns || m->id != nr->s->t.own_id))
                r = (nr->mount_point = strdup(m->target)) ? 0 : -ENOMEM;
        return r;
}

/* Reads /proc/PID/mountinfo (pid_fd: /proc/PID, or /proc/self). Returns 0, -ESRCH, or -errno. */
static int read_mountinfo(int pid_fd, struct ns_read *nr)
{
        _cleanup_fclose_ FILE *f = NULL;
        int r = ovl_proc_fopen(pid_fd, "mountinfo", &f);

        if (r < 0)
                return r;
        r = ovl_mounttable_each(f, on_mount, nr);
        /* A process that exits while its mountinfo is read leaves an empty or cut file. */
        return r == 0 && nr->mounts == 0 ? -ESRCH : r;
}

/* Whether r (a -errno from /proc) says the entry is not ours to read, rather than gone. */
static bool unreadable(int r)
{
        return r == -EACCES || r == -EPERM;
}

/* Opens /proc/PID of a process seen in namespace ino, if it is still there and still in it (a pid
 * may have been reused meanwhile). Returns the fd, -ESRCH when gone or moved, or -errno. */
static int open_ns_member(struct scan *s, pid_t pid, uint64_t ino)
{
        _cleanup_close_ int fd = ovl_proc_open_pid(s->proc_fd, pid);
        uint64_t now;
        int r = fd < 0 ? fd : ovl_proc_ns_inode(fd, "ns/mnt", &now);

        if (r < 0)
                return r;
        return now == ino ? TAKE_FD(fd) : -ESRCH;
}

/* Whether every process of the namespace runs ovlbackend itself. One gone meanwhile does not
 * count (a worker that has just finished); one that cannot be told does. */
static bool only_ovlbackend(struct scan *s, uint64_t ino, const pid_t *pids, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_close_ int fd = open_ns_member(s, pids[i], ino);
                int r = fd < 0 ? fd : ovl_proc_runs_our_program(fd);

                if (r == 0 || (r < 0 && !ovl_proc_gone(r)))
                        return false;
        }
        return n > 0;
}

/* Whether the user namespace owning namespace ino was made by a user other than root (asked
 * through the first of its processes still in it; unknown counts as root's). */
static bool unprivileged_owner(struct scan *s, uint64_t ino, const pid_t *pids, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_close_ int fd = open_ns_member(s, pids[i], ino);
                uid_t owner;

                if (fd >= 0 && ovl_proc_ns_owner_uid(fd, "ns/mnt", &owner) == 0)
                        return owner != 0;
        }
        return false;
}

/* Adds namespace ino as a holder, with its processes (none for our own). Returns 0 or -ENOMEM. */
static int add_holder_ns(struct scan *s, uint64_t ino, const pid_t *pids, size_t n, char *mount_point)
{
        struct ovl_holder_ns *grown = realloc(s->res->namespaces, (s->res->n_namespaces + 1) * sizeof(*grown));
        struct ovl_holder_ns *h;

        if (!grown) {
                free(mount_point);
                return -ENOMEM;
        }
        s->res->namespaces = grown;
        h = &grown[s->res->n_namespaces++];
        *h = (struct ovl_holder_ns){ .mnt_ns = ino, .mount_point = mount_point };
        if (ino == s->own_ns)
                return 0;
        h->ovlbackend = only_ovlbackend(s, ino, pids, n);
        h->unprivileged = unprivileged_owner(s, ino, pids, n);
        h->pids = malloc(n * sizeof(pid_t));
        if (!h->pids)
                return -ENOMEM;
        memcpy(h->pids, pids, n * sizeof(pid_t));
        h->n_pids = n;
        for (size_t i = 0; i < n; i++) {
                _cleanup_close_ int fd = ovl_proc_open_pid(s->proc_fd, pids[i]);
                if (fd >= 0 && ovl_proc_comm(fd, h->comm, sizeof(h->comm)) == 0)
                        break;
        }
        return 0;
}

/* Reads namespace n's mountinfo through the first of its processes still there and still in it.
 * Returns 0 or -errno. */
static int read_namespace(struct scan *s, struct ns_seen *n)
{
        struct ns_read nr = { .s = s, .ino = n->ino };
        int r = -ESRCH;

        for (size_t i = 0; ovl_proc_gone(r) && i < n->n_pids; i++) {
                _cleanup_close_ int fd = open_ns_member(s, n->pids[i], n->ino);

                nr.mounts = 0;
                r = fd < 0 ? fd : read_mountinfo(fd, &nr);
        }
        if (unreadable(r))
                s->res->unreadable++;
        if (r < 0 && r != -ENOMEM)
                r = 0; /* gone, or not ours to read: nothing held there that we can tell */
        if (r == 0 && nr.mount_point)
                return add_holder_ns(s, n->ino, n->pids, n->n_pids, TAKE_PTR(nr.mount_point));
        free(nr.mount_point);
        return r;
}

/* Our own namespace, through /proc/self. Returns 0 or -errno. */
static int read_own_namespace(struct scan *s)
{
        _cleanup_close_ int fd = openat(s->proc_fd, "self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct ns_read nr = { .s = s, .ino = s->own_ns };
        int r = fd < 0 ? -errno : read_mountinfo(fd, &nr);

        if (r == 0 && nr.mount_point)
                return add_holder_ns(s, s->own_ns, NULL, 0, TAKE_PTR(nr.mount_point));
        free(nr.mount_point);
        return r;
}

/* Notes the namespaces of pid's threads that differ from the process' own (a thread that
 * entered another one). Returns 0 or -ENOMEM. */
static int note_threads(struct scan *s, int pid_fd, uint64_t process_ns)
{
        _cleanup_closedir_ DIR *d = NULL;
        int tid, r;

        if (ovl_proc_opendir(pid_fd, "task", &d) < 0)
                return 0;
        while ((r = ovl_proc_next_number(d, &tid)) > 0) {
                char path[64];
                uint64_t ino;

                snprintf(path, sizeof(path), "task/%" PRIdMAX "/ns/mnt", (intmax_t) tid);
                if (ovl_proc_ns_inode(pid_fd, path, &ino) == 0 && ino != process_ns && ino != s->own_ns &&
                    ns_note(s, ino, (pid_t) tid) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* The first pass: every namespace, then each one's mounts. Returns 0 or -errno. */
static int scan_namespaces(struct scan *s)
{
        _cleanup_closedir_ DIR *d = NULL;
        int pid, r = ovl_proc_opendir(s->proc_fd, ".", &d);

        if (r < 0)
                return r;
        while ((r = ovl_proc_next_number(d, &pid)) > 0) {
                _cleanup_close_ int pfd = pid == s->self ? -1 : ovl_proc_open_pid(s->proc_fd, pid);
                uint64_t ino;

                if (pfd < 0 || ovl_proc_ns_inode(pfd, "ns/mnt", &ino) < 0)
                        continue;
                if (ino != s->own_ns && ns_note(s, ino, pid) < 0)
                        return -ENOMEM;
                if (note_threads(s, pfd, ino) < 0)
                        return -ENOMEM;
        }
        if (r < 0)
                return r;
        r = read_own_namespace(s);
        for (size_t i = 0; r == 0 && i < s->n_ns; i++)
                r = read_namespace(s, &s->ns[i]);
        return r;
}

/* One process as the second pass sees it. */
struct proc {
        struct ovl_who_process w; /* first: the checks hand it back */
        struct scan *s;
        pid_t pid;
        uint64_t ns;
        char comm[64];
        bool comm_read;
        int ours;      /* -1: not looked up yet; 1: our child (the destroy worker asking), never a holder */
        int here_read; /* 0: not yet; 1: here holds its namespace's mounts of ours now; -1: unreadable */
        struct ovl_who_target here; /* only its ids: the mounts of ours in its namespace now */
};

/* Collects the ids of the mounts of ours of one mountinfo into another id list. */
struct here_read {
        const struct ovl_who_target *t;
        struct ovl_who_target *into;
};

static int on_mount_here(void *ctx, const struct ovl_mount_entry *m)
{
        struct here_read *h = ctx;

        return ovl_who_mount_matches(h->t, m) ? ovl_who_target_add_id(h->into, m->id) : 0;
}

/* ovl_who_process.lists: whether the process' namespace lists a mount of ours with this id now,
 * its mountinfo read once, when first asked. */
static bool proc_lists(struct ovl_who_process *w, uint64_t mnt_id)
{
        struct proc *p = (struct proc *) w;

        if (!p->here_read) {
                _cleanup_fclose_ FILE *f = NULL;
                struct here_read h = { .t = &p->s->t, .into = &p->here };
                p->here_read = ovl_proc_fopen(p->w.fd, "mountinfo", &f) == 0 &&
                                               ovl_mounttable_each(f, on_mount_here, &h) == 0
                                       ? 1
                                       : -1;
        }
        for (size_t i = 0; p->here_read > 0 && i < p->here.n_ids; i++)
                if (p->here.ids[i] == mnt_id)
                        return true;
        return false;
}

/* Whether p is our child: the destroy worker asking, never a holder (nor unreadable: it is
 * sandboxed, not dumpable). */
static bool is_our_child(struct proc *p)
{
        pid_t ppid;

        if (p->ours < 0)
                p->ours = p->w.fd >= 0 && ovl_proc_ppid(p->w.fd, &ppid) == 0 && ppid == p->s->self;
        return p->ours;
}

static int add_holder(struct proc *p, enum ovl_holder_kind kind, int fd, const char *name, bool scratch)
{
        struct ovl_who *res = p->s->res;
        struct ovl_holder *grown;
        struct ovl_holder *h;

        if (is_our_child(p))
                return 0;
        grown = realloc(res->holders, (res->n_holders + 1) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        res->holders = grown;
        if (!p->comm_read)
                (void) ovl_proc_comm(p->w.fd, p->comm, sizeof(p->comm));
        p->comm_read = true;
        h = &grown[res->n_holders++];
        *h = (struct ovl_holder){ .pid = p->pid, .kind = kind, .fd = fd, .mnt_ns = p->ns, .scratch = scratch };
        memcpy(h->comm, p->comm, sizeof(h->comm));
        /* The path only says where; a process gone meanwhile leaves it unknown. */
        (void) ovl_proc_link(p->w.fd, name, &h->path);
        return 0;
}

/* Checks the object behind name ("root", "cwd", "fd/N"). Returns 0, or -errno when it could not be
 * told (-ESRCH: gone; -EACCES: not ours to read). */
static int check_object(struct proc *p, enum ovl_holder_kind kind, int fd, const char *name)
{
        struct ovl_proc_object o;
        bool scratch;
        int r = ovl_proc_object(p->w.fd, name, false, &o);

        if (r == 0)
                r = ovl_who_object_inside(&p->s->t, &p->w, name, &o, &scratch);
        return r > 0 ? add_holder(p, kind, fd, name, scratch) : r;
}

static int check_root(struct proc *p)
{
        return check_object(p, OVL_HOLDER_ROOT, -1, "root");
}

static int check_cwd(struct proc *p)
{
        return check_object(p, OVL_HOLDER_CWD, -1, "cwd");
}

static int check_fds(struct proc *p)
{
        _cleanup_closedir_ DIR *d = NULL;
        int n, r = ovl_proc_opendir(p->w.fd, "fd", &d);

        if (r < 0)
                return r;
        while ((r = ovl_proc_next_number(d, &n)) > 0) {
                char name[32];

                snprintf(name, sizeof(name), "fd/%d", n);
                if (check_object(p, OVL_HOLDER_FD, n, name) == -ENOMEM)
                        return -ENOMEM;
        }
        return r;
}

/* Whether a file (dev, ino) was decided for this process already: it is mapped many times. */
static bool seen_before(uint64_t (*seen)[2], size_t *n, size_t max, const struct ovl_proc_map *m)
{
        for (size_t i = 0; i < *n; i++)
                if (seen[i][0] == m->dev && seen[i][1] == m->ino)
                        return true;
        if (*n < max) {
                seen[*n][0] = m->dev;
                seen[*n][1] = m->ino;
                (*n)++;
        }
        return false;
}

/* Files mapped into the process: its maps, each file once; /proc/PID/map_files tells their mount
 * where we may read it (root). Returns 0 or -errno. */
static int check_maps(struct proc *p)
{
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        uint64_t seen[256][2];
        size_t n_seen = 0, size = 0;
        bool map_files = faccessat(p->w.fd, "map_files", R_OK, AT_EACCESS) == 0;
        int r = ovl_proc_fopen(p->w.fd, "maps", &f);

        if (r < 0)
                return r;
        while (getline(&line, &size, f) > 0) {
                struct ovl_proc_map m;
                bool scratch;

                line[strcspn(line, "\n")] = '\0';
                if (ovl_proc_parse_maps_line(line, &m) <= 0 || seen_before(seen, &n_seen, ARRAY_SIZE(seen), &m))
                        continue;
                r = ovl_who_map_inside(&p->s->t, &p->w, &m, map_files, &scratch);
                if (unreadable(r)) {
                        map_files = false; /* not root after all: the lines alone */
                        r = ovl_who_map_inside(&p->s->t, &p->w, &m, false, &scratch);
                }
                if (r > 0) {
                        char name[64];
                        snprintf(name, sizeof(name), "map_files/%llx-%llx", (unsigned long long) m.start,
                                 (unsigned long long) m.end);
                        r = add_holder(p, OVL_HOLDER_MAP, -1, name, scratch);
                        if (r == 0 && !p->s->res->holders[p->s->res->n_holders - 1].path)
                                p->s->res->holders[p->s->res->n_holders - 1].path = strdup(m.path);
                }
                if (r == -ENOMEM)
                        return r;
        }
        return 0;
}

/* Everything one process uses, its namespace known (read now if it is new). Returns 0, or -ENOMEM
 * (nothing else stops the scan). */
static int check_uses(struct proc *p)
{
        struct scan *s = p->s;
        int r = 0;

        /* A namespace born after the first pass: its mounts are needed before its files. */
        if (p->ns != s->own_ns && !ns_find(s, p->ns)) {
                r = ns_note(s, p->ns, p->pid);
                if (r == 0)
                        r = read_namespace(s, &s->ns[s->n_ns - 1]);
                if (r < 0)
                        return r;
        }
        int (*const checks[])(struct proc *) = { check_root, check_cwd, check_fds, check_maps };
        bool any_unreadable = false;

        for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
                r = checks[i](p);
                if (r == -ENOMEM)
                        return r;
                any_unreadable |= unreadable(r);
        }
        s->res->unreadable += any_unreadable && !is_our_child(p);
        return 0;
}

static int check_process(struct scan *s, pid_t pid)
{
        struct proc p = {
                .w = { .fd = ovl_proc_open_pid(s->proc_fd, pid), .lists = proc_lists }, .s = s, .pid = pid, .ours = -1
        };
        int r = 0;

        r = p.w.fd < 0 ? p.w.fd : ovl_proc_ns_inode(p.w.fd, "ns/mnt", &p.ns);
        if (r == 0)
                r = check_uses(&p);
        else if (unreadable(r) && !is_our_child(&p))
                s->res->unreadable++;
        if (r != -ENOMEM)
                r = 0; /* gone, or counted as unreadable */
        safe_close(p.w.fd);
        free(p.here.ids);
        return r;
}

/* The second pass. Returns 0 or -errno. */
static int scan_processes(struct scan *s)
{
        _cleanup_closedir_ DIR *d = NULL;
        int pid, r = ovl_proc_opendir(s->proc_fd, ".", &d);

        if (r < 0)
                return r;
        while ((r = ovl_proc_next_number(d, &pid)) > 0)
                if (pid != s->self && (r = check_process(s, (pid_t) pid)) < 0)
                        return r;
        return r;
}

static int by_pid_then_kind(const void *a, const void *b)
{
        const struct ovl_holder *x = a, *y = b;

        if (x->pid != y->pid)
                return x->pid < y->pid ? -1 : 1;
        if (x->kind != y->kind)
                return x->kind < y->kind ? -1 : 1;
        return x->fd < y->fd ? -1 : x->fd > y->fd;
}

int ovl_who_scan(const struct ovl_backend_ops *b, const struct ovl_record *rec, struct ovl_who *ret,
                 struct ovl_error *err)
{
        struct scan s = { .res = ret, .self = getpid(), .proc_fd = -1 };
        int r;

        *ret = (struct ovl_who){ 0 };
        r = ovl_who_target_init(b, rec, &s.t);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s: who holds it", rec->rootfs);
        s.proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = s.proc_fd < 0 ? -errno : ovl_proc_ns_inode(s.proc_fd, "self/ns/mnt", &s.own_ns);
        if (r == 0)
                r = scan_namespaces(&s);
        if (r == 0)
                r = scan_processes(&s);
        for (size_t i = 0; i < s.n_ns; i++)
                free(s.ns[i].pids);
        free(s.ns);
        safe_close(s.proc_fd);
        ovl_who_target_clear(&s.t);
        if (r < 0) {
                ovl_who_clear(ret);
                return ovl_error_fail(err, -r, "rootfs %s: who holds it: /proc", rec->rootfs);
        }
        if (ret->n_holders > 1) /* qsort must not be given NULL, which no holders is */
                qsort(ret->holders, ret->n_holders, sizeof(*ret->holders), by_pid_then_kind);
        return 0;
}

/* Appends "PID N (comm)" to f, once per pid among the first `max` distinct ones. */
static void describe_pid(FILE *f, size_t *said, pid_t pid, const char *comm)
{
        fprintf(f, "%sPID %" PRIdMAX " (%s)", *said ? ", " : "", (intmax_t) pid, comm);
        (*said)++;
}

char *ovl_who_describe(const struct ovl_who *w, size_t max)
{
        char *buf = NULL;
        size_t len = 0, said = 0, total = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        for (size_t i = 0; i < w->n_holders; i++) {
                if (i > 0 && w->holders[i].pid == w->holders[i - 1].pid)
                        continue;
                if (total++ < max)
                        describe_pid(f, &said, w->holders[i].pid, w->holders[i].comm);
        }
        for (size_t i = 0; i < w->n_namespaces; i++) {
                const struct ovl_holder_ns *n = &w->namespaces[i];
                if (n->ovlbackend || n->unprivileged || total++ >= max)
                        continue;
                fprintf(f, "%sthe mount namespace mnt:[%" PRIu64 "]", said++ ? ", " : "", n->mnt_ns);
                if (n->n_pids)
                        fprintf(f, " of PID %" PRIdMAX " (%s)", (intmax_t) n->pids[0], n->comm);
                else
                        fprintf(f, " (ovlbackend's own, at %s)", n->mount_point);
        }
        if (total > said)
                fprintf(f, " and %zu more", total - said);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

void ovl_who_hint(struct ovl_error *err, const char *rootfs)
{
        if (err && err->set && !strstr(err->msg, "(see: ovlbackend who "))
                ovl_error_append(err, " (see: ovlbackend who %s)", rootfs);
}

int ovl_who_may_remove(const struct ovl_backend_ops *b, const struct ovl_record *rec, struct ovl_error *err)
{
        _cleanup_free_ char *who = NULL;
        struct ovl_who w;
        int r;

        if (!ovl_who_guards(b, rec))
                return 0;
        r = ovl_who_scan(b, rec, &w, err);
        if (r < 0) {
                ovl_error_append(err, "; detached from the host, but whether anything still holds it could not be "
                                      "told: what its mount uses is kept, with the record");
                return r;
        }
        /* A process that cannot be read (as root: a security module, or a hypervisor's init
         * whose entries even root may not read, as on CI here) is not taken for a holder: that
         * would keep every overlay's scratch forever on such a host. `who` reports the count. */
        if (!ovl_who_held(&w)) {
                ovl_who_clear(&w);
                return 0;
        }
        who = ovl_who_describe(&w, 3);
        ovl_who_clear(&w);
        ovl_error_fail(err, EBUSY, "rootfs %s: detached from the host, but still held by %s", rec->rootfs,
                       who ? who : "some process");
        ovl_error_append(err, "; what its mount uses (scratch, cached layers) is kept, with the record, until they "
                              "let go; `ovlbackend gc` then finishes the removal");
        ovl_who_hint(err, rec->rootfs);
        return -EBUSY;
}

int ovl_lifecycle_who(const char *work_dir, const char *rootfs, struct ovl_record *ret_rec, struct ovl_who *ret,
                      struct ovl_error *err)
{
        struct ovl_workdir wd = { .fd = -1, .rootfs_fd = -1, .locks_fd = -1 };
        struct ovl_record rec = { 0 };
        const struct ovl_backend_ops *b = NULL;
        char id[OVL_RECORD_ID_LEN + 1] = "";
        int r;

        /* No lock: `who` changes nothing, and must answer while a destroy waits. */
        r = ovl_lifecycle_find_record(work_dir, rootfs, OVL_ERR_BAD_INPUT, &wd, id, NULL, &rec, err);
        if (r == 0 && !(b = ovl_backend_find(rec.backend)))
                r = ovl_error_fail(err, 0, "rootfs %s: record names unknown backend %s", rootfs, rec.backend);
        if (r == 0)
                r = ovl_who_scan(b, &rec, ret, err);
        ovl_workdir_close(&wd);
        if (r < 0) {
                ovl_record_clear(&rec);
                return r;
        }
        *ret_rec = rec;
        return 0;
}
