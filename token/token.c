// SPDX-License-Identifier: MIT
/*
 * uk_token: picks the driver for a card (or opens a PKCS#11 slot) and
 * forwards each call to it, with
 * what every driver shares done once here — PIN length rules, RSA
 * PKCS#1 v1.5 padding of a DigestInfo built with OpenSSL, key type names.
 */
#define _POSIX_C_SOURCE 200809L
#include "uk/token.h"

#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "uk/log.h"
#include "uk/mem.h"

struct uk_token {
    const uk_driver *drv;
    void *impl;
    uk_token_info info;
};

static const uk_driver *const drivers[] = {&uk_driver_piv};

static const struct {
    uk_key_type type;
    const char *name;
} key_names[] = {
    {UK_KEY_RSA1024, "rsa1024"},
    {UK_KEY_RSA2048, "rsa2048"},
    {UK_KEY_P256, "p256"},
    {UK_KEY_P384, "p384"},
};

const char *uk_key_type_name(uk_key_type type)
{
    for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++) {
        if (key_names[i].type == type) {
            return key_names[i].name;
        }
    }
    return NULL;
}

uk_key_type uk_key_type_parse(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(key_names) / sizeof(key_names[0]); i++) {
        if (strcmp(key_names[i].name, name) == 0) {
            return key_names[i].type;
        }
    }
    return UK_KEY_NONE;
}

uk_key_type uk_key_type_of(EVP_PKEY *pkey)
{
    char group[32] = "";
    size_t glen = 0;

    if (pkey == NULL) {
        return UK_KEY_NONE;
    }
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        switch (EVP_PKEY_get_bits(pkey)) {
        case 1024:
            return UK_KEY_RSA1024;
        case 2048:
            return UK_KEY_RSA2048;
        default:
            return UK_KEY_NONE;
        }
    }
    if (EVP_PKEY_is_a(pkey, "EC") &&
        EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group), &glen)) {
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            return UK_KEY_P256;
        }
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            return UK_KEY_P384;
        }
    }
    return UK_KEY_NONE;
}

uk_key_ref uk_key_ref_slot(uint8_t slot)
{
    uk_key_ref r;

    memset(&r, 0, sizeof(r));
    r.id[0] = slot;
    r.len = 1;
    return r;
}

uk_rc uk_token_open(uk_pcsc *ctx, const char *reader, uk_token **out)
{
    uk_token *t;
    uk_rc rc = UK_E_CARD_UNSUPPORTED;

    *out = NULL;
    if (ctx == NULL || reader == NULL) {
        return UK_E_INVALID_ARG;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return UK_E_NOMEM;
    }
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
        rc = drivers[i]->open(ctx, reader, &t->impl, &t->info);
        if (rc == UK_OK) {
            t->drv = drivers[i];
            *out = t;
            return UK_OK;
        }
        if (rc != UK_E_CARD_UNSUPPORTED) {
            break; /* no card, removed, busy: no other driver does better */
        }
    }
    free(t);
    return rc;
}

uk_rc uk_token_open_p11(uk_p11_module *m, unsigned long slot, uk_token **out)
{
    uk_token *t;
    uk_rc rc;

    *out = NULL;
    if (m == NULL) {
        return UK_E_INVALID_ARG;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return UK_E_NOMEM;
    }
    rc = uk_p11_open(m, slot, &t->impl, &t->info);
    if (rc != UK_OK) {
        free(t);
        return rc;
    }
    t->drv = &uk_driver_p11;
    *out = t;
    return UK_OK;
}

void uk_token_close(uk_token *tok)
{
    if (tok == NULL) {
        return;
    }
    tok->drv->close(tok->impl);
    free(tok);
}

const uk_token_info *uk_token_info_get(const uk_token *tok)
{
    return &tok->info;
}

uk_rc uk_token_certs(uk_token *tok, const uk_token_cert **list, size_t *count)
{
    *list = NULL;
    *count = 0;
    return tok->drv->certs(tok->impl, list, count);
}

/* PIV and most PKCS#11 tokens take 6 to 8 characters. */
static bool pin_ok(const char *pin)
{
    size_t n = pin ? strnlen(pin, 9) : 0;

    return n >= 6 && n <= 8;
}

uk_rc uk_token_pin_status(uk_token *tok, int *tries, bool *verified)
{
    *tries = -1;
    *verified = false;
    return tok->drv->pin_status(tok->impl, tries, verified);
}

uk_rc uk_token_pin_verify(uk_token *tok, const char *pin, int *tries)
{
    *tries = -1;
    if (!pin_ok(pin)) {
        return UK_E_PIN_FORMAT;
    }
    return tok->drv->pin_verify(tok->impl, pin, tries);
}

uk_rc uk_token_pin_change(uk_token *tok, const char *old_pin, const char *new_pin, int *tries)
{
    *tries = -1;
    if (!pin_ok(old_pin) || !pin_ok(new_pin)) {
        return UK_E_PIN_FORMAT;
    }
    return tok->drv->pin_change(tok->impl, old_pin, new_pin, tries);
}

