// SPDX-License-Identifier: MIT
/*
 * Names and descriptions of the result codes, generated from the one table
 * in uk/rc.h so a code and its name can never drift apart.
 */
#include "uk/rc.h"

#include <stddef.h>
#include <string.h>

struct rc_entry {
    uk_rc rc;
    const char *name;
    const char *desc;
};

static const struct rc_entry rc_entries[] = {
#define UK_RC_ENTRY(sym, val, name, desc) {sym, name, desc},
    UK_RC_TABLE(UK_RC_ENTRY)
#undef UK_RC_ENTRY
};

static const struct rc_entry *find(uk_rc rc)
{
    for (size_t i = 0; i < sizeof(rc_entries) / sizeof(rc_entries[0]); i++) {
        if (rc_entries[i].rc == rc) {
            return &rc_entries[i];
        }
    }
    return NULL;
}

const char *uk_rc_name(uk_rc rc)
{
    const struct rc_entry *e = find(rc);
    return e ? e->name : "UNKNOWN_ERROR";
}

const char *uk_rc_desc(uk_rc rc)
{
    const struct rc_entry *e = find(rc);
    return e ? e->desc : "unknown error";
}

uk_rc uk_rc_from_name(const char *name, uk_rc *out)
{
    if (out == NULL) {
        return UK_E_INVALID_ARG;
    }
    *out = UK_E_INTERNAL;
    if (name == NULL) {
        return UK_E_INVALID_ARG;
    }
    for (size_t i = 0; i < sizeof(rc_entries) / sizeof(rc_entries[0]); i++) {
        if (strcmp(rc_entries[i].name, name) == 0) {
            *out = rc_entries[i].rc;
            return UK_OK;
        }
    }
    return UK_E_NOT_FOUND;
}
