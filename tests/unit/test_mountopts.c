/* Unit tests for mount options as data (backends/mountopts.c): the lists built from the options,
 * the mount(2) string made of them, and the fsconfig calls an applier would issue (recorded by a
 * sink, so nothing mounts). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "backends/mountopts.h"
#include "tests/unit/unit.h"

/* The fsconfig calls handed to the sink, one line each: "STRING key=value", "FD key=N", "FLAG key",
 * "CREATE". */
struct calls {
        char text[4096];
        size_t len;
        int fail_at; /* the call (from 1) the sink fails with EINVAL, 0 for none */
        int n;
};

static int record_call(void *ctx, unsigned int cmd, const char *key, const char *value, int aux)
{
        struct calls *c = ctx;
        size_t room = sizeof(c->text) - c->len;
        int w;

        switch (cmd) {
        case FSCONFIG_SET_FLAG:
                ck_assert_ptr_null(value);
                w = snprintf(c->text + c->len, room, "FLAG %s\n", key);
                break;
        case FSCONFIG_SET_STRING:
                w = snprintf(c->text + c->len, room, "STRING %s=%s\n", key, value);
                break;
        case FSCONFIG_SET_FD:
                ck_assert_ptr_null(value);
                w = snprintf(c->text + c->len, room, "FD %s=%d\n", key, aux);
                break;
        case FSCONFIG_CMD_CREATE:
                ck_assert_ptr_null(key);
                w = snprintf(c->text + c->len, room, "CREATE\n");
                break;
        default:
                ck_abort_msg("unexpected fsconfig command %u", cmd);
                return -EINVAL;
        }
        ck_assert_int_lt(w, (int) room);
        c->len += (size_t) w;
        return ++c->n == c->fail_at ? -EINVAL : 0;
}

static void assert_legacy(const struct ovl_mount_params *p, const char *want)
{
        char *text = NULL;

        ck_assert_int_eq(ovl_mountopts_format_legacy(p, &text), 0);
        ck_assert_str_eq(text, want);
        free(text);
}

static const int lowers[] = { 10, 11, 12 }; /* bottom first */

static void build_overlay(struct ovl_mount_params *p, int upper, int work, bool volatile_upper, bool userxattr)
{
        const struct ovl_mountopts_overlay_spec spec = {
                .source = "ovlbackend-abc",
                .lower_fds = lowers,
                .n_lower = 3,
                .upper_fd = upper,
                .work_fd = work,
                .volatile_upper = volatile_upper,
                .userxattr = userxattr,
        };

        ck_assert_int_eq(ovl_mountopts_overlay(&spec, p), 0);
}

/* ---- attributes ---------------------------------------------------------------------------- */

