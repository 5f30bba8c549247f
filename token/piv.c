// SPDX-License-Identifier: MIT
/*
 * The PIV driver: NIST SP 800-73-4 part 2 commands over PC/SC, plus the
 * Yubico extensions a card may have (GET VERSION, GET SERIAL).
 *
 * Every operation runs in one PC/SC transaction. When the transaction finds
 * the card reset (another program, or pcscd restarted) the applet is
 * selected again, the certificate cache dropped and the admin state
 * forgotten. The certificate list is read once and kept until then, or
 * until this driver writes.
 */
#define _POSIX_C_SOURCE 200809L
#include "uk/piv.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "driver.h"
#include "uk/apdu.h"
#include "uk/log.h"
#include "uk/mem.h"
#include "uk/tlv.h"

#define PIV_ALG_3DES 0x03
#define PIV_ALG_AES128 0x08
#define PIV_ALG_AES192 0x0A
#define PIV_ALG_AES256 0x0C
#define PIV_ALG_RSA1024 0x06
#define PIV_ALG_RSA2048 0x07
#define PIV_ALG_P256 0x11
#define PIV_ALG_P384 0x14

#define OBJECT_MAX 4096      /* a PIV object's whole answer */
#define CERT_MAX (16 * 1024) /* a certificate, after decompression */
#define NSLOTS 24

static const uint8_t piv_aid[] = {0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00};

/* Slots with certificates, in listing order, and their objects. */
static const uint8_t slots[NSLOTS] = {0x9A, 0x9C, 0x9D, 0x9E, 0x82, 0x83, 0x84, 0x85,
                                      0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D,
                                      0x8E, 0x8F, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95};

struct piv {
    uk_pcsc_card *card;
    char serial[40];  /* who this token is: a reconnect must find the same card */
    bool admin;       /* management key authenticated in this card session */
    bool cache_valid; /* certs[] reflects the card */
    uk_token_cert certs[NSLOTS];
    uint8_t *cert_der[NSLOTS];
    size_t ncerts;
};

uint32_t uk_piv_slot_object(uint8_t slot)
{
    switch (slot) {
    case 0x9A:
        return 0x5FC105;
    case 0x9C:
        return 0x5FC10A;
    case 0x9D:
        return 0x5FC10B;
    case 0x9E:
        return 0x5FC101;
    default:
        /* retired key management slots */
        if (slot >= 0x82 && slot <= 0x95) {
            return 0x5FC10Du + (uint32_t)(slot - 0x82);
        }
        return 0;
    }
}

bool uk_piv_slot_valid(uint8_t slot)
{
    return uk_piv_slot_object(slot) != 0;
}

static uint8_t ref_slot(const uk_key_ref *ref)
{
    return ref != NULL && ref->len == 1 && uk_piv_slot_object(ref->id[0]) != 0 ? ref->id[0] : 0;
}

static uint8_t piv_alg(uk_key_type type)
{
    switch (type) {
    case UK_KEY_RSA1024:
        return PIV_ALG_RSA1024;
    case UK_KEY_RSA2048:
        return PIV_ALG_RSA2048;
    case UK_KEY_P256:
        return PIV_ALG_P256;
    case UK_KEY_P384:
        return PIV_ALG_P384;
    default:
        return 0;
    }
}

static void cache_drop(struct piv *p)
{
    for (size_t i = 0; i < NSLOTS; i++) {
        free(p->cert_der[i]);
        p->cert_der[i] = NULL;
    }
    memset(p->certs, 0, sizeof(p->certs));
    p->ncerts = 0;
    p->cache_valid = false;
}

/* Sends one command; the answer's data goes to resp (if not NULL). */
static uk_rc xfer(struct piv *p, const uk_apdu *a, uk_buf *resp, uint16_t *sw)
{
    uk_buf scratch;
    uk_rc rc;

    if (resp != NULL) {
        return uk_pcsc_card_transmit(p->card, a, resp, sw);
    }
    uk_buf_init(&scratch, OBJECT_MAX, true);
    rc = uk_pcsc_card_transmit(p->card, a, &scratch, sw);
    uk_buf_free(&scratch);
    return rc;
}

static uk_rc select_applet(struct piv *p, uk_buf *apt)
{
    uk_apdu a = {.cla = 0x00,
                 .ins = 0xA4,
                 .p1 = 0x04,
                 .p2 = 0x00,
                 .data = piv_aid,
                 .lc = sizeof(piv_aid),
                 .le = 256};
    uint16_t sw = 0;
    uk_rc rc;

    rc = xfer(p, &a, apt, &sw);
    if (rc != UK_OK) {
        return rc;
    }
    if (sw != 0x9000) {
        return sw == 0x6A82 || sw == 0x6D00 || sw == 0x6E00 ? UK_E_CARD_UNSUPPORTED : uk_sw_rc(sw);
    }
    return UK_OK;
}

static uk_rc identify(struct piv *p, const uk_buf *apt, uk_token_info *info);

/* After a reset or reconnect: select the applet again and make sure the
 * card in the reader is still this token, not another key inserted in its
 * place. */
