/* SPDX-License-Identifier: MIT */
/*
 * The token layer's one interface: an inserted key, reached through a
 * driver: PIV over PC/SC, or any PKCS#11 module (uk/p11.h); SKF later.
 *
 * A uk_token belongs to one thread at a time — the daemon's worker for that
 * token — and every call blocks on the card. Each call runs inside one PC/SC
 * transaction. Certificates are read once per card session and served from
 * memory until the card is removed or reset or the driver itself writes.
 *
 * Secrets (PIN, PUK, management key) are borrowed for the call only; the
 * layer copies them into APDU buffers that are wiped after sending and
 * never logs them.
 */
#ifndef UK_TOKEN_H
#define UK_TOKEN_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/buf.h"
#include "uk/pcsc.h"
#include "uk/rc.h"

typedef enum uk_key_type {
    UK_KEY_NONE = 0,
    UK_KEY_RSA1024,
    UK_KEY_RSA2048,
    UK_KEY_P256,
    UK_KEY_P384,
} uk_key_type;

/* "rsa2048", "p256", ...; NULL for UK_KEY_NONE. */
const char *uk_key_type_name(uk_key_type type);
/* Parses a name from uk_key_type_name; UK_KEY_NONE if unknown. */
uk_key_type uk_key_type_parse(const char *name);
/* The type of a public or private key; UK_KEY_NONE for other keys. */
uk_key_type uk_key_type_of(EVP_PKEY *pkey);

/* Where a key lives on a token: a PIV slot (one byte), a PKCS#11 CKA_ID. */
typedef struct uk_key_ref {
    uint8_t id[32];
    size_t len;
} uk_key_ref;

/* A PIV slot as a key reference. */
uk_key_ref uk_key_ref_slot(uint8_t slot);

typedef struct uk_token_info {
    char id[96];     /* "piv:<serial>", "p11:<manufacturer>:<serial>" */
    char driver[16]; /* "piv", "pkcs11" */
    char serial[40]; /* decimal (Yubico GET SERIAL) or CHUID GUID hex */
    char label[64];
    char manufacturer[64];
    char model[64];
    char firmware[16]; /* "5.2.7", empty when the card does not tell */
    char reader[128];  /* PC/SC reader; PKCS#11: the slot description */
    uint8_t atr[UK_PCSC_ATR_MAX];
    size_t atr_len;
} uk_token_info;

/* A certificate on the token. The DER bytes are owned by the token's cache
 * and stay valid until the next call that writes or deletes a certificate,
 * or until the token is closed. */
typedef struct uk_token_cert {
    uk_key_ref key;
    uint32_t object; /* PIV: the data object's tag (5FC105, ...) */
    const uint8_t *der;
    size_t der_len;
    char id[65]; /* SHA-256 fingerprint of the DER, lowercase hex */
} uk_token_cert;

/* Management (administrator) key for writing to a PIV card. */
typedef struct uk_admin_key {
    uint8_t alg; /* PIV algorithm id: 0x03 3DES, 0x08/0x0A/0x0C AES-128/192/256 */
    uint8_t key[32];
    size_t len;
} uk_admin_key;

typedef struct uk_token uk_token;

/* Opens the token in a reader: connects, finds a supported application and
 * reads what identifies the card. ctx is borrowed and must outlive the
 * token. UK_E_NO_CARD, UK_E_CARD_UNSUPPORTED (no driver knows the card),
 * UK_E_CARD_REMOVED. */
uk_rc uk_token_open(uk_pcsc *ctx, const char *reader, uk_token **out);
void uk_token_close(uk_token *tok);

/* Identification, from the open (no card access). */
const uk_token_info *uk_token_info_get(const uk_token *tok);

/* The certificates on the token, in slot order. The array is owned by the
 * token (see uk_token_cert). The first call reads the card; later calls
 * are served from memory until the card is reset or the driver writes. */
uk_rc uk_token_certs(uk_token *tok, const uk_token_cert **list, size_t *count);

/* PIN tries left without spending one; *verified tells whether the PIN is
 * verified in the current card session. UK_E_PIN_BLOCKED with 0 tries. */
uk_rc uk_token_pin_status(uk_token *tok, int *tries, bool *verified);

/* Verifies the PIN. *tries is the number left after a wrong PIN
 * (UK_E_PIN_INCORRECT), 0 when blocked (UK_E_PIN_BLOCKED), -1 if unknown.
 * UK_E_PIN_FORMAT for a PIN that is not 6-8 characters (no try spent). */
uk_rc uk_token_pin_verify(uk_token *tok, const char *pin, int *tries);
uk_rc uk_token_pin_change(uk_token *tok, const char *old_pin, const char *new_pin, int *tries);
/* Unblocks with the PUK and sets a new PIN. A wrong PUK is
 * UK_E_PUK_INCORRECT / UK_E_PUK_BLOCKED with the PUK's tries. */
uk_rc uk_token_pin_unblock(uk_token *tok, const char *puk, const char *new_pin, int *tries);

/* Authenticates with the management key. With key NULL, the key is taken
 * from the PIN-protected store (the PRINTED object convention), which needs
 * the PIN verified in this card session (UK_E_SECURITY_STATUS otherwise,
 * UK_E_NOT_FOUND when the card does not keep its key there). */
uk_rc uk_token_admin_auth(uk_token *tok, const uk_admin_key *key);

/* Generates a key pair in a slot; *pub receives the public key (caller
 * frees). Needs uk_token_admin_auth in this card session. */
uk_rc uk_token_key_generate(uk_token *tok, const uk_key_ref *ref, uk_key_type type, EVP_PKEY **pub);

/* Signs a message digest with the key in a slot: RSA PKCS#1 v1.5 (the
 * DigestInfo for md_nid is built on the host), ECDSA returning DER. The
 * PIN must be verified (right before, for a PIN-always key). */
uk_rc uk_token_sign(uk_token *tok, const uk_key_ref *ref, uk_key_type type, int md_nid,
                    const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t *sig_len);

/* Certificate objects: read (UK_E_NOT_FOUND when empty), write (needs
 * admin auth; the object is read back and compared), delete. */
uk_rc uk_token_cert_read(uk_token *tok, const uk_key_ref *ref, uk_buf *der);
uk_rc uk_token_cert_write(uk_token *tok, const uk_key_ref *ref, const uint8_t *der, size_t len);
uk_rc uk_token_cert_delete(uk_token *tok, const uk_key_ref *ref);

/* Destroys the key pair at ref where the token keeps keys as objects
 * (PKCS#11); UK_OK and nothing done where a key is replaced only by the
 * next GENERATE in its slot (PIV). For a staged key that was never
 * certified (renew.cancel). */
uk_rc uk_token_key_delete(uk_token *tok, const uk_key_ref *ref);

/* The key references a renewal may stage a new key in, in the order to
 * try: places where no key the card knows of is certified (PIV: the
 * retired slots 82-95 past those its key history object counts). Fills up
 * to max refs; *n is how many there are. Reads the card. */
uk_rc uk_token_staging_refs(uk_token *tok, uk_key_ref *refs, size_t max, size_t *n);

/* The certificate at ref is final (a renewal installed it): tell other
 * middleware (PIV: raise the key history's count of retired keys with
 * on-card certificates to cover a retired slot). Needs admin auth. */
uk_rc uk_token_publish(uk_token *tok, const uk_key_ref *ref);

/* APDUs sent since the token was opened (PKCS#11: calls into the module). */
unsigned long uk_token_apdu_count(const uk_token *tok);

#endif
