/* SPDX-License-Identifier: MIT */
/*
 * The tray's picture of the world and the one function that turns it into
 * an icon state. Pure code: no GLib, no sockets, no clock (every function
 * takes "now"), so every state is unit-tested without a daemon or a key.
 *
 * The input is what ukeyd said over its Unix socket: whether it answers,
 * the inserted keys (token.list / token.inserted) and each key's
 * certificates (cert.list). The tray recomputes the state itself from the
 * certificates' dates, because it runs for days while the daemon's
 * "status" was true when cert.list answered.
 */
#ifndef UKT_MODEL_H
#define UKT_MODEL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/cert.h"
#include "uk/rc.h"

#define UKT_MAX_TOKENS 8
#define UKT_MAX_CERTS 16 /* per token; more are ignored (and logged by the caller) */
#define UKT_ID_MAX 129   /* token ids (driver:serial) and certificate ids (64 hex) */
#define UKT_NAME_MAX 256
#define UKT_SUBJECT_MAX 1024

typedef struct ukt_cert {
    char id[UKT_ID_MAX];             /* certId: SHA-256 of the DER, hex */
    char common_name[UKT_NAME_MAX];  /* "" when the subject has none */
    char organization[UKT_NAME_MAX]; /* "" when none */
    char subject[UKT_SUBJECT_MAX];   /* the whole subject, to match a renewed certificate */
    int64_t not_before;              /* UTC seconds */
    int64_t not_after;               /* UTC seconds */
    bool has_window;                 /* renewal was an object, not null */
    int64_t opens_at;                /* renewal.opensAt */
    int64_t closes_at;               /* renewal.closesAt */
} ukt_cert;

typedef struct ukt_token {
    char id[UKT_ID_MAX];
    char label[UKT_NAME_MAX];
    bool certs_known; /* cert.list answered for this insertion */
    ukt_cert certs[UKT_MAX_CERTS];
    size_t n_certs;
} ukt_token;

typedef struct ukt_input {
    bool reachable; /* ukeyd answered system.hello on its socket */
    ukt_token tokens[UKT_MAX_TOKENS];
    size_t n_tokens;
} ukt_input;

/* The icon states, from "nothing works" to "all is well". */
typedef enum ukt_state {
    UKT_STATE_STOPPED,  /* ukeyd is not running (or not reachable) */
    UKT_STATE_NOKEY,    /* ukeyd runs, no USB-KEY inserted */
    UKT_STATE_KEY,      /* a key is inserted, no certificate needs attention */
    UKT_STATE_EXPIRING, /* a certificate is in force and its renewal window is open */
    UKT_STATE_EXPIRED,  /* a certificate has expired (renewable or not) */
} ukt_state;

/* "stopped", "nokey", "key", "expiring", "expired". */
const char *ukt_state_name(ukt_state s);

typedef struct ukt_view {
    ukt_state state;
    size_t n_tokens;
    size_t n_certs;               /* certificates that count (not superseded) */
    const ukt_cert *focus;        /* the certificate that decided EXPIRING/EXPIRED, else the one
                                     expiring first; NULL when none. Borrowed from the input. */
    const ukt_token *focus_token; /* its key, or the first key; NULL when none */
    int64_t next_change;          /* the next instant a date crosses a boundary (window opens,
                                     expiry, window closes), 0 when none: re-evaluate then */
} ukt_view;

/* The certificate's status at now, by the daemon's rule (token/cert.c):
 * expired after notAfter, expiring from opensAt, not yet valid before
 * notBefore, valid otherwise. Without a window, valid or expired. */
uk_cert_status ukt_cert_status_at(const ukt_cert *c, int64_t now);

/* Is online renewal allowed at now (opensAt <= now <= closesAt)? */
bool ukt_cert_renewable_at(const ukt_cert *c, int64_t now);

/* Has c been renewed: is there, on any inserted key, another certificate
 * with the same subject that expires later and has not expired at now?
 * After an online renewal the old certificate stays on the key (its key
 * may be needed to decrypt old data), so the tray must not keep warning
 * about it. */
bool ukt_cert_superseded(const ukt_input *in, const ukt_cert *c, int64_t now);

/* The icon state and what the title says, at now. */
void ukt_view_compute(const ukt_input *in, int64_t now, ukt_view *out);

/* Whole days from now to the certificate's expiry, rounded down (negative
 * once expired), as the daemon's renewal.daysToExpiry. */
int64_t ukt_days_to_expiry(const ukt_cert *c, int64_t now);

/* Parses "2026-12-14T08:19:30Z" (the protocol's only time form).
 * UK_E_MALFORMED for anything else. */
uk_rc ukt_time_parse(const char *s, int64_t *out);

/* A token object (token.list entry or token.inserted params) into *out
 * (certificates cleared). UK_E_MALFORMED without a string tokenId. */
uk_rc ukt_token_parse(const cJSON *obj, ukt_token *out);

/* A cert.list result ({"certs": [...]}) into tok's certificates;
 * certificates whose dates do not parse are skipped, more than
 * UKT_MAX_CERTS are dropped (*dropped says how many). Sets certs_known.
 * UK_E_MALFORMED when result has no "certs" array. */
uk_rc ukt_certs_parse(const cJSON *result, ukt_token *tok, size_t *dropped);

/* Finds a token by id; NULL when absent. */
ukt_token *ukt_input_token(ukt_input *in, const char *id);

/* Adds or replaces a token (by id). UK_E_LIMIT when UKT_MAX_TOKENS are in. */
uk_rc ukt_input_put_token(ukt_input *in, const ukt_token *tok);

/* Removes a token by id; false when it was not there. */
bool ukt_input_remove_token(ukt_input *in, const char *id);

#endif
