// SPDX-License-Identifier: MIT
/*
 * The virtual PIV card's command interpreter.
 *
 * References: NIST SP 800-73-4 part 2 (the PIV card commands), part 1
 * (data model, key references, access rules), SP 800-78-4 (algorithm
 * identifiers), ISO/IEC 7816-4 (APDU cases, chaining, GET RESPONSE, status
 * words), and the Yubico PIV extensions (GET VERSION FD, GET SERIAL F8,
 * SET MANAGEMENT KEY FF, IMPORT KEY FE, RESET FB, SET RETRIES FA).
 *
 * Every command is parsed with explicit bounds; any malformed input ends in
 * a status word. Responses longer than the command's Le are returned in
 * pieces with 61xx and GET RESPONSE.
 */
#include "card.h"

#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "uk/buf.h"
#include "uk/mem.h"
#include "uk/piv.h"
#include "uk/tlv.h"

/* Status words. */
#define SW_OK 0x9000
#define SW_BYTES_LEFT 0x6100
#define SW_VERIFY_FAIL 0x63C0
#define SW_MEMORY 0x6581
#define SW_WRONG_LENGTH 0x6700
#define SW_LAST_CHAIN_EXPECTED 0x6883
#define SW_SECURITY 0x6982
#define SW_AUTH_BLOCKED 0x6983
#define SW_CONDITIONS 0x6985
#define SW_WRONG_DATA 0x6A80
#define SW_NOT_FOUND 0x6A82
#define SW_NO_SPACE 0x6A84
#define SW_WRONG_P1P2 0x6A86
#define SW_REF_NOT_FOUND 0x6A88
#define SW_INS_UNKNOWN 0x6D00
#define SW_CLA_UNKNOWN 0x6E00

#define PIV_CLA_CHAIN 0x10

/* PIV AID: RID A0 00 00 03 08, PIX 00 00 10 00 01 00 (SP 800-73-4 part 1, 2.2). */
static const uint8_t piv_aid[] = {0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00};
#define PIV_RID_LEN 5

/* ATR: T=0 and T=1 offered, historical bytes "ukey-vkey PIV". */
const uint8_t vk_atr[] = {0x3B, 0x8D, 0x80, 0x01, 'u', 'k', 'e', 'y', '-',
                          'v',  'k',  'e',  'y',  ' ', 'P', 'I', 'V', 0x00};
const size_t vk_atr_len = sizeof(vk_atr);

/* The well-known default management key (3DES). */
static const uint8_t default_mgmt_key[24] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
                                             5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8};

enum mgmt_step { MGMT_IDLE, MGMT_WITNESS, MGMT_CHALLENGE };

struct vk_card {
    vk_state st;
    bool dirty;
    bool plain; /* a plain PIV card: no Yubico commands */
    /* volatile session, cleared by power cycle and reset */
    bool selected;
    bool pin_verified;
    bool pin_just_verified; /* this command is a successful VERIFY */
    bool pin_prev_verified; /* the previous command was one: PIN policy "always" */
    bool mgmt_authed;
    enum mgmt_step mgmt_step;
    uint8_t mgmt_nonce[16];
    /* command chaining */
    bool chaining;
    uint8_t chain_hdr[3]; /* INS P1 P2 */
    uk_buf chain;
    /* response left for GET RESPONSE */
    uint8_t pending[VK_MAX_RESPONSE];
    size_t pending_len;
    size_t pending_off;
};

/* A parsed command. */
struct apdu {
    uint8_t cla;
    uint8_t ins;
    uint8_t p1;
    uint8_t p2;
    const uint8_t *data;
    size_t lc;
    size_t ne; /* maximum response length the host accepts */
};

/* The response being built. */
struct reply {
    uk_buf data;
    unsigned sw;
};

/* ---- persistent state helpers ---------------------------------------- */

bool vk_slot_valid(uint8_t slot)
{
    return uk_piv_slot_valid(slot);
}

uint32_t vk_slot_object(uint8_t slot)
{
    return uk_piv_slot_object(slot);
}

/* Objects a PUT DATA may name: the PIV container IDs and Yubico's 5FFFxx. */
static bool object_tag_valid(uint32_t tag)
{
    return (tag >= 0x5FC101 && tag <= 0x5FC123) || (tag >= 0x5FFF00 && tag <= 0x5FFFFF);
}

/* Objects readable only after PIN verification (SP 800-73-4 part 1, table 3). */
static bool object_needs_pin(uint32_t tag)
{
    return tag == 0x5FC103 || tag == 0x5FC108 || tag == 0x5FC109 || tag == 0x5FC121;
}

const vk_object *vk_card_object_get(const vk_card *card, uint32_t tag)
{
    for (size_t i = 0; i < VK_MAX_OBJECTS; i++) {
        if (card->st.objects[i].tag == tag) {
            return &card->st.objects[i];
        }
    }
    return NULL;
}

uk_rc vk_card_object_set(vk_card *card, uint32_t tag, const uint8_t *data, size_t len)
{
    vk_object *slot = NULL;
    uint8_t *copy = NULL;

    if (len > VK_MAX_OBJECT_LEN) {
        return UK_E_LIMIT;
    }
    for (size_t i = 0; i < VK_MAX_OBJECTS; i++) {
        if (card->st.objects[i].tag == tag) {
            slot = &card->st.objects[i];
            break;
        }
        if (slot == NULL && card->st.objects[i].tag == 0) {
            slot = &card->st.objects[i];
        }
    }
    if (len == 0) {
        if (slot != NULL && slot->tag == tag) {
            free(slot->data);
            slot->tag = 0;
            slot->data = NULL;
            slot->len = 0;
            card->dirty = true;
        }
        return UK_OK;
    }
    if (slot == NULL) {
        return UK_E_LIMIT;
    }
    copy = malloc(len);
    if (copy == NULL) {
        return UK_E_NOMEM;
    }
    memcpy(copy, data, len);
    free(slot->data);
    slot->tag = tag;
    slot->data = copy;
    slot->len = len;
    card->dirty = true;
    return UK_OK;
}

