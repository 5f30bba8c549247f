// SPDX-License-Identifier: MIT
/*
 * Unit tests of the virtual card's APDU state machine, in process: APDU
 * cases, chaining, GET RESPONSE, PIN counters, management key
 * authentication (mutual and external, 3DES and AES), key generation and
 * signatures checked with OpenSSL, objects, and malformed input.
 */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"
#include "check.h"
#include "crypto.h"
#include "uk/buf.h"
#include "uk/tlv.h"

static uint8_t resp[VK_MAX_RESPONSE + 2];
static size_t resp_len;

static unsigned sw(void)
{
    return resp_len >= 2 ? (unsigned)((resp[resp_len - 2] << 8) | resp[resp_len - 1]) : 0;
}

static unsigned apdu(vk_card *c, const uint8_t *a, size_t len)
{
    resp_len = 0;
    vk_card_apdu(c, a, len, resp, &resp_len);
    return sw();
}

/* Sends a command given as hex ("00A4040005A000000308"). */
static unsigned apdu_hex(vk_card *c, const char *hex)
{
    uint8_t a[512];
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        a[i] = (uint8_t)v;
    }
    return apdu(c, a, n);
}

static vk_card *new_card(uint8_t mgmt_alg, const uint8_t *mgmt_key, size_t mgmt_key_len)
{
    vk_init init = {.serial = 4242,
                    .pin = "123456",
                    .puk = "12345678",
                    .pin_tries = 3,
                    .puk_tries = 3,
                    .mgmt_alg = mgmt_alg,
                    .mgmt_key = mgmt_key,
                    .mgmt_key_len = mgmt_key_len};
    vk_card *c = NULL;

    CHECK_EQ(vk_card_new(&init, &c), UK_OK);
    CHECK_EQ(apdu_hex(c, "00A4040009A00000030800001000"), 0x9000);
    return c;
}

static void test_select_and_cases(void)
{
    vk_card *c = new_card(0, NULL, 0);
    uk_tlv t;

    /* the APT names the PIX */
    CHECK_EQ(apdu_hex(c, "00A4040005A000000308"), 0x9000);
    CHECK_EQ(uk_tlv_expect(resp, resp_len - 2, 0x61, &t), UK_OK);
    CHECK_EQ(apdu_hex(c, "00A4040005A000000309"), 0x6A82);
    CHECK_EQ(apdu_hex(c, "00A4040C05A000000308"), 0x9000);
    CHECK_EQ(resp_len, 2);
    /* malformed: too short, Lc disagreeing with the length, unknown CLA / INS */
    CHECK_EQ(apdu_hex(c, "00A4"), 0x6700);
    CHECK_EQ(apdu_hex(c, "00CB3FFF055C035FC1"), 0x6700);
    CHECK_EQ(apdu_hex(c, "80CB3FFF035C017E00"), 0x6E00);
    CHECK_EQ(apdu_hex(c, "0099000000"), 0x6D00);
    CHECK_EQ(apdu_hex(c, "00CB3FFE035C017E"), 0x6A86);
    CHECK_EQ(apdu_hex(c, "00CB3FFF025C00"), 0x6A80);
    /* extended length GET DATA */
    CHECK_EQ(apdu_hex(c, "00CB3FFF0000035C017E0000"), 0x9000);
    CHECK_EQ(resp[0], 0x7E);
    vk_card_free(c);
}

static void test_get_response(void)
{
    vk_card *c = new_card(0, NULL, 0);
    uk_buf all;
    unsigned s;

    /* CCC is 53 bytes; ask for 16 and collect the rest with GET RESPONSE */
    uk_buf_init(&all, 4096, false);
    s = apdu_hex(c, "00CB3FFF055C035FC10710");
    CHECK_EQ(s & 0xFF00, 0x6100);
    CHECK_EQ(resp_len, 18);
    uk_buf_append(&all, resp, resp_len - 2);
    while ((s & 0xFF00) == 0x6100) {
        s = apdu_hex(c, "00C0000010");
        uk_buf_append(&all, resp, resp_len - 2);
    }
    CHECK_EQ(s, 0x9000);
    CHECK_EQ(uk_tlv_validate(all.data, all.len), UK_OK);
    CHECK_EQ(all.data[0], 0x53);
    CHECK_EQ(all.len, 2 + all.data[1]);
    /* nothing pending now */
    CHECK_EQ(apdu_hex(c, "00C0000000"), 0x6985);
    uk_buf_free(&all);
    vk_card_free(c);
}

