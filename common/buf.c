// SPDX-License-Identifier: MIT
/*
 * Bounded growable buffer. Growth doubles the capacity (capped at the
 * maximum) so appends are amortised O(1); a secret buffer moves its data to
 * a new block and wipes the old one instead of using realloc, which could
 * leave a copy behind.
 */
#include "uk/buf.h"

#include <stdlib.h>
#include <string.h>

#include "uk/mem.h"

void uk_buf_init(uk_buf *b, size_t max, bool secret)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->secret = secret;
}

uk_rc uk_buf_reserve(uk_buf *b, size_t n)
{
    size_t need;
    size_t cap;
    uint8_t *p;

    if (n > b->max || b->len > b->max - n) {
        return UK_E_LIMIT;
    }
    need = b->len + n;
    if (need <= b->cap) {
        return UK_OK;
    }
    cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (cap > b->max) {
        cap = b->max;
    }
    if (b->secret) {
        p = malloc(cap);
        if (p == NULL) {
            return UK_E_NOMEM;
        }
        if (b->len > 0) {
            memcpy(p, b->data, b->len);
        }
        uk_freezero(b->data, b->cap);
    } else {
        p = realloc(b->data, cap);
        if (p == NULL) {
            return UK_E_NOMEM;
        }
    }
    b->data = p;
    b->cap = cap;
    return UK_OK;
}

uk_rc uk_buf_append(uk_buf *b, const void *p, size_t n)
{
    uk_rc rc;

    if (n == 0) {
        return UK_OK;
    }
    if (p == NULL) {
        return UK_E_INVALID_ARG;
    }
    rc = uk_buf_reserve(b, n);
    if (rc != UK_OK) {
        return rc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return UK_OK;
}

uk_rc uk_buf_append_byte(uk_buf *b, uint8_t byte)
{
    return uk_buf_append(b, &byte, 1);
}

void uk_buf_reset(uk_buf *b)
{
    if (b->secret && b->data != NULL) {
        uk_memzero(b->data, b->cap);
    }
    b->len = 0;
}

void uk_buf_free(uk_buf *b)
{
    if (b->secret) {
        uk_freezero(b->data, b->cap);
    } else {
        free(b->data);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void uk_buf_detach(uk_buf *b, uint8_t **out, size_t *out_len)
{
    *out = b->len > 0 ? b->data : NULL;
    *out_len = b->len;
    if (b->len == 0) {
        uk_buf_free(b);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
