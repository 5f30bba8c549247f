// SPDX-License-Identifier: MIT
/*
 * PC/SC on pcsc-lite (and the WinSCard subset it shares): context with
 * re-establishment after a service restart, reader lists, connections,
 * transactions, and transmission with chaining, 61xx and 6Cxx handling.
 */
#define _POSIX_C_SOURCE 200809L
#include "uk/pcsc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <winscard.h>

#include "uk/log.h"
#include "uk/mem.h"

#define RESP_MAX (65536 + 2)
#define GET_RESPONSE_MAX 64 /* a card that keeps saying 61xx is broken */

struct uk_pcsc {
    SCARDCONTEXT ctx;
    bool valid;
};

struct uk_pcsc_card {
    uk_pcsc *pcsc;
    SCARDHANDLE h;
    DWORD protocol;
    bool connected;
    char *reader;
    uint8_t atr[UK_PCSC_ATR_MAX];
    size_t atr_len;
    unsigned long apdus;
    uint8_t *rbuf; /* RESP_MAX bytes */
    uint8_t *sbuf; /* UK_APDU_MAX bytes */
};

uk_rc uk_pcsc_rc(long rv)
{
    switch ((LONG)rv) {
    case SCARD_S_SUCCESS:
        return UK_OK;
    case SCARD_E_NO_SERVICE:
    case SCARD_E_SERVICE_STOPPED:
    case SCARD_E_NO_ACCESS:
        return UK_E_PCSC_UNAVAILABLE;
    case SCARD_E_NO_READERS_AVAILABLE:
    case SCARD_E_UNKNOWN_READER:
    case SCARD_E_READER_UNAVAILABLE:
        return UK_E_NO_READER;
    case SCARD_E_NO_SMARTCARD:
        return UK_E_NO_CARD;
    case SCARD_W_REMOVED_CARD:
    case SCARD_W_UNPOWERED_CARD:
    case SCARD_W_UNRESPONSIVE_CARD:
        return UK_E_CARD_REMOVED;
    case SCARD_E_SHARING_VIOLATION:
        return UK_E_CARD_BUSY;
    case SCARD_E_CANCELLED:
        return UK_E_CANCELLED;
    case SCARD_E_TIMEOUT:
        return UK_E_TIMEOUT;
    case SCARD_E_NO_MEMORY:
        return UK_E_NOMEM;
    case SCARD_E_INSUFFICIENT_BUFFER:
        return UK_E_SIZE;
    case SCARD_E_INVALID_PARAMETER:
    case SCARD_E_INVALID_VALUE:
        return UK_E_INVALID_ARG;
    case SCARD_W_UNSUPPORTED_CARD:
    case SCARD_E_CARD_UNSUPPORTED:
    case SCARD_E_PROTO_MISMATCH:
        return UK_E_CARD_UNSUPPORTED;
    default:
        return UK_E_IO;
    }
}

/* Is this the context itself gone (service restarted)? */
static bool context_lost(LONG rv)
{
    return rv == SCARD_E_NO_SERVICE || rv == SCARD_E_SERVICE_STOPPED ||
           rv == SCARD_E_INVALID_HANDLE;
}

static uk_rc establish(uk_pcsc *p)
{
    LONG rv;

    if (p->valid) {
        SCardReleaseContext(p->ctx);
        p->valid = false;
    }
    rv = SCardEstablishContext(SCARD_SCOPE_USER, NULL, NULL, &p->ctx);
    if (rv != SCARD_S_SUCCESS) {
        uk_debug("SCardEstablishContext: %s", uk_rc_name(uk_pcsc_rc(rv)));
        return uk_pcsc_rc(rv);
    }
    p->valid = true;
    return UK_OK;
}

uk_rc uk_pcsc_open(uk_pcsc **out)
{
    uk_pcsc *p;
    uk_rc rc;

    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return UK_E_NOMEM;
    }
    rc = establish(p);
    if (rc != UK_OK) {
        free(p);
        return rc;
    }
    *out = p;
    return UK_OK;
}

