// SPDX-License-Identifier: MIT
/*
 * The PIN guard and the pin.verify sequence (DESIGN.md section 6): the same
 * wrong PIN is never sent to the card twice, and the last try is spent only
 * when the caller says so. A page that retries in a loop, or a user who
 * presses "verify" twice, must not lock the key.
 *
 * The guard keeps no PIN: only SHA-256(salt || PIN) of the last wrong one,
 * with a random salt per guard, so a memory dump does not give the wrong PIN
 * away by a table lookup (a 6-8 digit PIN can still be brute-forced from
 * salt and digest; the guard lives no longer than the card session).
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "uk/mem.h"

#define SALT_LEN 32
#define DIGEST_LEN 32

struct uk_pin_guard {
    uint8_t salt[SALT_LEN];
    uint8_t digest[DIGEST_LEN];
    bool recorded;
    int retries;
};

uk_rc uk_pin_guard_new(uk_pin_guard **out)
{
    uk_pin_guard *g;

    if (out == NULL) {
        return UK_E_INVALID_ARG;
    }
    *out = NULL;
    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return UK_E_NOMEM;
    }
    if (RAND_bytes(g->salt, SALT_LEN) != 1) {
        uk_freezero(g, sizeof(*g));
        return UK_E_CRYPTO;
    }
    g->retries = -1;
    *out = g;
    return UK_OK;
}

void uk_pin_guard_free(uk_pin_guard *g)
{
    uk_freezero(g, sizeof(*g));
}

/* SHA-256(salt || pin). OpenSSL cleanses the digest context's state when
 * the context is freed. */
static uk_rc pin_digest(const uk_pin_guard *g, const char *pin, uint8_t out[DIGEST_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    uk_rc rc = UK_E_CRYPTO;

    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, g->salt, SALT_LEN) == 1 &&
        EVP_DigestUpdate(ctx, pin, strlen(pin)) == 1 && EVP_DigestFinal_ex(ctx, out, &n) == 1 &&
        n == DIGEST_LEN) {
        rc = UK_OK;
    }
    EVP_MD_CTX_free(ctx);
    return rc;
}

uk_rc uk_pin_guard_record(uk_pin_guard *g, const char *pin, int retries)
{
    uk_rc rc;

    if (g == NULL || pin == NULL) {
        return UK_E_INVALID_ARG;
    }
    uk_pin_guard_clear(g);
    rc = pin_digest(g, pin, g->digest);
    if (rc != UK_OK) {
        uk_pin_guard_clear(g);
        return rc;
    }
    g->recorded = true;
    g->retries = retries;
    return UK_OK;
}

uk_rc uk_pin_guard_check(const uk_pin_guard *g, const char *pin, bool *match, int *retries)
{
    uint8_t d[DIGEST_LEN];
    uk_rc rc;

    if (match != NULL) {
        *match = false;
    }
    if (retries != NULL) {
        *retries = -1;
    }
    if (g == NULL || pin == NULL || match == NULL || retries == NULL) {
        return UK_E_INVALID_ARG;
    }
    if (!g->recorded) {
        return UK_OK;
    }
    rc = pin_digest(g, pin, d);
    if (rc == UK_OK && uk_memcmp_ct(d, g->digest, DIGEST_LEN) == 0) {
        *match = true;
        *retries = g->retries;
    }
    uk_memzero(d, sizeof(d));
    return rc;
}

void uk_pin_guard_clear(uk_pin_guard *g)
{
    if (g == NULL) {
        return;
    }
    uk_memzero(g->digest, DIGEST_LEN);
    g->recorded = false;
    g->retries = -1;
}

bool uk_rpc_pin_format_ok(const char *pin)
{
    size_t n = pin != NULL ? strlen(pin) : 0;

    return n >= 6 && n <= 8;
}

uk_rc uk_rpc_pin_verify_run(const uk_rpc_pin_card *card, uk_pin_guard *g, const char *pin,
                            bool confirm_last_try, int *retries)
{
    bool match = false;
    bool verified = false;
    int tries = -1;
    uk_rc rc;

    *retries = -1;
    if (card == NULL || g == NULL || pin == NULL) {
        return UK_E_INVALID_ARG;
    }
    /* (1) a PIN the card cannot take costs nothing */
    if (!uk_rpc_pin_format_ok(pin)) {
        return UK_E_PIN_FORMAT;
    }
    /* (2) the PIN the card refused last time is refused again here */
    rc = uk_pin_guard_check(g, pin, &match, &tries);
    if (rc != UK_OK) {
        return rc;
    }
    if (match) {
        *retries = tries;
        return UK_E_PIN_INCORRECT;
    }
    /* (3) tries left, without spending one (SP 800-73-4 part 2, 3.2.1:
     * VERIFY with no data) */
    rc = card->status(card->card, &tries, &verified);
    if (rc == UK_E_PIN_BLOCKED || (rc == UK_OK && tries == 0)) {
        *retries = 0;
        return UK_E_PIN_BLOCKED;
    }
    if (rc != UK_OK && rc != UK_E_UNSUPPORTED) {
        return rc;
    }
    if (rc == UK_OK && tries == 1 && !confirm_last_try) {
        *retries = 1;
        return UK_E_PIN_LAST_TRY;
    }
    /* (4) the one try */
    tries = -1;
    rc = card->verify(card->card, pin, &tries);
    switch (rc) {
    case UK_OK:
        uk_pin_guard_clear(g);
        break;
    case UK_E_PIN_INCORRECT:
        *retries = tries;
        /* if the digest cannot be made the PIN is simply not remembered */
        (void)uk_pin_guard_record(g, pin, tries);
        break;
    case UK_E_PIN_BLOCKED:
        *retries = 0;
        uk_pin_guard_clear(g);
        break;
    default:
        *retries = tries;
        break;
    }
    return rc;
}
