/* Probing what this kernel and the filesystem under a directory can do, by trying it: a scratch
 * directory under DIR is made, used, and removed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define OVL_PROBE_MAX_FEATURES 16

struct ovl_probe_feature {
        const char *key;       /* stable JSON key */
        bool supported;
        char how[96];          /* how it was determined */
        char detail[256];      /* the kernel's error text on "no", or a value */
};

struct ovl_probe_result {
        char fs_type[32];      /* backing filesystem of DIR */
        struct ovl_probe_feature features[OVL_PROBE_MAX_FEATURES];
        size_t count;
        const char *recommended_backend; /* NULL when no backend can work */
        char reason[256];
};

/* Probes dir (created if missing). Returns 0 or -errno when dir cannot be used at all. */
int ovl_probe_run(const char *dir, struct ovl_probe_result *ret, struct ovl_error *err);

/* Returns the feature called key, or NULL. */
const struct ovl_probe_feature *ovl_probe_find(const struct ovl_probe_result *res, const char *key);