void uk_pcsc_close(uk_pcsc *ctx)
{
    if (ctx == NULL) {
        return;
    }
    if (ctx->valid) {
        SCardReleaseContext(ctx->ctx);
    }
    free(ctx);
}

/* Makes sure the context is usable: SCardIsValidContext says whether the
 * service still knows it; after a restart a new one is established. */
static uk_rc ensure_context(uk_pcsc *p)
{
    if (p->valid && SCardIsValidContext(p->ctx) == SCARD_S_SUCCESS) {
        return UK_OK;
    }
    return establish(p);
}

void uk_pcsc_readers_free(char **names)
{
    if (names == NULL) {
        return;
    }
    for (char **n = names; *n != NULL; n++) {
        free(*n);
    }
    free(names);
}

uk_rc uk_pcsc_readers(uk_pcsc *ctx, char ***names, size_t *count)
{
    char *multi = NULL;
    char **list = NULL;
    DWORD len = 0;
    size_t n = 0;
    LONG rv;
    uk_rc rc;

    *names = NULL;
    *count = 0;
    rc = ensure_context(ctx);
    if (rc != UK_OK) {
        return rc;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        rv = SCardListReaders(ctx->ctx, NULL, NULL, &len);
        if (context_lost(rv) && attempt == 0) {
            rc = establish(ctx);
            if (rc != UK_OK) {
                return rc;
            }
            continue;
        }
        break;
    }
    if (rv == SCARD_E_NO_READERS_AVAILABLE) {
        len = 0;
    } else if (rv != SCARD_S_SUCCESS) {
        return uk_pcsc_rc(rv);
    }
    if (len > 0) {
        multi = calloc(1, len + 1);
        if (multi == NULL) {
            return UK_E_NOMEM;
        }
        rv = SCardListReaders(ctx->ctx, NULL, multi, &len);
        if (rv == SCARD_E_NO_READERS_AVAILABLE) {
            len = 0;
        } else if (rv != SCARD_S_SUCCESS) {
            rc = uk_pcsc_rc(rv);
            goto out;
        }
    }
    /* a multi-string: names separated by NUL, ended by an empty name */
    for (size_t i = 0; i < len && multi[i] != '\0'; i += strlen(multi + i) + 1) {
        n++;
    }
    list = calloc(n + 1, sizeof(*list));
    if (list == NULL) {
        rc = UK_E_NOMEM;
        goto out;
    }
    n = 0;
    for (size_t i = 0; i < len && multi[i] != '\0'; i += strlen(multi + i) + 1) {
        list[n] = strdup(multi + i);
        if (list[n] == NULL) {
            uk_pcsc_readers_free(list);
            list = NULL;
            rc = UK_E_NOMEM;
            goto out;
        }
        n++;
    }
    *names = list;
    *count = n;
    rc = UK_OK;
out:
    free(multi);
    return rc;
}

static uk_rc card_connect(uk_pcsc_card *c)
{
    BYTE atr[UK_PCSC_ATR_MAX];
    DWORD atr_len = sizeof(atr);
    DWORD state = 0;
    DWORD proto = 0;
    DWORD rlen = 0;
    LONG rv;

    rv = SCardConnect(c->pcsc->ctx, c->reader, SCARD_SHARE_SHARED,
                      SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0, &c->h, &c->protocol);
    if (context_lost(rv)) {
        uk_rc rc = establish(c->pcsc);
        if (rc != UK_OK) {
            return rc;
        }
        rv = SCardConnect(c->pcsc->ctx, c->reader, SCARD_SHARE_SHARED,
                          SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0, &c->h, &c->protocol);
    }
    if (rv != SCARD_S_SUCCESS) {
        return uk_pcsc_rc(rv);
    }
    c->connected = true;
    rv = SCardStatus(c->h, NULL, &rlen, &state, &proto, atr, &atr_len);
    if (rv == SCARD_S_SUCCESS && atr_len <= sizeof(c->atr)) {
        memcpy(c->atr, atr, atr_len);
        c->atr_len = atr_len;
    }
    return UK_OK;
}

