/* SPDX-License-Identifier: MIT */
/*
 * The list of known USB-KEYs: exact USB vendor:product pairs, each marked
 * "ccid" (a CCID device: pcscd + libccid drive it when libccid lists it)
 * or "vendor" (HID, mass storage or a vendor class: it needs its maker's
 * PKCS#11 or SKF module), with the maker's driver download where known.
 *
 * The list is JSON (docs/diagnosis.md "The list of known keys"): the
 * installed file, then the files and inline entries of the configuration
 * key usbKeys, a later entry replacing an earlier one with the same
 * vid:pid. Parsing is strict: an unknown member, a wrong type, a vid or
 * pid that is not four hex digits, a duplicate inside one file — the whole
 * file is refused with a message naming the file and the entry, and the
 * list keeps what it had. Pure code; no threads; the caller owns the list.
 */
#ifndef UKD_USBKEYS_H
#define UKD_USBKEYS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/rc.h"

#define UKD_USBKEYS_MAX 4096         /* entries in one list */
#define UKD_USBKEYS_FILE_MAX 1048576 /* bytes of one file */
#define UKD_USBKEY_MODULES 4

typedef enum ukd_usbkey_kind {
    UKD_USBKEY_CCID,   /* pcscd + libccid */
    UKD_USBKEY_VENDOR, /* the maker's PKCS#11 / SKF module */
} ukd_usbkey_kind;

typedef struct ukd_usbkey {
    uint16_t vid;
    uint16_t pid;
    ukd_usbkey_kind kind;
    char maker[64];
    char name[96];
    char driver_url[256]; /* "" when unknown */
    /* file names of the maker's PKCS#11 modules ("libes_3000gm.so"); any
     * one configured counts as the driver being there */
    char modules[UKD_USBKEY_MODULES][64];
    size_t n_modules;
} ukd_usbkey;

/* A maker by USB vendor id (the list's "makers"): names an unknown
 * device of a known maker and gives its driver download. */
typedef struct ukd_usbmaker {
    uint16_t vid;
    char name[64];
    char driver_url[256]; /* "" when unknown */
} ukd_usbmaker;

typedef struct ukd_usbkeys {
    ukd_usbkey *v;
    size_t n;
    size_t cap;
    ukd_usbmaker *makers;
    size_t n_makers;
    size_t cap_makers;
} ukd_usbkeys;

/* "ccid" / "vendor". */
const char *ukd_usbkey_kind_name(ukd_usbkey_kind kind);

/* Adds the entries of one list document (the text of a file, len bytes,
 * need not be NUL-terminated) to db. origin names the source in messages.
 * On any error nothing is added, *err (caller frees) says what and where,
 * and the result is UK_E_MALFORMED (or UK_E_NOMEM / UK_E_LIMIT). */
uk_rc ukd_usbkeys_parse(ukd_usbkeys *db, const char *text, size_t len, const char *origin,
                        char **err);

/* Adds inline entries: arr is a JSON array of entry objects (the same
 * schema as a file's "keys"). Same errors as ukd_usbkeys_parse. */
uk_rc ukd_usbkeys_add_array(ukd_usbkeys *db, const cJSON *arr, const char *origin, char **err);

/* Reads and parses a file (at most UKD_USBKEYS_FILE_MAX bytes).
 * UK_E_NOT_FOUND when it does not exist; UK_E_IO when it cannot be read. */
uk_rc ukd_usbkeys_load_file(ukd_usbkeys *db, const char *path, char **err);

/* The entry for vid:pid, or NULL. Borrowed until the next change of db. */
const ukd_usbkey *ukd_usbkeys_find(const ukd_usbkeys *db, uint16_t vid, uint16_t pid);

/* The maker of vendor id vid, or NULL. Borrowed like ukd_usbkeys_find. */
const ukd_usbmaker *ukd_usbkeys_maker(const ukd_usbkeys *db, uint16_t vid);

void ukd_usbkeys_free(ukd_usbkeys *db);

#endif
