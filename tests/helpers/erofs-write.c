/* erofs-write DIR IMAGE: writes the erofs image of the tree at DIR into IMAGE, a new file, with
 * ovl_erofs_write_tree() (common/erofs_image.h), for tests/erofs-image.sh, which checks the
 * image with fsck.erofs and against the tree through the kernel.
 *
 * Exits 0 on success; 3 when the writer returns -EOPNOTSUPP (the tree holds what an erofs image
 * cannot); 1 on any other failure, and 2 on a usage error. On failure it prints the writer's
 * message, its error class and its return value on stderr, so a test can tell them apart. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/erofs_image.h"
#include "common/error.h"

int main(int argc, char **argv)
{
        struct ovl_error err = { 0 };
        int dir, image, r;

        if (argc != 3) {
                fprintf(stderr, "usage: erofs-write DIR IMAGE\n");
                return 2;
        }
        dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0) {
                fprintf(stderr, "erofs-write: %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        image = open(argv[2], O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (image < 0) {
                fprintf(stderr, "erofs-write: %s: %s\n", argv[2], strerror(errno));
                return 1;
        }
        r = ovl_erofs_write_tree(dir, image, &err);
        if (r == 0 && close(image) < 0)
                r = ovl_error_fail(&err, errno, "erofs-write: closing %s", argv[2]);
        if (r < 0) {
                fprintf(stderr, "erofs-write: %s (error class %d, returned %d: %s)\n",
                        err.set ? err.msg : "(no message)", err.set ? (int) err.class : 0, r, strerror(-r));
                return r == -EOPNOTSUPP ? 3 : 1;
        }
        close(dir);
        return 0;
}
