// SPDX-License-Identifier: MIT
/*
 * ukey-vkey: a virtual PIV USB-KEY for a real PC/SC stack.
 *
 * It dials vsmartcard's vpcd reader driver (loaded by pcscd) and answers
 * its messages: a 2-byte big-endian length, then either a one-byte control
 * code (0 power off, 1 power on, 2 reset, 4 send ATR) or a command APDU,
 * answered with data ‖ SW1 SW2. While connected, pcscd sees a card in the
 * reader; when this program exits, the card is gone. The card's state lives
 * in a file, so restarting with the same file re-inserts the same key.
 *
 * Fault injection for tests: --drop-after N (pulled while the host waits
 * for the answer to APDU N+1), --delay-ms (a slow card), --sw-at N:SW (a
 * given status word instead of the answer to APDU N).
 */
#define _GNU_SOURCE /* ppoll */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "card.h"
#include "crypto.h"
#include "state.h"
#include "uk/buf.h"
#include "uk/log.h"
#include "uk/mem.h"
#include "uk/tlv.h"

#define VK_VERSION "0.1.0"
#define EXIT_DROPPED 3
#define MAX_SW_AT 16
#define MAX_SEEDS 24

struct sw_at {
    unsigned long n;
    unsigned sw;
};

struct options {
    const char *state;
    const char *host;
    const char *port;
    vk_init init;
    char pin[9];
    char puk[9];
    uint8_t mgmt_key[32];
    size_t mgmt_key_len;
    unsigned long drop_after;
    bool drop; /* --drop-after given (0: at the first APDU) */
    unsigned long delay_ms;
    struct sw_at sw_at[MAX_SW_AT];
    size_t n_sw_at;
    const char *seeds[MAX_SEEDS];
    size_t n_seeds;
    bool trace;
    bool init_only;
    bool plain;
    bool arm_on_signal;
};

static volatile sig_atomic_t stop_requested;
/* --arm-on-signal: 1 once SIGUSR1 arrived, 2 once that is logged and the
 * fault counters run */
static volatile sig_atomic_t arm_state;

