/* Unit tests for the entry classifier (backends/whiteout.c). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/whiteout.h"
#include "common/macro.h"
#include "tests/unit/unit.h"

static struct stat make_stat(mode_t mode, dev_t rdev, off_t size, nlink_t nlink)
{
        struct stat st;

        memset(&st, 0, sizeof(st));
        st.st_mode = mode;
        st.st_rdev = rdev;
        st.st_size = size;
        st.st_nlink = nlink;
        return st;
}

/* Classifies `name` with a stat built from the other arguments; asserts the call succeeds. */
static struct ovl_entry_info classify(const char *name, mode_t mode, dev_t rdev, off_t size, nlink_t nlink,
                                      unsigned bits, bool parent_xw)
{
        struct stat st = make_stat(mode, rdev, size, nlink);
        struct ovl_entry_info info;

        memset(&info, 0xa5, sizeof(info));
        ck_assert_int_eq(ovl_entry_classify(name, &st, bits, parent_xw, &info), 0);
        return info;
}

static void assert_plain(const char *name, mode_t mode, dev_t rdev, enum ovl_entry_type type)
{
        struct ovl_entry_info info = classify(name, mode, rdev, 5, 1, 0, false);

        ck_assert_int_eq(info.type, type);
        ck_assert_int_eq(info.format, OVL_WHITEOUT_NONE);
        ck_assert(!info.opaque);
        ck_assert(!info.has_xattr_whiteouts);
        ck_assert(!info.hardlinked);
}

/* ---- plain entry types ------------------------------------------------------------------- */

START_TEST(test_type_regular)
{
        assert_plain("file", S_IFREG | 0644, 0, OVL_ENTRY_REGULAR);
}
END_TEST

START_TEST(test_type_directory)
{
        assert_plain("dir", S_IFDIR | 0755, 0, OVL_ENTRY_DIRECTORY);
}
END_TEST

START_TEST(test_type_symlink)
{
        assert_plain("link", S_IFLNK | 0777, 0, OVL_ENTRY_SYMLINK);
}
END_TEST

START_TEST(test_type_char)
{
        assert_plain("null", S_IFCHR | 0666, makedev(1, 3), OVL_ENTRY_CHAR);
}
END_TEST

START_TEST(test_type_block)
{
        assert_plain("sda", S_IFBLK | 0660, makedev(8, 0), OVL_ENTRY_BLOCK);
}
END_TEST

START_TEST(test_type_block_zero_dev_not_whiteout)
{
        /* Only a *character* device 0/0 is a whiteout. */
        assert_plain("blk0", S_IFBLK | 0660, makedev(0, 0), OVL_ENTRY_BLOCK);
}
END_TEST

START_TEST(test_type_fifo)
{
        assert_plain("fifo", S_IFIFO | 0644, 0, OVL_ENTRY_FIFO);
}
END_TEST

START_TEST(test_type_socket)
{
        assert_plain("sock", S_IFSOCK | 0755, 0, OVL_ENTRY_SOCKET);
}
END_TEST

/* ---- AUFS names -------------------------------------------------------------------------- */

START_TEST(test_aufs_whiteout)
{
        const char *name = ".wh.NAME";
        struct ovl_entry_info info = classify(name, S_IFREG | 0644, 0, 0, 1, 0, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_WHITEOUT);
        ck_assert_int_eq(info.format, OVL_WHITEOUT_AUFS);
        ck_assert_str_eq(info.target, "NAME");
        ck_assert(!info.hardlinked);
}
END_TEST

START_TEST(test_aufs_whiteout_of_dotfile)
{
        struct ovl_entry_info info = classify(".wh..bashrc", S_IFREG | 0644, 0, 0, 1, 0, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_WHITEOUT);
        ck_assert_int_eq(info.format, OVL_WHITEOUT_AUFS);
        ck_assert_str_eq(info.target, ".bashrc");
}
END_TEST

START_TEST(test_aufs_whiteout_hardlinked_not_flagged)
{
        struct ovl_entry_info info = classify(".wh.x", S_IFREG | 0644, 0, 0, 3, 0, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_WHITEOUT);
        ck_assert(!info.hardlinked);
}
END_TEST

