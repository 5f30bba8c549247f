// SPDX-License-Identifier: MIT
/*
 * Bounded whole-file reads: never more than max + 1 bytes are read, so a
 * huge or endless file (a FIFO, /dev/zero) cannot grow the daemon.
 */
#include "uk/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

uk_rc uk_file_read(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f;
    char *buf;
    size_t n;
    int e;

    *out = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (f == NULL) {
        return errno == ENOENT ? UK_E_NOT_FOUND : UK_E_IO;
    }
    buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        return UK_E_NOMEM;
    }
    n = fread(buf, 1, max + 1, f);
    e = ferror(f) ? errno : 0;
    fclose(f);
    if (e != 0) {
        free(buf);
        errno = e;
        return UK_E_IO;
    }
    if (n > max) {
        free(buf);
        return UK_E_LIMIT;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return UK_OK;
}
