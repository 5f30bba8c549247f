// SPDX-License-Identifier: MIT
/*
 * The PKCS#11 driver: modules loaded from an allowlist, and the token in
 * one slot behind the same driver interface as PIV.
 *
 * A token is one read-write session on its slot. Keys and certificates are
 * token objects linked by CKA_ID (PKCS#11 2.40 4.4, 4.6, 4.8); a uk_key_ref
 * holds the CKA_ID. The certificate list is read once and kept until this
 * driver writes. Login state is the module's (shared by all sessions on
 * the token), so a PIN check logs out first and a change of session state
 * by another program is seen on the next call.
 *
 * Renewal: the new key pair gets a fresh random CKA_ID and is made as
 * token, private, sensitive, never-extractable objects labelled
 * "ukeyd-staged"; the old objects are never touched. The staged key's
 * placeholder certificate is a CKO_CERTIFICATE with the same CKA_ID, as in
 * a PIV retired slot. A certificate is written only where the public key
 * object with its CKA_ID matches the certificate's key.
 */
#define _POSIX_C_SOURCE 200809L
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "p11os.h"
#include "uk/log.h"
#include "uk/mem.h"

#define MAX_OBJECTS 64
#define ATTR_MAX (64 * 1024)
#define STAGED_LABEL "ukeyd-staged"

struct uk_p11_module {
    void *dl;
    CK_FUNCTION_LIST *f;
    bool owned;     /* our C_Initialize succeeded: ours to finalise */
    bool finalized; /* uk_p11_module_cancel ran C_Finalize */
    char path[UK_P11_PATH_MAX];
    char desc[96];
    char *init_reserved;
};

struct p11 {
    uk_p11_module *m;
    CK_FUNCTION_LIST *f;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE s;
    bool cache_valid;
    uk_token_cert certs[MAX_OBJECTS];
    uint8_t *der[MAX_OBJECTS];
    size_t ncerts;
    CK_OBJECT_HANDLE last_written;
    /* the PIN of the last successful verify, kept only for the next
     * signature with a key that needs a context-specific login
     * (CKA_ALWAYS_AUTHENTICATE); wiped at that signature or at close */
    char ctx_pin[16];
    bool ctx_pin_set;
    unsigned long calls;
};

/* PKCS#11 takes non-const pointers for data it only reads. */
static void *unconst(const void *p)
{
    return (void *)(uintptr_t)p;
}

/* ---- modules ---- */

/* Sanitizer builds keep modules mapped: LeakSanitizer reports at exit, and
 * a leak inside a module that is gone has no name to suppress it by
 * (tests/pkcs11/lsan.supp names the modules' own leaks). */
#if defined(__SANITIZE_ADDRESS__)
#define UK_P11_KEEP_MAPPED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UK_P11_KEEP_MAPPED 1
#endif
#endif

static void module_free(uk_p11_module *m)
{
    if (m == NULL) {
        return;
    }
#ifndef UK_P11_KEEP_MAPPED
    if (m->dl != NULL) {
        uk_p11os_close(m->dl);
    }
#endif
    free(m->init_reserved);
    free(m);
}

static bool allowed(const char *canon, const char *const *allow, size_t n)
{
    char buf[UK_P11_PATH_MAX];

    for (size_t i = 0; i < n; i++) {
        if (uk_p11os_canon(allow[i], buf, sizeof(buf)) && strcmp(buf, canon) == 0) {
            return true;
        }
    }
    return false;
}

uk_rc uk_p11_module_load(const char *path, const char *const *allow, size_t n_allow,
                         const char *init_reserved, uk_p11_module **out)
{
    uk_p11_module *m = NULL;
    CK_C_GetFunctionList get = NULL;
    CK_C_INITIALIZE_ARGS args;
    CK_INFO ci;
    CK_RV rv;
    char canon[UK_P11_PATH_MAX];
    char why[256];
    char text[64];
    uk_rc rc;

    *out = NULL;
    if (!uk_p11os_absolute(path)) {
        uk_warn("PKCS#11 module '%s' refused: not an absolute path", path ? path : "");
        return UK_E_MODULE_NOT_ALLOWED;
    }
    if (!uk_p11os_canon(path, canon, sizeof(canon))) {
        uk_warn("PKCS#11 module %s: no such file", path);
        return UK_E_MODULE_LOAD;
    }
    if (!allowed(canon, allow, n_allow)) {
        uk_warn("PKCS#11 module %s (%s) refused: %s", path, canon,
                uk_rc_name(UK_E_MODULE_NOT_ALLOWED));
        return UK_E_MODULE_NOT_ALLOWED;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return UK_E_NOMEM;
    }
    snprintf(m->path, sizeof(m->path), "%s", canon);
    if (init_reserved != NULL && init_reserved[0] != '\0') {
        m->init_reserved = strdup(init_reserved);
        if (m->init_reserved == NULL) {
            rc = UK_E_NOMEM;
            goto fail;
        }
    }
    m->dl = uk_p11os_open(canon, why, sizeof(why));
    if (m->dl == NULL) {
        uk_warn("PKCS#11 module %s: cannot load: %s", canon, why);
        rc = UK_E_MODULE_LOAD;
        goto fail;
    }
    *(void **)&get = uk_p11os_sym(m->dl, "C_GetFunctionList");
    if (get == NULL || get(&m->f) != CKR_OK || m->f == NULL || m->f->C_Initialize == NULL) {
        uk_warn("PKCS#11 module %s: no usable C_GetFunctionList", canon);
        rc = UK_E_MODULE_LOAD;
        goto fail;
    }
    /* OS locking: workers call the module from several threads */
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    args.pReserved = m->init_reserved;
    rv = m->f->C_Initialize(&args);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        uk_info("PKCS#11 module %s was already initialised in this process", canon);
    } else if (rv != CKR_OK) {
        uk_warn("PKCS#11 module %s: C_Initialize: CK_RV 0x%lx: %s", canon, (unsigned long)rv,
                uk_rc_name(UK_E_MODULE_INIT));
        rc = UK_E_MODULE_INIT;
        goto fail;
    } else {
        m->owned = true;
    }
    memset(&ci, 0, sizeof(ci));
    if (m->f->C_GetInfo != NULL && m->f->C_GetInfo(&ci) == CKR_OK) {
        uk_p11_text(ci.libraryDescription, sizeof(ci.libraryDescription), text, sizeof(text));
        snprintf(m->desc, sizeof(m->desc), "%s %u.%u", text, ci.libraryVersion.major,
                 ci.libraryVersion.minor);
    }
    uk_info("PKCS#11 module %s loaded (%s)", canon, m->desc);
    *out = m;
    return UK_OK;
