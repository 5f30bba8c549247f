/* SPDX-License-Identifier: MIT */
/*
 * The virtual PIV card: state and APDU processing, without any I/O.
 *
 * vk_card_apdu() takes one command APDU and produces the response (data ‖
 * SW1 SW2) exactly as a PIV card (NIST SP 800-73-4) with the Yubico
 * extensions would. It is a pure state machine over the card's persistent
 * state (keys, objects, counters) and its volatile session (PIN verified,
 * management key authenticated, chaining, pending response), so the fuzz
 * target can drive it directly. The caller saves the state when
 * vk_card_dirty() says it changed, before sending the response: a real card
 * commits a PIN counter before it answers.
 *
 * One thread at a time.
 */
#ifndef VK_CARD_H
#define VK_CARD_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/rc.h"

/* PIV algorithm identifiers (SP 800-78-4 table 6-2). */
#define VK_ALG_3DES 0x03
#define VK_ALG_RSA1024 0x06
#define VK_ALG_RSA2048 0x07
#define VK_ALG_AES128 0x08
#define VK_ALG_AES192 0x0A
#define VK_ALG_AES256 0x0C
#define VK_ALG_ECCP256 0x11
#define VK_ALG_ECCP384 0x14

/* Yubico PIN policy values (0 = the slot's default). */
#define VK_PIN_POLICY_DEFAULT 0
#define VK_PIN_POLICY_NEVER 1
#define VK_PIN_POLICY_ONCE 2
#define VK_PIN_POLICY_ALWAYS 3

#define VK_MAX_OBJECTS 64
#define VK_MAX_OBJECT_LEN 3063 /* a PIV data object's value, as on a YubiKey 5 */
#define VK_MAX_RESPONSE 4096
#define VK_MAX_APDU (VK_MAX_OBJECT_LEN + 64)

typedef struct vk_key {
    uint8_t alg; /* 0 = no key in this slot */
    uint8_t pin_policy;
    uint8_t touch_policy;
    EVP_PKEY *pkey;
} vk_key;

typedef struct vk_object {
    uint32_t tag; /* 0x5FC105, ... ; 0 = unused entry */
    uint8_t *data;
    size_t len;
} vk_object;

typedef struct vk_secret {
    uint8_t value[8]; /* padded with 0xFF to 8 bytes */
    uint8_t tries;
    uint8_t max_tries;
} vk_secret;

/* What the card keeps across power cycles: what the state file holds. */
typedef struct vk_state {
    uint32_t serial;
    uint8_t version[3];
    vk_secret pin;
    vk_secret puk;
    uint8_t mgmt_alg;
    uint8_t mgmt_key[32];
    size_t mgmt_key_len;
    vk_key keys[256]; /* indexed by key reference; only slot references used */
    vk_object objects[VK_MAX_OBJECTS];
} vk_state;

typedef struct vk_card vk_card;

/* Values a new card starts with. */
typedef struct vk_init {
    uint32_t serial;
    const char *pin; /* 6-8 characters */
    const char *puk; /* 6-8 characters */
    uint8_t pin_tries;
    uint8_t puk_tries;
    uint8_t mgmt_alg;
    const uint8_t *mgmt_key; /* NULL: the well-known default 3DES key */
    size_t mgmt_key_len;
} vk_init;

/* A new card in its factory state: PIN, PUK, management key from init,
 * CHUID and CCC objects, no keys. Caller frees with vk_card_free. */
uk_rc vk_card_new(const vk_init *init, vk_card **out);
void vk_card_free(vk_card *card);

/* The persistent state, for loading and saving; owned by the card. */
vk_state *vk_card_state(vk_card *card);

/* Processes one command APDU. resp receives data ‖ SW1 SW2 (at most
 * VK_MAX_RESPONSE + 2 bytes, so resp must hold that many). Always produces
 * a status word; never fails on bad input. */
void vk_card_apdu(vk_card *card, const uint8_t *apdu, size_t len, uint8_t *resp, size_t *resp_len);

/* Power off, power on or reset: the volatile session is cleared. */
void vk_card_reset(vk_card *card);

/* Makes the card a plain PIV card without the Yubico commands (GET
 * SERIAL, GET VERSION, SET MANAGEMENT KEY, SET RETRIES, RESET): 6D00. */
void vk_card_set_plain(vk_card *card, bool plain);

/* For tests and the fuzz target: sets the volatile session as if the PIN
 * had been verified and the management key authenticated. */
void vk_card_set_session(vk_card *card, bool pin_verified, bool mgmt_authed);

/* True when the persistent state changed since the last vk_card_clean(). */
bool vk_card_dirty(const vk_card *card);
void vk_card_clean(vk_card *card);

/* Sets an object's value (the content of tag 53) or deletes it (len 0). */
uk_rc vk_card_object_set(vk_card *card, uint32_t tag, const uint8_t *data, size_t len);
const vk_object *vk_card_object_get(const vk_card *card, uint32_t tag);

/* Puts a key in a slot (takes a reference to pkey). alg must match it. */
uk_rc vk_card_key_set(vk_card *card, uint8_t slot, uint8_t alg, EVP_PKEY *pkey);

/* The certificate object tag of a key slot (9A → 5FC105), 0 for none. */
uint32_t vk_slot_object(uint8_t slot);

/* True for the key references that hold asymmetric keys. */
bool vk_slot_valid(uint8_t slot);

/* The ISO historical-byte ATR the card answers with. */
extern const uint8_t vk_atr[];
extern const size_t vk_atr_len;

#endif
