// SPDX-License-Identifier: MIT
/*
 * Online renewal as a journaled transaction (DESIGN.md section 5):
 * renew.begin, renew.install, renew.pending and renew.cancel.
 *
 * The token is the truth. Right after GENERATE, begin writes a placeholder
 * certificate into the staging slot: self-signed by the new key, subject
 * "CN=ukeyd staged key, serialNumber=<renewalId>, description=renews
 * <old certId>". It carries the staged key's public key (PIV cannot read a
 * public key back), the renewal's id and the certificate being renewed, so
 * install, pending and cancel work from the token alone, journal or not.
 *
 * The journal (one record per renewal, see uk_rpc_journal in uk/rpc.h) adds what the
 * token cannot hold: the CSR and proof handed out, the challenge, the
 * state. A record is written before each step that changes the card:
 *
 *   generating  begin decided on a slot; GENERATE may have run. The CSR
 *               was never handed out, so begin may GENERATE there again.
 *   requested   the CSR was handed out: the staged key is never replaced;
 *               only cancel or an install ends it.
 *   installing  install is writing an issued certificate (kept in the
 *               record, so recovery can finish without the hall).
 *   staged      rebuilt from a placeholder found on the token alone.
 *
 * Nothing secret is in a record: no PIN, no private key.
 */
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "uk/log.h"
#include "uk/mem.h"

#define PLACEHOLDER_CN "ukeyd staged key"
#define RENEWS "renews "
#define ID_LEN 32
#define CERT_ID_LEN 64
#define MAX_STAGED 32
#define MAX_CHAIN 8
#define PLACEHOLDER_DAYS 3650
/* an issued certificate may start this much after the PC's clock */
#define CLOCK_SKEW 300

/* A staged key found on the token by its placeholder. */
typedef struct staged {
    uk_key_ref ref;
    char id[ID_LEN + 1];
    char old_id[CERT_ID_LEN + 1]; /* "" when the placeholder does not say */
    EVP_PKEY *pub;
} staged;

typedef struct staged_set {
    staged s[MAX_STAGED];
    size_t n;
} staged_set;

static void staged_free(staged_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        EVP_PKEY_free(set->s[i].pub);
    }
    set->n = 0;
}

/* ---- small helpers ---- */

static bool ref_eq(const uk_key_ref *a, const uk_key_ref *b)
{
    return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

static void ref_hex(const uk_key_ref *ref, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < ref->len && o + 2 < cap; i++) {
        out[o++] = digits[ref->id[i] >> 4];
        out[o++] = digits[ref->id[i] & 15];
    }
    out[o] = '\0';
}

