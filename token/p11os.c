// SPDX-License-Identifier: MIT
/*
 * The POSIX side of loading PKCS#11 modules (see p11os.h): realpath and
 * dlopen/dlsym/dlclose.
 */
#define _XOPEN_SOURCE 700
#include "p11os.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool uk_p11os_absolute(const char *path)
{
    return path != NULL && path[0] == '/';
}

bool uk_p11os_canon(const char *path, char *out, size_t cap)
{
    char buf[PATH_MAX];

    if (path == NULL || realpath(path, buf) == NULL || strlen(buf) >= cap) {
        return false;
    }
    memcpy(out, buf, strlen(buf) + 1);
    return true;
}

void *uk_p11os_open(const char *path, char *why, size_t why_cap)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);

    if (lib == NULL) {
        const char *e = dlerror();
        snprintf(why, why_cap, "%s", e != NULL ? e : "dlopen failed");
    }
    return lib;
}

void *uk_p11os_sym(void *lib, const char *name)
{
    return dlsym(lib, name);
}

void uk_p11os_close(void *lib)
{
    dlclose(lib);
}