uk_rc uk_pcsc_card_connect(uk_pcsc *ctx, const char *reader, uk_pcsc_card **out)
{
    uk_pcsc_card *c;
    uk_rc rc;

    *out = NULL;
    rc = ensure_context(ctx);
    if (rc != UK_OK) {
        return rc;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return UK_E_NOMEM;
    }
    c->pcsc = ctx;
    c->reader = strdup(reader);
    c->rbuf = malloc(RESP_MAX);
    c->sbuf = malloc(UK_APDU_MAX);
    if (c->reader == NULL || c->rbuf == NULL || c->sbuf == NULL) {
        rc = UK_E_NOMEM;
        goto out;
    }
    rc = card_connect(c);
out:
    if (rc != UK_OK) {
        uk_pcsc_card_close(c);
        return rc;
    }
    *out = c;
    return UK_OK;
}

void uk_pcsc_card_close(uk_pcsc_card *card)
{
    if (card == NULL) {
        return;
    }
    if (card->connected) {
        SCardDisconnect(card->h, SCARD_LEAVE_CARD);
    }
    free(card->reader);
    uk_freezero(card->rbuf, RESP_MAX);
    uk_freezero(card->sbuf, UK_APDU_MAX);
    free(card);
}

/* Forgets a connection that no longer reaches the card; begin() makes a
 * new one. */
static void drop_connection(uk_pcsc_card *c)
{
    if (c->connected) {
        SCardDisconnect(c->h, SCARD_LEAVE_CARD);
        c->connected = false;
    }
}

static bool card_leaving(uk_pcsc_card *c);

uk_rc uk_pcsc_card_begin(uk_pcsc_card *card, bool *was_reset)
{
    LONG rv;
    DWORD proto = 0;
    uk_rc rc;

    *was_reset = false;
    if (!card->connected) {
        rc = card_connect(card);
        if (rc != UK_OK) {
            return rc == UK_E_NO_CARD ? UK_E_CARD_REMOVED : rc;
        }
        *was_reset = true;
    }
    rv = SCardBeginTransaction(card->h);
    if (rv == SCARD_W_RESET_CARD) {
        /* another program reset the card: our session state is gone */
        rv = SCardReconnect(card->h, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0,
                            SCARD_LEAVE_CARD, &proto);
        if (rv == SCARD_S_SUCCESS) {
            card->protocol = proto;
            *was_reset = true;
            rv = SCardBeginTransaction(card->h);
        }
    } else if (context_lost(rv)) {
        /* the service restarted: the handle died with the old context */
        drop_connection(card);
        rc = establish(card->pcsc);
        if (rc == UK_OK) {
            rc = card_connect(card);
        }
        if (rc != UK_OK) {
            return rc == UK_E_NO_CARD ? UK_E_CARD_REMOVED : rc;
        }
        *was_reset = true;
        rv = SCardBeginTransaction(card->h);
    }
    if (rv != SCARD_S_SUCCESS) {
        rc = uk_pcsc_rc(rv);
        if (rc == UK_E_NO_CARD || (rc == UK_E_IO && card_leaving(card))) {
            rc = UK_E_CARD_REMOVED;
        }
        uk_debug("SCardBeginTransaction on '%s': %s", card->reader, uk_rc_name(rc));
        return rc;
    }
    return UK_OK;
}

void uk_pcsc_card_end(uk_pcsc_card *card)
{
    if (card->connected) {
        SCardEndTransaction(card->h, SCARD_LEAVE_CARD);
    }
}

/* Is the card out of the reader (or the handle dead with it)? */
static bool card_gone(uk_pcsc_card *c)
{
    char name[256];
    DWORD name_len = sizeof(name);
    DWORD state = 0;
    DWORD protocol = 0;
    BYTE atr[UK_PCSC_ATR_MAX];
    DWORD atr_len = sizeof(atr);
    LONG rv = SCardStatus(c->h, name, &name_len, &state, &protocol, atr, &atr_len);

    return rv == SCARD_W_REMOVED_CARD || rv == SCARD_E_NO_SMARTCARD || rv == SCARD_W_RESET_CARD ||
           rv == SCARD_E_READER_UNAVAILABLE ||
           (rv == SCARD_S_SUCCESS && (state & SCARD_PRESENT) == 0);
}

