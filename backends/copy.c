/* The copy backend: the merged tree written once into a plain directory by the copy engine
 * (copy_engine.c). The tree is built in a scratch directory beside R (same filesystem) and renamed
 * into place at the end, so R either does not exist or is complete. */
#include "config.h"

#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/copy.h"
#include "common/fsutil.h"
#include "common/walk.h"
#include "common/macro.h"
#include "namespaces/seccomp.h"
#include "common/mounttable.h"

#define SCRATCH_SUFFIX ".ovlbackend-tmp"

/* The scratch is named ".NAME.RANDOM.ovlbackend-tmp" after R's NAME, so a person can tell what it
 * is, with a random part so that nobody can take the name first (in a directory others may write)
 * and no earlier tree of that name is ever mistaken for ours. That name must fit in NAME_MAX too,
 * or a legal R of 230 bytes or more could never be assembled: for such a NAME a prefix of it and
 * a hash of all of it stand in for it. This gives the part before RANDOM: ".NAME." or
 * ".PREFIX.HASH.". Returns 0 or -ENOMEM. */
static int scratch_prefix(const char *rootfs_name, char **ret)
{
        uint64_t hash = 1469598103934665603ull; /* FNV-1a */
        int keep;

        if (1 + strlen(rootfs_name) + 1 + 16 + strlen(SCRATCH_SUFFIX) <= NAME_MAX)
                return asprintf(ret, ".%s.", rootfs_name) < 0 ? -ENOMEM : 0;
        for (const char *p = rootfs_name; *p; p++)
                hash = (hash ^ (unsigned char) *p) * 1099511628211ull;
        keep = NAME_MAX - (int) (1 + 1 + 16 + 1 + 16 + strlen(SCRATCH_SUFFIX));
        return asprintf(ret, ".%.*s.%016llx.", keep, rootfs_name, (unsigned long long) hash) < 0 ? -ENOMEM : 0;
}

/* A fresh scratch name for R's NAME. Returns 0 or -errno. */
static int scratch_name(const char *rootfs_name, char **ret)
{
        _cleanup_free_ char *prefix = NULL;
        uint64_t salt;
        int r = scratch_prefix(rootfs_name, &prefix);

        if (r < 0)
                return r;
        if (getrandom(&salt, sizeof(salt), 0) != (ssize_t) sizeof(salt))
                return -errno;
        return asprintf(ret, "%s%016llx" SCRATCH_SUFFIX, prefix, (unsigned long long) salt) < 0 ? -ENOMEM : 0;
}

/* Whether path has the shape of a scratch this backend makes for the record's R: exactly a name
 * scratch_name gives for R's NAME (its prefix, 16 hex digits, the suffix), directly beside R.
 * Anything else a record names, a sibling rootfs' scratch included, is not ours to remove. */
static bool is_scratch_of(const struct ovl_record *rec, const char *path)
{
        _cleanup_free_ char *rparent = NULL, *rbase = NULL, *parent = NULL, *base = NULL, *prefix = NULL;
        size_t n;

        if (ovl_path_split(rec->rootfs, &rparent, &rbase) < 0 || ovl_path_split(path, &parent, &base) < 0 ||
            scratch_prefix(rbase, &prefix) < 0 || strcmp(parent, rparent) != 0)
                return false;
        n = strlen(prefix);
        if (strlen(base) < n + 16 || strncmp(base, prefix, n) != 0 || strcmp(base + n + 16, SCRATCH_SUFFIX) != 0)
                return false;
        for (size_t i = n; i < n + 16; i++)
                if (!strchr("0123456789abcdef", base[i]))
                        return false;
        return true;
}

static int scratch_join(const struct ovl_assemble_request *req, const char *base, char **ret)
{
        _cleanup_free_ char *parent = NULL, *rbase = NULL;
        int r = ovl_path_split(req->rootfs, &parent, &rbase);

        if (r < 0)
                return r;
        return asprintf(ret, "%s/%s", strcmp(parent, "/") == 0 ? "" : parent, base) < 0 ? -ENOMEM : 0;
}

