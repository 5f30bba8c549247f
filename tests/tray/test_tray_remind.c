// SPDX-License-Identifier: MIT
/*
 * Unit tests of the renewal reminders: the first notice when the window
 * opens, weekly after, never two in a day, renewed and closed windows
 * silent, one notice for several certificates, the state file's encoding
 * (and tolerance of a damaged one), calendar days in two time zones, and
 * the atomic write into $XDG_STATE_HOME/ukeyd/tray.json through the
 * journal's record writer.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "journal.h"
#include "remind.h"

#define DAY 86400LL

static ukt_input in;
static char dir[] = "/tmp/ukt-remind-XXXXXX";

static ukt_cert cert(const char *id, const char *subject, int64_t not_after)
{
    ukt_cert c;

    memset(&c, 0, sizeof(c));
    snprintf(c.id, sizeof(c.id), "%s", id);
    snprintf(c.subject, sizeof(c.subject), "%s", subject);
    c.not_before = not_after - 365 * DAY;
    c.not_after = not_after;
    c.has_window = true;
    c.opens_at = not_after - 30 * DAY;
    c.closes_at = not_after + 365 * DAY;
    return c;
}

static ukt_token *one_token(void)
{
    memset(&in, 0, sizeof(in));
    in.reachable = true;
    in.n_tokens = 1;
    snprintf(in.tokens[0].id, sizeof(in.tokens[0].id), "%s", "piv:1");
    in.tokens[0].certs_known = true;
    return &in.tokens[0];
}

static size_t decide(int64_t now, const ukt_remind_state *st, const ukt_cert **due,
                     const char **why)
{
    return ukt_remind_decide(&in, now, now / DAY, st, due, 8, why);
}

static void test_schedule(void)
{
    /* the window opens at noon of day D */
    int64_t expiry = check_utc(2026, 12, 14, 12, 0, 0);
    int64_t opens = expiry - 30 * DAY;
    ukt_token *t = one_token();
    ukt_remind_state st;
    const ukt_cert *due[8];
    const char *why = NULL;

    ukt_remind_init(&st);
    t->certs[t->n_certs++] = cert("c1", "CN=张三", expiry);

    CHECK_EQ(decide(opens - 1, &st, due, &why), 0);
    CHECK(strcmp(why, "no certificate is in its renewal window") == 0);

    /* the window opens: notify */
    CHECK_EQ(decide(opens, &st, due, &why), 1);
    CHECK(due[0] == &t->certs[0]);
    ukt_remind_mark(&st, due, 1, opens / DAY);

    /* the same day: never again */
    CHECK_EQ(decide(opens + 3600, &st, due, &why), 0);
    CHECK(why != NULL);
    /* days 1..6 after: quiet */
    for (int d = 1; d < UKT_REMIND_EVERY; d++) {
        CHECK_EQ(decide(opens + d * DAY, &st, due, &why), 0);
        CHECK(strcmp(why, "every renewable certificate was reminded within the week") == 0);
    }
    /* a week later: again */
    CHECK_EQ(decide(opens + UKT_REMIND_EVERY * DAY, &st, due, &why), 1);
    ukt_remind_mark(&st, due, 1, (opens + UKT_REMIND_EVERY * DAY) / DAY);

    /* expired but still renewable: weekly still */
    CHECK_EQ(decide(expiry + 10 * DAY, &st, due, &why), 1);
    ukt_remind_mark(&st, due, 1, (expiry + 10 * DAY) / DAY);
    CHECK_EQ(decide(expiry + 12 * DAY, &st, due, &why), 0);

    /* the window closed: nothing more to do online */
    CHECK_EQ(decide(t->certs[0].closes_at + 1, &st, due, &why), 0);
    CHECK(strcmp(why, "no certificate is in its renewal window") == 0);

    /* daemon away: no decision at all */
    in.reachable = false;
    CHECK_EQ(decide(opens + 100 * DAY, &st, due, &why), 0);
    CHECK(strcmp(why, "the daemon is not reachable") == 0);
}