/*
 * After an I/O error with the card still listed: is it on its way out?
 * pcscd may learn of a removal a moment after the command to the card
 * failed (vpcd's socket closes, a USB reader's interrupt comes later), and
 * a request must then say CARD_REMOVED, not IO_ERROR. Waits on this
 * worker's own context, at most LEAVING_WAITS x LEAVING_WAIT_MS, for the
 * reader to report the card absent; other state changes (another program
 * connecting) keep waiting.
 */
#define LEAVING_WAITS 5
#define LEAVING_WAIT_MS 300
static bool card_leaving(uk_pcsc_card *c)
{
    SCARD_READERSTATE st;
    LONG rv;

    if (card_gone(c)) {
        return true;
    }
    memset(&st, 0, sizeof(st));
    st.szReader = c->reader;
    st.dwCurrentState = SCARD_STATE_UNAWARE;
    for (int i = 0; i <= LEAVING_WAITS; i++) {
        rv = SCardGetStatusChange(c->pcsc->ctx, i == 0 ? 0 : LEAVING_WAIT_MS, &st, 1);
        if (rv == SCARD_E_TIMEOUT) {
            continue;
        }
        if (rv != SCARD_S_SUCCESS) {
            return rv == SCARD_E_UNKNOWN_READER || rv == SCARD_E_READER_UNAVAILABLE;
        }
        if ((st.dwEventState & (SCARD_STATE_EMPTY | SCARD_STATE_UNAVAILABLE)) != 0 ||
            (st.dwEventState & SCARD_STATE_PRESENT) == 0) {
            return true;
        }
        st.dwCurrentState = st.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
    }
    return false;
}

/* One exchange: bytes out, bytes in (at least SW1 SW2). */
static uk_rc exchange(uk_pcsc_card *c, const uint8_t *cmd, size_t len, size_t *rlen)
{
    const SCARD_IO_REQUEST *pci = c->protocol == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    DWORD n = RESP_MAX;
    LONG rv;
    uk_rc rc;

    *rlen = 0;
    c->apdus++;
    rv = SCardTransmit(c->h, pci, cmd, (DWORD)len, NULL, c->rbuf, &n);
    if (rv != SCARD_S_SUCCESS) {
        rc = uk_pcsc_rc(rv);
        if (rc == UK_E_NO_CARD || (rc == UK_E_IO && card_leaving(c))) {
            /* a reader loses a card mid-command with whatever error its
             * driver has (vpcd: a communication error) */
            rc = UK_E_CARD_REMOVED;
        }
        if (rc == UK_E_CARD_REMOVED || rc == UK_E_PCSC_UNAVAILABLE) {
            drop_connection(c);
        }
        uk_debug("SCardTransmit: %s", uk_rc_name(rc));
        return rc;
    }
    if (n < 2) {
        /* No status word: the reader lost the card in mid-command (a card
         * always answers with SW1 SW2). If it is still there, the next
         * begin() connects again and checks it is the same card. */
        uk_warn("card answered %lu bytes, no status word: treating it as removed",
                (unsigned long)n);
        drop_connection(c);
        return UK_E_CARD_REMOVED;
    }
    *rlen = n;
    return UK_OK;
}

static void trace_command(const uk_apdu *a, const uint8_t *bytes, size_t len)
{
    char hex[3 * 24 + 1];
    size_t shown;
    size_t off = 0;

    if (uk_log_get_level() < UK_LOG_TRACE) {
        return;
    }
    shown = a->secret ? (len < 5 ? len : 5) : (len < 24 ? len : 24);
    for (size_t i = 0; i < shown; i++) {
        off += (size_t)snprintf(hex + off, sizeof(hex) - off, "%02X ", bytes[i]);
    }
    uk_trace("> %s%s(%zu bytes)", hex, a->secret ? "[redacted] " : "", len);
}

