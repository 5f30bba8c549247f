# SPDX-License-Identifier: MIT
#
# Hardening for optimised builds: fortified libc calls, stack protector,
# PIE, full RELRO. _FORTIFY_SOURCE needs optimisation, so Debug builds and
# sanitizer builds (where it would only hide ASan reports) go without it.
add_library(uk_hardening INTERFACE)
if(NOT UK_ASAN)
    target_compile_definitions(uk_hardening INTERFACE
        $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
endif()
target_compile_options(uk_hardening INTERFACE
    -fstack-protector-strong -fstack-clash-protection)
target_link_options(uk_hardening INTERFACE
    -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)
