// SPDX-License-Identifier: MIT
/*
 * Tokens and certificates as the hall's pages see them: camelCase members,
 * times as ISO 8601 UTC strings, key usage as names. The daemon reuses these
 * for token.list and env.check, so the shapes are defined once.
 */
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "uk/rpc.h"

uk_rc uk_rpc_time_iso8601(int64_t t, char *out, size_t out_len)
{
    return uk_time_iso8601(t, out, out_len);
}

/* Adds a time member, null when it cannot be written. */
static bool put_time(cJSON *obj, const char *key, int64_t t)
{
    char buf[32];

    if (uk_rpc_time_iso8601(t, buf, sizeof(buf)) != UK_OK) {
        return cJSON_AddNullToObject(obj, key) != NULL;
    }
    return cJSON_AddStringToObject(obj, key, buf) != NULL;
}

cJSON *uk_rpc_token_json(const uk_token_info *info)
{
    cJSON *o;
    bool ok;

    if (info == NULL) {
        return NULL;
    }
    o = cJSON_CreateObject();
    ok = o != NULL;
    ok = ok && cJSON_AddStringToObject(o, "tokenId", info->id) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "driver", info->driver) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "label", info->label) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "manufacturer", info->manufacturer) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "model", info->model) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "serial", info->serial) != NULL;
    if (info->firmware[0] != '\0') {
        ok = ok && cJSON_AddStringToObject(o, "firmware", info->firmware) != NULL;
    }
    ok = ok && cJSON_AddStringToObject(o, "reader", info->reader) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* RFC 5280 4.2.1.3 names, in the order of the bit string. */
static const struct {
    uint32_t bit;
    const char *name;
} usages[] = {
    {KU_DIGITAL_SIGNATURE, "digitalSignature"},
    {KU_NON_REPUDIATION, "nonRepudiation"},
    {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
    {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
    {KU_KEY_AGREEMENT, "keyAgreement"},
    {KU_KEY_CERT_SIGN, "keyCertSign"},
    {KU_CRL_SIGN, "cRLSign"},
    {KU_ENCIPHER_ONLY, "encipherOnly"},
    {KU_DECIPHER_ONLY, "decipherOnly"},
};

static cJSON *usage_json(uint32_t bits)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr != NULL && i < sizeof(usages) / sizeof(usages[0]); i++) {
        cJSON *s;

        if ((bits & usages[i].bit) == 0) {
            continue;
        }
        s = cJSON_CreateString(usages[i].name);
        if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    return arr;
}

/* The key reference as lowercase hex: a PIV slot is one byte ("9a", "82"). */
static void key_hex(const uk_key_ref *ref, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < ref->len && i < sizeof(ref->id) && 2 * i + 2 < cap; i++) {
        out[2 * i] = hex[ref->id[i] >> 4];
        out[2 * i + 1] = hex[ref->id[i] & 0x0F];
    }
    out[2 * i] = '\0';
}

/* The status when the window cannot be computed (notAfter before
 * notBefore): in force or not, nothing renewable. */
static const char *plain_status(const uk_cert_info *ci, int64_t now)
{
    if (now < ci->not_before) {
        return uk_cert_status_name(UK_CERT_NOT_YET_VALID);
    }
    if (now > ci->not_after) {
        return uk_cert_status_name(UK_CERT_EXPIRED);
    }
    return uk_cert_status_name(UK_CERT_VALID);
}

static cJSON *renewal_json(const uk_renew_window *w)
{
    cJSON *r = cJSON_CreateObject();
    bool ok = r != NULL;

    ok = ok && cJSON_AddBoolToObject(r, "eligible", w->eligible) != NULL;
    ok = ok && put_time(r, "opensAt", w->opens_at);
    ok = ok && put_time(r, "closesAt", w->closes_at);
    ok = ok && cJSON_AddNumberToObject(r, "daysToExpiry", (double)w->days_to_expiry) != NULL;
    if (!ok) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

static bool put_item(cJSON *o, const char *key, cJSON *item)
{
    if (item == NULL) {
        return false;
    }
    if (!cJSON_AddItemToObject(o, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

cJSON *uk_rpc_cert_json(const uk_token_cert *c, int64_t now, const uk_renew_policy *p)
{
    uk_cert_info ci;
    uk_renew_window w;
    const char *key_type;
    char slot[2 * sizeof(c->key.id) + 1];
    cJSON *o = NULL;
    bool windowed;
    bool ok;

    if (c == NULL || uk_cert_parse(c->der, c->der_len, &ci) != UK_OK) {
        return NULL;
    }
    windowed = uk_renew_window_get(ci.not_before, ci.not_after, now, p, &w) == UK_OK;
    key_hex(&c->key, slot, sizeof(slot));
    key_type = uk_key_type_name(ci.key_type);
    o = cJSON_CreateObject();
    ok = o != NULL;
    ok = ok && cJSON_AddStringToObject(o, "certId", ci.fingerprint) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "slot", slot) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "subject", ci.subject) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "commonName", ci.common_name) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "organization", ci.organization) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "orgUnit", ci.org_unit) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "subjectSerialNumber", ci.subject_serial) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "issuer", ci.issuer) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "issuerCommonName", ci.issuer_cn) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "serialNumber", ci.serial) != NULL;
    ok = ok && put_time(o, "notBefore", ci.not_before);
    ok = ok && put_time(o, "notAfter", ci.not_after);
    if (key_type != NULL) {
        ok = ok && cJSON_AddStringToObject(o, "keyType", key_type) != NULL;
    } else {
        ok = ok && cJSON_AddNullToObject(o, "keyType") != NULL;
    }
    ok = ok && cJSON_AddNumberToObject(o, "keyBits", ci.key_bits) != NULL;
    ok = ok && put_item(o, "keyUsage", usage_json(ci.key_usage));
    if (windowed) {
        ok = ok && cJSON_AddStringToObject(o, "status", uk_cert_status_name(w.status)) != NULL;
        ok = ok && put_item(o, "renewal", renewal_json(&w));
    } else {
        ok = ok && cJSON_AddStringToObject(o, "status", plain_status(&ci, now)) != NULL;
        ok = ok && cJSON_AddNullToObject(o, "renewal") != NULL;
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
