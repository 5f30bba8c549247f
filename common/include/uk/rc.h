/* SPDX-License-Identifier: MIT */
/*
 * Result codes of ukeyd: one table, one enum, one set of names.
 *
 * Every fallible function returns uk_rc. UK_OK is 0, failures are negative.
 * The UPPER_SNAKE name of a code is its stable identity: it travels as
 * error.data.reason in the JSON protocol, so a code is never renumbered,
 * renamed or reused. New codes are appended with a fresh number.
 */
#ifndef UK_RC_H
#define UK_RC_H

/* X(symbol, value, reason name, English description) */
#define UK_RC_TABLE(X)                                                                             \
    X(UK_OK, 0, "OK", "success")                                                                   \
    X(UK_E_INTERNAL, -1, "INTERNAL_ERROR", "internal error")                                       \
    X(UK_E_NOMEM, -2, "OUT_OF_MEMORY", "out of memory")                                            \
    X(UK_E_INVALID_ARG, -3, "INVALID_ARGUMENT", "invalid argument")                                \
    X(UK_E_SIZE, -4, "BUFFER_TOO_SMALL", "output buffer too small")                                \
    X(UK_E_LIMIT, -5, "LIMIT_EXCEEDED", "size or count limit exceeded")                            \
    X(UK_E_MALFORMED, -6, "MALFORMED_DATA", "malformed data")                                      \
    X(UK_E_NOT_FOUND, -7, "NOT_FOUND", "not found")                                                \
    X(UK_E_UNSUPPORTED, -8, "NOT_SUPPORTED", "not supported")                                      \
    X(UK_E_IO, -9, "IO_ERROR", "input/output error")                                               \
    X(UK_E_TIMEOUT, -10, "TIMEOUT", "timed out")                                                   \
    X(UK_E_CANCELLED, -11, "CANCELLED", "cancelled")                                               \
    X(UK_E_CRYPTO, -12, "CRYPTO_ERROR", "cryptographic operation failed")                          \
    X(UK_E_PCSC_UNAVAILABLE, -20, "PCSC_UNAVAILABLE", "smart card service not running")            \
    X(UK_E_NO_READER, -21, "NO_READER", "no card reader")                                          \
    X(UK_E_NO_CARD, -22, "NO_CARD", "no card in the reader")                                       \
    X(UK_E_CARD_REMOVED, -23, "CARD_REMOVED", "card removed during the operation")                 \
    X(UK_E_CARD_BUSY, -24, "CARD_BUSY", "card in use by another program")                          \
    X(UK_E_CARD_ERROR, -25, "CARD_ERROR", "card returned an unexpected status")                    \
    X(UK_E_CARD_UNSUPPORTED, -26, "CARD_UNSUPPORTED", "card has no supported application")         \
    X(UK_E_SECURITY_STATUS, -27, "SECURITY_STATUS", "security status not satisfied")               \
    X(UK_E_PIN_INCORRECT, -30, "PIN_INCORRECT", "wrong PIN")                                       \
    X(UK_E_PIN_BLOCKED, -31, "PIN_BLOCKED", "PIN blocked")                                         \
    X(UK_E_PIN_FORMAT, -32, "PIN_INVALID_FORMAT", "PIN has an invalid format")                     \
    X(UK_E_PUK_INCORRECT, -33, "PUK_INCORRECT", "wrong PUK")                                       \
    X(UK_E_PUK_BLOCKED, -34, "PUK_BLOCKED", "PUK blocked")                                         \
    X(UK_E_AUTH_FAILED, -35, "MGMT_AUTH_FAILED", "management key authentication failed")           \
    X(UK_E_PIN_LAST_TRY, -36, "PIN_LAST_TRY", "one PIN try left: confirm the last try")            \
    X(UK_E_RENEWAL_NOT_ALLOWED, -37, "RENEWAL_NOT_ALLOWED",                                        \
      "the certificate is outside its renewal window")                                             \
    X(UK_E_RENEWAL_PENDING, -38, "RENEWAL_PENDING",                                                \
      "an unfinished renewal of this certificate exists")                                          \
    X(UK_E_RENEWAL_NOT_FOUND, -39, "RENEWAL_NOT_FOUND", "no such pending renewal on this key")     \
    X(UK_E_CERT_KEY_MISMATCH, -40, "CERT_KEY_MISMATCH",                                            \
      "the certificate is not for a key staged on this key")                                       \
    X(UK_E_CERT_NOT_VALID, -41, "CERT_NOT_VALID", "the certificate is not yet or no longer valid") \
    X(UK_E_CERT_SUBJECT_MISMATCH, -42, "CERT_SUBJECT_MISMATCH",                                    \
      "the certificate's subject differs from the renewed one")                                    \
    X(UK_E_NO_FREE_SLOT, -43, "NO_FREE_SLOT", "no free key slot on the key for the new key")       \
    X(UK_E_MODULE_NOT_ALLOWED, -44, "MODULE_NOT_ALLOWED",                                          \
      "the PKCS#11 module is not in the allowlist")                                                \
    X(UK_E_MODULE_LOAD, -45, "MODULE_LOAD_FAILED", "the PKCS#11 module cannot be loaded")          \
    X(UK_E_MODULE_INIT, -46, "MODULE_INIT_FAILED", "the PKCS#11 module failed to initialise")

typedef enum uk_rc {
#define UK_RC_ENUM(sym, val, name, desc) sym = (val),
    UK_RC_TABLE(UK_RC_ENUM)
#undef UK_RC_ENUM
} uk_rc;

/* The stable reason name ("PIN_INCORRECT"); "UNKNOWN_ERROR" for a value not
 * in the table. Never NULL; static storage; any thread. */
const char *uk_rc_name(uk_rc rc);

/* A short English description for logs; never NULL; any thread. */
const char *uk_rc_desc(uk_rc rc);

/* Looks a reason name up; UK_E_NOT_FOUND when it is not in the table. */
uk_rc uk_rc_from_name(const char *name, uk_rc *out);

#endif
