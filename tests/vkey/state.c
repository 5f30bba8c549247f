// SPDX-License-Identifier: MIT
/*
 * State file reading and writing for the virtual key. The format is a
 * version line followed by "keyword fields..." lines; hex through OpenSSL's
 * helpers, keys through i2d/d2i PKCS#8.
 */
#define _POSIX_C_SOURCE 200809L
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "uk/log.h"
#include "uk/mem.h"

#define STATE_MAGIC "ukey-vkey-state 1"

static uk_rc put_hex(FILE *f, const uint8_t *p, size_t len)
{
    if (len == 0) {
        return fputs("-", f) >= 0 ? UK_OK : UK_E_IO;
    }
    for (size_t i = 0; i < len; i++) {
        if (fprintf(f, "%02x", p[i]) < 0) {
            return UK_E_IO;
        }
    }
    return UK_OK;
}

/* Decodes a hex field ("-" is empty) into a new buffer. */
static uk_rc get_hex(const char *s, uint8_t **out, size_t *out_len)
{
    long n = 0;

    *out = NULL;
    *out_len = 0;
    if (strcmp(s, "-") == 0) {
        return UK_OK;
    }
    *out = OPENSSL_hexstr2buf(s, &n);
    if (*out == NULL) {
        return UK_E_MALFORMED;
    }
    *out_len = (size_t)n;
    return UK_OK;
}

static uk_rc write_secret(FILE *f, const char *name, const vk_secret *s)
{
    if (fprintf(f, "%s ", name) < 0 || put_hex(f, s->value, sizeof(s->value)) != UK_OK ||
        fprintf(f, " %u %u\n", s->tries, s->max_tries) < 0) {
        return UK_E_IO;
    }
    return UK_OK;
}

static uk_rc write_state(FILE *f, vk_card *card)
{
    const vk_state *st = vk_card_state(card);
    unsigned char *der = NULL;
    int n;
    uk_rc rc = UK_E_IO;

    if (fprintf(f, "%s\nserial %u\nversion %u.%u.%u\n", STATE_MAGIC, st->serial, st->version[0],
                st->version[1], st->version[2]) < 0) {
        goto out;
    }
    if (write_secret(f, "pin", &st->pin) != UK_OK || write_secret(f, "puk", &st->puk) != UK_OK) {
        goto out;
    }
    if (fprintf(f, "mgmt %02x ", st->mgmt_alg) < 0 ||
        put_hex(f, st->mgmt_key, st->mgmt_key_len) != UK_OK || fputc('\n', f) == EOF) {
        goto out;
    }
    for (unsigned slot = 0; slot < 256; slot++) {
        const vk_key *k = &st->keys[slot];
        if (k->alg == 0) {
            continue;
        }
        n = i2d_PrivateKey(k->pkey, &der);
        if (n <= 0) {
            rc = UK_E_CRYPTO;
            goto out;
        }
        if (fprintf(f, "key %02x %02x %u %u ", slot, k->alg, k->pin_policy, k->touch_policy) < 0 ||
            put_hex(f, der, (size_t)n) != UK_OK || fputc('\n', f) == EOF) {
            goto out;
        }
        OPENSSL_clear_free(der, (size_t)n);
        der = NULL;
    }
    for (size_t i = 0; i < VK_MAX_OBJECTS; i++) {
        const vk_object *o = &st->objects[i];
        if (o->tag == 0) {
            continue;
        }
        if (fprintf(f, "object %06x ", o->tag) < 0 || put_hex(f, o->data, o->len) != UK_OK ||
            fputc('\n', f) == EOF) {
            goto out;
        }
    }
    rc = UK_OK;
out:
    if (der != NULL) {
        OPENSSL_clear_free(der, (size_t)n);
    }
    return rc;
}

uk_rc vk_state_save(vk_card *card, const char *path)
{
    char tmp[4096];
    char dirbuf[4096];
    FILE *f = NULL;
    int fd = -1;
    int dfd = -1;
    uk_rc rc = UK_E_IO;
    int n;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp) || strlen(path) >= sizeof(dirbuf)) {
        return UK_E_INVALID_ARG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        uk_err("cannot create %s: %s", tmp, strerror(errno));
        return UK_E_IO;
    }
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        goto out;
    }
    rc = write_state(f, card);
    if (rc == UK_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0)) {
        rc = UK_E_IO;
    }
    if (fclose(f) != 0 && rc == UK_OK) {
        rc = UK_E_IO;
    }
    if (rc != UK_OK) {
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = UK_E_IO;
        goto out;
    }
    memcpy(dirbuf, path, strlen(path) + 1);
    dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        rc = UK_E_IO;
    }
out:
    if (dfd >= 0) {
        close(dfd);
    }
    if (rc != UK_OK) {
        uk_err("cannot save state to %s: %s", path, uk_rc_name(rc));
        unlink(tmp);
    }
    return rc;
}

