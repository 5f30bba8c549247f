/* SPDX-License-Identifier: MIT */
/*
 * The card's state file: PIN/PUK and counters, management key, keys (as
 * PKCS#8 DER) and data objects, one line each, hex-encoded. Saving writes a
 * temporary file, fsyncs it, renames it over the old one and fsyncs the
 * directory, so a killed program leaves the old state or the new, never a
 * mix. The file holds private keys: it is created with mode 0600.
 */
#ifndef VK_STATE_H
#define VK_STATE_H

#include "card.h"
#include "uk/rc.h"

/* Loads path into a new card. UK_E_NOT_FOUND when the file does not exist;
 * UK_E_MALFORMED (logged with the line number) when it does not parse. */
uk_rc vk_state_load(const char *path, vk_card **out);

/* Saves the card's persistent state to path atomically. */
uk_rc vk_state_save(vk_card *card, const char *path);

#endif
