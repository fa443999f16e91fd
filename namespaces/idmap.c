#include "config.h"

#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "namespaces/idmap.h"

static bool overlaps(uint32_t a, uint32_t a_count, uint32_t b, uint32_t b_count)
{
        return a < b + (uint64_t) b_count && b < a + (uint64_t) a_count;
}

/* One decimal id field of a map, no sign, at most max. Returns 0 or -EINVAL; *end past it. */
static int parse_id(const char *s, const char **end, uint64_t max, uint64_t *ret)
{
        char *e;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        *ret = strtoull(s, &e, 10);
        if (errno || *ret > max)
                return -EINVAL;
        *end = e;
        return 0;
}

int ovl_idmap_add(struct ovl_idmap *m, bool gid, const char *spec, struct ovl_error *err)
{
        struct ovl_id_range *ranges = gid ? m->gid : m->uid, r;
        size_t *n = gid ? &m->n_gid : &m->n_uid;
        const char *opt = gid ? "--gidmap" : "--uidmap";
        uint64_t in = 0, out = 0, count = 0;
        const char *p = spec;

        /* Ids up to 2^32-2 ((uid_t) -1 means "no change" to chown), ranges that do not wrap. */
        if (parse_id(p, &p, UINT32_MAX - 1, &in) < 0 || *p++ != ':' || parse_id(p, &p, UINT32_MAX - 1, &out) < 0 ||
            *p++ != ':' || parse_id(p, &p, UINT32_MAX, &count) < 0 || *p || count == 0 || in + count > UINT32_MAX ||
            out + count > UINT32_MAX)
                return ovl_error_bad(err, 0, "%s=%s: expected CONTAINER:HOST:COUNT (COUNT > 0, ids below 2^32-1)", opt,
                                     spec);
        if (*n == OVL_IDMAP_MAX)
                return ovl_error_bad(err, 0, "%s: at most %d ranges", opt, OVL_IDMAP_MAX);
        r = (struct ovl_id_range){ (uint32_t) in, (uint32_t) out, (uint32_t) count };
        for (size_t i = 0; i < *n; i++)
                if (overlaps(ranges[i].inside, ranges[i].count, r.inside, r.count) ||
                    overlaps(ranges[i].outside, ranges[i].count, r.outside, r.count))
                        return ovl_error_bad(err, 0, "%s=%s: overlaps another range", opt, spec);
        ranges[(*n)++] = r;
        return 0;
}

static int read_map(const char *path, struct ovl_idmap *m, bool gid, struct ovl_error *err)
{
        _cleanup_free_ char *text = NULL;
        char *line, *save = NULL;
        int r = ovl_read_file_at(AT_FDCWD, path, 1 << 16, &text);

        if (r < 0)
                return ovl_error_bad(err, -r, "--userns: %s", path);
        for (line = strtok_r(text, "\n", &save); line && r == 0; line = strtok_r(NULL, "\n", &save)) {
                char spec[96];
                unsigned long long in, out, count;
                if (sscanf(line, "%llu %llu %llu", &in, &out, &count) != 3)
                        return ovl_error_bad(err, 0, "--userns: %s: unreadable line '%s'", path, line);
                snprintf(spec, sizeof(spec), "%llu:%llu:%llu", in, out, count);
                r = ovl_idmap_add(m, gid, spec, err);
        }
        return r;
}

int ovl_idmap_from_userns(const char *path, struct ovl_idmap *ret, struct ovl_error *err)
{
        char map[64];
        int pid, end = 0, r;

        if (sscanf(path, "/proc/%d/ns/user%n", &pid, &end) != 1 || path[end] != '\0')
                return ovl_error_bad(err, 0, "--userns=%s: expected /proc/PID/ns/user", path);
        snprintf(map, sizeof(map), "/proc/%d/uid_map", pid);
        r = read_map(map, ret, false, err);
        snprintf(map, sizeof(map), "/proc/%d/gid_map", pid);
        return r < 0 ? r : read_map(map, ret, true, err);
}

static uint32_t map_id(const struct ovl_id_range *ranges, size_t n, uint32_t id)
{
        for (size_t i = 0; i < n; i++)
                if (id >= ranges[i].inside && id - ranges[i].inside < ranges[i].count)
                        return ranges[i].outside + (id - ranges[i].inside);
        return OVL_ID_UNMAPPED;
}

uint32_t ovl_idmap_uid(const struct ovl_idmap *m, uint32_t id)
{
        return map_id(m->uid, m->n_uid, id);
}

uint32_t ovl_idmap_gid(const struct ovl_idmap *m, uint32_t id)
{
        return map_id(m->gid, m->n_gid, id);
}

static int write_map(pid_t pid, const char *file, const struct ovl_id_range *ranges, size_t n)
{
        char path[64], text[OVL_IDMAP_MAX * 40];
        size_t len = 0;
        _cleanup_close_ int fd = -1;

        for (size_t i = 0; i < n; i++)
                len += (size_t) snprintf(text + len, sizeof(text) - len, "%u %u %u\n", ranges[i].inside,
                                         ranges[i].outside, ranges[i].count);
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        return fd >= 0 && write(fd, text, len) == (ssize_t) len ? 0 : -errno;
}

