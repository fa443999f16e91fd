#include "config.h"

#include <inttypes.h>

#include "common/escape.h"
#include "common/json.h"

void ovl_json_init(struct ovl_json *j, FILE *out)
{
        j->out = out;
        j->depth = 0;
        j->has_items[0] = false;
        j->too_deep = false;
}

void ovl_json_write_escaped(FILE *out, const char *s)
{
        const unsigned char *p = (const unsigned char *) s;

        fputc('"', out);
        while (*p) {
                size_t len = ovl_escape_utf8_len((const char *) p);

                if (*p == '"' || *p == '\\')
                        fprintf(out, "\\%c", *p);
                else if (*p == '\n')
                        fputs("\\n", out);
                else if (*p == '\t')
                        fputs("\\t", out);
                else if (len == 1 && (*p < 0x20 || *p == 0x7f))
                        fprintf(out, "\\u%04x", *p);
                else if (len == 0)
                        fputs("\\ufffd", out);
                else if (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)
                        fprintf(out, "\\u%04x", p[1]); /* a C1 control: U+0080-U+009F is its second byte */
                else
                        fwrite(p, 1, len, out);
                p += len ? len : 1;
        }
        fputc('"', out);
}

/* Writes the separator and the key that come before every item; false once the writer is stopped. */
static bool item_prefix(struct ovl_json *j, const char *key)
{
        if (j->too_deep)
                return false;
        if (j->depth > 0 && j->has_items[j->depth])
                fputc(',', j->out);
        if (j->depth > 0)
                j->has_items[j->depth] = true;
        if (key) {
                ovl_json_write_escaped(j->out, key);
                fputc(':', j->out);
        }
        return true;
}

static void open_container(struct ovl_json *j, const char *key, char bracket)
{
        if (j->too_deep || j->depth + 1 >= OVL_JSON_MAX_DEPTH) {
                j->too_deep = true;
                return;
        }
        (void) item_prefix(j, key);
        fputc(bracket, j->out);
        j->depth++;
        j->has_items[j->depth] = false;
}

static void close_container(struct ovl_json *j, char bracket)
{
        if (j->too_deep)
                return;
        fputc(bracket, j->out);
        if (j->depth > 0)
                j->depth--;
        if (j->depth == 0)
                fputc('\n', j->out);
}

void ovl_json_object_begin(struct ovl_json *j, const char *key)
{
        open_container(j, key, '{');
}

void ovl_json_object_end(struct ovl_json *j)
{
        close_container(j, '}');
}

void ovl_json_array_begin(struct ovl_json *j, const char *key)
{
        open_container(j, key, '[');
}

void ovl_json_array_end(struct ovl_json *j)
{
        close_container(j, ']');
}

void ovl_json_string(struct ovl_json *j, const char *key, const char *value)
{
        if (!item_prefix(j, key))
                return;
        if (value)
                ovl_json_write_escaped(j->out, value);
        else
                fputs("null", j->out);
}

void ovl_json_int(struct ovl_json *j, const char *key, int64_t value)
{
        if (item_prefix(j, key))
                fprintf(j->out, "%" PRId64, value);
}

void ovl_json_bool(struct ovl_json *j, const char *key, bool value)
{
        if (item_prefix(j, key))
                fputs(value ? "true" : "false", j->out);
}

void ovl_json_double(struct ovl_json *j, const char *key, double value)
{
        if (item_prefix(j, key))
                fprintf(j->out, "%.3f", value);
}