static void test_pin(void)
{
    vk_card *c = new_card(0, NULL, 0);

    CHECK_EQ(apdu_hex(c, "0020008000"), 0x63C3);
    CHECK_EQ(apdu_hex(c, "0020008008313131313131FFFF"), 0x63C2);
    CHECK_EQ(vk_card_dirty(c), true); /* the counter is committed */
    CHECK_EQ(apdu_hex(c, "0020008000"), 0x63C2);
    CHECK_EQ(apdu_hex(c, "0020008008313233343536FFFF"), 0x9000);
    CHECK_EQ(apdu_hex(c, "0020008000"), 0x9000);         /* verified, counter reset */
    CHECK_EQ(apdu_hex(c, "002000800431323334"), 0x6A80); /* wrong length */
    CHECK_EQ(apdu_hex(c, "0020FF8000"), 0x9000);         /* reset security status */
    CHECK_EQ(apdu_hex(c, "0020008000"), 0x63C3);
    CHECK_EQ(apdu_hex(c, "0020000000"), 0x6A88); /* global PIN: absent */
    /* block, then unblock with the PUK */
    for (int i = 0; i < 3; i++) {
        apdu_hex(c, "0020008008393939393939FFFF");
    }
    CHECK_EQ(apdu_hex(c, "0020008000"), 0x6983);
    CHECK_EQ(apdu_hex(c, "0020008008313233343536FFFF"), 0x6983);
    CHECK_EQ(apdu_hex(c, "002C008010393939393939393937373737373737FF"), 0x63C2); /* wrong PUK */
    CHECK_EQ(apdu_hex(c, "002C0080103132333435363738373737373737FFFF"), 0x9000);
    CHECK_EQ(apdu_hex(c, "0020008008373737373737FFFF"), 0x9000);
    /* change PIN: bad new format spends no try; wrong old spends one */
    CHECK_EQ(apdu_hex(c, "0024008010373737373737FFFF3132FFFFFFFFFFFF"), 0x6A80);
    CHECK_EQ(apdu_hex(c, "0024008010303030303030FFFF313131313131FFFF"), 0x63C2);
    CHECK_EQ(apdu_hex(c, "0024008010373737373737FFFF313131313131FFFF"), 0x9000);
    CHECK_EQ(apdu_hex(c, "0020008008313131313131FFFF"), 0x9000);
    vk_card_free(c);
}

/* Mutual authentication as yubico-piv-tool does it. */
static bool mgmt_mutual(vk_card *c, uint8_t alg, const uint8_t *key)
{
    size_t bs = vk_crypto_block_size(alg);
    uint8_t cmd[64] = {0x00, 0x87, alg, 0x9B, 0x04, 0x7C, 0x02, 0x80, 0x00};
    uint8_t witness[16];
    uint8_t chal[16] = "0123456789abcdef";
    uint8_t expect[16];
    size_t n;
    uk_tlv dyn;
    uk_tlv t;

    if (apdu(c, cmd, 9) != 0x9000 || uk_tlv_expect(resp, resp_len - 2, 0x7C, &dyn) != UK_OK ||
        uk_tlv_find(dyn.value, dyn.len, 0x80, &t) != UK_OK || t.len != bs) {
        return false;
    }
    vk_crypto_block(alg, key, t.value, witness, 0);
    n = 0;
    cmd[n++] = 0x00;
    cmd[n++] = 0x87;
    cmd[n++] = alg;
    cmd[n++] = 0x9B;
    cmd[n++] = (uint8_t)(2 + 2 * (2 + bs));
    cmd[n++] = 0x7C;
    cmd[n++] = (uint8_t)(2 * (2 + bs));
    cmd[n++] = 0x80;
    cmd[n++] = (uint8_t)bs;
    memcpy(cmd + n, witness, bs);
    n += bs;
    cmd[n++] = 0x81;
    cmd[n++] = (uint8_t)bs;
    memcpy(cmd + n, chal, bs);
    n += bs;
    if (apdu(c, cmd, n) != 0x9000) {
        return false;
    }
    vk_crypto_block(alg, key, chal, expect, 1);
    return uk_tlv_expect(resp, resp_len - 2, 0x7C, &dyn) == UK_OK &&
           uk_tlv_find(dyn.value, dyn.len, 0x82, &t) == UK_OK && t.len == bs &&
           memcmp(t.value, expect, bs) == 0;
}