static void test_one_a_day(void)
{
    int64_t now = check_utc(2026, 11, 24, 9, 0, 0);
    ukt_token *t = one_token();
    ukt_remind_state st;
    const ukt_cert *due[8];
    const char *why = NULL;

    ukt_remind_init(&st);
    t->certs[t->n_certs++] = cert("c1", "CN=甲", now + 10 * DAY);
    t->certs[t->n_certs++] = cert("c2", "CN=乙", now + 60 * DAY); /* window not open */
    t->certs[t->n_certs++] = cert("c3", "CN=丙", now - 5 * DAY);
    /* two due at once: one notification naming both */
    CHECK_EQ(decide(now, &st, due, &why), 2);
    CHECK(due[0] == &t->certs[0]);
    CHECK(due[1] == &t->certs[2]);
    ukt_remind_mark(&st, due, 2, now / DAY);
    CHECK_EQ(st.n, 2);
    CHECK_EQ(st.last_day, now / DAY);

    /* a third certificate's window opens later the same day: tomorrow */
    t->certs[1] = cert("c2", "CN=乙", now + 20 * DAY);
    CHECK_EQ(decide(now + 3600, &st, due, &why), 0);
    CHECK(strcmp(why, "a notification was already shown today") == 0);
    CHECK_EQ(decide(now + DAY, &st, due, &why), 1);
    CHECK(due[0] == &t->certs[1]);
    ukt_remind_mark(&st, due, 1, (now + DAY) / DAY);

    /* cap: at most as many as the caller has room for */
    CHECK_EQ(ukt_remind_decide(&in, now + 8 * DAY, (now + 8 * DAY) / DAY, &st, due, 1, &why), 1);
}

static void test_renewed_and_clock(void)
{
    int64_t now = check_utc(2026, 11, 24, 9, 0, 0);
    ukt_token *t = one_token();
    ukt_remind_state st;
    const ukt_cert *due[8];
    const char *why = NULL;

    ukt_remind_init(&st);
    t->certs[t->n_certs++] = cert("old", "CN=张三", now + 10 * DAY);
    t->certs[t->n_certs++] = cert("new", "CN=张三", now + 375 * DAY);
    CHECK_EQ(decide(now, &st, due, &why), 0);
    CHECK(strcmp(why, "no certificate is in its renewal window") == 0);

    /* the clock set back a month: the distance counts, so no flood */
    t->n_certs = 1;
    CHECK_EQ(decide(now, &st, due, &why), 1);
    ukt_remind_mark(&st, due, 1, now / DAY);
    CHECK_EQ(decide(now - 2 * DAY, &st, due, &why), 0);
    CHECK_EQ(decide(now - 8 * DAY, &st, due, &why), 1);  /* a week away, backwards */
    CHECK_EQ(decide(now - 25 * DAY, &st, due, &why), 0); /* before the window opened */
    CHECK(strcmp(why, "no certificate is in its renewal window") == 0);
}

static void test_mark_evicts(void)
{
    ukt_remind_state st;
    ukt_cert c;
    const ukt_cert *p[1] = {&c};

    ukt_remind_init(&st);
    memset(&c, 0, sizeof(c));
    for (int i = 0; i < UKT_REMIND_MAX + 5; i++) {
        snprintf(c.id, sizeof(c.id), "cert-%d", i);
        ukt_remind_mark(&st, p, 1, 20000 + i);
    }
    CHECK_EQ(st.n, UKT_REMIND_MAX);
    CHECK_EQ(st.last_day, 20000 + UKT_REMIND_MAX + 4);
    for (size_t i = 0; i < st.n; i++) {
        CHECK(st.entries[i].day >= 20005); /* the five oldest went */
    }
    /* marking a known one again updates it in place */
    snprintf(c.id, sizeof(c.id), "%s", "cert-10");
    ukt_remind_mark(&st, p, 1, 30000);
    CHECK_EQ(st.n, UKT_REMIND_MAX);
}

static void test_days(void)
{
    int64_t d;
    char s[16];

    CHECK_EQ(ukt_day_parse("1970-01-01", &d), UK_OK);
    CHECK_EQ(d, 0);
    CHECK_EQ(ukt_day_parse("2026-11-24", &d), UK_OK);
    CHECK_EQ(d, check_utc(2026, 11, 24, 0, 0, 0) / DAY);
    ukt_day_format(d, s, sizeof(s));
    CHECK(strcmp(s, "2026-11-24") == 0);
    CHECK_EQ(ukt_day_parse("2028-02-29", &d), UK_OK);
    ukt_day_format(d, s, sizeof(s));
    CHECK(strcmp(s, "2028-02-29") == 0);
    CHECK_EQ(ukt_day_parse("2026-11-24x", &d), UK_E_MALFORMED);
    CHECK_EQ(ukt_day_parse("2026/11/24", &d), UK_E_MALFORMED);
    CHECK_EQ(ukt_day_parse("2026-13-01", &d), UK_E_MALFORMED);
    CHECK_EQ(ukt_day_parse("", &d), UK_E_MALFORMED);
    CHECK_EQ(ukt_day_parse(NULL, &d), UK_E_MALFORMED);

    /* local days: 2026-11-24 20:00 UTC is already the 25th in Beijing */
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK_EQ(ukt_local_day(check_utc(2026, 11, 24, 20, 0, 0)),
             check_utc(2026, 11, 24, 0, 0, 0) / DAY);
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    CHECK_EQ(ukt_local_day(check_utc(2026, 11, 24, 20, 0, 0)),
             check_utc(2026, 11, 25, 0, 0, 0) / DAY);
    CHECK_EQ(ukt_local_day(check_utc(2026, 11, 24, 15, 59, 59)),
             check_utc(2026, 11, 24, 0, 0, 0) / DAY);
    setenv("TZ", "UTC", 1);
    tzset();
}

