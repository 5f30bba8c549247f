// SPDX-License-Identifier: MIT
/*
 * Monitor thread, per-token workers and the output queue (see tokens.h).
 *
 * One mutex guards the shared state: the worker list, the readers, every
 * worker's job queue and the output queue. It is held only to move
 * pointers, never across a card operation or a callback into the loop.
 */
#define _POSIX_C_SOURCE 200809L
#include "tokens.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "uk/log.h"
#include "uk/monitor.h"
#include "uk/p11.h"
#include "uk/pcsc.h"

#define MAX_READERS 32
#define MAX_MODULES 16
#define MAX_SLOTS 32
/* how long shutdown waits for a worker or module stuck in a call */
#define STOP_GRACE_SECONDS 10
#define FACTS_MAX_AGE 60 /* seconds before env.check asks for a fresh read */

struct job {
    uint64_t session;
    uk_rpc_req req;
    struct job *next;
};

struct p11mod;

struct worker {
    ukd_tokens *t;
    pthread_t thread;
    struct p11mod *pm; /* NULL: a PC/SC card (PIV); else a PKCS#11 slot */
    unsigned long slot;
    bool shadowed; /* the same key is listed by the PIV driver */
    char reader[128];
    pthread_cond_t cv;
    struct job *head;
    struct job *tail;
    bool stop;    /* card removed or shutdown: finish and exit */
    bool ready;   /* the token is open; info and token_id are set */
    bool removed; /* token.removed already announced */
    uint64_t running_session;
    bool running;
    uk_token_info info;
    /* env.check's facts (PIN state, certificates), read by this worker
     * when env.check asks and they are missing or old; never by the loop */
    bool facts_wanted;
    cJSON *facts;     /* owned; NULL until read */
    int64_t facts_at; /* when read (UTC s); 0: stale */
    struct worker *next;
};

struct reader {
    char name[128];
    uint8_t atr[UK_PCSC_ATR_MAX]; /* the card's, for env.check and support */
    size_t atr_len;
    bool card;
    bool unsupported; /* a card no driver knows */
    bool opening;     /* its worker is still opening the card */
};

/* A PKCS#11 module: its own thread loads it, starts a worker per slot with
 * a token, and waits for slot events (C_WaitForSlotEvent, or a rescan
 * asked for by the PC/SC monitor when the module has no events). */
struct p11mod {
    ukd_tokens *t;
    pthread_t thread;
    bool started;
    char path[4096];
    char init_reserved[256];
    uk_p11_module *m;
    const char *status; /* "loading", "ok", "failed" */
    uk_rc problem;
    char desc[96];
    bool events;  /* slot events from the module */
    bool in_wait; /* blocked in C_WaitForSlotEvent */
    bool rescan;
    bool done;
    pthread_cond_t cv;
};

struct ukd_tokens {
    pthread_mutex_t mu;
    pthread_cond_t all_gone;
    int n_workers;
    struct worker *workers;
    struct reader readers[MAX_READERS];
    size_t n_readers;
    bool pcsc_up;
    ukd_output *out_head;
    ukd_output *out_tail;
    uk_monitor *mon;
    pthread_t mon_thread;
    bool mon_started;
    /* workers that have returned, to be joined (so their thread-local
     * state, OpenSSL's included, is gone before the process exits) */
    pthread_t finished[64];
    size_t n_finished;
    bool mon_done; /* monitor_main returned (guarded by mu) */
    struct p11mod *mods[MAX_MODULES];
    size_t n_mods;
    const char *allow[MAX_MODULES]; /* the modules' paths: the allowlist */
    bool stopping;
    pthread_cond_t changed; /* a reader's card finished opening */
    uk_renew_policy policy;
    char journal_dir[4200]; /* "" when renewal is off */
    uk_rpc_journal journal; /* over journal_dir (daemon/journal.c) */
    bool renew_remove_old;
    bool renew_allow_subject_change;
    void (*wake)(void *);
    void *wake_ctx;
};

/* The renewal journal as the protocol layer sees it: files in journal_dir. */
static uk_rc journal_put(void *ctx, const char *id, const cJSON *record)
{
    uk_rc rc = uk_journal_open_dir(ctx);

    return rc == UK_OK ? uk_journal_put(ctx, id, record) : rc;
}

static uk_rc journal_list(void *ctx, cJSON **out, size_t *damaged)
{
    return uk_journal_list(ctx, out, damaged);
}

static uk_rc journal_remove(void *ctx, const char *id)
{
    return uk_journal_remove(ctx, id);
}

/* Appends output; called with mu held. The wake-up happens after unlock. */
static void push_locked(ukd_tokens *t, ukd_output_kind kind, uint64_t session, char *json)
{
    ukd_output *o;

    if (json == NULL) {
        return;
    }
    o = calloc(1, sizeof(*o));
    if (o == NULL) {
        free(json);
        return;
    }
    o->kind = kind;
    o->session = session;
    o->json = json;
    if (t->out_tail != NULL) {
        t->out_tail->next = o;
    } else {
        t->out_head = o;
    }
    t->out_tail = o;
}

