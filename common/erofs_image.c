/* An erofs image of a directory tree (see erofs_image.h), written in three steps: a walk of the
 * tree that records every inode and directory entry (and writes the few files with data into the
 * data area, blocks 1 on, as it meets them); a layout that sorts each directory's entries, gives
 * every inode its place in the metadata area (directories' children together, breadth first, so a
 * walk of the mounted tree reads the area front to back) and its directory blocks after it; and
 * the write of the superblock, the inodes and the directory blocks.
 *
 * The format is the kernel's (fs/erofs/erofs_fs.h): 4 KiB blocks, the superblock at byte 1024,
 * 64-byte "extended" inodes (32-bit owners, 64-bit size, mtime with nanoseconds) on 32-byte slots
 * numbered from the metadata area's start (the nid), their xattrs right after them, then a
 * directory's or symlink's last partial block inline where it fits in the inode's block, or a
 * stub's chunk map. Directory blocks hold 12-byte entries (nid, name offset, type) followed by
 * the names, sorted, "." and ".." included, as the kernel's binary search expects. */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "common/erofs_image.h"
#include "common/fscontext.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "common/syscalls.h"
#include "common/walk.h"

#define EROFS_BLOCK_BITS 12
#define EROFS_BLOCK (1u << EROFS_BLOCK_BITS)
#define SLOT_SIZE 32   /* inodes start on 32-byte slots: nid = offset in the metadata area / 32 */
#define INODE_SIZE 64  /* the extended inode */
#define DIRENT_SIZE 12 /* nid (8), name offset (2), file type (1), reserved (1) */
#define XATTR_HEADER_SIZE 12
#define SUPER_OFFSET 1024
#define SUPER_MAGIC 0xE0F5E1E2u
#define INCOMPAT_CHUNKED_FILE 0x4
#define NULL_ADDR 0xFFFFFFFFu
#define NO_NODE SIZE_MAX

enum layout { FLAT_PLAIN = 0, FLAT_INLINE = 2, CHUNK_BASED = 4 };

struct node {
        uint32_t mode, uid, gid, nlink, rdev, mtime_nsec;
        uint64_t size, mtime;
        size_t xattr_off, xattr_len; /* its xattrs in the arena, in the on-disk form (header first) */
        size_t target_off;           /* a symlink's target in the arena */
        uint32_t blkaddr;            /* its first data block (flat layouts) */
        uint8_t layout, chunkbits;   /* chunkbits: a stub's chunk size is the block size << it */
        bool placed;
        uint64_t nid;
        size_t first, count; /* a directory: its entries in the sorted entry array */
        size_t inline_len;   /* bytes kept inline after the xattrs: a tail, or a stub's chunk map */
};

struct entry {
        size_t dir, node;
        size_t name_off, name_len; /* in the arena */
};

struct link {
        dev_t dev;
        ino_t ino;
        size_t node; /* NO_NODE: a free slot */
};

struct writer {
        int out_fd;
        struct node *nodes;
        size_t n_nodes, cap_nodes;
        struct entry *entries;
        size_t n_entries, cap_entries;
        unsigned char *arena;
        size_t arena_len, arena_cap;
        size_t *dirs; /* the directories being walked, innermost last */
        size_t depth, cap_dirs;
        struct link *links; /* multiply-linked inodes met so far, open addressing */
        size_t n_links, cap_links;
        uint32_t data_blocks; /* the data area: blocks 1 .. data_blocks */
};

static int grow(void **items, size_t *cap, size_t need, size_t size)
{
        size_t n = *cap ? *cap : 64;
        void *p;

        if (need <= *cap)
                return 0;
        while (n < need)
                n *= 2;
        p = reallocarray(*items, n, size);
        if (!p)
                return -ENOMEM;
        *items = p;
        *cap = n;
        return 0;
}

