// SPDX-License-Identifier: MIT
/*
 * Unit tests of the BER-TLV reader and writer, with hostile lengths.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "uk/tlv.h"

static void test_read_basic(void)
{
    /* 53 05 [70 03 01 02 03] 5F C1 05 00 */
    static const uint8_t d[] = {0x53, 0x05, 0x70, 0x03, 0x01, 0x02, 0x03, 0x5F, 0xC1, 0x05, 0x00};
    const uint8_t *p = d;
    uk_tlv t;

    CHECK_EQ(uk_tlv_next(&p, d + sizeof(d), &t), UK_OK);
    CHECK_EQ(t.tag, 0x53);
    CHECK_EQ(t.len, 5);
    CHECK(t.value == d + 2);
    CHECK_EQ(uk_tlv_next(&p, d + sizeof(d), &t), UK_OK);
    CHECK_EQ(t.tag, 0x5FC105);
    CHECK_EQ(t.len, 0);
    CHECK_EQ(uk_tlv_next(&p, d + sizeof(d), &t), UK_E_NOT_FOUND);
    CHECK_EQ(uk_tlv_find(d, sizeof(d), 0x5FC105, &t), UK_OK);
    CHECK_EQ(uk_tlv_find(d, sizeof(d), 0x70, &t), UK_E_NOT_FOUND); /* not a sibling */
    CHECK_EQ(uk_tlv_expect(d, 7, 0x53, &t), UK_OK);
    CHECK_EQ(uk_tlv_expect(d, sizeof(d), 0x53, &t), UK_E_MALFORMED); /* trailing bytes */
    CHECK_EQ(uk_tlv_validate(d, sizeof(d)), UK_OK);
}

static void test_long_lengths(void)
{
    uint8_t d[300];
    uk_tlv t;

    memset(d, 0, sizeof(d));
    d[0] = 0x70;
    d[1] = 0x81;
    d[2] = 0x80;
    CHECK_EQ(uk_tlv_expect(d, 3 + 0x80, 0x70, &t), UK_OK);
    CHECK_EQ(t.len, 0x80);
    d[1] = 0x82;
    d[2] = 0x01;
    d[3] = 0x00;
    CHECK_EQ(uk_tlv_expect(d, 4 + 0x100, 0x70, &t), UK_OK);
    CHECK_EQ(t.len, 0x100);
    CHECK_EQ(uk_tlv_expect(d, 4 + 0xFF, 0x70, &t), UK_E_MALFORMED); /* one byte short */
}

static void test_hostile(void)
{
    static const struct {
        uint8_t bytes[8];
        size_t len;
    } bad[] = {
        {{0x53}, 1},                         /* tag without length */
        {{0x53, 0x05, 0x01}, 3},             /* length past the end */
        {{0x53, 0x80}, 2},                   /* indefinite length */
        {{0x53, 0x84, 0, 0, 0, 1, 0}, 7},    /* four length bytes */
        {{0x53, 0x82, 0xFF}, 3},             /* length bytes cut off */
        {{0x53, 0x83, 0xFF, 0xFF, 0xFF}, 5}, /* 16 MiB announced, 0 present */
        {{0x5F}, 1},                         /* multi-byte tag cut off */
        {{0x5F, 0xC1}, 2},                   /* continuation bit, then end */
        {{0x5F, 0xC1, 0x85, 0x01, 0x00}, 5}, /* four-byte tag */
        {{0x81, 0x81}, 2},                   /* 0x81 length form without the byte */
    };
    uk_tlv t;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const uint8_t *p = bad[i].bytes;
        /* copy to the heap at its exact size so ASan sees any overread */
        uint8_t *h = malloc(bad[i].len);
        memcpy(h, bad[i].bytes, bad[i].len);
        p = h;
        CHECK_EQ(uk_tlv_next(&p, h + bad[i].len, &t), UK_E_MALFORMED);
        CHECK(p == h);
        CHECK(t.value == NULL && t.len == 0);
        CHECK_EQ(uk_tlv_validate(h, bad[i].len), UK_E_MALFORMED);
        free(h);
    }
    CHECK_EQ(uk_tlv_find(NULL, 0, 0x53, &t), UK_E_NOT_FOUND);
    CHECK_EQ(uk_tlv_expect(NULL, 0, 0x53, &t), UK_E_MALFORMED);
}

static void test_write_roundtrip(void)
{
    static const size_t lens[] = {0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000};
    static const uint32_t tags[] = {0x53, 0x7F49, 0x5FC105};
    uk_buf b;
    uint8_t *val = calloc(1, 0x10000);
    uk_tlv t;

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        for (size_t j = 0; j < sizeof(tags) / sizeof(tags[0]); j++) {
            uk_buf_init(&b, 0x20000, false);
            CHECK_EQ(uk_tlv_put(&b, tags[j], val, lens[i]), UK_OK);
            CHECK_EQ(b.len, uk_tlv_header_len(tags[j], lens[i]) + lens[i]);
            CHECK_EQ(uk_tlv_expect(b.data, b.len, tags[j], &t), UK_OK);
            CHECK_EQ(t.len, lens[i]);
            uk_buf_free(&b);
        }
    }
    /* a full buffer leaves no partial TLV behind */
    uk_buf_init(&b, 10, false);
    CHECK_EQ(uk_tlv_put(&b, 0x53, val, 9), UK_E_LIMIT);
    CHECK_EQ(b.len, 0);
    CHECK_EQ(uk_tlv_put_header(&b, 0x53, UK_TLV_MAX_LEN + 1), UK_E_INVALID_ARG);
    CHECK_EQ(uk_tlv_put_header(&b, 0, 1), UK_E_INVALID_ARG);
    uk_buf_free(&b);
    free(val);
}

int main(void)
{
    test_read_basic();
    test_long_lengths();
    test_hostile();
    test_write_roundtrip();
    return check_exit_code("test_tlv");
}
