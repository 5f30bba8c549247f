// SPDX-License-Identifier: MIT
/*
 * token-shell: drives the token layer from a script, one command per line
 * on stdin, one result line per command on stdout ("<cmd> rc=<REASON>
 * key=value..."). Integration tests run it against the virtual key in the
 * rig and check its answers with third-party tools (openssl,
 * yubico-piv-tool, pkcs15-tool); it also prints APDU counts and wall
 * times for the figures in the closing notes.
 *
 * Usage: token-shell READER   (commands: see usage())
 */
#define _POSIX_C_SOURCE 200809L
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uk/cert.h"
#include "uk/log.h"
#include "uk/pcsc.h"
#include "uk/token.h"

struct shell {
    const char *reader;
    uk_pcsc *pcsc;
    uk_token *tok;
    EVP_PKEY *pub[256]; /* public keys from generate, by slot */
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int parse_slot(const char *s)
{
    char *end = NULL;
    long v = s ? strtol(s, &end, 16) : -1;

    return end != NULL && *end == '\0' && v > 0 && v < 256 ? (int)v : -1;
}

static bool need_token(struct shell *sh, const char *cmd)
{
    if (sh->tok == NULL) {
        printf("%s rc=NO_TOKEN\n", cmd);
        return false;
    }
    return true;
}

static void cmd_open(struct shell *sh)
{
    const uk_token_info *info;
    uk_rc rc;

    uk_token_close(sh->tok);
    sh->tok = NULL;
    if (sh->pcsc == NULL) {
        rc = uk_pcsc_open(&sh->pcsc);
        if (rc != UK_OK) {
            printf("open rc=%s\n", uk_rc_name(rc));
            return;
        }
    }
    rc = uk_token_open(sh->pcsc, sh->reader, &sh->tok);
    if (rc != UK_OK) {
        printf("open rc=%s\n", uk_rc_name(rc));
        return;
    }
    info = uk_token_info_get(sh->tok);
    printf("open rc=OK id=%s serial=%s firmware=%s manufacturer=%s apdus=%lu\n", info->id,
           info->serial, info->firmware[0] ? info->firmware : "-", info->manufacturer,
           uk_token_apdu_count(sh->tok));
}

static void cmd_certs(struct shell *sh)
{
    const uk_token_cert *list = NULL;
    size_t n = 0;
    unsigned long before;
    double t0;
    uk_rc rc;

    if (!need_token(sh, "certs")) {
        return;
    }
    before = uk_token_apdu_count(sh->tok);
    t0 = now_ms();
    rc = uk_token_certs(sh->tok, &list, &n);
    printf("certs rc=%s n=%zu apdus=%lu ms=%.2f", uk_rc_name(rc), n,
           uk_token_apdu_count(sh->tok) - before, now_ms() - t0);
    for (size_t i = 0; i < n; i++) {
        uk_cert_info ci;
        if (uk_cert_parse(list[i].der, list[i].der_len, &ci) == UK_OK) {
            printf(" %02x:%s:%s", list[i].key.id[0], list[i].id, ci.common_name);
        }
    }
    printf("\n");
}

static void cmd_pin_status(struct shell *sh)
{
    int tries = -1;
    bool verified = false;
    unsigned long before;
    uk_rc rc;

    if (!need_token(sh, "pin-status")) {
        return;
    }
    before = uk_token_apdu_count(sh->tok);
    rc = uk_token_pin_status(sh->tok, &tries, &verified);
    printf("pin-status rc=%s tries=%d verified=%d apdus=%lu\n", uk_rc_name(rc), tries, verified,
           uk_token_apdu_count(sh->tok) - before);
}

static void cmd_secret(struct shell *sh, const char *cmd, char *a1, char *a2)
{
    int tries = -1;
    uk_rc rc;

    if (!need_token(sh, cmd)) {
        return;
    }
    if (strcmp(cmd, "verify") == 0) {
        rc = uk_token_pin_verify(sh->tok, a1 ? a1 : "", &tries);
    } else if (strcmp(cmd, "change") == 0) {
        rc = uk_token_pin_change(sh->tok, a1 ? a1 : "", a2 ? a2 : "", &tries);
    } else {
        rc = uk_token_pin_unblock(sh->tok, a1 ? a1 : "", a2 ? a2 : "", &tries);
    }
    printf("%s rc=%s tries=%d\n", cmd, uk_rc_name(rc), tries);
}

static void cmd_admin(struct shell *sh, const char *hexkey, const char *alg)
{
    uk_admin_key k;
    long n = 0;
    unsigned char *bin;
    uk_rc rc;

    if (!need_token(sh, "admin")) {
        return;
    }
    if (hexkey == NULL) {
        rc = uk_token_admin_auth(sh->tok, NULL);
        printf("admin rc=%s\n", uk_rc_name(rc));
        return;
    }
    memset(&k, 0, sizeof(k));
    bin = OPENSSL_hexstr2buf(hexkey, &n);
    if (bin == NULL || n <= 0 || (size_t)n > sizeof(k.key)) {
        printf("admin rc=INVALID_ARGUMENT\n");
        OPENSSL_free(bin);
        return;
    }
    memcpy(k.key, bin, (size_t)n);
    k.len = (size_t)n;
    k.alg = (uint8_t)strtoul(alg ? alg : "3", NULL, 16);
    OPENSSL_clear_free(bin, (size_t)n);
    rc = uk_token_admin_auth(sh->tok, &k);
    printf("admin rc=%s\n", uk_rc_name(rc));
}

static void cmd_generate(struct shell *sh, const char *slot_s, const char *type_s, const char *out)
{
    int slot = parse_slot(slot_s);
    uk_key_type type = uk_key_type_parse(type_s);
    uk_key_ref ref;
    EVP_PKEY *pub = NULL;
    unsigned long before;
    double t0;
    double ms;
    FILE *f;
    uk_rc rc;

    if (!need_token(sh, "generate")) {
        return;
    }
    if (slot < 0 || type == UK_KEY_NONE || out == NULL) {
        printf("generate rc=INVALID_ARGUMENT\n");
        return;
    }
    ref = uk_key_ref_slot((uint8_t)slot);
    before = uk_token_apdu_count(sh->tok);
    t0 = now_ms();
    rc = uk_token_key_generate(sh->tok, &ref, type, &pub);
    ms = now_ms() - t0;
    if (rc == UK_OK) {
        EVP_PKEY_free(sh->pub[slot]);
        sh->pub[slot] = pub;
        f = fopen(out, "w");
        if (f != NULL) {
            PEM_write_PUBKEY(f, pub);
            fclose(f);
        }
    }
    printf("generate rc=%s apdus=%lu ms=%.1f\n", uk_rc_name(rc),
           uk_token_apdu_count(sh->tok) - before, ms);
}

/* Writes a command's output file. It is complete before the command's
 * answer line goes out (stdout is line-buffered): the test reads the file
 * as soon as it has the answer. */
static void write_out(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (f != NULL) {
        fwrite(p, 1, len, f);
        fclose(f);
    }
}

struct sign_ctx {
    uk_token *tok;
    uk_key_ref ref;
    uk_key_type type;
};

static uk_rc token_sign(void *ctx, int md_nid, const uint8_t *digest, size_t len, uint8_t *sig,
                        size_t *sig_len)
{
    struct sign_ctx *s = ctx;

    return uk_token_sign(s->tok, &s->ref, s->type, md_nid, digest, len, sig, sig_len);
}

/* csr SLOT SUBJECT_SLOT OUT: a CSR for the key generated in SLOT with the
 * subject of the certificate in SUBJECT_SLOT. */
static void cmd_csr(struct shell *sh, const char *slot_s, const char *subj_s, const char *out)
{
    int slot = parse_slot(slot_s);
    int subj_slot = parse_slot(subj_s);
    const uk_token_cert *list = NULL;
    size_t n = 0;
    X509 *subject_cert = NULL;
    struct sign_ctx sc;
    uint8_t *der = NULL;
    size_t der_len = 0;
    unsigned long before;
    double t0;
    double ms;
    uk_rc rc;

    if (!need_token(sh, "csr")) {
        return;
    }
    if (slot < 0 || subj_slot < 0 || out == NULL || sh->pub[slot] == NULL) {
        printf("csr rc=INVALID_ARGUMENT\n");
        return;
    }
    rc = uk_token_certs(sh->tok, &list, &n);
    for (size_t i = 0; rc == UK_OK && i < n; i++) {
        if (list[i].key.id[0] == subj_slot) {
            const unsigned char *p = list[i].der;
            subject_cert = d2i_X509(NULL, &p, (long)list[i].der_len);
        }
    }
    if (subject_cert == NULL) {
        printf("csr rc=%s no-subject-cert\n", uk_rc_name(rc == UK_OK ? UK_E_NOT_FOUND : rc));
        return;
    }
    sc.tok = sh->tok;
    sc.ref = uk_key_ref_slot((uint8_t)slot);
    sc.type = uk_key_type_of(sh->pub[slot]);
    before = uk_token_apdu_count(sh->tok);
    t0 = now_ms();
    rc = uk_csr_build(sh->pub[slot], X509_get_subject_name(subject_cert), NULL, token_sign, &sc,
                      &der, &der_len);
    ms = now_ms() - t0;
    if (rc == UK_OK) {
        write_out(out, der, der_len);
    }
    printf("csr rc=%s apdus=%lu ms=%.1f\n", uk_rc_name(rc), uk_token_apdu_count(sh->tok) - before,
           ms);
    OPENSSL_free(der);
    X509_free(subject_cert);
}

/* selfsign SLOT OUT.der: a self-signed certificate for the key generated
 * in SLOT, signed on the card (the renewal's placeholder). */
static void cmd_selfsign(struct shell *sh, const char *slot_s, const char *out)
{
    int slot = parse_slot(slot_s);
    X509_NAME *subj = NULL;
    struct sign_ctx sc;
    uint8_t *der = NULL;
    size_t der_len = 0;
    int64_t now = (int64_t)time(NULL);
    unsigned long before;
    uk_rc rc;

    if (!need_token(sh, "selfsign")) {
        return;
    }
    if (slot < 0 || out == NULL || sh->pub[slot] == NULL) {
        printf("selfsign rc=INVALID_ARGUMENT\n");
        return;
    }
    subj = X509_NAME_new();
    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)"ukeyd staged key",
                               -1, -1, 0);
    sc.tok = sh->tok;
    sc.ref = uk_key_ref_slot((uint8_t)slot);
    sc.type = uk_key_type_of(sh->pub[slot]);
    before = uk_token_apdu_count(sh->tok);
    rc = uk_cert_build_self_signed(sh->pub[slot], subj, now, now + 86400, token_sign, &sc, &der,
                                   &der_len);
    if (rc == UK_OK) {
        write_out(out, der, der_len);
    }
    printf("selfsign rc=%s apdus=%lu\n", uk_rc_name(rc), uk_token_apdu_count(sh->tok) - before);
    OPENSSL_free(der);
    X509_NAME_free(subj);
}

