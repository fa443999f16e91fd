/* The backend interface: one ops table per backend (one file each, in the LXC storage manner), and
 * a name -> ops registry. Adding a backend is one file plus one registry row. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "backends/layer.h"
#include "common/error.h"
#include "namespaces/sandbox.h"
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
        OVL_ACCEPTS_UPPER = 1 << 4,       /* --upper, --volatile */
        OVL_ACCEPTS_NO_FLATTEN = 1 << 5,
        OVL_ACCEPTS_IDMAP = 1 << 6,       /* --uidmap, --gidmap, --userns */
};

/* What the caller asked for beyond the layers; each backend honours what applies to it and the
 * lifecycle refuses what a backend cannot do. */
struct ovl_backend_options {
        bool read_only;       /* --read-only: a read-only rootfs */
        bool read_write;      /* --read-write: bind only, writes reach the layer */
        bool nosuid, nodev;   /* --nosuid, --nodev: mount flags of the rootfs */
        bool allow_whiteouts; /* --allow-whiteouts: bind a layer that still holds whiteout markers */
        const char *upper;    /* --upper=tmpfs[:SIZE]: overlay upper dir on a private tmpfs */
        bool volatile_upper;  /* --volatile: overlay without syncs to the upper dir */
        bool no_flatten;      /* --no-flatten: refuse more layers than the kernel stacks */
        const struct ovl_idmap *idmap; /* --uidmap/--gidmap/--userns: an idmapped rootfs, or NULL */
};

/* Persists the record as it stands (rec in the request). A backend calls it right before it
 * creates anything the record lists, so that an interrupted run leaves nothing `gc` cannot find. */
typedef int (*ovl_checkpoint_fn)(const struct ovl_assemble_request *req, struct ovl_error *err);

/* Puts the finished detached mount mnt_fd at R: attaches it (outside a sandbox), or keeps it for
 * the worker to hand to its parent, which attaches it from the host's namespace. Takes mnt_fd.
 * Returns 0 or -errno. */
typedef int (*ovl_attach_fn)(const struct ovl_assemble_request *req, int mnt_fd);

struct ovl_assemble_request {
        const char *rootfs;        /* canonical absolute path: missing or an empty directory */
        int rootfs_parent_fd;      /* the directory R is created in */
        const char *rootfs_name;   /* R's last component */
        bool rootfs_exists;        /* R is an existing empty directory (its identity is in rec->tree) */
        const struct ovl_layer_list *layers;
        const struct ovl_backend_options *opts;
        const char *work_dir;      /* ovlbackend's work dir (state, scratch, caches), canonical */
        int record_dir_fd;         /* rootfs/<id>/ in the work dir: per-rootfs scratch lives here */
        const char *record_dir;    /* its path */
        struct ovl_record *rec;    /* the backend adds its scratch paths and mounts here */
        ovl_checkpoint_fn checkpoint;
        void *checkpoint_data;
        ovl_attach_fn attach;
        int *attach_slot;          /* where a sandboxed attach leaves the mount fd */
        int userns_fd;             /* with opts->idmap, for the mount backends: a user namespace
                                    * carrying the maps (MOUNT_ATTR_IDMAP), else -1 */
        bool private_ns;           /* the work runs in a private mount namespace: a mount(2)
                                    * made there must be cloned (open_tree) and attached */
};

struct ovl_backend_ops {
        const char *name;
        const char *summary; /* one line for --help */
        unsigned needs;      /* OVL_NEEDS_* */
        size_t max_layers;   /* 1 for a single-layer backend, 0 for no limit */
        unsigned accepts;    /* OVL_ACCEPTS_*: the options it honours; others are refused */
        struct ovl_sandbox_policy sandbox; /* the capabilities and system calls its worker keeps */
        struct ovl_sandbox_policy destroy_sandbox; /* the same for destroy and rollback: only removal */

        /* Builds the rootfs. On failure it must have removed everything it made; the caller then
         * removes the record. Returns 0 or -errno with err set. */
        int (*assemble)(const struct ovl_assemble_request *req, struct ovl_error *err);

        /* Removes what the record says the backend made. Used for `destroy`, and for rolling back
         * an assemble that was interrupted at any point, so every piece may be missing. Never
         * crosses into a mount the backend did not make. Returns 0 or -errno with err set;
         * -ESTALE means what the backend made is gone and something else stands in its place,
         * which it left alone: the record is then forgotten and the caller told. */
        int (*destroy)(const struct ovl_record *rec, struct ovl_error *err);

        /* Whether path, which a record lists as scratch, has the shape of what this backend makes
         * for that record's R (record_dir: WORK/rootfs/<id>). Checked for every scratch path before
         * destroy runs, so that a record can never make the backend remove anything else. */
        bool (*owns_scratch)(const struct ovl_record *rec, const char *record_dir, const char *path);

        /* Whether what the record describes still stands at R, exactly (the tree it built, or its
         * own mount rather than whatever is mounted there now): `list`'s "present". */
        bool (*in_place)(const struct ovl_record *rec);
};

extern const struct ovl_backend_ops ovl_backend_copy;
extern const struct ovl_backend_ops ovl_backend_bind;
extern const struct ovl_backend_ops ovl_backend_overlay;

/* Returns the ops of the backend called name, or NULL. */
const struct ovl_backend_ops *ovl_backend_find(const char *name);

/* The registry in display order, NULL-terminated. */
extern const struct ovl_backend_ops *const ovl_backends[];