uk_rc vk_card_key_set(vk_card *card, uint8_t slot, uint8_t alg, EVP_PKEY *pkey)
{
    vk_key *k;

    if (!vk_slot_valid(slot) || pkey == NULL || vk_crypto_key_alg(pkey) != alg) {
        return UK_E_INVALID_ARG;
    }
    if (!EVP_PKEY_up_ref(pkey)) {
        return UK_E_CRYPTO;
    }
    k = &card->st.keys[slot];
    EVP_PKEY_free(k->pkey);
    k->pkey = pkey;
    k->alg = alg;
    card->dirty = true;
    return UK_OK;
}

static uk_rc pad_secret(vk_secret *s, const char *value, uint8_t tries)
{
    size_t n = value ? strlen(value) : 0;

    if (n < 6 || n > 8 || tries == 0 || tries > 15) {
        return UK_E_INVALID_ARG;
    }
    memset(s->value, 0xFF, sizeof(s->value));
    memcpy(s->value, value, n);
    s->tries = tries;
    s->max_tries = tries;
    return UK_OK;
}

/* CHUID (SP 800-73-4 part 1, 3.1.2): FASC-N, GUID, expiry, empty signature. */
static uk_rc make_chuid(vk_card *card)
{
    static const uint8_t fascn[25] = {0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE,
                                      0x73, 0x9D, 0x83, 0x68, 0x58, 0x21, 0x08, 0x42, 0x10,
                                      0x84, 0x21, 0xC8, 0x42, 0x10, 0xC3, 0xEB};
    uint8_t guid[16];
    uk_buf b;
    uk_rc rc;

    rc = vk_crypto_random(guid, sizeof(guid));
    if (rc != UK_OK) {
        return rc;
    }
    /* The GUID ends with the serial so a CHUID names its card. */
    guid[12] = (uint8_t)(card->st.serial >> 24);
    guid[13] = (uint8_t)(card->st.serial >> 16);
    guid[14] = (uint8_t)(card->st.serial >> 8);
    guid[15] = (uint8_t)card->st.serial;
    uk_buf_init(&b, 256, false);
    rc = uk_tlv_put(&b, 0x30, fascn, sizeof(fascn));
    if (rc == UK_OK) {
        rc = uk_tlv_put(&b, 0x34, guid, sizeof(guid));
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(&b, 0x35, (const uint8_t *)"20501231", 8);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(&b, 0x3E, NULL, 0);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(&b, 0xFE, NULL, 0);
    }
    if (rc == UK_OK) {
        rc = vk_card_object_set(card, 0x5FC102, b.data, b.len);
    }
    uk_buf_free(&b);
    return rc;
}

/* CCC (SP 800-73-4 part 1, 3.1.1). */
static uk_rc make_ccc(vk_card *card)
{
    uint8_t cardid[21] = {0xA0, 0x00, 0x00, 0x01, 0x16, 0xFF, 0x02};
    static const uint32_t empty_tags[] = {0xF3, 0xF6, 0xF7, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE};
    uk_buf b;
    uk_rc rc;

    rc = vk_crypto_random(cardid + 7, sizeof(cardid) - 7);
    if (rc != UK_OK) {
        return rc;
    }
    uk_buf_init(&b, 256, false);
    rc = uk_tlv_put(&b, 0xF0, cardid, sizeof(cardid));
    if (rc == UK_OK) {
        rc = uk_tlv_put_u8(&b, 0xF1, 0x21); /* container version */
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put_u8(&b, 0xF2, 0x21); /* grammar version */
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put_u8(&b, 0xF4, 0x00); /* PKCS#15 */
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put_u8(&b, 0xF5, 0x10); /* data model: PIV */
    }
    for (size_t i = 0; rc == UK_OK && i < sizeof(empty_tags) / sizeof(empty_tags[0]); i++) {
        rc = uk_tlv_put(&b, empty_tags[i], NULL, 0);
    }
    if (rc == UK_OK) {
        rc = vk_card_object_set(card, 0x5FC107, b.data, b.len);
    }
    uk_buf_free(&b);
    return rc;
}

uk_rc vk_card_new(const vk_init *init, vk_card **out)
{
    vk_card *card;
    uk_rc rc;

    *out = NULL;
    card = calloc(1, sizeof(*card));
    if (card == NULL) {
        return UK_E_NOMEM;
    }
    uk_buf_init(&card->chain, VK_MAX_APDU * 2, true);
    card->st.serial = init->serial;
    card->st.version[0] = 5;
    card->st.version[1] = 2;
    card->st.version[2] = 7;
    rc = pad_secret(&card->st.pin, init->pin, init->pin_tries);
    if (rc == UK_OK) {
        rc = pad_secret(&card->st.puk, init->puk, init->puk_tries);
    }
    if (rc != UK_OK) {
        goto out;
    }
    card->st.mgmt_alg = init->mgmt_alg ? init->mgmt_alg : VK_ALG_3DES;
    if (init->mgmt_key == NULL) {
        if (card->st.mgmt_alg != VK_ALG_3DES) {
            rc = UK_E_INVALID_ARG;
            goto out;
        }
        memcpy(card->st.mgmt_key, default_mgmt_key, sizeof(default_mgmt_key));
        card->st.mgmt_key_len = sizeof(default_mgmt_key);
    } else {
        if (init->mgmt_key_len != vk_crypto_key_size(card->st.mgmt_alg)) {
            rc = UK_E_INVALID_ARG;
            goto out;
        }
        memcpy(card->st.mgmt_key, init->mgmt_key, init->mgmt_key_len);
        card->st.mgmt_key_len = init->mgmt_key_len;
    }
    rc = make_chuid(card);
    if (rc == UK_OK) {
        rc = make_ccc(card);
    }
out:
    if (rc != UK_OK) {
        vk_card_free(card);
        return rc;
    }
    *out = card;
    return UK_OK;
}

