/* SPDX-License-Identifier: MIT */
/*
 * PC/SC access: a context, its readers, and connections to cards.
 *
 * Only the part of the PC/SC API that WinSCard shares with pcsc-lite is
 * used. A uk_pcsc context and the connections made from it belong to one
 * thread at a time (pcsc-lite contexts are not for concurrent use); every
 * call here blocks on pcscd and the card. The context survives a restart of
 * the PC/SC service: calls that find it gone establish a new one.
 *
 * PC/SC return values become uk_rc in uk_pcsc_rc and nowhere else.
 */
#ifndef UK_PCSC_H
#define UK_PCSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/apdu.h"
#include "uk/buf.h"
#include "uk/rc.h"

#define UK_PCSC_ATR_MAX 33

typedef struct uk_pcsc uk_pcsc;
typedef struct uk_pcsc_card uk_pcsc_card;

/* Maps a PC/SC return value (LONG) to a result code: no service →
 * UK_E_PCSC_UNAVAILABLE, no readers → UK_E_NO_READER, no card →
 * UK_E_NO_CARD, removed → UK_E_CARD_REMOVED, sharing violation →
 * UK_E_CARD_BUSY, cancelled → UK_E_CANCELLED, timeout → UK_E_TIMEOUT. */
uk_rc uk_pcsc_rc(long rv);

/* Establishes a context. UK_E_PCSC_UNAVAILABLE when the service is not
 * running. Caller closes with uk_pcsc_close (accepts NULL). */
uk_rc uk_pcsc_open(uk_pcsc **out);
void uk_pcsc_close(uk_pcsc *ctx);

/* Lists the readers' names. *names is a NULL-terminated array the caller
 * frees with uk_pcsc_readers_free; an empty list is UK_OK with *count 0. */
uk_rc uk_pcsc_readers(uk_pcsc *ctx, char ***names, size_t *count);
void uk_pcsc_readers_free(char **names);

/* Connects (shared, T=1 or T=0) to the card in a reader. The connection
 * borrows ctx, which must outlive it. UK_E_NO_CARD, UK_E_NO_READER. */
uk_rc uk_pcsc_card_connect(uk_pcsc *ctx, const char *reader, uk_pcsc_card **out);
void uk_pcsc_card_close(uk_pcsc_card *card);

/* Begins a transaction (exclusive use for a sequence of commands). If the
 * card was reset by another program, or the service restarted, the
 * connection is re-made first and *was_reset is set: the caller must
 * select its application again and forget PIN state. UK_E_CARD_REMOVED
 * when the card is gone. Every successful begin is paired with an end. */
uk_rc uk_pcsc_card_begin(uk_pcsc_card *card, bool *was_reset);
void uk_pcsc_card_end(uk_pcsc_card *card);

/* Sends a command and collects the whole response: data longer than 255
 * bytes goes out chained (CLA bit 0x10), 61xx is followed with GET
 * RESPONSE and 6Cxx with the command again with the right Le. The data
 * goes to resp (at most its maximum, else UK_E_LIMIT), the final status
 * word to *sw. Returns UK_OK whenever a status word came back — the caller
 * maps it with uk_sw_rc — and an error only when none did. */
uk_rc uk_pcsc_card_transmit(uk_pcsc_card *card, const uk_apdu *a, uk_buf *resp, uint16_t *sw);

/* APDUs exchanged on this connection since it was made (for tests and
 * benchmarks: a warm read must not touch the card). */
unsigned long uk_pcsc_card_apdu_count(const uk_pcsc_card *card);

/* The card's ATR as seen at connect (borrowed, valid until close). */
const uint8_t *uk_pcsc_card_atr(const uk_pcsc_card *card, size_t *len);

/* The reader's name (borrowed, valid until close). */
const char *uk_pcsc_card_reader(const uk_pcsc_card *card);

#endif
