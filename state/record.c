#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "state/record.h"

static const char *const state_names[] = {
        [OVL_RECORD_ASSEMBLING] = "assembling",
        [OVL_RECORD_READY] = "ready",
        [OVL_RECORD_DESTROYING] = "destroying",
};

const char *ovl_record_state_name(enum ovl_record_state state)
{
        return (unsigned) state < ARRAY_SIZE(state_names) ? state_names[state] : "unknown";
}

int ovl_strlist_append(struct ovl_strlist *l, const char *s)
{
        char **grown = realloc(l->items, (l->count + 1) * sizeof(char *));

        if (!grown)
                return -ENOMEM;
        l->items = grown;
        if (!(l->items[l->count] = strdup(s)))
                return -ENOMEM;
        l->count++;
        return 0;
}

bool ovl_strlist_has(const struct ovl_strlist *l, const char *s)
{
        for (size_t i = 0; i < l->count; i++)
                if (strcmp(l->items[i], s) == 0)
                        return true;
        return false;
}

void ovl_strlist_clear(struct ovl_strlist *l)
{
        for (size_t i = 0; i < l->count; i++)
                free(l->items[i]);
        free(l->items);
        l->items = NULL;
        l->count = 0;
}

static void put_escaped(FILE *f, const char *key, const char *value)
{
        fprintf(f, "%s=", key);
        for (const unsigned char *p = (const unsigned char *) value; *p; p++) {
                if (*p == '\\')
                        fputs("\\\\", f);
                else if (*p == '\n')
                        fputs("\\n", f);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\x%02x", *p);
                else
                        fputc(*p, f);
        }
        fputc('\n', f);
}

static void put_list(FILE *f, const char *key, const struct ovl_strlist *l)
{
        for (size_t i = 0; i < l->count; i++)
                put_escaped(f, key, l->items[i]);
}

int ovl_record_format(const struct ovl_record *rec, char **ret_text, size_t *ret_len)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return -ENOMEM;
        fprintf(f, "%s\n", OVL_RECORD_VERSION_LINE);
        put_escaped(f, "rootfs", rec->rootfs);
        put_escaped(f, "backend", rec->backend);
        fprintf(f, "state=%s\n", ovl_record_state_name(rec->state));
        fprintf(f, "created=%" PRId64 "\n", rec->created);
        fprintf(f, "pid=%" PRId64 "\n", rec->pid);
        fprintf(f, "read_only=%d\n", rec->read_only ? 1 : 0);
        fprintf(f, "tree=%" PRIu64 ":%" PRIu64 ":%" PRIu64 "\n", rec->tree.dev, rec->tree.ino, rec->tree.btime_ns);
        if (rec->mount_id)
                fprintf(f, "mount_id=%" PRIu64 "\n", rec->mount_id);
        if (rec->mount_id_reusable)
                fprintf(f, "mount_id_reusable=%" PRIu64 "\n", rec->mount_id_reusable);
        if (rec->dev)
                fprintf(f, "dev=%" PRIu64 ":%" PRIu64 "\n", rec->dev >> 32, rec->dev & 0xffffffffu);
        put_list(f, "layer", &rec->layers);
        put_list(f, "scratch", &rec->scratch);
        put_list(f, "mount", &rec->mounts);
        put_list(f, "cache", &rec->caches);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret_text = buf;
        *ret_len = len;
        return 0;
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Decodes an escaped value of n bytes into a new string. Returns 0, -EINVAL or -ENOMEM. */
static int unescape(const char *s, size_t n, char **ret)
{
        _cleanup_free_ char *out = malloc(n + 1);
        size_t o = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (s[i] != '\\') {
                        out[o++] = s[i];
                        continue;
                }
                if (++i >= n)
                        return -EINVAL;
                if (s[i] == '\\')
                        out[o++] = '\\';
                else if (s[i] == 'n')
                        out[o++] = '\n';
                else if (s[i] == 'x') {
                        int hi, lo;
                        if (i + 2 >= n)
                                return -EINVAL;
                        hi = hex_value(s[i + 1]);
                        lo = hex_value(s[i + 2]);
                        /* \x00 would cut the string short: no record ever contains it. */
                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                                return -EINVAL;
                        out[o++] = (char) (hi * 16 + lo);
                        i += 2;
                } else
                        return -EINVAL;
        }
        out[o] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

