// SPDX-License-Identifier: MIT
/*
 * Certificate parsing for display, the renewal window's calendar
 * arithmetic, and PKCS#10 requests whose signature comes from the token.
 *
 * Dates use the civil-from-days algorithm on a proleptic Gregorian
 * calendar so no time zone or platform timegm() is involved.
 */
#include "uk/cert.h"

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "uk/log.h"
#include "uk/tlv.h"

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe;
    unsigned doy;
    unsigned doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe;
    unsigned yoe;
    unsigned doy;
    unsigned mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y += *m <= 2;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : len[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && ((a < 0) != (b < 0)));
}

int64_t uk_time_add_months(int64_t t, int months)
{
    int64_t days = floor_div(t, 86400);
    int64_t secs = t - days * 86400;
    int64_t y;
    unsigned m;
    unsigned d;
    int64_t mi;

    civil_from_days(days, &y, &m, &d);
    mi = y * 12 + (int64_t)(m - 1) + months;
    y = floor_div(mi, 12);
    m = (unsigned)(mi - y * 12) + 1;
    if (d > days_in_month(y, m)) {
        d = days_in_month(y, m);
    }
    return days_from_civil(y, m, d) * 86400 + secs;
}

uk_rc uk_time_iso8601(int64_t t, char *out, size_t out_len)
{
    int64_t days;
    int64_t secs;
    int64_t y;
    unsigned m;
    unsigned d;
    int n;

    if (out == NULL || out_len < 21) {
        return UK_E_SIZE;
    }
    out[0] = '\0';
    /* years 0000..9999, as ISO 8601 writes them without a sign */
    if (t < -62167219200 || t > 253402300799) {
        return UK_E_INVALID_ARG;
    }
    days = floor_div(t, 86400);
    secs = t - days * 86400;
    civil_from_days(days, &y, &m, &d);
    n = snprintf(out, out_len, "%04d-%02u-%02uT%02d:%02d:%02dZ", (int)y, m, d, (int)(secs / 3600),
                 (int)(secs / 60 % 60), (int)(secs % 60));
    if (n < 0 || (size_t)n >= out_len) {
        out[0] = '\0';
        return UK_E_SIZE;
    }
    return UK_OK;
}

const char *uk_cert_status_name(uk_cert_status status)
{
    switch (status) {
    case UK_CERT_VALID:
        return "valid";
    case UK_CERT_EXPIRING:
        return "expiring";
    case UK_CERT_EXPIRED:
        return "expired";
    case UK_CERT_NOT_YET_VALID:
        return "not_yet_valid";
    default:
        return "unknown";
    }
}

uk_rc uk_renew_window_get(int64_t not_before, int64_t not_after, int64_t now,
                          const uk_renew_policy *policy, uk_renew_window *out)
{
    uk_renew_policy pol = policy ? *policy : UK_RENEW_POLICY_DEFAULT;

    memset(out, 0, sizeof(*out));
    if (pol.months_before < 0 || pol.months_after < 0 || pol.months_before > 1200 ||
        pol.months_after > 1200 || not_after < not_before) {
        return UK_E_INVALID_ARG;
    }
    out->opens_at = uk_time_add_months(not_after, -pol.months_before);
    out->closes_at = uk_time_add_months(not_after, pol.months_after);
    out->eligible = now >= out->opens_at && now <= out->closes_at;
    out->days_to_expiry = floor_div(not_after - now, 86400);
    if (now < not_before) {
        out->status = UK_CERT_NOT_YET_VALID;
    } else if (now > not_after) {
        out->status = UK_CERT_EXPIRED;
    } else if (now >= out->opens_at) {
        out->status = UK_CERT_EXPIRING;
    } else {
        out->status = UK_CERT_VALID;
    }
    return UK_OK;
}

static uk_rc asn1_time(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return UK_E_MALFORMED;
    }
    *out =
        days_from_civil((int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday) *
            86400 +
        tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return UK_OK;
}

/* The first attribute of a kind, as UTF-8. */
static void name_field(const X509_NAME *name, int nid, char *out, size_t cap)
{
    int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    unsigned char *utf8 = NULL;
    int n;

    out[0] = '\0';
    if (idx < 0) {
        return;
    }
    n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    if (n >= 0) {
        snprintf(out, cap, "%.*s", n, (const char *)utf8);
    }
    OPENSSL_free(utf8);
}

/* A name on one line in UTF-8: RFC 2253 order and escaping, without the
 * escaping of non-ASCII bytes so Chinese names stay readable. */