void vk_card_free(vk_card *card)
{
    if (card == NULL) {
        return;
    }
    for (size_t i = 0; i < 256; i++) {
        EVP_PKEY_free(card->st.keys[i].pkey);
    }
    for (size_t i = 0; i < VK_MAX_OBJECTS; i++) {
        free(card->st.objects[i].data);
    }
    uk_buf_free(&card->chain);
    uk_memzero(card, sizeof(*card));
    free(card);
}

vk_state *vk_card_state(vk_card *card)
{
    return &card->st;
}

bool vk_card_dirty(const vk_card *card)
{
    return card->dirty;
}

void vk_card_clean(vk_card *card)
{
    card->dirty = false;
}

void vk_card_reset(vk_card *card)
{
    card->selected = false;
    card->pin_verified = false;
    card->pin_just_verified = false;
    card->pin_prev_verified = false;
    card->mgmt_authed = false;
    card->mgmt_step = MGMT_IDLE;
    uk_memzero(card->mgmt_nonce, sizeof(card->mgmt_nonce));
    card->chaining = false;
    uk_buf_reset(&card->chain);
    card->pending_len = 0;
    card->pending_off = 0;
}

void vk_card_set_plain(vk_card *card, bool plain)
{
    card->plain = plain;
}

void vk_card_set_session(vk_card *card, bool pin_verified, bool mgmt_authed)
{
    card->selected = true;
    card->pin_verified = pin_verified;
    card->mgmt_authed = mgmt_authed;
}

/* ---- APDU parsing ----------------------------------------------------- */

/* Splits a command APDU into its fields (ISO/IEC 7816-3 12.1.3): cases
 * 1-4, short and extended. false when the lengths do not add up. */
static bool parse_apdu(const uint8_t *p, size_t len, struct apdu *a)
{
    size_t body;

    memset(a, 0, sizeof(*a));
    if (len < 4) {
        return false;
    }
    a->cla = p[0];
    a->ins = p[1];
    a->p1 = p[2];
    a->p2 = p[3];
    p += 4;
    body = len - 4;
    if (body == 0) { /* case 1 */
        a->ne = 256;
        return true;
    }
    if (body == 1) { /* case 2 short */
        a->ne = p[0] ? p[0] : 256;
        return true;
    }
    if (p[0] != 0) { /* short Lc */
        a->lc = p[0];
        if (body == 1 + a->lc) { /* case 3 short */
            a->data = p + 1;
            a->ne = 256;
            return true;
        }
        if (body == 2 + a->lc) { /* case 4 short */
            a->data = p + 1;
            a->ne = p[1 + a->lc] ? p[1 + a->lc] : 256;
            return true;
        }
        return false;
    }
    /* extended: 00 followed by two bytes */
    if (body == 3) { /* case 2 extended */
        a->ne = (size_t)((p[1] << 8) | p[2]);
        if (a->ne == 0) {
            a->ne = 65536;
        }
        return true;
    }
    if (body < 3) {
        return false;
    }
    a->lc = (size_t)((p[1] << 8) | p[2]);
    if (a->lc == 0) {
        return false;
    }
    if (body == 3 + a->lc) { /* case 3 extended */
        a->data = p + 3;
        a->ne = 65536;
        return true;
    }
    if (body == 5 + a->lc) { /* case 4 extended */
        a->data = p + 3;
        a->ne = (size_t)((p[3 + a->lc] << 8) | p[4 + a->lc]);
        if (a->ne == 0) {
            a->ne = 65536;
        }
        return true;
    }
    return false;
}

/* ---- commands ---------------------------------------------------------- */

static unsigned cmd_select(vk_card *card, const struct apdu *a, struct reply *r)
{
    uk_buf apt;
    uk_buf alg;
    static const uint8_t algs[] = {VK_ALG_3DES,    VK_ALG_AES128,  VK_ALG_AES192,  VK_ALG_AES256,
                                   VK_ALG_RSA1024, VK_ALG_RSA2048, VK_ALG_ECCP256, VK_ALG_ECCP384};
    uk_rc rc = UK_OK;

    if (a->p1 != 0x04 || (a->p2 != 0x00 && a->p2 != 0x0C)) {
        return SW_WRONG_P1P2;
    }
    /* A right-truncated AID selects the application (ISO/IEC 7816-4 5.3.1),
     * down to the RID. */
    if (a->lc < PIV_RID_LEN || a->lc > sizeof(piv_aid) || memcmp(a->data, piv_aid, a->lc) != 0) {
        return SW_NOT_FOUND;
    }
    card->selected = true;
    if (a->p2 == 0x0C) {
        return SW_OK;
    }
    /* Application property template (SP 800-73-4 part 2, table 3). */
    uk_buf_init(&apt, 256, false);
    uk_buf_init(&alg, 64, false);
    rc = uk_tlv_put(&apt, 0x4F, piv_aid + PIV_RID_LEN, sizeof(piv_aid) - PIV_RID_LEN);
    if (rc == UK_OK) {
        rc = uk_tlv_put_header(&apt, 0x79, 7);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(&apt, 0x4F, piv_aid, PIV_RID_LEN);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(&apt, 0x50, (const uint8_t *)"ukey virtual PIV", 16);
    }
    for (size_t i = 0; rc == UK_OK && i < sizeof(algs); i++) {
        rc = uk_tlv_put_u8(&alg, 0x80, algs[i]);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put_u8(&alg, 0x06, 0x00);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(&apt, 0xAC, alg.data, alg.len);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(&r->data, 0x61, apt.data, apt.len);
    }
    uk_buf_free(&apt);
    uk_buf_free(&alg);
    return rc == UK_OK ? SW_OK : SW_MEMORY;
}