/* External authentication as OpenSC does it. */
static bool mgmt_external(vk_card *c, uint8_t alg, const uint8_t *key)
{
    size_t bs = vk_crypto_block_size(alg);
    uint8_t cmd[64] = {0x00, 0x87, alg, 0x9B, 0x04, 0x7C, 0x02, 0x81, 0x00};
    uint8_t enc[16];
    uk_tlv dyn;
    uk_tlv t;
    size_t n = 0;

    if (apdu(c, cmd, 9) != 0x9000 || uk_tlv_expect(resp, resp_len - 2, 0x7C, &dyn) != UK_OK ||
        uk_tlv_find(dyn.value, dyn.len, 0x81, &t) != UK_OK || t.len != bs) {
        return false;
    }
    vk_crypto_block(alg, key, t.value, enc, 1);
    cmd[n++] = 0x00;
    cmd[n++] = 0x87;
    cmd[n++] = alg;
    cmd[n++] = 0x9B;
    cmd[n++] = (uint8_t)(4 + bs);
    cmd[n++] = 0x7C;
    cmd[n++] = (uint8_t)(2 + bs);
    cmd[n++] = 0x82;
    cmd[n++] = (uint8_t)bs;
    memcpy(cmd + n, enc, bs);
    n += bs;
    return apdu(c, cmd, n) == 0x9000;
}

static void test_mgmt_auth(void)
{
    static const uint8_t des_key[24] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
                                        5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t wrong[24] = {9};
    uint8_t aes_key[32];
    static const uint8_t aes_algs[] = {VK_ALG_AES128, VK_ALG_AES192, VK_ALG_AES256};
    vk_card *c = new_card(0, NULL, 0);

    /* without authentication, GENERATE is refused */
    CHECK_EQ(apdu_hex(c, "0047009605AC03800111"), 0x6A86); /* 96 is not a slot */
    CHECK_EQ(apdu_hex(c, "0047009A05AC03800111"), 0x6982);
    CHECK(!mgmt_mutual(c, VK_ALG_3DES, wrong));
    CHECK(!mgmt_external(c, VK_ALG_3DES, wrong));
    CHECK(mgmt_mutual(c, VK_ALG_3DES, des_key));
    CHECK(mgmt_external(c, VK_ALG_3DES, des_key));
    /* step 2 without step 1 fails */
    CHECK_EQ(apdu_hex(c, "0087039B0C7C0A82080000000000000000"), 0x6982);
    /* wrong algorithm for the key */
    CHECK_EQ(apdu_hex(c, "0087089B047C028000"), 0x6A86);
    vk_card_free(c);
    for (size_t i = 0; i < sizeof(aes_algs); i++) {
        size_t klen = vk_crypto_key_size(aes_algs[i]);
        for (size_t j = 0; j < klen; j++) {
            aes_key[j] = (uint8_t)(0x40 + j);
        }
        c = new_card(aes_algs[i], aes_key, klen);
        CHECK(mgmt_mutual(c, aes_algs[i], aes_key));
        CHECK(mgmt_external(c, aes_algs[i], aes_key));
        vk_card_free(c);
    }
}