fail:
    module_free(m);
    return rc;
}

void uk_p11_module_cancel(uk_p11_module *m)
{
    if (m != NULL && m->owned && !m->finalized) {
        m->finalized = true;
        (void)m->f->C_Finalize(NULL);
    }
}

void uk_p11_module_unload(uk_p11_module *m)
{
    if (m == NULL) {
        return;
    }
    uk_p11_module_cancel(m);
    module_free(m);
}

const char *uk_p11_module_description(const uk_p11_module *m)
{
    return m->desc;
}

uk_rc uk_p11_module_slots(uk_p11_module *m, unsigned long *slots, size_t max, size_t *n)
{
    CK_SLOT_ID ids[64];
    CK_ULONG count = sizeof(ids) / sizeof(ids[0]);
    CK_RV rv;

    *n = 0;
    rv = m->f->C_GetSlotList(CK_TRUE, ids, &count);
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) {
        return uk_p11_rv_rc(rv);
    }
    for (CK_ULONG i = 0; i < count && i < sizeof(ids) / sizeof(ids[0]) && *n < max; i++) {
        slots[(*n)++] = ids[i];
    }
    return UK_OK;
}

uk_rc uk_p11_module_wait(uk_p11_module *m, bool block, unsigned long *slot)
{
    CK_SLOT_ID id = 0;
    CK_RV rv;

    *slot = 0;
    if (m->f->C_WaitForSlotEvent == NULL) {
        return UK_E_UNSUPPORTED;
    }
    rv = m->f->C_WaitForSlotEvent(block ? 0 : CKF_DONT_BLOCK, &id, NULL);
    switch (rv) {
    case CKR_OK:
        *slot = id;
        return UK_OK;
    case CKR_NO_EVENT:
        return UK_E_NOT_FOUND;
    case CKR_FUNCTION_NOT_SUPPORTED:
        return UK_E_UNSUPPORTED;
    case CKR_CRYPTOKI_NOT_INITIALIZED:
        return UK_E_CANCELLED;
    default:
        return uk_p11_rv_rc(rv);
    }
}

/* ---- objects ---- */

/* A call's CK_RV as uk_rc, counted; logged when it is a failure worth it. */
static uk_rc ck(struct p11 *p, CK_RV rv, const char *what)
{
    uk_rc rc = uk_p11_rv_rc(rv);

    p->calls++;
    if (rc != UK_OK && rc != UK_E_PIN_INCORRECT && rc != UK_E_NOT_FOUND) {
        uk_debug("%s: CK_RV 0x%lx: %s", what, (unsigned long)rv, uk_rc_name(rc));
    }
    return rc;
}

static uk_rc find(struct p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *objs, size_t max,
                  size_t *count)
{
    CK_ULONG got = 0;
    uk_rc rc;

    *count = 0;
    rc = ck(p, p->f->C_FindObjectsInit(p->s, tmpl, n), "C_FindObjectsInit");
    if (rc != UK_OK) {
        return rc;
    }
    rc = ck(p, p->f->C_FindObjects(p->s, objs, (CK_ULONG)max, &got), "C_FindObjects");
    (void)ck(p, p->f->C_FindObjectsFinal(p->s), "C_FindObjectsFinal");
    if (rc == UK_OK) {
        *count = got <= max ? (size_t)got : max;
    }
    return rc;
}

/* Objects of a class with a CKA_ID (any CKA_ID when ref is NULL). */
static uk_rc find_by_id(struct p11 *p, CK_OBJECT_CLASS cls, const uk_key_ref *ref,
                        CK_OBJECT_HANDLE *objs, size_t max, size_t *count)
{
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[3] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_ID, NULL, 0},
    };

    if (ref != NULL) {
        t[2].pValue = unconst(ref->id);
        t[2].ulValueLen = ref->len;
    }
    return find(p, t, ref != NULL ? 3 : 2, objs, max, count);
}

