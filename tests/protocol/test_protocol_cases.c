// SPDX-License-Identifier: MIT
/*
 * Table-driven tests of uk_rpc_parse: each case file under cases/ holds
 * requests and what must come of them. The format (also at the top of each
 * file):
 *
 *   # comment                      ignored, as are blank lines
 *   > MESSAGE                      the frame, the rest of the line as is
 *   >> MESSAGE                     the same with C escapes: \n \r \t \\ \xHH
 *   = ok method=M route=daemon|token token=ID|- id=JSON|none
 *   = error code=N reason=R [field=F] id=JSON
 *   = silent rc=NAME               refused, and not answered (notification)
 *
 * An "=" line runs the message above it. For "ok", the request must carry
 * exactly that method, route, tokenId and id, and uk_rpc_result must echo
 * the id byte for byte. For "error", the response must be a well-formed
 * JSON-RPC error with that code, data.reason, data.field (absent when not
 * given) and id text. No response may contain the text SECRET: cases put
 * it in every PIN, so an echoed secret fails the run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uk/rpc.h"

#define LINE_MAX_LEN 16384

static int failures;
static int cases;

static void fail(const char *where, const char *what, const char *detail)
{
    failures++;
    fprintf(stderr, "%s: %s%s%s\n", where, what, detail ? ": " : "", detail ? detail : "");
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes C escapes in place; returns the decoded length, or -1. */
static long unescape(char *s)
{
    size_t r = 0;
    size_t w = 0;

    while (s[r] != '\0') {
        if (s[r] != '\\') {
            s[w++] = s[r++];
            continue;
        }
        r++;
        switch (s[r]) {
        case 'n':
            s[w++] = '\n';
            break;
        case 'r':
            s[w++] = '\r';
            break;
        case 't':
            s[w++] = '\t';
            break;
        case '\\':
            s[w++] = '\\';
            break;
        case 'x':
            if (hexval(s[r + 1]) < 0 || hexval(s[r + 2]) < 0) {
                return -1;
            }
            s[w++] = (char)(hexval(s[r + 1]) * 16 + hexval(s[r + 2]));
            r += 2;
            break;
        default:
            return -1;
        }
        r++;
    }
    return (long)w;
}

/* The value of "key=" among the space-separated words of spec, copied into
 * out; NULL when absent. */
static const char *word(const char *spec, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    const char *p = spec;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);

        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            n -= klen + 1;
            if (n >= cap) {
                return NULL;
            }
            memcpy(out, p + klen + 1, n);
            out[n] = '\0';
            return out;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

static void check_ok(const char *where, const char *spec, const uk_rpc_req *req, uk_rc rc,
                     const char *err)
{
    char want[512];
    char expect_resp[1024];
    char *resp;

    if (rc != UK_OK || err != NULL) {
        fail(where, "expected ok, got", err ? err : uk_rc_name(rc));
        return;
    }
    if (word(spec, "method", want, sizeof(want)) == NULL || strcmp(want, req->method) != 0) {
        fail(where, "method", req->method);
    }
    if (word(spec, "route", want, sizeof(want)) == NULL ||
        strcmp(want, req->route == UK_RPC_ROUTE_TOKEN ? "token" : "daemon") != 0) {
        fail(where, "route", want);
    }
    if (word(spec, "token", want, sizeof(want)) == NULL ||
        (strcmp(want, "-") == 0 ? req->token_id != NULL
                                : (req->token_id == NULL || strcmp(want, req->token_id) != 0))) {
        fail(where, "tokenId", req->token_id ? req->token_id : "(none)");
    }
    if (req->params == NULL || !cJSON_IsObject(req->params) || req->m == NULL ||
        req->root == NULL) {
        fail(where, "request fields not filled", NULL);
    }
    if (word(spec, "id", want, sizeof(want)) == NULL) {
        fail(where, "case has no id=", NULL);
        return;
    }
    resp = uk_rpc_result(req, cJSON_CreateTrue());
    if (strcmp(want, "none") == 0) {
        if (req->id != NULL || resp != NULL) {
            fail(where, "expected a notification", resp);
        }
    } else {
        snprintf(expect_resp, sizeof(expect_resp),
                 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":true}", want);
        if (resp == NULL || strcmp(resp, expect_resp) != 0) {
            fail(where, "result response", resp ? resp : "(null)");
        }
    }
    free(resp);
}

