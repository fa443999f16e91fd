#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/param.h>
#include <unistd.h>

#include "backends/copy_pool.h"
#include "common/macro.h"

/* Jobs waiting per worker: enough to keep each busy while the walk makes the next names. */
#define QUEUE_PER_WORKER 32

/* The share of the open-file limit the jobs may hold, queued or running: the walk needs the rest,
 * one directory per level and layer (merge.h). */
#define FD_SHARE_DIVISOR 4

/* The fds one job may keep open at worst: its source and destination, and, when it is the only
 * job in its directory, that directory's two (copy_engine.c) and a copy of its source's. */
#define FDS_PER_JOB 5

struct ovl_copy_pool {
        ovl_copy_job_fn fn;
        ovl_copy_release_fn release;
        void *ctx;
        unsigned workers;
        pthread_t threads[OVL_COPY_MAX_WORKERS];
        unsigned started;
        pthread_mutex_t lock;
        pthread_cond_t not_empty, not_full;
        struct ovl_copy_job *queue; /* a ring of cap jobs */
        size_t cap, head, count;
        bool stopping;
        int failed;             /* the first failed job's -errno, 0 while none has */
        struct ovl_error error; /* its message */
};

struct worker_arg {
        struct ovl_copy_pool *pool;
        unsigned index;
};

/* Frees a job after fn ran on it, or when it is dropped unrun. */
static void job_release(struct ovl_copy_pool *p, struct ovl_copy_job *job)
{
        if (p->release)
                p->release(p->ctx, job);
        safe_close(job->src);
        safe_close(job->dst);
        free(job->path);
        job->src = job->dst = -1;
        job->path = NULL;
}

unsigned ovl_copy_pool_default_workers(void)
{
        cpu_set_t set;
        int n;

        if (sched_getaffinity(0, sizeof(set), &set) < 0)
                return 1;
        n = CPU_COUNT(&set);
        return n < 1 ? 1 : n > OVL_COPY_MAX_WORKERS ? OVL_COPY_MAX_WORKERS : (unsigned) n;
}

/* How many jobs may be queued or running at once: at most 1/FD_SHARE_DIVISOR of the open-file
 * limit, so --jobs never makes a walk run out of fds that the single-threaded engine finishes. */
static size_t job_budget(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                return SIZE_MAX;
        return MAX((size_t) rl.rlim_cur / FD_SHARE_DIVISOR / FDS_PER_JOB, 2);
}

static void *worker_main(void *data)
{
        struct worker_arg arg = *(struct worker_arg *) data;
        struct ovl_copy_pool *p = arg.pool;

        free(data);
        for (;;) {
                struct ovl_copy_job job;
                struct ovl_error err = { 0 };
                int r = 0;

                pthread_mutex_lock(&p->lock);
                while (p->count == 0 && !p->stopping)
                        pthread_cond_wait(&p->not_empty, &p->lock);
                if (p->count == 0) {
                        pthread_mutex_unlock(&p->lock);
                        return NULL;
                }
                job = p->queue[p->head];
                p->head = (p->head + 1) % p->cap;
                p->count--;
                /* After a failure the queued jobs are only released: the walk is stopping. */
                if (!p->failed) {
                        pthread_mutex_unlock(&p->lock);
                        r = p->fn(p->ctx, arg.index, &job, &err);
                        pthread_mutex_lock(&p->lock);
                }
                if (r < 0 && !p->failed) {
                        p->failed = r;
                        p->error = err;
                }
                pthread_cond_signal(&p->not_full);
                pthread_mutex_unlock(&p->lock);
                job_release(p, &job);
        }
}

int ovl_copy_pool_start(unsigned workers, ovl_copy_job_fn fn, ovl_copy_release_fn release, void *ctx,
                        struct ovl_copy_pool **ret)
{
        struct ovl_copy_pool *p = calloc(1, sizeof(*p));
        size_t budget = job_budget();

        if (!p)
                return -ENOMEM;
        *p = (struct ovl_copy_pool){
                .fn = fn, .release = release, .ctx = ctx, .workers = MIN(workers, OVL_COPY_MAX_WORKERS)
        };
        /* Within the fd budget: at most half of it running, the rest queued. */
        p->workers = (unsigned) MIN(p->workers, budget / 2);
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->not_empty, NULL);
        pthread_cond_init(&p->not_full, NULL);
        if (p->workers > 0) {
                p->cap = MIN((size_t) p->workers * QUEUE_PER_WORKER, budget - p->workers);
                p->queue = calloc(p->cap, sizeof(*p->queue));
        }
        for (unsigned i = 0; p->queue && i < p->workers; i++) {
                struct worker_arg *arg = malloc(sizeof(*arg));
                if (arg)
                        *arg = (struct worker_arg){ p, i };
                if (!arg || pthread_create(&p->threads[i], NULL, worker_main, arg) != 0) {
                        free(arg);
                        break;
                }
                p->started++;
        }
        if (p->started < p->workers) {
                ovl_copy_pool_finish(p, NULL);
                return -EAGAIN;
        }
        *ret = p;
        return 0;
}

int ovl_copy_pool_submit(struct ovl_copy_pool *p, struct ovl_copy_job *job, struct ovl_error *err)
{
        int r;

        if (p->workers == 0) {
                r = p->fn(p->ctx, 0, job, err);
                job_release(p, job);
                return r;
        }
        pthread_mutex_lock(&p->lock);
        while (p->count == p->cap && !p->failed)
                pthread_cond_wait(&p->not_full, &p->lock);
        r = p->failed;
        if (r == 0) {
                p->queue[(p->head + p->count) % p->cap] = *job;
                p->count++;
                pthread_cond_signal(&p->not_empty);
                *job = (struct ovl_copy_job){ .src = -1, .dst = -1 };
        } else if (err && !err->set)
                *err = p->error;
        pthread_mutex_unlock(&p->lock);
        job_release(p, job);
        return r;
}

int ovl_copy_pool_finish(struct ovl_copy_pool *p, struct ovl_error *err)
{
        int r;

        if (!p)
                return 0;
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->not_empty);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->started; i++)
                pthread_join(p->threads[i], NULL);
        r = p->failed;
        if (r < 0 && err && !err->set)
                *err = p->error;
        pthread_cond_destroy(&p->not_empty);
        pthread_cond_destroy(&p->not_full);
        pthread_mutex_destroy(&p->lock);
        free(p->queue);
        free(p);
        return r;
}
