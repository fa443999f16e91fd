/* Unit tests for the claim protocol's messages (backends/assembly.c): what the parent accepts as a
 * request, and the round trip from a backend's ovl_assembly_* call to the parent's serve function
 * (in-process, as with --no-sandbox, which takes the same path). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backends/assembly.h"
#include "namespaces/sandbox.h"
#include "tests/unit/unit.h"

/* A request as the wire carries it: op, kind, then the path's bytes (len of them). */
static size_t wire(char *buf, uint32_t op, uint32_t kind, const char *path, size_t len)
{
        memcpy(buf, &op, 4);
        memcpy(buf + 4, &kind, 4);
        memcpy(buf + 8, path, len);
        return 8 + len;
}

static int parse(uint32_t op, uint32_t kind, const char *path, size_t len, struct ovl_claim_request *q)
{
        static char buf[256]; /* q->path points into it */
        struct ovl_error err = { 0 };
        int r = ovl_claim_request_parse(buf, wire(buf, op, kind, path, len), q, &err);

        ck_assert(r == 0 || (err.set && strstr(err.msg, "claim:")));
        return r;
}

START_TEST(test_well_formed)
{
        struct ovl_claim_request q;

        ck_assert_int_eq(parse(OVL_CLAIM_OP_CLAIM, OVL_CLAIM_SCRATCH, "/a/b", 5, &q), 0);
        ck_assert_int_eq(q.op, OVL_CLAIM_OP_CLAIM);
        ck_assert_int_eq(q.kind, OVL_CLAIM_SCRATCH);
        ck_assert_str_eq(q.path, "/a/b");
        ck_assert_int_eq(parse(OVL_CLAIM_OP_IDENTIFY, OVL_CLAIM_SCRATCH, "/r", 3, &q), 0);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_WITHDRAW, OVL_CLAIM_CACHE, "/w/layers/x", 12, &q), 0);
        ck_assert_int_eq(q.kind, OVL_CLAIM_CACHE);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_HAND_OVER, 0, "", 1, &q), 0);
        ck_assert_str_eq(q.path, "");
        ck_assert_int_eq(q.n_paths, 1);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_CLAIM, OVL_CLAIM_CACHE, "/w/a\0/w/b\0/c", 13, &q), 0);
        ck_assert_int_eq(q.n_paths, 3);
        ck_assert_str_eq(q.path, "/w/a");
        ck_assert_str_eq(ovl_claim_request_next(q.path), "/w/b");
        ck_assert_str_eq(ovl_claim_request_next(ovl_claim_request_next(q.path)), "/c");
}
END_TEST

START_TEST(test_malformed)
{
        struct ovl_claim_request q;
        char buf[8] = { 0 };

        ck_assert_int_eq(ovl_claim_request_parse(buf, 0, &q, NULL), -EBADMSG);
        ck_assert_int_eq(ovl_claim_request_parse(buf, wire(buf, OVL_CLAIM_OP_CLAIM, OVL_CLAIM_MOUNT, "", 0), &q, NULL),
                         -EBADMSG);
        /* The path must end exactly at the message's end, with one NUL. */
        ck_assert_int_eq(parse(OVL_CLAIM_OP_CLAIM, OVL_CLAIM_SCRATCH, "/a", 2, &q), -EBADMSG);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_CLAIM, OVL_CLAIM_SCRATCH, "/a\0b", 5, &q), -EBADMSG);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_CLAIM, OVL_CLAIM_SCRATCH, "/a\0\0", 4, &q), -EBADMSG);
        /* Several paths: only in a claim. */
        ck_assert_int_eq(parse(OVL_CLAIM_OP_WITHDRAW, OVL_CLAIM_SCRATCH, "/a\0/b", 6, &q), -EBADMSG);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_IDENTIFY, OVL_CLAIM_SCRATCH, "/a\0/b", 6, &q), -EBADMSG);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_HAND_OVER, 0, "\0", 2, &q), -EBADMSG);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_CLAIM, OVL_CLAIM_SCRATCH, "a/b", 4, &q), -EBADMSG);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_CLAIM, OVL_CLAIM_SCRATCH, "", 1, &q), -EBADMSG);
        ck_assert_int_eq(parse(0, OVL_CLAIM_SCRATCH, "/a", 3, &q), -EBADMSG);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_HAND_OVER + 1, OVL_CLAIM_SCRATCH, "/a", 3, &q), -EBADMSG);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_CLAIM, 0, "/a", 3, &q), -EBADMSG);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_CLAIM, OVL_CLAIM_CACHE + 1, "/a", 3, &q), -EBADMSG);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_HAND_OVER, 0, "/a", 3, &q), -EBADMSG);
        ck_assert_int_eq(parse(OVL_CLAIM_OP_HAND_OVER, OVL_CLAIM_MOUNT, "", 1, &q), -EBADMSG);
}
END_TEST

/* The parent's side of the round trip: what it was asked, in order. */
struct seen {
        char log[512];
        size_t len;
        int refuse_op; /* answer -EPERM to this op */
};

static int serve(void *data, const void *msg, size_t len, int fd, struct ovl_error *err)
{
        struct seen *s = data;
        struct ovl_claim_request q;
        int r = ovl_claim_request_parse(msg, len, &q, err);

        ck_assert_int_eq(r, 0);
        s->len += (size_t) snprintf(s->log + s->len, sizeof(s->log) - s->len, "%d %d %s fd=%s\n", q.op, q.kind, q.path,
                                    fd >= 0 ? "yes" : "no");
        if (fd >= 0)
                close(fd); /* serve owns it */
        if ((int) q.op == s->refuse_op)
                return ovl_error_fail(err, EPERM, "refused");
        return 0;
}

