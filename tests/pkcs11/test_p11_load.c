// SPDX-License-Identifier: MIT
/*
 * Loading PKCS#11 modules for real: a path outside the allowlist is refused
 * before dlopen (the module is not in the process afterwards), a module
 * whose C_Initialize fails is reported and closed again, SoftHSM2 loads
 * and has a token, and a symlink to an allowlisted module is the same
 * module (realpath compared).
 *
 *   test_p11_load FAIL_INIT_MODULE HANG_MODULE SOFTHSM_MODULE SCRATCH_DIR
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../unit/check.h"
#include "uk/p11.h"

/* Sanitizer builds keep modules mapped after unload (token/p11.c): there
 * only "never loaded" can be checked, not "closed again". */
#if defined(__SANITIZE_ADDRESS__)
#define KEEP_MAPPED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEP_MAPPED 1
#endif
#endif
#ifdef KEEP_MAPPED
static const bool closes = false;
#else
static const bool closes = true;
#endif

static bool loaded(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);

    if (h != NULL) {
        dlclose(h);
        return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    const char *fail_init;
    const char *hang;
    const char *softhsm;
    char link[4096];
    uk_p11_module *m = NULL;
    unsigned long slots[8];
    size_t n = 0;

    if (argc != 5) {
        fprintf(stderr, "usage: %s FAIL_INIT HANG SOFTHSM DIR\n", argv[0]);
        return 2;
    }
    fail_init = argv[1];
    hang = argv[2];
    softhsm = argv[3];

    /* not in the allowlist: refused, never loaded */
    {
        const char *allow[] = {fail_init};
        CHECK_EQ(uk_p11_module_load(hang, allow, 1, NULL, &m), UK_E_MODULE_NOT_ALLOWED);
        CHECK(m == NULL);
        CHECK(!loaded(hang));
    }
    /* a relative path is refused whatever the list says */
    {
        const char *allow[] = {"libsofthsm2.so"};
        CHECK_EQ(uk_p11_module_load("libsofthsm2.so", allow, 1, NULL, &m), UK_E_MODULE_NOT_ALLOWED);
    }
    /* missing file */
    {
        const char *allow[] = {"/nonexistent/module.so"};
        CHECK_EQ(uk_p11_module_load("/nonexistent/module.so", allow, 1, NULL, &m),
                 UK_E_MODULE_LOAD);
    }
    /* C_Initialize fails: reported, and the library is closed again */
    {
        const char *allow[] = {fail_init};
        CHECK_EQ(uk_p11_module_load(fail_init, allow, 1, NULL, &m), UK_E_MODULE_INIT);
        CHECK(m == NULL);
        CHECK(!closes || !loaded(fail_init));
    }
    /* a symlink to an allowlisted module is that module */
    snprintf(link, sizeof(link), "%s/hang-link.so", argv[4]);
    unlink(link);
    CHECK(symlink(hang, link) == 0);
    {
        const char *allow[] = {hang};
        CHECK_EQ(uk_p11_module_load(link, allow, 1, NULL, &m), UK_OK);
        CHECK(m != NULL);
        CHECK_EQ(uk_p11_module_slots(m, slots, 8, &n), UK_OK);
        CHECK_EQ(n, 1u);
        CHECK_EQ(uk_p11_module_wait(m, false, &slots[0]), UK_E_UNSUPPORTED);
        uk_p11_module_unload(m);
        m = NULL;
        CHECK(!closes || !loaded(hang));
    }
    unlink(link);
    /* SoftHSM2 (SOFTHSM2_CONF names the test token directory) */
    {
        const char *allow[] = {softhsm};
        uk_token *tok = NULL;
        size_t blank = 0;
        CHECK_EQ(uk_p11_module_load(softhsm, allow, 1, NULL, &m), UK_OK);
        CHECK_EQ(uk_p11_module_slots(m, slots, 8, &n), UK_OK);
        CHECK(n >= 2); /* the fixture's token and the spare blank one */
        for (size_t i = 0; i < n && tok == NULL; i++) {
            uk_rc rc = uk_token_open_p11(m, slots[i], &tok);
            CHECK(rc == UK_OK || rc == UK_E_CARD_UNSUPPORTED);
            blank += rc == UK_E_CARD_UNSUPPORTED;
        }
        CHECK(blank <= 1);
        if (tok == NULL) {
            CHECK_FAIL("no SoftHSM2 token opened");
            return check_exit_code("p11_load");
        }
        CHECK(strncmp(uk_token_info_get(tok)->id, "p11:SoftHSM project:", 20) == 0);
        CHECK(strcmp(uk_token_info_get(tok)->driver, "pkcs11") == 0);
        printf("softhsm token %s label '%s' slot '%s' (%s)\n", uk_token_info_get(tok)->id,
               uk_token_info_get(tok)->label, uk_token_info_get(tok)->reader,
               uk_p11_module_description(m));
        uk_token_close(tok);
        uk_p11_module_unload(m);
    }
    return check_exit_code("p11_load");
}