/* Reads the object tag from a 5C TLV that must be the whole data field. */
static bool object_tag(const uint8_t *data, size_t len, uint32_t *tag, const uint8_t **rest,
                       size_t *rest_len)
{
    const uint8_t *p = data;
    uk_tlv t;

    *tag = 0;
    if (data == NULL || uk_tlv_next(&p, data + len, &t) != UK_OK || t.tag != 0x5C || t.len == 0 ||
        t.len > 3) {
        return false;
    }
    for (size_t i = 0; i < t.len; i++) {
        *tag = (*tag << 8) | t.value[i];
    }
    *rest = p;
    *rest_len = len - (size_t)(p - data);
    return true;
}

static unsigned cmd_get_data(vk_card *card, const struct apdu *a, struct reply *r)
{
    /* Discovery object (SP 800-73-4 part 1, 3.3.2): PIV AID and a PIN usage
     * policy of "PIV Card Application PIN only". */
    static const uint8_t discovery[] = {0x4F, 0x0B, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00,
                                        0x10, 0x00, 0x01, 0x00, 0x5F, 0x2F, 0x02, 0x40, 0x00};
    const vk_object *obj;
    const uint8_t *rest;
    size_t rest_len;
    uint32_t tag;

    if (a->p1 != 0x3F || a->p2 != 0xFF) {
        return SW_WRONG_P1P2;
    }
    if (!object_tag(a->data, a->lc, &tag, &rest, &rest_len) || rest_len != 0) {
        return SW_WRONG_DATA;
    }
    if (tag == 0x7E) {
        return uk_tlv_put(&r->data, 0x7E, discovery, sizeof(discovery)) == UK_OK ? SW_OK
                                                                                 : SW_MEMORY;
    }
    obj = vk_card_object_get(card, tag);
    if (obj == NULL) {
        return SW_NOT_FOUND;
    }
    if (object_needs_pin(tag) && !card->pin_verified) {
        return SW_SECURITY;
    }
    return uk_tlv_put(&r->data, 0x53, obj->data, obj->len) == UK_OK ? SW_OK : SW_MEMORY;
}

static unsigned cmd_put_data(vk_card *card, const struct apdu *a)
{
    const uint8_t *rest;
    size_t rest_len;
    uint32_t tag;
    uk_tlv t;
    uk_rc rc;

    if (a->p1 != 0x3F || a->p2 != 0xFF) {
        return SW_WRONG_P1P2;
    }
    if (!card->mgmt_authed) {
        return SW_SECURITY;
    }
    if (!object_tag(a->data, a->lc, &tag, &rest, &rest_len) || !object_tag_valid(tag)) {
        return SW_WRONG_DATA;
    }
    if (uk_tlv_expect(rest, rest_len, 0x53, &t) != UK_OK) {
        return SW_WRONG_DATA;
    }
    rc = vk_card_object_set(card, tag, t.value, t.len);
    if (rc == UK_E_LIMIT) {
        return SW_NO_SPACE;
    }
    return rc == UK_OK ? SW_OK : SW_MEMORY;
}

static vk_secret *secret_for(vk_card *card, uint8_t ref)
{
    if (ref == 0x80) {
        return &card->st.pin;
    }
    if (ref == 0x81) {
        return &card->st.puk;
    }
    return NULL;
}

/* Checks a presented 8-byte value against a secret and updates its retry
 * counter; the state is marked dirty before the answer is known so the
 * counter is committed first. */
static unsigned check_secret(vk_card *card, vk_secret *s, const uint8_t *value)
{
    if (s->tries == 0) {
        return SW_AUTH_BLOCKED;
    }
    if (uk_memcmp_ct(s->value, value, sizeof(s->value)) != 0) {
        s->tries--;
        card->dirty = true;
        return SW_VERIFY_FAIL | s->tries;
    }
    if (s->tries != s->max_tries) {
        s->tries = s->max_tries;
        card->dirty = true;
    }
    return SW_OK;
}

/* A new PIN or PUK: 6 to 8 bytes, padded with FF to 8, no FF inside. */
static bool secret_format_ok(const uint8_t *v)
{
    size_t n = 0;

    while (n < 8 && v[n] != 0xFF) {
        n++;
    }
    for (size_t i = n; i < 8; i++) {
        if (v[i] != 0xFF) {
            return false;
        }
    }
    return n >= 6;
}

