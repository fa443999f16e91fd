/* A mount's options as data: the attributes (read-only, nosuid, nodev) and the filesystem
 * parameters are built once, as a list, from the options and what the kernel takes, then handed to
 * one of two small appliers: fsconfig calls for the new mount API, or the data string of mount(2).
 * libmount splits hook_mount.c from hook_mount_legacy.c the same way. The lists are what the unit
 * tests check; nothing here mounts. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns the MOUNT_ATTR_* flags (fsmount, mount_setattr) of a mount that is read-only, nosuid and
 * nodev as asked. */
uint64_t ovl_mountopts_attrs(bool read_only, bool nosuid, bool nodev);

/* Returns the MS_* flags of mount(2) standing for attrs (MOUNT_ATTR_*). Attributes without a
 * mount(2) flag (MOUNT_ATTR_IDMAP) are left out. */
unsigned long ovl_mountopts_ms_flags(uint64_t attrs);

enum ovl_mount_param_kind {
        OVL_MOUNT_PARAM_FLAG,   /* key alone: "volatile" */
        OVL_MOUNT_PARAM_STRING, /* key=value */
        OVL_MOUNT_PARAM_DIR_FD, /* key=a directory, given by its fd */
};

/* One filesystem parameter. A key ending in '+' appends to a list ("lowerdir+"): mount(2) gets
 * consecutive ones joined by ':' under the key without its '+'. */
struct ovl_mount_param {
        const char *key;
        enum ovl_mount_param_kind kind;
        const char *value; /* STRING: borrowed, must outlive the list */
        int fd;            /* DIR_FD: borrowed, not closed by the list */
};

struct ovl_mount_params {
        struct ovl_mount_param *items;
        size_t count, allocated;
};

/* Frees the list (not the strings or fds it names) and empties it; usable as a cleanup function. */
void ovl_mountopts_clear(struct ovl_mount_params *p);

/* What an overlay mount is made of. */
struct ovl_mountopts_overlay_spec {
        const char *source;   /* the mount's source name */
        const int *lower_fds; /* the lower directories, bottom first */
        size_t n_lower;
        const int *data_fds; /* data-only lower directories (the metadata stack), in search order */
        size_t n_data;
        int upper_fd, work_fd; /* -1 for a read-only mount */
        bool volatile_upper;   /* --volatile */
        bool userxattr;        /* rootless: markers in user.overlay.* */
};

/* Builds the parameters of an overlay mount into ret (emptied first): source, one lowerdir+ per
 * lower directory top first, one datadir+ per data-only directory, upperdir and workdir when
 * given, the fixed options (metacopy=on with data-only directories), volatile and userxattr when
 * asked. Returns 0 or -ENOMEM. */
int ovl_mountopts_overlay(const struct ovl_mountopts_overlay_spec *spec, struct ovl_mount_params *ret);

/* Builds the parameters of the private tmpfs an overlay's upper dir lives on into ret (emptied
 * first): mode=0755 and, when size is not NULL, size=size. Returns 0 or -ENOMEM. */
int ovl_mountopts_tmpfs(const char *size, struct ovl_mount_params *ret);

/* One fsconfig(2) call (cmd FSCONFIG_*), made by ovl_mountopts_emit. Returns 0 or -errno. */
typedef int (*ovl_mountopts_sink)(void *ctx, unsigned int cmd, const char *key, const char *value, int aux);

/* Hands sink the fsconfig calls that set every parameter of p, then FSCONFIG_CMD_CREATE. Directory
 * fds go as FSCONFIG_SET_FD when dirs_by_fd (the kernel takes them: overlayfs 6.13+), else as
 * "/proc/self/fd/N" strings. Stops at the first call that fails; returns 0 or its -errno. */
int ovl_mountopts_emit(const struct ovl_mount_params *p, bool dirs_by_fd, ovl_mountopts_sink sink, void *ctx);

/* ovl_mountopts_emit to fs_fd (fsopen's fd): sets every parameter and creates the superblock.
 * Returns 0 or -errno; the kernel's reason is then in fs_fd's fs-context log. */
int ovl_mountopts_apply_fsconfig(int fs_fd, const struct ovl_mount_params *p, bool dirs_by_fd);

/* The data string of mount(2) for p, in *ret_text (to free): "key=value" and "key" entries joined
 * by ',', consecutive "key+" entries joined into one "key=A:B:C" (datadir+ entries after lowerdir+
 * ones into "lowerdir=A:B::D1::D2", the data-only syntax of 6.5+), directory fds as their numbers
 * (the caller mounts from inside /proc/self/fd). "source" is left out: mount(2) takes it as its own
 * argument. Returns 0, -EINVAL for a value the string cannot carry (a ',' anywhere, a ':' in a list
 * entry), or -ENOMEM. */
int ovl_mountopts_format_legacy(const struct ovl_mount_params *p, char **ret_text);
