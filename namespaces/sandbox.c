#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/testhook.h"
#include "namespaces/caps.h"
#include "namespaces/sandbox.h"
#include "namespaces/seccomp.h"

static struct ovl_sandbox_settings settings;

void ovl_sandbox_configure(const struct ovl_sandbox_settings *s)
{
        settings = *s;
}

const struct ovl_sandbox_settings *ovl_sandbox_settings(void)
{
        return &settings;
}

/* The worker's answer: the work's result and error; a mount fd rides along as SCM_RIGHTS. */
struct reply {
        int r;
        struct ovl_error err;
};

static int send_reply(int sock, const struct reply *rep, int fd)
{
        char control[CMSG_SPACE(sizeof(int))] = { 0 };
        struct iovec iov = { .iov_base = (void *) rep, .iov_len = sizeof(*rep) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (fd >= 0) {
                struct cmsghdr *c;
                msg.msg_control = control;
                msg.msg_controllen = sizeof(control);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t) sizeof(*rep) ? 0 : -errno;
}

/* Returns 1 with a reply (and *ret_fd, or -1), 0 when the worker died without one, or -errno. */
static int recv_reply(int sock, struct reply *rep, int *ret_fd)
{
        char control[CMSG_SPACE(sizeof(int))] = { 0 };
        struct iovec iov = { .iov_base = rep, .iov_len = sizeof(*rep) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                              .msg_controllen = sizeof(control) };
        struct cmsghdr *c;
        ssize_t n;

        *ret_fd = -1;
        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
        /* A mount fd the kernel had to drop (no room in our fd table) must not pass for none. */
        if (msg.msg_flags & MSG_CTRUNC)
                return -EMFILE;
        return n == (ssize_t) sizeof(*rep);
}

/* Step 2: a private mount namespace whose mounts never propagate to the host. */
static int enter_private_mount_ns(struct ovl_error *err)
{
        if (unshare(CLONE_NEWNS) < 0)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, errno, "sandbox: unshare(CLONE_NEWNS)");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, errno, "sandbox: making the mount namespace private");
        return 0;
}