/* sign SLOT: SHA-256 of "ukeyd" signed by the key in SLOT, checked with the
 * public key of the slot's certificate (or of the key generated there). */
static void cmd_sign(struct shell *sh, const char *slot_s)
{
    static const char msg[] = "ukeyd";
    int slot = parse_slot(slot_s);
    const uk_token_cert *list = NULL;
    size_t n = 0;
    EVP_PKEY *pub = NULL;
    X509 *x = NULL;
    uint8_t md[32];
    uint8_t sig[512];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *vctx = NULL;
    uk_key_ref ref;
    int ok = 0;
    uk_rc rc;

    if (!need_token(sh, "sign")) {
        return;
    }
    if (slot < 0) {
        printf("sign rc=INVALID_ARGUMENT\n");
        return;
    }
    pub = sh->pub[slot];
    rc = uk_token_certs(sh->tok, &list, &n);
    for (size_t i = 0; pub == NULL && rc == UK_OK && i < n; i++) {
        if (list[i].key.id[0] == slot) {
            const unsigned char *p = list[i].der;
            x = d2i_X509(NULL, &p, (long)list[i].der_len);
            pub = x ? X509_get0_pubkey(x) : NULL;
        }
    }
    if (pub == NULL) {
        printf("sign rc=NOT_FOUND\n");
        return;
    }
    EVP_Digest(msg, sizeof(msg) - 1, md, NULL, EVP_sha256(), NULL);
    ref = uk_key_ref_slot((uint8_t)slot);
    rc = uk_token_sign(sh->tok, &ref, uk_key_type_of(pub), NID_sha256, md, sizeof(md), sig,
                       &sig_len);
    if (rc == UK_OK) {
        vctx = EVP_MD_CTX_new();
        ok = vctx != NULL && EVP_DigestVerifyInit(vctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
             EVP_DigestVerify(vctx, sig, sig_len, (const unsigned char *)msg, sizeof(msg) - 1) == 1;
        EVP_MD_CTX_free(vctx);
    }
    printf("sign rc=%s verified=%d\n", uk_rc_name(rc), ok);
    X509_free(x);
}

static void cmd_write(struct shell *sh, const char *slot_s, const char *path)
{
    int slot = parse_slot(slot_s);
    X509 *x = NULL;
    unsigned char *der = NULL;
    int len;
    FILE *f;
    uk_key_ref ref;
    uk_rc rc;

    if (!need_token(sh, "write")) {
        return;
    }
    f = path ? fopen(path, "rb") : NULL;
    if (f != NULL) {
        x = PEM_read_X509(f, NULL, NULL, NULL);
        if (x == NULL) {
            rewind(f);
            x = d2i_X509_fp(f, NULL);
        }
        fclose(f);
    }
    if (slot < 0 || x == NULL) {
        printf("write rc=INVALID_ARGUMENT\n");
        X509_free(x);
        return;
    }
    len = i2d_X509(x, &der);
    ref = uk_key_ref_slot((uint8_t)slot);
    rc = uk_token_cert_write(sh->tok, &ref, der, (size_t)len);
    printf("write rc=%s\n", uk_rc_name(rc));
    OPENSSL_free(der);
    X509_free(x);
}

static void cmd_read(struct shell *sh, const char *slot_s, const char *path)
{
    int slot = parse_slot(slot_s);
    uk_key_ref ref;
    uk_buf der;
    uk_rc rc;

    if (!need_token(sh, "read")) {
        return;
    }
    if (slot < 0 || path == NULL) {
        printf("read rc=INVALID_ARGUMENT\n");
        return;
    }
    uk_buf_init(&der, 16384, false);
    ref = uk_key_ref_slot((uint8_t)slot);
    rc = uk_token_cert_read(sh->tok, &ref, &der);
    if (rc == UK_OK) {
        write_out(path, der.data, der.len);
    }
    printf("read rc=%s len=%zu\n", uk_rc_name(rc), der.len);
    uk_buf_free(&der);
}

static void cmd_delete(struct shell *sh, const char *slot_s)
{
    int slot = parse_slot(slot_s);
    uk_key_ref ref;

    if (!need_token(sh, "delete")) {
        return;
    }
    if (slot < 0) {
        printf("delete rc=INVALID_ARGUMENT\n");
        return;
    }
    ref = uk_key_ref_slot((uint8_t)slot);
    printf("delete rc=%s\n", uk_rc_name(uk_token_cert_delete(sh->tok, &ref)));
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: token-shell READER < commands\n"
        "commands: open | certs | pin-status | verify PIN | change OLD NEW |\n"
        "  unblock PUK NEW | admin [HEXKEY ALG] | generate SLOT TYPE PUB.pem |\n"
        "  csr SLOT SUBJECT_SLOT OUT.der | selfsign SLOT OUT.der | sign SLOT | write SLOT CERT |\n"
        "  read SLOT OUT.der | delete SLOT | audit PIN | quit\n");
}

