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

/* Writes s as a JSON string literal (quotes included), escaping control characters and invalid
 * UTF-8 is passed through byte by byte as \u00XX escapes so the output always parses. */
void ovl_json_write_escaped(FILE *out, const char *s);