static unsigned cmd_verify(vk_card *card, const struct apdu *a)
{
    unsigned sw;

    if (a->p2 == 0x00 || a->p2 == 0x96 || a->p2 == 0x98) {
        return SW_REF_NOT_FOUND; /* global PIN, OCC: not on this card */
    }
    if (a->p2 != 0x80 || (a->p1 != 0x00 && a->p1 != 0xFF)) {
        return SW_WRONG_P1P2;
    }
    if (a->p1 == 0xFF) {
        /* Reset the security status of the PIN (SP 800-73-4 part 2, 3.2.1). */
        if (a->lc != 0) {
            return SW_WRONG_LENGTH;
        }
        card->pin_verified = false;
        return SW_OK;
    }
    if (a->lc == 0) {
        /* Status query: spends no try. */
        if (card->pin_verified) {
            return SW_OK;
        }
        return card->st.pin.tries ? (unsigned)(SW_VERIFY_FAIL | card->st.pin.tries)
                                  : SW_AUTH_BLOCKED;
    }
    if (a->lc != 8) {
        return SW_WRONG_DATA;
    }
    sw = check_secret(card, &card->st.pin, a->data);
    card->pin_verified = sw == SW_OK;
    card->pin_just_verified = sw == SW_OK;
    return sw;
}

static unsigned cmd_change_reference(vk_card *card, const struct apdu *a)
{
    vk_secret *s = secret_for(card, a->p2);
    unsigned sw;

    if (a->p1 != 0x00 || s == NULL) {
        return SW_WRONG_P1P2;
    }
    if (a->lc != 16) {
        return SW_WRONG_DATA;
    }
    if (s->tries == 0) {
        return SW_AUTH_BLOCKED;
    }
    if (!secret_format_ok(a->data + 8)) {
        return SW_WRONG_DATA;
    }
    sw = check_secret(card, s, a->data);
    if (sw != SW_OK) {
        if (a->p2 == 0x80) {
            card->pin_verified = false;
        }
        return sw;
    }
    memcpy(s->value, a->data + 8, 8);
    card->dirty = true;
    if (a->p2 == 0x80) {
        card->pin_verified = true;
    }
    return SW_OK;
}

static unsigned cmd_reset_retry(vk_card *card, const struct apdu *a)
{
    unsigned sw;

    if (a->p1 != 0x00 || a->p2 != 0x80) {
        return SW_WRONG_P1P2;
    }
    if (a->lc != 16) {
        return SW_WRONG_DATA;
    }
    if (card->st.puk.tries == 0) {
        return SW_AUTH_BLOCKED;
    }
    if (!secret_format_ok(a->data + 8)) {
        return SW_WRONG_DATA;
    }
    sw = check_secret(card, &card->st.puk, a->data);
    if (sw != SW_OK) {
        return sw;
    }
    memcpy(card->st.pin.value, a->data + 8, 8);
    card->st.pin.tries = card->st.pin.max_tries;
    card->dirty = true;
    return SW_OK;
}

/* Management key authentication (SP 800-73-4 part 2, appendix A.1/A.2):
 * mutual (witness 80 then 80+81) or external (challenge 81 then 82). */
static unsigned auth_mgmt(vk_card *card, uint8_t alg, const uk_tlv *wit, const uk_tlv *chal,
                          const uk_tlv *resp, struct reply *r)
{
    size_t bs = vk_crypto_block_size(card->st.mgmt_alg);
    uint8_t block[16];
    uk_buf inner;
    unsigned sw = SW_WRONG_DATA;
    uk_rc rc;

    if (alg != card->st.mgmt_alg) {
        return SW_WRONG_P1P2;
    }
    uk_buf_init(&inner, 64, false);
    card->mgmt_authed = false;
    if (wit->value && wit->len == 0 && !chal->value && !resp->value) {
        /* step 1 of mutual authentication: send the encrypted witness */
        rc = vk_crypto_random(card->mgmt_nonce, bs);
        if (rc == UK_OK) {
            rc = vk_crypto_block(alg, card->st.mgmt_key, card->mgmt_nonce, block, 1);
        }
        if (rc == UK_OK) {
            rc = uk_tlv_put(&inner, 0x80, block, bs);
        }
        card->mgmt_step = rc == UK_OK ? MGMT_WITNESS : MGMT_IDLE;
        sw = rc == UK_OK ? SW_OK : SW_MEMORY;
    } else if (wit->value && wit->len == bs && chal->value && chal->len == bs && !resp->value) {
        /* step 2: the host proved it decrypted the witness; answer its challenge */
        if (card->mgmt_step != MGMT_WITNESS ||
            uk_memcmp_ct(wit->value, card->mgmt_nonce, bs) != 0) {
            sw = SW_SECURITY;
        } else {
            rc = vk_crypto_block(alg, card->st.mgmt_key, chal->value, block, 1);
            if (rc == UK_OK) {
                rc = uk_tlv_put(&inner, 0x82, block, bs);
            }
            card->mgmt_authed = rc == UK_OK;
            sw = rc == UK_OK ? SW_OK : SW_MEMORY;
        }
        card->mgmt_step = MGMT_IDLE;
    } else if (chal->value && chal->len == 0 && !wit->value && !resp->value) {
        /* external authentication, step 1: a challenge in the clear */
        rc = vk_crypto_random(card->mgmt_nonce, bs);
        if (rc == UK_OK) {
            rc = uk_tlv_put(&inner, 0x81, card->mgmt_nonce, bs);
        }
        card->mgmt_step = rc == UK_OK ? MGMT_CHALLENGE : MGMT_IDLE;
        sw = rc == UK_OK ? SW_OK : SW_MEMORY;
    } else if (resp->value && resp->len == bs && !wit->value && !chal->value) {
        /* external authentication, step 2: the challenge encrypted by the host */
        rc = UK_E_INVALID_ARG;
        if (card->mgmt_step == MGMT_CHALLENGE) {
            rc = vk_crypto_block(alg, card->st.mgmt_key, card->mgmt_nonce, block, 1);
        }
        card->mgmt_authed = rc == UK_OK && uk_memcmp_ct(block, resp->value, bs) == 0;
        card->mgmt_step = MGMT_IDLE;
        sw = card->mgmt_authed ? SW_OK : SW_SECURITY;
    } else {
        card->mgmt_step = MGMT_IDLE;
    }
    if (sw == SW_OK && inner.len > 0 &&
        uk_tlv_put(&r->data, 0x7C, inner.data, inner.len) != UK_OK) {
        sw = SW_MEMORY;
    }
    uk_memzero(block, sizeof(block));
    uk_buf_free(&inner);
    return sw;
}

