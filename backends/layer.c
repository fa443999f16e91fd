#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/layer.h"
#include "common/fsutil.h"
#include "common/macro.h"

int ovl_layer_list_add(struct ovl_layer_list *list, const char *path, struct ovl_error *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *real = NULL;
        struct ovl_layer *grown;
        struct stat st;

        if (!*path)
                return ovl_error_bad(err, 0, "layer \"\": empty path");
        /* O_NOFOLLOW on the last component: a layer given as a symlink could be redirected between
         * the time the caller chose it and the time we read it. */
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                /* O_DIRECTORY reports a final symlink as ENOTDIR: tell the two apart. */
                if (errno == ENOTDIR && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
                        errno = ELOOP;
                if (errno == ELOOP)
                        return ovl_error_bad(err, 0, "layer %s: is a symbolic link; give the layer directory itself",
                                             path);
                if (errno == ENOENT || errno == ENOTDIR || errno == EACCES || errno == ENAMETOOLONG)
                        return ovl_error_bad(err, errno, "layer %s", path);
                return ovl_error_fail(err, errno, "layer %s", path);
        }
        if (fstat(fd, &st) < 0)
                return ovl_error_fail(err, errno, "layer %s", path);
        real = realpath(path, NULL);
        if (!real)
                return ovl_error_fail(err, errno, "layer %s", path);
        grown = realloc(list->items, (list->count + 1) * sizeof(*list->items));
        if (!grown)
                return ovl_error_fail(err, ENOMEM, "layer %s", path);
        list->items = grown;
        list->items[list->count++] = (struct ovl_layer){ .path = TAKE_PTR(real), .fd = TAKE_FD(fd), .st = st };
        return 0;
}

int ovl_layer_list_parse(const char *text, size_t len, const char *source, char ***ret_paths, size_t *ret_count,
                         struct ovl_error *err)
{
        char **paths = NULL;
        size_t count = 0, line = 1;
        const char *p = text, *end = text + len;

        if (memchr(text, '\0', len))
                return ovl_error_bad(err, 0, "layer list %s: contains a NUL byte", source);
        paths = calloc(1, sizeof(char *));
        if (!paths)
                return ovl_error_fail(err, ENOMEM, "layer list %s", source);
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
                char **grown;

                if (n > 0) {
                        grown = realloc(paths, (count + 2) * sizeof(char *));
                        if (!grown || !(grown[count] = strndup(p, n))) {
                                if (grown)
                                        paths = grown;
                                ovl_strv_free(paths);
                                return ovl_error_fail(err, ENOMEM, "layer list %s: line %zu", source, line);
                        }
                        paths = grown;
                        paths[++count] = NULL;
                }
                p += n + 1;
                line++;
        }
        *ret_paths = paths;
        *ret_count = count;
        return 0;
}

ssize_t ovl_layer_list_find_containing(const struct ovl_layer_list *list, const char *path)
{
        for (size_t i = 0; i < list->count; i++)
                if (ovl_path_is_below(path, list->items[i].path))
                        return (ssize_t) i;
        return -1;
}

void ovl_layer_list_clear(struct ovl_layer_list *list)
{
        for (size_t i = 0; i < list->count; i++) {
                free(list->items[i].path);
                safe_close(list->items[i].fd);
        }
        free(list->items);
        list->items = NULL;
        list->count = 0;
}

void ovl_strv_free(char **strv)
{
        if (!strv)
                return;
        for (char **s = strv; *s; s++)
                free(*s);
        free(strv);
}

int ovl_layer_list_reopen(struct ovl_layer_list *list, struct ovl_error *err)
{
        for (size_t i = 0; i < list->count; i++) {
                struct ovl_layer *l = &list->items[i];
                _cleanup_close_ int fd = open(l->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                struct stat st;

                if (fd < 0)
                        return ovl_error_fail(err, errno, "layer %s", l->path);
                if (fstat(fd, &st) < 0 || st.st_dev != l->st.st_dev || st.st_ino != l->st.st_ino)
                        return ovl_error_fail(err, 0, "layer %s: replaced while ovlbackend was using it", l->path);
                close_and_replace(l->fd, fd);
        }
        return 0;
}
