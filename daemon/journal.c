// SPDX-License-Identifier: MIT
/*
 * Renewal journal on POSIX files: write to a temporary name, fsync, rename,
 * fsync the directory (rename alone is atomic but not durable until the
 * directory entry is on disk).
 */
#define _POSIX_C_SOURCE 200809L
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uk/file.h"
#include "uk/log.h"

#define RECORD_MAX (256 * 1024)
#define SUFFIX ".json"

bool uk_journal_id_valid(const char *id)
{
    size_t n = 0;

    if (id == NULL) {
        return false;
    }
    for (; id[n] != '\0'; n++) {
        char c = id[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok || n == 64) {
            return false;
        }
    }
    return n > 0;
}

static uk_rc path_of(const char *dir, const char *id, const char *suffix, char *out, size_t cap)
{
    int n;

    if (!uk_journal_id_valid(id)) {
        return UK_E_INVALID_ARG;
    }
    n = snprintf(out, cap, "%s/%s%s", dir, id, suffix);
    return n < 0 || (size_t)n >= cap ? UK_E_SIZE : UK_OK;
}

static uk_rc sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0) {
        return UK_E_IO;
    }
    rc = fsync(fd);
    close(fd);
    return rc == 0 ? UK_OK : UK_E_IO;
}

uk_rc uk_journal_open_dir(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        uk_err("cannot create %s: %s", dir, strerror(errno));
        return UK_E_IO;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return UK_E_IO;
    }
    return UK_OK;
}

static uk_rc write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return UK_E_IO;
        }
        p += n;
        len -= (size_t)n;
    }
    return UK_OK;
}

uk_rc uk_journal_put(const char *dir, const char *id, const cJSON *record)
{
    char path[4200];
    char tmp[4220];
    char *text = NULL;
    int fd = -1;
    uk_rc rc;

    if (!cJSON_IsObject(record)) {
        return UK_E_INVALID_ARG;
    }
    rc = path_of(dir, id, SUFFIX, path, sizeof(path));
    if (rc == UK_OK) {
        rc = path_of(dir, id, ".tmp", tmp, sizeof(tmp));
    }
    if (rc != UK_OK) {
        return rc;
    }
    text = cJSON_PrintUnformatted(record);
    if (text == NULL) {
        return UK_E_NOMEM;
    }
    if (strlen(text) > RECORD_MAX) {
        free(text);
        return UK_E_LIMIT;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        uk_err("cannot create %s: %s", tmp, strerror(errno));
        free(text);
        return UK_E_IO;
    }
    rc = write_all(fd, text, strlen(text));
    if (rc == UK_OK && fsync(fd) != 0) {
        rc = UK_E_IO;
    }
    if (close(fd) != 0 && rc == UK_OK) {
        rc = UK_E_IO;
    }
    if (rc == UK_OK && rename(tmp, path) != 0) {
        rc = UK_E_IO;
    }
    if (rc == UK_OK) {
        rc = sync_dir(dir);
    }
    if (rc != UK_OK) {
        uk_err("cannot write journal record %s: %s", id, uk_rc_name(rc));
        unlink(tmp);
    }
    free(text);
    return rc;
}

static uk_rc read_record(const char *path, cJSON **out)
{
    char *buf = NULL;
    size_t n = 0;
    uk_rc rc;

    *out = NULL;
    rc = uk_file_read(path, RECORD_MAX, &buf, &n);
    if (rc != UK_OK) {
        return rc == UK_E_LIMIT ? UK_E_MALFORMED : rc;
    }
    *out = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (*out == NULL || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return UK_E_MALFORMED;
    }
    return UK_OK;
}

uk_rc uk_journal_get(const char *dir, const char *id, cJSON **out)
{
    char path[4200];
    uk_rc rc;

    *out = NULL;
    rc = path_of(dir, id, SUFFIX, path, sizeof(path));
    return rc != UK_OK ? rc : read_record(path, out);
}

uk_rc uk_journal_list(const char *dir, cJSON **out, size_t *damaged)
{
    DIR *d;
    struct dirent *e;
    cJSON *arr = cJSON_CreateArray();

    *out = NULL;
    if (damaged != NULL) {
        *damaged = 0;
    }
    if (arr == NULL) {
        return UK_E_NOMEM;
    }
    d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT) {
            *out = arr; /* no directory yet: no records */
            return UK_OK;
        }
        cJSON_Delete(arr);
        return UK_E_IO;
    }
    while ((e = readdir(d)) != NULL) {
        char id[80];
        size_t n = strlen(e->d_name);
        cJSON *rec = NULL;
        uk_rc rc;

        /* only "<id>.json"; leftovers of an interrupted write (".tmp") are
         * not records */
        if (n <= strlen(SUFFIX) || n - strlen(SUFFIX) >= sizeof(id) ||
            strcmp(e->d_name + n - strlen(SUFFIX), SUFFIX) != 0) {
            continue;
        }
        memcpy(id, e->d_name, n - strlen(SUFFIX));
        id[n - strlen(SUFFIX)] = '\0';
        if (!uk_journal_id_valid(id)) {
            continue;
        }
        rc = uk_journal_get(dir, id, &rec);
        if (rc != UK_OK) {
            uk_warn("journal record %s skipped: %s", id, uk_rc_name(rc));
            if (damaged != NULL) {
                ++*damaged;
            }
            continue;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(rec, "id");
        if (cJSON_AddStringToObject(rec, "id", id) == NULL) {
            cJSON_Delete(rec);
            continue;
        }
        cJSON_AddItemToArray(arr, rec);
    }
    closedir(d);
    *out = arr;
    return UK_OK;
}

uk_rc uk_journal_remove(const char *dir, const char *id)
{
    char path[4200];
    uk_rc rc = path_of(dir, id, SUFFIX, path, sizeof(path));

    if (rc != UK_OK) {
        return rc;
    }
    if (unlink(path) != 0) {
        return errno == ENOENT ? UK_E_NOT_FOUND : UK_E_IO;
    }
    return sync_dir(dir);
}