/* Generates a key in slot, returns its public key. */
static EVP_PKEY *generate(vk_card *c, uint8_t slot, uint8_t alg)
{
    static const uint8_t des_key[24] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
                                        5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t cmd[] = {0x00, 0x47, 0x00, slot, 0x05, 0xAC, 0x03, 0x80, 0x01, alg};
    uk_buf all;
    uk_tlv tmpl;
    uk_tlv t;
    unsigned s;
    EVP_PKEY *pub = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM params[4];
    const char *group = alg == VK_ALG_ECCP256 ? "P-256" : "P-384";

    CHECK(mgmt_mutual(c, VK_ALG_3DES, des_key));
    uk_buf_init(&all, 4096, false);
    s = apdu(c, cmd, sizeof(cmd));
    uk_buf_append(&all, resp, resp_len - 2);
    while ((s & 0xFF00) == 0x6100) {
        s = apdu_hex(c, "00C0000000");
        uk_buf_append(&all, resp, resp_len - 2);
    }
    CHECK_EQ(s, 0x9000);
    if (uk_tlv_expect(all.data, all.len, 0x7F49, &tmpl) != UK_OK) {
        CHECK_FAIL("7F49 template");
        goto out;
    }
    ctx = EVP_PKEY_CTX_new_from_name(NULL, alg == VK_ALG_RSA2048 ? "RSA" : "EC", NULL);
    if (alg == VK_ALG_RSA2048) {
        uk_tlv e;
        CHECK_EQ(uk_tlv_find(tmpl.value, tmpl.len, 0x81, &t), UK_OK);
        CHECK_EQ(uk_tlv_find(tmpl.value, tmpl.len, 0x82, &e), UK_OK);
        CHECK_EQ(t.len, 256);
        BIGNUM *n = BN_bin2bn(t.value, (int)t.len, NULL);
        BIGNUM *ee = BN_bin2bn(e.value, (int)e.len, NULL);
        uint8_t nle[256];
        uint8_t ele[8];
        BN_bn2lebinpad(n, nle, sizeof(nle));
        BN_bn2lebinpad(ee, ele, sizeof(ele));
        params[0] = OSSL_PARAM_construct_BN("n", nle, sizeof(nle));
        params[1] = OSSL_PARAM_construct_BN("e", ele, sizeof(ele));
        params[2] = OSSL_PARAM_construct_end();
        BN_free(n);
        BN_free(ee);
        CHECK(EVP_PKEY_fromdata_init(ctx) == 1);
        CHECK(EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, params) == 1);
    } else {
        CHECK_EQ(uk_tlv_find(tmpl.value, tmpl.len, 0x86, &t), UK_OK);
        params[0] = OSSL_PARAM_construct_utf8_string("group", (char *)(uintptr_t)group, 0);
        params[1] = OSSL_PARAM_construct_octet_string("pub", (void *)(uintptr_t)t.value, t.len);
        params[2] = OSSL_PARAM_construct_end();
        CHECK(EVP_PKEY_fromdata_init(ctx) == 1);
        CHECK(EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, params) == 1);
    }
out:
    EVP_PKEY_CTX_free(ctx);
    uk_buf_free(&all);
    return pub;
}

/* GENERAL AUTHENTICATE with 7C{82 00, 81 data}, chained when long. */
static unsigned sign_raw(vk_card *c, uint8_t alg, uint8_t slot, const uint8_t *data, size_t len,
                         uk_buf *out)
{
    uk_buf cmd;
    uk_buf inner;
    size_t off = 0;
    unsigned s = 0;

    uk_buf_init(&inner, 1024, false);
    uk_buf_init(&cmd, 1024, false);
    uk_tlv_put(&inner, 0x82, NULL, 0);
    uk_tlv_put(&inner, 0x81, data, len);
    uk_tlv_put(&cmd, 0x7C, inner.data, inner.len);
    /* chain in pieces of 200 bytes as middleware does */
    while (off < cmd.len) {
        size_t n = cmd.len - off > 200 ? 200 : cmd.len - off;
        uint8_t a[256] = {off + n < cmd.len ? 0x10 : 0x00, 0x87, alg, slot, (uint8_t)n};
        memcpy(a + 5, cmd.data + off, n);
        a[5 + n] = 0x00;
        s = apdu(c, a, 6 + n);
        off += n;
        if (off < cmd.len) {
            CHECK_EQ(s, 0x9000);
        }
    }
    uk_buf_append(out, resp, resp_len - 2);
    while ((s & 0xFF00) == 0x6100) {
        s = apdu_hex(c, "00C0000000");
        uk_buf_append(out, resp, resp_len - 2);
    }
    uk_buf_free(&cmd);
    uk_buf_free(&inner);
    return s;
}

