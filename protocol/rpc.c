// SPDX-License-Identifier: MIT
/*
 * JSON-RPC 2.0 messages: the method table, the parse-and-validate pipeline
 * for one incoming frame, and the builders of every outgoing message.
 *
 * Validation is strict on purpose: the peer is any web page the browser
 * lets through, so anything the table does not describe exactly (an extra
 * member, a duplicate key, a param of the wrong type) is refused with a
 * reason the SDK can show, before any handler sees it.
 */
#include "uk/rpc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "uk/mem.h"

/* ---- the method table ---- */

#define TOKEN_ID_PARAM                                                                             \
    {                                                                                              \
        "tokenId", RPC_P_STRING, true, 1, 96, RPC_F_ANY                                            \
    }
#define SECRET_PARAM(name)                                                                         \
    {                                                                                              \
        name, RPC_P_STRING, true, 1, 64, RPC_F_ANY                                                 \
    }
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const rpc_param p_hello[] = {
    {"sdkVersion", RPC_P_STRING, false, 0, 32, RPC_F_ANY},
    {"client", RPC_P_STRING, false, 0, 128, RPC_F_ANY},
    {"minDaemonVersion", RPC_P_STRING, false, 1, 32, RPC_F_ANY},
};
static const rpc_param p_token[] = {TOKEN_ID_PARAM};
static const rpc_param p_cert_get[] = {
    TOKEN_ID_PARAM,
    {"certId", RPC_P_STRING, true, 64, 64, RPC_F_HEX_LOWER},
};
static const rpc_param p_pin_verify[] = {
    TOKEN_ID_PARAM,
    SECRET_PARAM("pin"),
    {"confirmLastTry", RPC_P_BOOL, false, 0, 0, RPC_F_ANY},
};
static const rpc_param p_pin_change[] = {TOKEN_ID_PARAM, SECRET_PARAM("oldPin"),
                                         SECRET_PARAM("newPin")};
static const rpc_param p_pin_unblock[] = {TOKEN_ID_PARAM, SECRET_PARAM("puk"),
                                          SECRET_PARAM("newPin")};

static const rpc_param p_renew_begin[] = {
    TOKEN_ID_PARAM,
    {"certId", RPC_P_STRING, true, 64, 64, RPC_F_HEX_LOWER},
    SECRET_PARAM("pin"),
    {"challenge", RPC_P_STRING, true, 16, 512, RPC_F_PRINTABLE},
    {"keyType", RPC_P_STRING, false, 1, 16, RPC_F_KEY_TYPE},
    {"confirmLastTry", RPC_P_BOOL, false, 0, 0, RPC_F_ANY},
};
static const rpc_param p_renew_install[] = {
    TOKEN_ID_PARAM,
    SECRET_PARAM("pin"),
    {"certificate", RPC_P_STRING, true, 1, 65536, RPC_F_ANY},
    {"renewalId", RPC_P_STRING, false, 32, 32, RPC_F_HEX_LOWER},
    {"confirmLastTry", RPC_P_BOOL, false, 0, 0, RPC_F_ANY},
};
static const rpc_param p_renew_cancel[] = {
    TOKEN_ID_PARAM,
    {"renewalId", RPC_P_STRING, true, 32, 32, RPC_F_HEX_LOWER},
    SECRET_PARAM("pin"),
    {"confirmLastTry", RPC_P_BOOL, false, 0, 0, RPC_F_ANY},
};

