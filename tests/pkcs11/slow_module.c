// SPDX-License-Identifier: MIT
/*
 * A PKCS#11 module for the tests that forwards to a real one (the module
 * named by $UKT_SLOW_TARGET, SoftHSM2 in the tests) and takes
 * $UKT_SLOW_MS milliseconds longer for each call that changes the token or
 * signs (C_GenerateKeyPair, C_CreateObject, C_DestroyObject, C_Sign): a slow
 * USB-KEY, so that a test can kill ukeyd while a renewal is at a given
 * journal state, as the PIV tests do with the virtual key's --delay-ms.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <stdlib.h>
#include <time.h>

static CK_FUNCTION_LIST *real;
static CK_FUNCTION_LIST slow;

static void delay(void)
{
    const char *ms = getenv("UKT_SLOW_MS");
    long n = ms != NULL ? atol(ms) : 0;
    struct timespec ts = {n / 1000, (n % 1000) * 1000000L};

    if (n > 0) {
        nanosleep(&ts, NULL);
    }
}

static CK_RV generate(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_ATTRIBUTE *pt, CK_ULONG pn,
                      CK_ATTRIBUTE *kt, CK_ULONG kn, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
    delay();
    return real->C_GenerateKeyPair(s, m, pt, pn, kt, kn, pub, priv);
}

static CK_RV create(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *o)
{
    delay();
    return real->C_CreateObject(s, t, n, o);
}

static CK_RV destroy(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
    delay();
    return real->C_DestroyObject(s, o);
}

static CK_RV sign(CK_SESSION_HANDLE s, CK_BYTE *d, CK_ULONG dl, CK_BYTE *sig, CK_ULONG *sl)
{
    if (sig != NULL) {
        delay();
    }
    return real->C_Sign(s, d, dl, sig, sl);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST **list)
{
    const char *target = getenv("UKT_SLOW_TARGET");
    void *dl = target != NULL ? dlopen(target, RTLD_NOW | RTLD_LOCAL) : NULL;
    CK_RV (*get)(CK_FUNCTION_LIST **) = NULL;

    if (dl == NULL) {
        return CKR_GENERAL_ERROR;
    }
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    if (get == NULL || get(&real) != CKR_OK) {
        return CKR_GENERAL_ERROR;
    }
    slow = *real;
    slow.C_GenerateKeyPair = generate;
    slow.C_CreateObject = create;
    slow.C_DestroyObject = destroy;
    slow.C_Sign = sign;
    *list = &slow;
    return CKR_OK;
}