START_TEST(test_aufs_opaque_marker)
{
        struct ovl_entry_info info = classify(".wh..wh..opq", S_IFREG | 0644, 0, 0, 1, 0, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_OPAQUE_MARKER);
        ck_assert_int_eq(info.format, OVL_WHITEOUT_AUFS);
}
END_TEST

START_TEST(test_aufs_meta)
{
        struct ovl_entry_info info = classify(".wh..wh.plnk", S_IFDIR | 0700, 0, 0, 2, 0, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_AUFS_META);
        ck_assert_int_eq(info.format, OVL_WHITEOUT_AUFS);
}
END_TEST

static void assert_malformed(const char *name)
{
        struct stat st = make_stat(S_IFREG | 0644, 0, 0, 1);
        struct ovl_entry_info info;

        ck_assert_msg(ovl_entry_classify(name, &st, 0, false, &info) == -EINVAL, "\"%s\" accepted", name);
}

START_TEST(test_aufs_malformed_empty)
{
        assert_malformed(".wh.");
}
END_TEST

START_TEST(test_aufs_malformed_dot)
{
        assert_malformed(".wh..");
}
END_TEST

START_TEST(test_aufs_malformed_dotdot)
{
        assert_malformed(".wh...");
}
END_TEST

START_TEST(test_not_aufs_prefix)
{
        /* ".wh" without the trailing dot, and "wh.x", are ordinary names. */
        struct ovl_entry_info a = classify(".wh", S_IFREG | 0644, 0, 1, 1, 0, false);
        struct ovl_entry_info b = classify("x.wh.y", S_IFREG | 0644, 0, 1, 1, 0, false);

        ck_assert_int_eq(a.type, OVL_ENTRY_REGULAR);
        ck_assert_int_eq(b.type, OVL_ENTRY_REGULAR);
}
END_TEST

/* ---- overlayfs formats ------------------------------------------------------------------- */

START_TEST(test_chardev_whiteout)
{
        struct ovl_entry_info info = classify("gone", S_IFCHR | 0, makedev(0, 0), 0, 1, 0, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_WHITEOUT);
        ck_assert_int_eq(info.format, OVL_WHITEOUT_CHARDEV);
        ck_assert_str_eq(info.target, "gone");
        ck_assert(!info.hardlinked);
}
END_TEST

START_TEST(test_chardev_whiteout_hardlinked_not_flagged)
{
        struct ovl_entry_info info = classify("gone", S_IFCHR | 0, makedev(0, 0), 0, 2, 0, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_WHITEOUT);
        ck_assert(!info.hardlinked);
}
END_TEST

START_TEST(test_chardev_1_3_stays_char)
{
        struct ovl_entry_info info = classify("null", S_IFCHR | 0666, makedev(1, 3), 0, 1, 0, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_CHAR);
        ck_assert_int_eq(info.format, OVL_WHITEOUT_NONE);
}
END_TEST

START_TEST(test_chardev_0_1_stays_char)
{
        struct ovl_entry_info info = classify("c", S_IFCHR | 0666, makedev(0, 1), 0, 1, 0, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_CHAR);
}
END_TEST

START_TEST(test_xattr_whiteout)
{
        struct ovl_entry_info info = classify("gone", S_IFREG | 0, 0, 0, 1, OVL_XATTR_WHITEOUT, true);

        ck_assert_int_eq(info.type, OVL_ENTRY_WHITEOUT);
        ck_assert_int_eq(info.format, OVL_WHITEOUT_XATTR);
        ck_assert_str_eq(info.target, "gone");
}
END_TEST

START_TEST(test_xattr_whiteout_needs_parent_marker)
{
        struct ovl_entry_info info = classify("gone", S_IFREG | 0, 0, 0, 1, OVL_XATTR_WHITEOUT, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_REGULAR);
        ck_assert_int_eq(info.format, OVL_WHITEOUT_NONE);
}
END_TEST

START_TEST(test_xattr_whiteout_needs_zero_size)
{
        struct ovl_entry_info info = classify("data", S_IFREG | 0644, 0, 1, 1, OVL_XATTR_WHITEOUT, true);

        ck_assert_int_eq(info.type, OVL_ENTRY_REGULAR);
        ck_assert_int_eq(info.format, OVL_WHITEOUT_NONE);
}
END_TEST

