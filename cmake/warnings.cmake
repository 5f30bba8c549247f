# SPDX-License-Identifier: MIT
#
# Warnings are errors everywhere (STYLE.md). uk_warnings is an interface
# target every project target links, so third-party code is unaffected.
add_library(uk_warnings INTERFACE)
target_compile_options(uk_warnings INTERFACE
    -Wall -Wextra -Werror
    -Wshadow -Wconversion -Wsign-conversion -Wstrict-prototypes
    -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wformat=2
    -Wundef -Wwrite-strings -Wvla -Wimplicit-fallthrough
    -Wnull-dereference)
