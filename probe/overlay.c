/* overlayfs on this kernel, by test mounts in the scratch directory: whether two lowers honour a
 * 0/0 whiteout and an opaque directory, which mount API and parameters it takes (lowerdir+,
 * datadir+, layers as fds, detached mounts as layers, data-only lowers, the metadata stack and its erofs image), its
 * limits (the lower stack, the fsconfig string length), what its options turn on, and the module's defaults. New-API
 * mounts stay detached and are only looked at through their fd; mount(2) ones are made in the probe's private mount
 * namespace and detached at once. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/erofs_image.h"
#include "common/fscontext.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "common/syscalls.h"
#include "probe/internal.h"

#define STACK_BOUND 2048 /* the largest stack the probe tries */

enum via {
        VIA_BEST,     /* the best way found so far */
        VIA_PLUS,     /* fsopen, one lowerdir+ (datadir+) string per layer */
        VIA_PLUS_FDS, /* fsopen, one lowerdir+ (datadir+) per layer, by fd */
        VIA_LOWERDIR, /* fsopen, one "lowerdir" string "a:b::data" */
        VIA_LEGACY,   /* mount(2) */
};

/* One test mount: lowers top first, by name in the scratch dir (or by fd for VIA_PLUS_FDS). */
struct trial {
        const char *const *names;
        const int *fds;
        size_t n;
        const char *data; /* a data-only lower, or NULL */
        bool upper;       /* a fresh upper and work dir */
        const char *opt;  /* one more option, or NULL */
        const char *val;  /* its value, NULL for a flag */
        enum via via;
};

static enum via best_via = VIA_LEGACY;
static unsigned scratch_serial; /* names fresh upper/work dirs */

/* The kernel's own messages from an fs-context log, or strerror when it left none. */
static void read_log(int fs, int errnum, char *msg, size_t size)
{
        if (ovl_fscontext_read_log(fs, msg, size) == 0)
                snprintf(msg, size, "%s", strerror(errnum));
}

static int fresh_upper(char *upper, char *work, size_t size)
{
        scratch_serial++;
        snprintf(upper, size, "u%u", scratch_serial);
        snprintf(work, size, "w%u", scratch_serial);
        return mkdir(upper, 0755) == 0 && mkdir(work, 0700) == 0 ? 0 : -errno;
}

static int config_layer(int fs, const struct trial *t, const char *key, size_t i, const char *name)
{
        if (t->via == VIA_PLUS_FDS)
                return ovl_fsconfig(fs, FSCONFIG_SET_FD, key, NULL, t->fds ? t->fds[i] : -1);
        return ovl_fsconfig(fs, FSCONFIG_SET_STRING, key, name, 0);
}

/* Joins the lowers as "a:b::data" into buf. Returns its length (>= size when it did not fit). */
static size_t lowerdir_string(const struct trial *t, char *buf, size_t size)
{
        size_t len = 0;

        for (size_t i = 0; i < t->n; i++)
                len += (size_t) snprintf(buf + len, len < size ? size - len : 0, "%s%s", i ? ":" : "", t->names[i]);
        if (t->data)
                len += (size_t) snprintf(buf + len, len < size ? size - len : 0, "::%s", t->data);
        return len;
}

