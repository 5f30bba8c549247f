/* SPDX-License-Identifier: MIT */
/*
 * Certificates as a hall shows them, the renewal window, and PKCS#10
 * requests signed on the token. OpenSSL 3 does the ASN.1; dates are UTC
 * seconds since the epoch.
 *
 * Pure functions; any thread.
 */
#ifndef UK_CERT_H
#define UK_CERT_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/rc.h"
#include "uk/token.h"

typedef struct uk_cert_info {
    char subject[1024]; /* one line, RFC 2253 order, UTF-8 ("CN=张三,O=测试单位") */
    char common_name[256];
    char organization[256];
    char org_unit[256];
    char subject_serial[128]; /* the subject's serialNumber attribute */
    char issuer[1024];
    char issuer_cn[256];
    char serial[130]; /* certificate serial number, uppercase hex */
    int64_t not_before;
    int64_t not_after;
    uk_key_type key_type;
    int key_bits;
    uint32_t key_usage;   /* X509v3 key usage bits as OpenSSL reports them (KU_*), 0 if absent */
    char fingerprint[65]; /* SHA-256 of the DER, lowercase hex */
} uk_cert_info;

/* Parses a DER certificate. UK_E_MALFORMED if it is not one. */
uk_rc uk_cert_parse(const uint8_t *der, size_t len, uk_cert_info *out);

/* PEM ("-----BEGIN CERTIFICATE-----" ...) of a DER certificate; *pem is
 * NUL-terminated, caller frees with OPENSSL_free. UK_E_MALFORMED if der is
 * not a certificate. */
uk_rc uk_cert_to_pem(const uint8_t *der, size_t len, char **pem);

/* DER of a certificate given as PEM or DER (the first certificate of a PEM
 * chain). *der: caller frees with OPENSSL_free. */
uk_rc uk_cert_to_der(const uint8_t *in, size_t len, uint8_t **der, size_t *der_len);

/* The hall's renewal rule: allowed from months_before calendar months
 * before expiry until months_after months after it. */
typedef struct uk_renew_policy {
    int months_before; /* default 1 */
    int months_after;  /* default 12 */
} uk_renew_policy;

#define UK_RENEW_POLICY_DEFAULT ((uk_renew_policy){1, 12})

typedef enum uk_cert_status {
    UK_CERT_VALID,         /* in force, renewal window not open yet */
    UK_CERT_EXPIRING,      /* in force, renewal window open */
    UK_CERT_EXPIRED,       /* past notAfter */
    UK_CERT_NOT_YET_VALID, /* before notBefore */
} uk_cert_status;

/* "valid", "expiring", "expired", "not_yet_valid". */
const char *uk_cert_status_name(uk_cert_status status);

typedef struct uk_renew_window {
    bool eligible;          /* opens_at <= now <= closes_at */
    int64_t opens_at;       /* not_after minus months_before months */
    int64_t closes_at;      /* not_after plus months_after months */
    int64_t days_to_expiry; /* whole days from now to not_after; negative once expired */
    uk_cert_status status;
} uk_renew_window;

/* Computes the window. Months are calendar months: a day that does not
 * exist in the target month becomes that month's last day (Mar 31 minus
 * one month is Feb 28, or Feb 29 in a leap year), the time of day is kept.
 * UK_E_INVALID_ARG for a negative month count or not_after < not_before. */
uk_rc uk_renew_window_get(int64_t not_before, int64_t not_after, int64_t now,
                          const uk_renew_policy *policy, uk_renew_window *out);

/* Adds a number of calendar months (negative to subtract) to a UTC time,
 * clamping the day to the target month's length. */
int64_t uk_time_add_months(int64_t t, int months);

/* Writes t as ISO 8601 UTC ("2026-12-14T08:19:30Z") into out (at least 21
 * bytes). UK_E_INVALID_ARG outside the years 0000-9999, UK_E_SIZE when out
 * is too small (out is then ""). */
uk_rc uk_time_iso8601(int64_t t, char *out, size_t out_len);

/* Signs a digest with a key kept elsewhere (the token); see uk_token_sign. */
typedef uk_rc (*uk_csr_sign_fn)(void *ctx, int md_nid, const uint8_t *digest, size_t len,
                                uint8_t *sig, size_t *sig_len);

/* Builds a PKCS#10 request for pub with the given subject and optional
 * extensions: the CertificationRequestInfo is DER-encoded by OpenSSL,
 * hashed here (SHA-256 for RSA and P-256, SHA-384 for P-384), signed by
 * sign(), and the signature set on the request. *der (caller frees with
 * OPENSSL_free) holds the request. */
uk_rc uk_csr_build(EVP_PKEY *pub, const X509_NAME *subject, const STACK_OF(X509_EXTENSION) * exts,
                   uk_csr_sign_fn sign, void *ctx, uint8_t **der, size_t *der_len);

/* Builds a self-signed X.509 v3 certificate for pub, signed through sign()
 * (the token's key for pub), with the given subject (also the issuer) and
 * validity. Renewal writes one into the staging slot right after GENERATE
 * so the public key of the staged key can be found on the token later
 * (PIV has no command that reads a public key back). OpenSSL encodes the
 * to-be-signed part and the algorithm; the signature from the token is
 * set on it, and the result must verify with pub. *der: OPENSSL_free. */
uk_rc uk_cert_build_self_signed(EVP_PKEY *pub, const X509_NAME *subject, int64_t not_before,
                                int64_t not_after, uk_csr_sign_fn sign, void *ctx, uint8_t **der,
                                size_t *der_len);

#endif
