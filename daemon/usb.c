// SPDX-License-Identifier: MIT
/*
 * The USB monitor (see usb.h). libusb-1.0 gives the descriptors without
 * opening a device: on Linux it reads the copy the kernel keeps in sysfs
 * ("descriptors"), which is also what lets it run unprivileged and under
 * umockdev. The strings a person recognises (maker, product, serial) are
 * read from the sysfs attributes the kernel fills at enumeration, because
 * asking the device for string descriptors would need it opened.
 *
 * Threads: the hotplug thread runs libusb's event handling; libusb calls
 * the hotplug callback on it, the callback only marks the list dirty (the
 * libusb manual forbids most libusb calls inside it), and the thread then
 * re-reads the whole list — arrivals and departures alike — under no lock,
 * swapping it in under the mutex. ukd_usb_snapshot copies under the mutex.
 */
#define _POSIX_C_SOURCE 200809L
#include "usb.h"

#include <libusb-1.0/libusb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uk/log.h"

#define SYSFS_USB "/sys/bus/usb/devices"

struct ukd_usb {
    libusb_context *ctx;
    libusb_hotplug_callback_handle cb;
    bool cb_registered;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    atomic_bool dirty;
    pthread_mutex_t mu;
    ukd_usb_dev devs[UKD_USB_MAX_DEVICES]; /* guarded by mu */
    size_t n_devs;
    ukd_usb_status st;
    void (*changed)(void *);
    void *changed_ctx;
};

/* One sysfs attribute of a device, first line, control characters
 * replaced; "" when absent. */
static void sysfs_attr(const char *sysname, const char *attr, char *out, size_t cap)
{
    char path[256];
    FILE *f;
    size_t n;

    out[0] = '\0';
    snprintf(path, sizeof(path), SYSFS_USB "/%s/%s", sysname, attr);
    f = fopen(path, "re");
    if (f == NULL) {
        return;
    }
    n = fread(out, 1, cap - 1, f);
    fclose(f);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (out[i] == '\n') {
            out[i] = '\0';
            break;
        }
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f) {
            out[i] = '?';
        }
    }
}

static void describe(libusb_device *dev, ukd_usb_dev *d)
{
    struct libusb_device_descriptor dd;
    struct libusb_config_descriptor *cfg = NULL;
    uint8_t ports[8];
    int n_ports;
    int rc;

    memset(d, 0, sizeof(*d));
    d->bus = libusb_get_bus_number(dev);
    d->address = libusb_get_device_address(dev);
    if (libusb_get_device_descriptor(dev, &dd) == 0) {
        d->vid = dd.idVendor;
        d->pid = dd.idProduct;
        d->dev_class = dd.bDeviceClass;
    }
    rc = libusb_get_active_config_descriptor(dev, &cfg);
    if (rc != 0) {
        rc = libusb_get_config_descriptor(dev, 0, &cfg);
    }
    if (rc == 0) {
        for (uint8_t i = 0; i < cfg->bNumInterfaces && d->n_ifaces < UKD_USB_MAX_IFACES; i++) {
            if (cfg->interface[i].num_altsetting > 0) {
                d->if_classes[d->n_ifaces++] = cfg->interface[i].altsetting[0].bInterfaceClass;
            }
        }
        libusb_free_config_descriptor(cfg);
    }
    /* the kernel's name: "usbN" for a root hub, "N-p.p.p" below it */
    n_ports = libusb_get_port_numbers(dev, ports, sizeof(ports));
    if (n_ports <= 0) {
        snprintf(d->sysname, sizeof(d->sysname), "usb%u", d->bus);
    } else {
        size_t off = (size_t)snprintf(d->sysname, sizeof(d->sysname), "%u-%u", d->bus, ports[0]);
        for (int i = 1; i < n_ports && off < sizeof(d->sysname); i++) {
            off += (size_t)snprintf(d->sysname + off, sizeof(d->sysname) - off, ".%u", ports[i]);
        }
    }
    sysfs_attr(d->sysname, "manufacturer", d->maker, sizeof(d->maker));
    sysfs_attr(d->sysname, "product", d->product, sizeof(d->product));
    sysfs_attr(d->sysname, "serial", d->serial, sizeof(d->serial));
}

/* Re-reads the list and swaps it in. Not with mu held. */
static void enumerate(ukd_usb *u)
{
    libusb_device **list = NULL;
    ssize_t n;
    ukd_usb_dev *devs = calloc(UKD_USB_MAX_DEVICES, sizeof(*devs));
    size_t count = 0;
    bool bus = access(SYSFS_USB, F_OK) == 0;

    if (devs == NULL) {
        return;
    }
    n = libusb_get_device_list(u->ctx, &list);
    for (ssize_t i = 0; i < n && count < UKD_USB_MAX_DEVICES; i++) {
        describe(list[i], &devs[count++]);
    }
    if (n >= 0) {
        libusb_free_device_list(list, 1);
    } else {
        uk_warn("libusb cannot list devices: %s", libusb_error_name((int)n));
    }
    pthread_mutex_lock(&u->mu);
    memcpy(u->devs, devs, count * sizeof(*devs));
    u->n_devs = count;
    u->st.available = bus && n >= 0;
    if (!u->st.available) {
        snprintf(u->st.reason, sizeof(u->st.reason), "%s",
                 bus ? "libusb cannot list USB devices"
                     : "no USB bus is visible (" SYSFS_USB
                       " is missing: a container or a sandbox without USB)");
    } else if (!u->st.hotplug) {
        snprintf(u->st.reason, sizeof(u->st.reason), "%s",
                 "libusb has no hotplug support here: the list is read at each check");
    } else {
        u->st.reason[0] = '\0';
    }
    pthread_mutex_unlock(&u->mu);
    free(devs);
    uk_debug("USB: %zu device(s)%s", count, bus ? "" : ", no USB bus");
}