static void test_generate_sign(void)
{
    static const uint8_t digest[32] = "0123456789abcdef0123456789abcde";
    vk_card *c = new_card(0, NULL, 0);
    EVP_PKEY *ec = generate(c, 0x9A, VK_ALG_ECCP256);
    EVP_PKEY *rsa = generate(c, 0x9C, VK_ALG_RSA2048);
    EVP_PKEY *p384 = generate(c, 0x82, VK_ALG_ECCP384);
    EVP_PKEY_CTX *ctx = NULL;
    uk_buf out;
    uk_tlv dyn;
    uk_tlv t;
    uint8_t em[256];
    uint8_t rec[256];
    size_t rec_len = sizeof(rec);

    CHECK(ec != NULL && rsa != NULL && p384 != NULL);
    uk_buf_init(&out, 4096, false);
    /* 9A needs the PIN once */
    CHECK_EQ(sign_raw(c, VK_ALG_ECCP256, 0x9A, digest, 32, &out), 0x6982);
    CHECK_EQ(apdu_hex(c, "0020008008313233343536FFFF"), 0x9000);
    uk_buf_reset(&out);
    CHECK_EQ(sign_raw(c, VK_ALG_ECCP256, 0x9A, digest, 32, &out), 0x9000);
    CHECK_EQ(uk_tlv_expect(out.data, out.len, 0x7C, &dyn), UK_OK);
    CHECK_EQ(uk_tlv_find(dyn.value, dyn.len, 0x82, &t), UK_OK);
    ctx = EVP_PKEY_CTX_new(ec, NULL);
    CHECK(EVP_PKEY_verify_init(ctx) == 1);
    CHECK(EVP_PKEY_verify(ctx, t.value, t.len, digest, 32) == 1);
    EVP_PKEY_CTX_free(ctx);
    /* wrong algorithm for the slot's key */
    uk_buf_reset(&out);
    CHECK_EQ(sign_raw(c, VK_ALG_RSA2048, 0x9A, digest, 32, &out), 0x6A86);
    /* 9C wants the PIN right before: the ECDSA above consumed nothing of it,
     * but a command in between does */
    memset(em, 0xFF, sizeof(em));
    em[0] = 0x00;
    em[1] = 0x01;
    em[256 - 33] = 0x00;
    memcpy(em + 256 - 32, digest, 32);
    uk_buf_reset(&out);
    CHECK_EQ(sign_raw(c, VK_ALG_RSA2048, 0x9C, em, sizeof(em), &out), 0x6982);
    CHECK_EQ(apdu_hex(c, "0020008008313233343536FFFF"), 0x9000);
    uk_buf_reset(&out);
    CHECK_EQ(sign_raw(c, VK_ALG_RSA2048, 0x9C, em, sizeof(em), &out), 0x9000);
    CHECK_EQ(uk_tlv_expect(out.data, out.len, 0x7C, &dyn), UK_OK);
    CHECK_EQ(uk_tlv_find(dyn.value, dyn.len, 0x82, &t), UK_OK);
    CHECK_EQ(t.len, 256);
    ctx = EVP_PKEY_CTX_new(rsa, NULL);
    CHECK(EVP_PKEY_verify_recover_init(ctx) == 1);
    CHECK(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1);
    CHECK(EVP_PKEY_verify_recover(ctx, rec, &rec_len, t.value, t.len) == 1);
    CHECK_EQ(rec_len, 256);
    CHECK_MEM(rec, em, 256);
    EVP_PKEY_CTX_free(ctx);
    /* used once: a second signature needs the PIN again */
    uk_buf_reset(&out);
    CHECK_EQ(sign_raw(c, VK_ALG_RSA2048, 0x9C, em, sizeof(em), &out), 0x6982);
    /* RSA input of the wrong size */
    CHECK_EQ(apdu_hex(c, "0020008008313233343536FFFF"), 0x9000);
    uk_buf_reset(&out);
    CHECK_EQ(sign_raw(c, VK_ALG_RSA2048, 0x9C, em, 100, &out), 0x6A80);
    /* P-384 in a retired slot, with a SHA-384-sized digest */
    uk_buf_reset(&out);
    CHECK_EQ(sign_raw(c, VK_ALG_ECCP384, 0x82, em, 48, &out), 0x9000);
    /* empty slot */
    uk_buf_reset(&out);
    CHECK_EQ(sign_raw(c, VK_ALG_ECCP256, 0x9D, digest, 32, &out), 0x6A80);
    uk_buf_free(&out);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p384);
    vk_card_free(c);
}