/* The scratch directory the copy fills, beside R, before it is renamed to R. */
struct scratch {
        char *base; /* its name in R's parent */
        char *path;
        int fd;
        struct ovl_tree_id id;
};

static void scratch_clear(struct scratch *s)
{
        free(s->base);
        free(s->path);
        s->fd = safe_close(s->fd);
}

/* Creates the scratch directory under a fresh random name, claimed before it exists (so gc finds
 * it if we die) and identified right after (so a rollback removes exactly it). A name someone else
 * holds is withdrawn, never touched. Returns 0 or -errno with err set. */
static int make_scratch(const struct ovl_assemble_request *req, struct ovl_assembly *a, struct scratch *ret,
                        struct ovl_error *err)
{
        for (int attempt = 0; attempt < 16; attempt++) {
                struct scratch s = { .fd = -1 };
                int r = scratch_name(req->rootfs_name, &s.base);

                if (r == 0)
                        r = scratch_join(req, s.base, &s.path);
                if (r < 0) {
                        scratch_clear(&s);
                        return ovl_error_fail(err, -r, "rootfs %s: scratch name", req->rootfs);
                }
                struct ovl_error claim_err = { 0 };
                r = ovl_assembly_claim(a, OVL_CLAIM_SCRATCH, s.path, &claim_err);
                if (r == -EEXIST) { /* something stands at that name already: draw another */
                        scratch_clear(&s);
                        continue;
                }
                if (r < 0 && err && !err->set)
                        *err = claim_err;
                if (r == 0 && mkdirat(req->rootfs_parent_fd, s.base, 0700) < 0) {
                        int e = errno;
                        /* Not made by us: withdrawn at once, so no rollback goes near it. */
                        r = ovl_assembly_withdraw(a, OVL_CLAIM_SCRATCH, s.path, err);
                        if (r == 0 && e == EEXIST) {
                                scratch_clear(&s);
                                continue;
                        }
                        r = r < 0 ? r : ovl_error_fail(err, e, "rootfs %s: scratch %s", req->rootfs, s.path);
                } else if (r == 0) {
                        s.fd = openat(req->rootfs_parent_fd, s.base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        r = s.fd < 0 ? -errno : ovl_tree_id_get(s.fd, "", &s.id);
                        if (r < 0)
                                ovl_error_fail(err, -r, "rootfs %s: scratch %s", req->rootfs, s.path);
                        else
                                r = ovl_assembly_identify(a, s.path, s.fd, err);
                        if (r < 0) /* ours and still empty, whatever the record says by now */
                                (void) unlinkat(req->rootfs_parent_fd, s.base, AT_REMOVEDIR);
                }
                if (r < 0) {
                        scratch_clear(&s);
                        return r;
                }
                *ret = s;
                return 0;
        }
        return ovl_error_fail(err, EEXIST, "rootfs %s: 16 random scratch names beside it were all taken", req->rootfs);
}

static int take_back_dir(void *ctx, const struct ovl_walk_entry *e, int fd, struct ovl_error *err)
{
        char path[OVL_FD_PATH_MAX];

        (void) ctx;
        (void) err;
        if (e->st->st_uid != geteuid() || e->st->st_gid != getegid())
                (void) fchownat(fd, "", geteuid(), getegid(), AT_EMPTY_PATH);
        /* fchmod refuses O_PATH fds; the fd's /proc link names this very directory. */
        if (ovl_fd_path(path, sizeof(path), fd, "") == 0)
                (void) chmod(path, 0700);
        return 0;
}

/* Gives this process write and search permission back on dir_fd and every directory below it.
 * The walk sets each directory's final owner and mode as it leaves it; without CAP_DAC_OVERRIDE (an
 * unprivileged caller, or root with that capability dropped) a read-only or foreign-owned directory
 * of the image then keeps its children, and a partial tree could not be removed. Best effort: what
 * cannot be changed is left for the removal to report. The walk follows no symlink, enters no
 * other mount, and holds a bounded number of fds at any depth. */
static void make_tree_removable(int dir_fd)
{
        const struct ovl_walk_visitor v = { .dir_enter = take_back_dir };

        (void) ovl_walk_tree_at(dir_fd, "", OVL_WALK_SKIP_MOUNTS | OVL_WALK_KEEP_GOING, &v, "scratch", NULL);
}

/* A failed copy removes its scratch itself: only the tree it made (by its identity, whatever
 * stands at the name by now). Without CAP_DAC_OVERRIDE the directories that already have their
 * image's owner and mode can refuse the removal: then they are taken back and it tries once more.
 * What is left stays claimed, for the parent's rollback. */
static void remove_own_scratch(const struct ovl_assemble_request *req, const struct scratch *s)
{
        for (int attempt = 0; attempt < 2; attempt++) {
                struct ovl_tree_id id;
                if (ovl_tree_id_get(req->rootfs_parent_fd, s->base, &id) < 0 || !ovl_tree_id_equal(&id, &s->id) ||
                    ovl_remove_tree_at(req->rootfs_parent_fd, s->base, s->path, NULL) == 0)
                        return;
                make_tree_removable(s->fd);
        }
}

static int copy_assemble(const struct ovl_assemble_request *req, struct ovl_assembly *a, struct ovl_error *err)
{
        struct scratch s = { .fd = -1 };
        int r;

        ovl_copy_set_workers(req->opts->jobs);
        r = make_scratch(req, a, &s, err);
        if (r < 0)
                return r;
        r = ovl_copy_merge_into(req->layers, req->opts->idmap, s.fd, req->rootfs, err);
        if (r < 0)
                goto fail;
        /* Into place in one step: an existing empty R is replaced, a missing one must stay missing
         * until now (RENAME_NOREPLACE), so a concurrent creator is never overwritten. */
        if (req->rootfs_exists)
                r = renameat(req->rootfs_parent_fd, s.base, req->rootfs_parent_fd, req->rootfs_name);
        else
                r = renameat2(req->rootfs_parent_fd, s.base, req->rootfs_parent_fd, req->rootfs_name, RENAME_NOREPLACE);
        if (r < 0) {
                r = ovl_error_fail(err, errno, "rootfs %s", req->rootfs);
                goto fail;
        }
        /* The scratch name is gone: the tree is R now, and the recorded identity finds it. */
        r = ovl_assembly_withdraw(a, OVL_CLAIM_SCRATCH, s.path, err);
        scratch_clear(&s);
        return r;
fail:
        remove_own_scratch(req, &s);
        scratch_clear(&s);
        return r;
}

/* Opens the parent of path and reads the identity of its last component. Returns 0, -ENOENT when
 * either is missing (nothing to remove), or -errno. */
static int identify_in_parent(const char *path, int *ret_pfd, char **ret_base, struct ovl_tree_id *ret_id)
{
        _cleanup_free_ char *parent = NULL, *base = NULL;
        _cleanup_close_ int pfd = -1;
        int r = ovl_path_split(path, &parent, &base);

        if (r < 0)
                return r;
        pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
                return -errno;
        r = ovl_tree_id_get(pfd, base, ret_id);
        if (r < 0)
                return r;
        *ret_pfd = TAKE_FD(pfd);
        *ret_base = TAKE_PTR(base);
        return 0;
}

/* Removes a scratch directory this record's run made, and only that: one of our names beside R
 * (the lifecycle checks every path a record names against copy_owns_scratch first), and the tree
 * whose identity the record holds. A run killed between the mkdir and recording the
 * identity left an empty directory owned by us, which rmdir alone removes. Anything else at that
 * name is someone else's: left alone (-ESTALE). */
static int remove_scratch(const struct ovl_record *rec, const char *path, struct ovl_error *err)
{
        _cleanup_free_ char *base = NULL;
        _cleanup_close_ int pfd = -1;
        struct ovl_tree_id id;
        struct stat st;
        int r;

        r = identify_in_parent(path, &pfd, &base, &id);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return ovl_error_fail(err, -r, "scratch %s", path);
        if (rec->tree.ino != 0) {
                if (ovl_tree_id_equal(&rec->tree, &id))
                        return ovl_remove_tree_at(pfd, base, path, err);
        } else if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
                   unlinkat(pfd, base, AT_REMOVEDIR) == 0) {
                return 0;
        }
        ovl_error_fail(err, 0, "scratch %s: not the tree ovlbackend made; left alone", path);
        return -ESTALE;
}