static const uk_rpc_method methods[] = {
    {"system.hello", UK_RPC_ROUTE_DAEMON, p_hello, COUNT(p_hello), false, NULL},
    {"system.ping", UK_RPC_ROUTE_DAEMON, NULL, 0, false, NULL},
    {"env.check", UK_RPC_ROUTE_DAEMON, NULL, 0, false, NULL},
    {"token.list", UK_RPC_ROUTE_DAEMON, NULL, 0, false, NULL},
    {"token.info", UK_RPC_ROUTE_TOKEN, p_token, COUNT(p_token), true, uk_rpc_h_token_info},
    {"cert.list", UK_RPC_ROUTE_TOKEN, p_token, COUNT(p_token), true, uk_rpc_h_cert_list},
    {"cert.get", UK_RPC_ROUTE_TOKEN, p_cert_get, COUNT(p_cert_get), true, uk_rpc_h_cert_get},
    {"pin.status", UK_RPC_ROUTE_TOKEN, p_token, COUNT(p_token), true, uk_rpc_h_pin_status},
    {"pin.verify", UK_RPC_ROUTE_TOKEN, p_pin_verify, COUNT(p_pin_verify), true,
     uk_rpc_h_pin_verify},
    {"pin.change", UK_RPC_ROUTE_TOKEN, p_pin_change, COUNT(p_pin_change), true,
     uk_rpc_h_pin_change},
    {"pin.unblock", UK_RPC_ROUTE_TOKEN, p_pin_unblock, COUNT(p_pin_unblock), true,
     uk_rpc_h_pin_unblock},
    {"renew.begin", UK_RPC_ROUTE_TOKEN, p_renew_begin, COUNT(p_renew_begin), true,
     uk_rpc_h_renew_begin},
    {"renew.install", UK_RPC_ROUTE_TOKEN, p_renew_install, COUNT(p_renew_install), true,
     uk_rpc_h_renew_install},
    {"renew.pending", UK_RPC_ROUTE_TOKEN, p_token, COUNT(p_token), true, uk_rpc_h_renew_pending},
    {"renew.cancel", UK_RPC_ROUTE_TOKEN, p_renew_cancel, COUNT(p_renew_cancel), true,
     uk_rpc_h_renew_cancel},
};

/* Param names whose string values are wiped before a tree is freed. */
static const char *const secret_names[] = {"pin", "puk", "oldPin", "newPin", "managementKey"};

static const uk_rpc_method *method_find(const char *name)
{
    for (size_t i = 0; i < COUNT(methods); i++) {
        if (strcmp(methods[i].name, name) == 0) {
            return &methods[i];
        }
    }
    return NULL;
}

cJSON *uk_rpc_methods_json(void)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr != NULL && i < COUNT(methods); i++) {
        cJSON *s = cJSON_CreateString(methods[i].name);
        if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    return arr;
}

/* ---- secrets ---- */