/* Appends len bytes (zeros for NULL) to the arena; returns their offset, or SIZE_MAX. */
static size_t arena_add(struct writer *w, const void *data, size_t len)
{
        size_t off = w->arena_len;

        if (grow((void **) &w->arena, &w->arena_cap, off + len, 1) < 0)
                return SIZE_MAX;
        if (data)
                memcpy(w->arena + off, data, len);
        else
                memset(w->arena + off, 0, len);
        w->arena_len += len;
        return off;
}

static void put16(unsigned char *p, uint16_t v)
{
        v = htole16(v);
        memcpy(p, &v, 2);
}

static void put32(unsigned char *p, uint32_t v)
{
        v = htole32(v);
        memcpy(p, &v, 4);
}

static void put64(unsigned char *p, uint64_t v)
{
        v = htole64(v);
        memcpy(p, &v, 8);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
        return (v + a - 1) / a * a;
}

/* The erofs name index of an xattr and the part of its name stored, or 0 for a namespace erofs
 * has no index for. */
static uint8_t xattr_index(const char *name, const char **ret_suffix)
{
        static const struct {
                const char *prefix;
                uint8_t index;
                bool whole; /* the prefix is the whole name */
        } map[] = {
                { "user.", 1, false },
                { "system.posix_acl_access", 2, true },
                { "system.posix_acl_default", 3, true },
                { "trusted.", 4, false },
                { "security.", 6, false },
        };

        for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
                size_t n = strlen(map[i].prefix);
                if (strncmp(name, map[i].prefix, n) == 0 && (!map[i].whole || name[n] == '\0')) {
                        *ret_suffix = name + n;
                        return map[i].index;
                }
        }
        return 0;
}

/* Reads path's xattrs into the arena in the on-disk inline form. Sets *is_stub when one is
 * trusted.overlay.metacopy. Returns 0 or -errno with err set. */
static int read_xattrs(struct writer *w, struct node *n, const char *path, const char *what, bool *is_stub,
                       struct ovl_error *err)
{
        _cleanup_free_ char *names = NULL;
        _cleanup_free_ char *value = NULL;
        size_t len = 0, start;
        int r = ovl_xattr_list(path, &names, &len);

        *is_stub = false;
        if (r < 0)
                return ovl_error_fail(err, -r, "%s: listing its xattrs", what);
        if (len == 0)
                return 0;
        value = malloc(XATTR_SIZE_MAX);
        start = arena_add(w, NULL, XATTR_HEADER_SIZE);
        if (!value || start == SIZE_MAX)
                return ovl_error_fail(err, ENOMEM, "%s", what);
        for (const char *name = names; name < names + len; name += strlen(name) + 1) {
                const char *suffix;
                uint8_t index = xattr_index(name, &suffix);
                unsigned char head[4];
                ssize_t size;

                if (index == 0 || strlen(suffix) > 255)
                        return ovl_error_set(err, OVL_ERR_UNSUPPORTED, EOPNOTSUPP,
                                             "%s: xattr %s has no place in an erofs image", what, name);
                size = lgetxattr(path, name, value, XATTR_SIZE_MAX);
                if (size < 0 && errno == ENODATA)
                        continue;
                if (size < 0)
                        return ovl_error_fail(err, errno, "%s: xattr %s", what, name);
                if (size > UINT16_MAX)
                        return ovl_error_set(err, OVL_ERR_UNSUPPORTED, EOPNOTSUPP,
                                             "%s: xattr %s is too long for an erofs image", what, name);
                head[0] = (unsigned char) strlen(suffix);
                head[1] = index;
                put16(head + 2, (uint16_t) size);
                if (arena_add(w, head, 4) == SIZE_MAX || arena_add(w, suffix, head[0]) == SIZE_MAX ||
                    arena_add(w, value, (size_t) size) == SIZE_MAX ||
                    arena_add(w, NULL, align_up(4 + head[0] + (size_t) size, 4) - (4 + head[0] + (size_t) size)) ==
                            SIZE_MAX)
                        return ovl_error_fail(err, ENOMEM, "%s", what);
                if (strcmp(name, "trusted.overlay.metacopy") == 0)
                        *is_stub = true;
        }
        if (w->arena_len - start > XATTR_HEADER_SIZE + 4 * (size_t) (UINT16_MAX - 1))
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, EOPNOTSUPP, "%s: too many xattrs for an erofs image",
                                     what);
        n->xattr_off = start;
        n->xattr_len = w->arena_len - start;
        return 0;
}

