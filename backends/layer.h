/* The ordered layer list, bottom first as in an OCI manifest. Each layer is held open by an fd so
 * that what is validated is what is read, whatever happens to its path afterwards. */
#pragma once

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/error.h"

struct ovl_layer {
        char *path; /* canonical absolute path */
        int fd;     /* O_RDONLY|O_DIRECTORY */
        struct stat st;
};

struct ovl_layer_list {
        struct ovl_layer *items; /* items[0] is the bottom layer */
        size_t count;
};

/* Opens and appends the layer directory at path. A missing path, a file, or a symlink is bad input
 * (OVL_ERR_BAD_INPUT) with a message naming the layer. Returns 0 or -errno. */
int ovl_layer_list_add(struct ovl_layer_list *list, const char *path, struct ovl_error *err);

/* Splits the text of a --layers-from file (one path a line, empty lines ignored) into a new
 * NULL-terminated array of new strings. A NUL byte is bad input; `source` names the file in
 * messages. Returns 0 or -errno. */
int ovl_layer_list_parse(const char *text, size_t len, const char *source, char ***ret_paths, size_t *ret_count,
                         struct ovl_error *err);

/* Returns the index of the first layer whose tree contains `path` (canonical, absolute), or -1. */
ssize_t ovl_layer_list_find_containing(const struct ovl_layer_list *list, const char *path);

/* Opens every layer again by its path, in this process's current mount namespace (a sandbox
 * worker's private one: mount calls refuse fds that name the host namespace's mounts), refusing a
 * layer whose path no longer leads to the directory validated first (device and inode). Returns 0
 * or -errno with err set. */
int ovl_layer_list_reopen(struct ovl_layer_list *list, struct ovl_error *err);

/* Closes every layer and frees the list, leaving it empty. */
void ovl_layer_list_clear(struct ovl_layer_list *list);

/* Frees a NULL-terminated array of strings. */
void ovl_strv_free(char **strv);
