// SPDX-License-Identifier: MIT
/*
 * Unit tests of certificate parsing (Chinese UTF-8 subjects), the renewal
 * window's calendar arithmetic (month ends, leap years, exact bounds), and
 * CSR building with a signer outside OpenSSL's key (a software "token").
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "check.h"
#include "uk/cert.h"
#include "uk/token.h"

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return (int64_t)check_utc(y, mo, d, h, mi, s);
}

static void test_months(void)
{
    CHECK_EQ(uk_time_add_months(utc(2025, 3, 31, 12, 0, 0), -1), utc(2025, 2, 28, 12, 0, 0));
    CHECK_EQ(uk_time_add_months(utc(2024, 3, 31, 12, 0, 0), -1), utc(2024, 2, 29, 12, 0, 0));
    CHECK_EQ(uk_time_add_months(utc(2025, 1, 31, 0, 0, 1), 1), utc(2025, 2, 28, 0, 0, 1));
    CHECK_EQ(uk_time_add_months(utc(2024, 1, 31, 0, 0, 1), 1), utc(2024, 2, 29, 0, 0, 1));
    CHECK_EQ(uk_time_add_months(utc(2025, 12, 15, 8, 0, 0), 1), utc(2026, 1, 15, 8, 0, 0));
    CHECK_EQ(uk_time_add_months(utc(2026, 1, 10, 8, 0, 0), -1), utc(2025, 12, 10, 8, 0, 0));
    CHECK_EQ(uk_time_add_months(utc(2024, 2, 29, 23, 59, 59), 12), utc(2025, 2, 28, 23, 59, 59));
    CHECK_EQ(uk_time_add_months(utc(2000, 2, 29, 0, 0, 0), 48), utc(2004, 2, 29, 0, 0, 0));
    CHECK_EQ(uk_time_add_months(utc(2100, 3, 31, 0, 0, 0), -1), utc(2100, 2, 28, 0, 0, 0));
    CHECK_EQ(uk_time_add_months(utc(2025, 5, 31, 0, 0, 0), -1), utc(2025, 4, 30, 0, 0, 0));
    CHECK_EQ(uk_time_add_months(utc(2025, 6, 15, 0, 0, 0), 0), utc(2025, 6, 15, 0, 0, 0));
}

static void test_window(void)
{
    int64_t nb = utc(2024, 3, 31, 10, 0, 0);
    int64_t na = utc(2025, 3, 31, 10, 0, 0);
    uk_renew_window w;
    uk_renew_policy p = {3, 6};

    /* opens one month before, on Feb 28 (2025 is not a leap year) */
    CHECK_EQ(uk_renew_window_get(nb, na, utc(2025, 2, 28, 9, 59, 59), NULL, &w), UK_OK);
    CHECK_EQ(w.opens_at, utc(2025, 2, 28, 10, 0, 0));
    CHECK_EQ(w.closes_at, utc(2026, 3, 31, 10, 0, 0));
    CHECK(!w.eligible);
    CHECK_EQ(w.status, UK_CERT_VALID);
    CHECK_EQ(w.days_to_expiry, 31);
    /* exactly at the opening: eligible, expiring */
    CHECK_EQ(uk_renew_window_get(nb, na, utc(2025, 2, 28, 10, 0, 0), NULL, &w), UK_OK);
    CHECK(w.eligible);
    CHECK_EQ(w.status, UK_CERT_EXPIRING);
    /* exactly at expiry: still in force */
    CHECK_EQ(uk_renew_window_get(nb, na, na, NULL, &w), UK_OK);
    CHECK_EQ(w.status, UK_CERT_EXPIRING);
    CHECK_EQ(w.days_to_expiry, 0);
    /* one second later: expired, still renewable */
    CHECK_EQ(uk_renew_window_get(nb, na, na + 1, NULL, &w), UK_OK);
    CHECK_EQ(w.status, UK_CERT_EXPIRED);
    CHECK(w.eligible);
    CHECK_EQ(w.days_to_expiry, -1);
    /* exactly at the close: eligible; one second later: not */
    CHECK_EQ(uk_renew_window_get(nb, na, utc(2026, 3, 31, 10, 0, 0), NULL, &w), UK_OK);
    CHECK(w.eligible);
    CHECK_EQ(uk_renew_window_get(nb, na, utc(2026, 3, 31, 10, 0, 1), NULL, &w), UK_OK);
    CHECK(!w.eligible);
    CHECK_EQ(w.status, UK_CERT_EXPIRED);
    /* before notBefore */
    CHECK_EQ(uk_renew_window_get(nb, na, nb - 1, NULL, &w), UK_OK);
    CHECK_EQ(w.status, UK_CERT_NOT_YET_VALID);
    CHECK(!w.eligible);
    /* leap year: expiry Mar 31 2024 opens Feb 29 2024 */
    CHECK_EQ(uk_renew_window_get(utc(2023, 1, 1, 0, 0, 0), utc(2024, 3, 31, 0, 0, 0),
                                 utc(2024, 2, 29, 0, 0, 0), NULL, &w),
             UK_OK);
    CHECK_EQ(w.opens_at, utc(2024, 2, 29, 0, 0, 0));
    CHECK(w.eligible);
    /* December expiry opens in November; January expiry opens in December */
    CHECK_EQ(uk_renew_window_get(0, utc(2026, 1, 15, 0, 0, 0), 0, NULL, &w), UK_OK);
    CHECK_EQ(w.opens_at, utc(2025, 12, 15, 0, 0, 0));
    CHECK_EQ(w.closes_at, utc(2027, 1, 15, 0, 0, 0));
    /* configured bounds */
    CHECK_EQ(uk_renew_window_get(0, utc(2025, 8, 31, 0, 0, 0), 0, &p, &w), UK_OK);
    CHECK_EQ(w.opens_at, utc(2025, 5, 31, 0, 0, 0));
    CHECK_EQ(w.closes_at, utc(2026, 2, 28, 0, 0, 0));
    p.months_before = -1;
    CHECK_EQ(uk_renew_window_get(0, 10, 0, &p, &w), UK_E_INVALID_ARG);
    CHECK_EQ(uk_renew_window_get(10, 0, 0, NULL, &w), UK_E_INVALID_ARG);
    CHECK(strcmp(uk_cert_status_name(UK_CERT_EXPIRING), "expiring") == 0);
}

