/* SPDX-License-Identifier: MIT */
/*
 * Command APDUs and status words (ISO/IEC 7816-4 5.1), pure code.
 *
 * uk_apdu_encode builds the bytes of a short or extended command;
 * uk_sw_rc is the one place where a status word becomes a uk_rc.
 */
#ifndef UK_APDU_H
#define UK_APDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/rc.h"

/* The largest command data a short APDU carries; longer data is chained. */
#define UK_APDU_SHORT_MAX 255
/* Room for an encoded command: header, extended Lc, data, extended Le. */
#define UK_APDU_MAX (4 + 3 + 65535 + 2)

typedef struct uk_apdu {
    uint8_t cla;
    uint8_t ins;
    uint8_t p1;
    uint8_t p2;
    const uint8_t *data; /* borrowed; NULL when lc is 0 */
    size_t lc;
    size_t le;   /* expected response length; 0 = none; 256 (short) or 65536 (extended) = all */
    bool secret; /* data is a PIN, PUK or key: never traced, wiped after sending */
} uk_apdu;

/* Encodes a command into out (capacity *out_len in, length out). Short
 * form when lc <= 255 and le <= 256 unless extended is set. UK_E_SIZE when
 * out is too small, UK_E_INVALID_ARG for impossible lengths. */
uk_rc uk_apdu_encode(const uk_apdu *a, bool extended, uint8_t *out, size_t *out_len);

/* Maps a status word to a result code. 9000 → UK_OK. 63Cx (verification
 * failed, x tries left) → UK_E_PIN_INCORRECT; 6983 → UK_E_PIN_BLOCKED (the
 * caller turns these into PUK codes when it verified a PUK); 6982 →
 * UK_E_SECURITY_STATUS; 6A82/6A88 → UK_E_NOT_FOUND; 6A80/6700 →
 * UK_E_INVALID_ARG; 6A84 → UK_E_LIMIT; 6D00/6E00/6A81/6A86 →
 * UK_E_UNSUPPORTED; anything else → UK_E_CARD_ERROR. */
uk_rc uk_sw_rc(uint16_t sw);

/* Tries left announced by a status word: x for 63Cx, 0 for 6983, -1 if
 * the word says nothing about tries. */
int uk_sw_tries(uint16_t sw);

#endif