START_TEST(test_xattr_whiteout_needs_regular)
{
        struct ovl_entry_info info = classify("d", S_IFDIR | 0755, 0, 0, 2, OVL_XATTR_WHITEOUT, true);

        ck_assert_int_eq(info.type, OVL_ENTRY_DIRECTORY);
}
END_TEST

START_TEST(test_xattr_whiteout_needs_bit)
{
        struct ovl_entry_info info = classify("empty", S_IFREG | 0644, 0, 0, 1, 0, true);

        ck_assert_int_eq(info.type, OVL_ENTRY_REGULAR);
}
END_TEST

START_TEST(test_dir_opaque)
{
        struct ovl_entry_info info = classify("d", S_IFDIR | 0755, 0, 4096, 2, OVL_XATTR_OPAQUE, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_DIRECTORY);
        ck_assert(info.opaque);
        ck_assert(!info.has_xattr_whiteouts);
        ck_assert(!info.hardlinked);
}
END_TEST

START_TEST(test_dir_has_whiteouts)
{
        struct ovl_entry_info info = classify("d", S_IFDIR | 0755, 0, 4096, 2, OVL_XATTR_HAS_WHITEOUTS, false);

        ck_assert_int_eq(info.type, OVL_ENTRY_DIRECTORY);
        ck_assert(!info.opaque);
        ck_assert(info.has_xattr_whiteouts);
}
END_TEST

START_TEST(test_dir_both_bits)
{
        struct ovl_entry_info info = classify("d", S_IFDIR | 0755, 0, 4096, 2,
                                              OVL_XATTR_OPAQUE | OVL_XATTR_HAS_WHITEOUTS, true);

        ck_assert(info.opaque);
        ck_assert(info.has_xattr_whiteouts);
}
END_TEST

START_TEST(test_regular_ignores_dir_bits)
{
        struct ovl_entry_info info = classify("f", S_IFREG | 0644, 0, 0, 1, OVL_XATTR_OPAQUE | OVL_XATTR_HAS_WHITEOUTS,
                                              false);

        ck_assert_int_eq(info.type, OVL_ENTRY_REGULAR);
        ck_assert(!info.opaque);
        ck_assert(!info.has_xattr_whiteouts);
}
END_TEST

/* ---- hard links -------------------------------------------------------------------------- */

START_TEST(test_hardlinked_regular)
{
        ck_assert(classify("f", S_IFREG | 0644, 0, 10, 2, 0, false).hardlinked);
        ck_assert(!classify("f", S_IFREG | 0644, 0, 10, 1, 0, false).hardlinked);
}
END_TEST

START_TEST(test_hardlinked_other_types)
{
        ck_assert(classify("l", S_IFLNK | 0777, 0, 3, 2, 0, false).hardlinked);
        ck_assert(classify("c", S_IFCHR | 0666, makedev(1, 3), 0, 2, 0, false).hardlinked);
        ck_assert(classify("p", S_IFIFO | 0644, 0, 0, 5, 0, false).hardlinked);
}
END_TEST

START_TEST(test_directory_never_hardlinked)
{
        ck_assert(!classify("d", S_IFDIR | 0755, 0, 4096, 7, 0, false).hardlinked);
}
END_TEST

/* ---- helpers ----------------------------------------------------------------------------- */

START_TEST(test_wants_xattrs)
{
        struct stat dir = make_stat(S_IFDIR | 0755, 0, 4096, 2);
        struct stat empty = make_stat(S_IFREG | 0644, 0, 0, 1);
        struct stat full = make_stat(S_IFREG | 0644, 0, 1, 1);
        struct stat lnk = make_stat(S_IFLNK | 0777, 0, 0, 1);

        ck_assert(ovl_entry_wants_xattrs(&dir));
        ck_assert(ovl_entry_wants_xattrs(&empty));
        ck_assert(!ovl_entry_wants_xattrs(&full));
        ck_assert(!ovl_entry_wants_xattrs(&lnk));
}
END_TEST

START_TEST(test_xattr_is_overlay_private)
{
        ck_assert(ovl_xattr_is_overlay_private("trusted.overlay.opaque"));
        ck_assert(ovl_xattr_is_overlay_private("user.overlay.whiteout"));
        ck_assert(ovl_xattr_is_overlay_private("trusted.overlay.origin"));
        ck_assert(!ovl_xattr_is_overlay_private("user.test"));
        ck_assert(!ovl_xattr_is_overlay_private("security.capability"));
        ck_assert(!ovl_xattr_is_overlay_private("trusted.foo"));
        ck_assert(!ovl_xattr_is_overlay_private("user.overlayfoo"));
        ck_assert(!ovl_xattr_is_overlay_private(""));
}
END_TEST

