/* SPDX-License-Identifier: MIT */
/*
 * BER-TLV as smart cards use it (ISO/IEC 7816-4 5.2, SP 800-73-4 part 2):
 * tags of one to three bytes, definite lengths of up to three length bytes.
 *
 * The reader treats every byte it is given as hostile: a tag or length
 * running past the end, an indefinite length (0x80), a length longer than
 * the data left, or a longer length form than the reader supports is
 * UK_E_MALFORMED, never an out-of-bounds read. Values are borrowed
 * pointers into the caller's buffer, valid as long as that buffer is.
 *
 * Pure functions; any thread.
 */
#ifndef UK_TLV_H
#define UK_TLV_H

#include <stddef.h>
#include <stdint.h>

#include "uk/buf.h"
#include "uk/rc.h"

/* The largest value length a length field may announce (0x83 form). */
#define UK_TLV_MAX_LEN 0xFFFFFFu

typedef struct uk_tlv {
    uint32_t tag;         /* tag bytes big-endian: 0x53, 0x7F49, 0x5FC105 */
    const uint8_t *value; /* borrowed; points into the parsed buffer */
    size_t len;
} uk_tlv;

/* Reads the TLV at *p; on success *p points just past its value.
 * UK_E_MALFORMED on any encoding error (then *p is unchanged), UK_E_NOT_FOUND
 * when *p == end (no more TLVs). */
uk_rc uk_tlv_next(const uint8_t **p, const uint8_t *end, uk_tlv *out);

/* Finds the first TLV with the given tag among the sibling TLVs in
 * [data, data + len). UK_E_NOT_FOUND if absent, UK_E_MALFORMED if the
 * siblings before it do not parse. */
uk_rc uk_tlv_find(const uint8_t *data, size_t len, uint32_t tag, uk_tlv *out);

/* Parses data as exactly one TLV with the given tag that spans all of it
 * (no trailing bytes). UK_E_MALFORMED otherwise. */
uk_rc uk_tlv_expect(const uint8_t *data, size_t len, uint32_t tag, uk_tlv *out);

/* Checks that [data, data + len) is a sequence of well-formed TLVs. */
uk_rc uk_tlv_validate(const uint8_t *data, size_t len);

/* Number of bytes of the tag and length fields for this tag and length. */
size_t uk_tlv_header_len(uint32_t tag, size_t len);

/* Appends the tag and length fields. UK_E_INVALID_ARG for a length above
 * UK_TLV_MAX_LEN or a tag of zero; UK_E_LIMIT when b is full. */
uk_rc uk_tlv_put_header(uk_buf *b, uint32_t tag, size_t len);

/* Appends a whole TLV (value may be NULL when len is 0). */
uk_rc uk_tlv_put(uk_buf *b, uint32_t tag, const uint8_t *value, size_t len);

/* Appends a TLV whose value is one byte. */
uk_rc uk_tlv_put_u8(uk_buf *b, uint32_t tag, uint8_t value);

#endif