/* -vv: the worker's own view of what it was left with, from /proc/self/status. */
static void log_status(void)
{
        _cleanup_free_ char *status = NULL;
        char *line, *save = NULL;

        if (ovl_log_get_level() < OVL_LOG_DEBUG || ovl_read_file_at(AT_FDCWD, "/proc/self/status", 1 << 16, &status) < 0)
                return;
        for (line = strtok_r(status, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (strncmp(line, "Cap", 3) == 0 || strncmp(line, "NoNewPrivs:", 11) == 0 ||
                    strncmp(line, "Seccomp:", 8) == 0)
                        ovl_log(OVL_LOG_DEBUG, "sandbox: worker %d %s", (int) getpid(), line);
}

/* OVLBACKEND_TEST_TRY_SYSCALLS=1 (a test hook, and only inside the sandbox): calls outside the
 * allowlist, each with arguments that make it fail harmlessly with another error than EPERM should
 * the filter let it through, and says what each returned. */
static void try_denied_syscalls(void)
{
        static const struct {
                const char *name;
                long nr, a0, a1, a2;
        } calls[] = {
                { "ptrace", SYS_ptrace, 0x4207 /* PTRACE_LISTEN */, 0, 0 },
                { "kexec_file_load", SYS_kexec_file_load, -1, -1, 0 },
                { "init_module", SYS_init_module, 0, 0, 0 },
                { "bpf", SYS_bpf, -1, 0, 0 },
                { "keyctl", SYS_keyctl, -1, 0, 0 },
                { "reboot", SYS_reboot, 0, 0, 0 },
                { "swapon", SYS_swapon, 0, 0, 0 },
                { "unshare(CLONE_NEWUSER)", SYS_unshare, CLONE_NEWUSER, 0, 0 },
        };
        const char *want = ovl_test_hook_getenv("OVLBACKEND_TEST_TRY_SYSCALLS");

        if (!want || strcmp(want, "1") != 0)
                return;
        for (size_t i = 0; i < ARRAY_SIZE(calls); i++) {
                long r = syscall(calls[i].nr, calls[i].a0, calls[i].a1, calls[i].a2, 0, 0);
                ovl_log(OVL_LOG_NORMAL, "sandbox: try %s: %s", calls[i].name, r < 0 ? strerror(errno) : "allowed");
        }
}

static int compare_fds(const void *x, const void *y)
{
        return *(const int *) x - *(const int *) y;
}

/* Step 0: the worker starts with only what its work needs. Every other fd it inherited (whatever
 * ovlbackend's own caller left open, and the parent's lock and state fds) is closed, and stdin and
 * stdout become /dev/null; stderr stays for messages. The kept fds, sorted, leave gaps that are
 * closed a range at a time, so the cost does not grow with the fd limit. Returns 0 or -errno. */
static int close_inherited_fds(int sock, const int *keep, size_t n_keep)
{
        _cleanup_free_ int *sorted = malloc((n_keep + 1) * sizeof(int));
        int null = open("/dev/null", O_RDWR | O_CLOEXEC), from = 3;

        if (!sorted)
                return -ENOMEM;
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
                return -errno;
        if (n_keep) /* keep may be NULL then (destroy hands nothing over) */
                memcpy(sorted, keep, n_keep * sizeof(int));
        sorted[n_keep] = sock;
        qsort(sorted, n_keep + 1, sizeof(int), compare_fds);
        for (size_t i = 0; i <= n_keep; i++) {
                if (sorted[i] < from)
                        continue; /* stdio, a duplicate, or -1 (none) */
                if (sorted[i] > from)
                        (void) close_range((unsigned) from, (unsigned) sorted[i] - 1, 0);
                from = sorted[i] + 1;
        }
        (void) close_range((unsigned) from, ~0U, 0);
        return 0;
}

/* Steps 0-5, then the work. Never returns. */
static void worker(int sock, pid_t parent, const struct ovl_sandbox_policy *policy, bool private_ns,
                   const int *keep, size_t n_keep, ovl_sandbox_work_fn work, void *data)
{
        struct reply rep = { 0 };
        int mnt = -1, r = 0;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(1);
        r = close_inherited_fds(sock, keep, n_keep);
        if (r < 0)
                r = ovl_error_set(&rep.err, OVL_ERR_UNSUPPORTED, -r, "sandbox: closing inherited fds");
        if (r == 0 && private_ns)
                r = enter_private_mount_ns(&rep.err);
        if (r == 0)
                r = ovl_caps_limit(policy->caps, policy->n_caps, &rep.err);
        if (r == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                r = ovl_error_set(&rep.err, OVL_ERR_UNSUPPORTED, errno, "sandbox: PR_SET_NO_NEW_PRIVS");
        if (r == 0)
                r = ovl_seccomp_load(policy->syscalls, settings.kill_on_deny, &rep.err);
        if (r < 0 && rep.err.class == OVL_ERR_UNSUPPORTED)
                ovl_error_append(&rep.err, " (--no-sandbox runs without the sandbox)");
        if (r == 0) {
                log_status();
                try_denied_syscalls();
                ovl_test_stop_point("sandboxed");
                r = work(data, &mnt, &rep.err);
        }
        rep.r = r;
        ovl_test_stop_point("handback");
        _exit(send_reply(sock, &rep, r == 0 ? mnt : -1) < 0 ? 1 : 0);
}

static int worker_died(pid_t pid, struct ovl_error *err)
{
        int status = 0;
        pid_t w;

        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                ;
        if (w < 0)
                return ovl_error_fail(err, errno, "sandbox: waiting for the worker");
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
                return ovl_error_fail(err, 0, "sandbox: the worker was killed by its seccomp filter (a system call "
                                      "outside the allowlist; --seccomp-deny=eperm makes such calls fail instead)");
        if (WIFSIGNALED(status))
                return ovl_error_fail(err, 0, "sandbox: the worker died of signal %d", WTERMSIG(status));
        return ovl_error_fail(err, 0, "sandbox: the worker exited (status %d) without an answer", WEXITSTATUS(status));
}

int ovl_sandbox_run(const struct ovl_sandbox_policy *policy, bool private_ns, const int *keep, size_t n_keep,
                    ovl_sandbox_work_fn work, void *data, int *ret_mnt_fd, struct ovl_error *err)
{
        struct reply rep = { 0 };
        pid_t parent = getpid(), pid;
        int sv[2], r;

        *ret_mnt_fd = -1;
        if (settings.disabled)
                return work(data, ret_mnt_fd, err);
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return ovl_error_fail(err, errno, "sandbox: socketpair");
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
                close(sv[0]);
                worker(sv[1], parent, policy, private_ns, keep, n_keep, work, data);
        }
        close(sv[1]);
        if (pid < 0) {
                close(sv[0]);
                return ovl_error_fail(err, errno, "sandbox: fork");
        }
        r = recv_reply(sv[0], &rep, ret_mnt_fd);
        close(sv[0]);
        if (r <= 0 || rep.r < 0) {
                if (*ret_mnt_fd >= 0)
                        close(*ret_mnt_fd);
                *ret_mnt_fd = -1;
        }
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) worker_died(pid, NULL);
                return ovl_error_fail(err, -r, "sandbox: reading the worker's answer");
        }
        if (r == 0)
                return worker_died(pid, err);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        if (rep.r < 0 && err)
                *err = rep.err;
        /* A failure must say something, even when the work forgot to. */
        if (rep.r < 0 && err && !err->set)
                ovl_error_fail(err, -rep.r, "sandbox: the worker failed");
        return rep.r;
}
