/* The backend interface: one ops table per backend (one file each, in the LXC storage manner), and
 * a name -> ops registry. Adding a backend is one file plus one registry row. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "backends/layer.h"
#include "common/error.h"
#include "namespaces/sandbox.h"
#include "common/fsutil.h"
#include "state/record.h"

/* What a backend needs from the kernel, for `probe` and for clear refusals. */
enum {
        OVL_NEEDS_NOTHING = 0,
        OVL_NEEDS_MOUNT = 1 << 0,     /* mounts at the rootfs (CAP_SYS_ADMIN) */
        OVL_NEEDS_OVERLAYFS = 1 << 1, /* the overlay filesystem */
        OVL_NEEDS_MKNOD = 1 << 2,     /* creates device nodes (CAP_MKNOD) */
};

struct ovl_assemble_request;
struct ovl_idmap;

/* Options a backend may honour (struct ovl_backend_ops.accepts). */
enum {
        OVL_ACCEPTS_READ_ONLY = 1 << 0,
        OVL_ACCEPTS_READ_WRITE = 1 << 1,
        OVL_ACCEPTS_MOUNT_FLAGS = 1 << 2, /* --nosuid, --nodev */
        OVL_ACCEPTS_ALLOW_WHITEOUTS = 1 << 3,
        OVL_ACCEPTS_UPPER = 1 << 4, /* --upper, --volatile */
        OVL_ACCEPTS_NO_FLATTEN = 1 << 5,
        OVL_ACCEPTS_IDMAP = 1 << 6, /* --uidmap, --gidmap, --userns */
        OVL_ACCEPTS_STACK = 1 << 7, /* --stack */
        OVL_ACCEPTS_JOBS = 1 << 8,  /* --jobs: it copies (the copy engine) */
};

/* What the caller asked for beyond the layers; each backend honours what applies to it and the
 * lifecycle refuses what a backend cannot do. */
/* --stack: how the overlay backend stacks the layers. */
enum ovl_stack {
        OVL_STACK_AUTO = 0, /* meta where the kernel can and it pays, else layers */
        OVL_STACK_LAYERS,   /* one lower directory per layer (overlay_lower.h) */
        OVL_STACK_META,     /* one metadata layer over data-only layers (overlay_meta.h) */
};

struct ovl_backend_options {
        bool read_only;                /* --read-only: a read-only rootfs */
        bool read_write;               /* --read-write: bind only, writes reach the layer */
        bool nosuid, nodev;            /* --nosuid, --nodev: mount flags of the rootfs */
        bool allow_whiteouts;          /* --allow-whiteouts: bind a layer that still holds whiteout markers */
        const char *upper;             /* --upper=tmpfs[:SIZE]: overlay upper dir on a private tmpfs */
        bool volatile_upper;           /* --volatile: overlay without syncs to the upper dir */
        bool no_flatten;               /* --no-flatten: refuse more layers than the kernel stacks */
        enum ovl_stack stack;          /* --stack */
        unsigned jobs;                 /* --jobs: copy threads; 0: one per CPU */
        const struct ovl_idmap *idmap; /* --uidmap/--gidmap/--userns: an idmapped rootfs, or NULL */
};

/* What an assemble works from: inputs only, never changed by the backend. */
struct ovl_assemble_request {
        const char *rootfs;           /* canonical absolute path: missing or an empty directory */
        int rootfs_parent_fd;         /* the directory R is created in */
        const char *rootfs_name;      /* R's last component */
        bool rootfs_exists;           /* R is an existing empty directory ... */
        struct ovl_tree_id rootfs_id; /* ... with this identity */
        const struct ovl_layer_list *layers;
        const struct ovl_backend_options *opts;
        const char *work_dir;   /* ovlbackend's work dir (state, scratch, caches), canonical */
        int record_dir_fd;      /* rootfs/<id>/ in the work dir: per-rootfs scratch lives here */
        const char *record_dir; /* its path */
        int userns_fd;          /* with opts->idmap, for the mount backends: a user namespace
                                 * carrying the maps (MOUNT_ATTR_IDMAP), else -1 */
        bool private_ns;        /* the work runs in a private mount namespace: a mount(2)
                                 * made there must be cloned (open_tree) and handed over */
};

/* What a backend may claim, each checked by the parent against the backend's shapes before it is
 * recorded: nothing else ever enters a record. */
enum ovl_claim_kind {
        OVL_CLAIM_SCRATCH = 1, /* a directory it is about to create, which destroy removes:
                                * the shapes its owns_scratch op accepts */
        OVL_CLAIM_MOUNT = 2,   /* the mount it puts at R: R only */
        OVL_CLAIM_CACHE = 3,   /* a shared cache entry it uses: directly in WORK/layers/ */
};

/* The assembly handle: how a backend's assemble, running in the sandboxed worker, reaches the
 * parent that owns the record. Every call waits for the parent's answer. */
struct ovl_assembly;

/* Asks the parent to record path as kind; it checks the shape, records and saves the record, and
 * only then answers. Call it right BEFORE creating the thing, so an interrupted run leaves nothing
 * `gc` cannot find. Returns 0, or -errno with err set: -EPERM for a claim outside the backend's shapes,
 * -EEXIST for a scratch whose name is taken already (draw another). */
