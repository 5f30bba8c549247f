// SPDX-License-Identifier: MIT
/*
 * Unit tests of common/: result-code names, bounded buffers, secure zeroing
 * and log filtering.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "uk/buf.h"
#include "uk/log.h"
#include "uk/mem.h"
#include "uk/rc.h"

static void test_rc_names(void)
{
    uk_rc rc = UK_OK;

    CHECK(strcmp(uk_rc_name(UK_OK), "OK") == 0);
    CHECK(strcmp(uk_rc_name(UK_E_PIN_INCORRECT), "PIN_INCORRECT") == 0);
    CHECK(strcmp(uk_rc_name(UK_E_CARD_REMOVED), "CARD_REMOVED") == 0);
    CHECK(strcmp(uk_rc_name((uk_rc)-999), "UNKNOWN_ERROR") == 0);
    CHECK(strcmp(uk_rc_desc(UK_E_NO_CARD), "no card in the reader") == 0);
    CHECK_EQ(uk_rc_from_name("PIN_BLOCKED", &rc), UK_OK);
    CHECK_EQ(rc, UK_E_PIN_BLOCKED);
    CHECK_EQ(uk_rc_from_name("NO_SUCH_REASON", &rc), UK_E_NOT_FOUND);
    CHECK_EQ(uk_rc_from_name(NULL, &rc), UK_E_INVALID_ARG);
}

/* Every code is negative except UK_OK, and values and names are unique:
 * the protocol relies on both. */
static void test_rc_table_unique(void)
{
    static const struct {
        int value;
        const char *name;
    } all[] = {
#define ENTRY(sym, val, name, desc) {val, name},
        UK_RC_TABLE(ENTRY)
#undef ENTRY
    };
    size_t n = sizeof(all) / sizeof(all[0]);

    for (size_t i = 0; i < n; i++) {
        CHECK(all[i].value < 0 || (all[i].value == 0 && i == 0));
        for (size_t j = i + 1; j < n; j++) {
            CHECK(all[i].value != all[j].value);
            CHECK(strcmp(all[i].name, all[j].name) != 0);
        }
        for (const char *c = all[i].name; *c; c++) {
            CHECK((*c >= 'A' && *c <= 'Z') || *c == '_' || (*c >= '0' && *c <= '9'));
        }
    }
}

static void test_buf_limits(void)
{
    uk_buf b;
    uint8_t big[300];

    memset(big, 0xAB, sizeof(big));
    uk_buf_init(&b, 100, false);
    CHECK_EQ(uk_buf_append(&b, big, 60), UK_OK);
    CHECK_EQ(uk_buf_append(&b, big, 40), UK_OK);
    CHECK_EQ(b.len, 100);
    /* past the maximum: refused, buffer unchanged */
    CHECK_EQ(uk_buf_append_byte(&b, 1), UK_E_LIMIT);
    CHECK_EQ(b.len, 100);
    CHECK_EQ(uk_buf_append(&b, big, SIZE_MAX), UK_E_LIMIT);
    CHECK_EQ(uk_buf_append(&b, NULL, 3), UK_E_INVALID_ARG);
    CHECK_EQ(uk_buf_append(&b, NULL, 0), UK_OK);
    uk_buf_reset(&b);
    CHECK_EQ(b.len, 0);
    CHECK_EQ(uk_buf_append(&b, big, 100), UK_OK);
    uk_buf_free(&b);
    CHECK(b.data == NULL);
    CHECK_EQ(b.len, 0);
}

static void test_buf_growth_secret(void)
{
    uk_buf b;
    uint8_t *out = NULL;
    size_t out_len = 0;

    uk_buf_init(&b, 1 << 20, true);
    for (unsigned i = 0; i < 5000; i++) {
        CHECK_EQ(uk_buf_append_byte(&b, (uint8_t)i), UK_OK);
    }
    CHECK_EQ(b.len, 5000);
    CHECK(b.cap >= 5000 && b.cap <= b.max);
    for (unsigned i = 0; i < 5000; i++) {
        if (b.data[i] != (uint8_t)i) {
            CHECK_FAIL("content survives growth");
            break;
        }
    }
    uk_buf_detach(&b, &out, &out_len);
    CHECK(out != NULL);
    CHECK_EQ(out_len, 5000);
    CHECK(b.data == NULL && b.len == 0);
    uk_freezero(out, out_len);
    uk_buf_detach(&b, &out, &out_len);
    CHECK(out == NULL);
    CHECK_EQ(out_len, 0);
}

static void test_memzero(void)
{
    uint8_t secret[32];
    uint8_t zero[32] = {0};

    memset(secret, 0x5A, sizeof(secret));
    uk_memzero(secret, sizeof(secret));
    CHECK_MEM(secret, zero, sizeof(zero));
    uk_memzero(NULL, 0);
    CHECK_EQ(uk_memcmp_ct("abc", "abc", 3), 0);
    CHECK(uk_memcmp_ct("abc", "abd", 3) != 0);
}

struct sink_state {
    int lines;
    char last[256];
};

static void sink(uk_log_level level, const char *line, void *ctx)
{
    struct sink_state *s = ctx;

    (void)level;
    s->lines++;
    snprintf(s->last, sizeof(s->last), "%s", line);
}

static void test_log(void)
{
    struct sink_state s = {0};

    uk_log_set_stderr(0);
    uk_log_set_sink(sink, &s);
    uk_log_set_level(UK_LOG_WARN);
    uk_info("dropped %d", 1);
    CHECK_EQ(s.lines, 0);
    uk_warn("kept %d", 2);
    CHECK_EQ(s.lines, 1);
    /* level and function name are in the line */
    CHECK(strstr(s.last, "warn") != NULL);
    CHECK(strstr(s.last, "test_log") != NULL);
    CHECK(strstr(s.last, "kept 2") != NULL);
    CHECK_EQ(uk_log_level_parse("debug"), UK_LOG_DEBUG);
    CHECK_EQ(uk_log_level_parse("loud"), -1);
    uk_log_set_sink(NULL, NULL);
    uk_log_set_stderr(1);
    uk_log_set_level(UK_LOG_INFO);
}

int main(void)
{
    test_rc_names();
    test_rc_table_unique();
    test_buf_limits();
    test_buf_growth_secret();
    test_memzero();
    test_log();
    return check_exit_code("test_common");
}
