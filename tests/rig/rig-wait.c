// SPDX-License-Identifier: MIT
/*
 * uk-rig-wait: block until the test rig's PC/SC state is what a test needs.
 *
 * The rig (tests/rig/rig.sh) starts pcscd with the vpcd virtual reader and
 * plugs virtual cards into it. Scripts must never guess with sleeps, so this
 * tool waits on PC/SC events instead: SCardGetStatusChange on the
 * "\\?PnP?\Notification" pseudo reader for readers coming and going, and on
 * the reader itself for cards. The only retry loop is SCardEstablishContext
 * while pcscd is not up yet. Everything is bounded by --timeout.
 *
 * Exit status: 0 the condition holds, 1 timed out (with a message saying what
 * it waited for), 2 usage or PC/SC error.
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <winscard.h>

#define PROG "uk-rig-wait"
#define PNP_READER "\\\\?PnP?\\Notification"
#define DEFAULT_TIMEOUT_S 10.0
/* Backoff between SCardEstablishContext attempts while pcscd is starting. */
#define BACKOFF_FIRST_MS 10L
#define BACKOFF_MAX_MS 200L

enum { EXIT_OK = 0, EXIT_TIMEOUT = 1, EXIT_ERROR = 2 };

enum mode { MODE_NONE, MODE_LIST, MODE_READER, MODE_CARD_PRESENT, MODE_CARD_ABSENT };

struct options {
    enum mode mode;
    const char *reader;
    double timeout_s;
};

/* Outcome of one wait step; maps onto the exit status at the end. */
enum step { STEP_DONE, STEP_TIMEOUT, STEP_SERVICE_LOST, STEP_READER_GONE, STEP_ERROR };

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before the deadline, clamped to [0, DWORD range). */
static DWORD remaining_ms(int64_t deadline)
{
    int64_t left = deadline - now_ms();

    if (left < 0) {
        left = 0;
    }
    if (left > 0x7fffffffL) {
        left = 0x7fffffffL;
    }
    return (DWORD)left;
}

static void sleep_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool service_lost(LONG rv)
{
    return rv == SCARD_E_NO_SERVICE || rv == SCARD_E_SERVICE_STOPPED || rv == SCARD_F_COMM_ERROR ||
           rv == SCARD_E_INVALID_HANDLE;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [--timeout SEC] --list\n"
            "       " PROG " [--timeout SEC] --reader NAME\n"
            "       " PROG " [--timeout SEC] --card-present NAME\n"
            "       " PROG " [--timeout SEC] --card-absent NAME\n"
            "\n"
            "Waits (on PC/SC events, never by polling) until the condition holds.\n"
            "--list waits for the PC/SC service and prints one reader name a line.\n"
            "Default timeout %.0f s. Exit 0 done, 1 timed out, 2 error.\n",
            DEFAULT_TIMEOUT_S);
}

/*
 * Connect to pcscd. pcscd may still be starting (the rig starts it just
 * before calling us), so SCARD_E_NO_SERVICE is retried with a short backoff
 * until the deadline; this is the one retry loop the tool has.
 */
static enum step connect_service(int64_t deadline, SCARDCONTEXT *out)
{
    enum step st = STEP_ERROR;
    long backoff = BACKOFF_FIRST_MS;
    LONG rv;

    *out = 0;
    for (;;) {
        rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, out);
        if (rv == SCARD_S_SUCCESS) {
            st = STEP_DONE;
            goto out;
        }
        *out = 0;
        if (rv != SCARD_E_NO_SERVICE) {
            fprintf(stderr, PROG ": SCardEstablishContext: %s (0x%lX)\n", pcsc_stringify_error(rv),
                    (unsigned long)rv);
            st = STEP_ERROR;
            goto out;
        }
        if (remaining_ms(deadline) == 0) {
            st = STEP_TIMEOUT;
            goto out;
        }
        if ((long)remaining_ms(deadline) < backoff) {
            backoff = (long)remaining_ms(deadline);
        }
        sleep_ms(backoff);
        backoff *= 2;
        if (backoff > BACKOFF_MAX_MS) {
            backoff = BACKOFF_MAX_MS;
        }
    }
