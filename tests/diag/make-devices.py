#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# Writes the umockdev device descriptions of tests/diag/devices/ (the
# committed files are its output; run it again after changing a device).
# Each fake key is a usb_device with the sysfs attributes libusb and the
# diagnosis read (descriptors, busnum, devnum, manufacturer, product,
# serial), its /dev/bus/usb node, and one usb_interface child, which is
# what pcscd's libudev hotplug looks at (bInterfaceClass, its parent's
# idVendor/idProduct).
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

DEVICES = {
    # a CCID key libccid does not list (an unassigned Feitian product id)
    "ccid-unlisted": dict(vid=0x096E, pid=0x0FFE, cls=0x0B, maker="Feitian",
                          product="ePass Test Unlisted", serial="FT0001", port="1-2"),
    # a CCID key libccid lists: pcscd picks it up and hands it to libccid
    "ccid-listed": dict(vid=0x096E, pid=0x0807, cls=0x0B, maker="Feitian",
                        product="ePass2003", serial="FT0002", port="1-3"),
    # a vendor-class key (HID) that needs its maker's PKCS#11 module
    "vendor-hid": dict(vid=0x096E, pid=0x0309, cls=0x03, maker="FS",
                       product="ePass3000GM", serial="FT0003", port="1-4"),
    # a keyboard: not of interest
    "keyboard": dict(vid=0x046D, pid=0xC31C, cls=0x03, maker="Logitech",
                     product="USB Keyboard", serial="", port="1-5"),
}


def descriptors(d):
    dev = bytes([18, 1, 0x00, 0x02, 0, 0, 0, 64, d["vid"] & 0xFF, d["vid"] >> 8,
                 d["pid"] & 0xFF, d["pid"] >> 8, 0x00, 0x01, 1, 2, 3 if d["serial"] else 0, 1])
    cfg = bytes([9, 2, 18, 0, 1, 1, 0, 0x80, 50])
    itf = bytes([9, 4, 0, 0, 0, d["cls"], 0, 0, 0])
    return (dev + cfg + itf).hex().upper()


def describe(d, devnum):
    path = f"/devices/pci0000:00/0000:00:14.0/usb1/{d['port']}"
    hexd = descriptors(d)
    node = f"bus/usb/001/{devnum:03d}"
    lines = [
        f"P: {path}",
        f"N: {node}={hexd}",
        f"E: DEVNAME=/dev/{node}",
        "E: DEVTYPE=usb_device",
        "E: DRIVER=usb",
        f"E: PRODUCT={d['vid']:x}/{d['pid']:x}/100",
        "E: TYPE=0/0/0",
        "E: BUSNUM=001",
        f"E: DEVNUM={devnum:03d}",
        "E: MAJOR=189",
        f"E: MINOR={devnum - 1}",
        "E: SUBSYSTEM=usb",
        f"A: idVendor={d['vid']:04x}",
        f"A: idProduct={d['pid']:04x}",
        "A: bcdDevice=0100",
        f"A: manufacturer={d['maker']}",
        f"A: product={d['product']}",
    ]
    if d["serial"]:
        lines.append(f"A: serial={d['serial']}")
    lines += [
        "A: busnum=1",
        f"A: devnum={devnum}",
        "A: speed=12",
        "A: bConfigurationValue=1",
        "A: bNumInterfaces= 1",
        "A: bDeviceClass=00",
        f"H: descriptors={hexd}",
        "",
        f"P: {path}/{d['port']}:1.0",
        "E: DEVTYPE=usb_interface",
        f"E: PRODUCT={d['vid']:x}/{d['pid']:x}/100",
        f"E: INTERFACE={d['cls']}/0/0",
        "E: SUBSYSTEM=usb",
        "A: bInterfaceNumber=00",
        f"A: bInterfaceClass={d['cls']:02x}",
        "A: bInterfaceSubClass=00",
        "A: bInterfaceProtocol=00",
        "A: bAlternateSetting= 0",
        "A: bNumEndpoints=00",
        "",
    ]
    return "\n".join(lines)


def main():
    out = os.path.join(HERE, "devices")
    os.makedirs(out, exist_ok=True)
    for i, (name, d) in enumerate(sorted(DEVICES.items())):
        with open(os.path.join(out, f"{name}.umockdev"), "w", encoding="utf-8") as f:
            f.write(describe(d, 10 + i))
    return 0


if __name__ == "__main__":
    sys.exit(main())
