/* libFuzzer target: the --layers-from reader. Every path it returns is non-empty, has no newline,
 * and the count matches the array. */
#include <stdint.h>
#include <string.h>

#include "backends/layer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ovl_error err = { 0 };
        char **paths = NULL;
        size_t count = 0, i;

        if (ovl_layer_list_parse((const char *) data, size, "fuzz", &paths, &count, &err) < 0) {
                if (!err.set)
                        __builtin_trap(); /* a refusal always says why */
                return 0;
        }
        for (i = 0; paths[i]; i++)
                if (!paths[i][0] || strchr(paths[i], '\n'))
                        __builtin_trap();
        if (i != count)
                __builtin_trap();
        ovl_strv_free(paths);
        return 0;
}