/* Removes R when it is the tree this record built. An interrupted assemble may never have renamed
 * its tree into place: then whatever is at R (a caller's empty directory) is not ours and stays. */
static int remove_rootfs(const struct ovl_record *rec, struct ovl_error *err)
{
        _cleanup_free_ char *base = NULL;
        _cleanup_close_ int pfd = -1;
        struct ovl_tree_id id;
        bool below;
        int r = identify_in_parent(rec->rootfs, &pfd, &base, &id);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s", rec->rootfs);
        if (!ovl_tree_id_equal(&rec->tree, &id)) {
                if (rec->state == OVL_RECORD_ASSEMBLING)
                        return 0;
                ovl_error_fail(err, 0, "rootfs %s: not the tree ovlbackend built (replaced since?); left it alone",
                               rec->rootfs);
                return -ESTALE;
        }
        /* Refuse before deleting anything: a mount below R belongs to someone else, and deleting
         * around it would leave a half-removed rootfs. */
        r = ovl_mounttable_has_mount_below(rec->rootfs, &below);
        if (r < 0)
                return ovl_error_fail(err, -r, "rootfs %s: reading the mount table", rec->rootfs);
        if (below)
                return ovl_error_fail(err, EBUSY, "rootfs %s: something is mounted on or below it; unmount it first",
                                      rec->rootfs);
        return ovl_remove_tree_at(pfd, base, rec->rootfs, err);
}

