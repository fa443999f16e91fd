/* The metadata stack (`--stack=meta`): the image resolved once, top layer down, into one cached
 * metadata layer, mounted as the overlay's only lower directory with the layers as data-only lowers
 * (datadir+), so a lookup costs one layer whatever the number of layers.
 *
 * The metadata layer holds directories, symlinks, devices and all metadata as they are, and every
 * non-empty regular file as an empty sparse stub of its size with trusted.overlay.metacopy and an
 * absolute trusted.overlay.redirect to the file in its layer (copy_engine.c's stub mode).
 * Whiteouts and opaque markers of every form are resolved into it, so no glue is needed, and a
 * layer's own trusted.overlay.* xattrs are neither copied nor followed: the kernel reads overlay
 * xattrs only in the metadata layer and the upper dir, and looks data up in a data-only layer by
 * path alone (no symlinks, no mount crossing).
 *
 * Data directories: where it is safe, one per filesystem, the layers' deepest common directory,
 * redirects naming each layer's path below it, which keeps the kernel's lower count at 2 for any
 * number of layers. Safe means: every layer is reached from it by that path without a symlink or a
 * mount crossing, no one but root (or us) can rename a directory on the way, it does not hold the
 * work dir (the kernel refuses a data dir above the metadata layer), and no other data dir holds a
 * name a redirect starts with. Otherwise each layer is its own data dir, searched top layer first,
 * which the kernel bounds like any stack: exact, because the file a path resolves to is the topmost
 * regular file at that path among the layers.
 *
 * The metadata layer is cached under WORK/layers/meta-<key>, key = the ordered layer identities
 * and the data dir plan, so every rootfs of an image shares it. Where the kernel mounts erofs
 * images from files (probe: meta_image), the entry holds the stub tree written as an erofs image
 * (common/erofs_image.h), mounted for each rootfs: on ext4 a stub's xattrs spill out of its inode, so a
 * cold walk of the tree reads a block per file, where the image reads a few contiguous blocks. */
#pragma once

#include <stddef.h>

#include "backends/layer.h"
#include "backends/overlay_lower.h"
#include "common/error.h"

/* Builds (or finds) the metadata stack of layers (bottom first) into ret, within max_stack lower
 * directories; with image, the metadata layer is kept as an erofs image (common/erofs_image.h) where it
 * can be, and mounted. Returns 0, -EOPNOTSUPP with err set (OVL_ERR_UNSUPPORTED, saying why) when these
 * layers cannot be stacked so here, or another -errno with err set. */
int ovl_meta_stack_build(const struct ovl_layer_list *layers, const char *work_dir, size_t max_stack, bool image,
                         struct ovl_lower_stack *ret, struct ovl_error *err);

/* Whether a cache entry name is a metadata layer's. */
bool ovl_meta_is_entry(const char *name);