static void notify_locked(ukd_tokens *t, const char *method, cJSON *params)
{
    push_locked(t, UKD_OUT_NOTIFICATION, 0, uk_rpc_notification(method, params));
}

static cJSON *reader_params(const char *reader)
{
    cJSON *p = cJSON_CreateObject();

    if (p != NULL && cJSON_AddStringToObject(p, "reader", reader) == NULL) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

static cJSON *removed_params(const struct worker *w)
{
    cJSON *p = reader_params(w->reader);

    if (p != NULL && cJSON_AddStringToObject(p, "tokenId", w->info.id) == NULL) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

/* Answers every queued job of w with reason rc; mu held. */
static void fail_jobs_locked(struct worker *w, uk_rc rc)
{
    while (w->head != NULL) {
        struct job *j = w->head;
        w->head = j->next;
        push_locked(w->t, UKD_OUT_RESPONSE, j->session, uk_rpc_error(&j->req, rc, NULL));
        uk_rpc_req_free(&j->req);
        free(j);
    }
    w->tail = NULL;
}

struct progress_ctx {
    ukd_tokens *t;
    uint64_t session;
};

/* renew.progress to the client that asked, queued before the response. */
static void progress_event(void *ctx, const char *token_id, const char *renewal_id,
                           const char *stage)
{
    struct progress_ctx *pc = ctx;
    cJSON *p = cJSON_CreateObject();

    if (p == NULL || cJSON_AddStringToObject(p, "tokenId", token_id) == NULL ||
        cJSON_AddStringToObject(p, "stage", stage) == NULL ||
        (renewal_id != NULL && cJSON_AddStringToObject(p, "renewalId", renewal_id) == NULL)) {
        cJSON_Delete(p);
        return;
    }
    pthread_mutex_lock(&pc->t->mu);
    push_locked(pc->t, UKD_OUT_EVENT, pc->session, uk_rpc_notification("renew.progress", p));
    pthread_mutex_unlock(&pc->t->mu);
    if (pc->t->wake) {
        pc->t->wake(pc->t->wake_ctx);
    }
}

/* Does a PKCS#11 slot's description name this PC/SC reader? (OpenSC
 * writes the reader's name there, cut to 64 characters.) */
static bool slot_is_reader(const char *desc, const char *reader)
{
    size_t n = strlen(desc);

    return n > 0 && strncmp(reader, desc, n) == 0 && (reader[n] == '\0' || n >= 63);
}

/* A key seen twice — by the PIV driver in a reader and by a PKCS#11 module
 * (OpenSC) over the same card — is listed once, by the PIV driver: it is
 * ours end to end (renewal with the key history, PIN policy) and does not
 * depend on a module's view of the card. A PKCS#11 token is shadowed when
 * its slot is a reader whose card the PIV driver opened, or when a token
 * with its id is listed already. Waits (mu held, bounded) while that
 * reader's card is still being opened. */
static bool p11_shadowed_locked(ukd_tokens *t, struct worker *w)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    for (;;) {
        bool opening = false;
        for (size_t i = 0; i < t->n_readers; i++) {
            if (t->readers[i].card && t->readers[i].opening &&
                slot_is_reader(w->info.reader, t->readers[i].name)) {
                opening = true;
            }
        }
        if (!opening || w->stop || t->stopping ||
            pthread_cond_timedwait(&t->changed, &t->mu, &until) != 0) {
            break;
        }
    }
    for (struct worker *o = t->workers; o != NULL; o = o->next) {
        if (o == w || !o->ready || o->stop) {
            continue;
        }
        if (strcmp(o->info.id, w->info.id) == 0 ||
            (o->pm == NULL && slot_is_reader(w->info.reader, o->reader))) {
            return true;
        }
    }
    return false;
}

/* A PIV key just opened in piv's reader: a PKCS#11 token already listed
 * for the same card leaves the list (token.removed), mu held. */
static void shadow_p11_locked(ukd_tokens *t, struct worker *piv)
{
    if (!piv->ready) {
        return;
    }
    for (struct worker *o = t->workers; o != NULL; o = o->next) {
        if (o->pm != NULL && o->ready && !o->stop && slot_is_reader(o->info.reader, piv->reader)) {
            o->ready = false;
            o->shadowed = true;
            notify_locked(t, "token.removed", removed_params(o));
            uk_info("token %s is the PIV key %s; listed once", o->info.id, piv->info.id);
        }
    }
}

/* Runs one token method of our own on the worker (as a client's job
 * would) and returns its result member, or NULL with *reason set. */
static cJSON *own_call(uk_rpc_token_env *env, const char *method, const char **reason)
{
    cJSON *msg_json = cJSON_CreateObject();
    cJSON *params = cJSON_CreateObject();
    char *msg = NULL;
    uk_rpc_req req;
    char *err = NULL;
    char *json;
    cJSON *resp;
    cJSON *result = NULL;
    uk_rc rc;

    *reason = "INTERNAL_ERROR";
    /* built like a client's request, so it is checked like one */
    cJSON_AddStringToObject(msg_json, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(msg_json, "id", 1);
    cJSON_AddStringToObject(msg_json, "method", method);
    cJSON_AddStringToObject(params, "tokenId", uk_token_info_get(env->tok)->id);
    cJSON_AddItemToObject(msg_json, "params", params);
    msg = cJSON_PrintUnformatted(msg_json);
    cJSON_Delete(msg_json);
    rc = msg != NULL ? uk_rpc_parse(msg, strlen(msg), &req, &err) : UK_E_NOMEM;
    free(msg);
    if (rc != UK_OK) {
        free(err);
        return NULL;
    }
    json = uk_rpc_token_call(env, &req);
    uk_rpc_req_free(&req);
    resp = json != NULL ? cJSON_Parse(json) : NULL;
    free(json);
    result = cJSON_DetachItemFromObjectCaseSensitive(resp, "result");
    if (result == NULL) {
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(resp, "error"), "data");
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(data, "reason");
        uk_rc why_rc = UK_E_INTERNAL;
        if (cJSON_IsString(why)) {
            uk_rc_from_name(why->valuestring, &why_rc);
        }
        *reason = uk_rc_name(why_rc);
    }
    cJSON_Delete(resp);
    return result;
}

/* The facts env.check decides on: {pin, certs, readAt} or {error}. The
 * same calls a client's token.info and cert.list make, so the card sees
 * nothing new (one PIN status, certificates read once per insertion). */
static cJSON *read_facts(uk_rpc_token_env *env)
{
    cJSON *facts = cJSON_CreateObject();
    const char *reason = NULL;
    cJSON *info = own_call(env, "token.info", &reason);
    cJSON *certs = info != NULL ? own_call(env, "cert.list", &reason) : NULL;
    char when[32];

    if (facts == NULL) {
        cJSON_Delete(info);
        cJSON_Delete(certs);
        return NULL;
    }
    if (info == NULL || certs == NULL) {
        cJSON_AddStringToObject(facts, "error", reason);
    } else {
        cJSON_AddItemToObject(facts, "pin", cJSON_DetachItemFromObjectCaseSensitive(info, "pin"));
        cJSON_AddItemToObject(facts, "certs",
                              cJSON_DetachItemFromObjectCaseSensitive(certs, "certs"));
    }
    if (uk_rpc_time_iso8601(env->now, when, sizeof(when)) == UK_OK) {
        cJSON_AddStringToObject(facts, "readAt", when);
    }
    cJSON_Delete(info);
    cJSON_Delete(certs);
    return facts;
}

static void fill_env(ukd_tokens *t, uk_token *tok, uk_pin_guard *guard, uk_rpc_token_env *env)
{
    memset(env, 0, sizeof(*env));
    env->tok = tok;
    env->guard = guard;
    env->now = (int64_t)time(NULL);
    env->policy = t->policy;
    env->journal = t->journal_dir[0] != '\0' ? &t->journal : NULL;
    env->renew_remove_old = t->renew_remove_old;
    env->renew_allow_subject_change = t->renew_allow_subject_change;
}

/* Methods after which the cached facts may be wrong (PIN tries spent,
 * certificates written): the next env.check reads them again. */
static bool changes_facts(const char *method)
{
    return strncmp(method, "pin.", 4) == 0 || strncmp(method, "renew.", 6) == 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    ukd_tokens *t = w->t;
    uk_pcsc *pcsc = NULL;
    uk_token *tok = NULL;
    uk_pin_guard *guard = NULL;
    uk_rc rc;

    if (w->pm != NULL) {
        rc = uk_token_open_p11(w->pm->m, w->slot, &tok);
    } else {
        rc = uk_pcsc_open(&pcsc);
        if (rc == UK_OK) {
            rc = uk_token_open(pcsc, w->reader, &tok);
        }
    }
    if (rc == UK_OK) {
        rc = uk_pin_guard_new(&guard);
    }
    pthread_mutex_lock(&t->mu);
    if (rc == UK_OK && !w->stop) {
        w->info = *uk_token_info_get(tok);
        if (w->pm != NULL) {
            snprintf(w->reader, sizeof(w->reader), "%s", w->info.reader);
            w->shadowed = p11_shadowed_locked(t, w);
        }
        if (w->shadowed) {
            uk_info("token %s (%s, slot %lu) is a key the PIV driver lists; listed once",
                    w->info.id, w->pm->path, w->slot);
        } else {
            w->ready = true;
            notify_locked(t, "token.inserted", uk_rpc_token_json(&w->info));
            uk_info("token %s ready in '%s'", w->info.id, w->reader);
        }
        if (w->pm == NULL) {
            shadow_p11_locked(t, w);
        }
    } else if (rc != UK_OK) {
        for (size_t i = 0; w->pm == NULL && i < t->n_readers; i++) {
            if (strcmp(t->readers[i].name, w->reader) == 0) {
                t->readers[i].unsupported = rc == UK_E_CARD_UNSUPPORTED;
            }
        }
        if (w->pm != NULL) {
            uk_info("token in slot %lu of %s not opened: %s", w->slot, w->pm->path, uk_rc_name(rc));
        } else {
            uk_info("card in '%s' not opened: %s", w->reader, uk_rc_name(rc));
            if (rc == UK_E_CARD_UNSUPPORTED) {
                /* env.check now says CARD_UNSUPPORTED: tell the clients */
                cJSON *p = reader_params(w->reader);
                cJSON_AddStringToObject(p, "cause", "card");
                notify_locked(t, "env.changed", p);
            }
        }
    }
    if (w->pm == NULL) {
        for (size_t i = 0; i < t->n_readers; i++) {
            if (strcmp(t->readers[i].name, w->reader) == 0) {
                t->readers[i].opening = false;
            }
        }
        pthread_cond_broadcast(&t->changed);
    }
    pthread_mutex_unlock(&t->mu);
    if (t->wake) {
        t->wake(t->wake_ctx);
    }
    for (;;) {
        struct job *j;
        uk_rpc_token_env env;
        char *json;
        bool stale;

        pthread_mutex_lock(&t->mu);
        while (w->head == NULL && !w->stop && !(w->facts_wanted && w->ready)) {
            pthread_cond_wait(&w->cv, &t->mu);
        }
        if (w->stop) {
            fail_jobs_locked(w, UK_E_CARD_REMOVED);
            pthread_mutex_unlock(&t->mu);
            break;
        }
        if (w->head == NULL) {
            /* no client waits: read the facts env.check asked for */
            cJSON *facts;
            cJSON *p;
            w->facts_wanted = false;
            pthread_mutex_unlock(&t->mu);
            fill_env(t, tok, guard, &env);
            facts = read_facts(&env);
            pthread_mutex_lock(&t->mu);
            cJSON_Delete(w->facts);
            w->facts = facts;
            w->facts_at = env.now;
            p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "cause", "token");
            cJSON_AddStringToObject(p, "tokenId", w->info.id);
            notify_locked(t, "env.changed", p);
            pthread_mutex_unlock(&t->mu);
            if (t->wake) {
                t->wake(t->wake_ctx);
            }
            continue;
        }
        j = w->head;
        w->head = j->next;
        if (w->head == NULL) {
            w->tail = NULL;
        }
        w->running = true;
        w->running_session = j->session;
        pthread_mutex_unlock(&t->mu);

        /* the card work, outside the lock */
        fill_env(t, tok, guard, &env);
        env.progress = progress_event;
        env.progress_ctx = &(struct progress_ctx){t, j->session};
        json = uk_rpc_token_call(&env, &j->req);
        stale = j->req.method != NULL && changes_facts(j->req.method);
        uk_rpc_req_free(&j->req);

        pthread_mutex_lock(&t->mu);
        w->running = false;
        if (stale) {
            w->facts_at = 0;
        }
        push_locked(t, UKD_OUT_RESPONSE, j->session, json);
        pthread_mutex_unlock(&t->mu);
        free(j);
        if (t->wake) {
            t->wake(t->wake_ctx);
        }
    }
    uk_pin_guard_free(guard);
    uk_token_close(tok);
    uk_pcsc_close(pcsc);

    pthread_mutex_lock(&t->mu);
    if (w->ready && !w->removed) {
        notify_locked(t, "token.removed", removed_params(w));
    }
    if (w->pm != NULL) {
        pthread_cond_broadcast(&w->pm->cv); /* its module may unload now */
    }
    /* unlink and free */
    for (struct worker **pp = &t->workers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    pthread_cond_destroy(&w->cv);
    cJSON_Delete(w->facts);
    free(w);
    pthread_mutex_unlock(&t->mu);
    /* wake the loop while this worker still counts: once n_workers drops,
     * ukd_tokens_stop may free t and the loop may be gone */
    if (t->wake) {
        t->wake(t->wake_ctx);
    }
    pthread_mutex_lock(&t->mu);
    t->n_workers--;
    if (t->n_finished < sizeof(t->finished) / sizeof(t->finished[0])) {
        t->finished[t->n_finished++] = pthread_self();
    } else {
        pthread_detach(pthread_self()); /* never in practice: the loop reaps often */
    }
    pthread_cond_broadcast(&t->all_gone);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* Joins the workers that have returned. Not with mu held: a worker may
 * still be between recording itself and unlocking. */
static void reap_workers(ukd_tokens *t)
{
    pthread_t done[64];
    size_t n;

    pthread_mutex_lock(&t->mu);
    n = t->n_finished;
    memcpy(done, t->finished, n * sizeof(done[0]));
    t->n_finished = 0;
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < n; i++) {
        pthread_join(done[i], NULL);
    }
}

/* mu held */
static void start_worker_locked(ukd_tokens *t, const char *reader, struct p11mod *pm,
                                unsigned long slot)
{
    struct worker *w = t->stopping ? NULL : calloc(1, sizeof(*w));

    if (w == NULL) {
        return;
    }
    w->t = t;
    w->pm = pm;
    w->slot = slot;
    snprintf(w->reader, sizeof(w->reader), "%s", reader);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        uk_err("cannot start a worker for '%s'", reader);
        pthread_cond_destroy(&w->cv);
        free(w);
    } else {
        w->next = t->workers;
        t->workers = w;
        t->n_workers++;
    }
}