static uk_rc same_card(struct piv *p)
{
    uk_token_info now;
    uk_buf apt;
    uk_rc rc;

    memset(&now, 0, sizeof(now));
    uk_buf_init(&apt, 1024, false);
    rc = select_applet(p, &apt);
    if (rc == UK_OK) {
        rc = identify(p, &apt, &now);
    }
    uk_buf_free(&apt);
    if (rc == UK_E_CARD_UNSUPPORTED || (rc == UK_OK && strcmp(now.serial, p->serial) != 0)) {
        uk_info("the card in the reader is no longer token piv:%s", p->serial);
        rc = UK_E_CARD_REMOVED;
    }
    return rc;
}

/* Begins a transaction; after a reset the applet is selected again and
 * everything learned in the old card session is forgotten. */
static uk_rc begin(struct piv *p)
{
    bool was_reset = false;
    uk_rc rc;

    rc = uk_pcsc_card_begin(p->card, &was_reset);
    if (rc != UK_OK) {
        return rc;
    }
    if (was_reset) {
        uk_debug("card session was reset; selecting PIV again");
        p->admin = false;
        cache_drop(p);
        rc = same_card(p);
        if (rc != UK_OK) {
            uk_pcsc_card_end(p->card);
            return rc;
        }
    }
    return UK_OK;
}

static void end(struct piv *p)
{
    uk_pcsc_card_end(p->card);
}

/* GET DATA of an object (SP 800-73-4 part 2, 3.1.2); out receives the
 * value of the 53 (or 7E) template. */
static uk_rc get_data(struct piv *p, uint32_t tag, uk_buf *out)
{
    uint8_t cmd[5] = {0x5C, 0x03, (uint8_t)(tag >> 16), (uint8_t)(tag >> 8), (uint8_t)tag};
    uk_apdu a = {.cla = 0x00, .ins = 0xCB, .p1 = 0x3F, .p2 = 0xFF, .data = cmd, .lc = 5, .le = 256};
    uk_buf raw;
    uint16_t sw = 0;
    uk_tlv t;
    uk_rc rc;

    if (tag == 0x7E) {
        cmd[1] = 0x01;
        cmd[2] = 0x7E;
        a.lc = 3;
    }
    uk_buf_init(&raw, OBJECT_MAX, false);
    rc = xfer(p, &a, &raw, &sw);
    if (rc == UK_OK) {
        rc = uk_sw_rc(sw);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_expect(raw.data, raw.len, tag == 0x7E ? 0x7E : 0x53, &t);
        if (rc != UK_OK) {
            uk_warn("object %06X: answer is not one %s template", tag, tag == 0x7E ? "7E" : "53");
        }
    }
    if (rc == UK_OK) {
        rc = uk_buf_append(out, t.value, t.len);
    }
    uk_buf_free(&raw);
    return rc;
}

/* PUT DATA (SP 800-73-4 part 2, 3.3.2): value is the 53 template's content,
 * empty to delete the object. */
static uk_rc put_data(struct piv *p, uint32_t tag, const uint8_t *value, size_t len)
{
    uint8_t head[5] = {0x5C, 0x03, (uint8_t)(tag >> 16), (uint8_t)(tag >> 8), (uint8_t)tag};
    uk_apdu a = {.cla = 0x00, .ins = 0xDB, .p1 = 0x3F, .p2 = 0xFF};
    uk_buf cmd;
    uint16_t sw = 0;
    uk_rc rc;

    uk_buf_init(&cmd, OBJECT_MAX + 16, false);
    rc = uk_buf_append(&cmd, head, sizeof(head));
    if (rc == UK_OK) {
        rc = uk_tlv_put(&cmd, 0x53, value, len);
    }
    if (rc == UK_OK) {
        a.data = cmd.data;
        a.lc = cmd.len;
        rc = xfer(p, &a, NULL, &sw);
    }
    if (rc == UK_OK) {
        rc = uk_sw_rc(sw);
        if (rc == UK_E_SECURITY_STATUS) {
            p->admin = false;
        }
    }
    uk_buf_free(&cmd);
    return rc;
}

/* Yubico GET SERIAL (00 F8) and GET VERSION (00 FD); absent on other cards. */
static bool yubico_query(struct piv *p, uint8_t ins, uint8_t *out, size_t len)
{
    uk_apdu a = {.cla = 0x00, .ins = ins, .le = 256};
    uk_buf r;
    uint16_t sw = 0;
    bool ok;

    uk_buf_init(&r, 64, false);
    ok = xfer(p, &a, &r, &sw) == UK_OK && sw == 0x9000 && r.len == len;
    if (ok) {
        memcpy(out, r.data, len);
    }
    uk_buf_free(&r);
    return ok;
}

static void hex(char *out, size_t cap, const uint8_t *p, size_t len)
{
    size_t off = 0;

    out[0] = '\0';
    for (size_t i = 0; i < len && off + 3 <= cap; i++) {
        off += (size_t)snprintf(out + off, cap - off, "%02x", p[i]);
    }
}