static int mount_new(const struct trial *t, char *msg, size_t size)
{
        _cleanup_close_ int fs = ovl_fsopen("overlay", FSOPEN_CLOEXEC);
        char upper[16], work[16];
        int r = 0, mnt;

        if (fs < 0)
                return snprintf(msg, size, "fsopen: %s", strerror(errno)), -errno;
        if (t->via == VIA_LOWERDIR) {
                size_t len = lowerdir_string(t, NULL, 0) + 1;
                _cleanup_free_ char *lowers = malloc(len);
                if (!lowers)
                        return -ENOMEM;
                lowerdir_string(t, lowers, len);
                r = ovl_fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", lowers, 0);
        }
        for (size_t i = 0; t->via != VIA_LOWERDIR && r == 0 && i < t->n; i++)
                r = config_layer(fs, t, "lowerdir+", i, t->names ? t->names[i] : NULL);
        if (r == 0 && t->data && t->via != VIA_LOWERDIR)
                r = config_layer(fs, t, "datadir+", t->n, t->data);
        if (r == 0 && t->upper) {
                r = fresh_upper(upper, work, sizeof(upper));
                if (r == 0)
                        r = ovl_fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0);
                if (r == 0)
                        r = ovl_fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0);
        }
        if (r == 0 && t->opt)
                r = t->val ? ovl_fsconfig(fs, FSCONFIG_SET_STRING, t->opt, t->val, 0)
                           : ovl_fsconfig(fs, FSCONFIG_SET_FLAG, t->opt, NULL, 0);
        if (r == 0 && !ovl_in_initial_userns())
                r = ovl_fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0);
        if (r == 0)
                r = ovl_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
        mnt = r == 0 ? ovl_fsmount(fs, FSMOUNT_CLOEXEC, 0) : -1;
        if (mnt < 0) {
                r = -errno;
                read_log(fs, errno, msg, size);
                return r;
        }
        return mnt;
}

