// SPDX-License-Identifier: MIT
/*
 * The PKCS#11 driver's pure code: CK_RV mapping, text fields and token ids,
 * PIN flags, the ECDSA signature form, DigestInfo, p11-kit module files.
 */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <p11-kit/pkcs11.h>

#include "check.h"
#include "uk/p11.h"

static void test_rv(void)
{
    CHECK_EQ(uk_p11_rv_rc(CKR_OK), UK_OK);
    CHECK_EQ(uk_p11_rv_rc(CKR_PIN_INCORRECT), UK_E_PIN_INCORRECT);
    CHECK_EQ(uk_p11_rv_rc(CKR_PIN_LOCKED), UK_E_PIN_BLOCKED);
    CHECK_EQ(uk_p11_rv_rc(CKR_PIN_LEN_RANGE), UK_E_PIN_FORMAT);
    CHECK_EQ(uk_p11_rv_rc(CKR_DEVICE_REMOVED), UK_E_CARD_REMOVED);
    CHECK_EQ(uk_p11_rv_rc(CKR_TOKEN_NOT_PRESENT), UK_E_CARD_REMOVED);
    CHECK_EQ(uk_p11_rv_rc(CKR_SESSION_HANDLE_INVALID), UK_E_CARD_REMOVED);
    CHECK_EQ(uk_p11_rv_rc(CKR_USER_NOT_LOGGED_IN), UK_E_SECURITY_STATUS);
    CHECK_EQ(uk_p11_rv_rc(CKR_MECHANISM_INVALID), UK_E_UNSUPPORTED);
    CHECK_EQ(uk_p11_rv_rc(CKR_FUNCTION_NOT_SUPPORTED), UK_E_UNSUPPORTED);
    CHECK_EQ(uk_p11_rv_rc(CKR_BUFFER_TOO_SMALL), UK_E_SIZE);
    CHECK_EQ(uk_p11_rv_rc(CKR_HOST_MEMORY), UK_E_NOMEM);
    CHECK_EQ(uk_p11_rv_rc(CKR_CRYPTOKI_NOT_INITIALIZED), UK_E_MODULE_INIT);
    CHECK_EQ(uk_p11_rv_rc(CKR_VENDOR_DEFINED | 5), UK_E_INTERNAL);
}

static void test_text_and_id(void)
{
    unsigned char field[32];
    char out[64];
    char small[8];

    memset(field, ' ', sizeof(field));
    memcpy(field, "SoftHSM project", 15);
    uk_p11_text(field, sizeof(field), out, sizeof(out));
    CHECK(strcmp(out, "SoftHSM project") == 0);
    uk_p11_text(field, sizeof(field), small, sizeof(small));
    CHECK(strcmp(small, "SoftHSM") == 0);
    memset(field, ' ', sizeof(field));
    uk_p11_text(field, sizeof(field), out, sizeof(out));
    CHECK(strcmp(out, "") == 0);
    /* UTF-8 is kept as it is */
    memset(field, ' ', sizeof(field));
    memcpy(field, "\xe9\xbe\x99\xe8\x84\x89", 6);
    uk_p11_text(field, sizeof(field), out, sizeof(out));
    CHECK(strcmp(out, "\xe9\xbe\x99\xe8\x84\x89") == 0);

    CHECK_EQ(uk_p11_token_id("SoftHSM project", "5a3c1e7d9f2b4c60", out, sizeof(out)), UK_OK);
    CHECK(strcmp(out, "p11:SoftHSM project:5a3c1e7d9f2b4c60") == 0);
    /* a ':' or a control character cannot split the id */
    CHECK_EQ(uk_p11_token_id("a:b", "1\n2", out, sizeof(out)), UK_OK);
    CHECK(strcmp(out, "p11:a_b:1_2") == 0);
    CHECK_EQ(uk_p11_token_id("piv_II", "", out, sizeof(out)), UK_OK);
    CHECK(strcmp(out, "p11:piv_II:") == 0);
    CHECK_EQ(uk_p11_token_id("SoftHSM project", "5a3c", small, sizeof(small)), UK_E_SIZE);
    CHECK(small[0] == '\0');
}

static void test_pin_flags(void)
{
    int tries = 99;
    bool low = true;

    CHECK_EQ(uk_p11_pin_flags(CKF_USER_PIN_INITIALIZED, &tries, &low), UK_OK);
    CHECK_EQ(tries, -1);
    CHECK(!low);
    CHECK_EQ(uk_p11_pin_flags(CKF_USER_PIN_COUNT_LOW, &tries, &low), UK_OK);
    CHECK_EQ(tries, -1);
    CHECK(low);
    CHECK_EQ(uk_p11_pin_flags(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY, &tries, &low),
             UK_OK);
    CHECK_EQ(tries, 1);
    CHECK_EQ(uk_p11_pin_flags(CKF_USER_PIN_LOCKED | CKF_USER_PIN_FINAL_TRY, &tries, &low),
             UK_E_PIN_BLOCKED);
    CHECK_EQ(tries, 0);
    /* SO flags are not the user's */
    CHECK_EQ(uk_p11_pin_flags(CKF_SO_PIN_LOCKED, &tries, &low), UK_OK);
    CHECK_EQ(tries, -1);
}