static uk_rc parse_secret(const char *args, vk_secret *s)
{
    char hex[17];
    unsigned tries = 0;
    unsigned max = 0;
    uint8_t *v = NULL;
    size_t vlen = 0;
    uk_rc rc;

    if (sscanf(args, "%16s %u %u", hex, &tries, &max) != 3 || max == 0 || max > 15 || tries > max) {
        return UK_E_MALFORMED;
    }
    rc = get_hex(hex, &v, &vlen);
    if (rc == UK_OK && vlen != sizeof(s->value)) {
        rc = UK_E_MALFORMED;
    }
    if (rc == UK_OK) {
        memcpy(s->value, v, vlen);
        s->tries = (uint8_t)tries;
        s->max_tries = (uint8_t)max;
    }
    uk_freezero(v, vlen);
    uk_memzero(hex, sizeof(hex));
    return rc;
}

static uk_rc parse_line(vk_card *card, char *line)
{
    vk_state *st = vk_card_state(card);
    char *rest = strchr(line, ' ');
    const char *kw = line;
    uint8_t *bin = NULL;
    size_t blen = 0;
    unsigned a = 0;
    unsigned b = 0;
    unsigned c = 0;
    unsigned d = 0;
    char hex[8200];
    uk_rc rc = UK_E_MALFORMED;

    if (rest == NULL) {
        return UK_E_MALFORMED;
    }
    *rest++ = '\0';
    if (strlen(rest) >= sizeof(hex)) {
        return UK_E_MALFORMED;
    }
    if (strcmp(kw, "serial") == 0) {
        if (sscanf(rest, "%u", &a) == 1) {
            st->serial = a;
            rc = UK_OK;
        }
    } else if (strcmp(kw, "version") == 0) {
        if (sscanf(rest, "%u.%u.%u", &a, &b, &c) == 3 && a < 256 && b < 256 && c < 256) {
            st->version[0] = (uint8_t)a;
            st->version[1] = (uint8_t)b;
            st->version[2] = (uint8_t)c;
            rc = UK_OK;
        }
    } else if (strcmp(kw, "pin") == 0) {
        rc = parse_secret(rest, &st->pin);
    } else if (strcmp(kw, "puk") == 0) {
        rc = parse_secret(rest, &st->puk);
    } else if (strcmp(kw, "mgmt") == 0) {
        if (sscanf(rest, "%x %8199s", &a, hex) == 2 && get_hex(hex, &bin, &blen) == UK_OK &&
            a < 256 && blen == vk_crypto_key_size((uint8_t)a)) {
            st->mgmt_alg = (uint8_t)a;
            memcpy(st->mgmt_key, bin, blen);
            st->mgmt_key_len = blen;
            rc = UK_OK;
        }
    } else if (strcmp(kw, "key") == 0) {
        if (sscanf(rest, "%x %x %u %u %8199s", &a, &b, &c, &d, hex) == 5 && a < 256 && b < 256 &&
            c <= VK_PIN_POLICY_ALWAYS && d <= 3 && get_hex(hex, &bin, &blen) == UK_OK) {
            const unsigned char *p = bin;
            EVP_PKEY *pkey = d2i_AutoPrivateKey(NULL, &p, (long)blen);
            if (pkey != NULL && vk_card_key_set(card, (uint8_t)a, (uint8_t)b, pkey) == UK_OK) {
                st->keys[a].pin_policy = (uint8_t)c;
                st->keys[a].touch_policy = (uint8_t)d;
                rc = UK_OK;
            }
            EVP_PKEY_free(pkey);
        }
    } else if (strcmp(kw, "object") == 0) {
        if (sscanf(rest, "%x %8199s", &a, hex) == 2 && get_hex(hex, &bin, &blen) == UK_OK &&
            blen > 0) {
            rc = vk_card_object_set(card, a, bin, blen);
        }
    }
    uk_freezero(bin, blen);
    uk_memzero(hex, sizeof(hex));
    return rc;
}

uk_rc vk_state_load(const char *path, vk_card **out)
{
    vk_init init = {
        .serial = 1, .pin = "123456", .puk = "12345678", .pin_tries = 3, .puk_tries = 3};
    vk_card *card = NULL;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    uk_rc rc;

    *out = NULL;
    f = fopen(path, "re");
    if (f == NULL) {
        return errno == ENOENT ? UK_E_NOT_FOUND : UK_E_IO;
    }
    rc = vk_card_new(&init, &card);
    if (rc != UK_OK) {
        goto out;
    }
    /* The file replaces the factory objects. */
    for (size_t i = 0; i < VK_MAX_OBJECTS; i++) {
        vk_state *st = vk_card_state(card);
        if (st->objects[i].tag) {
            vk_card_object_set(card, st->objects[i].tag, NULL, 0);
        }
    }
    rc = UK_E_MALFORMED;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n') {
            line[n - 1] = '\0';
        }
        if (lineno == 1) {
            if (strcmp(line, STATE_MAGIC) != 0) {
                uk_err("%s: not a ukey-vkey state file", path);
                goto out;
            }
            continue;
        }
        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }
        if (parse_line(card, line) != UK_OK) {
            uk_err("%s:%u: bad line", path, lineno);
            goto out;
        }
    }
    if (lineno == 0) {
        uk_err("%s: empty state file", path);
        goto out;
    }
    vk_card_clean(card);
    *out = card;
    card = NULL;
    rc = UK_OK;
out:
    if (line != NULL) {
        uk_freezero(line, cap);
    }
    vk_card_free(card);
    fclose(f);
    return rc;
}