/* One attribute's value (malloc'ed, caller frees); UK_E_NOT_FOUND when the
 * object does not have it. */
static uk_rc get_attr(struct p11 *p, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, uint8_t **val,
                      size_t *len)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    uk_rc rc;

    *val = NULL;
    *len = 0;
    rc = ck(p, p->f->C_GetAttributeValue(p->s, o, &a, 1), "C_GetAttributeValue");
    if (rc == UK_E_UNSUPPORTED || a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
        return UK_E_NOT_FOUND;
    }
    if (rc != UK_OK) {
        return rc;
    }
    if (a.ulValueLen > ATTR_MAX) {
        return UK_E_LIMIT;
    }
    a.pValue = malloc(a.ulValueLen > 0 ? a.ulValueLen : 1);
    if (a.pValue == NULL) {
        return UK_E_NOMEM;
    }
    rc = ck(p, p->f->C_GetAttributeValue(p->s, o, &a, 1), "C_GetAttributeValue");
    if (rc != UK_OK) {
        free(a.pValue);
        return rc;
    }
    *val = a.pValue;
    *len = a.ulValueLen;
    return UK_OK;
}

static bool get_bool(struct p11 *p, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a = {type, &v, sizeof(v)};

    return ck(p, p->f->C_GetAttributeValue(p->s, o, &a, 1), "C_GetAttributeValue") == UK_OK &&
           v == CK_TRUE;
}

static void cache_drop(struct p11 *p)
{
    for (size_t i = 0; i < p->ncerts; i++) {
        free(p->der[i]);
        p->der[i] = NULL;
    }
    p->ncerts = 0;
    p->cache_valid = false;
}

static void hex(char *out, size_t cap, const uint8_t *b, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < len && o + 2 < cap; i++) {
        out[o++] = digits[b[i] >> 4];
        out[o++] = digits[b[i] & 15];
    }
    out[o] = '\0';
}

/* ---- open and close ---- */

static void p11_close(void *impl)
{
    struct p11 *p = impl;

    if (p == NULL) {
        return;
    }
    cache_drop(p);
    (void)p->f->C_CloseSession(p->s);
    uk_memzero(p->ctx_pin, sizeof(p->ctx_pin));
    free(p);
}

uk_rc uk_p11_open(uk_p11_module *m, unsigned long slot, void **impl, uk_token_info *info)
{
    struct p11 *p;
    CK_TOKEN_INFO ti;
    CK_SLOT_INFO si;
    char manufacturer[40];
    char serial[24];
    uk_rc rc;
    CK_RV rv;

    *impl = NULL;
    memset(info, 0, sizeof(*info));
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return UK_E_NOMEM;
    }
    p->m = m;
    p->f = m->f;
    p->slot = slot;
    rv = p->f->C_GetTokenInfo(slot, &ti);
    if (rv != CKR_OK) {
        rc = rv == CKR_TOKEN_NOT_PRESENT ? UK_E_NO_CARD : ck(p, rv, "C_GetTokenInfo");
        goto fail;
    }
    if ((ti.flags & CKF_TOKEN_INITIALIZED) == 0) {
        rc = UK_E_CARD_UNSUPPORTED; /* a blank token (SoftHSM2's spare slot) */
        goto fail;
    }
    if (p->f->C_GetSlotInfo(slot, &si) == CKR_OK) {
        uk_p11_text(si.slotDescription, sizeof(si.slotDescription), info->reader,
                    sizeof(info->reader));
    }
    rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &p->s);
    if (rv == CKR_TOKEN_WRITE_PROTECTED) {
        rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &p->s);
    }
    if (rv != CKR_OK) {
        rc = ck(p, rv, "C_OpenSession");
        goto fail;
    }
    uk_p11_text(ti.manufacturerID, sizeof(ti.manufacturerID), manufacturer, sizeof(manufacturer));
    uk_p11_text(ti.serialNumber, sizeof(ti.serialNumber), serial, sizeof(serial));
    uk_p11_text(ti.label, sizeof(ti.label), info->label, sizeof(info->label));
    uk_p11_text(ti.model, sizeof(ti.model), info->model, sizeof(info->model));
    snprintf(info->manufacturer, sizeof(info->manufacturer), "%s", manufacturer);
    snprintf(info->serial, sizeof(info->serial), "%s", serial);
    snprintf(info->driver, sizeof(info->driver), "pkcs11");
    snprintf(info->firmware, sizeof(info->firmware), "%u.%u", ti.firmwareVersion.major,
             ti.firmwareVersion.minor);
    rc = uk_p11_token_id(manufacturer, serial, info->id, sizeof(info->id));
    if (rc != UK_OK) {
        (void)p->f->C_CloseSession(p->s);
        goto fail;
    }
    *impl = p;
    return UK_OK;
fail:
    free(p);
    return rc;
}

/* ---- certificates ---- */

static void fingerprint(const uint8_t *der, size_t len, char out[65])
{
    uint8_t md[32];
    unsigned int mdlen = 0;

    out[0] = '\0';
    if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32) {
        hex(out, 65, md, 32);
    }
}

