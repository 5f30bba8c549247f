/* SPDX-License-Identifier: MIT */
/*
 * The card's cryptography on OpenSSL 3 (EVP only): key generation, the
 * public key template, raw RSA, ECDSA, ECDH and the management key's block
 * cipher. Returns uk_rc; nothing here knows APDUs.
 */
#ifndef VK_CRYPTO_H
#define VK_CRYPTO_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/buf.h"
#include "uk/rc.h"

/* Generates a key for a PIV algorithm (RSA1024/2048, ECCP256/384). */
uk_rc vk_crypto_generate(uint8_t alg, EVP_PKEY **out);

/* The PIV algorithm of a key, 0 when PIV has none for it. */
uint8_t vk_crypto_key_alg(EVP_PKEY *pkey);

/* Appends the 7F49 public key template (SP 800-73-4 part 2, 3.3.2). */
uk_rc vk_crypto_public_template(EVP_PKEY *pkey, uk_buf *out);

/* Raw RSA private operation: in must be exactly the modulus length. */
uk_rc vk_crypto_rsa_raw(EVP_PKEY *pkey, const uint8_t *in, size_t len, uint8_t *out,
                        size_t *out_len);

/* ECDSA over a digest of any length (truncated as ECDSA specifies); DER out. */
uk_rc vk_crypto_ecdsa(EVP_PKEY *pkey, const uint8_t *digest, size_t len, uint8_t *out,
                      size_t *out_len);

/* ECDH with an uncompressed peer point; out receives the x coordinate. */
uk_rc vk_crypto_ecdh(EVP_PKEY *pkey, const uint8_t *point, size_t len, uint8_t *out,
                     size_t *out_len);

/* Block size of a management key algorithm (8 or 16), 0 if unknown. */
size_t vk_crypto_block_size(uint8_t alg);

/* Key length of a management key algorithm (24, 16, 24, 32), 0 if unknown. */
size_t vk_crypto_key_size(uint8_t alg);

/* One ECB block with the management key; encrypt or decrypt. */
uk_rc vk_crypto_block(uint8_t alg, const uint8_t *key, const uint8_t *in, uint8_t *out,
                      int encrypt);

/* Fills buf with random bytes. */
uk_rc vk_crypto_random(uint8_t *buf, size_t len);

#endif
