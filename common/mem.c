// SPDX-License-Identifier: MIT
/*
 * Secure zeroing on top of libc: explicit_bzero where the C library has it
 * (glibc, the BSDs), otherwise a store through a volatile pointer that the
 * optimiser must keep.
 */
#define _DEFAULT_SOURCE
#include "uk/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void uk_memzero(void *p, size_t len)
{
    if (p == NULL || len == 0) {
        return;
    }
#if defined(__GLIBC__) || defined(__OpenBSD__) || defined(__FreeBSD__)
    explicit_bzero(p, len);
#else
    volatile uint8_t *v = p;
    while (len-- > 0) {
        *v++ = 0;
    }
#endif
}

void uk_freezero(void *p, size_t len)
{
    if (p == NULL) {
        return;
    }
    uk_memzero(p, len);
    free(p);
}

int uk_memcmp_ct(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t diff = 0;

    for (size_t i = 0; i < len; i++) {
        diff = (uint8_t)(diff | (x[i] ^ y[i]));
    }
    return diff != 0;
}