static int cert_cmp(const void *a, const void *b)
{
    const uk_token_cert *x = a;
    const uk_token_cert *y = b;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = memcmp(x->key.id, y->key.id, n);

    if (c != 0) {
        return c;
    }
    if (x->key.len != y->key.len) {
        return x->key.len < y->key.len ? -1 : 1;
    }
    return strcmp(x->id, y->id);
}

static uk_rc p11_certs(void *impl, const uk_token_cert **list, size_t *count)
{
    struct p11 *p = impl;
    CK_OBJECT_HANDLE objs[MAX_OBJECTS];
    size_t n = 0;
    uk_rc rc;

    if (!p->cache_valid) {
        cache_drop(p);
        rc = find_by_id(p, CKO_CERTIFICATE, NULL, objs, MAX_OBJECTS, &n);
        if (rc != UK_OK) {
            return rc;
        }
        for (size_t i = 0; i < n; i++) {
            uk_token_cert *c = &p->certs[p->ncerts];
            uint8_t *id = NULL;
            size_t id_len = 0;
            uint8_t *der = NULL;
            size_t der_len = 0;

            memset(c, 0, sizeof(*c));
            rc = get_attr(p, objs[i], CKA_VALUE, &der, &der_len);
            if (rc == UK_E_CARD_REMOVED) {
                cache_drop(p);
                return rc;
            }
            if (rc != UK_OK || der_len == 0) {
                free(der);
                continue; /* not an X.509 certificate we can show */
            }
            if (get_attr(p, objs[i], CKA_ID, &id, &id_len) == UK_OK &&
                id_len <= sizeof(c->key.id)) {
                memcpy(c->key.id, id, id_len);
                c->key.len = id_len;
            }
            free(id);
            c->object = (uint32_t)objs[i];
            c->der = der;
            c->der_len = der_len;
            fingerprint(der, der_len, c->id);
            p->der[p->ncerts] = der; /* the allocation, freed by cache_drop */
            p->ncerts++;
        }
        qsort(p->certs, p->ncerts, sizeof(p->certs[0]), cert_cmp);
        p->cache_valid = true;
    }
    *list = p->certs;
    *count = p->ncerts;
    return UK_OK;
}

/* The certificate objects at ref; the one this driver wrote last first. */
static uk_rc certs_at(struct p11 *p, const uk_key_ref *ref, CK_OBJECT_HANDLE *objs, size_t max,
                      size_t *n)
{
    uk_rc rc = find_by_id(p, CKO_CERTIFICATE, ref, objs, max, n);

    for (size_t i = 1; rc == UK_OK && i < *n; i++) {
        if (objs[i] == p->last_written) {
            objs[i] = objs[0];
            objs[0] = p->last_written;
        }
    }
    return rc;
}

static uk_rc p11_cert_read(void *impl, const uk_key_ref *ref, uk_buf *der)
{
    struct p11 *p = impl;
    CK_OBJECT_HANDLE objs[8];
    size_t n = 0;
    uint8_t *v = NULL;
    size_t len = 0;
    uk_rc rc;

    uk_buf_reset(der);
    rc = certs_at(p, ref, objs, 8, &n);
    if (rc == UK_OK && n == 0) {
        rc = UK_E_NOT_FOUND;
    }
    if (rc == UK_OK) {
        rc = get_attr(p, objs[0], CKA_VALUE, &v, &len);
    }
    if (rc == UK_OK) {
        rc = uk_buf_append(der, v, len);
    }
    free(v);
    return rc;
}

/* ---- keys ---- */

static const uint8_t oid_p256[] = {0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22};

/* The public key of a CKO_PUBLIC_KEY object (RSA modulus and exponent, or
 * EC parameters and point) as an EVP_PKEY. */
