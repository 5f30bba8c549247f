/* SPDX-License-Identifier: MIT */
/*
 * PKCS#11 modules and the tokens in their slots.
 *
 * A module is a shared library named by an absolute path. It is loaded
 * only when its canonical path (realpath) is in the allowlist the caller
 * gives, with dlopen, C_GetFunctionList and C_Initialize with OS locking
 * (so the module may be called from several worker threads at once); it
 * is finalised and closed on every path, including a failed load.
 *
 * Threads: a module handle is shared by the threads that use its slots;
 * each token opened from it (uk_token_open_p11) belongs to one thread at a
 * time, like every uk_token. Every call into a module may block for as
 * long as the module likes: call it only from a thread that may wait.
 *
 * The pure helpers at the end (CK_RV mapping, token ids, PIN flags,
 * ECDSA signature form, p11-kit module files) touch no module.
 */
#ifndef UK_P11_H
#define UK_P11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/rc.h"
#include "uk/token.h"

typedef struct uk_p11_module uk_p11_module;

/* Loads and initialises the module at path. path must be absolute and its
 * realpath equal the realpath of one of allow[0..n_allow) (entries that do
 * not resolve are skipped); otherwise UK_E_MODULE_NOT_ALLOWED and nothing
 * is loaded. init_reserved (may be NULL) goes to C_Initialize's pReserved
 * (p11-kit's x-init-reserved option: NSS-style module parameters).
 * UK_E_MODULE_LOAD (dlopen or C_GetFunctionList failed), UK_E_MODULE_INIT
 * (C_Initialize failed). Blocks inside the module. */
uk_rc uk_p11_module_load(const char *path, const char *const *allow, size_t n_allow,
                         const char *init_reserved, uk_p11_module **out);

/* C_Finalize (unless uk_p11_module_cancel did it) and dlclose. Every token
 * opened from the module must be closed first. Accepts NULL. */
void uk_p11_module_unload(uk_p11_module *m);

/* C_Finalize from another thread, to wake a thread blocked in
 * uk_p11_module_wait (PKCS#11 2.40 5.4: C_WaitForSlotEvent then returns
 * CKR_CRYPTOKI_NOT_INITIALIZED). Every token of the module must be closed
 * first; afterwards only uk_p11_module_unload may be called. */
void uk_p11_module_cancel(uk_p11_module *m);

/* The library description and version from C_GetInfo ("OpenSC smartcard
 * framework 0.23"), for logs and env.check. Borrowed until unload. */
const char *uk_p11_module_description(const uk_p11_module *m);

/* Slots with a token present (C_GetSlotList(CK_TRUE)), up to max. */
uk_rc uk_p11_module_slots(uk_p11_module *m, unsigned long *slots, size_t max, size_t *n);

/* Waits for a slot event (C_WaitForSlotEvent). With block false it only
 * asks: UK_E_NOT_FOUND when nothing happened, UK_E_UNSUPPORTED when the
 * module does not support slot events at all (then the caller rescans on
 * PC/SC events instead). UK_E_CANCELLED after uk_p11_module_cancel. */
uk_rc uk_p11_module_wait(uk_p11_module *m, bool block, unsigned long *slot);

/* Opens the token in a slot: a read-write session (read-only when the
 * token is write-protected) and its identity. The module must outlive
 * the token. UK_E_NO_CARD when the slot has no token. */
uk_rc uk_token_open_p11(uk_p11_module *m, unsigned long slot, uk_token **out);

/* ---- pure helpers (any thread) ---- */

/* The one CK_RV -> uk_rc mapping. */
uk_rc uk_p11_rv_rc(unsigned long rv);

/* Copies a blank-padded, unterminated PKCS#11 text field (CK_UTF8CHAR
 * label[32], ...) into out without the trailing blanks. */
void uk_p11_text(const unsigned char *field, size_t len, char *out, size_t cap);

/* "p11:<manufacturer>:<serial>" from the trimmed fields; a ':' or a
 * control character in either is written as '_' so the id splits
 * unambiguously. UK_E_SIZE when out is too small. */
uk_rc uk_p11_token_id(const char *manufacturer, const char *serial, char *out, size_t cap);

/* The user PIN's state from CK_TOKEN_INFO.flags, the way the PIV driver
 * reports it: CKF_USER_PIN_LOCKED -> UK_E_PIN_BLOCKED, *tries 0;
 * CKF_USER_PIN_FINAL_TRY -> *tries 1; otherwise *tries -1 (unknown:
 * PKCS#11 tells only "low"), and *low is set for CKF_USER_PIN_COUNT_LOW. */
uk_rc uk_p11_pin_flags(unsigned long flags, int *tries, bool *low);

/* An ECDSA signature as PKCS#11 returns it (r || s, each half the
 * length) re-encoded as the DER ECDSA-Sig-Value X.509 wants. */
uk_rc uk_p11_ecdsa_der(const uint8_t *raw, size_t len, uint8_t *out, size_t *out_len);

/* The DER DigestInfo (RFC 8017 9.2) of a digest: what CKM_RSA_PKCS
 * signs. UK_E_INVALID_ARG when len is not md_nid's digest size. */
uk_rc uk_digest_info(int md_nid, const uint8_t *digest, size_t len, uint8_t *out, size_t *out_len);

/* One p11-kit module file (pkcs11.conf(5)): the module path ("module:",
 * relative names resolved against module_dir), and whether ukeyd should
 * load it: not a trust-policy module, not "disable-in" ukeyd, and when
 * "enable-in" is there, ukeyd among its names. init_reserved receives
 * "x-init-reserved" ("" when absent). UK_E_MALFORMED without "module:". */
uk_rc uk_p11_registry_parse(const char *text, const char *module_dir, char *path, size_t cap,
                            char *init_reserved, size_t ir_cap, bool *enabled);

#endif