out:
    return st;
}

/*
 * Read the reader list. *found tells whether `want` (may be NULL) is in it;
 * with print set, every name goes to stdout. No readers is not an error.
 */
static enum step list_readers(SCARDCONTEXT ctx, const char *want, bool print, bool *found)
{
    enum step st = STEP_ERROR;
    char *names = NULL;
    DWORD len = SCARD_AUTOALLOCATE;
    const char *p;
    LONG rv;

    *found = false;
    rv = SCardListReaders(ctx, NULL, (LPSTR)&names, &len);
    if (rv == SCARD_E_NO_READERS_AVAILABLE) {
        names = NULL;
        st = STEP_DONE;
        goto out;
    }
    if (service_lost(rv)) {
        names = NULL;
        st = STEP_SERVICE_LOST;
        goto out;
    }
    if (rv != SCARD_S_SUCCESS) {
        names = NULL;
        fprintf(stderr, PROG ": SCardListReaders: %s (0x%lX)\n", pcsc_stringify_error(rv),
                (unsigned long)rv);
        st = STEP_ERROR;
        goto out;
    }
    /* A multi-string: NUL-separated names, an empty name ends it. */
    p = names;
    while (p < names + len && *p != '\0') {
        if (print) {
            printf("%s\n", p);
        }
        if (want != NULL && strcmp(p, want) == 0) {
            *found = true;
        }
        p += strlen(p) + 1;
    }
    st = STEP_DONE;
out:
    if (names != NULL) {
        SCardFreeMemory(ctx, names);
    }
    return st;
}

/*
 * Wait until a reader called `name` exists. The PnP pseudo reader's state is
 * fed back into each call, as the PC/SC API asks; pcsc-lite >= 2.3 keeps a
 * reader-event counter in its high word, so a reader added between our
 * listing and the next call is not missed. Older pcsc-lite (1.9.9) compares
 * reader counts within one call only; the final listing after a timeout
 * covers that window, and the rig's readers exist before pcscd accepts
 * clients anyway.
 */
static enum step wait_reader(SCARDCONTEXT ctx, const char *name, int64_t deadline)
{
    enum step st = STEP_ERROR;
    SCARD_READERSTATE pnp;
    bool found = false;
    LONG rv;

    memset(&pnp, 0, sizeof(pnp));
    pnp.szReader = PNP_READER;
    pnp.dwCurrentState = SCARD_STATE_UNAWARE;
    /* Take the PnP state first, then list: a change after this point wakes us. */
    rv = SCardGetStatusChange(ctx, 0, &pnp, 1);
    if (service_lost(rv)) {
        st = STEP_SERVICE_LOST;
        goto out;
    }
    if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) {
        fprintf(stderr, PROG ": SCardGetStatusChange: %s (0x%lX)\n", pcsc_stringify_error(rv),
                (unsigned long)rv);
        st = STEP_ERROR;
        goto out;
    }
    pnp.dwCurrentState = pnp.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
    for (;;) {
        st = list_readers(ctx, name, false, &found);
        if (st != STEP_DONE) {
            goto out;
        }
        if (found) {
            st = STEP_DONE;
            goto out;
        }
        if (remaining_ms(deadline) == 0) {
            st = STEP_TIMEOUT;
            goto out;
        }
        rv = SCardGetStatusChange(ctx, remaining_ms(deadline), &pnp, 1);
        if (rv == SCARD_E_TIMEOUT) {
            /* One last look closes the race described above. */
            st = list_readers(ctx, name, false, &found);
            if (st == STEP_DONE && !found) {
                st = STEP_TIMEOUT;
            }
            goto out;
        }
        if (service_lost(rv)) {
            st = STEP_SERVICE_LOST;
            goto out;
        }
        if (rv != SCARD_S_SUCCESS) {
            fprintf(stderr, PROG ": SCardGetStatusChange: %s (0x%lX)\n", pcsc_stringify_error(rv),
                    (unsigned long)rv);
            st = STEP_ERROR;
            goto out;
        }
        pnp.dwCurrentState = pnp.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
    }
