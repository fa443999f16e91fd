/* The test build's lying worker: hooks that make a sandboxed worker send the requests a subverted
 * one could (tests/worker-claims.sh). Off unless the test hooks are (common/testhook.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/assembly.h"
#include "common/macro.h"
#include "common/syscalls.h"
#include "common/testhook.h"
#include "lifecycle/internal.h"

/* OVLBACKEND_TEST_CLAIM=KIND:PATH (a test hook): the worker claims PATH before its backend's work,
 * as a worker subverted into lying would. */
static enum ovl_claim_kind test_kind(const char *name, size_t len)
{
        static const char *const kinds[] = {
                [OVL_CLAIM_SCRATCH] = "scratch", [OVL_CLAIM_MOUNT] = "mount", [OVL_CLAIM_CACHE] = "cache"
        };

        for (size_t k = OVL_CLAIM_SCRATCH; k < ARRAY_SIZE(kinds); k++)
                if (strlen(kinds[k]) == len && strncmp(name, kinds[k], len) == 0)
                        return (enum ovl_claim_kind) k;
        return 0;
}

static int claim_hook(struct ovl_assembly *a, struct ovl_error *err)
{
        const char *want = ovl_test_hook_getenv("OVLBACKEND_TEST_CLAIM"), *colon;
        enum ovl_claim_kind kind;

        if (!want || !(colon = strchr(want, ':')))
                return 0;
        kind = test_kind(want, (size_t) (colon - want));
        return kind ? ovl_assembly_claim(a, kind, colon + 1, err) : 0;
}

/* OVLBACKEND_TEST_LIE=STEP;STEP... (a test hook): the worker runs these steps before its backend's
 * work, as a subverted one could. NAME is relative to R's parent, PATH absolute:
 *   claim:KIND:PATH, withdraw:KIND:PATH   the request as it stands;
 *   identify:NAME:PATH                    PATH identified with NAME opened as a directory;
 *   mkdir:NAME, rename:NAME:NAME          acts of the worker's own;
 *   hand-over:NAME                        NAME opened (O_PATH) handed over as the mount ("-": no
 *                                         fd, "mounted at R");
 *   hand-over-clone:PATH                  a detached clone of PATH (open_tree) handed over;
 *   done                                  the work ends here, successfully, without the backend's.
 * Returns 1 after "done", 0 when the backend's work is to follow, or -errno with err set. */
static int lie_hook(const struct ovl_run *run, struct ovl_assembly *a, struct ovl_error *err)
{
        const char *want = ovl_test_hook_getenv("OVLBACKEND_TEST_LIE");
        _cleanup_free_ char *steps = want ? strdup(want) : NULL;
        int pfd = run->req->rootfs_parent_fd;
        char *save = NULL;

        if (!want)
                return 0;
        if (!steps)
                return ovl_error_fail(err, ENOMEM, "OVLBACKEND_TEST_LIE");
        for (char *op = strtok_r(steps, ";", &save); op; op = strtok_r(NULL, ";", &save)) {
                char *arg = strchr(op, ':'), *rest = NULL;
                _cleanup_close_ int fd = -1;
                int r = 0;

                if (arg) {
                        *arg++ = '\0';
                        rest = strchr(arg, ':');
                        if (rest)
                                *rest++ = '\0';
                }
                if (strcmp(op, "done") == 0)
                        return 1;
                if (!arg)
                        return ovl_error_fail(err, EINVAL, "OVLBACKEND_TEST_LIE: %s without an argument", op);
                if ((strcmp(op, "claim") == 0 || strcmp(op, "withdraw") == 0) && rest && test_kind(arg, strlen(arg)))
                        r = (op[0] == 'c' ? ovl_assembly_claim : ovl_assembly_withdraw)(a, test_kind(arg, strlen(arg)),
                                                                                        rest, err);
                else if (strcmp(op, "identify") == 0 && rest) {
                        fd = openat(pfd, arg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        r = fd < 0 ? ovl_error_fail(err, errno, "test: %s", arg)
                                   : ovl_assembly_identify(a, rest, fd, err);
                } else if (strcmp(op, "mkdir") == 0)
                        r = mkdirat(pfd, arg, 0700) < 0 ? ovl_error_fail(err, errno, "test: mkdir %s", arg) : 0;
                else if (strcmp(op, "rename") == 0 && rest)
                        r = renameat(pfd, arg, pfd, rest) < 0 ? ovl_error_fail(err, errno, "test: rename %s", arg) : 0;
                else if (strcmp(op, "hand-over") == 0) {
                        fd = strcmp(arg, "-") == 0 ? -1 : openat(pfd, arg, O_PATH | O_DIRECTORY | O_CLOEXEC);
                        r = fd < 0 && strcmp(arg, "-") != 0 ? ovl_error_fail(err, errno, "test: %s", arg)
                                                            : ovl_assembly_hand_over(a, fd, err);
                } else if (strcmp(op, "hand-over-clone") == 0) {
                        fd = ovl_open_tree(AT_FDCWD, arg, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                        r = fd < 0 ? ovl_error_fail(err, errno, "test: open_tree %s", arg)
                                   : ovl_assembly_hand_over(a, fd, err);
                } else
                        return ovl_error_fail(err, EINVAL, "OVLBACKEND_TEST_LIE: unknown step %s", op);
                if (r < 0)
                        return r;
        }
        return 0;
}

int ovl_worker_test_lies(const struct ovl_run *run, struct ovl_assembly *a, struct ovl_error *err)
{
        int r = claim_hook(a, err);

        return r == 0 ? lie_hook(run, a, err) : r;
}
