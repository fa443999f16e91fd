/* The rootfs lifecycle shared by every backend: validation of the request, the per-rootfs lock,
 * the record written before anything is created, and rollback of whatever an interrupted or failed
 * run left. cli/ calls these and prints what they return. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backends/backend.h"
#include "common/error.h"
#include "common/gcreport.h"
#include "state/record.h"

struct ovl_assemble_options {
        const char *work_dir;
        const char *rootfs; /* as the caller gave it */
        const char *backend;
        char *const *layers; /* bottom first */
        size_t n_layers;
        struct ovl_backend_options opts;
        bool allow_reachable_rootfs; /* --allow-reachable-rootfs: no directory above R need shut
                                      * other users out (see check_reachable in assemble.c) */
};

struct ovl_assemble_result {
        const struct ovl_backend_ops *backend;
        struct ovl_record rec; /* the record as saved */
        char *record_path;
        double elapsed_ms;
};

void ovl_assemble_result_clear(struct ovl_assemble_result *res);

/* Assembles a rootfs. On failure nothing is left: no rootfs, no scratch, no record, no lock file.
 * Returns 0 or -errno with err set. */
int ovl_lifecycle_assemble(const struct ovl_assemble_options *opt, struct ovl_assemble_result *ret,
                           struct ovl_error *err);

/* Destroys a rootfs ovlbackend assembled; any other path is refused with "not assembled by
 * ovlbackend". On success *ret_rec holds the record it acted on. Returns 0 or -errno. */
int ovl_lifecycle_destroy(const char *work_dir, const char *rootfs, struct ovl_record *ret_rec, struct ovl_error *err);

enum ovl_presence {
        OVL_PRESENCE_PRESENT, /* the backend's result is there (mounted, or the copied tree) */
        OVL_PRESENCE_MISSING, /* gone behind ovlbackend's back */
        OVL_PRESENCE_STALE,   /* the record is unfinished and nobody holds its lock: gc clears it */
        OVL_PRESENCE_BUSY,    /* an operation on it is in progress, or its unfinished destroy waits
                               * for processes or mount namespaces that still hold its mount
                               * (`ovlbackend who` names them) */
};

struct ovl_rootfs_info {
        struct ovl_record rec;
        char id[17];
        enum ovl_presence presence;
        bool mounted;
        unsigned long long scratch_bytes;
};

/* Lists every record of the work dir with what the system says of it. Returns 0 or -errno. */
int ovl_lifecycle_list(const char *work_dir, struct ovl_rootfs_info **ret, size_t *ret_count, struct ovl_error *err);

void ovl_rootfs_info_free(struct ovl_rootfs_info *infos, size_t count);

/* "present", "missing", "stale", "busy", or "mounted" for a present mount. */
const char *ovl_presence_name(const struct ovl_rootfs_info *info);

/* What a process holds of a rootfs. */
enum ovl_holder_kind {
        OVL_HOLDER_ROOT, /* its root directory */
        OVL_HOLDER_CWD,  /* its working directory */
        OVL_HOLDER_FD,   /* an open file */
        OVL_HOLDER_MAP,  /* a file mapped into its memory */
};

/* A process using something inside a rootfs or its scratch dirs. */
struct ovl_holder {
        pid_t pid;
        char comm[64];
        enum ovl_holder_kind kind;
        int fd;          /* OVL_HOLDER_FD: its number */
        char *path;      /* where the kernel says the object is, as this process sees it, or NULL */
        uint64_t mnt_ns; /* the process' mount namespace (the inode of /proc/PID/ns/mnt) */
        bool scratch;    /* inside a scratch dir (the overlay's upper or work dir), not the rootfs */
};

/* A mount namespace with a mount of the rootfs in it: a copy that keeps the rootfs' mount alive
 * after destroy took it off the host. */
struct ovl_holder_ns {
        uint64_t mnt_ns;
        pid_t *pids; /* its processes; none listed for ovlbackend's own namespace (the host's) */
        size_t n_pids;
        char comm[64];     /* of pids[0] */
        char *mount_point; /* where the first such mount is, as that namespace sees it */
        bool ovlbackend;   /* every process in it is ovlbackend itself: a sandboxed worker of
                            * another run, whose copy of every mount goes when it exits */
        bool unprivileged; /* owned by a user namespace a user other than root made: any user can
                            * copy the host's mounts into one (unshare -Urm) without reaching R,
                            * so it does not count as holding (it cannot keep a rootfs forever) */
};

/* Everyone holding a rootfs. */
struct ovl_who {
        struct ovl_holder *holders;
        size_t n_holders;
        struct ovl_holder_ns *namespaces;
        size_t n_namespaces;
        size_t unreadable; /* processes whose /proc entries this user may not read (as root: an LSM) */
};

void ovl_who_clear(struct ovl_who *w);

/* "root", "cwd", "fd", "map". */
const char *ovl_holder_kind_name(enum ovl_holder_kind kind);

/* Whether anyone holds it: a process, or a namespace other than ovlbackend's own workers'. */
bool ovl_who_held(const struct ovl_who *w);

/* Finds which processes and which mount namespaces still hold a rootfs ovlbackend assembled, or
 * its scratch. Takes no lock and changes nothing; runs in this process (never in a worker, whose
 * private namespace would hold a copy of the mount itself). A path without a record is refused
 * (OVL_ERR_BAD_INPUT, "not assembled by ovlbackend"). On success *ret_rec holds the record.
 * Returns 0 or -errno with err set. */
int ovl_lifecycle_who(const char *work_dir, const char *rootfs, struct ovl_record *ret_rec, struct ovl_who *ret,
                      struct ovl_error *err);

/* Removes leftovers of interrupted runs: unfinished records (rolling back what they made), record
 * directories without a record, lock files nobody holds that have no record. Never touches a ready
 * rootfs or one whose lock is held. Returns 0 or -errno. */
int ovl_lifecycle_gc(const char *work_dir, struct ovl_gc_report *ret, struct ovl_error *err);