static void name_line(const X509_NAME *name, char *out, size_t cap)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;

    out[0] = '\0';
    if (bio == NULL) {
        return;
    }
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        n = BIO_get_mem_data(bio, &p);
        if (n > 0) {
            snprintf(out, cap, "%.*s", (int)n, p);
        }
    }
    BIO_free(bio);
}

uk_rc uk_cert_parse(const uint8_t *der, size_t len, uk_cert_info *out)
{
    const unsigned char *p = der;
    X509 *x = NULL;
    EVP_PKEY *pub = NULL;
    const ASN1_INTEGER *sn;
    BIGNUM *bn = NULL;
    char *hexsn = NULL;
    uint8_t md[32];
    unsigned int mdlen = 0;
    uk_rc rc = UK_E_MALFORMED;

    memset(out, 0, sizeof(*out));
    if (der == NULL || len == 0 || len > 65536) {
        return UK_E_INVALID_ARG;
    }
    x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL || p != der + len) {
        goto out;
    }
    name_line(X509_get_subject_name(x), out->subject, sizeof(out->subject));
    name_field(X509_get_subject_name(x), NID_commonName, out->common_name,
               sizeof(out->common_name));
    name_field(X509_get_subject_name(x), NID_organizationName, out->organization,
               sizeof(out->organization));
    name_field(X509_get_subject_name(x), NID_organizationalUnitName, out->org_unit,
               sizeof(out->org_unit));
    name_field(X509_get_subject_name(x), NID_serialNumber, out->subject_serial,
               sizeof(out->subject_serial));
    name_line(X509_get_issuer_name(x), out->issuer, sizeof(out->issuer));
    name_field(X509_get_issuer_name(x), NID_commonName, out->issuer_cn, sizeof(out->issuer_cn));
    sn = X509_get0_serialNumber(x);
    bn = ASN1_INTEGER_to_BN(sn, NULL);
    hexsn = bn ? BN_bn2hex(bn) : NULL;
    if (hexsn == NULL) {
        goto out;
    }
    snprintf(out->serial, sizeof(out->serial), "%s", hexsn);
    if (asn1_time(X509_get0_notBefore(x), &out->not_before) != UK_OK ||
        asn1_time(X509_get0_notAfter(x), &out->not_after) != UK_OK) {
        goto out;
    }
    pub = X509_get0_pubkey(x);
    out->key_type = uk_key_type_of(pub);
    out->key_bits = pub ? EVP_PKEY_get_bits(pub) : 0;
    if (X509_get_extension_flags(x) & EXFLAG_KUSAGE) {
        out->key_usage = X509_get_key_usage(x);
    }
    if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        rc = UK_E_CRYPTO;
        goto out;
    }
    for (size_t i = 0; i < 32; i++) {
        snprintf(out->fingerprint + 2 * i, 3, "%02x", md[i]);
    }
    rc = UK_OK;
out:
    OPENSSL_free(hexsn);
    BN_free(bn);
    X509_free(x);
    return rc;
}

uk_rc uk_cert_to_pem(const uint8_t *der, size_t len, char **pem)
{
    const unsigned char *p = der;
    X509 *x = NULL;
    BIO *bio = NULL;
    char *data = NULL;
    long n;
    uk_rc rc = UK_E_MALFORMED;

    *pem = NULL;
    if (der == NULL || len == 0 || len > 65536) {
        return UK_E_INVALID_ARG;
    }
    x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL || p != der + len) {
        goto out;
    }
    rc = UK_E_NOMEM;
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509(bio, x) != 1) {
        goto out;
    }
    n = BIO_get_mem_data(bio, &data);
    *pem = OPENSSL_malloc((size_t)n + 1);
    if (*pem == NULL) {
        goto out;
    }
    memcpy(*pem, data, (size_t)n);
    (*pem)[n] = '\0';
    rc = UK_OK;
out:
    BIO_free(bio);
    X509_free(x);
    return rc;
}

uk_rc uk_cert_to_der(const uint8_t *in, size_t len, uint8_t **der, size_t *der_len)
{
    const unsigned char *p = in;
    BIO *bio = NULL;
    X509 *x = NULL;
    unsigned char *out = NULL;
    int n;

    *der = NULL;
    *der_len = 0;
    if (in == NULL || len == 0 || len > 1024 * 1024) {
        return UK_E_INVALID_ARG;
    }
    x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL || p != in + len) {
        X509_free(x);
        x = NULL;
        bio = BIO_new_mem_buf(in, (int)len);
        if (bio != NULL) {
            x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        }
        BIO_free(bio);
    }
    if (x == NULL) {
        return UK_E_MALFORMED;
    }
    n = i2d_X509(x, &out);
    X509_free(x);
    if (n <= 0) {
        return UK_E_CRYPTO;
    }
    *der = out;
    *der_len = (size_t)n;
    return UK_OK;
}