/* Every certificate object against the key in its slot: a fresh signature
 * by the slot's key (the PIN verified right before each, for PIN-always
 * keys) must verify with the certificate's public key. The invariant of
 * DESIGN.md section 5 after any interruption. */
static void cmd_audit(struct shell *sh, const char *pin)
{
    const uk_token_cert *list = NULL;
    size_t n = 0;
    char slots[256] = "";
    size_t used = 0;
    uk_rc rc;

    if (!need_token(sh, "audit")) {
        return;
    }
    rc = uk_token_certs(sh->tok, &list, &n);
    for (size_t i = 0; rc == UK_OK && i < n; i++) {
        const unsigned char *p = list[i].der;
        X509 *x = d2i_X509(NULL, &p, (long)list[i].der_len);
        EVP_PKEY *pub = x != NULL ? X509_get0_pubkey(x) : NULL;
        uint8_t msg[32];
        uint8_t md[32];
        uint8_t sig[512];
        size_t sig_len = sizeof(sig);
        EVP_MD_CTX *v = NULL;
        int tries = -1;
        int ok = 0;

        if (pub == NULL) {
            X509_free(x);
            printf("audit rc=MALFORMED_DATA slot=%02x\n", list[i].key.id[0]);
            return;
        }
        RAND_bytes(msg, sizeof(msg));
        EVP_Digest(msg, sizeof(msg), md, NULL, EVP_sha256(), NULL);
        rc = uk_token_pin_verify(sh->tok, pin ? pin : "", &tries);
        if (rc == UK_OK) {
            rc = uk_token_sign(sh->tok, &list[i].key, uk_key_type_of(pub), NID_sha256, md,
                               sizeof(md), sig, &sig_len);
        }
        if (rc == UK_OK) {
            v = EVP_MD_CTX_new();
            ok = v != NULL && EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, pub) == 1 &&
                 EVP_DigestVerify(v, sig, sig_len, msg, sizeof(msg)) == 1;
            EVP_MD_CTX_free(v);
        }
        X509_free(x);
        if (rc != UK_OK || !ok) {
            printf("audit rc=%s slot=%02x verified=%d\n", uk_rc_name(rc), list[i].key.id[0], ok);
            return;
        }
        used += (size_t)snprintf(slots + used, sizeof(slots) - used, "%s%02x", used ? "," : "",
                                 list[i].key.id[0]);
    }
    if (rc != UK_OK) {
        printf("audit rc=%s\n", uk_rc_name(rc));
        return;
    }
    printf("audit rc=OK certs=%zu slots=%s\n", n, n ? slots : "-");
}