static bool pin_satisfied(const vk_card *card, uint8_t slot, const vk_key *k)
{
    uint8_t policy = k->pin_policy;

    if (policy == VK_PIN_POLICY_DEFAULT) {
        policy = slot == 0x9E   ? VK_PIN_POLICY_NEVER
                 : slot == 0x9C ? VK_PIN_POLICY_ALWAYS
                                : VK_PIN_POLICY_ONCE;
    }
    switch (policy) {
    case VK_PIN_POLICY_NEVER:
        return true;
    case VK_PIN_POLICY_ALWAYS:
        return card->pin_prev_verified;
    default:
        return card->pin_verified;
    }
}

static unsigned auth_key(vk_card *card, uint8_t alg, uint8_t slot, const uk_tlv *chal,
                         const uk_tlv *resp, const uk_tlv *exp, struct reply *r)
{
    const vk_key *k = &card->st.keys[slot];
    uint8_t out[512];
    size_t out_len = sizeof(out);
    uk_buf inner;
    uk_rc rc;
    unsigned sw;

    if (k->alg == 0) {
        return SW_WRONG_DATA; /* no key in this slot */
    }
    if (alg != k->alg) {
        return SW_WRONG_P1P2;
    }
    /* The request must ask for a response (82 empty) and give either a
     * challenge (81) or a peer point (85), not both. */
    if (!resp->value || resp->len != 0 || (chal->value == NULL) == (exp->value == NULL)) {
        return SW_WRONG_DATA;
    }
    if (!pin_satisfied(card, slot, k)) {
        return SW_SECURITY;
    }
    if (chal->value) {
        if (alg == VK_ALG_RSA1024 || alg == VK_ALG_RSA2048) {
            rc = vk_crypto_rsa_raw(k->pkey, chal->value, chal->len, out, &out_len);
        } else {
            rc = vk_crypto_ecdsa(k->pkey, chal->value, chal->len, out, &out_len);
        }
    } else {
        if (alg != VK_ALG_ECCP256 && alg != VK_ALG_ECCP384) {
            return SW_WRONG_DATA;
        }
        rc = vk_crypto_ecdh(k->pkey, exp->value, exp->len, out, &out_len);
    }
    if (rc == UK_E_INVALID_ARG) {
        return SW_WRONG_DATA;
    }
    if (rc != UK_OK) {
        return SW_MEMORY;
    }
    uk_buf_init(&inner, sizeof(out) + 8, true);
    rc = uk_tlv_put(&inner, 0x82, out, out_len);
    if (rc == UK_OK) {
        rc = uk_tlv_put(&r->data, 0x7C, inner.data, inner.len);
    }
    sw = rc == UK_OK ? SW_OK : SW_MEMORY;
    uk_buf_free(&inner);
    uk_memzero(out, sizeof(out));
    return sw;
}

static unsigned cmd_general_authenticate(vk_card *card, const struct apdu *a, struct reply *r)
{
    const uint8_t *p;
    const uint8_t *end;
    uk_tlv dyn;
    uk_tlv t;
    uk_tlv wit = {0};
    uk_tlv chal = {0};
    uk_tlv resp = {0};
    uk_tlv exp = {0};
    uk_rc rc;

    if (a->p2 != 0x9B && !vk_slot_valid(a->p2)) {
        return SW_WRONG_P1P2;
    }
    /* Dynamic authentication template 7C (SP 800-73-4 part 2, table 7);
     * each element present at most once. A zero-length element requests
     * that the card fill it in; 'value' is non-NULL for present elements. */
    if (uk_tlv_expect(a->data, a->lc, 0x7C, &dyn) != UK_OK) {
        return SW_WRONG_DATA;
    }
    p = dyn.value;
    end = dyn.value + dyn.len;
    for (;;) {
        uk_tlv *slot = NULL;

        rc = uk_tlv_next(&p, end, &t);
        if (rc == UK_E_NOT_FOUND) {
            break;
        }
        if (rc != UK_OK) {
            return SW_WRONG_DATA;
        }
        switch (t.tag) {
        case 0x80:
            slot = &wit;
            break;
        case 0x81:
            slot = &chal;
            break;
        case 0x82:
            slot = &resp;
            break;
        case 0x85:
            slot = &exp;
            break;
        default:
            return SW_WRONG_DATA;
        }
        if (slot->value) {
            return SW_WRONG_DATA;
        }
        *slot = t;
        if (slot->value == NULL) {
            slot->value = dyn.value; /* marks a present, empty element */
        }
    }
    if (a->p2 == 0x9B) {
        if (exp.value) {
            return SW_WRONG_DATA;
        }
        return auth_mgmt(card, a->p1, &wit, &chal, &resp, r);
    }
    if (wit.value) {
        return SW_WRONG_DATA;
    }
    return auth_key(card, a->p1, a->p2, &chal, &resp, &exp, r);
}

