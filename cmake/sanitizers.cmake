# SPDX-License-Identifier: MIT
#
# UK_ASAN / UK_UBSAN apply to every target in the tree. UBSan is built to
# abort on the first report so ctest sees a failure, not a log line.
if(UK_ASAN)
    add_compile_options(-fsanitize=address -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address)
endif()
if(UK_UBSAN)
    add_compile_options(-fsanitize=undefined -fno-sanitize-recover=all
        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=undefined)
endif()
# Fuzz builds instrument every library for coverage; only the fuzz targets
# link libFuzzer's main.
if(UK_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link)
endif()