/* Copies the data of a regular file that is not a stub into the data area. */
static int copy_data(struct writer *w, struct node *n, int dirfd, const char *name, const char *what,
                     struct ovl_error *err)
{
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *buf = malloc(1 << 16);
        uint64_t blocks = align_up(n->size, EROFS_BLOCK) / EROFS_BLOCK, done = 0;
        off_t at = (off_t) (w->data_blocks + 1) * EROFS_BLOCK;

        if (fd < 0 || !buf)
                return ovl_error_fail(err, fd < 0 ? errno : ENOMEM, "%s", what);
        if (w->data_blocks + blocks >= UINT32_MAX / 2)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, EOPNOTSUPP, "%s: too much data for the image", what);
        while (done < n->size) {
                ssize_t got = read(fd, buf, 1 << 16);
                if (got <= 0 || done + (uint64_t) got > n->size)
                        return ovl_error_fail(err, got < 0 ? errno : EIO, "%s: its size changed while it was read",
                                              what);
                if (pwrite(w->out_fd, buf, (size_t) got, at + (off_t) done) != got)
                        return ovl_error_fail(err, errno ? errno : EIO, "writing the erofs image");
                done += (uint64_t) got;
        }
        n->blkaddr = w->data_blocks + 1;
        w->data_blocks += (uint32_t) blocks;
        return 0;
}

static size_t *link_slot(struct writer *w, dev_t dev, ino_t ino)
{
        size_t i = (size_t) (ino * 0x9E3779B97F4A7C15ull ^ dev) & (w->cap_links - 1);

        while (w->links[i].node != NO_NODE && !(w->links[i].dev == dev && w->links[i].ino == ino))
                i = (i + 1) & (w->cap_links - 1);
        w->links[i].dev = dev;
        w->links[i].ino = ino;
        return &w->links[i].node;
}

/* The node already made for another name of this inode, or NO_NODE. Remembers node for it. */
static int link_find_or_add(struct writer *w, const struct stat *st, size_t node, size_t *ret)
{
        size_t *slot;

        if (2 * (w->n_links + 1) > w->cap_links) {
                struct link *old = w->links;
                size_t old_cap = w->cap_links;

                w->cap_links = old_cap ? 2 * old_cap : 1024;
                w->links = malloc(w->cap_links * sizeof(*w->links));
                if (!w->links) {
                        w->links = old;
                        w->cap_links = old_cap;
                        return -ENOMEM;
                }
                for (size_t i = 0; i < w->cap_links; i++)
                        w->links[i].node = NO_NODE;
                for (size_t i = 0; i < old_cap; i++)
                        if (old[i].node != NO_NODE)
                                *link_slot(w, old[i].dev, old[i].ino) = old[i].node;
                free(old);
        }
        slot = link_slot(w, st->st_dev, st->st_ino);
        *ret = *slot;
        if (*slot == NO_NODE) {
                *slot = node;
                w->n_links++;
        }
        return 0;
}

static int add_entry(struct writer *w, size_t dir, size_t node, const char *name, size_t len)
{
        size_t off = arena_add(w, name, len);

        if (off == SIZE_MAX || grow((void **) &w->entries, &w->cap_entries, w->n_entries + 1, sizeof(*w->entries)) < 0)
                return -ENOMEM;
        w->entries[w->n_entries++] = (struct entry){ .dir = dir, .node = node, .name_off = off, .name_len = len };
        return 0;
}