START_TEST(test_entry_type_name)
{
        ck_assert_str_eq(ovl_entry_type_name(OVL_ENTRY_REGULAR), "regular");
        ck_assert_str_eq(ovl_entry_type_name(OVL_ENTRY_DIRECTORY), "directory");
        ck_assert_str_eq(ovl_entry_type_name(OVL_ENTRY_SYMLINK), "symlink");
        ck_assert_str_eq(ovl_entry_type_name(OVL_ENTRY_CHAR), "char");
        ck_assert_str_eq(ovl_entry_type_name(OVL_ENTRY_BLOCK), "block");
        ck_assert_str_eq(ovl_entry_type_name(OVL_ENTRY_FIFO), "fifo");
        ck_assert_str_eq(ovl_entry_type_name(OVL_ENTRY_SOCKET), "socket");
        ck_assert_str_eq(ovl_entry_type_name(OVL_ENTRY_WHITEOUT), "whiteout");
        ck_assert_str_eq(ovl_entry_type_name(OVL_ENTRY_OPAQUE_MARKER), "opaque-marker");
        ck_assert_str_eq(ovl_entry_type_name(OVL_ENTRY_AUFS_META), "aufs-meta");
        ck_assert_str_eq(ovl_entry_type_name((enum ovl_entry_type) 99), "unknown");
}
END_TEST

/* ---- ovl_entry_read_xattrs on a real file system ----------------------------------------- */

static char tmpdir[64];
static int tmpfd = -1;

static void setup_tmpdir(void)
{
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_whiteout.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        tmpfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(tmpfd, 0);
}

