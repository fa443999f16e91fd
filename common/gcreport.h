/* What `gc` did, item by item: filled by the lifecycle, the backends' cache collectors and the
 * probe's, printed by cli/. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct ovl_gc_item {
        char *what; /* "record", "lock", "cache", "probe" */
        char *path;
        char *detail; /* the rootfs, or why it was removed or kept */
        bool removed;
};

struct ovl_gc_report {
        struct ovl_gc_item *items;
        size_t count;
};

/* Adds one item (copies of the strings; detail may be NULL). Returns 0 or -ENOMEM. */
int ovl_gc_report_add(struct ovl_gc_report *rep, const char *what, const char *path, const char *detail, bool removed);

void ovl_gc_report_clear(struct ovl_gc_report *report);

/* Whether gc must keep the entry `name` (at `path`) of a directory it sweeps. */
typedef bool (*ovl_gc_keep_fn)(const char *name, const char *path, void *ctx);

/* Removes every entry of the directory dir (a path) that keep() does not claim, whole trees
 * included, reporting each as `what` with `why`. A missing dir is nothing to do. Returns 0 or
 * -errno. */
int ovl_gc_sweep_dir(const char *dir, ovl_gc_keep_fn keep, void *ctx, const char *what, const char *why,
                     struct ovl_gc_report *rep);
