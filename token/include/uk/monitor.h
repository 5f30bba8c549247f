/* SPDX-License-Identifier: MIT */
/*
 * The card monitor: waits in SCardGetStatusChange — on every reader and on
 * the PnP notification pseudo-reader — and reports readers coming and
 * going and cards inserted and removed. No polling while the service runs.
 *
 * uk_monitor_run blocks its calling thread (the daemon's monitor thread)
 * until uk_monitor_cancel, which any thread may call. If the PC/SC service
 * stops, every known reader is reported removed and the monitor waits for
 * the service to come back (the only retry loop: there is no event for a
 * service that is not there), then reports what it finds.
 */
#ifndef UK_MONITOR_H
#define UK_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "uk/rc.h"

typedef enum uk_monitor_kind {
    UK_MON_READER_ADDED,
    UK_MON_READER_REMOVED,
    UK_MON_CARD_INSERTED,
    UK_MON_CARD_REMOVED,
    UK_MON_SERVICE_DOWN, /* PC/SC service gone; readers were reported removed */
    UK_MON_SERVICE_UP,   /* back (also reported once when the monitor starts) */
} uk_monitor_kind;

/* "reader.added", "reader.removed", "card.inserted", "card.removed",
 * "service.down", "service.up". */
const char *uk_monitor_kind_name(uk_monitor_kind kind);

typedef struct uk_monitor_event {
    uk_monitor_kind kind;
    const char *reader; /* borrowed for the callback; NULL for service events */
    const uint8_t *atr; /* card.inserted only */
    size_t atr_len;
} uk_monitor_event;

/* Called on the monitor's thread for each event; must not call back into
 * the monitor except uk_monitor_cancel. */
typedef void (*uk_monitor_fn)(const uk_monitor_event *ev, void *ctx);

typedef struct uk_monitor uk_monitor;

/* Creates a monitor (its own PC/SC context, established in run). */
uk_rc uk_monitor_open(uk_monitor **out);
void uk_monitor_close(uk_monitor *mon);

/* Reports the current readers and cards, then every change, until
 * cancelled: returns UK_E_CANCELLED then. Blocks. */
uk_rc uk_monitor_run(uk_monitor *mon, uk_monitor_fn fn, void *ctx);

/* Makes a running uk_monitor_run return promptly. Any thread; idempotent.
 * SCardCancel interrupts only a wait in progress: a cancel landing between
 * two waits is seen at the next event, so a caller that must stop the
 * monitor repeats the cancel until uk_monitor_run has returned. */
void uk_monitor_cancel(uk_monitor *mon);

#endif
