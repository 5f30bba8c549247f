// SPDX-License-Identifier: MIT
/*
 * The PKCS#11 driver's pure code: CK_RV -> uk_rc (the one mapping), text
 * fields, token ids, PIN flags, the ECDSA signature form, DigestInfo and
 * p11-kit module files. No module is touched here, so all of it is unit
 * tested (tests/unit/test_p11.c).
 */
#define _POSIX_C_SOURCE 200809L
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <string.h>

#include "uk/p11.h"

uk_rc uk_p11_rv_rc(unsigned long rv)
{
    switch (rv) {
    case CKR_OK:
        return UK_OK;
    case CKR_HOST_MEMORY:
    case CKR_DEVICE_MEMORY:
        return UK_E_NOMEM;
    case CKR_ARGUMENTS_BAD:
    case CKR_ATTRIBUTE_VALUE_INVALID:
    case CKR_TEMPLATE_INCOMPLETE:
    case CKR_TEMPLATE_INCONSISTENT:
    case CKR_DATA_LEN_RANGE:
    case CKR_DATA_INVALID:
        return UK_E_INVALID_ARG;
    case CKR_BUFFER_TOO_SMALL:
        return UK_E_SIZE;
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_SLOT_ID_INVALID:
        return UK_E_CARD_REMOVED;
    case CKR_TOKEN_NOT_RECOGNIZED:
        return UK_E_CARD_UNSUPPORTED;
    case CKR_PIN_INCORRECT:
        return UK_E_PIN_INCORRECT;
    case CKR_PIN_LOCKED:
        return UK_E_PIN_BLOCKED;
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
        return UK_E_PIN_FORMAT;
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_TOKEN_WRITE_PROTECTED:
    case CKR_SESSION_READ_ONLY:
    case CKR_PIN_EXPIRED:
    case CKR_USER_PIN_NOT_INITIALIZED:
        return UK_E_SECURITY_STATUS;
    case CKR_FUNCTION_NOT_SUPPORTED:
    case CKR_MECHANISM_INVALID:
    case CKR_KEY_SIZE_RANGE:
    case CKR_CURVE_NOT_SUPPORTED:
    case CKR_ATTRIBUTE_TYPE_INVALID:
        return UK_E_UNSUPPORTED;
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_KEY_HANDLE_INVALID:
        return UK_E_NOT_FOUND;
    case CKR_FUNCTION_CANCELED:
    case CKR_CANCEL:
        return UK_E_CANCELLED;
    case CKR_CRYPTOKI_NOT_INITIALIZED:
        return UK_E_MODULE_INIT;
    case CKR_DEVICE_ERROR:
    case CKR_FUNCTION_FAILED:
        return UK_E_CARD_ERROR;
    default:
        return UK_E_INTERNAL;
    }
}

void uk_p11_text(const unsigned char *field, size_t len, char *out, size_t cap)
{
    size_t n = len;

    if (cap == 0) {
        return;
    }
    while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\0')) {
        n--;
    }
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(out, field, n);
    out[n] = '\0';
}

static size_t put_part(const char *s, char *out, size_t o, size_t cap)
{
    for (; s != NULL && *s != '\0' && o + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        out[o++] = (c == ':' || c < 0x20 || c == 0x7F) ? '_' : (char)c;
    }
    return o;
}

uk_rc uk_p11_token_id(const char *manufacturer, const char *serial, char *out, size_t cap)
{
    size_t need = 4 + strlen(manufacturer) + 1 + strlen(serial) + 1;
    size_t o;

    if (cap < need) {
        if (cap > 0) {
            out[0] = '\0';
        }
        return UK_E_SIZE;
    }
    memcpy(out, "p11:", 4);
    o = put_part(manufacturer, out, 4, cap);
    out[o++] = ':';
    o = put_part(serial, out, o, cap);
    out[o] = '\0';
    return UK_OK;
}

uk_rc uk_p11_pin_flags(unsigned long flags, int *tries, bool *low)
{
    *tries = -1;
    *low = (flags & CKF_USER_PIN_COUNT_LOW) != 0;
    if (flags & CKF_USER_PIN_LOCKED) {
        *tries = 0;
        return UK_E_PIN_BLOCKED;
    }
    if (flags & CKF_USER_PIN_FINAL_TRY) {
        *tries = 1;
    }
    return UK_OK;
}

uk_rc uk_p11_ecdsa_der(const uint8_t *raw, size_t len, uint8_t *out, size_t *out_len)
{
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL;
    BIGNUM *s = NULL;
    unsigned char *der = NULL;
    int der_len;
    uk_rc rc = UK_E_MALFORMED;

    if (raw == NULL || len == 0 || len % 2 != 0 || len > 2 * 66) {
        goto out;
    }
    sig = ECDSA_SIG_new();
    r = BN_bin2bn(raw, (int)(len / 2), NULL);
    s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
    if (sig == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s)) {
        rc = UK_E_NOMEM;
        goto out;
    }
    r = s = NULL; /* owned by sig */
    der_len = i2d_ECDSA_SIG(sig, &der);
    if (der_len <= 0) {
        rc = UK_E_CRYPTO;
        goto out;
    }
    if ((size_t)der_len > *out_len) {
        rc = UK_E_SIZE;
        goto out;
    }
    memcpy(out, der, (size_t)der_len);
    *out_len = (size_t)der_len;
    rc = UK_OK;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    OPENSSL_free(der);
    return rc;
}

