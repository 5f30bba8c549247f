/* SPDX-License-Identifier: MIT */
/*
 * Secure zeroing. Every buffer that held a PIN, a PUK, a management key or
 * private key material is wiped with uk_memzero before it goes out of scope
 * or is freed; the compiler may not elide it.
 */
#ifndef UK_MEM_H
#define UK_MEM_H

#include <stddef.h>

/* Wipes len bytes at p (p may be NULL when len is 0). Any thread. */
void uk_memzero(void *p, size_t len);

/* Wipes len bytes at p, then frees p. Accepts NULL. */
void uk_freezero(void *p, size_t len);

/* Constant-time comparison of two equal-length buffers: 0 when equal. */
int uk_memcmp_ct(const void *a, const void *b, size_t len);

#endif