out:
    return st;
}

/*
 * Wait until the reader holds a card (want_present) or is empty. A present
 * but mute card (no ATR) does not count as present. *last gets the reader's
 * last event state for the timeout message.
 */
static enum step wait_card(SCARDCONTEXT ctx, const char *name, bool want_present, int64_t deadline,
                           DWORD *last)
{
    enum step st = STEP_ERROR;
    SCARD_READERSTATE rs[2];
    DWORD ev;
    LONG rv;

    *last = 0;
    memset(rs, 0, sizeof(rs));
    rs[0].szReader = name;
    rs[0].dwCurrentState = SCARD_STATE_UNAWARE;
    rs[1].szReader = PNP_READER;
    rs[1].dwCurrentState = SCARD_STATE_UNAWARE;
    for (;;) {
        rv = SCardGetStatusChange(ctx, remaining_ms(deadline), rs, 2);
        if (rv == SCARD_E_TIMEOUT) {
            st = STEP_TIMEOUT;
            goto out;
        }
        if (rv == SCARD_E_UNKNOWN_READER) {
            st = STEP_READER_GONE;
            goto out;
        }
        if (service_lost(rv)) {
            st = STEP_SERVICE_LOST;
            goto out;
        }
        if (rv != SCARD_S_SUCCESS) {
            fprintf(stderr, PROG ": SCardGetStatusChange: %s (0x%lX)\n", pcsc_stringify_error(rv),
                    (unsigned long)rv);
            st = STEP_ERROR;
            goto out;
        }
        ev = rs[0].dwEventState;
        *last = ev;
        if ((ev & (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE)) != 0) {
            st = STEP_READER_GONE;
            goto out;
        }
        if (want_present && (ev & SCARD_STATE_PRESENT) != 0 && (ev & SCARD_STATE_MUTE) == 0) {
            st = STEP_DONE;
            goto out;
        }
        if (!want_present && (ev & SCARD_STATE_EMPTY) != 0) {
            st = STEP_DONE;
            goto out;
        }
        if (remaining_ms(deadline) == 0) {
            st = STEP_TIMEOUT;
            goto out;
        }
        rs[0].dwCurrentState = ev & ~(DWORD)SCARD_STATE_CHANGED;
        rs[1].dwCurrentState = rs[1].dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
    }
out:
    return st;
}

static const char *card_state_name(DWORD ev)
{
    if ((ev & SCARD_STATE_MUTE) != 0) {
        return "a card is present but mute (no ATR)";
    }
    if ((ev & SCARD_STATE_PRESENT) != 0) {
        return "a card is present";
    }
    if ((ev & SCARD_STATE_EMPTY) != 0) {
        return "the reader is empty";
    }
    if ((ev & SCARD_STATE_UNAVAILABLE) != 0) {
        return "the reader is unavailable";
    }
    return "the reader state is not known yet";
}

