#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
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

/* What travels on the socketpair. Each message is one SEQPACKET datagram: a header, then for a
 * call the request's bytes, for an answer and for the result the error; an fd rides along as
 * SCM_RIGHTS. */
enum message_type {
        MESSAGE_CALL = 1,   /* worker -> parent: a request */
        MESSAGE_ANSWER = 2, /* parent -> worker: the answer to the last request */
        MESSAGE_DONE = 3,   /* worker -> parent: the work's result, last */
};

struct message_header {
        uint32_t type;
        int32_t r;
};

/* A request is a claim or a hand-over: a path and a few words. Anything longer is not ours. */
#define MESSAGE_MAX (sizeof(struct message_header) + 2 * PATH_MAX)

struct ovl_sandbox_link {
        int sock;                   /* the worker's end; -1 when the work runs in-process */
        ovl_sandbox_serve_fn serve; /* in-process: the parent's code, called directly */
        void *serve_data;
};

static int send_message(int sock, enum message_type type, int r, const void *body, size_t len, int fd, int flags)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = { 0 };
        struct message_header h = { .type = type, .r = r };
        struct iovec iov[2] = { { .iov_base = &h, .iov_len = sizeof(h) },
                                { .iov_base = (void *) body, .iov_len = len } };
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

        if (fd >= 0) {
                struct cmsghdr *c;
                msg.msg_control = &control;
                msg.msg_controllen = sizeof(control);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        return RETRY_EINTR(sendmsg(sock, &msg, MSG_NOSIGNAL | flags)) == (long) (sizeof(h) + len) ? 0 : -errno;
}

/* Room for more fds than any message carries, so that extra ones arrive, and are closed, rather
 * than being taken for none: on 64-bit, CMSG_SPACE of one int has room for two. */
#define CONTROL_FDS 8

/* Receives one message into buf (MESSAGE_MAX bytes). Returns its length (0: the other side is
 * gone, or sent an empty message) with *ret_fd (or -1), or -errno. Every fd that came with it is
 * closed unless the message is well formed and carries exactly one: a message cut short, fds that
 * did not fit (MSG_CTRUNC), several fds, or an fd without a message is an error, never taken for
 * something smaller. */
static ssize_t recv_message(int sock, void *buf, int flags, int *ret_fd)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(CONTROL_FDS * sizeof(int))];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = MESSAGE_MAX };
        struct msghdr msg = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)
        };
        size_t n_fds = 0;
        ssize_t n, r = 0;

        *ret_fd = -1;
        memset(&control, 0, sizeof(control));
        n = RETRY_EINTR(recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags));
        if (n < 0)
                return -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
                        continue;
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (n_fds++ == 0)
                                *ret_fd = fd;
                        else
                                safe_close(fd);
                }
        }
        if (msg.msg_flags & MSG_TRUNC)
                r = -EMSGSIZE;
        else if (msg.msg_flags & MSG_CTRUNC)
                r = -EMFILE; /* an fd the kernel had to drop must not pass for none */
        else if (n_fds > 1 || (n_fds && n == 0) || (n > 0 && (size_t) n < sizeof(struct message_header)))
                r = -EBADMSG;
        if (r < 0) {
                *ret_fd = safe_close(*ret_fd);
                return r;
        }
        return n;
}

/* An answer or a result: the header and exactly one error, each field in its range (the result
 * comes from the worker, and its error reaches the caller's exit code and message). Returns 0 or
 * -EBADMSG. */
static int read_outcome(const void *buf, ssize_t n, int *ret_r, struct ovl_error *err)
{
        struct message_header h;
        struct ovl_error e;
        unsigned char set;

        if (n != (ssize_t) (sizeof(h) + sizeof(e)))
                return -EBADMSG;
        memcpy(&h, buf, sizeof(h));
        /* A bool holding anything but 0 or 1 is undefined behaviour: look at the byte first. */
        memcpy(&set, (const char *) buf + sizeof(h) + offsetof(struct ovl_error, set), 1);
        if (set > 1)
                return -EBADMSG;
        memcpy(&e, (const char *) buf + sizeof(h), sizeof(e));
        e.msg[sizeof(e.msg) - 1] = '\0';
        if (h.r > 0 || h.r < -4095 || (h.r < 0 && !e.set))
                return -EBADMSG;
        if (e.set && (e.code < 0 || e.code > 4095 || e.class < OVL_ERR_FAILED || e.class > OVL_ERR_UNSUPPORTED))
                return -EBADMSG;
        *ret_r = h.r;
        if (h.r < 0 && err && !err->set)
                *err = e;
        return 0;
}

