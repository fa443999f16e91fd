/* libFuzzer target: the record parser. Whatever it accepts, formatting and parsing again gives the
 * same text (the record survives a round trip, so gc and destroy read what assemble wrote). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ovl_error err = { 0 };
        struct ovl_record rec = { 0 }, again = { 0 };
        char *text = NULL, *text2 = NULL;
        size_t len = 0, len2 = 0;

        if (ovl_record_parse((const char *) data, size, "fuzz", &rec, &err) < 0) {
                if (!err.set)
                        __builtin_trap();
                return 0;
        }
        if (ovl_record_format(&rec, &text, &len) < 0)
                __builtin_trap();
        if (ovl_record_parse(text, len, "fuzz", &again, &err) < 0 || ovl_record_format(&again, &text2, &len2) < 0 ||
            len != len2 || memcmp(text, text2, len) != 0)
                __builtin_trap();
        free(text);
        free(text2);
        ovl_record_clear(&rec);
        ovl_record_clear(&again);
        return 0;
}