uk_rc uk_csr_build(EVP_PKEY *pub, const X509_NAME *subject, const STACK_OF(X509_EXTENSION) * exts,
                   uk_csr_sign_fn sign, void *ctx, uint8_t **der, size_t *der_len)
{
    X509_REQ *req = NULL;
    X509_ALGOR *alg = NULL;
    ASN1_BIT_STRING *bits = NULL;
    unsigned char *tbs = NULL;
    int tbs_len;
    uint8_t md[64];
    unsigned int md_len = 0;
    uint8_t sig[512];
    size_t sig_len = sizeof(sig);
    const EVP_MD *evp_md;
    int md_nid;
    int sig_nid;
    unsigned char *out = NULL;
    int out_len;
    uk_key_type type = uk_key_type_of(pub);
    const unsigned char *p;
    uk_buf enc;
    uk_rc rc = UK_E_CRYPTO;

    *der = NULL;
    *der_len = 0;
    if (type == UK_KEY_NONE || subject == NULL || sign == NULL) {
        return UK_E_INVALID_ARG;
    }
    /* SHA-384 for P-384 keeps the hash as strong as the curve */
    md_nid = type == UK_KEY_P384 ? NID_sha384 : NID_sha256;
    evp_md = EVP_get_digestbynid(md_nid);
    if (type == UK_KEY_RSA1024 || type == UK_KEY_RSA2048) {
        sig_nid = NID_sha256WithRSAEncryption;
    } else {
        sig_nid = md_nid == NID_sha384 ? NID_ecdsa_with_SHA384 : NID_ecdsa_with_SHA256;
    }
    req = X509_REQ_new();
    alg = X509_ALGOR_new();
    if (req == NULL || alg == NULL || !X509_REQ_set_version(req, 0) ||
        !X509_REQ_set_subject_name(req, subject) || !X509_REQ_set_pubkey(req, pub)) {
        goto out;
    }
    if (exts != NULL && sk_X509_EXTENSION_num(exts) > 0 && !X509_REQ_add_extensions(req, exts)) {
        goto out;
    }
    /* RSA signature algorithms carry a NULL parameter, ECDSA ones none
     * (RFC 4055 5, RFC 5758 3.2). */
    if (!X509_ALGOR_set0(alg, OBJ_nid2obj(sig_nid),
                         sig_nid == NID_sha256WithRSAEncryption ? V_ASN1_NULL : V_ASN1_UNDEF,
                         NULL) ||
        !X509_REQ_set1_signature_algo(req, alg)) {
        goto out;
    }
    tbs_len = i2d_re_X509_REQ_tbs(req, &tbs);
    if (tbs_len <= 0 || EVP_Digest(tbs, (size_t)tbs_len, md, &md_len, evp_md, NULL) != 1) {
        goto out;
    }
    rc = sign(ctx, md_nid, md, md_len, sig, &sig_len);
    if (rc != UK_OK) {
        goto out;
    }
    /* The BIT STRING is parsed from its DER (03 len 00 sig) so OpenSSL
     * records "no unused bits" itself; set from raw bytes it would drop
     * trailing zero bits of the signature. */
    uk_buf_init(&enc, sizeof(sig) + 8, false);
    rc = uk_tlv_put_header(&enc, 0x03, sig_len + 1);
    if (rc == UK_OK) {
        rc = uk_buf_append_byte(&enc, 0x00);
    }
    if (rc == UK_OK) {
        rc = uk_buf_append(&enc, sig, sig_len);
    }
    p = enc.data;
    if (rc == UK_OK) {
        bits = d2i_ASN1_BIT_STRING(NULL, &p, (long)enc.len);
    }
    uk_buf_free(&enc);
    rc = UK_E_CRYPTO;
    if (bits == NULL) {
        goto out;
    }
    X509_REQ_set0_signature(req, bits);
    bits = NULL;
    out_len = i2d_X509_REQ(req, &out);
    if (out_len <= 0) {
        goto out;
    }
    /* the token must have signed with the key the request names */
    if (X509_REQ_verify(req, pub) != 1) {
        uk_err("the token's signature does not verify with the request's public key");
        OPENSSL_free(out);
        rc = UK_E_CRYPTO;
        goto out;
    }
    *der = out;
    *der_len = (size_t)out_len;
    rc = UK_OK;
out:
    OPENSSL_free(tbs);
    ASN1_BIT_STRING_free(bits);
    X509_ALGOR_free(alg);
    X509_REQ_free(req);
    return rc;
}

/* The digest and signature algorithm used for a key type. */
static void sig_algs(uk_key_type type, int *md_nid, const EVP_MD **md)
{
    *md_nid = type == UK_KEY_P384 ? NID_sha384 : NID_sha256;
    *md = EVP_get_digestbynid(*md_nid);
}