int ovl_assembly_claim(struct ovl_assembly *a, enum ovl_claim_kind kind, const char *path, struct ovl_error *err);

/* Claims the n paths of one kind at once, in as few requests as fit the line: for the many cache
 * entries of a deep stack, which would otherwise cost a round trip each. Returns 0, or -errno with
 * err set for the first one refused (those before it are recorded). */
int ovl_assembly_claim_all(struct ovl_assembly *a, enum ovl_claim_kind kind, char *const *paths, size_t n,
                           struct ovl_error *err);

/* Tells the parent that the scratch directory path (claimed before, beside R or R itself) now
 * exists and is open at fd: the parent checks fd is what stands at path and records its identity,
 * so that a rollback removes exactly that tree. Returns 0 or -errno with err set. */
int ovl_assembly_identify(struct ovl_assembly *a, const char *path, int fd, struct ovl_error *err);

/* Withdraws a claim: path was not created after all (someone else's stood there), or no longer
 * exists under that name (the copy's scratch renamed to R). Returns 0 or -errno with err set. */
int ovl_assembly_withdraw(struct ovl_assembly *a, enum ovl_claim_kind kind, const char *path, struct ovl_error *err);

/* Hands the finished detached mount mnt_fd to the parent, which attaches it at R once the work has
 * succeeded; or, with mnt_fd -1, says that the mount is already at R (mount(2) from the host's
 * namespace, on a kernel without the new mount API). The caller keeps mnt_fd. Returns 0 or -errno
 * with err set. */
int ovl_assembly_hand_over(struct ovl_assembly *a, int mnt_fd, struct ovl_error *err);

/* Asked by a mount backend's destroy (and so by every rollback) once its mount is off the host and
 * before it removes anything else: whether it may. The mount may still be held elsewhere (a
 * process using files on it, another mount namespace with a copy of it: a container still
 * running), and then what it uses (the overlay's upper and work dirs, its cached layers) must stay,
 * with the record. The parent answers (lifecycle/worker.c), after looking through /proc itself.
 * Returns 0 to go on, or -EBUSY with err set saying who holds it (or -errno when that could not be
 * told). */
int ovl_destroy_may_remove(const struct ovl_record *rec, struct ovl_error *err);

struct ovl_gc_report;

/* The backend contract. Every op returns an int: 0 or -errno with err set; the predicates 1 or 0. */
struct ovl_backend_ops {
        const char *name;
        const char *summary;                       /* one line for --help */
        unsigned needs;                            /* OVL_NEEDS_* */
        size_t max_layers;                         /* 1 for a single-layer backend, 0 for no limit */
        unsigned accepts;                          /* OVL_ACCEPTS_*: the options it honours; others are refused */
        struct ovl_sandbox_policy sandbox;         /* the capabilities and system calls its worker keeps */
        struct ovl_sandbox_policy destroy_sandbox; /* the same for destroy and rollback: only removal */

        /* Checks the options (beyond `accepts`) before any lock is taken or work done. May be NULL. */
        int (*validate)(const struct ovl_backend_options *opts, struct ovl_error *err);

        /* Builds the rootfs, claiming through a everything it creates before it creates it, and
         * handing a mount over. On failure the parent rolls back what was claimed with destroy. */
        int (*assemble)(const struct ovl_assemble_request *req, struct ovl_assembly *a, struct ovl_error *err);

        /* Removes what the record says the backend made. Used for `destroy`, and for rolling back
         * an assemble that was interrupted at any point, so every piece may be missing. Never
         * crosses into a mount the backend did not make. -ESTALE means what the backend made is
         * gone and something else stands in its place, which it left alone: the record is then
         * forgotten and the caller told. */
        int (*destroy)(const struct ovl_record *rec, struct ovl_error *err);

        /* 1 when path has the shape of a scratch this backend makes for rec's R (record_dir:
         * WORK/rootfs/<id>), else 0. Every scratch claim and every scratch path of a record is
         * checked with it, so that no record can make the backend remove anything else. */
        int (*owns_scratch)(const struct ovl_record *rec, const char *record_dir, const char *path);

        /* 1 when what the record describes stands at R, open at rootfs_fd (O_PATH, not followed),
         * exactly: the tree it built, or its own mount rather than whatever is mounted there now;
         * else 0. `list`'s "present", and how the parent identifies a mount made at R directly. */
        int (*in_place)(const struct ovl_record *rec, int rootfs_fd);

        /* Removes the backend's shared caches under work_dir that no record names (in_use), and
         * half-built ones, adding what it did to report. May be NULL. */
        int (*gc)(const char *work_dir, const struct ovl_strlist *in_use, struct ovl_gc_report *report);

        /* How rec's layers are stacked ("layers", "meta"), read from what it records, for --json.
         * May be NULL: the backend does not stack layers. */
        const char *(*stack_of)(const struct ovl_record *rec);
};

extern const struct ovl_backend_ops ovl_backend_copy;
extern const struct ovl_backend_ops ovl_backend_bind;
extern const struct ovl_backend_ops ovl_backend_overlay;

/* Returns the ops of the backend called name, or NULL. */
const struct ovl_backend_ops *ovl_backend_find(const char *name);

/* The registry in display order, NULL-terminated. */
extern const struct ovl_backend_ops *const ovl_backends[];