/* Does the ATR's historical part contain this text? */
static bool atr_names(const uint8_t *atr, size_t len, const char *text)
{
    size_t n = strlen(text);

    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(atr + i, text, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Identifies the card: serial from GET SERIAL, else from the CHUID's GUID
 * (SP 800-73-4 part 1, 3.1.2), else its FASC-N. */
static uk_rc identify(struct piv *p, const uk_buf *apt, uk_token_info *info)
{
    uint8_t serial[4];
    uint8_t version[3];
    uk_buf chuid;
    uk_tlv t;
    uk_tlv label;
    uk_rc rc = UK_OK;

    if (yubico_query(p, 0xF8, serial, sizeof(serial))) {
        snprintf(info->serial, sizeof(info->serial), "%lu",
                 (unsigned long)serial[0] << 24 | (unsigned long)serial[1] << 16 |
                     (unsigned long)serial[2] << 8 | serial[3]);
    } else {
        uk_buf_init(&chuid, OBJECT_MAX, false);
        rc = get_data(p, 0x5FC102, &chuid);
        if (rc == UK_OK && uk_tlv_find(chuid.data, chuid.len, 0x34, &t) == UK_OK && t.len == 16) {
            hex(info->serial, sizeof(info->serial), t.value, t.len);
        } else if (rc == UK_OK && uk_tlv_find(chuid.data, chuid.len, 0x30, &t) == UK_OK &&
                   t.len > 0) {
            hex(info->serial, sizeof(info->serial), t.value, t.len < 19 ? t.len : 19);
        }
        uk_buf_free(&chuid);
        if (rc == UK_E_CARD_REMOVED || rc == UK_E_PCSC_UNAVAILABLE) {
            return rc;
        }
        rc = UK_OK;
    }
    if (info->serial[0] == '\0') {
        uk_warn("PIV card in '%s' has neither a serial nor a CHUID", info->reader);
        return UK_E_CARD_UNSUPPORTED;
    }
    if (yubico_query(p, 0xFD, version, sizeof(version))) {
        snprintf(info->firmware, sizeof(info->firmware), "%u.%u.%u", version[0], version[1],
                 version[2]);
    }
    /* the application label of the property template, when the card has one */
    if (uk_tlv_expect(apt->data, apt->len, 0x61, &t) == UK_OK &&
        uk_tlv_find(t.value, t.len, 0x50, &label) == UK_OK && label.len > 0) {
        size_t n = label.len < sizeof(info->label) - 1 ? label.len : sizeof(info->label) - 1;
        memcpy(info->label, label.value, n);
        info->label[n] = '\0';
    } else {
        snprintf(info->label, sizeof(info->label), "PIV card");
    }
    snprintf(info->model, sizeof(info->model), "PIV");
    if (atr_names(info->atr, info->atr_len, "Yubi")) {
        snprintf(info->manufacturer, sizeof(info->manufacturer), "Yubico");
    } else {
        snprintf(info->manufacturer, sizeof(info->manufacturer), "%s",
                 info->firmware[0] ? "Yubico-compatible" : "unknown");
    }
    snprintf(info->id, sizeof(info->id), "piv:%s", info->serial);
    snprintf(info->driver, sizeof(info->driver), "piv");
    return rc;
}

static void piv_close(void *impl)
{
    struct piv *p = impl;

    if (p == NULL) {
        return;
    }
    cache_drop(p);
    uk_pcsc_card_close(p->card);
    free(p);
}

static uk_rc piv_open(uk_pcsc *ctx, const char *reader, void **impl, uk_token_info *info)
{
    struct piv *p;
    uk_buf apt;
    const uint8_t *atr;
    bool began = false;
    uk_rc rc;

    *impl = NULL;
    memset(info, 0, sizeof(*info));
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return UK_E_NOMEM;
    }
    uk_buf_init(&apt, 1024, false);
    rc = uk_pcsc_card_connect(ctx, reader, &p->card);
    if (rc != UK_OK) {
        goto out;
    }
    snprintf(info->reader, sizeof(info->reader), "%s", reader);
    atr = uk_pcsc_card_atr(p->card, &info->atr_len);
    memcpy(info->atr, atr, info->atr_len);
    rc = uk_pcsc_card_begin(p->card, &(bool){false});
    if (rc != UK_OK) {
        goto out;
    }
    began = true;
    rc = select_applet(p, &apt);
    if (rc == UK_OK) {
        rc = identify(p, &apt, info);
    }
out:
    if (began) {
        end(p);
    }
    uk_buf_free(&apt);
    if (rc != UK_OK) {
        piv_close(p);
        return rc;
    }
    snprintf(p->serial, sizeof(p->serial), "%s", info->serial);
    uk_info("PIV card %s in '%s'", info->id, reader);
    *impl = p;
    return UK_OK;
}

/* Extracts the certificate from a certificate object's value (SP 800-73-4
 * part 1, appendix A: 70 cert, 71 CertInfo, FE LRC). CertInfo bit 0 set
 * means the certificate is gzip-compressed. */
static uk_rc object_cert(const uint8_t *obj, size_t len, uint8_t **der, size_t *der_len)
{
    uk_tlv cert;
    uk_tlv info;
    z_stream z;
    uint8_t *buf = NULL;
    int zr;

    *der = NULL;
    *der_len = 0;
    if (uk_tlv_find(obj, len, 0x70, &cert) != UK_OK || cert.len == 0) {
        return UK_E_MALFORMED;
    }
    if (uk_tlv_find(obj, len, 0x71, &info) != UK_OK || info.len != 1 ||
        (info.value[0] & 0x01) == 0) {
        buf = malloc(cert.len);
        if (buf == NULL) {
            return UK_E_NOMEM;
        }
        memcpy(buf, cert.value, cert.len);
        *der = buf;
        *der_len = cert.len;
        return UK_OK;
    }
    /* gzip: windowBits 16 + 15 selects the gzip wrapper */
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        return UK_E_NOMEM;
    }
    buf = malloc(CERT_MAX);
    if (buf == NULL) {
        inflateEnd(&z);
        return UK_E_NOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)cert.value;
    z.avail_in = (uInt)cert.len;
    z.next_out = buf;
    z.avail_out = CERT_MAX;
    zr = inflate(&z, Z_FINISH);
    if (zr != Z_STREAM_END) {
        uk_warn("compressed certificate does not inflate (zlib %d)", zr);
        inflateEnd(&z);
        free(buf);
        return zr == Z_BUF_ERROR ? UK_E_LIMIT : UK_E_MALFORMED;
    }
    *der_len = z.total_out;
    inflateEnd(&z);
    *der = buf;
    return UK_OK;
}

