// SPDX-License-Identifier: MIT
/*
 * BER-TLV reader and writer for card data. Every length read from the card
 * is compared with the bytes actually left before it is used.
 */
#include "uk/tlv.h"

static size_t tag_len(uint32_t tag)
{
    if (tag > 0xFFFFu) {
        return 3;
    }
    if (tag > 0xFFu) {
        return 2;
    }
    return 1;
}

static size_t len_len(size_t len)
{
    if (len < 0x80) {
        return 1;
    }
    if (len <= 0xFF) {
        return 2;
    }
    if (len <= 0xFFFF) {
        return 3;
    }
    return 4;
}

uk_rc uk_tlv_next(const uint8_t **p, const uint8_t *end, uk_tlv *out)
{
    const uint8_t *q = *p;
    uint32_t tag;
    size_t len;
    size_t n;

    out->tag = 0;
    out->value = NULL;
    out->len = 0;
    if (q == NULL || end == NULL || q > end) {
        return UK_E_INVALID_ARG;
    }
    if (q == end) {
        return UK_E_NOT_FOUND;
    }
    /* Tag: if the low five bits are all ones, more tag bytes follow, each
     * with bit 8 set except the last (ISO/IEC 8825-1 8.1.2.4). */
    tag = *q++;
    if ((tag & 0x1F) == 0x1F) {
        for (int i = 0;; i++) {
            if (i == 2 || q == end) {
                return UK_E_MALFORMED;
            }
            tag = (tag << 8) | *q;
            if ((*q++ & 0x80) == 0) {
                break;
            }
        }
    }
    if (q == end) {
        return UK_E_MALFORMED;
    }
    /* Length: short form, or 0x81..0x83 followed by that many bytes. 0x80
     * (indefinite) and longer forms do not occur in card data. */
    if (*q < 0x80) {
        len = *q++;
    } else {
        n = (size_t)(*q++ & 0x7F);
        if (n == 0 || n > 3 || (size_t)(end - q) < n) {
            return UK_E_MALFORMED;
        }
        len = 0;
        for (size_t i = 0; i < n; i++) {
            len = (len << 8) | *q++;
        }
    }
    if (len > (size_t)(end - q)) {
        return UK_E_MALFORMED;
    }
    out->tag = tag;
    out->value = q;
    out->len = len;
    *p = q + len;
    return UK_OK;
}

uk_rc uk_tlv_find(const uint8_t *data, size_t len, uint32_t tag, uk_tlv *out)
{
    const uint8_t *p = data;
    const uint8_t *end;
    uk_tlv t;
    uk_rc rc;

    out->tag = 0;
    out->value = NULL;
    out->len = 0;
    if (data == NULL) {
        return len == 0 ? UK_E_NOT_FOUND : UK_E_INVALID_ARG;
    }
    end = data + len;
    for (;;) {
        rc = uk_tlv_next(&p, end, &t);
        if (rc != UK_OK) {
            return rc;
        }
        if (t.tag == tag) {
            *out = t;
            return UK_OK;
        }
    }
}

uk_rc uk_tlv_expect(const uint8_t *data, size_t len, uint32_t tag, uk_tlv *out)
{
    const uint8_t *p = data;
    uk_rc rc;

    if (data == NULL) {
        out->tag = 0;
        out->value = NULL;
        out->len = 0;
        return UK_E_MALFORMED;
    }
    rc = uk_tlv_next(&p, data + len, out);
    if (rc == UK_E_NOT_FOUND) {
        return UK_E_MALFORMED;
    }
    if (rc != UK_OK) {
        return rc;
    }
    if (out->tag != tag || p != data + len) {
        out->tag = 0;
        out->value = NULL;
        out->len = 0;
        return UK_E_MALFORMED;
    }
    return UK_OK;
}

uk_rc uk_tlv_validate(const uint8_t *data, size_t len)
{
    const uint8_t *p = data;
    uk_tlv t;
    uk_rc rc;

    if (data == NULL) {
        return len == 0 ? UK_OK : UK_E_INVALID_ARG;
    }
    for (;;) {
        rc = uk_tlv_next(&p, data + len, &t);
        if (rc == UK_E_NOT_FOUND) {
            return UK_OK;
        }
        if (rc != UK_OK) {
            return rc;
        }
    }
}

size_t uk_tlv_header_len(uint32_t tag, size_t len)
{
    return tag_len(tag) + len_len(len);
}

uk_rc uk_tlv_put_header(uk_buf *b, uint32_t tag, size_t len)
{
    uint8_t h[7];
    size_t n = 0;
    size_t tl;
    size_t ll;

    if (tag == 0 || len > UK_TLV_MAX_LEN) {
        return UK_E_INVALID_ARG;
    }
    tl = tag_len(tag);
    for (size_t i = tl; i > 0; i--) {
        h[n++] = (uint8_t)(tag >> (8 * (i - 1)));
    }
    ll = len_len(len);
    if (ll == 1) {
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = (uint8_t)(0x80 | (ll - 1));
        for (size_t i = ll - 1; i > 0; i--) {
            h[n++] = (uint8_t)(len >> (8 * (i - 1)));
        }
    }
    return uk_buf_append(b, h, n);
}

uk_rc uk_tlv_put(uk_buf *b, uint32_t tag, const uint8_t *value, size_t len)
{
    size_t old = b->len;
    uk_rc rc;

    rc = uk_tlv_put_header(b, tag, len);
    if (rc != UK_OK) {
        return rc;
    }
    rc = uk_buf_append(b, value, len);
    if (rc != UK_OK) {
        b->len = old; /* leave b as it was */
    }
    return rc;
}

uk_rc uk_tlv_put_u8(uk_buf *b, uint32_t tag, uint8_t value)
{
    return uk_tlv_put(b, tag, &value, 1);
}
