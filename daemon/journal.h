/* SPDX-License-Identifier: MIT */
/*
 * The renewal journal: one JSON record per unfinished renewal, one file
 * each under a per-user directory ($XDG_STATE_HOME/ukeyd/renewals/).
 *
 * Every write is atomic and durable: a temporary file in the same
 * directory, fsync, rename over the record, fsync of the directory. A
 * process killed at any instant leaves the old record or the new one,
 * never a mix. Records are 0600. Ids are 1-64 characters of [A-Za-z0-9_-],
 * so an id can never name a path outside the directory. A record that does
 * not parse is reported and skipped, never fatal: the token, not the
 * journal, is the truth (DESIGN.md section 5).
 *
 * Blocking file I/O; call from a worker thread, not the event loop.
 */
#ifndef UK_JOURNAL_H
#define UK_JOURNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "uk/rc.h"

/* Is id a valid record id? */
bool uk_journal_id_valid(const char *id);

/* Creates dir (0700) if needed. */
uk_rc uk_journal_open_dir(const char *dir);

/* Writes record (an object) as id's record, replacing any. */
uk_rc uk_journal_put(const char *dir, const char *id, const cJSON *record);

/* Reads id's record; caller frees with cJSON_Delete. UK_E_NOT_FOUND when
 * there is none, UK_E_MALFORMED when it does not parse. */
uk_rc uk_journal_get(const char *dir, const char *id, cJSON **out);

/* Every record that parses, as an array of objects each with its "id"
 * added; caller frees. Unparsable records are logged, counted in *damaged
 * (may be NULL) and skipped. */
uk_rc uk_journal_list(const char *dir, cJSON **out, size_t *damaged);

/* Removes id's record (durably); UK_E_NOT_FOUND if there was none. */
uk_rc uk_journal_remove(const char *dir, const char *id);

#endif
