/* SPDX-License-Identifier: MIT */
/*
 * What loading a PKCS#11 module needs from the operating system (private
 * to token/): the canonical path of a file, and a shared library's open,
 * symbol and close. p11os.c is the POSIX version (realpath, dlopen); a
 * Windows build provides these with GetFinalPathNameByHandleW and
 * LoadLibraryExW instead, and nothing else in token/ changes.
 */
#ifndef UK_TOKEN_P11OS_H
#define UK_TOKEN_P11OS_H

#include <stdbool.h>
#include <stddef.h>

#define UK_P11_PATH_MAX 4096

/* Is path absolute? */
bool uk_p11os_absolute(const char *path);
/* The canonical path (links resolved) into out; false if it does not
 * resolve or does not fit. */
bool uk_p11os_canon(const char *path, char *out, size_t cap);
/* Opens a library (every symbol bound now, none made global); NULL with a
 * reason in why. */
void *uk_p11os_open(const char *path, char *why, size_t why_cap);
void *uk_p11os_sym(void *lib, const char *name);
void uk_p11os_close(void *lib);

#endif