/* Records the entry at dirfd/name (or the directory at fd, for the top) as a new node. */
static int add_node(struct writer *w, const struct ovl_walk_entry *e, int fd, size_t *ret, struct ovl_error *err)
{
        char path[OVL_FD_PATH_MAX];
        const struct stat *st = e->st;
        struct node *n;
        bool stub;
        int r;

        if (grow((void **) &w->nodes, &w->cap_nodes, w->n_nodes + 1, sizeof(*w->nodes)) < 0)
                return ovl_error_fail(err, ENOMEM, "erofs image");
        n = &w->nodes[w->n_nodes];
        *n = (struct node){ .mode = st->st_mode,
                            .uid = st->st_uid,
                            .gid = st->st_gid,
                            .nlink = 0,
                            .mtime = (uint64_t) st->st_mtim.tv_sec,
                            .mtime_nsec = (uint32_t) st->st_mtim.tv_nsec };
        if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode))
                n->size = (uint64_t) st->st_size;
        if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
                n->rdev = (minor(st->st_rdev) & 0xff) | (major(st->st_rdev) << 8) |
                          ((minor(st->st_rdev) & ~0xffu) << 12);
        r = fd >= 0 ? ovl_fd_path(path, sizeof(path), fd, "") : ovl_fd_path(path, sizeof(path), e->dirfd, e->name);
        if (r < 0)
                return ovl_error_fail(err, -r, "erofs image: %s", e->name);
        r = read_xattrs(w, n, path, e->name[0] ? e->name : "the top", &stub, err);
        if (r < 0)
                return r;
        if (S_ISLNK(st->st_mode)) {
                char target[EROFS_BLOCK];
                ssize_t len = readlinkat(e->dirfd, e->name, target, sizeof(target));
                if (len < 0 || (uint64_t) len != n->size)
                        return ovl_error_fail(err, len < 0 ? errno : EIO, "erofs image: symlink %s", e->name);
                if ((n->target_off = arena_add(w, target, (size_t) len)) == SIZE_MAX)
                        return ovl_error_fail(err, ENOMEM, "erofs image");
        } else if (S_ISREG(st->st_mode) && n->size > 0 && stub) {
                n->layout = CHUNK_BASED;
                while (n->chunkbits < 31 && ((uint64_t) EROFS_BLOCK << n->chunkbits) < n->size)
                        n->chunkbits++;
                n->inline_len = 4 * align_up(n->size, (uint64_t) EROFS_BLOCK << n->chunkbits) /
                                ((uint64_t) EROFS_BLOCK << n->chunkbits);
        } else if (S_ISREG(st->st_mode) && n->size > 0) {
                r = copy_data(w, n, e->dirfd, e->name, e->name, err);
                if (r < 0)
                        return r;
        }
        *ret = w->n_nodes++;
        return 0;
}

static int visit_dir(void *ctx, const struct ovl_walk_entry *e, int fd, struct ovl_error *err)
{
        struct writer *w = ctx;
        size_t node, parent = w->depth ? w->dirs[w->depth - 1] : NO_NODE;
        int r = add_node(w, e, fd, &node, err);

        if (r < 0)
                return r;
        if (grow((void **) &w->dirs, &w->cap_dirs, w->depth + 1, sizeof(*w->dirs)) < 0 ||
            add_entry(w, node, node, ".", 1) < 0 ||
            add_entry(w, node, parent == NO_NODE ? node : parent, "..", 2) < 0 ||
            (parent != NO_NODE && add_entry(w, parent, node, e->name, strlen(e->name)) < 0))
                return ovl_error_fail(err, ENOMEM, "erofs image");
        w->dirs[w->depth++] = node;
        return 0;
}

static int visit_leave(void *ctx, const struct ovl_walk_entry *e, struct ovl_error *err)
{
        struct writer *w = ctx;

        (void) e;
        (void) err;
        w->depth--;
        return 0;
}