uk_rc uk_token_pin_unblock(uk_token *tok, const char *puk, const char *new_pin, int *tries)
{
    *tries = -1;
    if (!pin_ok(puk) || !pin_ok(new_pin)) {
        return UK_E_PIN_FORMAT;
    }
    return tok->drv->pin_unblock(tok->impl, puk, new_pin, tries);
}

uk_rc uk_token_admin_auth(uk_token *tok, const uk_admin_key *key)
{
    return tok->drv->admin_auth(tok->impl, key);
}

uk_rc uk_token_key_generate(uk_token *tok, const uk_key_ref *ref, uk_key_type type, EVP_PKEY **pub)
{
    *pub = NULL;
    if (ref == NULL || uk_key_type_name(type) == NULL) {
        return UK_E_INVALID_ARG;
    }
    return tok->drv->key_generate(tok->impl, ref, type, pub);
}

/* EMSA-PKCS1-v1_5 (RFC 8017 9.2): 00 01 FF.. 00 DigestInfo, where the
 * DigestInfo is DER-encoded by OpenSSL from the digest's algorithm. */
static uk_rc pkcs1_block(int md_nid, const uint8_t *digest, size_t len, uint8_t *em, size_t em_len)
{
    uint8_t di[128];
    size_t di_len = sizeof(di);
    uk_rc rc = uk_digest_info(md_nid, digest, len, di, &di_len);

    if (rc != UK_OK) {
        return rc;
    }
    if (di_len + 11 > em_len) {
        return UK_E_CRYPTO;
    }
    em[0] = 0x00;
    em[1] = 0x01;
    memset(em + 2, 0xFF, em_len - di_len - 3);
    em[em_len - di_len - 1] = 0x00;
    memcpy(em + em_len - di_len, di, di_len);
    return UK_OK;
}

uk_rc uk_token_sign(uk_token *tok, const uk_key_ref *ref, uk_key_type type, int md_nid,
                    const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t *sig_len)
{
    uint8_t em[256];
    size_t em_len;
    uk_rc rc;

    if (ref == NULL || digest == NULL || sig == NULL || sig_len == NULL) {
        return UK_E_INVALID_ARG;
    }
    switch (type) {
    case UK_KEY_RSA1024:
    case UK_KEY_RSA2048:
        em_len = type == UK_KEY_RSA1024 ? 128 : 256;
        if (*sig_len < em_len) {
            *sig_len = 0;
            return UK_E_SIZE;
        }
        if (tok->drv->sign_pkcs1 != NULL) {
            size_t di_len = sizeof(em);
            rc = uk_digest_info(md_nid, digest, digest_len, em, &di_len);
            if (rc == UK_OK) {
                rc = tok->drv->sign_pkcs1(tok->impl, ref, em, di_len, sig, sig_len);
            }
            uk_memzero(em, sizeof(em));
            return rc;
        }
        rc = pkcs1_block(md_nid, digest, digest_len, em, em_len);
        if (rc == UK_OK) {
            rc = tok->drv->sign_raw(tok->impl, ref, type, em, em_len, sig, sig_len);
        }
        uk_memzero(em, sizeof(em));
        return rc;
    case UK_KEY_P256:
    case UK_KEY_P384:
        return tok->drv->sign_raw(tok->impl, ref, type, digest, digest_len, sig, sig_len);
    default:
        return UK_E_INVALID_ARG;
    }
}

uk_rc uk_token_cert_read(uk_token *tok, const uk_key_ref *ref, uk_buf *der)
{
    return tok->drv->cert_read(tok->impl, ref, der);
}

uk_rc uk_token_cert_write(uk_token *tok, const uk_key_ref *ref, const uint8_t *der, size_t len)
{
    if (der == NULL || len == 0) {
        return UK_E_INVALID_ARG;
    }
    return tok->drv->cert_write(tok->impl, ref, der, len);
}

uk_rc uk_token_cert_delete(uk_token *tok, const uk_key_ref *ref)
{
    return tok->drv->cert_delete(tok->impl, ref);
}

uk_rc uk_token_key_delete(uk_token *tok, const uk_key_ref *ref)
{
    return tok->drv->key_delete != NULL ? tok->drv->key_delete(tok->impl, ref) : UK_OK;
}

uk_rc uk_token_staging_refs(uk_token *tok, uk_key_ref *refs, size_t max, size_t *n)
{
    *n = 0;
    return tok->drv->staging_refs != NULL ? tok->drv->staging_refs(tok->impl, refs, max, n)
                                          : UK_E_UNSUPPORTED;
}

uk_rc uk_token_publish(uk_token *tok, const uk_key_ref *ref)
{
    return tok->drv->publish != NULL ? tok->drv->publish(tok->impl, ref) : UK_OK;
}

unsigned long uk_token_apdu_count(const uk_token *tok)
{
    return tok->drv->apdu_count(tok->impl);
}
