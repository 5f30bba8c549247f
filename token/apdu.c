// SPDX-License-Identifier: MIT
/*
 * APDU encoding (ISO/IEC 7816-3 12.1.3 cases 1-4, short and extended) and
 * the status-word mapping.
 */
#include "uk/apdu.h"

#include <string.h>

uk_rc uk_apdu_encode(const uk_apdu *a, bool extended, uint8_t *out, size_t *out_len)
{
    size_t cap = *out_len;
    size_t n = 0;
    size_t need;

    *out_len = 0;
    if (a->lc > 65535 || a->le > 65536 || (a->lc > 0 && a->data == NULL)) {
        return UK_E_INVALID_ARG;
    }
    if (a->lc > UK_APDU_SHORT_MAX || a->le > 256) {
        extended = true;
    }
    need = 4 + (a->lc ? (extended ? 3 : 1) + a->lc : 0) +
           (a->le ? (extended ? (a->lc ? 2 : 3) : 1) : 0);
    if (need > cap) {
        return UK_E_SIZE;
    }
    out[n++] = a->cla;
    out[n++] = a->ins;
    out[n++] = a->p1;
    out[n++] = a->p2;
    if (a->lc > 0) {
        if (extended) {
            out[n++] = 0x00;
            out[n++] = (uint8_t)(a->lc >> 8);
        }
        out[n++] = (uint8_t)a->lc;
        memcpy(out + n, a->data, a->lc);
        n += a->lc;
    }
    if (a->le > 0) {
        if (extended) {
            if (a->lc == 0) {
                out[n++] = 0x00;
            }
            /* 65536 is encoded as 00 00, 256 in short form as 00 */
            out[n++] = (uint8_t)((a->le >> 8) & 0xFF);
        }
        out[n++] = (uint8_t)(a->le & 0xFF);
    }
    *out_len = n;
    return UK_OK;
}

uk_rc uk_sw_rc(uint16_t sw)
{
    if (sw == 0x9000) {
        return UK_OK;
    }
    if ((sw & 0xFFF0) == 0x63C0) {
        return UK_E_PIN_INCORRECT;
    }
    switch (sw) {
    case 0x6983:
        return UK_E_PIN_BLOCKED;
    case 0x6982:
        return UK_E_SECURITY_STATUS;
    case 0x6A82:
    case 0x6A88:
        return UK_E_NOT_FOUND;
    case 0x6700:
    case 0x6A80:
        return UK_E_INVALID_ARG;
    case 0x6A84:
        return UK_E_LIMIT;
    case 0x6A81:
    case 0x6A86:
    case 0x6D00:
    case 0x6E00:
        return UK_E_UNSUPPORTED;
    default:
        return UK_E_CARD_ERROR;
    }
}

int uk_sw_tries(uint16_t sw)
{
    if ((sw & 0xFFF0) == 0x63C0) {
        return sw & 0x0F;
    }
    if (sw == 0x6983) {
        return 0;
    }
    return -1;
}
