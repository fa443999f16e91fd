#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "common/macro.h"
#include "namespaces/caps.h"

OVL_DEFINE_CLEANUP_FUNC(ovl_cap_freep, cap_t, cap_free)

static bool kept(cap_value_t cap, const int *keep, size_t n_keep)
{
        for (size_t i = 0; i < n_keep; i++)
                if (keep[i] == cap)
                        return true;
        return false;
}

int ovl_caps_limit(const int *keep, size_t n_keep, struct ovl_error *err)
{
        cap_value_t last = (cap_value_t) cap_max_bits();
        _cleanup_(ovl_cap_freep) cap_t set = NULL, now = NULL;
        int r = 0;

        /* The bounding set first, while CAP_SETPCAP (which dropping from it needs) is still ours. */
        for (cap_value_t cap = 0; cap < last; cap++)
                if (!kept(cap, keep, n_keep) && CAP_IS_SUPPORTED(cap) && cap_get_bound(cap) > 0 &&
                    cap_drop_bound(cap) < 0)
                        return ovl_error_set(err, OVL_ERR_UNSUPPORTED, errno,
                                             "sandbox: dropping capability %d from "
                                             "the bounding set",
                                             (int) cap);
        if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() < 0)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, errno, "sandbox: clearing the ambient capabilities");
        now = cap_get_proc();
        set = cap_init(); /* all three sets empty */
        if (!set || !now)
                return ovl_error_set(err, OVL_ERR_UNSUPPORTED, errno ? errno : ENOMEM,
                                     "sandbox: setting the capability sets");
        /* Only what the process has: a caller that runs ovlbackend with fewer capabilities gets a
         * worker with fewer still, never an error. */
        for (size_t i = 0; i < n_keep && r == 0; i++) {
                cap_value_t cap = keep[i];
                cap_flag_value_t have = CAP_CLEAR;
                if (cap_get_flag(now, cap, CAP_PERMITTED, &have) < 0 || have != CAP_SET)
                        continue;
                if (cap_set_flag(set, CAP_PERMITTED, 1, &cap, CAP_SET) < 0 ||
                    cap_set_flag(set, CAP_EFFECTIVE, 1, &cap, CAP_SET) < 0)
                        r = -errno;
        }
        if (r == 0 && cap_set_proc(set) < 0)
                r = errno ? -errno : -EPERM;
        return r < 0 ? ovl_error_set(err, OVL_ERR_UNSUPPORTED, -r, "sandbox: setting the capability sets") : 0;
}
