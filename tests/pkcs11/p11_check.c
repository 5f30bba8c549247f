// SPDX-License-Identifier: MIT
/*
 * p11-check: drives one PKCS#11 token through ukeyd's token layer (the
 * driver the daemon uses) and prints what happened, one line a step, for a
 * test to read: the token, its certificates, the PIN (wrong twice, to see
 * the retry flags, then right) and a signature with each certificate's key,
 * checked with the certificate by OpenSSL.
 *
 *   p11-check MODULE SLOT_DESCRIPTION_PREFIX PIN
 *
 * Lines: "token ID LABEL", "cert SLOT KEYTYPE", "pin-wrong RC TRIES",
 * "pin-status RC TRIES", "pin-verify RC", "sign SLOT RC verified|bad".
 */
#define _POSIX_C_SOURCE 200809L
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "uk/p11.h"
#include "uk/token.h"

static void hex(const uk_key_ref *r, char *out)
{
    for (size_t i = 0; i < r->len; i++) {
        snprintf(out + 2 * i, 3, "%02x", r->id[i]);
    }
    out[2 * r->len] = '\0';
}

int main(int argc, char **argv)
{
    const char *allow[1];
    uk_p11_module *m = NULL;
    uk_token *tok = NULL;
    unsigned long slots[16];
    size_t n = 0;
    const uk_token_cert *certs = NULL;
    size_t nc = 0;
    int tries = -1;
    bool verified = false;
    uk_rc rc;

    if (argc != 4) {
        fprintf(stderr, "usage: %s MODULE SLOT_PREFIX PIN\n", argv[0]);
        return 2;
    }
    allow[0] = argv[1];
    rc = uk_p11_module_load(argv[1], allow, 1, NULL, &m);
    if (rc == UK_OK) {
        rc = uk_p11_module_slots(m, slots, 16, &n);
    }
    for (size_t i = 0; rc == UK_OK && i < n && tok == NULL; i++) {
        uk_token *t = NULL;
        if (uk_token_open_p11(m, slots[i], &t) == UK_OK) {
            if (strncmp(uk_token_info_get(t)->reader, argv[2], strlen(argv[2])) == 0) {
                tok = t;
            } else {
                uk_token_close(t);
            }
        }
    }
    if (tok == NULL) {
        printf("no-token %s\n", uk_rc_name(rc));
        uk_p11_module_unload(m);
        return 1;
    }
    printf("token %s %s\n", uk_token_info_get(tok)->id, uk_token_info_get(tok)->label);
    rc = uk_token_pin_verify(tok, "999999", &tries);
    printf("pin-wrong %s %d\n", uk_rc_name(rc), tries);
    rc = uk_token_pin_verify(tok, "999998", &tries);
    printf("pin-wrong %s %d\n", uk_rc_name(rc), tries);
    rc = uk_token_pin_status(tok, &tries, &verified);
    printf("pin-status %s %d\n", uk_rc_name(rc), tries);
    rc = uk_token_pin_verify(tok, argv[3], &tries);
    printf("pin-verify %s\n", uk_rc_name(rc));
    rc = uk_token_certs(tok, &certs, &nc);
    for (size_t i = 0; rc == UK_OK && i < nc; i++) {
        char slot[65];
        const uint8_t *q = certs[i].der;
        X509 *x = d2i_X509(NULL, &q, (long)certs[i].der_len);
        EVP_PKEY *pub = x != NULL ? X509_get0_pubkey(x) : NULL;
        uk_key_type type = uk_key_type_of(pub);
        uint8_t md[32];
        uint8_t sig[512];
        size_t sig_len = sizeof(sig);
        static const char msg[] = "signed through the PKCS#11 driver";
        EVP_PKEY_CTX *v = NULL;
        bool good = false;
        uk_rc src;

        hex(&certs[i].key, slot);
        printf("cert %s %s\n", slot, uk_key_type_name(type) ? uk_key_type_name(type) : "?");
        EVP_Digest(msg, sizeof(msg), md, NULL, EVP_sha256(), NULL);
        src = uk_token_sign(tok, &certs[i].key, type, NID_sha256, md, 32, sig, &sig_len);
        if (src == UK_E_SECURITY_STATUS) {
            /* a key with CKA_ALWAYS_AUTHENTICATE: verify right before */
            (void)uk_token_pin_verify(tok, argv[3], &tries);
            sig_len = sizeof(sig);
            src = uk_token_sign(tok, &certs[i].key, type, NID_sha256, md, 32, sig, &sig_len);
        }
        if (src == UK_OK) {
            v = EVP_PKEY_CTX_new(pub, NULL);
            good = v != NULL && EVP_PKEY_verify_init(v) == 1 &&
                   EVP_PKEY_CTX_set_signature_md(v, EVP_sha256()) == 1 &&
                   (!EVP_PKEY_is_a(pub, "RSA") ||
                    EVP_PKEY_CTX_set_rsa_padding(v, RSA_PKCS1_PADDING) == 1) &&
                   EVP_PKEY_verify(v, sig, sig_len, md, 32) == 1;
        }
        printf("sign %s %s %s\n", slot, uk_rc_name(src), good ? "verified" : "bad");
        EVP_PKEY_CTX_free(v);
        X509_free(x);
    }
    uk_token_close(tok);
    uk_p11_module_unload(m);
    return 0;
}