static unsigned cmd_generate(vk_card *card, const struct apdu *a, struct reply *r)
{
    const uint8_t *p;
    const uint8_t *end;
    uk_tlv tmpl;
    uk_tlv t;
    uint8_t alg = 0;
    uint8_t pin_policy = VK_PIN_POLICY_DEFAULT;
    uint8_t touch_policy = 0;
    EVP_PKEY *pkey = NULL;
    uk_rc rc;

    if (a->p1 != 0x00 || !vk_slot_valid(a->p2)) {
        return SW_WRONG_P1P2;
    }
    if (!card->mgmt_authed) {
        return SW_SECURITY;
    }
    /* Control reference template AC: 80 algorithm; Yubico adds AA (PIN
     * policy) and AB (touch policy). */
    if (uk_tlv_expect(a->data, a->lc, 0xAC, &tmpl) != UK_OK) {
        return SW_WRONG_DATA;
    }
    p = tmpl.value;
    end = tmpl.value + tmpl.len;
    for (;;) {
        rc = uk_tlv_next(&p, end, &t);
        if (rc == UK_E_NOT_FOUND) {
            break;
        }
        if (rc != UK_OK || t.len != 1) {
            return SW_WRONG_DATA;
        }
        if (t.tag == 0x80) {
            alg = t.value[0];
        } else if (t.tag == 0xAA && t.value[0] <= VK_PIN_POLICY_ALWAYS) {
            pin_policy = t.value[0];
        } else if (t.tag == 0xAB && t.value[0] <= 3) {
            touch_policy = t.value[0];
        } else {
            return SW_WRONG_DATA;
        }
    }
    rc = vk_crypto_generate(alg, &pkey);
    if (rc == UK_E_UNSUPPORTED) {
        return SW_WRONG_DATA;
    }
    if (rc != UK_OK) {
        return SW_MEMORY;
    }
    rc = vk_crypto_public_template(pkey, &r->data);
    if (rc == UK_OK) {
        rc = vk_card_key_set(card, a->p2, alg, pkey);
    }
    EVP_PKEY_free(pkey);
    if (rc != UK_OK) {
        return SW_MEMORY;
    }
    card->st.keys[a->p2].pin_policy = pin_policy;
    card->st.keys[a->p2].touch_policy = touch_policy;
    return SW_OK;
}

static unsigned cmd_set_mgmt_key(vk_card *card, const struct apdu *a)
{
    size_t klen;

    /* Yubico SET MANAGEMENT KEY: 00 FF FF FF|FE, data alg 9B len key. */
    if (a->p1 != 0xFF || (a->p2 != 0xFF && a->p2 != 0xFE)) {
        return SW_WRONG_P1P2;
    }
    if (!card->mgmt_authed) {
        return SW_SECURITY;
    }
    if (a->lc < 3 || a->data[1] != 0x9B) {
        return SW_WRONG_DATA;
    }
    klen = vk_crypto_key_size(a->data[0]);
    if (klen == 0 || a->data[2] != klen || a->lc != 3 + klen) {
        return SW_WRONG_DATA;
    }
    card->st.mgmt_alg = a->data[0];
    uk_memzero(card->st.mgmt_key, sizeof(card->st.mgmt_key));
    memcpy(card->st.mgmt_key, a->data + 3, klen);
    card->st.mgmt_key_len = klen;
    card->dirty = true;
    return SW_OK;
}

static unsigned cmd_set_retries(vk_card *card, const struct apdu *a)
{
    /* Yubico SET PIN RETRIES: P1 PIN tries, P2 PUK tries; resets both to
     * their defaults. Needs the management key and the PIN. */
    if (a->p1 == 0 || a->p2 == 0 || a->p1 > 15 || a->p2 > 15) {
        return SW_WRONG_P1P2;
    }
    if (!card->mgmt_authed || !card->pin_verified) {
        return SW_SECURITY;
    }
    memcpy(card->st.pin.value, "123456\xFF\xFF", 8);
    memcpy(card->st.puk.value, "12345678", 8);
    card->st.pin.tries = card->st.pin.max_tries = a->p1;
    card->st.puk.tries = card->st.puk.max_tries = a->p2;
    card->dirty = true;
    return SW_OK;
}

static unsigned cmd_reset(vk_card *card, const struct apdu *a)
{
    vk_init init = {.serial = card->st.serial,
                    .pin = "123456",
                    .puk = "12345678",
                    .pin_tries = 3,
                    .puk_tries = 3};
    vk_card *fresh = NULL;
    vk_state tmp;

    (void)a;
    /* Yubico RESET: allowed only when both PIN and PUK are blocked. */
    if (card->st.pin.tries != 0 || card->st.puk.tries != 0) {
        return SW_CONDITIONS;
    }
    if (vk_card_new(&init, &fresh) != UK_OK) {
        return SW_MEMORY;
    }
    /* swap the states; the old one is freed with 'fresh' */
    tmp = card->st;
    card->st = fresh->st;
    fresh->st = tmp;
    vk_card_free(fresh);
    vk_card_reset(card);
    card->selected = true;
    card->dirty = true;
    return SW_OK;
}

