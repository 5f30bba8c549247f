// SPDX-License-Identifier: MIT
/*
 * Card monitor over SCardGetStatusChange. The state array holds the PnP
 * pseudo-reader first, then one entry per reader; each wait returns when
 * any of them changes (or on SCardCancel). Card events compare the PRESENT
 * bit and pcsc-lite's event counter (the high 16 bits of dwEventState), so a
 * key pulled and re-inserted between two wake-ups is still seen as removed
 * and inserted.
 */
#define _POSIX_C_SOURCE 200809L
#include "uk/monitor.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <winscard.h>

#include "uk/log.h"
#include "uk/pcsc.h"

#define PNP_READER "\\\\?PnP?\\Notification"
#define MAX_READERS 32

struct uk_monitor {
    SCARDCONTEXT ctx;
    atomic_bool have_ctx;
    atomic_bool cancelled;
    SCARD_READERSTATE st[MAX_READERS + 1];
    char *names[MAX_READERS + 1];
    size_t n; /* entries in st, PnP included */
};

const char *uk_monitor_kind_name(uk_monitor_kind kind)
{
    switch (kind) {
    case UK_MON_READER_ADDED:
        return "reader.added";
    case UK_MON_READER_REMOVED:
        return "reader.removed";
    case UK_MON_CARD_INSERTED:
        return "card.inserted";
    case UK_MON_CARD_REMOVED:
        return "card.removed";
    case UK_MON_SERVICE_DOWN:
        return "service.down";
    case UK_MON_SERVICE_UP:
        return "service.up";
    default:
        return "unknown";
    }
}

uk_rc uk_monitor_open(uk_monitor **out)
{
    uk_monitor *m = calloc(1, sizeof(*m));

    *out = NULL;
    if (m == NULL) {
        return UK_E_NOMEM;
    }
    atomic_init(&m->have_ctx, false);
    atomic_init(&m->cancelled, false);
    *out = m;
    return UK_OK;
}

static void emit(uk_monitor_fn fn, void *ctx, uk_monitor_kind kind, const char *reader,
                 const uint8_t *atr, size_t atr_len)
{
    uk_monitor_event ev = {.kind = kind, .reader = reader, .atr = atr, .atr_len = atr_len};

    uk_debug("%s %s", uk_monitor_kind_name(kind), reader ? reader : "");
    fn(&ev, ctx);
}

/* Forgets reader i; the last entry takes its place. */
static void drop_reader(uk_monitor *m, size_t i)
{
    size_t last = m->n - 1;

    free(m->names[i]);
    if (i != last) {
        m->names[i] = m->names[last];
        m->st[i] = m->st[last];
    }
    m->names[last] = NULL;
    m->n--;
}

/* Reports every known reader (and its card) as removed and forgets them. */
static void drop_all(uk_monitor *m, uk_monitor_fn fn, void *ctx)
{
    while (m->n > 1) {
        size_t i = m->n - 1;
        if (m->st[i].dwCurrentState & SCARD_STATE_PRESENT) {
            emit(fn, ctx, UK_MON_CARD_REMOVED, m->names[i], NULL, 0);
        }
        emit(fn, ctx, UK_MON_READER_REMOVED, m->names[i], NULL, 0);
        free(m->names[i]);
        m->names[i] = NULL;
        m->n--;
    }
}

/* Re-reads the reader list and reports readers added and removed. New
 * readers start UNAWARE so the next wait reports their card at once. */