static bool is_secret_name(const char *name)
{
    for (size_t i = 0; name != NULL && i < COUNT(secret_names); i++) {
        if (strcmp(secret_names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* Recursion is bounded by cJSON's own nesting limit (CJSON_NESTING_LIMIT)
 * for parsed trees; every string under a secret key is wiped, whatever its
 * shape, because a wrong-typed PIN is still a PIN. */
static void wipe(cJSON *item, bool secret)
{
    for (; item != NULL; item = item->next) {
        bool s = secret || is_secret_name(item->string);

        if (cJSON_IsString(item) && s && item->valuestring != NULL) {
            uk_memzero(item->valuestring, strlen(item->valuestring));
        }
        if (item->child != NULL) {
            wipe(item->child, s);
        }
    }
}

void uk_rpc_wipe_secrets(cJSON *tree)
{
    if (tree != NULL) {
        wipe(tree->child, false);
    }
}

static void tree_free(cJSON *tree)
{
    uk_rpc_wipe_secrets(tree);
    cJSON_Delete(tree);
}

void uk_rpc_req_free(uk_rpc_req *req)
{
    if (req == NULL) {
        return;
    }
    tree_free(req->root);
    memset(req, 0, sizeof(*req));
}

/* ---- outgoing messages ---- */

/* Adds item to obj under key; frees item when that fails (cJSON's
 * AddItemToObject does not). */
static bool put(cJSON *obj, const char *key, cJSON *item)
{
    if (item == NULL) {
        return false;
    }
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

/* A copy of a request id for a response. Numbers were checked to be
 * integers below 2^53 and are written as such: cJSON's own number printer
 * rounds big integers to 15 significant digits. */
static cJSON *id_copy(const cJSON *id)
{
    char num[32];
    int n;

    if (id == NULL || cJSON_IsNull(id)) {
        return cJSON_CreateNull();
    }
    if (cJSON_IsString(id)) {
        return cJSON_CreateString(id->valuestring);
    }
    if (cJSON_IsNumber(id)) {
        n = snprintf(num, sizeof(num), "%lld", (long long)id->valuedouble);
        if (n < 0 || (size_t)n >= sizeof(num)) {
            return NULL;
        }
        return cJSON_CreateRaw(num);
    }
    return cJSON_CreateNull();
}

/* {"jsonrpc":"2.0","id":id,member:payload} printed; payload consumed. */
static char *envelope(const cJSON *id, const char *member, cJSON *payload)
{
    cJSON *msg = cJSON_CreateObject();
    char *out = NULL;

    if (msg == NULL || cJSON_AddStringToObject(msg, "jsonrpc", "2.0") == NULL ||
        !put(msg, "id", id_copy(id))) {
        cJSON_Delete(payload);
        cJSON_Delete(msg);
        return NULL;
    }
    if (put(msg, member, payload)) {
        out = cJSON_PrintUnformatted(msg);
    }
    cJSON_Delete(msg);
    return out;
}

/* Moves each member of extra into data, skipping "reason" and names data
 * already has. */
static bool merge(cJSON *data, cJSON *extra)
{
    cJSON *item;
    char *key;
    size_t n;
    bool ok;

    while (extra->child != NULL) {
        item = cJSON_DetachItemViaPointer(extra, extra->child);
        if (item->string == NULL || strcmp(item->string, "reason") == 0 ||
            cJSON_GetObjectItemCaseSensitive(data, item->string) != NULL) {
            cJSON_Delete(item);
            continue;
        }
        /* a copy of the key: adding the item replaces (frees) item->string */
        n = strlen(item->string) + 1;
        key = malloc(n);
        if (key == NULL) {
            cJSON_Delete(item);
            return false;
        }
        memcpy(key, item->string, n);
        ok = put(data, key, item);
        free(key);
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* An error object {code, message, data:{reason, ...extra}} (extra
 * consumed). */
static cJSON *error_obj(int code, const char *message, const char *reason, cJSON *extra)
{
    cJSON *err = cJSON_CreateObject();
    cJSON *data = cJSON_CreateObject();
    bool ok = err != NULL && data != NULL;

    ok = ok && cJSON_AddNumberToObject(err, "code", code) != NULL;
    ok = ok && cJSON_AddStringToObject(err, "message", message) != NULL;
    ok = ok && cJSON_AddStringToObject(data, "reason", reason) != NULL;
    ok = ok && (extra == NULL || merge(data, extra));
    cJSON_Delete(extra);
    if (ok) {
        ok = put(err, "data", data); /* frees data on failure */
        data = NULL;
    }
    if (!ok) {
        cJSON_Delete(data);
        cJSON_Delete(err);
        return NULL;
    }
    return err;
}

char *uk_rpc_result(const uk_rpc_req *req, cJSON *result)
{
    if (req == NULL || req->id == NULL) {
        cJSON_Delete(result);
        return NULL;
    }
    if (result == NULL) {
        result = cJSON_CreateNull();
        if (result == NULL) {
            return NULL;
        }
    }
    return envelope(req->id, "result", result);
}

char *uk_rpc_error(const uk_rpc_req *req, uk_rc rc, cJSON *extra)
{
    cJSON *err;

    if (req != NULL && req->id == NULL) {
        cJSON_Delete(extra);
        return NULL;
    }
    err = error_obj(UK_RPC_APP_ERROR, uk_rc_desc(rc), uk_rc_name(rc), extra);
    if (err == NULL) {
        return NULL;
    }
    return envelope(req != NULL ? req->id : NULL, "error", err);
}

char *uk_rpc_notification(const char *method, cJSON *params)
{
    cJSON *msg = cJSON_CreateObject();
    char *out = NULL;

    if (msg == NULL || method == NULL || cJSON_AddStringToObject(msg, "jsonrpc", "2.0") == NULL ||
        cJSON_AddStringToObject(msg, "method", method) == NULL) {
        cJSON_Delete(params);
        cJSON_Delete(msg);
        return NULL;
    }
    if (params == NULL || put(msg, "params", params)) {
        out = cJSON_PrintUnformatted(msg);
    }
    cJSON_Delete(msg);
    return out;
}

/* ---- parsing ---- */

/* Why a message was refused. field (borrowed from the tree, or static) names
 * the member or param; rc is what uk_rpc_parse returns. */
typedef struct verdict {
    int code;
    const char *reason;
    const char *field;
    uk_rc rc;
} verdict;

static uk_rc refuse(verdict *v, int code, const char *reason, const char *field)
{
    v->code = code;
    v->reason = reason;
    v->field = field;
    switch (code) {
    case UK_RPC_METHOD_NOT_FOUND:
        v->rc = UK_E_NOT_FOUND;
        break;
    case UK_RPC_INVALID_PARAMS:
        v->rc = UK_E_INVALID_ARG;
        break;
    case UK_RPC_INTERNAL_ERROR:
        v->rc = UK_E_NOMEM;
        break;
    default:
        v->rc = strcmp(reason, "TOO_DEEP") == 0 ? UK_E_LIMIT : UK_E_MALFORMED;
        break;
    }
    return v->rc;
}

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool hex_zero4(const char *p, size_t left)
{
    return left >= 4 && p[0] == '0' && p[1] == '0' && p[2] == '0' && p[3] == '0';
}

/* A lexical pass before cJSON sees the frame (RFC 8259 section 7): raw
 * control characters are allowed only as whitespace between tokens, and a
 * string may not contain U+0000 — C would cut it there, so "pin" and
 * "pin\u0000x" would be one key and a PIN would be cut short. cJSON accepts
 * both, and it treats every byte up to 0x20 as whitespace. Rejecting before
 * the parse also means no tree ever holds such a string. */
static uk_rc lex_check(const char *msg, size_t len, verdict *v)
{
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];

        if (!in_string) {
            if (c == '"') {
                in_string = true;
            } else if (c < 0x20 && !json_space((char)c)) {
                return refuse(v, UK_RPC_PARSE_ERROR, "INVALID_JSON", NULL);
            }
            continue;
        }
        if (c < 0x20) {
            return refuse(v, UK_RPC_PARSE_ERROR, "INVALID_JSON", NULL);
        }
        if (c == '"') {
            in_string = false;
        } else if (c == '\\' && i + 1 < len) {
            i++;
            if (msg[i] == 'u' && hex_zero4(msg + i + 1, len - i - 1)) {
                return refuse(v, UK_RPC_PARSE_ERROR, "NUL_IN_STRING", NULL);
            }
        }
    }
    return UK_OK;
}

static int key_cmp(const void *a, const void *b)
{
    const char *const *x = a;
    const char *const *y = b;

    return strcmp(*x, *y);
}

/* Duplicate keys within one object. A request has a handful of members,
 * compared pairwise without allocating; a larger object (only ever a
 * refused one) is checked on a sorted copy of its key pointers, so it costs
 * n log n, not n squared. */
static uk_rc object_dups(const cJSON *obj, verdict *v)
{
    const cJSON *c;
    const cJSON *d;
    const char **keys;
    size_t n = 0;
    size_t i = 0;
    uk_rc rc = UK_OK;

    for (c = obj->child; c != NULL; c = c->next) {
        n++;
    }
    if (n <= 8) {
        for (c = obj->child; c != NULL; c = c->next) {
            for (d = c->next; d != NULL; d = d->next) {
                if (strcmp(c->string, d->string) == 0) {
                    return refuse(v, UK_RPC_INVALID_REQUEST, "DUPLICATE_KEY", c->string);
                }
            }
        }
        return UK_OK;
    }
    keys = malloc(n * sizeof(*keys));
    if (keys == NULL) {
        return refuse(v, UK_RPC_INTERNAL_ERROR, "OUT_OF_MEMORY", NULL);
    }
    for (c = obj->child; c != NULL; c = c->next) {
        keys[i++] = c->string != NULL ? c->string : "";
    }
    qsort(keys, n, sizeof(*keys), key_cmp);
    for (i = 1; i < n; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            /* the field must outlive keys[]: find the member in the tree */
            for (c = obj->child; c != NULL; c = c->next) {
                if (c->string != NULL && strcmp(c->string, keys[i]) == 0) {
                    break;
                }
            }
            rc = refuse(v, UK_RPC_INVALID_REQUEST, "DUPLICATE_KEY", c ? c->string : NULL);
            break;
        }
    }
    free(keys);
    return rc;
}

/* Depth and duplicate keys over the whole tree. depth counts containers,
 * the message itself being 1. */
static uk_rc tree_check(const cJSON *item, int depth, verdict *v)
{
    const cJSON *c;
    uk_rc rc;

    if (!cJSON_IsObject(item) && !cJSON_IsArray(item)) {
        return UK_OK;
    }
    if (depth > UK_RPC_MAX_DEPTH) {
        return refuse(v, UK_RPC_INVALID_REQUEST, "TOO_DEEP", NULL);
    }
    if (cJSON_IsObject(item)) {
        rc = object_dups(item, v);
        if (rc != UK_OK) {
            return rc;
        }
    }
    for (c = item->child; c != NULL; c = c->next) {
        rc = tree_check(c, depth + 1, v);
        if (rc != UK_OK) {
            return rc;
        }
    }
    return UK_OK;
}

/* JSON-RPC 2.0 section 4: a String, a Number or Null. We take integers only
 * (|id| < 2^53, exact in a double and in JavaScript) and bounded strings. */
static bool id_ok(const cJSON *id)
{
    const double lim = 9007199254740992.0; /* 2^53 */
    double d;

    if (cJSON_IsNull(id)) {
        return true;
    }
    if (cJSON_IsString(id)) {
        return strlen(id->valuestring) <= UK_RPC_MAX_ID_LEN;
    }
    if (!cJSON_IsNumber(id)) {
        return false;
    }
    d = id->valuedouble;
    return d > -lim && d < lim && d == (double)(int64_t)d;
}

static bool hex_lower(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) {
            return false;
        }
    }
    return true;
}

static bool printable(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s < 0x21 || *s > 0x7E) {
            return false;
        }
    }
    return true;
}