static void on_signal(int sig)
{
    if (sig == SIGUSR1) {
        if (arm_state == 0) {
            arm_state = 1;
        }
        return;
    }
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: ukey-vkey --state FILE [options]\n"
               "A virtual PIV USB-KEY that dials vsmartcard-vpcd (loaded by pcscd).\n"
               "\n"
               "  --state FILE        card state (keys, objects, counters); created if missing\n"
               "  --host HOST         vpcd host (default 127.0.0.1)\n"
               "  --port PORT         vpcd port: 35963 first slot, 35964 second (default 35963)\n"
               "New cards only (ignored when FILE exists):\n"
               "  --serial N          serial number (default 10000001)\n"
               "  --pin PIN           PIN, 6-8 characters (default 123456)\n"
               "  --puk PUK           PUK, 6-8 characters (default 12345678)\n"
               "  --pin-tries N       PIN tries (default 3); --puk-tries N likewise\n"
               "  --mgmt-alg ALG      3des (default), aes128, aes192, aes256\n"
               "  --mgmt-key HEX      management key (default: the well-known 3DES key)\n"
               "Every start:\n"
               "  --seed SLOT:CERT:KEY  put the PEM private key KEY and the certificate CERT\n"
               "                      (PEM or DER) in SLOT (9a, 9c, 9d, 9e, 82-95)\n"
               "  --drop-after N      answer N APDUs, then vanish (exit 3) when the next arrives\n"
               "  --delay-ms N        wait N ms before each answer\n"
               "  --sw-at N:XXXX      answer APDU number N with status word XXXX (repeatable)\n"
               "  --arm-on-signal     count APDUs for --drop-after and --sw-at from SIGUSR1 on\n"
               "                      (logs \"armed\" when counting starts)\n"
               "  --plain             a plain PIV card: no Yubico commands (serial from CHUID)\n"
               "  --trace             log APDUs to stderr (PIN and key data redacted)\n"
               "  --init              create or update FILE, then exit without dialing\n"
               "  -h, --help          this text; --version  the version\n");
}

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max || s[0] == '-') {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_secret_opt(const char *s, char *out)
{
    size_t n = strlen(s);

    if (n < 6 || n > 8) {
        return false;
    }
    memcpy(out, s, n + 1);
    return true;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    enum {
        O_STATE = 256,
        O_HOST,
        O_PORT,
        O_SERIAL,
        O_PIN,
        O_PUK,
        O_PIN_TRIES,
        O_PUK_TRIES,
        O_MGMT_ALG,
        O_MGMT_KEY,
        O_SEED,
        O_DROP,
        O_DELAY,
        O_SW_AT,
        O_TRACE,
        O_ARM,
        O_INIT,
        O_PLAIN,
        O_VERSION
    };
    static const struct option longopts[] = {
        {"state", required_argument, NULL, O_STATE},
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"serial", required_argument, NULL, O_SERIAL},
        {"pin", required_argument, NULL, O_PIN},
        {"puk", required_argument, NULL, O_PUK},
        {"pin-tries", required_argument, NULL, O_PIN_TRIES},
        {"puk-tries", required_argument, NULL, O_PUK_TRIES},
        {"mgmt-alg", required_argument, NULL, O_MGMT_ALG},
        {"mgmt-key", required_argument, NULL, O_MGMT_KEY},
        {"seed", required_argument, NULL, O_SEED},
        {"drop-after", required_argument, NULL, O_DROP},
        {"delay-ms", required_argument, NULL, O_DELAY},
        {"sw-at", required_argument, NULL, O_SW_AT},
        {"trace", no_argument, NULL, O_TRACE},
        {"arm-on-signal", no_argument, NULL, O_ARM},
        {"init", no_argument, NULL, O_INIT},
        {"plain", no_argument, NULL, O_PLAIN},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    unsigned long v;
    int c;

    memcpy(o->pin, "123456", 7);
    memcpy(o->puk, "12345678", 9);
    o->host = "127.0.0.1";
    o->port = "35963";
    o->init.serial = 10000001;
    o->init.pin_tries = 3;
    o->init.puk_tries = 3;
    o->init.mgmt_alg = VK_ALG_3DES;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_STATE:
            o->state = optarg;
            break;
        case O_HOST:
            o->host = optarg;
            break;
        case O_PORT:
            if (!parse_ulong(optarg, 65535, &v) || v == 0) {
                goto bad;
            }
            o->port = optarg;
            break;
        case O_SERIAL:
            if (!parse_ulong(optarg, UINT32_MAX, &v)) {
                goto bad;
            }
            o->init.serial = (uint32_t)v;
            break;
        case O_PIN:
            if (!parse_secret_opt(optarg, o->pin)) {
                goto bad;
            }
            break;
        case O_PUK:
            if (!parse_secret_opt(optarg, o->puk)) {
                goto bad;
            }
            break;
        case O_PIN_TRIES:
        case O_PUK_TRIES:
            if (!parse_ulong(optarg, 15, &v) || v == 0) {
                goto bad;
            }
            if (c == O_PIN_TRIES) {
                o->init.pin_tries = (uint8_t)v;
            } else {
                o->init.puk_tries = (uint8_t)v;
            }
            break;
        case O_MGMT_ALG:
            if (strcmp(optarg, "3des") == 0) {
                o->init.mgmt_alg = VK_ALG_3DES;
            } else if (strcmp(optarg, "aes128") == 0) {
                o->init.mgmt_alg = VK_ALG_AES128;
            } else if (strcmp(optarg, "aes192") == 0) {
                o->init.mgmt_alg = VK_ALG_AES192;
            } else if (strcmp(optarg, "aes256") == 0) {
                o->init.mgmt_alg = VK_ALG_AES256;
            } else {
                goto bad;
            }
            break;
        case O_MGMT_KEY: {
            long n = 0;
            unsigned char *k = OPENSSL_hexstr2buf(optarg, &n);
            if (k == NULL || n <= 0 || (size_t)n > sizeof(o->mgmt_key)) {
                OPENSSL_free(k);
                goto bad;
            }
            memcpy(o->mgmt_key, k, (size_t)n);
            o->mgmt_key_len = (size_t)n;
            OPENSSL_clear_free(k, (size_t)n);
            break;
        }
        case O_SEED:
            if (o->n_seeds == MAX_SEEDS) {
                goto bad;
            }
            o->seeds[o->n_seeds++] = optarg;
            break;
        case O_DROP:
            if (!parse_ulong(optarg, ULONG_MAX, &o->drop_after)) {
                goto bad;
            }
            o->drop = true;
            break;
        case O_DELAY:
            if (!parse_ulong(optarg, 600000, &o->delay_ms)) {
                goto bad;
            }
            break;
        case O_SW_AT: {
            char *colon = strchr(optarg, ':');
            char *end = NULL;
            unsigned long sw;
            if (colon == NULL || o->n_sw_at == MAX_SW_AT) {
                goto bad;
            }
            *colon = '\0';
            sw = strtoul(colon + 1, &end, 16);
            if (!parse_ulong(optarg, ULONG_MAX, &v) || v == 0 || *end != '\0' || end != colon + 5 ||
                sw > 0xFFFF) {
                *colon = ':';
                goto bad;
            }
            *colon = ':';
            o->sw_at[o->n_sw_at].n = v;
            o->sw_at[o->n_sw_at].sw = (unsigned)sw;
            o->n_sw_at++;
            break;
        }
        case O_ARM:
            o->arm_on_signal = true;
            break;
        case O_TRACE:
            o->trace = true;
            break;
        case O_INIT:
            o->init_only = true;
            break;
        case O_PLAIN:
            o->plain = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case O_VERSION:
            printf("ukey-vkey %s\n", VK_VERSION);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc || o->state == NULL) {
        fprintf(stderr, "ukey-vkey: --state FILE is required\n");
        usage(stderr);
        return -1;
    }
    o->init.pin = o->pin;
    o->init.puk = o->puk;
    if (o->mgmt_key_len > 0) {
        o->init.mgmt_key = o->mgmt_key;
        o->init.mgmt_key_len = o->mgmt_key_len;
        if (o->mgmt_key_len != vk_crypto_key_size(o->init.mgmt_alg)) {
            fprintf(stderr, "ukey-vkey: --mgmt-key has the wrong length for --mgmt-alg\n");
            return -1;
        }
    }
    return 0;
bad:
    fprintf(stderr, "ukey-vkey: bad value for option '%s': %s\n", argv[optind - 1], optarg);
    return -1;
}