static int parse_args(int argc, char **argv, struct options *opt)
{
    int rc = EXIT_ERROR;
    char *end = NULL;
    int i;

    memset(opt, 0, sizeof(*opt));
    opt->mode = MODE_NONE;
    opt->timeout_s = DEFAULT_TIMEOUT_S;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        enum mode m = MODE_NONE;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(EXIT_OK);
        }
        if (strcmp(a, "--timeout") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, PROG ": --timeout needs a value\n");
                goto out;
            }
            i++;
            errno = 0;
            opt->timeout_s = strtod(argv[i], &end);
            if (errno != 0 || end == argv[i] || *end != '\0' || !(opt->timeout_s >= 0.0) ||
                opt->timeout_s > 86400.0) {
                fprintf(stderr, PROG ": bad --timeout '%s' (seconds, 0..86400)\n", argv[i]);
                goto out;
            }
            continue;
        }
        if (strcmp(a, "--list") == 0) {
            m = MODE_LIST;
        } else if (strcmp(a, "--reader") == 0) {
            m = MODE_READER;
        } else if (strcmp(a, "--card-present") == 0) {
            m = MODE_CARD_PRESENT;
        } else if (strcmp(a, "--card-absent") == 0) {
            m = MODE_CARD_ABSENT;
        } else {
            fprintf(stderr, PROG ": unknown argument '%s'\n", a);
            usage(stderr);
            goto out;
        }
        if (opt->mode != MODE_NONE) {
            fprintf(stderr, PROG ": give exactly one of --list, --reader, --card-present, "
                                 "--card-absent\n");
            goto out;
        }
        opt->mode = m;
        if (m != MODE_LIST) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                fprintf(stderr, PROG ": %s needs a reader name\n", a);
                goto out;
            }
            i++;
            opt->reader = argv[i];
        }
    }
    if (opt->mode == MODE_NONE) {
        usage(stderr);
        goto out;
    }
    rc = EXIT_OK;
out:
    return rc;
}

int main(int argc, char **argv)
{
    int rc = EXIT_ERROR;
    struct options opt;
    SCARDCONTEXT ctx = 0;
    enum step st = STEP_ERROR;
    DWORD last = 0;
    bool found = false;
    bool reader_seen = false;
    int64_t deadline;

    rc = parse_args(argc, argv, &opt);
    if (rc != EXIT_OK) {
        goto out;
    }
    rc = EXIT_ERROR;
    deadline = now_ms() + (int64_t)(opt.timeout_s * 1000.0);

    /*
     * Each pass connects (waiting for the service), then waits. If pcscd goes
     * away meanwhile (the rig replaced it), start over with a new context.
     */
    for (;;) {
        if (ctx != 0) {
            SCardReleaseContext(ctx);
            ctx = 0;
        }
        st = connect_service(deadline, &ctx);
        if (st != STEP_DONE) {
            break;
        }
        if (opt.mode == MODE_LIST) {
            st = list_readers(ctx, NULL, true, &found);
        } else {
            st = wait_reader(ctx, opt.reader, deadline);
            if (st == STEP_DONE) {
                reader_seen = true;
            }
            if (st == STEP_DONE && opt.mode != MODE_READER) {
                st = wait_card(ctx, opt.reader, opt.mode == MODE_CARD_PRESENT, deadline, &last);
            }
        }
        if (st != STEP_SERVICE_LOST && st != STEP_READER_GONE) {
            break;
        }
        if (remaining_ms(deadline) == 0) {
            st = STEP_TIMEOUT;
            break;
        }
    }

    switch (st) {
    case STEP_DONE:
        rc = EXIT_OK;
        break;
    case STEP_TIMEOUT:
        rc = EXIT_TIMEOUT;
        if (ctx == 0) {
            fprintf(stderr, PROG ": timed out after %g s waiting for the PC/SC service (pcscd)\n",
                    opt.timeout_s);
        } else if (opt.mode == MODE_READER || !reader_seen) {
            fprintf(stderr, PROG ": timed out after %g s waiting for reader \"%s\"\n",
                    opt.timeout_s, opt.reader != NULL ? opt.reader : "");
        } else {
            fprintf(stderr, PROG ": timed out after %g s waiting for %s in reader \"%s\" (%s)\n",
                    opt.timeout_s, opt.mode == MODE_CARD_PRESENT ? "a card" : "no card", opt.reader,
                    card_state_name(last));
        }
        break;
    case STEP_SERVICE_LOST:
    case STEP_READER_GONE:
    case STEP_ERROR:
    default:
        rc = EXIT_ERROR;
        break;
    }
out:
    if (ctx != 0) {
        SCardReleaseContext(ctx);
    }
    return rc;
}
