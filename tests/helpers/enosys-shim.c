/* enosys-shim CMD [ARG...]: runs CMD under a seccomp filter that makes the new mount API and
 * openat2 fail with ENOSYS, as on a kernel that predates them (crun's tests do the same). Used by
 * tests/legacy-kernel.sh to run integration tests against the legacy paths through the kernel
 * interface itself rather than ovlbackend's own switch. */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static const char *const new_calls[] = {
        "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "openat2",
};

int main(int argc, char **argv)
{
        scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);

        if (argc < 2) {
                fprintf(stderr, "usage: enosys-shim CMD [ARG...]\n");
                return 2;
        }
        if (!f)
                return 1;
        for (size_t i = 0; i < sizeof(new_calls) / sizeof(new_calls[0]); i++) {
                int nr = seccomp_syscall_resolve_name(new_calls[i]);
                if (nr != __NR_SCMP_ERROR && seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), nr, 0) < 0) {
                        fprintf(stderr, "enosys-shim: rule for %s failed\n", new_calls[i]);
                        return 1;
                }
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_load(f) < 0) {
                fprintf(stderr, "enosys-shim: loading the filter: %s\n", strerror(errno));
                return 1;
        }
        seccomp_release(f);
        execvp(argv[1], argv + 1);
        fprintf(stderr, "enosys-shim: %s: %s\n", argv[1], strerror(errno));
        return 127;
}
