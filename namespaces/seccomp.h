/* The worker's seccomp filter (libseccomp): an allowlist of the system calls ovlbackend's own work
 * makes, with the mount calls only for backends that mount; everything else fails with EPERM, or
 * kills the worker when asked. */
#pragma once

#include <seccomp.h>
#include <stdbool.h>

#include "common/error.h"
#include "common/macro.h"

#define OVL_SYSCALLS_MOUNT 0x1u /* the mount API, mount(2) and umount2 */

/* For `_cleanup_(ovl_seccomp_releasep) scmp_filter_ctx f = seccomp_init(...)`. */
OVL_DEFINE_CLEANUP_FUNC(ovl_seccomp_releasep, scmp_filter_ctx, seccomp_release)

/* Loads the filter for `groups` (OVL_SYSCALLS_*) into this process; no_new_privs must be set.
 * Returns 0 or -errno with err set. */
int ovl_seccomp_load(unsigned groups, bool kill_on_deny, struct ovl_error *err);
