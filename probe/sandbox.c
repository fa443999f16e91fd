/* What the sandbox and the mount plumbing can use here: openat2, open_tree/move_mount, idmapped
 * mounts (on DIR's filesystem and as overlay layers), user namespaces for an unprivileged user,
 * and seccomp. Each is tried, in a child process where trying changes the process itself. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "common/syscalls.h"
#include "namespaces/idmap.h"
#include "namespaces/seccomp.h"
#include "probe/internal.h"

#define IDMAP_BASE 100000 /* the probe maps ids 0..65535 to 100000.. */

static void probe_openat2(struct probe_ctx *c)
{
        struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
        _cleanup_close_ int fd = ovl_openat2(c->scratch, ".", &how, sizeof(how));

        probe_add_errno(c, "openat2", fd >= 0, errno, "openat2(RESOLVE_BENEATH) in DIR");
}

/* A clone of a directory of DIR, attached in the private namespace and taken down again. */
static void probe_open_tree(struct probe_ctx *c)
{
        _cleanup_close_ int tree = ovl_open_tree(c->scratch, "dtype", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        bool ok;

        probe_add_errno(c, "open_tree", tree >= 0, errno, "open_tree(OPEN_TREE_CLONE) of a directory in DIR");
        if (tree < 0)
                return (void) probe_needs(c, "move_mount", "open_tree");
        if (!c->private_ns) {
                probe_detail(probe_add(c, "move_mount", false, "attaching a clone in a private namespace"), "%s",
                             c->ns_error);
                return;
        }
        ok = mkdirat(c->scratch, "attach", 0755) == 0 &&
             ovl_move_mount(tree, "", c->scratch, "attach", MOVE_MOUNT_F_EMPTY_PATH) == 0;
        probe_add_errno(c, "move_mount", ok, errno, "move_mount of the clone onto a directory (private namespace)");
        if (ok)
                (void) umount2("attach", MNT_DETACH);
}

/* A user namespace mapping 0..65535 to IDMAP_BASE.., as an fd (the one --uidmap makes). Returns it
 * or -errno. */
static int make_userns(void)
{
        struct ovl_idmap m = {
                .uid = { { 0, IDMAP_BASE, 65536 } }, .gid = { { 0, IDMAP_BASE, 65536 } }, .n_uid = 1, .n_gid = 1
        };
        int fd, r = ovl_idmap_userns(&m, &fd, NULL);

        return r < 0 ? r : fd;
}

/* An idmapped clone of dir. Returns its fd or -errno. */
static int idmapped_clone(int userns, const char *dir)
{
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t) userns };
        _cleanup_close_ int tree = ovl_open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

        if (tree < 0)
                return -errno;
        if (ovl_mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                return -errno;
        return TAKE_FD(tree);
}

/* The file b0/kept (owned by root) seen through an overlay whose bottom layer is idmapped. */
static void probe_idmap_layers(struct probe_ctx *c, int userns)
{
        _cleanup_close_ int bottom = idmapped_clone(userns, "b0"), top = -1, fs = -1, mnt = -1;
        struct ovl_probe_feature *f;
        struct stat st;
        bool ok = false;

        if (!ovl_probe_yes(c->res, "overlay") || !ovl_probe_yes(c->res, "layer_fds"))
                return (void) probe_needs(c, "idmap_layers", "overlay with layers as fds");
        top = open("b1", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fs = ovl_fsopen("overlay", FSOPEN_CLOEXEC);
        if (bottom >= 0 && top >= 0 && fs >= 0 && ovl_fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, top) == 0 &&
            ovl_fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, bottom) == 0 &&
            ovl_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0 &&
            (mnt = ovl_fsmount(fs, FSMOUNT_CLOEXEC, 0)) >= 0)
                ok = fstatat(mnt, "kept", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid == IDMAP_BASE;
        f = probe_add(c, "idmap_layers", ok, "an overlay test mount whose bottom layer is an idmapped clone");
        if (!ok)
                probe_detail(f, "%s",
                             bottom < 0 ? strerror(-bottom)
                             : mnt < 0  ? strerror(errno)
                                        : "ids are not mapped in the view");
}

