// SPDX-License-Identifier: MIT
/*
 * A tiny PKCS#11 module for the tests, built twice:
 *
 *   -DUKT_FAIL_INIT  C_Initialize answers CKR_DEVICE_ERROR (a vendor module
 *                    whose device service is missing): ukeyd must report
 *                    it in env.check and go on. Given the option string
 *                    "ukt-device=present" (C_Initialize's pReserved) it
 *                    initialises.
 *   -DUKT_EVENTS     a module with slot events: its token ("Event token",
 *                    serial 0008) is in the slot while $UKT_EVENT_TOKEN_FILE
 *                    exists, and C_WaitForSlotEvent blocks (inotify on
 *                    that file's directory) until it comes or goes, or
 *                    C_Finalize wakes it: ukeyd must follow the module's
 *                    own events, not PC/SC's.
 *   -DUKT_HANG       one slot with a token "Hanging token"; C_FindObjectsInit
 *                    blocks until someone writes to the FIFO named by
 *                    $UKT_HANG_FIFO (a module stuck in a call): only that
 *                    token's worker may wait. With $UKT_TOKEN_FILE set, the
 *                    token is in the slot only while that file exists, and
 *                    the module has no slot events: a key whose insertion
 *                    only PC/SC sees.
 *
 * Only the functions ukeyd calls on these paths are there; the rest of the
 * function list is NULL, and the driver checks the optional ones.
 */
#define _GNU_SOURCE /* pipe2 */
#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef UKT_EVENTS
#include <libgen.h>
#include <poll.h>
#include <sys/inotify.h>
#define TOKEN_FILE_ENV "UKT_EVENT_TOKEN_FILE"
#define TOKEN_LABEL "Event token"
#define TOKEN_SERIAL "0008"
#else
#define TOKEN_FILE_ENV "UKT_TOKEN_FILE"
#define TOKEN_LABEL "Hanging token"
#define TOKEN_SERIAL "0007"
#endif

static void pad(unsigned char *field, size_t len, const char *s)
{
    size_t n = strlen(s);

    memset(field, ' ', len);
    memcpy(field, s, n < len ? n : len);
}

#ifdef UKT_EVENTS
static int wake_pipe[2] = {-1, -1}; /* C_Finalize → a waiting C_WaitForSlotEvent */
static int watch_fd = -1;           /* inotify on the token file's directory */
static int seen_present;

static int token_present(void);
#endif

static CK_RV c_initialize(void *args)
{
#ifdef UKT_FAIL_INIT
    /* a vendor module that finds its device only through its option
     * string (pReserved: pkcs11Modules' initArgs, p11-kit's
     * x-init-reserved) */
    const CK_C_INITIALIZE_ARGS *a = args;
    if (a != NULL && a->pReserved != NULL &&
        strcmp((const char *)a->pReserved, "ukt-device=present") == 0) {
        return CKR_OK;
    }
    return CKR_DEVICE_ERROR;
#elif defined(UKT_EVENTS)
    const char *f = getenv(TOKEN_FILE_ENV);
    char dir[4096];

    (void)args;
    if (f == NULL || strlen(f) >= sizeof(dir) || pipe2(wake_pipe, O_CLOEXEC) != 0) {
        return CKR_GENERAL_ERROR;
    }
    memcpy(dir, f, strlen(f) + 1);
    watch_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (watch_fd < 0 ||
        inotify_add_watch(watch_fd, dirname(dir),
                          IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM) < 0) {
        return CKR_GENERAL_ERROR;
    }
    seen_present = token_present();
    return CKR_OK;
#else
    (void)args;
    return CKR_OK;
#endif
}

static CK_RV c_finalize(void *reserved)
{
    (void)reserved;
#ifdef UKT_EVENTS
    /* the waiter closes nothing: it may still be in poll() */
    (void)!write(wake_pipe[1], "x", 1);
#endif
    return CKR_OK;
}

static CK_RV c_get_info(CK_INFO *info)
{
    memset(info, 0, sizeof(*info));
    info->cryptokiVersion.major = 2;
    info->cryptokiVersion.minor = 40;
    pad(info->manufacturerID, sizeof(info->manufacturerID), "ukeyd tests");
    pad(info->libraryDescription, sizeof(info->libraryDescription), "ukeyd test module");
    info->libraryVersion.major = 1;
    return CKR_OK;
}

static int token_present(void)
{
    const char *f = getenv(TOKEN_FILE_ENV);

    return f == NULL || access(f, F_OK) == 0;
}

