/* Unit tests for what `who` reads and decides without a kernel to ask: lines of /proc/PID/maps
 * (common/procfs.c), mountinfo as libmount hands it over (common/mounttable.c), and which mounts of
 * a namespace are a rootfs' (lifecycle/who_target.c). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mounttable.h"
#include "common/procfs.h"
#include "lifecycle/who.h"
#include "tests/unit/unit.h"

#define DEV(major, minor) ((uint64_t) (major) << 32 | (minor))

static int parse_maps(const char *text, struct ovl_proc_map *m, char *buf, size_t size)
{
        snprintf(buf, size, "%s", text);
        return ovl_proc_parse_maps_line(buf, m);
}

START_TEST(test_maps_file)
{
        struct ovl_proc_map m;
        char buf[512];

        ck_assert_int_eq(parse_maps("55adaeda5000-55adaeda7000 r--p 00000000 00:27 10953058                   "
                                    "/tmp/r/sleep2",
                                    &m, buf, sizeof(buf)),
                         1);
        ck_assert_uint_eq(m.start, 0x55adaeda5000ULL);
        ck_assert_uint_eq(m.end, 0x55adaeda7000ULL);
        /* The device is in hex: 00:27 is 0:39. */
        ck_assert_uint_eq(m.dev, DEV(0, 39));
        ck_assert_uint_eq(m.ino, 10953058);
        ck_assert_str_eq(m.path, "/tmp/r/sleep2");
        ck_assert_int_eq(parse_maps("7f00-7f10 r-xp 00001000 fe:01 12 /usr/lib/libc.so.6 (deleted)", &m, buf,
                                    sizeof(buf)),
                         1);
        ck_assert_uint_eq(m.dev, DEV(254, 1));
        ck_assert_str_eq(m.path, "/usr/lib/libc.so.6");
        /* A name with spaces, and one that merely ends like the mark. */
        ck_assert_int_eq(parse_maps("1-2 r--p 0 08:01 5 /a b/c (deleted) x", &m, buf, sizeof(buf)), 1);
        ck_assert_str_eq(m.path, "/a b/c (deleted) x");
}
END_TEST

START_TEST(test_maps_not_a_file)
{
        struct ovl_proc_map m;
        char buf[256];

        ck_assert_int_eq(parse_maps("7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]", &m, buf,
                                    sizeof(buf)),
                         0);
        ck_assert_int_eq(parse_maps("7f00-7f10 rw-p 00000000 00:00 0 ", &m, buf, sizeof(buf)), 0);
        ck_assert_int_eq(parse_maps("7f00-7f10 rw-p 00000000 00:00 0", &m, buf, sizeof(buf)), 0);
        ck_assert_int_eq(parse_maps("7f00-7f10 rw-s 00000000 00:0f 1234 anon_inode:[io_uring]", &m, buf, sizeof(buf)),
                         0);
        ck_assert_int_eq(parse_maps("garbage", &m, buf, sizeof(buf)), -EINVAL);
        ck_assert_int_eq(parse_maps("1-2 r--p 0 08:01", &m, buf, sizeof(buf)), -EINVAL);
}
END_TEST

START_TEST(test_next_number)
{
        char dir[] = "/tmp/ovl-test-who.XXXXXX";
        const char *names[] = { "0", "12", "012", "x", "1x", "99999999999", "3" };
        DIR *d;
        int n, sum = 0, count = 0;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                char path[128];
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                ck_assert_int_eq(mkdir(path, 0700), 0);
        }
        d = opendir(dir);
        ck_assert_ptr_nonnull(d);
        while (ovl_proc_next_number(d, &n) > 0) {
                sum += n;
                count++;
        }
        closedir(d);
        /* "0", "12" and "3"; not "012", "x", "1x", nor a number past INT_MAX. */
        ck_assert_int_eq(count, 3);
        ck_assert_int_eq(sum, 15);
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                char path[128];
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                rmdir(path);
        }
        rmdir(dir);
}
END_TEST

/* What ovl_mounttable_each handed over, copied. */
struct seen {
        size_t n;
        struct ovl_mount_entry m[8];
        char strings[8][5][256];
};

static int collect(void *ctx, const struct ovl_mount_entry *m)
{
        struct seen *s = ctx;
        char(*str)[256] = s->strings[s->n];

        snprintf(str[0], 256, "%s", m->root);
        snprintf(str[1], 256, "%s", m->target);
        snprintf(str[2], 256, "%s", m->fstype);
        snprintf(str[3], 256, "%s", m->fs_options);
        snprintf(str[4], 256, "%s", m->source);
        s->m[s->n] = (struct ovl_mount_entry){ .id = m->id,
                                               .dev = m->dev,
                                               .root = str[0],
                                               .target = str[1],
                                               .fstype = str[2],
                                               .fs_options = str[3],
                                               .source = str[4] };
        return ++s->n == 8;
}

