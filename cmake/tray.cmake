# SPDX-License-Identifier: MIT
#
# UK_TRAY: build ukey-tray (tray/). On by default when GTK 3, Ayatana
# AppIndicator and libnotify are found, so that ukeyd itself builds on a
# machine without a desktop stack.
pkg_check_modules(UK_TRAY_PROBE QUIET gtk+-3.0 ayatana-appindicator3-0.1 libnotify)
if(UK_TRAY_PROBE_FOUND)
    set(uk_tray_default ON)
else()
    set(uk_tray_default OFF)
    message(STATUS "ukey-tray: gtk+-3.0, ayatana-appindicator3-0.1 or libnotify not found "
                   "(pkg-config); UK_TRAY is OFF, the daemon builds without the tray")
endif()
option(UK_TRAY "Build ukey-tray (GTK 3, Ayatana AppIndicator, libnotify)" ${uk_tray_default})
