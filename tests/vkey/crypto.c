// SPDX-License-Identifier: MIT
/*
 * Card cryptography for the virtual key, on OpenSSL 3's EVP interface (no
 * deprecated RSA/EC_KEY calls). Private keys stay in EVP_PKEY objects; the
 * only way out is through these operations, as on a card.
 */
#include "crypto.h"

#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <string.h>

#include "card.h"
#include "uk/log.h"
#include "uk/mem.h"
#include "uk/tlv.h"

uk_rc vk_crypto_generate(uint8_t alg, EVP_PKEY **out)
{
    *out = NULL;
    switch (alg) {
    case VK_ALG_RSA1024:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
        break;
    case VK_ALG_RSA2048:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    case VK_ALG_ECCP256:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case VK_ALG_ECCP384:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    default:
        return UK_E_UNSUPPORTED;
    }
    return *out ? UK_OK : UK_E_CRYPTO;
}

uint8_t vk_crypto_key_alg(EVP_PKEY *pkey)
{
    char group[32];
    size_t glen = 0;

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        switch (EVP_PKEY_get_bits(pkey)) {
        case 1024:
            return VK_ALG_RSA1024;
        case 2048:
            return VK_ALG_RSA2048;
        default:
            return 0;
        }
    }
    if (EVP_PKEY_is_a(pkey, "EC") &&
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen)) {
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            return VK_ALG_ECCP256;
        }
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            return VK_ALG_ECCP384;
        }
    }
    return 0;
}

static uk_rc put_bn(uk_buf *out, uint32_t tag, EVP_PKEY *pkey, const char *name)
{
    BIGNUM *bn = NULL;
    uint8_t bytes[1024];
    int n;
    uk_rc rc = UK_E_CRYPTO;

    if (!EVP_PKEY_get_bn_param(pkey, name, &bn)) {
        goto out;
    }
    n = BN_num_bytes(bn);
    if (n <= 0 || (size_t)n > sizeof(bytes)) {
        goto out;
    }
    BN_bn2bin(bn, bytes);
    rc = uk_tlv_put(out, tag, bytes, (size_t)n);
out:
    BN_free(bn);
    return rc;
}

uk_rc vk_crypto_public_template(EVP_PKEY *pkey, uk_buf *out)
{
    uk_buf inner;
    uint8_t point[133];
    size_t plen = 0;
    uk_rc rc = UK_E_CRYPTO;

    uk_buf_init(&inner, 1024, false);
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        rc = put_bn(&inner, 0x81, pkey, OSSL_PKEY_PARAM_RSA_N);
        if (rc == UK_OK) {
            rc = put_bn(&inner, 0x82, pkey, OSSL_PKEY_PARAM_RSA_E);
        }
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                            sizeof(point), &plen)) {
            rc = uk_tlv_put(&inner, 0x86, point, plen);
        }
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(out, 0x7F49, inner.data, inner.len);
    }
    uk_buf_free(&inner);
    return rc;
}

uk_rc vk_crypto_rsa_raw(EVP_PKEY *pkey, const uint8_t *in, size_t len, uint8_t *out,
                        size_t *out_len)
{
    EVP_PKEY_CTX *ctx = NULL;
    size_t mod = (size_t)EVP_PKEY_get_size(pkey);
    size_t olen = *out_len;
    uk_rc rc = UK_E_CRYPTO;

    *out_len = 0;
    if (len != mod || olen < mod) {
        return UK_E_INVALID_ARG;
    }
    ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx == NULL || EVP_PKEY_decrypt_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) <= 0) {
        goto out;
    }
    /* Input not below the modulus is refused by OpenSSL: report it as bad
     * data, as a card does. */
    if (EVP_PKEY_decrypt(ctx, out, &olen, in, len) <= 0) {
        rc = UK_E_INVALID_ARG;
        goto out;
    }
    if (olen < mod) {
        /* left-pad to the modulus length */
        memmove(out + (mod - olen), out, olen);
        memset(out, 0, mod - olen);
    }
    *out_len = mod;
    rc = UK_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

