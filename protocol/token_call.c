// SPDX-License-Identifier: MIT
/*
 * The token methods: each handler reads its (already validated) params,
 * makes the token-layer calls and builds the result or the error data.
 * uk_rpc_token_call turns that into the response. Runs on the token's
 * worker thread; PIN strings are passed to the token layer straight from
 * the request tree, which uk_rpc_req_free wipes, and are never copied or
 * logged here.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "uk/log.h"

const char *uk_rpc_param_str(const uk_rpc_req *req, const char *name)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(req->params, name);

    return cJSON_IsString(p) ? p->valuestring : NULL;
}

bool uk_rpc_param_true(const uk_rpc_req *req, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req->params, name));
}

cJSON *uk_rpc_retries_extra(int tries)
{
    cJSON *o;

    if (tries < 0) {
        return NULL;
    }
    o = cJSON_CreateObject();
    if (o != NULL && cJSON_AddNumberToObject(o, "retriesLeft", tries) == NULL) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

/* {retriesLeft, verified, blocked} from the card, no try spent. A token
 * that cannot tell its tries (UK_E_UNSUPPORTED) gives retriesLeft null. */
static uk_rc pin_state(uk_token *tok, cJSON **out)
{
    int tries = -1;
    bool verified = false;
    bool blocked = false;
    cJSON *o;
    bool ok;
    uk_rc rc;

    *out = NULL;
    rc = uk_token_pin_status(tok, &tries, &verified);
    if (rc == UK_E_PIN_BLOCKED || (rc == UK_OK && tries == 0)) {
        blocked = true;
        tries = 0;
    } else if (rc == UK_E_UNSUPPORTED) {
        tries = -1;
    } else if (rc != UK_OK) {
        return rc;
    }
    o = cJSON_CreateObject();
    ok = o != NULL;
    if (tries >= 0) {
        ok = ok && cJSON_AddNumberToObject(o, "retriesLeft", tries) != NULL;
    } else {
        ok = ok && cJSON_AddNullToObject(o, "retriesLeft") != NULL;
    }
    ok = ok && cJSON_AddBoolToObject(o, "verified", verified && !blocked) != NULL;
    ok = ok && cJSON_AddBoolToObject(o, "blocked", blocked) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return UK_E_NOMEM;
    }
    *out = o;
    return UK_OK;
}

/* A one-member object {key: true}. */
static uk_rc flag_result(const char *key, cJSON **result)
{
    *result = cJSON_CreateObject();
    if (*result == NULL || cJSON_AddTrueToObject(*result, key) == NULL) {
        cJSON_Delete(*result);
        *result = NULL;
        return UK_E_NOMEM;
    }
    return UK_OK;
}

uk_rc uk_rpc_h_token_info(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                          cJSON **extra)
{
    cJSON *o;
    cJSON *pin = NULL;
    uk_rc rc;

    (void)req;
    (void)extra;
    rc = pin_state(env->tok, &pin);
    if (rc != UK_OK) {
        return rc;
    }
    o = uk_rpc_token_json(uk_token_info_get(env->tok));
    if (o == NULL || !cJSON_AddItemToObject(o, "pin", pin)) {
        cJSON_Delete(pin);
        cJSON_Delete(o);
        return UK_E_NOMEM;
    }
    *result = o;
    return UK_OK;
}

uk_rc uk_rpc_h_cert_list(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                         cJSON **extra)
{
    const uk_token_cert *list = NULL;
    const uk_token_cert **shown = NULL;
    size_t count = 0;
    size_t n = 0;
    cJSON *o = NULL;
    cJSON *arr;
    cJSON *c;
    uk_rc rc;

    (void)req;
    (void)extra;
    rc = uk_token_certs(env->tok, &list, &count);
    if (rc != UK_OK) {
        return rc;
    }
    o = cJSON_CreateObject();
    arr = o != NULL ? cJSON_AddArrayToObject(o, "certs") : NULL;
    shown = count > 0 ? calloc(count, sizeof(*shown)) : NULL;
    if (arr == NULL || (count > 0 && shown == NULL)) {
        cJSON_Delete(o);
        return UK_E_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        /* a renewal's placeholder is not a certificate of the holder; it
         * shows in renew.pending */
        if (uk_rpc_is_placeholder(list[i].der, list[i].der_len)) {
            continue;
        }
        c = uk_rpc_cert_json(&list[i], env->now, &env->policy);
        if (c == NULL) {
            /* a certificate object that is not a certificate (or no
             * memory): list the others rather than none */
            uk_warn("certificate %s not listed: %s", list[i].id, uk_rc_name(UK_E_MALFORMED));
            continue;
        }
        if (!cJSON_AddItemToArray(arr, c)) {
            cJSON_Delete(c);
            cJSON_Delete(o);
            free(shown);
            return UK_E_NOMEM;
        }
        shown[n++] = &list[i];
    }
    uk_rpc_mark_current(arr, shown, n);
    free(shown);
    *result = o;
    return UK_OK;
}

