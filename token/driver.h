/* SPDX-License-Identifier: MIT */
/*
 * The driver interface behind uk_token (private to token/): a struct of
 * function pointers per kind of token. uk_token_open asks each driver in
 * turn; the first whose open succeeds owns the token. Drivers see PINs as
 * given (already checked for length) and must wipe their own copies.
 */
#ifndef UK_TOKEN_DRIVER_H
#define UK_TOKEN_DRIVER_H

#include "uk/p11.h"
#include "uk/token.h"

typedef struct uk_driver {
    const char *name;
    /* UK_E_CARD_UNSUPPORTED when the card is not of this driver's kind. */
    uk_rc (*open)(uk_pcsc *ctx, const char *reader, void **impl, uk_token_info *info);
    void (*close)(void *impl);
    uk_rc (*certs)(void *impl, const uk_token_cert **list, size_t *count);
    uk_rc (*pin_status)(void *impl, int *tries, bool *verified);
    uk_rc (*pin_verify)(void *impl, const char *pin, int *tries);
    uk_rc (*pin_change)(void *impl, const char *old_pin, const char *new_pin, int *tries);
    uk_rc (*pin_unblock)(void *impl, const char *puk, const char *new_pin, int *tries);
    uk_rc (*admin_auth)(void *impl, const uk_admin_key *key);
    uk_rc (*key_generate)(void *impl, const uk_key_ref *ref, uk_key_type type, EVP_PKEY **pub);
    /* Raw private-key operation: RSA on a padded block of the modulus
     * size, ECDSA on a digest (DER out). */
    uk_rc (*sign_raw)(void *impl, const uk_key_ref *ref, uk_key_type type, const uint8_t *in,
                      size_t len, uint8_t *out, size_t *out_len);
    /* Optional: RSA PKCS#1 v1.5 over a DigestInfo, padded by the token
     * (PKCS#11 CKM_RSA_PKCS). When set, uk_token_sign uses it for RSA
     * instead of padding on the host for sign_raw. */
    uk_rc (*sign_pkcs1)(void *impl, const uk_key_ref *ref, const uint8_t *digest_info, size_t len,
                        uint8_t *out, size_t *out_len);
    uk_rc (*cert_read)(void *impl, const uk_key_ref *ref, uk_buf *der);
    uk_rc (*cert_write)(void *impl, const uk_key_ref *ref, const uint8_t *der, size_t len);
    uk_rc (*cert_delete)(void *impl, const uk_key_ref *ref);
    /* Optional: destroys the key pair at ref (PKCS#11: its objects). NULL
     * where a later GENERATE simply replaces the key (PIV). */
    uk_rc (*key_delete)(void *impl, const uk_key_ref *ref);
    /* Where a renewal may put a new key, in the order to try. */
    uk_rc (*staging_refs)(void *impl, uk_key_ref *refs, size_t max, size_t *n);
    /* A certificate at ref is final: make it visible to other middleware. */
    uk_rc (*publish)(void *impl, const uk_key_ref *ref);
    unsigned long (*apdu_count)(const void *impl);
} uk_driver;

extern const uk_driver uk_driver_piv;
extern const uk_driver uk_driver_p11;

/* The PKCS#11 driver's open (it has no reader: a module and a slot). */
uk_rc uk_p11_open(uk_p11_module *m, unsigned long slot, void **impl, uk_token_info *info);

#endif