static void teardown_tmpdir(void)
{
        char cmd[128];

        tmpfd = safe_close(tmpfd);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* Creates tmpdir/name (a directory or an empty file) with xattr name=value. Returns false when
 * the file system does not support user xattrs, so the caller can skip. */
static bool make_with_xattr(const char *name, bool dir, const char *xname, const char *value)
{
        char path[128];

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        if (dir)
                ck_assert_int_eq(mkdir(path, 0755), 0);
        else {
                int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                ck_assert_int_ge(fd, 0);
                close(fd);
        }
        if (setxattr(path, xname, value, strlen(value), 0) < 0) {
                ck_assert_msg(errno == ENOTSUP || errno == EOPNOTSUPP, "setxattr %s: %s", path, strerror(errno));
                fprintf(stderr, "SKIP: %s does not support user xattrs\n", tmpdir);
                return false;
        }
        return true;
}

static unsigned read_bits(const char *name)
{
        unsigned bits = 0xdead;

        ck_assert_int_eq(ovl_entry_read_xattrs(tmpfd, name, &bits), 0);
        return bits;
}

START_TEST(test_read_xattrs_none)
{
        ck_assert_int_eq(mkdirat(tmpfd, "plain", 0755), 0);
        ck_assert_uint_eq(read_bits("plain"), 0);
}
END_TEST

START_TEST(test_read_xattrs_opaque_y)
{
        if (make_with_xattr("opq", true, "user.overlay.opaque", "y"))
                ck_assert_uint_eq(read_bits("opq"), OVL_XATTR_OPAQUE | OVL_XATTR_USER_NS);
}
END_TEST

START_TEST(test_read_xattrs_opaque_x)
{
        if (make_with_xattr("xw", true, "user.overlay.opaque", "x"))
                ck_assert_uint_eq(read_bits("xw"), OVL_XATTR_HAS_WHITEOUTS | OVL_XATTR_USER_NS);
}
END_TEST

START_TEST(test_read_xattrs_opaque_other_value)
{
        if (make_with_xattr("other", true, "user.overlay.opaque", "yes"))
                ck_assert_uint_eq(read_bits("other"), 0);
}
END_TEST

START_TEST(test_read_xattrs_whiteouts)
{
        if (make_with_xattr("ws", true, "user.overlay.whiteouts", ""))
                ck_assert_uint_eq(read_bits("ws"), OVL_XATTR_HAS_WHITEOUTS | OVL_XATTR_USER_NS);
}
END_TEST

START_TEST(test_read_xattrs_whiteout_file)
{
        if (make_with_xattr("wo", false, "user.overlay.whiteout", ""))
                ck_assert_uint_eq(read_bits("wo"), OVL_XATTR_WHITEOUT | OVL_XATTR_USER_NS);
}
END_TEST

START_TEST(test_read_xattrs_unrelated)
{
        if (make_with_xattr("u", true, "user.test", "y"))
                ck_assert_uint_eq(read_bits("u"), 0);
}
END_TEST

START_TEST(test_read_xattrs_missing)
{
        unsigned bits = 0;

        ck_assert_int_eq(ovl_entry_read_xattrs(tmpfd, "does-not-exist", &bits), -ENOENT);
}
END_TEST

Suite *ovl_unit_suite(void)
{
        Suite *s = suite_create("whiteout");
        TCase *types = tcase_create("types");
        TCase *aufs = tcase_create("aufs");
        TCase *ovl = tcase_create("overlayfs");
        TCase *misc = tcase_create("misc");
        TCase *fs = tcase_create("xattrs-on-fs");

        tcase_add_test(types, test_type_regular);
        tcase_add_test(types, test_type_directory);
        tcase_add_test(types, test_type_symlink);
        tcase_add_test(types, test_type_char);
        tcase_add_test(types, test_type_block);
        tcase_add_test(types, test_type_block_zero_dev_not_whiteout);
        tcase_add_test(types, test_type_fifo);
        tcase_add_test(types, test_type_socket);
        suite_add_tcase(s, types);

        tcase_add_test(aufs, test_aufs_whiteout);
        tcase_add_test(aufs, test_aufs_whiteout_of_dotfile);
        tcase_add_test(aufs, test_aufs_whiteout_hardlinked_not_flagged);
        tcase_add_test(aufs, test_aufs_opaque_marker);
        tcase_add_test(aufs, test_aufs_meta);
        tcase_add_test(aufs, test_aufs_malformed_empty);
        tcase_add_test(aufs, test_aufs_malformed_dot);
        tcase_add_test(aufs, test_aufs_malformed_dotdot);
        tcase_add_test(aufs, test_not_aufs_prefix);
        suite_add_tcase(s, aufs);

        tcase_add_test(ovl, test_chardev_whiteout);
        tcase_add_test(ovl, test_chardev_whiteout_hardlinked_not_flagged);
        tcase_add_test(ovl, test_chardev_1_3_stays_char);
        tcase_add_test(ovl, test_chardev_0_1_stays_char);
        tcase_add_test(ovl, test_xattr_whiteout);
        tcase_add_test(ovl, test_xattr_whiteout_needs_parent_marker);
        tcase_add_test(ovl, test_xattr_whiteout_needs_zero_size);
        tcase_add_test(ovl, test_xattr_whiteout_needs_regular);
        tcase_add_test(ovl, test_xattr_whiteout_needs_bit);
        tcase_add_test(ovl, test_dir_opaque);
        tcase_add_test(ovl, test_dir_has_whiteouts);
        tcase_add_test(ovl, test_dir_both_bits);
        tcase_add_test(ovl, test_regular_ignores_dir_bits);
        suite_add_tcase(s, ovl);

        tcase_add_test(misc, test_hardlinked_regular);
        tcase_add_test(misc, test_hardlinked_other_types);
        tcase_add_test(misc, test_directory_never_hardlinked);
        tcase_add_test(misc, test_wants_xattrs);
        tcase_add_test(misc, test_xattr_is_overlay_private);
        tcase_add_test(misc, test_entry_type_name);
        suite_add_tcase(s, misc);

        tcase_add_checked_fixture(fs, setup_tmpdir, teardown_tmpdir);
        tcase_add_test(fs, test_read_xattrs_none);
        tcase_add_test(fs, test_read_xattrs_opaque_y);
        tcase_add_test(fs, test_read_xattrs_opaque_x);
        tcase_add_test(fs, test_read_xattrs_opaque_other_value);
        tcase_add_test(fs, test_read_xattrs_whiteouts);
        tcase_add_test(fs, test_read_xattrs_whiteout_file);
        tcase_add_test(fs, test_read_xattrs_unrelated);
        tcase_add_test(fs, test_read_xattrs_missing);
        suite_add_tcase(s, fs);
        return s;
}
