// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the virtual card's APDU handler.
 *
 * Input: one flags byte (bit 0: session starts with the PIN verified,
 * bit 1: with the management key authenticated), then APDUs, each prefixed
 * by a one-byte length. A fresh card with a P-256 key in 9A and an RSA-2048
 * key in 9C takes every input; each APDU must produce a status word and
 * nothing may read or write out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>

#include "card.h"
#include "crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *ec_key;
static EVP_PKEY *rsa_key;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t resp[VK_MAX_RESPONSE + 2];
    vk_init init = {
        .serial = 7, .pin = "123456", .puk = "12345678", .pin_tries = 3, .puk_tries = 3};
    vk_card *card = NULL;
    size_t off = 1;
    size_t resp_len;

    if (size < 1) {
        return 0;
    }
    if (ec_key == NULL) {
        vk_crypto_generate(VK_ALG_ECCP256, &ec_key);
        vk_crypto_generate(VK_ALG_RSA2048, &rsa_key);
    }
    if (vk_card_new(&init, &card) != UK_OK) {
        abort();
    }
    vk_card_key_set(card, 0x9A, VK_ALG_ECCP256, ec_key);
    vk_card_key_set(card, 0x9C, VK_ALG_RSA2048, rsa_key);
    vk_card_set_session(card, (data[0] & 1) != 0, (data[0] & 2) != 0);
    while (off < size) {
        size_t len = data[off++];
        if (len > size - off) {
            len = size - off;
        }
        resp_len = 0;
        vk_card_apdu(card, data + off, len, resp, &resp_len);
        if (resp_len < 2 || resp_len > sizeof(resp)) {
            abort(); /* every command gets a status word */
        }
        off += len;
    }
    vk_card_free(card);
    return 0;
}
