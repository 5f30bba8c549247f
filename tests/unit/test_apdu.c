// SPDX-License-Identifier: MIT
/*
 * Unit tests of APDU encoding (short and extended, cases 1-4) and of the
 * status-word mapping.
 */
#include <string.h>

#include "check.h"
#include "uk/apdu.h"

static void test_encode(void)
{
    static const uint8_t data[300] = {1, 2, 3};
    uint8_t out[UK_APDU_MAX];
    size_t len;
    uk_apdu a = {.cla = 0x00, .ins = 0xCB, .p1 = 0x3F, .p2 = 0xFF};

    /* case 1 */
    len = sizeof(out);
    CHECK_EQ(uk_apdu_encode(&a, false, out, &len), UK_OK);
    CHECK_EQ(len, 4);
    /* case 2 short, Le 256 is 00 */
    a.le = 256;
    len = sizeof(out);
    CHECK_EQ(uk_apdu_encode(&a, false, out, &len), UK_OK);
    CHECK_EQ(len, 5);
    CHECK_EQ(out[4], 0x00);
    /* case 4 short */
    a.data = data;
    a.lc = 3;
    len = sizeof(out);
    CHECK_EQ(uk_apdu_encode(&a, false, out, &len), UK_OK);
    CHECK_EQ(len, 9);
    CHECK_MEM(out, "\x00\xCB\x3F\xFF\x03\x01\x02\x03\x00", 9);
    /* case 3 short */
    a.le = 0;
    len = sizeof(out);
    CHECK_EQ(uk_apdu_encode(&a, false, out, &len), UK_OK);
    CHECK_EQ(len, 8);
    /* case 4 extended when the data is longer than 255 */
    a.lc = 300;
    a.le = 65536;
    len = sizeof(out);
    CHECK_EQ(uk_apdu_encode(&a, false, out, &len), UK_OK);
    CHECK_EQ(len, 4 + 3 + 300 + 2);
    CHECK_MEM(out + 4, "\x00\x01\x2C", 3);
    CHECK_MEM(out + 4 + 3 + 300, "\x00\x00", 2);
    /* case 2 extended */
    a.lc = 0;
    a.data = NULL;
    a.le = 1000;
    len = sizeof(out);
    CHECK_EQ(uk_apdu_encode(&a, false, out, &len), UK_OK);
    CHECK_EQ(len, 7);
    CHECK_MEM(out + 4, "\x00\x03\xE8", 3);
    /* too small an output, impossible lengths */
    len = 6;
    CHECK_EQ(uk_apdu_encode(&a, false, out, &len), UK_E_SIZE);
    CHECK_EQ(len, 0);
    a.lc = 5;
    len = sizeof(out);
    CHECK_EQ(uk_apdu_encode(&a, false, out, &len), UK_E_INVALID_ARG); /* data NULL */
    a.lc = 70000;
    a.data = data;
    CHECK_EQ(uk_apdu_encode(&a, false, out, &len), UK_E_INVALID_ARG);
}

static void test_sw(void)
{
    CHECK_EQ(uk_sw_rc(0x9000), UK_OK);
    CHECK_EQ(uk_sw_rc(0x63C2), UK_E_PIN_INCORRECT);
    CHECK_EQ(uk_sw_tries(0x63C2), 2);
    CHECK_EQ(uk_sw_tries(0x63C0), 0);
    CHECK_EQ(uk_sw_rc(0x6983), UK_E_PIN_BLOCKED);
    CHECK_EQ(uk_sw_tries(0x6983), 0);
    CHECK_EQ(uk_sw_tries(0x9000), -1);
    CHECK_EQ(uk_sw_rc(0x6982), UK_E_SECURITY_STATUS);
    CHECK_EQ(uk_sw_rc(0x6A82), UK_E_NOT_FOUND);
    CHECK_EQ(uk_sw_rc(0x6A80), UK_E_INVALID_ARG);
    CHECK_EQ(uk_sw_rc(0x6A84), UK_E_LIMIT);
    CHECK_EQ(uk_sw_rc(0x6D00), UK_E_UNSUPPORTED);
    CHECK_EQ(uk_sw_rc(0x6F00), UK_E_CARD_ERROR);
    CHECK_EQ(uk_sw_rc(0x6100), UK_E_CARD_ERROR); /* the transport follows 61xx */
}

int main(void)
{
    test_encode();
    test_sw();
    return check_exit_code("test_apdu");
}
