/* libFuzzer target: the whiteout/entry classifier. The input is a stat (mode, device, size, link
 * count), overlay xattr bits, the parent's xattr-whiteout flag, then a name. Checks the promises
 * callers rely on: a whiteout names a real entry (not empty, ".", "..", nor with a slash). */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "backends/whiteout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ovl_entry_info info;
        struct stat st = { 0 };
        char name[256];
        uint32_t mode;
        size_t n;

        if (size < 12)
                return 0;
        memcpy(&mode, data, 4);
        st.st_mode = mode;
        st.st_rdev = makedev(data[4], data[5]);
        st.st_size = data[6];
        st.st_nlink = data[7] % 4;
        n = size - 10 < sizeof(name) - 1 ? size - 10 : sizeof(name) - 1;
        memcpy(name, data + 10, n);
        name[n] = '\0';
        if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return 0; /* a directory entry's name: not empty, no slash, the walker skips . and .. */
        if (ovl_entry_classify(name, &st, data[8], data[9] & 1, &info) < 0)
                return 0;
        if (info.type == OVL_ENTRY_WHITEOUT) {
                if (!info.target || !info.target[0] || strcmp(info.target, ".") == 0 ||
                    strcmp(info.target, "..") == 0 || strchr(info.target, '/'))
                        __builtin_trap();
        }
        (void) ovl_entry_type_name(info.type);
        return 0;
}