uk_rc uk_pcsc_card_transmit(uk_pcsc_card *card, const uk_apdu *a, uk_buf *resp, uint16_t *sw)
{
    uk_apdu part = *a;
    size_t off = 0;
    size_t len;
    size_t rlen = 0;
    int rounds = 0;
    uk_rc rc = UK_OK;

    *sw = 0;
    if (!card->connected) {
        return UK_E_CARD_REMOVED;
    }
    /* Command chaining (ISO/IEC 7816-4 5.1.1.1) for data over 255 bytes. */
    while (a->lc - off > UK_APDU_SHORT_MAX) {
        part.cla = (uint8_t)(a->cla | 0x10);
        part.data = a->data + off;
        part.lc = UK_APDU_SHORT_MAX;
        part.le = 0;
        len = UK_APDU_MAX;
        rc = uk_apdu_encode(&part, false, card->sbuf, &len);
        if (rc == UK_OK) {
            trace_command(a, card->sbuf, len);
            rc = exchange(card, card->sbuf, len, &rlen);
        }
        if (rc != UK_OK) {
            goto out;
        }
        *sw = (uint16_t)((card->rbuf[rlen - 2] << 8) | card->rbuf[rlen - 1]);
        if (*sw != 0x9000) {
            goto out; /* the card refused a part: its status is the answer */
        }
        off += UK_APDU_SHORT_MAX;
    }
    part.cla = a->cla;
    part.data = a->lc > off ? a->data + off : NULL;
    part.lc = a->lc - off;
    part.le = a->le;
    for (;;) {
        len = UK_APDU_MAX;
        rc = uk_apdu_encode(&part, false, card->sbuf, &len);
        if (rc == UK_OK) {
            trace_command(a, card->sbuf, len);
            rc = exchange(card, card->sbuf, len, &rlen);
        }
        if (rc != UK_OK) {
            goto out;
        }
        *sw = (uint16_t)((card->rbuf[rlen - 2] << 8) | card->rbuf[rlen - 1]);
        if ((*sw & 0xFF00) == 0x6C00 && rounds++ == 0) {
            /* wrong Le: send the same command again with Le = SW2 */
            part.le = (*sw & 0xFF) ? (*sw & 0xFF) : 256;
            continue;
        }
        break;
    }
    rc = uk_buf_append(resp, card->rbuf, rlen - 2);
    /* 61xx: more data waits; GET RESPONSE until the card says 9000. */
    for (rounds = 0; rc == UK_OK && (*sw & 0xFF00) == 0x6100; rounds++) {
        static const uint8_t get_response_hdr[] = {0x00, 0xC0, 0x00, 0x00};
        uint8_t cmd[5];
        if (rounds == GET_RESPONSE_MAX) {
            rc = UK_E_CARD_ERROR;
            break;
        }
        memcpy(cmd, get_response_hdr, 4);
        cmd[0] = a->cla & 0x0F ? (uint8_t)(a->cla & 0x0F) : 0x00;
        cmd[4] = (uint8_t)(*sw & 0xFF);
        rc = exchange(card, cmd, sizeof(cmd), &rlen);
        if (rc != UK_OK) {
            break;
        }
        *sw = (uint16_t)((card->rbuf[rlen - 2] << 8) | card->rbuf[rlen - 1]);
        rc = uk_buf_append(resp, card->rbuf, rlen - 2);
    }
out:
    if (a->secret) {
        uk_memzero(card->sbuf, UK_APDU_MAX);
    }
    if (rc == UK_OK) {
        uk_trace("< SW %04X, %zu bytes", *sw, resp->len);
    }
    return rc;
}

unsigned long uk_pcsc_card_apdu_count(const uk_pcsc_card *card)
{
    return card->apdus;
}

const uint8_t *uk_pcsc_card_atr(const uk_pcsc_card *card, size_t *len)
{
    *len = card->atr_len;
    return card->atr;
}

const char *uk_pcsc_card_reader(const uk_pcsc_card *card)
{
    return card->reader;
}
