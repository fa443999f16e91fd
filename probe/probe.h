/* `ovlbackend probe`: what this kernel and the filesystem under a directory can do, found by
 * trying each thing for real (test mounts in a private mount namespace, files in a scratch
 * directory under DIR that is removed afterwards), never by reading version numbers alone. The
 * overlay backend reads the same answers, cached once per boot, to pick its mount path and to
 * know the kernel's stack limit. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define OVL_PROBE_MAX_FEATURES 48
#define OVL_PROBE_MAX_PARAMS 24

struct ovl_probe_feature {
        const char *key; /* stable JSON key */
        bool supported;
        char how[112];    /* how it was determined */
        char detail[256]; /* the kernel's error text on "no", or a value */
};

struct ovl_probe_param {
        char name[40];
        char value[40];
};

struct ovl_probe_result {
        char fs_type[32]; /* backing filesystem of DIR */
        struct ovl_probe_feature features[OVL_PROBE_MAX_FEATURES];
        size_t count;
        struct ovl_probe_param module_params[OVL_PROBE_MAX_PARAMS]; /* /sys/module/overlay/parameters */
        size_t n_params;
        long max_layers;          /* lower dirs one overlay mount takes; 0 when overlay does not work */
        char max_layers_how[320]; /* how it was found, and the kernel's message for one more */
        long page_size;           /* what mount(2)'s option string must fit in */
        long fsconfig_string_max; /* longest fsconfig string value, in bytes; 0 without fsopen */
        double elapsed_ms;
        const char *recommended_backend; /* NULL when no backend can work */
        char reason[256];
};

/* Probes dir (created if missing). Returns 0 or -errno when dir cannot be used at all. */
int ovl_probe_run(const char *dir, struct ovl_probe_result *ret, struct ovl_error *err);

/* Returns the feature called key, or NULL. */
const struct ovl_probe_feature *ovl_probe_find(const struct ovl_probe_result *res, const char *key);

/* Whether the feature called key was found supported. */
bool ovl_probe_yes(const struct ovl_probe_result *res, const char *key);

/* What the overlay backend needs to know about this kernel. */
struct ovl_overlay_caps {
        bool new_api;    /* fsopen("overlay") and lowerdir+ work */
        bool layer_fds;  /* lowerdir+ takes layers as fds (FSCONFIG_SET_FD) */
        long max_layers; /* the kernel's stack limit */
        bool meta_stack; /* metacopy stubs redirecting into data-only lowers work (--stack=meta) */
        bool meta_image; /* ... with the stubs in an erofs image mounted from its file (erofs_image.h) */
        bool from_cache; /* read from this boot's cache rather than probed now */
};

/* The overlay capabilities: read from WORK/probe/ when this boot already probed them (with the
 * same mount API setting), else probed now (under WORK/probe/) and cached. Returns 0 or -errno
 * with err set. */
int ovl_probe_overlay_caps(const char *work_dir, struct ovl_overlay_caps *ret, struct ovl_error *err);

/* Whether name, an entry of WORK/probe/, is still of use: this boot's cache, or the scratch of a
 * probe still running. gc removes the others. */
bool ovl_probe_entry_live(const char *name);

struct ovl_gc_report;

/* gc of WORK/probe/: removes the caches of earlier boots and the scratch of probes that died,
 * adding each to report. Returns 0 or -errno. */
int ovl_probe_gc(const char *work_dir, struct ovl_gc_report *report);