/* mu held: the card left the reader; its token is gone for clients now,
 * even if the worker is still finishing a job. */
static void stop_workers_locked(ukd_tokens *t, const char *reader)
{
    for (struct worker *w = t->workers; w != NULL; w = w->next) {
        if (w->pm != NULL || strcmp(w->reader, reader) != 0 || w->stop) {
            continue; /* PKCS#11 tokens follow their module's slots */
        }
        w->stop = true;
        if (w->ready && !w->removed) {
            w->removed = true;
            notify_locked(t, "token.removed", removed_params(w));
        }
        pthread_cond_signal(&w->cv);
    }
}

static void on_monitor(const uk_monitor_event *ev, void *ctx)
{
    ukd_tokens *t = ctx;

    pthread_mutex_lock(&t->mu);
    switch (ev->kind) {
    case UK_MON_SERVICE_UP:
        t->pcsc_up = true;
        break;
    case UK_MON_SERVICE_DOWN:
        t->pcsc_up = false;
        break;
    case UK_MON_READER_ADDED:
        if (t->n_readers < MAX_READERS) {
            struct reader *r = &t->readers[t->n_readers++];
            memset(r, 0, sizeof(*r));
            snprintf(r->name, sizeof(r->name), "%s", ev->reader);
        }
        notify_locked(t, "reader.added", reader_params(ev->reader));
        break;
    case UK_MON_READER_REMOVED:
        for (size_t i = 0; i < t->n_readers; i++) {
            if (strcmp(t->readers[i].name, ev->reader) == 0) {
                t->readers[i] = t->readers[--t->n_readers];
                break;
            }
        }
        stop_workers_locked(t, ev->reader);
        notify_locked(t, "reader.removed", reader_params(ev->reader));
        break;
    case UK_MON_CARD_INSERTED:
        for (size_t i = 0; i < t->n_readers; i++) {
            if (strcmp(t->readers[i].name, ev->reader) == 0) {
                t->readers[i].card = true;
                t->readers[i].unsupported = false;
                t->readers[i].atr_len = 0;
                if (ev->atr != NULL && ev->atr_len <= sizeof(t->readers[i].atr)) {
                    memcpy(t->readers[i].atr, ev->atr, ev->atr_len);
                    t->readers[i].atr_len = ev->atr_len;
                }
            }
        }
        for (size_t i = 0; i < t->n_readers; i++) {
            if (strcmp(t->readers[i].name, ev->reader) == 0) {
                t->readers[i].opening = true;
            }
        }
        start_worker_locked(t, ev->reader, NULL, 0);
        break;
    case UK_MON_CARD_REMOVED:
        for (size_t i = 0; i < t->n_readers; i++) {
            if (strcmp(t->readers[i].name, ev->reader) == 0) {
                t->readers[i].card = false;
                t->readers[i].unsupported = false;
            }
        }
        stop_workers_locked(t, ev->reader);
        break;
    }
    /* modules without slot events look again when PC/SC sees a change */
    if (ev->kind != UK_MON_SERVICE_UP && ev->kind != UK_MON_SERVICE_DOWN) {
        for (size_t i = 0; i < t->n_mods; i++) {
            if (!t->mods[i]->events) {
                t->mods[i]->rescan = true;
                pthread_cond_signal(&t->mods[i]->cv);
            }
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (t->wake) {
        t->wake(t->wake_ctx);
    }
}

/* ---- PKCS#11 modules ---- */

/* Starts workers for slots that got a token and stops those whose token
 * left (mu held). */
static void p11_sync_locked(ukd_tokens *t, struct p11mod *pm, const unsigned long *slots, size_t n)
{
    for (struct worker *w = t->workers; w != NULL; w = w->next) {
        bool present = false;
        if (w->pm != pm || w->stop) {
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            present = present || slots[i] == w->slot;
        }
        if (!present) {
            w->stop = true;
            if (w->ready && !w->removed) {
                w->removed = true;
                notify_locked(t, "token.removed", removed_params(w));
            }
            pthread_cond_signal(&w->cv);
        }
    }
    for (size_t i = 0; i < n; i++) {
        bool have = false;
        for (struct worker *w = t->workers; w != NULL; w = w->next) {
            have = have || (w->pm == pm && w->slot == slots[i] && !w->stop);
        }
        if (!have) {
            start_worker_locked(t, "", pm, slots[i]);
        }
    }
}

static void *module_main(void *arg)
{
    struct p11mod *pm = arg;
    ukd_tokens *t = pm->t;
    uk_p11_module *m = NULL;
    unsigned long slots[MAX_SLOTS];
    size_t n = 0;
    unsigned long ev = 0;
    bool events = false;
    uk_rc rc;

    rc = uk_p11_module_load(pm->path, t->allow, t->n_mods, pm->init_reserved, &m);
    if (rc == UK_OK) {
        /* a module without slot events says so to a non-blocking ask */
        rc = uk_p11_module_wait(m, false, &ev);
        events = rc == UK_OK || rc == UK_E_NOT_FOUND;
        rc = UK_OK;
    }
    pthread_mutex_lock(&t->mu);
    pm->m = m;
    pm->events = events;
    pm->status = rc == UK_OK ? "ok" : "failed";
    pm->problem = rc;
    if (m != NULL) {
        snprintf(pm->desc, sizeof(pm->desc), "%s", uk_p11_module_description(m));
    }
    pthread_mutex_unlock(&t->mu);
    if (t->wake) {
        t->wake(t->wake_ctx);
    }
    while (m != NULL) {
        rc = uk_p11_module_slots(m, slots, MAX_SLOTS, &n);
        pthread_mutex_lock(&t->mu);
        if (t->stopping) {
            pthread_mutex_unlock(&t->mu);
            break;
        }
        if (rc == UK_OK) {
            p11_sync_locked(t, pm, slots, n);
        } else {
            uk_warn("PKCS#11 module %s: slot list: %s", pm->path, uk_rc_name(rc));
        }
        if (pm->events) {
            pm->in_wait = true;
            pthread_mutex_unlock(&t->mu);
            if (t->wake) {
                t->wake(t->wake_ctx);
            }
            rc = uk_p11_module_wait(m, true, &ev);
            pthread_mutex_lock(&t->mu);
            pm->in_wait = false;
            if (rc != UK_OK && !t->stopping) {
                /* a module whose events fail goes on with PC/SC's */
                uk_log_write(rc == UK_E_UNSUPPORTED ? UK_LOG_INFO : UK_LOG_WARN, __func__,
                             "PKCS#11 module %s: slot events: %s; following PC/SC instead",
                             pm->path, uk_rc_name(rc));
                pm->events = false;
            }
        } else {
            pthread_mutex_unlock(&t->mu);
            if (t->wake) {
                t->wake(t->wake_ctx);
            }
            pthread_mutex_lock(&t->mu);
            while (!pm->rescan && !t->stopping) {
                pthread_cond_wait(&pm->cv, &t->mu);
            }
            pm->rescan = false;
        }
        if (t->stopping) {
            pthread_mutex_unlock(&t->mu);
            break;
        }
        pthread_mutex_unlock(&t->mu);
    }
    /* ukd_tokens_stop finalises and closes the module once this thread
     * has been joined: a thread's exit may run a module's thread-local
     * destructors, which must still be there */
    pthread_mutex_lock(&t->mu);
    pm->done = true;
    pthread_cond_broadcast(&t->all_gone);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static void start_modules(ukd_tokens *t, const ukd_tokens_opts *opts)
{
    for (size_t i = 0; i < opts->n_p11_modules && t->n_mods < MAX_MODULES; i++) {
        struct p11mod *pm = calloc(1, sizeof(*pm));
        if (pm == NULL) {
            return;
        }
        pm->t = t;
        pm->status = "loading";
        snprintf(pm->path, sizeof(pm->path), "%s", opts->p11_modules[i]);
        snprintf(pm->init_reserved, sizeof(pm->init_reserved), "%s",
                 opts->p11_init_reserved != NULL && opts->p11_init_reserved[i] != NULL
                     ? opts->p11_init_reserved[i]
                     : "");
        pthread_cond_init(&pm->cv, NULL);
        t->allow[t->n_mods] = pm->path;
        t->mods[t->n_mods++] = pm;
    }
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n_mods; i++) {
        struct p11mod *pm = t->mods[i];
        pm->started = pthread_create(&pm->thread, NULL, module_main, pm) == 0;
        if (!pm->started) {
            pm->status = "failed";
            pm->problem = UK_E_INTERNAL;
            pm->done = true;
        }
    }
    pthread_mutex_unlock(&t->mu);
}

/* Waits (mu held) for cond or the deadline; false when the deadline came. */
static bool wait_until(ukd_tokens *t, const struct timespec *until)
{
    return pthread_cond_timedwait(&t->all_gone, &t->mu, until) == 0;
}

static void *monitor_main(void *arg)
{
    ukd_tokens *t = arg;

    uk_monitor_run(t->mon, on_monitor, t);
    pthread_mutex_lock(&t->mu);
    t->mon_done = true;
    pthread_cond_broadcast(&t->all_gone);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* Stops the monitor. SCardCancel only interrupts a wait already in
 * progress, so a cancel that lands between two waits would be lost; it is
 * repeated every 100 ms until the thread has returned (shutdown only). */
static void stop_monitor(ukd_tokens *t)
{
    struct timespec until;

    pthread_mutex_lock(&t->mu);
    while (!t->mon_done) {
        pthread_mutex_unlock(&t->mu);
        uk_monitor_cancel(t->mon);
        pthread_mutex_lock(&t->mu);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (!t->mon_done) {
            pthread_cond_timedwait(&t->all_gone, &t->mu, &until);
        }
    }
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->mon_thread, NULL);
}

uk_rc ukd_tokens_start(const ukd_tokens_opts *opts, void (*wake)(void *), void *wake_ctx,
                       ukd_tokens **out)
{
    ukd_tokens *t;
    uk_rc rc;

    *out = NULL;
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return UK_E_NOMEM;
    }
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->all_gone, NULL);
    pthread_cond_init(&t->changed, NULL);
    t->policy = opts->policy;
    snprintf(t->journal_dir, sizeof(t->journal_dir), "%s",
             opts->journal_dir != NULL ? opts->journal_dir : "");
    t->journal = (uk_rpc_journal){t->journal_dir, journal_put, journal_list, journal_remove};
    t->renew_remove_old = opts->renew_remove_old;
    t->renew_allow_subject_change = opts->renew_allow_subject_change;
    t->wake = wake;
    t->wake_ctx = wake_ctx;
    rc = uk_monitor_open(&t->mon);
    if (rc == UK_OK && pthread_create(&t->mon_thread, NULL, monitor_main, t) != 0) {
        rc = UK_E_INTERNAL;
    }
    if (rc != UK_OK) {
        uk_monitor_close(t->mon);
        pthread_cond_destroy(&t->changed);
        pthread_cond_destroy(&t->all_gone);
        pthread_mutex_destroy(&t->mu);
        free(t);
        return rc;
    }
    t->mon_started = true;
    start_modules(t, opts);
    *out = t;
    return UK_OK;
}