START_TEST(test_attrs)
{
        ck_assert_uint_eq(ovl_mountopts_attrs(false, false, false), 0);
        ck_assert_uint_eq(ovl_mountopts_attrs(true, false, false), MOUNT_ATTR_RDONLY);
        ck_assert_uint_eq(ovl_mountopts_attrs(false, true, false), MOUNT_ATTR_NOSUID);
        ck_assert_uint_eq(ovl_mountopts_attrs(false, false, true), MOUNT_ATTR_NODEV);
        ck_assert_uint_eq(ovl_mountopts_attrs(true, true, true),
                          MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
}
END_TEST

START_TEST(test_ms_flags)
{
        ck_assert_uint_eq(ovl_mountopts_ms_flags(0), 0);
        ck_assert_uint_eq(ovl_mountopts_ms_flags(MOUNT_ATTR_RDONLY), MS_RDONLY);
        ck_assert_uint_eq(ovl_mountopts_ms_flags(MOUNT_ATTR_NOSUID), MS_NOSUID);
        ck_assert_uint_eq(ovl_mountopts_ms_flags(MOUNT_ATTR_NODEV), MS_NODEV);
        ck_assert_uint_eq(ovl_mountopts_ms_flags(ovl_mountopts_attrs(true, true, true)),
                          MS_RDONLY | MS_NOSUID | MS_NODEV);
        /* An idmapped bind has no mount(2) flag for its mapping. */
        ck_assert_uint_eq(ovl_mountopts_ms_flags(MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV), MS_NODEV);
}
END_TEST

/* ---- overlay list -------------------------------------------------------------------------- */

START_TEST(test_overlay_order_with_upper)
{
        struct ovl_mount_params p = { 0 };
        static const char *const keys[] = { "source",  "lowerdir+", "lowerdir+",    "lowerdir+", "upperdir",
                                            "workdir", "index",     "redirect_dir", "metacopy" };

        build_overlay(&p, 5, 6, false, false);
        ck_assert_uint_eq(p.count, 9);
        for (size_t i = 0; i < p.count; i++)
                ck_assert_str_eq(p.items[i].key, keys[i]);
        ck_assert_int_eq(p.items[0].kind, OVL_MOUNT_PARAM_STRING);
        ck_assert_str_eq(p.items[0].value, "ovlbackend-abc");
        /* Top first. */
        for (size_t i = 1; i <= 3; i++)
                ck_assert_int_eq(p.items[i].kind, OVL_MOUNT_PARAM_DIR_FD);
        ck_assert_int_eq(p.items[1].fd, 12);
        ck_assert_int_eq(p.items[2].fd, 11);
        ck_assert_int_eq(p.items[3].fd, 10);
        ck_assert_int_eq(p.items[4].fd, 5);
        ck_assert_int_eq(p.items[5].fd, 6);
        ck_assert_str_eq(p.items[6].value, "off");
        ck_assert_str_eq(p.items[7].value, "nofollow");
        ck_assert_str_eq(p.items[8].value, "off");
        ovl_mountopts_clear(&p);
        ck_assert_uint_eq(p.count, 0);
        ck_assert_ptr_null(p.items);
}
END_TEST

START_TEST(test_overlay_read_only)
{
        struct ovl_mount_params p = { 0 };

        build_overlay(&p, -1, -1, false, false);
        ck_assert_uint_eq(p.count, 7);
        for (size_t i = 0; i < p.count; i++) {
                ck_assert_str_ne(p.items[i].key, "upperdir");
                ck_assert_str_ne(p.items[i].key, "workdir");
        }
        assert_legacy(&p, "lowerdir=12:11:10,index=off,redirect_dir=nofollow,metacopy=off");
        ovl_mountopts_clear(&p);
}
END_TEST

START_TEST(test_overlay_volatile_userxattr)
{
        struct ovl_mount_params p = { 0 };

        build_overlay(&p, 5, 6, true, true);
        ck_assert_uint_eq(p.count, 11);
        ck_assert_str_eq(p.items[9].key, "volatile");
        ck_assert_int_eq(p.items[9].kind, OVL_MOUNT_PARAM_FLAG);
        ck_assert_str_eq(p.items[10].key, "userxattr");
        ck_assert_int_eq(p.items[10].kind, OVL_MOUNT_PARAM_FLAG);
        /* Built again into the same list: emptied first, not appended to. */
        build_overlay(&p, 5, 6, false, true);
        ck_assert_uint_eq(p.count, 10);
        ck_assert_str_eq(p.items[9].key, "userxattr");
        ovl_mountopts_clear(&p);
}
END_TEST

/* The string mount_legacy has always built, byte for byte. */
START_TEST(test_overlay_legacy_string)
{
        struct ovl_mount_params p = { 0 };

        build_overlay(&p, 5, 6, false, false);
        assert_legacy(&p, "lowerdir=12:11:10,upperdir=5,workdir=6,index=off,redirect_dir=nofollow,metacopy=off");
        build_overlay(&p, 5, 6, true, true);
        assert_legacy(&p, "lowerdir=12:11:10,upperdir=5,workdir=6,index=off,redirect_dir=nofollow,metacopy=off,"
                          "volatile,userxattr");
        ovl_mountopts_clear(&p);
}
END_TEST

START_TEST(test_overlay_one_lower)
{
        struct ovl_mount_params p = { 0 };
        const int one = 7;
        const struct ovl_mountopts_overlay_spec spec = {
                .source = "s", .lower_fds = &one, .n_lower = 1, .upper_fd = 8, .work_fd = 9
        };

        ck_assert_int_eq(ovl_mountopts_overlay(&spec, &p), 0);
        assert_legacy(&p, "lowerdir=7,upperdir=8,workdir=9,index=off,redirect_dir=nofollow,metacopy=off");
        ovl_mountopts_clear(&p);
}
END_TEST

/* Far more layers than the list starts with room for: it grows, and the string keeps them all. */
START_TEST(test_overlay_many_lowers)
{
        struct ovl_mount_params p = { 0 };
        int fds[500];
        struct ovl_mountopts_overlay_spec spec = {
                .source = "s", .lower_fds = fds, .n_lower = 500, .upper_fd = -1, .work_fd = -1
        };
        char *text = NULL;

        for (int i = 0; i < 500; i++)
                fds[i] = 1000 + i;
        ck_assert_int_eq(ovl_mountopts_overlay(&spec, &p), 0);
        ck_assert_uint_eq(p.count, 504);
        ck_assert_int_eq(p.items[1].fd, 1499);
        ck_assert_int_eq(p.items[500].fd, 1000);
        ck_assert_int_eq(ovl_mountopts_format_legacy(&p, &text), 0);
        ck_assert(strncmp(text, "lowerdir=1499:1498:", 19) == 0);
        ck_assert_ptr_nonnull(strstr(text, ":1001:1000,index=off,"));
        ck_assert_uint_eq(strlen(text),
                          strlen("lowerdir=") + 500 * 5 - 1 + strlen(",index=off,redirect_dir=nofollow,metacopy=off"));
        free(text);
        ovl_mountopts_clear(&p);
}
END_TEST

/* ---- tmpfs list ---------------------------------------------------------------------------- */

START_TEST(test_tmpfs)
{
        struct ovl_mount_params p = { 0 };

        ck_assert_int_eq(ovl_mountopts_tmpfs(NULL, &p), 0);
        ck_assert_uint_eq(p.count, 1);
        ck_assert_str_eq(p.items[0].key, "mode");
        ck_assert_str_eq(p.items[0].value, "0755");
        assert_legacy(&p, "mode=0755");
        ck_assert_int_eq(ovl_mountopts_tmpfs("64m", &p), 0);
        ck_assert_uint_eq(p.count, 2);
        ck_assert_str_eq(p.items[1].key, "size");
        ck_assert_str_eq(p.items[1].value, "64m");
        assert_legacy(&p, "mode=0755,size=64m");
        ovl_mountopts_clear(&p);
}
END_TEST

/* ---- the legacy string's refusals ---------------------------------------------------------- */

START_TEST(test_legacy_refuses_separators)
{
        struct ovl_mount_params p = { 0 };
        char *text = NULL;

        /* A ',' would split the entry in two options. */
        ck_assert_int_eq(ovl_mountopts_tmpfs("1,nodev", &p), 0);
        ck_assert_int_eq(ovl_mountopts_format_legacy(&p, &text), -EINVAL);
        ck_assert_ptr_null(text);
        ovl_mountopts_clear(&p);
}
END_TEST

/* ---- the fsconfig applier ------------------------------------------------------------------ */

START_TEST(test_fsconfig_by_fd)
{
        struct ovl_mount_params p = { 0 };
        struct calls c = { 0 };

        build_overlay(&p, 5, 6, true, true);
        ck_assert_int_eq(ovl_mountopts_emit(&p, true, record_call, &c), 0);
        ck_assert_str_eq(c.text, "STRING source=ovlbackend-abc\n"
                                 "FD lowerdir+=12\n"
                                 "FD lowerdir+=11\n"
                                 "FD lowerdir+=10\n"
                                 "FD upperdir=5\n"
                                 "FD workdir=6\n"
                                 "STRING index=off\n"
                                 "STRING redirect_dir=nofollow\n"
                                 "STRING metacopy=off\n"
                                 "FLAG volatile\n"
                                 "FLAG userxattr\n"
                                 "CREATE\n");
        ovl_mountopts_clear(&p);
}
END_TEST

START_TEST(test_fsconfig_by_path)
{
        struct ovl_mount_params p = { 0 };
        struct calls c = { 0 };

        build_overlay(&p, -1, -1, false, false);
        ck_assert_int_eq(ovl_mountopts_emit(&p, false, record_call, &c), 0);
        ck_assert_str_eq(c.text, "STRING source=ovlbackend-abc\n"
                                 "STRING lowerdir+=/proc/self/fd/12\n"
                                 "STRING lowerdir+=/proc/self/fd/11\n"
                                 "STRING lowerdir+=/proc/self/fd/10\n"
                                 "STRING index=off\n"
                                 "STRING redirect_dir=nofollow\n"
                                 "STRING metacopy=off\n"
                                 "CREATE\n");
        ovl_mountopts_clear(&p);
}
END_TEST

START_TEST(test_fsconfig_tmpfs)
{
        struct ovl_mount_params p = { 0 };
        struct calls c = { 0 };

        ck_assert_int_eq(ovl_mountopts_tmpfs("10%", &p), 0);
        ck_assert_int_eq(ovl_mountopts_emit(&p, false, record_call, &c), 0);
        ck_assert_str_eq(c.text, "STRING mode=0755\nSTRING size=10%\nCREATE\n");
        ovl_mountopts_clear(&p);
}
END_TEST

/* The metadata stack: one lower (the metadata layer) over data-only lowers in search order, with
 * the options a metacopy stub needs instead of the layer stack's safe ones. */
static void build_meta(struct ovl_mount_params *p, int upper, int work)
{
        static const int meta[] = { 20 }, data[] = { 30, 31 };
        const struct ovl_mountopts_overlay_spec spec = {
                .source = "ovlbackend-abc",
                .lower_fds = meta,
                .n_lower = 1,
                .data_fds = data,
                .n_data = 2,
                .upper_fd = upper,
                .work_fd = work,
        };

        ck_assert_int_eq(ovl_mountopts_overlay(&spec, p), 0);
}

START_TEST(test_meta_fsconfig)
{
        struct ovl_mount_params p = { 0 };
        struct calls by_fd = { 0 }, by_path = { 0 };

        build_meta(&p, 5, 6);
        ck_assert_int_eq(ovl_mountopts_emit(&p, true, record_call, &by_fd), 0);
        ck_assert_str_eq(by_fd.text, "STRING source=ovlbackend-abc\n"
                                     "FD lowerdir+=20\n"
                                     "FD datadir+=30\n"
                                     "FD datadir+=31\n"
                                     "FD upperdir=5\n"
                                     "FD workdir=6\n"
                                     "STRING index=off\n"
                                     "STRING redirect_dir=on\n"
                                     "STRING metacopy=on\n"
                                     "CREATE\n");
        ck_assert_int_eq(ovl_mountopts_emit(&p, false, record_call, &by_path), 0);
        ck_assert_str_eq(by_path.text, "STRING source=ovlbackend-abc\n"
                                       "STRING lowerdir+=/proc/self/fd/20\n"
                                       "STRING datadir+=/proc/self/fd/30\n"
                                       "STRING datadir+=/proc/self/fd/31\n"
                                       "STRING upperdir=/proc/self/fd/5\n"
                                       "STRING workdir=/proc/self/fd/6\n"
                                       "STRING index=off\n"
                                       "STRING redirect_dir=on\n"
                                       "STRING metacopy=on\n"
                                       "CREATE\n");
        ovl_mountopts_clear(&p);
}
END_TEST

/* mount(2) has no datadir: the data-only lowers follow the lowers after "::" (6.5+). */
START_TEST(test_meta_legacy_string)
{
        struct ovl_mount_params p = { 0 };

        build_meta(&p, 5, 6);
        assert_legacy(&p, "lowerdir=20::30::31,upperdir=5,workdir=6,index=off,redirect_dir=on,metacopy=on");
        build_meta(&p, -1, -1);
        assert_legacy(&p, "lowerdir=20::30::31,index=off,redirect_dir=on,metacopy=on");
        ovl_mountopts_clear(&p);
}
END_TEST

/* The first failing call ends the list: no superblock is created from half the parameters. */
START_TEST(test_fsconfig_stops_at_failure)
{
        struct ovl_mount_params p = { 0 };
        struct calls c = { .fail_at = 2 };

        build_overlay(&p, 5, 6, false, false);
        ck_assert_int_eq(ovl_mountopts_emit(&p, true, record_call, &c), -EINVAL);
        ck_assert_int_eq(c.n, 2);
        ck_assert_str_eq(c.text, "STRING source=ovlbackend-abc\nFD lowerdir+=12\n");
        ovl_mountopts_clear(&p);
}
END_TEST

Suite *ovl_unit_suite(void)
{
        Suite *s = suite_create("mountopts");
        TCase *attrs = tcase_create("attrs");
        TCase *overlay = tcase_create("overlay");
        TCase *tmpfs = tcase_create("tmpfs");
        TCase *fsconfig = tcase_create("fsconfig");

        tcase_add_test(attrs, test_attrs);
        tcase_add_test(attrs, test_ms_flags);
        suite_add_tcase(s, attrs);

        tcase_add_test(overlay, test_overlay_order_with_upper);
        tcase_add_test(overlay, test_overlay_read_only);
        tcase_add_test(overlay, test_overlay_volatile_userxattr);
        tcase_add_test(overlay, test_overlay_legacy_string);
        tcase_add_test(overlay, test_overlay_one_lower);
        tcase_add_test(overlay, test_overlay_many_lowers);
        suite_add_tcase(s, overlay);

        tcase_add_test(tmpfs, test_tmpfs);
        tcase_add_test(tmpfs, test_legacy_refuses_separators);
        suite_add_tcase(s, tmpfs);

        tcase_add_test(fsconfig, test_fsconfig_by_fd);
        tcase_add_test(fsconfig, test_meta_fsconfig);
        tcase_add_test(fsconfig, test_meta_legacy_string);
        tcase_add_test(fsconfig, test_fsconfig_by_path);
        tcase_add_test(fsconfig, test_fsconfig_tmpfs);
        tcase_add_test(fsconfig, test_fsconfig_stops_at_failure);
        suite_add_tcase(s, fsconfig);
        return s;
}
