/* libFuzzer target: the layer reader (dist/layer.h) on hostile tar.gz bytes.
 * Properties: nothing is created outside the destination directory (its
 * parent holds only it afterwards), every file extracted is a directory, a
 * regular file or a symbolic link whose text stays inside, and a refusal
 * says which entry and why.  Small limits so a bomb is cut short. */
#include "base/alloc.h"
#include "base/fs.h"
#include "dist/layer.h"

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
    (void)p;
    (void)ftw;
    if (type == FTW_SL) {
        char t[4096];
        ssize_t n = readlink(p, t, sizeof(t) - 1);
        if (n <= 0 || t[0] == '/')
            abort();
        return 0;
    }
    if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char root[256];
    if (!root[0]) {
        snprintf(root, sizeof(root), "%s/atlas-fuzz-layer.XXXXXX",
                 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(root))
            abort();
    }
    char *dest = at_asprintf("%s/dest", root);
    if (at_fs_mkdir_p(dest, 0755))
        abort();
    struct at_layer_limits lim = {.max_bytes = 1 << 20, .max_files = 256, .max_ratio = 200};
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_layer_extract_mem(data, size, dest, &lim, &d);
    if (rc && !d.msg[0])
        abort();
    nftw(dest, check_entry, 16, FTW_PHYS);
    /* nothing beside dest */
    DIR *dir = opendir(root);
    struct dirent *e;
    while ((e = readdir(dir)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "dest"))
            abort();
    closedir(dir);
    at_fs_remove_tree(dest);
    free(dest);
    return 0;
}