void ukd_tokens_stop(ukd_tokens *t)
{
    struct timespec until;
    bool stuck = false;

    if (t == NULL) {
        return;
    }
    if (t->mon_started) {
        stop_monitor(t);
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += STOP_GRACE_SECONDS;
    pthread_mutex_lock(&t->mu);
    t->stopping = true;
    pthread_cond_broadcast(&t->changed);
    for (struct worker *w = t->workers; w != NULL; w = w->next) {
        w->stop = true;
        pthread_cond_signal(&w->cv);
    }
    for (size_t i = 0; i < t->n_mods; i++) {
        pthread_cond_signal(&t->mods[i]->cv);
    }
    while (t->n_workers > 0 && !stuck) {
        stuck = !wait_until(t, &until) && t->n_workers > 0;
    }
    /* no token is open now: wake the modules blocked in
     * C_WaitForSlotEvent with C_Finalize, then let each thread unload */
    for (size_t i = 0; !stuck && i < t->n_mods; i++) {
        if (t->mods[i]->in_wait) {
            /* not under mu: the woken thread takes it on its way out */
            uk_p11_module *m = t->mods[i]->m;
            pthread_mutex_unlock(&t->mu);
            uk_p11_module_cancel(m);
            pthread_mutex_lock(&t->mu);
        }
    }
    for (size_t i = 0; !stuck && i < t->n_mods; i++) {
        while (!t->mods[i]->done && !stuck) {
            stuck = !wait_until(t, &until) && !t->mods[i]->done;
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (stuck) {
        /* a module never came back from a call: its thread still uses
         * this state, so it is left as it is for the process exit */
        uk_err("a PKCS#11 module did not return within %d s; leaving it", STOP_GRACE_SECONDS);
        return;
    }
    reap_workers(t);
    for (size_t i = 0; i < t->n_mods; i++) {
        if (t->mods[i]->started) {
            pthread_join(t->mods[i]->thread, NULL);
        }
        uk_p11_module_unload(t->mods[i]->m); /* C_Finalize, dlclose */
        pthread_cond_destroy(&t->mods[i]->cv);
        free(t->mods[i]);
    }
    uk_monitor_close(t->mon);
    ukd_output_free(t->out_head);
    pthread_cond_destroy(&t->changed);
    pthread_cond_destroy(&t->all_gone);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void ukd_tokens_submit(ukd_tokens *t, uint64_t session, uk_rpc_req *req)
{
    struct worker *target = NULL;
    struct job *j;

    pthread_mutex_lock(&t->mu);
    for (struct worker *w = t->workers; w != NULL; w = w->next) {
        if (w->ready && !w->stop && req->token_id != NULL &&
            strcmp(w->info.id, req->token_id) == 0) {
            target = w;
            break;
        }
    }
    j = target ? calloc(1, sizeof(*j)) : NULL;
    if (j == NULL) {
        push_locked(t, UKD_OUT_RESPONSE, session,
                    uk_rpc_error(req, target ? UK_E_NOMEM : UK_E_NOT_FOUND, NULL));
        uk_rpc_req_free(req);
    } else {
        j->session = session;
        j->req = *req;
        memset(req, 0, sizeof(*req));
        if (target->tail != NULL) {
            target->tail->next = j;
        } else {
            target->head = j;
        }
        target->tail = j;
        pthread_cond_signal(&target->cv);
    }
    pthread_mutex_unlock(&t->mu);
    if (j == NULL && t->wake) {
        t->wake(t->wake_ctx);
    }
}

ukd_output *ukd_tokens_drain(ukd_tokens *t)
{
    ukd_output *o;

    reap_workers(t);
    pthread_mutex_lock(&t->mu);
    o = t->out_head;
    t->out_head = NULL;
    t->out_tail = NULL;
    pthread_mutex_unlock(&t->mu);
    return o;
}

void ukd_output_free(ukd_output *o)
{
    while (o != NULL) {
        ukd_output *next = o->next;
        free(o->json);
        free(o);
        o = next;
    }
}

cJSON *ukd_tokens_list_json(ukd_tokens *t)
{
    cJSON *arr = cJSON_CreateArray();

    pthread_mutex_lock(&t->mu);
    for (struct worker *w = t->workers; arr != NULL && w != NULL; w = w->next) {
        if (w->ready && !w->stop) {
            cJSON_AddItemToArray(arr, uk_rpc_token_json(&w->info));
        }
    }
    pthread_mutex_unlock(&t->mu);
    return arr;
}

cJSON *ukd_tokens_env_json(ukd_tokens *t, int64_t now)
{
    cJSON *arr = cJSON_CreateArray();

    pthread_mutex_lock(&t->mu);
    for (struct worker *w = t->workers; arr != NULL && w != NULL; w = w->next) {
        cJSON *o;
        if (!w->ready || w->stop) {
            continue;
        }
        o = uk_rpc_token_json(&w->info);
        if (o == NULL) {
            continue;
        }
        if (w->facts != NULL) {
            cJSON_AddItemToObject(o, "facts", cJSON_Duplicate(w->facts, true));
        }
        if (w->facts == NULL || w->facts_at == 0 || now - w->facts_at > FACTS_MAX_AGE ||
            now < w->facts_at) {
            cJSON_AddBoolToObject(o, "factsPending", true);
            w->facts_wanted = true;
            pthread_cond_signal(&w->cv);
        }
        cJSON_AddItemToArray(arr, o);
    }
    pthread_mutex_unlock(&t->mu);
    return arr;
}

cJSON *ukd_tokens_readers_json(ukd_tokens *t, bool *pcsc_ok)
{
    cJSON *arr = cJSON_CreateArray();

    pthread_mutex_lock(&t->mu);
    *pcsc_ok = t->pcsc_up;
    for (size_t i = 0; arr != NULL && i < t->n_readers; i++) {
        cJSON *r = cJSON_CreateObject();
        if (r == NULL) {
            break;
        }
        cJSON_AddStringToObject(r, "name", t->readers[i].name);
        cJSON_AddBoolToObject(r, "card", t->readers[i].card);
        cJSON_AddBoolToObject(r, "cardSupported", t->readers[i].card && !t->readers[i].unsupported);
        if (t->readers[i].card && t->readers[i].atr_len > 0) {
            char hex[2 * UK_PCSC_ATR_MAX + 1];
            for (size_t k = 0; k < t->readers[i].atr_len; k++) {
                snprintf(hex + 2 * k, 3, "%02X", t->readers[i].atr[k]);
            }
            cJSON_AddStringToObject(r, "atr", hex);
        }
        cJSON_AddItemToArray(arr, r);
    }
    pthread_mutex_unlock(&t->mu);
    return arr;
}

cJSON *ukd_tokens_p11_json(ukd_tokens *t)
{
    cJSON *arr = cJSON_CreateArray();

    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; arr != NULL && i < t->n_mods; i++) {
        const struct p11mod *pm = t->mods[i];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL) {
            break;
        }
        cJSON_AddStringToObject(o, "module", pm->path);
        cJSON_AddStringToObject(o, "status", pm->status);
        if (pm->problem != UK_OK) {
            cJSON_AddStringToObject(o, "problem", uk_rc_name(pm->problem));
        }
        cJSON_AddStringToObject(o, "description", pm->desc);
        cJSON_AddBoolToObject(o, "slotEvents", pm->events);
        cJSON_AddItemToArray(arr, o);
    }
    pthread_mutex_unlock(&t->mu);
    return arr;
}

int ukd_tokens_pending(ukd_tokens *t, uint64_t session)
{
    int n = 0;

    pthread_mutex_lock(&t->mu);
    for (struct worker *w = t->workers; w != NULL; w = w->next) {
        if (w->running && w->running_session == session) {
            n++;
        }
        for (struct job *j = w->head; j != NULL; j = j->next) {
            n += j->session == session;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

void ukd_tokens_forget_session(ukd_tokens *t, uint64_t session)
{
    pthread_mutex_lock(&t->mu);
    for (struct worker *w = t->workers; w != NULL; w = w->next) {
        struct job **pp = &w->head;
        w->tail = NULL;
        while (*pp != NULL) {
            struct job *j = *pp;
            if (j->session == session) {
                *pp = j->next;
                uk_rpc_req_free(&j->req);
                free(j);
            } else {
                w->tail = j;
                pp = &j->next;
            }
        }
    }
    pthread_mutex_unlock(&t->mu);
}
