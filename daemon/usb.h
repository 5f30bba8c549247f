/* SPDX-License-Identifier: MIT */
/*
 * USB devices as libusb-1.0 sees them: the device and configuration
 * descriptors (read from what the kernel caches in sysfs — no device is
 * opened), plus maker, product and serial strings from sysfs. A thread of
 * its own runs libusb's event handling for hotplug callbacks; an arrival
 * or departure re-reads the list and calls changed(), so the event loop
 * only ever copies a snapshot.
 *
 * Where libusb cannot start, or the machine has no USB bus (a container),
 * or libusb has no hotplug support, the monitor says so in its status and
 * keeps working with what it has (a list read once, or none).
 */
#ifndef UKD_USB_H
#define UKD_USB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/rc.h"

#define UKD_USB_MAX_DEVICES 128
#define UKD_USB_MAX_IFACES 8

typedef struct ukd_usb_dev {
    uint16_t vid;
    uint16_t pid;
    uint8_t bus;
    uint8_t address;
    uint8_t dev_class;
    uint8_t if_classes[UKD_USB_MAX_IFACES]; /* bInterfaceClass of each interface */
    size_t n_ifaces;
    char sysname[32]; /* "1-2.3": /sys/bus/usb/devices/<sysname> */
    char maker[128];  /* sysfs manufacturer, "" if none */
    char product[128];
    char serial[128];
} ukd_usb_dev;

typedef struct ukd_usb_status {
    bool available;   /* libusb started and a USB bus is visible */
    bool hotplug;     /* arrivals and departures are seen as they happen */
    char reason[160]; /* why not, in English; "" when both are true */
} ukd_usb_status;

typedef struct ukd_usb ukd_usb;

/* Has a device or one of its interfaces the smart card class (0x0B)? */
bool ukd_usb_dev_is_ccid(const ukd_usb_dev *d);

/* Starts libusb and, when it can, the hotplug thread. changed(ctx) is
 * called from that thread after the list changed. Never fails for lack of
 * USB: the status says what is missing. UK_E_NOMEM only. */
uk_rc ukd_usb_start(void (*changed)(void *), void *ctx, ukd_usb **out);

/* Stops the thread (blocks until joined) and frees. Accepts NULL. */
void ukd_usb_stop(ukd_usb *u);

/* Copies the current list (at most max devices) and the status. Never
 * blocks on a device; any thread. Returns the number copied. */
size_t ukd_usb_snapshot(ukd_usb *u, ukd_usb_dev *out, size_t max, ukd_usb_status *st);

#endif
