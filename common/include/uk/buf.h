/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer with a mandatory maximum size.
 *
 * Every buffer is created with the largest size it may ever reach, so input
 * from a card, a socket or a file can never make it grow without bound:
 * appending past the maximum fails with UK_E_LIMIT and leaves the buffer as
 * it was. A buffer marked secret wipes every block it lets go of (on growth,
 * reset and free), for PINs and key material.
 *
 * Not thread-safe; a buffer belongs to one thread at a time. The memory is
 * owned by the buffer and freed by uk_buf_free.
 */
#ifndef UK_BUF_H
#define UK_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/rc.h"

typedef struct uk_buf {
    uint8_t *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max;
    bool secret;
} uk_buf;

/* Initialises an empty buffer that may hold at most max bytes. */
void uk_buf_init(uk_buf *b, size_t max, bool secret);

/* Makes room for n more bytes. UK_E_LIMIT past max, UK_E_NOMEM. */
uk_rc uk_buf_reserve(uk_buf *b, size_t n);

/* Appends n bytes (p may be NULL when n is 0). On failure b is unchanged. */
uk_rc uk_buf_append(uk_buf *b, const void *p, size_t n);
uk_rc uk_buf_append_byte(uk_buf *b, uint8_t byte);

/* Empties the buffer, keeping its memory (wiped first when secret). */
void uk_buf_reset(uk_buf *b);

/* Frees the memory (wiped first when secret); b may be re-initialised. */
void uk_buf_free(uk_buf *b);

/* Hands the memory to the caller (who frees it, wiping when secret) and
 * leaves b empty. *out is NULL when the buffer is empty. */
void uk_buf_detach(uk_buf *b, uint8_t **out, size_t *out_len);

#endif