static uint8_t parse_slot(const char *s)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 16);

    if (end == s || *end != '\0' || v > 0xFF || !vk_slot_valid((uint8_t)v)) {
        return 0;
    }
    return (uint8_t)v;
}

static X509 *load_cert(const char *path)
{
    X509 *x = NULL;
    BIO *bio = BIO_new_file(path, "rb");

    if (bio == NULL) {
        return NULL;
    }
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (x == NULL) {
        (void)BIO_reset(bio);
        x = d2i_X509_bio(bio, NULL);
    }
    BIO_free(bio);
    return x;
}

/* Seeds a slot with a key and its certificate: --seed SLOT:CERT:KEY. */
static uk_rc seed(vk_card *card, const char *spec)
{
    char buf[4096];
    char *cert_path;
    char *key_path;
    X509 *x = NULL;
    EVP_PKEY *pkey = NULL;
    BIO *bio = NULL;
    unsigned char *der = NULL;
    int der_len;
    uint8_t slot;
    uint8_t alg;
    uk_buf obj;
    uk_rc rc = UK_E_INVALID_ARG;

    uk_buf_init(&obj, VK_MAX_OBJECT_LEN, false);
    if (strlen(spec) >= sizeof(buf)) {
        goto out;
    }
    memcpy(buf, spec, strlen(spec) + 1);
    cert_path = strchr(buf, ':');
    key_path = cert_path ? strchr(cert_path + 1, ':') : NULL;
    if (key_path == NULL) {
        uk_err("--seed wants SLOT:CERT:KEY, got '%s'", spec);
        goto out;
    }
    *cert_path++ = '\0';
    *key_path++ = '\0';
    slot = parse_slot(buf);
    if (slot == 0) {
        uk_err("--seed: '%s' is not a key slot", buf);
        goto out;
    }
    x = load_cert(cert_path);
    bio = BIO_new_file(key_path, "rb");
    pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    if (x == NULL || pkey == NULL) {
        uk_err("--seed: cannot read %s", x == NULL ? cert_path : key_path);
        goto out;
    }
    alg = vk_crypto_key_alg(pkey);
    if (alg == 0 || X509_check_private_key(x, pkey) != 1) {
        uk_err("--seed: the key is not RSA-1024/2048 or P-256/384, or does not match the "
               "certificate");
        goto out;
    }
    der_len = i2d_X509(x, &der);
    if (der_len <= 0) {
        rc = UK_E_CRYPTO;
        goto out;
    }
    /* certificate object: 70 cert, 71 CertInfo (not compressed), FE LRC */
    rc = uk_tlv_put(&obj, 0x70, der, (size_t)der_len);
    if (rc == UK_OK) {
        rc = uk_tlv_put_u8(&obj, 0x71, 0x00);
    }
    if (rc == UK_OK) {
        rc = uk_tlv_put(&obj, 0xFE, NULL, 0);
    }
    if (rc == UK_OK) {
        rc = vk_card_key_set(card, slot, alg, pkey);
    }
    if (rc == UK_OK) {
        rc = vk_card_object_set(card, vk_slot_object(slot), obj.data, obj.len);
    }
    if (rc != UK_OK) {
        uk_err("--seed: cannot store slot %02x: %s", slot, uk_rc_name(rc));
    }
out:
    OPENSSL_free(der);
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(pkey);
    uk_buf_free(&obj);
    return rc;
}