static uk_rc sync_readers(uk_monitor *m, uk_monitor_fn fn, void *ctx)
{
    char *multi = NULL;
    DWORD len = 0;
    LONG rv;
    uk_rc rc = UK_OK;

    rv = SCardListReaders(m->ctx, NULL, NULL, &len);
    if (rv == SCARD_S_SUCCESS && len > 0) {
        multi = calloc(1, len + 1);
        if (multi == NULL) {
            return UK_E_NOMEM;
        }
        rv = SCardListReaders(m->ctx, NULL, multi, &len);
    }
    if (rv == SCARD_E_NO_READERS_AVAILABLE) {
        len = 0;
    } else if (rv != SCARD_S_SUCCESS) {
        free(multi);
        return uk_pcsc_rc(rv);
    }
    /* removed: known but not listed */
    for (size_t i = m->n; i-- > 1;) {
        bool listed = false;
        for (size_t o = 0; multi != NULL && o < len && multi[o] != '\0';
             o += strlen(multi + o) + 1) {
            if (strcmp(multi + o, m->names[i]) == 0) {
                listed = true;
                break;
            }
        }
        if (!listed) {
            if (m->st[i].dwCurrentState & SCARD_STATE_PRESENT) {
                emit(fn, ctx, UK_MON_CARD_REMOVED, m->names[i], NULL, 0);
            }
            emit(fn, ctx, UK_MON_READER_REMOVED, m->names[i], NULL, 0);
            drop_reader(m, i);
        }
    }
    /* added: listed but not known */
    for (size_t o = 0; multi != NULL && o < len && multi[o] != '\0'; o += strlen(multi + o) + 1) {
        bool known = false;
        for (size_t i = 1; i < m->n; i++) {
            if (strcmp(multi + o, m->names[i]) == 0) {
                known = true;
                break;
            }
        }
        if (known) {
            continue;
        }
        if (m->n == MAX_READERS + 1) {
            uk_warn("more than %d readers; ignoring '%s'", MAX_READERS, multi + o);
            continue;
        }
        m->names[m->n] = malloc(strlen(multi + o) + 1);
        if (m->names[m->n] == NULL) {
            rc = UK_E_NOMEM;
            break;
        }
        memcpy(m->names[m->n], multi + o, strlen(multi + o) + 1);
        memset(&m->st[m->n], 0, sizeof(m->st[m->n]));
        m->st[m->n].szReader = m->names[m->n];
        m->st[m->n].dwCurrentState = SCARD_STATE_UNAWARE;
        m->n++;
        emit(fn, ctx, UK_MON_READER_ADDED, m->names[m->n - 1], NULL, 0);
    }
    free(multi);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Waits for the service (no event exists for it), checking for cancel. */
static uk_rc connect_service(uk_monitor *m)
{
    long backoff = 50;
    LONG rv;

    for (;;) {
        if (atomic_load(&m->cancelled)) {
            return UK_E_CANCELLED;
        }
        rv = SCardEstablishContext(SCARD_SCOPE_USER, NULL, NULL, &m->ctx);
        if (rv == SCARD_S_SUCCESS) {
            atomic_store(&m->have_ctx, true);
            /* a cancel that came before the context existed */
            if (atomic_load(&m->cancelled)) {
                return UK_E_CANCELLED;
            }
            return UK_OK;
        }
        sleep_ms(backoff);
        backoff = backoff < 1000 ? backoff * 2 : 1000;
    }
}

static void release_service(uk_monitor *m)
{
    if (atomic_exchange(&m->have_ctx, false)) {
        SCardReleaseContext(m->ctx);
    }
}

/* Reports the card changes of readers 1..n-1 after a wait. */
static void card_changes(uk_monitor *m, uk_monitor_fn fn, void *ctx)
{
    for (size_t i = 1; i < m->n; i++) {
        SCARD_READERSTATE *s = &m->st[i];
        DWORD was = s->dwCurrentState;
        DWORD now = s->dwEventState;
        bool was_present = (was & SCARD_STATE_PRESENT) != 0;
        bool is_present = (now & SCARD_STATE_PRESENT) != 0;
        bool counter_moved = (was & 0xFFFF0000u) != (now & 0xFFFF0000u) &&
                             (was & SCARD_STATE_UNAWARE) == 0 && was != 0;

        if (!(now & SCARD_STATE_CHANGED)) {
            continue;
        }
        if (was_present && (!is_present || counter_moved)) {
            emit(fn, ctx, UK_MON_CARD_REMOVED, m->names[i], NULL, 0);
        }
        if (is_present && (!was_present || counter_moved)) {
            emit(fn, ctx, UK_MON_CARD_INSERTED, m->names[i], s->rgbAtr,
                 s->cbAtr <= sizeof(s->rgbAtr) ? s->cbAtr : 0);
        }
        s->dwCurrentState = now & ~(DWORD)SCARD_STATE_CHANGED;
    }
}

uk_rc uk_monitor_run(uk_monitor *mon, uk_monitor_fn fn, void *ctx)
{
    LONG rv;
    uk_rc rc;

    mon->n = 1;
    memset(&mon->st[0], 0, sizeof(mon->st[0]));
    mon->st[0].szReader = PNP_READER;
    for (;;) {
        rc = connect_service(mon);
        if (rc != UK_OK) {
            break;
        }
        emit(fn, ctx, UK_MON_SERVICE_UP, NULL, NULL, 0);
        mon->st[0].dwCurrentState = SCARD_STATE_UNAWARE;
        rc = sync_readers(mon, fn, ctx);
        while (rc == UK_OK) {
            if (atomic_load(&mon->cancelled)) {
                rc = UK_E_CANCELLED;
                break;
            }
            rv = SCardGetStatusChange(mon->ctx, INFINITE, mon->st, (DWORD)mon->n);
            if (atomic_load(&mon->cancelled)) {
                rc = UK_E_CANCELLED;
                break;
            }
            if (rv == SCARD_E_TIMEOUT || rv == SCARD_E_CANCELLED) {
                continue;
            }
            if (rv == SCARD_E_UNKNOWN_READER) {
                /* a reader vanished between list and wait */
                rc = sync_readers(mon, fn, ctx);
                continue;
            }
            if (rv != SCARD_S_SUCCESS) {
                rc = uk_pcsc_rc(rv);
                break;
            }
            card_changes(mon, fn, ctx);
            if (mon->st[0].dwEventState & SCARD_STATE_CHANGED) {
                mon->st[0].dwCurrentState = mon->st[0].dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
                rc = sync_readers(mon, fn, ctx);
            }
        }
        if (rc == UK_E_CANCELLED) {
            break;
        }
        /* the service went away (or an unexpected error): readers are gone */
        uk_info("PC/SC service lost (%s); waiting for it", uk_rc_name(rc));
        drop_all(mon, fn, ctx);
        emit(fn, ctx, UK_MON_SERVICE_DOWN, NULL, NULL, 0);
        release_service(mon);
    }
    drop_all(mon, fn, ctx);
    release_service(mon);
    return UK_E_CANCELLED;
}

void uk_monitor_cancel(uk_monitor *mon)
{
    atomic_store(&mon->cancelled, true);
    if (atomic_load(&mon->have_ctx)) {
        SCardCancel(mon->ctx);
    }
}

void uk_monitor_close(uk_monitor *mon)
{
    if (mon == NULL) {
        return;
    }
    for (size_t i = 1; i < MAX_READERS + 1; i++) {
        free(mon->names[i]);
    }
    free(mon);
}
