// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the JSON-RPC parser and validator, and the response
 * builders, over whatever bytes a hostile page can put in a frame. Every
 * input ends in a request or an error response; nothing leaks or reads out
 * of bounds. Token handlers are not reached (they need a card).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uk/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uk_rpc_req req;
    char *err = NULL;
    char *out;
    /* exact-size copy without a NUL: frames are not NUL-terminated */
    char *msg = malloc(size ? size : 1);

    if (msg == NULL) {
        return 0;
    }
    memcpy(msg, data, size);
    if (uk_rpc_parse(msg, size, &req, &err) == UK_OK) {
        if (err != NULL) {
            abort(); /* success never comes with an error response */
        }
        out = uk_rpc_result(&req, cJSON_CreateObject());
        free(out);
        out = uk_rpc_error(&req, UK_E_PIN_INCORRECT, NULL);
        free(out);
        uk_rpc_req_free(&req);
    }
    free(err);
    free(msg);
    return 0;
}