static void test_json(void)
{
    ukt_remind_state st;
    ukt_remind_state back;
    ukt_cert c;
    const ukt_cert *p[1] = {&c};
    cJSON *j;
    char *text;

    ukt_remind_init(&st);
    j = ukt_remind_to_json(&st);
    text = cJSON_PrintUnformatted(j);
    CHECK(strcmp(text, "{\"version\":1,\"certs\":{}}") == 0);
    free(text);
    cJSON_Delete(j);

    memset(&c, 0, sizeof(c));
    snprintf(c.id, sizeof(c.id), "%s", "6b2ab71f");
    ukt_remind_mark(&st, p, 1, check_utc(2026, 11, 24, 0, 0, 0) / DAY);
    j = ukt_remind_to_json(&st);
    text = cJSON_PrintUnformatted(j);
    CHECK(strcmp(text, "{\"version\":1,\"lastNotified\":\"2026-11-24\",\"certs\":{\"6b2ab71f\":"
                       "\"2026-11-24\"}}") == 0);
    free(text);
    CHECK_EQ(ukt_remind_from_json(j, &back), UK_OK);
    CHECK_EQ(back.last_day, st.last_day);
    CHECK_EQ(back.n, 1);
    CHECK(strcmp(back.entries[0].cert_id, "6b2ab71f") == 0);
    CHECK_EQ(back.entries[0].day, st.entries[0].day);
    cJSON_Delete(j);

    /* damage is dropped, never fatal */
    j = cJSON_Parse("{\"version\":1,\"lastNotified\":\"yesterday\",\"certs\":{\"a\":\"2026-11-24\","
                    "\"b\":7,\"c\":\"2026-02-30x\",\"\":\"2026-11-24\",\"a\":\"2026-11-20\"}}");
    CHECK_EQ(ukt_remind_from_json(j, &back), UK_OK);
    CHECK_EQ(back.last_day, UKT_REMIND_NEVER);
    CHECK_EQ(back.n, 1);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"version\":2,\"lastNotified\":\"2026-11-24\"}");
    CHECK_EQ(ukt_remind_from_json(j, &back), UK_OK);
    CHECK_EQ(back.last_day, UKT_REMIND_NEVER);
    cJSON_Delete(j);
    j = cJSON_Parse("[1]");
    CHECK_EQ(ukt_remind_from_json(j, &back), UK_E_MALFORMED);
    CHECK_EQ(back.n, 0);
    cJSON_Delete(j);
}

/* The file the tray writes: the journal's atomic record writer, 0600, no
 * temporary left behind, read back equal. */
static void test_file(void)
{
    ukt_remind_state st;
    ukt_remind_state back;
    ukt_cert c;
    const ukt_cert *p[1] = {&c};
    cJSON *j;
    cJSON *r = NULL;
    char path[256];
    struct stat sb;

    ukt_remind_init(&st);
    memset(&c, 0, sizeof(c));
    snprintf(c.id, sizeof(c.id), "%s", "abc");
    ukt_remind_mark(&st, p, 1, 20000);
    j = ukt_remind_to_json(&st);
    CHECK_EQ(uk_journal_put(dir, "tray", j), UK_OK);
    cJSON_Delete(j);
    snprintf(path, sizeof(path), "%s/tray.json", dir);
    CHECK(stat(path, &sb) == 0);
    CHECK_EQ(sb.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/tray.tmp", dir);
    CHECK(stat(path, &sb) != 0);
    CHECK_EQ(uk_journal_get(dir, "tray", &r), UK_OK);
    CHECK_EQ(ukt_remind_from_json(r, &back), UK_OK);
    CHECK_EQ(back.last_day, 20000);
    CHECK_EQ(back.n, 1);
    cJSON_Delete(r);
    snprintf(path, sizeof(path), "%s/tray.json", dir);
    remove(path);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    test_schedule();
    test_one_a_day();
    test_renewed_and_clock();
    test_mark_evicts();
    test_days();
    test_json();
    test_file();
    rmdir(dir);
    return check_exit_code("test_tray_remind");
}