/* A self-signed certificate with a Chinese subject, made in memory. */
static int make_cert(EVP_PKEY *key, uint8_t **der)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    int len;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234ABCD);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"张三", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"山西测试单位", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8, (const unsigned char *)"信息部", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "serialNumber", MBSTRING_UTF8,
                               (const unsigned char *)"91140100MA0000000X", -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)utc(2025, 1, 1, 0, 0, 0));
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)utc(2026, 1, 1, 0, 0, 0));
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    *der = NULL;
    len = i2d_X509(x, der);
    X509_NAME_free(n);
    X509_free(x);
    return len;
}

static void test_parse(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    uint8_t *der = NULL;
    int len = make_cert(key, &der);
    uk_cert_info ci;

    CHECK(len > 0);
    CHECK_EQ(uk_cert_parse(der, (size_t)len, &ci), UK_OK);
    CHECK(strcmp(ci.common_name, "张三") == 0);
    CHECK(strcmp(ci.organization, "山西测试单位") == 0);
    CHECK(strcmp(ci.org_unit, "信息部") == 0);
    CHECK(strcmp(ci.subject_serial, "91140100MA0000000X") == 0);
    CHECK(strstr(ci.subject, "CN=张三") != NULL);
    CHECK(strstr(ci.subject, "O=山西测试单位") != NULL);
    CHECK(strcmp(ci.issuer_cn, "张三") == 0);
    CHECK(strcmp(ci.serial, "1234ABCD") == 0);
    CHECK_EQ(ci.not_before, utc(2025, 1, 1, 0, 0, 0));
    CHECK_EQ(ci.not_after, utc(2026, 1, 1, 0, 0, 0));
    CHECK_EQ(ci.key_type, UK_KEY_P256);
    CHECK_EQ(ci.key_bits, 256);
    CHECK_EQ(strlen(ci.fingerprint), 64);
    /* PEM out and back */
    char *pem = NULL;
    uint8_t *back = NULL;
    size_t back_len = 0;
    CHECK_EQ(uk_cert_to_pem(der, (size_t)len, &pem), UK_OK);
    CHECK(pem != NULL && strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
    CHECK_EQ(uk_cert_to_der((const uint8_t *)pem, strlen(pem), &back, &back_len), UK_OK);
    CHECK_EQ(back_len, (size_t)len);
    CHECK(back != NULL && memcmp(back, der, back_len) == 0);
    OPENSSL_free(back);
    CHECK_EQ(uk_cert_to_der(der, (size_t)len, &back, &back_len), UK_OK);
    OPENSSL_free(back);
    CHECK_EQ(uk_cert_to_der((const uint8_t *)"not a cert", 10, &back, &back_len), UK_E_MALFORMED);
    OPENSSL_free(pem);
    CHECK_EQ(uk_cert_to_pem((const uint8_t *)"x", 1, &pem), UK_E_MALFORMED);
    CHECK(pem == NULL);
    /* truncated, trailing garbage, empty */
    CHECK_EQ(uk_cert_parse(der, (size_t)len - 1, &ci), UK_E_MALFORMED);
    CHECK_EQ(uk_cert_parse((const uint8_t *)"\x30\x03\x02\x01\x01", 5, &ci), UK_E_MALFORMED);
    CHECK_EQ(uk_cert_parse(NULL, 0, &ci), UK_E_INVALID_ARG);
    OPENSSL_free(der);
    EVP_PKEY_free(key);
}

/* The "token": a software key that signs a digest, as the card would. */
static uk_rc soft_sign(void *ctx, int md_nid, const uint8_t *digest, size_t len, uint8_t *sig,
                       size_t *sig_len)
{
    EVP_PKEY *key = ctx;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(key, NULL);
    uk_rc rc = UK_E_CRYPTO;

    if (pctx != NULL && EVP_PKEY_sign_init(pctx) == 1 &&
        (!EVP_PKEY_is_a(key, "RSA") ||
         EVP_PKEY_CTX_set_signature_md(pctx, EVP_get_digestbynid(md_nid)) == 1) &&
        EVP_PKEY_sign(pctx, sig, sig_len, digest, len) == 1) {
        rc = UK_OK;
    }
    EVP_PKEY_CTX_free(pctx);
    return rc;
}

static void test_csr(void)
{
    static const char *const types[][2] = {{"RSA", NULL}, {"EC", "P-256"}, {"EC", "P-384"}};
    X509_NAME *subj = X509_NAME_new();

    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)"李四", -1, -1, 0);
    for (size_t i = 0; i < 3; i++) {
        EVP_PKEY *key = types[i][1] ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", types[i][1])
                                    : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        uint8_t *der = NULL;
        size_t len = 0;
        const unsigned char *p;
        X509_REQ *req;

        CHECK_EQ(uk_csr_build(key, subj, NULL, soft_sign, key, &der, &len), UK_OK);
        p = der;
        req = d2i_X509_REQ(NULL, &p, (long)len);
        CHECK(req != NULL);
        CHECK(X509_REQ_verify(req, key) == 1);
        CHECK(X509_NAME_cmp(X509_REQ_get_subject_name(req), subj) == 0);
        X509_REQ_free(req);
        OPENSSL_free(der);
        EVP_PKEY_free(key);
    }
    X509_NAME_free(subj);
}