int ovl_sandbox_call(struct ovl_sandbox_link *link, const void *msg, size_t len, int fd, struct ovl_error *err)
{
        _cleanup_free_ void *buf = NULL;
        struct message_header h;
        int got_fd = -1, r;
        ssize_t n;

        /* The same limit in-process, so that --no-sandbox behaves as the sandbox does. */
        if (len > MESSAGE_MAX - sizeof(h))
                return ovl_error_fail(err, EMSGSIZE, "sandbox: a request of %zu bytes", len);
        if (link->sock < 0) {
                int copy = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
                if (fd >= 0 && copy < 0)
                        return ovl_error_fail(err, errno, "sandbox: handing an fd over");
                return link->serve ? link->serve(link->serve_data, msg, len, copy, err)
                                   : (safe_close(copy), ovl_error_fail(err, EPERM, "sandbox: nobody to ask"));
        }
        r = send_message(link->sock, MESSAGE_CALL, 0, msg, len, fd, 0);
        if (r < 0)
                return ovl_error_fail(err, -r, "sandbox: asking the parent");
        buf = malloc(MESSAGE_MAX);
        if (!buf)
                return ovl_error_fail(err, ENOMEM, "sandbox");
        n = recv_message(link->sock, buf, 0, &got_fd);
        safe_close(got_fd); /* the parent never sends one */
        if (n <= 0)
                return ovl_error_fail(err, n < 0 ? (int) -n : EPIPE, "sandbox: waiting for the parent's answer");
        memcpy(&h, buf, sizeof(h));
        if (h.type != MESSAGE_ANSWER || read_outcome(buf, n, &r, err) < 0)
                return ovl_error_fail(err, EBADMSG, "sandbox: the parent's answer");
        return r;
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

        if (ovl_log_get_level() < OVL_LOG_DEBUG ||
            ovl_read_file_at(AT_FDCWD, "/proc/self/status", 1 << 16, &status) < 0)
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

/* OVLBACKEND_TEST_WIRE=NAME (a test hook, and only inside the sandbox): the worker breaks the
 * line's rules as a subverted one could, to show that the parent neither leaks an fd nor waits
 * forever: "two-fds" (one request carrying two fds), "empty" (a message of no bytes, then silence),
 * "huge" (a request longer than any), "flood" (requests without reading the answers, then
 * silence), "orphan" (the line left to a child that keeps it open, the worker gone without a
 * result), "done-then-hang" (a result, then no exit), "bad-done" (a result out of range) and
 * "fd-done" (a result carrying an fd). Only in an assemble's worker (one that may ask, in a private
 * mount namespace), not a destroy's or a rollback's, which may ask too (whether it may remove
 * what a mount still held elsewhere uses). Returns only when NAME is none of those. */
static void wire_test(int sock)
{
        const char *want = ovl_test_hook_getenv("OVLBACKEND_TEST_WIRE");
        struct timespec minute = { .tv_sec = 60 };
        struct ovl_error e = { 0 };
        char body[16] = "";
        int status = 0;

        if (!want)
                return;
        if (strcmp(want, "two-fds") == 0) {
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(2 * sizeof(int))];
                } control = { 0 };
                int fds[2] = { open("/dev/null", O_RDONLY | O_CLOEXEC), open("/dev/null", O_RDONLY | O_CLOEXEC) };
                struct message_header h = { .type = MESSAGE_CALL };
                struct iovec iov[2] = { { .iov_base = &h, .iov_len = sizeof(h) }, { .iov_base = body, .iov_len = 9 } };
                struct msghdr msg = {
                        .msg_iov = iov, .msg_iovlen = 2, .msg_control = &control, .msg_controllen = sizeof(control)
                };
                struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(2 * sizeof(int));
                memcpy(CMSG_DATA(c), fds, sizeof(fds));
                status = sendmsg(sock, &msg, MSG_NOSIGNAL) < 0;
        } else if (strcmp(want, "empty") == 0) {
                struct msghdr msg = { 0 }; /* sendto is not in the allowlist */
                status = sendmsg(sock, &msg, MSG_NOSIGNAL) < 0;
        } else if (strcmp(want, "huge") == 0) {
                _cleanup_free_ char *big = calloc(1, MESSAGE_MAX + 64);
                status = !big || send_message(sock, MESSAGE_CALL, 0, big, MESSAGE_MAX + 64, -1, 0) < 0;
        } else if (strcmp(want, "flood") == 0) {
                for (int i = 0; i < 100000 && status == 0; i++)
                        status = send_message(sock, MESSAGE_CALL, 0, body, 9, -1, 0) < 0;
        } else if (strcmp(want, "orphan") == 0) {
                pid_t child = fork();
                if (child == 0) {
                        struct timespec half = { .tv_sec = 30 };
                        (void) nanosleep(&half, NULL);
                        _exit(0);
                }
                _exit(child < 0);
        } else if (strcmp(want, "done-then-hang") == 0) {
                status = send_message(sock, MESSAGE_DONE, 0, &e, sizeof(e), -1, 0) < 0;
        } else if (strcmp(want, "bad-done") == 0) {
                ovl_error_fail(&e, 0, "a result out of range");
                status = send_message(sock, MESSAGE_DONE, INT32_MIN, &e, sizeof(e), -1, 0) < 0;
        } else if (strcmp(want, "fd-done") == 0) {
                status = send_message(sock, MESSAGE_DONE, 0, &e, sizeof(e), STDERR_FILENO, 0) < 0;
        } else {
                return;
        }
        if (status)
                ovl_log(OVL_LOG_NORMAL, "sandbox: test %s: could not send: %s", want, strerror(errno));
        (void) nanosleep(&minute, NULL);
        _exit(status);
}