/* Runs one complete command (after chaining is resolved). */
static unsigned dispatch(vk_card *card, const struct apdu *a, struct reply *r)
{
    if (a->ins == 0xA4) {
        return cmd_select(card, a, r);
    }
    if (!card->selected) {
        return SW_INS_UNKNOWN;
    }
    if (card->plain &&
        (a->ins == 0xFD || a->ins == 0xF8 || a->ins == 0xFF || a->ins == 0xFA || a->ins == 0xFB)) {
        return SW_INS_UNKNOWN;
    }
    switch (a->ins) {
    case 0xCB:
        return cmd_get_data(card, a, r);
    case 0xDB:
        return cmd_put_data(card, a);
    case 0x20:
        return cmd_verify(card, a);
    case 0x24:
        return cmd_change_reference(card, a);
    case 0x2C:
        return cmd_reset_retry(card, a);
    case 0x87:
        return cmd_general_authenticate(card, a, r);
    case 0x47:
        return cmd_generate(card, a, r);
    case 0xFD: /* Yubico GET VERSION */
        return uk_buf_append(&r->data, card->st.version, 3) == UK_OK ? SW_OK : SW_MEMORY;
    case 0xF8: { /* Yubico GET SERIAL */
        uint8_t s[4] = {(uint8_t)(card->st.serial >> 24), (uint8_t)(card->st.serial >> 16),
                        (uint8_t)(card->st.serial >> 8), (uint8_t)card->st.serial};
        return uk_buf_append(&r->data, s, sizeof(s)) == UK_OK ? SW_OK : SW_MEMORY;
    }
    case 0xFF:
        return cmd_set_mgmt_key(card, a);
    case 0xFA:
        return cmd_set_retries(card, a);
    case 0xFB:
        return cmd_reset(card, a);
    default:
        return SW_INS_UNKNOWN;
    }
}

static void put_sw(uint8_t *resp, size_t *resp_len, size_t off, unsigned sw)
{
    resp[off] = (uint8_t)(sw >> 8);
    resp[off + 1] = (uint8_t)sw;
    *resp_len = off + 2;
}

/* Sends up to ne bytes of the pending response, with 61xx if more remain. */
static void send_pending(vk_card *card, size_t ne, uint8_t *resp, size_t *resp_len)
{
    size_t left = card->pending_len - card->pending_off;
    size_t n = left < ne ? left : ne;

    if (n > 0) {
        memcpy(resp, card->pending + card->pending_off, n);
    }
    card->pending_off += n;
    left -= n;
    if (left == 0) {
        card->pending_len = 0;
        card->pending_off = 0;
        put_sw(resp, resp_len, n, SW_OK);
    } else {
        put_sw(resp, resp_len, n, SW_BYTES_LEFT | (left > 0xFF ? 0 : (unsigned)left));
    }
}

void vk_card_apdu(vk_card *card, const uint8_t *apdu, size_t len, uint8_t *resp, size_t *resp_len)
{
    struct apdu a;
    struct apdu whole;
    struct reply r;
    bool was_just_verified = card->pin_just_verified;
    bool chained_part = false;

    uk_buf_init(&r.data, VK_MAX_RESPONSE, true);
    r.sw = SW_OK;
    if (!parse_apdu(apdu, len, &a)) {
        r.sw = SW_WRONG_LENGTH;
        goto done;
    }
    if ((a.cla & ~PIV_CLA_CHAIN) != 0x00) {
        r.sw = SW_CLA_UNKNOWN;
        goto done;
    }
    if (a.ins == 0xC0) { /* GET RESPONSE */
        if (card->chaining) {
            r.sw = SW_LAST_CHAIN_EXPECTED;
        } else if (a.p1 != 0 || a.p2 != 0 || a.lc != 0) {
            r.sw = SW_WRONG_P1P2;
        } else if (card->pending_len == 0) {
            r.sw = SW_CONDITIONS;
        } else {
            send_pending(card, a.ne, resp, resp_len);
            uk_buf_free(&r.data);
            return;
        }
        goto done;
    }
    card->pending_len = 0; /* any other command drops an unread response */
    card->pending_off = 0;
    /* Command chaining (ISO/IEC 7816-4 5.1.1.1): parts with CLA bit 0x10
     * collect data; the last part (bit clear) runs the command. */
    if (card->chaining) {
        uint8_t hdr[3] = {a.ins, a.p1, a.p2};
        if (memcmp(hdr, card->chain_hdr, 3) != 0) {
            card->chaining = false;
            uk_buf_reset(&card->chain);
            r.sw = SW_LAST_CHAIN_EXPECTED;
            goto done;
        }
    }
    if (a.cla & PIV_CLA_CHAIN) {
        if (uk_buf_append(&card->chain, a.data, a.lc) != UK_OK) {
            card->chaining = false;
            uk_buf_reset(&card->chain);
            r.sw = SW_WRONG_LENGTH;
            goto done;
        }
        card->chaining = true;
        card->chain_hdr[0] = a.ins;
        card->chain_hdr[1] = a.p1;
        card->chain_hdr[2] = a.p2;
        chained_part = true;
        goto done;
    }
    whole = a;
    if (card->chaining) {
        card->chaining = false;
        if (uk_buf_append(&card->chain, a.data, a.lc) != UK_OK) {
            uk_buf_reset(&card->chain);
            r.sw = SW_WRONG_LENGTH;
            goto done;
        }
        whole.data = card->chain.data;
        whole.lc = card->chain.len;
    }
    card->pin_prev_verified = card->pin_just_verified;
    card->pin_just_verified = false;
    if (whole.lc > VK_MAX_APDU) {
        r.sw = SW_WRONG_LENGTH;
    } else {
        r.sw = dispatch(card, &whole, &r);
    }
    uk_buf_reset(&card->chain);
done:
    if (chained_part) {
        card->pin_just_verified = was_just_verified;
    }
    if (r.sw != SW_OK || r.data.len == 0) {
        put_sw(resp, resp_len, 0, r.sw);
    } else {
        memcpy(card->pending, r.data.data, r.data.len);
        card->pending_len = r.data.len;
        card->pending_off = 0;
        send_pending(card, a.ne, resp, resp_len);
    }
    uk_buf_free(&r.data);
}
