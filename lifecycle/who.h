/* Who holds a rootfs: the orchestration's side of `who` (lifecycle/who.c scans /proc, and
 * lifecycle/who_target.c says what of it is ours), shared by `who`, destroy, gc and list. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "common/error.h"
#include "common/mounttable.h"
#include "common/procfs.h"
#include "lifecycle/lifecycle.h"
#include "state/record.h"

/* How a mount in some mount namespace is known to be one of the rootfs'. */
enum ovl_who_rule {
        OVL_WHO_SUPERBLOCK, /* any mount of the backend's filesystem instance (overlay: its device) */
        OVL_WHO_MOUNT_ROOT, /* a mount showing exactly the directory the backend's mount shows (bind) */
        OVL_WHO_SUBTREE,    /* a mount of R's directory or of one below it (copy: a plain tree) */
};

/* A directory whose insides count: the copy's tree at R, a scratch dir (upper, work). */
struct ovl_who_dir {
        char *path;
        struct ovl_tree_id id; /* as it is now (scratch) or as recorded (the copy's tree) */
        bool scratch;
};

/* What the holders of one rootfs are recognised by, worked out once from its record. */
struct ovl_who_target {
        const struct ovl_record *rec;
        enum ovl_who_rule rule;
        uint64_t dev;         /* the device of what R shows (rec->dev, the copy's tree); 0: unknown */
        char *fs_root;        /* MOUNT_ROOT, SUBTREE: that directory's path within its filesystem */
        char source[64];      /* SUPERBLOCK: the source our mount has ("ovlbackend-<record id>") */
        char *layer;          /* MOUNT_ROOT: where the layer is (a mount there is the store's own) */
        uint64_t own_id;      /* the plain id of the mount the record made at R; 0: unknown */
        uint64_t own_unique;  /* its unique id (rec->mount_id); 0: none */
        bool own_id_attached; /* some mount table read in this scan lists own_id (whatever mount) */
        uint64_t *ids;        /* the plain ids of the mounts of ours seen in mount namespaces */
        size_t n_ids;
        struct ovl_who_dir *dirs;
        size_t n_dirs;
};

/* Fills in rec's mount device and plain mount id where it records none (written before they were
 * kept), from the mount at R when that is the record's (b->in_place): so that its holders can be
 * told once it is detached. */
void ovl_who_learn_mount(const struct ovl_backend_ops *b, struct ovl_record *rec);

/* Works out what rec's holders are recognised by (b: its backend). Best effort: what cannot be
 * found out now (R gone, a layer moved) is left unknown and not looked for. Returns 0 or -ENOMEM. */
int ovl_who_target_init(const struct ovl_backend_ops *b, const struct ovl_record *rec, struct ovl_who_target *ret);

void ovl_who_target_clear(struct ovl_who_target *t);

/* Whether a mount of some namespace's mountinfo is one of the rootfs'. */
bool ovl_who_mount_matches(const struct ovl_who_target *t, const struct ovl_mount_entry *m);

/* Adds a plain mount id to t->ids ("our mounts"). Returns 0 or -ENOMEM. */
int ovl_who_target_add_id(struct ovl_who_target *t, uint64_t id);

/* The process whose objects are checked, as the checks need it. */
struct ovl_who_process {
        int fd; /* its /proc/PID directory */
        /* Whether a mount of the rootfs with this plain id is in the process' mount namespace now
         * (its mountinfo, read when first asked). */
        bool (*lists)(struct ovl_who_process *p, uint64_t mnt_id);
};

/* Whether the object behind the magic link name below p's /proc/PID ("root", "cwd", "fd/N",
 * "map_files/A-B"), read into o, is inside the rootfs or one of its scratch dirs (*ret_scratch).
 * Returns 1, 0, or -errno (-ESRCH: gone meanwhile). */
int ovl_who_object_inside(const struct ovl_who_target *t, struct ovl_who_process *p, const char *name,
                          const struct ovl_proc_object *o, bool *ret_scratch);

/* The same for a file mapped into the process (a line of its maps). map_files: whether
 * /proc/PID/map_files may be read (root), which tells the mount; otherwise the device and the path
 * decide. Returns 1, 0, or -errno. */
int ovl_who_map_inside(const struct ovl_who_target *t, struct ovl_who_process *p, const struct ovl_proc_map *m,
                       bool map_files, bool *ret_scratch);

/* Whether destroy must make sure nobody holds rec's mount before it removes the rest: b mounts,
 * and the record names something besides R that the mount uses (a scratch dir, a cached layer).
 * A bind uses only its layer, the store's. */
bool ovl_who_guards(const struct ovl_backend_ops *b, const struct ovl_record *rec);

/* The answer to a destroy worker's ovl_destroy_may_remove, its mount off the host by then: 0 when
 * the record guards nothing (ovl_who_guards) or nobody holds the mount; -EBUSY with err saying
 * who (the first few) when somebody does; -errno with err set when /proc could not be read (then
 * nothing is removed either). */
int ovl_who_may_remove(const struct ovl_backend_ops *b, const struct ovl_record *rec, struct ovl_error *err);

/* Scans /proc for whoever holds rec's rootfs or scratch (b: its backend), never counting this
 * process or its children (a destroy worker). Returns 0 or -errno with err set. */
int ovl_who_scan(const struct ovl_backend_ops *b, const struct ovl_record *rec, struct ovl_who *ret,
                 struct ovl_error *err);

/* A few holders for a message: "PID 12 (sleep), PID 34 (bash) and the mount namespace
 * mnt:[4026532] of PID 56 (sleep)", at most max of them, then "and N more". Returns a new string
 * or NULL. */
char *ovl_who_describe(const struct ovl_who *w, size_t max);

/* Ends a message about something busy in rootfs with " (see: ovlbackend who ROOTFS)", once. */
void ovl_who_hint(struct ovl_error *err, const char *rootfs);