static CK_RV c_get_slot_list(CK_BBOOL present, CK_SLOT_ID *list, CK_ULONG *count)
{
    if (present && !token_present()) {
        *count = 0;
        return CKR_OK;
    }
    if (list != NULL && *count < 1) {
        *count = 1;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (list != NULL) {
        list[0] = 7;
    }
    *count = 1;
    return CKR_OK;
}

static CK_RV c_get_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
    if (slot != 7) {
        return CKR_SLOT_ID_INVALID;
    }
    memset(info, 0, sizeof(*info));
    pad(info->slotDescription, sizeof(info->slotDescription), "ukeyd test slot");
    pad(info->manufacturerID, sizeof(info->manufacturerID), "ukeyd tests");
    info->flags = token_present() ? CKF_TOKEN_PRESENT : 0;
    return CKR_OK;
}

static CK_RV c_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
    if (slot != 7) {
        return CKR_SLOT_ID_INVALID;
    }
    if (!token_present()) {
        return CKR_TOKEN_NOT_PRESENT;
    }
    memset(info, 0, sizeof(*info));
    pad(info->label, sizeof(info->label), TOKEN_LABEL);
    pad(info->manufacturerID, sizeof(info->manufacturerID), "ukeyd tests");
    pad(info->model, sizeof(info->model), "hang");
    pad((unsigned char *)info->serialNumber, sizeof(info->serialNumber), TOKEN_SERIAL);
    info->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED | CKF_LOGIN_REQUIRED;
    return CKR_OK;
}

static CK_RV c_open_session(CK_SLOT_ID slot, CK_FLAGS flags, void *app, CK_NOTIFY notify,
                            CK_SESSION_HANDLE *s)
{
    (void)flags;
    (void)app;
    (void)notify;
    if (slot != 7) {
        return CKR_SLOT_ID_INVALID;
    }
    *s = 1;
    return CKR_OK;
}

static CK_RV c_close_session(CK_SESSION_HANDLE s)
{
    (void)s;
    return CKR_OK;
}

static CK_RV c_get_session_info(CK_SESSION_HANDLE s, CK_SESSION_INFO *info)
{
    (void)s;
    memset(info, 0, sizeof(*info));
    info->slotID = 7;
    info->state = CKS_RW_PUBLIC_SESSION;
    info->flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    return CKR_OK;
}

/* Blocks in read() until the test writes to the FIFO: no timer, no poll. */
static CK_RV c_find_objects_init(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n)
{
    const char *fifo = getenv("UKT_HANG_FIFO");
    char c;
    int fd;
    static const char msg[] = "ukeyd test module: C_FindObjectsInit waits\n";

    (void)s;
    (void)t;
    (void)n;
    (void)!write(2, msg, sizeof(msg) - 1); /* the test waits for this line */
#ifndef UKT_HANG
    fifo = NULL; /* only the hanging module hangs */
#endif
    fd = fifo != NULL ? open(fifo, O_RDONLY) : -1;
    if (fd >= 0) {
        (void)read(fd, &c, 1);
        close(fd);
    }
    return CKR_DEVICE_ERROR;
}

#ifdef UKT_EVENTS
/* An event each time the token file comes or goes; blocks in poll() on
 * the inotify descriptor and the finalize pipe, no timer. */
static CK_RV c_wait_for_slot_event(CK_FLAGS flags, CK_SLOT_ID *slot, void *reserved)
{
    (void)reserved;
    for (;;) {
        struct pollfd p[2] = {{.fd = watch_fd, .events = POLLIN},
                              {.fd = wake_pipe[0], .events = POLLIN}};
        char buf[4096];
        int now = token_present();
        if (now != seen_present) {
            seen_present = now;
            *slot = 7;
            return CKR_OK;
        }
        if (flags & CKF_DONT_BLOCK) {
            return CKR_NO_EVENT;
        }
        if (poll(p, 2, -1) < 0) {
            return CKR_GENERAL_ERROR;
        }
        if (p[1].revents != 0) {
            return CKR_CRYPTOKI_NOT_INITIALIZED;
        }
        while (read(watch_fd, buf, sizeof(buf)) > 0) {
        }
    }
}
#else
static CK_RV c_wait_for_slot_event(CK_FLAGS flags, CK_SLOT_ID *slot, void *reserved)
{
    (void)flags;
    (void)slot;
    (void)reserved;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
#endif

static CK_FUNCTION_LIST functions;

CK_RV C_GetFunctionList(CK_FUNCTION_LIST **list)
{
    functions.version.major = 2;
    functions.version.minor = 40;
    functions.C_Initialize = c_initialize;
    functions.C_Finalize = c_finalize;
    functions.C_GetInfo = c_get_info;
    functions.C_GetSlotList = c_get_slot_list;
    functions.C_GetSlotInfo = c_get_slot_info;
    functions.C_GetTokenInfo = c_get_token_info;
    functions.C_OpenSession = c_open_session;
    functions.C_CloseSession = c_close_session;
    functions.C_GetSessionInfo = c_get_session_info;
    functions.C_FindObjectsInit = c_find_objects_init;
    functions.C_WaitForSlotEvent = c_wait_for_slot_event;
    *list = &functions;
    return CKR_OK;
}
