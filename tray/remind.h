/* SPDX-License-Identifier: MIT */
/*
 * When the tray reminds the user to renew: a desktop notification when a
 * certificate's renewal window opens, then weekly until it is renewed (or
 * the window closes), and never more than one notification a day, however
 * many certificates are due. The decision is a pure function of the
 * certificates, the remembered dates and today's date; the dates live in
 * $XDG_STATE_HOME/ukeyd/tray.json (written by the caller, atomically).
 *
 * Days are local calendar days counted from 1970-01-01 (a "day number"):
 * "one a day" means one per date on the user's calendar.
 */
#ifndef UKT_REMIND_H
#define UKT_REMIND_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "uk/rc.h"

#define UKT_REMIND_MAX 64     /* remembered certificates; the oldest is forgotten first */
#define UKT_REMIND_EVERY 7    /* days between reminders for one certificate */
#define UKT_REMIND_NEVER (-1) /* a day number meaning "not yet" */

typedef struct ukt_remind_entry {
    char cert_id[UKT_ID_MAX];
    int64_t day; /* the day this certificate was last in a notification */
} ukt_remind_entry;

typedef struct ukt_remind_state {
    int64_t last_day; /* the day of the last notification, UKT_REMIND_NEVER */
    ukt_remind_entry entries[UKT_REMIND_MAX];
    size_t n;
} ukt_remind_state;

void ukt_remind_init(ukt_remind_state *st);

/* The certificates to put in a notification now, at most cap, into due
 * (borrowed from in); returns how many. 0 with *why saying why not:
 * daemon unreachable, nothing renewable, already one today, or every due
 * certificate was reminded fewer than UKT_REMIND_EVERY days ago. A
 * certificate counts when its window is open at now and it has not been
 * superseded by a renewed one (model.h). */
size_t ukt_remind_decide(const ukt_input *in, int64_t now, int64_t today,
                         const ukt_remind_state *st, const ukt_cert **due, size_t cap,
                         const char **why);

/* Records that a notification about due[0..n) was shown on today. */
void ukt_remind_mark(ukt_remind_state *st, const ukt_cert *const *due, size_t n, int64_t today);

/* The state file's JSON: {"version": 1, "lastNotified": "2026-11-24",
 * "certs": {"<certId>": "2026-11-24", ...}}. Caller frees with
 * cJSON_Delete; NULL when out of memory. */
cJSON *ukt_remind_to_json(const ukt_remind_state *st);

/* Reads it back. Unknown versions and malformed entries are dropped
 * (the worst outcome of a damaged file is one notification too many);
 * UK_E_MALFORMED when obj is not an object (st is then initialised). */
uk_rc ukt_remind_from_json(const cJSON *obj, ukt_remind_state *st);

/* Local calendar day of a UTC time (uses the process's time zone). */
int64_t ukt_local_day(int64_t now);

/* "YYYY-MM-DD" <-> day number. parse: UK_E_MALFORMED on anything else. */
uk_rc ukt_day_parse(const char *s, int64_t *day);
void ukt_day_format(int64_t day, char *out, size_t cap);

#endif
