/* SPDX-License-Identifier: MIT */
/*
 * The JSON-RPC 2.0 side of ukeyd: one message per WebSocket text frame is
 * parsed and checked against the method table here, answered here for the
 * token methods, and every response and notification is built here, so the
 * daemon only moves strings between sockets and worker threads.
 *
 * No sockets, no threads, no libwebsockets. Parsing and the response
 * builders are pure (any thread). uk_rpc_token_call blocks on the card and
 * runs on the token's worker thread.
 *
 * Every string this module returns is NUL-terminated, allocated with the
 * cJSON allocator (malloc unless the process installed other cJSON hooks)
 * and freed by the caller with free(). NULL from a builder means "nothing to
 * send": either the request was a notification or memory ran out.
 */
#ifndef UK_RPC_H
#define UK_RPC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/cert.h"
#include "uk/rc.h"
#include "uk/token.h"

#define UK_PROTOCOL_VERSION 1

/* error.code values (JSON-RPC 2.0, section 5.1). */
enum {
    UK_RPC_PARSE_ERROR = -32700,
    UK_RPC_INVALID_REQUEST = -32600,
    UK_RPC_METHOD_NOT_FOUND = -32601,
    UK_RPC_INVALID_PARAMS = -32602,
    UK_RPC_INTERNAL_ERROR = -32603,
    UK_RPC_APP_ERROR = -32000,
};

/* Limits of uk_rpc_parse. */
#define UK_RPC_MAX_DEPTH 16   /* nested objects/arrays, the message itself included */
#define UK_RPC_MAX_ID_LEN 128 /* bytes of a string id */

/* Who answers a method: the daemon itself, or the token's worker thread
 * through uk_rpc_token_call. */
typedef enum uk_rpc_route { UK_RPC_ROUTE_DAEMON, UK_RPC_ROUTE_TOKEN } uk_rpc_route;

/* An entry of the method table (static storage, never freed). */
typedef struct uk_rpc_method uk_rpc_method;

/* A parsed, validated request. Everything borrowed points into root and
 * lives until uk_rpc_req_free. */
typedef struct uk_rpc_req {
    cJSON *root;         /* owned */
    cJSON *id;           /* borrowed from root; NULL for a notification (no "id") */
    const char *method;  /* borrowed */
    const cJSON *params; /* borrowed; always an object (an empty one when absent) */
    const uk_rpc_method *m;
    uk_rpc_route route;
    const char *token_id; /* params.tokenId when the method takes one, else NULL */
} uk_rpc_req;

/*
 * Parses and validates one message of len bytes (msg need not be
 * NUL-terminated; it is borrowed for the call only — the caller wipes it,
 * it may hold a PIN).
 *
 * Checks, in order: no control characters outside what JSON allows and no
 * "\u0000" escape (-32700); valid JSON with the whole frame consumed
 * (-32700); at most UK_RPC_MAX_DEPTH nested containers and no duplicate key
 * in any object (-32600); an object — a batch array is refused with reason
 * BATCH_UNSUPPORTED (-32600); "id" absent, null, a string of at most
 * UK_RPC_MAX_ID_LEN bytes or an integer with |id| < 2^53; no members other
 * than jsonrpc, id, method, params; "jsonrpc" exactly "2.0"; "method" a
 * string; "params" absent or structured (-32600); "method" in the table
 * (-32601); "params" an object and each param checked against the method's
 * schema: no unknown param, right type, string length (bytes) and format,
 * required ones present (-32602, data.field names the param).
 *
 * On success returns UK_OK, fills *req (free it with uk_rpc_req_free) and
 * sets *err_json to NULL. On failure *req is cleared, and *err_json is the
 * complete error response (caller frees), or NULL when the message was a
 * notification whose error JSON-RPC says must not be answered (-32601 and
 * -32602 without "id"; parse errors and invalid requests are always answered,
 * with id null when the id could not be read). Returns UK_E_MALFORMED
 * (-32700/-32600), UK_E_LIMIT (too deep), UK_E_NOT_FOUND (-32601),
 * UK_E_INVALID_ARG (-32602) or UK_E_NOMEM (-32603).
 *
 * Secret params inside the tree are wiped before any tree is freed here.
 * Logs nothing. Any thread.
 */
uk_rc uk_rpc_parse(const char *msg, size_t len, uk_rpc_req *req, char **err_json);

/* Wipes the characters of every secret string param (pin, puk, oldPin,
 * newPin, managementKey, wherever it sits in the tree, including strings in
 * arrays or objects under such a key), then frees req->root and clears *req.
 * Accepts NULL and a cleared request. */
void uk_rpc_req_free(uk_rpc_req *req);

/* The wiping half of uk_rpc_req_free, for a tree the caller owns. */
void uk_rpc_wipe_secrets(cJSON *tree);

/* {"jsonrpc":"2.0","id":<req's id>,"result":<result>}. result is consumed
 * (NULL is sent as null). NULL when req is a notification or on no memory.
 * A numeric id is echoed digit for digit. */
char *uk_rpc_result(const uk_rpc_req *req, cJSON *result);

/* {"jsonrpc":"2.0","id":..,"error":{"code":-32000,"message":uk_rc_desc(rc),
 * "data":{"reason":uk_rc_name(rc), ...extra}}}. extra (consumed, may be
 * NULL) is an object whose members are moved into data; a "reason" member
 * in it is ignored. req may be NULL (id null). NULL when req is a
 * notification or on no memory. */
char *uk_rpc_error(const uk_rpc_req *req, uk_rc rc, cJSON *extra);

