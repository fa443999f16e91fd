/* Capability limits for the sandboxed worker (libcap). */
#pragma once

#include <stddef.h>

#include "common/error.h"

/* Keeps only the capabilities `keep` (CAP_* numbers): drops every other one from the bounding set
 * (so nothing can bring it back, not even an exec of a setuid-root file), clears the inheritable
 * and ambient sets, and sets the effective and permitted sets to those of `keep` the process has. Returns 0 or
 * -errno with err set. */
int ovl_caps_limit(const int *keep, size_t n_keep, struct ovl_error *err);
