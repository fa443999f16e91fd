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
 * The worker and its parent talk over a socketpair: the worker asks, the parent answers (see
 * ovl_sandbox_call), and the worker's result comes last. What a request means is the caller's
 * business (lifecycle/worker.c: claims, and the finished mount as a detached mount fd over
 * SCM_RIGHTS, which the parent attaches at R from the host namespace). With --no-sandbox (and
 * only then) the work runs in-process and its requests reach the parent's code directly. */
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

/* The line between a worker and its parent. The worker asks (ovl_sandbox_call) and waits; the
 * parent answers each request with its serve function before the worker may go on, and learns the
 * work's result last. Without the sandbox the same calls reach serve directly, so a run behaves the
 * same either way. */
struct ovl_sandbox_link;

/* The parent's side of a request: msg (len bytes, as the worker sent them, untrusted) and the fd
 * that came with it, or -1, which serve owns from then on. Returns 0 or -errno with err set; the
 * worker's ovl_sandbox_call returns the same. */
typedef int (*ovl_sandbox_serve_fn)(void *data, const void *msg, size_t len, int fd, struct ovl_error *err);

/* The work a worker does, asking through link: returns 0 or -errno with err set. */
typedef int (*ovl_sandbox_work_fn)(void *data, struct ovl_sandbox_link *link, struct ovl_error *err);

/* Sends msg (and a copy of fd, when fd >= 0; the caller keeps its own) to the parent and waits for
 * its answer. Returns the parent's 0 or -errno (with err set), or -errno when the line broke. */
int ovl_sandbox_call(struct ovl_sandbox_link *link, const void *msg, size_t len, int fd, struct ovl_error *err);

/* Runs work in a sandboxed worker (in-process when disabled), serving its requests with serve
 * (may be NULL: then every request is refused). keep: the n_keep fds the work uses; the worker
 * closes every other fd above stderr before anything else. private_ns: a private mount namespace
 * (assemble), or the host's (destroy, which unmounts R there; the mount(2) fallback). The worker is
 * untrusted: a message that breaks the line's rules (too long, several fds, an fd without a
 * message, a result out of range, answers left unread) stops it, every fd that came with a message
 * is closed unless serve takes it, and the parent stops waiting once the worker has exited (a child
 * it forked may hold the line open) or has sent its result (it is killed then, should it linger).
 * Returns the work's result, or -errno with err set when the sandbox could not be set up
 * (OVL_ERR_UNSUPPORTED, naming the step), the worker died, or it broke the rules. */
int ovl_sandbox_run(const struct ovl_sandbox_policy *policy, bool private_ns, const int *keep, size_t n_keep,
                    ovl_sandbox_work_fn work, void *work_data, ovl_sandbox_serve_fn serve, void *serve_data,
                    struct ovl_error *err);