static void fingerprint(const uint8_t *der, size_t len, char out[65])
{
    uint8_t md[32];
    unsigned int mdlen = 0;

    out[0] = '\0';
    if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32) {
        hex(out, 65, md, 32);
    }
}

/* Reads the certificate of one slot; UK_E_NOT_FOUND when the slot has none. */
static uk_rc read_slot_cert(struct piv *p, uint8_t slot, uint8_t **der, size_t *der_len)
{
    uk_buf obj;
    uk_rc rc;

    uk_buf_init(&obj, OBJECT_MAX, false);
    rc = get_data(p, uk_piv_slot_object(slot), &obj);
    if (rc == UK_OK) {
        rc = obj.len == 0 ? UK_E_NOT_FOUND : object_cert(obj.data, obj.len, der, der_len);
    }
    uk_buf_free(&obj);
    return rc;
}

static uk_rc piv_certs(void *impl, const uk_token_cert **list, size_t *count)
{
    struct piv *p = impl;
    uk_rc rc;

    if (!p->cache_valid) {
        rc = begin(p);
        if (rc != UK_OK) {
            return rc;
        }
        cache_drop(p);
        for (size_t i = 0; i < NSLOTS; i++) {
            uint8_t *der = NULL;
            size_t der_len = 0;
            rc = read_slot_cert(p, slots[i], &der, &der_len);
            if (rc == UK_E_NOT_FOUND || rc == UK_E_MALFORMED || rc == UK_E_LIMIT ||
                rc == UK_E_SECURITY_STATUS) {
                if (rc != UK_E_NOT_FOUND) {
                    uk_warn("slot %02X: certificate object unreadable: %s", slots[i],
                            uk_rc_name(rc));
                }
                continue;
            }
            if (rc != UK_OK) {
                cache_drop(p);
                end(p);
                return rc;
            }
            uk_token_cert *c = &p->certs[p->ncerts];
            p->cert_der[p->ncerts] = der;
            c->key = uk_key_ref_slot(slots[i]);
            c->object = uk_piv_slot_object(slots[i]);
            c->der = der;
            c->der_len = der_len;
            fingerprint(der, der_len, c->id);
            p->ncerts++;
        }
        p->cache_valid = true;
        end(p);
    }
    *list = p->certs;
    *count = p->ncerts;
    return UK_OK;
}

static void pad_pin(const char *pin, uint8_t out[8])
{
    size_t n = strnlen(pin, 8);

    memset(out, 0xFF, 8);
    memcpy(out, pin, n);
}

/* Maps a VERIFY-like answer; *tries from 63Cx / 6983. */
static uk_rc secret_result(uint16_t sw, int *tries, bool puk)
{
    *tries = uk_sw_tries(sw);
    if (sw == 0x9000) {
        return UK_OK;
    }
    if (*tries == 0) {
        return puk ? UK_E_PUK_BLOCKED : UK_E_PIN_BLOCKED;
    }
    if (*tries > 0) {
        return puk ? UK_E_PUK_INCORRECT : UK_E_PIN_INCORRECT;
    }
    return uk_sw_rc(sw);
}

static uk_rc piv_pin_status(void *impl, int *tries, bool *verified)
{
    struct piv *p = impl;
    uk_apdu a = {.cla = 0x00, .ins = 0x20, .p1 = 0x00, .p2 = 0x80};
    uint16_t sw = 0;
    uk_rc rc;

    rc = begin(p);
    if (rc != UK_OK) {
        return rc;
    }
    /* VERIFY without data: the status, no try spent (part 2, 3.2.1) */
    rc = xfer(p, &a, NULL, &sw);
    end(p);
    if (rc != UK_OK) {
        return rc;
    }
    *verified = sw == 0x9000;
    if (sw == 0x9000) {
        *tries = -1;
        return UK_OK;
    }
    rc = secret_result(sw, tries, false);
    return rc == UK_E_PIN_INCORRECT ? UK_OK : rc;
}

/* VERIFY / CHANGE REFERENCE DATA / RESET RETRY COUNTER with one or two
 * 8-byte padded secrets; the APDU buffer is wiped by the transport. */
