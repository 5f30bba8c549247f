/* SPDX-License-Identifier: MIT */
/*
 * The daemon's tokens: one monitor thread that turns PC/SC events into
 * reader and token events, and one worker thread per inserted key that
 * owns its uk_token and runs its jobs one at a time.
 *
 * Threads never touch sockets. Everything they produce — job results and
 * events — goes into one queue that the event loop drains after the wake-up
 * function (lws_cancel_service) tells it to. The loop never waits for a
 * card: submitting a job only appends to the worker's queue.
 */
#ifndef UKD_TOKENS_H
#define UKD_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/cert.h"
#include "uk/rc.h"
#include "uk/rpc.h"
#include "uk/token.h"

typedef struct ukd_tokens ukd_tokens;

/* What the loop gets back: a response or an event for one session, or an
 * event for all. */
typedef enum ukd_output_kind {
    UKD_OUT_RESPONSE,     /* json answers a request of session */
    UKD_OUT_NOTIFICATION, /* json is a notification for every client after hello */
    UKD_OUT_EVENT,        /* json is a notification for session only (renew.progress) */
} ukd_output_kind;

/* How token methods run: the renewal policy and options, and the journal
 * directory (NULL: no renewal). Copied by ukd_tokens_start. */
typedef struct ukd_tokens_opts {
    uk_renew_policy policy;
    const char *journal_dir;
    bool renew_remove_old;
    bool renew_allow_subject_change;
    /* PKCS#11 modules to load (absolute paths; also the allowlist), with
     * each one's C_Initialize reserved string ("" for none) */
    const char *const *p11_modules;
    const char *const *p11_init_reserved;
    size_t n_p11_modules;
} ukd_tokens_opts;

typedef struct ukd_output {
    ukd_output_kind kind;
    uint64_t session;
    char *json; /* owned; malloc'ed */
    struct ukd_output *next;
} ukd_output;

/* Starts the monitor thread. wake(ctx) is called from any thread when
 * output is queued. */
uk_rc ukd_tokens_start(const ukd_tokens_opts *opts, void (*wake)(void *), void *wake_ctx,
                       ukd_tokens **out);

/* Stops everything: the monitor is cancelled, each worker finishes the job
 * it is running (a card operation is never cut in half), fails the queued
 * ones, closes its token and exits. Blocks until all threads are joined. */
void ukd_tokens_stop(ukd_tokens *t);

/* Queues a TOKEN-route request for its token's worker (takes ownership of
 * req). If no such token is inserted, the error response is queued at
 * once. Loop thread. */
void ukd_tokens_submit(ukd_tokens *t, uint64_t session, uk_rpc_req *req);

/* Takes everything queued so far (a list in order), for the loop to send.
 * Loop thread. */
ukd_output *ukd_tokens_drain(ukd_tokens *t);
void ukd_output_free(ukd_output *o);

/* Snapshots for token.list and env.check (caller frees with cJSON_Delete):
 * an array of token objects, and an array of {name, card} readers.
 * pcsc_ok tells whether the PC/SC service answers. Loop thread. */
cJSON *ukd_tokens_list_json(ukd_tokens *t);
cJSON *ukd_tokens_readers_json(ukd_tokens *t, bool *pcsc_ok);

/* The PKCS#11 modules for env.check (caller frees): an array of
 * {module, status: "loading" | "ok" | "failed", problem (reason name, when
 * failed), description, slotEvents}. Loop thread. */
cJSON *ukd_tokens_p11_json(ukd_tokens *t);

/* env.check's tokens: the token objects, each with "facts" ({pin, certs,
 * readAt} or {error}) as its worker last read them. Where the facts are
 * missing or older than a minute the worker is asked to read them when it
 * is idle — never the loop — the object says "factsPending": true, and an
 * env.changed notification {"cause": "token", "tokenId"} follows the read.
 * Loop thread; never blocks on a card. */
cJSON *ukd_tokens_env_json(ukd_tokens *t, int64_t now);

/* Number of jobs queued or running for a session (for the per-client cap). */
int ukd_tokens_pending(ukd_tokens *t, uint64_t session);

/* The session is gone: its queued jobs are dropped (a running one finishes;
 * its answer is discarded by the loop). */
void ukd_tokens_forget_session(ukd_tokens *t, uint64_t session);

#endif
