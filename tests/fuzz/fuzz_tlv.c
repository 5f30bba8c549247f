// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the BER-TLV reader. Walks the input as nested TLVs the way
 * the token layer walks card responses (constructed tags recursed into),
 * and re-encodes every element to check the writer agrees with the reader.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uk/tlv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const uint8_t *p, const uint8_t *end, int depth)
{
    uk_tlv t;
    uk_buf b;

    while (uk_tlv_next(&p, end, &t) == UK_OK) {
        if (t.tag == 0) {
            continue; /* '00' filler (ISO/IEC 7816-4 5.2): read, never written */
        }
        uk_buf_init(&b, UK_TLV_MAX_LEN + 8, false);
        if (uk_tlv_put(&b, t.tag, t.value, t.len) != UK_OK) {
            abort();
        }
        uk_tlv r;
        if (uk_tlv_expect(b.data, b.len, t.tag, &r) != UK_OK || r.len != t.len ||
            memcmp(r.value, t.value, t.len) != 0) {
            abort(); /* what the writer writes, the reader reads back */
        }
        uk_buf_free(&b);
        /* bit 6 of the first tag byte marks a constructed element */
        uint32_t first = t.tag;
        while (first > 0xFF) {
            first >>= 8;
        }
        if ((first & 0x20) && depth < 8) {
            walk(t.value, t.value + t.len, depth + 1);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uk_tlv t;

    walk(data, data + size, 0);
    (void)uk_tlv_validate(data, size);
    (void)uk_tlv_find(data, size, 0x53, &t);
    (void)uk_tlv_expect(data, size, 0x7C, &t);
    return 0;
}