/* A throwaway key of the same kind as pub, so X509_sign fills in both
 * AlgorithmIdentifiers the way OpenSSL encodes them for this key type
 * (OpenSSL 3.0 has no setter for a certificate's signature algorithm). */
static EVP_PKEY *same_kind_key(uk_key_type type)
{
    switch (type) {
    case UK_KEY_RSA1024:
    case UK_KEY_RSA2048:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)(type == UK_KEY_RSA1024 ? 1024 : 2048));
    case UK_KEY_P256:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case UK_KEY_P384:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    default:
        return NULL;
    }
}

uk_rc uk_cert_build_self_signed(EVP_PKEY *pub, const X509_NAME *subject, int64_t not_before,
                                int64_t not_after, uk_csr_sign_fn sign, void *ctx, uint8_t **der,
                                size_t *der_len)
{
    uk_key_type type = uk_key_type_of(pub);
    X509 *x = NULL;
    X509 *done = NULL;
    EVP_PKEY *dummy = NULL;
    BIGNUM *serial = NULL;
    unsigned char *tbs = NULL;
    unsigned char *alg_der = NULL;
    const X509_ALGOR *alg = NULL;
    const EVP_MD *md = NULL;
    const unsigned char *p;
    uint8_t digest[64];
    unsigned int digest_len = 0;
    uint8_t sig[512];
    size_t sig_len = sizeof(sig);
    int md_nid = 0;
    int tbs_len;
    int alg_len;
    uk_buf body;
    uk_buf cert;
    uk_rc rc = UK_E_CRYPTO;

    *der = NULL;
    *der_len = 0;
    if (type == UK_KEY_NONE || subject == NULL || sign == NULL || not_after < not_before) {
        return UK_E_INVALID_ARG;
    }
    uk_buf_init(&body, 8192, false);
    uk_buf_init(&cert, 8192, false);
    sig_algs(type, &md_nid, &md);
    x = X509_new();
    serial = BN_new();
    dummy = same_kind_key(type);
    if (x == NULL || serial == NULL || dummy == NULL || md == NULL || !X509_set_version(x, 2) ||
        !BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) ||
        !X509_set_subject_name(x, subject) || !X509_set_issuer_name(x, subject) ||
        !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) || !X509_set_pubkey(x, pub) ||
        X509_sign(x, dummy, md) <= 0) {
        goto out;
    }
    tbs_len = i2d_re_X509_tbs(x, &tbs);
    X509_get0_signature(NULL, &alg, x);
    alg_len = alg ? i2d_X509_ALGOR(alg, &alg_der) : -1;
    if (tbs_len <= 0 || alg_len <= 0 ||
        EVP_Digest(tbs, (size_t)tbs_len, digest, &digest_len, md, NULL) != 1) {
        goto out;
    }
    rc = sign(ctx, md_nid, digest, digest_len, sig, &sig_len);
    if (rc != UK_OK) {
        goto out;
    }
    /* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
     * signatureValue BIT STRING } (RFC 5280 4.1): OpenSSL encoded the
     * first two; the signature is a BIT STRING with no unused bits. */
    rc = uk_buf_append(&body, tbs, (size_t)tbs_len);
    if (rc == UK_OK) {
        rc = uk_buf_append(&body, alg_der, (size_t)alg_len);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put_header(&body, 0x03, sig_len + 1);
    }
    if (rc == UK_OK) {
        rc = uk_buf_append_byte(&body, 0x00);
    }
    if (rc == UK_OK) {
        rc = uk_buf_append(&body, sig, sig_len);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(&cert, 0x30, body.data, body.len);
    }
    if (rc != UK_OK) {
        goto out;
    }
    /* parse what we built and check the token signed with the right key */
    rc = UK_E_CRYPTO;
    p = cert.data;
    done = d2i_X509(NULL, &p, (long)cert.len);
    if (done == NULL || p != cert.data + cert.len || X509_verify(done, pub) != 1) {
        uk_err("the token's signature does not verify with the certificate's public key");
        goto out;
    }
    *der = OPENSSL_malloc(cert.len);
    if (*der == NULL) {
        rc = UK_E_NOMEM;
        goto out;
    }
    memcpy(*der, cert.data, cert.len);
    *der_len = cert.len;
    rc = UK_OK;
out:
    X509_free(done);
    X509_free(x);
    EVP_PKEY_free(dummy);
    BN_free(serial);
    OPENSSL_free(tbs);
    OPENSSL_free(alg_der);
    uk_buf_free(&body);
    uk_buf_free(&cert);
    return rc;
}