static uk_rc public_key(struct p11 *p, CK_OBJECT_HANDLE o, EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *n = NULL;
    BIGNUM *e = NULL;
    uint8_t *a = NULL;
    uint8_t *b = NULL;
    size_t al = 0;
    size_t bl = 0;
    ASN1_OCTET_STRING *point = NULL;
    CK_KEY_TYPE kt = CKK_VENDOR_DEFINED;
    CK_ATTRIBUTE kta = {CKA_KEY_TYPE, &kt, sizeof(kt)};
    uk_rc rc;

    *out = NULL;
    rc = bld != NULL ? ck(p, p->f->C_GetAttributeValue(p->s, o, &kta, 1), "key type") : UK_E_NOMEM;
    if (rc != UK_OK) {
        goto out;
    }
    rc = UK_E_MALFORMED;
    if (kt == CKK_RSA) {
        if (get_attr(p, o, CKA_MODULUS, &a, &al) != UK_OK ||
            get_attr(p, o, CKA_PUBLIC_EXPONENT, &b, &bl) != UK_OK) {
            goto out;
        }
        n = BN_bin2bn(a, (int)al, NULL);
        e = BN_bin2bn(b, (int)bl, NULL);
        if (n == NULL || e == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)) {
            goto out;
        }
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    } else if (kt == CKK_EC) {
        const char *group = NULL;
        const uint8_t *q;
        if (get_attr(p, o, CKA_EC_PARAMS, &a, &al) != UK_OK ||
            get_attr(p, o, CKA_EC_POINT, &b, &bl) != UK_OK) {
            goto out;
        }
        if (al == sizeof(oid_p256) && memcmp(a, oid_p256, al) == 0) {
            group = "P-256";
        } else if (al == sizeof(oid_p384) && memcmp(a, oid_p384, al) == 0) {
            group = "P-384";
        } else {
            rc = UK_E_UNSUPPORTED;
            goto out;
        }
        /* CKA_EC_POINT is a DER OCTET STRING (2.40 2.3.3); some modules
         * give the bare point */
        q = b;
        point = bl > 0 && b[0] == 0x04 && (bl == 65 || bl == 97)
                    ? NULL
                    : d2i_ASN1_OCTET_STRING(NULL, &q, (long)bl);
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                              point != NULL ? point->data : b,
                                              point != NULL ? (size_t)point->length : bl)) {
            goto out;
        }
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    } else {
        rc = UK_E_UNSUPPORTED;
        goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (ctx == NULL || params == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        rc = UK_E_MALFORMED;
        goto out;
    }
    rc = UK_OK;
out:
    ASN1_OCTET_STRING_free(point);
    free(a);
    free(b);
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

static uk_rc destroy_all(struct p11 *p, CK_OBJECT_CLASS cls, const uk_key_ref *ref,
                         CK_OBJECT_HANDLE keep)
{
    CK_OBJECT_HANDLE objs[16];
    size_t n = 0;
    uk_rc rc = find_by_id(p, cls, ref, objs, 16, &n);

    for (size_t i = 0; rc == UK_OK && i < n; i++) {
        if (objs[i] != keep) {
            rc = ck(p, p->f->C_DestroyObject(p->s, objs[i]), "C_DestroyObject");
        }
    }
    return rc;
}

static uk_rc p11_key_delete(void *impl, const uk_key_ref *ref)
{
    struct p11 *p = impl;
    uk_rc rc = destroy_all(p, CKO_PRIVATE_KEY, ref, CK_INVALID_HANDLE);

    if (rc == UK_OK) {
        rc = destroy_all(p, CKO_PUBLIC_KEY, ref, CK_INVALID_HANDLE);
    }
    return rc;
}

static uk_rc p11_key_generate(void *impl, const uk_key_ref *ref, uk_key_type type, EVP_PKEY **pub)
{
    struct p11 *p = impl;
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL no = CK_FALSE;
    CK_ULONG bits = type == UK_KEY_RSA1024 ? 1024 : 2048;
    CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    char label[] = STAGED_LABEL;
    bool rsa = type == UK_KEY_RSA1024 || type == UK_KEY_RSA2048;
    CK_MECHANISM mech = {rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pub_t[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_ID, unconst(ref->id), ref->len},
        {CKA_LABEL, label, sizeof(label) - 1},
        {rsa ? CKA_MODULUS_BITS : CKA_EC_PARAMS,
         rsa ? (void *)&bits : unconst(type == UK_KEY_P256 ? oid_p256 : oid_p384),
         rsa ? sizeof(bits) : (type == UK_KEY_P256 ? sizeof(oid_p256) : sizeof(oid_p384))},
        {CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)},
    };
    CK_ATTRIBUTE priv_t[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},    {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_SIGN, &yes, sizeof(yes)},         {CKA_ID, unconst(ref->id), ref->len},
        {CKA_LABEL, label, sizeof(label) - 1},
    };
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE hpriv = CK_INVALID_HANDLE;
    uk_rc rc;

    if (ref->len == 0) {
        return UK_E_INVALID_ARG;
    }
    /* a GENERATE in a place replaces its key, as in a PIV slot; renewal
     * only does this where no certified key can be (protocol/renew.c) */
    rc = p11_key_delete(p, ref);
    if (rc == UK_OK) {
        rc = ck(p,
                p->f->C_GenerateKeyPair(p->s, &mech, pub_t, rsa ? 7 : 6, /* no exponent for EC */
                                        priv_t, sizeof(priv_t) / sizeof(priv_t[0]), &hpub, &hpriv),
                "C_GenerateKeyPair");
    }
    if (rc == UK_OK) {
        rc = public_key(p, hpub, pub);
    }
    if (rc == UK_OK && uk_key_type_of(*pub) != type) {
        EVP_PKEY_free(*pub);
        *pub = NULL;
        rc = UK_E_CARD_ERROR;
    }
    return rc;
}

/* The private key at ref. */
static uk_rc private_key(struct p11 *p, const uk_key_ref *ref, CK_OBJECT_HANDLE *key)
{
    CK_OBJECT_HANDLE objs[2];
    size_t n = 0;
    uk_rc rc = find_by_id(p, CKO_PRIVATE_KEY, ref, objs, 2, &n);

    if (rc == UK_OK && n == 0) {
        /* a private object is invisible before login */
        rc = UK_E_SECURITY_STATUS;
    }
    *key = n > 0 ? objs[0] : CK_INVALID_HANDLE;
    return rc;
}

