/* The probe's driver: a scratch directory under DIR, a child process in a private mount
 * namespace that runs every probe step there (so no test mount can reach the host), the result
 * shared back through anonymous shared memory, the recommendation, and the per-boot cache of what
 * the overlay backend needs. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/walk.h"
#include "common/gcreport.h"
#include "common/macro.h"
#include "common/syscalls.h"
#include "probe/internal.h"
#include "state/workdir.h"

struct ovl_probe_feature *probe_add(struct probe_ctx *c, const char *key, bool yes, const char *how)
{
        static struct ovl_probe_feature overflow; /* never reported; keeps callers simple */
        struct ovl_probe_result *res = c->res;
        struct ovl_probe_feature *f = res->count < OVL_PROBE_MAX_FEATURES ? &res->features[res->count++] : &overflow;

        *f = (struct ovl_probe_feature){ .key = key, .supported = yes };
        snprintf(f->how, sizeof(f->how), "%s", how);
        return f;
}

void probe_add_errno(struct probe_ctx *c, const char *key, bool yes, int errnum, const char *how)
{
        struct ovl_probe_feature *f = probe_add(c, key, yes, how);

        if (!yes)
                probe_detail(f, "%s", strerror(errnum));
}

void probe_needs(struct probe_ctx *c, const char *key, const char *what)
{
        probe_detail(probe_add(c, key, false, "not tried"), "needs %s", what);
}

void probe_detail(struct ovl_probe_feature *f, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
        va_end(ap);
}

const struct ovl_probe_feature *ovl_probe_find(const struct ovl_probe_result *res, const char *key)
{
        for (size_t i = 0; i < res->count; i++)
                if (strcmp(res->features[i].key, key) == 0)
                        return &res->features[i];
        return NULL;
}

bool ovl_probe_yes(const struct ovl_probe_result *res, const char *key)
{
        const struct ovl_probe_feature *f = ovl_probe_find(res, key);

        return f && f->supported;
}

static void recommend(struct ovl_probe_result *res)
{
        static const char *const needed[] = { "overlay", "backing_fs", "d_type" };

        for (size_t i = 0; i < ARRAY_SIZE(needed); i++)
                if (!ovl_probe_yes(res, needed[i])) {
                        res->recommended_backend = "copy";
                        snprintf(res->reason, sizeof(res->reason),
                                 "overlay cannot work here (%s: no); copy works on any filesystem; bind suits "
                                 "single-layer images",
                                 needed[i]);
                        return;
                }
        res->recommended_backend = "overlay";
        snprintf(res->reason, sizeof(res->reason),
                 "overlayfs honours whiteouts and opaque dirs on %s, up to %ld layers per mount; bind suits "
                 "single-layer images",
                 res->fs_type, res->max_layers);
}

/* A private mount namespace for the test mounts: nothing made in it propagates to the host. */
static void enter_private_ns(struct probe_ctx *c)
{
        if (unshare(CLONE_NEWNS) < 0)
                snprintf(c->ns_error, sizeof(c->ns_error), "unshare(CLONE_NEWNS): %s", strerror(errno));
        else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                snprintf(c->ns_error, sizeof(c->ns_error), "making mounts private: %s", strerror(errno));
        else
                c->private_ns = true;
}

static void run_steps(struct ovl_probe_result *res, const char *scratch)
{
        struct probe_ctx c = { .res = res, .is_root = geteuid() == 0 };

        /* Dies with its parent: a killed ovlbackend must not leave a probe running. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        enter_private_ns(&c);
        /* Opened again by path, after unshare: an fd from before would still name the host
         * namespace's mount, which open_tree and overlay refuse to use from this one. */
        c.scratch = open(scratch, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c.scratch < 0 || fchdir(c.scratch) < 0)
                _exit(errno);
        res->page_size = sysconf(_SC_PAGESIZE);
        probe_filesystem(&c);
        probe_overlay(&c);
        probe_sandbox(&c);
        _exit(0);
}

/* Runs the steps in a child (a private namespace and chdir are its own) writing into shared
 * memory, and copies the result out. Returns 0 or -errno. */
static int run_in_child(const char *scratch, struct ovl_probe_result *ret)
{
        struct ovl_probe_result *shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
                                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        int status, r = 0;
        pid_t pid;

        if (shared == MAP_FAILED)
                return -errno;
        *shared = (struct ovl_probe_result){ 0 };
        fflush(NULL);
        pid = fork();
        if (pid == 0)
                run_steps(shared, scratch);
        if (pid < 0 || waitpid(pid, &status, 0) < 0)
                r = -errno;
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                r = -ECHILD;
        else
                *ret = *shared; /* the keys point at string literals, the same in both processes */
        munmap(shared, sizeof(*shared));
        return r;
}

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