static void test_ecdh(void)
{
    vk_card *c = new_card(0, NULL, 0);
    EVP_PKEY *card_pub = generate(c, 0x9D, VK_ALG_ECCP256);
    EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(peer, NULL);
    uint8_t point[65];
    size_t plen = 0;
    uint8_t expect[32];
    size_t elen = sizeof(expect);
    uk_buf cmd;
    uk_buf inner;
    uk_tlv dyn;
    uk_tlv t;

    CHECK(EVP_PKEY_get_octet_string_param(peer, "encoded-pub-key", point, sizeof(point), &plen));
    CHECK(EVP_PKEY_derive_init(ctx) == 1);
    CHECK(EVP_PKEY_derive_set_peer(ctx, card_pub) == 1);
    CHECK(EVP_PKEY_derive(ctx, expect, &elen) == 1);
    uk_buf_init(&inner, 256, false);
    uk_buf_init(&cmd, 256, false);
    uk_tlv_put(&inner, 0x82, NULL, 0);
    uk_tlv_put(&inner, 0x85, point, plen);
    uk_buf_append(&cmd, "\x00\x87\x11\x9D", 4);
    uk_buf_append_byte(&cmd, (uint8_t)(inner.len + 2));
    uk_tlv_put(&cmd, 0x7C, inner.data, inner.len);
    CHECK_EQ(apdu_hex(c, "0020008008313233343536FFFF"), 0x9000);
    CHECK_EQ(apdu(c, cmd.data, cmd.len), 0x9000);
    CHECK_EQ(uk_tlv_expect(resp, resp_len - 2, 0x7C, &dyn), UK_OK);
    CHECK_EQ(uk_tlv_find(dyn.value, dyn.len, 0x82, &t), UK_OK);
    CHECK_EQ(t.len, elen);
    CHECK_MEM(t.value, expect, elen);
    /* a point not on the curve */
    cmd.data[cmd.len - 1] ^= 0x01;
    CHECK_EQ(apdu(c, cmd.data, cmd.len), 0x6A80);
    uk_buf_free(&cmd);
    uk_buf_free(&inner);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(card_pub);
    vk_card_free(c);
}