static uk_rc sign(struct p11 *p, const uk_key_ref *ref, CK_MECHANISM_TYPE mt, const uint8_t *in,
                  size_t len, uint8_t *out, size_t *out_len)
{
    CK_MECHANISM mech = {mt, NULL, 0};
    CK_OBJECT_HANDLE key;
    CK_ULONG sl = (CK_ULONG)*out_len;
    bool always;
    uk_rc rc = private_key(p, ref, &key);

    if (rc != UK_OK) {
        goto out;
    }
    always = get_bool(p, key, CKA_ALWAYS_AUTHENTICATE);
    if (always && !p->ctx_pin_set) {
        rc = UK_E_SECURITY_STATUS; /* the caller verifies the PIN and comes back */
        goto out;
    }
    rc = ck(p, p->f->C_SignInit(p->s, &mech, key), "C_SignInit");
    if (rc == UK_OK && always) {
        /* PKCS#11 2.40 5.5: the context-specific login right after SignInit */
        rc = ck(p,
                p->f->C_Login(p->s, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR *)p->ctx_pin,
                              (CK_ULONG)strlen(p->ctx_pin)),
                "C_Login(CONTEXT_SPECIFIC)");
        if (rc != UK_OK) {
            uint8_t junk[512];
            CK_ULONG jl = sizeof(junk);
            (void)p->f->C_Sign(p->s, unconst(in), (CK_ULONG)len, junk, &jl); /* ends the op */
            rc = UK_E_SECURITY_STATUS;
        }
    }
    if (rc == UK_OK) {
        rc = ck(p, p->f->C_Sign(p->s, unconst(in), (CK_ULONG)len, out, &sl), "C_Sign");
    }
    if (rc == UK_OK) {
        *out_len = (size_t)sl;
    }
out:
    uk_memzero(p->ctx_pin, sizeof(p->ctx_pin));
    p->ctx_pin_set = false;
    return rc;
}

static uk_rc p11_sign_pkcs1(void *impl, const uk_key_ref *ref, const uint8_t *digest_info,
                            size_t len, uint8_t *out, size_t *out_len)
{
    return sign(impl, ref, CKM_RSA_PKCS, digest_info, len, out, out_len);
}

static uk_rc p11_sign_raw(void *impl, const uk_key_ref *ref, uk_key_type type, const uint8_t *in,
                          size_t len, uint8_t *out, size_t *out_len)
{
    uint8_t raw[2 * 66];
    size_t rl = sizeof(raw);
    uk_rc rc;

    if (type != UK_KEY_P256 && type != UK_KEY_P384) {
        return UK_E_UNSUPPORTED; /* RSA goes through sign_pkcs1 */
    }
    rc = sign(impl, ref, CKM_ECDSA, in, len, raw, &rl);
    if (rc == UK_OK) {
        rc = uk_p11_ecdsa_der(raw, rl, out, out_len);
    }
    return rc;
}

/* ---- certificate objects ---- */

/* A label for a certificate: its subject's CN, as other middleware shows. */
static void cert_label(X509 *x, char *out, size_t cap)
{
    X509_NAME *nm = X509_get_subject_name(x);
    int i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    int n = -1;

    if (i >= 0) {
        n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i)));
    }
    if (n > 0) {
        snprintf(out, cap, "%.*s", n, (const char *)utf8);
    } else {
        snprintf(out, cap, "Certificate");
    }
    OPENSSL_free(utf8);
}

/* The certificate's key must be the key at ref (its public key object). */
static uk_rc key_matches(struct p11 *p, const uk_key_ref *ref, X509 *x)
{
    CK_OBJECT_HANDLE objs[2];
    size_t n = 0;
    EVP_PKEY *pub = NULL;
    uk_rc rc = find_by_id(p, CKO_PUBLIC_KEY, ref, objs, 2, &n);

    if (rc != UK_OK || n == 0) {
        return rc; /* no public key object: nothing to check against */
    }
    rc = public_key(p, objs[0], &pub);
    if (rc == UK_OK && EVP_PKEY_eq(pub, X509_get0_pubkey(x)) != 1) {
        uk_warn("certificate refused: its key is not the key with this CKA_ID");
        rc = UK_E_CERT_KEY_MISMATCH;
    }
    EVP_PKEY_free(pub);
    return rc == UK_E_UNSUPPORTED ? UK_OK : rc;
}

