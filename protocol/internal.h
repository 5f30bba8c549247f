/* SPDX-License-Identifier: MIT */
/*
 * What the files of protocol/ share and nobody else sees: the shape of a
 * method table entry, the token handlers it points to, and the pin.verify
 * decision sequence with the card behind two function pointers so it can
 * be tested without a card.
 */
#ifndef UK_PROTOCOL_INTERNAL_H
#define UK_PROTOCOL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/rpc.h"

typedef enum rpc_ptype { RPC_P_STRING, RPC_P_BOOL } rpc_ptype;

typedef enum rpc_pformat {
    RPC_F_ANY,
    RPC_F_HEX_LOWER, /* lowercase hex digits only (certId) */
    RPC_F_PRINTABLE, /* printable ASCII without space (0x21-0x7E): challenge */
    RPC_F_KEY_TYPE,  /* a name uk_key_type_parse knows */
} rpc_pformat;

/* One named param of a method. Strings: length in bytes, min..max. */
typedef struct rpc_param {
    const char *name;
    rpc_ptype type;
    bool required;
    size_t min;
    size_t max;
    rpc_pformat format;
} rpc_param;

/* A token handler: fills *result (success) or *extra (error data merged
 * into error.data) and returns the uk_rc. */
typedef uk_rc (*rpc_token_fn)(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                              cJSON **extra);

struct uk_rpc_method {
    const char *name;
    uk_rpc_route route;
    const rpc_param *params;
    size_t n_params;
    bool takes_token; /* has a required tokenId param */
    rpc_token_fn fn;  /* route TOKEN only */
};

uk_rc uk_rpc_h_token_info(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                          cJSON **extra);
uk_rc uk_rpc_h_cert_list(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                         cJSON **extra);
uk_rc uk_rpc_h_cert_get(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                        cJSON **extra);
uk_rc uk_rpc_h_pin_status(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                          cJSON **extra);
uk_rc uk_rpc_h_pin_verify(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                          cJSON **extra);
uk_rc uk_rpc_h_pin_change(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                          cJSON **extra);
uk_rc uk_rpc_h_pin_unblock(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                           cJSON **extra);

uk_rc uk_rpc_h_renew_begin(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                           cJSON **extra);
uk_rc uk_rpc_h_renew_install(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                             cJSON **extra);
uk_rc uk_rpc_h_renew_pending(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                             cJSON **extra);
uk_rc uk_rpc_h_renew_cancel(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **result,
                            cJSON **extra);

/* Param access for handlers: the string or NULL; whether it is true. */
const char *uk_rpc_param_str(const uk_rpc_req *req, const char *name);
bool uk_rpc_param_true(const uk_rpc_req *req, const char *name);
/* {"retriesLeft": n} for an error's data when n >= 0, else NULL. */
cJSON *uk_rpc_retries_extra(int tries);
/* The pin.verify sequence with the request's "pin" and "confirmLastTry"
 * on env's token and guard; *extra gets retriesLeft on a PIN error. */
uk_rc uk_rpc_env_pin(uk_rpc_token_env *env, const uk_rpc_req *req, cJSON **extra);

/* Is der a placeholder certificate of a staged renewal key (renew.c)? */
bool uk_rpc_is_placeholder(const uint8_t *der, size_t len);
/* Marks each entry of a cert.list array: "current" (no certificate with the
 * same subject on the token ends later) and a superseded one not eligible
 * for renewal (renewal.reason "SUPERSEDED"). certs[i] is entry i. */
void uk_rpc_mark_current(cJSON *arr, const uk_token_cert *const *certs, size_t n);

/* The card as pin.verify needs it (uk_token_pin_status / _verify). */
typedef struct uk_rpc_pin_card {
    uk_rc (*status)(void *card, int *tries, bool *verified);
    uk_rc (*verify)(void *card, const char *pin, int *tries);
    void *card;
} uk_rpc_pin_card;

/* PIV and the PKCS#11 tokens we meet take 6 to 8 characters; the token
 * layer applies the same rule again before any APDU. */
bool uk_rpc_pin_format_ok(const char *pin);

/* The pin.verify sequence of DESIGN.md section 6 (see uk_rpc_token_call).
 * *retries: tries left when known, else -1. */
uk_rc uk_rpc_pin_verify_run(const uk_rpc_pin_card *card, uk_pin_guard *g, const char *pin,
                            bool confirm_last_try, int *retries);

#endif
