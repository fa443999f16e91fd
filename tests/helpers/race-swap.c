/* race-swap SECONDS PATH_A PATH_B: the racing neighbour of the attacker tests
 * (tests/race-legacy-mount.sh, tests/race-destroy.sh). Run as an unprivileged user who may write
 * the directories holding PATH_A and PATH_B, it exchanges the two entries with
 * renameat2(RENAME_EXCHANGE), over and over, until SECONDS have passed or SIGTERM/SIGINT arrives.
 * Both names always exist, each naming one of the two entries: a directory and a symlink to a
 * decoy make PATH_A flip between the directory and the symlink; two directories make a path
 * through PATH_A reach either. A missing entry (not created yet, or removed meanwhile) and a
 * directory with a mount on it (EBUSY) are waited for: the exchange is retried until the time is
 * up. Any other error ends the race.
 *
 * It writes "ready" on stdout once it is about to start, so a test can wait for it by reading a
 * line rather than by sleeping, and on exit "race-swap: N exchanges" on stderr, so a test can
 * tell a race that never happened from one that was won. SECONDS may be fractional; 0 makes one
 * exchange and exits 1 if it failed (to put two entries back in place). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void) sig;
        stop = 1;
}

/* Returns 0 or -errno. Through syscall(2): older C libraries have no renameat2 wrapper. */
static int exchange(const char *a, const char *b)
{
        return syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) < 0 ? -errno : 0;
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        struct sigaction sa = { .sa_handler = on_signal };
        unsigned long long done = 0, waited = 0;
        double seconds, end;
        char *tail = NULL;
        int r = 0;

        if (argc != 4) {
                fprintf(stderr, "usage: race-swap SECONDS PATH_A PATH_B\n");
                return 2;
        }
        seconds = strtod(argv[1], &tail);
        if (!*argv[1] || *tail || seconds < 0 || seconds > 3600) {
                fprintf(stderr, "race-swap: bad SECONDS '%s' (0 to 3600)\n", argv[1]);
                return 2;
        }
        if (seconds == 0) {
                r = exchange(argv[2], argv[3]);
                if (r < 0)
                        fprintf(stderr, "race-swap: exchanging %s and %s: %s\n", argv[2], argv[3], strerror(-r));
                return r < 0;
        }
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
                return 1;
        /* A test that dies without stopping its racer stops it all the same. */
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
        /* Nobody need read more than the first line: a closed pipe must not kill the racer. */
        signal(SIGPIPE, SIG_IGN);
        printf("ready\n");
        fflush(stdout);

        end = now_s() + seconds;
        while (!stop) {
                /* The clock is read every 1024 rounds only: the exchanges are what must be fast. */
                for (int i = 0; i < 1024 && !stop; i++) {
                        r = exchange(argv[2], argv[3]);
                        if (r == 0)
                                done++;
                        else if (r == -ENOENT || r == -EBUSY)
                                waited++;
                        else
                                break;
                }
                if (r < 0 && r != -ENOENT && r != -EBUSY) {
                        fprintf(stderr, "race-swap: exchanging %s and %s: %s\n", argv[2], argv[3], strerror(-r));
                        break;
                }
                if (now_s() >= end)
                        break;
        }
        fprintf(stderr, "race-swap: %llu exchanges (%llu tries found an entry missing or mounted on)\n", done, waited);
        return r < 0 && r != -ENOENT && r != -EBUSY;
}
