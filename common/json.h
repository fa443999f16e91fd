/* A small streaming JSON writer for --json output: one object, keys in the order written. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define OVL_JSON_MAX_DEPTH 16

struct ovl_json {
        FILE *out;
        int depth;
        bool has_items[OVL_JSON_MAX_DEPTH];
        bool too_deep; /* nesting past the limit was asked for: nothing more is written */
};

/* Containers nest at most OVL_JSON_MAX_DEPTH - 1 deep; asking for more is a programming error, after
 * which the writer writes nothing more (and too_deep says so) rather than invalid JSON.
 * Each writer takes a key inside an object and NULL inside an array. */
void ovl_json_init(struct ovl_json *j, FILE *out);
void ovl_json_object_begin(struct ovl_json *j, const char *key);
void ovl_json_object_end(struct ovl_json *j);
void ovl_json_array_begin(struct ovl_json *j, const char *key);
void ovl_json_array_end(struct ovl_json *j);
void ovl_json_string(struct ovl_json *j, const char *key, const char *value); /* NULL writes null */
void ovl_json_int(struct ovl_json *j, const char *key, int64_t value);
void ovl_json_bool(struct ovl_json *j, const char *key, bool value);
void ovl_json_double(struct ovl_json *j, const char *key, double value);

/* Writes s as a JSON string literal (quotes included) that every parser accepts: '"' and '\\' as
 * \" and \\, newline and tab as \n and \t, other control characters (below 0x20, 0x7f and the C1
 * controls U+0080-U+009F) as \u00XX of their code point; any other well-formed UTF-8 (é, 日本)
 * as it is, so a UTF-8 path reads back exactly.
 * A byte that is not part of well-formed UTF-8 becomes \ufffd (U+FFFD, the replacement
 * character), one per byte. That loses the byte, on purpose: JSON has no way to carry a raw byte,
 * and \u00XX of the byte's value would decode as a different, valid character (byte E9 as "é",
 * whose UTF-8 is C3 A9), silently naming another path, whereas U+FFFD says plainly that the name
 * was not UTF-8. The text output (ovl_escape_text) keeps such bytes exactly, as \xHH. */
void ovl_json_write_escaped(FILE *out, const char *s);