static const rpc_param *param_find(const uk_rpc_method *m, const char *name)
{
    for (size_t i = 0; i < m->n_params; i++) {
        if (strcmp(m->params[i].name, name) == 0) {
            return &m->params[i];
        }
    }
    return NULL;
}

/* Members in message order (unknown, type, length, format), then the
 * required ones in table order; the first failure is reported. */
static uk_rc params_check(const uk_rpc_method *m, const cJSON *params, verdict *v)
{
    const cJSON *c;
    const rpc_param *p;
    size_t n;

    for (c = params->child; c != NULL; c = c->next) {
        p = param_find(m, c->string);
        if (p == NULL) {
            return refuse(v, UK_RPC_INVALID_PARAMS, "PARAM_UNKNOWN", c->string);
        }
        if (p->type == RPC_P_BOOL) {
            if (!cJSON_IsBool(c)) {
                return refuse(v, UK_RPC_INVALID_PARAMS, "PARAM_TYPE", p->name);
            }
            continue;
        }
        if (!cJSON_IsString(c)) {
            return refuse(v, UK_RPC_INVALID_PARAMS, "PARAM_TYPE", p->name);
        }
        n = strlen(c->valuestring);
        if (n < p->min || n > p->max) {
            return refuse(v, UK_RPC_INVALID_PARAMS, "PARAM_LENGTH", p->name);
        }
        if ((p->format == RPC_F_HEX_LOWER && !hex_lower(c->valuestring)) ||
            (p->format == RPC_F_PRINTABLE && !printable(c->valuestring)) ||
            (p->format == RPC_F_KEY_TYPE && uk_key_type_parse(c->valuestring) == UK_KEY_NONE)) {
            return refuse(v, UK_RPC_INVALID_PARAMS, "PARAM_FORMAT", p->name);
        }
    }
    for (size_t i = 0; i < m->n_params; i++) {
        if (m->params[i].required &&
            cJSON_GetObjectItemCaseSensitive(params, m->params[i].name) == NULL) {
            return refuse(v, UK_RPC_INVALID_PARAMS, "PARAM_MISSING", m->params[i].name);
        }
    }
    return UK_OK;
}