/* mount(2) on "mnt" in the private namespace, then detached at once: the fd keeps the tree. */
static int mount_legacy(struct probe_ctx *c, const struct trial *t, char *msg, size_t size)
{
        long page = c->res->page_size;
        _cleanup_free_ char *opts = malloc((size_t) page);
        char upper[16], work[16];
        size_t len;
        int fd, r;

        if (!c->private_ns)
                return snprintf(msg, size, "no private mount namespace for test mounts: %s", c->ns_error), -EPERM;
        if (!opts)
                return -ENOMEM;
        len = (size_t) snprintf(opts, (size_t) page, "lowerdir=");
        len += lowerdir_string(t, opts + len, (size_t) page - len);
        if (t->upper && fresh_upper(upper, work, sizeof(upper)) == 0)
                len += (size_t) snprintf(opts + len, len < (size_t) page ? (size_t) page - len : 0,
                                         ",upperdir=%s,workdir=%s", upper, work);
        if (t->opt)
                len += (size_t) snprintf(opts + len, len < (size_t) page ? (size_t) page - len : 0, ",%s%s%s", t->opt,
                                         t->val ? "=" : "", t->val ? t->val : "");
        if (!ovl_in_initial_userns())
                len += (size_t) snprintf(opts + len, len < (size_t) page ? (size_t) page - len : 0, ",userxattr");
        if (len >= (size_t) page)
                return snprintf(msg, size, "the options (%zu bytes) do not fit a page (%ld)", len, page), -E2BIG;
        if (mkdir("mnt", 0755) < 0 && errno != EEXIST)
                return snprintf(msg, size, "mkdir: %s", strerror(errno)), -errno;
        if (mount("ovlbackend-probe", "mnt", "overlay", 0, opts) < 0)
                return r = -errno, snprintf(msg, size, "mount(2): %s", strerror(errno)), r;
        fd = open("mnt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = -errno;
        (void) umount2("mnt", MNT_DETACH);
        return fd >= 0 ? fd : (snprintf(msg, size, "open: %s", strerror(-r)), r);
}

/* Makes the mount t describes. Returns an fd of its root or -errno with the kernel's text. */
static int try_mount(struct probe_ctx *c, const struct trial *given, char *msg, size_t size)
{
        struct trial t = *given;

        if (t.via == VIA_BEST)
                t.via = best_via;
        return t.via == VIA_LEGACY ? mount_legacy(c, &t, msg, size) : mount_new(&t, msg, size);
}

static bool absent(int dirfd, const char *name)
{
        return faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

/* Whether dirfd/dir lists name: 1 when it does, 0 when it does not, or -errno when the listing
 * cannot be read. */
static int listed(int dirfd, const char *dir, const char *name)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r = ovl_dir_open_at(dirfd, dir, &d);

        while (r >= 0 && (r = ovl_dir_next(d, &de)) > 0)
                if (strcmp(de->d_name, name) == 0)
                        return 1;
        return r;
}

/* The view of the two test lowers: the whiteout hides "gone", the opaque "dir" hides "old". */
static bool view_right(int m, char *msg, size_t size)
{
        const char *wrong = absent(m, "kept")    ? "a file of the bottom layer is missing"
                            : !absent(m, "gone") ? "the 0/0 whiteout did not hide its name"
                                                 : NULL;
        int r = wrong ? 0 : listed(m, ".", "gone");

        if (r < 0) {
                snprintf(msg, size, "listing the mount's root: %s", strerror(-r));
                return false;
        }
        if (!wrong)
                wrong = r > 0                   ? "readdir lists the whited-out name"
                        : !absent(m, "dir/old") ? "the opaque directory did not hide the one below"
                        : absent(m, "dir/new")  ? "the opaque directory lost its own file"
                                                : NULL;
        if (wrong)
                snprintf(msg, size, "%s", wrong);
        return !wrong;
}

/* Mounts t and checks the view. Reports key as yes when both work. */
static bool try_view(struct probe_ctx *c, const char *key, const char *how, const struct trial *t)
{
        char msg[256] = "";
        _cleanup_close_ int m = try_mount(c, t, msg, sizeof(msg));
        bool ok = m >= 0 && view_right(m, msg, sizeof(msg));

        if (key)
                probe_detail(probe_add(c, key, ok, how), "%s", ok ? "" : msg);
        return ok;
}

static int write_file(const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

        return fd >= 0 && write(fd, text, strlen(text)) == (ssize_t) strlen(text) ? 0 : -1;
}

/* overlay.NAME in the namespace this kernel reads here: trusted.*, or user.* for a userxattr
 * mount outside the initial user namespace. */
static const char *xattr_name(const char *name)
{
        static char buf[64];

        snprintf(buf, sizeof(buf), "%s.overlay.%s", ovl_in_initial_userns() ? "trusted" : "user", name);
        return buf;
}

/* b0: gone, kept, dir/old; b1 above it: gone as a 0/0 whiteout, dir opaque with dir/new. */
static int make_test_layers(void)
{
        if (mkdir("b0", 0755) < 0 || mkdir("b0/dir", 0755) < 0 || write_file("b0/gone", "x") < 0 ||
            write_file("b0/kept", "x") < 0 || write_file("b0/dir/old", "x") < 0 || mkdir("b1", 0755) < 0 ||
            mknod("b1/gone", S_IFCHR | 0000, makedev(0, 0)) < 0 || mkdir("b1/dir", 0755) < 0 ||
            setxattr("b1/dir", xattr_name("opaque"), "y", 1, 0) < 0 || write_file("b1/dir/new", "x") < 0 ||
            mkdir("dd", 0755) < 0)
                return -errno;
        return 0;
}

static const char *const test_lowers[] = { "b1", "b0" };

static bool overlay_listed(void)
{
        _cleanup_free_ char *text = NULL;

        return ovl_read_file_at(AT_FDCWD, "/proc/filesystems", 1 << 16, &text) == 0 &&
               strstr(text, "\toverlay\n") != NULL;
}

/* fsopen, and what the new API takes: lowerdir+ strings, layers as fds. Sets best_via. */
static void probe_api(struct probe_ctx *c)
{
        struct trial t = { .names = test_lowers, .n = 2 };
        _cleanup_close_ int top = open("b1", O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                            bottom = open("b0", O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                            fs = ovl_fsopen("overlay", FSOPEN_CLOEXEC);
        const int fds[2] = { top, bottom };
        struct ovl_probe_feature *f = probe_add(c, "fsopen", fs >= 0, "fsopen(\"overlay\")");

        if (fs < 0)
                probe_detail(f, "%s",
                             ovl_syscalls_new_api_disabled() ? "switched off (OVLBACKEND_LEGACY_MOUNT_API=1)"
                                                             : strerror(errno));
        t.via = VIA_PLUS;
        if (fs >= 0 && try_view(c, "lowerdir+", "a test mount with one fsconfig lowerdir+ per layer", &t))
                best_via = VIA_PLUS;
        else if (fs >= 0)
                best_via = VIA_LOWERDIR;
        else
                probe_needs(c, "lowerdir+", "fsopen");
        t.via = VIA_PLUS_FDS;
        t.fds = fds;
        if (fs >= 0)
                try_view(c, "layer_fds", "a test mount with lowerdir+ given fds (FSCONFIG_SET_FD)", &t);
        else
                probe_needs(c, "layer_fds", "fsopen");
}

/* Layers that are detached mounts (open_tree clones), given by fd or by their /proc/self/fd path. */
static void probe_detached_layers(struct probe_ctx *c)
{
        _cleanup_close_ int top = ovl_open_tree(AT_FDCWD, "b1", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC),
                            bottom = ovl_open_tree(AT_FDCWD, "b0", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        const int fds[2] = { top, bottom };
        char paths[2][OVL_FD_PATH_MAX];
        const char *names[2] = { paths[0], paths[1] };
        struct trial t = { .names = names, .fds = fds, .n = 2 };

        if (fds[0] < 0 || fds[1] < 0) {
                probe_add_errno(c, "detached_layers", false, errno, "open_tree(OPEN_TREE_CLONE) of a layer");
        } else {
                for (int i = 0; i < 2; i++)
                        snprintf(paths[i], sizeof(paths[i]), "/proc/self/fd/%d", fds[i]);
                t.via = ovl_probe_yes(c->res, "layer_fds") ? VIA_PLUS_FDS : VIA_BEST;
                try_view(c, "detached_layers", "a test mount whose layers are open_tree clones", &t);
        }
}

static void probe_data_only(struct probe_ctx *c)
{
        struct trial t = { .names = test_lowers, .n = 2, .data = "dd", .opt = "metacopy", .val = "on" };

        if (ovl_probe_yes(c->res, "fsopen")) {
                t.via = VIA_PLUS;
                try_view(c, "datadir+", "a test mount with a datadir+ layer (metacopy=on)", &t);
        } else
                probe_needs(c, "datadir+", "fsopen");
        t.via = best_via == VIA_LEGACY ? VIA_LEGACY : VIA_LOWERDIR;
        try_view(c, "data_only_lowers", "a test mount with lowerdir=b1:b0::data (metacopy=on)", &t);
}

/* Whether a stack of n lower dirs mounts (s0..s{n-1}, made on demand). */
static bool stack_mounts(struct probe_ctx *c, const char **names, size_t *made, size_t n, char *msg, size_t size)
{
        struct trial t = { .names = names, .n = n, .via = best_via };
        _cleanup_close_ int m = -1;

        for (; *made < n; (*made)++) {
                char name[24];
                snprintf(name, sizeof(name), "s%zx", *made);
                if (mkdir(name, 0755) < 0 || !(names[*made] = strdup(name)))
                        return false;
        }
        m = try_mount(c, &t, msg, size);
        return m >= 0;
}

/* The largest lower stack, by test mounts: binary search in [2, STACK_BOUND]. */
static void probe_stack(struct probe_ctx *c)
{
        _cleanup_free_ const char **names = calloc(STACK_BOUND + 1, sizeof(*names));
        char msg[256] = "", first_no[256] = "";
        size_t made = 0, lo = 2, hi = STACK_BOUND + 1; /* lo mounts, hi does not */

        if (!names)
                return;
        if (stack_mounts(c, names, &made, STACK_BOUND, msg, sizeof(msg)))
                lo = STACK_BOUND;
        else
                snprintf(first_no, sizeof(first_no), "%s", msg);
        while (lo + 1 < hi && lo < STACK_BOUND) {
                size_t mid = lo + (hi - lo) / 2;
                if (stack_mounts(c, names, &made, mid, msg, sizeof(msg)))
                        lo = mid;
                else
                        hi = mid, snprintf(first_no, sizeof(first_no), "%s", msg);
        }
        c->res->max_layers = (long) lo;
        snprintf(c->res->max_layers_how, sizeof(c->res->max_layers_how), "test mounts, binary search up to %d%s%s",
                 STACK_BOUND, *first_no ? "; one more: " : "", first_no);
        for (size_t i = 0; i < made; i++)
                free((char *) names[i]);
}

/* The longest string fsconfig takes, with the "source" key (which accepts any text). */
static void probe_string_limit(struct probe_ctx *c)
{
        size_t lo = 0, hi = 65536; /* lo is taken, hi is not */
        _cleanup_free_ char *s = malloc(hi + 1);

        if (!s || !ovl_probe_yes(c->res, "fsopen"))
                return;
        while (lo + 1 < hi) {
                size_t mid = lo + (hi - lo) / 2;
                _cleanup_close_ int fs = ovl_fsopen("overlay", FSOPEN_CLOEXEC);
                memset(s, 'x', mid);
                s[mid] = '\0';
                if (fs >= 0 && ovl_fsconfig(fs, FSCONFIG_SET_STRING, "source", s, 0) == 0)
                        lo = mid;
                else
                        hi = mid;
        }
        c->res->fsconfig_string_max = (long) lo;
}

static const struct {
        const char *key, *opt, *val;
} options[] = {
        { "redirect_dir", "redirect_dir", "on" },
        { "index", "index", "on" },
        { "metacopy", "metacopy", "on" },
        { "xino", "xino", "on" },
        { "volatile", "volatile", NULL },
        { "userxattr", "userxattr", NULL },
        { "uuid", "uuid", "on" },
};

/* Each option in a writable test mount. userxattr ignores trusted.* markers, so it only mounts. */
static void probe_options(struct probe_ctx *c)
{
        for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
                struct trial t = {
                        .names = test_lowers, .n = 2, .upper = true, .opt = options[i].opt, .val = options[i].val
                };
                char how[96], msg[256] = "";
                _cleanup_close_ int m = -1;

                snprintf(how, sizeof(how), "a writable test mount with %s%s%s", options[i].opt,
                         options[i].val ? "=" : "", options[i].val ? options[i].val : "");
                m = try_mount(c, &t, msg, sizeof(msg));
                if (m >= 0 && strcmp(options[i].key, "userxattr") != 0 && !view_right(m, msg, sizeof(msg)))
                        m = safe_close(m);
                probe_detail(probe_add(c, options[i].key, m >= 0, how), "%s", m >= 0 ? "" : msg);
        }
}

/* 6.7+: an empty file with trusted.overlay.whiteout in a directory marked as holding such
 * whiteouts (trusted.overlay.whiteouts on 6.7, trusted.overlay.opaque=x since). */
static void probe_xattr_whiteouts(struct probe_ctx *c)
{
        static const char *const names[] = { "x1", "x0" };
        struct trial t = { .names = names, .n = 2 };
        char msg[256] = "";
        bool ok = false;
        _cleanup_close_ int m = -1;
        int r;

        if (mkdir("x0", 0755) < 0 || mkdir("x0/d", 0755) < 0 || write_file("x0/d/gone", "x") < 0 ||
            mkdir("x1", 0755) < 0 || mkdir("x1/d", 0755) < 0 || write_file("x1/d/gone", "") < 0 ||
            setxattr("x1/d/gone", xattr_name("whiteout"), "", 0, 0) < 0 ||
            setxattr("x1/d", xattr_name("whiteouts"), "", 0, 0) < 0 ||
            setxattr("x1/d", xattr_name("opaque"), "x", 1, 0) < 0)
                snprintf(msg, sizeof(msg), "making the test layers: %s", strerror(errno));
        else if ((m = try_mount(c, &t, msg, sizeof(msg))) >= 0) {
                r = absent(m, "d/gone") ? listed(m, "d", "gone") : 1;
                ok = r == 0;
                if (r < 0)
                        snprintf(msg, sizeof(msg), "listing the mount's d: %s", strerror(-r));
                else if (!ok)
                        snprintf(msg, sizeof(msg), "the xattr whiteout shows as a file");
        }
        probe_detail(probe_add(c, "xattr_whiteouts", ok, "a test mount of a layer with an xattr whiteout"), "%s",
                     ok ? "" : msg);
}

/* An empty file of size bytes, no data (ftruncate: the sandbox's filter has no truncate). */
static int make_stub(const char *path, off_t size)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

        return fd >= 0 && ftruncate(fd, size) == 0 ? 0 : -1;
}

/* Whether the file "f" of the test mount m reads as the stub's data ("data") and copies up whole
 * on an append; says why not in msg. */
static bool stub_reads_as_data(int m, char *msg, size_t size)
{
        _cleanup_close_ int f = openat(m, "f", O_RDWR | O_APPEND | O_CLOEXEC);
        char buf[16] = "";
        ssize_t n = f < 0 ? -1 : pread(f, buf, sizeof(buf) - 1, 0);
        bool ok = n == 4 && memcmp(buf, "data", 4) == 0 && write(f, "+", 1) == 1 && pread(f, buf, 5, 0) == 5 &&
                  memcmp(buf, "data+", 5) == 0;

        if (!ok)
                snprintf(msg, size, "%s",
                         f < 0 || n < 0 ? strerror(errno) : "the stub does not read (or copy up) as its data");
        return ok;
}

/* The metadata stack (--stack=meta): a writable mount whose only lower holds a metacopy stub
 * redirecting into a data-only lower, by the way the overlay backend mounts here. The stub must
 * read as the data, and a write must copy it up whole. */
static void probe_meta_stack(struct probe_ctx *c)
{
        static const char *const names[] = { "mm" };
        struct trial t = { .names = names, .n = 1, .data = "md", .upper = true, .opt = "metacopy", .val = "on" };
        char msg[256] = "";
        _cleanup_close_ int m = -1;
        bool ok = false;

        if (!ovl_in_initial_userns())
                snprintf(msg, sizeof(msg), "the kernel refuses metacopy with userxattr (rootless)");
        else if (mkdir("md", 0755) < 0 || mkdir("md/L", 0755) < 0 || write_file("md/L/f", "data") < 0 ||
                 mkdir("mm", 0755) < 0 || make_stub("mm/f", 4) < 0 ||
                 setxattr("mm/f", "trusted.overlay.metacopy", "", 0, 0) < 0 ||
                 setxattr("mm/f", "trusted.overlay.redirect", "/L/f", 4, 0) < 0)
                snprintf(msg, sizeof(msg), "making the test layers: %s", strerror(errno));
        else if ((m = try_mount(c, &t, msg, sizeof(msg))) >= 0)
                ok = stub_reads_as_data(m, msg, sizeof(msg));
        probe_detail(probe_add(c, "meta_stack", ok,
                               "a writable test mount: a metacopy stub redirecting into a data-only lower"),
                     "%s", ok ? "" : msg);
}

/* The metadata stack's image form (common/erofs_image.h): the stub above written into an erofs
 * image, mounted from that file (6.12+) as a detached mount, and given as the only lower by the
 * way the overlay backend mounts here. The same read and copy-up must work. */
static void probe_meta_image(struct probe_ctx *c)
{
        static char name[32];
        static const char *names[] = { name };
        struct trial t = { .names = names, .n = 1, .data = "md", .upper = true, .opt = "metacopy", .val = "on" };
        struct ovl_error err = { 0 };
        _cleanup_close_ int dir = -1, image = -1, erofs = -1, m = -1;
        char msg[sizeof(err.msg)] = "";
        bool ok = false;

        if (!ovl_probe_yes(c->res, "meta_stack") || best_via == VIA_LEGACY) {
                probe_needs(c, "meta_image", best_via == VIA_LEGACY ? "lowerdir+" : "meta_stack");
                return;
        }
        dir = open("mm", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        image = open("mm.erofs", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (dir < 0 || image < 0)
                snprintf(msg, sizeof(msg), "making the test image: %s", strerror(errno));
        else if (ovl_erofs_write_tree(dir, image, &err) < 0 || (erofs = ovl_erofs_mount(image, &err)) < 0)
                snprintf(msg, sizeof(msg), "%s", err.msg);
        else {
                snprintf(name, sizeof(name), "/proc/self/fd/%d", erofs);
                t.fds = &erofs;
                if ((m = try_mount(c, &t, msg, sizeof(msg))) >= 0)
                        ok = stub_reads_as_data(m, msg, sizeof(msg));
        }
        probe_detail(probe_add(c, "meta_image", ok,
                               "a writable test mount whose only lower is an erofs image of a metacopy stub, "
                               "mounted from its file"),
                     "%s", ok ? "" : msg);
}

/* The module's defaults, as the kernel shows them. */
static void read_module_params(struct probe_ctx *c)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct ovl_probe_result *res = c->res;
        struct dirent *de;
        int r = ovl_dir_open_at(AT_FDCWD, "/sys/module/overlay/parameters", &d);

        /* A module without parameters (or built in without any) has no such directory. */
        if (r == -ENOENT)
                return;
        while (r >= 0 && res->n_params < OVL_PROBE_MAX_PARAMS && (r = ovl_dir_next(d, &de)) > 0) {
                struct ovl_probe_param *p = &res->module_params[res->n_params];
                _cleanup_free_ char *value = NULL;
                if (de->d_name[0] == '.' || ovl_read_file_at(dirfd(d), de->d_name, sizeof(p->value) - 1, &value) < 0)
                        continue;
                value[strcspn(value, "\n")] = '\0';
                snprintf(p->name, sizeof(p->name), "%.39s", de->d_name);
                snprintf(p->value, sizeof(p->value), "%.39s", value);
                res->n_params++;
        }
        /* Only a failure is reported: the parameters themselves are listed apart from the features. */
        if (r < 0)
                probe_add_errno(c, "module_params", false, -r, "listing /sys/module/overlay/parameters");
}

/* Writes text to a file of /proc that exists already (a map, setgroups). Returns 0 or -errno. */
static int write_proc_file(const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return write(fd, text, strlen(text)) < 0 ? -errno : 0;
}

/* In a child turned into uid 65534 with a user and mount namespace of its own (itself as root):
 * a userxattr overlay of rl1 over rl0 must hide a 0/0 whiteout and a user.overlay.opaque dir.
 * Exits 0 when it does, else with an errno. */
static void rootless_child(const struct probe_ctx *c)
{
        static const char *const names[] = { "rl1", "rl0" };
        struct trial t = { .names = names, .n = 2, .opt = "userxattr", .via = VIA_LOWERDIR };
        struct probe_ctx own = { .res = c->res, .private_ns = true }; /* its own mount namespace */
        char msg[256];
        int m, r;

        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                _exit(errno);
        /* Changing uid made us non-dumpable, which would leave /proc/self/uid_map root's. */
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 || unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                _exit(errno);
        (void) write_proc_file("/proc/self/setgroups", "deny");
        r = write_proc_file("/proc/self/uid_map", "0 65534 1\n");
        if (r == 0)
                r = write_proc_file("/proc/self/gid_map", "0 65534 1\n");
        if (r < 0)
                _exit(-r);
        t.via = best_via;
        m = t.via == VIA_LEGACY ? mount_legacy(&own, &t, msg, sizeof(msg)) : mount_new(&t, msg, sizeof(msg));
        if (m < 0)
                _exit(-m);
        _exit(absent(m, "gone") && !absent(m, "kept") && absent(m, "dir/old") && !absent(m, "dir/new") ? 0 : EPROTO);
}

/* What an unprivileged user could do here (the rootless mode of README). */
static void probe_rootless(struct probe_ctx *c)
{
        struct ovl_probe_feature *f;
        int status = 0;
        pid_t pid;

        /* Already rootless: the overlay answer above is the rootless one. */
        if (!ovl_in_initial_userns()) {
                f = probe_add(c, "rootless_overlay", ovl_probe_yes(c->res, "overlay"),
                              "this probe itself runs in a user namespace: the overlay answer");
                return;
        }
        if (!c->is_root)
                return probe_needs(c, "rootless_overlay", "root (to play an unprivileged user)");
        if (fchmod(c->scratch, 0711) < 0 || mkdir("rl0", 0755) < 0 || mkdir("rl0/dir", 0755) < 0 ||
            write_file("rl0/gone", "x") < 0 || write_file("rl0/kept", "x") < 0 || write_file("rl0/dir/old", "x") < 0 ||
            mkdir("rl1", 0755) < 0 || mknod("rl1/gone", S_IFCHR | 0000, makedev(0, 0)) < 0 ||
            mkdir("rl1/dir", 0755) < 0 || setxattr("rl1/dir", "user.overlay.opaque", "y", 1, 0) < 0 ||
            write_file("rl1/dir/new", "x") < 0)
                return probe_detail(probe_add(c, "rootless_overlay", false, "making two test layers as root"), "%s",
                                    strerror(errno));
        pid = fork();
        if (pid == 0)
                rootless_child(c);
        if (pid < 0 || waitpid(pid, &status, 0) < 0)
                status = errno << 8;
        f = probe_add(c, "rootless_overlay", WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "uid 65534 in its own user and mount namespace: a userxattr overlay of two test layers");
        if (!f->supported)
                probe_detail(f, "%s", WIFEXITED(status) ? strerror(WEXITSTATUS(status)) : "the test process died");
}

void probe_overlay(struct probe_ctx *c)
{
        struct trial basic = { .names = test_lowers, .n = 2, .via = VIA_BEST };
        struct ovl_probe_feature *f;
        int r;

        /* fsopen (or a mount) makes the kernel load the module when it can. */
        if (!overlay_listed())
                (void) safe_close(ovl_fsopen("overlay", FSOPEN_CLOEXEC));
        if (!overlay_listed()) {
                f = probe_add(c, "overlay", false, "/proc/filesystems, after asking the kernel to load it");
                probe_detail(f, "the kernel has no overlayfs (CONFIG_OVERLAY_FS, module overlay)");
                return;
        }
        r = make_test_layers();
        if (r < 0) {
                f = probe_add(c, "overlay", false, "making two test layers (0/0 device, trusted.* xattr)");
                probe_detail(f, "%s%s", strerror(-r), c->is_root ? "" : " (run probe as root)");
                return;
        }
        probe_api(c);
        if (!try_view(c, "overlay", "a test mount of 2 lowers: a 0/0 whiteout and an opaque dir hide what they should",
                      &basic))
                return;
        f = &c->res->features[c->res->count - 1];
        probe_detail(f, "via %s",
                     best_via == VIA_PLUS       ? "fsopen + lowerdir+"
                     : best_via == VIA_LOWERDIR ? "fsopen + lowerdir"
                                                : "mount(2)");
        probe_detached_layers(c);
        probe_data_only(c);
        probe_stack(c);
        probe_string_limit(c);
        probe_options(c);
        probe_xattr_whiteouts(c);
        probe_meta_stack(c);
        probe_meta_image(c);
        probe_rootless(c);
        read_module_params(c);
}