/* {"jsonrpc":"2.0","method":method,"params":params}: a server push.
 * params is consumed; NULL leaves "params" out. NULL on no memory. */
char *uk_rpc_notification(const char *method, cJSON *params);

/* The method table as an array of names, for system.hello. Caller deletes. */
cJSON *uk_rpc_methods_json(void);

/* Writes t (UTC seconds since 1970) as "2026-12-14T08:00:00Z". UK_E_SIZE
 * when out_len is below 21 bytes; UK_E_INVALID_ARG for a year outside
 * 0..9999. */
uk_rc uk_rpc_time_iso8601(int64_t t, char *out, size_t out_len);

/*
 * JSON builders the daemon reuses. Each returns a new object (caller
 * deletes) or NULL on no memory.
 */

/* {tokenId, driver, label, manufacturer, model, serial, firmware, reader};
 * firmware left out when the card does not tell. */
cJSON *uk_rpc_token_json(const uk_token_info *info);

/* One certificate as cert.list shows it: {certId, slot, subject,
 * commonName, organization, orgUnit, subjectSerialNumber, issuer,
 * issuerCommonName, serialNumber, notBefore, notAfter, keyType, keyBits,
 * keyUsage[], status, renewal: {eligible, opensAt, closesAt, daysToExpiry}}.
 * p NULL means UK_RENEW_POLICY_DEFAULT. Also NULL when the DER is not a
 * certificate. */
cJSON *uk_rpc_cert_json(const uk_token_cert *c, int64_t now, const uk_renew_policy *p);

/*
 * The PIN guard of one token: the last WRONG PIN, kept only as SHA-256 of a
 * per-guard random salt and the PIN, with the tries left the card reported
 * after it. pin.verify never sends that PIN to the card again, so a page
 * retrying in a loop cannot lock the key (DESIGN.md section 6).
 *
 * A guard belongs to the token's worker thread (not thread-safe). Create
 * one per token handle; a new card session gets a new guard.
 */
typedef struct uk_pin_guard uk_pin_guard;

/* UK_E_CRYPTO when the random salt cannot be drawn, UK_E_NOMEM. */
uk_rc uk_pin_guard_new(uk_pin_guard **out);
/* Wipes and frees; accepts NULL. */
void uk_pin_guard_free(uk_pin_guard *g);
/* Remembers pin as the last wrong PIN, with the tries the card reported
 * after it (-1 if unknown). UK_E_CRYPTO if hashing fails. */
uk_rc uk_pin_guard_record(uk_pin_guard *g, const char *pin, int retries);
/* *match tells whether pin is the recorded wrong PIN; *retries is then the
 * recorded count (else -1). UK_E_CRYPTO if hashing fails. */
uk_rc uk_pin_guard_check(const uk_pin_guard *g, const char *pin, bool *match, int *retries);
/* Forgets the recorded PIN (after a right PIN, a change or an unblock). */
void uk_pin_guard_clear(uk_pin_guard *g);

/* Reports a stage of a long token method (renew.*) to the client that
 * asked: "verifyingPin", "generatingKey", ... (docs/protocol.md). Called on
 * the worker thread, in order, before the response. */
typedef void (*uk_rpc_progress_fn)(void *ctx, const char *token_id, const char *renewal_id,
                                   const char *stage);

/*
 * Where renewals are journaled (DESIGN.md section 5). The protocol layer
 * decides what a record holds and when it is written; the daemon owns the
 * files (daemon/journal.c). Called on the token's worker thread.
 *   put:    write record (an object) as id's record, durably, replacing any
 *   list:   every record that parses, an array of objects each with "id"
 *           added (caller deletes); *damaged counts the ones skipped
 *   remove: delete id's record durably; UK_E_NOT_FOUND when there was none
 */
typedef struct uk_rpc_journal {
    void *ctx;
    uk_rc (*put)(void *ctx, const char *id, const cJSON *record);
    uk_rc (*list)(void *ctx, cJSON **out, size_t *damaged);
    uk_rc (*remove)(void *ctx, const char *id);
} uk_rpc_journal;

/* What a token method runs with. tok and guard are borrowed for the call. */
typedef struct uk_rpc_token_env {
    uk_token *tok;
    uk_pin_guard *guard; /* required for pin.* and renew.* */
    int64_t now;         /* UTC seconds */
    uk_renew_policy policy;
    /* renewal: the journal (NULL: renew.* answer NOT_SUPPORTED), whether
     * the old certificate stays after an install (the default) and whether
     * an issued certificate may change the subject */
    const uk_rpc_journal *journal;
    bool renew_remove_old;
    bool renew_allow_subject_change;
    uk_rpc_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} uk_rpc_token_env;

/*
 * Runs a request whose route is UK_RPC_ROUTE_TOKEN against env->tok and
 * returns the complete response (success or error; caller frees), or NULL
 * for a notification or on no memory. A request for another token than
 * env->tok is NOT_FOUND. Errors carry data.reason = uk_rc_name, and PIN/PUK
 * errors data.retriesLeft when known.
 *
 * pin.verify (DESIGN.md section 6): a PIN of the wrong format is refused
 * with no APDU; the PIN the guard holds as the last wrong one is answered
 * PIN_INCORRECT with the recorded retries and not sent; a blocked PIN is
 * PIN_BLOCKED; with one try left the PIN is sent only when confirmLastTry
 * is true (PIN_LAST_TRY otherwise); a wrong PIN is recorded in the guard,
 * a right one clears it.
 *
 * Blocks on the card; the token's worker thread only. Logs no params.
 */
char *uk_rpc_token_call(uk_rpc_token_env *env, const uk_rpc_req *req);

#endif
