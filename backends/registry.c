#include "config.h"

#include <string.h>

#include "backends/backend.h"

const struct ovl_backend_ops *const ovl_backends[] = {
        &ovl_backend_copy,
        &ovl_backend_bind,
        &ovl_backend_overlay,
        NULL,
};

const struct ovl_backend_ops *ovl_backend_find(const char *name)
{
        for (const struct ovl_backend_ops *const *b = ovl_backends; *b; b++)
                if (strcmp((*b)->name, name) == 0)
                        return *b;
        return NULL;
}