static uk_rc p11_cert_write(void *impl, const uk_key_ref *ref, const uint8_t *der, size_t len)
{
    struct p11 *p = impl;
    const uint8_t *q = der;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    unsigned char *subj = NULL;
    unsigned char *iss = NULL;
    unsigned char *serial = NULL;
    int subj_len;
    int iss_len;
    int serial_len;
    char label[128];
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_CERTIFICATE_TYPE ct = CKC_X_509;
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL no = CK_FALSE;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    uk_rc rc = UK_E_MALFORMED;

    if (x == NULL || q != der + len) {
        goto out;
    }
    subj_len = i2d_X509_NAME(X509_get_subject_name(x), &subj);
    iss_len = i2d_X509_NAME(X509_get_issuer_name(x), &iss);
    serial_len = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &serial);
    if (subj_len <= 0 || iss_len <= 0 || serial_len <= 0) {
        goto out;
    }
    cert_label(x, label, sizeof(label));
    rc = key_matches(p, ref, x);
    if (rc == UK_OK) {
        /* what OpenSC, NSS and p11-kit expect of an X.509 certificate
         * object (PKCS#11 2.40 4.6.3): subject/issuer/serial DER */
        CK_ATTRIBUTE t[] = {
            {CKA_CLASS, &cls, sizeof(cls)},
            {CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)},
            {CKA_TOKEN, &yes, sizeof(yes)},
            {CKA_PRIVATE, &no, sizeof(no)},
            {CKA_ID, unconst(ref->id), ref->len},
            {CKA_LABEL, label, strlen(label)},
            {CKA_SUBJECT, subj, (CK_ULONG)subj_len},
            {CKA_ISSUER, iss, (CK_ULONG)iss_len},
            {CKA_SERIAL_NUMBER, serial, (CK_ULONG)serial_len},
            {CKA_VALUE, unconst(der), len},
        };
        rc = ck(p, p->f->C_CreateObject(p->s, t, sizeof(t) / sizeof(t[0]), &h), "C_CreateObject");
    }
    cache_drop(p);
    if (rc == UK_OK) {
        /* the new object first, then the old ones at this CKA_ID go: an
         * interruption leaves both, never neither */
        p->last_written = h;
        rc = destroy_all(p, CKO_CERTIFICATE, ref, h);
    }
out:
    OPENSSL_free(subj);
    OPENSSL_free(iss);
    OPENSSL_free(serial);
    X509_free(x);
    return rc;
}

static uk_rc p11_cert_delete(void *impl, const uk_key_ref *ref)
{
    struct p11 *p = impl;

    cache_drop(p);
    return destroy_all(p, CKO_CERTIFICATE, ref, CK_INVALID_HANDLE);
}

/* Fresh random CKA_IDs that no object on the token has. */
static uk_rc p11_staging_refs(void *impl, uk_key_ref *refs, size_t max, size_t *n)
{
    struct p11 *p = impl;
    size_t want = max < 4 ? max : 4;

    *n = 0;
    while (*n < want) {
        uk_key_ref r;
        CK_OBJECT_HANDLE o[1];
        size_t found = 0;
        CK_ATTRIBUTE t = {CKA_ID, r.id, 16};
        uk_rc rc;

        memset(&r, 0, sizeof(r));
        r.len = 16;
        if (RAND_bytes(r.id, (int)r.len) != 1) {
            return UK_E_CRYPTO;
        }
        rc = find(p, &t, 1, o, 1, &found);
        if (rc != UK_OK) {
            return rc;
        }
        if (found == 0) {
            refs[(*n)++] = r;
        }
    }
    return UK_OK;
}

/* The key pair at ref gets the certificate's label and subject, so that
 * middleware listing keys names it like the certificate. */
static uk_rc p11_publish(void *impl, const uk_key_ref *ref)
{
    struct p11 *p = impl;
    uk_buf der;
    X509 *x = NULL;
    const uint8_t *q;
    unsigned char *subj = NULL;
    int subj_len = -1;
    char label[128];
    uk_rc rc;

    uk_buf_init(&der, ATTR_MAX, false);
    rc = p11_cert_read(p, ref, &der);
    if (rc == UK_OK) {
        q = der.data;
        x = d2i_X509(NULL, &q, (long)der.len);
        rc = x != NULL ? UK_OK : UK_E_MALFORMED;
    }
    if (rc == UK_OK) {
        subj_len = i2d_X509_NAME(X509_get_subject_name(x), &subj);
        cert_label(x, label, sizeof(label));
    }
    for (int k = 0; rc == UK_OK && subj_len > 0 && k < 2; k++) {
        CK_OBJECT_HANDLE objs[4];
        size_t n = 0;
        CK_ATTRIBUTE t[] = {
            {CKA_LABEL, label, strlen(label)},
            {CKA_SUBJECT, subj, (CK_ULONG)subj_len},
        };
        rc = find_by_id(p, k == 0 ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY, ref, objs, 4, &n);
        for (size_t i = 0; rc == UK_OK && i < n; i++) {
            if (ck(p, p->f->C_SetAttributeValue(p->s, objs[i], t, 2), "C_SetAttributeValue") !=
                UK_OK) {
                uk_info("key object keeps its label: the module refuses to change it");
            }
        }
    }
    OPENSSL_free(subj);
    X509_free(x);
    uk_buf_free(&der);
    return rc;
}

/* ---- PIN ---- */

static uk_rc user_flags(struct p11 *p, int *tries, bool so)
{
    CK_TOKEN_INFO ti;
    bool low;
    uk_rc rc = ck(p, p->f->C_GetTokenInfo(p->slot, &ti), "C_GetTokenInfo");

    if (rc != UK_OK) {
        return rc;
    }
    if (so) {
        /* the SO flags are the user flags shifted by 4 (2.40 3.2, Table 8) */
        return uk_p11_pin_flags((ti.flags >> 4) & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY |
                                                   CKF_USER_PIN_LOCKED),
                                tries, &low);
    }
    return uk_p11_pin_flags(ti.flags, tries, &low);
}