static void check_error(const char *where, const char *spec, const uk_rpc_req *req, uk_rc rc,
                        const char *err)
{
    char want[512];
    char prefix[700];
    cJSON *j;
    const cJSON *e;
    const cJSON *data;
    const cJSON *code;
    const cJSON *reason;
    const cJSON *field;

    if (rc == UK_OK || err == NULL || req->root != NULL) {
        fail(where, "expected an error response, got", err ? err : uk_rc_name(rc));
        return;
    }
    if (word(spec, "id", want, sizeof(want)) == NULL) {
        fail(where, "case has no id=", NULL);
        return;
    }
    snprintf(prefix, sizeof(prefix), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{", want);
    if (strncmp(err, prefix, strlen(prefix)) != 0) {
        fail(where, "response id", err);
    }
    j = cJSON_Parse(err);
    e = cJSON_GetObjectItemCaseSensitive(j, "error");
    code = cJSON_GetObjectItemCaseSensitive(e, "code");
    data = cJSON_GetObjectItemCaseSensitive(e, "data");
    reason = cJSON_GetObjectItemCaseSensitive(data, "reason");
    field = cJSON_GetObjectItemCaseSensitive(data, "field");
    if (j == NULL || !cJSON_IsNumber(code) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")) ||
        !cJSON_IsString(reason) || cJSON_GetObjectItemCaseSensitive(j, "result") != NULL ||
        cJSON_GetArraySize(j) != 3) {
        fail(where, "malformed error response", err);
        cJSON_Delete(j);
        return;
    }
    if (word(spec, "code", want, sizeof(want)) == NULL || atoi(want) != (int)code->valuedouble) {
        fail(where, "code", err);
    }
    if (word(spec, "reason", want, sizeof(want)) == NULL ||
        strcmp(want, reason->valuestring) != 0) {
        fail(where, "reason", err);
    }
    if (word(spec, "field", want, sizeof(want)) == NULL) {
        if (field != NULL) {
            fail(where, "unexpected field", err);
        }
    } else if (!cJSON_IsString(field) || strcmp(want, field->valuestring) != 0) {
        fail(where, "field", err);
    }
    cJSON_Delete(j);
}

static void run(const char *where, const char *msg, size_t len, const char *expect)
{
    static char unset;
    uk_rpc_req req;
    char *err = &unset; /* uk_rpc_parse must clear it */
    char want[64];
    uk_rc rc;
    uk_rc want_rc = UK_OK;

    cases++;
    rc = uk_rpc_parse(msg, len, &req, &err);
    if (err != NULL && strstr(err, "SECRET") != NULL) {
        fail(where, "a secret was echoed", err);
    }
    if (strncmp(expect, "ok ", 3) == 0) {
        check_ok(where, expect, &req, rc, err);
    } else if (strncmp(expect, "error ", 6) == 0) {
        check_error(where, expect, &req, rc, err);
    } else if (strncmp(expect, "silent ", 7) == 0) {
        if (word(expect, "rc", want, sizeof(want)) == NULL ||
            uk_rc_from_name(want, &want_rc) != UK_OK || rc != want_rc || err != NULL ||
            req.root != NULL) {
            fail(where, "expected silent refusal, got", err ? err : uk_rc_name(rc));
        }
    } else {
        fail(where, "bad expectation", expect);
    }
    free(err);
    uk_rpc_req_free(&req);
}

static void run_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = malloc(LINE_MAX_LEN);
    char *msg = malloc(LINE_MAX_LEN);
    char where[512];
    long msg_len = -1;
    size_t n;
    int lineno = 0;

    if (f == NULL || line == NULL || msg == NULL) {
        fail(path, "cannot read", NULL);
        goto out;
    }
    while (fgets(line, LINE_MAX_LEN, f) != NULL) {
        lineno++;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        n = strlen(line);
        if (n > 0 && line[n - 1] != '\n' && !feof(f)) {
            fail(where, "line too long", NULL);
            break;
        }
        if (n > 0 && line[n - 1] == '\n') {
            line[--n] = '\0';
        }
        if (n == 0 || line[0] == '#') {
            continue;
        }
        if (strncmp(line, ">> ", 3) == 0) {
            memcpy(msg, line + 3, n - 2);
            msg_len = unescape(msg);
            if (msg_len < 0) {
                fail(where, "bad escape", NULL);
            }
        } else if (strncmp(line, "> ", 2) == 0) {
            memcpy(msg, line + 2, n - 1);
            msg_len = (long)(n - 2);
        } else if (strncmp(line, "= ", 2) == 0 && msg_len >= 0) {
            run(where, msg, (size_t)msg_len, line + 2);
            msg_len = -1;
        } else {
            fail(where, "unexpected line", line);
        }
    }
out:
    if (f != NULL) {
        fclose(f);
    }
    free(line);
    free(msg);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        run_file(argv[i]);
    }
    printf("protocol cases: %d run, %d failures\n", cases, failures);
    if (cases < 40) {
        fprintf(stderr, "too few cases (%d); is the cases directory empty?\n", cases);
        return 1;
    }
    return failures == 0 ? 0 : 1;
}
