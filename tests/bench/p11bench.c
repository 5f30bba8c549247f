// SPDX-License-Identifier: MIT
/*
 * p11bench: what a PKCS#11 call costs ukeyd through its token layer, for
 * the in-process / out-of-process decision (docs/architecture.md). Prints
 * microseconds per operation; asserts nothing about time.
 *
 *   p11bench MODULE TOKEN_LABEL PIN N
 *
 * pin.status is C_GetTokenInfo + C_GetSessionInfo (pure call overhead);
 * cert.read is C_FindObjectsInit/FindObjects/Final + two
 * C_GetAttributeValue; sign is an ECDSA P-256 signature (find the key, read
 * one attribute, C_SignInit, C_Sign).
 */
#define _POSIX_C_SOURCE 200809L
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uk/p11.h"
#include "uk/token.h"

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
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
    int tries;
    bool verified;
    long iters;
    double t0;
    uk_buf der;
    uint8_t md[32] = {1};
    uint8_t sig[128];
    size_t sig_len;
    uk_key_type type;
    const uint8_t *q;
    X509 *x;

    if (argc != 5) {
        fprintf(stderr, "usage: %s MODULE TOKEN_LABEL PIN N\n", argv[0]);
        return 2;
    }
    iters = atol(argv[4]);
    allow[0] = argv[1];
    t0 = now_us();
    if (uk_p11_module_load(argv[1], allow, 1, NULL, &m) != UK_OK ||
        uk_p11_module_slots(m, slots, 16, &n) != UK_OK) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    for (size_t i = 0; i < n && tok == NULL; i++) {
        uk_token *t = NULL;
        if (uk_token_open_p11(m, slots[i], &t) == UK_OK) {
            if (strcmp(uk_token_info_get(t)->label, argv[2]) == 0) {
                tok = t;
            } else {
                uk_token_close(t);
            }
        }
    }
    if (tok == NULL || uk_token_pin_verify(tok, argv[3], &tries) != UK_OK ||
        uk_token_certs(tok, &certs, &nc) != UK_OK || nc == 0) {
        fprintf(stderr, "no token '%s' with a certificate\n", argv[2]);
        return 1;
    }
    printf("load+open+login+list: %.0f us\n", now_us() - t0);
    q = certs[0].der;
    x = d2i_X509(NULL, &q, (long)certs[0].der_len);
    type = uk_key_type_of(X509_get0_pubkey(x));
    X509_free(x);

    t0 = now_us();
    for (long i = 0; i < iters; i++) {
        (void)uk_token_pin_status(tok, &tries, &verified);
    }
    printf("pin.status: %.1f us/op (%ld ops)\n", (now_us() - t0) / (double)iters, iters);

    uk_buf_init(&der, 64 * 1024, false);
    t0 = now_us();
    for (long i = 0; i < iters; i++) {
        (void)uk_token_cert_read(tok, &certs[0].key, &der);
    }
    printf("cert.read: %.1f us/op (%ld ops)\n", (now_us() - t0) / (double)iters, iters);
    uk_buf_free(&der);

    t0 = now_us();
    for (long i = 0; i < iters / 10 + 1; i++) {
        sig_len = sizeof(sig);
        if (uk_token_sign(tok, &certs[0].key, type, NID_sha256, md, 32, sig, &sig_len) != UK_OK) {
            fprintf(stderr, "sign failed\n");
            return 1;
        }
    }
    printf("sign (%s): %.1f us/op (%ld ops)\n", uk_key_type_name(type),
           (now_us() - t0) / (double)(iters / 10 + 1), iters / 10 + 1);
    uk_token_close(tok);
    uk_p11_module_unload(m);
    return 0;
}