/* The message object's own members (JSON-RPC 2.0 section 4). *id is set as
 * soon as it is known to be valid, so later errors can echo it. */
static uk_rc envelope_check(const cJSON *root, cJSON **id, verdict *v)
{
    cJSON *c;
    const cJSON *ver;
    const cJSON *method;
    const cJSON *params;

    if (cJSON_IsArray(root)) {
        return refuse(v, UK_RPC_INVALID_REQUEST, "BATCH_UNSUPPORTED", NULL);
    }
    if (!cJSON_IsObject(root)) {
        return refuse(v, UK_RPC_INVALID_REQUEST, "NOT_AN_OBJECT", NULL);
    }
    c = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (c != NULL && !id_ok(c)) {
        return refuse(v, UK_RPC_INVALID_REQUEST, "INVALID_ID", "id");
    }
    *id = c;
    for (c = root->child; c != NULL; c = c->next) {
        if (strcmp(c->string, "jsonrpc") != 0 && strcmp(c->string, "id") != 0 &&
            strcmp(c->string, "method") != 0 && strcmp(c->string, "params") != 0) {
            return refuse(v, UK_RPC_INVALID_REQUEST, "UNKNOWN_MEMBER", c->string);
        }
    }
    ver = cJSON_GetObjectItemCaseSensitive(root, "jsonrpc");
    if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "2.0") != 0) {
        return refuse(v, UK_RPC_INVALID_REQUEST, "INVALID_VERSION", "jsonrpc");
    }
    method = cJSON_GetObjectItemCaseSensitive(root, "method");
    if (!cJSON_IsString(method)) {
        return refuse(v, UK_RPC_INVALID_REQUEST, "INVALID_METHOD", "method");
    }
    /* section 4.2: params, when present, is an Array or an Object */
    params = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (params != NULL && !cJSON_IsObject(params) && !cJSON_IsArray(params)) {
        return refuse(v, UK_RPC_INVALID_REQUEST, "PARAMS_NOT_OBJECT", "params");
    }
    return UK_OK;
}