uk_rc vk_crypto_ecdsa(EVP_PKEY *pkey, const uint8_t *digest, size_t len, uint8_t *out,
                      size_t *out_len)
{
    EVP_PKEY_CTX *ctx = NULL;
    size_t olen = *out_len;
    uk_rc rc = UK_E_CRYPTO;

    *out_len = 0;
    if (len == 0) {
        return UK_E_INVALID_ARG;
    }
    ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx == NULL || EVP_PKEY_sign_init(ctx) <= 0) {
        goto out;
    }
    /* No digest is set on the context, so the input is taken as the digest
     * whatever its length, and truncated to the order as ECDSA specifies. */
    if (EVP_PKEY_sign(ctx, out, &olen, digest, len) <= 0) {
        goto out;
    }
    *out_len = olen;
    rc = UK_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

uk_rc vk_crypto_ecdh(EVP_PKEY *pkey, const uint8_t *point, size_t len, uint8_t *out,
                     size_t *out_len)
{
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *peer = NULL;
    size_t olen = *out_len;
    uk_rc rc = UK_E_INVALID_ARG;

    *out_len = 0;
    if (len == 0 || point[0] != 0x04) {
        return UK_E_INVALID_ARG;
    }
    peer = EVP_PKEY_new();
    if (peer == NULL || !EVP_PKEY_copy_parameters(peer, pkey) ||
        !EVP_PKEY_set1_encoded_public_key(peer, point, len)) {
        goto out; /* not a point of this curve */
    }
    rc = UK_E_CRYPTO;
    ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx == NULL || EVP_PKEY_derive_init(ctx) <= 0) {
        goto out;
    }
    if (EVP_PKEY_derive_set_peer(ctx, peer) <= 0) {
        rc = UK_E_INVALID_ARG;
        goto out;
    }
    if (EVP_PKEY_derive(ctx, out, &olen) <= 0) {
        goto out;
    }
    *out_len = olen;
    rc = UK_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    return rc;
}

size_t vk_crypto_block_size(uint8_t alg)
{
    switch (alg) {
    case VK_ALG_3DES:
        return 8;
    case VK_ALG_AES128:
    case VK_ALG_AES192:
    case VK_ALG_AES256:
        return 16;
    default:
        return 0;
    }
}

size_t vk_crypto_key_size(uint8_t alg)
{
    switch (alg) {
    case VK_ALG_3DES:
        return 24;
    case VK_ALG_AES128:
        return 16;
    case VK_ALG_AES192:
        return 24;
    case VK_ALG_AES256:
        return 32;
    default:
        return 0;
    }
}

static const EVP_CIPHER *block_cipher(uint8_t alg)
{
    switch (alg) {
    case VK_ALG_3DES:
        return EVP_des_ede3_ecb();
    case VK_ALG_AES128:
        return EVP_aes_128_ecb();
    case VK_ALG_AES192:
        return EVP_aes_192_ecb();
    case VK_ALG_AES256:
        return EVP_aes_256_ecb();
    default:
        return NULL;
    }
}

uk_rc vk_crypto_block(uint8_t alg, const uint8_t *key, const uint8_t *in, uint8_t *out, int encrypt)
{
    const EVP_CIPHER *cipher = block_cipher(alg);
    EVP_CIPHER_CTX *ctx = NULL;
    int bs = (int)vk_crypto_block_size(alg);
    int olen = 0;
    uk_rc rc = UK_E_CRYPTO;

    if (cipher == NULL) {
        return UK_E_UNSUPPORTED;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || !EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, encrypt) ||
        !EVP_CIPHER_CTX_set_padding(ctx, 0) || !EVP_CipherUpdate(ctx, out, &olen, in, bs) ||
        olen != bs) {
        goto out;
    }
    rc = UK_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

uk_rc vk_crypto_random(uint8_t *buf, size_t len)
{
    if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
        return UK_E_CRYPTO;
    }
    return UK_OK;
}