static void test_objects_and_chaining(void)
{
    static const uint8_t des_key[24] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
                                        5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    vk_card *c = new_card(0, NULL, 0);
    uint8_t body[600];
    uk_buf cmd;
    uk_buf val;
    size_t off = 5;
    unsigned s = 0;

    CHECK_EQ(apdu_hex(c, "00CB3FFF055C035FC10500"), 0x6A82);
    /* PUT DATA of a 600-byte cert object in three chained parts */
    for (size_t i = 0; i < sizeof(body); i++) {
        body[i] = (uint8_t)i;
    }
    uk_buf_init(&val, 1024, false);
    uk_buf_init(&cmd, 1024, false);
    uk_tlv_put(&val, 0x70, body, sizeof(body));
    uk_tlv_put_u8(&val, 0x71, 0);
    uk_tlv_put(&val, 0xFE, NULL, 0);
    uk_buf_append(&cmd, "\x5C\x03\x5F\xC1\x05", 5);
    uk_tlv_put(&cmd, 0x53, val.data, val.len);
    CHECK_EQ(apdu_hex(c, "00DB3FFF085C035FC105530100"), 0x6982); /* needs the mgmt key */
    CHECK(mgmt_mutual(c, VK_ALG_3DES, des_key));
    off = 0;
    while (off < cmd.len) {
        size_t n = cmd.len - off > 255 ? 255 : cmd.len - off;
        uint8_t a[261] = {off + n < cmd.len ? 0x10 : 0x00, 0xDB, 0x3F, 0xFF, (uint8_t)n};
        memcpy(a + 5, cmd.data + off, n);
        s = apdu(c, a, 5 + n);
        off += n;
    }
    CHECK_EQ(s, 0x9000);
    CHECK_EQ(apdu_hex(c, "00CB3FFF055C035FC10500") & 0xFF00, 0x6100);
    /* chaining out of order: a different INS mid-chain */
    CHECK_EQ(apdu_hex(c, "10DB3FFF025C03"), 0x9000);
    CHECK_EQ(apdu_hex(c, "00CB3FFF035C017E"), 0x6883);
    CHECK_EQ(apdu_hex(c, "00CB3FFF035C017E"), 0x9000); /* the chain was dropped */
    /* delete with 53 00 */
    CHECK_EQ(apdu_hex(c, "00DB3FFF075C035FC1055300"), 0x9000);
    CHECK_EQ(apdu_hex(c, "00CB3FFF055C035FC10500"), 0x6A82);
    /* bad PUT DATA: not 53, trailing bytes, unknown object */
    CHECK_EQ(apdu_hex(c, "00DB3FFF075C035FC1057000"), 0x6A80);
    CHECK_EQ(apdu_hex(c, "00DB3FFF095C035FC105530000FF"), 0x6A80);
    CHECK_EQ(apdu_hex(c, "00DB3FFF075C031234565300"), 0x6A80);
    /* the PRINTED object needs the PIN to be read */
    CHECK_EQ(apdu_hex(c, "00DB3FFF095C035FC1095302AABB"), 0x9000);
    CHECK_EQ(apdu_hex(c, "00CB3FFF055C035FC10900"), 0x6982);
    CHECK_EQ(apdu_hex(c, "0020008008313233343536FFFF"), 0x9000);
    CHECK_EQ(apdu_hex(c, "00CB3FFF055C035FC10900"), 0x9000);
    CHECK_EQ(resp_len, 6);
    /* power cycle: PIN and management key authentication are gone */
    vk_card_reset(c);
    CHECK_EQ(apdu_hex(c, "00CB3FFF035C017E00"), 0x6D00); /* not selected */
    CHECK_EQ(apdu_hex(c, "00A4040005A000000308"), 0x9000);
    CHECK_EQ(apdu_hex(c, "00CB3FFF055C035FC10900"), 0x6982);
    CHECK_EQ(apdu_hex(c, "00DB3FFF075C035FC1095300"), 0x6982);
    uk_buf_free(&val);
    uk_buf_free(&cmd);
    vk_card_free(c);
}

static void test_yubico(void)
{
    vk_card *c = new_card(0, NULL, 0);

    CHECK_EQ(apdu_hex(c, "00FD000000"), 0x9000);
    CHECK_EQ(resp_len, 5);
    CHECK_EQ(resp[0], 5);
    CHECK_EQ(apdu_hex(c, "00F8000000"), 0x9000);
    CHECK_EQ(resp_len, 6);
    CHECK_EQ((resp[2] << 8) | resp[3], 4242);
    /* RESET only when PIN and PUK are blocked */
    CHECK_EQ(apdu_hex(c, "00FB000000"), 0x6985);
    for (int i = 0; i < 3; i++) {
        apdu_hex(c, "0020008008393939393939FFFF");
        apdu_hex(c, "002C008010393939393939393937373737373737FF");
    }
    CHECK_EQ(apdu_hex(c, "00FB000000"), 0x9000);
    CHECK_EQ(apdu_hex(c, "0020008000"), 0x63C3);
    vk_card_free(c);
}

int main(void)
{
    test_select_and_cases();
    test_get_response();
    test_pin();
    test_mgmt_auth();
    test_generate_sign();
    test_ecdh();
    test_objects_and_chaining();
    test_yubico();
    return check_exit_code("test_vkey_card");
}