/* The error response for a refused message, or NULL when it must go
 * unanswered (section 4.1: a notification is never answered, but parse
 * errors and invalid requests are not notifications and are). */
static char *refusal(const verdict *v, const cJSON *id, bool notification)
{
    static const struct {
        int code;
        const char *message;
    } messages[] = {
        {UK_RPC_PARSE_ERROR, "Parse error"},           {UK_RPC_INVALID_REQUEST, "Invalid Request"},
        {UK_RPC_METHOD_NOT_FOUND, "Method not found"}, {UK_RPC_INVALID_PARAMS, "Invalid params"},
        {UK_RPC_INTERNAL_ERROR, "Internal error"},
    };
    const char *message = "Internal error";
    cJSON *extra = NULL;
    cJSON *err;

    if (notification && (v->code == UK_RPC_METHOD_NOT_FOUND || v->code == UK_RPC_INVALID_PARAMS)) {
        return NULL;
    }
    for (size_t i = 0; i < COUNT(messages); i++) {
        if (messages[i].code == v->code) {
            message = messages[i].message;
        }
    }
    if (v->field != NULL) {
        extra = cJSON_CreateObject();
        if (extra == NULL || cJSON_AddStringToObject(extra, "field", v->field) == NULL) {
            cJSON_Delete(extra);
            return NULL;
        }
    }
    err = error_obj(v->code, message, v->reason, extra);
    if (err == NULL) {
        return NULL;
    }
    return envelope(id, "error", err);
}

/* An empty object for requests without params; never written to. */
static const cJSON empty_params = {.type = cJSON_Object};

uk_rc uk_rpc_parse(const char *msg, size_t len, uk_rpc_req *req, char **err_json)
{
    verdict v = {0, NULL, NULL, UK_OK};
    cJSON *root = NULL;
    cJSON *id = NULL;
    const cJSON *params;
    const char *end = NULL;
    const uk_rpc_method *m = NULL;
    const cJSON *tid;
    bool notification = false;
    uk_rc rc;

    if (err_json != NULL) {
        *err_json = NULL;
    }
    if (req != NULL) {
        memset(req, 0, sizeof(*req));
    }
    if (req == NULL || err_json == NULL || (msg == NULL && len > 0)) {
        return UK_E_INVALID_ARG;
    }
    rc = lex_check(msg, len, &v);
    if (rc != UK_OK) {
        goto out;
    }
    root = len > 0 ? cJSON_ParseWithLengthOpts(msg, len, &end, 0) : NULL;
    if (root != NULL) {
        /* cJSON stops right after the value; only whitespace may follow */
        while (end < msg + len && json_space(*end)) {
            end++;
        }
    }
    if (root == NULL || end != msg + len) {
        rc = refuse(&v, UK_RPC_PARSE_ERROR, "INVALID_JSON", NULL);
        goto out;
    }
    rc = tree_check(root, 1, &v);
    if (rc != UK_OK) {
        goto out;
    }
    rc = envelope_check(root, &id, &v);
    if (rc != UK_OK) {
        goto out;
    }
    /* from here on the message is a well-formed Request: without an id it
     * is a notification */
    notification = id == NULL;
    m = method_find(cJSON_GetObjectItemCaseSensitive(root, "method")->valuestring);
    if (m == NULL) {
        rc = refuse(&v, UK_RPC_METHOD_NOT_FOUND, "METHOD_NOT_FOUND", NULL);
        goto out;
    }
    params = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (params == NULL) {
        params = &empty_params;
    } else if (!cJSON_IsObject(params)) {
        /* by-position params are valid JSON-RPC; our methods take names */
        rc = refuse(&v, UK_RPC_INVALID_PARAMS, "PARAMS_NOT_OBJECT", "params");
        goto out;
    }
    rc = params_check(m, params, &v);
    if (rc != UK_OK) {
        goto out;
    }
    tid = m->takes_token ? cJSON_GetObjectItemCaseSensitive(params, "tokenId") : NULL;
    req->root = root;
    req->id = id;
    req->method = m->name;
    req->params = params;
    req->m = m;
    req->route = m->route;
    req->token_id = tid != NULL ? tid->valuestring : NULL;
    root = NULL;
out:
    if (rc != UK_OK) {
        *err_json = refusal(&v, id, notification);
    }
    tree_free(root);
    return rc;
}
