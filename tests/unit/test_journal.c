// SPDX-License-Identifier: MIT
/*
 * Unit tests of the renewal journal: round trip, replace, remove, listing
 * that skips broken records and leftovers of an interrupted write, ids
 * that could escape the directory, file modes.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "journal.h"

static char dir[] = "/tmp/ukd-journal-XXXXXX";

static void write_raw(const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_ids(void)
{
    CHECK(uk_journal_id_valid("r-20261124-abc_1"));
    CHECK(!uk_journal_id_valid(""));
    CHECK(!uk_journal_id_valid(NULL));
    CHECK(!uk_journal_id_valid("../etc/passwd"));
    CHECK(!uk_journal_id_valid("a/b"));
    CHECK(!uk_journal_id_valid("a.json"));
    CHECK(
        !uk_journal_id_valid("0123456789012345678901234567890123456789012345678901234567890123x"));
    CHECK(uk_journal_id_valid("012345678901234567890123456789012345678901234567890123456789012"));
}

static void test_roundtrip(void)
{
    cJSON *rec = cJSON_CreateObject();
    cJSON *back = NULL;
    cJSON *list = NULL;
    size_t damaged = 0;
    char path[256];
    struct stat st;

    cJSON_AddStringToObject(rec, "tokenId", "piv:1");
    cJSON_AddStringToObject(rec, "state", "staged");
    CHECK_EQ(uk_journal_put(dir, "r1", rec), UK_OK);
    snprintf(path, sizeof(path), "%s/r1.json", dir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_EQ(uk_journal_get(dir, "r1", &back), UK_OK);
    CHECK(back != NULL && cJSON_Compare(rec, back, 1));
    cJSON_Delete(back);
    /* replace */
    cJSON_ReplaceItemInObjectCaseSensitive(rec, "state", cJSON_CreateString("installed"));
    CHECK_EQ(uk_journal_put(dir, "r1", rec), UK_OK);
    CHECK_EQ(uk_journal_get(dir, "r1", &back), UK_OK);
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(back, "state")->valuestring, "installed") == 0);
    cJSON_Delete(back);
    /* a second record, a broken one, a leftover temporary file, a stray */
    CHECK_EQ(uk_journal_put(dir, "r2", rec), UK_OK);
    write_raw("broken.json", "{\"state\": ");
    write_raw("r3.tmp", "{\"state\": \"half\"}");
    write_raw("notes.txt", "hello");
    CHECK_EQ(uk_journal_get(dir, "broken", &back), UK_E_MALFORMED);
    CHECK(back == NULL);
    CHECK_EQ(uk_journal_list(dir, &list, NULL), UK_OK);
    CHECK_EQ(cJSON_GetArraySize(list), 2);
    cJSON_Delete(list);
    CHECK_EQ(uk_journal_list(dir, &list, &damaged), UK_OK);
    CHECK_EQ(damaged, 1);
    CHECK_EQ(cJSON_GetArraySize(list), 2);
    cJSON_Delete(list);
    /* remove */
    CHECK_EQ(uk_journal_remove(dir, "r1"), UK_OK);
    CHECK_EQ(uk_journal_remove(dir, "r1"), UK_E_NOT_FOUND);
    CHECK_EQ(uk_journal_get(dir, "r1", &back), UK_E_NOT_FOUND);
    /* bad ids and records */
    CHECK_EQ(uk_journal_put(dir, "../x", rec), UK_E_INVALID_ARG);
    CHECK_EQ(uk_journal_put(dir, "ok", cJSON_GetObjectItemCaseSensitive(rec, "state")),
             UK_E_INVALID_ARG);
    cJSON_Delete(rec);
}

static void test_missing_dir(void)
{
    cJSON *list = NULL;
    size_t damaged = 99;
    char sub[256];

    snprintf(sub, sizeof(sub), "%s/none", dir);
    CHECK_EQ(uk_journal_list(sub, &list, &damaged), UK_OK);
    CHECK_EQ(damaged, 0);
    CHECK_EQ(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
    CHECK_EQ(uk_journal_open_dir(sub), UK_OK);
    CHECK_EQ(uk_journal_open_dir(sub), UK_OK);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    test_ids();
    test_roundtrip();
    test_missing_dir();
    return check_exit_code("test_journal");
}