/* Steps 0-5, then the work. Never returns. */
static void worker(int sock, pid_t parent, const struct ovl_sandbox_policy *policy, bool private_ns, const int *keep,
                   size_t n_keep, ovl_sandbox_work_fn work, void *data, bool may_ask)
{
        struct ovl_sandbox_link link = { .sock = sock };
        struct {
                struct ovl_error err;
        } rep = { 0 };
        int r = 0;

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
                if (may_ask && private_ns)
                        wire_test(sock);
                r = work(data, &link, &rep.err);
        }
        /* A failure must say something, even when the work forgot to. */
        if (r < 0 && !rep.err.set)
                ovl_error_fail(&rep.err, -r, "sandbox: the worker failed");
        ovl_test_stop_point("handback");
        _exit(send_message(sock, MESSAGE_DONE, r < 0 ? r : 0, &rep.err, sizeof(rep.err), -1, 0) < 0 ? 1 : 0);
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
                return ovl_error_fail(err, 0,
                                      "sandbox: the worker was killed by its seccomp filter (a system call "
                                      "outside the allowlist; --seccomp-deny=eperm makes such calls fail instead)");
        if (WIFSIGNALED(status))
                return ovl_error_fail(err, 0, "sandbox: the worker died of signal %d", WTERMSIG(status));
        return ovl_error_fail(err, 0, "sandbox: the worker exited (status %d) without an answer", WEXITSTATUS(status));
}

/* Whether the worker has exited (a zombie not yet reaped): 1, 0, or -errno. */
static int worker_exited(pid_t pid)
{
        siginfo_t si = { 0 };

        if (waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
                return -errno;
        return si.si_pid == pid;
}

/* Waits for a message from the worker. The line alone cannot say when the worker is gone: a child
 * it forked may hold its end open, so while waiting the parent also looks, once a second, whether
 * the worker itself has exited. Returns 1 (a message waits), 2 (one waits, but the worker has
 * exited), 0 (it has exited and left nothing), or -errno. A worker that lives on and says nothing
 * is waited for: a copy of a large layer says nothing for as long as it takes. */
static int wait_for_message(int sock, pid_t pid)
{
        for (;;) {
                struct pollfd p = { .fd = sock, .events = POLLIN };
                int r = poll(&p, 1, 1000);

                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0)
                        return 1;
                if (r < 0)
                        continue;
                r = worker_exited(pid);
                if (r != 0)
                        return r < 0 ? r : poll(&p, 1, 0) > 0 ? 2 : 0;
        }
}

/* The parent's side: serves the worker's requests until its result comes. Returns 1 with the
 * result in *ret_r (and err), 0 when the worker ended without one, or -errno with err set when it
 * broke the line's rules (then it is to be killed). The answers never block: a worker that does not
 * read them is breaking the rules, not a reason for the parent to wait. */
static int serve_worker(int sock, pid_t pid, ovl_sandbox_serve_fn serve, void *serve_data, int *ret_r,
                        struct ovl_error *err)
{
        _cleanup_free_ char *buf = malloc(MESSAGE_MAX);
        struct message_header h;

