/* The copy engine's worker threads: they finish the regular files the engine's own thread has
 * created. Every name (directories, files, symlinks, devices, hard links) is still made by that one
 * thread, in the order of the walk, so hard links always find their first name and directory times
 * are set after the last name made in them; a worker only writes data and metadata through the two
 * fds a job hands it (the data, the owner, xattrs, mode and times of a file change nothing in its
 * directory). The queue is bounded, so the open fds and the memory stay flat at any image size.
 * With no workers, a job runs at once in the caller's thread: the single-threaded engine. */
#pragma once

#include <stddef.h>
#include <sys/stat.h>

#include "common/error.h"

/* A regular file to finish: its source and its new, empty destination (both owned by the job). */
struct ovl_copy_job {
        int src, dst;
        struct stat st;
        size_t layer;
        char *path; /* relative to the rootfs, for messages (owned) */
};

/* Finishes one job in worker number `worker` (0 .. workers - 1; 0 in the caller's thread without
 * workers). Returns 0 or -errno with err set. The pool closes the fds afterwards. */
typedef int (*ovl_copy_job_fn)(void *ctx, unsigned worker, const struct ovl_copy_job *job, struct ovl_error *err);

struct ovl_copy_pool;

/* How many workers pay here: the CPUs this process may run on, at most OVL_COPY_MAX_WORKERS. */
#define OVL_COPY_MAX_WORKERS 64
unsigned ovl_copy_pool_default_workers(void);

/* Starts `workers` threads (0: none) that run fn(ctx, ...) on the jobs submitted. Returns 0 or
 * -errno. */
int ovl_copy_pool_start(unsigned workers, ovl_copy_job_fn fn, void *ctx, struct ovl_copy_pool **ret);

/* Hands a job over; the pool owns its fds and path from now on, even when this fails. Waits while
 * the queue is full. Returns 0, or, once a job has failed, that job's -errno with its message in err
 * (the walk should stop: no later job runs). */
int ovl_copy_pool_submit(struct ovl_copy_pool *p, struct ovl_copy_job *job, struct ovl_error *err);

/* Waits for every job submitted, stops the workers and frees the pool. Returns 0, or the first
 * failed job's -errno with its message in err (unless err already holds one). */
int ovl_copy_pool_finish(struct ovl_copy_pool *p, struct ovl_error *err);