/* -ESTALE (something not ours stands where the record points, left alone) does not stop the rest:
 * what is ours still goes, and the caller forgets the record. */
static int copy_destroy(const struct ovl_record *rec, struct ovl_error *err)
{
        bool stale = false;
        int r = 0;

        for (size_t i = 0; i < rec->scratch.count && r >= 0; i++) {
                r = remove_scratch(rec, rec->scratch.items[i], err);
                stale |= r == -ESTALE;
                r = r == -ESTALE ? 0 : r;
        }
        if (r == 0)
                r = remove_rootfs(rec, err);
        return r == 0 && stale ? -ESTALE : r;
}

/* The tree at R is the one assemble renamed there (same device, inode and birth time). */
static int copy_in_place(const struct ovl_record *rec, int rootfs_fd)
{
        struct ovl_tree_id id;

        return rootfs_fd >= 0 && ovl_tree_id_get(rootfs_fd, "", &id) == 0 && ovl_tree_id_equal(&rec->tree, &id);
}

static int copy_owns_scratch(const struct ovl_record *rec, const char *record_dir, const char *path)
{
        (void) record_dir;
        return is_scratch_of(rec, path);
}

/* Files of any owner and mode read and re-created with their owners, modes (setuid included),
 * devices, capabilities and trusted.* xattrs (CAP_SYS_ADMIN reads and writes those); no mounts. */
static const int copy_caps[] = { CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
                                 CAP_FSETID, CAP_MKNOD,        CAP_SETFCAP,         CAP_SYS_ADMIN };

/* Removal only: trees of any owner and mode, sticky directories included; no mounts. */
static const int copy_destroy_caps[] = { CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER };

const struct ovl_backend_ops ovl_backend_copy = {
        .name = "copy",
        .summary = "copy the merged layers into a plain directory (works everywhere)",
        .needs = OVL_NEEDS_MKNOD,
        .max_layers = 0,
        .accepts = OVL_ACCEPTS_IDMAP | OVL_ACCEPTS_JOBS,
        .sandbox = { .caps = copy_caps, .n_caps = ARRAY_SIZE(copy_caps), .syscalls = 0 },
        .destroy_sandbox = { .caps = copy_destroy_caps, .n_caps = ARRAY_SIZE(copy_destroy_caps), .syscalls = 0 },
        .assemble = copy_assemble,
        .destroy = copy_destroy,
        .owns_scratch = copy_owns_scratch,
        .in_place = copy_in_place,
};