static uk_rc secret_cmd(struct piv *p, uint8_t ins, uint8_t ref, const char *s1, const char *s2,
                        int *tries)
{
    uint8_t data[16];
    uk_apdu a = {
        .cla = 0x00, .ins = ins, .p1 = 0x00, .p2 = ref, .data = data, .lc = 8, .secret = true};
    uint16_t sw = 0;
    uk_rc rc;

    pad_pin(s1, data);
    if (s2 != NULL) {
        pad_pin(s2, data + 8);
        a.lc = 16;
    }
    rc = begin(p);
    if (rc == UK_OK) {
        rc = xfer(p, &a, NULL, &sw);
        end(p);
    }
    uk_memzero(data, sizeof(data));
    if (rc != UK_OK) {
        return rc;
    }
    if (sw == 0x6A80) {
        return UK_E_PIN_FORMAT; /* the card refused the new value's format */
    }
    return secret_result(sw, tries, ins == 0x2C || ref == 0x81);
}

static uk_rc piv_pin_verify(void *impl, const char *pin, int *tries)
{
    return secret_cmd(impl, 0x20, 0x80, pin, NULL, tries);
}

static uk_rc piv_pin_change(void *impl, const char *old_pin, const char *new_pin, int *tries)
{
    return secret_cmd(impl, 0x24, 0x80, old_pin, new_pin, tries);
}

static uk_rc piv_pin_unblock(void *impl, const char *puk, const char *new_pin, int *tries)
{
    return secret_cmd(impl, 0x2C, 0x80, puk, new_pin, tries);
}

static const EVP_CIPHER *mgmt_cipher(uint8_t alg, size_t *block)
{
    *block = alg == PIV_ALG_3DES ? 8 : 16;
    switch (alg) {
    case PIV_ALG_3DES:
        return EVP_des_ede3_ecb();
    case PIV_ALG_AES128:
        return EVP_aes_128_ecb();
    case PIV_ALG_AES192:
        return EVP_aes_192_ecb();
    case PIV_ALG_AES256:
        return EVP_aes_256_ecb();
    default:
        return NULL;
    }
}