uk_rc uk_rpc_h_cert_get(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result, cJSON **extra)
{
    const char *cert_id = uk_rpc_param_str(req, "certId");
    const uk_token_cert *list = NULL;
    const uk_token_cert *found = NULL;
    size_t count = 0;
    char *pem = NULL;
    cJSON *o = NULL;
    uk_rc rc;

    (void)extra;
    rc = uk_token_certs(env->tok, &list, &count);
    if (rc != UK_OK) {
        return rc;
    }
    for (size_t i = 0; i < count && found == NULL && cert_id != NULL; i++) {
        if (strcmp(list[i].id, cert_id) == 0) {
            found = &list[i];
        }
    }
    if (found == NULL) {
        return UK_E_NOT_FOUND;
    }
    rc = uk_cert_to_pem(found->der, found->der_len, &pem);
    if (rc != UK_OK) {
        return rc;
    }
    o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "certId", found->id) == NULL ||
        cJSON_AddStringToObject(o, "pem", pem) == NULL) {
        cJSON_Delete(o);
        o = NULL;
        rc = UK_E_NOMEM;
    }
    OPENSSL_free(pem);
    *result = o;
    return rc;
}

uk_rc uk_rpc_h_pin_status(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                          cJSON **extra)
{
    (void)req;
    (void)extra;
    return pin_state(env->tok, result);
}

static uk_rc card_status(void *card, int *tries, bool *verified)
{
    return uk_token_pin_status(card, tries, verified);
}

static uk_rc card_verify(void *card, const char *pin, int *tries)
{
    return uk_token_pin_verify(card, pin, tries);
}

uk_rc uk_rpc_env_pin(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **extra)
{
    uk_rpc_pin_card card = {card_status, card_verify, env->tok};
    int tries = -1;
    uk_rc rc;

    if (env->guard == NULL) {
        return UK_E_INTERNAL;
    }
    rc = uk_rpc_pin_verify_run(&card, env->guard, uk_rpc_param_str(req, "pin"),
                               uk_rpc_param_true(req, "confirmLastTry"), &tries);
    if (rc != UK_OK) {
        *extra = uk_rpc_retries_extra(tries);
    }
    return rc;
}

uk_rc uk_rpc_h_pin_verify(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                          cJSON **extra)
{
    uk_rc rc = uk_rpc_env_pin(env, req, extra);

    return rc != UK_OK ? rc : flag_result("verified", result);
}

/* pin.change and pin.unblock: the token layer checks both formats before
 * any APDU; a success changes the PIN, so the guard's record is void. */
static uk_rc pin_set_done(uk_rpc_token_env *env, uk_rc rc, int tries, const char *flag,
                          cJSON **result, cJSON **extra)
{
    if (rc == UK_E_PIN_BLOCKED || rc == UK_E_PUK_BLOCKED) {
        tries = 0;
    }
    if (rc != UK_OK) {
        *extra = uk_rpc_retries_extra(tries);
        return rc;
    }
    uk_pin_guard_clear(env->guard);
    return flag_result(flag, result);
}

uk_rc uk_rpc_h_pin_change(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                          cJSON **extra)
{
    int tries = -1;
    uk_rc rc;

    if (env->guard == NULL) {
        return UK_E_INTERNAL;
    }
    rc = uk_token_pin_change(env->tok, uk_rpc_param_str(req, "oldPin"),
                             uk_rpc_param_str(req, "newPin"), &tries);
    return pin_set_done(env, rc, tries, "changed", result, extra);
}

uk_rc uk_rpc_h_pin_unblock(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                           cJSON **extra)
{
    int tries = -1;
    uk_rc rc;

    if (env->guard == NULL) {
        return UK_E_INTERNAL;
    }
    rc = uk_token_pin_unblock(env->tok, uk_rpc_param_str(req, "puk"),
                              uk_rpc_param_str(req, "newPin"), &tries);
    return pin_set_done(env, rc, tries, "unblocked", result, extra);
}

char *uk_rpc_token_call(uk_rpc_token_env *env, const uk_rpc_req *req)
{
    const uk_token_info *info;
    cJSON *result = NULL;
    cJSON *extra = NULL;
    uk_rc rc;

    if (req == NULL) {
        return NULL;
    }
    if (env == NULL || env->tok == NULL || req->m == NULL || req->route != UK_RPC_ROUTE_TOKEN ||
        req->m->fn == NULL) {
        return uk_rpc_error(req, UK_E_INVALID_ARG, NULL);
    }
    info = uk_token_info_get(env->tok);
    if (req->token_id == NULL || strcmp(req->token_id, info->id) != 0) {
        return uk_rpc_error(req, UK_E_NOT_FOUND, NULL);
    }
    rc = req->m->fn(env, req, &result, &extra);
    if (rc == UK_OK) {
        cJSON_Delete(extra);
        return uk_rpc_result(req, result);
    }
    cJSON_Delete(result);
    return uk_rpc_error(req, rc, extra);
}
