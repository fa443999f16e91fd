#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <dirent.h>

#include "backends/backend.h"
#include "backends/probe.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "common/syscalls.h"

static const struct {
        unsigned long magic;
        const char *name;
        bool overlay_ok; /* may be a lower or upper layer's filesystem */
} fs_types[] = {
        { 0xEF53, "ext4", true },          { 0x58465342, "xfs", true },
        { 0x9123683E, "btrfs", true },     { 0x01021994, "tmpfs", true },
        { 0x794c7630, "overlay", false },  { 0x6969, "nfs", false },
        { 0x2fc12fc1, "zfs", true },       { 0xf15f, "ecryptfs", false },
        { 0x61756673, "aufs", false },     { 0x65735546, "fuse", false },
        { 0x73717368, "squashfs", true },  { 0xE0F5E1E2, "erofs", true },
        { 0x5346544e, "ntfs", false },     { 0x4d44, "vfat", false },
};

static struct ovl_probe_feature *add(struct ovl_probe_result *res, const char *key, bool yes, const char *how)
{
        struct ovl_probe_feature *f = &res->features[res->count++];

        *f = (struct ovl_probe_feature){ .key = key, .supported = yes };
        snprintf(f->how, sizeof(f->how), "%s", how);
        return f;
}

static void add_errno(struct ovl_probe_result *res, const char *key, int ok, int errnum, const char *how)
{
        struct ovl_probe_feature *f = add(res, key, ok, how);

        if (!ok)
                snprintf(f->detail, sizeof(f->detail), "%s", strerror(errnum));
}

static bool overlay_in_proc_filesystems(void)
{
        _cleanup_free_ char *text = NULL;

        if (ovl_read_file_at(AT_FDCWD, "/proc/filesystems", 1 << 16, &text) < 0)
                return false;
        return strstr(text, "\toverlay\n") != NULL;
}

static bool backing_fs_ok(int dirfd, struct ovl_probe_result *res)
{
        struct statfs sfs;

        snprintf(res->fs_type, sizeof(res->fs_type), "unknown");
        if (fstatfs(dirfd, &sfs) < 0)
                return false;
        snprintf(res->fs_type, sizeof(res->fs_type), "0x%lx", (unsigned long) sfs.f_type);
        for (size_t i = 0; i < ARRAY_SIZE(fs_types); i++)
                if ((unsigned long) sfs.f_type == fs_types[i].magic) {
                        snprintf(res->fs_type, sizeof(res->fs_type), "%s", fs_types[i].name);
                        return fs_types[i].overlay_ok;
                }
        return false;
}

/* d_type: without it overlayfs cannot tell whiteouts apart and refuses to work well. */
static void probe_d_type(int scratch, struct ovl_probe_result *res)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        bool ok = false;
        int fd;

        if (mkdirat(scratch, "dtype", 0700) < 0 && errno != EEXIST)
                return add_errno(res, "d_type", 0, errno, "getdents on a fresh directory");
        fd = openat(scratch, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0 && (d = fdopendir(fd)))
                while ((de = readdir(d)))
                        if (strcmp(de->d_name, "dtype") == 0)
                                ok = de->d_type == DT_DIR;
        if (!d && fd >= 0)
                close(fd);
        {
                struct ovl_probe_feature *f = add(res, "d_type", ok, "getdents on a fresh directory");
                if (!ok)
                        snprintf(f->detail, sizeof(f->detail),
                                 "entries come back as DT_UNKNOWN (on xfs: mkfs.xfs -n ftype=1)");
        }
}