int main(int argc, char **argv)
{
    struct shell sh;
    char line[1024];

    if (argc != 2) {
        usage();
        return 2;
    }
    memset(&sh, 0, sizeof(sh));
    sh.reader = argv[1];
    uk_log_set_ident("token-shell");
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *args[5] = {NULL};
        size_t n = 0;
        char *save = NULL;
        for (char *w = strtok_r(line, " \t\r\n", &save); w != NULL && n < 5;
             w = strtok_r(NULL, " \t\r\n", &save)) {
            args[n++] = w;
        }
        if (n == 0) {
            continue;
        }
        if (strcmp(args[0], "quit") == 0) {
            break;
        } else if (strcmp(args[0], "open") == 0) {
            cmd_open(&sh);
        } else if (strcmp(args[0], "certs") == 0) {
            cmd_certs(&sh);
        } else if (strcmp(args[0], "pin-status") == 0) {
            cmd_pin_status(&sh);
        } else if (strcmp(args[0], "verify") == 0 || strcmp(args[0], "change") == 0 ||
                   strcmp(args[0], "unblock") == 0) {
            cmd_secret(&sh, args[0], args[1], args[2]);
        } else if (strcmp(args[0], "admin") == 0) {
            cmd_admin(&sh, args[1], args[2]);
        } else if (strcmp(args[0], "generate") == 0) {
            cmd_generate(&sh, args[1], args[2], args[3]);
        } else if (strcmp(args[0], "csr") == 0) {
            cmd_csr(&sh, args[1], args[2], args[3]);
        } else if (strcmp(args[0], "selfsign") == 0) {
            cmd_selfsign(&sh, args[1], args[2]);
        } else if (strcmp(args[0], "sign") == 0) {
            cmd_sign(&sh, args[1]);
        } else if (strcmp(args[0], "audit") == 0) {
            cmd_audit(&sh, args[1]);
        } else if (strcmp(args[0], "write") == 0) {
            cmd_write(&sh, args[1], args[2]);
        } else if (strcmp(args[0], "read") == 0) {
            cmd_read(&sh, args[1], args[2]);
        } else if (strcmp(args[0], "delete") == 0) {
            cmd_delete(&sh, args[1]);
        } else {
            printf("%s rc=UNKNOWN_COMMAND\n", args[0]);
        }
        memset(line, 0, sizeof(line)); /* lines may hold PINs */
    }
    for (size_t i = 0; i < 256; i++) {
        EVP_PKEY_free(sh.pub[i]);
    }
    uk_token_close(sh.tok);
    uk_pcsc_close(sh.pcsc);
    return 0;
}