uk_rc uk_digest_info(int md_nid, const uint8_t *digest, size_t len, uint8_t *out, size_t *out_len)
{
    X509_SIG *sig = NULL;
    X509_ALGOR *alg = NULL;
    ASN1_OCTET_STRING *oct = NULL;
    unsigned char *der = NULL;
    int der_len = 0;
    const EVP_MD *md = EVP_get_digestbynid(md_nid);
    uk_rc rc = UK_E_CRYPTO;

    if (md == NULL || digest == NULL || (size_t)EVP_MD_get_size(md) != len) {
        return UK_E_INVALID_ARG;
    }
    sig = X509_SIG_new();
    if (sig == NULL) {
        goto out;
    }
    X509_SIG_getm(sig, &alg, &oct);
    if (!X509_ALGOR_set0(alg, OBJ_nid2obj(md_nid), V_ASN1_NULL, NULL) ||
        !ASN1_OCTET_STRING_set(oct, digest, (int)len)) {
        goto out;
    }
    der_len = i2d_X509_SIG(sig, &der);
    if (der_len <= 0) {
        goto out;
    }
    if ((size_t)der_len > *out_len) {
        rc = UK_E_SIZE;
        goto out;
    }
    memcpy(out, der, (size_t)der_len);
    *out_len = (size_t)der_len;
    rc = UK_OK;
out:
    OPENSSL_free(der);
    X509_SIG_free(sig);
    return rc;
}

/* Is name one of the comma/space separated names in list? */
static bool in_list(const char *list, const char *name)
{
    size_t nl = strlen(name);
    const char *p = list;

    while (*p != '\0') {
        size_t n;
        while (*p == ',' || *p == ' ' || *p == '\t') {
            p++;
        }
        n = strcspn(p, ", \t");
        if (n == nl && n > 0 && strncmp(p, name, n) == 0) {
            return true;
        }
        p += n;
    }
    return false;
}

static bool yes(const char *v)
{
    return strcmp(v, "yes") == 0 || strcmp(v, "true") == 0;
}

uk_rc uk_p11_registry_parse(const char *text, const char *module_dir, char *path, size_t cap,
                            char *init_reserved, size_t ir_cap, bool *enabled)
{
    char module[1024] = "";
    char enable_in[256] = "";
    bool have_enable_in = false;
    bool disabled = false;
    const char *p = text;

    *enabled = false;
    path[0] = '\0';
    init_reserved[0] = '\0';
    while (p != NULL && *p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t n = eol != NULL ? (size_t)(eol - p) : strlen(p);
        char line[1024];
        char *colon;
        char *key;
        char *val;
        size_t vl;

        if (n < sizeof(line)) {
            memcpy(line, p, n);
            line[n] = '\0';
        } else {
            line[0] = '\0'; /* an over-long line is no option we know */
        }
        p = eol != NULL ? eol + 1 : NULL;
        key = line;
        while (*key == ' ' || *key == '\t') {
            key++;
        }
        colon = strchr(key, ':');
        if (*key == '#' || colon == NULL) {
            continue;
        }
        *colon = '\0';
        for (char *k = colon; k > key && (k[-1] == ' ' || k[-1] == '\t'); k--) {
            k[-1] = '\0';
        }
        val = colon + 1;
        while (*val == ' ' || *val == '\t') {
            val++;
        }
        vl = strlen(val);
        while (vl > 0 && (val[vl - 1] == ' ' || val[vl - 1] == '\t' || val[vl - 1] == '\r')) {
            val[--vl] = '\0';
        }
        if (strcmp(key, "module") == 0) {
            snprintf(module, sizeof(module), "%s", val);
        } else if (strcmp(key, "enable-in") == 0) {
            have_enable_in = true;
            snprintf(enable_in, sizeof(enable_in), "%s", val);
        } else if (strcmp(key, "disable-in") == 0) {
            disabled = disabled || in_list(val, "ukeyd");
        } else if (strcmp(key, "trust-policy") == 0) {
            disabled = disabled || yes(val); /* a trust store, not a key */
        } else if (strcmp(key, "x-init-reserved") == 0) {
            snprintf(init_reserved, ir_cap, "%s", val);
        }
    }
    if (module[0] == '\0') {
        return UK_E_MALFORMED;
    }
    if (module[0] == '/') {
        if ((size_t)snprintf(path, cap, "%s", module) >= cap) {
            return UK_E_SIZE;
        }
    } else if ((size_t)snprintf(path, cap, "%s/%s", module_dir, module) >= cap) {
        return UK_E_SIZE;
    }
    *enabled = !disabled && (!have_enable_in || in_list(enable_in, "ukeyd"));
    return UK_OK;
}