static uk_rc wrong_sign(void *ctx, int md_nid, const uint8_t *digest, size_t len, uint8_t *sig,
                        size_t *sig_len)
{
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    uk_rc rc = soft_sign(other, md_nid, digest, len, sig, sig_len);

    (void)ctx;
    EVP_PKEY_free(other);
    return rc;
}

static void test_csr_wrong_key(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_NAME *subj = X509_NAME_new();
    uint8_t *der = NULL;
    size_t len = 0;

    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)"x", -1, -1, 0);
    /* a token that signs with another key is caught before the CSR leaves */
    CHECK_EQ(uk_csr_build(key, subj, NULL, wrong_sign, NULL, &der, &len), UK_E_CRYPTO);
    CHECK(der == NULL);
    X509_NAME_free(subj);
    EVP_PKEY_free(key);
}

static void test_self_signed(void)
{
    static const char *const types[][2] = {{"RSA", NULL}, {"EC", "P-256"}, {"EC", "P-384"}};
    X509_NAME *subj = X509_NAME_new();
    int64_t nb = utc(2026, 11, 24, 0, 0, 0);
    int64_t na = utc(2027, 11, 24, 0, 0, 0);

    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)"ukeyd staged key",
                               -1, -1, 0);
    for (size_t i = 0; i < 3; i++) {
        EVP_PKEY *key = types[i][1] ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", types[i][1])
                                    : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        uint8_t *der = NULL;
        size_t len = 0;
        const unsigned char *p;
        X509 *x;
        uk_cert_info ci;

        CHECK_EQ(uk_cert_build_self_signed(key, subj, nb, na, soft_sign, key, &der, &len), UK_OK);
        p = der;
        x = d2i_X509(NULL, &p, (long)len);
        CHECK(x != NULL);
        CHECK(x != NULL && X509_verify(x, key) == 1);
        CHECK(x != NULL && X509_check_issued(x, x) == X509_V_OK);
        CHECK_EQ(uk_cert_parse(der, len, &ci), UK_OK);
        CHECK(strcmp(ci.common_name, "ukeyd staged key") == 0);
        CHECK_EQ(ci.not_before, nb);
        CHECK_EQ(ci.not_after, na);
        CHECK_EQ(ci.key_type, uk_key_type_of(key));
        X509_free(x);
        OPENSSL_free(der);
        /* a token that signs with another key is caught */
        CHECK_EQ(uk_cert_build_self_signed(key, subj, nb, na, wrong_sign, NULL, &der, &len),
                 UK_E_CRYPTO);
        CHECK(der == NULL);
        EVP_PKEY_free(key);
    }
    X509_NAME_free(subj);
}

int main(void)
{
    test_months();
    test_window();
    test_parse();
    test_csr();
    test_csr_wrong_key();
    test_self_signed();
    return check_exit_code("test_cert");
}