static bool logged_in(struct p11 *p, CK_USER_TYPE *who)
{
    CK_SESSION_INFO si;

    if (ck(p, p->f->C_GetSessionInfo(p->s, &si), "C_GetSessionInfo") != UK_OK) {
        return false;
    }
    *who = si.state == CKS_RW_SO_FUNCTIONS ? CKU_SO : CKU_USER;
    return si.state == CKS_RW_USER_FUNCTIONS || si.state == CKS_RO_USER_FUNCTIONS ||
           si.state == CKS_RW_SO_FUNCTIONS;
}

static uk_rc p11_pin_status(void *impl, int *tries, bool *verified)
{
    struct p11 *p = impl;
    CK_USER_TYPE who = CKU_USER;
    uk_rc rc = user_flags(p, tries, false);

    *verified = rc == UK_OK && logged_in(p, &who) && who == CKU_USER;
    return rc;
}

/* After a refused PIN: the state the token reports now. */
static uk_rc pin_failure(struct p11 *p, uk_rc rc, int *tries, bool so)
{
    int t = -1;

    if (rc == UK_E_PIN_INCORRECT || rc == UK_E_PIN_BLOCKED) {
        if (user_flags(p, &t, so) == UK_E_PIN_BLOCKED || rc == UK_E_PIN_BLOCKED) {
            rc = UK_E_PIN_BLOCKED;
            t = 0;
        }
        *tries = t;
        if (so) {
            rc = rc == UK_E_PIN_BLOCKED ? UK_E_PUK_BLOCKED : UK_E_PUK_INCORRECT;
        }
    }
    return rc;
}

static uk_rc login(struct p11 *p, CK_USER_TYPE who, const char *pin, int *tries)
{
    CK_USER_TYPE cur = CKU_USER;
    uk_rc rc;

    if (logged_in(p, &cur)) {
        /* log out so the PIN is really checked, not taken as already good */
        (void)ck(p, p->f->C_Logout(p->s), "C_Logout");
    }
    rc = ck(p, p->f->C_Login(p->s, who, unconst(pin), (CK_ULONG)strlen(pin)), "C_Login");
    return pin_failure(p, rc, tries, who == CKU_SO);
}

static uk_rc p11_pin_verify(void *impl, const char *pin, int *tries)
{
    struct p11 *p = impl;
    uk_rc rc = login(p, CKU_USER, pin, tries);

    uk_memzero(p->ctx_pin, sizeof(p->ctx_pin));
    p->ctx_pin_set = false;
    if (rc == UK_OK && strlen(pin) < sizeof(p->ctx_pin)) {
        memcpy(p->ctx_pin, pin, strlen(pin));
        p->ctx_pin_set = true;
    }
    return rc;
}

static uk_rc p11_pin_change(void *impl, const char *old_pin, const char *new_pin, int *tries)
{
    struct p11 *p = impl;
    uk_rc rc = ck(p,
                  p->f->C_SetPIN(p->s, unconst(old_pin), (CK_ULONG)strlen(old_pin),
                                 unconst(new_pin), (CK_ULONG)strlen(new_pin)),
                  "C_SetPIN");

    return pin_failure(p, rc, tries, false);
}

/* The PUK of a PKCS#11 token is its SO PIN: log in as SO, C_InitPIN. */
static uk_rc p11_pin_unblock(void *impl, const char *puk, const char *new_pin, int *tries)
{
    struct p11 *p = impl;
    uk_rc rc = login(p, CKU_SO, puk, tries);

    if (rc == UK_OK) {
        rc = ck(p, p->f->C_InitPIN(p->s, unconst(new_pin), (CK_ULONG)strlen(new_pin)), "C_InitPIN");
        (void)ck(p, p->f->C_Logout(p->s), "C_Logout");
    }
    return rc;
}

/* No management key: writing objects needs the user's login only. */
static uk_rc p11_admin_auth(void *impl, const uk_admin_key *key)
{
    (void)impl;
    (void)key;
    return UK_OK;
}

static unsigned long p11_calls(const void *impl)
{
    return ((const struct p11 *)impl)->calls;
}

static uk_rc p11_open_reader(uk_pcsc *ctx, const char *reader, void **impl, uk_token_info *info)
{
    (void)ctx;
    (void)reader;
    (void)impl;
    (void)info;
    return UK_E_CARD_UNSUPPORTED; /* PKCS#11 tokens are opened by slot */
}

const uk_driver uk_driver_p11 = {
    .name = "pkcs11",
    .open = p11_open_reader,
    .close = p11_close,
    .certs = p11_certs,
    .pin_status = p11_pin_status,
    .pin_verify = p11_pin_verify,
    .pin_change = p11_pin_change,
    .pin_unblock = p11_pin_unblock,
    .admin_auth = p11_admin_auth,
    .key_generate = p11_key_generate,
    .sign_raw = p11_sign_raw,
    .sign_pkcs1 = p11_sign_pkcs1,
    .cert_read = p11_cert_read,
    .cert_write = p11_cert_write,
    .cert_delete = p11_cert_delete,
    .key_delete = p11_key_delete,
    .staging_refs = p11_staging_refs,
    .publish = p11_publish,
    .apdu_count = p11_calls,
};