static int LIBUSB_CALL on_hotplug(libusb_context *ctx, libusb_device *dev,
                                  libusb_hotplug_event event, void *user)
{
    ukd_usb *u = user;

    (void)ctx;
    (void)dev;
    (void)event;
    atomic_store(&u->dirty, true);
    return 0; /* stay registered */
}

static void *hotplug_main(void *arg)
{
    ukd_usb *u = arg;

    while (!atomic_load(&u->stop)) {
        struct timeval tv = {3600, 0};
        int rc = libusb_handle_events_timeout_completed(u->ctx, &tv, NULL);
        if (rc != 0 && rc != LIBUSB_ERROR_INTERRUPTED && rc != LIBUSB_ERROR_TIMEOUT) {
            uk_warn("USB event handling failed: %s; hotplug is off", libusb_error_name(rc));
            pthread_mutex_lock(&u->mu);
            u->st.hotplug = false;
            pthread_mutex_unlock(&u->mu);
            break;
        }
        if (atomic_exchange(&u->dirty, false)) {
            enumerate(u);
            uk_info("USB devices changed");
            if (u->changed != NULL) {
                u->changed(u->changed_ctx);
            }
        }
    }
    return NULL;
}

uk_rc ukd_usb_start(void (*changed)(void *), void *ctx, ukd_usb **out)
{
    ukd_usb *u;
    int rc;

    *out = NULL;
    u = calloc(1, sizeof(*u));
    if (u == NULL) {
        return UK_E_NOMEM;
    }
    pthread_mutex_init(&u->mu, NULL);
    atomic_init(&u->stop, false);
    atomic_init(&u->dirty, false);
    u->changed = changed;
    u->changed_ctx = ctx;
    rc = libusb_init(&u->ctx);
    if (rc != 0) {
        u->ctx = NULL;
        snprintf(u->st.reason, sizeof(u->st.reason), "libusb cannot start: %s",
                 libusb_error_name(rc));
        uk_warn("USB: %s", u->st.reason);
        *out = u;
        return UK_OK;
    }
    if (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
        rc = libusb_hotplug_register_callback(
            u->ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0,
            LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
            on_hotplug, u, &u->cb);
        u->cb_registered = rc == 0;
        if (rc != 0) {
            uk_warn("USB hotplug callback refused: %s", libusb_error_name(rc));
        }
    }
    /* hotplug is set before the thread runs: enumerate reads it */
    u->st.hotplug = u->cb_registered;
    if (u->cb_registered && pthread_create(&u->thread, NULL, hotplug_main, u) == 0) {
        u->thread_started = true;
    } else {
        u->st.hotplug = false;
    }
    enumerate(u);
    pthread_mutex_lock(&u->mu);
    uk_info("USB: %s, %s%s%s", u->st.available ? "available" : "not available",
            u->st.hotplug ? "hotplug on" : "no hotplug", u->st.reason[0] ? ": " : "", u->st.reason);
    pthread_mutex_unlock(&u->mu);
    *out = u;
    return UK_OK;
}

void ukd_usb_stop(ukd_usb *u)
{
    if (u == NULL) {
        return;
    }
    if (u->thread_started) {
        atomic_store(&u->stop, true);
        libusb_interrupt_event_handler(u->ctx);
        pthread_join(u->thread, NULL);
    }
    if (u->cb_registered) {
        libusb_hotplug_deregister_callback(u->ctx, u->cb);
    }
    if (u->ctx != NULL) {
        libusb_exit(u->ctx);
    }
    pthread_mutex_destroy(&u->mu);
    free(u);
}

size_t ukd_usb_snapshot(ukd_usb *u, ukd_usb_dev *out, size_t max, ukd_usb_status *st)
{
    size_t n;

    memset(st, 0, sizeof(*st));
    if (u == NULL) {
        snprintf(st->reason, sizeof(st->reason), "USB monitoring is not running");
        return 0;
    }
    /* without hotplug nothing tells us of changes: read the list now
     * (sysfs only, no device is touched) */
    if (u->ctx != NULL && !u->thread_started) {
        enumerate(u);
    }
    pthread_mutex_lock(&u->mu);
    n = u->n_devs < max ? u->n_devs : max;
    memcpy(out, u->devs, n * sizeof(*out));
    *st = u->st;
    pthread_mutex_unlock(&u->mu);
    return n;
}