static void probe_copy_accel(int scratch, struct ovl_probe_result *res)
{
        _cleanup_close_ int a = openat(scratch, "a", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        _cleanup_close_ int b = openat(scratch, "b", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        char block[4096] = { 1 };
        loff_t in = 0, out = 0;
        bool ok;

        if (a < 0 || b < 0 || write(a, block, sizeof(block)) != (ssize_t) sizeof(block)) {
                add_errno(res, "reflink", 0, errno, "FICLONE between two files in DIR");
                add_errno(res, "copy_file_range", 0, errno, "copy_file_range between two files in DIR");
                return;
        }
        /* Each call is made before errno is read: argument evaluation order is unspecified. */
        ok = ioctl(b, FICLONE, a) == 0;
        add_errno(res, "reflink", ok, errno, "FICLONE between two files in DIR");
        (void) ftruncate(b, 0);
        ok = copy_file_range(a, &in, b, &out, sizeof(block), 0) == (ssize_t) sizeof(block);
        add_errno(res, "copy_file_range", ok, errno, "copy_file_range between two files in DIR");
}

static void probe_mount_api(int scratch, struct ovl_probe_result *res)
{
        struct open_how how = { .flags = O_RDONLY | O_DIRECTORY, .resolve = RESOLVE_BENEATH };
        _cleanup_close_ int ctx = -1, dirfd = -1;
        char path[OVL_FD_PATH_MAX];

        bool ok;

        dirfd = ovl_openat2(scratch, ".", &how, sizeof(how));
        add_errno(res, "openat2", dirfd >= 0, errno, "openat2(RESOLVE_BENEATH)");
        ctx = ovl_fsopen("overlay", FSOPEN_CLOEXEC);
        add_errno(res, "fsopen", ctx >= 0, errno, "fsopen(\"overlay\")");
        /* lowerdir+ is only parsed, not mounted: a kernel without it rejects the key itself. */
        if (ctx >= 0 && ovl_fd_path(path, sizeof(path), scratch, "dtype") == 0) {
                ok = ovl_fsconfig(ctx, FSCONFIG_SET_STRING, "lowerdir+", path, 0) == 0;
                add_errno(res, "lowerdir+", ok, errno, "fsconfig(FSCONFIG_SET_STRING, \"lowerdir+\")");
        } else
                add_errno(res, "lowerdir+", 0, ENOSYS, "needs fsopen");
}

static void recommend(struct ovl_probe_result *res)
{
        const struct ovl_probe_feature *ov = ovl_probe_find(res, "overlay");
        const struct ovl_probe_feature *dt = ovl_probe_find(res, "d_type");

        if (ovl_backend_find("overlay") && ov && ov->supported && dt && dt->supported) {
                res->recommended_backend = "overlay";
                snprintf(res->reason, sizeof(res->reason), "overlayfs works on %s", res->fs_type);
                return;
        }
        res->recommended_backend = "copy";
        snprintf(res->reason, sizeof(res->reason), "%s",
                 !ovl_backend_find("overlay") ? "the copy backend works on every filesystem"
                                              : "overlayfs cannot be used here; copy works everywhere");
}

int ovl_probe_run(const char *dir, struct ovl_probe_result *ret, struct ovl_error *err)
{
        _cleanup_close_ int dirfd = -1, scratch = -1;
        char name[64];
        bool fs_ok;
        int r;

        *ret = (struct ovl_probe_result){ 0 };
        r = ovl_mkdir_parents(dir, 0700);
        if (r < 0)
                return ovl_error_bad(err, -r, "probe directory %s", dir);
        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return ovl_error_bad(err, errno, "probe directory %s", dir);
        snprintf(name, sizeof(name), ".probe.%d", (int) getpid());
        if (mkdirat(dirfd, name, 0700) < 0 ||
            (scratch = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
                r = ovl_error_fail(err, errno, "probe directory %s: cannot make a scratch directory", dir);
                (void) unlinkat(dirfd, name, AT_REMOVEDIR);
                return r;
        }
        fs_ok = backing_fs_ok(dirfd, ret);
        {
                struct ovl_probe_feature *f = add(ret, "backing_fs", fs_ok, "statfs(DIR)");
                char type[sizeof(ret->fs_type)];
                memcpy(type, ret->fs_type, sizeof(type));
                snprintf(f->detail, sizeof(f->detail), "%s%s", type,
                         fs_ok ? "" : ": overlayfs cannot use this filesystem for its layers");
        }
        add(ret, "overlay", overlay_in_proc_filesystems() && fs_ok, "listed in /proc/filesystems");
        probe_d_type(scratch, ret);
        probe_mount_api(scratch, ret);
        probe_copy_accel(scratch, ret);
        recommend(ret);
        return ovl_remove_tree_at(dirfd, name, "probe scratch", err);
}

const struct ovl_probe_feature *ovl_probe_find(const struct ovl_probe_result *res, const char *key)
{
        for (size_t i = 0; i < res->count; i++)
                if (strcmp(res->features[i].key, key) == 0)
                        return &res->features[i];
        return NULL;
}
