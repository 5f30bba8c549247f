// SPDX-License-Identifier: MIT
/*
 * Replay driver: runs a fuzz target over every file of its corpus, so the
 * normal build checks each corpus entry as a regression test under ctest
 * (and under ASan+UBSan in the sanitizer build). Arguments are files or
 * directories.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;
    int rc = -1;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        goto out;
    }
    /* exact-size heap copy, so a read past the input trips ASan */
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        goto out;
    }
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    rc = 0;
out:
    if (rc != 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
    }
    free(buf);
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}

int main(int argc, char **argv)
{
    int files = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: not found\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) != 0) {
                return 1;
            }
            files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            char path[4096];
            if (e->d_name[0] == '.') {
                continue;
            }
            int n = snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (n < 0 || (size_t)n >= sizeof(path) || run_file(path) != 0) {
                closedir(d);
                return 1;
            }
            files++;
        }
        if (d != NULL) {
            closedir(d);
        }
    }
    printf("replay: %d inputs, no crash\n", files);
    return files > 0 ? 0 : 1;
}