        if (!buf)
                return ovl_error_fail(err, ENOMEM, "sandbox");
        for (;;) {
                struct ovl_error e = { 0 };
                int fd = -1, r = wait_for_message(sock, pid);
                bool exited = r == 2;
                ssize_t n;

                if (r <= 0)
                        return r < 0 ? ovl_error_fail(err, -r, "sandbox: waiting for the worker") : 0;
                n = recv_message(sock, buf, MSG_DONTWAIT, &fd);
                if (n == -EAGAIN)
                        continue;
                if (n == -EMSGSIZE || n == -EMFILE || n == -EBADMSG)
                        return ovl_error_fail(err, 0,
                                              "sandbox: the worker sent a malformed message (%s); it was "
                                              "stopped",
                                              n == -EMSGSIZE ? "too long"
                                              : n == -EMFILE ? "fds that did not fit"
                                                             : "several fds, an fd alone, or a cut header");
                if (n < 0)
                        return ovl_error_fail(err, (int) -n, "sandbox: reading from the worker");
                if (n == 0)
                        return 0;
                memcpy(&h, buf, sizeof(h));
                if (h.type == MESSAGE_DONE) {
                        safe_close(fd);
                        if (read_outcome(buf, n, ret_r, err) < 0)
                                return ovl_error_fail(err, 0,
                                                      "sandbox: the worker's result is malformed; it was "
                                                      "stopped");
                        return 1;
                }
                /* What a worker sends once it is gone came from a child it left behind. */
                if (h.type != MESSAGE_CALL || exited) {
                        safe_close(fd);
                        return exited ? 0
                                      : ovl_error_fail(err, 0,
                                                       "sandbox: the worker sent a message of type %u; "
                                                       "it was stopped",
                                                       (unsigned) h.type);
                }
                r = serve ? serve(serve_data, buf + sizeof(h), (size_t) n - sizeof(h), fd, &e)
                          : (safe_close(fd), ovl_error_fail(&e, EPERM, "sandbox: the worker may not ask anything"));
                if (r < 0 && !e.set)
                        ovl_error_fail(&e, -r, "sandbox: a request of the worker");
                r = send_message(sock, MESSAGE_ANSWER, r < 0 ? r : 0, &e, sizeof(e), -1, MSG_DONTWAIT);
                if (r == -EAGAIN)
                        return ovl_error_fail(err, 0, "sandbox: the worker does not read its answers; it was stopped");
                if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                        return ovl_error_fail(err, -r, "sandbox: answering the worker");
        }
}

/* The worker's line ended without a result: it died (its status says how), or, alive, it broke
 * the line off (an empty message, or its end closed), and is killed. Returns -errno with err set. */
static int worker_ended(pid_t pid, struct ovl_error *err)
{
        struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };

        /* The line closes as the worker exits, a moment before it can be waited for. */
        for (int i = 0; i < 100 && worker_exited(pid) == 0; i++)
                (void) nanosleep(&tick, NULL);
        if (worker_exited(pid) == 0) {
                (void) kill(pid, SIGKILL);
                (void) worker_died(pid, NULL);
                return ovl_error_fail(err, 0, "sandbox: the worker stopped talking without a result; it was killed");
        }
        return worker_died(pid, err);
}

int ovl_sandbox_run(const struct ovl_sandbox_policy *policy, bool private_ns, const int *keep, size_t n_keep,
                    ovl_sandbox_work_fn work, void *work_data, ovl_sandbox_serve_fn serve, void *serve_data,
                    struct ovl_error *err)
{
        pid_t parent = getpid(), pid;
        int sv[2], r, result = 0;

        if (settings.disabled) {
                struct ovl_sandbox_link link = { .sock = -1, .serve = serve, .serve_data = serve_data };
                return work(work_data, &link, err);
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return ovl_error_fail(err, errno, "sandbox: socketpair");
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
                close(sv[0]);
                worker(sv[1], parent, policy, private_ns, keep, n_keep, work, work_data, serve != NULL);
        }
        close(sv[1]);
        if (pid < 0) {
                close(sv[0]);
                return ovl_error_fail(err, errno, "sandbox: fork");
        }
        r = serve_worker(sv[0], pid, serve, serve_data, &result, err);
        close(sv[0]);
        if (r == 0)
                return worker_ended(pid, err);
        /* After its result (or a broken rule) the worker has nothing left to do: one that does not
         * exit by itself must not keep the parent waiting. */
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return r < 0 ? r : result;
}
