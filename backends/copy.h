/* The copy engine (copy_engine.c), for the copy backend and for other backends: the overlay backend
 * flattens the bottom of a stack deeper than the kernel allows into one cached layer with it. */
#pragma once

#include "backends/layer.h"
#include "common/error.h"

struct ovl_idmap;

/* Writes the merged tree of layers (bottom first) into the empty directory dst_fd: every surviving
 * entry once, with all its metadata, whiteouts applied and never written. idmap (--uidmap/--gidmap)
 * maps the owners and the ids inside xattrs as they are written; NULL keeps them. `what` names the
 * destination in messages. On failure dst_fd holds a partial tree the caller removes. Returns 0 or
 * -errno with err set. */
int ovl_copy_merge_into(const struct ovl_layer_list *layers, const struct ovl_idmap *idmap, int dst_fd,
                        const char *what, struct ovl_error *err);

/* The same tree as a metadata layer for overlayfs' data-only lowers: directories, symlinks,
 * devices and all metadata as ovl_copy_merge_into writes them, but every non-empty regular file an
 * empty sparse stub of its size carrying trusted.overlay.metacopy and the absolute
 * trusted.overlay.redirect "PREFIX/PATH", PREFIX being redirect_prefix[i] for a file of layer i
 * ("" or "/dir"). Hard links stay hard-linked stubs. Returns 0 or -errno with err set. */
int ovl_copy_merge_stubs(const struct ovl_layer_list *layers, const char *const *redirect_prefix, int dst_fd,
                         const char *what, struct ovl_error *err);

/* How many threads copy regular files in every later merge of this process: 0 (the default) for
 * one per CPU this process may run on, 1 for none besides the walk's own (the single-threaded
 * engine). Set once, before any copy starts (--jobs). */
void ovl_copy_set_workers(unsigned n);
