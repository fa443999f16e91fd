/* What the orchestration files share: a rootfs's run as the parent holds it, the worker that does
 * a backend's work, and the record checks and rollback every operation needs. */
#pragma once

#include <stdbool.h>

#include "backends/backend.h"
#include "common/error.h"
#include "state/record.h"
#include "state/workdir.h"

/* One assemble as the parent holds it. The parent alone changes and saves rec; the worker's
 * claims reach it through ovl_worker_assemble's serving of the protocol (backends/assembly.h). */
struct ovl_run {
        struct ovl_workdir *wd;
        const char *id; /* the record id */
        const struct ovl_backend_ops *b;
        struct ovl_record *rec;
        struct ovl_assemble_request *req; /* record_dir(_fd) and userns_fd filled in by the worker code */
        struct ovl_layer_list *layers;    /* req->layers, reopened in a private namespace */
        int checkpoints;                  /* records saved so far, for the test stop points */
        int mnt_fd;                       /* the mount handed over, attached when the work is done */
        bool mounted_at_rootfs;           /* the worker said it mounted at R itself (mount(2)) */
        struct ovl_error refusal;         /* why the parent refused a request, if it did */
};

/* Saves the record of run and passes the test stop points ("checkpoint-N", "ready"). Returns 0 or
 * -errno with err set. */
int ovl_run_save(struct ovl_run *run, struct ovl_error *err);

/* Runs the backend's assemble in a sandboxed worker, serving its claims, then attaches the mount
 * it handed over at R and records that mount's id. Returns 0 or -errno with err set. */
int ovl_worker_assemble(struct ovl_run *run, struct ovl_error *err);

/* Runs the backend's destroy of rec in a sandboxed worker with the destroy policy, after checking
 * that every path the record names has a shape the backend may claim; answers its one question
 * (ovl_destroy_may_remove) with ovl_who_may_remove. Returns 0 or -errno with err set (-ESTALE: see
 * backend.h; -EBUSY: its mount is still held elsewhere, the record is to be kept). */
int ovl_worker_destroy(const char *work_dir, const struct ovl_backend_ops *b, const struct ovl_record *rec,
                       struct ovl_error *err);

/* Loads the record of the rootfs path rootfs (made canonical by its parent), after taking its lock
 * when ret_lock_fd is not NULL, and opens the work dir into wd and the record's id into id (room
 * for OVL_RECORD_ID_LEN + 1). A path without a record fails with "not assembled by ovlbackend" of
 * class not_found. Returns 0 or -errno with err set. */
int ovl_lifecycle_find_record(const char *work_dir, const char *rootfs, enum ovl_err_class not_found,
                              struct ovl_workdir *wd, char id[], int *ret_lock_fd, struct ovl_record *rec,
                              struct ovl_error *err);

/* Rolls back an unfinished record left by a run that died: removes what it made, then the record.
 * Returns 0 or -errno with err set. */
int ovl_lifecycle_rollback(struct ovl_workdir *wd, const char *id, const struct ovl_record *rec, struct ovl_error *err);

/* A path as ovlbackend writes them: absolute, no empty, "." or ".." component, no trailing slash,
 * no component longer than NAME_MAX and shorter than PATH_MAX in all, so that every path a record
 * names can be looked up again. */
bool ovl_path_is_plain(const char *path);

/* Whether the backend b may claim path as kind for rec (record_dir: WORK/rootfs/<id>): its own
 * scratch shapes, R as its mount, an entry directly in WORK/layers/ as a cache (only a backend
 * with a gc op). */
bool ovl_claim_allowed(const char *work_dir, const char *record_dir, const struct ovl_backend_ops *b,
                       const struct ovl_record *rec, enum ovl_claim_kind kind, const char *path);

/* Checks that a record lists only what its backend may claim, and plain layer paths. Returns 0 or
 * -EPERM with err set (nothing it names is to be touched). */
int ovl_record_check(const char *work_dir, const struct ovl_backend_ops *b, const struct ovl_record *rec,
                     struct ovl_error *err);

struct ovl_assembly;

/* The test build's lies (lifecycle/lies.c), told from inside the worker before its backend's work:
 * returns 1 when the worker is to end there successfully, 0 to go on, or -errno with err set. */
int ovl_worker_test_lies(const struct ovl_run *run, struct ovl_assembly *a, struct ovl_error *err);
