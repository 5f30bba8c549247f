// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the reader of the list of known USB-KEYs (a file a user or
 * a CA may write by hand). Any bytes end in a list or a message naming
 * what is wrong; a refused document adds nothing; an accepted one holds
 * only well-formed entries, which the diagnosis rules then use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "usbkeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ukd_usbkeys db = {0};
    char *err = NULL;
    /* exact-size copy without a NUL, as a file's bytes */
    char *txt = malloc(size ? size : 1);
    uk_rc rc;

    if (txt == NULL) {
        return 0;
    }
    memcpy(txt, data, size);
    rc = ukd_usbkeys_parse(&db, txt, size, "fuzz", &err);
    if (rc == UK_OK) {
        ukd_usb_dev dev = {0};
        ukd_usb_status st = {true, true, ""};
        ukd_diag_input in = {0};
        cJSON *usb;
        cJSON *problems;
        if (err != NULL) {
            abort();
        }
        for (size_t i = 0; i < db.n; i++) {
            if (db.v[i].name[0] == '\0' || db.v[i].n_modules > UKD_USBKEY_MODULES ||
                (db.v[i].kind != UKD_USBKEY_CCID && db.v[i].kind != UKD_USBKEY_VENDOR)) {
                abort();
            }
        }
        /* every entry found by the rules, as a plugged-in device */
        in.version = "0.1.0";
        in.pcsc_running = true;
        in.usb = &st;
        in.keys = &db;
        in.devs = &dev;
        in.n_devs = 1;
        for (size_t i = 0; i < db.n && i < 16; i++) {
            dev.vid = db.v[i].vid;
            dev.pid = db.v[i].pid;
            usb = ukd_diag_usb_json(&in);
            problems = usb != NULL ? ukd_diag_problems(&in, usb) : NULL;
            if (usb == NULL || problems == NULL || cJSON_GetArraySize(problems) < 1) {
                abort(); /* a known key without reader or module is a problem */
            }
            cJSON_Delete(usb);
            cJSON_Delete(problems);
        }
    } else if (db.n != 0 || (rc == UK_E_MALFORMED && err == NULL)) {
        abort();
    }
    free(err);
    ukd_usbkeys_free(&db);
    free(txt);
    return 0;
}