static void probe_idmap(struct probe_ctx *c)
{
        _cleanup_close_ int userns = make_userns(), tree = -1;
        struct ovl_probe_feature *f;
        struct stat st;
        bool ok;

        if (userns < 0) {
                probe_add_errno(c, "idmap", false, -userns, "making a user namespace to map ids with");
                probe_needs(c, "idmap_layers", "a user namespace");
                return;
        }
        tree = idmapped_clone(userns, "dtype");
        ok = tree >= 0 && fstat(tree, &st) == 0 && st.st_uid == IDMAP_BASE + getuid();
        f = probe_add(c, "idmap", ok, "mount_setattr(MOUNT_ATTR_IDMAP) on a clone of a directory in DIR");
        if (!ok)
                probe_detail(f, "%s (DIR on %s)", tree < 0 ? strerror(-tree) : "ids not mapped", c->res->fs_type);
        probe_idmap_layers(c, userns);
}

/* Runs fn in a child and returns its exit status: 0 for yes, else an errno. */
static int in_child(int (*fn)(void))
{
        int status;
        pid_t pid = fork();

        if (pid == 0)
                _exit(fn());
        if (pid < 0 || waitpid(pid, &status, 0) < 0)
                return errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
}

static int unprivileged_userns(void)
{
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                return errno;
        return unshare(CLONE_NEWUSER) < 0 ? errno : 0;
}

static void probe_userns(struct probe_ctx *c)
{
        static const char *const knobs[] = { "/proc/sys/kernel/unprivileged_userns_clone",
                                             "/proc/sys/user/max_user_namespaces",
                                             "/proc/sys/kernel/apparmor_restrict_unprivileged_userns" };
        int r = in_child(unprivileged_userns);
        struct ovl_probe_feature *f = probe_add(c, "userns", r == 0, "unshare(CLONE_NEWUSER) as uid 65534");
        size_t len = 0;

        if (r != 0)
                len = (size_t) snprintf(f->detail, sizeof(f->detail), "%s", strerror(r));
        for (size_t i = 0; i < ARRAY_SIZE(knobs) && len < sizeof(f->detail); i++) {
                _cleanup_free_ char *v = NULL;
                if (ovl_read_file_at(AT_FDCWD, knobs[i], 32, &v) < 0)
                        continue;
                v[strcspn(v, "\n")] = '\0';
                len += (size_t) snprintf(f->detail + len, sizeof(f->detail) - len, "%s%s=%s", len ? "; " : "",
                                         strrchr(knobs[i], '/') + 1, v);
        }
}

/* A filter that makes getpgid fail with ENOTSUP, which it never does on its own. */
static int seccomp_works(void)
{
        _cleanup_(ovl_seccomp_releasep) scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);

        if (!f || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOTSUP), SCMP_SYS(getpgid), 0) < 0 || seccomp_load(f) < 0)
                return errno ? errno : EINVAL;
        return syscall(SYS_getpgid, 0) < 0 && errno == ENOTSUP ? 0 : ENOSYS;
}

static void probe_seccomp(struct probe_ctx *c)
{
        const struct scmp_version *v = seccomp_version();
        int r = in_child(seccomp_works);
        struct ovl_probe_feature *f = probe_add(c, "seccomp", r == 0,
                                                "a libseccomp filter loaded in a child, then hit");

        probe_detail(f, "%s%slibseccomp %u.%u.%u", r ? strerror(r) : "", r ? "; " : "", v->major, v->minor, v->micro);
}

void probe_sandbox(struct probe_ctx *c)
{
        probe_openat2(c);
        probe_open_tree(c);
        probe_idmap(c);
        probe_userns(c);
        probe_seccomp(c);
}