static const char mountinfo[] =
        "24 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
        "110 66 0:39 / /tmp/r rw,relatime - overlay ovlbackend-745be0e72a49dc6a "
        "rw,lowerdir+=/l1,upperdir=/w/rootfs/745be0e72a49dc6a/upper,workdir=/w/rootfs/745be0e72a49dc6a/work\n"
        "91 67 254:1 /srv/layer\\040one /mnt/in\\040ns ro,relatime master:3 - ext4 /dev/vda1 rw\n";

static void read_fixture(struct seen *s)
{
        FILE *f = fmemopen((void *) mountinfo, strlen(mountinfo), "r");

        ck_assert_ptr_nonnull(f);
        memset(s, 0, sizeof(*s));
        ck_assert_int_eq(ovl_mounttable_each(f, collect, s), 0);
        fclose(f);
}

START_TEST(test_mountinfo_fields)
{
        struct seen s;
        char *upper = NULL;

        read_fixture(&s);
        ck_assert_uint_eq(s.n, 3);
        ck_assert_uint_eq(s.m[1].id, 110);
        ck_assert_uint_eq(s.m[1].dev, DEV(0, 39));
        ck_assert_str_eq(s.m[1].root, "/");
        ck_assert_str_eq(s.m[1].target, "/tmp/r");
        ck_assert_str_eq(s.m[1].fstype, "overlay");
        ck_assert_str_eq(s.m[1].source, "ovlbackend-745be0e72a49dc6a");
        ck_assert_int_eq(ovl_mounttable_option(s.m[1].fs_options, "upperdir", &upper), 0);
        ck_assert_str_eq(upper, "/w/rootfs/745be0e72a49dc6a/upper");
        free(upper);
        ck_assert_int_eq(ovl_mounttable_option(s.m[1].fs_options, "index", &upper), 0);
        ck_assert_ptr_null(upper);
        /* The kernel's \040 escapes undone, an optional field (master:3) skipped. */
        ck_assert_uint_eq(s.m[2].dev, DEV(254, 1));
        ck_assert_str_eq(s.m[2].root, "/srv/layer one");
        ck_assert_str_eq(s.m[2].target, "/mnt/in ns");
}
END_TEST

static int stop_at_second(void *ctx, const struct ovl_mount_entry *m)
{
        (void) m;
        return ++*(int *) ctx == 2 ? 7 : 0;
}

START_TEST(test_mountinfo_stops)
{
        FILE *f = fmemopen((void *) mountinfo, strlen(mountinfo), "r");
        int calls = 0;

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(ovl_mounttable_each(f, stop_at_second, &calls), 7);
        ck_assert_int_eq(calls, 2);
        fclose(f);
}
END_TEST

START_TEST(test_match_superblock)
{
        struct ovl_record rec = { .rootfs = (char *) "/tmp/r" };
        struct ovl_who_target t = { .rec = &rec, .rule = OVL_WHO_SUPERBLOCK, .dev = DEV(0, 39) };
        struct ovl_mount_entry m = {
                .id = 5,
                .dev = DEV(0, 39),
                .root = "/",
                .target = "/elsewhere",
                .fstype = "overlay",
                .source = "ovlbackend-0123456789abcdef",
                .fs_options = "rw,lowerdir=/l,upperdir=/w/rootfs/x/upper,workdir=/w/rootfs/x/work"
        };

        snprintf(t.source, sizeof(t.source), "%s", "ovlbackend-0123456789abcdef");
        ck_assert(ovl_who_mount_matches(&t, &m));
        /* Any mount of that instance, wherever and whatever part of it it shows. */
        m.root = "/etc";
        ck_assert(ovl_who_mount_matches(&t, &m));
        /* The upper dir as the kernel shows it does not decide: before 6.13 it is the string it was
         * given (/proc/self/fd/N, or N), and a read-only rootfs has none. */
        m.fs_options = "rw,lowerdir=/l,upperdir=/proc/self/fd/7,workdir=/proc/self/fd/8";
        ck_assert(ovl_who_mount_matches(&t, &m));
        m.fs_options = "ro,lowerdir=/l:/m";
        ck_assert(ovl_who_mount_matches(&t, &m));
        /* Another overlay that got the device again once ours was gone has another source. */
        m.source = "ovlbackend-fedcba9876543210";
        ck_assert(!ovl_who_mount_matches(&t, &m));
        m.source = "overlay";
        ck_assert(!ovl_who_mount_matches(&t, &m));
        m.source = "ovlbackend-0123456789abcdef";
        m.fstype = "tmpfs";
        ck_assert(!ovl_who_mount_matches(&t, &m));
        m.fstype = "overlay";
        m.dev = DEV(0, 40);
        ck_assert(!ovl_who_mount_matches(&t, &m));
        /* No device known (a record from before `dev`, its mount gone): nothing matches. */
        t.dev = 0;
        m.dev = 0;
        ck_assert(!ovl_who_mount_matches(&t, &m));
}
END_TEST