/* SIGTERM and SIGINT stay blocked except inside ppoll(), which unblocks
 * them atomically: a stop that arrives while an APDU is being answered is
 * seen at the next wait instead of being lost before a blocking read. */
static sigset_t wait_mask;

/* Waits until fd is readable (fd < 0: just the timeout), up to ms (-1:
 * forever). false when a stop was requested. */
static bool wait_for(int fd, long ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (!stop_requested) {
        int n = ppoll(fd >= 0 ? &p : NULL, fd >= 0 ? 1 : 0, ms < 0 ? NULL : &ts, &wait_mask);
        if (arm_state == 1) {
            arm_state = 2;
            uk_info("armed: APDUs count from now");
        }
        if (n >= 0 || errno != EINTR) {
            return !stop_requested;
        }
    }
    return false;
}

static void sleep_ms(unsigned long ms)
{
    wait_for(-1, (long)ms);
}

static int dial(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int fd = -1;

    if (getaddrinfo(host, port, &hints, &res) != 0) {
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Reads exactly len bytes; false on EOF, error or a stop request. */
static bool read_full(int fd, uint8_t *p, size_t len)
{
#ifdef TCP_QUICKACK
    /* vpcd sends a message's length and body in two writes; acknowledge at
     * once so its Nagle timer does not hold the body back (~40 ms each). */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#endif
    while (len > 0) {
        ssize_t n;
        if (!wait_for(fd, -1)) {
            return false;
        }
        n = read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* One message: the length and the payload in a single send, so Nagle's
 * algorithm never holds a reply back waiting for an ACK. */
static bool send_msg(int fd, const uint8_t *p, size_t len)
{
    static uint8_t buf[2 + 65535];
    size_t off = 0;

    if (len > 65535) {
        return false;
    }
    buf[0] = (uint8_t)(len >> 8);
    buf[1] = (uint8_t)len;
    memcpy(buf + 2, p, len);
    len += 2;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        off += (size_t)n;
    }
    uk_memzero(buf, len);
    return true;
}

/* The data field of commands that carry PINs or keys is not traced. */
static bool apdu_secret(const uint8_t *apdu, size_t len)
{
    if (len < 2) {
        return false;
    }
    switch (apdu[1]) {
    case 0x20:
    case 0x24:
    case 0x2C:
    case 0xFE:
    case 0xFF:
        return true;
    default:
        return false;
    }
}

static void trace_bytes(const char *dir, const uint8_t *p, size_t len, size_t shown)
{
    char line[3 * 64 + 32];
    size_t off = 0;
    size_t n = shown < 64 ? shown : 64;

    for (size_t i = 0; i < n; i++) {
        off += (size_t)snprintf(line + off, sizeof(line) - off, "%02X ", p[i]);
    }
    if (shown < len) {
        snprintf(line + off, sizeof(line) - off, "[%zu bytes redacted]", len - shown);
    } else if (n < len) {
        snprintf(line + off, sizeof(line) - off, "... (%zu bytes)", len);
    }
    uk_info("%s %s", dir, line);
}

enum serve_end { SERVE_DISCONNECTED, SERVE_STOP, SERVE_DROPPED, SERVE_ERROR };

static enum serve_end serve(int fd, vk_card *card, const struct options *o,
                            unsigned long *apdu_count)
{
    static uint8_t msg[65536];
    static uint8_t resp[VK_MAX_RESPONSE + 2];
    uint8_t hdr[2];
    size_t len;
    size_t resp_len;
    enum serve_end end = SERVE_DISCONNECTED;

    for (;;) {
        if (!read_full(fd, hdr, 2)) {
            break;
        }
        len = (size_t)((hdr[0] << 8) | hdr[1]);
        if (!read_full(fd, msg, len)) {
            break;
        }
        if (len == 1) {
            /* control message */
            if (msg[0] == 4) {
                if (!send_msg(fd, vk_atr, vk_atr_len)) {
                    break;
                }
            } else if (msg[0] <= 2) {
                vk_card_reset(card);
            }
            continue;
        }
        if (!o->arm_on_signal || arm_state == 2) {
            ++*apdu_count;
        }
        if (o->drop && *apdu_count > o->drop_after && (!o->arm_on_signal || arm_state == 2)) {
            uk_info("dropping off the reader at APDU %lu", *apdu_count);
            end = SERVE_DROPPED;
            break;
        }
        if (o->trace) {
            trace_bytes(">>", msg, len, apdu_secret(msg, len) ? (len < 5 ? len : 5) : len);
        }
        resp_len = 0;
        for (size_t i = 0; i < o->n_sw_at; i++) {
            if (o->sw_at[i].n == *apdu_count) {
                resp[0] = (uint8_t)(o->sw_at[i].sw >> 8);
                resp[1] = (uint8_t)o->sw_at[i].sw;
                resp_len = 2;
            }
        }
        if (resp_len == 0) {
            vk_card_apdu(card, msg, len, resp, &resp_len);
        }
        uk_memzero(msg, len);
        if (vk_card_dirty(card)) {
            if (vk_state_save(card, o->state) != UK_OK) {
                end = SERVE_ERROR;
                break;
            }
            vk_card_clean(card);
        }
        if (o->delay_ms > 0) {
            sleep_ms(o->delay_ms);
        }
        if (o->trace) {
            trace_bytes("<<", resp, resp_len, resp_len);
        }
        if (!send_msg(fd, resp, resp_len)) {
            break;
        }
        uk_memzero(resp, resp_len);
    }
    if (stop_requested) {
        end = SERVE_STOP;
    }
    return end;
}

int main(int argc, char **argv)
{
    struct options o;
    struct sigaction sa;
    vk_card *card = NULL;
    unsigned long apdu_count = 0;
    unsigned long backoff = 20;
    bool announced = false;
    int status = 1;
    uk_rc rc;

    memset(&o, 0, sizeof(o));
    uk_log_set_ident("ukey-vkey");
    if (parse_options(argc, argv, &o) != 0) {
        return 2;
    }
    rc = vk_state_load(o.state, &card);
    if (rc == UK_E_NOT_FOUND) {
        rc = vk_card_new(&o.init, &card);
        if (rc == UK_OK) {
            uk_info("new card, serial %u, state in %s", o.init.serial, o.state);
            rc = vk_state_save(card, o.state);
        }
    }
    if (rc != UK_OK) {
        uk_err("cannot load %s: %s", o.state, uk_rc_name(rc));
        goto out;
    }
    for (size_t i = 0; i < o.n_seeds; i++) {
        if (seed(card, o.seeds[i]) != UK_OK) {
            goto out;
        }
    }
    if (vk_card_dirty(card)) {
        if (vk_state_save(card, o.state) != UK_OK) {
            goto out;
        }
        vk_card_clean(card);
    }
    vk_card_set_plain(card, o.plain);
    if (o.init_only) {
        status = 0;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    {
        sigset_t stop_set;
        sigemptyset(&stop_set);
        sigaddset(&stop_set, SIGTERM);
        sigaddset(&stop_set, SIGINT);
        sigaddset(&stop_set, SIGUSR1);
        sigprocmask(SIG_BLOCK, &stop_set, &wait_mask); /* wait_mask: the mask to wait with */
        sigdelset(&wait_mask, SIGTERM);
        sigdelset(&wait_mask, SIGINT);
        sigdelset(&wait_mask, SIGUSR1);
    }

    while (!stop_requested) {
        enum serve_end end;
        int fd = dial(o.host, o.port);

        if (fd < 0) {
            if (!announced) {
                uk_info("waiting for vpcd on %s:%s", o.host, o.port);
                announced = true;
            }
            /* vpcd is not listening yet (pcscd starting or restarting) */
            sleep_ms(backoff);
            backoff = backoff < 500 ? backoff * 2 : 500;
            continue;
        }
        uk_info("inserted into vpcd %s:%s (serial %u)", o.host, o.port,
                vk_card_state(card)->serial);
        backoff = 20;
        announced = false;
        vk_card_reset(card);
        end = serve(fd, card, &o, &apdu_count);
        close(fd);
        vk_card_reset(card);
        if (end == SERVE_DROPPED) {
            status = EXIT_DROPPED;
            goto out;
        }
        if (end == SERVE_ERROR) {
            goto out;
        }
        if (end == SERVE_DISCONNECTED && !stop_requested) {
            uk_info("vpcd closed the connection; dialing again");
        }
    }
    uk_info("removed (stopped)");
    status = 0;
out:
    vk_card_free(card);
    uk_memzero(&o, sizeof(o));
    return status;
}