/* Parses a plain decimal number: digits only (no sign, no space), no overflow. */
static int parse_u64(const char *s, size_t n, uint64_t *ret)
{
        uint64_t v = 0;

        if (n == 0 || n > 20)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned d = (unsigned) (s[i] - '0');
                if (d > 9 || v > (UINT64_MAX - d) / 10)
                        return -EINVAL;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

static int parse_int64(const char *s, int64_t *ret)
{
        uint64_t v;

        if (parse_u64(s, strlen(s), &v) < 0 || v > INT64_MAX)
                return -EINVAL;
        *ret = (int64_t) v;
        return 0;
}

static int parse_state(const char *s, enum ovl_record_state *ret)
{
        for (size_t i = 0; i < ARRAY_SIZE(state_names); i++)
                if (strcmp(s, state_names[i]) == 0) {
                        *ret = (enum ovl_record_state) i;
                        return 0;
                }
        return -EINVAL;
}

static int parse_tree(const char *s, struct ovl_record *rec)
{
        uint64_t v[3];
        const char *p = s;

        for (size_t i = 0; i < 3; i++) {
                const char *end = i < 2 ? strchr(p, ':') : p + strlen(p);
                if (!end || parse_u64(p, (size_t) (end - p), &v[i]) < 0)
                        return -EINVAL;
                p = end + (i < 2);
        }
        rec->tree = (struct ovl_tree_id){ .dev = v[0], .ino = v[1], .btime_ns = v[2] };
        return 0;
}

/* MAJ:MIN, each a plain decimal number of 32 bits at most (what statx reports). */
static int parse_dev(const char *s, uint64_t *ret)
{
        const char *colon = strchr(s, ':');
        uint64_t major, minor;

        if (!colon || parse_u64(s, (size_t) (colon - s), &major) < 0 ||
            parse_u64(colon + 1, strlen(colon + 1), &minor) < 0 || major > UINT32_MAX || minor > UINT32_MAX)
                return -EINVAL;
        *ret = major << 32 | minor;
        return 0;
}

/* The keys that may appear once, as bits, so a repeated one is caught. */
static const char *const single_keys[] = { "rootfs",    "backend", "state",    "created",           "pid",
                                           "read_only", "tree",    "mount_id", "mount_id_reusable", "dev" };

static int list_field(struct ovl_strlist *l, const char *value)
{
        /* Every list holds absolute paths. */
        return value[0] == '/' ? ovl_strlist_append(l, value) : -EINVAL;
}

/* Applies one decoded key/value to rec. Returns 0, -EINVAL (bad or repeated value), -ENOENT
 * (unknown key). */
static int apply_field(struct ovl_record *rec, unsigned *seen, const char *key, char *value)
{
        int64_t v;

        for (size_t i = 0; i < ARRAY_SIZE(single_keys); i++)
                if (strcmp(key, single_keys[i]) == 0) {
                        if (*seen & (1u << i))
                                return -EINVAL;
                        *seen |= 1u << i;
                }
        if (strcmp(key, "rootfs") == 0) {
                if (value[0] != '/')
                        return -EINVAL;
                return (rec->rootfs = strdup(value)) ? 0 : -ENOMEM;
        }
        if (strcmp(key, "backend") == 0) {
                if (!*value)
                        return -EINVAL;
                return (rec->backend = strdup(value)) ? 0 : -ENOMEM;
        }
        if (strcmp(key, "state") == 0)
                return parse_state(value, &rec->state);
        if (strcmp(key, "created") == 0)
                return parse_int64(value, &rec->created);
        if (strcmp(key, "pid") == 0)
                return parse_int64(value, &rec->pid);
        if (strcmp(key, "read_only") == 0) {
                if (parse_int64(value, &v) < 0 || v > 1)
                        return -EINVAL;
                rec->read_only = v == 1;
                return 0;
        }
        if (strcmp(key, "tree") == 0)
                return parse_tree(value, rec);
        if (strcmp(key, "mount_id") == 0)
                return parse_u64(value, strlen(value), &rec->mount_id);
        if (strcmp(key, "mount_id_reusable") == 0)
                return parse_u64(value, strlen(value), &rec->mount_id_reusable);
        if (strcmp(key, "dev") == 0)
                return parse_dev(value, &rec->dev);
        if (strcmp(key, "layer") == 0)
                return list_field(&rec->layers, value);
        if (strcmp(key, "scratch") == 0)
                return list_field(&rec->scratch, value);
        if (strcmp(key, "mount") == 0)
                return list_field(&rec->mounts, value);
        if (strcmp(key, "cache") == 0)
                return list_field(&rec->caches, value);
        return -ENOENT;
}

int ovl_record_parse(const char *text, size_t len, const char *source, struct ovl_record *ret, struct ovl_error *err)
{
        struct ovl_record rec = { 0 };
        const char *p = text, *end = text + len;
        size_t line = 0, vlen = strlen(OVL_RECORD_VERSION_LINE);
        unsigned seen = 0;
        int r = 0;

        if (len < vlen + 1 || memcmp(text, OVL_RECORD_VERSION_LINE "\n", vlen + 1) != 0)
                return ovl_error_fail(err, 0, "record %s: not an ovlbackend record (version line missing)", source);
        p += vlen + 1;
        line = 1;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p)), *eq;
                size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
                _cleanup_free_ char *key = NULL, *value = NULL;

                line++;
                if (!nl) {
                        r = ovl_error_fail(err, 0, "record %s: line %zu: truncated", source, line);
                        goto fail;
                }
                eq = memchr(p, '=', n);
                if (!eq || eq == p || memchr(p, '\0', n)) {
                        r = ovl_error_fail(err, 0, "record %s: line %zu: not key=value", source, line);
                        goto fail;
                }
                key = strndup(p, (size_t) (eq - p));
                r = key ? unescape(eq + 1, n - (size_t) (eq - p) - 1, &value) : -ENOMEM;
                if (r == 0)
                        r = apply_field(&rec, &seen, key, value);
                if (r < 0) {
                        r = ovl_error_fail(err, 0, "record %s: line %zu: %s %s", source, line,
                                           r == -ENOENT ? "unknown key" : "bad value for", key ? key : "?");
                        goto fail;
                }
                p = nl + 1;
        }
        if (!rec.rootfs || !rec.backend) {
                r = ovl_error_fail(err, 0, "record %s: rootfs or backend missing", source);
                goto fail;
        }
        *ret = rec;
        return 0;
fail:
        ovl_record_clear(&rec);
        return r;
}

void ovl_record_clear(struct ovl_record *rec)
{
        free(rec->rootfs);
        free(rec->backend);
        ovl_strlist_clear(&rec->layers);
        ovl_strlist_clear(&rec->scratch);
        ovl_strlist_clear(&rec->mounts);
        ovl_strlist_clear(&rec->caches);
        *rec = (struct ovl_record){ 0 };
}