static bool ref_parse(const char *hex, uk_key_ref *ref)
{
    size_t n = hex != NULL ? strlen(hex) : 0;

    if (n == 0 || n % 2 != 0 || n / 2 > sizeof(ref->id)) {
        return false;
    }
    ref->len = n / 2;
    for (size_t i = 0; i < ref->len; i++) {
        unsigned v = 0;
        for (size_t k = 0; k < 2; k++) {
            char c = hex[2 * i + k];
            v <<= 4;
            if (c >= '0' && c <= '9') {
                v |= (unsigned)(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                v |= (unsigned)(c - 'a' + 10);
            } else {
                return false;
            }
        }
        ref->id[i] = (uint8_t)v;
    }
    return true;
}

static void progress(uk_rpc_token_env *env, const char *id, const char *stage)
{
    if (env->progress != NULL) {
        env->progress(env->progress_ctx, uk_token_info_get(env->tok)->id, id, stage);
    }
}

static const char *rec_str(const cJSON *rec, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool str_is(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Replaces (or adds) a string member. */
static bool set_str(cJSON *o, const char *key, const char *value)
{
    cJSON *v = cJSON_CreateString(value);

    if (v == NULL) {
        return false;
    }
    if (cJSON_GetObjectItemCaseSensitive(o, key) != NULL) {
        return cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    }
    if (!cJSON_AddItemToObject(o, key, v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

static bool set_time(cJSON *o, const char *key, int64_t t)
{
    char buf[32];

    return uk_rpc_time_iso8601(t, buf, sizeof(buf)) == UK_OK && set_str(o, key, buf);
}

/* DER as PEM text under label; caller frees with free(). */
static char *pem_text(const char *label, const uint8_t *der, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    char *data = NULL;
    long n;

    if (b != NULL && len <= (size_t)INT32_MAX && PEM_write_bio(b, label, "", der, (long)len) > 0) {
        n = BIO_get_mem_data(b, &data);
        out = n > 0 ? malloc((size_t)n + 1) : NULL;
        if (out != NULL) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(b);
    return out;
}

static bool set_pem(cJSON *o, const char *key, const char *label, const uint8_t *der, size_t len)
{
    char *pem = pem_text(label, der, len);
    bool ok = pem != NULL && set_str(o, key, pem);

    free(pem);
    return ok;
}

static bool set_pubkey(cJSON *o, const char *key, EVP_PKEY *pub)
{
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(pub, &der);
    bool ok = n > 0 && set_pem(o, key, "PUBLIC KEY", der, (size_t)n);

    OPENSSL_free(der);
    return ok;
}

static bool set_cert(cJSON *o, const char *key, X509 *x)
{
    uint8_t *der = NULL;
    int n = i2d_X509(x, &der);
    bool ok = n > 0 && set_pem(o, key, "CERTIFICATE", der, (size_t)n);

    OPENSSL_free(der);
    return ok;
}

/* A public key back from a record's PEM; NULL if absent or bad. */
static EVP_PKEY *rec_pubkey(const cJSON *rec)
{
    const char *pem = rec_str(rec, "publicKey");
    EVP_PKEY *pub = NULL;
    BIO *b;

    if (pem == NULL) {
        return NULL;
    }
    b = BIO_new_mem_buf(pem, -1);
    if (b != NULL) {
        pub = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    }
    BIO_free(b);
    return pub;
}

static X509 *x509_of(const uint8_t *der, size_t len)
{
    const uint8_t *p = der;
    X509 *x;

    if (der == NULL || len == 0 || len > (size_t)INT32_MAX) {
        return NULL;
    }
    x = d2i_X509(NULL, &p, (long)len);
    if (x != NULL && p != der + len) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

/* The value of the first attribute nid of name, as a NUL-terminated copy
 * into out; false when absent or too long. */
static bool name_attr(const X509_NAME *name, int nid, char *out, size_t cap)
{
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    const ASN1_STRING *v;
    int n;

    if (i < 0) {
        return false;
    }
    v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    n = ASN1_STRING_length(v);
    if (n < 0 || (size_t)n >= cap) {
        return false;
    }
    memcpy(out, ASN1_STRING_get0_data(v), (size_t)n);
    out[n] = '\0';
    return strlen(out) == (size_t)n;
}

static bool hex_ok(const char *s, size_t len)
{
    if (strlen(s) != len) {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* Reads a placeholder: its renewal id, the renewed certificate's id and
 * the staged public key. false for any other certificate. */
static bool placeholder_read(const uint8_t *der, size_t len, staged *out)
{
    X509 *x = x509_of(der, len);
    const X509_NAME *subject;
    char cn[64];
    char desc[128];
    EVP_PKEY *pub;
    bool ok = false;

    if (x == NULL) {
        return false;
    }
    subject = X509_get_subject_name(x);
    memset(out, 0, sizeof(*out));
    pub = X509_get0_pubkey(x);
    if (name_attr(subject, NID_commonName, cn, sizeof(cn)) && strcmp(cn, PLACEHOLDER_CN) == 0 &&
        name_attr(subject, NID_serialNumber, out->id, sizeof(out->id)) && hex_ok(out->id, ID_LEN) &&
        X509_NAME_cmp(subject, X509_get_issuer_name(x)) == 0 && pub != NULL &&
        X509_verify(x, pub) == 1) {
        if (name_attr(subject, NID_description, desc, sizeof(desc)) &&
            strncmp(desc, RENEWS, strlen(RENEWS)) == 0 &&
            hex_ok(desc + strlen(RENEWS), CERT_ID_LEN)) {
            memcpy(out->old_id, desc + strlen(RENEWS), CERT_ID_LEN + 1);
        }
        out->pub = X509_get_pubkey(x);
        ok = out->pub != NULL;
    }
    X509_free(x);
    return ok;
}

bool uk_rpc_is_placeholder(const uint8_t *der, size_t len)
{
    staged s;
    bool ok = placeholder_read(der, len, &s);

    EVP_PKEY_free(s.pub);
    return ok;
}

/* The placeholders on the token. */
static uk_rc staged_scan(uk_token *tok, staged_set *set)
{
    const uk_token_cert *list = NULL;
    size_t count = 0;
    uk_rc rc = uk_token_certs(tok, &list, &count);

    set->n = 0;
    for (size_t i = 0; rc == UK_OK && i < count && set->n < MAX_STAGED; i++) {
        staged *s = &set->s[set->n];
        if (placeholder_read(list[i].der, list[i].der_len, s)) {
            s->ref = list[i].key;
            set->n++;
        }
    }
    return rc;
}

static staged *staged_by_id(staged_set *set, const char *id)
{
    for (size_t i = 0; id != NULL && i < set->n; i++) {
        if (strcmp(set->s[i].id, id) == 0) {
            return &set->s[i];
        }
    }
    return NULL;
}

/* The certificate (not a placeholder) with this id, from the cache. */
static const uk_token_cert *cert_by_id(const uk_token_cert *list, size_t count, const char *id)
{
    for (size_t i = 0; id != NULL && i < count; i++) {
        if (strcmp(list[i].id, id) == 0 && !uk_rpc_is_placeholder(list[i].der, list[i].der_len)) {
            return &list[i];
        }
    }
    return NULL;
}

/* This token's journal records (an array the caller deletes). */
static uk_rc records_load(uk_rpc_token_env *env, cJSON **out, size_t *damaged)
{
    const char *token_id = uk_token_info_get(env->tok)->id;
    cJSON *all = NULL;
    cJSON *mine = cJSON_CreateArray();
    cJSON *next;
    uk_rc rc;

    *out = NULL;
    if (mine == NULL) {
        return UK_E_NOMEM;
    }
    rc = env->journal->list(env->journal->ctx, &all, damaged);
    if (rc != UK_OK) {
        cJSON_Delete(mine);
        return rc;
    }
    for (cJSON *r = all->child; r != NULL; r = next) {
        next = r->next;
        if (str_is(rec_str(r, "tokenId"), token_id)) {
            cJSON_AddItemToArray(mine, cJSON_DetachItemViaPointer(all, r));
        }
    }
    cJSON_Delete(all);
    *out = mine;
    return UK_OK;
}

static cJSON *record_by_id(cJSON *records, const char *id)
{
    for (cJSON *r = records != NULL ? records->child : NULL; r != NULL; r = r->next) {
        if (str_is(rec_str(r, "id"), id)) {
            return r;
        }
    }
    return NULL;
}

/* Writes rec as id's record (a copy without the "id" member list adds). */
static uk_rc record_put(uk_rpc_token_env *env, const char *id, cJSON *rec, const char *state)
{
    cJSON *copy;
    uk_rc rc;

    if (!set_str(rec, "state", state) || !set_time(rec, "updatedAt", env->now)) {
        return UK_E_NOMEM;
    }
    copy = cJSON_Duplicate(rec, true);
    if (copy == NULL) {
        return UK_E_NOMEM;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "id");
    rc = env->journal->put(env->journal->ctx, id, copy);
    cJSON_Delete(copy);
    if (rc != UK_OK) {
        uk_err("journal record %s not written: %s", id, uk_rc_name(rc));
    } else {
        uk_info("renewal %s: %s", id, state);
    }
    return rc;
}

static void record_drop(uk_rpc_token_env *env, const char *id)
{
    uk_rc rc = env->journal->remove(env->journal->ctx, id);

    if (rc != UK_OK && rc != UK_E_NOT_FOUND) {
        uk_warn("journal record %s not removed: %s", id, uk_rc_name(rc));
    } else if (rc == UK_OK) {
        uk_info("renewal %s: journal record removed", id);
    }
}

/* A new record for the token. */
static cJSON *record_new(uk_rpc_token_env *env, const char *id)
{
    cJSON *rec = cJSON_CreateObject();

    if (rec == NULL || cJSON_AddNumberToObject(rec, "version", 1) == NULL ||
        !set_str(rec, "id", id) || !set_str(rec, "tokenId", uk_token_info_get(env->tok)->id) ||
        !set_time(rec, "createdAt", env->now)) {
        cJSON_Delete(rec);
        return NULL;
    }
    return rec;
}

/* The management key: the PIN-protected one where the card keeps it there,
 * else the factory default (3DES, AES-192 on cards that default to it). */
static uk_rc admin_auth(uk_token *tok)
{
    uk_admin_key k = {.alg = 0x03, .len = 24};
    uk_rc rc = uk_token_admin_auth(tok, NULL);

    if (rc != UK_E_NOT_FOUND) {
        return rc;
    }
    for (size_t i = 0; i < 24; i++) {
        k.key[i] = (uint8_t)(i % 8 + 1);
    }
    rc = uk_token_admin_auth(tok, &k);
    if (rc != UK_OK && rc != UK_E_CARD_REMOVED) {
        k.alg = 0x0A;
        rc = uk_token_admin_auth(tok, &k);
    }
    uk_memzero(&k, sizeof(k));
    if (rc != UK_OK && rc != UK_E_CARD_REMOVED) {
        uk_warn("management key: neither PIN-protected nor the factory default: %s",
                uk_rc_name(rc));
        rc = UK_E_AUTH_FAILED;
    }
    return rc;
}

/* Signing with a key on the token for OpenSSL-built structures. A key
 * whose PIN policy is "always" (PIV 9C) answers SECURITY_STATUS until the
 * PIN is verified right before: then verify and sign once more. */
typedef struct signer {
    uk_token *tok;
    uk_key_ref ref;
    uk_key_type type;
    const char *pin;
} signer;

static uk_rc sign_cb(void *ctx, int md_nid, const uint8_t *digest, size_t len, uint8_t *sig,
                     size_t *sig_len)
{
    signer *s = ctx;
    size_t cap = *sig_len;
    int tries = -1;
    uk_rc rc = uk_token_sign(s->tok, &s->ref, s->type, md_nid, digest, len, sig, sig_len);

    if (rc == UK_E_SECURITY_STATUS && s->pin != NULL) {
        rc = uk_token_pin_verify(s->tok, s->pin, &tries);
        if (rc == UK_OK) {
            *sig_len = cap;
            rc = uk_token_sign(s->tok, &s->ref, s->type, md_nid, digest, len, sig, sig_len);
        }
    }
    return rc;
}

/* A signature by the key at ref over SHA-256(data), checked with pub. */
static uk_rc sign_check(signer *s, EVP_PKEY *pub, const uint8_t *data, size_t len, uint8_t *sig,
                        size_t *sig_len)
{
    uint8_t md[32];
    EVP_MD_CTX *v = NULL;
    uk_rc rc = UK_E_CRYPTO;

    if (EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) != 1) {
        return UK_E_CRYPTO;
    }
    rc = sign_cb(s, NID_sha256, md, sizeof(md), sig, sig_len);
    if (rc != UK_OK) {
        return rc;
    }
    v = EVP_MD_CTX_new();
    if (v == NULL || EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, pub) != 1 ||
        EVP_DigestVerify(v, sig, *sig_len, data, len) != 1) {
        rc = UK_E_CRYPTO;
    }
    EVP_MD_CTX_free(v);
    return rc;
}

static const char *proof_alg(uk_key_type type)
{
    return type == UK_KEY_RSA1024 || type == UK_KEY_RSA2048 ? "sha256WithRSAEncryption"
                                                            : "ecdsa-with-SHA256";
}

static bool set_b64(cJSON *o, const char *key, const uint8_t *data, size_t len)
{
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    bool ok = b64 != NULL && len <= (size_t)INT32_MAX &&
              EVP_EncodeBlock((unsigned char *)b64, data, (int)len) >= 0 && set_str(o, key, b64);

    free(b64);
    return ok;
}

/* {notBefore, notAfter} of a certificate for an error's data. */
static cJSON *validity_extra(int64_t not_before, int64_t not_after)
{
    cJSON *o = cJSON_CreateObject();

    if (o != NULL &&
        (!set_time(o, "notBefore", not_before) || !set_time(o, "notAfter", not_after))) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

static cJSON *id_extra(const char *key, const char *id)
{
    cJSON *o = cJSON_CreateObject();

    if (o != NULL && !set_str(o, key, id)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

/* ---- cert.list: which certificate is current ---- */

/* Does b replace a (same subject, ends later; a tie goes to the later
 * start)? */
static bool supersedes(const uk_cert_info *b, const uk_cert_info *a)
{
    return strcmp(a->subject, b->subject) == 0 &&
           (b->not_after > a->not_after ||
            (b->not_after == a->not_after && b->not_before > a->not_before));
}

void uk_rpc_mark_current(cJSON *arr, const uk_token_cert *const *certs, size_t n)
{
    uk_cert_info *info = n > 0 ? calloc(n, sizeof(*info)) : NULL;
    bool *ok = n > 0 ? calloc(n, sizeof(*ok)) : NULL;
    size_t i = 0;

    if (n > 0 && (info == NULL || ok == NULL)) {
        free(info);
        free(ok);
        return;
    }
    for (i = 0; i < n; i++) {
        ok[i] = uk_cert_parse(certs[i]->der, certs[i]->der_len, &info[i]) == UK_OK;
    }
    i = 0;
    for (cJSON *c = arr != NULL ? arr->child : NULL; c != NULL && i < n; c = c->next, i++) {
        const char *by = NULL;
        cJSON *renewal;

        for (size_t k = 0; k < n && ok[i]; k++) {
            if (k != i && ok[k] && supersedes(&info[k], &info[i])) {
                by = info[k].fingerprint;
            }
        }
        cJSON_AddBoolToObject(c, "current", by == NULL);
        renewal = cJSON_GetObjectItemCaseSensitive(c, "renewal");
        if (by != NULL && cJSON_IsObject(renewal)) {
            cJSON_ReplaceItemInObjectCaseSensitive(renewal, "eligible", cJSON_CreateFalse());
            set_str(renewal, "reason", "SUPERSEDED");
            set_str(renewal, "supersededBy", by);
        }
    }
    free(info);
    free(ok);
}

/* ---- renew.begin ---- */

/* The placeholder's subject for a renewal. */
static X509_NAME *placeholder_name(const char *id, const char *old_id)
{
    X509_NAME *n = X509_NAME_new();
    char desc[sizeof(RENEWS) + CERT_ID_LEN];

    snprintf(desc, sizeof(desc), "%s%s", RENEWS, old_id);
    if (n == NULL ||
        !X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC,
                                    (const unsigned char *)PLACEHOLDER_CN, -1, -1, 0) ||
        !X509_NAME_add_entry_by_NID(n, NID_serialNumber, MBSTRING_ASC, (const unsigned char *)id,
                                    -1, -1, 0) ||
        !X509_NAME_add_entry_by_NID(n, NID_description, MBSTRING_ASC, (const unsigned char *)desc,
                                    -1, -1, 0)) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

static bool random_id(char out[ID_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t r[ID_LEN / 2];

    if (RAND_bytes(r, sizeof(r)) != 1) {
        return false;
    }
    for (size_t i = 0; i < sizeof(r); i++) {
        out[2 * i] = digits[r[i] >> 4];
        out[2 * i + 1] = digits[r[i] & 15];
    }
    out[ID_LEN] = '\0';
    return true;
}

/* What begin knows about the certificate being renewed (copied out of the
 * token's cache, which a write invalidates). */
typedef struct old_cert {
    X509 *x;
    char id[CERT_ID_LEN + 1];
    uk_key_ref ref;
    uk_key_type type;
} old_cert;

/* Finds the certificate, checks it may be renewed now. */
static uk_rc begin_old(uk_rpc_token_env *env, const char *cert_id, old_cert *old, cJSON **extra)
{
    const uk_token_cert *list = NULL;
    const uk_token_cert *c;
    size_t count = 0;
    uk_cert_info *ci = NULL;
    uk_cert_info *other = NULL;
    uk_renew_window w;
    uk_rc rc = uk_token_certs(env->tok, &list, &count);

    if (rc != UK_OK) {
        return rc;
    }
    c = cert_by_id(list, count, cert_id);
    if (c == NULL) {
        return UK_E_NOT_FOUND;
    }
    ci = malloc(sizeof(*ci));
    other = malloc(sizeof(*other));
    if (ci == NULL || other == NULL) {
        rc = UK_E_NOMEM;
        goto out;
    }
    rc = uk_cert_parse(c->der, c->der_len, ci);
    if (rc != UK_OK) {
        goto out;
    }
    rc = uk_renew_window_get(ci->not_before, ci->not_after, env->now, &env->policy, &w);
    if (rc == UK_OK && !w.eligible) {
        *extra = validity_extra(ci->not_before, ci->not_after);
        if (*extra != NULL) {
            set_time(*extra, "opensAt", w.opens_at);
            set_time(*extra, "closesAt", w.closes_at);
        }
        rc = UK_E_RENEWAL_NOT_ALLOWED;
        goto out;
    }
    for (size_t i = 0; rc == UK_OK && i < count; i++) {
        if (&list[i] != c && !uk_rpc_is_placeholder(list[i].der, list[i].der_len) &&
            uk_cert_parse(list[i].der, list[i].der_len, other) == UK_OK && supersedes(other, ci)) {
            *extra = id_extra("supersededBy", list[i].id);
            rc = UK_E_RENEWAL_NOT_ALLOWED;
        }
    }
    if (rc != UK_OK) {
        goto out;
    }
    old->x = x509_of(c->der, c->der_len);
    old->type = old->x != NULL ? uk_key_type_of(X509_get0_pubkey(old->x)) : UK_KEY_NONE;
    old->ref = c->key;
    memcpy(old->id, c->id, sizeof(old->id));
    if (old->x == NULL) {
        rc = UK_E_MALFORMED;
    } else if (old->type == UK_KEY_NONE) {
        rc = UK_E_UNSUPPORTED;
    }
out:
    free(ci);
    free(other);
    return rc;
}

/* An unfinished renewal of the same certificate stops begin, except one
 * whose CSR was never handed out (journal state "generating"): its slot
 * is reused (*reuse_id, *reuse_ref). */
static uk_rc begin_pending(cJSON *records, staged_set *set, const char *old_id,
                           char reuse_id[ID_LEN + 1], uk_key_ref *reuse_ref, cJSON **extra)
{
    reuse_id[0] = '\0';
    for (cJSON *r = records->child; r != NULL; r = r->next) {
        const char *id = rec_str(r, "id");
        if (!str_is(rec_str(r, "oldCertId"), old_id) || id == NULL) {
            continue;
        }
        if (str_is(rec_str(r, "state"), "generating") && hex_ok(id, ID_LEN) &&
            ref_parse(rec_str(r, "slot"), reuse_ref)) {
            memcpy(reuse_id, id, ID_LEN + 1);
            continue;
        }
        *extra = id_extra("renewalId", id);
        return UK_E_RENEWAL_PENDING;
    }
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->s[i].old_id, old_id) == 0 && strcmp(set->s[i].id, reuse_id) != 0) {
            *extra = id_extra("renewalId", set->s[i].id);
            return UK_E_RENEWAL_PENDING;
        }
    }
    return UK_OK;
}

/* A staging slot with no certificate object that no record of this token
 * names. */
static uk_rc begin_slot(uk_token *tok, cJSON *records, uk_key_ref *out)
{
    uk_key_ref refs[MAX_STAGED];
    const uk_token_cert *list = NULL;
    size_t count = 0;
    size_t n = 0;
    uk_rc rc = uk_token_staging_refs(tok, refs, MAX_STAGED, &n);

    if (rc == UK_OK) {
        rc = uk_token_certs(tok, &list, &count);
    }
    for (size_t i = 0; rc == UK_OK && i < n && i < MAX_STAGED; i++) {
        bool used = false;
        for (size_t k = 0; k < count && !used; k++) {
            used = ref_eq(&list[k].key, &refs[i]);
        }
        for (cJSON *r = records->child; r != NULL && !used; r = r->next) {
            uk_key_ref rr;
            used = ref_parse(rec_str(r, "slot"), &rr) && ref_eq(&rr, &refs[i]);
        }
        if (!used) {
            *out = refs[i];
            return UK_OK;
        }
    }
    return rc != UK_OK ? rc : UK_E_NO_FREE_SLOT;
}

/* May begin GENERATE again at ref for the interrupted renewal id? Only if
 * the slot's object is empty or that renewal's own placeholder. */
static bool slot_reusable(uk_token *tok, const uk_key_ref *ref, const char *id)
{
    const uk_token_cert *list = NULL;
    size_t count = 0;
    staged s;
    bool ok;

    if (uk_token_certs(tok, &list, &count) != UK_OK) {
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        if (ref_eq(&list[i].key, ref)) {
            ok = placeholder_read(list[i].der, list[i].der_len, &s) && strcmp(s.id, id) == 0;
            EVP_PKEY_free(s.pub);
            return ok;
        }
    }
    return true;
}

/* GENERATE, placeholder, CSR, proof: the card work of begin, recorded in
 * rec as it goes. */
static uk_rc begin_card(uk_rpc_token_env *env, const uk_rpc_req *req, const char *id,
                        const old_cert *old, const uk_key_ref *ref, uk_key_type type, cJSON *rec)
{
    const char *challenge = uk_rpc_param_str(req, "challenge");
    const char *pin = uk_rpc_param_str(req, "pin");
    signer s_new = {env->tok, *ref, type, pin};
    signer s_old = {env->tok, old->ref, old->type, pin};
    EVP_PKEY *pub = NULL;
    X509_NAME *ph_name = NULL;
    uint8_t *ph = NULL;
    uint8_t *csr = NULL;
    uint8_t *msg = NULL;
    size_t ph_len = 0;
    size_t csr_len = 0;
    size_t clen = strlen(challenge);
    uint8_t sig[512];
    size_t sig_len = sizeof(sig);
    cJSON *proof;
    uk_rc rc;

    progress(env, id, "generatingKey");
    rc = uk_token_key_generate(env->tok, ref, type, &pub);
    if (rc != UK_OK) {
        goto out;
    }
    progress(env, id, "storingPublicKey");
    ph_name = placeholder_name(id, old->id);
    rc = ph_name == NULL ? UK_E_NOMEM
                         : uk_cert_build_self_signed(pub, ph_name, env->now,
                                                     env->now + PLACEHOLDER_DAYS * 86400LL, sign_cb,
                                                     &s_new, &ph, &ph_len);
    if (rc == UK_OK) {
        rc = uk_token_cert_write(env->tok, ref, ph, ph_len);
    }
    if (rc != UK_OK) {
        goto out;
    }
    progress(env, id, "signingRequest");
    rc = uk_csr_build(pub, X509_get_subject_name(old->x), NULL, sign_cb, &s_new, &csr, &csr_len);
    if (rc != UK_OK) {
        goto out;
    }
    /* the proof: the OLD key over SHA-256(challenge || CSR DER) */
    msg = malloc(clen + csr_len);
    if (msg == NULL) {
        rc = UK_E_NOMEM;
        goto out;
    }
    memcpy(msg, challenge, clen);
    memcpy(msg + clen, csr, csr_len);
    rc = sign_check(&s_old, X509_get0_pubkey(old->x), msg, clen + csr_len, sig, &sig_len);
    if (rc != UK_OK) {
        goto out;
    }
    proof = cJSON_CreateObject();
    if (proof == NULL || !set_str(proof, "algorithm", proof_alg(old->type)) ||
        !set_b64(proof, "signature", sig, sig_len) || !cJSON_AddItemToObject(rec, "proof", proof) ||
        !set_pubkey(rec, "publicKey", pub) ||
        !set_pem(rec, "csr", "CERTIFICATE REQUEST", csr, csr_len) ||
        !set_str(rec, "challenge", challenge)) {
        rc = UK_E_NOMEM;
    }
out:
    EVP_PKEY_free(pub);
    X509_NAME_free(ph_name);
    OPENSSL_free(ph);
    OPENSSL_free(csr);
    free(msg);
    return rc;
}

/* The answer: the record less what the hall does not need. */
static cJSON *begin_result(const cJSON *rec)
{
    static const char *const keep[] = {"id",  "slot",  "keyType",   "publicKey",
                                       "csr", "proof", "oldCertId", "createdAt"};
    cJSON *o = cJSON_CreateObject();

    for (size_t i = 0; o != NULL && i < sizeof(keep) / sizeof(keep[0]); i++) {
        cJSON *v = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(rec, keep[i]), true);
        if (v == NULL ||
            !cJSON_AddItemToObject(o, strcmp(keep[i], "id") == 0 ? "renewalId" : keep[i], v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

uk_rc uk_rpc_h_renew_begin(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                           cJSON **extra)
{
    const char *key_type = uk_rpc_param_str(req, "keyType");
    old_cert old = {0};
    staged_set set = {0};
    cJSON *records = NULL;
    cJSON *rec = NULL;
    char reuse_id[ID_LEN + 1] = "";
    char id[ID_LEN + 1];
    char slot[8];
    uk_key_ref ref;
    uk_key_type type;
    uk_rc rc;

    if (env->journal == NULL) {
        return UK_E_UNSUPPORTED;
    }
    rc = begin_old(env, uk_rpc_param_str(req, "certId"), &old, extra);
    if (rc == UK_OK) {
        rc = records_load(env, &records, NULL);
    }
    if (rc == UK_OK) {
        rc = staged_scan(env->tok, &set);
    }
    if (rc == UK_OK) {
        rc = begin_pending(records, &set, old.id, reuse_id, &ref, extra);
    }
    if (rc != UK_OK) {
        goto out;
    }
    type = key_type != NULL ? uk_key_type_parse(key_type) : old.type;
    progress(env, NULL, "verifyingPin");
    rc = uk_rpc_env_pin(env, req, extra);
    if (rc == UK_OK) {
        rc = admin_auth(env->tok);
    }
    if (rc == UK_OK && reuse_id[0] != '\0' && !slot_reusable(env->tok, &ref, reuse_id)) {
        uk_warn("renewal %s: its slot now holds another certificate; not reused", reuse_id);
        record_drop(env, reuse_id);
        reuse_id[0] = '\0';
        cJSON_Delete(records);
        rc = records_load(env, &records, NULL);
    }
    if (rc == UK_OK && reuse_id[0] == '\0') {
        rc = begin_slot(env->tok, records, &ref);
    }
    if (rc == UK_OK && !random_id(id)) {
        rc = UK_E_CRYPTO;
    }
    if (rc != UK_OK) {
        goto out;
    }
    /* journal first: from here the slot is this renewal's */
    ref_hex(&ref, slot, sizeof(slot));
    rec = record_new(env, id);
    if (rec == NULL || !set_str(rec, "oldCertId", old.id) ||
        !set_cert(rec, "oldCertificate", old.x) || !set_str(rec, "slot", slot) ||
        !set_str(rec, "keyType", uk_key_type_name(type))) {
        rc = UK_E_NOMEM;
        goto out;
    }
    rc = record_put(env, id, rec, "generating");
    if (rc != UK_OK) {
        goto out;
    }
    if (reuse_id[0] != '\0') {
        uk_info("renewal %s: reusing slot %s of %s (its request was never handed out)", id, slot,
                reuse_id);
        record_drop(env, reuse_id);
    }
    rc = begin_card(env, req, id, &old, &ref, type, rec);
    if (rc == UK_OK) {
        rc = record_put(env, id, rec, "requested");
    }
    if (rc == UK_OK) {
        *result = begin_result(rec);
        rc = *result != NULL ? UK_OK : UK_E_NOMEM;
    } else {
        uk_warn("renewal %s: begin stopped: %s", id, uk_rc_name(rc));
    }
out:
    X509_free(old.x);
    staged_free(&set);
    cJSON_Delete(records);
    cJSON_Delete(rec);
    return rc;
}

/* ---- renew.install ---- */

/* The certificates in the param: PEM blocks (a chain, any order) or one
 * base64 DER certificate. */
static uk_rc chain_parse(const char *in, STACK_OF(X509) * *out)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    uk_rc rc = UK_OK;

    *out = NULL;
    if (sk == NULL) {
        return UK_E_NOMEM;
    }
    if (strstr(in, "-----BEGIN") != NULL) {
        BIO *b = BIO_new_mem_buf(in, -1);
        X509 *x;
        while (b != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
            if (sk_X509_num(sk) >= MAX_CHAIN || !sk_X509_push(sk, x)) {
                X509_free(x);
                rc = UK_E_LIMIT;
                break;
            }
        }
        BIO_free(b);
    } else {
        size_t n = strlen(in);
        char *clean = malloc(n + 1);
        uint8_t *der = malloc(n / 4 * 3 + 3);
        size_t c = 0;
        int len;
        X509 *x = NULL;

        for (size_t i = 0; clean != NULL && i < n; i++) {
            if (in[i] != ' ' && in[i] != '\n' && in[i] != '\r' && in[i] != '\t') {
                clean[c++] = in[i];
            }
        }
        if (clean != NULL && der != NULL && c > 0 && c % 4 == 0 && c <= (size_t)INT32_MAX) {
            clean[c] = '\0';
            len = EVP_DecodeBlock(der, (const unsigned char *)clean, (int)c);
            /* EVP_DecodeBlock counts the padding as zero bytes */
            len -= (clean[c - 1] == '=') + (clean[c - 2] == '=');
            x = len > 0 ? x509_of(der, (size_t)len) : NULL;
        }
        if (x != NULL && !sk_X509_push(sk, x)) {
            X509_free(x);
            rc = UK_E_NOMEM;
        }
        free(clean);
        free(der);
    }
    ERR_clear_error();
    if (rc == UK_OK && sk_X509_num(sk) == 0) {
        rc = UK_E_MALFORMED;
    }
    if (rc != UK_OK) {
        sk_X509_pop_free(sk, X509_free);
        return rc;
    }
    *out = sk;
    return UK_OK;
}

static uk_rc der_of(X509 *x, uint8_t **der, size_t *len)
{
    int n = i2d_X509(x, der);

    if (n <= 0) {
        return UK_E_CRYPTO;
    }
    *len = (size_t)n;
    return UK_OK;
}

/* Is one of the chain's certificates already on the token (installed
 * before, perhaps by a run killed before its commit)? *x is that one. */
static uk_rc install_done(uk_rpc_token_env *env, STACK_OF(X509) * chain, uk_key_ref *ref,
                          char cert_id[CERT_ID_LEN + 1], X509 **x)
{
    const uk_token_cert *list = NULL;
    size_t count = 0;
    uk_rc rc = uk_token_certs(env->tok, &list, &count);

    *x = NULL;
    if (rc != UK_OK) {
        return rc;
    }
    for (int i = 0; i < sk_X509_num(chain); i++) {
        uint8_t *der = NULL;
        size_t len = 0;
        bool hit = false;

        if (der_of(sk_X509_value(chain, i), &der, &len) != UK_OK) {
            continue;
        }
        for (size_t k = 0; k < count && !hit; k++) {
            hit = list[k].der_len == len && memcmp(list[k].der, der, len) == 0;
            if (hit) {
                *ref = list[k].key;
                memcpy(cert_id, list[k].id, CERT_ID_LEN + 1);
            }
        }
        OPENSSL_free(der);
        if (hit) {
            *x = sk_X509_value(chain, i);
            return UK_OK;
        }
    }
    return UK_OK;
}

/* Finishes an install found done: the publish step may be what was cut
 * off; then the records of that key go. */
static uk_rc install_finish(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON *records,
                            const uk_key_ref *ref, const char *cert_id, X509 *x, cJSON **result,
                            cJSON **extra)
{
    char slot[8];
    uk_rc rc;

    progress(env, NULL, "verifyingPin");
    rc = uk_rpc_env_pin(env, req, extra);
    if (rc == UK_OK) {
        rc = admin_auth(env->tok);
    }
    if (rc == UK_OK) {
        rc = uk_token_publish(env->tok, ref);
    }
    if (rc != UK_OK) {
        return rc;
    }
    for (cJSON *r = records->child; r != NULL; r = r->next) {
        EVP_PKEY *pub = rec_pubkey(r);
        if (pub != NULL && EVP_PKEY_eq(pub, X509_get0_pubkey(x)) == 1) {
            record_drop(env, rec_str(r, "id"));
        }
        EVP_PKEY_free(pub);
    }
    ref_hex(ref, slot, sizeof(slot));
    *result = cJSON_CreateObject();
    if (*result == NULL || cJSON_AddTrueToObject(*result, "installed") == NULL ||
        cJSON_AddTrueToObject(*result, "alreadyInstalled") == NULL ||
        !set_str(*result, "certId", cert_id) || !set_str(*result, "slot", slot)) {
        return UK_E_NOMEM;
    }
    return UK_OK;
}

/* The subject the issued certificate must carry: the renewed one's, from
 * the token (the placeholder or the record names it). NULL when that
 * certificate is no longer on the token. */
static uk_rc install_old(uk_rpc_token_env *env, const staged *st, const cJSON *rec, X509 **out)
{
    const uk_token_cert *list = NULL;
    const uk_token_cert *c;
    size_t count = 0;
    const char *old_id;
    uk_rc rc;

    *out = NULL;
    if (st == NULL) {
        return UK_E_INVALID_ARG;
    }
    old_id = st->old_id[0] != '\0' ? st->old_id : rec_str(rec, "oldCertId");
    rc = uk_token_certs(env->tok, &list, &count);
    c = rc == UK_OK ? cert_by_id(list, count, old_id) : NULL;
    *out = c != NULL ? x509_of(c->der, c->der_len) : NULL;
    return rc;
}

/* Checks the leaf for the staged key st, before any card write. */
static uk_rc install_check(uk_rpc_token_env *env, X509 *leaf, X509 *old, cJSON **extra)
{
    uk_cert_info *ci = malloc(sizeof(*ci));
    uint8_t *der = NULL;
    size_t len = 0;
    uk_rc rc = ci != NULL ? der_of(leaf, &der, &len) : UK_E_NOMEM;

    if (rc == UK_OK) {
        rc = uk_cert_parse(der, len, ci);
    }
    if (rc == UK_OK && (env->now + CLOCK_SKEW < ci->not_before || env->now > ci->not_after)) {
        *extra = validity_extra(ci->not_before, ci->not_after);
        rc = UK_E_CERT_NOT_VALID;
    }
    if (rc == UK_OK && old != NULL && !env->renew_allow_subject_change &&
        X509_NAME_cmp(X509_get_subject_name(leaf), X509_get_subject_name(old)) != 0) {
        uk_cert_info *oi = malloc(sizeof(*oi));
        uint8_t *od = NULL;
        size_t ol = 0;
        if (oi != NULL && der_of(old, &od, &ol) == UK_OK && uk_cert_parse(od, ol, oi) == UK_OK) {
            *extra = id_extra("expected", oi->subject);
            if (*extra != NULL) {
                set_str(*extra, "subject", ci->subject);
            }
        }
        OPENSSL_free(od);
        free(oi);
        rc = UK_E_CERT_SUBJECT_MISMATCH;
    }
    OPENSSL_free(der);
    free(ci);
    return rc;
}

/* Writes the leaf over the placeholder and proves it: the object read
 * back equals it, and the slot's key signs what the leaf's key verifies. */
static uk_rc install_card(uk_rpc_token_env *env, const uk_rpc_req *req, const staged *st,
                          X509 *leaf, X509 *old)
{
    signer s = {env->tok, st->ref, uk_key_type_of(X509_get0_pubkey(leaf)),
                uk_rpc_param_str(req, "pin")};
    uint8_t *der = NULL;
    size_t len = 0;
    uint8_t probe[32];
    uint8_t sig[512];
    size_t sig_len = sizeof(sig);
    uk_buf back;
    uk_rc rc = der_of(leaf, &der, &len);

    uk_buf_init(&back, 64 * 1024, false);
    progress(env, st->id, "writingCertificate");
    if (rc == UK_OK) {
        rc = uk_token_cert_write(env->tok, &st->ref, der, len);
    }
    if (rc == UK_OK) {
        progress(env, st->id, "verifying");
        rc = uk_token_cert_read(env->tok, &st->ref, &back);
    }
    if (rc == UK_OK && (back.len != len || memcmp(back.data, der, len) != 0)) {
        rc = UK_E_CARD_ERROR;
    }
    if (rc == UK_OK) {
        rc = RAND_bytes(probe, sizeof(probe)) == 1 ? UK_OK : UK_E_CRYPTO;
    }
    if (rc == UK_OK) {
        rc = sign_check(&s, X509_get0_pubkey(leaf), probe, sizeof(probe), sig, &sig_len);
    }
    if (rc == UK_OK) {
        rc = uk_token_publish(env->tok, &st->ref);
    }
    if (rc == UK_OK && old != NULL && env->renew_remove_old) {
        const uk_token_cert *list = NULL;
        size_t count = 0;
        uint8_t *od = NULL;
        size_t ol = 0;
        if (uk_token_certs(env->tok, &list, &count) == UK_OK && der_of(old, &od, &ol) == UK_OK) {
            for (size_t i = 0; i < count; i++) {
                if (list[i].der_len == ol && memcmp(list[i].der, od, ol) == 0) {
                    uk_key_ref oref = list[i].key;
                    if (uk_token_cert_delete(env->tok, &oref) != UK_OK) {
                        uk_warn("renewal %s: the old certificate was kept", st->id);
                    }
                    break;
                }
            }
        }
        OPENSSL_free(od);
    }
    uk_buf_free(&back);
    OPENSSL_free(der);
    return rc;
}

static cJSON *install_result(const staged *st, X509 *leaf)
{
    uk_cert_info *ci = malloc(sizeof(*ci));
    uint8_t *der = NULL;
    size_t len = 0;
    char slot[8];
    cJSON *o = NULL;

    if (ci != NULL && der_of(leaf, &der, &len) == UK_OK && uk_cert_parse(der, len, ci) == UK_OK) {
        ref_hex(&st->ref, slot, sizeof(slot));
        o = cJSON_CreateObject();
        if (o == NULL || cJSON_AddTrueToObject(o, "installed") == NULL ||
            cJSON_AddFalseToObject(o, "alreadyInstalled") == NULL ||
            !set_str(o, "renewalId", st->id) || !set_str(o, "certId", ci->fingerprint) ||
            !set_str(o, "slot", slot) || !set_time(o, "notBefore", ci->not_before) ||
            !set_time(o, "notAfter", ci->not_after)) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    OPENSSL_free(der);
    free(ci);
    return o;
}

uk_rc uk_rpc_h_renew_install(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                             cJSON **extra)
{
    const char *want = uk_rpc_param_str(req, "renewalId");
    STACK_OF(X509) *chain = NULL;
    staged_set set = {0};
    cJSON *records = NULL;
    cJSON *rec = NULL;
    const staged *st = NULL;
    X509 *leaf = NULL;
    X509 *old = NULL;
    bool any = false;
    uk_key_ref done_ref;
    char done_id[CERT_ID_LEN + 1];
    uk_rc rc;

    if (env->journal == NULL) {
        return UK_E_UNSUPPORTED;
    }
    rc = chain_parse(uk_rpc_param_str(req, "certificate"), &chain);
    if (rc != UK_OK) {
        *extra = id_extra("field", "certificate");
        return rc;
    }
    rc = records_load(env, &records, NULL);
    if (rc == UK_OK) {
        rc = install_done(env, chain, &done_ref, done_id, &leaf);
    }
    if (rc == UK_OK && leaf != NULL) {
        /* idempotent: the certificate is there already */
        rc = install_finish(env, req, records, &done_ref, done_id, leaf, result, extra);
        goto out;
    }
    if (rc == UK_OK) {
        rc = staged_scan(env->tok, &set);
    }
    for (size_t i = 0; rc == UK_OK && i < set.n && st == NULL; i++) {
        if (want != NULL && strcmp(set.s[i].id, want) != 0) {
            continue;
        }
        any = true;
        for (int k = 0; k < sk_X509_num(chain) && st == NULL; k++) {
            if (EVP_PKEY_eq(set.s[i].pub, X509_get0_pubkey(sk_X509_value(chain, k))) == 1) {
                st = &set.s[i];
                leaf = sk_X509_value(chain, k);
            }
        }
    }
    if (rc == UK_OK && st == NULL) {
        rc = any ? UK_E_CERT_KEY_MISMATCH : UK_E_RENEWAL_NOT_FOUND;
    }
    if (rc != UK_OK) {
        goto out;
    }
    rec = cJSON_Duplicate(record_by_id(records, st->id), true);
    rc = install_old(env, st, rec, &old);
    if (rc != UK_OK) {
        goto out;
    }
    if (old == NULL) {
        uk_warn("renewal %s: the renewed certificate is no longer on the key; subject not compared",
                st->id);
    }
    rc = install_check(env, leaf, old, extra);
    if (rc != UK_OK) {
        goto out;
    }
    progress(env, st->id, "verifyingPin");
    rc = uk_rpc_env_pin(env, req, extra);
    if (rc == UK_OK) {
        rc = admin_auth(env->tok);
    }
    if (rc != UK_OK) {
        goto out;
    }
    if (rec == NULL) {
        /* recovery from the token alone: the record is rebuilt */
        char slot[8];
        ref_hex(&st->ref, slot, sizeof(slot));
        rec = record_new(env, st->id);
        if (rec == NULL || !set_str(rec, "slot", slot) ||
            (st->old_id[0] != '\0' && !set_str(rec, "oldCertId", st->old_id)) ||
            !set_pubkey(rec, "publicKey", st->pub)) {
            rc = UK_E_NOMEM;
            goto out;
        }
    }
    if (!set_cert(rec, "certificate", leaf)) {
        rc = UK_E_NOMEM;
        goto out;
    }
    rc = record_put(env, st->id, rec, "installing");
    if (rc == UK_OK) {
        rc = install_card(env, req, st, leaf, old);
    }
    if (rc == UK_OK) {
        record_drop(env, st->id);
        *result = install_result(st, leaf);
        rc = *result != NULL ? UK_OK : UK_E_NOMEM;
    } else {
        uk_warn("renewal %s: install stopped: %s", st->id, uk_rc_name(rc));
    }
out:
    X509_free(old);
    cJSON_Delete(rec);
    cJSON_Delete(records);
    staged_free(&set);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

/* ---- renew.pending ---- */

static cJSON *pending_entry(const cJSON *rec, const staged *st, const char *source)
{
    static const char *const keep[] = {"state",     "slot",        "keyType",       "oldCertId",
                                       "publicKey", "csr",         "proof",         "createdAt",
                                       "updatedAt", "certificate", "oldCertificate"};
    cJSON *o = cJSON_CreateObject();
    char slot[8];

    if (o == NULL || !set_str(o, "renewalId", st != NULL ? st->id : rec_str(rec, "id"))) {
        cJSON_Delete(o);
        return NULL;
    }
    for (size_t i = 0; rec != NULL && i < sizeof(keep) / sizeof(keep[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, keep[i]);
        if (v != NULL) {
            cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, true));
        }
    }
    if (st != NULL) {
        ref_hex(&st->ref, slot, sizeof(slot));
        set_str(o, "slot", slot);
        if (rec == NULL) {
            set_str(o, "state", "staged");
            set_str(o, "keyType", uk_key_type_name(uk_key_type_of(st->pub)));
            set_pubkey(o, "publicKey", st->pub);
            if (st->old_id[0] != '\0') {
                set_str(o, "oldCertId", st->old_id);
            }
        }
    }
    cJSON_AddBoolToObject(o, "onToken", st != NULL);
    set_str(o, "source", source);
    return o;
}

/* Is the record's key already certified on the token (an install whose
 * commit was lost)? */
static bool record_installed(uk_rpc_token_env *env, const cJSON *rec)
{
    const uk_token_cert *list = NULL;
    size_t count = 0;
    EVP_PKEY *pub = rec_pubkey(rec);
    uk_key_ref ref;
    bool done = false;

    if (pub != NULL && ref_parse(rec_str(rec, "slot"), &ref) &&
        uk_token_certs(env->tok, &list, &count) == UK_OK) {
        for (size_t i = 0; i < count && !done; i++) {
            X509 *x;
            if (!ref_eq(&list[i].key, &ref) ||
                uk_rpc_is_placeholder(list[i].der, list[i].der_len)) {
                continue;
            }
            x = x509_of(list[i].der, list[i].der_len);
            done = x != NULL && EVP_PKEY_eq(X509_get0_pubkey(x), pub) == 1;
            X509_free(x);
        }
    }
    EVP_PKEY_free(pub);
    return done;
}

uk_rc uk_rpc_h_renew_pending(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                             cJSON **extra)
{
    staged_set set = {0};
    cJSON *records = NULL;
    cJSON *arr;
    cJSON *o = NULL;
    size_t damaged = 0;
    uk_rc rc;

    (void)req;
    (void)extra;
    if (env->journal == NULL) {
        return UK_E_UNSUPPORTED;
    }
    rc = records_load(env, &records, &damaged);
    if (rc == UK_OK) {
        rc = staged_scan(env->tok, &set);
    }
    o = rc == UK_OK ? cJSON_CreateObject() : NULL;
    arr = o != NULL ? cJSON_AddArrayToObject(o, "renewals") : NULL;
    if (rc == UK_OK && arr == NULL) {
        rc = UK_E_NOMEM;
    }
    for (size_t i = 0; rc == UK_OK && i < set.n; i++) {
        const cJSON *rec = record_by_id(records, set.s[i].id);
        cJSON *e = pending_entry(rec, &set.s[i], rec != NULL ? "journal" : "token");
        if (rec == NULL && e != NULL) {
            /* rebuild the missing (or damaged) record from the token */
            cJSON *nr = record_new(env, set.s[i].id);
            const char *keys[] = {"slot", "keyType", "publicKey", "oldCertId"};
            for (size_t k = 0; nr != NULL && k < sizeof(keys) / sizeof(keys[0]); k++) {
                const char *v = rec_str(e, keys[k]);
                if (v != NULL) {
                    set_str(nr, keys[k], v);
                }
            }
            if (nr != NULL && record_put(env, set.s[i].id, nr, "staged") == UK_OK) {
                uk_info("renewal %s: journal record rebuilt from the token", set.s[i].id);
            }
            cJSON_Delete(nr);
        }
        if (e == NULL || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            rc = UK_E_NOMEM;
        }
    }
    for (cJSON *r = records != NULL ? records->child : NULL; rc == UK_OK && r != NULL;
         r = r->next) {
        cJSON *e;
        if (staged_by_id(&set, rec_str(r, "id")) != NULL) {
            continue;
        }
        if (!str_is(rec_str(r, "state"), "generating") && record_installed(env, r)) {
            record_drop(env, rec_str(r, "id"));
            continue;
        }
        e = pending_entry(r, NULL, "journal");
        if (e == NULL || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            rc = UK_E_NOMEM;
        }
    }
    if (rc == UK_OK && cJSON_AddNumberToObject(o, "journalDamaged", (double)damaged) == NULL) {
        rc = UK_E_NOMEM;
    }
    staged_free(&set);
    cJSON_Delete(records);
    if (rc != UK_OK) {
        cJSON_Delete(o);
        return rc;
    }
    *result = o;
    return UK_OK;
}

/* ---- renew.cancel ---- */

uk_rc uk_rpc_h_renew_cancel(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                            cJSON **extra)
{
    const char *id = uk_rpc_param_str(req, "renewalId");
    staged_set set = {0};
    cJSON *records = NULL;
    const staged *st;
    uk_rc rc;

    if (env->journal == NULL) {
        return UK_E_UNSUPPORTED;
    }
    rc = records_load(env, &records, NULL);
    if (rc == UK_OK) {
        rc = staged_scan(env->tok, &set);
    }
    if (rc != UK_OK) {
        goto out;
    }
    st = staged_by_id(&set, id);
    if (st == NULL && record_by_id(records, id) != NULL &&
        record_installed(env, record_by_id(records, id))) {
        record_drop(env, id); /* installed already: nothing to cancel */
        rc = UK_E_RENEWAL_NOT_FOUND;
        goto out;
    }
    if (st == NULL && record_by_id(records, id) == NULL) {
        rc = UK_E_RENEWAL_NOT_FOUND;
        goto out;
    }
    progress(env, id, "verifyingPin");
    rc = uk_rpc_env_pin(env, req, extra);
    if (rc == UK_OK && st != NULL) {
        rc = admin_auth(env->tok);
        if (rc == UK_OK) {
            /* only the placeholder goes: the slot held nothing else */
            rc = uk_token_cert_delete(env->tok, &st->ref);
        }
    }
    if (rc == UK_OK) {
        record_drop(env, id);
        *result = cJSON_CreateObject();
        if (*result == NULL || cJSON_AddTrueToObject(*result, "cancelled") == NULL ||
            !set_str(*result, "renewalId", id)) {
            rc = UK_E_NOMEM;
        }
    }
out:
    staged_free(&set);
    cJSON_Delete(records);
    return rc;
}
