/* The copy engine's worker threads: they copy the regular files the engine's walk hands them, each
 * a job the engine defines (copy_engine.c: open the source, create the destination, copy data and
 * metadata). The pool only queues and runs jobs; what a job holds beyond its own fds (the
 * directories it works in) goes back through `release`, whether the job ran or not. The
 * queue is bounded, so the open fds and the memory stay flat at any image size. With no workers, a
 * job runs at once in the caller's thread: the single-threaded engine. */
#pragma once

#include <stddef.h>
#include <sys/stat.h>

#include "common/error.h"

struct ovl_copy_dir;
struct ovl_copy_fd;

/* A regular file to copy. src and dst are fds the job owns (-1: not open yet: the job opens the
 * source as `name` in src_dir, and creates the destination as `name` in dir). */
struct ovl_copy_job {
        int src, dst;
        struct stat st;
        size_t layer;
        char *path;                  /* relative to the rootfs, for messages (owned) */
        const char *name;            /* the last component of path */
        struct ovl_copy_dir *dir;    /* the destination directory, one reference held (or NULL) */
        struct ovl_copy_fd *src_dir; /* the source directory, one reference held (or NULL) */
};

/* Finishes one job in worker number `worker` (0 .. workers - 1; 0 in the caller's thread without
 * workers). Returns 0 or -errno with err set. The pool closes the fds afterwards. */
typedef int (*ovl_copy_job_fn)(void *ctx, unsigned worker, struct ovl_copy_job *job, struct ovl_error *err);

/* Releases what a job still holds beyond its fds and path, after fn ran on it or when it is dropped
 * unrun after a failure. */
typedef void (*ovl_copy_release_fn)(void *ctx, struct ovl_copy_job *job);

struct ovl_copy_pool;

/* How many workers pay here: the CPUs this process may run on, at most OVL_COPY_MAX_WORKERS. */
#define OVL_COPY_MAX_WORKERS 64
unsigned ovl_copy_pool_default_workers(void);

/* Starts `workers` threads (0: none) that run fn(ctx, ...) on the jobs submitted, then
 * release(ctx, ...) on each (also on those dropped unrun after a failure). Returns 0 or -errno. */
int ovl_copy_pool_start(unsigned workers, ovl_copy_job_fn fn, ovl_copy_release_fn release, void *ctx,
                        struct ovl_copy_pool **ret);

/* Hands a job over; the pool owns it from now on, even when this fails. Waits while the queue is
 * full. Returns 0, or, once a job has failed, that job's -errno with its message in err
 * (the walk should stop: no later job runs). */
int ovl_copy_pool_submit(struct ovl_copy_pool *p, struct ovl_copy_job *job, struct ovl_error *err);

/* Waits for every job submitted, stops the workers and frees the pool. Returns 0, or the first
 * failed job's -errno with its message in err (unless err already holds one). */
int ovl_copy_pool_finish(struct ovl_copy_pool *p, struct ovl_error *err);
