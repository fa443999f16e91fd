/* The filesystem under DIR: its type (and whether overlayfs may use it), d_type, and copy
 * acceleration (reflink, copy_file_range), each tried on fresh files in the scratch directory. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "probe/internal.h"

static const struct {
        unsigned long magic;
        const char *name;
        bool overlay_ok; /* may hold overlay layers and upper dirs */
} fs_types[] = {
        { 0xEF53, "ext4", true },      { 0x58465342, "xfs", true },      { 0x9123683E, "btrfs", true },
        { 0x01021994, "tmpfs", true }, { 0x794c7630, "overlay", false }, { 0x6969, "nfs", false },
        { 0x2fc12fc1, "zfs", true },   { 0xf15f, "ecryptfs", false },    { 0x61756673, "aufs", false },
        { 0x65735546, "fuse", false }, { 0x73717368, "squashfs", true }, { 0xE0F5E1E2, "erofs", true },
        { 0x5346544e, "ntfs", false }, { 0x4d44, "vfat", false },        { 0xFF534D42, "cifs", false },
        { 0x01021997, "9p", false },
};

static void probe_backing_fs(struct probe_ctx *c)
{
        struct ovl_probe_result *res = c->res;
        struct ovl_probe_feature *f;
        struct statfs sfs;
        bool ok = false;

        snprintf(res->fs_type, sizeof(res->fs_type), "unknown");
        if (fstatfs(c->scratch, &sfs) == 0) {
                snprintf(res->fs_type, sizeof(res->fs_type), "0x%lx", (unsigned long) sfs.f_type);
                for (size_t i = 0; i < ARRAY_SIZE(fs_types); i++)
                        if ((unsigned long) sfs.f_type == fs_types[i].magic) {
                                snprintf(res->fs_type, sizeof(res->fs_type), "%s", fs_types[i].name);
                                ok = fs_types[i].overlay_ok;
                        }
        }
        f = probe_add(c, "backing_fs", ok, "statfs(DIR)");
        probe_detail(f, "%s%s", res->fs_type, ok ? "" : ": overlayfs cannot keep its layers or upper dir here");
}

/* d_type: without it overlayfs cannot tell whiteouts from files and refuses the upper dir. */
static void probe_d_type(struct probe_ctx *c)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct ovl_probe_feature *f;
        struct dirent *de;
        bool ok = false;
        int r;

        if (mkdirat(c->scratch, "dtype", 0700) < 0)
                return probe_add_errno(c, "d_type", false, errno, "getdents on a fresh directory");
        r = ovl_dir_open_at(c->scratch, "", &d);
        while (r >= 0 && (r = ovl_dir_next(d, &de)) > 0)
                if (strcmp(de->d_name, "dtype") == 0)
                        ok = de->d_type == DT_DIR;
        if (r < 0)
                return probe_add_errno(c, "d_type", false, -r, "getdents on a fresh directory");
        f = probe_add(c, "d_type", ok, "getdents on a fresh directory");
        if (!ok)
                probe_detail(f, "entries come back as DT_UNKNOWN (xfs needs mkfs.xfs -n ftype=1, ext4 the filetype "
                                "feature)");
}

static void probe_copy_accel(struct probe_ctx *c)
{
        _cleanup_close_ int a = openat(c->scratch, "a", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        _cleanup_close_ int b = openat(c->scratch, "b", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        char block[4096] = { 1 };
        loff_t in = 0, out = 0;
        bool ok;

        if (a < 0 || b < 0 || write(a, block, sizeof(block)) != (ssize_t) sizeof(block)) {
                probe_add_errno(c, "reflink", false, errno, "FICLONE between two files in DIR");
                probe_add_errno(c, "copy_file_range", false, errno, "copy_file_range between two files in DIR");
                return;
        }
        /* Each call is made before errno is read: argument evaluation order is unspecified. */
        ok = ioctl(b, FICLONE, a) == 0;
        probe_add_errno(c, "reflink", ok, errno, "FICLONE between two files in DIR");
        (void) ftruncate(b, 0);
        ok = copy_file_range(a, &in, b, &out, sizeof(block), 0) == (ssize_t) sizeof(block);
        probe_add_errno(c, "copy_file_range", ok, errno, "copy_file_range between two files in DIR");
}

void probe_filesystem(struct probe_ctx *c)
{
        probe_backing_fs(c);
        probe_d_type(c);
        probe_copy_accel(c);
}