/* A child unshares a user namespace and waits; the parent writes its maps and opens it. */
int ovl_idmap_userns(const struct ovl_idmap *m, int *ret_fd, struct ovl_error *err)
{
        _cleanup_close_ int ready_r = -1, ready_w = -1, done_r = -1, done_w = -1;
        int p[2], r = 0;
        char path[64], b = EIO;
        pid_t pid;

        *ret_fd = -1;
        if (pipe2(p, O_CLOEXEC) < 0)
                return ovl_error_fail(err, errno, "idmap: pipe");
        ready_r = p[0];
        ready_w = p[1];
        if (pipe2(p, O_CLOEXEC) < 0)
                return ovl_error_fail(err, errno, "idmap: pipe");
        done_r = p[0];
        done_w = p[1];
        pid = fork();
        if (pid == 0) {
                ready_r = safe_close(ready_r);
                done_w = safe_close(done_w);
                b = unshare(CLONE_NEWUSER) == 0 ? 0 : (char) errno; /* 0, or why not */
                (void) !write(ready_w, &b, 1);
                (void) !read(done_r, &b, 1);
                _exit(0);
        }
        ready_w = safe_close(ready_w);
        done_r = safe_close(done_r);
        if (pid < 0)
                r = ovl_error_fail(err, errno, "idmap: fork");
        else if (read(ready_r, &b, 1) != 1 || b != 0)
                r = ovl_error_set(err, OVL_ERR_UNSUPPORTED, b, "idmap: a new user namespace for the maps");
        else if ((r = write_map(pid, "uid_map", m->uid, m->n_uid)) < 0 ||
                 (r = write_map(pid, "gid_map", m->gid, m->n_gid)) < 0)
                r = ovl_error_fail(err, -r, "idmap: writing the user namespace's maps");
        if (r == 0) {
                snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
                *ret_fd = open(path, O_RDONLY | O_CLOEXEC);
                if (*ret_fd < 0)
                        r = ovl_error_fail(err, errno, "idmap: %s", path);
        }
        /* The child waits for this end to close (EOF) before it exits. */
        done_w = safe_close(done_w);
        if (pid > 0)
                (void) waitpid(pid, NULL, 0);
        return r;
}

#define CAP_V2_SIZE 20
#define CAP_V3_SIZE 24
#define CAP_REVISION_MASK 0xFF000000u
#define CAP_REVISION_2 0x02000000u
#define CAP_REVISION_3 0x03000000u

/* security.capability: v2 is valid only for the initial namespace's root; v3 names its root. */
static void map_capability(const struct ovl_idmap *m, uint8_t *buf, size_t *len)
{
        uint32_t magic, rootid = 0;

        if (*len < 4)
                return;
        memcpy(&magic, buf, 4);
        magic = le32toh(magic);
        if ((magic & CAP_REVISION_MASK) == CAP_REVISION_3 && *len == CAP_V3_SIZE) {
                memcpy(&rootid, buf + CAP_V2_SIZE, 4);
                rootid = le32toh(rootid);
        } else if ((magic & CAP_REVISION_MASK) != CAP_REVISION_2 || *len != CAP_V2_SIZE) {
                return;
        }
        magic = htole32((magic & ~CAP_REVISION_MASK) | CAP_REVISION_3);
        memcpy(buf, &magic, 4);
        rootid = htole32(ovl_idmap_uid(m, rootid));
        memcpy(buf + CAP_V2_SIZE, &rootid, 4);
        *len = CAP_V3_SIZE;
}

/* POSIX ACLs: a 4-byte header, then {u16 tag, u16 perm, u32 id} entries (little endian). */
static void map_acl(const struct ovl_idmap *m, uint8_t *buf, size_t len)
{
        for (size_t off = 4; off + 8 <= len; off += 8) {
                uint16_t tag;
                uint32_t id;
                memcpy(&tag, buf + off, 2);
                memcpy(&id, buf + off + 4, 4);
                tag = le16toh(tag);
                if (tag == 0x02) /* ACL_USER */
                        id = htole32(ovl_idmap_uid(m, le32toh(id)));
                else if (tag == 0x08) /* ACL_GROUP */
                        id = htole32(ovl_idmap_gid(m, le32toh(id)));
                else
                        continue;
                memcpy(buf + off + 4, &id, 4);
        }
}

void ovl_idmap_xattr(const struct ovl_idmap *m, const char *name, void *buf, size_t *len)
{
        if (strcmp(name, "security.capability") == 0)
                map_capability(m, buf, len);
        else if (strcmp(name, "system.posix_acl_access") == 0 || strcmp(name, "system.posix_acl_default") == 0)
                map_acl(m, buf, *len);
}