static uk_rc ecb(uint8_t alg, const uint8_t *key, const uint8_t *in, uint8_t *out, int enc)
{
    size_t bs = 0;
    const EVP_CIPHER *c = mgmt_cipher(alg, &bs);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    uk_rc rc = UK_E_CRYPTO;

    if (c != NULL && ctx != NULL && EVP_CipherInit_ex(ctx, c, NULL, key, NULL, enc) &&
        EVP_CIPHER_CTX_set_padding(ctx, 0) && EVP_CipherUpdate(ctx, out, &n, in, (int)bs) &&
        (size_t)n == bs) {
        rc = UK_OK;
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* Mutual authentication with the management key (SP 800-73-4 part 2,
 * appendix A.2): the card sends an encrypted witness, we return it
 * decrypted with our own challenge, the card proves itself by encrypting
 * the challenge. */
static uk_rc mutual_auth(struct piv *p, const uk_admin_key *k)
{
    uint8_t step1[4] = {0x7C, 0x02, 0x80, 0x00};
    uk_apdu a = {
        .cla = 0x00, .ins = 0x87, .p1 = k->alg, .p2 = 0x9B, .data = step1, .lc = 4, .le = 256};
    uint8_t witness[16];
    uint8_t challenge[16];
    uint8_t expect[16];
    uint8_t cmd[40];
    size_t bs = 0;
    uk_buf r;
    uk_tlv dyn;
    uk_tlv t;
    uint16_t sw = 0;
    uk_rc rc;

    if (mgmt_cipher(k->alg, &bs) == NULL || k->len != (k->alg == PIV_ALG_AES128   ? 16u
                                                       : k->alg == PIV_ALG_AES256 ? 32u
                                                                                  : 24u)) {
        return UK_E_INVALID_ARG;
    }
    uk_buf_init(&r, 256, true);
    rc = xfer(p, &a, &r, &sw);
    if (rc == UK_OK) {
        rc = sw == 0x6A86 || sw == 0x6A80 ? UK_E_AUTH_FAILED : uk_sw_rc(sw);
    }
    if (rc == UK_OK && (uk_tlv_expect(r.data, r.len, 0x7C, &dyn) != UK_OK ||
                        uk_tlv_find(dyn.value, dyn.len, 0x80, &t) != UK_OK || t.len != bs)) {
        rc = UK_E_MALFORMED;
    }
    if (rc == UK_OK) {
        rc = ecb(k->alg, k->key, t.value, witness, 0);
    }
    if (rc == UK_OK && RAND_bytes(challenge, (int)bs) != 1) {
        rc = UK_E_CRYPTO;
    }
    if (rc == UK_OK) {
        size_t n = 0;
        cmd[n++] = 0x7C;
        cmd[n++] = (uint8_t)(4 + 2 * bs);
        cmd[n++] = 0x80;
        cmd[n++] = (uint8_t)bs;
        memcpy(cmd + n, witness, bs);
        n += bs;
        cmd[n++] = 0x81;
        cmd[n++] = (uint8_t)bs;
        memcpy(cmd + n, challenge, bs);
        n += bs;
        a.data = cmd;
        a.lc = n;
        a.secret = true;
        uk_buf_reset(&r);
        rc = xfer(p, &a, &r, &sw);
    }
    if (rc == UK_OK) {
        rc = sw == 0x9000 ? UK_OK : UK_E_AUTH_FAILED;
    }
    if (rc == UK_OK) {
        rc = ecb(k->alg, k->key, challenge, expect, 1);
    }
    if (rc == UK_OK && (uk_tlv_expect(r.data, r.len, 0x7C, &dyn) != UK_OK ||
                        uk_tlv_find(dyn.value, dyn.len, 0x82, &t) != UK_OK || t.len != bs ||
                        memcmp(t.value, expect, bs) != 0)) {
        uk_warn("the card did not prove knowledge of the management key");
        rc = UK_E_AUTH_FAILED;
    }
    uk_memzero(witness, sizeof(witness));
    uk_memzero(cmd, sizeof(cmd));
    uk_buf_free(&r);
    return rc;
}

/* The PIN-protected management key convention: the PRINTED object holds
 * 88 { 89 key } and can only be read after VERIFY. The key's length gives
 * its algorithm; a 24-byte key is tried as 3DES, then AES-192. */
static uk_rc stored_admin_key(struct piv *p)
{
    uk_buf obj;
    uk_tlv outer;
    uk_tlv key;
    uk_admin_key k;
    uk_rc rc;

    memset(&k, 0, sizeof(k));
    uk_buf_init(&obj, OBJECT_MAX, true);
    rc = get_data(p, 0x5FC109, &obj);
    if (rc == UK_OK && (uk_tlv_find(obj.data, obj.len, 0x88, &outer) != UK_OK ||
                        uk_tlv_find(outer.value, outer.len, 0x89, &key) != UK_OK ||
                        (key.len != 16 && key.len != 24 && key.len != 32))) {
        rc = UK_E_NOT_FOUND;
    }
    if (rc == UK_OK) {
        memcpy(k.key, key.value, key.len);
        k.len = key.len;
        k.alg = key.len == 16 ? PIV_ALG_AES128 : key.len == 32 ? PIV_ALG_AES256 : PIV_ALG_3DES;
        rc = mutual_auth(p, &k);
        if (rc == UK_E_AUTH_FAILED && key.len == 24) {
            k.alg = PIV_ALG_AES192;
            rc = mutual_auth(p, &k);
        }
    }
    uk_memzero(&k, sizeof(k));
    uk_buf_free(&obj);
    return rc;
}

static uk_rc piv_admin_auth(void *impl, const uk_admin_key *key)
{
    struct piv *p = impl;
    uk_rc rc;

    rc = begin(p);
    if (rc != UK_OK) {
        return rc;
    }
    rc = key != NULL ? mutual_auth(p, key) : stored_admin_key(p);
    p->admin = rc == UK_OK;
    end(p);
    if (rc != UK_OK) {
        uk_warn("management key authentication: %s", uk_rc_name(rc));
    }
    return rc;
}

/* Builds an EVP_PKEY from the 7F49 template GENERATE answers with. */
static uk_rc public_key(uk_key_type type, const uint8_t *data, size_t len, EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *n = NULL;
    BIGNUM *e = NULL;
    uk_tlv tmpl;
    uk_tlv t1;
    uk_tlv t2;
    uk_rc rc = UK_E_MALFORMED;

    *out = NULL;
    if (bld == NULL || uk_tlv_expect(data, len, 0x7F49, &tmpl) != UK_OK) {
        goto out;
    }
    if (type == UK_KEY_RSA1024 || type == UK_KEY_RSA2048) {
        if (uk_tlv_find(tmpl.value, tmpl.len, 0x81, &t1) != UK_OK ||
            uk_tlv_find(tmpl.value, tmpl.len, 0x82, &t2) != UK_OK ||
            t1.len != (type == UK_KEY_RSA1024 ? 128u : 256u) || t2.len == 0 || t2.len > 8) {
            goto out;
        }
        n = BN_bin2bn(t1.value, (int)t1.len, NULL);
        e = BN_bin2bn(t2.value, (int)t2.len, NULL);
        if (n == NULL || e == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)) {
            goto out;
        }
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    } else {
        size_t plen = type == UK_KEY_P256 ? 65 : 97;
        if (uk_tlv_find(tmpl.value, tmpl.len, 0x86, &t1) != UK_OK || t1.len != plen ||
            t1.value[0] != 0x04 ||
            !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                             type == UK_KEY_P256 ? "P-256" : "P-384", 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, t1.value, t1.len)) {
            goto out;
        }
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (ctx == NULL || params == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        rc = UK_E_MALFORMED; /* e.g. a point not on the curve */
        goto out;
    }
    rc = UK_OK;
out:
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

static uk_rc piv_key_generate(void *impl, const uk_key_ref *ref, uk_key_type type, EVP_PKEY **pub)
{
    struct piv *p = impl;
    uint8_t slot = ref_slot(ref);
    uint8_t tmpl[5] = {0xAC, 0x03, 0x80, 0x01, piv_alg(type)};
    uk_apdu a = {
        .cla = 0x00, .ins = 0x47, .p1 = 0x00, .p2 = slot, .data = tmpl, .lc = 5, .le = 256};
    uk_buf r;
    uint16_t sw = 0;
    uk_rc rc;

    if (slot == 0 || tmpl[4] == 0) {
        return UK_E_INVALID_ARG;
    }
    rc = begin(p);
    if (rc != UK_OK) {
        return rc;
    }
    uk_buf_init(&r, 1024, false);
    rc = xfer(p, &a, &r, &sw);
    if (rc == UK_OK) {
        rc = uk_sw_rc(sw);
        if (rc == UK_E_SECURITY_STATUS) {
            p->admin = false;
        }
    }
    if (rc == UK_OK) {
        rc = public_key(type, r.data, r.len, pub);
    }
    end(p);
    uk_buf_free(&r);
    if (rc != UK_OK) {
        uk_warn("GENERATE in slot %02X: %s", slot, uk_rc_name(rc));
    }
    return rc;
}

static uk_rc piv_sign_raw(void *impl, const uk_key_ref *ref, uk_key_type type, const uint8_t *in,
                          size_t len, uint8_t *out, size_t *out_len)
{
    struct piv *p = impl;
    uint8_t slot = ref_slot(ref);
    size_t field = type == UK_KEY_P256 ? 32 : type == UK_KEY_P384 ? 48 : 0;
    uk_apdu a = {.cla = 0x00, .ins = 0x87, .p1 = piv_alg(type), .p2 = slot, .le = 256};
    uk_buf cmd;
    uk_buf inner;
    uk_buf r;
    uk_tlv dyn;
    uk_tlv t;
    uint16_t sw = 0;
    size_t cap = *out_len;
    uk_rc rc;

    *out_len = 0;
    if (slot == 0 || a.p1 == 0) {
        return UK_E_INVALID_ARG;
    }
    /* ECDSA signs the leftmost bits of the digest up to the order's size
     * (FIPS 186-4 6.4); the card is given at most that many bytes. */
    if (field != 0 && len > field) {
        len = field;
    }
    uk_buf_init(&inner, 600, true);
    uk_buf_init(&cmd, 600, true);
    uk_buf_init(&r, 600, true);
    rc = uk_tlv_put(&inner, 0x82, NULL, 0);
    if (rc == UK_OK) {
        rc = uk_tlv_put(&inner, 0x81, in, len);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(&cmd, 0x7C, inner.data, inner.len);
    }
    if (rc == UK_OK) {
        rc = begin(p);
    }
    if (rc == UK_OK) {
        a.data = cmd.data;
        a.lc = cmd.len;
        rc = xfer(p, &a, &r, &sw);
        end(p);
    }
    if (rc == UK_OK) {
        rc = uk_sw_rc(sw);
    }
    if (rc == UK_OK && (uk_tlv_expect(r.data, r.len, 0x7C, &dyn) != UK_OK ||
                        uk_tlv_find(dyn.value, dyn.len, 0x82, &t) != UK_OK || t.len == 0)) {
        rc = UK_E_MALFORMED;
    }
    if (rc == UK_OK && t.len > cap) {
        rc = UK_E_SIZE;
    }
    if (rc == UK_OK) {
        memcpy(out, t.value, t.len);
        *out_len = t.len;
    }
    uk_buf_free(&inner);
    uk_buf_free(&cmd);
    uk_buf_free(&r);
    return rc;
}

static uk_rc piv_cert_read(void *impl, const uk_key_ref *ref, uk_buf *der)
{
    struct piv *p = impl;
    uint8_t slot = ref_slot(ref);
    uint8_t *buf = NULL;
    size_t len = 0;
    uk_rc rc;

    if (slot == 0) {
        return UK_E_INVALID_ARG;
    }
    rc = begin(p);
    if (rc != UK_OK) {
        return rc;
    }
    rc = read_slot_cert(p, slot, &buf, &len);
    end(p);
    if (rc == UK_OK) {
        rc = uk_buf_append(der, buf, len);
    }
    free(buf);
    return rc;
}

static uk_rc piv_cert_write(void *impl, const uk_key_ref *ref, const uint8_t *der, size_t len)
{
    struct piv *p = impl;
    uint8_t slot = ref_slot(ref);
    uint8_t *back = NULL;
    size_t back_len = 0;
    uk_buf obj;
    uk_rc rc;

    if (slot == 0) {
        return UK_E_INVALID_ARG;
    }
    uk_buf_init(&obj, OBJECT_MAX, false);
    rc = uk_tlv_put(&obj, 0x70, der, len);
    if (rc == UK_OK) {
        rc = uk_tlv_put_u8(&obj, 0x71, 0x00); /* not compressed */
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(&obj, 0xFE, NULL, 0);
    }
    if (rc != UK_OK) {
        uk_buf_free(&obj);
        return rc == UK_E_LIMIT ? UK_E_LIMIT : rc;
    }
    rc = begin(p);
    if (rc != UK_OK) {
        uk_buf_free(&obj);
        return rc;
    }
    p->cache_valid = false;
    rc = put_data(p, uk_piv_slot_object(slot), obj.data, obj.len);
    /* read back and compare before anyone relies on it */
    if (rc == UK_OK) {
        rc = read_slot_cert(p, slot, &back, &back_len);
    }
    if (rc == UK_OK && (back_len != len || memcmp(back, der, len) != 0)) {
        uk_err("slot %02X: the certificate read back differs from the one written", slot);
        rc = UK_E_CARD_ERROR;
    }
    end(p);
    free(back);
    uk_buf_free(&obj);
    return rc;
}

static uk_rc piv_cert_delete(void *impl, const uk_key_ref *ref)
{
    struct piv *p = impl;
    uint8_t slot = ref_slot(ref);
    uk_rc rc;

    if (slot == 0) {
        return UK_E_INVALID_ARG;
    }
    rc = begin(p);
    if (rc != UK_OK) {
        return rc;
    }
    p->cache_valid = false;
    rc = put_data(p, uk_piv_slot_object(slot), NULL, 0);
    end(p);
    return rc;
}

#define KEY_HISTORY 0x5FC10Cu

/* The key history object (SP 800-73-4 part 1, 3.3.3): the first c1
 * retired slots from 82 on hold keys whose certificates are on the card,
 * the next c2 keys whose certificates are elsewhere. An absent object is
 * 0 and 0. Inside a transaction. */
static uk_rc key_history(struct piv *p, unsigned *c1, unsigned *c2, uk_buf *raw)
{
    uk_tlv t;
    uk_rc rc = get_data(p, KEY_HISTORY, raw);

    *c1 = 0;
    *c2 = 0;
    if (rc == UK_E_NOT_FOUND) {
        return UK_OK;
    }
    if (rc != UK_OK) {
        return rc;
    }
    if (uk_tlv_find(raw->data, raw->len, 0xC1, &t) == UK_OK && t.len == 1) {
        *c1 = t.value[0];
    }
    if (uk_tlv_find(raw->data, raw->len, 0xC2, &t) == UK_OK && t.len == 1) {
        *c2 = t.value[0];
    }
    return UK_OK;
}

/* The retired slots past those the key history accounts for: a key there
 * has no certificate anywhere the card knows of. */
static uk_rc piv_staging_refs(void *impl, uk_key_ref *refs, size_t max, size_t *n)
{
    struct piv *p = impl;
    unsigned c1 = 0;
    unsigned c2 = 0;
    uk_buf raw;
    uk_rc rc = begin(p);

    *n = 0;
    if (rc != UK_OK) {
        return rc;
    }
    uk_buf_init(&raw, OBJECT_MAX, false);
    rc = key_history(p, &c1, &c2, &raw);
    end(p);
    uk_buf_free(&raw);
    for (unsigned slot = 0x82 + c1 + c2; rc == UK_OK && slot <= 0x95; slot++) {
        if (*n < max) {
            refs[*n] = uk_key_ref_slot((uint8_t)slot);
        }
        ++*n;
    }
    return rc;
}

/* A certificate now final in a retired slot: the key history must count
 * it, or middleware that follows the standard (OpenSC, the Windows and
 * macOS PIV drivers) never looks there. Left alone when it lists off-card
 * keys, whose numbering a change would shift. */
static uk_rc piv_publish(void *impl, const uk_key_ref *ref)
{
    struct piv *p = impl;
    uint8_t slot = ref_slot(ref);
    unsigned c1 = 0;
    unsigned c2 = 0;
    uk_buf raw;
    uk_buf obj;
    uk_tlv url;
    uk_rc rc;

    if (slot < 0x82 || slot > 0x95) {
        return UK_OK;
    }
    rc = begin(p);
    if (rc != UK_OK) {
        return rc;
    }
    uk_buf_init(&raw, OBJECT_MAX, false);
    uk_buf_init(&obj, OBJECT_MAX, false);
    rc = key_history(p, &c1, &c2, &raw);
    if (rc == UK_OK && c2 > 0) {
        uk_warn("key history lists %u off-card keys; not changed for slot %02X", c2, slot);
    } else if (rc == UK_OK && c1 < (unsigned)(slot - 0x81)) {
        rc = uk_tlv_put_u8(&obj, 0xC1, (uint8_t)(slot - 0x81));
        if (rc == UK_OK) {
            rc = uk_tlv_put_u8(&obj, 0xC2, 0);
        }
        if (rc == UK_OK && uk_tlv_find(raw.data, raw.len, 0xF3, &url) == UK_OK) {
            rc = uk_tlv_put(&obj, 0xF3, url.value, url.len);
        }
        if (rc == UK_OK) {
            rc = uk_tlv_put(&obj, 0xFE, NULL, 0);
        }
        if (rc == UK_OK) {
            rc = put_data(p, KEY_HISTORY, obj.data, obj.len);
        }
    }
    end(p);
    uk_buf_free(&raw);
    uk_buf_free(&obj);
    return rc;
}

static unsigned long piv_apdu_count(const void *impl)
{
    const struct piv *p = impl;

    return uk_pcsc_card_apdu_count(p->card);
}

const uk_driver uk_driver_piv = {
    .name = "piv",
    .open = piv_open,
    .close = piv_close,
    .certs = piv_certs,
    .pin_status = piv_pin_status,
    .pin_verify = piv_pin_verify,
    .pin_change = piv_pin_change,
    .pin_unblock = piv_pin_unblock,
    .admin_auth = piv_admin_auth,
    .key_generate = piv_key_generate,
    .sign_raw = piv_sign_raw,
    .cert_read = piv_cert_read,
    .cert_write = piv_cert_write,
    .cert_delete = piv_cert_delete,
    .staging_refs = piv_staging_refs,
    .publish = piv_publish,
    .apdu_count = piv_apdu_count,
};