static int work(void *data, struct ovl_sandbox_link *link, struct ovl_error *err)
{
        struct ovl_assembly a = { .link = link };
        int fd = open("/", O_PATH | O_CLOEXEC), r;

        (void) data;
        r = ovl_assembly_claim(&a, OVL_CLAIM_SCRATCH, "/x/.r.1.ovlbackend-tmp", err);
        if (r == 0)
                r = ovl_assembly_identify(&a, "/x/.r.1.ovlbackend-tmp", fd, err);
        if (r == 0)
                r = ovl_assembly_withdraw(&a, OVL_CLAIM_SCRATCH, "/x/.r.1.ovlbackend-tmp", err);
        if (r == 0)
                r = ovl_assembly_hand_over(&a, fd, err);
        if (r == 0)
                r = ovl_assembly_hand_over(&a, -1, err);
        /* The caller keeps its fd: the parent got a copy. */
        ck_assert_int_eq(fcntl(fd, F_GETFD), FD_CLOEXEC);
        close(fd);
        return r;
}

START_TEST(test_round_trip_in_process)
{
        struct ovl_sandbox_settings off = { .disabled = true };
        struct seen s = { .refuse_op = -1 };
        struct ovl_error err = { 0 };

        ovl_sandbox_configure(&off);
        ck_assert_int_eq(ovl_sandbox_run(&(struct ovl_sandbox_policy){ 0 }, false, NULL, 0, work, NULL, serve, &s,
                                         &err),
                         0);
        ck_assert_str_eq(s.log, "1 1 /x/.r.1.ovlbackend-tmp fd=no\n"
                                "2 1 /x/.r.1.ovlbackend-tmp fd=yes\n"
                                "3 1 /x/.r.1.ovlbackend-tmp fd=no\n"
                                "4 0  fd=yes\n"
                                "4 0  fd=no\n");
}
END_TEST

static int claim_many(void *data, struct ovl_sandbox_link *link, struct ovl_error *err)
{
        static char names[600][64];
        char *paths[600];
        struct ovl_assembly a = { .link = link };

        (void) data;
        for (size_t i = 0; i < 600; i++) {
                snprintf(names[i], sizeof(names[i]), "/work/layers/glue-%zu-%040zu", i, i);
                paths[i] = names[i];
        }
        return ovl_assembly_claim_all(&a, OVL_CLAIM_CACHE, paths, 600, err);
}

/* Counts requests and paths, and checks every path arrives once, in order. */
static int count_claims(void *data, const void *msg, size_t len, int fd, struct ovl_error *err)
{
        size_t *counts = data;
        struct ovl_claim_request q;
        char want[64];

        ck_assert_int_eq(fd, -1);
        ck_assert_int_eq(ovl_claim_request_parse(msg, len, &q, err), 0);
        ck_assert_int_eq(q.kind, OVL_CLAIM_CACHE);
        for (size_t i = 0; i < q.n_paths; i++, q.path = ovl_claim_request_next(q.path)) {
                snprintf(want, sizeof(want), "/work/layers/glue-%zu-%040zu", counts[1], counts[1]);
                ck_assert_str_eq(q.path, want);
                counts[1]++;
        }
        counts[0]++;
        return 0;
}

START_TEST(test_claim_all_batches)
{
        struct ovl_sandbox_settings off = { .disabled = true };
        struct ovl_error err = { 0 };
        size_t counts[2] = { 0, 0 }; /* requests, paths */

        ovl_sandbox_configure(&off);
        ck_assert_int_eq(ovl_sandbox_run(&(struct ovl_sandbox_policy){ 0 }, false, NULL, 0, claim_many, NULL,
                                         count_claims, counts, &err),
                         0);
        ck_assert_int_eq(counts[1], 600);
        /* About 70 bytes a path, PATH_MAX bytes a request. */
        ck_assert_int_ge(counts[0], 600 * 70 / 4096);
        ck_assert_int_le(counts[0], 600 * 70 / 4096 + 2);
}
END_TEST

START_TEST(test_refusal_reaches_the_backend)
{
        struct ovl_sandbox_settings off = { .disabled = true };
        struct seen s = { .refuse_op = OVL_CLAIM_OP_IDENTIFY };
        struct ovl_error err = { 0 };

        ovl_sandbox_configure(&off);
        ck_assert_int_eq(ovl_sandbox_run(&(struct ovl_sandbox_policy){ 0 }, false, NULL, 0, work, NULL, serve, &s,
                                         &err),
                         -EPERM);
        ck_assert(err.set);
        ck_assert_str_eq(err.msg, "refused: Operation not permitted");
        /* Nothing after the refused request was asked. */
        ck_assert_str_eq(s.log, "1 1 /x/.r.1.ovlbackend-tmp fd=no\n2 1 /x/.r.1.ovlbackend-tmp fd=yes\n");
}
END_TEST

Suite *ovl_unit_suite(void)
{
        Suite *s = suite_create("claims");
        TCase *tc = tcase_create("claims");

        tcase_add_test(tc, test_well_formed);
        tcase_add_test(tc, test_malformed);
        tcase_add_test(tc, test_round_trip_in_process);
        tcase_add_test(tc, test_refusal_reaches_the_backend);
        tcase_add_test(tc, test_claim_all_batches);
        suite_add_tcase(s, tc);
        return s;
}