/* A real ECDSA signature, taken apart into r || s and put back. */
static void test_ecdsa(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t sig[80];
    size_t sig_len = sizeof(sig);
    uint8_t raw[64];
    uint8_t der[80];
    size_t der_len = sizeof(der);
    const uint8_t *q = sig;
    ECDSA_SIG *es;
    const BIGNUM *r;
    const BIGNUM *s;
    static const uint8_t msg[] = "renewal";

    CHECK(key != NULL && ctx != NULL);
    CHECK(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1);
    CHECK(EVP_DigestSign(ctx, sig, &sig_len, msg, sizeof(msg)) == 1);
    es = d2i_ECDSA_SIG(NULL, &q, (long)sig_len);
    CHECK(es != NULL);
    ECDSA_SIG_get0(es, &r, &s);
    CHECK(BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32);
    CHECK_EQ(uk_p11_ecdsa_der(raw, 64, der, &der_len), UK_OK);
    CHECK_EQ(der_len, sig_len);
    CHECK_MEM(der, sig, sig_len);
    EVP_MD_CTX_free(ctx);
    ctx = EVP_MD_CTX_new();
    CHECK(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1);
    CHECK(EVP_DigestVerify(ctx, der, der_len, msg, sizeof(msg)) == 1);
    /* odd lengths, nothing, too small an output */
    der_len = sizeof(der);
    CHECK_EQ(uk_p11_ecdsa_der(raw, 63, der, &der_len), UK_E_MALFORMED);
    CHECK_EQ(uk_p11_ecdsa_der(raw, 0, der, &der_len), UK_E_MALFORMED);
    der_len = 10;
    CHECK_EQ(uk_p11_ecdsa_der(raw, 64, der, &der_len), UK_E_SIZE);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
}

/* RFC 8017 9.2 note 1: the SHA-256 DigestInfo prefix, byte for byte. */
static void test_digest_info(void)
{
    static const uint8_t prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
    uint8_t md[32];
    uint8_t di[64];
    size_t di_len = sizeof(di);

    for (size_t i = 0; i < sizeof(md); i++) {
        md[i] = (uint8_t)i;
    }
    CHECK_EQ(uk_digest_info(NID_sha256, md, 32, di, &di_len), UK_OK);
    CHECK_EQ(di_len, sizeof(prefix) + 32);
    CHECK_MEM(di, prefix, sizeof(prefix));
    CHECK_MEM(di + sizeof(prefix), md, 32);
    di_len = sizeof(di);
    CHECK_EQ(uk_digest_info(NID_sha256, md, 20, di, &di_len), UK_E_INVALID_ARG);
    di_len = 20;
    CHECK_EQ(uk_digest_info(NID_sha256, md, 32, di, &di_len), UK_E_SIZE);
}

static void test_registry(void)
{
    char path[256];
    char ir[64];
    bool on = false;

    CHECK_EQ(uk_p11_registry_parse("# opensc\nmodule: opensc-pkcs11.so\n", "/usr/lib/pkcs11", path,
                                   sizeof(path), ir, sizeof(ir), &on),
             UK_OK);
    CHECK(on);
    CHECK(strcmp(path, "/usr/lib/pkcs11/opensc-pkcs11.so") == 0);
    CHECK(strcmp(ir, "") == 0);

    CHECK_EQ(uk_p11_registry_parse("module: /opt/vendor/libgm3000.so\r\nx-init-reserved: slot=1 \n",
                                   "/usr/lib/pkcs11", path, sizeof(path), ir, sizeof(ir), &on),
             UK_OK);
    CHECK(on);
    CHECK(strcmp(path, "/opt/vendor/libgm3000.so") == 0);
    CHECK(strcmp(ir, "slot=1") == 0);

    /* the trust store is not a key */
    CHECK_EQ(uk_p11_registry_parse("module: p11-kit-trust.so\ntrust-policy: yes\n"
                                   "disable-in: p11-kit-proxy\n",
                                   "/l", path, sizeof(path), ir, sizeof(ir), &on),
             UK_OK);
    CHECK(!on);
    CHECK_EQ(uk_p11_registry_parse("module: a.so\ndisable-in: firefox, ukeyd\n", "/l", path,
                                   sizeof(path), ir, sizeof(ir), &on),
             UK_OK);
    CHECK(!on);
    CHECK_EQ(uk_p11_registry_parse("module: a.so\nenable-in: firefox\n", "/l", path, sizeof(path),
                                   ir, sizeof(ir), &on),
             UK_OK);
    CHECK(!on);
    CHECK_EQ(uk_p11_registry_parse("module: a.so\nenable-in: firefox ukeyd\n", "/l", path,
                                   sizeof(path), ir, sizeof(ir), &on),
             UK_OK);
    CHECK(on);
    /* "ukeyd-x" is another program */
    CHECK_EQ(uk_p11_registry_parse("module: a.so\ndisable-in: ukeyd-x\n", "/l", path, sizeof(path),
                                   ir, sizeof(ir), &on),
             UK_OK);
    CHECK(on);
    CHECK_EQ(uk_p11_registry_parse("# nothing\npriority: 1\n", "/l", path, sizeof(path), ir,
                                   sizeof(ir), &on),
             UK_E_MALFORMED);
    CHECK(!on);
    CHECK_EQ(uk_p11_registry_parse("", "/l", path, sizeof(path), ir, sizeof(ir), &on),
             UK_E_MALFORMED);
    CHECK_EQ(uk_p11_registry_parse("module: a.so\n", "/a/very/long/directory", path, 10, ir,
                                   sizeof(ir), &on),
             UK_E_SIZE);
}

int main(void)
{
    test_rv();
    test_text_and_id();
    test_pin_flags();
    test_ecdsa();
    test_digest_info();
    test_registry();
    return check_exit_code("p11");
}