START_TEST(test_match_mount_root)
{
        struct ovl_record rec = { .rootfs = (char *) "/tmp/r" };
        struct ovl_who_target t = { .rec = &rec,
                                    .rule = OVL_WHO_MOUNT_ROOT,
                                    .dev = DEV(254, 1),
                                    .fs_root = (char *) "/srv/layer",
                                    .layer = (char *) "/srv/layer" };
        struct ovl_mount_entry m = { .id = 5,
                                     .dev = DEV(254, 1),
                                     .root = "/srv/layer",
                                     .target = "/tmp/r",
                                     .fstype = "ext4",
                                     .source = "/dev/vda1",
                                     .fs_options = "" };

        ck_assert(ovl_who_mount_matches(&t, &m));
        /* Only exactly the layer's directory: a bind of a part of it, or of the whole disk, is not. */
        m.root = "/srv/layer/etc";
        ck_assert(!ovl_who_mount_matches(&t, &m));
        m.root = "/";
        ck_assert(!ovl_who_mount_matches(&t, &m));
        /* Mounted where the layer is: the store's own mount of it. */
        m.root = "/srv/layer";
        m.target = "/srv/layer";
        ck_assert(!ovl_who_mount_matches(&t, &m));
}
END_TEST

START_TEST(test_match_subtree)
{
        struct ovl_record rec = { .rootfs = (char *) "/tmp/r" };
        struct ovl_who_target t = {
                .rec = &rec, .rule = OVL_WHO_SUBTREE, .dev = DEV(254, 1), .fs_root = (char *) "/var/roots/r"
        };
        struct ovl_mount_entry m = { .id = 5,
                                     .dev = DEV(254, 1),
                                     .root = "/var/roots/r",
                                     .target = "/",
                                     .fstype = "ext4",
                                     .source = "/dev/vda1",
                                     .fs_options = "" };

        ck_assert(ovl_who_mount_matches(&t, &m));
        m.root = "/var/roots/r/etc";
        ck_assert(ovl_who_mount_matches(&t, &m));
        /* Above R (the filesystem's own mount), or a sibling whose name starts alike. */
        m.root = "/";
        ck_assert(!ovl_who_mount_matches(&t, &m));
        m.root = "/var/roots/r2";
        ck_assert(!ovl_who_mount_matches(&t, &m));
        /* R not where the record says (replaced): its path within the filesystem is unknown. */
        t.fs_root = NULL;
        m.root = "/var/roots/r";
        ck_assert(!ovl_who_mount_matches(&t, &m));
}
END_TEST

START_TEST(test_proc_self)
{
        int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd, r;
        struct ovl_proc_object o;
        uint64_t ns;
        char comm[64];
        struct stat st;

        ck_assert_int_ge(proc, 0);
        fd = ovl_proc_open_pid(proc, getpid());
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ovl_proc_ns_inode(fd, "ns/mnt", &ns), 0);
        ck_assert_int_eq(stat("/proc/self/ns/mnt", &st), 0);
        ck_assert_uint_eq(ns, st.st_ino);
        ck_assert_int_eq(ovl_proc_comm(fd, comm, sizeof(comm)), 0);
        ck_assert_ptr_null(strchr(comm, '\n'));
        ck_assert_int_eq(ovl_proc_runs_our_program(fd), 1);
        /* The link followed to the object: the working directory, a directory (where statx has
         * mount ids, 5.8+). */
        r = ovl_proc_object(fd, "cwd", false, &o);
        if (r != -EOPNOTSUPP) {
                ck_assert_int_eq(r, 0);
                ck_assert(S_ISDIR(o.mode));
                ck_assert_int_eq(stat(".", &st), 0);
                ck_assert_uint_eq(o.ino, st.st_ino);
        }
        /* A pid that is not there is gone, not an error. */
        ck_assert(ovl_proc_gone(ovl_proc_open_pid(proc, 0x3fffffff)));
        ck_assert(r == -EOPNOTSUPP || ovl_proc_gone(ovl_proc_object(fd, "fd/999999", false, &o)));
        close(fd);
        close(proc);
}
END_TEST

Suite *ovl_unit_suite(void)
{
        Suite *s = suite_create("who");
        TCase *tc = tcase_create("who");

        tcase_add_test(tc, test_maps_file);
        tcase_add_test(tc, test_maps_not_a_file);
        tcase_add_test(tc, test_next_number);
        tcase_add_test(tc, test_mountinfo_fields);
        tcase_add_test(tc, test_mountinfo_stops);
        tcase_add_test(tc, test_match_superblock);
        tcase_add_test(tc, test_match_mount_root);
        tcase_add_test(tc, test_match_subtree);
        tcase_add_test(tc, test_proc_self);
        suite_add_tcase(s, tc);
        return s;
}