int ovl_probe_run(const char *dir, struct ovl_probe_result *ret, struct ovl_error *err)
{
        _cleanup_close_ int dirfd = -1, scratch = -1;
        _cleanup_free_ char *path = NULL;
        double start = now_ms();
        char name[64];
        int r, removed;

        *ret = (struct ovl_probe_result){ 0 };
        r = ovl_mkdir_parents(dir, 0700);
        if (r < 0)
                return ovl_error_bad(err, -r, "probe directory %s", dir);
        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return ovl_error_bad(err, errno, "probe directory %s", dir);
        snprintf(name, sizeof(name), ".probe.%d", (int) getpid());
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return ovl_error_fail(err, ENOMEM, "probe directory %s", dir);
        if (mkdirat(dirfd, name, 0700) < 0 ||
            (scratch = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
                r = ovl_error_fail(err, errno, "probe directory %s: cannot make a scratch directory", dir);
                (void) unlinkat(dirfd, name, AT_REMOVEDIR);
                return r;
        }
        r = run_in_child(path, ret);
        if (r < 0)
                (void) ovl_error_fail(err, r == -ECHILD ? 0 : -r, "probe: the probing process %s",
                                      r == -ECHILD ? "died" : "could not run");
        else
                recommend(ret);
        ret->elapsed_ms = now_ms() - start;
        /* The scratch holds only files and directories: every test mount went with the child. */
        removed = ovl_remove_tree_at(dirfd, name, "probe scratch", r < 0 ? NULL : err);
        return r < 0 ? r : removed;
}

/* WORK/probe/overlay-<boot id>[-legacy]: the boot id makes a reboot (a new kernel) probe again. */
static int caps_cache_name(char *buf, size_t size)
{
        _cleanup_free_ char *boot = NULL;
        int r = ovl_read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 64, &boot);

        if (r < 0)
                return r;
        boot[strcspn(boot, "\n")] = '\0';
        snprintf(buf, size, "overlay-%s%s", boot, ovl_syscalls_new_api_disabled() ? "-legacy" : "");
        return 0;
}

static bool caps_read(int dirfd, const char *name, struct ovl_overlay_caps *caps)
{
        _cleanup_free_ char *text = NULL;
        int new_api, layer_fds, meta, image, n;

        /* A cache written by an earlier version (fewer fields) is stale: the features it lacks
         * are probed again rather than taken as absent until the next boot. */
        if (ovl_read_file_at(dirfd, name, 256, &text) < 0)
                return false;
        n = sscanf(text, "new_api=%d layer_fds=%d max_layers=%ld meta_stack=%d meta_image=%d", &new_api, &layer_fds,
                   &caps->max_layers, &meta, &image);
        if (n < 5 || caps->max_layers < 1)
                return false;
        caps->new_api = new_api;
        caps->layer_fds = layer_fds;
        caps->meta_stack = meta;
        caps->meta_image = meta && image;
        caps->from_cache = true;
        return true;
}

int ovl_probe_overlay_caps(const char *work_dir, struct ovl_overlay_caps *ret, struct ovl_error *err)
{
        _cleanup_free_ struct ovl_probe_result *res = malloc(sizeof(*res));
        _cleanup_close_ int dirfd = -1;
        _cleanup_free_ char *dir = NULL;
        char name[128], text[128];
        int r;

        *ret = (struct ovl_overlay_caps){ 0 };
        if (!res || asprintf(&dir, "%s/probe", work_dir) < 0)
                return ovl_error_fail(err, ENOMEM, "overlay: probe cache");
        r = caps_cache_name(name, sizeof(name));
        if (r < 0)
                return ovl_error_fail(err, -r, "overlay: probe cache");
        r = ovl_mkdir_parents(dir, 0700);
        dirfd = r < 0 ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dirfd < 0)
                return ovl_error_fail(err, r < 0 ? -r : errno, "overlay: probe cache %s", dir);
        /* What the cache says decides how the overlay is mounted: only we may have written it. */
        r = ovl_workdir_check_private(dirfd, dir, err);
        if (r < 0)
                return r;
        if (caps_read(dirfd, name, ret))
                return 0;
        r = ovl_probe_run(dir, res, err);
        if (r < 0)
                return r;
        if (!ovl_probe_yes(res, "overlay")) {
                const struct ovl_probe_feature *f = ovl_probe_find(res, "overlay");
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, 0, "overlay: this kernel cannot mount it here: %s",
                                     f ? f->detail : "not probed");
        }
        ret->new_api = ovl_probe_yes(res, "lowerdir+");
        ret->layer_fds = ovl_probe_yes(res, "layer_fds");
        ret->max_layers = res->max_layers;
        ret->meta_stack = ovl_probe_yes(res, "meta_stack");
        ret->meta_image = ovl_probe_yes(res, "meta_image");
        snprintf(text, sizeof(text), "new_api=%d layer_fds=%d max_layers=%ld meta_stack=%d meta_image=%d\n",
                 ret->new_api, ret->layer_fds, ret->max_layers, ret->meta_stack, ret->meta_image);
        r = ovl_write_file_atomic(dirfd, name, text, strlen(text));
        return r < 0 ? ovl_error_fail(err, -r, "overlay: probe cache %s/%s", dir, name) : 0;
}

bool ovl_probe_entry_live(const char *name)
{
        char current[128];
        int pid;

        if (sscanf(name, ".probe.%d", &pid) == 1)
                return kill(pid, 0) == 0 || errno == EPERM;
        if (caps_cache_name(current, sizeof(current)) < 0)
                return true;
        /* Both API settings of this boot count: the name without the "-legacy" suffix is a prefix. */
        return strncmp(name, current, strlen("overlay-") + 36) == 0;
}

static bool probe_entry_kept(const char *name, const char *path, void *ctx)
{
        (void) path;
        (void) ctx;
        return ovl_probe_entry_live(name);
}

int ovl_probe_gc(const char *work_dir, struct ovl_gc_report *report)
{
        _cleanup_free_ char *dir = NULL;

        if (asprintf(&dir, "%s/probe", work_dir) < 0)
                return -ENOMEM;
        return ovl_gc_sweep_dir(dir, probe_entry_kept, NULL, "probe",
                                "probe result of an earlier boot, or a dead probe's scratch", report);
}