static int visit_file(void *ctx, const struct ovl_walk_entry *e, struct ovl_error *err)
{
        struct writer *w = ctx;
        size_t node = NO_NODE;
        int r = 0;

        if (e->depth == 0)
                return ovl_error_fail(err, ENOTDIR, "erofs image: the top is not a directory");
        if (e->st->st_nlink > 1 && link_find_or_add(w, e->st, w->n_nodes, &node) < 0)
                return ovl_error_fail(err, ENOMEM, "erofs image");
        if (node == NO_NODE)
                r = add_node(w, e, -1, &node, err);
        if (r < 0)
                return r;
        w->nodes[node].nlink++;
        if (add_entry(w, w->dirs[w->depth - 1], node, e->name, strlen(e->name)) < 0)
                return ovl_error_fail(err, ENOMEM, "erofs image");
        return 0;
}

/* The entries of one directory sort by name, bytewise, the shorter of two equal prefixes first. */
static int entry_cmp(const void *pa, const void *pb, void *arena)
{
        const struct entry *a = pa, *b = pb;
        const unsigned char *sort_arena = arena;
        int c;

        if (a->dir != b->dir)
                return a->dir < b->dir ? -1 : 1;
        c = memcmp(sort_arena + a->name_off, sort_arena + b->name_off, MIN(a->name_len, b->name_len));
        return c ? c : (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

/* How many of the entries from `from` on fill one directory block, and the bytes they take. */
static size_t dir_block(const struct writer *w, const struct node *d, size_t from, size_t *ret_bytes)
{
        size_t bytes = 0, n = 0;

        while (from + n < d->count && bytes + DIRENT_SIZE + w->entries[d->first + from + n].name_len <= EROFS_BLOCK)
                bytes += DIRENT_SIZE + w->entries[d->first + from + n++].name_len;
        *ret_bytes = bytes;
        return n;
}

static uint64_t dir_size(const struct writer *w, const struct node *d)
{
        uint64_t size = 0;
        size_t bytes;

        for (size_t i = 0, n; i < d->count; i += n) {
                n = dir_block(w, d, i, &bytes);
                size = i + n < d->count ? size + EROFS_BLOCK : size + bytes;
        }
        return size;
}

/* Sorts the entries, groups them by directory, and sizes every directory. */
static void layout_dirs(struct writer *w)
{
        qsort_r(w->entries, w->n_entries, sizeof(*w->entries), entry_cmp, w->arena);
        for (size_t i = 0; i < w->n_entries; i++) {
                struct node *d = &w->nodes[w->entries[i].dir];
                const struct entry *e = &w->entries[i];
                if (d->count++ == 0)
                        d->first = i;
                if (S_ISDIR(w->nodes[e->node].mode) && e->node != e->dir &&
                    !(e->name_len == 2 && memcmp(w->arena + e->name_off, "..", 2) == 0))
                        d->nlink++;
        }
        for (size_t i = 0; i < w->n_nodes; i++) {
                struct node *n = &w->nodes[i];
                uint64_t tail;

                if (!S_ISDIR(n->mode) && !S_ISLNK(n->mode))
                        continue;
                if (S_ISDIR(n->mode)) {
                        n->nlink += 2;
                        n->size = dir_size(w, n);
                }
                tail = n->size % EROFS_BLOCK;
                if (tail && INODE_SIZE + n->xattr_len + tail <= EROFS_BLOCK) {
                        n->layout = FLAT_INLINE;
                        n->inline_len = tail;
                }
        }
}

/* Gives node the next slot of the metadata area (its whole record within one block where it fits
 * one, as the kernel wants an inline tail), unless it has one: a hard link's other names. */
static void place(struct writer *w, size_t node, uint64_t *pos, size_t *order, size_t *n_order)
{
        struct node *n = &w->nodes[node];
        uint64_t rec = INODE_SIZE + n->xattr_len + n->inline_len;

        if (n->placed)
                return;
        *pos = align_up(*pos, SLOT_SIZE);
        if (rec > EROFS_BLOCK || *pos % EROFS_BLOCK + rec > EROFS_BLOCK)
                *pos = align_up(*pos, EROFS_BLOCK);
        n->nid = *pos / SLOT_SIZE;
        n->placed = true;
        order[(*n_order)++] = node;
        *pos += rec;
}

/* Where each inode goes: the root, then each directory's children together, breadth first (order
 * is also the queue). Returns the metadata area's length in bytes. */
static uint64_t place_inodes(struct writer *w, size_t *order)
{
        uint64_t pos = SLOT_SIZE; /* nid 0 left unused */
        size_t n_order = 0;

        place(w, 0, &pos, order, &n_order);
        for (size_t q = 0; q < n_order; q++) {
                const struct node *d = &w->nodes[order[q]];
                for (size_t i = 0; S_ISDIR(d->mode) && i < d->count; i++)
                        place(w, w->entries[d->first + i].node, &pos, order, &n_order);
        }
        return pos;
}

/* A stream of writes at growing offsets, buffered. */
struct out {
        int fd;
        uint64_t start; /* the file offset of buf[0] */
        size_t len;
        unsigned char buf[1 << 16];
};

static int out_flush(struct out *o)
{
        if (o->len && pwrite(o->fd, o->buf, o->len, (off_t) o->start) != (ssize_t) o->len)
                return errno ? -errno : -EIO;
        o->start += o->len;
        o->len = 0;
        return 0;
}

static int out_put(struct out *o, uint64_t at, const void *data, size_t len)
{
        int r;

        while (o->start + o->len < at) {
                size_t pad = MIN(at - (o->start + o->len), sizeof(o->buf) - o->len);
                memset(o->buf + o->len, 0, pad);
                o->len += pad;
                if (o->len == sizeof(o->buf) && (r = out_flush(o)) < 0)
                        return r;
        }
        while (len > 0) {
                size_t n = MIN(len, sizeof(o->buf) - o->len);
                memcpy(o->buf + o->len, data, n);
                o->len += n;
                data = (const unsigned char *) data + n;
                len -= n;
                if (o->len == sizeof(o->buf) && (r = out_flush(o)) < 0)
                        return r;
        }
        return 0;
}

static uint8_t file_type(uint32_t mode)
{
        switch (mode & S_IFMT) {
        case S_IFREG:
                return 1;
        case S_IFDIR:
                return 2;
        case S_IFCHR:
                return 3;
        case S_IFBLK:
                return 4;
        case S_IFIFO:
                return 5;
        case S_IFSOCK:
                return 6;
        case S_IFLNK:
                return 7;
        }
        return 0;
}

/* Fills block with the directory block of d that starts at entry `from`; returns the entries. */
static size_t fill_dir_block(const struct writer *w, const struct node *d, size_t from, unsigned char *block,
                             size_t *ret_bytes)
{
        size_t n = dir_block(w, d, from, ret_bytes), off = n * DIRENT_SIZE;

        memset(block, 0, EROFS_BLOCK);
        for (size_t i = 0; i < n; i++) {
                const struct entry *e = &w->entries[d->first + from + i];
                unsigned char *de = block + i * DIRENT_SIZE;

                put64(de, w->nodes[e->node].nid);
                put16(de + 8, (uint16_t) off);
                de[10] = file_type(w->nodes[e->node].mode);
                memcpy(block + off, w->arena + e->name_off, e->name_len);
                off += e->name_len;
        }
        return n;
}

/* A directory's last block, kept inline after its inode. */
static int write_dir_tail(const struct writer *w, struct out *o, const struct node *d, uint64_t at)
{
        unsigned char block[EROFS_BLOCK];
        size_t bytes, i = 0, k;

        while (i + (k = dir_block(w, d, i, &bytes)) < d->count)
                i += k;
        fill_dir_block(w, d, i, block, &bytes);
        return out_put(o, at, block, bytes);
}

static int write_inode(struct writer *w, struct out *o, uint64_t meta_start, const struct node *n, size_t index)
{
        unsigned char rec[INODE_SIZE + EROFS_BLOCK] = { 0 }, block[EROFS_BLOCK];
        uint32_t u = n->layout == CHUNK_BASED               ? n->chunkbits
                     : S_ISCHR(n->mode) || S_ISBLK(n->mode) ? n->rdev
                                                            : n->blkaddr;
        size_t len = INODE_SIZE;
        int r;

        put16(rec, (uint16_t) (1 | n->layout << 1));
        put16(rec + 2, (uint16_t) (n->xattr_len ? (n->xattr_len - XATTR_HEADER_SIZE) / 4 + 1 : 0));
        put16(rec + 4, (uint16_t) n->mode);
        put64(rec + 8, n->size);
        put32(rec + 16, u);
        put32(rec + 20, (uint32_t) index + 1);
        put32(rec + 24, n->uid);
        put32(rec + 28, n->gid);
        put64(rec + 32, n->mtime);
        put32(rec + 40, n->mtime_nsec);
        put32(rec + 44, n->nlink);
        r = out_put(o, meta_start + n->nid * SLOT_SIZE, rec, INODE_SIZE);
        if (r == 0 && n->xattr_len)
                r = out_put(o, meta_start + n->nid * SLOT_SIZE + len, w->arena + n->xattr_off, n->xattr_len);
        len += n->xattr_len;
        if (r < 0 || n->inline_len == 0)
                return r;
        if (n->layout == CHUNK_BASED) {
                memset(block, 0xff, sizeof(block));
                for (size_t done = 0; r == 0 && done < n->inline_len; done += MIN(sizeof(block), n->inline_len - done))
                        r = out_put(o, meta_start + n->nid * SLOT_SIZE + len + done, block,
                                    MIN(sizeof(block), n->inline_len - done));
                return r;
        }
        if (S_ISLNK(n->mode))
                return out_put(o, meta_start + n->nid * SLOT_SIZE + len, w->arena + n->target_off, n->inline_len);
        return write_dir_tail(w, o, n, meta_start + n->nid * SLOT_SIZE + len);
}

/* Gives each directory (breadth first) its full blocks after the metadata area, and symlinks
 * whose target did not fit inline a block of their own; then writes the inodes and those blocks. */
static int write_image(struct writer *w, const size_t *order, uint64_t meta_start, uint64_t meta_len,
                       uint32_t *ret_blocks)
{
        _cleanup_free_ struct out *o = calloc(1, sizeof(*o));
        unsigned char block[EROFS_BLOCK];
        uint64_t next = align_up(meta_start + meta_len, EROFS_BLOCK) / EROFS_BLOCK;
        int r = 0;

        if (!o)
                return -ENOMEM;
        for (size_t k = 0; k < w->n_nodes; k++) {
                struct node *n = &w->nodes[order[k]];
                if (S_ISDIR(n->mode) || (S_ISLNK(n->mode) && n->layout == FLAT_PLAIN)) {
                        n->blkaddr = (uint32_t) next;
                        next += n->size / EROFS_BLOCK + (n->layout == FLAT_PLAIN && n->size % EROFS_BLOCK ? 1 : 0);
                }
        }
        if (next >= UINT32_MAX)
                return -EFBIG;
        o->fd = w->out_fd;
        o->start = meta_start;
        for (size_t k = 0; r == 0 && k < w->n_nodes; k++)
                r = write_inode(w, o, meta_start, &w->nodes[order[k]], order[k]);
        for (size_t k = 0; r == 0 && k < w->n_nodes; k++) {
                const struct node *n = &w->nodes[order[k]];
                uint64_t at = (uint64_t) n->blkaddr * EROFS_BLOCK, full = n->size / EROFS_BLOCK;
                size_t bytes;

                if (S_ISLNK(n->mode) && n->layout == FLAT_PLAIN)
                        r = out_put(o, at, w->arena + n->target_off, n->size);
                for (size_t i = 0, b = 0; S_ISDIR(n->mode) && r == 0 && i < n->count; b++) {
                        if (b == full && n->layout == FLAT_INLINE)
                                break; /* the tail is inline */
                        i += fill_dir_block(w, n, i, block, &bytes);
                        r = out_put(o, at + b * EROFS_BLOCK, block, b < full ? EROFS_BLOCK : bytes);
                }
        }
        if (r == 0)
                r = out_flush(o);
        *ret_blocks = (uint32_t) next;
        return r;
}

static int write_super(int fd, uint64_t root_nid, uint64_t inos, uint32_t blocks, uint32_t meta_blkaddr)
{
        unsigned char sb[128] = { 0 };
        struct timespec now;
        struct stat st;

        put32(sb, SUPER_MAGIC);
        sb[12] = EROFS_BLOCK_BITS;
        put16(sb + 14, (uint16_t) root_nid);
        put64(sb + 16, inos);
        put32(sb + 36, blocks);
        put32(sb + 40, meta_blkaddr);
        /* A volume uuid, unique enough: the image file's identity and the time it was written. */
        if (fstat(fd, &st) < 0 || clock_gettime(CLOCK_REALTIME, &now) < 0)
                return -errno;
        put64(sb + 48, (uint64_t) st.st_ino ^ ((uint64_t) st.st_dev << 40));
        put64(sb + 56, (uint64_t) now.tv_sec * 1000000000u + (uint64_t) now.tv_nsec);
        put32(sb + 80, INCOMPAT_CHUNKED_FILE);
        if (pwrite(fd, sb, sizeof(sb), SUPER_OFFSET) != (ssize_t) sizeof(sb))
                return errno ? -errno : -EIO;
        return 0;
}

static void writer_free(struct writer *w)
{
        free(w->nodes);
        free(w->entries);
        free(w->arena);
        free(w->dirs);
        free(w->links);
}

int ovl_erofs_write_tree(int dirfd, int out_fd, struct ovl_error *err)
{
        struct writer w = { .out_fd = out_fd };
        const struct ovl_walk_visitor v = {
                .ctx = &w, .file = visit_file, .dir_enter = visit_dir, .dir_leave = visit_leave
        };
        _cleanup_free_ size_t *order = NULL;
        uint64_t meta_start, meta_len;
        uint32_t blocks = 0;
        int r = ovl_walk_tree_at(dirfd, "", OVL_WALK_TOP_MOUNT, &v, "erofs image", err);

        if (r == 0 && w.n_nodes == 0)
                r = ovl_error_fail(err, ENOENT, "erofs image: nothing to write");
        if (r < 0) {
                writer_free(&w);
                return r;
        }
        layout_dirs(&w);
        order = malloc(w.n_nodes * sizeof(*order));
        r = order ? 0 : -ENOMEM;
        /* The metadata area starts after the data area, so the root's nid (16 bits) stays 1. */
        meta_start = (uint64_t) (w.data_blocks + 1) * EROFS_BLOCK;
        if (r == 0) {
                meta_len = place_inodes(&w, order);
                r = write_image(&w, order, meta_start, meta_len, &blocks);
        }
        if (r == 0)
                r = write_super(out_fd, w.nodes[0].nid, w.n_nodes, blocks, w.data_blocks + 1);
        if (r == 0 && ftruncate(out_fd, (off_t) blocks * EROFS_BLOCK) < 0)
                r = -errno;
        writer_free(&w);
        return r < 0 ? ovl_error_fail(err, -r, "writing the erofs image") : 0;
}

int ovl_erofs_mount(int image_fd, struct ovl_error *err)
{
        _cleanup_close_ int fs = ovl_fsopen("erofs", FSOPEN_CLOEXEC);
        char source[32];
        int m;

        if (fs < 0)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, errno, "erofs: fsopen");
        snprintf(source, sizeof(source), "/proc/self/fd/%d", image_fd);
        if (ovl_fsconfig(fs, FSCONFIG_SET_STRING, "source", source, 0) < 0 ||
            ovl_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
            (m = ovl_fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY)) < 0) {
                int e = errno;
                ovl_error_set(err, OVL_ERR_UNSUPPORTED, e, "erofs: mounting the metadata image");
                ovl_fscontext_append_log(fs, err);
                return -e;
        }
        return m;
}
