/* The sandbox around every privileged step. Each assemble (and destroy, and gc's rollbacks) runs
 * its backend's work in a forked worker that, in this order:
 *   0. closes every fd it inherited but the ones its work is handed (and stdin/stdout become
 *      /dev/null), so nothing ovlbackend's caller left open reaches it;
 *   1. dies with its parent (PR_SET_PDEATHSIG), so a killed ovlbackend leaves no worker behind;
 *   2. for assemble, enters a private mount namespace (unshare(CLONE_NEWNS), MS_REC|MS_PRIVATE):
 *      scratch mounts, tmpfs uppers and test mounts stay there and vanish with the worker. Not on
 *      a kernel without the new mount API for a backend that mounts: without fsmount/open_tree a
 *      mount cannot leave a namespace, so that worker mounts at R from the host's namespace
 *      (still with its capability limits and seccomp filter);
 *   3. keeps only the capabilities its backend declares (bounding, permitted, effective; no
 *      inheritable or ambient ones);
 *   4. sets no_new_privs;
 *   5. loads a seccomp allowlist (mount calls only for backends that mount).
 * The finished mount comes back to the parent as a detached mount fd over a socketpair
 * (SCM_RIGHTS); the parent, still in the host namespace, attaches it at R with move_mount, and does
 * nothing else privileged. With --no-sandbox (and only then) the work runs in-process. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* What one backend's worker may do. */
struct ovl_sandbox_policy {
        const int *caps; /* CAP_* numbers it keeps */
        size_t n_caps;
        unsigned syscalls; /* OVL_SYSCALLS_* groups beyond the base set */
};

/* Process-wide settings, from the command line. */
struct ovl_sandbox_settings {
        bool disabled;     /* --no-sandbox */
        bool kill_on_deny; /* --seccomp-deny=kill */
};

void ovl_sandbox_configure(const struct ovl_sandbox_settings *s);
const struct ovl_sandbox_settings *ovl_sandbox_settings(void);

/* The work a worker does: returns 0 or -errno with err set; may leave a detached mount in
 * *ret_mnt_fd for the parent. */
typedef int (*ovl_sandbox_work_fn)(void *data, int *ret_mnt_fd, struct ovl_error *err);

/* Runs work in a sandboxed worker (in-process when disabled). keep: the n_keep fds the work uses;
 * the worker closes every other fd above stderr before anything else. private_ns: a private mount
 * namespace (assemble), or the host's (destroy, which unmounts R there; the mount(2) fallback). *ret_mnt_fd gets the
 * mount the work left, or -1. Returns the work's result, or -errno with err set when the sandbox
 * could not be set up (OVL_ERR_UNSUPPORTED, naming the step). */
int ovl_sandbox_run(const struct ovl_sandbox_policy *policy, bool private_ns, const int *keep, size_t n_keep,
                    ovl_sandbox_work_fn work, void *data, int *ret_mnt_fd, struct ovl_error *err);
