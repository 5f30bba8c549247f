/* SPDX-License-Identifier: MIT */
/*
 * env.check as the daemon answers it: owns the USB monitor, the list of
 * known USB-KEYs (read at start) and the PKCS#11 module lookup, gathers
 * the tokens' cached facts, and hands everything to the pure rules of
 * diag.c. Loop thread, except where noted.
 */
#ifndef UKD_ENV_H
#define UKD_ENV_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "config.h"
#include "tokens.h"
#include "uk/rc.h"

typedef struct ukd_env ukd_env;

/* Reads the key lists (errors become the USB_KEY_LIST_INVALID problem,
 * never a failure) and starts the USB monitor. wake() is called from the
 * USB thread when the devices changed. cfg is borrowed for the life of
 * the env. UK_E_NOMEM only. */
uk_rc ukd_env_start(const ukd_config *cfg, void (*wake)(void *), void *wake_ctx, ukd_env **out);
void ukd_env_stop(ukd_env *e);

/* Whether the USB devices changed since the last call (then an
 * env.changed {"cause": "usb"} is due). Loop thread. */
bool ukd_env_take_changed(ukd_env *e);

/* The whole env.check result. min_daemon is the asking client's
 * minDaemonVersion (NULL if none). Never blocks on a card or a device. */
cJSON *ukd_env_check(ukd_env *e, ukd_tokens *tokens, const char *version, int port,
                     const char *min_daemon);

/* Reads the key lists as the daemon would and prints the first error to
 * *err (caller frees); for --check-config. */
uk_rc ukd_env_check_lists(const ukd_config *cfg, char **err);

#endif
