/* SPDX-License-Identifier: MIT */
/*
 * The diagnosis behind env.check: from what the daemon already knows — the
 * PC/SC service and its readers, the tokens and the facts their workers
 * cached (PIN state, certificates), the USB devices libusb sees, the list
 * of known USB-KEYs and the PKCS#11 modules configured — it decides which
 * problems stand in the user's way, each with a code, a severity, a zh-CN
 * and an en explanation and the fix (docs/diagnosis.md).
 *
 * Pure code: no card, no file, no clock of its own (now is an input), so
 * every rule is unit-tested. Borrowed inputs; results are new cJSON trees
 * the caller deletes. Any thread.
 */
#ifndef UKD_DIAG_H
#define UKD_DIAG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usb.h"
#include "usbkeys.h"

typedef struct ukd_diag_input {
    const char *version;    /* the daemon's, "0.1.0" */
    const char *min_daemon; /* the asking client's minDaemonVersion, or NULL */
    bool pcsc_running;
    const cJSON *readers;    /* [{name, card, cardSupported}] */
    const cJSON *tokens;     /* token objects, each with "facts" when known */
    const ukd_usb_dev *devs; /* every device libusb sees */
    size_t n_devs;
    const ukd_usb_status *usb;
    const ukd_usbkeys *keys;
    const char *keys_error; /* why the key list is incomplete, or NULL */
    /* PKCS#11 modules that exist: configured (pkcs11Modules) and
     * registered with p11-kit; absolute paths */
    const char *const *config_modules;
    size_t n_config_modules;
    const char *const *p11kit_modules;
    size_t n_p11kit_modules;
    /* vid << 16 | pid of every device the installed PC/SC drivers (libccid's
     * Info.plist) declare; NULL when unknown */
    const uint32_t *driver_ids;
    size_t n_driver_ids;
    /* the PKCS#11 modules ukeyd loads, as env.check's "pkcs11" array
     * ({module, status, problem?}); NULL when none */
    const cJSON *pkcs11;
} ukd_diag_input;

/* env.check's "usb": {available, hotplug, reason?, devices: [...]} with the
 * devices of interest only: a known key by exact vid:pid, or any device
 * with a smart card (0x0B) interface. NULL on no memory. */
cJSON *ukd_diag_usb_json(const ukd_diag_input *in);

/* env.check's "problems", given the "usb" object built above. NULL on no
 * memory. */
cJSON *ukd_diag_problems(const ukd_diag_input *in, const cJSON *usb);

/* Compares two versions "MAJOR.MINOR.PATCH" (a "-..." or "+..." suffix is
 * ignored): <0, 0, >0. *ok is false when either does not parse (then 0). */
int ukd_diag_version_cmp(const char *a, const char *b, bool *ok);

#endif
